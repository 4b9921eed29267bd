// The failover timeline of one pool: when the hold began and why, when the new master was
// verified, when the subscribers had moved, when held commands were released and the
// longest a session held. Logged once (event failover_timeline) after the switch settled.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "proxy/net/node_address.h"
#include "proxy/net/tcp_stream.h"

namespace sp::proxy {

// One failover as one loop's sessions saw it (loop times, CLOCK_MONOTONIC ms).
struct FailoverMarks {
    std::uint64_t hold_ms = 0;  // first snapshot without a master (0: no hold seen)
    std::string hold_reason;
    std::optional<NodeAddress> from;
    std::optional<NodeAddress> to;
    std::uint64_t verified_ms = 0;
    std::uint64_t subscribers_moved_ms = 0;
    std::size_t subscribers = 0;
    std::uint64_t released_ms = 0;
    std::size_t released_sessions = 0;
    std::uint64_t longest_hold_ms = 0;
};

// Logs the failover_timeline line for `marks` (every loop's marks merged, or one loop's).
void log_failover_timeline(const std::string& pool_name, const std::string& master_name,
                           const FailoverMarks& marks);

class FailoverTimeline {
  public:
    // Where a settled timeline goes instead of the log: with several worker loops, to the
    // control loop, which merges the workers' marks into one line.
    using Report = std::function<void(const FailoverMarks&)>;

    FailoverTimeline(uv_loop_t* loop, std::string pool_name, std::string master_name);

    // A failover (or a lost master) begins at the first snapshot without a master, unless
    // one already began.
    void hold_began(const std::optional<NodeAddress>& from, const std::string& reason);
    // A new master was verified. `from` is the previous verified master (none at the
    // first verification, or when the same master is verified again: no timeline).
    void master_verified(const std::optional<NodeAddress>& from);
    void subscribers_moving(std::size_t n) { t_.subscribers = n; }
    void subscribers_moved() { t_.subscribers_moved_ms = uv_now(loop_); }
    // Held commands went out to `to`: log the timeline once the sessions have reported
    // how long they held (a second later).
    void released(const NodeAddress& to, std::size_t sessions);
    // A session stopped holding after `ms`.
    void held_for(std::uint64_t ms);
    void report_to(Report report) { report_ = std::move(report); }

  private:
    void log();

    uv_loop_t* loop_;
    std::string pool_name_;
    std::string master_name_;
    FailoverMarks t_;
    Report report_;
    Timer log_timer_;
};

}  // namespace sp::proxy
