// Which commands may be streamed (limits.stream_bulk_len): forwarded to the master as their
// big bulk arrives, decided from the command's head alone (the arguments before the big
// bulk). Only where the arguments after it cannot change the policy: plain data writes.
// What changes the connection state, blocks, or is queued in a transaction (replayed on a
// new link from its bytes) keeps its bytes and is framed whole. Pure; ClientSession adds
// what the connection's state says (stream_decision) and does the forwarding.
#pragma once

#include <string_view>

#include "protocol/command_policy.h"

namespace sp::proxy::stream_rules {

// `policy` decided from the head of command `name` (lower-cased).
bool may_stream(const protocol::CommandPolicy& policy, std::string_view name);

}  // namespace sp::proxy::stream_rules
