#include "services/ingestion/dataset_directory.h"

#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"

namespace smartby::ingestion {

CatalogueDatasetDirectory::CatalogueDatasetDirectory(std::shared_ptr<grpc::Channel> catalogue,
                                                     std::shared_ptr<TokenProvider> tokens,
                                                     const Clock* clock, DirectoryOptions options)
    : stub_(smartcity::catalogue::v1::CatalogueService::NewStub(std::move(catalogue))),
      tokens_(std::move(tokens)),
      clock_(clock),
      options_(options) {}

absl::StatusOr<std::shared_ptr<const DatasetSchema>> CatalogueDatasetDirectory::Lookup(
    const std::string& dataset) {
  const absl::Time now = clock_->Now();
  std::optional<Entry> cached;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(dataset);
    if (it != entries_.end()) cached = it->second;
  }
  if (cached.has_value()) {
    const absl::Duration age = now - cached->fetched;
    if (cached->schema != nullptr && age < options_.fresh_for) return cached->schema;
    if (cached->schema == nullptr && age < options_.absent_for) {
      return absl::NotFoundError(absl::StrCat("dataset \"", dataset, "\" is not in the catalogue"));
    }
  }
  absl::StatusOr<std::shared_ptr<const DatasetSchema>> fetched = Fetch(dataset);
  if (fetched.ok() || absl::IsNotFound(fetched.status())) {
    absl::MutexLock lock(&mu_);
    entries_[dataset] = Entry{fetched.ok() ? *fetched : nullptr, now};
    return fetched;
  }
  // The catalogue could not answer: a recent enough entry keeps sensors going.
  if (cached.has_value() && cached->schema != nullptr &&
      now - cached->fetched < options_.stale_for) {
    return cached->schema;
  }
  return fetched.status();
}

absl::StatusOr<std::shared_ptr<const DatasetSchema>> CatalogueDatasetDirectory::Fetch(
    const std::string& dataset) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
  if (tokens_ != nullptr) {
    absl::StatusOr<std::string> token = tokens_->Token();
    if (!token.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "cannot look up dataset \"", dataset, "\" in the catalogue: no service token (",
          token.status().message(), ")"));
    }
    context.AddMetadata("authorization", absl::StrCat("Bearer ", *token));
  }
  smartcity::catalogue::v1::GetDatasetRequest request;
  request.set_name(dataset);
  smartcity::catalogue::v1::Dataset response;
  const grpc::Status status = stub_->GetDataset(&context, request, &response);
  if (status.ok()) {
    return std::make_shared<const DatasetSchema>(DatasetSchema::FromDataset(response));
  }
  switch (status.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      return absl::NotFoundError(absl::StrCat("dataset \"", dataset, "\" is not in the catalogue"));
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      // Our own account lacks the rights: an operator must fix it; say so plainly.
      return absl::UnavailableError(absl::StrCat(
          "the catalogue refused ingestion's own account when looking up dataset \"", dataset,
          "\" (", status.error_message(),
          "); give the ingestion service account the role platform-service and enough "
          "clearance"));
    default:
      return absl::UnavailableError(absl::StrCat("cannot look up dataset \"", dataset,
                                                 "\" in the catalogue: ", status.error_message()));
  }
}

void FixedDatasetDirectory::Put(DatasetSchema schema) {
  absl::MutexLock lock(&mu_);
  std::string name = schema.name;
  schemas_[name] = std::make_shared<const DatasetSchema>(std::move(schema));
}

absl::StatusOr<std::shared_ptr<const DatasetSchema>> FixedDatasetDirectory::Lookup(
    const std::string& dataset) {
  absl::MutexLock lock(&mu_);
  auto it = schemas_.find(dataset);
  if (it == schemas_.end()) {
    return absl::NotFoundError(absl::StrCat("dataset \"", dataset, "\" is not in the catalogue"));
  }
  return it->second;
}

}  // namespace smartby::ingestion
