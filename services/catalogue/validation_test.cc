#include "services/catalogue/validation.h"

#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::catalogue {
namespace {

namespace v1 = ::smartcity::catalogue::v1;
namespace common = ::smartcity::common::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The smallest dataset that passes: every test changes one thing and expects one message.
v1::Dataset ValidDataset() {
  v1::Dataset d;
  d.set_name("bathing-temperature-stavanger");
  d.set_title("Badetemperaturer i Stavanger");
  d.mutable_owner()->set_organization("Stavanger kommune");
  d.set_classification(common::CLASSIFICATION_OPEN);
  return d;
}

// A dataset with every part the caller controls filled in.
v1::Dataset RichDataset() {
  v1::Dataset d = ValidDataset();
  d.set_description("Vanntemperatur målt hvert tiende minutt ved badeplassene.\nKilde: sensorer.");
  d.mutable_owner()->set_organization_number("964965226");
  d.mutable_owner()->set_department("Bymiljø og utbygging");
  d.mutable_contact_point()->set_name("Park og vei");
  d.mutable_contact_point()->set_email("postmottak@stavanger.kommune.no");
  d.mutable_contact_point()->set_phone("+47 51 50 70 90");
  d.mutable_contact_point()->set_url("https://www.stavanger.kommune.no/");
  d.set_license("NLOD-2.0");
  d.add_themes(v1::THEME_ENVI);
  d.add_themes(v1::THEME_REGI);
  d.add_keywords("badetemperatur");
  d.add_keywords("sjøtemperatur");
  d.mutable_spatial()->set_place_name("Stavanger");
  auto* bbox = d.mutable_spatial()->mutable_bbox();
  bbox->set_min_longitude(5.5);
  bbox->set_min_latitude(58.85);
  bbox->set_max_longitude(5.85);
  bbox->set_max_latitude(59.1);
  d.mutable_temporal()->mutable_start_time()->set_seconds(1735689600);  // 2025-01-01
  d.mutable_temporal()->mutable_end_time()->set_seconds(1767225600);    // 2026-01-01
  d.set_update_frequency(v1::UPDATE_FREQUENCY_HOURLY);
  v1::SchemaField* temp = d.add_fields();
  temp->set_name("water_temp");
  temp->set_type(v1::FIELD_TYPE_DOUBLE);
  temp->set_unit("°C");
  temp->set_min_value(-2);
  temp->set_max_value(35);
  v1::SchemaField* beach = d.add_fields();
  beach->set_name("beach");
  beach->set_type(v1::FIELD_TYPE_STRING);
  d.mutable_risk_assessment()->set_reference("ROS-2025-014");
  d.mutable_risk_assessment()->mutable_assessed_time()->set_seconds(1740000000);
  v1::Resource* csv = d.add_resources();
  csv->set_title("Målinger som CSV");
  csv->set_format("CSV");
  csv->set_access_url("https://data.stavanger.kommune.no/dataset/badetemperatur.csv");
  csv->set_byte_size(12345);
  csv->set_checksum_sha256(std::string(64, 'a'));
  v1::Resource* live = d.add_resources();
  live->set_title("Direkte strøm");
  live->set_format("JSON");
  live->set_ingestion_stream("sensors");
  return d;
}

v1::Resource ValidResource() {
  v1::Resource r;
  r.set_title("Målinger som CSV");
  r.set_format("CSV");
  r.set_access_url("https://data.stavanger.kommune.no/badetemperatur.csv");
  return r;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// The status must be INVALID_ARGUMENT with exactly `message`.
void ExpectInvalid(const absl::Status& status, const std::string& message) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(status.message(), message);
}

// --- Baselines -------------------------------------------------------------------------------

TEST(DatasetValidation, AcceptsMinimalDataset) {
  EXPECT_TRUE(ValidateDataset(ValidDataset()).ok()) << ValidateDataset(ValidDataset());
}

TEST(DatasetValidation, AcceptsRichDataset) {
  EXPECT_TRUE(ValidateDataset(RichDataset()).ok()) << ValidateDataset(RichDataset());
}

TEST(DatasetValidation, IgnoresFieldsManagedByTheCatalogue) {
  v1::Dataset d = ValidDataset();
  d.set_state(static_cast<v1::DatasetState>(99));
  d.set_version(-5);
  d.set_created_by("\xff");
  EXPECT_TRUE(ValidateDataset(d).ok());
}

// --- Name ------------------------------------------------------------------------------------

TEST(DatasetName, AcceptsSlugs) {
  EXPECT_TRUE(IsValidDatasetName("bathing-temperature-stavanger"));
  EXPECT_TRUE(IsValidDatasetName("ab"));
  EXPECT_TRUE(IsValidDatasetName("a1"));
  EXPECT_TRUE(IsValidDatasetName(std::string(100, 'a')));
}

TEST(DatasetName, RejectsWhatIsNotASlug) {
  EXPECT_FALSE(IsValidDatasetName(""));
  EXPECT_FALSE(IsValidDatasetName("a"));
  EXPECT_FALSE(IsValidDatasetName(std::string(101, 'a')));
  EXPECT_FALSE(IsValidDatasetName("1abc"));
  EXPECT_FALSE(IsValidDatasetName("-abc"));
  EXPECT_FALSE(IsValidDatasetName("abc-"));
  EXPECT_FALSE(IsValidDatasetName("a--b"));
  EXPECT_FALSE(IsValidDatasetName("Abc"));
  EXPECT_FALSE(IsValidDatasetName("a_b"));
  EXPECT_FALSE(IsValidDatasetName("a b"));
  EXPECT_FALSE(IsValidDatasetName("bløtkake"));
}

TEST(DatasetValidation, RejectsBadName) {
  v1::Dataset d = ValidDataset();
  d.set_name("Bad Name");
  const absl::Status status = ValidateDataset(d);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("dataset.name: must be 2–100 characters of a-z"));
  EXPECT_THAT(Message(status), HasSubstr("got \"Bad Name\""));
}

// --- Required text, lengths and UTF-8 ---------------------------------------------------------

TEST(DatasetValidation, RequiresTitle) {
  v1::Dataset d = ValidDataset();
  d.clear_title();
  const absl::Status status = ValidateDataset(d);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("dataset.title: required — "));
}

TEST(DatasetValidation, RejectsBlankTitle) {
  v1::Dataset d = ValidDataset();
  d.set_title("   ");
  EXPECT_THAT(Message(ValidateDataset(d)), StartsWith("dataset.title: required"));
}

TEST(DatasetValidation, RejectsTooLongTitle) {
  v1::Dataset d = ValidDataset();
  d.set_title(std::string(kMaxTitleBytes + 1, 'x'));
  ExpectInvalid(ValidateDataset(d), "dataset.title: must be at most 200 bytes of UTF-8, got 201");
}

TEST(DatasetValidation, CountsLengthInBytesNotCharacters) {
  v1::Dataset d = ValidDataset();
  d.set_title(std::string(100, 'x') + std::string(50, 'a') + "æøå");  // 156 bytes
  EXPECT_TRUE(ValidateDataset(d).ok());
  std::string title;
  for (int i = 0; i < 101; ++i) title += "ø";  // 101 characters, 202 bytes
  d.set_title(title);
  ExpectInvalid(ValidateDataset(d), "dataset.title: must be at most 200 bytes of UTF-8, got 202");
}

TEST(DatasetValidation, RejectsTooLongDescription) {
  v1::Dataset d = ValidDataset();
  d.set_description(std::string(kMaxDescriptionBytes + 1, 'x'));
  EXPECT_THAT(Message(ValidateDataset(d)), StartsWith("dataset.description: must be at most"));
}

TEST(DatasetValidation, RejectsInvalidUtf8InTitle) {
  v1::Dataset d = ValidDataset();
  d.set_title("Badetem\xff");
  ExpectInvalid(ValidateDataset(d),
                "dataset.title: not valid UTF-8 (byte 8); save the text as UTF-8");
}

TEST(DatasetValidation, RejectsInvalidUtf8InNestedText) {
  v1::Dataset d = ValidDataset();
  d.mutable_owner()->set_department("Bymilj\xf8");  // Latin-1 ø
  ExpectInvalid(ValidateDataset(d),
                "dataset.owner.department: not valid UTF-8 (byte 7); save the text as UTF-8");
}

TEST(DatasetValidation, RejectsInvalidUtf8InKeyword) {
  v1::Dataset d = ValidDataset();
  d.add_keywords("bad");
  d.add_keywords("sj\xc3");
  ExpectInvalid(ValidateDataset(d),
                "dataset.keywords[1]: not valid UTF-8 (byte 3); save the text as UTF-8");
}

// Strictness of the UTF-8 check, through a field that has no other rule.
absl::Status WithDescription(const std::string& text) {
  v1::Dataset d = ValidDataset();
  d.set_description(text);
  return ValidateDataset(d);
}

TEST(Utf8Validation, AcceptsAllLengthsOfWellFormedSequences) {
  EXPECT_TRUE(WithDescription("a æ € 𝄞 😀 \xf4\x8f\xbf\xbf").ok());  // up to U+10FFFF
}

TEST(Utf8Validation, RejectsOverlongEncodings) {
  EXPECT_FALSE(WithDescription("\xc0\xaf").ok());              // '/' in two bytes
  EXPECT_FALSE(WithDescription("\xc1\xbf").ok());
  EXPECT_FALSE(WithDescription("\xe0\x80\xaf").ok());          // '/' in three bytes
  EXPECT_FALSE(WithDescription("\xf0\x80\x80\xaf").ok());      // '/' in four bytes
}

TEST(Utf8Validation, RejectsSurrogates) {
  EXPECT_FALSE(WithDescription("\xed\xa0\x80").ok());  // U+D800
  EXPECT_FALSE(WithDescription("\xed\xbf\xbf").ok());  // U+DFFF
}

TEST(Utf8Validation, RejectsCodePointsAboveUnicode) {
  EXPECT_FALSE(WithDescription("\xf4\x90\x80\x80").ok());  // U+110000
  EXPECT_FALSE(WithDescription("\xf5\x80\x80\x80").ok());
  EXPECT_FALSE(WithDescription("\xff").ok());
}

TEST(Utf8Validation, RejectsTruncatedAndStraySequences) {
  EXPECT_FALSE(WithDescription("\xe2\x82").ok());   // € cut short
  EXPECT_FALSE(WithDescription("\x80").ok());       // continuation without a lead
  EXPECT_FALSE(WithDescription("\xc3\x28").ok());   // lead followed by ASCII
}

// --- Owner and contact -----------------------------------------------------------------------

TEST(DatasetValidation, RequiresOwnerOrganization) {
  v1::Dataset d = ValidDataset();
  d.mutable_owner()->clear_organization();
  ExpectInvalid(ValidateDataset(d),
                "dataset.owner.organization: required — the organisation that owns the "
                "dataset, e.g. \"Stavanger kommune\"");
}

TEST(DatasetValidation, RejectsOrganizationNumberThatIsNotNineDigits) {
  v1::Dataset d = ValidDataset();
  d.mutable_owner()->set_organization_number("964 965 226");
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.owner.organization_number: must be the 9 digits"));
  d.mutable_owner()->set_organization_number("96496522");
  EXPECT_FALSE(ValidateDataset(d).ok());
}

TEST(DatasetValidation, RejectsMalformedContactEmail) {
  v1::Dataset d = ValidDataset();
  for (const char* email : {"postmottak", "postmottak@", "@stavanger.kommune.no",
                            "post mottak@stavanger.kommune.no", "a@b@c.no", "a@localhost",
                            "a@stavanger..no", "a@-stavanger.no"}) {
    d.mutable_contact_point()->set_email(email);
    EXPECT_THAT(Message(ValidateDataset(d)),
                StartsWith("dataset.contact_point.email: must be an e-mail address"))
        << email;
  }
}

TEST(DatasetValidation, AcceptsContactEmailWithNorwegianDomain) {
  v1::Dataset d = ValidDataset();
  d.mutable_contact_point()->set_email("post@bærum.kommune.no");
  EXPECT_TRUE(ValidateDataset(d).ok());
}

TEST(DatasetValidation, RejectsContactUrlThatIsNotHttp) {
  v1::Dataset d = ValidDataset();
  d.mutable_contact_point()->set_url("ftp://stavanger.kommune.no");
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.contact_point.url: must be an http:// or https:// address"));
}

// --- License and enums -----------------------------------------------------------------------

TEST(Licenses, KnowsTheCatalogueLicenses) {
  for (const char* license :
       {"", "NLOD-2.0", "NLOD-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "PDDL-1.0",
        "ODbL-1.0"}) {
    EXPECT_TRUE(IsKnownLicense(license)) << license;
  }
  EXPECT_FALSE(IsKnownLicense("MIT"));
  EXPECT_FALSE(IsKnownLicense("nlod-2.0"));
}

TEST(DatasetValidation, RejectsUnknownLicense) {
  v1::Dataset d = ValidDataset();
  d.set_license("MIT");
  ExpectInvalid(ValidateDataset(d),
                "dataset.license: unknown license \"MIT\"; expected one of NLOD-2.0, NLOD-1.0, "
                "CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0, PDDL-1.0, ODbL-1.0, or leave it empty");
}

TEST(DatasetValidation, RequiresClassification) {
  v1::Dataset d = ValidDataset();
  d.clear_classification();
  ExpectInvalid(ValidateDataset(d),
                "dataset.classification: required — one of open, internal, protected, "
                "strictly-protected");
}

TEST(DatasetValidation, RejectsUnknownClassification) {
  v1::Dataset d = ValidDataset();
  d.set_classification(static_cast<common::Classification>(42));
  ExpectInvalid(ValidateDataset(d),
                "dataset.classification: unknown value 42; expected one of open, internal, "
                "protected, strictly-protected");
}

TEST(DatasetValidation, RejectsUnknownTheme) {
  v1::Dataset d = ValidDataset();
  d.add_themes(v1::THEME_ENVI);
  d.add_themes(static_cast<v1::Theme>(99));
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.themes[1]: unknown value 99; expected one of THEME_AGRI"));
}

TEST(DatasetValidation, RejectsUnspecifiedTheme) {
  v1::Dataset d = ValidDataset();
  d.add_themes(v1::THEME_UNSPECIFIED);
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.themes[0]: THEME_UNSPECIFIED is not a theme"));
}

TEST(DatasetValidation, RejectsRepeatedTheme) {
  v1::Dataset d = ValidDataset();
  d.add_themes(v1::THEME_ENVI);
  d.add_themes(v1::THEME_TRAN);
  d.add_themes(v1::THEME_ENVI);
  ExpectInvalid(ValidateDataset(d), "dataset.themes[2]: THEME_ENVI is listed at themes[0] already");
}

TEST(DatasetValidation, RejectsUnknownUpdateFrequency) {
  v1::Dataset d = ValidDataset();
  d.set_update_frequency(static_cast<v1::UpdateFrequency>(77));
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.update_frequency: unknown value 77; expected one of "
                         "UPDATE_FREQUENCY_CONTINUOUS"));
}

// --- Keywords --------------------------------------------------------------------------------

TEST(DatasetValidation, RejectsTooManyKeywords) {
  v1::Dataset d = ValidDataset();
  for (int i = 0; i <= kMaxKeywords; ++i) d.add_keywords("ord");
  ExpectInvalid(ValidateDataset(d), "dataset.keywords: at most 50 keywords, got 51");
}

TEST(DatasetValidation, RejectsEmptyKeyword) {
  v1::Dataset d = ValidDataset();
  d.add_keywords("");
  EXPECT_THAT(Message(ValidateDataset(d)), StartsWith("dataset.keywords[0]: required"));
}

TEST(DatasetValidation, RejectsTooLongKeyword) {
  v1::Dataset d = ValidDataset();
  d.add_keywords(std::string(kMaxShortTextBytes + 1, 'k'));
  ExpectInvalid(ValidateDataset(d),
                "dataset.keywords[0]: must be at most 200 bytes of UTF-8, got 201");
}

// --- Spatial and temporal coverage -----------------------------------------------------------

TEST(DatasetValidation, RejectsLatitudeOutOfRange) {
  v1::Dataset d = RichDataset();
  d.mutable_spatial()->mutable_bbox()->set_min_latitude(91);
  ExpectInvalid(ValidateDataset(d),
                "dataset.spatial.bbox.min_latitude: must be between -90 and 90, got 91");
}

TEST(DatasetValidation, RejectsLongitudeOutOfRange) {
  v1::Dataset d = RichDataset();
  d.mutable_spatial()->mutable_bbox()->set_max_longitude(180.5);
  ExpectInvalid(ValidateDataset(d),
                "dataset.spatial.bbox.max_longitude: must be between -180 and 180, got 180.5");
}

TEST(DatasetValidation, RejectsNotANumberInBbox) {
  v1::Dataset d = RichDataset();
  d.mutable_spatial()->mutable_bbox()->set_min_longitude(std::nan(""));
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.spatial.bbox.min_longitude: must be between -180 and 180"));
}

TEST(DatasetValidation, RejectsBboxWithMinAboveMax) {
  v1::Dataset d = RichDataset();
  d.mutable_spatial()->mutable_bbox()->set_min_latitude(59.2);
  ExpectInvalid(ValidateDataset(d),
                "dataset.spatial.bbox: min_latitude (59.2) must not be greater than "
                "max_latitude (59.1)");
}

TEST(DatasetValidation, RejectsTemporalEndBeforeStart) {
  v1::Dataset d = RichDataset();
  d.mutable_temporal()->mutable_end_time()->set_seconds(1700000000);
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.temporal.end_time: must not be before start_time"));
}

TEST(DatasetValidation, AcceptsOngoingTemporalCoverage) {
  v1::Dataset d = RichDataset();
  d.mutable_temporal()->clear_end_time();
  EXPECT_TRUE(ValidateDataset(d).ok());
}

TEST(DatasetValidation, RejectsTimeOutsideRfc3339Range) {
  v1::Dataset d = RichDataset();
  d.mutable_temporal()->mutable_start_time()->set_nanos(-1);
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.temporal.start_time: not a valid time"));
}

// --- Schema fields ---------------------------------------------------------------------------

TEST(DatasetValidation, RejectsRepeatedFieldNames) {
  v1::Dataset d = ValidDataset();
  for (const char* name : {"level", "level"}) {
    v1::SchemaField* f = d.add_fields();
    f->set_name(name);
    f->set_type(v1::FIELD_TYPE_DOUBLE);
  }
  ExpectInvalid(ValidateDataset(d), "dataset.fields[1].name: \"level\" is used by fields[0] already");
}

TEST(DatasetValidation, RejectsFieldNameWithUpperCaseOrDash) {
  v1::Dataset d = ValidDataset();
  v1::SchemaField* f = d.add_fields();
  f->set_type(v1::FIELD_TYPE_DOUBLE);
  f->set_name("Water-Temp");
  ExpectInvalid(ValidateDataset(d),
                "dataset.fields[0].name: must be a-z, 0-9 and '_' only, e.g. \"water_temp\"; "
                "got \"Water-Temp\"");
}

TEST(DatasetValidation, RequiresFieldName) {
  v1::Dataset d = ValidDataset();
  d.add_fields()->set_type(v1::FIELD_TYPE_DOUBLE);
  EXPECT_THAT(Message(ValidateDataset(d)), StartsWith("dataset.fields[0].name: required"));
}

TEST(DatasetValidation, RequiresFieldType) {
  v1::Dataset d = ValidDataset();
  d.add_fields()->set_name("level");
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.fields[0].type: required — one of FIELD_TYPE_STRING"));
}

TEST(DatasetValidation, RejectsUnknownFieldType) {
  v1::Dataset d = ValidDataset();
  v1::SchemaField* f = d.add_fields();
  f->set_name("level");
  f->set_type(static_cast<v1::FieldType>(12));
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.fields[0].type: unknown value 12; expected one of"));
}

TEST(DatasetValidation, RejectsFieldMinAboveMax) {
  v1::Dataset d = ValidDataset();
  v1::SchemaField* f = d.add_fields();
  f->set_name("fill_level");
  f->set_type(v1::FIELD_TYPE_DOUBLE);
  f->set_min_value(100);
  f->set_max_value(0);
  ExpectInvalid(ValidateDataset(d),
                "dataset.fields[0].max_value: must not be less than min_value (100), got 0");
}

TEST(DatasetValidation, AcceptsFieldWithEqualMinAndMax) {
  v1::Dataset d = ValidDataset();
  v1::SchemaField* f = d.add_fields();
  f->set_name("constant");
  f->set_type(v1::FIELD_TYPE_INTEGER);
  f->set_min_value(1);
  f->set_max_value(1);
  EXPECT_TRUE(ValidateDataset(d).ok());
}

TEST(DatasetValidation, RejectsInfiniteFieldBound) {
  v1::Dataset d = ValidDataset();
  v1::SchemaField* f = d.add_fields();
  f->set_name("level");
  f->set_type(v1::FIELD_TYPE_DOUBLE);
  f->set_max_value(INFINITY);
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.fields[0].max_value: must be a finite number"));
}

TEST(DatasetValidation, RejectsTooManyFields) {
  v1::Dataset d = ValidDataset();
  for (int i = 0; i <= kMaxFields; ++i) {
    v1::SchemaField* f = d.add_fields();
    f->set_name(absl::StrCat("f", i));
    f->set_type(v1::FIELD_TYPE_STRING);
  }
  ExpectInvalid(ValidateDataset(d), "dataset.fields: at most 500 fields, got 501");
}

// --- Risk assessment -------------------------------------------------------------------------

TEST(DatasetValidation, RejectsTooLongRiskReference) {
  v1::Dataset d = ValidDataset();
  d.mutable_risk_assessment()->set_reference(std::string(kMaxShortTextBytes + 1, 'R'));
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.risk_assessment.reference: must be at most 200 bytes"));
}

TEST(DatasetValidation, RejectsTooLongDpiaReference) {
  v1::Dataset d = ValidDataset();
  d.mutable_risk_assessment()->set_dpia_reference(std::string(kMaxShortTextBytes + 1, 'D'));
  EXPECT_THAT(Message(ValidateDataset(d)),
              StartsWith("dataset.risk_assessment.dpia_reference: must be at most 200 bytes"));
}

// --- Order of reporting ----------------------------------------------------------------------

TEST(DatasetValidation, ReportsFirstProblemInFieldOrder) {
  v1::Dataset d = ValidDataset();
  d.set_license("MIT");                                       // field 6
  d.mutable_owner()->clear_organization();                    // field 4
  d.mutable_spatial()->mutable_bbox()->set_min_latitude(91);  // field 11
  EXPECT_THAT(Message(ValidateDataset(d)), StartsWith("dataset.owner.organization:"));
}

// --- Resources -------------------------------------------------------------------------------

TEST(DatasetValidation, ValidatesEachResourceWithItsPath) {
  v1::Dataset d = ValidDataset();
  *d.add_resources() = ValidResource();
  v1::Resource* bad = d.add_resources();
  *bad = ValidResource();
  bad->clear_title();
  EXPECT_THAT(Message(ValidateDataset(d)), StartsWith("dataset.resources[1].title: required"));
}

TEST(DatasetValidation, RejectsTooManyResources) {
  v1::Dataset d = ValidDataset();
  for (int i = 0; i <= kMaxResources; ++i) *d.add_resources() = ValidResource();
  ExpectInvalid(ValidateDataset(d), "dataset.resources: at most 200 resources, got 201");
}

TEST(ResourceValidation, AcceptsFileResource) {
  EXPECT_TRUE(ValidateResource(ValidResource(), "resource").ok());
}

TEST(ResourceValidation, AcceptsStreamResource) {
  v1::Resource r = ValidResource();
  r.clear_access_url();
  r.set_ingestion_stream("sensors");
  EXPECT_TRUE(ValidateResource(r, "resource").ok());
}

TEST(ResourceValidation, RequiresFormat) {
  v1::Resource r = ValidResource();
  r.clear_format();
  EXPECT_THAT(Message(ValidateResource(r, "resource")), StartsWith("resource.format: required"));
}

TEST(ResourceValidation, RejectsLowerCaseFormat) {
  v1::Resource r = ValidResource();
  r.set_format("csv");
  EXPECT_THAT(Message(ValidateResource(r, "resource")),
              StartsWith("resource.format: must be 1–20 upper-case letters or digits"));
}

TEST(ResourceValidation, RejectsFormatLongerThanTwenty) {
  v1::Resource r = ValidResource();
  r.set_format(std::string(21, 'X'));
  EXPECT_FALSE(ValidateResource(r, "resource").ok());
}

TEST(ResourceValidation, RequiresAccessUrlOrStream) {
  v1::Resource r = ValidResource();
  r.clear_access_url();
  EXPECT_THAT(Message(ValidateResource(r, "resource")), StartsWith("resource.access_url: required"));
}

TEST(ResourceValidation, RejectsBothAccessUrlAndStream) {
  v1::Resource r = ValidResource();
  r.set_ingestion_stream("sensors");
  ExpectInvalid(ValidateResource(r, "resource"),
                "resource.access_url: set either access_url or ingestion_stream, not both");
}

TEST(ResourceValidation, RejectsAccessUrlThatIsNotHttp) {
  v1::Resource r = ValidResource();
  for (const char* url : {"file:///etc/passwd", "javascript:alert(1)", "https://",
                          "https://data.example/a file.csv", "data.stavanger.kommune.no/x"}) {
    r.set_access_url(url);
    EXPECT_THAT(Message(ValidateResource(r, "resource")),
                StartsWith("resource.access_url: must be an http:// or https:// address"))
        << url;
  }
}

TEST(ResourceValidation, RejectsTooLongAccessUrl) {
  v1::Resource r = ValidResource();
  r.set_access_url("https://data.example/" + std::string(kMaxUrlBytes, 'a'));
  EXPECT_THAT(Message(ValidateResource(r, "resource")),
              StartsWith("resource.access_url: must be at most 2000 bytes"));
}

TEST(ResourceValidation, RejectsNegativeByteSize) {
  v1::Resource r = ValidResource();
  r.set_byte_size(-1);
  ExpectInvalid(ValidateResource(r, "resource"), "resource.byte_size: must be 0 or more, got -1");
}

TEST(ResourceValidation, RejectsMalformedChecksum) {
  v1::Resource r = ValidResource();
  r.set_checksum_sha256(std::string(63, 'a'));
  EXPECT_THAT(Message(ValidateResource(r, "resource")),
              StartsWith("resource.checksum_sha256: must be the SHA-256"));
  r.set_checksum_sha256(std::string(63, 'a') + "g");
  EXPECT_FALSE(ValidateResource(r, "resource").ok());
}

TEST(ResourceValidation, RejectsInvalidUtf8InDescription) {
  v1::Resource r = ValidResource();
  r.set_description("ok\xed\xa0\x80");
  ExpectInvalid(ValidateResource(r, "dataset.resources[0]"),
                "dataset.resources[0].description: not valid UTF-8 (byte 3); save the text as "
                "UTF-8");
}

// --- Media types -----------------------------------------------------------------------------

TEST(MediaTypes, KnowsTheCommonFormats) {
  EXPECT_EQ(MediaTypeForFormat("JSON"), "application/json");
  EXPECT_EQ(MediaTypeForFormat("GEOJSON"), "application/geo+json");
  EXPECT_EQ(MediaTypeForFormat("CSV"), "text/csv");
  EXPECT_EQ(MediaTypeForFormat("TXT"), "text/plain");
  EXPECT_EQ(MediaTypeForFormat("PNG"), "image/png");
  EXPECT_EQ(MediaTypeForFormat("JPEG"), "image/jpeg");
  EXPECT_EQ(MediaTypeForFormat("DOCX"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
  EXPECT_EQ(MediaTypeForFormat("XLSX"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
  EXPECT_EQ(MediaTypeForFormat("GPX"), "application/gpx+xml");
  EXPECT_EQ(MediaTypeForFormat("PDF"), "application/pdf");
  EXPECT_EQ(MediaTypeForFormat("ZIP"), "application/zip");
  EXPECT_EQ(MediaTypeForFormat("XML"), "application/xml");
  EXPECT_EQ(MediaTypeForFormat("PARQUET"), "application/vnd.apache.parquet");
  EXPECT_EQ(MediaTypeForFormat("NETCDF"), "application/netcdf");
  EXPECT_EQ(MediaTypeForFormat("HTML"), "text/html");
}

TEST(MediaTypes, IsEmptyForUnknownFormat) {
  EXPECT_EQ(MediaTypeForFormat("SOSI"), "");
  EXPECT_EQ(MediaTypeForFormat(""), "");
}

}  // namespace
}  // namespace smartby::catalogue
