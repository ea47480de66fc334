// Starts the real smartby-catalogue binary on free loopback ports and calls it over real gRPC,
// with platform tokens from a test issuer whose keys the service reads from a file.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/sync_stream.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_tokens.h"

namespace smartby {
namespace {

namespace v1 = ::smartcity::catalogue::v1;
using ::smartcity::common::v1::CLASSIFICATION_INTERNAL;
using ::smartcity::common::v1::CLASSIFICATION_OPEN;
using ::smartcity::common::v1::CLASSIFICATION_PROTECTED;
using testing::BinaryPath;
using testing::HttpGet;
using testing::ServiceProcess;
using testing::TempDir;
using testing::TestTokenIssuer;
using testing::TokenSpec;

// A token spec with just these claims (the rest as TokenSpec's defaults).
TokenSpec Spec(const std::string& subject, std::vector<std::string> roles,
               const std::string& clearance, bool tfa) {
  TokenSpec spec;
  spec.subject = subject;
  spec.roles = std::move(roles);
  spec.clearance = clearance;
  spec.tfa = tfa;
  return spec;
}

// Sends "authorization: Bearer <token>" with every call on the channel.
class BearerInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(std::string header) : header_(std::move(header)) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", header_});
    }
    methods->Proceed();
  }

 private:
  std::string header_;
};

class BearerInterceptorFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(std::string token) : header_("Bearer " + token) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new BearerInterceptor(header_);
  }

 private:
  std::string header_;
};

// A plaintext channel to `address` on which every call carries `token`.
std::shared_ptr<grpc::Channel> ChannelWithToken(const std::string& address,
                                                const std::string& token) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<BearerInterceptorFactory>(token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address, grpc::InsecureChannelCredentials(), grpc::ChannelArguments(),
      std::move(factories));
}

// The catalogue's arguments: free loopback ports, a SQLite file in `dir`, the issuer's keys.
std::vector<std::string> ServiceArgs(const std::string& dir, const TestTokenIssuer& issuer,
                                     const std::string& db = "catalogue.db") {
  return {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
          absl::StrCat("--database=sqlite://", dir, "/", db), issuer.ServiceFlag()};
}

v1::Dataset BathingTemperatures(const std::string& name) {
  v1::Dataset d;
  d.set_name(name);
  d.set_title("Badetemperaturer i Stavanger");
  d.set_description("Vanntemperatur målt hver time ved badeplassene i Stavanger.");
  d.mutable_owner()->set_organization("Stavanger kommune");
  d.mutable_owner()->set_organization_number("964965226");
  d.mutable_owner()->set_department("Bymiljø og utbygging");
  d.set_license("NLOD-2.0");
  d.set_classification(CLASSIFICATION_OPEN);
  d.add_themes(v1::THEME_ENVI);
  d.add_keywords("badetemperatur");
  d.set_update_frequency(v1::UPDATE_FREQUENCY_HOURLY);
  auto* f = d.add_fields();
  f->set_name("water_temperature");
  f->set_type(v1::FIELD_TYPE_DOUBLE);
  f->set_unit("°C");
  f->set_description("Vanntemperatur en halv meter under overflaten");
  auto* r = d.add_resources();
  r->set_title("Målinger som CSV");
  r->set_format("CSV");
  r->set_access_url("https://data.stavanger.kommune.no/badetemperatur.csv");
  return d;
}

class CatalogueIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    issuer_ = new TestTokenIssuer(dir_->path());
    auto process =
        ServiceProcess::Start(BinaryPath("smartby-catalogue"), ServiceArgs(dir_->path(), *issuer_));
    ASSERT_TRUE(process.ok()) << process.status();
    service_ = process->release();
  }
  static void TearDownTestSuite() {
    delete service_;
    delete issuer_;
    delete dir_;
  }

  // stub_ calls as a platform admin (every call carries the admin token); the authorisation
  // tests below send their own tokens on plain_.
  void SetUp() override {
    ASSERT_NE(service_, nullptr);
    channel_ = ChannelWithToken(service_->grpc_address(), issuer_->AdminToken());
    stub_ = v1::CatalogueService::NewStub(channel_);
    plain_ = v1::CatalogueService::NewStub(
        grpc::CreateChannel(service_->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  // A context carrying `token` ("" for none).
  static std::unique_ptr<grpc::ClientContext> With(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  grpc::Status Create(const v1::Dataset& d, v1::Dataset* out) {
    grpc::ClientContext ctx;
    v1::CreateDatasetRequest request;
    *request.mutable_dataset() = d;
    return stub_->CreateDataset(&ctx, request, out);
  }

  grpc::Status Get(const std::string& name, v1::Dataset* out) {
    grpc::ClientContext ctx;
    v1::GetDatasetRequest request;
    request.set_name(name);
    return stub_->GetDataset(&ctx, request, out);
  }

  static TempDir* dir_;
  static TestTokenIssuer* issuer_;
  static ServiceProcess* service_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CatalogueService::Stub> stub_;
  std::unique_ptr<v1::CatalogueService::Stub> plain_;
};

TempDir* CatalogueIntegrationTest::dir_ = nullptr;
TestTokenIssuer* CatalogueIntegrationTest::issuer_ = nullptr;
ServiceProcess* CatalogueIntegrationTest::service_ = nullptr;

// Value of the first sample of `metric` whose labels include every one of `labels`, or -1.
double MetricValue(const std::string& exposition, const std::string& metric,
                   const std::vector<std::string>& labels) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::StartsWith(line, metric + "{") && !absl::StartsWith(line, metric + " ")) continue;
    bool all = true;
    for (const auto& label : labels) all = all && absl::StrContains(line, label);
    if (!all) continue;
    double value = -1;
    absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value);
    return value;
  }
  return -1;
}

TEST_F(CatalogueIntegrationTest, HealthReportsServingForServerAndCatalogue) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const std::string service : {"", "smartcity.catalogue.v1.CatalogueService"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&ctx, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

TEST_F(CatalogueIntegrationTest, ReflectionListsTheCatalogueService) {
  grpc::ClientContext ctx;
  grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel_.get(), method, &ctx));
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  const std::string request_bytes("\x3a\x00", 2);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::ByteBuffer response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_TRUE(absl::StrContains(bytes, "smartcity.catalogue.v1.CatalogueService"));
  EXPECT_TRUE(absl::StrContains(bytes, "grpc.health.v1.Health"));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(CatalogueIntegrationTest, HandledTotalCountsCallsByMethodAndCode) {
  v1::Dataset created;
  ASSERT_TRUE(Create(BathingTemperatures("metrics-counted"), &created).ok());
  const auto before = HttpGet(service_->metrics_port(), "/metrics");
  ASSERT_EQ(before.status, 200);
  const std::vector<std::string> ok_labels = {
      "grpc_method=\"GetDataset\"", "grpc_service=\"smartcity.catalogue.v1.CatalogueService\"",
      "grpc_type=\"unary\"", "grpc_code=\"OK\""};
  const std::vector<std::string> not_found_labels = {
      "grpc_method=\"GetDataset\"", "grpc_code=\"NotFound\""};
  const double ok_before = std::max(0.0, MetricValue(before.body, "grpc_server_handled_total",
                                                     ok_labels));
  const double nf_before = std::max(
      0.0, MetricValue(before.body, "grpc_server_handled_total", not_found_labels));

  v1::Dataset got;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Get("metrics-counted", &got).ok());
  EXPECT_EQ(Get("no-such-dataset", &got).error_code(), grpc::StatusCode::NOT_FOUND);

  const auto after = HttpGet(service_->metrics_port(), "/metrics");
  EXPECT_EQ(MetricValue(after.body, "grpc_server_handled_total", ok_labels), ok_before + 3);
  EXPECT_EQ(MetricValue(after.body, "grpc_server_handled_total", not_found_labels),
            nf_before + 1);
  EXPECT_GE(MetricValue(after.body, "grpc_server_handling_seconds_count",
                        {"grpc_method=\"GetDataset\""}),
            4);
  EXPECT_GE(MetricValue(after.body, "grpc_server_started_total",
                        {"grpc_method=\"GetDataset\""}),
            4);
  EXPECT_GT(MetricValue(after.body, "process_resident_memory_bytes", {}), 0);
}

TEST_F(CatalogueIntegrationTest, HealthEndpointsOnTheMetricsPort) {
  EXPECT_EQ(HttpGet(service_->metrics_port(), "/healthz").status, 200);
  EXPECT_EQ(HttpGet(service_->metrics_port(), "/readyz").status, 200);
  EXPECT_EQ(HttpGet(service_->metrics_port(), "/nothing-here").status, 404);
}

TEST_F(CatalogueIntegrationTest, RequestIdIsEchoedAndLogged) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-request-id", "req-integration-42");
  v1::GetDatasetRequest request;
  request.set_name("no-such-dataset");
  v1::Dataset response;
  EXPECT_EQ(stub_->GetDataset(&ctx, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  auto echoed = ctx.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(echoed, ctx.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), "req-integration-42");
  const std::string line = service_->WaitForLogLine(
      {"\"request_id\":\"req-integration-42\"", "\"code\":\"NotFound\"",
       "\"method\":\"/smartcity.catalogue.v1.CatalogueService/GetDataset\""});
  EXPECT_FALSE(line.empty());
  EXPECT_TRUE(absl::StrContains(line, "\"duration_ms\":"));
}

TEST_F(CatalogueIntegrationTest, RequestIdIsGeneratedWhenAbsent) {
  grpc::ClientContext ctx;
  v1::ListDatasetsRequest request;
  v1::ListDatasetsResponse response;
  ASSERT_TRUE(stub_->ListDatasets(&ctx, request, &response).ok());
  auto echoed = ctx.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(echoed, ctx.GetServerInitialMetadata().end());
  EXPECT_EQ(echoed->second.size(), 32u);
}

TEST_F(CatalogueIntegrationTest, InvalidInputIsRefusedNamingTheField) {
  v1::Dataset out;
  v1::Dataset bad = BathingTemperatures("Not A Slug");
  grpc::Status status = Create(bad, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "dataset.name")) << status.error_message();

  bad = BathingTemperatures("missing-title");
  bad.clear_title();
  status = Create(bad, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "dataset.title"));

  bad = BathingTemperatures("bad-bbox");
  bad.mutable_spatial()->mutable_bbox()->set_min_latitude(91);
  status = Create(bad, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "min_latitude"));

  bad = BathingTemperatures("unknown-enum");
  bad.set_classification(static_cast<smartcity::common::v1::Classification>(42));
  status = Create(bad, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "classification"));

  bad = BathingTemperatures("repeated-fields");
  *bad.add_fields() = bad.fields(0);
  status = Create(bad, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "fields[1].name"));

  bad = BathingTemperatures("too-long");
  bad.set_description(std::string(100000, 'x'));
  status = Create(bad, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "dataset.description"));

  // Nothing of the refused datasets was stored.
  for (const std::string name : {"missing-title", "bad-bbox", "unknown-enum", "repeated-fields",
                                 "too-long"}) {
    EXPECT_EQ(Get(name, &out).error_code(), grpc::StatusCode::NOT_FOUND) << name;
  }
}

TEST_F(CatalogueIntegrationTest, DuplicateNameIsAlreadyExists) {
  v1::Dataset out;
  ASSERT_TRUE(Create(BathingTemperatures("twice"), &out).ok());
  EXPECT_EQ(Create(BathingTemperatures("twice"), &out).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(CatalogueIntegrationTest, StaleUpdateIsAbortedAndChangesNothing) {
  v1::Dataset v1_read;
  ASSERT_TRUE(Create(BathingTemperatures("concurrent-edit"), &v1_read).ok());
  EXPECT_EQ(v1_read.version(), 1);

  v1::UpdateDatasetRequest first;
  *first.mutable_dataset() = v1_read;
  first.mutable_dataset()->set_title("Badetemperaturer (oppdatert)");
  first.mutable_update_mask()->add_paths("title");
  v1::Dataset v2;
  grpc::ClientContext ctx1;
  ASSERT_TRUE(stub_->UpdateDataset(&ctx1, first, &v2).ok());
  EXPECT_EQ(v2.version(), 2);

  v1::UpdateDatasetRequest stale = first;
  stale.mutable_dataset()->set_title("Noen andres endring");
  grpc::ClientContext ctx2;
  v1::Dataset ignored;
  const grpc::Status status = stub_->UpdateDataset(&ctx2, stale, &ignored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);

  v1::Dataset now;
  ASSERT_TRUE(Get("concurrent-edit", &now).ok());
  EXPECT_EQ(now.title(), "Badetemperaturer (oppdatert)");
  EXPECT_EQ(now.version(), 2);
}

TEST_F(CatalogueIntegrationTest, PublishNeedsRiskAssessmentWhenNotOpen) {
  v1::Dataset d = BathingTemperatures("energy-internal");
  d.set_classification(CLASSIFICATION_INTERNAL);
  v1::Dataset created;
  ASSERT_TRUE(Create(d, &created).ok());

  grpc::ClientContext ctx;
  v1::PublishDatasetRequest publish;
  publish.set_name("energy-internal");
  v1::Dataset out;
  grpc::Status status = stub_->PublishDataset(&ctx, publish, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "risk assessment"));

  v1::UpdateDatasetRequest update;
  *update.mutable_dataset() = created;
  update.mutable_dataset()->mutable_risk_assessment()->set_reference("ROS-2026-007");
  update.mutable_update_mask()->add_paths("risk_assessment");
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->UpdateDataset(&ctx2, update, &out).ok());

  grpc::ClientContext ctx3;
  ASSERT_TRUE(stub_->PublishDataset(&ctx3, publish, &out).ok());
  EXPECT_EQ(out.state(), v1::DATASET_STATE_PUBLISHED);
  EXPECT_EQ(out.version(), 3);
}

TEST_F(CatalogueIntegrationTest, OnlyDraftsCanBeDeleted) {
  v1::Dataset out;
  ASSERT_TRUE(Create(BathingTemperatures("delete-me"), &out).ok());
  ASSERT_TRUE(Create(BathingTemperatures("keep-me"), &out).ok());
  grpc::ClientContext publish_ctx;
  v1::PublishDatasetRequest publish;
  publish.set_name("keep-me");
  ASSERT_TRUE(stub_->PublishDataset(&publish_ctx, publish, &out).ok());

  v1::DeleteDatasetRequest del;
  v1::DeleteDatasetResponse deleted;
  del.set_name("keep-me");
  grpc::ClientContext ctx1;
  EXPECT_EQ(stub_->DeleteDataset(&ctx1, del, &deleted).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  del.set_name("delete-me");
  grpc::ClientContext ctx2;
  EXPECT_TRUE(stub_->DeleteDataset(&ctx2, del, &deleted).ok());
  EXPECT_EQ(Get("delete-me", &out).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CatalogueIntegrationTest, HistoryRecordsEveryVersionWithChangedFields) {
  v1::Dataset created;
  ASSERT_TRUE(Create(BathingTemperatures("with-history"), &created).ok());
  v1::UpdateDatasetRequest update;
  *update.mutable_dataset() = created;
  update.mutable_dataset()->set_description("Ny beskrivelse");
  update.mutable_update_mask()->add_paths("description");
  v1::Dataset out;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->UpdateDataset(&ctx, update, &out).ok());

  v1::ListDatasetHistoryRequest request;
  request.set_name("with-history");
  v1::ListDatasetHistoryResponse history;
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->ListDatasetHistory(&ctx2, request, &history).ok());
  ASSERT_EQ(history.changes_size(), 2);
  EXPECT_EQ(history.changes(0).version(), 2);
  EXPECT_EQ(history.changes(0).action(), "updated");
  ASSERT_EQ(history.changes(0).changed_fields_size(), 1);
  EXPECT_EQ(history.changes(0).changed_fields(0), "description");
  EXPECT_EQ(history.changes(0).dataset().description(), "Ny beskrivelse");
  EXPECT_EQ(history.changes(1).action(), "created");
}

TEST_F(CatalogueIntegrationTest, SearchRanksAndCountsFacets) {
  v1::Dataset out;
  v1::Dataset parking = BathingTemperatures("parking-garages-search");
  parking.set_title("Ledige plasser i parkeringshus");
  parking.set_description("Antall ledige plasser, oppdatert hvert minutt.");
  parking.clear_themes();
  parking.add_themes(v1::THEME_TRAN);
  ASSERT_TRUE(Create(parking, &out).ok());
  v1::Dataset mention = BathingTemperatures("bikes-mention-parkeringshus");
  mention.set_title("Bysykler");
  mention.set_description("Sykler ved parkeringshus og stasjoner.");
  ASSERT_TRUE(Create(mention, &out).ok());

  grpc::ClientContext ctx;
  v1::SearchDatasetsRequest request;
  request.set_query("parkeringshus");
  v1::SearchDatasetsResponse response;
  ASSERT_TRUE(stub_->SearchDatasets(&ctx, request, &response).ok());
  ASSERT_EQ(response.hits_size(), 2);
  EXPECT_EQ(response.hits(0).dataset().name(), "parking-garages-search");  // title beats body
  EXPECT_EQ(response.total_size(), 2);
  int tran = 0;
  for (const auto& facet : response.theme_facets()) {
    if (facet.value() == "TRAN") tran = facet.count();
  }
  EXPECT_EQ(tran, 1);
}

TEST_F(CatalogueIntegrationTest, ExportHoldsOnlyPublishedOpenDatasets) {
  v1::Dataset out;
  ASSERT_TRUE(Create(BathingTemperatures("export-open-published"), &out).ok());
  ASSERT_TRUE(Create(BathingTemperatures("export-open-draft"), &out).ok());
  grpc::ClientContext publish_ctx;
  v1::PublishDatasetRequest publish;
  publish.set_name("export-open-published");
  ASSERT_TRUE(stub_->PublishDataset(&publish_ctx, publish, &out).ok());

  grpc::ClientContext ctx;
  v1::ExportCatalogueRequest request;
  v1::ExportCatalogueResponse response;
  ASSERT_TRUE(stub_->ExportCatalogue(&ctx, request, &response).ok());
  EXPECT_TRUE(absl::StrContains(response.content(), "datasets/export-open-published>"));
  EXPECT_FALSE(absl::StrContains(response.content(), "datasets/export-open-draft>"));
}

TEST(CatalogueProcess, DataSurvivesRestartAndShutdownIsGraceful) {
  TempDir dir;
  TestTokenIssuer issuer(dir.path());
  const std::vector<std::string> args = ServiceArgs(dir.path(), issuer, "c.db");
  {
    auto process = ServiceProcess::Start(BinaryPath("smartby-catalogue"), args);
    ASSERT_TRUE(process.ok()) << process.status();
    auto stub = v1::CatalogueService::NewStub(
        ChannelWithToken((*process)->grpc_address(), issuer.AdminToken()));
    grpc::ClientContext ctx;
    v1::CreateDatasetRequest request;
    *request.mutable_dataset() = BathingTemperatures("survives-restart");
    v1::Dataset out;
    ASSERT_TRUE(stub->CreateDataset(&ctx, request, &out).ok());
    EXPECT_EQ((*process)->Stop(), 0);
    EXPECT_FALSE((*process)->WaitForLogLine({"\"msg\":\"stopped\""}).empty());
  }
  auto process = ServiceProcess::Start(BinaryPath("smartby-catalogue"), args);
  ASSERT_TRUE(process.ok()) << process.status();
  auto stub = v1::CatalogueService::NewStub(
      ChannelWithToken((*process)->grpc_address(), issuer.AdminToken()));
  grpc::ClientContext ctx;
  v1::GetDatasetRequest request;
  request.set_name("survives-restart");
  v1::Dataset out;
  EXPECT_TRUE(stub->GetDataset(&ctx, request, &out).ok());
  EXPECT_EQ(out.title(), "Badetemperaturer i Stavanger");
}

TEST(CatalogueProcess, RefusesPlaintextListenerBeyondLoopback) {
  TempDir dir;
  const auto result = testing::RunCommand(
      {BinaryPath("smartby-catalogue"), "--listen=0.0.0.0:0", "--metrics_listen=127.0.0.1:0",
       absl::StrCat("--database=sqlite://", dir.path(), "/c.db")},
      {}, "", absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(result.err, "--listen")) << result.err;
  EXPECT_TRUE(absl::StrContains(result.err, "TLS")) << result.err;
}

TEST(CatalogueProcess, PortInUseIsAnError) {
  TempDir dir;
  auto first = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
       absl::StrCat("--database=sqlite://", dir.path(), "/a.db")});
  ASSERT_TRUE(first.ok()) << first.status();
  const auto result = testing::RunCommand(
      {BinaryPath("smartby-catalogue"), absl::StrCat("--listen=", (*first)->grpc_address()),
       "--metrics_listen=127.0.0.1:0", absl::StrCat("--database=sqlite://", dir.path(), "/b.db")},
      {}, "", absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(result.err, "cannot listen")) << result.err;
}

TEST(CatalogueProcess, EnvironmentTwinsConfigureTheService) {
  TempDir dir;
  auto process = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"), {},
      {{"SMARTBY_LISTEN", "127.0.0.1:0"},
       {"SMARTBY_METRICS_LISTEN", "127.0.0.1:0"},
       {"SMARTBY_DATABASE", absl::StrCat("sqlite://", dir.path(), "/env.db")}});
  ASSERT_TRUE(process.ok()) << process.status();
  EXPECT_GT((*process)->grpc_port(), 0);
  EXPECT_TRUE(std::ifstream(dir.path() + "/env.db").good());
}

// --- TLS -----------------------------------------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool HealthCheckOk(const std::shared_ptr<grpc::Channel>& channel) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  return health->Check(&ctx, request, &response).ok();
}

TEST(CatalogueTls, ServesTls12AndUpOnly) {
  TempDir dir;
  const absl::StatusOr<testing::TestCertificates> pki = testing::MakeTestCertificates(dir.path());
  ASSERT_TRUE(pki.ok()) << pki.status();
  auto process = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
       absl::StrCat("--database=sqlite://", dir.path(), "/c.db"),
       "--tls_cert=" + pki->cert_file, "--tls_key=" + pki->key_file});
  ASSERT_TRUE(process.ok()) << process.status();

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(pki->ca_file);
  EXPECT_TRUE(HealthCheckOk(grpc::CreateChannel((*process)->grpc_address(),
                                                grpc::SslCredentials(ssl))));
  EXPECT_FALSE(HealthCheckOk(grpc::CreateChannel((*process)->grpc_address(),
                                                 grpc::InsecureChannelCredentials())));

  const std::string connect = absl::StrCat("127.0.0.1:", (*process)->grpc_port());
  const auto tls11 = testing::RunCommand(
      {"/usr/bin/openssl", "s_client", "-connect", connect, "-tls1_1", "-alpn", "h2"}, {}, "Q\n");
  EXPECT_NE(tls11.exit_code, 0) << "TLS 1.1 handshake must fail";
  const auto tls12 = testing::RunCommand(
      {"/usr/bin/openssl", "s_client", "-connect", connect, "-tls1_2", "-alpn", "h2"}, {}, "Q\n");
  EXPECT_EQ(tls12.exit_code, 0) << tls12.err;
  EXPECT_TRUE(absl::StrContains(tls12.out, "TLSv1.2")) << tls12.out;
}

// Kubernetes gRPC probes cannot speak TLS; --health_listen gives them a plaintext port that
// answers health and nothing else.
TEST(CatalogueTls, PlaintextHealthPortServesOnlyHealth) {
  TempDir dir;
  const absl::StatusOr<testing::TestCertificates> pki = testing::MakeTestCertificates(dir.path());
  ASSERT_TRUE(pki.ok()) << pki.status();
  auto process = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--health_listen=127.0.0.1:0",
       absl::StrCat("--database=sqlite://", dir.path(), "/c.db"),
       "--tls_cert=" + pki->cert_file, "--tls_key=" + pki->key_file});
  ASSERT_TRUE(process.ok()) << process.status();
  ASSERT_GT((*process)->health_port(), 0);
  auto plaintext = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*process)->health_port()),
                                       grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(plaintext);
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("smartcity.catalogue.v1.CatalogueService");
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&ctx, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  auto catalogue = v1::CatalogueService::NewStub(plaintext);
  grpc::ClientContext get_ctx;
  v1::GetDatasetRequest get;
  get.set_name("anything");
  v1::Dataset out;
  EXPECT_EQ(catalogue->GetDataset(&get_ctx, get, &out).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST(CatalogueTls, MutualTlsRequiresAClientCertificate) {
  TempDir dir;
  const absl::StatusOr<testing::TestCertificates> pki = testing::MakeTestCertificates(dir.path());
  ASSERT_TRUE(pki.ok()) << pki.status();
  auto process = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
       absl::StrCat("--database=sqlite://", dir.path(), "/c.db"),
       "--tls_cert=" + pki->cert_file, "--tls_key=" + pki->key_file,
       "--tls_client_ca=" + pki->ca_file});
  ASSERT_TRUE(process.ok()) << process.status();

  grpc::SslCredentialsOptions without_cert;
  without_cert.pem_root_certs = ReadFile(pki->ca_file);
  EXPECT_FALSE(HealthCheckOk(grpc::CreateChannel((*process)->grpc_address(),
                                                 grpc::SslCredentials(without_cert))));
  grpc::SslCredentialsOptions with_cert = without_cert;
  with_cert.pem_private_key = ReadFile(pki->client_key_file);
  with_cert.pem_cert_chain = ReadFile(pki->client_cert_file);
  EXPECT_TRUE(HealthCheckOk(grpc::CreateChannel((*process)->grpc_address(),
                                                grpc::SslCredentials(with_cert))));
}

}  // namespace
}  // namespace smartby

namespace smartby {
namespace {

// Proto3 strings must be UTF-8; protobuf refuses to parse a request that breaks this before any
// handler runs. The caller must get INVALID_ARGUMENT naming the field, and nothing is stored.
TEST_F(CatalogueIntegrationTest, InvalidUtf8OnTheWireIsRefusedAndNothingIsStored) {
  v1::CreateDatasetRequest request;
  *request.mutable_dataset() = BathingTemperatures("latin1-title");
  std::string bytes = request.SerializeAsString();
  const std::string title = request.dataset().title();
  const size_t at = bytes.find(title);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = '\xE5';  // a Latin-1 "å" where UTF-8 is required

  grpc::ClientContext ctx;
  grpc::internal::RpcMethod method("/smartcity.catalogue.v1.CatalogueService/CreateDataset",
                                   grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer send(&slice, 1), receive;
  const grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel_.get(), method, &ctx, send, &receive);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "Dataset.title")) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "UTF-8")) << status.error_message();
  v1::Dataset out;
  EXPECT_EQ(Get("latin1-title", &out).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace smartby

// --- Authorisation over real gRPC -----------------------------------------------------------

namespace smartby {
namespace {

constexpr char kAccessOrg[] = "Tilgang kommune";

// A dataset of kAccessOrg, found by the keyword "tilgangsprove".
v1::Dataset AccessDataset(const std::string& name,
                          smartcity::common::v1::Classification classification) {
  v1::Dataset d = BathingTemperatures(name);
  d.mutable_owner()->set_organization(kAccessOrg);
  d.mutable_owner()->clear_organization_number();
  d.set_classification(classification);
  d.add_keywords("tilgangsprove");
  if (classification != CLASSIFICATION_OPEN) {
    d.mutable_risk_assessment()->set_reference("ROS-2026-042");
  }
  return d;
}

std::set<std::string> Names(const v1::SearchDatasetsResponse& response) {
  std::set<std::string> names;
  for (const auto& hit : response.hits()) names.insert(hit.dataset().name());
  return names;
}

TEST_F(CatalogueIntegrationTest, AnonymousReaderAndOwnerEachSeeWhatTheyMay) {
  const std::string owner = issuer_->Token(
      Spec("user:tone", {absl::StrCat("dataset-owner:", kAccessOrg)}, "protected", true));
  const std::string reader =
      issuer_->Token(Spec("user:rune", {"reader"}, "internal", false));

  // The owner registers a draft, a published Åpen and a published Intern dataset.
  v1::Dataset out;
  for (const auto& [name, cls, publish] :
       std::vector<std::tuple<std::string, smartcity::common::v1::Classification, bool>>{
           {"access-draft", CLASSIFICATION_OPEN, false},
           {"access-open", CLASSIFICATION_OPEN, true},
           {"access-internal", CLASSIFICATION_INTERNAL, true}}) {
    v1::CreateDatasetRequest create;
    *create.mutable_dataset() = AccessDataset(name, cls);
    const grpc::Status created = plain_->CreateDataset(With(owner).get(), create, &out);
    ASSERT_TRUE(created.ok()) << name << ": " << created.error_message();
    EXPECT_EQ(out.created_by(), "user:tone");
    if (!publish) continue;
    v1::PublishDatasetRequest request;
    request.set_name(name);
    const grpc::Status published = plain_->PublishDataset(With(owner).get(), request, &out);
    ASSERT_TRUE(published.ok()) << name << ": " << published.error_message();
  }

  auto search = [&](const std::string& token, v1::SearchDatasetsResponse* response) {
    v1::SearchDatasetsRequest request;
    request.set_query("tilgangsprove");
    return plain_->SearchDatasets(With(token).get(), request, response);
  };
  auto get = [&](const std::string& token, const std::string& name) {
    v1::GetDatasetRequest request;
    request.set_name(name);
    v1::Dataset response;
    return plain_->GetDataset(With(token).get(), request, &response).error_code();
  };

  // Anonymous: published Åpen only, in hits, totals and facets alike.
  v1::SearchDatasetsResponse anonymous;
  ASSERT_TRUE(search("", &anonymous).ok());
  EXPECT_EQ(Names(anonymous), (std::set<std::string>{"access-open"}));
  EXPECT_EQ(anonymous.total_size(), 1);
  ASSERT_EQ(anonymous.owner_facets_size(), 1);
  EXPECT_EQ(anonymous.owner_facets(0).count(), 1);
  v1::ListDatasetsRequest by_org;
  by_org.set_owner_organization(kAccessOrg);
  v1::ListDatasetsResponse listed;
  ASSERT_TRUE(plain_->ListDatasets(With("").get(), by_org, &listed).ok());
  EXPECT_EQ(listed.total_size(), 1);
  EXPECT_EQ(get("", "access-open"), grpc::StatusCode::OK);
  EXPECT_EQ(get("", "access-internal"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(get("", "access-draft"), grpc::StatusCode::UNAUTHENTICATED);

  // Reader: published datasets within the clearance, no drafts.
  v1::SearchDatasetsResponse as_reader;
  ASSERT_TRUE(search(reader, &as_reader).ok());
  EXPECT_EQ(Names(as_reader), (std::set<std::string>{"access-open", "access-internal"}));
  EXPECT_EQ(as_reader.total_size(), 2);
  ASSERT_TRUE(plain_->ListDatasets(With(reader).get(), by_org, &listed).ok());
  EXPECT_EQ(listed.total_size(), 2);
  EXPECT_EQ(get(reader, "access-internal"), grpc::StatusCode::OK);
  EXPECT_EQ(get(reader, "access-draft"), grpc::StatusCode::PERMISSION_DENIED);

  // Owner: everything of the organisation.
  v1::SearchDatasetsResponse as_owner;
  ASSERT_TRUE(search(owner, &as_owner).ok());
  EXPECT_EQ(Names(as_owner),
            (std::set<std::string>{"access-open", "access-internal", "access-draft"}));
  EXPECT_EQ(as_owner.total_size(), 3);
  EXPECT_EQ(get(owner, "access-draft"), grpc::StatusCode::OK);

  // Changing things: the reader is refused, naming the role that would do; anonymous callers
  // are asked to sign in.
  v1::CreateDatasetRequest create;
  *create.mutable_dataset() = AccessDataset("access-by-reader", CLASSIFICATION_OPEN);
  grpc::Status refused = plain_->CreateDataset(With(reader).get(), create, &out);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(refused.error_message(),
                                absl::StrCat("dataset-owner:", kAccessOrg)))
      << refused.error_message();
  refused = plain_->CreateDataset(With("").get(), create, &out);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "sign in")) << refused.error_message();
  v1::DeleteDatasetRequest del;
  del.set_name("access-draft");
  v1::DeleteDatasetResponse deleted;
  EXPECT_EQ(plain_->DeleteDataset(With(reader).get(), del, &deleted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(get(owner, "access-draft"), grpc::StatusCode::OK);
}

TEST_F(CatalogueIntegrationTest, ProtectedDataWithoutASecondFactorIsUnauthenticated) {
  v1::Dataset out;
  v1::Dataset protected_dataset = AccessDataset("access-protected", CLASSIFICATION_PROTECTED);
  protected_dataset.clear_keywords();  // not one of the datasets the test above counts
  ASSERT_TRUE(Create(protected_dataset, &out).ok());
  const std::string no_tfa = issuer_->Token(
      Spec("user:tone", {absl::StrCat("dataset-owner:", kAccessOrg)}, "protected", false));
  v1::GetDatasetRequest request;
  request.set_name("access-protected");
  const grpc::Status status = plain_->GetDataset(With(no_tfa).get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "second factor"))
      << status.error_message();
}

TEST_F(CatalogueIntegrationTest, BadTokensAreUnauthenticatedEvenForPublicListings) {
  const TokenSpec admin = Spec("user:admin", {"platform-admin"}, "strictly-protected", true);
  TokenSpec expired = admin;
  expired.lifetime = -absl::Minutes(5);
  TokenSpec other_audience = admin;
  other_audience.audience = "someone-else";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"expired", issuer_->Token(expired)},
      {"unknown key", issuer_->TokenSignedByUnknownKey(admin)},
      {"alg none", TestTokenIssuer::UnsignedToken(admin)},
      {"wrong audience", issuer_->Token(other_audience)},
      {"garbage", "not-a-jwt"},
  };
  for (const auto& [what, token] : bad) {
    SCOPED_TRACE(what);
    v1::SearchDatasetsRequest search;
    v1::SearchDatasetsResponse found;
    EXPECT_EQ(plain_->SearchDatasets(With(token).get(), search, &found).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    v1::ListDatasetsRequest list;
    v1::ListDatasetsResponse listed;
    EXPECT_EQ(plain_->ListDatasets(With(token).get(), list, &listed).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    v1::ExportCatalogueRequest export_request;
    v1::ExportCatalogueResponse exported;
    EXPECT_EQ(plain_->ExportCatalogue(With(token).get(), export_request, &exported).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    v1::GetDatasetRequest get;
    get.set_name("metrics-counted");
    v1::Dataset out;
    EXPECT_EQ(plain_->GetDataset(With(token).get(), get, &out).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // The same calls without any token are answered (with public data only).
  v1::SearchDatasetsRequest search;
  v1::SearchDatasetsResponse found;
  EXPECT_TRUE(plain_->SearchDatasets(With("").get(), search, &found).ok());
  v1::ExportCatalogueRequest export_request;
  v1::ExportCatalogueResponse exported;
  EXPECT_TRUE(plain_->ExportCatalogue(With("").get(), export_request, &exported).ok());
}

}  // namespace
}  // namespace smartby
