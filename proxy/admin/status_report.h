// The /status document: a JSON view of each pool's topology as the proxy sees it (the
// verified master and since when, replicas, each sentinel link and what it last named,
// the last master switch, client counts, and each worker loop's clients). For people and
// scripts; /metrics is for dashboards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/admin/admin_figures.h"

namespace sp::proxy {

class Pool;

std::string status_json(const std::vector<const Pool*>& pools, const AdminFigures& figures,
                        std::uint64_t now_ms, bool draining);

// JSON string literal with escapes (config::string_literal: the same as TOML's).
std::string json_quote(const std::string& text);

}  // namespace sp::proxy
