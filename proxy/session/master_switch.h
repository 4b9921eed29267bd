// Which topology snapshot each client session of a pool follows. Holds, re-verifications and
// replica changes reach every session at once. On a switch to a new master, subscribed
// sessions move first (they re-subscribe on the new master) and everyone else's held
// commands are released only when those subscriptions are confirmed, or after a short
// bound, so that messages published through the proxy during the switch reach the
// subscribers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_set>

#include "proxy/net/tcp_stream.h"
#include "proxy/sentinel/topology.h"

namespace sp::proxy {

class ClientSession;
class FailoverTimeline;
class LoopContext;
class SessionRegistry;

class MasterSwitch {
  public:
    MasterSwitch(LoopContext& context, SessionRegistry& sessions, FailoverTimeline& timeline);
    ~MasterSwitch();
    MasterSwitch(const MasterSwitch&) = delete;
    MasterSwitch& operator=(const MasterSwitch&) = delete;

    // The snapshot a session should act on now.
    const SnapshotPtr& snapshot(bool subscribed) const {
        return subscribed ? sub_snap_ : main_snap_;
    }
    // A subscribed session finished re-subscribing on the new master.
    void subscriber_moved(ClientSession* s);
    // A session closed: it is waited for no more.
    void forget(ClientSession* s) { moving_subscribers_.erase(s); }
    // Loop time the verified master last changed identity (0: never verified).
    std::uint64_t last_switch_ms() const { return last_switch_ms_; }

  private:
    void on_snapshot(const SnapshotPtr& snap);
    void release_everyone();

    LoopContext& context_;
    SessionRegistry& sessions_;
    FailoverTimeline& timeline_;
    std::size_t topology_sub_ = 0;
    SnapshotPtr main_snap_;
    SnapshotPtr sub_snap_;
    std::unordered_set<ClientSession*> moving_subscribers_;
    std::uint64_t switch_started_ms_ = 0;
    std::uint64_t last_switch_ms_ = 0;
    std::optional<NodeAddress> last_master_;  // last verified master, kept through holds
    Timer release_timer_;
};

}  // namespace sp::proxy
