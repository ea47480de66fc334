// Downsampling a time series for charts: at most N points, chosen so that peaks survive.
//
// Which to use: the history query should use MinMaxDownsampler (streaming min/max buckets) by
// default, because
//   - it guarantees that every bucket's lowest and highest value is kept, hence the global min
//     and max and every spike wider than a bucket: a chart of sewer levels or container fill
//     never hides the peak an operator is looking for. LTTB keeps the visually most prominent
//     point per bucket, which is usually a peak, but when a bucket holds both a spike up and a
//     dip down it keeps only one of them;
//   - it consumes points one by one in O(max_points) memory, whatever the length of the range,
//     so a 30-day range is read page by page from ingestion and never held whole; LTTB needs the
//     whole series (each bucket's choice looks at the next bucket's average);
//   - its buckets are fixed time intervals of the requested range, so a gap in the data stays a
//     gap on the chart, and series of different sources line up bucket for bucket.
// LTTB (DownsampleLttb) gives smoother-looking lines with exactly N points; offer it when the
// client asks for it and the series is small enough to hold in memory.
//
// Times are int64 in any unit (ingestion uses Unix microseconds). Values are expected to be
// finite (ingestion refuses others); NaN values are ignored by the min/max variants.
// Everything here is a pure function or a single-threaded value type.
#ifndef SMARTBY_SERVICES_FEED_DOWNSAMPLE_H_
#define SMARTBY_SERVICES_FEED_DOWNSAMPLE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace smartby::feed {

struct SeriesPoint {
  int64_t time = 0;
  double value = 0;

  friend bool operator==(const SeriesPoint&, const SeriesPoint&) = default;
};

// Largest-Triangle-Three-Buckets (Steinarsson 2013). `points` must be sorted by time.
// Returns `points` unchanged when it has at most `max_points` points; otherwise exactly
// `max_points` points (a subset of the input, in order) that always include the first and the
// last point. max_points 0 gives no points, 1 the first point, 2 the first and last.
std::vector<SeriesPoint> DownsampleLttb(absl::Span<const SeriesPoint> points, size_t max_points);

// Min/max bucketing over the time range [first.time, last.time] of `points` (sorted by time):
// exactly what MinMaxDownsampler gives over [first.time, last.time + 1). Returns `points`
// unchanged when it has at most `max_points` points.
std::vector<SeriesPoint> DownsampleMinMax(absl::Span<const SeriesPoint> points, size_t max_points);

// Streaming min/max bucketing over a known range [start, end): the range is cut into
// B = max(1, max_points / 2) buckets of equal duration; each bucket yields its lowest and its
// highest point (the earliest one on ties), in time order, or one point when they coincide, or
// nothing when it is empty. So the result has at most max_points points (at most 1 when
// max_points is 1: then only the highest point is kept) and the global min and max are always
// among them.
//
// Points may arrive in any order and in any number of pages; points outside [start, end) and
// points with a NaN value are ignored (and counted). Memory is O(B), independent of the number
// of points. Not thread-safe.
class MinMaxDownsampler {
 public:
  // Largest max_points accepted, to bound memory for a request-supplied N.
  static constexpr size_t kMaxPoints = 100'000;

  // INVALID_ARGUMENT when end <= start, max_points is 0 or above kMaxPoints.
  static absl::StatusOr<MinMaxDownsampler> Create(int64_t start, int64_t end, size_t max_points);

  void Add(const SeriesPoint& point);
  void Add(absl::Span<const SeriesPoint> points) {
    for (const SeriesPoint& point : points) Add(point);
  }

  // The downsampled series, sorted by time. May be called at any time, and again after more
  // points were added.
  std::vector<SeriesPoint> Result() const;

  size_t points_added() const { return added_; }
  size_t points_ignored() const { return ignored_; }

 private:
  struct Bucket {
    SeriesPoint min;
    SeriesPoint max;
    bool empty = true;
  };

  friend std::vector<SeriesPoint> DownsampleMinMax(absl::Span<const SeriesPoint> points,
                                                   size_t max_points);
  // span: the range's length; 0 stands for 2^64 (the whole int64 range).
  MinMaxDownsampler(int64_t start, uint64_t span, size_t max_points);

  int64_t start_;
  uint64_t span_;  // end - start, as unsigned so that it cannot overflow
  bool max_only_;  // max_points == 1
  std::vector<Bucket> buckets_;
  size_t added_ = 0;
  size_t ignored_ = 0;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_DOWNSAMPLE_H_
