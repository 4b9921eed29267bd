#include "proxy/pool.h"

#include <spdlog/spdlog.h>

#include "proxy/net/log_event.h"
#include "proxy/session/client_session.h"

namespace sp::proxy {

Pool::Pool(uv_loop_t* loop, std::string name, const config::Config& config)
    : name_(std::move(name)),
      config_(config),
      topology_(std::make_unique<Topology>()),
      sessions_(std::make_unique<SessionServices>(loop, config_, *topology_)),
      watcher_(std::make_unique<SentinelWatcher>(loop, config_, *topology_)),
      replica_monitor_(std::make_unique<ReplicaMonitor>(
          loop, config_, *topology_, sessions_->context.read_targets(),
          [this](const NodeAddress& a) { sessions_->registry.replica_unusable(a); },
          [this] { sessions_->registry.replicas_assessed(); })),
      listener_(std::make_unique<Listener>(
          loop, sessions_->context.config(), sessions_->context.stats(),
          Listener::Clients{[this] { return sessions_->registry.size(); },
                            [this](Stream* stream) { accept_client(stream); }})) {
    watcher_->on_command_table(
        [this](const std::string& raw) { sessions_->context.refresh_commands(raw); });
    watcher_->on_timings([this](const SentinelTimings& t) {
        timings_ = t;
        apply_hold_window();
    });
    hold_window_ = derive_hold_window(config_, timings_);
}

// The listener's accept callback: the client's stream becomes a session of this pool.
void Pool::accept_client(Stream* stream) {
    auto* session = new ClientSession(*sessions_, stream);
    stream->set_handler(session->as_handler());
    sessions_->registry.add(session);
    session->start();
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
    sessions_->context.set_hold_window_ms(w.ms);
}

// Members go in reverse order: the listener first, the topology last.
Pool::~Pool() = default;

void Pool::start() {
    listener_->start(config_.listen, config_.tls_listen);
    log_event(spdlog::level::info, log_context(name_, config_.master_name, "pool_started"),
              "pool {}: following master '{}' via {} sentinel(s), read_from {}", name_,
              config_.master_name, config_.sentinels.size(),
              config::read_routing_name(config_.read_routing));
    watcher_->start();
    replica_monitor_->start();
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
    sessions_->set_config(config_);
    replica_monitor_->reconfigure(config_);
    const HoldWindow before = hold_window_;
    const HoldWindow after = derive_hold_window(config_, timings_);
    if (after.ms != before.ms || after.source != before.source)
        apply_hold_window();
    else
        sessions_->context.set_hold_window_ms(hold_window_.ms);
}

std::size_t Pool::drain() {
    listener_->stop();
    return sessions_->registry.drain();
}

bool Pool::ready(std::string& reason) const {
    if (!listener_->listening()) {
        reason = "pool " + name_ + ": not accepting connections";
        return false;
    }
    if (listener_->fd_shortage()) {
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
    const SnapshotPtr& snap = topology_->current();
    if (!snap->master && sessions_->master_switch.last_switch_ms() == 0) {
        reason = "pool " + name_ + ": no verified master for '" + config_.master_name +
                 "' since start" +
                 (snap->hold_reason.empty() ? std::string() : " (" + snap->hold_reason + ")");
        return false;
    }
    return true;
}

}  // namespace sp::proxy
