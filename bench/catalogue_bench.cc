// Catalogue benchmark, run by hand (see bench/README.md). Everything is measured in one run on
// one machine and reported as ratios against baselines from the same run:
//
//   1. Get throughput over gRPC vs. the runtime's echo server (target >= 0.5x).
//   2. Create throughput and peak RSS of the service while loading N datasets.
//   3. Search latency (p50/p99) over those N datasets (target p99 <= 5 ms), on SQLite and, when
//      SMARTBY_TEST_POSTGRES_URL is set (scripts/with-postgres.sh sets it), on PostgreSQL, by kind
//      of query: selective ones, a prefix, words found in every dataset, and filters alone.
//      Search is answered from the service's in-memory index (services/catalogue/search_index.h)
//      and the page's documents from the database.
//   4. A second replica over the same database: its start-up (loading the index of N datasets),
//      its memory, how long a write on the first replica takes to show in its search (bounded
//      by --search_refresh_interval, 2 s), and what one reconcile with the database costs.
//
// The catalogue enforces authorisation: it trusts a test token issuer (--auth_jwks=file:...).
// The datasets are created as their organisation's dataset-owner and published, so that Get and
// Search measure the public read path: token-less callers reading published Åpen data, whose
// visibility the store applies in SQL. A second Get figure sends a reader's token, to show what
// verifying a token costs per call.
//
// Usage: build/bench/catalogue_bench [datasets=50000] [seconds=5] [client_threads=8]
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "echo.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace {

namespace v1 = ::smartcity::catalogue::v1;
using smartby::testing::BinaryPath;
using smartby::testing::ServiceProcess;
using smartby::testing::TestTokenIssuer;
using smartby::testing::TokenSpec;
using Clock = std::chrono::steady_clock;

// A token spec with just these claims (the rest as TokenSpec's defaults).
TokenSpec Spec(const std::string& subject, std::vector<std::string> roles,
               const std::string& clearance, bool tfa) {
  TokenSpec spec;
  spec.subject = subject;
  spec.roles = std::move(roles);
  spec.clearance = clearance;
  spec.tfa = tfa;
  return spec;
}

const char* kSubjects[] = {"temperatur", "parkering", "avfall",    "sykkel",   "energi",
                           "vannstand",  "luftkvalitet", "støy",   "trafikk",  "bibliotek",
                           "rotter",     "overvann",  "snørydding", "badeplass", "strøm"};
const char* kPlaces[] = {"Stavanger", "Tromsø",  "Oslo",     "Bergen",   "Sandnes", "Bodø",
                         "Ålesund",   "Drammen", "Kristiansand", "Hamar", "Molde",  "Harstad",
                         "Alta",      "Narvik",  "Lillehammer", "Moss",  "Halden",  "Larvik",
                         "Arendal",   "Haugesund"};
const char* kAspects[] = {"målinger", "historikk", "sanntid", "årsrapport", "sensorer",
                          "kart",     "statistikk", "prognose", "avvik",    "kapasitet"};
const v1::Theme kThemes[] = {v1::THEME_ENVI, v1::THEME_TRAN, v1::THEME_ENER, v1::THEME_REGI,
                             v1::THEME_SOCI, v1::THEME_HEAL, v1::THEME_EDUC};

v1::Dataset Generated(int i) {
  const char* subject = kSubjects[i % 15];
  const char* place = kPlaces[(i / 15) % 20];
  const char* aspect = kAspects[(i / 300) % 10];
  v1::Dataset d;
  d.set_name(absl::StrCat("bench-", i));
  d.set_title(absl::StrCat(subject, " ", place, " ", aspect, " ", i));
  d.set_description(absl::StrCat("Datasett nummer ", i, " om ", subject, " i ", place,
                                 ", med ", aspect, " fra kommunens sensorer og fagsystemer."));
  d.mutable_owner()->set_organization(absl::StrCat(place, " kommune"));
  d.set_license("NLOD-2.0");
  d.set_classification(smartcity::common::v1::CLASSIFICATION_OPEN);
  d.add_themes(kThemes[i % 7]);
  d.add_keywords(subject);
  d.add_keywords(place);
  auto* field = d.add_fields();
  field->set_name("value");
  field->set_type(v1::FIELD_TYPE_DOUBLE);
  field->set_unit("count");
  field->set_description(absl::StrCat(aspect, " for ", subject));
  auto* resource = d.add_resources();
  resource->set_title("CSV");
  resource->set_format(i % 3 == 0 ? "CSV" : (i % 3 == 1 ? "JSON" : "GEOJSON"));
  resource->set_access_url(absl::StrCat("https://data.example.no/", i, ".csv"));
  return d;
}

// Runs `call` from `threads` threads for `seconds`; returns calls per second.
template <typename Call>
double Throughput(int threads, double seconds, Call call) {
  std::atomic<bool> stop{false};
  std::atomic<long> done{0}, failed{0};
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (call(t, n++)) done.fetch_add(1, std::memory_order_relaxed);
        else failed.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed > 0) std::fprintf(stderr, "  (%ld calls failed)\n", failed.load());
  return done / elapsed;
}

long PeakRssKiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmHWM:") { in >> value; return value; }
  }
  return 0;
}

// A fresh PostgreSQL database on the server named by SMARTBY_TEST_POSTGRES_URL, or "".
std::string NewPostgresDatabase() {
  const char* admin_url = std::getenv("SMARTBY_TEST_POSTGRES_URL");
  if (admin_url == nullptr) return "";
  PGconn* conn = PQconnectdb(admin_url);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "cannot connect to %s\n", admin_url);
    PQfinish(conn);
    return "";
  }
  const std::string name = absl::StrCat("bench_", std::random_device{}() % 1000000);
  PQclear(PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str()));
  PQfinish(conn);
  std::string url = admin_url;
  return url.substr(0, url.rfind('/') + 1) + name;
}

// Tokens that outlive a long load (TokenSpec's default is five minutes).
std::string LongLivedToken(const TestTokenIssuer& issuer, TokenSpec spec) {
  spec.lifetime = absl::Hours(12);
  return issuer.Token(spec);
}

void AddToken(grpc::ClientContext& ctx, const std::string& token) {
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
}

struct EngineFigures {
  std::string engine;
  double create_per_second = 0;
  double publish_per_second = 0;
  long peak_rss_kib = 0;
  double get_per_second = 0;         // anonymous
  double get_reader_per_second = 0;  // with a reader's token
  double search_p50_ms = 0, search_p99_ms = 0, search_max_ms = 0;
  double search_mean_hits = 0;
  // Per kind of query: {name, p50, p99, mean hits}.
  std::vector<std::tuple<std::string, double, double, double>> search_by_kind;
  // The second replica.
  double replica_start_s = 0;      // process start to serving
  double replica_load_ms = 0;      // of which loading the index (its log)
  long replica_rss_kib = 0;        // peak RSS after the load
  double replica_lag_max_ms = 0;   // write on the first, visible in the second's search
  double replica_lag_mean_ms = 0;
  double reconcile_p50_ms = 0, reconcile_max_ms = 0;  // one refresh, nothing or little changed
};

// The kinds of query, one request (and token) per query number. Tokens: "" anonymous, "r" a
// reader's.
struct QueryKind {
  const char* name;
  const char* token;
  std::function<v1::SearchDatasetsRequest(int)> make;
};

std::vector<QueryKind> QueryKinds() {
  auto text = [](std::string q) {
    v1::SearchDatasetsRequest r;
    r.set_query(std::move(q));
    return r;
  };
  return {
      {"subject+place", "", [=](int i) {
         return text(absl::StrCat(kSubjects[i % 15], " ", kPlaces[(i * 7) % 20]));
       }},
      {"place+aspect", "", [=](int i) {
         return text(absl::StrCat(kPlaces[(i * 7) % 20], " ", kAspects[(i * 3) % 10]));
       }},
      {"subject+place+aspect", "", [=](int i) {
         return text(absl::StrCat(kSubjects[i % 15], " ", kPlaces[(i * 7) % 20], " ",
                                  kAspects[(i * 3) % 10]));
       }},
      {"5-letter prefix", "", [=](int i) {
         return text(std::string(kSubjects[i % 15]).substr(0, 5));
       }},
      // "datasett", "kommunens" and "fagsystemer" are in every description.
      {"word in every dataset", "", [=](int i) {
         const char* words[] = {"datasett", "kommunens", "fagsystemer"};
         return text(words[i % 3]);
       }},
      {"every-word, reader", "r", [=](int) { return text("datasett"); }},
      {"no words, owner filter", "", [=](int i) {
         v1::SearchDatasetsRequest r;
         r.set_owner_organization(absl::StrCat(kPlaces[i % 20], " kommune"));
         return r;
       }},
      {"no words, theme filter", "", [=](int i) {
         v1::SearchDatasetsRequest r;
         r.set_theme(kThemes[i % 7]);
         return r;
       }},
  };
}

constexpr int kQueriesPerKind = 500;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(v.size() * p))];
}

// The number after "key": in a JSON log line, or -1.
double JsonNumber(const std::string& line, const std::string& key) {
  const size_t at = line.find(absl::StrCat("\"", key, "\":"));
  if (at == std::string::npos) return -1;
  return std::atof(line.c_str() + at + key.size() + 3);
}

EngineFigures RunEngine(const std::string& engine, const std::string& database_url, int datasets,
                        double seconds, int threads, const TestTokenIssuer& issuer) {
  EngineFigures f;
  f.engine = engine;
  // Each process its own audit outbox (events stay there: no audit service runs here).
  static smartby::testing::TempDir outboxes;
  static int outbox_count = 0;
  auto outbox = [&] {
    return absl::StrCat("--audit_outbox=", outboxes.path(), "/outbox-", ++outbox_count, ".db");
  };
  auto process = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--database=" + database_url,
       issuer.ServiceFlag(), outbox(), "--audit_outbox_max=10000000"});
  if (!process.ok()) {
    std::fprintf(stderr, "%s\n", std::string(process.status().message()).c_str());
    std::exit(1);
  }
  auto channel =
      grpc::CreateChannel((*process)->grpc_address(), grpc::InsecureChannelCredentials());
  auto stub = v1::CatalogueService::NewStub(channel);

  // Each organisation's datasets are created and published by its own dataset-owner, as in
  // production (one token per organisation, verified once per call like any other).
  std::vector<std::string> owner_tokens;
  for (const char* place : kPlaces) {
    owner_tokens.push_back(LongLivedToken(
        issuer, Spec(absl::StrCat("user:owner-", place),
                     {absl::StrCat("dataset-owner:", place, " kommune")}, "internal", true)));
  }
  auto owner_token = [&](int i) -> const std::string& { return owner_tokens[(i / 15) % 20]; };
  const std::string reader_token =
      LongLivedToken(issuer, Spec("user:bench-reader", {"reader"}, "internal", false));

  // Runs `call(i)` for every dataset from the client threads; returns calls per second.
  auto for_every_dataset = [&](const std::function<void(int)>& call) {
    std::atomic<int> next{0};
    const auto start = Clock::now();
    std::vector<std::thread> loaders;
    for (int t = 0; t < threads; ++t) {
      loaders.emplace_back([&] {
        for (int i = next++; i < datasets; i = next++) call(i);
      });
    }
    for (auto& l : loaders) l.join();
    return datasets / std::chrono::duration<double>(Clock::now() - start).count();
  };
  f.create_per_second = for_every_dataset([&](int i) {
    grpc::ClientContext ctx;
    AddToken(ctx, owner_token(i));
    v1::CreateDatasetRequest request;
    *request.mutable_dataset() = Generated(i);
    v1::Dataset out;
    grpc::Status s = stub->CreateDataset(&ctx, request, &out);
    if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      std::fprintf(stderr, "create %d: %s\n", i, s.error_message().c_str());
    }
  });
  f.peak_rss_kib = PeakRssKiB((*process)->pid());
  f.publish_per_second = for_every_dataset([&](int i) {
    grpc::ClientContext ctx;
    AddToken(ctx, owner_token(i));
    v1::PublishDatasetRequest request;
    request.set_name(absl::StrCat("bench-", i));
    v1::Dataset out;
    grpc::Status s = stub->PublishDataset(&ctx, request, &out);
    if (!s.ok() && s.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
      std::fprintf(stderr, "publish %d: %s\n", i, s.error_message().c_str());
    }
  });

  // The public read path: no token, published Åpen data.
  f.get_per_second = Throughput(threads, seconds, [&](int t, long n) {
    grpc::ClientContext ctx;
    v1::GetDatasetRequest request;
    request.set_name(absl::StrCat("bench-", (t * 7919 + n * 104729) % datasets));
    v1::Dataset out;
    return stub->GetDataset(&ctx, request, &out).ok();
  });
  f.get_reader_per_second = Throughput(threads, seconds, [&](int t, long n) {
    grpc::ClientContext ctx;
    AddToken(ctx, reader_token);
    v1::GetDatasetRequest request;
    request.set_name(absl::StrCat("bench-", (t * 7919 + n * 104729) % datasets));
    v1::Dataset out;
    return stub->GetDataset(&ctx, request, &out).ok();
  });

  // Queries as people type them, and the broad ones: a word every dataset has, filters alone.
  // Latency is measured one call at a time, the kinds interleaved; published Åpen data, so
  // anonymous callers and readers see all of it.
  const std::vector<QueryKind> kinds = QueryKinds();
  std::vector<double> latencies;
  std::vector<std::vector<double>> by_kind(kinds.size());
  std::vector<long> hits_by_kind(kinds.size(), 0);
  long hits = 0;
  for (int n = 0; n < kQueriesPerKind * static_cast<int>(kinds.size()); ++n) {
    const size_t k = static_cast<size_t>(n) % kinds.size();
    const v1::SearchDatasetsRequest request = kinds[k].make(n / static_cast<int>(kinds.size()));
    grpc::ClientContext ctx;
    if (kinds[k].token[0] == 'r') AddToken(ctx, reader_token);
    v1::SearchDatasetsResponse response;
    const auto t0 = Clock::now();
    grpc::Status s = stub->SearchDatasets(&ctx, request, &response);
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    by_kind[k].push_back(latencies.back());
    if (!s.ok()) {
      std::fprintf(stderr, "search %s: %s\n", request.query().c_str(), s.error_message().c_str());
    }
    hits += response.total_size();
    hits_by_kind[k] += response.total_size();
  }
  for (size_t k = 0; k < kinds.size(); ++k) {
    f.search_by_kind.emplace_back(kinds[k].name, Percentile(by_kind[k], 0.5),
                                  Percentile(by_kind[k], 0.99),
                                  static_cast<double>(hits_by_kind[k]) / by_kind[k].size());
  }
  f.search_p50_ms = Percentile(latencies, 0.5);
  f.search_p99_ms = Percentile(latencies, 0.99);
  f.search_max_ms = *std::max_element(latencies.begin(), latencies.end());
  f.search_mean_hits = static_cast<double>(hits) / latencies.size();

  // A second replica over the same database.
  const auto replica_start = Clock::now();
  auto replica = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--database=" + database_url,
       issuer.ServiceFlag(), "--log_level=debug", outbox(), "--audit_outbox_max=10000000"},
      {}, absl::Minutes(5));
  if (!replica.ok()) {
    std::fprintf(stderr, "%s\n", std::string(replica.status().message()).c_str());
    std::exit(1);
  }
  f.replica_start_s = std::chrono::duration<double>(Clock::now() - replica_start).count();
  f.replica_load_ms =
      JsonNumber((*replica)->WaitForLogLine({"search index loaded"}), "duration_ms");
  f.replica_rss_kib = PeakRssKiB((*replica)->pid());
  auto replica_stub = v1::CatalogueService::NewStub(
      grpc::CreateChannel((*replica)->grpc_address(), grpc::InsecureChannelCredentials()));
  // Created on the first replica by its owner (a draft, which the owner can search for), then
  // searched for on the second until it shows.
  constexpr int kLagSamples = 5;
  double lag_sum = 0;
  for (int k = 0; k < kLagSamples; ++k) {
    const int i = datasets + k;
    const std::string word = absl::StrCat("replikaprøve", k);
    // Writes at different points of the refresh cycle, not just after a refresh.
    std::this_thread::sleep_for(std::chrono::milliseconds(k * 397 % 1000));
    {
      grpc::ClientContext ctx;
      AddToken(ctx, owner_token(i));
      v1::CreateDatasetRequest request;
      *request.mutable_dataset() = Generated(i);
      request.mutable_dataset()->set_name(absl::StrCat("bench-lag-", k));
      request.mutable_dataset()->set_title(absl::StrCat("Replikering ", word));
      v1::Dataset out;
      grpc::Status s = stub->CreateDataset(&ctx, request, &out);
      if (!s.ok()) std::fprintf(stderr, "lag create %d: %s\n", k, s.error_message().c_str());
    }
    const auto written = Clock::now();
    for (;;) {
      grpc::ClientContext ctx;
      AddToken(ctx, owner_token(i));
      v1::SearchDatasetsRequest request;
      request.set_query(word);
      v1::SearchDatasetsResponse response;
      grpc::Status s = replica_stub->SearchDatasets(&ctx, request, &response);
      if (s.ok() && response.total_size() == 1) break;
      if (std::chrono::duration<double>(Clock::now() - written).count() > 60) {
        std::fprintf(stderr, "lag %d: not visible on the second replica after 60 s\n", k);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const double lag = std::chrono::duration<double, std::milli>(Clock::now() - written).count();
    lag_sum += lag;
    f.replica_lag_max_ms = std::max(f.replica_lag_max_ms, lag);
  }
  f.replica_lag_mean_ms = lag_sum / kLagSamples;
  std::vector<double> reconciles;
  for (const std::string& line : (*replica)->LogLines()) {
    if (line.find("search index refreshed") == std::string::npos) continue;
    if (double ms = JsonNumber(line, "duration_ms"); ms >= 0) reconciles.push_back(ms);
  }
  f.reconcile_p50_ms = Percentile(reconciles, 0.5);
  f.reconcile_max_ms = reconciles.empty() ? 0 : *std::max_element(reconciles.begin(),
                                                                   reconciles.end());
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  // The service binaries of this bench's own build (<build>/bench/catalogue_bench), unless
  // SMARTBY_BUILD_DIR says otherwise: a bench from one build dir must not start another's.
  if (std::getenv("SMARTBY_BUILD_DIR") == nullptr) {
    std::string self = argv[0];
    const size_t slash = self.rfind('/');
    self = slash == std::string::npos ? "." : self.substr(0, slash);
    setenv("SMARTBY_BUILD_DIR", absl::StrCat(self, "/..").c_str(), 0);
  }
  const int datasets = argc > 1 ? std::atoi(argv[1]) : 50000;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 5;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 8;
  std::printf("catalogue benchmark: %d datasets, %.0f s per throughput run, %d client threads, "
              "%u cores\n\n", datasets, seconds, threads, std::thread::hardware_concurrency());

  double echo_per_second = 0;
  {
    auto echo = ServiceProcess::Start(BinaryPath("smartby-echo"),
                                      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"});
    if (!echo.ok()) {
      std::fprintf(stderr, "%s\n", std::string(echo.status().message()).c_str());
      return 1;
    }
    auto stub = smartby::bench::v1::EchoService::NewStub(
        grpc::CreateChannel((*echo)->grpc_address(), grpc::InsecureChannelCredentials()));
    echo_per_second = Throughput(threads, seconds, [&](int, long) {
      grpc::ClientContext ctx;
      smartby::bench::v1::EchoRequest request;
      request.set_message("badetemperatur");
      smartby::bench::v1::EchoResponse response;
      return stub->Echo(&ctx, request, &response).ok();
    });
  }
  std::printf("baseline: runtime echo server  %10.0f calls/s\n\n", echo_per_second);

  // SMARTBY_BENCH_DIR keeps the SQLite database for a closer look afterwards.
  smartby::testing::TempDir temp;
  const char* keep = std::getenv("SMARTBY_BENCH_DIR");
  const std::string dir = keep != nullptr ? keep : temp.path();
  const TestTokenIssuer issuer(temp.path());
  std::vector<EngineFigures> figures;
  figures.push_back(RunEngine("sqlite", absl::StrCat("sqlite://", dir, "/bench.db"), datasets,
                              seconds, threads, issuer));
  if (const std::string pg = NewPostgresDatabase(); !pg.empty()) {
    figures.push_back(RunEngine("postgres", pg, datasets, seconds, threads, issuer));
  } else {
    std::printf("(PostgreSQL skipped: run under scripts/with-postgres.sh to include it)\n\n");
  }

  std::printf("%-9s %10s %10s %9s %12s %10s %9s %9s %9s %10s\n", "engine", "create/s",
              "publish/s", "peakRSS", "get/s", "get/echo", "search50", "search99", "max",
              "mean hits");
  for (const auto& f : figures) {
    std::printf("%-9s %10.0f %10.0f %7.0fMB %12.0f %9.2fx %7.2fms %7.2fms %7.2fms %10.0f\n",
                f.engine.c_str(), f.create_per_second, f.publish_per_second,
                f.peak_rss_kib / 1024.0, f.get_per_second, f.get_per_second / echo_per_second,
                f.search_p50_ms, f.search_p99_ms, f.search_max_ms, f.search_mean_hits);
  }
  std::printf("\nget with a reader's token (verified on every call):\n");
  for (const auto& f : figures) {
    std::printf("  %-9s %10.0f calls/s  %5.2fx echo  %5.2fx token-less\n", f.engine.c_str(),
                f.get_reader_per_second, f.get_reader_per_second / echo_per_second,
                f.get_reader_per_second / f.get_per_second);
  }
  std::printf("\nsearch latency by kind of query:\n");
  for (const auto& f : figures) {
    for (const auto& [kind, p50, p99, mean_hits] : f.search_by_kind) {
      std::printf("  %-9s %-22s p50 %6.2fms  p99 %6.2fms  mean hits %6.0f\n", f.engine.c_str(),
                  kind.c_str(), p50, p99, mean_hits);
    }
  }
  std::printf("\nsecond replica over the same database:\n");
  for (const auto& f : figures) {
    std::printf("  %-9s start %5.1f s (index load %6.0f ms)  peak RSS %4.0f MB  write-to-search lag "
                "mean %5.0f ms max %5.0f ms  reconcile p50 %5.1f ms max %5.1f ms\n",
                f.engine.c_str(), f.replica_start_s, f.replica_load_ms,
                f.replica_rss_kib / 1024.0, f.replica_lag_mean_ms, f.replica_lag_max_ms,
                f.reconcile_p50_ms, f.reconcile_max_ms);
  }
  std::printf("\ntargets: get/echo >= 0.50x; search p99 <= 5 ms on every engine\n");
  bool met = true;
  for (const auto& f : figures) {
    met = met && f.get_per_second / echo_per_second >= 0.5 && f.search_p99_ms <= 5.0;
  }
  std::printf("%s\n", met ? "all targets met" : "TARGETS NOT MET");
  return met ? 0 : 1;
}
