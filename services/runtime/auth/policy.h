// The authorisation decision every service makes in-process (issue 3, "Authorisation"): given
// who is calling (principal.h), what they want to do and what it is about, allow or refuse.
// The runtime's auth guard calls Decide for every RPC from its per-method table, and the auth
// service's `Authorize` RPC returns the same decision to callers that cannot embed this library.
//
// The rules, checked in this order; the first that refuses decides the status:
//   1. Reading PUBLISHED Åpen data is allowed to everyone, with or without a token.
//   2. Everything else needs an authenticated principal, else UNAUTHENTICATED ("sign in to ...").
//   3. The principal's clearance must cover the resource's class, else PERMISSION_DENIED naming
//      both classes (Åpen, Intern, Beskyttet, Strengt beskyttet).
//   4. Beskyttet and Strengt beskyttet need a token carrying a second factor, else
//      UNAUTHENTICATED saying so. This holds for reads and writes and for every role, including
//      platform-admin ("rules that must hold everywhere"). One exception, below.
//   5. The principal must hold a role (and scope) that allows the action, else PERMISSION_DENIED
//      naming the roles that would. Deny by default: an action no rule allows is refused, and
//      so is an Action value outside the enum, for every principal.
//
// Which role allows what:
//   platform-admin             every action
//   dataset-owner:<org>        kRead (drafts too), kChangeMetadata, kCreate, kPublish, kRetire,
//                              kDelete, kWriteReadings, on datasets whose owner_organization is
//                              exactly <org>
//   data-steward               kRead (drafts too), kChangeMetadata, kPublish, kRetire, on any
//                              organisation's datasets
//   reader                     kRead of published datasets
//   ingest-writer:<dataset>    kWriteReadings to the dataset named exactly <dataset>
//   auditor                    kReadAudit
//   archivist                  kArchive
//   audit-writer               kWriteAudit (the services' own service accounts)
//   platform-service           kRead (drafts too) of every dataset: the services' own accounts,
//                              which read catalogue metadata and readings to do their work
//                              (ingestion validates against a dataset's schema, the feed and the
//                              archive read readings)
// Roles never lift the clearance or second-factor rules: they only apply within them.
//
// The service-account exception to rule 4: sensors and gateways write readings with tokens from
// client credentials, where no second factor can exist. So kWriteReadings is exempt from the
// second-factor rule (never from the clearance rule) when the principal is a service account
// (IsServiceAccount) that holds ingest-writer for that very dataset. A person holding
// ingest-writer, and a service acting on behalf of a person, still need the second factor. A
// service account refused here gets PERMISSION_DENIED naming the ingest-writer grant it lacks,
// not a request for a second factor it can never present. Likewise kRead is exempt for a service
// account holding platform-service (the platform's own services); a person holding that role
// still needs the second factor.
//
// Resource classes: for the dataset actions (everything except kReadAudit and kAdminister) an
// UNSPECIFIED or unknown class is treated as Strengt beskyttet, so a resource whose class was
// never set fails closed. kReadAudit and kAdminister are not about data of one class; for them
// an UNSPECIFIED class means "no class rule", and a caller that knows the data involved is
// classified (e.g. audit entries of a Beskyttet dataset) sets it to apply rules 3 and 4.
//
// Decide trusts the principal: the token verifier has already checked signature, issuer,
// audience and expiry (Decide does not look at Principal::expires).
//
// Thread safety: every function here is pure and may be called from any thread concurrently.
// Cost: Decide allocates nothing when it allows; refusals build a message.
#ifndef SMARTBY_RUNTIME_AUTH_POLICY_H_
#define SMARTBY_RUNTIME_AUTH_POLICY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/runtime/auth/principal.h"
#include "smartcity/common/v1/common.pb.h"

namespace smartby::auth {

// What the caller wants to do. Every RPC maps to exactly one action in its service's table.
enum class Action {
  kRead,            // read a dataset's metadata, readings or files; drafts need more than reader
  kChangeMetadata,  // edit an existing dataset's description, keywords, contact, ...
  kCreate,          // create a dataset (the resource is the one to be created, not published)
  kPublish,         // make a dataset public in the catalogue (after the publish gate)
  kRetire,          // withdraw a published dataset from the catalogue, keeping its history
  kDelete,          // remove a dataset and its data
  kWriteReadings,   // append sensor readings or files to a dataset (ingestion)
  kReadAudit,       // read the audit log
  kArchive,         // export datasets to the archive (Noark / deposit)
  kAdminister,      // manage users, roles, service accounts, keys and platform settings
  kWriteAudit,      // append events to the audit log (services, with their own service account)
};

// What the action is about. For kReadAudit and kAdminister the dataset fields may be left empty.
struct ResourceRef {
  smartcity::common::v1::Classification classification =
      smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
  std::string owner_organization;  // compared exactly with a dataset-owner scope
  std::string dataset;             // compared exactly with an ingest-writer scope
  bool published = false;
};

// Allows (OK) or refuses (UNAUTHENTICATED or PERMISSION_DENIED, with a message for people) the
// action; see the rules above. `principal` is nullptr for an anonymous caller.
absl::Status Decide(const Principal* principal, Action action, const ResourceRef& resource);

// True when the principal is a machine, not a person: its token was issued to a client
// (client_id set) whose subject is a service ("service:..."), with no "act" (no one acting for it).
// client_id alone is not enough: tokens that people get through a client such as smartctl
// carry the client's id too.
bool IsServiceAccount(const Principal& principal);

// "read", "change-metadata", "create", "publish", "retire", "delete", "write-readings",
// "read-audit", "archive", "administer", "write-audit": for logs, metrics and audit records.
absl::string_view ActionName(Action action);

// The class as the municipalities write it: "Åpen", "Intern", "Beskyttet", "Strengt beskyttet";
// "unclassified" for UNSPECIFIED or an unknown value.
absl::string_view ClassificationDisplayName(smartcity::common::v1::Classification classification);

}  // namespace smartby::auth

#endif  // SMARTBY_RUNTIME_AUTH_POLICY_H_
