#include "services/feed/alarms.h"

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::feed {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

absl::Time At(int seconds) { return kT0 + absl::Seconds(seconds); }

AlarmRule Above(double threshold, double hysteresis = 0,
                absl::Duration for_duration = absl::ZeroDuration()) {
  AlarmRule r;
  r.id = "hot";
  r.dataset = "temperature";
  r.field = "celsius";
  r.kind = AlarmKind::kAbove;
  r.threshold = threshold;
  r.hysteresis = hysteresis;
  r.for_duration = for_duration;
  return r;
}

AlarmEngine EngineWith(std::vector<AlarmRule> rules) {
  AlarmEngine engine;
  absl::StatusOr<std::vector<AlarmEvent>> set = engine.SetRules(std::move(rules), kT0);
  EXPECT_TRUE(set.ok()) << set.status();
  return engine;
}

std::vector<AlarmEvent> Feed(AlarmEngine& engine, const std::string& source, double value,
                             absl::Time t) {
  return engine.OnReading(source, "temperature", {{"celsius", value}}, t);
}

std::vector<AlarmEventType> Types(const std::vector<AlarmEvent>& events) {
  std::vector<AlarmEventType> out;
  for (const AlarmEvent& e : events) out.push_back(e.type);
  return out;
}

TEST(AlarmRules, InvalidRulesAreRefusedWithTheFieldNamed) {
  AlarmRule no_field = Above(80);
  no_field.field.clear();
  EXPECT_THAT(std::string(ValidateRule(no_field).message()), ::testing::HasSubstr("field"));
  AlarmRule range = Above(0);
  range.kind = AlarmKind::kOutside;
  range.low = 10;
  range.high = 20;
  range.hysteresis = 5;
  EXPECT_THAT(std::string(ValidateRule(range).message()), ::testing::HasSubstr("hysteresis"));
  AlarmRule no_data = Above(0);
  no_data.kind = AlarmKind::kNoData;
  EXPECT_THAT(std::string(ValidateRule(no_data).message()), ::testing::HasSubstr("no_data_after"));
  AlarmEngine engine;
  EXPECT_FALSE(engine.SetRules({Above(80), Above(90)}, kT0).ok()) << "duplicate ids";
}

TEST(AlarmEngineThresholds, NoisySeriesRaisesOnceWithHysteresis) {
  AlarmEngine engine = EngineWith({Above(80, /*hysteresis=*/5)});
  const std::vector<double> noisy = {79, 81, 79.5, 80.5, 78, 82, 76, 81, 77, 80.1};
  std::vector<AlarmEvent> events;
  for (size_t i = 0; i < noisy.size(); ++i) {
    for (AlarmEvent& e : Feed(engine, "s1", noisy[i], At(static_cast<int>(i)))) {
      events.push_back(e);
    }
  }
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].type, AlarmEventType::kRaised);
  EXPECT_EQ(events[0].value, 81);
  EXPECT_EQ(events[0].time, At(1));
  EXPECT_EQ(events[0].rule_id, "hot");
  EXPECT_EQ(events[0].source, "s1");
  EXPECT_EQ(events[0].alarm_id, "hot:s1:" + std::to_string(absl::ToUnixMicros(At(1))));
  EXPECT_THAT(engine.ActiveAlarms(), SizeIs(1));
}

TEST(AlarmEngineThresholds, ClearsOnlyPastTheHysteresisMargin) {
  AlarmEngine engine = EngineWith({Above(80, /*hysteresis=*/5)});
  ASSERT_THAT(Types(Feed(engine, "s1", 85, At(0))), ElementsAre(AlarmEventType::kRaised));
  EXPECT_THAT(Feed(engine, "s1", 79, At(1)), IsEmpty()) << "below 80 but not below 75";
  EXPECT_THAT(Feed(engine, "s1", 75, At(2)), IsEmpty()) << "75 is not below 75";
  const std::vector<AlarmEvent> cleared = Feed(engine, "s1", 74.9, At(3));
  ASSERT_THAT(Types(cleared), ElementsAre(AlarmEventType::kCleared));
  EXPECT_EQ(cleared[0].value, 74.9);
  EXPECT_EQ(cleared[0].time, At(3));
  EXPECT_THAT(engine.ActiveAlarms(), IsEmpty());
  // A new breach is a new alarm with a new id.
  const std::vector<AlarmEvent> again = Feed(engine, "s1", 90, At(4));
  ASSERT_THAT(Types(again), ElementsAre(AlarmEventType::kRaised));
  EXPECT_NE(again[0].alarm_id, cleared[0].alarm_id);
}

TEST(AlarmEngineThresholds, BelowUsesHysteresisUpwards) {
  AlarmRule r = Above(5, 1);
  r.kind = AlarmKind::kBelow;
  AlarmEngine engine = EngineWith({r});
  EXPECT_THAT(Types(Feed(engine, "s1", 4, At(0))), ElementsAre(AlarmEventType::kRaised));
  EXPECT_THAT(Feed(engine, "s1", 5.5, At(1)), IsEmpty());
  EXPECT_THAT(Types(Feed(engine, "s1", 6.5, At(2))), ElementsAre(AlarmEventType::kCleared));
}

TEST(AlarmEngineFor, ForDurationDelaysRaising) {
  AlarmEngine engine = EngineWith({Above(80, 0, absl::Minutes(5))});
  EXPECT_THAT(Feed(engine, "s1", 85, At(0)), IsEmpty());
  EXPECT_THAT(Feed(engine, "s1", 86, At(120)), IsEmpty());
  EXPECT_THAT(engine.Tick(At(299)), IsEmpty());
  const std::vector<AlarmEvent> raised = engine.Tick(At(300));
  ASSERT_THAT(Types(raised), ElementsAre(AlarmEventType::kRaised));
  EXPECT_EQ(raised[0].value, 86) << "the latest breaching value";
  EXPECT_EQ(raised[0].time, At(300));
  EXPECT_THAT(engine.Tick(At(400)), IsEmpty()) << "raised once";
}

TEST(AlarmEngineFor, ReadingAfterTheDurationRaisesWithoutTick) {
  AlarmEngine engine = EngineWith({Above(80, 0, absl::Minutes(5))});
  EXPECT_THAT(Feed(engine, "s1", 85, At(0)), IsEmpty());
  EXPECT_THAT(Types(Feed(engine, "s1", 85, At(300))), ElementsAre(AlarmEventType::kRaised));
}

TEST(AlarmEngineFor, ShortSpikeDoesNotRaise) {
  AlarmEngine engine = EngineWith({Above(80, 0, absl::Minutes(5))});
  EXPECT_THAT(Feed(engine, "s1", 95, At(0)), IsEmpty());
  EXPECT_THAT(Feed(engine, "s1", 70, At(60)), IsEmpty());
  EXPECT_THAT(engine.Tick(At(600)), IsEmpty());
  // A new breach starts the duration again.
  EXPECT_THAT(Feed(engine, "s1", 95, At(700)), IsEmpty());
  EXPECT_THAT(engine.Tick(At(999)), IsEmpty());
  EXPECT_THAT(Types(engine.Tick(At(1000))), ElementsAre(AlarmEventType::kRaised));
}

TEST(AlarmEngineRange, OutsideRaisesOnBothSidesAndClearsInsideTheMargin) {
  AlarmRule r = Above(0);
  r.kind = AlarmKind::kOutside;
  r.low = 10;
  r.high = 20;
  r.hysteresis = 1;
  AlarmEngine engine = EngineWith({r});
  EXPECT_THAT(Feed(engine, "s1", 15, At(0)), IsEmpty());
  EXPECT_THAT(Types(Feed(engine, "s1", 21, At(1))), ElementsAre(AlarmEventType::kRaised));
  EXPECT_THAT(Feed(engine, "s1", 19.5, At(2)), IsEmpty()) << "inside, but within the margin";
  EXPECT_THAT(Types(Feed(engine, "s1", 18, At(3))), ElementsAre(AlarmEventType::kCleared));
  EXPECT_THAT(Types(Feed(engine, "s1", 9, At(4))), ElementsAre(AlarmEventType::kRaised));
  EXPECT_THAT(Feed(engine, "s1", 10.5, At(5)), IsEmpty());
  EXPECT_THAT(Types(Feed(engine, "s1", 12, At(6))), ElementsAre(AlarmEventType::kCleared));
}

TEST(AlarmEngineNoData, RaisesAfterTheDurationAndClearsOnTheNextReading) {
  AlarmRule r = Above(0);
  r.id = "silent";
  r.kind = AlarmKind::kNoData;
  r.source = "s1";
  r.field.clear();
  r.no_data_after = absl::Minutes(10);
  AlarmEngine engine = EngineWith({r});
  EXPECT_THAT(engine.Tick(At(599)), IsEmpty()) << "the clock starts when the rule is set";
  const std::vector<AlarmEvent> raised = engine.Tick(At(600));
  ASSERT_THAT(Types(raised), ElementsAre(AlarmEventType::kRaised));
  EXPECT_EQ(raised[0].source, "s1");
  EXPECT_FALSE(raised[0].value.has_value());
  EXPECT_THAT(engine.Tick(At(700)), IsEmpty()) << "raised once";
  const std::vector<AlarmEvent> cleared = Feed(engine, "s1", 20, At(710));
  ASSERT_THAT(Types(cleared), ElementsAre(AlarmEventType::kCleared));
  EXPECT_EQ(cleared[0].alarm_id, raised[0].alarm_id);
  EXPECT_THAT(engine.Tick(At(1309)), IsEmpty());
  EXPECT_THAT(Types(engine.Tick(At(1310))), ElementsAre(AlarmEventType::kRaised));
}

TEST(AlarmEngineNoData, WildcardRuleWatchesEachSourceSeen) {
  AlarmRule r = Above(0);
  r.id = "silent";
  r.kind = AlarmKind::kNoData;
  r.field = "celsius";
  r.no_data_after = absl::Minutes(1);
  AlarmEngine engine = EngineWith({r});
  Feed(engine, "a", 1, At(0));
  Feed(engine, "b", 1, At(30));
  engine.OnReading("b", "temperature", {{"humidity", 50}}, At(80));  // not the rule's field
  const std::vector<AlarmEvent> first = engine.Tick(At(60));
  ASSERT_THAT(first, SizeIs(1));
  EXPECT_EQ(first[0].source, "a");
  const std::vector<AlarmEvent> second = engine.Tick(At(90));
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_EQ(second[0].source, "b");
}

TEST(AlarmEngineSources, EachSourceIsEvaluatedOnItsOwn) {
  AlarmEngine engine = EngineWith({Above(80, 5, absl::Seconds(60))});
  EXPECT_THAT(Feed(engine, "a", 90, At(0)), IsEmpty());
  EXPECT_THAT(Feed(engine, "b", 70, At(10)), IsEmpty());
  EXPECT_THAT(Feed(engine, "b", 90, At(50)), IsEmpty());
  const std::vector<AlarmEvent> at60 = engine.Tick(At(60));
  ASSERT_THAT(at60, SizeIs(1));
  EXPECT_EQ(at60[0].source, "a") << "b has breached for 10 s only";
  const std::vector<AlarmEvent> at110 = engine.Tick(At(110));
  ASSERT_THAT(at110, SizeIs(1));
  EXPECT_EQ(at110[0].source, "b");
  // Clearing a does not clear b.
  ASSERT_THAT(Types(Feed(engine, "a", 10, At(120))), ElementsAre(AlarmEventType::kCleared));
  ASSERT_THAT(engine.ActiveAlarms(), SizeIs(1));
  EXPECT_EQ(engine.ActiveAlarms()[0].source, "b");
}

TEST(AlarmEngineSources, RuleOnOneSourceIgnoresTheOthersAndOtherDatasets) {
  AlarmRule r = Above(80);
  r.source = "a";
  AlarmEngine engine = EngineWith({r});
  EXPECT_THAT(Feed(engine, "b", 99, At(0)), IsEmpty());
  EXPECT_THAT(engine.OnReading("a", "humidity", {{"celsius", 99}}, At(1)), IsEmpty());
  EXPECT_THAT(Feed(engine, "a", 99, At(2)), SizeIs(1));
}

TEST(AlarmEngineSources, LateReadingDoesNotRewind) {
  AlarmEngine engine = EngineWith({Above(80, 5)});
  ASSERT_THAT(Feed(engine, "s1", 90, At(10)), SizeIs(1));
  EXPECT_THAT(Feed(engine, "s1", 10, At(5)), IsEmpty());
  EXPECT_THAT(engine.ActiveAlarms(), SizeIs(1));
}

TEST(AlarmEngineAcknowledge, RecordsWhoAndOnlyOnce) {
  AlarmEngine engine = EngineWith({Above(80)});
  const std::vector<AlarmEvent> raised = Feed(engine, "s1", 90, At(0));
  ASSERT_THAT(raised, SizeIs(1));
  absl::StatusOr<AlarmEvent> ack = engine.Acknowledge(raised[0].alarm_id, "kari", At(5));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->type, AlarmEventType::kAcknowledged);
  EXPECT_EQ(ack->acknowledged_by, "kari");
  EXPECT_EQ(ack->rule_id, "hot");
  EXPECT_EQ(ack->source, "s1");
  EXPECT_EQ(ack->time, At(5));
  ASSERT_THAT(engine.ActiveAlarms(), SizeIs(1));
  EXPECT_EQ(engine.ActiveAlarms()[0].acknowledged_by, "kari");
  EXPECT_EQ(engine.ActiveAlarms()[0].acknowledged_at, At(5));
  EXPECT_EQ(engine.Acknowledge(raised[0].alarm_id, "ola", At(6)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine.Acknowledge("nope", "ola", At(6)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(engine.Acknowledge(raised[0].alarm_id, "", At(6)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Acknowledged is still active until the value clears.
  ASSERT_THAT(Feed(engine, "s1", 10, At(7)), SizeIs(1));
  EXPECT_EQ(engine.Acknowledge(raised[0].alarm_id, "ola", At(8)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(AlarmEngineRules, RemovingARuleClearsItsActiveAlarms) {
  AlarmEngine engine = EngineWith({Above(80)});
  ASSERT_THAT(Feed(engine, "s1", 90, At(0)), SizeIs(1));
  absl::StatusOr<std::vector<AlarmEvent>> removed = engine.RemoveRule("hot", At(1));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(Types(*removed), ElementsAre(AlarmEventType::kCleared));
  EXPECT_THAT(engine.ActiveAlarms(), IsEmpty());
  // An unchanged rule keeps its state.
  AlarmEngine same = EngineWith({Above(80)});
  ASSERT_THAT(Feed(same, "s1", 90, At(0)), SizeIs(1));
  ASSERT_TRUE(same.UpsertRule(Above(80), At(1)).ok());
  EXPECT_THAT(same.ActiveAlarms(), SizeIs(1));
}

TEST(AlarmEngineState, SerialisedStateRestoresActiveAndPendingAlarms) {
  AlarmEngine engine = EngineWith({Above(80, 5, absl::Seconds(60))});
  Feed(engine, "a", 90, At(0));
  ASSERT_THAT(engine.Tick(At(60)), SizeIs(1));
  ASSERT_TRUE(engine.Acknowledge(engine.ActiveAlarms()[0].alarm_id, "kari", At(61)).ok());
  Feed(engine, "b", 90, At(30));  // pending: for runs out at 90

  AlarmEngine restored = EngineWith({Above(80, 5, absl::Seconds(60))});
  ASSERT_TRUE(restored.RestoreState(engine.SerializeState(), At(62)).ok());
  ASSERT_THAT(restored.ActiveAlarms(), SizeIs(1));
  EXPECT_EQ(restored.ActiveAlarms()[0].acknowledged_by, "kari");
  EXPECT_EQ(restored.ActiveAlarms()[0].alarm_id, engine.ActiveAlarms()[0].alarm_id);
  const std::vector<AlarmEvent> b = restored.Tick(At(90));
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_EQ(b[0].source, "b");
  EXPECT_THAT(Types(Feed(restored, "a", 70, At(100))), ElementsAre(AlarmEventType::kCleared));

  EXPECT_FALSE(restored.RestoreState("{not json", At(0)).ok());
  // State of a changed rule is dropped.
  AlarmEngine changed = EngineWith({Above(70, 5, absl::Seconds(60))});
  ASSERT_TRUE(changed.RestoreState(engine.SerializeState(), At(62)).ok());
  EXPECT_THAT(changed.ActiveAlarms(), IsEmpty());
}

TEST(AlarmEngineState, ReplayingStoredEventsRebuildsActiveAlarms) {
  AlarmEngine engine = EngineWith({Above(80, 5)});
  std::vector<AlarmEvent> log;
  for (AlarmEvent& e : Feed(engine, "a", 90, At(0))) log.push_back(e);
  for (AlarmEvent& e : Feed(engine, "b", 90, At(1))) log.push_back(e);
  log.push_back(*engine.Acknowledge(log[0].alarm_id, "kari", At(2)));
  for (AlarmEvent& e : Feed(engine, "b", 10, At(3))) log.push_back(e);
  ASSERT_THAT(log, SizeIs(4));

  AlarmEngine rebuilt = EngineWith({Above(80, 5)});
  for (const AlarmEvent& e : log) rebuilt.ReplayEvent(e);
  ASSERT_THAT(rebuilt.ActiveAlarms(), SizeIs(1));
  EXPECT_EQ(rebuilt.ActiveAlarms()[0].source, "a");
  EXPECT_EQ(rebuilt.ActiveAlarms()[0].acknowledged_by, "kari");
  EXPECT_THAT(Feed(rebuilt, "a", 88, At(4)), IsEmpty()) << "still active: no second raise";
  EXPECT_THAT(Types(Feed(rebuilt, "a", 70, At(5))), ElementsAre(AlarmEventType::kCleared));
}

}  // namespace
}  // namespace smartby::feed
