// The eyes of failover.follow_promotion (issue 25): reads the old master's replication
// offset once when a failover of it starts, and asks the replica the leader sentinel
// selected for ROLE every kIntervalMs until told to stop, so the proxy sees the promotion
// tens of milliseconds after it happens instead of at Sentinel's next once-a-second INFO.
// It reports what each ROLE said and decides nothing (FailoverState does).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "config/config.h"
#include "proxy/net/node_address.h"
#include "proxy/net/tcp_stream.h"
#include "proxy/sentinel/resp_client.h"

struct redisReply;

namespace sp::proxy {

class PromotionProbe {
  public:
    static constexpr std::uint64_t kIntervalMs = 25;

    // What a node answered ROLE with; answered = false when it did not answer at all.
    struct Role {
        bool answered = false;
        bool is_master = false;
        std::uint64_t offset = 0;  // master_repl_offset (masters) or the replica's offset
    };
    using RoleFn = std::function<void(const NodeAddress& node, const Role& role)>;

    PromotionProbe(uv_loop_t* loop, const config::Config& config, RoleFn on_old_master,
                   RoleFn on_replica);
    ~PromotionProbe();
    PromotionProbe(const PromotionProbe&) = delete;
    PromotionProbe& operator=(const PromotionProbe&) = delete;

    void reconfigure(const config::Config& config) { config_ = config; }
    // One ROLE to the master being failed over; on_old_master gets the answer.
    void read_old_master(const NodeAddress& old);
    // ROLE to `replica` every kIntervalMs (one at a time) until stop().
    void follow(const NodeAddress& replica);
    void stop();
    bool following() const { return replica_.client != nullptr; }

    // ROLE's reply, read (pure; unit-tested).
    static Role read_role(const redisReply* reply);

  private:
    struct Target {
        NodeAddress addr;
        std::unique_ptr<RespClient> client;
        bool busy = false;
        bool lost = false;  // the connection closed: replaced by the next tick, not in its callback
    };
    std::unique_ptr<RespClient> open(const NodeAddress& addr, Target& target);
    void tick();

    uv_loop_t* loop_;
    config::Config config_;
    RoleFn on_old_master_;
    RoleFn on_replica_;
    Target old_;
    Target replica_;
    // Clients stopped from inside a callback of theirs: freed by the next tick.
    std::vector<std::unique_ptr<RespClient>> retired_;
    Timer timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sp::proxy
