// Internal to config/: applying the SENTINEL_PROXY_* environment layer.
#pragma once

#include <string_view>

#include "config/config.h"

namespace sp::config::detail {

inline constexpr std::string_view kEnvPrefix = "SENTINEL_PROXY_";
inline constexpr std::string_view kConfigFileVariable = "SENTINEL_PROXY_CONFIG";

// Throws ConfigError naming the first SENTINEL_PROXY_* variable that is not a known key
// (SENTINEL_PROXY_CONFIG is known: it names the file). Kubernetes service-link variables
// (is_service_link) that are not keys are ignored.
void check_environment_names(const Environment& env);

// Checks the names, then applies every SENTINEL_PROXY_<SECTION>_<KEY> variable to `config`.
void apply_environment(Config& config, const Environment& env);

}  // namespace sp::config::detail
