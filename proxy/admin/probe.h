// `sentinel-proxy --probe`: a one-shot HTTP GET against the admin endpoint, so a container
// HEALTHCHECK (or an exec probe) needs neither a shell nor curl in the image.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"

namespace sp::proxy {

struct ProbeTarget {
    std::string host;
    std::uint16_t port = 0;
    std::string path;
};

// What --probe names: "live" (/livez) or "ready" (/readyz) on the configured admin.listen
// (a wildcard address probes loopback), or a URL "http://host:port/path". Throws
// std::invalid_argument with a reason (unknown word, not http://, admin disabled).
ProbeTarget probe_target(const std::string& what, const std::optional<config::HostPort>& admin);

// GETs the target within timeout_ms. Returns the HTTP status (0 when there was no valid
// answer) and fills `detail` with the status line or the failure.
int probe_http(const ProbeTarget& target, int timeout_ms, std::string& detail);

}  // namespace sp::proxy
