// Starts the real smartby-auth binary on free loopback ports (SQLite in a temp dir) and calls it
// over real gRPC: bootstrap admin, sign-in, users, service accounts, JWKS over RPC and HTTP,
// Authorize, and a restart that keeps the signing keys.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "services/runtime/clock.h"
#include "services/runtime/service_token.h"
#include "tests/support/service_process.h"

namespace smartby {
namespace {

namespace v1 = ::smartcity::auth::v1;
using ::smartcity::common::v1::CLASSIFICATION_INTERNAL;
using ::smartcity::common::v1::CLASSIFICATION_OPEN;
using testing::BinaryPath;
using testing::HttpGet;
using testing::ServiceProcess;
using testing::TempDir;

constexpr char kAdminPassword[] = "bootstrap passord for test";

class AuthIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    password_file_ = dir_.path() + "/admin-password";
    std::ofstream(password_file_) << kAdminPassword << "\n";
    Start();
  }

  void Start() {
    auto process = ServiceProcess::Start(
        BinaryPath("smartby-auth"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
         absl::StrCat("--database=sqlite://", dir_.path(), "/auth.db"),
         "--bootstrap_admin=admin",
         absl::StrCat("--bootstrap_admin_password_file=", password_file_),
         "--signing_key_prepublication=0s"});
    ASSERT_TRUE(process.ok()) << process.status();
    service_ = *std::move(process);
    channel_ = grpc::CreateChannel(service_->grpc_address(), grpc::InsecureChannelCredentials());
    stub_ = v1::AuthService::NewStub(channel_);
  }

  void Restart() {
    ASSERT_EQ(service_->Stop(), 0);
    service_.reset();
    Start();
  }

  grpc::Status Login(const std::string& user, const std::string& password,
                     v1::TokenResponse* out) {
    grpc::ClientContext ctx;
    v1::LoginRequest request;
    request.set_username(user);
    request.set_password(password);
    request.set_client_id("smartctl");
    return stub_->Login(&ctx, request, out);
  }

  std::string AdminToken() {
    v1::TokenResponse tokens;
    grpc::Status status = Login("admin", kAdminPassword, &tokens);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return tokens.access_token();
  }

  static void Bearer(grpc::ClientContext& ctx, const std::string& token) {
    ctx.AddMetadata("authorization", "Bearer " + token);
  }

  v1::AuthorizeResponse Authorize(const std::string& token, const std::string& action,
                                  const v1::ResourceRef& resource = {}) {
    grpc::ClientContext ctx;
    v1::AuthorizeRequest request;
    request.set_access_token(token);
    request.set_action(action);
    *request.mutable_resource() = resource;
    v1::AuthorizeResponse response;
    grpc::Status status = stub_->Authorize(&ctx, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  TempDir dir_;
  std::string password_file_;
  std::unique_ptr<ServiceProcess> service_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AuthService::Stub> stub_;
};

TEST_F(AuthIntegrationTest, BootstrapAdminSignsInAndWhoAmIAnswers) {
  const std::string token = AdminToken();
  grpc::ClientContext ctx;
  Bearer(ctx, token);
  v1::WhoAmIResponse me;
  ASSERT_TRUE(stub_->WhoAmI(&ctx, {}, &me).ok());
  EXPECT_EQ(me.subject(), "user:admin");
  EXPECT_EQ(me.issuer(), "smartby");
  ASSERT_EQ(me.roles_size(), 1);
  EXPECT_EQ(me.roles(0), "platform-admin");
  EXPECT_EQ(me.client_id(), "smartctl");

  grpc::ClientContext anonymous;
  EXPECT_EQ(stub_->WhoAmI(&anonymous, {}, &me).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::TokenResponse ignored;
  EXPECT_EQ(Login("admin", "wrong password here", &ignored).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthIntegrationTest, AdminCreatesAUserWhoSignsInWithTheOneTimePassword) {
  const std::string admin = AdminToken();
  grpc::ClientContext ctx;
  Bearer(ctx, admin);
  v1::CreateUserRequest create;
  create.set_username("kari");
  create.add_roles("reader");
  create.set_clearance(CLASSIFICATION_INTERNAL);
  v1::CreateUserResponse created;
  ASSERT_TRUE(stub_->CreateUser(&ctx, create, &created).ok());
  ASSERT_FALSE(created.one_time_password().empty());

  v1::TokenResponse first;
  ASSERT_TRUE(Login("kari", created.one_time_password(), &first).ok());
  EXPECT_TRUE(first.password_change_required());

  // The one-time token cannot administer anything; a reader cannot either.
  grpc::ClientContext denied;
  Bearer(denied, first.access_token());
  v1::ListUsersResponse users;
  EXPECT_EQ(stub_->ListUsers(&denied, {}, &users).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  grpc::ClientContext change;
  Bearer(change, first.access_token());
  v1::SetPasswordRequest set;
  set.set_current_password(created.one_time_password());
  set.set_new_password("et eget langt passord");
  v1::SetPasswordResponse set_response;
  grpc::Status set_status = stub_->SetPassword(&change, set, &set_response);
  ASSERT_TRUE(set_status.ok()) << set_status.error_message();
  v1::TokenResponse normal;
  ASSERT_TRUE(Login("kari", "et eget langt passord", &normal).ok());
  EXPECT_FALSE(normal.refresh_token().empty());

  grpc::ClientContext refresh_ctx;
  v1::RefreshRequest refresh;
  refresh.set_refresh_token(normal.refresh_token());
  v1::TokenResponse refreshed;
  ASSERT_TRUE(stub_->Refresh(&refresh_ctx, refresh, &refreshed).ok());
  grpc::ClientContext reuse_ctx;
  EXPECT_EQ(stub_->Refresh(&reuse_ctx, refresh, &refreshed).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthIntegrationTest, ServiceAccountIssuesTokensThatAuthorizeChecks) {
  const std::string admin = AdminToken();
  grpc::ClientContext ctx;
  Bearer(ctx, admin);
  v1::CreateServiceAccountRequest create;
  create.set_name("gateway");
  create.add_roles("ingest-writer:badetemperatur");
  create.set_clearance(CLASSIFICATION_OPEN);
  v1::CreateServiceAccountResponse created;
  ASSERT_TRUE(stub_->CreateServiceAccount(&ctx, create, &created).ok());

  grpc::ClientContext issue_ctx;
  v1::IssueServiceTokenRequest issue;
  issue.set_client_id("gateway");
  issue.set_client_secret(created.client_secret());
  v1::TokenResponse token;
  ASSERT_TRUE(stub_->IssueServiceToken(&issue_ctx, issue, &token).ok());
  EXPECT_EQ(token.subject(), "service:gateway");

  v1::ResourceRef dataset;
  dataset.set_classification(CLASSIFICATION_OPEN);
  dataset.set_dataset("badetemperatur");
  auto allowed = Authorize(token.access_token(), "write-readings", dataset);
  EXPECT_TRUE(allowed.allowed()) << allowed.message();
  EXPECT_EQ(allowed.subject(), "service:gateway");
  dataset.set_dataset("parkering");
  auto denied = Authorize(token.access_token(), "write-readings", dataset);
  EXPECT_FALSE(denied.allowed());
  EXPECT_EQ(denied.code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Authorize(admin, "administer").allowed());
  auto forged = Authorize(token.access_token() + "x", "read");
  EXPECT_FALSE(forged.allowed());
  EXPECT_EQ(forged.code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::ClientContext bad_action;
  v1::AuthorizeRequest request;
  request.set_action("conquer");
  v1::AuthorizeResponse response;
  EXPECT_EQ(stub_->Authorize(&bad_action, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// The runtime's client side of service-to-service calls: a service exchanges its client
// credentials for a token once, reuses it until it nears expiry, and says plainly when its secret
// is refused.
TEST_F(AuthIntegrationTest, TheRuntimesServiceTokenSourceCachesItsToken) {
  const std::string admin = AdminToken();
  grpc::ClientContext ctx;
  Bearer(ctx, admin);
  v1::CreateServiceAccountRequest create;
  create.set_name("ingestion");
  create.add_roles("reader");
  create.set_clearance(CLASSIFICATION_OPEN);
  v1::CreateServiceAccountResponse created;
  ASSERT_TRUE(stub_->CreateServiceAccount(&ctx, create, &created).ok());

  SettableClock clock(absl::Now());
  ServiceTokenSource source(channel_, "ingestion", created.client_secret(), &clock);
  auto first = source.Token();
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = source.Token();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*first, *again) << "a valid token is reused, not reissued per call";

  grpc::ClientContext who_ctx;
  ASSERT_TRUE(source.Attach(&who_ctx).ok());
  v1::WhoAmIResponse me;
  ASSERT_TRUE(stub_->WhoAmI(&who_ctx, {}, &me).ok());
  EXPECT_EQ(me.subject(), "service:ingestion");
  EXPECT_EQ(me.client_id(), "ingestion");

  // Near expiry (the default access token lives 10 minutes), a new one is fetched.
  clock.Advance(absl::Minutes(9) + absl::Seconds(30));
  auto renewed = source.Token();
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_NE(*renewed, *first);

  ServiceTokenSource wrong(channel_, "ingestion", "not-the-secret", &clock);
  const absl::Status refused = wrong.Token().status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(refused.message()).find("--service_client_secret_file"), std::string::npos)
      << refused;
}

TEST_F(AuthIntegrationTest, JwksOverRpcAndHttpMatchAndKeysSurviveARestart) {
  grpc::ClientContext ctx;
  v1::GetJwksResponse jwks;
  ASSERT_TRUE(stub_->GetJwks(&ctx, {}, &jwks).ok());
  auto http = HttpGet(service_->metrics_port(), "/.well-known/jwks.json");
  ASSERT_EQ(http.status, 200);
  EXPECT_EQ(nlohmann::json::parse(http.body), nlohmann::json::parse(jwks.jwks_json()));
  ASSERT_EQ(nlohmann::json::parse(jwks.jwks_json())["keys"].size(), 1u);

  const std::string before = AdminToken();
  Restart();
  // Signed before the restart, still accepted: the key was kept in the database.
  grpc::ClientContext who;
  Bearer(who, before);
  v1::WhoAmIResponse me;
  ASSERT_TRUE(stub_->WhoAmI(&who, {}, &me).ok());
  EXPECT_EQ(me.subject(), "user:admin");
  EXPECT_TRUE(Authorize(before, "administer").allowed());
  grpc::ClientContext again;
  v1::GetJwksResponse after;
  ASSERT_TRUE(stub_->GetJwks(&again, {}, &after).ok());
  EXPECT_EQ(after.jwks_json(), jwks.jwks_json());
}

TEST_F(AuthIntegrationTest, RotationPublishesTheNewKeyAndOldTokensStillVerify) {
  const std::string before = AdminToken();
  grpc::ClientContext ctx;
  Bearer(ctx, before);
  v1::RotateSigningKeyResponse rotated;
  ASSERT_TRUE(stub_->RotateSigningKey(&ctx, {}, &rotated).ok());
  ASSERT_FALSE(rotated.kid().empty());
  auto http = HttpGet(service_->metrics_port(), "/.well-known/jwks.json");
  auto keys = nlohmann::json::parse(http.body)["keys"];
  ASSERT_EQ(keys.size(), 2u);
  const std::string after = AdminToken();
  EXPECT_TRUE(Authorize(before, "administer").allowed());
  EXPECT_TRUE(Authorize(after, "administer").allowed());
  auto metrics = HttpGet(service_->metrics_port(), "/metrics");
  EXPECT_NE(metrics.body.find("smartby_auth_logins_total{outcome=\"success\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("smartby_auth_tokens_issued_total{kind=\"login\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace smartby
