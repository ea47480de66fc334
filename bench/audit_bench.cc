// Audit log benchmark, run by hand. Everything is measured in one run on one machine; append
// figures are also given as a ratio to raw batched SQLite inserts of the same entry bytes into
// the same entries table (same columns and indexes, same WAL/synchronous settings, transactions of
// 512), measured first in the same run.
//
//   1. raw:    sqlite3 C API, prepared insert, 512 rows per transaction
//   2. batch:  Append with 500 events per call from 4 client threads (durable appends/s;
//              target >= 20,000/s)
//   3. unary:  single-event Append from 64 client threads (target >= 5,000/s)
//   4. steady: single-event Append at a paced 1,000/s for 10 s; latency p50/p99 (target p99 <=
//              25 ms)
//   5. proofs: a log of N entries built directly through the store (big transactions, tree
//              hashes with CompactRange, as the sequencer writes them), then GetInclusionProof
//              for random indices over gRPC, one at a time: p50/p99 (target p99 <= 10 ms at
//              10,000,000)
//
// Usage: build/bench/audit_bench [proof_log_entries=10000000] [seconds=5]
// SMARTBY_BENCH_DIR=/some/dir keeps the databases.
#include <grpcpp/grpcpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/audit/audit_store.h"
#include "services/audit/entries.h"
#include "services/audit/merkle.h"
#include "services/runtime/storage/database.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace {

namespace v1 = ::smartcity::audit::v1;
using smartby::testing::BinaryPath;
using smartby::testing::ServiceProcess;
using smartby::testing::TestTokenIssuer;
using smartby::testing::TokenSpec;
using Steady = std::chrono::steady_clock;

v1::AuditEvent Event(int64_t sequence) {
  v1::AuditEvent e;
  e.set_producer("catalogue");
  e.set_producer_sequence(sequence);
  e.mutable_claimed_time()->set_seconds(1700000000 + sequence / 1000);
  e.mutable_actor()->set_subject(absl::StrCat("user:u", sequence % 997));
  e.mutable_actor()->set_client_id("smartctl");
  e.set_source_address("ipv4:10.0.0.7:51234");
  e.set_action("/smartcity.catalogue.v1.CatalogueService/UpdateDataset");
  e.mutable_resource()->set_type("dataset");
  e.mutable_resource()->set_id(absl::StrCat("dataset-", sequence % 311));
  e.mutable_resource()->set_dataset(absl::StrCat("dataset-", sequence % 311));
  e.mutable_resource()->set_classification(smartcity::common::v1::CLASSIFICATION_INTERNAL);
  e.set_request_id(absl::StrCat("0123456789abcdef", sequence));
  e.set_details_json(R"({"changed":["title","description"]})");
  return e;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::string BenchDir() {
  if (const char* d = std::getenv("SMARTBY_BENCH_DIR")) return d;
  auto dir = std::filesystem::temp_directory_path() / absl::StrCat("audit-bench-", getpid());
  std::filesystem::create_directories(dir);
  return dir.string();
}

// 1. Raw batched inserts of the same entry bytes, schema as the service's.
double RawSqliteInsertsPerSecond(const std::string& path, int64_t n) {
  std::filesystem::remove(path);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
               "CREATE TABLE audit_entries (idx INTEGER PRIMARY KEY, sequenced_micros INTEGER "
               "NOT NULL, producer TEXT NOT NULL, producer_sequence INTEGER NOT NULL, subject "
               "TEXT NOT NULL, action TEXT NOT NULL, resource_id TEXT NOT NULL, dataset TEXT NOT "
               "NULL, outcome INTEGER NOT NULL, entry_bytes BLOB NOT NULL, UNIQUE (producer, "
               "producer_sequence));"
               "CREATE INDEX s ON audit_entries (subject, idx);"
               "CREATE INDEX r ON audit_entries (resource_id, idx);"
               "CREATE INDEX a ON audit_entries (action, idx);"
               "CREATE INDEX d ON audit_entries (dataset, idx);"
               "CREATE INDEX o ON audit_entries (outcome, idx);"
               "CREATE INDEX t ON audit_entries (sequenced_micros);",
               nullptr, nullptr, nullptr);
  std::vector<smartby::audit::EntryRow> rows;
  rows.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    rows.push_back(smartby::audit::MakeEntryRow(Event(i + 1), i, 1700000000000000 + i));
  }
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO audit_entries VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                     -1, &stmt, nullptr);
  const auto start = Steady::now();
  for (int64_t i = 0; i < n; i += 512) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (int64_t j = i; j < std::min(n, i + 512); ++j) {
      const auto& r = rows[j];
      sqlite3_bind_int64(stmt, 1, r.index);
      sqlite3_bind_int64(stmt, 2, r.sequenced_micros);
      sqlite3_bind_text(stmt, 3, r.producer.data(), static_cast<int>(r.producer.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 4, r.producer_sequence);
      sqlite3_bind_text(stmt, 5, r.subject.data(), static_cast<int>(r.subject.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(stmt, 6, r.action.data(), static_cast<int>(r.action.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(stmt, 7, r.resource_id.data(), static_cast<int>(r.resource_id.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(stmt, 8, r.dataset.data(), static_cast<int>(r.dataset.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 9, r.outcome);
      sqlite3_bind_blob(stmt, 10, r.entry_bytes.data(), static_cast<int>(r.entry_bytes.size()),
                        SQLITE_STATIC);
      sqlite3_step(stmt);
      sqlite3_reset(stmt);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return static_cast<double>(n) / seconds;
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

struct Service {
  std::unique_ptr<ServiceProcess> process;
  std::shared_ptr<grpc::Channel> channel;
};

Service StartService(const std::string& db_path, const TestTokenIssuer& issuer) {
  auto process = ServiceProcess::Start(
      BinaryPath("smartby-audit"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
       absl::StrCat("--database=sqlite://", db_path), issuer.ServiceFlag(), "--audit_service=",
       "--worker_threads=4"},
      {}, absl::Minutes(10));
  if (!process.ok()) {
    std::fprintf(stderr, "cannot start smartby-audit: %s\n",
                 std::string(process.status().message()).c_str());
    std::exit(1);
  }
  Service s;
  s.process = std::move(*process);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  s.channel = grpc::CreateCustomChannel(s.process->grpc_address(),
                                        grpc::InsecureChannelCredentials(), args);
  return s;
}

// Runs `threads` callers, each sending `events_per_call` new events per Append, for `seconds`.
double AppendsPerSecond(Service& service, const std::string& token, int threads,
                        int events_per_call, double seconds, std::atomic<int64_t>& sequence) {
  std::atomic<int64_t> appended{0};
  std::atomic<int64_t> failures{0};
  const auto end = Steady::now() + std::chrono::duration<double>(seconds);
  const auto start = Steady::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      auto stub = v1::AuditService::NewStub(service.channel);
      while (Steady::now() < end) {
        v1::AppendRequest request;
        for (int i = 0; i < events_per_call; ++i) *request.add_events() = Event(sequence++);
        v1::AppendResponse response;
        grpc::Status s = stub->Append(Ctx(token).get(), request, &response);
        if (s.ok()) {
          appended += response.indexes_size();
        } else if (failures++ < 3) {
          std::fprintf(stderr, "append failed: %s\n", s.error_message().c_str());
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Steady::now() - start).count();
  return static_cast<double>(appended.load()) / elapsed;
}

// Paced single-event appends at `rate`/s from 8 threads; returns latencies in ms.
std::vector<double> SteadyLatencies(Service& service, const std::string& token, int rate,
                                    double seconds, std::atomic<int64_t>& sequence) {
  constexpr int kThreads = 8;
  std::vector<std::vector<double>> per_thread(kThreads);
  const auto start = Steady::now() + std::chrono::milliseconds(100);
  const auto interval = std::chrono::duration<double>(static_cast<double>(kThreads) / rate);
  const int per_thread_calls = static_cast<int>(rate * seconds / kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      auto stub = v1::AuditService::NewStub(service.channel);
      for (int i = 0; i < per_thread_calls; ++i) {
        // Open loop: each call has its slot; latency counts from the slot, not the send.
        const auto slot = start + std::chrono::duration_cast<Steady::duration>(
                                      interval * i + interval * (static_cast<double>(t) / kThreads));
        std::this_thread::sleep_until(slot);
        v1::AppendRequest request;
        *request.add_events() = Event(sequence++);
        v1::AppendResponse response;
        grpc::Status s = stub->Append(Ctx(token).get(), request, &response);
        if (!s.ok()) std::fprintf(stderr, "append failed: %s\n", s.error_message().c_str());
        per_thread[t].push_back(
            std::chrono::duration<double, std::milli>(Steady::now() - slot).count());
      }
    });
  }
  for (auto& w : workers) w.join();
  std::vector<double> all;
  for (auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  return all;
}

// The sequencer's group commits so far, from the service's metrics: how many, how many entries,
// and how long they took in all. Differences between two reads describe a phase.
struct GroupCommits {
  double count = 0;
  double entries = 0;
  double seconds = 0;
};

GroupCommits ReadGroupCommits(const Service& service) {
  GroupCommits out;
  const std::string metrics =
      smartby::testing::HttpGet(service.process->metrics_port(), "/metrics").body;
  out.count = smartby::testing::MetricValue(metrics, "smartby_audit_batch_entries_count");
  out.entries = smartby::testing::MetricValue(metrics, "smartby_audit_batch_entries_sum");
  out.seconds = smartby::testing::MetricValue(metrics, "smartby_audit_commit_seconds_sum");
  return out;
}

void PrintGroupCommits(const GroupCommits& before, const GroupCommits& after, double seconds) {
  const double commits = after.count - before.count;
  if (commits <= 0) return;
  std::printf("   group commits: %.0f/s, %.1f entries each, %.2f ms each (%.0f %% of the time "
              "committing)\n",
              commits / seconds, (after.entries - before.entries) / commits,
              1e3 * (after.seconds - before.seconds) / commits,
              100 * (after.seconds - before.seconds) / seconds);
}

// Builds a log of `n` entries directly through the store, as the sequencer would write it.
void BuildLargeLog(const std::string& path, int64_t n) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  auto db = smartby::storage::OpenDatabase(absl::StrCat("sqlite://", path));
  if (!db.ok()) std::exit(1);
  std::shared_ptr<smartby::storage::Database> shared(std::move(*db));
  auto store = smartby::audit::AuditStore::Open(shared);
  if (!store.ok()) std::exit(1);
  smartby::merkle::CompactRange range;
  constexpr int64_t kChunk = 50000;
  const auto start = Steady::now();
  for (int64_t i = 0; i < n; i += kChunk) {
    std::vector<smartby::audit::EntryRow> rows;
    std::vector<smartby::audit::NodeRow> nodes;
    const int64_t end = std::min(n, i + kChunk);
    rows.reserve(end - i);
    nodes.reserve(2 * (end - i));
    for (int64_t j = i; j < end; ++j) {
      rows.push_back(smartby::audit::MakeEntryRow(Event(j + 1), j, 1700000000000000 + j));
      for (const auto& node : range.Append(smartby::merkle::LeafHash(rows.back().entry_bytes))) {
        nodes.push_back({node.level, node.index, node.hash});
      }
    }
    absl::Status s = (*store)->BulkInsert(rows, nodes, i, end, 1700000000000000 + end - 1);
    if (!s.ok()) {
      std::fprintf(stderr, "bulk insert failed: %s\n", std::string(s.message()).c_str());
      std::exit(1);
    }
    if ((end / kChunk) % 20 == 0) {
      std::fprintf(stderr, "  built %lld entries (%.0f s)\n", static_cast<long long>(end),
                   std::chrono::duration<double>(Steady::now() - start).count());
    }
  }
  std::printf("  built a log of %lld entries in %.0f s\n", static_cast<long long>(n),
              std::chrono::duration<double>(Steady::now() - start).count());
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t proof_entries = argc > 1 ? std::atoll(argv[1]) : 10000000;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 5;
  const std::string dir = BenchDir();
  TestTokenIssuer issuer(dir);
  TokenSpec writer_spec;
  writer_spec.subject = "service:catalogue";
  writer_spec.client_id = "catalogue";
  writer_spec.roles = {"audit-writer"};
  writer_spec.lifetime = absl::Hours(2);
  const std::string writer = issuer.Token(writer_spec);
  TokenSpec auditor_spec;
  auditor_spec.subject = "user:revisor";
  auditor_spec.roles = {"auditor"};
  auditor_spec.lifetime = absl::Hours(2);
  const std::string auditor = issuer.Token(auditor_spec);

  std::printf("audit_bench (data in %s)\n", dir.c_str());
  const double raw = RawSqliteInsertsPerSecond(dir + "/raw.db", 200000);
  std::printf("1. raw batched SQLite inserts (512/tx):      %9.0f rows/s\n", raw);

  std::atomic<int64_t> sequence{1};
  {
    Service service = StartService(dir + "/appends.db", issuer);
    const double batch = AppendsPerSecond(service, writer, 4, 500, seconds, sequence);
    std::printf("2. Append, 500 events/call, 4 callers:       %9.0f appends/s  (%.2fx raw; "
                "target >= 20,000/s)\n",
                batch, batch / raw);
    const GroupCommits before_unary = ReadGroupCommits(service);
    const double unary = AppendsPerSecond(service, writer, 64, 1, seconds, sequence);
    std::printf("3. Append, 1 event/call, 64 callers:         %9.0f appends/s  (%.2fx raw; "
                "target >= 5,000/s)\n",
                unary, unary / raw);
    PrintGroupCommits(before_unary, ReadGroupCommits(service), seconds);
    auto latencies = SteadyLatencies(service, writer, 1000, 10, sequence);
    std::printf("4. steady 1,000 appends/s for 10 s:          p50 %.2f ms, p99 %.2f ms, max "
                "%.2f ms  (target p99 <= 25 ms)\n",
                Percentile(latencies, 0.5), Percentile(latencies, 0.99),
                Percentile(latencies, 1.0));
  }

  if (proof_entries > 0) {
    const std::string path = dir + "/large.db";
    BuildLargeLog(path, proof_entries);
    const auto started = Steady::now();
    Service service = StartService(path, issuer);
    std::printf("  service start-up on it (recovery checks): %.1f s\n",
                std::chrono::duration<double>(Steady::now() - started).count());
    auto stub = v1::AuditService::NewStub(service.channel);
    std::mt19937_64 random(42);
    std::vector<double> latencies;
    for (int i = 0; i < 3000; ++i) {
      v1::GetInclusionProofRequest request;
      request.set_index(static_cast<int64_t>(random() % static_cast<uint64_t>(proof_entries)));
      v1::InclusionProof proof;
      const auto t0 = Steady::now();
      grpc::Status s = stub->GetInclusionProof(Ctx(auditor).get(), request, &proof);
      const double ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
      if (!s.ok()) {
        std::fprintf(stderr, "proof failed: %s\n", s.error_message().c_str());
        continue;
      }
      if (i >= 200) latencies.push_back(ms);  // after a warm-up
    }
    std::printf("5. GetInclusionProof on %lld entries:  p50 %.2f ms, p99 %.2f ms  (target p99 "
                "<= 10 ms at 10,000,000)\n",
                static_cast<long long>(proof_entries), Percentile(latencies, 0.5),
                Percentile(latencies, 0.99));
  }
  if (std::getenv("SMARTBY_BENCH_DIR") == nullptr) std::filesystem::remove_all(dir);
  return 0;
}
