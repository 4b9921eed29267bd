// Kubernetes service-link variables, recognised by name and value together so that a
// mistyped key (SENTINEL_PROXY_ADMIN_PORT=9121) is still reported as unknown.
#include "config/service_link.h"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <string>

namespace sp::config::detail {
namespace {

bool all_digits(std::string_view text) {
    if (text.empty() || text.size() > 5) return false;
    for (char c : text)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

bool is_ip(std::string_view text) {
    std::string copy(text);
    unsigned char buf[16];
    return inet_pton(AF_INET, copy.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, copy.c_str(), buf) == 1;
}

// "TCP" -> "tcp"; "" if not one of Kubernetes' protocols.
std::string_view protocol_of(std::string_view upper) {
    if (upper == "TCP") return "tcp";
    if (upper == "UDP") return "udp";
    if (upper == "SCTP") return "sctp";
    return {};
}

// "tcp://10.0.0.1:80" or "tcp://[fd00::1]:80"; `protocol` "" accepts any of the three.
bool is_link_url(std::string_view value, std::string_view protocol) {
    auto scheme_end = value.find("://");
    if (scheme_end == std::string_view::npos) return false;
    std::string_view scheme = value.substr(0, scheme_end);
    if (protocol.empty() ? (scheme != "tcp" && scheme != "udp" && scheme != "sctp")
                         : scheme != protocol)
        return false;
    std::string_view rest = value.substr(scheme_end + 3);
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || !all_digits(rest.substr(colon + 1))) return false;
    std::string_view host = rest.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    return is_ip(host);
}

bool ends_with_segment(std::string_view name, std::string_view suffix) {
    return name.size() > suffix.size() + 1 && name.ends_with(suffix) &&
           name[name.size() - suffix.size() - 1] == '_';
}

}  // namespace

bool is_service_link(std::string_view name, std::string_view value) {
    if (ends_with_segment(name, "SERVICE_HOST")) return is_ip(value);
    if (ends_with_segment(name, "SERVICE_PORT")) return all_digits(value);
    // <S>_SERVICE_PORT_<PORTNAME>: a named port.
    if (auto at = name.rfind("_SERVICE_PORT_"); at != std::string_view::npos && at > 0)
        return all_digits(value);
    if (ends_with_segment(name, "PORT") && !name.ends_with("_TCP_PORT") &&
        !name.ends_with("_UDP_PORT") && !name.ends_with("_SCTP_PORT"))
        return is_link_url(value, "");

    // <S>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]
    auto at = name.rfind("_PORT_");
    if (at == std::string_view::npos || at == 0) return false;
    std::string_view tail = name.substr(at + 6);  // "9121_TCP" or "9121_TCP_ADDR"
    auto underscore = tail.find('_');
    if (underscore == std::string_view::npos || !all_digits(tail.substr(0, underscore)))
        return false;
    std::string_view port = tail.substr(0, underscore);
    tail.remove_prefix(underscore + 1);
    auto next = tail.find('_');
    std::string_view protocol = protocol_of(tail.substr(0, next));
    if (protocol.empty()) return false;
    if (next == std::string_view::npos)
        return is_link_url(value, protocol) && value.ends_with(":" + std::string(port));
    std::string_view part = tail.substr(next + 1);
    if (part == "PROTO") return value == protocol;
    if (part == "PORT") return value == port;
    if (part == "ADDR") return is_ip(value);
    return false;
}

}  // namespace sp::config::detail
