// Feed alarms and KPIs end to end with real auth, catalogue, ingestion and feed processes: a
// webhook channel and an e-mail channel pointing at local sinks, a rule "above 80, hysteresis 5"
// on a protected dataset, readings written into ingestion; the webhook receives exactly raised
// and cleared (signed), the SMTP sink the e-mails (over STARTTLS, which the feed is told to
// require, verifying the sink's test certificate), ListAlarms the history. A webhook channel
// with its own key is signed with that key, not the service's, and the key is never returned.
// KPIs stream their value; a reader without clearance can neither watch a KPI nor read
// aggregates of the dataset.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/feed/notifier.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/feed/v1/feed.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/http_sink.h"
#include "tests/support/platform_under_test.h"
#include "tests/support/smtp_sink.h"
#include "tests/support/test_pki.h"

namespace smartby {
namespace {

namespace cv1 = ::smartcity::catalogue::v1;
namespace fv1 = ::smartcity::feed::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using testing::HttpSink;
using testing::PlatformUnderTest;
using testing::SensorDataset;
using testing::SmtpSink;
using testing::ToTimestamp;

constexpr char kWebhookSecret[] = "webhook-hemmelighet-2026";
constexpr char kChannelSecret[] = "kanalens-egen-nokkel-2026-0123456789abcdef";

class FeedAlarmsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    platform_ = new PlatformUnderTest();
    webhook_ = new HttpSink();
    const std::string d = platform_->dir();
    absl::StatusOr<testing::TestCertificates> certificates = testing::MakeTestCertificates(d);
    ASSERT_TRUE(certificates.ok()) << certificates.status();
    testing::SmtpSinkOptions smtp_options;
    smtp_options.tls_cert_file = certificates->cert_file;
    smtp_options.tls_key_file = certificates->key_file;
    smtp_ = new SmtpSink(smtp_options);
    std::ofstream(d + "/webhook.secret") << kWebhookSecret << "\n";

    ASSERT_EQ(platform_->StartAuth(), absl::OkStatus());
    admin_token_ = platform_->AdminToken();
    ASSERT_EQ(platform_->CreateServiceAccount("ingestion", {"audit-writer", "platform-service"}),
              absl::OkStatus());
    ASSERT_EQ(platform_->CreateServiceAccount("feed", {"platform-service"}), absl::OkStatus());
    ASSERT_EQ(platform_->Start("catalogue"), absl::OkStatus());
    // Protected (and a draft): only the platform's own accounts and administrators read it.
    ASSERT_EQ(platform_->CreateDataset(SensorDataset(
                  "vannstand", smartcity::common::v1::CLASSIFICATION_PROTECTED,
                  {{"level", cv1::FIELD_TYPE_DOUBLE, 0, 500, "cm"},
                   {"note", cv1::FIELD_TYPE_STRING}})),
              absl::OkStatus());

    ASSERT_EQ(platform_->Start("ingestion", {platform_->ServiceFlag("catalogue"),
                                             "--dataset_cache_ttl=200ms",
                                             "--watch_poll_interval=100ms"}),
              absl::OkStatus());
    stub_ = iv1::IngestionService::NewStub(platform_->Channel("ingestion")).release();

    ASSERT_EQ(platform_->Start(
                  "feed", {platform_->ServiceFlag("catalogue"), platform_->ServiceFlag("ingestion"),
                           "--webhook_secret_file=" + d + "/webhook.secret",
                           absl::StrCat("--smtp_server=127.0.0.1:", smtp_->port()),
                           "--smtp_tls=required", "--smtp_ca_file=" + certificates->ca_file,
                           "--smtp_from=alarm@smartby.test", "--notify_poll=200ms",
                           "--kpi_min_interval=200ms"}),
              absl::OkStatus());
    feed_stub_ = fv1::FeedService::NewStub(platform_->Channel("feed")).release();
  }

  static void TearDownTestSuite() {
    delete feed_stub_;
    delete stub_;
    delete platform_;
    delete smtp_;
    delete webhook_;
  }

  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token,
                                                      absl::Duration timeout = absl::Seconds(60)) {
    return PlatformUnderTest::Context(token, timeout);
  }

  static void RegisterSource(const std::string& id, const std::string& dataset) {
    const absl::Status status = platform_->RegisterSource(id, dataset);
    ASSERT_TRUE(status.ok() || absl::IsAlreadyExists(status)) << status;
  }

  static void Write(const std::string& source, absl::Time t, double level) {
    auto ctx = Context(admin_token_);
    iv1::WriteReadingsRequest request;
    iv1::Reading* r = request.add_readings();
    r->set_source_id(source);
    *r->mutable_time() = ToTimestamp(t);
    (*r->mutable_values())["level"].set_double_value(level);
    iv1::WriteReadingsResponse response;
    const grpc::Status status = stub_->WriteReadings(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.accepted(), 1);
  }

  static grpc::Status TryCreateChannel(fv1::ChannelKind kind, const std::string& target,
                                       const std::string& secret, fv1::Channel* channel) {
    auto ctx = Context(admin_token_);
    fv1::CreateChannelRequest request;
    request.mutable_channel()->set_name(absl::StrCat("kanal ", target));
    request.mutable_channel()->set_kind(kind);
    request.mutable_channel()->set_target(target);
    request.mutable_channel()->set_secret(secret);
    return feed_stub_->CreateChannel(ctx.get(), request, channel);
  }

  static fv1::Channel CreateChannel(fv1::ChannelKind kind, const std::string& target,
                                    const std::string& secret = "") {
    fv1::Channel channel;
    const grpc::Status status = TryCreateChannel(kind, target, secret, &channel);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return channel;
  }

  static inline PlatformUnderTest* platform_ = nullptr;
  static inline HttpSink* webhook_ = nullptr;
  static inline SmtpSink* smtp_ = nullptr;
  static inline std::string admin_token_;
  static inline iv1::IngestionService::Stub* stub_ = nullptr;
  static inline fv1::FeedService::Stub* feed_stub_ = nullptr;
};

TEST_F(FeedAlarmsTest, ThresholdAlarmIsRaisedOnceClearedStoredAndNotified) {
  RegisterSource("basseng-1", "vannstand");
  const fv1::Channel web = CreateChannel(fv1::CHANNEL_KIND_WEBHOOK, webhook_->url("/alarm"));
  const fv1::Channel mail = CreateChannel(fv1::CHANNEL_KIND_EMAIL, "vakt@stavanger.kommune.no");
  ASSERT_FALSE(web.id().empty());
  ASSERT_FALSE(mail.id().empty());

  fv1::AlarmRule rule;
  {
    auto ctx = Context(admin_token_);
    fv1::CreateAlarmRuleRequest request;
    request.mutable_rule()->set_name("Høy vannstand");
    request.mutable_rule()->set_dataset("vannstand");
    request.mutable_rule()->set_field("level");
    request.mutable_rule()->set_kind(fv1::ALARM_KIND_ABOVE);
    request.mutable_rule()->set_upper(80);
    request.mutable_rule()->set_hysteresis(5);
    request.mutable_rule()->add_channels(web.id());
    request.mutable_rule()->add_channels(mail.id());
    const grpc::Status status = feed_stub_->CreateAlarmRule(ctx.get(), request, &rule);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  const absl::Time t0 = absl::Now() - absl::Minutes(5);
  const std::vector<double> levels = {70, 85, 84, 83, 90, 78, 74};
  for (size_t i = 0; i < levels.size(); ++i) {
    Write("basseng-1", t0 + absl::Seconds(10 * static_cast<int64_t>(i)), levels[i]);
  }

  // The webhook gets exactly raised and cleared, signed with the configured secret.
  ASSERT_TRUE(webhook_->WaitForRequests(2, absl::Seconds(30)));
  absl::SleepFor(absl::Seconds(2));  // nothing more arrives (the outbox polls every 200 ms)
  std::vector<testing::HttpRequest> requests = webhook_->requests();
  ASSERT_EQ(requests.size(), 2u);
  std::vector<std::string> events;
  std::string alarm_id;
  for (const testing::HttpRequest& r : requests) {
    EXPECT_EQ(r.path, "/alarm");
    auto header = [&r](const std::string& name) {
      auto it = r.headers.find(name);
      return it == r.headers.end() ? std::string() : it->second;
    };
    EXPECT_EQ(header("x-smartby-signature"), feed::WebhookSignature(kWebhookSecret, r.body));
    EXPECT_FALSE(header("x-smartby-delivery").empty());
    nlohmann::json body = nlohmann::json::parse(r.body);
    events.push_back(body["event"].get<std::string>());
    EXPECT_EQ(body["rule_id"], rule.id());
    EXPECT_EQ(body["source"], "basseng-1");
    if (alarm_id.empty()) alarm_id = body["alarm_id"].get<std::string>();
    EXPECT_EQ(body["alarm_id"], alarm_id);
  }
  EXPECT_EQ(events, (std::vector<std::string>{"raised", "cleared"}));
  EXPECT_EQ(nlohmann::json::parse(requests[0].body)["value"], 85.0);
  EXPECT_EQ(nlohmann::json::parse(requests[1].body)["value"], 74.0);

  // The e-mails reach the SMTP sink, over TLS.
  ASSERT_TRUE(smtp_->WaitForMessages(2, absl::Seconds(30)));
  std::vector<testing::SmtpMessage> mails = smtp_->messages();
  ASSERT_EQ(mails.size(), 2u);
  EXPECT_TRUE(mails[0].tls);
  EXPECT_TRUE(mails[1].tls);
  EXPECT_EQ(mails[0].recipients, std::vector<std::string>{"vakt@stavanger.kommune.no"});
  EXPECT_EQ(mails[0].mail_from, "alarm@smartby.test");
  EXPECT_TRUE(absl::StrContains(mails[0].data, "Alarm raised")) << mails[0].data;
  EXPECT_TRUE(absl::StrContains(mails[1].data, "Alarm cleared")) << mails[1].data;

  // ListAlarms shows the history: one alarm, raised by 85, cleared; none active.
  {
    auto ctx = Context(admin_token_);
    fv1::ListAlarmsRequest request;
    request.set_dataset("vannstand");
    fv1::ListAlarmsResponse response;
    ASSERT_TRUE(feed_stub_->ListAlarms(ctx.get(), request, &response).ok());
    ASSERT_EQ(response.alarms_size(), 1);
    const fv1::Alarm& alarm = response.alarms(0);
    EXPECT_EQ(alarm.id(), alarm_id);
    EXPECT_EQ(alarm.state(), fv1::ALARM_STATE_CLEARED);
    EXPECT_EQ(alarm.value(), 85);
    EXPECT_EQ(alarm.rule_id(), rule.id());
    EXPECT_TRUE(alarm.has_raise_time());
    EXPECT_TRUE(alarm.has_clear_time());
  }
  {
    auto ctx = Context(admin_token_);
    fv1::ListAlarmsRequest request;
    request.set_active_only(true);
    fv1::ListAlarmsResponse response;
    ASSERT_TRUE(feed_stub_->ListAlarms(ctx.get(), request, &response).ok());
    EXPECT_EQ(response.alarms_size(), 0);
  }
  {
    // A reader without clearance does not see alarms of the protected dataset.
    auto ctx = Context(platform_->Token({"reader"}, "internal", true, "user:les"));
    fv1::ListAlarmsRequest request;
    fv1::ListAlarmsResponse response;
    ASSERT_TRUE(feed_stub_->ListAlarms(ctx.get(), request, &response).ok());
    EXPECT_EQ(response.alarms_size(), 0);
  }
  {
    // Acknowledging a cleared alarm records who did it (and sends nothing).
    auto ctx = Context(admin_token_);
    fv1::AcknowledgeAlarmRequest request;
    request.set_id(alarm_id);
    fv1::Alarm acked;
    const grpc::Status status = feed_stub_->AcknowledgeAlarm(ctx.get(), request, &acked);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(acked.acknowledged_by(), "user:admin");
  }

  // TestChannel sends directly: delivered to the sink, or the reason in plain language.
  {
    auto ctx = Context(admin_token_);
    fv1::TestChannelRequest request;
    request.set_id(web.id());
    fv1::TestChannelResponse response;
    const grpc::Status status = feed_stub_->TestChannel(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.delivered()) << response.detail();
    ASSERT_TRUE(webhook_->WaitForRequests(3, absl::Seconds(10)));
    EXPECT_EQ(nlohmann::json::parse(webhook_->requests()[2].body)["type"], "test");
  }
  {
    const fv1::Channel dead = CreateChannel(
        fv1::CHANNEL_KIND_WEBHOOK,
        absl::StrCat("http://127.0.0.1:", testing::ClosedLocalPort(), "/hook"));
    auto ctx = Context(admin_token_);
    fv1::TestChannelRequest request;
    request.set_id(dead.id());
    fv1::TestChannelResponse response;
    const grpc::Status status = feed_stub_->TestChannel(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_FALSE(response.delivered());
    EXPECT_TRUE(absl::StrContains(response.detail(), "could not be delivered")) << response.detail();
  }
}

TEST_F(FeedAlarmsTest, KpiIsValidatedStreamedAndRefusedToCallersWithoutClearance) {
  RegisterSource("basseng-k1", "vannstand");
  RegisterSource("basseng-k2", "vannstand");
  {
    // A field the dataset does not have, and a field that is not numeric, are named.
    for (const auto& [expression, field] :
         std::vector<std::pair<std::string, std::string>>{{"avg(temperatur)", "temperatur"},
                                                          {"count(note)", "note"}}) {
      auto ctx = Context(admin_token_);
      fv1::CreateKpiRequest request;
      request.mutable_kpi()->set_name("feil");
      request.mutable_kpi()->set_dataset("vannstand");
      request.mutable_kpi()->set_expression(expression);
      fv1::Kpi kpi;
      const grpc::Status status = feed_stub_->CreateKpi(ctx.get(), request, &kpi);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << expression;
      EXPECT_TRUE(absl::StrContains(status.error_message(), field)) << status.error_message();
    }
    auto ctx = Context(admin_token_);
    fv1::CreateKpiRequest request;
    request.mutable_kpi()->set_name("hoyeste-vannstand");
    request.mutable_kpi()->set_dataset("vannstand");
    request.mutable_kpi()->set_expression("max( level )");
    fv1::Kpi kpi;
    const grpc::Status status = feed_stub_->CreateKpi(ctx.get(), request, &kpi);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(kpi.expression(), "max(level)");
  }
  const absl::Time t0 = absl::Now() - absl::Minutes(2);
  Write("basseng-k1", t0, 40);
  Write("basseng-k2", t0, 55);

  {
    auto ctx = Context(admin_token_, absl::Seconds(30));
    fv1::WatchKpiRequest request;
    request.set_name("hoyeste-vannstand");
    auto reader = feed_stub_->WatchKpi(ctx.get(), request);
    fv1::KpiValue value;
    bool saw_first = false, saw_update = false;
    while (reader->Read(&value)) {
      EXPECT_EQ(value.name(), "hoyeste-vannstand");
      // Other tests write into the dataset too; wait for ours.
      if (!saw_first && value.value() >= 55) {
        saw_first = true;
        Write("basseng-k1", t0 + absl::Seconds(1), 300);
      } else if (saw_first && value.value() == 300) {
        saw_update = true;
        break;
      }
    }
    EXPECT_TRUE(saw_first);
    EXPECT_TRUE(saw_update);
    ctx->TryCancel();
    reader->Finish();
  }

  const std::string uncleared = platform_->Token({"reader"}, "internal", true, "user:les");
  {
    auto ctx = Context(uncleared, absl::Seconds(10));
    fv1::WatchKpiRequest request;
    request.set_name("hoyeste-vannstand");
    auto reader = feed_stub_->WatchKpi(ctx.get(), request);
    fv1::KpiValue value;
    EXPECT_FALSE(reader->Read(&value));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    auto ctx = Context(uncleared);
    fv1::GetAggregatesRequest request;
    request.set_dataset("vannstand");
    fv1::GetAggregatesResponse response;
    EXPECT_EQ(feed_stub_->GetAggregates(ctx.get(), request, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    // The admin may read them.
    auto ctx = Context(admin_token_);
    fv1::GetAggregatesRequest request;
    request.set_dataset("vannstand");
    fv1::GetAggregatesResponse response;
    const grpc::Status status = feed_stub_->GetAggregates(ctx.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
}

TEST_F(FeedAlarmsTest, WebhookWithItsOwnKeyIsSignedWithItAndTheKeyIsNeverReturned) {
  // Refused: a key too short, and a key on an e-mail channel; the message names the field.
  {
    fv1::Channel refused;
    const grpc::Status short_key = TryCreateChannel(
        fv1::CHANNEL_KIND_WEBHOOK, webhook_->url("/kort"), "kort-nokkel", &refused);
    EXPECT_EQ(short_key.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(short_key.error_message(), "channel.secret"))
        << short_key.error_message();
    EXPECT_FALSE(absl::StrContains(short_key.error_message(), "kort-nokkel"));
    const grpc::Status on_email = TryCreateChannel(
        fv1::CHANNEL_KIND_EMAIL, "vakt@stavanger.kommune.no", kChannelSecret, &refused);
    EXPECT_EQ(on_email.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(on_email.error_message(), "channel.secret"))
        << on_email.error_message();
  }

  HttpSink receiver;
  const fv1::Channel own =
      CreateChannel(fv1::CHANNEL_KIND_WEBHOOK, receiver.url("/egen"), kChannelSecret);
  ASSERT_FALSE(own.id().empty());
  EXPECT_TRUE(own.has_secret());
  EXPECT_TRUE(own.secret().empty()) << "write-only";
  {
    auto ctx = Context(admin_token_);
    fv1::ListChannelsResponse response;
    ASSERT_TRUE(feed_stub_->ListChannels(ctx.get(), {}, &response).ok());
    bool listed = false;
    for (const fv1::Channel& c : response.channels()) {
      EXPECT_TRUE(c.secret().empty()) << c.id();
      if (c.id() == own.id()) {
        listed = true;
        EXPECT_TRUE(c.has_secret());
      }
    }
    EXPECT_TRUE(listed);
  }

  // An alarm through the outbox: signed with the channel's key, not the service's.
  RegisterSource("basseng-egen", "vannstand");
  {
    auto ctx = Context(admin_token_);
    fv1::CreateAlarmRuleRequest request;
    request.mutable_rule()->set_name("Egen nøkkel");
    request.mutable_rule()->set_dataset("vannstand");
    request.mutable_rule()->set_source_id("basseng-egen");
    request.mutable_rule()->set_field("level");
    request.mutable_rule()->set_kind(fv1::ALARM_KIND_ABOVE);
    request.mutable_rule()->set_upper(80);
    request.mutable_rule()->add_channels(own.id());
    fv1::AlarmRule rule;
    const grpc::Status status = feed_stub_->CreateAlarmRule(ctx.get(), request, &rule);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  const absl::Time t0 = absl::Now() - absl::Minutes(1);
  Write("basseng-egen", t0, 70);
  Write("basseng-egen", t0 + absl::Seconds(1), 95);
  ASSERT_TRUE(receiver.WaitForRequests(1, absl::Seconds(30)));
  const testing::HttpRequest raised = receiver.requests()[0];
  EXPECT_EQ(nlohmann::json::parse(raised.body)["event"], "raised");
  const std::string signature = raised.headers.count("x-smartby-signature") != 0
                                    ? raised.headers.at("x-smartby-signature")
                                    : "<missing>";
  EXPECT_EQ(signature, feed::WebhookSignature(kChannelSecret, raised.body));
  EXPECT_NE(signature, feed::WebhookSignature(kWebhookSecret, raised.body));

  // The key never shows in the feed's log.
  for (const std::string& line : platform_->service("feed").LogLines()) {
    EXPECT_FALSE(absl::StrContains(line, kChannelSecret)) << line;
  }
}

}  // namespace
}  // namespace smartby
