#include "proxy/sentinel/sentinel_roster.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "proxy/sentinel/sentinel_replies.h"

namespace sp::proxy {

using namespace sentinel_reply;

SentinelLink* SentinelRoster::find(const std::string& key) {
    auto it = links_.find(key);
    return it == links_.end() ? nullptr : it->second.get();
}

SentinelLink& SentinelRoster::add(const NodeAddress& addr, bool configured) {
    auto link = std::make_unique<SentinelLink>();
    link->addr = addr;
    link->configured = configured;
    return *links_.emplace(addr.str(), std::move(link)).first->second;
}

SentinelRoster::Links::iterator SentinelRoster::remove(Links::iterator it) {
    const std::string run_id = it->second->run_id;
    std::erase_if(directory_, [&](const auto& e) {
        return e.first == it->first || (!run_id.empty() && e.second == run_id);
    });
    return links_.erase(it);
}

SentinelLinkView SentinelRoster::view(const SentinelLink& link, std::uint64_t current_round) const {
    SentinelLinkView v;
    v.address = link.addr.str();
    if (!link.resolved_ip.empty()) v.resolved = NodeAddress{link.resolved_ip, link.addr.port}.str();
    v.run_id = link.run_id;
    v.answered = link.cmd_up && link.answered_round == current_round;
    v.names = link.answer;
    return v;
}

std::vector<SentinelLinkView> SentinelRoster::views(std::uint64_t current_round) const {
    std::vector<SentinelLinkView> out;
    for (const auto& [key, link] : links_) out.push_back(view(*link, current_round));
    return out;
}

std::string SentinelRoster::identity(const SentinelLink& link) const {
    // The identity rule reads addresses and run ids only, not the round's answers.
    return link_identity(view(link, 0), directory_);
}

std::vector<SentinelBallot> SentinelRoster::ballots(std::uint64_t current_round) const {
    return ballots_for(views(current_round), directory_);
}

void SentinelRoster::report_problem(SentinelLink& link, const std::string& problem,
                                    std::uint64_t now_ms) {
    // After a refused AUTH every command answers NOAUTH: the refusal is the cause to show.
    if (problem.rfind("NOAUTH", 0) == 0 && link.problem.rfind("AUTH refused", 0) == 0) return;
    if (link.problem != problem || now_ms - link.problem_logged_ms >= kProblemLogEveryMs) {
        spdlog::warn("sentinel {}: {}", link.addr.str(), problem);
        link.problem_logged_ms = now_ms;
    }
    link.problem = problem;
}

std::string SentinelRoster::sentinel_problems() const {
    std::string out;
    for (const auto& [key, link] : links_)
        if (!link->problem.empty())
            out += (out.empty() ? "" : "; ") + ("sentinel " + key + ": " + link->problem);
    return out;
}

std::vector<SentinelLink*> SentinelRoster::learn_sentinels(const std::string& from_key,
                                                           const redisReply* r) {
    std::vector<SentinelLink*> added;
    if (!r || r->type != REDIS_REPLY_ARRAY) return added;
    auto from = links_.find(from_key);
    if (from == links_.end()) return added;
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
        if (links_.count(a.str())) continue;
        // The same address under another name (localhost vs 127.0.0.1) is the same link.
        // A sentinel reached through a Service address still gets a link of its own: that
        // address may land on another sentinel at its next connect. Counting goes by run
        // id, so the two links are one sentinel.
        bool known = false;
        for (auto& [k, l] : links_)
            if (l->addr.port == a.port && l->resolved_ip == a.host) known = true;
        if (known) continue;
        spdlog::info("learned sentinel {} (run id {}) from SENTINEL SENTINELS", a.str(),
                     entry.run_id.empty() ? "unknown" : entry.run_id);
        SentinelLink& link = add(a, false);
        link.run_id = entry.run_id;
        added.push_back(&link);
    }
    from->second->listed = std::move(listed);
    from->second->listed_valid = true;
    forget_unlisted();
    return added;
}

void SentinelRoster::forget_unlisted() {
    const std::vector<SentinelLinkView> links = views(0);  // identities only: no round needed
    std::set<std::string> ids;
    for (const auto& [address, run_id] : directory_)
        ids.insert(listed_identity(address, run_id, links));
    std::set<std::string> configured;
    for (const auto& [k, l] : links_) {
        ids.insert(identity(*l));
        if (l->configured) configured.insert(identity(*l));
    }
    for (const std::string& id : ids) {
        if (configured.count(id)) continue;
        std::set<std::string> not_listing;
        for (const auto& [k, other] : links_) {
            std::string who = identity(*other);
            if (who == id || !other->listed_valid) continue;
            bool lists = other->listed.count(id) != 0;
            for (const auto& [k2, l] : links_)
                if (identity(*l) == id && other->listed.count(l->addr.str())) lists = true;
            if (!lists) not_listing.insert(who);
        }
        if (!majority_stopped_listing(not_listing.size(), ids.size())) continue;
        std::erase_if(directory_, [&](const auto& entry) {
            return listed_identity(entry.first, entry.second, links) == id;
        });
        for (auto& [k, l] : links_)
            if (identity(*l) == id && !l->configured) l->forget = true;
    }
}

// Sentinel's timings decide the default hold window (sentinel_timings.h). Sentinels may
// have been SENTINEL SET differently: the slowest view counts.
std::optional<SentinelTimings> SentinelRoster::learn_timings(const std::string& from_key,
                                                             const redisReply* r) {
    SentinelLink* from = find(from_key);
    if (!from) return std::nullopt;
    std::optional<SentinelTimings> parsed = parse_sentinel_master(r);
    if (!parsed) return std::nullopt;
    from->timings = parsed;
    std::optional<SentinelTimings> all;
    for (const auto& [key, link] : links_)
        if (link->timings) all = all ? slowest(*all, *link->timings) : *link->timings;
    return all;
}

}  // namespace sp::proxy
