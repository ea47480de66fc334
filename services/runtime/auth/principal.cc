#include "services/runtime/auth/principal.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace smartby::auth {
namespace {

using smartcity::common::v1::Classification;

// What a role's scope names; kNone for roles that take no scope.
enum class ScopeKind { kNone, kOrganisation, kDataset };

struct RoleSpelling {
  Role role;
  absl::string_view name;
  ScopeKind scope;
};

// The only spellings accepted in the `roles` claim, matched exactly (case-sensitive), so that a
// role cannot be granted by a near miss such as "Reader" or "platform_admin".
constexpr std::array<RoleSpelling, 9> kRoles = {{
    {Role::kPlatformAdmin, "platform-admin", ScopeKind::kNone},
    {Role::kDatasetOwner, "dataset-owner", ScopeKind::kOrganisation},
    {Role::kDataSteward, "data-steward", ScopeKind::kNone},
    {Role::kReader, "reader", ScopeKind::kNone},
    {Role::kIngestWriter, "ingest-writer", ScopeKind::kDataset},
    {Role::kAuditor, "auditor", ScopeKind::kNone},
    {Role::kArchivist, "archivist", ScopeKind::kNone},
    {Role::kAuditWriter, "audit-writer", ScopeKind::kNone},
    {Role::kPlatformService, "platform-service", ScopeKind::kNone},
}};

constexpr absl::string_view kKnownRoles =
    "platform-admin, dataset-owner:<organisation>, data-steward, reader, "
    "ingest-writer:<dataset>, auditor, archivist, audit-writer, platform-service";

absl::string_view ScopeNoun(ScopeKind kind) {
  return kind == ScopeKind::kOrganisation ? "an organisation" : "a dataset name";
}

absl::string_view ScopePlaceholder(ScopeKind kind) {
  return kind == ScopeKind::kOrganisation ? "<organisation>" : "<dataset>";
}

struct ClearanceSpelling {
  Classification classification;
  absl::string_view name;
};

constexpr std::array<ClearanceSpelling, 4> kClearances = {{
    {smartcity::common::v1::CLASSIFICATION_OPEN, "open"},
    {smartcity::common::v1::CLASSIFICATION_INTERNAL, "internal"},
    {smartcity::common::v1::CLASSIFICATION_PROTECTED, "protected"},
    {smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED, "strictly-protected"},
}};

}  // namespace

absl::StatusOr<RoleGrant> ParseRoleGrant(absl::string_view text) {
  // The first ':' separates name and scope; the scope itself may contain ':' (organisation names
  // are free text), so everything after it is kept as written.
  const size_t colon = text.find(':');
  const absl::string_view name = text.substr(0, colon);
  const bool has_scope = colon != absl::string_view::npos;
  const absl::string_view scope = has_scope ? text.substr(colon + 1) : absl::string_view();

  for (const RoleSpelling& spelling : kRoles) {
    if (spelling.name != name) continue;
    if (spelling.scope == ScopeKind::kNone) {
      if (has_scope) {
        return absl::InvalidArgumentError(absl::StrCat("role \"", text, "\": ", spelling.name,
                                                       " takes no scope; write just \"",
                                                       spelling.name, "\""));
      }
      return RoleGrant{spelling.role, ""};
    }
    if (scope.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "role \"", text, "\": ", spelling.name, " needs ", ScopeNoun(spelling.scope),
          ", as in ", spelling.name, ":", ScopePlaceholder(spelling.scope)));
    }
    // Scopes are compared exactly, so stray spaces would make a grant silently match nothing.
    if (absl::ascii_isspace(static_cast<unsigned char>(scope.front())) ||
        absl::ascii_isspace(static_cast<unsigned char>(scope.back()))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "role \"", text, "\": the scope must not begin or end with a space"));
    }
    return RoleGrant{spelling.role, std::string(scope)};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("role \"", text, "\": unknown role; expected one of ", kKnownRoles));
}

std::string RoleGrantToString(const RoleGrant& grant) {
  for (const RoleSpelling& spelling : kRoles) {
    if (spelling.role != grant.role) continue;
    if (spelling.scope == ScopeKind::kNone) return std::string(spelling.name);
    return absl::StrCat(spelling.name, ":", grant.scope);
  }
  return "unknown-role";  // only reachable with a value cast into the enum
}

bool Principal::Has(Role role) const {
  for (const RoleGrant& grant : roles) {
    if (grant.role == role) return true;
  }
  return false;
}

// Exact, case-sensitive comparison of the scope; for roles that take no scope, pass "".
bool Principal::Has(Role role, absl::string_view scope) const {
  for (const RoleGrant& grant : roles) {
    if (grant.role == role && grant.scope == scope) return true;
  }
  return false;
}

std::optional<Classification> ParseClearance(absl::string_view text) {
  for (const ClearanceSpelling& spelling : kClearances) {
    if (spelling.name == text) return spelling.classification;
  }
  return std::nullopt;
}

// UNSPECIFIED (and any value outside the enum) has no claim spelling: ParseClearance does not
// accept "unspecified", so a token issuer should leave the claim out rather than write it.
absl::string_view ClearanceName(Classification classification) {
  for (const ClearanceSpelling& spelling : kClearances) {
    if (spelling.classification == classification) return spelling.name;
  }
  return "unspecified";
}

}  // namespace smartby::auth
