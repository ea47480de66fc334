#include "services/runtime/log.h"

#include <cstdio>
#include <mutex>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/runtime/utf8.h"

namespace smartby::log {
namespace {

std::string g_service = "smartby";
Level g_min_level = Level::kInfo;
std::mutex g_write_mu;

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}


void AppendValue(std::string& out, const FieldValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    absl::StrAppend(&out, "\"", JsonEscape(*s), "\"");
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    absl::StrAppend(&out, *i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    absl::StrAppend(&out, absl::StrFormat("%.3f", *d));
  } else if (const auto* b = std::get_if<bool>(&value)) {
    out += *b ? "true" : "false";
  }
}

thread_local std::string t_invalid_utf8_field;

void ProtobufLogHandler(google::protobuf::LogLevel level, const char* filename, int line,
                        const std::string& message) {
  // "String field 'pkg.Message.field' contains invalid UTF-8 data when parsing ..."
  static constexpr char kPrefix[] = "String field '";
  if (message.rfind(kPrefix, 0) == 0 && message.find("invalid UTF-8") != std::string::npos) {
    const size_t start = sizeof(kPrefix) - 1;
    const size_t end = message.find('\'', start);
    if (end != std::string::npos) t_invalid_utf8_field = message.substr(start, end - start);
  }
  const Level ours = level >= google::protobuf::LOGLEVEL_ERROR ? Level::kError
                     : level == google::protobuf::LOGLEVEL_WARNING ? Level::kWarn
                                                                   : Level::kInfo;
  Write(ours, message, {{"source", std::string("libprotobuf")},
                        {"file", std::string(filename)}, {"line", int64_t{line}}});
}

}  // namespace

void RouteProtobufLogs() { google::protobuf::SetLogHandler(&ProtobufLogHandler); }

std::string TakeInvalidUtf8Field() {
  std::string field;
  field.swap(t_invalid_utf8_field);
  return field;
}

void Init(absl::string_view service, Level min_level) {
  g_service = std::string(service);
  g_min_level = min_level;
}

bool ParseLevel(absl::string_view text, Level* level) {
  if (text == "debug") *level = Level::kDebug;
  else if (text == "info") *level = Level::kInfo;
  else if (text == "warn") *level = Level::kWarn;
  else if (text == "error") *level = Level::kError;
  else return false;
  return true;
}

std::string JsonEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t start = i;
      if (utf8::Next(text, i)) {
        out.append(text.data() + start, i - start);
      } else {
        utf8::Append(utf8::kReplacementCharacter, out);
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += absl::StrFormat("\\u%04x", c);
        else out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields) {
  if (level < g_min_level) return;
  std::string line = absl::StrCat(
      "{\"ts\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      "\",\"level\":\"", LevelName(level), "\",\"service\":\"", JsonEscape(g_service),
      "\",\"msg\":\"", JsonEscape(msg), "\"");
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, ",\"", JsonEscape(key), "\":");
    AppendValue(line, value);
  }
  line += "}\n";
  std::lock_guard<std::mutex> lock(g_write_mu);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace smartby::log
