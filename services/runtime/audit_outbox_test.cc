#include "services/runtime/audit_outbox.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace smartby {
namespace {

using smartcity::audit::v1::AuditEvent;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "outbox-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

AuditEvent Event(const std::string& action) {
  AuditEvent event;
  event.set_producer("catalogue");
  event.set_action(action);
  event.set_producer_sequence(999);  // ignored: the outbox assigns it
  return event;
}

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

TEST(AuditOutbox, AppendsInOrderAndPeeksOldestFirstWithSequences) {
  TempDir dir;
  SettableClock clock(kStart);
  auto outbox = AuditOutbox::Open(dir.File("o.db"), &clock);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  auto seqs = (*outbox)->Append({Event("a"), Event("b"), Event("c")});
  ASSERT_TRUE(seqs.ok()) << seqs.status();
  ASSERT_EQ(seqs->size(), 3u);
  EXPECT_EQ((*seqs)[1], (*seqs)[0] + 1);
  EXPECT_EQ((*seqs)[2], (*seqs)[0] + 2);
  auto peeked = (*outbox)->Peek(2);
  ASSERT_TRUE(peeked.ok()) << peeked.status();
  ASSERT_EQ(peeked->size(), 2u);
  EXPECT_EQ((*peeked)[0].action(), "a");
  EXPECT_EQ((*peeked)[0].producer_sequence(), (*seqs)[0]);
  EXPECT_EQ((*peeked)[1].action(), "b");
  EXPECT_EQ((*peeked)[1].producer_sequence(), (*seqs)[1]);
  EXPECT_EQ((*outbox)->depth(), 3);
  EXPECT_EQ((*outbox)->oldest(), kStart);
}

// A fresh outbox continues after any sequence a lost predecessor could have used: the log
// deduplicates on (producer, producer_sequence), so restarting at 1 would drop new events.
TEST(AuditOutbox, AFreshOutboxStartsAfterTheClockInMicroseconds) {
  TempDir dir;
  SettableClock clock(kStart);
  auto outbox = AuditOutbox::Open(dir.File("o.db"), &clock);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  auto seqs = (*outbox)->Append({Event("a")});
  ASSERT_TRUE(seqs.ok());
  EXPECT_EQ((*seqs)[0], absl::ToUnixMicros(kStart) + 1);
}

TEST(AuditOutbox, EventsSurviveReopenAndSequencesContinueNeverReused) {
  TempDir dir;
  SettableClock clock(kStart);
  const std::string path = dir.File("o.db");
  int64_t last = 0;
  {
    auto outbox = AuditOutbox::Open(path, &clock);
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    auto seqs = (*outbox)->Append({Event("a"), Event("b"), Event("c")});
    ASSERT_TRUE(seqs.ok());
    last = seqs->back();
    // The newest is acknowledged and deleted, the two older ones stay.
    ASSERT_TRUE((*outbox)->DeleteThrough((*seqs)[0]).ok());
  }
  clock.Advance(absl::Minutes(5));
  {
    auto outbox = AuditOutbox::Open(path, &clock);
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    EXPECT_EQ((*outbox)->depth(), 2);
    EXPECT_EQ((*outbox)->oldest(), kStart);  // the arrival time is stored, not re-stamped
    auto peeked = (*outbox)->Peek(10);
    ASSERT_TRUE(peeked.ok());
    ASSERT_EQ(peeked->size(), 2u);
    EXPECT_EQ((*peeked)[0].action(), "b");
    EXPECT_EQ((*peeked)[1].action(), "c");
    EXPECT_EQ((*peeked)[1].producer_sequence(), last);
    // Everything acknowledged: the outbox is empty, but the sequence keeps its high-water mark.
    ASSERT_TRUE((*outbox)->DeleteThrough(last).ok());
    EXPECT_EQ((*outbox)->depth(), 0);
    EXPECT_EQ((*outbox)->oldest(), absl::InfiniteFuture());
  }
  {
    auto outbox = AuditOutbox::Open(path, &clock);
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    auto seqs = (*outbox)->Append({Event("d")});
    ASSERT_TRUE(seqs.ok());
    EXPECT_EQ((*seqs)[0], last + 1);
  }
}

TEST(AuditOutbox, OneProcessPerOutbox) {
  TempDir dir;
  SettableClock clock(kStart);
  auto first = AuditOutbox::Open(dir.File("o.db"), &clock);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = AuditOutbox::Open(dir.File("o.db"), &clock);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  first->reset();
  EXPECT_TRUE(AuditOutbox::Open(dir.File("o.db"), &clock).ok());  // released on close
}

// Group commit: many concurrent appenders each get their own, distinct sequences, and every
// event is stored exactly once.
TEST(AuditOutbox, ConcurrentAppendsAreAllStoredWithDistinctSequences) {
  TempDir dir;
  SettableClock clock(kStart);
  auto outbox = AuditOutbox::Open(dir.File("o.db"), &clock);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  constexpr int kThreads = 8, kPerThread = 25;
  std::vector<std::vector<int64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto seqs = (*outbox)->Append({Event(absl::StrCat(t, "-", i)), Event("pair")});
        ASSERT_TRUE(seqs.ok()) << seqs.status();
        ASSERT_EQ(seqs->size(), 2u);
        EXPECT_EQ((*seqs)[1], (*seqs)[0] + 1);  // one call's events stay together, in order
        got[t].insert(got[t].end(), seqs->begin(), seqs->end());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<int64_t> all;
  for (const auto& seqs : got) all.insert(seqs.begin(), seqs.end());
  EXPECT_EQ(all.size(), size_t{kThreads * kPerThread * 2});
  EXPECT_EQ((*outbox)->depth(), kThreads * kPerThread * 2);
  auto peeked = (*outbox)->Peek(kThreads * kPerThread * 2 + 10);
  ASSERT_TRUE(peeked.ok());
  EXPECT_EQ(peeked->size(), all.size());
}

TEST(AuditOutbox, ProbeKeepsAHealthyOutboxHealthy) {
  TempDir dir;
  SettableClock clock(kStart);
  auto outbox = AuditOutbox::Open(dir.File("o.db"), &clock);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  EXPECT_TRUE((*outbox)->healthy());
  EXPECT_TRUE((*outbox)->Probe().ok());
  EXPECT_TRUE((*outbox)->healthy());
}

}  // namespace
}  // namespace smartby
