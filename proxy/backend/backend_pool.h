// The shared backend connections of one loop: a few pipelined SharedLinks per verified
// master and protocol version (RESP2 and RESP3 replies differ), handed to every client
// session in the default connection state. Links to a master that was replaced are
// retired: they get no new requests and close once their last reply is in. Every link
// with bytes to write is flushed once per loop turn (a uv_check handle), so the commands
// of all clients read in one turn go to Redis in one write.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "proxy/backend/credentials.h"
#include "proxy/backend/shared_link.h"
#include "proxy/net/loop_counter.h"
#include "proxy/net/node_address.h"
#include "proxy/net/tcp_stream.h"

namespace sp::proxy {

class BackendPool {
  public:
    BackendPool(uv_loop_t* loop, std::uint32_t links_per_master, BackendCredentials credentials,
                std::uint32_t connect_timeout_ms);
    ~BackendPool();
    BackendPool(const BackendPool&) = delete;
    BackendPool& operator=(const BackendPool&) = delete;

    // A shared link to `master` for clients speaking `proto` (the least busy one, a new
    // one while fewer than links_per_master exist). Never nullptr.
    SharedLink& link_for(const NodeAddress& master, protocol::RespVersion proto);
    // The verified master is now `master` (or none): links to any node other than it and
    // the `replicas` Sentinel reports (read targets) are retired.
    void on_master(const std::optional<NodeAddress>& master,
                   const std::vector<NodeAddress>& replicas);
    // Requests in flight on the links to `address` for `proto` (replica balancing).
    std::size_t in_flight(const NodeAddress& address, protocol::RespVersion proto) const;
    void set_credentials(BackendCredentials credentials) { credentials_ = std::move(credentials); }
    void set_links_per_master(std::uint32_t n) { links_per_master_ = n ? n : 1; }

    std::size_t links() const { return links_.size(); }
    std::uint64_t batches() const { return batches_; }
    std::uint64_t batched_links() const { return batched_links_; }

  private:
    static void on_check(uv_check_t* handle);
    void flush_dirty();
    void reap();

    uv_loop_t* loop_;
    std::uint32_t links_per_master_;
    BackendCredentials credentials_;
    std::uint32_t connect_timeout_ms_;
    std::vector<std::unique_ptr<SharedLink>> links_;
    std::vector<SharedLink*> dirty_;
    std::vector<SharedLink*> flushing_;  // dirty_ of the flush in progress
    uv_check_t* check_;                  // freed by its close callback
    Timer reap_timer_;                   // destroys dead and drained links outside their callbacks
    // Read by the metrics scrape, which may run on another thread (issue 24).
    LoopCounter batches_ = 0;
    LoopCounter batched_links_ = 0;
};

}  // namespace sp::proxy
