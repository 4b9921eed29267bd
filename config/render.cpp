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
    return out;
}

}  // namespace sp::config
