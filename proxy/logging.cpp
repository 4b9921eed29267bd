#include "proxy/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "proxy/admin/status_report.h"
#include "proxy/net/log_event.h"

namespace sp::proxy {

namespace {
// %j: the message as a quoted JSON string. Messages can carry quotes and control
// characters (configuration errors quote their values, peers send error texts), so the
// JSON-lines format must escape them; json_quote is the same escaping /status uses.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        std::string quoted = json_quote(std::string(msg.payload.data(), msg.payload.size()));
        dest.append(quoted.data(), quoted.data() + quoted.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonMessageFlag>();
    }
};

// %F: the worker that logs, if several run (`,"worker":N`), then the fields of a log_event
// call (pool, master, event, ...) as `,"key":value` pairs; nothing else for a plain call.
class JsonFieldsFlag : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg&, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        if (log_worker >= 0) {
            const std::string pair = ",\"worker\":" + std::to_string(log_worker);
            dest.append(pair.data(), pair.data() + pair.size());
        }
        if (!current_log_fields) return;
        for (const LogField& field : *current_log_fields) {
            std::string pair = "," + json_quote(std::string(field.key)) + ":" +
                               (field.number ? field.value : json_quote(field.value));
            dest.append(pair.data(), pair.data() + pair.size());
        }
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonFieldsFlag>();
    }
};

// %W: " (worker N)" on a worker thread's text lines; nothing on the control loop's.
class WorkerFlag : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg&, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        if (log_worker < 0) return;
        const std::string tag = " (worker " + std::to_string(log_worker) + ")";
        dest.append(tag.data(), tag.data() + tag.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<WorkerFlag>();
    }
};
}  // namespace

void setup_logging(const config::Config& config) {
    auto logger = spdlog::stderr_logger_mt("sentinel-proxy");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(config.log_level));
    if (config.log_format == config::LogFormat::json) {
        // One JSON object per line.
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<JsonMessageFlag>('j').add_flag<JsonFieldsFlag>('F').set_pattern(
            R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":%j%F})");
        spdlog::set_formatter(std::move(formatter));
    } else {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<WorkerFlag>('W').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v%W");
        spdlog::set_formatter(std::move(formatter));
    }
    spdlog::flush_on(spdlog::level::info);
}

}  // namespace sp::proxy
