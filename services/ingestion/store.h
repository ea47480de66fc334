// The storage ingestion needs, and nothing more. Domain logic talks to this interface; SQL lives
// only in sql_store.cc (one implementation for both engines, dialect where it differs).
//
// Readings are rows of a time-series table keyed by (source, time). Each stored reading also has a
// position: a number assigned at commit, strictly increasing in commit order (also across
// replicas writing the same database), never reused, even after retention deleted rows. The feed
// resumes from the last position it processed (ReadAfter), which is how no acknowledged reading is
// lost on the way to it.
//
// Times are microseconds since the Unix epoch, UTC. Reading values are an opaque encoded string
// (values.h's EncodeValues); the store never looks inside.
#ifndef SMARTBY_SERVICES_INGESTION_STORE_H_
#define SMARTBY_SERVICES_INGESTION_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "services/runtime/storage/database.h"
#include "smartcity/ingestion/v1/ingestion.pb.h"

namespace smartby::ingestion {

namespace v1 = ::smartcity::ingestion::v1;

// A reading on its way in, already validated.
struct NewReading {
  std::string source_id;
  int64_t time_us = 0;
  std::string values;  // encoded
};

// A reading as stored.
struct StoredReading {
  int64_t position = 0;
  std::string source_id;
  std::string dataset;
  int64_t time_us = 0;
  int64_t accept_us = 0;  // when it was committed (the writer's clock)
  std::string values;
};

// Per-source counters kept next to the readings (data quality).
struct SourceCounters {
  int64_t accepted = 0;
  int64_t duplicates = 0;
  int64_t rejected = 0;
  int64_t late = 0;  // accepted readings that arrived more than one expected interval after their time
};

struct AppendResult {
  // One per input reading, in order: true when stored now, false when (source, time) was already
  // stored (before, or earlier in the same batch).
  std::vector<bool> inserted;
  // Positions of the stored readings, parallel to `inserted` (0 where not inserted).
  std::vector<int64_t> positions;
};

struct SourceListQuery {
  std::vector<std::string> datasets;  // empty: every dataset
  bool include_disabled = false;
  std::string after_id;               // paging: ids greater than this
  int limit = 100;
};

struct RangeQuery {
  std::vector<std::string> source_ids;  // at least one
  int64_t from_us = INT64_MIN;          // inclusive
  int64_t to_us = INT64_MAX;            // exclusive
  // Paging cursor: readings after (after_time_us, after_source_id) in (time, source_id) order.
  std::optional<std::pair<int64_t, std::string>> after;
  int limit = 1000;
};

// --- Rollups (migrations.cc explains the table and the watermark).

// Rollup buckets: 5 minutes, aligned to the Unix epoch.
inline constexpr int64_t kRollupBucketUs = int64_t{300} * 1'000'000;

// The start of the bucket holding `time_us` (rounds towards minus infinity).
inline int64_t RollupBucketStart(int64_t time_us) {
  const int64_t r = time_us % kRollupBucketUs;
  return r < 0 ? time_us - r - kRollupBucketUs : time_us - r;
}

// One field's readings of one source in one bucket. Add takes them in time order: the min and
// max keep the first reading on a tie, as AggregateReadings does.
struct FieldSummary {
  int64_t count = 0;
  double sum = 0;
  double min = 0;
  int64_t min_time_us = 0;
  double max = 0;
  int64_t max_time_us = 0;
  double last = 0;
  int64_t last_time_us = 0;

  void Add(int64_t time_us, double value) {
    if (count == 0 || value < min) min = value, min_time_us = time_us;
    if (count == 0 || value > max) max = value, max_time_us = time_us;
    last = value;
    last_time_us = time_us;
    sum += value;
    ++count;
  }
};

struct RollupBucket {
  std::string source_id;
  int64_t bucket_us = 0;  // the bucket's start
  FieldSummary summary;
};

// The numeric (integer and double) values of a reading's encoded values, as (field, value). The
// store never looks inside values itself; the refresh asks this (ingestion passes values.h's
// decoding).
using NumericValuesFn = std::function<absl::Status(
    const std::string& encoded, std::vector<std::pair<std::string, double>>* out)>;

struct RollupRead {
  // Each existing source's watermark (INT64_MIN: nothing rolled up).
  absl::flat_hash_map<std::string, int64_t> until_us;
  // The field's rollups of buckets in [from, to) that end at or before their source's
  // watermark, ordered by (bucket_us, source_id).
  std::vector<RollupBucket> buckets;
};

class IngestionStore {
 public:
  virtual ~IngestionStore() = default;

  // --- Sources. `source` is stored whole (its proto); id and dataset are also columns.
  // ALREADY_EXISTS when the id is taken.
  virtual absl::Status CreateSource(const v1::Source& source) = 0;
  // NOT_FOUND naming the id.
  virtual absl::StatusOr<v1::Source> GetSource(const std::string& id) = 0;
  // The sources that exist among `ids` (missing ones are simply absent), keyed by id.
  virtual absl::StatusOr<absl::flat_hash_map<std::string, v1::Source>> GetSources(
      absl::Span<const std::string> ids) = 0;
  // Ordered by id.
  virtual absl::StatusOr<std::vector<v1::Source>> ListSources(const SourceListQuery& query) = 0;
  // Replaces the stored source when its version equals `expected_version` (ABORTED otherwise,
  // NOT_FOUND when missing); the caller has already set the new version and update_time.
  virtual absl::Status UpdateSource(const v1::Source& source, int64_t expected_version) = 0;

  // --- Readings.
  // Stores the readings whose (source_id, time_us) is not yet stored, all in one transaction,
  // and adds `counters` (by source id) to the per-source counters in that same transaction.
  // Every source_id must exist. Either everything is committed or nothing is. Lowers each source's
  // rollup watermark to the bucket of the earliest reading stored for it (in that transaction).
  virtual absl::StatusOr<AppendResult> AppendReadings(
      absl::Span<const NewReading> readings, int64_t accept_us,
      const absl::flat_hash_map<std::string, SourceCounters>& counters) = 0;
  // Adds to the counters alone (a batch whose readings were all rejected).
  virtual absl::Status AddCounters(
      const absl::flat_hash_map<std::string, SourceCounters>& counters) = 0;
  virtual absl::StatusOr<absl::flat_hash_map<std::string, SourceCounters>> GetCounters(
      absl::Span<const std::string> source_ids) = 0;

  // Readings of the query's sources in [from, to), ordered by (time_us, source_id), at most
  // `limit`.
  virtual absl::StatusOr<std::vector<StoredReading>> ReadRange(const RangeQuery& query) = 0;
  // Calls `visit` for every reading of the query's sources in [from, to) in (time_us, source_id)
  // order, reading in chunks (memory stays bounded); `limit` is ignored. Stops early when `visit`
  // returns false.
  virtual absl::Status ScanRange(const RangeQuery& query,
                                 const std::function<bool(const StoredReading&)>& visit) = 0;
  // The newest reading of each of `source_ids` that has one.
  virtual absl::StatusOr<std::vector<StoredReading>> Latest(
      absl::Span<const std::string> source_ids) = 0;

  // Readings with position > after, in position order, at most `limit`; only those of
  // `datasets` when it is not empty.
  virtual absl::StatusOr<std::vector<StoredReading>> ReadAfter(
      int64_t after, int limit, absl::Span<const std::string> datasets) = 0;
  // The highest position ever assigned (0 when none).
  virtual absl::StatusOr<int64_t> LastPosition() = 0;

  // --- Retention.
  virtual absl::Status SetRetention(const std::string& dataset, int64_t keep_us) = 0;  // 0: for ever
  virtual absl::StatusOr<int64_t> GetRetention(const std::string& dataset) = 0;  // 0 when unset
  // dataset -> keep_us for every dataset with a retention set.
  virtual absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ListRetention() = 0;
  // Deletes at most `limit` readings of the dataset's sources with time_us < cutoff_us (oldest
  // first); returns how many it deleted. Called repeatedly until it returns less than `limit`.
  // Also deletes the rollups of buckets that start before the cutoff. A cutoff inside a bucket
  // (not a multiple of kRollupBucketUs) leaves that bucket partly deleted, so the sources'
  // watermarks are then lowered to it and the next refresh recomputes it: retention should pass
  // bucket-aligned cutoffs.
  virtual absl::StatusOr<int64_t> DeleteReadingsBefore(const std::string& dataset,
                                                       int64_t cutoff_us, int limit) = 0;

  // --- Rollups.
  // Each existing source's watermark (INT64_MIN when nothing is rolled up); unknown ids absent.
  virtual absl::StatusOr<absl::flat_hash_map<std::string, int64_t>> RollupWatermarks(
      absl::Span<const std::string> source_ids) = 0;
  // Recomputes the source's rollups from its readings from its watermark up to `until_us` (a
  // bucket boundary) and raises the watermark to it; nothing to do when the watermark is there
  // already. Each transaction covers at most a day of buckets, reads the watermark, replaces the
  // rollups of its range and sets the watermark to the range's end (so a refresh interrupted
  // half-way keeps what it did). Returns how many readings it read. NOT_FOUND for an unknown
  // source; INVALID_ARGUMENT when until_us is not a bucket boundary.
  virtual absl::StatusOr<int64_t> RefreshRollups(const std::string& source_id, int64_t until_us,
                                                 const NumericValuesFn& numeric_values) = 0;
  // The field's rollups of the sources in [from_us, to_us) below each one's watermark, with the
  // watermarks, read in one snapshot.
  virtual absl::StatusOr<RollupRead> ReadRollups(absl::Span<const std::string> source_ids,
                                                 const std::string& field, int64_t from_us,
                                                 int64_t to_us) = 0;
};

// Runs the migrations and returns the store. The database must outlive the store.
absl::StatusOr<std::unique_ptr<IngestionStore>> OpenSqlIngestionStore(
    std::shared_ptr<storage::Database> db);

}  // namespace smartby::ingestion

#endif  // SMARTBY_SERVICES_INGESTION_STORE_H_
