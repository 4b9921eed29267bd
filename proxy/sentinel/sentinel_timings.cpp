#include "proxy/sentinel/sentinel_timings.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdlib>

#include "proxy/sentinel/sentinel_replies.h"

namespace sp::proxy {

namespace {
constexpr std::uint32_t kStepMs = 2000;
constexpr std::uint32_t kMinHoldMs = 10'000;   // the fixed default before Sentinel's timings
constexpr std::uint32_t kMaxHoldMs = 600'000;  // timeouts.hold_window_ms's own maximum

std::uint32_t to_ms(const std::string& text) {
    const long long v = std::atoll(text.c_str());
    return v <= 0 ? 0 : static_cast<std::uint32_t>(std::min<long long>(v, UINT32_MAX));
}
}  // namespace

std::string SentinelTimings::describe() const {
    return "down-after-milliseconds " + std::to_string(down_after_ms) + ", failover-timeout " +
           std::to_string(failover_timeout_ms) + ", parallel-syncs " +
           std::to_string(parallel_syncs) + ", " + std::to_string(replicas) + " replica(s)";
}

std::optional<SentinelTimings> parse_sentinel_master(const redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY) return std::nullopt;
    SentinelTimings t;
    bool found = false;
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
        const std::string key = sentinel_reply::str(r->element[i]);
        const std::string value = sentinel_reply::str(r->element[i + 1]);
        if (key == "down-after-milliseconds") {
            t.down_after_ms = to_ms(value);
            found = true;
        } else if (key == "failover-timeout") {
            t.failover_timeout_ms = to_ms(value);
        } else if (key == "parallel-syncs") {
            t.parallel_syncs = std::max<std::uint32_t>(1, to_ms(value));
        } else if (key == "num-slaves") {
            t.replicas = to_ms(value);
        }
    }
    if (!found) return std::nullopt;
    return t;
}

SentinelTimings slowest(const SentinelTimings& a, const SentinelTimings& b) {
    return {std::max(a.down_after_ms, b.down_after_ms),
            std::max(a.failover_timeout_ms, b.failover_timeout_ms),
            std::min(a.parallel_syncs, b.parallel_syncs), std::max(a.replicas, b.replicas)};
}

std::uint32_t failover_allowance_ms(const SentinelTimings& t) {
    const std::uint32_t others = t.replicas > 0 ? t.replicas - 1 : 0;
    const std::uint32_t batches = (others + t.parallel_syncs - 1) / t.parallel_syncs;
    const std::uint64_t allowance = 3ull * kStepMs + std::uint64_t{batches} * kStepMs;
    const std::uint64_t capped = t.failover_timeout_ms
                                     ? std::min<std::uint64_t>(allowance, t.failover_timeout_ms)
                                     : allowance;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(capped, kMaxHoldMs));
}

const char* HoldWindow::source_name() const {
    switch (source) {
        case Source::configured:
            return "configured";
        case Source::derived:
            return "derived";
        default:
            return "default";
    }
}

HoldWindow derive_hold_window(const config::Config& config,
                              const std::optional<SentinelTimings>& t) {
    HoldWindow w;
    if (t)
        w.failover_ms = static_cast<std::uint32_t>(std::min<std::uint64_t>(
            std::uint64_t{t->down_after_ms} + failover_allowance_ms(*t), UINT32_MAX));
    if (config.explicit_keys.count("timeouts.hold_window_ms")) {
        w.ms = config.hold_window_ms;
        w.source = HoldWindow::Source::configured;
    } else if (t) {
        w.ms = std::clamp(w.failover_ms, kMinHoldMs, kMaxHoldMs);
        w.source = HoldWindow::Source::derived;
    } else {
        w.ms = config.hold_window_ms;
        w.source = HoldWindow::Source::fallback;
    }
    return w;
}

}  // namespace sp::proxy
