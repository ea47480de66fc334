// JSON-lines logging: one object per line on stdout with ts, level, service, msg and any extra
// fields (request_id, method, code, duration_ms, subject, ...). Secrets are never passed here.
#ifndef SMARTBY_RUNTIME_LOG_H_
#define SMARTBY_RUNTIME_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>

#include "absl/strings/string_view.h"

namespace smartby::log {

using FieldValue = std::variant<std::string, int64_t, double, bool>;
using Field = std::pair<std::string, FieldValue>;

enum class Level { kDebug, kInfo, kWarn, kError };

// Set once at start-up, before any thread logs.
void Init(absl::string_view service, Level min_level);
bool ParseLevel(absl::string_view text, Level* level);

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields = {});
inline void Info(absl::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kInfo, msg, fields);
}
inline void Warn(absl::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kWarn, msg, fields);
}
inline void Error(absl::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, msg, fields);
}

// Sends libprotobuf's own log messages through this logger (one JSON line each) instead of
// stderr. Call once at start-up.
void RouteProtobufLogs();

// The last "invalid UTF-8" parse error libprotobuf reported on this thread, cleared by the call;
// "" when there is none. It names the offending field, e.g. "smartcity.catalogue.v1.Dataset.title".
std::string TakeInvalidUtf8Field();

// Escapes `text` as the inside of a JSON string (no quotes added). Invalid UTF-8 bytes become
// U+FFFD so a log line is always valid JSON.
std::string JsonEscape(absl::string_view text);

}  // namespace smartby::log

#endif  // SMARTBY_RUNTIME_LOG_H_
