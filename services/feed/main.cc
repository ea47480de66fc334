// smartby-feed: wiring only — flags → runtime → database → store → catalogue directory →
// hub → hand-over consumer (ingestion's WatchReadings) → domain → service.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/feed/alarm_observer.h"
#include "services/feed/channels.h"
#include "services/feed/dataset_resolver.h"
#include "services/feed/feed.h"
#include "services/feed/feed_service.h"
#include "services/feed/handover.h"
#include "services/feed/hub.h"
#include "services/feed/kpi_watch.h"
#include "services/feed/notifier.h"
#include "services/feed/store.h"
#include "services/ingestion/dataset_directory.h"
#include "services/runtime/authentication.h"
#include "services/runtime/background.h"
#include "services/runtime/log.h"
#include "services/runtime/peers.h"
#include "services/runtime/server.h"
#include "services/runtime/startup.h"

ABSL_FLAG(std::string, ingestion_service, "grpc://127.0.0.1:7002",
          "ingestion, where readings come from (WatchReadings) and history is read");
ABSL_FLAG(std::string, ingestion_ca, "", "CA certificate (PEM) for a grpcs:// ingestion");
ABSL_FLAG(std::string, catalogue_service, "grpc://127.0.0.1:7001",
          "the catalogue, where datasets' classes, owners and states come from");
ABSL_FLAG(std::string, catalogue_ca, "", "CA certificate (PEM) for a grpcs:// catalogue");
ABSL_FLAG(absl::Duration, dataset_cache_ttl, absl::Seconds(30),
          "how long a dataset's class and state are used before the catalogue is asked again");
ABSL_FLAG(int64_t, subscriber_queue, 1024,
          "live updates queued per subscriber before coalescing and then dropping (with a gap)");
ABSL_FLAG(int64_t, resume_ring, 100000,
          "recent updates held so that a subscriber can resume after a position");
ABSL_FLAG(absl::Duration, checkpoint_interval, absl::Seconds(1),
          "how often the hand-over position is recorded");
ABSL_FLAG(absl::Duration, aggregate_tick, absl::Seconds(1),
          "how often subscribers' aggregate streams are looked at");

ABSL_FLAG(absl::Duration, alarm_tick, absl::Seconds(1),
          "how often alarm rules are looked at without a reading (no_data, \"for\" durations)");
ABSL_FLAG(absl::Duration, alarm_lease_ttl, absl::Seconds(15),
          "how long the alarm lease lasts unless renewed: with several replicas one holds it and "
          "evaluates alarm rules; after a crash another takes over within this time");
ABSL_FLAG(absl::Duration, alarm_lease_renew, absl::Seconds(5),
          "how often the alarm lease is renewed, or asked for by replicas not holding it "
          "(less than --alarm_lease_ttl)");
ABSL_FLAG(absl::Duration, alarm_event_poll, absl::Milliseconds(500),
          "how often alarm events stored by other replicas are looked for, for this replica's "
          "streams");
ABSL_FLAG(int64_t, alarm_takeover_readings, 100000,
          "readings held while another replica evaluates alarms, evaluated here on taking over "
          "those it had not recorded as evaluated");
ABSL_FLAG(absl::Duration, kpi_min_interval, absl::Milliseconds(500),
          "the shortest time between two values of one WatchKpi stream");
ABSL_FLAG(absl::Duration, notify_poll, absl::Seconds(1),
          "how often the notification outbox is looked at for due deliveries");
ABSL_FLAG(std::string, webhook_secret_file, "",
          "file holding the HMAC key webhook notifications are signed with (X-Smartby-Signature); "
          "empty: unsigned");
ABSL_FLAG(std::string, webhook_ca_file, "", "CA bundle for https:// webhooks instead of the system's");
ABSL_FLAG(std::string, smtp_server, "",
          "host:port of the SMTP relay for e-mail channels; empty: e-mail channels cannot deliver");
ABSL_FLAG(std::string, smtp_tls, "starttls",
          "STARTTLS to the SMTP relay: starttls (when the relay offers it), required (a delivery "
          "fails when it does not), none");
ABSL_FLAG(std::string, smtp_ca_file, "",
          "CA bundle (PEM) the SMTP relay's certificate is verified against instead of the "
          "system's");
ABSL_FLAG(std::string, smtp_from, "", "sender address of alarm e-mails (required with --smtp_server)");
ABSL_FLAG(std::string, smtp_username, "", "SMTP AUTH PLAIN user; empty: no AUTH");
ABSL_FLAG(std::string, smtp_password_file, "", "file holding the SMTP password");
ABSL_FLAG(bool, smtp_allow_plaintext_auth, false,
          "allow AUTH PLAIN without TLS (the password crosses the network in clear text)");
ABSL_FLAG(std::string, sms_gateway_url, "",
          "the SMS gateway's webhook URL for SMS channels; empty: SMS channels cannot deliver");
ABSL_FLAG(std::string, sms_gateway_secret_file, "", "file holding the SMS gateway's HMAC key");

namespace {

// The channels' configuration from flags and secret files (the secrets are never logged).
absl::StatusOr<smartby::feed::ChannelSettings> ChannelSettingsFromFlags() {
  smartby::feed::ChannelSettings settings;
  if (const std::string f = absl::GetFlag(FLAGS_webhook_secret_file); !f.empty()) {
    auto secret = smartby::ReadSecretFile(f, "--webhook_secret_file");
    if (!secret.ok()) return secret.status();
    settings.webhook_secret = *std::move(secret);
  }
  settings.webhook_ca_file = absl::GetFlag(FLAGS_webhook_ca_file);
  if (const std::string server = absl::GetFlag(FLAGS_smtp_server); !server.empty()) {
    const size_t colon = server.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(server.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError("--smtp_server: host:port, e.g. 127.0.0.1:25");
    }
    settings.smtp.host = server.substr(0, colon);
    settings.smtp.port = port;
    settings.smtp.from = absl::GetFlag(FLAGS_smtp_from);
    if (settings.smtp.from.empty()) {
      return absl::InvalidArgumentError("--smtp_from: required with --smtp_server");
    }
    settings.smtp.username = absl::GetFlag(FLAGS_smtp_username);
    if (const std::string f = absl::GetFlag(FLAGS_smtp_password_file); !f.empty()) {
      auto password = smartby::ReadSecretFile(f, "--smtp_password_file");
      if (!password.ok()) return password.status();
      settings.smtp.password = *std::move(password);
    }
    settings.smtp.allow_plaintext_auth = absl::GetFlag(FLAGS_smtp_allow_plaintext_auth);
    auto tls = smartby::feed::ParseSmtpTls(absl::GetFlag(FLAGS_smtp_tls), "--smtp_tls");
    if (!tls.ok()) return tls.status();
    settings.smtp.tls = *tls;
    settings.smtp.ca_file = absl::GetFlag(FLAGS_smtp_ca_file);
    if (!settings.smtp.ca_file.empty() && !std::ifstream(settings.smtp.ca_file).good()) {
      return absl::InvalidArgumentError("--smtp_ca_file: cannot read " + settings.smtp.ca_file);
    }
  }
  settings.sms_gateway_url = absl::GetFlag(FLAGS_sms_gateway_url);
  if (const std::string f = absl::GetFlag(FLAGS_sms_gateway_secret_file); !f.empty()) {
    auto secret = smartby::ReadSecretFile(f, "--sms_gateway_secret_file");
    if (!secret.ok()) return secret.status();
    settings.sms_gateway_secret = *std::move(secret);
  }
  return settings;
}

// The alarm lease holder's name: the pod name when the chart passes it (--audit_instance), else
// unique per process start, so that a restarted process is never taken for its predecessor.
std::string InstanceName(const std::string& configured) {
  if (!configured.empty()) return configured;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "feed");
  absl::BitGen random;
  return absl::StrCat(host, "-", getpid(), "-",
                      absl::Hex(absl::Uniform<uint32_t>(random), absl::kZeroPad8));
}

using smartby::FailStartup;

}  // namespace

int main(int argc, char** argv) {
  smartby::ServerRuntime runtime({.name = "feed", .grpc_port = 7003, .metrics_port = 9103}, argc,
                                 argv);
  auto db = runtime.OpenDatabase();
  if (!db.ok()) return FailStartup("cannot open database", db.status());
  auto store = smartby::feed::OpenSqlFeedStore(*db);
  if (!store.ok()) return FailStartup("cannot prepare the feed schema", store.status());
  runtime.SetReadinessCheck([database = *db] { return database->Ping(); });

  auto catalogue_channel = smartby::PeerChannel(FLAGS_catalogue_service, FLAGS_catalogue_ca);
  if (!catalogue_channel.ok()) return FailStartup("bad flags", catalogue_channel.status());
  auto ingestion_channel = smartby::PeerChannel(FLAGS_ingestion_service, FLAGS_ingestion_ca);
  if (!ingestion_channel.ok()) return FailStartup("bad flags", ingestion_channel.status());
  std::shared_ptr<smartby::TokenProvider> tokens = smartby::PeerTokensOrWarn(
      &runtime,
      "no service account: ingestion and the catalogue are asked without a token, so only "
      "published Åpen datasets reach the feed");

  smartby::SystemClock clock;
  smartby::ingestion::DirectoryOptions directory_options;
  directory_options.fresh_for = absl::GetFlag(FLAGS_dataset_cache_ttl);
  smartby::ingestion::CatalogueDatasetDirectory directory(*catalogue_channel, tokens, &clock,
                                                          directory_options);
  smartby::feed::PlatformDatasetResolver resolver(&directory, *ingestion_channel, tokens);

  smartby::feed::HubOptions hub_options;
  hub_options.queue_capacity = static_cast<size_t>(absl::GetFlag(FLAGS_subscriber_queue));
  hub_options.ring_capacity = static_cast<size_t>(absl::GetFlag(FLAGS_resume_ring));
  smartby::feed::Hub hub(hub_options, &resolver, &clock, runtime.metrics().get());

  // Alarms: the engine observes the hub; events are stored and queued in the outbox (in this
  // database, migrated with the store), whose worker sends them.
  auto channel_settings = ChannelSettingsFromFlags();
  if (!channel_settings.ok()) return FailStartup("bad flags", channel_settings.status());
  smartby::feed::StoreChannelDirectory channels(store->get(), &*channel_settings);
  smartby::feed::NetworkSender sender;
  smartby::feed::Notifier notifier(*db, &clock, &channels, &sender, *runtime.metrics());
  // With several replicas one evaluates the rules: the holder of the alarm lease (the first
  // MaintainLease below, before any reading, takes it when it is free).
  smartby::feed::AlarmObserverOptions alarm_options;
  alarm_options.instance = InstanceName(runtime.options().audit.instance);
  alarm_options.lease_ttl = absl::GetFlag(FLAGS_alarm_lease_ttl);
  alarm_options.takeover_readings =
      static_cast<size_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_alarm_takeover_readings)));
  const absl::Duration lease_renew = absl::GetFlag(FLAGS_alarm_lease_renew);
  if (lease_renew <= absl::ZeroDuration() || lease_renew >= alarm_options.lease_ttl) {
    return FailStartup("bad flags", absl::InvalidArgumentError(
                                        "--alarm_lease_renew: must be more than 0 and less than "
                                        "--alarm_lease_ttl, e.g. 5s with 15s"));
  }
  smartby::feed::AlarmObserver alarms(store->get(), &notifier, &clock, alarm_options,
                                      runtime.metrics().get());
  // Stored alarm events (from every replica) go onto the streams that asked for them.
  alarms.SetListener(
      [&hub](const smartby::feed::v1::AlarmEvent& event) { hub.PublishAlarm(event); });
  if (absl::Status publishing = alarms.StartPublishing(); !publishing.ok()) {
    return FailStartup("cannot read the alarm event log", publishing);
  }
  alarms.MaintainLease();
  hub.AddObserver(&alarms);
  smartby::feed::KpiWatchers kpis(&hub, &clock, absl::GetFlag(FLAGS_kpi_min_interval));
  hub.AddObserver(&kpis);
  smartby::feed::NotifierChannelTester channel_tester(&*channel_settings, &sender, &clock,
                                                      store->get());
  smartby::feed::MinMaxTimeBucketDownsampler downsampler;

  smartby::feed::FeedDeps deps;
  deps.store = store->get();
  deps.hub = &hub;
  deps.clock = &clock;
  deps.ingestion = *ingestion_channel;
  deps.tokens = tokens;
  deps.downsampler = &downsampler;
  deps.channel_tester = &channel_tester;
  deps.alarms = &alarms;
  deps.datasets = &directory;
  smartby::feed::Feed feed(deps);
  smartby::feed::FeedService service(
      &feed, &hub, runtime.NewCallRunner(&smartby::feed::FeedServicePolicy()), &kpis);
  runtime.AddService(&service, &service.calls().policy());

  smartby::feed::HandoverOptions handover_options;
  handover_options.warmup = absl::GetFlag(FLAGS_resume_ring);
  handover_options.checkpoint_interval = absl::GetFlag(FLAGS_checkpoint_interval);
  handover_options.recordable_position = [&alarms] { return alarms.EvaluatedUpTo(); };
  smartby::feed::HandoverConsumer handover(*ingestion_channel, tokens, store->get(), &hub,
                                           runtime.metrics().get(), handover_options);
  if (absl::Status started = handover.Start(); !started.ok()) {
    return FailStartup("cannot read the hand-over position", started);
  }
  smartby::Periodic aggregates(absl::GetFlag(FLAGS_aggregate_tick),
                               [&hub] { hub.PublishAggregates(); });
  smartby::Periodic alarm_tick(absl::GetFlag(FLAGS_alarm_tick), [&alarms] { alarms.Tick(); });
  auto alarm_lease = std::make_unique<smartby::Periodic>(lease_renew,
                                                         [&alarms] { alarms.MaintainLease(); });
  smartby::Periodic alarm_events(absl::GetFlag(FLAGS_alarm_event_poll),
                                 [&alarms] { alarms.PublishNewEvents(); });
  smartby::Periodic kpi_tick(absl::Milliseconds(100), [&kpis] { kpis.Tick(); });
  notifier.Start(absl::GetFlag(FLAGS_notify_poll));

  const int code = runtime.Run();
  handover.Stop();
  notifier.Stop();
  alarm_lease.reset();    // not taken again after
  alarms.ReleaseLease();  // another replica takes over now, not when the lease expires
  return code;
}
