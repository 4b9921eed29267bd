// Host-name resolution on libuv's thread pool for the proxy's outgoing connections
// (sentinels, masters). Names are resolved again on every connect: pod IPs change.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sp::proxy {

// Calls `done` on the loop with the resolved addresses (status 0), or a UV error status
// and nullptr, unless the owner's `alive` flag is gone or false by then. Returns 0, or a
// UV error when the request could not start (then `done` is never called).
int resolve_host(uv_loop_t* loop, const std::string& host, std::uint16_t port,
                 std::weak_ptr<bool> alive,
                 std::function<void(int status, const addrinfo* res)> done);

}  // namespace sp::proxy
