#include "services/feed/downsample.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace smartby::feed {

std::vector<SeriesPoint> DownsampleLttb(absl::Span<const SeriesPoint> points, size_t max_points) {
  const size_t n = points.size();
  if (n <= max_points) return std::vector<SeriesPoint>(points.begin(), points.end());
  if (max_points == 0) return {};
  if (max_points == 1) return {points.front()};
  if (max_points == 2) return {points.front(), points.back()};

  // Times relative to the first point, so that Unix microseconds keep their precision as
  // doubles.
  const int64_t origin = points.front().time;
  auto x = [&](size_t i) { return static_cast<double>(points[i].time - origin); };

  std::vector<SeriesPoint> out;
  out.reserve(max_points);
  out.push_back(points.front());

  // The n - 2 inner points are split into max_points - 2 buckets; bucket b is
  // [1 + b * every, 1 + (b + 1) * every), computed in integers so the last ends at n - 1.
  const size_t buckets = max_points - 2;
  const size_t inner = n - 2;
  auto bucket_begin = [&](size_t b) { return 1 + b * inner / buckets; };

  size_t selected = 0;  // index of the point chosen in the previous bucket
  for (size_t b = 0; b < buckets; ++b) {
    const size_t begin = bucket_begin(b);
    const size_t end = bucket_begin(b + 1);
    // The third vertex: the average of the next bucket, or the last point for the last bucket.
    double next_x = 0;
    double next_y = 0;
    if (b + 1 < buckets) {
      const size_t next_begin = end;
      const size_t next_end = bucket_begin(b + 2);
      for (size_t i = next_begin; i < next_end; ++i) {
        next_x += x(i);
        next_y += points[i].value;
      }
      const double count = static_cast<double>(next_end - next_begin);
      next_x /= count;
      next_y /= count;
    } else {
      next_x = x(n - 1);
      next_y = points[n - 1].value;
    }
    const double ax = x(selected);
    const double ay = points[selected].value;
    double best_area = -1;
    size_t best = begin;
    for (size_t i = begin; i < end; ++i) {
      // Twice the triangle's area; the factor does not change which is largest.
      const double area =
          std::abs((ax - next_x) * (points[i].value - ay) - (ax - x(i)) * (next_y - ay));
      if (area > best_area) {
        best_area = area;
        best = i;
      }
    }
    out.push_back(points[best]);
    selected = best;
  }
  out.push_back(points.back());
  return out;
}

absl::StatusOr<MinMaxDownsampler> MinMaxDownsampler::Create(int64_t start, int64_t end,
                                                            size_t max_points) {
  if (end <= start) {
    return absl::InvalidArgumentError(
        absl::StrCat("range: end (", end, ") must be after start (", start, ")"));
  }
  if (max_points == 0 || max_points > kMaxPoints) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_points: must be 1 to ", kMaxPoints, ", got ", max_points));
  }
  return MinMaxDownsampler(start, static_cast<uint64_t>(end) - static_cast<uint64_t>(start),
                           max_points);
}

MinMaxDownsampler::MinMaxDownsampler(int64_t start, uint64_t span, size_t max_points)
    : start_(start),
      span_(span),
      max_only_(max_points == 1),
      buckets_(std::max<size_t>(1, max_points / 2)) {}

void MinMaxDownsampler::Add(const SeriesPoint& point) {
  const uint64_t offset = static_cast<uint64_t>(point.time) - static_cast<uint64_t>(start_);
  // Outside [start, end): before start the unsigned offset wraps to a large number.
  if (point.time < start_ || (span_ != 0 && offset >= span_) || std::isnan(point.value)) {
    ++ignored_;
    return;
  }
  ++added_;
  // offset * buckets / span in 128 bits: exact, and no overflow for any int64 range.
  const unsigned __int128 scaled = static_cast<unsigned __int128>(offset) * buckets_.size();
  const size_t index = static_cast<size_t>(span_ == 0 ? scaled >> 64 : scaled / span_);
  Bucket& bucket = buckets_[index];
  if (bucket.empty) {
    bucket.min = point;
    bucket.max = point;
    bucket.empty = false;
    return;
  }
  // Ties go to the earlier point, so the result does not depend on arrival order.
  if (point.value < bucket.min.value ||
      (point.value == bucket.min.value && point.time < bucket.min.time)) {
    bucket.min = point;
  }
  if (point.value > bucket.max.value ||
      (point.value == bucket.max.value && point.time < bucket.max.time)) {
    bucket.max = point;
  }
}

std::vector<SeriesPoint> MinMaxDownsampler::Result() const {
  std::vector<SeriesPoint> out;
  if (max_only_) {
    const Bucket& bucket = buckets_.front();
    if (!bucket.empty) out.push_back(bucket.max);
    return out;
  }
  out.reserve(2 * buckets_.size());
  for (const Bucket& bucket : buckets_) {
    if (bucket.empty) continue;
    if (bucket.min == bucket.max) {
      out.push_back(bucket.min);
    } else if (bucket.max.time < bucket.min.time) {
      out.push_back(bucket.max);
      out.push_back(bucket.min);
    } else {
      out.push_back(bucket.min);
      out.push_back(bucket.max);
    }
  }
  return out;
}

std::vector<SeriesPoint> DownsampleMinMax(absl::Span<const SeriesPoint> points, size_t max_points) {
  if (points.size() <= max_points) return std::vector<SeriesPoint>(points.begin(), points.end());
  if (max_points == 0) return {};
  // [first, last + 1); the span wraps to 0 (meaning 2^64) only for the whole int64 range.
  const uint64_t span =
      static_cast<uint64_t>(points.back().time) - static_cast<uint64_t>(points.front().time) + 1;
  MinMaxDownsampler downsampler(points.front().time, span, max_points);
  downsampler.Add(points);
  return downsampler.Result();
}

}  // namespace smartby::feed
