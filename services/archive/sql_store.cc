// ExportJobStore over the shared storage seam: one implementation for SQLite and PostgreSQL.
//
// Schema (version 1):
//   export_jobs  id (UUID text), state (ExportState number), create_us (creation time in
//                microseconds), doc (the ExportJob, binary protobuf in base64 so that the text
//                column is safe on PostgreSQL, as the catalogue and ingestion store theirs).
//                Indexed on (create_us, id) for the newest-first listing and on state for the
//                start-up scan of unfinished jobs.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/archive/store.h"
#include "services/runtime/status.h"

namespace smartby::archive {
namespace {

using storage::Rows;
using storage::Transaction;
using storage::TransactionMode;
using storage::Value;

constexpr char kSqliteV1[] = R"sql(
CREATE TABLE export_jobs (
  id TEXT PRIMARY KEY,
  state INTEGER NOT NULL,
  create_us INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX export_jobs_created ON export_jobs (create_us, id);
CREATE INDEX export_jobs_state ON export_jobs (state);
)sql";

// COLLATE "C": byte order, as SQLite compares, so paging by id behaves the same on both engines.
constexpr char kPostgresV1[] = R"sql(
CREATE TABLE export_jobs (
  id TEXT COLLATE "C" PRIMARY KEY,
  state INTEGER NOT NULL,
  create_us BIGINT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX export_jobs_created ON export_jobs (create_us, id);
CREATE INDEX export_jobs_state ON export_jobs (state);
)sql";

const std::vector<storage::Migration>& ArchiveMigrations() {
  // Append new versions; never edit one that has shipped.
  static const auto* const kMigrations = new std::vector<storage::Migration>{
      {1, "export jobs", kSqliteV1, kPostgresV1},
  };
  return *kMigrations;
}

int64_t MicrosOf(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

std::string Encode(const v1::ExportJob& job) {
  return absl::Base64Escape(job.SerializeAsString());
}

absl::StatusOr<v1::ExportJob> Decode(const std::string& encoded, const std::string& id) {
  std::string bytes;
  v1::ExportJob job;
  if (!absl::Base64Unescape(encoded, &bytes) || !job.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("stored export job ", id, " cannot be decoded"));
  }
  return job;
}

absl::StatusOr<std::vector<v1::ExportJob>> DecodeAll(const Rows& rows) {
  std::vector<v1::ExportJob> jobs;
  jobs.reserve(rows.size());
  for (const storage::Row& row : rows) {
    ASSIGN_OR_RETURN(v1::ExportJob job, Decode(row.String(1), row.String(0)));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

class SqlExportJobStore : public ExportJobStore {
 public:
  explicit SqlExportJobStore(std::shared_ptr<storage::Database> db) : db_(std::move(db)) {}

  absl::Status Create(const v1::ExportJob& job) override {
    return db_->InTransaction([&](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(Rows existing,
                       tx.Query("SELECT 1 FROM export_jobs WHERE id = $1", {job.id()}));
      if (!existing.empty()) {
        return absl::AlreadyExistsError(absl::StrCat("export job ", job.id(), " already exists"));
      }
      return tx
          .Execute("INSERT INTO export_jobs (id, state, create_us, doc) VALUES ($1, $2, $3, $4)",
                   {job.id(), static_cast<int64_t>(job.state()), MicrosOf(job.create_time()),
                    Encode(job)})
          .status();
    });
  }

  absl::StatusOr<v1::ExportJob> Get(const std::string& id) override {
    v1::ExportJob job;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows,
                           tx.Query("SELECT id, doc FROM export_jobs WHERE id = $1", {id}));
          if (rows.empty()) {
            return absl::NotFoundError(absl::StrCat("export job ", id, " does not exist"));
          }
          ASSIGN_OR_RETURN(job, Decode(rows[0].String(1), id));
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return job;
  }

  absl::Status Update(const v1::ExportJob& job) override {
    return db_->InTransaction([&](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(int64_t changed,
                       tx.Execute("UPDATE export_jobs SET state = $2, doc = $3 WHERE id = $1",
                                  {job.id(), static_cast<int64_t>(job.state()), Encode(job)}));
      if (changed == 0) {
        return absl::NotFoundError(absl::StrCat("export job ", job.id(), " does not exist"));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<v1::ExportJob>> List(const std::optional<JobCursor>& after,
                                                  int limit) override {
    Rows rows;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          if (after.has_value()) {
            ASSIGN_OR_RETURN(rows, tx.Query("SELECT id, doc FROM export_jobs "
                                            "WHERE create_us < $1 OR (create_us = $1 AND id < $2) "
                                            "ORDER BY create_us DESC, id DESC LIMIT $3",
                                            {after->create_us, after->id,
                                             static_cast<int64_t>(limit)}));
          } else {
            ASSIGN_OR_RETURN(rows, tx.Query("SELECT id, doc FROM export_jobs "
                                            "ORDER BY create_us DESC, id DESC LIMIT $1",
                                            {static_cast<int64_t>(limit)}));
          }
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return DecodeAll(rows);
  }

  absl::StatusOr<std::vector<v1::ExportJob>> ListUnfinished() override {
    Rows rows;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(rows, tx.Query("SELECT id, doc FROM export_jobs "
                                          "WHERE state IN ($1, $2, $3) "
                                          "ORDER BY create_us, id",
                                          {static_cast<int64_t>(v1::EXPORT_STATE_QUEUED),
                                           static_cast<int64_t>(v1::EXPORT_STATE_RUNNING),
                                           static_cast<int64_t>(v1::EXPORT_STATE_CHECKING)}));
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return DecodeAll(rows);
  }

 private:
  std::shared_ptr<storage::Database> db_;
};

}  // namespace

JobCursor CursorOf(const v1::ExportJob& job) {
  return JobCursor{MicrosOf(job.create_time()), job.id()};
}

absl::StatusOr<std::unique_ptr<ExportJobStore>> OpenSqlExportJobStore(
    std::shared_ptr<storage::Database> db) {
  RETURN_IF_ERROR(db->Migrate(ArchiveMigrations()));
  return std::make_unique<SqlExportJobStore>(std::move(db));
}

}  // namespace smartby::archive
