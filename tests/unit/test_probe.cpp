// --probe: what it names (live, ready, a URL) and that it needs only admin.listen.
#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/admin/probe.h"

using namespace sp;

namespace {

config::Invocation invoke(std::vector<std::string> args, const config::Environment& env = {}) {
    args.insert(args.begin(), "sentinel-proxy");
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    return config::parse_invocation(static_cast<int>(argv.size()), argv.data(), env);
}

}  // namespace

TEST_CASE("probe: --probe alone is live and needs no sentinels or master", "[probe]") {
    auto inv = invoke({"--probe"}, {{"SENTINEL_PROXY_ADMIN_LISTEN", "0.0.0.0:9121"}});
    CHECK(inv.action == config::Action::probe);
    CHECK(inv.probe == "live");
    auto t = proxy::probe_target(inv.probe, inv.config.admin_listen);
    CHECK(t.host == "127.0.0.1");  // a wildcard listen address is probed on loopback
    CHECK(t.port == 9121);
    CHECK(t.path == "/livez");
    CHECK(invoke({"--probe", "ready", "--admin-listen", "[::]:9200"}).probe == "ready");
}

TEST_CASE("probe: ready on an IPv6 wildcard and on a named address", "[probe]") {
    auto t = proxy::probe_target("ready", config::parse_host_port("[::]:9200"));
    CHECK(t.host == "::1");
    CHECK(t.path == "/readyz");
    t = proxy::probe_target("live", config::parse_host_port("10.1.2.3:9121"));
    CHECK(t.host == "10.1.2.3");
}

TEST_CASE("probe: a URL names host, port and path", "[probe]") {
    auto t = proxy::probe_target("http://127.0.0.1:9300/readyz", std::nullopt);
    CHECK(t.host == "127.0.0.1");
    CHECK(t.port == 9300);
    CHECK(t.path == "/readyz");
    CHECK(proxy::probe_target("http://localhost:9300", std::nullopt).path == "/");
}

TEST_CASE("probe: wrong targets are refused with a reason", "[probe]") {
    using Catch::Contains;
    CHECK_THROWS_WITH(proxy::probe_target("live", std::nullopt), Contains("admin.listen"));
    CHECK_THROWS_WITH(proxy::probe_target("alive", config::parse_host_port("127.0.0.1:1")),
                      Contains("expected live, ready"));
    CHECK_THROWS_WITH(proxy::probe_target("https://127.0.0.1:1/", std::nullopt),
                      Contains("expected live, ready"));
    CHECK_THROWS_AS(proxy::probe_target("http://127.0.0.1/", std::nullopt),
                    std::invalid_argument);  // no port
}

TEST_CASE("probe: nothing listening is status 0 with the reason", "[probe]") {
    proxy::ProbeTarget t{"127.0.0.1", 1, "/livez"};
    std::string detail;
    CHECK(proxy::probe_http(t, 1000, detail) == 0);
    CHECK_THAT(detail, Catch::Contains("cannot connect"));
}
