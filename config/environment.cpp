// The SENTINEL_PROXY_* environment layer.
#include "config/environment.h"

#include <algorithm>
#include <string>
#include <vector>

#include "config/fields.h"
#include "config/service_link.h"

extern char** environ;

namespace sp::config {

Environment current_environment() {
    Environment env;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        std::string_view text = *entry;
        if (!text.starts_with(detail::kEnvPrefix)) continue;
        auto equals = text.find('=');
        if (equals == std::string_view::npos) continue;
        env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
    }
    return env;
}

namespace detail {

void check_environment_names(const Environment& env) {
    std::vector<std::string> known{std::string(kConfigFileVariable)};
    for (const Field& field : fields()) known.push_back(env_name(field));
    for (const auto& [name, value] : env) {
        if (!name.starts_with(kEnvPrefix)) continue;
        if (std::find(known.begin(), known.end(), name) != known.end()) continue;
        // Kubernetes injects these for any Service named sentinel-proxy*; not ours to read.
        if (is_service_link(name, value)) continue;
        std::string message = "unknown environment variable " + name;
        std::string match = closest_match(name, known);
        if (!match.empty()) message += "; did you mean " + match + "?";
        throw ConfigError(message);
    }
}

void apply_environment(Config& config, const Environment& env) {
    check_environment_names(env);
    for (const Field& field : fields()) {
        auto found = env.find(env_name(field));
        if (found == env.end()) continue;
        try {
            assign_text(config, field, found->second);
        } catch (const std::invalid_argument& e) {
            throw ConfigError("environment variable " + found->first + ": " + dotted_name(field) +
                              ": " + e.what());
        }
    }
}

}  // namespace detail
}  // namespace sp::config
