// Process-wide TLS counters, read by the metrics scrape. Every worker loop's handshakes
// write them (issue 24), so they are atomics: relaxed read-modify-writes, once per
// handshake, never per request.
#pragma once

#include <array>
#include <atomic>
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
    std::array<std::atomic<std::uint64_t>, kTlsOutcomeNames.size()> handshakes{};
    // Successful handshakes only; cumulative counts per bucket are made at scrape time.
    std::array<std::atomic<std::uint64_t>, kTlsLatencyBuckets.size() + 1> latency{};
    std::atomic<double> latency_sum_s{0};
    std::atomic<std::int64_t> cert_not_after{0};  // of the configured certificate (0: none)
};

struct TlsStats {
    std::array<TlsSideStats, 3> sides;
    // Clients of the proxy in their handshake now, and those closed at once because
    // tls.max_handshakes were (tls.max_handshakes: silent connections stay bounded).
    std::atomic<std::uint64_t> client_handshakes_in_progress{0};
    std::atomic<std::uint64_t> client_handshakes_rejected{0};

    TlsSideStats& of(TlsSide side) { return sides[static_cast<std::size_t>(side)]; }
    const TlsSideStats& of(TlsSide side) const { return sides[static_cast<std::size_t>(side)]; }
    void handshake(TlsSide side, TlsOutcome outcome, double seconds) {
        TlsSideStats& s = of(side);
        s.handshakes[static_cast<std::size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
        if (outcome != TlsOutcome::ok) return;
        std::size_t i = 0;
        while (i < kTlsLatencyBuckets.size() && seconds > kTlsLatencyBuckets[i]) ++i;
        s.latency[i].fetch_add(1, std::memory_order_relaxed);
        s.latency_sum_s.fetch_add(seconds, std::memory_order_relaxed);
    }

    // A client handshake may start only while fewer than `max` are in progress in the whole
    // process, whichever worker accepted it: true takes a slot (give it back with
    // end_client_handshake), false counts a rejection. Check and take are one atomic step,
    // so workers accepting at the same moment cannot overshoot the bound.
    bool begin_client_handshake(std::uint64_t max) {
        std::uint64_t now = client_handshakes_in_progress.load(std::memory_order_relaxed);
        do {
            if (now >= max) {
                client_handshakes_rejected.fetch_add(1, std::memory_order_relaxed);
                return false;
            }
        } while (!client_handshakes_in_progress.compare_exchange_weak(now, now + 1,
                                                                      std::memory_order_relaxed));
        return true;
    }
    void end_client_handshake() {
        client_handshakes_in_progress.fetch_sub(1, std::memory_order_relaxed);
    }
};

TlsStats& tls_stats();

}  // namespace sp::proxy
