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

// A plain non-blocking listening socket on `address` (an IP literal), for callers that
// accept themselves (to see EMFILE, which libuv's listener hides by closing the pending
// connections). Throws std::runtime_error naming the address.
int listen_socket(const config::HostPort& address, int backlog);

}  // namespace sp::proxy
