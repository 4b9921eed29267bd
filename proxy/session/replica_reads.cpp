#include "proxy/session/replica_reads.h"

#include <uv.h>

#include "proxy/backend/backend_pool.h"
#include "proxy/sentinel/read_targets.h"

namespace sp::proxy {

std::int64_t ReplicaReads::required(const ReadTargets& targets) {
    if (fence_ns_ == 0) return kNoFence;
    if (offset_ >= 0 && epoch_ == targets.epoch()) return offset_;
    std::optional<std::int64_t> off = targets.history().offset_after(fence_ns_);
    if (!off) return kUnresolved;
    offset_ = *off;
    epoch_ = targets.epoch();
    return offset_;
}

bool ReplicaReads::may_keep(ReadTargets& targets, const NodeAddress& replica,
                            std::uint64_t now_ns) {
    ReplicaTarget* t = targets.find(replica);
    const std::int64_t need = required(targets);
    if (!t || need == kUnresolved || !ReadTargets::usable(*t, need, now_ns)) return false;
    ++t->reads;
    return true;
}

SharedLink* ReplicaReads::pick(ReadTargets& targets, BackendPool& pool, config::ReadRouting routing,
                               protocol::RespVersion proto, std::uint64_t now_ns,
                               bool& none_eligible) {
    const std::int64_t need = required(targets);
    ReplicaTarget* best = nullptr;
    std::size_t best_load = 0;
    bool any = false;
    const std::size_t n = targets.replicas().size();
    const std::size_t start = n ? targets.next_start++ % n : 0;
    for (std::size_t i = 0; i < n; ++i) {
        ReplicaTarget& t = targets.replicas()[(start + i) % n];
        if (!ReadTargets::usable(t, kNoFence, now_ns)) continue;
        any = true;
        if (need == kUnresolved || (need >= 0 && t.offset < need)) continue;
        // Fewest outstanding requests on its shared links.
        const std::size_t load = pool.in_flight(t.address, proto);
        if (!best || load < best_load) {
            best = &t;
            best_load = load;
        }
    }
    if (!best) {
        none_eligible = !any;
        if (any)
            ++targets.ryw_fallbacks;
        else if (routing != config::ReadRouting::replica)
            ++targets.no_replica_fallbacks;
        return nullptr;
    }
    ++best->reads;
    return &pool.link_for(best->address, proto);
}

void ReplicaReads::note_answered(const Request& r, config::ReadRouting routing) {
    if (!r.owed() || routing == config::ReadRouting::master) return;
    // Anything that may have written data (a write, a script, an unknown command, EXEC):
    // a fence. PING, INFO, CLIENT LIST... are not, so they do not send reads to the master.
    constexpr std::uint32_t kMayWrite =
        protocol::kWrite | protocol::kScripting | protocol::kUnknown;
    const bool wrote = r.kind == Request::Kind::exec ||
                       (r.kind == Request::Kind::normal && (r.flags & kMayWrite) &&
                        !((r.flags & protocol::kReadOnly) && !(r.flags & protocol::kWrite)));
    if (!wrote) return;
    fence_ns_ = uv_hrtime();
    offset_ = -1;
}

}  // namespace sp::proxy
