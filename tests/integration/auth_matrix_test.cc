// The access matrix (issue 3, "Tests"): every RPC of every service (catalogue, auth, audit,
// ingestion, feed), called with each kind of token a caller can send, answers with the right
// status code. The feed's streams are also checked for what they carry: a caller who may not read
// the Beskyttet dataset gets a stream (the feed filters, it does not refuse) in which none of its
// readings appear, neither in the snapshot nor live.
//
// RPCs are enumerated from the service descriptors, so a new RPC is covered automatically: it
// fails this test until it has a fixture here saying what kind of access it is meant to have and
// how to make a valid request for it. The expected codes come from that kind (written down here,
// independently of the services' own policy tables), not from the code under test.
//
// The platform runs for real: the auth service signs with a key the test also holds (so the test
// can mint expired, wrong-audience, ... tokens the services would otherwise trust), and the
// catalogue fetches the public keys from the auth service over gRPC.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>

#include <google/protobuf/descriptor.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/auth/totp.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/feed/v1/feed.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace smartby {
namespace {

namespace adt = ::smartcity::audit::v1;
namespace av1 = ::smartcity::auth::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace fv1 = ::smartcity::feed::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using ::smartcity::common::v1::CLASSIFICATION_PROTECTED;
using ::smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;
using ::smartcity::common::v1::CLASSIFICATION_INTERNAL;
using ::smartcity::common::v1::CLASSIFICATION_OPEN;
using testing::BinaryPath;
using testing::ServiceProcess;
using testing::TempDir;
using testing::TestTokenIssuer;
using testing::TokenSpec;

constexpr char kAdminPassword[] = "matrise-passord-for-tilgangstesten-2026";
constexpr char kOrg[] = "Matrix kommune";
constexpr char kProtected[] = "matrix-protected";  // a published Beskyttet dataset
constexpr char kSensor[] = "matrix-sensor";        // a source of it, with a reading
constexpr char kOpen[] = "matrix-open";            // a published Åpen dataset (the feed's marker)
constexpr char kOpenSensor[] = "matrix-open-sensor";
constexpr char kKpi[] = "matrix-kpi";              // a KPI over the Beskyttet dataset

// What a caller sends.
enum class Condition {
  kNoToken,
  kExpired,
  kUnknownKey,
  kAlgNone,
  kWrongAudience,
  kLowClearance,  // platform-admin with a second factor, but clearance Åpen
  kNoSecondFactor,  // platform-admin, clearance Strengt beskyttet, no second factor
  kLacksRole,     // reader with a second factor and clearance Strengt beskyttet
  kOtherOwner,    // dataset-owner of another organisation, cleared, second factor
  kWriter,        // a person with ingest-writer for the Beskyttet dataset, cleared, second factor
  kRight,         // platform-admin, clearance Strengt beskyttet, second factor
};

const Condition kConditions[] = {
    Condition::kNoToken,      Condition::kExpired,        Condition::kUnknownKey,
    Condition::kAlgNone,      Condition::kWrongAudience,  Condition::kLowClearance,
    Condition::kNoSecondFactor, Condition::kLacksRole,    Condition::kOtherOwner,
    Condition::kWriter,         Condition::kRight};

const char* Name(Condition c) {
  switch (c) {
    case Condition::kNoToken: return "no token";
    case Condition::kExpired: return "expired token";
    case Condition::kUnknownKey: return "token signed by an unknown key";
    case Condition::kAlgNone: return "alg none";
    case Condition::kWrongAudience: return "wrong audience";
    case Condition::kLowClearance: return "clearance too low";
    case Condition::kNoSecondFactor: return "no second factor";
    case Condition::kLacksRole: return "reader (lacks the role)";
    case Condition::kOtherOwner: return "dataset-owner of another organisation";
    case Condition::kWriter: return "ingest-writer of the dataset (a person)";
    case Condition::kRight: return "right token";
  }
  return "?";
}

// What kind of access an RPC is meant to have.
enum class Kind {
  kPublic,          // anyone; a token that is sent must still be valid
  kAuthenticated,   // any signed-in principal
  kAdmin,           // platform-admin (users, service accounts, keys)
  kReadProtected,   // reads a published Beskyttet dataset: reader and up, clearance, 2FA
  kWriteProtected,  // changes (or reads drafts/history of) a Beskyttet dataset
  kList,            // a listing, filtered to what the caller may see
};

grpc::StatusCode Expected(Kind kind, Condition c) {
  using grpc::StatusCode;
  switch (c) {
    case Condition::kExpired:
    case Condition::kUnknownKey:
    case Condition::kAlgNone:
    case Condition::kWrongAudience:
      return StatusCode::UNAUTHENTICATED;
    case Condition::kNoToken:
      return kind == Kind::kPublic || kind == Kind::kList ? StatusCode::OK
                                                           : StatusCode::UNAUTHENTICATED;
    case Condition::kLowClearance:
      return kind == Kind::kReadProtected || kind == Kind::kWriteProtected
                 ? StatusCode::PERMISSION_DENIED
                 : StatusCode::OK;
    case Condition::kNoSecondFactor:
      return kind == Kind::kReadProtected || kind == Kind::kWriteProtected
                 ? StatusCode::UNAUTHENTICATED
                 : StatusCode::OK;
    case Condition::kLacksRole:
      return kind == Kind::kAdmin || kind == Kind::kWriteProtected ? StatusCode::PERMISSION_DENIED
                                                                   : StatusCode::OK;
    // Signed in, cleared, second factor, but no role that reads or changes this dataset (writing
    // readings is the one thing a writer may do: the fixtures of those RPCs say so).
    case Condition::kOtherOwner:
    case Condition::kWriter:
      return kind == Kind::kPublic || kind == Kind::kAuthenticated || kind == Kind::kList
                 ? StatusCode::OK
                 : StatusCode::PERMISSION_DENIED;
    case Condition::kRight:
      return StatusCode::OK;
  }
  return StatusCode::UNKNOWN;
}

// Whether a listing answered under this condition may include the Beskyttet dataset.
bool SeesProtected(Condition c) { return c == Condition::kLacksRole || c == Condition::kRight; }

struct Fixture {
  Kind kind;
  // A fresh, valid request (setting up whatever it needs with the admin stubs).
  std::function<std::unique_ptr<google::protobuf::Message>()> request;
  // What a call that passed authentication and authorisation answers (OK unless the fixture
  // says otherwise, e.g. an operation the test's setup rules out).
  grpc::StatusCode admitted = grpc::StatusCode::OK;
  // For server-streaming methods: opens the stream with `token` ("" for none) and returns OK
  // once the first message arrived (then cancels; `reply` gets it), or the status the stream
  // ended with.
  std::function<grpc::Status(const std::string& token, std::string* reply)> stream = nullptr;
  // Conditions for which this RPC answers other than its Kind says (e.g. a writer may write).
  std::map<Condition, grpc::StatusCode> exceptions = {};
};

class AuthMatrixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    // The platform's signing key, held by the test too.
    std::string pem;
    {
      TestTokenIssuer generated(dir_->path());
      pem = generated.PrivateKeyPem();
    }
    std::ofstream(dir_->path() + "/signing-key.pem") << pem;
    std::ofstream(dir_->path() + "/admin-password") << kAdminPassword << "\n";
    // An external identity provider (ADFS-like, ES256) for ExchangeToken.
    auto idp_key = auth::SigningKey::GenerateES256("idp-key-1");
    ASSERT_TRUE(idp_key.ok());
    idp_key_ = new auth::SigningKey(*std::move(idp_key));
    std::ofstream(dir_->path() + "/idp-jwks.json") << auth::ToJwks({*idp_key_->PublicKey()})->dump();
    std::ofstream(dir_->path() + "/federation.yaml")
        << "providers:\n"
           "  - name: adfs-matrix\n"
           "    kind: sub\n"
           "    issuer: https://adfs.matrix.kommune.no/adfs\n"
           "    audiences: [smartby-matrix]\n"
           "    algorithms: [ES256]\n"
           "    jwks_file: " << dir_->path() << "/idp-jwks.json\n"
           "    default_roles: [reader]\n"
           "    default_clearance: internal\n";
    auto auth = ServiceProcess::Start(
        BinaryPath("smartby-auth"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--data_dir=" + dir_->path(),
         "--signing_key_file=" + dir_->path() + "/signing-key.pem", "--bootstrap_admin=admin",
         "--bootstrap_admin_password_file=" + dir_->path() + "/admin-password",
         "--federation_config=" + dir_->path() + "/federation.yaml", "--audit_service="});
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = auth->release();
    auth_stub_ = av1::AuthService::NewStub(
        grpc::CreateChannel(auth_->grpc_address(), grpc::InsecureChannelCredentials()))
                     .release();

    // The kid the auth service publishes for that key.
    grpc::ClientContext ctx;
    av1::GetJwksResponse jwks;
    ASSERT_TRUE(auth_stub_->GetJwks(&ctx, {}, &jwks).ok());
    const auto keys = nlohmann::json::parse(jwks.jwks_json())["keys"];
    ASSERT_EQ(keys.size(), 1u) << jwks.jwks_json();
    auto key = auth::SigningKey::FromPem(keys[0]["kid"].get<std::string>(), pem);
    ASSERT_TRUE(key.ok()) << key.status();
    issuer_ = new TestTokenIssuer(dir_->path(), *std::move(key));

    auto catalogue = ServiceProcess::Start(
        BinaryPath("smartby-catalogue"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
         absl::StrCat("--database=sqlite://", dir_->path(), "/catalogue.db"),
         absl::StrCat("--auth_service=grpc://", auth_->grpc_address()), "--audit_service="});
    ASSERT_TRUE(catalogue.ok()) << catalogue.status();
    catalogue_ = catalogue->release();
    catalogue_stub_ = cv1::CatalogueService::NewStub(
        grpc::CreateChannel(catalogue_->grpc_address(), grpc::InsecureChannelCredentials()))
                          .release();

    auto audit = ServiceProcess::Start(
        BinaryPath("smartby-audit"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
         absl::StrCat("--database=sqlite://", dir_->path(), "/audit.db"),
         absl::StrCat("--auth_service=grpc://", auth_->grpc_address()), "--audit_service=",
         "--checkpoint_interval=100ms"});
    ASSERT_TRUE(audit.ok()) << audit.status();
    audit_ = audit->release();
    audit_stub_ = adt::AuditService::NewStub(
        grpc::CreateChannel(audit_->grpc_address(), grpc::InsecureChannelCredentials()))
                      .release();

    // Ingestion, with its own service account (it reads schemas from the catalogue).
    {
      grpc::ClientContext ctx;
      av1::CreateServiceAccountRequest request;
      request.set_name("matrix-ingestion");
      request.add_roles("audit-writer");
      request.add_roles("platform-service");
      request.set_clearance(CLASSIFICATION_STRICTLY_PROTECTED);
      av1::CreateServiceAccountResponse out;
      const grpc::Status status = auth_stub_->CreateServiceAccount(AsAdmin(&ctx), request, &out);
      ASSERT_TRUE(status.ok()) << status.error_message();
      std::ofstream(dir_->path() + "/ingestion.secret") << out.client_secret() << "\n";
    }
    auto ingestion = ServiceProcess::Start(
        BinaryPath("smartby-ingestion"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
         absl::StrCat("--database=sqlite://", dir_->path(), "/ingestion.db"),
         absl::StrCat("--auth_service=grpc://", auth_->grpc_address()), "--audit_service=",
         "--service_client_id=matrix-ingestion",
         "--service_client_secret_file=" + dir_->path() + "/ingestion.secret",
         absl::StrCat("--catalogue_service=grpc://", catalogue_->grpc_address())});
    ASSERT_TRUE(ingestion.ok()) << ingestion.status();
    ingestion_ = ingestion->release();
    ingestion_stub_ = iv1::IngestionService::NewStub(
        grpc::CreateChannel(ingestion_->grpc_address(), grpc::InsecureChannelCredentials()))
                          .release();

    // The feed, with its own service account: it reads every dataset's readings and metadata.
    {
      grpc::ClientContext ctx;
      av1::CreateServiceAccountRequest request;
      request.set_name("matrix-feed");
      request.add_roles("platform-service");
      request.set_clearance(CLASSIFICATION_STRICTLY_PROTECTED);
      av1::CreateServiceAccountResponse out;
      const grpc::Status status = auth_stub_->CreateServiceAccount(AsAdmin(&ctx), request, &out);
      ASSERT_TRUE(status.ok()) << status.error_message();
      std::ofstream(dir_->path() + "/feed.secret") << out.client_secret() << "\n";
    }
    auto feed = ServiceProcess::Start(
        BinaryPath("smartby-feed"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
         absl::StrCat("--database=sqlite://", dir_->path(), "/feed.db"),
         absl::StrCat("--auth_service=grpc://", auth_->grpc_address()), "--audit_service=",
         "--service_client_id=matrix-feed",
         "--service_client_secret_file=" + dir_->path() + "/feed.secret",
         absl::StrCat("--catalogue_service=grpc://", catalogue_->grpc_address()),
         absl::StrCat("--ingestion_service=grpc://", ingestion_->grpc_address()),
         "--dataset_cache_ttl=1s", "--alarm_tick=100ms", "--kpi_min_interval=50ms"});
    ASSERT_TRUE(feed.ok()) << feed.status();
    feed_ = feed->release();
    feed_stub_ = fv1::FeedService::NewStub(
        grpc::CreateChannel(feed_->grpc_address(), grpc::InsecureChannelCredentials()))
                     .release();
  }

  static void TearDownTestSuite() {
    delete feed_stub_;
    delete feed_;
    delete ingestion_stub_;
    delete ingestion_;
    delete audit_stub_;
    delete audit_;
    delete catalogue_stub_;
    delete auth_stub_;
    delete catalogue_;
    delete auth_;
    delete issuer_;
    delete idp_key_;
    delete dir_;
  }

  static TokenSpec Admin() {
    TokenSpec spec;
    spec.subject = "user:admin";
    spec.roles = {"platform-admin"};
    spec.clearance = "strictly-protected";
    spec.tfa = true;
    return spec;
  }

  // The authorization header value for a condition, or "" for none.
  static std::string TokenFor(Condition c) {
    TokenSpec spec = Admin();
    switch (c) {
      case Condition::kNoToken: return "";
      case Condition::kExpired: spec.lifetime = -absl::Minutes(5); break;
      case Condition::kUnknownKey: return issuer_->TokenSignedByUnknownKey(spec);
      case Condition::kAlgNone: return TestTokenIssuer::UnsignedToken(spec);
      case Condition::kWrongAudience: spec.audience = "another-platform"; break;
      case Condition::kLowClearance: spec.clearance = "open"; break;
      case Condition::kNoSecondFactor: spec.tfa = false; break;
      case Condition::kLacksRole:
        spec.subject = "user:matrix-reader";
        spec.roles = {"reader"};
        break;
      case Condition::kOtherOwner:
        spec.subject = "user:matrix-other-owner";
        spec.roles = {"dataset-owner:Annen kommune"};
        break;
      case Condition::kWriter:
        spec.subject = "user:matrix-writer";
        spec.roles = {absl::StrCat("ingest-writer:", kProtected)};
        break;
      case Condition::kRight: break;
    }
    return issuer_->Token(spec);
  }

  template <typename Context>
  static Context* AsAdmin(Context* ctx) {
    ctx->AddMetadata("authorization", "Bearer " + issuer_->Token(Admin()));
    return ctx;
  }

  // ---- Setup helpers (as platform-admin) ----

  static std::string Unique(const std::string& prefix) {
    static int counter = 0;
    return absl::StrCat(prefix, "-", ++counter);
  }

  static cv1::Dataset ProtectedDataset(const std::string& name) {
    cv1::Dataset d;
    d.set_name(name);
    d.set_title("Trygghetsalarmer " + name);
    d.set_description("Utløste trygghetsalarmer per sone, for matrisetesten.");
    d.mutable_owner()->set_organization(kOrg);
    d.set_license("NLOD-2.0");
    d.set_classification(CLASSIFICATION_PROTECTED);
    d.add_themes(cv1::THEME_HEAL);
    d.add_keywords("matrix");
    auto* f = d.add_fields();
    f->set_name("alarms");
    f->set_type(cv1::FIELD_TYPE_INTEGER);
    f->set_description("Antall alarmer");
    d.mutable_risk_assessment()->set_reference("ROS-2026-17");
    *d.mutable_risk_assessment()->mutable_assessed_time() =
        google::protobuf::Timestamp();
    d.mutable_risk_assessment()->mutable_assessed_time()->set_seconds(1767225600);
    return d;
  }

  static cv1::Dataset CreateDraft(const std::string& name) {
    grpc::ClientContext ctx;
    cv1::CreateDatasetRequest request;
    *request.mutable_dataset() = ProtectedDataset(name);
    cv1::Dataset out;
    const grpc::Status status = catalogue_stub_->CreateDataset(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return out;
  }

  static cv1::Dataset CreatePublished(const std::string& name) {
    CreateDraft(name);
    grpc::ClientContext ctx;
    cv1::PublishDatasetRequest request;
    request.set_name(name);
    cv1::Dataset out;
    const grpc::Status status = catalogue_stub_->PublishDataset(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return out;
  }

  static int64_t CurrentVersion(const std::string& name) {
    grpc::ClientContext ctx;
    cv1::GetDatasetRequest request;
    request.set_name(name);
    cv1::Dataset out;
    EXPECT_TRUE(catalogue_stub_->GetDataset(AsAdmin(&ctx), request, &out).ok());
    return out.version();
  }

  static std::string AddResourceTo(const std::string& dataset) {
    grpc::ClientContext ctx;
    cv1::AddResourceRequest request;
    request.set_dataset_name(dataset);
    request.mutable_resource()->set_title("Alarmer som CSV");
    request.mutable_resource()->set_format("CSV");
    request.mutable_resource()->set_access_url("https://data.matrix.kommune.no/alarmer.csv");
    cv1::Resource out;
    const grpc::Status status = catalogue_stub_->AddResource(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out.id();
  }

  static std::string CreateUser(const std::string& name) {
    grpc::ClientContext ctx;
    av1::CreateUserRequest request;
    request.set_username(name);
    request.set_display_name("Matrise Bruker");
    request.add_roles("reader");
    request.set_clearance(CLASSIFICATION_INTERNAL);
    av1::CreateUserResponse out;
    const grpc::Status status = auth_stub_->CreateUser(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return name;
  }

  static std::string EnrollTotp(const std::string& user) {
    grpc::ClientContext ctx;
    av1::EnrollTotpRequest request;
    request.set_username(user);
    av1::EnrollTotpResponse out;
    const grpc::Status status = auth_stub_->EnrollTotp(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out.secret_base32();
  }

  static std::string TotpCode(const std::string& secret_base32) {
    auto secret = auth::Base32Decode(secret_base32);
    EXPECT_TRUE(secret.ok());
    return *auth::Totp(*secret, absl::Now());
  }

  static av1::TokenResponse LoginAdmin() {
    grpc::ClientContext ctx;
    av1::LoginRequest request;
    request.set_username("admin");
    request.set_password(kAdminPassword);
    av1::TokenResponse out;
    const grpc::Status status = auth_stub_->Login(&ctx, request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  static std::string CreateServiceAccount(const std::string& name, std::string* secret) {
    grpc::ClientContext ctx;
    av1::CreateServiceAccountRequest request;
    request.set_name(name);
    request.add_roles("ingest-writer:" + std::string(kProtected));
    request.set_clearance(CLASSIFICATION_PROTECTED);
    av1::CreateServiceAccountResponse out;
    const grpc::Status status = auth_stub_->CreateServiceAccount(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    if (secret != nullptr) *secret = out.client_secret();
    return name;
  }

  // A new source of the Beskyttet dataset (as platform-admin); returns its id.
  static std::string RegisterSource(const std::string& id) {
    grpc::ClientContext ctx;
    iv1::RegisterSourceRequest request;
    request.mutable_source()->set_id(id);
    request.mutable_source()->set_dataset(kProtected);
    iv1::Source out;
    const grpc::Status status = ingestion_stub_->RegisterSource(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << id << ": " << status.error_message();
    return id;
  }

  // A batch of one reading of kSensor at a time not used before.
  static iv1::WriteReadingsRequest OneReading() {
    static int64_t second = 0;
    iv1::WriteReadingsRequest r;
    iv1::Reading* reading = r.add_readings();
    reading->set_source_id(kSensor);
    reading->mutable_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 100000 + ++second);
    (*reading->mutable_values())["alarms"].set_integer_value(3);
    return r;
  }

  // ---- Feed setup helpers (as platform-admin) ----

  // The Åpen dataset the feed's stream fixtures use as a marker: published, one source.
  static void CreateOpenDataset() {
    cv1::Dataset d = ProtectedDataset(kOpen);
    d.set_title("Bysykkelstativer");
    d.set_description("Ledige sykler per stativ, for matrisetesten.");
    d.set_classification(CLASSIFICATION_OPEN);
    d.clear_risk_assessment();
    grpc::ClientContext create;
    cv1::CreateDatasetRequest request;
    *request.mutable_dataset() = d;
    cv1::Dataset out;
    grpc::Status status = catalogue_stub_->CreateDataset(AsAdmin(&create), request, &out);
    ASSERT_TRUE(status.ok()) << status.error_message();
    grpc::ClientContext publish;
    cv1::PublishDatasetRequest publish_request;
    publish_request.set_name(kOpen);
    status = catalogue_stub_->PublishDataset(AsAdmin(&publish), publish_request, &out);
    ASSERT_TRUE(status.ok()) << status.error_message();
    grpc::ClientContext source;
    iv1::RegisterSourceRequest source_request;
    source_request.mutable_source()->set_id(kOpenSensor);
    source_request.mutable_source()->set_dataset(kOpen);
    iv1::Source registered;
    status = ingestion_stub_->RegisterSource(AsAdmin(&source), source_request, &registered);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Writes one reading of the Beskyttet dataset, then one of the Åpen one (in that commit
  // order); returns the Åpen reading's `alarms` value, which tells the marker apart.
  static int64_t WriteProtectedThenOpen() {
    static int64_t marker = 1000;
    {
      grpc::ClientContext ctx;
      iv1::WriteReadingsResponse written;
      EXPECT_TRUE(ingestion_stub_->WriteReadings(AsAdmin(&ctx), OneReading(), &written).ok());
    }
    iv1::WriteReadingsRequest open;
    iv1::Reading* reading = open.add_readings();
    reading->set_source_id(kOpenSensor);
    reading->mutable_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 100000 + marker);
    (*reading->mutable_values())["alarms"].set_integer_value(++marker);
    grpc::ClientContext ctx;
    iv1::WriteReadingsResponse written;
    const grpc::Status status = ingestion_stub_->WriteReadings(AsAdmin(&ctx), open, &written);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return marker;
  }

  static fv1::Kpi ProtectedKpi(const std::string& name) {
    fv1::Kpi kpi;
    kpi.set_name(name);
    kpi.set_dataset(kProtected);
    kpi.set_expression("sum(alarms)");
    return kpi;
  }

  static std::string CreateKpi(const std::string& name) {
    grpc::ClientContext ctx;
    fv1::CreateKpiRequest request;
    *request.mutable_kpi() = ProtectedKpi(name);
    fv1::Kpi out;
    const grpc::Status status = feed_stub_->CreateKpi(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return name;
  }

  // A rule on the Beskyttet dataset; `upper` 2 fires on every reading (alarms = 3).
  static fv1::AlarmRule ProtectedRule(double upper) {
    fv1::AlarmRule rule;
    rule.set_name(Unique("matrix-rule"));
    rule.set_dataset(kProtected);
    rule.set_field("alarms");
    rule.set_kind(fv1::ALARM_KIND_ABOVE);
    rule.set_upper(upper);
    return rule;
  }

  static std::string CreateRule(double upper) {
    grpc::ClientContext ctx;
    fv1::CreateAlarmRuleRequest request;
    *request.mutable_rule() = ProtectedRule(upper);
    fv1::AlarmRule out;
    const grpc::Status status = feed_stub_->CreateAlarmRule(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out.id();
  }

  // A webhook to a loopback port nobody listens on: TestChannel answers "not delivered".
  static fv1::Channel Webhook() {
    fv1::Channel channel;
    channel.set_name(Unique("matrix-hook"));
    channel.set_kind(fv1::CHANNEL_KIND_WEBHOOK);
    channel.set_target("http://127.0.0.1:9/matrix");
    return channel;
  }

  static std::string CreateChannel() {
    grpc::ClientContext ctx;
    fv1::CreateChannelRequest request;
    *request.mutable_channel() = Webhook();
    fv1::Channel out;
    const grpc::Status status = feed_stub_->CreateChannel(AsAdmin(&ctx), request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out.id();
  }

  // Subscribes to the Beskyttet and the Åpen dataset with `token`; after the opening snapshot,
  // writes a Beskyttet reading and then an Åpen one, and reads until the Åpen one arrives.
  // Every event read goes into `reply` (serialised), so that the matrix can tell whether any
  // Beskyttet reading reached the stream. A refused stream returns its status.
  static grpc::Status SubscribeAndWatchMarker(const std::string& token, std::string* reply) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    fv1::SubscribeRequest request;
    request.mutable_filter()->add_datasets(kProtected);
    request.mutable_filter()->add_datasets(kOpen);
    auto reader = feed_stub_->Subscribe(&ctx, request);
    fv1::SubscribeResponse response;
    bool snapshot_complete = false;
    int64_t marker = -1;
    while (reader->Read(&response)) {
      reply->append(response.SerializeAsString());
      for (const fv1::FeedEvent& event : response.events()) {
        if (event.has_snapshot_complete() && !snapshot_complete) {
          snapshot_complete = true;
          marker = WriteProtectedThenOpen();
        }
        if (event.has_update() && !event.update().snapshot() &&
            event.update().reading().source_id() == kOpenSensor &&
            event.update().reading().values().at("alarms").integer_value() == marker) {
          ctx.TryCancel();
          (void)reader->Finish();
          return grpc::Status::OK;  // admitted: the marker came, after any Beskyttet reading
        }
      }
    }
    return reader->Finish();
  }

  template <typename T>
  static std::unique_ptr<google::protobuf::Message> Msg(T message) {
    return std::make_unique<T>(std::move(message));
  }

  static std::map<std::string, Fixture> Fixtures() {
    std::map<std::string, Fixture> f;
    const std::string cat = "smartcity.catalogue.v1.CatalogueService/";
    const std::string auth = "smartcity.auth.v1.AuthService/";

    // ---- catalogue ----
    f[cat + "CreateDataset"] = {Kind::kWriteProtected, [] {
      cv1::CreateDatasetRequest r;
      *r.mutable_dataset() = ProtectedDataset(Unique("matrix-new"));
      return Msg(r);
    }};
    f[cat + "GetDataset"] = {Kind::kReadProtected, [] {
      cv1::GetDatasetRequest r;
      r.set_name(kProtected);
      return Msg(r);
    }};
    f[cat + "UpdateDataset"] = {Kind::kWriteProtected, [] {
      cv1::UpdateDatasetRequest r;
      r.mutable_dataset()->set_name(kProtected);
      r.mutable_dataset()->set_version(CurrentVersion(kProtected));
      r.mutable_dataset()->set_title(Unique("Trygghetsalarmer, oppdatert"));
      r.mutable_update_mask()->add_paths("title");
      return Msg(r);
    }};
    f[cat + "ListDatasets"] = {Kind::kList, [] {
      cv1::ListDatasetsRequest r;
      r.set_page_size(500);
      return Msg(r);
    }};
    f[cat + "SearchDatasets"] = {Kind::kList, [] {
      cv1::SearchDatasetsRequest r;
      r.set_query("trygghetsalarmer");
      return Msg(r);
    }};
    f[cat + "PublishDataset"] = {Kind::kWriteProtected, [] {
      cv1::PublishDatasetRequest r;
      r.set_name(CreateDraft(Unique("matrix-publish")).name());
      return Msg(r);
    }};
    f[cat + "RetireDataset"] = {Kind::kWriteProtected, [] {
      cv1::RetireDatasetRequest r;
      r.set_name(CreatePublished(Unique("matrix-retire")).name());
      r.set_reason("Erstattet av et nytt datasett");
      return Msg(r);
    }};
    f[cat + "DeleteDataset"] = {Kind::kWriteProtected, [] {
      cv1::DeleteDatasetRequest r;
      r.set_name(CreateDraft(Unique("matrix-delete")).name());
      return Msg(r);
    }};
    // History shows unpublished versions: owner-level access, not reader.
    f[cat + "ListDatasetHistory"] = {Kind::kWriteProtected, [] {
      cv1::ListDatasetHistoryRequest r;
      r.set_name(kProtected);
      return Msg(r);
    }};
    f[cat + "AddResource"] = {Kind::kWriteProtected, [] {
      cv1::AddResourceRequest r;
      r.set_dataset_name(kProtected);
      r.mutable_resource()->set_title("Alarmer som JSON");
      r.mutable_resource()->set_format("JSON");
      r.mutable_resource()->set_access_url("https://data.matrix.kommune.no/alarmer.json");
      return Msg(r);
    }};
    f[cat + "UpdateResource"] = {Kind::kWriteProtected, [] {
      cv1::UpdateResourceRequest r;
      r.set_dataset_name(kProtected);
      r.mutable_resource()->set_id(AddResourceTo(kProtected));
      r.mutable_resource()->set_title("Alarmer som CSV (oppdatert)");
      r.mutable_update_mask()->add_paths("title");
      return Msg(r);
    }};
    f[cat + "RemoveResource"] = {Kind::kWriteProtected, [] {
      cv1::RemoveResourceRequest r;
      r.set_dataset_name(kProtected);
      r.set_resource_id(AddResourceTo(kProtected));
      return Msg(r);
    }};
    f[cat + "ListResources"] = {Kind::kReadProtected, [] {
      cv1::ListResourcesRequest r;
      r.set_dataset_name(kProtected);
      return Msg(r);
    }};
    f[cat + "ExportCatalogue"] = {Kind::kPublic, [] { return Msg(cv1::ExportCatalogueRequest()); }};

    // ---- auth ----
    f[auth + "Login"] = {Kind::kPublic, [] {
      av1::LoginRequest r;
      r.set_username("admin");
      r.set_password(kAdminPassword);
      return Msg(r);
    }};
    f[auth + "Refresh"] = {Kind::kPublic, [] {
      av1::RefreshRequest r;
      r.set_refresh_token(LoginAdmin().refresh_token());
      return Msg(r);
    }};
    f[auth + "Logout"] = {Kind::kPublic, [] {
      av1::LogoutRequest r;
      r.set_refresh_token(LoginAdmin().refresh_token());
      return Msg(r);
    }};
    f[auth + "IssueServiceToken"] = {Kind::kPublic, [] {
      av1::IssueServiceTokenRequest r;
      std::string secret;
      r.set_client_id(CreateServiceAccount(Unique("matrix-sensor"), &secret));
      r.set_client_secret(secret);
      return Msg(r);
    }};
    f[auth + "ExchangeToken"] = {Kind::kPublic, [] {
      av1::ExchangeTokenRequest r;
      r.set_subject_token(ExternalIdToken());
      return Msg(r);
    }};
    f[auth + "GetJwks"] = {Kind::kPublic, [] { return Msg(av1::GetJwksRequest()); }};
    f[auth + "Authorize"] = {Kind::kPublic, [] {
      av1::AuthorizeRequest r;
      r.set_access_token(issuer_->Token(Admin()));
      r.set_action("read");
      r.mutable_resource()->set_classification(CLASSIFICATION_PROTECTED);
      r.mutable_resource()->set_owner_organization(kOrg);
      r.mutable_resource()->set_published(true);
      return Msg(r);
    }};
    f[auth + "WhoAmI"] = {Kind::kAuthenticated, [] { return Msg(av1::WhoAmIRequest()); }};
    f[auth + "ListRoles"] = {Kind::kAuthenticated, [] { return Msg(av1::ListRolesRequest()); }};
    f[auth + "ListIdentityProviders"] = {Kind::kAuthenticated,
                                         [] { return Msg(av1::ListIdentityProvidersRequest()); }};
    f[auth + "CreateUser"] = {Kind::kAdmin, [] {
      av1::CreateUserRequest r;
      r.set_username(Unique("matrix-user"));
      r.add_roles("reader");
      r.set_clearance(CLASSIFICATION_INTERNAL);
      return Msg(r);
    }};
    f[auth + "GetUser"] = {Kind::kAdmin, [] {
      av1::GetUserRequest r;
      r.set_username("admin");
      return Msg(r);
    }};
    f[auth + "ListUsers"] = {Kind::kAdmin, [] { return Msg(av1::ListUsersRequest()); }};
    f[auth + "DisableUser"] = {Kind::kAdmin, [] {
      av1::DisableUserRequest r;
      r.set_username(CreateUser(Unique("matrix-disable")));
      return Msg(r);
    }};
    f[auth + "EnableUser"] = {Kind::kAdmin, [] {
      av1::EnableUserRequest r;
      r.set_username(CreateUser(Unique("matrix-enable")));
      return Msg(r);
    }};
    // On another user's account: platform-admin only.
    f[auth + "SetPassword"] = {Kind::kAdmin, [] {
      av1::SetPasswordRequest r;
      r.set_username(CreateUser(Unique("matrix-password")));
      r.set_new_password("a-long-and-new-passphrase-77");
      return Msg(r);
    }};
    f[auth + "GrantRole"] = {Kind::kAdmin, [] {
      av1::GrantRoleRequest r;
      r.set_username(CreateUser(Unique("matrix-grant")));
      r.set_role(absl::StrCat("dataset-owner:", kOrg));
      return Msg(r);
    }};
    f[auth + "RevokeRole"] = {Kind::kAdmin, [] {
      av1::RevokeRoleRequest r;
      r.set_username(CreateUser(Unique("matrix-revoke")));
      r.set_role("reader");
      return Msg(r);
    }};
    f[auth + "SetClearance"] = {Kind::kAdmin, [] {
      av1::SetClearanceRequest r;
      r.set_username(CreateUser(Unique("matrix-clearance")));
      r.set_clearance(CLASSIFICATION_PROTECTED);
      return Msg(r);
    }};
    f[auth + "EnrollTotp"] = {Kind::kAdmin, [] {
      av1::EnrollTotpRequest r;
      r.set_username(CreateUser(Unique("matrix-enroll")));
      return Msg(r);
    }};
    f[auth + "ConfirmTotp"] = {Kind::kAdmin, [] {
      av1::ConfirmTotpRequest r;
      const std::string user = CreateUser(Unique("matrix-confirm"));
      r.set_username(user);
      r.set_code(TotpCode(EnrollTotp(user)));
      return Msg(r);
    }};
    f[auth + "DisableTotp"] = {Kind::kAdmin, [] {
      av1::DisableTotpRequest r;
      const std::string user = CreateUser(Unique("matrix-untotp"));
      const std::string secret = EnrollTotp(user);
      grpc::ClientContext ctx;
      av1::ConfirmTotpRequest confirm;
      confirm.set_username(user);
      confirm.set_code(TotpCode(secret));
      av1::User out;
      EXPECT_TRUE(auth_stub_->ConfirmTotp(AsAdmin(&ctx), confirm, &out).ok());
      r.set_username(user);
      return Msg(r);
    }};
    f[auth + "CreateServiceAccount"] = {Kind::kAdmin, [] {
      av1::CreateServiceAccountRequest r;
      r.set_name(Unique("matrix-gateway"));
      r.add_roles("ingest-writer:" + std::string(kProtected));
      return Msg(r);
    }};
    f[auth + "ListServiceAccounts"] = {Kind::kAdmin,
                                       [] { return Msg(av1::ListServiceAccountsRequest()); }};
    f[auth + "RotateServiceAccountSecret"] = {Kind::kAdmin, [] {
      av1::RotateServiceAccountSecretRequest r;
      r.set_name(CreateServiceAccount(Unique("matrix-rotate"), nullptr));
      return Msg(r);
    }};
    f[auth + "DeleteServiceAccount"] = {Kind::kAdmin, [] {
      av1::DeleteServiceAccountRequest r;
      r.set_name(CreateServiceAccount(Unique("matrix-delete-sa"), nullptr));
      return Msg(r);
    }};
    // The platform key comes from a file here (--signing_key_file), which rotation cannot
    // change: admitted callers are told so.
    f[auth + "RotateSigningKey"] = {Kind::kAdmin,
                                    [] { return Msg(av1::RotateSigningKeyRequest()); },
                                    grpc::StatusCode::FAILED_PRECONDITION};

    // ---- audit: writing needs audit-writer, reading auditor (platform-admin passes both) ----
    const std::string audit = "smartcity.audit.v1.AuditService/";
    f[audit + "Append"] = {Kind::kAdmin, [] { return Msg(OneEvent()); }};
    f[audit + "QueryEntries"] = {Kind::kAdmin, [] { return Msg(adt::QueryEntriesRequest()); }};
    f[audit + "GetEntries"] = {Kind::kAdmin, [] {
      adt::GetEntriesRequest r;
      r.set_start_index(0);
      r.set_end_index(1);
      return Msg(r);
    }};
    f[audit + "GetCheckpoint"] = {Kind::kAdmin, [] { return Msg(adt::GetCheckpointRequest()); }};
    f[audit + "GetInclusionProof"] = {Kind::kAdmin, [] {
      adt::GetInclusionProofRequest r;
      r.set_index(0);
      return Msg(r);
    }};
    f[audit + "GetConsistencyProof"] = {Kind::kAdmin, [] {
      adt::GetConsistencyProofRequest r;
      r.set_first_size(1);
      return Msg(r);
    }};
    f[audit + "GetVerifierKey"] = {Kind::kAdmin,
                                   [] { return Msg(adt::GetVerifierKeyRequest()); }};
    f[audit + "TailEntries"] = {Kind::kAdmin, [] { return Msg(adt::TailEntriesRequest()); },
                                grpc::StatusCode::OK,
                                [](const std::string& token, std::string* /*reply*/) {
                                  grpc::ClientContext ctx;
                                  if (!token.empty()) {
                                    ctx.AddMetadata("authorization", "Bearer " + token);
                                  }
                                  adt::TailEntriesRequest request;
                                  request.set_from_index(0);
                                  auto reader = audit_stub_->TailEntries(&ctx, request);
                                  adt::LogEntry entry;
                                  if (reader->Read(&entry)) {
                                    ctx.TryCancel();
                                    (void)reader->Finish();
                                    return grpc::Status::OK;  // admitted: the log streamed
                                  }
                                  return reader->Finish();
                                }};

    // ---- ingestion: readings follow their dataset's class (here Beskyttet) ----
    const std::string ing = "smartcity.ingestion.v1.IngestionService/";
    // A person holding ingest-writer for the dataset (with a second factor) may write readings
    // and manage its sources (services/ingestion/README.md, "Access": write-readings).
    const std::map<Condition, grpc::StatusCode> writer_writes = {
        {Condition::kWriter, grpc::StatusCode::OK}};
    f[ing + "RegisterSource"] = {Kind::kWriteProtected, [] {
      iv1::RegisterSourceRequest r;
      r.mutable_source()->set_id(Unique("matrix-source"));
      r.mutable_source()->set_dataset(kProtected);
      return Msg(r);
    }, grpc::StatusCode::OK, nullptr, writer_writes};
    f[ing + "GetSource"] = {Kind::kReadProtected, [] {
      iv1::GetSourceRequest r;
      r.set_id(kSensor);
      return Msg(r);
    }};
    f[ing + "ListSources"] = {Kind::kList, [] { return Msg(iv1::ListSourcesRequest()); }};
    f[ing + "UpdateSource"] = {Kind::kWriteProtected, [] {
      iv1::UpdateSourceRequest r;
      r.mutable_source()->set_id(RegisterSource(Unique("matrix-update")));
      r.mutable_source()->set_name("Omdøpt sensor");
      r.mutable_update_mask()->add_paths("name");
      return Msg(r);
    }, grpc::StatusCode::OK, nullptr, writer_writes};
    f[ing + "DisableSource"] = {Kind::kWriteProtected, [] {
      iv1::DisableSourceRequest r;
      r.set_id(RegisterSource(Unique("matrix-disable")));
      return Msg(r);
    }, grpc::StatusCode::OK, nullptr, writer_writes};
    f[ing + "WriteReadings"] = {Kind::kWriteProtected, [] { return Msg(OneReading()); },
                                grpc::StatusCode::OK, nullptr, writer_writes};
    f[ing + "StreamReadings"] = {
        Kind::kWriteProtected, [] { return Msg(OneReading()); }, grpc::StatusCode::OK,
        [](const std::string& token, std::string* /*reply*/) {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
          if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
          auto stream = ingestion_stub_->StreamReadings(&ctx);
          iv1::WriteReadingsResponse response;
          if (stream->Write(OneReading()) && stream->Read(&response)) {
            stream->WritesDone();
            return stream->Finish();  // admitted: the batch was answered
          }
          stream->WritesDone();
          return stream->Finish();
        },
        writer_writes};
    f[ing + "ImportFile"] = {
        Kind::kWriteProtected, [] { return Msg(iv1::ImportFileRequest()); }, grpc::StatusCode::OK,
        [](const std::string& token, std::string* /*reply*/) {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
          if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
          auto stream = ingestion_stub_->ImportFile(&ctx);
          iv1::ImportFileRequest options;
          options.mutable_options()->set_dataset(kProtected);
          options.mutable_options()->set_format(iv1::FILE_FORMAT_CSV);
          iv1::ImportFileRequest chunk;
          static int row = 0;
          chunk.set_chunk(absl::StrCat(
              "source_id,time,alarms\n", kSensor, ",",
              absl::FormatTime(absl::RFC3339_full, absl::Now() - absl::Hours(50) + absl::Seconds(++row),
                               absl::UTCTimeZone()),
              ",1\n"));
          if (stream->Write(options)) stream->Write(chunk);
          stream->WritesDone();
          iv1::ImportFileResponse response;
          while (stream->Read(&response)) {
          }
          return stream->Finish();
        },
        writer_writes};
    f[ing + "QueryReadings"] = {Kind::kReadProtected, [] {
      iv1::QueryReadingsRequest r;
      r.set_source_id(kSensor);
      return Msg(r);
    }};
    f[ing + "AggregateReadings"] = {Kind::kReadProtected, [] {
      iv1::AggregateReadingsRequest r;
      r.set_dataset(kProtected);
      r.set_field("alarms");
      r.mutable_start_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 200000);
      r.mutable_window()->set_seconds(3600);
      return Msg(r);
    }};
    f[ing + "GetLatestReadings"] = {Kind::kReadProtected, [] {
      iv1::GetLatestReadingsRequest r;
      r.set_dataset(kProtected);
      return Msg(r);
    }};
    f[ing + "GetDataQuality"] = {Kind::kReadProtected, [] {
      iv1::GetDataQualityRequest r;
      r.set_dataset(kProtected);
      return Msg(r);
    }};
    // A filtered stream: a caller who may not read the dataset gets a stream without its
    // readings (the domain test checks which), a bad token is refused.
    f[ing + "WatchReadings"] = {
        Kind::kList, [] { return Msg(iv1::WatchReadingsRequest()); }, grpc::StatusCode::OK,
        [](const std::string& token, std::string* reply) {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(1500));
          if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
          iv1::WatchReadingsRequest request;
          request.add_datasets(kProtected);
          auto reader = ingestion_stub_->WatchReadings(&ctx, request);
          iv1::WatchReadingsResponse response;
          if (reader->Read(&response)) {
            *reply = response.SerializeAsString();
            ctx.TryCancel();
            (void)reader->Finish();
            return grpc::Status::OK;
          }
          const grpc::Status status = reader->Finish();
          // Admitted, with nothing it may see: open until the deadline.
          if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return grpc::Status::OK;
          return status;
        }};
    f[ing + "SetRetention"] = {Kind::kWriteProtected, [] {
      iv1::SetRetentionRequest r;
      r.mutable_policy()->set_dataset(kProtected);
      r.mutable_policy()->mutable_keep()->set_seconds(3650 * 86400);
      return Msg(r);
    }};
    f[ing + "GetRetention"] = {Kind::kReadProtected, [] {
      iv1::GetRetentionRequest r;
      r.set_dataset(kProtected);
      return Msg(r);
    }};

    // ---- feed (services/feed/README.md, "Access"): readings, KPIs and alarms of the Beskyttet
    // dataset follow its class; definitions of rules and channels need platform-admin ----
    const std::string feed = "smartcity.feed.v1.FeedService/";
    // Filtered, not refused: a caller who may not read the dataset gets a stream without its
    // readings (snapshot and live); the kList check below asserts which callers see them.
    f[feed + "Subscribe"] = {Kind::kList, [] { return Msg(fv1::SubscribeRequest()); },
                             grpc::StatusCode::OK, SubscribeAndWatchMarker};
    f[feed + "GetAggregates"] = {Kind::kReadProtected, [] {
      fv1::GetAggregatesRequest r;
      r.set_dataset(kProtected);
      return Msg(r);
    }};
    f[feed + "GetHistory"] = {Kind::kReadProtected, [] {
      fv1::GetHistoryRequest r;
      r.set_dataset(kProtected);
      r.set_field("alarms");
      r.mutable_start_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 200000);
      r.set_max_points(100);
      return Msg(r);
    }};
    // Admin only, and only over a dataset the admin may read: so clearance and second factor
    // apply as to a change of the Beskyttet dataset.
    f[feed + "CreateKpi"] = {Kind::kWriteProtected, [] {
      fv1::CreateKpiRequest r;
      *r.mutable_kpi() = ProtectedKpi(Unique("matrix-kpi-new"));
      return Msg(r);
    }};
    f[feed + "ListKpis"] = {Kind::kList, [] { return Msg(fv1::ListKpisRequest()); }};
    f[feed + "GetKpi"] = {Kind::kReadProtected, [] {
      fv1::GetKpiRequest r;
      r.set_name(kKpi);
      return Msg(r);
    }};
    f[feed + "DeleteKpi"] = {Kind::kAdmin, [] {
      fv1::DeleteKpiRequest r;
      r.set_name(CreateKpi(Unique("matrix-kpi-delete")));
      return Msg(r);
    }};
    f[feed + "WatchKpi"] = {
        Kind::kReadProtected, [] { return Msg(fv1::WatchKpiRequest()); }, grpc::StatusCode::OK,
        [](const std::string& token, std::string* reply) {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
          if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
          fv1::WatchKpiRequest request;
          request.set_name(kKpi);
          auto reader = feed_stub_->WatchKpi(&ctx, request);
          fv1::KpiValue value;
          if (reader->Read(&value)) {
            *reply = value.SerializeAsString();
            ctx.TryCancel();
            (void)reader->Finish();
            return grpc::Status::OK;  // admitted: the KPI's value came
          }
          return reader->Finish();
        }};
    f[feed + "CreateAlarmRule"] = {Kind::kAdmin, [] {
      fv1::CreateAlarmRuleRequest r;
      *r.mutable_rule() = ProtectedRule(1000);
      return Msg(r);
    }};
    f[feed + "ListAlarmRules"] = {Kind::kAdmin, [] { return Msg(fv1::ListAlarmRulesRequest()); }};
    f[feed + "DeleteAlarmRule"] = {Kind::kAdmin, [] {
      fv1::DeleteAlarmRuleRequest r;
      r.set_id(CreateRule(1000));
      return Msg(r);
    }};
    f[feed + "ListAlarms"] = {Kind::kList, [] { return Msg(fv1::ListAlarmsRequest()); }};
    // Reading the alarm's dataset and being signed in is enough (a reader may acknowledge).
    f[feed + "AcknowledgeAlarm"] = {Kind::kReadProtected, [] {
      fv1::AcknowledgeAlarmRequest r;
      r.set_id(*alarm_id_);
      return Msg(r);
    }};
    f[feed + "CreateChannel"] = {Kind::kAdmin, [] {
      fv1::CreateChannelRequest r;
      *r.mutable_channel() = Webhook();
      return Msg(r);
    }};
    f[feed + "ListChannels"] = {Kind::kAdmin, [] { return Msg(fv1::ListChannelsRequest()); }};
    f[feed + "TestChannel"] = {Kind::kAdmin, [] {
      fv1::TestChannelRequest r;
      r.set_id(CreateChannel());
      return Msg(r);
    }};
    return f;
  }

  // One audit event from the test (platform-admin may append for any producer).
  static adt::AppendRequest OneEvent() {
    static int64_t sequence = 0;
    adt::AppendRequest r;
    adt::AuditEvent* e = r.add_events();
    e->set_producer("matrix");
    e->set_producer_sequence(++sequence);
    e->mutable_claimed_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    e->mutable_actor()->set_subject("user:admin");
    e->set_action("matrix-test");
    e->set_details_json("{}");
    return r;
  }

  // An ID token from the test's external identity provider (set up in the federation config).
  static std::string ExternalIdToken();

  // Calls `method` ("/pkg.Service/Method") with `request`; returns the status and the raw reply.
  static grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                           const google::protobuf::Message& request, const std::string& token,
                           std::string* reply) {
    grpc::GenericStub stub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    const std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request_buffer(&slice, 1);
    grpc::ByteBuffer response_buffer;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status status = done.get_future().get();
    reply->clear();
    if (status.ok()) {
      std::vector<grpc::Slice> slices;
      (void)response_buffer.Dump(&slices);
      for (const auto& s : slices) reply->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    return status;
  }

  static TempDir* dir_;
  static ServiceProcess* auth_;
  static ServiceProcess* catalogue_;
  static ServiceProcess* audit_;
  static adt::AuditService::Stub* audit_stub_;
  static ServiceProcess* ingestion_;
  static iv1::IngestionService::Stub* ingestion_stub_;
  static inline ServiceProcess* feed_ = nullptr;
  static inline fv1::FeedService::Stub* feed_stub_ = nullptr;
  static inline std::string* alarm_id_ = nullptr;  // an alarm raised on the Beskyttet dataset
  static av1::AuthService::Stub* auth_stub_;
  static cv1::CatalogueService::Stub* catalogue_stub_;
  static TestTokenIssuer* issuer_;
  static auth::SigningKey* idp_key_;
};

TempDir* AuthMatrixTest::dir_ = nullptr;
ServiceProcess* AuthMatrixTest::auth_ = nullptr;
ServiceProcess* AuthMatrixTest::catalogue_ = nullptr;
ServiceProcess* AuthMatrixTest::audit_ = nullptr;
adt::AuditService::Stub* AuthMatrixTest::audit_stub_ = nullptr;
ServiceProcess* AuthMatrixTest::ingestion_ = nullptr;
iv1::IngestionService::Stub* AuthMatrixTest::ingestion_stub_ = nullptr;
av1::AuthService::Stub* AuthMatrixTest::auth_stub_ = nullptr;
cv1::CatalogueService::Stub* AuthMatrixTest::catalogue_stub_ = nullptr;
TestTokenIssuer* AuthMatrixTest::issuer_ = nullptr;
auth::SigningKey* AuthMatrixTest::idp_key_ = nullptr;

std::string AuthMatrixTest::ExternalIdToken() {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  return *auth::SignJwt(*idp_key_, {{"typ", "JWT"}},
                        {{"iss", "https://adfs.matrix.kommune.no/adfs"},
                         {"aud", "smartby-matrix"},
                         {"sub", Unique("kari.nordmann")},
                         {"iat", now},
                         {"exp", now + 300}});
}

TEST_F(AuthMatrixTest, EveryRpcOfEveryServiceAnswersEachKindOfCallerCorrectly) {
  ASSERT_NE(catalogue_, nullptr);
  ASSERT_NE(audit_, nullptr);
  ASSERT_NE(ingestion_, nullptr);
  CreatePublished(kProtected);
  RegisterSource(kSensor);
  {
    grpc::ClientContext ctx;
    iv1::WriteReadingsResponse written;
    const grpc::Status status = ingestion_stub_->WriteReadings(AsAdmin(&ctx), OneReading(), &written);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(written.accepted(), 1);
  }
  // The feed: a KPI and a raised alarm on the Beskyttet dataset, and the Åpen marker dataset.
  ASSERT_NE(feed_, nullptr);
  CreateOpenDataset();
  CreateKpi(kKpi);
  CreateRule(2);
  WriteProtectedThenOpen();
  {
    fv1::ListAlarmsResponse alarms;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (alarms.alarms().empty() && absl::Now() < deadline) {
      grpc::ClientContext ctx;
      fv1::ListAlarmsRequest request;
      request.set_dataset(kProtected);
      ASSERT_TRUE(feed_stub_->ListAlarms(AsAdmin(&ctx), request, &alarms).ok());
      if (alarms.alarms().empty()) absl::SleepFor(absl::Milliseconds(50));  // polling
    }
    ASSERT_FALSE(alarms.alarms().empty()) << "the feed never raised the rule's alarm";
    alarm_id_ = new std::string(alarms.alarms(0).id());
  }
  // The audit log has an entry and a checkpoint that covers it.
  {
    grpc::ClientContext ctx;
    adt::AppendResponse appended;
    const grpc::Status status = audit_stub_->Append(AsAdmin(&ctx), OneEvent(), &appended);
    ASSERT_TRUE(status.ok()) << status.error_message();
    adt::Checkpoint checkpoint;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (checkpoint.tree_size() < 1 && absl::Now() < deadline) {
      grpc::ClientContext check;
      ASSERT_TRUE(audit_stub_->GetCheckpoint(AsAdmin(&check), {}, &checkpoint).ok());
      if (checkpoint.tree_size() < 1) absl::SleepFor(absl::Milliseconds(50));  // polling
    }
    ASSERT_GE(checkpoint.tree_size(), 1);
  }

  struct Target {
    const google::protobuf::ServiceDescriptor* service;
    std::shared_ptr<grpc::Channel> channel;
  };
  const std::vector<Target> targets = {
      {cv1::Dataset::descriptor()->file()->FindServiceByName("CatalogueService"),
       grpc::CreateChannel(catalogue_->grpc_address(), grpc::InsecureChannelCredentials())},
      {av1::User::descriptor()->file()->FindServiceByName("AuthService"),
       grpc::CreateChannel(auth_->grpc_address(), grpc::InsecureChannelCredentials())},
      {adt::AuditEntry::descriptor()->file()->FindServiceByName("AuditService"),
       grpc::CreateChannel(audit_->grpc_address(), grpc::InsecureChannelCredentials())},
      {iv1::Source::descriptor()->file()->FindServiceByName("IngestionService"),
       grpc::CreateChannel(ingestion_->grpc_address(), grpc::InsecureChannelCredentials())},
      {fv1::Kpi::descriptor()->file()->FindServiceByName("FeedService"),
       grpc::CreateChannel(feed_->grpc_address(), grpc::InsecureChannelCredentials())},
  };
  const std::map<std::string, Fixture> fixtures = Fixtures();
  int checked = 0;
  for (const Target& target : targets) {
    ASSERT_NE(target.service, nullptr);
    for (int i = 0; i < target.service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = target.service->method(i);
      const std::string key = absl::StrCat(target.service->full_name(), "/", method->name());
      auto fixture = fixtures.find(key);
      if (fixture == fixtures.end()) {
        ADD_FAILURE() << key << " has no fixture in the access matrix: say what access it is "
                      << "meant to have (Kind) and how to build a valid request";
        continue;
      }
      for (Condition condition : kConditions) {
        auto request = fixture->second.request();
        std::string reply;
        if (method->server_streaming() && !fixture->second.stream) {
          ADD_FAILURE() << key << " streams: its fixture needs a `stream` call";
          break;
        }
        const grpc::Status status =
            method->server_streaming()
                ? fixture->second.stream(TokenFor(condition), &reply)
                : Call(target.channel, "/" + key, *request, TokenFor(condition), &reply);
        grpc::StatusCode expected = Expected(fixture->second.kind, condition);
        if (auto e = fixture->second.exceptions.find(condition);
            e != fixture->second.exceptions.end()) {
          expected = e->second;
        }
        if (expected == grpc::StatusCode::OK) expected = fixture->second.admitted;
        EXPECT_EQ(status.error_code(), expected)
            << key << " with " << Name(condition) << ": " << status.error_message();
        if (condition == Condition::kNoSecondFactor && expected == grpc::UNAUTHENTICATED) {
          EXPECT_NE(status.error_message().find("second factor"), std::string::npos)
              << key << ": the message should say a second factor is needed: "
              << status.error_message();
        }
        if (fixture->second.kind == Kind::kList && status.ok()) {
          const bool shows = reply.find(kProtected) != std::string::npos;
          EXPECT_EQ(shows, SeesProtected(condition))
              << key << " with " << Name(condition)
              << (shows ? " lists the Beskyttet dataset" : " does not list the Beskyttet dataset");
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 11 * 55);
}

}  // namespace
}  // namespace smartby
