#include "services/runtime/call.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "absl/strings/match.h"
#include "grpc/health/v1/health.pb.h"
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
