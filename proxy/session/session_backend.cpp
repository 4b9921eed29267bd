// The backend side of a session: sending its commands, in order, over a shared link or its
// dedicated link; matching replies to its reply slots; replaying the connection state on a
// new dedicated link; the failover rules; replica reads. The client side is in
// client_session.cpp.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "protocol/ascii.h"
#include "protocol/reply_writer.h"
#include "protocol/subscription_reply.h"
#include "proxy/backend/backend_pool.h"
#include "proxy/session/client_session.h"
#include "proxy/session/failover_rules.h"
#include "proxy/session/session_services.h"

namespace sp::proxy {

using protocol::ieq;

using protocol::RespVersion;
namespace reply = protocol::reply;

namespace {

bool is_sub_confirmation(std::string_view head) {
    return head == "subscribe" || head == "psubscribe" || head == "ssubscribe" ||
           head == "unsubscribe" || head == "punsubscribe" || head == "sunsubscribe";
}

bool is_message(std::string_view head) {
    return head == "message" || head == "pmessage" || head == "smessage";
}

}  // namespace

// ---------------------------------------------------------------- commands out

bool ClientSession::can_send() const {
    if (!snap_->master) return false;
    const FailoverMemory& f = failover();
    const failover_rules::Avoided avoided{f.avoid.has_value(),
                                          f.avoid && *f.avoid == *snap_->master, f.avoid_generation,
                                          f.avoid_until_ms};
    return failover_rules::may_send_to_master(avoided, snap_->generation, uv_now(ctx().loop()));
}

std::optional<NodeAddress> ClientSession::upstream_address() const {
    if (dedicated_.link) return dedicated_.link->address();
    if (shared_link_) return shared_link_->address();
    return std::nullopt;
}

bool ClientSession::upstream_ready() const {
    if (queue_.in_flight() == 0) return true;
    return inflight_shared_ ? (shared_link_ && shared_link_->ready()) : dedicated_.ready;
}

void ClientSession::pump() {
    if (closed_) return;
    replica_.set_waiting(false);  // the send loop below finds out again
    deliver_locals();
    if (closed_) return;
    bool want_link = queue_.has_unsent_for_redis() || (subscribed() && !dedicated_.link);
    if (!want_link) {
        update_hold_timer();
        if (client_) client_->flush();
        return;
    }
    if (!can_send()) {
        const std::uint64_t until = failover().avoid_until_ms;
        if (until && !(failover_->retry_timer && failover_->retry_timer->active())) {
            std::uint64_t now = uv_now(ctx().loop());
            retry_timer().start(until > now ? until - now : 1);
        }
        update_hold_timer();
        if (client_) client_->flush();
        return;
    }
    if (subscribed() && !dedicated_.link) open_link();
    // Send in order up to the first command that must wait: one for the other kind of
    // link while this kind still owes replies (that keeps replies in order), or one past
    // the shared-link allowance. Local entries count as sent; they are answered when they
    // reach the front.
    const std::uint64_t now = uv_now(ctx().loop());
    const std::uint64_t now_us = uv_hrtime() / 1000;  // backend latency, below 1 ms too
    while (queue_.unsent() > 0) {
        Request& p = queue_.next();
        if (p.local()) {
            // A state change answered here applies at the front: a dedicated link must not
            // run later commands before it, nor in the state it had before.
            if (p.answer == Answer::local_change && queue_.in_flight() > 0 && !inflight_shared_)
                break;
            queue_.mark_sent(false);
            continue;
        }
        if (p.shared && (queue_.in_flight() == 0 || !inflight_shared_) && state_ &&
            state_->needs_own_link()) {
            // Parsed for a shared link, but Redis's replies to the commands before it say
            // the connection is not in the default state (an EXEC that was an error kept
            // the WATCH, a MULTI that was refused...): it stays on the dedicated link.
            p.shared = false;
            p.replica_read = false;
        }
        if (queue_.in_flight() > 0 && p.shared != inflight_shared_) break;
        if (p.shared) {
            // A client already behind on reading gets one request at a time: a reply's size
            // is unknown until it comes, and a shared link is never paused for one reader.
            const std::size_t output = client_ ? client_->pending_bytes() : 0;
            const std::size_t allowance = output > kBehindOutput ? 1 : kMaxSharedInflight;
            if (queue_.in_flight() >= allowance || output > kPauseOutput) break;
            // The link in use keeps the replies in order; another (a new master, a
            // replica, the other protocol) only once it owes nothing.
            SharedLink* target = shared_target(p);
            if (!target) break;
            if (queue_.in_flight() == 0) {
                // Back to the default state: the dedicated link's state is stale.
                dedicated_.link.reset();
                dedicated_.ready = false;
            }
            shared_link_ = target;
            if (p.issued_ms == 0) {
                p.issued_ms = now;
                p.issued_us = now_us;
            }
            ctx().stats().commands_forwarded++;
            ctx().stats().commands_forwarded_shared++;
            if (replica_.on_replica()) ctx().stats().commands_forwarded_replica++;
            shared_link_->send(this, queue_.next_bytes());
            inflight_shared_ = true;
        } else {
            // Its writing side ended behind a blocked command: wait for Redis to let it go.
            if (dedicated_.link && dedicated_.output_ended) break;
            if (!dedicated_.link || dedicated_.stale) {
                if (dedicated_.link &&
                    !survives_link_change("a state change answered by the proxy"))
                    return;
                // A streamed command cannot be re-sent on a new link: wait for its reply.
                if (queue_.streamed_in_flight()) break;
                open_link();  // rebuilds the queue: its set-up first, then everything
                continue;
            }
            if (p.issued_ms == 0) {
                p.issued_ms = now;
                p.issued_us = now_us;
            }
            if (!p.silent()) ctx().stats().commands_forwarded++;
            dedicated_.link->out().append(queue_.next_bytes());
            inflight_shared_ = false;
        }
        queue_.mark_sent(true);
    }
    // The dedicated link writes now; shared links once per loop turn (BackendPool).
    if (dedicated_.link) dedicated_.link->flush();
    update_hold_timer();
    if (client_) client_->flush();
}

void ClientSession::open_link() {
    BackendLink::Owner& owner = *this;
    dedicated_.link = std::make_unique<BackendLink>(ctx().loop(), owner, *snap_->master,
                                                    ctx().config().connect_timeout_ms);
    dedicated_.ready = false;
    dedicated_.stale = false;
    dedicated_.paused = false;
    dedicated_.output_ended = false;
    // Everything pending goes out on this link (or, for default-state commands later in
    // the queue, a shared one), preceded by the connection state; the previous link's
    // set-up entries are dropped and blocking commands get the time they have left.
    RequestQueue setup;
    build_preamble(setup);
    queue_.reissue_after(std::move(setup), uv_now(ctx().loop()), null_reply_for());
    dedicated_.link->connect();
}

void ClientSession::build_preamble(RequestQueue& setup) {
    const auto& cfg = ctx().config();
    std::string bytes;
    for (const ReplayStep& step : state().replay({cfg.redis_user, cfg.redis_password})) {
        Request p;
        p.answer = step.critical                  ? Answer::setup_critical
                   : step.kind == Kind::subscribe ? Answer::resubscribe
                                                  : Answer::setup;
        p.kind = step.kind;
        p.family = step.family;
        p.expect = step.expect;
        bytes.clear();
        protocol::reply::command(bytes, step.argv);
        setup.push(bytes, std::move(p));
    }
    if (state().in_multi()) {
        const std::string_view tx = state().transaction_bytes();
        std::size_t off = 0;
        for (std::uint32_t len : state().transaction_lengths()) {
            Request p;
            p.answer = Answer::setup;
            setup.push(tx.substr(off, len), std::move(p));
            off += len;
        }
    }
}

// The proxy's own AUTH (redis.password), silent; an error closes the session. Sent again
// right after a client's RESET, which logs the link out on Redis.
void ClientSession::append_link_auth(RequestQueue& queue) const {
    const auto& cfg = ctx().config();
    if (cfg.redis_password.empty()) return;
    Request p;
    p.answer = Answer::setup_critical;
    std::string bytes;
    if (cfg.redis_user.empty())
        protocol::reply::command(bytes, {"AUTH", cfg.redis_password});
    else
        protocol::reply::command(bytes, {"AUTH", cfg.redis_user, cfg.redis_password});
    queue.push(bytes, std::move(p));
}

std::string ClientSession::null_reply_for() const {
    // Blocking pops that time out answer a null (array for BLPOP/BZPOP*/BLMPOP/XREAD,
    // bulk for BLMOVE/BRPOPLPUSH); RESP3 has one null for both.
    std::string r;
    reply::null_array(r, state().proto());
    return r;
}

// ---------------------------------------------------------------- replies in

void ClientSession::on_backend_connected(BackendLink& link) {
    if (failover().sub_link_lost && link.address() == *failover().sub_link_lost) {
        // Redis dropped this subscriber's connection (CLIENT KILL, a restart) and the same
        // master is still the master: no failover to hide. Closing the client, as Redis
        // did, tells it that it may have missed messages (Celery then re-reads results and
        // re-subscribes); a silent re-subscription would hide the gap.
        close("Redis closed the subscriber's connection outside a failover");
        return;
    }
    if (failover_) failover_->sub_link_lost.reset();
    dedicated_.ready = true;
    update_hold_timer();
    stream_wait_over();
}

void ClientSession::on_backend_frame(BackendLink& link, const protocol::FrameInfo& info,
                                     std::string_view bytes) {
    if (closed_) return;
    std::string_view head = info.head_view();
    const bool front_is_sub = !queue_.empty() && queue_.front().subscription();
    // Out-of-band frames: pub/sub messages (RESP3 pushes, RESP2 arrays in subscribed mode).
    if (info.push && !is_sub_confirmation(head)) {
        reply_to_client(bytes);
        return;
    }
    bool sub_mode_resp2 =
        state().proto() == RespVersion::resp2 && info.type == '*' && (subscribed() || front_is_sub);
    if (sub_mode_resp2 && is_message(head)) {
        reply_to_client(bytes);
        return;
    }
    if (queue_.empty() || queue_.in_flight() == 0) {
        // Nothing asked: MONITOR output and the like. Pass it on.
        reply_to_client(bytes);
        return;
    }
    Request& p = queue_.front();
    bool confirmation = (info.push || sub_mode_resp2) && is_sub_confirmation(head);
    // Queued in MULTI, a (P|S)SUBSCRIBE answers one +QUEUED; it runs with EXEC.
    const bool queued = p.in_tx && state().in_multi();
    if ((p.kind == Kind::subscribe || p.kind == Kind::unsubscribe) && !info.error && !queued) {
        if (confirmation) {
            if (p.expect < 0) {
                const auto& set = state().subscriptions(p.family);
                p.expect = std::max<std::int32_t>(1, static_cast<std::int32_t>(set.size()));
            }
            if (!p.silent()) {
                reply_to_client(bytes);
                // Recorded per channel: a link lost before the last confirmation replays
                // the confirmed ones and re-sends only the rest (open_link).
                if (auto channel = protocol::confirmation_channel(bytes))
                    state_mut().apply(p.kind, p.family, {"", std::string(*channel)});
            }
            if (--p.expect <= 0) complete_front(true);
            return;
        }
        update_hold_timer();
        return;
    }
    if (confirmation && info.push) {
        reply_to_client(bytes);
        return;
    }
    handle_reply(link.address(), info, bytes);
}

void ClientSession::on_shared_reply(SharedLink& link, const protocol::FrameInfo& info,
                                    std::string_view bytes) {
    if (closed_ || queue_.empty() || queue_.in_flight() == 0) return;
    handle_reply(link.address(), info, bytes);
}

// The reply to the oldest command in flight, whichever link it came from.
void ClientSession::handle_reply(const NodeAddress& from, const protocol::FrameInfo& info,
                                 std::string_view bytes) {
    std::string_view head = info.head_view();
    Request& p = queue_.front();
    const auto action = info.error
                            ? failover_rules::after_error_reply(p, head, replica_.on_replica())
                            : failover_rules::Action::none;
    if (action == failover_rules::Action::resend_from_master) {
        // A replica that cannot serve: the read did not run; the master answers it.
        replica_failed(from, std::string(head.substr(0, head.find(' '))));
        return;
    }
    if (action == failover_rules::Action::resend_on_new_master) {
        // The node is no longer master: this command did not run there (UNBLOCKED: the
        // blocking pop popped nothing). Re-send everything unanswered to the new master.
        spdlog::info("session {}: {} from {}; re-sending on the new master",
                     client_ ? client_->peer() : "?", std::string(head.substr(0, head.find(' '))),
                     from.str());
        ctx().topology().report_master_trouble(from, std::string(head.substr(0, 9)));
        relink(std::string(head.substr(0, 9)), true);
        return;
    }
    if (p.silent()) {
        if (info.error && p.answer == Answer::fence && queue_.size() > 1)
            queue_[1].rewrite = ReplyRewrite::fence_failed;
        if (info.error && (p.answer == Answer::setup_critical)) {
            spdlog::error("session {}: {} refused the proxy's connection set-up: {}",
                          client_ ? client_->peer() : "?", from.str(), std::string(head));
            close("backend refused connection set-up");
            return;
        }
        complete_front(!info.error);
        return;
    }
    // Whether Redis would have sent it (CLIENT REPLY OFF|SKIP), decided before the state
    // commands EXEC ran take effect, as Redis replies to EXEC before its next command.
    const bool visible = reply_visible(p, !info.error);
    if (p.kind == Kind::exec && state_ && state_->in_multi() && state_->has_queued_changes()) {
        // Each queued state command counts only if its element in EXEC's reply is not an
        // error; nil or EXECABORT: none ran.
        std::vector<bool> ran;
        if (!info.error) protocol::array_elements_ok(bytes, ran);
        state_->exec_ran(ran);
    }
    if (!visible) {
        // (Redis's connection always replies: CLIENT REPLY OFF|SKIP are the proxy's.)
    } else if (p.rewrite == ReplyRewrite::fence_failed) {
        // Its count would be of the wrong connection's writes: never more than the truth.
        std::string r;
        reply::error(r,
                     "ERR sentinel-proxy cannot count the replicas of this client's earlier "
                     "writes: the fence before WAIT (SWAPDB 0 0) was refused");
        reply_to_client(r);
    } else if ((p.rewrite == ReplyRewrite::exec_nil) && !info.error) {
        std::string r;
        reply::null_array(r, state().proto());
        reply_to_client(r);
    } else {
        reply_to_client(bytes);
    }
    complete_front(!info.error);
}

void ClientSession::complete_front(bool success) {
    const Request p = queue_.front();
    if (!p.silent() && p.issued_us != 0 && !(p.flags & protocol::kBlocking))
        ctx().stats().backend_latency.observe_ms(
            static_cast<double>(uv_hrtime() / 1000 - p.issued_us) / 1000.0);
    if (!p.silent()) {
        // (Subscriptions were recorded as each channel was confirmed.)
        const bool sub = p.kind == Kind::subscribe || p.kind == Kind::unsubscribe;
        if (p.in_tx && state().in_multi()) {
            // +QUEUED says nothing ran: a state command waits for EXEC's reply.
            state_mut().queued_in_transaction(queue_.front_bytes(), success, p.kind, p.family,
                                              p.args.get());
        } else if (!sub && (success || p.kind == Kind::exec || p.kind == Kind::discard)) {
            apply_state(p);
        }
    } else if (p.answer == Answer::resubscribe && failover().moving_subscriber) {
        if (!queue_.any_resubscribe(1)) {
            failover_mut().moving_subscriber = false;
            services_.master_switch.subscriber_moved(this);
        }
    }
    replica_.note_answered(p, ctx().config().read_routing);
    const bool none_in_flight = queue_.pop_answered();
    if (queue_.empty()) {
        // Everything parsed is answered: what the requests suggested gives way to what
        // Redis did (a refused MULTI, a SELECT queued then discarded, a kept WATCH).
        parse_.settle(state());
    }
    if (none_in_flight && inflight_shared_)
        shared_link_ = nullptr;  // nothing owed there: the pool may close it
    deliver_locals();
}

bool ClientSession::reply_visible(const Request& p, bool success) {
    if (!state_ && p.kind != Kind::client_reply) return true;  // the default: every reply
    // Queued in MULTI, a CLIENT REPLY answers +QUEUED like any command; it applies with EXEC.
    const Kind kind = p.in_tx && state().in_multi() ? Kind::normal : p.kind;
    return state_mut().reply_visible(kind, p.args.get(), success);
}

void ClientSession::apply_state(const Request& p) {
    if (p.args) state_mut().apply(p.kind, p.family, *p.args);
}

void ClientSession::on_backend_read_done(BackendLink&) {
    if (closed_) return;
    check_backpressure();
    if (!output_within_budget()) return;
    // Commands waiting for this link to owe nothing (the next ones go shared) may go now.
    if (queue_.unsent() > 0) pump();
    if (client_) client_->flush();
    stream_wait_over();
    check_input_end();
}

void ClientSession::on_shared_read_done(SharedLink&) {
    if (closed_) return;
    check_backpressure();
    if (!output_within_budget()) return;
    // Replies came in: more of this client's commands may go (allowance, order).
    pump();
    stream_wait_over();
    check_input_end();
}

// ---------------------------------------------------------------- replica reads (ReplicaReads)

// Where a shared-link command goes: the link in use while it may, else the master, or for a
// replica-eligible read an eligible replica.
SharedLink* ClientSession::shared_target(const Request& p) {
    const NodeAddress& master = *snap_->master;
    if (queue_.in_flight() > 0) {
        // Keep using the link in use while this command may go there.
        if (!shared_link_ || shared_link_->proto() != p.proto) return nullptr;
        if (!replica_.on_replica())
            return shared_link_->address() == master ? shared_link_ : nullptr;
        if (!p.replica_read) return nullptr;  // a write waits for the replica's replies
        return replica_.may_keep(ctx().read_targets(), shared_link_->address(), uv_hrtime())
                   ? shared_link_
                   : nullptr;
    }
    replica_.set_on_replica(false);
    if (p.replica_read) {
        bool none_eligible = false;
        if (SharedLink* l =
                replica_.pick(ctx().read_targets(), ctx().backend_pool(),
                              ctx().config().read_routing, p.proto, uv_hrtime(), none_eligible)) {
            replica_.set_on_replica(true);
            return l;
        }
        // read_from = replica keeps reads off the master: with no eligible replica the read
        // is held like a command with no master, bounded by the hold window. A read-your-
        // writes fence still goes to the master (the client's own write is not there yet).
        if (none_eligible && ctx().config().read_routing == config::ReadRouting::replica) {
            replica_.set_waiting(true);
            services_.registry.wait_for_replica(this);
            return nullptr;
        }
    }
    return &ctx().backend_pool().link_for(master, p.proto);
}

void ClientSession::replica_failed(const NodeAddress& from, const std::string& why) {
    ctx().read_targets().report_trouble(from, uv_hrtime());
    spdlog::debug("session {}: replica {}: {}; re-sending reads", client_ ? client_->peer() : "?",
                  from.str(), why);
    relink("replica " + from.str() + ": " + why, false);
}

void ClientSession::replica_may_be_available() {
    if (!closed_ && replica_.waiting()) pump();
}

void ClientSession::replica_unusable(const NodeAddress& address) {
    if (closed_ || queue_.in_flight() == 0 || !replica_.on_replica() || !shared_link_ ||
        !(shared_link_->address() == address))
        return;
    relink("replica " + address.str() + " out of rotation", false);
}

// ================================================================ failover
// A session at a failover: holding commands while no master is verified (bounded by the
// hold window), what happens to commands in flight when a link dies or the master changes
// (re-sent when provably harmless, the client closed when a write's outcome is unknown),
// and the command timeout for a master that stops answering.
namespace {
constexpr std::uint64_t kLinkRetryMs = 100;
}  // namespace

const FailoverMemory& ClientSession::failover() const {
    static const FailoverMemory kNone;  // never lost a link, never held
    return failover_ ? *failover_ : kNone;
}

FailoverMemory& ClientSession::failover_mut() {
    if (!failover_) failover_ = std::make_unique<FailoverMemory>();
    return *failover_;
}

failover_rules::HoldView ClientSession::hold_view() const {
    failover_rules::HoldView v;
    v.replica_waiting = replica_.waiting();
    v.paused_at_hold_limit = pauses_.has(ReadPauses::hold);
    v.unsent_for_redis = queue_.has_unsent_for_redis();
    v.in_flight_link_connecting = queue_.in_flight() > 0 && !upstream_ready();
    v.subscriber_without_link = subscribed() && !(dedicated_.link && dedicated_.ready);
    // can_send() (a clock read and the avoided-master check) runs on every hold-timer update,
    // that is after every reply: ask it only when one of the above makes it matter. With
    // none set, holding() is false and nothing reads may_send.
    if (v.replica_waiting || v.paused_at_hold_limit || v.unsent_for_redis ||
        v.in_flight_link_connecting || v.subscriber_without_link)
        v.may_send = can_send();
    return v;
}

void ClientSession::update_hold_timer() {
    account_held();
    const failover_rules::HoldView view = hold_view();
    if (failover_rules::holding(view)) {
        if (!hold_timer().active()) {
            failover_mut().hold_started_ms = uv_now(ctx().loop());
            hold_timer().start(ctx().config().hold_window_ms);
            failover_mut().hold_counted = false;
        }
        // Only a wait for a master counts as a hold in the metrics, not a new backend link
        // still connecting to a verified one.
        // commands_total{outcome="held"} counts commands: those waiting now, and (enqueue)
        // every one that arrives while the hold lasts.
        if (!failover().hold_counted && failover_rules::hold_counts(view)) {
            failover_mut().hold_counted = true;
            ctx().stats().commands_held += queue_.unsent_owed();
        }
    } else if (failover_ && failover_->holding()) {
        failover_->hold_timer->stop();
        std::uint64_t held = uv_now(ctx().loop()) - failover().hold_started_ms;
        if (failover_->hold_counted) {
            ctx().stats().hold_wait.observe_ms(static_cast<double>(held));
            services_.timeline.held_for(held);
        }
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
    if (dedicated_.output_ended) {
        redis_let_link_go();
        return;
    }
    NodeAddress addr = link.address();
    if (subscribed()) failover_mut().sub_link_lost = addr;
    if (queue_.in_flight() > 0) ctx().topology().report_master_trouble(addr, why);
    if (failover_rules::after_link_lost(false, queue_.in_flight_resendable()) ==
        failover_rules::Action::close_unknown_outcome) {
        close_unknown_outcome(why);
        return;
    }
    relink(why, false);
    stream_wait_over();
}

// The client left while blocked and the link's writing side was ended behind its commands:
// Redis ran what it could and, at that EOF, closed. A command still owed there was blocked
// when Redis freed the connection, so nothing after it ran either: the client is closed as
// Redis would have closed it. Otherwise (a BLPOP served at once) the client's remaining
// commands go on as after any EOF, on a new link if they need one.
void ClientSession::redis_let_link_go() {
    const bool blocked = queue_.in_flight() > 0 && !inflight_shared_;
    dedicated_.link.reset();
    dedicated_.ready = false;
    if (blocked) {
        close(CloseReason::failed, "client left while blocked in a command; Redis freed it", true);
        return;
    }
    pump();
    check_input_end();
}

void ClientSession::on_shared_link_lost(SharedLink& link, const std::string& why) {
    if (closed_) return;
    // Only this client's own commands matter: the others on the link decide for themselves.
    const auto action = failover_rules::after_link_lost(
        replica_.on_replica() && &link == shared_link_, queue_.in_flight_resendable());
    if (action == failover_rules::Action::resend_from_master) {
        replica_failed(link.address(), why);  // only reads were there: to the master
        return;
    }
    ctx().topology().report_master_trouble(link.address(), why);
    if (action == failover_rules::Action::close_unknown_outcome) {
        shared_link_ = nullptr;
        close_unknown_outcome(why);
        return;
    }
    relink(why, false);
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
    dedicated_.link.reset();
    dedicated_.ready = false;
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
        f.avoid_until_ms = avoid_until_new_snapshot ? 0 : uv_now(ctx().loop()) + kLinkRetryMs;
    }
    // Everything unanswered goes out again on the next link.
    const std::size_t resent = queue_.unsend_all();
    ctx().stats().commands_resent += resent;
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
    snap_ = services_.master_switch.snapshot(subscribed());
    if (!snap_->master) {
        if (subscribed() && ctx().config().close_subscribers_on_failover && dedicated_.link) {
            close("failover: closing subscriber as configured (close_subscribers_on_failover)");
            return;
        }
        update_hold_timer();
        return;
    }
    std::optional<NodeAddress> up = upstream_address();
    // The master changed. Commands still unanswered by the old master: re-send if provably
    // harmless, otherwise the outcome is unknown and the client is closed.
    const auto action = failover_rules::after_master_changed(up.has_value(), replica_.on_replica(),
                                                             up && *up == *snap_->master,
                                                             queue_.in_flight_resendable());
    if (action != failover_rules::Action::none) {
        if (action == failover_rules::Action::close_unknown_outcome) {
            close(CloseReason::unknown_outcome,
                  "master switched with a write in flight to the old master");
            return;
        }
        if (subscribed()) failover_mut().moving_subscriber = true;
        if (failover_) failover_->sub_link_lost.reset();  // a failover: subscribers move silently
        relink("master switched to " + snap_->master->str(), false);
        if (failover_) failover_->avoid.reset();
    } else if (subscribed() && !dedicated_.link) {
        failover_mut().moving_subscriber = true;
    }
    pump();
    if (closed_) return;
    if (subscribed()) {
        if (!queue_.any_resubscribe()) {
            if (failover_) failover_->moving_subscriber = false;
            services_.master_switch.subscriber_moved(this);
        }
    }
}

void ClientSession::check_command_timeout(std::uint64_t now_ms, std::uint32_t timeout_ms) {
    if (closed_ || queue_.in_flight() == 0 || queue_.empty() || !upstream_ready()) return;
    if (!failover_rules::timed_out(queue_.front(), now_ms, timeout_ms)) return;
    NodeAddress addr = upstream_address().value_or(NodeAddress{});
    ctx().topology().report_master_trouble(addr, "command timeout");
    close("no reply from " + addr.str() + " within the command timeout (" +
          std::to_string(timeout_ms) + " ms)");
}

}  // namespace sp::proxy
