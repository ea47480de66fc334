// The SQLite engine: one file (or one in-memory database), a small pool of connections in WAL mode
// so readers run alongside the single writer, and a prepared-statement cache per connection.
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/storage/connection_pool.h"
#include "services/runtime/storage/database.h"
#include "services/runtime/storage/engines.h"
#include "services/runtime/log.h"

namespace smartby::storage::internal {

namespace {

// How long a transaction waits for a free pooled connection before giving up.
constexpr std::chrono::seconds kAcquireTimeout(30);
// Statements are cached by SQL text. Services use a fixed set of statements, so the bound only
// protects against a caller that builds SQL text dynamically.
constexpr size_t kMaxCachedStatements = 512;
// The WAL is copied back into the database once it holds this many pages (about 16 MiB), by a
// checkpointer thread, so commits never wait for it. Should the checkpointer fall this far behind
// again (a long reader pins the WAL), the committing connection checkpoints itself, which bounds
// the WAL's growth.
constexpr int kCheckpointPages = 4000;
constexpr int kInlineCheckpointPages = 10 * kCheckpointPages;

// SQLite treats "$1" as a *named* parameter numbered by first appearance, which silently binds
// the wrong values when a statement uses $2 before $1 or repeats one. "?1" is positional, so
// every $N outside string literals, quoted identifiers and comments becomes ?N.
std::string RewritePlaceholders(absl::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  const size_t n = sql.size();
  size_t i = 0;
  while (i < n) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      // A doubled quote inside a literal closes and reopens it, which this loop handles as two
      // adjacent literals.
      size_t end = sql.find(c, i + 1);
      end = end == absl::string_view::npos ? n : end + 1;
      out.append(sql.data() + i, end - i);
      i = end;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      size_t end = sql.find('\n', i);
      end = end == absl::string_view::npos ? n : end;
      out.append(sql.data() + i, end - i);
      i = end;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      size_t end = sql.find("*/", i + 2);
      end = end == absl::string_view::npos ? n : end + 2;
      out.append(sql.data() + i, end - i);
      i = end;
    } else if (c == '$' && i + 1 < n && absl::ascii_isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      out.push_back('?');
      ++i;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view context) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string text = absl::StrCat(context, ": ", message);
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return absl::AlreadyExistsError(text);
  }
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return absl::UnavailableError(
        absl::StrCat(text, " (another writer held the database longer than the busy timeout)"));
  }
  return absl::InternalError(text);
}

class WalCheckpointer;

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// One sqlite3 handle and its statements. Used by one thread at a time (the pool hands it out).
class Connection {
 public:
  // `checkpointer` (may be null) is told after each commit how large the WAL has grown.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path, bool in_memory,
                                                          const DatabaseOptions& options,
                                                          WalCheckpointer* checkpointer) {
    sqlite3* db = nullptr;
    // NOMUTEX: the pool guarantees one thread per connection, so SQLite's own locking is waste.
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    auto conn = std::unique_ptr<Connection>(new Connection(db));
    if (rc != SQLITE_OK) {
      return absl::UnavailableError(
          absl::StrCat("cannot open SQLite database ", path, ": ",
                       db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, options.busy_timeout_ms);
    std::string pragmas =
        absl::StrCat("PRAGMA foreign_keys = ON; PRAGMA synchronous = ",
                     options.sync_every_commit ? "FULL" : "NORMAL", ";");
    // WAL lets readers proceed while one writer commits; it is a property of the file, and a
    // :memory: database has no file.
    // Reads go through a memory map and a larger page cache than SQLite's 2 MiB default: search
    // touches many rows at random, and a read() system call per page dominated its latency.
    // SQLite's own checkpoint after a commit (every 1,000 pages by default) is replaced by the
    // WalCheckpointer: in the committing thread it cost a fifth of the throughput of small
    // sensor batches, and with synchronous = FULL its sync of the database file was most of the
    // audit log's p99 latency.
    if (!in_memory) {
      pragmas = absl::StrCat("PRAGMA journal_mode = WAL; PRAGMA mmap_size = 1073741824; ",
                             "PRAGMA cache_size = -8192; ", pragmas);
    }
    absl::Status configured = conn->ExecScript(pragmas);
    if (!configured.ok()) {
      return absl::Status(configured.code(), absl::StrCat("cannot configure SQLite database ",
                                                          path, ": ", configured.message()));
    }
    if (checkpointer != nullptr) sqlite3_wal_hook(db, &Connection::AfterCommit, checkpointer);
    return conn;
  }

  // sqlite3_wal_hook callback, called in the committing thread with the WAL's size in pages.
  static int AfterCommit(void* checkpointer, sqlite3* db, const char* schema, int pages);

  ~Connection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }

  absl::Status ExecScript(const std::string& sql) {
    // sqlite3_errmsg still describes the failure after sqlite3_exec returns.
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, "SQL script failed");
    return absl::OkStatus();
  }

  absl::StatusOr<sqlite3_stmt*> Prepare(absl::string_view sql) {
    const std::string_view key(sql.data(), sql.size());
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxCachedStatements) {
      for (auto& [text, stmt] : cache_) sqlite3_finalize(stmt);
      cache_.clear();
    }
    const std::string rewritten = RewritePlaceholders(sql);
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v3(db_, rewritten.data(), static_cast<int>(rewritten.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) {
      return SqliteError(db_, rc, absl::StrCat("cannot prepare \"", sql, "\""));
    }
    if (stmt == nullptr) return absl::InvalidArgumentError("empty SQL statement");
    for (const char* p = tail; p != nullptr && *p != '\0'; ++p) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(*p)) && *p != ';') {
        sqlite3_finalize(stmt);
        return absl::InvalidArgumentError(absl::StrCat(
            "one statement per call (scripts belong in migrations): \"", sql, "\""));
      }
    }
    cache_.emplace(std::string(key), stmt);
    return stmt;
  }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*, StringViewHash, std::equal_to<>> cache_;
};

// Copies the WAL back into the database on its own thread and connection. A PASSIVE checkpoint
// never blocks writers or readers; it copies what no reader still needs, and SQLite starts the
// WAL over once everything was copied.
class WalCheckpointer {
 public:
  WalCheckpointer(std::string path, DatabaseOptions options)
      : path_(std::move(path)), options_(std::move(options)), thread_([this] { Loop(); }) {}

  ~WalCheckpointer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  void AfterCommit(int wal_pages) {
    if (wal_pages < kCheckpointPages) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      wanted_ = true;
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    std::unique_ptr<Connection> conn;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || wanted_; });
      if (stopping_) return;
      wanted_ = false;
      lock.unlock();
      if (conn == nullptr) {
        absl::StatusOr<std::unique_ptr<Connection>> opened =
            Connection::Open(path_, /*in_memory=*/false, options_, /*checkpointer=*/nullptr);
        if (opened.ok()) {
          conn = *std::move(opened);
        } else {
          // The committing connections fall back to checkpointing themselves.
          log::Warn("cannot open a connection for WAL checkpoints",
                    {{"error", std::string(opened.status().message())}});
        }
      }
      if (conn != nullptr) {
        const int rc = sqlite3_wal_checkpoint_v2(conn->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                                 nullptr, nullptr);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
          log::Warn("WAL checkpoint failed", {{"error", std::string(sqlite3_errmsg(conn->db()))}});
        }
      }
      lock.lock();
    }
  }

  const std::string path_;
  const DatabaseOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members it reads exist
};

int Connection::AfterCommit(void* checkpointer, sqlite3* db, const char* schema, int pages) {
  static_cast<WalCheckpointer*>(checkpointer)->AfterCommit(pages);
  if (pages >= kInlineCheckpointPages) {
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
  return SQLITE_OK;
}

// Runs a prepared statement to completion, collecting its rows when `rows` is set. The statement
// is always reset and its bindings cleared, so the cached copy is clean for the next caller.
absl::Status Run(Connection& conn, sqlite3_stmt* stmt, absl::string_view sql,
                 const std::vector<Value>& params, Rows* rows) {
  struct Cleanup {
    sqlite3_stmt* stmt;
    ~Cleanup() {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    }
  } cleanup{stmt};

  const int expected = sqlite3_bind_parameter_count(stmt);
  if (static_cast<size_t>(expected) != params.size()) {
    return absl::InvalidArgumentError(absl::StrCat("statement takes ", expected,
                                                   " parameters but got ", params.size(), ": \"",
                                                   sql, "\""));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    int rc = SQLITE_OK;
    const Value& v = params[i];
    if (std::holds_alternative<std::monostate>(v)) {
      rc = sqlite3_bind_null(stmt, index);
    } else if (const int64_t* n = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(stmt, index, *n);
    } else if (const double* d = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(stmt, index, *d);
    } else {
      const std::string& s = std::get<std::string>(v);
      // STATIC: `params` outlives the statement's use; the cleanup clears the binding.
      rc = sqlite3_bind_text64(stmt, index, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
    }
    if (rc != SQLITE_OK) return SqliteError(conn.db(), rc, "cannot bind parameter");
  }

  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (rows == nullptr) continue;
    const int columns = sqlite3_column_count(stmt);
    std::vector<Value> cells;
    cells.reserve(columns);
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_INTEGER:
          cells.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
          break;
        case SQLITE_FLOAT:
          cells.emplace_back(sqlite3_column_double(stmt, c));
          break;
        case SQLITE_NULL:
          cells.emplace_back(std::monostate{});
          break;
        default: {  // TEXT or BLOB: both come back as bytes
          const void* data = sqlite3_column_blob(stmt, c);
          const int size = sqlite3_column_bytes(stmt, c);
          cells.emplace_back(
              std::string(data != nullptr ? static_cast<const char*>(data) : "", size));
        }
      }
    }
    rows->emplace_back(std::move(cells));
  }
  if (rc != SQLITE_DONE) return SqliteError(conn.db(), rc, "statement failed");
  return absl::OkStatus();
}

class SqliteTransaction : public Transaction {
 public:
  SqliteTransaction(Connection& conn, bool read_only) : conn_(conn), read_only_(read_only) {}

  absl::StatusOr<int64_t> Execute(absl::string_view sql,
                                  const std::vector<Value>& params) override {
    absl::StatusOr<sqlite3_stmt*> stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    absl::Status status = Note(Run(conn_, *stmt, sql, params, nullptr));
    if (!status.ok()) return status;
    return static_cast<int64_t>(sqlite3_changes64(conn_.db()));
  }

  absl::StatusOr<Rows> Query(absl::string_view sql, const std::vector<Value>& params) override {
    absl::StatusOr<sqlite3_stmt*> stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    Rows rows;
    absl::Status status = Note(Run(conn_, *stmt, sql, params, &rows));
    if (!status.ok()) return status;
    return rows;
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  absl::Status ExecuteScript(const std::string& sql) { return Note(conn_.ExecScript(sql)); }

  // The first statement error, if any. PostgreSQL aborts a transaction at its first failed
  // statement; SQLite does not, but the engine reports it the same way so that code tested on one
  // engine behaves the same on the other.
  const absl::Status& first_error() const { return first_error_; }

 private:
  absl::StatusOr<sqlite3_stmt*> Prepare(absl::string_view sql) {
    absl::StatusOr<sqlite3_stmt*> stmt = conn_.Prepare(sql);
    if (!stmt.ok()) return Note(stmt.status());
    if (read_only_ && !sqlite3_stmt_readonly(*stmt)) {
      return Note(absl::FailedPreconditionError(
          absl::StrCat("statement writes, but the transaction is read-only: \"", sql, "\"")));
    }
    return stmt;
  }

  absl::Status Note(absl::Status status) {
    if (!status.ok() && first_error_.ok()) first_error_ = status;
    return status;
  }

  Connection& conn_;
  const bool read_only_;
  absl::Status first_error_;
};

// Every :memory: connection would be its own empty database, so an in-memory database is one
// shared connection.
DatabaseOptions EffectiveOptions(bool in_memory, DatabaseOptions options) {
  if (in_memory) options.pool_size = 1;
  return options;
}

class SqliteDatabase : public Database {
 public:
  SqliteDatabase(std::string path, bool in_memory, const DatabaseOptions& options)
      : path_(std::move(path)),
        in_memory_(in_memory),
        options_(EffectiveOptions(in_memory, options)),
        checkpointer_(in_memory ? nullptr : std::make_unique<WalCheckpointer>(path_, options_)),
        pool_("SQLite", options_.pool_size, [this] {
          return Connection::Open(path_, in_memory_, options_, checkpointer_.get());
        }) {}

  // Opens the first connection now, so that a bad path fails at start-up rather than at the
  // first request.
  absl::Status Init() { return pool_.Seed(); }

  absl::Status InTransaction(const std::function<absl::Status(Transaction&)>& body,
                             TransactionMode mode) override {
    const bool read_only =
        mode == TransactionMode::kReadOnly || mode == TransactionMode::kSingleRead;
    // Writers from this process queue here rather than in SQLite's busy handler, which polls
    // with sleeps; BEGIN IMMEDIATE and the busy timeout still guard against other processes.
    std::unique_lock<std::mutex> writer;
    if (!read_only) writer = std::unique_lock<std::mutex>(writer_mu_);

    absl::StatusOr<std::unique_ptr<Connection>> acquired = pool_.Acquire(kAcquireTimeout);
    if (!acquired.ok()) return acquired.status();
    std::unique_ptr<Connection> conn = *std::move(acquired);
    struct Releaser {
      ConnectionPool<Connection>& pool;
      std::unique_ptr<Connection>& conn;
      ~Releaser() { pool.Release(std::move(conn)); }
    } releaser{pool_, conn};

    absl::Status begun = Control(*conn, read_only ? "BEGIN" : "BEGIN IMMEDIATE");
    if (!begun.ok()) return begun;

    SqliteTransaction tx(*conn, read_only);
    absl::Status status = body(tx);
    if (status.ok() && !tx.first_error().ok()) {
      status = absl::Status(
          tx.first_error().code(),
          absl::StrCat("transaction rolled back because a statement failed: ",
                       tx.first_error().message()));
    }
    if (status.ok()) {
      status = Control(*conn, "COMMIT");
      if (status.ok()) return status;
    }
    // Some errors (SQLITE_FULL, an interrupted commit) already rolled back.
    if (!sqlite3_get_autocommit(conn->db())) Control(*conn, "ROLLBACK").IgnoreError();
    return status;
  }

  absl::Status Migrate(const std::vector<Migration>& migrations) override {
    return ApplyMigrations(
        *this, migrations,
        // BEGIN IMMEDIATE already serializes migrating processes.
        [](Transaction&) { return absl::OkStatus(); },
        [](Transaction& tx, const std::string& sql) {
          return static_cast<SqliteTransaction&>(tx).ExecuteScript(sql);
        });
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  bool Ping() override {
    return InTransaction([](Transaction& tx) { return tx.Query("SELECT 1", {}).status(); },
                         TransactionMode::kReadOnly)
        .ok();
  }

 private:
  absl::Status Control(Connection& conn, absl::string_view sql) {
    absl::StatusOr<sqlite3_stmt*> stmt = conn.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    return Run(conn, *stmt, sql, {}, nullptr);
  }

  const std::string path_;
  const bool in_memory_;
  const DatabaseOptions options_;

  std::mutex writer_mu_;
  // Outlives the pool's connections, whose commit hook calls it.
  const std::unique_ptr<WalCheckpointer> checkpointer_;
  ConnectionPool<Connection> pool_;  // declared after what its opener reads
};

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> OpenSqliteDatabase(const std::string& path,
                                                             const DatabaseOptions& options) {
  const bool in_memory = path == ":memory:";
  if (!in_memory) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        return absl::UnavailableError(absl::StrCat("cannot create directory ", parent.string(),
                                                   " for the SQLite database: ", ec.message()));
      }
    }
  }
  auto db = std::make_unique<SqliteDatabase>(path, in_memory, options);
  absl::Status status = db->Init();
  if (!status.ok()) return status;
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace smartby::storage::internal
