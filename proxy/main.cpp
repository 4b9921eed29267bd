// Entry point: parse the invocation (file, environment, flags), then run the loops. The
// control loop (this thread) runs one Pool per configured pool (Sentinel watcher ->
// topology, replica monitor), the admin HTTP endpoint (/livez /readyz /metrics /status)
// and signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads the configuration. The
// worker loops (proxy.threads, each on its own thread) own the listeners and the client
// sessions: one shard of every pool each.
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include "config/config.h"
#include "proxy/admin/admin_server.h"
#include "proxy/admin/metrics.h"
#include "proxy/admin/probe.h"
#include "proxy/admin/status_report.h"
#include "proxy/logging.h"
#include "proxy/net/cpu_budget.h"
#include "proxy/net/fd_limit.h"
#include "proxy/net/stream_factory.h"
#include "proxy/net/tcp_stream.h"
#include "proxy/pool.h"
#include "proxy/worker/worker_group.h"
#include "version.h"

#if defined(__SANITIZE_ADDRESS__)  // g++ -fsanitize=address
#define SP_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang
#define SP_HAVE_LSAN 1
#endif
#endif
#ifndef SP_HAVE_LSAN
#define SP_HAVE_LSAN 0
#endif
#if SP_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

using namespace sp;

namespace {

// How often a draining proxy looks for sessions that fell idle.
constexpr std::uint64_t kDrainPollMs = 20;
// After the last session is closed, how long writes already queued may take to go out.
constexpr std::uint64_t kFinalFlushMs = 100;
// How long the control loop waits for a worker's answer (admin pages, the drain): a worker
// answers within one loop turn; past this it is reported as not answering.
constexpr std::uint64_t kAskTimeoutMs = 1000;
// How long the process waits for the workers' loops to end at exit.
constexpr std::uint64_t kJoinTimeoutMs = 2000;

struct App {
    uv_loop_t* loop = nullptr;
    config::Config config;
    std::unique_ptr<proxy::LoopInbox> inbox;  // the workers' way back to this loop
    std::vector<std::unique_ptr<proxy::Pool>> pools;
    std::unique_ptr<proxy::WorkerGroup> workers;
    // Each worker's last answer (a worker that does not answer in time keeps its last).
    std::vector<std::vector<proxy::ShardReport>> reports;
    std::unique_ptr<proxy::AdminServer> admin;
    proxy::Metrics metrics;
    std::unique_ptr<proxy::Timer> drain_timer;
    std::unique_ptr<proxy::Timer> grace_timer;  // SIGTERM: accepting on, /readyz 503
    std::vector<const char*> argv;
    proxy::ClientBudget client_budget;
    bool stopping = false;
    std::uint64_t drain_deadline_ms = 0;

    std::vector<const proxy::Pool*> pool_views() const {
        std::vector<const proxy::Pool*> v;
        for (const auto& p : pools) v.push_back(p.get());
        return v;
    }
};

App* g_app = nullptr;

// Descriptors kept aside from clients: a query and an event link per sentinel, a margin
// for learned sentinels and reconnects, admin requests and DNS.
std::size_t reserved_fds(const App& app) {
    std::size_t reserve = 8;
    for (const auto& pool : app.pools) reserve += 2 * pool->config().sentinels.size() + 2;
    return reserve;
}

// Logs the file-descriptor budget once the listeners are open, and warns when it cannot
// hold every pool's max_clients (clients past the capacity are refused, not dropped).
void log_fd_budget(App& app, const proxy::FdLimit& limit) {
    if (!limit.error.empty())
        spdlog::warn("file descriptors: cannot raise the soft limit {} to the hard limit {}: {}",
                     limit.soft_before, limit.hard, limit.error);
    else if (limit.soft != limit.soft_before)
        spdlog::info("file descriptors: soft limit raised from {} to {}", limit.soft_before,
                     limit.soft);
    const std::size_t capacity =
        proxy::client_capacity(limit.soft, proxy::open_fd_count(), reserved_fds(app));
    app.client_budget.capacity = capacity;
    std::uint64_t wanted = 0;
    for (const auto& pool : app.pools) wanted += pool->config().max_clients;
    const std::uint64_t needed =
        wanted * proxy::kFdsPerClient + proxy::open_fd_count() + reserved_fds(app);
    // At the default max_clients (nobody asked for 10000) a lower limit is a fact to know,
    // said once in this line, not a warning at every start under a 1024 or 16384 limit.
    const bool asked = app.config.explicit_keys.count("proxy.max_clients") > 0;
    spdlog::info(
        "file descriptors: limit {} (hard {}): room for about {} clients ({} fds each){}",
        limit.soft,
        limit.hard == UINT64_MAX ? std::string("unlimited") : std::to_string(limit.hard), capacity,
        proxy::kFdsPerClient,
        wanted > capacity && !asked
            ? fmt::format(", fewer than the default proxy.max_clients allows ({}): past that, "
                          "new clients get \"max number of clients reached\" (set "
                          "proxy.max_clients, or raise the limit to {})",
                          wanted, needed)
            : std::string());
    if (wanted > capacity && asked)
        spdlog::warn(
            "proxy.max_clients = {} cannot be honoured: the file-descriptor limit {} leaves room "
            "for about {} clients; past that, new clients get \"max number of clients reached\". "
            "Raise the limit (ulimit -n, LimitNOFILE=, --ulimit nofile=) to at least {}",
            wanted, limit.soft, capacity, needed);
}

// Sessions still open on every worker after `step` ran on each of their shards; a worker
// that does not answer counts as one, so the drain waits for it until its deadline.
std::size_t sessions_left(App& app, std::size_t (*step)(proxy::PoolShard&)) {
    auto answers = app.workers->ask<std::size_t>(
        [step](proxy::Worker& w) {
            std::size_t left = 0;
            for (std::size_t i = 0; i < w.shards(); ++i) left += step(w.shard(i));
            return left;
        },
        kAskTimeoutMs);
    std::size_t left = 0;
    for (const auto& a : answers) left += a ? *a : 1;
    return left;
}

// The drain's deadline, or a second signal: every worker closes every session now.
void close_every_session(App& app) {
    app.workers->post_all([](proxy::Worker& w) {
        for (std::size_t i = 0; i < w.shards(); ++i) w.shard(i).close_all();
    });
}

void finish(App& app) {
    if (app.admin) app.admin->stop();
    // Queued replies get a moment to go out (graceful closes flush first); the workers
    // stop their loops after the same moment.
    app.workers->stop_all(kFinalFlushMs);
    app.drain_timer = std::make_unique<proxy::Timer>(app.loop, [&app] { uv_stop(app.loop); });
    app.drain_timer->start(kFinalFlushMs);
}

void drain_step(App& app) {
    const std::size_t left =
        sessions_left(app, [](proxy::PoolShard& shard) { return shard.drain_step(); });
    if (left == 0) {
        spdlog::info("drain complete: every client connection closed");
        finish(app);
        return;
    }
    if (uv_now(app.loop) >= app.drain_deadline_ms) {
        spdlog::warn("drain timeout ({} ms): closing {} connection(s) with commands in flight",
                     app.config.drain_timeout_ms, left);
        close_every_session(app);
        finish(app);
    }
}

// Stops accepting and closes sessions as they fall idle, within proxy.drain_timeout_ms.
void start_drain(App& app, const char* why) {
    app.drain_deadline_ms = uv_now(app.loop) + app.config.drain_timeout_ms;
    const std::size_t left =
        sessions_left(app, [](proxy::PoolShard& shard) { return shard.drain(); });
    spdlog::info(
        "{}: no longer accepting; draining {} client connection(s) for up to {} ms (idle ones "
        "closed now)",
        why, left, app.config.drain_timeout_ms);
    app.drain_timer = std::make_unique<proxy::Timer>(app.loop, [&app] { drain_step(app); });
    app.drain_timer->start(0, kDrainPollMs);
}

void begin_shutdown(App& app, const char* why) {
    if (app.stopping) {
        spdlog::warn("second {}: exiting now", why);
        close_every_session(app);
        uv_stop(app.loop);  // main stops the workers once the control loop returns
        return;
    }
    app.stopping = true;  // /readyz answers 503 from now on
    if (app.config.accept_grace_ms == 0) {
        start_drain(app, why);
        return;
    }
    // Endpoints take a moment to drop this pod everywhere; clients sent here meanwhile
    // are still served instead of refused.
    spdlog::info(
        "{}: /readyz now 503; still accepting for {} ms (proxy.accept_grace_ms), "
        "then draining",
        why, app.config.accept_grace_ms);
    app.grace_timer =
        std::make_unique<proxy::Timer>(app.loop, [&app, why] { start_drain(app, why); });
    app.grace_timer->start(app.config.accept_grace_ms);
}

void reload(App& app) {
    // Re-run the whole invocation (file, then environment, then flags) so a reload sees
    // exactly what a restart would. Anything wrong: keep the running configuration.
    if (app.stopping) return;
    try {
        config::Invocation inv = config::parse_invocation(
            static_cast<int>(app.argv.size()), app.argv.data(), config::current_environment());
        const config::Config& next = inv.config;
        std::vector<config::ResolvedPool> resolved = config::resolve_pools(next);
        for (const auto& r : resolved) {
            auto it = std::find_if(app.pools.begin(), app.pools.end(),
                                   [&r](const auto& p) { return p->name() == r.name; });
            if (it == app.pools.end())
                spdlog::warn("reload: new pool {} takes effect on restart only", r.name);
            else
                (*it)->reconfigure(r.config);
        }
        for (const auto& pool : app.pools) {
            if (std::none_of(resolved.begin(), resolved.end(),
                             [&pool](const auto& r) { return r.name == pool->name(); }))
                spdlog::warn("reload: pool {} was removed; it keeps running until restart",
                             pool->name());
        }
        std::string tls_error;
        if (!proxy::StreamFactory::reload_client(next, tls_error))
            spdlog::error("reload: TLS certificate/key not reloaded, keeping the old ones: {}",
                          tls_error);
        else if (proxy::StreamFactory::tls(proxy::TlsSide::client))
            spdlog::info("reload: TLS certificate and key reloaded from {}", next.tls_cert_file);
        const config::SettingsDiff diff = config::diff_settings(app.config, next);
        // What only a restart applies keeps its running value here, so every later reload
        // still reports it as pending.
        config::Config kept = next;
        kept.admin_listen = app.config.admin_listen;
        kept.log_format = app.config.log_format;
        kept.listen = app.config.listen;
        kept.threads = app.config.threads;
        kept.master_name = app.config.master_name;
        app.config = kept;
        spdlog::set_level(spdlog::level::from_str(next.log_level));
        spdlog::log(diff.deferred.empty() ? spdlog::level::info : spdlog::level::warn,
                    "configuration reloaded{}: {}",
                    next.config_file ? " from " + *next.config_file : std::string(), diff.line());
        app.metrics.record_reload(true);
    } catch (const std::exception& e) {
        spdlog::error("reload failed, keeping the running configuration: {}", e.what());
        app.metrics.record_reload(false);
    }
}

// Asks every worker for its shards' figures (a worker that does not answer in time is
// represented by its last answer) and adds them up per pool.
proxy::AdminFigures collect(App& app) {
    auto answers = app.workers->ask<std::vector<proxy::ShardReport>>(
        [](proxy::Worker& w) { return w.report(); }, kAskTimeoutMs);
    proxy::AdminFigures f;
    f.pools.resize(app.pools.size());
    for (std::size_t w = 0; w < answers.size(); ++w) {
        if (answers[w])
            app.reports[w] = std::move(*answers[w]);
        else
            spdlog::warn("worker {} did not answer within {} ms: its last figures are shown", w,
                         kAskTimeoutMs);
        std::size_t clients = 0;
        for (std::size_t p = 0; p < app.reports[w].size() && p < f.pools.size(); ++p) {
            f.pools[p].add(app.reports[w][p]);
            clients += app.reports[w][p].clients;
        }
        f.worker_clients.push_back(clients);
        f.worker_answered.push_back(answers[w].has_value());
    }
    return f;
}

proxy::HttpResponse admin_page(App& app, std::string_view path) {
    proxy::HttpResponse r;
    if (path == "/livez") {
        // The control loop answered: that is all liveness means. Never depends on Redis.
        r.body = "ok\n";
    } else if (path == "/readyz") {
        const proxy::AdminFigures f = collect(app);
        std::string reason;
        bool ready = !app.stopping;
        if (!ready) reason = "draining: shutting down";
        for (std::size_t i = 0; i < app.pools.size(); ++i)
            if (ready && !app.pools[i]->ready(f.pools[i], reason)) ready = false;
        for (char& c : reason)
            if (c == '\n' || c == '\r') c = ' ';
        r.status = ready ? 200 : 503;
        r.body = ready ? "ready\n" : reason + "\n";
    } else if (path == "/metrics") {
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = app.metrics.scrape(app.pool_views(), collect(app), uv_now(app.loop));
    } else if (path == "/status") {
        r.content_type = "application/json";
        r.body = proxy::status_json(app.pool_views(), collect(app), uv_now(app.loop), app.stopping);
    } else if (path == "/") {
        r.body = "sentinel-proxy admin: /livez /readyz /metrics /status\n";
    } else {
        r.status = 404;
        r.body = "not found; try /livez /readyz /metrics /status\n";
    }
    return r;
}

// Exit status 0 when the admin endpoint answers 200, 1 otherwise (Docker reserves 2).
int run_probe(const config::Invocation& inv) {
    constexpr int kProbeTimeoutMs = 2000;  // under the HEALTHCHECK's --timeout=3s
    try {
        std::string detail;
        int status = proxy::probe_http(proxy::probe_target(inv.probe, inv.config.admin_listen),
                                       kProbeTimeoutMs, detail);
        std::fprintf(status == 200 ? stdout : stderr, "%s\n", detail.c_str());
        return status == 200 ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sentinel-proxy --probe: %s\n", e.what());
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    config::Invocation inv;
    try {
        inv = config::parse_invocation(argc, argv, config::current_environment());
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "sentinel-proxy: %s\n", e.what());
        // A health probe reports "unhealthy" (1), never Docker's reserved 2.
        for (int i = 1; i < argc; ++i)
            if (std::string_view(argv[i]).rfind("--probe", 0) == 0) return 1;
        return 2;
    }
    if (inv.action == config::Action::probe) return run_probe(inv);
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
    // Certificates and keys are checked before anything starts: a wrong file is a
    // configuration error (exit 2), like a wrong key.
    try {
        proxy::StreamFactory::configure(inv.config);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sentinel-proxy: %s\n", e.what());
        return 2;
    }
    spdlog::info("sentinel-proxy {} starting (pid {}), configuration file {}: {}",
                 SENTINEL_PROXY_VERSION, ::getpid(),
                 app.config.config_file ? *app.config.config_file : std::string("none"),
                 config::settings_summary(app.config));
    if (app.config.query_buffer_limit < app.config.max_bulk_len)
        spdlog::info(
            "limits: the largest command a client may send whole is limits.query_buffer_limit "
            "({} bytes), so it caps bulks below limits.max_bulk_len ({}) unless they are "
            "streamed (limits.stream_bulk_len {}: {}); raise it (and limits.memory_budget) to "
            "accept larger values when they cannot be",
            app.config.query_buffer_limit, app.config.max_bulk_len, app.config.stream_bulk_len,
            app.config.stream_bulk_len ? "on" : "off");
    const proxy::FdLimit fd_limit = proxy::raise_fd_limit();

    // Workers: proxy.threads, or as many as the CPUs the process may use.
    std::string threads_why = "proxy.threads = " + std::to_string(app.config.threads);
    unsigned cpus = 1;
    if (app.config.threads == 0) {
        const proxy::CpuBudget budget = proxy::cpu_budget();
        cpus = budget.cpus;
        threads_why = "proxy.threads = auto: " + budget.why;
    }
    const unsigned threads = config::worker_threads(app.config.threads, cpus);
    spdlog::info("workers: {} data-plane loop(s) ({}), plus the control loop", threads,
                 threads_why);

    app.inbox = std::make_unique<proxy::LoopInbox>(app.loop);
    app.workers = std::make_unique<proxy::WorkerGroup>(threads);
    app.reports.resize(threads);
    try {
        for (auto& r : config::resolve_pools(app.config))
            app.pools.push_back(
                std::make_unique<proxy::Pool>(app.loop, *app.inbox, r.name, r.config));
        app.client_budget.clients_open = [&app] {
            std::size_t open = 0;
            for (const auto& pool : app.pools) open += pool->clients();
            return open;
        };
        std::vector<proxy::ShardPlan> plans;
        for (auto& pool : app.pools) plans.push_back(pool->shard_plan(&app.client_budget));
        app.workers->start(plans);
        for (std::size_t i = 0; i < app.pools.size(); ++i) app.pools[i]->attach(*app.workers, i);
        for (auto& pool : app.pools) pool->start();
        if (app.config.admin_listen) {
            app.admin = std::make_unique<proxy::AdminServer>(
                app.loop, [&app](std::string_view path) { return admin_page(app, path); });
            app.admin->start(*app.config.admin_listen);
        }
        log_fd_budget(app, fd_limit);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        spdlog::default_logger()->flush();
        // Workers already listening end with the process.
        std::_Exit(1);
    }

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
    app.workers->stop_all(0);
    if (!app.workers->join_all(kJoinTimeoutMs))
        spdlog::warn("a worker loop did not stop within {} ms; exiting anyway", kJoinTimeoutMs);

    spdlog::info("stopped");
    spdlog::default_logger()->flush();
    // Process exit reclaims the rest; handles are not all closed on this path. _Exit skips
    // atexit, where LeakSanitizer would run: in a sanitized build run it here (what is still
    // reachable from App is not a leak), so CI sees leaks; a leak exits non-zero.
#if SP_HAVE_LSAN
    __lsan_do_leak_check();
#endif
    std::_Exit(0);
}
