// AuthStore over the shared storage seam: one implementation for SQLite and PostgreSQL. Every
// method is one transaction; the compare-and-set methods are single conditional UPDATEs, so they
// are atomic on both engines without explicit locking.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/auth/auth_store.h"
#include "services/runtime/status.h"

namespace smartby::auth {
namespace {

using storage::Row;
using storage::Rows;
using storage::Transaction;
using storage::TransactionMode;
using storage::Value;

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

std::string JoinRoles(const std::vector<std::string>& roles) { return absl::StrJoin(roles, "\n"); }
std::vector<std::string> SplitRoles(const std::string& text) {
  if (text.empty()) return {};
  return absl::StrSplit(text, '\n');
}

Value OptionalInt(const std::optional<int64_t>& v) {
  return v ? Value(*v) : Value(std::monostate());
}

constexpr char kUserColumns[] =
    "username, display_name, roles, clearance, disabled, password_hash, "
    "password_change_required, totp_secret, totp_confirmed, totp_last_step, create_time, "
    "last_login_time, version";

// TOTP secrets and signing keys as stored: sealed with `box` when there is one (secret_box.h),
// base64 (TOTP) or PEM text (keys) otherwise; either is read back, so turning encryption on
// needs no migration (ResealSecrets seals what was stored before).
absl::StatusOr<std::string> TotpColumn(const SecretBox* box, const std::string& username,
                                       const std::string& raw) {
  if (raw.empty() || box == nullptr) return absl::Base64Escape(raw);
  return box->Seal(raw, absl::StrCat("totp:", username));
}

absl::StatusOr<std::string> SigningKeyColumn(const SecretBox* box, const std::string& kid,
                                             const std::string& pem) {
  if (box == nullptr) return pem;
  return box->Seal(pem, absl::StrCat("signing-key:", kid));
}

absl::StatusOr<std::string> OpenStored(const SecretBox* box, const std::string& stored,
                                       const std::string& place) {
  if (box == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the stored secret of ", place,
                     " is encrypted: start auth with the --secrets_key_file that sealed it"));
  }
  return box->Open(stored, place);
}

absl::StatusOr<UserRecord> UserFromRow(const Row& r, const SecretBox* box) {
  UserRecord u;
  u.username = r.String(0);
  u.display_name = r.String(1);
  u.roles = SplitRoles(r.String(2));
  u.clearance = static_cast<smartcity::common::v1::Classification>(r.Int(3));
  u.disabled = r.Int(4) != 0;
  u.password_hash = r.String(5);
  u.password_change_required = r.Int(6) != 0;
  if (const std::string stored = r.String(7); SecretBox::IsSealed(stored)) {
    ASSIGN_OR_RETURN(u.totp_secret, OpenStored(box, stored, absl::StrCat("totp:", u.username)));
  } else if (!absl::Base64Unescape(stored, &u.totp_secret)) {
    return absl::DataLossError(absl::StrCat("stored TOTP secret of ", u.username,
                                            " cannot be decoded"));
  }
  u.totp_confirmed = r.Int(8) != 0;
  if (!r.IsNull(9)) u.totp_last_step = r.Int(9);
  u.create_time = FromMicros(r.Int(10));
  if (!r.IsNull(11)) u.last_login_time = FromMicros(r.Int(11));
  u.version = r.Int(12);
  return u;
}

constexpr char kRefreshColumns[] =
    "token_hash, family_id, username, client_id, two_factor, acr, create_time, expire_time, "
    "rotated, revoked";

RefreshTokenRecord RefreshFromRow(const Row& r) {
  RefreshTokenRecord t;
  t.token_hash = r.String(0);
  t.family_id = r.String(1);
  t.username = r.String(2);
  t.client_id = r.String(3);
  t.two_factor = r.Int(4) != 0;
  t.acr = r.String(5);
  t.create_time = FromMicros(r.Int(6));
  t.expire_time = FromMicros(r.Int(7));
  t.rotated = r.Int(8) != 0;
  t.revoked = r.Int(9) != 0;
  return t;
}

constexpr char kAccountColumns[] =
    "name, description, roles, clearance, secret_hash, create_time, secret_rotate_time";

ServiceAccountRecord AccountFromRow(const Row& r) {
  ServiceAccountRecord a;
  a.name = r.String(0);
  a.description = r.String(1);
  a.roles = SplitRoles(r.String(2));
  a.clearance = static_cast<smartcity::common::v1::Classification>(r.Int(3));
  a.secret_hash = r.String(4);
  a.create_time = FromMicros(r.Int(5));
  a.secret_rotate_time = FromMicros(r.Int(6));
  return a;
}

FailureCounter CounterFromRow(const Row& r) {
  FailureCounter c;
  c.failures = r.Int(0);
  c.window_start = FromMicros(r.Int(1));
  c.locked_until = FromMicros(r.Int(2));
  return c;
}

class SqlAuthStore final : public AuthStore {
 public:
  SqlAuthStore(std::shared_ptr<storage::Database> db, std::optional<SecretBox> box)
      : db_(std::move(db)), box_(box ? std::make_unique<SecretBox>(*std::move(box)) : nullptr) {}

  // ---- users ----

  absl::Status CreateUser(const UserRecord& u) override {
    ASSIGN_OR_RETURN(const std::string totp, TotpColumn(box_.get(), u.username, u.totp_secret));
    absl::Status status = Write([&](Transaction& tx) {
      return tx
          .Execute(absl::StrCat("INSERT INTO users (", kUserColumns,
                                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0)"),
                   {u.username, u.display_name, JoinRoles(u.roles), int64_t{u.clearance},
                    int64_t{u.disabled}, u.password_hash, int64_t{u.password_change_required}, totp,
                    int64_t{u.totp_confirmed}, OptionalInt(u.totp_last_step), Micros(u.create_time),
                    u.last_login_time ? Value(Micros(*u.last_login_time)) : Value()})
          .status();
    });
    if (absl::IsAlreadyExists(status)) {
      return absl::AlreadyExistsError(absl::StrCat("user ", u.username, " exists already"));
    }
    return status;
  }

  absl::StatusOr<UserRecord> GetUser(const std::string& username) override {
    std::optional<UserRecord> user;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows, tx.Query(absl::StrCat("SELECT ", kUserColumns,
                                                            " FROM users WHERE username = $1"),
                                               {username}));
          if (rows.empty()) return absl::OkStatus();
          ASSIGN_OR_RETURN(user, UserFromRow(rows[0], box_.get()));
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    if (!user) return absl::NotFoundError(absl::StrCat("user ", username, " does not exist"));
    return *std::move(user);
  }

  absl::StatusOr<std::vector<UserRecord>> ListUsers(const std::string& after,
                                                    int limit) override {
    std::vector<UserRecord> users;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows,
                           tx.Query(absl::StrCat("SELECT ", kUserColumns,
                                                 " FROM users WHERE username > $1 "
                                                 "ORDER BY username LIMIT $2"),
                                    {after, int64_t{limit}}));
          for (const Row& row : rows) {
            ASSIGN_OR_RETURN(UserRecord user, UserFromRow(row, box_.get()));
            users.push_back(std::move(user));
          }
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return users;
  }

  absl::StatusOr<int64_t> CountUsers() override {
    int64_t count = 0;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT COUNT(*) FROM users"));
          count = rows.at(0).Int(0);
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return count;
  }

  absl::Status UpdateUser(const UserRecord& u) override {
    ASSIGN_OR_RETURN(const std::string totp, TotpColumn(box_.get(), u.username, u.totp_secret));
    bool exists = true;
    int64_t changed = 0;
    RETURN_IF_ERROR(Write([&](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(
          changed,
          tx.Execute("UPDATE users SET display_name = $2, roles = $3, clearance = $4, "
                     "disabled = $5, password_hash = $6, password_change_required = $7, "
                     "totp_secret = $8, totp_confirmed = $9, version = version + 1 "
                     "WHERE username = $1 AND version = $10",
                     {u.username, u.display_name, JoinRoles(u.roles), int64_t{u.clearance},
                      int64_t{u.disabled}, u.password_hash, int64_t{u.password_change_required},
                      totp, int64_t{u.totp_confirmed}, u.version}));
      if (changed == 0) {
        ASSIGN_OR_RETURN(Rows rows,
                         tx.Query("SELECT 1 FROM users WHERE username = $1", {u.username}));
        exists = !rows.empty();
      }
      return absl::OkStatus();
    }));
    if (!exists) return absl::NotFoundError(absl::StrCat("user ", u.username, " does not exist"));
    if (changed == 0) {
      return absl::AbortedError(absl::StrCat("user ", u.username,
                                             " was changed by someone else meanwhile; try again"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> CompareAndSetTotpStep(const std::string& username,
                                             std::optional<int64_t> expected,
                                             int64_t step) override {
    int64_t changed = 0;
    RETURN_IF_ERROR(Write([&](Transaction& tx) -> absl::Status {
      if (expected) {
        ASSIGN_OR_RETURN(changed, tx.Execute("UPDATE users SET totp_last_step = $2 "
                                             "WHERE username = $1 AND totp_last_step = $3",
                                             {username, step, *expected}));
      } else {
        ASSIGN_OR_RETURN(changed, tx.Execute("UPDATE users SET totp_last_step = $2 "
                                             "WHERE username = $1 AND totp_last_step IS NULL",
                                             {username, step}));
      }
      return absl::OkStatus();
    }));
    return changed == 1;
  }

  absl::Status SetLastLogin(const std::string& username, absl::Time time) override {
    return Write([&](Transaction& tx) {
      return tx.Execute("UPDATE users SET last_login_time = $2 WHERE username = $1",
                        {username, Micros(time)})
          .status();
    });
  }

  // ---- refresh tokens ----

  absl::Status InsertRefreshToken(const RefreshTokenRecord& t) override {
    return Write([&](Transaction& tx) {
      return tx.Execute(absl::StrCat("INSERT INTO refresh_tokens (", kRefreshColumns,
                                     ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
                        {t.token_hash, t.family_id, t.username, t.client_id,
                         int64_t{t.two_factor}, t.acr, Micros(t.create_time),
                         Micros(t.expire_time), int64_t{t.rotated}, int64_t{t.revoked}})
          .status();
    });
  }

  absl::StatusOr<RefreshTokenRecord> GetRefreshToken(const std::string& token_hash) override {
    std::optional<RefreshTokenRecord> token;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows,
                           tx.Query(absl::StrCat("SELECT ", kRefreshColumns,
                                                 " FROM refresh_tokens WHERE token_hash = $1"),
                                    {token_hash}));
          if (!rows.empty()) token = RefreshFromRow(rows[0]);
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    if (!token) return absl::NotFoundError("no such refresh token");
    return *std::move(token);
  }

  absl::StatusOr<bool> MarkRefreshTokenRotated(const std::string& token_hash) override {
    int64_t changed = 0;
    RETURN_IF_ERROR(Write([&](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(changed, tx.Execute("UPDATE refresh_tokens SET rotated = 1 "
                                           "WHERE token_hash = $1 AND rotated = 0 AND revoked = 0",
                                           {token_hash}));
      return absl::OkStatus();
    }));
    return changed == 1;
  }

  absl::Status RevokeRefreshFamily(const std::string& family_id) override {
    return Write([&](Transaction& tx) {
      return tx.Execute("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = $1",
                        {family_id})
          .status();
    });
  }

  absl::Status RevokeRefreshTokensOf(const std::string& username) override {
    return Write([&](Transaction& tx) {
      return tx.Execute("UPDATE refresh_tokens SET revoked = 1 WHERE username = $1", {username})
          .status();
    });
  }

  absl::StatusOr<int64_t> DeleteRefreshTokensExpiredBefore(absl::Time time) override {
    int64_t deleted = 0;
    RETURN_IF_ERROR(Write([&](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(deleted, tx.Execute("DELETE FROM refresh_tokens WHERE expire_time < $1",
                                           {Micros(time)}));
      return absl::OkStatus();
    }));
    return deleted;
  }

  // ---- service accounts ----

  absl::Status CreateServiceAccount(const ServiceAccountRecord& a) override {
    absl::Status status = Write([&](Transaction& tx) {
      return tx.Execute(absl::StrCat("INSERT INTO service_accounts (", kAccountColumns,
                                     ") VALUES ($1, $2, $3, $4, $5, $6, $7)"),
                        {a.name, a.description, JoinRoles(a.roles), int64_t{a.clearance},
                         a.secret_hash, Micros(a.create_time), Micros(a.secret_rotate_time)})
          .status();
    });
    if (absl::IsAlreadyExists(status)) {
      return absl::AlreadyExistsError(absl::StrCat("service account ", a.name, " exists already"));
    }
    return status;
  }

  absl::StatusOr<ServiceAccountRecord> GetServiceAccount(const std::string& name) override {
    std::optional<ServiceAccountRecord> account;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows, tx.Query(absl::StrCat("SELECT ", kAccountColumns,
                                                            " FROM service_accounts WHERE name = $1"),
                                               {name}));
          if (!rows.empty()) account = AccountFromRow(rows[0]);
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    if (!account) {
      return absl::NotFoundError(absl::StrCat("service account ", name, " does not exist"));
    }
    return *std::move(account);
  }

  absl::StatusOr<std::vector<ServiceAccountRecord>> ListServiceAccounts() override {
    std::vector<ServiceAccountRecord> accounts;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows, tx.Query(absl::StrCat("SELECT ", kAccountColumns,
                                                            " FROM service_accounts ORDER BY name")));
          for (const Row& row : rows) accounts.push_back(AccountFromRow(row));
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return accounts;
  }

  absl::Status SetServiceAccountSecret(const std::string& name, const std::string& secret_hash,
                                       absl::Time rotate_time) override {
    int64_t changed = 0;
    RETURN_IF_ERROR(Write([&](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(changed, tx.Execute("UPDATE service_accounts SET secret_hash = $2, "
                                           "secret_rotate_time = $3 WHERE name = $1",
                                           {name, secret_hash, Micros(rotate_time)}));
      return absl::OkStatus();
    }));
    if (changed == 0) {
      return absl::NotFoundError(absl::StrCat("service account ", name, " does not exist"));
    }
    return absl::OkStatus();
  }

  absl::Status DeleteServiceAccount(const std::string& name) override {
    int64_t changed = 0;
    RETURN_IF_ERROR(Write([&](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(changed,
                       tx.Execute("DELETE FROM service_accounts WHERE name = $1", {name}));
      return absl::OkStatus();
    }));
    if (changed == 0) {
      return absl::NotFoundError(absl::StrCat("service account ", name, " does not exist"));
    }
    return absl::OkStatus();
  }

  // ---- signing keys ----

  absl::Status InsertSigningKey(const StoredSigningKey& k) override {
    ASSIGN_OR_RETURN(const std::string pem, SigningKeyColumn(box_.get(), k.kid, k.private_key_pem));
    return Write([&](Transaction& tx) {
      return tx
          .Execute(
              "INSERT INTO signing_keys (kid, private_key_pem, create_time, "
              "activate_time, retire_time) VALUES ($1, $2, $3, $4, $5)",
              {k.kid, pem, Micros(k.create_time), Micros(k.activate_time),
               k.retire_time == absl::InfiniteFuture() ? Value() : Value(Micros(k.retire_time))})
          .status();
    });
  }

  absl::StatusOr<std::vector<StoredSigningKey>> ListSigningKeys() override {
    std::vector<StoredSigningKey> keys;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows,
                           tx.Query("SELECT kid, private_key_pem, create_time, activate_time, "
                                    "retire_time FROM signing_keys ORDER BY activate_time, kid"));
          for (const Row& r : rows) {
            StoredSigningKey k;
            k.kid = r.String(0);
            k.private_key_pem = r.String(1);
            if (SecretBox::IsSealed(k.private_key_pem)) {
              ASSIGN_OR_RETURN(k.private_key_pem, OpenStored(box_.get(), k.private_key_pem,
                                                             absl::StrCat("signing-key:", k.kid)));
            }
            k.create_time = FromMicros(r.Int(2));
            k.activate_time = FromMicros(r.Int(3));
            k.retire_time = r.IsNull(4) ? absl::InfiniteFuture() : FromMicros(r.Int(4));
            keys.push_back(std::move(k));
          }
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return keys;
  }

  absl::Status SetSigningKeyRetireTime(const std::string& kid, absl::Time time) override {
    return Write([&](Transaction& tx) {
      return tx.Execute("UPDATE signing_keys SET retire_time = $2 WHERE kid = $1",
                        {kid, Micros(time)})
          .status();
    });
  }

  absl::Status DeleteSigningKey(const std::string& kid) override {
    return Write([&](Transaction& tx) {
      return tx.Execute("DELETE FROM signing_keys WHERE kid = $1", {kid}).status();
    });
  }

  // ---- failed sign-ins ----

  absl::StatusOr<FailureCounter> GetFailures(const std::string& key) override {
    FailureCounter counter;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT failures, window_start, locked_until "
                                               "FROM login_failures WHERE counter_key = $1",
                                               {key}));
          if (!rows.empty()) counter = CounterFromRow(rows[0]);
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return counter;
  }

  absl::StatusOr<FailureCounter> RecordFailure(const std::string& key, absl::Time now,
                                               absl::Duration window, int64_t max_failures,
                                               absl::Duration lockout) override {
    // One upsert, so concurrent failures are all counted. The window restarts when it is older
    // than `window` or when a lockout has ended (a new round of attempts).
    static constexpr char kUpsert[] =
        "INSERT INTO login_failures (counter_key, failures, window_start, locked_until) "
        "VALUES ($1, 1, CAST($2 AS BIGINT), "
        "        CASE WHEN 1 >= CAST($4 AS BIGINT) THEN CAST($5 AS BIGINT) ELSE 0 END) "
        "ON CONFLICT (counter_key) DO UPDATE SET "
        "  failures = CASE WHEN login_failures.window_start <= CAST($3 AS BIGINT) "
        "                    OR (login_failures.locked_until > 0 "
        "                        AND login_failures.locked_until <= CAST($2 AS BIGINT)) "
        "               THEN 1 ELSE login_failures.failures + 1 END, "
        "  window_start = CASE WHEN login_failures.window_start <= CAST($3 AS BIGINT) "
        "                        OR (login_failures.locked_until > 0 "
        "                            AND login_failures.locked_until <= CAST($2 AS BIGINT)) "
        "                   THEN CAST($2 AS BIGINT) ELSE login_failures.window_start END, "
        "  locked_until = CASE "
        "    WHEN login_failures.window_start <= CAST($3 AS BIGINT) "
        "      OR (login_failures.locked_until > 0 "
        "          AND login_failures.locked_until <= CAST($2 AS BIGINT)) "
        "    THEN CASE WHEN 1 >= CAST($4 AS BIGINT) THEN CAST($5 AS BIGINT) ELSE 0 END "
        "    WHEN login_failures.failures + 1 >= CAST($4 AS BIGINT) THEN CAST($5 AS BIGINT) "
        "    ELSE login_failures.locked_until END";
    FailureCounter counter;
    RETURN_IF_ERROR(Write([&](Transaction& tx) -> absl::Status {
      RETURN_IF_ERROR(tx.Execute(kUpsert, {key, Micros(now), Micros(now - window), max_failures,
                                           Micros(now + lockout)})
                          .status());
      ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT failures, window_start, locked_until "
                                           "FROM login_failures WHERE counter_key = $1",
                                           {key}));
      if (rows.empty()) return absl::InternalError("failure counter vanished");
      counter = CounterFromRow(rows[0]);
      return absl::OkStatus();
    }));
    return counter;
  }

  absl::Status ClearFailures(const std::string& key) override {
    return Write([&](Transaction& tx) {
      return tx.Execute("DELETE FROM login_failures WHERE counter_key = $1", {key}).status();
    });
  }

 private:
  absl::StatusOr<int> ResealSecrets() override {
    if (box_ == nullptr) return 0;
    // The value as the newest key would store it, or nullopt when it already is.
    auto resealed = [&](const std::string& stored, const std::string& place,
                        bool base64) -> absl::StatusOr<std::optional<std::string>> {
      std::string plain;
      if (SecretBox::IsSealed(stored)) {
        bool newest = false;
        ASSIGN_OR_RETURN(plain, box_->Open(stored, place, &newest));
        if (newest) return std::nullopt;
      } else if (!base64) {
        plain = stored;
      } else if (!absl::Base64Unescape(stored, &plain)) {
        return absl::DataLossError(
            absl::StrCat("the stored secret of ", place, " cannot be decoded"));
      }
      ASSIGN_OR_RETURN(std::string sealed, box_->Seal(plain, place));
      return sealed;
    };
    int changed = 0;
    RETURN_IF_ERROR(Write([&](Transaction& tx) -> absl::Status {
      changed = 0;
      ASSIGN_OR_RETURN(Rows users,
                       tx.Query("SELECT username, totp_secret FROM users WHERE totp_secret <> ''"));
      for (const Row& r : users) {
        ASSIGN_OR_RETURN(std::optional<std::string> totp,
                         resealed(r.String(1), absl::StrCat("totp:", r.String(0)), true));
        if (!totp.has_value()) continue;
        RETURN_IF_ERROR(tx.Execute("UPDATE users SET totp_secret = $2 WHERE username = $1",
                                   {r.String(0), *totp})
                            .status());
        ++changed;
      }
      ASSIGN_OR_RETURN(Rows keys, tx.Query("SELECT kid, private_key_pem FROM signing_keys"));
      for (const Row& r : keys) {
        ASSIGN_OR_RETURN(std::optional<std::string> pem,
                         resealed(r.String(1), absl::StrCat("signing-key:", r.String(0)), false));
        if (!pem.has_value()) continue;
        RETURN_IF_ERROR(tx.Execute("UPDATE signing_keys SET private_key_pem = $2 WHERE kid = $1",
                                   {r.String(0), *pem})
                            .status());
        ++changed;
      }
      return absl::OkStatus();
    }));
    return changed;
  }

  absl::Status Write(const std::function<absl::Status(Transaction&)>& body) {
    return db_->InTransaction(body, TransactionMode::kReadWrite);
  }

  std::shared_ptr<storage::Database> db_;
  const std::unique_ptr<const SecretBox> box_;  // nullptr: secrets stored unencrypted
};

}  // namespace

absl::StatusOr<std::unique_ptr<AuthStore>> OpenSqlAuthStore(std::shared_ptr<storage::Database> db,
                                                            std::optional<SecretBox> secrets) {
  RETURN_IF_ERROR(db->Migrate(AuthMigrations()));
  return std::make_unique<SqlAuthStore>(std::move(db), std::move(secrets));
}

}  // namespace smartby::auth
