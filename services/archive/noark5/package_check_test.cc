// The checker, tested on Arkivverket's fixtures and on mutated copies of a package the writer
// made: each defect must fail its own check, by id, with a finding that names the defect.
#include "services/archive/noark5/package_check.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/archive/noark5/test_package.h"

namespace smartby::noark5 {
namespace {

namespace fs = std::filesystem;
using testing::CopyPackage;
using ::testing::HasSubstr;
using testing::ReadFile;
using testing::ReplaceFirst;
using testing::SharedNoark5Dir;
using testing::SharedSample;
using testing::ShippedXsdDir;

CheckReport Check(const fs::path& package) {
  absl::StatusOr<CheckReport> report = CheckPackage(package, ShippedXsdDir());
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *report : CheckReport{};
}

std::string Findings(const CheckReport& report, const std::string& id) {
  const CheckResult* result = report.Find(id);
  return result == nullptr ? "" : absl::StrJoin(result->findings, "\n");
}

// The check `id` failed and one of its findings mentions `needle`.
void ExpectFailed(const CheckReport& report, const std::string& id, const std::string& needle) {
  const CheckResult* result = report.Find(id);
  ASSERT_NE(result, nullptr) << id;
  EXPECT_FALSE(result->passed) << id << " passed:\n" << report.ToText();
  EXPECT_THAT(Findings(report, id), HasSubstr(needle)) << report.ToText();
  EXPECT_FALSE(report.passed());
}

void ExpectPassed(const CheckReport& report, const std::string& id) {
  const CheckResult* result = report.Find(id);
  ASSERT_NE(result, nullptr) << id;
  EXPECT_TRUE(result->passed) << report.ToText();
}

// The sample's second arkivstruktur systemID (the arkivdel).
std::string SecondSystemId(const std::string& structure) {
  const std::size_t first = structure.find("<systemID>");
  const std::size_t second = structure.find("<systemID>", first + 1) + 10;
  return structure.substr(second, 36);
}

TEST(CheckPackageOnFixtures, NoarkEnkelIsSchemaValid) {
  const CheckReport report = Check(SharedNoark5Dir() / "examples" / "noark5-enkel");
  ExpectPassed(report, "N5.03");
  ExpectPassed(report, "N5.30");  // its one document's checksum is the real one
  ExpectPassed(report, "N5.32");
  // It is not a whole package: no arkivuttrekk.xml and no endringslogg.xml.
  ExpectFailed(report, "N5.01", "arkivuttrekk.xml is missing");
}

TEST(CheckPackageOnFixtures, NegativeV31FailsSchemaValidityWithTheReasons) {
  const fs::path fixture = SharedNoark5Dir() / "examples" / "negative-v3.1-arkivstruktur";
  const CheckReport report = Check(fixture);
  // dokumentobjekt without systemID, and korrespondansepart in its old v3.1 position.
  ExpectFailed(report, "N5.03", "arkivstruktur.xml: line 58: Element");
  const std::string findings = Findings(report, "N5.03");
  EXPECT_THAT(findings, HasSubstr("versjonsnummer': This element is not expected. Expected is "
                                  "( {http://www.arkivverket.no/standarder/noark5/arkivstruktur}"
                                  "systemID )"));
  EXPECT_THAT(findings, HasSubstr("line 84: Element '{http://www.arkivverket.no/standarder/"
                                  "noark5/arkivstruktur}korrespondansepart'"));
  // The same lines as the real xmllint reports, no more and no fewer.
  std::string xmllint;
  EXPECT_NE(
      testing::RunCommand(
          absl::StrCat("/usr/bin/xmllint --noout --schema '",
                       (SharedNoark5Dir() / "xsd" / "noark5-v5.0" / "arkivstruktur.xsd").string(),
                       "' '", (fixture / "arkivstruktur.xml").string(), "'"),
          &xmllint),
      0);
  const CheckResult* result = report.Find("N5.03");
  ASSERT_NE(result, nullptr);
  int xmllint_errors = 0;
  for (std::size_t at = xmllint.find("Schemas validity error"); at != std::string::npos;
       at = xmllint.find("Schemas validity error", at + 1)) {
    ++xmllint_errors;
  }
  EXPECT_EQ(static_cast<int>(result->findings.size()), xmllint_errors) << xmllint;
}

TEST(DocumentMemberName, AcceptsBackslashesAndLeadingDotSlashes) {
  EXPECT_EQ(DocumentMemberName("dokumenter/1.pdf"), "dokumenter/1.pdf");
  EXPECT_EQ(DocumentMemberName(".\\dokumenter\\1.pdf"), "dokumenter/1.pdf");
  EXPECT_EQ(DocumentMemberName("././dokumenter/a b.pdf"), "dokumenter/a b.pdf");
  // Only a leading "./" is dropped; a name that merely contains one keeps it.
  EXPECT_EQ(DocumentMemberName("dokumenter/./1.pdf"), "dokumenter/./1.pdf");
}

TEST(CheckPackageOnFixtures, NotAPackageIsAnError) {
  absl::StatusOr<CheckReport> report =
      CheckPackage(SharedNoark5Dir() / "xsd" / "mets", ShippedXsdDir());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("arkivuttrekk.xml"));
  report = CheckPackage("/nonexistent/package.tar", ShippedXsdDir());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kNotFound);
}

TEST(CheckPackageOnMutations, ChangedByteInADocumentFailsN530) {
  const fs::path copy = CopyPackage(SharedSample().dir, "changed-byte");
  const fs::path csv = copy / "dokumenter" / "v1-readings.csv";
  std::string content = ReadFile(csv);
  content[content.size() / 2] ^= 0x01;
  testing::WriteFile(csv, content);
  const CheckReport report = Check(copy);
  ExpectFailed(report, "N5.30", "dokumenter/v1-readings.csv: SHA-256 is ");
  ExpectPassed(report, "N5.02");  // the XML files are untouched
}

TEST(CheckPackageOnMutations, TruncatedDocumentFailsN530OnSize) {
  const fs::path copy = CopyPackage(SharedSample().dir, "truncated");
  const fs::path json = copy / "dokumenter" / "v2-metadata.json";
  testing::WriteFile(json, ReadFile(json).substr(0, 10));
  ExpectFailed(Check(copy), "N5.30", "the file has 10 bytes");
}

TEST(CheckPackageOnMutations, WrongAddmlChecksumFailsN502) {
  const fs::path copy = CopyPackage(SharedSample().dir, "wrong-addml");
  const std::string structure_sha = [&] {
    const std::string addml = ReadFile(copy / "arkivuttrekk.xml");
    const std::size_t at = addml.find("<value>SHA-256</value>");
    const std::size_t value = addml.find("<value>", at + 10) + 7;
    return addml.substr(value, 64);
  }();
  ReplaceFirst(copy / "arkivuttrekk.xml", structure_sha, std::string(64, '0'));
  const CheckReport report = Check(copy);
  ExpectFailed(report, "N5.02", "arkivstruktur.xml: SHA-256 is ");
  ExpectPassed(report, "N5.03");
}

TEST(CheckPackageOnMutations, MissingRequiredFileFailsN501) {
  const fs::path copy = CopyPackage(SharedSample().dir, "missing-xsd");
  fs::remove(copy / "endringslogg.xsd");
  const CheckReport report = Check(copy);
  ExpectFailed(report, "N5.01", "endringslogg.xsd is missing");
  ExpectFailed(report, "N5.02", "no such file");
}

TEST(CheckPackageOnMutations, MissingJournalFailsN501) {
  const fs::path copy = CopyPackage(SharedSample().dir, "missing-journal");
  fs::remove(copy / "offentligJournal.xml");
  ExpectFailed(Check(copy), "N5.01", "offentligJournal.xml is missing");
}

TEST(CheckPackageOnMutations, MissingDocumentFailsN532) {
  const fs::path copy = CopyPackage(SharedSample().dir, "missing-document");
  fs::remove(copy / "dokumenter" / "ros.txt");
  const CheckReport report = Check(copy);
  ExpectFailed(report, "N5.32", "refers to dokumenter/ros.txt, which is not in the package");
  ExpectFailed(report, "N5.28", "arkivuttrekk.xml says 5 dokumentfiler, but the package has 4");
}

TEST(CheckPackageOnMutations, ExtraFileFailsN533) {
  const fs::path copy = CopyPackage(SharedSample().dir, "extra-file");
  testing::WriteFile(copy / "dokumenter" / "stray.pdf", "%PDF-1.4");
  const CheckReport report = Check(copy);
  ExpectFailed(report, "N5.33", "dokumenter/stray.pdf is in the package, but no dokumentobjekt");
  ExpectFailed(report, "N5.28", "but the package has 6");
}

TEST(CheckPackageOnMutations, DuplicatedSystemIdFailsN547) {
  const fs::path copy = CopyPackage(SharedSample().dir, "duplicate-id");
  const std::string structure = ReadFile(copy / "arkivstruktur.xml");
  const std::string series_id = SecondSystemId(structure);
  // The case file takes the arkivdel's systemID.
  ReplaceFirst(copy / "arkivstruktur.xml", SharedSample().case_file_id, series_id);
  const CheckReport report = Check(copy);
  ExpectFailed(report, "N5.47", absl::StrCat("systemID ", series_id, " is used again by <mappe>"));
  ExpectFailed(report, "N5.02", "arkivstruktur.xml: SHA-256");  // the file changed
}

TEST(CheckPackageOnMutations, DanglingChangeLogReferenceFailsN562) {
  const fs::path copy = CopyPackage(SharedSample().dir, "dangling");
  const std::string unknown = "00000000-0000-4000-8000-000000000000";
  ReplaceFirst(copy / "endringslogg.xml", SharedSample().case_file_id, unknown);
  const CheckReport report = Check(copy);
  ExpectFailed(report, "N5.62",
               absl::StrCat("referanseArkivenhet ", unknown, " names no systemID"));
  ExpectPassed(report, "N5.03");  // still schema-valid: only the reference is wrong
}

TEST(CheckPackageOnMutations, EmptyElementFailsN563) {
  const fs::path copy = CopyPackage(SharedSample().dir, "empty-element");
  ReplaceFirst(copy / "arkivstruktur.xml", "<dokumentmedium>Elektronisk arkiv</dokumentmedium>",
               "<dokumentmedium></dokumentmedium>");
  const CheckReport report = Check(copy);
  ExpectFailed(report, "N5.63", "arkivstruktur.xml line 7: <arkiv/dokumentmedium> is empty");
  // Self-closing counts too.
  const fs::path second = CopyPackage(SharedSample().dir, "empty-self-closing");
  ReplaceFirst(second / "endringslogg.xml", "<endretAv>ola@kommune.no</endretAv>", "<endretAv/>");
  ExpectFailed(Check(second), "N5.63", "<endringslogg/endring/endretAv> is empty");
}

TEST(CheckPackageOnMutations, WrongCountsFailN510N516N528) {
  const fs::path copy = CopyPackage(SharedSample().dir, "wrong-counts");
  const fs::path addml = copy / "arkivuttrekk.xml";
  ReplaceFirst(addml, R"(<value>//mappe</value>
                      </property>
                      <property dataType="integer" name="value">
                        <value>1</value>)",
               R"(<value>//mappe</value>
                      </property>
                      <property dataType="integer" name="value">
                        <value>2</value>)");
  ReplaceFirst(addml, R"(<value>//registrering</value>
                      </property>
                      <property dataType="integer" name="value">
                        <value>4</value>)",
               R"(<value>//registrering</value>
                      </property>
                      <property dataType="integer" name="value">
                        <value>7</value>)");
  ReplaceFirst(addml, R"(name="antallDokumentfiler">
                    <value>5</value>)",
               R"(name="antallDokumentfiler">
                    <value>9</value>)");
  const CheckReport report = Check(copy);
  ExpectFailed(report, "N5.10", "arkivuttrekk.xml says 2 mappe, but the package has 1");
  ExpectFailed(report, "N5.16", "arkivuttrekk.xml says 7 registreringer, but the package has 4");
  ExpectFailed(report, "N5.28", "arkivuttrekk.xml says 9 dokumentfiler, but the package has 5");
  ExpectPassed(report, "N5.02");  // arkivuttrekk.xml is not checksummed
}

TEST(CheckPackageOnMutations, ModifiedSchemaCopyFailsN503) {
  const fs::path copy = CopyPackage(SharedSample().dir, "modified-xsd");
  const fs::path xsd = copy / "metadatakatalog.xsd";
  testing::WriteFile(xsd, ReadFile(xsd) + "\n");
  ExpectFailed(Check(copy), "N5.03", "metadatakatalog.xsd in the package differs");
}

TEST(CheckPackageOnMutations, Addml82SchemaCopyIsAccepted) {
  const fs::path copy = CopyPackage(SharedSample().dir, "addml-82");
  fs::copy_file(SharedNoark5Dir() / "xsd" / "addml-v8.2" / "addml.xsd", copy / "addml.xsd",
                fs::copy_options::overwrite_existing);
  const CheckReport report = Check(copy);
  EXPECT_TRUE(report.passed()) << report.ToText();
}

TEST(CheckPackageOnMutations, ChangedDocumentInsideATarFailsN530) {
  const fs::path copy = CopyPackage(SharedSample().dir, "tar-changed");
  const fs::path csv = copy / "dokumenter" / "v2-readings.csv";
  std::string content = ReadFile(csv);
  content[7] = content[7] == 'X' ? 'Y' : 'X';
  testing::WriteFile(csv, content);
  const fs::path tar = testing::FreshDir("tar-out") / "package.tar";
  ASSERT_TRUE(WriteTar(copy, tar, SharedSample().summary.package_id).ok());
  ExpectFailed(Check(tar), "N5.30", "dokumenter/v2-readings.csv: SHA-256 is ");
}

TEST(CheckReportText, NamesEachCheckAndItsVerdict) {
  const fs::path copy = CopyPackage(SharedSample().dir, "report-text");
  fs::remove(copy / "dokumenter" / "ros.txt");
  const std::string text = Check(copy).ToText();
  EXPECT_THAT(text, HasSubstr("PASS N5.01 required files present"));
  EXPECT_THAT(text, HasSubstr("FAIL N5.32 referenced document files exist"));
  EXPECT_THAT(text, HasSubstr("FAILED at least one check"));
}

}  // namespace
}  // namespace smartby::noark5
