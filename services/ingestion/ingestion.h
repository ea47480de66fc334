// The ingestion domain: sources, the one validation path every reading takes (gRPC batches and
// streams, files, MQTT), queries, data quality, retention and the hand-over to the feed. Knows
// nothing of gRPC; the service (ingestion_service.h) translates.
//
// Every reading takes the same path (WriteBatch):
//   1. its source must exist, belong to a dataset the catalogue has and that is not retired, and
//      not be disabled;
//   2. the caller must be allowed to write to that dataset (kWriteReadings: ingest-writer scoped
//      to the dataset, or its dataset-owner); a batch touching a dataset the caller may not write
//      is refused as a whole and nothing of it is stored;
//   3. its time must be set and not more than max_future ahead of the service's clock;
//   4. its values must match the dataset's schema (values.h CheckValues);
//   5. it is stored unless (source, time) is already stored: then it is a DUPLICATE and nothing
//      changes, which makes every write idempotent.
// A batch is committed in one transaction before its results are returned, so every reading
// answered ACCEPTED or DUPLICATE is durable.
//
// Thread safety: thread-safe.
#ifndef SMARTBY_SERVICES_INGESTION_INGESTION_H_
#define SMARTBY_SERVICES_INGESTION_INGESTION_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/field_mask.pb.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/ingestion/dataset_directory.h"
#include "services/ingestion/formats.h"
#include "services/ingestion/row_mapping.h"
#include "services/ingestion/store.h"
#include "services/ingestion/values.h"
#include "services/runtime/auth/caller.h"
#include "services/runtime/clock.h"

namespace smartby::ingestion {

struct IngestionOptions {
  absl::Duration max_future = absl::Minutes(5);  // readings further ahead are rejected
  int max_batch = 10000;                         // readings per write
  int import_batch = 5000;                       // readings per transaction in a file import
  int max_row_errors = 1000;                     // kept in an import's report
  // The MQTT topic layout: <prefix>/<dataset>/<source_id>.
  std::string mqtt_topic_prefix = "smartby/readings";
  // AggregateReadings answers requests whose windows are whole multiples of 5 minutes starting
  // on a 5-minute boundary from the rollups (store.h) below each source's watermark and from the
  // readings above it. false: always from the readings (tests compare the two).
  bool aggregate_from_rollups = true;
  // Such a request first refreshes the rollups of each source whose stale part of the requested
  // range (from its watermark to now) is longer than this: the first long query pays for it.
  absl::Duration rollup_refresh_after = absl::Hours(1);
};

// Per-dataset counters for Prometheus; null registry: no metrics.
class IngestionMetrics {
 public:
  explicit IngestionMetrics(prometheus::Registry* registry);
  void Count(const std::string& dataset, v1::ReadingOutcome outcome, v1::RejectReason reason,
             int64_t n);
  void Late(const std::string& dataset, int64_t n);
  void SetSilentSources(const std::string& dataset, int64_t n);
  void SetMissingIntervals(const std::string& dataset, int64_t n);
  void ObserveCommit(absl::Duration d);

 private:
  prometheus::Family<prometheus::Counter>* readings_ = nullptr;
  prometheus::Family<prometheus::Counter>* rejected_ = nullptr;
  prometheus::Family<prometheus::Counter>* late_ = nullptr;
  prometheus::Family<prometheus::Gauge>* silent_ = nullptr;
  prometheus::Family<prometheus::Gauge>* missing_ = nullptr;
  prometheus::Histogram* commit_seconds_ = nullptr;
};

// Wakes the feed hand-over (WatchReadings) when readings are committed.
class CommitSignal {
 public:
  void Committed(int64_t position);
  // Waits until a position > `after` was committed by this process or `deadline` passes;
  // returns the highest committed position known.
  int64_t WaitBeyond(int64_t after, absl::Time deadline);
  int64_t last() const;
  // Registers a callback run (on the committing thread; keep it short) after every commit.
  // Unsubscribe waits for a call to it in progress, so after it returns the callback's target
  // may be destroyed.
  int Subscribe(std::function<void(int64_t)> callback);
  void Unsubscribe(int id);

 private:
  mutable absl::Mutex mu_;
  int64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex callbacks_mu_;
  int next_id_ ABSL_GUARDED_BY(callbacks_mu_) = 0;
  std::vector<std::pair<int, std::function<void(int64_t)>>> callbacks_
      ABSL_GUARDED_BY(callbacks_mu_);
};

class Ingestion {
 public:
  // All pointers must outlive the Ingestion. `registry` may be null.
  Ingestion(IngestionStore* store, DatasetDirectory* directory, const Clock* clock,
            prometheus::Registry* registry, IngestionOptions options = {});

  // --- Sources.
  absl::StatusOr<v1::Source> RegisterSource(const auth::Caller& caller, v1::Source source);
  absl::StatusOr<v1::Source> GetSource(const auth::Caller& caller, const std::string& id);
  absl::StatusOr<v1::ListSourcesResponse> ListSources(const auth::Caller& caller,
                                                      const v1::ListSourcesRequest& request);
  absl::StatusOr<v1::Source> UpdateSource(const auth::Caller& caller, const v1::Source& source,
                                          const google::protobuf::FieldMask& mask);
  absl::StatusOr<v1::Source> DisableSource(const auth::Caller& caller, const std::string& id);

  // --- Writes. `caller` nullptr: the MQTT bridge, whose access the broker decided.
  absl::StatusOr<v1::WriteReadingsResponse> Write(
      const auth::Caller* caller,
      const google::protobuf::RepeatedPtrField<v1::Reading>& readings);

  // One file import: Start, then Feed chunks, then Finish. Not thread-safe itself (one stream).
  class FileImport {
   public:
    absl::Status Feed(absl::string_view chunk);
    absl::StatusOr<v1::ImportSummary> Finish();
    v1::ImportProgress progress() const;

   private:
    friend class Ingestion;
    FileImport() = default;
    absl::Status Flush();
    void Reject(int64_t row, std::string column, v1::RejectReason reason, std::string message);

    Ingestion* ingestion_ = nullptr;
    const auth::Caller* caller_ = nullptr;
    std::shared_ptr<const DatasetSchema> schema_;
    ColumnMapping mapping_;
    std::unique_ptr<RecordReader> reader_;
    std::vector<v1::Reading> pending_;
    std::vector<int64_t> pending_rows_;
    v1::ImportProgress progress_;
    v1::ImportSummary summary_;
    absl::Status failed_;  // a store failure stops the import
  };
  absl::StatusOr<std::unique_ptr<FileImport>> StartImport(const auth::Caller& caller,
                                                          const v1::ImportOptions& options);

  // The MQTT bridge's handler: topic <prefix>/<dataset>/<source_id>, payload one JSON object or
  // an array of them (row_mapping.h columns). OK when handled for good (stored, duplicate or
  // rejected: rejections are counted and logged), UNAVAILABLE when it must be delivered again.
  absl::Status HandleMqttMessage(absl::string_view topic, absl::string_view payload);

  // --- Queries.
  absl::StatusOr<v1::QueryReadingsResponse> QueryReadings(const auth::Caller& caller,
                                                          const v1::QueryReadingsRequest& request);
  absl::StatusOr<v1::AggregateReadingsResponse> AggregateReadings(
      const auth::Caller& caller, const v1::AggregateReadingsRequest& request);
  absl::StatusOr<v1::GetLatestReadingsResponse> GetLatestReadings(
      const auth::Caller& caller, const v1::GetLatestReadingsRequest& request);
  absl::StatusOr<v1::GetDataQualityResponse> GetDataQuality(
      const auth::Caller& caller, const v1::GetDataQualityRequest& request);

  // --- The hand-over to the feed. Readings after `after` of the datasets the caller may read
  // (restricted to `datasets` when not empty), in position order, at most `limit`. The returned
  // position is the last one examined, so a subscriber that resumes from it skips nothing, even
  // when the readings examined were all filtered out.
  struct WatchBatch {
    std::vector<v1::PositionedReading> readings;
    int64_t last_position = 0;
  };
  absl::StatusOr<WatchBatch> ReadAfter(const auth::Caller& caller, int64_t after,
                                       const std::vector<std::string>& datasets, int limit);
  CommitSignal& commits() { return commits_; }

  // --- Retention.
  absl::StatusOr<v1::RetentionPolicy> SetRetention(const auth::Caller& caller,
                                                   const v1::RetentionPolicy& policy);
  absl::StatusOr<v1::RetentionPolicy> GetRetention(const auth::Caller& caller,
                                                   const std::string& dataset);
  // One pass: deletes expired readings of every dataset with a retention, `chunk` rows per
  // transaction. Returns how many it deleted.
  // Cutoffs are rounded down to a rollup bucket boundary (up to 5 minutes more are kept), so
  // that every rollup bucket is either wholly expired or wholly kept.
  absl::StatusOr<int64_t> ApplyRetention(int chunk = 10000);
  // Updates the per-dataset quality gauges: silent sources (not heard from for twice their
  // expected interval) and missing intervals over the last hour.
  absl::Status RefreshQualityMetrics();

 private:
  struct Validated;
  absl::StatusOr<std::shared_ptr<const DatasetSchema>> LiveDataset(const std::string& dataset);
  // Readings, gaps and last reading of `source` in [start, end) (counters not included).
  absl::Status MeasureQuality(const v1::Source& source, int64_t start_us, int64_t end_us,
                              v1::SourceQuality* quality);
  auth::ResourceRef ResourceOf(const DatasetSchema& schema) const;
  absl::Status AuthorizeDataset(const auth::Caller& caller, auth::Action action,
                                const std::string& dataset,
                                std::shared_ptr<const DatasetSchema>* schema);
  // The one write path (see above). `only_dataset`: readings of other datasets' sources are
  // rejected (files and MQTT topics name their dataset). `results` gets one entry per reading.
  absl::Status WriteBatch(const auth::Caller* caller, std::vector<v1::Reading>& readings,
                          const std::string& only_dataset,
                          std::vector<v1::ReadingResult>* results);
  // AggregateReadings from rollups and the readings past them (ingestion.cc explains).
  struct AggregatePlan;
  absl::Status AggregateFromRollups(const AggregatePlan& plan,
                                    v1::AggregateReadingsResponse* response);
  // The sources a query names (one source, or a dataset's), once the caller may read them;
  // `schema`, when given, gets their dataset's schema.
  absl::StatusOr<std::vector<std::string>> ReadableSources(
      const auth::Caller& caller, const std::string& source_id, const std::string& dataset,
      std::shared_ptr<const DatasetSchema>* schema = nullptr);

  IngestionStore* store_;
  DatasetDirectory* directory_;
  const Clock* clock_;
  const IngestionOptions options_;
  IngestionMetrics metrics_;
  CommitSignal commits_;
};

}  // namespace smartby::ingestion

#endif  // SMARTBY_SERVICES_INGESTION_INGESTION_H_
