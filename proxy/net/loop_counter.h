// A number one loop thread writes and any thread may read (issue 24): a worker loop bumps
// its ProxyStats per command and per byte while the control loop reads them at scrape time.
// A plain integer read across threads is a data race; an atomic incremented with fetch_add
// costs a locked instruction per request. One writer needs neither: a relaxed load and a
// relaxed store is a correct increment when no other thread stores, and compiles to plain
// moves and an add (no lock prefix). Readers see a recent value, never a torn one.
//
// Only the owning loop's thread may modify it. A copy is a snapshot of the value (the
// metrics exporter keeps the last scrape's values that way).
#pragma once

#include <atomic>
#include <cstdint>

namespace sp::proxy {

template <typename T>
class LoopValue {
  public:
    constexpr LoopValue(T value = T{}) noexcept : value_(value) {}  // NOLINT: implicit
    LoopValue(const LoopValue& other) noexcept : value_(other.value()) {}
    LoopValue& operator=(const LoopValue& other) noexcept {
        value_.store(other.value(), std::memory_order_relaxed);
        return *this;
    }

    T value() const noexcept { return value_.load(std::memory_order_relaxed); }
    operator T() const noexcept { return value(); }  // NOLINT: reads like the number

    // The owning loop's thread only.
    LoopValue& operator+=(T n) noexcept {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        return *this;
    }
    LoopValue& operator++() noexcept { return *this += T{1}; }
    T operator++(int) noexcept {
        const T before = value();  // one load: g++ does not merge two relaxed loads
        value_.store(before + T{1}, std::memory_order_relaxed);
        return before;
    }

  private:
    std::atomic<T> value_;
};

using LoopCounter = LoopValue<std::uint64_t>;
using LoopSum = LoopValue<double>;

}  // namespace sp::proxy
