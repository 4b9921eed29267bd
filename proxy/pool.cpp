#include "proxy/pool.h"

#include <spdlog/spdlog.h>

#include "proxy/net/log_event.h"

namespace sp::proxy {

Pool::Pool(uv_loop_t* loop, LoopInbox& control, std::string name, const config::Config& config)
    : loop_(loop),
      control_(control),
      name_(std::move(name)),
      config_(config),
      watcher_(std::make_unique<SentinelWatcher>(loop, config_, topology_)),
      replica_monitor_(std::make_unique<ReplicaMonitor>(
          loop, config_, topology_, read_targets_,
          [this](const NodeAddress& a) {
              publish_measurements();
              to_shards([a](PoolShard& shard) { shard.replica_unusable(a); });
          },
          [this] {
              publish_measurements();
              to_shards([](PoolShard& shard) { shard.replicas_assessed(); });
          })),
      timeline_(loop, name_, config_.master_name) {
    watcher_->on_command_table([this](const std::string& raw) {
        to_shards([raw](PoolShard& shard) { shard.refresh_commands(raw); });
    });
    watcher_->on_timings([this](const SentinelTimings& t) {
        timings_ = t;
        apply_hold_window();
    });
    hold_window_ = derive_hold_window(config_, timings_);
}

ShardPlan Pool::shard_plan(const ClientBudget* budget) {
    ShardPlan plan;
    plan.config = config_;
    // On a worker's thread: the report crosses to the control loop, where the watcher is.
    plan.master_trouble = [this](const NodeAddress& addr, const std::string& why) {
        control_.post([this, addr, why] { topology_.report_master_trouble(addr, why); });
    };
    plan.timeline = [this](const FailoverMarks& marks) {
        control_.post([this, marks] { timeline_.add(marks); });
    };
    plan.pool_seats = &seats_;
    plan.pool_buffered = &buffered_;
    plan.pool_held = &held_;
    plan.budget = budget;
    return plan;
}

void Pool::attach(WorkerGroup& workers, std::size_t index) {
    workers_ = &workers;
    index_ = index;
    timeline_.expect(workers.size());
    // Every snapshot goes to every shard as published, in order: a shard never sees an
    // older snapshot after a newer one, and measurements arrive after the snapshot they
    // were taken under.
    topology_.subscribe([this](const SnapshotPtr& snap) {
        if (snap->master) verified_once_ = true;
        to_shards([snap](PoolShard& shard) { shard.adopt(snap); });
    });
}

void Pool::to_shards(std::function<void(PoolShard&)> fn) {
    if (!workers_) return;
    const std::size_t index = index_;
    workers_->post_all([index, fn](Worker& w) { fn(w.shard(index)); });
}

// One copy per round, shared read-only by every shard.
void Pool::publish_measurements() {
    auto measured = std::make_shared<const ReadTargets>(read_targets_);
    to_shards([measured](PoolShard& shard) { shard.adopt_measurements(*measured); });
}

// The hold window follows Sentinel's timings unless timeouts.hold_window_ms says otherwise
// (docs/operations.md, "Timings"); logged whenever it or Sentinel's timings change.
void Pool::apply_hold_window() {
    const HoldWindow w = derive_hold_window(config_, timings_);
    const std::string sentinel =
        timings_ ? "Sentinel's timings for '" + config_.master_name + "': " + timings_->describe() +
                       " (a failover can take up to " + std::to_string(w.failover_ms) + " ms)"
                 : "Sentinel's timings not known yet";
    if (w.source == HoldWindow::Source::configured && timings_ && w.ms < w.failover_ms)
        spdlog::warn(
            "pool {}: timeouts.hold_window_ms = {} is shorter than Sentinel can fail over in; {}. "
            "Held clients are closed before the new master is known: remove the setting to "
            "follow Sentinel, or lower down-after-milliseconds",
            name_, w.ms, sentinel);
    else
        spdlog::info("pool {}: hold window {} ms ({}); {}", name_, w.ms,
                     w.source == HoldWindow::Source::derived
                         ? "derived: down-after-milliseconds + " +
                               std::to_string(failover_allowance_ms(*timings_)) +
                               " ms failover allowance, at least 10000"
                         : std::string(w.source_name()),
                     sentinel);
    hold_window_ = w;
    to_shards([ms = w.ms](PoolShard& shard) { shard.set_hold_window_ms(ms); });
}

// The monitor and the watcher go before the topology they publish to.
Pool::~Pool() {
    replica_monitor_.reset();
    watcher_.reset();
}

void Pool::start() {
    log_event(spdlog::level::info, log_context(name_, config_.master_name, "pool_started"),
              "pool {}: following master '{}' via {} sentinel(s), read_from {}", name_,
              config_.master_name, config_.sentinels.size(),
              config::read_routing_name(config_.read_routing));
    watcher_->start();
    replica_monitor_->start();
    // After the monitor's own listener (listeners run in subscription order): a snapshot
    // that drops replicas Sentinel flags down changes the measurements without a round of
    // them, and no shard may keep reading from a replica the monitor no longer lists.
    topology_.subscribe([this](const SnapshotPtr&) { publish_measurements(); });
}

void Pool::reconfigure(const config::Config& config) {
    config::Config next = config;
    if (next.listen != config_.listen) {
        spdlog::warn("reload: pool {}: listen addresses changed; they take effect on restart only",
                     name_);
        next.listen = config_.listen;
    }
    if (next.tls_listen != config_.tls_listen) {
        spdlog::warn(
            "reload: pool {}: TLS listen addresses changed; they take effect on restart only",
            name_);
        next.tls_listen = config_.tls_listen;
    }
    if (next.master_name != config_.master_name) {
        spdlog::warn("reload: pool {}: master name changed; it takes effect on restart only",
                     name_);
        next.master_name = config_.master_name;
    }
    config_ = next;
    watcher_->reconfigure(config_);
    to_shards([next](PoolShard& shard) { shard.reconfigure(next); });
    replica_monitor_->reconfigure(config_);
    const HoldWindow before = hold_window_;
    const HoldWindow after = derive_hold_window(config_, timings_);
    if (after.ms != before.ms || after.source != before.source)
        apply_hold_window();
    else
        to_shards([ms = hold_window_.ms](PoolShard& shard) { shard.set_hold_window_ms(ms); });
}

bool Pool::ready(const PoolFigures& figures, std::string& reason) const {
    if (!figures.total.listening) {
        reason = "pool " + name_ + ": not accepting connections";
        return false;
    }
    if (figures.total.fd_shortage) {
        reason = "pool " + name_ +
                 ": out of file descriptors (accepting clients failed in the last seconds)";
        return false;
    }
    // A proxy that cannot see a sentinel majority cannot follow a failover: past a short
    // bound it sends new clients elsewhere (issue 20). Checked before the master: it
    // applies whether the master is kept or held.
    const std::uint64_t without = watcher_->without_majority_ms();
    if (without && without >= config_.unready_without_majority_ms) {
        reason = "pool " + name_ + ": no sentinel majority for " + std::to_string(without) +
                 " ms (" + watcher_->last_vote().describe() + ")";
        return false;
    }
    // Ready once a master was verified since start. A later hold (a failover) keeps the
    // pod ready: every proxy pod sees the same failover, so going unready would take all
    // endpoints out together and refuse new connections, which is exactly what holding
    // commands (for at most timeouts.hold_window_ms per client) exists to avoid.
    const SnapshotPtr& snap = topology_.current();
    if (!snap->master && !verified_once_) {
        reason = "pool " + name_ + ": no verified master for '" + config_.master_name +
                 "' since start" +
                 (snap->hold_reason.empty() ? std::string() : " (" + snap->hold_reason + ")");
        return false;
    }
    return true;
}

}  // namespace sp::proxy
