// What a framed command means to the proxy, decided once, from the command table and the
// command's own arguments: its kind (the few commands the proxy must understand), whether
// it pins its client to a dedicated backend connection, whether it may be re-sent when its
// outcome is unknown, and where a blocking command keeps its timeout. Pure: the session
// asks once per command and never compares names or parses the command again.
#pragma once

#include <cstdint>

#include "protocol/command_table.h"
#include "protocol/request_parser.h"

namespace sp::protocol {

// The commands whose meaning the proxy acts on; everything else is `normal`.
enum class CommandKind : std::uint8_t {
    normal,
    ping,  // PING and ECHO: harmless to re-send
    subscribe,
    unsubscribe,
    select,
    hello,
    auth,
    client_setname,
    client_setinfo,
    multi,
    exec,
    discard,
    watch,
    unwatch,
    reset,
    quit,
    // Connection modes the proxy follows from Redis's replies (docs/architecture.md,
    // "Replay or close").
    client_reply,     // CLIENT REPLY ON|OFF|SKIP: kept by the proxy, Redis always replies
    client_tracking,  // CLIENT TRACKING: bound to the connection it ran on
    client_id,        // CLIENT ID: the id names one connection
    client_flag,      // CLIENT NO-EVICT / NO-TOUCH: replayed on a new link
    monitor,          // MONITOR: bound to the connection it ran on
};

enum class SubFamily : std::uint8_t { channel, pattern, shard };

// Why a command's client needs a backend connection of its own (shared links later carry
// every client in the default state). The state lasts until the client leaves it.
enum class PinReason : std::uint8_t {
    none,
    transaction,   // MULTI, WATCH: the queue and the watched keys live in one connection
    blocking,      // BLPOP, XREAD BLOCK, WAIT...: blocks the connection it runs on
    subscribed,    // (P|S)SUBSCRIBE: the connection switches mode
    monitor,       // MONITOR
    client_reply,  // CLIENT REPLY OFF|SKIP: replies stop matching requests
    tracking,      // CLIENT TRACKING: invalidations belong to one connection
    select,        // SELECT n: per-connection database
    identity,      // AUTH / HELLO AUTH: per-connection user
    client_id,     // CLIENT ID: the id must name the client's own connection
    client_flag,   // CLIENT NO-EVICT|NO-TOUCH ON: per-connection flags
};

struct CommandPolicy {
    CommandKind kind = CommandKind::normal;
    std::uint32_t flags = kUnknown;  // the table's flags, refined by the arguments
    TimeoutArg timeout = TimeoutArg::none;
    SubFamily family = SubFamily::channel;
    // Frames a SUBSCRIBE-family command answers with: one per channel; -1 for an
    // UNSUBSCRIBE of everything (counted from the replies).
    std::int32_t expect = 1;
    PinReason pins = PinReason::none;
    // Safe to send again after its link died with it in flight: it provably changes
    // nothing (read-only, blocking pops whose pop did not happen, connection state).
    bool resendable = false;
    // May be read from a replica (routing.read_from): read-only by the table's flags,
    // EVAL_RO/EVALSHA_RO/FCALL_RO included; never blocking, pub/sub, admin, connection
    // state or transaction commands, nor the SCAN family (a whole scan stays on the master,
    // so a cursor never meets a node that did not issue it) or TOUCH (its effect is the
    // access time on the master). The session adds what only it knows: not inside
    // MULTI/WATCH, and only on a shared link.
    bool replica_ok = false;

    bool is(std::uint32_t f) const { return (flags & f) != 0; }
};

CommandPolicy decide(const CommandTable& table, const Command& cmd);

}  // namespace sp::protocol
