// Internal to the storage layer: include only from services/runtime/storage/*.cc. Services open
// databases through OpenDatabase (database.h), never an engine directly. One header, so that the
// engines' definitions and their callers are checked against the same declarations.
#ifndef SMARTBY_RUNTIME_STORAGE_ENGINES_H_
#define SMARTBY_RUNTIME_STORAGE_ENGINES_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/runtime/storage/database.h"

namespace smartby::storage::internal {

// sqlite_database.cc
absl::StatusOr<std::unique_ptr<Database>> OpenSqliteDatabase(const std::string& path,
                                                             const DatabaseOptions& options);
// postgres_database.cc
absl::StatusOr<std::unique_ptr<Database>> OpenPostgresDatabase(const std::string& url,
                                                               const DatabaseOptions& options);

// database.cc: applies the migrations not yet recorded in schema_migrations, each in its own
// transaction. `lock` runs first in every transaction (PostgreSQL's advisory lock, so replicas
// take turns); `run_script` executes one migration's SQL in the engine's way.
absl::Status ApplyMigrations(
    Database& db, const std::vector<Migration>& migrations,
    const std::function<absl::Status(Transaction&)>& lock,
    const std::function<absl::Status(Transaction&, const std::string&)>& run_script);

}  // namespace smartby::storage::internal

#endif  // SMARTBY_RUNTIME_STORAGE_ENGINES_H_
