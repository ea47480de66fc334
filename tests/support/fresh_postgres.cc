#include "tests/support/fresh_postgres.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace smartby::testing {

std::string FreshPostgresDatabaseUrl(absl::string_view prefix) {
  const char* url = std::getenv("SMARTBY_TEST_POSTGRES_URL");
  if (url == nullptr || *url == '\0') return "";
  const std::string admin = url;
  std::random_device random;
  const std::string name =
      absl::StrFormat("%s_%08x%08x", prefix, random(), random());
  PGconn* conn = PQconnectdb(admin.c_str());
  EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* r = PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(conn);
  // postgres://user@host:port/postgres -> .../<name> (the URL with-postgres.sh exports).
  const size_t slash = admin.rfind('/');
  return absl::StrCat(admin.substr(0, slash + 1), name);
}

}  // namespace smartby::testing
