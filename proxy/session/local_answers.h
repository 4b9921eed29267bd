// The replies the proxy makes itself for connection-state commands of a client on a shared
// link (sent there, they would change the connection of every client sharing it): HELLO,
// AUTH and SELECT 0 that change nothing, RESET, CLIENT SETNAME, CLIENT GETNAME. Each is what
// Redis 7 would answer; what changes the client's state is applied by the session when the
// reply reaches the front of its queue. Pure: bytes and a decision, no session.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/command_policy.h"
#include "protocol/hello_options.h"
#include "protocol/reply_writer.h"
#include "protocol/request_parser.h"

namespace sp::proxy::local_answers {

enum class Answer : std::uint8_t {
    forward,        // not answered here: Redis answers it (its own error wording too)
    reply,          // the proxy's reply, nothing changes
    reply_change,   // the proxy's reply; the connection state changes when it is delivered
    name_at_front,  // CLIENT GETNAME: the name once the commands before it are answered
};

// A command of kind `kind`, routed to a shared link (HELLO aside: see hello): the reply
// written to `out` and what it is.
Answer on_shared(const protocol::Command& cmd, protocol::CommandKind kind, std::string& out);

// HELLO answered by the proxy in protocol `proto` (the one the commands parsed so far lead
// to): Redis 7's map, or the options' error. True when it changes the state (no error).
bool hello(std::string& out, const protocol::HelloOptions& options, protocol::RespVersion proto);

// CLIENT GETNAME's reply: the name, or null when none was set.
void client_name(std::string& out, std::string_view name, protocol::RespVersion proto);

}  // namespace sp::proxy::local_answers
