#include "proxy/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace sp::proxy {

void setup_logging(const config::Config& config) {
    auto logger = spdlog::stderr_logger_mt("sentinel-proxy");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(config.log_level));
    if (config.log_format == config::LogFormat::json) {
        // One JSON object per line. Messages are ours and never carry secrets or quotes
        // from user data unescaped: client input is never logged verbatim.
        spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%v"})");
    } else {
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    }
    spdlog::flush_on(spdlog::level::info);
}

}  // namespace sp::proxy
