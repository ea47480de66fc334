// The storage the archive needs: export jobs, and nothing more. Domain logic (archive.h) talks to
// this interface; SQL lives only in sql_store.cc (one implementation for SQLite and PostgreSQL).
//
// A job is stored whole (its proto) with its id, state and creation time as columns, so that
// listing newest first and finding the jobs a restart interrupted are index reads.
#ifndef SMARTBY_SERVICES_ARCHIVE_STORE_H_
#define SMARTBY_SERVICES_ARCHIVE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/runtime/storage/database.h"
#include "smartcity/archive/v1/archive.pb.h"

namespace smartby::archive {

namespace v1 = ::smartcity::archive::v1;

// A position in the newest-first order of jobs: (create time, id).
struct JobCursor {
  int64_t create_us = 0;
  std::string id;
};

class ExportJobStore {
 public:
  virtual ~ExportJobStore() = default;

  // ALREADY_EXISTS when the id is taken.
  virtual absl::Status Create(const v1::ExportJob& job) = 0;
  // NOT_FOUND naming the id.
  virtual absl::StatusOr<v1::ExportJob> Get(const std::string& id) = 0;
  // Replaces the stored job with the same id (NOT_FOUND when there is none).
  virtual absl::Status Update(const v1::ExportJob& job) = 0;
  // Jobs newest first (create_time, then id, both descending), after `after` when set, at most
  // `limit`.
  virtual absl::StatusOr<std::vector<v1::ExportJob>> List(const std::optional<JobCursor>& after,
                                                          int limit) = 0;
  // Jobs that have not ended (QUEUED, RUNNING, CHECKING), oldest first: what a restart resumes.
  virtual absl::StatusOr<std::vector<v1::ExportJob>> ListUnfinished() = 0;
};

// The cursor of a job (its create_time and id).
JobCursor CursorOf(const v1::ExportJob& job);

// Runs the migrations and returns the store. The database must outlive the store.
absl::StatusOr<std::unique_ptr<ExportJobStore>> OpenSqlExportJobStore(
    std::shared_ptr<storage::Database> db);

}  // namespace smartby::archive

#endif  // SMARTBY_SERVICES_ARCHIVE_STORE_H_
