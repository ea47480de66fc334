#include <gtest/gtest.h>

#include "services/feed/store.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::feed {
namespace {

class FeedStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto store = OpenSqlFeedStore(storage::testing::NewTestDatabase(GetParam()));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
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

INSTANTIATE_TEST_SUITE_P(Engines, FeedStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

}  // namespace
}  // namespace smartby::feed
