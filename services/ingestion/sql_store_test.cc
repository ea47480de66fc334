// The ingestion store's contract (store.h), on every engine under test.
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/ingestion/store.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::ingestion {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

constexpr int64_t kT0 = 1'700'000'000'000'000;  // 2023-11-14, in microseconds
constexpr int64_t kSecond = 1'000'000;

v1::Source MakeSource(const std::string& id, const std::string& dataset, bool disabled = false) {
  v1::Source s;
  s.set_id(id);
  s.set_dataset(dataset);
  s.set_name(absl::StrCat("Sensor ", id));
  s.set_disabled(disabled);
  s.set_version(1);
  return s;
}

NewReading At(const std::string& source, int64_t time_us, std::string values = "") {
  if (values.empty()) values = absl::StrCat("{\"level\":", time_us % 1000, "}");
  return NewReading{source, time_us, std::move(values)};
}

std::vector<std::string> SourceIds(const std::vector<v1::Source>& sources) {
  std::vector<std::string> ids;
  for (const v1::Source& s : sources) ids.push_back(s.id());
  return ids;
}

// (time offset in seconds from kT0, source id) of each reading.
std::vector<std::pair<int64_t, std::string>> TimesAndSources(
    const std::vector<StoredReading>& readings) {
  std::vector<std::pair<int64_t, std::string>> out;
  for (const StoredReading& r : readings) out.emplace_back((r.time_us - kT0) / kSecond, r.source_id);
  return out;
}

std::vector<int64_t> Positions(const std::vector<StoredReading>& readings) {
  std::vector<int64_t> out;
  for (const StoredReading& r : readings) out.push_back(r.position);
  return out;
}

class IngestionStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlIngestionStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void Create(const std::string& id, const std::string& dataset, bool disabled = false) {
    absl::Status status = store_->CreateSource(MakeSource(id, dataset, disabled));
    ASSERT_TRUE(status.ok()) << status;
  }

  AppendResult Append(const std::vector<NewReading>& readings,
                      const absl::flat_hash_map<std::string, SourceCounters>& counters = {}) {
    auto result = store_->AppendReadings(readings, kT0 + 3600 * kSecond, counters);
    EXPECT_TRUE(result.ok()) << result.status();
    if (result.ok()) return *std::move(result);
    // Sized as a success would be, so that a failing test reports rather than crashes.
    AppendResult none;
    none.inserted.assign(readings.size(), false);
    none.positions.assign(readings.size(), 0);
    return none;
  }

  std::vector<StoredReading> All() {
    auto all = store_->ReadAfter(0, 1'000'000, {});
    EXPECT_TRUE(all.ok()) << all.status();
    return all.ok() ? *std::move(all) : std::vector<StoredReading>{};
  }

  std::vector<StoredReading> Range(RangeQuery query) {
    auto got = store_->ReadRange(query);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *std::move(got) : std::vector<StoredReading>{};
  }

  int64_t Last() {
    auto last = store_->LastPosition();
    EXPECT_TRUE(last.ok()) << last.status();
    return last.ok() ? *last : -1;
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<IngestionStore> store_;
};

// --- Sources.

TEST_P(IngestionStoreTest, CreatedSourceReadsBackUnchanged) {
  v1::Source s = MakeSource("container-0412", "avfallsbeholdere");
  s.mutable_position()->set_latitude(58.97);
  s.mutable_position()->set_longitude(5.73);
  (*s.mutable_metadata())["manufacturer"] = "Sensoterra";
  (*s.mutable_metadata())["note"] = "Storgata 12, \"bak\" porten\\";
  s.mutable_expected_interval()->set_seconds(900);
  s.mutable_create_time()->set_seconds(1700000000);
  s.set_classification(smartcity::common::v1::CLASSIFICATION_INTERNAL);
  ASSERT_TRUE(store_->CreateSource(s).ok());

  auto got = store_->GetSource("container-0412");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*got, s)) << got->DebugString();
}

TEST_P(IngestionStoreTest, MissingSourceIsNotFoundNamingIt) {
  absl::Status status = store_->GetSource("nothing-here").status();
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("nothing-here"));
}

TEST_P(IngestionStoreTest, DuplicateCreateIsAlreadyExistsAndKeepsTheFirst) {
  Create("bad-1", "badetemperatur");
  v1::Source again = MakeSource("bad-1", "badetemperatur");
  again.set_name("Noe annet");
  absl::Status status = store_->CreateSource(again);
  EXPECT_TRUE(absl::IsAlreadyExists(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad-1"));
  EXPECT_EQ(store_->GetSource("bad-1")->name(), "Sensor bad-1");
}

TEST_P(IngestionStoreTest, GetSourcesReturnsThoseThatExist) {
  Create("a", "d1");
  Create("b", "d2");
  auto got = store_->GetSources(std::vector<std::string>{"a", "missing", "b", "a"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 2u);
  EXPECT_EQ(got->at("a").dataset(), "d1");
  EXPECT_EQ(got->at("b").dataset(), "d2");
  EXPECT_THAT(*store_->GetSources({}), IsEmpty());
}

TEST_P(IngestionStoreTest, ListSourcesPagesInIdOrder) {
  for (const char* id : {"e", "b", "d", "a", "c"}) Create(id, "d1");
  SourceListQuery query;
  query.limit = 2;
  std::vector<std::string> pages;
  for (int page = 0; page < 4; ++page) {
    auto got = store_->ListSources(query);
    ASSERT_TRUE(got.ok()) << got.status();
    pages.push_back(absl::StrJoin(SourceIds(*got), ","));
    if (got->empty()) break;
    query.after_id = got->back().id();
  }
  EXPECT_THAT(pages, ElementsAre("a,b", "c,d", "e", ""));
}

TEST_P(IngestionStoreTest, ListSourcesFiltersByDatasets) {
  Create("a", "luft");
  Create("b", "bad");
  Create("c", "luft");
  Create("d", "avfall");
  SourceListQuery query;
  query.datasets = {"luft"};
  EXPECT_THAT(SourceIds(*store_->ListSources(query)), ElementsAre("a", "c"));
  query.datasets = {"avfall", "bad"};
  EXPECT_THAT(SourceIds(*store_->ListSources(query)), ElementsAre("b", "d"));
  query.datasets = {"ingen"};
  EXPECT_THAT(SourceIds(*store_->ListSources(query)), IsEmpty());
}

TEST_P(IngestionStoreTest, ListSourcesSkipsDisabledUnlessAsked) {
  Create("a", "luft");
  Create("b", "luft", /*disabled=*/true);
  Create("c", "luft");
  SourceListQuery query;
  EXPECT_THAT(SourceIds(*store_->ListSources(query)), ElementsAre("a", "c"));
  query.include_disabled = true;
  EXPECT_THAT(SourceIds(*store_->ListSources(query)), ElementsAre("a", "b", "c"));
}

TEST_P(IngestionStoreTest, ListSourcesRefusesANonPositiveLimit) {
  SourceListQuery query;
  query.limit = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(store_->ListSources(query).status()));
}

TEST_P(IngestionStoreTest, UpdateWithExpectedVersionReplacesTheSource) {
  Create("a", "luft");
  v1::Source next = MakeSource("a", "luft", /*disabled=*/true);
  next.set_name("Ny plassering");
  next.set_version(2);
  ASSERT_TRUE(store_->UpdateSource(next, 1).ok());
  auto got = store_->GetSource("a");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*got, next)) << got->DebugString();
  // The disabled column follows the stored source.
  EXPECT_THAT(SourceIds(*store_->ListSources({})), IsEmpty());
}

TEST_P(IngestionStoreTest, UpdateWithStaleVersionIsAbortedAndChangesNothing) {
  Create("a", "luft");
  v1::Source second = MakeSource("a", "luft");
  second.set_name("Andre");
  second.set_version(2);
  ASSERT_TRUE(store_->UpdateSource(second, 1).ok());

  v1::Source stale = MakeSource("a", "luft");
  stale.set_name("Basert på versjon 1");
  stale.set_version(2);
  absl::Status status = store_->UpdateSource(stale, 1);
  EXPECT_TRUE(absl::IsAborted(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("source a"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("now version 2"));
  EXPECT_EQ(store_->GetSource("a")->name(), "Andre");
}

TEST_P(IngestionStoreTest, UpdateOfMissingSourceIsNotFound) {
  absl::Status status = store_->UpdateSource(MakeSource("ghost", "luft"), 1);
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("ghost"));
}

TEST_P(IngestionStoreTest, UpdateCannotMoveASourceToAnotherDataset) {
  Create("a", "luft");
  v1::Source moved = MakeSource("a", "bad");
  moved.set_version(2);
  EXPECT_TRUE(absl::IsInvalidArgument(store_->UpdateSource(moved, 1)));
  EXPECT_EQ(store_->GetSource("a")->dataset(), "luft");
}

// --- Appends.

TEST_P(IngestionStoreTest, AppendStoresNewReadingsAndFlagsDuplicates) {
  Create("a", "luft");
  Create("b", "luft");
  AppendResult first = Append({At("a", kT0), At("b", kT0), At("a", kT0 + kSecond)});
  EXPECT_THAT(first.inserted, ElementsAre(true, true, true));

  // Already stored (a@0), new (b@1), the same new reading twice in one batch (a@2).
  AppendResult second = Append({At("a", kT0, "{\"level\":99}"), At("b", kT0 + kSecond),
                                At("a", kT0 + 2 * kSecond, "{\"first\":1}"),
                                At("a", kT0 + 2 * kSecond, "{\"second\":2}")});
  ASSERT_THAT(second.inserted, ElementsAre(false, true, true, false));
  EXPECT_EQ(second.positions[0], 0);
  EXPECT_EQ(second.positions[3], 0);
  EXPECT_GT(second.positions[1], 0);
  EXPECT_GT(second.positions[2], 0);

  const std::vector<StoredReading> all = All();
  ASSERT_EQ(all.size(), 5u);
  // Nothing changed by the duplicates: a@0 keeps its values, a@2 is the first of the batch.
  EXPECT_EQ(all[0].source_id, "a");
  EXPECT_EQ(all[0].values, At("a", kT0).values);
  EXPECT_EQ(all[4].values, "{\"first\":1}");
  EXPECT_EQ(all[4].dataset, "luft");
  EXPECT_EQ(all[4].accept_us, kT0 + 3600 * kSecond);
  // The positions reported are the ones stored.
  EXPECT_EQ(all[3].position, second.positions[1]);
  EXPECT_EQ(all[4].position, second.positions[2]);
}

TEST_P(IngestionStoreTest, ResendingABatchStoresNothingTwice) {
  Create("a", "luft");
  std::vector<NewReading> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(At("a", kT0 + i * kSecond));
  AppendResult first = Append(batch);
  EXPECT_EQ(std::count(first.inserted.begin(), first.inserted.end(), true), 50);
  const int64_t last = Last();

  AppendResult again = Append(batch);
  EXPECT_EQ(std::count(again.inserted.begin(), again.inserted.end(), true), 0);
  EXPECT_EQ(std::count(again.positions.begin(), again.positions.end(), 0), 50);
  EXPECT_EQ(All().size(), 50u);
  EXPECT_EQ(Last(), last);
}

// A long run of one source's readings (a file import) with duplicates of stored readings and
// within the batch scattered through it.
TEST_P(IngestionStoreTest, DuplicatesInALongRunOfOneSourceAreFlagged) {
  Create("a", "luft");
  Append({At("a", kT0 + 7 * kSecond), At("a", kT0 + 61 * kSecond)});
  std::vector<NewReading> batch;
  std::vector<bool> expected;
  for (int i = 0; i < 130; ++i) {
    batch.push_back(At("a", kT0 + i * kSecond));
    expected.push_back(i != 7 && i != 61);
    if (i % 40 == 5) {  // the same reading again, right after
      batch.push_back(At("a", kT0 + i * kSecond, "{\"again\":1}"));
      expected.push_back(false);
    }
  }
  AppendResult result = Append(batch);
  EXPECT_EQ(result.inserted, expected);
  int64_t previous = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!result.inserted[i]) {
      EXPECT_EQ(result.positions[i], 0) << i;
      continue;
    }
    EXPECT_GT(result.positions[i], previous) << i;
    previous = result.positions[i];
  }
  EXPECT_EQ(Last(), previous);
  const std::vector<StoredReading> all = All();
  ASSERT_EQ(all.size(), 130u);
  // Every reported position holds the reading reported there.
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!result.inserted[i]) continue;
    auto it = std::find_if(all.begin(), all.end(), [&](const StoredReading& r) {
      return r.position == result.positions[i];
    });
    ASSERT_NE(it, all.end()) << i;
    EXPECT_EQ(it->time_us, batch[i].time_us);
    EXPECT_EQ(it->values, batch[i].values);
  }
}

TEST_P(IngestionStoreTest, ValuesRoundTripExactly) {
  Create("a", "luft");
  const std::vector<std::string> values = {
      "{\"s\":\"with \\\"quotes\\\" and \\\\ backslash\"}", "{a,b}", "NULL", " spaced ",
      "\"", "\\", "Ålesund ø æ ß 🌊", "tab\there\nnewline", "'single'"};
  std::vector<NewReading> batch;
  for (size_t i = 0; i < values.size(); ++i) batch.push_back(At("a", kT0 + i, values[i]));
  Append(batch);
  const std::vector<StoredReading> all = All();
  ASSERT_EQ(all.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(all[i].values, values[i]) << i;
}

TEST_P(IngestionStoreTest, ValuesThatAreNotTextAreRefused) {
  Create("a", "luft");
  auto with_nul = store_->AppendReadings({At("a", kT0, std::string("a\0b", 3))}, kT0, {});
  EXPECT_TRUE(absl::IsInvalidArgument(with_nul.status())) << with_nul.status();
  auto bad_utf8 = store_->AppendReadings({At("a", kT0, "\xff\xfe")}, kT0, {});
  EXPECT_TRUE(absl::IsInvalidArgument(bad_utf8.status())) << bad_utf8.status();
  EXPECT_THAT(All(), IsEmpty());
}

TEST_P(IngestionStoreTest, UnknownSourceFailsTheWholeBatch) {
  Create("a", "luft");
  absl::flat_hash_map<std::string, SourceCounters> counters = {{"a", {2, 0, 0, 0}}};
  auto result = store_->AppendReadings(
      {At("a", kT0), At("ghost", kT0), At("a", kT0 + kSecond)}, kT0, counters);
  EXPECT_TRUE(absl::IsNotFound(result.status())) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("ghost"));
  EXPECT_THAT(All(), IsEmpty());
  EXPECT_EQ(Last(), 0);
  EXPECT_EQ(store_->GetCounters(std::vector<std::string>{"a"})->at("a").accepted, 0);
}

TEST_P(IngestionStoreTest, PositionsIncreaseStrictlyInCommitOrder) {
  Create("a", "luft");
  Create("b", "bad");
  std::vector<int64_t> positions;
  for (int batch = 0; batch < 5; ++batch) {
    std::vector<NewReading> readings;
    // Times deliberately out of order within and across batches.
    for (int i = 0; i < 10; ++i) {
      readings.push_back(At(i % 2 ? "a" : "b", kT0 + (10 - batch) * 100 * kSecond - i * kSecond));
    }
    AppendResult result = Append(readings);
    for (int64_t p : result.positions) positions.push_back(p);
  }
  ASSERT_EQ(positions.size(), 50u);
  EXPECT_GT(positions[0], 0);
  for (size_t i = 1; i < positions.size(); ++i) EXPECT_GT(positions[i], positions[i - 1]) << i;
  EXPECT_EQ(Last(), positions.back());
  EXPECT_EQ(Positions(All()), positions);
}

TEST_P(IngestionStoreTest, PositionsAreNeverReusedAfterTheNewestReadingsAreDeleted) {
  Create("a", "luft");
  Append({At("a", kT0), At("a", kT0 + kSecond), At("a", kT0 + 2 * kSecond)});
  const int64_t newest = Last();
  ASSERT_GT(newest, 0);
  // Retention removes everything, the newest position included.
  auto deleted = store_->DeleteReadingsBefore("luft", kT0 + 10 * kSecond, 100);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 3);
  EXPECT_THAT(All(), IsEmpty());
  EXPECT_EQ(Last(), newest);

  AppendResult next = Append({At("a", kT0 + 20 * kSecond)});
  ASSERT_THAT(next.inserted, ElementsAre(true));
  EXPECT_GT(next.positions[0], newest);
  EXPECT_EQ(Last(), next.positions[0]);
}

TEST_P(IngestionStoreTest, LastPositionIsZeroWhenNothingWasStored) { EXPECT_EQ(Last(), 0); }

// A feed reader polling ReadAfter while several writers append must receive every reading, each
// once, in increasing positions: no reading may commit behind a position already handed out.
TEST_P(IngestionStoreTest, ConcurrentAppendsReachAPollingReaderInPositionOrder) {
  constexpr int kWriters = 4, kBatches = 25, kPerBatch = 20;
  for (int w = 0; w < kWriters; ++w) Create(absl::StrCat("w", w), "luft");
  std::atomic<int> writers_done{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<NewReading> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          batch.push_back(At(absl::StrCat("w", w), kT0 + (b * kPerBatch + i) * kSecond));
        }
        if (!store_->AppendReadings(batch, kT0, {}).ok()) failed = true;
      }
      ++writers_done;
    });
  }
  std::vector<int64_t> seen;
  int64_t after = 0;
  while (true) {
    const bool finished = writers_done.load() == kWriters;
    auto got = store_->ReadAfter(after, 37, {});
    ASSERT_TRUE(got.ok()) << got.status();
    for (const StoredReading& r : *got) {
      ASSERT_GT(r.position, after);
      after = r.position;
      seen.push_back(r.position);
    }
    if (finished && got->empty()) break;
  }
  for (std::thread& t : writers) t.join();
  ASSERT_FALSE(failed.load());
  EXPECT_EQ(seen.size(), size_t{kWriters * kBatches * kPerBatch});
  EXPECT_EQ(seen, Positions(All()));
}

// --- Feed reads.

TEST_P(IngestionStoreTest, ReadAfterReturnsPositionOrderUpToTheLimit) {
  Create("a", "luft");
  Create("b", "bad");
  AppendResult result = Append({At("a", kT0 + 5 * kSecond), At("b", kT0), At("a", kT0)});
  auto first = store_->ReadAfter(0, 2, {});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Positions(*first), ElementsAre(result.positions[0], result.positions[1]));
  EXPECT_EQ((*first)[1].source_id, "b");
  EXPECT_EQ((*first)[1].dataset, "bad");
  auto rest = store_->ReadAfter(first->back().position, 2, {});
  EXPECT_THAT(Positions(*rest), ElementsAre(result.positions[2]));
  EXPECT_THAT(*store_->ReadAfter(result.positions[2], 10, {}), IsEmpty());
  EXPECT_TRUE(absl::IsInvalidArgument(store_->ReadAfter(0, 0, {}).status()));
}

TEST_P(IngestionStoreTest, ReadAfterFiltersByDatasets) {
  Create("a", "luft");
  Create("b", "bad");
  Create("c", "avfall");
  std::vector<NewReading> batch;
  for (int i = 0; i < 6; ++i) {
    for (const char* s : {"a", "b", "c"}) batch.push_back(At(s, kT0 + i * kSecond));
  }
  Append(batch);

  auto luft = store_->ReadAfter(0, 100, std::vector<std::string>{"luft"});
  ASSERT_TRUE(luft.ok()) << luft.status();
  EXPECT_EQ(luft->size(), 6u);
  for (const StoredReading& r : *luft) EXPECT_EQ(r.dataset, "luft");

  // Two datasets, interleaved in position order, cut at the limit.
  auto two = store_->ReadAfter(0, 5, std::vector<std::string>{"avfall", "luft", "ingen"});
  ASSERT_TRUE(two.ok()) << two.status();
  std::vector<std::string> sources;
  for (const StoredReading& r : *two) sources.push_back(r.source_id);
  EXPECT_THAT(sources, ElementsAre("a", "c", "a", "c", "a"));
  const std::vector<int64_t> positions = Positions(*two);
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));

  auto next = store_->ReadAfter(positions.back(), 100, std::vector<std::string>{"avfall", "luft"});
  EXPECT_EQ(next->size(), 7u);
  EXPECT_GT(next->front().position, positions.back());
  EXPECT_THAT(*store_->ReadAfter(0, 100, std::vector<std::string>{"ingen"}), IsEmpty());
}

// --- Range reads.

TEST_P(IngestionStoreTest, ReadRangeOrdersByTimeThenSourceWithinBounds) {
  Create("b", "luft");
  Create("a", "luft");
  Create("c", "luft");
  Append({At("b", kT0 + 2 * kSecond), At("a", kT0 + 2 * kSecond), At("b", kT0),
          At("a", kT0 + 5 * kSecond), At("c", kT0 + kSecond), At("b", kT0 + 9 * kSecond)});
  RangeQuery query;
  query.source_ids = {"a", "b", "ghost"};
  EXPECT_THAT(TimesAndSources(Range(query)),
              ElementsAre(Pair(0, "b"), Pair(2, "a"), Pair(2, "b"), Pair(5, "a"), Pair(9, "b")));
  query.from_us = kT0 + 2 * kSecond;  // inclusive
  query.to_us = kT0 + 9 * kSecond;    // exclusive
  EXPECT_THAT(TimesAndSources(Range(query)),
              ElementsAre(Pair(2, "a"), Pair(2, "b"), Pair(5, "a")));
  query.source_ids = {"c"};
  EXPECT_THAT(Range(query), IsEmpty());
}

TEST_P(IngestionStoreTest, ReadRangePagesWithTheCursor) {
  Create("a", "luft");
  Create("b", "luft");
  std::vector<NewReading> batch;
  for (int i = 0; i < 7; ++i) {
    batch.push_back(At("a", kT0 + i * kSecond));
    if (i % 2 == 0) batch.push_back(At("b", kT0 + i * kSecond));
  }
  Append(batch);
  RangeQuery query;
  query.source_ids = {"b", "a"};
  query.limit = 3;
  std::vector<std::vector<std::pair<int64_t, std::string>>> pages;
  while (pages.size() < 6) {
    const std::vector<StoredReading> page = Range(query);
    pages.push_back(TimesAndSources(page));
    if (page.size() < static_cast<size_t>(query.limit)) break;
    query.after = std::make_pair(page.back().time_us, page.back().source_id);
  }
  using P = std::pair<int64_t, std::string>;
  EXPECT_THAT(pages, ElementsAre(ElementsAre(P(0, "a"), P(0, "b"), P(1, "a")),
                                 ElementsAre(P(2, "a"), P(2, "b"), P(3, "a")),
                                 ElementsAre(P(4, "a"), P(4, "b"), P(5, "a")),
                                 ElementsAre(P(6, "a"), P(6, "b"))));
}

TEST_P(IngestionStoreTest, ReadRangeNeedsSourcesAndAPositiveLimit) {
  RangeQuery query;
  EXPECT_TRUE(absl::IsInvalidArgument(store_->ReadRange(query).status()));
  query.source_ids = {"a"};
  query.limit = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(store_->ReadRange(query).status()));
}

// More readings than any one chunk holds (the store reads at most 1,024 per source and
// statement), from several sources with shared times, so that chunks are refilled mid-merge.
TEST_P(IngestionStoreTest, ScanRangeVisitsEveryReadingInOrderAcrossChunks) {
  Create("a", "luft");
  Create("b", "luft");
  Create("c", "luft");
  std::vector<NewReading> batch;
  for (int i = 0; i < 2500; ++i) {
    batch.push_back(At("a", kT0 + i * kSecond));
    if (i % 2 == 0) batch.push_back(At("b", kT0 + i * kSecond));
    if (i % 5 == 0) batch.push_back(At("c", kT0 + i * kSecond + 1));
  }
  Append(batch);

  RangeQuery query;
  query.source_ids = {"a", "b", "c"};
  query.from_us = kT0 + 10 * kSecond;
  query.to_us = kT0 + 2400 * kSecond;
  std::vector<std::pair<int64_t, std::string>> visited;
  absl::Status status = store_->ScanRange(query, [&](const StoredReading& r) {
    visited.emplace_back(r.time_us, r.source_id);
    return true;
  });
  ASSERT_TRUE(status.ok()) << status;
  // 2390 of a, 1195 of b, 478 of c.
  EXPECT_EQ(visited.size(), 2390u + 1195u + 478u);
  EXPECT_TRUE(std::is_sorted(visited.begin(), visited.end()));
  EXPECT_EQ(std::set(visited.begin(), visited.end()).size(), visited.size());
  EXPECT_EQ(visited.front(), std::make_pair(kT0 + 10 * kSecond, std::string("a")));
  EXPECT_EQ(visited.back(), std::make_pair(kT0 + 2399 * kSecond, std::string("a")));

  // A cursor starts the scan after it; the visitor can stop it.
  query.after = std::make_pair(kT0 + 2000 * kSecond, std::string("a"));
  std::vector<std::pair<int64_t, std::string>> three;
  ASSERT_TRUE(store_
                  ->ScanRange(query,
                              [&](const StoredReading& r) {
                                three.emplace_back((r.time_us - kT0) / kSecond, r.source_id);
                                return three.size() < 3;
                              })
                  .ok());
  using P = std::pair<int64_t, std::string>;
  EXPECT_THAT(three, ElementsAre(P(2000, "b"), P(2000, "c"), P(2001, "a")));
}

TEST_P(IngestionStoreTest, LatestIsTheNewestReadingOfEachSource) {
  Create("a", "luft");
  Create("b", "luft");
  Create("c", "luft");
  Append({At("a", kT0 + 5 * kSecond), At("b", kT0 + kSecond)});
  Append({At("a", kT0 + 2 * kSecond), At("b", kT0 + 3 * kSecond)});  // a's arrives late
  auto latest = store_->Latest(std::vector<std::string>{"a", "b", "c", "ghost"});
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_THAT(TimesAndSources(*latest), ElementsAre(Pair(5, "a"), Pair(3, "b")));
  EXPECT_EQ((*latest)[0].values, At("a", kT0 + 5 * kSecond).values);
  EXPECT_GT((*latest)[0].position, 0);
}

// --- Counters.

TEST_P(IngestionStoreTest, CountersAddUpAcrossAppendsAndAddCounters) {
  Create("a", "luft");
  Create("b", "luft");
  Create("c", "luft");
  Append({At("a", kT0)}, {{"a", {1, 2, 3, 1}}, {"b", {0, 0, 4, 0}}});
  ASSERT_TRUE(store_->AddCounters({{"a", {0, 0, 5, 0}}}).ok());
  Append({}, {{"b", {0, 1, 0, 0}}});
  auto counters = store_->GetCounters(std::vector<std::string>{"a", "b", "c", "ghost"});
  ASSERT_TRUE(counters.ok()) << counters.status();
  auto as_tuple = [](const SourceCounters& c) {
    return std::make_tuple(c.accepted, c.duplicates, c.rejected, c.late);
  };
  EXPECT_EQ(counters->size(), 3u);
  EXPECT_EQ(as_tuple(counters->at("a")), std::make_tuple(1, 2, 8, 1));
  EXPECT_EQ(as_tuple(counters->at("b")), std::make_tuple(0, 1, 4, 0));
  EXPECT_EQ(as_tuple(counters->at("c")), std::make_tuple(0, 0, 0, 0));
}

// Counters are per source: an id that is not one (its readings were rejected as unknown) has
// none, and does not fail the batch it came with.
TEST_P(IngestionStoreTest, CountersOfAnIdThatIsNoSourceAreNotKept) {
  Create("a", "luft");
  ASSERT_TRUE(store_->AddCounters({{"a", {1, 0, 0, 0}}, {"ghost", {0, 0, 1, 0}}}).ok());
  AppendResult result = Append({At("a", kT0)}, {{"a", {1, 0, 0, 0}}, {"ghost", {0, 0, 2, 0}}});
  EXPECT_THAT(result.inserted, ElementsAre(true));
  auto counters = store_->GetCounters(std::vector<std::string>{"a", "ghost"});
  ASSERT_TRUE(counters.ok()) << counters.status();
  EXPECT_EQ(counters->size(), 1u);
  EXPECT_EQ(counters->at("a").accepted, 2);
}

// --- Retention.

TEST_P(IngestionStoreTest, RetentionIsSetReplacedListedAndCleared) {
  EXPECT_EQ(*store_->GetRetention("luft"), 0);
  ASSERT_TRUE(store_->SetRetention("luft", 3600 * kSecond).ok());
  ASSERT_TRUE(store_->SetRetention("bad", 7200 * kSecond).ok());
  ASSERT_TRUE(store_->SetRetention("luft", 86400 * kSecond).ok());
  EXPECT_EQ(*store_->GetRetention("luft"), 86400 * kSecond);
  EXPECT_THAT(*store_->ListRetention(),
              ElementsAre(Pair("bad", 7200 * kSecond), Pair("luft", 86400 * kSecond)));
  ASSERT_TRUE(store_->SetRetention("bad", 0).ok());  // for ever
  EXPECT_EQ(*store_->GetRetention("bad"), 0);
  EXPECT_THAT(*store_->ListRetention(), ElementsAre(Pair("luft", 86400 * kSecond)));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->SetRetention("luft", -1)));
}

TEST_P(IngestionStoreTest, DeleteReadingsBeforeRemovesTheOldestInBoundedChunks) {
  Create("a", "luft");
  Create("b", "luft");
  Create("other", "bad");
  // a: 0..9 s, b: 0.5..9.5 s (interleaved with a), other: 0..9 s in another dataset.
  std::vector<NewReading> batch;
  for (int i = 0; i < 10; ++i) {
    batch.push_back(At("a", kT0 + i * kSecond));
    batch.push_back(At("b", kT0 + i * kSecond + kSecond / 2));
    batch.push_back(At("other", kT0 + i * kSecond));
  }
  Append(batch);

  const int64_t cutoff = kT0 + 6 * kSecond;  // a 0..5 and b 0.5..5.5 are older: 12 readings
  auto first = store_->DeleteReadingsBefore("luft", cutoff, 5);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 5);
  // The five oldest went first: a@0, b@0.5, a@1, b@1.5, a@2.
  RangeQuery query;
  query.source_ids = {"a", "b"};
  query.limit = 2;
  EXPECT_THAT(TimesAndSources(Range(query)), ElementsAre(Pair(2, "b"), Pair(3, "a")));
  EXPECT_EQ((Range(query)[0].time_us - kT0) % kSecond, kSecond / 2);

  EXPECT_EQ(*store_->DeleteReadingsBefore("luft", cutoff, 5), 5);
  EXPECT_EQ(*store_->DeleteReadingsBefore("luft", cutoff, 5), 2);  // fewer than the limit: done
  EXPECT_EQ(*store_->DeleteReadingsBefore("luft", cutoff, 5), 0);

  query.limit = 100;
  const std::vector<StoredReading> left = Range(query);
  ASSERT_EQ(left.size(), 8u);
  for (const StoredReading& r : left) EXPECT_GE(r.time_us, cutoff);
  query.source_ids = {"other"};
  EXPECT_EQ(Range(query).size(), 10u);  // another dataset's readings are untouched
  EXPECT_EQ(*store_->DeleteReadingsBefore("ingen", cutoff, 5), 0);
  EXPECT_TRUE(absl::IsInvalidArgument(store_->DeleteReadingsBefore("luft", cutoff, 0).status()));
}

// --- Rollups.

constexpr int64_t kBucket = kRollupBucketUs;
const int64_t kB0 = RollupBucketStart(kT0) + 10 * kBucket;  // a bucket boundary

// The test's payloads are flat objects of bare numbers, {"level":5,"temp":1.5}: the store takes
// the decoding as a function (ingestion passes values.h's), so the test passes one for them.
absl::Status FlatNumbers(const std::string& encoded,
                         std::vector<std::pair<std::string, double>>* out) {
  std::string body = encoded.substr(1, encoded.size() - 2);
  for (absl::string_view pair : absl::StrSplit(body, ',', absl::SkipEmpty())) {
    const size_t colon = pair.find(':');
    double value = 0;
    if (colon == absl::string_view::npos || !absl::SimpleAtod(pair.substr(colon + 1), &value)) {
      return absl::InvalidArgumentError(absl::StrCat("test payload not understood: ", encoded));
    }
    out->emplace_back(std::string(pair.substr(1, colon - 2)), value);
  }
  return absl::OkStatus();
}

NewReading Level(const std::string& source, int64_t time_us, double level) {
  return NewReading{source, time_us, absl::StrCat("{\"level\":", level, ",\"temp\":", -level, "}")};
}

class RollupStoreTest : public IngestionStoreTest {
 protected:
  int64_t Watermark(const std::string& source) {
    auto got = store_->RollupWatermarks({source});
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() && got->contains(source) ? got->at(source) : 0;
  }

  int64_t Refresh(const std::string& source, int64_t until_us) {
    auto read = store_->RefreshRollups(source, until_us, FlatNumbers);
    EXPECT_TRUE(read.ok()) << read.status();
    return read.ok() ? *read : -1;
  }

  // (bucket index from kB0, source, count, sum) of the level rollups in [from, to).
  std::vector<std::tuple<int64_t, std::string, int64_t, double>> Buckets(
      const std::vector<std::string>& sources, int64_t from = INT64_MIN, int64_t to = INT64_MAX) {
    std::vector<std::tuple<int64_t, std::string, int64_t, double>> out;
    auto read = store_->ReadRollups(sources, "level", from, to);
    EXPECT_TRUE(read.ok()) << read.status();
    if (!read.ok()) return out;
    for (const RollupBucket& b : read->buckets) {
      out.emplace_back((b.bucket_us - kB0) / kBucket, b.source_id, b.summary.count,
                       b.summary.sum);
    }
    return out;
  }
};

TEST_P(RollupStoreTest, RefreshSummarisesEachFieldPerBucketUpToUntil) {
  Create("a", "vann");
  EXPECT_EQ(Watermark("a"), INT64_MIN) << "nothing rolled up before the first refresh";
  // Bucket 0: 5, 1, 5, 1 (ties: the first is kept), bucket 2: 7; bucket 3 is at `until`.
  Append({Level("a", kB0 + 10 * kSecond, 5), Level("a", kB0 + 20 * kSecond, 1),
          Level("a", kB0 + 30 * kSecond, 5), Level("a", kB0 + 40 * kSecond, 1),
          Level("a", kB0 + 2 * kBucket, 7), Level("a", kB0 + 3 * kBucket + kSecond, 100)});
  EXPECT_EQ(Refresh("a", kB0 + 3 * kBucket), 5) << "the readings below until_us";
  EXPECT_EQ(Watermark("a"), kB0 + 3 * kBucket);

  auto read = store_->ReadRollups({"a"}, "level", INT64_MIN, INT64_MAX);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->buckets.size(), 2u) << "an empty bucket has no row; the one at until none yet";
  const FieldSummary& first = read->buckets[0].summary;
  EXPECT_EQ(read->buckets[0].bucket_us, kB0);
  EXPECT_EQ(first.count, 4);
  EXPECT_EQ(first.sum, 12);
  EXPECT_EQ(first.min, 1);
  EXPECT_EQ(first.min_time_us, kB0 + 20 * kSecond);
  EXPECT_EQ(first.max, 5);
  EXPECT_EQ(first.max_time_us, kB0 + 10 * kSecond);
  EXPECT_EQ(first.last, 1);
  EXPECT_EQ(first.last_time_us, kB0 + 40 * kSecond);
  EXPECT_EQ(read->buckets[1].bucket_us, kB0 + 2 * kBucket);
  EXPECT_EQ(read->buckets[1].summary.min, 7);
  EXPECT_EQ(read->until_us.at("a"), kB0 + 3 * kBucket);

  auto temp = store_->ReadRollups({"a"}, "temp", INT64_MIN, INT64_MAX);
  ASSERT_TRUE(temp.ok());
  ASSERT_EQ(temp->buckets.size(), 2u);
  EXPECT_EQ(temp->buckets[0].summary.min, -5);  // every numeric field has its own rollup
  EXPECT_THAT(Buckets({"a"}, kB0 + kBucket, kB0 + 3 * kBucket),
              ElementsAre(std::make_tuple(2, "a", 1, 7.0)));

  EXPECT_EQ(Refresh("a", kB0 + 3 * kBucket), 0) << "already there: nothing to read";
  EXPECT_TRUE(absl::IsInvalidArgument(
      store_->RefreshRollups("a", kB0 + kSecond, FlatNumbers).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->RefreshRollups("nope", kB0, FlatNumbers).status()));
}

TEST_P(RollupStoreTest, RefreshSpanningManyDaysAndSourcesReadsBackInBucketOrder) {
  Create("a", "vann");
  Create("b", "vann");
  std::vector<NewReading> batch;
  for (int64_t i = 0; i < 3 * 288 + 5; ++i) {  // a reading per bucket for three days and more
    batch.push_back(Level("a", kB0 + i * kBucket + kSecond, 1));
    if (i % 2 == 0) batch.push_back(Level("b", kB0 + i * kBucket, 2));
  }
  Append(batch);
  const int64_t until = kB0 + (3 * 288 + 5) * kBucket;
  EXPECT_EQ(Refresh("a", until), 3 * 288 + 5);
  EXPECT_EQ(Refresh("b", until), (3 * 288 + 5 + 1) / 2);
  const auto buckets = Buckets({"a", "b"});
  ASSERT_EQ(buckets.size(), (3 * 288 + 5) + (3 * 288 + 5 + 1) / 2);
  EXPECT_EQ(buckets[0], std::make_tuple(0, "a", 1, 1.0));
  EXPECT_EQ(buckets[1], std::make_tuple(0, "b", 1, 2.0));
  EXPECT_EQ(buckets[2], std::make_tuple(1, "a", 1, 1.0));
  EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
}

TEST_P(RollupStoreTest, LateAppendLowersTheWatermarkAndTheNextRefreshCountsIt) {
  Create("a", "vann");
  Append({Level("a", kB0 + kSecond, 1), Level("a", kB0 + kBucket + kSecond, 2),
          Level("a", kB0 + 2 * kBucket + kSecond, 3)});
  Refresh("a", kB0 + 4 * kBucket);

  // A duplicate stores nothing and changes nothing; a reading past the watermark neither.
  Append({Level("a", kB0 + kBucket + kSecond, 99), Level("a", kB0 + 5 * kBucket, 4)});
  EXPECT_EQ(Watermark("a"), kB0 + 4 * kBucket);

  // A late reading into bucket 1: the rollups of bucket 1 and later no longer count.
  Append({Level("a", kB0 + kBucket + 2 * kSecond, 10)});
  EXPECT_EQ(Watermark("a"), kB0 + kBucket);
  EXPECT_THAT(Buckets({"a"}), ElementsAre(std::make_tuple(0, "a", 1, 1.0)));

  EXPECT_EQ(Refresh("a", kB0 + 4 * kBucket), 3) << "buckets 1 to 3 again";
  EXPECT_THAT(Buckets({"a"}), ElementsAre(std::make_tuple(0, "a", 1, 1.0),
                                          std::make_tuple(1, "a", 2, 12.0),
                                          std::make_tuple(2, "a", 1, 3.0)));
}

TEST_P(RollupStoreTest, RetentionDeletesTheRollupsOfExpiredBuckets) {
  Create("a", "vann");
  Create("other", "bad");
  for (const char* source : {"a", "other"}) {
    Append({Level(source, kB0 + kSecond, 1), Level(source, kB0 + kBucket + kSecond, 2),
            Level(source, kB0 + kBucket + 200 * kSecond, 3),
            Level(source, kB0 + 2 * kBucket + kSecond, 4)});
    Refresh(source, kB0 + 3 * kBucket);
  }

  // A bucket-aligned cutoff: bucket 0 has gone whole, its rollup with it.
  ASSERT_TRUE(store_->DeleteReadingsBefore("vann", kB0 + kBucket, 100).ok());
  EXPECT_THAT(Buckets({"a"}), ElementsAre(std::make_tuple(1, "a", 2, 5.0),
                                          std::make_tuple(2, "a", 1, 4.0)));
  EXPECT_EQ(Watermark("a"), kB0 + 3 * kBucket);
  EXPECT_EQ(Buckets({"other"}).size(), 3u) << "another dataset's rollups are untouched";

  // A cutoff inside bucket 1 leaves part of it: its rollup goes and the watermark comes down
  // to it, so that the next refresh counts only what is left.
  ASSERT_TRUE(store_->DeleteReadingsBefore("vann", kB0 + kBucket + 100 * kSecond, 100).ok());
  EXPECT_EQ(Watermark("a"), kB0 + kBucket);
  EXPECT_THAT(Buckets({"a"}), IsEmpty());
  Refresh("a", kB0 + 3 * kBucket);
  EXPECT_THAT(Buckets({"a"}), ElementsAre(std::make_tuple(1, "a", 1, 3.0),
                                          std::make_tuple(2, "a", 1, 4.0)));
}

// Appends of late readings racing refreshes: whichever commits first, no reading ends up outside
// both the rollups and the stale range (sql_store.cc RefreshRollups argues why; on PostgreSQL
// the row lock is what makes it so). Afterwards the rollups equal a count of the readings.
TEST_P(RollupStoreTest, RefreshesRacingLateAppendsLoseNoReading) {
  Create("a", "vann");
  const int64_t until = kB0 + 40 * kBucket;
  std::atomic<bool> appending{true};
  std::thread refresher([&] {
    while (appending.load()) {
      auto read = store_->RefreshRollups("a", until, FlatNumbers);
      EXPECT_TRUE(read.ok()) << read.status();
    }
  });
  for (int batch = 0; batch < 60; ++batch) {
    std::vector<NewReading> readings;
    for (int i = 0; i < 20; ++i) {
      // Spread over the 40 buckets, each batch into buckets already rolled up.
      const int64_t time_us = kB0 + ((batch * 7 + i * 13) % 40) * kBucket + (batch * 20 + i) * 1000;
      readings.push_back(Level("a", time_us, batch * 20 + i));
    }
    Append(readings);
  }
  appending = false;
  refresher.join();
  Refresh("a", until);

  std::map<int64_t, std::pair<int64_t, double>> expected;  // bucket -> (count, sum)
  RangeQuery query;
  query.source_ids = {"a"};
  query.limit = 100'000;
  for (const StoredReading& r : Range(query)) {
    std::vector<std::pair<std::string, double>> numbers;
    ASSERT_TRUE(FlatNumbers(r.values, &numbers).ok());
    auto& [count, sum] = expected[(RollupBucketStart(r.time_us) - kB0) / kBucket];
    ++count;
    sum += numbers[0].second;
  }
  ASSERT_EQ(expected.size(), 40u);
  std::map<int64_t, std::pair<int64_t, double>> rolled_up;
  for (const auto& [bucket, source, count, sum] : Buckets({"a"})) rolled_up[bucket] = {count, sum};
  EXPECT_EQ(rolled_up, expected);
}

INSTANTIATE_TEST_SUITE_P(Engines, RollupStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

INSTANTIATE_TEST_SUITE_P(Engines, IngestionStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace smartby::ingestion
