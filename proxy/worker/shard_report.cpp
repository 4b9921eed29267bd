#include "proxy/worker/shard_report.h"

#include <algorithm>

namespace sp::proxy {

namespace {

template <class H>
void add_histogram(H& into, const H& from) {
    for (std::size_t i = 0; i < into.counts.size(); ++i) into.counts[i] += from.counts[i];
    into.sum_ms += from.sum_ms;
}

void add_stats(ProxyStats& into, const ProxyStats& from) {
    into.connections_total += from.connections_total;
    into.connections_rejected += from.connections_rejected;
    into.accept_failures += from.accept_failures;
    into.accept_failures_fd_limit += from.accept_failures_fd_limit;
    into.commands_forwarded += from.commands_forwarded;
    into.commands_forwarded_replica += from.commands_forwarded_replica;
    into.commands_forwarded_shared += from.commands_forwarded_shared;
    into.commands_held += from.commands_held;
    into.commands_resent += from.commands_resent;
    into.commands_failed += from.commands_failed;
    into.clients_closed_unknown_outcome += from.clients_closed_unknown_outcome;
    into.clients_closed_hold_timeout += from.clients_closed_hold_timeout;
    // Every shard sees the same failover: the count is a pool's, not a sum.
    into.failovers_seen = std::max<std::uint64_t>(into.failovers_seen, from.failovers_seen);
    into.bytes_in += from.bytes_in;
    into.bytes_out += from.bytes_out;
    add_histogram(into.hold_wait, from.hold_wait);
    add_histogram(into.backend_latency, from.backend_latency);
    into.clients_closed_query_buffer += from.clients_closed_query_buffer;
    into.clients_closed_output_buffer += from.clients_closed_output_buffer;
    into.commands_streamed += from.commands_streamed;
}

}  // namespace

void PoolFigures::add(const ShardReport& shard) {
    add_stats(total.stats, shard.stats);
    total.clients += shard.clients;
    total.dedicated_links += shard.dedicated_links;
    total.shared_links += shard.shared_links;
    total.shared_batches += shard.shared_batches;
    total.held_total += shard.held_total;
    total.last_switch_ms = std::max(total.last_switch_ms, shard.last_switch_ms);
    total.listening = total.listening || shard.listening;
    total.fd_shortage = total.fd_shortage || shard.fd_shortage;
    for (const auto& [replica, reads] : shard.replica_reads) total.replica_reads[replica] += reads;
    total.ryw_fallbacks += shard.ryw_fallbacks;
    total.no_replica_fallbacks += shard.no_replica_fallbacks;
}

}  // namespace sp::proxy
