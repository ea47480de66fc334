// The auth service's schema. Times are BIGINT microseconds since the Unix epoch (UTC), so they
// compare the same way on both engines; booleans are 0/1 integers; role lists are newline-joined
// text (a grant cannot contain a newline: principal.h validates it).
#include <vector>

#include "services/auth/auth_store.h"

namespace smartby::auth {
namespace {

// SQLite compares TEXT bytewise already; PostgreSQL needs COLLATE "C" for the same order (paging
// by username behaves the same on both engines).
constexpr char kSqliteV1[] = R"sql(
CREATE TABLE users (
  username TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  roles TEXT NOT NULL,
  clearance INTEGER NOT NULL,
  disabled INTEGER NOT NULL,
  password_hash TEXT NOT NULL,
  password_change_required INTEGER NOT NULL,
  totp_secret TEXT NOT NULL,            -- base64 of the raw secret, '' when not enrolled
  totp_confirmed INTEGER NOT NULL,
  totp_last_step BIGINT,                -- NULL until a code was accepted
  create_time BIGINT NOT NULL,
  last_login_time BIGINT
);
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,          -- hex SHA-256 of the opaque token (the token is not kept)
  family_id TEXT NOT NULL,
  username TEXT NOT NULL,
  client_id TEXT NOT NULL,
  two_factor INTEGER NOT NULL,
  acr TEXT NOT NULL,
  create_time BIGINT NOT NULL,
  expire_time BIGINT NOT NULL,
  rotated INTEGER NOT NULL,
  revoked INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_username ON refresh_tokens (username);
CREATE INDEX refresh_tokens_expire ON refresh_tokens (expire_time);
CREATE TABLE service_accounts (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  roles TEXT NOT NULL,
  clearance INTEGER NOT NULL,
  secret_hash TEXT NOT NULL,            -- hex SHA-256 of the 256-bit secret
  create_time BIGINT NOT NULL,
  secret_rotate_time BIGINT NOT NULL
);
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  private_key_pem TEXT NOT NULL,
  create_time BIGINT NOT NULL,
  activate_time BIGINT NOT NULL,
  retire_time BIGINT                    -- NULL while it is the newest key
);
CREATE TABLE login_failures (
  counter_key TEXT PRIMARY KEY,               -- "user:<name>" or "source:<ip>"
  failures BIGINT NOT NULL,
  window_start BIGINT NOT NULL,
  locked_until BIGINT NOT NULL
);
)sql";

constexpr char kPostgresV1[] = R"sql(
CREATE TABLE users (
  username TEXT COLLATE "C" PRIMARY KEY,
  display_name TEXT NOT NULL,
  roles TEXT NOT NULL,
  clearance INTEGER NOT NULL,
  disabled INTEGER NOT NULL,
  password_hash TEXT NOT NULL,
  password_change_required INTEGER NOT NULL,
  totp_secret TEXT NOT NULL,
  totp_confirmed INTEGER NOT NULL,
  totp_last_step BIGINT,
  create_time BIGINT NOT NULL,
  last_login_time BIGINT
);
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  username TEXT NOT NULL,
  client_id TEXT NOT NULL,
  two_factor INTEGER NOT NULL,
  acr TEXT NOT NULL,
  create_time BIGINT NOT NULL,
  expire_time BIGINT NOT NULL,
  rotated INTEGER NOT NULL,
  revoked INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_username ON refresh_tokens (username);
CREATE INDEX refresh_tokens_expire ON refresh_tokens (expire_time);
CREATE TABLE service_accounts (
  name TEXT COLLATE "C" PRIMARY KEY,
  description TEXT NOT NULL,
  roles TEXT NOT NULL,
  clearance INTEGER NOT NULL,
  secret_hash TEXT NOT NULL,
  create_time BIGINT NOT NULL,
  secret_rotate_time BIGINT NOT NULL
);
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  private_key_pem TEXT NOT NULL,
  create_time BIGINT NOT NULL,
  activate_time BIGINT NOT NULL,
  retire_time BIGINT
);
CREATE TABLE login_failures (
  counter_key TEXT PRIMARY KEY,
  failures BIGINT NOT NULL,
  window_start BIGINT NOT NULL,
  locked_until BIGINT NOT NULL
);
)sql";

}  // namespace

const std::vector<storage::Migration>& AuthMigrations() {
  // Append new versions; never edit one that has shipped.
  static const auto* const kMigrations = new std::vector<storage::Migration>{
      {1, "users, refresh tokens, service accounts, signing keys, sign-in failures", kSqliteV1,
       kPostgresV1},
      {2, "users.version for compare-and-set updates",
       "ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
       "ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 0"},
  };
  return *kMigrations;
}

}  // namespace smartby::auth
