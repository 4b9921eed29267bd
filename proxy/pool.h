// One served master name, on the control loop: the Sentinel watcher that verifies it, the
// Topology it publishes to, the replica monitor, and the fan-out that hands every snapshot,
// measurement and setting to the pool's shard on each worker loop (proxy/worker), where
// its listener and client sessions live. A process runs one Pool per configured pool
// ("default" from the top-level keys, plus each [[pool]]); pools share the loops and
// nothing else.
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "proxy/net/fd_limit.h"
#include "proxy/sentinel/read_targets.h"
#include "proxy/sentinel/replica_monitor.h"
#include "proxy/sentinel/sentinel_timings.h"
#include "proxy/sentinel/sentinel_watcher.h"
#include "proxy/sentinel/topology.h"
#include "proxy/worker/loop_inbox.h"
#include "proxy/worker/pool_shard.h"
#include "proxy/worker/shard_report.h"
#include "proxy/worker/timeline_merge.h"
#include "proxy/worker/worker_group.h"

namespace sp::proxy {

class Pool {
  public:
    // `control`: the control loop's inbox, where the shards' reports to the watcher go.
    Pool(uv_loop_t* loop, LoopInbox& control, std::string name, const config::Config& config);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // What each worker builds its shard of this pool from.
    ShardPlan shard_plan(const ClientBudget* budget);
    // The pool is shard `index` of every worker in `workers` (started): from now on they
    // follow this pool's topology.
    void attach(WorkerGroup& workers, std::size_t index);
    // Starts following Sentinel (the shards already listen).
    void start();
    // SIGHUP: sentinel list, credentials, timeouts and routing change in place; connected
    // clients stay. Listen addresses are kept (they change on restart only).
    void reconfigure(const config::Config& config);

    // Ready when the shards accept (and were not short of file descriptors in the last
    // seconds) and a master is verified; else `reason` says why. `figures`: the shards'.
    bool ready(const PoolFigures& figures, std::string& reason) const;

    const std::string& name() const { return name_; }
    const config::Config& config() const { return config_; }
    const Topology& topology() const { return topology_; }
    const SentinelWatcher& watcher() const { return *watcher_; }
    // The replica monitor's measurements (the shards read copies).
    const ReadTargets& read_targets() const { return read_targets_; }
    // The pool's clients on every worker.
    std::size_t clients() const { return seats_.taken(); }
    // The hold window in use, where it comes from, and Sentinel's timings (once known).
    const HoldWindow& hold_window() const { return hold_window_; }
    const std::optional<SentinelTimings>& sentinel_timings() const { return timings_; }

  private:
    void apply_hold_window();
    void to_shards(std::function<void(PoolShard&)> fn);
    void publish_measurements();

    uv_loop_t* loop_;
    LoopInbox& control_;
    std::string name_;
    config::Config config_;
    Topology topology_;
    ReadTargets read_targets_;
    std::unique_ptr<SentinelWatcher> watcher_;
    std::unique_ptr<ReplicaMonitor> replica_monitor_;
    TimelineMerge timeline_;
    WorkerGroup* workers_ = nullptr;
    std::size_t index_ = 0;
    ClientSeats seats_;
    std::atomic<std::int64_t> buffered_{0};
    std::atomic<std::int64_t> held_{0};
    bool verified_once_ = false;
    std::optional<SentinelTimings> timings_;
    HoldWindow hold_window_;
};

}  // namespace sp::proxy
