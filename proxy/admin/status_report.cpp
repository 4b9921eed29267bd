#include "proxy/admin/status_report.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "config/string_literal.h"
#include "proxy/pool.h"
#include "version.h"

namespace sp::proxy {

namespace {

// Loop time (ms, monotonic) -> RFC 3339 UTC wall time.
std::string wall_time(std::uint64_t loop_ms, std::uint64_t now_ms) {
    using namespace std::chrono;
    auto wall = system_clock::now() - milliseconds(now_ms - loop_ms);
    std::time_t t = system_clock::to_time_t(wall);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string node(const NodeAddress& a) {
    return "{\"host\":" + json_quote(a.host) + ",\"port\":" + std::to_string(a.port) + "}";
}

std::string seconds(std::uint64_t from_ms, std::uint64_t now_ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f",
                  static_cast<double>(now_ms >= from_ms ? now_ms - from_ms : 0) / 1000.0);
    return buf;
}

}  // namespace

std::string json_quote(const std::string& text) {
    return config::string_literal(text);
}

std::string status_json(const std::vector<const Pool*>& pools, const AdminFigures& figures,
                        std::uint64_t now_ms, bool draining) {
    std::string out = "{\"version\":" + json_quote(SENTINEL_PROXY_VERSION) +
                      ",\"draining\":" + (draining ? "true" : "false") + ",\"workers\":[";
    for (std::size_t w = 0; w < figures.worker_clients.size(); ++w)
        out += (w ? "," : "") + std::string("{\"id\":") + std::to_string(w) +
               ",\"clients\":" + std::to_string(figures.worker_clients[w]) +
               ",\"answered\":" + (figures.worker_answered[w] ? "true" : "false") + "}";
    out += "],\"pools\":[";
    bool first_pool = true;
    for (std::size_t p = 0; p < pools.size(); ++p) {
        const Pool* pool = pools[p];
        const SnapshotPtr& snap = pool->topology().current();
        const ShardReport& shards = figures.pools[p].total;
        out += first_pool ? "" : ",";
        first_pool = false;
        out += "{\"name\":" + json_quote(pool->name()) +
               ",\"master_name\":" + json_quote(pool->config().master_name) + ",\"listen\":[";
        for (std::size_t i = 0; i < pool->config().listen.size(); ++i)
            out += (i ? "," : "") + json_quote(pool->config().listen[i].str());
        out += "],\"accepting\":" + std::string(shards.listening ? "true" : "false");
        out +=
            ",\"read_from\":" + json_quote(config::read_routing_name(pool->config().read_routing));
        out += ",\"master\":" + (snap->master ? node(*snap->master) : std::string("null"));
        if (snap->master) {
            out += ",\"verified_at\":" + json_quote(wall_time(snap->verified_at_ms, now_ms)) +
                   ",\"verified_seconds_ago\":" + seconds(snap->verified_at_ms, now_ms);
            out += ",\"hold_reason\":null";
        } else {
            out += ",\"verified_at\":null,\"verified_seconds_ago\":null,\"hold_reason\":" +
                   json_quote(snap->hold_reason.empty() ? "no master verified yet"
                                                        : snap->hold_reason);
        }
        out += ",\"topology_generation\":" + std::to_string(snap->generation);
        out += ",\"replicas\":[";
        for (std::size_t i = 0; i < snap->replicas.size(); ++i)
            out += (i ? "," : "") + node(snap->replicas[i]);
        // What the proxy measured itself (routing.read_from): eligibility, lag, reads sent.
        const ReadTargets& rt = pool->read_targets();
        out += "],\"read_replicas\":[";
        for (std::size_t i = 0; i < rt.replicas().size(); ++i) {
            const ReplicaTarget& r = rt.replicas()[i];
            const auto reads = shards.replica_reads.find(r.address.str());
            out += (i ? "," : "") + std::string("{\"address\":") + json_quote(r.address.str()) +
                   ",\"eligible\":" + (r.reason == SkipReason::none ? "true" : "false") +
                   ",\"skip_reason\":" +
                   (r.reason == SkipReason::none ? std::string("null")
                                                 : json_quote(skip_reason_name(r.reason))) +
                   ",\"lag_ms\":" + std::to_string(r.lag_ms) +
                   ",\"offset\":" + std::to_string(r.offset) + ",\"reads\":" +
                   std::to_string(reads == shards.replica_reads.end() ? 0 : reads->second) + "}";
        }
        out += "],\"read_your_writes_fallbacks\":" + std::to_string(shards.ryw_fallbacks);
        out += ",\"no_replica_fallbacks\":" + std::to_string(shards.no_replica_fallbacks);
        out += ",\"last_switch\":";
        if (shards.last_switch_ms) {
            out += "{\"at\":" + json_quote(wall_time(shards.last_switch_ms, now_ms)) +
                   ",\"seconds_ago\":" + seconds(shards.last_switch_ms, now_ms) + "}";
        } else {
            out += "null";
        }
        out += ",\"failovers_seen\":" + std::to_string(shards.stats.failovers_seen);
        const VoteOutcome& vote = pool->watcher().last_vote();
        out +=
            ",\"sentinel_majority\":{\"known\":" + std::to_string(vote.known) +
            ",\"answering\":" + std::to_string(vote.answering) +
            ",\"needed\":" + std::to_string(vote.needed) + ",\"note\":" +
            (snap->sentinel_note.empty() ? std::string("null") : json_quote(snap->sentinel_note)) +
            "}";
        // The hold window in use and the Sentinel timings it follows (sentinel_timings.h).
        const HoldWindow& hold = pool->hold_window();
        out += ",\"hold_window\":{\"ms\":" + std::to_string(hold.ms) +
               ",\"source\":" + json_quote(hold.source_name()) + ",\"sentinel_failover_ms\":" +
               (pool->sentinel_timings() ? std::to_string(hold.failover_ms) : std::string("null")) +
               "},\"sentinel_timings\":";
        if (const auto& t = pool->sentinel_timings())
            out += "{\"down_after_ms\":" + std::to_string(t->down_after_ms) +
                   ",\"failover_timeout_ms\":" + std::to_string(t->failover_timeout_ms) +
                   ",\"parallel_syncs\":" + std::to_string(t->parallel_syncs) +
                   ",\"replicas\":" + std::to_string(t->replicas) + "}";
        else
            out += "null";
        out += ",\"clients\":" + std::to_string(shards.clients);
        out += ",\"sentinels\":[";
        bool first = true;
        for (const auto& s : pool->watcher().sentinel_status()) {
            out += first ? "" : ",";
            first = false;
            out +=
                "{\"address\":" + json_quote(s.addr.str()) +
                ",\"configured\":" + (s.configured ? "true" : "false") +
                ",\"up\":" + (s.up ? "true" : "false") +
                ",\"events_up\":" + (s.events_up ? "true" : "false") + ",\"down_seconds\":" +
                (s.down_since_ms ? seconds(s.down_since_ms, now_ms) : std::string("null")) +
                ",\"names_master\":" + (s.answer ? node(*s.answer) : std::string("null")) +
                ",\"run_id\":" + (s.run_id.empty() ? std::string("null") : json_quote(s.run_id)) +
                ",\"problem\":" +
                (s.problem.empty() ? std::string("null") : json_quote(s.problem)) + "}";
        }
        out += "]}";
    }
    return out + "]}\n";
}

}  // namespace sp::proxy
