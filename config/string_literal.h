// A double-quoted string literal that is both a TOML basic string and a JSON string: the
// two share the escapes \" \\ \b \t \n \f \r and \u00XX, used here for the other control
// characters and DEL (which TOML requires escaped and JSON accepts escaped). One function
// for the rendered configuration, /status and the JSON log lines.
#pragma once

#include <string>
#include <string_view>

namespace sp::config {

std::string string_literal(std::string_view text);

}  // namespace sp::config
