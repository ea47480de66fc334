// Test support: a new empty PostgreSQL database for services a test starts as processes (store
// tests use storage::testing::NewTestDatabase instead, which hands back an open Database).
#ifndef SMARTBY_TESTS_SUPPORT_FRESH_POSTGRES_H_
#define SMARTBY_TESTS_SUPPORT_FRESH_POSTGRES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace smartby::testing {

// The URL of a database named `<prefix>_<random>`, created on the server of
// SMARTBY_TEST_POSTGRES_URL (scripts/with-postgres.sh sets it); "" when that is not set, so the
// test can fall back to SQLite. A failure to create it fails the current test. The database is
// left to the throw-away server with-postgres.sh runs.
std::string FreshPostgresDatabaseUrl(absl::string_view prefix);

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_FRESH_POSTGRES_H_
