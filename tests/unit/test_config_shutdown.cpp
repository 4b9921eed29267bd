// config/: the shutdown keys' newest member, proxy.accept_grace_ms (keep accepting with
// /readyz 503 after SIGTERM), from every source, with its bounds and default.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/config.h"

using namespace sp::config;
using Catch::Contains;

namespace {

Invocation invoke_with(std::vector<std::string> args, const Environment& env = {}) {
    args.insert(args.begin(), {"sentinel-proxy", "--sentinel", "127.0.0.1:26379", "--master", "m"});
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    return parse_invocation(static_cast<int>(argv.size()), argv.data(), env);
}

}  // namespace

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
