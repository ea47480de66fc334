#include <gtest/gtest.h>

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

INSTANTIATE_TEST_SUITE_P(Engines, FeedStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

}  // namespace
}  // namespace smartby::feed
