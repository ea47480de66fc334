// KPI values over the hub's latest values, and the watchers' throttling.
#include "services/feed/kpi_watch.h"

#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>
#include <prometheus/registry.h>

#include "services/feed/feed.h"
#include "services/feed/history.h"
#include "services/feed/store.h"
#include "services/runtime/auth/test_callers.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::feed {
namespace {

using google::protobuf::util::TimeUtil;

class OpenResolver : public DatasetResolver {
 public:
  auth::ResourceRef Resolve(const std::string& dataset,
                            smartcity::common::v1::Classification) override {
    auth::ResourceRef ref;
    ref.dataset = dataset;
    ref.classification = smartcity::common::v1::CLASSIFICATION_OPEN;
    ref.published = true;
    return ref;
  }
  std::optional<smartcity::common::v1::GeoPoint> SourcePosition(const std::string&) override {
    return std::nullopt;
  }
};

class KpiWatchTest : public ::testing::Test {
 protected:
  KpiWatchTest() : hub_(HubOptions(), &resolver_, &clock_, &registry_) {}

  PositionedReading Reading(const std::string& dataset, const std::string& source,
                            const std::string& field, double value) {
    PositionedReading r;
    r.set_position(++position_);
    r.set_dataset(dataset);
    r.mutable_reading()->set_source_id(source);
    *r.mutable_reading()->mutable_time() =
        TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(clock_.Now()));
    (*r.mutable_reading()->mutable_values())[field].set_double_value(value);
    return r;
  }

  static v1::Kpi Kpi(const std::string& expression) {
    v1::Kpi kpi;
    kpi.set_name("fulle");
    kpi.set_dataset("avfall");
    kpi.set_expression(expression);
    return kpi;
  }

  OpenResolver resolver_;
  SettableClock clock_{absl::FromUnixSeconds(1'780'000'000)};
  prometheus::Registry registry_;
  Hub hub_;
  int64_t position_ = 0;
};

TEST_F(KpiWatchTest, EvaluatesOverTheLatestValueOfEachSourceOfTheDataset) {
  hub_.Publish({Reading("avfall", "c1", "fill_level", 50), Reading("avfall", "c2", "fill_level", 90),
                Reading("avfall", "c3", "fill_level", 95), Reading("avfall", "c1", "fill_level", 85),
                Reading("parkering", "p1", "fill_level", 10)});
  auto expression = ParseKpi("100 * share(fill_level > 80)");
  ASSERT_TRUE(expression.ok()) << expression.status();
  auto value = EvaluateKpi(hub_, Kpi("100 * share(fill_level > 80)"), *expression, clock_.Now());
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_DOUBLE_EQ(value->value(), 100);  // c1's latest is 85; parkering is not counted
  EXPECT_EQ(value->sources(), 3);
  EXPECT_EQ(value->name(), "fulle");

  auto avg = ParseKpi("avg(fill_level)");
  ASSERT_TRUE(avg.ok());
  value = EvaluateKpi(hub_, Kpi("avg(fill_level)"), *avg, clock_.Now());
  ASSERT_TRUE(value.ok());
  EXPECT_DOUBLE_EQ(value->value(), 90);

  auto missing = ParseKpi("avg(temperature)");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(EvaluateKpi(hub_, Kpi("avg(temperature)"), *missing, clock_.Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(KpiWatchTest, SendsOnceAtTheStartThenAtMostEveryIntervalAfterReadings) {
  KpiWatchers watchers(&hub_, &clock_, absl::Milliseconds(500));
  hub_.AddObserver(&watchers);
  hub_.Publish({Reading("avfall", "c1", "fill_level", 40)});
  std::vector<double> values;
  auto expression = ParseKpi("sum(fill_level)");
  ASSERT_TRUE(expression.ok());
  auto watch = watchers.Add(Kpi("sum(fill_level)"), *expression,
                            [&](const v1::KpiValue& v) { values.push_back(v.value()); });
  watchers.Tick();
  ASSERT_EQ(values, std::vector<double>{40});
  watchers.Tick();  // nothing new
  EXPECT_EQ(values.size(), 1u);

  clock_.Advance(absl::Milliseconds(100));
  hub_.Publish({Reading("avfall", "c2", "fill_level", 2)});
  watchers.Tick();  // too soon after the last value
  EXPECT_EQ(values.size(), 1u);
  hub_.Publish({Reading("parkering", "p1", "fill_level", 1000)});  // another dataset
  hub_.Publish({Reading("avfall", "c2", "fill_level", 5)});
  clock_.Advance(absl::Milliseconds(400));
  watchers.Tick();
  EXPECT_EQ(values, (std::vector<double>{40, 45}));
  clock_.Advance(absl::Seconds(1));
  hub_.Publish({Reading("parkering", "p1", "fill_level", 7)});
  watchers.Tick();
  EXPECT_EQ(values.size(), 2u);  // only readings of its dataset count

  watchers.Remove(watch);
  hub_.Publish({Reading("avfall", "c2", "fill_level", 6)});
  clock_.Advance(absl::Seconds(1));
  watchers.Tick();
  EXPECT_EQ(values.size(), 2u);
  EXPECT_EQ(watchers.watches(), 0u);
}

TEST(MinMaxTimeBucketDownsampler, KeepsTheExtremesAndAtMostMaxPoints) {
  std::vector<v1::HistoryPoint> points;
  for (int i = 0; i < 5000; ++i) {
    v1::HistoryPoint p;
    *p.mutable_time() = TimeUtil::SecondsToTimestamp(1'780'000'000 + i);
    p.set_value(i == 1234 ? 999 : (i == 4321 ? -999 : i % 7));
    points.push_back(p);
  }
  MinMaxTimeBucketDownsampler d;
  std::vector<v1::HistoryPoint> out = d.Reduce(points, 100);
  ASSERT_LE(out.size(), 100u);
  ASSERT_GE(out.size(), 50u);
  bool high = false, low = false;
  for (size_t i = 0; i < out.size(); ++i) {
    high |= out[i].value() == 999;
    low |= out[i].value() == -999;
    if (i > 0) {
      EXPECT_LT(TimeUtil::TimestampToMicroseconds(out[i - 1].time()),
                TimeUtil::TimestampToMicroseconds(out[i].time()));
    }
  }
  EXPECT_TRUE(high);
  EXPECT_TRUE(low);
  EXPECT_EQ(d.Reduce(std::vector<v1::HistoryPoint>(points.begin(), points.begin() + 10), 100).size(),
            10u);
}

// GetKpi carries the value now (what WatchKpi would send first), and nothing when no source
// has a value yet.
TEST_F(KpiWatchTest, GetKpiCarriesTheCurrentValue) {
  auto store = OpenSqlFeedStore(storage::testing::NewTestDatabase("sqlite"));
  ASSERT_TRUE(store.ok()) << store.status();
  FeedDeps deps;
  deps.store = store->get();
  deps.hub = &hub_;
  deps.clock = &clock_;
  Feed feed(deps);
  const auth::Caller admin = auth::testing::AdminCaller();
  absl::StatusOr<v1::Kpi> created = feed.CreateKpi(admin, Kpi("sum(fill_level)"));
  ASSERT_TRUE(created.ok()) << created.status();
  absl::StatusOr<v1::Kpi> before = feed.GetKpi(admin, "fulle");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(before->has_current());

  hub_.Publish({Reading("avfall", "c1", "fill_level", 50), Reading("avfall", "c2", "fill_level", 30)});
  absl::StatusOr<v1::Kpi> after = feed.GetKpi(admin, "fulle");
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_TRUE(after->has_current());
  EXPECT_DOUBLE_EQ(after->current().value(), 80);
  EXPECT_EQ(after->current().sources(), 2);
}

}  // namespace
}  // namespace smartby::feed
