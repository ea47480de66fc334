#include "services/audit/audit_service.h"

#include <chrono>
#include <deque>

#include "absl/strings/str_cat.h"
#include "services/runtime/authentication.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby::audit {

const ServicePolicy& AuditServicePolicy() {
  using auth::Action;
  static const auto* policy = new ServicePolicy{
      "smartcity.audit.v1.AuditService",
      {
          {"Append", {true, Access::kAction, Action::kWriteAudit}},
          {"QueryEntries", {false, Access::kAction, Action::kReadAudit}},
          {"TailEntries", {false, Access::kAction, Action::kReadAudit}},
          {"GetEntries", {false, Access::kAction, Action::kReadAudit}},
          {"GetCheckpoint", {false, Access::kAction, Action::kReadAudit}},
          {"GetInclusionProof", {false, Access::kAction, Action::kReadAudit}},
          {"GetConsistencyProof", {false, Access::kAction, Action::kReadAudit}},
          {"GetVerifierKey", {false, Access::kAction, Action::kReadAudit}},
      }};
  return *policy;
}

// ---- TailEntries ----

class TailReactor : public grpc::ServerWriteReactor<v1::LogEntry> {
 public:
  TailReactor(AuditService* service, grpc::CallbackServerContext* context,
              const v1::TailEntriesRequest* request)
      : service_(service), context_(context), request_(*request) {
    if (!service_->RegisterTail(this)) {
      registered_ = false;
      std::lock_guard<std::mutex> lock(mu_);
      FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "too many tail streams are open; retry later"));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    SubmitLocked([this] { Begin(); });
  }

  // Called by the stall watch with the service's tail lock held.
  void CancelIfStalled(std::chrono::steady_clock::time_point now,
                       std::chrono::steady_clock::duration limit) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!writing_ || finished_ || stalled_ || now - write_started_ <= limit) return;
      stalled_ = true;
      log::Warn("cancelling a tail stream whose reader stopped reading",
                {{"peer", context_->peer()}, {"next_index", next_}});
    }
    context_->TryCancel();
  }

  // Runs when OnDone has run and no task of ours is queued or running: nothing can call us now
  // except a commit notification, which Unsubscribe waits out.
  ~TailReactor() override {
    if (subscription_ != 0) service_->log_->Unsubscribe(subscription_);
    if (registered_) service_->UnregisterTail(this);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (stalled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                "the reader stopped reading; reconnect from the last index seen"));
    } else {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled the tail"));
    }
  }

  void OnDone() override {
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      last = pending_tasks_ == 0;
    }
    if (last) delete this;
  }

 private:
  // Runs `task` on the worker pool, keeping the reactor alive until it has run.
  void SubmitLocked(std::function<void()> task) {
    ++pending_tasks_;
    const bool queued = service_->pool_->TrySubmit([this, task = std::move(task)] {
      task();
      TaskDone();
    });
    if (!queued) {
      --pending_tasks_;
      FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "the service is busy; retry in a moment"));
    }
  }

  void TaskDone() {
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      --pending_tasks_;
      last = done_ && pending_tasks_ == 0;
    }
    if (last) delete this;
  }

  void Begin() {
    absl::StatusOr<std::shared_ptr<CallContext>> call = service_->Admit(context_, "TailEntries");
    if (!call.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      FinishLocked(ToGrpcStatus(call.status()));
      return;
    }
    AuditLog* log = service_->log_;
    // Subscribe before reading the size, so no commit falls between the two. (The destructor
    // unsubscribes; it cannot run before this task has finished.)
    subscription_ = log->Subscribe([this](int64_t size) { OnCommitted(size); });
    std::lock_guard<std::mutex> lock(mu_);
    if (request_.from_latest() || request_.from_index() < 0) {
      next_ = log->size();
    } else {
      next_ = request_.from_index();
      if (next_ < log->retention_min_index()) {
        FinishLocked(grpc::Status(
            grpc::StatusCode::FAILED_PRECONDITION,
            absl::StrCat("from_index: entries below index ", log->retention_min_index(),
                         " are past the retention period and no longer served")));
        return;
      }
    }
    WriteNextLocked();
  }

  void OnCommitted(int64_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!writing_ && !reading_ && buffer_.empty() && !finished_ && next_ < size) {
      ReadLocked();
    }
  }

  void ReadLocked() {
    reading_ = true;
    SubmitLocked([this] {
      const int64_t from = [this] {
        std::lock_guard<std::mutex> lock(mu_);
        return next_;
      }();
      auto entries = service_->log_->ReadForTail(from, service_->tail_options_.chunk_entries);
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = false;
      if (finished_) return;
      if (!entries.ok()) {
        FinishLocked(ToGrpcStatus(entries.status()));
        return;
      }
      for (auto& e : *entries) buffer_.push_back(std::move(e));
      next_ = from + static_cast<int64_t>(entries->size());
      if (!writing_) WriteNextLocked();
    });
  }

  void WriteNextLocked() {
    if (finished_ || writing_) return;
    if (buffer_.empty()) {
      if (!reading_ && next_ < service_->log_->size()) ReadLocked();
      return;
    }
    current_ = std::move(buffer_.front());
    buffer_.pop_front();
    writing_ = true;
    write_started_ = std::chrono::steady_clock::now();
    StartWrite(&current_);
  }

  // Finish exactly once, and only with no write in flight (OnWriteDone finishes otherwise).
  void FinishLocked(grpc::Status status) {
    if (finished_) return;
    if (writing_) {
      context_->TryCancel();  // the pending write then completes with ok=false
      return;
    }
    finished_ = true;
    Finish(std::move(status));
  }

  AuditService* const service_;
  grpc::CallbackServerContext* const context_;
  const v1::TailEntriesRequest request_;
  bool registered_ = true;
  uint64_t subscription_ = 0;

  std::mutex mu_;
  int64_t next_ = 0;
  std::deque<v1::LogEntry> buffer_;
  v1::LogEntry current_;
  bool writing_ = false;
  bool reading_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool stalled_ = false;
  bool done_ = false;
  int pending_tasks_ = 0;
  std::chrono::steady_clock::time_point write_started_;
};

// ---- The service ----

AuditService::AuditService(AuditLog* log, CallRunner calls, WorkerPool* pool, TailOptions tail)
    : log_(log), calls_(std::move(calls)), pool_(pool), tail_options_(tail) {
  stall_watch_ = std::thread([this] { StallWatch(); });
}

AuditService::~AuditService() {
  {
    std::lock_guard<std::mutex> lock(tails_mu_);
    stopping_ = true;
  }
  tails_cv_.notify_all();
  stall_watch_.join();
}

bool AuditService::RegisterTail(TailReactor* tail) {
  std::lock_guard<std::mutex> lock(tails_mu_);
  if (static_cast<int>(tails_.size()) >= tail_options_.max_streams) return false;
  tails_.insert(tail);
  return true;
}

void AuditService::UnregisterTail(TailReactor* tail) {
  std::lock_guard<std::mutex> lock(tails_mu_);
  tails_.erase(tail);
}

void AuditService::StallWatch() {
  std::unique_lock<std::mutex> lock(tails_mu_);
  while (!stopping_) {
    tails_cv_.wait_for(lock, std::chrono::seconds(1));
    const auto now = std::chrono::steady_clock::now();
    const auto limit = absl::ToChronoMilliseconds(tail_options_.stall_timeout);
    for (TailReactor* tail : tails_) tail->CancelIfStalled(now, limit);
  }
}

absl::StatusOr<std::shared_ptr<CallContext>> AuditService::Admit(
    grpc::CallbackServerContext* context, const char* method) {
  absl::Status admitted;
  std::shared_ptr<CallContext> call = calls_.OpenStream(context, method, &admitted);
  if (admitted.ok() && context->IsCancelled()) {
    admitted = absl::CancelledError("the caller cancelled the call");
  }
  if (!admitted.ok()) {
    absl::Status refused = calls_.CloseStream(*call, std::move(admitted));
    if (refused.ok()) refused = absl::InternalError("refused call concluded as OK");
    return refused;
  }
  return call;
}

AuditService::Reactor* AuditService::Append(Ctx* ctx, const v1::AppendRequest* request,
                                            v1::AppendResponse* response) {
  Reactor* reactor = ctx->DefaultReactor();
  const bool queued = pool_->TrySubmit([this, ctx, request, response, reactor] {
    absl::StatusOr<std::shared_ptr<CallContext>> admitted = Admit(ctx, "Append");
    if (!admitted.ok()) {
      reactor->Finish(ToGrpcStatus(admitted.status()));
      return;
    }
    CallContext& call = **admitted;
    const auth::Caller& caller = call.caller;
    absl::Status status = [&]() -> absl::Status {
      RETURN_IF_ERROR(ValidateAppend(request->events()));
      // A service writes its own events only: the producer must be the token's service account
      // or one of its instances, "<account>/<instance>" (replicas of a service share an account
      // but each numbers its events itself). platform-admin may write any producer, e.g. to
      // import an old log.
      const auth::Principal* principal = caller.principal();
      if (principal != nullptr && !principal->Has(auth::Role::kPlatformAdmin)) {
        const std::string own = AccountOfCaller(principal->subject, principal->client_id);
        for (int i = 0; i < request->events_size(); ++i) {
          if (!ProducerOfAccount(request->events(i).producer(), own)) {
            return absl::PermissionDeniedError(absl::StrCat(
                "events[", i, "].producer: this token may append events of producer \"", own,
                "\" or \"", own, "/<instance>\" only, not \"", request->events(i).producer(),
                "\""));
          }
        }
      }
      return log_->Append(&request->events(),
                          [reactor, response](absl::StatusOr<std::vector<int64_t>> result) {
                            if (!result.ok()) {
                              reactor->Finish(ToGrpcStatus(result.status()));
                              return;
                            }
                            response->mutable_indexes()->Add(result->begin(), result->end());
                            reactor->Finish(grpc::Status::OK);
                          });
    }();
    // On success the sequencer finishes the call after the commit (a successful Append records
    // nothing: the entries are the record). A refused one is recorded.
    if (!status.ok()) reactor->Finish(ToGrpcStatus(Refuse(call, std::move(status))));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "the service is busy; retry in a moment"));
  }
  return reactor;
}

AuditService::Reactor* AuditService::QueryEntries(Ctx* ctx,
                                                  const v1::QueryEntriesRequest* request,
                                                  v1::QueryEntriesResponse* response) {
  return calls_.Unary(ctx, "QueryEntries", [=, this](CallContext&) -> absl::Status {
    ASSIGN_OR_RETURN(AuditLog::QueryResult result, log_->Query(*request));
    for (auto& e : result.entries) *response->add_entries() = std::move(e);
    response->set_next_page_token(result.next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::LogEntry>* AuditService::TailEntries(
    Ctx* ctx, const v1::TailEntriesRequest* request) {
  return new TailReactor(this, ctx, request);
}

AuditService::Reactor* AuditService::GetEntries(Ctx* ctx, const v1::GetEntriesRequest* request,
                                                v1::GetEntriesResponse* response) {
  return calls_.Unary(ctx, "GetEntries", [=, this](CallContext&) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<v1::LogEntry> entries,
                     log_->GetEntries(request->start_index(), request->end_index()));
    for (auto& e : entries) *response->add_entries() = std::move(e);
    return absl::OkStatus();
  });
}

AuditService::Reactor* AuditService::GetCheckpoint(Ctx* ctx, const v1::GetCheckpointRequest*,
                                                   v1::Checkpoint* response) {
  return calls_.Unary(ctx, "GetCheckpoint", [=, this](CallContext&) -> absl::Status {
    const SignedCheckpoint cp = log_->LatestCheckpoint();
    response->set_origin(log_->origin());
    response->set_tree_size(cp.tree_size);
    response->set_root_hash(std::string(reinterpret_cast<const char*>(cp.root.data()),
                                        cp.root.size()));
    response->set_note(cp.note);
    response->set_minimum_index(log_->retention_min_index());
    return absl::OkStatus();
  });
}

AuditService::Reactor* AuditService::GetInclusionProof(Ctx* ctx,
                                                       const v1::GetInclusionProofRequest* request,
                                                       v1::InclusionProof* response) {
  return calls_.Unary(ctx, "GetInclusionProof", [=, this](CallContext&) -> absl::Status {
    ASSIGN_OR_RETURN(*response, log_->InclusionProof(request->index(), request->tree_size()));
    return absl::OkStatus();
  });
}

AuditService::Reactor* AuditService::GetConsistencyProof(
    Ctx* ctx, const v1::GetConsistencyProofRequest* request, v1::ConsistencyProof* response) {
  return calls_.Unary(ctx, "GetConsistencyProof", [=, this](CallContext&) -> absl::Status {
    ASSIGN_OR_RETURN(*response,
                     log_->ConsistencyProof(request->first_size(), request->second_size()));
    return absl::OkStatus();
  });
}

AuditService::Reactor* AuditService::GetVerifierKey(Ctx* ctx, const v1::GetVerifierKeyRequest*,
                                                    v1::GetVerifierKeyResponse* response) {
  return calls_.Unary(ctx, "GetVerifierKey", [=, this](CallContext&) -> absl::Status {
    response->set_verifier_key(log_->VerifierKey());
    return absl::OkStatus();
  });
}

}  // namespace smartby::audit
