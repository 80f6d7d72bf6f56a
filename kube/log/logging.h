// Logging setup for both binaries: one spdlog logger named after the
// component, writing human-readable text or one JSON object per line
// ({"ts","level","logger","msg"}) for log pipelines. Library code logs
// through spdlog's default logger (spdlog::info(...)), which InitLogging sets.
//
// Thread-safety: InitLogging replaces the process-wide default logger; call it
// from main before other threads log. The loggers built here are thread-safe.
#ifndef HF_KUBE_LOG_LOGGING_H_
#define HF_KUBE_LOG_LOGGING_H_

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/common.h>
#include <spdlog/logger.h>

#include "kube/status.h"

namespace hf::kube {

struct LogOptions {
  std::string level = "info";   // debug | info | warn | error
  std::string format = "text";  // text | json
  std::string component;        // required: the logger name, e.g. "devicepool-agent"
};

// Parses a --log-level value; Invalid names the accepted values.
StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view level);
// For checking flags before InitLogging: debug|info|warn|error, text|json.
bool IsLogLevel(std::string_view level);
bool IsLogFormat(std::string_view format);

// A logger per `options` writing to `sink` (which it then owns the format
// of); touches no global state, so tests pass an in-memory sink.
StatusOr<std::shared_ptr<spdlog::logger>> NewLogger(const LogOptions& options,
                                                    spdlog::sink_ptr sink);

// NewLogger over stderr, installed as spdlog's default logger.
Status InitLogging(const LogOptions& options);

}  // namespace hf::kube

#endif  // HF_KUBE_LOG_LOGGING_H_
