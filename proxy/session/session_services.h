// The session side of one pool on one loop, wired together: the shared context sessions
// read, the registry that owns them, the master switch they follow, the sweeps that check
// them, and the failover timeline. A session is given this and reports to it; a loop (and,
// with several loops, each of them) owns one per pool.
#pragma once

#include <uv.h>

#include "config/config.h"
#include "proxy/sentinel/topology.h"
#include "proxy/session/failover_timeline.h"
#include "proxy/session/loop_context.h"
#include "proxy/session/master_switch.h"
#include "proxy/session/session_registry.h"
#include "proxy/session/session_sweeps.h"

namespace sp::proxy {

class SessionServices {
  public:
    SessionServices(uv_loop_t* loop, const config::Config& config, Topology& topology);
    // Sessions close (and are deleted) while everything they report to still exists.
    ~SessionServices() { registry.shutdown(); }
    SessionServices(const SessionServices&) = delete;
    SessionServices& operator=(const SessionServices&) = delete;

    // SIGHUP: credentials, link counts, timeouts and limits change in place.
    void set_config(const config::Config& config);
    // A session closed itself: nothing waits for it any more; it is deleted next turn.
    void retire(ClientSession* s);

    LoopContext context;
    FailoverTimeline timeline;
    SessionRegistry registry;
    MasterSwitch master_switch;
    SessionSweeps sweeps;
};

}  // namespace sp::proxy
