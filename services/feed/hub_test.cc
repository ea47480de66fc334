#include "services/feed/hub.h"

#include <gtest/gtest.h>

#include <atomic>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "services/runtime/auth/test_callers.h"

namespace smartby::feed {
namespace {

using smartcity::common::v1::CLASSIFICATION_OPEN;
using smartcity::common::v1::CLASSIFICATION_PROTECTED;

class FixedResolver : public DatasetResolver {
 public:
  auth::ResourceRef Resolve(const std::string& dataset,
                            smartcity::common::v1::Classification c) override {
    auth::ResourceRef ref;
    ref.dataset = dataset;
    ref.classification = dataset == "vann" ? CLASSIFICATION_PROTECTED : CLASSIFICATION_OPEN;
    ref.published = true;
    ref.owner_organization = "Stavanger kommune";
    return ref;
  }
  std::optional<smartcity::common::v1::GeoPoint> SourcePosition(const std::string&) override {
    return std::nullopt;
  }
};

std::vector<PositionedReading> Batch(int64_t from, int n, const std::string& dataset,
                                     int sources = 10) {
  std::vector<PositionedReading> out;
  for (int i = 0; i < n; ++i) {
    PositionedReading r;
    r.set_position(from + i);
    r.set_dataset(dataset);
    r.mutable_reading()->set_source_id(absl::StrCat(dataset, "-", (from + i) % sources));
    *r.mutable_reading()->mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
    (*r.mutable_reading()->mutable_values())["free_spaces"].set_integer_value(from + i);
    *r.mutable_accept_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
    out.push_back(std::move(r));
  }
  return out;
}

class HubTest : public ::testing::Test {
 protected:
  HubTest() : hub_(Options(), &resolver_, &clock_, &registry_) {}
  static HubOptions Options() {
    HubOptions o;
    o.queue_capacity = 8;
    o.ring_capacity = 100;
    return o;
  }
  std::vector<v1::FeedEvent> Drain(Subscriber& s) {
    BorrowedResponse r;
    while (s.Take(1000, &r) > 0) {
    }
    return {r.message().events().begin(), r.message().events().end()};  // copies
  }
  prometheus::Registry registry_;
  SystemClock clock_;
  FixedResolver resolver_;
  Hub hub_;
};

TEST_F(HubTest, StalledSubscriberNeitherBlocksPublishNorTheOtherSubscriber) {
  auto stalled = hub_.Subscribe({}, auth::Caller::Anonymous(), [] {});
  std::vector<int64_t> got;
  std::shared_ptr<Subscriber> fast;
  fast = hub_.Subscribe({}, auth::Caller::Anonymous(), [] {});
  int64_t position = 1;
  for (int round = 0; round < 10000; ++round) {
    hub_.Publish(Batch(position, 5, "parkering"));
    position += 5;
    for (const auto& e : Drain(*fast)) {
      if (e.has_update()) got.push_back(e.update().position());
    }
  }
  ASSERT_EQ(got.size(), 50000u);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<int64_t>(i + 1));
  EXPECT_LE(stalled->queued_updates(), 8u);
  EXPECT_GT(stalled->coalesced(), 0);
}

TEST_F(HubTest, StalledSubscriberWithManySourcesGetsAGapAndACount) {
  auto stalled = hub_.Subscribe({}, auth::Caller::Anonymous(), [] {});
  hub_.Publish(Batch(1, 100, "parkering", 100));
  EXPECT_EQ(stalled->dropped(), 92);
  auto events = Drain(*stalled);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.back().has_gap());
  EXPECT_EQ(events.back().gap().dropped(), 92);
}

TEST_F(HubTest, SnapshotThenUpdatesAndResumeFromAHeldPosition) {
  hub_.Publish(Batch(1, 20, "parkering"));
  auto s = hub_.Subscribe({}, auth::Caller::Anonymous(), [] {});
  auto events = Drain(*s);
  ASSERT_EQ(events.size(), 11u);  // 10 sources' last values + SnapshotComplete
  EXPECT_TRUE(events[0].update().snapshot());
  EXPECT_EQ(events[0].update().position(), 11);
  EXPECT_EQ(events[10].snapshot_complete().position(), 20);

  v1::SubscribeRequest resume;
  resume.set_resume_after(15);
  auto r = hub_.Subscribe(resume, auth::Caller::Anonymous(), [] {});
  auto replay = Drain(*r);
  ASSERT_EQ(replay.size(), 5u);
  EXPECT_EQ(replay[0].update().position(), 16);
  EXPECT_FALSE(replay[0].update().snapshot());
}

TEST_F(HubTest, ResumeFromAPositionNoLongerHeldGetsAGapThenASnapshot) {
  hub_.Publish(Batch(1, 300, "parkering"));  // the ring holds 100
  v1::SubscribeRequest resume;
  resume.set_resume_after(5);
  auto s = hub_.Subscribe(resume, auth::Caller::Anonymous(), [] {});
  auto events = Drain(*s);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].gap().reason(), v1::GAP_REASON_NOT_HELD);
  EXPECT_EQ(events[0].gap().after_position(), 5);
  EXPECT_TRUE(events[1].update().snapshot());
}

TEST_F(HubTest, AnonymousNeverGetsAProtectedDatasetButAClearedReaderDoes) {
  auto anonymous = hub_.Subscribe({}, auth::Caller::Anonymous(), [] {});
  hub_.Publish(Batch(1, 5, "vann"));
  hub_.Publish(Batch(6, 5, "parkering"));
  for (const auto& e : Drain(*anonymous)) {
    if (e.has_update()) {
      EXPECT_EQ(e.update().dataset(), "parkering");
    }
  }
  auto cleared = hub_.Subscribe({}, auth::testing::AdminCaller(), [] {});
  int vann = 0;
  for (const auto& e : Drain(*cleared)) vann += e.update().dataset() == "vann";
  EXPECT_EQ(vann, 5);
}

TEST_F(HubTest, FilterBySourceAndFieldProjectsTheReading) {
  v1::SubscribeRequest request;
  request.mutable_filter()->add_source_ids("parkering-3");
  request.mutable_filter()->add_fields("free_spaces");
  auto s = hub_.Subscribe(request, auth::Caller::Anonymous(), [] {});
  hub_.Publish(Batch(1, 20, "parkering"));
  int updates = 0;
  for (const auto& e : Drain(*s)) {
    if (!e.has_update()) continue;
    ++updates;
    EXPECT_EQ(e.update().reading().source_id(), "parkering-3");
  }
  EXPECT_EQ(updates, 2);
}

TEST_F(HubTest, AggregatesArePerSourceAndPerDataset) {
  hub_.Publish(Batch(1, 20, "parkering"));
  v1::AggregateSet set = hub_.aggregates().Query("parkering", {}, {});
  ASSERT_EQ(set.series_size(), 11);
  EXPECT_EQ(set.series(0).source_id(), "");
  EXPECT_EQ(set.series(0).windows(0).count(), 20);
  EXPECT_EQ(set.series(0).windows(0).max(), 20);
}

// After a restart the hand-over takes recent readings in again (the warm-up): a subscriber that
// resumes meanwhile gets each reading after its position exactly once, and a position from
// before the recorded one is still held.
TEST_F(HubTest, ResumeDuringTheWarmUpAfterARestartGetsEachReadingOnce) {
  hub_.Restore(30);
  hub_.WarmFrom(10);
  v1::SubscribeRequest resume;
  resume.set_resume_after(20);
  auto s = hub_.Subscribe(resume, auth::Caller::Anonymous(), [] {});
  std::vector<int64_t> got;
  for (int64_t from = 11; from <= 40; from += 5) {  // 11..30 taken in again, then new ones
    hub_.Publish(Batch(from, 5, "parkering"));
    for (const auto& e : Drain(*s)) {  // within the queue's capacity of 8
      EXPECT_FALSE(e.has_gap()) << "positions after 10 are held";
      if (e.has_update()) got.push_back(e.update().position());
    }
  }
  ASSERT_EQ(got.size(), 20u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<int64_t>(21 + i));
}


v1::AlarmEvent Alarm(const std::string& dataset, const std::string& source,
                     v1::AlarmEventKind kind) {
  v1::AlarmEvent event;
  event.set_kind(kind);
  event.mutable_alarm()->set_id(absl::StrCat("rule-1:", source, ":1"));
  event.mutable_alarm()->set_dataset(dataset);
  event.mutable_alarm()->set_source_id(source);
  event.mutable_alarm()->set_field("free_spaces");
  event.mutable_rule()->set_name("Fullt");
  return event;
}

std::vector<v1::AlarmEvent> Alarms(const std::vector<v1::FeedEvent>& events) {
  std::vector<v1::AlarmEvent> out;
  for (const auto& e : events) {
    if (e.has_alarm()) out.push_back(e.alarm());
  }
  return out;
}

TEST_F(HubTest, AlarmEventsReachOnlyStreamsThatAskedAndMayReadTheDataset) {
  v1::SubscribeRequest with_alarms;
  with_alarms.set_include_alarms(true);
  auto anonymous = hub_.Subscribe(with_alarms, auth::Caller::Anonymous(), [] {});
  auto admin = hub_.Subscribe(with_alarms, auth::testing::AdminCaller(), [] {});
  auto without = hub_.Subscribe({}, auth::testing::AdminCaller(), [] {});
  v1::SubscribeRequest other_source = with_alarms;
  other_source.mutable_filter()->add_source_ids("parkering-9");
  auto filtered = hub_.Subscribe(other_source, auth::testing::AdminCaller(), [] {});
  Drain(*anonymous), Drain(*admin), Drain(*without), Drain(*filtered);

  hub_.PublishAlarm(Alarm("parkering", "parkering-1", v1::ALARM_EVENT_KIND_RAISED));
  hub_.PublishAlarm(Alarm("vann", "vann-1", v1::ALARM_EVENT_KIND_RAISED));  // protected
  hub_.PublishAlarm(Alarm("parkering", "parkering-1", v1::ALARM_EVENT_KIND_ACKNOWLEDGED));

  auto seen = Alarms(Drain(*anonymous));
  ASSERT_EQ(seen.size(), 2u);  // never the protected dataset's alarm
  EXPECT_EQ(seen[0].kind(), v1::ALARM_EVENT_KIND_RAISED);
  EXPECT_EQ(seen[1].kind(), v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
  EXPECT_EQ(seen[0].rule().name(), "Fullt");
  EXPECT_EQ(Alarms(Drain(*admin)).size(), 3u);
  EXPECT_TRUE(Alarms(Drain(*without)).empty());
  EXPECT_TRUE(Alarms(Drain(*filtered)).empty());
}

TEST_F(HubTest, AStalledStreamKeepsTheNewestAlarmEventsAndCountsTheRest) {
  v1::SubscribeRequest with_alarms;
  with_alarms.set_include_alarms(true);
  auto stalled = hub_.Subscribe(with_alarms, auth::Caller::Anonymous(), [] {});
  Drain(*stalled);
  for (int i = 0; i < 20; ++i) {
    v1::AlarmEvent event = Alarm("parkering", absl::StrCat("parkering-", i),
                                 v1::ALARM_EVENT_KIND_RAISED);
    hub_.PublishAlarm(event);
  }
  auto seen = Alarms(Drain(*stalled));
  ASSERT_EQ(seen.size(), 8u);  // the queue's capacity
  EXPECT_EQ(seen.front().alarm().source_id(), "parkering-12");
  EXPECT_EQ(seen.back().alarm().source_id(), "parkering-19");
  EXPECT_EQ(stalled->dropped(), 12);
}

}  // namespace
}  // namespace smartby::feed
