// Entry point: parse the invocation (file, environment, flags), then run the event loop:
// the Sentinel watcher feeds the topology, the listener hands connections to client
// sessions, signals stop (SIGTERM/SIGINT, with a bounded drain) or reload (SIGHUP).
#include <spdlog/spdlog.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <vector>

#include "config/config.h"
#include "proxy/listener.h"
#include "proxy/logging.h"
#include "proxy/router.h"
#include "proxy/sentinel_watcher.h"
#include "proxy/tcp_stream.h"
#include "proxy/topology.h"

using namespace sp;

namespace {

struct App {
    uv_loop_t* loop = nullptr;
    config::Config config;
    std::unique_ptr<proxy::Topology> topology;
    std::unique_ptr<proxy::SentinelWatcher> watcher;
    std::unique_ptr<proxy::Router> router;
    std::unique_ptr<proxy::Listener> listener;
    std::unique_ptr<proxy::Timer> drain_timer;
    std::vector<const char*> argv;
    bool stopping = false;
    std::uint64_t stop_started_ms = 0;
};

App* g_app = nullptr;

void finish(App& app) {
    app.router->close_all();
    uv_stop(app.loop);
}

void begin_shutdown(App& app, const char* why) {
    if (app.stopping) {
        spdlog::warn("second {}: exiting now", why);
        finish(app);
        return;
    }
    app.stopping = true;
    app.stop_started_ms = uv_now(app.loop);
    spdlog::info("{}: no longer accepting; closing {} client connections", why,
                 app.router->sessions());
    app.listener->stop();
    // Let replies owed to clients go out, then stop.
    app.router->close_all();
    app.drain_timer = std::make_unique<proxy::Timer>(app.loop, [&app] { uv_stop(app.loop); });
    app.drain_timer->start(200);
}

void reload(App& app) {
    // Re-run the whole invocation (file, then environment, then flags) so a reload sees
    // exactly what a restart would.
    try {
        config::Invocation inv = config::parse_invocation(static_cast<int>(app.argv.size()), app.argv.data(),
                                                          config::current_environment());
        config::Config next = inv.config;
        if (next.listen != app.config.listen)
            spdlog::warn("reload: listen addresses changed; they take effect on restart only");
        next.listen = app.config.listen;
        app.config = next;
        app.watcher->reconfigure(next);
        app.router->set_config(next);
        spdlog::set_level(spdlog::level::from_str(next.log_level));
        spdlog::info("configuration reloaded{}", next.config_file ? " from " + *next.config_file : std::string());
    } catch (const std::exception& e) {
        spdlog::error("reload failed, keeping the running configuration: {}", e.what());
    }
}

}  // namespace

int main(int argc, char** argv) {
    config::Invocation inv;
    try {
        inv = config::parse_invocation(argc, argv, config::current_environment());
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "sentinel-proxy: %s\n", e.what());
        return 2;
    }
    if (inv.action != config::Action::run) {
        std::cout << inv.text;
        if (!inv.text.empty() && inv.text.back() != '\n') std::cout << '\n';
        return 0;
    }
    std::signal(SIGPIPE, SIG_IGN);

    App app;
    g_app = &app;
    app.loop = uv_default_loop();
    app.config = inv.config;
    app.argv.assign(argv, argv + argc);
    proxy::setup_logging(app.config);

    app.topology = std::make_unique<proxy::Topology>();
    app.router = std::make_unique<proxy::Router>(app.loop, app.config, *app.topology);
    app.watcher = std::make_unique<proxy::SentinelWatcher>(app.loop, app.config, *app.topology);
    app.listener = std::make_unique<proxy::Listener>(app.loop, *app.router);
    try {
        app.listener->start(app.config.listen);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
    spdlog::info("sentinel-proxy following master '{}' via {} sentinel(s)", app.config.master_name,
                 app.config.sentinels.size());
    app.watcher->start();

    uv_signal_t sigterm, sigint, sighup;
    uv_signal_init(app.loop, &sigterm);
    uv_signal_init(app.loop, &sigint);
    uv_signal_init(app.loop, &sighup);
    uv_signal_start(
        &sigterm, [](uv_signal_t*, int) { begin_shutdown(*g_app, "SIGTERM"); }, SIGTERM);
    uv_signal_start(
        &sigint, [](uv_signal_t*, int) { begin_shutdown(*g_app, "SIGINT"); }, SIGINT);
    uv_signal_start(
        &sighup, [](uv_signal_t*, int) { reload(*g_app); }, SIGHUP);

    uv_run(app.loop, UV_RUN_DEFAULT);

    spdlog::info("stopped");
    spdlog::default_logger()->flush();
    // Process exit reclaims the rest; handles are not all closed on this path.
    std::_Exit(0);
}
