// The catalogue's domain logic: the rules of the dataset registry, independent of gRPC.
//
// - Every change is one store transaction: validate, check the caller's version, write the new
//   version and its history entry together, or write nothing.
// - Versions start at 1 and grow by one with each change (metadata, state, resources).
// - Publish gate: a dataset that is not Åpen, or that contains personal data, needs a recorded
//   risk assessment (ROS) before it is published, and personal data needs a DPIA as well. The
//   gate also holds for changes to a dataset that is already published.
// - Retired datasets are read-only; only drafts can be deleted.
// - Authorisation (policy.h) is decided here, on the dataset just loaded, before anything is
//   revealed or changed: NOT_FOUND for a dataset that does not exist, then the decision, then
//   version checks and the rules above. Input errors that reveal nothing stored
//   (INVALID_ARGUMENT) may come first.
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
#include "services/catalogue/visibility.h"
#include "services/runtime/auth/caller.h"
#include "services/runtime/clock.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::catalogue {

class Catalogue {
 public:
  // `store` and `clock` must outlive the catalogue.
  Catalogue(CatalogueStore* store, const Clock* clock, DcatCatalogueInfo dcat);

  // Every operation takes who asks. Single-dataset operations load the dataset and ask
  // caller.Authorize(action, ResourceOf(dataset)) before they act (README.md lists the actions);
  // listings apply VisibilityFor(caller) in the store and mark the caller checked. The caller's
  // subject is recorded as created_by/updated_by and in the history.
  absl::StatusOr<v1::Dataset> Create(const auth::Caller& caller, const v1::Dataset& dataset);
  absl::StatusOr<v1::Dataset> Get(const auth::Caller& caller, const std::string& name);
  // `dataset.version()` must be the current version (ABORTED otherwise). An empty mask replaces
  // every field a caller may change; otherwise only the named fields change. A change of class
  // or owner organisation needs kChangeMetadata on the result as well.
  absl::StatusOr<v1::Dataset> Update(const auth::Caller& caller, const v1::Dataset& dataset,
                                     const google::protobuf::FieldMask& mask);
  absl::StatusOr<v1::ListDatasetsResponse> List(const auth::Caller& caller,
                                                const v1::ListDatasetsRequest& request);
  absl::StatusOr<v1::SearchDatasetsResponse> Search(const auth::Caller& caller,
                                                    const v1::SearchDatasetsRequest& request);
  // `expected_version` 0 means "whatever is current".
  absl::StatusOr<v1::Dataset> Publish(const auth::Caller& caller, const std::string& name,
                                      int64_t expected_version);
  absl::StatusOr<v1::Dataset> Retire(const auth::Caller& caller, const std::string& name,
                                     int64_t expected_version, const std::string& reason);
  absl::Status Delete(const auth::Caller& caller, const std::string& name,
                      int64_t expected_version);
  // History shows unpublished versions, so it needs the draft-level read (kRead as if the
  // dataset were not published: its owner, a data steward or a platform admin).
  absl::StatusOr<v1::ListDatasetHistoryResponse> History(
      const auth::Caller& caller, const v1::ListDatasetHistoryRequest& request);

  absl::StatusOr<v1::Resource> AddResource(const auth::Caller& caller,
                                           const std::string& dataset_name,
                                           const v1::Resource& resource,
                                           int64_t expected_version);
  absl::StatusOr<v1::Resource> UpdateResource(const auth::Caller& caller,
                                              const std::string& dataset_name,
                                              const v1::Resource& resource,
                                              const google::protobuf::FieldMask& mask,
                                              int64_t expected_version);
  absl::Status RemoveResource(const auth::Caller& caller, const std::string& dataset_name,
                              const std::string& resource_id, int64_t expected_version);
  absl::StatusOr<v1::ListResourcesResponse> ListResources(const auth::Caller& caller,
                                                          const std::string& dataset_name);

  // Public: the export holds published Åpen datasets only, whoever asks.
  absl::StatusOr<v1::ExportCatalogueResponse> Export(const auth::Caller& caller,
                                                     v1::ExportFormat format);

 private:
  // Loads `name`, asks the caller for `action` on it, checks `expected_version`, lets `change`
  // edit a copy, validates, asks for `action` on the result too when the change moved the
  // dataset to another class or owner organisation, bumps the version, and stores it with its
  // history entry `history_action` — all in one transaction.
  absl::StatusOr<v1::Dataset> Change(const auth::Caller& caller, const std::string& name,
                                     int64_t expected_version, auth::Action action,
                                     const std::string& history_action,
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
