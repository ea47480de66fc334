// Test support: the databases every store test runs against — a fresh SQLite file and, when
// SMARTBY_TEST_POSTGRES_URL is set (make test sets it), a fresh PostgreSQL database created on
// that server for the test and dropped afterwards.
#ifndef SMARTBY_RUNTIME_STORAGE_TEST_DATABASES_H_
#define SMARTBY_RUNTIME_STORAGE_TEST_DATABASES_H_

#include <memory>
#include <string>
#include <vector>

#include "services/runtime/storage/database.h"

namespace smartby::storage::testing {

// "sqlite" and, when configured, "postgres". For INSTANTIATE_TEST_SUITE_P.
std::vector<std::string> EnginesUnderTest();

// A new empty database of `engine` (unique per call). Fails the current test when the engine
// cannot be opened. When SMARTBY_TEST_REQUIRE_POSTGRES=1 and no PostgreSQL URL is set,
// EnginesUnderTest() still lists "postgres" so that the test fails rather than silently skips.
std::shared_ptr<Database> NewTestDatabase(const std::string& engine);

// For services a test starts as processes: the URL of a new empty PostgreSQL database
// `<prefix>_<random>` on the server of SMARTBY_TEST_POSTGRES_URL, or "" when that is not set (the
// test then gives them SQLite). A failure to create it fails the current test. The database is
// left to the throw-away server scripts/with-postgres.sh runs.
std::string NewPostgresDatabaseUrl(const std::string& prefix);

}  // namespace smartby::storage::testing

#endif  // SMARTBY_RUNTIME_STORAGE_TEST_DATABASES_H_
