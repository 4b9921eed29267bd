// A pool's client seats (issue 24): every worker loop's listener takes a seat per accepted
// client, so max_clients must hold for the sum, however the takes interleave.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstddef>
#include <thread>
#include <vector>

#include "proxy/net/client_seats.h"

using sp::proxy::ClientSeats;

TEST_CASE("seats stop at max and come back when given back", "[client_seats]") {
    ClientSeats seats;
    CHECK(seats.take(2));
    CHECK(seats.take(2));
    CHECK_FALSE(seats.take(2));
    CHECK(seats.taken() == 2);
    seats.give_back();
    CHECK(seats.take(2));
    CHECK_FALSE(seats.take(1));  // a lowered max (a reload) refuses until enough leave
    CHECK(seats.taken() == 2);
}

TEST_CASE("workers taking seats at once never pass max together", "[client_seats]") {
    constexpr std::size_t kMax = 3;
    constexpr int kWorkers = 4;
    constexpr int kAttempts = 20'000;
    ClientSeats seats;
    std::atomic<std::size_t> held{0};  // seats the workers hold, counted by themselves
    std::atomic<std::size_t> most_held{0};
    std::atomic<int> ready{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
        workers.emplace_back([&] {
            ready.fetch_add(1);
            while (ready.load() < kWorkers) {  // start together: the seats are contended
            }
            for (int i = 0; i < kAttempts; ++i) {
                if (!seats.take(kMax)) continue;
                const std::size_t now = held.fetch_add(1) + 1;
                std::size_t most = most_held.load();
                while (now > most && !most_held.compare_exchange_weak(most, now)) {
                }
                std::this_thread::yield();  // a client's life: others run meanwhile
                held.fetch_sub(1);
                seats.give_back();
            }
        });
    }
    for (auto& t : workers) t.join();
    CHECK(most_held <= kMax);
    CHECK(most_held == kMax);  // the bound was reached under contention
    CHECK(seats.taken() == 0);
}
