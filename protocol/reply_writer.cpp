// Encoders for the replies the proxy writes itself. RESP2 clients get the RESP2 spelling
// of RESP3-only types (null bulk, flat arrays for maps and pushes).
#include "protocol/reply_writer.h"

#include <charconv>

namespace sp::protocol::reply {

namespace {
void append_number(std::string& out, std::int64_t value) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
    (void)ec;  // 24 bytes always hold an int64
    out.append(digits, end);
}

void header(std::string& out, char type, std::int64_t n) {
    out.push_back(type);
    append_number(out, n);
    out.append("\r\n", 2);
}
}  // namespace

void error(std::string& out, std::string_view message) {
    out.push_back('-');
    out.append(message);
    out.append("\r\n", 2);
}

void status(std::string& out, std::string_view text) {
    out.push_back('+');
    out.append(text);
    out.append("\r\n", 2);
}

void integer(std::string& out, std::int64_t value) {
    header(out, ':', value);
}

void bulk(std::string& out, std::string_view value) {
    header(out, '$', static_cast<std::int64_t>(value.size()));
    out.append(value);
    out.append("\r\n", 2);
}

void null(std::string& out, RespVersion v) {
    out.append(v == RespVersion::resp3 ? "_\r\n" : "$-1\r\n");
}

void null_array(std::string& out, RespVersion v) {
    out.append(v == RespVersion::resp3 ? "_\r\n" : "*-1\r\n");
}

void array_header(std::string& out, std::size_t count) {
    header(out, '*', static_cast<std::int64_t>(count));
}

void map_header(std::string& out, std::size_t pairs, RespVersion v) {
    if (v == RespVersion::resp3) {
        header(out, '%', static_cast<std::int64_t>(pairs));
    } else {
        header(out, '*', static_cast<std::int64_t>(pairs * 2));
    }
}

void push_header(std::string& out, std::size_t count, RespVersion v) {
    header(out, v == RespVersion::resp3 ? '>' : '*', static_cast<std::int64_t>(count));
}

void command(std::string& out, std::initializer_list<std::string_view> argv) {
    array_header(out, argv.size());
    for (std::string_view arg : argv) bulk(out, arg);
}

void command(std::string& out, const std::vector<std::string>& argv) {
    array_header(out, argv.size());
    for (const auto& a : argv) bulk(out, a);
}

std::string command(const std::vector<std::string>& argv) {
    std::string out;
    command(out, argv);
    return out;
}

}  // namespace sp::protocol::reply
