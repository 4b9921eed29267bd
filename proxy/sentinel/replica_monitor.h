// Measures, every 100 ms, whether each replica Sentinel reports may serve reads: it asks
// the verified master and each replica `INFO replication` (+ `persistence` for loading)
// over its own control connection (RespClient, the proxy's Redis credentials) and writes
// the verdicts into the pool's ReadTargets (replica_health decides). Runs only while
// routing.read_from is not "master".
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <vector>

#include "config/config.h"
#include "proxy/net/tcp_stream.h"
#include "proxy/sentinel/problem_log.h"
#include "proxy/sentinel/read_targets.h"
#include "proxy/sentinel/replica_health.h"
#include "proxy/sentinel/resp_client.h"
#include "proxy/sentinel/topology.h"

namespace sp::proxy {

class ReplicaMonitor {
  public:
    // `on_unusable`: a replica just left rotation; sessions with reads in flight there
    // re-send them to the master rather than wait (a stopped replica never answers).
    // `on_assessed`: a round of measurements ended (reads held for a replica may go now).
    ReplicaMonitor(uv_loop_t* loop, const config::Config& config, Topology& topology,
                   ReadTargets& targets, std::function<void(const NodeAddress&)> on_unusable,
                   std::function<void()> on_assessed);
    ~ReplicaMonitor();
    ReplicaMonitor(const ReplicaMonitor&) = delete;
    ReplicaMonitor& operator=(const ReplicaMonitor&) = delete;

    void start();
    void reconfigure(const config::Config& config) { config_ = config; }

  private:
    struct Node {
        NodeAddress address;
        std::unique_ptr<RespClient> client;
        bool busy = false;
        bool broken = false;  // the connection failed: a new one next tick
        std::uint64_t last_reply_ns = 0;
        ReplicaInfo info;
    };
    void on_snapshot(const SnapshotPtr& snap);
    void tick();
    void poll(const std::shared_ptr<Node>& node, bool master);
    void connect(Node& node);
    void assess_all(std::uint64_t now_ns);

    uv_loop_t* loop_;
    ProblemLog problems_;  // refused AUTH, failed TLS handshakes (rate-limited warnings)
    config::Config config_;
    Topology& topology_;
    ReadTargets& targets_;
    std::function<void(const NodeAddress&)> on_unusable_;
    std::function<void()> on_assessed_;
    std::size_t topology_sub_ = 0;
    std::shared_ptr<Node> master_;
    std::vector<std::shared_ptr<Node>> replicas_;
    Timer timer_;
};

}  // namespace sp::proxy
