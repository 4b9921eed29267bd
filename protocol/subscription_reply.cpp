#include "protocol/subscription_reply.h"

#include <charconv>
#include <cstdint>

namespace sp::protocol {

namespace {

// Reads one "<type><text>\r\n" line at `pos`; `text` excludes the type byte.
bool line(std::string_view f, std::size_t& pos, char& type, std::string_view& text) {
    if (pos >= f.size()) return false;
    std::size_t end = f.find("\r\n", pos);
    if (end == std::string_view::npos) return false;
    type = f[pos];
    text = f.substr(pos + 1, end - pos - 1);
    pos = end + 2;
    return true;
}

// A blob or simple string element at `pos`; `nil` set for "$-1" and "_".
bool string_element(std::string_view f, std::size_t& pos, std::string_view& out, bool& nil) {
    char type = 0;
    std::string_view text;
    if (!line(f, pos, type, text)) return false;
    nil = false;
    if (type == '+') {
        out = text;
        return true;
    }
    if (type == '_') {
        nil = true;
        return true;
    }
    if (type != '$') return false;
    std::int64_t len = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), len);
    if (ec != std::errc() || p != text.data() + text.size()) return false;
    if (len < 0) {
        nil = true;
        return true;
    }
    if (pos + static_cast<std::size_t>(len) + 2 > f.size()) return false;
    out = f.substr(pos, static_cast<std::size_t>(len));
    pos += static_cast<std::size_t>(len) + 2;
    return true;
}

}  // namespace

std::optional<std::string_view> confirmation_channel(std::string_view frame) {
    std::size_t pos = 0;
    char type = 0;
    std::string_view count;
    if (!line(frame, pos, type, count) || (type != '*' && type != '>') || count != "3")
        return std::nullopt;
    std::string_view verb, channel;
    bool nil = false;
    if (!string_element(frame, pos, verb, nil) || nil) return std::nullopt;
    if (!string_element(frame, pos, channel, nil) || nil) return std::nullopt;
    return channel;
}

}  // namespace sp::protocol
