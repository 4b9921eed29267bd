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

PinReason pin_of(const Command& cmd, const CommandPolicy& p) {
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
    // MONITOR and a replica's SYNC/PSYNC turn the connection into a stream.
    if (cmd.name == "monitor" || cmd.name == "sync" || cmd.name == "psync")
        return PinReason::monitor;
    if (cmd.name == "client" && cmd.argc() > 2) {
        if (ieq(cmd.argv[1], "reply") && !ieq(cmd.argv[2], "on")) return PinReason::client_reply;
        if (ieq(cmd.argv[1], "tracking") && ieq(cmd.argv[2], "on")) return PinReason::tracking;
        if (p.kind == CommandKind::client_flag && ieq(cmd.argv[2], "on"))
            return PinReason::client_flag;
    }
    // The id must be the one the client's invalidations (CLIENT TRACKING ... REDIRECT id)
    // or CLIENT KILL reach: its own connection, never a shared link.
    if (p.kind == CommandKind::client_id) return PinReason::client_id;
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
    p.pins = pin_of(cmd, p);
    p.resendable = resendable(p);
    p.replica_ok = replica_ok(cmd, p);
    return p;
}

}  // namespace sp::protocol
