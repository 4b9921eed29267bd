// The data-plane workers, seen from the control loop: post to all of them, or ask each a
// question and wait for the answers. Asking blocks the control loop for at most one turn of
// each worker's loop (bounded by `timeout_ms`): it serves the admin pages and the drain,
// never a Sentinel event. A worker that does not answer in time is given as nullopt.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "proxy/worker/worker.h"

namespace sp::proxy {

class WorkerGroup {
  public:
    explicit WorkerGroup(unsigned count);

    std::size_t size() const { return workers_.size(); }
    Worker& operator[](std::size_t i) { return *workers_[i]; }

    // Starts every worker with the same plans; throws the first failure.
    void start(const std::vector<ShardPlan>& plans);
    void post_all(const std::function<void(Worker&)>& fn);

    template <class R>
    std::vector<std::optional<R>> ask(const std::function<R(Worker&)>& question,
                                      std::uint64_t timeout_ms);

    // Every worker's loop stops `flush_ms` from now (queued writes go out meanwhile).
    void stop_all(std::uint64_t flush_ms);
    // Waits up to `timeout_ms` in all for the workers' threads to end; false if one did not.
    bool join_all(std::uint64_t timeout_ms);

  private:
    std::vector<std::unique_ptr<Worker>> workers_;
};

template <class R>
std::vector<std::optional<R>> WorkerGroup::ask(const std::function<R(Worker&)>& question,
                                               std::uint64_t timeout_ms) {
    // Shared with the workers: one that answers after the wait gave up writes here, not
    // into freed memory.
    struct Answers {
        std::mutex mutex;
        std::condition_variable done;
        std::vector<std::optional<R>> values;
        std::size_t left = 0;
    };
    auto answers = std::make_shared<Answers>();
    answers->values.resize(workers_.size());
    answers->left = workers_.size();
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        const bool posted = workers_[i]->post([answers, i, question](Worker& w) {
            R value = question(w);
            std::lock_guard<std::mutex> lock(answers->mutex);
            answers->values[i] = std::move(value);
            if (--answers->left == 0) answers->done.notify_one();
        });
        if (!posted) {
            std::lock_guard<std::mutex> lock(answers->mutex);
            --answers->left;
        }
    }
    std::unique_lock<std::mutex> lock(answers->mutex);
    answers->done.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [&] { return answers->left == 0; });
    return answers->values;
}

}  // namespace sp::proxy
