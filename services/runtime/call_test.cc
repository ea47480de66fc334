#include "services/runtime/call.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>

#include "absl/strings/match.h"
#include "grpc/health/v1/health.pb.h"
#include "services/runtime/authentication.h"
#include "services/runtime/server.h"

namespace smartby {
namespace {

const google::protobuf::ServiceDescriptor& HealthDescriptor() {
  // Through a generated message, so that the linker keeps health.pb.cc's descriptor.
  return *grpc::health::v1::HealthCheckRequest::descriptor()->file()->FindServiceByName("Health");
}

TEST(PolicyTable, CoveringEveryMethodPasses) {
  ServicePolicy policy{"grpc.health.v1.Health", {{"Check", {}}, {"Watch", {}}}};
  EXPECT_TRUE(CheckPolicyCoversService(policy, HealthDescriptor()).ok());
}

TEST(PolicyTable, AMethodWithoutPolicyIsRefusedByName) {
  ServicePolicy policy{"grpc.health.v1.Health", {{"Check", {}}}};
  const absl::Status status = CheckPolicyCoversService(policy, HealthDescriptor());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(status.message(), "Watch")) << status;
}

TEST(PolicyTable, APolicyForAnUnknownMethodIsRefused) {
  ServicePolicy policy{"grpc.health.v1.Health", {{"Check", {}}, {"Watch", {}}, {"Nope", {}}}};
  EXPECT_TRUE(absl::StrContains(CheckPolicyCoversService(policy, HealthDescriptor()).message(),
                                "Nope"));
}

TEST(WorkerPool, RefusesWorkBeyondItsQueue) {
  WorkerPool pool(1, 1);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> started{false};
  ASSERT_TRUE(pool.TrySubmit([&] {
    started = true;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  }));
  while (!started) std::this_thread::yield();  // the only worker is now busy
  EXPECT_TRUE(pool.TrySubmit([] {}));           // fills the queue of one
  EXPECT_FALSE(pool.TrySubmit([] {}));          // refused, not queued without bound
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
}

TEST(ServerOptions, LoopbackAddresses) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:7001"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:7001"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:7001"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:7001"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:7001"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.5:7001"));
}

TEST(ServerOptions, CertificateNeedsItsKey) {
  ServerOptions o;
  o.listen_address = "127.0.0.1:7001";
  o.tls_cert_file = "/etc/hostname";
  const absl::Status status = CheckServerOptions(o);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "--tls_key"));
}

TEST(ServerOptions, PlaintextBeyondLoopbackNeedsExplicitConsent) {
  ServerOptions o;
  o.listen_address = "0.0.0.0:7001";
  EXPECT_EQ(CheckServerOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o.allow_insecure_non_loopback = true;
  EXPECT_TRUE(CheckServerOptions(o).ok());
}

TEST(ServerOptions, UnreadableCertificateIsNamed) {
  ServerOptions o;
  o.listen_address = "127.0.0.1:7001";
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  EXPECT_TRUE(absl::StrContains(CheckServerOptions(o).message(), "--tls_cert"));
}

}  // namespace
}  // namespace smartby

namespace smartby {
namespace {

auth::Caller ReaderCaller() {
  auth::Principal p;
  p.subject = "user:reader";
  p.roles = {{auth::Role::kReader, ""}};
  p.clearance = smartcity::common::v1::CLASSIFICATION_INTERNAL;
  return auth::Caller(p);
}

auth::Caller AdminCaller() {
  auth::Principal p;
  p.subject = "user:admin";
  p.roles = {{auth::Role::kPlatformAdmin, ""}};
  p.clearance = smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;
  p.two_factor = true;
  return auth::Caller(p);
}

TEST(AccessRules, TheDefaultPolicyIsPlatformAdminOnly) {
  const MethodPolicy policy;
  EXPECT_EQ(AdmitByPolicy(policy, auth::Caller::Anonymous()).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(AdmitByPolicy(policy, ReaderCaller()).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(AdmitByPolicy(policy, AdminCaller()).ok());
}

TEST(AccessRules, PublicMethodsAdmitEveryone) {
  const MethodPolicy policy{.access = Access::kPublic};
  EXPECT_TRUE(AdmitByPolicy(policy, auth::Caller::Anonymous()).ok());
}

TEST(AccessRules, AuthenticatedMethodsRefuseAnonymousCallers) {
  const MethodPolicy policy{.access = Access::kAuthenticated};
  const absl::Status status = AdmitByPolicy(policy, auth::Caller::Anonymous());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(status.message(), "sign in")) << status;
  EXPECT_TRUE(AdmitByPolicy(policy, ReaderCaller()).ok());
}

TEST(AccessRules, AResourceMethodWhoseHandlerNeverAskedIsWithheld) {
  const MethodPolicy policy{.access = Access::kResource, .action = auth::Action::kRead};
  const auth::Caller caller = AdminCaller();
  ASSERT_TRUE(AdmitByPolicy(policy, caller).ok());  // deferred to the handler
  EXPECT_EQ(CheckHandlerAuthorized(policy, caller, "/x/Get", absl::OkStatus()).code(),
            absl::StatusCode::kInternal);
  // Errors pass through as they are.
  EXPECT_EQ(CheckHandlerAuthorized(policy, caller, "/x/Get", absl::NotFoundError("no")).code(),
            absl::StatusCode::kNotFound);
  // Once the handler has asked, its result goes out.
  auth::ResourceRef open_published;
  open_published.classification = smartcity::common::v1::CLASSIFICATION_OPEN;
  open_published.published = true;
  EXPECT_TRUE(caller.Authorize(auth::Action::kRead, open_published).ok());
  EXPECT_TRUE(CheckHandlerAuthorized(policy, caller, "/x/Get", absl::OkStatus()).ok());
}

TEST(AccessRules, AFilteredListingMustSayItFiltered) {
  const MethodPolicy policy{.access = Access::kFiltered, .action = auth::Action::kRead};
  const auth::Caller caller = ReaderCaller();
  EXPECT_EQ(CheckHandlerAuthorized(policy, caller, "/x/List", absl::OkStatus()).code(),
            absl::StatusCode::kInternal);
  caller.MarkChecked();
  EXPECT_TRUE(CheckHandlerAuthorized(policy, caller, "/x/List", absl::OkStatus()).ok());
}

TEST(FileKeySource, ReadsAJwksFileAndNamesAMissingOne) {
  auto key = auth::SigningKey::GenerateES256("k1");
  ASSERT_TRUE(key.ok());
  const std::string path = ::testing::TempDir() + "/runtime-jwks.json";
  std::ofstream(path) << auth::ToJwks({*key->PublicKey()})->dump();
  FileKeySource source(path);
  auto keys = source.FetchKeys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].kid, "k1");
  FileKeySource missing("/nonexistent/jwks.json");
  EXPECT_TRUE(absl::StrContains(missing.FetchKeys().status().message(), "/nonexistent/jwks.json"));
}

TEST(PlatformKeySource, RefusesAnUnknownScheme) {
  AuthenticationOptions options;
  options.jwks = "https://auth.example/jwks.json";
  const absl::Status status = NewPlatformKeySource(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "--auth_jwks")) << status;
}

}  // namespace
}  // namespace smartby
