#include "services/feed/dataset_resolver.h"

#include "absl/strings/str_cat.h"

namespace smartby::feed {

namespace iv1 = ::smartcity::ingestion::v1;

auth::ResourceRef ResourceOf(const ingestion::DatasetSchema& schema) {
  auth::ResourceRef ref;
  ref.classification = schema.classification;
  ref.owner_organization = schema.owner_organization;
  ref.dataset = schema.name;
  ref.published = schema.state == smartcity::catalogue::v1::DATASET_STATE_PUBLISHED;
  return ref;
}

PlatformDatasetResolver::PlatformDatasetResolver(ingestion::DatasetDirectory* directory,
                                                 std::shared_ptr<grpc::Channel> ingestion,
                                                 std::shared_ptr<TokenProvider> tokens,
                                                 absl::Duration source_ttl)
    : directory_(directory),
      stub_(iv1::IngestionService::NewStub(std::move(ingestion))),
      tokens_(std::move(tokens)),
      source_ttl_(source_ttl) {}

auth::ResourceRef PlatformDatasetResolver::Resolve(
    const std::string& dataset, smartcity::common::v1::Classification reading_class) {
  auto schema = directory_->Lookup(dataset);
  if (schema.ok()) return ResourceOf(**schema);
  auth::ResourceRef closed;
  closed.dataset = dataset;
  closed.classification = reading_class;  // UNSPECIFIED is treated as Strengt beskyttet
  closed.published = false;
  return closed;
}

std::optional<smartcity::common::v1::GeoPoint> PlatformDatasetResolver::SourcePosition(
    const std::string& source_id) {
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = sources_.find(source_id);
    if (it != sources_.end() && now - it->second.fetched < source_ttl_) return it->second.position;
  }
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(now + absl::Seconds(2)));
  if (tokens_ != nullptr) {
    absl::StatusOr<std::string> token = tokens_->Token();
    if (token.ok()) context.AddMetadata("authorization", absl::StrCat("Bearer ", *token));
  }
  iv1::GetSourceRequest request;
  request.set_id(source_id);
  iv1::Source source;
  const grpc::Status status = stub_->GetSource(&context, request, &source);
  SourceEntry entry{std::nullopt, now};
  if (status.ok() && source.has_position()) entry.position = source.position();
  absl::MutexLock lock(&mu_);
  sources_[source_id] = entry;
  return entry.position;
}

}  // namespace smartby::feed
