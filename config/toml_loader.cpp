// load_toml: the TOML layer. Every key must be known and of the right type; errors name
// the source, the line and the key.
#include <toml++/toml.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/fields.h"

namespace sp::config {
namespace {

using detail::Field;
using detail::Kind;

// Indexed by toml::node_type, whose order toml++ documents (none first, date_time last).
constexpr std::string_view kTypeNames[] = {"nothing", "table",   "array", "string", "integer",
                                           "float",   "boolean", "date",  "time",   "date-time"};
static_assert(static_cast<std::size_t>(toml::node_type::date_time) + 1 == std::size(kTypeNames));

std::string_view type_name(const toml::node& node) {
    return kTypeNames[static_cast<std::size_t>(node.type())];
}

class Loader {
  public:
    Loader(const std::string& source_name, Config& config)
        : source_name_(source_name), config_(config) {}

    void load(const toml::table& root) {
        // [tls] first: whether proxy.listen may be empty depends on tls.listen.
        if (const toml::table* tls = root["tls"].as_table()) load_section("tls", *tls);
        for (auto&& [key, node] : root) {
            const std::string name(key.str());
            if (name == "tls" && node.is_table()) continue;
            if (name == "pool") {
                load_pools(key, node);
                continue;
            }
            if (std::find(detail::sections().begin(), detail::sections().end(), name) ==
                detail::sections().end()) {
                if (node.is_table()) {
                    fail(key.source(), "[" + name + "]",
                         "unknown section" + suggestion(name, section_names()) +
                             " (known sections: " + join(section_names()) + ")");
                }
                fail(key.source(), name,
                     "unknown key; keys belong in a section such as [proxy]" +
                         suggestion_for_top_level(name));
            }
            const toml::table* table = node.as_table();
            if (table == nullptr) {
                fail(node.source(), name, "expected a table, got " + std::string(type_name(node)));
            }
            load_section(name, *table);
        }
    }

  private:
    // [[pool]] tables: name, master, listen, and optionally read_from and sentinels.
    // Values are checked by the same setters as the top-level keys they mirror.
    void load_pools(const toml::key& key, const toml::node& node) {
        const toml::array* array = node.as_array();
        if (array == nullptr || !array->is_array_of_tables()) {
            fail(key.source(), "pool",
                 "expected an array of tables ([[pool]]), got " + std::string(type_name(node)));
        }
        config_.pools.clear();
        for (std::size_t i = 0; i < array->size(); ++i) {
            const toml::table& table = *array->get(i)->as_table();
            const std::string prefix = "pool[" + std::to_string(i) + "].";
            Config scratch;
            scratch.listen.clear();
            PoolConfig pool;
            bool has_name = false, has_master = false, has_listen = false;
            for (auto&& [pool_key, value] : table) {
                const std::string name(pool_key.str());
                const Field* field = pool_field(name);
                if (field == nullptr) {
                    fail(pool_key.source(), prefix + name,
                         process_wide_hint(name).value_or("unknown key" +
                                                          suggestion(name, kPoolKeys)) +
                             " (known keys in [[pool]]: " + join(kPoolKeys) + ")");
                }
                load_value(*field, value, scratch, prefix + name);
                if (name == "name") {
                    pool.name = scratch.master_name;
                    has_name = true;
                } else if (name == "master") {
                    pool.master_name = scratch.master_name;
                    has_master = true;
                } else if (name == "listen") {
                    pool.listen = scratch.listen;
                    has_listen = true;
                } else if (name == "read_from") {
                    pool.read_routing = scratch.read_routing;
                } else if (name == "sentinels") {
                    pool.sentinels = scratch.sentinels;
                } else if (name == "tls_listen") {
                    pool.tls_listen = scratch.tls_listen;
                    has_listen = has_listen || !pool.tls_listen.empty();
                }
            }
            const char* missing = !has_name     ? "name"
                                  : !has_master ? "master"
                                  : !has_listen ? "listen"
                                                : nullptr;
            if (missing != nullptr || pool.name.empty() || pool.master_name.empty()) {
                fail(table.source(),
                     prefix + (missing             ? missing
                               : pool.name.empty() ? "name"
                                                   : "master"),
                     "required in every [[pool]] and must not be empty");
            }
            config_.pools.push_back(std::move(pool));
        }
    }

    static const Field* pool_field(const std::string& key) {
        if (key == "name" || key == "master") return detail::find_field("sentinel", "master");
        if (key == "listen") return detail::find_field("proxy", "listen");
        if (key == "read_from") return detail::find_field("routing", "read_from");
        if (key == "sentinels") return detail::find_field("sentinel", "addresses");
        if (key == "tls_listen") return detail::find_field("tls", "listen");
        return nullptr;
    }

    // A top-level key written in a [[pool]] (threads, level, ...) is the process's, not a
    // pool's: say where it belongs rather than only "unknown key".
    static std::optional<std::string> process_wide_hint(const std::string& key) {
        std::vector<std::string> owners;
        for (const Field& field : detail::fields())
            if (field.key == key) owners.push_back(detail::dotted_name(field));
        if (owners.empty()) return std::nullopt;
        std::string sections;
        for (const std::string& owner : owners)
            sections += (sections.empty() ? "[" : " or [") + owner.substr(0, owner.find('.')) + "]";
        return "not a per-pool key: " + join(owners) +
               (owners.size() == 1 ? " applies" : " apply") + " to the whole process; set it in " +
               sections;
    }

    inline static const std::vector<std::string> kPoolKeys = {
        "name", "master", "listen", "read_from", "sentinels", "tls_listen"};

    void load_section(const std::string& section, const toml::table& table) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const Field* field = detail::find_field(section, name);
            if (field == nullptr) {
                std::vector<std::string> keys;
                for (const Field& known : detail::fields()) {
                    if (known.section == section) keys.emplace_back(known.key);
                }
                fail(key.source(), section + "." + name,
                     "unknown key" + suggestion(name, keys, section + ".") + " (known keys in [" +
                         section + "]: " + join(keys) + ")");
            }
            load_value(*field, node, config_, detail::dotted_name(*field));
        }
    }

    void load_value(const Field& field, const toml::node& node, Config& target,
                    const std::string& name) {
        try {
            switch (field.kind) {
                case Kind::boolean:
                    if (!node.is_boolean()) wrong_type(field, node);
                    detail::assign_bool(target, field, node.as_boolean()->get());
                    return;
                case Kind::uint32:
                case Kind::uint64:
                    if (!node.is_integer()) wrong_type(field, node);
                    detail::assign_integer(target, field, node.as_integer()->get());
                    return;
                case Kind::uint32_or_auto:
                    if (node.is_integer()) {
                        detail::assign_integer(target, field, node.as_integer()->get());
                        return;
                    }
                    if (!node.is_string()) wrong_type(field, node);
                    detail::assign_string(target, field, node.as_string()->get());
                    return;
                case Kind::address_list:
                    if (const toml::array* array = node.as_array()) {
                        load_addresses(field, *array, target, name);
                        return;
                    }
                    if (!node.is_string()) wrong_type(field, node);
                    detail::assign_string(target, field, node.as_string()->get());
                    return;
                default:
                    if (!node.is_string()) wrong_type(field, node);
                    detail::assign_string(target, field, node.as_string()->get());
                    return;
            }
        } catch (const std::invalid_argument& e) {
            fail(node.source(), name, e.what());
        }
    }

    void load_addresses(const Field& field, const toml::array& array, Config& target,
                        const std::string& list_name) {
        std::vector<HostPort> addresses;
        for (std::size_t i = 0; i < array.size(); ++i) {
            const toml::node& element = *array.get(i);
            const std::string name = list_name + "[" + std::to_string(i) + "]";
            if (!element.is_string()) {
                fail(element.source(), name,
                     "expected a \"host:port\" string, got " + std::string(type_name(element)));
            }
            try {
                addresses.push_back(parse_host_port(element.as_string()->get()));
            } catch (const std::invalid_argument& e) {
                fail(element.source(), name, e.what());
            }
        }
        // List-level problems (empty, duplicates) are reported at the array.
        detail::assign_addresses(target, field, std::move(addresses));
    }

    [[noreturn]] void wrong_type(const Field& field, const toml::node& node) {
        throw std::invalid_argument("expected " + std::string(detail::expected_type(field)) +
                                    ", got " + std::string(type_name(node)));
    }

    [[noreturn]] void fail(const toml::source_region& where, const std::string& key,
                           const std::string& reason) {
        std::string location = source_name_;
        if (where.begin.line > 0) location += ":" + std::to_string(where.begin.line);
        throw ConfigError(location + ": " + key + ": " + reason);
    }

    static std::vector<std::string> section_names() {
        return {detail::sections().begin(), detail::sections().end()};
    }

    static std::string join(const std::vector<std::string>& words) {
        std::string out;
        for (const std::string& word : words) out += (out.empty() ? "" : ", ") + word;
        return out;
    }

    static std::string suggestion(const std::string& word, const std::vector<std::string>& known,
                                  const std::string& prefix = "") {
        std::string match = detail::closest_match(word, known);
        return match.empty() ? "" : "; did you mean " + prefix + match + "?";
    }

    // A key written above every section header, e.g. "master = ..." instead of under
    // [sentinel]: suggest where it belongs.
    static std::string suggestion_for_top_level(const std::string& word) {
        for (const Field& field : detail::fields()) {
            if (field.key == word) return "; did you mean " + detail::dotted_name(field) + "?";
        }
        return "";
    }

    const std::string& source_name_;
    Config& config_;
};

}  // namespace

Config load_toml(const std::string& toml_text, const std::string& source_name, Config base) {
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        const auto& begin = e.source().begin;
        throw ConfigError(source_name + ":" + std::to_string(begin.line) + ":" +
                          std::to_string(begin.column) +
                          ": TOML syntax error: " + std::string(e.description()));
    }
    Loader(source_name, base).load(root);
    return base;
}

}  // namespace sp::config
