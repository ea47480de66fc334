// Alarm notifications (issue 6, "Alarms"): webhook, e-mail over SMTP and SMS through an SMS
// gateway's webhook, delivered from a durable outbox so that nothing is silently lost.
//
//   Notifier notifier(db, &clock, &channels, &sender, registry);     // db migrated, see below
//   ASSIGN_OR_RETURN(int64_t id, notifier.Enqueue("ops-mail", AlarmMessage(event),
//                                                 /*dedup_key=*/event.alarm_id + "/raised"));
//   notifier.Start(absl::Seconds(1));   // or call DeliverDue() yourself
//
// The outbox. Enqueue writes a delivery row (pending, 0 attempts, due now) and returns once it is
// committed. The worker (DeliverDue) claims due rows by moving their next attempt time one lease
// into the future (a compare-and-set, so two replicas never attempt the same delivery at once),
// sends, and records the attempt: every attempt is a row in notification_attempts, and the
// delivery becomes delivered, or pending again with an exponential backoff (with jitter) and the
// error, or failed after max_attempts or on a permanent error (a 4xx answer other than 408/429, an
// SMTP 5xx, a channel that no longer exists). A process killed mid-send leaves the row pending; it
// is attempted again when the lease runs out, so delivery is at least once: receivers dedupe on
// X-Smartby-Delivery (webhooks) or the Message-ID (e-mail), both stable across attempts. Failed
// deliveries stay in the table, visible through ListDeliveries and the metrics, and Retry sends
// them again.
//
// Migrations. The outbox's tables live in the feed service's database: add
// NotificationOutboxMigration(<the next free version>) to the service's migration list.
//
// Channels. The outbox stores only the channel id; the channel (URL, secret, SMTP credentials) is
// looked up through ChannelDirectory at every attempt, so a fixed channel takes effect on the next
// retry and secrets are not copied into the outbox.
//
// Metrics: smartby_feed_notifications_total{channel,outcome} counts attempts by channel type
// (webhook, email, sms) and outcome (delivered, retry: failed and will be retried, failed: given
// up); smartby_feed_notification_failures_total{channel} counts failed attempts (retry + failed).
//
// Thread safety: Notifier is thread-safe; DeliverDue may run in several threads or replicas.
// The send functions block for up to their timeout: never call them from gRPC threads.
#ifndef SMARTBY_SERVICES_FEED_NOTIFIER_H_
#define SMARTBY_SERVICES_FEED_NOTIFIER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/feed/alarms.h"
#include "services/runtime/background.h"
#include "services/runtime/clock.h"
#include "services/runtime/storage/database.h"

namespace smartby::feed {

// --- Channels.

enum class ChannelType { kWebhook, kEmail, kSms };
absl::string_view ChannelTypeName(ChannelType type);  // "webhook", "email", "sms"

struct WebhookConfig {
  // https://... (certificate and host name verified); http:// only to a loopback host
  // (127.0.0.1, ::1, localhost), for tests and sidecars.
  std::string url;
  // HMAC-SHA256 key for X-Smartby-Signature; empty: the header is left out.
  std::string secret;
  std::string ca_file;  // optional CA bundle instead of the system's
};

// When the SMTP session is upgraded to TLS with STARTTLS (RFC 3207).
enum class SmtpTls {
  kStartTls,  // when the server offers it; plain text when it does not
  kRequired,  // the delivery fails (FAILED_PRECONDITION) when the server does not offer it
  kNone,      // never, even when offered
};
absl::string_view SmtpTlsName(SmtpTls tls);  // "starttls", "required", "none"
// "starttls", "required" or "none"; INVALID_ARGUMENT naming `what` otherwise.
absl::StatusOr<SmtpTls> ParseSmtpTls(absl::string_view value, absl::string_view what);

// SMTP submission to a relay. With TLS (STARTTLS after EHLO): TLS 1.2 or later, the server's
// certificate verified against `ca_file` (or the system's CAs) and against `host` (a name, or
// an IP address in the certificate's subjectAltName), then EHLO again.
struct SmtpConfig {
  std::string host;
  int port = 25;
  SmtpTls tls = SmtpTls::kStartTls;
  std::string ca_file;   // PEM CA bundle for the server's certificate; empty: the system's
  std::string username;  // non-empty: AUTH PLAIN
  std::string password;
  // AUTH PLAIN is only sent over TLS; without it the password would cross the network in clear
  // text, so that is refused unless this is set.
  bool allow_plaintext_auth = false;
  std::string from;             // envelope and header sender
  std::vector<std::string> to;  // at least one
  std::string helo_name = "smartby-feed";
};

// An SMS gateway that takes a webhook: POST {"to": ..., "text": ...}, signed like a webhook.
struct SmsConfig {
  std::string gateway_url;
  std::string secret;
  std::string ca_file;
  std::string to;  // one phone number, E.164 ("+4791234567"); one channel per recipient
};

struct Channel {
  std::string id;
  ChannelType type = ChannelType::kWebhook;
  WebhookConfig webhook;  // kWebhook
  SmtpConfig email;       // kEmail
  SmsConfig sms;          // kSms
};

// OK, or INVALID_ARGUMENT naming the field.
absl::Status ValidateChannel(const Channel& channel);

// Where channels come from (the feed service's channel table). NOT_FOUND when deleted.
class ChannelDirectory {
 public:
  virtual ~ChannelDirectory() = default;
  virtual absl::StatusOr<Channel> Lookup(const std::string& channel_id) = 0;
};

// A thread-safe in-memory directory, for tests and for channels from static configuration.
class StaticChannelDirectory : public ChannelDirectory {
 public:
  absl::Status Put(Channel channel);  // validated
  void Remove(const std::string& channel_id);
  absl::StatusOr<Channel> Lookup(const std::string& channel_id) override;

 private:
  std::mutex mu_;
  std::map<std::string, Channel> channels_;
};

// --- Messages and sending.

// What one delivery carries; each channel uses the parts it needs.
struct Message {
  std::string subject;  // e-mail subject, UTF-8
  std::string text;     // e-mail body and SMS text, UTF-8
  std::string json;     // webhook body: a JSON object
};

// The notification for an alarm event: a subject and text for people and the event as JSON
// ({"type":"alarm","event":"raised",...}).
Message AlarmMessage(const AlarmEvent& event);

// Per attempt: what the receivers see so they can deduplicate.
struct SendContext {
  int64_t delivery_id = 0;
  int attempt = 1;
  absl::Time now;
  absl::Duration timeout = absl::Seconds(10);  // the whole attempt
};

// One attempt, no retries. Errors: UNAVAILABLE or DEADLINE_EXCEEDED for what may pass (network,
// TLS handshakes and certificates, as for webhooks, HTTP 5xx/408/429, SMTP 4xx),
// FAILED_PRECONDITION for what will not (HTTP 4xx, SMTP 5xx, STARTTLS required but not offered,
// AUTH without TLS), INVALID_ARGUMENT for a bad configuration.
//
// Webhook: POST with Content-Type application/json and the headers
//   X-Smartby-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>
//   X-Smartby-Timestamp: <Unix seconds of the attempt>
//   X-Smartby-Delivery:  <delivery id>   (stable across attempts)
// Any 2xx answer is success; redirects are not followed.
absl::Status PostWebhook(const WebhookConfig& config, absl::string_view body,
                         const SendContext& context);
// SMS: PostWebhook to the gateway with {"to": config.to, "text": text}.
absl::Status SendSms(const SmsConfig& config, absl::string_view text, const SendContext& context);
// E-mail: EHLO, STARTTLS and EHLO again (per config.tls), AUTH PLAIN when configured, MAIL
// FROM, RCPT TO each recipient (all must be accepted, or nothing is sent), DATA (dot-stuffed,
// CRLF lines), QUIT. The subject is RFC 2047 encoded when not plain ASCII; the body is 8bit when
// the server offers 8BITMIME, else base64. Message-ID is <smartby-feed-<delivery id>@<helo name>>.
absl::Status SendEmail(const SmtpConfig& config, absl::string_view subject,
                       absl::string_view text, const SendContext& context);

// "sha256=" + hex HMAC-SHA256(secret, body): what X-Smartby-Signature carries.
std::string WebhookSignature(absl::string_view secret, absl::string_view body);
// An RFC 2047 header value: `text` unchanged when printable ASCII, else UTF-8 "B" encoded-words
// of at most 75 characters each (never splitting a character), folded with CRLF SP.
std::string EncodeHeaderText(absl::string_view text);

// The seam between the outbox and the network (tests can fake failures with it).
class ChannelSender {
 public:
  virtual ~ChannelSender() = default;
  virtual absl::Status Send(const Channel& channel, const Message& message,
                            const SendContext& context) = 0;
};

// Sends through the functions above.
class NetworkSender : public ChannelSender {
 public:
  absl::Status Send(const Channel& channel, const Message& message,
                    const SendContext& context) override;
};

// --- The outbox.

enum class DeliveryState { kPending, kDelivered, kFailed };
absl::string_view DeliveryStateName(DeliveryState state);  // "pending", "delivered", "failed"

struct Delivery {
  int64_t id = 0;
  std::string channel_id;
  ChannelType channel_type = ChannelType::kWebhook;
  std::string dedup_key;  // "" when none
  Message message;
  DeliveryState state = DeliveryState::kPending;
  int attempts = 0;
  absl::Time created_at;
  absl::Time next_attempt_at;                          // pending: when it is due
  absl::Time last_attempt_at = absl::InfinitePast();   // InfinitePast: never attempted
  absl::Time delivered_at = absl::InfinitePast();
  std::string last_error;
};

struct DeliveryAttempt {
  int64_t delivery_id = 0;
  int attempt = 0;  // 1, 2, ...
  absl::Time at;
  absl::Duration took;
  bool ok = false;
  std::string error;
};

struct DeliveryFilter {
  std::optional<DeliveryState> state;
  std::string channel_id;  // "" for every channel
  int limit = 100;         // newest first
};

// The outbox tables, as one migration with the version the service chooses.
storage::Migration NotificationOutboxMigration(int version);

struct NotifierOptions {
  int max_attempts = 8;
  absl::Duration initial_backoff = absl::Seconds(10);  // after the first failed attempt
  absl::Duration max_backoff = absl::Hours(1);
  double jitter = 0.2;  // each delay is shortened by a random fraction in [0, jitter)
  absl::Duration send_timeout = absl::Seconds(15);
  // A claimed delivery is not attempted by another worker for this long; more than send_timeout.
  absl::Duration lease = absl::Minutes(2);
  int batch = 50;  // deliveries claimed per DeliverDue
};

class Notifier {
 public:
  // `db` must hold the outbox tables. `clock`, `channels`, `sender` and `registry` must outlive
  // the notifier.
  Notifier(std::shared_ptr<storage::Database> db, const Clock* clock, ChannelDirectory* channels,
           ChannelSender* sender, prometheus::Registry& registry, NotifierOptions options = {});
  ~Notifier();  // stops the worker
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Stores a delivery durably (pending, due now) and returns its id. With a non-empty
  // `dedup_key`, enqueuing the same key again returns the existing delivery's id and adds
  // nothing (the service may replay alarm events after a crash). NOT_FOUND when the channel does
  // not exist.
  absl::StatusOr<int64_t> Enqueue(const std::string& channel_id, const Message& message,
                                  const std::string& dedup_key = "");

  // One pass of the worker: claims up to options.batch due deliveries, attempts each once and
  // records the outcome. Returns how many were attempted.
  absl::StatusOr<int> DeliverDue();

  absl::StatusOr<std::vector<Delivery>> ListDeliveries(const DeliveryFilter& filter = {});
  absl::StatusOr<Delivery> GetDelivery(int64_t id);  // NOT_FOUND
  absl::StatusOr<std::vector<DeliveryAttempt>> ListAttempts(int64_t delivery_id);  // oldest first

  // Makes a failed delivery pending again, due now, for one more attempt (numbered after the
  // earlier ones, which stay recorded; if it fails too, the delivery is failed again).
  // FAILED_PRECONDITION unless it is failed; NOT_FOUND.
  absl::Status Retry(int64_t delivery_id);

  // Runs DeliverDue every `poll` on a background thread until Stop (or destruction). Errors are
  // logged, and the next poll tries again.
  void Start(absl::Duration poll);
  void Stop();

 private:
  absl::Duration Backoff(int failed_attempts);
  absl::Status Record(const Delivery& delivery, const absl::Status& outcome, absl::Time started,
                      absl::Time finished);

  std::shared_ptr<storage::Database> db_;
  const Clock* const clock_;
  ChannelDirectory* const channels_;
  ChannelSender* const sender_;
  const NotifierOptions options_;

  prometheus::Family<prometheus::Counter>& notifications_;
  prometheus::Family<prometheus::Counter>& failures_;

  std::mutex random_mu_;
  absl::BitGen random_;

  std::mutex worker_mu_;
  std::unique_ptr<Periodic> worker_;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_NOTIFIER_H_
