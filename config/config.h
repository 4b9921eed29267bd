// The proxy's effective configuration: a TOML file, then SENTINEL_PROXY_* environment
// variables, then command-line flags, each overriding the one before. Every error names
// the key and where it came from (file and line, variable, or flag); an unknown key or a
// value of the wrong type is an error, never a silent default.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sp::config {

struct HostPort {
    std::string host;
    std::uint16_t port = 0;
    std::string str() const;  // "host:port" ("[v6]:port" for IPv6 literals)
    bool operator==(const HostPort&) const = default;
};

// Parses "host:port", "[v6]:port"; throws std::invalid_argument with a reason.
HostPort parse_host_port(const std::string& text);

// Where read-only commands of default-state clients go. "replica-preferred" is an alias
// of "prefer-replica" (the name of earlier versions).
enum class ReadRouting { master, replica, prefer_replica };
// The configuration name ("master", "replica", "prefer-replica").
inline const char* read_routing_name(ReadRouting r) {
    constexpr const char* kNames[] = {"master", "replica", "prefer-replica"};  // enum order
    return kNames[static_cast<int>(r)];
}
enum class LogFormat { text, json };

// One [[pool]] table: a master name served on its own listen addresses. Routing and the
// sentinel list default to the top-level [routing] and [sentinel] sections.
struct PoolConfig {
    std::string name;                         // required, unique; a metrics/status label
    std::string master_name;                  // required
    std::vector<HostPort> listen;             // required, at least one
    std::optional<ReadRouting> read_routing;  // default: routing.read_from
    std::vector<HostPort> sentinels;          // default (empty): sentinel.addresses
    std::vector<HostPort> tls_listen;         // TLS addresses (default: none)
    bool operator==(const PoolConfig&) const = default;
};

// The most worker loops proxy.threads may ask for, and the most "auto" gives.
inline constexpr std::uint32_t kMaxThreads = 256;

// The worker loops to start: proxy.threads as set, or for "auto" (0) the CPUs the process
// may use (proxy::cpu_budget().cpus), between 1 and kMaxThreads.
inline std::uint32_t worker_threads(std::uint32_t configured, unsigned budget_cpus) {
    if (configured != 0) return configured;
    return budget_cpus == 0 ? 1 : budget_cpus > kMaxThreads ? kMaxThreads : budget_cpus;
}

struct Config {
    // [proxy]
    std::vector<HostPort> listen{{"127.0.0.1", 6379}};
    std::uint32_t max_clients = 10000;
    bool close_subscribers_on_failover = false;  // default: re-subscribe on the new master
    std::uint32_t drain_timeout_ms =
        5000;  // SIGTERM/SIGINT: how long in-flight commands may finish
    // Pipelined backend connections per master and protocol shared by every client in the
    // default connection state (0: every client gets its own, as before 0.2).
    std::uint32_t shared_links = 1;
    // SIGTERM/SIGINT: how long to keep accepting (with /readyz 503) before the drain, so
    // load balancers stop sending new clients first. 0: stop accepting at once.
    std::uint32_t accept_grace_ms = 0;
    // Data-plane worker loops, each on its own thread (issue 24). 0 ("auto"): one per CPU
    // the process may use (proxy/net/cpu_budget.h: affinity and cgroup quota), at most
    // kMaxThreads. Process-wide, applied on restart only.
    std::uint32_t threads = 0;

    // [sentinel]
    std::vector<HostPort> sentinels;  // required, at least one
    std::string master_name;          // required
    std::string sentinel_user;
    std::string sentinel_password;  // secret
    std::string
        sentinel_password_file;  // the password read from this file (see read_password_files)
    std::uint32_t sentinel_poll_interval_ms = 1000;

    // [redis] credentials the proxy uses on behalf of clients
    std::string redis_user;
    std::string redis_password;       // secret
    std::string redis_password_file;  // the password read from this file

    // [client] optional password clients must send (AUTH / HELLO AUTH)
    std::string client_password;       // secret
    std::string client_password_file;  // the password read from this file

    // [timeouts]
    std::uint32_t connect_timeout_ms = 2000;
    std::uint32_t command_timeout_ms = 0;  // 0: none (blocking commands may wait forever)
    std::uint32_t hold_window_ms = 10000;  // how long commands wait for a verified master
    // /readyz turns 503 once no sentinel majority was seen for this long (issue 20)
    std::uint32_t unready_without_majority_ms = 3000;
    std::uint32_t client_idle_ms =
        0;  // close clients idle this long (0: never), as Redis's timeout

    // [failover]
    // Release held commands to the replica the leader sentinel promotes as soon as it answers
    // ROLE master with every write acknowledged before the hold, not at the sentinels'
    // +switch-master (issue 25; docs/operations.md says what it trades).
    bool follow_promotion = false;

    // [routing]
    ReadRouting read_routing = ReadRouting::master;
    std::uint32_t max_replica_lag_ms = 1000;

    // [admin]
    std::optional<HostPort> admin_listen;

    // [tls] the client side: the proxy is the TLS server on tls.listen (proxy.listen
    // stays plaintext; either may be empty, not both).
    std::vector<HostPort> tls_listen;
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_ca_file;          // signs client certificates (verify_clients)
    bool tls_verify_clients = false;  // mTLS: refuse clients without a valid certificate
    std::string tls_min_version = "1.2";
    std::string tls_ciphers;       // TLS 1.2 cipher list ("": OpenSSL's default)
    std::string tls_ciphersuites;  // TLS 1.3 ciphersuites ("": OpenSSL's default)
    // A client that has not finished its handshake in this time is dropped (a silent
    // connection holds a descriptor and memory, and no certificate has been checked yet).
    std::uint32_t tls_handshake_timeout_ms = 5000;
    // Client connections still in their TLS handshake, all pools together; past it a new
    // connection on a TLS address is closed at once (counted), so silent connections cannot
    // pile up beyond clients' own limits.
    std::uint32_t tls_max_handshakes = 1000;

    // [redis_tls] / [sentinel_tls]: the proxy as a TLS client of Redis / of Sentinel.
    bool redis_tls_enabled = false;
    std::string redis_tls_ca_file;    // "": the system store
    std::string redis_tls_cert_file;  // client certificate (optional)
    std::string redis_tls_key_file;
    std::string redis_tls_server_name;  // "": the host Sentinel announces (or is configured)
    bool redis_tls_insecure = false;    // no verification at all (logged as a warning)
    bool sentinel_tls_enabled = false;
    std::string sentinel_tls_ca_file;
    std::string sentinel_tls_cert_file;
    std::string sentinel_tls_key_file;
    std::string sentinel_tls_server_name;
    bool sentinel_tls_insecure = false;

    // [log]
    std::string log_level = "info";  // trace debug info warn error critical off
    LogFormat log_format = LogFormat::text;

    // [limits]
    std::uint64_t max_bulk_len = 512ull * 1024 * 1024;
    std::uint64_t max_inline_len = 64ull * 1024;
    // A bulk longer than this is forwarded as it arrives, never held whole (when the client
    // may stream now: see docs/architecture.md, "Streaming big values"); 0: never.
    std::uint64_t stream_bulk_len = 1024ull * 1024;
    // Bytes all clients together may have buffered in the proxy (commands being read or
    // not yet answered, replies not yet written); 0: no budget.
    std::uint64_t memory_budget = 128ull * 1024 * 1024;
    // Redis's client-query-buffer-limit, per client: bytes it sent that are not yet framed
    // into a command or not yet forwarded. 64 MiB: a command at the limit, held about three
    // times over (being read, in the re-send log, in the link's buffer), still fits a
    // 256 MiB pod. It also caps the largest bulk (the smaller of it and max_bulk_len wins).
    std::uint64_t query_buffer_limit = 64ull * 1024 * 1024;
    // Redis's client-output-buffer-limit by class (0: off), with Redis's defaults: normal
    // 0 0 0 (such a client is paused, never closed), pubsub 32mb 8mb 60. A client is closed
    // at `hard` bytes waiting for it, or after more than `soft_seconds` at `soft` or more.
    std::uint64_t output_normal_hard = 0;
    std::uint64_t output_normal_soft = 0;
    std::uint32_t output_normal_soft_seconds = 0;
    std::uint64_t output_pubsub_hard = 32ull * 1024 * 1024;
    std::uint64_t output_pubsub_soft = 8ull * 1024 * 1024;
    std::uint32_t output_pubsub_soft_seconds = 60;
    // Commands held while no master is verified (0: no bound). At the bound the proxy stops
    // reading that client (or, at the total, every client that would add to it) until the
    // hold ends: nothing already accepted is dropped, nothing answered for Redis.
    std::uint32_t max_held_per_client = 10000;
    std::uint32_t max_held_total = 100000;

    // [[pool]] tables (file only). The top-level sentinel.master, proxy.listen and
    // routing.read_from form the pool named "default" when sentinel.master is set.
    std::vector<PoolConfig> pools;

    std::optional<std::string> config_file;  // where the TOML came from, if any
    // The pool this configuration is for ("default", or a [[pool]]'s name): set by
    // resolve_pools, for the pool's log lines.
    std::string pool_name = "default";
    // Keys the file, the environment or a flag set ("proxy.max_clients"), whatever the
    // value: a default nobody chose is reported differently (the fd-limit notice at start), or
    // derived at run time (the hold window from Sentinel's timings).
    std::set<std::string> explicit_keys;
};

// A pool with every default filled in: a whole Config whose master_name, listen,
// sentinels and read_routing are that pool's, the rest shared.
struct ResolvedPool {
    std::string name;
    Config config;
};

// The pools this configuration runs, in order: "default" (when sentinel.master is set),
// then each [[pool]].
std::vector<ResolvedPool> resolve_pools(const Config& config);

// A configuration problem. what() is a complete, user-facing message naming the key and
// its source, e.g. "sentinel-proxy.toml:12: timeouts.hold_window_ms: expected an integer".
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class Action { run, check_config, help, version, probe };

struct Invocation {
    Action action = Action::run;
    Config config;
    std::string text;   // what to print for help/version/check_config
    std::string probe;  // Action::probe: "live", "ready" or a URL
};

// Environment lookup, injectable for tests.
using Environment = std::map<std::string, std::string>;
Environment current_environment();  // the SENTINEL_PROXY_* variables of this process

// Parses argv (with --config FILE), the environment and the file. Throws ConfigError
// (exit status 2) on any problem, including a missing sentinel list or master name
// when action == run or check_config (not for probe, which needs only admin.listen).
Invocation parse_invocation(int argc, const char* const* argv, const Environment& env);

// Loads and validates just a TOML text (used by parse_invocation and SIGHUP reload).
// `source_name` is used in error messages.
Config load_toml(const std::string& toml_text, const std::string& source_name, Config base = {});

// `*.password_file` (as Kubernetes mounts a Secret): reads each file into its password,
// without a trailing newline. Setting a password and its file both, an unreadable file or
// an empty one is a ConfigError naming the keys. parse_invocation calls it for run and
// check_config, so a SIGHUP reads the files again (rotation without a restart).
void read_password_files(Config& config);

// The checks that need the whole configuration: at least one pool (sentinel.master or a
// [[pool]]), each with sentinels, a master name and listen addresses; pool names unique;
// no listen address used twice, admin.listen not among them. Throws ConfigError.
// parse_invocation calls it for Action::run and Action::check_config; call it after
// load_toml when reloading.
void validate(const Config& config);

// The effective configuration as TOML, secrets replaced by "********".
std::string render_masked(const Config& config);

// Every key as section.key=value on one line (secrets masked), then each [[pool]]: the
// startup log line.
std::string settings_summary(const Config& config);

// Keys a reload cannot apply (bound sockets, the log sink, the default pool's identity,
// the number of worker threads).
bool applies_on_restart_only(std::string_view dotted_key);

// What a reload changes, one "key old -> new" entry per key (secrets: "(secret) changed",
// never the value), split into applied now and deferred to a restart.
struct SettingsDiff {
    std::vector<std::string> applied;
    std::vector<std::string> deferred;
    std::string line() const;  // "applied: ...; deferred to restart: ..." or "nothing changed"
};
SettingsDiff diff_settings(const Config& running, const Config& next);

}  // namespace sp::config
