// A session at a failover: holding commands while no master is verified (bounded by the
// hold window), what happens to commands in flight when a link dies or the master changes
// (re-sent when provably harmless, the client closed when a write's outcome is unknown),
// and the command timeout for a master that stops answering.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "proxy/session/client_session.h"
#include "proxy/session/router.h"

namespace sp::proxy {

namespace {
constexpr std::uint64_t kLinkRetryMs = 100;
}  // namespace

const ClientSession::FailoverMemory& ClientSession::failover() const {
    static const FailoverMemory kNone;  // never lost a link, never held
    return failover_ ? *failover_ : kNone;
}

ClientSession::FailoverMemory& ClientSession::failover_mut() {
    if (!failover_) failover_ = std::make_unique<FailoverMemory>();
    return *failover_;
}

bool ClientSession::waiting_for_master() const {
    if (replica_.waiting()) return true;  // read_from = replica: held the same way
    if (pauses_.has(ReadPauses::hold) && !can_send()) return true;  // not read at limits.max_held_*
    if (queue_.has_unsent_for_redis() && !can_send()) return true;
    if (queue_.in_flight() > 0 && !upstream_ready())
        return true;  // a link still connecting  // a link still connecting
    if (subscribed() && (!link_ || !link_ready_)) return true;
    return false;
}

void ClientSession::update_hold_timer() {
    account_held();
    if (waiting_for_master()) {
        if (!hold_timer().active()) {
            failover_mut().hold_started_ms = uv_now(router_.loop());
            hold_timer().start(router_.config().hold_window_ms);
            hold_counted_ = false;
        }
        // Only a wait for a master counts as a hold in the metrics, not a new backend link
        // still connecting to a verified one.
        // commands_total{outcome="held"} counts commands: those waiting now, and (enqueue)
        // every one that arrives while the hold lasts.
        if (!hold_counted_ && (!can_send() || replica_.waiting())) {
            hold_counted_ = true;
            router_.stats().commands_held += queue_.unsent_owed();
        }
    } else if (hold_timer_ && hold_timer_->active()) {
        hold_timer_->stop();
        std::uint64_t held = uv_now(router_.loop()) - failover().hold_started_ms;
        if (hold_counted_) router_.held_for(held);
        if (held > 50)
            spdlog::debug("session {}: released after holding {} ms",
                          client_ ? client_->peer() : "?", held);
    }
}

void ClientSession::close_unknown_outcome(const std::string& why) {
    // A write whose outcome is unknown: close, exactly what a direct client would see.
    spdlog::info("session {}: {} with a write in flight; closing the client",
                 client_ ? client_->peer() : "?", why);
    close(CloseReason::unknown_outcome, why);
}

void ClientSession::on_backend_closed(BackendLink& link, const std::string& why) {
    if (closed_) return;
    NodeAddress addr = link.address();
    if (subscribed()) failover_mut().sub_link_lost = addr;
    if (queue_.in_flight() > 0) router_.topology().report_master_trouble(addr, why);
    if (!in_flight_resendable()) {
        close_unknown_outcome(why);
        return;
    }
    relink(why, false);
    stream_wait_over();
}

void ClientSession::on_shared_link_lost(SharedLink& link, const std::string& why) {
    if (closed_) return;
    if (replica_.on_replica() && &link == shared_link_) {
        replica_failed(link.address(), why);  // only reads were there: to the master
        return;
    }
    // Only this client's own commands matter: the others on the link decide for themselves.
    router_.topology().report_master_trouble(link.address(), why);
    if (!in_flight_resendable()) {
        shared_link_ = nullptr;
        close_unknown_outcome(why);
        return;
    }
    relink(why, false);
}

bool ClientSession::in_flight_resendable() const {
    return queue_.in_flight_resendable();
}

bool ClientSession::survives_link_change(const std::string& why) {
    const char* mode = state_ ? state_->bound_to_link() : nullptr;
    if (!mode) return true;
    // Redis closes a connection it loses; the client then knows its tracking cache, its
    // MONITOR stream or its id are gone. A new link would carry none of them, silently.
    spdlog::info("session {}: {} cannot move to a new Redis connection ({}); closing the client",
                 client_ ? client_->peer() : "?", mode, why);
    close(CloseReason::failed,
          std::string(mode) + " is bound to the Redis connection that was replaced (" + why + ")");
    return false;
}

void ClientSession::relink(const std::string& why, bool avoid_until_new_snapshot) {
    if (!survives_link_change(why)) return;
    std::optional<NodeAddress> old = upstream_address();
    link_.reset();
    link_ready_ = false;
    if (shared_link_) shared_link_->cancel(this);  // alive after READONLY: drop the rest
    shared_link_ = nullptr;
    replica_.set_on_replica(false);
    // WATCH state lives in the old connection: a later EXEC must fail (nil), as it would
    // had a watched key changed.
    state_mut().link_lost();
    if (old) {
        FailoverMemory& f = failover_mut();
        f.avoid = *old;
        f.avoid_generation = snap_->generation;
        f.avoid_until_ms = avoid_until_new_snapshot ? 0 : uv_now(router_.loop()) + kLinkRetryMs;
    }
    // Everything unanswered goes out again on the next link.
    const std::size_t resent = queue_.unsend_all();
    router_.stats().commands_resent += resent;
    spdlog::debug("session {}: relinking ({}), {} commands to re-send",
                  client_ ? client_->peer() : "?", why, resent);
    // open_link (from pump) drops the previous preamble and rebuilds the state.
    const bool need =
        resent > 0 || subscribed() || state().in_multi() || queue_.has_unsent_for_redis();
    if (need) {
        pump();
    } else {
        // Idle client: forget the silent set-up entries; the next command opens a link.
        queue_.forget_setup();
        update_hold_timer();
    }
}

// ---------------------------------------------------------------- topology

void ClientSession::on_topology() {
    follow_topology();
    stream_wait_over();
    if (closed_ || !pauses_.has(ReadPauses::hold) || hold_full()) return;
    // The hold that paused this client is over: frame what waited, then read again.
    pauses_.clear(ReadPauses::hold);
    if (client_ && reading_allowed()) client_->start_reading();
    if (!input_refused_) process_input();
}

void ClientSession::follow_topology() {
    if (closed_) return;
    snap_ = router_.snapshot(subscribed());
    if (!snap_->master) {
        if (subscribed() && router_.config().close_subscribers_on_failover && link_) {
            close("failover: closing subscriber as configured (close_subscribers_on_failover)");
            return;
        }
        update_hold_timer();
        return;
    }
    std::optional<NodeAddress> up = upstream_address();
    // Reads in flight on a replica finish there (they were valid when sent); the next
    // command chooses again against the new master.
    if (up && !replica_.on_replica() && !(*up == *snap_->master)) {
        // The master changed. Commands still unanswered by the old master: re-send if
        // provably harmless, otherwise the outcome is unknown and the client is closed.
        if (!in_flight_resendable()) {
            close(CloseReason::unknown_outcome,
                  "master switched with a write in flight to the old master");
            return;
        }
        if (subscribed()) moving_subscriber_ = true;
        if (failover_) failover_->sub_link_lost.reset();  // a failover: subscribers move silently
        relink("master switched to " + snap_->master->str(), false);
        if (failover_) failover_->avoid.reset();
    } else if (subscribed() && !link_) {
        moving_subscriber_ = true;
    }
    pump();
    if (closed_) return;
    if (subscribed()) {
        if (!queue_.any_resubscribe()) {
            moving_subscriber_ = false;
            router_.subscriber_moved(this);
        }
    }
}

void ClientSession::check_command_timeout(std::uint64_t now_ms, std::uint32_t timeout_ms) {
    if (closed_ || queue_.in_flight() == 0 || queue_.empty() || !upstream_ready()) return;
    const Request& p = queue_.front();
    if (p.local() || p.issued_ms == 0 || (p.flags & protocol::kBlocking) ||
        p.kind == Kind::subscribe || p.kind == Kind::unsubscribe)
        return;
    if (now_ms - p.issued_ms < timeout_ms) return;
    NodeAddress addr = upstream_address().value_or(NodeAddress{});
    router_.topology().report_master_trouble(addr, "command timeout");
    close("no reply from " + addr.str() + " within the command timeout (" +
          std::to_string(timeout_ms) + " ms)");
}

}  // namespace sp::proxy
