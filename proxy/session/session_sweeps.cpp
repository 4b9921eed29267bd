#include "proxy/session/session_sweeps.h"

#include <algorithm>
#include <cstdint>

#include "proxy/session/client_session.h"
#include "proxy/session/loop_context.h"
#include "proxy/session/session_registry.h"

namespace sp::proxy {

namespace {
// A session that read nothing for this long and owes nothing gives back its reply rings:
// one pass over the sessions a second costs little next to 0.25 KiB per idle client.
constexpr std::uint64_t kTrimIdleMs = 1000;
// How often clients over a soft output limit are checked (Redis counts whole seconds).
constexpr std::uint64_t kOutputSweepMs = 250;
}  // namespace

SessionSweeps::SessionSweeps(LoopContext& context, SessionRegistry& sessions)
    : context_(context),
      sessions_(sessions),
      timeout_timer_(context.loop(), [this] { command_timeouts(); }),
      output_timer_(context.loop(), [this] { output_limits(); }),
      trim_timer_(context.loop(), [this] { trim_idle(); }) {
    trim_timer_.start(kTrimIdleMs, kTrimIdleMs);
    reschedule();
}

void SessionSweeps::reschedule() {
    // One sweep for all sessions, not a timer per command: the check is coarse (a quarter
    // of the timeout, at least 50 ms) and costs nothing while no command timeout is set.
    std::uint64_t t = context_.config().command_timeout_ms;
    std::uint64_t idle = context_.config().client_idle_ms;
    if (t == 0 && idle == 0) {
        timeout_timer_.stop();
        return;
    }
    std::uint64_t shortest = t == 0 ? idle : idle == 0 ? t : std::min(t, idle);
    std::uint64_t every = std::max<std::uint64_t>(50, shortest / 4);
    timeout_timer_.start(every, every);
}

void SessionSweeps::command_timeouts() {
    const std::uint64_t now = uv_now(context_.loop());
    const config::Config& config = context_.config();
    sessions_.for_each([&](ClientSession* s) {
        if (config.command_timeout_ms) s->check_command_timeout(now, config.command_timeout_ms);
        if (config.client_idle_ms && sessions_.contains(s))
            s->check_idle(now, config.client_idle_ms);
    });
}

void SessionSweeps::watch_output(ClientSession* s, bool on) {
    if (on) {
        output_watch_.insert(s);
        if (!output_timer_.active()) output_timer_.start(kOutputSweepMs, kOutputSweepMs);
    } else {
        output_watch_.erase(s);
        if (output_watch_.empty()) output_timer_.stop();
    }
}

void SessionSweeps::output_limits() {
    const std::uint64_t now = uv_now(context_.loop());
    auto watched = output_watch_;
    for (ClientSession* s : watched)
        if (output_watch_.count(s)) s->check_output_limit(now);
}

void SessionSweeps::trim_idle() {
    const std::uint64_t now = uv_now(context_.loop());
    sessions_.for_each([now](ClientSession* s) { s->trim_if_idle(now, kTrimIdleMs); });
}

}  // namespace sp::proxy
