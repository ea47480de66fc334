// PlatformReader over gRPC: the catalogue (GetDataset, ListDatasetHistory), ingestion
// (QueryReadings, paged) and the audit log (QueryEntries by dataset, paged), every call with the
// archive's own service token (client credentials: --service_client_id,
// --service_client_secret_file). The account needs platform-service (to read every dataset,
// drafts and classified ones included) and auditor (to read the audit log).
//
// Thread safety: thread-safe (the stubs are; no state besides them).
#ifndef SMARTBY_SERVICES_ARCHIVE_PLATFORM_SOURCES_H_
#define SMARTBY_SERVICES_ARCHIVE_PLATFORM_SOURCES_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "services/archive/export_pipeline.h"
#include "services/runtime/service_token.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::archive {

struct PlatformChannels {
  std::shared_ptr<grpc::Channel> catalogue;
  std::shared_ptr<grpc::Channel> ingestion;
  std::shared_ptr<grpc::Channel> audit;  // nullptr: no audit log (ForEachAuditEntry UNIMPLEMENTED)
};

class GrpcPlatformReader : public PlatformReader {
 public:
  // `tokens` may be nullptr (calls go without a token: only published Åpen data is readable).
  GrpcPlatformReader(PlatformChannels channels, std::shared_ptr<TokenProvider> tokens,
                     absl::Duration call_timeout = absl::Seconds(30),
                     int readings_page_size = 5000);

  absl::StatusOr<smartcity::catalogue::v1::Dataset> GetDataset(const std::string& name) override;
  absl::StatusOr<std::optional<absl::Time>> OldestReading(const std::string& name) override;
  absl::Status ForEachHistoryChange(
      const std::string& dataset,
      const std::function<absl::Status(const smartcity::catalogue::v1::DatasetChange&)>& visit)
      override;
  absl::Status ForEachReadingPage(
      const std::string& dataset, absl::Time from, absl::Time to,
      const std::function<absl::Status(const smartcity::ingestion::v1::QueryReadingsResponse&)>&
          visit) override;
  absl::Status ForEachAuditEntry(
      const std::string& dataset,
      const std::function<absl::Status(const smartcity::audit::v1::AuditEntry&)>& visit) override;

 private:
  // A context with the deadline and the service token; `what` names the service in errors.
  absl::Status Prepare(grpc::ClientContext& context);
  static absl::Status Failed(const grpc::Status& status, const std::string& what);

  std::unique_ptr<smartcity::catalogue::v1::CatalogueService::Stub> catalogue_;
  std::unique_ptr<smartcity::ingestion::v1::IngestionService::Stub> ingestion_;
  std::unique_ptr<smartcity::audit::v1::AuditService::Stub> audit_;
  std::shared_ptr<TokenProvider> tokens_;
  const absl::Duration call_timeout_;
  const int readings_page_size_;
};

}  // namespace smartby::archive

#endif  // SMARTBY_SERVICES_ARCHIVE_PLATFORM_SOURCES_H_
