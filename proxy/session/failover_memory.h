// What a session remembers about lost links and holds: the master it avoids for a while,
// the hold that waits for a verified master (its timer, and whether the metrics count it),
// a subscriber being moved, a subscriber's link Redis closed. Created the first time a link
// is lost or a hold starts: about 0.1 KiB an idle client in the default state never needs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "proxy/net/tcp_stream.h"
#include "proxy/sentinel/topology.h"

namespace sp::proxy {

struct FailoverMemory {
    std::optional<NodeAddress> avoid;  // demoted or lost master: not until a new snapshot
    std::uint64_t avoid_generation = 0;
    std::uint64_t avoid_until_ms = 0;
    std::uint64_t hold_started_ms = 0;
    // A subscriber's link to this master was closed by Redis: if a new link to the same
    // master connects (no failover), the client is closed as Redis closed it.
    std::optional<NodeAddress> sub_link_lost;
    std::unique_ptr<Timer> hold_timer;   // the hold window (created on first use)
    std::unique_ptr<Timer> retry_timer;  // a lost master avoidable again (created on first use)
    bool hold_counted = false;           // this hold waited for a master (metrics)
    bool moving_subscriber = false;      // re-subscribing on a new master

    bool holding() const { return hold_timer && hold_timer->active(); }
};

}  // namespace sp::proxy
