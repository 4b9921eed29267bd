// config/: the shutdown keys' newest member, proxy.accept_grace_ms (keep accepting with
// /readyz 503 after SIGTERM), from every source, with its bounds and default.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "tests/unit/config_invocation.h"

using namespace sp::config;
using Catch::Contains;

TEST_CASE("config: proxy.accept_grace_ms from file, environment and flag", "[config]") {
    CHECK(Config{}.accept_grace_ms == 0);
    CHECK(load_toml("[proxy]\naccept_grace_ms = 5000\n", "x.toml").accept_grace_ms == 5000);
    CHECK(invoke_with({}, {{"SENTINEL_PROXY_PROXY_ACCEPT_GRACE_MS", "1500"}})
              .config.accept_grace_ms == 1500);
    CHECK(invoke_with({"--accept-grace-ms", "250"}).config.accept_grace_ms == 250);
    try {
        load_toml("[proxy]\naccept_grace_ms = 600001\n", "x.toml");
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK_THAT(e.what(), Contains("proxy.accept_grace_ms") && Contains("out of range"));
    }
    Config c;
    c.accept_grace_ms = 42;
    CHECK_THAT(render_masked(c), Contains("accept_grace_ms = 42"));
}
