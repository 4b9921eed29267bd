// "host:port" and "[v6]:port" addresses.
#include <cctype>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.h"

namespace sp::config {
namespace {

bool is_host_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

bool is_ipv6_char(char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
}

[[noreturn]] void fail(const std::string& text, std::string_view reason) {
    throw std::invalid_argument("invalid address \"" + text + "\": " + std::string(reason));
}

std::uint16_t parse_port(const std::string& text, std::string_view port) {
    if (port.empty()) fail(text, "missing port (expected host:port)");
    if (port.size() > 5) fail(text, "port out of range (1..65535)");
    unsigned value = 0;
    for (char c : port) {
        if (c < '0' || c > '9') fail(text, "port is not a number");
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) fail(text, "port out of range (1..65535)");
    return static_cast<std::uint16_t>(value);
}

}  // namespace

std::string HostPort::str() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

HostPort parse_host_port(const std::string& text) {
    if (text.empty()) fail(text, "empty (expected host:port)");
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string::npos) fail(text, "missing ']' after IPv6 address");
        std::string host = text.substr(1, close - 1);
        // An optional zone ("fe80::1%eth0") may follow the address.
        std::string_view address = host;
        if (auto zone = address.find('%'); zone != std::string_view::npos) {
            std::string_view zone_name = address.substr(zone + 1);
            if (zone_name.empty()) fail(text, "empty IPv6 zone");
            for (char c : zone_name) {
                if (!is_host_name_char(c)) fail(text, "invalid character in IPv6 zone");
            }
            address = address.substr(0, zone);
        }
        if (address.find(':') == std::string_view::npos) fail(text, "not an IPv6 address");
        for (char c : address) {
            if (!is_ipv6_char(c)) fail(text, "invalid character in IPv6 address");
        }
        if (close + 1 >= text.size() || text[close + 1] != ':') {
            fail(text, "missing port (expected [address]:port)");
        }
        return HostPort{host, parse_port(text, std::string_view(text).substr(close + 2))};
    }
    auto colon = text.rfind(':');
    if (colon == std::string::npos) fail(text, "missing port (expected host:port)");
    std::string host = text.substr(0, colon);
    if (host.empty()) fail(text, "missing host (use 0.0.0.0 or [::] for every interface)");
    if (host.find(':') != std::string::npos) {
        fail(text, "IPv6 addresses must be bracketed, e.g. [::1]:6379");
    }
    for (char c : host) {
        if (!is_host_name_char(c)) fail(text, "invalid character in host name");
    }
    return HostPort{host, parse_port(text, std::string_view(text).substr(colon + 1))};
}

}  // namespace sp::config
