// What a framed command means to the proxy, decided once, from the command table and the
// command's own arguments: its kind (the few commands the proxy must understand), whether
// it may share a backend link, pins its client to a dedicated one, or is refused, whether
// it may be re-sent when its outcome is unknown, and where a blocking command keeps its
// timeout. Pure: the session asks once per command and never compares names or parses the
// command again.
//
// Sharing is an allow-list (docs/architecture.md, "Shared and dedicated links"): a command
// shares a link only when the proxy knows it gets exactly one reply, changes nothing that
// belongs to the connection and does not depend on what the connection did before. That is
// every reviewed row of the command table the rules below do not name, and, for commands
// known only from the server's COMMAND reply, plain data commands (readonly or write, and
// not blocking, pub/sub or admin). Anything else the proxy does not know pins.
#pragma once

#include <cstdint>
#include <string_view>

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
    connection,    // CLIENT NO-EVICT/NO-TOUCH/CACHING, READONLY/READWRITE/ASKING: flags it
    unknown,       // not reviewed, and its flags do not show a plain data command
    // SCRIPT KILL, FUNCTION KILL, SHUTDOWN: must reach Redis while a shared link waits
    // behind a busy script, so this one command goes on a dedicated link (not sticky).
    out_of_band,
};

// The pins that last until RESET: the client is likely to do it again, or the proxy cannot
// tell when the connection is back in the default state.
bool sticky(PinReason r);

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
    // WAIT / WAITAOF: counts the acknowledgements of this connection's last write, so the
    // client's writes made over a shared link must be fenced on the link WAIT runs on.
    bool counts_own_writes = false;
    // Not supported through the proxy (outside MULTI): the error the client gets, without
    // "-" and CRLF. Empty for every other command.
    std::string_view refusal;

    bool is(std::uint32_t f) const { return (flags & f) != 0; }
};

CommandPolicy decide(const CommandTable& table, const Command& cmd);

}  // namespace sp::protocol
