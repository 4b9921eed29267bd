// One pool on one worker loop: the loop's copy of the pool's topology, its client sessions
// (SessionServices: shared links, registry, master switch, sweeps) and its listener. The
// control loop's Pool verifies the master and feeds every shard the same snapshots,
// measurements and settings through the worker's inbox; a shard only ever runs on its
// worker's thread, and answers the control loop with copies (ShardReport).
#pragma once

#include <uv.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "proxy/net/fd_limit.h"
#include "proxy/net/listener.h"
#include "proxy/sentinel/read_targets.h"
#include "proxy/sentinel/topology.h"
#include "proxy/session/session_services.h"
#include "proxy/worker/shard_report.h"

namespace sp::proxy {

// What a shard is built from, given by the control loop's Pool.
struct ShardPlan {
    config::Config config;
    // Sessions reporting that the master failed them: the control loop re-verifies. Called
    // on the worker's thread; it must hand the report over to the control loop itself.
    std::function<void(const NodeAddress&, const std::string&)> master_trouble;
    // A failover as this worker's sessions saw it (on the worker's thread): the control
    // loop merges the workers' marks into one failover_timeline line.
    std::function<void(const FailoverMarks&)> timeline;
    // The pool's clients across every worker (max_clients holds per pool, not per worker).
    ClientSeats* pool_seats = nullptr;
    // The pool's buffered bytes and held commands across every worker (limits.*).
    std::atomic<std::int64_t>* pool_buffered = nullptr;
    std::atomic<std::int64_t>* pool_held = nullptr;
    // The process's descriptor budget (every pool, every worker); read on any thread.
    const ClientBudget* budget = nullptr;
};

class PoolShard {
  public:
    PoolShard(uv_loop_t* loop, const ShardPlan& plan);
    ~PoolShard();
    PoolShard(const PoolShard&) = delete;
    PoolShard& operator=(const PoolShard&) = delete;

    // Listens on the pool's addresses; `reuse_port`: every worker binds its own socket on
    // the same address and the kernel spreads connections over them. Throws naming the
    // address.
    void start(bool reuse_port);

    // What the control loop hands over, in the order it happened there.
    void adopt(SnapshotPtr snap) { topology_.adopt(std::move(snap)); }
    void adopt_measurements(const ReadTargets& measured) {
        sessions_.context.read_targets().adopt_measurements(measured);
    }
    void replicas_assessed() { sessions_.registry.replicas_assessed(); }
    void replica_unusable(const NodeAddress& address) {
        sessions_.registry.replica_unusable(address);
    }
    void refresh_commands(const std::string& raw) { sessions_.context.refresh_commands(raw); }
    void set_hold_window_ms(std::uint32_t ms) { sessions_.context.set_hold_window_ms(ms); }
    void reconfigure(const config::Config& config) { sessions_.set_config(config); }

    // SIGTERM: stop accepting, close idle sessions; returns how many are still open.
    std::size_t drain();
    // Sessions still open after a drain pass (called until 0).
    std::size_t drain_step() { return sessions_.registry.drain(); }
    void close_all() { sessions_.registry.close_all(); }

    ShardReport report() const;

  private:
    void accept_client(Stream* stream);

    config::Config config_;
    Topology topology_;
    SessionServices sessions_;
    std::unique_ptr<Listener> listener_;
};

}  // namespace sp::proxy
