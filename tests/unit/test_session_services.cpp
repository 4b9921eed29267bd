// proxy/session/master_switch and failover_timeline: which snapshot sessions follow, the
// failovers counted, and the timeline line logged for one failover.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "proxy/session/session_services.h"

using namespace sp::proxy;

namespace {

TopologySnapshot with_master(const Topology& t, std::optional<NodeAddress> master) {
    TopologySnapshot s = *t.current();
    s.master = std::move(master);
    s.hold_reason = s.master ? "" : "failover under way";
    return s;
}

// Captures what spdlog's default logger writes while it lives.
struct LogCapture {
    std::ostringstream out;
    std::shared_ptr<spdlog::logger> before = spdlog::default_logger();
    LogCapture() {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
    }
    ~LogCapture() { spdlog::set_default_logger(before); }
};

}  // namespace

TEST_CASE("master switch: snapshots, switches and failovers counted", "[master_switch]") {
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
        sp::config::Config config;
        Topology topology;
        SessionServices services(&loop, config, topology);
        const auto& sw = services.master_switch;
        const NodeAddress a{"127.0.0.1", 7001}, b{"127.0.0.1", 7002};
        CHECK_FALSE(sw.snapshot(false)->master);
        CHECK(sw.last_switch_ms() == 0);

        topology.publish(with_master(topology, a));
        CHECK(sw.snapshot(false)->master == a);
        CHECK(sw.snapshot(true)->master == a);
        CHECK(sw.last_switch_ms() != 0);
        CHECK(services.context.stats().failovers_seen == 0);  // the first verification

        // A hold reaches everyone at once; the last master is remembered through it.
        topology.publish(with_master(topology, std::nullopt));
        CHECK_FALSE(sw.snapshot(false)->master);
        CHECK_FALSE(sw.snapshot(true)->master);

        // No subscriber to move first: the new master is released to everyone at once.
        topology.publish(with_master(topology, b));
        CHECK(sw.snapshot(false)->master == b);
        CHECK(services.context.stats().failovers_seen == 1);
        // The same master verified again is no failover.
        topology.publish(with_master(topology, b));
        CHECK(services.context.stats().failovers_seen == 1);
        topology.publish(with_master(topology, a));
        CHECK(services.context.stats().failovers_seen == 2);
        CHECK(services.registry.size() == 0);
        CHECK(services.registry.drain() == 0);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("failover timeline: one line per failover, with its marks", "[failover_timeline]") {
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
        LogCapture log;
        FailoverTimeline timeline(&loop, "default", "mymaster");
        const NodeAddress a{"127.0.0.1", 7001}, b{"127.0.0.1", 7002};
        timeline.hold_began(a, "failover of 127.0.0.1:7001 under way (+switch-master)");
        timeline.master_verified(a);
        timeline.subscribers_moving(2);
        timeline.subscribers_moved();
        timeline.released(b, 41);
        timeline.held_for(300);
        timeline.held_for(830);
        timeline.held_for(120);
        CHECK(log.out.str().find("failover timeline") == std::string::npos);  // not yet
        // The line waits a second for the sessions to report their holds.
        uv_run(&loop, UV_RUN_DEFAULT);
        const std::string line = log.out.str();
        CHECK(line.find("failover timeline [mymaster]: 127.0.0.1:7001 -> 127.0.0.1:7002") !=
              std::string::npos);
        CHECK(line.find("(+switch-master)") != std::string::npos);
        CHECK(line.find("(2); held commands released") != std::string::npos);
        CHECK(line.find("(41 sessions); longest hold 830 ms") != std::string::npos);

        // A verification without a previous master (start, or the same one again) logs
        // nothing.
        log.out.str("");
        timeline.master_verified(std::nullopt);
        timeline.released(a, 3);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(log.out.str().find("failover timeline") == std::string::npos);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&loop) == 0);
}
