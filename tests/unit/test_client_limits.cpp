// proxy/session/client_limits: one client's share of the limits (query buffer, output by
// class, memory budget, held commands), decided against a LoopContext built on a real loop.
#include <uv.h>

#include <catch2/catch.hpp>

#include "proxy/session/client_limits.h"
#include "proxy/session/session_services.h"

using namespace sp::proxy;

namespace {

// A loop, a configuration and the services of one pool, torn down cleanly.
struct Fixture {
    uv_loop_t loop;
    Topology topology;
    std::unique_ptr<SessionServices> services;
    explicit Fixture(const sp::config::Config& config) {
        uv_loop_init(&loop);
        services = std::make_unique<SessionServices>(&loop, config, topology);
    }
    ~Fixture() {
        services.reset();
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_loop_close(&loop);
    }
    LoopContext& ctx() { return services->context; }
};

// Only an address for SessionSweeps' watch set: the loop never runs a sweep here.
ClientSession* some_session(int& storage) {
    return reinterpret_cast<ClientSession*>(&storage);
}

constexpr std::uint64_t kMiB = 1u << 20;

}  // namespace

TEST_CASE("client limits: the memory budget counts every client, closes only big ones",
          "[client_limits]") {
    sp::config::Config config;
    config.memory_budget = 4 * kMiB;
    Fixture f(config);
    ClientLimits a, b;
    CHECK(a.charge_memory(f.ctx(), 3 * kMiB));
    CHECK(a.charged() == 3 * kMiB);
    CHECK(f.ctx().buffered_bytes() == 3 * kMiB);
    CHECK(b.charge_memory(f.ctx(), kMiB / 2));
    CHECK(f.ctx().buffered_bytes() == 3 * kMiB + kMiB / 2);
    // Charging again replaces the client's share, it does not add to it.
    CHECK(b.charge_memory(f.ctx(), kMiB / 4));
    CHECK(f.ctx().buffered_bytes() == 3 * kMiB + kMiB / 4);
    // Past the budget together: the client holding 1 MiB or more must go.
    CHECK_FALSE(a.charge_memory(f.ctx(), 4 * kMiB));
    CHECK(f.ctx().buffered_bytes() == 4 * kMiB + kMiB / 4);
    // A small client is never closed for the budget, even past it.
    CHECK(b.charge_memory(f.ctx(), kMiB / 2));
    CHECK(f.ctx().buffered_bytes() == 4 * kMiB + kMiB / 2);
    CHECK(b.charge_memory(f.ctx(), kMiB / 4));
    a.release(f.ctx());
    CHECK(a.charged() == 0);
    CHECK(f.ctx().buffered_bytes() == kMiB / 4);
    b.release(f.ctx());
    CHECK(f.ctx().buffered_bytes() == 0);

    sp::config::Config unlimited;
    unlimited.memory_budget = 0;
    Fixture g(unlimited);
    ClientLimits c;
    CHECK(c.charge_memory(g.ctx(), 1ull << 34));  // 0: no budget
    c.release(g.ctx());
}

TEST_CASE("client limits: query buffer and where a pipeline pauses", "[client_limits]") {
    sp::config::Config config;
    config.query_buffer_limit = 10 * kMiB;
    Fixture f(config);
    CHECK(ClientLimits::query_buffer_over(f.ctx(), 10 * kMiB) == 0);
    CHECK(ClientLimits::query_buffer_over(f.ctx(), 10 * kMiB + 1) == 10 * kMiB);
    // Reads pause at half the limit, well before a single command could break it.
    CHECK(ClientLimits::backlog_pause_at(f.ctx()) == 5 * kMiB);

    sp::config::Config big;
    big.query_buffer_limit = 1024 * kMiB;
    Fixture g(big);
    CHECK(ClientLimits::backlog_pause_at(g.ctx()) == ClientLimits::kMaxPendingBytes);

    sp::config::Config none;
    none.query_buffer_limit = 0;
    Fixture h(none);
    CHECK(ClientLimits::query_buffer_over(h.ctx(), 1ull << 40) == 0);
}

TEST_CASE("client limits: output hard and soft limits by class", "[client_limits]") {
    sp::config::Config config;
    config.output_normal_hard = 0;  // Redis's default: no limit for normal clients
    config.output_normal_soft = 0;
    config.output_pubsub_hard = 32 * kMiB;
    config.output_pubsub_soft = 8 * kMiB;
    config.output_pubsub_soft_seconds = 60;
    Fixture f(config);
    int storage = 0;
    ClientSession* who = some_session(storage);
    ClientLimits limits;
    CHECK(limits.output_over(*f.services, who, 1000, 100 * kMiB, false).empty());
    CHECK(limits.output_over(*f.services, who, 1000, kMiB, true).empty());
    // The hard limit closes at once.
    CHECK(limits.output_over(*f.services, who, 1000, 32 * kMiB, true) ==
          "limits.output_pubsub_hard 33554432");
    // Over the soft limit: closed only after its time, counted from the first time over.
    ClientLimits soft;
    CHECK(soft.output_over(*f.services, who, 5000, 8 * kMiB, true).empty());
    CHECK(soft.output_over(*f.services, who, 5000 + 60'000, 9 * kMiB, true).empty());
    CHECK(soft.output_over(*f.services, who, 5000 + 60'001, 9 * kMiB, true) ==
          "limits.output_pubsub_soft 8388608 for 60 s");
    // Below it again, the time starts over.
    CHECK(soft.output_over(*f.services, who, 70'000, kMiB, true).empty());
    CHECK(soft.output_over(*f.services, who, 80'000, 8 * kMiB, true).empty());
    CHECK(soft.output_over(*f.services, who, 80'000 + 60'000, 8 * kMiB, true).empty());
    CHECK_FALSE(soft.output_over(*f.services, who, 80'000 + 60'001, 8 * kMiB, true).empty());
    CHECK(soft.output_over(*f.services, who, 200'000, 0, true).empty());  // unwatched again
}

TEST_CASE("client limits: held commands per client and in total", "[client_limits]") {
    sp::config::Config config;
    config.max_held_per_client = 3;
    config.max_held_total = 5;
    Fixture f(config);
    ClientLimits a, b;
    CHECK_FALSE(ClientLimits::hold_full(f.ctx(), 2));
    CHECK(ClientLimits::hold_full(f.ctx(), 3));
    a.charge_held(f.ctx(), 2);
    b.charge_held(f.ctx(), 2);
    CHECK(f.ctx().held_total() == 4);
    CHECK_FALSE(ClientLimits::hold_full(f.ctx(), 0));
    a.charge_held(f.ctx(), 3);  // replaces a's share
    CHECK(f.ctx().held_total() == 5);
    CHECK(ClientLimits::hold_full(f.ctx(), 0));  // the total is full for everyone
    a.charge_held(f.ctx(), 0);                   // a master was verified
    b.charge_held(f.ctx(), 0);
    CHECK(f.ctx().held_total() == 0);
}
