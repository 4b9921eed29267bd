// The TLS handshake queue (issue 24): steps run from the loop, under a per-turn budget,
// handshakes under way before new ones, and no handle left once the queue is empty.
#include <uv.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/net/tls_handshake_queue.h"

using sp::proxy::TlsHandshakeQueue;

namespace {

struct Step final : TlsHandshakeQueue::Entry {
    Step(std::string name, std::vector<std::string>& log, std::uint64_t cost_ns = 0)
        : name(std::move(name)), log(log), cost_ns(cost_ns) {}
    ~Step() = default;
    void run_handshake_step() override {
        log.push_back(name);
        const std::uint64_t start = uv_hrtime();
        while (uv_hrtime() - start < cost_ns) {
        }
    }
    std::string name;
    std::vector<std::string>& log;
    std::uint64_t cost_ns;
};

struct Loop {
    Loop() { uv_loop_init(&loop); }
    ~Loop() {
        uv_run(&loop, UV_RUN_DEFAULT);
        REQUIRE(uv_loop_close(&loop) == 0);  // the queue left no handle behind
    }
    uv_loop_t loop;
};

}  // namespace

TEST_CASE("handshake steps run from the loop, started handshakes first", "[tls_handshake_queue]") {
    Loop l;
    std::vector<std::string> log;
    Step a("new a", log), b("started b", log), c("new c", log), d("started d", log);
    TlsHandshakeQueue::push(&l.loop, &a, false);
    TlsHandshakeQueue::push(&l.loop, &b, true);
    TlsHandshakeQueue::push(&l.loop, &c, false);
    TlsHandshakeQueue::push(&l.loop, &d, true);
    TlsHandshakeQueue::push(&l.loop, &d, true);  // already queued: once
    CHECK(log.empty());
    CHECK(TlsHandshakeQueue::size(&l.loop) == 4);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    CHECK(log == std::vector<std::string>{"started b", "started d", "new a", "new c"});
    CHECK(TlsHandshakeQueue::size(&l.loop) == 0);
    CHECK_FALSE(a.queued());
}

TEST_CASE("a removed entry never runs, and a destroyed one leaves the queue",
          "[tls_handshake_queue]") {
    Loop l;
    std::vector<std::string> log;
    Step a("a", log), b("b", log);
    TlsHandshakeQueue::push(&l.loop, &a, false);
    TlsHandshakeQueue::push(&l.loop, &b, false);
    TlsHandshakeQueue::remove(&a);
    {
        Step gone("gone", log);
        TlsHandshakeQueue::push(&l.loop, &gone, true);
    }
    CHECK(TlsHandshakeQueue::size(&l.loop) == 1);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    CHECK(log == std::vector<std::string>{"b"});
}

TEST_CASE("one loop turn spends about the budget on handshakes, then polls",
          "[tls_handshake_queue]") {
    Loop l;
    std::vector<std::string> log;
    // Each step costs half the budget: a turn runs at most three (fewer if the box preempts
    // us mid-step: the budget is wall time), never all ten.
    std::vector<std::unique_ptr<Step>> steps;
    for (int i = 0; i < 10; ++i)
        steps.push_back(
            std::make_unique<Step>(std::to_string(i), log, TlsHandshakeQueue::kTurnBudgetNs / 2));
    for (auto& s : steps) TlsHandshakeQueue::push(&l.loop, s.get(), false);
    uv_run(&l.loop, UV_RUN_ONCE);
    CHECK(log.size() >= 1);
    CHECK(log.size() <= 3);
    // A timer due now runs between slices, not after the whole queue.
    bool timer_ran = false;
    std::size_t steps_before_timer = 0;
    uv_timer_t timer;
    uv_timer_init(&l.loop, &timer);
    struct Ctx {
        bool* ran;
        std::size_t* at;
        std::vector<std::string>* log;
    } ctx{&timer_ran, &steps_before_timer, &log};
    timer.data = &ctx;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
            auto* c = static_cast<Ctx*>(t->data);
            *c->ran = true;
            *c->at = c->log->size();
            uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
        },
        0, 0);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    CHECK(timer_ran);
    CHECK(steps_before_timer < 10);
    CHECK(log.size() == 10);
}

TEST_CASE("loops on several threads each run their own queue", "[tls_handshake_queue]") {
    // Worker loops (issue 24): a queue is found by its loop among the calling thread's
    // queues, so two threads pushing and running at once never see each other's entries.
    constexpr int kThreads = 2;
    constexpr int kSteps = 200;
    std::vector<std::vector<std::string>> logs(kThreads);
    std::vector<std::size_t> sizes(kThreads);
    std::vector<char> closed(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            uv_loop_t loop;
            uv_loop_init(&loop);
            std::vector<std::unique_ptr<Step>> steps;
            for (int i = 0; i < kSteps; ++i)
                steps.push_back(std::make_unique<Step>(std::to_string(t), logs[t]));
            for (auto& s : steps) TlsHandshakeQueue::push(&loop, s.get(), false);
            sizes[t] = TlsHandshakeQueue::size(&loop);
            uv_run(&loop, UV_RUN_DEFAULT);
            closed[t] = uv_loop_close(&loop) == 0;  // the queue left no handle behind
        });
    }
    for (auto& t : threads) t.join();
    for (int t = 0; t < kThreads; ++t) {
        CHECK(sizes[t] == kSteps);
        CHECK(closed[t]);
        CHECK(logs[t] == std::vector<std::string>(kSteps, std::to_string(t)));
    }
}
