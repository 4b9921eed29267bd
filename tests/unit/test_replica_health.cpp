// replica_health: INFO fields, the master's offset history, and eligibility.
#include <catch2/catch.hpp>
#include <string>

#include "proxy/sentinel/read_targets.h"
#include "proxy/sentinel/replica_health.h"

using namespace sp::proxy;

namespace {

constexpr std::uint64_t ms = 1'000'000;

std::string replica_info(const std::string& link = "up", int sync = 0, int loading = 0,
                         long offset = 1000, const std::string& host = "10.0.0.1",
                         int port = 6379) {
    return "# Replication\r\nrole:slave\r\nmaster_host:" + host +
           "\r\nmaster_port:" + std::to_string(port) + "\r\nmaster_link_status:" + link +
           "\r\nmaster_sync_in_progress:" + std::to_string(sync) +
           "\r\nslave_repl_offset:" + std::to_string(offset) +
           "\r\nmaster_replid:abc\r\nmaster_repl_offset:" + std::to_string(offset) +
           "\r\n\r\n# Persistence\r\nloading:" + std::to_string(loading) + "\r\n";
}

Assessment judge(const std::string& text, const MasterHistory& h, std::uint64_t now,
                 bool fresh = true, std::uint32_t max_lag = 500) {
    return assess(parse_info(text), fresh, "10.0.0.1", 6379, "abc", h, now, max_lag);
}

}  // namespace

TEST_CASE("replica health: INFO fields", "[replica_health]") {
    ReplicaInfo r = parse_info(replica_info("up", 0, 1, 4242));
    CHECK(r.parsed);
    CHECK(r.is_replica);
    CHECK(r.master_host == "10.0.0.1");
    CHECK(r.master_port == 6379);
    CHECK(r.link_up);
    CHECK_FALSE(r.syncing);
    CHECK(r.loading);
    CHECK(r.offset == 4242);
    CHECK(r.replid == "abc");
    ReplicaInfo m = parse_info("role:master\r\nmaster_replid:abc\r\nmaster_repl_offset:77\r\n");
    CHECK_FALSE(m.is_replica);
    CHECK(m.offset == 77);
}

TEST_CASE("replica health: lag from the master's offset history", "[replica_health]") {
    MasterHistory h;
    h.add(100 * ms, 1000);
    h.add(200 * ms, 1500);
    h.add(300 * ms, 2000);
    CHECK(*h.lag_ns(2000, 350 * ms) == 0);              // caught up
    CHECK(*h.lag_ns(1700, 350 * ms) == 50 * ms);        // lacks what the master had at 300
    CHECK(*h.lag_ns(1000, 350 * ms) == 150 * ms);       // lacks what it had at 200
    CHECK_FALSE(h.lag_ns(999, 350 * ms).has_value());   // behind everything kept
    CHECK(*h.offset_after(150 * ms) == 1500);           // read-your-writes
    CHECK(*h.offset_after(100 * ms) == 1500);           // strictly after the fence
    CHECK_FALSE(h.offset_after(300 * ms).has_value());  // not sampled since
    h.add(400 * ms, 10);                                // a new replication history
    CHECK(*h.offset_after(0) == 10);
}

TEST_CASE("replica health: history window", "[replica_health]") {
    MasterHistory h(1000 * ms);
    for (std::uint64_t t = 0; t <= 5000; t += 100) h.add(t * ms, static_cast<std::int64_t>(t));
    // Older samples are dropped, but the history still spans the window.
    CHECK(*h.lag_ns(3000, 5000 * ms) > 0);
    CHECK_FALSE(h.lag_ns(100, 5000 * ms).has_value());
    CHECK(*h.lag_ns(4000, 5000 * ms) == 900 * ms);
}

TEST_CASE("replica health: eligibility and the reason it is skipped", "[replica_health]") {
    MasterHistory h;
    h.add(100 * ms, 500);
    h.add(200 * ms, 1000);
    CHECK(judge(replica_info(), h, 250 * ms).reason == SkipReason::none);
    CHECK(judge(replica_info(), h, 250 * ms, false).reason == SkipReason::no_reply);
    CHECK(judge(replica_info("down"), h, 250 * ms).reason == SkipReason::link_down);
    CHECK(judge(replica_info("up", 1), h, 250 * ms).reason == SkipReason::syncing);
    CHECK(judge(replica_info("up", 0, 1), h, 250 * ms).reason == SkipReason::loading);
    CHECK(judge(replica_info("up", 0, 0, 1000, "10.0.0.9"), h, 250 * ms).reason ==
          SkipReason::other_master);
    CHECK(judge(replica_info("up", 0, 0, 1000, "10.0.0.1", 6380), h, 250 * ms).reason ==
          SkipReason::other_master);
    CHECK(judge("role:master\r\nmaster_repl_offset:1000\r\n", h, 250 * ms).reason ==
          SkipReason::not_replica);
    // 600 ms behind the sample of 200 ms: too far for 500 ms.
    Assessment lag = judge(replica_info("up", 0, 0, 500), h, 800 * ms);
    CHECK(lag.reason == SkipReason::lagging);
    CHECK(lag.lag_ms == 600);
    CHECK(judge(replica_info("up", 0, 0, 500), h, 650 * ms).reason == SkipReason::none);
    CHECK(judge(replica_info("up", 0, 0, 10), h, 250 * ms).reason == SkipReason::lagging);
    CHECK(judge(replica_info(), MasterHistory{}, 250 * ms).reason == SkipReason::master_unknown);
}

TEST_CASE("read targets: usable, trouble, reset at a master change", "[replica_health]") {
    ReadTargets rt;
    rt.reset(NodeAddress{"10.0.0.1", 6379});
    ReplicaTarget t;
    t.address = {"10.0.0.2", 6379};
    t.reason = SkipReason::none;
    t.offset = 100;
    rt.replicas().push_back(t);
    ReplicaTarget& r = rt.replicas().front();
    CHECK(ReadTargets::usable(r, -1, 0));
    CHECK(ReadTargets::usable(r, 100, 0));
    CHECK_FALSE(ReadTargets::usable(r, 101, 0));  // not yet has the client's write
    rt.report_trouble(r.address, 5 * ms);
    CHECK_FALSE(ReadTargets::usable(r, -1, 6 * ms));
    CHECK(ReadTargets::usable(r, -1, 5 * ms + 2000 * ms));
    const std::uint64_t epoch = rt.epoch();
    rt.history().add(1, 5);
    rt.reset(NodeAddress{"10.0.0.2", 6379});
    CHECK(rt.epoch() != epoch);
    CHECK(rt.history().empty());
    CHECK(r.reason == SkipReason::master_unknown);
}
