#include "proxy/session/client_limits.h"

#include <fmt/format.h>

#include <algorithm>

#include "proxy/session/session_services.h"

namespace sp::proxy {

bool ClientLimits::charge_memory(LoopContext& ctx, std::uint64_t bytes) {
    ctx.charge(static_cast<std::int64_t>(bytes) - static_cast<std::int64_t>(charged_));
    charged_ = bytes;
    const std::uint64_t budget = ctx.config().memory_budget;
    // Small clients are never closed for the budget: only one holding 1 MiB or more, when
    // all together are past it (the big value on its way, the pipeline not yet answered).
    return budget == 0 || bytes < (1u << 20) || ctx.buffered_bytes() <= budget;
}

std::uint64_t ClientLimits::query_buffer_over(const LoopContext& ctx, std::uint64_t query_bytes) {
    const std::uint64_t limit = ctx.config().query_buffer_limit;
    return limit != 0 && query_bytes > limit ? limit : 0;
}

std::size_t ClientLimits::backlog_pause_at(const LoopContext& ctx) {
    // Only a single command too big for the query buffer limit closes the client.
    return static_cast<std::size_t>(
        std::min<std::uint64_t>(kMaxPendingBytes, ctx.config().query_buffer_limit / 2));
}

std::string ClientLimits::output_over(SessionServices& services, ClientSession* who,
                                      std::uint64_t now_ms, std::size_t used, bool pubsub) {
    const auto& cfg = services.context.config();
    const std::uint64_t hard = pubsub ? cfg.output_pubsub_hard : cfg.output_normal_hard;
    const std::uint64_t soft = pubsub ? cfg.output_pubsub_soft : cfg.output_normal_soft;
    const std::uint64_t soft_ms =
        1000ull * (pubsub ? cfg.output_pubsub_soft_seconds : cfg.output_normal_soft_seconds);
    bool soft_expired = false;
    if (soft != 0 && used >= soft) {
        if (soft_since_ms_ == 0) {
            soft_since_ms_ = std::max<std::uint64_t>(now_ms, 1);
            services.sweeps.watch_output(who, true);
        } else {
            soft_expired = now_ms - soft_since_ms_ > soft_ms;
        }
    } else if (soft_since_ms_ != 0) {
        soft_since_ms_ = 0;
        services.sweeps.watch_output(who, false);
    }
    const bool hard_reached = hard != 0 && used >= hard;
    if (!hard_reached && !soft_expired) return {};
    const char* cls = pubsub ? "pubsub" : "normal";
    return hard_reached
               ? fmt::format("limits.output_{}_hard {}", cls, hard)
               : fmt::format("limits.output_{}_soft {} for {} s", cls, soft, soft_ms / 1000);
}

bool ClientLimits::hold_full(const LoopContext& ctx, std::size_t held) {
    const auto& cfg = ctx.config();
    return (cfg.max_held_per_client != 0 && held >= cfg.max_held_per_client) ||
           (cfg.max_held_total != 0 && ctx.held_total() >= cfg.max_held_total);
}

void ClientLimits::charge_held(LoopContext& ctx, std::size_t held) {
    ctx.charge_held(static_cast<std::int64_t>(held) - static_cast<std::int64_t>(held_charged_));
    held_charged_ = held;
}

void ClientLimits::release(LoopContext& ctx) {
    ctx.charge(-static_cast<std::int64_t>(charged_));
    charged_ = 0;
}

}  // namespace sp::proxy
