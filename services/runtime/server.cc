#include "services/runtime/server.h"

#include "services/runtime/background.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <prometheus/text_serializer.h>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/runtime/flags.h"
#include "services/runtime/log.h"
#include "services/runtime/metrics.h"
#include "services/runtime/status.h"

// The flags every service shares. Each has an environment twin SMARTBY_<NAME>.
ABSL_FLAG(std::string, listen, "",
          "gRPC listen address HOST:PORT (default 127.0.0.1 and the service's port; 0 = any free "
          "port). A non-loopback address needs --tls_cert/--tls_key.");
ABSL_FLAG(std::string, metrics_listen, "",
          "metrics and health HTTP address HOST:PORT (/metrics, /healthz, /readyz)");
ABSL_FLAG(std::string, health_listen, "",
          "optional plaintext gRPC address HOST:PORT serving only grpc.health.v1, for Kubernetes "
          "gRPC probes when the main port uses TLS (probes cannot speak TLS); empty: off");
ABSL_FLAG(std::string, database, "",
          "sqlite:///path/file.db or postgres://user@host:port/db (default: SQLite file "
          "<data_dir>/<service>.db)");
ABSL_FLAG(std::string, data_dir, "var", "directory for the default SQLite database");
ABSL_FLAG(std::string, tls_cert, "", "server certificate chain (PEM file); enables TLS 1.2+");
ABSL_FLAG(std::string, tls_key, "", "server private key (PEM file)");
ABSL_FLAG(std::string, tls_client_ca, "",
          "CA bundle (PEM file) to require and verify client certificates (mutual TLS)");
ABSL_FLAG(bool, allow_insecure_listen, false,
          "allow plaintext gRPC on a non-loopback address (only behind a TLS-terminating proxy "
          "or mesh)");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20, "largest request or response message in bytes");
ABSL_FLAG(int32_t, keepalive_seconds, 60, "interval of server keepalive pings");
ABSL_FLAG(int32_t, shutdown_grace_seconds, 10,
          "on SIGTERM, how long in-flight calls may take to finish before they are cancelled");
ABSL_FLAG(int32_t, worker_threads, 8, "threads that run handlers' blocking work");
ABSL_FLAG(int32_t, worker_queue, 1024,
          "calls that may wait for a worker before new ones get RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, auth_issuer, "smartby",
          "issuer (\"iss\") of the platform's access tokens, as the auth service signs them");
ABSL_FLAG(std::string, auth_audience, "smartby", "audience (\"aud\") platform tokens must name");
ABSL_FLAG(std::string, auth_service, "grpc://127.0.0.1:7004",
          "the auth service: grpc://HOST:PORT (plaintext: loopback or a mesh) or grpcs://HOST:PORT "
          "(TLS); public keys and this service's own tokens come from there");
ABSL_FLAG(std::string, auth_jwks, "",
          "where the platform's public signing keys come from, if not --auth_service: "
          "grpc://HOST:PORT, grpcs://HOST:PORT or file:PATH (a JWKS document)");
ABSL_FLAG(std::string, auth_ca, "",
          "CA bundle (PEM file) to verify the auth service's certificate with grpcs:// (default: "
          "system roots)");
ABSL_FLAG(std::string, service_client_id, "",
          "this service's service account, for the tokens its calls to other services carry");
ABSL_FLAG(std::string, service_client_secret_file, "",
          "file holding that service account's client secret (e.g. a mounted Kubernetes Secret)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error");
ABSL_FLAG(std::string, audit_outbox, "",
          "SQLite file where audit events wait until the audit service has them (default: beside "
          "the SQLite database as <name>-audit-outbox.db, or <data_dir>/<service>-audit-outbox.db "
          "with PostgreSQL); one per process, on durable storage");
ABSL_FLAG(std::string, audit_service, "grpc://127.0.0.1:7005",
          "the audit service: grpc://HOST:PORT or grpcs://HOST:PORT (verified with --auth_ca or "
          "the system roots). Empty: do not ship; events stay in the outbox and mutations are "
          "refused once it is full (auditing itself cannot be turned off)");
ABSL_FLAG(std::string, audit_producer, "",
          "the producer name on this process's audit events (default: --service_client_id, else "
          "the service name), followed by /<instance> when --audit_instance is set; the audit "
          "log takes from a service token only events of its own service account and its "
          "instances");
ABSL_FLAG(std::string, audit_instance, "",
          "this process among several replicas of the service (the charts pass the pod name): "
          "its audit events' producer becomes <producer>/<instance>, so that replicas, each with "
          "its own outbox and sequence, are told apart. 1 to 63 of a-z, 0-9, '-', '.'; empty: "
          "the process runs alone");
ABSL_FLAG(int64_t, audit_outbox_max, 100000,
          "audit events the outbox may hold before new mutations are refused (UNAVAILABLE)");
ABSL_FLAG(absl::Duration, audit_outbox_max_age, absl::Hours(1),
          "new mutations are refused once the oldest unshipped audit event is older than this; "
          "0 = no age limit");

namespace smartby {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

absl::Status CheckReadable(const std::string& path, const char* flag) {
  if (path.empty()) return absl::OkStatus();
  std::ifstream in(path);
  if (!in.good()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read \"", path, "\""));
  }
  return absl::OkStatus();
}

ServerOptions OptionsFromFlags(const ServiceIdentity& identity) {
  ServerOptions o;
  o.listen_address = absl::GetFlag(FLAGS_listen);
  if (o.listen_address.empty()) o.listen_address = absl::StrCat("127.0.0.1:", identity.grpc_port);
  o.metrics_listen_address = absl::GetFlag(FLAGS_metrics_listen);
  if (o.metrics_listen_address.empty()) {
    o.metrics_listen_address = absl::StrCat("127.0.0.1:", identity.metrics_port);
  }
  o.health_listen_address = absl::GetFlag(FLAGS_health_listen);
  o.database_url = absl::GetFlag(FLAGS_database);
  if (o.database_url.empty()) {
    std::error_code ec;
    auto dir = std::filesystem::absolute(absl::GetFlag(FLAGS_data_dir), ec);
    o.database_url = absl::StrCat("sqlite://", (dir / (identity.name + ".db")).string());
  }
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  o.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  o.allow_insecure_non_loopback = absl::GetFlag(FLAGS_allow_insecure_listen);
  o.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  o.keepalive_seconds = absl::GetFlag(FLAGS_keepalive_seconds);
  o.shutdown_grace = absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds));
  o.worker_threads = absl::GetFlag(FLAGS_worker_threads);
  o.worker_queue = absl::GetFlag(FLAGS_worker_queue);
  o.authentication.issuer = absl::GetFlag(FLAGS_auth_issuer);
  o.authentication.audience = absl::GetFlag(FLAGS_auth_audience);
  o.authentication.service = absl::GetFlag(FLAGS_auth_service);
  o.authentication.jwks = absl::GetFlag(FLAGS_auth_jwks);
  if (o.authentication.jwks.empty()) o.authentication.jwks = o.authentication.service;
  o.authentication.client_id = absl::GetFlag(FLAGS_service_client_id);
  o.authentication.client_secret_file = absl::GetFlag(FLAGS_service_client_secret_file);
  o.authentication.ca_file = absl::GetFlag(FLAGS_auth_ca);
  o.audit.outbox_path = absl::GetFlag(FLAGS_audit_outbox);
  if (o.audit.outbox_path.empty()) {
    // Beside the service's own SQLite file, so that its local state lives together (and two
    // processes with different databases never share an outbox).
    constexpr absl::string_view kSqlite = "sqlite://";
    absl::string_view url = o.database_url;
    if (absl::StartsWith(url, kSqlite) && url != "sqlite://:memory:") {
      absl::string_view path = url.substr(kSqlite.size());
      absl::ConsumeSuffix(&path, ".db");
      o.audit.outbox_path = absl::StrCat(path, "-audit-outbox.db");
    } else {
      std::error_code ec;
      auto dir = std::filesystem::absolute(absl::GetFlag(FLAGS_data_dir), ec);
      o.audit.outbox_path = (dir / (identity.name + "-audit-outbox.db")).string();
    }
  }
  o.audit.service = absl::GetFlag(FLAGS_audit_service);
  o.audit.producer = absl::GetFlag(FLAGS_audit_producer);
  o.audit.instance = absl::GetFlag(FLAGS_audit_instance);
  // The log accepts from a service token only events whose producer is its service account
  // (or "<account>/<instance>").
  if (o.audit.producer.empty()) o.audit.producer = o.authentication.client_id;
  if (o.audit.producer.empty()) o.audit.producer = identity.name;
  o.audit.max_events = absl::GetFlag(FLAGS_audit_outbox_max);
  o.audit.max_age = absl::GetFlag(FLAGS_audit_outbox_max_age);
  return o;
}

std::shared_ptr<grpc::ServerCredentials> MakeCredentials(const ServerOptions& o) {
  if (o.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  // The file watcher picks up renewed certificates (cert-manager, OpenShift service CA) without
  // a restart. gRPC's TLS stack refuses anything older than TLS 1.2.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      o.tls_key_file, o.tls_cert_file, o.tls_client_ca_file, /*refresh_interval_sec=*/60);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!o.tls_client_ca_file.empty()) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

}  // namespace

bool IsLoopbackAddress(absl::string_view host_port) {
  absl::string_view host = host_port;
  if (absl::StartsWith(host, "[")) {
    host = host.substr(1, host.find(']') - 1);
  } else if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::Status CheckServerOptions(const ServerOptions& o) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key: give both (certificate chain and private key) or neither");
  }
  if (!o.tls_client_ca_file.empty() && o.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca: mutual TLS needs a server certificate too (--tls_cert, --tls_key)");
  }
  RETURN_IF_ERROR(CheckReadable(o.tls_cert_file, "tls_cert"));
  RETURN_IF_ERROR(CheckReadable(o.tls_key_file, "tls_key"));
  RETURN_IF_ERROR(CheckReadable(o.tls_client_ca_file, "tls_client_ca"));
  if (o.tls_cert_file.empty() && !IsLoopbackAddress(o.listen_address) &&
      !o.allow_insecure_non_loopback) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen: ", o.listen_address,
        " is reachable from other machines, so it needs TLS: give --tls_cert and --tls_key "
        "(or --allow_insecure_listen behind a TLS-terminating proxy)"));
  }
  if (o.max_message_bytes < 1024) {
    return absl::InvalidArgumentError("--max_message_bytes: must be at least 1024");
  }
  if (o.worker_threads < 1 || o.worker_queue < 1) {
    return absl::InvalidArgumentError("--worker_threads and --worker_queue: must be at least 1");
  }
  if (o.audit.max_events < 1) {
    return absl::InvalidArgumentError("--audit_outbox_max: must be at least 1");
  }
  if (o.audit.max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--audit_outbox_max_age: must not be negative");
  }
  if (!o.audit.instance.empty()) {
    RETURN_IF_ERROR(
        CheckAuditInstance(o.audit.instance, "--audit_instance (or SMARTBY_AUDIT_INSTANCE)"));
    if (absl::StrContains(o.audit.producer, '/')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--audit_producer: \"", o.audit.producer, "\" already names an instance; with "
          "--audit_instance give the account alone (the instance is appended after a '/')"));
    }
  }
  return absl::OkStatus();
}

ServerRuntime::ServerRuntime(ServiceIdentity identity, int argc, char** argv)
    : identity_(std::move(identity)), registry_(std::make_shared<prometheus::Registry>()) {
  // Blocked before any thread exists, so every thread inherits the mask and Run() alone
  // receives the signals through sigwait.
  sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ParseFlags(argc, argv,
             absl::StrCat("smartby-", identity_.name, " [flags]\n\nThe Smartby ",
                          identity_.name, " service. Every flag can also be set in the ",
                          "environment as SMARTBY_<FLAG_NAME>."));
  log::Level level = log::Level::kInfo;
  if (!log::ParseLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "error: --log_level: expected debug, info, warn or error\n");
    std::exit(2);
  }
  log::Init(identity_.name, level);
  log::RouteProtobufLogs();
  options_ = OptionsFromFlags(identity_);
  pool_ = std::make_unique<WorkerPool>(options_.worker_threads, options_.worker_queue);
  http_ = std::make_unique<HttpServer>();
}

ServerRuntime::~ServerRuntime() = default;

absl::StatusOr<std::shared_ptr<storage::Database>> ServerRuntime::OpenDatabase(
    const storage::DatabaseOptions& database_options) {
  log::Info("opening database", {{"database", storage::RedactDatabaseUrl(options_.database_url)}});
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Database> db,
                   storage::OpenDatabase(options_.database_url, database_options));
  return std::shared_ptr<storage::Database>(std::move(db));
}

void ServerRuntime::AddService(grpc::Service* service, const ServicePolicy* policy) {
  services_.emplace_back(service, policy);
}

void ServerRuntime::SetPlatformKeySource(std::shared_ptr<auth::KeySource> source) {
  key_source_ = std::move(source);
}

CallRunner ServerRuntime::NewCallRunner(const ServicePolicy* policy) {
  CallRunner runner(policy, pool_.get());
  if (verifier_ == nullptr && authentication_status_.ok()) {
    authentication_status_ = [&]() -> absl::Status {
      if (key_source_ == nullptr) {
        ASSIGN_OR_RETURN(std::unique_ptr<auth::KeySource> source,
                         NewPlatformKeySource(options_.authentication));
        key_source_ = std::move(source);
      }
      platform_keys_ = std::make_shared<auth::CachedKeySet>(key_source_.get(), &clock_);
      auth::IssuerConfig issuer;
      issuer.issuer = options_.authentication.issuer;
      issuer.audiences = {options_.authentication.audience};
      issuer.allowed_algs = {"ES256", "EdDSA"};
      issuer.keys = platform_keys_;
      std::vector<auth::IssuerConfig> issuers;
      issuers.push_back(std::move(issuer));
      ASSIGN_OR_RETURN(auto verifier, auth::JwtTokenVerifier::Create(std::move(issuers), &clock_));
      verifier_ = std::move(verifier);
      return absl::OkStatus();
    }();
  }
  // Without a verifier (bad flags; Start() refuses to serve then) no token is ever accepted.
  if (verifier_ != nullptr) runner.AddGuard(std::make_shared<AuthenticationGuard>(verifier_));
  // After authentication, so that the record names the principal. Without an outbox Start()
  // refuses to serve.
  if (auto guard = AuditGuardForRunners(); guard != nullptr) runner.AddGuard(std::move(guard));
  return runner;
}

std::shared_ptr<AuditGuard> ServerRuntime::AuditGuardForRunners() {
  if (audit_guard_ != nullptr || !audit_status_.ok()) return audit_guard_;
  const AuditOptions& o = options_.audit;
  auto outbox = AuditOutbox::Open(o.outbox_path, &clock_);
  if (!outbox.ok()) {
    audit_status_ = absl::Status(outbox.status().code(),
                                 absl::StrCat("cannot open the audit outbox ", o.outbox_path, ": ",
                                              outbox.status().message()));
    return nullptr;
  }
  audit_outbox_ = *std::move(outbox);
  audit_metrics_ = std::make_unique<AuditMetrics>(*registry_);
  audit_metrics_->Observe(*audit_outbox_, clock_.Now());
  AuditGuardOptions guard_options;
  guard_options.producer = AuditProducerName(o.producer, o.instance);
  guard_options.max_events = o.max_events;
  guard_options.max_age = o.max_age;
  audit_guard_ = std::make_shared<AuditGuard>(
      audit_outbox_.get(), std::move(guard_options), &clock_, &audit_metrics_->record_failures,
      [this] {
        audit_metrics_->Observe(*audit_outbox_, clock_.Now());
        if (audit_shipper_ != nullptr) audit_shipper_->Wake();
      });
  if (const int64_t waiting = audit_outbox_->depth(); waiting > 0) {
    log::Info("audit events from an earlier run wait in the outbox",
              {{"events", waiting}, {"outbox", o.outbox_path}});
  }
  return audit_guard_;
}

absl::Status ServerRuntime::StartAuditShipper() {
  if (audit_outbox_ == nullptr) return absl::OkStatus();  // no runner, nothing recorded
  const AuditOptions& o = options_.audit;
  std::shared_ptr<grpc::Channel> channel;
  std::shared_ptr<TokenProvider> tokens = audit_tokens_;
  const std::string limits =
      absl::StrCat("new mutations are refused once the outbox holds ", o.max_events,
                   " events or its oldest is older than ", absl::FormatDuration(o.max_age));
  if (o.service.empty()) {
    log::Warn(absl::StrCat("audit shipping is disabled (--audit_service is empty): events are kept "
                           "in the outbox, not sent to the audit log; ", limits),
              {{"outbox", o.outbox_path}});
  } else {
    ASSIGN_OR_RETURN(channel, ChannelTo(o.service, options_.authentication.ca_file,
                                        "--audit_service"));
    if (tokens == nullptr) {
      absl::StatusOr<std::shared_ptr<ServiceTokenSource>> source = service_tokens();
      if (source.ok()) {
        tokens = *source;
      } else {
        channel = nullptr;  // nothing to authenticate with: hold the events
        log::Warn(absl::StrCat("audit events cannot be shipped: this service has no service "
                               "account (--service_client_id, --service_client_secret_file; role "
                               "audit-writer). They are kept in the outbox; ", limits),
                  {{"error", std::string(source.status().message())},
                   {"outbox", o.outbox_path}});
      }
    }
  }
  audit_shipper_ = std::make_unique<AuditShipper>(audit_outbox_.get(), std::move(channel),
                                                  std::move(tokens), audit_metrics_.get(),
                                                  &clock_);
  audit_shipper_->Start();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ServiceTokenSource>> ServerRuntime::service_tokens() {
  if (service_tokens_ != nullptr) return service_tokens_;
  const AuthenticationOptions& o = options_.authentication;
  if (o.client_id.empty() || o.client_secret_file.empty()) {
    return absl::FailedPreconditionError(
        "--service_client_id and --service_client_secret_file: this service calls other services "
        "and needs its own service account (smartctl serviceaccount create)");
  }
  ASSIGN_OR_RETURN(std::string secret,
                   ReadSecretFile(o.client_secret_file, "--service_client_secret_file"));
  ASSIGN_OR_RETURN(auto channel, ChannelTo(o.service, o.ca_file, "--auth_service"));
  service_tokens_ = std::make_shared<ServiceTokenSource>(std::move(channel), o.client_id,
                                                         std::move(secret), &clock_);
  return service_tokens_;
}

absl::Status ServerRuntime::Start() {
  RETURN_IF_ERROR(CheckServerOptions(options_));
  RETURN_IF_ERROR(authentication_status_);
  RETURN_IF_ERROR(audit_status_);
  for (const auto& [service, policy] : services_) {
    const auto* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(policy->service);
    if (descriptor == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("unknown service ", policy->service));
    }
    RETURN_IF_ERROR(CheckPolicyCoversService(*policy, *descriptor));
  }

  auto process = NewProcessCollector();
  std::map<std::string, std::string> certificates;
  if (!options_.tls_cert_file.empty()) certificates["server"] = options_.tls_cert_file;
  if (!options_.tls_client_ca_file.empty()) certificates["client_ca"] = options_.tls_client_ca_file;
  std::shared_ptr<prometheus::Collectable> certificate_expiry =
      certificates.empty() ? nullptr : NewCertificateCollector(std::move(certificates));
  http_->Handle("/metrics", [registry = registry_, process, certificate_expiry] {
    auto families = registry->Collect();
    for (auto& family : process->Collect()) families.push_back(std::move(family));
    if (certificate_expiry != nullptr) {
      for (auto& family : certificate_expiry->Collect()) families.push_back(std::move(family));
    }
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                        prometheus::TextSerializer().Serialize(families)};
  });
  http_->Handle("/healthz", [] { return HttpResponse{200, "text/plain", "ok\n"}; });
  http_->Handle("/readyz", [this] {
    if (!serving_.load()) return HttpResponse{503, "text/plain", "not serving\n"};
    if (readiness_ && !readiness_()) return HttpResponse{503, "text/plain", "not ready\n"};
    return HttpResponse{200, "text/plain", "ready\n"};
  });
  RETURN_IF_ERROR(http_->Start(options_.metrics_listen_address));
  metrics_port_ = http_->port();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(options_.listen_address, MakeCredentials(options_), &selected_port);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  // A second server on a busy port must fail, not share it silently (build-notes.md).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, options_.keepalive_seconds * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  std::map<std::string, RegisteredMethod> registered_methods;
  for (const auto& [service, policy] : services_) {
    for (const auto& [method, method_policy] : policy->methods) {
      registered_methods[absl::StrCat("/", policy->service, "/", method)] = {
          .mutating = method_policy.mutating};
    }
  }
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<ObservabilityInterceptorFactory>(
      *registry_, std::move(registered_methods)));
  builder.experimental().SetInterceptorCreators(std::move(creators));
  for (const auto& [service, policy] : services_) builder.RegisterService(service);

  // Before the first call can record (the guard wakes the shipper).
  RETURN_IF_ERROR(StartAuditShipper());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || selected_port == 0) {
    return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ",
                                               options_.listen_address,
                                               " (is the port in use or the address wrong?)"));
  }
  grpc_port_ = selected_port;
  if (!options_.health_listen_address.empty()) {
    // A second server with no services of its own: it gets only the default health service
    // (and reflection), so nothing but health answers on this plaintext port.
    grpc::ServerBuilder health_builder;
    int health_port = 0;
    health_builder.AddListeningPort(options_.health_listen_address,
                                    grpc::InsecureServerCredentials(), &health_port);
    health_builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    health_server_ = health_builder.BuildAndStart();
    if (health_server_ == nullptr || health_port == 0) {
      server_->Shutdown();
      return absl::UnavailableError(absl::StrCat("--health_listen: cannot listen on ",
                                                 options_.health_listen_address));
    }
    health_port_ = health_port;
  }
  SetHealth(true);
  serving_ = true;
  log::Info("serving", {{"grpc_port", int64_t{selected_port}},
                        {"health_port", int64_t{health_port_.load()}},
                        {"metrics_port", int64_t{metrics_port_.load()}},
                        {"tls", !options_.tls_cert_file.empty()},
                        {"mtls", !options_.tls_client_ca_file.empty()},
                        {"database", storage::RedactDatabaseUrl(options_.database_url)}});
  return absl::OkStatus();
}

int ServerRuntime::Run() {
  if (absl::Status status = Start(); !status.ok()) {
    log::Error("cannot start", {{"error", std::string(status.message())}});
    std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
    // Its token source may be gone once Run returns; the events stay for the next start.
    if (audit_shipper_ != nullptr) audit_shipper_->Stop(absl::Now());
    http_->Stop();
    return 1;
  }
  sigset_t signals = TerminationSignals();
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  log::Info("shutting down", {{"signal", std::string(strsignal(signal_number))},
                              {"grace_seconds", absl::ToInt64Seconds(options_.shutdown_grace)}});
  Drain();
  log::Info("stopped");
  return 0;
}

void ServerRuntime::Drain() {
  const absl::Time deadline = absl::Now() + options_.shutdown_grace;
  serving_ = false;
  SetHealth(false);
  // Stops accepting calls; in-flight calls (whose work is still on the pool) may finish until
  // the deadline, after which they are cancelled.
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMicroseconds(options_.shutdown_grace));
  pool_.reset();  // finishes queued work, joins
  // Every call's event is in the outbox now; ship what the rest of the grace period allows.
  if (audit_shipper_ != nullptr) audit_shipper_->Stop(deadline);
  if (health_server_ != nullptr) health_server_->Shutdown();
  http_->Stop();
}

void ServerRuntime::SetHealth(bool serving) {
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server == nullptr) continue;
    auto* health = server->GetHealthCheckService();
    health->SetServingStatus(serving);
    for (const auto& [service, policy] : services_) {
      health->SetServingStatus(policy->service, serving);
    }
  }
}

void ServerRuntime::RequestShutdown() { kill(getpid(), SIGTERM); }

}  // namespace smartby
