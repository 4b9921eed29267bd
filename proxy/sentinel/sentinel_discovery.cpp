// Which sentinels exist, and what each one is: the part of SentinelWatcher that learns
// sentinels (SENTINEL SENTINELS) and replicas (SENTINEL REPLICAS), counts one sentinel
// once however many addresses reach it (by run id, and one address is one sentinel: a new
// run id there is that sentinel restarted), forgets a learned one only when a majority of
// the sentinels stop listing it, and names misconfiguration (NOAUTH, a master name the
// sentinel does not know) instead of staying silent.
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "proxy/sentinel/sentinel_replies.h"
#include "proxy/sentinel/sentinel_watcher.h"

namespace sp::proxy {

using namespace sentinel_reply;

namespace {

// A misconfigured sentinel (NOAUTH, unknown master name) is logged at most this often.
constexpr std::uint64_t kProblemLogEveryMs = 30'000;

}  // namespace

SentinelLinkView SentinelWatcher::view(const SentinelLink& link) const {
    SentinelLinkView v;
    v.address = link.addr.str();
    if (!link.resolved_ip.empty()) v.resolved = NodeAddress{link.resolved_ip, link.addr.port}.str();
    v.run_id = link.run_id;
    v.answered = link.cmd_up && link.answered_round == rounds_.current;
    v.names = link.answer;
    return v;
}

std::vector<SentinelLinkView> SentinelWatcher::views() const {
    std::vector<SentinelLinkView> out;
    for (const auto& [key, link] : sentinels_) out.push_back(view(*link));
    return out;
}

std::string SentinelWatcher::identity(const SentinelLink& link) const {
    return link_identity(view(link), directory_);
}

void SentinelWatcher::report_problem(SentinelLink& link, const std::string& problem) {
    // After a refused AUTH every command answers NOAUTH: the refusal is the cause to show.
    if (problem.rfind("NOAUTH", 0) == 0 && link.problem.rfind("AUTH refused", 0) == 0) return;
    std::uint64_t now = uv_now(loop_);
    if (link.problem != problem || now - link.problem_logged_ms >= kProblemLogEveryMs) {
        spdlog::warn("sentinel {}: {}", link.addr.str(), problem);
        link.problem_logged_ms = now;
    }
    link.problem = problem;
}

std::string SentinelWatcher::sentinel_problems() const {
    std::string out;
    for (const auto& [key, link] : sentinels_)
        if (!link->problem.empty())
            out += (out.empty() ? "" : "; ") + ("sentinel " + key + ": " + link->problem);
    return out;
}

void SentinelWatcher::learn_sentinels(const std::string& from_key, const redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY) return;
    auto from = sentinels_.find(from_key);
    if (from == sentinels_.end()) return;
    std::set<std::string> listed;
    for (std::size_t i = 0; i < r->elements; ++i) {
        const redisReply* e = r->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY) continue;
        InstanceEntry entry = instance_entry(e);
        if (!entry.addr) continue;
        const NodeAddress& a = *entry.addr;
        listed.insert(a.str());
        if (!entry.run_id.empty()) {
            listed.insert(entry.run_id);
            directory_[a.str()] = entry.run_id;  // a new run id here replaces the old one
        }
        if (sentinels_.count(a.str())) continue;
        // The same address under another name (localhost vs 127.0.0.1) is the same link.
        // A sentinel reached through a Service address still gets a link of its own: that
        // address may land on another sentinel at its next connect. Counting goes by run
        // id, so the two links are one sentinel.
        bool known = false;
        for (auto& [k, l] : sentinels_)
            if (l->addr.port == a.port && l->resolved_ip == a.host) known = true;
        if (known) continue;
        spdlog::info("learned sentinel {} (run id {}) from SENTINEL SENTINELS", a.str(),
                     entry.run_id.empty() ? "unknown" : entry.run_id);
        auto link = std::make_unique<SentinelLink>();
        link->addr = a;
        link->run_id = entry.run_id;
        auto& ref = *link;
        sentinels_.emplace(a.str(), std::move(link));
        connect_link(ref);
        // Learn again next round: the new sentinel's own list too (it lists the sentinel
        // that told us about it, which a Service address may have hidden).
        rounds_.learn_sentinels = true;
    }
    from->second->listed = std::move(listed);
    from->second->listed_valid = true;
    forget_unlisted();
}

std::vector<SentinelBallot> SentinelWatcher::ballots() const {
    return ballots_for(views(), directory_);
}

void SentinelWatcher::forget_unlisted() {
    const std::vector<SentinelLinkView> links = views();
    std::set<std::string> ids;
    for (const auto& [address, run_id] : directory_)
        ids.insert(listed_identity(address, run_id, links));
    std::set<std::string> configured;
    for (const auto& [k, l] : sentinels_) {
        ids.insert(identity(*l));
        if (l->configured) configured.insert(identity(*l));
    }
    for (const std::string& id : ids) {
        if (configured.count(id)) continue;
        std::set<std::string> not_listing;
        for (const auto& [k, other] : sentinels_) {
            std::string who = identity(*other);
            if (who == id || !other->listed_valid) continue;
            bool lists = other->listed.count(id) != 0;
            for (const auto& [k2, l] : sentinels_)
                if (identity(*l) == id && other->listed.count(l->addr.str())) lists = true;
            if (!lists) not_listing.insert(who);
        }
        if (!majority_stopped_listing(not_listing.size(), ids.size())) continue;
        std::erase_if(directory_, [&](const auto& entry) {
            return listed_identity(entry.first, entry.second, links) == id;
        });
        for (auto& [k, l] : sentinels_)
            if (identity(*l) == id && !l->configured) l->forget = true;
    }
}

void SentinelWatcher::explain_unknown_master(const std::string& key) {
    auto it = sentinels_.find(key);
    if (it == sentinels_.end() || !it->second->cmd) return;
    const SentinelLink& link = *it->second;
    if (!link.problem.empty() && uv_now(loop_) - link.problem_logged_ms < kProblemLogEveryMs)
        return;  // already explained recently
    auto alive = alive_;
    it->second->cmd->command({"SENTINEL", "MASTERS"}, [this, alive, key](const redisReply* r) {
        if (!*alive) return;
        auto l = sentinels_.find(key);
        if (l == sentinels_.end() || !r || r->type != REDIS_REPLY_ARRAY) return;
        std::string names = master_names(r);
        report_problem(*l->second, "does not know master '" + config_.master_name +
                                       "' (it knows: " + (names.empty() ? "none" : names) + ")");
    });
}

void SentinelWatcher::learn_replicas(const redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY) return;
    std::vector<NodeAddress> reps;
    kept_.known_nodes.clear();
    for (std::size_t i = 0; i < r->elements; ++i) {
        const redisReply* e = r->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY) continue;
        InstanceEntry entry = instance_entry(e);
        if (!entry.addr) continue;
        kept_.known_nodes.push_back(*entry.addr);  // down ones too: the fence watches them all
        if (entry.flags.find("down") != std::string::npos ||
            entry.flags.find("disconnected") != std::string::npos)
            continue;
        reps.push_back(std::move(*entry.addr));
    }
    replicas_ = std::move(reps);
}

}  // namespace sp::proxy

namespace sp::proxy {

// Sentinel's timings decide the default hold window (sentinel_timings.h). Sentinels may
// have been SENTINEL SET differently: the slowest view counts.
void SentinelWatcher::learn_timings(const std::string& from_key, const redisReply* r) {
    auto from = sentinels_.find(from_key);
    if (from == sentinels_.end()) return;
    std::optional<SentinelTimings> parsed = parse_sentinel_master(r);
    if (!parsed) return;
    from->second->timings = parsed;
    std::optional<SentinelTimings> all;
    for (const auto& [key, link] : sentinels_)
        if (link->timings) all = all ? slowest(*all, *link->timings) : *link->timings;
    if (!all || (timings_.last && *timings_.last == *all)) return;
    timings_.last = all;
    if (timings_.notify) timings_.notify(*all);
}

}  // namespace sp::proxy
