// smartby-catalogue: wiring only — flags → runtime → database → store → domain → service.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "services/catalogue/catalogue.h"
#include "services/catalogue/catalogue_service.h"
#include "services/catalogue/store.h"
#include "services/runtime/log.h"
#include "services/runtime/server.h"
#include "services/runtime/startup.h"

ABSL_FLAG(std::string, dcat_base_uri, "https://data.smartby.example/",
          "base URI of catalogue, dataset and distribution URIs in the DCAT-AP-NO export");
ABSL_FLAG(std::string, dcat_title, "Smartby datakatalog", "title of the exported catalogue");
ABSL_FLAG(std::string, dcat_description, "Datasett fra kommunens dataplattform Smartby.",
          "description of the exported catalogue");
ABSL_FLAG(std::string, dcat_publisher, "Smartby kommune",
          "name of the organisation publishing the catalogue");
ABSL_FLAG(std::string, dcat_publisher_orgnr, "",
          "its organisation number (9 digits), for the publisher URI in Enhetsregisteret");
ABSL_FLAG(absl::Duration, search_refresh_interval, absl::Seconds(2),
          "how often the in-memory search index is reconciled with the database, which picks up "
          "other replicas' writes: search lags them by at most this plus one reconcile");

using smartby::FailStartup;

int main(int argc, char** argv) {
  smartby::ServerRuntime runtime({.name = "catalogue", .grpc_port = 7001, .metrics_port = 9101},
                                 argc, argv);
  auto db = runtime.OpenDatabase();
  if (!db.ok()) {
    smartby::log::Error("cannot open database", {{"error", std::string(db.status().message())}});
    std::fprintf(stderr, "error: %s\n", std::string(db.status().message()).c_str());
    return 1;
  }
  auto store = smartby::catalogue::OpenSqlCatalogueStore(*db);
  if (!store.ok()) {
    smartby::log::Error("cannot prepare the catalogue schema",
                        {{"error", std::string(store.status().message())}});
    std::fprintf(stderr, "error: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  runtime.SetReadinessCheck([database = *db] { return database->Ping(); });

  smartby::catalogue::DcatCatalogueInfo dcat;
  dcat.base_uri = absl::GetFlag(FLAGS_dcat_base_uri);
  if (!dcat.base_uri.empty() && dcat.base_uri.back() != '/') dcat.base_uri += '/';
  dcat.title = absl::GetFlag(FLAGS_dcat_title);
  dcat.description = absl::GetFlag(FLAGS_dcat_description);
  dcat.publisher_name = absl::GetFlag(FLAGS_dcat_publisher);
  dcat.publisher_organization_number = absl::GetFlag(FLAGS_dcat_publisher_orgnr);

  const absl::Duration refresh_interval = absl::GetFlag(FLAGS_search_refresh_interval);
  if (refresh_interval <= absl::ZeroDuration()) {
    return FailStartup("bad flags",
                       absl::InvalidArgumentError("--search_refresh_interval: must be positive"));
  }

  smartby::SystemClock clock;
  smartby::catalogue::Catalogue catalogue(store->get(), &clock, dcat);
  // Search is served from memory: fill the index before serving, then keep it in step with
  // what other replicas write.
  if (absl::Status loaded = catalogue.LoadSearchIndex(); !loaded.ok()) {
    return FailStartup("cannot load the search index", loaded);
  }
  smartby::catalogue::SearchIndexRefresher refresher(&catalogue, refresh_interval);
  smartby::catalogue::CatalogueService service(
      &catalogue, runtime.NewCallRunner(&smartby::catalogue::CatalogueServicePolicy()));
  runtime.AddService(&service, &service.calls().policy());
  return runtime.Run();
}
