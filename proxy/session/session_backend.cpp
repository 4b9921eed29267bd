// The backend side of a session: sending its commands, in order, over a shared link or its
// dedicated link; matching replies to its reply slots; replaying the connection state on a
// new dedicated link. The failover rules are in session_failover.cpp, the client side in
// client_session.cpp.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "protocol/ascii.h"
#include "protocol/reply_writer.h"
#include "protocol/subscription_reply.h"
#include "proxy/backend/backend_pool.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_services.h"

namespace sp::proxy {

using protocol::ieq;

using protocol::RespVersion;
namespace reply = protocol::reply;

namespace {

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}

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
    if (f.avoid && *f.avoid == *snap_->master && snap_->generation == f.avoid_generation &&
        (f.avoid_until_ms == 0 || uv_now(ctx().loop()) < f.avoid_until_ms))
        return false;
    return true;
}

std::optional<NodeAddress> ClientSession::upstream_address() const {
    if (link_) return link_->address();
    if (shared_link_) return shared_link_->address();
    return std::nullopt;
}

bool ClientSession::upstream_ready() const {
    if (upstream_inflight_ == 0) return true;
    return inflight_shared_ ? (shared_link_ && shared_link_->ready()) : link_ready_;
}

void ClientSession::pump() {
    if (closed_) return;
    waiting_replica_ = false;  // the send loop below finds out again
    deliver_locals();
    if (closed_) return;
    bool has_unsent = false;
    for (std::size_t i = sent_; i < pending_.size(); ++i)
        if (!pending_[i].local) {
            has_unsent = true;
            break;
        }
    bool want_link = has_unsent || (subscribed() && !link_);
    if (!want_link) {
        update_hold_timer();
        if (client_) client_->flush();
        return;
    }
    if (!can_send()) {
        const std::uint64_t until = failover().avoid_until_ms;
        if (until && !(retry_timer_ && retry_timer_->active())) {
            std::uint64_t now = uv_now(ctx().loop());
            retry_timer().start(until > now ? until - now : 1);
        }
        update_hold_timer();
        if (client_) client_->flush();
        return;
    }
    if (subscribed() && !link_) open_link();
    // Send in order up to the first command that must wait: one for the other kind of
    // link while this kind still owes replies (that keeps replies in order), or one past
    // the shared-link allowance. Local entries count as sent; they are answered when they
    // reach the front.
    const std::uint64_t now = uv_now(ctx().loop());
    const std::uint64_t now_us = uv_hrtime() / 1000;  // backend latency, below 1 ms too
    while (sent_ < pending_.size()) {
        Pending& p = pending_[sent_];
        if (p.local) {
            // A state change answered here applies at the front: a dedicated link must not
            // run later commands before it, nor in the state it had before.
            if (p.local_state && upstream_inflight_ > 0 && !inflight_shared_) break;
            ++sent_;
            continue;
        }
        if (p.shared && (upstream_inflight_ == 0 || !inflight_shared_) && state_ &&
            state_->needs_own_link()) {
            // Parsed for a shared link, but Redis's replies to the commands before it say
            // the connection is not in the default state (an EXEC that was an error kept
            // the WATCH, a MULTI that was refused...): it stays on the dedicated link.
            p.shared = false;
            p.replica_read = false;
        }
        if (upstream_inflight_ > 0 && p.shared != inflight_shared_) break;
        if (p.shared) {
            // A client already behind on reading gets one request at a time: a reply's size
            // is unknown until it comes, and a shared link is never paused for one reader.
            const std::size_t output = client_ ? client_->pending_bytes() : 0;
            const std::size_t allowance = output > kBehindOutput ? 1 : kMaxSharedInflight;
            if (upstream_inflight_ >= allowance || output > kPauseOutput) break;
            // The link in use keeps the replies in order; another (a new master, a
            // replica, the other protocol) only once it owes nothing.
            SharedLink* target = shared_target(p);
            if (!target) break;
            if (upstream_inflight_ == 0) {
                // Back to the default state: the dedicated link's state is stale.
                link_.reset();
                link_ready_ = false;
            }
            shared_link_ = target;
            if (p.issued_ms == 0) {
                p.issued_ms = now;
                p.issued_us = now_us;
            }
            ctx().stats().commands_forwarded++;
            ctx().stats().commands_forwarded_shared++;
            if (upstream_replica_) ctx().stats().commands_forwarded_replica++;
            shared_link_->send(this, std::string_view(log_.data() + unsent_, p.len));
            inflight_shared_ = true;
        } else {
            if (!link_ || link_stale_) {
                if (link_ && !survives_link_change("a state change answered by the proxy")) return;
                // A streamed command cannot be re-sent on a new link: wait for its reply.
                bool streamed_in_flight = false;
                for (std::size_t i = 0; i < sent_; ++i)
                    if (pending_[i].streamed) streamed_in_flight = true;
                if (streamed_in_flight) break;
                open_link();  // rebuilds the queue: its set-up first, then everything
                continue;
            }
            if (p.issued_ms == 0) {
                p.issued_ms = now;
                p.issued_us = now_us;
            }
            if (!p.silent) ctx().stats().commands_forwarded++;
            link_->out().append(log_, unsent_, p.len);
            inflight_shared_ = false;
        }
        unsent_ += p.len;
        ++sent_;
        ++upstream_inflight_;
    }
    // The dedicated link writes now; shared links once per loop turn (BackendPool).
    if (link_) link_->flush();
    update_hold_timer();
    if (client_) client_->flush();
}

void ClientSession::open_link() {
    BackendLink::Owner& owner = *this;
    link_ = std::make_unique<BackendLink>(ctx().loop(), owner, *snap_->master,
                                          ctx().config().connect_timeout_ms);
    link_ready_ = false;
    link_stale_ = false;
    link_paused_ = false;
    // Everything pending goes out on this link (or, for default-state commands later in
    // the queue, a shared one), preceded by the connection state; the previous link's
    // set-up entries are dropped and blocking commands get the time they have left.
    std::string new_log;
    SlotRing<Pending> new_pending;
    SlotRing<std::string> new_locals;
    build_preamble(new_log, new_pending);
    std::size_t off = head_;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
        Pending p = pending_[i];
        std::string_view raw(log_.data() + off, p.len);
        off += p.len;
        if (p.local) {
            new_pending.push_back(p);
            new_locals.push_back(std::move(local_replies_.front()));
            local_replies_.pop_front();
            continue;
        }
        if (p.silent && !p.fence) continue;
        if ((p.flags & protocol::kBlocking) && p.issued_ms != 0 &&
            p.timeout != protocol::TimeoutArg::none && p.args) {
            bool expired = false;
            std::string rewritten;
            rewrite_blocking(rewritten, p, expired);
            if (expired) {
                // Its timeout ran out while the master was away: answer as Redis would.
                p.len = 0;
                p.local = true;
                new_pending.push_back(p);
                new_locals.push_back(null_reply_for(p));
                continue;
            }
            p.len = static_cast<std::uint32_t>(rewritten.size());
            new_log += rewritten;
        } else if ((p.kind == Kind::subscribe || p.kind == Kind::unsubscribe) && p.args &&
                   p.expect >= 0 && p.expect + 1 < static_cast<std::int32_t>(p.args->size())) {
            // Partly confirmed on the lost link: only the channels Redis did not confirm go
            // again (the confirmed ones are in the state, replayed above).
            std::vector<std::string> rest{p.args->front()};
            rest.insert(rest.end(), p.args->end() - p.expect, p.args->end());
            const std::size_t before = new_log.size();
            reply::command(new_log, rest);
            p.len = static_cast<std::uint32_t>(new_log.size() - before);
            p.args = std::make_shared<const std::vector<std::string>>(std::move(rest));
        } else if (p.kind == Kind::unsubscribe && p.args && p.args->size() == 1) {
            // UNSUBSCRIBE of everything: counted again against what is still subscribed.
            p.expect = -1;
            new_log.append(raw);
        } else {
            new_log.append(raw);
        }
        p.issued_ms = 0;
        p.issued_us = 0;
        new_pending.push_back(p);
    }
    log_ = std::move(new_log);
    pending_ = std::move(new_pending);
    local_replies_ = std::move(new_locals);
    head_ = 0;
    unsent_ = 0;
    sent_ = 0;
    upstream_inflight_ = 0;
    link_->connect();
}

void ClientSession::build_preamble(std::string& log, SlotRing<Pending>& pending) {
    const auto& cfg = ctx().config();
    for (const ReplayStep& step : state().replay({cfg.redis_user, cfg.redis_password})) {
        Pending p;
        p.silent = true;
        p.critical = step.critical;
        p.kind = step.kind;
        p.family = step.family;
        p.expect = step.expect;
        p.resub = step.kind == Kind::subscribe;
        std::size_t before = log.size();
        protocol::reply::command(log, step.argv);
        p.len = static_cast<std::uint32_t>(log.size() - before);
        pending.push_back(std::move(p));
    }
    if (state().in_multi()) {
        const std::string& tx = state().transaction_bytes();
        std::size_t off = 0;
        for (std::uint32_t len : state().transaction_lengths()) {
            Pending p;
            p.silent = true;
            p.len = len;
            pending.push_back(std::move(p));
            log.append(tx, off, len);
            off += len;
        }
    }
}

// The proxy's own AUTH (redis.password), silent; an error closes the session. Sent again
// right after a client's RESET, which logs the link out on Redis.
void ClientSession::append_link_auth(std::string& log, SlotRing<Pending>& pending) const {
    const auto& cfg = ctx().config();
    if (cfg.redis_password.empty()) return;
    Pending p;
    p.silent = true;
    p.critical = true;
    std::size_t before = log.size();
    if (cfg.redis_user.empty())
        protocol::reply::command(log, {"AUTH", cfg.redis_password});
    else
        protocol::reply::command(log, {"AUTH", cfg.redis_user, cfg.redis_password});
    p.len = static_cast<std::uint32_t>(log.size() - before);
    pending.push_back(std::move(p));
}

void ClientSession::rewrite_blocking(std::string& out, const Pending& p, bool& expired) {
    std::vector<std::string> argv = *p.args;
    std::uint64_t elapsed = uv_now(ctx().loop()) - p.issued_ms;
    auto adjust_seconds = [&](std::string& arg) {
        double t = std::strtod(arg.c_str(), nullptr);
        if (t <= 0) return;  // 0 = forever
        double left = t - static_cast<double>(elapsed) / 1000.0;
        if (left <= 0.001) {
            expired = true;
            return;
        }
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.3f", left);
        arg = buf;
    };
    if (argv.size() >= 2) {
        switch (p.timeout) {
            case protocol::TimeoutArg::last_seconds:
                adjust_seconds(argv.back());
                break;
            case protocol::TimeoutArg::first_seconds:
                adjust_seconds(argv[1]);
                break;
            case protocol::TimeoutArg::block_option_ms:
                for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
                    if (ieq(argv[i], "block")) {
                        long long ms = std::atoll(argv[i + 1].c_str());
                        if (ms > 0) {
                            long long left = ms - static_cast<long long>(elapsed);
                            if (left <= 0)
                                expired = true;
                            else
                                argv[i + 1] = std::to_string(left);
                        }
                        break;
                    }
                }
                break;
            case protocol::TimeoutArg::none:
                break;
        }
    }
    protocol::reply::command(out, argv);
}

std::string ClientSession::null_reply_for(const Pending&) const {
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
    link_ready_ = true;
    update_hold_timer();
    stream_wait_over();
}

void ClientSession::on_backend_frame(BackendLink& link, const protocol::FrameInfo& info,
                                     std::string_view bytes) {
    if (closed_) return;
    std::string_view head = info.head_view();
    bool front_is_sub = !pending_.empty() && (pending_.front().kind == Kind::subscribe ||
                                              pending_.front().kind == Kind::unsubscribe);
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
    if (pending_.empty() || upstream_inflight_ == 0) {
        // Nothing asked: MONITOR output and the like. Pass it on.
        reply_to_client(bytes);
        return;
    }
    Pending& p = pending_.front();
    bool confirmation = (info.push || sub_mode_resp2) && is_sub_confirmation(head);
    // Queued in MULTI, a (P|S)SUBSCRIBE answers one +QUEUED; it runs with EXEC.
    const bool queued = p.in_tx && state().in_multi();
    if ((p.kind == Kind::subscribe || p.kind == Kind::unsubscribe) && !info.error && !queued) {
        if (confirmation) {
            if (p.expect < 0) {
                const auto& set = state().subscriptions(p.family);
                p.expect = std::max<std::int32_t>(1, static_cast<std::int32_t>(set.size()));
            }
            if (!p.silent) {
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
    if (closed_ || pending_.empty() || upstream_inflight_ == 0) return;
    handle_reply(link.address(), info, bytes);
}

// The reply to the oldest command in flight, whichever link it came from.
void ClientSession::handle_reply(const NodeAddress& from, const protocol::FrameInfo& info,
                                 std::string_view bytes) {
    std::string_view head = info.head_view();
    Pending& p = pending_.front();
    if (info.error && upstream_replica_ && !p.silent &&
        (starts_with(head, "LOADING") || starts_with(head, "MASTERDOWN"))) {
        // A replica that cannot serve: the read did not run; the master answers it.
        replica_failed(from, std::string(head.substr(0, head.find(' '))));
        return;
    }
    // (A streamed command cannot be re-sent: its READONLY goes to the client as it came.)
    // Only Redis's own demotion text: an -UNBLOCKED from CLIENT UNBLOCK ... ERROR, or for a
    // deleted stream, is the client's answer, as direct.
    if (info.error && !p.silent && !p.streamed &&
        (starts_with(head, "READONLY") ||
         starts_with(head, "UNBLOCKED force unblock from blocking operation"))) {
        // The node is no longer master: this command did not run there (UNBLOCKED: the
        // blocking pop popped nothing). Re-send everything unanswered to the new master.
        spdlog::info("session {}: {} from {}; re-sending on the new master",
                     client_ ? client_->peer() : "?", std::string(head.substr(0, head.find(' '))),
                     from.str());
        ctx().topology().report_master_trouble(from, std::string(head.substr(0, 9)));
        relink(std::string(head.substr(0, 9)), true);
        return;
    }
    if (p.silent) {
        if (info.error && p.fence && pending_.size() > 1) pending_[1].fence_failed = true;
        if (info.error && p.critical) {
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
    } else if (p.fence_failed) {
        // Its count would be of the wrong connection's writes: never more than the truth.
        std::string r;
        reply::error(r,
                     "ERR sentinel-proxy cannot count the replicas of this client's earlier "
                     "writes: the fence before WAIT (SWAPDB 0 0) was refused");
        reply_to_client(r);
    } else if (p.exec_nil && !info.error) {
        std::string r;
        reply::null_array(r, state().proto());
        reply_to_client(r);
    } else {
        reply_to_client(bytes);
    }
    complete_front(!info.error);
}

void ClientSession::complete_front(bool success) {
    const Pending p = pending_.front();
    if (!p.silent && p.issued_us != 0 && !(p.flags & protocol::kBlocking))
        ctx().stats().backend_latency.observe_ms(
            static_cast<double>(uv_hrtime() / 1000 - p.issued_us) / 1000.0);
    if (!p.silent) {
        // (Subscriptions were recorded as each channel was confirmed.)
        const bool sub = p.kind == Kind::subscribe || p.kind == Kind::unsubscribe;
        if (p.in_tx && state().in_multi()) {
            // +QUEUED says nothing ran: a state command waits for EXEC's reply.
            state_mut().queued_in_transaction(front_raw(), success, p.kind, p.family, p.args.get());
        } else if (!sub && (success || p.kind == Kind::exec || p.kind == Kind::discard)) {
            apply_state(p);
        }
    } else if (p.resub && moving_subscriber_) {
        bool more = false;
        for (std::size_t i = 1; i < pending_.size(); ++i)
            if (pending_[i].resub) more = true;
        if (!more) {
            moving_subscriber_ = false;
            services_.master_switch.subscriber_moved(this);
        }
    }
    note_answered(p);
    head_ += p.len;
    pending_.pop_front();
    if (pending_.empty()) {
        // Everything parsed is answered: what the requests suggested gives way to what
        // Redis did (a refused MULTI, a SELECT queued then discarded, a kept WATCH).
        multi_open_at_parse_ = state().in_multi();
        watch_at_parse_ = state().watching();
        db_nonzero_at_parse_ = state().db() != 0;
    }
    if (sent_ > 0) --sent_;
    if (upstream_inflight_ > 0 && --upstream_inflight_ == 0 && inflight_shared_)
        shared_link_ = nullptr;  // nothing owed there: the pool may close it
    if (head_ == log_.size()) {
        log_.clear();
        head_ = unsent_ = 0;
    } else if (head_ > (64u << 10) && head_ * 2 > log_.size()) {
        log_.erase(0, head_);
        unsent_ -= head_;
        head_ = 0;
    }
    deliver_locals();
}

bool ClientSession::reply_visible(const Pending& p, bool success) {
    if (!state_ && p.kind != Kind::client_reply) return true;  // the default: every reply
    // Queued in MULTI, a CLIENT REPLY answers +QUEUED like any command; it applies with EXEC.
    const Kind kind = p.in_tx && state().in_multi() ? Kind::normal : p.kind;
    return state_mut().reply_visible(kind, p.args.get(), success);
}

void ClientSession::apply_state(const Pending& p) {
    if (p.args) state_mut().apply(p.kind, p.family, *p.args);
}

void ClientSession::on_backend_read_done(BackendLink&) {
    if (closed_) return;
    check_backpressure();
    if (!output_within_budget()) return;
    // Commands waiting for this link to owe nothing (the next ones go shared) may go now.
    if (sent_ < pending_.size()) pump();
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

}  // namespace sp::proxy
