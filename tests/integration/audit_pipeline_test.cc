// The audit pipeline end to end (issue 4, "Tests"): real auth, catalogue and audit processes.
// While the audit service is down the catalogue keeps working and its events wait in its outbox;
// when the audit service returns they arrive; two services (auth, which mints its own token, and
// the catalogue, with client credentials) write concurrently and the log stays consistent: each
// producer's sequence numbers without gaps, contiguous indices, and a root that matches the
// signed checkpoint.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/audit/checkpoint.h"
#include "services/audit/merkle.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace smartby {
namespace {

namespace adt = ::smartcity::audit::v1;
namespace av1 = ::smartcity::auth::v1;
namespace cv1 = ::smartcity::catalogue::v1;
using testing::BinaryPath;
using testing::HttpGet;
using testing::ServiceProcess;
using testing::TempDir;
using testing::TestTokenIssuer;
using testing::TokenSpec;

constexpr char kAdminPassword[] = "revisjonsspor-test-passord-2026";

std::vector<std::string> AuditArgs(const std::string& dir, const std::string& listen,
                                   const TestTokenIssuer& issuer) {
  return {"--listen=" + listen, "--metrics_listen=127.0.0.1:0",
          absl::StrCat("--database=sqlite://", dir, "/audit.db"), issuer.ServiceFlag(),
          "--audit_service=", "--checkpoint_interval=200ms"};
}

double MetricValue(const std::string& metrics, const std::string& name) {
  for (size_t at = metrics.find(name); at != std::string::npos; at = metrics.find(name, at + 1)) {
    if (at > 0 && metrics[at - 1] != '\n') continue;  // a comment line or another metric
    const size_t space = metrics.find(' ', at);
    if (space == std::string::npos) break;
    return std::atof(metrics.c_str() + space + 1);
  }
  return -1;
}

TEST(AuditPipelineTest, EventsWaitWhileTheLogIsDownThenArriveInAConsistentLog) {
  TempDir dir;
  // The platform key, held by the test too (as in the access matrix test).
  std::string pem;
  { pem = TestTokenIssuer(dir.path()).PrivateKeyPem(); }
  std::ofstream(dir.path() + "/signing-key.pem") << pem;
  std::ofstream(dir.path() + "/admin-password") << kAdminPassword << "\n";

  // The audit service once, to learn a port it can have again, then down.
  std::string audit_address;
  {
    auto probe = TestTokenIssuer(dir.path());
    auto audit = ServiceProcess::Start(BinaryPath("smartby-audit"),
                                       AuditArgs(dir.path(), "127.0.0.1:0", probe));
    ASSERT_TRUE(audit.ok()) << audit.status();
    audit_address = (*audit)->grpc_address();
    ASSERT_EQ((*audit)->Stop(), 0);
  }

  auto auth = ServiceProcess::Start(
      BinaryPath("smartby-auth"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--data_dir=" + dir.path(),
       "--signing_key_file=" + dir.path() + "/signing-key.pem", "--bootstrap_admin=admin",
       "--bootstrap_admin_password_file=" + dir.path() + "/admin-password",
       "--audit_service=grpc://" + audit_address});
  ASSERT_TRUE(auth.ok()) << auth.status();
  auto auth_stub = av1::AuthService::NewStub(
      grpc::CreateChannel((*auth)->grpc_address(), grpc::InsecureChannelCredentials()));
  std::string kid;
  {
    grpc::ClientContext ctx;
    av1::GetJwksResponse jwks;
    ASSERT_TRUE(auth_stub->GetJwks(&ctx, {}, &jwks).ok());
    kid = nlohmann::json::parse(jwks.jwks_json())["keys"][0]["kid"].get<std::string>();
  }
  auto key = auth::SigningKey::FromPem(kid, pem);
  ASSERT_TRUE(key.ok()) << key.status();
  TestTokenIssuer issuer(dir.path(), *std::move(key));  // rewrites jwks.json with auth's kid
  TokenSpec admin;
  admin.subject = "user:admin";
  admin.roles = {"platform-admin"};
  admin.clearance = "strictly-protected";
  admin.tfa = true;
  const std::string admin_token = issuer.Token(admin);

  // The catalogue's own service account, with the role to write the audit log.
  std::string secret;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin_token);
    av1::CreateServiceAccountRequest request;
    request.set_name("catalogue");
    request.add_roles("audit-writer");
    av1::CreateServiceAccountResponse response;
    const grpc::Status status = auth_stub->CreateServiceAccount(&ctx, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    secret = response.client_secret();
  }
  std::ofstream(dir.path() + "/catalogue.secret") << secret << "\n";

  auto catalogue = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
       absl::StrCat("--database=sqlite://", dir.path(), "/catalogue.db"),
       "--auth_service=grpc://" + (*auth)->grpc_address(), "--service_client_id=catalogue",
       "--service_client_secret_file=" + dir.path() + "/catalogue.secret",
       "--audit_service=grpc://" + audit_address});
  ASSERT_TRUE(catalogue.ok()) << catalogue.status();
  auto catalogue_stub = cv1::CatalogueService::NewStub(
      grpc::CreateChannel((*catalogue)->grpc_address(), grpc::InsecureChannelCredentials()));

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
      MetricValue(HttpGet((*catalogue)->metrics_port(), "/metrics").body,
                  "smartby_audit_outbox_depth");
  EXPECT_GE(waiting, kDatasets) << "the events wait in the outbox while the log is down";

  // The audit log returns on the same address and database; the events arrive.
  auto audit = ServiceProcess::Start(BinaryPath("smartby-audit"),
                                     AuditArgs(dir.path(), audit_address, issuer));
  ASSERT_TRUE(audit.ok()) << audit.status();
  auto audit_stub = adt::AuditService::NewStub(
      grpc::CreateChannel(audit_address, grpc::InsecureChannelCredentials()));
  TokenSpec auditor;
  auditor.subject = "user:revisor";
  auditor.roles = {"auditor"};
  auditor.clearance = "strictly-protected";
  auditor.tfa = true;
  const std::string auditor_token = issuer.Token(auditor);

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
