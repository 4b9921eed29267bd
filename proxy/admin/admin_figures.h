// What the workers answered when the admin endpoint asked (main collects it on the control
// loop): each pool's shards added up, and each worker's clients. The pages render it with
// what the control loop itself knows (the pools' topology and sentinels).
#pragma once

#include <cstddef>
#include <vector>

#include "proxy/worker/shard_report.h"

namespace sp::proxy {

struct AdminFigures {
    std::vector<PoolFigures> pools;  // in the order of the pools
    std::vector<std::size_t> worker_clients;
    std::vector<bool> worker_answered;  // false: its last figures are shown
};

}  // namespace sp::proxy
