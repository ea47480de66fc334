// Search index benchmark, run by hand (see bench/README.md). In one process and one run:
//   - builds the in-memory SearchIndex over N generated datasets (build time, memory), and loads
//     the same datasets into a SQLite CatalogueStore (the baseline);
//   - runs the same queries against both, one at a time, by kind: the catalogue_bench kinds plus
//     a word found in every dataset and empty queries with filters; p50/p99 per kind, and the
//     ratio SQLite / index;
//   - also times the index search followed by loading the page's documents from the store
//     (what the wired-in Search will do).
// Every search returns exact totals and facets over all matches, on both sides; the bench checks
// that both sides agree on the totals.
//
// Usage: build/bench/search_index_bench [datasets=50000] [index_queries_per_kind=2000]
//        [sqlite_queries_per_kind=200]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <time.h>
#include <unistd.h>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/catalogue/search_index.h"
#include "services/catalogue/store.h"
#include "services/catalogue/visibility.h"
#include "services/runtime/storage/database.h"

namespace {

namespace v1 = ::smartcity::catalogue::v1;
using smartby::catalogue::CatalogueStore;
using smartby::catalogue::DatasetVisibility;
using smartby::catalogue::SearchIndex;
using smartby::catalogue::SearchQuery;
using Clock = std::chrono::steady_clock;

// The generator of catalogue_bench.cc, copied so that both benches search the same corpus.
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
  // Published (catalogue_bench's are drafts), so that the reader visibility below sees them.
  d.set_state(v1::DATASET_STATE_PUBLISHED);
  d.set_version(1);
  return d;
}

struct Kind {
  const char* name;
  std::function<SearchQuery(int)> make;
};

std::vector<Kind> Kinds() {
  auto base = [](std::string text) {
    SearchQuery q;
    q.text = std::move(text);
    q.limit = 20;
    q.filter.visibility = DatasetVisibility::Unrestricted();
    return q;
  };
  // The catalogue_bench kinds, with its choice of words per query number.
  return {
      {"subject + place", [=](int i) {
         return base(absl::StrCat(kSubjects[i % 15], " ", kPlaces[(i * 7) % 20]));
       }},
      {"place + aspect", [=](int i) {
         return base(absl::StrCat(kPlaces[(i * 7) % 20], " ", kAspects[(i * 3) % 10]));
       }},
      {"subject + place + aspect", [=](int i) {
         return base(absl::StrCat(kSubjects[i % 15], " ", kPlaces[(i * 7) % 20], " ",
                                  kAspects[(i * 3) % 10]));
       }},
      {"5-letter prefix (1 in 15)", [=](int i) {
         return base(std::string(kSubjects[i % 15]).substr(0, 5));
       }},
      {"word in every dataset", [=](int i) {
         // "datasett", "kommunens", "fagsystemer" are in every description; vary the page.
         const char* words[] = {"datasett", "kommunens", "fagsystemer"};
         SearchQuery q = base(words[i % 3]);
         q.offset = (i % 5) * 20;
         return q;
       }},
      {"every word, reader visibility", [=](int i) {
         SearchQuery q = base("datasett");
         q.filter.visibility = DatasetVisibility();
         q.filter.visibility.max_class = smartcity::common::v1::CLASSIFICATION_INTERNAL;
         q.filter.visibility.published_datasets = true;
         return q;
       }},
      {"empty query, owner filter", [=](int i) {
         SearchQuery q = base("");
         q.filter.owner_organization = absl::StrCat(kPlaces[i % 20], " kommune");
         return q;
       }},
      {"empty query, theme filter", [=](int i) {
         SearchQuery q = base("");
         q.filter.theme = kThemes[i % 7];
         return q;
       }},
  };
}

// This thread's CPU time in ms: a search's own cost, without the time the scheduler gave other
// processes (the development machine is shared, so wall-clock p99 includes preemption).
double CpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};

Percentiles Of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)], v.back()};
}

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> value;
      return value;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 50000;
  const int index_queries = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int sqlite_queries = argc > 3 ? std::atoi(argv[3]) : 200;

  std::vector<v1::Dataset> datasets;
  datasets.reserve(n);
  for (int i = 0; i < n; ++i) datasets.push_back(Generated(i));

  // The index.
  SearchIndex index;
  const long rss_before = RssKiB();
  const auto b0 = Clock::now();
  index.Rebuild(datasets);
  const auto b1 = Clock::now();
  const long rss_after = RssKiB();
  const smartby::catalogue::SearchIndexStats stats = index.Stats();
  std::printf("index over %d datasets: Rebuild %.0f ms (%.1f us per dataset)\n", n, Ms(b0, b1),
              Ms(b0, b1) * 1000 / n);
  std::printf("  %zu words, %zu postings, %zu tokens; ~%.1f MB by Stats() (%.0f bytes per "
              "dataset), RSS grew %.1f MB\n",
              stats.words, stats.postings, stats.tokens, stats.approximate_bytes / 1e6,
              static_cast<double>(stats.approximate_bytes) / n, (rss_after - rss_before) / 1024.0);
  {
    // Upserts into the full index: a new dataset, then a changed one.
    std::vector<double> t;
    for (int i = 0; i < 500; ++i) {
      v1::Dataset d = Generated(n + i);
      const auto u0 = Clock::now();
      index.Upsert(d);
      t.push_back(Ms(u0, Clock::now()));
    }
    for (int i = 0; i < 500; ++i) {
      v1::Dataset d = Generated(i * 7);
      d.set_title(absl::StrCat(d.title(), " endret"));
      d.set_version(2);
      const auto u0 = Clock::now();
      index.Upsert(d);
      t.push_back(Ms(u0, Clock::now()));
    }
    const Percentiles p = Of(t);
    std::printf("  Upsert into the full index: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", p.p50,
                p.p99, p.max);
    for (int i = 0; i < 500; ++i) index.Remove(absl::StrCat("bench-", n + i));
    // Restore the original text (versions only move forward, so as version 3).
    for (int i = 0; i < 500; ++i) {
      v1::Dataset d = Generated(i * 7);
      d.set_version(3);
      index.Upsert(d);
    }
  }

  // The SQLite store, the baseline.
  const std::string dir =
      std::getenv("SMARTBY_BENCH_DIR") ? std::getenv("SMARTBY_BENCH_DIR")
                                       : absl::StrCat("/tmp/search_index_bench_", getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/catalogue.db";
  std::filesystem::remove(path);
  auto db = smartby::storage::OpenDatabase("sqlite://" + path);
  if (!db.ok()) {
    std::fprintf(stderr, "open %s: %s\n", path.c_str(), db.status().ToString().c_str());
    return 1;
  }
  auto opened = smartby::catalogue::OpenSqlCatalogueStore(std::shared_ptr(std::move(*db)));
  if (!opened.ok()) {
    std::fprintf(stderr, "store: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<CatalogueStore> store = std::move(*opened);
  const auto l0 = Clock::now();
  for (int start = 0; start < n; start += 1000) {
    absl::Status s = store->InTransaction([&](CatalogueStore::Tx& tx) -> absl::Status {
      for (int i = start; i < std::min(n, start + 1000); ++i) {
        absl::Status inserted = tx.Insert(datasets[i]);
        if (!inserted.ok()) return inserted;
      }
      return absl::OkStatus();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "load: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("SQLite store loaded in %.1f s (%s)\n\n", Ms(l0, Clock::now()) / 1000, path.c_str());
  datasets.clear();

  std::printf("%-30s %6s | %17s | %11s | %17s | %17s | %9s\n", "kind of query (ms)", "hits",
              "index p50/p99", "index cpu99", "index+page p50/99", "SQLite p50/p99",
              "p99 ratio");
  bool all_met = true;
  for (const Kind& kind : Kinds()) {
    std::vector<double> idx, idx_cpu, idx_page, sql;
    long total = 0;
    int mismatches = 0;
    // Warm up both.
    for (int i = 0; i < 20; ++i) {
      (void)index.Search(kind.make(i));
      if (i < 3) (void)store->Search(kind.make(i));
    }
    for (int i = 0; i < index_queries; ++i) {
      const SearchQuery q = kind.make(i);
      const double c0 = CpuMs();
      const auto t0 = Clock::now();
      absl::StatusOr<smartby::catalogue::SearchIndexResult> r = index.Search(q);
      const auto t1 = Clock::now();
      idx_cpu.push_back(CpuMs() - c0);
      if (!r.ok()) {
        std::fprintf(stderr, "index: %s\n", r.status().ToString().c_str());
        return 1;
      }
      idx.push_back(Ms(t0, t1));
      total += r->total_size;
      if (i % 10 == 0) {  // the index, then the page's documents from the store
        const auto p0 = Clock::now();
        absl::StatusOr<smartby::catalogue::SearchIndexResult> again = index.Search(q);
        for (const auto& hit : again->hits) {
          if (!store->Get(hit.name).ok()) ++mismatches;
        }
        idx_page.push_back(Ms(p0, Clock::now()));
      }
    }
    const int sqlite_n =
        std::string(kind.name).find("every") != std::string::npos ? std::max(1, sqlite_queries / 4)
                                                                  : sqlite_queries;
    for (int i = 0; i < sqlite_n; ++i) {
      const SearchQuery q = kind.make(i);
      const auto t0 = Clock::now();
      absl::StatusOr<smartby::catalogue::SearchResult> r = store->Search(q);
      const auto t1 = Clock::now();
      if (!r.ok()) {
        std::fprintf(stderr, "sqlite: %s\n", r.status().ToString().c_str());
        return 1;
      }
      sql.push_back(Ms(t0, t1));
      absl::StatusOr<smartby::catalogue::SearchIndexResult> same = index.Search(q);
      if (same->total_size != r->total_size) ++mismatches;
    }
    const Percentiles pi = Of(idx), pc = Of(idx_cpu), pp = Of(idx_page), ps = Of(sql);
    all_met = all_met && pp.p99 <= 5.0;
    std::printf("%-30s %6.0f | %7.3f / %7.3f | %11.3f | %7.3f / %7.3f | %7.2f / %7.2f | %8.0fx%s\n",
                kind.name, static_cast<double>(total) / index_queries, pi.p50, pi.p99, pc.p99,
                pp.p50, pp.p99, ps.p50, ps.p99, ps.p99 / pi.p99,
                mismatches ? "  TOTALS DIFFER" : "");
  }
  std::printf("\ntarget p99 <= 5 ms (index + page load): %s\n", all_met ? "met" : "NOT met");
  if (!std::getenv("SMARTBY_BENCH_DIR")) std::filesystem::remove_all(dir);
  return 0;
}
