#include "services/ingestion/ingestion_service.h"

#include <deque>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "services/runtime/audit_guard.h"
#include "services/runtime/log.h"
#include "services/runtime/pooled_reactor.h"
#include "services/runtime/status.h"
#include "services/runtime/stream_writer.h"

namespace smartby::ingestion {

// Who may call what (README.md, "Access"). kResource: the domain loads the dataset and asks the
// caller for the action on it; kFiltered: the domain returns only what the caller may read.
const ServicePolicy& IngestionServicePolicy() {
  using auth::Action;
  static const auto* policy = new ServicePolicy{
      "smartcity.ingestion.v1.IngestionService",
      {
          {"RegisterSource", {true, Access::kResource, Action::kWriteReadings}},
          {"GetSource", {false, Access::kResource, Action::kRead}},
          {"ListSources", {false, Access::kFiltered, Action::kRead}},
          {"UpdateSource", {true, Access::kResource, Action::kWriteReadings}},
          {"DisableSource", {true, Access::kResource, Action::kWriteReadings}},
          {"WriteReadings", {true, Access::kResource, Action::kWriteReadings}},
          {"StreamReadings", {true, Access::kResource, Action::kWriteReadings}},
          {"ImportFile", {true, Access::kResource, Action::kWriteReadings}},
          {"QueryReadings", {false, Access::kResource, Action::kRead}},
          {"AggregateReadings", {false, Access::kResource, Action::kRead}},
          {"GetLatestReadings", {false, Access::kResource, Action::kRead}},
          {"GetDataQuality", {false, Access::kResource, Action::kRead}},
          {"WatchReadings", {false, Access::kFiltered, Action::kRead}},
          {"SetRetention", {true, Access::kResource, Action::kDelete}},
          {"GetRetention", {false, Access::kResource, Action::kRead}},
      }};
  return *policy;
}

namespace {

constexpr size_t kMaxChunkBytes = 1 << 20;
constexpr int kWatchBatch = 1000;

const absl::Status kBusy = absl::ResourceExhaustedError("the service is busy; retry in a moment");

// StreamReadings: one batch in flight; its answer goes out only after it is committed.
class WriteStreamReactor
    : public PooledReactor<grpc::ServerBidiReactor<v1::WriteReadingsRequest,
                                                   v1::WriteReadingsResponse>> {
 public:
  WriteStreamReactor(IngestionService* service, grpc::CallbackServerContext* context)
      : PooledReactor(&service->calls().pool()), service_(service) {
    absl::Status admitted;
    call_ = service_->calls().OpenStream(context, "StreamReadings", &admitted);
    if (!admitted.ok()) {
      Close(admitted);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client has sent everything (or went away: OnCancel says which)
      Close(absl::OkStatus());
      return;
    }
    if (!Submit([this] { WriteBatch(); })) Close(kBusy);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Close(absl::CancelledError("the client closed the stream"));
      return;
    }
    StartRead(&request_);
  }

  void OnCancel() override { cancelled_ = true; }

 private:
  void WriteBatch() {
    absl::StatusOr<v1::WriteReadingsResponse> written =
        service_->ingestion()->Write(&call_->caller, request_.readings());
    if (!written.ok()) {
      Close(written.status());
      return;
    }
    ++batches_;
    accepted_ += written->accepted();
    duplicates_ += written->duplicates();
    rejected_ += written->rejected();
    response_ = *std::move(written);
    StartWrite(&response_);
  }

  // Exactly once, with no write in flight (reads and writes alternate, and Close is only called
  // where neither is pending).
  void Close(absl::Status outcome) {
    if (closed_.exchange(true)) return;
    if (cancelled_ && outcome.ok()) outcome = absl::CancelledError("the client cancelled");
    if (outcome.ok() && batches_ == 0) call_->caller.MarkChecked();  // nothing was written
    AddAuditDetail(*call_, "batches", batches_);
    AddAuditDetail(*call_, "accepted", accepted_);
    AddAuditDetail(*call_, "duplicates", duplicates_);
    AddAuditDetail(*call_, "rejected", rejected_);
    Finish(ToGrpcStatus(service_->calls().CloseStream(*call_, std::move(outcome))));
  }

  IngestionService* service_;
  std::shared_ptr<CallContext> call_;
  v1::WriteReadingsRequest request_;
  v1::WriteReadingsResponse response_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> cancelled_{false};
  int64_t batches_ = 0, accepted_ = 0, duplicates_ = 0, rejected_ = 0;
};

// ImportFile: options first, then chunks, each fed to the file reader before the next is read.
class ImportReactor
    : public PooledReactor<grpc::ServerBidiReactor<v1::ImportFileRequest, v1::ImportFileResponse>> {
 public:
  ImportReactor(IngestionService* service, grpc::CallbackServerContext* context)
      : PooledReactor(&service->calls().pool()), service_(service) {
    absl::Status admitted;
    call_ = service_->calls().OpenStream(context, "ImportFile", &admitted);
    if (!admitted.ok()) {
      Close(admitted);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!Submit([this, ok] { ok ? Consume() : Complete(); })) Close(kBusy);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Close(absl::CancelledError("the client closed the stream"));
    } else if (complete_) {
      Close(absl::OkStatus());
    } else {
      StartRead(&request_);
    }
  }

  void OnCancel() override { cancelled_ = true; }

 private:
  void Consume() {
    if (import_ == nullptr) {
      if (!request_.has_options()) {
        call_->caller.MarkChecked();
        Close(absl::InvalidArgumentError(
            "options: the first message carries the import options (dataset, format, ...)"));
        return;
      }
      options_ = request_.options();
      absl::StatusOr<std::unique_ptr<Ingestion::FileImport>> started =
          service_->ingestion()->StartImport(call_->caller, options_);
      if (!started.ok()) {
        Close(started.status());
        return;
      }
      import_ = *std::move(started);
      last_progress_ = absl::Now();
      StartRead(&request_);
      return;
    }
    if (request_.has_options()) {
      Close(absl::InvalidArgumentError("options: only the first message carries options"));
      return;
    }
    if (request_.chunk().size() > kMaxChunkBytes) {
      Close(absl::InvalidArgumentError(absl::StrCat(
          "chunk: at most 1 MiB per message, got ", request_.chunk().size(), " bytes")));
      return;
    }
    if (absl::Status fed = import_->Feed(request_.chunk()); !fed.ok()) {
      Close(fed);
      return;
    }
    const absl::Time now = absl::Now();
    if (now - last_progress_ >= absl::Milliseconds(500)) {
      last_progress_ = now;
      response_.Clear();
      *response_.mutable_progress() = import_->progress();
      StartWrite(&response_);
      return;
    }
    StartRead(&request_);
  }

  void Complete() {
    if (import_ == nullptr) {
      call_->caller.MarkChecked();
      Close(absl::InvalidArgumentError("options: the stream ended before the import options"));
      return;
    }
    absl::StatusOr<v1::ImportSummary> summary = import_->Finish();
    if (!summary.ok()) {
      Close(summary.status());
      return;
    }
    response_.Clear();
    *response_.mutable_summary() = *std::move(summary);
    complete_ = true;
    StartWrite(&response_);
  }

  void Close(absl::Status outcome) {
    if (closed_.exchange(true)) return;
    if (cancelled_ && outcome.ok()) outcome = absl::CancelledError("the client cancelled");
    if (import_ != nullptr) {
      const v1::ImportProgress progress = import_->progress();
      AddAuditDetail(*call_, "file", options_.file_name());
      AddAuditDetail(*call_, "rows", progress.rows_read());
      AddAuditDetail(*call_, "accepted", progress.accepted());
      AddAuditDetail(*call_, "duplicates", progress.duplicates());
      AddAuditDetail(*call_, "rejected", progress.rejected());
    }
    Finish(ToGrpcStatus(service_->calls().CloseStream(*call_, std::move(outcome))));
  }

  IngestionService* service_;
  std::shared_ptr<CallContext> call_;
  v1::ImportOptions options_;
  std::unique_ptr<Ingestion::FileImport> import_;
  v1::ImportFileRequest request_;
  v1::ImportFileResponse response_;
  absl::Time last_progress_;
  bool complete_ = false;
  std::atomic<bool> closed_{false};
  std::atomic<bool> cancelled_{false};
};

}  // namespace

// WatchReadings: reads after its position on the pool, writes one batch at a time (pull:
// stream_writer.h), and waits for a commit (or the poll) when it has caught up. It leaves the
// service's watch list and the commit notifications in BeforeDelete, so neither calls into a
// deleted reactor.
class WatchReactor final : public ServerStreamWriter<v1::WatchReadingsResponse> {
 public:
  WatchReactor(IngestionService* service, grpc::CallbackServerContext* context,
               const v1::WatchReadingsRequest& request)
      : ServerStreamWriter(&service->calls(), context, "WatchReadings"),
        service_(service),
        position_(request.after_position()),
        datasets_(request.datasets().begin(), request.datasets().end()) {
    if (!admitted().ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      CloseLocked(admitted());
      return;
    }
    if (request.after_position() < 0) {
      std::lock_guard<std::mutex> lock(mu_);
      CloseLocked(absl::InvalidArgumentError("after_position: must not be negative"));
      return;
    }
    service_->Register(this);
    registered_ = true;
    subscription_ = service_->ingestion()->commits().Subscribe([this](int64_t) { Poke(); });
    Poke();
  }

  // Something may have been committed: read unless a read or write is already under way (it
  // reads again when it finishes).
  void Poke() {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing()) return;
    if (reading_ || writing()) {
      again_ = true;
      return;
    }
    ReadLocked();
  }

 private:
  void OnWriteDoneLocked() override { ReadLocked(); }  // there may be more right behind

  void BeforeDelete() override {
    if (subscription_ != 0) service_->ingestion()->commits().Unsubscribe(subscription_);
    if (registered_) service_->Unregister(this);
  }

  void ReadLocked() {
    reading_ = true;
    again_ = false;
    const int64_t after = position_;
    if (!Submit([this, after] {
          absl::StatusOr<Ingestion::WatchBatch> batch =
              service_->ingestion()->ReadAfter(call().caller, after, datasets_, kWatchBatch);
          std::lock_guard<std::mutex> lock(mu_);
          reading_ = false;
          if (closing()) return;
          if (!batch.ok()) {
            CloseLocked(batch.status());
            return;
          }
          position_ = std::max(position_, batch->last_position);
          if (!batch->readings.empty()) {
            response_.Clear();
            for (auto& reading : batch->readings) *response_.add_readings() = std::move(reading);
            WriteLocked(&response_);
            return;
          }
          // Nothing readable, but positions were passed over: look again at once.
          if (again_ || batch->last_position > after) ReadLocked();
        })) {
      reading_ = false;
      CloseLocked(kBusy);
    }
  }

  IngestionService* service_;
  int64_t position_;
  const std::vector<std::string> datasets_;
  v1::WatchReadingsResponse response_;
  bool reading_ = false, again_ = false;
  bool registered_ = false;
  int subscription_ = 0;
};

IngestionService::IngestionService(Ingestion* ingestion, CallRunner calls,
                                   absl::Duration watch_poll_interval)
    : ingestion_(ingestion), calls_(std::move(calls)), poll_interval_(watch_poll_interval) {
  poller_ = std::thread([this] { PollLoop(); });
}

IngestionService::~IngestionService() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  poller_.join();
}

void IngestionService::Register(WatchReactor* watch) {
  absl::MutexLock lock(&mu_);
  watches_.insert(watch);
}

void IngestionService::Unregister(WatchReactor* watch) {
  absl::MutexLock lock(&mu_);
  watches_.erase(watch);
}

// Other replicas' commits do not wake this process's watchers: look every poll interval.
void IngestionService::PollLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), poll_interval_);
    if (stopping_) break;
    for (WatchReactor* watch : watches_) watch->Poke();
  }
}

#define SMARTBY_ASSIGN_RESPONSE(expr)            \
  [=, this](CallContext& call) -> absl::Status { \
    ASSIGN_OR_RETURN(*response, (expr));         \
    return absl::OkStatus();                     \
  }

IngestionService::Reactor* IngestionService::RegisterSource(
    Ctx* ctx, const v1::RegisterSourceRequest* request, v1::Source* response) {
  return calls_.Unary(ctx, "RegisterSource",
                      SMARTBY_ASSIGN_RESPONSE(
                          ingestion_->RegisterSource(call.caller, request->source())));
}

IngestionService::Reactor* IngestionService::GetSource(Ctx* ctx,
                                                       const v1::GetSourceRequest* request,
                                                       v1::Source* response) {
  return calls_.Unary(ctx, "GetSource",
                      SMARTBY_ASSIGN_RESPONSE(ingestion_->GetSource(call.caller, request->id())));
}

IngestionService::Reactor* IngestionService::ListSources(Ctx* ctx,
                                                         const v1::ListSourcesRequest* request,
                                                         v1::ListSourcesResponse* response) {
  return calls_.Unary(ctx, "ListSources",
                      SMARTBY_ASSIGN_RESPONSE(ingestion_->ListSources(call.caller, *request)));
}

IngestionService::Reactor* IngestionService::UpdateSource(Ctx* ctx,
                                                          const v1::UpdateSourceRequest* request,
                                                          v1::Source* response) {
  return calls_.Unary(ctx, "UpdateSource",
                      SMARTBY_ASSIGN_RESPONSE(ingestion_->UpdateSource(
                          call.caller, request->source(), request->update_mask())));
}

IngestionService::Reactor* IngestionService::DisableSource(
    Ctx* ctx, const v1::DisableSourceRequest* request, v1::Source* response) {
  return calls_.Unary(
      ctx, "DisableSource",
      SMARTBY_ASSIGN_RESPONSE(ingestion_->DisableSource(call.caller, request->id())));
}

IngestionService::Reactor* IngestionService::WriteReadings(
    Ctx* ctx, const v1::WriteReadingsRequest* request, v1::WriteReadingsResponse* response) {
  return calls_.Unary(ctx, "WriteReadings", [=, this](CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*response, ingestion_->Write(&call.caller, request->readings()));
    AddAuditDetail(call, "accepted", int64_t{response->accepted()});
    AddAuditDetail(call, "duplicates", int64_t{response->duplicates()});
    AddAuditDetail(call, "rejected", int64_t{response->rejected()});
    return absl::OkStatus();
  });
}

grpc::ServerBidiReactor<v1::WriteReadingsRequest, v1::WriteReadingsResponse>*
IngestionService::StreamReadings(Ctx* ctx) {
  return new WriteStreamReactor(this, ctx);
}

grpc::ServerBidiReactor<v1::ImportFileRequest, v1::ImportFileResponse>*
IngestionService::ImportFile(Ctx* ctx) {
  return new ImportReactor(this, ctx);
}

IngestionService::Reactor* IngestionService::QueryReadings(
    Ctx* ctx, const v1::QueryReadingsRequest* request, v1::QueryReadingsResponse* response) {
  return calls_.Unary(ctx, "QueryReadings",
                      SMARTBY_ASSIGN_RESPONSE(ingestion_->QueryReadings(call.caller, *request)));
}

IngestionService::Reactor* IngestionService::AggregateReadings(
    Ctx* ctx, const v1::AggregateReadingsRequest* request,
    v1::AggregateReadingsResponse* response) {
  return calls_.Unary(
      ctx, "AggregateReadings",
      SMARTBY_ASSIGN_RESPONSE(ingestion_->AggregateReadings(call.caller, *request)));
}

IngestionService::Reactor* IngestionService::GetLatestReadings(
    Ctx* ctx, const v1::GetLatestReadingsRequest* request,
    v1::GetLatestReadingsResponse* response) {
  return calls_.Unary(
      ctx, "GetLatestReadings",
      SMARTBY_ASSIGN_RESPONSE(ingestion_->GetLatestReadings(call.caller, *request)));
}

IngestionService::Reactor* IngestionService::GetDataQuality(
    Ctx* ctx, const v1::GetDataQualityRequest* request, v1::GetDataQualityResponse* response) {
  return calls_.Unary(ctx, "GetDataQuality",
                      SMARTBY_ASSIGN_RESPONSE(ingestion_->GetDataQuality(call.caller, *request)));
}

grpc::ServerWriteReactor<v1::WatchReadingsResponse>* IngestionService::WatchReadings(
    Ctx* ctx, const v1::WatchReadingsRequest* request) {
  return new WatchReactor(this, ctx, *request);
}

IngestionService::Reactor* IngestionService::SetRetention(Ctx* ctx,
                                                          const v1::SetRetentionRequest* request,
                                                          v1::RetentionPolicy* response) {
  return calls_.Unary(
      ctx, "SetRetention",
      SMARTBY_ASSIGN_RESPONSE(ingestion_->SetRetention(call.caller, request->policy())));
}

IngestionService::Reactor* IngestionService::GetRetention(Ctx* ctx,
                                                          const v1::GetRetentionRequest* request,
                                                          v1::RetentionPolicy* response) {
  return calls_.Unary(
      ctx, "GetRetention",
      SMARTBY_ASSIGN_RESPONSE(ingestion_->GetRetention(call.caller, request->dataset())));
}

}  // namespace smartby::ingestion
