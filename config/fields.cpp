// The table of configuration keys and the typed, bounds-checked setters every source uses.
#include "config/fields.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <set>
#include <stdexcept>

#include "config/string_literal.h"

namespace sp::config::detail {
namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;

const std::array kFields = {
    // First: the empty-list check of proxy.listen depends on it (see assign_addresses).
    Field{"tls", "listen", Kind::address_list, &Config::tls_listen},
    Field{"proxy", "listen", Kind::address_list, &Config::listen, 0, 0, true},
    Field{"proxy", "max_clients", Kind::uint32, &Config::max_clients, 1, 1'000'000},
    Field{"proxy", "close_subscribers_on_failover", Kind::boolean,
          &Config::close_subscribers_on_failover},
    Field{"proxy", "drain_timeout_ms", Kind::uint32, &Config::drain_timeout_ms, 0, 600'000},
    Field{"proxy", "shared_links", Kind::uint32, &Config::shared_links, 0, 64},
    Field{"proxy", "accept_grace_ms", Kind::uint32, &Config::accept_grace_ms, 0, 600'000},
    Field{"proxy", "threads", Kind::uint32_or_auto, &Config::threads, 0, kMaxThreads},
    Field{"sentinel", "addresses", Kind::address_list, &Config::sentinels},
    Field{"sentinel", "master", Kind::name, &Config::master_name},
    Field{"sentinel", "user", Kind::string, &Config::sentinel_user},
    Field{"sentinel", "password", Kind::secret, &Config::sentinel_password},
    Field{"sentinel", "password_file", Kind::string, &Config::sentinel_password_file},
    Field{"sentinel", "poll_interval_ms", Kind::uint32, &Config::sentinel_poll_interval_ms, 50,
          60'000},
    Field{"redis", "user", Kind::string, &Config::redis_user},
    Field{"redis", "password", Kind::secret, &Config::redis_password},
    Field{"redis", "password_file", Kind::string, &Config::redis_password_file},
    Field{"client", "password", Kind::secret, &Config::client_password},
    Field{"client", "password_file", Kind::string, &Config::client_password_file},
    Field{"timeouts", "connect_ms", Kind::uint32, &Config::connect_timeout_ms, 10, 600'000},
    Field{"timeouts", "command_ms", Kind::uint32, &Config::command_timeout_ms, 0, 86'400'000},
    Field{"timeouts", "hold_window_ms", Kind::uint32, &Config::hold_window_ms, 0, 600'000},
    Field{"timeouts", "unready_without_majority_ms", Kind::uint32,
          &Config::unready_without_majority_ms, 0, 600'000},
    Field{"timeouts", "client_idle_ms", Kind::uint32, &Config::client_idle_ms, 0, 86'400'000},
    Field{"failover", "follow_promotion", Kind::boolean, &Config::follow_promotion},
    Field{"routing", "read_from", Kind::read_routing, &Config::read_routing},
    Field{"routing", "max_replica_lag_ms", Kind::uint32, &Config::max_replica_lag_ms, 0, 600'000},
    Field{"admin", "listen", Kind::optional_address, &Config::admin_listen},
    Field{"tls", "cert_file", Kind::string, &Config::tls_cert_file},
    Field{"tls", "key_file", Kind::string, &Config::tls_key_file},
    Field{"tls", "ca_file", Kind::string, &Config::tls_ca_file},
    Field{"tls", "verify_clients", Kind::boolean, &Config::tls_verify_clients},
    Field{"tls", "min_version", Kind::tls_version, &Config::tls_min_version},
    Field{"tls", "ciphers", Kind::string, &Config::tls_ciphers},
    Field{"tls", "ciphersuites", Kind::string, &Config::tls_ciphersuites},
    Field{"tls", "handshake_timeout_ms", Kind::uint32, &Config::tls_handshake_timeout_ms, 100,
          600'000},
    Field{"tls", "max_handshakes", Kind::uint32, &Config::tls_max_handshakes, 1, 1'000'000},
    Field{"redis_tls", "enabled", Kind::boolean, &Config::redis_tls_enabled},
    Field{"redis_tls", "ca_file", Kind::string, &Config::redis_tls_ca_file},
    Field{"redis_tls", "cert_file", Kind::string, &Config::redis_tls_cert_file},
    Field{"redis_tls", "key_file", Kind::string, &Config::redis_tls_key_file},
    Field{"redis_tls", "server_name", Kind::name, &Config::redis_tls_server_name},
    Field{"redis_tls", "insecure", Kind::boolean, &Config::redis_tls_insecure},
    Field{"sentinel_tls", "enabled", Kind::boolean, &Config::sentinel_tls_enabled},
    Field{"sentinel_tls", "ca_file", Kind::string, &Config::sentinel_tls_ca_file},
    Field{"sentinel_tls", "cert_file", Kind::string, &Config::sentinel_tls_cert_file},
    Field{"sentinel_tls", "key_file", Kind::string, &Config::sentinel_tls_key_file},
    Field{"sentinel_tls", "server_name", Kind::name, &Config::sentinel_tls_server_name},
    Field{"sentinel_tls", "insecure", Kind::boolean, &Config::sentinel_tls_insecure},
    Field{"log", "level", Kind::log_level, &Config::log_level},
    Field{"log", "format", Kind::log_format, &Config::log_format},
    Field{"limits", "max_bulk_len", Kind::uint64, &Config::max_bulk_len, 1, 4 * kGiB},
    Field{"limits", "max_inline_len", Kind::uint64, &Config::max_inline_len, 1, 512 * kMiB},
    Field{"limits", "stream_bulk_len", Kind::uint64, &Config::stream_bulk_len, 0, 4 * kGiB},
    Field{"limits", "memory_budget", Kind::uint64, &Config::memory_budget, 0, 64 * kGiB},
    Field{"limits", "query_buffer_limit", Kind::uint64, &Config::query_buffer_limit, kMiB,
          64 * kGiB},
    Field{"limits", "output_normal_hard", Kind::uint64, &Config::output_normal_hard, 0, 64 * kGiB},
    Field{"limits", "output_normal_soft", Kind::uint64, &Config::output_normal_soft, 0, 64 * kGiB},
    Field{"limits", "output_normal_soft_seconds", Kind::uint32, &Config::output_normal_soft_seconds,
          0, 86'400},
    Field{"limits", "output_pubsub_hard", Kind::uint64, &Config::output_pubsub_hard, 0, 64 * kGiB},
    Field{"limits", "output_pubsub_soft", Kind::uint64, &Config::output_pubsub_soft, 0, 64 * kGiB},
    Field{"limits", "output_pubsub_soft_seconds", Kind::uint32, &Config::output_pubsub_soft_seconds,
          0, 86'400},
    Field{"limits", "max_held_per_client", Kind::uint32, &Config::max_held_per_client, 0,
          1'000'000},
    Field{"limits", "max_held_total", Kind::uint32, &Config::max_held_total, 0, 100'000'000},
};

const std::array<std::string_view, 13> kSections = {
    "proxy", "sentinel", "redis",     "client",       "timeouts", "failover", "routing",
    "admin", "tls",      "redis_tls", "sentinel_tls", "log",      "limits"};

const std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                    "error", "critical", "off"};

template <typename T>
T& member(Config& config, const Field& field) {
    return config.*std::get<T Config::*>(field.member);
}

template <typename T>
const T& member(const Config& config, const Field& field) {
    return config.*std::get<T Config::*>(field.member);
}

std::string quoted(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

std::string trim(std::string_view text) {
    auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    auto last = text.find_last_not_of(" \t");
    return std::string(text.substr(first, last - first + 1));
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1,
                          diagonal + (std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                              std::tolower(static_cast<unsigned char>(b[j - 1]))
                                          ? 0
                                          : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::span<const Field> fields() {
    return kFields;
}

std::span<const std::string_view> sections() {
    return kSections;
}

const Field* find_field(std::string_view section, std::string_view key) {
    for (const Field& field : kFields) {
        if (field.section == section && field.key == key) return &field;
    }
    return nullptr;
}

std::string dotted_name(const Field& field) {
    return std::string(field.section) + "." + std::string(field.key);
}

std::string env_name(const Field& field) {
    std::string name =
        "SENTINEL_PROXY_" + std::string(field.section) + "_" + std::string(field.key);
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 4) + 1;
    for (const std::string& candidate : candidates) {
        std::size_t distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    return best;
}

namespace {
void mark_explicit(Config& config, const Field& field) {
    config.explicit_keys.insert(dotted_name(field));
}
}  // namespace

namespace {
// "(1..1000000)", or "(0..256, or \"auto\")" where the word stands for 0.
std::string accepted_range(const Field& field) {
    return "(" + std::to_string(field.min) + ".." + std::to_string(field.max) +
           (field.kind == Kind::uint32_or_auto ? ", or \"auto\")" : ")");
}

std::invalid_argument not_an_integer(const Field& field, const std::string& text) {
    return std::invalid_argument((field.kind == Kind::uint32_or_auto
                                      ? "expected an integer " + accepted_range(field)
                                      : std::string("expected a non-negative integer")) +
                                 ", got " + quoted(text));
}
}  // namespace

void assign_integer(Config& config, const Field& field, std::int64_t value) {
    if (value < 0 || static_cast<std::uint64_t>(value) < field.min ||
        static_cast<std::uint64_t>(value) > field.max) {
        throw std::invalid_argument(std::to_string(value) + " is out of range " +
                                    accepted_range(field));
    }
    mark_explicit(config, field);
    if (field.kind == Kind::uint32 || field.kind == Kind::uint32_or_auto) {
        member<std::uint32_t>(config, field) = static_cast<std::uint32_t>(value);
    } else if (field.kind == Kind::uint64) {
        member<std::uint64_t>(config, field) = static_cast<std::uint64_t>(value);
    } else {
        throw std::logic_error("assign_integer: not an integer key");
    }
}

void assign_bool(Config& config, const Field& field, bool value) {
    if (field.kind != Kind::boolean) throw std::logic_error("assign_bool: not a boolean key");
    mark_explicit(config, field);
    member<bool>(config, field) = value;
}

void assign_string(Config& config, const Field& field, const std::string& value) {
    mark_explicit(config, field);
    switch (field.kind) {
        case Kind::string:
        case Kind::secret:
            member<std::string>(config, field) = value;
            return;
        case Kind::name:
            for (char c : value) {
                if (std::isspace(static_cast<unsigned char>(c)) ||
                    std::iscntrl(static_cast<unsigned char>(c))) {
                    throw std::invalid_argument(quoted(value) +
                                                " must not contain whitespace or control "
                                                "characters");
                }
            }
            member<std::string>(config, field) = value;
            return;
        case Kind::address_list:
            assign_addresses(config, field, {parse_host_port(value)});
            return;
        case Kind::optional_address:
            if (value.empty()) {
                member<std::optional<HostPort>>(config, field).reset();
            } else {
                member<std::optional<HostPort>>(config, field) = parse_host_port(value);
            }
            return;
        case Kind::read_routing:
            for (ReadRouting r :
                 {ReadRouting::master, ReadRouting::replica, ReadRouting::prefer_replica}) {
                if (value == read_routing_name(r)) {
                    member<ReadRouting>(config, field) = r;
                    return;
                }
            }
            if (value != "replica-preferred") {  // the name of earlier versions
                throw std::invalid_argument(
                    quoted(value) +
                    " is not one of \"master\", \"replica\", \"prefer-replica\" (alias "
                    "\"replica-preferred\")");
            }
            member<ReadRouting>(config, field) = ReadRouting::prefer_replica;
            return;
        case Kind::log_level:
            if (std::find(kLogLevels.begin(), kLogLevels.end(), value) == kLogLevels.end()) {
                throw std::invalid_argument(
                    quoted(value) +
                    " is not one of trace, debug, info, warn, error, critical, off");
            }
            member<std::string>(config, field) = value;
            return;
        case Kind::tls_version:
            if (value != "1.2" && value != "1.3") {
                throw std::invalid_argument(quoted(value) + " is not one of \"1.2\", \"1.3\"");
            }
            member<std::string>(config, field) = value;
            return;
        case Kind::log_format:
            if (value == "text") {
                member<LogFormat>(config, field) = LogFormat::text;
            } else if (value == "json") {
                member<LogFormat>(config, field) = LogFormat::json;
            } else {
                throw std::invalid_argument(quoted(value) + " is not one of \"text\", \"json\"");
            }
            return;
        case Kind::uint32_or_auto:
            if (value != "auto") throw not_an_integer(field, value);
            member<std::uint32_t>(config, field) = 0;
            return;
        case Kind::boolean:
        case Kind::uint32:
        case Kind::uint64:
            break;
    }
    throw std::logic_error("assign_string: not a string key");
}

void assign_addresses(Config& config, const Field& field, std::vector<HostPort> value) {
    if (field.kind != Kind::address_list) {
        throw std::logic_error("assign_addresses: not a list key");
    }
    // A TLS-only proxy has no plaintext addresses: proxy.listen may be empty once
    // tls.listen is set (every source assigns tls.listen first).
    if (field.non_empty && value.empty() && config.tls_listen.empty()) {
        throw std::invalid_argument("at least one address is required");
    }
    std::set<std::string> seen;
    for (const HostPort& address : value) {
        if (!seen.insert(address.str()).second) {
            throw std::invalid_argument("duplicate address " + quoted(address.str()));
        }
    }
    mark_explicit(config, field);
    member<std::vector<HostPort>>(config, field) = std::move(value);
}

void assign_text(Config& config, const Field& field, const std::string& text) {
    switch (field.kind) {
        case Kind::uint32_or_auto:
            if (text == "auto") {
                assign_string(config, field, text);
                return;
            }
            [[fallthrough]];
        case Kind::uint32:
        case Kind::uint64: {
            std::uint64_t value = 0;
            const char* end = text.data() + text.size();
            auto [ptr, error] = std::from_chars(text.data(), end, value);
            if (text.empty() || ptr != end ||
                !std::isdigit(static_cast<unsigned char>(text.front()))) {
                throw not_an_integer(field, text);
            }
            if (error == std::errc::result_out_of_range ||
                value > static_cast<std::uint64_t>(INT64_MAX)) {
                throw std::invalid_argument(text + " is out of range " + accepted_range(field));
            }
            assign_integer(config, field, static_cast<std::int64_t>(value));
            return;
        }
        case Kind::boolean: {
            std::string lower;
            for (char c : text) {
                lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") {
                assign_bool(config, field, true);
            } else if (lower == "false" || lower == "no" || lower == "off" || lower == "0") {
                assign_bool(config, field, false);
            } else {
                throw std::invalid_argument("expected a boolean (true/false), got " + quoted(text));
            }
            return;
        }
        case Kind::address_list: {
            std::vector<HostPort> addresses;
            if (!trim(text).empty()) {
                std::string_view rest = text;
                while (true) {
                    auto comma = rest.find(',');
                    addresses.push_back(parse_host_port(trim(rest.substr(0, comma))));
                    if (comma == std::string_view::npos) break;
                    rest.remove_prefix(comma + 1);
                }
            }
            assign_addresses(config, field, std::move(addresses));
            return;
        }
        default:
            assign_string(config, field, text);
            return;
    }
}

std::string_view expected_type(const Field& field) {
    switch (field.kind) {
        case Kind::boolean:
            return "a boolean (true/false)";
        case Kind::uint32:
        case Kind::uint64:
            return "a non-negative integer";
        case Kind::uint32_or_auto:
            return "a non-negative integer or \"auto\"";
        case Kind::address_list:
            return "an array of \"host:port\" strings";
        case Kind::optional_address:
            return "a \"host:port\" string";
        default:
            return "a string";
    }
}

std::string render_value(const Config& config, const Field& field, bool mask_secrets) {
    switch (field.kind) {
        case Kind::string:
        case Kind::name:
        case Kind::log_level:
        case Kind::tls_version:
            return string_literal(member<std::string>(config, field));
        case Kind::secret: {
            const std::string& value = member<std::string>(config, field);
            return string_literal(mask_secrets && !value.empty() ? "********" : value);
        }
        case Kind::boolean:
            return member<bool>(config, field) ? "true" : "false";
        case Kind::uint32:
            return std::to_string(member<std::uint32_t>(config, field));
        case Kind::uint32_or_auto: {
            const std::uint32_t value = member<std::uint32_t>(config, field);
            return value == 0 ? "\"auto\"" : std::to_string(value);
        }
        case Kind::uint64:
            return std::to_string(member<std::uint64_t>(config, field));
        case Kind::address_list: {
            std::string out = "[";
            const auto& addresses = member<std::vector<HostPort>>(config, field);
            for (std::size_t i = 0; i < addresses.size(); ++i) {
                if (i > 0) out += ", ";
                out += string_literal(addresses[i].str());
            }
            return out + "]";
        }
        case Kind::optional_address: {
            const auto& address = member<std::optional<HostPort>>(config, field);
            return string_literal(address ? address->str() : "");
        }
        case Kind::read_routing:
            return string_literal(read_routing_name(member<ReadRouting>(config, field)));
        case Kind::log_format:
            return member<LogFormat>(config, field) == LogFormat::text ? "\"text\"" : "\"json\"";
    }
    return {};
}

}  // namespace sp::config::detail
