#include "services/runtime/auth/principal.h"

#include <gtest/gtest.h>

#include <utility>

#include "absl/strings/match.h"

namespace smartby::auth {
namespace {

using smartcity::common::v1::Classification;

TEST(ParseRoleGrant, ReadsEveryUnscopedRole) {
  const std::pair<absl::string_view, Role> cases[] = {
      {"platform-admin", Role::kPlatformAdmin}, {"data-steward", Role::kDataSteward},
      {"reader", Role::kReader},                {"auditor", Role::kAuditor},
      {"archivist", Role::kArchivist},
  };
  for (const auto& [text, role] : cases) {
    const absl::StatusOr<RoleGrant> grant = ParseRoleGrant(text);
    ASSERT_TRUE(grant.ok()) << text << ": " << grant.status();
    EXPECT_EQ(grant->role, role) << text;
    EXPECT_EQ(grant->scope, "") << text;
  }
}

TEST(ParseRoleGrant, DatasetOwnerIsScopedToAnOrganisationWithSpaces) {
  const absl::StatusOr<RoleGrant> grant = ParseRoleGrant("dataset-owner:Stavanger kommune");
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->role, Role::kDatasetOwner);
  EXPECT_EQ(grant->scope, "Stavanger kommune");
}

TEST(ParseRoleGrant, IngestWriterIsScopedToADataset) {
  const absl::StatusOr<RoleGrant> grant = ParseRoleGrant("ingest-writer:badetemperatur-stavanger");
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->role, Role::kIngestWriter);
  EXPECT_EQ(grant->scope, "badetemperatur-stavanger");
}

TEST(ParseRoleGrant, KeepsEverythingAfterTheFirstColonAsTheScope) {
  const absl::StatusOr<RoleGrant> grant = ParseRoleGrant("dataset-owner:Etat: Vann og avløp");
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->scope, "Etat: Vann og avløp");
}

TEST(ParseRoleGrant, RefusesAnUnknownRoleAndListsTheKnownOnes) {
  const absl::StatusOr<RoleGrant> grant = ParseRoleGrant("superuser");
  EXPECT_EQ(grant.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(grant.status().message(), "superuser")) << grant.status();
  EXPECT_TRUE(absl::StrContains(grant.status().message(), "platform-admin")) << grant.status();
}

TEST(ParseRoleGrant, RoleNamesAreMatchedExactly) {
  for (absl::string_view near_miss : {"Reader", "READER", " reader", "reader ", "platform_admin",
                                      "platformadmin", "", ":"}) {
    EXPECT_EQ(ParseRoleGrant(near_miss).status().code(), absl::StatusCode::kInvalidArgument)
        << '"' << near_miss << '"';
  }
}

TEST(ParseRoleGrant, RefusesAScopeOnARoleThatTakesNone) {
  const absl::StatusOr<RoleGrant> grant = ParseRoleGrant("reader:Stavanger kommune");
  EXPECT_EQ(grant.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(grant.status().message(), "takes no scope")) << grant.status();
}

TEST(ParseRoleGrant, RefusesAnEmptyScopeOnAnUnscopedRole) {
  EXPECT_EQ(ParseRoleGrant("auditor:").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseRoleGrant, DatasetOwnerWithoutOrganisationIsRefused) {
  for (absl::string_view text : {"dataset-owner", "dataset-owner:"}) {
    const absl::StatusOr<RoleGrant> grant = ParseRoleGrant(text);
    EXPECT_EQ(grant.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_TRUE(absl::StrContains(grant.status().message(), "organisation")) << grant.status();
  }
}

TEST(ParseRoleGrant, IngestWriterWithoutDatasetIsRefused) {
  for (absl::string_view text : {"ingest-writer", "ingest-writer:"}) {
    const absl::StatusOr<RoleGrant> grant = ParseRoleGrant(text);
    EXPECT_EQ(grant.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_TRUE(absl::StrContains(grant.status().message(), "dataset")) << grant.status();
  }
}

// A scope is compared exactly, so " Oslo kommune" would silently match nothing.
TEST(ParseRoleGrant, RefusesAScopeThatBeginsOrEndsWithASpace) {
  for (absl::string_view text : {"dataset-owner: Oslo kommune", "dataset-owner:Oslo kommune ",
                                 "ingest-writer:\tluft"}) {
    EXPECT_EQ(ParseRoleGrant(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(RoleGrantToString, WritesUnscopedRolesByName) {
  EXPECT_EQ(RoleGrantToString({Role::kPlatformAdmin, ""}), "platform-admin");
  EXPECT_EQ(RoleGrantToString({Role::kArchivist, ""}), "archivist");
}

TEST(RoleGrantToString, WritesScopedRolesWithTheirScope) {
  EXPECT_EQ(RoleGrantToString({Role::kDatasetOwner, "Stavanger kommune"}),
            "dataset-owner:Stavanger kommune");
  EXPECT_EQ(RoleGrantToString({Role::kIngestWriter, "luftkvalitet"}), "ingest-writer:luftkvalitet");
}

TEST(RoleGrantToString, RoundTripsThroughParseRoleGrant) {
  for (absl::string_view text :
       {"platform-admin", "dataset-owner:Stavanger kommune", "data-steward", "reader",
        "ingest-writer:badetemperatur-stavanger", "auditor", "archivist"}) {
    const absl::StatusOr<RoleGrant> grant = ParseRoleGrant(text);
    ASSERT_TRUE(grant.ok()) << grant.status();
    EXPECT_EQ(RoleGrantToString(*grant), text);
  }
}

TEST(PrincipalHas, FindsARoleAmongSeveral) {
  Principal principal;
  principal.roles = {{Role::kReader, ""}, {Role::kAuditor, ""}};
  EXPECT_TRUE(principal.Has(Role::kAuditor));
  EXPECT_FALSE(principal.Has(Role::kArchivist));
}

TEST(PrincipalHas, APrincipalWithoutRolesHasNone) {
  EXPECT_FALSE(Principal().Has(Role::kReader));
}

TEST(PrincipalHas, MatchesTheScopeExactly) {
  Principal principal;
  principal.roles = {{Role::kDatasetOwner, "Stavanger kommune"}};
  EXPECT_TRUE(principal.Has(Role::kDatasetOwner, "Stavanger kommune"));
  EXPECT_FALSE(principal.Has(Role::kDatasetOwner, "stavanger kommune"));
  EXPECT_FALSE(principal.Has(Role::kDatasetOwner, "Stavanger"));
  EXPECT_FALSE(principal.Has(Role::kDatasetOwner, ""));
}

TEST(PrincipalHas, AScopeBelongsToItsOwnRoleOnly) {
  Principal principal;
  principal.roles = {{Role::kIngestWriter, "luftkvalitet"}};
  EXPECT_FALSE(principal.Has(Role::kDatasetOwner, "luftkvalitet"));
}

TEST(PrincipalHas, UnscopedRolesMatchAnEmptyScope) {
  Principal principal;
  principal.roles = {{Role::kDataSteward, ""}};
  EXPECT_TRUE(principal.Has(Role::kDataSteward, ""));
}

TEST(ParseClearance, ReadsEveryClass) {
  EXPECT_EQ(ParseClearance("open"), smartcity::common::v1::CLASSIFICATION_OPEN);
  EXPECT_EQ(ParseClearance("internal"), smartcity::common::v1::CLASSIFICATION_INTERNAL);
  EXPECT_EQ(ParseClearance("protected"), smartcity::common::v1::CLASSIFICATION_PROTECTED);
  EXPECT_EQ(ParseClearance("strictly-protected"),
            smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED);
}

TEST(ParseClearance, RefusesAnythingElse) {
  for (absl::string_view text :
       {"", "Open", "unspecified", "secret", "strictly_protected", "protected ", "åpen"}) {
    EXPECT_FALSE(ParseClearance(text).has_value()) << '"' << text << '"';
  }
}

TEST(ClearanceName, RoundTripsThroughParseClearance) {
  for (Classification c : {smartcity::common::v1::CLASSIFICATION_OPEN,
                           smartcity::common::v1::CLASSIFICATION_INTERNAL,
                           smartcity::common::v1::CLASSIFICATION_PROTECTED,
                           smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED}) {
    EXPECT_EQ(ParseClearance(ClearanceName(c)), c) << ClearanceName(c);
  }
}

TEST(ClearanceName, UnspecifiedHasNoClaimSpelling) {
  const absl::string_view name = ClearanceName(smartcity::common::v1::CLASSIFICATION_UNSPECIFIED);
  EXPECT_EQ(name, "unspecified");
  EXPECT_FALSE(ParseClearance(name).has_value());
}

}  // namespace
}  // namespace smartby::auth
