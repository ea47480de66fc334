// The audit pipeline end to end (issue 4, "Tests"): real auth, catalogue and audit processes.
// While the audit service is down the catalogue keeps working and its events wait in its outbox;
// when the audit service returns they arrive; two services (auth, which mints its own token, and
// the catalogue, with client credentials) write concurrently and the log stays consistent: each
// producer's sequence numbers without gaps, contiguous indices, and a root that matches the
// signed checkpoint.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/audit/checkpoint.h"
#include "services/audit/merkle.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "tests/support/platform_under_test.h"

namespace smartby {
namespace {

namespace adt = ::smartcity::audit::v1;
namespace av1 = ::smartcity::auth::v1;
namespace cv1 = ::smartcity::catalogue::v1;
using testing::HttpGet;
using testing::MetricValue;
using testing::PlatformUnderTest;
using testing::TokenSpec;

TEST(AuditPipelineTest, EventsWaitWhileTheLogIsDownThenArriveInAConsistentLog) {
  // Auth's signing key is held by the test too (as in the access matrix test).
  PlatformUnderTest platform;
  const std::vector<std::string> audit_flags = {"--checkpoint_interval=200ms"};

  // The audit service once, to learn a port it can have again, then down.
  ASSERT_EQ(platform.Start("audit", audit_flags), absl::OkStatus());
  ASSERT_EQ(platform.Stop("audit"), 0);
  const std::string audit_address = platform.Address("audit");

  // Auth ships its events to that address.
  ASSERT_EQ(platform.StartAuth(), absl::OkStatus());
  auto auth_stub = av1::AuthService::NewStub(platform.Channel("auth"));
  const std::string admin_token = platform.AdminToken();

  // The catalogue's own service account, with the role to write the audit log; it takes the
  // platform's keys from auth (--auth_service), not from a file.
  ASSERT_EQ(platform.CreateServiceAccount("catalogue", {"audit-writer"},
                                          smartcity::common::v1::CLASSIFICATION_UNSPECIFIED),
            absl::OkStatus());
  ASSERT_EQ(platform.Start("catalogue", {"--auth_jwks="}), absl::OkStatus());
  auto catalogue_stub = cv1::CatalogueService::NewStub(platform.Channel("catalogue"));

  // With the audit log down, changes still work; their events wait in the outbox.
  constexpr int kDatasets = 5;
  for (int i = 0; i < kDatasets; ++i) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin_token);
    cv1::CreateDatasetRequest request;
    cv1::Dataset* d = request.mutable_dataset();
    d->set_name(absl::StrCat("revisjon-", i));
    d->set_title(absl::StrCat("Revisjonsspor ", i));
    d->mutable_owner()->set_organization("Stavanger kommune");
    d->set_license("NLOD-2.0");
    d->set_classification(smartcity::common::v1::CLASSIFICATION_INTERNAL);
    cv1::Dataset out;
    const grpc::Status status = catalogue_stub->CreateDataset(&ctx, request, &out);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // A failed sign-in: recorded with the account it was for.
  {
    grpc::ClientContext ctx;
    av1::LoginRequest login;
    login.set_username("admin");
    login.set_password("not the password at all");
    av1::TokenResponse tokens;
    EXPECT_EQ(auth_stub->Login(&ctx, login, &tokens).error_code(), grpc::UNAUTHENTICATED);
  }
  const double waiting =
      MetricValue(HttpGet(platform.service("catalogue").metrics_port(), "/metrics").body,
                  "smartby_audit_outbox_depth");
  EXPECT_GE(waiting, kDatasets) << "the events wait in the outbox while the log is down";

  // The audit log returns on the same address and database; the events arrive.
  ASSERT_EQ(platform.Start("audit", audit_flags), absl::OkStatus());
  auto audit_stub = adt::AuditService::NewStub(
      grpc::CreateChannel(audit_address, grpc::InsecureChannelCredentials()));
  TokenSpec auditor;
  auditor.subject = "user:revisor";
  auditor.roles = {"auditor"};
  auditor.clearance = "strictly-protected";
  auditor.tfa = true;
  const std::string auditor_token = platform.issuer().Token(auditor);

  // Polls the log (an observable condition, with a deadline; the shippers retry with backoff).
  std::vector<adt::LogEntry> entries;
  auto created_events = [&] {
    int n = 0;
    for (const auto& e : entries) {
      if (e.entry().event().producer() == "catalogue" &&
          e.entry().event().action() == "/smartcity.catalogue.v1.CatalogueService/CreateDataset") {
        ++n;
      }
    }
    return n;
  };
  bool have_auth = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + auditor_token);
    adt::QueryEntriesRequest request;
    request.set_page_size(1000);
    adt::QueryEntriesResponse response;
    const grpc::Status status = audit_stub->QueryEntries(&ctx, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    entries.assign(response.entries().begin(), response.entries().end());
    have_auth = false;
    for (const auto& e : entries) {
      const adt::AuditEvent& event = e.entry().event();
      have_auth = have_auth ||
                  (event.producer() == "auth" &&
                   event.action() == "/smartcity.auth.v1.AuthService/Login" &&
                   event.outcome_code() == grpc::UNAUTHENTICATED &&
                   event.details_json().find("\"admin\"") != std::string::npos);
    }
    if (created_events() >= kDatasets && have_auth) break;
    absl::SleepFor(absl::Milliseconds(200));  // polling interval, not synchronisation
  }
  ASSERT_EQ(created_events(), kDatasets) << "every change made while the log was down arrived";
  EXPECT_TRUE(have_auth) << "auth ships its own events: the failed sign-in, naming the account";

  // Each producer's sequence has no gaps; indices are contiguous from 0.
  std::map<std::string, int64_t> last_sequence;
  for (size_t i = 0; i < entries.size(); ++i) {
    const adt::AuditEntry& entry = entries[i].entry();
    EXPECT_EQ(entry.index(), static_cast<int64_t>(i));
    const std::string& producer = entry.event().producer();
    auto last = last_sequence.find(producer);
    if (last != last_sequence.end()) {
      EXPECT_EQ(entry.event().producer_sequence(), last->second + 1)
          << producer << " lost or reordered an event before index " << entry.index();
    }
    last_sequence[producer] = entry.event().producer_sequence();
  }
  const adt::AuditEvent* create = nullptr;
  for (const auto& e : entries) {
    if (e.entry().event().producer() == "catalogue") create = &e.entry().event();
  }
  ASSERT_NE(create, nullptr);
  EXPECT_EQ(create->actor().subject(), "user:admin");
  EXPECT_EQ(create->resource().classification(), smartcity::common::v1::CLASSIFICATION_INTERNAL);
  EXPECT_EQ(create->outcome_code(), 0);

  // The log verifies: its signed checkpoint's root equals the root recomputed from the entries.
  adt::Checkpoint checkpoint;
  const absl::Time checkpoint_deadline = absl::Now() + absl::Seconds(30);
  do {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + auditor_token);
    ASSERT_TRUE(audit_stub->GetCheckpoint(&ctx, {}, &checkpoint).ok());
    if (checkpoint.tree_size() >= static_cast<int64_t>(entries.size())) break;
    absl::SleepFor(absl::Milliseconds(100));  // checkpoints follow within --checkpoint_interval
  } while (absl::Now() < checkpoint_deadline);
  ASSERT_GE(checkpoint.tree_size(), static_cast<int64_t>(entries.size()));
  grpc::ClientContext entries_ctx;
  entries_ctx.AddMetadata("authorization", "Bearer " + auditor_token);
  adt::GetEntriesRequest range;
  range.set_start_index(0);
  range.set_end_index(checkpoint.tree_size());
  adt::GetEntriesResponse all;
  ASSERT_TRUE(audit_stub->GetEntries(&entries_ctx, range, &all).ok());
  merkle::CompactRange tree;
  for (const auto& e : all.entries()) tree.Append(merkle::LeafHash(e.entry_bytes()));
  EXPECT_EQ(merkle::ToHex(tree.Root()),
            merkle::ToHex(*merkle::HashFromBytes(checkpoint.root_hash())));
  grpc::ClientContext key_ctx;
  key_ctx.AddMetadata("authorization", "Bearer " + auditor_token);
  adt::GetVerifierKeyResponse key_response;
  ASSERT_TRUE(audit_stub->GetVerifierKey(&key_ctx, {}, &key_response).ok());
  EXPECT_TRUE(audit::VerifyNote(checkpoint.note(), key_response.verifier_key()).ok());
}

}  // namespace
}  // namespace smartby
