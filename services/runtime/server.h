// Server bootstrap shared by every service: flags, gRPC server (TLS, keepalive, message size,
// health, reflection), the metrics/health HTTP port, the worker pool, and graceful shutdown.
//
// main.cc of a service reads:
//
//   int main(int argc, char** argv) {
//     smartby::ServerRuntime runtime({.name = "catalogue", .grpc_port = 7001,
//                                     .metrics_port = 9101}, argc, argv);
//     auto db = runtime.OpenDatabase();                       // --database, migrations by caller
//     ...build store and domain...
//     CatalogueService service(&runtime, &catalogue);
//     runtime.AddService(&service, &service.policy());
//     return runtime.Run();                                   // until SIGTERM/SIGINT, then drain
//   }
#ifndef SMARTBY_RUNTIME_SERVER_H_
#define SMARTBY_RUNTIME_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/runtime/audit_guard.h"
#include "services/runtime/audit_outbox.h"
#include "services/runtime/audit_shipper.h"
#include "services/runtime/auth/token_verifier.h"
#include "services/runtime/authentication.h"
#include "services/runtime/call.h"
#include "services/runtime/clock.h"
#include "services/runtime/service_token.h"
#include "services/runtime/http_server.h"
#include "services/runtime/storage/database.h"
#include "services/runtime/worker_pool.h"

namespace smartby {

struct ServiceIdentity {
  std::string name;      // "catalogue"; used in logs, metrics prefix and the default database
  int grpc_port = 0;     // default port on 127.0.0.1
  int metrics_port = 0;
};

// Where audit events go (audit_guard.h, audit_outbox.h, audit_shipper.h). There is no switch to
// turn auditing off: every service records, and without an audit service (or credentials for
// it) events wait in the outbox until mutations are refused.
struct AuditOptions {
  // --audit_outbox; default beside the SQLite database ("<db without .db>-audit-outbox.db"), or
  // <data_dir>/<service>-audit-outbox.db with PostgreSQL.
  std::string outbox_path;
  std::string service = "grpc://127.0.0.1:7005";  // --audit_service; "": do not ship
  std::string producer;  // --audit_producer (default: --service_client_id, else service name)
  // --audit_instance: this process among the replicas of its service (the pod name); "" when it
  // runs alone. The events' producer is then AuditProducerName(producer, instance).
  std::string instance;
  int64_t max_events = 100000;                    // --audit_outbox_max
  absl::Duration max_age = absl::Hours(1);        // --audit_outbox_max_age; 0: no age limit
};

// Resolved from the shared flags (see server.cc for the flag list and their env twins).
struct ServerOptions {
  std::string listen_address;          // --listen, e.g. 127.0.0.1:7001; port 0 picks a free one
  std::string metrics_listen_address;  // --metrics_listen
  std::string health_listen_address;   // --health_listen: plaintext health-only port, or ""
  std::string database_url;            // --database
  std::string tls_cert_file;           // --tls_cert (PEM); with --tls_key enables TLS
  std::string tls_key_file;            // --tls_key
  std::string tls_client_ca_file;      // --tls_client_ca: verify client certificates (mTLS)
  bool allow_insecure_non_loopback = false;  // --allow_insecure_listen
  int max_message_bytes = 4 << 20;     // --max_message_bytes
  int keepalive_seconds = 60;          // --keepalive_seconds
  absl::Duration shutdown_grace = absl::Seconds(10);  // --shutdown_grace_seconds
  int worker_threads = 8;              // --worker_threads
  int worker_queue = 1024;             // --worker_queue
  AuthenticationOptions authentication;  // --auth_issuer, --auth_audience, --auth_jwks, --auth_ca
  AuditOptions audit;                    // --audit_*
};

// OK, or INVALID_ARGUMENT naming the flag: TLS cert without key, unreadable files, and a
// non-loopback listen address without TLS (unless explicitly allowed).
absl::Status CheckServerOptions(const ServerOptions& options);

// True for 127.0.0.0/8, [::1] and localhost.
bool IsLoopbackAddress(absl::string_view host_port);

class ServerRuntime {
 public:
  // Parses flags (exits 2 on a bad one), initialises logging, and blocks SIGTERM/SIGINT in every
  // thread so that Run() can wait for them.
  ServerRuntime(ServiceIdentity identity, int argc, char** argv);
  ~ServerRuntime();

  const ServiceIdentity& identity() const { return identity_; }
  const ServerOptions& options() const { return options_; }
  std::shared_ptr<prometheus::Registry> metrics() { return registry_; }
  WorkerPool& pool() { return *pool_; }

  // Opens --database (default: sqlite under ./var named after the service).
  absl::StatusOr<std::shared_ptr<storage::Database>> OpenDatabase(
      const storage::DatabaseOptions& options = {});

  // `policy` must cover every method of the service (checked in Run) and outlive the runtime.
  void AddService(grpc::Service* service, const ServicePolicy* policy);

  // The runner a service's handlers go through: the runtime's worker pool, the authentication
  // guard (platform tokens verified against --auth_jwks) and the audit guard (audit_guard.h:
  // records mutations and reads above Åpen in the outbox, refuses mutations when it is full),
  // then the method's Access rule. `policy` must outlive the runtime.
  CallRunner NewCallRunner(const ServicePolicy* policy);

  // For the auth service, which holds the platform keys itself: use this source instead of
  // --auth_jwks. Call before the first NewCallRunner.
  void SetPlatformKeySource(std::shared_ptr<auth::KeySource> source);
  // The cached platform key set (e.g. for the auth service to refresh right after a rotation).
  // Built by the first NewCallRunner; nullptr before.
  std::shared_ptr<auth::CachedKeySet> platform_keys() const { return platform_keys_; }
  // This service's own tokens for calls to other services (service_token.h), from
  // --service_client_id and --service_client_secret_file. FAILED_PRECONDITION naming the flags
  // when they are not set (a service that calls others needs them).
  absl::StatusOr<std::shared_ptr<ServiceTokenSource>> service_tokens();
  // Where the audit shipper gets the token its Append calls carry, instead of service_tokens():
  // for the auth service, which mints its own in-process. Call before Run.
  void SetAuditTokenProvider(std::shared_ptr<TokenProvider> provider) {
    audit_tokens_ = std::move(provider);
  }
  // The audit outbox, opened by the first NewCallRunner; nullptr before (or when it could not be
  // opened: Run then refuses to start).
  AuditOutbox* audit_outbox() const { return audit_outbox_.get(); }
  // The verifier the guard uses (same lifetime rule as platform_keys).
  std::shared_ptr<const auth::TokenVerifier> token_verifier() const { return verifier_; }

  // /readyz answers 503 while this returns false (for example, the database is down).
  void SetReadinessCheck(std::function<bool()> check) { readiness_ = std::move(check); }

  // The HTTP server on the metrics port, for services that publish more there (auth: JWKS).
  HttpServer& http() { return *http_; }

  // Starts serving and blocks until SIGTERM or SIGINT (or RequestShutdown); then marks health
  // NOT_SERVING, stops accepting, lets in-flight calls finish within the grace period, stops the
  // worker pool and the metrics port. Returns the process exit code (0 after a clean drain,
  // 1 when start-up failed, after logging why).
  int Run();

  // Ports actually bound (after Run has started serving); useful with port 0.
  int grpc_port() const { return grpc_port_.load(); }
  int metrics_port() const { return metrics_port_.load(); }
  int health_port() const { return health_port_.load(); }

  // Makes Run() return as if SIGTERM had arrived. Safe from any thread.
  void RequestShutdown();

 private:
  absl::Status Start();
  void Drain();
  // The audit guard (one for every runner), opening the outbox on first use.
  std::shared_ptr<AuditGuard> AuditGuardForRunners();
  // Builds the shipper (channel and token source from the flags) and starts it.
  absl::Status StartAuditShipper();
  // Health of the server and every registered service, on the main and the health-only port.
  void SetHealth(bool serving);

  ServiceIdentity identity_;
  ServerOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;  // --health_listen, when set
  std::vector<std::pair<grpc::Service*, const ServicePolicy*>> services_;
  std::function<bool()> readiness_;
  SystemClock clock_;
  std::shared_ptr<auth::KeySource> key_source_;
  std::shared_ptr<auth::CachedKeySet> platform_keys_;
  std::shared_ptr<const auth::TokenVerifier> verifier_;
  absl::Status authentication_status_;
  std::shared_ptr<ServiceTokenSource> service_tokens_;  // why the verifier could not be built, if it could not
  std::shared_ptr<TokenProvider> audit_tokens_;
  absl::Status audit_status_;  // why the outbox could not be opened, if it could not
  std::unique_ptr<AuditOutbox> audit_outbox_;
  std::unique_ptr<AuditMetrics> audit_metrics_;
  std::shared_ptr<AuditGuard> audit_guard_;
  std::unique_ptr<AuditShipper> audit_shipper_;  // declared after the outbox: stopped first
  std::atomic<bool> serving_{false};
  std::atomic<int> grpc_port_{0};
  std::atomic<int> metrics_port_{0};
  std::atomic<int> health_port_{0};
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_SERVER_H_
