#include "protocol/command_policy.h"

#include <cctype>
#include <string_view>

#include "protocol/ascii.h"
#include "protocol/hello_options.h"

namespace sp::protocol {

namespace {

// psubscribe/punsubscribe: patterns; ssubscribe/sunsubscribe: shard channels.
SubFamily family_of(std::string_view name) {
    if (name[0] == 'p') return SubFamily::pattern;
    if (name.starts_with("ss") || name.starts_with("sun")) return SubFamily::shard;
    return SubFamily::channel;
}

struct NamedKind {
    std::string_view name;
    CommandKind kind;
};

constexpr NamedKind kKinds[] = {
    {"ping", CommandKind::ping},
    {"echo", CommandKind::ping},
    {"subscribe", CommandKind::subscribe},
    {"psubscribe", CommandKind::subscribe},
    {"ssubscribe", CommandKind::subscribe},
    {"unsubscribe", CommandKind::unsubscribe},
    {"punsubscribe", CommandKind::unsubscribe},
    {"sunsubscribe", CommandKind::unsubscribe},
    {"select", CommandKind::select},
    {"hello", CommandKind::hello},
    {"auth", CommandKind::auth},
    {"multi", CommandKind::multi},
    {"exec", CommandKind::exec},
    {"discard", CommandKind::discard},
    {"watch", CommandKind::watch},
    {"unwatch", CommandKind::unwatch},
    {"reset", CommandKind::reset},
    {"quit", CommandKind::quit},
    {"monitor", CommandKind::monitor},
};

CommandKind kind_of(const Command& cmd) {
    const std::string_view n = cmd.name;
    if (n == "client" && cmd.argc() > 1) {
        if (ieq(cmd.argv[1], "setname")) return CommandKind::client_setname;
        if (ieq(cmd.argv[1], "setinfo")) return CommandKind::client_setinfo;
        if (ieq(cmd.argv[1], "reply")) return CommandKind::client_reply;
        if (ieq(cmd.argv[1], "tracking")) return CommandKind::client_tracking;
        if (ieq(cmd.argv[1], "id")) return CommandKind::client_id;
        if (ieq(cmd.argv[1], "no-evict") || ieq(cmd.argv[1], "no-touch"))
            return CommandKind::client_flag;
        return CommandKind::normal;
    }
    // Only connection-level commands have a kind: one table lookup decides it for them.
    for (const NamedKind& k : kKinds)
        if (k.name == n) return k.kind;
    return CommandKind::normal;
}

// Any argument after the name equal to `word`, case-insensitively.
bool has_word(const Command& cmd, std::string_view word) {
    for (std::size_t i = 1; i < cmd.argc(); ++i)
        if (ieq(cmd.argv[i], word)) return true;
    return false;
}

// The reviewed decisions the server's flags do not make (docs/architecture.md, "Shared and
// dedicated links"). `sub` empty: every form of the command.
struct Reviewed {
    std::string_view name;
    std::string_view sub;
    PinReason pin = PinReason::none;
    std::string_view refusal;
};

constexpr Reviewed kReviewed[] = {
    // A replica's handshake and stream: REPLCONF ACK/GETACK get no reply at all, which
    // would leave a shared link's replies one behind for ever; SYNC/PSYNC take the link.
    {"replconf",
     {},
     PinReason::none,
     "ERR REPLCONF is not supported through sentinel-proxy: "
     "replication needs a direct connection to Redis"},
    {"sync",
     {},
     PinReason::none,
     "ERR SYNC is not supported through sentinel-proxy: "
     "replication needs a direct connection to Redis"},
    {"psync",
     {},
     PinReason::none,
     "ERR PSYNC is not supported through sentinel-proxy: "
     "replication needs a direct connection to Redis"},
    // Turns the connection into a Lua debugger session.
    {"script", "debug", PinReason::none,
     "ERR SCRIPT DEBUG is not supported through sentinel-proxy: the Lua debugger needs a "
     "direct connection to Redis"},
    // redis-py 8 enables maintenance pushes on its connection (an error is tolerated): the
    // proxy hides maintenance and failovers itself, and a shared link takes no pushes.
    {"client", "maint_notifications", PinReason::none,
     "ERR CLIENT MAINT_NOTIFICATIONS is not supported through sentinel-proxy: the proxy "
     "handles maintenance and failovers itself"},
    {"client", "no-evict", PinReason::connection, {}},
    {"client", "no-touch", PinReason::connection, {}},
    {"client", "caching", PinReason::connection, {}},
    {"readonly", {}, PinReason::connection, {}},
    {"readwrite", {}, PinReason::connection, {}},
    {"asking", {}, PinReason::connection, {}},
    {"monitor", {}, PinReason::monitor, {}},
    // Redis runs these while a script is busy; a shared link waits behind the script.
    {"script", "kill", PinReason::out_of_band, {}},
    {"function", "kill", PinReason::out_of_band, {}},
    {"shutdown", {}, PinReason::out_of_band, {}},
};

const Reviewed* reviewed_row(const Command& cmd) {
    for (const Reviewed& r : kReviewed) {
        if (r.name != cmd.name) continue;
        if (r.sub.empty() || (cmd.argc() > 1 && ieq(cmd.argv[1], r.sub))) return &r;
    }
    return nullptr;
}

// Known only from the server's COMMAND reply (or a sub-command the table lacks): shared
// only when the flags show a plain data command.
bool plain_data(const CommandPolicy& p) {
    return p.is(kReadOnly | kWrite) && !p.is(kBlocking | kPubSub | kSubscribe | kAdmin | kUnknown);
}

// `row`: the command's kReviewed row, if any; `reviewed`: its command table row was.
PinReason pin_of(const Command& cmd, const CommandPolicy& p, const Reviewed* row, bool reviewed) {
    switch (p.kind) {
        case CommandKind::multi:
        case CommandKind::watch:
            return PinReason::transaction;
        case CommandKind::subscribe:
        case CommandKind::unsubscribe:  // one frame per channel: never on a shared link
            return PinReason::subscribed;
        case CommandKind::select:
            return cmd.argc() == 2 && cmd.argv[1] == "0" ? PinReason::none : PinReason::select;
        case CommandKind::auth:
            return PinReason::identity;
        case CommandKind::hello:
            return parse_hello(cmd.argv).password ? PinReason::identity : PinReason::none;
        default:
            break;
    }
    if (p.is(kBlocking)) return PinReason::blocking;
    if (row) return row->pin;
    if (cmd.name == "client" && cmd.argc() > 2) {
        if (ieq(cmd.argv[1], "reply") && !ieq(cmd.argv[2], "on")) return PinReason::client_reply;
        if (ieq(cmd.argv[1], "tracking") && ieq(cmd.argv[2], "on")) return PinReason::tracking;
    }
    // The id must be the one the client's invalidations (CLIENT TRACKING ... REDIRECT id)
    // or CLIENT KILL reach: its own connection, never a shared link.
    if (p.kind == CommandKind::client_id) return PinReason::client_id;
    if (p.is(kUnknown) || (!reviewed && !plain_data(p))) return PinReason::unknown;
    return PinReason::none;
}

bool resendable(const CommandPolicy& p) {
    switch (p.kind) {
        case CommandKind::normal:
            break;
        case CommandKind::exec:
            return false;  // the transaction may have run
        default:
            return true;  // connection state, subscriptions, MULTI, WATCH, PING: harmless
    }
    if (p.is(kBlocking)) return true;  // the session re-issues it with the time left
    if (p.is(kReadOnly) && !p.is(kWrite)) return true;
    if (p.is(kConnectionState)) return true;
    return false;
}

bool replica_ok(const Command& cmd, const CommandPolicy& p) {
    if (p.kind != CommandKind::normal || p.pins != PinReason::none) return false;
    if (!p.is(kReadOnly) || p.is(kWrite | kBlocking | kPubSub | kSubscribe | kTransaction |
                                 kConnectionState | kAdmin | kUnknown))
        return false;
    const std::string_view n = cmd.name;
    // Cursors belong to the node that issued them: the whole scan stays on the master.
    if (n == "scan" || n == "sscan" || n == "hscan" || n == "zscan") return false;
    if (n == "touch") return false;
    return true;
}

}  // namespace

bool sticky(PinReason r) {
    switch (r) {
        case PinReason::subscribed:
        case PinReason::blocking:
        case PinReason::monitor:
        case PinReason::client_reply:
        case PinReason::tracking:
        case PinReason::client_id:
        case PinReason::connection:
        case PinReason::unknown:
            return true;
        default:
            return false;  // transaction and select end with their state; identity: see
                           // the session (the proxy's own credentials change nothing)
    }
}

CommandPolicy decide(const CommandTable& table, const Command& cmd) {
    CommandPolicy p;
    // The table knows which commands have sub-commands; it reads argv[1] only for those.
    const std::string_view sub = cmd.argc() > 1 ? cmd.argv[1] : std::string_view{};
    CommandInfo info = table.classify(cmd.name, sub);
    p.flags = info.flags;
    p.timeout = info.timeout;
    p.kind = kind_of(cmd);
    if (p.kind == CommandKind::subscribe) {
        p.family = family_of(cmd.name);
        p.expect = cmd.argc() > 1 ? static_cast<std::int32_t>(cmd.argc() - 1) : 1;
    } else if (p.kind == CommandKind::unsubscribe) {
        p.family = family_of(cmd.name);
        p.expect = cmd.argc() > 1 ? static_cast<std::int32_t>(cmd.argc() - 1) : -1;
    }
    // XREAD / XREADGROUP block only with a BLOCK option.
    if ((cmd.name == "xread" || cmd.name == "xreadgroup") && !has_word(cmd, "block"))
        p.flags &= ~static_cast<std::uint32_t>(kBlocking);
    const Reviewed* row = reviewed_row(cmd);
    if (row) p.refusal = row->refusal;
    p.pins = pin_of(cmd, p, row, info.reviewed);
    p.counts_own_writes = cmd.name == "wait" || cmd.name == "waitaof";
    p.resendable = resendable(p);
    p.replica_ok = replica_ok(cmd, p);
    return p;
}

}  // namespace sp::protocol
