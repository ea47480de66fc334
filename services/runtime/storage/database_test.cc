// The storage contract, checked on every engine under test (SQLite always; PostgreSQL when
// SMARTBY_TEST_POSTGRES_URL is set, as `make test` does).
#include "services/runtime/storage/database.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::storage {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class DatabaseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
  }

  // Runs one statement in its own transaction.
  absl::Status Exec(const std::string& sql, const std::vector<Value>& params = {}) {
    return db_->InTransaction(
        [&](Transaction& tx) { return tx.Execute(sql, params).status(); });
  }

  absl::StatusOr<Rows> Query(const std::string& sql, const std::vector<Value>& params = {}) {
    Rows rows;
    absl::Status status = db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          absl::StatusOr<Rows> got = tx.Query(sql, params);
          if (!got.ok()) return got.status();
          rows = *std::move(got);
          return absl::OkStatus();
        },
        TransactionMode::kReadOnly);
    if (!status.ok()) return status;
    return rows;
  }

  int64_t Count(const std::string& table) {
    absl::StatusOr<Rows> rows = Query(absl::StrCat("SELECT COUNT(*) FROM ", table));
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? (*rows)[0].Int(0) : -1;
  }

  std::shared_ptr<Database> db_;
};

TEST_P(DatabaseTest, EveryValueTypeAndNullRoundTrip) {
  ASSERT_TRUE(Exec("CREATE TABLE t (i BIGINT, d DOUBLE PRECISION, s TEXT, n TEXT)").ok());
  const int64_t big = std::numeric_limits<int64_t>::min();
  const double precise = 0.1 + 0.2;  // needs all 17 digits to survive a text round trip
  const std::string text = "Sjøvann «ærlig» 'quoted' \"double\" $1 \\ 😀";
  ASSERT_TRUE(Exec("INSERT INTO t (i, d, s, n) VALUES ($1, $2, $3, $4)",
                   {big, precise, text, std::monostate{}})
                  .ok());

  absl::StatusOr<Rows> rows = Query("SELECT i, d, s, n FROM t");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  const Row& row = (*rows)[0];
  EXPECT_EQ(row.Int(0), big);
  EXPECT_EQ(row.Double(1), precise);
  EXPECT_EQ(row.String(2), text);
  EXPECT_TRUE(row.IsNull(3));
  EXPECT_FALSE(row.IsNull(2));
  EXPECT_EQ(row.String(3), "");
  EXPECT_EQ(row.Int(3), 0);
  // Lenient conversions: the same cell read as another type.
  EXPECT_EQ(row.String(0), absl::StrCat(big));
}

TEST_P(DatabaseTest, BodyErrorRollsBackEverything) {
  ASSERT_TRUE(Exec("CREATE TABLE t (x TEXT)").ok());
  absl::Status status = db_->InTransaction([](Transaction& tx) -> absl::Status {
    if (auto r = tx.Execute("INSERT INTO t (x) VALUES ($1)", {std::string("a")}); !r.ok()) {
      return r.status();
    }
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(status, absl::FailedPreconditionError("changed my mind"));
  EXPECT_EQ(Count("t"), 0);
}

TEST_P(DatabaseTest, FailedStatementRollsBackEvenWhenBodyIgnoresIt) {
  ASSERT_TRUE(Exec("CREATE TABLE t (x TEXT PRIMARY KEY)").ok());
  ASSERT_TRUE(Exec("INSERT INTO t (x) VALUES ('a')").ok());
  absl::Status status = db_->InTransaction([](Transaction& tx) -> absl::Status {
    tx.Execute("INSERT INTO t (x) VALUES ('b')").status().IgnoreError();
    tx.Execute("INSERT INTO t (x) VALUES ('a')").status().IgnoreError();  // duplicate
    return absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsAlreadyExists(status)) << status;
  EXPECT_EQ(Count("t"), 1);
}

TEST_P(DatabaseTest, UniqueViolationIsAlreadyExists) {
  ASSERT_TRUE(Exec("CREATE TABLE t (x TEXT PRIMARY KEY, y TEXT UNIQUE)").ok());
  ASSERT_TRUE(Exec("INSERT INTO t (x, y) VALUES ($1, $2)", {std::string("a"), std::string("1")})
                  .ok());
  absl::Status dup_key = Exec("INSERT INTO t (x, y) VALUES ($1, $2)",
                              {std::string("a"), std::string("2")});
  absl::Status dup_unique = Exec("INSERT INTO t (x, y) VALUES ($1, $2)",
                                 {std::string("b"), std::string("1")});
  EXPECT_TRUE(absl::IsAlreadyExists(dup_key)) << dup_key;
  EXPECT_TRUE(absl::IsAlreadyExists(dup_unique)) << dup_unique;
}

TEST_P(DatabaseTest, ExecuteReturnsChangedRowCount) {
  ASSERT_TRUE(Exec("CREATE TABLE t (x BIGINT)").ok());
  ASSERT_TRUE(Exec("INSERT INTO t (x) VALUES (1), (2), (3)").ok());
  absl::StatusOr<int64_t> changed;
  ASSERT_TRUE(db_->InTransaction([&](Transaction& tx) {
                   changed = tx.Execute("UPDATE t SET x = x + 10 WHERE x >= $1", {int64_t{2}});
                   return changed.status();
                 })
                  .ok());
  EXPECT_EQ(*changed, 2);
}

TEST_P(DatabaseTest, PlaceholdersAreNumberedNotOrdered) {
  absl::StatusOr<Rows> rows = Query("SELECT CAST($2 AS TEXT), CAST($1 AS TEXT), CAST($2 AS TEXT)",
                                    {std::string("first"), std::string("second")});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[0].String(0), "second");
  EXPECT_EQ((*rows)[0].String(1), "first");
  EXPECT_EQ((*rows)[0].String(2), "second");
}

TEST_P(DatabaseTest, DollarInsideQuotedStringIsNotAPlaceholder) {
  absl::StatusOr<Rows> rows =
      Query("SELECT '$1 costs ''$2''', CAST($1 AS TEXT) -- $2 in a comment", {std::string("x")});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[0].String(0), "$1 costs '$2'");
  EXPECT_EQ((*rows)[0].String(1), "x");
}

TEST_P(DatabaseTest, ReadOnlyTransactionRefusesWrites) {
  ASSERT_TRUE(Exec("CREATE TABLE t (x TEXT)").ok());
  absl::Status status = db_->InTransaction(
      [](Transaction& tx) { return tx.Execute("INSERT INTO t (x) VALUES ('a')").status(); },
      TransactionMode::kReadOnly);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(Count("t"), 0);
}

std::vector<Migration> FirstTwoMigrations() {
  // Listed out of order on purpose: version 2 needs the table version 1 creates.
  return {
      {2, "seed", "INSERT INTO journal (entry) VALUES ('two')",
       "INSERT INTO journal (entry) VALUES ('two')"},
      {1, "create journal",
       "CREATE TABLE journal (id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);"
       "INSERT INTO journal (entry) VALUES ('one');",
       "CREATE TABLE journal (id BIGSERIAL PRIMARY KEY, entry TEXT NOT NULL);"
       "INSERT INTO journal (entry) VALUES ('one');"},
  };
}

std::vector<std::string> Journal(Database& db) {
  std::vector<std::string> entries;
  EXPECT_TRUE(db.InTransaction([&](Transaction& tx) -> absl::Status {
                  absl::StatusOr<Rows> rows = tx.Query("SELECT entry FROM journal ORDER BY id");
                  if (!rows.ok()) return rows.status();
                  for (const Row& r : *rows) entries.push_back(r.String(0));
                  return absl::OkStatus();
                })
                  .ok());
  return entries;
}

TEST_P(DatabaseTest, MigrationsApplyInVersionOrderExactlyOnce) {
  ASSERT_TRUE(db_->Migrate(FirstTwoMigrations()).ok());
  ASSERT_TRUE(db_->Migrate(FirstTwoMigrations()).ok());  // a restart: nothing to do
  EXPECT_THAT(Journal(*db_), ::testing::ElementsAre("one", "two"));

  std::vector<Migration> later = FirstTwoMigrations();
  later.push_back({3, "more", "INSERT INTO journal (entry) VALUES ('three')",
                   "INSERT INTO journal (entry) VALUES ('three')"});
  ASSERT_TRUE(db_->Migrate(later).ok());
  EXPECT_THAT(Journal(*db_), ::testing::ElementsAre("one", "two", "three"));

  absl::StatusOr<Rows> recorded = Query("SELECT version, name FROM schema_migrations ORDER BY 1");
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_EQ(recorded->size(), 3u);
  EXPECT_EQ((*recorded)[0].Int(0), 1);
  EXPECT_EQ((*recorded)[0].String(1), "create journal");
  EXPECT_EQ((*recorded)[2].Int(0), 3);
}

TEST_P(DatabaseTest, AnotherServicesSchemaIsRefusedInsteadOfCountedAsOurs) {
  ASSERT_TRUE(db_->Migrate(FirstTwoMigrations()).ok());
  // A second service pointed at the same database: same version numbers, other names.
  const std::vector<Migration> other = {
      {1, "export jobs", "CREATE TABLE jobs (id TEXT)", "CREATE TABLE jobs (id TEXT)"}};
  absl::Status status = db_->Migrate(other);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("another service's schema"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("\"create journal\""));
  EXPECT_THAT(std::string(status.message()), HasSubstr("its own database"));
  EXPECT_FALSE(Query("SELECT id FROM jobs").ok());
}

TEST_P(DatabaseTest, AReleaseBeforeTheNewestMigrationStillStarts) {
  std::vector<Migration> newer = FirstTwoMigrations();
  newer.push_back({3, "more", "INSERT INTO journal (entry) VALUES ('three')",
                   "INSERT INTO journal (entry) VALUES ('three')"});
  ASSERT_TRUE(db_->Migrate(newer).ok());
  // A rollback to the release that knew versions 1 and 2 only.
  EXPECT_TRUE(db_->Migrate(FirstTwoMigrations()).ok());
  EXPECT_THAT(Journal(*db_), ::testing::ElementsAre("one", "two", "three"));
}

TEST_P(DatabaseTest, FailedMigrationLeavesNothingAndNamesTheVersion) {
  std::vector<Migration> broken = {{1, "broken", "CREATE TABLE a (x TEXT); NOT SQL AT ALL",
                                    "CREATE TABLE a (x TEXT); NOT SQL AT ALL"}};
  absl::Status status = db_->Migrate(broken);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("migration 1 (broken)"));
  EXPECT_FALSE(Query("SELECT x FROM a").ok());  // the table was rolled back with it
}

TEST_P(DatabaseTest, ConcurrentMigrationsApplyOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (!db_->Migrate(FirstTwoMigrations()).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_THAT(Journal(*db_), ::testing::ElementsAre("one", "two"));
}

TEST_P(DatabaseTest, ConcurrentWritersAllCommit) {
  ASSERT_TRUE(Exec("CREATE TABLE counter (n BIGINT NOT NULL)").ok());
  ASSERT_TRUE(Exec("CREATE TABLE events (thread BIGINT NOT NULL, seq BIGINT NOT NULL)").ok());
  ASSERT_TRUE(Exec("INSERT INTO counter (n) VALUES (0)").ok());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status s = db_->InTransaction([&](Transaction& tx) -> absl::Status {
          if (auto r = tx.Execute("UPDATE counter SET n = n + 1"); !r.ok()) return r.status();
          return tx.Execute("INSERT INTO events (thread, seq) VALUES ($1, $2)",
                            {int64_t{t}, int64_t{i}})
              .status();
        });
        if (!s.ok()) {
          ++failures;
          ADD_FAILURE() << s;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  absl::StatusOr<Rows> n = Query("SELECT n FROM counter");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ((*n)[0].Int(0), kThreads * kPerThread);
  EXPECT_EQ(Count("events"), kThreads * kPerThread);
}

TEST_P(DatabaseTest, PingAnswers) { EXPECT_TRUE(db_->Ping()); }

TEST_P(DatabaseTest, DialectMatchesEngine) {
  EXPECT_EQ(db_->dialect(), GetParam() == "sqlite" ? Dialect::kSqlite : Dialect::kPostgres);
}

INSTANTIATE_TEST_SUITE_P(Engines, DatabaseTest,
                         ::testing::ValuesIn(testing::EnginesUnderTest()),
                         [](const auto& info) { return info.param; });

class PostgresOnlyTest : public DatabaseTest {};

TEST_P(PostgresOnlyTest, LostConnectionIsUnavailableAndReplaced) {
  absl::Status killed = db_->InTransaction([](Transaction& tx) {
    // The server ends this very session, as a failover or restart would.
    return tx.Query("SELECT pg_terminate_backend(pg_backend_pid())").status();
  });
  EXPECT_TRUE(absl::IsUnavailable(killed)) << killed;
  EXPECT_TRUE(db_->Ping());
  EXPECT_TRUE(Exec("CREATE TABLE after_reconnect (x TEXT)").ok());
}

std::vector<std::string> PostgresIfConfigured() {
  std::vector<std::string> out;
  for (const std::string& e : testing::EnginesUnderTest()) {
    if (e == "postgres") out.push_back(e);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Engines, PostgresOnlyTest, ::testing::ValuesIn(PostgresIfConfigured()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PostgresOnlyTest);

TEST(SqliteDatabase, CreatesTheParentDirectory) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "smartby-nested-", getpid());
  auto db = OpenDatabase(absl::StrCat("sqlite://", dir, "/a/b/c.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_TRUE((*db)->Ping());
  db->reset();
  std::filesystem::remove_all(dir);
}

// synchronous: 1 = NORMAL, 2 = FULL (SQLite's numbering).
int64_t SqliteSynchronous(Database& db) {
  int64_t value = -1;
  EXPECT_TRUE(db.InTransaction(
                    [&](Transaction& tx) -> absl::Status {
                      auto rows = tx.Query("PRAGMA synchronous");
                      if (!rows.ok()) return rows.status();
                      value = (*rows)[0].Int(0);
                      return absl::OkStatus();
                    },
                    TransactionMode::kReadOnly)
                  .ok());
  return value;
}

TEST(SqliteDatabase, CommitsAreSyncedToDiskWhenAsked) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "smartby-sync-", getpid());
  auto normal = OpenDatabase(absl::StrCat("sqlite://", dir, "/normal.db"));
  ASSERT_TRUE(normal.ok()) << normal.status();
  EXPECT_EQ(SqliteSynchronous(**normal), 1) << "NORMAL by default (WAL: crash-safe)";
  DatabaseOptions options;
  options.sync_every_commit = true;
  auto full = OpenDatabase(absl::StrCat("sqlite://", dir, "/full.db"), options);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(SqliteSynchronous(**full), 2) << "FULL: every commit synced (power-loss safe)";
  normal->reset();
  full->reset();
  std::filesystem::remove_all(dir);
}

// Commits leave the WAL to a checkpointer thread; the database file itself must still receive
// the data while the database stays open (SQLite would otherwise copy it only at close).
TEST(SqliteDatabase, WalIsCheckpointedIntoTheDatabaseWhileOpen) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "smartby-wal-", getpid());
  const std::string path = absl::StrCat(dir, "/wal.db");
  auto db = OpenDatabase(absl::StrCat("sqlite://", path));
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->InTransaction([](Transaction& tx) {
                     return tx.Execute("CREATE TABLE blobs (b BLOB)").status();
                   }).ok());
  const std::string megabyte(1 << 20, 'x');
  constexpr int kMegabytes = 24;  // about 6,000 pages: past the checkpoint threshold
  for (int i = 0; i < kMegabytes; ++i) {
    ASSERT_TRUE((*db)->InTransaction([&](Transaction& tx) {
                       return tx.Execute("INSERT INTO blobs (b) VALUES ($1)", {megabyte}).status();
                     }).ok());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  uintmax_t size = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    size = std::filesystem::file_size(path);
    if (size >= 12u << 20) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling, with a deadline
  }
  EXPECT_GE(size, 12u << 20) << "the database file did not receive the WAL's pages";
  db->reset();
  std::filesystem::remove_all(dir);
}

TEST(SqliteDatabase, InMemoryDatabaseIsSharedAcrossTransactions) {
  auto db = OpenDatabase("sqlite://:memory:");
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)
                  ->InTransaction([](Transaction& tx) {
                    return tx.Execute("CREATE TABLE t (x TEXT)").status();
                  })
                  .ok());
  EXPECT_TRUE((*db)
                  ->InTransaction([](Transaction& tx) {
                    return tx.Query("SELECT x FROM t").status();
                  },
                  TransactionMode::kReadOnly)
                  .ok());
}

TEST(OpenDatabase, UnknownSchemeIsInvalidArgumentNamingTheFlag) {
  auto db = OpenDatabase("mysql://root:hunter2@db/x");
  EXPECT_TRUE(absl::IsInvalidArgument(db.status())) << db.status();
  EXPECT_THAT(std::string(db.status().message()), HasSubstr("--database"));
  EXPECT_THAT(std::string(db.status().message()), Not(HasSubstr("hunter2")));
}

TEST(OpenDatabase, UnreachablePostgresIsUnavailableWithoutThePassword) {
  // Port 1 on loopback refuses at once.
  auto db = OpenDatabase("postgres://smartby:hunter2@127.0.0.1:1/x", {.connect_timeout_seconds = 2});
  EXPECT_TRUE(absl::IsUnavailable(db.status())) << db.status();
  EXPECT_THAT(std::string(db.status().message()), HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(std::string(db.status().message()), Not(HasSubstr("hunter2")));
}

TEST(RedactDatabaseUrl, HidesThePassword) {
  EXPECT_EQ(RedactDatabaseUrl("postgres://smartby:s3cr%40t@db.example:5432/catalogue"),
            "postgres://smartby:***@db.example:5432/catalogue");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u:p@h/db?sslmode=require&password=x"),
            "postgresql://u:***@h/db?sslmode=require&password=***");
}

TEST(RedactDatabaseUrl, LeavesUrlsWithoutPasswordAlone) {
  EXPECT_EQ(RedactDatabaseUrl("postgres://smartby@127.0.0.1:5432/postgres"),
            "postgres://smartby@127.0.0.1:5432/postgres");
  EXPECT_EQ(RedactDatabaseUrl("sqlite:///var/lib/smartby/catalogue.db"),
            "sqlite:///var/lib/smartby/catalogue.db");
}

}  // namespace
}  // namespace smartby::storage
