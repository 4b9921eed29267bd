#include "proxy/session/master_switch.h"

#include <spdlog/spdlog.h>

#include "proxy/backend/backend_pool.h"
#include "proxy/net/log_event.h"
#include "proxy/session/client_session.h"
#include "proxy/session/failover_timeline.h"
#include "proxy/session/loop_context.h"
#include "proxy/session/session_registry.h"

namespace sp::proxy {

namespace {
// How long held commands may wait for subscribers to re-subscribe on a new master.
constexpr std::uint64_t kSubscriberHeadStartMs = 500;
}  // namespace

MasterSwitch::MasterSwitch(LoopContext& context, SessionRegistry& sessions,
                           FailoverTimeline& timeline)
    : context_(context),
      sessions_(sessions),
      timeline_(timeline),
      main_snap_(context.topology().current()),
      sub_snap_(context.topology().current()),
      release_timer_(context.loop(), [this] { release_everyone(); }) {
    topology_sub_ = context_.topology().subscribe([this](const SnapshotPtr& s) { on_snapshot(s); });
}

MasterSwitch::~MasterSwitch() {
    context_.topology().unsubscribe(topology_sub_);
}

void MasterSwitch::on_snapshot(const SnapshotPtr& snap) {
    // Shared links to a replaced master take no new commands from here on; nor do reads
    // go to replicas assessed against it.
    context_.backend_pool().on_master(snap->master, snap->replicas);
    if (snap->master) context_.read_targets().reset(snap->master);
    bool new_master =
        snap->master && (!sub_snap_->master || !(*sub_snap_->master == *snap->master));
    sub_snap_ = snap;
    // A failover (or a lost master) begins: the timeline starts here.
    if (!snap->master && main_snap_->master)
        timeline_.hold_began(main_snap_->master, snap->hold_reason);
    if (!new_master) {
        // Holds, re-verifications and replica changes reach everyone at once.
        if (release_timer_.active()) release_timer_.stop();
        moving_subscribers_.clear();
        main_snap_ = snap;
        sessions_.for_each([](ClientSession* s) { s->on_topology(); });
        return;
    }
    const uv_loop_t* loop = context_.loop();
    if (last_master_ && !(*last_master_ == *snap->master)) {
        ++context_.stats().failovers_seen;
        timeline_.master_verified(last_master_);
    } else {
        timeline_.master_verified(std::nullopt);
    }
    last_master_ = snap->master;
    last_switch_ms_ = uv_now(loop);
    // Subscribers first: they re-subscribe on the new master before anyone's held
    // PUBLISH is released there.
    switch_started_ms_ = uv_now(loop);
    moving_subscribers_.clear();
    sessions_.for_each([this](ClientSession* s) {
        if (s->subscribed()) moving_subscribers_.insert(s);
    });
    timeline_.subscribers_moving(moving_subscribers_.size());
    sessions_.for_each([](ClientSession* s) {
        if (s->subscribed()) s->on_topology();
    });
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

void MasterSwitch::subscriber_moved(ClientSession* s) {
    if (moving_subscribers_.erase(s) && moving_subscribers_.empty() && release_timer_.active()) {
        spdlog::debug("subscribers re-subscribed after {} ms",
                      uv_now(context_.loop()) - switch_started_ms_);
        timeline_.subscribers_moved();
        release_timer_.stop();
        release_everyone();
    }
}

void MasterSwitch::release_everyone() {
    moving_subscribers_.clear();
    main_snap_ = sub_snap_;
    std::size_t n = 0;
    sessions_.for_each([&n](ClientSession* s) {
        if (!s->subscribed()) ++n;
        s->on_topology();
    });
    const std::string to = main_snap_->master ? main_snap_->master->str() : "-";
    const std::uint64_t after_ms = uv_now(context_.loop()) - switch_started_ms_;
    const config::Config& config = context_.config();
    LogFields fields = log_context(config.pool_name, config.master_name, "sessions_released");
    fields.emplace_back("to", to);
    fields.emplace_back("sessions", n);
    fields.emplace_back("after_ms", after_ms);
    log_event(spdlog::level::info, fields,
              "sessions released to master {}: {} sessions, {} ms after the switch", to, n,
              after_ms);
    // Held commands go out now; their sessions report how long they held once the new
    // links answer, and the timeline is logged when that has settled.
    if (main_snap_->master) timeline_.released(*main_snap_->master, n);
}

}  // namespace sp::proxy
