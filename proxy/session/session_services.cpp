#include "proxy/session/session_services.h"

namespace sp::proxy {

SessionServices::SessionServices(uv_loop_t* loop, const config::Config& config, Topology& topology)
    : context(loop, config, topology),
      timeline(loop, config.pool_name, config.master_name),
      registry(loop),
      master_switch(context, registry, timeline),
      sweeps(context, registry) {}

void SessionServices::set_config(const config::Config& config) {
    context.set_config(config);
    sweeps.reschedule();
}

void SessionServices::retire(ClientSession* s) {
    master_switch.forget(s);
    sweeps.watch_output(s, false);
    registry.retire(s);
}

}  // namespace sp::proxy
