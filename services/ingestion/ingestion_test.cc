// The ingestion domain on both storage engines: sources, the one write path with every outcome,
// access, file imports, queries, data quality, the feed hand-over, MQTT messages and retention.
// The catalogue is replaced by FixedDatasetDirectory (the integration test uses the real one).
#include "services/ingestion/ingestion.h"

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <prometheus/registry.h>

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "services/runtime/auth/test_callers.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::ingestion {
namespace {

namespace common = ::smartcity::common::v1;
using auth::testing::AdminCaller;
using auth::testing::MakeCaller;
using auth::testing::MakePrincipal;
using google::protobuf::util::TimeUtil;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);  // 2026-11-18

catalogue_v1::SchemaField Field(const std::string& name, catalogue_v1::FieldType type,
                                std::optional<double> min = {}, std::optional<double> max = {}) {
  catalogue_v1::SchemaField field;
  field.set_name(name);
  field.set_type(type);
  if (min) field.set_min_value(*min);
  if (max) field.set_max_value(*max);
  return field;
}

DatasetSchema Schema(const std::string& name, common::Classification classification,
                     catalogue_v1::DatasetState state = catalogue_v1::DATASET_STATE_PUBLISHED) {
  DatasetSchema schema;
  schema.name = name;
  schema.classification = classification;
  schema.owner_organization = "Stavanger kommune";
  schema.state = state;
  schema.fields = {Field("fill_level", catalogue_v1::FIELD_TYPE_DOUBLE, 0, 120),
                   Field("fraction", catalogue_v1::FIELD_TYPE_STRING),
                   Field("lid_open", catalogue_v1::FIELD_TYPE_BOOLEAN),
                   Field("count", catalogue_v1::FIELD_TYPE_INTEGER)};
  return schema;
}

v1::Reading Reading(const std::string& source, absl::Time time, double fill) {
  v1::Reading reading;
  reading.set_source_id(source);
  *reading.mutable_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(time));
  (*reading.mutable_values())["fill_level"].set_double_value(fill);
  return reading;
}

google::protobuf::RepeatedPtrField<v1::Reading> Batch(std::initializer_list<v1::Reading> list) {
  google::protobuf::RepeatedPtrField<v1::Reading> batch;
  for (const v1::Reading& r : list) *batch.Add() = r;
  return batch;
}

auth::Caller SensorCaller(const std::string& dataset) {
  // A service account from client credentials: no second factor.
  auth::Principal p = MakePrincipal("service:sensor-gw", {}, common::CLASSIFICATION_PROTECTED,
                                    false);
  p.client_id = "sensor-gw";
  p.roles.push_back({auth::Role::kIngestWriter, dataset});
  return auth::Caller(std::move(p));
}

class IngestionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlIngestionStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    directory_.Put(Schema("avfall", common::CLASSIFICATION_OPEN));
    directory_.Put(Schema("beskyttet", common::CLASSIFICATION_PROTECTED));
    directory_.Put(Schema("gammel", common::CLASSIFICATION_OPEN,
                          catalogue_v1::DATASET_STATE_RETIRED));
    ingestion_ = std::make_unique<Ingestion>(store_.get(), &directory_, &clock_, nullptr);
    Register("c1", "avfall");
    Register("c2", "avfall");
    Register("p1", "beskyttet");
  }

  void Register(const std::string& id, const std::string& dataset,
                absl::Duration interval = absl::ZeroDuration()) {
    v1::Source source;
    source.set_id(id);
    source.set_dataset(dataset);
    source.set_name(absl::StrCat("Container ", id));
    source.mutable_position()->set_latitude(58.97);
    source.mutable_position()->set_longitude(5.73);
    if (interval > absl::ZeroDuration()) {
      *source.mutable_expected_interval() =
          TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(interval));
    }
    auto registered = ingestion_->RegisterSource(admin_, source);
    ASSERT_TRUE(registered.ok()) << registered.status();
  }

  v1::WriteReadingsResponse Write(const auth::Caller& caller,
                                  const google::protobuf::RepeatedPtrField<v1::Reading>& batch) {
    auto written = ingestion_->Write(&caller, batch);
    EXPECT_TRUE(written.ok()) << written.status();
    return written.ok() ? *written : v1::WriteReadingsResponse();
  }

  std::vector<v1::Reading> All(const std::string& dataset) {
    v1::QueryReadingsRequest request;
    request.set_dataset(dataset);
    auto result = ingestion_->QueryReadings(admin_, request);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? std::vector<v1::Reading>(result->readings().begin(),
                                                  result->readings().end())
                       : std::vector<v1::Reading>();
  }

  absl::StatusOr<v1::ImportSummary> Import(const auth::Caller& caller, v1::ImportOptions options,
                                           const std::string& content, size_t chunk = 7) {
    auto import = ingestion_->StartImport(caller, options);
    if (!import.ok()) return import.status();
    for (size_t i = 0; i < content.size(); i += chunk) {
      absl::Status fed = (*import)->Feed(absl::string_view(content).substr(i, chunk));
      if (!fed.ok()) return fed;
    }
    return (*import)->Finish();
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<IngestionStore> store_;
  FixedDatasetDirectory directory_;
  SettableClock clock_{kNow};
  auth::Caller admin_ = AdminCaller();
  std::unique_ptr<Ingestion> ingestion_;
};

TEST_P(IngestionTest, SourcesAreValidatedAndOnlyForDatasetsThatTakeReadings) {
  v1::Source source;
  source.set_id("Bad Id");
  source.set_dataset("avfall");
  EXPECT_EQ(ingestion_->RegisterSource(admin_, source).status().code(),
            absl::StatusCode::kInvalidArgument);
  source.set_id("c9");
  source.mutable_position()->set_latitude(91);
  auto bad_position = ingestion_->RegisterSource(admin_, source);
  EXPECT_EQ(bad_position.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_position.status().message().find("source.position.latitude"), std::string::npos);
  source.clear_position();
  source.set_dataset("finnes-ikke");
  EXPECT_EQ(ingestion_->RegisterSource(admin_, source).status().code(),
            absl::StatusCode::kNotFound);
  source.set_dataset("gammel");
  EXPECT_EQ(ingestion_->RegisterSource(admin_, source).status().code(),
            absl::StatusCode::kFailedPrecondition);
  source.set_dataset("avfall");
  source.set_id("c1");
  EXPECT_EQ(ingestion_->RegisterSource(admin_, source).status().code(),
            absl::StatusCode::kAlreadyExists);
  // Someone else's dataset.
  source.set_id("c10");
  EXPECT_EQ(ingestion_->RegisterSource(SensorCaller("beskyttet"), source).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(ingestion_->RegisterSource(SensorCaller("avfall"), source).ok());

  auto got = ingestion_->GetSource(admin_, "c10");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->version(), 1);
  EXPECT_EQ(got->classification(), common::CLASSIFICATION_OPEN);
}

TEST_P(IngestionTest, UpdateAndDisableFollowVersions) {
  v1::Source update;
  update.set_id("c1");
  update.set_name("Storgata 12");
  update.set_version(7);
  google::protobuf::FieldMask mask;
  mask.add_paths("name");
  EXPECT_EQ(ingestion_->UpdateSource(admin_, update, mask).status().code(),
            absl::StatusCode::kAborted);
  update.set_version(1);
  auto updated = ingestion_->UpdateSource(admin_, update, mask);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->name(), "Storgata 12");
  EXPECT_EQ(updated->version(), 2);
  EXPECT_DOUBLE_EQ(updated->position().latitude(), 58.97) << "fields outside the mask stay";
  mask.set_paths(0, "dataset");
  update.set_version(0);
  EXPECT_EQ(ingestion_->UpdateSource(admin_, update, mask).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto disabled = ingestion_->DisableSource(admin_, "c1");
  ASSERT_TRUE(disabled.ok()) << disabled.status();
  EXPECT_TRUE(disabled->disabled());
  auto response = Write(admin_, Batch({Reading("c1", kNow, 50)}));
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).reason(), v1::REJECT_REASON_SOURCE_DISABLED);
}

TEST_P(IngestionTest, EveryReadingGetsItsOwnOutcome) {
  v1::Reading unknown_field = Reading("c1", kNow - absl::Minutes(2), 10);
  (*unknown_field.mutable_values())["temperatur"].set_double_value(3);
  v1::Reading wrong_type = Reading("c1", kNow - absl::Minutes(3), 10);
  (*wrong_type.mutable_values())["fill_level"].set_string_value("full");
  v1::Reading no_time = Reading("c1", kNow, 10);
  no_time.clear_time();
  auto response = Write(admin_, Batch({
                                    Reading("c1", kNow - absl::Minutes(1), 40.5),   // accepted
                                    Reading("nope", kNow, 10),                      // unknown
                                    unknown_field, wrong_type,
                                    Reading("c1", kNow - absl::Minutes(4), 121),    // range
                                    Reading("c1", kNow + absl::Minutes(10), 10),    // future
                                    no_time,
                                    Reading("c1", kNow - absl::Minutes(1), 99),     // dup in batch
                                }));
  ASSERT_EQ(response.results_size(), 8);
  EXPECT_EQ(response.results(0).outcome(), v1::READING_OUTCOME_ACCEPTED);
  EXPECT_EQ(response.results(1).reason(), v1::REJECT_REASON_UNKNOWN_SOURCE);
  EXPECT_EQ(response.results(2).reason(), v1::REJECT_REASON_UNKNOWN_FIELD);
  EXPECT_EQ(response.results(2).field(), "temperatur");
  EXPECT_EQ(response.results(3).reason(), v1::REJECT_REASON_WRONG_TYPE);
  EXPECT_EQ(response.results(4).reason(), v1::REJECT_REASON_OUT_OF_RANGE);
  EXPECT_NE(response.results(4).message().find("120"), std::string::npos)
      << response.results(4).message();
  EXPECT_EQ(response.results(5).reason(), v1::REJECT_REASON_FUTURE_TIMESTAMP);
  EXPECT_EQ(response.results(6).reason(), v1::REJECT_REASON_MISSING_TIME);
  EXPECT_EQ(response.results(7).outcome(), v1::READING_OUTCOME_DUPLICATE);
  EXPECT_EQ(response.accepted(), 1);
  EXPECT_EQ(response.duplicates(), 1);
  EXPECT_EQ(response.rejected(), 6);

  const std::vector<v1::Reading> stored = All("avfall");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_DOUBLE_EQ(stored[0].values().at("fill_level").double_value(), 40.5)
      << "the first of two readings with the same (source, time) wins";
}

TEST_P(IngestionTest, AResentBatchChangesNothingAndSaysDuplicate) {
  auto batch = Batch({Reading("c1", kNow - absl::Minutes(2), 10),
                      Reading("c2", kNow - absl::Minutes(2), 20),
                      Reading("c1", kNow - absl::Minutes(1), 11)});
  EXPECT_EQ(Write(admin_, batch).accepted(), 3);
  const int64_t position = ingestion_->commits().last();
  auto again = Write(admin_, batch);
  EXPECT_EQ(again.accepted(), 0);
  EXPECT_EQ(again.duplicates(), 3);
  EXPECT_EQ(All("avfall").size(), 3u);
  EXPECT_EQ(ingestion_->commits().last(), position) << "a resend commits no new position";
}

TEST_P(IngestionTest, ABatchTouchingADatasetTheCallerMayNotWriteStoresNothing) {
  auto batch = Batch({Reading("c1", kNow, 10), Reading("p1", kNow, 20)});
  auth::Caller avfall_sensor = SensorCaller("avfall");
  auto refused = ingestion_->Write(&avfall_sensor, batch);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(All("avfall").empty());

  // A sensor's service account writes its own Beskyttet dataset without a second factor.
  auto sensor = SensorCaller("beskyttet");
  auto response = ingestion_->Write(&sensor, Batch({Reading("p1", kNow, 20)}));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->accepted(), 1);
  // A person with the same grant but no second factor does not.
  auth::Principal person = MakePrincipal("user:kari", {}, common::CLASSIFICATION_PROTECTED, false);
  person.roles.push_back({auth::Role::kIngestWriter, "beskyttet"});
  auth::Caller kari(person);
  EXPECT_EQ(ingestion_->Write(&kari, Batch({Reading("p1", kNow - absl::Seconds(1), 20)}))
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  auth::Caller anonymous;
  EXPECT_EQ(ingestion_->Write(&anonymous, Batch({Reading("c1", kNow, 1)})).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_P(IngestionTest, ARetiredDatasetTakesNoReadings) {
  directory_.Put(Schema("avfall", common::CLASSIFICATION_OPEN,
                        catalogue_v1::DATASET_STATE_RETIRED));
  auto response = Write(admin_, Batch({Reading("c1", kNow, 10)}));
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).reason(), v1::REJECT_REASON_DATASET_UNAVAILABLE);
}

TEST_P(IngestionTest, ACsvFileIsStoredRowByRowWithAnErrorReport) {
  v1::ImportOptions options;
  options.set_dataset("avfall");
  options.set_file_name("tømming.csv");
  options.set_delimiter(";");
  (*options.mutable_mapping())["Beholder"] = "source_id";
  (*options.mutable_mapping())["Tid"] = "time";
  (*options.mutable_mapping())["Fylling"] = "fill_level";
  const std::string csv =
      "Beholder;Tid;Fylling;fraction\n"
      "c1;2026-11-18T10:00:00Z;81,5;papir\n"
      "c2;2026-11-18T10:00:00Z;130;papir\n"        // out of range
      "c1;2026-11-18T10:05:00Z;full;papir\n"       // wrong type
      "ukjent;2026-11-18T10:05:00Z;12;plast\n"     // unknown source
      "c2;2026-11-18T10:05:00Z;12,25;plast\n";
  auto summary = Import(admin_, options, csv);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->totals().accepted(), 2);
  EXPECT_EQ(summary->totals().rejected(), 3);
  ASSERT_EQ(summary->errors_size(), 3);
  EXPECT_EQ(summary->errors(0).row(), 2);
  EXPECT_EQ(summary->errors(0).reason(), v1::REJECT_REASON_OUT_OF_RANGE);
  EXPECT_EQ(summary->errors(1).row(), 3);
  EXPECT_EQ(summary->errors(1).reason(), v1::REJECT_REASON_WRONG_TYPE);
  EXPECT_EQ(summary->errors(2).row(), 4);
  EXPECT_EQ(summary->errors(2).reason(), v1::REJECT_REASON_UNKNOWN_SOURCE);
  const std::vector<v1::Reading> stored = All("avfall");
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_DOUBLE_EQ(stored[0].values().at("fill_level").double_value(), 81.5);
  EXPECT_DOUBLE_EQ(stored[1].values().at("fill_level").double_value(), 12.25);

  // The same file again: all duplicates, nothing changes.
  auto again = Import(admin_, options, csv, 4096);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->totals().accepted(), 0);
  EXPECT_EQ(again->totals().duplicates(), 2);
  EXPECT_EQ(All("avfall").size(), 2u);
}

TEST_P(IngestionTest, ATruncatedFileKeepsTheGoodRowsBeforeTheFault) {
  v1::ImportOptions options;
  options.set_dataset("avfall");
  options.set_file_name("avfall.csv");
  const std::string csv =
      "source_id,time,fill_level,fraction\n"
      "c1,2026-11-18T10:00:00Z,10,papir\n"
      "c1,2026-11-18T10:05:00Z,11,papir\n"
      "c1,2026-11-18T10:10:00Z,12,\"pap";
  auto summary = Import(admin_, options, csv);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(All("avfall").size(), 2u) << "rows before the fault are stored";
}

TEST_P(IngestionTest, AFileForAnotherDatasetsSourceIsRejectedRowByRow) {
  v1::ImportOptions options;
  options.set_dataset("avfall");
  options.set_file_name("x.json");
  auto summary = Import(admin_, options,
                        R"([{"source_id":"p1","time":"2026-11-18T10:00:00Z","fill_level":1},)"
                        R"({"source_id":"c1","time":"2026-11-18T10:00:00Z","fill_level":2}])");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->totals().accepted(), 1);
  ASSERT_EQ(summary->errors_size(), 1);
  EXPECT_EQ(summary->errors(0).row(), 1);
  EXPECT_EQ(summary->errors(0).reason(), v1::REJECT_REASON_NOT_ALLOWED);
  EXPECT_TRUE(All("beskyttet").empty());
}

TEST_P(IngestionTest, QueriesPageAggregateAndReturnTheLatest) {
  google::protobuf::RepeatedPtrField<v1::Reading> batch;
  const absl::Time start = kNow - absl::Hours(1);
  for (int i = 0; i < 60; ++i) {
    *batch.Add() = Reading("c1", start + absl::Minutes(i), i);
    *batch.Add() = Reading("c2", start + absl::Minutes(i), 100 - i);
  }
  ASSERT_EQ(Write(admin_, batch).accepted(), 120);

  v1::QueryReadingsRequest query;
  query.set_dataset("avfall");
  query.set_page_size(50);
  std::vector<v1::Reading> paged;
  do {
    auto page = ingestion_->QueryReadings(admin_, query);
    ASSERT_TRUE(page.ok()) << page.status();
    paged.insert(paged.end(), page->readings().begin(), page->readings().end());
    query.set_page_token(page->next_page_token());
  } while (!query.page_token().empty());
  ASSERT_EQ(paged.size(), 120u);
  for (size_t i = 1; i < paged.size(); ++i) {
    EXPECT_LE(TimeUtil::TimestampToMicroseconds(paged[i - 1].time()),
              TimeUtil::TimestampToMicroseconds(paged[i].time()));
  }

  v1::AggregateReadingsRequest aggregate;
  aggregate.set_source_id("c1");
  aggregate.set_field("fill_level");
  *aggregate.mutable_start_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(start));
  *aggregate.mutable_window() = TimeUtil::SecondsToDuration(600);
  auto windows = ingestion_->AggregateReadings(admin_, aggregate);
  ASSERT_TRUE(windows.ok()) << windows.status();
  ASSERT_EQ(windows->windows_size(), 6);
  EXPECT_EQ(windows->windows(0).count(), 10);
  EXPECT_DOUBLE_EQ(windows->windows(0).min(), 0);
  EXPECT_DOUBLE_EQ(windows->windows(0).max(), 9);
  EXPECT_DOUBLE_EQ(windows->windows(0).mean(), 4.5);
  EXPECT_DOUBLE_EQ(windows->windows(5).last(), 59);
  // c1 rises: each window's lowest value is its first minute, its highest its last.
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(windows->windows(1).min_time()),
            absl::ToUnixMicros(start + absl::Minutes(10)));
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(windows->windows(1).max_time()),
            absl::ToUnixMicros(start + absl::Minutes(19)));
  aggregate.set_page_size(4);
  auto first = ingestion_->AggregateReadings(admin_, aggregate);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->windows_size(), 4);
  aggregate.set_page_token(first->next_page_token());
  auto second = ingestion_->AggregateReadings(admin_, aggregate);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->windows_size(), 2);
  EXPECT_DOUBLE_EQ(second->windows(1).mean(), 54.5);
  aggregate.clear_page_token();
  // Without a start: the last 24 hours, windows aligned to the epoch.
  v1::AggregateReadingsRequest recent = aggregate;
  recent.clear_start_time();
  recent.clear_page_size();
  *recent.mutable_window() = TimeUtil::SecondsToDuration(3600);
  auto hourly = ingestion_->AggregateReadings(admin_, recent);
  ASSERT_TRUE(hourly.ok()) << hourly.status();
  int64_t counted = 0;
  for (const auto& w : hourly->windows()) {
    EXPECT_EQ(w.window_start().seconds() % 3600, 0);
    counted += w.count();
  }
  EXPECT_EQ(counted, 60);
  aggregate.set_field("fraction");
  EXPECT_EQ(ingestion_->AggregateReadings(admin_, aggregate).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::GetLatestReadingsRequest latest;
  latest.set_dataset("avfall");
  auto last = ingestion_->GetLatestReadings(admin_, latest);
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_EQ(last->readings_size(), 2);
  EXPECT_DOUBLE_EQ(last->readings(0).values().at("fill_level").double_value(), 59);
  EXPECT_DOUBLE_EQ(last->readings(1).values().at("fill_level").double_value(), 41);
}

TEST_P(IngestionTest, ReadsFollowTheDatasetsClass) {
  auto sensor = SensorCaller("beskyttet");
  ASSERT_TRUE(ingestion_->Write(&sensor, Batch({Reading("p1", kNow, 20)})).ok());
  auth::Caller intern_reader =
      MakeCaller("user:r", {"reader"}, common::CLASSIFICATION_INTERNAL, true);
  v1::QueryReadingsRequest query;
  query.set_dataset("beskyttet");
  EXPECT_EQ(ingestion_->QueryReadings(intern_reader, query).status().code(),
            absl::StatusCode::kPermissionDenied);
  auth::Caller anonymous;
  query.set_dataset("avfall");
  EXPECT_TRUE(ingestion_->QueryReadings(anonymous, query).ok()) << "Åpen data is open to all";
  query.set_dataset("beskyttet");
  EXPECT_EQ(ingestion_->QueryReadings(anonymous, query).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_P(IngestionTest, TheFeedHandOverResumesFromAPositionAndSeesOnlyWhatItMayRead) {
  auto sensor = SensorCaller("beskyttet");
  ASSERT_EQ(Write(admin_, Batch({Reading("c1", kNow - absl::Minutes(3), 1)})).accepted(), 1);
  ASSERT_TRUE(ingestion_->Write(&sensor, Batch({Reading("p1", kNow, 2)})).ok());
  ASSERT_EQ(Write(admin_, Batch({Reading("c2", kNow - absl::Minutes(2), 3)})).accepted(), 1);

  auto all = ingestion_->ReadAfter(admin_, 0, {}, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->readings.size(), 3u);
  EXPECT_LT(all->readings[0].position(), all->readings[1].position());
  EXPECT_EQ(all->readings[1].dataset(), "beskyttet");
  EXPECT_EQ(all->readings[1].classification(), common::CLASSIFICATION_PROTECTED);

  auth::Caller anonymous;
  auto open = ingestion_->ReadAfter(anonymous, 0, {}, 100);
  ASSERT_TRUE(open.ok()) << open.status();
  ASSERT_EQ(open->readings.size(), 2u) << "the Beskyttet reading is not handed to anonymous";
  EXPECT_EQ(open->last_position, all->last_position);

  // Resume after the first: exactly the rest.
  auto rest = ingestion_->ReadAfter(admin_, all->readings[0].position(), {}, 100);
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(rest->readings.size(), 2u);
  auto only = ingestion_->ReadAfter(admin_, 0, {"avfall"}, 100);
  ASSERT_TRUE(only.ok()) << only.status();
  EXPECT_EQ(only->readings.size(), 2u);
  EXPECT_EQ(ingestion_->commits().last(), all->last_position);
}

TEST_P(IngestionTest, DataQualityCountsGapsLateReadingsAndRejections) {
  const absl::Time start = kNow - absl::Hours(1);
  clock_.Set(start - absl::Minutes(1));
  Register("q1", "avfall", absl::Minutes(10));
  // Every 10 minutes for the first 30 minutes, then silence; sent in one go at start+31m.
  clock_.Set(start + absl::Minutes(31));
  google::protobuf::RepeatedPtrField<v1::Reading> batch;
  for (int i = 0; i < 4; ++i) *batch.Add() = Reading("q1", start + absl::Minutes(10 * i), i);
  *batch.Add() = Reading("q1", start, 99);                          // duplicate
  *batch.Add() = Reading("q1", start + absl::Minutes(1), 500);      // out of range
  Write(admin_, batch);
  clock_.Set(kNow);
  v1::GetDataQualityRequest request;
  request.set_dataset("avfall");
  *request.mutable_start_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(start));
  *request.mutable_end_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(kNow));
  auto quality = ingestion_->GetDataQuality(admin_, request);
  ASSERT_TRUE(quality.ok()) << quality.status();
  const v1::SourceQuality* q1 = nullptr;
  for (const auto& q : quality->sources()) {
    if (q.source_id() == "q1") q1 = &q;
  }
  ASSERT_NE(q1, nullptr);
  EXPECT_EQ(q1->readings(), 4);
  EXPECT_EQ(q1->duplicates(), 1);
  EXPECT_EQ(q1->rejected(), 1);
  EXPECT_EQ(q1->late(), 3) << "31, 21 and 11 minutes old on arrival, against a 10-minute interval";
  // Last reading at start+30m, period ends at start+60m: 2 intervals missing (40, 50).
  EXPECT_EQ(q1->missing_intervals(), 2);
  EXPECT_EQ(TimeUtil::DurationToSeconds(q1->longest_gap()), 30 * 60);
}

double GaugeValue(prometheus::Registry& registry, const std::string& name,
                  const std::string& dataset) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "dataset" && label.value == dataset) return metric.gauge.value;
      }
    }
  }
  return -1;
}

TEST_P(IngestionTest, QualityGaugesShowSilentSourcesAndMissingIntervals) {
  prometheus::Registry registry;
  Ingestion ingestion(store_.get(), &directory_, &clock_, &registry);
  clock_.Set(kNow - absl::Hours(2));
  Register("g1", "avfall", absl::Minutes(10));
  Register("g2", "avfall", absl::Minutes(10));
  clock_.Set(kNow);
  // g1 reported all along the last hour; g2 stopped 40 minutes ago.
  google::protobuf::RepeatedPtrField<v1::Reading> batch;
  for (int m = 0; m <= 60; m += 10) *batch.Add() = Reading("g1", kNow - absl::Minutes(m), 1);
  for (int m = 40; m <= 60; m += 10) *batch.Add() = Reading("g2", kNow - absl::Minutes(m), 1);
  ASSERT_EQ(Write(admin_, batch).accepted(), 10);
  ASSERT_TRUE(ingestion.RefreshQualityMetrics().ok());
  EXPECT_EQ(GaugeValue(registry, "smartby_ingestion_silent_sources", "avfall"), 1);
  EXPECT_EQ(GaugeValue(registry, "smartby_ingestion_missing_intervals", "avfall"), 3)
      << "g2's readings at -30, -20 and -10 minutes did not come";
}

TEST_P(IngestionTest, MqttMessagesTakeTheSameValidationPath) {
  EXPECT_TRUE(ingestion_
                  ->HandleMqttMessage("smartby/readings/avfall/c1",
                                      R"({"time":"2026-11-18T09:00:00Z","fill_level":33.5})")
                  .ok());
  EXPECT_TRUE(ingestion_
                  ->HandleMqttMessage("smartby/readings/avfall/c2",
                                      R"([{"time":"2026-11-18T09:00:00Z","fill_level":1},)"
                                      R"({"time":"2026-11-18T09:01:00Z","fill_level":700}])")
                  .ok())
      << "a rejected reading is handled for good, not redelivered";
  // A source of another dataset on this dataset's topic is not stored.
  EXPECT_TRUE(ingestion_
                  ->HandleMqttMessage("smartby/readings/avfall/p1",
                                      R"({"time":"2026-11-18T09:00:00Z","fill_level":1})")
                  .ok());
  EXPECT_TRUE(ingestion_->HandleMqttMessage("other/topic", "{}").ok());
  // The topic names the source: a payload may not speak for another one.
  EXPECT_TRUE(ingestion_
                  ->HandleMqttMessage(
                      "smartby/readings/avfall/c1",
                      R"({"source_id":"c2","time":"2026-11-18T09:30:00Z","fill_level":5})")
                  .ok());
  const std::vector<v1::Reading> stored = All("avfall");
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_TRUE(All("beskyttet").empty());
}

TEST_P(IngestionTest, RetentionDeletesOnlyExpiredReadings) {
  google::protobuf::RepeatedPtrField<v1::Reading> batch;
  for (int i = 0; i < 50; ++i) *batch.Add() = Reading("c1", kNow - absl::Hours(i), 1);
  ASSERT_EQ(Write(admin_, batch).accepted(), 50);
  v1::RetentionPolicy policy;
  policy.set_dataset("avfall");
  *policy.mutable_keep() = TimeUtil::SecondsToDuration(60);
  EXPECT_EQ(ingestion_->SetRetention(admin_, policy).status().code(),
            absl::StatusCode::kInvalidArgument);
  *policy.mutable_keep() = TimeUtil::SecondsToDuration(24 * 3600);
  ASSERT_TRUE(ingestion_->SetRetention(admin_, policy).ok());
  EXPECT_EQ(ingestion_->SetRetention(SensorCaller("avfall"), policy).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto deleted = ingestion_->ApplyRetention(/*chunk=*/7);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 25) << "readings 25 to 49 hours old";
  EXPECT_EQ(All("avfall").size(), 25u);
  auto got = ingestion_->GetRetention(admin_, "avfall");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(TimeUtil::DurationToSeconds(got->keep()), 24 * 3600);
}

// --- Aggregates through rollups against the readings.

class RollupAggregateTest : public IngestionTest {
 protected:
  void SetUp() override {
    IngestionTest::SetUp();
    IngestionOptions raw;
    raw.aggregate_from_rollups = false;
    from_readings_ = std::make_unique<Ingestion>(store_.get(), &directory_, &clock_, nullptr, raw);
  }

  // Every page of `request`, concatenated; the page tokens are compared too.
  static absl::StatusOr<std::vector<v1::AggregateReadingsResponse>> AllPages(
      Ingestion& ingestion, v1::AggregateReadingsRequest request) {
    std::vector<v1::AggregateReadingsResponse> pages;
    do {
      auto page = ingestion.AggregateReadings(AdminCaller(), request);
      if (!page.ok()) return page.status();
      pages.push_back(*page);
      request.set_page_token(page->next_page_token());
    } while (!request.page_token().empty() && pages.size() < 1000);
    return pages;
  }

  // The windows through rollups and from the readings alone are the same, field for field.
  // `exact_mean` false: the mean may differ in the last bits (a different summation order:
// measured up to 5 ULPs over windows of ~200 readings).
  void ExpectSameAsReadings(const v1::AggregateReadingsRequest& request, bool exact_mean = true) {
    SCOPED_TRACE(request.ShortDebugString());
    auto through_rollups = AllPages(*ingestion_, request);
    auto from_readings = AllPages(*from_readings_, request);
    ASSERT_TRUE(through_rollups.ok()) << through_rollups.status();
    ASSERT_TRUE(from_readings.ok()) << from_readings.status();
    std::vector<v1::Aggregate> got, want;
    for (const auto& page : *through_rollups) {
      got.insert(got.end(), page.windows().begin(), page.windows().end());
    }
    for (const auto& page : *from_readings) {
      want.insert(want.end(), page.windows().begin(), page.windows().end());
    }
    ASSERT_EQ(got.size(), want.size());
    ASSERT_FALSE(want.empty()) << "the request must cover readings to mean anything";
    for (size_t i = 0; i < got.size(); ++i) {
      if (!exact_mean) {
        EXPECT_NEAR(got[i].mean(), want[i].mean(), 1e-12 * std::abs(want[i].mean()))
            << "window " << i;
        got[i].clear_mean();
        want[i].clear_mean();
      }
      EXPECT_EQ(got[i].ShortDebugString(), want[i].ShortDebugString()) << "window " << i;
    }
  }

  v1::AggregateReadingsRequest Request(const std::string& field, absl::Time start, absl::Time end,
                                       absl::Duration window) {
    v1::AggregateReadingsRequest request;
    request.set_dataset("avfall");
    request.set_field(field);
    *request.mutable_start_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(start));
    *request.mutable_end_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(end));
    *request.mutable_window() =
        TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(window));
    return request;
  }

  // Three days of readings of c1 and c2 at random times (many at the same time in both), with
  // fill_level a random multiple of 1/8 (sums of those are exact in any order) or, with
  // `any_double`, any double in range; and count a random integer.
  void WriteRandomReadings(uint32_t seed, bool any_double = false) {
    std::mt19937 random(seed);
    google::protobuf::RepeatedPtrField<v1::Reading> batch;
    for (const char* source : {"c1", "c2"}) {
      std::mt19937 times(seed);  // the same times for both sources
      for (int i = 0; i < 3000; ++i) {
        const absl::Time time = kNow - absl::Seconds(times() % (3 * 86400));
        const double fill = any_double ? std::uniform_real_distribution<double>(0, 120)(random)
                                       : static_cast<double>(random() % 961) / 8;
        v1::Reading reading = Reading(source, time, fill);
        (*reading.mutable_values())["count"].set_integer_value(random() % 1000 - 500);
        *batch.Add() = std::move(reading);
      }
    }
    v1::WriteReadingsResponse written = Write(admin_, batch);
    ASSERT_GT(written.accepted(), 5000);  // the rest are repeated times, duplicates
  }

  int64_t Watermark(const std::string& source) {
    auto got = store_->RollupWatermarks({source});
    return got.ok() && got->contains(source) ? got->at(source) : -1;
  }

  std::unique_ptr<Ingestion> from_readings_;
};

const absl::Time kAligned = absl::FromUnixSeconds(1795000000 / 300 * 300);  // a bucket start

TEST_P(RollupAggregateTest, ThroughRollupsEqualsTheReadingsForBothFieldTypes) {
  WriteRandomReadings(7);
  // Stored readings lowered the watermark to the first one's bucket: nothing rolled up yet.
  EXPECT_LE(Watermark("c1"), absl::ToUnixMicros(kNow - absl::Hours(72)));
  const absl::Time start = kAligned - absl::Hours(80);
  for (const char* field : {"fill_level", "count"}) {
    for (absl::Duration window : {absl::Minutes(5), absl::Minutes(25), absl::Hours(1)}) {
      ExpectSameAsReadings(Request(field, start, kNow, window));
    }
  }
  EXPECT_EQ(Watermark("c1"), absl::ToUnixMicros(kAligned)) << "the first query rolled up";
  EXPECT_EQ(Watermark("c2"), absl::ToUnixMicros(kAligned));
  // One source, several pages, an end inside a bucket.
  v1::AggregateReadingsRequest paged = Request(
      "fill_level", start, kAligned - absl::Hours(3) + absl::Seconds(77), absl::Minutes(10));
  paged.set_page_size(13);
  paged.set_source_id("c2");
  paged.clear_dataset();
  ExpectSameAsReadings(paged);
}

TEST_P(RollupAggregateTest, LateReadingsAndRetentionKeepTheRollupsExact) {
  WriteRandomReadings(11);
  const v1::AggregateReadingsRequest request =
      Request("fill_level", kAligned - absl::Hours(80), kNow, absl::Minutes(15));
  ExpectSameAsReadings(request);

  // A late reading two days back: its bucket is stale and, being more than an hour behind,
  // refreshed by the next query.
  const absl::Time late = kNow - absl::Hours(48) - absl::Seconds(13);
  ASSERT_EQ(Write(admin_, Batch({Reading("c1", late, 119.875)})).accepted(), 1);
  EXPECT_LT(Watermark("c1"), absl::ToUnixMicros(late));
  ExpectSameAsReadings(request);
  EXPECT_EQ(Watermark("c1"), absl::ToUnixMicros(kAligned));

  // One 20 minutes back is read from the readings (too little to refresh for).
  const absl::Time recent = kNow - absl::Minutes(20) - absl::Seconds(3);
  ASSERT_EQ(Write(admin_, Batch({Reading("c2", recent, 0.125)})).accepted(), 1);
  ExpectSameAsReadings(request);
  EXPECT_LT(Watermark("c2"), absl::ToUnixMicros(recent)) << "not refreshed";

  v1::RetentionPolicy policy;
  policy.set_dataset("avfall");
  *policy.mutable_keep() = TimeUtil::SecondsToDuration(36 * 3600 + 7);
  ASSERT_TRUE(ingestion_->SetRetention(admin_, policy).ok());
  auto deleted = ingestion_->ApplyRetention(/*chunk=*/500);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_GT(*deleted, 1000);
  ExpectSameAsReadings(request);
  EXPECT_EQ(Watermark("c1"), absl::ToUnixMicros(kAligned)) << "an aligned cutoff: nothing stale";
}

TEST_P(RollupAggregateTest, UnalignedRequestsAreAnsweredFromTheReadings) {
  WriteRandomReadings(3);
  const int64_t before = Watermark("c1");
  ExpectSameAsReadings(
      Request("fill_level", kAligned - absl::Hours(70) + absl::Seconds(1), kNow, absl::Hours(1)));
  ExpectSameAsReadings(Request("count", kAligned - absl::Hours(70), kNow, absl::Seconds(450)));
  EXPECT_EQ(Watermark("c1"), before) << "neither could use rollups, so none were made";
}

TEST_P(RollupAggregateTest, AnyDoublesDifferAtMostInTheMeansLastBits) {
  WriteRandomReadings(5, /*any_double=*/true);
  ExpectSameAsReadings(Request("fill_level", kAligned - absl::Hours(80), kNow, absl::Hours(2)),
                       /*exact_mean=*/false);
}

INSTANTIATE_TEST_SUITE_P(Engines, RollupAggregateTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

INSTANTIATE_TEST_SUITE_P(Engines, IngestionTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

}  // namespace
}  // namespace smartby::ingestion
