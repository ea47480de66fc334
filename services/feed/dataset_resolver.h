// The hub's DatasetResolver over the platform: datasets from the catalogue through ingestion's
// cached directory (services/ingestion/dataset_directory.h, reused as is), source positions from
// ingestion's GetSource, cached for `source_ttl`.
//
// Fails closed: a dataset the catalogue cannot describe resolves to "not published, no owner,
// the class the reading carries" (Strengt beskyttet when that is unset), which only callers
// cleared for that class without an ownership rule can read.
//
// Thread safety: thread-safe.
#ifndef SMARTBY_SERVICES_FEED_DATASET_RESOLVER_H_
#define SMARTBY_SERVICES_FEED_DATASET_RESOLVER_H_

#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/feed/hub.h"
#include "services/ingestion/dataset_directory.h"
#include "services/runtime/service_token.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::feed {

class PlatformDatasetResolver : public DatasetResolver {
 public:
  PlatformDatasetResolver(ingestion::DatasetDirectory* directory,
                          std::shared_ptr<grpc::Channel> ingestion,
                          std::shared_ptr<TokenProvider> tokens,
                          absl::Duration source_ttl = absl::Minutes(5));

  auth::ResourceRef Resolve(const std::string& dataset,
                            smartcity::common::v1::Classification reading_class) override;
  std::optional<smartcity::common::v1::GeoPoint> SourcePosition(
      const std::string& source_id) override;

 private:
  struct SourceEntry {
    std::optional<smartcity::common::v1::GeoPoint> position;
    absl::Time fetched;
  };

  ingestion::DatasetDirectory* directory_;
  std::unique_ptr<smartcity::ingestion::v1::IngestionService::Stub> stub_;
  std::shared_ptr<TokenProvider> tokens_;
  const absl::Duration source_ttl_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, SourceEntry> sources_ ABSL_GUARDED_BY(mu_);
};

// The resource a dataset is, for policy.h.
auth::ResourceRef ResourceOf(const ingestion::DatasetSchema& schema);

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_DATASET_RESOLVER_H_
