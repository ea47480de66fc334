// Two feed processes on one database (PostgreSQL under scripts/with-postgres.sh, else one shared
// SQLite file), with real auth, catalogue and ingestion and a local webhook receiver: only the
// holder of the alarm lease evaluates, so a breach is stored and notified once; a subscriber on
// the other replica receives the event; an acknowledgement made through the other replica
// survives the holder's clear; after the holder is killed (SIGKILL) the other replica takes the
// lease within its ttl and goes on evaluating, without raising the still active alarm again.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"
#include "smartcity/feed/v1/feed.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/http_sink.h"
#include "services/runtime/storage/test_databases.h"
#include "tests/support/platform_under_test.h"
#include "tests/support/service_process.h"

namespace smartby {
namespace {

namespace cv1 = ::smartcity::catalogue::v1;
namespace fv1 = ::smartcity::feed::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using testing::HttpSink;
using testing::PlatformUnderTest;
using testing::ServiceProcess;

constexpr absl::Duration kLeaseTtl = absl::Seconds(3);
constexpr absl::Duration kLeaseRenew = absl::Milliseconds(500);

// Polls `condition` until it holds or `timeout` passes.
template <typename Condition>
bool Eventually(Condition condition, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return condition();
}

// The alarm events one Subscribe stream received, read on its own thread.
class AlarmStream {
 public:
  AlarmStream(fv1::FeedService::Stub* stub, const std::string& token,
              const std::string& dataset) {
    context_ = PlatformUnderTest::Context(token, absl::Minutes(5));
    fv1::SubscribeRequest request;
    request.mutable_filter()->add_datasets(dataset);
    request.set_include_alarms(true);
    reader_ = stub->Subscribe(context_.get(), request);
    thread_ = std::thread([this] {
      fv1::SubscribeResponse response;
      while (reader_->Read(&response)) {
        std::lock_guard<std::mutex> lock(mu_);
        for (const fv1::FeedEvent& event : response.events()) {
          if (event.has_alarm()) alarms_.push_back(event.alarm());
          if (event.has_snapshot_complete()) opened_ = true;
        }
      }
    });
  }
  ~AlarmStream() {
    context_->TryCancel();
    thread_.join();
    reader_->Finish();
  }
  bool opened() {
    std::lock_guard<std::mutex> lock(mu_);
    return opened_;
  }
  std::vector<fv1::AlarmEvent> alarms() {
    std::lock_guard<std::mutex> lock(mu_);
    return alarms_;
  }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<fv1::SubscribeResponse>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<fv1::AlarmEvent> alarms_;
  bool opened_ = false;
};

class FeedReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(platform_.StartAuth(), absl::OkStatus());
    admin_token_ = platform_.AdminToken();
    ASSERT_EQ(platform_.CreateServiceAccount("ingestion", {"audit-writer", "platform-service"}),
              absl::OkStatus());
    ASSERT_EQ(platform_.CreateServiceAccount("feed", {"platform-service"}), absl::OkStatus());
    ASSERT_EQ(platform_.Start("catalogue"), absl::OkStatus());
    ASSERT_EQ(platform_.CreateDataset(testing::SensorDataset(
                  "vannstand", smartcity::common::v1::CLASSIFICATION_PROTECTED,
                  {{"level", cv1::FIELD_TYPE_DOUBLE, 0, 500, "cm"}})),
              absl::OkStatus());
    ASSERT_EQ(platform_.Start("ingestion", {platform_.ServiceFlag("catalogue"),
                                            "--dataset_cache_ttl=200ms",
                                            "--watch_poll_interval=100ms"}),
              absl::OkStatus());
    ingestion_ = iv1::IngestionService::NewStub(platform_.Channel("ingestion"));
    for (const char* source : {"kum-1", "kum-2", "kum-3"}) {
      ASSERT_EQ(platform_.RegisterSource(source, "vannstand"), absl::OkStatus());
    }
    database_ = storage::testing::NewPostgresDatabaseUrl("feed_replicas");
    if (database_.empty()) database_ = absl::StrCat("sqlite://", platform_.dir(), "/feed.db");
  }

  // One feed replica: the flags PlatformUnderTest would give "feed", on the shared database,
  // with its own instance name and audit outbox, and short lease and poll intervals; `extra`
  // last (a later flag wins).
  absl::StatusOr<std::unique_ptr<ServiceProcess>> LaunchFeed(
      const std::string& instance, const std::vector<std::string>& extra = {}) {
    const std::string d = platform_.dir();
    std::vector<std::string> args = {
        "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--database=" + database_,
        platform_.issuer().ServiceFlag(), platform_.ServiceFlag("auth"),
        "--service_client_id=feed",
        absl::StrCat("--service_client_secret_file=", d, "/feed.secret"),
        "--audit_service=", absl::StrCat("--audit_outbox=", d, "/", instance, "-audit.db"),
        "--audit_instance=" + instance, platform_.ServiceFlag("catalogue"),
        platform_.ServiceFlag("ingestion"), "--notify_poll=200ms", "--alarm_tick=200ms",
        "--checkpoint_interval=200ms", "--alarm_event_poll=200ms",
        absl::StrCat("--alarm_lease_ttl=", absl::FormatDuration(kLeaseTtl)),
        absl::StrCat("--alarm_lease_renew=", absl::FormatDuration(kLeaseRenew))};
    args.insert(args.end(), extra.begin(), extra.end());
    return ServiceProcess::Start(testing::BinaryPath("smartby-feed"), args, {},
                                 absl::Seconds(30));
  }

  void StartFeed(const std::string& instance) {
    absl::StatusOr<std::unique_ptr<ServiceProcess>> process = LaunchFeed(instance);
    ASSERT_TRUE(process.ok()) << process.status();
    stubs_[instance] = fv1::FeedService::NewStub(grpc::CreateChannel(
        (*process)->grpc_address(), grpc::InsecureChannelCredentials()));
    feeds_[instance] = *std::move(process);
  }

  // smartby_feed_alarm_leader of a replica: 1 on the holder, 0 elsewhere, -1 when unreadable.
  double Leader(const std::string& instance) {
    const testing::HttpResult metrics =
        testing::HttpGet(feeds_[instance]->metrics_port(), "/metrics");
    if (metrics.status != 200) return -1;
    return testing::MetricValue(metrics.body, "smartby_feed_alarm_leader");
  }

  void Write(const std::string& source, absl::Time t, double level) {
    auto ctx = PlatformUnderTest::Context(admin_token_);
    iv1::WriteReadingsRequest request;
    iv1::Reading* r = request.add_readings();
    r->set_source_id(source);
    *r->mutable_time() = testing::ToTimestamp(t);
    (*r->mutable_values())["level"].set_double_value(level);
    iv1::WriteReadingsResponse response;
    const grpc::Status status = ingestion_->WriteReadings(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.accepted(), 1);
  }

  std::vector<fv1::Alarm> ListAlarms(const std::string& instance) {
    auto ctx = PlatformUnderTest::Context(admin_token_);
    fv1::ListAlarmsRequest request;
    request.set_dataset("vannstand");
    fv1::ListAlarmsResponse response;
    const grpc::Status status = stubs_[instance]->ListAlarms(ctx.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.alarms().begin(), response.alarms().end()};
  }

  // The webhook deliveries so far, as "<event> <source>".
  std::vector<std::string> Deliveries() {
    std::vector<std::string> out;
    for (const testing::HttpRequest& r : webhook_.requests()) {
      const nlohmann::json body = nlohmann::json::parse(r.body);
      out.push_back(absl::StrCat(body["event"].get<std::string>(), " ",
                                 body["source"].get<std::string>()));
    }
    return out;
  }

  PlatformUnderTest platform_;
  HttpSink webhook_;
  std::string admin_token_;
  std::string database_;
  std::unique_ptr<iv1::IngestionService::Stub> ingestion_;
  std::map<std::string, std::unique_ptr<ServiceProcess>> feeds_;
  std::map<std::string, std::unique_ptr<fv1::FeedService::Stub>> stubs_;
};

TEST_F(FeedReplicasTest, OneReplicaEvaluatesAndAnotherTakesOverWhenItIsKilled) {
  // A renew interval that is not shorter than the lease is refused, naming the flag.
  absl::StatusOr<std::unique_ptr<ServiceProcess>> refused =
      LaunchFeed("feed-x", {"--alarm_lease_renew=3s"});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--alarm_lease_renew"), std::string::npos)
      << refused.status();

  StartFeed("feed-a");  // started first: takes the free lease before it serves
  StartFeed("feed-b");
  ASSERT_EQ(Leader("feed-a"), 1);
  ASSERT_EQ(Leader("feed-b"), 0);

  // Channel and rule made through the replica that does not evaluate.
  fv1::Channel channel;
  {
    auto ctx = PlatformUnderTest::Context(admin_token_);
    fv1::CreateChannelRequest request;
    request.mutable_channel()->set_name("vakt");
    request.mutable_channel()->set_kind(fv1::CHANNEL_KIND_WEBHOOK);
    request.mutable_channel()->set_target(webhook_.url("/alarm"));
    const grpc::Status status = stubs_["feed-b"]->CreateChannel(ctx.get(), request, &channel);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  {
    auto ctx = PlatformUnderTest::Context(admin_token_);
    fv1::CreateAlarmRuleRequest request;
    request.mutable_rule()->set_name("Høy vannstand");
    request.mutable_rule()->set_dataset("vannstand");
    request.mutable_rule()->set_field("level");
    request.mutable_rule()->set_kind(fv1::ALARM_KIND_ABOVE);
    request.mutable_rule()->set_upper(80);
    request.mutable_rule()->set_hysteresis(5);
    request.mutable_rule()->add_channels(channel.id());
    fv1::AlarmRule rule;
    const grpc::Status status = stubs_["feed-b"]->CreateAlarmRule(ctx.get(), request, &rule);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  AlarmStream stream_b(stubs_["feed-b"].get(), admin_token_, "vannstand");
  ASSERT_TRUE(Eventually([&] { return stream_b.opened(); }));

  // The holder takes the rule in on its next tick (every 200 ms); until it has, a breach may
  // go unseen, so breach again until the alarm is there.
  const absl::Time t0 = absl::Now() - absl::Minutes(10);
  int64_t second = 0;
  Write("kum-1", t0, 70);
  ASSERT_TRUE(Eventually([&] {
    Write("kum-1", t0 + absl::Seconds(++second), 85);
    return !ListAlarms("feed-a").empty();
  })) << "the rule made through feed-b never raised an alarm";
  std::vector<fv1::Alarm> alarms = ListAlarms("feed-b");
  ASSERT_EQ(alarms.size(), 1u) << "one breach, one stored alarm";
  const std::string first_alarm = alarms[0].id();

  // The subscriber on feed-b gets the raise, once.
  ASSERT_TRUE(Eventually([&] { return !stream_b.alarms().empty(); }));
  ASSERT_TRUE(webhook_.WaitForRequests(1, absl::Seconds(20)));

  // Acknowledged through feed-b; then feed-a clears it: the acknowledgement stays.
  {
    auto ctx = PlatformUnderTest::Context(admin_token_);
    fv1::AcknowledgeAlarmRequest request;
    request.set_id(first_alarm);
    fv1::Alarm acked;
    const grpc::Status status = stubs_["feed-b"]->AcknowledgeAlarm(ctx.get(), request, &acked);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(acked.acknowledged_by(), "user:admin");
  }
  Write("kum-1", t0 + absl::Seconds(++second), 74);
  ASSERT_TRUE(Eventually([&] {
    const std::vector<fv1::Alarm> now = ListAlarms("feed-b");
    return now.size() == 1 && now[0].state() == fv1::ALARM_STATE_CLEARED;
  }));
  alarms = ListAlarms("feed-a");
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0].acknowledged_by(), "user:admin") << "the clear kept the acknowledgement";
  ASSERT_TRUE(webhook_.WaitForRequests(3, absl::Seconds(20)));
  ASSERT_TRUE(Eventually([&] { return stream_b.alarms().size() >= 3; }));
  std::vector<std::string> kinds;
  for (const fv1::AlarmEvent& e : stream_b.alarms()) {
    EXPECT_EQ(e.alarm().id(), first_alarm);
    kinds.push_back(fv1::AlarmEventKind_Name(e.kind()));
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"ALARM_EVENT_KIND_RAISED",
                                             "ALARM_EVENT_KIND_ACKNOWLEDGED",
                                             "ALARM_EVENT_KIND_CLEARED"}));

  // A second alarm, still active when the holder dies.
  Write("kum-2", t0 + absl::Seconds(++second), 90);
  ASSERT_TRUE(Eventually([&] { return ListAlarms("feed-b").size() == 2; }));
  ASSERT_TRUE(webhook_.WaitForRequests(4, absl::Seconds(20)));

  // SIGKILL: no release; feed-b takes over once the lease has expired.
  const absl::Time killed = absl::Now();
  ASSERT_EQ(::kill(feeds_["feed-a"]->pid(), SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] { return Leader("feed-b") == 1; }, kLeaseTtl + absl::Seconds(5)));
  // The lease ends at most a ttl after the kill; the survivor asks every renew interval (the
  // rest is slack for a loaded machine).
  EXPECT_LT(absl::Now() - killed, kLeaseTtl + kLeaseRenew + absl::Seconds(2))
      << "within the lease's ttl";
  EXPECT_FALSE(feeds_["feed-b"]->WaitForLogLine({"alarm lease gained", "feed-b"}).empty());

  // feed-b goes on evaluating: a new breach raises once; the active alarm is not raised again,
  // not even by a further breaching reading of its source.
  Write("kum-2", t0 + absl::Seconds(++second), 95);
  Write("kum-3", t0 + absl::Seconds(++second), 70);
  Write("kum-3", t0 + absl::Seconds(++second), 99);
  ASSERT_TRUE(Eventually([&] { return ListAlarms("feed-b").size() == 3; }));
  ASSERT_TRUE(webhook_.WaitForRequests(5, absl::Seconds(20)));
  // A marker after everything above: once its raise is delivered, nothing earlier is pending.
  ASSERT_EQ(platform_.RegisterSource("kum-4", "vannstand"), absl::OkStatus());
  Write("kum-4", t0 + absl::Seconds(++second), 70);
  Write("kum-4", t0 + absl::Seconds(++second), 81);
  ASSERT_TRUE(webhook_.WaitForRequests(6, absl::Seconds(20)));
  // Two outbox workers share the deliveries, so their order is not fixed; their number is.
  std::vector<std::string> delivered = Deliveries();
  std::sort(delivered.begin(), delivered.end());
  EXPECT_EQ(delivered, (std::vector<std::string>{"acknowledged kum-1", "cleared kum-1",
                                                 "raised kum-1", "raised kum-2", "raised kum-3",
                                                 "raised kum-4"}));
  int active = 0;
  for (const fv1::Alarm& alarm : ListAlarms("feed-b")) {
    active += alarm.state() == fv1::ALARM_STATE_RAISED;
  }
  EXPECT_EQ(active, 3);
}

}  // namespace
}  // namespace smartby
