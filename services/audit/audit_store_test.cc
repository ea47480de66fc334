// The audit store's contract, on every engine under test.
#include "services/audit/audit_store.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::audit {
namespace {

EntryRow Row(int64_t index, const std::string& subject, const std::string& action,
             int64_t outcome = 0) {
  EntryRow r;
  r.index = index;
  r.sequenced_micros = 1000 + index;
  r.producer = "catalogue";
  r.producer_sequence = index + 1;
  r.subject = subject;
  r.action = action;
  r.resource_id = absl::StrCat("ds", index % 3);
  r.dataset = absl::StrCat("ds", index % 3);
  r.outcome = outcome;
  // Binary on purpose: NUL bytes and bytes that are not UTF-8 must round-trip.
  r.entry_bytes = std::string("\x00\x01\xff\xfe entry ", 12) + absl::StrCat(index);
  return r;
}

std::vector<int64_t> Indexes(const std::vector<StoredEntry>& entries) {
  std::vector<int64_t> out;
  for (const auto& e : entries) out.push_back(e.index);
  return out;
}

class AuditStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = AuditStore::Open(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  void Insert(const std::vector<EntryRow>& rows, int64_t old_size) {
    ASSERT_TRUE(store_
                    ->BulkInsert(rows, {}, old_size, old_size + static_cast<int64_t>(rows.size()),
                                 rows.back().sequenced_micros)
                    .ok());
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<AuditStore> store_;
};

TEST_P(AuditStoreTest, EntriesRoundTripByteForByte) {
  std::vector<EntryRow> rows;
  for (int i = 0; i < 150; ++i) rows.push_back(Row(i, "user:kari", "update"));
  Insert(rows, 0);
  auto got = store_->GetEntries(0, 150);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 150u);
  for (int i = 0; i < 150; ++i) {
    EXPECT_EQ((*got)[i].index, i);
    EXPECT_EQ((*got)[i].entry_bytes, rows[i].entry_bytes);
  }
  auto state = store_->LoadState();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->tree_size, 150);
  EXPECT_EQ(state->last_sequenced_micros, 1149);
  auto count = store_->CountEntries();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->first, 150);
  EXPECT_EQ(count->second, 149);
}

TEST_P(AuditStoreTest, StateAdvanceIsACompareAndSet) {
  Insert({Row(0, "user:a", "x")}, 0);
  absl::Status s = store_->BulkInsert({Row(1, "user:a", "x")}, {}, /*old_size=*/0, 2, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  // Nothing of the refused transaction stays.
  auto got = store_->GetEntries(0, 10);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 1u);
}

TEST_P(AuditStoreTest, ProducerSequenceIsUniqueAndFindable) {
  Insert({Row(0, "user:a", "x"), Row(1, "user:a", "x")}, 0);
  EntryRow dup = Row(2, "user:a", "x");
  dup.producer_sequence = 1;
  EXPECT_FALSE(store_->BulkInsert({dup}, {}, 2, 3, 0).ok());
  absl::StatusOr<std::optional<StoredEntry>> found;
  ASSERT_TRUE(store_
                  ->InWriteTransaction([&](WriteTransaction& tx) -> absl::Status {
                    found = tx.FindByProducer("catalogue", 2);
                    return found.status();
                  })
                  .ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->index, 1);
  auto maxima = store_->LoadProducerMaxima();
  ASSERT_TRUE(maxima.ok());
  EXPECT_THAT(*maxima, ::testing::ElementsAre(::testing::Pair("catalogue", 2)));
}

TEST_P(AuditStoreTest, QueryFiltersAndPages) {
  std::vector<EntryRow> rows;
  for (int i = 0; i < 30; ++i) {
    rows.push_back(Row(i, i % 2 == 0 ? "user:kari" : "user:ola", i % 5 == 0 ? "delete" : "read",
                       i % 7 == 0 ? 7 : 0));
  }
  Insert(rows, 0);
  QueryFilter f;
  f.max_index_exclusive = 30;
  f.subject = "user:kari";
  f.limit = 4;
  auto page = store_->Query(f);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Indexes(*page), ::testing::ElementsAre(0, 2, 4, 6));
  f.after_index = 6;
  page = store_->Query(f);
  EXPECT_THAT(Indexes(*page), ::testing::ElementsAre(8, 10, 12, 14));

  QueryFilter g;
  g.max_index_exclusive = 30;
  g.action = "delete";
  g.outcome = 7;
  EXPECT_THAT(Indexes(*store_->Query(g)), ::testing::ElementsAre(0));
  g = QueryFilter();
  g.max_index_exclusive = 30;
  g.dataset = "ds1";
  g.since_micros = 1010;
  g.until_micros = 1020;
  EXPECT_THAT(Indexes(*store_->Query(g)), ::testing::ElementsAre(10, 13, 16, 19));
  g = QueryFilter();
  g.max_index_exclusive = 25;
  g.min_index = 20;  // retention
  g.resource_id = "ds2";
  EXPECT_THAT(Indexes(*store_->Query(g)), ::testing::ElementsAre(20, 23));
}

TEST_P(AuditStoreTest, TreeHashesReadBack) {
  merkle::Hash h{};
  h[0] = 0;
  h[1] = 0xff;
  h[31] = 7;
  ASSERT_TRUE(store_->BulkInsert({Row(0, "u", "a")}, {NodeRow{0, 0, h}}, 0, 1, 0).ok());
  ASSERT_TRUE(store_
                  ->WithHashReader([&](merkle::HashReader& reader) -> absl::Status {
                    auto got = reader.GetHash(0, 0);
                    EXPECT_TRUE(got.ok());
                    if (got.ok()) {
                      EXPECT_EQ(*got, h);
                    }
                    EXPECT_EQ(reader.GetHash(1, 0).status().code(), absl::StatusCode::kDataLoss);
                    return absl::OkStatus();
                  })
                  .ok());
}

TEST_P(AuditStoreTest, CheckpointsKeyAndRetention) {
  EXPECT_FALSE(store_->LatestCheckpoint()->has_value());
  merkle::Hash root{};
  root[5] = 0;
  root[6] = 9;
  ASSERT_TRUE(store_->InsertCheckpoint({3, root, "note 3\n", 10}).ok());
  ASSERT_TRUE(store_->InsertCheckpoint({8, root, "note 8\n", 20}).ok());
  auto latest = store_->LatestCheckpoint();
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->tree_size, 8);
  EXPECT_EQ((*latest)->root, root);
  EXPECT_EQ((*latest)->note, "note 8\n");

  EXPECT_FALSE(store_->LoadLogKey("log")->has_value());
  const std::string seed("\x00\x01\x02seed with a NUL\x00", 19);
  EXPECT_EQ(*store_->StoreLogKey("log", seed), seed);
  EXPECT_EQ(*store_->StoreLogKey("log", "another seed"), seed);  // the first stays
  EXPECT_EQ(**store_->LoadLogKey("log"), seed);

  EXPECT_EQ(*store_->RaiseRetentionMinimum(5), 5);
  EXPECT_EQ(*store_->RaiseRetentionMinimum(2), 5);  // never lowered
  EXPECT_EQ(store_->LoadState()->retention_min_index, 5);
}

INSTANTIATE_TEST_SUITE_P(Engines, AuditStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace smartby::audit
