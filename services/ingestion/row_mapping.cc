#include "services/ingestion/row_mapping.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/runtime/utf8.h"

namespace smartby::ingestion {
namespace {

using google::protobuf::Timestamp;

constexpr absl::string_view kSourceTarget = "source_id";
constexpr absl::string_view kTimeTarget = "time";
constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr size_t kExcerptBytes = 40;

enum class Role { kSkip, kSource, kTime, kField };

// A cell for a message: at most kExcerptBytes, cut at a character boundary, control characters
// and bytes that are not UTF-8 shown as '?'.
std::string Excerpt(absl::string_view text) {
  std::string out = "\"";
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    const std::optional<char32_t> cp = utf8::Next(text, i);
    if (i > kExcerptBytes) {
      out += "…";
      break;
    }
    if (!cp || *cp < 0x20 || *cp == 0x7F) {
      out.push_back('?');
    } else {
      out.append(text.data() + start, i - start);
    }
  }
  out.push_back('"');
  return out;
}

std::string ShowRaw(const RawValue& value) {
  switch (value.kind) {
    case RawValue::kText:
    case RawValue::kNumber: return Excerpt(value.text);
    case RawValue::kBool: return value.boolean ? "true" : "false";
    case RawValue::kGeoPoint: return "a position";
    case RawValue::kNull: break;
  }
  return "nothing";
}

bool IsEmpty(const RawValue& value) {
  return value.kind == RawValue::kNull || (value.kind == RawValue::kText && value.text.empty());
}

// "column \"Temp\"", or "column \"Temp\" (field water_temp)" when the names differ.
std::string ColumnLabel(absl::string_view column, absl::string_view field) {
  if (field.empty() || column == field) return absl::StrCat("column \"", column, "\"");
  return absl::StrCat("column \"", column, "\" (field ", field, ")");
}

// A values.h message starts "<field>: "; the file's reader thinks in columns.
Rejection ForColumn(Rejection rejection, absl::string_view column, absl::string_view field) {
  absl::string_view body = rejection.message;
  if (!absl::ConsumePrefix(&body, field) || !absl::ConsumePrefix(&body, ": ")) {
    body = rejection.message;
  }
  rejection.message = absl::StrCat(ColumnLabel(column, field), ": ", body);
  rejection.field = std::string(column);
  return rejection;
}

Rejection Reject(v1::RejectReason reason, absl::string_view column, std::string message) {
  return Rejection{reason, std::string(column), std::move(message)};
}

bool LooksNumeric(absl::string_view s) {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  return !s.empty() && (absl::ascii_isdigit(static_cast<unsigned char>(s.front())) ||
                        s.front() == '.');
}

// Seconds since 1970 as text: "1767225600", "-12", "1767225600.123456" (digits kept exactly, up to
// nanoseconds), or with an exponent ("1.7672256e9", read as a double and rounded to microseconds).
std::optional<Timestamp> ParseEpochSeconds(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  Timestamp t;
  if (s.find_first_of("eE") != absl::string_view::npos) {
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    double v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v) ||
        v < static_cast<double>(kMinTimestampSeconds) ||
        v > static_cast<double>(kMaxTimestampSeconds)) {
      return std::nullopt;
    }
    const auto micros = static_cast<int64_t>(std::llround(v * 1e6));
    int64_t seconds = micros / 1000000, rest = micros % 1000000;
    if (rest < 0) {
      rest += 1000000;
      --seconds;
    }
    t.set_seconds(seconds);
    t.set_nanos(static_cast<int32_t>(rest * 1000));
  } else {
    bool negative = false;
    if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
      negative = s.front() == '-';
      s.remove_prefix(1);
    }
    const size_t dot = s.find('.');
    const absl::string_view whole = s.substr(0, dot);
    const absl::string_view fraction =
        dot == absl::string_view::npos ? absl::string_view() : s.substr(dot + 1);
    if (whole.empty() && fraction.empty()) return std::nullopt;
    int64_t seconds = 0;
    if (!whole.empty()) {
      const auto r = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
      if (r.ec != std::errc() || r.ptr != whole.data() + whole.size() || seconds < 0) {
        return std::nullopt;
      }
    }
    int32_t nanos = 0;
    for (size_t k = 0; k < fraction.size(); ++k) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(fraction[k]))) return std::nullopt;
      if (k < 9) nanos = nanos * 10 + (fraction[k] - '0');
    }
    for (size_t k = fraction.size(); k < 9; ++k) nanos *= 10;
    if (negative) {
      seconds = -seconds;
      if (nanos > 0) {
        --seconds;
        nanos = 1000000000 - nanos;
      }
    }
    if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) return std::nullopt;
    t.set_seconds(seconds);
    t.set_nanos(nanos);
  }
  return t;
}

std::optional<Timestamp> ParseTimeCell(const RawValue& value) {
  if (value.kind == RawValue::kNumber) return ParseEpochSeconds(value.text);
  if (value.kind != RawValue::kText) return std::nullopt;
  const absl::string_view text = absl::StripAsciiWhitespace(value.text);
  if (LooksNumeric(text) && text.size() < 20) {
    if (std::optional<Timestamp> t = ParseEpochSeconds(text)) return t;
  }
  return ParseRfc3339(text);
}

Rejection WrongType(const catalogue_v1::SchemaField& field, absl::string_view expected,
                    const RawValue& value) {
  return Rejection{v1::REJECT_REASON_WRONG_TYPE, field.name(),
                   absl::StrCat(field.name(), ": expected ", expected, "; got ", ShowRaw(value))};
}

// One cell into the field's type. Messages name the field ("<field>: ..."), like values.h's.
std::optional<Rejection> ConvertCell(const catalogue_v1::SchemaField& field, const RawValue& value,
                                     bool decimal_comma, v1::Value* out) {
  const catalogue_v1::FieldType type = field.type();
  switch (value.kind) {
    case RawValue::kText:
      if (type == catalogue_v1::FIELD_TYPE_TIMESTAMP &&
          LooksNumeric(absl::StripAsciiWhitespace(value.text))) {
        if (std::optional<Timestamp> t = ParseEpochSeconds(value.text)) {
          *out->mutable_timestamp_value() = *t;
          return std::nullopt;
        }
      }
      return ParseFieldText(field, value.text, decimal_comma, out);
    case RawValue::kNumber:
      switch (type) {
        case catalogue_v1::FIELD_TYPE_INTEGER: {
          int64_t i = 0;
          const std::string& s = value.text;
          const auto r = std::from_chars(s.data(), s.data() + s.size(), i);
          if (r.ec == std::errc() && r.ptr == s.data() + s.size()) {
            out->set_integer_value(i);
            return std::nullopt;
          }
          // 12.0 and 1e3 are whole numbers too.
          double d = 0;
          const auto rd = std::from_chars(s.data(), s.data() + s.size(), d);
          if (rd.ec == std::errc() && rd.ptr == s.data() + s.size() && std::isfinite(d) &&
              d == std::trunc(d) && std::fabs(d) < 9.2e18) {
            out->set_integer_value(static_cast<int64_t>(d));
            return std::nullopt;
          }
          return WrongType(field, "a whole number such as -12", value);
        }
        case catalogue_v1::FIELD_TYPE_DOUBLE: {
          double d = 0;
          const std::string& s = value.text;
          const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
          if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(d)) {
            return WrongType(field, "a number that fits a double", value);
          }
          out->set_double_value(d);
          return std::nullopt;
        }
        case catalogue_v1::FIELD_TYPE_TIMESTAMP:
          if (std::optional<Timestamp> t = ParseEpochSeconds(value.text)) {
            *out->mutable_timestamp_value() = *t;
            return std::nullopt;
          }
          return WrongType(field, "seconds since 1970 or an RFC 3339 time", value);
        case catalogue_v1::FIELD_TYPE_STRING:
          out->set_string_value(value.text);
          return std::nullopt;
        case catalogue_v1::FIELD_TYPE_BOOLEAN:
          return ParseFieldText(field, value.text, false, out);
        default:
          break;
      }
      break;
    case RawValue::kBool:
      if (type == catalogue_v1::FIELD_TYPE_BOOLEAN) {
        out->set_bool_value(value.boolean);
        return std::nullopt;
      }
      break;
    case RawValue::kGeoPoint:
      if (type == catalogue_v1::FIELD_TYPE_GEOPOINT) {
        out->mutable_geo_value()->set_latitude(value.latitude);
        out->mutable_geo_value()->set_longitude(value.longitude);
        return std::nullopt;
      }
      break;
    case RawValue::kNull:
      return std::nullopt;
  }
  const char* expected = "a value of the field's type";
  switch (type) {
    case catalogue_v1::FIELD_TYPE_STRING: expected = "text"; break;
    case catalogue_v1::FIELD_TYPE_INTEGER: expected = "a whole number"; break;
    case catalogue_v1::FIELD_TYPE_DOUBLE: expected = "a number"; break;
    case catalogue_v1::FIELD_TYPE_BOOLEAN: expected = "true or false"; break;
    case catalogue_v1::FIELD_TYPE_TIMESTAMP: expected = "a time"; break;
    case catalogue_v1::FIELD_TYPE_GEOPOINT: expected = "a position (latitude, longitude)"; break;
    default: break;
  }
  return WrongType(field, expected, value);
}

// The field an unmapped GeoJSON "geometry" fills, or a rejection saying why there is none.
std::optional<Rejection> GeometryField(const DatasetSchema& schema, absl::string_view column,
                                       const catalogue_v1::SchemaField** out) {
  std::vector<absl::string_view> points;
  for (const catalogue_v1::SchemaField& f : schema.fields) {
    if (f.type() == catalogue_v1::FIELD_TYPE_GEOPOINT) {
      points.push_back(f.name());
      *out = &f;
    }
  }
  if (points.size() == 1) return std::nullopt;
  return Reject(
      v1::REJECT_REASON_UNKNOWN_FIELD, column,
      points.empty()
          ? absl::StrCat("column \"", column, "\": dataset \"", schema.name,
                         "\" has no position field; leave the geometry out (mapping ", column,
                         "=)")
          : absl::StrCat("column \"", column, "\": dataset \"", schema.name,
                         "\" has several position fields (", absl::StrJoin(points, ", "),
                         "); map the geometry to one (mapping ", column, "=", points.front(),
                         ")"));
}

}  // namespace

absl::StatusOr<ColumnMapping> ColumnMapping::Parse(absl::string_view text) {
  ColumnMapping mapping;
  absl::flat_hash_map<std::string, std::string> column_of_target;
  for (absl::string_view entry : absl::StrSplit(text, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("mapping: \"", entry,
                       "\" has no '='; write column=field, for example Temp=water_temp"));
    }
    const std::string column(absl::StripAsciiWhitespace(entry.substr(0, eq)));
    const std::string target(absl::StripAsciiWhitespace(entry.substr(eq + 1)));
    if (column.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mapping: \"", entry, "\" names no column before the '='"));
    }
    if (!mapping.columns.emplace(column, target).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("mapping: column \"", column, "\" is mapped twice"));
    }
    if (!target.empty()) {
      auto [it, inserted] = column_of_target.emplace(target, column);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat("mapping: columns \"", it->second,
                                                       "\" and \"", column,
                                                       "\" are both mapped to ", target));
      }
    }
  }
  return mapping;
}

absl::Status ColumnMapping::Validate(const DatasetSchema& schema) const {
  std::vector<std::pair<absl::string_view, absl::string_view>> entries(columns.begin(),
                                                                       columns.end());
  std::sort(entries.begin(), entries.end());  // the first problem by column name, every time
  absl::flat_hash_map<absl::string_view, absl::string_view> column_of_target;
  for (const auto& [column, target] : entries) {
    if (target.empty()) continue;
    if (target != kSourceTarget && target != kTimeTarget && schema.Find(target) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("mapping ", column, "=", target, ": dataset \"", schema.name,
                       "\" has no field \"", target, "\"; its fields are ",
                       schema.fields.empty()
                           ? std::string("none")
                           : absl::StrJoin(schema.fields, ", ",
                                           [](std::string* out, const auto& f) {
                                             out->append(f.name());
                                           })));
    }
    auto [it, inserted] = column_of_target.emplace(target, column);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("mapping: columns \"", it->second,
                                                     "\" and \"", column,
                                                     "\" are both mapped to ", target));
    }
  }
  return absl::OkStatus();
}

std::optional<Rejection> RecordToReading(const RawRecord& record, const ColumnMapping& mapping,
                                         const DatasetSchema& schema, v1::Reading* reading) {
  reading->Clear();
  const std::string* source_column = nullptr;
  const RawValue* source_value = nullptr;
  const std::string* time_column = nullptr;
  const RawValue* time_value = nullptr;
  // field name -> column, to name the column when CheckValues finds a problem.
  std::vector<std::pair<const std::string*, const std::string*>> columns_of_fields;
  ValueMap& values = *reading->mutable_values();

  for (const auto& [column, value] : record.columns) {
    Role role = Role::kField;
    const std::string* target = &column;
    bool mapped = false;
    if (auto it = mapping.columns.find(column); it != mapping.columns.end()) {
      mapped = true;
      target = &it->second;
      role = target->empty()             ? Role::kSkip
             : *target == kSourceTarget ? Role::kSource
             : *target == kTimeTarget   ? Role::kTime
                                        : Role::kField;
    } else if (absl::EqualsIgnoreCase(column, kSourceTarget) ||
               (absl::EqualsIgnoreCase(column, "source") && schema.Find(column) == nullptr)) {
      role = Role::kSource;
    } else if (absl::EqualsIgnoreCase(column, kTimeTarget) ||
               (absl::EqualsIgnoreCase(column, "timestamp") && schema.Find(column) == nullptr)) {
      role = Role::kTime;
    }

    switch (role) {
      case Role::kSkip:
        continue;
      case Role::kSource:
        if (source_column != nullptr) {
          return Reject(v1::REJECT_REASON_MALFORMED, column,
                        absl::StrCat("columns \"", *source_column, "\" and \"", column,
                                     "\" both give the source; map one of them out (", column,
                                     "=)"));
        }
        source_column = &column;
        source_value = &value;
        continue;
      case Role::kTime:
        if (time_column != nullptr) {
          return Reject(v1::REJECT_REASON_MALFORMED, column,
                        absl::StrCat("columns \"", *time_column, "\" and \"", column,
                                     "\" both give the time; map one of them out (", column,
                                     "=)"));
        }
        time_column = &column;
        time_value = &value;
        continue;
      case Role::kField:
        break;
    }

    const catalogue_v1::SchemaField* field = schema.Find(*target);
    if (field == nullptr) {
      if (!mapped && column == "geometry") {
        if (auto problem = GeometryField(schema, column, &field)) return problem;
      } else if (mapped) {
        return Reject(v1::REJECT_REASON_UNKNOWN_FIELD, column,
                      absl::StrCat("column \"", column, "\" is mapped to \"", *target,
                                   "\", which is not a field of dataset \"", schema.name, "\""));
      } else {
        return Reject(v1::REJECT_REASON_UNKNOWN_FIELD, column,
                      absl::StrCat("column \"", column, "\" is not a field of dataset \"",
                                   schema.name, "\"; map it to a field (", column,
                                   "=field_name) or leave it out (", column, "=)"));
      }
    }
    if (IsEmpty(value)) continue;
    v1::Value converted;
    if (std::optional<Rejection> problem =
            ConvertCell(*field, value, mapping.decimal_comma, &converted)) {
      return ForColumn(*std::move(problem), column, field->name());
    }
    if (!values.insert({field->name(), std::move(converted)}).second) {
      const std::string* first = nullptr;
      for (const auto& [f, c] : columns_of_fields) {
        if (*f == field->name()) first = c;
      }
      return Reject(v1::REJECT_REASON_MALFORMED, column,
                    absl::StrCat("columns \"", first != nullptr ? *first : std::string("?"),
                                 "\" and \"", column, "\" both give field ", field->name(),
                                 "; map one of them out (", column, "=)"));
    }
    columns_of_fields.emplace_back(&field->name(), &column);
  }

  // Source.
  if (source_value != nullptr && !IsEmpty(*source_value)) {
    if (source_value->kind != RawValue::kText && source_value->kind != RawValue::kNumber) {
      return Reject(v1::REJECT_REASON_WRONG_TYPE, *source_column,
                    absl::StrCat("column \"", *source_column, "\": expected a source id; got ",
                                 ShowRaw(*source_value)));
    }
    reading->set_source_id(std::string(absl::StripAsciiWhitespace(source_value->text)));
  }
  if (reading->source_id().empty()) {
    if (mapping.default_source_id.empty()) {
      return Reject(v1::REJECT_REASON_UNKNOWN_SOURCE,
                    source_column != nullptr ? *source_column : std::string(),
                    "the row names no source; add a \"source_id\" column or give the file a "
                    "default source");
    }
    reading->set_source_id(mapping.default_source_id);
  }

  // Time.
  if (time_value == nullptr || IsEmpty(*time_value)) {
    return Reject(v1::REJECT_REASON_MISSING_TIME,
                  time_column != nullptr ? *time_column : std::string(),
                  time_column != nullptr
                      ? absl::StrCat("column \"", *time_column,
                                     "\": the row has no time; every reading needs the time it "
                                     "was measured")
                      : std::string("the row has no time; add a \"time\" column (RFC 3339 or "
                                    "seconds since 1970) or map one (column=time)"));
  }
  std::optional<Timestamp> time = ParseTimeCell(*time_value);
  if (!time) {
    return Reject(v1::REJECT_REASON_WRONG_TYPE, *time_column,
                  absl::StrCat("column \"", *time_column,
                               "\": expected a time such as 2026-03-01T12:00:00+01:00 (RFC 3339, "
                               "with Z or an offset) or seconds since 1970; got ",
                               ShowRaw(*time_value)));
  }
  *reading->mutable_time() = *std::move(time);

  // Ranges, NaN, string length, at least one value.
  if (std::optional<Rejection> problem = CheckValues(schema, values)) {
    if (problem->field.empty()) return problem;
    for (const auto& [field, column] : columns_of_fields) {
      if (*field == problem->field) {
        const std::string field_name = problem->field;
        return ForColumn(*std::move(problem), *column, field_name);
      }
    }
    return problem;
  }
  return std::nullopt;
}

}  // namespace smartby::ingestion
