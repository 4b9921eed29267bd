// spdlog set-up: level and format (text or JSON lines) from the configuration.
#pragma once

#include "config/config.h"

namespace sp::proxy {
void setup_logging(const config::Config& config);
}
