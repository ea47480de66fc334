#include "services/runtime/auth/policy.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"

// Counts allocations on this thread, so that a test can state that allowing allocates nothing.
// Replacing the global operator new applies to the whole test binary; it only counts.
namespace {
thread_local long allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// GCC 12 cannot see that these replacements pair malloc with free, and warns after inlining.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace smartby::auth {
namespace {

using smartcity::common::v1::Classification;
using smartcity::common::v1::CLASSIFICATION_INTERNAL;
using smartcity::common::v1::CLASSIFICATION_OPEN;
using smartcity::common::v1::CLASSIFICATION_PROTECTED;
using smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;
using smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;

constexpr char kStavanger[] = "Stavanger kommune";
constexpr char kOslo[] = "Oslo kommune";

constexpr Action kAllActions[] = {
    Action::kRead,    Action::kChangeMetadata, Action::kCreate,     Action::kPublish,
    Action::kRetire,  Action::kDelete,         Action::kWriteReadings, Action::kReadAudit,
    Action::kArchive, Action::kAdminister,     Action::kWriteAudit,
};

// Everything except reading.
constexpr Action kMutations[] = {
    Action::kChangeMetadata, Action::kCreate,    Action::kPublish, Action::kRetire,
    Action::kDelete,         Action::kWriteReadings, Action::kArchive, Action::kAdminister,
    Action::kWriteAudit,
};

ResourceRef Dataset(Classification classification, bool published,
                    std::string owner = kStavanger, std::string name = "badetemperatur") {
  return ResourceRef{classification, std::move(owner), std::move(name), published};
}

ResourceRef PublishedOpen() { return Dataset(CLASSIFICATION_OPEN, true); }
ResourceRef DraftOpen() { return Dataset(CLASSIFICATION_OPEN, false); }
ResourceRef PublishedInternal() { return Dataset(CLASSIFICATION_INTERNAL, true); }
ResourceRef PublishedProtected() { return Dataset(CLASSIFICATION_PROTECTED, true); }
ResourceRef DraftProtected() { return Dataset(CLASSIFICATION_PROTECTED, false); }

Principal Person(std::vector<RoleGrant> roles, Classification clearance, bool two_factor) {
  Principal principal;
  principal.subject = "user:alice";
  principal.issuer = "https://auth.smartby.test";
  principal.roles = std::move(roles);
  principal.clearance = clearance;
  principal.two_factor = two_factor;
  return principal;
}

// A sensor's token from client credentials: never a second factor.
Principal Sensor(std::string dataset, Classification clearance) {
  Principal principal;
  principal.subject = "service:sensor-gateway";
  principal.client_id = "sensor-gateway";
  principal.roles = {{Role::kIngestWriter, std::move(dataset)}};
  principal.clearance = clearance;
  return principal;
}

Principal Reader(Classification clearance, bool two_factor = false) {
  return Person({{Role::kReader, ""}}, clearance, two_factor);
}

Principal Owner(std::string organisation) {
  return Person({{Role::kDatasetOwner, std::move(organisation)}}, CLASSIFICATION_INTERNAL, false);
}

Principal Steward() { return Person({{Role::kDataSteward, ""}}, CLASSIFICATION_INTERNAL, false); }

Principal Admin(bool two_factor) {
  return Person({{Role::kPlatformAdmin, ""}}, CLASSIFICATION_STRICTLY_PROTECTED, two_factor);
}

bool Mentions(const absl::Status& status, absl::string_view text) {
  return absl::StrContains(status.message(), text);
}

// --- Rule 1 and 2: who may act without signing in ---------------------------------------------

TEST(Anonymous, ReadsPublishedOpenData) {
  EXPECT_TRUE(Decide(nullptr, Action::kRead, PublishedOpen()).ok());
}

TEST(Anonymous, IsAskedToSignInForDraftOpenData) {
  const absl::Status status = Decide(nullptr, Action::kRead, DraftOpen());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Mentions(status, "sign in")) << status;
}

TEST(Anonymous, IsAskedToSignInForPublishedInternalData) {
  const absl::Status status = Decide(nullptr, Action::kRead, PublishedInternal());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Mentions(status, "sign in")) << status;
}

TEST(Anonymous, IsAskedToSignInForEveryMutationEvenOnPublishedOpenData) {
  for (Action action : kMutations) {
    const absl::Status status = Decide(nullptr, action, PublishedOpen());
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << ActionName(action);
    EXPECT_TRUE(Mentions(status, "sign in")) << status;
  }
}

TEST(Anonymous, IsAskedToSignInToReadTheAuditLog) {
  EXPECT_EQ(Decide(nullptr, Action::kReadAudit, ResourceRef{}).code(),
            absl::StatusCode::kUnauthenticated);
}

// --- Rule 3: clearance covers the class ------------------------------------------------------

TEST(Clearance, InternalClearanceReadsInternalData) {
  const Principal reader = Reader(CLASSIFICATION_INTERNAL);
  EXPECT_TRUE(Decide(&reader, Action::kRead, PublishedInternal()).ok());
}

TEST(Clearance, InternalClearanceIsRefusedProtectedDataNamingBothClasses) {
  const Principal reader = Reader(CLASSIFICATION_INTERNAL);
  const absl::Status status = Decide(&reader, Action::kRead, PublishedProtected());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "Beskyttet")) << status;
  EXPECT_TRUE(Mentions(status, "Intern")) << status;
}

TEST(Clearance, HoldsEvenWithASecondFactor) {
  const Principal reader = Reader(CLASSIFICATION_PROTECTED, /*two_factor=*/true);
  const absl::Status status =
      Decide(&reader, Action::kRead, Dataset(CLASSIFICATION_STRICTLY_PROTECTED, true));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "Strengt beskyttet")) << status;
}

TEST(Clearance, NoClearanceCoversNothingBeyondPublishedOpenData) {
  const Principal reader = Reader(CLASSIFICATION_UNSPECIFIED);
  EXPECT_TRUE(Decide(&reader, Action::kRead, PublishedOpen()).ok());
  const absl::Status status = Decide(&reader, Action::kRead, PublishedInternal());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "no clearance")) << status;
}

TEST(Clearance, ADatasetWithoutClassIsTreatedAsStrictlyProtected) {
  const Principal reader = Reader(CLASSIFICATION_PROTECTED, /*two_factor=*/true);
  const absl::Status status =
      Decide(&reader, Action::kRead, Dataset(CLASSIFICATION_UNSPECIFIED, true));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "Strengt beskyttet")) << status;
}

TEST(Clearance, ADatasetWithAnUnknownClassIsTreatedAsStrictlyProtected) {
  const Principal reader = Reader(CLASSIFICATION_PROTECTED, /*two_factor=*/true);
  EXPECT_EQ(Decide(&reader, Action::kRead, Dataset(static_cast<Classification>(9), true)).code(),
            absl::StatusCode::kPermissionDenied);
}

// --- Rule 4: a second factor for Beskyttet and Strengt beskyttet -------------------------------

TEST(SecondFactor, ProtectedClearanceWithoutItIsAskedForASecondFactor) {
  const Principal reader = Reader(CLASSIFICATION_PROTECTED, /*two_factor=*/false);
  const absl::Status status = Decide(&reader, Action::kRead, PublishedProtected());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Mentions(status, "second factor")) << status;
}

TEST(SecondFactor, ProtectedClearanceWithItReadsProtectedData) {
  const Principal reader = Reader(CLASSIFICATION_PROTECTED, /*two_factor=*/true);
  EXPECT_TRUE(Decide(&reader, Action::kRead, PublishedProtected()).ok());
}

TEST(SecondFactor, IsNeededForStrictlyProtectedData) {
  const Principal reader = Reader(CLASSIFICATION_STRICTLY_PROTECTED, /*two_factor=*/false);
  const absl::Status status =
      Decide(&reader, Action::kRead, Dataset(CLASSIFICATION_STRICTLY_PROTECTED, true));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Mentions(status, "second factor")) << status;
}

TEST(SecondFactor, IsNotNeededForInternalData) {
  const Principal reader = Reader(CLASSIFICATION_STRICTLY_PROTECTED, /*two_factor=*/false);
  EXPECT_TRUE(Decide(&reader, Action::kRead, PublishedInternal()).ok());
}

TEST(SecondFactor, IsNeededForWritesToo) {
  const Principal owner =
      Person({{Role::kDatasetOwner, kStavanger}}, CLASSIFICATION_PROTECTED, false);
  const absl::Status status = Decide(&owner, Action::kChangeMetadata, DraftProtected());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Mentions(status, "second factor")) << status;
}

// The rule holds "everywhere": no role lifts it.
TEST(SecondFactor, IsNeededByPlatformAdminToo) {
  const Principal admin = Admin(/*two_factor=*/false);
  const absl::Status status = Decide(&admin, Action::kRead, PublishedProtected());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Mentions(status, "second factor")) << status;
}

// --- Rule 5: roles, deny by default ----------------------------------------------------------

TEST(NoRoles, ReadsPublishedOpenData) {
  const Principal nobody = Person({}, CLASSIFICATION_STRICTLY_PROTECTED, true);
  EXPECT_TRUE(Decide(&nobody, Action::kRead, PublishedOpen()).ok());
}

TEST(NoRoles, IsRefusedEverythingElse) {
  const Principal nobody = Person({}, CLASSIFICATION_STRICTLY_PROTECTED, true);
  for (Action action : kAllActions) {
    for (const ResourceRef& resource :
         {DraftOpen(), PublishedInternal(), PublishedProtected(), ResourceRef{}}) {
      EXPECT_EQ(Decide(&nobody, action, resource).code(), absl::StatusCode::kPermissionDenied)
          << ActionName(action) << " on " << ClassificationDisplayName(resource.classification);
    }
    if (action != Action::kRead) {
      EXPECT_EQ(Decide(&nobody, action, PublishedOpen()).code(),
                absl::StatusCode::kPermissionDenied)
          << ActionName(action);
    }
  }
}

TEST(Reader, IsRefusedDrafts) {
  const Principal reader = Reader(CLASSIFICATION_INTERNAL);
  const absl::Status status = Decide(&reader, Action::kRead, DraftOpen());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "not published")) << status;
  EXPECT_TRUE(Mentions(status, "data-steward")) << status;
}

TEST(Reader, IsRefusedEveryMutation) {
  const Principal reader = Reader(CLASSIFICATION_INTERNAL);
  for (Action action : kMutations) {
    EXPECT_EQ(Decide(&reader, action, PublishedOpen()).code(), absl::StatusCode::kPermissionDenied)
        << ActionName(action);
  }
  EXPECT_EQ(Decide(&reader, Action::kReadAudit, ResourceRef{}).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(DatasetOwner, PublishesItsOrganisationsDataset) {
  const Principal owner = Owner(kStavanger);
  EXPECT_TRUE(Decide(&owner, Action::kPublish, Dataset(CLASSIFICATION_INTERNAL, false)).ok());
}

TEST(DatasetOwner, IsRefusedAnotherOrganisationsDatasetNamingTheGrant) {
  const Principal owner = Owner(kStavanger);
  const absl::Status status =
      Decide(&owner, Action::kPublish, Dataset(CLASSIFICATION_INTERNAL, false, kOslo));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "dataset-owner:Oslo kommune")) << status;
}

TEST(DatasetOwner, DoesEveryDatasetActionOnItsOwnDatasets) {
  const Principal owner = Owner(kStavanger);
  for (Action action : {Action::kRead, Action::kChangeMetadata, Action::kCreate, Action::kPublish,
                        Action::kRetire, Action::kDelete, Action::kWriteReadings}) {
    EXPECT_TRUE(Decide(&owner, action, Dataset(CLASSIFICATION_INTERNAL, false)).ok())
        << ActionName(action);
  }
}

TEST(DatasetOwner, MatchesTheOrganisationExactly) {
  const Principal owner = Owner(kStavanger);
  EXPECT_FALSE(
      Decide(&owner, Action::kDelete, Dataset(CLASSIFICATION_OPEN, false, "stavanger kommune"))
          .ok());
  EXPECT_FALSE(Decide(&owner, Action::kDelete, Dataset(CLASSIFICATION_OPEN, false, "")).ok());
}

TEST(DatasetOwner, IsRefusedAuditArchiveAndAdministration) {
  const Principal owner = Owner(kStavanger);
  for (Action action :
       {Action::kReadAudit, Action::kArchive, Action::kAdminister, Action::kWriteAudit}) {
    EXPECT_EQ(Decide(&owner, action, Dataset(CLASSIFICATION_OPEN, false)).code(),
              absl::StatusCode::kPermissionDenied)
        << ActionName(action);
  }
}

TEST(DataSteward, ChangesMetadataOfAnyOrganisationsDataset) {
  const Principal steward = Steward();
  EXPECT_TRUE(
      Decide(&steward, Action::kChangeMetadata, Dataset(CLASSIFICATION_INTERNAL, false, kOslo))
          .ok());
}

TEST(DataSteward, ReadsDraftsPublishesAndRetires) {
  const Principal steward = Steward();
  for (Action action : {Action::kRead, Action::kPublish, Action::kRetire}) {
    EXPECT_TRUE(Decide(&steward, action, Dataset(CLASSIFICATION_INTERNAL, false)).ok())
        << ActionName(action);
  }
}

TEST(DataSteward, IsRefusedDeletingNamingTheOwnerGrant) {
  const Principal steward = Steward();
  const absl::Status status =
      Decide(&steward, Action::kDelete, Dataset(CLASSIFICATION_INTERNAL, false));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "dataset-owner:Stavanger kommune")) << status;
}

TEST(DataSteward, IsRefusedCreatingAndWritingReadings) {
  const Principal steward = Steward();
  for (Action action : {Action::kCreate, Action::kWriteReadings}) {
    EXPECT_EQ(Decide(&steward, action, Dataset(CLASSIFICATION_INTERNAL, false)).code(),
              absl::StatusCode::kPermissionDenied)
        << ActionName(action);
  }
}

TEST(IngestWriter, WritesReadingsToItsDataset) {
  const Principal writer =
      Person({{Role::kIngestWriter, "luft-a"}}, CLASSIFICATION_INTERNAL, false);
  EXPECT_TRUE(Decide(&writer, Action::kWriteReadings,
                     Dataset(CLASSIFICATION_INTERNAL, true, kStavanger, "luft-a"))
                  .ok());
}

TEST(IngestWriter, IsRefusedAnotherDatasetNamingTheGrant) {
  const Principal writer =
      Person({{Role::kIngestWriter, "luft-a"}}, CLASSIFICATION_INTERNAL, false);
  const absl::Status status = Decide(&writer, Action::kWriteReadings,
                                     Dataset(CLASSIFICATION_INTERNAL, true, kStavanger, "luft-b"));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "ingest-writer:luft-b")) << status;
}

TEST(IngestWriter, CannotReadWhatItWrites) {
  const Principal writer =
      Person({{Role::kIngestWriter, "luft-a"}}, CLASSIFICATION_INTERNAL, false);
  EXPECT_EQ(Decide(&writer, Action::kRead,
                   Dataset(CLASSIFICATION_INTERNAL, true, kStavanger, "luft-a"))
                .code(),
            absl::StatusCode::kPermissionDenied);
}

// --- The service-account exception to the second-factor rule -----------------------------------

TEST(ServiceAccount, WritesReadingsToAProtectedDatasetWithoutASecondFactor) {
  const Principal sensor = Sensor("helse-a", CLASSIFICATION_PROTECTED);
  EXPECT_TRUE(Decide(&sensor, Action::kWriteReadings,
                     Dataset(CLASSIFICATION_PROTECTED, false, kStavanger, "helse-a"))
                  .ok());
}

TEST(ServiceAccount, StillNeedsClearanceForTheClass) {
  const Principal sensor = Sensor("helse-a", CLASSIFICATION_INTERNAL);
  const absl::Status status = Decide(&sensor, Action::kWriteReadings,
                                     Dataset(CLASSIFICATION_PROTECTED, false, kStavanger, "helse-a"));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "Beskyttet")) << status;
}

TEST(ServiceAccount, WithoutTheGrantIsRefusedTheGrantNotAskedForASecondFactor) {
  const Principal sensor = Sensor("helse-a", CLASSIFICATION_PROTECTED);
  const absl::Status status = Decide(&sensor, Action::kWriteReadings,
                                     Dataset(CLASSIFICATION_PROTECTED, false, kStavanger, "helse-b"));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "ingest-writer:helse-b")) << status;
}

TEST(ServiceAccount, ExemptionCoversWritingReadingsOnly) {
  Principal sensor = Sensor("helse-a", CLASSIFICATION_PROTECTED);
  sensor.roles.push_back({Role::kReader, ""});
  EXPECT_EQ(Decide(&sensor, Action::kRead,
                   Dataset(CLASSIFICATION_PROTECTED, true, kStavanger, "helse-a"))
                .code(),
            absl::StatusCode::kUnauthenticated);
}

// client_id alone does not make a machine: people's tokens through smartctl carry one too.
TEST(ServiceAccount, APersonsTokenIssuedToAClientStillNeedsASecondFactor) {
  Principal person = Person({{Role::kIngestWriter, "helse-a"}}, CLASSIFICATION_PROTECTED, false);
  person.client_id = "smartctl";
  const absl::Status status = Decide(&person, Action::kWriteReadings,
                                     Dataset(CLASSIFICATION_PROTECTED, false, kStavanger, "helse-a"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Mentions(status, "second factor")) << status;
}

TEST(ServiceAccount, ActingOnBehalfOfAPersonStillNeedsASecondFactor) {
  Principal sensor = Sensor("helse-a", CLASSIFICATION_PROTECTED);
  sensor.actor = "user:alice";
  EXPECT_EQ(Decide(&sensor, Action::kWriteReadings,
                   Dataset(CLASSIFICATION_PROTECTED, false, kStavanger, "helse-a"))
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(ServiceAccount, IsRecognisedByClientIdAndServiceSubject) {
  EXPECT_TRUE(IsServiceAccount(Sensor("x", CLASSIFICATION_OPEN)));
  Principal no_client = Sensor("x", CLASSIFICATION_OPEN);
  no_client.client_id.clear();
  EXPECT_FALSE(IsServiceAccount(no_client));
}

// --- Audit, archive and administration --------------------------------------------------------

TEST(Auditor, ReadsTheAuditLog) {
  const Principal auditor = Person({{Role::kAuditor, ""}}, CLASSIFICATION_UNSPECIFIED, false);
  EXPECT_TRUE(Decide(&auditor, Action::kReadAudit, ResourceRef{}).ok());
}

TEST(Auditor, IsRefusedArchiving) {
  const Principal auditor = Person({{Role::kAuditor, ""}}, CLASSIFICATION_INTERNAL, false);
  const absl::Status status =
      Decide(&auditor, Action::kArchive, Dataset(CLASSIFICATION_INTERNAL, true));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "archivist")) << status;
}

// A caller that knows audit entries concern classified data sets the class, and rules 3 and 4
// apply as for the data itself.
TEST(Auditor, ClassifiedAuditEntriesFollowTheClassRules) {
  const Principal auditor = Person({{Role::kAuditor, ""}}, CLASSIFICATION_PROTECTED, false);
  ResourceRef entries;
  entries.classification = CLASSIFICATION_PROTECTED;
  EXPECT_EQ(Decide(&auditor, Action::kReadAudit, entries).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(Archivist, ArchivesWithinClearance) {
  const Principal archivist = Person({{Role::kArchivist, ""}}, CLASSIFICATION_INTERNAL, false);
  EXPECT_TRUE(Decide(&archivist, Action::kArchive, Dataset(CLASSIFICATION_INTERNAL, true)).ok());
  EXPECT_EQ(Decide(&archivist, Action::kArchive, PublishedProtected()).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(Archivist, IsRefusedTheAuditLog) {
  const Principal archivist = Person({{Role::kArchivist, ""}}, CLASSIFICATION_INTERNAL, false);
  EXPECT_EQ(Decide(&archivist, Action::kReadAudit, ResourceRef{}).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(Administer, IsRefusedToEveryRoleButPlatformAdmin) {
  const Principal everything_else = Person(
      {{Role::kDatasetOwner, kStavanger}, {Role::kDataSteward, ""}, {Role::kReader, ""},
       {Role::kIngestWriter, "badetemperatur"}, {Role::kAuditor, ""}, {Role::kArchivist, ""}},
      CLASSIFICATION_STRICTLY_PROTECTED, true);
  const absl::Status status = Decide(&everything_else, Action::kAdminister, ResourceRef{});
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Mentions(status, "platform-admin")) << status;
}

TEST(PlatformAdmin, DoesEveryActionWithClearanceAndSecondFactor) {
  const Principal admin = Admin(/*two_factor=*/true);
  for (Action action : kAllActions) {
    EXPECT_TRUE(Decide(&admin, action, Dataset(CLASSIFICATION_STRICTLY_PROTECTED, false, kOslo))
                    .ok())
        << ActionName(action);
  }
}

TEST(PlatformAdmin, AdministersWithoutASecondFactorWhenNoClassIsInvolved) {
  const Principal admin = Admin(/*two_factor=*/false);
  EXPECT_TRUE(Decide(&admin, Action::kAdminister, ResourceRef{}).ok());
}

TEST(DenyByDefault, AnUnknownActionIsRefusedEvenToPlatformAdmin) {
  const Principal admin = Admin(/*two_factor=*/true);
  EXPECT_EQ(Decide(&admin, static_cast<Action>(99), PublishedOpen()).code(),
            absl::StatusCode::kPermissionDenied);
}

// --- Cost ------------------------------------------------------------------------------------

TEST(DecideCost, AllowingAllocatesNothing) {
  const Principal owner = Person({{Role::kReader, ""}, {Role::kDatasetOwner, kStavanger}},
                                 CLASSIFICATION_PROTECTED, true);
  const Principal sensor = Sensor("helse-a", CLASSIFICATION_PROTECTED);
  const ResourceRef draft = DraftProtected();
  const ResourceRef sensor_data = Dataset(CLASSIFICATION_PROTECTED, false, kStavanger, "helse-a");
  const ResourceRef open = PublishedOpen();

  const long before = allocations;
  const bool all_allowed = Decide(nullptr, Action::kRead, open).ok() &&
                           Decide(&owner, Action::kPublish, draft).ok() &&
                           Decide(&sensor, Action::kWriteReadings, sensor_data).ok();
  const long after = allocations;

  EXPECT_TRUE(all_allowed);
  EXPECT_EQ(after - before, 0);
}

// Shows that the counter above sees Decide's allocations, so the test before is not vacuous.
TEST(DecideCost, RefusingBuildsAMessage) {
  const long before = allocations;
  const absl::Status status = Decide(nullptr, Action::kDelete, DraftOpen());
  EXPECT_FALSE(status.ok());
  EXPECT_GT(allocations - before, 0);
}

TEST(ClassificationDisplayName, UsesTheMunicipalitiesWords) {
  EXPECT_EQ(ClassificationDisplayName(CLASSIFICATION_OPEN), "Åpen");
  EXPECT_EQ(ClassificationDisplayName(CLASSIFICATION_INTERNAL), "Intern");
  EXPECT_EQ(ClassificationDisplayName(CLASSIFICATION_PROTECTED), "Beskyttet");
  EXPECT_EQ(ClassificationDisplayName(CLASSIFICATION_STRICTLY_PROTECTED), "Strengt beskyttet");
}

}  // namespace
}  // namespace smartby::auth

namespace smartby::auth {
namespace {

TEST(AuditWriter, AServiceAccountAppendsToTheAuditLogAndNothingElse) {
  Principal service;
  service.subject = "service:catalogue";
  service.client_id = "catalogue";
  service.roles = {{Role::kAuditWriter, ""}};
  EXPECT_TRUE(Decide(&service, Action::kWriteAudit, ResourceRef{}).ok())
      << "no class and no second factor apply to appending events";
  EXPECT_EQ(Decide(&service, Action::kReadAudit, ResourceRef{}).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Decide(&service, Action::kRead,
                   ResourceRef{smartcity::common::v1::CLASSIFICATION_INTERNAL, "x", "y", true})
                .code(),
            absl::StatusCode::kPermissionDenied);
  Principal auditor;
  auditor.subject = "user:revisor";
  auditor.roles = {{Role::kAuditor, ""}};
  const absl::Status status = Decide(&auditor, Action::kWriteAudit, ResourceRef{});
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(status.message()).find("audit-writer"), std::string::npos) << status;
  EXPECT_EQ(ActionName(Action::kWriteAudit), "write-audit");
}

}  // namespace
}  // namespace smartby::auth

namespace smartby::auth {
namespace {

using smartcity::common::v1::CLASSIFICATION_INTERNAL;
using smartcity::common::v1::CLASSIFICATION_PROTECTED;
using smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;

TEST(PlatformService, AServiceAccountReadsEveryDatasetWithinItsClearanceWithoutASecondFactor) {
  Principal service;
  service.subject = "service:ingestion";
  service.client_id = "ingestion";
  service.roles = {{Role::kPlatformService, ""}};
  service.clearance = CLASSIFICATION_PROTECTED;
  const ResourceRef protected_draft{CLASSIFICATION_PROTECTED, "Stavanger kommune", "parkering",
                                    false};
  EXPECT_TRUE(Decide(&service, Action::kRead, protected_draft).ok())
      << "drafts and Beskyttet data, no second factor: the platform's own services";
  // Clearance still holds.
  const ResourceRef strict{CLASSIFICATION_STRICTLY_PROTECTED, "Stavanger kommune", "helse", true};
  EXPECT_EQ(Decide(&service, Action::kRead, strict).code(), absl::StatusCode::kPermissionDenied);
  // Reading only: nothing else comes with the role.
  EXPECT_EQ(Decide(&service, Action::kChangeMetadata,
                   ResourceRef{CLASSIFICATION_INTERNAL, "Stavanger kommune", "parkering", true})
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Decide(&service, Action::kWriteReadings,
                   ResourceRef{CLASSIFICATION_INTERNAL, "Stavanger kommune", "parkering", true})
                .code(),
            absl::StatusCode::kPermissionDenied);

  // A person holding the role still needs the second factor for Beskyttet data.
  Principal person = service;
  person.subject = "user:kari";
  person.client_id = "smartctl";
  EXPECT_EQ(Decide(&person, Action::kRead, protected_draft).code(),
            absl::StatusCode::kUnauthenticated);
  person.two_factor = true;
  EXPECT_TRUE(Decide(&person, Action::kRead, protected_draft).ok());
  // And a service acting for a person is that person, not the platform.
  Principal on_behalf = service;
  on_behalf.actor = "service:feed";
  on_behalf.subject = "user:kari";
  EXPECT_EQ(Decide(&on_behalf, Action::kRead, protected_draft).code(),
            absl::StatusCode::kUnauthenticated);
  auto grant = ParseRoleGrant("platform-service");
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->role, Role::kPlatformService);
}

}  // namespace
}  // namespace smartby::auth
