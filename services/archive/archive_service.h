// The gRPC face of the archive (smartcity.archive.v1.ArchiveService): each RPC is one domain call
// (archive.h) through the runtime's CallRunner, which authenticates, checks access and audits.
// The two streams are reactors:
//   WatchExport   the job now, then each change the Archive reports (coalesced: a slow watcher
//                 gets the latest state, never a backlog), until the job has ended.
//   FetchPackage  the TAR in 1 MiB chunks, each read on the worker pool after the previous one
//                 was written (so a slow client costs one chunk of memory).
#ifndef SMARTBY_SERVICES_ARCHIVE_ARCHIVE_SERVICE_H_
#define SMARTBY_SERVICES_ARCHIVE_ARCHIVE_SERVICE_H_

#include "services/archive/archive.h"
#include "services/runtime/call.h"
#include "smartcity/archive/v1/archive.grpc.pb.h"

namespace smartby::archive {

const ServicePolicy& ArchiveServicePolicy();

class ArchiveService final : public v1::ArchiveService::CallbackService {
 public:
  // `archive` and `auditor` must outlive the service.
  ArchiveService(Archive* archive, JobAuditor* auditor, CallRunner calls);

  using Ctx = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  Reactor* StartExport(Ctx*, const v1::StartExportRequest*, v1::ExportJob*) override;
  grpc::ServerWriteReactor<v1::ExportJob>* WatchExport(Ctx*,
                                                       const v1::WatchExportRequest*) override;
  Reactor* ListExports(Ctx*, const v1::ListExportsRequest*, v1::ListExportsResponse*) override;
  Reactor* GetExport(Ctx*, const v1::GetExportRequest*, v1::ExportJob*) override;
  Reactor* CancelExport(Ctx*, const v1::CancelExportRequest*, v1::ExportJob*) override;
  grpc::ServerWriteReactor<v1::PackageChunk>* FetchPackage(
      Ctx*, const v1::FetchPackageRequest*) override;
  // Synchronous: runs the whole push on the worker pool (archive.h, Archive::PushExport).
  Reactor* PushExport(Ctx*, const v1::PushExportRequest*, v1::ExportJob*) override;

  CallRunner& calls() { return calls_; }
  Archive* archive() { return archive_; }
  JobAuditor* auditor() { return auditor_; }

 private:
  Archive* archive_;
  JobAuditor* auditor_;
  CallRunner calls_;
};

}  // namespace smartby::archive

#endif  // SMARTBY_SERVICES_ARCHIVE_ARCHIVE_SERVICE_H_
