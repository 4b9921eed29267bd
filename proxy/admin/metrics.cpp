#include "proxy/admin/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>

#include "proxy/admin/process_stats.h"
#include "proxy/admin/tls_metrics.h"
#include "proxy/backend/backend_pool.h"
#include "proxy/pool.h"
#include "version.h"

namespace sp::proxy {

namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;

template <typename LoopHistogramT>
Histogram::BucketBoundaries seconds_bounds() {
    Histogram::BucketBoundaries b;
    for (double ms : LoopHistogramT::kBoundsMs) b.push_back(ms / 1000.0);
    return b;
}

// Hands a loop-owned counter's increase since the last scrape to a Prometheus counter.
struct CounterFeed {
    Counter* counter = nullptr;
    std::uint64_t seen = 0;
    void feed(std::uint64_t now) {
        if (now > seen) counter->Increment(static_cast<double>(now - seen));
        seen = now;
    }
};

template <typename LoopHistogramT>
struct HistogramFeed {
    Histogram* histogram = nullptr;
    LoopHistogramT seen;
    void feed(const LoopHistogramT& now) {
        std::vector<double> increments(now.counts.size());
        bool any = false;
        for (std::size_t i = 0; i < now.counts.size(); ++i) {
            increments[i] = static_cast<double>(now.counts[i] - seen.counts[i]);
            any = any || increments[i] > 0;
        }
        if (any) histogram->ObserveMultiple(increments, (now.sum_ms - seen.sum_ms) / 1000.0);
        seen = now;
    }
};

}  // namespace

struct Metrics::PoolSeries {
    Gauge* connections = nullptr;
    CounterFeed connections_total, connections_rejected;
    CounterFeed accept_fd_limit, accept_other;
    CounterFeed forwarded, held, resent, failed, streamed;
    CounterFeed route_master, route_replica;
    CounterFeed closed_unknown_outcome, closed_hold_timeout, closed_query_buffer;
    CounterFeed closed_output_buffer;
    CounterFeed bytes_in, bytes_out;
    CounterFeed failovers;
    HistogramFeed<HoldHistogram> hold_wait;
    HistogramFeed<LatencyHistogram> backend_latency;
    Gauge* last_switch = nullptr;  // absent until the first verification
    Gauge* master_verified = nullptr;
    Gauge* held_commands = nullptr;
    Gauge* replicas_eligible = nullptr;
    Gauge* links_shared = nullptr;
    Gauge* links_dedicated = nullptr;
    CounterFeed commands_shared, commands_dedicated, shared_writes;
    Gauge* sentinels_up = nullptr;
    Gauge* sentinels_down = nullptr;
    CounterFeed released_early, released_majority;
    Gauge* last_hold_early = nullptr;
    Gauge* last_hold_majority = nullptr;
    Gauge* early_window = nullptr;
    Gauge* master_info = nullptr;
    std::string master_info_key;                // labels of master_info, to notice a change
    std::map<std::string, Gauge*> sentinel_up;  // "host:port" -> series
    struct Replica {
        CounterFeed reads;
        Gauge* lag = nullptr;
        Gauge* eligible = nullptr;
    };
    std::map<std::string, Replica> replicas;  // "host:port" -> series
    std::vector<CounterFeed> skips;           // by SkipReason
    CounterFeed ryw_fallbacks, no_replica_fallbacks;
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      connections_(prometheus::BuildGauge()
                       .Name("sentinel_proxy_client_connections_active")
                       .Help("Client connections open now")
                       .Register(*registry_)),
      connections_total_(prometheus::BuildCounter()
                             .Name("sentinel_proxy_client_connections_total")
                             .Help("Client connections accepted")
                             .Register(*registry_)),
      connections_rejected_(prometheus::BuildCounter()
                                .Name("sentinel_proxy_client_connections_rejected_total")
                                .Help("Client connections refused with \"max number of "
                                      "clients reached\": at proxy.max_clients, or out of "
                                      "file descriptors")
                                .Register(*registry_)),
      accept_failures_(prometheus::BuildCounter()
                           .Name("sentinel_proxy_accept_failures_total")
                           .Help("accept() failures on the client listener, by reason "
                                 "(fd_limit: EMFILE/ENFILE/ENOBUFS/ENOMEM; other)")
                           .Register(*registry_)),
      commands_(prometheus::BuildCounter()
                    .Name("sentinel_proxy_commands_total")
                    .Help("Client commands by outcome: forwarded to Redis; held (a command "
                          "that had to wait for a verified master, or with read_from = replica "
                          "for an eligible replica); resent after "
                          "READONLY/UNBLOCKED or a lost link; failed (lost when the proxy "
                          "closed the client: hold timeout or unknown write outcome); "
                          "streamed (of the forwarded, a big bulk sent as it arrived)")
                    .Register(*registry_)),
      commands_by_route_(prometheus::BuildCounter()
                             .Name("sentinel_proxy_commands_routed_total")
                             .Help("Client commands forwarded, by destination (master/replica)")
                             .Register(*registry_)),
      clients_closed_(
          prometheus::BuildCounter()
              .Name("sentinel_proxy_clients_closed_total")
              .Help("Client connections the proxy closed, by reason: during a failover, "
                    "or at a client limit")
              .Register(*registry_)),
      hold_wait_(prometheus::BuildHistogram()
                     .Name("sentinel_proxy_hold_wait_seconds")
                     .Help("How long a session held commands waiting for a verified master")
                     .Register(*registry_)),
      backend_latency_(prometheus::BuildHistogram()
                           .Name("sentinel_proxy_backend_latency_seconds")
                           .Help("Command sent to Redis until its reply (blocking commands "
                                 "excluded; microsecond resolution)")
                           .Register(*registry_)),
      bytes_(prometheus::BuildCounter()
                 .Name("sentinel_proxy_client_bytes_total")
                 .Help("Bytes read from (in) and written to (out) clients")
                 .Register(*registry_)),
      failovers_(prometheus::BuildCounter()
                     .Name("sentinel_proxy_failovers_total")
                     .Help("Times the verified master changed to another node")
                     .Register(*registry_)),
      last_switch_(prometheus::BuildGauge()
                       .Name("sentinel_proxy_last_master_switch_timestamp_seconds")
                       .Help("When the verified master last changed (first verification "
                             "included), Unix time; absent before any")
                       .Register(*registry_)),
      master_verified_(prometheus::BuildGauge()
                           .Name("sentinel_proxy_master_verified")
                           .Help("1 while a master is verified, 0 while commands are held")
                           .Register(*registry_)),
      held_commands_(prometheus::BuildGauge()
                         .Name("sentinel_proxy_held_commands")
                         .Help("Client commands held now, waiting for a verified master "
                               "(bounded by limits.max_held_per_client and max_held_total)")
                         .Register(*registry_)),
      master_info_(prometheus::BuildGauge()
                       .Name("sentinel_proxy_master_info")
                       .Help("The verified master (1), by address; absent while none")
                       .Register(*registry_)),
      sentinel_up_(prometheus::BuildGauge()
                       .Name("sentinel_proxy_sentinel_up")
                       .Help("1 while the query link to this sentinel is connected")
                       .Register(*registry_)),
      sentinels_(prometheus::BuildGauge()
                     .Name("sentinel_proxy_sentinel_links")
                     .Help("Sentinel query links by state (up/down)")
                     .Register(*registry_)),
      hold_releases_(prometheus::BuildCounter()
                         .Name("sentinel_proxy_hold_releases_total")
                         .Help("Holds of a failover ended, by path: early_promotion (the "
                               "promoted replica, failover.follow_promotion) or majority")
                         .Register(*registry_)),
      last_hold_(prometheus::BuildGauge()
                     .Name("sentinel_proxy_last_hold_seconds")
                     .Help("How long the last hold lasted, labelled with the path that ended it; "
                           "kind=early_window: from an early release to the majority's switch")
                     .Register(*registry_)),
      replicas_eligible_(prometheus::BuildGauge()
                             .Name("sentinel_proxy_replicas_eligible")
                             .Help("Replicas Sentinel reports for the verified master (eligible "
                                   "for reads with routing.read_from = replica-preferred)")
                             .Register(*registry_)),
      replica_reads_(prometheus::BuildCounter()
                         .Name("sentinel_proxy_replica_reads_total")
                         .Help("Reads sent to each replica (routing.read_from)")
                         .Register(*registry_)),
      replica_lag_(prometheus::BuildGauge()
                       .Name("sentinel_proxy_replica_lag_seconds")
                       .Help("Replication lag of each replica, measured by the proxy from "
                             "offsets every 100 ms")
                       .Register(*registry_)),
      replica_eligible_(prometheus::BuildGauge()
                            .Name("sentinel_proxy_replica_eligible")
                            .Help("1 while the proxy reads from this replica")
                            .Register(*registry_)),
      replica_skips_(prometheus::BuildCounter()
                         .Name("sentinel_proxy_replica_skips_total")
                         .Help("Times a replica was taken out of read rotation, by reason")
                         .Register(*registry_)),
      replica_fallbacks_(prometheus::BuildCounter()
                             .Name("sentinel_proxy_replica_read_fallbacks_total")
                             .Help("Replica-eligible reads sent to the master: read_your_writes "
                                   "(the client's write not yet on an eligible replica) or "
                                   "no_replica (none eligible)")
                             .Register(*registry_)),
      backend_connections_(prometheus::BuildGauge()
                               .Name("sentinel_proxy_backend_connections")
                               .Help("Connections to Redis by kind: shared (pipelined, many "
                                     "clients) or dedicated (one client whose state needs it)")
                               .Register(*registry_)),
      backend_commands_(prometheus::BuildCounter()
                            .Name("sentinel_proxy_backend_commands_total")
                            .Help("Client commands forwarded, by kind of backend connection")
                            .Register(*registry_)),
      shared_writes_(prometheus::BuildCounter()
                         .Name("sentinel_proxy_shared_link_writes_total")
                         .Help("Loop turns that wrote to shared links; commands_total{link="
                               "\"shared\"} over this is the mean batch size")
                         .Register(*registry_)),
      worker_clients_(prometheus::BuildGauge()
                          .Name("sentinel_proxy_worker_clients")
                          .Help("Client connections served by each worker loop (every pool)")
                          .Register(*registry_)),
      process_open_fds_(prometheus::BuildGauge()
                            .Name("process_open_fds")
                            .Help("Open file descriptors")
                            .Register(*registry_)
                            .Add({})),
      process_max_fds_(prometheus::BuildGauge()
                           .Name("process_max_fds")
                           .Help("Soft limit on open file descriptors (RLIMIT_NOFILE)")
                           .Register(*registry_)
                           .Add({})),
      process_resident_(prometheus::BuildGauge()
                            .Name("process_resident_memory_bytes")
                            .Help("Resident memory size in bytes")
                            .Register(*registry_)
                            .Add({})),
      process_cpu_(prometheus::BuildCounter()
                       .Name("process_cpu_seconds_total")
                       .Help("User and system CPU time spent, in seconds")
                       .Register(*registry_)
                       .Add({})),
      process_start_(prometheus::BuildGauge()
                         .Name("process_start_time_seconds")
                         .Help("Start time of the process since the Unix epoch, in seconds")
                         .Register(*registry_)
                         .Add({})),
      build_info_(prometheus::BuildGauge()
                      .Name("sentinel_proxy_build_info")
                      .Help("Always 1; the version as a label")
                      .Register(*registry_)),
      reloads_(prometheus::BuildCounter()
                   .Name("sentinel_proxy_config_reloads_total")
                   .Help("Configuration reloads (SIGHUP) by outcome: success or failure (the "
                         "running configuration kept)")
                   .Register(*registry_)),
      last_reload_(prometheus::BuildGauge()
                       .Name("sentinel_proxy_config_last_reload_timestamp_seconds")
                       .Help("When the last reload with this outcome happened, since the Unix "
                             "epoch; 0: none yet")
                       .Register(*registry_)) {
    build_info_.Add({{"version", SENTINEL_PROXY_VERSION}}).Set(1);
    for (const char* outcome : {"success", "failure"}) {
        reloads_.Add({{"outcome", outcome}});  // both series exist from the start, at 0
        last_reload_.Add({{"outcome", outcome}}).Set(0);
    }
    process_start_.Set(process_start_seconds());
}

Metrics::~Metrics() = default;

Metrics::PoolSeries& Metrics::series_for(const Pool& pool) {
    auto& slot = pools_[pool.name()];
    if (slot) return *slot;
    slot = std::make_unique<PoolSeries>();
    PoolSeries& s = *slot;
    const std::string& name = pool.name();
    auto with = [&name](Labels extra) {
        extra.emplace("pool", name);
        return extra;
    };
    s.connections = &connections_.Add(with({}));
    s.connections_total.counter = &connections_total_.Add(with({}));
    s.connections_rejected.counter = &connections_rejected_.Add(with({}));
    s.accept_fd_limit.counter = &accept_failures_.Add(with({{"reason", "fd_limit"}}));
    s.accept_other.counter = &accept_failures_.Add(with({{"reason", "other"}}));
    s.forwarded.counter = &commands_.Add(with({{"outcome", "forwarded"}}));
    s.held.counter = &commands_.Add(with({{"outcome", "held"}}));
    s.resent.counter = &commands_.Add(with({{"outcome", "resent"}}));
    s.failed.counter = &commands_.Add(with({{"outcome", "failed"}}));
    s.streamed.counter = &commands_.Add(with({{"outcome", "streamed"}}));
    s.route_master.counter = &commands_by_route_.Add(with({{"route", "master"}}));
    s.route_replica.counter = &commands_by_route_.Add(with({{"route", "replica"}}));
    s.closed_unknown_outcome.counter =
        &clients_closed_.Add(with({{"reason", "unknown_write_outcome"}}));
    s.closed_hold_timeout.counter = &clients_closed_.Add(with({{"reason", "hold_timeout"}}));
    s.closed_query_buffer.counter = &clients_closed_.Add(with({{"reason", "query_buffer"}}));
    s.closed_output_buffer.counter = &clients_closed_.Add(with({{"reason", "output_buffer"}}));
    s.bytes_in.counter = &bytes_.Add(with({{"direction", "in"}}));
    s.bytes_out.counter = &bytes_.Add(with({{"direction", "out"}}));
    s.failovers.counter = &failovers_.Add(with({}));
    s.hold_wait.histogram = &hold_wait_.Add(with({}), seconds_bounds<HoldHistogram>());
    s.backend_latency.histogram =
        &backend_latency_.Add(with({}), seconds_bounds<LatencyHistogram>());
    s.master_verified = &master_verified_.Add(with({}));
    s.held_commands = &held_commands_.Add(with({}));
    s.replicas_eligible = &replicas_eligible_.Add(with({}));
    s.links_shared = &backend_connections_.Add(with({{"kind", "shared"}}));
    s.links_dedicated = &backend_connections_.Add(with({{"kind", "dedicated"}}));
    s.commands_shared.counter = &backend_commands_.Add(with({{"link", "shared"}}));
    s.commands_dedicated.counter = &backend_commands_.Add(with({{"link", "dedicated"}}));
    s.shared_writes.counter = &shared_writes_.Add(with({}));
    for (std::size_t r = 1; r < kSkipReasons; ++r) {
        CounterFeed f;
        f.counter =
            &replica_skips_.Add(with({{"reason", skip_reason_name(static_cast<SkipReason>(r))}}));
        s.skips.push_back(f);
    }
    s.ryw_fallbacks.counter = &replica_fallbacks_.Add(with({{"reason", "read_your_writes"}}));
    s.no_replica_fallbacks.counter = &replica_fallbacks_.Add(with({{"reason", "no_replica"}}));
    s.sentinels_up = &sentinels_.Add(with({{"state", "up"}}));
    s.sentinels_down = &sentinels_.Add(with({{"state", "down"}}));
    s.released_early.counter = &hold_releases_.Add(with({{"path", "early_promotion"}}));
    s.released_majority.counter = &hold_releases_.Add(with({{"path", "majority"}}));
    s.last_hold_early = &last_hold_.Add(with({{"path", "early_promotion"}}));
    s.last_hold_majority = &last_hold_.Add(with({{"path", "majority"}}));
    s.early_window = &last_hold_.Add(with({{"path", "early_window"}}));
    return s;
}

void Metrics::update(const Pool& pool, const ShardReport& shards, PoolSeries& s,
                     std::uint64_t now_ms) {
    const ProxyStats& st = shards.stats;
    s.connections->Set(static_cast<double>(shards.clients));
    s.held_commands->Set(static_cast<double>(shards.held_total));
    s.connections_total.feed(st.connections_total);
    s.connections_rejected.feed(st.connections_rejected);
    s.accept_fd_limit.feed(st.accept_failures_fd_limit);
    s.accept_other.feed(st.accept_failures - st.accept_failures_fd_limit);
    s.forwarded.feed(st.commands_forwarded);
    s.held.feed(st.commands_held);
    s.resent.feed(st.commands_resent);
    s.failed.feed(st.commands_failed);
    s.streamed.feed(st.commands_streamed);
    s.route_master.feed(st.commands_forwarded - st.commands_forwarded_replica);
    s.route_replica.feed(st.commands_forwarded_replica);
    s.closed_unknown_outcome.feed(st.clients_closed_unknown_outcome);
    s.closed_hold_timeout.feed(st.clients_closed_hold_timeout);
    s.closed_query_buffer.feed(st.clients_closed_query_buffer);
    s.closed_output_buffer.feed(st.clients_closed_output_buffer);
    s.bytes_in.feed(st.bytes_in);
    s.bytes_out.feed(st.bytes_out);
    s.failovers.feed(st.failovers_seen);
    s.hold_wait.feed(st.hold_wait);
    s.backend_latency.feed(st.backend_latency);
    // The loop clock is monotonic: the switch's wall time is now minus its age.
    const std::uint64_t switched = shards.last_switch_ms;
    if (switched) {
        if (!s.last_switch) s.last_switch = &last_switch_.Add({{"pool", pool.name()}});
        s.last_switch->Set(wall_seconds() -
                           static_cast<double>(now_ms > switched ? now_ms - switched : 0) / 1000.0);
    }

    const SnapshotPtr& snap = pool.topology().current();
    s.master_verified->Set(snap->master ? 1 : 0);
    s.replicas_eligible->Set(snap->master ? static_cast<double>(snap->replicas.size()) : 0);
    s.links_shared->Set(static_cast<double>(shards.shared_links));
    s.links_dedicated->Set(static_cast<double>(shards.dedicated_links));
    s.commands_shared.feed(st.commands_forwarded_shared);
    s.commands_dedicated.feed(st.commands_forwarded - st.commands_forwarded_shared);
    s.shared_writes.feed(shards.shared_batches);
    const std::string key = snap->master ? snap->master->str() : std::string();
    if (key != s.master_info_key) {
        if (s.master_info) master_info_.Remove(s.master_info);
        s.master_info = nullptr;
        if (snap->master) {
            s.master_info = &master_info_.Add({{"pool", pool.name()},
                                               {"master_name", pool.config().master_name},
                                               {"host", snap->master->host},
                                               {"port", std::to_string(snap->master->port)}});
            s.master_info->Set(1);
        }
        s.master_info_key = key;
    }

    const ReadTargets& rt = pool.read_targets();
    for (std::size_t r = 1; r < kSkipReasons; ++r) s.skips[r - 1].feed(rt.skips()[r]);
    s.ryw_fallbacks.feed(shards.ryw_fallbacks);
    s.no_replica_fallbacks.feed(shards.no_replica_fallbacks);
    std::map<std::string, PoolSeries::Replica> replicas;
    for (const ReplicaTarget& t : rt.replicas()) {
        const std::string addr = t.address.str();
        auto it = s.replicas.find(addr);
        PoolSeries::Replica r;
        if (it != s.replicas.end()) {
            r = it->second;
            s.replicas.erase(it);
        } else {
            const Labels l{{"pool", pool.name()}, {"replica", addr}};
            r.reads.counter = &replica_reads_.Add(l);
            r.lag = &replica_lag_.Add(l);
            r.eligible = &replica_eligible_.Add(l);
        }
        const auto reads = shards.replica_reads.find(addr);
        r.reads.feed(reads == shards.replica_reads.end() ? 0 : reads->second);
        r.lag->Set(static_cast<double>(t.lag_ms) / 1000.0);
        r.eligible->Set(t.reason == SkipReason::none ? 1 : 0);
        replicas[addr] = r;
    }
    for (auto& [addr, r] : s.replicas) {  // replicas Sentinel no longer reports
        replica_reads_.Remove(r.reads.counter);
        replica_lag_.Remove(r.lag);
        replica_eligible_.Remove(r.eligible);
    }
    s.replicas = std::move(replicas);

    std::size_t up = 0, down = 0;
    std::map<std::string, Gauge*> seen;
    for (const auto& link : pool.watcher().sentinel_status()) {
        const std::string addr = link.addr.str();
        auto it = s.sentinel_up.find(addr);
        Gauge* g = it != s.sentinel_up.end()
                       ? it->second
                       : &sentinel_up_.Add({{"pool", pool.name()}, {"sentinel", addr}});
        g->Set(link.up ? 1 : 0);
        (link.up ? up : down)++;
        seen[addr] = g;
        if (it != s.sentinel_up.end()) s.sentinel_up.erase(it);
    }
    for (auto& [addr, g] : s.sentinel_up) sentinel_up_.Remove(g);  // forgotten sentinels
    s.sentinel_up = std::move(seen);
    s.sentinels_up->Set(static_cast<double>(up));
    s.sentinels_down->Set(static_cast<double>(down));
    const auto& releases = pool.watcher().hold_releases();
    s.released_early.feed(releases.early);
    s.released_majority.feed(releases.majority);
    if (releases.early + releases.majority > 0) {
        Gauge* last = std::string_view(releases.last_path) == "early_promotion"
                          ? s.last_hold_early
                          : s.last_hold_majority;
        last->Set(static_cast<double>(releases.last_hold_ms) / 1000.0);
    }
    s.early_window->Set(static_cast<double>(releases.last_early_window_ms) / 1000.0);
}

void Metrics::record_reload(bool succeeded) {
    const std::map<std::string, std::string> labels = {
        {"outcome", succeeded ? "success" : "failure"}};
    reloads_.Add(labels).Increment();
    last_reload_.Add(labels).Set(wall_seconds());
}

std::string Metrics::scrape(const std::vector<const Pool*>& pools, const AdminFigures& figures,
                            std::uint64_t now_ms) {
    for (std::size_t i = 0; i < pools.size(); ++i)
        update(*pools[i], figures.pools[i].total, series_for(*pools[i]), now_ms);
    for (std::size_t w = 0; w < figures.worker_clients.size(); ++w)
        worker_clients_.Add({{"worker", std::to_string(w)}})
            .Set(static_cast<double>(figures.worker_clients[w]));
    const ProcessSample p = sample_process();
    process_open_fds_.Set(p.open_fds);
    process_max_fds_.Set(p.max_fds);
    process_resident_.Set(p.resident_bytes);
    if (p.cpu_seconds > cpu_seen_) process_cpu_.Increment(p.cpu_seconds - cpu_seen_);
    cpu_seen_ = std::max(cpu_seen_, p.cpu_seconds);
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry_->Collect());
    std::string text = out.str();
    append_tls_metrics(text);
    return text;
}

}  // namespace sp::proxy
