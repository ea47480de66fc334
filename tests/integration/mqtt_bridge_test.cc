// The MQTT bridge against a real mosquitto broker (tests/support/mosquitto_broker.h), with a
// real libmosquitto publisher standing in for the sensors. No sleeps as synchronisation: every
// wait is on a condition with a deadline.
#include "services/ingestion/mqtt_bridge.h"

#include <mosquitto.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/support/mosquitto_broker.h"
#include "tests/support/mqtt_publisher.h"
#include "tests/support/service_process.h"
#include "tests/support/test_pki.h"

namespace smartby::ingestion {
namespace {

using ::smartby::testing::MosquittoBroker;
using ::smartby::testing::MosquittoBrokerOptions;
using ::smartby::testing::MqttPublisher;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

constexpr absl::Duration kWait = absl::Seconds(30);

// ---------------------------------------------------------------------------------------------
// Test helpers

// Every handler call, in order, and what the handler answered.
struct Call {
  std::string topic;
  std::string payload;
  bool ok = false;
};

// The handler under test's control. `decide` says what the handler returns for a message, given
// how often the same payload was seen before; by default OK. It runs outside the recorder's lock,
// so it may block.
class Recorder {
 public:
  using Decide = std::function<absl::Status(absl::string_view payload, int seen_before)>;

  void set_decide(Decide decide) {
    absl::MutexLock lock(&mu_);
    decide_ = std::move(decide);
  }

  MqttMessageHandler handler() {
    return [this](absl::string_view topic, absl::string_view payload) {
      Decide decide;
      int seen_before = 0;
      {
        absl::MutexLock lock(&mu_);
        decide = decide_;
        for (const Call& c : calls_) seen_before += c.payload == payload ? 1 : 0;
      }
      const absl::Status status = decide ? decide(payload, seen_before) : absl::OkStatus();
      absl::MutexLock lock(&mu_);
      calls_.push_back({std::string(topic), std::string(payload), status.ok()});
      return status;
    };
  }

  bool WaitUntil(const std::function<bool(const std::vector<Call>&)>& done,
                 absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    const auto met = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done(calls_); };
    return mu_.AwaitWithTimeout(absl::Condition(&met), timeout);
  }

  // Waits until every one of `payloads` was handled OK at least once.
  bool WaitForHandled(const std::vector<std::string>& payloads, absl::Duration timeout = kWait) {
    return WaitUntil(
        [&](const std::vector<Call>& calls) {
          std::set<std::string> handled;
          for (const Call& c : calls) {
            if (c.ok) handled.insert(c.payload);
          }
          return std::all_of(payloads.begin(), payloads.end(),
                             [&](const std::string& p) { return handled.count(p) > 0; });
        },
        timeout);
  }

  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

  std::vector<std::string> HandledPayloads() const {
    std::vector<std::string> out;
    for (const Call& c : calls()) {
      if (c.ok) out.push_back(c.payload);
    }
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  Decide decide_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

// The value of one series of `name` (counter or gauge); -1 when there is no such series.
double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      bool match = true;
      for (const auto& [key, value] : labels) {
        match = match && std::any_of(metric.label.begin(), metric.label.end(),
                                     [&](const prometheus::ClientMetric::Label& l) {
                                       return l.name == key && l.value == value;
                                     });
      }
      if (!match) continue;
      return family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  return -1;
}

// Polls `condition` until it holds or `timeout` passes (for state only visible by polling:
// metrics, the broker's log file).
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

int Occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

class MqttBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = MosquittoBroker::Start();
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
  }

  MqttBridgeOptions Options(std::vector<std::string> topics = {"smartby/readings/#"}) {
    MqttBridgeOptions options;
    options.host = broker_->host();
    options.port = broker_->port();
    options.topics = std::move(topics);
    options.client_id = absl::StrCat(
        "smartby-test-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    options.reconnect_min = absl::Milliseconds(50);
    options.reconnect_max = absl::Milliseconds(500);
    return options;
  }

  std::unique_ptr<MqttBridge> StartBridge(MqttBridgeOptions options) {
    auto bridge = MqttBridge::Start(std::move(options), recorder_.handler(), &registry_);
    EXPECT_TRUE(bridge.ok()) << bridge.status();
    if (!bridge.ok()) return nullptr;
    return std::move(*bridge);
  }

  double Messages(const std::string& outcome) {
    return MetricValue(registry_, "smartby_ingestion_mqtt_messages_total",
                       {{"outcome", outcome}});
  }

  std::unique_ptr<MosquittoBroker> broker_;
  prometheus::Registry registry_;
  Recorder recorder_;
};

// ---------------------------------------------------------------------------------------------
// Delivery

TEST_F(MqttBridgeTest, DeliversQos1MessagesExactlyAsSent) {
  auto bridge = StartBridge(Options());
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected());

  std::string binary("\x00\x01\xff\xfe\r\n\x00", 7);
  std::string large(64 * 1024, '\0');
  absl::BitGen random;
  for (char& c : large) c = static_cast<char>(absl::Uniform<int>(random, 0, 256));
  const std::vector<std::pair<std::string, std::string>> sent = {
      {"smartby/readings/tromso-1/temperature", "21.5"},
      {"smartby/readings/tromso-1/raw", binary},
      {"smartby/readings/tromso-2/empty", ""},
      {"smartby/readings/tromsø-3/json", R"({"sted":"Tromsø","verdi":-3.25})"},
      {"smartby/readings/tromso-4/large", large},
  };
  for (const auto& [topic, payload] : sent) {
    ASSERT_TRUE(publisher.Publish(topic, payload).ok());
  }

  ASSERT_TRUE(recorder_.WaitUntil([&](const std::vector<Call>& calls) {
    return calls.size() >= sent.size();
  }));
  const std::vector<Call> calls = recorder_.calls();
  ASSERT_EQ(calls.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(calls[i].topic, sent[i].first);
    EXPECT_EQ(calls[i].payload, sent[i].second) << "message " << i;
  }
  EXPECT_TRUE(bridge->connected());
  // The handler returns before the bridge counts its answer.
  EXPECT_TRUE(Eventually([&] { return Messages("handled") == 5; })) << Messages("handled");
  EXPECT_EQ(MetricValue(registry_, "smartby_ingestion_mqtt_connected"), 1);
}

TEST_F(MqttBridgeTest, WildcardSubscriptionsSelectTheTopics) {
  auto bridge = StartBridge(Options({"smartby/readings/+/temperature", "smartby/status/#"}));
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected());

  for (const std::string topic : {
           "smartby/readings/s1/temperature",    // + matches one level
           "smartby/readings/s1/humidity",       // other leaf
           "smartby/readings/s1/x/temperature",  // + does not match two levels
           "smartby/status",                     // # matches the parent level too
           "smartby/status/s1/battery",          // and any depth below it
           "other/smartby/status/s1",            // not anchored at the start
           "smartby/status/end",                 // the last one, to know when to look
       }) {
    ASSERT_TRUE(publisher.Publish(topic, "x").ok()) << topic;
  }

  ASSERT_TRUE(recorder_.WaitUntil([](const std::vector<Call>& calls) {
    return !calls.empty() && calls.back().topic == "smartby/status/end";
  }));
  std::vector<std::string> topics;
  for (const Call& c : recorder_.calls()) topics.push_back(c.topic);
  EXPECT_THAT(topics, ElementsAre("smartby/readings/s1/temperature", "smartby/status",
                                  "smartby/status/s1/battery", "smartby/status/end"));
}

// ---------------------------------------------------------------------------------------------
// No loss across broker restarts and absences

TEST_F(MqttBridgeTest, BrokerRestartMidStreamLosesNoAcknowledgedMessage) {
  auto bridge = StartBridge(Options());
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected());

  constexpr int kMessages = 300;
  std::vector<std::string> payloads;
  for (int i = 0; i < kMessages; ++i) payloads.push_back(absl::StrCat("reading-", i));
  std::vector<bool> acknowledged(kMessages, false);

  // The restart runs beside the publishing loop, once the bridge is handling the stream, so
  // messages are in flight in every direction when the broker goes down: sensor to broker,
  // queued in the broker, broker to bridge. The second half is published after the restart.
  size_t handled_before_restart = 0;
  absl::Status restarted = absl::UnknownError("not restarted");
  std::thread restarter([&] {
    if (!recorder_.WaitUntil([](const std::vector<Call>& calls) { return calls.size() >= 30; })) {
      restarted = absl::DeadlineExceededError("the bridge handled fewer than 30 messages");
      return;
    }
    handled_before_restart = recorder_.calls().size();
    restarted = broker_->Restart();
  });
  int failed_first_time = 0;
  for (int i = 0; i < kMessages; ++i) {
    if (i == kMessages / 2) restarter.join();
    const absl::Status published =
        publisher.Publish("smartby/readings/s/temperature", payloads[i], 1, absl::Seconds(1));
    acknowledged[i] = published.ok();
    if (!published.ok()) {
      ++failed_first_time;
      publisher.WaitConnected();  // the broker is back; go on
    }
  }
  ASSERT_TRUE(restarted.ok()) << restarted;

  // The sensor publishes again what the broker did not acknowledge.
  int republished = 0;
  const absl::Time deadline = absl::Now() + kWait;
  while (std::count(acknowledged.begin(), acknowledged.end(), false) > 0 &&
         absl::Now() < deadline) {
    ASSERT_TRUE(publisher.WaitConnected());
    for (int i = 0; i < kMessages; ++i) {
      if (acknowledged[i]) continue;
      ++republished;
      acknowledged[i] =
          publisher.Publish("smartby/readings/s/temperature", payloads[i], 1).ok();
    }
  }
  ASSERT_EQ(std::count(acknowledged.begin(), acknowledged.end(), false), 0);

  EXPECT_TRUE(recorder_.WaitForHandled(payloads))
      << "handled " << recorder_.HandledPayloads().size() << " calls for " << kMessages
      << " messages; restarted after " << handled_before_restart << " handled; "
      << failed_first_time << " not acknowledged at first, republished "
      << republished;
  EXPECT_TRUE(bridge->WaitForSubscribed(kWait));
  EXPECT_GE(MetricValue(registry_, "smartby_ingestion_mqtt_reconnects_total"), 1);
  EXPECT_EQ(MetricValue(registry_, "smartby_ingestion_mqtt_connected"), 1);
}

TEST_F(MqttBridgeTest, MessagesPublishedWhileTheBridgeIsAwayArriveWhenItIsBack) {
  {
    auto first = StartBridge(Options());
    ASSERT_NE(first, nullptr);
    ASSERT_TRUE(first->WaitForSubscribed(kWait));  // the broker now holds the session
    first->Stop();
  }
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected());
  std::vector<std::string> payloads;
  for (int i = 0; i < 50; ++i) {
    payloads.push_back(absl::StrCat("while-away-", i));
    ASSERT_TRUE(publisher.Publish("smartby/readings/s/temperature", payloads.back()).ok());
  }

  auto second = StartBridge(Options());  // same client id
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(recorder_.WaitForHandled(payloads));
  EXPECT_THAT(recorder_.HandledPayloads(), ElementsAreArray(payloads));
}

TEST_F(MqttBridgeTest, SubscribesAgainWhenTheBrokerLostTheSession) {
  auto bridge = StartBridge(Options());
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));

  // Killed before it ever saved: the restarted broker knows neither the session nor its
  // subscription; only the bridge subscribing again brings messages.
  broker_->Kill9();
  ASSERT_TRUE(Eventually([&] { return !bridge->connected(); }));
  ASSERT_TRUE(broker_->Restart().ok());
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));

  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected());
  ASSERT_TRUE(publisher.Publish("smartby/readings/s/temperature", "after-loss").ok());
  EXPECT_TRUE(recorder_.WaitForHandled({"after-loss"}));
}

TEST_F(MqttBridgeTest, ConnectsOnceTheBrokerComesUp) {
  ASSERT_TRUE(broker_->Stop().ok());
  auto bridge = StartBridge(Options());
  ASSERT_NE(bridge, nullptr);
  EXPECT_FALSE(bridge->connected());

  ASSERT_TRUE(broker_->Restart().ok());
  EXPECT_TRUE(bridge->WaitForSubscribed(kWait));
  EXPECT_EQ(MetricValue(registry_, "smartby_ingestion_mqtt_connected"), 1);
}

// ---------------------------------------------------------------------------------------------
// Acknowledgement only after the handler (see the PUBACK notes in mqtt_bridge.h)

TEST_F(MqttBridgeTest, HandlerUnavailableGetsTheMessageAgain) {
  recorder_.set_decide([](absl::string_view payload, int seen_before) {
    if (payload == "database-down" && seen_before < 2) {
      return absl::UnavailableError("database is down");
    }
    return absl::OkStatus();
  });
  auto bridge = StartBridge(Options());
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected());

  for (const std::string payload : {"before", "database-down", "after"}) {
    ASSERT_TRUE(publisher.Publish("smartby/readings/s/temperature", payload).ok());
  }

  ASSERT_TRUE(recorder_.WaitForHandled({"before", "database-down", "after"}));
  int failed = 0;
  int succeeded = 0;
  for (const Call& c : recorder_.calls()) {
    if (c.payload != "database-down") continue;
    (c.ok ? succeeded : failed) += 1;
  }
  EXPECT_EQ(failed, 2);
  EXPECT_EQ(succeeded, 1);
  EXPECT_GE(Messages("retry"), 2);
  EXPECT_TRUE(Eventually([&] { return Messages("handled") >= 3; })) << Messages("handled");
  EXPECT_GE(MetricValue(registry_, "smartby_ingestion_mqtt_reconnects_total"), 2);
}

TEST_F(MqttBridgeTest, Qos0MessageTheHandlerFailsOnIsCountedLostWithoutReconnecting) {
  recorder_.set_decide([](absl::string_view payload, int) {
    return payload == "qos0" ? absl::UnavailableError("database is down") : absl::OkStatus();
  });
  auto bridge = StartBridge(Options());
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected());

  ASSERT_TRUE(publisher.Publish("smartby/readings/s/temperature", "qos0", /*qos=*/0).ok());
  ASSERT_TRUE(publisher.Publish("smartby/readings/s/temperature", "qos1").ok());

  ASSERT_TRUE(recorder_.WaitUntil([](const std::vector<Call>& calls) {
    return calls.size() >= 2;
  }));
  EXPECT_EQ(recorder_.calls().size(), 2u);  // no redelivery is possible for QoS 0
  EXPECT_EQ(recorder_.HandledPayloads(), std::vector<std::string>{"qos1"});
  EXPECT_TRUE(Eventually([&] { return Messages("lost") == 1; })) << Messages("lost");
  EXPECT_EQ(Messages("retry"), 0);
  EXPECT_EQ(MetricValue(registry_, "smartby_ingestion_mqtt_reconnects_total"), 0);
}

TEST_F(MqttBridgeTest, AcknowledgesOnlyAfterTheHandlerReturned) {
  // The handler holds the message while the broker restarts. Had the PUBACK left before the
  // handler was called, the broker would have forgotten the message; it was not acknowledged,
  // so the broker keeps it in the session and sends it again after the reconnect.
  absl::Notification entered;
  absl::Notification release;
  recorder_.set_decide([&](absl::string_view, int seen_before) {
    if (seen_before == 0) {
      entered.Notify();
      release.WaitForNotification();
    }
    return absl::OkStatus();
  });
  auto bridge = StartBridge(Options());
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));
  {
    MqttPublisher publisher(broker_->port());
    ASSERT_TRUE(publisher.WaitConnected());
    ASSERT_TRUE(publisher.Publish("smartby/readings/s/temperature", "held").ok());
  }
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kWait));

  ASSERT_TRUE(broker_->Restart().ok());
  release.Notify();

  EXPECT_TRUE(recorder_.WaitUntil([](const std::vector<Call>& calls) {
    return calls.size() >= 2;
  })) << "the broker did not deliver the held message again: it had been acknowledged";
  for (const Call& c : recorder_.calls()) EXPECT_EQ(c.payload, "held");
}

// ---------------------------------------------------------------------------------------------
// Limits, shutdown, configuration

TEST_F(MqttBridgeTest, OversizedPayloadIsDroppedAndCounted) {
  auto bridge = StartBridge(Options());
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));
  MqttPublisher publisher(broker_->port());
  ASSERT_TRUE(publisher.WaitConnected());

  const std::string at_limit(size_t{1} << 20, 'a');
  const std::string over_limit((size_t{1} << 20) + 1, 'b');
  ASSERT_TRUE(publisher.Publish("smartby/readings/s/blob", at_limit).ok());
  ASSERT_TRUE(publisher.Publish("smartby/readings/s/blob", over_limit).ok());
  ASSERT_TRUE(publisher.Publish("smartby/readings/s/temperature", "after").ok());

  ASSERT_TRUE(recorder_.WaitForHandled({"after"}));
  const std::vector<Call> calls = recorder_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].payload, at_limit);
  EXPECT_EQ(calls[1].payload, "after");
  EXPECT_EQ(Messages("oversize"), 1);
  EXPECT_TRUE(Eventually([&] { return Messages("handled") == 2; })) << Messages("handled");
  EXPECT_EQ(Messages("retry"), 0);
  EXPECT_TRUE(bridge->connected());
}

TEST_F(MqttBridgeTest, StopWhileConnectedReturnsPromptlyAndDisconnectsCleanly) {
  MqttBridgeOptions options = Options();
  const std::string client_id = options.client_id;
  auto bridge = StartBridge(std::move(options));
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait));

  const absl::Time start = absl::Now();
  bridge->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_FALSE(bridge->connected());
  EXPECT_EQ(MetricValue(registry_, "smartby_ingestion_mqtt_connected"), 0);
  // A DISCONNECT packet, not a dropped socket ("closed its connection").
  EXPECT_TRUE(Eventually([&] {
    return absl::StrContains(broker_->Log(), absl::StrCat("Client ", client_id, " disconnected"));
  })) << broker_->Log();
  bridge->Stop();  // idempotent
}

TEST_F(MqttBridgeTest, StopWhileTheBrokerIsDownReturnsPromptly) {
  ASSERT_TRUE(broker_->Stop().ok());
  MqttBridgeOptions options = Options();
  options.reconnect_min = absl::Seconds(5);
  options.reconnect_max = absl::Seconds(30);
  auto bridge = StartBridge(std::move(options));
  ASSERT_NE(bridge, nullptr);

  const absl::Time start = absl::Now();
  bridge->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST(MqttBridgeOptionsTest, StartRejectsInvalidOptions) {
  const MqttMessageHandler ok = [](absl::string_view, absl::string_view) {
    return absl::OkStatus();
  };
  MqttBridgeOptions valid;
  valid.topics = {"smartby/readings/#"};
  valid.client_id = "smartby-ingestion-test";

  const std::vector<std::pair<std::string, std::function<void(MqttBridgeOptions&)>>> cases = {
      {"topics", [](MqttBridgeOptions& o) { o.topics.clear(); }},
      {"topics[0]", [](MqttBridgeOptions& o) { o.topics = {"smartby/#/readings"}; }},
      {"topics[1]", [](MqttBridgeOptions& o) { o.topics = {"a/+", "a/b+"}; }},
      {"client_id", [](MqttBridgeOptions& o) { o.client_id.clear(); }},
      {"port", [](MqttBridgeOptions& o) { o.port = 0; }},
      {"password", [](MqttBridgeOptions& o) { o.password = "secret"; }},
      {"cert_file", [](MqttBridgeOptions& o) { o.cert_file = "client.crt"; }},
      {"keepalive_seconds", [](MqttBridgeOptions& o) { o.keepalive_seconds = 1; }},
      {"reconnect_min", [](MqttBridgeOptions& o) { o.reconnect_max = absl::Milliseconds(1); }},
      {"ca_file", [](MqttBridgeOptions& o) { o.ca_file = "/nonexistent/ca.crt"; }},
  };
  for (const auto& [field, spoil] : cases) {
    MqttBridgeOptions options = valid;
    spoil(options);
    auto bridge = MqttBridge::Start(options, ok, nullptr);
    ASSERT_FALSE(bridge.ok()) << field;
    EXPECT_EQ(bridge.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(std::string(bridge.status().message()), ::testing::HasSubstr(field));
    EXPECT_THAT(std::string(bridge.status().message()), ::testing::Not(::testing::HasSubstr("secret")));
  }
  EXPECT_FALSE(MqttBridge::Start(valid, nullptr, nullptr).ok());
}

TEST(MqttBridgeBackoffTest, DoublesFromMinimumToMaximumWithJitter) {
  MqttBridgeOptions options;
  options.reconnect_min = absl::Milliseconds(200);
  options.reconnect_max = absl::Seconds(10);
  absl::BitGen random;
  for (int i = 0; i < 100; ++i) {
    const absl::Duration first = MqttBridge::ReconnectBackoff(1, options, random);
    EXPECT_GE(first, absl::Milliseconds(100));
    EXPECT_LE(first, absl::Milliseconds(200));
    const absl::Duration third = MqttBridge::ReconnectBackoff(3, options, random);
    EXPECT_GE(third, absl::Milliseconds(400));
    EXPECT_LE(third, absl::Milliseconds(800));
    const absl::Duration late = MqttBridge::ReconnectBackoff(50, options, random);
    EXPECT_GE(late, absl::Seconds(5));
    EXPECT_LE(late, absl::Seconds(10));
  }
}

// ---------------------------------------------------------------------------------------------
// Credentials

TEST(MqttBridgeAuthTest, ConnectsWithCredentialsAndNeverLogsThem) {
  testing::TempDir dir;
  const std::string password_file = dir.path() + "/passwords";
  const std::string password = "Hemmelig-passord-42";
  const testing::CommandResult made = testing::RunCommand(
      {"/usr/bin/mosquitto_passwd", "-b", "-c", password_file, "ingestion", password});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  MosquittoBrokerOptions broker_options;
  broker_options.password_file = password_file;
  auto broker = MosquittoBroker::Start(broker_options);
  ASSERT_TRUE(broker.ok()) << broker.status();
  Recorder recorder;
  const auto options = [&](const std::string& client_id, const std::string& secret) {
    MqttBridgeOptions o;
    o.port = (*broker)->port();
    o.topics = {"smartby/readings/#"};
    o.client_id = client_id;
    o.username = "ingestion";
    o.password = secret;
    o.reconnect_min = absl::Milliseconds(50);
    o.reconnect_max = absl::Milliseconds(200);
    return o;
  };

  // mosquitto names no client id in this line; the readiness probe caused the first ones.
  const std::string kRefused = "disconnected, not authorised";
  const int refused_before = Occurrences((*broker)->Log(), kRefused);
  ::testing::internal::CaptureStdout();  // the bridge's JSON log
  auto good = MqttBridge::Start(options("smartby-test-good", password), recorder.handler(),
                                nullptr);
  auto bad = MqttBridge::Start(options("smartby-test-bad", "Feil-passord-17"), recorder.handler(),
                               nullptr);
  if (!good.ok() || !bad.ok()) {
    ::testing::internal::GetCapturedStdout();
    FAIL() << good.status() << " " << bad.status();
  }
  const bool subscribed = (*good)->WaitForSubscribed(kWait);
  // Several refusals of the bad client, so that the bridge has certainly handled (and logged)
  // the first one before it is stopped: the broker logs a refusal before the client reads it.
  const bool refused_twice = Eventually([&] {
    return Occurrences((*broker)->Log(), kRefused) >= refused_before + 4;
  });
  const bool bad_connected = (*bad)->connected();
  (*good)->Stop();
  (*bad)->Stop();
  const std::string log = ::testing::internal::GetCapturedStdout();

  EXPECT_TRUE(subscribed) << (*broker)->Log();
  EXPECT_TRUE(refused_twice) << (*broker)->Log();
  EXPECT_FALSE(bad_connected);
  EXPECT_TRUE(absl::StrContains(log, "not authorised")) << log;
  EXPECT_FALSE(absl::StrContains(log, password)) << log;
  EXPECT_FALSE(absl::StrContains(log, "Feil-passord-17")) << log;
}

// ---------------------------------------------------------------------------------------------
// TLS

class MqttBridgeTlsTest : public MqttBridgeTest {
 protected:
  void SetUp() override {
    auto pki = testing::MakeTestCertificates(pki_dir_.path());
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    MosquittoBrokerOptions options;
    options.tls.certfile = pki_.cert_file;
    options.tls.keyfile = pki_.key_file;
    auto broker = MosquittoBroker::Start(options);
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
  }
  testing::TempDir pki_dir_;
  testing::TestCertificates pki_;
};

TEST_F(MqttBridgeTlsTest, DeliversOverTlsVerifyingTheBroker) {
  MqttBridgeOptions options = Options();
  options.ca_file = pki_.ca_file;
  auto bridge = StartBridge(std::move(options));
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->WaitForSubscribed(kWait)) << broker_->Log();

  MqttPublisher publisher(broker_->port(), pki_.ca_file);
  ASSERT_TRUE(publisher.WaitConnected());
  ASSERT_TRUE(publisher.Publish("smartby/readings/s/temperature", "over-tls").ok());
  EXPECT_TRUE(recorder_.WaitForHandled({"over-tls"}));
}

TEST_F(MqttBridgeTlsTest, RefusesABrokerItCannotVerify) {
  MqttBridgeOptions options = Options();
  options.ca_file = pki_.other_ca_file;
  auto bridge = StartBridge(std::move(options));
  ASSERT_NE(bridge, nullptr);

  // Two attempts reached the broker and neither became a session.
  const int before = Occurrences(broker_->Log(), "New connection from");  // readiness probes
  ASSERT_TRUE(Eventually([&] {
    return Occurrences(broker_->Log(), "New connection from") >= before + 2;
  })) << broker_->Log();
  EXPECT_FALSE(bridge->connected());
  EXPECT_EQ(MetricValue(registry_, "smartby_ingestion_mqtt_connected"), 0);
  EXPECT_FALSE(absl::StrContains(broker_->Log(), "as smartby-test-")) << broker_->Log();
}

}  // namespace
}  // namespace smartby::ingestion
