// config/: [[pool]] tables, resolve_pools, proxy.drain_timeout_ms, and that the
// single-pool keys and flags keep working unchanged.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "config/config.h"

using namespace sp::config;
using Catch::Contains;

namespace {

Invocation invoke_pools(std::vector<std::string> args) {
    args.insert(args.begin(), "sentinel-proxy");
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    return parse_invocation(static_cast<int>(argv.size()), argv.data(), {});
}

std::string load_error(const std::string& toml) {
    try {
        validate(load_toml(toml, "pools.toml"));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

const char* kTwoPools = R"(
[sentinel]
addresses = ["10.0.0.1:26379", "10.0.0.2:26379"]
master = "cache"

[proxy]
listen = "0.0.0.0:6379"

[routing]
read_from = "master"

[[pool]]
name = "celery"
master = "celery"
listen = ["0.0.0.0:6380"]

[[pool]]
name = "cache-reads"
master = "cache"
listen = "0.0.0.0:6381"
read_from = "replica-preferred"
sentinels = ["10.0.0.9:26379"]
)";

}  // namespace

TEST_CASE("config pools: single-pool keys make one pool named default", "[config][pools]") {
    Config c = invoke_pools({"--sentinel", "127.0.0.1:26379", "--master", "mymaster", "--listen",
                             "127.0.0.1:7000"})
                   .config;
    CHECK(c.pools.empty());
    auto pools = resolve_pools(c);
    REQUIRE(pools.size() == 1);
    CHECK(pools[0].name == "default");
    CHECK(pools[0].config.master_name == "mymaster");
    CHECK(pools[0].config.listen == std::vector<HostPort>{{"127.0.0.1", 7000}});
    CHECK(pools[0].config.sentinels == std::vector<HostPort>{{"127.0.0.1", 26379}});
}

TEST_CASE("config pools: [[pool]] tables with defaults from the top level", "[config][pools]") {
    Config c = load_toml(kTwoPools, "pools.toml");
    validate(c);
    REQUIRE(c.pools.size() == 2);
    CHECK(c.pools[0].name == "celery");
    CHECK_FALSE(c.pools[0].read_routing.has_value());
    CHECK(c.pools[0].sentinels.empty());
    auto pools = resolve_pools(c);
    REQUIRE(pools.size() == 3);
    CHECK(pools[0].name == "default");
    CHECK(pools[0].config.listen == std::vector<HostPort>{{"0.0.0.0", 6379}});
    CHECK(pools[1].name == "celery");
    CHECK(pools[1].config.master_name == "celery");
    CHECK(pools[1].config.listen == std::vector<HostPort>{{"0.0.0.0", 6380}});
    CHECK(pools[1].config.read_routing == ReadRouting::master);
    CHECK(pools[1].config.sentinels.size() == 2);  // the top-level list
    CHECK(pools[2].name == "cache-reads");
    CHECK(pools[2].config.master_name == "cache");
    CHECK(pools[2].config.read_routing == ReadRouting::prefer_replica);
    CHECK(pools[2].config.sentinels == std::vector<HostPort>{{"10.0.0.9", 26379}});
    for (const auto& p : pools) CHECK(p.config.pools.empty());
}

TEST_CASE("config pools: only [[pool]] tables, no default pool", "[config][pools]") {
    Config c = load_toml(R"(
[sentinel]
addresses = ["10.0.0.1:26379"]
[[pool]]
name = "a"
master = "a"
listen = ["127.0.0.1:6380"]
)",
                         "pools.toml");
    validate(c);
    auto pools = resolve_pools(c);
    REQUIRE(pools.size() == 1);
    CHECK(pools[0].name == "a");
}

TEST_CASE("config pools: the routing default follows the environment and flags",
          "[config][pools]") {
    // A pool without read_from takes routing.read_from as finally resolved.
    Config c = load_toml(kTwoPools, "pools.toml");
    c.read_routing = ReadRouting::prefer_replica;
    CHECK(resolve_pools(c)[1].config.read_routing == ReadRouting::prefer_replica);
}

TEST_CASE("config pools: flags configure the default pool next to [[pool]] from the file",
          "[config][pools]") {
    // Flags keep their names and meaning: --listen/--master/--sentinel are the default pool.
    const std::string toml =
        "[[pool]]\nname = \"b\"\nmaster = \"b\"\nlisten = \"127.0.0.1:6390\"\n";
    std::string path = "/tmp/sp-config-pools-" + std::to_string(::getpid()) + ".toml";
    {
        FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f);
        std::fputs(toml.c_str(), f);
        std::fclose(f);
    }
    Invocation inv = invoke_pools({"--config", path, "--sentinel", "127.0.0.1:26379", "--master",
                                   "m", "--listen", "127.0.0.1:6389", "--drain-timeout-ms", "750"});
    std::remove(path.c_str());
    auto pools = resolve_pools(inv.config);
    REQUIRE(pools.size() == 2);
    CHECK(pools[0].name == "default");
    CHECK(pools[0].config.listen == std::vector<HostPort>{{"127.0.0.1", 6389}});
    CHECK(pools[1].config.sentinels == std::vector<HostPort>{{"127.0.0.1", 26379}});
    CHECK(inv.config.drain_timeout_ms == 750);
    CHECK(pools[1].config.drain_timeout_ms == 750);
}

TEST_CASE("config pools: errors", "[config][pools]") {
    const std::string base = "[sentinel]\naddresses = [\"10.0.0.1:26379\"]\n";
    CHECK_THAT(load_error(base + "[[pool]]\nmaster = \"a\"\nlisten = \"127.0.0.1:1\"\n"),
               Contains("pools.toml") && Contains("pool[0].name") && Contains("required"));
    CHECK_THAT(load_error(base + "[[pool]]\nname = \"a\"\nlisten = \"127.0.0.1:1\"\n"),
               Contains("pool[0].master"));
    CHECK_THAT(load_error(base + "[[pool]]\nname = \"a\"\nmaster = \"a\"\n"),
               Contains("pool[0].listen"));
    CHECK_THAT(load_error(base + "[[pool]]\nname = \"a\"\nmaster = \"a\"\nlisten = \"x\"\n"),
               Contains("pool[0].listen"));
    CHECK_THAT(
        load_error(base + "[[pool]]\nname = \"a\"\nmaster = \"a\"\nlisten = \"127.0.0.1:1\"\n"
                          "read_form = \"master\"\n"),
        Contains("pool[0].read_form") && Contains("did you mean read_from"));
    CHECK_THAT(
        load_error(base + "[[pool]]\nname = \"a\"\nmaster = \"a\"\nlisten = \"127.0.0.1:1\"\n"
                          "read_from = \"anywhere\"\n"),
        Contains("pool[0].read_from") && Contains("replica-preferred"));
    CHECK_THAT(load_error("pool = 3\n" + base), Contains("pool") && Contains("array of tables"));
    CHECK_THAT(
        load_error(base + "[[pool]]\nname = \"a\"\nmaster = \"a\"\nlisten = \"127.0.0.1:1\"\n"
                          "[[pool]]\nname = \"a\"\nmaster = \"b\"\nlisten = \"127.0.0.1:2\"\n"),
        Contains("pool name \"a\" is used twice"));
    CHECK_THAT(load_error(base + "[sentinel.x]\n"), Contains("sentinel"));
    CHECK_THAT(load_error("[sentinel]\naddresses = [\"10.0.0.1:26379\"]\nmaster = \"m\"\n"
                          "[proxy]\nlisten = \"127.0.0.1:1\"\n"
                          "[[pool]]\nname = \"a\"\nmaster = \"a\"\nlisten = \"127.0.0.1:1\"\n"),
               Contains("127.0.0.1:1") && Contains("\"default\"") && Contains("\"a\""));
    CHECK_THAT(load_error("[sentinel]\naddresses = [\"10.0.0.1:26379\"]\nmaster = \"m\"\n"
                          "[[pool]]\nname = \"default\"\nmaster = \"a\"\n"
                          "listen = \"127.0.0.1:2\"\n"),
               Contains("used twice"));
    CHECK_THAT(load_error("[admin]\nlisten = \"127.0.0.1:2\"\n" + base +
                          "[[pool]]\nname = \"a\"\nmaster = \"a\"\nlisten = \"127.0.0.1:2\"\n"),
               Contains("admin.listen") && Contains("pool \"a\""));
    // A pool with no sentinels of its own and none at the top level.
    CHECK_THAT(load_error("[[pool]]\nname = \"a\"\nmaster = \"a\"\nlisten = \"127.0.0.1:2\"\n"),
               Contains("no sentinel addresses"));
}

TEST_CASE("config pools: drain_timeout_ms and render_masked round trip", "[config][pools]") {
    Config c = load_toml(std::string(kTwoPools) + "", "pools.toml");
    CHECK(c.drain_timeout_ms == 5000);
    c = load_toml("[proxy]\ndrain_timeout_ms = 0\n", "x.toml", c);
    CHECK(c.drain_timeout_ms == 0);
    CHECK_THAT(load_error("[proxy]\ndrain_timeout_ms = 600001\n"), Contains("out of range"));
    std::string text = render_masked(c);
    CHECK_THAT(text, Contains("drain_timeout_ms = 0") && Contains("[[pool]]") &&
                         Contains("name = \"cache-reads\"") &&
                         Contains("read_from = \"prefer-replica\"") &&
                         Contains("sentinels = [\"10.0.0.9:26379\"]"));
    Config back = load_toml(text, "rendered.toml");
    CHECK(back.pools == c.pools);
    CHECK(back.drain_timeout_ms == 0);
}
