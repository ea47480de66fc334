#include "services/feed/aggregates.h"

#include <algorithm>
#include <optional>

#include <google/protobuf/util/time_util.h>

namespace smartby::feed {
namespace {

using google::protobuf::util::TimeUtil;

constexpr std::array<int64_t, 3> kWindowUs = {60'000'000, 300'000'000, 3'600'000'000};
constexpr std::array<v1::AggregateWindow, 3> kWindowEnum = {
    v1::AGGREGATE_WINDOW_1_MINUTE, v1::AGGREGATE_WINDOW_5_MINUTES, v1::AGGREGATE_WINDOW_1_HOUR};
constexpr int64_t kBucketsPerWindow = 60;

std::optional<double> Numeric(const smartcity::ingestion::v1::Value& value) {
  switch (value.kind_case()) {
    case smartcity::ingestion::v1::Value::kDoubleValue:
      return value.double_value();
    case smartcity::ingestion::v1::Value::kIntegerValue:
      return static_cast<double>(value.integer_value());
    default:
      return std::nullopt;
  }
}

int64_t FloorTo(int64_t t, int64_t width) {
  int64_t q = t / width;
  if (t % width != 0 && t < 0) --q;
  return q * width;
}

}  // namespace

void RollingAggregates::AddTo(Series& series, int64_t time_us, int64_t now_us, double value) {
  for (size_t w = 0; w < kWindowUs.size(); ++w) {
    const int64_t width = kWindowUs[w] / kBucketsPerWindow;
    const int64_t start = FloorTo(time_us, width);
    std::deque<Bucket>& buckets = series.windows[w];
    while (!buckets.empty() && buckets.front().start_us + width <= now_us - kWindowUs[w]) {
      buckets.pop_front();
    }
    if (start + width <= now_us - kWindowUs[w]) continue;  // already outside the window
    // Buckets are in start order; readings mostly arrive in time order, so look from the back.
    auto it = buckets.end();
    while (it != buckets.begin() && std::prev(it)->start_us > start) --it;
    if (it != buckets.begin() && std::prev(it)->start_us == start) {
      Bucket& b = *std::prev(it);
      ++b.count;
      b.min = std::min(b.min, value);
      b.max = std::max(b.max, value);
      b.sum += value;
    } else {
      buckets.insert(it, Bucket{start, 1, value, value, value});
    }
  }
}

void RollingAggregates::Add(const std::string& dataset,
                            const smartcity::ingestion::v1::Reading& reading) {
  const int64_t time_us = TimeUtil::TimestampToMicroseconds(reading.time());
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  absl::MutexLock lock(&mu_);
  for (const auto& [field, value] : reading.values()) {
    const std::optional<double> number = Numeric(value);
    if (!number.has_value()) continue;
    AddTo(series_[Key{dataset, reading.source_id(), field}], time_us, now_us, *number);
    AddTo(series_[Key{dataset, "", field}], time_us, now_us, *number);
  }
}

v1::AggregateSet RollingAggregates::Query(const std::string& dataset,
                                          const std::set<std::string>& source_ids,
                                          const std::set<std::string>& fields) const {
  const absl::Time now = clock_->Now();
  const int64_t now_us = absl::ToUnixMicros(now);
  v1::AggregateSet out;
  *out.mutable_time() = TimeUtil::MicrosecondsToTimestamp(now_us);
  absl::MutexLock lock(&mu_);
  for (auto it = series_.lower_bound(Key{dataset, "", ""});
       it != series_.end() && std::get<0>(it->first) == dataset; ++it) {
    const auto& [ds, source, field] = it->first;
    if (!source_ids.empty() && !source_ids.contains(source)) continue;
    if (!fields.empty() && !fields.contains(field)) continue;
    v1::AggregateSeries series;
    for (size_t w = 0; w < kWindowUs.size(); ++w) {
      const int64_t width = kWindowUs[w] / kBucketsPerWindow;
      int64_t count = 0;
      double min = 0, max = 0, sum = 0;
      for (const Bucket& b : it->second.windows[w]) {
        if (b.start_us + width <= now_us - kWindowUs[w] || b.start_us > now_us) continue;
        min = count == 0 ? b.min : std::min(min, b.min);
        max = count == 0 ? b.max : std::max(max, b.max);
        sum += b.sum;
        count += b.count;
      }
      if (count == 0) continue;
      v1::WindowStats* stats = series.add_windows();
      stats->set_window(kWindowEnum[w]);
      stats->set_count(count);
      stats->set_min(min);
      stats->set_max(max);
      stats->set_mean(sum / static_cast<double>(count));
    }
    if (series.windows_size() == 0) continue;
    series.set_dataset(ds);
    series.set_source_id(source);
    series.set_field(field);
    *out.add_series() = std::move(series);
  }
  return out;
}

}  // namespace smartby::feed
