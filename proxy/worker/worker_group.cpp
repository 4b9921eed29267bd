#include "proxy/worker/worker_group.h"

#include <algorithm>
#include <chrono>

#include "proxy/net/tcp_listen.h"

namespace sp::proxy {

WorkerGroup::WorkerGroup(unsigned count) {
    for (unsigned i = 0; i < count; ++i) workers_.push_back(std::make_unique<Worker>(i));
}

void WorkerGroup::start(const std::vector<ShardPlan>& plans) {
    // With one worker the listening sockets are exactly as before (no SO_REUSEPORT), so a
    // port another process holds in any way is refused the same.
    const bool reuse_port = workers_.size() > 1;
    // A port another process listens on fails here, as it does with one loop, instead of
    // this proxy joining that process's SO_REUSEPORT group.
    if (reuse_port)
        for (const ShardPlan& plan : plans) {
            for (const auto& address : plan.config.listen) check_address_free(address);
            for (const auto& address : plan.config.tls_listen) check_address_free(address);
        }
    for (auto& w : workers_) w->start(plans, reuse_port);
}

void WorkerGroup::post_all(const std::function<void(Worker&)>& fn) {
    for (auto& w : workers_) w->post(fn);
}

void WorkerGroup::stop_all(std::uint64_t flush_ms) {
    for (auto& w : workers_) w->stop(flush_ms);
}

bool WorkerGroup::join_all(std::uint64_t timeout_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool all = true;
    for (auto& w : workers_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        all = w->join(static_cast<std::uint64_t>(std::max<std::int64_t>(0, left.count()))) && all;
    }
    return all;
}

}  // namespace sp::proxy
