// A pool's total that every worker loop adds to (limits.memory_budget's buffered bytes,
// limits.max_held_total's held commands). Each loop keeps its own part exactly and
// publishes it to the shared atomic only when it moved by `step` or more since the last
// publish, so the data path touches the shared cache line rarely, not per request. The
// total a loop sees is its own part, exact, plus the others' as last published: off by
// less than `step` per other loop. With one loop (no shared atomic) it is a plain number.
#pragma once

#include <atomic>
#include <cstdint>

namespace sp::proxy {

class SharedTally {
  public:
    explicit SharedTally(std::uint64_t step) : step_(step) {}

    // From now on the loop's part is added into `total` (shared with the other loops).
    void share(std::atomic<std::int64_t>* total) {
        shared_ = total;
        if (shared_) publish();
    }
    void add(std::int64_t delta) {
        mine_ += delta;
        if (shared_ && static_cast<std::uint64_t>(mine_ > published_ ? mine_ - published_
                                                                     : published_ - mine_) >= step_)
            publish();
    }
    // This loop's part.
    std::uint64_t mine() const { return static_cast<std::uint64_t>(mine_ < 0 ? 0 : mine_); }
    // Every loop's parts: this one exact, the others as last published.
    std::uint64_t total() const {
        if (!shared_) return mine();
        const std::int64_t t = shared_->load(std::memory_order_relaxed) - published_ + mine_;
        return static_cast<std::uint64_t>(t < 0 ? 0 : t);
    }

  private:
    void publish() {
        shared_->fetch_add(mine_ - published_, std::memory_order_relaxed);
        published_ = mine_;
    }

    std::uint64_t step_;
    std::int64_t mine_ = 0;
    std::int64_t published_ = 0;
    std::atomic<std::int64_t>* shared_ = nullptr;
};

}  // namespace sp::proxy
