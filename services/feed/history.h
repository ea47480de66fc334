// History for charts: a field's readings over a range, read from ingestion's QueryReadings, at
// most N points per series.
//
// SeriesDownsampler is the seam for the reduction: the LTTB / min-max implementation of
// services/feed/downsample.h replaces MinMaxBucketDownsampler (main.cc passes one in).
#ifndef SMARTBY_SERVICES_FEED_HISTORY_H_
#define SMARTBY_SERVICES_FEED_HISTORY_H_

#include <vector>

#include "smartcity/feed/v1/feed.pb.h"

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

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_HISTORY_H_
