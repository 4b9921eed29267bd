// Which sentinels exist, and what each one is: the links to the configured and learned
// sentinels and what SENTINEL SENTINELS listed. Counts one sentinel once however many
// addresses reach it (by run id, and one address is one sentinel: a new run id there is
// that sentinel restarted), forgets a learned one only when a majority of the sentinels
// stop listing it, and names misconfiguration (NOAUTH, a master name the sentinel does
// not know) instead of staying silent. It opens no connection and runs no round: the
// SentinelWatcher connects the links it holds and asks them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proxy/sentinel/resp_client.h"
#include "proxy/sentinel/sentinel_timings.h"
#include "proxy/sentinel/sentinel_vote.h"
#include "proxy/sentinel/topology.h"

struct redisReply;

namespace sp::proxy {

struct SentinelLink {
    NodeAddress addr;
    bool configured = false;          // from the config (never forgotten) or learned
    std::unique_ptr<RespClient> cmd;  // queries
    std::unique_ptr<RespClient> sub;  // PSUBSCRIBE * for events
    bool cmd_up = false;
    bool sub_up = false;
    std::uint64_t next_attempt_ms = 0;
    std::uint32_t backoff_ms = 100;
    std::uint64_t down_since_ms = 0;    // 0 while reachable
    std::optional<NodeAddress> answer;  // last GET-MASTER-ADDR-BY-NAME answer
    std::uint64_t answered_round = 0;
    std::uint64_t asked_round = 0;
    std::string run_id;       // Sentinel's own id: one sentinel behind two addresses is one
    std::string resolved_ip;  // what addr last resolved to (kept while the link is down)
    // What its last SENTINEL SENTINELS listed (run ids and addresses), for forgetting.
    bool listed_valid = false;
    std::set<std::string> listed;
    bool forget = false;  // a majority stopped listing it: erased by the next tick
    std::optional<SentinelTimings> timings;  // its SENTINEL MASTER answer
    std::string problem;  // last misconfiguration seen (NOAUTH, unknown master name)
    std::uint64_t problem_logged_ms = 0;
};

class SentinelRoster {
  public:
    // One link per address ("host:port" as configured or learned).
    using Links = std::map<std::string, std::unique_ptr<SentinelLink>>;

    // A misconfigured sentinel (NOAUTH, unknown master name) is logged at most this often.
    static constexpr std::uint64_t kProblemLogEveryMs = 30'000;

    Links& links() { return links_; }
    const Links& links() const { return links_; }
    SentinelLink* find(const std::string& key);
    // The link at this address, added (not connected) if there is none yet.
    SentinelLink& add(const NodeAddress& addr, bool configured);
    // Drops a sentinel a reload removed, with what SENTINEL SENTINELS listed at its
    // address or under its run id; returns the next link.
    Links::iterator remove(Links::iterator it);

    SentinelLinkView view(const SentinelLink& link, std::uint64_t current_round) const;
    std::vector<SentinelLinkView> views(std::uint64_t current_round) const;
    std::string identity(const SentinelLink& link) const;
    // A ballot per known sentinel for the round (sentinel_vote.h).
    std::vector<SentinelBallot> ballots(std::uint64_t current_round) const;

    void report_problem(SentinelLink& link, const std::string& problem, std::uint64_t now_ms);
    std::string sentinel_problems() const;  // every sentinel's current problem, for the hold reason

    // Reads one sentinel's SENTINEL SENTINELS reply; returns the links it added, which the
    // caller connects.
    std::vector<SentinelLink*> learn_sentinels(const std::string& from_key,
                                               const redisReply* reply);
    void forget_unlisted();
    // Keeps one sentinel's SENTINEL MASTER answer; returns the slowest of every sentinel's
    // timings, or nothing when the reply (or the sentinel) is unknown.
    std::optional<SentinelTimings> learn_timings(const std::string& from_key,
                                                 const redisReply* reply);

  private:
    Links links_;
    // What SENTINEL SENTINELS listed (address -> run id), so a sentinel still counts as
    // known while no link of ours currently reaches it (a Service address that now lands
    // on another one, a configured one down since start). Left only by the majority rule
    // in forget_unlisted().
    SentinelDirectory directory_;
};

}  // namespace sp::proxy
