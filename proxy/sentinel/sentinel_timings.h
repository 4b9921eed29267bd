// Sentinel's own timings for a master (SENTINEL MASTER <name>: down-after-milliseconds,
// failover-timeout, parallel-syncs, num-slaves) and the hold window they imply: how long a
// client's commands should wait for a new master so that an unplanned failover, which
// cannot finish before Sentinel even declares the master down, does not close every held
// client first. An explicit timeouts.hold_window_ms still wins. Pure, unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"

struct redisReply;

namespace sp::proxy {

struct SentinelTimings {
    std::uint32_t down_after_ms = 0;
    std::uint32_t failover_timeout_ms = 0;
    std::uint32_t parallel_syncs = 1;
    std::uint32_t replicas = 0;  // num-slaves
    bool operator==(const SentinelTimings&) const = default;
    std::string describe() const;  // "down-after-milliseconds 5000, failover-timeout ..."
};

// The fields of a SENTINEL MASTER reply (a flat field/value array); nothing when the
// reply is not one or has no down-after-milliseconds.
std::optional<SentinelTimings> parse_sentinel_master(const redisReply* reply);

// The longest of several sentinels' views (one may have been SENTINEL SET differently).
SentinelTimings slowest(const SentinelTimings& a, const SentinelTimings& b);

// How long an unplanned failover can take after down-after-milliseconds:
//   2 s  +odown agreement and the leader's election (sentinels ask each other every 1 s),
//   2 s  promotion seen in the leader's INFO of the replica (every 1 s) and +switch-master,
//   2 s  per batch of parallel-syncs among the other replicas (each batch is reconfigured
//        and confirmed through INFO before the next; the majority names the new master
//        only at +switch-master, after them),
//   2 s  margin,
// capped at failover-timeout (past it Sentinel switches without waiting for replicas).
std::uint32_t failover_allowance_ms(const SentinelTimings& timings);

struct HoldWindow {
    enum class Source { configured, derived, fallback };
    std::uint32_t ms = 0;
    Source source = Source::fallback;
    // down-after + allowance: how long Sentinel can take (0 while its timings are unknown).
    std::uint32_t failover_ms = 0;
    const char* source_name() const;  // "configured", "derived", "default"
};

// The hold window a pool uses: timeouts.hold_window_ms when set explicitly; otherwise
// down-after + allowance, at least the former default (10 s) and at most the key's
// maximum (600 s); the former default while Sentinel's timings are not known yet.
HoldWindow derive_hold_window(const config::Config& config,
                              const std::optional<SentinelTimings>& t);

}  // namespace sp::proxy
