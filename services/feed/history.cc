#include "services/feed/history.h"

#include <algorithm>

#include <google/protobuf/util/time_util.h>

#include "services/feed/downsample.h"

namespace smartby::feed {

std::vector<v1::HistoryPoint> MinMaxBucketDownsampler::Reduce(std::vector<v1::HistoryPoint> points,
                                                              int max_points) const {
  const size_t limit = static_cast<size_t>(std::max(2, max_points));
  if (points.size() <= limit) return points;
  std::vector<v1::HistoryPoint> out;
  out.reserve(limit);
  out.push_back(points.front());
  const size_t inner = points.size() - 2;
  const size_t buckets = (limit - 2) / 2;
  for (size_t b = 0; b < buckets; ++b) {
    const size_t lo = 1 + b * inner / buckets;
    const size_t hi = 1 + (b + 1) * inner / buckets;  // exclusive
    if (lo >= hi) continue;
    size_t min_i = lo, max_i = lo;
    for (size_t i = lo; i < hi; ++i) {
      if (points[i].value() < points[min_i].value()) min_i = i;
      if (points[i].value() > points[max_i].value()) max_i = i;
    }
    out.push_back(points[std::min(min_i, max_i)]);
    if (min_i != max_i) out.push_back(points[std::max(min_i, max_i)]);
  }
  out.push_back(points.back());
  return out;
}

std::vector<v1::HistoryPoint> MinMaxTimeBucketDownsampler::Reduce(
    std::vector<v1::HistoryPoint> points, int max_points) const {
  if (max_points < 1 || points.size() <= static_cast<size_t>(max_points)) return points;
  std::vector<SeriesPoint> series;
  series.reserve(points.size());
  for (const v1::HistoryPoint& p : points) {
    series.push_back(
        {google::protobuf::util::TimeUtil::TimestampToMicroseconds(p.time()), p.value()});
  }
  std::sort(series.begin(), series.end(),
            [](const SeriesPoint& a, const SeriesPoint& b) { return a.time < b.time; });
  std::vector<v1::HistoryPoint> out;
  for (const SeriesPoint& p : DownsampleMinMax(series, static_cast<size_t>(max_points))) {
    v1::HistoryPoint point;
    *point.mutable_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(p.time);
    point.set_value(p.value);
    out.push_back(std::move(point));
  }
  return out;
}

}  // namespace smartby::feed
