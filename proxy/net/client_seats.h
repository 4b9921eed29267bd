// A pool's client count, shared by every worker loop's listener. A seat is taken at accept
// with one compare-and-swap against max_clients, so listeners accepting on two workers at
// once can never admit more than max_clients between them (a separate "count, then add"
// let both pass the check). The session that gets the accepted stream keeps the seat and
// gives it back when it closes.
#pragma once

#include <atomic>
#include <cstddef>

namespace sp::proxy {

class ClientSeats {
  public:
    // False, leaving the count alone, when `max` seats are already taken.
    bool take(std::size_t max) {
        std::size_t n = taken_.load(std::memory_order_relaxed);
        do {
            if (n >= max) return false;
        } while (!taken_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
        return true;
    }
    void give_back() { taken_.fetch_sub(1, std::memory_order_relaxed); }
    std::size_t taken() const { return taken_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::size_t> taken_{0};
};

}  // namespace sp::proxy
