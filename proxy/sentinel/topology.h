// What the Sentinel side knows, published as immutable snapshots. The sentinel watcher
// is the only writer; client sessions only read. A snapshot names the verified master
// (majority of all known sentinels + ROLE master), or none while a failover is under way
// or nothing is verified: sessions then hold their commands. Snapshots are shared_ptr to
// const so that, with one loop per core later, each loop can pick up the newest one
// without locks on the hot path.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/net/node_address.h"

namespace sp::proxy {

struct TopologySnapshot {
    std::uint64_t generation = 0;       // bumps on every publish
    std::uint64_t master_epoch = 0;     // bumps whenever the verified master changes identity
    std::optional<NodeAddress> master;  // verified master; empty = hold commands
    std::string hold_reason;            // why there is no master (for logs and /readyz)
    std::uint64_t verified_at_ms = 0;   // loop time of the verification
    std::vector<NodeAddress> replicas;  // as last reported by Sentinel
    // Non-empty while the master is kept without a sentinel majority (too few answering).
    std::string sentinel_note;
};

using SnapshotPtr = std::shared_ptr<const TopologySnapshot>;

// Single-loop publish/subscribe for snapshots. The control loop's Topology is the one the
// watcher publishes to; each worker loop has its own, fed the same snapshots through its
// inbox (adopt), so subscribers never know which loop verified the master.
class Topology {
  public:
    using Listener = std::function<void(const SnapshotPtr&)>;

    Topology();
    const SnapshotPtr& current() const { return current_; }
    // Publishes a new snapshot built from the current one.
    void publish(TopologySnapshot next);
    // Takes a snapshot another loop's Topology published, as is (same generation and
    // epoch), and tells this loop's subscribers.
    void adopt(SnapshotPtr snap);
    std::size_t subscribe(Listener fn);
    void unsubscribe(std::size_t id);

    // Sessions report that the master failed them (link lost, READONLY, UNBLOCKED): the
    // watcher re-verifies at once instead of waiting for its next poll.
    void report_master_trouble(const NodeAddress& addr, const std::string& why);
    void on_master_trouble(std::function<void(const NodeAddress&, const std::string&)> fn) {
        trouble_fn_ = std::move(fn);
    }

  private:
    SnapshotPtr current_;
    std::vector<std::pair<std::size_t, Listener>> listeners_;
    std::size_t next_id_ = 1;
    std::function<void(const NodeAddress&, const std::string&)> trouble_fn_;
};

}  // namespace sp::proxy
