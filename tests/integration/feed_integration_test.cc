// The feed over real gRPC with real auth, catalogue and ingestion processes (each with its own
// service account): a writer sends readings into ingestion and subscribers of the feed receive
// them in order; the snapshot on subscribe; a stalled subscriber (never reads) does not hold up a
// second one; resuming after a position; an anonymous subscriber gets no protected readings.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/feed/v1/feed.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace smartby {
namespace {

namespace av1 = ::smartcity::auth::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace fv1 = ::smartcity::feed::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using google::protobuf::util::TimeUtil;
using testing::BinaryPath;
using testing::ServiceProcess;
using testing::TempDir;
using testing::TestTokenIssuer;
using testing::TokenSpec;

constexpr char kAdminPassword[] = "innsamling-test-passord-2026";

google::protobuf::Timestamp At(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

// The platform: auth with a signing key the test also holds, the catalogue, and ingestion with
// its own service account (platform-service, audit-writer). Started once for the suite.
class FeedIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string d = dir_->path();
    std::string pem = TestTokenIssuer(d).PrivateKeyPem();
    std::ofstream(d + "/signing-key.pem") << pem;
    std::ofstream(d + "/admin-password") << kAdminPassword << "\n";
    auto auth = ServiceProcess::Start(
        BinaryPath("smartby-auth"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--data_dir=" + d,
         "--signing_key_file=" + d + "/signing-key.pem", "--bootstrap_admin=admin",
         "--bootstrap_admin_password_file=" + d + "/admin-password", "--audit_service="});
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = auth->release();
    auto auth_stub = av1::AuthService::NewStub(
        grpc::CreateChannel(auth_->grpc_address(), grpc::InsecureChannelCredentials()));
    std::string kid;
    {
      grpc::ClientContext ctx;
      av1::GetJwksResponse jwks;
      ASSERT_TRUE(auth_stub->GetJwks(&ctx, {}, &jwks).ok());
      kid = nlohmann::json::parse(jwks.jwks_json())["keys"][0]["kid"].get<std::string>();
    }
    auto key = auth::SigningKey::FromPem(kid, pem);
    ASSERT_TRUE(key.ok()) << key.status();
    issuer_ = new TestTokenIssuer(d, *std::move(key));
    TokenSpec admin;
    admin.subject = "user:admin";
    admin.roles = {"platform-admin"};
    admin.clearance = "strictly-protected";
    admin.tfa = true;
    admin_token_ = new std::string(issuer_->Token(admin));

    {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", "Bearer " + *admin_token_);
      av1::CreateServiceAccountRequest request;
      request.set_name("ingestion");
      request.add_roles("audit-writer");
      request.add_roles("platform-service");
      request.set_clearance(smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED);
      av1::CreateServiceAccountResponse response;
      const grpc::Status status = auth_stub->CreateServiceAccount(&ctx, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      std::ofstream(d + "/ingestion.secret") << response.client_secret() << "\n";
    }
    {
      // The feed's own account: it reads every dataset's readings and metadata.
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", "Bearer " + *admin_token_);
      av1::CreateServiceAccountRequest request;
      request.set_name("feed");
      request.add_roles("platform-service");
      request.set_clearance(smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED);
      av1::CreateServiceAccountResponse response;
      const grpc::Status status = auth_stub->CreateServiceAccount(&ctx, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      std::ofstream(d + "/feed.secret") << response.client_secret() << "\n";
    }

    auto catalogue = ServiceProcess::Start(
        BinaryPath("smartby-catalogue"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
         absl::StrCat("--database=sqlite://", d, "/catalogue.db"), issuer_->ServiceFlag(),
         "--audit_service="});
    ASSERT_TRUE(catalogue.ok()) << catalogue.status();
    catalogue_ = catalogue->release();
    catalogue_stub_ = cv1::CatalogueService::NewStub(
                          grpc::CreateChannel(catalogue_->grpc_address(),
                                              grpc::InsecureChannelCredentials()))
                          .release();
    CreateDataset("parkering", smartcity::common::v1::CLASSIFICATION_OPEN);
    CreateDataset("vannmaaler", smartcity::common::v1::CLASSIFICATION_PROTECTED);
    {
      // Published, so that anyone may read its readings.
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", "Bearer " + *admin_token_);
      cv1::PublishDatasetRequest request;
      request.set_name("parkering");
      cv1::Dataset published;
      const grpc::Status status = catalogue_stub_->PublishDataset(&ctx, request, &published);
      ASSERT_TRUE(status.ok()) << status.error_message();
    }

    StartIngestion();
    auto feed = ServiceProcess::Start(
        BinaryPath("smartby-feed"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
         absl::StrCat("--database=sqlite://", d, "/feed.db"), issuer_->ServiceFlag(),
         "--auth_service=grpc://" + auth_->grpc_address(), "--service_client_id=feed",
         "--service_client_secret_file=" + d + "/feed.secret",
         "--catalogue_service=grpc://" + catalogue_->grpc_address(),
         "--ingestion_service=grpc://" + ingestion_->grpc_address(), "--subscriber_queue=2048",
         "--audit_service="});
    ASSERT_TRUE(feed.ok()) << feed.status();
    feed_ = feed->release();
    feed_stub_ = fv1::FeedService::NewStub(
                     grpc::CreateChannel(feed_->grpc_address(), grpc::InsecureChannelCredentials()))
                     .release();
  }

  static std::vector<std::string> IngestionArgs() {
    const std::string d = dir_->path();
    return {"--listen=127.0.0.1:" + std::to_string(ingestion_port_),
            "--metrics_listen=127.0.0.1:0",
            absl::StrCat("--database=sqlite://", d, "/ingestion.db"), issuer_->ServiceFlag(),
            "--auth_service=grpc://" + auth_->grpc_address(), "--service_client_id=ingestion",
            "--service_client_secret_file=" + d + "/ingestion.secret",
            "--catalogue_service=grpc://" + catalogue_->grpc_address(),
            "--dataset_cache_ttl=200ms", "--audit_service=",
            "--watch_poll_interval=100ms"};
  }

  static void StartIngestion() {
    auto ingestion = ServiceProcess::Start(BinaryPath("smartby-ingestion"), IngestionArgs());
    ASSERT_TRUE(ingestion.ok()) << ingestion.status();
    ingestion_ = ingestion->release();
    ingestion_port_ = ingestion_->grpc_port();
    delete stub_;
    stub_ = iv1::IngestionService::NewStub(
                grpc::CreateChannel(ingestion_->grpc_address(), grpc::InsecureChannelCredentials()))
                .release();
  }

  static void TearDownTestSuite() {
    delete feed_stub_;
    delete feed_;
    delete stub_;
    delete catalogue_stub_;
    delete ingestion_;
    delete catalogue_;
    delete auth_;
    delete issuer_;
    delete admin_token_;
    delete dir_;
  }

  static void CreateDataset(const std::string& name, smartcity::common::v1::Classification c) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + *admin_token_);
    cv1::CreateDatasetRequest request;
    cv1::Dataset* d = request.mutable_dataset();
    d->set_name(name);
    d->set_title(absl::StrCat("Målinger ", name));
    d->set_description("Testdata for innsamling.");
    d->mutable_owner()->set_organization("Stavanger kommune");
    d->set_license("NLOD-2.0");
    d->set_classification(c);
    d->set_update_frequency(cv1::UPDATE_FREQUENCY_CONTINUOUS);
    cv1::SchemaField* free = d->add_fields();
    free->set_name("free_spaces");
    free->set_type(cv1::FIELD_TYPE_INTEGER);
    free->set_min_value(0);
    free->set_max_value(2000);
    cv1::SchemaField* temp = d->add_fields();
    temp->set_name("temperature");
    temp->set_type(cv1::FIELD_TYPE_DOUBLE);
    temp->set_unit("°C");
    temp->set_min_value(-40);
    temp->set_max_value(60);
    cv1::Dataset created;
    const grpc::Status status = catalogue_stub_->CreateDataset(&ctx, request, &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  static std::string Token(const std::string& subject, std::vector<std::string> roles,
                           const std::string& clearance, bool tfa,
                           const std::string& client_id = "") {
    TokenSpec spec;
    spec.subject = subject;
    spec.roles = std::move(roles);
    spec.clearance = clearance;
    spec.tfa = tfa;
    spec.client_id = client_id;
    return issuer_->Token(spec);
  }

  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    return ctx;
  }

  static void RegisterSource(const std::string& id, const std::string& dataset) {
    auto ctx = Context(*admin_token_);
    iv1::RegisterSourceRequest request;
    request.mutable_source()->set_id(id);
    request.mutable_source()->set_dataset(dataset);
    request.mutable_source()->set_name("Sensor " + id);
    iv1::Source source;
    const grpc::Status status = stub_->RegisterSource(ctx.get(), request, &source);
    ASSERT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::ALREADY_EXISTS)
        << status.error_message();
  }

  static iv1::Reading Reading(const std::string& source, absl::Time t, int64_t free_spaces) {
    iv1::Reading r;
    r.set_source_id(source);
    *r.mutable_time() = At(t);
    (*r.mutable_values())["free_spaces"].set_integer_value(free_spaces);
    return r;
  }

  static void Write(const std::vector<iv1::Reading>& readings) {
    auto ctx = Context(*admin_token_);
    iv1::WriteReadingsRequest request;
    for (const auto& r : readings) *request.add_readings() = r;
    iv1::WriteReadingsResponse response;
    const grpc::Status status = stub_->WriteReadings(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.accepted(), static_cast<int>(readings.size()));
  }

  struct Stream {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReader<fv1::SubscribeResponse>> reader;
    ~Stream() {
      ctx->TryCancel();
      fv1::SubscribeResponse ignored;
      while (reader->Read(&ignored)) {
      }
      reader->Finish();
    }
  };

  static std::unique_ptr<Stream> Subscribe(const std::string& token, fv1::SubscribeRequest request) {
    auto stream = std::make_unique<Stream>();
    stream->ctx = Context(token);
    stream->reader = feed_stub_->Subscribe(stream->ctx.get(), request);
    return stream;
  }

  // Reads events until `done` says so (or the stream ends); returns them all.
  static std::vector<fv1::FeedEvent> ReadUntil(
      Stream& stream, const std::function<bool(const fv1::FeedEvent&)>& done) {
    std::vector<fv1::FeedEvent> events;
    fv1::SubscribeResponse response;
    while (stream.reader->Read(&response)) {
      for (const auto& e : response.events()) {
        events.push_back(e);
        if (done(e)) return events;
      }
    }
    return events;
  }

  static fv1::SubscribeRequest ForDataset(const std::string& dataset) {
    fv1::SubscribeRequest request;
    request.mutable_filter()->add_datasets(dataset);
    return request;
  }

  static inline TempDir* dir_ = nullptr;
  static inline ServiceProcess* auth_ = nullptr;
  static inline ServiceProcess* catalogue_ = nullptr;
  static inline ServiceProcess* ingestion_ = nullptr;
  static inline ServiceProcess* feed_ = nullptr;
  static inline int ingestion_port_ = 0;
  static inline TestTokenIssuer* issuer_ = nullptr;
  static inline std::string* admin_token_ = nullptr;
  static inline cv1::CatalogueService::Stub* catalogue_stub_ = nullptr;
  static inline iv1::IngestionService::Stub* stub_ = nullptr;
  static inline fv1::FeedService::Stub* feed_stub_ = nullptr;
};

TEST_F(FeedIntegrationTest, SubscriberReceivesReadingsInOrderAfterASnapshot) {
  RegisterSource("p-orden-1", "parkering");
  RegisterSource("p-orden-2", "parkering");
  const absl::Time t0 = absl::Now() - absl::Minutes(30);
  Write({Reading("p-orden-1", t0, 10), Reading("p-orden-2", t0, 20)});

  // The snapshot holds both sources' last values (once the feed has taken them).
  int64_t snapshot_position = 0;
  for (absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;) {
    fv1::SubscribeRequest request = ForDataset("parkering");
    request.mutable_filter()->add_source_ids("p-orden-1");
    request.mutable_filter()->add_source_ids("p-orden-2");
    auto stream = Subscribe("", request);
    auto events = ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
    int snapshot = 0;
    for (const auto& e : events) snapshot += e.has_update() && e.update().snapshot();
    if (snapshot == 2) {
      snapshot_position = events.back().snapshot_complete().position();
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));  // polling the feed's catch-up, with a deadline
  }
  ASSERT_GT(snapshot_position, 0) << "the snapshot never held both sources";

  fv1::SubscribeRequest request = ForDataset("parkering");
  request.mutable_filter()->add_source_ids("p-orden-1");
  request.mutable_filter()->add_source_ids("p-orden-2");
  auto stream = Subscribe("", request);
  ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  std::vector<iv1::Reading> batch;
  for (int i = 1; i <= 200; ++i) {
    batch.push_back(Reading(i % 2 ? "p-orden-1" : "p-orden-2", t0 + absl::Seconds(i), i));
  }
  Write(batch);
  int received = 0;
  int64_t last = snapshot_position;
  auto events = ReadUntil(*stream, [&](const fv1::FeedEvent& e) {
    if (!e.has_update()) return false;
    EXPECT_GT(e.update().position(), last);
    last = e.update().position();
    EXPECT_EQ(e.update().reading().values().at("free_spaces").integer_value(), received + 1);
    return ++received == 200;
  });
  EXPECT_EQ(received, 200);
}

TEST_F(FeedIntegrationTest, StalledSubscriberDoesNotHoldUpAnotherAndResumeGetsWhatWasMissed) {
  RegisterSource("p-stall-1", "parkering");
  // A subscriber that never reads (and a small HTTP/2 window: it stalls quickly).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  auto slow_stub = fv1::FeedService::NewStub(grpc::CreateCustomChannel(
      feed_->grpc_address(), grpc::InsecureChannelCredentials(), args));
  auto stalled_ctx = Context("");
  auto stalled = slow_stub->Subscribe(stalled_ctx.get(), ForDataset("parkering"));

  auto stream = Subscribe("", ForDataset("parkering"));
  ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  const absl::Time t0 = absl::Now() - absl::Hours(1);
  constexpr int kBatches = 20, kPerBatch = 500;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<iv1::Reading> batch;
    for (int i = 0; i < kPerBatch; ++i) {
      batch.push_back(Reading("p-stall-1", t0 + absl::Milliseconds(b * kPerBatch + i), i % 1000));
    }
    Write(batch);
  }
  int received = 0;
  int64_t last = 0, middle = 0;
  ReadUntil(*stream, [&](const fv1::FeedEvent& e) {
    EXPECT_FALSE(e.has_gap()) << "a reading subscriber must not lose updates";
    if (!e.has_update() || e.update().reading().source_id() != "p-stall-1") return false;
    EXPECT_GT(e.update().position(), last);
    last = e.update().position();
    if (++received == kBatches * kPerBatch / 2) middle = last;
    return received == kBatches * kPerBatch;
  });
  EXPECT_EQ(received, kBatches * kPerBatch);

  // Resuming after a position gets exactly what came after it, no snapshot.
  fv1::SubscribeRequest resume = ForDataset("parkering");
  resume.set_resume_after(middle);
  auto resumed = Subscribe("", resume);
  int replayed = 0;
  ReadUntil(*resumed, [&](const fv1::FeedEvent& e) {
    EXPECT_TRUE(e.has_update());
    EXPECT_FALSE(e.update().snapshot());
    return ++replayed == kBatches * kPerBatch / 2;
  });
  EXPECT_EQ(replayed, kBatches * kPerBatch / 2);

  stalled_ctx->TryCancel();
  stalled->Finish();
}

TEST_F(FeedIntegrationTest, AnonymousSubscriberGetsNoProtectedReadings) {
  RegisterSource("vann-1", "vannmaaler");
  RegisterSource("p-anon-1", "parkering");
  auto anonymous = Subscribe("", fv1::SubscribeRequest());
  ReadUntil(*anonymous, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  auto admin = Subscribe(*admin_token_, ForDataset("vannmaaler"));
  ReadUntil(*admin, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });

  const absl::Time t0 = absl::Now() - absl::Minutes(10);
  Write({Reading("vann-1", t0, 5)});
  Write({Reading("p-anon-1", t0, 7)});
  // The admin (cleared, second factor) gets the protected reading.
  auto admin_events = ReadUntil(*admin, [](const fv1::FeedEvent& e) {
    return e.has_update() && e.update().reading().source_id() == "vann-1";
  });
  ASSERT_FALSE(admin_events.empty());
  EXPECT_EQ(admin_events.back().update().dataset(), "vannmaaler");
  // The anonymous one gets the Åpen reading written after it, and nothing protected before it.
  auto events = ReadUntil(*anonymous, [](const fv1::FeedEvent& e) {
    return e.has_update() && e.update().reading().source_id() == "p-anon-1";
  });
  ASSERT_FALSE(events.empty());
  for (const auto& e : events) {
    if (e.has_update()) {
      EXPECT_NE(e.update().dataset(), "vannmaaler");
    }
  }
}

}  // namespace
}  // namespace smartby
