// proxy/sentinel/sentinel_timings: the hold window derived from Sentinel's timings.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "proxy/sentinel/sentinel_timings.h"

using namespace sp::proxy;

namespace {

// A SENTINEL MASTER reply (flat field/value array), parsed by hiredis's reader.
redisReply* sentinel_master(const std::vector<std::string>& fields) {
    std::string raw = "*" + std::to_string(fields.size()) + "\r\n";
    for (const std::string& f : fields) raw += "$" + std::to_string(f.size()) + "\r\n" + f + "\r\n";
    redisReader* reader = redisReaderCreate();
    redisReaderFeed(reader, raw.data(), raw.size());
    void* reply = nullptr;
    REQUIRE(redisReaderGetReply(reader, &reply) == REDIS_OK);
    redisReaderFree(reader);
    return static_cast<redisReply*>(reply);
}

}  // namespace

TEST_CASE("sentinel timings: read from SENTINEL MASTER", "[sentinel_timings]") {
    redisReply* r =
        sentinel_master({"name", "mymaster", "down-after-milliseconds", "60000", "failover-timeout",
                         "180000", "parallel-syncs", "1", "num-slaves", "2", "quorum", "2"});
    auto t = parse_sentinel_master(r);
    freeReplyObject(r);
    REQUIRE(t);
    CHECK(*t == SentinelTimings{60000, 180000, 1, 2});
    r = sentinel_master({"name", "mymaster"});
    CHECK_FALSE(parse_sentinel_master(r));
    freeReplyObject(r);
    CHECK_FALSE(parse_sentinel_master(nullptr));
}

TEST_CASE("sentinel timings: the derived hold window", "[sentinel_timings]") {
    sp::config::Config config;
    // Bitnami's chart: down-after 60 s, 2 replicas, parallel-syncs 1.
    SentinelTimings bitnami{60000, 180000, 1, 2};
    CHECK(failover_allowance_ms(bitnami) == 8000);
    HoldWindow w = derive_hold_window(config, bitnami);
    CHECK(w.source == HoldWindow::Source::derived);
    CHECK(w.ms == 68000);
    CHECK(w.failover_ms == 68000);
    // Fast sentinels: never shorter than the former fixed default.
    w = derive_hold_window(config, SentinelTimings{1000, 10000, 1, 2});
    CHECK(w.ms == 10000);
    CHECK(w.failover_ms == 9000);
    // More replicas than parallel-syncs: one allowance step per batch.
    CHECK(failover_allowance_ms(SentinelTimings{5000, 180000, 2, 5}) == 6000 + 2 * 2000);
    // failover-timeout caps the allowance (Sentinel switches without the replicas then).
    CHECK(failover_allowance_ms(SentinelTimings{5000, 3000, 1, 9}) == 3000);
    // Bounded by the key's own maximum.
    CHECK(derive_hold_window(config, SentinelTimings{900000, 180000, 1, 0}).ms == 600000);
    // Unknown timings: the former default.
    w = derive_hold_window(config, std::nullopt);
    CHECK(w.source == HoldWindow::Source::fallback);
    CHECK(w.ms == 10000);
    // An explicit setting wins, and still knows how long Sentinel can take.
    config.hold_window_ms = 3000;
    config.explicit_keys.insert("timeouts.hold_window_ms");
    w = derive_hold_window(config, bitnami);
    CHECK(w.source == HoldWindow::Source::configured);
    CHECK(w.ms == 3000);
    CHECK(w.failover_ms == 68000);
}

TEST_CASE("sentinel timings: every source marks hold_window_ms as given", "[sentinel_timings]") {
    CHECK(sp::config::Config{}.explicit_keys.empty());
    CHECK(sp::config::load_toml("[timeouts]\nhold_window_ms = 10000\n", "p.toml")
              .explicit_keys.count("timeouts.hold_window_ms"));
    CHECK_FALSE(sp::config::load_toml("[timeouts]\nconnect_ms = 100\n", "p.toml")
                    .explicit_keys.count("timeouts.hold_window_ms"));
}
