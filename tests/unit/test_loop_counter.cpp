// LoopCounter and ProxyStats (issue 24): one loop thread writes, the control thread reads at
// scrape time. Run under SANITIZE=thread, the cross-thread cases are what ThreadSanitizer
// flagged with plain integers; here they also check the values a reader sees.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <thread>

#include "proxy/net/loop_counter.h"
#include "proxy/net/proxy_stats.h"

using sp::proxy::LoopCounter;
using sp::proxy::LoopSum;
using sp::proxy::ProxyStats;

TEST_CASE("a LoopCounter counts like the integer it replaces", "[loop_counter]") {
    LoopCounter c;
    CHECK(c == 0);
    c++;
    ++c;
    CHECK(c++ == 2);
    c += 10;
    CHECK(c.value() == 13);
    const std::uint64_t as_int = c;
    CHECK(as_int == 13);
    LoopCounter snapshot = c;  // a copy is the value now, independent afterwards
    c += 1;
    CHECK(snapshot == 13);
    snapshot = c;
    CHECK(snapshot == 14);
    LoopSum sum = 0.5;
    sum += 0.25;
    CHECK(sum.value() == 0.75);
    CHECK(LoopCounter(7) - LoopCounter(5) == 2);
}

TEST_CASE("a histogram copied at scrape time gives the increase since the last copy",
          "[loop_counter]") {
    sp::proxy::LatencyHistogram h;
    h.observe_ms(0.01);
    h.observe_ms(3);
    sp::proxy::LatencyHistogram seen = h;  // what the metrics exporter keeps
    h.observe_ms(3);
    h.observe_ms(1e9);  // +Inf
    CHECK(h.counts[0] - seen.counts[0] == 0);
    CHECK(h.counts[9] - seen.counts[9] == 1);  // (2.5, 5]
    CHECK(h.counts.back() - seen.counts.back() == 1);
    CHECK(h.sum_ms - seen.sum_ms == Approx(3 + 1e9));
}

TEST_CASE("ProxyStats written by one thread are read by another while it counts",
          "[loop_counter]") {
    constexpr std::uint64_t kCommands = 200'000;
    ProxyStats stats;
    std::atomic<bool> done{false};
    std::thread loop([&] {
        for (std::uint64_t i = 0; i < kCommands; ++i) {
            stats.commands_forwarded++;
            stats.bytes_in += 3;
            if (i % 100 == 0) stats.backend_latency.observe_ms(0.2);
        }
        done = true;
    });
    // The scrape: every read sees a value the writer stored, so it never goes back and
    // never passes the end.
    std::uint64_t last = 0, reads = 0;
    bool monotonic = true, bounded = true;
    while (!done || reads == 0) {
        const std::uint64_t now = stats.commands_forwarded;
        monotonic = monotonic && now >= last;
        bounded = bounded && now <= kCommands && stats.bytes_in <= 3 * kCommands;
        last = now;
        ++reads;
    }
    loop.join();
    CHECK(monotonic);
    CHECK(bounded);
    CHECK(stats.commands_forwarded == kCommands);
    CHECK(stats.bytes_in == 3 * kCommands);
    CHECK(stats.backend_latency.counts[3] == kCommands / 100);  // (0.1, 0.2]
    CHECK(stats.backend_latency.sum_ms == Approx(0.2 * (kCommands / 100)));
}
