#include "kube/log/logging.h"

#include <chrono>
#include <ctime>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace hf::kube {
namespace {

// The spelling --log-level accepts, so a JSON query can use the flag's words.
std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

// RFC 3339, UTC, milliseconds: "2026-01-01T00:00:00.000Z".
std::string Rfc3339Millis(spdlog::log_clock::time_point time) {
  const std::time_t seconds = spdlog::log_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", utc, millis);
}

// One JSON object per line. Serialised by nlohmann::json so every message
// (quotes, newlines, control bytes, invalid UTF-8) stays one valid line;
// spdlog's pattern flags would paste the message in unescaped.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const nlohmann::ordered_json line = {
        {"ts", Rfc3339Millis(msg.time)},
        {"level", LevelName(msg.level)},
        {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    const std::string text =
        line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view level) {
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  return Status(Reason::kInvalid,
                "unknown log level \"" + std::string(level) + "\": want debug, info, warn or error");
}

bool IsLogLevel(std::string_view level) { return ParseLogLevel(level).ok(); }
bool IsLogFormat(std::string_view format) { return format == "text" || format == "json"; }

StatusOr<std::shared_ptr<spdlog::logger>> NewLogger(const LogOptions& options,
                                                    spdlog::sink_ptr sink) {
  StatusOr<spdlog::level::level_enum> level = ParseLogLevel(options.level);
  if (!level.ok()) return level.status();
  std::unique_ptr<spdlog::formatter> formatter;
  if (options.format == "json") {
    formatter = std::make_unique<JsonFormatter>();
  } else if (options.format == "text") {
    formatter = std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ [%l] %n: %v",
                                                            spdlog::pattern_time_type::utc);
  } else {
    return Status(Reason::kInvalid,
                  "unknown log format \"" + options.format + "\": want text or json");
  }
  if (options.component.empty()) {
    return Status(Reason::kInvalid, "log component name must not be empty");
  }
  auto logger = std::make_shared<spdlog::logger>(options.component, std::move(sink));
  logger->set_formatter(std::move(formatter));
  logger->set_level(*level);
  return logger;
}

Status InitLogging(const LogOptions& options) {
  StatusOr<std::shared_ptr<spdlog::logger>> logger =
      NewLogger(options, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (!logger.ok()) return logger.status();
  spdlog::set_default_logger(*logger);
  return Status::Ok();
}

}  // namespace hf::kube
