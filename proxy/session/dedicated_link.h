// The client's own Redis connection, while its state needs one (MULTI/WATCH, SELECT n, its
// own AUTH, subscriptions, blocking commands, MONITOR...), and what the session knows of it.
#pragma once

#include <cstdint>
#include <memory>

#include "proxy/backend/backend_link.h"

namespace sp::proxy {

struct DedicatedLink {
    std::unique_ptr<BackendLink> link;
    bool ready = false;   // connected
    bool stale = false;   // a state change answered locally since it was set up
    bool paused = false;  // not read: the client's output is over the pause point
    // Its writing side was ended behind a blocking command of a client that left (Redis
    // frees such a client at its EOF): nothing more is sent on it, and its close is Redis
    // letting the connection go, not a failure.
    bool output_ended = false;
    std::uint64_t output_ended_ms = 0;  // when (the bound on Redis closing it counts from)
};

}  // namespace sp::proxy
