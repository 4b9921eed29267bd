// parse_invocation: command-line flags (CLI11) on top of the environment on top of the
// TOML file, then the checks that need the whole configuration.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/environment.h"
#include "config/fields.h"
#include "version.h"

namespace sp::config {
namespace {

using detail::Field;

// A flag that sets one configuration key. Values are taken as text and converted by the
// same code as environment variables, so bounds and messages agree across sources.
struct KeyFlag {
    const char* name;         // "--hold-window-ms"
    const char* section;      // "timeouts"
    const char* key;          // "hold_window_ms"
    const char* type_name;    // "N"
    const char* description;  //
    bool repeatable = false;  // each use adds to the list; the list replaces lower layers
};

const KeyFlag kKeyFlags[] = {
    {"--listen", "proxy", "listen", "HOST:PORT",
     "Address to accept clients on (repeatable; replaces proxy.listen)", true},
    {"--sentinel", "sentinel", "addresses", "HOST:PORT",
     "Sentinel address (repeatable; replaces sentinel.addresses)", true},
    {"--master", "sentinel", "master", "NAME", "Master name monitored by the sentinels"},
    {"--admin-listen", "admin", "listen", "HOST:PORT",
     "Address of the admin/metrics endpoint (\"\" disables it)"},
    {"--log-level", "log", "level", "LEVEL", "trace|debug|info|warn|error|critical|off"},
    {"--log-format", "log", "format", "FORMAT", "text|json"},
    {"--sentinel-user", "sentinel", "user", "USER", "User for AUTH to the sentinels"},
    {"--sentinel-password", "sentinel", "password", "PASSWORD",
     "Password for AUTH to the sentinels"},
    {"--redis-user", "redis", "user", "USER", "User for AUTH to Redis"},
    {"--sentinel-password-file", "sentinel", "password_file", "FILE",
     "File holding the sentinels' password (read at start and on SIGHUP)"},
    {"--redis-password", "redis", "password", "PASSWORD", "Password for AUTH to Redis"},
    {"--redis-password-file", "redis", "password_file", "FILE",
     "File holding the Redis password (read at start and on SIGHUP)"},
    {"--client-password", "client", "password", "PASSWORD",
     "Password clients must send with AUTH/HELLO (empty: none)"},
    {"--client-password-file", "client", "password_file", "FILE",
     "File holding the client password (read at start and on SIGHUP)"},
    {"--hold-window-ms", "timeouts", "hold_window_ms", "N",
     "How long commands wait for a verified master during failover"},
    {"--unready-without-majority-ms", "timeouts", "unready_without_majority_ms", "N",
     "/readyz answers 503 once no sentinel majority was seen for this long"},
    {"--connect-timeout-ms", "timeouts", "connect_ms", "N", "Connect timeout to Redis/sentinels"},
    {"--client-idle-timeout-ms", "timeouts", "client_idle_ms", "N",
     "Close a client idle this long, except subscribers and blocked clients (0: never)"},
    {"--command-timeout-ms", "timeouts", "command_ms", "N",
     "Command timeout (0: none; blocking commands may wait forever)"},
    {"--poll-interval-ms", "sentinel", "poll_interval_ms", "N", "Interval between sentinel polls"},
    {"--read-from", "routing", "read_from", "WHERE", "master|replica|prefer-replica"},
    {"--max-replica-lag-ms", "routing", "max_replica_lag_ms", "N",
     "Replicas lagging more than this are not read from"},
    {"--max-clients", "proxy", "max_clients", "N", "Maximum number of client connections"},
    {"--memory-budget", "limits", "memory_budget", "BYTES",
     "Bytes all clients together may have buffered in the proxy (0: no budget)"},
    {"--shared-links", "proxy", "shared_links", "N",
     "Shared pipelined backend connections per master and protocol (0: one per client)"},
    {"--drain-timeout-ms", "proxy", "drain_timeout_ms", "N",
     "On SIGTERM/SIGINT, how long in-flight commands may finish before connections close"},
    {"--accept-grace-ms", "proxy", "accept_grace_ms", "N",
     "On SIGTERM/SIGINT, how long to keep accepting (with /readyz 503) before draining"},
    {"--threads", "proxy", "threads", "N|auto",
     "Data-plane worker threads, 0..256; auto (or 0): one per CPU the process may use "
     "(affinity and cgroup quota). Applied on restart only"},
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ConfigError(path + ": cannot read configuration file: " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw ConfigError(path + ": cannot read configuration file: " + std::strerror(errno));
    }
    return text.str();
}

// A flag's description in --help, with its key's built-in default ("... (default: 10000)"):
// the value with no file, variable or flag, without TOML's quotes and brackets. None for
// secrets or empty values (the description says what empty means). In the description
// rather than CLI11's default_str, which would also stand in for a missing value.
std::string described_with_default(const KeyFlag& flag) {
    const Field& field = *detail::find_field(flag.section, flag.key);
    std::string value;
    if (field.kind != detail::Kind::secret) {
        for (char c : detail::render_value(Config{}, field, true))
            if (c != '"' && c != '[' && c != ']' && c != ' ') value += c;
    }
    return value.empty() ? flag.description
                         : std::string(flag.description) + " (default: " + value + ")";
}

std::string help_footer() {
    return "Configuration sources, each overriding the one before:\n"
           "  1. the TOML file given by --config FILE or SENTINEL_PROXY_CONFIG\n"
           "  2. environment variables SENTINEL_PROXY_<SECTION>_<KEY>, e.g.\n"
           "     SENTINEL_PROXY_SENTINEL_ADDRESSES=h1:26379,h2:26379\n"
           "     SENTINEL_PROXY_TIMEOUTS_HOLD_WINDOW_MS=10000\n"
           "  3. the flags above\n"
           "See sentinel-proxy.example.toml for every key and its default.";
}

}  // namespace

std::vector<ResolvedPool> resolve_pools(const Config& config) {
    std::vector<ResolvedPool> pools;
    if (!config.master_name.empty()) pools.push_back({"default", config});
    for (const PoolConfig& pool : config.pools) {
        Config c = config;
        c.master_name = pool.master_name;
        c.listen = pool.listen;
        c.tls_listen = pool.tls_listen;
        if (pool.read_routing) c.read_routing = *pool.read_routing;
        if (!pool.sentinels.empty()) c.sentinels = pool.sentinels;
        c.pools.clear();
        pools.push_back({pool.name, std::move(c)});
    }
    for (ResolvedPool& pool : pools) {
        pool.config.pools.clear();
        pool.config.pool_name = pool.name;
    }
    return pools;
}

namespace {
// What can be checked without OpenSSL; the files themselves are checked when the proxy
// builds its TLS contexts (proxy/net/tls_context.cpp), also before it starts.
void validate_tls(const Config& config) {
    bool any_tls_listen = !config.tls_listen.empty();
    for (const PoolConfig& pool : config.pools) any_tls_listen |= !pool.tls_listen.empty();
    if (any_tls_listen && (config.tls_cert_file.empty() || config.tls_key_file.empty()))
        throw ConfigError(
            "tls.listen is set but tls.cert_file and tls.key_file are not (both are required "
            "to serve TLS)");
    if (config.tls_verify_clients && config.tls_ca_file.empty())
        throw ConfigError("tls.verify_clients needs tls.ca_file (the CA that signs clients)");
    auto pair = [](const std::string& cert, const std::string& key, const char* section) {
        if (cert.empty() != key.empty())
            throw ConfigError(std::string(section) + ".cert_file and " + section +
                              ".key_file go together (a client certificate needs its key)");
    };
    pair(config.redis_tls_cert_file, config.redis_tls_key_file, "redis_tls");
    pair(config.sentinel_tls_cert_file, config.sentinel_tls_key_file, "sentinel_tls");
}
}  // namespace

void validate(const Config& config) {
    if (config.pools.empty() && config.sentinels.empty()) {
        throw ConfigError(
            "no sentinel addresses configured (sentinel.addresses / "
            "SENTINEL_PROXY_SENTINEL_ADDRESSES / --sentinel)");
    }
    if (config.master_name.empty() && config.pools.empty()) {
        throw ConfigError(
            "no master name configured (sentinel.master / SENTINEL_PROXY_SENTINEL_MASTER / "
            "--master, or a [[pool]] table)");
    }
    std::set<std::string> names;
    std::map<std::string, std::string> listen_owner;  // "host:port" -> pool name
    for (const ResolvedPool& pool : resolve_pools(config)) {
        // The default pool's problems are named by the top-level keys alone.
        const bool is_default = names.empty() && !config.master_name.empty();
        const std::string where = is_default ? std::string() : "pool \"" + pool.name + "\": ";
        if (!names.insert(pool.name).second) {
            throw ConfigError(
                "pool name \"" + pool.name + "\" is used twice" +
                (pool.name == "default" ? " (\"default\" is the pool of sentinel.master)" : ""));
        }
        if (pool.config.sentinels.empty()) {
            throw ConfigError(where +
                              "no sentinel addresses configured (sentinel.addresses / "
                              "SENTINEL_PROXY_SENTINEL_ADDRESSES / --sentinel" +
                              (where.empty() ? ")" : ", or the pool's sentinels)"));
        }
        if (pool.config.listen.empty() && pool.config.tls_listen.empty()) {
            throw ConfigError(where +
                              "no listen addresses configured (proxy.listen / "
                              "SENTINEL_PROXY_PROXY_LISTEN / --listen, or tls.listen)");
        }
        std::vector<HostPort> all = pool.config.listen;
        all.insert(all.end(), pool.config.tls_listen.begin(), pool.config.tls_listen.end());
        for (const HostPort& address : all) {
            auto [it, fresh] = listen_owner.emplace(address.str(), pool.name);
            if (!fresh) {
                throw ConfigError("listen address " + address.str() + " is used by pool \"" +
                                  it->second + "\" and pool \"" + pool.name + "\"");
            }
            if (config.admin_listen && address == *config.admin_listen) {
                throw ConfigError("admin.listen " + address.str() + " is also in " +
                                  (where.empty()
                                       ? std::string("proxy.listen")
                                       : "the listen addresses of pool \"" + pool.name + "\"") +
                                  "; use a different port");
            }
        }
    }
    validate_tls(config);
}

Invocation parse_invocation(int argc, const char* const* argv, const Environment& env) {
    CLI::App app("sentinel-proxy " SENTINEL_PROXY_VERSION
                 ": a Redis proxy that follows the master Redis Sentinel reports",
                 "sentinel-proxy");
    app.footer(help_footer());
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

    bool version = false;
    bool check_config = false;
    bool close_subscribers = false;
    bool follow_promotion = false;
    std::string config_path;
    app.add_flag("--version", version, "Print the version and exit");
    auto* config_option =
        app.add_option("--config", config_path, "TOML configuration file")->type_name("FILE");
    app.add_flag("--check-config", check_config,
                 "Validate the configuration, print it (secrets masked) and exit");
    std::string probe;
    auto* probe_option =
        app.add_option("--probe", probe,
                       "Health probe for containers: GET the admin endpoint's /livez (live, the "
                       "default), /readyz (ready) or a URL http://HOST:PORT/PATH; exit 0 on "
                       "HTTP 200, 1 otherwise")
            ->expected(0, 1)
            ->type_name("live|ready|URL");

    std::vector<std::string> values(std::size(kKeyFlags));
    std::vector<std::vector<std::string>> lists(std::size(kKeyFlags));
    std::vector<CLI::Option*> options;
    for (std::size_t i = 0; i < std::size(kKeyFlags); ++i) {
        const KeyFlag& flag = kKeyFlags[i];
        const std::string description = described_with_default(flag);
        CLI::Option* option = flag.repeatable
                                  ? app.add_option(flag.name, lists[i], description)
                                        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                                        ->allow_extra_args(false)
                                  : app.add_option(flag.name, values[i], description);
        option->type_name(flag.type_name);
        options.push_back(option);
    }
    auto* close_subscribers_option = app.add_flag(
        "--close-subscribers-on-failover", close_subscribers,
        "Disconnect subscribers on failover instead of re-subscribing on the new master "
        "(default: re-subscribe)");
    auto* follow_promotion_option = app.add_flag(
        "--follow-promotion", follow_promotion,
        "During a failover, release held commands to the replica the leader sentinel promotes "
        "as soon as it answers ROLE master with every acknowledged write, before the sentinels "
        "switch (default: wait for the sentinel majority)");

    std::vector<std::string> args;
    for (int i = argc - 1; i >= 1; --i) args.emplace_back(argv[i]);  // CLI11 wants them reversed
    Invocation invocation;
    try {
        app.parse(args);
    } catch (const CLI::CallForHelp&) {
        invocation.action = Action::help;
        invocation.text = app.help();
        return invocation;
    } catch (const CLI::ParseError& e) {
        throw ConfigError(std::string("command line: ") + e.what() + " (see --help)");
    }
    if (version) {
        invocation.action = Action::version;
        invocation.text = "sentinel-proxy " SENTINEL_PROXY_VERSION "\n";
        return invocation;
    }
    invocation.action = check_config ? Action::check_config : Action::run;
    if (probe_option->count() > 0) {
        invocation.action = Action::probe;
        invocation.probe = probe.empty() ? "live" : probe;
    }

    // 1. The file.
    Config& config = invocation.config;
    std::optional<std::string> file;
    if (config_option->count() > 0) {
        file = config_path;
        if (file->empty()) throw ConfigError("--config: the file name is empty");
    } else if (auto found = env.find(std::string(detail::kConfigFileVariable));
               found != env.end()) {
        file = found->second;
        if (file->empty()) {
            throw ConfigError("environment variable " + found->first + ": the file name is empty");
        }
    }
    if (file) {
        config = load_toml(read_file(*file), *file);
        config.config_file = *file;
    }

    // 2. The environment.
    detail::apply_environment(config, env);

    // 3. The flags.
    for (std::size_t i = 0; i < std::size(kKeyFlags); ++i) {
        if (options[i]->count() == 0) continue;
        const KeyFlag& flag = kKeyFlags[i];
        const Field* field = detail::find_field(flag.section, flag.key);
        try {
            if (flag.repeatable) {
                std::string joined;
                for (const std::string& value : lists[i]) {
                    if (value.empty()) throw std::invalid_argument("empty address");
                    joined += (joined.empty() ? "" : ",") + value;
                }
                detail::assign_text(config, *field, joined);
            } else {
                detail::assign_text(config, *field, values[i]);
            }
        } catch (const std::invalid_argument& e) {
            throw ConfigError(std::string(flag.name) + ": " + detail::dotted_name(*field) + ": " +
                              e.what());
        }
    }
    if (close_subscribers_option->count() > 0) {
        config.close_subscribers_on_failover = close_subscribers;
    }
    if (follow_promotion_option->count() > 0) config.follow_promotion = follow_promotion;

    // A probe only needs admin.listen: the pools may be configured by variables the
    // probing process does not see, and a probe must not fail on them.
    if (invocation.action == Action::probe) return invocation;
    read_password_files(config);
    validate(config);
    if (invocation.action == Action::check_config) invocation.text = render_masked(config);
    return invocation;
}

}  // namespace sp::config
