// How the catalogue keeps its in-memory search index in step with the database (catalogue.h):
// loaded at start-up, updated after every write it commits, and reconciled with what other
// replicas wrote by RefreshSearchIndex. Two Catalogue objects over one database stand for two
// replicas. On both engines; no sleeps: tests call RefreshSearchIndex themselves.
#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "services/catalogue/catalogue.h"
#include "services/runtime/auth/test_callers.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::catalogue {
namespace {

using ::smartcity::common::v1::CLASSIFICATION_INTERNAL;
using ::smartcity::common::v1::CLASSIFICATION_OPEN;
using auth::testing::AdminCaller;
using auth::testing::OwnerCaller;

v1::Dataset Sample(const std::string& name, const std::string& title) {
  v1::Dataset d;
  d.set_name(name);
  d.set_title(title);
  d.set_description("Målinger fra kommunens sensorer.");
  d.mutable_owner()->set_organization("Stavanger kommune");
  d.set_license("NLOD-2.0");
  d.set_classification(CLASSIFICATION_OPEN);
  d.add_themes(v1::THEME_ENVI);
  return d;
}

v1::Resource Csv() {
  v1::Resource r;
  r.set_title("Data");
  r.set_format("CSV");
  r.set_access_url("https://data.example.no/data.csv");
  return r;
}

google::protobuf::FieldMask Mask(std::initializer_list<const char*> paths) {
  google::protobuf::FieldMask mask;
  for (const char* p : paths) mask.add_paths(p);
  return mask;
}

class SearchFeedTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlCatalogueStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    a_ = std::make_unique<Catalogue>(store_.get(), &clock_, DcatCatalogueInfo{});
    b_ = std::make_unique<Catalogue>(store_.get(), &clock_, DcatCatalogueInfo{});
    ASSERT_TRUE(a_->LoadSearchIndex().ok());
    ASSERT_TRUE(b_->LoadSearchIndex().ok());
  }

  // Names of the hits (all pages) and the total, as `caller` searching `catalogue`.
  struct Found {
    std::vector<std::string> names;
    int32_t total = 0;
    std::vector<v1::Dataset> datasets;
  };
  Found Search(Catalogue& catalogue, const std::string& query,
               const auth::Caller& caller = AdminCaller(),
               v1::DatasetState state = v1::DATASET_STATE_UNSPECIFIED) {
    v1::SearchDatasetsRequest request;
    request.set_query(query);
    request.set_state(state);
    Found found;
    for (;;) {
      auto page = catalogue.Search(caller, request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return found;
      found.total = page->total_size();
      for (const auto& hit : page->hits()) {
        found.names.push_back(hit.dataset().name());
        found.datasets.push_back(hit.dataset());
      }
      if (page->next_page_token().empty()) return found;
      request.set_page_token(page->next_page_token());
    }
  }

  // The index holds exactly the store's datasets at the store's versions.
  void ExpectIndexMatchesStore(const Catalogue& catalogue) {
    auto stored = store_->Versions();
    ASSERT_TRUE(stored.ok()) << stored.status();
    std::sort(stored->begin(), stored->end(),
              [](const auto& x, const auto& y) { return x.name < y.name; });
    const std::vector<DatasetVersion> indexed = catalogue.search_index().Versions();
    ASSERT_EQ(indexed.size(), stored->size());
    for (size_t i = 0; i < indexed.size(); ++i) {
      EXPECT_EQ(indexed[i].name, (*stored)[i].name);
      EXPECT_EQ(indexed[i].version, (*stored)[i].version) << indexed[i].name;
    }
  }

  SettableClock clock_{absl::FromUnixSeconds(1790000000)};
  const auth::Caller alice_ = OwnerCaller("user:alice", "Stavanger kommune");
  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<CatalogueStore> store_;
  std::unique_ptr<Catalogue> a_, b_;
};

using Names = std::vector<std::string>;

TEST_P(SearchFeedTest, EveryWriteIsSearchableAtOnceOnTheSameCatalogue) {
  auto created = a_->Create(alice_, Sample("badevann", "Badetemperatur Sjøbadet"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(Search(*a_, "badetemp").names, Names{"badevann"});
  EXPECT_EQ(Search(*a_, "badetemp", auth::Caller()).total, 0);  // a draft

  v1::Dataset change = *created;
  change.set_title("Vanntemperatur ved Sjøbadet");
  ASSERT_TRUE(a_->Update(alice_, change, Mask({"title"})).ok());
  EXPECT_EQ(Search(*a_, "badetemp").total, 0);
  EXPECT_EQ(Search(*a_, "vanntemperatur").names, Names{"badevann"});

  ASSERT_TRUE(a_->Publish(alice_, "badevann", 0).ok());
  EXPECT_EQ(Search(*a_, "vanntemperatur", auth::Caller()).names, Names{"badevann"});

  auto resource = a_->AddResource(alice_, "badevann", Csv(), 0);
  ASSERT_TRUE(resource.ok()) << resource.status();
  v1::SearchDatasetsRequest request;
  request.set_query("vanntemperatur");
  auto found = a_->Search(AdminCaller(), request);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->format_facets_size(), 1);
  EXPECT_EQ(found->format_facets(0).value(), "CSV");
  ASSERT_EQ(found->hits_size(), 1);
  EXPECT_EQ(found->hits(0).dataset().version(), 4);

  v1::Resource json = *resource;
  json.set_format("JSON");
  ASSERT_TRUE(a_->UpdateResource(alice_, "badevann", json, Mask({"format"}), 0).ok());
  found = a_->Search(AdminCaller(), request);
  ASSERT_EQ(found->format_facets_size(), 1);
  EXPECT_EQ(found->format_facets(0).value(), "JSON");

  ASSERT_TRUE(a_->RemoveResource(alice_, "badevann", resource->id(), 0).ok());
  found = a_->Search(AdminCaller(), request);
  EXPECT_EQ(found->format_facets_size(), 0);

  ASSERT_TRUE(a_->Retire(alice_, "badevann", 0, "erstattet").ok());
  EXPECT_EQ(Search(*a_, "vanntemperatur", auth::Caller()).total, 0);
  EXPECT_EQ(Search(*a_, "vanntemperatur", AdminCaller(), v1::DATASET_STATE_RETIRED).names,
            Names{"badevann"});

  ASSERT_TRUE(a_->Create(alice_, Sample("kladd", "Kladd om vanntemperatur")).ok());
  EXPECT_EQ(Search(*a_, "kladd").names, Names{"kladd"});
  ASSERT_TRUE(a_->Delete(alice_, "kladd", 0).ok());
  EXPECT_EQ(Search(*a_, "kladd").total, 0);

  ExpectIndexMatchesStore(*a_);
  // Nothing to do for a refresh: every write was applied already.
  auto refresh = a_->RefreshSearchIndex();
  ASSERT_TRUE(refresh.ok()) << refresh.status();
  EXPECT_EQ(refresh->loaded, 0);
  EXPECT_EQ(refresh->removed, 0);
  EXPECT_EQ(refresh->datasets, 1);
}

TEST_P(SearchFeedTest, AnotherCatalogueSeesWritesAfterItsRefresh) {
  // Create.
  auto created = a_->Create(alice_, Sample("parkering", "Ledige parkeringsplasser"));
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(Search(*b_, "parkering").total, 0);
  auto refresh = b_->RefreshSearchIndex();
  ASSERT_TRUE(refresh.ok()) << refresh.status();
  EXPECT_EQ(refresh->loaded, 1);
  EXPECT_EQ(refresh->removed, 0);
  EXPECT_EQ(Search(*b_, "parkering").names, Names{"parkering"});

  // Update: until b refreshes, its index still has the old words; a hit is returned as stored
  // now (Get and the page's documents always come from the database).
  v1::Dataset change = *created;
  change.set_title("Ledige ladeplasser");
  ASSERT_TRUE(a_->Update(alice_, change, Mask({"title"})).ok());
  EXPECT_EQ(Search(*b_, "ladeplasser").total, 0);
  Found stale = Search(*b_, "parkeringsplasser");
  ASSERT_EQ(stale.names, Names{"parkering"});
  EXPECT_EQ(stale.datasets[0].title(), "Ledige ladeplasser");
  EXPECT_EQ(stale.datasets[0].version(), 2);
  refresh = b_->RefreshSearchIndex();
  ASSERT_TRUE(refresh.ok());
  EXPECT_EQ(refresh->loaded, 1);
  EXPECT_EQ(Search(*b_, "ladeplasser").names, Names{"parkering"});
  EXPECT_EQ(Search(*b_, "parkeringsplasser").total, 0);

  // Delete: a hit b's index still has is dropped from the page (its document is gone).
  ASSERT_TRUE(a_->Delete(alice_, "parkering", 0).ok());
  Found gone = Search(*b_, "ladeplasser");
  EXPECT_TRUE(gone.names.empty());
  refresh = b_->RefreshSearchIndex();
  ASSERT_TRUE(refresh.ok());
  EXPECT_EQ(refresh->removed, 1);
  EXPECT_EQ(Search(*b_, "ladeplasser").total, 0);
  ExpectIndexMatchesStore(*b_);
}

TEST_P(SearchFeedTest, ARefreshWithNoWriteSinceReadsNothing) {
  ASSERT_TRUE(a_->Create(alice_, Sample("vannstand", "Vannstand i havna")).ok());
  auto first = b_->RefreshSearchIndex();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->unchanged);
  EXPECT_EQ(first->loaded, 1);
  auto idle = b_->RefreshSearchIndex();
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(idle->unchanged) << "no write since: the generation alone answers";
  // Any write moves the generation, and the next refresh reconciles again.
  v1::Dataset change = *a_->Get(alice_, "vannstand");
  change.set_title("Vannstand og tidevann i havna");
  ASSERT_TRUE(a_->Update(alice_, change, Mask({"title"})).ok());
  auto after = b_->RefreshSearchIndex();
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->unchanged);
  EXPECT_EQ(after->loaded, 1);
  EXPECT_EQ(Search(*b_, "tidevann").names, Names{"vannstand"});
}

TEST_P(SearchFeedTest, RefreshReplacesADatasetDeletedAndCreatedAgainElsewhere) {
  auto created = a_->Create(alice_, Sample("sykkel", "Sykkeltellinger gammel"));
  ASSERT_TRUE(created.ok());
  v1::Dataset change = *created;
  change.set_description("Andre versjon.");
  ASSERT_TRUE(a_->Update(alice_, change, Mask({"description"})).ok());
  ASSERT_TRUE(b_->RefreshSearchIndex().ok());
  EXPECT_EQ(Search(*b_, "gammel").names, Names{"sykkel"});

  // Deleted and registered again: version 1, lower than b's indexed version 2.
  ASSERT_TRUE(a_->Delete(alice_, "sykkel", 0).ok());
  ASSERT_TRUE(a_->Create(alice_, Sample("sykkel", "Sykkeltellinger ny")).ok());
  auto refresh = b_->RefreshSearchIndex();
  ASSERT_TRUE(refresh.ok());
  EXPECT_EQ(refresh->loaded, 1);
  EXPECT_EQ(Search(*b_, "gammel").total, 0);
  EXPECT_EQ(Search(*b_, "ny").names, Names{"sykkel"});
  ExpectIndexMatchesStore(*b_);

  // On the catalogue that writes, the new one replaces the old at once, even when the old one
  // it holds has the higher version (deleted elsewhere, not refreshed yet).
  auto current = a_->Get(alice_, "sykkel");
  ASSERT_TRUE(current.ok());
  change = *current;
  change.set_description("Andre versjon.");
  ASSERT_TRUE(a_->Update(alice_, change, Mask({"description"})).ok());  // version 2 on a
  ASSERT_TRUE(b_->Delete(alice_, "sykkel", 0).ok());
  ASSERT_TRUE(a_->Create(alice_, Sample("sykkel", "Sykkeltellinger tredje")).ok());
  EXPECT_EQ(Search(*a_, "tredje").names, Names{"sykkel"});
  ExpectIndexMatchesStore(*a_);
}

TEST_P(SearchFeedTest, ADatasetReclassifiedElsewhereDoesNotLeakBeforeTheRefresh) {
  ASSERT_TRUE(a_->Create(alice_, Sample("stoy", "Støymålinger sentrum")).ok());
  auto published = a_->Publish(alice_, "stoy", 0);
  ASSERT_TRUE(published.ok());
  ASSERT_TRUE(b_->RefreshSearchIndex().ok());
  const auth::Caller anonymous;
  EXPECT_EQ(Search(*b_, "støymålinger", anonymous).names, Names{"stoy"});

  // Raised to Intern on a: b's index still says published Åpen, but the page is checked
  // against the stored dataset, so anonymous callers do not get it.
  v1::Dataset change = *published;
  change.set_classification(CLASSIFICATION_INTERNAL);
  change.mutable_risk_assessment()->set_reference("ROS-2026-007");
  ASSERT_TRUE(a_->Update(alice_, change, Mask({"classification", "risk_assessment"})).ok());
  Found found = Search(*b_, "støymålinger", anonymous);
  EXPECT_TRUE(found.names.empty());
  EXPECT_TRUE(Search(*a_, "støymålinger", anonymous).names.empty());  // a knows already
  ASSERT_TRUE(b_->RefreshSearchIndex().ok());
  EXPECT_EQ(Search(*b_, "støymålinger", anonymous).total, 0);
  EXPECT_EQ(Search(*b_, "støymålinger").names, Names{"stoy"});  // the admin still sees it

  // Retired on a: a search for published datasets on b leaves it out before the refresh too.
  ASSERT_TRUE(a_->Retire(alice_, "stoy", 0, "").ok());
  EXPECT_TRUE(
      Search(*b_, "støymålinger", AdminCaller(), v1::DATASET_STATE_PUBLISHED).names.empty());
}

TEST_P(SearchFeedTest, StartUpLoadFindsExistingDatasets) {
  // More datasets than one page of the load, written straight to the store.
  constexpr int kDatasets = 1234;
  ASSERT_TRUE(store_
                  ->InTransaction([&](CatalogueStore::Tx& tx) -> absl::Status {
                    for (int i = 0; i < kDatasets; ++i) {
                      v1::Dataset d = Sample(absl::StrCat("luft-", i),
                                             absl::StrCat("Luftkvalitet stasjon ", i));
                      d.set_version(1 + i % 3);
                      d.set_state(i % 2 ? v1::DATASET_STATE_PUBLISHED : v1::DATASET_STATE_DRAFT);
                      if (absl::Status s = tx.Insert(d); !s.ok()) return s;
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  Catalogue fresh(store_.get(), &clock_, DcatCatalogueInfo{});
  v1::SearchDatasetsRequest request;
  request.set_query("luftkvalitet");
  EXPECT_EQ(fresh.Search(AdminCaller(), request).status().code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(fresh.LoadSearchIndex().ok());
  EXPECT_EQ(fresh.search_index().size(), static_cast<size_t>(kDatasets));
  ExpectIndexMatchesStore(fresh);
  EXPECT_EQ(Search(fresh, "luftkvalitet").total, kDatasets);
  EXPECT_EQ(Search(fresh, "luftkvalitet", auth::Caller()).total, kDatasets / 2);
  EXPECT_EQ(Search(fresh, "stasjon 1233").names, Names{"luft-1233"});

  // A catalogue that never loaded loads on its first refresh.
  Catalogue lazy(store_.get(), &clock_, DcatCatalogueInfo{});
  auto refresh = lazy.RefreshSearchIndex();
  ASSERT_TRUE(refresh.ok()) << refresh.status();
  EXPECT_EQ(refresh->loaded, kDatasets);
  EXPECT_EQ(Search(lazy, "luftkvalitet").total, kDatasets);
}

TEST_P(SearchFeedTest, PagesFollowTheIndexEvenWhenAHitIsDropped) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(a_->Create(alice_, Sample(absl::StrCat("trafikk-", i), "Trafikkmengde")).ok());
  }
  ASSERT_TRUE(b_->RefreshSearchIndex().ok());
  ASSERT_TRUE(a_->Delete(alice_, "trafikk-1", 0).ok());
  v1::SearchDatasetsRequest request;
  request.set_query("trafikkmengde");
  request.set_page_size(2);
  auto first = b_->Search(AdminCaller(), request);  // equal scores: name order
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->hits_size(), 1);  // trafikk-1 is gone
  EXPECT_EQ(first->hits(0).dataset().name(), "trafikk-0");
  EXPECT_EQ(first->total_size(), 5);  // b's index has not heard of the delete yet
  request.set_page_token(first->next_page_token());
  auto second = b_->Search(AdminCaller(), request);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->hits_size(), 2);
  EXPECT_EQ(second->hits(0).dataset().name(), "trafikk-2");
  EXPECT_EQ(second->hits(1).dataset().name(), "trafikk-3");
}

// Refreshes running while the same catalogue writes never undo its writes: afterwards the index
// equals the store without another refresh.
TEST_P(SearchFeedTest, RefreshesNeverUndoThisCataloguesWrites) {
  std::atomic<bool> done{false};
  std::atomic<int> refreshes{0};
  std::thread refresher([&] {
    while (!done.load()) {
      EXPECT_TRUE(a_->RefreshSearchIndex().ok());
      ++refreshes;
    }
  });
  // b writes too, so that a's refreshes have something to load meanwhile.
  for (int i = 0; i < 40; ++i) {
    Catalogue& writer = i % 8 == 0 ? *b_ : *a_;
    auto created = writer.Create(alice_, Sample(absl::StrCat("sno-", i), "Snørydding"));
    ASSERT_TRUE(created.ok()) << created.status();
    v1::Dataset change = *created;
    change.set_title(absl::StrCat("Snørydding rute ", i));
    ASSERT_TRUE(writer.Update(alice_, change, Mask({"title"})).ok());
    if (i % 5 == 0) {
      ASSERT_TRUE(writer.Delete(alice_, absl::StrCat("sno-", i), 0).ok());
    } else if (i % 5 == 1) {
      ASSERT_TRUE(writer.Publish(alice_, absl::StrCat("sno-", i), 0).ok());
    }
  }
  // Wait for a refresh that began after the last write, then stop.
  const int seen = refreshes.load();
  while (refreshes.load() < seen + 2) std::this_thread::yield();
  done = true;
  refresher.join();
  ExpectIndexMatchesStore(*a_);
}

INSTANTIATE_TEST_SUITE_P(Engines, SearchFeedTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace smartby::catalogue
