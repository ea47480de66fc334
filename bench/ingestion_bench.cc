// Ingestion benchmark, run by hand (see bench/README.md). Everything is measured in one run on one
// machine, side by side, with the same readings for every target: N readings of S sources
// (interleaved, as live sensors report), each with an integer and two doubles, in batches of B.
//
//   raw     baselines in the same run: prepared `INSERT OR IGNORE` into SQLite (WAL, the service's
//           pragmas, transactions of B) and `COPY ... FROM STDIN` into PostgreSQL (one COPY of B
//           rows per transaction), both into a table of the readings table's shape (migrations.cc)
//   1.      durable readings/s through StreamReadings on the real smartby-ingestion (validation,
//           dedupe, commit before the answer), SQLite and PostgreSQL; targets >= 0.5x raw SQLite
//           (floor 0.33x) and >= 0.33x PostgreSQL COPY
//   2.      the same points into InfluxDB 1.6 (/usr/bin/influxd, started here on loopback) over
//           line protocol, POST /write of B points, one writer: a peer figure and the ratio
//   3.      unary WriteReadings of 100 readings from several concurrent callers (>= 50,000/s)
//   4.      ImportFile of an N-row CSV: wall time and the service's peak RSS (VmHWM)
//   5.      a WatchReadings subscriber during a StreamReadings run: p50/p99 of (received -
//           accept_time) and of (received - when the client sent the batch)
//   splits  in-process, to see where the time goes: the client building and serializing the
//           requests, parsing them again, Ingestion::Write (validation, encoding, store) with a
//           fixed schema, and the store's AppendReadings alone
//
// The platform is real: smartby-auth (ingestion's service account), smartby-catalogue (the
// dataset's schema) and smartby-ingestion, separate processes on loopback; the client and the
// services share the machine's cores.
//
// Usage: ./scripts/with-postgres.sh build-bench/bench/ingestion_bench [--readings=1000000]
//          [--sources=200] [--batch=5000] [--small_batch=100] [--callers=8]
//          [--small_readings=200000] [--in_flight=2] [--skip=influx,import,splits,watch,small]
//          [--only=splits]
// Without scripts/with-postgres.sh PostgreSQL is skipped. SMARTBY_BENCH_DIR keeps the files.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/ingestion/dataset_directory.h"
#include "services/ingestion/ingestion.h"
#include "services/ingestion/store.h"
#include "services/ingestion/values.h"
#include "services/runtime/clock.h"
#include "services/runtime/storage/database.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "bench/bench_platform.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace {

namespace av1 = ::smartcity::auth::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using smartby::bench::BenchFailure;
using smartby::bench::Channel;
using smartby::bench::Ctx;
using smartby::bench::Die;
using smartby::bench::Percentile;
using smartby::bench::Platform;
using smartby::bench::RemoveSqlite;
using smartby::bench::StatusKiB;
using smartby::bench::WallMicros;
using smartby::testing::BinaryPath;
using smartby::testing::ServiceProcess;
using Steady = std::chrono::steady_clock;

constexpr char kDataset[] = "luftmaaling-bench";
constexpr int64_t kIntervalUs = 10'000'000;  // each source reports every 10 s

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  int64_t readings = 1'000'000;
  int sources = 200;
  int batch = 5000;
  int small_batch = 100;
  int callers = 8;
  int64_t small_readings = 200'000;
  int in_flight = 2;
  std::vector<std::string> skip;
  bool only_splits = false;
  bool Skips(const std::string& what) const {
    return std::find(skip.begin(), skip.end(), what) != skip.end();
  }
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    if (arg == "--readings") o.readings = std::atoll(value.c_str());
    else if (arg == "--sources") o.sources = std::atoi(value.c_str());
    else if (arg == "--batch") o.batch = std::atoi(value.c_str());
    else if (arg == "--small_batch") o.small_batch = std::atoi(value.c_str());
    else if (arg == "--callers") o.callers = std::atoi(value.c_str());
    else if (arg == "--small_readings") o.small_readings = std::atoll(value.c_str());
    else if (arg == "--in_flight") o.in_flight = std::atoi(value.c_str());
    else if (arg == "--skip") o.skip = absl::StrSplit(value, ',', absl::SkipEmpty());
    else if (arg == "--only" && value == "splits") o.only_splits = true;
    else {
      std::fprintf(stderr, "unknown flag %s (see the comment at the top of ingestion_bench.cc)\n",
                   arg.c_str());
      std::exit(2);
    }
  }
  if (o.readings < 1 || o.sources < 1 || o.batch < 1 || o.batch > 10000 || o.small_batch < 1 ||
      o.callers < 1 || o.in_flight < 1) {
    std::fprintf(stderr, "bad sizes\n");
    std::exit(2);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// The readings: reading n is source n % S at t0 + (n / S) * 10 s, so every batch holds readings
// of all sources, as live sensors report. Values: an integer count and two doubles with one
// decimal, all inside the schema's ranges.

struct Generator {
  int sources = 200;
  int64_t t0_us = 0;
  std::vector<std::string> ids;

  Generator(int s, int64_t total) : sources(s) {
    // Everything in the past (the service rejects readings more than 5 min ahead).
    t0_us = absl::ToUnixMicros(absl::Now()) - (total / s + 100) * kIntervalUs;
    t0_us -= t0_us % 1'000'000;
    for (int i = 0; i < s; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "maaler-%04d", i);
      ids.emplace_back(id);
    }
  }
  int SourceOf(int64_t n) const { return static_cast<int>(n % sources); }
  int64_t TimeOf(int64_t n) const { return t0_us + (n / sources) * kIntervalUs; }
  static int64_t Count(int64_t n) { return (n * 7919) % 2000; }
  static double Temperature(int64_t n) { return static_cast<double>((n * 31) % 900 - 300) / 10; }
  static double Humidity(int64_t n) { return static_cast<double>((n * 17) % 1000) / 10; }
  // The reading number of a (source, time), or -1.
  int64_t NumberOf(const std::string& source_id, int64_t time_us) const {
    const size_t dash = source_id.rfind('-');
    if (dash == std::string::npos) return -1;
    const int s = std::atoi(source_id.c_str() + dash + 1);
    return (time_us - t0_us) / kIntervalUs * sources + s;
  }

  void Fill(iv1::Reading* r, int64_t n) const {
    r->set_source_id(ids[SourceOf(n)]);
    const int64_t t = TimeOf(n);
    r->mutable_time()->set_seconds(t / 1'000'000);
    r->mutable_time()->set_nanos(static_cast<int32_t>(t % 1'000'000) * 1000);
    auto& values = *r->mutable_values();
    values["antall"].set_integer_value(Count(n));
    values["temperatur"].set_double_value(Temperature(n));
    values["fuktighet"].set_double_value(Humidity(n));
  }
  // Readings [first, first + count) into `request` (cleared first; its objects are reused).
  void FillBatch(iv1::WriteReadingsRequest* request, int64_t first, int64_t count) const {
    auto* readings = request->mutable_readings();
    if (readings->size() > count) readings->DeleteSubrange(static_cast<int>(count),
                                                           readings->size() - static_cast<int>(count));
    for (int64_t i = 0; i < count; ++i) {
      iv1::Reading* r = i < readings->size() ? readings->Mutable(static_cast<int>(i))
                                             : readings->Add();
      Fill(r, first + i);
    }
  }
  // The service's stored form of reading n's values (values.h EncodeValues).
  std::string Payload(int64_t n) const {
    iv1::Reading r;
    Fill(&r, n);
    return smartby::ingestion::EncodeValues(r.values());
  }
};

void AppendDouble(double v, std::string& out) {
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, result.ptr);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

double Seconds(Steady::time_point since) {
  return std::chrono::duration<double>(Steady::now() - since).count();
}

using smartby::bench::ProcessCpuSeconds;

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Wall time, readings, and the CPU the client (this process) and the service used meanwhile.
struct Measure {
  Steady::time_point start = Steady::now();
  double client_cpu0 = SelfCpuSeconds();
  pid_t server = -1;
  double server_cpu0 = 0;
  explicit Measure(pid_t server_pid = -1) : server(server_pid) {
    if (server > 0) server_cpu0 = ProcessCpuSeconds(server);
  }
};

struct Figure {
  double seconds = 0;
  int64_t readings = 0;
  double client_cpu = 0;
  double server_cpu = -1;  // -1: not measured
  double per_second() const { return seconds > 0 ? static_cast<double>(readings) / seconds : 0; }
};

Figure Done(const Measure& m, int64_t readings) {
  Figure f;
  f.seconds = Seconds(m.start);
  f.readings = readings;
  f.client_cpu = SelfCpuSeconds() - m.client_cpu0;
  if (m.server > 0) f.server_cpu = ProcessCpuSeconds(m.server) - m.server_cpu0;
  return f;
}

std::string Cpu(const Figure& f) {
  if (f.readings == 0) return "";
  std::string out = absl::StrCat("client ", absl::StrFormat("%.2f", f.client_cpu * 1e6 /
                                                                     static_cast<double>(f.readings)),
                                 " µs");
  if (f.server_cpu >= 0) {
    absl::StrAppend(&out, ", service ",
                    absl::StrFormat("%.2f", f.server_cpu * 1e6 / static_cast<double>(f.readings)),
                    " µs");
  }
  return absl::StrCat(out, " CPU per reading");
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------------------------------------
// Raw baselines

// The service's SQLite pragmas (sqlite_database.cc) and readings table (migrations.cc).
constexpr char kSqliteSetup[] =
    "PRAGMA journal_mode = WAL; PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -8192; "
    "PRAGMA wal_autocheckpoint = 10000; PRAGMA synchronous = NORMAL;"
    "CREATE TABLE readings (position INTEGER PRIMARY KEY, source INTEGER NOT NULL, dataset "
    "INTEGER NOT NULL, time_us INTEGER NOT NULL, accept_us INTEGER NOT NULL, payload TEXT NOT "
    "NULL, UNIQUE (source, time_us));"
    "CREATE INDEX readings_dataset ON readings (dataset, position);";

struct RawRow {
  int64_t time_us;
  int32_t source;
  std::string payload;
};

std::vector<RawRow> RawRows(const Generator& gen, int64_t n) {
  std::vector<RawRow> rows;
  rows.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    rows.push_back({gen.TimeOf(i), gen.SourceOf(i) + 1, gen.Payload(i)});
  }
  return rows;
}

Figure RawSqlite(const std::string& path, const std::vector<RawRow>& rows, int batch) {
  RemoveSqlite(path);
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) Die("cannot open " + path);
  if (sqlite3_exec(db, kSqliteSetup, nullptr, nullptr, nullptr) != SQLITE_OK) {
    Die(absl::StrCat("sqlite setup: ", sqlite3_errmsg(db)));
  }
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT OR IGNORE INTO readings (position, source, dataset, time_us, "
                     "accept_us, payload) VALUES (?1, ?2, 1, ?3, ?4, ?5)",
                     -1, &stmt, nullptr);
  const int64_t n = static_cast<int64_t>(rows.size());
  int64_t stored = 0;
  Measure m;
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t accept_us = WallMicros();
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (int64_t j = i; j < std::min(n, i + batch); ++j) {
      const RawRow& r = rows[j];
      sqlite3_bind_int64(stmt, 1, j + 1);
      sqlite3_bind_int64(stmt, 2, r.source);
      sqlite3_bind_int64(stmt, 3, r.time_us);
      sqlite3_bind_int64(stmt, 4, accept_us);
      sqlite3_bind_text(stmt, 5, r.payload.data(), static_cast<int>(r.payload.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(stmt) != SQLITE_DONE) Die(absl::StrCat("insert: ", sqlite3_errmsg(db)));
      stored += sqlite3_changes(db);
      sqlite3_reset(stmt);
    }
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      Die(absl::StrCat("commit: ", sqlite3_errmsg(db)));
    }
  }
  Figure f = Done(m, stored);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return f;
}

// A fresh PostgreSQL database on the server named by SMARTBY_TEST_POSTGRES_URL, or "".
std::string NewPostgresDatabase(const std::string& prefix) {
  const char* admin_url = std::getenv("SMARTBY_TEST_POSTGRES_URL");
  if (admin_url == nullptr) return "";
  PGconn* conn = PQconnectdb(admin_url);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "cannot connect to %s\n", admin_url);
    PQfinish(conn);
    return "";
  }
  static int counter = 0;
  const std::string name = absl::StrCat(prefix, "_", getpid(), "_", ++counter);
  PQclear(PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str()));
  PQfinish(conn);
  std::string url = admin_url;
  return url.substr(0, url.rfind('/') + 1) + name;
}

void PgExec(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Die(absl::StrCat("postgres: ", PQerrorMessage(conn), " in ", sql));
  }
  PQclear(r);
}

// COPY of `batch` rows per statement (each its own transaction) into the readings table's shape.
Figure RawPostgresCopy(const std::string& url, const std::vector<RawRow>& rows, int batch) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) Die("cannot connect to " + url);
  PgExec(conn,
         "CREATE TABLE readings (position BIGINT PRIMARY KEY, time_us BIGINT NOT NULL, accept_us "
         "BIGINT NOT NULL, source INTEGER NOT NULL, dataset INTEGER NOT NULL, payload TEXT NOT "
         "NULL, UNIQUE (source, time_us))");
  PgExec(conn, "CREATE INDEX readings_dataset ON readings (dataset, position)");
  const int64_t n = static_cast<int64_t>(rows.size());
  int64_t stored = 0;
  std::string text;
  Measure m;
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t accept_us = WallMicros();
    text.clear();
    for (int64_t j = i; j < std::min(n, i + batch); ++j) {
      const RawRow& r = rows[j];
      absl::StrAppend(&text, j + 1, "\t", r.time_us, "\t", accept_us, "\t", r.source, "\t1\t");
      for (const char c : r.payload) {  // COPY text escapes (none occur in these payloads)
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') text.push_back('\\');
        text.push_back(c);
      }
      text.push_back('\n');
    }
    PGresult* r = PQexec(conn,
                         "COPY readings (position, time_us, accept_us, source, dataset, payload) "
                         "FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) Die(absl::StrCat("COPY: ", PQerrorMessage(conn)));
    PQclear(r);
    if (PQputCopyData(conn, text.data(), static_cast<int>(text.size())) != 1 ||
        PQputCopyEnd(conn, nullptr) != 1) {
      Die(absl::StrCat("COPY data: ", PQerrorMessage(conn)));
    }
    while ((r = PQgetResult(conn)) != nullptr) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK) Die(absl::StrCat("COPY: ", PQerrorMessage(conn)));
      stored += std::atoll(PQcmdTuples(r));
      PQclear(r);
    }
  }
  Figure f = Done(m, stored);
  PQfinish(conn);
  return f;
}

// ---------------------------------------------------------------------------------------------
// InfluxDB 1.6 on loopback, started here

// A minimal HTTP/1.1 client with keep-alive.
class HttpConnection {
 public:
  explicit HttpConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~HttpConnection() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

  // Returns the status (0 on a connection failure); the body into `response`.
  int Post(const std::string& target, const std::string& content_type, const std::string& body,
           std::string* response) {
    const std::string head = absl::StrCat("POST ", target,
                                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ",
                                          content_type, "\r\nContent-Length: ", body.size(),
                                          "\r\n\r\n");
    if (!SendAll(head) || !SendAll(body)) return 0;
    return ReadResponse(response);
  }

 private:
  bool SendAll(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  bool Fill() {
    char buf[16384];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }
  int ReadResponse(std::string* body) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return 0;
    }
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    int status = 0;
    if (head.size() > 12) status = std::atoi(head.c_str() + 9);
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    body->clear();
    if (const size_t cl = lower.find("content-length:"); cl != std::string::npos) {
      const size_t length = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
      while (buffer_.size() < length) {
        if (!Fill()) return 0;
      }
      *body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      for (;;) {
        size_t line;
        while ((line = buffer_.find("\r\n")) == std::string::npos) {
          if (!Fill()) return 0;
        }
        const size_t size = std::strtoul(buffer_.c_str(), nullptr, 16);
        buffer_.erase(0, line + 2);
        while (buffer_.size() < size + 2) {
          if (!Fill()) return 0;
        }
        body->append(buffer_, 0, size);
        buffer_.erase(0, size + 2);
        if (size == 0) break;
      }
    }
    return status;
  }

  int fd_ = -1;
  std::string buffer_;
};

class InfluxServer {
 public:
  // Starts influxd with a generated config in `dir`; nullopt when it cannot.
  static std::unique_ptr<InfluxServer> Start(const std::string& dir) {
    if (access("/usr/bin/influxd", X_OK) != 0) return nullptr;
    auto s = std::unique_ptr<InfluxServer>(new InfluxServer());
    std::filesystem::create_directories(dir);
    s->port_ = FreePort();
    const int rpc_port = FreePort();
    const std::string config = dir + "/influxdb.conf";
    // reporting-disabled is upstream's key; Debian's build reads reporting-enabled.
    std::ofstream(config) << "reporting-disabled = true\nreporting-enabled = false\n"
                          << "bind-address = \"127.0.0.1:" << rpc_port << "\"\n"
                          << "[meta]\n  dir = \"" << dir << "/meta\"\n"
                          << "[data]\n  dir = \"" << dir << "/data\"\n  wal-dir = \"" << dir
                          << "/wal\"\n  query-log-enabled = false\n"
                          << "[monitor]\n  store-enabled = false\n"
                          << "[http]\n  enabled = true\n  bind-address = \"127.0.0.1:" << s->port_
                          << "\"\n  log-enabled = false\n"
                          << "[continuous_queries]\n  enabled = false\n";
    const std::string log = dir + "/influxd.log";
    s->pid_ = fork();
    if (s->pid_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execl("/usr/bin/influxd", "influxd", "-config", config.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (s->pid_ < 0) return nullptr;
    const auto deadline = Steady::now() + std::chrono::seconds(30);
    while (Steady::now() < deadline) {
      if (smartby::testing::HttpGet(s->port_, "/ping").status == 204) {
        HttpConnection conn(s->port_);
        std::string body;
        if (conn.Post("/query", "application/x-www-form-urlencoded", "q=CREATE+DATABASE+bench",
                      &body) == 200) {
          return s;
        }
      }
      int status = 0;
      if (waitpid(s->pid_, &status, WNOHANG) == s->pid_) {
        s->pid_ = -1;
        std::fprintf(stderr, "influxd exited; see %s\n", log.c_str());
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling its start-up
    }
    return nullptr;
  }
  ~InfluxServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  InfluxServer() = default;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Builds batch k+1 on its own thread while batch k is sent: the same pipelining the stream client
// does, so both peers' clients build their requests while the server works.
template <typename Batch>
class Pipeline {
 public:
  Pipeline(int64_t batches, int depth, std::function<void(int64_t, Batch*)> build)
      : batches_(batches), depth_(depth), build_(std::move(build)) {
    builder_ = std::thread([this] {
      for (int64_t b = 0; b < batches_; ++b) {
        auto batch = std::make_unique<Batch>();
        build_(b, batch.get());
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || static_cast<int>(ready_.size()) < depth_; });
        if (stop_) return;
        ready_.push_back(std::move(batch));
        cv_.notify_all();
      }
    });
  }
  ~Pipeline() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    builder_.join();
  }
  std::unique_ptr<Batch> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !ready_.empty(); });
    auto batch = std::move(ready_.front());
    ready_.erase(ready_.begin());
    cv_.notify_all();
    return batch;
  }

 private:
  const int64_t batches_;
  const int depth_;
  std::function<void(int64_t, Batch*)> build_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Batch>> ready_;
  bool stop_ = false;
  std::thread builder_;
};

struct InfluxFigures {
  Figure write;
  int64_t counted = -1;  // SELECT count(...) afterwards
};

InfluxFigures InfluxWrite(InfluxServer& server, const Generator& gen, int64_t n, int batch) {
  InfluxFigures out;
  HttpConnection conn(server.port());
  if (!conn.ok()) Die("cannot connect to influxd");
  const int64_t batches = (n + batch - 1) / batch;
  Measure m(server.pid());
  int64_t written = 0;
  {
    Pipeline<std::string> pipeline(batches, 2, [&](int64_t b, std::string* body) {
      body->reserve(static_cast<size_t>(batch) * 96);
      for (int64_t i = b * batch; i < std::min(n, (b + 1) * batch); ++i) {
        absl::StrAppend(body, "readings,source=", gen.ids[gen.SourceOf(i)],
                        " antall=", Generator::Count(i), "i,temperatur=");
        AppendDouble(Generator::Temperature(i), *body);
        body->append(",fuktighet=");
        AppendDouble(Generator::Humidity(i), *body);
        absl::StrAppend(body, " ", gen.TimeOf(i), "\n");
      }
    });
    std::string response;
    for (int64_t b = 0; b < batches; ++b) {
      std::unique_ptr<std::string> body = pipeline.Next();
      const int status = conn.Post("/write?db=bench&precision=u", "text/plain", *body, &response);
      if (status != 204) Die(absl::StrCat("influx write: HTTP ", status, ": ", response));
      written += std::min(n, (b + 1) * batch) - b * batch;
    }
  }
  out.write = Done(m, written);
  HttpConnection query(server.port());
  std::string body;
  if (query.Post("/query?db=bench", "application/x-www-form-urlencoded",
                 "q=SELECT+count(antall)+FROM+readings", &body) == 200) {
    try {
      auto json = nlohmann::json::parse(body);
      out.counted = json["results"][0]["series"][0]["values"][0][1].get<int64_t>();
    } catch (const std::exception&) {
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The platform: auth (ingestion's service account), catalogue (the dataset), ingestion instances

// The benchmark's dataset: an integer and two doubles per reading.
cv1::Dataset Dataset() {
  cv1::Dataset d;
  d.set_name(kDataset);
  d.set_title("Luftmålinger (benchmark)");
  d.set_description("Temperatur, fuktighet og antall passeringer fra 200 målere.");
  d.mutable_owner()->set_organization("Stavanger kommune");
  d.set_license("NLOD-2.0");
  d.set_classification(smartcity::common::v1::CLASSIFICATION_OPEN);
  d.set_update_frequency(cv1::UPDATE_FREQUENCY_CONTINUOUS);
  auto add = [&](const char* name, cv1::FieldType type, const char* unit, double lo, double hi) {
    cv1::SchemaField* f = d.add_fields();
    f->set_name(name);
    f->set_type(type);
    f->set_unit(unit);
    f->set_min_value(lo);
    f->set_max_value(hi);
  };
  add("antall", cv1::FIELD_TYPE_INTEGER, "count", 0, 100000);
  add("temperatur", cv1::FIELD_TYPE_DOUBLE, "°C", -40, 60);
  add("fuktighet", cv1::FIELD_TYPE_DOUBLE, "%", 0, 100);
  return d;
}

// ---------------------------------------------------------------------------------------------
// 1 and 5: StreamReadings, with or without a WatchReadings subscriber

struct WatchFigures {
  int64_t received = 0;
  std::vector<double> from_accept_ms, from_send_ms;
};

struct StreamFigures {
  Figure figure;
  int64_t accepted = 0, duplicates = 0, rejected = 0;
  WatchFigures watch;
  long peak_rss_kib = 0;
};

StreamFigures StreamRun(ServiceProcess& service, const Platform& platform, const Generator& gen,
                        int64_t first, int64_t n, int batch, int in_flight, bool watch) {
  StreamFigures out;
  auto channel = Channel(service.grpc_address());
  auto stub = iv1::IngestionService::NewStub(channel);
  const int64_t batches = (n + batch - 1) / batch;
  std::vector<std::atomic<int64_t>> sent_at(static_cast<size_t>(batches));

  // The subscriber, on its own channel (connection), from the beginning.
  std::unique_ptr<grpc::ClientContext> watch_ctx;
  std::thread watcher;
  std::atomic<bool> watch_ready{false};
  std::atomic<int64_t> received{0};
  if (watch) {
    watch_ctx = Ctx(platform.feed());
    watcher = std::thread([&, watch_channel = Channel(service.grpc_address())] {
      auto watch_stub = iv1::IngestionService::NewStub(watch_channel);
      iv1::WatchReadingsRequest request;
      request.add_datasets(kDataset);
      auto reader = watch_stub->WatchReadings(watch_ctx.get(), request);
      watch_ready = true;
      iv1::WatchReadingsResponse response;
      while (received < n && reader->Read(&response)) {
        const int64_t now = WallMicros();
        for (const auto& r : response.readings()) {
          const int64_t time_us = r.reading().time().seconds() * 1'000'000 +
                                  r.reading().time().nanos() / 1000;
          const int64_t number = gen.NumberOf(r.reading().source_id(), time_us) - first;
          const int64_t accept = r.accept_time().seconds() * 1'000'000 +
                                 r.accept_time().nanos() / 1000;
          out.watch.from_accept_ms.push_back(static_cast<double>(now - accept) / 1000);
          if (number >= 0 && number < n) {
            out.watch.from_send_ms.push_back(
                static_cast<double>(now - sent_at[static_cast<size_t>(number / batch)].load()) /
                1000);
          }
          ++received;
        }
      }
      watch_ctx->TryCancel();
      while (reader->Read(&response)) {
      }
      reader->Finish();
    });
    while (!watch_ready) std::this_thread::yield();
  }

  auto ctx = Ctx(platform.Writer(kDataset));
  Measure m(service.pid());
  auto stream = stub->StreamReadings(ctx.get());
  std::mutex mu;
  std::condition_variable cv;
  int64_t answered = 0;
  std::thread writer([&] {
    iv1::WriteReadingsRequest request;
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t lo = b * batch, hi = std::min(n, lo + batch);
      gen.FillBatch(&request, first + lo, hi - lo);
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return b - answered < in_flight; });
      }
      sent_at[static_cast<size_t>(b)] = WallMicros();
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  iv1::WriteReadingsResponse response;
  while (stream->Read(&response)) {
    out.accepted += response.accepted();
    out.duplicates += response.duplicates();
    out.rejected += response.rejected();
    if (response.rejected() > 0 && out.rejected == response.rejected()) {
      for (const auto& r : response.results()) {
        if (r.outcome() == iv1::READING_OUTCOME_REJECTED) {
          std::fprintf(stderr, "  rejected: %s\n", r.message().c_str());
          break;
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    ++answered;
    cv.notify_all();
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  out.figure = Done(m, out.accepted);
  if (!status.ok()) {
    if (watch) {
      watch_ctx->TryCancel();
      watcher.join();
    }
    Die("StreamReadings: " + status.error_message());
  }
  if (watch) {
    // The subscriber gets the last readings shortly after their commit.
    const auto deadline = Steady::now() + std::chrono::seconds(60);
    while (received < out.accepted && Steady::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // waiting for it to drain
    }
    watch_ctx->TryCancel();
    watcher.join();
    out.watch.received = received;
  }
  out.peak_rss_kib = StatusKiB(service.pid(), "VmHWM:");
  return out;
}

// ---------------------------------------------------------------------------------------------
// 3: small unary batches from several callers

struct SmallFigures {
  Figure figure;
  std::vector<double> latency_ms;
  int64_t failed = 0;
};

SmallFigures SmallBatches(ServiceProcess& service, const Platform& platform, const Generator& gen,
                          int64_t first, int64_t n, int per_call, int callers) {
  SmallFigures out;
  auto channel = Channel(service.grpc_address());
  const int64_t calls = (n + per_call - 1) / per_call;
  std::atomic<int64_t> next{0}, accepted{0}, failed{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(callers));
  Measure m(service.pid());
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      auto stub = iv1::IngestionService::NewStub(channel);
      iv1::WriteReadingsRequest request;
      for (int64_t c; (c = next++) < calls;) {
        const int64_t lo = c * per_call, hi = std::min(n, lo + per_call);
        gen.FillBatch(&request, first + lo, hi - lo);
        iv1::WriteReadingsResponse response;
        const auto t0 = Steady::now();
        const grpc::Status status =
            stub->WriteReadings(Ctx(platform.Writer(kDataset), absl::Seconds(60)).get(), request, &response);
        latencies[static_cast<size_t>(t)].push_back(
            std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
        if (status.ok()) {
          accepted += response.accepted();
        } else if (failed++ < 3) {
          std::fprintf(stderr, "  WriteReadings failed: %s\n", status.error_message().c_str());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  out.figure = Done(m, accepted.load());
  out.failed = failed.load();
  for (auto& v : latencies) out.latency_ms.insert(out.latency_ms.end(), v.begin(), v.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// 4: a CSV file through ImportFile

struct ImportFigures {
  Figure figure;
  int64_t accepted = 0, rejected = 0;
  double csv_mb = 0;
  long rss_before_kib = 0, peak_rss_kib = 0;
};

ImportFigures ImportCsv(ServiceProcess& service, const Platform& platform, const Generator& gen,
                        int64_t n) {
  ImportFigures out;
  // The file, made before the clock starts (it is the client's disk, not the service's work).
  std::string csv = "source_id,time,antall,temperatur,fuktighet\n";
  csv.reserve(static_cast<size_t>(n) * 64);
  for (int64_t i = 0; i < n; ++i) {
    google::protobuf::Timestamp t;
    t.set_seconds(gen.TimeOf(i) / 1'000'000);
    absl::StrAppend(&csv, gen.ids[gen.SourceOf(i)], ",", smartby::ingestion::FormatRfc3339(t),
                    ",", Generator::Count(i), ",");
    AppendDouble(Generator::Temperature(i), csv);
    csv.push_back(',');
    AppendDouble(Generator::Humidity(i), csv);
    csv.push_back('\n');
  }
  out.csv_mb = static_cast<double>(csv.size()) / 1e6;
  out.rss_before_kib = StatusKiB(service.pid(), "VmRSS:");
  auto stub = iv1::IngestionService::NewStub(Channel(service.grpc_address()));
  auto ctx = Ctx(platform.Writer(kDataset));
  Measure m(service.pid());
  auto stream = stub->ImportFile(ctx.get());
  iv1::ImportSummary summary;
  std::thread reader([&] {
    iv1::ImportFileResponse response;
    while (stream->Read(&response)) {
      if (response.has_summary()) summary = response.summary();
    }
  });
  iv1::ImportFileRequest request;
  request.mutable_options()->set_dataset(kDataset);
  request.mutable_options()->set_file_name("maalinger.csv");
  request.mutable_options()->set_total_bytes(static_cast<int64_t>(csv.size()));
  bool open = stream->Write(request);
  constexpr size_t kChunk = 256 * 1024;
  for (size_t at = 0; open && at < csv.size(); at += kChunk) {
    request.set_chunk(csv.substr(at, kChunk));
    open = stream->Write(request);
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();
  out.accepted = summary.totals().accepted();
  out.rejected = summary.totals().rejected();
  out.figure = Done(m, out.accepted);
  if (!status.ok()) Die("ImportFile: " + status.error_message());
  if (summary.errors_size() > 0) {
    std::fprintf(stderr, "  first import error: row %lld: %s\n",
                 static_cast<long long>(summary.errors(0).row()),
                 summary.errors(0).message().c_str());
  }
  out.peak_rss_kib = StatusKiB(service.pid(), "VmHWM:");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Splits, in-process

struct Splits {
  Figure client_build;      // FillBatch + SerializeToString
  Figure server_parse;      // ParseFromString of the same bytes
  Figure domain;            // Ingestion::Write with a fixed schema, SQLite store
  Figure store;             // IngestionStore::AppendReadings alone, SQLite
  Figure domain_pg, store_pg;
  Figure domain_small, store_small;  // batches of --small_batch
  Figure domain_small_concurrent;    // the same from --callers threads
  double request_bytes_per_reading = 0;
};

std::shared_ptr<smartby::storage::Database> OpenDb(const std::string& url) {
  auto db = smartby::storage::OpenDatabase(url);
  if (!db.ok()) Die(absl::StrCat("open ", url, ": ", db.status().message()));
  return std::shared_ptr<smartby::storage::Database>(*std::move(db));
}

std::unique_ptr<smartby::ingestion::IngestionStore> OpenStore(
    const std::shared_ptr<smartby::storage::Database>& db, const Generator& gen) {
  auto store = smartby::ingestion::OpenSqlIngestionStore(db);
  if (!store.ok()) Die(absl::StrCat("store: ", store.status().message()));
  for (const std::string& id : gen.ids) {
    iv1::Source s;
    s.set_id(id);
    s.set_dataset(kDataset);
    s.set_name("Måler " + id);
    s.mutable_expected_interval()->set_seconds(kIntervalUs / 1'000'000);
    s.set_version(1);
    if (absl::Status created = (*store)->CreateSource(s); !created.ok()) {
      Die(absl::StrCat("CreateSource: ", created.message()));
    }
  }
  return *std::move(store);
}

// Builds each batch untimed, then times only the call under test.
Figure StoreOnly(const std::string& url, const Generator& gen, int64_t n, int batch) {
  auto db = OpenDb(url);
  auto store = OpenStore(db, gen);
  Figure f;
  std::vector<smartby::ingestion::NewReading> b;
  for (int64_t i = 0; i < n; i += batch) {
    b.clear();
    for (int64_t j = i; j < std::min(n, i + batch); ++j) {
      b.push_back({gen.ids[gen.SourceOf(j)], gen.TimeOf(j), gen.Payload(j)});
    }
    const auto t0 = Steady::now();
    auto result = store->AppendReadings(b, WallMicros(), {});
    f.seconds += Seconds(t0);
    if (!result.ok()) Die(absl::StrCat("AppendReadings: ", result.status().message()));
    for (bool inserted : result->inserted) f.readings += inserted;
  }
  return f;
}

Figure DomainOnly(const std::string& url, const Generator& gen, int64_t n, int batch) {
  auto db = OpenDb(url);
  auto store = OpenStore(db, gen);
  smartby::ingestion::FixedDatasetDirectory directory;
  auto schema = smartby::ingestion::DatasetSchema::FromDataset(Dataset());
  schema.state = cv1::DATASET_STATE_PUBLISHED;
  directory.Put(schema);
  smartby::SystemClock clock;
  smartby::ingestion::Ingestion ingestion(store.get(), &directory, &clock, nullptr);
  Figure f;
  iv1::WriteReadingsRequest request;
  for (int64_t i = 0; i < n; i += batch) {
    gen.FillBatch(&request, i, std::min<int64_t>(batch, n - i));
    const auto t0 = Steady::now();
    auto response = ingestion.Write(nullptr, request.readings());
    f.seconds += Seconds(t0);
    if (!response.ok()) Die(absl::StrCat("Write: ", response.status().message()));
    f.readings += response->accepted();
  }
  return f;
}

// Ingestion::Write from `threads` threads at once, `batch` readings per call (wall time).
Figure DomainConcurrent(const std::string& url, const Generator& gen, int64_t n, int batch,
                        int threads) {
  auto db = OpenDb(url);
  auto store = OpenStore(db, gen);
  smartby::ingestion::FixedDatasetDirectory directory;
  auto schema = smartby::ingestion::DatasetSchema::FromDataset(Dataset());
  schema.state = cv1::DATASET_STATE_PUBLISHED;
  directory.Put(schema);
  smartby::SystemClock clock;
  smartby::ingestion::Ingestion ingestion(store.get(), &directory, &clock, nullptr);
  const int64_t calls = (n + batch - 1) / batch;
  std::vector<iv1::WriteReadingsRequest> requests(static_cast<size_t>(calls));
  for (int64_t c = 0; c < calls; ++c) {
    gen.FillBatch(&requests[static_cast<size_t>(c)], c * batch, std::min<int64_t>(batch, n - c * batch));
  }
  std::atomic<int64_t> next{0}, accepted{0};
  std::mutex error_mu;
  std::string error;
  Measure m;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int64_t c; (c = next++) < calls;) {
        auto response = ingestion.Write(nullptr, requests[static_cast<size_t>(c)].readings());
        if (!response.ok()) {
          std::lock_guard<std::mutex> lock(error_mu);
          error = std::string(response.status().message());
          return;
        }
        accepted += response->accepted();
      }
    });
  }
  for (auto& w : workers) w.join();
  if (!error.empty()) Die("Write: " + error);
  return Done(m, accepted.load());
}

Splits RunSplits(const std::string& dir, const Generator& gen, int64_t n, int batch,
                 int small_batch, int callers) {
  Splits s;
  std::vector<std::string> serialized;
  {
    iv1::WriteReadingsRequest request;
    Measure m;
    for (int64_t i = 0; i < n; i += batch) {
      gen.FillBatch(&request, i, std::min<int64_t>(batch, n - i));
      request.SerializeToString(&serialized.emplace_back());
    }
    s.client_build = Done(m, n);
  }
  size_t bytes = 0;
  for (const auto& b : serialized) bytes += b.size();
  s.request_bytes_per_reading = static_cast<double>(bytes) / static_cast<double>(n);
  {
    iv1::WriteReadingsRequest request;
    Measure m;
    for (const auto& b : serialized) {
      if (!request.ParseFromString(b)) Die("parse");
    }
    s.server_parse = Done(m, n);
  }
  RemoveSqlite(dir + "/split-store.db");
  s.store = StoreOnly(absl::StrCat("sqlite://", dir, "/split-store.db"), gen, n, batch);
  RemoveSqlite(dir + "/split-domain.db");
  s.domain = DomainOnly(absl::StrCat("sqlite://", dir, "/split-domain.db"), gen, n, batch);
  const int64_t small = std::min<int64_t>(n, 100'000);
  RemoveSqlite(dir + "/split-store-small.db");
  s.store_small = StoreOnly(absl::StrCat("sqlite://", dir, "/split-store-small.db"), gen, small,
                            small_batch);
  RemoveSqlite(dir + "/split-domain-small.db");
  s.domain_small = DomainOnly(absl::StrCat("sqlite://", dir, "/split-domain-small.db"), gen,
                              small, small_batch);
  RemoveSqlite(dir + "/split-domain-concurrent.db");
  s.domain_small_concurrent =
      DomainConcurrent(absl::StrCat("sqlite://", dir, "/split-domain-concurrent.db"), gen, small,
                       small_batch, callers);
  if (const std::string pg = NewPostgresDatabase("ingbench_split_store"); !pg.empty()) {
    s.store_pg = StoreOnly(pg, gen, n, batch);
  }
  if (const std::string pg = NewPostgresDatabase("ingbench_split_domain"); !pg.empty()) {
    s.domain_pg = DomainOnly(pg, gen, n, batch);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Output

std::string Rate(double per_second) {
  if (per_second <= 0) return "-";
  const auto v = static_cast<long long>(per_second + 0.5);
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

struct Line {
  std::string what, value, ratio, target, verdict;
};

void PrintTable(const std::vector<Line>& lines) {
  std::printf("\n| | result | ratio | target | |\n|---|---|---|---|---|\n");
  for (const Line& l : lines) {
    std::printf("| %s | %s | %s | %s | %s |\n", l.what.c_str(), l.value.c_str(), l.ratio.c_str(),
                l.target.c_str(), l.verdict.c_str());
  }
}

std::string Verdict(double value, double target, double floor = -1) {
  if (value >= target) return "PASS";
  if (floor > 0 && value >= floor) return "MISS (above the floor)";
  return "MISS";
}

// The in-process splits: where a reading's time goes without gRPC and processes.
void SplitsSection(const Options& o, const std::string& dir, const Generator& gen, bool postgres,
                   std::vector<Line>& table) {
  const Splits s = RunSplits(dir, gen, o.readings, o.batch, o.small_batch, o.callers);
  std::printf("splits (in-process, one thread):\n");
  std::printf("  client: build + serialize requests   %s readings/s (%.1f bytes per reading)\n",
              Rate(s.client_build.per_second()).c_str(), s.request_bytes_per_reading);
  std::printf("  parse the same requests              %s readings/s\n",
              Rate(s.server_parse.per_second()).c_str());
  std::printf("  Ingestion::Write, SQLite store       %s readings/s\n",
              Rate(s.domain.per_second()).c_str());
  std::printf("  IngestionStore::AppendReadings only  %s readings/s\n",
              Rate(s.store.per_second()).c_str());
  std::printf("  Ingestion::Write, %d per call, SQLite %s readings/s\n", o.small_batch,
              Rate(s.domain_small.per_second()).c_str());
  std::printf("  AppendReadings, %d per call, SQLite  %s readings/s\n", o.small_batch,
              Rate(s.store_small.per_second()).c_str());
  std::printf("  Ingestion::Write, %d per call, %d threads, SQLite %s readings/s\n", o.small_batch,
              o.callers, Rate(s.domain_small_concurrent.per_second()).c_str());
  if (postgres) {
    std::printf("  Ingestion::Write, PostgreSQL store   %s readings/s\n",
                Rate(s.domain_pg.per_second()).c_str());
    std::printf("  AppendReadings only, PostgreSQL      %s readings/s\n",
                Rate(s.store_pg.per_second()).c_str());
  }
  auto us = [](const Figure& f) {
    return f.per_second() > 0 ? absl::StrFormat("%.2f µs/reading", 1e6 / f.per_second()) : "-";
  };
  table.push_back({"split: client builds + serializes requests (in-process)",
                   Rate(s.client_build.per_second()) + " /s", us(s.client_build), "", ""});
  table.push_back({"split: parsing the requests (in-process)",
                   Rate(s.server_parse.per_second()) + " /s", us(s.server_parse), "", ""});
  table.push_back({"split: Ingestion::Write, SQLite (in-process, no gRPC)",
                   Rate(s.domain.per_second()) + " /s", us(s.domain), "", ""});
  table.push_back({"split: AppendReadings alone, SQLite (in-process)",
                   Rate(s.store.per_second()) + " /s", us(s.store), "", ""});
  table.push_back({absl::StrCat("split: Ingestion::Write, ", o.small_batch,
                                " per call, SQLite (in-process)"),
                   Rate(s.domain_small.per_second()) + " /s", us(s.domain_small), "", ""});
  table.push_back({absl::StrCat("split: AppendReadings alone, ", o.small_batch,
                                " per call, SQLite (in-process)"),
                   Rate(s.store_small.per_second()) + " /s", us(s.store_small), "", ""});
  table.push_back({absl::StrCat("split: Ingestion::Write, ", o.small_batch, " per call, ",
                                o.callers, " threads, SQLite (in-process)"),
                   Rate(s.domain_small_concurrent.per_second()) + " /s",
                   us(s.domain_small_concurrent), "", ""});
  if (postgres) {
    table.push_back({"split: Ingestion::Write, PostgreSQL (in-process)",
                     Rate(s.domain_pg.per_second()) + " /s", us(s.domain_pg), "", ""});
    table.push_back({"split: AppendReadings alone, PostgreSQL (in-process)",
                     Rate(s.store_pg.per_second()) + " /s", us(s.store_pg), "", ""});
  }
}

int Run(const Options& o, const std::string& dir) {
  const bool postgres = std::getenv("SMARTBY_TEST_POSTGRES_URL") != nullptr;
  std::printf("ingestion_bench: %lld readings, %d sources, batches of %d, %d in flight (data in "
              "%s)\n",
              static_cast<long long>(o.readings), o.sources, o.batch, o.in_flight, dir.c_str());
  // Readings [0, N) for the stream runs, the baselines and the import; [N, N + small) for the
  // small batches, so that they are new readings in a database that holds the first N.
  const Generator gen(o.sources, o.readings + o.small_readings);
  std::vector<Line> table;
  if (o.only_splits) {  // for profiling the in-process paths
    SplitsSection(o, dir, gen, postgres, table);
    PrintTable(table);
    return 0;
  }

  // Baselines.
  std::printf("preparing the raw rows...\n");
  std::vector<RawRow> rows = RawRows(gen, o.readings);
  const Figure raw_sqlite = RawSqlite(dir + "/raw.db", rows, o.batch);
  std::printf("raw SQLite INSERT OR IGNORE, %d per transaction: %s rows/s\n", o.batch,
              Rate(raw_sqlite.per_second()).c_str());
  table.push_back({absl::StrCat("baseline: raw SQLite `INSERT OR IGNORE`, WAL, ", o.batch, "/tx"),
                   Rate(raw_sqlite.per_second()) + " rows/s", "1.00×", "", ""});
  Figure raw_copy;
  if (postgres) {
    raw_copy = RawPostgresCopy(NewPostgresDatabase("ingbench_copy"), rows, o.batch);
    std::printf("raw PostgreSQL COPY, %d per COPY: %s rows/s\n", o.batch,
                Rate(raw_copy.per_second()).c_str());
    table.push_back({absl::StrCat("baseline: PostgreSQL `COPY`, ", o.batch, " rows per COPY"),
                     Rate(raw_copy.per_second()) + " rows/s", "1.00×", "", ""});
  }
  rows.clear();
  rows.shrink_to_fit();

  std::printf("starting auth and catalogue...\n");
  Platform platform(dir);
  platform.CreateDataset(Dataset());

  // 1. StreamReadings on SQLite, then small batches on the same service.
  RemoveSqlite(dir + "/ingestion.db");
  StreamFigures sqlite_stream;
  SmallFigures sqlite_small;
  {
    auto service = platform.StartIngestion(absl::StrCat("sqlite://", dir, "/ingestion.db"));
    auto stub = iv1::IngestionService::NewStub(Channel(service->grpc_address()));
    platform.RegisterSources(*stub, kDataset, gen.ids, absl::Microseconds(kIntervalUs));
    sqlite_stream = StreamRun(*service, platform, gen, 0, o.readings, o.batch, o.in_flight, false);
    std::printf("1. StreamReadings, SQLite: %s readings/s (%lld accepted, %lld duplicates, %lld "
                "rejected; %s)\n",
                Rate(sqlite_stream.figure.per_second()).c_str(),
                static_cast<long long>(sqlite_stream.accepted),
                static_cast<long long>(sqlite_stream.duplicates),
                static_cast<long long>(sqlite_stream.rejected), Cpu(sqlite_stream.figure).c_str());
    if (!o.Skips("small")) {
      sqlite_small = SmallBatches(*service, platform, gen, o.readings, o.small_readings,
                                  o.small_batch, o.callers);
      std::printf("3. WriteReadings, %d per call, %d callers, SQLite: %s readings/s (p50 %.2f ms, "
                  "p99 %.2f ms; %s)\n",
                  o.small_batch, o.callers, Rate(sqlite_small.figure.per_second()).c_str(),
                  Percentile(sqlite_small.latency_ms, 0.5),
                  Percentile(sqlite_small.latency_ms, 0.99), Cpu(sqlite_small.figure).c_str());
    }
  }
  const double sqlite_ratio = sqlite_stream.figure.per_second() / raw_sqlite.per_second();
  table.push_back({"1. StreamReadings, SQLite (durable readings/s)",
                   Rate(sqlite_stream.figure.per_second()) + " /s",
                   absl::StrFormat("%.2f× raw SQLite", sqlite_ratio), "≥ 0.5× (floor 0.33×)",
                   Verdict(sqlite_ratio, 0.5, 0.33)});

  // 5. The same run with a subscriber, on a fresh database.
  StreamFigures watched;
  if (!o.Skips("watch")) {
    RemoveSqlite(dir + "/ingestion-watch.db");
    auto service = platform.StartIngestion(absl::StrCat("sqlite://", dir, "/ingestion-watch.db"));
    auto stub = iv1::IngestionService::NewStub(Channel(service->grpc_address()));
    platform.RegisterSources(*stub, kDataset, gen.ids, absl::Microseconds(kIntervalUs));
    watched = StreamRun(*service, platform, gen, 0, o.readings, o.batch, o.in_flight, true);
    std::printf("5. StreamReadings with a WatchReadings subscriber, SQLite: %s readings/s; "
                "subscriber got %lld; received - accept_time p50 %.1f ms p99 %.1f ms; received - "
                "sent p50 %.1f ms p99 %.1f ms\n",
                Rate(watched.figure.per_second()).c_str(),
                static_cast<long long>(watched.watch.received),
                Percentile(watched.watch.from_accept_ms, 0.5),
                Percentile(watched.watch.from_accept_ms, 0.99),
                Percentile(watched.watch.from_send_ms, 0.5),
                Percentile(watched.watch.from_send_ms, 0.99));
  }

  // 1 and 3 on PostgreSQL.
  StreamFigures pg_stream;
  SmallFigures pg_small;
  if (postgres) {
    auto service = platform.StartIngestion(NewPostgresDatabase("ingbench_service"));
    auto stub = iv1::IngestionService::NewStub(Channel(service->grpc_address()));
    platform.RegisterSources(*stub, kDataset, gen.ids, absl::Microseconds(kIntervalUs));
    pg_stream = StreamRun(*service, platform, gen, 0, o.readings, o.batch, o.in_flight, false);
    std::printf("1. StreamReadings, PostgreSQL: %s readings/s (%lld accepted; %s)\n",
                Rate(pg_stream.figure.per_second()).c_str(),
                static_cast<long long>(pg_stream.accepted), Cpu(pg_stream.figure).c_str());
    const double ratio = pg_stream.figure.per_second() / raw_copy.per_second();
    table.push_back({"1. StreamReadings, PostgreSQL 15 (durable readings/s)",
                     Rate(pg_stream.figure.per_second()) + " /s",
                     absl::StrFormat("%.2f× COPY", ratio), "≥ 0.33×", Verdict(ratio, 0.33)});
    if (!o.Skips("small")) {
      pg_small = SmallBatches(*service, platform, gen, o.readings, o.small_readings,
                              o.small_batch, o.callers);
      std::printf("3. WriteReadings, %d per call, %d callers, PostgreSQL: %s readings/s (p50 %.2f "
                  "ms, p99 %.2f ms)\n",
                  o.small_batch, o.callers, Rate(pg_small.figure.per_second()).c_str(),
                  Percentile(pg_small.latency_ms, 0.5), Percentile(pg_small.latency_ms, 0.99));
    }
  }

  // 2. InfluxDB 1.6.
  InfluxFigures influx;
  if (!o.Skips("influx")) {
    if (auto server = InfluxServer::Start(dir + "/influxdb"); server != nullptr) {
      influx = InfluxWrite(*server, gen, o.readings, o.batch);
      std::printf("2. InfluxDB 1.6 line protocol, %d points per POST, one writer: %s points/s "
                  "(count afterwards: %lld; %s)\n",
                  o.batch, Rate(influx.write.per_second()).c_str(),
                  static_cast<long long>(influx.counted), Cpu(influx.write).c_str());
      table.push_back({absl::StrCat("2. peer: InfluxDB 1.6 `/write`, ", o.batch,
                                    " points per POST, one writer"),
                       Rate(influx.write.per_second()) + " points/s",
                       absl::StrFormat("%.2f× raw SQLite", influx.write.per_second() /
                                                               raw_sqlite.per_second()),
                       "(peer)", ""});
      table.push_back(
          {"2. StreamReadings SQLite / InfluxDB", "",
           absl::StrFormat("%.2f×", sqlite_stream.figure.per_second() / influx.write.per_second()),
           "(reported)", ""});
      if (postgres) {
        table.push_back(
            {"2. StreamReadings PostgreSQL / InfluxDB", "",
             absl::StrFormat("%.2f×", pg_stream.figure.per_second() / influx.write.per_second()),
             "(reported)", ""});
      }
    } else {
      std::printf("2. InfluxDB skipped: /usr/bin/influxd missing or did not start\n");
    }
  }

  if (!o.Skips("small")) {
    table.push_back({absl::StrCat("3. WriteReadings, ", o.small_batch, " per call, ", o.callers,
                                  " callers, SQLite"),
                     Rate(sqlite_small.figure.per_second()) + " /s",
                     absl::StrFormat("p50 %.1f / p99 %.1f ms", Percentile(sqlite_small.latency_ms, 0.5),
                                     Percentile(sqlite_small.latency_ms, 0.99)),
                     "≥ 50,000/s", Verdict(sqlite_small.figure.per_second(), 50000)});
    if (postgres) {
      table.push_back({absl::StrCat("3. WriteReadings, ", o.small_batch, " per call, ", o.callers,
                                    " callers, PostgreSQL"),
                       Rate(pg_small.figure.per_second()) + " /s",
                       absl::StrFormat("p50 %.1f / p99 %.1f ms", Percentile(pg_small.latency_ms, 0.5),
                                       Percentile(pg_small.latency_ms, 0.99)),
                       "≥ 50,000/s", Verdict(pg_small.figure.per_second(), 50000)});
    }
  }

  // 4. CSV import, on a fresh service (its peak RSS is the import's).
  if (!o.Skips("import")) {
    RemoveSqlite(dir + "/ingestion-import.db");
    auto service = platform.StartIngestion(absl::StrCat("sqlite://", dir, "/ingestion-import.db"));
    auto stub = iv1::IngestionService::NewStub(Channel(service->grpc_address()));
    platform.RegisterSources(*stub, kDataset, gen.ids, absl::Microseconds(kIntervalUs));
    const ImportFigures imported = ImportCsv(*service, platform, gen, o.readings);
    std::printf("4. ImportFile, %lld-row CSV (%.1f MB), SQLite: %.2f s (%s rows/s; %lld accepted, "
                "%lld rejected); RSS before %ld MiB, peak %ld MiB; %s\n",
                static_cast<long long>(o.readings), imported.csv_mb, imported.figure.seconds,
                Rate(imported.figure.per_second()).c_str(),
                static_cast<long long>(imported.accepted),
                static_cast<long long>(imported.rejected), imported.rss_before_kib / 1024,
                imported.peak_rss_kib / 1024, Cpu(imported.figure).c_str());
    table.push_back({absl::StrCat("4. ImportFile, ", Rate(static_cast<double>(o.readings)),
                                  "-row CSV, SQLite: wall time"),
                     absl::StrFormat("%.1f s (%s rows/s)", imported.figure.seconds,
                                     Rate(imported.figure.per_second())),
                     absl::StrFormat("%.2f× raw SQLite", imported.figure.per_second() /
                                                             raw_sqlite.per_second()),
                     "(reported)", ""});
    table.push_back({"4. ImportFile: service peak RSS (VmHWM)",
                     absl::StrFormat("%ld MiB", imported.peak_rss_kib / 1024),
                     absl::StrFormat("%ld MiB before", imported.rss_before_kib / 1024),
                     "(reported)", ""});
  }

  if (!o.Skips("watch")) {
    table.push_back({"5. hand-over: received − accept_time, p50 / p99", 
                     absl::StrFormat("%.1f / %.1f ms", Percentile(watched.watch.from_accept_ms, 0.5),
                                     Percentile(watched.watch.from_accept_ms, 0.99)),
                     "", "(reported)", ""});
    table.push_back({"5. hand-over: received − client sent the batch, p50 / p99",
                     absl::StrFormat("%.1f / %.1f ms", Percentile(watched.watch.from_send_ms, 0.5),
                                     Percentile(watched.watch.from_send_ms, 0.99)),
                     "", "(reported)", ""});
    table.push_back({"5. StreamReadings, SQLite, with the subscriber running",
                     Rate(watched.figure.per_second()) + " /s",
                     absl::StrFormat("%.2f× raw SQLite",
                                     watched.figure.per_second() / raw_sqlite.per_second()),
                     "(reported)", ""});
  }
  table.push_back({"service peak RSS after the SQLite stream run",
                   absl::StrFormat("%ld MiB", sqlite_stream.peak_rss_kib / 1024), "", "", ""});

  if (!o.Skips("splits")) SplitsSection(o, dir, gen, postgres, table);

  PrintTable(table);
  if (!postgres) std::printf("\n(PostgreSQL skipped: run under scripts/with-postgres.sh)\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The service binaries of this bench's own build (<build>/bench/ingestion_bench), unless
  // SMARTBY_BUILD_DIR says otherwise.
  if (std::getenv("SMARTBY_BUILD_DIR") == nullptr) {
    std::string self = argv[0];
    const size_t slash = self.rfind('/');
    self = slash == std::string::npos ? "." : self.substr(0, slash);
    setenv("SMARTBY_BUILD_DIR", absl::StrCat(self, "/..").c_str(), 0);
  }
  const Options o = ParseOptions(argc, argv);
  const std::string dir = smartby::bench::BenchDir("ingestion-bench");
  int code = 1;
  try {
    code = Run(o, dir);
  } catch (const BenchFailure& failure) {
    std::fflush(stdout);
    std::fprintf(stderr, "ingestion_bench: %s\n", failure.what());
  }
  if (std::getenv("SMARTBY_BENCH_DIR") == nullptr) std::filesystem::remove_all(dir);
  return code;
}
