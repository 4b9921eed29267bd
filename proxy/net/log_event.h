// log_event: a log line that carries structured fields in the JSON format (log.format =
// json): the pool, the master and the event's own fields (from, to, held_ms, reason ...),
// so a log pipeline can select on them without parsing the message. Text lines show only
// the message, which says the same in words. The fields reach the formatter (logging.cpp,
// %F) through a thread_local pointer for the one synchronous spdlog call.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sp::proxy {

struct LogField {
    LogField(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
    LogField(std::string_view k, std::uint64_t v)
        : key(k), value(std::to_string(v)), number(true) {}
    std::string_view key;
    std::string value;
    bool number = false;  // written as a JSON number, not a string
};
using LogFields = std::vector<LogField>;

// Who a line is about: the pool and the master name it follows (config.pool_name,
// config.master_name), and what happened ("master_verified", "hold", ...).
inline LogFields log_context(const std::string& pool, const std::string& master,
                             std::string_view event) {
    return {{"pool", pool}, {"master", master}, {"event", std::string(event)}};
}

inline thread_local const LogFields* current_log_fields = nullptr;

// The data-plane worker whose thread logs (-1: the control loop, or the only loop before
// the workers start). With several workers, the same line (`listening on`, `sessions
// released`) comes once from each: the formatter names the worker (text: a trailing
// "(worker N)"; JSON: a "worker" field), so the lines can be told apart.
inline thread_local int log_worker = -1;

template <typename... Args>
void log_event(spdlog::level::level_enum level, const LogFields& fields,
               spdlog::format_string_t<Args...> fmt, Args&&... args) {
    if (!spdlog::should_log(level)) return;
    current_log_fields = &fields;
    spdlog::log(level, fmt, std::forward<Args>(args)...);
    current_log_fields = nullptr;
}

}  // namespace sp::proxy
