#include "proxy/session/failover_timeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "proxy/net/log_event.h"

namespace sp::proxy {

FailoverTimeline::FailoverTimeline(uv_loop_t* loop, std::string pool_name, std::string master_name)
    : loop_(loop),
      pool_name_(std::move(pool_name)),
      master_name_(std::move(master_name)),
      log_timer_(loop, [this] { log(); }) {}

void FailoverTimeline::hold_began(const std::optional<NodeAddress>& from,
                                  const std::string& reason) {
    // The previous failover's line was still waiting for its sessions: log it now, it is
    // about to be overwritten.
    if (log_timer_.active()) {
        log_timer_.stop();
        log();
    }
    if (t_.hold_ms != 0) return;
    t_ = FailoverMarks{};
    t_.hold_ms = uv_now(loop_);
    t_.hold_reason = reason;
    t_.from = from;
}

void FailoverTimeline::master_verified(const std::optional<NodeAddress>& from) {
    if (!from) {
        t_ = FailoverMarks{};  // first verification, or the same master again
    } else if (t_.hold_ms == 0) {
        t_ = FailoverMarks{};
        t_.from = from;
    }
    t_.verified_ms = uv_now(loop_);
    t_.longest_hold_ms = 0;
}

void FailoverTimeline::released(const NodeAddress& to, std::size_t sessions) {
    if (!t_.from) return;
    t_.to = to;
    t_.released_ms = uv_now(loop_);
    t_.released_sessions = sessions;
    log_timer_.start(1000);
}

void FailoverTimeline::held_for(std::uint64_t ms) {
    t_.longest_hold_ms = std::max(t_.longest_hold_ms, ms);
}

void FailoverTimeline::log() {
    if (t_.from && t_.to) {
        if (report_)
            report_(t_);
        else
            log_failover_timeline(pool_name_, master_name_, t_);
    }
    t_ = FailoverMarks{};
}

void log_failover_timeline(const std::string& pool_name, const std::string& master_name,
                           const FailoverMarks& t) {
    if (!t.from || !t.to) return;
    const std::uint64_t t0 = t.hold_ms ? t.hold_ms : t.verified_ms;
    // fmt, not std::string operator+: g++ 12 -O3 reports a false -Wrestrict on the latter.
    auto at = [t0](std::uint64_t ms) { return fmt::format("+{} ms", ms >= t0 ? ms - t0 : 0); };
    LogFields fields = log_context(pool_name, master_name, "failover_timeline");
    fields.emplace_back("from", t.from->str());
    fields.emplace_back("to", t.to->str());
    fields.emplace_back("verified_ms", t.verified_ms >= t0 ? t.verified_ms - t0 : 0);
    fields.emplace_back("released_sessions", t.released_sessions);
    fields.emplace_back("longest_hold_ms", t.longest_hold_ms);
    log_event(spdlog::level::info, fields,
              "failover timeline [{}]: {} -> {}; event seen{}{}; master verified {}; subscribers "
              "moved {} ({}); held commands released {} ({} sessions); longest hold {} ms",
              master_name, t.from->str(), t.to->str(),
              t.hold_ms ? " +0 ms" : " (none: switch seen without a hold)",
              t.hold_reason.empty() ? "" : " (" + t.hold_reason + ")", at(t.verified_ms),
              t.subscribers_moved_ms ? at(t.subscribers_moved_ms) : std::string("-"), t.subscribers,
              at(t.released_ms), t.released_sessions, t.longest_hold_ms);
}

}  // namespace sp::proxy
