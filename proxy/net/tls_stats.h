// Process-wide TLS counters, read by the metrics scrape. One loop thread writes them.
#pragma once

#include <array>
#include <cstdint>

#include "proxy/net/tls_context.h"

namespace sp::proxy {

enum class TlsOutcome { ok, certificate, protocol, timeout, closed };
inline constexpr std::array<const char*, 5> kTlsOutcomeNames = {"ok", "certificate", "protocol",
                                                                "timeout", "closed"};
// Handshake latency bucket bounds, seconds.
inline constexpr std::array<double, 10> kTlsLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                              0.025,  0.05,  0.1,    0.5,   1.0};

struct TlsSideStats {
    std::array<std::uint64_t, kTlsOutcomeNames.size()> handshakes{};
    // Successful handshakes only; cumulative counts per bucket are made at scrape time.
    std::array<std::uint64_t, kTlsLatencyBuckets.size() + 1> latency{};
    double latency_sum_s = 0;
    std::int64_t cert_not_after = 0;  // of the configured certificate (0: none)
};

struct TlsStats {
    std::array<TlsSideStats, 3> sides;
    // Clients of the proxy in their handshake now, and those closed at once because
    // tls.max_handshakes were (tls.max_handshakes: silent connections stay bounded).
    std::uint64_t client_handshakes_in_progress = 0;
    std::uint64_t client_handshakes_rejected = 0;
    TlsSideStats& of(TlsSide side) { return sides[static_cast<std::size_t>(side)]; }
    void handshake(TlsSide side, TlsOutcome outcome, double seconds) {
        TlsSideStats& s = of(side);
        s.handshakes[static_cast<std::size_t>(outcome)]++;
        if (outcome != TlsOutcome::ok) return;
        std::size_t i = 0;
        while (i < kTlsLatencyBuckets.size() && seconds > kTlsLatencyBuckets[i]) ++i;
        s.latency[i]++;
        s.latency_sum_s += seconds;
    }
};

TlsStats& tls_stats();

}  // namespace sp::proxy
