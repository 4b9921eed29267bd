// config/settings_log: the startup line (every key, secrets masked) and the reload diff
// (applied vs deferred to a restart, secrets never printed).
#include <catch2/catch.hpp>
#include <string>

#include "config/config.h"

using namespace sp::config;
using Catch::Contains;

namespace {

Config from(const std::string& toml) {
    return load_toml(toml, "x.toml");
}

const char* kBase =
    "[proxy]\nlisten = [\"127.0.0.1:7001\"]\n[sentinel]\naddresses = [\"127.0.0.1:26379\"]\n"
    "master = \"m\"\npassword = \"hunter2\"\n";

}  // namespace

TEST_CASE("settings: the startup summary names every key and masks secrets", "[settings]") {
    std::string line = settings_summary(from(kBase));
    CHECK_THAT(line, Contains("proxy.listen=[\"127.0.0.1:7001\"]"));
    CHECK_THAT(line, Contains("sentinel.password=\"********\""));
    CHECK_THAT(line, Contains("limits.memory_budget=134217728"));
    CHECK_THAT(line, !Contains("hunter2"));
    CHECK(line.find('\n') == std::string::npos);
    std::string pools = settings_summary(
        from("[[pool]]\nname = \"c\"\nmaster = \"cm\"\nlisten = [\"127.0.0.1:7002\"]\n"));
    CHECK_THAT(pools, Contains("pool.c={master=cm listen=127.0.0.1:7002}"));
}

TEST_CASE("settings: a reload diff splits applied and deferred keys", "[settings]") {
    Config running = from(kBase);
    CHECK(diff_settings(running, running).line() == "nothing changed");
    Config next = from(std::string(kBase) +
                       "[timeouts]\nhold_window_ms = 3000\n[admin]\nlisten = \"127.0.0.1:9\"\n");
    next.sentinel_password = "hunter3";
    SettingsDiff d = diff_settings(running, next);
    REQUIRE(d.applied.size() == 2);
    CHECK(d.applied[0] == "sentinel.password (secret) changed");
    CHECK(d.applied[1] == "timeouts.hold_window_ms 10000 -> 3000");
    REQUIRE(d.deferred.size() == 1);
    CHECK(d.deferred[0] == "admin.listen \"\" -> \"127.0.0.1:9\"");
    CHECK_THAT(d.line(), !Contains("hunter"));
    CHECK_THAT(d.line(), Contains("; deferred to restart: admin.listen"));
}

TEST_CASE("settings: pools added, removed and changed", "[settings]") {
    Config running = from(
        "[[pool]]\nname = \"a\"\nmaster = \"am\"\nlisten = [\"127.0.0.1:7002\"]\n"
        "sentinels = [\"127.0.0.1:1\"]\n");
    Config next = from(
        "[[pool]]\nname = \"a\"\nmaster = \"am2\"\nlisten = [\"127.0.0.1:7002\"]\n"
        "sentinels = [\"127.0.0.1:2\"]\n"
        "[[pool]]\nname = \"b\"\nmaster = \"bm\"\nlisten = [\"127.0.0.1:7003\"]\n");
    SettingsDiff d = diff_settings(running, next);
    // a's sentinels apply now; its master waits for a restart, as does the new pool b.
    REQUIRE(d.applied.size() == 1);
    CHECK_THAT(d.applied[0], Contains("sentinels=127.0.0.1:2"));
    REQUIRE(d.deferred.size() == 2);
    CHECK_THAT(d.deferred[0], Contains("master=am2"));
    CHECK_THAT(d.deferred[1], Contains("new pool.b="));
    CHECK_THAT(diff_settings(next, running).line(), Contains("removed pool.b="));
}

TEST_CASE("settings: restart-only keys", "[settings]") {
    CHECK(applies_on_restart_only("admin.listen"));
    CHECK(applies_on_restart_only("log.format"));
    CHECK_FALSE(applies_on_restart_only("log.level"));
    CHECK_FALSE(applies_on_restart_only("timeouts.hold_window_ms"));
}
