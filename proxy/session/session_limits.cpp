// The per-client limits, as Redis has them: the query buffer (limits.query_buffer_limit),
// the output buffer by class (limits.output_normal_*, limits.output_pubsub_*: hard, and soft
// for a time), the share of limits.memory_budget, and the backpressure that keeps a client
// within them without closing it (pausing its reads, or its dedicated link's).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/reply_writer.h"
#include "proxy/session/client_session.h"
#include "proxy/session/router.h"

namespace sp::proxy {

namespace reply = protocol::reply;

namespace {
constexpr std::size_t kMaxPendingBytes = 32u << 20;  // pause the client beyond this
constexpr std::size_t kMaxPendingCommands = 1u << 20;
}  // namespace

bool ClientSession::account_memory() {
    // The reply slots count too: 1.1 M pipelined PINGs take 2 M slots of 56 bytes, 112 MiB.
    std::uint64_t mine = parser_.buffered() + queue_.backlog_bytes() +
                         (client_ ? client_->pending_bytes() : 0) + queue_.heap_bytes();
    router_.charge(static_cast<std::int64_t>(mine) - static_cast<std::int64_t>(charged_));
    charged_ = mine;
    const std::uint64_t budget = router_.config().memory_budget;
    // Small clients are never closed for the budget: only one holding 1 MiB or more, when
    // all together are past it (the big value on its way, the pipeline not yet answered).
    return budget == 0 || mine < (1u << 20) || router_.buffered_bytes() <= budget;
}

// limits.memory_budget on the output side: replies owed to a client that does not read
// (above all on a shared link, which is never paused for one reader: 40 GETs of a 10 MiB
// value were 400 MiB) count in its share. Past the proxy's output pause point, with the
// budget spent, it is closed at once: an error reply would wait behind what it does not read.
bool ClientSession::output_within_budget() {
    if (closed_) return false;
    if (account_memory() || !client_ || client_->pending_bytes() <= kPauseOutput) return true;
    spdlog::warn(
        "client {}: closed, {} bytes buffered ({} of replies it does not read) while all "
        "clients together hold {} (limits.memory_budget {})",
        client_->peer(), charged_, client_->pending_bytes(), router_.buffered_bytes(),
        router_.config().memory_budget);
    router_.stats().clients_closed_output_buffer++;
    router_.stats().commands_failed += unanswered();
    close("replies it does not read are over limits.memory_budget");
    return false;
}

// Redis's client-query-buffer-limit: what the client sent that is not framed yet (a command
// still arriving) or framed but not forwarded yet. Past it the client is told so and closed,
// after the replies it is owed; the commands already framed still go (none is dropped).
bool ClientSession::query_buffer_ok() {
    const std::uint64_t limit = router_.config().query_buffer_limit;
    const std::uint64_t qbuf = parser_.buffered() + queue_.unsent_bytes();
    if (limit == 0 || qbuf <= limit || input_refused_) return true;
    spdlog::warn(
        "client {}: closing client that reached max query buffer length ({} bytes, "
        "limits.query_buffer_limit {})",
        client_ ? client_->peer() : std::string("?"), qbuf, limit);
    router_.stats().clients_closed_query_buffer++;
    std::string e;
    reply::error(e,
                 "ERR Protocol error: closing client that reached max query buffer length "
                 "(limits.query_buffer_limit, " +
                     std::to_string(limit) + " bytes)");
    input_refused_ = true;
    enqueue_local(std::move(e), true);
    pump();
    return false;
}

// Redis's client-output-buffer-limit for the client's class (pubsub while subscribed, else
// normal): closed at once at `hard`, or once it has stayed at `soft` or more for longer
// than `soft_seconds`. 0 turns a limit off. A client over its soft limit is watched by the
// router's output sweep, so it is closed on time even when no more output arrives.
bool ClientSession::output_limit_reached(std::uint64_t now_ms) {
    if (closed_ || !client_) return false;
    const auto& cfg = router_.config();
    const bool pubsub = subscribed();
    const std::uint64_t hard = pubsub ? cfg.output_pubsub_hard : cfg.output_normal_hard;
    const std::uint64_t soft = pubsub ? cfg.output_pubsub_soft : cfg.output_normal_soft;
    const std::uint64_t soft_ms =
        1000ull * (pubsub ? cfg.output_pubsub_soft_seconds : cfg.output_normal_soft_seconds);
    const std::size_t used = client_->pending_bytes();
    bool soft_expired = false;
    if (soft != 0 && used >= soft) {
        if (soft_since_ms_ == 0) {
            soft_since_ms_ = std::max<std::uint64_t>(now_ms, 1);
            router_.watch_output(this, true);
        } else {
            soft_expired = now_ms - soft_since_ms_ > soft_ms;
        }
    } else if (soft_since_ms_ != 0) {
        soft_since_ms_ = 0;
        router_.watch_output(this, false);
    }
    const bool hard_reached = hard != 0 && used >= hard;
    if (!hard_reached && !soft_expired) return false;
    const char* cls = pubsub ? "pubsub" : "normal";
    const std::string limit =
        hard_reached ? fmt::format("limits.output_{}_hard {}", cls, hard)
                     : fmt::format("limits.output_{}_soft {} for {} s", cls, soft, soft_ms / 1000);
    spdlog::warn("client {}: closed for overcoming of output buffer limits ({} bytes waiting, {})",
                 client_->peer(), used, limit);
    router_.stats().clients_closed_output_buffer++;
    router_.stats().commands_failed += unanswered();
    close("output buffer over " + limit);
    return true;
}

// limits.max_held_*: while no master is verified, a client at its own bound, or one that
// would add to a full total, is not read until the hold ends, so the hold costs bounded
// memory and nothing accepted is dropped. Holds for a lost link (a master still verified)
// last about 100 ms and are not bounded here.
bool ClientSession::hold_full() const {
    if (snap_->master) return false;
    const auto& cfg = router_.config();
    return (cfg.max_held_per_client != 0 && queue_.unsent() >= cfg.max_held_per_client) ||
           (cfg.max_held_total != 0 && router_.held_total() >= cfg.max_held_total);
}

void ClientSession::account_held() {
    const std::size_t now = closed_ || snap_->master ? 0 : queue_.unsent();
    router_.charge_held(static_cast<std::int64_t>(now) - static_cast<std::int64_t>(held_charged_));
    held_charged_ = now;
}

void ClientSession::check_backpressure() {
    if (closed_ || !client_) return;
    std::size_t backlog = queue_.backlog_bytes();
    // Pause a pipelining client well before its unsent commands could reach the query
    // buffer limit: only a single command too big for it closes the client.
    const std::size_t pause_at = static_cast<std::size_t>(
        std::min<std::uint64_t>(kMaxPendingBytes, router_.config().query_buffer_limit / 2));
    bool too_much = backlog > pause_at || queue_.size() > kMaxPendingCommands;
    if (too_much && !client_paused_) {
        client_->stop_reading();
        client_paused_ = true;
        watch_peer();  // its EOF is not read now: notice a client that leaves meanwhile
    } else if (!too_much && client_paused_ && backlog < pause_at / 2) {
        client_paused_ = false;
        if (reading_allowed()) client_->start_reading();
    }
    if (output_limit_reached(uv_now(router_.loop()))) return;
    // Below its class's limits, a client's output beyond kPauseOutput pauses its dedicated
    // link (Redis then holds the rest) and stops new commands going to a shared one. A
    // subscriber with a pub/sub hard limit is not paused: it is closed at that limit instead.
    bool out_full = client_->pending_bytes() > kPauseOutput &&
                    !(subscribed() && router_.config().output_pubsub_hard != 0);
    if (link_) {
        if (out_full && !link_paused_) {
            link_->pause_reading();
            link_paused_ = true;
        } else if (!out_full && link_paused_) {
            link_->resume_reading();
            link_paused_ = false;
        }
    }
}

}  // namespace sp::proxy
