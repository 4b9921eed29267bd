#include "proxy/client_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "protocol/hello_options.h"
#include "proxy/router.h"

namespace sp::proxy {

using protocol::CommandFlag;
using protocol::RespVersion;
namespace reply = protocol::reply;

namespace {

constexpr std::size_t kMaxClientOutput = 32u << 20;  // pause the backend beyond this
constexpr std::size_t kMaxPendingBytes = 32u << 20;  // pause the client beyond this
constexpr std::size_t kMaxPendingCommands = 1u << 20;
constexpr std::uint64_t kLinkRetryMs = 100;

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

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

// Splits one complete command (bytes we already framed once) into owned arguments.
// Only used for rare state-changing commands, never per ordinary command.
std::vector<std::string> split_command(std::string_view raw) {
    protocol::RequestParser p;
    p.feed(raw);
    protocol::Command c;
    std::vector<std::string> out;
    if (p.next(c) == protocol::RequestParser::Status::command)
        for (auto a : c.argv) out.emplace_back(a);
    return out;
}

void encode(std::string& out, const std::vector<std::string>& argv) {
    reply::array_header(out, argv.size());
    for (const auto& a : argv) reply::bulk(out, a);
}

std::string encode(const std::vector<std::string>& argv) {
    std::string s;
    encode(s, argv);
    return s;
}

}  // namespace

ClientSession::ClientSession(Router& router, TcpStream* stream)
    : router_(router),
      client_(stream),
      parser_(protocol::ParserLimits{router.config().max_bulk_len, router.config().max_inline_len}),
      hold_timer_(router.loop(),
                  [this] {
                      if (closed_ || !waiting_for_master()) return;
                      router_.stats().clients_closed_hold_timeout++;
                      router_.stats().commands_failed += unanswered();
                      close("no verified master within the hold window (" +
                            std::to_string(router_.config().hold_window_ms) + " ms)");
                  }),
      retry_timer_(router.loop(), [this] { pump(); }) {
    snap_ = router_.snapshot(false);
}

ClientSession::~ClientSession() = default;

void ClientSession::start() {
    client_->start_reading();
}

// psubscribe/punsubscribe: patterns; ssubscribe/sunsubscribe: shard channels; the rest:
// channels.
ClientSession::SubFamily ClientSession::family_of(std::string_view name) {
    if (name[0] == 'p') return SubFamily::pattern;
    if (name.starts_with("ss") || name.starts_with("sun")) return SubFamily::shard;
    return SubFamily::channel;
}

std::set<std::string>& ClientSession::subscriptions(SubFamily family) {
    return family == SubFamily::pattern ? patterns_
           : family == SubFamily::shard ? shard_channels_
                                        : channels_;
}

bool ClientSession::subscribed() const {
    return !channels_.empty() || !patterns_.empty() || !shard_channels_.empty();
}

// ---------------------------------------------------------------- client side

uv_buf_t ClientSession::on_alloc(std::size_t) {
    if (input_refused_) {
        // Bytes after a protocol error are read only to notice the client's close; they
        // are never looked at, so every session can share one buffer on this thread.
        static thread_local char discard[16 * 1024];
        return uv_buf_init(discard, sizeof(discard));
    }
    auto area = parser_.write_area(16 * 1024);
    return uv_buf_init(area.data(), static_cast<unsigned>(area.size()));
}

void ClientSession::on_read(std::size_t n) {
    router_.stats().bytes_in += n;
    if (input_refused_) return;
    parser_.commit(n);
    protocol::Command cmd;
    const bool gated = !router_.config().client_password.empty();
    for (;;) {
        // Redis's pre-AUTH limits apply per command, so AUTH and RESET take effect at once.
        parser_.set_authenticated(!gated || authenticated_);
        auto st = parser_.next(cmd);
        if (st == protocol::RequestParser::Status::incomplete) break;
        if (st == protocol::RequestParser::Status::error) {
            spdlog::debug("client {}: {}", client_->peer(), parser_.error());
            std::string e;
            reply::error(e, "ERR " + parser_.error());
            // Answer after the replies already owed, then close: like Redis. Keep reading
            // (and dropping) meanwhile, so that a client closing first frees the session and
            // its link at once instead of waiting forever behind, say, a BLPOP.
            input_refused_ = true;
            enqueue_local(std::move(e), Kind::quit);
            pump();
            return;
        }
        handle_command(cmd);
        if (closed_) return;
    }
    if (parser_.buffered() == 0) parser_.shrink_if_idle();
    pump();
    check_backpressure();
}

void ClientSession::on_closed(int status) {
    client_ = nullptr;
    close(status == 0 ? "client closed the connection"
                      : std::string("client connection: ") + uv_strerror(status));
}

void ClientSession::on_drained() {
    check_backpressure();
}

void ClientSession::reply_to_client(std::string_view bytes) {
    if (!client_) return;
    client_->append(bytes);
    router_.stats().bytes_out += bytes.size();
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
    link_.reset();
    hold_timer_.stop();
    retry_timer_.stop();
    router_.retire(this);
}

void ClientSession::check_backpressure() {
    if (closed_ || !client_) return;
    std::size_t backlog = log_.size() - head_;
    bool too_much = backlog > kMaxPendingBytes || pending_.size() > kMaxPendingCommands;
    if (too_much && !client_paused_) {
        client_->stop_reading();
        client_paused_ = true;
    } else if (!too_much && client_paused_ && backlog < kMaxPendingBytes / 2) {
        client_->start_reading();
        client_paused_ = false;
    }
    bool out_full = client_->pending_bytes() > kMaxClientOutput;
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

// ---------------------------------------------------------------- commands in

bool ClientSession::handle_auth_gate(const protocol::Command& cmd) {
    // Returns true when the command was answered here (client password mode).
    const std::string& pw = router_.config().client_password;
    auto check = [&](std::string_view user, std::string_view pass) {
        return (user.empty() || user == "default") && pass == pw;
    };
    if (cmd.name == "auth") {
        std::string r;
        if (cmd.argc() < 2 || cmd.argc() > 3) {
            reply::error(r, "ERR wrong number of arguments for 'auth' command");
        } else if (check(cmd.argc() == 3 ? cmd.argv[1] : std::string_view{},
                         cmd.argv[cmd.argc() - 1])) {
            authenticated_ = true;
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
        const protocol::HelloOptions o = protocol::parse_hello(cmd.argv);
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
            authenticated_ = true;
        }
        if (!authenticated_) {
            reply::error(
                r,
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client "
                "and select the RESP protocol version at the same time");
            enqueue_local(std::move(r));
            return true;
        }
        if (o.password) {
            std::vector<std::string> rest{"HELLO", std::string(cmd.argv[1])};
            if (o.client_name) {
                rest.emplace_back("SETNAME");
                rest.emplace_back(*o.client_name);
            }
            Pending p;
            p.kind = Kind::hello;
            p.flags = protocol::kConnectionState;
            enqueue(encode(rest), p);
            return true;
        }
        return false;
    }
    if (cmd.name == "reset") {
        // Allowed before AUTH, as in Redis; it leaves the client unauthenticated, from the
        // next command of the same pipeline on.
        authenticated_ = false;
        return false;
    }
    if (!authenticated_ && cmd.name != "quit") {
        std::string r;
        reply::error(r, "NOAUTH Authentication required.");
        enqueue_local(std::move(r));
        return true;
    }
    return false;
}

void ClientSession::handle_command(const protocol::Command& cmd) {
    if (!router_.config().client_password.empty() && handle_auth_gate(cmd)) return;

    // The table knows which commands have sub-commands; it reads argv[1] only for those.
    const std::string_view sub = cmd.argc() > 1 ? cmd.argv[1] : std::string_view{};
    protocol::CommandInfo info = router_.commands().classify(cmd.name, sub);

    Pending p;
    p.flags = info.flags;
    p.timeout = info.timeout;
    const std::string_view n = cmd.name;
    if (n == "quit") {
        std::string r;
        reply::status(r, "OK");
        enqueue_local(std::move(r), Kind::quit);
        return;
    }
    if (n == "ping" && !subscribed() && pending_.empty() && !snap_->master) {
        // Nothing to keep in order and no master: answer here so health checks work.
        std::string r;
        if (cmd.argc() > 1)
            reply::bulk(r, cmd.argv[1]);
        else
            reply::status(r, "PONG");
        enqueue_local(std::move(r));
        return;
    }
    if (n == "hello" && !subscribed() && pending_.empty() && !snap_->master) {
        answer_hello_locally(cmd);
        return;
    }
    if (n == "ping" || n == "echo")
        p.kind = Kind::ping;
    else if (n == "subscribe" || n == "psubscribe" || n == "ssubscribe") {
        p.kind = Kind::subscribe;
        p.family = family_of(n);
        p.expect = cmd.argc() > 1 ? static_cast<std::int32_t>(cmd.argc() - 1) : 1;
    } else if (n == "unsubscribe" || n == "punsubscribe" || n == "sunsubscribe") {
        p.kind = Kind::unsubscribe;
        p.family = family_of(n);
        p.expect = cmd.argc() > 1 ? static_cast<std::int32_t>(cmd.argc() - 1) : -1;
    } else if (n == "select")
        p.kind = Kind::select;
    else if (n == "hello")
        p.kind = Kind::hello;
    else if (n == "auth")
        p.kind = Kind::auth;
    else if (n == "client" && ieq(sub, "setname"))
        p.kind = Kind::client_setname;
    else if (n == "client" && ieq(sub, "setinfo"))
        p.kind = Kind::client_setinfo;
    else if (n == "multi")
        p.kind = Kind::multi;
    else if (n == "exec")
        p.kind = Kind::exec;
    else if (n == "discard")
        p.kind = Kind::discard;
    else if (n == "watch")
        p.kind = Kind::watch;
    else if (n == "unwatch")
        p.kind = Kind::unwatch;
    else if (n == "reset")
        p.kind = Kind::reset;

    if ((n == "xread" || n == "xreadgroup")) {
        bool block = false;
        for (std::size_t i = 1; i < cmd.argc(); ++i)
            if (ieq(cmd.argv[i], "block")) block = true;
        if (!block) p.flags &= ~static_cast<std::uint32_t>(protocol::kBlocking);
    }

    if (multi_open_at_parse_ && p.kind != Kind::multi && p.kind != Kind::exec &&
        p.kind != Kind::discard && p.kind != Kind::reset && p.kind != Kind::watch)
        p.in_tx = true;
    if (p.kind == Kind::multi) multi_open_at_parse_ = true;
    if (p.kind == Kind::exec || p.kind == Kind::discard || p.kind == Kind::reset)
        multi_open_at_parse_ = false;

    if (p.kind == Kind::exec && watch_broken_) {
        // The WATCHed keys were watched on a master that is gone: the transaction must
        // fail as if a watched key changed. Discard it there and answer EXEC with nil.
        p.kind = Kind::discard;
        p.exec_nil = true;
        enqueue(encode({"DISCARD"}), p);
        return;
    }
    enqueue(cmd.raw, p);
    if (p.kind == Kind::reset) append_link_auth(log_, pending_);
}

// HELLO with no master to ask: answer what Redis 7 would and remember the protocol (and
// SETNAME/AUTH), so the backend link opened later replays them.
void ClientSession::answer_hello_locally(const protocol::Command& cmd) {
    std::string r;
    const protocol::HelloOptions o = protocol::parse_hello(cmd.argv);
    if (!o.error.empty()) {
        reply::error(r, o.error);
        enqueue_local(std::move(r));
        return;
    }
    Pending p;
    p.kind = Kind::hello;
    apply_state(p, cmd.raw);
    static std::uint64_t next_id = 1;
    reply::map_header(r, 7, proto_);
    reply::bulk(r, "server");
    reply::bulk(r, "redis");
    reply::bulk(r, "version");
    reply::bulk(r, "7.0.0");
    reply::bulk(r, "proto");
    reply::integer(r, proto_ == RespVersion::resp3 ? 3 : 2);
    reply::bulk(r, "id");
    reply::integer(r, static_cast<std::int64_t>(next_id++));
    reply::bulk(r, "mode");
    reply::bulk(r, "standalone");
    reply::bulk(r, "role");
    reply::bulk(r, "master");
    reply::bulk(r, "modules");
    reply::array_header(r, 0);
    enqueue_local(std::move(r));
}

std::size_t ClientSession::unanswered() const {
    std::size_t n = 0;
    for (const Pending& p : pending_)
        if (!p.silent && p.len > 0) ++n;
    return n;
}

void ClientSession::enqueue(std::string_view raw, Pending p) {
    p.len = static_cast<std::uint32_t>(raw.size());
    log_.append(raw);
    pending_.push_back(p);
}

void ClientSession::enqueue_local(std::string reply_bytes, Kind kind) {
    Pending p;
    p.kind = kind;
    p.len = 0;
    pending_.push_back(p);
    local_replies_.push_back(std::move(reply_bytes));
    deliver_locals();
}

// Answers local entries that reached the front of the queue.
void ClientSession::deliver_locals() {
    while (!pending_.empty() &&
           (pending_.front().kind == Kind::local || pending_.front().kind == Kind::quit) &&
           pending_.front().len == 0) {
        Kind k = pending_.front().kind;
        reply_to_client(local_replies_.front());
        local_replies_.pop_front();
        pending_.pop_front();
        if (sent_ > 0) --sent_;
        if (k == Kind::quit) {
            close("client sent QUIT or a protocol error", true);
            return;
        }
    }
}

// ---------------------------------------------------------------- commands out

bool ClientSession::can_send() const {
    if (!snap_->master) return false;
    if (avoid_ && *avoid_ == *snap_->master && snap_->generation == avoid_generation_ &&
        (avoid_until_ms_ == 0 || uv_now(router_.loop()) < avoid_until_ms_))
        return false;
    return true;
}

void ClientSession::pump() {
    if (closed_) return;
    deliver_locals();
    if (closed_) return;
    bool has_unsent = false;
    for (std::size_t i = sent_; i < pending_.size(); ++i)
        if (pending_[i].len > 0) {
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
        if (avoid_until_ms_ && !retry_timer_.active()) {
            std::uint64_t now = uv_now(router_.loop());
            retry_timer_.start(avoid_until_ms_ > now ? avoid_until_ms_ - now : 1);
        }
        update_hold_timer();
        if (client_) client_->flush();
        return;
    }
    if (!link_) open_link();
    if (!link_) return;
    // Write everything not yet sent, in order. Local entries have no bytes and are
    // answered when they reach the front.
    std::uint64_t now = uv_now(router_.loop());
    std::string& out = link_->out();
    for (std::size_t i = sent_; i < pending_.size(); ++i) {
        Pending& p = pending_[i];
        if (p.len > 0) {
            if (p.issued_ms == 0) p.issued_ms = now;
            if (!p.silent) router_.stats().commands_forwarded++;
        }
    }
    out.append(log_, unsent_, log_.size() - unsent_);
    unsent_ = log_.size();
    sent_ = pending_.size();
    link_->flush();
    update_hold_timer();
    if (client_) client_->flush();
}

bool ClientSession::waiting_for_master() const {
    for (std::size_t i = sent_; i < pending_.size(); ++i)
        if (pending_[i].len > 0) return true;
    if (sent_ > 0 && !link_ready_) return true;  // sent into a link still connecting
    if (subscribed() && (!link_ || !link_ready_)) return true;
    return false;
}

void ClientSession::update_hold_timer() {
    if (waiting_for_master()) {
        if (!hold_timer_.active()) {
            hold_started_ms_ = uv_now(router_.loop());
            hold_timer_.start(router_.config().hold_window_ms);
            hold_counted_ = false;
        }
        // Only a wait for a master counts as a hold in the metrics, not a new backend link
        // still connecting to a verified one.
        if (!hold_counted_ && !can_send()) {
            hold_counted_ = true;
            router_.stats().commands_held++;
        }
    } else if (hold_timer_.active()) {
        hold_timer_.stop();
        std::uint64_t held = uv_now(router_.loop()) - hold_started_ms_;
        if (hold_counted_) router_.held_for(held);
        if (held > 50)
            spdlog::debug("session {}: released after holding {} ms",
                          client_ ? client_->peer() : "?", held);
    }
}

void ClientSession::open_link() {
    BackendLink::Owner& owner = *this;
    link_ = std::make_unique<BackendLink>(router_.loop(), owner, *snap_->master,
                                          router_.config().connect_timeout_ms);
    link_ready_ = false;
    link_paused_ = false;
    // Everything pending goes out on this link, preceded by the connection state; the
    // previous link's set-up entries are dropped and blocking commands get the time they
    // have left.
    std::string new_log;
    std::deque<Pending> new_pending;
    std::deque<std::string> new_locals;
    build_preamble(new_log, new_pending);
    std::size_t off = head_;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
        Pending p = pending_[i];
        std::string_view raw(log_.data() + off, p.len);
        off += p.len;
        if (p.len == 0) {
            new_pending.push_back(p);
            new_locals.push_back(std::move(local_replies_.front()));
            local_replies_.pop_front();
            continue;
        }
        if (p.silent) continue;
        if ((p.flags & protocol::kBlocking) && p.issued_ms != 0 &&
            p.timeout != protocol::TimeoutArg::none) {
            bool expired = false;
            std::string rewritten;
            rewrite_blocking(rewritten, raw, p, expired);
            if (expired) {
                // Its timeout ran out while the master was away: answer as Redis would.
                p.len = 0;
                p.kind = Kind::local;
                new_pending.push_back(p);
                new_locals.push_back(null_reply_for(p));
                continue;
            }
            p.len = static_cast<std::uint32_t>(rewritten.size());
            new_log += rewritten;
        } else {
            new_log.append(raw);
        }
        p.issued_ms = 0;
        new_pending.push_back(p);
        if (p.kind == Kind::reset) append_link_auth(new_log, new_pending);
    }
    log_ = std::move(new_log);
    pending_ = std::move(new_pending);
    local_replies_ = std::move(new_locals);
    head_ = 0;
    unsent_ = 0;
    sent_ = 0;
    link_->connect();
}

void ClientSession::build_preamble(std::string& log, std::deque<Pending>& pending) {
    auto add = [&](const std::vector<std::string>& argv, Kind kind, bool critical,
                   std::int32_t expect = 1) {
        Pending p;
        p.silent = true;
        p.critical = critical;
        p.kind = kind;
        p.expect = expect;
        std::string bytes = encode(argv);
        p.len = static_cast<std::uint32_t>(bytes.size());
        log += bytes;
        pending.push_back(p);
    };
    if (client_auth_) {
        if (client_auth_->first.empty())
            add({"AUTH", client_auth_->second}, Kind::normal, true);
        else
            add({"AUTH", client_auth_->first, client_auth_->second}, Kind::normal, true);
    } else {
        append_link_auth(log, pending);
    }
    if (proto_ == RespVersion::resp3) {
        if (client_name_.empty())
            add({"HELLO", "3"}, Kind::normal, true);
        else
            add({"HELLO", "3", "SETNAME", client_name_}, Kind::normal, true);
    } else if (!client_name_.empty()) {
        add({"CLIENT", "SETNAME", client_name_}, Kind::normal, false);
    }
    if (db_ != 0) add({"SELECT", std::to_string(db_)}, Kind::normal, true);
    if (!lib_name_.empty()) add({"CLIENT", "SETINFO", "LIB-NAME", lib_name_}, Kind::normal, false);
    if (!lib_ver_.empty()) add({"CLIENT", "SETINFO", "LIB-VER", lib_ver_}, Kind::normal, false);
    auto resub = [&](const char* cmd, const std::set<std::string>& set, SubFamily fam) {
        if (set.empty()) return;
        std::vector<std::string> argv{cmd};
        argv.insert(argv.end(), set.begin(), set.end());
        add(argv, Kind::subscribe, false, static_cast<std::int32_t>(set.size()));
        pending.back().family = fam;
        pending.back().resub = true;
    };
    resub("SUBSCRIBE", channels_, SubFamily::channel);
    resub("PSUBSCRIBE", patterns_, SubFamily::pattern);
    resub("SSUBSCRIBE", shard_channels_, SubFamily::shard);
    if (in_multi_) {
        std::size_t off = 0;
        for (std::uint32_t len : tx_lens_) {
            Pending p;
            p.silent = true;
            p.len = len;
            pending.push_back(p);
            log.append(tx_log_, off, len);
            off += len;
        }
    }
}

// The proxy's own AUTH (redis.password), silent; an error closes the session. Sent on every
// new link, and again right after a client's RESET, which logs the link out on Redis.
void ClientSession::append_link_auth(std::string& log, std::deque<Pending>& pending) const {
    const auto& cfg = router_.config();
    if (cfg.redis_password.empty()) return;
    Pending p;
    p.silent = true;
    p.critical = true;
    std::string bytes = cfg.redis_user.empty()
                            ? encode({"AUTH", cfg.redis_password})
                            : encode({"AUTH", cfg.redis_user, cfg.redis_password});
    p.len = static_cast<std::uint32_t>(bytes.size());
    log += bytes;
    pending.push_back(p);
}

void ClientSession::rewrite_blocking(std::string& out, std::string_view raw, const Pending& p,
                                     bool& expired) {
    auto argv = split_command(raw);
    std::uint64_t elapsed = uv_now(router_.loop()) - p.issued_ms;
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
    encode(out, argv);
}

std::string ClientSession::null_reply_for(const Pending&) const {
    // Blocking pops that time out answer a null (array for BLPOP/BZPOP*/BLMPOP/XREAD,
    // bulk for BLMOVE/BRPOPLPUSH); RESP3 has one null for both.
    std::string r;
    reply::null_array(r, proto_);
    return r;
}

// ---------------------------------------------------------------- replies in

void ClientSession::on_backend_connected(BackendLink&) {
    link_ready_ = true;
    update_hold_timer();
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
        proto_ == RespVersion::resp2 && info.type == '*' && (subscribed() || front_is_sub);
    if (sub_mode_resp2 && is_message(head)) {
        reply_to_client(bytes);
        return;
    }
    if (pending_.empty() || sent_ == 0) {
        // Nothing asked: MONITOR output and the like. Pass it on.
        reply_to_client(bytes);
        return;
    }
    Pending& p = pending_.front();
    if (info.error && !p.silent &&
        (starts_with(head, "READONLY") || starts_with(head, "UNBLOCKED"))) {
        // The node is no longer master: this command did not run there (UNBLOCKED: the
        // blocking pop popped nothing). Re-send everything unanswered to the new master.
        spdlog::info("session {}: {} from {}; re-sending on the new master",
                     client_ ? client_->peer() : "?", std::string(head.substr(0, head.find(' '))),
                     link.address().str());
        router_.topology().report_master_trouble(link.address(), std::string(head.substr(0, 9)));
        relink(std::string(head.substr(0, 9)), true);
        return;
    }
    bool confirmation = (info.push || sub_mode_resp2) && is_sub_confirmation(head);
    if (p.kind == Kind::subscribe || p.kind == Kind::unsubscribe) {
        if (confirmation) {
            if (p.expect < 0) {
                const auto& set = subscriptions(p.family);
                p.expect = std::max<std::int32_t>(1, static_cast<std::int32_t>(set.size()));
            }
            if (!p.silent) reply_to_client(bytes);
            if (--p.expect <= 0) complete_front(true);
            return;
        }
        // An error (wrong arguments, not allowed in this context): one frame ends it.
        if (!p.silent) reply_to_client(bytes);
        complete_front(false);
        return;
    }
    if (confirmation && info.push) {
        reply_to_client(bytes);
        return;
    }
    if (p.silent) {
        if (info.error && p.critical) {
            spdlog::error("session {}: {} refused the proxy's connection set-up: {}",
                          client_ ? client_->peer() : "?", link.address().str(), std::string(head));
            close("backend refused connection set-up");
            return;
        }
        complete_front(!info.error);
        return;
    }
    if (p.exec_nil && !info.error) {
        std::string r;
        reply::null_array(r, proto_);
        reply_to_client(r);
    } else {
        reply_to_client(bytes);
    }
    complete_front(!info.error);
}

void ClientSession::complete_front(bool success) {
    Pending p = pending_.front();
    if (!p.silent && p.issued_ms != 0 && !(p.flags & protocol::kBlocking))
        router_.stats().backend_latency.observe_ms(
            static_cast<double>(uv_now(router_.loop()) - p.issued_ms));
    std::string_view raw = front_raw();
    if (!p.silent) {
        if (p.in_tx && in_multi_) {
            tx_log_.append(raw);
            tx_lens_.push_back(p.len);
        }
        if (success || p.kind == Kind::exec || p.kind == Kind::discard) apply_state(p, raw);
    } else if (p.resub && moving_subscriber_) {
        bool more = false;
        for (std::size_t i = 1; i < pending_.size(); ++i)
            if (pending_[i].resub) more = true;
        if (!more) {
            moving_subscriber_ = false;
            router_.subscriber_moved(this);
        }
    }
    head_ += p.len;
    pending_.pop_front();
    if (sent_ > 0) --sent_;
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

void ClientSession::apply_state(const Pending& p, std::string_view raw) {
    switch (p.kind) {
        case Kind::normal:
        case Kind::local:
        case Kind::ping:
        case Kind::quit:
            return;
        default:
            break;
    }
    auto argv = split_command(raw);
    if (argv.empty()) return;
    switch (p.kind) {
        case Kind::select:
            if (argv.size() == 2) db_ = std::atoll(argv[1].c_str());
            break;
        case Kind::hello: {
            std::vector<std::string_view> views(argv.begin(), argv.end());
            const protocol::HelloOptions o = protocol::parse_hello(views);
            if (!o.error.empty()) break;
            if (o.version) proto_ = o.version == 3 ? RespVersion::resp3 : RespVersion::resp2;
            if (o.password) client_auth_ = {std::string(*o.user), std::string(*o.password)};
            if (o.client_name) client_name_ = *o.client_name;
            break;
        }
        case Kind::auth:
            if (argv.size() == 2)
                client_auth_ = {std::string(), argv[1]};
            else if (argv.size() == 3)
                client_auth_ = {argv[1], argv[2]};
            break;
        case Kind::client_setname:
            if (argv.size() == 3) client_name_ = argv[2];
            break;
        case Kind::client_setinfo:
            if (argv.size() == 4) {
                if (ieq(argv[2], "lib-name")) lib_name_ = argv[3];
                if (ieq(argv[2], "lib-ver")) lib_ver_ = argv[3];
            }
            break;
        case Kind::multi:
            in_multi_ = true;
            tx_log_.assign(raw);
            tx_lens_.assign(1, p.len);
            break;
        case Kind::exec:
        case Kind::discard:
            in_multi_ = false;
            tx_log_.clear();
            tx_lens_.clear();
            watching_ = false;
            watch_broken_ = false;
            break;
        case Kind::watch:
            watching_ = true;
            break;
        case Kind::unwatch:
            watching_ = false;
            watch_broken_ = false;
            break;
        case Kind::reset:
            proto_ = RespVersion::resp2;
            db_ = 0;
            client_name_.clear();
            client_auth_.reset();
            channels_.clear();
            patterns_.clear();
            shard_channels_.clear();
            in_multi_ = false;
            tx_log_.clear();
            tx_lens_.clear();
            watching_ = watch_broken_ = false;
            break;
        case Kind::subscribe: {
            auto& set = subscriptions(p.family);
            for (std::size_t i = 1; i < argv.size(); ++i) set.insert(argv[i]);
            break;
        }
        case Kind::unsubscribe: {
            auto& set = subscriptions(p.family);
            if (argv.size() == 1) set.clear();
            for (std::size_t i = 1; i < argv.size(); ++i) set.erase(argv[i]);
            break;
        }
        default:
            break;
    }
}

void ClientSession::on_backend_read_done(BackendLink&) {
    if (closed_) return;
    if (client_) client_->flush();
    check_backpressure();
}

void ClientSession::on_backend_drained(BackendLink&) {}

void ClientSession::on_backend_closed(BackendLink& link, const std::string& why) {
    if (closed_) return;
    NodeAddress addr = link.address();
    bool had_in_flight = sent_ > 0;
    if (had_in_flight) router_.topology().report_master_trouble(addr, why);
    if (!in_flight_resendable()) {
        // A write whose outcome is unknown: close, exactly what a direct client would see.
        router_.stats().clients_closed_unknown_outcome++;
        router_.stats().commands_failed += unanswered();
        spdlog::info("session {}: {} with a write in flight; closing the client",
                     client_ ? client_->peer() : "?", why);
        close(why);
        return;
    }
    relink(why, false);
}

bool ClientSession::in_flight_resendable() const {
    for (std::size_t i = 0; i < sent_ && i < pending_.size(); ++i) {
        const Pending& p = pending_[i];
        if (p.len == 0 || p.silent || p.in_tx) continue;
        switch (p.kind) {
            case Kind::exec:
            case Kind::normal:
                break;
            default:
                continue;  // connection state, subscriptions, MULTI, WATCH, PING: harmless
        }
        if (p.kind == Kind::exec) return false;
        if (p.flags & protocol::kBlocking) continue;
        if ((p.flags & protocol::kReadOnly) && !(p.flags & protocol::kWrite)) continue;
        if (p.flags & protocol::kConnectionState) continue;
        return false;
    }
    return true;
}

void ClientSession::relink(const std::string& why, bool avoid_until_new_snapshot) {
    NodeAddress old = link_ ? link_->address() : NodeAddress{};
    bool had_link = link_ != nullptr;
    link_.reset();
    link_ready_ = false;
    // WATCH state lives in the old connection: a later EXEC must fail (nil), as it would
    // had a watched key changed.
    if (watching_) watch_broken_ = true;
    if (had_link) {
        avoid_ = old;
        avoid_generation_ = snap_->generation;
        avoid_until_ms_ = avoid_until_new_snapshot ? 0 : uv_now(router_.loop()) + kLinkRetryMs;
    }
    // Everything unanswered goes out again on the next link.
    std::size_t resent = 0;
    for (std::size_t i = 0; i < sent_ && i < pending_.size(); ++i)
        if (pending_[i].len > 0 && !pending_[i].silent) ++resent;
    router_.stats().commands_resent += resent;
    sent_ = 0;
    unsent_ = head_;
    spdlog::debug("session {}: relinking ({}), {} commands to re-send",
                  client_ ? client_->peer() : "?", why, resent);
    // open_link (from pump) drops the previous preamble and rebuilds the state.
    bool need = resent > 0 || subscribed() || in_multi_;
    for (std::size_t i = 0; i < pending_.size() && !need; ++i)
        if (pending_[i].len > 0) need = true;
    if (need) {
        pump();
    } else {
        // Idle client: forget the silent set-up entries; the next command opens a link.
        std::string new_log;
        std::deque<Pending> np;
        std::size_t off = head_;
        for (auto& p : pending_) {
            if (!p.silent) {
                new_log.append(log_, off, p.len);
                np.push_back(p);
            }
            off += p.len;
        }
        log_ = std::move(new_log);
        pending_ = std::move(np);
        head_ = unsent_ = 0;
        update_hold_timer();
    }
}

// ---------------------------------------------------------------- topology

void ClientSession::on_topology() {
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
    if (link_ && !(link_->address() == *snap_->master)) {
        // The master changed. Commands still unanswered by the old master: re-send if
        // provably harmless, otherwise the outcome is unknown and the client is closed.
        if (!in_flight_resendable()) {
            router_.stats().clients_closed_unknown_outcome++;
            router_.stats().commands_failed += unanswered();
            close("master switched with a write in flight to the old master");
            return;
        }
        if (subscribed()) moving_subscriber_ = true;
        relink("master switched to " + snap_->master->str(), false);
        avoid_.reset();
    } else if (subscribed() && !link_) {
        moving_subscriber_ = true;
    }
    pump();
    if (closed_) return;
    if (subscribed()) {
        bool resub_pending =
            std::any_of(pending_.begin(), pending_.end(), [](const Pending& p) { return p.resub; });
        if (!resub_pending) {
            moving_subscriber_ = false;
            router_.subscriber_moved(this);
        }
    }
}

void ClientSession::check_command_timeout(std::uint64_t now_ms, std::uint32_t timeout_ms) {
    if (closed_ || sent_ == 0 || pending_.empty() || !link_ready_) return;
    const Pending& p = pending_.front();
    if (p.len == 0 || p.issued_ms == 0 || (p.flags & protocol::kBlocking) ||
        p.kind == Kind::subscribe || p.kind == Kind::unsubscribe)
        return;
    if (now_ms - p.issued_ms < timeout_ms) return;
    NodeAddress addr = link_ ? link_->address() : NodeAddress{};
    router_.topology().report_master_trouble(addr, "command timeout");
    close("no reply from " + addr.str() + " within the command timeout (" +
          std::to_string(timeout_ms) + " ms)");
}

}  // namespace sp::proxy
