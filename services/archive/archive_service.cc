#include "services/archive/archive_service.h"

#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/runtime/audit_guard.h"
#include "services/runtime/status.h"
#include "services/runtime/stream_writer.h"

namespace smartby::archive {

// Who may call what: archivist and platform-admin only (auth::Action::kArchive), decided on each
// job's class (the handler loads the job or the datasets and asks).
const ServicePolicy& ArchiveServicePolicy() {
  using auth::Action;
  static const auto* policy = new ServicePolicy{
      "smartcity.archive.v1.ArchiveService",
      {
          {"StartExport", {true, Access::kResource, Action::kArchive}},
          {"WatchExport", {false, Access::kResource, Action::kArchive}},
          {"ListExports", {false, Access::kFiltered, Action::kArchive}},
          {"GetExport", {false, Access::kResource, Action::kArchive}},
          {"CancelExport", {true, Access::kResource, Action::kArchive}},
          {"FetchPackage", {false, Access::kResource, Action::kArchive}},
          {"PushExport", {true, Access::kResource, Action::kArchive}},
      }};
  return *policy;
}

namespace {

constexpr size_t kChunkBytes = 1 << 20;
const absl::Status kBusy =
    absl::ResourceExhaustedError("the archive is too busy to serve this now; try again shortly");

// WatchExport: the job now, then each change the Archive pushes from its own threads (push:
// stream_writer.h), coalesced to the newest state; finishes OK after an ended job's state is
// written. The Archive watch is removed in BeforeDelete (also one a late Begin made).
class WatchReactor final : public ServerStreamWriter<v1::ExportJob> {
 public:
  WatchReactor(ArchiveService* service, grpc::CallbackServerContext* context,
               const v1::WatchExportRequest& request)
      : ServerStreamWriter(&service->calls(), context, "WatchExport"),
        service_(service),
        id_(request.id()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!admitted().ok()) {
      CloseLocked(admitted());
      return;
    }
    if (!Submit([this] { Begin(); })) CloseLocked(kBusy);
  }

 private:
  void OnWriteDoneLocked() override {
    if (IsFinished(sent_.state())) {
      CloseLocked(absl::OkStatus());
      return;
    }
    WriteNextLocked();
  }

  void BeforeDelete() override {
    if (subscription_ != 0) service_->archive()->Unwatch(subscription_);
  }

  // On the pool: subscribe first, then read the job, so that no change falls in between.
  void Begin() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closing()) return;  // cancelled while queued: nothing to watch for
    }
    subscription_ = service_->archive()->Watch(id_, [this](const v1::ExportJob& job) {
      std::lock_guard<std::mutex> lock(mu_);
      OfferLocked(job);
    });
    absl::StatusOr<v1::ExportJob> job = service_->archive()->GetExport(call().caller, id_);
    std::lock_guard<std::mutex> lock(mu_);
    if (!job.ok()) {
      CloseLocked(job.status());
      return;
    }
    started_ = true;
    OfferLocked(*job);
  }

  // Keeps the newest state (an ended job's state is never replaced) and writes it when no write
  // is in flight.
  void OfferLocked(const v1::ExportJob& job) {
    if (closing()) return;
    if (has_pending_ && (IsFinished(pending_.state()) ||
                         (job.update_time().seconds() < pending_.update_time().seconds() ||
                          (job.update_time().seconds() == pending_.update_time().seconds() &&
                           job.update_time().nanos() < pending_.update_time().nanos())))) {
      return;
    }
    pending_ = job;
    has_pending_ = true;
    if (started_ && !writing()) WriteNextLocked();
  }

  void WriteNextLocked() {
    if (!has_pending_ || closing()) return;
    sent_ = pending_;
    has_pending_ = false;
    WriteLocked(&sent_);
  }

  ArchiveService* service_;
  const std::string id_;
  int subscription_ = 0;
  bool started_ = false;
  bool has_pending_ = false;
  v1::ExportJob pending_;
  v1::ExportJob sent_;
};

// FetchPackage: each chunk is read on the pool after the previous one was written (pull:
// stream_writer.h); after the last, the fetch is recorded (on the pool: it writes to disk) and the
// stream finishes OK.
class FetchReactor final : public ServerStreamWriter<v1::PackageChunk> {
 public:
  FetchReactor(ArchiveService* service, grpc::CallbackServerContext* context,
               const v1::FetchPackageRequest& request)
      : ServerStreamWriter(&service->calls(), context, "FetchPackage"),
        service_(service),
        id_(request.id()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!admitted().ok()) {
      CloseLocked(admitted());
      return;
    }
    ReadNextLocked();
  }

 private:
  void OnWriteDoneLocked() override {
    if (offset_ < package_.job.package_size()) {
      ReadNextLocked();
      return;
    }
    if (!Submit([this] {
          service_->auditor()->Record(package_.job, "export.fetched");
          std::lock_guard<std::mutex> lock(mu_);
          CloseLocked(absl::OkStatus());
        })) {
      CloseLocked(kBusy);
    }
  }

  void ReadNextLocked() {
    if (!Submit([this] { ReadChunk(); })) CloseLocked(kBusy);
  }

  // On the pool: open the package on the first call, then read one chunk.
  void ReadChunk() {
    absl::Status status = absl::OkStatus();
    if (!in_.is_open()) {
      absl::StatusOr<Archive::Package> package =
          service_->archive()->OpenPackage(call().caller, id_);
      if (package.ok()) {
        package_ = *std::move(package);
        in_.open(package_.path, std::ios::binary);
        if (!in_) {
          status = absl::DataLossError(
              absl::StrCat("the package of export job ", id_, " cannot be read"));
        }
      } else {
        status = package.status();
      }
    }
    std::string data;
    if (status.ok()) {
      data.resize(kChunkBytes);
      in_.read(data.data(), static_cast<std::streamsize>(data.size()));
      data.resize(static_cast<size_t>(in_.gcount()));
      if (data.empty() && offset_ < package_.job.package_size()) {
        status = absl::DataLossError(absl::StrCat(
            "the package of export job ", id_, " is shorter than recorded: it may be damaged"));
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (closing()) return;
    if (!status.ok()) {
      CloseLocked(status);
      return;
    }
    chunk_.Clear();
    chunk_.set_offset(offset_);
    chunk_.set_total_size(package_.job.package_size());
    if (offset_ == 0) chunk_.set_file_name(absl::StrCat("arkivuttrekk-", id_, ".tar"));
    offset_ += static_cast<int64_t>(data.size());
    if (offset_ >= package_.job.package_size()) chunk_.set_sha256(package_.job.package_sha256());
    *chunk_.mutable_data() = std::move(data);
    WriteLocked(&chunk_);
  }

  ArchiveService* service_;
  const std::string id_;
  Archive::Package package_;
  std::ifstream in_;
  int64_t offset_ = 0;
  v1::PackageChunk chunk_;
};

}  // namespace

ArchiveService::ArchiveService(Archive* archive, JobAuditor* auditor, CallRunner calls)
    : archive_(archive), auditor_(auditor), calls_(std::move(calls)) {}

ArchiveService::Reactor* ArchiveService::StartExport(Ctx* ctx,
                                                     const v1::StartExportRequest* request,
                                                     v1::ExportJob* response) {
  return calls_.Unary(ctx, "StartExport", [=, this](CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*response, archive_->StartExport(call.caller, *request));
    AddAuditDetail(call, "job", response->id());
    std::vector<std::string> datasets(response->datasets().begin(), response->datasets().end());
    AddAuditDetail(call, "datasets", datasets);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::ExportJob>* ArchiveService::WatchExport(
    Ctx* ctx, const v1::WatchExportRequest* request) {
  return new WatchReactor(this, ctx, *request);
}

ArchiveService::Reactor* ArchiveService::ListExports(Ctx* ctx,
                                                     const v1::ListExportsRequest* request,
                                                     v1::ListExportsResponse* response) {
  return calls_.Unary(ctx, "ListExports", [=, this](CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*response, archive_->ListExports(call.caller, *request));
    return absl::OkStatus();
  });
}

ArchiveService::Reactor* ArchiveService::GetExport(Ctx* ctx, const v1::GetExportRequest* request,
                                                   v1::ExportJob* response) {
  return calls_.Unary(ctx, "GetExport", [=, this](CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*response, archive_->GetExport(call.caller, request->id()));
    return absl::OkStatus();
  });
}

ArchiveService::Reactor* ArchiveService::CancelExport(Ctx* ctx,
                                                      const v1::CancelExportRequest* request,
                                                      v1::ExportJob* response) {
  return calls_.Unary(ctx, "CancelExport", [=, this](CallContext& call) -> absl::Status {
    AddAuditDetail(call, "job", request->id());
    ASSIGN_OR_RETURN(*response, archive_->CancelExport(call.caller, request->id()));
    return absl::OkStatus();
  });
}

ArchiveService::Reactor* ArchiveService::PushExport(Ctx* ctx, const v1::PushExportRequest* request,
                                                    v1::ExportJob* response) {
  return calls_.Unary(ctx, "PushExport", [=, this](CallContext& call) -> absl::Status {
    AddAuditDetail(call, "job", request->id());
    ASSIGN_OR_RETURN(*response, archive_->PushExport(call.caller, request->id()));
    std::vector<std::string> case_files;
    for (const v1::PushedCaseFile& pushed : response->push().case_files()) {
      case_files.push_back(pushed.system_id());
    }
    AddAuditDetail(call, "core", response->push().core_url());
    AddAuditDetail(call, "saksmapper", case_files);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::PackageChunk>* ArchiveService::FetchPackage(
    Ctx* ctx, const v1::FetchPackageRequest* request) {
  return new FetchReactor(this, ctx, *request);
}

}  // namespace smartby::archive
