#include "proxy/worker/timeline_merge.h"

#include <algorithm>

namespace sp::proxy {

namespace {
// How long the line waits for a worker that has not reported (its sessions still held, or
// it is busy): the line is logged with what arrived.
constexpr std::uint64_t kWaitMs = 2000;

std::uint64_t earliest(std::uint64_t a, std::uint64_t b) {
    if (!a) return b;
    if (!b) return a;
    return std::min(a, b);
}
}  // namespace

TimelineMerge::TimelineMerge(uv_loop_t* loop, std::string pool_name, std::string master_name)
    : pool_name_(std::move(pool_name)),
      master_name_(std::move(master_name)),
      timer_(loop, [this] { flush(); }) {}

void TimelineMerge::add(const FailoverMarks& m) {
    // Another failover's marks: the one waiting is logged with what it has.
    if (merged_ && (merged_->from != m.from || merged_->to != m.to)) flush();
    if (!merged_) {
        merged_ = m;
        reported_ = 1;
        timer_.start(kWaitMs);
    } else {
        FailoverMarks& t = *merged_;
        if (m.hold_ms && (!t.hold_ms || m.hold_ms < t.hold_ms)) {
            t.hold_ms = m.hold_ms;
            t.hold_reason = m.hold_reason;
        }
        t.verified_ms = earliest(t.verified_ms, m.verified_ms);
        t.subscribers_moved_ms = std::max(t.subscribers_moved_ms, m.subscribers_moved_ms);
        t.subscribers += m.subscribers;
        t.released_ms = std::max(t.released_ms, m.released_ms);
        t.released_sessions += m.released_sessions;
        t.longest_hold_ms = std::max(t.longest_hold_ms, m.longest_hold_ms);
        ++reported_;
    }
    if (reported_ >= workers_) flush();
}

void TimelineMerge::flush() {
    timer_.stop();
    if (merged_) log_failover_timeline(pool_name_, master_name_, *merged_);
    merged_.reset();
    reported_ = 0;
}

}  // namespace sp::proxy
