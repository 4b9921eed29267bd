// One served master name: the Sentinel watcher that verifies it, the Topology it
// publishes to, the client sessions that follow it (SessionServices), and the Listener that
// accepts clients for it. A process runs one Pool per configured pool ("default" from
// the top-level keys, plus each [[pool]]); pools share the loop and nothing else.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "proxy/net/listener.h"
#include "proxy/sentinel/replica_monitor.h"
#include "proxy/sentinel/sentinel_timings.h"
#include "proxy/sentinel/sentinel_watcher.h"
#include "proxy/sentinel/topology.h"
#include "proxy/session/session_services.h"

namespace sp::proxy {

class Pool {
  public:
    Pool(uv_loop_t* loop, std::string name, const config::Config& config);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // Listens on the pool's addresses (throws std::runtime_error naming the address),
    // then starts following Sentinel.
    void start();
    // SIGHUP: sentinel list, credentials, timeouts and routing change in place; connected
    // clients stay. Listen addresses are kept (they change on restart only).
    void reconfigure(const config::Config& config);
    // SIGTERM/SIGINT: stop accepting and close sessions as they fall idle. Returns how
    // many sessions are still open.
    std::size_t drain();

    // Every pool's listener shares the process's client budget (file descriptors).
    void set_client_budget(const ClientBudget* budget) { listener_->set_client_budget(budget); }

    // Ready when the listener accepts (and was not short of file descriptors in the last
    // seconds) and a master is verified; else `reason` says why.
    bool ready(std::string& reason) const;

    const std::string& name() const { return name_; }
    const config::Config& config() const { return config_; }
    const Topology& topology() const { return *topology_; }
    const SentinelWatcher& watcher() const { return *watcher_; }
    const ReadTargets& read_targets() const { return sessions_->context.read_targets(); }
    SessionServices& sessions() { return *sessions_; }
    const SessionServices& sessions() const { return *sessions_; }
    const Listener& listener() const { return *listener_; }
    // The hold window in use, where it comes from, and Sentinel's timings (once known).
    const HoldWindow& hold_window() const { return hold_window_; }
    const std::optional<SentinelTimings>& sentinel_timings() const { return timings_; }

  private:
    void apply_hold_window();
    void accept_client(Stream* stream);

    std::string name_;
    config::Config config_;
    std::unique_ptr<Topology> topology_;
    std::unique_ptr<SessionServices> sessions_;
    std::unique_ptr<SentinelWatcher> watcher_;
    std::unique_ptr<ReplicaMonitor> replica_monitor_;
    std::unique_ptr<Listener> listener_;
    std::optional<SentinelTimings> timings_;
    HoldWindow hold_window_;
};

}  // namespace sp::proxy
