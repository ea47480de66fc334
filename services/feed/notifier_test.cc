#include "services/feed/notifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/runtime/clock.h"
#include "services/runtime/storage/test_databases.h"
#include "tests/support/http_sink.h"
#include "tests/support/smtp_sink.h"

namespace smartby::feed {
namespace {

using ::smartby::testing::ClosedLocalPort;
using ::smartby::testing::HttpSink;
using ::smartby::testing::SmtpMessage;
using ::smartby::testing::SmtpSink;
using ::smartby::testing::SmtpSinkOptions;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
constexpr absl::Duration kWait = absl::Seconds(10);

// Independent of the code under test: OpenSSL's one-shot HMAC, hex by hand.
std::string ExpectedSignature(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[mac[i] >> 4]);
    hex.push_back(kHex[mac[i] & 0xf]);
  }
  return "sha256=" + hex;
}

double CounterValue(prometheus::Registry& registry, const std::string& name,
                    const std::map<std::string, std::string>& labels) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const prometheus::ClientMetric::Label& l : metric.label) have[l.name] = l.value;
      if (have == labels) return metric.counter.value;
    }
  }
  return 0;
}

// The header's value, unfolded, and RFC 2047 encoded-words decoded.
std::string DecodedHeader(const std::string& message, const std::string& name) {
  const size_t start = message.find("\r\n" + name + ": ");
  if (start == std::string::npos) return "<missing>";
  size_t end = start + 2;
  std::string value;
  while (true) {
    end = message.find("\r\n", end + 1);
    const size_t next = end + 2;
    if (next >= message.size() || (message[next] != ' ' && message[next] != '\t')) break;
  }
  value = message.substr(start + 4 + name.size(), end - start - 4 - name.size());
  std::string out;
  for (absl::string_view word : absl::StrSplit(value, absl::ByAnyChar(" \r\n"), absl::SkipEmpty())) {
    if (absl::StartsWith(word, "=?UTF-8?B?") && absl::EndsWith(word, "?=")) {
      EXPECT_LE(word.size(), 75u) << "RFC 2047: an encoded-word is at most 75 characters";
      std::string bytes;
      EXPECT_TRUE(absl::Base64Unescape(word.substr(10, word.size() - 12), &bytes));
      out += bytes;
    } else {
      if (!out.empty()) out += " ";
      out += std::string(word);
    }
  }
  return out;
}

DeliveryFilter InState(DeliveryState state) {
  DeliveryFilter f;
  f.state = state;
  return f;
}

AlarmEvent SampleEvent() {
  AlarmEvent e;
  e.type = AlarmEventType::kRaised;
  e.alarm_id = "hot:sensor-7:1700000000000000";
  e.rule_id = "hot";
  e.dataset = "temperature";
  e.source = "sensor-7";
  e.field = "celsius";
  e.kind = AlarmKind::kAbove;
  e.value = 85.5;
  e.time = kT0;
  e.message = "celsius = 85.5 above 80 (sensor-7)";
  return e;
}

class NotifierTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Migrate({NotificationOutboxMigration(1)}).ok());
    options_.max_attempts = 3;
    options_.initial_backoff = absl::Seconds(10);
    options_.jitter = 0;  // exact due times; jitter has its own test
    options_.send_timeout = absl::Seconds(5);
    notifier_ = std::make_unique<Notifier>(db_, &clock_, &channels_, &sender_, registry_,
                                           options_);
  }

  void AddWebhook(const std::string& id, const std::string& url, const std::string& secret) {
    Channel c;
    c.id = id;
    c.type = ChannelType::kWebhook;
    c.webhook.url = url;
    c.webhook.secret = secret;
    ASSERT_TRUE(channels_.Put(c).ok());
  }

  void AddEmail(const std::string& id, int port, std::vector<std::string> to) {
    Channel c;
    c.id = id;
    c.type = ChannelType::kEmail;
    c.email.host = "127.0.0.1";
    c.email.port = port;
    c.email.from = "alarms@smartby.example";
    c.email.to = std::move(to);
    ASSERT_TRUE(channels_.Put(c).ok());
  }

  Delivery Get(int64_t id) {
    absl::StatusOr<Delivery> d = notifier_->GetDelivery(id);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : Delivery();
  }

  int DeliverDue() {
    absl::StatusOr<int> n = notifier_->DeliverDue();
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  double Metric(const std::string& channel, const std::string& outcome) {
    return CounterValue(registry_, "smartby_feed_notifications_total",
                        {{"channel", channel}, {"outcome", outcome}});
  }

  std::shared_ptr<storage::Database> db_;
  SettableClock clock_{kT0};
  StaticChannelDirectory channels_;
  NetworkSender sender_;
  prometheus::Registry registry_;
  NotifierOptions options_;
  std::unique_ptr<Notifier> notifier_;
};

TEST_P(NotifierTest, WebhookCarriesTheJsonBodyAndAValidSignature) {
  HttpSink sink;
  AddWebhook("ops", sink.url("/hooks/alarms"), "s3cret");
  const Message message = AlarmMessage(SampleEvent());
  absl::StatusOr<int64_t> id = notifier_->Enqueue("ops", message);
  ASSERT_TRUE(id.ok()) << id.status();

  EXPECT_EQ(DeliverDue(), 1);

  ASSERT_THAT(sink.requests(), SizeIs(1));
  const testing::HttpRequest r = sink.requests()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/hooks/alarms");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.body, message.json);
  EXPECT_EQ(r.headers.at("x-smartby-signature"), ExpectedSignature("s3cret", r.body));
  EXPECT_EQ(r.headers.at("x-smartby-timestamp"), absl::StrCat(absl::ToUnixSeconds(kT0)));
  EXPECT_EQ(r.headers.at("x-smartby-delivery"), absl::StrCat(*id));
  const nlohmann::json body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["type"], "alarm");
  EXPECT_EQ(body["event"], "raised");
  EXPECT_EQ(body["rule_id"], "hot");
  EXPECT_EQ(body["source"], "sensor-7");
  EXPECT_EQ(body["value"], 85.5);
  EXPECT_EQ(body["alarm_id"], "hot:sensor-7:1700000000000000");

  const Delivery d = Get(*id);
  EXPECT_EQ(d.state, DeliveryState::kDelivered);
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(d.delivered_at, kT0);
  EXPECT_EQ(Metric("webhook", "delivered"), 1);
  EXPECT_EQ(DeliverDue(), 0) << "delivered once";
}

TEST_P(NotifierTest, ReceiverFailingTwiceGetsTheDeliveryOnTheThirdAttempt) {
  HttpSink sink;
  sink.ScriptStatuses({500, 503});
  AddWebhook("ops", sink.url("/hook"), "k");
  absl::StatusOr<int64_t> id = notifier_->Enqueue("ops", AlarmMessage(SampleEvent()));
  ASSERT_TRUE(id.ok()) << id.status();

  EXPECT_EQ(DeliverDue(), 1);
  Delivery d = Get(*id);
  EXPECT_EQ(d.state, DeliveryState::kPending);
  EXPECT_EQ(d.attempts, 1);
  EXPECT_THAT(d.last_error, HasSubstr("HTTP 500"));
  EXPECT_EQ(d.next_attempt_at, kT0 + absl::Seconds(10));
  EXPECT_EQ(DeliverDue(), 0) << "not due before its backoff";

  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(DeliverDue(), 1);
  d = Get(*id);
  EXPECT_EQ(d.attempts, 2);
  EXPECT_THAT(d.last_error, HasSubstr("HTTP 503"));
  EXPECT_EQ(d.next_attempt_at, kT0 + absl::Seconds(10 + 20)) << "the backoff doubles";

  clock_.Advance(absl::Seconds(20));
  EXPECT_EQ(DeliverDue(), 1);
  d = Get(*id);
  EXPECT_EQ(d.state, DeliveryState::kDelivered);
  EXPECT_EQ(d.attempts, 3);

  absl::StatusOr<std::vector<DeliveryAttempt>> attempts = notifier_->ListAttempts(*id);
  ASSERT_TRUE(attempts.ok()) << attempts.status();
  ASSERT_THAT(*attempts, SizeIs(3));
  EXPECT_FALSE((*attempts)[0].ok);
  EXPECT_THAT((*attempts)[0].error, HasSubstr("HTTP 500"));
  EXPECT_EQ((*attempts)[1].at, kT0 + absl::Seconds(10));
  EXPECT_TRUE((*attempts)[2].ok);
  EXPECT_EQ((*attempts)[2].attempt, 3);

  ASSERT_THAT(sink.requests(), SizeIs(3));
  for (const testing::HttpRequest& r : sink.requests()) {
    EXPECT_EQ(r.headers.at("x-smartby-delivery"), absl::StrCat(*id)) << "stable for dedup";
  }
  EXPECT_EQ(Metric("webhook", "retry"), 2);
  EXPECT_EQ(Metric("webhook", "delivered"), 1);
  EXPECT_EQ(CounterValue(registry_, "smartby_feed_notification_failures_total",
                         {{"channel", "webhook"}}),
            2);
}

TEST_P(NotifierTest, ReceiverDownStaysVisibleUntilFailedAndCanBeRetried) {
  AddWebhook("ops", absl::StrCat("http://127.0.0.1:", ClosedLocalPort(), "/hook"), "k");
  absl::StatusOr<int64_t> id = notifier_->Enqueue("ops", AlarmMessage(SampleEvent()));
  ASSERT_TRUE(id.ok()) << id.status();

  EXPECT_EQ(DeliverDue(), 1);
  Delivery d = Get(*id);
  EXPECT_EQ(d.state, DeliveryState::kPending);
  EXPECT_FALSE(d.last_error.empty());
  absl::StatusOr<std::vector<Delivery>> pending =
      notifier_->ListDeliveries(InState(DeliveryState::kPending));
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_THAT(*pending, SizeIs(1));
  EXPECT_EQ((*pending)[0].id, *id);

  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(DeliverDue(), 1);
  clock_.Advance(absl::Seconds(20));
  EXPECT_EQ(DeliverDue(), 1);
  d = Get(*id);
  EXPECT_EQ(d.state, DeliveryState::kFailed) << "after max_attempts (3)";
  EXPECT_EQ(d.attempts, 3);
  EXPECT_FALSE(d.last_error.empty());
  clock_.Advance(absl::Hours(10));
  EXPECT_EQ(DeliverDue(), 0) << "failed is not attempted again by itself";

  absl::StatusOr<std::vector<Delivery>> failed =
      notifier_->ListDeliveries(InState(DeliveryState::kFailed));
  ASSERT_TRUE(failed.ok());
  ASSERT_THAT(*failed, SizeIs(1));
  EXPECT_EQ(Metric("webhook", "failed"), 1);
  EXPECT_EQ(Metric("webhook", "retry"), 2);

  // The receiver is fixed (a new URL); an operator retries; it is delivered.
  HttpSink sink;
  AddWebhook("ops", sink.url("/hook"), "k");
  ASSERT_TRUE(notifier_->Retry(*id).ok());
  EXPECT_EQ(notifier_->Retry(*id).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DeliverDue(), 1);
  EXPECT_EQ(Get(*id).state, DeliveryState::kDelivered);
  EXPECT_THAT(sink.requests(), SizeIs(1));
  absl::StatusOr<std::vector<DeliveryAttempt>> attempts = notifier_->ListAttempts(*id);
  ASSERT_TRUE(attempts.ok());
  EXPECT_THAT(*attempts, SizeIs(4));
}

TEST_P(NotifierTest, PermanentRefusalFailsAtOnce) {
  HttpSink sink;
  sink.ScriptStatuses({400});
  AddWebhook("ops", sink.url("/hook"), "");
  absl::StatusOr<int64_t> id = notifier_->Enqueue("ops", AlarmMessage(SampleEvent()));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(DeliverDue(), 1);
  const Delivery d = Get(*id);
  EXPECT_EQ(d.state, DeliveryState::kFailed);
  EXPECT_THAT(d.last_error, HasSubstr("HTTP 400"));
  EXPECT_EQ(sink.requests()[0].headers.count("x-smartby-signature"), 0u) << "no secret";
}

TEST_P(NotifierTest, DeletedChannelFailsVisibly) {
  HttpSink sink;
  AddWebhook("ops", sink.url("/hook"), "k");
  absl::StatusOr<int64_t> id = notifier_->Enqueue("ops", AlarmMessage(SampleEvent()));
  ASSERT_TRUE(id.ok());
  channels_.Remove("ops");
  EXPECT_EQ(DeliverDue(), 1);
  const Delivery d = Get(*id);
  EXPECT_EQ(d.state, DeliveryState::kFailed);
  EXPECT_THAT(d.last_error, HasSubstr("no longer exists"));
  EXPECT_EQ(notifier_->Enqueue("nope", Message()).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(NotifierTest, EnqueueWithTheSameDedupKeyAddsNothing) {
  HttpSink sink;
  AddWebhook("ops", sink.url("/hook"), "k");
  absl::StatusOr<int64_t> a = notifier_->Enqueue("ops", AlarmMessage(SampleEvent()), "x/raised");
  absl::StatusOr<int64_t> b = notifier_->Enqueue("ops", AlarmMessage(SampleEvent()), "x/raised");
  absl::StatusOr<int64_t> c = notifier_->Enqueue("ops", AlarmMessage(SampleEvent()));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  absl::StatusOr<std::vector<Delivery>> all = notifier_->ListDeliveries();
  ASSERT_TRUE(all.ok());
  ASSERT_THAT(*all, SizeIs(2));
  EXPECT_EQ((*all)[0].id, *c) << "newest first";
  EXPECT_EQ((*all)[1].dedup_key, "x/raised");
  EXPECT_EQ((*all)[1].message.json, AlarmMessage(SampleEvent()).json);
  DeliveryFilter other;
  other.channel_id = "other";
  absl::StatusOr<std::vector<Delivery>> by_channel = notifier_->ListDeliveries(other);
  ASSERT_TRUE(by_channel.ok());
  EXPECT_THAT(*by_channel, SizeIs(0));
}

TEST_P(NotifierTest, EmailArrivesWithSubjectBodyRecipientsAndDotStuffing) {
  SmtpSink smtp;
  AddEmail("mail", smtp.port(), {"drift@kommune.example", "vakt@kommune.example"});
  Message m;
  m.subject = "Alarm: temperatur over 80 °C i Bjørvika";
  m.text = "Første linje\n.hidden starts with a dot\n..two dots\nlast\n";
  absl::StatusOr<int64_t> id = notifier_->Enqueue("mail", m);
  ASSERT_TRUE(id.ok()) << id.status();

  EXPECT_EQ(DeliverDue(), 1);
  EXPECT_EQ(Get(*id).state, DeliveryState::kDelivered) << Get(*id).last_error;

  ASSERT_TRUE(smtp.WaitForMessages(1, kWait));
  const SmtpMessage got = smtp.messages()[0];
  EXPECT_EQ(got.helo, "smartby-feed");
  EXPECT_EQ(got.mail_from, "alarms@smartby.example");
  EXPECT_EQ(got.mail_from_params, "BODY=8BITMIME");
  EXPECT_EQ(got.recipients,
            (std::vector<std::string>{"drift@kommune.example", "vakt@kommune.example"}));
  // On the wire, lines starting with '.' carry one more; the message itself is unchanged.
  EXPECT_THAT(got.raw_data, HasSubstr("\r\n..hidden starts with a dot\r\n"));
  EXPECT_THAT(got.raw_data, HasSubstr("\r\n...two dots\r\n"));
  EXPECT_THAT(got.data, HasSubstr("\r\n\r\nFørste linje\r\n.hidden starts with a dot\r\n"
                                  "..two dots\r\nlast\r\n"));
  EXPECT_THAT(got.data, HasSubstr("Subject: =?UTF-8?B?"));
  EXPECT_EQ(DecodedHeader(got.data, "Subject"), m.subject);
  EXPECT_THAT(got.data, HasSubstr("To: <drift@kommune.example>, <vakt@kommune.example>\r\n"));
  EXPECT_THAT(got.data, HasSubstr(absl::StrCat("Message-ID: <smartby-feed-", *id,
                                               "@smartby-feed>\r\n")));
  EXPECT_THAT(got.data, HasSubstr("Content-Type: text/plain; charset=UTF-8\r\n"));
  EXPECT_THAT(got.data, HasSubstr("Content-Transfer-Encoding: 8bit\r\n"));
  EXPECT_THAT(got.data, HasSubstr("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
  const std::vector<std::string> commands = smtp.commands();
  ASSERT_FALSE(commands.empty());
  EXPECT_EQ(commands.back(), "QUIT");
  EXPECT_EQ(Metric("email", "delivered"), 1);
}

TEST_P(NotifierTest, EmailBodyIsBase64WithoutEightBitMime) {
  SmtpSinkOptions no_8bit;
  no_8bit.offer_8bitmime = false;
  SmtpSink smtp(no_8bit);
  AddEmail("mail", smtp.port(), {"drift@kommune.example"});
  Message m;
  m.subject = "plain subject";
  m.text = "Æ, Ø og Å\n";
  ASSERT_TRUE(notifier_->Enqueue("mail", m).ok());
  EXPECT_EQ(DeliverDue(), 1);
  ASSERT_TRUE(smtp.WaitForMessages(1, kWait));
  const SmtpMessage got = smtp.messages()[0];
  EXPECT_EQ(got.mail_from_params, "");
  EXPECT_THAT(got.data, HasSubstr("Subject: plain subject\r\n"));
  EXPECT_THAT(got.data, HasSubstr("Content-Transfer-Encoding: base64\r\n"));
  EXPECT_THAT(got.data, HasSubstr(absl::Base64Escape("Æ, Ø og Å\n")));
}

TEST_P(NotifierTest, EmailAuthPlainOnlyWhenPlaintextIsAllowed) {
  SmtpSink smtp;
  Channel c;
  c.id = "mail";
  c.type = ChannelType::kEmail;
  c.email.host = "127.0.0.1";
  c.email.port = smtp.port();
  c.email.from = "alarms@smartby.example";
  c.email.to = {"drift@kommune.example"};
  c.email.username = "feed";
  c.email.password = "pw";
  ASSERT_TRUE(channels_.Put(c).ok());
  absl::StatusOr<int64_t> refused = notifier_->Enqueue("mail", Message{"s", "t", "{}"});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(DeliverDue(), 1);
  EXPECT_EQ(Get(*refused).state, DeliveryState::kFailed);
  EXPECT_THAT(Get(*refused).last_error, HasSubstr("allow_plaintext_auth"));

  c.email.allow_plaintext_auth = true;
  ASSERT_TRUE(channels_.Put(c).ok());
  absl::StatusOr<int64_t> id = notifier_->Enqueue("mail", Message{"s", "t", "{}"});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(DeliverDue(), 1);
  EXPECT_EQ(Get(*id).state, DeliveryState::kDelivered) << Get(*id).last_error;
  ASSERT_TRUE(smtp.WaitForMessages(1, kWait));
  EXPECT_EQ(smtp.messages()[0].auth_user, "feed");
  EXPECT_EQ(smtp.messages()[0].auth_password, "pw");
}

TEST_P(NotifierTest, RefusedRecipientFailsWithTheServersAnswer) {
  SmtpSinkOptions refusing;
  refusing.refuse_recipients = {"gone@kommune.example"};
  SmtpSink smtp(refusing);
  AddEmail("mail", smtp.port(), {"drift@kommune.example", "gone@kommune.example"});
  absl::StatusOr<int64_t> id = notifier_->Enqueue("mail", Message{"s", "t", "{}"});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(DeliverDue(), 1);
  EXPECT_EQ(Get(*id).state, DeliveryState::kFailed);
  EXPECT_THAT(Get(*id).last_error, HasSubstr("550"));
  EXPECT_THAT(smtp.messages(), SizeIs(0)) << "nothing sent when a recipient is refused";
}

TEST_P(NotifierTest, SmtpServerDownStaysPending) {
  AddEmail("mail", ClosedLocalPort(), {"drift@kommune.example"});
  absl::StatusOr<int64_t> id = notifier_->Enqueue("mail", Message{"s", "t", "{}"});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(DeliverDue(), 1);
  const Delivery d = Get(*id);
  EXPECT_EQ(d.state, DeliveryState::kPending);
  EXPECT_THAT(d.last_error, HasSubstr("smtp"));
}

TEST_P(NotifierTest, SmsGoesToTheGatewayAsToAndText) {
  HttpSink gateway;
  Channel c;
  c.id = "sms-vakt";
  c.type = ChannelType::kSms;
  c.sms.gateway_url = gateway.url("/sms");
  c.sms.secret = "gw";
  c.sms.to = "+4791234567";
  ASSERT_TRUE(channels_.Put(c).ok());
  const Message m = AlarmMessage(SampleEvent());
  ASSERT_TRUE(notifier_->Enqueue("sms-vakt", m).ok());
  EXPECT_EQ(DeliverDue(), 1);
  ASSERT_THAT(gateway.requests(), SizeIs(1));
  const testing::HttpRequest r = gateway.requests()[0];
  const nlohmann::json body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body, (nlohmann::json{{"to", "+4791234567"}, {"text", m.text}}));
  EXPECT_EQ(r.headers.at("x-smartby-signature"), ExpectedSignature("gw", r.body));
  EXPECT_EQ(Metric("sms", "delivered"), 1);
}

TEST_P(NotifierTest, BackgroundWorkerDelivers) {
  HttpSink sink;
  AddWebhook("ops", sink.url("/hook"), "k");
  ASSERT_TRUE(notifier_->Enqueue("ops", AlarmMessage(SampleEvent())).ok());
  notifier_->Start(absl::Milliseconds(20));
  EXPECT_TRUE(sink.WaitForRequests(1, kWait));
  notifier_->Stop();
}

// --- STARTTLS.

// The test certificates (smtp_sink.h), made once per run in a directory removed at exit.
class CertificatesOnce {
 public:
  CertificatesOnce() {
    std::string pattern = ::testing::TempDir() + "/smtp-tls-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      status_ = absl::InternalError("mkdtemp failed");
      return;
    }
    dir_ = pattern;
    absl::StatusOr<testing::TestCertificates> made = testing::MakeTestCertificates(dir_);
    if (made.ok()) {
      certificates_ = *std::move(made);
    } else {
      status_ = made.status();
    }
  }
  ~CertificatesOnce() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  const absl::Status& status() const { return status_; }
  const testing::TestCertificates& certificates() const { return certificates_; }

 private:
  std::string dir_;
  absl::Status status_;
  testing::TestCertificates certificates_;
};

const testing::TestCertificates& Certificates() {
  static const CertificatesOnce once;
  EXPECT_TRUE(once.status().ok()) << once.status();
  return once.certificates();
}

SmtpSinkOptions StartTlsSink(const std::string& cert_file, const std::string& key_file) {
  SmtpSinkOptions options;
  options.tls_cert_file = cert_file;
  options.tls_key_file = key_file;
  return options;
}

// Polls `done` until it is true or `timeout` passes.
bool Eventually(const std::function<bool()>& done, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

class NotifierTlsTest : public NotifierTest {
 protected:
  // An e-mail channel to 127.0.0.1:`port` that trusts the test CA.
  Channel Email(int port, SmtpTls tls) {
    Channel c;
    c.id = "mail";
    c.type = ChannelType::kEmail;
    c.email.host = "127.0.0.1";
    c.email.port = port;
    c.email.tls = tls;
    c.email.ca_file = Certificates().ca_file;
    c.email.from = "alarms@smartby.example";
    c.email.to = {"drift@kommune.example"};
    return c;
  }

  int64_t EnqueueAndDeliverOnce(const Channel& channel) {
    EXPECT_TRUE(channels_.Put(channel).ok());
    absl::StatusOr<int64_t> id = notifier_->Enqueue(channel.id, Message{"s", "t", "{}"});
    EXPECT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(DeliverDue(), 1);
    return id.ok() ? *id : -1;
  }
};

TEST_P(NotifierTlsTest, EmailGoesOverStartTlsWhenOffered) {
  SmtpSink smtp(StartTlsSink(Certificates().cert_file, Certificates().key_file));
  const int64_t id = EnqueueAndDeliverOnce(Email(smtp.port(), SmtpTls::kStartTls));
  EXPECT_EQ(Get(id).state, DeliveryState::kDelivered) << Get(id).last_error;
  ASSERT_TRUE(smtp.WaitForMessages(1, kWait));
  const SmtpMessage got = smtp.messages()[0];
  EXPECT_TRUE(got.tls);
  EXPECT_THAT(got.tls_version, ::testing::AnyOf("TLSv1.2", "TLSv1.3"));
  EXPECT_EQ(got.helo, "smartby-feed") << "EHLO again after the handshake";
  const std::vector<std::string> commands = smtp.commands();
  ASSERT_GE(commands.size(), 4u);
  EXPECT_EQ(commands[0], "EHLO smartby-feed");
  EXPECT_EQ(commands[1], "STARTTLS");
  EXPECT_EQ(commands[2], "EHLO smartby-feed");
  EXPECT_THAT(commands[3], HasSubstr("MAIL FROM:<alarms@smartby.example>"));
}

TEST_P(NotifierTlsTest, PasswordIsSentOnlyAfterStartTls) {
  SmtpSink smtp(StartTlsSink(Certificates().cert_file, Certificates().key_file));
  Channel c = Email(smtp.port(), SmtpTls::kStartTls);
  c.email.username = "feed";
  c.email.password = "passord-over-tls";
  const int64_t id = EnqueueAndDeliverOnce(c);  // allow_plaintext_auth is false
  EXPECT_EQ(Get(id).state, DeliveryState::kDelivered) << Get(id).last_error;
  ASSERT_TRUE(smtp.WaitForMessages(1, kWait));
  EXPECT_EQ(smtp.messages()[0].auth_password, "passord-over-tls");
  EXPECT_TRUE(smtp.messages()[0].auth_over_tls);
}

TEST_P(NotifierTlsTest, RequiredTlsFailsVisiblyWhenTheServerDoesNotOfferIt) {
  SmtpSink smtp;  // no STARTTLS
  const int64_t id = EnqueueAndDeliverOnce(Email(smtp.port(), SmtpTls::kRequired));
  const Delivery d = Get(id);
  EXPECT_EQ(d.state, DeliveryState::kFailed);
  EXPECT_THAT(d.last_error, HasSubstr("does not offer STARTTLS"));
  EXPECT_THAT(smtp.messages(), SizeIs(0));
  for (const std::string& command : smtp.commands()) {
    EXPECT_FALSE(absl::StartsWith(command, "MAIL")) << "nothing sent in plain text";
  }
  absl::StatusOr<std::vector<Delivery>> failed =
      notifier_->ListDeliveries(InState(DeliveryState::kFailed));
  ASSERT_TRUE(failed.ok());
  ASSERT_THAT(*failed, SizeIs(1));
  EXPECT_EQ(Metric("email", "failed"), 1);
  EXPECT_TRUE(notifier_->Retry(id).ok()) << "an operator can send it again once fixed";
}

TEST_P(NotifierTlsTest, CertificateFromAnotherCaIsRefused) {
  SmtpSink smtp(StartTlsSink(Certificates().cert_file, Certificates().key_file));
  Channel c = Email(smtp.port(), SmtpTls::kStartTls);
  c.email.ca_file = Certificates().other_ca_file;
  const int64_t id = EnqueueAndDeliverOnce(c);
  const Delivery d = Get(id);
  EXPECT_EQ(d.state, DeliveryState::kPending) << "retried, like a webhook's TLS failure";
  EXPECT_THAT(d.last_error, HasSubstr("certificate is not trusted"));
  EXPECT_EQ(Metric("email", "retry"), 1);
  EXPECT_TRUE(Eventually([&] { return smtp.failed_tls_handshakes() == 1; }));
  EXPECT_THAT(smtp.messages(), SizeIs(0));
}

TEST_P(NotifierTlsTest, CertificateForAnotherHostIsRefused) {
  SmtpSink smtp(StartTlsSink(Certificates().wrong_host_cert_file,
                             Certificates().wrong_host_key_file));
  const int64_t id = EnqueueAndDeliverOnce(Email(smtp.port(), SmtpTls::kStartTls));
  const Delivery d = Get(id);
  EXPECT_EQ(d.state, DeliveryState::kPending);
  EXPECT_THAT(d.last_error, HasSubstr("IP address mismatch"));
  EXPECT_THAT(smtp.messages(), SizeIs(0));
}

TEST_P(NotifierTlsTest, NoneNeverStartsTlsAndKeepsThePasswordBackWithoutPermission) {
  SmtpSink smtp(StartTlsSink(Certificates().cert_file, Certificates().key_file));
  Channel c = Email(smtp.port(), SmtpTls::kNone);
  const int64_t plain = EnqueueAndDeliverOnce(c);
  EXPECT_EQ(Get(plain).state, DeliveryState::kDelivered) << Get(plain).last_error;
  ASSERT_TRUE(smtp.WaitForMessages(1, kWait));
  EXPECT_FALSE(smtp.messages()[0].tls);
  for (const std::string& command : smtp.commands()) EXPECT_NE(command, "STARTTLS");

  c.email.username = "feed";
  c.email.password = "aldri-i-klartekst";
  const int64_t refused = EnqueueAndDeliverOnce(c);
  EXPECT_EQ(Get(refused).state, DeliveryState::kFailed);
  EXPECT_THAT(Get(refused).last_error, HasSubstr("--smtp_allow_plaintext_auth"));
  for (const std::string& command : smtp.commands()) {
    EXPECT_FALSE(absl::StartsWith(command, "AUTH")) << command;
  }
}

TEST_P(NotifierTlsTest, UnreadableCaFileIsNamed) {
  SmtpSink smtp(StartTlsSink(Certificates().cert_file, Certificates().key_file));
  Channel c = Email(smtp.port(), SmtpTls::kStartTls);
  c.email.ca_file = "/nonexistent/ca.pem";
  const int64_t id = EnqueueAndDeliverOnce(c);
  EXPECT_EQ(Get(id).state, DeliveryState::kFailed);
  EXPECT_THAT(Get(id).last_error, HasSubstr("/nonexistent/ca.pem"));
}

INSTANTIATE_TEST_SUITE_P(Engines, NotifierTlsTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

TEST(NotifierFormats, SmtpTlsModesParseByName) {
  EXPECT_EQ(*ParseSmtpTls("starttls", "--smtp_tls"), SmtpTls::kStartTls);
  EXPECT_EQ(*ParseSmtpTls("required", "--smtp_tls"), SmtpTls::kRequired);
  EXPECT_EQ(*ParseSmtpTls("none", "--smtp_tls"), SmtpTls::kNone);
  const absl::Status bad = ParseSmtpTls("tls", "--smtp_tls").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("--smtp_tls"));
}

INSTANTIATE_TEST_SUITE_P(Engines, NotifierTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

TEST(NotifierBackoff, JitterOnlyShortensTheDelay) {
  auto db = storage::testing::NewTestDatabase("sqlite");
  ASSERT_TRUE(db->Migrate({NotificationOutboxMigration(1)}).ok());
  SettableClock clock(kT0);
  StaticChannelDirectory channels;
  Channel c;
  c.id = "down";
  c.webhook.url = absl::StrCat("http://127.0.0.1:", ClosedLocalPort(), "/");
  ASSERT_TRUE(channels.Put(c).ok());
  NetworkSender sender;
  prometheus::Registry registry;
  NotifierOptions options;
  options.initial_backoff = absl::Seconds(100);
  options.jitter = 0.5;
  Notifier notifier(db, &clock, &channels, &sender, registry, options);
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(*notifier.Enqueue("down", Message{"s", "t", "{}"}));
  ASSERT_EQ(*notifier.DeliverDue(), 5);
  for (int64_t id : ids) {
    const absl::Time next = notifier.GetDelivery(id)->next_attempt_at;
    EXPECT_GT(next, kT0 + absl::Seconds(50));
    EXPECT_LE(next, kT0 + absl::Seconds(100));
  }
}

TEST(NotifierFormats, SignatureMatchesRfc4231) {
  EXPECT_EQ(WebhookSignature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(NotifierFormats, HeaderTextIsEncodedInShortWordsOnCharacterBoundaries) {
  EXPECT_EQ(EncodeHeaderText("Plain ASCII subject"), "Plain ASCII subject");
  EXPECT_EQ(EncodeHeaderText("no\r\ninjection"), "no  injection");
  std::string long_text;
  for (int i = 0; i < 20; ++i) long_text += "Blåbærsyltetøy ";
  const std::string encoded = EncodeHeaderText(long_text);
  std::string decoded;
  for (absl::string_view word : absl::StrSplit(encoded, "\r\n ")) {
    ASSERT_TRUE(absl::StartsWith(word, "=?UTF-8?B?") && absl::EndsWith(word, "?=")) << word;
    EXPECT_LE(word.size(), 75u);
    std::string bytes;
    ASSERT_TRUE(absl::Base64Unescape(word.substr(10, word.size() - 12), &bytes));
    // Each word holds whole characters: it does not start with a continuation byte.
    EXPECT_NE(static_cast<unsigned char>(bytes[0]) & 0xC0, 0x80);
    decoded += bytes;
  }
  EXPECT_EQ(decoded, long_text);
}

TEST(NotifierChannels, InvalidChannelsAreRefused) {
  Channel c;
  c.id = "x";
  c.webhook.url = "http://example.com/hook";
  EXPECT_THAT(std::string(ValidateChannel(c).message()), HasSubstr("https"));
  c.webhook.url = "https://example.com/hook";
  EXPECT_TRUE(ValidateChannel(c).ok());
  c.type = ChannelType::kEmail;
  c.email.host = "smtp.example";
  c.email.from = "a@b.no";
  c.email.to = {"evil@b.no>\r\nRCPT TO:<x@y.no"};
  EXPECT_THAT(std::string(ValidateChannel(c).message()), HasSubstr("email.to"));
}

}  // namespace
}  // namespace smartby::feed
