#include "services/feed/downsample.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::feed {

void PrintTo(const SeriesPoint& point, std::ostream* os) {
  *os << "(" << point.time << ", " << point.value << ")";
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kMinuteUs = 60'000'000;

std::vector<SeriesPoint> FromValues(const std::vector<double>& values) {
  std::vector<SeriesPoint> points;
  for (size_t i = 0; i < values.size(); ++i) {
    points.push_back({static_cast<int64_t>(i), values[i]});
  }
  return points;
}

// One point a minute from a fixed Unix time: low noise around 50, with one spike up and one
// dip down (a storm drain filling, a sensor glitch) at the given indices.
std::vector<SeriesPoint> SpikySeries(size_t n, size_t spike_at, size_t dip_at) {
  std::mt19937 random(42);
  std::uniform_real_distribution<double> noise(-1.0, 1.0);
  std::vector<SeriesPoint> points;
  points.reserve(n);
  const int64_t start = 1'700'000'000'000'000;  // Unix microseconds, November 2023
  for (size_t i = 0; i < n; ++i) {
    double value = 50 + 5 * std::sin(static_cast<double>(i) / 300.0) + noise(random);
    if (i == spike_at) value = 140;
    if (i == dip_at) value = -30;
    points.push_back({start + static_cast<int64_t>(i) * kMinuteUs, value});
  }
  return points;
}

bool IsSubsequence(const std::vector<SeriesPoint>& sub, const std::vector<SeriesPoint>& all) {
  auto it = all.begin();
  for (const SeriesPoint& point : sub) {
    it = std::find(it, all.end(), point);
    if (it == all.end()) return false;
    ++it;
  }
  return true;
}

double MaxValue(const std::vector<SeriesPoint>& points) {
  double max = -std::numeric_limits<double>::infinity();
  for (const SeriesPoint& p : points) max = std::max(max, p.value);
  return max;
}
double MinValue(const std::vector<SeriesPoint>& points) {
  double min = std::numeric_limits<double>::infinity();
  for (const SeriesPoint& p : points) min = std::min(min, p.value);
  return min;
}

// ---- LTTB ----

TEST(DownsampleLttb, ReturnsTheInputWhenItIsSmallEnough) {
  const std::vector<SeriesPoint> points = FromValues({3, 1, 4, 1, 5});
  EXPECT_EQ(DownsampleLttb(points, 5), points);
  EXPECT_EQ(DownsampleLttb(points, 1000), points);
  EXPECT_THAT(DownsampleLttb({}, 10), IsEmpty());
}

TEST(DownsampleLttb, HandComputedExample) {
  // N = 4: first, last, and one point from each of the buckets {1, 2} and {3, 4}.
  // Bucket {1, 2}: triangle with (0, 0) and the next bucket's average (3.5, 2.5); doubled
  // areas are 1 for (1, 1) and 5 for (2, 0). Bucket {3, 4}: triangle with (2, 0) and the last
  // point (5, 0); doubled areas 15 for (3, 5) and 0 for (4, 0).
  const std::vector<SeriesPoint> points = FromValues({0, 1, 0, 5, 0, 0});
  EXPECT_THAT(DownsampleLttb(points, 4), ElementsAre(SeriesPoint{0, 0}, SeriesPoint{2, 0},
                                                     SeriesPoint{3, 5}, SeriesPoint{5, 0}));
}

TEST(DownsampleLttb, ReturnsExactlyNPointsIncludingFirstAndLast) {
  const std::vector<SeriesPoint> points = SpikySeries(10'000, 1234, 8765);
  for (size_t n : {3u, 4u, 7u, 100u, 999u, 1000u, 9'999u}) {
    const std::vector<SeriesPoint> out = DownsampleLttb(points, n);
    ASSERT_EQ(out.size(), n);
    EXPECT_EQ(out.front(), points.front());
    EXPECT_EQ(out.back(), points.back());
    EXPECT_TRUE(IsSubsequence(out, points)) << n;
  }
}

TEST(DownsampleLttb, TinyMaximums) {
  const std::vector<SeriesPoint> points = FromValues({1, 9, 2, 8});
  EXPECT_THAT(DownsampleLttb(points, 0), IsEmpty());
  EXPECT_THAT(DownsampleLttb(points, 1), ElementsAre(SeriesPoint{0, 1}));
  EXPECT_THAT(DownsampleLttb(points, 2), ElementsAre(SeriesPoint{0, 1}, SeriesPoint{3, 8}));
}

TEST(DownsampleLttb, KeepsTheGlobalMaxAndMinOfASpikySeries) {
  const std::vector<SeriesPoint> points = SpikySeries(43'200, 10'000, 30'000);
  const std::vector<SeriesPoint> out = DownsampleLttb(points, 1000);
  EXPECT_EQ(MaxValue(out), 140);
  EXPECT_EQ(MinValue(out), -30);
}

// ---- Min/max buckets ----

TEST(DownsampleMinMax, HandComputedExample) {
  // Times 0..9 in 2 buckets ([0, 5) and [5, 10)): min 1 and max 9 in the first, max 8 (time 7)
  // before min 0 (time 8) in the second.
  const std::vector<SeriesPoint> points = FromValues({5, 1, 9, 3, 7, 7, 2, 8, 0, 4});
  EXPECT_THAT(DownsampleMinMax(points, 4), ElementsAre(SeriesPoint{1, 1}, SeriesPoint{2, 9},
                                                       SeriesPoint{7, 8}, SeriesPoint{8, 0}));
  // N = 5 still gives 2 buckets (at most N points).
  EXPECT_EQ(DownsampleMinMax(points, 5), DownsampleMinMax(points, 4));
}

TEST(DownsampleMinMax, ReturnsTheInputWhenItIsSmallEnough) {
  const std::vector<SeriesPoint> points = FromValues({3, 1, 4});
  EXPECT_EQ(DownsampleMinMax(points, 3), points);
  EXPECT_THAT(DownsampleMinMax(points, 0), IsEmpty());
  EXPECT_THAT(DownsampleMinMax(points, 1), ElementsAre(SeriesPoint{2, 4}));  // the highest only
}

TEST(DownsampleMinMax, KeepsEveryBucketsExtremesInTimeOrder) {
  const std::vector<SeriesPoint> points = SpikySeries(43'200, 10'000, 30'000);
  const size_t max_points = 1000;
  const std::vector<SeriesPoint> out = DownsampleMinMax(points, max_points);
  ASSERT_LE(out.size(), max_points);
  EXPECT_TRUE(IsSubsequence(out, points));
  EXPECT_EQ(MaxValue(out), 140);
  EXPECT_EQ(MinValue(out), -30);

  // Brute force: every bucket's min and max value appear among the output points of that
  // bucket.
  const size_t buckets = max_points / 2;
  const int64_t start = points.front().time;
  const int64_t span = points.back().time - start + 1;
  std::vector<std::vector<double>> in_bucket(buckets);
  std::vector<std::vector<double>> out_bucket(buckets);
  auto bucket_of = [&](const SeriesPoint& p) {
    return static_cast<size_t>(static_cast<__int128>(p.time - start) * buckets / span);
  };
  for (const SeriesPoint& p : points) in_bucket[bucket_of(p)].push_back(p.value);
  for (const SeriesPoint& p : out) out_bucket[bucket_of(p)].push_back(p.value);
  for (size_t b = 0; b < buckets; ++b) {
    if (in_bucket[b].empty()) continue;
    const auto [lo, hi] = std::minmax_element(in_bucket[b].begin(), in_bucket[b].end());
    EXPECT_THAT(out_bucket[b], ::testing::Contains(*lo)) << "bucket " << b;
    EXPECT_THAT(out_bucket[b], ::testing::Contains(*hi)) << "bucket " << b;
    EXPECT_LE(out_bucket[b].size(), 2u);
  }
}

TEST(DownsampleMinMax, GapsStayGaps) {
  // Data in the first and last tenth of the range only: the empty buckets yield nothing.
  std::vector<SeriesPoint> points;
  for (int64_t t = 0; t < 100; ++t) points.push_back({t, static_cast<double>(t % 7)});
  for (int64_t t = 900; t < 1000; ++t) points.push_back({t, static_cast<double>(t % 5)});
  const std::vector<SeriesPoint> out = DownsampleMinMax(points, 20);  // buckets of 100
  EXPECT_THAT(out, ElementsAre(SeriesPoint{0, 0}, SeriesPoint{6, 6}, SeriesPoint{900, 0},
                               SeriesPoint{904, 4}));
}

// ---- Streaming ----

TEST(MinMaxDownsampler, EqualsTheBatchVersionWhateverThePaging) {
  const std::vector<SeriesPoint> points = SpikySeries(43'200, 500, 42'000);
  const std::vector<SeriesPoint> batch = DownsampleMinMax(points, 1000);

  auto streaming = MinMaxDownsampler::Create(points.front().time, points.back().time + 1, 1000);
  ASSERT_TRUE(streaming.ok()) << streaming.status();
  // Pages of uneven sizes, as ingestion might return them.
  size_t i = 0;
  for (size_t page = 1; i < points.size(); page = page * 3 % 997 + 1) {
    const size_t n = std::min(page, points.size() - i);
    streaming->Add(absl::MakeConstSpan(points).subspan(i, n));
    i += n;
  }
  EXPECT_EQ(streaming->Result(), batch);
  EXPECT_EQ(streaming->points_added(), points.size());
  EXPECT_EQ(streaming->points_ignored(), 0u);
}

TEST(MinMaxDownsampler, ArrivalOrderDoesNotMatter) {
  std::vector<SeriesPoint> points = SpikySeries(5'000, 10, 20);
  // Equal values in one bucket: the earliest one wins whatever the order.
  points[100].value = points[101].value = 500;
  const std::vector<SeriesPoint> batch = DownsampleMinMax(points, 50);
  EXPECT_THAT(batch, ::testing::Contains(points[100]));
  // The batch version's range: [first, last + 1).
  auto streaming = MinMaxDownsampler::Create(points.front().time, points.back().time + 1, 50);
  ASSERT_TRUE(streaming.ok());
  std::shuffle(points.begin(), points.end(), std::mt19937(7));
  streaming->Add(points);
  EXPECT_EQ(streaming->Result(), batch);
}

TEST(MinMaxDownsampler, IgnoresPointsOutsideTheRangeAndNaN) {
  auto streaming = MinMaxDownsampler::Create(100, 200, 10);
  ASSERT_TRUE(streaming.ok());
  streaming->Add({{99, 1000}, {100, 1}, {150, std::nan("")}, {199, 2}, {200, -1000}});
  EXPECT_THAT(streaming->Result(), ElementsAre(SeriesPoint{100, 1}, SeriesPoint{199, 2}));
  EXPECT_EQ(streaming->points_added(), 2u);
  EXPECT_EQ(streaming->points_ignored(), 3u);
}

TEST(MinMaxDownsampler, WholeInt64Range) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  auto streaming = MinMaxDownsampler::Create(kMin, kMax, 4);  // 2 buckets, split near 0
  ASSERT_TRUE(streaming.ok());
  streaming->Add({{kMin, 1}, {-1, 3}, {0, 5}, {kMax - 1, 2}});
  EXPECT_THAT(streaming->Result(), ElementsAre(SeriesPoint{kMin, 1}, SeriesPoint{-1, 3},
                                               SeriesPoint{0, 5}, SeriesPoint{kMax - 1, 2}));
  // The batch version over [kMin, kMax] (span 2^64) as well.
  EXPECT_THAT(DownsampleMinMax({{kMin, 1}, {-1, 3}, {0, 5}, {1, 0}, {kMax, 2}}, 2),
              ElementsAre(SeriesPoint{0, 5}, SeriesPoint{1, 0}));
}

TEST(MinMaxDownsampler, RefusesBadArguments) {
  EXPECT_EQ(MinMaxDownsampler::Create(10, 10, 100).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MinMaxDownsampler::Create(10, 5, 100).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MinMaxDownsampler::Create(0, 10, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MinMaxDownsampler::Create(0, 10, MinMaxDownsampler::kMaxPoints + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MinMaxDownsampler::Create(0, 10, MinMaxDownsampler::kMaxPoints).ok());
}

// ---- Speed ----

// The history benchmark asks p99 <= 50 ms for a 30-day query downsampled to 1,000 points; the
// downsampling itself must be a small part of that. Best of 5 runs, so that a busy shared
// machine does not make the bound flaky; the bound is 50x what it takes on a laptop.
TEST(DownsampleSpeed, ThirtyDaysOfMinutesToAThousandPoints) {
  const std::vector<SeriesPoint> points = SpikySeries(30 * 24 * 60, 100, 200);
  ASSERT_EQ(points.size(), 43'200u);
  auto best_of_5 = [](auto&& run) {
    double best = std::numeric_limits<double>::infinity();
    for (int i = 0; i < 5; ++i) {
      const auto start = std::chrono::steady_clock::now();
      run();
      const std::chrono::duration<double, std::milli> took =
          std::chrono::steady_clock::now() - start;
      best = std::min(best, took.count());
    }
    return best;
  };
  size_t sink = 0;
  const double lttb_ms = best_of_5([&] { sink += DownsampleLttb(points, 1000).size(); });
  const double minmax_ms = best_of_5([&] { sink += DownsampleMinMax(points, 1000).size(); });
  const double streaming_ms = best_of_5([&] {
    auto streaming = MinMaxDownsampler::Create(points.front().time, points.back().time + 1, 1000);
    for (const SeriesPoint& point : points) streaming->Add(point);
    sink += streaming->Result().size();
  });
  std::printf("43,200 points -> 1,000: LTTB %.3f ms, min/max %.3f ms, streaming %.3f ms\n", lttb_ms,
              minmax_ms, streaming_ms);
  EXPECT_GT(sink, 0u);
  EXPECT_LT(lttb_ms, 50);
  EXPECT_LT(minmax_ms, 50);
  EXPECT_LT(streaming_ms, 50);
}

}  // namespace
}  // namespace smartby::feed
