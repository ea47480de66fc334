// smartby-archive: wiring only — flags → runtime → database → store → platform reader →
// exporter → archive (jobs and workers) → service.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/archive/archive.h"
#include "services/archive/archive_service.h"
#include "services/archive/export_pipeline.h"
#include "services/archive/job_audit.h"
#include "services/archive/noark5/package_writer.h"
#include "services/archive/package_push.h"
#include "services/archive/platform_sources.h"
#include "services/archive/store.h"
#include "services/runtime/authentication.h"
#include "services/runtime/background.h"
#include "services/runtime/log.h"
#include "services/runtime/peers.h"
#include "services/runtime/server.h"
#include "services/runtime/startup.h"
#include "services/runtime/status.h"

ABSL_FLAG(std::string, package_dir, "var/archive-packages",
          "where packages are written and kept (a PersistentVolume in Kubernetes); staging "
          "directories live in its .staging/");
ABSL_FLAG(int32_t, export_workers, 1, "exports that run at the same time");
ABSL_FLAG(int32_t, max_queued_exports, 16,
          "exports that may wait for a worker; StartExport is refused beyond this");
ABSL_FLAG(std::string, xsd_dir, "",
          "directory holding the official Noark 5 v5 and ADDML XSDs written into every package "
          "and checked against (default: the copy in the source tree)");
ABSL_FLAG(std::string, default_arkivdel, "Datasett fra Smartby",
          "the arkivdel (series title) of exports that do not name one");
ABSL_FLAG(std::string, default_document_type, "Dataeksport",
          "the dokumenttype of exports that do not name one");
ABSL_FLAG(std::string, archive_title, "Smartby", "arkiv/tittel of every package");
ABSL_FLAG(std::string, archive_creator_id, "",
          "arkivskaperID: the municipality's organisation number (9 digits); required");
ABSL_FLAG(std::string, archive_creator_name, "",
          "arkivskaperNavn: the municipality, e.g. \"Stavanger kommune\"; required");
ABSL_FLAG(std::string, catalogue_service, "grpc://127.0.0.1:7001",
          "the catalogue, where datasets' metadata, history and classes come from");
ABSL_FLAG(std::string, catalogue_ca, "", "CA certificate (PEM) for a grpcs:// catalogue");
ABSL_FLAG(std::string, ingestion_service, "grpc://127.0.0.1:7002",
          "ingestion, where the datasets' readings come from");
ABSL_FLAG(std::string, ingestion_ca, "", "CA certificate (PEM) for a grpcs:// ingestion");
ABSL_FLAG(std::string, audit_query_service, "",
          "the audit log to read each dataset's audit trail from (for endringslogg.xml): "
          "grpc://HOST:PORT or grpcs://HOST:PORT; default: --audit_service; \"none\": packages "
          "carry only the catalogue's history");
ABSL_FLAG(std::string, audit_query_ca, "", "CA certificate (PEM) for a grpcs:// audit log");
ABSL_FLAG(absl::Duration, platform_call_timeout, absl::Seconds(30),
          "deadline of each call to the catalogue, ingestion and the audit log");
ABSL_FLAG(int32_t, readings_page_size, 5000,
          "readings asked of ingestion per call (at most 10000)");

ABSL_FLAG(std::string, noark5_core_url, "",
          "root URL of the municipality's Noark 5 core (tjenestegrensesnitt), e.g. "
          "https://arkiv.kommune.no/noark5v5/; empty: PushExport is refused; http only on "
          "loopback");
ABSL_FLAG(std::string, noark5_arkivdel, "",
          "title of the core's arkivdel the saksmapper are created in; empty: the first listed");
ABSL_FLAG(std::string, noark5_token_url, "",
          "the OIDC token endpoint the core's access tokens come from (client-credentials grant); "
          "required with --noark5_core_url");
ABSL_FLAG(std::string, noark5_client_id, "", "OIDC client id of the archive at the core's IdP");
ABSL_FLAG(std::string, noark5_client_secret_file, "",
          "file holding that client's secret (a mounted Secret in Kubernetes)");
ABSL_FLAG(std::string, noark5_scope, "", "OIDC scope to ask for, if the IdP needs one");
ABSL_FLAG(std::string, noark5_ca, "",
          "CA certificate (PEM) for the core and the token endpoint; default: system roots");
ABSL_FLAG(absl::Duration, noark5_timeout, absl::Seconds(120),
          "deadline of each HTTP request to the core (an upload of one document included)");

namespace {

// http:// is allowed only to this machine: tokens and records must not cross a network in clear.
absl::Status CheckCoreUrl(const std::string& url, const char* flag) {
  if (absl::StartsWith(url, "https://")) return absl::OkStatus();
  if (absl::StartsWith(url, "http://")) {
    absl::string_view rest = absl::string_view(url).substr(7);
    for (absl::string_view host : {"127.0.0.1", "localhost", "[::1]"}) {
      if (absl::StartsWith(rest, host) &&
          (rest.size() == host.size() || rest[host.size()] == ':' || rest[host.size()] == '/')) {
        return absl::OkStatus();
      }
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      flag, ": expected an https:// URL (http:// only to 127.0.0.1, localhost or [::1]), got \"",
      url, "\""));
}

// The push to the Noark 5 core, or null when --noark5_core_url is empty.
absl::StatusOr<std::unique_ptr<smartby::archive::PackagePusher>> CorePusherFromFlags() {
  const std::string core_url = absl::GetFlag(FLAGS_noark5_core_url);
  if (core_url.empty()) return nullptr;
  RETURN_IF_ERROR(CheckCoreUrl(core_url, "--noark5_core_url"));
  const std::string token_url = absl::GetFlag(FLAGS_noark5_token_url);
  const std::string client_id = absl::GetFlag(FLAGS_noark5_client_id);
  if (token_url.empty() || client_id.empty() ||
      absl::GetFlag(FLAGS_noark5_client_secret_file).empty()) {
    return absl::InvalidArgumentError(
        "--noark5_token_url, --noark5_client_id and --noark5_client_secret_file: required with "
        "--noark5_core_url (the core takes OIDC bearer tokens from its identity provider)");
  }
  RETURN_IF_ERROR(CheckCoreUrl(token_url, "--noark5_token_url"));
  ASSIGN_OR_RETURN(const std::string secret,
                   smartby::ReadSecretFile(absl::GetFlag(FLAGS_noark5_client_secret_file),
                                           "--noark5_client_secret_file"));
  smartby::archive::CorePushOptions options;
  options.root_url = core_url;
  options.series_title = absl::GetFlag(FLAGS_noark5_arkivdel);
  options.ca_file = absl::GetFlag(FLAGS_noark5_ca);
  options.timeout = absl::GetFlag(FLAGS_noark5_timeout);
  auto tokens = std::make_shared<smartby::archive::OidcClientCredentials>(
      token_url, client_id, secret, absl::GetFlag(FLAGS_noark5_scope), options.ca_file);
  return std::make_unique<smartby::archive::PackagePusher>(std::move(options), std::move(tokens));
}

using smartby::FailStartup;

}  // namespace

int main(int argc, char** argv) {
  smartby::ServerRuntime runtime({.name = "archive", .grpc_port = 7006, .metrics_port = 9106},
                                 argc, argv);
  smartby::archive::PackageIdentity identity;
  identity.archive_title = absl::GetFlag(FLAGS_archive_title);
  identity.creator_id = absl::GetFlag(FLAGS_archive_creator_id);
  identity.creator_name = absl::GetFlag(FLAGS_archive_creator_name);
  identity.xsd_dir = absl::GetFlag(FLAGS_xsd_dir);
  if (identity.xsd_dir.empty()) identity.xsd_dir = smartby::noark5::SourceTreeXsdDir();
  if (absl::Status schemas = smartby::noark5::CheckSchemaFolder(identity.xsd_dir); !schemas.ok()) {
    return FailStartup("bad --xsd_dir", schemas);
  }
  if (identity.creator_id.empty() || identity.creator_name.empty()) {
    return FailStartup(
        "bad flags",
        absl::InvalidArgumentError("--archive_creator_id and --archive_creator_name: required (the "
                                   "municipality's organisation number and name, written into "
                                   "every package as arkivskaper)"));
  }

  auto db = runtime.OpenDatabase();
  if (!db.ok()) return FailStartup("cannot open database", db.status());
  auto store = smartby::archive::OpenSqlExportJobStore(*db);
  if (!store.ok()) return FailStartup("cannot prepare the archive schema", store.status());
  runtime.SetReadinessCheck([database = *db] { return database->Ping(); });

  smartby::archive::PlatformChannels channels;
  auto catalogue = smartby::PeerChannel(FLAGS_catalogue_service, FLAGS_catalogue_ca);
  if (!catalogue.ok()) return FailStartup("bad flags", catalogue.status());
  channels.catalogue = *catalogue;
  auto ingestion = smartby::PeerChannel(FLAGS_ingestion_service, FLAGS_ingestion_ca);
  if (!ingestion.ok()) return FailStartup("bad flags", ingestion.status());
  channels.ingestion = *ingestion;
  std::string audit_endpoint = absl::GetFlag(FLAGS_audit_query_service);
  if (audit_endpoint.empty()) audit_endpoint = runtime.options().audit.service;
  if (!audit_endpoint.empty() && audit_endpoint != "none") {
    const std::string ca = absl::GetFlag(FLAGS_audit_query_ca).empty()
                               ? runtime.options().authentication.ca_file
                               : absl::GetFlag(FLAGS_audit_query_ca);
    auto audit = smartby::ChannelTo(audit_endpoint, ca, "--audit_query_service");
    if (!audit.ok()) return FailStartup("bad flags", audit.status());
    channels.audit = *audit;
  } else {
    smartby::log::Warn("no audit log to read: packages carry only the catalogue's history in "
                       "endringslogg.xml");
  }
  std::shared_ptr<smartby::TokenProvider> tokens = smartby::PeerTokensOrWarn(
      &runtime,
      "no service account: the platform is read without a token, so only published Åpen "
      "datasets can be exported");
  smartby::archive::GrpcPlatformReader reader(channels, tokens,
                                              absl::GetFlag(FLAGS_platform_call_timeout),
                                              absl::GetFlag(FLAGS_readings_page_size));
  smartby::archive::NoarkPackageExporter exporter(&reader, identity);

  // The runner first: it opens the audit outbox the job auditor writes to.
  smartby::CallRunner calls = runtime.NewCallRunner(&smartby::archive::ArchiveServicePolicy());
  const std::string client_id = runtime.options().authentication.client_id;
  smartby::SystemClock clock;
  smartby::archive::OutboxJobAuditor auditor(
      runtime.audit_outbox(), &clock, runtime.options().audit.producer,
      absl::StrCat("service:", client_id.empty() ? "archive" : client_id));

  auto pusher = CorePusherFromFlags();
  if (!pusher.ok()) return FailStartup("bad flags", pusher.status());

  smartby::archive::ArchiveOptions options;
  options.core_pusher = pusher->get();
  options.package_dir = absl::GetFlag(FLAGS_package_dir);
  options.workers = absl::GetFlag(FLAGS_export_workers);
  options.max_queued = absl::GetFlag(FLAGS_max_queued_exports);
  options.default_arkivdel = absl::GetFlag(FLAGS_default_arkivdel);
  options.default_document_type = absl::GetFlag(FLAGS_default_document_type);
  smartby::archive::Archive archive(store->get(), &reader, &exporter, &auditor, &clock,
                                    runtime.metrics().get(), options);
  if (absl::Status started = archive.Start(); !started.ok()) {
    return FailStartup("cannot start the export workers", started);
  }
  smartby::archive::ArchiveService service(&archive, &auditor, std::move(calls));
  runtime.AddService(&service, &service.calls().policy());
  const int code = runtime.Run();
  archive.Stop();
  return code;
}
