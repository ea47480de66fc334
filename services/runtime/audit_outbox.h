// The durable local outbox every service's audit events go through before they reach the audit
// service (issue 4, "Writers in every service"): a SQLite file of its own, next to the service's
// database, so that the audit service being down neither blocks nor loses anything.
//
//   auto outbox = AuditOutbox::Open("var/catalogue-audit-outbox.db", &clock);
//   ASSIGN_OR_RETURN(std::vector<int64_t> seqs, (*outbox)->Append({event}));  // durable now
//   ASSIGN_OR_RETURN(std::vector<AuditEvent> batch, (*outbox)->Peek(500));   // oldest first
//   ...ship them...
//   RETURN_IF_ERROR((*outbox)->DeleteThrough(batch.back().producer_sequence()));
//
// producer_sequence is the row id (INTEGER PRIMARY KEY AUTOINCREMENT): increasing, never reused,
// and it survives restarts and an emptied outbox (SQLite keeps the high-water mark). A freshly
// created outbox file starts its sequence at the current Unix time in microseconds rather than 1:
// when an outbox is lost (a pod without a persistent volume, a deleted file), the new one's
// numbers must not repeat the old one's, or the audit log, which deduplicates on
// (producer, producer_sequence), would silently drop the new events as re-sends. The jump shows
// in the log as a gap, which is the truth: what the old outbox still held is gone.
//
// Durability: WAL with synchronous=FULL. Every commit is fsynced before Append returns, so an
// event the outbox acknowledged survives a power loss, not only a crash of the process; the
// change it records may live in PostgreSQL, which is durable on commit, and "the change survived
// but its audit record did not" is exactly what must not happen. The fsync is shared: concurrent
// Append calls are group-committed in one transaction (one leader writes everyone's events
// waiting at that moment), so the cost per event falls as load rises.
//
// One process per outbox: Open takes an exclusive advisory lock (flock) on "<path>.lock" and
// fails with FAILED_PRECONDITION when another process holds it (two replicas sharing a volume
// would ship and count each other's events).
//
// Thread safety: thread-safe. Append, Peek and DeleteThrough block (disk): call them from the
// worker pool or the shipper's thread, never from gRPC's threads.
#ifndef SMARTBY_RUNTIME_AUDIT_OUTBOX_H_
#define SMARTBY_RUNTIME_AUDIT_OUTBOX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/runtime/clock.h"
#include "smartcity/audit/v1/audit.pb.h"

struct sqlite3;

namespace smartby {

class AuditOutbox {
 public:
  // Creates the file (and its directory) if needed. `clock` must outlive the outbox; it stamps
  // each row's arrival time (the age that refuses mutations when shipping stalls).
  static absl::StatusOr<std::unique_ptr<AuditOutbox>> Open(const std::string& path,
                                                           const Clock* clock);
  ~AuditOutbox();

  AuditOutbox(const AuditOutbox&) = delete;
  AuditOutbox& operator=(const AuditOutbox&) = delete;

  // Stores the events durably, in order, in one transaction (all or none), and returns the
  // producer_sequence each got. The events' own producer_sequence is ignored (the outbox assigns
  // it).
  absl::StatusOr<std::vector<int64_t>> Append(
      const std::vector<smartcity::audit::v1::AuditEvent>& events);

  // Up to `max` of the oldest events, oldest first, with producer_sequence set.
  absl::StatusOr<std::vector<smartcity::audit::v1::AuditEvent>> Peek(int max);

  // Removes every event with producer_sequence <= `sequence` (what the audit log acknowledged).
  absl::Status DeleteThrough(int64_t sequence);

  // A tiny write transaction: OK when the outbox can take writes again after a failed Append.
  absl::Status Probe();

  // Events held and the arrival time of the oldest (InfiniteFuture when empty). Kept in memory,
  // so asking costs nothing (the guard asks on every mutation).
  int64_t depth() const;
  absl::Time oldest() const;
  // False after an Append failed, until a later Append or Probe succeeds.
  bool healthy() const;

  const std::string& path() const { return path_; }

 private:
  struct Pending;
  AuditOutbox(std::string path, const Clock* clock, sqlite3* db, int lock_fd);

  absl::Status CommitLocked(const std::vector<Pending*>& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  absl::Status RefreshStatsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);

  const std::string path_;
  const Clock* const clock_;
  const int lock_fd_;

  // The connection; every statement runs under db_mu_.
  absl::Mutex db_mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(db_mu_);

  // Group commit: Append calls queue here; one of them (the leader) commits all queued.
  absl::Mutex queue_mu_;
  absl::CondVar committed_;
  std::vector<Pending*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool committing_ ABSL_GUARDED_BY(queue_mu_) = false;

  mutable absl::Mutex stats_mu_;
  int64_t depth_ ABSL_GUARDED_BY(stats_mu_) = 0;
  absl::Time oldest_ ABSL_GUARDED_BY(stats_mu_) = absl::InfiniteFuture();
  bool healthy_ ABSL_GUARDED_BY(stats_mu_) = true;
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_AUDIT_OUTBOX_H_
