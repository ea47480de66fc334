// The real exporter (export_pipeline.h) with the real noark5 writer and checker, reading from
// MemoryPlatform: the platform's answers kept in memory, so that these tests need no processes
// (the integration test reads the real services).
#include "services/archive/export_pipeline.h"

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/archive/noark5/package_check.h"
#include "services/archive/noark5/package_writer.h"

namespace smartby::archive {
namespace {

namespace av1 = ::smartcity::audit::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;
namespace common = ::smartcity::common::v1;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'700'000'000;  // 2023-11-14T22:13:20Z

cv1::Dataset Badetemperatur() {
  cv1::Dataset d;
  d.set_name("badetemperatur");
  d.set_title("Badetemperatur i Stavanger");
  d.set_description("Vanntemperatur ved badeplasser.");
  d.add_keywords("bading");
  d.set_classification(common::CLASSIFICATION_OPEN);
  d.set_state(cv1::DATASET_STATE_PUBLISHED);
  d.mutable_create_time()->set_seconds(kT0 - 86400);
  auto* f = d.add_fields();
  f->set_name("temperature");
  f->set_type(cv1::FIELD_TYPE_DOUBLE);
  auto* n = d.add_fields();
  n->set_name("note");
  n->set_type(cv1::FIELD_TYPE_STRING);
  d.mutable_risk_assessment()->set_reference("ROS-2023-17");
  d.mutable_risk_assessment()->mutable_assessed_time()->set_seconds(kT0 - 3600);
  return d;
}

class MemoryPlatform : public PlatformReader {
 public:
  cv1::Dataset dataset = Badetemperatur();
  std::vector<cv1::DatasetChange> history;
  int64_t readings = 0;
  int page_size = 100;
  std::vector<av1::AuditEntry> audit;
  int pages_served = 0;

  absl::StatusOr<cv1::Dataset> GetDataset(const std::string& name) override {
    if (name != dataset.name()) return absl::NotFoundError(name);
    return dataset;
  }
  absl::StatusOr<std::optional<absl::Time>> OldestReading(const std::string&) override {
    return std::optional<absl::Time>();
  }
  absl::Status ForEachHistoryChange(
      const std::string&, const std::function<absl::Status(const cv1::DatasetChange&)>& visit)
      override {
    for (const auto& c : history) {
      absl::Status s = visit(c);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status ForEachReadingPage(
      const std::string&, absl::Time, absl::Time,
      const std::function<absl::Status(const iv1::QueryReadingsResponse&)>& visit) override {
    for (int64_t start = 0; start < readings; start += page_size) {
      iv1::QueryReadingsResponse page;
      for (int64_t i = start; i < std::min(readings, start + page_size); ++i) {
        iv1::Reading* r = page.add_readings();
        r->set_source_id("strand-1");
        r->mutable_time()->set_seconds(kT0 + i);
        (*r->mutable_values())["temperature"].set_double_value(17.5 + i % 3);
        if (i == 0) (*r->mutable_values())["note"].set_string_value("første, \"kalde\" dag");
      }
      ++pages_served;
      absl::Status s = visit(page);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status ForEachAuditEntry(
      const std::string&, const std::function<absl::Status(const av1::AuditEntry&)>& visit)
      override {
    for (const auto& e : audit) {
      absl::Status s = visit(e);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
};

class CountingControl : public ExportControl {
 public:
  void Report(const v1::ExportProgress& progress) override { last = progress; ++reports; }
  void Checking() override { checking = true; }
  bool cancelled() const override { return cancel; }
  v1::ExportProgress last;
  int reports = 0;
  bool checking = false;
  bool cancel = false;
};

v1::ExportJob JobFor(const std::string& dataset) {
  v1::ExportJob job;
  job.set_id("0d7c2b7e-4a4c-4f7e-8d43-3f1b6f2c9a10");
  job.add_datasets(dataset);
  job.mutable_start_time()->set_seconds(kT0 - 86400);
  job.mutable_end_time()->set_seconds(kT0 + 86400);
  job.mutable_config()->set_arkivdel("Datasett fra Smartby");
  job.mutable_config()->set_document_type("Dataeksport");
  job.mutable_config()->set_responsible_unit("Bymiljø og utbygging");
  job.mutable_config()->set_case_handler("Kari Nordmann");
  job.set_created_by("user:arkivar");
  job.set_classification(common::CLASSIFICATION_OPEN);
  return job;
}

cv1::DatasetChange Change(int64_t version, const std::string& action, cv1::DatasetState state) {
  cv1::DatasetChange c;
  c.set_version(version);
  c.set_action(action);
  c.set_changed_by("user:eier");
  c.mutable_change_time()->set_seconds(kT0 - 86400 + version * 60);
  *c.mutable_dataset() = Badetemperatur();
  c.mutable_dataset()->set_state(state);
  c.mutable_dataset()->set_version(version);
  return c;
}

class ExportPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("archive-pipeline-", ::getpid(), "-", reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    paths_ = {dir_ / "staging", dir_ / "package.tar"};
    identity_.creator_id = "964965137";
    identity_.creator_name = "Stavanger kommune";
    identity_.xsd_dir = noark5::SourceTreeXsdDir();
    platform_.history = {Change(1, "created", cv1::DATASET_STATE_DRAFT),
                         Change(2, "published", cv1::DATASET_STATE_PUBLISHED),
                         Change(3, "retired: erstattet av nytt datasett",
                                cv1::DATASET_STATE_RETIRED)};
    av1::AuditEntry entry;
    entry.set_index(7);
    entry.mutable_sequenced_time()->set_seconds(kT0);
    entry.mutable_event()->set_action("/smartcity.catalogue.v1.CatalogueService/PublishDataset");
    entry.mutable_event()->mutable_actor()->set_subject("user:eier");
    platform_.audit = {entry};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  ExportPaths paths_;
  PackageIdentity identity_;
  MemoryPlatform platform_;
  CountingControl control_;
};

TEST_F(ExportPipelineTest, PackagePassesEveryCheckAndHoldsTheReadings) {
  platform_.readings = 250;
  NoarkPackageExporter exporter(&platform_, identity_);
  auto result = exporter.Export(JobFor("badetemperatur"), paths_, control_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(control_.checking);
  EXPECT_EQ(control_.last.readings_written(), 250);
  EXPECT_EQ(control_.last.datasets_done(), 1);
  EXPECT_EQ(control_.last.audit_entries_written(), 1);
  EXPECT_EQ(result->sha256_hex.size(), 64u);
  EXPECT_EQ(result->size_bytes, static_cast<int64_t>(std::filesystem::file_size(paths_.package)));
  EXPECT_FALSE(std::filesystem::exists(paths_.staging_dir)) << "staging is removed once packed";
  auto report = noark5::CheckPackage(paths_.package, identity_.xsd_dir);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->passed()) << report->ToText();
}

TEST_F(ExportPipelineTest, UnknownDatasetFailsNamingIt) {
  NoarkPackageExporter exporter(&platform_, identity_);
  auto result = exporter.Export(JobFor("finnes-ikke"), paths_, control_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("finnes-ikke"));
}

TEST_F(ExportPipelineTest, CancelStopsWithinAPage) {
  platform_.readings = 100000;
  platform_.page_size = 1000;
  control_.cancel = true;
  NoarkPackageExporter exporter(&platform_, identity_);
  auto result = exporter.Export(JobFor("badetemperatur"), paths_, control_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LE(platform_.pages_served, 1);
  EXPECT_FALSE(std::filesystem::exists(paths_.package));
}

TEST(Csv, HeaderHasTimeSourceAndSchemaFields) {
  EXPECT_EQ(CsvHeader(Badetemperatur()), "time,source_id,temperature,note\r\n");
}

TEST(Csv, RowQuotesTextAndKeepsExactNumbersAndMicroseconds) {
  iv1::Reading r;
  r.set_source_id("strand-1");
  r.mutable_time()->set_seconds(kT0);
  r.mutable_time()->set_nanos(123456000);
  (*r.mutable_values())["temperature"].set_double_value(0.1);
  (*r.mutable_values())["note"].set_string_value("kald, \"veldig\"");
  EXPECT_EQ(CsvRow(Badetemperatur(), r),
            "2023-11-14T22:13:20.123456Z,strand-1,0.1,\"kald, \"\"veldig\"\"\"\r\n");
}

TEST(Csv, MissingValueIsAnEmptyCell) {
  iv1::Reading r;
  r.set_source_id("s");
  r.mutable_time()->set_seconds(kT0);
  EXPECT_EQ(CsvRow(Badetemperatur(), r), "2023-11-14T22:13:20.000000Z,s,,\r\n");
}

}  // namespace
}  // namespace smartby::archive
