#include "services/feed/subscriber_queue.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace smartby::feed
