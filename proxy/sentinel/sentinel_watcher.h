// Follows Sentinel for one master name and publishes what it verified to the Topology.
// Events are triggers, not truth: every event, every lost link and every poll tick
// (about 1 s) leads to a round that asks each reachable sentinel for the master's
// address; a master is verified only when a majority of ALL known sentinels (configured
// plus learned, one sentinel counted once by its run id) name it AND the node itself
// answers ROLE with "master" (sentinel_vote.h). With fewer answering, the last verified
// master is kept while it answers ROLE master with the run id and replication id it had when a
// majority last confirmed it, and no other known node answers ROLE master (MasterFence);
// nothing is switched. From the first sign that
// the current master is being failed over (+odown, +try-failover, +selected-slave, ...) no master
// is published, so sessions hold their commands instead of writing into the old master's lost-write
// window; they are released once the new master is verified (or the old one again if the failover
// aborts).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/net/tcp_stream.h"
#include "proxy/sentinel/failover_state.h"
#include "proxy/sentinel/master_fence.h"
#include "proxy/sentinel/problem_log.h"
#include "proxy/sentinel/promotion_probe.h"
#include "proxy/sentinel/resp_client.h"
#include "proxy/sentinel/sentinel_roster.h"
#include "proxy/sentinel/sentinel_timings.h"
#include "proxy/sentinel/sentinel_vote.h"
#include "proxy/sentinel/topology.h"

struct redisReply;

namespace sp::proxy {

class SentinelWatcher {
  public:
    SentinelWatcher(uv_loop_t* loop, const config::Config& config, Topology& topology);
    ~SentinelWatcher();
    void start();
    // Applies a reloaded configuration (sentinel list, credentials, poll interval).
    void reconfigure(const config::Config& config);

    // Receives the raw RESP2 bytes of the verified master's COMMAND reply, once per newly
    // verified master, so the command table learns commands it was not built with.
    void on_command_table(std::function<void(const std::string& raw)> fn) {
        command_table_.deliver = std::move(fn);
    }

    // Sentinel's timings for the master (SENTINEL MASTER, asked with every learning round),
    // the slowest of the sentinels' views; called when they change.
    void on_timings(std::function<void(const SentinelTimings&)> fn) {
        timings_.notify = std::move(fn);
    }

    std::size_t sentinels_up() const;
    std::size_t sentinels_known() const { return roster_.links().size(); }
    // The last round's count (known = distinct sentinels, by run id).
    const VoteOutcome& last_vote() const { return last_vote_; }
    // How long no majority of the known sentinels has answered (0: one answers now).
    std::uint64_t without_majority_ms() const;

    // One sentinel as the admin endpoint shows it (/metrics, /status).
    struct SentinelStatus {
        NodeAddress addr;
        bool configured = false;  // from the configuration, or learned from the sentinels
        bool up = false;          // query link connected
        bool events_up = false;   // event subscription connected
        std::uint64_t down_since_ms = 0;
        std::optional<NodeAddress> answer;  // what it last named as master
        std::string run_id;                 // SENTINEL MYID (empty until known)
        std::string problem;                // why it cannot help (NOAUTH, unknown master)
    };
    std::vector<SentinelStatus> sentinel_status() const;
    std::uint64_t rounds_done() const { return rounds_.done; }
    // Which path ended the holds (early promotion or the majority) and the last hold's length.
    const FailoverState::Releases& hold_releases() const { return failover_.releases(); }

  private:
    void tick();
    void connect_link(SentinelLink& link);
    void link_down(SentinelLink& link, const std::string& why);
    void report_tls_failure(SentinelLink& link, const RespClient& client);
    void start_round(const std::string& why);
    void finish_round_if_done();
    void evaluate();
    void probe(const NodeAddress& candidate, const VoteOutcome& vote, bool kept);
    void check_identity(const NodeAddress& candidate, const VoteOutcome& vote, bool kept,
                        const redisReply* info);
    void check_unheard_sentinels(const NodeAddress& candidate, const VoteOutcome& vote);
    bool keep_without_majority(const VoteOutcome& vote);
    void fence_changed();
    void hold_for_fence(const VoteOutcome& vote);
    void warn_kept(const VoteOutcome& vote);
    void verified(const NodeAddress& addr, const VoteOutcome& vote, bool kept);
    void redis_trouble(const NodeAddress& node, const std::string& cause, const std::string& what);
    void explain_unknown_master(const std::string& key);
    void unverify(const std::string& reason);
    void on_event(const std::string& sentinel, const std::string& channel,
                  const std::string& payload);
    void follow_event(const std::string& sentinel, const std::string& channel,
                      const FailoverEvent& ev);
    void follow_role(const NodeAddress& replica, const PromotionProbe::Role& role);
    void release_early(const NodeAddress& replica, std::uint64_t offset);
    void confirm_early(const NodeAddress& addr, const VoteOutcome& vote);
    void fence_follow(const std::string& why);
    bool names_only_failover_pair() const;
    void learn_sentinels(const std::string& from_key, const redisReply* reply);
    void learn_replicas(const redisReply* reply);
    void learn_timings(const std::string& from_key, const redisReply* reply);
    void fetch_command_table(const NodeAddress& addr);
    std::vector<std::string> auth_command(bool sentinel) const;
    void schedule_fast(bool fast);

    // The verification rounds: one at a time, a new trigger during one runs another after it.
    struct Rounds {
        std::uint64_t current = 0;
        bool open = false;
        std::uint64_t started_ms = 0;
        std::uint64_t first_ms = 0;  // when the watcher started
        std::uint64_t done = 0;
        bool again = false;
        // Set when a sentinel was learned or announced: the next round asks SENTINEL SENTINELS
        // again (resetting `done` did not: the round then in progress counted it up).
        bool learn_sentinels = false;
        // Set by an event about a replica (+sdown/-sdown slave, +slave, ...): the next round
        // asks SENTINEL REPLICAS again, so a replica Sentinel sees back is read from again
        // without waiting for the every-10th-round refresh.
        bool learn_replicas = false;
        bool fast = false;  // polling every 100 ms (while holding) instead of the interval
        std::string last_trigger;
    };
    // Keeping the verified master while no sentinel majority answers (issue 20).
    struct KeptMaster {
        bool active = false;
        std::uint64_t no_majority_since_ms = 0;  // 0: a majority answered in the last round
        std::uint64_t warned_ms = 0;             // last "keeping master" warning
        // The verified master as a majority last confirmed it: without a majority it is kept
        // only while it is still this server with this data (not restarted, not resynced).
        ServerIdentity identity;
        // Set when a second master appeared while keeping one without a majority: nothing is
        // trusted again until a sentinel majority names a master.
        std::optional<NodeAddress> second_master;
        std::vector<NodeAddress> known_nodes;  // every replica ever listed, for the fence
        bool client_list_refused = false;      // logged once
        std::string unheard_reason;  // the last CLIENT LIST showed sentinels we cannot hear
        std::uint64_t unheard_checked_ms = 0;
    };
    // The one connection that checks a master candidate (ROLE, INFO, CLIENT LIST, COMMAND).
    struct MasterProbe {
        std::unique_ptr<RespClient> client;
        NodeAddress addr;
        bool busy = false;
        std::string redis_problem;  // why the probed node refused us (AUTH, TLS); "" if none
        NodeAddress failed_addr;
        std::uint64_t failed_ms = 0;
    };
    struct CommandTableFeed {
        std::function<void(const std::string&)> deliver;
        std::optional<NodeAddress> fetched_from;
    };
    struct TimingsFeed {
        std::function<void(const SentinelTimings&)> notify;
        std::optional<SentinelTimings> last;
    };

    uv_loop_t* loop_;
    config::Config config_;
    Topology& topology_;
    SentinelRoster roster_;
    Timer tick_timer_;
    Rounds rounds_;
    std::optional<NodeAddress> verified_;
    FailoverState failover_;
    VoteOutcome last_vote_;
    KeptMaster kept_;
    MasterFence fence_;
    MasterProbe probe_;
    PromotionProbe promotion_;
    ProblemLog problems_;
    std::vector<NodeAddress> replicas_;
    CommandTableFeed command_table_;
    TimingsFeed timings_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sp::proxy
