// Listening sockets on the loop, shared by the client listener and the admin endpoint:
// bind an IP literal, listen, and close with the handle freed in its close callback.
#pragma once

#include <uv.h>

#include <string>

#include "config/config.h"

namespace sp::proxy {

// Fills `out` when `host` is an IPv4 or IPv6 literal; false for a host name.
bool ip_literal(const std::string& host, std::uint16_t port, sockaddr_storage& out);

// Binds and listens on `address` (an IP literal); `data` goes into the handle. Throws
// std::runtime_error naming the address, prefixed with `label` ("" or "admin ").
uv_tcp_t* listen_tcp(uv_loop_t* loop, const config::HostPort& address, int backlog, void* data,
                     uv_connection_cb on_connection, const std::string& label);

// Stops listening and frees the handle once libuv has closed it.
void close_listener(uv_tcp_t* tcp);

// How a listening socket shares its address. `exclusive`: the only socket on it (a second
// bind fails with "Address already in use"). `reuse_port`: one of a group, one per worker
// loop, each bound with SO_REUSEPORT on the same address so the kernel spreads incoming
// connections over them. Every socket of a group must set it before bind, so an address
// held by another process that did not (another server on the port) still fails the bind.
enum class PortSharing { exclusive, reuse_port };

// A plain non-blocking listening socket on `address` (an IP literal), for callers that
// accept themselves (to see EMFILE, which libuv's listener hides by closing the pending
// connections). Throws std::runtime_error naming the address. Only TCP on IP literals:
// the configuration has no other listen form (no unix sockets).
int listen_socket(const config::HostPort& address, int backlog,
                  PortSharing sharing = PortSharing::exclusive);

// Throws std::runtime_error ("cannot listen on <address>: Address already in use") if a
// socket listens on `address` now, SO_REUSEPORT or not: binds without SO_REUSEPORT and
// closes at once. Call it once before a reuse_port group binds, so that a second proxy
// started on the same port (same user, so SO_REUSEPORT would let it join the group and
// take a share of the connections) fails as it does with one loop.
void check_address_free(const config::HostPort& address);

}  // namespace sp::proxy
