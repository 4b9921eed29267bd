// Decides, per loop, which topology snapshot each client session follows, and owns the
// sessions' lifetimes. On a switch to a new master it moves subscribed sessions first
// (they re-subscribe on the new master) and releases everyone else's held commands only
// when those subscriptions are confirmed (or after a short bound), so that messages
// published through the proxy during the switch reach the subscribers.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "protocol/command_table.h"
#include "proxy/net/proxy_stats.h"
#include "proxy/net/tcp_stream.h"
#include "proxy/sentinel/read_targets.h"
#include "proxy/sentinel/topology.h"

namespace sp::proxy {

class BackendPool;
class ClientSession;

class Router {
  public:
    Router(uv_loop_t* loop, const config::Config& config, Topology& topology);
    ~Router();

    uv_loop_t* loop() const { return loop_; }
    const config::Config& config() const { return config_; }
    void set_config(const config::Config& config);
    // The pool's hold window (configured, or derived from Sentinel's timings): new holds
    // use it.
    void set_hold_window_ms(std::uint32_t ms) { config_.hold_window_ms = ms; }
    // The shared backend connections of this loop.
    BackendPool& backend_pool() { return *pool_; }
    const protocol::CommandTable& commands() const { return commands_; }
    // Teaches the command table the master's own COMMAND reply (raw RESP2).
    void refresh_commands(const std::string& raw_command_reply);
    ProxyStats& stats() { return stats_; }
    const ProxyStats& stats() const { return stats_; }
    Topology& topology() { return topology_; }
    // The replicas reads may go to now (routing.read_from), as the ReplicaMonitor measures.
    ReadTargets& read_targets() { return read_targets_; }
    const ReadTargets& read_targets() const { return read_targets_; }
    // A replica left rotation: sessions with reads in flight there re-send them.
    void replica_unusable(const NodeAddress& address);
    // routing.read_from = replica: a session holds a read until some replica is eligible;
    // each round of replica measurements lets the waiting sessions try again.
    void wait_for_replica(ClientSession* s) { replica_waiters_.insert(s); }
    void replicas_assessed();

    // The snapshot a session should act on now.
    const SnapshotPtr& snapshot(bool subscribed) const {
        return subscribed ? sub_snap_ : main_snap_;
    }

    void add(ClientSession* s);
    // Called by a session that closed itself; it is deleted on the next loop turn, never
    // inside the callback that closed it.
    void retire(ClientSession* s);
    // A subscribed session finished re-subscribing on the new master.
    void subscriber_moved(ClientSession* s);
    std::size_t sessions() const { return sessions_.size(); }
    // limits.memory_budget: every session reports what it holds; the total across clients.
    void charge(std::int64_t delta) { buffered_bytes_ += delta; }
    std::uint64_t buffered_bytes() const { return buffered_bytes_; }
    // A session whose output is at its soft limit (on) or no longer (off): the output sweep
    // checks only those, every kOutputSweepMs, while there are any.
    void watch_output(ClientSession* s, bool on);
    // limits.max_held_total: commands held for a master now, across the pool's sessions.
    void charge_held(std::int64_t delta) { held_total_ += delta; }
    std::uint64_t held_total() const { return held_total_; }
    // Backend connections (metrics): the pool's shared ones, the sessions' own.
    std::size_t shared_links() const;
    std::size_t dedicated_links() const;
    std::uint64_t shared_writes() const;
    void close_all();

    // Shutdown drain: from now on every session closes as soon as it owes the client
    // nothing. Returns how many sessions are still open.
    std::size_t drain();
    bool draining() const { return draining_; }

    // A session stopped holding after `ms`: feeds the hold histogram and the failover
    // timeline's longest hold.
    void held_for(std::uint64_t ms);
    // Loop time the verified master last changed identity (0: never verified).
    std::uint64_t last_switch_ms() const { return last_switch_ms_; }

  private:
    void on_snapshot(const SnapshotPtr& snap);
    void release_everyone();
    void reap();
    void log_failover_timeline();

    uv_loop_t* loop_;
    config::Config config_;
    Topology& topology_;
    protocol::CommandTable commands_;
    std::unique_ptr<BackendPool> pool_;
    ProxyStats stats_;
    ReadTargets read_targets_;
    std::size_t topology_sub_ = 0;
    SnapshotPtr main_snap_;
    SnapshotPtr sub_snap_;
    std::unordered_set<ClientSession*> sessions_;
    std::unordered_set<ClientSession*> moving_subscribers_;
    std::unordered_set<ClientSession*> replica_waiters_;
    std::vector<ClientSession*> retired_;
    std::uint64_t switch_started_ms_ = 0;
    std::uint64_t last_switch_ms_ = 0;
    std::optional<NodeAddress> last_master_;  // last verified master, kept through holds
    bool draining_ = false;
    std::uint64_t buffered_bytes_ = 0;
    std::uint64_t held_total_ = 0;
    // The failover timeline, logged once the switch has settled.
    struct Timeline {
        std::uint64_t hold_ms = 0;  // first snapshot without a master (0: no hold seen)
        std::string hold_reason;
        std::optional<NodeAddress> from;
        std::uint64_t verified_ms = 0;
        std::uint64_t subscribers_moved_ms = 0;
        std::size_t subscribers = 0;
        std::uint64_t released_ms = 0;
        std::size_t released_sessions = 0;
        std::uint64_t longest_hold_ms = 0;
    } timeline_;
    Timer release_timer_;
    Timer reap_timer_;
    Timer timeline_timer_;
    std::unordered_set<ClientSession*> output_watch_;
    Timer output_timer_;
    void sweep_output_limits();
    Timer sweep_timer_;  // command timeout checks (timeouts.command_ms)
    Timer trim_timer_;   // idle sessions give back their reply rings (kTrimIdleMs)
    void trim_idle_sessions();
    void sweep_command_timeouts();
    void schedule_sweep();
};

}  // namespace sp::proxy
