// config/: Kubernetes service-link variables (<SERVICE>_PORT=tcp://..., *_SERVICE_HOST, ...)
// that happen to start with SENTINEL_PROXY_ are ignored, while a typo of a real key is
// still an error.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/fields.h"
#include "config/service_link.h"

using namespace sp::config;
using Catch::Contains;

namespace {

Invocation invoke_env(const Environment& env) {
    std::vector<const char*> argv = {"sentinel-proxy", "--sentinel", "127.0.0.1:26379", "--master",
                                     "mymaster"};
    return parse_invocation(static_cast<int>(argv.size()), argv.data(), env);
}

std::string env_error(const Environment& env) {
    try {
        invoke_env(env);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("config: the metrics Service's link variable does not stop the proxy", "[config]") {
    // Exactly what a Service named sentinel-proxy-metrics injects into every pod.
    CHECK_NOTHROW(invoke_env({{"SENTINEL_PROXY_METRICS_PORT", "tcp://10.96.0.20:9121"}}));
}

TEST_CASE("config: every service-link variable shape is ignored", "[config]") {
    // Services "sentinel-proxy" and "sentinel-proxy-metrics", as Kubernetes spells them.
    Environment env = {
        {"SENTINEL_PROXY_SERVICE_HOST", "10.96.0.10"},
        {"SENTINEL_PROXY_SERVICE_PORT", "6379"},
        {"SENTINEL_PROXY_SERVICE_PORT_REDIS", "6379"},
        {"SENTINEL_PROXY_PORT", "tcp://10.96.0.10:6379"},
        {"SENTINEL_PROXY_PORT_6379_TCP", "tcp://10.96.0.10:6379"},
        {"SENTINEL_PROXY_PORT_6379_TCP_PROTO", "tcp"},
        {"SENTINEL_PROXY_PORT_6379_TCP_PORT", "6379"},
        {"SENTINEL_PROXY_PORT_6379_TCP_ADDR", "10.96.0.10"},
        {"SENTINEL_PROXY_METRICS_SERVICE_HOST", "fd00::20"},
        {"SENTINEL_PROXY_METRICS_SERVICE_PORT", "9121"},
        {"SENTINEL_PROXY_METRICS_SERVICE_PORT_METRICS", "9121"},
        {"SENTINEL_PROXY_METRICS_PORT", "tcp://[fd00::20]:9121"},
        {"SENTINEL_PROXY_METRICS_PORT_9121_TCP", "tcp://[fd00::20]:9121"},
        {"SENTINEL_PROXY_METRICS_PORT_9121_UDP_PROTO", "udp"},
        {"SENTINEL_PROXY_METRICS_PORT_9121_SCTP_PORT", "9121"},
        {"SENTINEL_PROXY_METRICS_PORT_9121_TCP_ADDR", "fd00::20"},
        {"SENTINEL_PROXY_LOG_LEVEL", "debug"},  // real keys still apply alongside
    };
    Config config = invoke_env(env).config;
    CHECK(config.log_level == "debug");
}

TEST_CASE("config: a variable is a service link only by both its name and its value", "[config]") {
    // The name has a service-link shape but the value does not: a mistake, reported.
    CHECK_THAT(env_error({{"SENTINEL_PROXY_ADMIN_PORT", "9121"}}),
               Contains("unknown environment variable SENTINEL_PROXY_ADMIN_PORT"));
    CHECK_THAT(env_error({{"SENTINEL_PROXY_METRICS_SERVICE_HOST", "not an ip"}}),
               Contains("SENTINEL_PROXY_METRICS_SERVICE_HOST"));
    CHECK_THAT(env_error({{"SENTINEL_PROXY_METRICS_SERVICE_PORT", "tcp://10.0.0.1:1"}}),
               Contains("SENTINEL_PROXY_METRICS_SERVICE_PORT"));
    CHECK_THAT(env_error({{"SENTINEL_PROXY_METRICS_PORT_9121_TCP_PROTO", "http"}}),
               Contains("SENTINEL_PROXY_METRICS_PORT_9121_TCP_PROTO"));
    // A link-shaped value under a name that is not a link shape.
    CHECK_THAT(env_error({{"SENTINEL_PROXY_METRICS_ADDR", "tcp://10.96.0.20:9121"}}),
               Contains("SENTINEL_PROXY_METRICS_ADDR"));
    // A real key with a link-shaped value is a real key: its value is checked as usual.
    CHECK_THAT(env_error({{"SENTINEL_PROXY_ADMIN_LISTEN", "tcp://10.96.0.20:9121"}}),
               Contains("SENTINEL_PROXY_ADMIN_LISTEN") && Contains("admin.listen"));
}

TEST_CASE("config: no key's environment name has a service-link shape", "[config]") {
    // Guards future keys: a key named like SENTINEL_PROXY_ADMIN_PORT would collide with the
    // link of a Service named sentinel-proxy-admin. Values that would pass as links:
    const std::vector<std::string> link_values = {"10.0.0.1", "6379", "tcp://10.0.0.1:6379",
                                                  "tcp",      "udp",  "sctp"};
    for (const auto& field : sp::config::detail::fields()) {
        const std::string name = sp::config::detail::env_name(field);
        for (const std::string& value : link_values) {
            INFO(name << "=" << value);
            CHECK_FALSE(sp::config::detail::is_service_link(name, value));
        }
    }
}
