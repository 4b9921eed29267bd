// Watches the other known Redis nodes while the proxy keeps a master that no sentinel
// majority confirms (issue 20): the moment one of them answers ROLE master, two masters
// exist and the proxy must hold until a sentinel majority names one. A watched node that
// drops our connection is suspect until it answers ROLE again: Sentinel promotes a
// replica with SLAVEOF NO ONE and CLIENT KILL TYPE normal in one transaction, so the drop
// is the first sign of a promotion, sooner than any poll. Also reads a master's identity
// from INFO (run id, replication id: a restarted node is a new server) and the replicas
// it lists, and which sentinels are at work on it (CLIENT LIST): a sentinel the master sees
// but the proxy cannot hear can fail the master over behind its back. The parsing is pure
// and unit-tested.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "proxy/net/tcp_stream.h"
#include "proxy/sentinel/resp_client.h"
#include "proxy/sentinel/topology.h"

namespace sp::proxy {

// Which server, with which data: run_id changes on every restart, master_replid when the
// node starts a new replication history (promoted, restarted, resynced).
struct ServerIdentity {
    std::string run_id;
    std::string replid;
    bool known() const { return !run_id.empty() && !replid.empty(); }
    bool operator==(const ServerIdentity&) const = default;
    std::string str() const { return "run id " + run_id + ", replication id " + replid; }
};

// From the text of INFO server + replication.
ServerIdentity server_identity(std::string_view info);
// The replicas a master's INFO replication lists (slaveN:ip=...,port=...).
std::vector<NodeAddress> listed_replicas(std::string_view info);
// The sentinels a node's CLIENT LIST shows at work: each sentinel names its command link
// "sentinel-<first 8 characters of its run id>-cmd" and PINGs at least once a second, so
// a link idle for at most `max_idle_s` is a live sentinel. Returns those 8-character ids.
std::vector<std::string> active_sentinels(std::string_view client_list, int max_idle_s);

class MasterFence {
  public:
    enum class Verdict {
        clear,          // every watched node answered as a non-master (or cannot be reached)
        suspect,        // a node dropped our connection: not yet re-checked
        second_master,  // a node answered ROLE master
    };
    // `on_change`: the verdict changed (called from a timer, never inside a client callback).
    MasterFence(uv_loop_t* loop, const config::Config& config, std::function<void()> on_change);
    ~MasterFence();
    MasterFence(const MasterFence&) = delete;
    MasterFence& operator=(const MasterFence&) = delete;

    // Starts (or updates) watching `nodes` (the kept master excluded by the caller).
    void watch(const std::vector<NodeAddress>& nodes);
    // Stops watching and forgets the verdict (a sentinel majority decides again).
    void stop();
    bool active() const { return active_; }
    void reconfigure(const config::Config& config) { config_ = config; }

    Verdict verdict() const;
    // The node behind a suspect or second_master verdict.
    NodeAddress culprit() const;

  private:
    struct Node {
        NodeAddress address;
        std::unique_ptr<RespClient> client;
        bool busy = false;
        bool up = false;       // connected and answered at least once
        bool broken = false;   // the connection failed or closed: a new one next tick
        bool suspect = false;  // it dropped an established connection; cleared by ROLE
        bool master = false;   // answered ROLE master
    };
    void tick();
    void poll(const std::shared_ptr<Node>& node);
    void connect(Node& node);
    void changed();

    uv_loop_t* loop_;
    config::Config config_;
    std::function<void()> on_change_;
    std::vector<std::shared_ptr<Node>> nodes_;
    bool active_ = false;
    Verdict last_ = Verdict::clear;
    Timer timer_;
    Timer notify_timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sp::proxy
