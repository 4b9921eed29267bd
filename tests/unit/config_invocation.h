// For config/ tests: parse_invocation on a test's flags and environment, with a sentinel
// and a master name in front so that the configuration validates.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

inline sp::config::Invocation invoke_with(std::vector<std::string> args,
                                          const sp::config::Environment& env = {}) {
    args.insert(args.begin(), {"sentinel-proxy", "--sentinel", "127.0.0.1:26379", "--master", "m"});
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    return sp::config::parse_invocation(static_cast<int>(argv.size()), argv.data(), env);
}
