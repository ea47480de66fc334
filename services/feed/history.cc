#include "services/feed/history.h"

#include <algorithm>
#include <optional>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "services/feed/downsample.h"
#include "services/runtime/status.h"

namespace smartby::feed {

namespace iv1 = ::smartcity::ingestion::v1;
using google::protobuf::util::TimeUtil;

namespace {

// AggregateReadings' smallest window.
constexpr int64_t kMinWindowUs = 1'000'000;
// Ingestion's rollup bucket (services/ingestion/store.h kRollupBucketUs): windows that are whole
// multiples of it, starting on its boundaries, are answered from rollups instead of readings.
constexpr int64_t kRollupBucketUs = int64_t{300} * 1'000'000;

int64_t FloorToBucket(int64_t us) {
  const int64_t r = us % kRollupBucketUs;
  return r < 0 ? us - r - kRollupBucketUs : us - r;
}
int64_t CeilToBucket(int64_t us) {
  const int64_t floor = FloorToBucket(us);
  return floor == us ? us : floor + kRollupBucketUs;
}

// A refusal that is about the request (a field that is not numeric, a source that does not
// exist) keeps its code; anything else means ingestion could not answer.
absl::Status IngestionError(const char* method, const grpc::Status& status) {
  const absl::Status inner = FromGrpcStatus(status);
  switch (inner.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
      return absl::Status(inner.code(), absl::StrCat("history: ", inner.message()));
    default:
      return absl::UnavailableError(
          absl::StrCat("history: ingestion's ", method, " failed: ", inner.message()));
  }
}

std::optional<double> Number(const iv1::Value& value) {
  if (value.has_double_value()) return value.double_value();
  if (value.has_integer_value()) return static_cast<double>(value.integer_value());
  return std::nullopt;
}

v1::HistoryPoint Point(const google::protobuf::Timestamp& time, double value) {
  v1::HistoryPoint point;
  *point.mutable_time() = time;
  point.set_value(value);
  return point;
}

}  // namespace

HistoryReader::HistoryReader(std::shared_ptr<grpc::Channel> ingestion,
                             std::shared_ptr<TokenProvider> tokens,
                             const SeriesDownsampler* downsampler)
    : ingestion_(iv1::IngestionService::NewStub(std::move(ingestion))),
      tokens_(std::move(tokens)),
      downsampler_(downsampler) {}

std::unique_ptr<grpc::ClientContext> HistoryReader::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  if (tokens_ != nullptr) {
    absl::StatusOr<std::string> token = tokens_->Token();
    // Without a token the call goes out anonymous and ingestion refuses it with a clear code.
    if (token.ok()) context->AddMetadata("authorization", absl::StrCat("Bearer ", *token));
  }
  return context;
}

absl::StatusOr<std::vector<std::string>> HistoryReader::Sources(
    const std::string& dataset) const {
  std::vector<std::string> ids;
  iv1::ListSourcesRequest request;
  request.set_dataset(dataset);
  request.set_include_disabled(true);  // a disabled source still has its history
  request.set_page_size(1000);
  do {
    iv1::ListSourcesResponse page;
    const grpc::Status status = ingestion_->ListSources(Context().get(), request, &page);
    if (!status.ok()) return IngestionError("ListSources", status);
    for (const iv1::Source& source : page.sources()) ids.push_back(source.id());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return ids;
}

absl::Status HistoryReader::AppendAggregates(const std::string& source, const std::string& field,
                                             int64_t start_us, int64_t end_us, int64_t window_us,
                                             std::vector<iv1::Aggregate>* windows) const {
  iv1::AggregateReadingsRequest aggregate;
  aggregate.set_source_id(source);
  aggregate.set_field(field);
  *aggregate.mutable_start_time() = TimeUtil::MicrosecondsToTimestamp(start_us);
  *aggregate.mutable_end_time() = TimeUtil::MicrosecondsToTimestamp(end_us);
  *aggregate.mutable_window() =
      TimeUtil::MicrosecondsToDuration(std::max<int64_t>(kMinWindowUs, window_us));
  aggregate.set_page_size(10000);
  do {
    iv1::AggregateReadingsResponse page;
    const grpc::Status status = ingestion_->AggregateReadings(Context().get(), aggregate, &page);
    if (!status.ok()) return IngestionError("AggregateReadings", status);
    for (iv1::Aggregate& window : *page.mutable_windows()) windows->push_back(std::move(window));
    aggregate.set_page_token(page.next_page_token());
  } while (!aggregate.page_token().empty());
  return absl::OkStatus();
}

absl::StatusOr<v1::HistorySeries> HistoryReader::Series(const v1::GetHistoryRequest& request,
                                                        const std::string& source,
                                                        int max_points, absl::Time start,
                                                        absl::Time end) const {
  v1::HistorySeries series;
  series.set_source_id(source);
  const int64_t start_us = absl::ToUnixMicros(start);
  const int64_t end_us = absl::ToUnixMicros(end);
  // max_points / 2 windows, each giving at most its lowest and its highest point.
  const int64_t range_us = std::max<int64_t>(1, end_us - start_us);
  const int64_t windows = std::max(1, max_points / 2);
  const int64_t window_us = std::max<int64_t>(kMinWindowUs, (range_us + windows - 1) / windows);
  std::vector<iv1::Aggregate> buckets;
  // A range long enough for windows of 5 minutes or more is asked for in a form ingestion
  // answers from its rollups: the bucket-aligned interior [A, B) in windows of whole buckets,
  // and the two short edges [start, A) and [B, end) as one window each (from the readings). The
  // edges take two of the windows, so there are still at most max_points / 2 in all.
  const int64_t interior_from = CeilToBucket(start_us);
  const int64_t interior_to = FloorToBucket(end_us);
  const int64_t interior_windows = windows - 2;
  if (window_us >= kRollupBucketUs && interior_windows >= 1 && interior_from < interior_to) {
    const int64_t interior_range = interior_to - interior_from;
    const int64_t interior_window =
        CeilToBucket((interior_range + interior_windows - 1) / interior_windows);
    if (start_us < interior_from) {
      RETURN_IF_ERROR(AppendAggregates(source, request.field(), start_us, interior_from,
                                       interior_from - start_us, &buckets));
    }
    RETURN_IF_ERROR(AppendAggregates(source, request.field(), interior_from, interior_to,
                                     interior_window, &buckets));
    if (interior_to < end_us) {
      RETURN_IF_ERROR(AppendAggregates(source, request.field(), interior_to, end_us,
                                       end_us - interior_to, &buckets));
    }
  } else {
    RETURN_IF_ERROR(
        AppendAggregates(source, request.field(), start_us, end_us, window_us, &buckets));
  }
  int64_t total = 0;
  for (const iv1::Aggregate& bucket : buckets) total += bucket.count();
  series.set_raw_points(total);
  if (total == 0) return series;

  if (total > max_points) {
    for (const iv1::Aggregate& bucket : buckets) {
      const bool min_first = TimeUtil::TimestampToMicroseconds(bucket.min_time()) <=
                             TimeUtil::TimestampToMicroseconds(bucket.max_time());
      const v1::HistoryPoint low = Point(bucket.min_time(), bucket.min());
      const v1::HistoryPoint high = Point(bucket.max_time(), bucket.max());
      if (bucket.count() == 1 || bucket.min_time() == bucket.max_time()) {
        *series.add_points() = high;
      } else {
        *series.add_points() = min_first ? low : high;
        *series.add_points() = min_first ? high : low;
      }
    }
    return series;
  }

  // Few enough to send as they are.
  iv1::QueryReadingsRequest query;
  query.set_source_id(source);
  *query.mutable_start_time() = TimeUtil::MicrosecondsToTimestamp(start_us);
  *query.mutable_end_time() = TimeUtil::MicrosecondsToTimestamp(end_us);
  query.set_page_size(10000);
  std::vector<v1::HistoryPoint> points;
  do {
    iv1::QueryReadingsResponse page;
    const grpc::Status status = ingestion_->QueryReadings(Context().get(), query, &page);
    if (!status.ok()) return IngestionError("QueryReadings", status);
    for (const iv1::Reading& reading : page.readings()) {
      auto it = reading.values().find(request.field());
      if (it == reading.values().end()) continue;
      if (std::optional<double> value = Number(it->second)) {
        points.push_back(Point(reading.time(), *value));
      }
    }
    query.set_page_token(page.next_page_token());
  } while (!query.page_token().empty());
  series.set_raw_points(static_cast<int64_t>(points.size()));
  for (v1::HistoryPoint& p : downsampler_->Reduce(std::move(points), max_points)) {
    *series.add_points() = std::move(p);
  }
  return series;
}

absl::StatusOr<v1::GetHistoryResponse> HistoryReader::Read(const v1::GetHistoryRequest& request,
                                                           int max_points, absl::Time end) const {
  const absl::Time start = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(request.start_time()));
  v1::GetHistoryResponse response;
  if (end <= start) return response;
  std::vector<std::string> sources;
  if (!request.source_id().empty()) {
    sources.push_back(request.source_id());
  } else {
    ASSIGN_OR_RETURN(sources, Sources(request.dataset()));
  }
  for (const std::string& source : sources) {
    ASSIGN_OR_RETURN(v1::HistorySeries series, Series(request, source, max_points, start, end));
    if (series.points_size() > 0) *response.add_series() = std::move(series);
  }
  return response;
}

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
