// The export job store's contract (store.h), on every engine under test.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/archive/store.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::archive {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::ExportJob Job(const std::string& id, int64_t create_seconds,
                  v1::ExportState state = v1::EXPORT_STATE_QUEUED) {
  v1::ExportJob job;
  job.set_id(id);
  job.add_datasets("badetemperatur");
  job.set_state(state);
  job.mutable_create_time()->set_seconds(create_seconds);
  job.mutable_config()->set_arkivdel("Datasett fra Smartby");
  job.set_classification(smartcity::common::v1::CLASSIFICATION_INTERNAL);
  return job;
}

std::vector<std::string> Ids(const std::vector<v1::ExportJob>& jobs) {
  std::vector<std::string> ids;
  for (const auto& job : jobs) ids.push_back(job.id());
  return ids;
}

class ExportJobStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlExportJobStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<ExportJobStore> store_;
};

TEST_P(ExportJobStoreTest, CreatedJobReadsBackWhole) {
  v1::ExportJob job = Job("a", 100);
  job.mutable_progress()->set_readings_written(42);
  ASSERT_TRUE(store_->Create(job).ok());
  auto read = store_->Get("a");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), job.SerializeAsString());
}

TEST_P(ExportJobStoreTest, DuplicateIdIsRefused) {
  ASSERT_TRUE(store_->Create(Job("a", 100)).ok());
  const absl::Status again = store_->Create(Job("a", 200));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr("a"));
}

TEST_P(ExportJobStoreTest, MissingJobIsNotFoundByName) {
  const auto read = store_->Get("nope");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("nope"));
  EXPECT_EQ(store_->Update(Job("nope", 1)).code(), absl::StatusCode::kNotFound);
}

TEST_P(ExportJobStoreTest, UpdateReplacesStateAndDocument) {
  ASSERT_TRUE(store_->Create(Job("a", 100)).ok());
  v1::ExportJob done = Job("a", 100, v1::EXPORT_STATE_SUCCEEDED);
  done.set_package_sha256("ab12");
  ASSERT_TRUE(store_->Update(done).ok());
  auto read = store_->Get("a");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->state(), v1::EXPORT_STATE_SUCCEEDED);
  EXPECT_EQ(read->package_sha256(), "ab12");
  auto unfinished = store_->ListUnfinished();
  ASSERT_TRUE(unfinished.ok());
  EXPECT_TRUE(unfinished->empty());
}

TEST_P(ExportJobStoreTest, PushRecordIsKeptThroughFailureAndRetry) {
  ASSERT_TRUE(store_->Create(Job("a", 100, v1::EXPORT_STATE_SUCCEEDED)).ok());
  v1::ExportJob failed = Job("a", 100, v1::EXPORT_STATE_SUCCEEDED);
  v1::CorePush* push = failed.mutable_push();
  push->set_state(v1::PUSH_STATE_FAILED);
  push->set_core_url("https://arkiv.example.no/noark5v5/");
  push->set_attempts(1);
  push->set_error("POST https://arkiv.example.no/: connection refused");
  v1::PushedCaseFile* first = push->add_case_files();
  first->set_mappe_id("badetemperatur");
  first->set_system_id("3f1b6f2c-0000-4f7e-8d43-000000000001");
  first->add_document_objects("3f1b6f2c-0000-4f7e-8d43-000000000002");
  ASSERT_TRUE(store_->Update(failed).ok());
  auto read = store_->Get("a");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), failed.SerializeAsString());

  v1::ExportJob pushed = *read;
  pushed.mutable_push()->set_state(v1::PUSH_STATE_PUSHED);
  pushed.mutable_push()->set_attempts(2);
  pushed.mutable_push()->clear_error();
  pushed.mutable_push()->mutable_pushed_at()->set_seconds(500);
  ASSERT_TRUE(store_->Update(pushed).ok());
  read = store_->Get("a");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->push().state(), v1::PUSH_STATE_PUSHED);
  EXPECT_EQ(read->push().attempts(), 2);
  EXPECT_EQ(read->push().pushed_at().seconds(), 500);
  EXPECT_EQ(read->push().case_files(0).system_id(), "3f1b6f2c-0000-4f7e-8d43-000000000001");
  EXPECT_TRUE(read->push().error().empty());
  auto listed = store_->List(std::nullopt, 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().push().state(), v1::PUSH_STATE_PUSHED);
}

TEST_P(ExportJobStoreTest, ListsNewestFirstInPages) {
  ASSERT_TRUE(store_->Create(Job("a", 100)).ok());
  ASSERT_TRUE(store_->Create(Job("c", 300)).ok());
  ASSERT_TRUE(store_->Create(Job("b", 200)).ok());
  ASSERT_TRUE(store_->Create(Job("d", 200)).ok());  // same time as b: id decides
  auto first = store_->List(std::nullopt, 2);
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(Ids(*first), ElementsAre("c", "d"));
  auto second = store_->List(CursorOf(first->back()), 2);
  ASSERT_TRUE(second.ok());
  EXPECT_THAT(Ids(*second), ElementsAre("b", "a"));
  auto third = store_->List(CursorOf(second->back()), 2);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->empty());
}

TEST_P(ExportJobStoreTest, UnfinishedAreQueuedRunningAndCheckingOldestFirst) {
  ASSERT_TRUE(store_->Create(Job("running", 200, v1::EXPORT_STATE_RUNNING)).ok());
  ASSERT_TRUE(store_->Create(Job("queued", 100, v1::EXPORT_STATE_QUEUED)).ok());
  ASSERT_TRUE(store_->Create(Job("checking", 300, v1::EXPORT_STATE_CHECKING)).ok());
  ASSERT_TRUE(store_->Create(Job("failed", 50, v1::EXPORT_STATE_FAILED)).ok());
  ASSERT_TRUE(store_->Create(Job("cancelled", 60, v1::EXPORT_STATE_CANCELLED)).ok());
  ASSERT_TRUE(store_->Create(Job("done", 70, v1::EXPORT_STATE_SUCCEEDED)).ok());
  auto unfinished = store_->ListUnfinished();
  ASSERT_TRUE(unfinished.ok());
  EXPECT_THAT(Ids(*unfinished), ElementsAre("queued", "running", "checking"));
}

TEST_P(ExportJobStoreTest, ReopeningKeepsJobsAndSkipsAppliedMigrations) {
  ASSERT_TRUE(store_->Create(Job("a", 100)).ok());
  auto reopened = OpenSqlExportJobStore(db_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE((*reopened)->Get("a").ok());
}

INSTANTIATE_TEST_SUITE_P(Engines, ExportJobStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace smartby::archive
