// The sequencer, checkpointer and reads of the audit log, on every engine under test.
#include "services/audit/audit_log.h"

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::audit {
namespace {

using ::testing::HasSubstr;

std::string Bytes(const merkle::Hash& h) {
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

v1::AuditEvent Event(const std::string& producer, int64_t sequence,
                     const std::string& subject = "user:kari") {
  v1::AuditEvent e;
  e.set_producer(producer);
  e.set_producer_sequence(sequence);
  e.mutable_actor()->set_subject(subject);
  e.set_action("/smartcity.catalogue.v1.CatalogueService/UpdateDataset");
  e.mutable_resource()->set_type("dataset");
  e.mutable_resource()->set_id(absl::StrCat("ds", sequence % 4));
  e.set_details_json(absl::StrCat("{\"n\":", sequence, "}"));
  return e;
}

class AuditLogTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = AuditStore::Open(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto signer = NoteSigner::Generate("test.example/audit");
    ASSERT_TRUE(signer.ok()) << signer.status();
    seed_ = signer->seed();
  }

  absl::StatusOr<std::unique_ptr<AuditLog>> Open(AuditLogOptions options = {},
                                                  AuditLogMetrics* metrics = nullptr) {
    options.origin = "test.example/audit";
    options.linger = absl::ZeroDuration();
    options.checkpoint_interval = absl::Hours(1);  // tests sign with CheckpointNow
    auto signer = NoteSigner::FromSeed("test.example/audit", seed_);
    if (!signer.ok()) return signer.status();
    return AuditLog::Open(store_.get(), *std::move(signer), &clock_, std::move(options), metrics);
  }

  // Overwrites a stored tree hash behind the log's back.
  void CorruptHash(int level, int64_t index) {
    merkle::Hash bad{};
    bad.fill(0x42);
    ASSERT_TRUE(db_->InTransaction([&](storage::Transaction& tx) -> absl::Status {
                    auto changed = tx.Execute(
                        absl::StrCat("UPDATE audit_tree SET hash = ", store_->BlobSql(1),
                                     " WHERE level = $2 AND idx = $3"),
                        {store_->BlobParam(Bytes(bad)), int64_t{level}, index});
                    if (!changed.ok()) return changed.status();
                    EXPECT_EQ(*changed, 1);
                    return absl::OkStatus();
                  }).ok());
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<AuditStore> store_;
  std::string seed_;
  SettableClock clock_{absl::FromUnixSeconds(1700000000)};
};

TEST_P(AuditLogTest, NewLogSignsTheEmptyTree) {
  auto log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  const SignedCheckpoint cp = (*log)->LatestCheckpoint();
  EXPECT_EQ(cp.tree_size, 0);
  EXPECT_EQ(cp.root, merkle::EmptyRoot());
  auto body = VerifyNote(cp.note, (*log)->VerifierKey());
  ASSERT_TRUE(body.ok()) << body.status();
  auto parsed = ParseCheckpointBody(*body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->origin, "test.example/audit");
  EXPECT_EQ(parsed->size, 0u);
}

TEST_P(AuditLogTest, ConcurrentAppendsGetContiguousIndicesAndAVerifiableTree) {
  auto log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  constexpr int kThreads = 12;
  constexpr int kAppendsPerThread = 25;
  std::mutex mu;
  std::map<int64_t, std::pair<std::string, int64_t>> acknowledged;  // index -> producer, seq
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string producer = absl::StrCat("svc", t);
      int64_t seq = 0;
      for (int a = 0; a < kAppendsPerThread; ++a) {
        std::vector<v1::AuditEvent> events;
        for (int k = 0; k <= a % 3; ++k) events.push_back(Event(producer, ++seq));
        auto indexes = (*log)->AppendAndWait(events);
        ASSERT_TRUE(indexes.ok()) << indexes.status();
        ASSERT_EQ(indexes->size(), events.size());
        std::lock_guard<std::mutex> lock(mu);
        for (size_t k = 0; k < events.size(); ++k) {
          // In order within a request.
          if (k > 0) {
            EXPECT_EQ((*indexes)[k], (*indexes)[k - 1] + 1);
          }
          EXPECT_TRUE(acknowledged
                          .emplace((*indexes)[k], std::make_pair(producer,
                                                                 events[k].producer_sequence()))
                          .second);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const int64_t n = static_cast<int64_t>(acknowledged.size());
  EXPECT_EQ(acknowledged.begin()->first, 0);
  EXPECT_EQ(acknowledged.rbegin()->first, n - 1);  // contiguous: n distinct indices in [0, n)
  EXPECT_EQ((*log)->size(), n);

  // Every entry holds what was acknowledged for its index; recompute the tree from the bytes.
  merkle::CompactRange recomputed;
  for (int64_t start = 0; start < n; start += 1000) {
    auto entries = (*log)->GetEntries(start, std::min(n, start + 1000));
    ASSERT_TRUE(entries.ok()) << entries.status();
    for (const auto& e : *entries) {
      const auto& want = acknowledged.at(e.entry().index());
      EXPECT_EQ(e.entry().event().producer(), want.first);
      EXPECT_EQ(e.entry().event().producer_sequence(), want.second);
      recomputed.Append(merkle::LeafHash(e.entry_bytes()));
    }
  }
  auto cp = (*log)->CheckpointNow();
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->tree_size, n);
  EXPECT_EQ(cp->root, recomputed.Root());
  ASSERT_TRUE(VerifyNote(cp->note, (*log)->VerifierKey()).ok());

  for (int64_t index : {int64_t{0}, n / 2, n - 1}) {
    auto proof = (*log)->InclusionProof(index, 0);
    ASSERT_TRUE(proof.ok()) << proof.status();
    std::vector<std::string> path(proof->hashes().begin(), proof->hashes().end());
    EXPECT_TRUE(merkle::VerifyInclusion(index, n, proof->leaf_hash(), path, Bytes(cp->root)).ok());
  }
  // Consistency from a small size to the checkpoint.
  auto root5 = [&] {
    merkle::CompactRange r;
    auto entries = (*log)->GetEntries(0, 5);
    for (const auto& e : *entries) r.Append(merkle::LeafHash(e.entry_bytes()));
    return r.Root();
  }();
  auto consistency = (*log)->ConsistencyProof(5, 0);
  ASSERT_TRUE(consistency.ok()) << consistency.status();
  std::vector<std::string> path(consistency->hashes().begin(), consistency->hashes().end());
  EXPECT_TRUE(merkle::VerifyConsistency(5, n, Bytes(root5), Bytes(cp->root), path).ok());
}

TEST_P(AuditLogTest, ReSentEventsKeepTheirIndex) {
  auto log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  auto first = (*log)->AppendAndWait({Event("catalogue", 1), Event("catalogue", 2)});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(*first, ::testing::ElementsAre(0, 1));
  // A retry of the same batch, plus a new event, plus a duplicate inside the request.
  auto again = (*log)->AppendAndWait(
      {Event("catalogue", 2), Event("catalogue", 1), Event("catalogue", 3), Event("catalogue", 3)});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_THAT(*again, ::testing::ElementsAre(1, 0, 2, 2));
  EXPECT_EQ((*log)->size(), 3);

  // Reusing a sequence number for different content is refused, and only that request fails.
  v1::AuditEvent changed = Event("catalogue", 2);
  changed.set_outcome_code(7);
  auto refused = (*log)->AppendAndWait({Event("catalogue", 4), changed});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("events[1]"));
  EXPECT_EQ((*log)->size(), 3);  // nothing of the refused request was appended
  auto next = (*log)->AppendAndWait({Event("catalogue", 4)});
  ASSERT_TRUE(next.ok());
  EXPECT_THAT(*next, ::testing::ElementsAre(3));

  // Dedup survives a restart (the producer maxima and entries are in the store).
  (*log)->Stop();
  log->reset();
  auto reopened = Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto after = (*reopened)->AppendAndWait({Event("catalogue", 1), Event("catalogue", 5)});
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(*after, ::testing::ElementsAre(0, 4));
}

TEST_P(AuditLogTest, SkippedProducerSequenceNumbersAreCountedAsMissingEvents) {
  prometheus::Registry registry;
  AuditLogMetrics metrics(registry);
  auto log = Open({}, &metrics);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->AppendAndWait({Event("catalogue", 1), Event("catalogue", 2)}).ok());
  EXPECT_EQ(metrics.missing_events.Value(), 0);
  // 3 and 4 never arrive; a re-send of 2 alongside changes nothing.
  ASSERT_TRUE((*log)->AppendAndWait({Event("catalogue", 2), Event("catalogue", 5)}).ok());
  EXPECT_EQ(metrics.missing_events.Value(), 2);
  // A producer first seen at 3: its 1 and 2 are missing.
  ASSERT_TRUE((*log)->AppendAndWait({Event("feed", 3), Event("feed", 4)}).ok());
  EXPECT_EQ(metrics.missing_events.Value(), 4);
  // A refused request counts nothing, even though it skipped.
  v1::AuditEvent changed = Event("catalogue", 1);
  changed.set_outcome_code(7);
  EXPECT_FALSE((*log)->AppendAndWait({Event("catalogue", 9), changed}).ok());
  EXPECT_EQ(metrics.missing_events.Value(), 4);
  // The producers' positions survive a restart.
  (*log)->Stop();
  log->reset();
  auto reopened = Open({}, &metrics);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_TRUE((*reopened)->AppendAndWait({Event("catalogue", 6), Event("feed", 6)}).ok());
  EXPECT_EQ(metrics.missing_events.Value(), 5);  // feed's 5
}

TEST_P(AuditLogTest, SequencingTimeNeverGoesBackwards) {
  auto log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->AppendAndWait({Event("catalogue", 1)}).ok());
  clock_.Advance(-absl::Hours(1));  // the clock steps back
  ASSERT_TRUE((*log)->AppendAndWait({Event("catalogue", 2)}).ok());
  (*log)->Stop();
  log->reset();
  clock_.Advance(-absl::Hours(1));  // and again across a restart
  auto reopened = Open();
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->AppendAndWait({Event("catalogue", 3)}).ok());
  clock_.Advance(absl::Hours(5));
  ASSERT_TRUE((*reopened)->AppendAndWait({Event("catalogue", 4)}).ok());
  auto entries = (*reopened)->GetEntries(0, 4);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 4u);
  std::vector<int64_t> times;
  for (const auto& e : *entries) times.push_back(TimestampToMicros(e.entry().sequenced_time()));
  EXPECT_EQ(times[0], 1700000000LL * 1000000);
  EXPECT_EQ(times[1], times[0]);
  EXPECT_EQ(times[2], times[0]);
  EXPECT_EQ(times[3], (1700000000LL + 3 * 3600) * 1000000);
}

TEST_P(AuditLogTest, AFailedBatchAppendsNothing) {
  std::atomic<bool> fail{false};
  AuditLogOptions options;
  options.before_commit_for_test = [&]() -> absl::Status {
    if (fail.load()) return absl::UnavailableError("disk on fire");
    return absl::OkStatus();
  };
  auto log = Open(options);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->AppendAndWait({Event("catalogue", 1)}).ok());
  fail = true;
  std::vector<v1::AuditEvent> batch;
  for (int i = 2; i < 300; ++i) batch.push_back(Event("catalogue", i));
  auto failed = (*log)->AppendAndWait(batch);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*log)->size(), 1);
  EXPECT_EQ(store_->CountEntries()->first, 1);
  EXPECT_EQ(store_->LoadState()->tree_size, 1);
  fail = false;
  auto retried = (*log)->AppendAndWait(batch);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->front(), 1);  // no hole where the failed batch was
  EXPECT_EQ(retried->back(), 298);
  auto cp = (*log)->CheckpointNow();
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->tree_size, 299);
  // The stored tree matches the bytes.
  (*log)->Stop();
  log->reset();
  EXPECT_TRUE(Open().ok());
}

TEST_P(AuditLogTest, FullQueueIsResourceExhausted) {
  absl::Notification release;
  std::atomic<bool> block{true};
  AuditLogOptions options;
  options.max_queued_entries = 1000;
  options.max_batch_entries = 1;
  options.before_commit_for_test = [&]() -> absl::Status {
    if (block.load()) release.WaitForNotification();
    return absl::OkStatus();
  };
  auto log = Open(options);
  ASSERT_TRUE(log.ok()) << log.status();
  // The first request occupies the writer; the next fill the queue.
  std::vector<std::unique_ptr<AuditLog::Events>> owned;
  std::atomic<int> done{0};
  auto submit = [&](int64_t first_seq, int n) {
    auto events = std::make_unique<AuditLog::Events>();
    for (int i = 0; i < n; ++i) *events->Add() = Event("catalogue", first_seq + i);
    absl::Status s = (*log)->Append(events.get(), [&](auto) { ++done; });
    owned.push_back(std::move(events));
    return s;
  };
  ASSERT_TRUE(submit(1, 1).ok());
  absl::SleepFor(absl::Milliseconds(50));  // let the writer take it
  ASSERT_TRUE(submit(2, 999).ok());
  ASSERT_TRUE(submit(1001, 1).ok());  // the queue now holds its 1,000 entries
  absl::Status refused = submit(1002, 1);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("queue is full"));
  block = false;
  release.Notify();
  while (done.load() < 3) absl::SleepFor(absl::Milliseconds(5));
  (*log)->Stop();
  EXPECT_EQ((*log)->size(), 1001);
}

TEST_P(AuditLogTest, RefusesToSignACheckpointInconsistentWithTheLast) {
  auto log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  std::vector<v1::AuditEvent> events;
  for (int i = 1; i <= 10; ++i) events.push_back(Event("catalogue", i));
  ASSERT_TRUE((*log)->AppendAndWait(events).ok());
  auto cp10 = (*log)->CheckpointNow();
  ASSERT_TRUE(cp10.ok());
  ASSERT_EQ(cp10->tree_size, 10);

  CorruptHash(/*level=*/3, /*index=*/0);  // the subtree of leaves [0, 8)
  events.clear();
  for (int i = 11; i <= 15; ++i) events.push_back(Event("catalogue", i));
  ASSERT_TRUE((*log)->AppendAndWait(events).ok());  // committed before the check
  auto refused = (*log)->CheckpointNow();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("not consistent"));
  EXPECT_EQ((*log)->LatestCheckpoint().tree_size, 10);  // nothing signed
  EXPECT_TRUE((*log)->halted());
  auto more = (*log)->AppendAndWait({Event("catalogue", 16)});
  EXPECT_EQ(more.status().code(), absl::StatusCode::kUnavailable);

  // A restart notices too: the stored tree no longer has the signed root.
  (*log)->Stop();
  log->reset();
  auto reopened = Open();
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
}

TEST_P(AuditLogTest, RetentionHidesOldEntriesAndKeepsProofsValid) {
  {
    auto log = Open();
    ASSERT_TRUE(log.ok());
    std::vector<v1::AuditEvent> events;
    for (int i = 1; i <= 12; ++i) events.push_back(Event("catalogue", i));
    ASSERT_TRUE((*log)->AppendAndWait(events).ok());
  }
  AuditLogOptions options;
  options.retention_min_index = 5;
  auto log = Open(options);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->retention_min_index(), 5);
  EXPECT_EQ((*log)->GetEntries(0, 12).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string((*log)->GetEntries(4, 12).status().message()),
              HasSubstr("retention"));
  auto kept = (*log)->GetEntries(5, 12);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size(), 7u);
  v1::QueryEntriesRequest query;
  auto result = (*log)->Query(query);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->entries.size(), 7u);
  EXPECT_EQ(result->entries.front().entry().index(), 5);
  EXPECT_EQ((*log)->InclusionProof(3, 0).status().code(), absl::StatusCode::kFailedPrecondition);
  const SignedCheckpoint cp = (*log)->LatestCheckpoint();
  ASSERT_EQ(cp.tree_size, 12);
  auto proof = (*log)->InclusionProof(7, 0);
  ASSERT_TRUE(proof.ok());
  std::vector<std::string> path(proof->hashes().begin(), proof->hashes().end());
  EXPECT_EQ(proof->leaf_hash(), Bytes(merkle::LeafHash((*kept)[2].entry_bytes())));
  EXPECT_TRUE(merkle::VerifyInclusion(7, 12, proof->leaf_hash(), path, Bytes(cp.root)).ok());
  // A lower flag later does not bring entries back.
  (*log)->Stop();
  log->reset();
  auto lowered = Open();
  ASSERT_TRUE(lowered.ok());
  EXPECT_EQ((*lowered)->retention_min_index(), 5);
  EXPECT_EQ((*lowered)->ReadForTail(2, 10).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(AuditLogTest, QueryPagesAndArgumentErrors) {
  auto log = Open();
  ASSERT_TRUE(log.ok());
  std::vector<v1::AuditEvent> events;
  for (int i = 1; i <= 9; ++i) events.push_back(Event("catalogue", i, i % 3 ? "user:a" : "user:b"));
  ASSERT_TRUE((*log)->AppendAndWait(events).ok());
  v1::QueryEntriesRequest q;
  q.set_actor("user:a");
  q.set_page_size(4);
  auto page1 = (*log)->Query(q);
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->entries.size(), 4u);
  EXPECT_EQ(page1->next_page_token, "4");
  q.set_page_token(page1->next_page_token);
  auto page2 = (*log)->Query(q);
  ASSERT_TRUE(page2.ok());
  ASSERT_EQ(page2->entries.size(), 2u);
  EXPECT_EQ(page2->next_page_token, "");
  q.set_page_token("bogus");
  EXPECT_EQ((*log)->Query(q).status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ((*log)->GetEntries(5, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*log)->GetEntries(0, 2000).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*log)->GetEntries(9, 10).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*log)->GetEntries(8, 100)->size(), 1u);  // clamped to the size
  EXPECT_EQ((*log)->InclusionProof(0, 10).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*log)->ConsistencyProof(0, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*log)->ConsistencyProof(6, 5).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(AuditLogTest, ListenersHearEveryCommit) {
  auto log = Open();
  ASSERT_TRUE(log.ok());
  std::atomic<int64_t> seen{0};
  const uint64_t id = (*log)->Subscribe([&](int64_t size) { seen = size; });
  ASSERT_TRUE((*log)->AppendAndWait({Event("catalogue", 1), Event("catalogue", 2)}).ok());
  EXPECT_EQ(seen.load(), 2);
  (*log)->Unsubscribe(id);
  ASSERT_TRUE((*log)->AppendAndWait({Event("catalogue", 3)}).ok());
  EXPECT_EQ(seen.load(), 2);
}

INSTANTIATE_TEST_SUITE_P(Engines, AuditLogTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace smartby::audit
