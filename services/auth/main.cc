// smartby-auth: wiring only — flags → runtime → database → store → keys → domain → service.
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/auth/auth.h"
#include "services/auth/auth_service.h"
#include "services/auth/auth_store.h"
#include "services/auth/federation.h"
#include "services/auth/password.h"
#include "services/auth/signing_keys.h"
#include "services/runtime/background.h"
#include "services/runtime/log.h"
#include "services/runtime/server.h"
#include "services/runtime/startup.h"

ABSL_FLAG(absl::Duration, access_token_ttl, absl::Minutes(10), "lifetime of access tokens");
ABSL_FLAG(absl::Duration, refresh_token_ttl, absl::Hours(12),
          "how long a sign-in can be kept alive with refresh tokens (from the sign-in, not "
          "renewed by refreshing)");
ABSL_FLAG(int32_t, login_max_failures, 5,
          "failed sign-ins for one account within --login_failure_window before it is locked");
ABSL_FLAG(int32_t, login_source_max_failures, 20,
          "failed sign-ins from one address within --login_failure_window before it is locked");
ABSL_FLAG(absl::Duration, login_failure_window, absl::Minutes(15),
          "window in which failed sign-ins are counted");
ABSL_FLAG(absl::Duration, login_lockout, absl::Minutes(15),
          "how long an account or address stays locked after too many failures");
ABSL_FLAG(std::string, secrets_key_file, "",
          "32-byte key (raw, or base64 from `openssl rand -base64 32`), or a directory of *.key "
          "files (the name that sorts last seals, all open: key rotation), that encrypts the "
          "TOTP secrets and generated signing keys auth keeps in its database. Empty: they are "
          "stored unencrypted (a warning is logged)");
ABSL_FLAG(std::string, signing_key_file, "",
          "PEM private key (EC P-256) or a directory of *.pem keys (e.g. a Kubernetes Secret "
          "mount) to sign tokens with; the file whose name sorts last signs, all are published. "
          "Empty: keys are generated and kept in the database");
ABSL_FLAG(int32_t, signing_key_rotation_days, 30,
          "database keys: rotate automatically when the newest key is this many days old");
ABSL_FLAG(absl::Duration, signing_key_prepublication, absl::Seconds(60),
          "a new key is published this long before it starts signing");
ABSL_FLAG(absl::Duration, signing_key_overlap, absl::Minutes(30),
          "a replaced key stays published this long after its successor starts signing (at "
          "least --access_token_ttl)");
ABSL_FLAG(absl::Duration, maintenance_interval, absl::Seconds(30),
          "how often keys are reloaded, rotated and retired and expired refresh tokens removed");
ABSL_FLAG(std::string, federation_config, "",
          "identity providers for ExchangeToken (YAML, see services/auth/README.md); empty: none");
ABSL_FLAG(std::string, bootstrap_admin, "",
          "when no user exists at all, create this platform-admin at start-up (with a one-time "
          "password printed once to stderr, or the password in --bootstrap_admin_password_file)");
ABSL_FLAG(std::string, bootstrap_admin_password_file, "",
          "file holding the bootstrap admin's password (e.g. from a Kubernetes Secret)");
ABSL_FLAG(std::string, bootstrap_admin_totp_secret_file, "",
          "file holding the bootstrap admin's TOTP secret (Base32), enrolled from the start (a "
          "break-glass account whose second factor is kept with its password)");
ABSL_FLAG(std::string, totp_issuer, "Smartby", "issuer name shown in authenticator apps");
ABSL_FLAG(int32_t, password_hash_concurrency, 2,
          "argon2id hashes computed at once (each takes 19 MiB)");

namespace {

using smartby::FailStartup;

// The auth service's own token for its audit shipper: minted here with our signing key (the
// network path, IssueServiceToken against ourselves, is not there at start-up), cached until a
// fifth of its lifetime is left.
class InProcessAuditTokens : public smartby::TokenProvider {
 public:
  InProcessAuditTokens(smartby::auth::Authority* authority, const smartby::Clock* clock)
      : authority_(authority), clock_(clock) {}

  absl::StatusOr<std::string> Token() override {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time now = clock_->Now();
    if (!token_.empty() && now < renew_at_) return token_;
    auto issued = authority_->IssueOwnServiceToken("auth", {"audit-writer"});
    if (!issued.ok()) return issued.status();
    const absl::Time expires =
        absl::FromUnixSeconds(issued->access_token_expire_time().seconds());
    token_ = issued->access_token();
    renew_at_ = now + (expires - now) * 4 / 5;
    return token_;
  }

 private:
  smartby::auth::Authority* const authority_;
  const smartby::Clock* const clock_;
  std::mutex mu_;
  std::string token_;
  absl::Time renew_at_ = absl::InfinitePast();
};

}  // namespace

int main(int argc, char** argv) {
  using namespace smartby;
  ServerRuntime runtime({.name = "auth", .grpc_port = 7004, .metrics_port = 9104}, argc, argv);
  SystemClock clock;

  auto db = runtime.OpenDatabase();
  if (!db.ok()) return FailStartup("cannot open database", db.status());
  std::optional<auth::SecretBox> secrets;
  if (const std::string key_file = absl::GetFlag(FLAGS_secrets_key_file); !key_file.empty()) {
    absl::StatusOr<auth::SecretBox> box = auth::SecretBox::FromKeyPath(key_file);
    if (!box.ok()) return FailStartup("bad flags", box.status());
    secrets = *std::move(box);
  } else {
    log::Warn(
        "TOTP secrets and generated signing keys are stored unencrypted in the database; set "
        "--secrets_key_file (in Helm: secretDirectories.secrets_key_file) so a copy of the "
        "database "
        "does not give them away");
  }
  auto store = auth::OpenSqlAuthStore(*db, secrets);
  if (!store.ok()) return FailStartup("cannot prepare the auth schema", store.status());
  if (absl::StatusOr<int> sealed = (*store)->ResealSecrets(); !sealed.ok()) {
    return FailStartup("cannot seal the stored secrets with --secrets_key_file", sealed.status());
  } else if (*sealed > 0) {
    log::Info("sealed the stored secrets that were in the clear or under an older key",
              {{"secrets", int64_t{*sealed}}});
  }
  runtime.SetReadinessCheck([database = *db] { return database->Ping(); });

  auth::AuthOptions options;
  options.issuer = runtime.options().authentication.issuer;
  options.audience = runtime.options().authentication.audience;
  options.access_token_ttl = absl::GetFlag(FLAGS_access_token_ttl);
  options.refresh_token_ttl = absl::GetFlag(FLAGS_refresh_token_ttl);
  options.account_max_failures = absl::GetFlag(FLAGS_login_max_failures);
  options.source_max_failures = absl::GetFlag(FLAGS_login_source_max_failures);
  options.failure_window = absl::GetFlag(FLAGS_login_failure_window);
  options.lockout = absl::GetFlag(FLAGS_login_lockout);
  options.totp_issuer = absl::GetFlag(FLAGS_totp_issuer);

  auth::SigningKeyOptions key_options;
  const int rotation_days = absl::GetFlag(FLAGS_signing_key_rotation_days);
  key_options.rotation_interval =
      rotation_days > 0 ? absl::Hours(24) * rotation_days : absl::InfiniteDuration();
  key_options.prepublication = absl::GetFlag(FLAGS_signing_key_prepublication);
  key_options.overlap = absl::GetFlag(FLAGS_signing_key_overlap);
  if (key_options.overlap < options.access_token_ttl) {
    return FailStartup(
        "bad flags",
        absl::InvalidArgumentError("--signing_key_overlap: must be at least --access_token_ttl, or "
                                   "tokens signed by a replaced key stop verifying before they "
                                   "expire"));
  }
  const std::string key_file = absl::GetFlag(FLAGS_signing_key_file);
  auto keys = key_file.empty() ? auth::SigningKeyManager::OpenStored(store->get(), &clock,
                                                                     key_options)
                               : auth::SigningKeyManager::LoadFiles(key_file, &clock);
  if (!keys.ok()) return FailStartup("cannot load the signing keys", keys.status());

  std::unique_ptr<auth::Federation> federation;
  if (const std::string path = absl::GetFlag(FLAGS_federation_config); path.empty()) {
    federation = auth::Federation::None();
  } else {
    auto loaded = auth::Federation::Load(path, &clock);
    if (!loaded.ok()) return FailStartup("cannot load --federation_config", loaded.status());
    federation = *std::move(loaded);
  }

  auth::PasswordHasherOptions hasher_options;
  hasher_options.max_concurrent = absl::GetFlag(FLAGS_password_hash_concurrency);
  auto hasher = auth::PasswordHasher::Create(hasher_options);
  if (!hasher.ok()) return FailStartup("cannot set up password hashing", hasher.status());

  auto authority = auth::Authority::Create(store->get(), keys->get(), hasher->get(),
                                           federation.get(), &clock, options,
                                           runtime.metrics().get());
  if (!authority.ok()) return FailStartup("bad flags", authority.status());

  if (const std::string admin = absl::GetFlag(FLAGS_bootstrap_admin); !admin.empty()) {
    std::string password;
    if (const std::string file = absl::GetFlag(FLAGS_bootstrap_admin_password_file);
        !file.empty()) {
      auto read = smartby::ReadSecretFile(file, "--bootstrap_admin_password_file");
      if (!read.ok()) return FailStartup("cannot bootstrap", read.status());
      password = *std::move(read);
    }
    std::string totp_secret;
    if (const std::string file = absl::GetFlag(FLAGS_bootstrap_admin_totp_secret_file);
        !file.empty()) {
      auto read = smartby::ReadSecretFile(file, "--bootstrap_admin_totp_secret_file");
      if (!read.ok()) return FailStartup("cannot bootstrap", read.status());
      totp_secret = *std::move(read);
    }
    auto result = (*authority)->Bootstrap(admin, password, totp_secret);
    if (!result.ok()) return FailStartup("cannot bootstrap", result.status());
    if (result->created) {
      smartby::log::Info("bootstrap administrator created", {{"user", admin}});
      if (!result->one_time_password.empty()) {
        // Printed once for the person running `make run`; never written to the log.
        std::fprintf(stderr, "bootstrap: created platform-admin \"%s\" with one-time password %s\n",
                     admin.c_str(), result->one_time_password.c_str());
        std::fflush(stderr);
      }
    }
  }

  // The runtime verifies tokens for our own RPCs with our keys, read in-process.
  runtime.SetPlatformKeySource(std::make_shared<auth::SigningKeySource>(keys->get()));
  // Our audit events are shipped with a token we mint ourselves (role audit-writer).
  runtime.SetAuditTokenProvider(std::make_shared<InProcessAuditTokens>(authority->get(), &clock));
  CallRunner runner = runtime.NewCallRunner(&auth::AuthServicePolicy());
  auto refresh_keys = [&runtime] {
    if (auto cache = runtime.platform_keys(); cache != nullptr) {
      if (absl::Status s = cache->Refresh(); !s.ok()) {
        smartby::log::Warn("cannot refresh the key cache", {{"error", std::string(s.message())}});
      }
    }
  };
  auth::AuthService service(authority->get(), std::move(runner), runtime.token_verifier(),
                            refresh_keys);
  runtime.AddService(&service, &service.calls().policy());

  runtime.http().Handle("/.well-known/jwks.json", [keys = keys->get()] {
    auto jwks = keys->JwksJson();
    if (!jwks.ok()) return HttpResponse{500, "text/plain", "cannot build the key set\n"};
    return HttpResponse{200, "application/jwk-set+json", *jwks};
  });

  smartby::Periodic maintenance(absl::GetFlag(FLAGS_maintenance_interval), [&] {
    auto changed = (*keys)->Maintain();
    if (!changed.ok()) {
      smartby::log::Warn("signing-key maintenance failed",
                         {{"error", std::string(changed.status().message())}});
    } else if (*changed) {
      refresh_keys();
    }
    if (absl::Status s = (*authority)->PurgeExpired(); !s.ok()) {
      smartby::log::Warn("cannot remove expired refresh tokens",
                         {{"error", std::string(s.message())}});
    }
  });
  return runtime.Run();
}
