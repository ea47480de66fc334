// The alarm observer end to end over a real store and outbox (SQLite, and PostgreSQL when
// configured): readings in, events stored, one notification per event per channel, restart.
#include "services/feed/alarm_observer.h"

#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>
#include <prometheus/registry.h>

#include <set>

#include "services/feed/channels.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::feed {
namespace {

using google::protobuf::util::TimeUtil;

class RecordingSender : public ChannelSender {
 public:
  absl::Status Send(const Channel& channel, const Message& message,
                    const SendContext&) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent.push_back({channel, message});
    return absl::OkStatus();
  }
  std::mutex mu_;
  std::vector<std::pair<Channel, Message>> sent;
};

class AlarmObserverTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlFeedStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    settings_.webhook_secret = "hemmelig";
    settings_.smtp.host = "127.0.0.1";
    settings_.smtp.port = 2525;
    settings_.smtp.from = "alarm@smartby.test";
    directory_ = std::make_unique<StoreChannelDirectory>(store_.get(), &settings_);
    notifier_ = std::make_unique<Notifier>(db_, &clock_, directory_.get(), &sender_, registry_);
    v1::Channel web;
    web.set_id("ch-web");
    web.set_kind(v1::CHANNEL_KIND_WEBHOOK);
    web.set_target("https://drift.example.no/hook");
    ASSERT_TRUE(store_->CreateChannel(web).ok());
    v1::Channel mail;
    mail.set_id("ch-mail");
    mail.set_kind(v1::CHANNEL_KIND_EMAIL);
    mail.set_target("vakt@stavanger.kommune.no");
    ASSERT_TRUE(store_->CreateChannel(mail).ok());
  }

  static v1::AlarmRule AboveRule() {
    v1::AlarmRule rule;
    rule.set_id("rule-fyll");
    rule.set_dataset("avfall");
    rule.set_field("fill_level");
    rule.set_kind(v1::ALARM_KIND_ABOVE);
    rule.set_upper(80);
    rule.set_hysteresis(5);
    rule.add_channels("ch-web");
    rule.add_channels("ch-mail");
    return rule;
  }

  PositionedReading Reading(double value) {
    PositionedReading r;
    r.set_position(++position_);
    r.set_dataset("avfall");
    r.mutable_reading()->set_source_id("container-7");
    *r.mutable_reading()->mutable_time() =
        TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(clock_.Now()));
    (*r.mutable_reading()->mutable_values())["fill_level"].set_double_value(value);
    clock_.Advance(absl::Seconds(10));
    return r;
  }

  void Feed(AlarmObserver& observer, std::vector<double> values) {
    for (double v : values) {
      PositionedReading r = Reading(v);
      observer.OnReadings({&r, 1});
    }
  }

  std::vector<v1::Alarm> Alarms(bool active_only = false) {
    auto alarms = store_->ListAlarms(PageQuery{}, active_only);
    EXPECT_TRUE(alarms.ok()) << alarms.status();
    return alarms.ok() ? *alarms : std::vector<v1::Alarm>{};
  }

  std::set<std::string> ListDeliveryKeys() {
    std::set<std::string> keys;
    auto deliveries = notifier_->ListDeliveries();
    EXPECT_TRUE(deliveries.ok()) << deliveries.status();
    if (!deliveries.ok()) return keys;
    for (const Delivery& d : *deliveries) keys.insert(d.dedup_key);
    return keys;
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<FeedStore> store_;
  SettableClock clock_{absl::FromUnixSeconds(1'780'000'000)};
  ChannelSettings settings_;
  std::unique_ptr<StoreChannelDirectory> directory_;
  RecordingSender sender_;
  prometheus::Registry registry_;
  std::unique_ptr<Notifier> notifier_;
  int64_t position_ = 0;
};

TEST_P(AlarmObserverTest, ThresholdWithHysteresisRaisesOnceClearsAndNotifiesEveryChannel) {
  AlarmObserver observer(store_.get(), notifier_.get(), &clock_);
  ASSERT_TRUE(observer.Start().ok());
  ASSERT_TRUE(store_->CreateAlarmRule(AboveRule()).ok());
  ASSERT_TRUE(observer.RuleCreated(AboveRule()).ok());

  Feed(observer, {70, 85, 84, 83, 90});
  std::vector<v1::Alarm> alarms = Alarms(/*active_only=*/true);
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0].state(), v1::ALARM_STATE_RAISED);
  EXPECT_EQ(alarms[0].value(), 85);
  EXPECT_EQ(alarms[0].rule_id(), "rule-fyll");
  EXPECT_EQ(alarms[0].source_id(), "container-7");
  EXPECT_EQ(observer.ActiveAlarms().size(), 1u);

  Feed(observer, {78});  // inside the hysteresis band: still active
  EXPECT_EQ(Alarms(true).size(), 1u);
  Feed(observer, {74});  // below 80 - 5: cleared
  EXPECT_TRUE(Alarms(true).empty());
  alarms = Alarms();
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0].state(), v1::ALARM_STATE_CLEARED);
  EXPECT_TRUE(alarms[0].has_clear_time());
  EXPECT_EQ(alarms[0].value(), 85);

  // One delivery per event per channel, deduplicated by alarm / event / channel.
  auto deliveries = notifier_->ListDeliveries();
  ASSERT_TRUE(deliveries.ok()) << deliveries.status();
  ASSERT_EQ(deliveries->size(), 4u);
  std::set<std::string> keys;
  for (const Delivery& d : *deliveries) keys.insert(d.dedup_key);
  const std::string id = alarms[0].id();
  EXPECT_EQ(keys, (std::set<std::string>{id + "/raised/ch-web", id + "/raised/ch-mail",
                                         id + "/cleared/ch-web", id + "/cleared/ch-mail"}));
  // The outbox's worker sends them (the observer never does).
  EXPECT_TRUE(sender_.sent.empty());
  auto attempted = notifier_->DeliverDue();
  ASSERT_TRUE(attempted.ok()) << attempted.status();
  EXPECT_EQ(*attempted, 4);
  ASSERT_EQ(sender_.sent.size(), 4u);
  int mails = 0;
  for (const auto& [channel, message] : sender_.sent) {
    if (channel.type == ChannelType::kEmail) {
      ++mails;
      EXPECT_EQ(channel.email.to, std::vector<std::string>{"vakt@stavanger.kommune.no"});
      EXPECT_EQ(channel.email.host, "127.0.0.1");
    } else {
      EXPECT_EQ(channel.webhook.url, "https://drift.example.no/hook");
      EXPECT_EQ(channel.webhook.secret, "hemmelig");
    }
  }
  EXPECT_EQ(mails, 2);
}

TEST_P(AlarmObserverTest, ForDurationRaisesOnTickAndAcknowledgementIsStoredAndNotified) {
  v1::AlarmRule rule = AboveRule();
  rule.mutable_for_duration()->set_seconds(30);
  rule.clear_channels();
  rule.add_channels("ch-web");
  ASSERT_TRUE(store_->CreateAlarmRule(rule).ok());
  AlarmObserver observer(store_.get(), notifier_.get(), &clock_);
  std::vector<v1::AlarmEvent> streamed;  // what the hub would put on the streams
  observer.SetListener([&](const v1::AlarmEvent& e) { streamed.push_back(e); });
  ASSERT_TRUE(observer.Start().ok());  // the rule comes from the store

  Feed(observer, {90});  // breaching, "for" running
  observer.Tick();
  EXPECT_TRUE(Alarms().empty());
  clock_.Advance(absl::Seconds(30));
  observer.Tick();
  std::vector<v1::Alarm> alarms = Alarms(true);
  ASSERT_EQ(alarms.size(), 1u);

  auto acked = observer.Acknowledge(alarms[0].id(), "user:kari");
  ASSERT_TRUE(acked.ok()) << acked.status();
  EXPECT_EQ(acked->acknowledged_by(), "user:kari");
  EXPECT_EQ(acked->state(), v1::ALARM_STATE_RAISED);
  EXPECT_TRUE(acked->has_acknowledge_time());
  auto again = observer.Acknowledge(alarms[0].id(), "user:per");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->acknowledged_by(), "user:kari");  // the first acknowledgement stays
  EXPECT_EQ(observer.Acknowledge("rule-fyll:nope:1", "user:kari").status().code(),
            absl::StatusCode::kNotFound);

  auto deliveries = notifier_->ListDeliveries();
  ASSERT_TRUE(deliveries.ok());
  EXPECT_EQ(deliveries->size(), 2u);  // raised, acknowledged

  ASSERT_EQ(streamed.size(), 2u);
  EXPECT_EQ(streamed[0].kind(), v1::ALARM_EVENT_KIND_RAISED);
  EXPECT_EQ(streamed[0].alarm().state(), v1::ALARM_STATE_RAISED);
  EXPECT_EQ(streamed[0].rule().id(), rule.id());
  EXPECT_EQ(streamed[0].rule().channels_size(), 0);  // channels stay inside the service
  EXPECT_EQ(streamed[1].kind(), v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
  EXPECT_EQ(streamed[1].alarm().acknowledged_by(), "user:kari");
}

TEST_P(AlarmObserverTest, ActiveAlarmSurvivesARestartAndDeletingTheRuleClearsIt) {
  ASSERT_TRUE(store_->CreateAlarmRule(AboveRule()).ok());
  {
    AlarmObserver observer(store_.get(), notifier_.get(), &clock_);
    ASSERT_TRUE(observer.Start().ok());
    Feed(observer, {95});
  }
  AlarmObserver restarted(store_.get(), notifier_.get(), &clock_);
  ASSERT_TRUE(restarted.Start().ok());
  ASSERT_EQ(restarted.ActiveAlarms().size(), 1u);
  Feed(restarted, {92});  // still active: no second raise
  EXPECT_EQ(Alarms().size(), 1u);
  ASSERT_TRUE(store_->DeleteAlarmRule("rule-fyll").ok());
  ASSERT_TRUE(restarted.RuleDeleted("rule-fyll").ok());
  EXPECT_TRUE(Alarms(true).empty());
  std::vector<v1::Alarm> alarms = Alarms();
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0].state(), v1::ALARM_STATE_CLEARED);
  auto deliveries = notifier_->ListDeliveries();
  ASSERT_TRUE(deliveries.ok());
  EXPECT_EQ(deliveries->size(), 4u);  // raised and cleared, two channels each
}

// Two replicas over one store: observers with their own instance names, fed the same readings
// as two feed processes following ingestion would be.
TEST_P(AlarmObserverTest, OnlyTheLeaseHolderEvaluatesAndAnAcknowledgementSurvivesItsClear) {
  ASSERT_TRUE(store_->CreateAlarmRule(AboveRule()).ok());
  prometheus::Registry metrics_a, metrics_b;
  AlarmObserver a(store_.get(), notifier_.get(), &clock_, {.instance = "feed-a"}, &metrics_a);
  AlarmObserver b(store_.get(), notifier_.get(), &clock_, {.instance = "feed-b"}, &metrics_b);
  std::vector<v1::AlarmEvent> streamed_by_b;
  b.SetListener([&](const v1::AlarmEvent& e) { streamed_by_b.push_back(e); });
  a.MaintainLease();
  b.MaintainLease();
  EXPECT_TRUE(a.leading());
  EXPECT_FALSE(b.leading());

  auto both = [&](std::vector<double> values) {
    for (double v : values) {
      PositionedReading r = Reading(v);
      a.OnReadings({&r, 1});
      b.OnReadings({&r, 1});
    }
  };
  both({70, 85, 84});
  std::vector<v1::Alarm> alarms = Alarms(true);
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(ListDeliveryKeys().size(), 2u) << "one raise, two channels: not one per replica";
  EXPECT_TRUE(b.ActiveAlarms().empty());

  // The replica that did not write it still streams it.
  b.PublishNewEvents();
  ASSERT_EQ(streamed_by_b.size(), 1u);
  EXPECT_EQ(streamed_by_b[0].kind(), v1::ALARM_EVENT_KIND_RAISED);
  EXPECT_EQ(streamed_by_b[0].alarm().id(), alarms[0].id());

  // Acknowledged through the replica that does not evaluate; the holder's clear keeps it.
  absl::StatusOr<v1::Alarm> acked = b.Acknowledge(alarms[0].id(), "user:kari");
  ASSERT_TRUE(acked.ok()) << acked.status();
  EXPECT_EQ(acked->acknowledged_by(), "user:kari");
  both({74});
  absl::StatusOr<v1::Alarm> stored = store_->GetAlarm(alarms[0].id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), v1::ALARM_STATE_CLEARED);
  EXPECT_EQ(stored->acknowledged_by(), "user:kari");
  EXPECT_EQ(ListDeliveryKeys(),
            (std::set<std::string>{alarms[0].id() + "/raised/ch-web",
                                   alarms[0].id() + "/raised/ch-mail",
                                   alarms[0].id() + "/acknowledged/ch-web",
                                   alarms[0].id() + "/acknowledged/ch-mail",
                                   alarms[0].id() + "/cleared/ch-web",
                                   alarms[0].id() + "/cleared/ch-mail"}));
  b.PublishNewEvents();
  ASSERT_EQ(streamed_by_b.size(), 3u);
  EXPECT_EQ(streamed_by_b[1].kind(), v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
  EXPECT_EQ(streamed_by_b[2].kind(), v1::ALARM_EVENT_KIND_CLEARED);
}

TEST_P(AlarmObserverTest, AnotherReplicaTakesOverWhenTheLeaseExpiresAndEvaluatesWhatWasMissed) {
  ASSERT_TRUE(store_->CreateAlarmRule(AboveRule()).ok());
  // Each reading moves the test clock on 10 s.
  const AlarmObserverOptions options_a{.instance = "feed-a", .lease_ttl = absl::Seconds(100)};
  const AlarmObserverOptions options_b{.instance = "feed-b", .lease_ttl = absl::Seconds(100)};
  AlarmObserver a(store_.get(), notifier_.get(), &clock_, options_a);
  AlarmObserver b(store_.get(), notifier_.get(), &clock_, options_b);
  a.MaintainLease();
  b.MaintainLease();
  ASSERT_TRUE(a.leading());

  PositionedReading r1 = Reading(95);  // raises, evaluated by a
  a.OnReadings({&r1, 1});
  b.OnReadings({&r1, 1});
  EXPECT_EQ(a.EvaluatedUpTo(), r1.position());
  EXPECT_EQ(b.EvaluatedUpTo(), 0) << "b evaluates nothing: its hand-over records nothing";
  ASSERT_TRUE(store_->SetHandoverPosition(r1.position()).ok());  // a's hand-over checkpoint
  b.MaintainLease();  // not the holder: lets go of what a recorded as evaluated
  ASSERT_FALSE(b.leading());

  // a stops (crashed: it neither renews nor sees more readings). b holds what comes meanwhile.
  PositionedReading r2 = Reading(70);   // clears
  PositionedReading r3 = Reading(99);   // raises again
  b.OnReadings({&r2, 1});
  b.OnReadings({&r3, 1});
  clock_.Advance(absl::Seconds(40));  // 70 s after a took it: b may not take it yet
  b.MaintainLease();
  EXPECT_FALSE(b.leading());
  EXPECT_EQ(Alarms().size(), 1u);
  clock_.Advance(absl::Seconds(40));
  b.MaintainLease();
  ASSERT_TRUE(b.leading());

  // b loaded the active alarm (not raised again) and evaluated r2 and r3 on taking over.
  std::vector<v1::Alarm> alarms = Alarms();
  ASSERT_EQ(alarms.size(), 2u);
  int active = 0;
  for (const v1::Alarm& alarm : alarms) active += alarm.state() == v1::ALARM_STATE_RAISED;
  EXPECT_EQ(active, 1);
  EXPECT_EQ(b.ActiveAlarms().size(), 1u);
  EXPECT_EQ(b.EvaluatedUpTo(), r3.position());
  // Fed again (at least once from the hand-over), the same readings change nothing.
  b.OnReadings({&r3, 1});
  EXPECT_EQ(Alarms().size(), 2u);
  EXPECT_EQ(ListDeliveryKeys().size(), 6u);  // raised, cleared, raised; two channels each

  // a comes back: b holds the lease, so a stops evaluating.
  a.MaintainLease();
  EXPECT_FALSE(a.leading());
  EXPECT_TRUE(a.ActiveAlarms().empty());
  EXPECT_EQ(a.EvaluatedUpTo(), 0);
  PositionedReading r4 = Reading(50);
  a.OnReadings({&r4, 1});
  EXPECT_EQ(Alarms(true).size(), 1u) << "a no longer clears anything";
}

TEST_P(AlarmObserverTest, RuleCreatedThroughAnotherReplicaReachesTheHolderOnTick) {
  AlarmObserver a(store_.get(), notifier_.get(), &clock_, {.instance = "feed-a"});
  AlarmObserver b(store_.get(), notifier_.get(), &clock_, {.instance = "feed-b"});
  a.MaintainLease();
  b.MaintainLease();
  ASSERT_TRUE(a.leading());
  ASSERT_TRUE(store_->CreateAlarmRule(AboveRule()).ok());
  ASSERT_TRUE(b.RuleCreated(AboveRule()).ok());  // asked through b, which does not evaluate
  Feed(a, {90});
  EXPECT_TRUE(Alarms().empty()) << "a has not looked at the rules yet";
  a.Tick();
  Feed(a, {70, 91});
  ASSERT_EQ(Alarms(true).size(), 1u);
  // Deleted through b: a clears its alarm on the next Tick.
  ASSERT_TRUE(store_->DeleteAlarmRule("rule-fyll").ok());
  ASSERT_TRUE(b.RuleDeleted("rule-fyll").ok());
  EXPECT_EQ(Alarms(true).size(), 1u);
  a.Tick();
  EXPECT_TRUE(Alarms(true).empty());
}

TEST_P(AlarmObserverTest, CheckRuleRefusesWhatTheEngineCannotEvaluate) {
  AlarmObserver observer(store_.get(), notifier_.get(), &clock_);
  v1::AlarmRule rule = AboveRule();
  rule.set_kind(v1::ALARM_KIND_OUTSIDE);
  rule.set_lower(70);
  rule.set_upper(80);
  rule.set_hysteresis(6);  // 2 * 6 >= 80 - 70
  EXPECT_EQ(observer.CheckRule(rule).code(), absl::StatusCode::kInvalidArgument);
  rule.set_hysteresis(2);
  EXPECT_TRUE(observer.CheckRule(rule).ok());
}

TEST(ChannelTester, ReportsAMissingRelayInPlainLanguage) {
  ChannelSettings settings;  // no SMTP relay
  RecordingSender sender;
  SettableClock clock(absl::FromUnixSeconds(1'780'000'000));
  NotifierChannelTester tester(&settings, &sender, &clock);
  v1::Channel mail;
  mail.set_id("ch-mail");
  mail.set_kind(v1::CHANNEL_KIND_EMAIL);
  mail.set_target("vakt@stavanger.kommune.no");
  auto result = tester.Test(mail);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->delivered());
  EXPECT_NE(result->detail().find("--smtp_server"), std::string::npos) << result->detail();
  v1::Channel web;
  web.set_id("ch-web");
  web.set_kind(v1::CHANNEL_KIND_WEBHOOK);
  web.set_target("https://drift.example.no/hook");
  result = tester.Test(web);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->delivered()) << result->detail();
  ASSERT_EQ(sender.sent.size(), 1u);
  EXPECT_NE(sender.sent[0].second.json.find("\"type\":\"test\""), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Engines, AlarmObserverTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

}  // namespace
}  // namespace smartby::feed
