#include "services/archive/platform_sources.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"

namespace smartby::archive {
namespace {

namespace av1 = ::smartcity::audit::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;

constexpr int kHistoryPageSize = 500;
constexpr int kAuditPageSize = 1000;

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

}  // namespace

GrpcPlatformReader::GrpcPlatformReader(PlatformChannels channels,
                                       std::shared_ptr<TokenProvider> tokens,
                                       absl::Duration call_timeout, int readings_page_size)
    : catalogue_(cv1::CatalogueService::NewStub(channels.catalogue)),
      ingestion_(iv1::IngestionService::NewStub(channels.ingestion)),
      audit_(channels.audit != nullptr ? av1::AuditService::NewStub(channels.audit) : nullptr),
      tokens_(std::move(tokens)),
      call_timeout_(call_timeout),
      readings_page_size_(readings_page_size) {}

absl::Status GrpcPlatformReader::Prepare(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + call_timeout_));
  if (tokens_ == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(const std::string token, tokens_->Token());
  context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return absl::OkStatus();
}

absl::Status GrpcPlatformReader::Failed(const grpc::Status& status, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

absl::StatusOr<cv1::Dataset> GrpcPlatformReader::GetDataset(const std::string& name) {
  grpc::ClientContext context;
  RETURN_IF_ERROR(Prepare(context));
  cv1::GetDatasetRequest request;
  request.set_name(name);
  cv1::Dataset dataset;
  const grpc::Status status = catalogue_->GetDataset(&context, request, &dataset);
  if (!status.ok()) return Failed(status, "the catalogue");
  return dataset;
}

absl::StatusOr<std::optional<absl::Time>> GrpcPlatformReader::OldestReading(
    const std::string& name) {
  // Readings come oldest first: the first of one page of one.
  grpc::ClientContext context;
  RETURN_IF_ERROR(Prepare(context));
  iv1::QueryReadingsRequest request;
  request.set_dataset(name);
  request.set_page_size(1);
  iv1::QueryReadingsResponse response;
  const grpc::Status status = ingestion_->QueryReadings(&context, request, &response);
  if (!status.ok()) return Failed(status, "ingestion");
  if (response.readings().empty()) return std::optional<absl::Time>();
  const google::protobuf::Timestamp& t = response.readings(0).time();
  return std::optional<absl::Time>(absl::FromUnixSeconds(t.seconds()) +
                                   absl::Nanoseconds(t.nanos()));
}

absl::Status GrpcPlatformReader::ForEachHistoryChange(
    const std::string& dataset,
    const std::function<absl::Status(const cv1::DatasetChange&)>& visit) {
  // The catalogue lists newest first; a dataset has few versions, so they are gathered and
  // visited oldest first.
  std::vector<cv1::DatasetChange> changes;
  cv1::ListDatasetHistoryRequest request;
  request.set_name(dataset);
  request.set_page_size(kHistoryPageSize);
  while (true) {
    grpc::ClientContext context;
    RETURN_IF_ERROR(Prepare(context));
    cv1::ListDatasetHistoryResponse response;
    const grpc::Status status = catalogue_->ListDatasetHistory(&context, request, &response);
    if (!status.ok()) return Failed(status, "the catalogue's history");
    for (cv1::DatasetChange& change : *response.mutable_changes()) {
      changes.push_back(std::move(change));
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) RETURN_IF_ERROR(visit(*it));
  return absl::OkStatus();
}

absl::Status GrpcPlatformReader::ForEachReadingPage(
    const std::string& dataset, absl::Time from, absl::Time to,
    const std::function<absl::Status(const iv1::QueryReadingsResponse&)>& visit) {
  iv1::QueryReadingsRequest request;
  request.set_dataset(dataset);
  ToTimestamp(from, request.mutable_start_time());
  ToTimestamp(to, request.mutable_end_time());
  request.set_page_size(readings_page_size_);
  while (true) {
    grpc::ClientContext context;
    RETURN_IF_ERROR(Prepare(context));
    iv1::QueryReadingsResponse response;
    const grpc::Status status = ingestion_->QueryReadings(&context, request, &response);
    if (!status.ok()) return Failed(status, "ingestion");
    RETURN_IF_ERROR(visit(response));
    if (response.next_page_token().empty()) return absl::OkStatus();
    request.set_page_token(response.next_page_token());
  }
}

absl::Status GrpcPlatformReader::ForEachAuditEntry(
    const std::string& dataset, const std::function<absl::Status(const av1::AuditEntry&)>& visit) {
  if (audit_ == nullptr) {
    return absl::UnimplementedError("no audit log is configured (--audit_service is empty)");
  }
  av1::QueryEntriesRequest request;
  request.set_dataset(dataset);
  request.set_page_size(kAuditPageSize);
  while (true) {
    grpc::ClientContext context;
    RETURN_IF_ERROR(Prepare(context));
    av1::QueryEntriesResponse response;
    const grpc::Status status = audit_->QueryEntries(&context, request, &response);
    if (!status.ok()) return Failed(status, "the audit log");
    for (const av1::LogEntry& entry : response.entries()) RETURN_IF_ERROR(visit(entry.entry()));
    if (response.next_page_token().empty()) return absl::OkStatus();
    request.set_page_token(response.next_page_token());
  }
}

}  // namespace smartby::archive
