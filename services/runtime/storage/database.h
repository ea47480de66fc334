// The storage seam every service uses: one small interface, two engines.
//
//   auto db = OpenDatabase("sqlite:///var/catalogue.db");   // or "postgres://user@host/db"
//   RETURN_IF_ERROR((*db)->Migrate(kCatalogueMigrations));
//   RETURN_IF_ERROR((*db)->InTransaction([&](Transaction& tx) -> absl::Status {
//     ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT doc FROM datasets WHERE name = $1", {name}));
//     ...
//   }));
//
// SQL is written once with PostgreSQL-style positional parameters ($1, $2, ...); the SQLite engine
// rewrites them. Where the dialects differ (full-text search, upserts), ask `dialect()`.
// Every statement is a prepared statement (cached per connection); values are always bound, never
// spliced into SQL text.
//
// Thread safety: a Database is safe to use from many threads; each transaction holds one pooled
// connection for its duration. A Transaction must not be used outside its callback.
#ifndef SMARTBY_RUNTIME_STORAGE_DATABASE_H_
#define SMARTBY_RUNTIME_STORAGE_DATABASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartby::storage {

enum class Dialect { kSqlite, kPostgres };

// A bound parameter or a result cell. std::monostate is SQL NULL.
using Value = std::variant<std::monostate, int64_t, double, std::string>;

// One result row; cells are addressed by column position.
class Row {
 public:
  explicit Row(std::vector<Value> cells) : cells_(std::move(cells)) {}
  bool IsNull(size_t i) const { return std::holds_alternative<std::monostate>(cells_.at(i)); }
  // Conversions are lenient across engines (PostgreSQL returns text for every type):
  // an integer column read as string gives its decimal text, and so on. NULL gives 0 / "".
  int64_t Int(size_t i) const;
  double Double(size_t i) const;
  std::string String(size_t i) const;
  size_t size() const { return cells_.size(); }

 private:
  std::vector<Value> cells_;
};

using Rows = std::vector<Row>;

class Transaction {
 public:
  virtual ~Transaction() = default;
  // Runs a statement that returns no rows; returns the number of rows it changed.
  virtual absl::StatusOr<int64_t> Execute(absl::string_view sql,
                                          const std::vector<Value>& params = {}) = 0;
  virtual absl::StatusOr<Rows> Query(absl::string_view sql,
                                     const std::vector<Value>& params = {}) = 0;
  virtual Dialect dialect() const = 0;
};

// One versioned schema change. Versions are applied in ascending order, each in its own
// transaction, and recorded in `schema_migrations`; an applied version is never run again.
struct Migration {
  int version;
  std::string name;
  std::string sqlite_sql;    // may hold several statements separated by ';'
  std::string postgres_sql;  // likewise
};

enum class TransactionMode {
  kReadWrite,  // SQLite: BEGIN IMMEDIATE, so writers queue on the busy timeout instead of failing
  kReadOnly,
  // For a body that runs exactly one read statement (a lookup by key): on PostgreSQL no
  // BEGIN/COMMIT round trips, the statement being its own snapshot; on SQLite as kReadOnly.
  // A body with several statements would see a snapshot per statement: use kReadOnly for that.
  kSingleRead,
};

class Database {
 public:
  virtual ~Database() = default;

  // Runs `body` in one transaction: committed when it returns OK, rolled back otherwise (and the
  // body's status returned). Nothing is half written. When a statement fails and the body still
  // returns OK, the transaction is rolled back and that statement's error returned (PostgreSQL
  // forces this; SQLite does the same so that the engines behave alike). A lost PostgreSQL connection is replaced
  // and the failure reported as UNAVAILABLE.
  virtual absl::Status InTransaction(const std::function<absl::Status(Transaction&)>& body,
                                     TransactionMode mode = TransactionMode::kReadWrite) = 0;

  // Applies the migrations not yet applied. Safe to call from several replicas at once.
  virtual absl::Status Migrate(const std::vector<Migration>& migrations) = 0;

  virtual Dialect dialect() const = 0;

  // True when the database answers a trivial query; used by /readyz.
  virtual bool Ping() = 0;
};

struct DatabaseOptions {
  int pool_size = 8;                 // connections kept open
  int busy_timeout_ms = 5000;        // SQLite: how long a writer waits for the lock
  int connect_timeout_seconds = 5;   // PostgreSQL
  // SQLite: every commit is synced to disk before it returns (synchronous = FULL), so it
  // survives a power loss, not only a crash of the process. Off by default (NORMAL: in WAL mode
  // a crash of the process loses nothing committed; a power loss may lose the last commits).
  // PostgreSQL commits are always synced (its own synchronous_commit).
  bool sync_every_commit = false;
};

// Opens "sqlite:///absolute/or/relative/path.db", "sqlite://:memory:" or "postgres://..." /
// "postgresql://..." (any libpq connection URI). Creates the SQLite file and its directory.
absl::StatusOr<std::unique_ptr<Database>> OpenDatabase(absl::string_view url,
                                                       const DatabaseOptions& options = {});

// The URL with any password replaced by "***", for logs.
std::string RedactDatabaseUrl(absl::string_view url);

}  // namespace smartby::storage

#endif  // SMARTBY_RUNTIME_STORAGE_DATABASE_H_
