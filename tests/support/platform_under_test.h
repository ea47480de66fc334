// Test support: the platform as integration tests need it, as real processes on loopback
// (service_process.h). Auth, with a signing key the test holds too, so that tokens the test
// signs are trusted by every service; then whichever of catalogue, ingestion, feed, archive and
// audit a test starts, each with the flags every service shares worked out once here:
//
//   PlatformUnderTest platform;
//   ASSERT_EQ(platform.StartAuth(), absl::OkStatus());
//   ASSERT_EQ(platform.CreateServiceAccount("ingestion", {"audit-writer", "platform-service"}),
//             absl::OkStatus());
//   ASSERT_EQ(platform.Start("catalogue"), absl::OkStatus());
//   ASSERT_EQ(platform.CreateDataset(SensorDataset("parkering", CLASSIFICATION_OPEN,
//                                                  ParkingFields())), absl::OkStatus());
//   ASSERT_EQ(platform.Start("ingestion", {platform.ServiceFlag("catalogue")}), absl::OkStatus());
//   auto stub = IngestionService::NewStub(platform.Channel("ingestion"));
//   stub->WriteReadings(PlatformUnderTest::Context(platform.AdminToken()).get(), ...);
//
// Everything still running is stopped (SIGTERM, then SIGKILL) when the object goes, the services
// started last first. Not thread-safe: the test's main thread drives it (service_process.h says
// why the thread matters).
#ifndef SMARTBY_TESTS_SUPPORT_PLATFORM_UNDER_TEST_H_
#define SMARTBY_TESTS_SUPPORT_PLATFORM_UNDER_TEST_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"
#include "smartcity/common/v1/common.pb.h"
#include "smartcity/ingestion/v1/ingestion.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace smartby::testing {

class PlatformUnderTest {
 public:
  // Makes a fresh directory and a fresh signing key (its JWKS already written, so a service
  // started before auth, such as an audit service whose address auth must be given, can start).
  PlatformUnderTest();
  ~PlatformUnderTest();
  PlatformUnderTest(const PlatformUnderTest&) = delete;
  PlatformUnderTest& operator=(const PlatformUnderTest&) = delete;

  // Starts smartby-auth with the test's signing key and a bootstrap admin, then learns the key id
  // it publishes, so that tokens from Token() carry it. `extra_flags` go last (a later flag
  // wins). Auth is pointed at the audit service when one was started before.
  absl::Status StartAuth(const std::vector<std::string>& extra_flags = {});

  // Creates the service account `name` in auth (as a platform admin) and writes its secret to
  // <dir>/<name>.secret; Start(name) then passes the client-credential flags.
  absl::Status CreateServiceAccount(
      const std::string& name, const std::vector<std::string>& roles,
      smartcity::common::v1::Classification clearance =
          smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED);

  // Starts smartby-<name> with the flags every service shares:
  //   --listen (a free port; after a Stop, the port it had before, so peers find it again)
  //   --metrics_listen=127.0.0.1:0 --database=sqlite://<dir>/<name>.db --auth_jwks=file:...
  //   --auth_service, --service_client_id, --service_client_secret_file (if it has an account)
  //   --audit_service=grpc://<audit> once an audit service was started, else --audit_service=
  // then `extra_flags` (a later flag wins, so a test may replace any of these).
  absl::Status Start(const std::string& name, const std::vector<std::string>& extra_flags = {});

  // SIGTERM, waits, forgets the process (not its port) and returns its exit code (-signal when a
  // signal ended it, e.g. -9 after a test's own SIGKILL; -1 if it would not stop: then SIGKILL).
  int Stop(const std::string& name, absl::Duration timeout = absl::Seconds(20));

  bool IsRunning(const std::string& name) const { return running_.count(name) > 0; }
  // The running process `name`; aborts the test binary if there is none (a test bug).
  ServiceProcess& service(const std::string& name) const;
  // "127.0.0.1:<grpc port>" of `name`, running or last run.
  std::string Address(const std::string& name) const;
  // "--<name>_service=grpc://<address>", the flag by which services find each other.
  std::string ServiceFlag(const std::string& name) const;
  std::shared_ptr<grpc::Channel> Channel(const std::string& name) const;

  // Tokens signed with auth's own key and key id.
  std::string Token(const std::vector<std::string>& roles, const std::string& clearance,
                    bool two_factor, const std::string& subject = "user:test") const;
  // platform-admin, strictly-protected, second factor; valid for five minutes.
  std::string AdminToken() const { return issuer_->AdminToken(); }
  const TestTokenIssuer& issuer() const { return *issuer_; }

  // A client context with `token` as bearer ("" for none) and a deadline.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token,
                                                      absl::Duration timeout = absl::Seconds(60));

  // Creates `dataset` through the catalogue as a platform admin; publishes it if asked.
  absl::Status CreateDataset(const smartcity::catalogue::v1::Dataset& dataset,
                             bool publish = false);
  absl::Status PublishDataset(const std::string& name);
  // Registers the source `id` ("Sensor <id>") of `dataset` with ingestion, as a platform admin.
  // ALREADY_EXISTS comes back as such, for a test to accept or not.
  absl::Status RegisterSource(const std::string& id, const std::string& dataset);

  const std::string& dir() const { return dir_.path(); }

 private:
  // 0 for a service never started: the kernel picks a free port.
  int PortOf(const std::string& name) const;

  TempDir dir_;
  std::unique_ptr<TestTokenIssuer> issuer_;
  std::string signing_key_pem_;
  std::map<std::string, std::unique_ptr<ServiceProcess>> running_;
  std::vector<std::string> start_order_;  // of what runs, to stop dependants first
  std::map<std::string, int> ports_;      // of every service ever started, by name
  std::set<std::string> has_account_;
};

// A field of a sensor dataset's schema; a range only when min < max.
struct SchemaFieldSpec {
  std::string name;
  smartcity::catalogue::v1::FieldType type;
  double min = 0, max = 0;
  std::string unit = {};
};

// A continuously updated dataset owned by Stavanger kommune under NLOD-2.0, with `fields`.
smartcity::catalogue::v1::Dataset SensorDataset(
    const std::string& name, smartcity::common::v1::Classification classification,
    const std::vector<SchemaFieldSpec>& fields);

// The car park's fields that the ingestion, feed and smartctl tests write: free_spaces (an
// integer, 0 to 2000) and temperature (°C, -40 to 60).
const std::vector<SchemaFieldSpec>& ParkingFields();
// A reading of the car park sensor `source` at `time` with free_spaces alone.
smartcity::ingestion::v1::Reading ParkingReading(const std::string& source, absl::Time time,
                                                 int64_t free_spaces);

// `time` as a protobuf Timestamp, to the microsecond.
google::protobuf::Timestamp ToTimestamp(absl::Time time);

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_PLATFORM_UNDER_TEST_H_
