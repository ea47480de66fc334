// smartby-ingestion: wiring only — flags → runtime → database → store → catalogue directory →
// domain → service, plus the MQTT bridge and the background jobs (retention, quality metrics).
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "services/ingestion/dataset_directory.h"
#include "services/ingestion/ingestion.h"
#include "services/ingestion/ingestion_service.h"
#include "services/ingestion/mqtt_bridge.h"
#include "services/ingestion/store.h"
#include "services/runtime/authentication.h"
#include "services/runtime/background.h"
#include "services/runtime/log.h"
#include "services/runtime/peers.h"
#include "services/runtime/server.h"

ABSL_FLAG(std::string, catalogue_service, "grpc://127.0.0.1:7001",
          "the catalogue, where datasets' schemas, classes and states come from");
ABSL_FLAG(std::string, catalogue_ca, "", "CA certificate (PEM) for a grpcs:// catalogue");
ABSL_FLAG(absl::Duration, dataset_cache_ttl, absl::Seconds(30),
          "how long a dataset's schema is used before the catalogue is asked again (a changed "
          "schema or a retirement takes effect within this)");
ABSL_FLAG(absl::Duration, max_future, absl::Minutes(5),
          "readings whose time is further ahead of this service's clock are rejected");
ABSL_FLAG(absl::Duration, retention_interval, absl::Minutes(1),
          "how often expired readings are deleted (datasets with a retention set)");
ABSL_FLAG(absl::Duration, watch_poll_interval, absl::Seconds(1),
          "how often WatchReadings streams look for other replicas' commits");
ABSL_FLAG(std::string, mqtt_broker, "",
          "MQTT broker host:port to take readings from (empty: no MQTT); e.g. 127.0.0.1:1883");
ABSL_FLAG(std::string, mqtt_topics, "smartby/readings/#",
          "comma-separated subscriptions; topics are <prefix>/<dataset>/<source_id>");
ABSL_FLAG(std::string, mqtt_topic_prefix, "smartby/readings", "the <prefix> of reading topics");
ABSL_FLAG(std::string, mqtt_client_id, "smartby-ingestion",
          "MQTT client id; stable, so the broker keeps the session and queued messages across "
          "restarts (replicas need distinct ids and shared subscriptions)");
ABSL_FLAG(std::string, mqtt_username, "", "MQTT user name");
ABSL_FLAG(std::string, mqtt_password_file, "", "file holding the MQTT password");
ABSL_FLAG(std::string, mqtt_ca, "", "CA certificate (PEM): connect to the broker over TLS");

namespace {

int Fail(const char* what, const absl::Status& status) {
  smartby::log::Error(what, {{"error", std::string(status.message())}});
  std::fprintf(stderr, "error: %s: %s\n", what, std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  smartby::ServerRuntime runtime({.name = "ingestion", .grpc_port = 7002, .metrics_port = 9102},
                                 argc, argv);
  auto db = runtime.OpenDatabase();
  if (!db.ok()) return Fail("cannot open database", db.status());
  auto store = smartby::ingestion::OpenSqlIngestionStore(*db);
  if (!store.ok()) return Fail("cannot prepare the ingestion schema", store.status());
  runtime.SetReadinessCheck([database = *db] { return database->Ping(); });

  auto catalogue_channel = smartby::PeerChannel(FLAGS_catalogue_service, FLAGS_catalogue_ca);
  if (!catalogue_channel.ok()) return Fail("bad flags", catalogue_channel.status());
  std::shared_ptr<smartby::TokenProvider> tokens = smartby::PeerTokensOrWarn(
      &runtime,
      "no service account: the catalogue is asked without a token, so only published Åpen "
      "datasets can take readings");
  smartby::SystemClock clock;
  smartby::ingestion::DirectoryOptions directory_options;
  directory_options.fresh_for = absl::GetFlag(FLAGS_dataset_cache_ttl);
  smartby::ingestion::CatalogueDatasetDirectory directory(*catalogue_channel, tokens, &clock,
                                                          directory_options);

  smartby::ingestion::IngestionOptions options;
  options.max_future = absl::GetFlag(FLAGS_max_future);
  options.mqtt_topic_prefix = absl::GetFlag(FLAGS_mqtt_topic_prefix);
  smartby::ingestion::Ingestion ingestion(store->get(), &directory, &clock,
                                          runtime.metrics().get(), options);
  smartby::ingestion::IngestionService service(
      &ingestion, runtime.NewCallRunner(&smartby::ingestion::IngestionServicePolicy()),
      absl::GetFlag(FLAGS_watch_poll_interval));
  runtime.AddService(&service, &service.calls().policy());

  smartby::Periodic retention(absl::GetFlag(FLAGS_retention_interval), [&ingestion] {
    absl::StatusOr<int64_t> deleted = ingestion.ApplyRetention();
    if (!deleted.ok()) {
      smartby::log::Warn("retention pass failed", {{"error", std::string(deleted.status().message())}});
    } else if (*deleted > 0) {
      smartby::log::Info("expired readings deleted", {{"readings", std::to_string(*deleted)}});
    }
    if (absl::Status refreshed = ingestion.RefreshQualityMetrics(); !refreshed.ok()) {
      smartby::log::Warn("quality metrics not refreshed", {{"error", std::string(refreshed.message())}});
    }
  });

  std::unique_ptr<smartby::ingestion::MqttBridge> bridge;
  if (const std::string broker = absl::GetFlag(FLAGS_mqtt_broker); !broker.empty()) {
    smartby::ingestion::MqttBridgeOptions mqtt;
    std::pair<std::string, std::string> host_port = absl::StrSplit(broker, absl::MaxSplits(':', 1));
    mqtt.host = host_port.first;
    if (!host_port.second.empty() && !absl::SimpleAtoi(host_port.second, &mqtt.port)) {
      return Fail("bad flags", absl::InvalidArgumentError("--mqtt_broker: expected host:port"));
    }
    for (absl::string_view topic : absl::StrSplit(absl::GetFlag(FLAGS_mqtt_topics), ',', absl::SkipEmpty())) {
      mqtt.topics.emplace_back(topic);
    }
    mqtt.client_id = absl::GetFlag(FLAGS_mqtt_client_id);
    mqtt.username = absl::GetFlag(FLAGS_mqtt_username);
    if (const std::string file = absl::GetFlag(FLAGS_mqtt_password_file); !file.empty()) {
      auto password = smartby::ReadSecretFile(file, "--mqtt_password_file");
      if (!password.ok()) return Fail("bad flags", password.status());
      mqtt.password = *std::move(password);
    }
    mqtt.ca_file = absl::GetFlag(FLAGS_mqtt_ca);
    auto started = smartby::ingestion::MqttBridge::Start(
        mqtt,
        [&ingestion](absl::string_view topic, absl::string_view payload) {
          return ingestion.HandleMqttMessage(topic, payload);
        },
        runtime.metrics().get());
    if (!started.ok()) return Fail("cannot start the MQTT bridge", started.status());
    bridge = *std::move(started);
  }

  const int code = runtime.Run();
  if (bridge != nullptr) bridge->Stop();
  return code;
}
