#include "proxy/worker/pool_shard.h"

#include "proxy/backend/backend_pool.h"
#include "proxy/session/client_session.h"

namespace sp::proxy {

PoolShard::PoolShard(uv_loop_t* loop, const ShardPlan& plan)
    : config_(plan.config), sessions_(loop, config_, topology_) {
    topology_.on_master_trouble(plan.master_trouble);
    if (plan.timeline) sessions_.timeline.report_to(plan.timeline);
    sessions_.registry.give_seats_back_to(plan.pool_seats);
    sessions_.context.share_totals(plan.pool_buffered, plan.pool_held);
    listener_ = std::make_unique<Listener>(
        loop, sessions_.context.config(), sessions_.context.stats(),
        Listener::Clients{plan.pool_seats, [this](Stream* stream) { accept_client(stream); }});
    listener_->set_client_budget(plan.budget);
}

// The listener goes first: no client arrives while the sessions are being closed.
PoolShard::~PoolShard() {
    listener_.reset();
}

void PoolShard::start(bool reuse_port) {
    listener_->start(config_.listen, config_.tls_listen,
                     reuse_port ? PortSharing::reuse_port : PortSharing::exclusive);
}

void PoolShard::accept_client(Stream* stream) {
    auto* session = new ClientSession(sessions_, stream);
    stream->set_handler(session->as_handler());
    sessions_.registry.add(session);
    session->start();
}

std::size_t PoolShard::drain() {
    listener_->stop();
    return sessions_.registry.drain();
}

ShardReport PoolShard::report() const {
    ShardReport r;
    const ProxyStats& st = sessions_.context.stats();
    r.stats = st;
    r.clients = sessions_.registry.size();
    r.dedicated_links = sessions_.registry.dedicated_links();
    r.shared_links = sessions_.context.backend_pool().links();
    r.shared_batches = sessions_.context.backend_pool().batches();
    r.held_total = sessions_.context.held_here();
    r.last_switch_ms = sessions_.master_switch.last_switch_ms();
    r.listening = listener_->listening();
    r.fd_shortage = listener_->fd_shortage();
    const ReadTargets& rt = sessions_.context.read_targets();
    for (const ReplicaTarget& t : rt.replicas()) r.replica_reads[t.address.str()] = t.reads;
    r.ryw_fallbacks = rt.ryw_fallbacks;
    r.no_replica_fallbacks = rt.no_replica_fallbacks;
    return r;
}

}  // namespace sp::proxy
