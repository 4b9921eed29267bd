// What every client session of one pool on one loop shares and reads: the loop, the
// configuration, the command table, the shared backend links, the counters, the topology,
// the replicas reads may go to, and the memory the sessions hold together (limits.*).
// It decides nothing: sessions read it; SessionRegistry, MasterSwitch and SessionSweeps act.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "protocol/command_table.h"
#include "proxy/net/proxy_stats.h"
#include "proxy/sentinel/read_targets.h"
#include "proxy/sentinel/topology.h"
#include "proxy/session/shared_tally.h"

namespace sp::proxy {

class BackendPool;

class LoopContext {
  public:
    LoopContext(uv_loop_t* loop, const config::Config& config, Topology& topology);
    ~LoopContext();
    LoopContext(const LoopContext&) = delete;
    LoopContext& operator=(const LoopContext&) = delete;

    uv_loop_t* loop() const { return loop_; }
    const config::Config& config() const { return config_; }
    // SIGHUP: new credentials and shared-link counts reach the pool's links.
    void set_config(const config::Config& config);
    // The pool's hold window (configured, or derived from Sentinel's timings): new holds
    // use it.
    void set_hold_window_ms(std::uint32_t ms) { config_.hold_window_ms = ms; }
    // The shared backend connections of this loop.
    BackendPool& backend_pool() { return *pool_; }
    const BackendPool& backend_pool() const { return *pool_; }
    const protocol::CommandTable& commands() const { return commands_; }
    // Teaches the command table the master's own COMMAND reply (raw RESP2).
    void refresh_commands(const std::string& raw_command_reply);
    ProxyStats& stats() { return stats_; }
    const ProxyStats& stats() const { return stats_; }
    Topology& topology() { return topology_; }
    // The replicas reads may go to now (routing.read_from), as the ReplicaMonitor measures.
    ReadTargets& read_targets() { return read_targets_; }
    const ReadTargets& read_targets() const { return read_targets_; }

    // limits.memory_budget: every session reports what it holds; the total across the
    // pool's clients on every worker loop.
    void charge(std::int64_t delta) { buffered_.add(delta); }
    std::uint64_t buffered_bytes() const { return buffered_.total(); }
    // limits.max_held_total: commands held for a master now, across the pool's sessions on
    // every worker loop (exact: published at every change, which happens only in a hold).
    void charge_held(std::int64_t delta) { held_.add(delta); }
    std::uint64_t held_total() const { return held_.total(); }
    // This loop's part of the held commands (metrics add the loops' parts).
    std::uint64_t held_here() const { return held_.mine(); }
    // Several worker loops serve the pool: the totals above add their parts (SharedTally).
    void share_totals(std::atomic<std::int64_t>* buffered, std::atomic<std::int64_t>* held) {
        buffered_.share(buffered);
        held_.share(held);
    }

  private:
    uv_loop_t* loop_;
    config::Config config_;
    Topology& topology_;
    protocol::CommandTable commands_;
    std::unique_ptr<BackendPool> pool_;
    ProxyStats stats_;
    ReadTargets read_targets_;
    // A few buffered bytes more or less make no difference to a budget in MiB; a held
    // command does to max_held_total.
    SharedTally buffered_{64 * 1024};
    SharedTally held_{1};
};

}  // namespace sp::proxy
