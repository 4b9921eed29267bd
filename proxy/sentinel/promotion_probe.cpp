#include "proxy/sentinel/promotion_probe.h"

#include <hiredis/hiredis.h>

#include <string>

namespace sp::proxy {

namespace {

constexpr std::uint32_t kRoleTimeoutMs = 1000;

}  // namespace

PromotionProbe::PromotionProbe(uv_loop_t* loop, const config::Config& config, RoleFn on_old_master,
                               RoleFn on_replica)
    : loop_(loop),
      config_(config),
      on_old_master_(std::move(on_old_master)),
      on_replica_(std::move(on_replica)),
      timer_(loop, [this] { tick(); }) {}

PromotionProbe::~PromotionProbe() {
    *alive_ = false;
}

PromotionProbe::Role PromotionProbe::read_role(const redisReply* r) {
    Role role;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) return role;
    const redisReply* name = r->element[0];
    if (name->type != REDIS_REPLY_STRING && name->type != REDIS_REPLY_STATUS) return role;
    role.answered = true;
    const std::string kind(name->str, name->len);
    // master: [master, offset, replicas]; slave: [slave, ip, port, state, offset].
    const redisReply* offset = nullptr;
    if (kind == "master") {
        role.is_master = true;
        offset = r->element[1];
    } else if (kind == "slave" && r->elements >= 5) {
        offset = r->element[4];
    }
    if (offset && offset->type == REDIS_REPLY_INTEGER && offset->integer >= 0)
        role.offset = static_cast<std::uint64_t>(offset->integer);
    return role;
}

std::unique_ptr<RespClient> PromotionProbe::open(const NodeAddress& addr, Target& target) {
    auto client = std::make_unique<RespClient>(loop_, TlsSide::redis, addr.host, addr.port,
                                               config_.connect_timeout_ms, kRoleTimeoutMs);
    client->send_auth(config_.redis_user, config_.redis_password);
    auto alive = alive_;
    Target* t = &target;
    RespClient* self = client.get();
    client->on_closed([alive, t, self](const std::string&) {
        if (*alive && t->client.get() == self) t->lost = true;
    });
    client->connect([alive, t, self](bool ok, const std::string&) {
        if (*alive && !ok && t->client.get() == self) t->lost = true;
    });
    return client;
}

void PromotionProbe::read_old_master(const NodeAddress& old) {
    if (old_.client) retired_.push_back(std::move(old_.client));
    old_.client = open(old, old_);
    old_.addr = old;
    old_.lost = false;
    auto alive = alive_;
    RespClient* client = old_.client.get();
    old_.client->command({"ROLE"}, [this, alive, old, client](const redisReply* r) {
        if (!*alive || old_.client.get() != client) return;
        on_old_master_(old, read_role(r));
        old_.lost = true;  // one read only: dropped by the next tick
    });
    if (!timer_.active()) timer_.start(kIntervalMs, kIntervalMs);
}

void PromotionProbe::follow(const NodeAddress& replica) {
    if (replica_.client && replica_.addr == replica) return;
    if (replica_.client) retired_.push_back(std::move(replica_.client));
    replica_.addr = replica;
    replica_.client = open(replica, replica_);
    replica_.busy = false;
    replica_.lost = false;
    timer_.start(0, kIntervalMs);
}

void PromotionProbe::stop() {
    // stop() may be called from inside a reply callback of the very client it ends.
    if (replica_.client) retired_.push_back(std::move(replica_.client));
    if (old_.client) retired_.push_back(std::move(old_.client));
    timer_.start(0, kIntervalMs);
}

void PromotionProbe::tick() {
    retired_.clear();
    if (old_.client && old_.lost) old_.client.reset();
    if (!replica_.client) {
        if (!old_.client) timer_.stop();
        return;
    }
    if (replica_.lost) {
        // Report the silence once, then reconnect on the next tick.
        replica_.client = open(replica_.addr, replica_);
        replica_.busy = false;
        replica_.lost = false;
        on_replica_(replica_.addr, Role{});
        return;
    }
    if (replica_.busy) return;
    replica_.busy = true;
    auto alive = alive_;
    const NodeAddress addr = replica_.addr;
    RespClient* client = replica_.client.get();
    client->command({"ROLE"}, [this, alive, addr, client](const redisReply* r) {
        if (!*alive || replica_.client.get() != client) return;
        replica_.busy = false;
        on_replica_(addr, read_role(r));
    });
}

}  // namespace sp::proxy
