#include "services/catalogue/visibility.h"

#include <algorithm>

namespace smartby::catalogue {
namespace {

namespace common = ::smartcity::common::v1;
using auth::Role;

bool IsKnownClass(int c) {
  return c >= common::CLASSIFICATION_OPEN && c <= common::CLASSIFICATION_STRICTLY_PROTECTED;
}

}  // namespace

bool DatasetVisibility::OnlyPublishedOpen() const {
  return !IsKnownClass(max_class) ||
         (!any_dataset && !published_datasets && owner_organizations.empty());
}

bool DatasetVisibility::Everything() const {
  return max_class == common::CLASSIFICATION_STRICTLY_PROTECTED && any_dataset;
}

DatasetVisibility DatasetVisibility::Unrestricted() {
  DatasetVisibility v;
  v.max_class = common::CLASSIFICATION_STRICTLY_PROTECTED;
  v.any_dataset = true;
  return v;
}

DatasetVisibility VisibilityFor(const auth::Principal* principal) {
  DatasetVisibility v;
  // Rule 2: anonymous callers read published Åpen data only.
  if (principal == nullptr) return v;
  // Rule 3: a missing or unknown clearance covers no class. Rule 4: without a second factor,
  // nothing above Intern (the service-account exception is for writing readings only).
  if (!IsKnownClass(principal->clearance)) return v;
  v.max_class = principal->clearance;
  if (!principal->two_factor) {
    v.max_class = std::min(v.max_class, common::CLASSIFICATION_INTERNAL);
  }
  // Rule 5, for kRead: policy.cc's RoleAllows.
  v.any_dataset = principal->Has(Role::kPlatformAdmin) || principal->Has(Role::kDataSteward);
  v.published_datasets = principal->Has(Role::kReader);
  for (const auth::RoleGrant& grant : principal->roles) {
    // An empty scope matches no dataset in the policy (OwnsDataset), so it adds nothing here.
    if (grant.role != Role::kDatasetOwner || grant.scope.empty()) continue;
    if (std::find(v.owner_organizations.begin(), v.owner_organizations.end(), grant.scope) ==
        v.owner_organizations.end()) {
      v.owner_organizations.push_back(grant.scope);
    }
  }
  if (v.any_dataset) v.owner_organizations.clear();  // implied
  return v;
}

auth::ResourceRef ResourceOf(const smartcity::catalogue::v1::Dataset& dataset) {
  auth::ResourceRef ref;
  ref.classification = dataset.classification();
  ref.owner_organization = dataset.owner().organization();
  ref.dataset = dataset.name();
  ref.published = dataset.state() == smartcity::catalogue::v1::DATASET_STATE_PUBLISHED;
  return ref;
}

}  // namespace smartby::catalogue
