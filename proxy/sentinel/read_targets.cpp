#include "proxy/sentinel/read_targets.h"

namespace sp::proxy {

namespace {
// How long a replica that failed a read is left alone (the monitor re-checks it meanwhile).
constexpr std::uint64_t kTroubleNs = 1'000'000'000ull;
}  // namespace

void ReadTargets::reset(const std::optional<NodeAddress>& master) {
    if (master_ == master) return;
    master_ = master;
    for (ReplicaTarget& r : replicas_) {
        if (r.reason == SkipReason::none) count_skip(SkipReason::master_unknown);
        r.reason = SkipReason::master_unknown;
        r.offset = -1;
    }
    history_.clear();
    ++epoch_;
}

ReplicaTarget* ReadTargets::find(const NodeAddress& address) {
    for (ReplicaTarget& r : replicas_)
        if (r.address == address) return &r;
    return nullptr;
}

void ReadTargets::adopt_measurements(const ReadTargets& measured) {
    if (measured.master_ != master_) return;
    std::vector<ReplicaTarget> next = measured.replicas_;
    for (ReplicaTarget& r : next) {
        r.trouble_until_ns = 0;
        r.reads = 0;
        if (const ReplicaTarget* mine = find(r.address)) {
            r.trouble_until_ns = mine->trouble_until_ns;
            r.reads = mine->reads;
        }
    }
    replicas_ = std::move(next);
    history_ = measured.history_;
}

void ReadTargets::report_trouble(const NodeAddress& address, std::uint64_t now_ns) {
    if (ReplicaTarget* r = find(address)) {
        if (now_ns >= r->trouble_until_ns) count_skip(SkipReason::failing);
        r->trouble_until_ns = now_ns + kTroubleNs;
    }
}

}  // namespace sp::proxy
