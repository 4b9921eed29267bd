#include "proxy/session/session_registry.h"

#include <algorithm>

#include "proxy/session/client_session.h"

namespace sp::proxy {

SessionRegistry::SessionRegistry(uv_loop_t* loop) : reap_timer_(loop, [this] { reap(); }) {}

SessionRegistry::~SessionRegistry() {
    shutdown();
}

void SessionRegistry::shutdown() {
    close_all();
    reap();
}

void SessionRegistry::add(ClientSession* s) {
    sessions_.insert(s);
}

void SessionRegistry::retire(ClientSession* s) {
    if (sessions_.erase(s) == 0) return;
    if (seats_) seats_->give_back();
    replica_waiters_.erase(s);
    retired_.push_back(s);
    reap_timer_.start(0);
}

void SessionRegistry::reap() {
    auto dead = std::move(retired_);
    retired_.clear();
    for (ClientSession* s : dead) delete s;
}

std::size_t SessionRegistry::drain() {
    for_each([](ClientSession* s) {
        if (!s->closed() && s->idle()) s->close("proxy shutting down", true);
    });
    return sessions_.size();
}

void SessionRegistry::close_all() {
    for_each([](ClientSession* s) { s->close("proxy shutting down", true); });
}

std::size_t SessionRegistry::dedicated_links() const {
    return static_cast<std::size_t>(
        std::count_if(sessions_.begin(), sessions_.end(),
                      [](const ClientSession* s) { return s->has_dedicated_link(); }));
}

void SessionRegistry::replica_unusable(const NodeAddress& address) {
    for_each([&](ClientSession* s) { s->replica_unusable(address); });
}

void SessionRegistry::replicas_assessed() {
    if (replica_waiters_.empty()) return;
    std::unordered_set<ClientSession*> waiting;
    waiting.swap(replica_waiters_);
    for (ClientSession* s : waiting)
        if (contains(s)) s->replica_may_be_available();
}

}  // namespace sp::proxy
