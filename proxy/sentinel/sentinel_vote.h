// Counts what the known sentinels say about the master, and decides whether that may
// change what the proxy trusts. The rule (issue 10): switching to a master, and the very
// first verification, need a majority of ALL known sentinels (configured plus learned,
// one sentinel counted once however many addresses reach it), not of those that happen
// to answer. Otherwise a stale sentinel, a rogue one monitoring another Redis under the
// same name, or the minority side of a network split could move writes to a second
// master. Which links and listed addresses are one sentinel is decided here too
// (issue 20): one address is one sentinel, as Sentinel's own -dup-sentinel rule has it.
// Pure, so it is unit-tested without sockets.
#pragma once

#include <cstddef>
#include <map>
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

// One link to a sentinel, as the identity rule sees it.
struct SentinelLinkView {
    std::string address;   // "host:port" as configured or learned
    std::string resolved;  // "ip:port" it last resolved to (empty: not yet)
    std::string run_id;    // what SENTINEL MYID said there last (empty: never answered)
    bool answered = false;
    std::optional<NodeAddress> names;
};

// What SENTINEL SENTINELS listed: address ("ip:port") -> the run id listed there last.
// Keyed by address, so a new run id at a known address replaces the old one (a sentinel
// restarted with an empty config is the same sentinel, as Sentinel's -dup-sentinel says).
using SentinelDirectory = std::map<std::string, std::string>;

// The identity of one link: its own MYID; else the run id listed at its address (a
// configured sentinel that is down at start is the one the others list there); else its
// address.
std::string link_identity(const SentinelLinkView& link, const SentinelDirectory& directory);
// The identity of a listed address: the MYID of a link that reaches that address (the
// live answer beats another sentinel's older listing), else the listed run id.
std::string listed_identity(const std::string& address, const std::string& run_id,
                            const std::vector<SentinelLinkView>& links);
// A ballot per link, plus an unanswered one per listed sentinel no link speaks for.
std::vector<SentinelBallot> ballots_for(const std::vector<SentinelLinkView>& links,
                                        const SentinelDirectory& directory);

struct VoteOutcome {
    enum class Kind {
        majority,        // `master` is named by a majority of known sentinels
        disagree,        // a majority answered, but no address has a majority
        minority,        // fewer than a majority answered: nothing may be switched
        none_answering,  // no sentinel answered at all
    };
    Kind kind = Kind::none_answering;
    std::optional<NodeAddress> master;
    std::size_t votes = 0;       // for `master` (majority), or the best address otherwise
    std::size_t answering = 0;   // distinct sentinels that answered naming a master
    std::size_t abstaining = 0;  // answered, but monitor no master of that name
    std::size_t known = 0;       // distinct sentinels known
    std::size_t needed = 0;      // a majority of `known`

    // "3 of 4 known sentinels" style summary for logs and /status.
    std::string describe() const;
};

// Ballots with the same identity are one sentinel: the first that answered speaks for it.
// A sentinel that answers without naming a master (it monitors no master of that name,
// e.g. restarted with an empty config) abstains: it is known, but it is no vote for "no
// master", so it can neither make a disagreement nor complete a majority.
VoteOutcome count_votes(const std::vector<SentinelBallot>& ballots);

// A learned sentinel leaves the known set only when a majority of the known sentinels,
// asked with SENTINEL SENTINELS, no longer list it (never on the proxy's own timeout).
inline bool majority_stopped_listing(std::size_t not_listing, std::size_t known) {
    return known > 0 && not_listing * 2 > known;
}

}  // namespace sp::proxy
