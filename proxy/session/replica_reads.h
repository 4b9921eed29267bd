// One client's reads from replicas (routing.read_from): which replica a read may go to (the
// least busy eligible one that already has this client's last write), the read-your-writes
// fence that decides it, and whether the client's requests in flight went to a replica or
// wait for one. The session's pump keeps replies in order: a command for another link than
// the one in use waits until that one owes nothing.
#pragma once

#include <cstdint>

#include "config/config.h"
#include "protocol/reply_writer.h"
#include "proxy/session/request.h"

namespace sp::proxy {

class BackendPool;
class ReadTargets;
class SharedLink;
struct NodeAddress;

class ReplicaReads {
  public:
    static constexpr std::int64_t kNoFence = -1;
    static constexpr std::int64_t kUnresolved = -2;  // a write not yet in any master sample

    // The requests in flight went to a replica (reads only).
    bool on_replica() const { return on_replica_; }
    void set_on_replica(bool yes) { on_replica_ = yes; }
    // read_from = replica: a read waits for an eligible replica (held like a failover).
    bool waiting() const { return waiting_; }
    void set_waiting(bool yes) { waiting_ = yes; }

    // The master offset this client's reads need (kNoFence: none; kUnresolved: the master
    // has not been sampled since the client's last write was answered: master only).
    std::int64_t required(const ReadTargets& targets);
    // Whether one more read may go to `replica`, the link in use (counted if so).
    bool may_keep(ReadTargets& targets, const NodeAddress& replica, std::uint64_t now_ns);
    // The shared link of the least busy eligible replica (counted as a read), or null;
    // `none_eligible`: no replica is eligible at all (not only behind this client's writes).
    SharedLink* pick(ReadTargets& targets, BackendPool& pool, config::ReadRouting routing,
                     protocol::RespVersion proto, std::uint64_t now_ns, bool& none_eligible);
    // `r` was answered: anything that may have written data sets the fence (now).
    void note_answered(const Request& r, config::ReadRouting routing);

  private:
    // Read-your-writes: the loop's hrtime when this client's last write was answered (0:
    // none), and the master offset that includes it (-1: not resolved yet), of one epoch of
    // ReadTargets' master history.
    std::uint64_t fence_ns_ = 0;
    std::int64_t offset_ = -1;
    std::uint64_t epoch_ = 0;
    bool on_replica_ = false;
    bool waiting_ = false;
};

}  // namespace sp::proxy
