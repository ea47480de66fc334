// The audit log's domain, without gRPC: the sequencer (group commit), the checkpointer, and the
// reads (queries, entries, proofs) with retention applied.
//
// Sequencer. Append() queues a validated request and returns at once; one writer thread takes
// queued requests (whole, up to `max_batch_entries` entries, waiting at most `linger` for more
// once the first has arrived, and no longer once appends pause for linger/8), resolves re-sent events (same producer and producer_sequence:
// the stored index is answered, nothing is appended), assigns indices and one sequencing time
// (max(clock, last time): never backwards), computes leaf and node hashes with a copy of the
// CompactRange, writes entries + hashes + producer maxima + the tree size in ONE transaction,
// and only after the commit installs the new range and calls every request's callback. A failed
// transaction fails every request of that batch and changes nothing. The queue is bounded:
// RESOURCE_EXHAUSTED when full.
//
// Missing events. A producer numbers its events 1, 2, 3, ... from its durable outbox and ships
// them in order, retrying until the log has them, so a number it skips is an event lost before it
// reached the log (an outbox deleted or restored from an older copy). The sequencer counts such
// skipped numbers (smartby_audit_missing_events_total) and logs the producer and the range.
//
// Checkpoints. The same thread signs a checkpoint when the tree grew and the last one is at least
// `checkpoint_interval` old, or `checkpoint_entries` entries behind. Before signing it checks the
// new root against the previous checkpoint with a consistency proof built from the STORED hashes;
// if that fails it refuses to sign, logs an error, and stops sequencing (appends are answered
// UNAVAILABLE) until an operator looks: a log must never sign a checkpoint inconsistent with one
// it has handed out.
//
// Start-up. Open() checks that the stored tree size equals the entry count and the largest index
// + 1, restores the CompactRange from stored hashes, checks that it matches the leaf hash of the
// last entry's bytes, and that the tree at the latest checkpoint's size has that checkpoint's root.
#ifndef SMARTBY_SERVICES_AUDIT_AUDIT_LOG_H_
#define SMARTBY_SERVICES_AUDIT_AUDIT_LOG_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/audit/audit_store.h"
#include "services/audit/checkpoint.h"
#include "services/audit/entries.h"
#include "services/audit/merkle.h"
#include "services/runtime/clock.h"

namespace smartby::audit {

struct AuditLogOptions {
  std::string origin = "smartby.example/audit";  // checkpoint origin line
  int max_batch_entries = 512;
  absl::Duration linger = absl::Milliseconds(2);
  int max_queued_entries = 50000;
  absl::Duration checkpoint_interval = absl::Seconds(1);
  int64_t checkpoint_entries = 4096;
  int64_t retention_min_index = 0;  // raised in the store; never lowered
  // Tests: runs inside each batch transaction just before it commits; an error aborts the batch.
  std::function<absl::Status()> before_commit_for_test;
};

// What the log exports to Prometheus (all prefixed smartby_audit_).
struct AuditLogMetrics {
  explicit AuditLogMetrics(prometheus::Registry& registry);
  prometheus::Counter& appended;         // smartby_audit_appends_total (new entries)
  prometheus::Counter& deduplicated;     // smartby_audit_deduplicated_total
  prometheus::Counter& failed_batches;   // smartby_audit_failed_batches_total
  prometheus::Histogram& batch_entries;  // smartby_audit_batch_entries
  prometheus::Histogram& commit_seconds; // smartby_audit_commit_seconds
  prometheus::Gauge& tree_size;          // smartby_audit_tree_size
  prometheus::Gauge& checkpoint_size;    // smartby_audit_checkpoint_tree_size
  prometheus::Gauge& checkpoint_age;     // smartby_audit_checkpoint_age_seconds
  prometheus::Gauge& queued;             // smartby_audit_queued_entries
  prometheus::Counter& refused_checkpoints;  // smartby_audit_checkpoint_refusals_total
  prometheus::Counter& missing_events;       // smartby_audit_missing_events_total
};

struct SignedCheckpoint {
  int64_t tree_size = 0;
  merkle::Hash root{};
  std::string note;
  absl::Time created;
};

class AuditLog {
 public:
  using Events = google::protobuf::RepeatedPtrField<v1::AuditEvent>;
  // Called once per request, from the writer thread, after its batch committed (or failed).
  using AppendDone = std::function<void(absl::StatusOr<std::vector<int64_t>>)>;

  // `store`, `clock` and `metrics` (may be null) must outlive the log. Starts the writer thread.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(AuditStore* store, NoteSigner signer,
                                                        const Clock* clock,
                                                        AuditLogOptions options,
                                                        AuditLogMetrics* metrics = nullptr);
  ~AuditLog();  // Stop()

  // Queues `events` (already validated: ValidateAppend) for sequencing. `events` must stay valid
  // until `done` has run. RESOURCE_EXHAUSTED (and `done` not called) when the queue is full;
  // UNAVAILABLE when the log is stopping or has halted.
  absl::Status Append(const Events* events, AppendDone done);
  // The same, waiting for the outcome (tests, tools).
  absl::StatusOr<std::vector<int64_t>> AppendAndWait(const std::vector<v1::AuditEvent>& events);

  // Signs a checkpoint now if the tree grew since the last one (on the writer thread); returns
  // the latest checkpoint afterwards, or the refusal.
  absl::StatusOr<SignedCheckpoint> CheckpointNow();

  // Finishes the queued requests, signs a last checkpoint, and stops the writer thread.
  void Stop();

  // ---- Reads ----
  int64_t size() const { return committed_size_.load(); }  // committed entries
  int64_t retention_min_index() const { return retention_min_index_; }
  SignedCheckpoint LatestCheckpoint() const;
  std::string VerifierKey() const { return verifier_key_; }
  const std::string& origin() const { return options_.origin; }
  bool halted() const { return halted_.load(); }

  // Entries [start, end), end clamped to the size; at most 1,000.
  absl::StatusOr<std::vector<v1::LogEntry>> GetEntries(int64_t start, int64_t end);
  struct QueryResult {
    std::vector<v1::LogEntry> entries;
    std::string next_page_token;
  };
  absl::StatusOr<QueryResult> Query(const v1::QueryEntriesRequest& request);
  absl::StatusOr<v1::InclusionProof> InclusionProof(int64_t index, int64_t tree_size);
  absl::StatusOr<v1::ConsistencyProof> ConsistencyProof(int64_t first, int64_t second);

  // Entries from `from` for a tail reader: up to `max` committed entries, none below retention.
  absl::StatusOr<std::vector<v1::LogEntry>> ReadForTail(int64_t from, int max);
  // Listeners are told the new committed size after every commit (from the writer thread: they
  // must not block). Returns an id for Unsubscribe.
  uint64_t Subscribe(std::function<void(int64_t)> listener);
  void Unsubscribe(uint64_t id);

 private:
  struct Request {
    const Events* events = nullptr;
    AppendDone done;
  };
  // A control request for the writer thread (CheckpointNow).
  struct Control {
    std::function<void()> run;
  };

  AuditLog(AuditStore* store, NoteSigner signer, const Clock* clock, AuditLogOptions options,
           AuditLogMetrics* metrics);
  absl::Status Recover();
  void WriterLoop();
  void CommitBatch(std::vector<Request>& batch);
  // Signs when due (or when `force`); returns the refusal if it refused.
  absl::Status MaybeCheckpoint(bool force);
  void Notify(int64_t size);
  absl::Status CheckReadable(int64_t index, const char* field) const;

  AuditStore* const store_;
  const NoteSigner signer_;
  const std::string verifier_key_;
  const Clock* const clock_;
  const AuditLogOptions options_;
  AuditLogMetrics* const metrics_;
  int64_t retention_min_index_ = 0;

  // Writer-thread state.
  merkle::CompactRange range_;
  int64_t last_micros_ = 0;
  std::map<std::string, int64_t> producer_max_;

  std::atomic<int64_t> committed_size_{0};
  std::atomic<bool> halted_{false};

  mutable std::mutex checkpoint_mu_;
  SignedCheckpoint checkpoint_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;
  std::deque<Control> controls_;
  int64_t queued_entries_ = 0;
  bool stopping_ = false;
  std::thread writer_;

  std::mutex listeners_mu_;
  uint64_t next_listener_ = 1;
  std::map<uint64_t, std::function<void(int64_t)>> listeners_;
};

}  // namespace smartby::audit

#endif  // SMARTBY_SERVICES_AUDIT_AUDIT_LOG_H_
