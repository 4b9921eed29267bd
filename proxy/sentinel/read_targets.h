// The replicas sessions may read from now, as the ReplicaMonitor measured them, and the
// master's offset history for read-your-writes. One per pool (the Router holds it); the
// monitor writes, sessions read it on each replica-eligible command: a few entries, no
// allocation. Cleared at once whenever the verified master changes, so no session reads
// from a replica that was assessed against the previous master.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "proxy/sentinel/replica_health.h"
#include "proxy/sentinel/topology.h"

namespace sp::proxy {

struct ReplicaTarget {
    NodeAddress address;
    SkipReason reason = SkipReason::no_reply;  // none: eligible
    std::int64_t offset = -1;                  // slave_repl_offset last measured
    std::uint64_t lag_ms = 0;
    std::uint64_t trouble_until_ns = 0;  // a session saw it fail: not before this
    std::uint64_t reads = 0;             // reads sent to it (metrics)
};

class ReadTargets {
  public:
    // A master change (or none): every replica ineligible, the history forgotten.
    void reset(const std::optional<NodeAddress>& master);
    const std::optional<NodeAddress>& master() const { return master_; }

    std::vector<ReplicaTarget>& replicas() { return replicas_; }
    const std::vector<ReplicaTarget>& replicas() const { return replicas_; }
    ReplicaTarget* find(const NodeAddress& address);
    MasterHistory& history() { return history_; }
    const MasterHistory& history() const { return history_; }
    // Bumps with every reset: a session's resolved read-your-writes offset is of one epoch.
    std::uint64_t epoch() const { return epoch_; }

    // May a read that needs `required_offset` (−1: none) go to `r` now?
    static bool usable(const ReplicaTarget& r, std::int64_t required_offset, std::uint64_t now_ns) {
        return r.reason == SkipReason::none && now_ns >= r.trouble_until_ns &&
               (required_offset < 0 || r.offset >= required_offset);
    }
    // A worker loop takes the control loop's measurements (`measured`, written by the
    // ReplicaMonitor there): eligibility, offsets, lag and the master's history. What this
    // loop's sessions recorded (reads, failed replicas) stays. Ignored when `measured` is
    // of another master: this loop has not seen that snapshot yet, or has moved past it.
    void adopt_measurements(const ReadTargets& measured);
    // A session saw `address` fail a read: nobody reads from it for a while.
    void report_trouble(const NodeAddress& address, std::uint64_t now_ns);
    // The monitor took a replica out of rotation for `reason` (metrics).
    void count_skip(SkipReason reason) { ++skips_[static_cast<std::size_t>(reason)]; }
    const std::array<std::uint64_t, kSkipReasons>& skips() const { return skips_; }

    // Reads that went to the master although a replica was eligible, because the client's
    // own write was not yet known to be there (read-your-writes), and reads that went to
    // the master because no replica was eligible.
    std::uint64_t ryw_fallbacks = 0;
    std::uint64_t no_replica_fallbacks = 0;
    // Where the next choice starts: ties in outstanding requests rotate over the replicas.
    std::size_t next_start = 0;

  private:
    std::optional<NodeAddress> master_;
    std::vector<ReplicaTarget> replicas_;
    MasterHistory history_;
    std::uint64_t epoch_ = 1;
    std::array<std::uint64_t, kSkipReasons> skips_{};
};

}  // namespace sp::proxy
