// config/: proxy.threads, the number of data-plane worker loops (issue 24): an integer
// 0..256 or "auto" (0) from the file, the environment and the flag; process-wide (an error
// in a [[pool]]); reported as deferred to a restart by a reload.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "tests/unit/config_invocation.h"

using namespace sp::config;
using Catch::Contains;

namespace {

std::uint32_t threads_from_toml(const std::string& value) {
    return load_toml("[proxy]\nthreads = " + value + "\n", "x.toml").threads;
}

template <typename Load>
std::string error_of(Load load) {
    try {
        load();
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("config threads: default auto, from file, environment and flag", "[config][threads]") {
    CHECK(Config{}.threads == 0);
    CHECK(invoke_with({}).config.threads == 0);
    CHECK(invoke_with({}).config.explicit_keys.count("proxy.threads") == 0);

    CHECK(threads_from_toml("4") == 4);
    CHECK(threads_from_toml("1") == 1);
    CHECK(threads_from_toml("256") == 256);
    CHECK(threads_from_toml("0") == 0);
    CHECK(threads_from_toml("\"auto\"") == 0);
    // An explicit "auto" overrides a number below it, and counts as chosen.
    Config c = load_toml("[proxy]\nthreads = \"auto\"\n", "y.toml",
                         load_toml("[proxy]\nthreads = 8\n", "x.toml"));
    CHECK(c.threads == 0);
    CHECK(c.explicit_keys.count("proxy.threads") == 1);

    CHECK(invoke_with({}, {{"SENTINEL_PROXY_PROXY_THREADS", "3"}}).config.threads == 3);
    CHECK(invoke_with({}, {{"SENTINEL_PROXY_PROXY_THREADS", "auto"}}).config.threads == 0);
    CHECK(invoke_with({"--threads", "2"}).config.threads == 2);
    CHECK(invoke_with({"--threads", "auto"}).config.threads == 0);
    CHECK(invoke_with({"--threads", "0"}).config.threads == 0);
    // The flag wins over the environment.
    CHECK(invoke_with({"--threads", "5"}, {{"SENTINEL_PROXY_PROXY_THREADS", "auto"}})
              .config.threads == 5);
}

TEST_CASE("config threads: out of range and non-integers are errors naming the key",
          "[config][threads]") {
    const auto toml = [](const std::string& value) {
        return error_of([&] { threads_from_toml(value); });
    };
    CHECK_THAT(toml("257"), Contains("x.toml:2: proxy.threads: 257 is out of range (0..256, "
                                     "or \"auto\")"));
    CHECK_THAT(toml("-1"), Contains("proxy.threads") && Contains("out of range"));
    CHECK_THAT(toml("\"many\""), Contains("proxy.threads: expected an integer (0..256, or "
                                          "\"auto\"), got \"many\""));
    CHECK_THAT(toml("\"4\""), Contains("proxy.threads") && Contains("got \"4\""));
    CHECK_THAT(toml("2.5"), Contains("proxy.threads: expected a non-negative integer or "
                                     "\"auto\", got float"));
    CHECK_THAT(toml("true"), Contains("proxy.threads") && Contains("got boolean"));

    const auto env = [](const std::string& value) {
        return error_of([&] { invoke_with({}, {{"SENTINEL_PROXY_PROXY_THREADS", value}}); });
    };
    CHECK_THAT(env("1000"), Contains("environment variable SENTINEL_PROXY_PROXY_THREADS: "
                                     "proxy.threads: 1000 is out of range (0..256, or \"auto\")"));
    CHECK_THAT(env("AUTO"),
               Contains("SENTINEL_PROXY_PROXY_THREADS") &&
                   Contains("expected an integer (0..256, or \"auto\"), got \"AUTO\""));
    CHECK_THAT(env("2x"), Contains("got \"2x\""));
    CHECK_THAT(env(""), Contains("SENTINEL_PROXY_PROXY_THREADS") && Contains("got \"\""));
    CHECK_THAT(env("99999999999999999999"), Contains("out of range (0..256, or \"auto\")"));

    const auto flag = [](const std::string& value) {
        return error_of([&] { invoke_with({"--threads", value}); });
    };
    CHECK_THAT(flag("-3"), Contains("--threads") && Contains("proxy.threads"));
    CHECK_THAT(flag("300"), Contains("--threads: proxy.threads: 300 is out of range"));
    CHECK_THAT(flag("half"), Contains("--threads: proxy.threads: expected an integer"));
}

TEST_CASE("config threads: a process-wide key in a [[pool]] is an error saying where it goes",
          "[config][threads][pools]") {
    const std::string pool =
        "[sentinel]\naddresses = [\"10.0.0.1:26379\"]\n"
        "[[pool]]\nname = \"a\"\nmaster = \"a\"\nlisten = \"127.0.0.1:1\"\n";
    CHECK_THAT(error_of([&] { load_toml(pool + "threads = 4\n", "pools.toml"); }),
               Contains("pools.toml:7: pool[0].threads: not a per-pool key: proxy.threads "
                        "applies to the whole process; set it in [proxy]"));
    // The same for the other process-wide keys, e.g. the log's.
    CHECK_THAT(error_of([&] { load_toml(pool + "format = \"json\"\n", "pools.toml"); }),
               Contains("pool[0].format: not a per-pool key: log.format applies to the whole "
                        "process; set it in [log]"));
    CHECK_THAT(error_of([&] { load_toml(pool + "password = \"x\"\n", "pools.toml"); }),
               Contains("sentinel.password, redis.password, client.password apply to the whole "
                        "process; set it in [sentinel] or [redis] or [client]") &&
                   !Contains("\"x\""));
    // A key no section knows is still an unknown key, with a suggestion.
    CHECK_THAT(error_of([&] { load_toml(pool + "thread = 4\n", "pools.toml"); }),
               Contains("pool[0].thread: unknown key"));
}

TEST_CASE("config threads: rendered, summarised, and deferred to a restart by a reload",
          "[config][threads][settings]") {
    Config running = load_toml("[proxy]\nthreads = 2\n", "x.toml");
    CHECK_THAT(render_masked(Config{}), Contains("threads = \"auto\""));
    CHECK_THAT(render_masked(running), Contains("threads = 2"));
    CHECK(load_toml(render_masked(running), "rendered").threads == 2);
    CHECK(load_toml(render_masked(Config{}), "rendered").threads == 0);
    CHECK_THAT(settings_summary(Config{}), Contains("proxy.threads=\"auto\""));
    CHECK_THAT(settings_summary(running), Contains("proxy.threads=2"));

    CHECK(applies_on_restart_only("proxy.threads"));
    Config next = load_toml("[proxy]\nthreads = \"auto\"\n", "x.toml");
    SettingsDiff diff = diff_settings(running, next);
    CHECK(diff.applied.empty());
    REQUIRE(diff.deferred.size() == 1);
    CHECK(diff.deferred[0] == "proxy.threads 2 -> \"auto\"");
    CHECK(diff.line() == "applied: none; deferred to restart: proxy.threads 2 -> \"auto\"");

    // --help shows the flag with its default.
    Invocation help = invoke_with({"--help"});
    CHECK_THAT(help.text, Contains("--threads") && Contains("(default: auto)"));
}

TEST_CASE("config threads: worker_threads resolves auto to the CPU budget, 1..256",
          "[config][threads]") {
    CHECK(worker_threads(3, 64) == 3);  // as set, whatever the CPUs
    CHECK(worker_threads(256, 2) == 256);
    CHECK(worker_threads(0, 2) == 2);  // auto: the budget
    CHECK(worker_threads(0, 0) == 1);
    CHECK(worker_threads(0, 1024) == kMaxThreads);
}
