#include "services/runtime/storage/test_databases.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace smartby::storage::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                          (static_cast<uint64_t>(getpid()) << 32));
  return absl::StrFormat("%016x", rng());
}

// `url` with its database name replaced by `database`. Handles the URI form
// (postgres://user@host:port/db?params) and, as a fallback, the keyword form.
std::string WithDatabase(const std::string& url, const std::string& database) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return absl::StrCat(url, " dbname=", database);
  const size_t path = url.find('/', scheme + 3);
  const size_t query = url.find('?', scheme + 3);
  if (path == std::string::npos || (query != std::string::npos && query < path)) {
    const size_t at = query == std::string::npos ? url.size() : query;
    return absl::StrCat(url.substr(0, at), "/", database, url.substr(at));
  }
  const size_t path_end = query == std::string::npos ? url.size() : query;
  return absl::StrCat(url.substr(0, path + 1), database, url.substr(path_end));
}

// Runs one statement on a fresh admin connection (CREATE/DROP DATABASE cannot run inside a
// transaction, so this bypasses the Database interface).
absl::Status Admin(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  absl::Status status;
  if (PQstatus(conn) != CONNECTION_OK) {
    status = absl::UnavailableError(absl::StrCat("cannot connect to ", RedactDatabaseUrl(url),
                                                 ": ", PQerrorMessage(conn)));
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      status = absl::InternalError(absl::StrCat(sql, ": ", PQresultErrorMessage(r)));
    }
    PQclear(r);
  }
  PQfinish(conn);
  return status;
}

std::shared_ptr<Database> NewSqlite() {
  std::error_code ec;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path(ec) / absl::StrCat("smartby-test-", RandomSuffix());
  auto db = OpenDatabase(absl::StrCat("sqlite://", (dir / "test.db").string()));
  if (!db.ok()) {
    ADD_FAILURE() << "cannot open a test SQLite database: " << db.status();
    return nullptr;
  }
  return std::shared_ptr<Database>(db->release(), [dir](Database* d) {
    delete d;
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  });
}

std::shared_ptr<Database> NewPostgres() {
  const std::string admin_url = Env("SMARTBY_TEST_POSTGRES_URL");
  if (admin_url.empty()) {
    ADD_FAILURE() << "SMARTBY_TEST_REQUIRE_POSTGRES=1 but SMARTBY_TEST_POSTGRES_URL is not set; "
                     "run the tests through scripts/with-postgres.sh";
    return nullptr;
  }
  const std::string name = absl::StrCat("t_", RandomSuffix());
  absl::Status created = Admin(admin_url, absl::StrCat("CREATE DATABASE ", name));
  if (!created.ok()) {
    ADD_FAILURE() << "cannot create a test PostgreSQL database: " << created;
    return nullptr;
  }
  auto db = OpenDatabase(WithDatabase(admin_url, name));
  if (!db.ok()) {
    ADD_FAILURE() << "cannot open test database " << name << ": " << db.status();
    Admin(admin_url, absl::StrCat("DROP DATABASE IF EXISTS ", name, " WITH (FORCE)"))
        .IgnoreError();
    return nullptr;
  }
  return std::shared_ptr<Database>(db->release(), [admin_url, name](Database* d) {
    delete d;  // closes the pool's connections first
    absl::Status dropped =
        Admin(admin_url, absl::StrCat("DROP DATABASE IF EXISTS ", name, " WITH (FORCE)"));
    if (!dropped.ok()) ADD_FAILURE() << "cannot drop test database " << name << ": " << dropped;
  });
}

}  // namespace

std::string NewPostgresDatabaseUrl(const std::string& prefix) {
  const std::string admin_url = Env("SMARTBY_TEST_POSTGRES_URL");
  if (admin_url.empty()) return "";
  const std::string name = absl::StrCat(prefix, "_", RandomSuffix());
  absl::Status created = Admin(admin_url, absl::StrCat("CREATE DATABASE ", name));
  if (!created.ok()) ADD_FAILURE() << "cannot create a test PostgreSQL database: " << created;
  return WithDatabase(admin_url, name);
}

std::vector<std::string> EnginesUnderTest() {
  std::vector<std::string> engines = {"sqlite"};
  if (!Env("SMARTBY_TEST_POSTGRES_URL").empty() || Env("SMARTBY_TEST_REQUIRE_POSTGRES") == "1") {
    engines.push_back("postgres");
  }
  return engines;
}

std::shared_ptr<Database> NewTestDatabase(const std::string& engine) {
  if (engine == "sqlite") return NewSqlite();
  if (engine == "postgres") return NewPostgres();
  ADD_FAILURE() << "unknown test database engine \"" << engine << "\"";
  return nullptr;
}

}  // namespace smartby::storage::testing
