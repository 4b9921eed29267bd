#include "proxy/sentinel/sentinel_watcher.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <vector>

#include "proxy/net/log_event.h"
#include "proxy/sentinel/sentinel_replies.h"

namespace sp::proxy {

using namespace sentinel_reply;

namespace {

constexpr std::uint64_t kFastPollMs = 100;
constexpr std::uint64_t kProbeRetryMs = 100;
constexpr std::uint64_t kRoundTimeoutMs = 1000;
// While a master is kept without a sentinel majority, say so this often.
constexpr std::uint64_t kKeptWarnEveryMs = 5'000;
// A sentinel PINGs every instance about once a second (and publishes its hello every 2 s on
// the same link): CLIENT LIST's idle (whole seconds) stays 0 or 1. A command link idle
// longer belongs to a sentinel that is gone (stopped, frozen), not one we cannot reach.
constexpr int kSentinelIdleS = 1;
constexpr std::uint64_t kUnheardRecheckMs = 1'000;

}  // namespace

SentinelWatcher::SentinelWatcher(uv_loop_t* loop, const config::Config& config, Topology& topology)
    : loop_(loop),
      config_(config),
      topology_(topology),
      tick_timer_(loop, [this] { tick(); }),
      fence_(loop, config, [this] { fence_changed(); }),
      promotion_(
          loop, config,
          [this](const NodeAddress& old, const PromotionProbe::Role& role) {
              if (role.is_master) failover_.master_offset(old, role.offset);
          },
          [this](const NodeAddress& replica, const PromotionProbe::Role& role) {
              follow_role(replica, role);
          }) {
    topology_.on_master_trouble([this](const NodeAddress& addr, const std::string& why) {
        if (verified_ && *verified_ == addr) start_round("session reported: " + why);
    });
}

SentinelWatcher::~SentinelWatcher() {
    *alive_ = false;
}

std::size_t SentinelWatcher::sentinels_up() const {
    const SentinelRoster::Links& links = roster_.links();
    return static_cast<std::size_t>(
        std::count_if(links.begin(), links.end(), [](auto& kv) { return kv.second->cmd_up; }));
}

std::uint64_t SentinelWatcher::without_majority_ms() const {
    return kept_.no_majority_since_ms ? uv_now(loop_) - kept_.no_majority_since_ms : 0;
}

std::vector<SentinelWatcher::SentinelStatus> SentinelWatcher::sentinel_status() const {
    std::vector<SentinelStatus> out;
    for (const auto& [key, link] : roster_.links())
        out.push_back({link->addr, link->configured, link->cmd_up, link->sub_up,
                       link->down_since_ms, link->answer, link->run_id, link->problem});
    return out;
}

void SentinelWatcher::start() {
    for (const auto& hp : config_.sentinels) roster_.add({hp.host, hp.port}, true);
    TopologySnapshot snap;
    snap.hold_reason = "no master verified yet";
    topology_.publish(snap);
    failover_.hold_started(uv_now(loop_));
    rounds_.first_ms = uv_now(loop_);
    for (auto& [key, link] : roster_.links()) connect_link(*link);
    schedule_fast(true);
}

void SentinelWatcher::reconfigure(const config::Config& config) {
    config_ = config;
    fence_.reconfigure(config);
    promotion_.reconfigure(config);
    if (!config.follow_promotion && failover_.selected())
        fence_follow("failover.follow_promotion turned off by reload");
    std::set<std::string> wanted;
    for (const auto& hp : config.sentinels) {
        NodeAddress a{hp.host, hp.port};
        wanted.insert(a.str());
        if (SentinelLink* known = roster_.find(a.str()))
            known->configured = true;
        else
            connect_link(roster_.add(a, true));
    }
    SentinelRoster::Links& links = roster_.links();
    for (auto it = links.begin(); it != links.end();) {
        if (it->second->configured && !wanted.count(it->first)) {
            spdlog::info("sentinel {} removed by reload", it->first);
            it = roster_.remove(it);
        } else {
            ++it;
        }
    }
    schedule_fast(rounds_.fast);
}

void SentinelWatcher::schedule_fast(bool fast) {
    rounds_.fast = fast;
    std::uint64_t interval = fast ? kFastPollMs : config_.sentinel_poll_interval_ms;
    tick_timer_.start(interval, interval);
}

std::vector<std::string> SentinelWatcher::auth_command(bool sentinel) const {
    const std::string& user = sentinel ? config_.sentinel_user : config_.redis_user;
    const std::string& pass = sentinel ? config_.sentinel_password : config_.redis_password;
    if (pass.empty()) return {};
    if (user.empty()) return {"AUTH", pass};
    return {"AUTH", user, pass};
}

void SentinelWatcher::connect_link(SentinelLink& link) {
    std::string key = link.addr.str();
    std::uint32_t ct = config_.connect_timeout_ms;
    link.cmd = std::make_unique<RespClient>(loop_, TlsSide::sentinel, link.addr.host,
                                            link.addr.port, ct, 2000);
    link.sub = std::make_unique<RespClient>(loop_, TlsSide::sentinel, link.addr.host,
                                            link.addr.port, ct, 2000);
    auto alive = alive_;
    auto find = [this, key, alive]() -> SentinelLink* {
        if (!*alive) return nullptr;
        return roster_.find(key);
    };
    auto auth = auth_command(true);

    if (!auth.empty())
        link.cmd->command(auth, [this, find](const redisReply* r) {
            SentinelLink* l = find();
            if (l && r && r->type == REDIS_REPLY_ERROR)
                roster_.report_problem(
                    *l, "AUTH refused: " + str(r) + " (check sentinel.user/sentinel.password)",
                    uv_now(loop_));
        });
    // The link counts as up once the sentinel said who it is: its run id is how one
    // sentinel reached under two names (or behind one Service address) is counted once.
    link.cmd->command({"SENTINEL", "MYID"}, [this, find](const redisReply* r) {
        SentinelLink* l = find();
        if (!l || !r) return;  // a lost connection reaches link_down through on_closed
        if (r->type == REDIS_REPLY_STRING) {
            if (!l->run_id.empty() && l->run_id != str(r))
                spdlog::info("sentinel {} restarted: run id {} replaces {}", l->addr.str(), str(r),
                             l->run_id);
            if (l->problem.rfind("TLS", 0) == 0) l->problem.clear();  // it answers over TLS now
            l->run_id = str(r);
        } else if (r->type == REDIS_REPLY_ERROR) {
            roster_.report_problem(*l, str(r), uv_now(loop_));
            l->run_id.clear();
        }
        bool was_down = l->down_since_ms != 0;
        l->cmd_up = true;
        l->backoff_ms = 100;
        l->down_since_ms = 0;
        spdlog::log(was_down ? spdlog::level::info : spdlog::level::debug,
                    "sentinel {} connected (run id {})", l->addr.str(),
                    l->run_id.empty() ? "unknown" : l->run_id);
        start_round("sentinel connected");
    });
    link.cmd->connect([this, find](bool ok, const std::string& err) {
        SentinelLink* l = find();
        if (!l) return;
        if (!l->cmd->resolved_ip().empty()) l->resolved_ip = l->cmd->resolved_ip();
        if (ok) return;
        report_tls_failure(*l, *l->cmd);
        if (SentinelLink* again = find()) link_down(*again, err);
    });
    link.cmd->on_closed([this, find](const std::string& why) {
        if (SentinelLink* l = find()) link_down(*l, why);
    });

    if (!auth.empty()) link.sub->command(auth, nullptr);
    link.sub->command({"PSUBSCRIBE", "*"}, nullptr);
    link.sub->connect([this, find](bool ok, const std::string& err) {
        SentinelLink* l = find();
        if (!l) return;
        if (!ok) {
            // Either link's handshake may fail first; the first failure resets both, so
            // the other one never reports its own.
            report_tls_failure(*l, *l->sub);
            if (SentinelLink* again = find()) link_down(*again, err);
            return;
        }
        l->sub_up = true;
    });
    link.sub->enter_push_mode([this, find](const redisReply* r) {
        if (!find() || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 4) return;
        if (str(r->element[0]) != "pmessage") return;
        on_event(find()->addr.str(), str(r->element[2]), str(r->element[3]));
    });
    link.sub->on_closed([this, find](const std::string& why) {
        if (SentinelLink* l = find()) link_down(*l, why);
    });
}

void SentinelWatcher::report_tls_failure(SentinelLink& link, const RespClient& client) {
    if (!client.tls_failure().empty())
        roster_.report_problem(
            link, "TLS handshake failed: " + client.tls_failure() + " (check [sentinel_tls])",
            uv_now(loop_));
}

void SentinelWatcher::link_down(SentinelLink& link, const std::string& why) {
    std::uint64_t now = uv_now(loop_);
    if (link.down_since_ms == 0) {
        link.down_since_ms = now;
        LogFields fields =
            log_context(config_.pool_name, config_.master_name, "sentinel_unreachable");
        fields.emplace_back("sentinel", link.addr.str());
        fields.emplace_back("reason", why);
        log_event(spdlog::level::warn, fields, "sentinel {} unreachable: {}", link.addr.str(), why);
    }
    link.cmd_up = false;
    link.sub_up = false;
    link.answer.reset();
    if (failover_.selected() && failover_.leader() == link.addr.str())
        fence_follow("lost the leader sentinel " + link.addr.str() + ": " + why);
    // Drop both connections; the tick reconnects them after a backoff (100 ms .. 5 s).
    if (link.cmd) link.cmd->close("sentinel link reset");
    if (link.sub) link.sub->close("sentinel link reset");
    link.next_attempt_ms = now + link.backoff_ms;
    link.backoff_ms = std::min<std::uint32_t>(link.backoff_ms * 2, 5000);
    finish_round_if_done();
}

void SentinelWatcher::tick() {
    std::uint64_t now = uv_now(loop_);
    SentinelRoster::Links& links = roster_.links();
    for (auto it = links.begin(); it != links.end();) {
        SentinelLink& l = *it->second;
        if (l.forget) {
            spdlog::info("forgetting sentinel {}: a majority of the sentinels no longer list it",
                         it->first);
            it = links.erase(it);
            continue;
        }
        if (l.down_since_ms && now >= l.next_attempt_ms) {
            l.next_attempt_ms = now + 1'000'000;  // until this attempt resolves
            // Deferred: connect_link replaces the RespClients that may be mid-callback.
            connect_link(l);
        }
        ++it;
    }
    if (rounds_.open && now - rounds_.started_ms > kRoundTimeoutMs) {
        rounds_.open = false;
        evaluate();
    }
    start_round("poll");
}

void SentinelWatcher::start_round(const std::string& why) {
    if (rounds_.open) {
        rounds_.again = true;
        return;
    }
    // At start-up, wait (up to the connect timeout) until every configured sentinel has
    // connected or failed, so the first verification is not one sentinel's word.
    if (!verified_ && uv_now(loop_) - rounds_.first_ms < config_.connect_timeout_ms) {
        for (auto& [key, link] : roster_.links())
            if (!link->cmd_up && link->down_since_ms == 0) return;  // the tick retries
    }
    rounds_.last_trigger = why;
    ++rounds_.current;
    rounds_.open = true;
    rounds_.started_ms = uv_now(loop_);
    std::uint64_t round = rounds_.current;
    bool learn = rounds_.learn_sentinels || rounds_.learn_replicas || (rounds_.done % 10) == 0;
    rounds_.learn_sentinels = false;
    rounds_.learn_replicas = false;
    auto alive = alive_;
    for (auto& [key, link] : roster_.links()) {
        if (!link->cmd_up) continue;
        link->asked_round = round;
        std::string k = key;
        // Learning goes first, so that the sentinels it finds count as known before this
        // round's answers are counted (the first verification needs a majority of them).
        if (learn) {
            link->cmd->command({"SENTINEL", "SENTINELS", config_.master_name},
                               [this, alive, k](const redisReply* r) {
                                   if (*alive) learn_sentinels(k, r);
                               });
            link->cmd->command({"SENTINEL", "REPLICAS", config_.master_name},
                               [this, alive](const redisReply* r) {
                                   if (*alive) learn_replicas(r);
                               });
            link->cmd->command({"SENTINEL", "MASTER", config_.master_name},
                               [this, alive, k](const redisReply* r) {
                                   if (*alive) learn_timings(k, r);
                               });
        }
        link->cmd->command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", config_.master_name},
                           [this, alive, k, round](const redisReply* r) {
                               if (!*alive) return;
                               SentinelLink* found = roster_.find(k);
                               if (!found) return;
                               SentinelLink& l = *found;
                               if (r) {
                                   l.answered_round = round;
                                   l.answer.reset();
                                   if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
                                       l.answer =
                                           node_address(str(r->element[0]), str(r->element[1]));
                                       l.problem.clear();
                                   } else if (r->type == REDIS_REPLY_ERROR) {
                                       roster_.report_problem(l, str(r), uv_now(loop_));
                                   } else {
                                       explain_unknown_master(k);
                                   }
                               }
                               if (round == rounds_.current) finish_round_if_done();
                           });
    }
    finish_round_if_done();
}

void SentinelWatcher::finish_round_if_done() {
    if (!rounds_.open) return;
    for (auto& [key, link] : roster_.links())
        if (link->cmd_up && link->asked_round == rounds_.current &&
            link->answered_round != rounds_.current)
            return;
    rounds_.open = false;
    ++rounds_.done;
    evaluate();
    if (rounds_.again) {
        rounds_.again = false;
        start_round("event during round");
    }
}

void SentinelWatcher::learn_sentinels(const std::string& from_key, const redisReply* r) {
    const std::vector<SentinelLink*> added = roster_.learn_sentinels(from_key, r);
    for (SentinelLink* link : added) connect_link(*link);
    // Learn again next round: the new sentinel's own list too (it lists the sentinel
    // that told us about it, which a Service address may have hidden).
    if (!added.empty()) rounds_.learn_sentinels = true;
}

void SentinelWatcher::explain_unknown_master(const std::string& key) {
    SentinelLink* found = roster_.find(key);
    if (!found || !found->cmd) return;
    const SentinelLink& link = *found;
    if (!link.problem.empty() &&
        uv_now(loop_) - link.problem_logged_ms < SentinelRoster::kProblemLogEveryMs)
        return;  // already explained recently
    auto alive = alive_;
    found->cmd->command({"SENTINEL", "MASTERS"}, [this, alive, key](const redisReply* r) {
        if (!*alive) return;
        SentinelLink* l = roster_.find(key);
        if (!l || !r || r->type != REDIS_REPLY_ARRAY) return;
        std::string names = master_names(r);
        roster_.report_problem(*l,
                               "does not know master '" + config_.master_name +
                                   "' (it knows: " + (names.empty() ? "none" : names) + ")",
                               uv_now(loop_));
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

void SentinelWatcher::learn_timings(const std::string& from_key, const redisReply* r) {
    std::optional<SentinelTimings> all = roster_.learn_timings(from_key, r);
    if (!all || (timings_.last && *timings_.last == *all)) return;
    timings_.last = all;
    if (timings_.notify) timings_.notify(*all);
}

void SentinelWatcher::evaluate() {
    VoteOutcome vote = count_votes(roster_.ballots(rounds_.current));
    last_vote_ = vote;
    std::uint64_t now = uv_now(loop_);
    using Kind = VoteOutcome::Kind;
    if (vote.kind == Kind::minority || vote.kind == Kind::none_answering) {
        if (failover_.early()) fence_follow("no sentinel majority (" + vote.describe() + ")");
        // From the start of the first round that found no majority.
        if (!kept_.no_majority_since_ms)
            kept_.no_majority_since_ms = rounds_.started_ms ? rounds_.started_ms : now;
        // Too few sentinels to decide anything: switch nothing; keep the last verified
        // master only while it is provably the same server and alone (see keep_...).
        if (keep_without_majority(vote)) {
            probe(*verified_, vote, true);
        } else if (kept_.second_master || fence_.active()) {
            // hold_for_fence said why
        } else {
            const std::string problems = roster_.sentinel_problems();
            unverify((vote.kind == Kind::none_answering
                          ? "no sentinel reachable (" + std::to_string(vote.known) + " known)"
                          : "no sentinel majority to verify a master (" + vote.describe() + ")") +
                     (problems.empty() ? std::string() : ": " + problems));
        }
        return;
    }
    kept_.no_majority_since_ms = 0;
    kept_.second_master.reset();
    fence_.stop();
    if (kept_.active) {
        spdlog::info("sentinel majority back ({})", vote.describe());
        kept_.active = false;
    }
    if (vote.kind == Kind::disagree) {
        if (failover_.early() && names_only_failover_pair()) return;  // switching over
        if (failover_.early()) fence_follow("sentinels disagree (" + vote.describe() + ")");
        // Sentinels that answered with an error (a refused AUTH, an unknown master name)
        // named nothing: that is the reason to show, not a disagreement.
        const std::string problems = roster_.sentinel_problems();
        unverify(problems.empty() ? "sentinels disagree on the master (" + vote.describe() + ")"
                                  : "no sentinel majority names a master (" + vote.describe() +
                                        "): " + problems);
        return;
    }
    const NodeAddress candidate = *vote.master;
    if (failover_.early()) {
        // Released early: the majority naming the old master is the failover not yet
        // announced; naming a third node is not the failover we followed.
        if (failover_.failing_over(candidate)) return;
        if (!(candidate == *failover_.selected()))
            fence_follow("the sentinel majority names " + candidate.str() + ", not " +
                         failover_.selected()->str());
    }
    switch (failover_.judge(candidate, now)) {
        case FailoverState::Verdict::hold:
            unverify("failover of " + candidate.str() + " in progress");
            return;
        case FailoverState::Verdict::gave_up:
            spdlog::warn(
                "failover of {} did not complete within {} s; trusting it again if it is still "
                "master",
                candidate.str(), FailoverState::kGiveUpMs / 1000);
            break;
        case FailoverState::Verdict::trust:
            break;
    }
    probe(candidate, vote, false);
}

bool SentinelWatcher::keep_without_majority(const VoteOutcome& vote) {
    if (!verified_ || failover_.failing_over(*verified_) || kept_.second_master ||
        !kept_.identity.known()) {
        fence_.stop();
        kept_.active = false;
        return false;
    }
    // Watch every other node we know of for a second master while we keep this one.
    std::vector<NodeAddress> others;
    for (const NodeAddress& a : kept_.known_nodes)
        if (!(a == *verified_)) others.push_back(a);
    for (const NodeAddress& a : replicas_)
        if (!(a == *verified_)) others.push_back(a);
    fence_.watch(others);
    if (fence_.verdict() != MasterFence::Verdict::clear) {
        hold_for_fence(vote);
        return false;
    }
    if (!kept_.active) kept_.warned_ms = 0;
    kept_.active = true;
    return true;
}

void SentinelWatcher::hold_for_fence(const VoteOutcome& vote) {
    kept_.active = false;
    if (fence_.verdict() == MasterFence::Verdict::second_master) {
        kept_.second_master = fence_.culprit();
        fence_.stop();
        unverify("two masters: " + kept_.second_master->str() + " answers ROLE master besides " +
                 (verified_ ? verified_->str() : std::string("the last master")) +
                 "; holding until a sentinel majority names one (" + vote.describe() + ")");
    } else {
        unverify("node " + fence_.culprit().str() +
                 " dropped our connection while no sentinel majority answers (" + vote.describe() +
                 "): checking it was not promoted");
    }
}

void SentinelWatcher::fence_changed() {
    // A verdict that holds acts at once, not at the next round: every write sent to the
    // kept master after a promotion is a write lost.
    if (!fence_.active() || kept_.second_master) return;
    if (fence_.verdict() != MasterFence::Verdict::clear)
        hold_for_fence(last_vote_);
    else
        start_round("second-master check clear");
}

void SentinelWatcher::warn_kept(const VoteOutcome& vote) {
    std::uint64_t now = uv_now(loop_);
    if (kept_.warned_ms && now - kept_.warned_ms < kKeptWarnEveryMs) return;
    kept_.warned_ms = now;
    spdlog::warn(
        "no sentinel majority for {} ms ({}): still sending commands to master {}, as it has "
        "the {} a majority confirmed and no other known node answers ROLE master; no switch "
        "until a majority of the known sentinels agrees",
        without_majority_ms(), vote.describe(), verified_->str(), kept_.identity.str());
}

void SentinelWatcher::probe(const NodeAddress& candidate, const VoteOutcome& vote, bool kept) {
    if (probe_.busy) return;  // the next round probes again
    // A candidate that just failed its probe is retried by the next tick (100 ms while
    // holding), not by the round its own failure triggered: no reconnect storm at a dead
    // master while Sentinel has not noticed yet.
    if (probe_.failed_addr == candidate && uv_now(loop_) - probe_.failed_ms < kProbeRetryMs) return;
    if (!probe_.client || !(probe_.addr == candidate) || !(probe_.client->connected())) {
        probe_.client =
            std::make_unique<RespClient>(loop_, TlsSide::redis, candidate.host, candidate.port,
                                         config_.connect_timeout_ms, 1000);
        probe_.addr = candidate;
        probe_.redis_problem.clear();
        auto alive = alive_;
        auto auth = auth_command(false);
        if (!auth.empty())
            probe_.client->command(auth, [this, alive, candidate](const redisReply* r) {
                if (*alive && r && r->type == REDIS_REPLY_ERROR)
                    redis_trouble(candidate, "auth",
                                  "AUTH refused: " + str(r) + " (check redis.user/redis.password)");
            });
        auto was_up = std::make_shared<bool>(false);
        probe_.client->on_closed([this, alive, candidate, was_up](const std::string& why) {
            if (!*alive) return;
            if (!*was_up) {
                probe_.failed_addr = candidate;
                probe_.failed_ms = uv_now(loop_);
            }
            // The verified master's connection died: re-check at once (kill -9 shows here
            // long before Sentinel notices).
            if (*was_up && verified_ && *verified_ == candidate) {
                unverify("master " + candidate.str() + " unreachable: " + why);
                start_round("master connection lost");
            }
        });
        RespClient* client = probe_.client.get();
        probe_.client->connect([this, alive, candidate, client, was_up](bool ok,
                                                                        const std::string&) {
            *was_up = ok;
            if (*alive && !ok && !client->tls_failure().empty())
                redis_trouble(candidate, "tls", "TLS handshake failed: " + client->tls_failure());
        });
    }
    probe_.busy = true;
    auto alive = alive_;
    probe_.client->command({"ROLE"}, [this, alive, candidate, vote, kept](const redisReply* r) {
        if (!*alive) return;
        probe_.busy = false;
        if (!r) {
            probe_.failed_addr = candidate;
            probe_.failed_ms = uv_now(loop_);
            unverify(probe_.redis_problem.empty()
                         ? "master candidate " + candidate.str() + " does not answer ROLE"
                         : probe_.redis_problem);
            return;
        }
        std::string role;
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) role = str(r->element[0]);
        if (r->type == REDIS_REPLY_ERROR && str(r).rfind("BUSY", 0) == 0 && verified_ &&
            *verified_ == candidate) {
            // The verified master is running a long script: alive, and a script cannot change
            // its role. Holding would keep SCRIPT KILL from it; Sentinel judges whether a
            // master that stays busy is down, and its events reach us.
            spdlog::debug("master {} answers ROLE -BUSY (a script is running): kept",
                          candidate.str());
            verified(candidate, vote, kept);
            return;
        }
        if (role != "master") {
            if (r->type == REDIS_REPLY_ERROR && probe_.redis_problem.empty() &&
                (str(r).rfind("NOAUTH", 0) == 0 || str(r).rfind("WRONGPASS", 0) == 0))
                redis_trouble(
                    candidate, "noauth",
                    "needs a password: " + str(r) +
                        (config_.redis_password.empty() ? " (redis.password is not set)" : ""));
            unverify(!probe_.redis_problem.empty()
                         ? probe_.redis_problem
                         : "candidate " + candidate.str() + " answers ROLE " +
                               (role.empty() ? str(r) : role));
            return;
        }
        probe_.redis_problem.clear();
        const PromotionProbe::Role read = PromotionProbe::read_role(r);
        if (read.is_master) failover_.master_offset(candidate, read.offset);
        if (failover_.failing_over(candidate)) return;  // event arrived meanwhile
        probe_.busy = true;
        probe_.client->command({"INFO", "server", "replication"},
                               [this, alive, candidate, vote, kept](const redisReply* info) {
                                   if (!*alive) return;
                                   probe_.busy = false;
                                   check_identity(candidate, vote, kept, info);
                               });
    });
}

void SentinelWatcher::check_identity(const NodeAddress& candidate, const VoteOutcome& vote,
                                     bool kept, const redisReply* info) {
    if (!info || info->type != REDIS_REPLY_STRING) {
        unverify("master candidate " + candidate.str() + " does not answer INFO");
        return;
    }
    std::string_view text(info->str, info->len);
    ServerIdentity id = server_identity(text);
    if (kept) {
        // Without a majority only the very server a majority confirmed, with its data.
        if (!(id == kept_.identity)) {
            unverify("master " + candidate.str() +
                     " is not the server a sentinel majority "
                     "confirmed (" +
                     kept_.identity.str() + "; now " + id.str() +
                     "): restarted or resynced, not trusted without a sentinel majority (" +
                     vote.describe() + ")");
            return;
        }
        for (NodeAddress& a : listed_replicas(text))
            if (std::find(kept_.known_nodes.begin(), kept_.known_nodes.end(), a) ==
                kept_.known_nodes.end())
                kept_.known_nodes.push_back(std::move(a));
        check_unheard_sentinels(candidate, vote);
        return;
    }
    kept_.identity = id;
    verified(candidate, vote, kept);
}

void SentinelWatcher::check_unheard_sentinels(const NodeAddress& candidate,
                                              const VoteOutcome& vote) {
    // Sentinels that still work on the master but do not answer us can fail it over
    // without our hearing of it (a planned failover needs only one): then this proxy is
    // the one cut off, and keeping the master would split writes. Only sentinels that are
    // gone (down, frozen) make keeping it safe.
    // While holding, rounds run every 100 ms: CLIENT LIST (as long as the master's client
    // list) is asked at most once a second, its last finding stands in between.
    if (!kept_.unheard_reason.empty() &&
        uv_now(loop_) - kept_.unheard_checked_ms < kUnheardRecheckMs) {
        unverify(kept_.unheard_reason);
        return;
    }
    probe_.busy = true;
    auto alive = alive_;
    probe_.client->command({"CLIENT", "LIST"}, [this, alive, candidate, vote](const redisReply* r) {
        if (!*alive) return;
        probe_.busy = false;
        kept_.unheard_checked_ms = uv_now(loop_);
        kept_.unheard_reason.clear();
        if (r && r->type == REDIS_REPLY_STRING) {
            std::set<std::string> heard;
            for (const auto& [key, link] : roster_.links())
                if (link->cmd_up && link->answered_round == rounds_.current &&
                    link->run_id.size() >= 8)
                    heard.insert(link->run_id.substr(0, 8));
            std::string unheard;
            for (const std::string& id :
                 active_sentinels(std::string_view(r->str, r->len), kSentinelIdleS))
                if (!heard.count(id)) unheard += (unheard.empty() ? "" : ", ") + id;
            if (!unheard.empty()) {
                kept_.unheard_reason = "sentinels " + unheard + " are at work on master " +
                                       candidate.str() + " but this proxy cannot hear them (" +
                                       vote.describe() +
                                       "): a failover could happen without us; holding until a "
                                       "majority answers";
                unverify(kept_.unheard_reason);
                return;
            }
        } else if (!kept_.client_list_refused) {
            kept_.client_list_refused = true;
            spdlog::warn(
                "master {} refused CLIENT LIST ({}): without a sentinel majority the "
                "proxy cannot tell sentinels that are down from sentinels it cannot "
                "reach; relying on the second-master watch alone",
                candidate.str(), r ? str(r) : std::string("no reply"));
        }
        if (failover_.failing_over(candidate)) return;
        if (!keep_without_majority(vote)) return;  // the fence spoke meanwhile
        warn_kept(vote);
        verified(candidate, vote, true);
    });
}

// The proxy cannot use a Redis node for want of credentials or TLS: a warning (per node
// and cause, at most every 10 s) and the hold reason /readyz and /status show.
void SentinelWatcher::redis_trouble(const NodeAddress& node, const std::string& cause,
                                    const std::string& what) {
    probe_.redis_problem = "redis " + node.str() + ": " + what;
    problems_.report(uv_now(loop_), node.str(), cause, probe_.redis_problem);
}

void SentinelWatcher::verified(const NodeAddress& addr, const VoteOutcome& vote, bool kept) {
    const SnapshotPtr& cur = topology_.current();
    std::string note = kept ? "kept without a sentinel majority (" + vote.describe() + ")" : "";
    if (cur->master && *cur->master == addr && cur->replicas == replicas_ &&
        cur->sentinel_note == note && !failover_.early())
        return;
    std::uint64_t now = uv_now(loop_);
    if (failover_.early()) confirm_early(addr, vote);
    if (!cur->master && verified_) failover_.count_release(false, now);
    bool switched = !verified_ || !(*verified_ == addr);
    const std::uint64_t held_since = failover_.hold_since_ms();
    if (!cur->master || switched) {
        LogFields fields = log_context(config_.pool_name, config_.master_name, "master_verified");
        fields.emplace_back("address", addr.str());
        if (switched && verified_) fields.emplace_back("from", verified_->str());
        if (held_since) fields.emplace_back("held_ms", now - held_since);
        if (held_since) fields.emplace_back("released_by", "majority");
        log_event(
            spdlog::level::info, fields, "master verified {} ({}, ROLE master){}{}", addr.str(),
            kept ? note : vote.describe(),
            switched && verified_ ? "; switched from " + verified_->str() : "",
            held_since ? "; commands held for " + std::to_string(now - held_since) + " ms" : "");
    }
    verified_ = addr;
    failover_.end();
    failover_.hold_ended();
    if (promotion_.following()) promotion_.stop();
    TopologySnapshot snap;
    snap.master = addr;
    snap.verified_at_ms = kept && cur->master && *cur->master == addr ? cur->verified_at_ms : now;
    snap.sentinel_note = note;
    snap.replicas = replicas_;
    topology_.publish(snap);
    schedule_fast(false);
    fetch_command_table(addr);
}

void SentinelWatcher::fetch_command_table(const NodeAddress& addr) {
    if (!command_table_.deliver ||
        (command_table_.fetched_from && *command_table_.fetched_from == addr))
        return;
    if (!probe_.client || !(probe_.addr == addr)) return;
    command_table_.fetched_from = addr;
    auto alive = alive_;
    probe_.client->command({"COMMAND"}, [this, alive, addr](const redisReply* r) {
        if (!*alive) return;
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            command_table_.fetched_from.reset();  // try again with the next verification
            return;
        }
        std::string raw;
        encode_reply(raw, r);
        command_table_.deliver(raw);
    });
}

void SentinelWatcher::unverify(const std::string& reason) {
    const SnapshotPtr& cur = topology_.current();
    if (!cur->master && cur->hold_reason == reason) return;
    if (cur->master) {
        LogFields fields = log_context(config_.pool_name, config_.master_name, "hold");
        fields.emplace_back("reason", reason);
        if (cur->master) fields.emplace_back("from", cur->master->str());
        log_event(spdlog::level::warn, fields, "holding commands: {}", reason);
        failover_.hold_started(uv_now(loop_));
    } else {
        spdlog::debug("still holding: {}", reason);
    }
    TopologySnapshot snap;
    snap.hold_reason = reason;
    snap.replicas = replicas_;
    topology_.publish(snap);
    schedule_fast(true);
}

// --- Following the promotion (failover.follow_promotion, issue 25). The old master stays
// held from the first sign of its failover; the hold may end on the replica the leader
// selected, once it answers ROLE master with the old master's offset covered, and is
// taken again at once on any sign that this is not how the failover ends.

void SentinelWatcher::follow_event(const std::string& sentinel, const std::string& channel,
                                   const FailoverEvent& ev) {
    if (ev.try_failover) failover_.failover_tried(sentinel);
    if (!ev.replica) return;
    if (failover_.selected() &&
        (!(*failover_.selected() == *ev.replica) || failover_.leader() != sentinel)) {
        fence_follow("sentinel " + sentinel + " names " + ev.replica->str() + " (" + channel +
                     "), not " + failover_.selected()->str() + " from " + failover_.leader());
        return;
    }
    if (!failover_.select(*ev.replica, sentinel)) return;
    LogFields fields = log_context(config_.pool_name, config_.master_name, "promotion_followed");
    fields.emplace_back("replica", ev.replica->str());
    fields.emplace_back("leader", sentinel);
    fields.emplace_back("sentinel_event", channel);
    log_event(spdlog::level::info, fields,
              "leader sentinel {} selected {} ({}): following its promotion", sentinel,
              ev.replica->str(), channel);
    promotion_.follow(*ev.replica);
}

void SentinelWatcher::follow_role(const NodeAddress& replica, const PromotionProbe::Role& role) {
    if (!failover_.selected() || !(*failover_.selected() == replica)) return;
    if (failover_.early()) {
        // Released to it: it must stay a master until the majority names it.
        if (!role.is_master)
            fence_follow("promoted replica " + replica.str() +
                         (role.answered ? " is no longer a master" : " stopped answering"));
        return;
    }
    if (!failover_.covers(role.is_master, role.offset)) {
        if (role.is_master)
            spdlog::debug("promoted {} at offset {}, the old master was at {}", replica.str(),
                          role.offset, failover_.bar() ? std::to_string(*failover_.bar()) : "?");
        return;
    }
    release_early(replica, role.offset);
}

void SentinelWatcher::release_early(const NodeAddress& replica, std::uint64_t offset) {
    const std::uint64_t now = uv_now(loop_);
    const std::uint64_t held_since = failover_.hold_since_ms();
    failover_.count_release(true, now);
    failover_.released_early(now);
    failover_.hold_ended();
    LogFields fields = log_context(config_.pool_name, config_.master_name, "master_verified");
    fields.emplace_back("address", replica.str());
    if (failover_.from()) fields.emplace_back("from", failover_.from()->str());
    if (held_since) fields.emplace_back("held_ms", now - held_since);
    fields.emplace_back("released_by", "early_promotion");
    log_event(spdlog::level::info, fields,
              "promoted replica {} answers ROLE master at offset {} (old master's {}): commands "
              "released to it after {} ms, before the sentinels switch",
              replica.str(), offset, *failover_.bar(), held_since ? now - held_since : 0);
    TopologySnapshot snap;
    snap.master = replica;
    snap.verified_at_ms = now;
    snap.sentinel_note = "followed the promotion; the sentinel majority has not switched yet";
    snap.replicas = replicas_;
    topology_.publish(snap);
    // Rounds stay fast (100 ms) until the majority names it.
}

void SentinelWatcher::confirm_early(const NodeAddress& addr, const VoteOutcome& vote) {
    const std::uint64_t now = uv_now(loop_);
    failover_.count_confirmation(now);
    spdlog::info("sentinel majority names {} ({}), {} ms after the proxy followed its promotion",
                 addr.str(), vote.describe(), failover_.releases().last_early_window_ms);
}

void SentinelWatcher::fence_follow(const std::string& why) {
    const bool was_early = failover_.fence();
    promotion_.stop();
    LogFields fields = log_context(config_.pool_name, config_.master_name, "promotion_fenced");
    fields.emplace_back("reason", why);
    log_event(was_early ? spdlog::level::warn : spdlog::level::info, fields,
              "no longer following the promotion: {}{}", why,
              was_early ? "; holding commands again" : "");
    if (was_early) unverify("following the promotion fenced: " + why);
    start_round("promotion fenced");
}

bool SentinelWatcher::names_only_failover_pair() const {
    for (const SentinelBallot& b : roster_.ballots(rounds_.current))
        if (b.answered && b.names && !failover_.failing_over(*b.names) &&
            !(failover_.selected() && *failover_.selected() == *b.names))
            return false;
    return true;
}

void SentinelWatcher::on_event(const std::string& sentinel, const std::string& channel,
                               const std::string& payload) {
    const FailoverEvent ev = read_failover_event(config_.master_name, channel, payload);
    if (ev.epoch) {
        if (failover_.epoch_announced(sentinel, *ev.epoch))
            fence_follow("sentinel " + sentinel + " started epoch " + std::to_string(*ev.epoch));
        return;
    }
    if (ev.kind == FailoverEvent::Kind::ignored && !ev.master) return;
    spdlog::debug("sentinel event {} {}", channel, payload);
    switch (ev.kind) {
        case FailoverEvent::Kind::progress: {
            // The master named in the event is the one being failed over (+switch-master
            // names the old one first). Stop sending it anything from now on.
            NodeAddress from = ev.master ? *ev.master : (verified_ ? *verified_ : NodeAddress{});
            if (verified_ && *verified_ == from && failover_.begin(from, uv_now(loop_))) {
                LogFields fields =
                    log_context(config_.pool_name, config_.master_name, "failover_started");
                fields.emplace_back("from", from.str());
                fields.emplace_back("sentinel_event", channel);
                log_event(spdlog::level::info, fields,
                          "failover of {} under way ({}): holding commands", from.str(), channel);
                unverify("failover of " + from.str() + " in progress (" + channel + ")");
                // The bar a promoted replica must reach: the old master's offset now, which
                // covers every write it acknowledged before the hold.
                if (config_.follow_promotion) promotion_.read_old_master(from);
            }
            if (config_.follow_promotion && failover_.failing_over(from))
                follow_event(sentinel, channel, ev);
            start_round(channel);
            break;
        }
        case FailoverEvent::Kind::aborted:
            if (failover_.from()) {
                LogFields fields =
                    log_context(config_.pool_name, config_.master_name, "failover_aborted");
                fields.emplace_back("from", failover_.from()->str());
                fields.emplace_back("sentinel_event", channel);
                log_event(spdlog::level::info, fields, "failover of {} aborted ({})",
                          failover_.from()->str(), channel);
            }
            if (failover_.selected()) fence_follow("the failover aborted (" + channel + ")");
            failover_.end();
            start_round(channel);
            break;
        case FailoverEvent::Kind::recheck:
            if (payload.rfind("slave ", 0) == 0) rounds_.learn_replicas = true;
            start_round(channel);
            break;
        case FailoverEvent::Kind::sentinel_added:
            rounds_.learn_sentinels = true;
            start_round(channel);
            break;
        case FailoverEvent::Kind::ignored:
            break;
    }
}

}  // namespace sp::proxy
