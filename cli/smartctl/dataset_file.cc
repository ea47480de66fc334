#include "cli/smartctl/dataset_file.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/output.h"

namespace smartby::smartctl {
namespace {

namespace v1 = smartcity::catalogue::v1;

using google::protobuf::Struct;
using google::protobuf::Value;

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::stringstream buffer;
  if (path == "-") {
    buffer << std::cin.rdbuf();
    return buffer.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return LocalError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  buffer << in.rdbuf();
  return buffer.str();
}

Value YamlToValue(const YAML::Node& node) {
  Value value;
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Struct* fields = value.mutable_struct_value();
      for (const auto& entry : node) {
        (*fields->mutable_fields())[entry.first.as<std::string>()] = YamlToValue(entry.second);
      }
      break;
    }
    case YAML::NodeType::Sequence:
      value.mutable_list_value();
      for (const auto& item : node) *value.mutable_list_value()->add_values() = YamlToValue(item);
      break;
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      const std::string lower = absl::AsciiStrToLower(text);
      if (node.Tag() == "!") {  // quoted: always a string
        value.set_string_value(text);
      } else if (lower == "true" || lower == "false") {
        value.set_bool_value(lower == "true");
      } else if (lower == "null" || text == "~") {
        value.set_null_value(google::protobuf::NULL_VALUE);
      } else {
        // Numbers stay strings: protobuf's JSON parser takes "3" for an int64 and "1.5" for a
        // double, and a string field keeps "0047" as written.
        value.set_string_value(text);
      }
      break;
    }
    default:
      value.set_null_value(google::protobuf::NULL_VALUE);
  }
  return value;
}

// Looks up `snake` or its lowerCamel spelling in `s`.
Value* FindKey(Struct& s, const std::string& snake) {
  auto& fields = *s.mutable_fields();
  if (auto it = fields.find(snake); it != fields.end()) return &it->second;
  std::string camel;
  bool upper = false;
  for (char c : snake) {
    if (c == '_') {
      upper = true;
    } else {
      camel += upper ? absl::ascii_toupper(c) : c;
      upper = false;
    }
  }
  if (auto it = fields.find(camel); it != fields.end()) return &it->second;
  return nullptr;
}

absl::Status NormalizeEnum(Value* value, const google::protobuf::EnumDescriptor* type,
                           const std::string& what, bool keep_case) {
  if (value == nullptr || value->kind_case() != Value::kStringValue) return absl::OkStatus();
  absl::StatusOr<int> number = ParseEnumValue(type, value->string_value(), what, keep_case);
  if (!number.ok()) return absl::InvalidArgumentError(number.status().message());
  value->set_string_value(type->FindValueByNumber(*number)->name());
  return absl::OkStatus();
}

// "2026-01-31" -> "2026-01-31T00:00:00Z", the form protobuf's JSON parser wants.
void NormalizeDate(Value* value) {
  if (value == nullptr || value->kind_case() != Value::kStringValue) return;
  const std::string& s = value->string_value();
  if (s.size() == 10 && s[4] == '-' && s[7] == '-') value->set_string_value(s + "T00:00:00Z");
}

// Rewrites the friendly forms in one dataset object to what protobuf's JSON parser accepts.
absl::Status Normalize(Struct& dataset) {
  SMARTCTL_RETURN_IF_ERROR(NormalizeEnum(FindKey(dataset, "classification"),
                                         smartcity::common::v1::Classification_descriptor(),
                                         "classification", false));
  SMARTCTL_RETURN_IF_ERROR(NormalizeEnum(FindKey(dataset, "update_frequency"),
                                         v1::UpdateFrequency_descriptor(), "update_frequency",
                                         false));
  SMARTCTL_RETURN_IF_ERROR(
      NormalizeEnum(FindKey(dataset, "state"), v1::DatasetState_descriptor(), "state", false));
  if (Value* themes = FindKey(dataset, "themes");
      themes != nullptr && themes->kind_case() == Value::kListValue) {
    for (Value& theme : *themes->mutable_list_value()->mutable_values()) {
      SMARTCTL_RETURN_IF_ERROR(NormalizeEnum(&theme, v1::Theme_descriptor(), "themes", true));
    }
  }
  if (Value* fields = FindKey(dataset, "fields");
      fields != nullptr && fields->kind_case() == Value::kListValue) {
    int i = 0;
    for (Value& field : *fields->mutable_list_value()->mutable_values()) {
      if (field.kind_case() == Value::kStructValue) {
        SMARTCTL_RETURN_IF_ERROR(NormalizeEnum(FindKey(*field.mutable_struct_value(), "type"),
                                               v1::FieldType_descriptor(),
                                               absl::StrCat("fields[", i, "].type"), false));
      }
      ++i;
    }
  }
  if (Value* personal = FindKey(dataset, "contains_personal_data");
      personal != nullptr && personal->kind_case() == Value::kStringValue) {
    const std::string lower = absl::AsciiStrToLower(personal->string_value());
    if (lower == "yes" || lower == "ja") personal->set_bool_value(true);
    if (lower == "no" || lower == "nei") personal->set_bool_value(false);
  }
  if (Value* ros = FindKey(dataset, "risk_assessment");
      ros != nullptr && ros->kind_case() == Value::kStructValue) {
    NormalizeDate(FindKey(*ros->mutable_struct_value(), "assessed_time"));
  }
  if (Value* temporal = FindKey(dataset, "temporal");
      temporal != nullptr && temporal->kind_case() == Value::kStructValue) {
    NormalizeDate(FindKey(*temporal->mutable_struct_value(), "start_time"));
    NormalizeDate(FindKey(*temporal->mutable_struct_value(), "end_time"));
  }
  return absl::OkStatus();
}

// The datasets a document holds: itself, its `datasets:` list, or its elements.
absl::Status CollectDatasets(const Value& document, std::vector<Value>& out) {
  if (document.kind_case() == Value::kNullValue) return absl::OkStatus();
  if (document.kind_case() == Value::kListValue) {
    for (const Value& item : document.list_value().values()) out.push_back(item);
    return absl::OkStatus();
  }
  if (document.kind_case() != Value::kStructValue) {
    return absl::InvalidArgumentError("expected a dataset (a mapping of fields) or a list of them");
  }
  const auto& fields = document.struct_value().fields();
  if (auto it = fields.find("datasets"); it != fields.end() && fields.size() == 1) {
    if (it->second.kind_case() != Value::kListValue) {
      return absl::InvalidArgumentError("datasets: expected a list");
    }
    for (const Value& item : it->second.list_value().values()) out.push_back(item);
    return absl::OkStatus();
  }
  out.push_back(document);
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckUtf8(const std::string& text, const std::string& name) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = ++i;
      continue;
    }
    size_t length = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      min = 0x10000;
    }
    bool ok = length > 0 && i + length <= text.size();
    uint32_t code = ok ? (c & (0x7F >> length)) : 0;
    for (size_t k = 1; ok && k < length; ++k) {
      const unsigned char next = text[i + k];
      if ((next & 0xC0) != 0x80) ok = false;
      code = (code << 6) | (next & 0x3F);
    }
    if (ok && (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))) ok = false;
    if (!ok) {
      return LocalError(absl::StrFormat(
          "%s: line %d is not valid UTF-8 (byte 0x%02X at column %d); the file is probably "
          "Latin-1 or Windows-1252 — save it as UTF-8, e.g. "
          "iconv -f latin1 -t utf-8 %s > new.yaml",
          name, line, c, DisplayWidth(text.substr(line_start, i - line_start)) + 1, name));
    }
    i += length;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DatasetDocument>> ReadDatasetFile(const std::string& path) {
  const std::string name = path == "-" ? "standard input" : path;
  absl::StatusOr<std::string> text = ReadAll(path);
  if (!text.ok()) return text.status();
  if (absl::StartsWith(*text, "\xEF\xBB\xBF")) text->erase(0, 3);  // a byte-order mark
  if (absl::Status utf8 = CheckUtf8(*text, name); !utf8.ok()) return utf8;

  std::vector<Value> documents;
  if (absl::EndsWithIgnoreCase(path, ".json")) {
    Value document;
    auto parsed = google::protobuf::util::JsonStringToMessage(*text, &document);
    if (!parsed.ok()) {
      return LocalError(absl::StrCat(name, ": not valid JSON: ", parsed.message().ToString()));
    }
    documents.push_back(std::move(document));
  } else {
    try {
      for (const YAML::Node& node : YAML::LoadAll(*text)) documents.push_back(YamlToValue(node));
    } catch (const YAML::Exception& e) {
      return LocalError(absl::StrCat(name, ": line ", e.mark.line + 1, ": ", e.msg));
    }
  }

  std::vector<Value> datasets;
  for (const Value& document : documents) {
    if (absl::Status s = CollectDatasets(document, datasets); !s.ok()) {
      return LocalError(absl::StrCat(name, ": ", s.message()));
    }
  }
  if (datasets.empty()) return LocalError(absl::StrCat(name, ": holds no dataset"));

  std::vector<DatasetDocument> result;
  for (size_t i = 0; i < datasets.size(); ++i) {
    DatasetDocument doc;
    doc.origin = datasets.size() == 1 ? name : absl::StrCat(name, ", dataset ", i + 1);
    Value& value = datasets[i];
    if (value.kind_case() != Value::kStructValue) {
      return LocalError(absl::StrCat(doc.origin, ": expected a dataset (a mapping of fields)"));
    }
    if (absl::Status s = Normalize(*value.mutable_struct_value()); !s.ok()) {
      return LocalError(absl::StrCat(doc.origin, ": ", s.message()));
    }
    const auto* descriptor = v1::Dataset::descriptor();
    for (const auto& [key, unused] : value.struct_value().fields()) {
      const auto* field = descriptor->FindFieldByName(key);
      if (field == nullptr) field = descriptor->FindFieldByCamelcaseName(key);
      if (field != nullptr) doc.fields.insert(field->name());
    }
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(value, &json);
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto parsed = google::protobuf::util::JsonStringToMessage(json, &doc.dataset, options);
    if (!parsed.ok()) {
      std::string origin = doc.origin;
      if (const auto& f = value.struct_value().fields();
          f.count("name") && f.at("name").kind_case() == Value::kStringValue) {
        origin = absl::StrCat(origin, " (", f.at("name").string_value(), ")");
      }
      return LocalError(absl::StrCat(origin, ": ", parsed.message().ToString()));
    }
    result.push_back(std::move(doc));
  }
  return result;
}

}  // namespace smartby::smartctl
