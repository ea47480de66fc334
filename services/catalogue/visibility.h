// Which datasets a caller may read, as a description the store applies in SQL: listings and
// search count, facet and page only what the caller may see, so nothing is filtered afterwards
// and totals never reveal what is hidden.
//
// VisibilityFor derives it from the principal. It is exactly policy.h's
// Decide(principal, Action::kRead, ResourceOf(dataset)).ok(), for every dataset (proved by
// visibility_test.cc against the real store on both engines):
//
//   visible(d) =  d.state = PUBLISHED AND d.classification = Åpen           (rule 1: everyone)
//              OR (  ClassReadable(d.classification)                        (rules 2-4)
//                AND (  any_dataset                                         (platform-admin,
//                                                                            data-steward)
//                    OR (published_datasets AND d.state = PUBLISHED)        (reader)
//                    OR d.owner_organization IN owner_organizations))       (dataset-owner)
//
//   ClassReadable(c) = max_class = Strengt beskyttet                        (every c, including
//                                                                           an unspecified or
//                                                                           unknown one, which
//                                                                           the policy treats as
//                                                                           Strengt beskyttet)
//                   OR Åpen <= c <= max_class
//
// where max_class is the principal's clearance, capped at Intern when the token carries no
// second factor, and "none" (UNSPECIFIED) for anonymous callers and for a missing or unknown
// clearance. "Published" means state PUBLISHED: retired datasets are not.
//
// Thread safety: pure functions and a value type.
#ifndef SMARTBY_SERVICES_CATALOGUE_VISIBILITY_H_
#define SMARTBY_SERVICES_CATALOGUE_VISIBILITY_H_

#include <string>
#include <vector>

#include "services/runtime/auth/policy.h"
#include "services/runtime/auth/principal.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"
#include "smartcity/common/v1/common.pb.h"

namespace smartby::catalogue {

struct DatasetVisibility {
  // The highest class readable beyond published Åpen data (see above); UNSPECIFIED: none.
  smartcity::common::v1::Classification max_class =
      smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
  // Every dataset within max_class, drafts and retired ones too, of every organisation.
  bool any_dataset = false;
  // Published datasets within max_class, of every organisation.
  bool published_datasets = false;
  // Datasets within max_class, drafts and retired ones too, whose owner organisation is exactly
  // one of these (never empty strings).
  std::vector<std::string> owner_organizations;

  // True when nothing beyond published Åpen datasets is visible: what anonymous callers see,
  // and what a default-constructed value means (fail closed).
  bool OnlyPublishedOpen() const;
  // True when every dataset is visible, whatever its class, state or owner.
  bool Everything() const;

  // Every dataset: for tests and internal tooling, never for a caller's request.
  static DatasetVisibility Unrestricted();
};

// The visibility of `principal` (nullptr: anonymous). See the top of this file.
DatasetVisibility VisibilityFor(const auth::Principal* principal);

// What the policy decides on for a stored dataset: its class, owner organisation, name, and
// whether it is published (state PUBLISHED).
auth::ResourceRef ResourceOf(const smartcity::catalogue::v1::Dataset& dataset);

}  // namespace smartby::catalogue

#endif  // SMARTBY_SERVICES_CATALOGUE_VISIBILITY_H_
