#include "services/ingestion/values.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/runtime/utf8.h"

namespace smartby::ingestion {
namespace {

using catalogue_v1::FieldType;
using google::protobuf::Timestamp;

constexpr size_t kMaxStringBytes = 4096;
constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr size_t kExcerptBytes = 40;                    // of a bad cell quoted in a message

// ---- numbers ---------------------------------------------------------------------------------

// Shortest text that reads back to the same double (std::to_chars without a precision).
void AppendShortestDouble(double v, std::string& out) {
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, result.ptr);
}

std::string FormatNumber(double v) {
  std::string out;
  AppendShortestDouble(v, out);
  return out;
}

// Strict decimal forms: optional sign, digits, optional fraction and exponent; the whole text.
bool ParseDouble(absl::string_view s, double* out) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s.front() == '-') return false;
  }
  if (s.empty() || s.front() == '+') return false;
  double v = 0;
  const auto result = std::from_chars(s.data(), s.data() + s.size(), v);
  if (result.ec != std::errc() || result.ptr != s.data() + s.size() || !std::isfinite(v)) {
    return false;
  }
  *out = v;
  return true;
}

bool ParseInt64(absl::string_view s, int64_t* out) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s.front() == '-') return false;
  }
  if (s.empty() || s.front() == '+') return false;
  int64_t v = 0;
  const auto result = std::from_chars(s.data(), s.data() + s.size(), v);
  if (result.ec != std::errc() || result.ptr != s.data() + s.size()) return false;
  *out = v;
  return true;
}

// A number with an optional decimal comma: "12,5" is read as "12.5" when `decimal_comma`.
// Thousands separators are refused ("1.234,5", "1 234"): guessing them wrong would store a value
// a thousand times off.
bool ParseDecimal(absl::string_view s, bool decimal_comma, double* out) {
  const size_t comma = s.find(',');
  if (comma == absl::string_view::npos) return ParseDouble(s, out);
  if (!decimal_comma || s.find(',', comma + 1) != absl::string_view::npos ||
      s.find('.') != absl::string_view::npos || s.size() > 64) {
    return false;
  }
  char buf[64];
  std::memcpy(buf, s.data(), s.size());
  buf[comma] = '.';
  return ParseDouble(absl::string_view(buf, s.size()), out);
}

// ---- time ------------------------------------------------------------------------------------

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* year, unsigned* month, unsigned* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int64_t>(yoe) + era * 400 + (*month <= 2);
}

unsigned DaysInMonth(int64_t year, unsigned month) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) return 29;
  return kDays[month - 1];
}

bool ValidTimestamp(const Timestamp& t) {
  return t.seconds() >= kMinTimestampSeconds && t.seconds() <= kMaxTimestampSeconds &&
         t.nanos() >= 0 && t.nanos() <= 999999999;
}

// ---- messages --------------------------------------------------------------------------------

// The start of a cell for a message: at most kExcerptBytes, cut at a character boundary, with
// control characters and bytes that are not UTF-8 shown as '?'.
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

std::string WithUnit(double v, const std::string& unit) {
  return unit.empty() ? FormatNumber(v) : absl::StrCat(FormatNumber(v), " ", unit);
}

const char* KindName(const v1::Value& value) {
  switch (value.kind_case()) {
    case v1::Value::kDoubleValue: return "a number";
    case v1::Value::kIntegerValue: return "a whole number";
    case v1::Value::kStringValue: return "text";
    case v1::Value::kBoolValue: return "true or false";
    case v1::Value::kTimestampValue: return "a time";
    case v1::Value::kGeoValue: return "a position";
    case v1::Value::KIND_NOT_SET: break;
  }
  return "no value";
}

const char* ExpectedName(FieldType type) {
  switch (type) {
    case catalogue_v1::FIELD_TYPE_STRING: return "text";
    case catalogue_v1::FIELD_TYPE_INTEGER: return "a whole number";
    case catalogue_v1::FIELD_TYPE_DOUBLE: return "a number";
    case catalogue_v1::FIELD_TYPE_BOOLEAN: return "true or false";
    case catalogue_v1::FIELD_TYPE_TIMESTAMP: return "a time";
    case catalogue_v1::FIELD_TYPE_GEOPOINT: return "a position (latitude, longitude)";
    default: break;
  }
  return "a value";
}

Rejection Reject(v1::RejectReason reason, const std::string& field, std::string message) {
  return Rejection{reason, field, std::move(message)};
}

std::optional<Rejection> CheckRange(const catalogue_v1::SchemaField& field, double v) {
  if (!field.has_min_value() || !field.has_max_value()) return std::nullopt;
  if (v >= field.min_value() && v <= field.max_value()) return std::nullopt;
  return Reject(v1::REJECT_REASON_OUT_OF_RANGE, field.name(),
                absl::StrCat(field.name(), ": ", WithUnit(v, field.unit()),
                             " is outside the valid range ", FormatNumber(field.min_value()),
                             " to ", WithUnit(field.max_value(), field.unit())));
}

// One value against its field; nullopt when it passes.
std::optional<Rejection> CheckValue(const catalogue_v1::SchemaField& field,
                                    const v1::Value& value) {
  const std::string& name = field.name();
  const auto wrong_kind = [&] {
    return Reject(v1::REJECT_REASON_WRONG_TYPE, name,
                  absl::StrCat(name, ": expected ", ExpectedName(field.type()), "; got ",
                               KindName(value)));
  };
  switch (field.type()) {
    case catalogue_v1::FIELD_TYPE_STRING: {
      if (value.kind_case() != v1::Value::kStringValue) return wrong_kind();
      const std::string& s = value.string_value();
      if (s.size() > kMaxStringBytes) {
        return Reject(v1::REJECT_REASON_WRONG_TYPE, name,
                      absl::StrCat(name, ": text of ", s.size(), " bytes is too long; at most ",
                                   kMaxStringBytes, " bytes are accepted"));
      }
      if (utf8::FirstInvalidByte(s) != absl::string_view::npos) {
        return Reject(v1::REJECT_REASON_WRONG_TYPE, name,
                      absl::StrCat(name, ": text is not valid UTF-8"));
      }
      return std::nullopt;
    }
    case catalogue_v1::FIELD_TYPE_INTEGER:
      if (value.kind_case() != v1::Value::kIntegerValue) return wrong_kind();
      return CheckRange(field, static_cast<double>(value.integer_value()));
    case catalogue_v1::FIELD_TYPE_DOUBLE:
      if (value.kind_case() == v1::Value::kIntegerValue) {
        return CheckRange(field, static_cast<double>(value.integer_value()));
      }
      if (value.kind_case() != v1::Value::kDoubleValue) return wrong_kind();
      if (!std::isfinite(value.double_value())) {
        return Reject(v1::REJECT_REASON_WRONG_TYPE, name,
                      absl::StrCat(name, ": expected a number; got ",
                                   FormatNumber(value.double_value()),
                                   " (NaN and infinity are not accepted)"));
      }
      return CheckRange(field, value.double_value());
    case catalogue_v1::FIELD_TYPE_BOOLEAN:
      if (value.kind_case() != v1::Value::kBoolValue) return wrong_kind();
      return std::nullopt;
    case catalogue_v1::FIELD_TYPE_TIMESTAMP:
      if (value.kind_case() != v1::Value::kTimestampValue) return wrong_kind();
      if (!ValidTimestamp(value.timestamp_value())) {
        return Reject(v1::REJECT_REASON_WRONG_TYPE, name,
                      absl::StrCat(name, ": not a valid time (years 0001 to 9999, nanos 0 to "
                                         "999999999)"));
      }
      return std::nullopt;
    case catalogue_v1::FIELD_TYPE_GEOPOINT: {
      if (value.kind_case() != v1::Value::kGeoValue) return wrong_kind();
      const double lat = value.geo_value().latitude(), lon = value.geo_value().longitude();
      if (lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) return std::nullopt;
      return Reject(v1::REJECT_REASON_OUT_OF_RANGE, name,
                    absl::StrCat(name, ": latitude ", FormatNumber(lat), ", longitude ",
                                 FormatNumber(lon),
                                 " is not a WGS84 position (latitude -90 to 90, longitude -180 "
                                 "to 180)"));
    }
    default:
      break;
  }
  return Reject(v1::REJECT_REASON_WRONG_TYPE, name,
                absl::StrCat(name, ": the dataset's schema gives this field no type; ask the "
                                   "dataset owner to set one"));
}

// ---- encoding --------------------------------------------------------------------------------

void AppendJsonString(absl::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\t': out.append("\\t"); break;
      case '\r': out.append("\\r"); break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

// A double as a JSON number that is never mistaken for an integer.
void AppendTaggedDouble(double v, std::string& out) {
  if (!std::isfinite(v)) {
    out.append(std::isnan(v) ? "\"nan\"" : v > 0 ? "\"inf\"" : "\"-inf\"");
    return;
  }
  const size_t start = out.size();
  AppendShortestDouble(v, out);
  if (out.find_first_of(".e", start) == std::string::npos) out.append(".0");
}

void AppendValue(const v1::Value& value, std::string& out) {
  switch (value.kind_case()) {
    case v1::Value::kDoubleValue:
      if (std::isfinite(value.double_value())) {
        AppendTaggedDouble(value.double_value(), out);
      } else {
        out.append("{\"d\":");
        AppendTaggedDouble(value.double_value(), out);
        out.push_back('}');
      }
      return;
    case v1::Value::kIntegerValue:
      out.append("{\"i\":");
      absl::StrAppend(&out, value.integer_value());
      out.push_back('}');
      return;
    case v1::Value::kStringValue:
      AppendJsonString(value.string_value(), out);
      return;
    case v1::Value::kBoolValue:
      out.append(value.bool_value() ? "true" : "false");
      return;
    case v1::Value::kTimestampValue: {
      const Timestamp& t = value.timestamp_value();
      if (ValidTimestamp(t)) {
        out.append("{\"t\":\"");
        out.append(FormatRfc3339(t));
        out.append("\"}");
      } else {
        absl::StrAppend(&out, "{\"t\":[", t.seconds(), ",", t.nanos(), "]}");
      }
      return;
    }
    case v1::Value::kGeoValue:
      out.append("{\"g\":[");
      AppendTaggedDouble(value.geo_value().latitude(), out);
      out.push_back(',');
      AppendTaggedDouble(value.geo_value().longitude(), out);
      out.append("]}");
      return;
    case v1::Value::KIND_NOT_SET:
      out.append("null");
      return;
  }
}

// ---- decoding --------------------------------------------------------------------------------

// A cursor over the encoded text. Accepts JSON whitespace between tokens and every JSON string
// escape, but only the value forms EncodeValues writes.
class Decoder {
 public:
  explicit Decoder(absl::string_view text) : s_(text) {}

  absl::Status DecodeObject(ValueMap* values) {
    values->clear();
    if (!Consume('{')) return Error("expected '{'");
    SkipSpace();
    if (Peek() == '}') {
      ++i_;
    } else {
      for (;;) {
        std::string key;
        if (!ParseString(&key)) return Error("expected a field name");
        if (!Consume(':')) return Error("expected ':'");
        v1::Value value;
        if (!ParseValue(&value)) return Error("bad value");
        if (!values->insert({std::move(key), std::move(value)}).second) {
          return Error("a field appears twice");
        }
        SkipSpace();
        if (Peek() == ',') {
          ++i_;
          continue;
        }
        if (!Consume('}')) return Error("expected ',' or '}'");
        break;
      }
    }
    SkipSpace();
    if (i_ != s_.size()) return Error("text after the end");
    return absl::OkStatus();
  }

  // The value of field `name` only: the fields before it are parsed into one scratch value and
  // dropped, and the ones after it are not read, since names are stored in byte order.
  absl::Status DecodeField(absl::string_view name, std::optional<v1::Value>* out) {
    out->reset();
    if (!Consume('{')) return Error("expected '{'");
    SkipSpace();
    if (Peek() == '}') return absl::OkStatus();
    std::string key;
    v1::Value value;
    for (;;) {
      if (!ParseString(&key)) return Error("expected a field name");
      if (!Consume(':')) return Error("expected ':'");
      value.Clear();
      if (!ParseValue(&value)) return Error("bad value");
      if (key == name) {
        *out = std::move(value);
        return absl::OkStatus();
      }
      if (absl::string_view(key) > name) return absl::OkStatus();
      SkipSpace();
      if (Peek() == ',') {
        ++i_;
        continue;
      }
      if (!Consume('}')) return Error("expected ',' or '}'");
      return absl::OkStatus();
    }
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat("stored reading values cannot be decoded (", what,
                                            " at byte ", i_, ")"));
  }
  void SkipSpace() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) {
      ++i_;
    }
  }
  char Peek() {
    SkipSpace();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++i_;
    return true;
  }
  bool ConsumeWord(absl::string_view word) {
    if (!absl::StartsWith(s_.substr(i_), word)) return false;
    i_ += word.size();
    return true;
  }

  bool ParseHex4(uint32_t* out) {
    if (i_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    *out = v;
    return true;
  }

  bool ParseString(std::string* out) {
    if (!Consume('"')) return false;
    out->clear();
    for (;;) {
      const size_t run = i_;
      while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\' &&
             static_cast<unsigned char>(s_[i_]) >= 0x20) {
        ++i_;
      }
      out->append(s_.data() + run, i_ - run);
      if (i_ >= s_.size()) return false;
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\' || i_ >= s_.size()) return false;  // a raw control character
      const char e = s_[i_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!ParseHex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (!ConsumeWord("\\u") || !ParseHex4(&low) || low < 0xDC00 || low > 0xDFFF) {
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          utf8::Append(static_cast<char32_t>(cp), *out);
          break;
        }
        default:
          return false;
      }
    }
  }

  // The text of a JSON number at the cursor.
  absl::string_view NumberText() {
    SkipSpace();
    const size_t start = i_;
    while (i_ < s_.size() && (absl::ascii_isdigit(static_cast<unsigned char>(s_[i_])) ||
                              s_[i_] == '-' || s_[i_] == '+' || s_[i_] == '.' ||
                              s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
    }
    return s_.substr(start, i_ - start);
  }

  // A double as AppendTaggedDouble writes it: a number with '.' or an exponent, or, where
  // `allow_named`, "nan", "inf" or "-inf".
  bool ParseTaggedDouble(double* out, bool allow_named) {
    if (Peek() == '"') {
      std::string name;
      if (!allow_named || !ParseString(&name)) return false;
      if (name == "nan") *out = std::numeric_limits<double>::quiet_NaN();
      else if (name == "inf") *out = std::numeric_limits<double>::infinity();
      else if (name == "-inf") *out = -std::numeric_limits<double>::infinity();
      else return false;
      return true;
    }
    const absl::string_view text = NumberText();
    if (text.find_first_of(".eE") == absl::string_view::npos) return false;
    const auto result = std::from_chars(text.data(), text.data() + text.size(), *out);
    return result.ec == std::errc() && result.ptr == text.data() + text.size();
  }

  bool ParseValue(v1::Value* value) {
    const char c = Peek();
    if (c == '"') return ParseString(value->mutable_string_value());
    if (c == 't' || c == 'f') {
      const bool b = c == 't';
      if (!ConsumeWord(b ? "true" : "false")) return false;
      value->set_bool_value(b);
      return true;
    }
    if (c == 'n') return ConsumeWord("null");
    if (c == '-' || absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      double d = 0;
      if (!ParseTaggedDouble(&d, false)) return false;
      value->set_double_value(d);
      return true;
    }
    if (c != '{') return false;
    ++i_;
    std::string tag;
    if (!ParseString(&tag) || !Consume(':')) return false;
    if (tag == "i") {
      const absl::string_view text = NumberText();
      int64_t v = 0;
      const auto result = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size()) {
        return false;
      }
      value->set_integer_value(v);
    } else if (tag == "d") {
      double d = 0;
      if (Peek() != '"' || !ParseTaggedDouble(&d, true)) return false;
      value->set_double_value(d);
    } else if (tag == "t") {
      Timestamp* t = value->mutable_timestamp_value();
      if (Peek() == '"') {
        std::string text;
        if (!ParseString(&text)) return false;
        std::optional<Timestamp> parsed = ParseRfc3339(text);
        if (!parsed) return false;
        *t = *parsed;
      } else {
        if (!Consume('[')) return false;
        int64_t seconds = 0, nanos = 0;
        absl::string_view text = NumberText();
        auto r = std::from_chars(text.data(), text.data() + text.size(), seconds);
        if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) {
          return false;
        }
        if (!Consume(',')) return false;
        text = NumberText();
        r = std::from_chars(text.data(), text.data() + text.size(), nanos);
        if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() ||
            nanos < std::numeric_limits<int32_t>::min() ||
            nanos > std::numeric_limits<int32_t>::max()) {
          return false;
        }
        if (!Consume(']')) return false;
        t->set_seconds(seconds);
        t->set_nanos(static_cast<int32_t>(nanos));
      }
    } else if (tag == "g") {
      double lat = 0, lon = 0;
      if (!Consume('[') || !ParseTaggedDouble(&lat, true) || !Consume(',') ||
          !ParseTaggedDouble(&lon, true) || !Consume(']')) {
        return false;
      }
      value->mutable_geo_value()->set_latitude(lat);
      value->mutable_geo_value()->set_longitude(lon);
    } else {
      return false;
    }
    return Consume('}');
  }

  absl::string_view s_;
  size_t i_ = 0;
};

}  // namespace

// ---- schema ----------------------------------------------------------------------------------

DatasetSchema DatasetSchema::FromDataset(const catalogue_v1::Dataset& dataset) {
  DatasetSchema schema;
  schema.name = dataset.name();
  schema.classification = dataset.classification();
  schema.owner_organization = dataset.owner().organization();
  schema.state = dataset.state();
  schema.fields.assign(dataset.fields().begin(), dataset.fields().end());
  return schema;
}

const catalogue_v1::SchemaField* DatasetSchema::Find(absl::string_view field) const {
  // Schemas hold a handful of fields; a linear scan beats hashing at that size.
  for (const catalogue_v1::SchemaField& f : fields) {
    if (f.name() == field) return &f;
  }
  return nullptr;
}

// ---- checks ----------------------------------------------------------------------------------

std::optional<Rejection> CheckValues(const DatasetSchema& schema, const ValueMap& values) {
  if (values.empty()) {
    return Reject(v1::REJECT_REASON_NO_VALUES, "",
                  absl::StrCat("the reading has no values; it needs at least one field of "
                               "dataset \"",
                               schema.name, "\""));
  }
  // The first problem in field-name order, without sorting: check every value (all of them are
  // checked anyway when they pass) and keep the problem with the smallest name.
  std::optional<Rejection> first;
  const std::string* first_name = nullptr;
  for (const auto& [name, value] : values) {
    if (first_name != nullptr && name >= *first_name) continue;
    std::optional<Rejection> problem;
    const catalogue_v1::SchemaField* field = schema.Find(name);
    if (field == nullptr) {
      problem = Reject(v1::REJECT_REASON_UNKNOWN_FIELD, name,
                       absl::StrCat(name, ": not a field of dataset \"", schema.name, "\""));
    } else {
      problem = CheckValue(*field, value);
    }
    if (problem) {
      first = std::move(problem);
      first_name = &name;
    }
  }
  return first;
}

std::optional<Rejection> ParseFieldText(const catalogue_v1::SchemaField& field,
                                        absl::string_view text, bool decimal_comma,
                                        v1::Value* out) {
  const std::string& name = field.name();
  const auto wrong = [&](absl::string_view expected) {
    return Reject(v1::REJECT_REASON_WRONG_TYPE, name,
                  absl::StrCat(name, ": expected ", expected, "; got ", Excerpt(text)));
  };
  if (field.type() == catalogue_v1::FIELD_TYPE_STRING) {
    out->set_string_value(text.data(), text.size());
    return std::nullopt;
  }
  const absl::string_view t = absl::StripAsciiWhitespace(text);
  switch (field.type()) {
    case catalogue_v1::FIELD_TYPE_INTEGER: {
      int64_t v = 0;
      if (!ParseInt64(t, &v)) return wrong("a whole number such as -12");
      out->set_integer_value(v);
      return std::nullopt;
    }
    case catalogue_v1::FIELD_TYPE_DOUBLE: {
      double v = 0;
      if (!ParseDecimal(t, decimal_comma, &v)) {
        if (!decimal_comma && t.find(',') != absl::string_view::npos) {
          return wrong("a number with a decimal point such as 12.5 (this import does not read "
                       "decimal commas)");
        }
        return wrong(decimal_comma ? "a number such as 12,5, 12.5 or 1e3 (no thousands "
                                     "separators)"
                                   : "a number such as 12.5 or 1e3");
      }
      out->set_double_value(v);
      return std::nullopt;
    }
    case catalogue_v1::FIELD_TYPE_BOOLEAN: {
      static constexpr absl::string_view kTrue[] = {"true", "1", "yes", "ja"};
      static constexpr absl::string_view kFalse[] = {"false", "0", "no", "nei"};
      for (absl::string_view word : kTrue) {
        if (absl::EqualsIgnoreCase(t, word)) {
          out->set_bool_value(true);
          return std::nullopt;
        }
      }
      for (absl::string_view word : kFalse) {
        if (absl::EqualsIgnoreCase(t, word)) {
          out->set_bool_value(false);
          return std::nullopt;
        }
      }
      return wrong("true or false (also 1/0, yes/no, ja/nei)");
    }
    case catalogue_v1::FIELD_TYPE_TIMESTAMP: {
      std::optional<Timestamp> time = ParseRfc3339(t);
      if (!time) {
        return wrong("a time such as 2026-03-01T12:00:00+01:00 (RFC 3339, with Z or an offset)");
      }
      *out->mutable_timestamp_value() = *time;
      return std::nullopt;
    }
    case catalogue_v1::FIELD_TYPE_GEOPOINT: {
      // "lat,lon" or "lat lon"; with decimal commas "59,91 10,75" (a space must then separate).
      absl::string_view lat_text, lon_text;
      const size_t space = t.find_first_of(" \t");
      const size_t comma = t.find(',');
      if (space != absl::string_view::npos &&
          (decimal_comma || comma == absl::string_view::npos)) {
        lat_text = t.substr(0, space);
        lon_text = absl::StripLeadingAsciiWhitespace(t.substr(space));
        // "59.91, 10.75" and "59,91 , 10,75": a comma beside the space separates.
        if (!absl::ConsumeSuffix(&lat_text, ",") && absl::ConsumePrefix(&lon_text, ",")) {
          lon_text = absl::StripLeadingAsciiWhitespace(lon_text);
        }
      } else if (comma != absl::string_view::npos) {
        lat_text = absl::StripTrailingAsciiWhitespace(t.substr(0, comma));
        lon_text = absl::StripLeadingAsciiWhitespace(t.substr(comma + 1));
      }
      double lat = 0, lon = 0;
      if (lat_text.empty() || lon_text.empty() ||
          !ParseDecimal(lat_text, decimal_comma && space != absl::string_view::npos, &lat) ||
          !ParseDecimal(lon_text, decimal_comma && space != absl::string_view::npos, &lon)) {
        return wrong("latitude and longitude in decimal degrees such as \"58.97,5.73\" or "
                     "\"58.97 5.73\"");
      }
      out->mutable_geo_value()->set_latitude(lat);
      out->mutable_geo_value()->set_longitude(lon);
      return std::nullopt;
    }
    default:
      break;
  }
  return Reject(v1::REJECT_REASON_WRONG_TYPE, name,
                absl::StrCat(name, ": the dataset's schema gives this field no type; ask the "
                                   "dataset owner to set one"));
}

// ---- encoding --------------------------------------------------------------------------------

std::string EncodeValues(const ValueMap& values) {
  using Entry = ValueMap::value_type;
  // Sorted by name without allocating for the usual handful of values.
  constexpr size_t kInline = 16;
  const Entry* inline_entries[kInline];
  std::vector<const Entry*> heap_entries;
  const Entry** entries = inline_entries;
  if (values.size() > kInline) {
    heap_entries.resize(values.size());
    entries = heap_entries.data();
  }
  size_t n = 0;
  for (const Entry& e : values) entries[n++] = &e;
  std::sort(entries, entries + n,
            [](const Entry* a, const Entry* b) { return a->first < b->first; });

  std::string out;
  out.reserve(16 + 24 * n);
  out.push_back('{');
  for (size_t k = 0; k < n; ++k) {
    if (k > 0) out.push_back(',');
    AppendJsonString(entries[k]->first, out);
    out.push_back(':');
    AppendValue(entries[k]->second, out);
  }
  out.push_back('}');
  return out;
}

absl::Status DecodeValues(absl::string_view encoded, ValueMap* values) {
  return Decoder(encoded).DecodeObject(values);
}

absl::Status DecodeValue(absl::string_view encoded, absl::string_view field,
                         std::optional<v1::Value>* value) {
  return Decoder(encoded).DecodeField(field, value);
}

std::optional<double> NumericValue(const v1::Value& value) {
  switch (value.kind_case()) {
    case v1::Value::kDoubleValue: return value.double_value();
    case v1::Value::kIntegerValue: return static_cast<double>(value.integer_value());
    default: return std::nullopt;
  }
}

// ---- time ------------------------------------------------------------------------------------

std::optional<Timestamp> ParseRfc3339(absl::string_view s) {
  const auto digits = [&](size_t pos, size_t n, unsigned* out) {
    if (pos + n > s.size()) return false;
    unsigned v = 0;
    for (size_t k = pos; k < pos + n; ++k) {
      if (s[k] < '0' || s[k] > '9') return false;
      v = v * 10 + static_cast<unsigned>(s[k] - '0');
    }
    *out = v;
    return true;
  };
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, &year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, &month) ||
      s[7] != '-' || !digits(8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(11, 2, &hour) || s[13] != ':' || !digits(14, 2, &minute) || s[16] != ':' ||
      !digits(17, 2, &second)) {
    return std::nullopt;
  }
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) ||
      hour > 23 || minute > 59 || second > 60) {  // 60: a leap second, read as the next second
    return std::nullopt;
  }
  size_t i = 19;
  int32_t nanos = 0;
  if (s[i] == '.') {
    const size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (i - start < 9) nanos = nanos * 10 + (s[i] - '0');
      ++i;
    }
    if (i == start) return std::nullopt;
    for (size_t k = i - start; k < 9; ++k) nanos *= 10;
  }
  if (i >= s.size()) return std::nullopt;
  int64_t offset = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    unsigned oh = 0, om = 0;
    if (!digits(i + 1, 2, &oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !digits(i + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = (static_cast<int64_t>(oh) * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                          second - offset;
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) return std::nullopt;
  Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

std::string FormatRfc3339(const Timestamp& time) {
  const int64_t seconds = time.seconds();
  int64_t days = seconds / 86400;
  int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  int64_t year = 0;
  unsigned month = 0, day = 0;
  CivilFromDays(days, &year, &month, &day);
  char buf[40];
  char* p = buf;
  const auto put = [&p](int64_t v, int width) {
    for (int k = width - 1; k >= 0; --k) {
      p[k] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    p += width;
  };
  put(year, 4);
  *p++ = '-';
  put(month, 2);
  *p++ = '-';
  put(day, 2);
  *p++ = 'T';
  put(rest / 3600, 2);
  *p++ = ':';
  put(rest / 60 % 60, 2);
  *p++ = ':';
  put(rest % 60, 2);
  const int32_t nanos = time.nanos();
  if (nanos != 0) {
    *p++ = '.';
    if (nanos % 1000000 == 0) {
      put(nanos / 1000000, 3);
    } else if (nanos % 1000 == 0) {
      put(nanos / 1000, 6);
    } else {
      put(nanos, 9);
    }
  }
  *p++ = 'Z';
  return std::string(buf, p);
}

}  // namespace smartby::ingestion
