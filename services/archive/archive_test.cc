// The job rules of archive.h: who may start, see, cancel and fetch; a job's life through the
// bounded worker; cancelling; restarting what a stopped process left unfinished. The package
// itself is made by ScriptedExporter below, a stand-in whose behaviour each test chooses (the
// real exporter is tested in export_pipeline_test.cc and the integration test).
#include "services/archive/archive.h"

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/runtime/auth/test_callers.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::archive {
namespace {

namespace cv1 = ::smartcity::catalogue::v1;
namespace common = ::smartcity::common::v1;
using auth::testing::MakeCaller;
using ::testing::HasSubstr;

class MapDatasets : public DatasetLookup {
 public:
  void Add(const std::string& name, common::Classification classification) {
    cv1::Dataset d;
    d.set_name(name);
    d.set_classification(classification);
    d.mutable_create_time()->set_seconds(1'600'000'000);
    datasets_[name] = d;
  }
  absl::StatusOr<cv1::Dataset> GetDataset(const std::string& name) override {
    auto it = datasets_.find(name);
    if (it == datasets_.end()) return absl::NotFoundError(name);
    return it->second;
  }
  void SetOldestReading(const std::string& name, absl::Time when) { oldest_[name] = when; }
  absl::StatusOr<std::optional<absl::Time>> OldestReading(const std::string& name) override {
    auto it = oldest_.find(name);
    if (it == oldest_.end()) return std::optional<absl::Time>();
    return std::optional<absl::Time>(it->second);
  }

 private:
  std::map<std::string, cv1::Dataset> datasets_;
  std::map<std::string, absl::Time> oldest_;
};

// Writes a small package, fails, or waits to be cancelled, as the test says.
class ScriptedExporter : public PackageExporter {
 public:
  enum class Mode { kSucceed, kFail, kWaitForCancel };
  std::atomic<Mode> mode{Mode::kSucceed};
  absl::Notification started;
  std::atomic<bool> hold{false};  // kSucceed waits for `release` after reporting progress
  absl::Notification release;

  absl::StatusOr<PackageResult> Export(const v1::ExportJob& job, const ExportPaths& paths,
                                       ExportControl& control) override {
    std::filesystem::create_directories(paths.staging_dir);
    std::ofstream(paths.staging_dir / "arkivstruktur.xml") << "<arkiv/>";
    v1::ExportProgress progress;
    progress.set_phase("readings");
    progress.set_readings_written(10);
    control.Report(progress);
    if (!started.HasBeenNotified()) started.Notify();
    switch (mode.load()) {
      case Mode::kFail:
        return absl::InternalError("the package failed its checks: N5.02 ADDML checksums");
      case Mode::kWaitForCancel:
        while (!control.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return absl::CancelledError("cancelled");
      case Mode::kSucceed:
        if (hold) release.WaitForNotification();
        break;
    }
    control.Checking();
    std::ofstream(paths.package) << "package of " << job.id();
    return PackageResult{static_cast<int64_t>(std::filesystem::file_size(paths.package)), "ab"};
  }
};

// Stands in for the real PackagePusher (tested against FakeNoark5Core in package_push_test.cc):
// reports the case files `push` names, then fails with `fail_with` when set.
class ScriptedPusher : public CorePusher {
 public:
  std::vector<std::string> push = {"badetemperatur"};
  absl::Status fail_with = absl::OkStatus();
  std::vector<std::set<std::string>> calls;  // already_pushed of each call

  std::string core_url() const override { return "https://arkiv.example.no/noark5v5/"; }
  absl::Status Push(const std::filesystem::path& package,
                    const std::set<std::string>& already_pushed,
                    const std::function<void(const v1::PushedCaseFile&)>& on_pushed) override {
    calls.push_back(already_pushed);
    if (!std::filesystem::exists(package)) return absl::NotFoundError("no package");
    for (const std::string& mappe : push) {
      if (already_pushed.contains(mappe)) continue;
      v1::PushedCaseFile pushed;
      pushed.set_mappe_id(mappe);
      pushed.set_system_id(absl::StrCat("sys-", mappe));
      on_pushed(pushed);
    }
    return fail_with;
  }
};

class RecordingAuditor : public JobAuditor {
 public:
  void Record(const v1::ExportJob& job, const std::string& step) override {
    std::lock_guard<std::mutex> lock(mu_);
    steps_.push_back(step);
  }
  std::vector<std::string> steps() {
    std::lock_guard<std::mutex> lock(mu_);
    return steps_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> steps_;
};

auth::Caller Archivist(common::Classification clearance = common::CLASSIFICATION_INTERNAL,
                       bool tfa = false) {
  return MakeCaller("user:arkivar", {"archivist"}, clearance, tfa);
}

v1::StartExportRequest Request(const std::string& dataset) {
  v1::StartExportRequest request;
  request.add_datasets(dataset);
  request.mutable_config()->set_arkivdel("Datasett fra Smartby");
  request.mutable_config()->set_document_type("Dataeksport");
  request.mutable_config()->set_responsible_unit("Bymiljø og utbygging");
  request.mutable_config()->set_case_handler("Kari Nordmann");
  return request;
}

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase("sqlite");
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlExportJobStore(db_);
    ASSERT_TRUE(store.ok());
    store_ = *std::move(store);
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("archive-test-", ::getpid(), "-", reinterpret_cast<uintptr_t>(this));
    datasets_.Add("badetemperatur", common::CLASSIFICATION_OPEN);
    datasets_.Add("intern-data", common::CLASSIFICATION_INTERNAL);
    datasets_.Add("helse", common::CLASSIFICATION_PROTECTED);
  }
  void TearDown() override {
    archive_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartArchive(CorePusher* pusher = nullptr) {
    ArchiveOptions options;
    options.package_dir = dir_;
    options.max_queued = 2;
    options.core_pusher = pusher;
    archive_ = std::make_unique<Archive>(store_.get(), &datasets_, &exporter_, &auditor_, &clock_,
                                         nullptr, options);
    ASSERT_TRUE(archive_->Start().ok());
  }

  // Polls (with a deadline) until the job has ended.
  v1::ExportJob WaitForEnd(const std::string& id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      auto job = store_->Get(id);
      if (job.ok() && IsFinished(job->state())) return *job;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ADD_FAILURE() << "job " << id << " did not end";
    return {};
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<ExportJobStore> store_;
  std::filesystem::path dir_;
  MapDatasets datasets_;
  ScriptedExporter exporter_;
  RecordingAuditor auditor_;
  SystemClock clock_;
  std::unique_ptr<Archive> archive_;
};

TEST_F(ArchiveTest, ArchivistExportRunsToSucceededAndKeepsOnlyThePackage) {
  StartArchive();
  auto job = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::EXPORT_STATE_QUEUED);
  EXPECT_EQ(job->created_by(), "user:arkivar");
  EXPECT_TRUE(job->has_start_time() && job->has_end_time());
  const v1::ExportJob done = WaitForEnd(job->id());
  EXPECT_EQ(done.state(), v1::EXPORT_STATE_SUCCEEDED);
  EXPECT_EQ(done.attempts(), 1);
  EXPECT_GT(done.package_size(), 0);
  EXPECT_TRUE(std::filesystem::exists(dir_ / absl::StrCat(job->id(), ".tar")));
  EXPECT_FALSE(std::filesystem::exists(dir_ / ".staging" / job->id()));
  auto package = archive_->OpenPackage(Archivist(), job->id());
  ASSERT_TRUE(package.ok()) << package.status();
  EXPECT_EQ(package->path, dir_ / absl::StrCat(job->id(), ".tar"));
  EXPECT_THAT(auditor_.steps(), ::testing::ElementsAre("export.started", "export.succeeded"));
}

// By default the period starts at the oldest reading, which may be older than the dataset's
// entry in the catalogue (readings imported from a line-of-business system).
TEST_F(ArchiveTest, DefaultPeriodStartsAtTheOldestReadingOrTheDatasetsCreation) {
  StartArchive();
  datasets_.SetOldestReading("badetemperatur", absl::FromUnixSeconds(1'500'000'000));
  auto backfilled = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(backfilled.ok()) << backfilled.status();
  EXPECT_EQ(backfilled->start_time().seconds(), 1'500'000'000);
  auto without_readings = archive_->StartExport(Archivist(), Request("intern-data"));
  ASSERT_TRUE(without_readings.ok()) << without_readings.status();
  EXPECT_EQ(without_readings->start_time().seconds(), 1'600'000'000);  // the dataset's creation
}

TEST_F(ArchiveTest, ReaderAndDataStewardAreRefused) {
  StartArchive();
  const auto reader = archive_->StartExport(
      MakeCaller("user:leser", {"reader"}, common::CLASSIFICATION_STRICTLY_PROTECTED, true),
      Request("badetemperatur"));
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(reader.status().message()), HasSubstr("archivist"));
  const auto steward = archive_->StartExport(
      MakeCaller("user:forvalter", {"data-steward"}, common::CLASSIFICATION_STRICTLY_PROTECTED,
                 true),
      Request("badetemperatur"));
  EXPECT_EQ(steward.status().code(), absl::StatusCode::kPermissionDenied);
  auto listed = store_->List(std::nullopt, 10);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty()) << "a refused export must not be queued";
}

TEST_F(ArchiveTest, ClassificationOfTheDatasetNeedsClearanceAndIsKeptOnTheJob) {
  StartArchive();
  const auto low = archive_->StartExport(Archivist(common::CLASSIFICATION_INTERNAL),
                                         Request("helse"));
  EXPECT_EQ(low.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(low.status().message()), HasSubstr("Beskyttet"));
  const auto cleared = archive_->StartExport(
      Archivist(common::CLASSIFICATION_PROTECTED, /*tfa=*/true), Request("helse"));
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_EQ(cleared->classification(), common::CLASSIFICATION_PROTECTED);
  WaitForEnd(cleared->id());
  // Fetching needs the same clearance.
  const auto fetch = archive_->OpenPackage(Archivist(common::CLASSIFICATION_INTERNAL),
                                           cleared->id());
  EXPECT_EQ(fetch.status().code(), absl::StatusCode::kPermissionDenied);
  // And an Intern-cleared archivist does not see it listed.
  auto listed = archive_->ListExports(Archivist(common::CLASSIFICATION_INTERNAL), {});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->jobs_size(), 0);
  auto listed_all = archive_->ListExports(
      Archivist(common::CLASSIFICATION_PROTECTED, true), {});
  ASSERT_TRUE(listed_all.ok());
  EXPECT_EQ(listed_all->jobs_size(), 1);
}

TEST_F(ArchiveTest, TheHighestClassOfSeveralDatasetsIsTheJobs) {
  StartArchive();
  v1::StartExportRequest request = Request("badetemperatur");
  request.add_datasets("intern-data");
  auto job = archive_->StartExport(Archivist(), request);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->classification(), common::CLASSIFICATION_INTERNAL);
}

TEST_F(ArchiveTest, BadRequestsNameTheField) {
  StartArchive();
  v1::StartExportRequest no_unit = Request("badetemperatur");
  no_unit.mutable_config()->clear_responsible_unit();
  auto refused = archive_->StartExport(Archivist(), no_unit);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("config.responsible_unit"));

  v1::StartExportRequest twice = Request("badetemperatur");
  twice.add_datasets("badetemperatur");
  EXPECT_EQ(archive_->StartExport(Archivist(), twice).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto unknown = archive_->StartExport(Archivist(), Request("finnes-ikke"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("finnes-ikke"));

  v1::StartExportRequest backwards = Request("badetemperatur");
  backwards.mutable_start_time()->set_seconds(1'700'000'100);
  backwards.mutable_end_time()->set_seconds(1'700'000'000);
  auto bad_period = archive_->StartExport(Archivist(), backwards);
  EXPECT_THAT(std::string(bad_period.status().message()), HasSubstr("end_time"));
}

TEST_F(ArchiveTest, FailedJobRemovesItsFilesAndSaysWhy) {
  exporter_.mode = ScriptedExporter::Mode::kFail;
  StartArchive();
  auto job = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(job.ok());
  const v1::ExportJob failed = WaitForEnd(job->id());
  EXPECT_EQ(failed.state(), v1::EXPORT_STATE_FAILED);
  EXPECT_THAT(failed.error(), HasSubstr("N5.02"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / ".staging" / job->id()));
  EXPECT_FALSE(std::filesystem::exists(dir_ / absl::StrCat(job->id(), ".tar")));
  const auto fetch = archive_->OpenPackage(Archivist(), job->id());
  EXPECT_EQ(fetch.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(fetch.status().message()), HasSubstr("failed"));
}

TEST_F(ArchiveTest, CancelStopsARunningJobAndCleansUp) {
  exporter_.mode = ScriptedExporter::Mode::kWaitForCancel;
  StartArchive();
  auto job = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(exporter_.started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  auto cancelled = archive_->CancelExport(Archivist(), job->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::EXPORT_STATE_CANCELLED);
  EXPECT_EQ(cancelled->cancelled_by(), "user:arkivar");
  EXPECT_FALSE(std::filesystem::exists(dir_ / ".staging" / job->id()));
  const auto again = archive_->CancelExport(Archivist(), job->id());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ArchiveTest, CancelOfAQueuedJobNeverRunsIt) {
  exporter_.mode = ScriptedExporter::Mode::kWaitForCancel;
  StartArchive();
  auto first = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(exporter_.started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  auto second = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(second.ok());
  auto cancelled = archive_->CancelExport(Archivist(), second->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::EXPORT_STATE_CANCELLED);
  EXPECT_EQ(cancelled->attempts(), 0);
  ASSERT_TRUE(archive_->CancelExport(Archivist(), first->id()).ok());
}

TEST_F(ArchiveTest, QueueIsBounded) {
  exporter_.mode = ScriptedExporter::Mode::kWaitForCancel;
  StartArchive();
  auto running = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(exporter_.started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(archive_->StartExport(Archivist(), Request("badetemperatur")).ok());
  ASSERT_TRUE(archive_->StartExport(Archivist(), Request("badetemperatur")).ok());
  const auto full = archive_->StartExport(Archivist(), Request("badetemperatur"));
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ArchiveTest, JobInterruptedByARestartStartsAgainFromAWipedStagingDir) {
  // What a killed process leaves: a RUNNING job with half a staging directory and a partial TAR.
  v1::ExportJob left;
  left.set_id("5b0f3c1e-7d2a-4f4e-9c59-1d2e3f4a5b6c");
  left.add_datasets("badetemperatur");
  left.set_state(v1::EXPORT_STATE_RUNNING);
  left.set_attempts(1);
  left.set_classification(common::CLASSIFICATION_OPEN);
  *left.mutable_config() = Request("x").config();
  left.mutable_create_time()->set_seconds(1'700'000'000);
  left.mutable_start_time()->set_seconds(1'690'000'000);
  left.mutable_end_time()->set_seconds(1'700'000'000);
  ASSERT_TRUE(store_->Create(left).ok());
  std::filesystem::create_directories(dir_ / ".staging" / left.id());
  std::ofstream(dir_ / ".staging" / left.id() / "stale.xml") << "half";
  std::ofstream(dir_ / absl::StrCat(left.id(), ".tar.partial")) << "half";

  StartArchive();
  const v1::ExportJob done = WaitForEnd(left.id());
  EXPECT_EQ(done.state(), v1::EXPORT_STATE_SUCCEEDED);
  EXPECT_EQ(done.attempts(), 2);
  EXPECT_FALSE(std::filesystem::exists(dir_ / ".staging" / left.id()));
  EXPECT_FALSE(std::filesystem::exists(dir_ / absl::StrCat(left.id(), ".tar.partial")));
  EXPECT_THAT(auditor_.steps(), ::testing::Contains("export.restarted"));
}

TEST_F(ArchiveTest, WatchersSeeEveryStateToTheEnd) {
  exporter_.hold = true;
  StartArchive();
  std::mutex mu;
  std::vector<v1::ExportState> states;
  auto job = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(job.ok());
  const int subscription = archive_->Watch(job->id(), [&](const v1::ExportJob& j) {
    std::lock_guard<std::mutex> lock(mu);
    states.push_back(j.state());
  });
  ASSERT_TRUE(exporter_.started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  exporter_.release.Notify();
  WaitForEnd(job->id());
  archive_->Unwatch(subscription);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_FALSE(states.empty());
  EXPECT_THAT(states, ::testing::Contains(v1::EXPORT_STATE_CHECKING));
  EXPECT_EQ(states.back(), v1::EXPORT_STATE_SUCCEEDED);
}

TEST_F(ArchiveTest, UnknownJobIsNotFound) {
  StartArchive();
  EXPECT_EQ(archive_->GetExport(Archivist(), "nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(archive_->GetExport(Archivist(), "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ArchiveTest, PushWithoutACoreIsAFailedPreconditionNamingTheFlag) {
  StartArchive();
  auto job = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(job.ok()) << job.status();
  WaitForEnd(job->id());
  auto pushed = archive_->PushExport(Archivist(), job->id());
  EXPECT_EQ(pushed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(pushed.status().message()), HasSubstr("--noark5_core_url"));
}

TEST_F(ArchiveTest, PushOfASucceededJobIsRecordedAndNeverRepeated) {
  ScriptedPusher pusher;
  StartArchive(&pusher);
  auto job = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(job.ok()) << job.status();
  WaitForEnd(job->id());
  auto pushed = archive_->PushExport(Archivist(), job->id());
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_EQ(pushed->push().state(), v1::PUSH_STATE_PUSHED);
  EXPECT_EQ(pushed->push().core_url(), "https://arkiv.example.no/noark5v5/");
  EXPECT_EQ(pushed->push().pushed_by(), "user:arkivar");
  EXPECT_TRUE(pushed->push().has_pushed_at());
  ASSERT_EQ(pushed->push().case_files_size(), 1);
  EXPECT_EQ(pushed->push().case_files(0).system_id(), "sys-badetemperatur");
  auto stored = store_->Get(job->id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->push().state(), v1::PUSH_STATE_PUSHED);
  EXPECT_THAT(auditor_.steps(), ::testing::Contains("export.pushed"));

  auto again = archive_->PushExport(Archivist(), job->id());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("sys-badetemperatur"));
  EXPECT_EQ(pusher.calls.size(), 1u) << "a push that succeeded is not done twice";
}

TEST_F(ArchiveTest, FailedPushIsRecordedAndARetrySkipsWhatTheCoreHas) {
  ScriptedPusher pusher;
  pusher.push = {"a", "b"};
  pusher.fail_with = absl::UnavailableError("POST https://arkiv.example.no/: connection refused");
  StartArchive(&pusher);
  auto job = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(job.ok()) << job.status();
  WaitForEnd(job->id());
  auto failed = archive_->PushExport(Archivist(), job->id());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  auto stored = store_->Get(job->id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->push().state(), v1::PUSH_STATE_FAILED);
  EXPECT_THAT(stored->push().error(), HasSubstr("connection refused"));
  EXPECT_EQ(stored->push().case_files_size(), 2);
  EXPECT_THAT(auditor_.steps(), ::testing::Contains("export.push_failed"));

  pusher.fail_with = absl::OkStatus();
  auto retried = archive_->PushExport(Archivist(), job->id());
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->push().state(), v1::PUSH_STATE_PUSHED);
  EXPECT_EQ(retried->push().attempts(), 2);
  EXPECT_TRUE(retried->push().error().empty());
  EXPECT_EQ(retried->push().case_files_size(), 2) << "nothing created twice";
  ASSERT_EQ(pusher.calls.size(), 2u);
  EXPECT_EQ(pusher.calls[1], (std::set<std::string>{"a", "b"}));
}

TEST_F(ArchiveTest, OnlyASucceededJobIsPushedAndOnlyByAnArchivistClearedForIt) {
  ScriptedPusher pusher;
  StartArchive(&pusher);
  exporter_.mode = ScriptedExporter::Mode::kFail;
  auto failed_job = archive_->StartExport(Archivist(), Request("badetemperatur"));
  ASSERT_TRUE(failed_job.ok());
  WaitForEnd(failed_job->id());
  auto refused = archive_->PushExport(Archivist(), failed_job->id());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("SUCCEEDED"));

  exporter_.mode = ScriptedExporter::Mode::kSucceed;
  auto job = archive_->StartExport(Archivist(), Request("intern-data"));
  ASSERT_TRUE(job.ok());
  WaitForEnd(job->id());
  auto reader = archive_->PushExport(
      MakeCaller("user:leser", {"reader"}, common::CLASSIFICATION_STRICTLY_PROTECTED, true),
      job->id());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kPermissionDenied);
  auto uncleared = archive_->PushExport(Archivist(common::CLASSIFICATION_OPEN), job->id());
  EXPECT_EQ(uncleared.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(pusher.calls.empty());
}

}  // namespace
}  // namespace smartby::archive
