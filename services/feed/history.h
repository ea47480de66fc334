// History for charts: a field's readings over a range, at most N points per series, read from
// ingestion through its API.
//
// A long range is reduced where the data is: ingestion's AggregateReadings gives, per window of
// (range / (N/2)), the lowest and the highest value and when each was measured, so every peak
// survives at its own time and only the windows cross the network (30 days of a sensor
// reporting every 30 s are 86,400 readings but 500 windows). A series with at most N readings in
// the range is read raw (QueryReadings) instead. A range long enough for windows of 5 minutes or
// more is asked for as its 5-minute-aligned interior in windows of whole 5 minutes, which
// ingestion answers from its rollups (5-minute summaries kept per source and field) instead of
// scanning every reading, plus the two short edges as one window each.
//
// SeriesDownsampler is the seam for reducing raw points: it only matters when readings arrive
// between the two calls and push a raw series past N (main.cc passes the time-bucket min-max
// reduction of services/feed/downsample.h).
#ifndef SMARTBY_SERVICES_FEED_HISTORY_H_
#define SMARTBY_SERVICES_FEED_HISTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/runtime/service_token.h"
#include "smartcity/feed/v1/feed.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::feed {

namespace v1 = ::smartcity::feed::v1;

class SeriesDownsampler {
 public:
  virtual ~SeriesDownsampler() = default;
  // `points` are oldest first; returns at most `max_points` (>= 2) of them, oldest first.
  virtual std::vector<v1::HistoryPoint> Reduce(std::vector<v1::HistoryPoint> points,
                                               int max_points) const = 0;
};

// The simplest reduction that keeps peaks: max_points/2 equal-count buckets, each giving its
// minimum and its maximum, in time order (the first and last points are always kept).
class MinMaxBucketDownsampler : public SeriesDownsampler {
 public:
  std::vector<v1::HistoryPoint> Reduce(std::vector<v1::HistoryPoint> points,
                                       int max_points) const override;
};

// MinMaxDownsampler (downsample.h) behind the seam: the range of the points cut into
// max_points/2 buckets of equal duration, each giving its lowest and highest point, so every peak
// and gaps in the data survive. What the feed uses (main.cc).
class MinMaxTimeBucketDownsampler : public SeriesDownsampler {
 public:
  std::vector<v1::HistoryPoint> Reduce(std::vector<v1::HistoryPoint> points,
                                       int max_points) const override;
};

// Reads history series from ingestion with the feed's own token. Thread-safe.
class HistoryReader {
 public:
  // `tokens` may be nullptr (no authorization header, for tests).
  HistoryReader(std::shared_ptr<grpc::Channel> ingestion, std::shared_ptr<TokenProvider> tokens,
                const SeriesDownsampler* downsampler);

  // `request` is validated and authorised by the caller; `end` is its end_time or now.
  // Series of sources with no reading of the field in the range are left out.
  absl::StatusOr<v1::GetHistoryResponse> Read(const v1::GetHistoryRequest& request,
                                              int max_points, absl::Time end) const;

 private:
  std::unique_ptr<grpc::ClientContext> Context() const;
  absl::StatusOr<std::vector<std::string>> Sources(const std::string& dataset) const;
  // Appends the windows AggregateReadings gives for the source's field over [start, end).
  absl::Status AppendAggregates(const std::string& source, const std::string& field,
                                int64_t start_us, int64_t end_us, int64_t window_us,
                                std::vector<smartcity::ingestion::v1::Aggregate>* windows) const;
  absl::StatusOr<v1::HistorySeries> Series(const v1::GetHistoryRequest& request,
                                           const std::string& source, int max_points,
                                           absl::Time start, absl::Time end) const;

  std::unique_ptr<smartcity::ingestion::v1::IngestionService::Stub> ingestion_;
  std::shared_ptr<TokenProvider> tokens_;
  const SeriesDownsampler* downsampler_;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_HISTORY_H_
