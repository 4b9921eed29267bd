// config/: TOML file < environment < flags, validation and error messages, render_masked.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "version.h"

using namespace sp::config;
using Catch::Contains;

namespace {

// A TOML file in the temporary directory, removed at the end of the test.
class TempFile {
  public:
    explicit TempFile(const std::string& text, const std::string& name = "proxy.toml") {
        static int counter = 0;
        dir_ = std::filesystem::temp_directory_path() /
               ("sp-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / name).string();
        std::ofstream(path_) << text;
    }
    ~TempFile() { std::filesystem::remove_all(dir_); }
    const std::string& path() const { return path_; }

  private:
    std::filesystem::path dir_;
    std::string path_;
};

Invocation invoke(std::vector<std::string> args, const Environment& env = {}) {
    args.insert(args.begin(), "sentinel-proxy");
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    return parse_invocation(static_cast<int>(argv.size()), argv.data(), env);
}

// The values "every key from TOML" and "every environment variable" both set: one per key,
// none of them a default.
void check_every_key_set(const Config& config) {
    CHECK(config.listen == std::vector<HostPort>{{"0.0.0.0", 7000}, {"::1", 7001}});
    CHECK(config.max_clients == 50);
    CHECK(config.close_subscribers_on_failover);
    CHECK(config.follow_promotion);
    CHECK(config.sentinels ==
          std::vector<HostPort>{{"10.0.0.1", 26379}, {"sentinel-0.sentinel", 26379}});
    CHECK(config.master_name == "mymaster");
    CHECK(config.sentinel_user == "sentinel-user");
    CHECK(config.sentinel_password == "sentinel-secret");
    CHECK(config.sentinel_poll_interval_ms == 250);
    CHECK(config.redis_user == "redis-user");
    CHECK(config.redis_password == "redis-secret");
    CHECK(config.client_password == "client-secret");
    CHECK(config.connect_timeout_ms == 1500);
    CHECK(config.command_timeout_ms == 30000);
    CHECK(config.hold_window_ms == 5000);
    CHECK(config.read_routing == ReadRouting::prefer_replica);
    CHECK(config.max_replica_lag_ms == 200);
    REQUIRE(config.admin_listen);
    CHECK(*config.admin_listen == HostPort{"127.0.0.1", 9121});
    CHECK(config.log_level == "debug");
    CHECK(config.log_format == LogFormat::json);
    CHECK(config.max_bulk_len == 1048576);
    CHECK(config.max_inline_len == 4096);
}

const std::vector<std::string> kRequiredFlags = {"--sentinel", "127.0.0.1:26379", "--master",
                                                 "mymaster"};

std::vector<std::string> with_required(std::vector<std::string> args) {
    args.insert(args.end(), kRequiredFlags.begin(), kRequiredFlags.end());
    return args;
}

std::string example_path() {
    return (std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "config" /
            "sentinel-proxy.example.toml")
        .string();
}

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Loads `text` as proxy.toml and returns the error message ("" if none).
std::string toml_error(const std::string& text) {
    try {
        load_toml(text, "proxy.toml");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

std::string invoke_error(std::vector<std::string> args, const Environment& env = {}) {
    try {
        invoke(std::move(args), env);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("config: defaults", "[config]") {
    Config config;
    CHECK(config.listen == std::vector<HostPort>{{"127.0.0.1", 6379}});
    CHECK(config.max_clients == 10000);
    CHECK_FALSE(config.close_subscribers_on_failover);
    CHECK_FALSE(config.follow_promotion);
    CHECK(config.sentinels.empty());
    CHECK(config.master_name.empty());
    CHECK(config.sentinel_poll_interval_ms == 1000);
    CHECK(config.connect_timeout_ms == 2000);
    CHECK(config.command_timeout_ms == 0);
    CHECK(config.hold_window_ms == 10000);
    CHECK(config.read_routing == ReadRouting::master);
    CHECK(config.max_replica_lag_ms == 1000);
    CHECK_FALSE(config.admin_listen);
    CHECK(config.log_level == "info");
    CHECK(config.log_format == LogFormat::text);
    CHECK(config.max_bulk_len == 512ull * 1024 * 1024);
    CHECK(config.max_inline_len == 64ull * 1024);

    // An empty file and no environment change nothing.
    Config loaded = load_toml("", "empty.toml");
    CHECK(render_masked(loaded) == render_masked(config));

    Invocation invocation = invoke(kRequiredFlags);
    CHECK(invocation.action == Action::run);
    CHECK(invocation.config.listen == config.listen);
    CHECK(invocation.config.hold_window_ms == config.hold_window_ms);
    CHECK_FALSE(invocation.config.config_file);
}

TEST_CASE("config: host:port parsing", "[config]") {
    CHECK(parse_host_port("127.0.0.1:6379") == HostPort{"127.0.0.1", 6379});
    CHECK(parse_host_port("sentinel-0.sentinel:26379") == HostPort{"sentinel-0.sentinel", 26379});
    CHECK(parse_host_port("[::1]:6379") == HostPort{"::1", 6379});
    CHECK(parse_host_port("[::1]:6379").str() == "[::1]:6379");
    CHECK(parse_host_port("localhost:65535").port == 65535);
    CHECK(HostPort{"redis", 1}.str() == "redis:1");

    for (const char* bad : {"", "localhost", "localhost:", ":6379", "localhost:0", "host:65536",
                            "host:99999999", "host:12a", "host:-1", "::1:6379", "[::1]6379", "[::1",
                            "[nothex]:1", "ho st:1", "host:+1"}) {
        INFO(bad);
        CHECK_THROWS_AS(parse_host_port(bad), std::invalid_argument);
    }
    CHECK_THROWS_WITH(parse_host_port("localhost:0"), Contains("localhost:0") && Contains("port"));
}

TEST_CASE("config: every key from TOML", "[config]") {
    Config config = load_toml(R"(
[proxy]
listen = ["0.0.0.0:7000", "[::1]:7001"]
max_clients = 50
close_subscribers_on_failover = true

[sentinel]
addresses = ["10.0.0.1:26379", "sentinel-0.sentinel:26379"]
master = "mymaster"
user = "sentinel-user"
password = "sentinel-secret"
poll_interval_ms = 250

[redis]
user = "redis-user"
password = "redis-secret"

[client]
password = "client-secret"

[timeouts]
connect_ms = 1500
command_ms = 30000
hold_window_ms = 5000

[failover]
follow_promotion = true

[routing]
read_from = "replica-preferred"
max_replica_lag_ms = 200

[admin]
listen = "127.0.0.1:9121"

[log]
level = "debug"
format = "json"

[limits]
max_bulk_len = 1048576
max_inline_len = 4096
)",
                              "all.toml");
    check_every_key_set(config);
}

TEST_CASE("config: TOML details", "[config]") {
    SECTION("a single string is a list of one") {
        Config config = load_toml("[proxy]\nlisten = \"0.0.0.0:6380\"\n", "p.toml");
        CHECK(config.listen == std::vector<HostPort>{{"0.0.0.0", 6380}});
    }
    SECTION("an empty admin.listen disables the admin endpoint") {
        Config base;
        base.admin_listen = HostPort{"127.0.0.1", 9121};
        CHECK_FALSE(load_toml("[admin]\nlisten = \"\"\n", "p.toml", base).admin_listen);
    }
    SECTION("load_toml starts from the base and keeps keys the file does not set") {
        Config base;
        base.master_name = "from-base";
        base.hold_window_ms = 1;
        Config config = load_toml("[timeouts]\nhold_window_ms = 7\n", "p.toml", base);
        CHECK(config.master_name == "from-base");
        CHECK(config.hold_window_ms == 7);
    }
    SECTION("inline tables and dotted keys are ordinary keys") {
        Config config =
            load_toml("timeouts = { hold_window_ms = 3 }\nlog.level = \"warn\"\n", "p.toml");
        CHECK(config.hold_window_ms == 3);
        CHECK(config.log_level == "warn");
    }
    SECTION("bounds are inclusive") {
        CHECK(load_toml("[timeouts]\nhold_window_ms = 600000\n", "p.toml").hold_window_ms ==
              600000);
        CHECK(load_toml("[timeouts]\nhold_window_ms = 0\n", "p.toml").hold_window_ms == 0);
        CHECK(
            load_toml("[sentinel]\npoll_interval_ms = 50\n", "p.toml").sentinel_poll_interval_ms ==
            50);
    }
}

TEST_CASE("config: read_from values and the replica-preferred alias", "[config]") {
    auto read_from = [](const char* value) {
        return load_toml(std::string("[routing]\nread_from = \"") + value + "\"\n", "p.toml")
            .read_routing;
    };
    CHECK(read_from("master") == ReadRouting::master);
    CHECK(read_from("replica") == ReadRouting::replica);
    CHECK(read_from("prefer-replica") == ReadRouting::prefer_replica);
    CHECK(read_from("replica-preferred") == ReadRouting::prefer_replica);
    CHECK(std::string(read_routing_name(ReadRouting::master)) == "master");
    CHECK(std::string(read_routing_name(ReadRouting::replica)) == "replica");
    CHECK(std::string(read_routing_name(ReadRouting::prefer_replica)) == "prefer-replica");
    // The alias renders under its canonical name, and that loads back.
    Config c;
    c.read_routing = ReadRouting::replica;
    CHECK_THAT(render_masked(c), Contains("read_from = \"replica\""));
    CHECK(load_toml(render_masked(c), "r").read_routing == ReadRouting::replica);
}

TEST_CASE("config: precedence file < environment < flags", "[config]") {
    TempFile file(R"([sentinel]
addresses = ["file-a:26379", "file-b:26379"]
master = "file-master"
[timeouts]
hold_window_ms = 1111
connect_ms = 2222
[proxy]
listen = ["127.0.0.1:7000"]
[log]
level = "debug"
)");
    const std::vector<std::string> config_flag = {"--config", file.path()};

    SECTION("the file alone") {
        Config config = invoke(config_flag).config;
        CHECK(config.sentinels == std::vector<HostPort>{{"file-a", 26379}, {"file-b", 26379}});
        CHECK(config.master_name == "file-master");
        CHECK(config.hold_window_ms == 1111);
        CHECK(config.listen == std::vector<HostPort>{{"127.0.0.1", 7000}});
        REQUIRE(config.config_file);
        CHECK(*config.config_file == file.path());
    }
    SECTION("the environment overrides the file, scalars and lists") {
        Environment env = {{"SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS", "3333"},
                           {"SENTINEL_PROXY_SENTINEL_ADDRESSES", "env-a:26379, env-b:26380"},
                           {"SENTINEL_PROXY_SENTINEL_MASTER", "env-master"}};
        Config config = invoke(config_flag, env).config;
        CHECK(config.hold_window_ms == 3333);
        CHECK(config.connect_timeout_ms == 2222);  // only in the file
        CHECK(config.sentinels == std::vector<HostPort>{{"env-a", 26379}, {"env-b", 26380}});
        CHECK(config.master_name == "env-master");
        CHECK(config.log_level == "debug");
    }
    SECTION("flags override the environment and the file, scalars and lists") {
        Environment env = {{"SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS", "3333"},
                           {"SENTINEL_PROXY_SENTINEL_ADDRESSES", "env-a:26379"},
                           {"SENTINEL_PROXY_PROXY_LISTEN", "127.0.0.1:7001"},
                           {"SENTINEL_PROXY_LOG_LEVEL", "warn"}};
        std::vector<std::string> args = config_flag;
        args.insert(args.end(),
                    {"--hold-window-ms", "4444", "--sentinel", "flag-a:1", "--sentinel", "flag-b:2",
                     "--listen", "0.0.0.0:6380", "--master", "flag-master"});
        Config config = invoke(args, env).config;
        CHECK(config.hold_window_ms == 4444);
        CHECK(config.sentinels == std::vector<HostPort>{{"flag-a", 1}, {"flag-b", 2}});
        CHECK(config.listen == std::vector<HostPort>{{"0.0.0.0", 6380}});
        CHECK(config.master_name == "flag-master");
        CHECK(config.log_level == "warn");         // environment over file
        CHECK(config.connect_timeout_ms == 2222);  // file
    }
    SECTION("SENTINEL_PROXY_CONFIG names the file when --config is absent") {
        Config config = invoke({}, {{"SENTINEL_PROXY_CONFIG", file.path()}}).config;
        CHECK(config.master_name == "file-master");
    }
    SECTION("--config wins over SENTINEL_PROXY_CONFIG") {
        Config config =
            invoke(config_flag, {{"SENTINEL_PROXY_CONFIG", "/nonexistent/x.toml"}}).config;
        CHECK(config.master_name == "file-master");
    }
}

TEST_CASE("config: runs with no file, repeatable --sentinel", "[config]") {
    Invocation invocation = invoke({"--listen", "127.0.0.1:6379", "--sentinel", "127.0.0.1:26379",
                                    "--sentinel", "127.0.0.1:26380", "--master", "mymaster"});
    CHECK(invocation.action == Action::run);
    CHECK(invocation.config.sentinels ==
          std::vector<HostPort>{{"127.0.0.1", 26379}, {"127.0.0.1", 26380}});
    CHECK(invocation.config.listen == std::vector<HostPort>{{"127.0.0.1", 6379}});
    CHECK(invocation.config.master_name == "mymaster");

    SECTION("--flag=value and comma-separated lists") {
        Config config = invoke({"--sentinel=a:1,b:2", "--sentinel", "c:3", "--master=m",
                                "--listen=[::1]:6379", "--listen", "0.0.0.0:6380"})
                            .config;
        CHECK(config.sentinels == std::vector<HostPort>{{"a", 1}, {"b", 2}, {"c", 3}});
        CHECK(config.listen == std::vector<HostPort>{{"::1", 6379}, {"0.0.0.0", 6380}});
    }
}

TEST_CASE("config: every flag", "[config]") {
    Config config = invoke({"--listen",
                            "0.0.0.0:7000",
                            "--sentinel",
                            "s:26379",
                            "--master",
                            "m",
                            "--admin-listen",
                            "127.0.0.1:9121",
                            "--log-level",
                            "error",
                            "--log-format",
                            "json",
                            "--sentinel-user",
                            "su",
                            "--sentinel-password",
                            "sp",
                            "--redis-user",
                            "ru",
                            "--redis-password",
                            "rp",
                            "--client-password",
                            "cp",
                            "--hold-window-ms",
                            "1",
                            "--connect-timeout-ms",
                            "20",
                            "--command-timeout-ms",
                            "3",
                            "--poll-interval-ms",
                            "400",
                            "--read-from",
                            "replica-preferred",
                            "--max-replica-lag-ms",
                            "250",
                            "--max-clients",
                            "5",
                            "--close-subscribers-on-failover",
                            "--follow-promotion"})
                        .config;
    CHECK(config.max_replica_lag_ms == 250);
    CHECK(config.listen == std::vector<HostPort>{{"0.0.0.0", 7000}});
    CHECK(config.sentinels == std::vector<HostPort>{{"s", 26379}});
    CHECK(config.master_name == "m");
    REQUIRE(config.admin_listen);
    CHECK(config.admin_listen->str() == "127.0.0.1:9121");
    CHECK(config.log_level == "error");
    CHECK(config.log_format == LogFormat::json);
    CHECK(config.sentinel_user == "su");
    CHECK(config.sentinel_password == "sp");
    CHECK(config.redis_user == "ru");
    CHECK(config.redis_password == "rp");
    CHECK(config.client_password == "cp");
    CHECK(config.hold_window_ms == 1);
    CHECK(config.connect_timeout_ms == 20);
    CHECK(config.command_timeout_ms == 3);
    CHECK(config.sentinel_poll_interval_ms == 400);
    CHECK(config.read_routing == ReadRouting::prefer_replica);
    CHECK(config.max_clients == 5);
    CHECK(config.close_subscribers_on_failover);
    CHECK(config.follow_promotion);
}

TEST_CASE("config: every environment variable", "[config]") {
    Environment env = {
        {"SENTINEL_PROXY_PROXY_LISTEN", "0.0.0.0:7000,[::1]:7001"},
        {"SENTINEL_PROXY_PROXY_MAX_CLIENTS", "50"},
        {"SENTINEL_PROXY_PROXY_CLOSE_SUBSCRIBERS_ON_FAILOVER", "true"},
        {"SENTINEL_PROXY_SENTINEL_ADDRESSES", "10.0.0.1:26379,sentinel-0.sentinel:26379"},
        {"SENTINEL_PROXY_SENTINEL_MASTER", "mymaster"},
        {"SENTINEL_PROXY_SENTINEL_USER", "sentinel-user"},
        {"SENTINEL_PROXY_SENTINEL_PASSWORD", "sentinel-secret"},
        {"SENTINEL_PROXY_SENTINEL_POLL_INTERVAL_MS", "250"},
        {"SENTINEL_PROXY_REDIS_USER", "redis-user"},
        {"SENTINEL_PROXY_REDIS_PASSWORD", "redis-secret"},
        {"SENTINEL_PROXY_CLIENT_PASSWORD", "client-secret"},
        {"SENTINEL_PROXY_TIMEOUTS_CONNECT_MS", "1500"},
        {"SENTINEL_PROXY_TIMEOUTS_COMMAND_MS", "30000"},
        {"SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS", "5000"},
        {"SENTINEL_PROXY_FAILOVER_FOLLOW_PROMOTION", "true"},
        {"SENTINEL_PROXY_ROUTING_READ_FROM", "replica-preferred"},
        {"SENTINEL_PROXY_ROUTING_MAX_REPLICA_LAG_MS", "200"},
        {"SENTINEL_PROXY_ADMIN_LISTEN", "127.0.0.1:9121"},
        {"SENTINEL_PROXY_LOG_LEVEL", "debug"},
        {"SENTINEL_PROXY_LOG_FORMAT", "json"},
        {"SENTINEL_PROXY_LIMITS_MAX_BULK_LEN", "1048576"},
        {"SENTINEL_PROXY_LIMITS_MAX_INLINE_LEN", "4096"},
    };
    Config config = invoke({}, env).config;
    check_every_key_set(config);
}

TEST_CASE("config: current_environment collects SENTINEL_PROXY_* only", "[config]") {
    ::setenv("SENTINEL_PROXY_TEST_ONLY_VARIABLE", "a=b", 1);
    Environment env = current_environment();
    ::unsetenv("SENTINEL_PROXY_TEST_ONLY_VARIABLE");
    REQUIRE(env.count("SENTINEL_PROXY_TEST_ONLY_VARIABLE") == 1);
    CHECK(env["SENTINEL_PROXY_TEST_ONLY_VARIABLE"] == "a=b");
    for (const auto& [name, value] : env) CHECK(name.rfind("SENTINEL_PROXY_", 0) == 0);
}

TEST_CASE("config: TOML errors name the file, the line and the key", "[config]") {
    SECTION("unknown key") {
        std::string error = toml_error("[proxy]\nlisten = \"127.0.0.1:1\"\nlistn = \"x:1\"\n");
        CHECK_THAT(error, Contains("proxy.toml:3:") && Contains("proxy.listn") &&
                              Contains("unknown key") && Contains("did you mean proxy.listen"));
    }
    SECTION("unknown table") {
        std::string error = toml_error("\n[timeout]\nhold_window_ms = 1\n");
        CHECK_THAT(error, Contains("proxy.toml:2:") && Contains("[timeout]") &&
                              Contains("unknown section") && Contains("timeouts"));
    }
    SECTION("unknown nested table") {
        std::string error = toml_error("[proxy.extra]\nx = 1\n");
        CHECK_THAT(error, Contains("proxy.toml:1:") && Contains("proxy.extra"));
    }
    SECTION("key outside any section") {
        std::string error = toml_error("master = \"m\"\n");
        CHECK_THAT(error,
                   Contains("proxy.toml:1:") && Contains("master") && Contains("sentinel.master"));
    }
    SECTION("a section that is not a table") {
        CHECK_THAT(toml_error("proxy = 1\n"),
                   Contains("proxy.toml:1:") && Contains("proxy: expected a table"));
    }
    SECTION("wrong type") {
        std::string error =
            toml_error("[timeouts]\nconnect_ms = 10\n\n\n\n\nhold_window_ms = \"10s\"\n");
        CHECK(error ==
              "proxy.toml:7: timeouts.hold_window_ms: expected a non-negative integer, got "
              "string");
        CHECK_THAT(
            toml_error("[proxy]\nclose_subscribers_on_failover = \"yes\"\n"),
            Contains("proxy.toml:2:") && Contains("expected a boolean") && Contains("got string"));
        CHECK_THAT(toml_error("[sentinel]\nmaster = 5\n"),
                   Contains("proxy.toml:2: sentinel.master: expected a string, got integer"));
        CHECK_THAT(toml_error("[timeouts]\nconnect_ms = 1.5\n"),
                   Contains("timeouts.connect_ms") && Contains("got float"));
        CHECK_THAT(toml_error("[proxy]\nlisten = 6379\n"),
                   Contains("proxy.toml:2: proxy.listen: expected an array"));
        CHECK_THAT(toml_error("[sentinel]\naddresses = [\n  \"a:1\",\n  26379,\n]\n"),
                   Contains("proxy.toml:4: sentinel.addresses[1]: expected a \"host:port\" "
                            "string, got integer"));
    }
    SECTION("bad port") {
        CHECK_THAT(toml_error("[proxy]\nlisten = [\"127.0.0.1:0\"]\n"),
                   Contains("proxy.toml:2: proxy.listen[0]:") && Contains("port"));
        CHECK_THAT(toml_error("[admin]\nlisten = \"127.0.0.1:65536\"\n"),
                   Contains("proxy.toml:2: admin.listen:") && Contains("port"));
    }
    SECTION("malformed host:port") {
        CHECK_THAT(toml_error("[sentinel]\naddresses = [\"10.0.0.1\"]\n"),
                   Contains("proxy.toml:2: sentinel.addresses[0]:") && Contains("10.0.0.1") &&
                       Contains("missing port"));
        CHECK_THAT(toml_error("[sentinel]\naddresses = \"::1:26379\"\n"),
                   Contains("proxy.toml:2: sentinel.addresses:") && Contains("bracketed"));
    }
    SECTION("bad enum") {
        CHECK_THAT(toml_error("[routing]\nread_from = \"replicas\"\n"),
                   Contains("proxy.toml:2: routing.read_from:") && Contains("\"replicas\"") &&
                       Contains("prefer-replica") && Contains("replica-preferred"));
        CHECK_THAT(toml_error("[log]\nlevel = \"verbose\"\n"),
                   Contains("proxy.toml:2: log.level:") && Contains("verbose"));
        CHECK_THAT(toml_error("[log]\nformat = \"xml\"\n"),
                   Contains("proxy.toml:2: log.format:") && Contains("xml"));
    }
    SECTION("out of range") {
        CHECK(toml_error("[timeouts]\nhold_window_ms = -1\n") ==
              "proxy.toml:2: timeouts.hold_window_ms: -1 is out of range (0..600000)");
        CHECK_THAT(toml_error("[timeouts]\nhold_window_ms = 600001\n"),
                   Contains("proxy.toml:2:") && Contains("out of range"));
        CHECK_THAT(toml_error("[proxy]\nmax_clients = 4294967296\n"),
                   Contains("proxy.toml:2: proxy.max_clients:") && Contains("out of range"));
        CHECK_THAT(toml_error("[sentinel]\npoll_interval_ms = 49\n"),
                   Contains("sentinel.poll_interval_ms") && Contains("out of range (50..60000)"));
        CHECK_THAT(toml_error("[limits]\nmax_bulk_len = -5\n"),
                   Contains("limits.max_bulk_len") && Contains("out of range"));
        CHECK_THAT(toml_error("[proxy]\nmax_clients = 0\n"), Contains("out of range"));
    }
    SECTION("empty or duplicate lists") {
        CHECK_THAT(toml_error("[proxy]\nlisten = []\n"),
                   Contains("proxy.toml:2: proxy.listen:") && Contains("at least one"));
        CHECK_THAT(toml_error("[sentinel]\naddresses = [\"a:1\", \"a:1\"]\n"),
                   Contains("proxy.toml:2: sentinel.addresses:") && Contains("duplicate"));
        CHECK(load_toml("[sentinel]\naddresses = []\n", "p.toml").sentinels.empty());
    }
    SECTION("master name with whitespace") {
        CHECK_THAT(toml_error("[sentinel]\nmaster = \"my master\"\n"),
                   Contains("proxy.toml:2: sentinel.master:") && Contains("whitespace"));
    }
    SECTION("syntax error with line and column") {
        std::string error = toml_error("[proxy]\nmax_clients = 10\nlisten = [\"a:1\"\n");
        CHECK_THAT(error, Contains("proxy.toml:") && Contains("TOML syntax error"));
        CHECK_THAT(toml_error("[proxy]\n\nmax_clients = = 3\n"),
                   Contains("proxy.toml:3:") && Contains("TOML syntax error"));
        CHECK_THAT(toml_error("[proxy]\nmax_clients = 1\nmax_clients = 2\n"),
                   Contains("proxy.toml:3:") && Contains("TOML syntax error"));
    }
    SECTION("secrets are never echoed") {
        CHECK_THAT(toml_error("[redis]\npassword = 12345678\n"),
                   Contains("redis.password: expected a string, got integer"));
    }
}

TEST_CASE("config: errors through parse_invocation", "[config]") {
    SECTION("errors in the file name the file given") {
        TempFile file("[timeouts]\nhold_window_ms = \"x\"\n", "bad.toml");
        CHECK_THAT(invoke_error(with_required({"--config", file.path()})),
                   Contains(file.path() + ":2: timeouts.hold_window_ms"));
    }
    SECTION("missing file") {
        CHECK_THAT(invoke_error(with_required({"--config", "/nonexistent/proxy.toml"})),
                   Contains("/nonexistent/proxy.toml") && Contains("cannot read"));
        CHECK_THAT(invoke_error(kRequiredFlags, {{"SENTINEL_PROXY_CONFIG", "/nonexistent/e.toml"}}),
                   Contains("/nonexistent/e.toml"));
    }
    SECTION("empty file name") {
        CHECK_THAT(invoke_error(with_required({"--config", ""})), Contains("--config"));
        CHECK_THAT(invoke_error(kRequiredFlags, {{"SENTINEL_PROXY_CONFIG", ""}}),
                   Contains("SENTINEL_PROXY_CONFIG"));
    }
    SECTION("unknown environment variable") {
        std::string error =
            invoke_error(kRequiredFlags, {{"SENTINEL_PROXY_SENTINEL_ADRESSES", "a:1"}});
        CHECK_THAT(error, Contains("SENTINEL_PROXY_SENTINEL_ADRESSES") &&
                              Contains("unknown environment variable") &&
                              Contains("SENTINEL_PROXY_SENTINEL_ADDRESSES"));
        CHECK_THAT(invoke_error(kRequiredFlags, {{"SENTINEL_PROXY_BOGUS", ""}}),
                   Contains("SENTINEL_PROXY_BOGUS"));
    }
    SECTION("bad environment values name the variable and the key") {
        CHECK_THAT(
            invoke_error(kRequiredFlags, {{"SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS", "10s"}}),
            Contains("SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS") &&
                Contains("timeouts.hold_window_ms") && Contains("non-negative integer"));
        CHECK_THAT(invoke_error(kRequiredFlags, {{"SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS", "-1"}}),
                   Contains("SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS"));
        CHECK_THAT(invoke_error(kRequiredFlags, {{"SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS",
                                                  "99999999999999999999999"}}),
                   Contains("out of range"));
        CHECK_THAT(
            invoke_error({"--master", "m"}, {{"SENTINEL_PROXY_SENTINEL_ADDRESSES", "a:1,b"}}),
            Contains("SENTINEL_PROXY_SENTINEL_ADDRESSES") && Contains("\"b\""));
        CHECK_THAT(invoke_error(kRequiredFlags, {{"SENTINEL_PROXY_PROXY_LISTEN", ""}}),
                   Contains("SENTINEL_PROXY_PROXY_LISTEN") && Contains("at least one"));
        CHECK_THAT(invoke_error(kRequiredFlags,
                                {{"SENTINEL_PROXY_PROXY_CLOSE_SUBSCRIBERS_ON_FAILOVER", "maybe"}}),
                   Contains("expected a boolean"));
        CHECK_THAT(invoke_error(kRequiredFlags, {{"SENTINEL_PROXY_LOG_LEVEL", "loud"}}),
                   Contains("SENTINEL_PROXY_LOG_LEVEL") && Contains("log.level"));
    }
    SECTION("unknown flag") {
        CHECK_THAT(invoke_error(with_required({"--hold-window", "5"})), Contains("--hold-window"));
        CHECK_THAT(invoke_error(with_required({"stray"})), Contains("stray"));
    }
    SECTION("bad flag values name the flag and the key") {
        CHECK_THAT(invoke_error(with_required({"--hold-window-ms", "abc"})),
                   Contains("--hold-window-ms") && Contains("timeouts.hold_window_ms") &&
                       Contains("\"abc\""));
        CHECK_THAT(invoke_error(with_required({"--hold-window-ms", "0x10"})),
                   Contains("--hold-window-ms"));
        CHECK_THAT(invoke_error(with_required({"--max-clients", "-1"})), Contains("--max-clients"));
        CHECK_THAT(invoke_error(with_required({"--listen", "localhost:0"})),
                   Contains("--listen") && Contains("port"));
        CHECK_THAT(invoke_error({"--sentinel", "nope", "--master", "m"}),
                   Contains("--sentinel") && Contains("nope"));
        CHECK_THAT(invoke_error(with_required({"--read-from", "replicas"})),
                   Contains("--read-from") && Contains("replicas"));
        CHECK_THAT(invoke_error(with_required({"--log-format", "xml"})), Contains("--log-format"));
        CHECK_THAT(invoke_error({"--sentinel", "a:1", "--master"}), Contains("--master"));
    }
    SECTION("missing sentinels or master") {
        CHECK(invoke_error({"--master", "m"}) ==
              "no sentinel addresses configured (sentinel.addresses / "
              "SENTINEL_PROXY_SENTINEL_ADDRESSES / --sentinel)");
        CHECK_THAT(invoke_error({"--sentinel", "a:1"}),
                   Contains("no master name configured") && Contains("--master"));
        CHECK_THAT(invoke_error({"--check-config"}), Contains("no sentinel addresses"));
        CHECK_THAT(invoke_error({}), Contains("no sentinel addresses"));
    }
    SECTION("admin.listen must differ from proxy.listen") {
        CHECK_THAT(invoke_error(with_required({"--admin-listen", "127.0.0.1:6379"})),
                   Contains("admin.listen"));
    }
}

TEST_CASE("config: help, version and check-config", "[config]") {
    SECTION("--help, -h") {
        for (const char* flag : {"--help", "-h"}) {
            Invocation invocation = invoke({flag});
            CHECK(invocation.action == Action::help);
            for (const char* name : {"--config",
                                     "--check-config",
                                     "--listen",
                                     "--sentinel",
                                     "--master",
                                     "--admin-listen",
                                     "--log-level",
                                     "--log-format",
                                     "--sentinel-user",
                                     "--sentinel-password",
                                     "--redis-user",
                                     "--redis-password",
                                     "--client-password",
                                     "--hold-window-ms",
                                     "--connect-timeout-ms",
                                     "--command-timeout-ms",
                                     "--poll-interval-ms",
                                     "--read-from",
                                     "--max-clients",
                                     "--close-subscribers-on-failover",
                                     "--version",
                                     "SENTINEL_PROXY_"}) {
                CHECK_THAT(invocation.text, Contains(name));
            }
        }
        // Help wins over a configuration that would not validate.
        CHECK(invoke({"--help"}, {{"SENTINEL_PROXY_BOGUS", "1"}}).action == Action::help);
    }
    SECTION("--help shows each flag's default, never a secret") {
        const std::string help = invoke({"--help"}).text;
        // The help entry of a flag: from its name to the next flag.
        auto entry = [&](const std::string& flag) {
            std::size_t at = help.find("  " + flag + " ");
            if (at == std::string::npos) at = help.find("  " + flag + "\n");
            REQUIRE(at != std::string::npos);
            return help.substr(at, help.find("\n  --", at + 1) - at);
        };
        const std::pair<const char*, const char*> shown[] = {
            {"--hold-window-ms", "10000"},    {"--max-clients", "10000"},
            {"--connect-timeout-ms", "2000"}, {"--command-timeout-ms", "0"},
            {"--poll-interval-ms", "1000"},   {"--log-level", "info"},
            {"--log-format", "text"},         {"--read-from", "master"},
            {"--listen", "127.0.0.1:6379"},   {"--shared-links", "1"},
            {"--memory-budget", "134217728"}, {"--close-subscribers-on-failover", "re-subscribe"}};
        for (const auto& [flag, value] : shown)
            CHECK_THAT(entry(flag), Contains(std::string("(default: ") + value + ")"));
        // Never a secret's value, and nothing for what has no default.
        for (const char* flag : {"--sentinel-password", "--redis-password", "--client-password",
                                 "--master", "--sentinel", "--admin-listen"})
            CHECK_THAT(entry(flag), !Contains("default"));
        // What --help shows is the key's real default, not a copy that could drift.
        CHECK_THAT(entry("--hold-window-ms"),
                   Contains("(default: " + std::to_string(Config{}.hold_window_ms) + ")"));
    }
    SECTION("--version") {
        Invocation invocation = invoke({"--version"});
        CHECK(invocation.action == Action::version);
        CHECK(invocation.text == std::string("sentinel-proxy ") + SENTINEL_PROXY_VERSION + "\n");
    }
    SECTION("--check-config prints the effective configuration, masked") {
        Invocation invocation = invoke(with_required(
            {"--check-config", "--redis-password", "hunter2", "--hold-window-ms", "1234"}));
        CHECK(invocation.action == Action::check_config);
        CHECK(invocation.text == render_masked(invocation.config));
        CHECK_THAT(invocation.text, Contains("hold_window_ms = 1234"));
        CHECK_THAT(invocation.text, !Contains("hunter2"));
        CHECK(load_toml(invocation.text, "check").hold_window_ms == 1234);
    }
}

TEST_CASE("config: render_masked", "[config]") {
    Config config;
    config.listen = {{"0.0.0.0", 6379}, {"::1", 6380}};
    config.sentinels = {{"sentinel-0.sentinel", 26379}, {"10.0.0.2", 26379}};
    config.master_name = "mymaster";
    config.sentinel_user = "watcher";
    config.sentinel_password = "sentinel-secret";
    config.redis_user = "proxy";
    config.redis_password = "redis-secret";
    config.client_password = "client \"secret\"\\";
    config.hold_window_ms = 4321;
    config.read_routing = ReadRouting::prefer_replica;
    config.admin_listen = HostPort{"127.0.0.1", 9121};
    config.log_format = LogFormat::json;
    config.log_level = "warn";
    config.max_bulk_len = 4294967296ull;
    config.close_subscribers_on_failover = true;
    config.follow_promotion = true;

    std::string text = render_masked(config);
    SECTION("secrets are masked, everything else is shown") {
        CHECK_THAT(text, !Contains("sentinel-secret") && !Contains("redis-secret") &&
                             !Contains("client \\\"secret"));
        CHECK_THAT(text, Contains("password = \"********\""));
        CHECK_THAT(text, Contains("user = \"watcher\"") && Contains("user = \"proxy\""));
        CHECK_THAT(text, Contains("listen = [\"0.0.0.0:6379\", \"[::1]:6380\"]"));
        CHECK_THAT(text, Contains("hold_window_ms = 4321"));
    }
    SECTION("empty secrets stay empty") {
        Config empty;
        CHECK_THAT(render_masked(empty), Contains("password = \"\"") && !Contains("********"));
    }
    SECTION("round-trips through load_toml") {
        Config loaded = load_toml(text, "rendered");
        CHECK(loaded.listen == config.listen);
        CHECK(loaded.sentinels == config.sentinels);
        CHECK(loaded.master_name == config.master_name);
        CHECK(loaded.sentinel_user == config.sentinel_user);
        CHECK(loaded.sentinel_password == "********");
        CHECK(loaded.redis_password == "********");
        CHECK(loaded.client_password == "********");
        CHECK(loaded.hold_window_ms == config.hold_window_ms);
        CHECK(loaded.read_routing == config.read_routing);
        CHECK(loaded.admin_listen == config.admin_listen);
        CHECK(loaded.log_format == config.log_format);
        CHECK(loaded.log_level == config.log_level);
        CHECK(loaded.max_bulk_len == config.max_bulk_len);
        CHECK(loaded.close_subscribers_on_failover);
        CHECK(loaded.follow_promotion);
        // Rendering again gives the same text: nothing was lost.
        CHECK(render_masked(loaded) == text);

        Config defaults;
        CHECK(render_masked(load_toml(render_masked(defaults), "defaults")) ==
              render_masked(defaults));
    }
}

TEST_CASE("config: the example file loads and documents the defaults", "[config]") {
    const std::string path = example_path();
    Config config = load_toml(read_all(path), path);
    CHECK_FALSE(config.sentinels.empty());
    CHECK(config.master_name == "mymaster");
    CHECK_NOTHROW(validate(config));

    // Apart from the required keys, every value in the example is the default.
    Config defaults;
    config.sentinels = defaults.sentinels;
    config.master_name = defaults.master_name;
    CHECK(render_masked(config) == render_masked(defaults));

    // And it works end to end with --check-config.
    Invocation invocation = invoke({"--config", path, "--check-config"});
    CHECK(invocation.action == Action::check_config);
}

TEST_CASE("config: *.password_file reads each password from its file, without the newline",
          "[config][password_file]") {
    TempFile redis("redis-pw\n", "redis");
    TempFile sentinel("sentinel-pw\r\n", "sentinel");
    TempFile client("client-pw", "client");
    TempFile toml("[redis]\npassword_file = \"" + redis.path() + "\"\n");
    Invocation inv = invoke(with_required({"--config", toml.path()}),
                            {{"SENTINEL_PROXY_SENTINEL_PASSWORD_FILE", sentinel.path()}});
    CHECK(inv.config.redis_password == "redis-pw");
    CHECK(inv.config.sentinel_password == "sentinel-pw");
    inv = invoke(with_required({"--client-password-file", client.path()}));
    CHECK(inv.config.client_password == "client-pw");
    // Read again by each invocation: a SIGHUP re-runs it and sees the new content.
    std::ofstream(redis.path()) << "rotated\n";
    CHECK(invoke(with_required({"--config", toml.path()})).config.redis_password == "rotated");
}

TEST_CASE("config: a password and its file both set, or a bad file, is an error naming them",
          "[config][password_file]") {
    TempFile file("pw\n", "pw");
    CHECK_THAT(invoke_error(
                   with_required({"--redis-password", "x", "--redis-password-file", file.path()})),
               Contains("redis.password and redis.password_file are both set"));
    CHECK_THAT(invoke_error(with_required({"--sentinel-password-file", "/nonexistent/pw"})),
               Contains("sentinel.password_file: cannot read /nonexistent/pw"));
    TempFile empty("\n", "empty");
    CHECK_THAT(invoke_error(with_required({"--client-password-file", empty.path()})),
               Contains("client.password_file: " + empty.path() + " is empty"));
}
