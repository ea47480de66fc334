// Where ingestion learns a dataset's schema, class, owner and state: the catalogue (the master of
// dataset metadata, architecture.md), asked over gRPC with ingestion's own service account and
// cached, so that a reading costs no catalogue call.
//
// Freshness: an entry is used for `fresh_for` (a changed schema or a retirement reaches ingestion
// within that time), a dataset the catalogue does not have is remembered for `absent_for`. When
// the catalogue cannot be reached, an entry up to `stale_for` old is still used, so a catalogue
// restart does not stop sensors; beyond that, writes get UNAVAILABLE.
//
// Thread safety: thread-safe. Concurrent lookups of the same missing entry may each ask.
#ifndef SMARTBY_SERVICES_INGESTION_DATASET_DIRECTORY_H_
#define SMARTBY_SERVICES_INGESTION_DATASET_DIRECTORY_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/ingestion/values.h"
#include "services/runtime/clock.h"
#include "services/runtime/service_token.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"

namespace smartby::ingestion {

class DatasetDirectory {
 public:
  virtual ~DatasetDirectory() = default;
  // NOT_FOUND when the catalogue has no such dataset; UNAVAILABLE when it cannot be asked and
  // nothing usable is cached.
  virtual absl::StatusOr<std::shared_ptr<const DatasetSchema>> Lookup(
      const std::string& dataset) = 0;
};

struct DirectoryOptions {
  absl::Duration fresh_for = absl::Seconds(30);
  absl::Duration absent_for = absl::Seconds(5);
  absl::Duration stale_for = absl::Minutes(15);
  absl::Duration call_timeout = absl::Seconds(3);
};

class CatalogueDatasetDirectory : public DatasetDirectory {
 public:
  // `tokens` gives the bearer token for the catalogue (ingestion's service account, with the
  // role platform-service); nullptr sends none (tests against a catalogue in open mode).
  CatalogueDatasetDirectory(std::shared_ptr<grpc::Channel> catalogue,
                            std::shared_ptr<TokenProvider> tokens, const Clock* clock,
                            DirectoryOptions options = {});

  absl::StatusOr<std::shared_ptr<const DatasetSchema>> Lookup(const std::string& dataset) override;

 private:
  struct Entry {
    std::shared_ptr<const DatasetSchema> schema;  // nullptr: the catalogue has no such dataset
    absl::Time fetched;
  };
  absl::StatusOr<std::shared_ptr<const DatasetSchema>> Fetch(const std::string& dataset);

  std::unique_ptr<smartcity::catalogue::v1::CatalogueService::Stub> stub_;
  std::shared_ptr<TokenProvider> tokens_;
  const Clock* clock_;
  const DirectoryOptions options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// Datasets given up front, for tests of the domain that need no catalogue.
class FixedDatasetDirectory : public DatasetDirectory {
 public:
  void Put(DatasetSchema schema);
  absl::StatusOr<std::shared_ptr<const DatasetSchema>> Lookup(const std::string& dataset) override;

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const DatasetSchema>> schemas_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace smartby::ingestion

#endif  // SMARTBY_SERVICES_INGESTION_DATASET_DIRECTORY_H_
