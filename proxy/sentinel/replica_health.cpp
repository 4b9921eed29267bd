#include "proxy/sentinel/replica_health.h"

#include <charconv>
#include <iterator>

namespace sp::proxy {

const char* skip_reason_name(SkipReason r) {
    // In SkipReason's order.
    static constexpr const char* kNames[] = {
        "none",    "no_reply", "not_replica", "other_master",   "link_down",
        "syncing", "loading",  "lagging",     "master_unknown", "failing"};
    static_assert(std::size(kNames) == kSkipReasons &&
                  static_cast<std::size_t>(SkipReason::failing) + 1 == kSkipReasons);
    const auto i = static_cast<std::size_t>(r);
    return i < kSkipReasons ? kNames[i] : "?";
}

namespace {

std::int64_t to_int(std::string_view v) {
    std::int64_t n = -1;
    std::from_chars(v.data(), v.data() + v.size(), n);
    return n;
}

}  // namespace

ReplicaInfo parse_info(std::string_view text) {
    ReplicaInfo r;
    std::int64_t master_offset = -1;
    for_each_info_field(text, [&](std::string_view k, std::string_view v) {
        if (k == "role") {
            r.parsed = true;
            r.is_replica = v == "slave";
        } else if (k == "master_host") {
            r.master_host = std::string(v);
        } else if (k == "master_port") {
            r.master_port = static_cast<std::uint16_t>(to_int(v));
        } else if (k == "master_link_status") {
            r.link_up = v == "up";
        } else if (k == "master_sync_in_progress") {
            r.syncing = v == "1";
        } else if (k == "loading") {
            r.loading = v == "1";
        } else if (k == "slave_repl_offset") {
            r.offset = to_int(v);
        } else if (k == "master_repl_offset") {
            master_offset = to_int(v);
        } else if (k == "master_replid") {
            r.replid = std::string(v);
        }
    });
    if (!r.is_replica) r.offset = master_offset;
    return r;
}

void MasterHistory::add(std::uint64_t at_ns, std::int64_t offset) {
    // Offsets only grow within one replication history; a smaller one is a new history.
    if (!samples_.empty() && offset < samples_.back().offset) samples_.clear();
    samples_.push_back({at_ns, offset});
    while (samples_.size() > 2 && at_ns - samples_[1].at_ns > window_ns_) samples_.pop_front();
}

std::optional<std::int64_t> MasterHistory::offset_after(std::uint64_t fence_ns) const {
    for (const Sample& s : samples_)
        if (s.at_ns > fence_ns) return s.offset;
    return std::nullopt;
}

std::optional<std::uint64_t> MasterHistory::lag_ns(std::int64_t replica_offset,
                                                   std::uint64_t now_ns) const {
    if (samples_.empty()) return std::nullopt;
    if (samples_.front().offset > replica_offset) return std::nullopt;  // behind them all
    for (const Sample& s : samples_)
        if (s.offset > replica_offset) return now_ns > s.at_ns ? now_ns - s.at_ns : 0;
    return 0;
}

Assessment assess(const ReplicaInfo& info, bool fresh, std::string_view master_host,
                  std::uint16_t master_port, std::string_view master_replid,
                  const MasterHistory& history, std::uint64_t now_ns, std::uint32_t max_lag_ms) {
    Assessment a;
    if (!fresh || !info.parsed) {
        a.reason = SkipReason::no_reply;
        return a;
    }
    if (!info.is_replica) {
        a.reason = SkipReason::not_replica;
        return a;
    }
    if (info.master_host != master_host || info.master_port != master_port ||
        (!master_replid.empty() && !info.replid.empty() && info.replid != master_replid)) {
        a.reason = SkipReason::other_master;
        return a;
    }
    if (!info.link_up) {
        a.reason = SkipReason::link_down;
        return a;
    }
    if (info.syncing) {
        a.reason = SkipReason::syncing;
        return a;
    }
    if (info.loading) {
        a.reason = SkipReason::loading;
        return a;
    }
    if (history.empty()) {
        a.reason = SkipReason::master_unknown;
        return a;
    }
    std::optional<std::uint64_t> lag = history.lag_ns(info.offset, now_ns);
    if (!lag) {
        a.reason = SkipReason::lagging;
        // At least as old as the oldest sample kept.
        a.lag_ms = (now_ns - std::min(now_ns, history.first_at_ns())) / 1'000'000;
        return a;
    }
    a.lag_ms = *lag / 1'000'000;
    if (a.lag_ms > max_lag_ms) a.reason = SkipReason::lagging;
    return a;
}

}  // namespace sp::proxy
