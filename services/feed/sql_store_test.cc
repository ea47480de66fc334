#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/feed/store.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::feed {
namespace {

class FeedStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlFeedStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Every stored row's text, whatever the table: where a secret must not be.
  std::string AllObjectText() {
    std::string all;
    absl::Status read = db_->InTransaction([&](storage::Transaction& tx) -> absl::Status {
      absl::StatusOr<storage::Rows> rows = tx.Query("SELECT kind, id, dataset, doc FROM objects");
      if (!rows.ok()) return rows.status();
      for (const storage::Row& row : *rows) {
        std::string doc;
        EXPECT_TRUE(absl::Base64Unescape(row.String(3), &doc));
        absl::StrAppend(&all, row.String(0), "|", row.String(1), "|", row.String(2), "|", doc,
                        "\n");
      }
      return absl::OkStatus();
    });
    EXPECT_TRUE(read.ok()) << read;
    return all;
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<FeedStore> store_;
};

TEST_P(FeedStoreTest, HandoverPositionOnlyGrows) {
  EXPECT_EQ(*store_->HandoverPosition(), 0);
  ASSERT_TRUE(store_->SetHandoverPosition(42).ok());
  ASSERT_TRUE(store_->SetHandoverPosition(7).ok());
  EXPECT_EQ(*store_->HandoverPosition(), 42);
}

TEST_P(FeedStoreTest, KpisAreCreatedOnceListedByDatasetInPagesAndDeleted) {
  for (const char* name : {"b-kpi", "a-kpi", "c-kpi"}) {
    v1::Kpi kpi;
    kpi.set_name(name);
    kpi.set_dataset(std::string(name) == "c-kpi" ? "vann" : "parkering");
    kpi.set_expression("sum(last(free_spaces))");
    ASSERT_TRUE(store_->CreateKpi(kpi).ok());
  }
  v1::Kpi again;
  again.set_name("a-kpi");
  EXPECT_EQ(store_->CreateKpi(again).code(), absl::StatusCode::kAlreadyExists);
  auto first = store_->ListKpis({"parkering", "", 1});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].name(), "a-kpi");
  auto second = store_->ListKpis({"parkering", "a-kpi", 10});
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].name(), "b-kpi");
  EXPECT_EQ(store_->ListKpis({"", "", 10})->size(), 3u);
  EXPECT_EQ(store_->GetKpi("c-kpi")->dataset(), "vann");
  ASSERT_TRUE(store_->DeleteKpi("c-kpi").ok());
  EXPECT_EQ(store_->DeleteKpi("c-kpi").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetKpi("c-kpi").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(FeedStoreTest, RulesChannelsAndAlarms) {
  v1::Channel channel;
  channel.set_id("channel-1");
  channel.set_kind(v1::CHANNEL_KIND_EMAIL);
  channel.set_target("drift@kommune.no");
  ASSERT_TRUE(store_->CreateChannel(channel).ok());
  EXPECT_EQ(store_->ListChannels({})->size(), 1u);
  v1::AlarmRule rule;
  rule.set_id("rule-1");
  rule.set_dataset("vann");
  rule.add_channels("channel-1");
  ASSERT_TRUE(store_->CreateAlarmRule(rule).ok());
  EXPECT_EQ(store_->GetAlarmRule("rule-1")->channels(0), "channel-1");
  EXPECT_EQ(store_->ListAlarmRules({"vann", "", 10})->size(), 1u);
  ASSERT_TRUE(store_->DeleteAlarmRule("rule-1").ok());
  EXPECT_TRUE(store_->ListAlarmRules({})->empty());

  v1::Alarm alarm;
  alarm.set_id("alarm-1");
  alarm.set_dataset("vann");
  alarm.set_state(v1::ALARM_STATE_RAISED);
  ASSERT_TRUE(store_->PutAlarm(alarm).ok());
  alarm.set_id("alarm-2");
  ASSERT_TRUE(store_->PutAlarm(alarm).ok());
  alarm.set_state(v1::ALARM_STATE_CLEARED);
  ASSERT_TRUE(store_->PutAlarm(alarm).ok());  // replaces alarm-2
  EXPECT_EQ(store_->ListAlarms({}, true)->size(), 1u);
  EXPECT_EQ(store_->ListAlarms({}, false)->size(), 2u);
  EXPECT_EQ(store_->GetAlarm("alarm-2")->state(), v1::ALARM_STATE_CLEARED);
}

TEST_P(FeedStoreTest, ChannelSecretIsStoredApartAndNeverReturnedWithTheChannel) {
  const std::string secret = "kanal-hemmelighet-0123456789abcdef-\xc3\xa6\xc3\xb8";
  v1::Channel signed_channel;
  signed_channel.set_id("channel-signed");
  signed_channel.set_kind(v1::CHANNEL_KIND_WEBHOOK);
  signed_channel.set_target("https://vakt.kommune.no/hook");
  signed_channel.set_secret(secret);
  ASSERT_TRUE(store_->CreateChannel(signed_channel).ok());
  v1::Channel plain = signed_channel;
  plain.set_id("channel-plain");
  plain.clear_secret();
  ASSERT_TRUE(store_->CreateChannel(plain).ok());

  absl::StatusOr<v1::Channel> got = store_->GetChannel("channel-signed");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->secret().empty());
  EXPECT_TRUE(got->has_secret());
  EXPECT_EQ(got->target(), "https://vakt.kommune.no/hook");
  absl::StatusOr<std::vector<v1::Channel>> listed = store_->ListChannels({});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id(), "channel-plain");
  EXPECT_FALSE((*listed)[0].has_secret());
  EXPECT_TRUE((*listed)[1].has_secret());
  for (const v1::Channel& c : *listed) EXPECT_TRUE(c.secret().empty()) << c.id();
  EXPECT_FALSE(absl::StrContains(AllObjectText(), secret)) << "the key is not in the channel row";

  EXPECT_EQ(*store_->ChannelSecret("channel-signed"), secret);
  EXPECT_EQ(*store_->ChannelSecret("channel-plain"), "");
  EXPECT_EQ(*store_->ChannelSecret("no-such-channel"), "");

  // Creating the id again fails as a whole: the first key stays.
  signed_channel.set_secret(std::string(40, 'x'));
  EXPECT_EQ(store_->CreateChannel(signed_channel).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*store_->ChannelSecret("channel-signed"), secret);
}

TEST_P(FeedStoreTest, LeaseHasOneHolderUntilItExpiresOrIsReleased) {
  // A second store over the same database stands for a second replica.
  auto other = OpenSqlFeedStore(db_);
  ASSERT_TRUE(other.ok()) << other.status();
  const absl::Time t0 = absl::FromUnixSeconds(1'780'000'000);
  const absl::Duration ttl = absl::Seconds(15);
  EXPECT_EQ(*store_->AcquireLease("alarms", "feed-a", t0, ttl), true);
  EXPECT_EQ(*(*other)->AcquireLease("alarms", "feed-b", t0 + absl::Seconds(1), ttl), false);
  // Renewed by its holder: still not free when the first term would have ended.
  EXPECT_EQ(*store_->AcquireLease("alarms", "feed-a", t0 + absl::Seconds(10), ttl), true);
  EXPECT_EQ(*(*other)->AcquireLease("alarms", "feed-b", t0 + absl::Seconds(20), ttl), false);
  // Another lease name is independent.
  EXPECT_EQ(*(*other)->AcquireLease("other", "feed-b", t0, ttl), true);
  // Not renewed: after it expires the other replica takes it, and the first cannot renew.
  EXPECT_EQ(*(*other)->AcquireLease("alarms", "feed-b", t0 + absl::Seconds(26), ttl), true);
  EXPECT_EQ(*store_->AcquireLease("alarms", "feed-a", t0 + absl::Seconds(27), ttl), false);
  // Released by someone who does not hold it: nothing changes; by its holder: free at once.
  ASSERT_TRUE(store_->ReleaseLease("alarms", "feed-a").ok());
  EXPECT_EQ(*store_->AcquireLease("alarms", "feed-a", t0 + absl::Seconds(28), ttl), false);
  ASSERT_TRUE((*other)->ReleaseLease("alarms", "feed-b").ok());
  EXPECT_EQ(*store_->AcquireLease("alarms", "feed-a", t0 + absl::Seconds(28), ttl), true);
}

TEST_P(FeedStoreTest, AlarmWritesAreCompareAndSetAndLogTheirEvents) {
  EXPECT_EQ(*store_->LastAlarmEventId(), 0);
  v1::Alarm alarm;
  alarm.set_id("rule-1:kum-3:1780000000000000");
  alarm.set_dataset("vann");
  alarm.set_state(v1::ALARM_STATE_RAISED);
  v1::AlarmEvent raised;
  raised.set_kind(v1::ALARM_EVENT_KIND_RAISED);
  *raised.mutable_alarm() = alarm;
  ASSERT_TRUE(store_->CompareAndPutAlarm(alarm, 0, &raised).ok());
  // A second raise of the same alarm (another replica, or the same readings again) is refused
  // and logs nothing.
  EXPECT_EQ(store_->CompareAndPutAlarm(alarm, 0, &raised).code(), absl::StatusCode::kAborted);

  absl::StatusOr<VersionedAlarm> read_by_ack = store_->GetVersionedAlarm(alarm.id());
  ASSERT_TRUE(read_by_ack.ok()) << read_by_ack.status();
  const VersionedAlarm read_by_clear = *read_by_ack;
  EXPECT_EQ(read_by_ack->alarm.state(), v1::ALARM_STATE_RAISED);

  // The acknowledgement is written first; the clear, prepared from the same version, loses.
  v1::Alarm acked = read_by_ack->alarm;
  acked.set_acknowledged_by("user:kari");
  v1::AlarmEvent ack_event;
  ack_event.set_kind(v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
  *ack_event.mutable_alarm() = acked;
  ASSERT_TRUE(store_->CompareAndPutAlarm(acked, read_by_ack->version, &ack_event).ok());
  v1::Alarm cleared = read_by_clear.alarm;
  cleared.set_state(v1::ALARM_STATE_CLEARED);
  v1::AlarmEvent clear_event;
  clear_event.set_kind(v1::ALARM_EVENT_KIND_CLEARED);
  *clear_event.mutable_alarm() = cleared;
  EXPECT_EQ(store_->CompareAndPutAlarm(cleared, read_by_clear.version, &clear_event).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(store_->GetAlarm(alarm.id())->acknowledged_by(), "user:kari");
  EXPECT_EQ(store_->ListAlarms({}, true)->size(), 1u);

  // Read again and retried: the clear keeps the acknowledgement.
  absl::StatusOr<VersionedAlarm> again = store_->GetVersionedAlarm(alarm.id());
  ASSERT_TRUE(again.ok());
  EXPECT_GT(again->version, read_by_clear.version);
  cleared = again->alarm;
  cleared.set_state(v1::ALARM_STATE_CLEARED);
  *clear_event.mutable_alarm() = cleared;
  ASSERT_TRUE(store_->CompareAndPutAlarm(cleared, again->version, &clear_event).ok());
  EXPECT_TRUE(store_->ListAlarms({}, true)->empty());
  EXPECT_EQ(store_->GetAlarm(alarm.id())->acknowledged_by(), "user:kari");

  // The log holds the three writes that won, in order; readers page through it by id.
  EXPECT_EQ(*store_->LastAlarmEventId(), 3);
  absl::StatusOr<std::vector<StoredAlarmEvent>> log = store_->AlarmEventsAfter(0, 10);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 3u);
  EXPECT_EQ((*log)[0].event.kind(), v1::ALARM_EVENT_KIND_RAISED);
  EXPECT_EQ((*log)[1].event.kind(), v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
  EXPECT_EQ((*log)[2].event.kind(), v1::ALARM_EVENT_KIND_CLEARED);
  EXPECT_EQ((*log)[2].event.alarm().acknowledged_by(), "user:kari");
  EXPECT_LT((*log)[0].id, (*log)[1].id);
  EXPECT_LT((*log)[1].id, (*log)[2].id);
  absl::StatusOr<std::vector<StoredAlarmEvent>> rest = store_->AlarmEventsAfter((*log)[0].id, 1);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].id, (*log)[1].id);
  EXPECT_TRUE(store_->AlarmEventsAfter((*log)[2].id, 10)->empty());

  // A write without an event (acknowledging a cleared alarm) logs nothing.
  again = store_->GetVersionedAlarm(alarm.id());
  ASSERT_TRUE(store_->CompareAndPutAlarm(again->alarm, again->version, nullptr).ok());
  EXPECT_EQ(*store_->LastAlarmEventId(), 3);
  EXPECT_EQ(store_->GetVersionedAlarm("no-such-alarm").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(FeedStoreTest, ConcurrentWritersLogEveryEventOnceWithIncreasingIds) {
  // Two writers (replicas) acknowledging and re-raising different alarms at the same time: every
  // write that won is logged once, and the ids a poller sees never go back.
  constexpr int kPerWriter = 20;
  auto write = [this](const std::string& prefix) {
    for (int i = 0; i < kPerWriter; ++i) {
      v1::Alarm alarm;
      alarm.set_id(absl::StrCat(prefix, i));
      alarm.set_state(v1::ALARM_STATE_RAISED);
      v1::AlarmEvent event;
      *event.mutable_alarm() = alarm;
      EXPECT_TRUE(store_->CompareAndPutAlarm(alarm, 0, &event).ok());
    }
  };
  std::thread a(write, "a-"), b(write, "b-");
  a.join();
  b.join();
  absl::StatusOr<std::vector<StoredAlarmEvent>> log = store_->AlarmEventsAfter(0, 100);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 2u * kPerWriter);
  for (size_t i = 0; i < log->size(); ++i) EXPECT_EQ((*log)[i].id, static_cast<int64_t>(i) + 1);
}

INSTANTIATE_TEST_SUITE_P(Engines, FeedStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

}  // namespace
}  // namespace smartby::feed
