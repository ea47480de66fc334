#include "services/feed/feed.h"

#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include "services/feed/history.h"

namespace smartby::feed {
namespace {

TEST(FeedValidation, KpiNeedsNameDatasetAndExpression) {
  v1::Kpi kpi;
  kpi.set_name("ledige-plasser");
  kpi.set_dataset("parkering");
  kpi.set_expression("sum(last(free_spaces))");
  EXPECT_TRUE(ValidateKpi(kpi).ok());
  kpi.set_name("Ledige plasser");
  EXPECT_EQ(ValidateKpi(kpi).code(), absl::StatusCode::kInvalidArgument);
}

TEST(FeedValidation, OutsideRuleNeedsLowerBelowUpperAndAField) {
  v1::AlarmRule rule;
  rule.set_dataset("vann");
  rule.set_field("pressure");
  rule.set_kind(v1::ALARM_KIND_OUTSIDE);
  rule.set_lower(5);
  rule.set_upper(1);
  EXPECT_EQ(ValidateAlarmRule(rule).code(), absl::StatusCode::kInvalidArgument);
  rule.set_upper(10);
  EXPECT_TRUE(ValidateAlarmRule(rule).ok());
  rule.clear_field();
  EXPECT_EQ(ValidateAlarmRule(rule).code(), absl::StatusCode::kInvalidArgument);
  rule.set_kind(v1::ALARM_KIND_NO_DATA);
  EXPECT_EQ(ValidateAlarmRule(rule).code(), absl::StatusCode::kInvalidArgument);  // no duration
  rule.mutable_for_duration()->set_seconds(600);
  EXPECT_TRUE(ValidateAlarmRule(rule).ok());
}

TEST(FeedValidation, ChannelTargetsMatchTheirKind) {
  v1::Channel c;
  c.set_kind(v1::CHANNEL_KIND_WEBHOOK);
  c.set_target("http://example.com/hook");
  EXPECT_FALSE(ValidateChannel(c).ok());
  c.set_target("https://example.com/hook");
  EXPECT_TRUE(ValidateChannel(c).ok());
  c.set_kind(v1::CHANNEL_KIND_EMAIL);
  c.set_target("drift@stavanger.kommune.no");
  EXPECT_TRUE(ValidateChannel(c).ok());
  c.set_kind(v1::CHANNEL_KIND_SMS);
  EXPECT_FALSE(ValidateChannel(c).ok());
  c.set_target("+4791234567");
  EXPECT_TRUE(ValidateChannel(c).ok());
}

TEST(MinMaxBucketDownsampler, KeepsPeaksAndAtMostMaxPoints) {
  std::vector<v1::HistoryPoint> points;
  for (int i = 0; i < 10000; ++i) {
    v1::HistoryPoint p;
    *p.mutable_time() = google::protobuf::util::TimeUtil::SecondsToTimestamp(i);
    p.set_value(i == 4321 ? 1000.0 : (i == 777 ? -1000.0 : i % 7));
    points.push_back(p);
  }
  auto out = MinMaxBucketDownsampler().Reduce(points, 100);
  EXPECT_LE(out.size(), 100u);
  bool high = false, low = false;
  for (size_t i = 0; i < out.size(); ++i) {
    high |= out[i].value() == 1000.0;
    low |= out[i].value() == -1000.0;
    if (i > 0) {
      EXPECT_LT(out[i - 1].time().seconds(), out[i].time().seconds());
    }
  }
  EXPECT_TRUE(high);
  EXPECT_TRUE(low);
}

}  // namespace
}  // namespace smartby::feed
