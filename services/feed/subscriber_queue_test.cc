#include "services/feed/subscriber_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace smartby::feed {
namespace {

UpdatePtr At(int64_t position, const std::string& source) {
  auto u = std::make_shared<v1::Update>();
  u->set_position(position);
  u->set_dataset("parkering");
  u->mutable_reading()->set_source_id(source);
  return u;
}

std::vector<v1::FeedEvent> TakeAll(SubscriberQueue& q) {
  BorrowedResponse r;
  q.Take(1u << 20, &r);
  return {r.message().events().begin(), r.message().events().end()};  // copies
}

TEST(SubscriberQueue, DeliversInOrderWhileBelowCapacity) {
  SubscriberQueue q(4);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(q.Push(At(i, absl::StrCat("s", i))),
                                         SubscriberQueue::Outcome::kQueued);
  auto events = TakeAll(q);
  ASSERT_EQ(events.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(events[i].update().position(), i + 1);
  EXPECT_TRUE(q.empty());
}

TEST(SubscriberQueue, WhenFullCoalescesToTheLatestValuePerSourceInPositionOrder) {
  SubscriberQueue q(2);
  q.Push(At(1, "a"));
  q.Push(At(2, "b"));
  EXPECT_EQ(q.Push(At(3, "a")), SubscriberQueue::Outcome::kCoalesced);
  EXPECT_EQ(q.coalesced(), 1);
  auto events = TakeAll(q);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].update().position(), 2);
  EXPECT_EQ(events[1].update().position(), 3);
}

TEST(SubscriberQueue, WhenFullWithNothingToCoalesceDropsBehindOneGapMarker) {
  SubscriberQueue q(2);
  q.Push(At(1, "a"));
  q.Push(At(2, "b"));
  EXPECT_EQ(q.Push(At(3, "c")), SubscriberQueue::Outcome::kDropped);
  EXPECT_EQ(q.Push(At(4, "d")), SubscriberQueue::Outcome::kDropped);
  EXPECT_EQ(q.dropped(), 2);
  auto events = TakeAll(q);
  ASSERT_EQ(events.size(), 3u);
  ASSERT_TRUE(events[2].has_gap());
  EXPECT_EQ(events[2].gap().reason(), v1::GAP_REASON_SUBSCRIBER_BEHIND);
  EXPECT_EQ(events[2].gap().after_position(), 2);
  EXPECT_EQ(events[2].gap().dropped(), 2);
  // Drained: new updates are queued again.
  EXPECT_EQ(q.Push(At(5, "c")), SubscriberQueue::Outcome::kQueued);
}

TEST(SubscriberQueue, MemoryStaysBoundedWhateverIsPushed) {
  SubscriberQueue q(16);
  for (int64_t i = 1; i <= 200000; ++i) q.Push(At(i, absl::StrCat("s", i % 1000)));
  EXPECT_LE(q.queued_updates(), 16u);
  EXPECT_LE(q.queued_events(), 16u + 1u);
  EXPECT_EQ(q.coalesced() + q.dropped() + 16, 200000);
}

TEST(SubscriberQueue, OpeningEventsAreNotLimitedAndAggregatesKeepOnlyTheNewest) {
  SubscriberQueue q(1);
  q.PushInitial(At(1, "a"));
  q.PushInitial(At(2, "b"));
  q.PushSnapshotComplete(2);
  auto first = std::make_shared<v1::AggregateSet>();
  auto second = std::make_shared<v1::AggregateSet>();
  second->add_series()->set_dataset("x");
  q.PushAggregates(first);
  q.PushAggregates(second);
  auto events = TakeAll(q);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_TRUE(events[2].has_snapshot_complete());
  EXPECT_EQ(events[3].aggregates().series_size(), 1);
}

BatchPtr BatchOf(int64_t first, int n, int sources) {
  std::vector<UpdatePtr> updates;
  for (int i = 0; i < n; ++i) {
    auto u = std::make_shared<v1::Update>();
    u->set_position(first + i);
    u->set_dataset("parkering");
    u->mutable_reading()->set_source_id(absl::StrCat("s", (first + i) % sources));
    (*u->mutable_reading()->mutable_values())["ledige"].set_integer_value(first + i);
    updates.push_back(std::move(u));
  }
  return std::make_shared<const EncodedBatch>(std::move(updates));
}

TEST(SubscriberQueue, ABatchThatFitsIsOneEntryAndItsBytesAreTheMessage) {
  SubscriberQueue q(100);
  const SubscriberQueue::Outcomes outcomes = q.PushBatch(BatchOf(1, 50, 200));
  EXPECT_EQ(outcomes.queued, 50);
  EXPECT_EQ(q.queued_updates(), 50u);
  EXPECT_EQ(q.queued_events(), 1u);
  q.PushGap(v1::GAP_REASON_NOT_HELD, 50);
  q.Push(At(51, "x"));
  BorrowedResponse r;
  EXPECT_EQ(q.Take(10, &r), 50u);  // a batch is taken whole
  EXPECT_EQ(q.Take(10, &r), 2u);
  // The assembled bytes are exactly what serialising the message gives, and parse back to it.
  const std::string bytes = r.Encode();
  EXPECT_EQ(bytes, r.message().SerializeAsString());
  v1::SubscribeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  ASSERT_EQ(parsed.events_size(), 52);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(parsed.events(i).update().position(), i + 1);
    EXPECT_EQ(parsed.events(i).update().reading().values().at("ledige").integer_value(), i + 1);
  }
  EXPECT_EQ(parsed.events(50).gap().reason(), v1::GAP_REASON_NOT_HELD);
  EXPECT_EQ(parsed.events(51).update().reading().source_id(), "x");
}

TEST(SubscriberQueue, AFullQueueSplitsItsBatchesAndCoalescesToTheLatestPerSource) {
  SubscriberQueue q(60);
  q.PushBatch(BatchOf(1, 50, 20));  // positions 1-50 over 20 sources
  // 50 more do not fit: they coalesce into what is queued, source by source.
  const SubscriberQueue::Outcomes outcomes = q.PushBatch(BatchOf(51, 50, 20));
  EXPECT_EQ(outcomes.queued, 10);
  EXPECT_EQ(outcomes.coalesced, 40);
  EXPECT_EQ(outcomes.dropped, 0);
  EXPECT_EQ(q.queued_updates(), 60u);
  BorrowedResponse r;
  q.Take(1000, &r);
  EXPECT_EQ(r.Encode(), r.message().SerializeAsString());
  std::vector<int64_t> positions;
  std::map<std::string, int64_t> newest;
  for (const auto& e : r.message().events()) {
    positions.push_back(e.update().position());
    newest[e.update().reading().source_id()] = e.update().position();
  }
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
  EXPECT_EQ(std::adjacent_find(positions.begin(), positions.end()), positions.end());
  EXPECT_EQ(positions.back(), 100);
  // Every source's last value is its newest (81-100 are the last 20 positions, one per source).
  for (const auto& [source, position] : newest) EXPECT_GT(position, 80) << source;
  // Drained: whole batches are queued as one entry again.
  q.PushBatch(BatchOf(101, 50, 20));
  EXPECT_EQ(q.queued_events(), 1u);
}

TEST(SubscriberQueue, AQueuedUpdateDoesNotKeepItsWholeBatchAlive) {
  SubscriberQueue q(60);
  const BatchPtr first = BatchOf(1, 50, 20);
  q.PushBatch(first);
  EXPECT_EQ(first.use_count(), 2);  // queued whole
  q.PushBatch(BatchOf(51, 50, 20));  // full: split and coalesced
  EXPECT_EQ(first.use_count(), 1);   // its remaining updates are queued one by one
  EXPECT_EQ(q.queued_updates(), 60u);
}

}  // namespace
}  // namespace smartby::feed
