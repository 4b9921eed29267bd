// The channel a (P|S)(UN)SUBSCRIBE confirmation names: the second element of
// ["subscribe", channel, count], a RESP2 array or a RESP3 push. Sessions record each
// confirmed channel as it arrives, so a link lost halfway through a multi-channel command
// replays and re-sends only what Redis did not confirm.
#pragma once

#include <optional>
#include <string_view>

namespace sp::protocol {

// nullopt for a nil channel (UNSUBSCRIBE with nothing subscribed) or another shape.
std::optional<std::string_view> confirmation_channel(std::string_view frame);

}  // namespace sp::protocol
