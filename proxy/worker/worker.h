// One data-plane loop on its own thread: it owns a shard of every pool (listener, sessions,
// shared links) and runs nothing else. The control loop reaches it only through post();
// it reaches the control loop only through what its shards were given (ShardPlan).
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/net/tcp_stream.h"
#include "proxy/worker/loop_inbox.h"
#include "proxy/worker/pool_shard.h"
#include "proxy/worker/shard_report.h"

namespace sp::proxy {

class Worker {
  public:
    explicit Worker(unsigned id);
    // The thread is joined if it finished, else left to the process's exit.
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Starts the thread, builds one shard per plan and listens; returns once every shard
    // listens, or throws what failed (the thread has then ended).
    void start(const std::vector<ShardPlan>& plans, bool reuse_port);
    // Any thread: runs `fn` on this worker's loop, with its shards.
    bool post(std::function<void(Worker&)> fn);
    // On the worker's thread only.
    PoolShard& shard(std::size_t pool) { return *shards_[pool]; }
    std::size_t shards() const { return shards_.size(); }
    uv_loop_t* loop() { return &loop_; }
    unsigned id() const { return id_; }
    std::vector<ShardReport> report() const;

    // Any thread: queued writes get `flush_ms` to go out, then the loop stops.
    void stop(std::uint64_t flush_ms);
    // Waits up to `timeout_ms` for the thread to end; false if it did not.
    bool join(std::uint64_t timeout_ms);

  private:
    void run(const std::vector<ShardPlan>* plans, bool reuse_port, std::promise<void>* started);

    unsigned id_;
    uv_loop_t loop_;
    std::unique_ptr<LoopInbox> inbox_;
    std::vector<std::unique_ptr<PoolShard>> shards_;
    std::unique_ptr<Timer> stop_timer_;
    std::thread thread_;
    std::atomic<bool> finished_{false};
};

}  // namespace sp::proxy
