// smartby-feed: wiring only — flags → runtime → database → store → catalogue directory →
// hub → hand-over consumer (ingestion's WatchReadings) → domain → service.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "services/feed/dataset_resolver.h"
#include "services/feed/feed.h"
#include "services/feed/feed_service.h"
#include "services/feed/handover.h"
#include "services/feed/hub.h"
#include "services/feed/store.h"
#include "services/ingestion/dataset_directory.h"
#include "services/runtime/authentication.h"
#include "services/runtime/background.h"
#include "services/runtime/log.h"
#include "services/runtime/server.h"

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

namespace {

int Fail(const char* what, const absl::Status& status) {
  smartby::log::Error(what, {{"error", std::string(status.message())}});
  std::fprintf(stderr, "error: %s: %s\n", what, std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  smartby::ServerRuntime runtime({.name = "feed", .grpc_port = 7003, .metrics_port = 9103}, argc,
                                 argv);
  auto db = runtime.OpenDatabase();
  if (!db.ok()) return Fail("cannot open database", db.status());
  auto store = smartby::feed::OpenSqlFeedStore(*db);
  if (!store.ok()) return Fail("cannot prepare the feed schema", store.status());
  runtime.SetReadinessCheck([database = *db] { return database->Ping(); });

  auto catalogue_channel = smartby::ChannelTo(absl::GetFlag(FLAGS_catalogue_service),
                                              absl::GetFlag(FLAGS_catalogue_ca),
                                              "--catalogue_service");
  if (!catalogue_channel.ok()) return Fail("bad flags", catalogue_channel.status());
  auto ingestion_channel = smartby::ChannelTo(absl::GetFlag(FLAGS_ingestion_service),
                                              absl::GetFlag(FLAGS_ingestion_ca),
                                              "--ingestion_service");
  if (!ingestion_channel.ok()) return Fail("bad flags", ingestion_channel.status());
  std::shared_ptr<smartby::TokenProvider> tokens;
  if (auto source = runtime.service_tokens(); source.ok()) {
    tokens = *source;
  } else {
    smartby::log::Warn(
        "no service account: ingestion and the catalogue are asked without a token, so only "
        "published Åpen datasets reach the feed",
        {{"reason", std::string(source.status().message())}});
  }

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
  // Alarm rules and KPIs plug in here: hub.AddObserver(&alarm_engine), hub.AddObserver(&kpis).

  smartby::feed::FeedDeps deps;
  deps.store = store->get();
  deps.hub = &hub;
  deps.clock = &clock;
  deps.ingestion = *ingestion_channel;
  deps.tokens = tokens;
  smartby::feed::Feed feed(deps);
  smartby::feed::FeedService service(
      &feed, &hub, runtime.NewCallRunner(&smartby::feed::FeedServicePolicy()));
  runtime.AddService(&service, &service.calls().policy());

  smartby::feed::HandoverOptions handover_options;
  handover_options.warmup = absl::GetFlag(FLAGS_resume_ring);
  handover_options.checkpoint_interval = absl::GetFlag(FLAGS_checkpoint_interval);
  smartby::feed::HandoverConsumer handover(*ingestion_channel, tokens, store->get(), &hub,
                                           runtime.metrics().get(), handover_options);
  if (absl::Status started = handover.Start(); !started.ok()) {
    return Fail("cannot read the hand-over position", started);
  }
  smartby::Periodic aggregates(absl::GetFlag(FLAGS_aggregate_tick),
                               [&hub] { hub.PublishAggregates(); });

  const int code = runtime.Run();
  handover.Stop();
  return code;
}
