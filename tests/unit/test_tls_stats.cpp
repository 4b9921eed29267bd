// The process-wide TLS counters (issue 24): every worker loop's handshakes write them, and
// tls.max_handshakes bounds the client handshakes of the whole process, whichever worker
// accepted them.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <thread>
#include <vector>

#include "proxy/net/tls_stats.h"

using sp::proxy::TlsOutcome;
using sp::proxy::TlsSide;
using sp::proxy::TlsStats;

TEST_CASE("handshake slots stop at the bound and come back when a handshake ends", "[tls_stats]") {
    TlsStats stats;
    CHECK(stats.begin_client_handshake(2));
    CHECK(stats.begin_client_handshake(2));
    CHECK_FALSE(stats.begin_client_handshake(2));
    CHECK(stats.client_handshakes_in_progress == 2);
    CHECK(stats.client_handshakes_rejected == 1);
    stats.end_client_handshake();
    CHECK(stats.begin_client_handshake(2));
    CHECK(stats.client_handshakes_in_progress == 2);
}

TEST_CASE("workers taking handshake slots at once never pass the process-wide bound",
          "[tls_stats]") {
    constexpr std::uint64_t kMax = 2;
    constexpr int kWorkers = 4;
    constexpr int kAttempts = 20'000;
    TlsStats stats;
    std::atomic<std::uint64_t> most_seen{0};
    std::atomic<std::uint64_t> taken{0};
    std::atomic<int> ready{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
        workers.emplace_back([&] {
            ready.fetch_add(1);
            while (ready.load() < kWorkers) {  // start together: the slots are contended
            }
            for (int i = 0; i < kAttempts; ++i) {
                if (!stats.begin_client_handshake(kMax)) continue;
                taken.fetch_add(1);
                // Slots held now, this one included: never more than the bound.
                const std::uint64_t now = stats.client_handshakes_in_progress;
                std::uint64_t most = most_seen.load();
                while (now > most && !most_seen.compare_exchange_weak(most, now)) {
                }
                std::this_thread::yield();  // a handshake's work: others run meanwhile
                stats.handshake(TlsSide::client, TlsOutcome::ok, 0.002);
                stats.end_client_handshake();
            }
        });
    }
    for (auto& t : workers) t.join();
    CHECK(most_seen <= kMax);
    CHECK(stats.client_handshakes_rejected > 0);  // the bound was reached, and held
    CHECK(stats.client_handshakes_in_progress == 0);
    CHECK(taken + stats.client_handshakes_rejected == std::uint64_t{kWorkers} * kAttempts);
    // Every worker's outcome was counted, none lost to a racing increment.
    const auto& client = stats.of(TlsSide::client);
    CHECK(client.handshakes[static_cast<std::size_t>(TlsOutcome::ok)] == taken);
    CHECK(client.latency[2] == taken);  // (0.001, 0.0025] s
    CHECK(client.latency_sum_s == Approx(0.002 * static_cast<double>(taken)));
}
