#include "proxy/sentinel/sentinel_vote.h"

#include <map>
#include <set>

namespace sp::proxy {

std::string VoteOutcome::describe() const {
    std::string out =
        std::to_string(answering) + " of " + std::to_string(known) + " known sentinels answering";
    if (kind == Kind::majority)
        out = std::to_string(votes) + " of " + std::to_string(known) + " known sentinels";
    out += ", a majority is " + std::to_string(needed);
    if (abstaining)
        out += "; " + std::to_string(abstaining) + " monitor" + (abstaining == 1 ? "s" : "") +
               " no such master";
    return out;
}

namespace {

bool reaches(const SentinelLinkView& link, const std::string& address) {
    return link.address == address || (!link.resolved.empty() && link.resolved == address);
}

}  // namespace

std::string link_identity(const SentinelLinkView& link, const SentinelDirectory& directory) {
    if (!link.run_id.empty()) return link.run_id;
    for (const auto& [address, run_id] : directory)
        if (reaches(link, address)) return run_id;
    return "addr " + link.address;
}

std::string listed_identity(const std::string& address, const std::string& run_id,
                            const std::vector<SentinelLinkView>& links) {
    for (const SentinelLinkView& l : links)
        if (!l.run_id.empty() && reaches(l, address)) return l.run_id;
    return run_id;
}

std::vector<SentinelBallot> ballots_for(const std::vector<SentinelLinkView>& links,
                                        const SentinelDirectory& directory) {
    std::vector<SentinelBallot> out;
    std::set<std::string> linked;
    for (const SentinelLinkView& l : links) {
        out.push_back(
            {link_identity(l, directory), l.answered, l.answered ? l.names : std::nullopt});
        linked.insert(out.back().identity);
    }
    for (const auto& [address, run_id] : directory) {
        std::string id = listed_identity(address, run_id, links);
        if (linked.insert(id).second) out.push_back({id, false, std::nullopt});
    }
    return out;
}

VoteOutcome count_votes(const std::vector<SentinelBallot>& ballots) {
    VoteOutcome out;
    std::set<std::string> known;
    std::set<std::string> answered;
    std::map<std::string, std::pair<NodeAddress, std::size_t>> tally;
    for (const SentinelBallot& b : ballots) {
        known.insert(b.identity);
        if (!b.answered || !answered.insert(b.identity).second) continue;
        if (!b.names) {
            ++out.abstaining;
            continue;
        }
        auto& t = tally[b.names->str()];
        t.first = *b.names;
        ++t.second;
    }
    out.known = known.size();
    out.answering = answered.size() - out.abstaining;
    out.needed = out.known / 2 + 1;
    for (const auto& [key, t] : tally) {
        if (t.second > out.votes) {
            out.votes = t.second;
            out.master = t.first;
        }
    }
    if (out.answering == 0) {
        out.kind = VoteOutcome::Kind::none_answering;
        out.master.reset();
    } else if (out.votes >= out.needed) {
        out.kind = VoteOutcome::Kind::majority;
    } else {
        out.kind =
            out.answering >= out.needed ? VoteOutcome::Kind::disagree : VoteOutcome::Kind::minority;
        out.master.reset();
    }
    return out;
}

}  // namespace sp::proxy
