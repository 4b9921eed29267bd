#include "proxy/sentinel/topology.h"

namespace sp::proxy {

Topology::Topology() : current_(std::make_shared<const TopologySnapshot>()) {}

void Topology::publish(TopologySnapshot next) {
    next.generation = current_->generation + 1;
    if (next.master != current_->master && next.master)
        next.master_epoch = current_->master_epoch + 1;
    else
        next.master_epoch = current_->master_epoch;
    adopt(std::make_shared<const TopologySnapshot>(std::move(next)));
}

void Topology::adopt(SnapshotPtr snap) {
    current_ = std::move(snap);
    // Copy: a listener may subscribe or unsubscribe while we iterate.
    auto listeners = listeners_;
    SnapshotPtr current = current_;
    for (auto& [id, fn] : listeners) fn(current);
}

std::size_t Topology::subscribe(Listener fn) {
    listeners_.emplace_back(next_id_, std::move(fn));
    return next_id_++;
}

void Topology::unsubscribe(std::size_t id) {
    std::erase_if(listeners_, [id](auto& p) { return p.first == id; });
}

void Topology::report_master_trouble(const NodeAddress& addr, const std::string& why) {
    if (trouble_fn_) trouble_fn_(addr, why);
}

}  // namespace sp::proxy
