// The PostgreSQL engine: libpq connections in a pool, server-side prepared statements cached per
// connection, text parameters and text results. A connection that fails is thrown away, never
// reused, so one network hiccup costs one UNAVAILABLE transaction rather than a poisoned pool.
#include <libpq-fe.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/runtime/storage/connection_pool.h"
#include "services/runtime/storage/database.h"
#include "services/runtime/storage/engines.h"

namespace smartby::storage::internal {

namespace {

constexpr std::chrono::seconds kAcquireTimeout(30);
constexpr std::chrono::seconds kPingAcquireTimeout(2);
constexpr size_t kMaxCachedStatements = 512;
// Held (transaction-scoped) while migrating, so replicas starting together take turns. Any
// constant works as long as every Smartby service uses the same one: "smartby" in ASCII.
constexpr absl::string_view kMigrationLockSql = "SELECT pg_advisory_xact_lock(126943280310137)";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// libpq messages end with a newline and sometimes carry DETAIL/HINT lines; the first line is the
// one a person needs.
std::string FirstLine(const char* text) {
  std::string s = text != nullptr ? text : "";
  const size_t nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return std::string(absl::StripAsciiWhitespace(s));
}

std::string ToText(const Value& v) {
  if (const int64_t* n = std::get_if<int64_t>(&v)) return absl::StrCat(*n);
  if (const double* d = std::get_if<double>(&v)) {
    if (std::isnan(*d)) return "NaN";
    if (std::isinf(*d)) return *d > 0 ? "Infinity" : "-Infinity";
    return absl::StrFormat("%.17g", *d);  // round-trips exactly
  }
  return std::get<std::string>(v);
}

class PgConnection {
 public:
  static absl::StatusOr<std::unique_ptr<PgConnection>> Open(const std::string& url,
                                                            const std::string& redacted,
                                                            const DatabaseOptions& options) {
    const std::string timeout = absl::StrCat(options.connect_timeout_seconds);
    // Our defaults come before "dbname", whose value (the URL) is expanded in place, so settings
    // written in the URL win.
    const char* keywords[] = {"connect_timeout", "application_name", "client_encoding", "dbname",
                              nullptr};
    const char* values[] = {timeout.c_str(), "smartby", "UTF8", url.c_str(), nullptr};
    PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    auto out = std::unique_ptr<PgConnection>(new PgConnection(conn, redacted));
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to PostgreSQL at ", redacted, ": ",
                       conn != nullptr ? FirstLine(PQerrorMessage(conn)) : "out of memory"));
    }
    // libpq prints NOTICEs ("relation ... already exists, skipping") to stderr by default, which
    // would break the JSON-lines log on stdout's neighbour; they carry nothing we act on.
    PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
    return out;
  }

  ~PgConnection() {
    if (conn_ != nullptr) PQfinish(conn_);
  }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // False once the connection failed; the pool then discards it.
  bool healthy() const { return !broken_ && PQstatus(conn_) == CONNECTION_OK; }

  // Runs SQL without parameters (several statements allowed). For transaction control and
  // migration scripts.
  absl::StatusOr<Result> Simple(const std::string& sql) {
    Result r(PQexec(conn_, sql.c_str()));
    return Check(std::move(r), sql);
  }

  absl::StatusOr<Result> Prepared(absl::string_view sql, const std::vector<Value>& params) {
    const std::string_view key(sql.data(), sql.size());
    auto it = statements_.find(key);
    if (it == statements_.end()) {
      if (statements_.size() >= kMaxCachedStatements) {
        absl::StatusOr<Result> deallocated = Simple("DEALLOCATE ALL");
        if (!deallocated.ok()) return deallocated.status();
        statements_.clear();
      }
      std::string name = absl::StrCat("smartby_", next_statement_++);
      const std::string text(sql);
      absl::StatusOr<Result> prepared =
          Check(Result(PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr)), sql);
      if (!prepared.ok()) return prepared.status();
      it = statements_.emplace(text, std::move(name)).first;
    }
    std::vector<std::string> texts;
    std::vector<const char*> pointers;
    texts.reserve(params.size());
    pointers.reserve(params.size());
    for (const Value& v : params) {
      if (std::holds_alternative<std::monostate>(v)) {
        texts.emplace_back();
      } else {
        texts.push_back(ToText(v));
      }
    }
    for (size_t i = 0; i < params.size(); ++i) {
      pointers.push_back(std::holds_alternative<std::monostate>(params[i]) ? nullptr
                                                                           : texts[i].c_str());
    }
    Result r(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                            pointers.data(), nullptr, nullptr, /*resultFormat=*/0));
    return Check(std::move(r), sql);
  }

 private:
  PgConnection(PGconn* conn, std::string redacted)
      : conn_(conn), redacted_url_(std::move(redacted)) {}

  absl::StatusOr<Result> Check(Result r, absl::string_view sql) {
    const ExecStatusType status = r != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
      return r;
    }
    const char* state = r != nullptr ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state != nullptr ? state : "";
    std::string message =
        FirstLine(r != nullptr ? PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr);
    if (message.empty()) message = FirstLine(PQerrorMessage(conn_));

    // Class 08 is "connection exception"; 57P01..57P03 mean the server is going away.
    if (PQstatus(conn_) != CONNECTION_OK || absl::StartsWith(sqlstate, "08") ||
        absl::StartsWith(sqlstate, "57P")) {
      broken_ = true;
      return absl::UnavailableError(absl::StrCat("lost the connection to PostgreSQL at ",
                                                 redacted_url_, ": ", message));
    }
    if (sqlstate == "23505") return absl::AlreadyExistsError(message);
    if (sqlstate == "40001" || sqlstate == "40P01") {
      return absl::AbortedError(
          absl::StrCat(message, " (a concurrent transaction conflicted; retry)"));
    }
    const std::string shown(sql.substr(0, 200));
    return absl::InternalError(absl::StrCat(message, " [SQLSTATE ", sqlstate, "] in \"", shown,
                                            "\""));
  }

  PGconn* conn_;
  const std::string redacted_url_;
  bool broken_ = false;
  int64_t next_statement_ = 1;
  std::unordered_map<std::string, std::string, StringViewHash, std::equal_to<>> statements_;
};

class PgTransaction : public Transaction {
 public:
  explicit PgTransaction(PgConnection& conn) : conn_(conn) {}

  absl::StatusOr<int64_t> Execute(absl::string_view sql,
                                  const std::vector<Value>& params) override {
    absl::StatusOr<Result> r = Note(conn_.Prepared(sql, params));
    if (!r.ok()) return r.status();
    int64_t changed = 0;
    // Empty for statements that report no count (DDL).
    (void)absl::SimpleAtoi(PQcmdTuples(r->get()), &changed);
    return changed;
  }

  absl::StatusOr<Rows> Query(absl::string_view sql, const std::vector<Value>& params) override {
    absl::StatusOr<Result> r = Note(conn_.Prepared(sql, params));
    if (!r.ok()) return r.status();
    PGresult* res = r->get();
    const int n = PQntuples(res);
    const int columns = PQnfields(res);
    Rows rows;
    rows.reserve(n);
    for (int i = 0; i < n; ++i) {
      std::vector<Value> cells;
      cells.reserve(columns);
      for (int c = 0; c < columns; ++c) {
        if (PQgetisnull(res, i, c)) {
          cells.emplace_back(std::monostate{});
        } else {
          cells.emplace_back(std::string(PQgetvalue(res, i, c), PQgetlength(res, i, c)));
        }
      }
      rows.emplace_back(std::move(cells));
    }
    return rows;
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  absl::Status ExecuteScript(const std::string& sql) { return Note(conn_.Simple(sql)).status(); }

  const absl::Status& first_error() const { return first_error_; }

 private:
  absl::StatusOr<Result> Note(absl::StatusOr<Result> r) {
    if (!r.ok() && first_error_.ok()) first_error_ = r.status();
    return r;
  }

  PgConnection& conn_;
  absl::Status first_error_;
};

class PostgresDatabase : public Database {
 public:
  PostgresDatabase(std::string url, DatabaseOptions options)
      : url_(std::move(url)),
        redacted_url_(RedactDatabaseUrl(url_)),
        options_(options),
        // A connection that failed is dropped rather than reused; its slot reopens on demand.
        pool_("PostgreSQL", options_.pool_size,
              [this] { return PgConnection::Open(url_, redacted_url_, options_); },
              [](const PgConnection& conn) { return conn.healthy(); }) {}

  absl::Status Init() { return pool_.Seed(); }

  absl::Status InTransaction(const std::function<absl::Status(Transaction&)>& body,
                             TransactionMode mode) override {
    return Run(body, mode, kAcquireTimeout);
  }

  absl::Status Migrate(const std::vector<Migration>& migrations) override {
    return ApplyMigrations(
        *this, migrations,
        [](Transaction& tx) { return tx.Query(kMigrationLockSql, {}).status(); },
        [](Transaction& tx, const std::string& sql) {
          return static_cast<PgTransaction&>(tx).ExecuteScript(sql);
        });
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  bool Ping() override {
    return Run([](Transaction& tx) { return tx.Query("SELECT 1", {}).status(); },
               TransactionMode::kReadOnly, kPingAcquireTimeout)
        .ok();
  }

 private:
  absl::Status Run(const std::function<absl::Status(Transaction&)>& body, TransactionMode mode,
                   std::chrono::seconds acquire_timeout) {
    absl::StatusOr<std::unique_ptr<PgConnection>> acquired = pool_.Acquire(acquire_timeout);
    if (!acquired.ok()) return acquired.status();
    std::unique_ptr<PgConnection> conn = *std::move(acquired);
    struct Releaser {
      ConnectionPool<PgConnection>& pool;
      std::unique_ptr<PgConnection>& conn;
      ~Releaser() { pool.Release(std::move(conn)); }
    } releaser{pool_, conn};

    if (mode == TransactionMode::kSingleRead) {
      // One statement is atomic on its own; skipping BEGIN and COMMIT saves two round trips.
      PgTransaction tx(*conn);
      absl::Status status = body(tx);
      if (status.ok() && !tx.first_error().ok()) status = tx.first_error();
      return status;
    }
    absl::StatusOr<Result> begun =
        conn->Simple(mode == TransactionMode::kReadOnly ? "BEGIN READ ONLY" : "BEGIN");
    if (!begun.ok()) return begun.status();

    PgTransaction tx(*conn);
    absl::Status status = body(tx);
    if (status.ok() && !tx.first_error().ok()) {
      // PostgreSQL aborted the transaction at that statement; COMMIT would silently roll back.
      status = absl::Status(
          tx.first_error().code(),
          absl::StrCat("transaction rolled back because a statement failed: ",
                       tx.first_error().message()));
    }
    if (status.ok()) {
      absl::StatusOr<Result> committed = conn->Simple("COMMIT");
      if (!committed.ok()) return committed.status();
      if (std::string_view(PQcmdStatus(committed->get())) == "ROLLBACK") {
        return absl::AbortedError("PostgreSQL rolled the transaction back at COMMIT");
      }
      return absl::OkStatus();
    }
    if (conn->healthy()) conn->Simple("ROLLBACK").status().IgnoreError();
    return status;
  }

  const std::string url_;
  const std::string redacted_url_;
  const DatabaseOptions options_;
  ConnectionPool<PgConnection> pool_;  // declared after what its opener reads
};

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> OpenPostgresDatabase(const std::string& url,
                                                               const DatabaseOptions& options) {
  auto db = std::make_unique<PostgresDatabase>(url, options);
  absl::Status status = db->Init();
  if (!status.ok()) return status;
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace smartby::storage::internal
