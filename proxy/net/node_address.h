// Where a Redis node listens, as Sentinel reports it. Below both the backend links (which
// connect to it) and the sentinel side (which discovers it), so neither includes the other.
#pragma once

#include <cstdint>
#include <string>

namespace sp::proxy {

struct NodeAddress {
    std::string host;  // as Sentinel reports it (an IP, or a host name with announce-hostnames)
    std::uint16_t port = 0;
    bool operator==(const NodeAddress&) const = default;
    std::string str() const { return host + ":" + std::to_string(port); }
};

}  // namespace sp::proxy
