// The ingestion store's schema versions (migrations.cc), applied by OpenSqlIngestionStore.
#ifndef SMARTBY_SERVICES_INGESTION_MIGRATIONS_H_
#define SMARTBY_SERVICES_INGESTION_MIGRATIONS_H_

#include <vector>

#include "services/runtime/storage/database.h"

namespace smartby::ingestion {

const std::vector<storage::Migration>& IngestionMigrations();

}  // namespace smartby::ingestion

#endif  // SMARTBY_SERVICES_INGESTION_MIGRATIONS_H_
