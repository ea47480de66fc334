// gRPC handlers of smartcity.audit.v1.AuditService.
//
// Reads are unary calls through the runtime's CallRunner (policy, authentication, worker pool).
// Two calls need more than CallRunner::Unary offers, and go through the same guards with
// CallRunner::OpenStream / CloseStream (authentication, the audit guard, the method's policy), so
// that their refusals are recorded like any other refused call:
//
//   Append        authenticated and validated on the worker pool, then handed to the sequencer;
//                 the pool thread returns at once and the reactor is finished by the sequencer
//                 after the group commit. No thread waits on a commit, so 64 concurrent callers
//                 share batches instead of each holding a worker.
//   TailEntries   a ServerWriteReactor: one write in flight, entries read from the store in
//                 chunks on the worker pool, woken by the sequencer's commit notification. It
//                 buffers at most one chunk and never queues notifications, so a slow reader only
//                 falls behind and re-reads from the store; appends never wait for it. A reader
//                 whose write has been pending for --tail_stall_timeout is cancelled.
#ifndef SMARTBY_SERVICES_AUDIT_AUDIT_SERVICE_H_
#define SMARTBY_SERVICES_AUDIT_AUDIT_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "absl/time/time.h"
#include "services/audit/audit_log.h"
#include "services/runtime/call.h"
#include "services/runtime/worker_pool.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"

namespace smartby::audit {

// Append: audit-writer (a service's own account) or platform-admin; every read: auditor or
// platform-admin.
const ServicePolicy& AuditServicePolicy();

struct TailOptions {
  int max_streams = 64;
  int chunk_entries = 128;
  absl::Duration stall_timeout = absl::Seconds(30);
};

class TailReactor;

class AuditService final : public v1::AuditService::CallbackService {
 public:
  // `log` and `pool` must outlive the service; `calls` comes from NewCallRunner with
  // AuditServicePolicy() (its guards authenticate every call, Append and TailEntries included).
  AuditService(AuditLog* log, CallRunner calls, WorkerPool* pool, TailOptions tail = {});
  ~AuditService() override;

  CallRunner& calls() { return calls_; }

  using Ctx = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  Reactor* Append(Ctx*, const v1::AppendRequest*, v1::AppendResponse*) override;
  Reactor* QueryEntries(Ctx*, const v1::QueryEntriesRequest*,
                        v1::QueryEntriesResponse*) override;
  grpc::ServerWriteReactor<v1::LogEntry>* TailEntries(Ctx*,
                                                      const v1::TailEntriesRequest*) override;
  Reactor* GetEntries(Ctx*, const v1::GetEntriesRequest*, v1::GetEntriesResponse*) override;
  Reactor* GetCheckpoint(Ctx*, const v1::GetCheckpointRequest*, v1::Checkpoint*) override;
  Reactor* GetInclusionProof(Ctx*, const v1::GetInclusionProofRequest*,
                             v1::InclusionProof*) override;
  Reactor* GetConsistencyProof(Ctx*, const v1::GetConsistencyProofRequest*,
                               v1::ConsistencyProof*) override;
  Reactor* GetVerifierKey(Ctx*, const v1::GetVerifierKeyRequest*,
                          v1::GetVerifierKeyResponse*) override;

  // Runs the runtime's guards and `method`'s policy for the calls that do not go through
  // CallRunner::Unary. A refusal is concluded here (recorded in the audit outbox) and returned.
  // Runs on the worker pool (key fetches may block).
  absl::StatusOr<std::shared_ptr<CallContext>> Admit(grpc::CallbackServerContext* context,
                                                     const char* method);
  // Concludes an admitted call that failed (recorded like any refused call); returns the status
  // to answer with.
  absl::Status Refuse(CallContext& call, absl::Status status) {
    return calls_.CloseStream(call, std::move(status));
  }

 private:
  friend class TailReactor;
  bool RegisterTail(TailReactor* tail);
  void UnregisterTail(TailReactor* tail);
  void StallWatch();

  AuditLog* const log_;
  CallRunner calls_;
  WorkerPool* const pool_;
  const TailOptions tail_options_;

  std::mutex tails_mu_;
  std::condition_variable tails_cv_;
  std::set<TailReactor*> tails_;
  bool stopping_ = false;
  std::thread stall_watch_;
};

}  // namespace smartby::audit

#endif  // SMARTBY_SERVICES_AUDIT_AUDIT_SERVICE_H_
