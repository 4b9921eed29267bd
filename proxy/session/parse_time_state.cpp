#include "proxy/session/parse_time_state.h"

#include "proxy/session/connection_state.h"

namespace sp::proxy {

using protocol::CommandKind;
using protocol::PinReason;
using protocol::RespVersion;

bool ParseTimeState::route(const protocol::Command& cmd, const protocol::CommandPolicy& policy,
                           const protocol::HelloOptions* hello, bool own_credentials,
                           bool shared_links) {
    const bool before = pinned();
    tx_.follow(policy.kind);  // MULTI, EXEC, DISCARD, WATCH, UNWATCH, RESET
    switch (policy.kind) {
        case CommandKind::select:
            // Queued in MULTI it may never run (DISCARD): until EXEC's reply says, the client
            // may be in either database, so it stays on its dedicated link.
            if (cmd.argc() == 2)
                db_nonzero_ = cmd.argv[1] != "0" || (tx_.in_multi() && db_nonzero_);
            break;
        case CommandKind::reset:
            sticky_pin_ = db_nonzero_ = false;
            proto_ = RespVersion::resp2;
            break;
        case CommandKind::hello:
            if (hello && hello->error.empty() && hello->version)
                proto_ = hello->version == 3 ? RespVersion::resp3 : RespVersion::resp2;
            break;
        default:
            break;
    }
    // Clients that block or subscribe once do it again: they keep a connection of their
    // own until RESET (command_policy's sticky()). Logging in as someone else pins; logging
    // in with the very credentials the proxy uses (an app given the same REDIS_PASSWORD)
    // changes nothing.
    if (protocol::sticky(policy.pins) || (policy.pins == PinReason::identity && !own_credentials))
        sticky_pin_ = true;
    // SCRIPT KILL & co: this command alone on a dedicated link, which no script holds up.
    if (policy.pins == PinReason::out_of_band) return false;
    return shared_links && !before && !pinned();
}

void ParseTimeState::settle(const ConnectionState& state) {
    // What the requests suggested gives way to what Redis did (a refused MULTI, a SELECT
    // queued then discarded, a kept WATCH).
    tx_.assume(state.transaction());
    db_nonzero_ = state.db() != 0;
}

}  // namespace sp::proxy
