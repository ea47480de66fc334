#include "services/catalogue/validation.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "services/runtime/status.h"
#include "services/runtime/utf8.h"

namespace smartby::catalogue {
namespace {

namespace v1 = ::smartcity::catalogue::v1;
namespace common = ::smartcity::common::v1;

// Every problem is reported as "<path>: <what is wrong and what is expected>".
absl::Status Invalid(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}


// The value, quoted for a message: at most ~60 bytes (cut on a character boundary), with
// quotes, backslashes and control characters escaped so the message stays on one line.
// Only call with text that is valid UTF-8.
std::string Quote(absl::string_view s) {
  constexpr size_t kMaxQuoted = 60;
  bool cut = false;
  if (s.size() > kMaxQuoted) {
    size_t end = kMaxQuoted;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    s = s.substr(0, end);
    cut = true;
  }
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    } else {
      out.push_back(c);
    }
  }
  out += cut ? "…\"" : "\"";
  return out;
}

// UTF-8 and size of an optional text.
absl::Status CheckText(absl::string_view value, absl::string_view path, size_t max_bytes) {
  const size_t bad = utf8::FirstInvalidByte(value);
  if (bad != absl::string_view::npos) {
    // Bytes are counted from 1, as a person counts them.
    return Invalid(path, absl::StrCat("not valid UTF-8 (byte ", bad + 1,
                                      "); save the text as UTF-8"));
  }
  if (value.size() > max_bytes) {
    return Invalid(path, absl::StrCat("must be at most ", max_bytes, " bytes of UTF-8, got ",
                                      value.size()));
  }
  return absl::OkStatus();
}

// Like CheckText, and the value must not be empty; `what` says what belongs there.
absl::Status CheckRequiredText(absl::string_view value, absl::string_view path,
                               size_t max_bytes, absl::string_view what) {
  RETURN_IF_ERROR(CheckText(value, path, max_bytes));
  if (absl::StripAsciiWhitespace(value).empty()) {
    return Invalid(path, absl::StrCat("required — ", what));
  }
  return absl::OkStatus();
}

// An absolute http or https URL with a host and no spaces or control characters.
bool IsHttpUrl(absl::string_view url) {
  absl::string_view rest;
  if (absl::StartsWithIgnoreCase(url, "https://")) {
    rest = url.substr(8);
  } else if (absl::StartsWithIgnoreCase(url, "http://")) {
    rest = url.substr(7);
  } else {
    return false;
  }
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return false;
  }
  const size_t host_end = rest.find_first_of("/?#");
  const absl::string_view authority = rest.substr(0, host_end);
  const size_t at = authority.rfind('@');
  const absl::string_view host_port =
      at == absl::string_view::npos ? authority : authority.substr(at + 1);
  return !host_port.empty() && host_port[0] != ':';
}

absl::Status CheckUrl(absl::string_view url, absl::string_view path) {
  RETURN_IF_ERROR(CheckText(url, path, kMaxUrlBytes));
  if (!IsHttpUrl(url)) {
    return Invalid(path, absl::StrCat("must be an http:// or https:// address without spaces, "
                                      "e.g. \"https://data.stavanger.kommune.no/\"; got ",
                                      Quote(url)));
  }
  return absl::OkStatus();
}

// name@domain.tld: one '@', no spaces, a domain of dot-separated labels ending in a TLD of
// at least two characters. Deliberately loose: the mail system is the real judge.
bool IsEmailShaped(absl::string_view email) {
  const size_t at = email.find('@');
  if (at == absl::string_view::npos || at == 0 || at > 64) return false;
  if (email.find('@', at + 1) != absl::string_view::npos) return false;
  for (char c : email) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' ||
        c == '\\') {
      return false;
    }
  }
  const absl::string_view local = email.substr(0, at);
  if (local.front() == '.' || local.back() == '.' || absl::StrContains(local, "..")) {
    return false;
  }
  const absl::string_view domain = email.substr(at + 1);
  const size_t last_dot = domain.rfind('.');
  if (last_dot == absl::string_view::npos || domain.size() - last_dot - 1 < 2) return false;
  size_t start = 0;
  while (start <= domain.size()) {
    size_t end = domain.find('.', start);
    if (end == absl::string_view::npos) end = domain.size();
    const absl::string_view label = domain.substr(start, end - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      const auto u = static_cast<unsigned char>(c);
      // Letters, digits, '-' and non-ASCII (internationalised domains such as "bærum.kommune.no").
      if (!(absl::ascii_isalnum(c) || c == '-' || u >= 0x80)) return false;
    }
    start = end + 1;
  }
  return true;
}

// Timestamps must be representable as RFC 3339 (years 0001..9999), the form DCAT needs.
absl::Status CheckTimestamp(const google::protobuf::Timestamp& t, absl::string_view path) {
  constexpr int64_t kMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
  if (t.seconds() < kMinSeconds || t.seconds() > kMaxSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return Invalid(path, "not a valid time; expected a time between the years 1 and 9999, "
                         "e.g. \"2025-03-14T00:00:00Z\"");
  }
  return absl::OkStatus();
}

constexpr absl::string_view kClassificationChoices =
    "open, internal, protected, strictly-protected";

std::string ThemeChoices() {
  std::vector<std::string> names;
  for (int t = v1::Theme_MIN + 1; t <= v1::Theme_MAX; ++t) {
    if (v1::Theme_IsValid(t)) names.push_back(v1::Theme_Name(static_cast<v1::Theme>(t)));
  }
  return absl::StrJoin(names, ", ");
}

std::string FieldTypeChoices() {
  std::vector<std::string> names;
  for (int t = v1::FieldType_MIN + 1; t <= v1::FieldType_MAX; ++t) {
    if (v1::FieldType_IsValid(t)) {
      names.push_back(v1::FieldType_Name(static_cast<v1::FieldType>(t)));
    }
  }
  return absl::StrJoin(names, ", ");
}

std::string FormatNumber(double d) { return absl::StrCat(d); }

absl::Status CheckOwner(const v1::Owner& owner) {
  RETURN_IF_ERROR(CheckRequiredText(
      owner.organization(), "dataset.owner.organization", kMaxShortTextBytes,
      "the organisation that owns the dataset, e.g. \"Stavanger kommune\""));
  const std::string& number = owner.organization_number();
  RETURN_IF_ERROR(
      CheckText(number, "dataset.owner.organization_number", kMaxShortTextBytes));
  if (!number.empty()) {
    bool digits = number.size() == 9;
    for (char c : number) digits = digits && absl::ascii_isdigit(c);
    if (!digits) {
      return Invalid("dataset.owner.organization_number",
                     absl::StrCat("must be the 9 digits of the organisation number, without "
                                  "spaces, e.g. \"964965226\"; got ",
                                  Quote(number)));
    }
  }
  return CheckText(owner.department(), "dataset.owner.department", kMaxShortTextBytes);
}

absl::Status CheckContactPoint(const v1::ContactPoint& contact) {
  RETURN_IF_ERROR(
      CheckText(contact.name(), "dataset.contact_point.name", kMaxShortTextBytes));
  RETURN_IF_ERROR(
      CheckText(contact.email(), "dataset.contact_point.email", kMaxShortTextBytes));
  if (!contact.email().empty() && !IsEmailShaped(contact.email())) {
    return Invalid("dataset.contact_point.email",
                   absl::StrCat("must be an e-mail address like "
                                "\"postmottak@stavanger.kommune.no\"; got ",
                                Quote(contact.email())));
  }
  RETURN_IF_ERROR(
      CheckText(contact.phone(), "dataset.contact_point.phone", kMaxShortTextBytes));
  if (!contact.url().empty()) {
    RETURN_IF_ERROR(CheckUrl(contact.url(), "dataset.contact_point.url"));
  }
  return absl::OkStatus();
}

absl::Status CheckClassification(int value) {
  constexpr absl::string_view kPath = "dataset.classification";
  if (value == common::CLASSIFICATION_UNSPECIFIED) {
    return Invalid(kPath, absl::StrCat("required — one of ", kClassificationChoices));
  }
  if (!common::Classification_IsValid(value)) {
    return Invalid(kPath, absl::StrCat("unknown value ", value, "; expected one of ",
                                       kClassificationChoices));
  }
  return absl::OkStatus();
}

absl::Status CheckThemes(const v1::Dataset& dataset) {
  if (dataset.themes_size() > kMaxThemes) {
    return Invalid("dataset.themes", absl::StrCat("at most ", kMaxThemes, " themes, got ",
                                                  dataset.themes_size()));
  }
  absl::flat_hash_map<int, int> seen;  // theme -> first index
  for (int i = 0; i < dataset.themes_size(); ++i) {
    const int theme = dataset.themes(i);
    const std::string path = absl::StrCat("dataset.themes[", i, "]");
    if (theme == v1::THEME_UNSPECIFIED || !v1::Theme_IsValid(theme)) {
      return Invalid(path, absl::StrCat(theme == v1::THEME_UNSPECIFIED
                                            ? std::string("THEME_UNSPECIFIED is not a theme")
                                            : absl::StrCat("unknown value ", theme),
                                        "; expected one of ", ThemeChoices()));
    }
    const auto [it, inserted] = seen.emplace(theme, i);
    if (!inserted) {
      return Invalid(path, absl::StrCat(v1::Theme_Name(static_cast<v1::Theme>(theme)),
                                        " is listed at themes[", it->second, "] already"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckKeywords(const v1::Dataset& dataset) {
  if (dataset.keywords_size() > kMaxKeywords) {
    return Invalid("dataset.keywords", absl::StrCat("at most ", kMaxKeywords,
                                                    " keywords, got ", dataset.keywords_size()));
  }
  for (int i = 0; i < dataset.keywords_size(); ++i) {
    RETURN_IF_ERROR(CheckRequiredText(dataset.keywords(i),
                                              absl::StrCat("dataset.keywords[", i, "]"),
                                              kMaxShortTextBytes, "a word or short phrase"));
  }
  return absl::OkStatus();
}

absl::Status CheckRange(double value, double min, double max, absl::string_view path) {
  if (!(value >= min && value <= max)) {  // also refuses NaN
    return Invalid(path, absl::StrCat("must be between ", FormatNumber(min), " and ",
                                      FormatNumber(max), ", got ", FormatNumber(value)));
  }
  return absl::OkStatus();
}

absl::Status CheckSpatial(const v1::SpatialCoverage& spatial) {
  RETURN_IF_ERROR(
      CheckText(spatial.place_name(), "dataset.spatial.place_name", kMaxShortTextBytes));
  if (!spatial.has_bbox()) return absl::OkStatus();
  const common::BoundingBox& b = spatial.bbox();
  RETURN_IF_ERROR(
      CheckRange(b.min_longitude(), -180, 180, "dataset.spatial.bbox.min_longitude"));
  RETURN_IF_ERROR(
      CheckRange(b.min_latitude(), -90, 90, "dataset.spatial.bbox.min_latitude"));
  RETURN_IF_ERROR(
      CheckRange(b.max_longitude(), -180, 180, "dataset.spatial.bbox.max_longitude"));
  RETURN_IF_ERROR(
      CheckRange(b.max_latitude(), -90, 90, "dataset.spatial.bbox.max_latitude"));
  if (b.min_longitude() > b.max_longitude()) {
    return Invalid("dataset.spatial.bbox",
                   absl::StrCat("min_longitude (", FormatNumber(b.min_longitude()),
                                ") must not be greater than max_longitude (",
                                FormatNumber(b.max_longitude()), ")"));
  }
  if (b.min_latitude() > b.max_latitude()) {
    return Invalid("dataset.spatial.bbox",
                   absl::StrCat("min_latitude (", FormatNumber(b.min_latitude()),
                                ") must not be greater than max_latitude (",
                                FormatNumber(b.max_latitude()), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckTemporal(const v1::TemporalCoverage& temporal) {
  if (temporal.has_start_time()) {
    RETURN_IF_ERROR(CheckTimestamp(temporal.start_time(), "dataset.temporal.start_time"));
  }
  if (temporal.has_end_time()) {
    RETURN_IF_ERROR(CheckTimestamp(temporal.end_time(), "dataset.temporal.end_time"));
  }
  if (temporal.has_start_time() && temporal.has_end_time()) {
    const auto& s = temporal.start_time();
    const auto& e = temporal.end_time();
    if (s.seconds() > e.seconds() || (s.seconds() == e.seconds() && s.nanos() > e.nanos())) {
      return Invalid("dataset.temporal.end_time",
                     "must not be before start_time; leave end_time unset when the data is "
                     "still being collected");
    }
  }
  return absl::OkStatus();
}

bool IsValidFieldName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_')) return false;
  }
  return true;
}

absl::Status CheckFields(const v1::Dataset& dataset) {
  if (dataset.fields_size() > kMaxFields) {
    return Invalid("dataset.fields", absl::StrCat("at most ", kMaxFields, " fields, got ",
                                                  dataset.fields_size()));
  }
  absl::flat_hash_map<std::string, int> seen;  // name -> first index
  for (int i = 0; i < dataset.fields_size(); ++i) {
    const v1::SchemaField& field = dataset.fields(i);
    const std::string path = absl::StrCat("dataset.fields[", i, "]");
    const std::string name_path = absl::StrCat(path, ".name");
    RETURN_IF_ERROR(CheckRequiredText(field.name(), name_path, kMaxShortTextBytes,
                                              "a name of a-z, 0-9 and '_', e.g. \"water_temp\""));
    if (!IsValidFieldName(field.name())) {
      return Invalid(name_path, absl::StrCat("must be a-z, 0-9 and '_' only, e.g. "
                                             "\"water_temp\"; got ",
                                             Quote(field.name())));
    }
    const auto [it, inserted] = seen.emplace(field.name(), i);
    if (!inserted) {
      return Invalid(name_path, absl::StrCat(Quote(field.name()), " is used by fields[",
                                             it->second, "] already"));
    }
    const int type = field.type();
    if (type == v1::FIELD_TYPE_UNSPECIFIED) {
      return Invalid(absl::StrCat(path, ".type"),
                     absl::StrCat("required — one of ", FieldTypeChoices()));
    }
    if (!v1::FieldType_IsValid(type)) {
      return Invalid(absl::StrCat(path, ".type"),
                     absl::StrCat("unknown value ", type, "; expected one of ",
                                  FieldTypeChoices()));
    }
    RETURN_IF_ERROR(
        CheckText(field.unit(), absl::StrCat(path, ".unit"), kMaxShortTextBytes));
    RETURN_IF_ERROR(CheckText(field.description(), absl::StrCat(path, ".description"),
                                      kMaxDescriptionBytes));
    if (field.has_min_value() && !std::isfinite(field.min_value())) {
      return Invalid(absl::StrCat(path, ".min_value"),
                     absl::StrCat("must be a finite number, got ",
                                  FormatNumber(field.min_value())));
    }
    if (field.has_max_value() && !std::isfinite(field.max_value())) {
      return Invalid(absl::StrCat(path, ".max_value"),
                     absl::StrCat("must be a finite number, got ",
                                  FormatNumber(field.max_value())));
    }
    if (field.has_min_value() && field.has_max_value() &&
        field.min_value() > field.max_value()) {
      return Invalid(absl::StrCat(path, ".max_value"),
                     absl::StrCat("must not be less than min_value (",
                                  FormatNumber(field.min_value()), "), got ",
                                  FormatNumber(field.max_value())));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRiskAssessment(const v1::RiskAssessment& risk) {
  RETURN_IF_ERROR(
      CheckText(risk.reference(), "dataset.risk_assessment.reference", kMaxShortTextBytes));
  if (risk.has_assessed_time()) {
    RETURN_IF_ERROR(
        CheckTimestamp(risk.assessed_time(), "dataset.risk_assessment.assessed_time"));
  }
  return CheckText(risk.dpia_reference(), "dataset.risk_assessment.dpia_reference",
                   kMaxShortTextBytes);
}

bool IsFormatToken(absl::string_view format) {
  if (format.empty() || format.size() > 20) return false;
  for (char c : format) {
    if (!(absl::ascii_isupper(c) || absl::ascii_isdigit(c))) return false;
  }
  return true;
}

}  // namespace

bool IsKnownLicense(absl::string_view license) {
  static constexpr absl::string_view kKnown[] = {
      "", "NLOD-2.0", "NLOD-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "PDDL-1.0", "ODbL-1.0",
  };
  for (absl::string_view known : kKnown) {
    if (license == known) return true;
  }
  return false;
}

bool IsValidDatasetName(absl::string_view name) {
  if (name.size() < 2 || name.size() > 100) return false;
  if (!absl::ascii_islower(name.front()) || name.back() == '-') return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
  }
  return !absl::StrContains(name, "--");
}

absl::Status ValidateDataset(const v1::Dataset& dataset) {
  // Field order of the proto, so the first problem reported is the first one in the message.
  RETURN_IF_ERROR(CheckText(dataset.name(), "dataset.name", kMaxShortTextBytes));
  if (!IsValidDatasetName(dataset.name())) {
    return Invalid("dataset.name",
                   absl::StrCat("must be 2–100 characters of a-z, 0-9 and '-', starting with a "
                                "letter, not ending with '-' and without \"--\", e.g. "
                                "\"bathing-temperature-stavanger\"; got ",
                                Quote(dataset.name())));
  }
  RETURN_IF_ERROR(CheckRequiredText(
      dataset.title(), "dataset.title", kMaxTitleBytes,
      "a short title people understand, e.g. \"Badetemperaturer i Stavanger\""));
  RETURN_IF_ERROR(
      CheckText(dataset.description(), "dataset.description", kMaxDescriptionBytes));
  RETURN_IF_ERROR(CheckOwner(dataset.owner()));
  RETURN_IF_ERROR(CheckContactPoint(dataset.contact_point()));
  RETURN_IF_ERROR(CheckText(dataset.license(), "dataset.license", kMaxShortTextBytes));
  if (!IsKnownLicense(dataset.license())) {
    return Invalid("dataset.license",
                   absl::StrCat("unknown license ", Quote(dataset.license()),
                                "; expected one of NLOD-2.0, NLOD-1.0, CC-BY-4.0, CC-BY-SA-4.0, "
                                "CC0-1.0, PDDL-1.0, ODbL-1.0, or leave it empty"));
  }
  RETURN_IF_ERROR(CheckClassification(dataset.classification()));
  RETURN_IF_ERROR(CheckThemes(dataset));
  RETURN_IF_ERROR(CheckKeywords(dataset));
  RETURN_IF_ERROR(CheckSpatial(dataset.spatial()));
  RETURN_IF_ERROR(CheckTemporal(dataset.temporal()));
  if (!v1::UpdateFrequency_IsValid(dataset.update_frequency())) {
    std::vector<std::string> names;
    for (int f = v1::UpdateFrequency_MIN + 1; f <= v1::UpdateFrequency_MAX; ++f) {
      if (v1::UpdateFrequency_IsValid(f)) {
        names.push_back(v1::UpdateFrequency_Name(static_cast<v1::UpdateFrequency>(f)));
      }
    }
    return Invalid("dataset.update_frequency",
                   absl::StrCat("unknown value ", dataset.update_frequency(),
                                "; expected one of ", absl::StrJoin(names, ", ")));
  }
  RETURN_IF_ERROR(CheckFields(dataset));
  RETURN_IF_ERROR(CheckRiskAssessment(dataset.risk_assessment()));
  if (dataset.resources_size() > kMaxResources) {
    return Invalid("dataset.resources", absl::StrCat("at most ", kMaxResources,
                                                     " resources, got ",
                                                     dataset.resources_size()));
  }
  for (int i = 0; i < dataset.resources_size(); ++i) {
    RETURN_IF_ERROR(
        ValidateResource(dataset.resources(i), absl::StrCat("dataset.resources[", i, "]")));
  }
  return absl::OkStatus();
}

absl::Status ValidateResource(const v1::Resource& resource, absl::string_view path) {
  const auto at = [&](absl::string_view field) { return absl::StrCat(path, ".", field); };
  RETURN_IF_ERROR(CheckRequiredText(
      resource.title(), at("title"), kMaxTitleBytes,
      "a short title for this distribution, e.g. \"Målinger som CSV\""));
  RETURN_IF_ERROR(CheckRequiredText(resource.format(), at("format"),
                                            kMaxShortTextBytes,
                                            "the file format, e.g. CSV, JSON or GEOJSON"));
  if (!IsFormatToken(resource.format())) {
    return Invalid(at("format"),
                   absl::StrCat("must be 1–20 upper-case letters or digits, e.g. CSV, JSON or "
                                "GEOJSON; got ",
                                Quote(resource.format())));
  }
  RETURN_IF_ERROR(CheckText(resource.media_type(), at("media_type"), kMaxShortTextBytes));
  RETURN_IF_ERROR(CheckText(resource.access_url(), at("access_url"), kMaxUrlBytes));
  RETURN_IF_ERROR(
      CheckText(resource.ingestion_stream(), at("ingestion_stream"), kMaxShortTextBytes));
  const bool has_url = !resource.access_url().empty();
  const bool has_stream = !resource.ingestion_stream().empty();
  if (has_url && has_stream) {
    return Invalid(at("access_url"),
                   "set either access_url or ingestion_stream, not both");
  }
  if (!has_url && !has_stream) {
    return Invalid(at("access_url"),
                   "required — an http(s) address where the data can be fetched, or set "
                   "ingestion_stream to the name of the dataset's live stream instead");
  }
  if (has_url) RETURN_IF_ERROR(CheckUrl(resource.access_url(), at("access_url")));
  if (resource.byte_size() < 0) {
    return Invalid(at("byte_size"), absl::StrCat("must be 0 or more, got ",
                                                 resource.byte_size()));
  }
  const std::string& checksum = resource.checksum_sha256();
  if (!checksum.empty()) {
    bool hex = checksum.size() == 64;
    for (char c : checksum) hex = hex && absl::ascii_isxdigit(c);
    if (!hex) {
      return Invalid(at("checksum_sha256"),
                     "must be the SHA-256 of the file as 64 hexadecimal digits (as printed by "
                     "sha256sum)");
    }
  }
  return CheckText(resource.description(), at("description"), kMaxDescriptionBytes);
}

std::string MediaTypeForFormat(absl::string_view format) {
  struct Entry {
    absl::string_view format;
    absl::string_view media_type;
  };
  static constexpr Entry kTypes[] = {
      {"JSON", "application/json"},
      {"GEOJSON", "application/geo+json"},
      {"CSV", "text/csv"},
      {"TXT", "text/plain"},
      {"PNG", "image/png"},
      {"JPEG", "image/jpeg"},
      {"JPG", "image/jpeg"},
      {"DOCX", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {"XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {"GPX", "application/gpx+xml"},
      {"PDF", "application/pdf"},
      {"ZIP", "application/zip"},
      {"XML", "application/xml"},
      {"PARQUET", "application/vnd.apache.parquet"},
      {"NETCDF", "application/netcdf"},
      {"HTML", "text/html"},
  };
  for (const Entry& e : kTypes) {
    if (absl::EqualsIgnoreCase(format, e.format)) return std::string(e.media_type);
  }
  return "";
}

}  // namespace smartby::catalogue
