#include "proxy/sentinel/replica_monitor.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace sp::proxy {

namespace {
constexpr std::uint64_t kPollMs = 100;
// An INFO answer older than this makes a replica ineligible (a stopped or cut-off node).
constexpr std::uint64_t kFreshNs = 350'000'000ull;
}  // namespace

ReplicaMonitor::ReplicaMonitor(uv_loop_t* loop, const config::Config& config, Topology& topology,
                               ReadTargets& targets,
                               std::function<void(const NodeAddress&)> on_unusable,
                               std::function<void()> on_assessed)
    : loop_(loop),
      config_(config),
      topology_(topology),
      targets_(targets),
      on_unusable_(std::move(on_unusable)),
      on_assessed_(std::move(on_assessed)),
      timer_(loop, [this] { tick(); }) {}

ReplicaMonitor::~ReplicaMonitor() {
    if (topology_sub_) topology_.unsubscribe(topology_sub_);
}

void ReplicaMonitor::start() {
    topology_sub_ = topology_.subscribe([this](const SnapshotPtr& s) { on_snapshot(s); });
    on_snapshot(topology_.current());
    timer_.start(kPollMs, kPollMs);
}

void ReplicaMonitor::on_snapshot(const SnapshotPtr& snap) {
    if (config_.read_routing == config::ReadRouting::master) return;
    if (!snap->master) return;  // a hold: sessions send nothing; keep measuring
    if (!master_ || !(master_->address == *snap->master)) {
        master_ = std::make_shared<Node>();
        master_->address = *snap->master;
        targets_.reset(snap->master);
    }
    // Sentinel's list (without nodes it flags down or disconnected), minus the master.
    std::vector<std::shared_ptr<Node>> next;
    std::vector<ReplicaTarget> entries;
    for (const NodeAddress& a : snap->replicas) {
        if (a == *snap->master) continue;
        auto it = std::find_if(replicas_.begin(), replicas_.end(),
                               [&](const auto& n) { return n->address == a; });
        if (it != replicas_.end()) {
            next.push_back(*it);
        } else {
            auto n = std::make_shared<Node>();
            n->address = a;
            next.push_back(std::move(n));
        }
        ReplicaTarget t;
        if (ReplicaTarget* old = targets_.find(a)) t = *old;
        t.address = a;
        entries.push_back(t);
    }
    replicas_ = std::move(next);
    targets_.replicas() = std::move(entries);
}

void ReplicaMonitor::connect(Node& node) {
    std::uint32_t timeout = std::max<std::uint32_t>(300, config_.max_replica_lag_ms);
    node.client =
        std::make_unique<RespClient>(loop_, TlsSide::redis, node.address.host, node.address.port,
                                     config_.connect_timeout_ms, timeout);
    node.broken = false;
    node.busy = false;
    // The node owns its client, whose destructor calls nothing back: `raw` outlives every
    // callback. A broken client is replaced on the next tick, never inside its callback.
    Node* raw = &node;
    // A replica that refuses the proxy's credentials or TLS is named, not just skipped.
    const std::string who = "redis " + node.address.str() + " (replica reads)";
    if (!config_.redis_password.empty()) {
        std::vector<std::string> auth = {"AUTH", config_.redis_password};
        if (!config_.redis_user.empty())
            auth = {"AUTH", config_.redis_user, config_.redis_password};
        node.client->command(auth, [this, raw, who](const redisReply* r) {
            if (r && r->type == REDIS_REPLY_ERROR)
                problems_.report(uv_now(loop_), raw->address.str(), "auth",
                                 who + ": AUTH refused: " + std::string(r->str, r->len) +
                                     " (check redis.user/redis.password)");
        });
    }
    node.client->on_closed([raw](const std::string&) {
        raw->broken = true;
        raw->busy = false;
    });
    node.client->connect([this, raw, who](bool ok, const std::string&) {
        if (ok) return;
        raw->broken = true;
        if (!raw->client->tls_failure().empty())
            problems_.report(uv_now(loop_), raw->address.str(), "tls",
                             who + ": TLS handshake failed: " + raw->client->tls_failure());
    });
}

void ReplicaMonitor::poll(const std::shared_ptr<Node>& node, bool master) {
    if (node->busy) return;
    if (!node->client || node->broken) connect(*node);
    node->busy = true;
    const std::uint64_t sent_ns = uv_hrtime();
    std::weak_ptr<Node> weak = node;
    node->client->command({"INFO", "replication", "persistence"},
                          [this, weak, master, sent_ns](const redisReply* r) {
                              auto n = weak.lock();
                              if (!n) return;
                              n->busy = false;
                              if (!r || (r->type != REDIS_REPLY_STRING)) return;
                              n->info = parse_info(std::string_view(r->str, r->len));
                              n->last_reply_ns = uv_hrtime();
                              if (master) {
                                  // Only a master's offset counts, and only our verified master's.
                                  if (!n->info.is_replica && n->info.offset >= 0 && master_ == n &&
                                      targets_.master() && *targets_.master() == n->address)
                                      targets_.history().add(sent_ns, n->info.offset);
                                  return;
                              }
                              assess_all(uv_hrtime());
                          });
}

void ReplicaMonitor::tick() {
    if (config_.read_routing == config::ReadRouting::master) {
        targets_.replicas().clear();
        replicas_.clear();
        master_.reset();
        targets_.reset(std::nullopt);
        return;
    }
    if (!master_) on_snapshot(topology_.current());
    if (!master_) return;
    targets_.history().set_window(std::max<std::uint64_t>(2000, 2ull * config_.max_replica_lag_ms) *
                                  1'000'000ull);
    poll(master_, true);
    for (auto& n : replicas_) poll(n, false);
    assess_all(uv_hrtime());
}

void ReplicaMonitor::assess_all(std::uint64_t now_ns) {
    if (!master_) return;
    const std::string no_replid;
    const std::string& replid = master_->info.is_replica ? no_replid : master_->info.replid;
    // Lag is measured against the master's recent offsets only: a master that stopped
    // answering INFO says nothing about how far replicas are behind.
    const bool master_fresh = master_->last_reply_ns &&
                              now_ns - master_->last_reply_ns < kFreshNs &&
                              !master_->info.is_replica;
    for (auto& n : replicas_) {
        ReplicaTarget* t = targets_.find(n->address);
        if (!t) continue;
        const bool fresh = n->last_reply_ns && now_ns - n->last_reply_ns < kFreshNs;
        Assessment a = assess(n->info, fresh, master_->address.host, master_->address.port, replid,
                              targets_.history(), now_ns, config_.max_replica_lag_ms);
        if (!master_fresh && a.reason == SkipReason::none) a.reason = SkipReason::master_unknown;
        const SkipReason before = t->reason;
        t->reason = a.reason;
        t->lag_ms = a.lag_ms;
        t->offset = n->info.offset;
        if (before == a.reason) continue;
        if (a.reason == SkipReason::none) {
            spdlog::info("replica {} eligible for reads (lag {} ms)", n->address.str(), a.lag_ms);
        } else {
            targets_.count_skip(a.reason);
            if (before == SkipReason::none) {
                spdlog::info("replica {} out of rotation: {} (lag {} ms)", n->address.str(),
                             skip_reason_name(a.reason), a.lag_ms);
                if (on_unusable_) on_unusable_(n->address);
            }
        }
    }
    if (on_assessed_) on_assessed_();
}

}  // namespace sp::proxy
