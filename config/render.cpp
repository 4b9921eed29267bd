// render_masked: the effective configuration as TOML that load_toml reads back.
#include <string>

#include "config/config.h"
#include "config/fields.h"
#include "config/string_literal.h"

namespace sp::config {

std::string render_masked(const Config& config) {
    std::string out = "# sentinel-proxy effective configuration (secrets masked)\n";
    if (config.config_file) {
        out += "# configuration file: " + *config.config_file + "\n";
    }
    for (std::string_view section : detail::sections()) {
        out += "\n[" + std::string(section) + "]\n";
        for (const detail::Field& field : detail::fields()) {
            if (field.section != section) continue;
            out += std::string(field.key) + " = " + detail::render_value(config, field, true);
            if (field.kind == detail::Kind::optional_address && !config.admin_listen) {
                out += "  # disabled";
            }
            out += "\n";
        }
    }
    for (const PoolConfig& pool : config.pools) {
        out += "\n[[pool]]\n";
        out += "name = " + string_literal(pool.name) + "\n";
        out += "master = " + string_literal(pool.master_name) + "\n";
        std::string listen;
        for (const HostPort& address : pool.listen)
            listen += (listen.empty() ? "" : ", ") + string_literal(address.str());
        out += "listen = [" + listen + "]\n";
        if (!pool.tls_listen.empty()) {
            std::string tls;
            for (const HostPort& address : pool.tls_listen)
                tls += (tls.empty() ? "" : ", ") + string_literal(address.str());
            out += "tls_listen = [" + tls + "]\n";
        }
        if (pool.read_routing) {
            out += std::string("read_from = \"") + read_routing_name(*pool.read_routing) + "\"\n";
        }
        if (!pool.sentinels.empty()) {
            std::string sentinels;
            for (const HostPort& address : pool.sentinels)
                sentinels += (sentinels.empty() ? "" : ", ") + string_literal(address.str());
            out += "sentinels = [" + sentinels + "]\n";
        }
    }
    return out;
}

}  // namespace sp::config
