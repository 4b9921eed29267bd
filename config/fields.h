// Internal to config/: the table of configuration keys shared by the TOML loader, the
// environment, the command line and render_masked, so that every source applies the same
// types, bounds and messages. Not part of the public API.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"

namespace sp::config::detail {

enum class Kind {
    string,            // free text (user names)
    secret,            // free text, masked by render_masked, never echoed in errors
    name,              // text without whitespace or control characters ("": unset)
    boolean,           //
    uint32,            // std::uint32_t within [min, max]
    uint64,            // std::uint64_t within [min, max]
    uint32_or_auto,    // std::uint32_t within [min, max], or "auto" (stored as 0)
    address_list,      // std::vector<HostPort>; a single string is a list of one
    optional_address,  // std::optional<HostPort>; "" disables
    read_routing,      // "master" | "replica" | "prefer-replica" ("replica-preferred")
    log_level,         // trace debug info warn error critical off
    log_format,        // text | json
    tls_version,       // "1.2" | "1.3" (a minimum TLS protocol version)
};

using Member =
    std::variant<std::string Config::*, bool Config::*, std::uint32_t Config::*,
                 std::uint64_t Config::*, std::vector<HostPort> Config::*,
                 std::optional<HostPort> Config::*, ReadRouting Config::*, LogFormat Config::*>;

struct Field {
    std::string_view section;  // "timeouts"
    std::string_view key;      // "hold_window_ms"
    Kind kind;
    Member member;
    std::uint64_t min = 0;  // integers only
    std::uint64_t max = 0;
    bool non_empty = false;  // address_list only: at least one address
};

std::span<const Field> fields();
std::span<const std::string_view> sections();  // in documentation order
const Field* find_field(std::string_view section, std::string_view key);

std::string dotted_name(const Field& field);  // "timeouts.hold_window_ms"
std::string env_name(const Field& field);     // "SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS"

// The closest of `candidates` to `word` if it is a plausible typo, else "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// Setters. Each validates and assigns, or throws std::invalid_argument with a reason that
// names neither the key nor the source (the caller adds both). Secret values are never
// quoted in reasons.
void assign_integer(Config& config, const Field& field, std::int64_t value);
void assign_bool(Config& config, const Field& field, bool value);
void assign_string(Config& config, const Field& field, const std::string& value);
void assign_addresses(Config& config, const Field& field, std::vector<HostPort> value);

// Text from the environment or a flag: integers in decimal, booleans as
// true/false/yes/no/on/off/1/0, lists comma-separated.
void assign_text(Config& config, const Field& field, const std::string& text);

// The TOML-typed description of what a field accepts, for "expected ..., got ..." messages.
std::string_view expected_type(const Field& field);

// The value of `field` as a TOML value (quoted string, integer, boolean or array).
std::string render_value(const Config& config, const Field& field, bool mask_secrets);

}  // namespace sp::config::detail
