// The ingestion service's MQTT path end to end: a real mosquitto broker
// (tests/support/mosquitto_broker.h), a real libmosquitto publisher standing in for the sensors
// (QoS 1), and smartby-ingestion started with --mqtt_broker, next to real auth and catalogue
// processes (ingestion with its own service account, as in ingestion_integration_test).
// Readings published to smartby/readings/<dataset>/<source_id> must be stored and queryable over
// gRPC; bad messages must not block later ones; and neither a broker restart nor a SIGKILL of
// ingestion may lose a message the broker acknowledged to the publisher.
//
// No sleeps as synchronisation: every wait is on a condition with a deadline (the service's log,
// the publisher's PUBACKs, or the readings as QueryReadings shows them, polled).
#include <mosquitto.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/mosquitto_broker.h"
#include "tests/support/mqtt_publisher.h"
#include "tests/support/platform_under_test.h"

namespace smartby {
namespace {

namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using google::protobuf::util::TimeUtil;
using testing::MosquittoBroker;
using testing::MqttPublisher;
using testing::PlatformUnderTest;
using testing::SensorDataset;
using testing::ServiceProcess;

constexpr absl::Duration kWait = absl::Seconds(120);

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

// {"time":"...","free_spaces":N}
std::string Payload(absl::Time t, int free_spaces) {
  return absl::StrCat(R"({"time":")", Rfc3339(t), R"(","free_spaces":)", free_spaces, "}");
}

// Polls `condition` until it holds or `timeout` passes. For state that is only visible by
// asking (the readings the service has stored); each poll is a gRPC call.
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));  // the poll interval, not a synchronisation
  }
  return true;
}

// The sum of every series of `name` in a Prometheus text exposition whose labels contain all of
// `labels` (e.g. {"outcome=\"handled\""}); -1 when there is none.
double MetricSum(const std::string& exposition, const std::string& name,
                 const std::vector<std::string>& labels = {}) {
  double sum = -1;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    const absl::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;
    bool match = true;
    for (const std::string& label : labels) match = match && absl::StrContains(rest, label);
    if (!match) continue;
    double value = 0;
    if (!absl::SimpleAtod(rest.substr(rest.rfind(' ') + 1), &value)) continue;
    sum = (sum < 0 ? 0 : sum) + value;
  }
  return sum;
}

// Every stored reading of `source`, oldest first, over `stub` with `token`; false when the
// service could not be asked (e.g. it is down).
bool QueryAll(iv1::IngestionService::Stub& stub, const std::string& token,
              const std::string& source, std::vector<iv1::Reading>* out) {
  out->clear();
  iv1::QueryReadingsRequest request;
  request.set_source_id(source);
  request.set_page_size(10000);
  do {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    iv1::QueryReadingsResponse response;
    const grpc::Status status = stub.QueryReadings(&ctx, request, &response);
    if (!status.ok()) return false;
    out->insert(out->end(), response.readings().begin(), response.readings().end());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return true;
}

// A channel that notices a restarted server quickly (gRPC's default reconnect backoff grows to
// minutes).
std::shared_ptr<grpc::Channel> FastReconnectChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// Keeps a publisher at most `lead` messages ahead of what ingestion has stored, the way a fleet
// of sensors publishes at its own pace rather than in one burst: so a stream of a few hundred
// messages is still flowing when the broker or ingestion is taken down. Its own channel, so it
// may be used from the publisher's thread while the test restarts the service (on the same
// port).
class Pacer {
 public:
  Pacer(const std::string& address, std::function<std::string()> token, std::string source,
        int lead)
      : stub_(iv1::IngestionService::NewStub(FastReconnectChannel(address))),
        token_(std::move(token)),
        source_(std::move(source)),
        lead_(lead) {}

  // Before message `i`: waits (with a deadline; the final checks tell if it ran out) until at
  // least i - lead readings are stored.
  void Before(int i) {
    if (i % 10 != 0 || i <= lead_) return;
    std::vector<iv1::Reading> readings;
    Eventually([&] {
      return QueryAll(*stub_, token_(), source_, &readings) &&
             static_cast<int>(readings.size()) >= i - lead_;
    });
  }

 private:
  std::unique_ptr<iv1::IngestionService::Stub> stub_;
  std::function<std::string()> token_;
  const std::string source_;
  const int lead_;
};

class IngestionMqttTest : public ::testing::Test {
 protected:
  // Auth (with a signing key the test holds too), the catalogue with two datasets, and the
  // ingestion service account: once for the suite.
  static void SetUpTestSuite() {
    platform_ = new PlatformUnderTest();
    ASSERT_EQ(platform_->StartAuth(), absl::OkStatus());
    ASSERT_EQ(platform_->CreateServiceAccount("ingestion", {"audit-writer", "platform-service"}),
              absl::OkStatus());
    ASSERT_EQ(platform_->Start("catalogue"), absl::OkStatus());
    for (const char* name : {"mqtt-parkering", "mqtt-annen"}) {
      ASSERT_EQ(platform_->CreateDataset(SensorDataset(
                    name, smartcity::common::v1::CLASSIFICATION_OPEN,
                    {{"free_spaces", cv1::FIELD_TYPE_INTEGER, 0, 2000}})),
                absl::OkStatus());
    }
  }

  static void TearDownTestSuite() {
    delete platform_;
    platform_ = nullptr;
  }

  // A broker and an ingestion service of the test's own (its own database and MQTT client id).
  void SetUp() override {
    ASSERT_TRUE(platform_->IsRunning("catalogue")) << "auth or the catalogue did not start";
    auto broker = MosquittoBroker::Start();
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
    test_name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    StartIngestion();
  }

  void TearDown() override {
    // The channel first: a server with a client connection still open takes seconds to stop.
    stub_.reset();
    platform_->Stop("ingestion");
    broker_.reset();
  }

  static std::string AdminToken() { return platform_->AdminToken(); }

  // Starts ingestion (again: on the same port) on the test's database with the test's stable MQTT
  // client id, and waits until its bridge is subscribed.
  void StartIngestion() {
    ASSERT_EQ(platform_->Start(
                  "ingestion",
                  {platform_->ServiceFlag("catalogue"),
                   absl::StrCat("--database=sqlite://", platform_->dir(), "/ingestion-",
                                test_name_, ".db"),
                   absl::StrCat("--mqtt_broker=127.0.0.1:", broker_->port()),
                   "--mqtt_client_id=smartby-ingestion-" + test_name_}),
              absl::OkStatus());
    stub_ = iv1::IngestionService::NewStub(FastReconnectChannel(Ingestion().grpc_address()));
    ASSERT_NE(Ingestion().WaitForLogLine({"mqtt subscribed"}, kWait), "")
        << "the MQTT bridge did not subscribe; broker log:\n"
        << broker_->Log();
  }

  static ServiceProcess& Ingestion() { return platform_->service("ingestion"); }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + AdminToken());
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return ctx;
  }

  void RegisterSource(const std::string& id, const std::string& dataset) {
    ASSERT_EQ(platform_->RegisterSource(id, dataset), absl::OkStatus());
  }

  // Every stored reading of `source`, oldest first; false when the service could not be asked.
  bool Stored(const std::string& source, std::vector<iv1::Reading>* out) {
    return QueryAll(*stub_, AdminToken(), source, out);
  }

  std::vector<iv1::Reading> StoredOrFail(const std::string& source) {
    std::vector<iv1::Reading> readings;
    EXPECT_TRUE(Stored(source, &readings)) << "QueryReadings of " << source << " failed";
    return readings;
  }

  // Waits until `source` has at least `n` readings stored; returns how many it has.
  int64_t WaitForStored(const std::string& source, int64_t n, absl::Duration timeout = kWait) {
    std::vector<iv1::Reading> readings;
    Eventually(
        [&] { return Stored(source, &readings) && static_cast<int64_t>(readings.size()) >= n; },
        timeout);
    return static_cast<int64_t>(readings.size());
  }

  std::string Metrics() { return testing::HttpGet(Ingestion().metrics_port(), "/metrics").body; }

  static std::string Topic(const std::string& dataset, const std::string& source) {
    return absl::StrCat("smartby/readings/", dataset, "/", source);
  }

  // Stored readings of `source` per time (seconds after `t0`), with how often each is stored.
  std::map<int64_t, int> StoredTimes(const std::string& source, absl::Time t0) {
    std::map<int64_t, int> times;
    for (const iv1::Reading& r : StoredOrFail(source)) {
      ++times[TimeUtil::TimestampToSeconds(r.time()) - absl::ToUnixSeconds(t0)];
    }
    return times;
  }

  static inline PlatformUnderTest* platform_ = nullptr;

  std::string test_name_;
  std::unique_ptr<MosquittoBroker> broker_;
  std::unique_ptr<iv1::IngestionService::Stub> stub_;
};

TEST_F(IngestionMqttTest, PublishedReadingsAreStoredAndQueryable) {
  RegisterSource("garasje-1", "mqtt-parkering");
  RegisterSource("garasje-2", "mqtt-parkering");
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected(kWait));

  const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(1)));
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(publisher
                    .Publish(Topic("mqtt-parkering", "garasje-1"),
                             Payload(t0 + absl::Minutes(i), 12 + i))
                    .ok());
  }
  // An array of readings in one message.
  ASSERT_TRUE(publisher
                  .Publish(Topic("mqtt-parkering", "garasje-2"),
                           absl::StrCat("[", Payload(t0, 100), ",",
                                        Payload(t0 + absl::Seconds(30), 101), "]"))
                  .ok());

  EXPECT_EQ(WaitForStored("garasje-1", 10), 10);
  EXPECT_EQ(WaitForStored("garasje-2", 2), 2);
  const std::vector<iv1::Reading> stored = StoredOrFail("garasje-1");
  ASSERT_EQ(stored.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(TimeUtil::TimestampToSeconds(stored[i].time()),
              absl::ToUnixSeconds(t0 + absl::Minutes(i)));
    EXPECT_EQ(stored[i].values().at("free_spaces").integer_value(), 12 + i);
  }

  // The newest of each source, and per-window aggregates over the dataset.
  {
    auto ctx = Context();
    iv1::GetLatestReadingsRequest request;
    request.set_dataset("mqtt-parkering");
    iv1::GetLatestReadingsResponse response;
    const grpc::Status status = stub_->GetLatestReadings(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    std::map<std::string, int64_t> latest;
    for (const auto& r : response.readings()) {
      latest[r.source_id()] = r.values().at("free_spaces").integer_value();
    }
    EXPECT_EQ(latest["garasje-1"], 21);
    EXPECT_EQ(latest["garasje-2"], 101);
  }
  {
    auto ctx = Context();
    iv1::AggregateReadingsRequest request;
    request.set_source_id("garasje-1");
    request.set_field("free_spaces");
    *request.mutable_start_time() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(t0));
    *request.mutable_end_time() =
        TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(t0 + absl::Minutes(10)));
    *request.mutable_window() = TimeUtil::SecondsToDuration(300);
    iv1::AggregateReadingsResponse response;
    const grpc::Status status = stub_->AggregateReadings(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.windows_size(), 2);
    EXPECT_EQ(response.windows(0).count(), 5);
    EXPECT_DOUBLE_EQ(response.windows(0).mean(), 14);
  }

  // Sending a message again changes nothing.
  ASSERT_TRUE(
      publisher.Publish(Topic("mqtt-parkering", "garasje-1"), Payload(t0, 999)).ok());
  ASSERT_TRUE(publisher
                  .Publish(Topic("mqtt-parkering", "garasje-2"),
                           Payload(t0 + absl::Minutes(1), 102))
                  .ok());
  EXPECT_EQ(WaitForStored("garasje-2", 3), 3);  // the later message is through, so is the resend
  const std::vector<iv1::Reading> after = StoredOrFail("garasje-1");
  ASSERT_EQ(after.size(), 10u);
  EXPECT_EQ(after[0].values().at("free_spaces").integer_value(), 12);
  const std::string metrics = Metrics();
  EXPECT_GE(MetricSum(metrics, "smartby_ingestion_readings_total", {"outcome=\"duplicate\""}), 1)
      << metrics;
  EXPECT_EQ(MetricSum(metrics, "smartby_ingestion_mqtt_connected"), 1) << metrics;
}

TEST_F(IngestionMqttTest, BadMessagesAreNotStoredAndDoNotBlockLaterOnes) {
  RegisterSource("sensor-1", "mqtt-parkering");
  RegisterSource("fremmed-1", "mqtt-annen");
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected(kWait));
  const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(2)));
  const std::string topic = Topic("mqtt-parkering", "sensor-1");

  // Not JSON; a value of the wrong type; out of range; no time; a future time.
  ASSERT_TRUE(publisher.Publish(topic, "dette er ikke json {").ok());
  ASSERT_TRUE(
      publisher.Publish(topic, R"({"time":")" + Rfc3339(t0) + R"(","free_spaces":"mange"})")
          .ok());
  ASSERT_TRUE(publisher.Publish(topic, Payload(t0 + absl::Seconds(1), 5000)).ok());
  ASSERT_TRUE(publisher.Publish(topic, R"({"free_spaces":3})").ok());
  ASSERT_TRUE(publisher.Publish(topic, Payload(absl::Now() + absl::Hours(2), 3)).ok());
  // A source of another dataset than the topic names, and a source nobody registered.
  ASSERT_TRUE(
      publisher.Publish(Topic("mqtt-parkering", "fremmed-1"), Payload(t0 + absl::Seconds(2), 7))
          .ok());
  ASSERT_TRUE(
      publisher.Publish(Topic("mqtt-parkering", "ukjent-1"), Payload(t0 + absl::Seconds(3), 7))
          .ok());
  // A topic outside the layout, and a dataset the catalogue does not have.
  ASSERT_TRUE(publisher.Publish("smartby/readings/mqtt-parkering", Payload(t0, 1)).ok());
  ASSERT_TRUE(publisher.Publish(Topic("finnes-ikke", "sensor-1"), Payload(t0, 1)).ok());

  // Later good messages get through.
  ASSERT_TRUE(publisher.Publish(topic, Payload(t0 + absl::Seconds(10), 42)).ok());
  ASSERT_TRUE(
      publisher.Publish(Topic("mqtt-annen", "fremmed-1"), Payload(t0 + absl::Seconds(11), 8))
          .ok());
  ASSERT_TRUE(publisher.Publish(topic, Payload(t0 + absl::Seconds(12), 43)).ok());

  EXPECT_EQ(WaitForStored("sensor-1", 2), 2);
  EXPECT_EQ(WaitForStored("fremmed-1", 1), 1);
  const std::vector<iv1::Reading> stored = StoredOrFail("sensor-1");
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].values().at("free_spaces").integer_value(), 42);
  EXPECT_EQ(stored[1].values().at("free_spaces").integer_value(), 43);
  // The other dataset's source has only the reading published on its own dataset's topic.
  const std::vector<iv1::Reading> other = StoredOrFail("fremmed-1");
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(TimeUtil::TimestampToSeconds(other[0].time()),
            absl::ToUnixSeconds(t0 + absl::Seconds(11)));

  // Every message was handled for good (none left for redelivery), the bad ones counted.
  const std::string metrics = Metrics();
  EXPECT_GE(MetricSum(metrics, "smartby_ingestion_mqtt_messages_total", {"outcome=\"handled\""}),
            12)
      << metrics;
  EXPECT_EQ(MetricSum(metrics, "smartby_ingestion_mqtt_messages_total", {"outcome=\"retry\""}), 0)
      << metrics;
  EXPECT_GE(MetricSum(metrics, "smartby_ingestion_rejected_readings_total"), 7) << metrics;
  EXPECT_GE(MetricSum(metrics, "smartby_ingestion_rejected_readings_total",
                      {"reason=\"not_allowed\""}),
            1)
      << metrics;
}

// What PublishAll did.
struct PublishLog {
  std::vector<bool> acknowledged;  // per message: the broker's PUBACK came
  int failed_first_time = 0;
  int republished = 0;
};

// Publishes `count` readings to `topic` (times t0 + i s) with QoS 1, then publishes again every
// one the broker did not acknowledge, until each is acknowledged. `during(i)` runs before
// message i is first published.

PublishLog PublishAll(MqttPublisher& publisher, const std::string& topic, absl::Time t0,
                      int count, const std::function<void(int)>& during) {
  PublishLog log;
  log.acknowledged.assign(count, false);
  for (int i = 0; i < count; ++i) {
    during(i);
    // A short wait for the PUBACK: while the broker is away, the publisher moves on and
    // publishes the message again later (libmosquitto may also send its queued copy once it has
    // reconnected: the broker then has it twice, and ingestion must store it once).
    const absl::Status published = publisher.Publish(
        topic, Payload(t0 + absl::Seconds(i), i % 2000), /*qos=*/1, absl::Milliseconds(500));
    log.acknowledged[i] = published.ok();
    if (!published.ok()) {
      ++log.failed_first_time;
      publisher.WaitConnected(kWait);  // the broker is back (or this times out); go on
    }
  }
  const absl::Time deadline = absl::Now() + kWait;
  while (std::count(log.acknowledged.begin(), log.acknowledged.end(), false) > 0 &&
         absl::Now() < deadline) {
    if (!publisher.WaitConnected(kWait)) break;
    for (int i = 0; i < count; ++i) {
      if (log.acknowledged[i]) continue;
      ++log.republished;
      log.acknowledged[i] =
          publisher.Publish(topic, Payload(t0 + absl::Seconds(i), i % 2000)).ok();
    }
  }
  return log;
}

TEST_F(IngestionMqttTest, BrokerRestartMidStreamStoresEveryAcknowledgedMessageOnce) {
  RegisterSource("restart-1", "mqtt-parkering");
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected(kWait));
  const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(3)));
  constexpr int kMessages = 500;
  Pacer pacer(Ingestion().grpc_address(), &AdminToken, "restart-1", /*lead=*/100);

  // Halfway through, the broker is restarted beside the publishing loop, which goes on: messages
  // are in flight everywhere when it goes (sensor to broker, queued in the broker, broker to
  // ingestion, ingestion's PUBACKs), and what the publisher got no PUBACK for it publishes again.
  int64_t stored_before_restart = -1;
  absl::Status restarted = absl::UnknownError("not restarted");
  std::thread restarter;
  const PublishLog log =
      PublishAll(publisher, Topic("mqtt-parkering", "restart-1"), t0, kMessages, [&](int i) {
        pacer.Before(i);
        if (i != kMessages / 2) return;
        restarter = std::thread([&] {
          std::vector<iv1::Reading> readings;
          if (Stored("restart-1", &readings)) {
            stored_before_restart = static_cast<int64_t>(readings.size());
          }
          restarted = broker_->Restart();
        });
      });
  restarter.join();
  const std::string publishing = absl::StrCat(
      "restarted with ", stored_before_restart, " stored; ", log.failed_first_time,
      " messages not acknowledged at first, ", log.republished, " published again");
  RecordProperty("publishing", publishing);
  ASSERT_TRUE(restarted.ok()) << restarted;
  ASSERT_EQ(std::count(log.acknowledged.begin(), log.acknowledged.end(), false), 0) << publishing;

  const int64_t stored = WaitForStored("restart-1", kMessages);
  const std::map<int64_t, int> times = StoredTimes("restart-1", t0);
  int missing = 0, more_than_once = 0;
  for (int i = 0; i < kMessages; ++i) {
    auto it = times.find(i);
    if (it == times.end()) {
      ++missing;
    } else if (it->second != 1) {
      ++more_than_once;
    }
  }
  EXPECT_EQ(missing, 0) << stored << " stored; " << publishing;
  EXPECT_EQ(more_than_once, 0) << publishing;
  EXPECT_EQ(times.size(), static_cast<size_t>(kMessages)) << "nothing but what was published";
  EXPECT_GE(stored_before_restart, 0);
  EXPECT_LT(stored_before_restart, kMessages) << "the restart came mid-stream";

  // The bridge came back by itself.
  EXPECT_TRUE(Eventually([&] {
    const std::string metrics = Metrics();
    return MetricSum(metrics, "smartby_ingestion_mqtt_reconnects_total") >= 1 &&
           MetricSum(metrics, "smartby_ingestion_mqtt_connected") == 1;
  })) << Metrics();
}

TEST_F(IngestionMqttTest, IngestionKilledMidStreamLosesNoAcknowledgedMessage) {
  RegisterSource("krasj-1", "mqtt-parkering");
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected(kWait));
  const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(4)));
  constexpr int kMessages = 1000;
  Pacer pacer(Ingestion().grpc_address(), &AdminToken, "krasj-1", /*lead=*/150);

  // Publishing goes on the whole time, beside the kill and the restart: the broker keeps what
  // ingestion's persistent session has not acknowledged.
  PublishLog log;
  std::atomic<int> published{0};
  std::thread sensor([&] {
    log = PublishAll(publisher, Topic("mqtt-parkering", "krasj-1"), t0, kMessages, [&](int i) {
      pacer.Before(i);
      published = i;
    });
  });
  const int64_t stored_before_kill = WaitForStored("krasj-1", 200);
  const int published_at_kill = published.load();
  ASSERT_EQ(::kill(Ingestion().pid(), SIGKILL), 0);
  stub_.reset();
  platform_->Stop("ingestion");  // reaps it
  StartIngestion();  // the same port, database and --mqtt_client_id
  sensor.join();
  ASSERT_TRUE(platform_->IsRunning("ingestion"));
  const std::string publishing =
      absl::StrCat("killed with ", stored_before_kill, " stored and ", published_at_kill,
                   " published; ", log.failed_first_time, " not acknowledged at first");
  RecordProperty("publishing", publishing);
  ASSERT_EQ(std::count(log.acknowledged.begin(), log.acknowledged.end(), false), 0) << publishing;
  EXPECT_GE(stored_before_kill, 200) << publishing;
  EXPECT_LT(published_at_kill, kMessages - 1) << "the kill came mid-stream; " << publishing;

  const int64_t stored = WaitForStored("krasj-1", kMessages);
  const std::map<int64_t, int> times = StoredTimes("krasj-1", t0);
  int missing = 0;
  for (int i = 0; i < kMessages; ++i) missing += times.count(i) == 0;
  EXPECT_EQ(missing, 0) << "stored " << stored << " of " << kMessages << "; " << publishing;
  int more_than_once = 0, unexpected = 0;
  for (const auto& [t, n] : times) {
    more_than_once += n != 1;
    unexpected += t < 0 || t >= kMessages;
  }
  EXPECT_EQ(more_than_once, 0) << publishing;
  EXPECT_EQ(unexpected, 0) << publishing;
  // The session was kept: the restarted bridge found it on the broker.
  EXPECT_NE(Ingestion().WaitForLogLine({"mqtt connected", "\"session_present\":true"}), "");
}

}  // namespace
}  // namespace smartby
