// Counts what the known sentinels say about the master, and decides whether that may
// change what the proxy trusts. The rule (issue 10): switching to a master, and the very
// first verification, need a majority of ALL known sentinels (configured plus learned,
// one sentinel counted once however many addresses reach it), not of those that happen
// to answer. Otherwise a stale sentinel, a rogue one monitoring another Redis under the
// same name, or the minority side of a network split could move writes to a second
// master. Pure, so it is unit-tested without sockets.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "proxy/sentinel/topology.h"

namespace sp::proxy {

// One sentinel link's view in the current round.
struct SentinelBallot {
    std::string identity;   // Sentinel's run id (SENTINEL MYID), else the address it was given
    bool answered = false;  // answered GET-MASTER-ADDR-BY-NAME this round
    std::optional<NodeAddress> names;  // the master it named (empty: it knows none)
};

struct VoteOutcome {
    enum class Kind {
        majority,        // `master` is named by a majority of known sentinels
        disagree,        // a majority answered, but no address has a majority
        minority,        // fewer than a majority answered: nothing may be switched
        none_answering,  // no sentinel answered at all
    };
    Kind kind = Kind::none_answering;
    std::optional<NodeAddress> master;
    std::size_t votes = 0;      // for `master` (majority), or the best address otherwise
    std::size_t answering = 0;  // distinct sentinels that answered
    std::size_t known = 0;      // distinct sentinels known
    std::size_t needed = 0;     // a majority of `known`

    // "3 of 4 known sentinels" style summary for logs and /status.
    std::string describe() const;
};

// Ballots with the same identity are one sentinel: the first that answered speaks for it.
VoteOutcome count_votes(const std::vector<SentinelBallot>& ballots);

// A learned sentinel leaves the known set only when a majority of the known sentinels,
// asked with SENTINEL SENTINELS, no longer list it (never on the proxy's own timeout).
inline bool majority_stopped_listing(std::size_t not_listing, std::size_t known) {
    return known > 0 && not_listing * 2 > known;
}

}  // namespace sp::proxy
