// Catalogue benchmark, run by hand (see bench/README.md). Everything is measured in one run on
// one machine and reported as ratios against baselines from the same run:
//
//   1. Get throughput over gRPC vs. the runtime's echo server (target >= 0.5x).
//   2. Create throughput and peak RSS of the service while loading N datasets.
//   3. Search latency (p50/p99) over those N datasets (target p99 <= 5 ms), on SQLite and, when
//      SMARTBY_TEST_POSTGRES_URL is set (scripts/with-postgres.sh sets it), on PostgreSQL.
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
};

const char* kQueryKinds[] = {"subject+place", "place+aspect", "subject+place+aspect",
                             "5-letter prefix"};

EngineFigures RunEngine(const std::string& engine, const std::string& database_url, int datasets,
                        double seconds, int threads, const TestTokenIssuer& issuer) {
  EngineFigures f;
  f.engine = engine;
  auto process = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--database=" + database_url,
       issuer.ServiceFlag()});
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

  // Queries as people type them: a subject, a subject and a place, a place and an aspect, a
  // prefix. Latency is measured one call at a time, without a token (published Åpen data).
  std::vector<std::string> queries;
  for (int i = 0; i < 2000; ++i) {
    const char* subject = kSubjects[i % 15];
    const char* place = kPlaces[(i * 7) % 20];
    const char* aspect = kAspects[(i * 3) % 10];
    switch (i % 4) {
      case 0: queries.push_back(absl::StrCat(subject, " ", place)); break;
      case 1: queries.push_back(absl::StrCat(place, " ", aspect)); break;
      case 2: queries.push_back(absl::StrCat(subject, " ", place, " ", aspect)); break;
      default: queries.push_back(std::string(subject).substr(0, 5)); break;
    }
  }
  std::vector<double> latencies;
  std::vector<double> by_kind[4];
  long hits_by_kind[4] = {0, 0, 0, 0};
  long hits = 0;
  for (size_t qi = 0; qi < queries.size(); ++qi) {
    const std::string& q = queries[qi];
    grpc::ClientContext ctx;
    v1::SearchDatasetsRequest request;
    request.set_query(q);
    v1::SearchDatasetsResponse response;
    const auto t0 = Clock::now();
    grpc::Status s = stub->SearchDatasets(&ctx, request, &response);
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    by_kind[qi % 4].push_back(latencies.back());
    if (!s.ok()) std::fprintf(stderr, "search %s: %s\n", q.c_str(), s.error_message().c_str());
    hits += response.total_size();
    hits_by_kind[qi % 4] += response.total_size();
  }
  for (int k = 0; k < 4; ++k) {
    auto& v = by_kind[k];
    std::sort(v.begin(), v.end());
    f.search_by_kind.emplace_back(kQueryKinds[k], v[v.size() / 2], v[v.size() * 99 / 100],
                                  static_cast<double>(hits_by_kind[k]) / v.size());
  }
  std::sort(latencies.begin(), latencies.end());
  f.search_p50_ms = latencies[latencies.size() / 2];
  f.search_p99_ms = latencies[latencies.size() * 99 / 100];
  f.search_max_ms = latencies.back();
  f.search_mean_hits = static_cast<double>(hits) / queries.size();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
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
  std::printf("\ntargets: get/echo >= 0.50x; search p99 <= 5 ms on every engine\n");
  bool met = true;
  for (const auto& f : figures) {
    met = met && f.get_per_second / echo_per_second >= 0.5 && f.search_p99_ms <= 5.0;
  }
  std::printf("%s\n", met ? "all targets met" : "TARGETS NOT MET");
  return met ? 0 : 1;
}
