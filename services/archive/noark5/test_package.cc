#include "services/archive/noark5/test_package.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace smartby::noark5::testing {

namespace fs = std::filesystem;

namespace {

// Every folder a test makes lives under one per-process root, removed when the tests end.
const fs::path& TestRoot() {
  static const fs::path* root =
      new fs::path(fs::path(::testing::TempDir()) / absl::StrCat("noark5-test-", ::getpid()));
  return *root;
}

class RemoveTestRoot : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(TestRoot(), ignored);
  }
};
[[maybe_unused]] const auto* const kRemoveTestRoot =
    ::testing::AddGlobalTestEnvironment(new RemoveTestRoot);

}  // namespace

fs::path FreshDir(const std::string& label) {
  fs::path dir = TestRoot() / absl::StrCat(label, "-", NewUuid());
  fs::create_directories(dir);
  return dir;
}

fs::path SharedNoark5Dir() {
  const char* dir = std::getenv("NOARK5_SHARED_DIR");
  return dir != nullptr ? fs::path(dir) : fs::path("/work/shared/noark5");
}

fs::path ShippedXsdDir() {
  const char* dir = std::getenv("NOARK5_XSD_DIR");
  return dir != nullptr ? fs::path(dir) : SourceTreeXsdDir();
}

ExportConfig SampleConfig() {
  ExportConfig config;
  config.system_name = "Smartby";
  config.system_version = "0.1.0";
  config.archive_title = "Smartby datasett";
  config.archive_description = "Datasett fra Smartby-plattformen";
  config.creator_id = "974760673";
  config.creator_name = "Eksempel kommune";
  config.series_title = "Sensordata 2026";
  config.document_type = "Datasett";
  config.responsible_unit = "Teknisk drift";
  config.case_handler = "Kari Arkivar";
  config.period_start = absl::FromCivil(absl::CivilDay(2026, 1, 1), absl::UTCTimeZone());
  config.period_end = absl::FromCivil(absl::CivilDay(2026, 6, 30), absl::UTCTimeZone());
  config.classification = "Intern";
  config.now = absl::FromCivil(absl::CivilSecond(2026, 11, 24, 3, 0, 0), absl::UTCTimeZone());
  return config;
}

SamplePackage WriteSamplePackage(const fs::path& dir, int csv_megabytes) {
  SamplePackage sample;
  sample.dir = dir;
  absl::StatusOr<std::unique_ptr<PackageWriter>> created =
      PackageWriter::Create(dir, SampleConfig(), {.xsd_dir = ShippedXsdDir()});
  EXPECT_TRUE(created.ok()) << created.status();
  if (!created.ok()) return sample;
  PackageWriter& writer = **created;
  const absl::TimeZone utc = absl::UTCTimeZone();

  absl::StatusOr<std::string> case_file = writer.BeginCaseFile(
      {.title = "Badetemperatur <Sjøbadet> & Co",
       .description = "Datasettet water.bathing-temperature med alle publiserte versjoner",
       .keywords = {"badetemperatur", "", "sensor"},
       .external_id = "water.bathing-temperature",
       .created = absl::FromCivil(absl::CivilDay(2026, 1, 5), utc)});
  EXPECT_TRUE(case_file.ok()) << case_file.status();
  sample.case_file_id = *case_file;

  for (int version = 1; version <= 2; ++version) {
    absl::StatusOr<std::string> entry = writer.BeginRegistryEntry(
        {.title = absl::StrCat("Publisert versjon ", version),
         .description = "",  // empty optional field: must not become an empty element
         .reference = absl::StrCat("water.bathing-temperature/v", version),
         .date = absl::FromCivil(absl::CivilDay(2026, 2 * version, 1), utc)});
    EXPECT_TRUE(entry.ok()) << entry.status();
    sample.registry_entry_ids.push_back(*entry);
    const std::string json = absl::StrCat(R"({"dataset":"water.bathing-temperature","version":)",
                                          version, R"(,"unit":"°C"})");
    absl::StatusOr<WrittenDocument> metadata =
        writer.AddDocument({.title = "Metadata",
                            .file_name = absl::StrCat("v", version, "-metadata.json"),
                            .format = "fmt/817",
                            .format_details = "application/json"},
                           [&json](DocumentSink& sink) { return sink.Write(json); });
    EXPECT_TRUE(metadata.ok()) << metadata.status();
    // Readings streamed in 64 KiB chunks, as the service streams them from its store.
    absl::StatusOr<WrittenDocument> readings = writer.AddDocument(
        {.title = "Målinger",
         .file_name = absl::StrCat("v", version, "-readings.csv"),
         .format = "x-fmt/18",
         .format_details = "text/csv; charset=UTF-8",
         .main_document = false},
        [csv_megabytes](DocumentSink& sink) -> absl::Status {
          if (absl::Status s = sink.Write("time,sensor,celsius\n"); !s.ok()) return s;
          std::string chunk;
          for (int row = 0; row < 2048; ++row) {
            absl::StrAppend(&chunk, "2026-03-01T12:00:", row % 60, "Z,beach-", row % 7, ",",
                            row % 30, ".5\n");
          }
          const std::uint64_t target = static_cast<std::uint64_t>(csv_megabytes) << 20;
          for (std::uint64_t written = 0; written < target; written += chunk.size()) {
            if (absl::Status s = sink.Write(chunk); !s.ok()) return s;
          }
          return absl::OkStatus();
        });
    EXPECT_TRUE(readings.ok()) << readings.status();
    sample.csv_sha256 = readings->sha256_hex;
    sample.csv_bytes = readings->size_bytes;
    EXPECT_TRUE(writer.EndRegistryEntry().ok());
  }

  absl::StatusOr<std::string> risk =
      writer.BeginRegistryEntry({.kind = RegistryEntryKind::kNote,
                                 .title = "Risikovurdering (ROS)",
                                 .date = absl::FromCivil(absl::CivilDay(2026, 1, 20), utc)});
  EXPECT_TRUE(risk.ok()) << risk.status();
  sample.registry_entry_ids.push_back(*risk);
  EXPECT_TRUE(
      writer
          .AddDocument({.title = "ROS-analyse", .file_name = "ros.txt", .format = "x-fmt/111"},
                       [](DocumentSink& sink) {
                         return sink.Write("Lav risiko: ingen personopplysninger.\n");
                       })
          .ok());
  EXPECT_TRUE(writer.EndRegistryEntry().ok());

  absl::StatusOr<std::string> retirement =
      writer.AddRegistryEntry({.title = "Datasettet er avviklet",
                               .date = absl::FromCivil(absl::CivilDay(2026, 6, 30), utc)});
  EXPECT_TRUE(retirement.ok()) << retirement.status();
  sample.registry_entry_ids.push_back(*retirement);
  EXPECT_TRUE(writer.EndCaseFile().ok());

  EXPECT_TRUE(
      writer
          .AddChangeLogEntry({.system_id = sample.case_file_id,
                              .field = "tittel",
                              .changed_at = absl::FromCivil(absl::CivilDay(2026, 1, 6), utc),
                              .changed_by = "ola@kommune.no",
                              .old_value = "Badetemp",
                              .new_value = "Badetemperatur <Sjøbadet> & Co"})
          .ok());
  EXPECT_TRUE(
      writer
          .AddChangeLogEntry({.system_id = sample.registry_entry_ids[0],
                              .field = "tittel",
                              .changed_at = absl::FromCivil(absl::CivilDay(2026, 2, 1), utc),
                              .changed_by = "ola@kommune.no",
                              .new_value = "Publisert versjon 1"})
          .ok());
  absl::StatusOr<PackageSummary> summary = writer.Finish();
  EXPECT_TRUE(summary.ok()) << summary.status();
  if (summary.ok()) sample.summary = *summary;
  return sample;
}

const SamplePackage& SharedSample() {
  static const SamplePackage* sample = new SamplePackage(WriteSamplePackage(FreshDir("sample")));
  return *sample;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteFile(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

void ReplaceFirst(const fs::path& path, const std::string& from, const std::string& to) {
  std::string content = ReadFile(path);
  const std::size_t at = content.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not found in " << path;
  content.replace(at, from.size(), to);
  WriteFile(path, content);
}

fs::path CopyPackage(const fs::path& from, const std::string& label) {
  fs::path to = FreshDir(label);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  return to;
}

int RunCommand(const std::string& command, std::string* output) {
  FILE* pipe = ::popen(absl::StrCat(command, " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  std::string collected;
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) collected.append(buffer, got);
  const int status = ::pclose(pipe);
  if (output != nullptr) *output = collected;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace smartby::noark5::testing
