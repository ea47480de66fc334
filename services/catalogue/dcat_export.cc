#include "services/catalogue/dcat_export.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/catalogue/validation.h"
#include "services/runtime/utf8.h"

namespace smartby::catalogue {
namespace {

namespace v1 = ::smartcity::catalogue::v1;
namespace common = ::smartcity::common::v1;

constexpr absl::string_view kPrefixes =
    "@prefix dcat: <http://www.w3.org/ns/dcat#> .\n"
    "@prefix dct: <http://purl.org/dc/terms/> .\n"
    "@prefix foaf: <http://xmlns.com/foaf/0.1/> .\n"
    "@prefix vcard: <http://www.w3.org/2006/vcard/ns#> .\n"
    "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n"
    "@prefix locn: <http://www.w3.org/ns/locn#> .\n"
    "@prefix gsp: <http://www.opengis.net/ont/geosparql#> .\n";
constexpr absl::string_view kSpdxPrefix = "@prefix spdx: <http://spdx.org/rdf/terms#> .\n";

constexpr absl::string_view kEuAuthority = "http://publications.europa.eu/resource/authority/";


// --- Turtle terms. ----------------------------------------------------------------------------

// The body of a STRING_LITERAL_QUOTE: quotes, backslashes and line breaks escaped, other control
// characters as \uXXXX, everything else as UTF-8. A single-line form for every literal, so no
// text (not even one containing """) can end the literal early.
// Bytes that are not UTF-8 become U+FFFD, so any stored text still yields valid Turtle.
std::string EscapeLiteral(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    const char32_t cp = utf8::Next(s, i).value_or(utf8::kReplacementCharacter);
    switch (cp) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (cp < 0x20 || cp == 0x7F) {
          absl::StrAppendFormat(&out, "\\u%04X", static_cast<uint32_t>(cp));
        } else {
          utf8::Append(cp, out);
        }
    }
  }
  return out;
}

// An IRIREF body: characters Turtle does not allow there (<>"{}|^`\, space and controls) and
// bytes that are not UTF-8 are percent-encoded; everything else, including '%', stays as is.
std::string EscapeIri(absl::string_view iri) {
  std::string out;
  out.reserve(iri.size());
  for (size_t i = 0; i < iri.size();) {
    const size_t start = i;
    const std::optional<char32_t> decoded = utf8::Next(iri, i);
    const bool invalid_utf8 = !decoded.has_value();
    const char32_t cp = decoded.value_or(utf8::kReplacementCharacter);
    if (invalid_utf8 || cp <= 0x20 || cp == 0x7F || cp == '<' || cp == '>' || cp == '"' ||
        cp == '{' || cp == '}' || cp == '|' || cp == '^' || cp == '`' || cp == '\\') {
      for (size_t k = start; k < i; ++k) {
        absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(iri[k]));
      }
    } else {
      out.append(iri.data() + start, i - start);
    }
  }
  return out;
}

// One path segment of a URI we mint: everything but RFC 3986 unreserved characters is
// percent-encoded, so a name can never add a '/', '?' or '#' of its own.
std::string EncodeSegment(absl::string_view segment) {
  std::string out;
  for (char c : segment) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::string Iri(absl::string_view iri) { return absl::StrCat("<", EscapeIri(iri), ">"); }

std::string Literal(absl::string_view text) { return absl::StrCat("\"", EscapeLiteral(text), "\""); }

std::string LangLiteral(absl::string_view text, absl::string_view lang) {
  return absl::StrCat(Literal(text), "@", lang);
}

std::string TypedLiteral(absl::string_view text, absl::string_view datatype) {
  return absl::StrCat(Literal(text), "^^", datatype);
}

// A tag Turtle accepts as LANGTAG ([a-zA-Z]+ ('-' [a-zA-Z0-9]+)*), else "nb".
std::string LanguageTag(absl::string_view lang) {
  bool ok = !lang.empty();
  bool first_subtag = true;
  size_t subtag_length = 0;
  for (char c : lang) {
    if (c == '-') {
      ok = ok && subtag_length > 0;
      first_subtag = false;
      subtag_length = 0;
    } else {
      ok = ok && (absl::ascii_isalpha(c) || (!first_subtag && absl::ascii_isdigit(c)));
      ++subtag_length;
    }
  }
  return ok && subtag_length > 0 ? std::string(lang) : "nb";
}

std::string DateTime(const google::protobuf::Timestamp& t) {
  const absl::Time time = absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
  return TypedLiteral(absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", time, absl::UTCTimeZone()),
                      "xsd:dateTime");
}

// --- Vocabularies. ----------------------------------------------------------------------------

std::string ThemeUri(v1::Theme theme) {
  // THEME_ENVI -> .../data-theme/ENVI
  const std::string& name = v1::Theme_Name(theme);
  return absl::StrCat(kEuAuthority, "data-theme/", absl::string_view(name).substr(6));
}

std::string AccessRightsUri(int classification) {
  absl::string_view right = "NON_PUBLIC";  // unknown: the safe side
  if (classification == common::CLASSIFICATION_OPEN) right = "PUBLIC";
  if (classification == common::CLASSIFICATION_INTERNAL) right = "RESTRICTED";
  return absl::StrCat(kEuAuthority, "access-right/", right);
}

std::string FrequencyUri(v1::UpdateFrequency frequency) {
  absl::string_view code;
  switch (frequency) {
    case v1::UPDATE_FREQUENCY_CONTINUOUS: code = "CONT"; break;
    case v1::UPDATE_FREQUENCY_HOURLY: code = "HOURLY"; break;
    case v1::UPDATE_FREQUENCY_DAILY: code = "DAILY"; break;
    case v1::UPDATE_FREQUENCY_WEEKLY: code = "WEEKLY"; break;
    case v1::UPDATE_FREQUENCY_MONTHLY: code = "MONTHLY"; break;
    case v1::UPDATE_FREQUENCY_QUARTERLY: code = "QUARTERLY"; break;
    case v1::UPDATE_FREQUENCY_ANNUAL: code = "ANNUAL"; break;
    case v1::UPDATE_FREQUENCY_IRREGULAR: code = "IRREG"; break;
    case v1::UPDATE_FREQUENCY_NEVER: code = "NEVER"; break;
    default: return "";
  }
  return absl::StrCat(kEuAuthority, "frequency/", code);
}

std::string LicenseUri(absl::string_view license) {
  if (license == "NLOD-2.0") return "http://data.norge.no/nlod/no/2.0";
  if (license == "NLOD-1.0") return "http://data.norge.no/nlod/no/1.0";
  if (license == "CC-BY-4.0") return "http://creativecommons.org/licenses/by/4.0/";
  if (license == "CC-BY-SA-4.0") return "http://creativecommons.org/licenses/by-sa/4.0/";
  if (license == "CC0-1.0") return "http://creativecommons.org/publicdomain/zero/1.0/";
  if (license == "PDDL-1.0") return "http://opendatacommons.org/licenses/pddl/1.0/";
  if (license == "ODbL-1.0") return "http://opendatacommons.org/licenses/odbl/1.0/";
  return "";
}

// The EU file-type URI for the formats we know (the same list as MediaTypeForFormat).
std::string FileTypeUri(absl::string_view format) {
  const std::string upper = absl::AsciiStrToUpper(format);
  if (MediaTypeForFormat(upper).empty()) return "";
  return absl::StrCat(kEuAuthority, "file-type/", upper == "JPG" ? "JPEG" : upper);
}

// "text/csv; charset=utf-8" -> IANA URI of "text/csv"; "" when it does not look like type/sub.
std::string MediaTypeUri(absl::string_view media_type) {
  media_type = media_type.substr(0, media_type.find(';'));
  media_type = absl::StripAsciiWhitespace(media_type);
  const size_t slash = media_type.find('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == media_type.size()) return "";
  for (char c : media_type) {
    if (!(absl::ascii_isalnum(c) || c == '/' || c == '+' || c == '-' || c == '.' || c == '_')) {
      return "";
    }
  }
  return absl::StrCat("https://www.iana.org/assignments/media-types/",
                      absl::AsciiStrToLower(media_type));
}

std::string LanguageUri(absl::string_view lang) {
  const std::string lower = absl::AsciiStrToLower(lang);
  absl::string_view code;
  if (lower == "nb" || lower == "no") code = "NOB";
  if (lower == "nn") code = "NNO";
  if (lower == "en") code = "ENG";
  if (lower == "se") code = "SME";
  if (code.empty()) return "";
  return absl::StrCat(kEuAuthority, "language/", code);
}

bool IsOrganizationNumber(absl::string_view number) {
  if (number.size() != 9) return false;
  for (char c : number) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// "Bymiljø og utbygging" -> "bymiljo-og-utbygging".
std::string Slug(absl::string_view name) {
  std::string out;
  const auto dash = [&] {
    if (!out.empty() && out.back() != '-') out.push_back('-');
  };
  for (size_t i = 0; i < name.size();) {
    const char32_t cp = utf8::Next(name, i).value_or(utf8::kReplacementCharacter);
    if (cp < 0x80 && absl::ascii_isalnum(static_cast<char>(cp))) {
      out.push_back(absl::ascii_tolower(static_cast<char>(cp)));
    } else if (cp == U'æ' || cp == U'Æ') {
      out += "ae";
    } else if (cp == U'ø' || cp == U'Ø') {
      out += "o";
    } else if (cp == U'å' || cp == U'Å') {
      out += "a";
    } else {
      dash();
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "organisation" : out;
}

// --- Writing. ---------------------------------------------------------------------------------

// One subject with its predicate-object pairs, written as a Turtle block. Objects are terms
// already in Turtle syntax.
class Node {
 public:
  Node(std::string subject, absl::string_view type)
      : subject_(std::move(subject)) {
    Add("a", std::string(type));
  }
  void Add(absl::string_view predicate, std::string object) {
    properties_.emplace_back(std::string(predicate), std::move(object));
  }
  void WriteTo(std::string& out) const {
    absl::StrAppend(&out, subject_);
    for (size_t i = 0; i < properties_.size(); ++i) {
      absl::StrAppend(&out, i == 0 ? "\n    " : " ;\n    ", properties_[i].first, " ",
                      properties_[i].second);
    }
    out += " .\n\n";
  }

 private:
  std::string subject_;
  std::vector<std::pair<std::string, std::string>> properties_;
};

class Exporter {
 public:
  explicit Exporter(const DcatCatalogueInfo& info)
      : info_(info), lang_(LanguageTag(info.language)), base_(info.base_uri) {
    if (base_.empty()) base_ = DcatCatalogueInfo().base_uri;
    if (base_.back() != '/') base_.push_back('/');
  }

  std::string Export(const std::vector<v1::Dataset>& datasets) {
    const std::string catalogue_uri = absl::StrCat(base_, "catalogue");
    Node catalogue(Iri(catalogue_uri), "dcat:Catalog");
    catalogue.Add("dct:title", LangLiteral(info_.title, lang_));
    catalogue.Add("dct:description", LangLiteral(info_.description, lang_));
    catalogue.Add("dct:publisher",
                  Iri(Publisher(info_.publisher_name, info_.publisher_organization_number)));
    catalogue.Add("dct:identifier", Literal(catalogue_uri));
    if (const std::string language = LanguageUri(lang_); !language.empty()) {
      catalogue.Add("dct:language", Iri(language));
    }
    for (const v1::Dataset& dataset : datasets) {
      catalogue.Add("dcat:dataset", Iri(DatasetUri(dataset)));
    }
    catalogue.WriteTo(body_);

    for (const v1::Dataset& dataset : datasets) WriteDataset(dataset);

    for (const auto& [uri, agent] : agents_) {
      Node node(Iri(uri), "foaf:Agent");
      node.Add("foaf:name", LangLiteral(agent.name, lang_));
      if (!agent.organization_number.empty()) {
        node.Add("dct:identifier", Literal(agent.organization_number));
      }
      node.WriteTo(body_);
    }
    return absl::StrCat(kPrefixes, uses_spdx_ ? kSpdxPrefix : "", "\n", body_);
  }

 private:
  struct Agent {
    std::string name;
    std::string organization_number;
  };

  std::string DatasetUri(const v1::Dataset& dataset) const {
    return absl::StrCat(base_, "datasets/", EncodeSegment(dataset.name()));
  }

  // The publisher's URI, registering it as a foaf:Agent to be written once at the end.
  std::string Publisher(absl::string_view name, absl::string_view organization_number) {
    std::string uri;
    Agent agent{std::string(name), ""};
    if (IsOrganizationNumber(organization_number)) {
      uri = absl::StrCat("https://data.brreg.no/enhetsregisteret/api/enheter/",
                         organization_number);
      agent.organization_number = std::string(organization_number);
    } else {
      uri = absl::StrCat(base_, "organisations/", EncodeSegment(Slug(name)));
    }
    if (agent.name.empty()) agent.name = agent.organization_number;
    agents_.emplace(uri, std::move(agent));  // the first name seen wins
    return uri;
  }

  void WriteDataset(const v1::Dataset& d) {
    const std::string uri = DatasetUri(d);
    Node node(Iri(uri), "dcat:Dataset");
    node.Add("dct:identifier", Literal(uri));
    node.Add("dct:title", LangLiteral(d.title(), lang_));
    // dct:description is mandatory in DCAT-AP-NO; the title is the best we have without one.
    node.Add("dct:description",
             LangLiteral(d.description().empty() ? d.title() : d.description(), lang_));
    const std::string publisher =
        d.owner().organization().empty() && !IsOrganizationNumber(d.owner().organization_number())
            ? Publisher(info_.publisher_name, info_.publisher_organization_number)
            : Publisher(d.owner().organization(), d.owner().organization_number());
    node.Add("dct:publisher", Iri(publisher));
    node.Add("dct:accessRights", Iri(AccessRightsUri(d.classification())));
    for (int theme : d.themes()) {
      if (theme != v1::THEME_UNSPECIFIED && v1::Theme_IsValid(theme)) {
        node.Add("dcat:theme", Iri(ThemeUri(static_cast<v1::Theme>(theme))));
      }
    }
    for (const std::string& keyword : d.keywords()) {
      node.Add("dcat:keyword", LangLiteral(keyword, lang_));
    }
    if (const std::string frequency = FrequencyUri(d.update_frequency()); !frequency.empty()) {
      node.Add("dct:accrualPeriodicity", Iri(frequency));
    }
    if (d.has_publish_time()) node.Add("dct:issued", DateTime(d.publish_time()));
    if (d.has_update_time()) node.Add("dct:modified", DateTime(d.update_time()));

    std::vector<Node> parts;
    const v1::ContactPoint& c = d.contact_point();
    if (!c.name().empty() || !c.email().empty() || !c.phone().empty() || !c.url().empty()) {
      const std::string contact_uri = absl::StrCat(uri, "#contact");
      node.Add("dcat:contactPoint", Iri(contact_uri));
      Node contact(Iri(contact_uri), "vcard:Organization");
      std::string fn = c.name();
      if (fn.empty()) {
        fn = d.owner().department().empty()
                 ? d.owner().organization()
                 : absl::StrCat(d.owner().organization(), ", ", d.owner().department());
      }
      if (!fn.empty()) contact.Add("vcard:fn", Literal(fn));
      if (!c.email().empty()) contact.Add("vcard:hasEmail", Iri(absl::StrCat("mailto:", c.email())));
      std::string tel;
      for (char ch : c.phone()) {
        if (absl::ascii_isdigit(ch) || (ch == '+' && tel.empty())) tel.push_back(ch);
      }
      if (!tel.empty()) contact.Add("vcard:hasTelephone", Iri(absl::StrCat("tel:", tel)));
      if (!c.url().empty()) contact.Add("vcard:hasURL", Iri(c.url()));
      parts.push_back(std::move(contact));
    }
    if (!d.spatial().place_name().empty() || d.spatial().has_bbox()) {
      const std::string spatial_uri = absl::StrCat(uri, "#spatial");
      node.Add("dct:spatial", Iri(spatial_uri));
      Node spatial(Iri(spatial_uri), "dct:Location");
      if (!d.spatial().place_name().empty()) {
        spatial.Add("locn:geographicName", LangLiteral(d.spatial().place_name(), lang_));
      }
      if (d.spatial().has_bbox()) {
        const common::BoundingBox& b = d.spatial().bbox();
        // WKT in CRS84 (the gsp:wktLiteral default): longitude first.
        // Nine significant digits keep centimetres; StrCat's six would round to ~100 m.
        const auto coordinate = [](double d) { return absl::StrFormat("%.9g", d); };
        const std::string w = coordinate(b.min_longitude()), s = coordinate(b.min_latitude()),
                          e = coordinate(b.max_longitude()), n = coordinate(b.max_latitude());
        spatial.Add("dcat:bbox",
                    TypedLiteral(absl::StrCat("POLYGON((", w, " ", s, ", ", e, " ", s, ", ", e,
                                              " ", n, ", ", w, " ", n, ", ", w, " ", s, "))"),
                                 "gsp:wktLiteral"));
      }
      parts.push_back(std::move(spatial));
    }
    if (d.temporal().has_start_time() || d.temporal().has_end_time()) {
      const std::string temporal_uri = absl::StrCat(uri, "#temporal");
      node.Add("dct:temporal", Iri(temporal_uri));
      Node temporal(Iri(temporal_uri), "dct:PeriodOfTime");
      if (d.temporal().has_start_time()) {
        temporal.Add("dcat:startDate", DateTime(d.temporal().start_time()));
      }
      if (d.temporal().has_end_time()) {
        temporal.Add("dcat:endDate", DateTime(d.temporal().end_time()));
      }
      parts.push_back(std::move(temporal));
    }

    const std::string license = LicenseUri(d.license());
    for (int i = 0; i < d.resources_size(); ++i) {
      const v1::Resource& r = d.resources(i);
      // Ids are assigned by the catalogue; the position keeps the URI unique if one is missing.
      const std::string id = r.id().empty() ? absl::StrCat(i + 1) : r.id();
      const std::string dist_uri =
          absl::StrCat(uri, "/distributions/", EncodeSegment(id));
      node.Add("dcat:distribution", Iri(dist_uri));
      Node dist(Iri(dist_uri), "dcat:Distribution");
      dist.Add("dct:identifier", Literal(dist_uri));
      dist.Add("dct:title", LangLiteral(r.title(), lang_));
      if (!r.description().empty()) dist.Add("dct:description", LangLiteral(r.description(), lang_));
      const std::string access_url =
          r.access_url().empty()
              ? absl::StrCat(uri, "/streams/", EncodeSegment(r.ingestion_stream()))
              : r.access_url();
      dist.Add("dcat:accessURL", Iri(access_url));
      if (const std::string format = FileTypeUri(r.format()); !format.empty()) {
        dist.Add("dct:format", Iri(format));
      }
      const std::string media_type =
          MediaTypeUri(r.media_type().empty() ? MediaTypeForFormat(r.format()) : r.media_type());
      if (!media_type.empty()) dist.Add("dcat:mediaType", Iri(media_type));
      if (r.byte_size() > 0) {
        dist.Add("dcat:byteSize", TypedLiteral(absl::StrCat(r.byte_size()),
                                               "xsd:nonNegativeInteger"));
      }
      if (!license.empty()) dist.Add("dct:license", Iri(license));
      if (!r.checksum_sha256().empty()) {
        uses_spdx_ = true;
        const std::string checksum_uri = absl::StrCat(dist_uri, "#checksum");
        dist.Add("spdx:checksum", Iri(checksum_uri));
        Node checksum(Iri(checksum_uri), "spdx:Checksum");
        checksum.Add("spdx:algorithm", "spdx:checksumAlgorithm_sha256");
        checksum.Add("spdx:checksumValue",
                     TypedLiteral(absl::AsciiStrToLower(r.checksum_sha256()), "xsd:hexBinary"));
        parts.push_back(std::move(dist));
        parts.push_back(std::move(checksum));
      } else {
        parts.push_back(std::move(dist));
      }
    }

    node.WriteTo(body_);
    for (const Node& part : parts) part.WriteTo(body_);
  }

  const DcatCatalogueInfo& info_;
  const std::string lang_;
  std::string base_;
  std::string body_;
  bool uses_spdx_ = false;
  std::map<std::string, Agent> agents_;  // ordered, so the output is deterministic
};

}  // namespace

std::string ExportDcatTurtle(const std::vector<v1::Dataset>& datasets,
                             const DcatCatalogueInfo& info) {
  return Exporter(info).Export(datasets);
}

}  // namespace smartby::catalogue
