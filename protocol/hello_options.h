// Reads HELLO's arguments the way Redis's helloCommand does: the protocol version first,
// then options from left to right, each keyword consuming its own values, so an option's
// value ("SETNAME auth") is never mistaken for a keyword. Errors (an invalid client name
// too) carry Redis's texts and are decided before any password is checked, as in Redis 7.2.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sp::protocol {

struct HelloOptions {
    int version = 0;  // 0: not given (HELLO alone keeps the current protocol)
    std::optional<std::string_view> user, password;  // AUTH <user> <password> (the last wins)
    std::optional<std::string_view> client_name;     // SETNAME <name> (the last wins)
    std::string error;  // the error reply without '-' and CRLF; empty when valid
};

// Redis's validateClientName, for HELLO SETNAME and CLIENT SETNAME: printable ASCII without
// spaces; empty clears the name.
bool valid_client_name(std::string_view name);

// argv is the whole command, argv[0] being "HELLO". Views point into argv.
HelloOptions parse_hello(std::span<const std::string_view> argv);

}  // namespace sp::protocol
