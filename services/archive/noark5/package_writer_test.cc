// The writer, checked from outside: the real xmllint with the official schemas, the checker, and
// the bytes on disk.
#include "services/archive/noark5/package_writer.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/archive/noark5/hashing_file.h"
#include "services/archive/noark5/package_check.h"
#include "services/archive/noark5/test_package.h"

namespace smartby::noark5 {
namespace {

namespace fs = std::filesystem;
using testing::FreshDir;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::RunCommand;
using testing::SampleConfig;
using testing::SharedNoark5Dir;
using testing::ShippedXsdDir;

const absl::Time kDay = absl::FromCivil(absl::CivilDay(2026, 3, 1), absl::UTCTimeZone());

const testing::SamplePackage& Sample() { return testing::SharedSample(); }

std::string Xmllint(const fs::path& schema, const fs::path& file, int* exit_code) {
  const char* xmllint = std::getenv("XMLLINT");
  std::string output;
  *exit_code = RunCommand(
      absl::StrCat(xmllint != nullptr ? xmllint : "/usr/bin/xmllint", " --noout --nonet --schema '",
                   schema.string(), "' '", file.string(), "'"),
      &output);
  return output;
}

TEST(CheckSchemaFolder, NamesTheFirstMissingSchema) {
  EXPECT_TRUE(CheckSchemaFolder(SourceTreeXsdDir()).ok());
  const std::filesystem::path empty = std::filesystem::path(::testing::TempDir()) / "no-xsd";
  std::filesystem::create_directories(empty);
  const absl::Status status = CheckSchemaFolder(empty);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("arkivstruktur.xsd"));
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(empty.string()));
}

TEST(PackageWriter, XmllintValidatesEveryFileAgainstTheOfficialSchemas) {
  const fs::path official = SharedNoark5Dir() / "xsd";
  const fs::path noark = official / "noark5-v5.0";
  const std::pair<std::string, fs::path> files[] = {
      {"arkivstruktur.xml", noark / "arkivstruktur.xsd"},
      {"endringslogg.xml", noark / "endringslogg.xsd"},
      {"loependeJournal.xml", noark / "loependeJournal.xsd"},
      {"offentligJournal.xml", noark / "offentligJournal.xsd"},
      {"arkivuttrekk.xml", official / "addml-v8.3" / "addml.xsd"},
  };
  for (const auto& [file, schema] : files) {
    int exit_code = -1;
    const std::string output = Xmllint(schema, Sample().dir / file, &exit_code);
    EXPECT_EQ(exit_code, 0) << file << ":\n" << output;
    EXPECT_THAT(output, HasSubstr("validates")) << file;
  }
}

TEST(PackageWriter, XmllintRejectsAPackageFileThatBreaksTheSchema) {
  // The validation above must be able to fail: a registrering without its required tittel.
  const fs::path copy = testing::CopyPackage(Sample().dir, "broken-schema");
  testing::ReplaceFirst(copy / "arkivstruktur.xml", "<tittel>Publisert versjon 1</tittel>", "");
  int exit_code = -1;
  const std::string output =
      Xmllint(SharedNoark5Dir() / "xsd" / "noark5-v5.0" / "arkivstruktur.xsd",
              copy / "arkivstruktur.xml", &exit_code);
  EXPECT_NE(exit_code, 0) << output;
  EXPECT_THAT(output, HasSubstr("fails to validate"));
}

TEST(PackageWriter, PackagePassesEveryCheckAsAFolder) {
  absl::StatusOr<CheckReport> report = CheckPackage(Sample().dir, ShippedXsdDir());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->passed()) << report->ToText();
  EXPECT_EQ(report->results.size(), 12u);
}

TEST(PackageWriter, PackagePassesEveryCheckAsATar) {
  const fs::path tar = FreshDir("tar") / absl::StrCat(Sample().summary.package_id, ".tar");
  std::uint64_t packed = 0, pack_total = 0;
  ASSERT_TRUE(WriteTar(Sample().dir, tar, Sample().summary.package_id,
                       [&](std::uint64_t done, std::uint64_t total) {
                         EXPECT_GE(done, packed);  // never goes backwards
                         packed = done;
                         pack_total = total;
                       })
                  .ok());
  EXPECT_GT(packed, 2 * Sample().csv_bytes);
  EXPECT_EQ(packed, pack_total);
  std::uint64_t read = 0, read_total = 0;
  absl::StatusOr<CheckReport> report =
      CheckPackage(tar, ShippedXsdDir(), [&](std::uint64_t done, std::uint64_t total) {
        read = done;
        read_total = total;
      });
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->passed()) << report->ToText();
  EXPECT_EQ(read_total, pack_total);
  EXPECT_GE(read, read_total);  // every file read at least once
}

TEST(PackageWriter, PackageHoldsTheRequiredFilesAndNothingElse) {
  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(Sample().dir)) {
    if (entry.is_regular_file()) {
      names.push_back(entry.path().lexically_relative(Sample().dir).generic_string());
    }
  }
  EXPECT_THAT(
      names,
      ::testing::UnorderedElementsAre(
          "arkivuttrekk.xml", "arkivstruktur.xml", "endringslogg.xml", "loependeJournal.xml",
          "offentligJournal.xml", "addml.xsd", "arkivstruktur.xsd", "metadatakatalog.xsd",
          "endringslogg.xsd", "loependeJournal.xsd", "offentligJournal.xsd",
          "dokumenter/v1-metadata.json", "dokumenter/v1-readings.csv",
          "dokumenter/v2-metadata.json", "dokumenter/v2-readings.csv", "dokumenter/ros.txt"));
}

TEST(PackageWriter, StreamedDocumentIsOnDiskWithItsChecksumAndSize) {
  const fs::path csv = Sample().dir / "dokumenter" / "v2-readings.csv";
  absl::StatusOr<HashAndSize> on_disk = HashFile(csv);
  ASSERT_TRUE(on_disk.ok());
  EXPECT_GE(on_disk->size, 3u << 20);
  EXPECT_EQ(on_disk->size, Sample().csv_bytes);
  EXPECT_EQ(on_disk->sha256_hex, Sample().csv_sha256);
  // sha256sum, the tool an archivist would use, agrees.
  std::string output;
  ASSERT_EQ(RunCommand(absl::StrCat("sha256sum '", csv.string(), "'"), &output), 0);
  EXPECT_THAT(output, HasSubstr(Sample().csv_sha256));
  const std::string structure = ReadFile(Sample().dir / "arkivstruktur.xml");
  EXPECT_THAT(structure, HasSubstr(absl::StrCat("<sjekksum>", Sample().csv_sha256, "</sjekksum>")));
  EXPECT_THAT(structure,
              HasSubstr(absl::StrCat("<filstoerrelse>", Sample().csv_bytes, "</filstoerrelse>")));
  EXPECT_THAT(structure,
              HasSubstr("<referanseDokumentfil>dokumenter/v2-readings.csv</referanseDokumentfil>"));
}

TEST(PackageWriter, AddmlCarriesCountsChecksumsAndPeriod) {
  const std::string addml = ReadFile(Sample().dir / "arkivuttrekk.xml");
  absl::StatusOr<HashAndSize> structure = HashFile(Sample().dir / "arkivstruktur.xml");
  ASSERT_TRUE(structure.ok());
  EXPECT_THAT(addml, HasSubstr(structure->sha256_hex));
  EXPECT_THAT(addml, HasSubstr("<value>//mappe</value>"));
  // 1 mappe, 4 registreringer, 5 document files, 2 endring, 3 journalposter.
  EXPECT_THAT(addml, HasSubstr(R"(name="antallDokumentfiler">
                    <value>5</value>)"));
  EXPECT_THAT(addml, HasSubstr("<value>2026-01-01</value>"));
  EXPECT_THAT(addml, HasSubstr("<value>2026-06-30</value>"));
  // Not itself, and not addml.xsd (the template lists neither).
  EXPECT_THAT(addml, Not(HasSubstr("<value>arkivuttrekk.xml</value>")));
  EXPECT_THAT(addml, Not(HasSubstr("<value>addml.xsd</value>")));
  EXPECT_EQ(Sample().summary.totals.case_files, 1u);
  EXPECT_EQ(Sample().summary.totals.registry_entries, 4u);
  EXPECT_EQ(Sample().summary.totals.documents, 5u);
  EXPECT_EQ(Sample().summary.totals.change_log_entries, 2u);
}

TEST(PackageWriter, TextIsEscapedAndEmptyValuesAreLeftOut) {
  const std::string structure = ReadFile(Sample().dir / "arkivstruktur.xml");
  EXPECT_THAT(structure, HasSubstr("<tittel>Badetemperatur &lt;Sjøbadet&gt; &amp; Co</tittel>"));
  EXPECT_THAT(structure, Not(HasSubstr("<beskrivelse></beskrivelse>")));
  EXPECT_THAT(structure, Not(HasSubstr("<noekkelord></noekkelord>")));
  EXPECT_THAT(structure, HasSubstr("<smartby:klassifisering"));
}

TEST(PackageWriter, ShippedSchemasAreByteIdenticalToTheOfficialOnes) {
  const fs::path official = SharedNoark5Dir() / "xsd";
  const std::pair<std::string, fs::path> schemas[] = {
      {"arkivstruktur.xsd", official / "noark5-v5.0" / "arkivstruktur.xsd"},
      {"metadatakatalog.xsd", official / "noark5-v5.0" / "metadatakatalog.xsd"},
      {"endringslogg.xsd", official / "noark5-v5.0" / "endringslogg.xsd"},
      {"loependeJournal.xsd", official / "noark5-v5.0" / "loependeJournal.xsd"},
      {"offentligJournal.xsd", official / "noark5-v5.0" / "offentligJournal.xsd"},
      {"addml.xsd", official / "addml-v8.3" / "addml.xsd"},
  };
  for (const auto& [name, path] : schemas) {
    const std::string upstream = ReadFile(path);
    ASSERT_FALSE(upstream.empty()) << path;
    EXPECT_EQ(ReadFile(ShippedXsdDir() / name), upstream) << name << " in the service differs";
    EXPECT_EQ(ReadFile(Sample().dir / name), upstream) << name << " in the package differs";
  }
  // ADDML 8.2, which the checker also accepts in packages (Arkade 5 ships it).
  const std::string addml_82 = ReadFile(official / "addml-v8.2" / "addml.xsd");
  ASSERT_FALSE(addml_82.empty());
  EXPECT_EQ(ReadFile(ShippedXsdDir() / "addml-v8.2" / "addml.xsd"), addml_82);
}

TEST(PackageWriter, ScreenedPackageValidatesAndKeepsTitlesOutOfThePublicJournal) {
  ExportConfig config = SampleConfig();
  config.classification = "Beskyttet";
  config.screening = Screening{.access_restriction = "13",
                               .legal_basis = "Offl. § 13, jf. fvl. § 13",
                               .screened_metadata = {"tittel", "korrespondansepart"}};
  const fs::path dir = FreshDir("screened");
  absl::StatusOr<std::unique_ptr<PackageWriter>> writer =
      PackageWriter::Create(dir, config, {.xsd_dir = ShippedXsdDir()});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->BeginCaseFile({.title = "Helsedata Hemmelig", .created = kDay}).ok());
  ASSERT_TRUE(
      (*writer)->BeginRegistryEntry({.title = "Publisert versjon 1 Hemmelig", .date = kDay}).ok());
  ASSERT_TRUE((*writer)
                  ->AddDocument({.title = "Målinger", .file_name = "r.csv", .format = "x-fmt/18"},
                                [](DocumentSink& sink) { return sink.Write("a,b\n1,2\n"); })
                  .ok());
  ASSERT_TRUE((*writer)->EndRegistryEntry().ok());
  ASSERT_TRUE((*writer)->EndCaseFile().ok());
  ASSERT_TRUE((*writer)->Finish().ok());

  const fs::path noark = SharedNoark5Dir() / "xsd" / "noark5-v5.0";
  for (const std::string name : {"arkivstruktur", "loependeJournal", "offentligJournal"}) {
    int exit_code = -1;
    const std::string output = Xmllint(noark / (name + ".xsd"), dir / (name + ".xml"), &exit_code);
    EXPECT_EQ(exit_code, 0) << name << ":\n" << output;
  }
  absl::StatusOr<CheckReport> report = CheckPackage(dir, ShippedXsdDir());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->passed()) << report->ToText();
  EXPECT_THAT(ReadFile(dir / "arkivstruktur.xml"), HasSubstr("<skjermingshjemmel>Offl. § 13"));
  EXPECT_THAT(ReadFile(dir / "loependeJournal.xml"), HasSubstr("Hemmelig"));
  EXPECT_THAT(ReadFile(dir / "offentligJournal.xml"), Not(HasSubstr("Hemmelig")));
  EXPECT_THAT(ReadFile(dir / "offentligJournal.xml"), HasSubstr("<tilgangsrestriksjon>13<"));
  EXPECT_THAT(ReadFile(dir / "arkivuttrekk.xml"), HasSubstr(R"(name="inneholderSkjermetInformasjon">
                    <value>true</value>)"));
}

TEST(PackageWriter, ConfigurationErrorsNameTheField) {
  ExportConfig config = SampleConfig();
  config.responsible_unit = "";
  absl::StatusOr<std::unique_ptr<PackageWriter>> writer =
      PackageWriter::Create(FreshDir("bad-config"), config, {.xsd_dir = ShippedXsdDir()});
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(writer.status().message()), HasSubstr("config.responsible_unit"));

  writer = PackageWriter::Create(FreshDir("bad-id"), SampleConfig(),
                                 {.xsd_dir = ShippedXsdDir(), .package_id = "../escape"});
  EXPECT_THAT(std::string(writer.status().message()), HasSubstr("options.package_id"));

  config = SampleConfig();
  config.period_end = config.period_start - absl::Hours(24);
  writer = PackageWriter::Create(FreshDir("bad-period"), config, {.xsd_dir = ShippedXsdDir()});
  EXPECT_THAT(std::string(writer.status().message()), HasSubstr("config.period_end"));
}

TEST(PackageWriter, DatesMustBeSet) {
  absl::StatusOr<std::unique_ptr<PackageWriter>> writer =
      PackageWriter::Create(FreshDir("dates"), SampleConfig(), {.xsd_dir = ShippedXsdDir()});
  ASSERT_TRUE(writer.ok());
  absl::StatusOr<std::string> case_file = (*writer)->BeginCaseFile({.title = "Sak"});
  EXPECT_EQ(case_file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(case_file.status().message()), HasSubstr("case_file.created"));
  ASSERT_TRUE((*writer)->BeginCaseFile({.title = "Sak", .created = kDay}).ok());
  absl::StatusOr<std::string> entry = (*writer)->BeginRegistryEntry({.title = "Post"});
  EXPECT_THAT(std::string(entry.status().message()), HasSubstr("registry_entry.date"));
}

TEST(PackageWriter, RefusesANonEmptyStagingFolder) {
  const fs::path dir = FreshDir("not-empty");
  testing::WriteFile(dir / "left-over.xml", "<x/>");
  absl::StatusOr<std::unique_ptr<PackageWriter>> writer =
      PackageWriter::Create(dir, SampleConfig(), {.xsd_dir = ShippedXsdDir()});
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(writer.status().message()), HasSubstr("not empty"));
}

TEST(PackageWriter, RefusesCallsOutOfOrder) {
  absl::StatusOr<std::unique_ptr<PackageWriter>> writer =
      PackageWriter::Create(FreshDir("order"), SampleConfig(), {.xsd_dir = ShippedXsdDir()});
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ((*writer)->BeginRegistryEntry({.title = "x"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*writer)->BeginCaseFile({.title = "Sak", .created = kDay}).ok());
  EXPECT_EQ((*writer)->Finish().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->EndRegistryEntry().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PackageWriter, RejectsTextXmlCannotHoldAndUnsafeFileNames) {
  absl::StatusOr<std::unique_ptr<PackageWriter>> writer =
      PackageWriter::Create(FreshDir("text"), SampleConfig(), {.xsd_dir = ShippedXsdDir()});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->BeginCaseFile({.title = "Sak", .created = kDay}).ok());
  ASSERT_TRUE((*writer)->BeginRegistryEntry({.title = "Post", .date = kDay}).ok());
  for (const std::string name : {"../escape.txt", "a/b.txt", "..", ""}) {
    absl::StatusOr<WrittenDocument> document =
        (*writer)->AddDocument({.title = "T", .file_name = name, .format = "x-fmt/111"},
                               [](DocumentSink&) { return absl::OkStatus(); });
    EXPECT_EQ(document.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(std::string(document.status().message()), HasSubstr("document.file_name"));
  }
  EXPECT_FALSE(fs::exists(FreshDir("x").parent_path() / "escape.txt"));

  absl::StatusOr<WrittenDocument> bad_text = (*writer)->AddDocument(
      {.title = std::string("bell\x07"), .file_name = "ok.txt", .format = "x-fmt/111"},
      [](DocumentSink& sink) { return sink.Write("x"); });
  EXPECT_EQ(bad_text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_text.status().message()), HasSubstr("<tittel>"));
  EXPECT_THAT(std::string(bad_text.status().message()), HasSubstr("control character"));
}

TEST(PackageWriter, AFailedDocumentLeavesNoFileAndStopsTheWriter) {
  const fs::path dir = FreshDir("failed-document");
  absl::StatusOr<std::unique_ptr<PackageWriter>> writer =
      PackageWriter::Create(dir, SampleConfig(), {.xsd_dir = ShippedXsdDir()});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->BeginCaseFile({.title = "Sak", .created = kDay}).ok());
  ASSERT_TRUE((*writer)->BeginRegistryEntry({.title = "Post", .date = kDay}).ok());
  absl::StatusOr<WrittenDocument> document = (*writer)->AddDocument(
      {.title = "Målinger", .file_name = "readings.csv", .format = "x-fmt/18"},
      [](DocumentSink& sink) -> absl::Status {
        if (absl::Status s = sink.Write("time,value\n"); !s.ok()) return s;
        return absl::UnavailableError("the readings store went away");
      });
  EXPECT_EQ(document.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(fs::exists(dir / "dokumenter" / "readings.csv"));
  absl::Status after = (*writer)->EndRegistryEntry();
  EXPECT_EQ(after.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(after.message()), HasSubstr("start the export again"));
}

TEST(PackageWriter, WithoutChangesTheChangeLogStillValidates) {
  const fs::path dir = FreshDir("no-changes");
  absl::StatusOr<std::unique_ptr<PackageWriter>> writer =
      PackageWriter::Create(dir, SampleConfig(), {.xsd_dir = ShippedXsdDir()});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->BeginCaseFile({.title = "Sak", .created = kDay}).ok());
  ASSERT_TRUE(
      (*writer)
          ->AddRegistryEntry({.kind = RegistryEntryKind::kNote, .title = "Notat", .date = kDay})
          .ok());
  ASSERT_TRUE((*writer)->EndCaseFile().ok());
  absl::StatusOr<PackageSummary> summary = (*writer)->Finish();
  ASSERT_TRUE(summary.ok()) << summary.status();
  // No journalposter, so no journals.
  EXPECT_FALSE(fs::exists(dir / "loependeJournal.xml"));
  absl::StatusOr<CheckReport> report = CheckPackage(dir, ShippedXsdDir());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->passed()) << report->ToText();
}

long ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST(PackageWriter, LargeDocumentStreamsWithFlatMemory) {
  const fs::path dir = FreshDir("large");
  long peak_kib = 0;
  absl::StatusOr<std::unique_ptr<PackageWriter>> writer = PackageWriter::Create(
      dir, SampleConfig(),
      {.xsd_dir = ShippedXsdDir(), .on_progress = [&peak_kib](const WriteProgress&) {
         peak_kib = std::max(peak_kib, ResidentKiB());
       }});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->BeginCaseFile({.title = "Sak", .created = kDay}).ok());
  ASSERT_TRUE((*writer)->BeginRegistryEntry({.title = "Post", .date = kDay}).ok());
  const long before_kib = ResidentKiB();
  const std::string chunk(1 << 20, 'x');
  constexpr int kMegabytes = 256;
  absl::StatusOr<WrittenDocument> document =
      (*writer)->AddDocument({.title = "Stor", .file_name = "large.csv", .format = "x-fmt/18"},
                             [&](DocumentSink& sink) -> absl::Status {
                               for (int i = 0; i < kMegabytes; ++i) {
                                 if (absl::Status s = sink.Write(chunk); !s.ok()) return s;
                                 if (i % 16 == 0) peak_kib = std::max(peak_kib, ResidentKiB());
                               }
                               return absl::OkStatus();
                             });
  ASSERT_TRUE(document.ok()) << document.status();
  EXPECT_EQ(document->size_bytes, std::uint64_t{kMegabytes} << 20);
  EXPECT_EQ((*writer)->Progress().document_bytes, std::uint64_t{kMegabytes} << 20);
  // 256 MiB went through; the process grew by at most a few buffers.
  EXPECT_LT(peak_kib - before_kib, 16 * 1024)
      << "before " << before_kib << " KiB, peak " << peak_kib << " KiB";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace smartby::noark5
