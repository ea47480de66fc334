// The export is checked by parsing it with a real Turtle parser (rapper, from raptor2-utils)
// and asserting on the triples it finds, not on the text we wrote.
#include "services/catalogue/dcat_export.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::catalogue {
namespace {

namespace v1 = ::smartcity::catalogue::v1;
namespace common = ::smartcity::common::v1;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr char kBase[] = "https://data.stavanger.kommune.no/";
constexpr char kDcat[] = "http://www.w3.org/ns/dcat#";
constexpr char kDct[] = "http://purl.org/dc/terms/";
constexpr char kRdfType[] = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
constexpr char kEu[] = "http://publications.europa.eu/resource/authority/";

// One RDF term as N-Triples gives it: an IRI, a blank node or a literal (value unescaped).
struct Term {
  enum Kind { kIri, kBlank, kLiteral } kind = kIri;
  std::string value;
  std::string lang;
  std::string datatype;
};

struct Triple {
  Term subject, predicate, object;
};

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Reads `s[i]` up to (not including) `end`, undoing N-Triples escapes (\t \n \r \" \\ \uXXXX
// \UXXXXXXXX ...). rapper writes every non-ASCII character as \u or \U.
std::string Unescape(const std::string& s, size_t& i, char end) {
  std::string out;
  while (i < s.size() && s[i] != end) {
    if (s[i] != '\\') {
      out.push_back(s[i++]);
      continue;
    }
    const char e = s[i + 1];
    i += 2;
    switch (e) {
      case 't': out.push_back('\t'); break;
      case 'b': out.push_back('\b'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 'f': out.push_back('\f'); break;
      case '"': out.push_back('"'); break;
      case '\'': out.push_back('\''); break;
      case '\\': out.push_back('\\'); break;
      case 'u':
      case 'U': {
        const size_t n = e == 'u' ? 4 : 8;
        AppendUtf8(static_cast<uint32_t>(std::stoul(s.substr(i, n), nullptr, 16)), out);
        i += n;
        break;
      }
      default: ADD_FAILURE() << "unknown escape \\" << e << " in " << s;
    }
  }
  ++i;  // the end character
  return out;
}

Term ParseTerm(const std::string& line, size_t& i) {
  while (line[i] == ' ') ++i;
  Term t;
  if (line[i] == '<') {
    ++i;
    t.value = Unescape(line, i, '>');
  } else if (line.compare(i, 2, "_:") == 0) {
    t.kind = Term::kBlank;
    const size_t end = line.find(' ', i);
    t.value = line.substr(i, end - i);
    i = end;
  } else if (line[i] == '"') {
    t.kind = Term::kLiteral;
    ++i;
    t.value = Unescape(line, i, '"');
    if (line[i] == '@') {
      const size_t end = line.find(' ', i);
      t.lang = line.substr(i + 1, end - i - 1);
      i = end;
    } else if (line.compare(i, 2, "^^") == 0) {
      i += 3;
      t.datatype = Unescape(line, i, '>');
    }
  } else {
    ADD_FAILURE() << "cannot read term at " << i << " of: " << line;
    i = line.size();
  }
  return t;
}

std::vector<Triple> ParseNTriples(const std::string& text) {
  std::vector<Triple> triples;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    size_t i = 0;
    Triple t;
    t.subject = ParseTerm(line, i);
    t.predicate = ParseTerm(line, i);
    t.object = ParseTerm(line, i);
    triples.push_back(std::move(t));
  }
  return triples;
}

// Turtle parsed by rapper into N-Triples; a parse error fails the test.
struct Parsed {
  std::string ntriples;
  std::vector<Triple> triples;

  std::vector<Term> Objects(const std::string& subject, const std::string& predicate) const {
    std::vector<Term> out;
    for (const Triple& t : triples) {
      if (t.subject.kind == Term::kIri && t.subject.value == subject &&
          t.predicate.value == predicate) {
        out.push_back(t.object);
      }
    }
    return out;
  }
  std::vector<std::string> ObjectValues(const std::string& subject,
                                        const std::string& predicate) const {
    std::vector<std::string> out;
    for (const Term& t : Objects(subject, predicate)) out.push_back(t.value);
    return out;
  }
  std::vector<std::string> SubjectsOfType(const std::string& type) const {
    std::vector<std::string> out;
    for (const Triple& t : triples) {
      if (t.predicate.value == kRdfType && t.object.value == type) out.push_back(t.subject.value);
    }
    return out;
  }
};

Parsed ParseTurtle(const std::string& turtle) {
  Parsed parsed;
  char path[] = "/tmp/dcat_export_test_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    ADD_FAILURE() << "mkstemp failed";
    return parsed;
  }
  close(fd);
  std::ofstream(path, std::ios::binary) << turtle;
  const std::string command =
      absl::StrCat("rapper -q -i turtle -o ntriples ", path, " ", kBase, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run rapper";
    return parsed;
  }
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) parsed.ntriples.append(buffer, n);
  const int status = pclose(pipe);
  std::remove(path);
  EXPECT_EQ(status, 0) << "rapper refused the Turtle:\n" << parsed.ntriples << "\n---\n" << turtle;
  if (status == 0) parsed.triples = ParseNTriples(parsed.ntriples);
  return parsed;
}

std::string D(const char* local) { return absl::StrCat(kDct, local); }
std::string C(const char* local) { return absl::StrCat(kDcat, local); }

DcatCatalogueInfo StavangerInfo() {
  DcatCatalogueInfo info;
  info.base_uri = kBase;
  info.title = "Stavanger kommunes datakatalog";
  info.description = "Åpne data fra Stavanger kommune.";
  info.publisher_name = "Stavanger kommune";
  info.publisher_organization_number = "964965226";
  return info;
}

v1::Dataset BathingTemperatures() {
  v1::Dataset d;
  d.set_name("badetemperatur-stavanger");
  d.set_title("Badetemperaturer i Stavanger");
  d.set_description("Vanntemperatur ved badeplassene, målt hvert tiende minutt.");
  d.mutable_owner()->set_organization("Stavanger kommune");
  d.mutable_owner()->set_organization_number("964965226");
  d.mutable_owner()->set_department("Bymiljø og utbygging");
  d.mutable_contact_point()->set_name("Park og vei");
  d.mutable_contact_point()->set_email("postmottak@stavanger.kommune.no");
  d.mutable_contact_point()->set_phone("+47 51 50 70 90");
  d.mutable_contact_point()->set_url("https://www.stavanger.kommune.no/");
  d.set_license("NLOD-2.0");
  d.set_classification(common::CLASSIFICATION_OPEN);
  d.add_themes(v1::THEME_ENVI);
  d.add_themes(v1::THEME_REGI);
  d.add_keywords("badetemperatur");
  d.add_keywords("sjøtemperatur");
  d.mutable_spatial()->set_place_name("Stavanger");
  auto* bbox = d.mutable_spatial()->mutable_bbox();
  bbox->set_min_longitude(5.5);
  bbox->set_min_latitude(58.851234);
  bbox->set_max_longitude(5.85);
  bbox->set_max_latitude(59.1);
  d.mutable_temporal()->mutable_start_time()->set_seconds(1735689600);  // 2025-01-01
  d.set_update_frequency(v1::UPDATE_FREQUENCY_HOURLY);
  d.mutable_publish_time()->set_seconds(1741910400);  // 2025-03-14
  d.mutable_update_time()->set_seconds(1741996800);   // 2025-03-15
  v1::Resource* csv = d.add_resources();
  csv->set_id("r1");
  csv->set_title("Målinger som CSV");
  csv->set_format("CSV");
  csv->set_access_url("https://opencom.no/dataset/badetemperatur.csv");
  csv->set_byte_size(12345);
  csv->set_checksum_sha256(std::string(64, 'a'));
  v1::Resource* live = d.add_resources();
  live->set_id("r2");
  live->set_title("Direkte strøm");
  live->set_format("JSON");
  live->set_ingestion_stream("sensors");
  return d;
}

v1::Dataset CityBikes() {
  v1::Dataset d;
  d.set_name("bysykkel-stavanger");
  d.set_title("Bysykkelstasjoner");
  d.set_description("Ledige sykler og låser per stasjon.");
  d.mutable_owner()->set_organization("Kolumbus AS");  // no organisation number
  d.set_license("CC-BY-4.0");
  d.set_classification(common::CLASSIFICATION_OPEN);
  d.add_themes(v1::THEME_TRAN);
  v1::Resource* geojson = d.add_resources();
  geojson->set_id("r1");
  geojson->set_title("Stasjoner");
  geojson->set_format("GEOJSON");
  geojson->set_access_url("https://opencom.no/dataset/bysykkel/stasjoner.geojson");
  return d;
}

std::string DatasetUri(const v1::Dataset& d) { return absl::StrCat(kBase, "datasets/", d.name()); }

class DcatExport : public ::testing::Test {
 protected:
  void SetUp() override {
    datasets_ = {BathingTemperatures(), CityBikes()};
    turtle_ = ExportDcatTurtle(datasets_, StavangerInfo());
    parsed_ = ParseTurtle(turtle_);
  }

  std::vector<v1::Dataset> datasets_;
  std::string turtle_;
  Parsed parsed_;
};

TEST_F(DcatExport, IsTurtleThatRapperParses) {
  EXPECT_FALSE(parsed_.triples.empty());
}

TEST_F(DcatExport, DescribesTheCatalogue) {
  const std::string catalogue = absl::StrCat(kBase, "catalogue");
  EXPECT_THAT(parsed_.SubjectsOfType(C("Catalog")), ElementsAre(catalogue));
  const auto titles = parsed_.Objects(catalogue, D("title"));
  ASSERT_EQ(titles.size(), 1u);
  EXPECT_EQ(titles[0].value, "Stavanger kommunes datakatalog");
  EXPECT_EQ(titles[0].lang, "nb");
  EXPECT_THAT(parsed_.ObjectValues(catalogue, D("description")),
              ElementsAre("Åpne data fra Stavanger kommune."));
  EXPECT_THAT(parsed_.ObjectValues(catalogue, D("publisher")),
              ElementsAre("https://data.brreg.no/enhetsregisteret/api/enheter/964965226"));
  EXPECT_THAT(parsed_.ObjectValues(catalogue, D("identifier")), ElementsAre(catalogue));
  EXPECT_THAT(parsed_.ObjectValues(catalogue, C("dataset")),
              UnorderedElementsAre(DatasetUri(datasets_[0]), DatasetUri(datasets_[1])));
}

TEST_F(DcatExport, EveryDatasetHasTheMandatoryProperties) {
  const auto datasets = parsed_.SubjectsOfType(C("Dataset"));
  ASSERT_EQ(datasets.size(), 2u);
  for (const std::string& d : datasets) {
    SCOPED_TRACE(d);
    EXPECT_EQ(parsed_.Objects(d, D("title")).size(), 1u);
    EXPECT_EQ(parsed_.Objects(d, D("description")).size(), 1u);
    EXPECT_THAT(parsed_.ObjectValues(d, D("identifier")), ElementsAre(d));
    EXPECT_GE(parsed_.Objects(d, C("theme")).size(), 1u);
    EXPECT_EQ(parsed_.Objects(d, D("publisher")).size(), 1u);
    EXPECT_THAT(parsed_.ObjectValues(d, D("accessRights")),
                ElementsAre(absl::StrCat(kEu, "access-right/PUBLIC")));
  }
}

TEST_F(DcatExport, ThemesAreEuDataThemes) {
  EXPECT_THAT(parsed_.ObjectValues(DatasetUri(datasets_[0]), C("theme")),
              UnorderedElementsAre(absl::StrCat(kEu, "data-theme/ENVI"),
                                   absl::StrCat(kEu, "data-theme/REGI")));
}

TEST_F(DcatExport, PublisherWithoutOrganisationNumberIsANamedAgent) {
  const std::string agent = absl::StrCat(kBase, "organisations/kolumbus-as");
  EXPECT_THAT(parsed_.ObjectValues(DatasetUri(datasets_[1]), D("publisher")), ElementsAre(agent));
  EXPECT_THAT(parsed_.ObjectValues(agent, kRdfType),
              ElementsAre("http://xmlns.com/foaf/0.1/Agent"));
  EXPECT_THAT(parsed_.ObjectValues(agent, "http://xmlns.com/foaf/0.1/name"),
              ElementsAre("Kolumbus AS"));
}

TEST_F(DcatExport, PublisherWithOrganisationNumberIsInEnhetsregisteret) {
  const std::string brreg = "https://data.brreg.no/enhetsregisteret/api/enheter/964965226";
  EXPECT_THAT(parsed_.ObjectValues(DatasetUri(datasets_[0]), D("publisher")), ElementsAre(brreg));
  EXPECT_THAT(parsed_.ObjectValues(brreg, "http://xmlns.com/foaf/0.1/name"),
              ElementsAre("Stavanger kommune"));
}

TEST_F(DcatExport, HasNoBlankNodes) {
  EXPECT_FALSE(absl::StrContains(parsed_.ntriples, "_:")) << parsed_.ntriples;
}

TEST_F(DcatExport, DistributionsHaveAccessUrlFormatMediaTypeAndLicense) {
  const std::string dist = absl::StrCat(DatasetUri(datasets_[0]), "/distributions/r1");
  EXPECT_THAT(parsed_.ObjectValues(dist, kRdfType), ElementsAre(C("Distribution")));
  EXPECT_THAT(parsed_.ObjectValues(dist, C("accessURL")),
              ElementsAre("https://opencom.no/dataset/badetemperatur.csv"));
  EXPECT_THAT(parsed_.ObjectValues(dist, D("format")),
              ElementsAre(absl::StrCat(kEu, "file-type/CSV")));
  EXPECT_THAT(parsed_.ObjectValues(dist, C("mediaType")),
              ElementsAre("https://www.iana.org/assignments/media-types/text/csv"));
  EXPECT_THAT(parsed_.ObjectValues(dist, D("license")),
              ElementsAre("http://data.norge.no/nlod/no/2.0"));
  const auto size = parsed_.Objects(dist, C("byteSize"));
  ASSERT_EQ(size.size(), 1u);
  EXPECT_EQ(size[0].value, "12345");
  EXPECT_EQ(size[0].datatype, "http://www.w3.org/2001/XMLSchema#nonNegativeInteger");
  EXPECT_THAT(parsed_.ObjectValues(absl::StrCat(DatasetUri(datasets_[1]), "/distributions/r1"),
                                   D("license")),
              ElementsAre("http://creativecommons.org/licenses/by/4.0/"));
}

TEST_F(DcatExport, EveryDistributionHasAnAccessUrl) {
  const auto distributions = parsed_.SubjectsOfType(C("Distribution"));
  EXPECT_EQ(distributions.size(), 3u);
  for (const std::string& dist : distributions) {
    EXPECT_EQ(parsed_.Objects(dist, C("accessURL")).size(), 1u) << dist;
  }
}

TEST_F(DcatExport, StreamDistributionPointsAtTheStream) {
  const std::string dist = absl::StrCat(DatasetUri(datasets_[0]), "/distributions/r2");
  EXPECT_THAT(parsed_.ObjectValues(dist, C("accessURL")),
              ElementsAre(absl::StrCat(DatasetUri(datasets_[0]), "/streams/sensors")));
}

TEST_F(DcatExport, DescribesContactPoint) {
  const std::string dataset = DatasetUri(datasets_[0]);
  const std::string contact = absl::StrCat(dataset, "#contact");
  const std::string vcard = "http://www.w3.org/2006/vcard/ns#";
  EXPECT_THAT(parsed_.ObjectValues(dataset, C("contactPoint")), ElementsAre(contact));
  EXPECT_THAT(parsed_.ObjectValues(contact, kRdfType),
              ElementsAre(absl::StrCat(vcard, "Organization")));
  EXPECT_THAT(parsed_.ObjectValues(contact, absl::StrCat(vcard, "fn")), ElementsAre("Park og vei"));
  EXPECT_THAT(parsed_.ObjectValues(contact, absl::StrCat(vcard, "hasEmail")),
              ElementsAre("mailto:postmottak@stavanger.kommune.no"));
  EXPECT_THAT(parsed_.ObjectValues(contact, absl::StrCat(vcard, "hasTelephone")),
              ElementsAre("tel:+4751507090"));
}

TEST_F(DcatExport, DescribesSpatialCoverageWithBbox) {
  const std::string dataset = DatasetUri(datasets_[0]);
  const std::string location = absl::StrCat(dataset, "#spatial");
  EXPECT_THAT(parsed_.ObjectValues(dataset, D("spatial")), ElementsAre(location));
  EXPECT_THAT(parsed_.ObjectValues(location, "http://www.w3.org/ns/locn#geographicName"),
              ElementsAre("Stavanger"));
  const auto bbox = parsed_.Objects(location, C("bbox"));
  ASSERT_EQ(bbox.size(), 1u);
  EXPECT_EQ(bbox[0].value, "POLYGON((5.5 58.851234, 5.85 58.851234, 5.85 59.1, 5.5 59.1, 5.5 58.851234))");
  EXPECT_EQ(bbox[0].datatype, "http://www.opengis.net/ont/geosparql#wktLiteral");
}

TEST_F(DcatExport, DescribesTemporalCoverageAndFrequency) {
  const std::string dataset = DatasetUri(datasets_[0]);
  const std::string period = absl::StrCat(dataset, "#temporal");
  EXPECT_THAT(parsed_.ObjectValues(dataset, D("temporal")), ElementsAre(period));
  const auto start = parsed_.Objects(period, C("startDate"));
  ASSERT_EQ(start.size(), 1u);
  EXPECT_EQ(start[0].value, "2025-01-01T00:00:00Z");
  EXPECT_EQ(start[0].datatype, "http://www.w3.org/2001/XMLSchema#dateTime");
  EXPECT_TRUE(parsed_.Objects(period, C("endDate")).empty());  // ongoing
  EXPECT_THAT(parsed_.ObjectValues(dataset, D("accrualPeriodicity")),
              ElementsAre(absl::StrCat(kEu, "frequency/HOURLY")));
}

TEST_F(DcatExport, HasIssuedAndModifiedTimes) {
  const std::string dataset = DatasetUri(datasets_[0]);
  EXPECT_THAT(parsed_.ObjectValues(dataset, D("issued")), ElementsAre("2025-03-14T00:00:00Z"));
  EXPECT_THAT(parsed_.ObjectValues(dataset, D("modified")), ElementsAre("2025-03-15T00:00:00Z"));
}

TEST_F(DcatExport, KeywordsCarryTheLanguage) {
  const auto keywords = parsed_.Objects(DatasetUri(datasets_[0]), C("keyword"));
  ASSERT_EQ(keywords.size(), 2u);
  std::set<std::string> values;
  for (const Term& k : keywords) {
    EXPECT_EQ(k.lang, "nb");
    values.insert(k.value);
  }
  EXPECT_THAT(values, UnorderedElementsAre("badetemperatur", "sjøtemperatur"));
}

TEST(DcatExportAccessRights, FollowTheClassification) {
  const struct {
    common::Classification classification;
    const char* right;
  } cases[] = {{common::CLASSIFICATION_OPEN, "PUBLIC"},
               {common::CLASSIFICATION_INTERNAL, "RESTRICTED"},
               {common::CLASSIFICATION_PROTECTED, "NON_PUBLIC"},
               {common::CLASSIFICATION_STRICTLY_PROTECTED, "NON_PUBLIC"}};
  for (const auto& c : cases) {
    v1::Dataset d = CityBikes();
    d.set_classification(c.classification);
    const Parsed parsed = ParseTurtle(ExportDcatTurtle({d}, StavangerInfo()));
    EXPECT_THAT(parsed.ObjectValues(DatasetUri(d), D("accessRights")),
                ElementsAre(absl::StrCat(kEu, "access-right/", c.right)));
  }
}

TEST(DcatExportEmpty, CatalogueWithoutDatasetsIsValid) {
  const Parsed parsed = ParseTurtle(ExportDcatTurtle({}, StavangerInfo()));
  EXPECT_THAT(parsed.SubjectsOfType(C("Catalog")), ElementsAre(absl::StrCat(kBase, "catalogue")));
}

TEST(DcatExportEscaping, HostileTextRoundTrips) {
  const std::string hostile =
      "Quote \" and \"\"\" and ''' and backslash \\ and \\n literal\n"
      "second line\r\nthird\tcolumn; emoji 😀🚲, Norwegian æøå ÆØÅ, "
      "turtle-ish > . ; , @prefix x: <y> . and a bell \x07 and DEL \x7f";
  v1::Dataset d = CityBikes();
  d.set_title(hostile);
  d.set_description(hostile);
  d.add_keywords(hostile);
  d.mutable_contact_point()->set_name(hostile);
  d.mutable_spatial()->set_place_name(hostile);
  d.mutable_resources(0)->set_title(hostile);
  DcatCatalogueInfo info = StavangerInfo();
  info.title = hostile;
  info.publisher_organization_number.clear();
  info.publisher_name = hostile;
  const Parsed parsed = ParseTurtle(ExportDcatTurtle({d}, info));
  const std::string dataset = DatasetUri(d);
  EXPECT_THAT(parsed.ObjectValues(dataset, D("title")), ElementsAre(hostile));
  EXPECT_THAT(parsed.ObjectValues(dataset, D("description")), ElementsAre(hostile));
  EXPECT_THAT(parsed.ObjectValues(dataset, C("keyword")), ElementsAre(hostile));
  EXPECT_THAT(parsed.ObjectValues(absl::StrCat(dataset, "#contact"),
                                  "http://www.w3.org/2006/vcard/ns#fn"),
              ElementsAre(hostile));
  EXPECT_THAT(parsed.ObjectValues(absl::StrCat(dataset, "/distributions/r1"), D("title")),
              ElementsAre(hostile));
  EXPECT_THAT(parsed.ObjectValues(absl::StrCat(kBase, "catalogue"), D("title")),
              ElementsAre(hostile));
}

TEST(DcatExportEscaping, IrisWithForbiddenCharactersStayParseable) {
  v1::Dataset d = CityBikes();
  d.mutable_resources(0)->set_access_url(
      "https://example.no/a file<with>\"odd\"{chars}|^`\\.csv?q=æ");
  d.mutable_resources(0)->set_id("id with/slash#hash");
  d.mutable_contact_point()->set_email("post mottak@example.no");
  d.mutable_contact_point()->set_url("https://example.no/x y");
  v1::Resource* stream = d.add_resources();
  stream->set_id("r2");
  stream->set_title("Strøm");
  stream->set_format("JSON");
  stream->set_ingestion_stream("bad stream/../name");
  const Parsed parsed = ParseTurtle(ExportDcatTurtle({d}, StavangerInfo()));
  const std::string dist =
      absl::StrCat(DatasetUri(d), "/distributions/id%20with%2Fslash%23hash");
  EXPECT_THAT(
      parsed.ObjectValues(dist, C("accessURL")),
      ElementsAre("https://example.no/a%20file%3Cwith%3E%22odd%22%7Bchars%7D%7C%5E%60%5C.csv?q=æ"));
  EXPECT_THAT(parsed.ObjectValues(absl::StrCat(DatasetUri(d), "/distributions/r2"), C("accessURL")),
              ElementsAre(absl::StrCat(DatasetUri(d), "/streams/bad%20stream%2F..%2Fname")));
}

TEST(DcatExportEscaping, InvalidUtf8BecomesReplacementCharacter) {
  v1::Dataset d = CityBikes();
  d.set_title("Bymilj\xf8");  // Latin-1, not UTF-8: the validator refuses it, the export survives
  const Parsed parsed = ParseTurtle(ExportDcatTurtle({d}, StavangerInfo()));
  EXPECT_THAT(parsed.ObjectValues(DatasetUri(d), D("title")), ElementsAre("Bymilj\uFFFD"));
}

TEST(DcatExportEscaping, BaseUriWithoutTrailingSlashGetsOne) {
  DcatCatalogueInfo info = StavangerInfo();
  info.base_uri = "https://data.stavanger.kommune.no";
  const Parsed parsed = ParseTurtle(ExportDcatTurtle({CityBikes()}, info));
  EXPECT_THAT(parsed.SubjectsOfType(C("Dataset")), ElementsAre(DatasetUri(CityBikes())));
}

}  // namespace
}  // namespace smartby::catalogue
