#include "services/runtime/audit_guard.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "services/runtime/server.h"

namespace smartby {
namespace {

using smartcity::audit::v1::AuditEvent;
namespace common = smartcity::common::v1;

constexpr char kUpdate[] = "/smartcity.catalogue.v1.CatalogueService/UpdateDataset";
constexpr char kGet[] = "/smartcity.catalogue.v1.CatalogueService/GetDataset";
constexpr char kSearch[] = "/smartcity.catalogue.v1.CatalogueService/SearchDatasets";
constexpr char kAppend[] = "/smartcity.audit.v1.AuditService/Append";

const MethodPolicy kMutation{true, Access::kResource, auth::Action::kChangeMetadata};
const MethodPolicy kRead{false, Access::kResource, auth::Action::kRead};
const MethodPolicy kListing{false, Access::kFiltered, auth::Action::kRead};
const MethodPolicy kWriteAudit{true, Access::kAction, auth::Action::kWriteAudit};

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

auth::Principal Person(const std::string& subject, const std::string& role,
                       common::Classification clearance, bool two_factor = false) {
  auth::Principal p;
  p.subject = subject;
  p.roles.push_back(*auth::ParseRoleGrant(role));
  p.clearance = clearance;
  p.two_factor = two_factor;
  return p;
}

auth::ResourceRef Dataset(const std::string& name, common::Classification classification) {
  auth::ResourceRef ref;
  ref.dataset = name;
  ref.classification = classification;
  ref.owner_organization = "Stavanger kommune";
  ref.published = true;
  return ref;
}

std::unique_ptr<CallContext> Call(const char* method, const MethodPolicy& policy,
                                  std::optional<auth::Principal> principal = std::nullopt) {
  auto call = std::make_unique<CallContext>();
  call->method = method;
  call->policy = &policy;
  call->request_id = "req-1";
  call->peer = "ipv4:10.0.0.7:53122";
  if (principal) call->caller = auth::Caller(*principal);
  return call;
}

AuditGuardOptions Options() {
  AuditGuardOptions options;
  options.producer = "catalogue";
  return options;
}

std::vector<AuditEvent> Events(const CallContext& call, const absl::Status& outcome) {
  return AuditEventsFor(call, outcome, Options(), kNow);
}

// --- the recording rules --------------------------------------------------------------------

TEST(AuditRules, AMutationIsRecordedWithPrincipalDatasetOutcomeAndRequest) {
  auth::Principal owner = Person("user:kari", "dataset-owner:Stavanger kommune",
                                 common::CLASSIFICATION_INTERNAL);
  owner.client_id = "smartctl";
  auto call = Call(kUpdate, kMutation, owner);
  ASSERT_TRUE(call->caller
                  .Authorize(auth::Action::kChangeMetadata,
                             Dataset("badetemperatur", common::CLASSIFICATION_INTERNAL))
                  .ok());
  std::vector<AuditEvent> events = Events(*call, absl::OkStatus());
  ASSERT_EQ(events.size(), 1u);
  const AuditEvent& e = events[0];
  EXPECT_EQ(e.producer(), "catalogue");
  EXPECT_EQ(e.producer_sequence(), 0);  // the outbox assigns it
  EXPECT_EQ(e.claimed_time().seconds(), 1700000000);
  EXPECT_EQ(e.actor().subject(), "user:kari");
  EXPECT_EQ(e.actor().client_id(), "smartctl");
  EXPECT_FALSE(e.actor().two_factor());
  EXPECT_EQ(e.source_address(), "ipv4:10.0.0.7:53122");
  EXPECT_EQ(e.action(), kUpdate);
  EXPECT_EQ(e.resource().type(), "dataset");
  EXPECT_EQ(e.resource().id(), "badetemperatur");
  EXPECT_EQ(e.resource().dataset(), "badetemperatur");
  EXPECT_EQ(e.resource().classification(), common::CLASSIFICATION_INTERNAL);
  EXPECT_EQ(e.outcome_code(), 0);
  EXPECT_EQ(e.request_id(), "req-1");
}

// --- producer names ---------------------------------------------------------------------------

TEST(AuditProducer, AnInstanceIsAppendedToTheAccount) {
  EXPECT_EQ(AuditProducerName("catalogue", ""), "catalogue");
  EXPECT_EQ(AuditProducerName("catalogue", "smartby-catalogue-7d9f8-x2k4q"),
            "catalogue/smartby-catalogue-7d9f8-x2k4q");
}

TEST(AuditProducer, InstanceNamesAreBoundedPodNames) {
  for (const char* good : {"a", "smartby-catalogue-7d9f8-x2k4q", "node-1.example", "0"}) {
    EXPECT_TRUE(CheckAuditInstance(good, "--audit_instance").ok()) << good;
  }
  EXPECT_TRUE(CheckAuditInstance(std::string(63, 'a'), "--audit_instance").ok());
  for (const char* bad : {"", "Catalogue-0", "a_b", "a/b", "a b", "pod\n"}) {
    absl::Status s = CheckAuditInstance(bad, "--audit_instance");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StartsWith(s.message(), "--audit_instance: an instance name must be 1 to "
                                              "63 characters of a-z, 0-9, '-' and '.'"))
        << s.message();
  }
  EXPECT_TRUE(absl::StrContains(CheckAuditInstance("a/b", "f").message(), "(got \"a/b\")"));
  absl::Status long_name = CheckAuditInstance(std::string(64, 'a'), "--audit_instance");
  EXPECT_EQ(long_name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(long_name.message(), "(got 64 characters)")) << long_name;
}

TEST(AuditProducer, TheServerRefusesABadInstanceOrAProducerThatAlreadyNamesOne) {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.audit.producer = "catalogue";
  options.audit.instance = "smartby-catalogue-7d9f8-x2k4q";
  EXPECT_TRUE(CheckServerOptions(options).ok());
  options.audit.instance = "Pod_1";
  absl::Status bad = CheckServerOptions(options);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(bad.message(), "--audit_instance (or SMARTBY_AUDIT_INSTANCE): "))
      << bad;
  options.audit.instance = "b";
  options.audit.producer = "catalogue/a";
  bad = CheckServerOptions(options);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(bad.message(), "--audit_producer: \"catalogue/a\" already names"))
      << bad;
}

TEST(AuditProducer, EventsCarryTheConfiguredProducer) {
  AuditGuardOptions options = Options();
  options.producer = AuditProducerName("catalogue", "pod-b");
  auto call = Call(kUpdate, kMutation);
  std::vector<AuditEvent> events =
      AuditEventsFor(*call, absl::UnauthenticatedError("sign in first"), options, kNow);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].producer(), "catalogue/pod-b");
}

TEST(AuditRules, RefusedMutationsAreRecordedToo) {
  // Anonymous, refused before any check (the method needs a token).
  auto anonymous = Call(kUpdate, kMutation);
  std::vector<AuditEvent> events =
      Events(*anonymous, absl::UnauthenticatedError("sign in first"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].actor().subject(), "anonymous");
  EXPECT_EQ(events[0].outcome_code(), static_cast<int>(absl::StatusCode::kUnauthenticated));
  EXPECT_FALSE(events[0].has_resource());

  // Signed in, refused by the dataset check: the record names the dataset it was about.
  auto reader = Call(kUpdate, kMutation,
                     Person("user:ola", "reader", common::CLASSIFICATION_PROTECTED, true));
  absl::Status refused = reader->caller.Authorize(
      auth::Action::kChangeMetadata, Dataset("skolebarn", common::CLASSIFICATION_PROTECTED));
  ASSERT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  events = Events(*reader, refused);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].actor().subject(), "user:ola");
  EXPECT_TRUE(events[0].actor().two_factor());
  EXPECT_EQ(events[0].outcome_code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(events[0].resource().id(), "skolebarn");
  EXPECT_EQ(events[0].resource().classification(), common::CLASSIFICATION_PROTECTED);
}

TEST(AuditRules, ReadsOfOpenDataAreNotRecorded) {
  auto call = Call(kGet, kRead);  // anonymous
  ASSERT_TRUE(call->caller.Authorize(auth::Action::kRead,
                                     Dataset("bysykkel", common::CLASSIFICATION_OPEN))
                  .ok());
  EXPECT_TRUE(Events(*call, absl::OkStatus()).empty());
  // Nor a read that found nothing to check (NOT_FOUND before any check).
  EXPECT_TRUE(Events(*Call(kGet, kRead), absl::NotFoundError("no such dataset")).empty());
}

TEST(AuditRules, ReadsOfInternAndBeskyttetDataAreRecordedWithTheDataset) {
  auto intern = Call(kGet, kRead, Person("user:ola", "reader", common::CLASSIFICATION_INTERNAL));
  ASSERT_TRUE(intern->caller
                  .Authorize(auth::Action::kRead,
                             Dataset("vannmaalere", common::CLASSIFICATION_INTERNAL))
                  .ok());
  std::vector<AuditEvent> events = Events(*intern, absl::OkStatus());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].resource().id(), "vannmaalere");
  EXPECT_EQ(events[0].resource().classification(), common::CLASSIFICATION_INTERNAL);
  EXPECT_EQ(events[0].action(), kGet);

  auto protected_read =
      Call(kGet, kRead, Person("user:ola", "reader", common::CLASSIFICATION_PROTECTED, true));
  ASSERT_TRUE(protected_read->caller
                  .Authorize(auth::Action::kRead,
                             Dataset("barnevern", common::CLASSIFICATION_PROTECTED))
                  .ok());
  events = Events(*protected_read, absl::OkStatus());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].resource().id(), "barnevern");
  EXPECT_EQ(events[0].resource().classification(), common::CLASSIFICATION_PROTECTED);
}

TEST(AuditRules, ARefusedReadOfBeskyttetDataIsRecordedAsAnAttempt) {
  auto call = Call(kGet, kRead, Person("user:ola", "reader", common::CLASSIFICATION_INTERNAL));
  absl::Status refused = call->caller.Authorize(
      auth::Action::kRead, Dataset("barnevern", common::CLASSIFICATION_PROTECTED));
  ASSERT_FALSE(refused.ok());
  std::vector<AuditEvent> events = Events(*call, refused);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].resource().id(), "barnevern");
  EXPECT_EQ(events[0].outcome_code(), static_cast<int>(refused.code()));
}

TEST(AuditRules, AListingRecordsEachDatasetAboveOpenItReturned) {
  auto call = Call(kSearch, kListing,
                   Person("user:ola", "reader", common::CLASSIFICATION_PROTECTED, true));
  call->caller.MarkChecked();
  EXPECT_TRUE(call->caller.Allows(auth::Action::kRead, Dataset("a", common::CLASSIFICATION_OPEN)));
  EXPECT_TRUE(
      call->caller.Allows(auth::Action::kRead, Dataset("b", common::CLASSIFICATION_INTERNAL)));
  EXPECT_TRUE(
      call->caller.Allows(auth::Action::kRead, Dataset("c", common::CLASSIFICATION_PROTECTED)));
  EXPECT_TRUE(
      call->caller.Allows(auth::Action::kRead, Dataset("b", common::CLASSIFICATION_INTERNAL)));
  EXPECT_FALSE(call->caller.Allows(auth::Action::kRead,
                                   Dataset("d", common::CLASSIFICATION_STRICTLY_PROTECTED)));
  std::vector<AuditEvent> events = Events(*call, absl::OkStatus());
  ASSERT_EQ(events.size(), 2u);  // b once, c; not the Åpen one nor the one filtered out
  EXPECT_EQ(events[0].resource().id(), "b");
  EXPECT_EQ(events[1].resource().id(), "c");
}

TEST(AuditRules, AStoreFilteredListingByACallerClearedAboveOpenIsRecordedOnce) {
  auto cleared =
      Call(kSearch, kListing, Person("user:ola", "reader", common::CLASSIFICATION_INTERNAL));
  cleared->caller.MarkChecked();
  std::vector<AuditEvent> events = Events(*cleared, absl::OkStatus());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].has_resource());

  auto anonymous = Call(kSearch, kListing);
  anonymous->caller.MarkChecked();
  EXPECT_TRUE(Events(*anonymous, absl::OkStatus()).empty());
}

TEST(AuditRules, TheLogsOwnAppendIsRecordedOnlyWhenRefused) {
  auth::Principal writer;
  writer.subject = "service:catalogue";
  writer.client_id = "catalogue";
  writer.roles.push_back(*auth::ParseRoleGrant("audit-writer"));
  auto ok = Call(kAppend, kWriteAudit, writer);
  EXPECT_TRUE(Events(*ok, absl::OkStatus()).empty());
  auto refused = Call(kAppend, kWriteAudit);
  EXPECT_EQ(Events(*refused, absl::UnauthenticatedError("sign in")).size(), 1u);
}

TEST(AuditRules, HandlerDetailsAreCarriedAndBounded) {
  auto call = Call(kUpdate, kMutation);
  AddAuditDetail(*call, "fields", std::vector<std::string>{"title", "keywords"});
  AddAuditDetail(*call, "version", int64_t{7});
  AddAuditDetail(*call, "reason", "retting av tittel");
  std::vector<AuditEvent> events = Events(*call, absl::OkStatus());
  ASSERT_EQ(events.size(), 1u);
  nlohmann::json details = nlohmann::json::parse(events[0].details_json());
  EXPECT_EQ(details["fields"], nlohmann::json({"title", "keywords"}));
  EXPECT_EQ(details["version"], 7);
  EXPECT_EQ(details["reason"], "retting av tittel");

  AddAuditDetail(*call, "huge", std::string(5000, 'x'));  // would pass 4 KiB: left out
  details = nlohmann::json::parse(call->audit_details);
  EXPECT_FALSE(details.contains("huge"));
  EXPECT_EQ(details["details_truncated"], true);
  EXPECT_LE(call->audit_details.size(), kMaxAuditDetailsBytes);

  call->audit_details = "not json";  // set by hand, wrongly: replaced by a note, event kept
  events = Events(*call, absl::OkStatus());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(absl::StrContains(events[0].details_json(), "details_error"));
}

// --- the guard with its outbox -----------------------------------------------------------------

class AuditGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "guard-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    auto outbox = AuditOutbox::Open(dir_ + "/o.db", &clock_);
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    outbox_ = *std::move(outbox);
  }
  void TearDown() override {
    outbox_.reset();
    std::filesystem::remove_all(dir_);
  }
  AuditGuard Guard(int64_t max_events, absl::Duration max_age) {
    AuditGuardOptions options = Options();
    options.max_events = max_events;
    options.max_age = max_age;
    return AuditGuard(outbox_.get(), options, &clock_, nullptr, [this] { ++wakes_; });
  }
  // A successful update of an Intern dataset, through the guard.
  absl::Status Update(AuditGuard& guard) {
    auto call = Call(kUpdate, kMutation,
                     Person("user:kari", "dataset-owner:Stavanger kommune",
                            common::CLASSIFICATION_INTERNAL));
    absl::Status status = guard.Admit(*call);
    if (status.ok()) {
      status = call->caller.Authorize(auth::Action::kChangeMetadata,
                                      Dataset("badetemperatur", common::CLASSIFICATION_INTERNAL));
    }
    return guard.Conclude(*call, status);
  }
  absl::Status InternRead(AuditGuard& guard) {
    auto call = Call(kGet, kRead, Person("user:ola", "reader", common::CLASSIFICATION_INTERNAL));
    absl::Status status = guard.Admit(*call);
    if (status.ok()) {
      status = call->caller.Authorize(auth::Action::kRead,
                                      Dataset("vannmaalere", common::CLASSIFICATION_INTERNAL));
    }
    return guard.Conclude(*call, status);
  }

  std::string dir_;
  SettableClock clock_{kNow};
  std::unique_ptr<AuditOutbox> outbox_;
  int wakes_ = 0;
};

TEST_F(AuditGuardTest, TheEventIsInTheOutboxWhenTheCallConcludes) {
  AuditGuard guard = Guard(100, absl::Hours(1));
  ASSERT_TRUE(Update(guard).ok());
  auto events = outbox_->Peek(10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].action(), kUpdate);
  EXPECT_EQ((*events)[0].resource().id(), "badetemperatur");
  EXPECT_GT((*events)[0].producer_sequence(), 0);
  EXPECT_EQ(wakes_, 1);
}

TEST_F(AuditGuardTest, AFullOutboxRefusesMutationsButNotReads) {
  AuditGuard guard = Guard(/*max_events=*/2, absl::Hours(1));
  ASSERT_TRUE(Update(guard).ok());
  ASSERT_TRUE(Update(guard).ok());
  ASSERT_EQ(outbox_->depth(), 2);

  absl::Status refused = Update(guard);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StartsWith(refused.message(), kAuditRefusal)) << refused;
  EXPECT_EQ(outbox_->depth(), 2);  // a refusal by the guard itself records nothing

  // Reads go on, and are still recorded.
  EXPECT_TRUE(InternRead(guard).ok());
  EXPECT_EQ(outbox_->depth(), 3);

  // Once the log has taken events, mutations are admitted again.
  auto events = outbox_->Peek(10);
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE(outbox_->DeleteThrough(events->back().producer_sequence()).ok());
  EXPECT_TRUE(Update(guard).ok());
}

TEST_F(AuditGuardTest, AStaleOutboxRefusesMutations) {
  AuditGuard guard = Guard(100, absl::Minutes(30));
  ASSERT_TRUE(Update(guard).ok());
  clock_.Advance(absl::Minutes(29));
  EXPECT_TRUE(Update(guard).ok());
  clock_.Advance(absl::Minutes(2));  // the first event is now 31 minutes old
  absl::Status refused = Update(guard);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(refused.message(), "old")) << refused;
  EXPECT_TRUE(InternRead(guard).ok());

  AuditGuard no_age_limit = Guard(100, absl::ZeroDuration());
  EXPECT_TRUE(Update(no_age_limit).ok());
}

}  // namespace
}  // namespace smartby
