// The /metrics exposition: a prometheus-cpp registry (text format 0.0.4) brought up to
// date from each pool's loop-owned ProxyStats, topology and sentinel links at scrape
// time. Counters and histograms receive the increase since the previous scrape, so the
// data path only bumps plain integers and never calls into prometheus-cpp (whose
// histograms lock a mutex per observation).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/admin/admin_figures.h"
#include "proxy/net/proxy_stats.h"

namespace sp::proxy {

class Pool;

class Metrics {
  public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // Updates the registry from `pools` and what their shards on the workers answered
    // (`figures`, in the same order), at control-loop time `now_ms`, and renders it.
    std::string scrape(const std::vector<const Pool*>& pools, const AdminFigures& figures,
                       std::uint64_t now_ms);

    // A SIGHUP reload and its outcome (on the loop thread, seldom: no batching needed).
    void record_reload(bool succeeded);

  private:
    struct PoolSeries;
    PoolSeries& series_for(const Pool& pool);
    void update(const Pool& pool, const ShardReport& shards, PoolSeries& series,
                std::uint64_t now_ms);

    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Gauge>& connections_;
    prometheus::Family<prometheus::Counter>& connections_total_;
    prometheus::Family<prometheus::Counter>& connections_rejected_;
    prometheus::Family<prometheus::Counter>& accept_failures_;
    prometheus::Family<prometheus::Counter>& commands_;
    prometheus::Family<prometheus::Counter>& commands_by_route_;
    prometheus::Family<prometheus::Counter>& clients_closed_;
    prometheus::Family<prometheus::Histogram>& hold_wait_;
    prometheus::Family<prometheus::Histogram>& backend_latency_;
    prometheus::Family<prometheus::Counter>& bytes_;
    prometheus::Family<prometheus::Counter>& failovers_;
    prometheus::Family<prometheus::Gauge>& last_switch_;
    prometheus::Family<prometheus::Gauge>& master_verified_;
    prometheus::Family<prometheus::Gauge>& held_commands_;
    prometheus::Family<prometheus::Gauge>& master_info_;
    prometheus::Family<prometheus::Gauge>& sentinel_up_;
    prometheus::Family<prometheus::Gauge>& sentinels_;
    prometheus::Family<prometheus::Counter>& hold_releases_;
    prometheus::Family<prometheus::Gauge>& last_hold_;
    prometheus::Family<prometheus::Gauge>& replicas_eligible_;
    prometheus::Family<prometheus::Counter>& replica_reads_;
    prometheus::Family<prometheus::Gauge>& replica_lag_;
    prometheus::Family<prometheus::Gauge>& replica_eligible_;
    prometheus::Family<prometheus::Counter>& replica_skips_;
    prometheus::Family<prometheus::Counter>& replica_fallbacks_;
    prometheus::Family<prometheus::Gauge>& backend_connections_;
    prometheus::Family<prometheus::Counter>& backend_commands_;
    prometheus::Family<prometheus::Counter>& shared_writes_;
    prometheus::Family<prometheus::Gauge>& worker_clients_;
    prometheus::Gauge& process_open_fds_;
    prometheus::Gauge& process_max_fds_;
    prometheus::Gauge& process_resident_;
    prometheus::Counter& process_cpu_;
    prometheus::Gauge& process_start_;
    double cpu_seen_ = 0;
    prometheus::Family<prometheus::Gauge>& build_info_;
    prometheus::Family<prometheus::Counter>& reloads_;
    prometheus::Family<prometheus::Gauge>& last_reload_;
    std::map<std::string, std::unique_ptr<PoolSeries>> pools_;
};

}  // namespace sp::proxy
