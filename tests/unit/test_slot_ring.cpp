// SlotRing: the session's FIFO of reply slots allocates nothing until used, keeps FIFO
// order across wrap-around and growth, and releases what a popped slot held.
#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "proxy/session/slot_ring.h"

using sp::proxy::SlotRing;

TEST_CASE("slot ring keeps FIFO order across wrap-around and growth", "[slot_ring]") {
    SlotRing<std::string> r;
    CHECK(r.empty());
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < round % 7 + 1; ++i) r.push_back(std::to_string(next_in++));
        for (int i = 0; i < round % 5 && !r.empty(); ++i) {
            REQUIRE(r.front() == std::to_string(next_out++));
            r.pop_front();
        }
        REQUIRE(r.size() == static_cast<std::size_t>(next_in - next_out));
        if (!r.empty()) CHECK(r.back() == std::to_string(next_in - 1));
        std::size_t k = 0;
        for (const auto& s : r) CHECK(s == std::to_string(next_out + static_cast<int>(k++)));
        CHECK(k == r.size());
    }
    for (std::size_t i = 0; i < r.size(); ++i)
        CHECK(r[i] == std::to_string(next_out + static_cast<int>(i)));
    CHECK(std::any_of(r.begin(), r.end(), [&](const std::string& s) { return s == r.front(); }));
}

TEST_CASE("slot ring drops a popped slot's contents and moves", "[slot_ring]") {
    auto held = std::make_shared<int>(1);
    SlotRing<std::shared_ptr<int>> r;
    r.push_back(held);
    CHECK(held.use_count() == 2);
    r.pop_front();
    CHECK(held.use_count() == 1);
    r.push_back(held);
    SlotRing<std::shared_ptr<int>> moved = std::move(r);
    CHECK(r.empty());
    REQUIRE(moved.size() == 1);
    CHECK(moved.front() == held);
}

TEST_CASE("slot ring: the inline slot, growth past it, release when idle", "[slot_ring]") {
    auto held = std::make_shared<int>(1);
    SlotRing<std::shared_ptr<int>> r;
    // One at a time stays in the inline slot, however often.
    for (int i = 0; i < 10; ++i) {
        r.push_back(held);
        REQUIRE(r.size() == 1);
        r.pop_front();
    }
    CHECK(held.use_count() == 1);
    // A pipeline moves to the heap in order; the inline slot lets go of what it held.
    SlotRing<std::string> s;
    s.push_back("a");
    s.push_back("b");
    s.push_back("c");
    s.pop_front();
    for (int i = 0; i < 6; ++i) s.push_back(std::to_string(i));
    REQUIRE(s.size() == 8);
    CHECK(s.front() == "b");
    CHECK(s.back() == "5");
    // A moved inline ring keeps its element; release_if_empty only when empty.
    r.push_back(held);
    SlotRing<std::shared_ptr<int>> moved;
    moved = std::move(r);
    CHECK(held.use_count() == 2);
    REQUIRE(moved.size() == 1);
    moved.release_if_empty();
    CHECK(moved.front() == held);
    s.release_if_empty();
    CHECK(s.size() == 8);
    while (!s.empty()) s.pop_front();
    s.release_if_empty();
    s.push_back("x");
    s.push_back("y");
    CHECK(s.front() == "x");
    CHECK(s.back() == "y");
}
