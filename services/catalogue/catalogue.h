// The catalogue's domain logic: the rules of the dataset registry, independent of gRPC.
//
// - Every change is one store transaction: validate, check the caller's version, write the new
//   version and its history entry together, or write nothing.
// - Versions start at 1 and grow by one with each change (metadata, state, resources).
// - Publish gate: a dataset that is not Åpen, or that contains personal data, needs a recorded
//   risk assessment (ROS) before it is published, and personal data needs a DPIA as well. The
//   gate also holds for changes to a dataset that is already published.
// - Retired datasets are read-only; only drafts can be deleted.
//
// Thread safety: safe for concurrent use (all state is in the store).
#ifndef SMARTBY_SERVICES_CATALOGUE_CATALOGUE_H_
#define SMARTBY_SERVICES_CATALOGUE_CATALOGUE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/field_mask.pb.h"
#include "services/catalogue/dcat_export.h"
#include "services/catalogue/store.h"
#include "services/runtime/clock.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::catalogue {

class Catalogue {
 public:
  // `store` and `clock` must outlive the catalogue.
  Catalogue(CatalogueStore* store, const Clock* clock, DcatCatalogueInfo dcat);

  // `actor` is who asks (the authenticated subject), recorded as created_by/updated_by.
  absl::StatusOr<v1::Dataset> Create(const v1::Dataset& dataset, const std::string& actor);
  absl::StatusOr<v1::Dataset> Get(const std::string& name);
  // `dataset.version()` must be the current version (ABORTED otherwise). An empty mask replaces
  // every field a caller may change; otherwise only the named fields change.
  absl::StatusOr<v1::Dataset> Update(const v1::Dataset& dataset,
                                     const google::protobuf::FieldMask& mask,
                                     const std::string& actor);
  absl::StatusOr<v1::ListDatasetsResponse> List(const v1::ListDatasetsRequest& request);
  absl::StatusOr<v1::SearchDatasetsResponse> Search(const v1::SearchDatasetsRequest& request);
  // `expected_version` 0 means "whatever is current".
  absl::StatusOr<v1::Dataset> Publish(const std::string& name, int64_t expected_version,
                                      const std::string& actor);
  absl::StatusOr<v1::Dataset> Retire(const std::string& name, int64_t expected_version,
                                     const std::string& reason, const std::string& actor);
  absl::Status Delete(const std::string& name, int64_t expected_version,
                      const std::string& actor);
  absl::StatusOr<v1::ListDatasetHistoryResponse> History(
      const v1::ListDatasetHistoryRequest& request);

  absl::StatusOr<v1::Resource> AddResource(const std::string& dataset_name,
                                           const v1::Resource& resource,
                                           int64_t expected_version, const std::string& actor);
  absl::StatusOr<v1::Resource> UpdateResource(const std::string& dataset_name,
                                              const v1::Resource& resource,
                                              const google::protobuf::FieldMask& mask,
                                              int64_t expected_version,
                                              const std::string& actor);
  absl::Status RemoveResource(const std::string& dataset_name, const std::string& resource_id,
                              int64_t expected_version, const std::string& actor);
  absl::StatusOr<v1::ListResourcesResponse> ListResources(const std::string& dataset_name);

  absl::StatusOr<v1::ExportCatalogueResponse> Export(v1::ExportFormat format);

 private:
  // Loads `name`, checks `expected_version`, lets `change` edit a copy, validates, bumps the
  // version, and stores it with its history entry — all in one transaction.
  absl::StatusOr<v1::Dataset> Change(const std::string& name, int64_t expected_version,
                                     const std::string& actor, const std::string& action,
                                     const std::function<absl::Status(v1::Dataset&)>& change);

  CatalogueStore* store_;
  const Clock* clock_;
  DcatCatalogueInfo dcat_;
};

// The top-level fields whose values differ between two versions (managed fields excluded).
std::vector<std::string> ChangedFields(const v1::Dataset& before, const v1::Dataset& after);

// FAILED_PRECONDITION explaining what is missing when `dataset` may not be published.
absl::Status CheckPublishable(const v1::Dataset& dataset);

}  // namespace smartby::catalogue

#endif  // SMARTBY_SERVICES_CATALOGUE_CATALOGUE_H_
