#include "proxy/sentinel/problem_log.h"

#include <spdlog/spdlog.h>

namespace sp::proxy {

bool ProblemLog::report(std::uint64_t now_ms, const std::string& node, const std::string& cause,
                        const std::string& message) {
    const std::string key = node + "|" + cause;
    auto it = entries_.find(key);
    if (it != entries_.end() && now_ms - it->second.logged_ms < every_ms_) {
        ++it->second.suppressed;
        return false;
    }
    if (it == entries_.end()) {
        if (entries_.size() >= kMaxEntries) entries_.clear();  // bounded; worst case: logs again
        it = entries_.emplace(key, Entry{}).first;
    }
    if (it->second.suppressed > 0)
        spdlog::warn("{} ({} more like it in the last {} s)", message, it->second.suppressed,
                     (now_ms - it->second.logged_ms) / 1000);
    else
        spdlog::warn("{}", message);
    it->second.logged_ms = now_ms;
    it->second.suppressed = 0;
    return true;
}

}  // namespace sp::proxy
