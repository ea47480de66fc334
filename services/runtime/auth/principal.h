// Who is calling: the authenticated principal every service decides on. Produced by the token
// verifier (token_verifier.h) from a platform access token, consumed by the policy (policy.h).
//
// Access-token claims that carry it (platform tokens, signed by the auth service):
//   sub        subject, e.g. "user:alice", "service:ingestion"
//   roles      array of "role" or "role:scope", e.g. ["reader", "dataset-owner:Stavanger kommune",
//              "ingest-writer:badetemperatur-stavanger"]
//   clearance  "open" | "internal" | "protected" | "strictly-protected"
//   tfa        true when the subject proved a second factor (local TOTP or an IdP acr/amr
//              configured as two-factor)
//   acr        as received (informational)
//   act        {"sub": ...}: the party acting on the subject's behalf (RFC 8693), e.g.
//              "service:feed" calling for "user:kari"
//   client_id  the service account or client the token was issued to
#ifndef SMARTBY_RUNTIME_AUTH_PRINCIPAL_H_
#define SMARTBY_RUNTIME_AUTH_PRINCIPAL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "smartcity/common/v1/common.pb.h"

namespace smartby::auth {

enum class Role {
  kPlatformAdmin,  // "platform-admin": everything
  kDatasetOwner,   // "dataset-owner:<organisation>": the organisation's datasets
  kDataSteward,    // "data-steward": metadata of every dataset within clearance
  kReader,         // "reader": published data within clearance
  kIngestWriter,   // "ingest-writer:<dataset>": write readings to that dataset
  kAuditor,        // "auditor": read the audit log
  kArchivist,      // "archivist": archive exports
  kAuditWriter,    // "audit-writer": append to the audit log (services' own accounts)
  kPlatformService,  // "platform-service": a service reading datasets for its own work (policy.h)
};

struct RoleGrant {
  Role role;
  std::string scope;  // organisation for dataset-owner, dataset name for ingest-writer, else ""
};

// "dataset-owner:Stavanger kommune" -> {kDatasetOwner, "Stavanger kommune"}. INVALID_ARGUMENT for
// an unknown role, a scope on a role that takes none, or a missing scope where one is required.
absl::StatusOr<RoleGrant> ParseRoleGrant(absl::string_view text);
std::string RoleGrantToString(const RoleGrant& grant);

struct Principal {
  std::string subject;
  std::string issuer;
  std::vector<RoleGrant> roles;
  // The highest class the principal may read; UNSPECIFIED means none beyond published Åpen data.
  smartcity::common::v1::Classification clearance =
      smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
  bool two_factor = false;
  // RFC 8693 delegation: when someone acts for the subject (a service calling on a person's
  // behalf), "sub" is the person and "act"."sub" the party acting, kept here. Empty otherwise.
  std::string actor;
  std::string client_id;
  absl::Time expires = absl::InfinitePast();

  bool Has(Role role) const;
  bool Has(Role role, absl::string_view scope) const;
};

// "open" -> CLASSIFICATION_OPEN, ..., "strictly-protected" -> CLASSIFICATION_STRICTLY_PROTECTED.
std::optional<smartcity::common::v1::Classification> ParseClearance(absl::string_view text);
absl::string_view ClearanceName(smartcity::common::v1::Classification classification);

}  // namespace smartby::auth

#endif  // SMARTBY_RUNTIME_AUTH_PRINCIPAL_H_
