// The client side of a session: reading and framing requests, the proxy's own client
// password, the route decision (shared link or dedicated), the replies the proxy makes
// itself, the client limits, streaming a big bulk, the end of the client's input, and
// closing. The backend side is in session_backend.cpp.
#include "proxy/session/client_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "protocol/ascii.h"
#include "protocol/hello_options.h"
#include "protocol/reply_writer.h"
#include "proxy/session/local_answers.h"
#include "proxy/session/session_services.h"
#include "proxy/session/stream_rules.h"

namespace sp::proxy {

using protocol::ieq;

using protocol::CommandKind;
using protocol::PinReason;
using protocol::RespVersion;
namespace reply = protocol::reply;

namespace {

// Commands whose reply changes the connection state keep their arguments; so do blocking
// ones (re-issued with the time they have left after a failover).
bool keeps_args(const protocol::CommandPolicy& p) {
    switch (p.kind) {
        case CommandKind::normal:
        case CommandKind::ping:
        case CommandKind::quit:
            return p.is(protocol::kBlocking) && p.timeout != protocol::TimeoutArg::none;
        default:
            return true;
    }
}

protocol::ParserLimits parser_limits(const config::Config& c) {
    protocol::ParserLimits l;
    l.max_bulk_len = c.max_bulk_len;
    l.max_inline_len = c.max_inline_len;
    l.stream_bulk_len = c.stream_bulk_len;
    return l;
}

}  // namespace

ClientSession::ClientSession(SessionServices& services, Stream* stream)
    : services_(services), client_(stream), parser_(parser_limits(services.context.config())) {
    snap_ = services_.master_switch.snapshot(false);
}

ClientSession::~ClientSession() = default;

// The timers exist only once a client has waited for a master (or for a lost one to be
// avoidable again): two idle libuv timers were about 0.4 KiB of every idle client.
Timer& ClientSession::hold_timer() {
    FailoverMemory& f = failover_mut();
    if (!f.hold_timer) {
        f.hold_timer = std::make_unique<Timer>(ctx().loop(), [this] {
            if (closed_ || !failover_rules::holding(hold_view())) return;
            close(CloseReason::hold_timeout,
                  std::string(replica_.waiting() ? "no eligible replica (read_from = replica)"
                                                 : "no verified master") +
                      " within the hold window (" + std::to_string(ctx().config().hold_window_ms) +
                      " ms)");
        });
    }
    return *f.hold_timer;
}

const ConnectionState& ClientSession::state() const {
    static const ConnectionState kDefault;  // the state of every client that changed none
    return state_ ? *state_ : kDefault;
}

ConnectionState& ClientSession::state_mut() {
    if (!state_) state_ = std::make_unique<ConnectionState>();
    return *state_;
}

Timer& ClientSession::retry_timer() {
    FailoverMemory& f = failover_mut();
    if (!f.retry_timer) f.retry_timer = std::make_unique<Timer>(ctx().loop(), [this] { pump(); });
    return *f.retry_timer;
}

void ClientSession::start() {
    last_read_ms_ = uv_now(ctx().loop());
    client_->start_reading();
}

void ClientSession::trim_if_idle(std::uint64_t now_ms, std::uint64_t idle_ms) {
    if (closed_ || !queue_.empty() || now_ms - last_read_ms_ < idle_ms) return;
    queue_.release_if_empty();
}

void ClientSession::check_idle(std::uint64_t now_ms, std::uint32_t idle_ms) {
    // A client in the middle of a streamed command owes bytes: idle is its doing.
    if (closed_ || subscribed() || (!queue_.empty() && !parser_.streaming()) ||
        now_ms - last_read_ms_ < idle_ms)
        return;
    close("idle for " + std::to_string(idle_ms) + " ms (timeouts.client_idle_ms)");
}

// ---------------------------------------------------------------- client side

uv_buf_t ClientSession::on_alloc(std::size_t) {
    if (input_refused_) {
        // Bytes after a protocol error or QUIT are read only to notice the client's close;
        // they are never looked at, so every session can share one buffer on this thread.
        static thread_local char discard[16 * 1024];
        return uv_buf_init(discard, sizeof(discard));
    }
    // A request that arrives whole is framed and sent on from the thread's shared area
    // (no allocation per request); only bytes left unread are copied to the session.
    static thread_local char shared[64 * 1024];
    auto area = parser_.write_area(16 * 1024, std::span<char>(shared, sizeof(shared)));
    return uv_buf_init(area.data(), static_cast<unsigned>(area.size()));
}

void ClientSession::on_read(std::size_t n) {
    ctx().stats().bytes_in += n;
    last_read_ms_ = uv_now(ctx().loop());
    if (input_refused_) return;
    parser_.commit(n);
    process_input();
    parser_.keep_unread();
}

void ClientSession::process_input() {
    if (!account_memory()) {
        std::string e;
        reply::error(e,
                     "ERR Protocol error: the command does not fit in the proxy's memory budget "
                     "(limits.memory_budget, " +
                         std::to_string(ctx().config().memory_budget >> 20) +
                         " MiB for all clients)");
        spdlog::warn(
            "client {}: closed, {} bytes buffered while all clients together hold {} "
            "(limits.memory_budget {})",
            client_->peer(), limits_.charged(), ctx().buffered_bytes(),
            ctx().config().memory_budget);
        input_refused_ = true;
        enqueue_local(std::move(e), true);
        pump();
        return;
    }
    protocol::Command cmd;
    const bool gated = !ctx().config().client_password.empty();
    for (;;) {
        if (parser_.streaming()) {
            parser_.set_authenticated(!gated || parse_.authenticated());
            if (!stream_input()) break;
            continue;
        }
        if (hold_full()) {
            // The rest waits in the parser and the socket until the hold ends (on_topology).
            if (!pauses_.has(ReadPauses::hold) && client_) client_->stop_reading();
            pauses_.set(ReadPauses::hold);
            break;
        }
        // Redis's pre-AUTH limits apply per command, so AUTH and RESET take effect at once.
        parser_.set_authenticated(!gated || parse_.authenticated());
        auto st = parser_.next(cmd);
        if (st == protocol::RequestParser::Status::incomplete) break;
        if (st == protocol::RequestParser::Status::stream_start) {
            const StreamGo go = stream_decision(cmd);
            if (go == StreamGo::wait) break;
            if (go == StreamGo::decline)
                parser_.decline_stream();  // framed whole as any command, within the limits
            else
                begin_stream(cmd);
            continue;
        }
        if (st == protocol::RequestParser::Status::error) {
            spdlog::debug("client {}: {}", client_->peer(), parser_.error());
            std::string e;
            reply::error(e, "ERR " + parser_.error());
            // Answer after the replies already owed, then close: like Redis. Keep reading
            // (and dropping) meanwhile, so that a client closing first frees the session and
            // its link at once instead of waiting forever behind, say, a BLPOP.
            input_refused_ = true;
            enqueue_local(std::move(e), true);
            pump();
            return;
        }
        handle_command(cmd);
        account_held();
        if (closed_ || input_refused_) break;
    }
    if (closed_) return;
    if (parser_.buffered() == 0) parser_.shrink_if_idle();
    pump();
    if (closed_ || !query_buffer_ok()) return;
    check_backpressure();
    account_memory();
    // pump() may have answered what a waiting stream waited for (local replies only).
    if (pauses_.has(ReadPauses::stream_wait) && (stream_can_go() || !can_send()))
        stream_wait_over();
    check_input_end();
}

void ClientSession::on_closed(int status) {
    client_ = nullptr;
    close(status == 0 ? "client closed the connection"
                      : std::string("client connection: ") + uv_strerror(status));
}

void ClientSession::on_drained() {
    check_backpressure();
    // Output below the limit again: shared-link commands held back for it may go.
    if (!closed_ && queue_.unsent() > 0) pump();
    check_input_end();
}

void ClientSession::reply_to_client(std::string_view bytes) {
    if (!client_) return;
    client_->append(bytes);
    ctx().stats().bytes_out += bytes.size();
}

// The one place a close is counted: the commands still owed count as failed, and the
// closes the metrics name have their own counter.
void ClientSession::close(CloseReason reason, const std::string& why, bool graceful) {
    if (closed_) return;
    auto& stats = ctx().stats();
    switch (reason) {
        case CloseReason::normal:
            break;
        case CloseReason::hold_timeout:
            stats.clients_closed_hold_timeout++;
            break;
        case CloseReason::unknown_outcome:
            stats.clients_closed_unknown_outcome++;
            break;
        case CloseReason::output_buffer:
            stats.clients_closed_output_buffer++;
            break;
        case CloseReason::failed:
            break;
    }
    if (reason != CloseReason::normal) stats.commands_failed += unanswered();
    close(why, graceful);
}

void ClientSession::close(const std::string& why, bool graceful) {
    if (closed_) return;
    closed_ = true;
    spdlog::debug("session {} closed: {}", client_ ? client_->peer() : std::string("?"), why);
    if (client_) {
        if (graceful)
            client_->close_after_flush();
        else
            client_->close();
    }
    client_ = nullptr;
    limits_.release(ctx());
    account_held();
    dedicated_.link.reset();
    // The shared link stays; the replies still owed to this client are dropped there.
    if (shared_link_) shared_link_->cancel(this);
    shared_link_ = nullptr;
    if (failover_) {  // their callbacks must not run for a closed session
        failover_->hold_timer.reset();
        failover_->retry_timer.reset();
    }
    input_end_.release();
    services_.retire(this);
}

// ---------------------------------------------------------------- commands in

bool ClientSession::handle_auth_gate(const protocol::Command& cmd,
                                     const protocol::HelloOptions* hello) {
    // Returns true when the command was answered here (client password mode).
    const std::string& pw = ctx().config().client_password;
    auto check = [&](std::string_view user, std::string_view pass) {
        return (user.empty() || user == "default") && pass == pw;
    };
    if (cmd.name == "auth") {
        std::string r;
        if (cmd.argc() < 2 || cmd.argc() > 3) {
            reply::error(r, "ERR wrong number of arguments for 'auth' command");
        } else if (check(cmd.argc() == 3 ? cmd.argv[1] : std::string_view{},
                         cmd.argv[cmd.argc() - 1])) {
            parse_.set_authenticated(true);
            reply::status(r, "OK");
        } else {
            reply::error(r, "WRONGPASS invalid username-password pair or user is disabled.");
        }
        enqueue_local(std::move(r));
        return true;
    }
    if (cmd.name == "hello") {
        // Check HELLO's AUTH here and forward HELLO without it. Options are read
        // positionally and a bad one fails the whole command before any password check.
        const protocol::HelloOptions& o = *hello;
        std::string r;
        if (!o.error.empty()) {
            reply::error(r, o.error);
            enqueue_local(std::move(r));
            return true;
        }
        if (o.password) {
            if (*o.user != "default" || *o.password != pw) {
                reply::error(r, "WRONGPASS invalid username-password pair or user is disabled.");
                enqueue_local(std::move(r));
                return true;
            }
            parse_.set_authenticated(true);
        }
        if (!parse_.authenticated()) {
            reply::error(
                r,
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client "
                "and select the RESP protocol version at the same time");
            enqueue_local(std::move(r));
            return true;
        }
        if (o.password) {
            // The same HELLO without its AUTH, handled like any HELLO from here on.
            std::vector<std::string> rest{"HELLO", std::string(cmd.argv[1])};
            if (o.client_name) {
                rest.emplace_back("SETNAME");
                rest.emplace_back(*o.client_name);
            }
            const std::string raw = protocol::reply::command(rest);
            std::vector<std::string_view> views(rest.begin(), rest.end());
            protocol::Command stripped;
            stripped.name = "hello";
            stripped.argv = views;
            stripped.raw = raw;
            const protocol::HelloOptions stripped_hello = protocol::parse_hello(stripped.argv);
            handle_command_after_gate(stripped, &stripped_hello);
            return true;
        }
        return false;
    }
    if (cmd.name == "reset") {
        // Allowed before AUTH, as in Redis; it leaves the client unauthenticated, from the
        // next command of the same pipeline on.
        parse_.set_authenticated(false);
        return false;
    }
    if (!parse_.authenticated() && cmd.name != "quit") {
        std::string r;
        reply::error(r, "NOAUTH Authentication required.");
        enqueue_local(std::move(r));
        return true;
    }
    return false;
}

void ClientSession::handle_command(const protocol::Command& cmd) {
    // HELLO's options are read here once, for every decision about it below.
    std::optional<protocol::HelloOptions> hello;
    if (cmd.name == "hello") hello = protocol::parse_hello(cmd.argv);
    const protocol::HelloOptions* h = hello ? &*hello : nullptr;
    if (!ctx().config().client_password.empty() && handle_auth_gate(cmd, h)) return;
    handle_command_after_gate(cmd, h);
}

void ClientSession::handle_command_after_gate(const protocol::Command& cmd,
                                              const protocol::HelloOptions* hello) {
    const protocol::CommandPolicy policy = protocol::decide(ctx().commands(), cmd);
    if (policy.kind == CommandKind::quit) {
        std::string r;
        reply::status(r, "OK");
        // Nothing after QUIT runs, as in Redis.
        input_refused_ = true;
        enqueue_local(std::move(r), true);
        return;
    }
    if (!policy.refusal.empty() && !parse_.multi_open()) {
        // Not supported through a proxy: a clear error, never a broken shared link. (Inside
        // MULTI it is queued on the transaction's own link, where Redis decides, as direct.)
        std::string r;
        reply::error(r, policy.refusal);
        enqueue_local(std::move(r));
        return;
    }
    if (policy.kind == CommandKind::ping && !subscribed() && !parse_.multi_open() &&
        queue_.empty() && !snap_->master) {
        // Nothing to keep in order and no master: answer here so health checks work (not
        // inside MULTI, where Redis queues it).
        std::string r;
        if (cmd.argc() > 1)
            reply::bulk(r, cmd.argv[1]);
        else
            reply::status(r, "PONG");
        enqueue_local(std::move(r));
        return;
    }
    Request p;
    p.kind = policy.kind;
    p.flags = policy.flags;
    p.timeout = policy.timeout;
    p.family = policy.family;
    p.expect = policy.expect;
    p.resendable = policy.resendable;
    if (keeps_args(policy))
        p.args = std::make_shared<const std::vector<std::string>>(cmd.argv.begin(), cmd.argv.end());

    // (A HELLO that logs in as a Redis user waits for the master, which checks it.)
    if (policy.kind == CommandKind::hello && hello && policy.pins != PinReason::identity &&
        !subscribed() && !parse_.multi_open() && queue_.empty() && !snap_->master) {
        route(cmd, policy, hello);
        answer_hello_locally(cmd, *hello);
        return;
    }
    const bool multi_was_open = parse_.multi_open();
    p.shared = route(cmd, policy, hello);
    p.proto = parse_.proto();
    p.replica_read =
        p.shared && policy.replica_ok && ctx().config().read_routing != config::ReadRouting::master;
    if (p.shared && answer_on_shared(cmd, p, hello)) return;

    // Anything but a read may be propagated to replicas (PUBLISH and scripts too).
    if (p.shared && p.kind == Kind::normal &&
        (!(p.flags & protocol::kReadOnly) || (p.flags & protocol::kWrite)))
        parse_.note_shared_write();
    if (policy.counts_own_writes && !multi_was_open && parse_.take_unfenced_writes()) {
        // WAIT counts the acknowledgements of its own connection's last write, and this
        // client's writes went over a shared link: a write on WAIT's link that changes no
        // data moves that connection's offset past them first (docs/architecture.md, WAIT).
        Request fence;
        fence.answer = Answer::fence;
        enqueue(protocol::reply::command({"SWAPDB", "0", "0"}), fence);
    }
    if (parse_.multi_open() && p.kind != Kind::multi && p.kind != Kind::exec &&
        p.kind != Kind::discard && p.kind != Kind::reset && p.kind != Kind::watch)
        p.in_tx = true;

    // (An EXEC without MULTI goes to Redis as it is: "EXEC without MULTI", WATCH kept.)
    if (p.kind == Kind::exec && multi_was_open && state().watch_broken()) {
        // The WATCHed keys were watched on a master that is gone: the transaction must
        // fail as if a watched key changed. Discard it there and answer EXEC with nil.
        p.kind = Kind::discard;
        p.rewrite = ReplyRewrite::exec_nil;
        enqueue(protocol::reply::command({"DISCARD"}), p);
        return;
    }
    if (p.kind == Kind::client_reply && cmd.argc() == 3 &&
        (ieq(cmd.argv[2], "off") || ieq(cmd.argv[2], "skip"))) {
        // OFF and SKIP are kept by the proxy (ConnectionState::reply_visible): Redis is asked
        // CLIENT REPLY ON, which checks the same ACL and keeps every reply coming, so reply
        // slots stay matched and a lost link has no reply mode to restore.
        enqueue(protocol::reply::command({"CLIENT", "REPLY", "ON"}), p);
        return;
    }
    enqueue(cmd.raw, p);
    if (p.kind == Kind::reset) append_link_auth(queue_);
}

// Where a command goes: a shared link only while the client is, before and after it, in
// the default state (ParseTimeState).
bool ClientSession::route(const protocol::Command& cmd, const protocol::CommandPolicy& policy,
                          const protocol::HelloOptions* hello) {
    const bool own_credentials =
        policy.pins == protocol::PinReason::identity && as_proxy_credentials(cmd, hello);
    return parse_.route(cmd, policy, hello, own_credentials, ctx().config().shared_links > 0);
}

// AUTH [user] pass, or HELLO ... AUTH user pass, with the proxy's own Redis credentials.
bool ClientSession::as_proxy_credentials(const protocol::Command& cmd,
                                         const protocol::HelloOptions* hello) const {
    const auto& cfg = ctx().config();
    if (cfg.redis_password.empty()) return false;
    auto same = [&](std::string_view user, std::string_view pass) {
        const std::string_view want =
            cfg.redis_user.empty() ? std::string_view("default") : std::string_view(cfg.redis_user);
        return (user.empty() ? std::string_view("default") : user) == want &&
               pass == cfg.redis_password;
    };
    if (cmd.name == "auth") {
        if (cmd.argc() == 2) return same({}, cmd.argv[1]);
        if (cmd.argc() == 3) return same(cmd.argv[1], cmd.argv[2]);
        return false;
    }
    return hello && hello->error.empty() && hello->password && same(*hello->user, *hello->password);
}

void ClientSession::enqueue(std::string_view raw, Request p) {
    if (failover_ && failover_->hold_counted && !p.silent() && failover_->holding())
        ctx().stats().commands_held++;  // arrives while this session holds: held too
    queue_.push(raw, std::move(p));
}

// ---------------------------------------------------------------- limits (ClientLimits)

bool ClientSession::account_memory() {
    // The reply slots count too: 1.1 M pipelined PINGs take 2 M slots of 56 bytes, 112 MiB.
    return limits_.charge_memory(ctx(), parser_.buffered() + queue_.backlog_bytes() +
                                            (client_ ? client_->pending_bytes() : 0) +
                                            queue_.heap_bytes());
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
        client_->peer(), limits_.charged(), client_->pending_bytes(), ctx().buffered_bytes(),
        ctx().config().memory_budget);
    close(CloseReason::output_buffer, "replies it does not read are over limits.memory_budget");
    return false;
}

// Redis's client-query-buffer-limit: what the client sent that is not framed yet (a command
// still arriving) or framed but not forwarded yet. Past it the client is told so and closed,
// after the replies it is owed; the commands already framed still go (none is dropped).
bool ClientSession::query_buffer_ok() {
    const std::uint64_t qbuf = parser_.buffered() + queue_.unsent_bytes();
    const std::uint64_t limit = ClientLimits::query_buffer_over(ctx(), qbuf);
    if (limit == 0 || input_refused_) return true;
    spdlog::warn(
        "client {}: closing client that reached max query buffer length ({} bytes, "
        "limits.query_buffer_limit {})",
        client_ ? client_->peer() : std::string("?"), qbuf, limit);
    ctx().stats().clients_closed_query_buffer++;
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
// normal). 0 turns a limit off.
bool ClientSession::output_limit_reached(std::uint64_t now_ms) {
    if (closed_ || !client_) return false;
    const std::size_t used = client_->pending_bytes();
    const std::string limit = limits_.output_over(services_, this, now_ms, used, subscribed());
    if (limit.empty()) return false;
    spdlog::warn("client {}: closed for overcoming of output buffer limits ({} bytes waiting, {})",
                 client_->peer(), used, limit);
    close(CloseReason::output_buffer, "output buffer over " + limit);
    return true;
}

// limits.max_held_*: while no master is verified the hold costs bounded memory and nothing
// accepted is dropped. Holds for a lost link (a master still verified) last about 100 ms
// and are not bounded here.
bool ClientSession::hold_full() const {
    return !snap_->master && ClientLimits::hold_full(ctx(), queue_.unsent());
}

void ClientSession::account_held() {
    limits_.charge_held(ctx(), closed_ || snap_->master ? 0 : queue_.unsent());
}

void ClientSession::check_backpressure() {
    if (closed_ || !client_) return;
    const std::size_t backlog = queue_.backlog_bytes();
    // Pause a pipelining client well before its unsent commands could reach the query
    // buffer limit: only a single command too big for it closes the client.
    const std::size_t pause_at = ClientLimits::backlog_pause_at(ctx());
    const bool too_much = backlog > pause_at || queue_.size() > ClientLimits::kMaxPendingCommands;
    if (too_much && !pauses_.has(ReadPauses::backpressure)) {
        client_->stop_reading();
        pauses_.set(ReadPauses::backpressure);
        watch_peer();  // its EOF is not read now: notice a client that leaves meanwhile
    } else if (!too_much && pauses_.has(ReadPauses::backpressure) && backlog < pause_at / 2) {
        pauses_.clear(ReadPauses::backpressure);
        if (reading_allowed()) client_->start_reading();
    }
    if (output_limit_reached(uv_now(ctx().loop()))) return;
    // Below its class's limits, a client's output beyond kPauseOutput pauses its dedicated
    // link (Redis then holds the rest) and stops new commands going to a shared one. A
    // subscriber with a pub/sub hard limit is not paused: it is closed at that limit instead.
    const bool out_full = client_->pending_bytes() > kPauseOutput &&
                          !(subscribed() && ctx().config().output_pubsub_hard != 0);
    if (dedicated_.link) {
        if (out_full && !dedicated_.paused) {
            dedicated_.link->pause_reading();
            dedicated_.paused = true;
        } else if (!out_full && dedicated_.paused) {
            dedicated_.link->resume_reading();
            dedicated_.paused = false;
        }
    }
}

// ---------------------------------------------------------------- end of input (InputEndWatch)

bool ClientSession::on_end_of_input() {
    if (closed_) return false;
    input_end_.input_ended();
    check_input_end();
    // Kept open for writing even if just closed: close() flushed what is owed and owns it.
    return true;
}

void ClientSession::check_input_end() {
    if (closed_ || !client_ || !input_end_.peer_gone()) return;
    if (input_end_.ended() && parser_.streaming()) {
        // The rest of a streamed command will never come: Redis drops the partial command
        // when its connection (the dedicated link) closes.
        close("client ended its input in the middle of a streamed command", true);
        return;
    }
    // Commands still framed in the parser (a hold or a stream paused the framing) are owed
    // too; anything else left there is a partial command. The session stays until its
    // output is written (on_drained), so the output limits and the budget still see it.
    if (input_end_.ended() && queue_.empty() && !pauses_.has(ReadPauses::hold) &&
        !pauses_.has(ReadPauses::stream_wait)) {
        if (client_->pending_bytes() == 0) close("client ended its input, every reply written");
        return;
    }
    if (queue_.empty() || queue_.in_flight() == 0) return;
    const Request& p = queue_.front();
    if (!p.owed() || p.issued_ms == 0 || !(p.flags & protocol::kBlocking)) return;
    // Redis frees a blocked client at its EOF. The proxy cannot see whether Redis blocked,
    // but ending the link's writing side right behind the command makes Redis see the EOF
    // exactly where it would have seen the client's: a command served at once is answered,
    // a blocked one freed at once (on_backend_closed follows). Waiting instead left it
    // blocked for kBlockedAnswerMs, and a job pushed meanwhile went to a client long gone.
    const std::uint64_t now = uv_now(ctx().loop());
    if (!inflight_shared_ && dedicated_.link && !dedicated_.output_ended) {
        dedicated_.output_ended = dedicated_.link->end_output();
        dedicated_.output_ended_ms = now;
    }
    // Still bounded if Redis does not close it (stopped, or the link is not read), counted
    // from the EOF passed on: a command blocked for long must still be freed by Redis
    // before the client sees its connection close.
    const std::uint64_t since = dedicated_.output_ended ? dedicated_.output_ended_ms : p.issued_ms;
    if (now - since >= InputEndWatch::kBlockedAnswerMs) {
        close(CloseReason::failed, "client left while blocked in a command", true);
        return;
    }
    watch_peer();  // checked again until the blocking command was answered or given up
}

// Called while the client is not read (and after its EOF with a blocked command owed).
void ClientSession::watch_peer() {
    if (closed_ || input_end_.watching()) return;
    input_end_.watch(ctx().loop(), [this] {
        if (closed_ || !client_) return;
        if (!input_end_.peer_gone() && !client_->reading() && client_->peer_hung_up())
            input_end_.peer_hung_up();
        if (client_->reading() && !input_end_.peer_gone()) {
            input_end_.stop();  // read again: its EOF will be seen
            return;
        }
        check_input_end();
    });
}

// ================================================================ replies the proxy makes itself
// The replies a session makes itself, in request order: connection-state commands of a
// client on a shared link (RESET, CLIENT SETNAME/GETNAME, HELLO), and the local answers
// queued among forwarded commands (errors, QUIT, PING with no master). A local state change
// takes effect when its reply reaches the front, after the commands before it.
using protocol::ieq;
using protocol::RespVersion;
using protocol::valid_client_name;
namespace reply = protocol::reply;

// Connection-state commands of a client on a shared link are answered by the proxy: sent
// there, they would change the connection of every client sharing it. Returns true when
// answered (the state is recorded for a dedicated link later).
bool ClientSession::answer_on_shared(const protocol::Command& cmd, const Request& p,
                                     const protocol::HelloOptions* hello) {
    if (p.kind == Kind::hello) {
        if (!hello) return false;  // (only HELLO is of this kind)
        answer_hello_locally(cmd, *hello);
        return true;
    }
    std::string r;
    switch (local_answers::on_shared(cmd, p.kind, r)) {
        case local_answers::Answer::forward:
            return false;
        case local_answers::Answer::reply:
            enqueue_local(std::move(r));
            return true;
        case local_answers::Answer::reply_change:
            enqueue_local_change(std::move(r), p);
            return true;
        case local_answers::Answer::name_at_front: {
            // The name once the commands before it are answered (deliver_locals).
            Request g;
            g.answer = Answer::local_getname;
            queue_.push_local(std::string(), std::move(g));
            deliver_locals();
            return true;
        }
    }
    return false;
}

// HELLO answered by the proxy (no master to ask, or a shared link): what Redis 7 would
// say, and the protocol (and SETNAME) remembered, so a dedicated link replays them.
void ClientSession::answer_hello_locally(const protocol::Command& cmd,
                                         const protocol::HelloOptions& o) {
    std::string r;
    // The protocol, name and credentials change once the reply reaches the front; the
    // reply is in the protocol the commands parsed so far lead to (route_shared ran).
    if (!local_answers::hello(r, o, parse_.proto())) {
        enqueue_local(std::move(r));
        return;
    }
    Request change;
    change.kind = Kind::hello;
    change.args =
        std::make_shared<const std::vector<std::string>>(cmd.argv.begin(), cmd.argv.end());
    enqueue_local_change(std::move(r), change);
}

void ClientSession::enqueue_local(std::string reply_bytes, bool close_after) {
    Request p;
    p.answer = Answer::local;
    p.close_after = close_after;
    queue_.push_local(std::move(reply_bytes), std::move(p));
    deliver_locals();
}

void ClientSession::enqueue_local_change(std::string reply_bytes, const Request& change) {
    Request p;
    p.answer = Answer::local_change;
    p.kind = change.kind;
    p.family = change.family;
    p.args = change.args;
    queue_.push_local(std::move(reply_bytes), std::move(p));
    deliver_locals();
}

// Answers local entries that reached the front of the queue.
void ClientSession::deliver_locals() {
    while (!queue_.empty() && queue_.front().local()) {
        const Request& front = queue_.front();
        if (front.answer == Answer::local_change) {
            apply_state(front);
            // The dedicated link (idle: nothing before this is owed) has the old state: the
            // next dedicated command gets a new one that replays the new state (pump).
            if (dedicated_.link) dedicated_.stale = true;
        }
        if (front.answer == Answer::local_getname) {
            local_answers::client_name(queue_.local_reply(), state().client_name(),
                                       state().proto());
        }
        const bool close_after = front.close_after;
        // (CLIENT REPLY OFF|SKIP hide the proxy's own replies too, QUIT's +OK included.)
        if (reply_visible(front, true)) reply_to_client(queue_.local_reply());
        queue_.pop_local();
        if (close_after) {
            close("client sent QUIT or a protocol error", true);
            return;
        }
    }
}

// ================================================================ streaming a big bulk
// Streaming a big bulk (limits.stream_bulk_len): a command with a bulk longer than that is
// forwarded to the master as it arrives, on the client's dedicated link, instead of being
// held whole in the parser, the reply log and the link's buffer (three copies of a 300 MiB
// SET were 930 MB). Its reply slot keeps no bytes, so it can never be re-sent: it streams
// only when it can go at once (a master verified, nothing owed to the client, the
// dedicated link up), and a link lost or a master switched before its reply closes the
// client, the write's outcome being unknown (the failover rules for any write,
// session_backend.cpp). While the bytes queued for Redis are many, the client is not read (Redis's
// own pace).
namespace {
// Streamed bytes queued for Redis beyond this stop the client's reads until they drain.
constexpr std::size_t kStreamPause = 4u << 20;
}  // namespace

// Where the command with a big bulk goes: streamed now, streamed once what it waits for
// happens (the client is not read meanwhile), or declined, and then framed whole like any
// command, within limits.query_buffer_limit and limits.memory_budget.
ClientSession::StreamGo ClientSession::stream_decision(const protocol::Command& head) {
    if (!ctx().config().client_password.empty() && !parse_.authenticated())
        return StreamGo::decline;
    // The policy is decided from the head alone (stream_rules), and only a client in the
    // default state streams: what the connection is in may need the command's bytes again.
    if (!stream_rules::may_stream(protocol::decide(ctx().commands(), head), head.name) ||
        parse_.sticky() || parse_.multi_open() || parse_.watching() || state().in_multi() ||
        subscribed())
        return StreamGo::decline;
    // No master verified (a hold): held whole, as today, bounded by the limits.
    if (!can_send()) return StreamGo::decline;
    if (stream_can_go()) return StreamGo::go;
    // Replies owed first (a shared link's, or the link's set-up), or the link connecting.
    if (queue_.empty() && (!dedicated_.link || dedicated_.stale))
        open_link();  // its set-up (if any) is sent by pump() after process_input's loop
    pauses_.set(ReadPauses::stream_wait);
    if (client_) client_->stop_reading();
    return StreamGo::wait;
}

void ClientSession::begin_stream(const protocol::Command& head) {
    Request p;
    p.kind = Kind::normal;
    p.streamed = true;
    p.proto = parse_.proto();
    // Counted as sent now: issued_ms stays 0 (no command timeout) until the last byte.
    queue_.push_streamed(std::move(p));
    inflight_shared_ = false;
    ctx().stats().commands_forwarded++;
    ctx().stats().commands_streamed++;
    dedicated_.link->out().append(head.raw);
    parser_.begin_stream();
}

bool ClientSession::stream_input() {
    if (closed_) return false;
    if (!dedicated_.link) {
        // Cannot happen (a lost link closes the client first); never leave it half-sent.
        close_unknown_outcome("dedicated link gone while streaming");
        return false;
    }
    if (queue_.empty() || !queue_.back().streamed) {
        // Redis answered before the command's end (it refused it, and closes): what is
        // left of it must not reach Redis as commands.
        close("Redis answered a streamed command before its end", true);
        return false;
    }
    std::string_view bytes;
    const auto c = parser_.next_stream_chunk(bytes);
    if (c == protocol::RequestParser::Chunk::error) {
        // Part of the command is on its way to Redis: neither it nor the link can be used.
        spdlog::debug("client {}: {} while streaming", client_ ? client_->peer() : "?",
                      parser_.error());
        std::string e;
        protocol::reply::error(e, "ERR " + parser_.error());
        reply_to_client(e);
        close(CloseReason::failed, "protocol error while streaming a command", true);
        return false;
    }
    dedicated_.link->out().append(bytes);
    if (c == protocol::RequestParser::Chunk::end) {
        queue_.back().issued_ms = uv_now(ctx().loop());
        queue_.back().issued_us = uv_hrtime() / 1000;
    }
    dedicated_.link->flush();
    if (c == protocol::RequestParser::Chunk::end) return true;
    if (dedicated_.link->pending_write_bytes() > kStreamPause &&
        !pauses_.has(ReadPauses::stream_queue)) {
        pauses_.set(ReadPauses::stream_queue);
        if (client_) client_->stop_reading();
    }
    return c == protocol::RequestParser::Chunk::data;
}

void ClientSession::on_backend_drained(BackendLink&) {
    if (closed_ || !pauses_.has(ReadPauses::stream_queue)) return;
    pauses_.clear(ReadPauses::stream_queue);
    if (client_ && reading_allowed()) client_->start_reading();
    if (!input_refused_) process_input();
}

void ClientSession::stream_wait_over() {
    if (!pauses_.has(ReadPauses::stream_wait) || closed_) return;
    pauses_.clear(ReadPauses::stream_wait);
    if (client_ && reading_allowed()) client_->start_reading();
    if (!input_refused_) process_input();
}

}  // namespace sp::proxy
