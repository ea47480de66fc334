#include "services/runtime/auth/policy.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace smartby::auth {
namespace {

using smartcity::common::v1::Classification;
using smartcity::common::v1::CLASSIFICATION_OPEN;
using smartcity::common::v1::CLASSIFICATION_PROTECTED;
using smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;
using smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;

bool IsKnownClass(Classification c) {
  return c >= CLASSIFICATION_OPEN && c <= CLASSIFICATION_STRICTLY_PROTECTED;
}

bool IsKnownAction(Action action) {
  return action >= Action::kRead && action <= Action::kWriteAudit;
}

bool IsAboutADataset(Action action) {
  return action != Action::kReadAudit && action != Action::kAdminister &&
         action != Action::kWriteAudit;
}

// The class rules 3 and 4 apply to, or UNSPECIFIED when none applies (see policy.h).
Classification EffectiveClass(Action action, Classification declared) {
  if (IsKnownClass(declared)) return declared;
  if (declared == CLASSIFICATION_UNSPECIFIED && !IsAboutADataset(action)) {
    return CLASSIFICATION_UNSPECIFIED;
  }
  return CLASSIFICATION_STRICTLY_PROTECTED;  // fail closed on a missing or unknown class
}

bool IsPublishedOpenRead(Action action, const ResourceRef& resource) {
  return action == Action::kRead && resource.published &&
         resource.classification == CLASSIFICATION_OPEN;
}

// Empty scopes never match, so a resource without an owner or name cannot be reached through
// a grant whose scope happens to be empty.
bool OwnsDataset(const Principal& principal, const ResourceRef& resource) {
  return !resource.owner_organization.empty() &&
         principal.Has(Role::kDatasetOwner, resource.owner_organization);
}

bool WritesDataset(const Principal& principal, const ResourceRef& resource) {
  return !resource.dataset.empty() && principal.Has(Role::kIngestWriter, resource.dataset);
}

bool RoleAllows(const Principal& principal, Action action, const ResourceRef& resource) {
  if (principal.Has(Role::kPlatformAdmin)) return true;
  switch (action) {
    case Action::kRead:
      if (OwnsDataset(principal, resource) || principal.Has(Role::kDataSteward) ||
          principal.Has(Role::kPlatformService)) {
        return true;
      }
      return resource.published && principal.Has(Role::kReader);
    case Action::kChangeMetadata:
    case Action::kPublish:
    case Action::kRetire:
      return OwnsDataset(principal, resource) || principal.Has(Role::kDataSteward);
    case Action::kCreate:
    case Action::kDelete:
      return OwnsDataset(principal, resource);
    case Action::kWriteReadings:
      return OwnsDataset(principal, resource) || WritesDataset(principal, resource);
    case Action::kReadAudit:
      return principal.Has(Role::kAuditor);
    case Action::kArchive:
      return principal.Has(Role::kArchivist);
    case Action::kAdminister:
      return false;  // platform-admin only, handled above
    case Action::kWriteAudit:
      return principal.Has(Role::kAuditWriter);
  }
  return false;  // a value cast into the enum: deny
}

// `dataset "x"`, or a generic noun when the caller did not name the dataset.
std::string DatasetNoun(const ResourceRef& resource) {
  if (resource.dataset.empty()) return "this dataset";
  return absl::StrCat("dataset \"", resource.dataset, "\"");
}

// "read dataset "x"", "publish this dataset", "read the audit log", ...
std::string ActionPhrase(Action action, const ResourceRef& resource) {
  const std::string dataset = DatasetNoun(resource);
  switch (action) {
    case Action::kRead: return absl::StrCat("read ", dataset);
    case Action::kChangeMetadata: return absl::StrCat("change the metadata of ", dataset);
    case Action::kCreate: return absl::StrCat("create ", dataset);
    case Action::kPublish: return absl::StrCat("publish ", dataset);
    case Action::kRetire: return absl::StrCat("retire ", dataset);
    case Action::kDelete: return absl::StrCat("delete ", dataset);
    case Action::kWriteReadings: return absl::StrCat("write readings to ", dataset);
    case Action::kReadAudit: return "read the audit log";
    case Action::kArchive: return absl::StrCat("archive ", dataset);
    case Action::kAdminister: return "administer the platform";
    case Action::kWriteAudit: return "write to the audit log";
  }
  return "do this";
}

std::string OwnerRole(const ResourceRef& resource) {
  return absl::StrCat("dataset-owner:",
                      resource.owner_organization.empty() ? "<organisation>"
                                                          : resource.owner_organization);
}

// The roles that would allow the action, as "the role x" or "one of the roles x or y"
// (platform-admin, which allows everything, is named only where it is the sole way).
std::string RolesThatAllow(Action action, const ResourceRef& resource) {
  switch (action) {
    case Action::kRead:
      if (!resource.published) {
        return absl::StrCat("one of the roles data-steward or ", OwnerRole(resource));
      }
      return absl::StrCat("one of the roles reader, data-steward or ", OwnerRole(resource));
    case Action::kChangeMetadata:
    case Action::kPublish:
    case Action::kRetire:
      return absl::StrCat("one of the roles data-steward or ", OwnerRole(resource));
    case Action::kCreate:
    case Action::kDelete:
      return absl::StrCat("the role ", OwnerRole(resource));
    case Action::kWriteReadings:
      return absl::StrCat("one of the roles ingest-writer:",
                          resource.dataset.empty() ? "<dataset>" : resource.dataset, " or ",
                          OwnerRole(resource));
    case Action::kReadAudit: return "the role auditor";
    case Action::kArchive: return "the role archivist";
    case Action::kAdminister: return "the role platform-admin";
    case Action::kWriteAudit: return "the role audit-writer";
  }
  return "the role platform-admin";
}

absl::Status SignInError(Action action, const ResourceRef& resource) {
  return absl::UnauthenticatedError(
      absl::StrCat("sign in to ", ActionPhrase(action, resource),
                   "; without signing in, only published Åpen data can be read"));
}

absl::Status ClearanceError(const Principal& principal, Action action,
                            const ResourceRef& resource, Classification required) {
  const std::string what =
      IsKnownClass(resource.classification)
          ? absl::StrCat("it is classified ", ClassificationDisplayName(required))
          : absl::StrCat("it has no valid classification, so it is treated as ",
                         ClassificationDisplayName(required));
  const std::string yours =
      IsKnownClass(principal.clearance)
          ? absl::StrCat("your clearance is ", ClassificationDisplayName(principal.clearance))
          : std::string("you have no clearance beyond published Åpen data");
  return absl::PermissionDeniedError(
      absl::StrCat("cannot ", ActionPhrase(action, resource), ": ", what, ", and ", yours));
}

absl::Status SecondFactorError(Action action, const ResourceRef& resource,
                               Classification required) {
  return absl::UnauthenticatedError(absl::StrCat(
      "a second factor is needed to ", ActionPhrase(action, resource), ", which is classified ",
      ClassificationDisplayName(required),
      ": sign in again with two-factor authentication (an authenticator code or your identity "
      "provider's two-factor login)"));
}

absl::Status ServiceAccountWriteError(Action action, const ResourceRef& resource,
                                      Classification required) {
  return absl::PermissionDeniedError(absl::StrCat(
      "cannot ", ActionPhrase(action, resource), ": it is classified ",
      ClassificationDisplayName(required),
      ", and a service account (which has no second factor) writes there only with the role "
      "ingest-writer:",
      resource.dataset.empty() ? "<dataset>" : resource.dataset));
}

absl::Status MissingRoleError(Action action, const ResourceRef& resource) {
  if (action == Action::kRead && !resource.published) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot ", ActionPhrase(action, resource), ": it is not published, and reading drafts "
        "needs ", RolesThatAllow(action, resource)));
  }
  return absl::PermissionDeniedError(absl::StrCat("cannot ", ActionPhrase(action, resource),
                                                  ": this needs ",
                                                  RolesThatAllow(action, resource)));
}

}  // namespace

bool IsServiceAccount(const Principal& principal) {
  return !principal.client_id.empty() && principal.actor.empty() &&
         absl::StartsWith(principal.subject, "service:");
}

absl::Status Decide(const Principal* principal, Action action, const ResourceRef& resource) {
  // Deny by default, even for platform-admin: a value cast into the enum is a bug, not a right.
  if (!IsKnownAction(action)) {
    return absl::PermissionDeniedError(
        absl::StrCat("unknown action ", static_cast<int>(action), ": refused"));
  }

  // Rule 1: published Åpen data is open to everyone, signed in or not, whatever their roles.
  if (IsPublishedOpenRead(action, resource)) return absl::OkStatus();

  // Rule 2.
  if (principal == nullptr) return SignInError(action, resource);

  const Classification required = EffectiveClass(action, resource.classification);
  if (required != CLASSIFICATION_UNSPECIFIED) {
    // Rule 3. UNSPECIFIED clearance (0) is below every class, so it covers none.
    if (principal->clearance < required || !IsKnownClass(principal->clearance)) {
      return ClearanceError(*principal, action, resource, required);
    }
    // Rule 4, with the service-account exception for ingestion (policy.h).
    if (required >= CLASSIFICATION_PROTECTED && !principal->two_factor) {
      if (action == Action::kRead && IsServiceAccount(*principal) &&
          principal->Has(Role::kPlatformService)) {
        // The platform's own services read for their work (policy.h); clearance still applies.
      } else if (action == Action::kWriteReadings && IsServiceAccount(*principal)) {
        // A service account can never present a second factor, so asking for one would not
        // help it: name the grant it lacks instead.
        if (!WritesDataset(*principal, resource)) {
          return ServiceAccountWriteError(action, resource, required);
        }
      } else {
        return SecondFactorError(action, resource, required);
      }
    }
  }

  // Rule 5: deny by default.
  if (!RoleAllows(*principal, action, resource)) return MissingRoleError(action, resource);
  return absl::OkStatus();
}

absl::string_view ActionName(Action action) {
  switch (action) {
    case Action::kRead: return "read";
    case Action::kChangeMetadata: return "change-metadata";
    case Action::kCreate: return "create";
    case Action::kPublish: return "publish";
    case Action::kRetire: return "retire";
    case Action::kDelete: return "delete";
    case Action::kWriteReadings: return "write-readings";
    case Action::kReadAudit: return "read-audit";
    case Action::kArchive: return "archive";
    case Action::kAdminister: return "administer";
    case Action::kWriteAudit: return "write-audit";
  }
  return "unknown";
}

absl::string_view ClassificationDisplayName(Classification classification) {
  switch (classification) {
    case CLASSIFICATION_OPEN: return "Åpen";
    case smartcity::common::v1::CLASSIFICATION_INTERNAL: return "Intern";
    case CLASSIFICATION_PROTECTED: return "Beskyttet";
    case CLASSIFICATION_STRICTLY_PROTECTED: return "Strengt beskyttet";
    default: return "unclassified";
  }
}

}  // namespace smartby::auth
