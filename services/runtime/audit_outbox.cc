#include "services/runtime/audit_outbox.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"

namespace smartby {
namespace {

using smartcity::audit::v1::AuditEvent;

constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS audit_outbox ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"  // producer_sequence; AUTOINCREMENT: never reused
    "  arrived_us INTEGER NOT NULL,"            // when the outbox took it (Unix microseconds)
    "  event BLOB NOT NULL)";                   // AuditEvent, producer_sequence left unset

absl::Status SqliteError(sqlite3* db, absl::string_view what) {
  return absl::UnavailableError(
      absl::StrCat("audit outbox: ", what, ": ", db != nullptr ? sqlite3_errmsg(db) : "no handle"));
}

// One prepared statement, finalised on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  sqlite3_stmt* get() { return stmt_; }
  absl::Status Prepared(absl::string_view what) const {
    return ok() ? absl::OkStatus() : SqliteError(db_, what);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    absl::Status status =
        absl::UnavailableError(absl::StrCat("audit outbox: ", sql, ": ", error ? error : "?"));
    sqlite3_free(error);
    return status;
  }
  return absl::OkStatus();
}

// Runs `body` between BEGIN IMMEDIATE and COMMIT; rolls back when it fails.
template <typename Body>
absl::Status InWriteTransaction(sqlite3* db, Body body) {
  RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
  absl::Status status = body();
  if (status.ok()) status = Exec(db, "COMMIT");
  if (!status.ok()) Exec(db, "ROLLBACK").IgnoreError();
  return status;
}

}  // namespace

struct AuditOutbox::Pending {
  const std::vector<AuditEvent>* events = nullptr;
  std::vector<int64_t> sequences;
  absl::Status status;
  bool done = false;
};

absl::StatusOr<std::unique_ptr<AuditOutbox>> AuditOutbox::Open(const std::string& path,
                                                               const Clock* clock) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);

  const std::string lock_path = path + ".lock";
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return absl::UnavailableError(absl::StrCat("audit outbox: cannot create ", lock_path));
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    close(lock_fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "--audit_outbox: ", path,
        " is in use by another process; every process needs an outbox of its own"));
  }

  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    absl::Status status = SqliteError(db, absl::StrCat("cannot open ", path));
    sqlite3_close(db);
    close(lock_fd);
    return status;
  }
  sqlite3_busy_timeout(db, 5000);
  auto outbox = std::unique_ptr<AuditOutbox>(new AuditOutbox(path, clock, db, lock_fd));
  absl::MutexLock lock(&outbox->db_mu_);
  // WAL so that the shipper's reads never wait for a commit; FULL so that a commit is on disk
  // (fsynced) before Append returns (see the header for why NORMAL is not enough here).
  RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode = WAL"));
  RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous = FULL"));
  RETURN_IF_ERROR(InWriteTransaction(db, [&]() -> absl::Status {
    Statement exists(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_outbox'");
    RETURN_IF_ERROR(exists.Prepared("schema"));
    const bool fresh = sqlite3_step(exists.get()) != SQLITE_ROW;
    RETURN_IF_ERROR(Exec(db, kSchema));
    if (fresh) {
      // A new outbox continues after any sequence a lost predecessor could have used.
      Statement seed(db, "INSERT INTO sqlite_sequence (name, seq) VALUES ('audit_outbox', ?)");
      RETURN_IF_ERROR(seed.Prepared("seed the sequence"));
      sqlite3_bind_int64(seed.get(), 1, absl::ToUnixMicros(clock->Now()));
      if (sqlite3_step(seed.get()) != SQLITE_DONE) return SqliteError(db, "seed the sequence");
    }
    return absl::OkStatus();
  }));
  RETURN_IF_ERROR(outbox->RefreshStatsLocked());
  return outbox;
}

AuditOutbox::AuditOutbox(std::string path, const Clock* clock, sqlite3* db, int lock_fd)
    : path_(std::move(path)), clock_(clock), lock_fd_(lock_fd), db_(db) {}

AuditOutbox::~AuditOutbox() {
  sqlite3_close(db_);
  close(lock_fd_);  // releases the flock
}

absl::StatusOr<std::vector<int64_t>> AuditOutbox::Append(const std::vector<AuditEvent>& events) {
  if (events.empty()) return std::vector<int64_t>{};
  Pending pending;
  pending.events = &events;
  queue_mu_.Lock();
  queue_.push_back(&pending);
  while (!pending.done) {
    if (committing_) {
      committed_.Wait(&queue_mu_);
      continue;
    }
    // Leader: commit everything queued so far (ours included) in one transaction.
    committing_ = true;
    std::vector<Pending*> batch;
    batch.swap(queue_);
    queue_mu_.Unlock();
    {
      absl::MutexLock lock(&db_mu_);
      const absl::Status status = CommitLocked(batch);
      if (!status.ok()) {
        for (Pending* p : batch) p->status = status;
      }
    }
    queue_mu_.Lock();
    for (Pending* p : batch) p->done = true;
    committing_ = false;
    committed_.SignalAll();
  }
  queue_mu_.Unlock();
  if (!pending.status.ok()) return pending.status;
  return std::move(pending.sequences);
}

absl::Status AuditOutbox::CommitLocked(const std::vector<Pending*>& batch) {
  const absl::Time arrived = clock_->Now();
  int64_t added = 0;
  absl::Status status = InWriteTransaction(db_, [&]() -> absl::Status {
    Statement insert(db_, "INSERT INTO audit_outbox (arrived_us, event) VALUES (?, ?)");
    RETURN_IF_ERROR(insert.Prepared("prepare insert"));
    std::string bytes;
    for (Pending* p : batch) {
      p->sequences.clear();
      for (const AuditEvent& event : *p->events) {
        AuditEvent copy = event;
        copy.clear_producer_sequence();
        bytes.clear();
        if (!copy.SerializeToString(&bytes)) {
          return absl::InternalError("audit outbox: cannot serialise an event");
        }
        sqlite3_reset(insert.get());
        sqlite3_bind_int64(insert.get(), 1, absl::ToUnixMicros(arrived));
        sqlite3_bind_blob(insert.get(), 2, bytes.data(), static_cast<int>(bytes.size()),
                          SQLITE_TRANSIENT);
        if (sqlite3_step(insert.get()) != SQLITE_DONE) return SqliteError(db_, "insert");
        p->sequences.push_back(sqlite3_last_insert_rowid(db_));
        ++added;
      }
    }
    return absl::OkStatus();
  });
  absl::MutexLock lock(&stats_mu_);
  healthy_ = status.ok();
  if (status.ok() && added > 0) {
    if (depth_ == 0) oldest_ = arrived;
    depth_ += added;
  }
  return status;
}

absl::StatusOr<std::vector<AuditEvent>> AuditOutbox::Peek(int max) {
  absl::MutexLock lock(&db_mu_);
  Statement select(db_, "SELECT seq, event FROM audit_outbox ORDER BY seq LIMIT ?");
  RETURN_IF_ERROR(select.Prepared("prepare select"));
  sqlite3_bind_int(select.get(), 1, max);
  std::vector<AuditEvent> events;
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    const int64_t seq = sqlite3_column_int64(select.get(), 0);
    const void* blob = sqlite3_column_blob(select.get(), 1);
    const int size = sqlite3_column_bytes(select.get(), 1);
    AuditEvent& event = events.emplace_back();
    if (!event.ParseFromArray(blob, size)) {
      return absl::DataLossError(
          absl::StrCat("audit outbox: event ", seq, " in ", path_, " cannot be read"));
    }
    event.set_producer_sequence(seq);
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, "select");
  return events;
}

absl::Status AuditOutbox::DeleteThrough(int64_t sequence) {
  absl::MutexLock lock(&db_mu_);
  RETURN_IF_ERROR(InWriteTransaction(db_, [&]() -> absl::Status {
    Statement remove(db_, "DELETE FROM audit_outbox WHERE seq <= ?");
    RETURN_IF_ERROR(remove.Prepared("prepare delete"));
    sqlite3_bind_int64(remove.get(), 1, sequence);
    if (sqlite3_step(remove.get()) != SQLITE_DONE) return SqliteError(db_, "delete");
    return absl::OkStatus();
  }));
  return RefreshStatsLocked();
}

absl::Status AuditOutbox::Probe() {
  absl::MutexLock lock(&db_mu_);
  // Writes (and rolls nothing back): the sequence's high-water mark rewritten with itself.
  absl::Status status = InWriteTransaction(db_, [&]() -> absl::Status {
    return Exec(db_, "UPDATE sqlite_sequence SET seq = seq WHERE name = 'audit_outbox'");
  });
  absl::MutexLock stats(&stats_mu_);
  if (status.ok()) healthy_ = true;
  return status;
}

absl::Status AuditOutbox::RefreshStatsLocked() {
  Statement count(db_, "SELECT COUNT(*), (SELECT arrived_us FROM audit_outbox ORDER BY seq LIMIT 1) "
                       "FROM audit_outbox");
  RETURN_IF_ERROR(count.Prepared("prepare count"));
  if (sqlite3_step(count.get()) != SQLITE_ROW) return SqliteError(db_, "count");
  const int64_t depth = sqlite3_column_int64(count.get(), 0);
  const bool any = sqlite3_column_type(count.get(), 1) != SQLITE_NULL;
  const absl::Time oldest =
      any ? absl::FromUnixMicros(sqlite3_column_int64(count.get(), 1)) : absl::InfiniteFuture();
  absl::MutexLock lock(&stats_mu_);
  depth_ = depth;
  oldest_ = oldest;
  return absl::OkStatus();
}

int64_t AuditOutbox::depth() const {
  absl::MutexLock lock(&stats_mu_);
  return depth_;
}

absl::Time AuditOutbox::oldest() const {
  absl::MutexLock lock(&stats_mu_);
  return oldest_;
}

bool AuditOutbox::healthy() const {
  absl::MutexLock lock(&stats_mu_);
  return healthy_;
}

}  // namespace smartby
