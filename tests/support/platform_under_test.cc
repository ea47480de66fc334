#include "tests/support/platform_under_test.h"

#include <google/protobuf/util/time_util.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::testing {
namespace {

namespace av1 = ::smartcity::auth::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;

constexpr char kAdminPassword[] = "plattform-test-passord-2026";

// gRPC's status codes and absl's are the same canonical codes, number for number.
absl::Status FromGrpc(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

PlatformUnderTest::PlatformUnderTest()
    : issuer_(std::make_unique<TestTokenIssuer>(dir_.path())),
      signing_key_pem_(issuer_->PrivateKeyPem()) {
  std::ofstream(dir() + "/signing-key.pem") << signing_key_pem_;
  std::ofstream(dir() + "/admin-password") << kAdminPassword << "\n";
  // A test key: TOTP secrets enrolled through this platform are sealed at rest, as in production.
  std::ofstream(dir() + "/secrets.key") << absl::Base64Escape(std::string(32, 's')) << "\n";
}

PlatformUnderTest::~PlatformUnderTest() {
  // Dependants first (a service stopping after what it calls would log errors for nothing).
  while (!start_order_.empty()) Stop(start_order_.back());
}

absl::Status PlatformUnderTest::StartAuth(const std::vector<std::string>& extra_flags) {
  std::vector<std::string> args = {
      absl::StrCat("--listen=127.0.0.1:", PortOf("auth")),
      "--metrics_listen=127.0.0.1:0",
      "--data_dir=" + dir(),
      "--signing_key_file=" + dir() + "/signing-key.pem",
      "--bootstrap_admin=admin",
      "--bootstrap_admin_password_file=" + dir() + "/admin-password",
      "--secrets_key_file=" + dir() + "/secrets.key",
      ports_.count("audit") ? ServiceFlag("audit") : "--audit_service="};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  auto auth = ServiceProcess::Start(BinaryPath("smartby-auth"), args);
  if (!auth.ok()) return auth.status();
  ports_["auth"] = (*auth)->grpc_port();
  running_["auth"] = *std::move(auth);
  start_order_.push_back("auth");

  // Auth names its key itself; tokens must carry that kid for its peers to find the key.
  auto auth_stub = av1::AuthService::NewStub(Channel("auth"));
  av1::GetJwksResponse jwks;
  const grpc::Status status = auth_stub->GetJwks(Context("").get(), {}, &jwks);
  if (!status.ok()) return FromGrpc(status, "auth GetJwks");
  const auto keys = nlohmann::json::parse(jwks.jwks_json(), nullptr, false);
  if (keys.is_discarded() || !keys.contains("keys") || keys["keys"].empty()) {
    return absl::InternalError("auth GetJwks: expected a JWKS with one key, got " +
                               jwks.jwks_json());
  }
  auto key = auth::SigningKey::FromPem(keys["keys"][0].value("kid", ""), signing_key_pem_);
  if (!key.ok()) return key.status();
  // Rewrites jwks.json under auth's kid, which every service started later reads.
  issuer_ = std::make_unique<TestTokenIssuer>(dir(), *std::move(key));
  return absl::OkStatus();
}

absl::Status PlatformUnderTest::CreateServiceAccount(
    const std::string& name, const std::vector<std::string>& roles,
    smartcity::common::v1::Classification clearance) {
  if (!IsRunning("auth")) {
    return absl::FailedPreconditionError("service account " + name +
                                         ": auth is not running (call StartAuth() first)");
  }
  av1::CreateServiceAccountRequest request;
  request.set_name(name);
  for (const auto& role : roles) request.add_roles(role);
  request.set_clearance(clearance);
  av1::CreateServiceAccountResponse response;
  const grpc::Status status = av1::AuthService::NewStub(Channel("auth"))->CreateServiceAccount(
      Context(AdminToken()).get(), request, &response);
  if (!status.ok()) return FromGrpc(status, "service account " + name);
  std::ofstream(dir() + "/" + name + ".secret") << response.client_secret() << "\n";
  has_account_.insert(name);
  return absl::OkStatus();
}

absl::Status PlatformUnderTest::Start(const std::string& name,
                                      const std::vector<std::string>& extra_flags) {
  if (IsRunning(name)) return absl::FailedPreconditionError(name + " is already running");
  std::vector<std::string> args = {
      absl::StrCat("--listen=127.0.0.1:", PortOf(name)), "--metrics_listen=127.0.0.1:0",
      absl::StrCat("--database=sqlite://", dir(), "/", name, ".db"), issuer_->ServiceFlag()};
  if (has_account_.count(name)) {
    args.push_back(ServiceFlag("auth"));
    args.push_back("--service_client_id=" + name);
    args.push_back(absl::StrCat("--service_client_secret_file=", dir(), "/", name, ".secret"));
  }
  // The audit service does not audit itself.
  args.push_back(ports_.count("audit") && name != "audit" ? ServiceFlag("audit")
                                                           : "--audit_service=");
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  auto process = ServiceProcess::Start(BinaryPath("smartby-" + name), args);
  if (!process.ok()) return process.status();
  ports_[name] = (*process)->grpc_port();
  running_[name] = *std::move(process);
  start_order_.push_back(name);
  return absl::OkStatus();
}

int PlatformUnderTest::Stop(const std::string& name, absl::Duration timeout) {
  auto it = running_.find(name);
  if (it == running_.end()) return -1;
  const int exit_code = it->second->Stop(timeout);
  running_.erase(it);  // its destructor SIGKILLs it if it did not stop
  std::erase(start_order_, name);
  return exit_code;
}

ServiceProcess& PlatformUnderTest::service(const std::string& name) const {
  auto it = running_.find(name);
  if (it == running_.end()) {
    std::cerr << "PlatformUnderTest: " << name << " is not running (Start it first)\n";
    std::abort();
  }
  return *it->second;
}

int PlatformUnderTest::PortOf(const std::string& name) const {
  auto it = ports_.find(name);
  return it == ports_.end() ? 0 : it->second;
}

std::string PlatformUnderTest::Address(const std::string& name) const {
  return absl::StrCat("127.0.0.1:", PortOf(name));
}

std::string PlatformUnderTest::ServiceFlag(const std::string& name) const {
  return absl::StrCat("--", name, "_service=grpc://", Address(name));
}

std::shared_ptr<grpc::Channel> PlatformUnderTest::Channel(const std::string& name) const {
  return grpc::CreateChannel(Address(name), grpc::InsecureChannelCredentials());
}

std::string PlatformUnderTest::Token(const std::vector<std::string>& roles,
                                     const std::string& clearance, bool two_factor,
                                     const std::string& subject) const {
  TokenSpec spec;
  spec.subject = subject;
  spec.roles = roles;
  spec.clearance = clearance;
  spec.tfa = two_factor;
  return issuer_->Token(spec);
}

std::unique_ptr<grpc::ClientContext> PlatformUnderTest::Context(const std::string& token,
                                                                absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

absl::Status PlatformUnderTest::CreateDataset(const cv1::Dataset& dataset, bool publish) {
  cv1::CreateDatasetRequest request;
  *request.mutable_dataset() = dataset;
  cv1::Dataset created;
  const grpc::Status status = cv1::CatalogueService::NewStub(Channel("catalogue"))
                                  ->CreateDataset(Context(AdminToken()).get(), request, &created);
  if (!status.ok()) return FromGrpc(status, "create dataset " + dataset.name());
  return publish ? PublishDataset(dataset.name()) : absl::OkStatus();
}

absl::Status PlatformUnderTest::PublishDataset(const std::string& name) {
  cv1::PublishDatasetRequest request;
  request.set_name(name);
  cv1::Dataset published;
  auto catalogue = cv1::CatalogueService::NewStub(Channel("catalogue"));
  const grpc::Status status =
      catalogue->PublishDataset(Context(AdminToken()).get(), request, &published);
  return FromGrpc(status, "publish dataset " + name);
}

absl::Status PlatformUnderTest::RegisterSource(const std::string& id, const std::string& dataset) {
  iv1::RegisterSourceRequest request;
  request.mutable_source()->set_id(id);
  request.mutable_source()->set_dataset(dataset);
  request.mutable_source()->set_name("Sensor " + id);
  iv1::Source source;
  const grpc::Status status = iv1::IngestionService::NewStub(Channel("ingestion"))
                                  ->RegisterSource(Context(AdminToken()).get(), request, &source);
  return FromGrpc(status, "register source " + id);
}

cv1::Dataset SensorDataset(const std::string& name,
                           smartcity::common::v1::Classification classification,
                           const std::vector<SchemaFieldSpec>& fields) {
  cv1::Dataset d;
  d.set_name(name);
  d.set_title(absl::StrCat("Målinger ", name));
  d.set_description("Testdata for integrasjonstester.");
  d.mutable_owner()->set_organization("Stavanger kommune");
  d.set_license("NLOD-2.0");
  d.set_classification(classification);
  d.set_update_frequency(cv1::UPDATE_FREQUENCY_CONTINUOUS);
  for (const SchemaFieldSpec& spec : fields) {
    cv1::SchemaField* field = d.add_fields();
    field->set_name(spec.name);
    field->set_type(spec.type);
    if (!spec.unit.empty()) field->set_unit(spec.unit);
    if (spec.min < spec.max) {
      field->set_min_value(spec.min);
      field->set_max_value(spec.max);
    }
  }
  return d;
}

const std::vector<SchemaFieldSpec>& ParkingFields() {
  static const std::vector<SchemaFieldSpec> fields = {
      {"free_spaces", cv1::FIELD_TYPE_INTEGER, 0, 2000},
      {"temperature", cv1::FIELD_TYPE_DOUBLE, -40, 60, "°C"}};
  return fields;
}

iv1::Reading ParkingReading(const std::string& source, absl::Time time, int64_t free_spaces) {
  iv1::Reading reading;
  reading.set_source_id(source);
  *reading.mutable_time() = ToTimestamp(time);
  (*reading.mutable_values())["free_spaces"].set_integer_value(free_spaces);
  return reading;
}

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(time));
}

}  // namespace smartby::testing
