#include "proxy/sentinel/master_fence.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "proxy/sentinel/replica_health.h"

namespace sp::proxy {

namespace {

// Fast enough that a promotion the CLIENT KILL did not reveal (a node we were not
// connected to yet) is seen within a few writes; cheap: one ROLE per node.
constexpr std::uint64_t kPollMs = 50;

}  // namespace

ServerIdentity server_identity(std::string_view info) {
    ServerIdentity id;
    for_each_info_field(info, [&](std::string_view k, std::string_view v) {
        if (k == "run_id") id.run_id = std::string(v);
        if (k == "master_replid") id.replid = std::string(v);
    });
    return id;
}

std::vector<NodeAddress> listed_replicas(std::string_view info) {
    std::vector<NodeAddress> out;
    for_each_info_field(info, [&](std::string_view k, std::string_view v) {
        if (k.substr(0, 5) != "slave" || k.size() == 5 ||
            k.find_first_not_of("0123456789", 5) != std::string_view::npos)
            return;
        NodeAddress a;
        // "ip=10.0.0.5,port=6379,state=online,offset=...,lag=0"
        while (!v.empty()) {
            std::size_t comma = v.find(',');
            std::string_view kv = v.substr(0, comma);
            v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
            if (kv.substr(0, 3) == "ip=") a.host = std::string(kv.substr(3));
            if (kv.substr(0, 5) == "port=") {
                int port = std::atoi(std::string(kv.substr(5)).c_str());
                if (port > 0 && port < 65536) a.port = static_cast<std::uint16_t>(port);
            }
        }
        if (!a.host.empty() && a.port) out.push_back(std::move(a));
    });
    return out;
}

std::vector<std::string> active_sentinels(std::string_view client_list, int max_idle_s) {
    std::vector<std::string> out;
    while (!client_list.empty()) {
        std::size_t eol = client_list.find('\n');
        std::string_view line = client_list.substr(0, eol);
        client_list =
            eol == std::string_view::npos ? std::string_view{} : client_list.substr(eol + 1);
        std::string_view name;
        int idle = -1;
        // "id=5 addr=... name=sentinel-0123abcd-cmd age=9 idle=0 flags=N ..."
        while (!line.empty()) {
            std::size_t sp = line.find(' ');
            std::string_view kv = line.substr(0, sp);
            line = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
            if (kv.substr(0, 5) == "name=") name = kv.substr(5);
            if (kv.substr(0, 5) == "idle=") idle = std::atoi(std::string(kv.substr(5)).c_str());
        }
        if (name.size() == 21 && name.substr(0, 9) == "sentinel-" && name.substr(17) == "-cmd" &&
            idle >= 0 && idle <= max_idle_s)
            out.emplace_back(name.substr(9, 8));
    }
    return out;
}

MasterFence::MasterFence(uv_loop_t* loop, const config::Config& config,
                         std::function<void()> on_change)
    : loop_(loop),
      config_(config),
      on_change_(std::move(on_change)),
      timer_(loop, [this] { tick(); }),
      notify_timer_(loop, [this] {
          if (on_change_) on_change_();
      }) {}

MasterFence::~MasterFence() {
    *alive_ = false;
}

void MasterFence::watch(const std::vector<NodeAddress>& nodes) {
    std::vector<std::shared_ptr<Node>> next;
    for (const NodeAddress& a : nodes) {
        auto same = [&](const auto& n) { return n->address == a; };
        if (std::any_of(next.begin(), next.end(), same)) continue;
        auto it = std::find_if(nodes_.begin(), nodes_.end(), same);
        if (it != nodes_.end()) {
            next.push_back(*it);
            continue;
        }
        auto n = std::make_shared<Node>();
        n->address = a;
        next.push_back(std::move(n));
    }
    nodes_ = std::move(next);
    if (!active_) {
        active_ = true;
        spdlog::info(
            "watching {} other node(s) for a second master while no sentinel majority "
            "confirms the master",
            nodes_.size());
        timer_.start(0, kPollMs);
    }
}

void MasterFence::stop() {
    if (!active_) return;
    active_ = false;
    timer_.stop();
    notify_timer_.stop();
    nodes_.clear();
    last_ = Verdict::clear;
}

MasterFence::Verdict MasterFence::verdict() const {
    Verdict v = Verdict::clear;
    for (const auto& n : nodes_) {
        if (n->master) return Verdict::second_master;
        if (n->suspect) v = Verdict::suspect;
    }
    return v;
}

NodeAddress MasterFence::culprit() const {
    for (const auto& n : nodes_)
        if (n->master) return n->address;
    for (const auto& n : nodes_)
        if (n->suspect) return n->address;
    return {};
}

void MasterFence::changed() {
    Verdict v = verdict();
    if (v == last_) return;
    last_ = v;
    // Deferred to the next loop turn: the listener may stop the fence, which must not
    // destroy a client inside its own callback.
    notify_timer_.start(0);
}

void MasterFence::connect(Node& node) {
    node.client = std::make_unique<RespClient>(loop_, TlsSide::redis, node.address.host,
                                               node.address.port, config_.connect_timeout_ms, 1000);
    node.broken = false;
    node.busy = false;
    node.up = false;
    node.client->send_auth(config_.redis_user, config_.redis_password);
    // The node owns its client, whose destructor calls nothing back: `raw` outlives every
    // callback. A broken client is replaced by the next poll, never inside its callback.
    Node* raw = &node;
    auto alive = alive_;
    node.client->on_closed([this, alive, raw](const std::string& why) {
        if (!*alive) return;
        if (raw->up && !raw->master) {
            // Maybe promoted (Sentinel kills a promoted replica's clients): hold until it
            // answered ROLE again, at once rather than at the next tick.
            spdlog::info("node {} dropped our connection ({}): checking its role",
                         raw->address.str(), why);
            raw->suspect = true;
            timer_.start(0, kPollMs);
        }
        raw->broken = true;
        raw->busy = false;
        raw->up = false;
        changed();
    });
    node.client->connect([this, alive, raw](bool ok, const std::string&) {
        if (!*alive || ok) return;
        raw->broken = true;
        // Unreachable: it takes writes from nobody we can see. A suspect node that cannot
        // be reached again is no evidence of a second master.
        raw->suspect = false;
        changed();
    });
}

void MasterFence::poll(const std::shared_ptr<Node>& node) {
    if (node->busy) return;
    if (!node->client || node->broken) connect(*node);
    node->busy = true;
    std::weak_ptr<Node> weak = node;
    auto alive = alive_;
    node->client->command({"ROLE"}, [this, alive, weak](const redisReply* r) {
        auto n = weak.lock();
        if (!*alive || !n) return;
        n->busy = false;
        if (!r) return;  // the close callback decides
        std::string role;
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
            r->element[0]->type == REDIS_REPLY_STRING)
            role.assign(r->element[0]->str, r->element[0]->len);
        n->up = true;
        n->suspect = false;
        if (role == "master" && !n->master)
            spdlog::warn("node {} answers ROLE master: two masters", n->address.str());
        n->master = role == "master";
        changed();
    });
}

void MasterFence::tick() {
    if (!active_) return;
    for (auto& n : nodes_) poll(n);
}

}  // namespace sp::proxy
