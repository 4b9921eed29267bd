// The client sessions of one pool on one loop, and their lifetimes: a session is added when
// accepted, retires itself when it closes, and is deleted on the next loop turn, never inside
// the callback that closed it. Fan-outs to every session (shutdown drain, a replica leaving
// rotation, a round of replica measurements) walk a copy, since a session may close during
// the walk.
#pragma once

#include <uv.h>

#include <cstddef>
#include <unordered_set>
#include <vector>

#include "proxy/net/client_seats.h"
#include "proxy/net/node_address.h"
#include "proxy/net/tcp_stream.h"

namespace sp::proxy {

class ClientSession;

class SessionRegistry {
  public:
    explicit SessionRegistry(uv_loop_t* loop);
    ~SessionRegistry();
    SessionRegistry(const SessionRegistry&) = delete;
    SessionRegistry& operator=(const SessionRegistry&) = delete;

    void add(ClientSession* s);
    // The pool's seats (shared with its other loops, so max_clients and the process's
    // descriptor budget hold across every worker): the listener took one for each session
    // added here, and the registry gives it back when the session retires.
    void give_seats_back_to(ClientSeats* seats) { seats_ = seats; }
    // Called by a session that closed itself (through SessionServices::retire).
    void retire(ClientSession* s);
    bool contains(ClientSession* s) const { return sessions_.count(s) != 0; }
    std::size_t size() const { return sessions_.size(); }
    // Calls `fn` for each session still registered when its turn comes.
    template <class F>
    void for_each(F&& fn) {
        auto all = sessions_;
        for (ClientSession* s : all)
            if (contains(s)) fn(s);
    }

    // Shutdown drain (called until it returns 0): closes the sessions that owe their
    // client nothing. Returns how many sessions are still open.
    std::size_t drain();
    void close_all();
    // Closes every session and deletes them now (the owner's teardown, while what the
    // sessions report to still exists).
    void shutdown();

    // Sessions with a backend connection of their own (metrics).
    std::size_t dedicated_links() const;
    // A replica left rotation: sessions with reads in flight there re-send them.
    void replica_unusable(const NodeAddress& address);
    // routing.read_from = replica: a session holds a read until some replica is eligible;
    // each round of replica measurements lets the waiting sessions try again.
    void wait_for_replica(ClientSession* s) { replica_waiters_.insert(s); }
    void replicas_assessed();

  private:
    void reap();

    std::unordered_set<ClientSession*> sessions_;
    std::unordered_set<ClientSession*> replica_waiters_;
    std::vector<ClientSession*> retired_;
    ClientSeats* seats_ = nullptr;
    Timer reap_timer_;
};

}  // namespace sp::proxy
