#include "proxy/session/stream_rules.h"

namespace sp::proxy::stream_rules {

bool may_stream(const protocol::CommandPolicy& policy, std::string_view name) {
    // CLIENT SETNAME <big> is connection state, XREAD(GROUP) may block with a BLOCK option
    // after the big bulk, a command whose sub-command is the big bulk is not classified.
    constexpr std::uint32_t kNotPlain =
        protocol::kBlocking | protocol::kPubSub | protocol::kSubscribe | protocol::kTransaction |
        protocol::kConnectionState | protocol::kAdmin | protocol::kUnknown;
    return policy.kind == protocol::CommandKind::normal && policy.is(protocol::kWrite) &&
           !policy.is(kNotPlain) && name != "xread" && name != "xreadgroup" && name != "client" &&
           policy.pins == protocol::PinReason::none;
}

}  // namespace sp::proxy::stream_rules
