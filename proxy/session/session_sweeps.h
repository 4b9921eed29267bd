// The periodic checks over a pool's sessions, one timer each rather than one per session or
// per command: command timeouts and idle clients (timeouts.command_ms, client_idle_ms),
// clients over a soft output limit (limits.output_*_soft_seconds, only while there are
// any), and idle sessions giving back their reply rings.
#pragma once

#include <unordered_set>

#include "proxy/net/tcp_stream.h"

namespace sp::proxy {

class ClientSession;
class LoopContext;
class SessionRegistry;

class SessionSweeps {
  public:
    SessionSweeps(LoopContext& context, SessionRegistry& sessions);
    // The timeouts changed (SIGHUP): the timeout sweep follows them.
    void reschedule();
    // A session whose output is at its soft limit (on) or no longer (off): the output sweep
    // checks only those, while there are any.
    void watch_output(ClientSession* s, bool on);

  private:
    void command_timeouts();
    void output_limits();
    void trim_idle();

    LoopContext& context_;
    SessionRegistry& sessions_;
    std::unordered_set<ClientSession*> output_watch_;
    Timer timeout_timer_;
    Timer output_timer_;
    Timer trim_timer_;
};

}  // namespace sp::proxy
