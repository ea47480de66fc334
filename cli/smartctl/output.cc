#include "cli/smartctl/output.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "cli/smartctl/client.h"
#include "cli/smartctl/errors.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace smartby::smartctl {
namespace {

void PadTo(std::ostream& out, const std::string& text, size_t width) {
  out << text;
  for (size_t w = DisplayWidth(text); w < width; ++w) out << ' ';
}

// The prefix shared by the values of a proto enum: "CLASSIFICATION_" from
// CLASSIFICATION_UNSPECIFIED.
std::string EnumPrefix(const google::protobuf::EnumDescriptor* type) {
  const auto* zero = type->FindValueByNumber(0);
  if (zero != nullptr && absl::EndsWith(zero->name(), "UNSPECIFIED")) {
    return zero->name().substr(0, zero->name().size() - std::string("UNSPECIFIED").size());
  }
  return "";
}

// Norwegian names of classes, as people in the municipalities say them.
int ClassificationAlias(const std::string& lower) {
  if (lower == "åpen" || lower == "apen" || lower == "aapen") return 1;
  if (lower == "intern") return 2;
  if (lower == "beskyttet") return 3;
  if (lower == "strengt-beskyttet" || lower == "strengt beskyttet" ||
      lower == "strengt_beskyttet") {
    return 4;
  }
  return -1;
}

// True for strings YAML would read as a boolean or null. (Strings of digits stay plain: int64
// fields are strings in proto JSON, and `version: 3` reads better than `version: "3"`; smartctl
// reads such scalars back as strings either way.)
bool LooksLikeNonString(const std::string& s) {
  if (s.empty()) return true;
  const std::string lower = absl::AsciiStrToLower(s);
  static const char* const kWords[] = {"true", "false", "null", "~", "yes",
                                       "no",   "on",    "off",  "y", "n"};
  for (const char* word : kWords) {
    if (lower == word) return true;
  }
  return false;
}

void EmitYaml(const YAML::Node& node, YAML::Emitter& out) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      if (node.size() == 0) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& entry : node) {
        out << YAML::Key << entry.first.as<std::string>() << YAML::Value;
        EmitYaml(entry.second, out);
      }
      out << YAML::EndMap;
      return;
    case YAML::NodeType::Sequence:
      if (node.size() == 0) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& item : node) EmitYaml(item, out);
      out << YAML::EndSeq;
      return;
    case YAML::NodeType::Scalar: {
      const std::string value = node.Scalar();
      // Quoted in the JSON ("!" tag) means a string; keep it a string in YAML too.
      if (node.Tag() == "!" && LooksLikeNonString(value)) {
        out << YAML::DoubleQuoted << value;
      } else {
        out << value;
      }
      return;
    }
    default:
      out << YAML::Null;
  }
}

void AppendJsonString(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void AppendJson(const YAML::Node& node, int indent, std::string& out) {
  const std::string pad(indent + 2, ' ');
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      if (node.size() == 0) {
        out += "{}";
        return;
      }
      out += "{\n";
      bool first = true;
      for (const auto& entry : node) {
        if (!first) out += ",\n";
        first = false;
        out += pad;
        AppendJsonString(entry.first.as<std::string>(), out);
        out += ": ";
        AppendJson(entry.second, indent + 2, out);
      }
      absl::StrAppend(&out, "\n", std::string(indent, ' '), "}");
      return;
    }
    case YAML::NodeType::Sequence: {
      if (node.size() == 0) {
        out += "[]";
        return;
      }
      out += "[\n";
      bool first = true;
      for (const auto& item : node) {
        if (!first) out += ",\n";
        first = false;
        out += pad;
        AppendJson(item, indent + 2, out);
      }
      absl::StrAppend(&out, "\n", std::string(indent, ' '), "]");
      return;
    }
    case YAML::NodeType::Scalar: {
      const std::string& value = node.Scalar();
      if (node.Tag() != "!" && (value == "true" || value == "false")) {
        out += value;
      } else {
        AppendJsonString(value, out);
      }
      return;
    }
    default:
      out += "null";
  }
}

}  // namespace

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size(), 0);
  for (size_t i = 0; i < headers_.size(); ++i) widths[i] = DisplayWidth(headers_[i]);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::ostringstream line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : "";
      if (i + 1 == widths.size()) {
        line << cell;
      } else {
        PadTo(line, cell, widths[i] + 3);
      }
    }
    std::string text = line.str();
    text.erase(text.find_last_not_of(' ') + 1);  // no trailing blanks when the last cell is empty
    out << text << "\n";
  };
  print_row(headers_);
  for (const auto& row : rows_) print_row(row);
}

void Details::Add(std::string key, std::string value) {
  lines_.emplace_back(std::move(key), std::move(value));
}

void Details::Print(std::ostream& out) const {
  size_t width = 0;
  for (const auto& [key, value] : lines_) width = std::max(width, DisplayWidth(key) + 1);
  for (const auto& [key, value] : lines_) {
    PadTo(out, key + ":", width + 2);
    // Continuation lines of a multi-line value line up under its first line.
    out << absl::StrReplaceAll(value, {{"\n", absl::StrCat("\n", std::string(width + 2, ' '))}})
        << "\n";
  }
}

std::string MessageToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a well-formed message cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string JsonToYaml(const std::string& json) {
  YAML::Emitter out;
  out.SetIndent(2);
  try {
    EmitYaml(YAML::Load(json), out);
  } catch (const YAML::Exception&) {
    return json;  // not expected: every JSON we print is YAML
  }
  return absl::StrCat(out.c_str(), "\n");
}

std::string YamlNodeToJson(const YAML::Node& node) {
  std::string out;
  AppendJson(node, 0, out);
  out += "\n";
  return out;
}

void PrintMessage(const google::protobuf::Message& message, OutputFormat format,
                  std::ostream& out) {
  const std::string json = MessageToJson(message);
  if (format == OutputFormat::kYaml) {
    out << JsonToYaml(json);
  } else {
    out << json;
    if (json.empty() || json.back() != '\n') out << "\n";
  }
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));  // also turns -0 into 0
  }
  char buffer[64];
  const std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general, 12);
  return std::string(buffer, result.ptr);
}

std::string FormatDurationShort(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return "0s";
  absl::Duration rest;
  const int64_t days = absl::IDivDuration(d, absl::Hours(24), &rest);
  if (days == 0) return absl::FormatDuration(d);
  return absl::StrCat(days, "d", rest > absl::ZeroDuration() ? absl::FormatDuration(rest) : "");
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t seconds = absl::ToUnixSeconds(t);
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
  return ts;
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::string QuoteIfNeeded(const std::string& s) {
  bool needs = s.empty();
  for (unsigned char c : s) {
    if (c <= ' ' || c == '"' || c == '=' || c == 0x7f) needs = true;
  }
  if (!needs) return s;
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < ' ' || c == 0x7f) {
          absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string MessageToCompactJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

std::string ShortEnumName(const google::protobuf::EnumDescriptor* type, int value, bool keep_case) {
  const auto* v = type->FindValueByNumber(value);
  if (v == nullptr) return absl::StrCat(value);
  std::string name = v->name();
  const std::string prefix = EnumPrefix(type);
  if (!prefix.empty() && absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  if (value == 0) return "";
  if (keep_case) return name;
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"_", "-"}});
}

std::string EnumChoices(const google::protobuf::EnumDescriptor* type, bool keep_case) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() == 0) continue;
    names.push_back(ShortEnumName(type, type->value(i)->number(), keep_case));
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<int> ParseEnumValue(const google::protobuf::EnumDescriptor* type,
                                   const std::string& text, const std::string& what,
                                   bool keep_case) {
  const std::string trimmed(absl::StripAsciiWhitespace(text));
  std::string upper = absl::AsciiStrToUpper(trimmed);
  absl::StrReplaceAll({{"-", "_"}, {" ", "_"}}, &upper);
  const std::string prefix = EnumPrefix(type);
  const google::protobuf::EnumValueDescriptor* value = type->FindValueByName(upper);
  if (value == nullptr) value = type->FindValueByName(prefix + upper);
  if (value == nullptr &&
      absl::StartsWith(type->full_name(), "smartcity.common.v1.Classification")) {
    const int alias = ClassificationAlias(absl::AsciiStrToLower(trimmed));
    if (alias > 0) value = type->FindValueByNumber(alias);
  }
  if (value == nullptr || value->number() == 0) {
    return UsageError(
        absl::StrCat(what, ": \"", text, "\" is not one of ", EnumChoices(type, keep_case)));
  }
  return value->number();
}

absl::Status CheckReachable(ServiceClient& client) {
  auto stub = grpc::health::v1::Health::NewStub(client.channel());
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(client.service().grpc_service);
  absl::StatusOr<grpc::health::v1::HealthCheckResponse> response = client.Call(
      *stub, &grpc::health::v1::Health::Stub::Check, request, CallOptions{.anonymous = true});
  if (!response.ok() && ExitCodeOf(response.status()) == kExitUnreachable) {
    return response.status();
  }
  return absl::OkStatus();
}

}  // namespace smartby::smartctl
