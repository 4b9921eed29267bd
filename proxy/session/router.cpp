#include "proxy/session/router.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "proxy/backend/backend_pool.h"
#include "proxy/net/log_event.h"
#include "proxy/session/client_session.h"

namespace sp::proxy {

namespace {
// How long held commands may wait for subscribers to re-subscribe on a new master.
constexpr std::uint64_t kSubscriberHeadStartMs = 500;
// A session that read nothing for this long and owes nothing gives back its reply rings:
// one pass over the sessions a second costs little next to 0.25 KiB per idle client.
constexpr std::uint64_t kTrimIdleMs = 1000;
// How often clients over a soft output limit are checked (Redis counts whole seconds).
constexpr std::uint64_t kOutputSweepMs = 250;
}  // namespace

Router::Router(uv_loop_t* loop, const config::Config& config, Topology& topology)
    : loop_(loop),
      config_(config),
      topology_(topology),
      pool_(std::make_unique<BackendPool>(
          loop, config.shared_links, BackendCredentials{config.redis_user, config.redis_password},
          config.connect_timeout_ms)),
      main_snap_(topology.current()),
      sub_snap_(topology.current()),
      release_timer_(loop, [this] { release_everyone(); }),
      reap_timer_(loop, [this] { reap(); }),
      timeline_timer_(loop, [this] { log_failover_timeline(); }),
      output_timer_(loop, [this] { sweep_output_limits(); }),
      sweep_timer_(loop, [this] { sweep_command_timeouts(); }),
      trim_timer_(loop, [this] { trim_idle_sessions(); }) {
    trim_timer_.start(kTrimIdleMs, kTrimIdleMs);
    topology_sub_ = topology_.subscribe([this](const SnapshotPtr& s) { on_snapshot(s); });
    schedule_sweep();
}

void Router::set_config(const config::Config& config) {
    config_ = config;
    pool_->set_credentials({config.redis_user, config.redis_password});
    pool_->set_links_per_master(config.shared_links);
    schedule_sweep();
}

void Router::refresh_commands(const std::string& raw_command_reply) {
    std::size_t before = commands_.size();
    std::size_t learned = commands_.refresh_from_command_reply(raw_command_reply);
    spdlog::info(
        "command table refreshed from the master's COMMAND: {} entries learned, {} known ({} new)",
        learned, commands_.size(), commands_.size() - before);
}

void Router::schedule_sweep() {
    // One sweep for all sessions, not a timer per command: the check is coarse (a quarter
    // of the timeout, at least 50 ms) and costs nothing while no command timeout is set.
    std::uint64_t t = config_.command_timeout_ms;
    std::uint64_t idle = config_.client_idle_ms;
    if (t == 0 && idle == 0) {
        sweep_timer_.stop();
        return;
    }
    std::uint64_t shortest = t == 0 ? idle : idle == 0 ? t : std::min(t, idle);
    std::uint64_t every = std::max<std::uint64_t>(50, shortest / 4);
    sweep_timer_.start(every, every);
}

void Router::trim_idle_sessions() {
    const std::uint64_t now = uv_now(loop_);
    for (ClientSession* s : sessions_) s->trim_if_idle(now, kTrimIdleMs);
}

void Router::sweep_command_timeouts() {
    std::uint64_t now = uv_now(loop_);
    auto all = sessions_;
    for (ClientSession* s : all) {
        if (sessions_.count(s) && config_.command_timeout_ms)
            s->check_command_timeout(now, config_.command_timeout_ms);
        if (sessions_.count(s) && config_.client_idle_ms)
            s->check_idle(now, config_.client_idle_ms);
    }
}

void Router::watch_output(ClientSession* s, bool on) {
    if (on) {
        output_watch_.insert(s);
        if (!output_timer_.active()) output_timer_.start(kOutputSweepMs, kOutputSweepMs);
    } else {
        output_watch_.erase(s);
        if (output_watch_.empty()) output_timer_.stop();
    }
}

void Router::sweep_output_limits() {
    std::uint64_t now = uv_now(loop_);
    auto watched = output_watch_;
    for (ClientSession* s : watched)
        if (output_watch_.count(s)) s->check_output_limit(now);
}

Router::~Router() {
    topology_.unsubscribe(topology_sub_);
    close_all();
    reap();
}

std::size_t Router::shared_links() const {
    return pool_->links();
}

std::size_t Router::dedicated_links() const {
    return static_cast<std::size_t>(
        std::count_if(sessions_.begin(), sessions_.end(),
                      [](const ClientSession* s) { return s->has_dedicated_link(); }));
}

std::uint64_t Router::shared_writes() const {
    return pool_->batches();
}

void Router::replica_unusable(const NodeAddress& address) {
    auto all = sessions_;
    for (ClientSession* s : all)
        if (sessions_.count(s)) s->replica_unusable(address);
}

void Router::replicas_assessed() {
    if (replica_waiters_.empty()) return;
    std::unordered_set<ClientSession*> waiting;
    waiting.swap(replica_waiters_);
    for (ClientSession* s : waiting)
        if (sessions_.count(s)) s->replica_may_be_available();
}

void Router::add(ClientSession* s) {
    sessions_.insert(s);
}

void Router::retire(ClientSession* s) {
    if (sessions_.erase(s) == 0) return;
    moving_subscribers_.erase(s);
    replica_waiters_.erase(s);
    watch_output(s, false);
    retired_.push_back(s);
    reap_timer_.start(0);
}

void Router::reap() {
    auto dead = std::move(retired_);
    retired_.clear();
    for (ClientSession* s : dead) delete s;
}

std::size_t Router::drain() {
    draining_ = true;
    auto all = sessions_;
    for (ClientSession* s : all)
        if (!s->closed() && s->idle()) s->close("proxy shutting down", true);
    return sessions_.size();
}

void Router::held_for(std::uint64_t ms) {
    stats_.hold_wait.observe_ms(static_cast<double>(ms));
    timeline_.longest_hold_ms = std::max(timeline_.longest_hold_ms, ms);
}

void Router::close_all() {
    auto all = sessions_;
    for (ClientSession* s : all) s->close("proxy shutting down", true);
}

void Router::on_snapshot(const SnapshotPtr& snap) {
    // Shared links to a replaced master take no new commands from here on; nor do reads
    // go to replicas assessed against it.
    pool_->on_master(snap->master, snap->replicas);
    if (snap->master) read_targets_.reset(snap->master);
    bool new_master =
        snap->master && (!sub_snap_->master || !(*sub_snap_->master == *snap->master));
    sub_snap_ = snap;
    if (!snap->master && main_snap_->master && timeline_.hold_ms == 0) {
        // A failover (or a lost master) begins: the timeline starts here.
        timeline_ = Timeline{};
        timeline_.hold_ms = uv_now(loop_);
        timeline_.hold_reason = snap->hold_reason;
        timeline_.from = main_snap_->master;
    }
    if (!new_master) {
        // Holds, re-verifications and replica changes reach everyone at once.
        if (release_timer_.active()) release_timer_.stop();
        moving_subscribers_.clear();
        main_snap_ = snap;
        auto all = sessions_;
        for (ClientSession* s : all)
            if (sessions_.count(s)) s->on_topology();
        return;
    }
    if (last_master_ && !(*last_master_ == *snap->master)) {
        ++stats_.failovers_seen;
        if (timeline_.hold_ms == 0) {
            timeline_ = Timeline{};
            timeline_.from = last_master_;
        }
    } else {
        timeline_ = Timeline{};  // first verification, or the same master again
    }
    last_master_ = snap->master;
    last_switch_ms_ = uv_now(loop_);
    timeline_.verified_ms = uv_now(loop_);
    timeline_.longest_hold_ms = 0;
    // Subscribers first: they re-subscribe on the new master before anyone's held
    // PUBLISH is released there.
    switch_started_ms_ = uv_now(loop_);
    moving_subscribers_.clear();
    auto all = sessions_;
    for (ClientSession* s : all)
        if (s->subscribed()) moving_subscribers_.insert(s);
    timeline_.subscribers = moving_subscribers_.size();
    for (ClientSession* s : all)
        if (sessions_.count(s) && s->subscribed()) s->on_topology();
    // Sessions that did not need to move (no link yet) are not waited for.
    for (auto it = moving_subscribers_.begin(); it != moving_subscribers_.end();) {
        if ((*it)->closed())
            it = moving_subscribers_.erase(it);
        else
            ++it;
    }
    if (moving_subscribers_.empty()) {
        release_everyone();
    } else {
        spdlog::debug("moving {} subscribers to {} before releasing held commands",
                      moving_subscribers_.size(), snap->master->str());
        release_timer_.start(kSubscriberHeadStartMs);
    }
}

void Router::subscriber_moved(ClientSession* s) {
    if (moving_subscribers_.erase(s) && moving_subscribers_.empty() && release_timer_.active()) {
        spdlog::debug("subscribers re-subscribed after {} ms", uv_now(loop_) - switch_started_ms_);
        timeline_.subscribers_moved_ms = uv_now(loop_);
        release_timer_.stop();
        release_everyone();
    }
}

void Router::release_everyone() {
    moving_subscribers_.clear();
    main_snap_ = sub_snap_;
    auto all = sessions_;
    std::size_t n = 0;
    for (ClientSession* s : all) {
        if (!sessions_.count(s)) continue;
        if (!s->subscribed()) ++n;
        s->on_topology();
    }
    const std::string to = main_snap_->master ? main_snap_->master->str() : "-";
    const std::uint64_t after_ms = uv_now(loop_) - switch_started_ms_;
    LogFields fields = log_context(config_.pool_name, config_.master_name, "sessions_released");
    fields.emplace_back("to", to);
    fields.emplace_back("sessions", n);
    fields.emplace_back("after_ms", after_ms);
    log_event(spdlog::level::info, fields,
              "sessions released to master {}: {} sessions, {} ms after the switch", to, n,
              after_ms);
    if (timeline_.from) {
        timeline_.released_ms = uv_now(loop_);
        timeline_.released_sessions = n;
        // Held commands go out now; their sessions report how long they held once the new
        // links answer. Log the timeline when that has settled.
        timeline_timer_.start(1000);
    }
}

void Router::log_failover_timeline() {
    const Timeline& t = timeline_;
    if (!t.from || !main_snap_->master) return;
    const std::uint64_t t0 = t.hold_ms ? t.hold_ms : t.verified_ms;
    // fmt, not std::string operator+: g++ 12 -O3 reports a false -Wrestrict on the latter.
    auto at = [t0](std::uint64_t ms) { return fmt::format("+{} ms", ms >= t0 ? ms - t0 : 0); };
    LogFields fields = log_context(config_.pool_name, config_.master_name, "failover_timeline");
    fields.emplace_back("from", t.from->str());
    fields.emplace_back("to", main_snap_->master->str());
    fields.emplace_back("verified_ms", t.verified_ms >= t0 ? t.verified_ms - t0 : 0);
    fields.emplace_back("released_sessions", t.released_sessions);
    fields.emplace_back("longest_hold_ms", t.longest_hold_ms);
    log_event(spdlog::level::info, fields,
              "failover timeline [{}]: {} -> {}; event seen{}{}; master verified {}; subscribers "
              "moved {} ({}); held commands released {} ({} sessions); longest hold {} ms",
              config_.master_name, t.from->str(), main_snap_->master->str(),
              t.hold_ms ? " +0 ms" : " (none: switch seen without a hold)",
              t.hold_reason.empty() ? "" : " (" + t.hold_reason + ")", at(t.verified_ms),
              t.subscribers_moved_ms ? at(t.subscribers_moved_ms) : std::string("-"), t.subscribers,
              at(t.released_ms), t.released_sessions, t.longest_hold_ms);
    timeline_ = Timeline{};
}

}  // namespace sp::proxy
