// What one pool's shard on one worker loop tells the control loop when asked (admin pages,
// the drain): copied on the worker's thread, read on the control thread, so nothing the
// worker owns is ever read from another thread. PoolFigures adds up a pool's shards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "proxy/net/proxy_stats.h"

namespace sp::proxy {

struct ShardReport {
    ProxyStats stats;
    std::size_t clients = 0;
    std::size_t dedicated_links = 0;
    std::size_t shared_links = 0;
    std::uint64_t shared_batches = 0;
    std::uint64_t held_total = 0;
    std::uint64_t last_switch_ms = 0;  // loop time (CLOCK_MONOTONIC ms, as every loop's)
    bool listening = false;
    bool fd_shortage = false;
    // Reads sent to each replica, and reads kept on the master (routing.read_from).
    std::map<std::string, std::uint64_t> replica_reads;
    std::uint64_t ryw_fallbacks = 0;
    std::uint64_t no_replica_fallbacks = 0;
};

// A pool's shards added up. Per-session counts add; what every shard sees once per
// failover (failovers_seen, the last switch) is the largest, not the sum.
struct PoolFigures {
    ShardReport total;
    void add(const ShardReport& shard);
};

}  // namespace sp::proxy
