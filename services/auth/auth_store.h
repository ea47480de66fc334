// The storage the auth service needs, and nothing more: local users, refresh-token families,
// service accounts, signing keys and failed-sign-in counters. Domain logic (auth.h) talks to this
// interface; SQL lives only in sql_auth_store.cc (one implementation for SQLite and PostgreSQL).
//
// Secrets are never stored in clear except where they must be usable: password hashes are
// argon2id PHC strings, refresh tokens and client secrets are SHA-256 hashes, signing keys are
// PEM (the database is as sensitive as a Kubernetes Secret; use --signing_key_file to keep them
// out of it), and TOTP secrets are the raw bytes the verifier needs.
//
// Every method is one atomic step (its own transaction). Times are absl::Time, stored as
// microseconds since the Unix epoch.
//
// Thread safety: implementations are safe for concurrent use.
#ifndef SMARTBY_SERVICES_AUTH_AUTH_STORE_H_
#define SMARTBY_SERVICES_AUTH_AUTH_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/auth/secret_box.h"
#include "services/runtime/storage/database.h"
#include "smartcity/common/v1/common.pb.h"

namespace smartby::auth {

struct UserRecord {
  std::string username;
  std::string display_name;
  std::vector<std::string> roles;  // "role" or "role:scope", as granted
  smartcity::common::v1::Classification clearance =
      smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
  bool disabled = false;
  std::string password_hash;  // argon2id PHC string
  bool password_change_required = false;
  std::string totp_secret;  // raw bytes; empty when not enrolled
  bool totp_confirmed = false;
  std::optional<int64_t> totp_last_step;  // replay protection (totp.h)
  absl::Time create_time = absl::UnixEpoch();
  std::optional<absl::Time> last_login_time;
  // The store's count of UpdateUser writes: UpdateUser writes only over the version it was read
  // at, so two read-modify-writes of one user (two administrators, two replicas) never lose one.
  int64_t version = 0;
};

struct RefreshTokenRecord {
  std::string token_hash;  // hex SHA-256 of the opaque token
  std::string family_id;
  std::string username;
  std::string client_id;
  bool two_factor = false;  // carried over to tokens issued by refresh
  std::string acr;
  absl::Time create_time = absl::UnixEpoch();
  absl::Time expire_time = absl::UnixEpoch();
  bool rotated = false;  // used once already
  bool revoked = false;  // its family was revoked
};

struct ServiceAccountRecord {
  std::string name;
  std::string description;
  std::vector<std::string> roles;
  smartcity::common::v1::Classification clearance =
      smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
  std::string secret_hash;  // hex SHA-256
  absl::Time create_time = absl::UnixEpoch();
  absl::Time secret_rotate_time = absl::UnixEpoch();
};

struct StoredSigningKey {
  std::string kid;
  std::string private_key_pem;
  absl::Time create_time = absl::UnixEpoch();
  absl::Time activate_time = absl::UnixEpoch();          // signs from then on
  absl::Time retire_time = absl::InfiniteFuture();       // unpublished from then on
};

// Failed sign-ins counted under one key ("user:<name>" or "source:<ip>").
struct FailureCounter {
  int64_t failures = 0;
  absl::Time window_start = absl::UnixEpoch();
  absl::Time locked_until = absl::UnixEpoch();  // locked while now < locked_until
};

class AuthStore {
 public:
  virtual ~AuthStore() = default;

  // ---- users ----
  // ALREADY_EXISTS when the username is taken.
  virtual absl::Status CreateUser(const UserRecord& user) = 0;
  // NOT_FOUND when absent.
  virtual absl::StatusOr<UserRecord> GetUser(const std::string& username) = 0;
  // Ordered by username, starting after `after` (empty: from the start).
  virtual absl::StatusOr<std::vector<UserRecord>> ListUsers(const std::string& after,
                                                            int limit) = 0;
  virtual absl::StatusOr<int64_t> CountUsers() = 0;
  // Replaces every field but username, create_time, totp_last_step and last_login_time (those
  // have their own atomic setters), if the stored user is still at `user.version`, and counts the
  // version up. NOT_FOUND when absent; ABORTED when someone else updated the user since it was
  // read (read it again and redo the change).
  virtual absl::Status UpdateUser(const UserRecord& user) = 0;
  // Sets totp_last_step to `step` only if it is still `expected` (compare-and-set); false when
  // someone else changed it first (a concurrent use of the same code).
  virtual absl::StatusOr<bool> CompareAndSetTotpStep(const std::string& username,
                                                     std::optional<int64_t> expected,
                                                     int64_t step) = 0;
  virtual absl::Status SetLastLogin(const std::string& username, absl::Time time) = 0;

  // ---- refresh tokens ----
  virtual absl::Status InsertRefreshToken(const RefreshTokenRecord& token) = 0;
  // NOT_FOUND when no token has this hash.
  virtual absl::StatusOr<RefreshTokenRecord> GetRefreshToken(const std::string& token_hash) = 0;
  // Marks the token used, only if it is neither used nor revoked (compare-and-set): false when it
  // was (a replay, possibly concurrent).
  virtual absl::StatusOr<bool> MarkRefreshTokenRotated(const std::string& token_hash) = 0;
  virtual absl::Status RevokeRefreshFamily(const std::string& family_id) = 0;
  // Every family of the user (on disable and on a password change).
  virtual absl::Status RevokeRefreshTokensOf(const std::string& username) = 0;
  // Removes tokens that expired before `time`; returns how many.
  virtual absl::StatusOr<int64_t> DeleteRefreshTokensExpiredBefore(absl::Time time) = 0;

  // ---- service accounts ----
  virtual absl::Status CreateServiceAccount(const ServiceAccountRecord& account) = 0;
  virtual absl::StatusOr<ServiceAccountRecord> GetServiceAccount(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<ServiceAccountRecord>> ListServiceAccounts() = 0;
  virtual absl::Status SetServiceAccountSecret(const std::string& name,
                                               const std::string& secret_hash,
                                               absl::Time rotate_time) = 0;
  virtual absl::Status DeleteServiceAccount(const std::string& name) = 0;

  // ---- signing keys ----
  virtual absl::Status InsertSigningKey(const StoredSigningKey& key) = 0;
  virtual absl::StatusOr<std::vector<StoredSigningKey>> ListSigningKeys() = 0;
  virtual absl::Status SetSigningKeyRetireTime(const std::string& kid, absl::Time time) = 0;
  virtual absl::Status DeleteSigningKey(const std::string& kid) = 0;

  // ---- failed sign-ins ----
  // The counter of `key` (all zero when there is none).
  virtual absl::StatusOr<FailureCounter> GetFailures(const std::string& key) = 0;
  // Counts one failure atomically: a window older than `window` restarts at 1; reaching
  // `max_failures` inside the window sets locked_until = now + lockout. Returns the new counter.
  virtual absl::StatusOr<FailureCounter> RecordFailure(const std::string& key, absl::Time now,
                                                       absl::Duration window, int64_t max_failures,
                                                       absl::Duration lockout) = 0;
  virtual absl::Status ClearFailures(const std::string& key) = 0;

  // ---- secrets at rest ----
  // Seals with the newest key every TOTP secret and signing key stored in the clear (before
  // encryption was turned on) or under an older key; returns how many. DATA_LOSS when a stored
  // value opens with none of the keys. Nothing without a SecretBox.
  virtual absl::StatusOr<int> ResealSecrets() = 0;
};

// The auth service's schema, applied at start-up.
const std::vector<storage::Migration>& AuthMigrations();

// A store over an opened database; runs the migrations first. With `secrets`, TOTP secrets and
// signing keys are sealed with it when written (secret_box.h); without, they are stored as they
// are, and a sealed one read back is FAILED_PRECONDITION.
absl::StatusOr<std::unique_ptr<AuthStore>> OpenSqlAuthStore(
    std::shared_ptr<storage::Database> db, std::optional<SecretBox> secrets = std::nullopt);

}  // namespace smartby::auth

#endif  // SMARTBY_SERVICES_AUTH_AUTH_STORE_H_
