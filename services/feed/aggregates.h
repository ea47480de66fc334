// Rolling aggregates of numeric fields: count/min/max/mean over the last 1 minute, 5 minutes and
// 1 hour (by the readings' measurement time, against the feed's clock), per source and per
// dataset (all its sources together).
//
// Each window is kept as up to 60 sub-buckets (1 s, 5 s, 1 min wide) holding only the buckets
// that received readings, so a series costs memory in proportion to how often it reports; a
// window's edge is therefore exact to one sub-bucket.
//
// Thread safety: thread-safe.
#ifndef SMARTBY_SERVICES_FEED_AGGREGATES_H_
#define SMARTBY_SERVICES_FEED_AGGREGATES_H_

#include <array>
#include <deque>
#include <set>
#include <string>
#include <tuple>

#include "absl/container/btree_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/runtime/clock.h"
#include "smartcity/feed/v1/feed.pb.h"
#include "smartcity/ingestion/v1/ingestion.pb.h"

namespace smartby::feed {

namespace v1 = ::smartcity::feed::v1;

class RollingAggregates {
 public:
  explicit RollingAggregates(const Clock* clock) : clock_(clock) {}

  // Adds every numeric value of the reading to its source's and its dataset's series.
  void Add(const std::string& dataset, const smartcity::ingestion::v1::Reading& reading);

  // The series of `dataset`: its sources in `source_ids` (empty: all of them, plus the dataset
  // total), fields in `fields` (empty: all). Windows without readings are left out, and so are
  // series with no window left.
  v1::AggregateSet Query(const std::string& dataset, const std::set<std::string>& source_ids,
                         const std::set<std::string>& fields) const;

 private:
  struct Bucket {
    int64_t start_us = 0;
    int64_t count = 0;
    double min = 0, max = 0, sum = 0;
  };
  struct Series {
    std::array<std::deque<Bucket>, 3> windows;  // 1 min, 5 min, 1 h
  };
  // (dataset, source ("" for the dataset total), field)
  using Key = std::tuple<std::string, std::string, std::string>;

  static void AddTo(Series& series, int64_t time_us, int64_t now_us, double value);

  const Clock* clock_;
  mutable absl::Mutex mu_;
  absl::btree_map<Key, Series> series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_AGGREGATES_H_
