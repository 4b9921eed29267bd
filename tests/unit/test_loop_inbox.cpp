// LoopInbox and WorkerGroup::ask: what crosses between the control loop and the workers.
#include <uv.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "proxy/worker/loop_inbox.h"
#include "proxy/worker/worker_group.h"

using namespace sp::proxy;

TEST_CASE("LoopInbox runs what other threads post, in posting order, on the loop's thread",
          "[loop_inbox]") {
    uv_loop_t loop;
    uv_loop_init(&loop);
    LoopInbox inbox(&loop);
    std::vector<int> seen;  // touched by the loop's thread only
    const auto loop_thread = std::this_thread::get_id();
    std::atomic<bool> wrong_thread{false};
    constexpr int kPerThread = 2000;
    std::vector<std::thread> posters;
    for (int t = 0; t < 2; ++t)
        posters.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i)
                inbox.post([&, t, i] {
                    if (std::this_thread::get_id() != loop_thread) wrong_thread = true;
                    seen.push_back(t * kPerThread + i);
                });
        });
    // The loop runs until every closure ran (bounded: 5 s).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (seen.size() < 2 * kPerThread && std::chrono::steady_clock::now() < until)
        uv_run(&loop, UV_RUN_NOWAIT);
    for (auto& p : posters) p.join();
    while (seen.size() < 2 * kPerThread && std::chrono::steady_clock::now() < until)
        uv_run(&loop, UV_RUN_NOWAIT);
    REQUIRE(seen.size() == 2 * kPerThread);
    CHECK_FALSE(wrong_thread);
    // Each poster's closures keep their order.
    int last[2] = {-1, -1};
    for (int v : seen) {
        const int t = v / kPerThread;
        CHECK(v % kPerThread > last[t]);
        last[t] = v % kPerThread;
    }
    inbox.close();
    CHECK_FALSE(inbox.post([] {}));  // closed: dropped, and said so
    uv_run(&loop, UV_RUN_DEFAULT);   // the handle's close callback frees it
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("WorkerGroup asks every worker on its own thread and waits for the answers",
          "[loop_inbox]") {
    WorkerGroup workers(2);
    workers.start({});  // no pools: loops with nothing but their inbox
    auto ids =
        workers.ask<std::thread::id>([](Worker&) { return std::this_thread::get_id(); }, 2000);
    REQUIRE(ids.size() == 2);
    REQUIRE(ids[0].has_value());
    REQUIRE(ids[1].has_value());
    CHECK(*ids[0] != *ids[1]);
    CHECK(*ids[0] != std::this_thread::get_id());

    // A worker that takes longer than the wait is given as no answer; the wait is bounded.
    auto slow = workers.ask<int>(
        [](Worker& w) {
            if (w.id() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
            return static_cast<int>(w.id());
        },
        50);
    REQUIRE(slow[0].has_value());
    CHECK(*slow[0] == 0);
    CHECK_FALSE(slow[1].has_value());

    workers.stop_all(0);
    CHECK(workers.join_all(2000));
}
