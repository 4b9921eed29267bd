#include "proxy/session/loop_context.h"

#include <spdlog/spdlog.h>

#include "proxy/backend/backend_pool.h"

namespace sp::proxy {

LoopContext::LoopContext(uv_loop_t* loop, const config::Config& config, Topology& topology)
    : loop_(loop),
      config_(config),
      topology_(topology),
      pool_(std::make_unique<BackendPool>(
          loop, config.shared_links, BackendCredentials{config.redis_user, config.redis_password},
          config.connect_timeout_ms)) {}

LoopContext::~LoopContext() = default;

void LoopContext::set_config(const config::Config& config) {
    config_ = config;
    pool_->set_credentials({config.redis_user, config.redis_password});
    pool_->set_links_per_master(config.shared_links);
}

void LoopContext::refresh_commands(const std::string& raw_command_reply) {
    std::size_t before = commands_.size();
    std::size_t learned = commands_.refresh_from_command_reply(raw_command_reply);
    spdlog::info(
        "command table refreshed from the master's COMMAND: {} entries learned, {} known ({} new)",
        learned, commands_.size(), commands_.size() - before);
}

}  // namespace sp::proxy
