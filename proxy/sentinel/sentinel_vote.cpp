#include "proxy/sentinel/sentinel_vote.h"

#include <map>
#include <set>

namespace sp::proxy {

std::string VoteOutcome::describe() const {
    std::string out =
        std::to_string(answering) + " of " + std::to_string(known) + " known sentinels answering";
    if (kind == Kind::majority)
        out = std::to_string(votes) + " of " + std::to_string(known) + " known sentinels";
    return out + ", a majority is " + std::to_string(needed);
}

VoteOutcome count_votes(const std::vector<SentinelBallot>& ballots) {
    VoteOutcome out;
    std::set<std::string> known;
    std::set<std::string> answered;
    std::map<std::string, std::pair<NodeAddress, std::size_t>> tally;
    for (const SentinelBallot& b : ballots) {
        known.insert(b.identity);
        if (!b.answered || !answered.insert(b.identity).second) continue;
        if (!b.names) continue;
        auto& t = tally[b.names->str()];
        t.first = *b.names;
        ++t.second;
    }
    out.known = known.size();
    out.answering = answered.size();
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
