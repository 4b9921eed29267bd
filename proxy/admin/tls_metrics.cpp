#include "proxy/admin/tls_metrics.h"

#include <atomic>
#include <cstdio>
#include <vector>

#include "proxy/net/stream_factory.h"
#include "proxy/net/tls_stats.h"

namespace sp::proxy {

namespace {
// The "# HELP" and "# TYPE" lines of a metric family.
void family(std::string& out, const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

// Every worker's handshakes write the counters; the scrape only needs recent values.
template <typename T>
T read(const std::atomic<T>& value) {
    return value.load(std::memory_order_relaxed);
}
}  // namespace

void append_tls_metrics(std::string& out) {
    std::vector<TlsSide> sides;  // the sides with TLS on
    for (TlsSide side : {TlsSide::client, TlsSide::redis, TlsSide::sentinel})
        if (StreamFactory::tls(side)) sides.push_back(side);
    if (sides.empty()) return;
    const TlsStats& stats = tls_stats();
    family(out, "sentinel_proxy_tls_handshakes_total", "counter",
           "TLS handshakes by side (client: clients of the proxy; redis, sentinel: the "
           "proxy's own connections) and outcome");
    for (TlsSide side : sides) {
        const TlsSideStats& s = stats.of(side);
        for (std::size_t i = 0; i < kTlsOutcomeNames.size(); ++i)
            out += std::string("sentinel_proxy_tls_handshakes_total{side=\"") +
                   tls_side_name(side) + "\",outcome=\"" + kTlsOutcomeNames[i] + "\"} " +
                   std::to_string(read(s.handshakes[i])) + "\n";
    }
    family(out, "sentinel_proxy_tls_handshake_duration_seconds", "histogram",
           "Time from the first handshake byte (or the TCP connect) to a completed TLS "
           "handshake");
    for (TlsSide side : sides) {
        const TlsSideStats& s = stats.of(side);
        const std::string label = std::string("side=\"") + tls_side_name(side) + "\"";
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < kTlsLatencyBuckets.size(); ++i) {
            cumulative += read(s.latency[i]);
            out += "sentinel_proxy_tls_handshake_duration_seconds_bucket{" + label + ",le=\"" +
                   number(kTlsLatencyBuckets[i]) + "\"} " + std::to_string(cumulative) + "\n";
        }
        cumulative += read(s.latency.back());
        out += "sentinel_proxy_tls_handshake_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " +
               std::to_string(cumulative) + "\n";
        out += "sentinel_proxy_tls_handshake_duration_seconds_sum{" + label + "} " +
               number(read(s.latency_sum_s)) + "\n";
        out += "sentinel_proxy_tls_handshake_duration_seconds_count{" + label + "} " +
               std::to_string(cumulative) + "\n";
    }
    if (StreamFactory::tls(TlsSide::client)) {
        family(out, "sentinel_proxy_tls_handshakes_in_progress", "gauge",
               "Client connections still in their TLS handshake (bounded by "
               "tls.max_handshakes)");
        out += "sentinel_proxy_tls_handshakes_in_progress " +
               std::to_string(read(stats.client_handshakes_in_progress)) + "\n";
        family(out, "sentinel_proxy_tls_handshakes_rejected_total", "counter",
               "Client connections closed at once because tls.max_handshakes handshakes were "
               "in progress");
        out += "sentinel_proxy_tls_handshakes_rejected_total " +
               std::to_string(read(stats.client_handshakes_rejected)) + "\n";
    }
    family(out, "sentinel_proxy_tls_certificate_expiry_timestamp_seconds", "gauge",
           "notAfter of the certificate the proxy presents on this side, seconds since the "
           "epoch");
    for (TlsSide side : sides) {
        const TlsSideStats& s = stats.of(side);
        const std::int64_t not_after = read(s.cert_not_after);
        if (not_after == 0) continue;
        out += std::string("sentinel_proxy_tls_certificate_expiry_timestamp_seconds{side=\"") +
               tls_side_name(side) + "\"} " + std::to_string(not_after) + "\n";
    }
}

}  // namespace sp::proxy
