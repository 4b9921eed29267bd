// render_masked: the effective configuration as TOML that load_toml reads back.
#include <string>

#include "config/config.h"
#include "config/fields.h"

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
        out += "name = " + detail::toml_quote(pool.name) + "\n";
        out += "master = " + detail::toml_quote(pool.master_name) + "\n";
        std::string listen;
        for (const HostPort& address : pool.listen)
            listen += (listen.empty() ? "" : ", ") + detail::toml_quote(address.str());
        out += "listen = [" + listen + "]\n";
        if (!pool.tls_listen.empty()) {
            std::string tls;
            for (const HostPort& address : pool.tls_listen)
                tls += (tls.empty() ? "" : ", ") + detail::toml_quote(address.str());
            out += "tls_listen = [" + tls + "]\n";
        }
        if (pool.read_routing) {
            out += std::string("read_from = \"") + read_routing_name(*pool.read_routing) + "\"\n";
        }
        if (!pool.sentinels.empty()) {
            std::string sentinels;
            for (const HostPort& address : pool.sentinels)
                sentinels += (sentinels.empty() ? "" : ", ") + detail::toml_quote(address.str());
            out += "sentinels = [" + sentinels + "]\n";
        }
    }
    return out;
}

}  // namespace sp::config
