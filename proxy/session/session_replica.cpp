// Replica reads for one session: where a shared-link command goes (the master, or for a
// replica-eligible read the least busy eligible replica that already has this client's
// last write), read-your-writes fences, and giving a failing replica's reads to the master.
// The barrier of pump() keeps replies in order: a command for another link than the one
// in use waits until that one owes nothing.
#include <spdlog/spdlog.h>

#include "proxy/backend/backend_pool.h"
#include "proxy/session/client_session.h"
#include "proxy/session/router.h"

namespace sp::proxy {

namespace {
constexpr std::int64_t kNoFence = -1;
constexpr std::int64_t kUnresolved = -2;  // a write not yet in any master sample
}  // namespace

SharedLink* ClientSession::shared_target(const Request& p) {
    const NodeAddress& master = *snap_->master;
    if (queue_.in_flight() > 0) {
        // Keep using the link in use while this command may go there.
        if (!shared_link_ || shared_link_->proto() != p.proto) return nullptr;
        if (!upstream_replica_) return shared_link_->address() == master ? shared_link_ : nullptr;
        if (!p.replica_read) return nullptr;  // a write waits for the replica's replies
        ReplicaTarget* t = router_.read_targets().find(shared_link_->address());
        const std::int64_t need = ryw_required();
        if (!t || need == kUnresolved || !ReadTargets::usable(*t, need, uv_hrtime()))
            return nullptr;
        ++t->reads;
        return shared_link_;
    }
    upstream_replica_ = false;
    if (p.replica_read) {
        bool none_eligible = false;
        if (SharedLink* l = pick_replica(p.proto, uv_hrtime(), none_eligible)) {
            upstream_replica_ = true;
            return l;
        }
        // read_from = replica keeps reads off the master: with no eligible replica the read
        // is held like a command with no master, bounded by the hold window. A read-your-
        // writes fence still goes to the master (the client's own write is not there yet).
        if (none_eligible && router_.config().read_routing == config::ReadRouting::replica) {
            waiting_replica_ = true;
            router_.wait_for_replica(this);
            return nullptr;
        }
    }
    return &router_.backend_pool().link_for(master, p.proto);
}

SharedLink* ClientSession::pick_replica(protocol::RespVersion proto, std::uint64_t now_ns,
                                        bool& none_eligible) {
    ReadTargets& rt = router_.read_targets();
    const std::int64_t need = ryw_required();
    ReplicaTarget* best = nullptr;
    std::size_t best_load = 0;
    bool any = false;
    const std::size_t n = rt.replicas().size();
    const std::size_t start = n ? rt.next_start++ % n : 0;
    for (std::size_t i = 0; i < n; ++i) {
        ReplicaTarget& t = rt.replicas()[(start + i) % n];
        if (!ReadTargets::usable(t, kNoFence, now_ns)) continue;
        any = true;
        if (need == kUnresolved || (need >= 0 && t.offset < need)) continue;
        // Fewest outstanding requests on its shared links.
        const std::size_t load = router_.backend_pool().in_flight(t.address, proto);
        if (!best || load < best_load) {
            best = &t;
            best_load = load;
        }
    }
    if (!best) {
        none_eligible = !any;
        if (any)
            ++rt.ryw_fallbacks;
        else if (router_.config().read_routing != config::ReadRouting::replica)
            ++rt.no_replica_fallbacks;
        return nullptr;
    }
    ++best->reads;
    return &router_.backend_pool().link_for(best->address, proto);
}

// The master offset this client's reads need (kNoFence: none; kUnresolved: the master
// has not been sampled since the client's last write was answered: master only).
std::int64_t ClientSession::ryw_required() {
    if (ryw_fence_ns_ == 0) return kNoFence;
    const ReadTargets& rt = router_.read_targets();
    if (ryw_offset_ >= 0 && ryw_epoch_ == rt.epoch()) return ryw_offset_;
    std::optional<std::int64_t> off = rt.history().offset_after(ryw_fence_ns_);
    if (!off) return kUnresolved;
    ryw_offset_ = *off;
    ryw_epoch_ = rt.epoch();
    return ryw_offset_;
}

void ClientSession::note_answered(const Request& p) {
    if (p.silent() || p.local() || router_.config().read_routing == config::ReadRouting::master)
        return;
    // Anything that may have written data (a write, a script, an unknown command, EXEC):
    // a fence. PING, INFO, CLIENT LIST... are not, so they do not send reads to the master.
    constexpr std::uint32_t kMayWrite =
        protocol::kWrite | protocol::kScripting | protocol::kUnknown;
    const bool wrote = p.kind == Kind::exec ||
                       (p.kind == Kind::normal && (p.flags & kMayWrite) &&
                        !((p.flags & protocol::kReadOnly) && !(p.flags & protocol::kWrite)));
    if (!wrote) return;
    ryw_fence_ns_ = uv_hrtime();
    ryw_offset_ = -1;
}

void ClientSession::replica_failed(const NodeAddress& from, const std::string& why) {
    router_.read_targets().report_trouble(from, uv_hrtime());
    spdlog::debug("session {}: replica {}: {}; re-sending reads", client_ ? client_->peer() : "?",
                  from.str(), why);
    relink("replica " + from.str() + ": " + why, false);
}

void ClientSession::replica_may_be_available() {
    if (!closed_ && waiting_replica_) pump();
}

void ClientSession::replica_unusable(const NodeAddress& address) {
    if (closed_ || queue_.in_flight() == 0 || !upstream_replica_ || !shared_link_ ||
        !(shared_link_->address() == address))
        return;
    relink("replica " + address.str() + " out of rotation", false);
}

}  // namespace sp::proxy
