// The catalogue store's contract, on every engine under test.
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/catalogue/store.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::catalogue {
namespace {

namespace common = ::smartcity::common::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::Pair;

v1::Dataset MakeDataset(const std::string& name, const std::string& title,
                        const std::string& description = "") {
  v1::Dataset d;
  d.set_name(name);
  d.set_title(title);
  d.set_description(description);
  d.mutable_owner()->set_organization("Stavanger kommune");
  d.set_classification(common::CLASSIFICATION_OPEN);
  d.set_state(v1::DATASET_STATE_DRAFT);
  d.set_version(1);
  return d;
}

v1::Dataset RichDataset(const std::string& name) {
  v1::Dataset d = MakeDataset(name, "Badetemperatur i Stavanger",
                              "Temperatur i sjøvann ved badeplasser, målt hver time.");
  d.mutable_owner()->set_organization_number("964965226");
  d.mutable_owner()->set_department("Bymiljø og utbygging");
  d.mutable_contact_point()->set_name("Kari Nordmann");
  d.mutable_contact_point()->set_email("kari@stavanger.kommune.no");
  d.set_license("NLOD-2.0");
  d.set_contains_personal_data(false);
  d.add_themes(v1::THEME_ENVI);
  d.add_themes(v1::THEME_HEAL);
  d.add_keywords("bading");
  d.add_keywords("sjø");
  d.mutable_spatial()->set_place_name("Stavanger");
  d.mutable_spatial()->mutable_bbox()->set_min_longitude(5.5);
  d.mutable_spatial()->mutable_bbox()->set_max_latitude(59.1);
  d.mutable_temporal()->mutable_start_time()->set_seconds(1700000000);
  d.set_update_frequency(v1::UPDATE_FREQUENCY_HOURLY);
  auto* f = d.add_fields();
  f->set_name("water_temperature");
  f->set_type(v1::FIELD_TYPE_DOUBLE);
  f->set_unit("°C");
  f->set_description("Vanntemperatur en meter under overflaten");
  f->set_min_value(-2);
  f->set_max_value(35);
  d.mutable_risk_assessment()->set_reference("ROS-2024-17");
  auto* r = d.add_resources();
  r->set_id("r1");
  r->set_title("Siste målinger");
  r->set_format("csv");
  r->set_access_url("https://data.stavanger.kommune.no/bad.csv");
  r->set_byte_size(1234);
  d.mutable_create_time()->set_seconds(1700000000);
  d.mutable_update_time()->set_seconds(1700000100);
  d.mutable_update_time()->set_nanos(5000);
  d.set_created_by("kari");
  d.set_updated_by("kari");
  return d;
}

// A filter that matches everything, with every dataset visible: the store's own contract, apart
// from the caller's visibility (tested below and in visibility_test.cc).
ListFilter All() {
  ListFilter f;
  f.visibility = DatasetVisibility::Unrestricted();
  return f;
}

std::vector<std::string> Names(const std::vector<v1::Dataset>& datasets) {
  std::vector<std::string> names;
  for (const auto& d : datasets) names.push_back(d.name());
  return names;
}

std::vector<std::string> HitNames(const SearchResult& result) {
  std::vector<std::string> names;
  for (const auto& [d, score] : result.hits) names.push_back(d.name());
  return names;
}

class SqlStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlCatalogueStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  absl::Status Insert(const v1::Dataset& d) {
    return store_->InTransaction([&](CatalogueStore::Tx& tx) { return tx.Insert(d); });
  }

  absl::Status Replace(const v1::Dataset& d) {
    return store_->InTransaction([&](CatalogueStore::Tx& tx) { return tx.Replace(d); });
  }

  SearchResult Search(const std::string& text, ListFilter filter = All(), int32_t offset = 0,
                      int32_t limit = 20) {
    auto result = store_->Search(SearchQuery{text, filter, offset, limit});
    EXPECT_TRUE(result.ok()) << "query \"" << text << "\": " << result.status();
    return result.ok() ? *std::move(result) : SearchResult{};
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<CatalogueStore> store_;
};

TEST_P(SqlStoreTest, InsertedDatasetReadsBackUnchanged) {
  const v1::Dataset d = RichDataset("badetemperatur");
  ASSERT_TRUE(Insert(d).ok());
  auto got = store_->Get("badetemperatur");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*got, d)) << got->DebugString();
}

TEST_P(SqlStoreTest, MissingDatasetIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(store_->Get("nothing-here").status()));
}

TEST_P(SqlStoreTest, DuplicateInsertIsAlreadyExists) {
  ASSERT_TRUE(Insert(MakeDataset("luft", "Luftkvalitet")).ok());
  absl::Status again = Insert(MakeDataset("luft", "Noe annet"));
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  EXPECT_EQ(store_->Get("luft")->title(), "Luftkvalitet");
}

TEST_P(SqlStoreTest, ReplaceWithNextVersionIsStoredAndSearchable) {
  ASSERT_TRUE(Insert(MakeDataset("luft", "Luftkvalitet")).ok());
  v1::Dataset next = MakeDataset("luft", "Svevestøv og nitrogendioksid");
  next.set_version(2);
  ASSERT_TRUE(Replace(next).ok());
  EXPECT_EQ(store_->Get("luft")->version(), 2);
  EXPECT_THAT(HitNames(Search("svevestøv")), ElementsAre("luft"));
  EXPECT_THAT(HitNames(Search("luftkvalitet")), ElementsAre());
}

TEST_P(SqlStoreTest, ReplaceWithStaleVersionIsAbortedAndChangesNothing) {
  ASSERT_TRUE(Insert(MakeDataset("luft", "Luftkvalitet")).ok());
  v1::Dataset second = MakeDataset("luft", "Andre versjon");
  second.set_version(2);
  ASSERT_TRUE(Replace(second).ok());

  v1::Dataset stale = MakeDataset("luft", "Basert på versjon 1");
  stale.set_version(2);  // written by someone who read version 1
  absl::Status status = Replace(stale);
  EXPECT_TRUE(absl::IsAborted(status)) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("now version 2"));
  EXPECT_EQ(store_->Get("luft")->title(), "Andre versjon");
}

TEST_P(SqlStoreTest, ReplaceOfMissingDatasetIsNotFound) {
  v1::Dataset d = MakeDataset("ghost", "Ghost");
  d.set_version(2);
  EXPECT_TRUE(absl::IsNotFound(Replace(d)));
}

TEST_P(SqlStoreTest, FailedTransactionKeepsNothing) {
  absl::Status status = store_->InTransaction([](CatalogueStore::Tx& tx) -> absl::Status {
    if (absl::Status s = tx.Insert(MakeDataset("luft", "Luftkvalitet")); !s.ok()) return s;
    if (absl::Status s = tx.AppendHistory("luft", HistoryEntry{1, absl::Now(), "kari", "created",
                                                               {}, v1::Dataset()});
        !s.ok()) {
      return s;
    }
    return absl::InvalidArgumentError("validation failed late");
  });
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_TRUE(absl::IsNotFound(store_->Get("luft").status()));
  EXPECT_TRUE(store_->History("luft", 0, 10)->empty());
  EXPECT_EQ(Search("luftkvalitet").total_size, 0);
}

TEST_P(SqlStoreTest, DeleteRemovesDatasetHistoryAndSearchEntry) {
  ASSERT_TRUE(Insert(MakeDataset("luft", "Luftkvalitet")).ok());
  ASSERT_TRUE(store_
                  ->InTransaction([](CatalogueStore::Tx& tx) {
                    return tx.AppendHistory("luft", HistoryEntry{1, absl::Now(), "kari",
                                                                 "created", {}, v1::Dataset()});
                  })
                  .ok());
  ASSERT_TRUE(
      store_->InTransaction([](CatalogueStore::Tx& tx) { return tx.Delete("luft"); }).ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Get("luft").status()));
  EXPECT_TRUE(store_->History("luft", 0, 10)->empty());
  EXPECT_EQ(Search("luftkvalitet").total_size, 0);
  EXPECT_TRUE(absl::IsNotFound(
      store_->InTransaction([](CatalogueStore::Tx& tx) { return tx.Delete("luft"); })));
}

// 30 datasets spread over owners, classifications, states and themes.
std::vector<v1::Dataset> Corpus() {
  const std::vector<std::string> owners = {"Stavanger kommune", "Sandnes kommune",
                                           "Rogaland fylkeskommune"};
  std::vector<v1::Dataset> out;
  for (int i = 0; i < 30; ++i) {
    v1::Dataset d = MakeDataset(absl::StrCat("ds-", i < 10 ? "0" : "", i), absl::StrCat("Sett ", i));
    d.mutable_owner()->set_organization(owners[i % 3]);
    d.set_classification(static_cast<common::Classification>(1 + i % 4));
    d.set_state(static_cast<v1::DatasetState>(1 + i % 3));
    d.add_themes(i % 2 ? v1::THEME_ENVI : v1::THEME_TRAN);
    if (i % 5 == 0) d.add_themes(v1::THEME_HEAL);
    out.push_back(d);
  }
  return out;
}

bool Matches(const v1::Dataset& d, const ListFilter& f) {
  if (!f.owner_organization.empty() && d.owner().organization() != f.owner_organization) {
    return false;
  }
  if (f.classification && d.classification() != f.classification) return false;
  if (f.state && d.state() != f.state) return false;
  if (f.theme && std::find(d.themes().begin(), d.themes().end(), f.theme) == d.themes().end()) {
    return false;
  }
  return true;
}

TEST_P(SqlStoreTest, ListPagesCoverEveryMatchExactlyOnceInNameOrder) {
  const auto corpus = Corpus();
  for (const auto& d : corpus) ASSERT_TRUE(Insert(d).ok());

  std::vector<ListFilter> filters(6, All());
  filters[1].owner_organization = "Sandnes kommune";
  filters[2].classification = common::CLASSIFICATION_INTERNAL;
  filters[3].state = v1::DATASET_STATE_PUBLISHED;
  filters[4].theme = v1::THEME_HEAL;
  filters[5].owner_organization = "Stavanger kommune";
  filters[5].theme = v1::THEME_TRAN;
  for (size_t fi = 0; fi < filters.size(); ++fi) {
    SCOPED_TRACE(absl::StrCat("filter ", fi));
    std::vector<std::string> expected;
    for (const auto& d : corpus) {
      if (Matches(d, filters[fi])) expected.push_back(d.name());
    }
    std::vector<std::string> seen;
    std::string after;
    for (int pages = 0; pages < 20; ++pages) {
      auto page = store_->List(filters[fi], after, 4);
      ASSERT_TRUE(page.ok()) << page.status();
      EXPECT_EQ(page->total_size, static_cast<int32_t>(expected.size()));
      for (const auto& name : Names(page->datasets)) seen.push_back(name);
      if (page->next_after_name.empty()) break;
      after = page->next_after_name;
    }
    EXPECT_EQ(seen, expected);
  }
}

TEST_P(SqlStoreTest, SearchRanksTitleAboveDescription) {
  ASSERT_TRUE(Insert(MakeDataset("a-beskrivelse", "Målinger", "Data om sykkeltellinger")).ok());
  ASSERT_TRUE(Insert(MakeDataset("b-tittel", "Sykkeltellinger", "Målinger fra tellepunkter")).ok());
  SearchResult result = Search("sykkeltellinger");
  EXPECT_THAT(HitNames(result), ElementsAre("b-tittel", "a-beskrivelse"));
  ASSERT_EQ(result.hits.size(), 2u);
  EXPECT_GT(result.hits[0].second, result.hits[1].second);
}

TEST_P(SqlStoreTest, SearchRequiresEveryWordAndTreatsTheLastAsAPrefix) {
  ASSERT_TRUE(Insert(MakeDataset("bad", "Badetemperatur Stavanger")).ok());
  ASSERT_TRUE(Insert(MakeDataset("luft", "Luftkvalitet Stavanger")).ok());
  EXPECT_THAT(HitNames(Search("stavanger badetemp")), ElementsAre("bad"));
  EXPECT_THAT(HitNames(Search("STAVANGER")), ElementsAre("bad", "luft"));
  // Only the last word is a prefix.
  EXPECT_THAT(HitNames(Search("badetemp stavanger")), ElementsAre());
  EXPECT_THAT(HitNames(Search("stavanger sykkel")), ElementsAre());
}

TEST_P(SqlStoreTest, SearchFindsFieldDescriptionsAndKeywords) {
  v1::Dataset d = MakeDataset("bad", "Badeplasser");
  d.add_keywords("strand");
  d.add_fields()->set_description("Vanntemperatur ved overflaten");
  ASSERT_TRUE(Insert(d).ok());
  EXPECT_THAT(HitNames(Search("strand")), ElementsAre("bad"));
  EXPECT_THAT(HitNames(Search("overflaten")), ElementsAre("bad"));
}

TEST_P(SqlStoreTest, SearchHandlesNorwegianLetters) {
  ASSERT_TRUE(Insert(MakeDataset("sjo", "Sjøvann og ærfugl på Åsen")).ok());
  EXPECT_THAT(HitNames(Search("sjøvann")), ElementsAre("sjo"));
  EXPECT_THAT(HitNames(Search("SJØVANN")), ElementsAre("sjo"));
  EXPECT_THAT(HitNames(Search("ærfugl åsen")), ElementsAre("sjo"));
  EXPECT_THAT(HitNames(Search("sjø")), ElementsAre("sjo"));  // prefix with a non-ASCII letter
}

TEST_P(SqlStoreTest, SearchTreatsHostileInputAsPlainWords) {
  ASSERT_TRUE(Insert(MakeDataset("foo", "foo bar")).ok());
  for (const std::string& text : std::vector<std::string>{
           "\"foo\" OR bar*", "AND (", "'; DROP TABLE datasets; --", "NEAR(foo bar)", "title:foo",
        "foo^ -bar", "!!! ::: &&& ||", "foo:* & !bar", "\\'", "\xff\xfe broken utf8 \xc3",
        "😀 emoji", std::string(5000, 'x'), "a b c d e f g h i j k l m n o p q r s t u v w"}) {
    SCOPED_TRACE(text.substr(0, 40));
    Search(text);  // must not fail
  }
  EXPECT_TRUE(store_->Get("foo").ok());  // and nothing was dropped
  // The quotes and operators are only separators: both words are required.
  EXPECT_THAT(HitNames(Search("\"foo\" OR bar*")), ElementsAre());
  EXPECT_THAT(HitNames(Search("\"foo\" (bar*)")), ElementsAre("foo"));
}

TEST_P(SqlStoreTest, SearchCountsFacetsOverAllMatchesNotOnlyThePage) {
  for (const auto& d : Corpus()) ASSERT_TRUE(Insert(d).ok());
  SearchResult result = Search("sett", All(), 0, 2);
  EXPECT_EQ(result.hits.size(), 2u);
  EXPECT_EQ(result.total_size, 30);
  EXPECT_THAT(result.facets.themes,
              ElementsAre(Pair("ENVI", 15), Pair("TRAN", 15), Pair("HEAL", 6)));
  EXPECT_THAT(result.facets.owners,
              ElementsAre(Pair("Rogaland fylkeskommune", 10), Pair("Sandnes kommune", 10),
                          Pair("Stavanger kommune", 10)));
  int32_t classified = 0;
  for (const auto& [value, count] : result.facets.classifications) classified += count;
  EXPECT_EQ(classified, 30);
  EXPECT_EQ(result.facets.classifications[0].first, "CLASSIFICATION_INTERNAL");  // 8 of 30
}

TEST_P(SqlStoreTest, SearchFacetsIncludeResourceFormats) {
  v1::Dataset a = MakeDataset("a", "Sykkel");
  a.add_resources()->set_format("csv");
  a.add_resources()->set_format("GeoJSON");
  v1::Dataset b = MakeDataset("b", "Sykkel");
  b.add_resources()->set_format("CSV");
  ASSERT_TRUE(Insert(a).ok());
  ASSERT_TRUE(Insert(b).ok());
  EXPECT_THAT(Search("sykkel").facets.formats, ElementsAre(Pair("CSV", 2), Pair("GEOJSON", 1)));
}

TEST_P(SqlStoreTest, SearchAppliesFilters) {
  for (const auto& d : Corpus()) ASSERT_TRUE(Insert(d).ok());
  ListFilter filter = All();
  filter.theme = v1::THEME_HEAL;
  filter.owner_organization = "Stavanger kommune";
  SearchResult result = Search("sett", filter);
  // i % 5 == 0 and i % 3 == 0: 0, 15
  EXPECT_EQ(result.total_size, 2);
  EXPECT_THAT(result.facets.owners, ElementsAre(Pair("Stavanger kommune", 2)));
}

TEST_P(SqlStoreTest, EmptySearchMatchesEverythingInNameOrderAndPages) {
  for (const auto& d : Corpus()) ASSERT_TRUE(Insert(d).ok());
  std::vector<std::string> seen;
  for (int32_t offset = 0; offset < 30; offset += 7) {
    SearchResult page = Search("", All(), offset, 7);
    EXPECT_EQ(page.total_size, 30);
    for (const auto& name : HitNames(page)) seen.push_back(name);
  }
  EXPECT_EQ(seen, Names(Corpus()));
  EXPECT_TRUE(Search("", All(), 100, 7).hits.empty());
}

TEST_P(SqlStoreTest, DefaultVisibilityIsPublishedOpenOnly) {
  const auto corpus = Corpus();
  for (const auto& d : corpus) ASSERT_TRUE(Insert(d).ok());
  std::vector<std::string> expected;
  for (const auto& d : corpus) {
    if (d.state() == v1::DATASET_STATE_PUBLISHED &&
        d.classification() == common::CLASSIFICATION_OPEN) {
      expected.push_back(d.name());
    }
  }
  ASSERT_FALSE(expected.empty());
  auto page = store_->List(ListFilter{}, "", 100);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Names(page->datasets), expected);
  EXPECT_EQ(page->total_size, static_cast<int32_t>(expected.size()));
  SearchResult result = Search("sett", ListFilter{}, 0, 100);
  EXPECT_EQ(HitNames(result).size(), expected.size());
  EXPECT_EQ(result.total_size, static_cast<int32_t>(expected.size()));
  EXPECT_THAT(result.facets.classifications,
              ElementsAre(Pair("CLASSIFICATION_OPEN", static_cast<int32_t>(expected.size()))));
}

TEST_P(SqlStoreTest, OwnerOrganisationsInTheVisibilityAreBoundNotSpliced) {
  v1::Dataset quoted = MakeDataset("quoted", "Sett");
  quoted.mutable_owner()->set_organization("O'Hara kommune");
  ASSERT_TRUE(Insert(quoted).ok());
  ASSERT_TRUE(Insert(MakeDataset("other", "Sett")).ok());  // Stavanger kommune, a draft
  ListFilter filter;
  filter.visibility.max_class = common::CLASSIFICATION_INTERNAL;
  filter.visibility.owner_organizations = {"O'Hara kommune", "x') OR 1=1 --"};
  auto page = store_->List(filter, "", 10);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Names(page->datasets), ElementsAre("quoted"));
  EXPECT_THAT(HitNames(Search("sett", filter)), ElementsAre("quoted"));
}

TEST_P(SqlStoreTest, HistoryIsNewestFirstAndPages) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(123456789);
  ASSERT_TRUE(store_
                  ->InTransaction([&](CatalogueStore::Tx& tx) -> absl::Status {
                    for (int v = 1; v <= 3; ++v) {
                      v1::Dataset d = MakeDataset("luft", absl::StrCat("Versjon ", v));
                      d.set_version(v);
                      absl::Status s = tx.AppendHistory(
                          "luft", HistoryEntry{v, t0 + absl::Minutes(v), "kari",
                                               v == 1 ? "created" : "updated",
                                               v == 1 ? std::vector<std::string>{}
                                                      : std::vector<std::string>{"title",
                                                                                 "description"},
                                               d});
                      if (!s.ok()) return s;
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  auto all = store_->History("luft", 0, 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].version, 3);
  EXPECT_EQ((*all)[0].change_time, t0 + absl::Minutes(3));
  EXPECT_EQ((*all)[0].changed_by, "kari");
  EXPECT_EQ((*all)[0].action, "updated");
  EXPECT_THAT((*all)[0].changed_fields, ElementsAre("title", "description"));
  EXPECT_EQ((*all)[0].dataset.title(), "Versjon 3");
  EXPECT_EQ((*all)[2].version, 1);
  EXPECT_TRUE((*all)[2].changed_fields.empty());

  auto older = store_->History("luft", 3, 1);
  ASSERT_TRUE(older.ok()) << older.status();
  ASSERT_EQ(older->size(), 1u);
  EXPECT_EQ((*older)[0].version, 2);
}

TEST_P(SqlStoreTest, DuplicateHistoryVersionIsAlreadyExists) {
  auto append = [&] {
    return store_->InTransaction([](CatalogueStore::Tx& tx) {
      return tx.AppendHistory("luft", HistoryEntry{1, absl::Now(), "kari", "created", {}, {}});
    });
  };
  ASSERT_TRUE(append().ok());
  EXPECT_TRUE(absl::IsAlreadyExists(append()));
}

TEST_P(SqlStoreTest, ListAllReturnsOneStateAndClassificationInNameOrder) {
  const auto corpus = Corpus();
  for (const auto& d : corpus) ASSERT_TRUE(Insert(d).ok());
  auto all = store_->ListAll(v1::DATASET_STATE_PUBLISHED, common::CLASSIFICATION_OPEN);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> expected;
  for (const auto& d : corpus) {
    if (d.state() == v1::DATASET_STATE_PUBLISHED &&
        d.classification() == common::CLASSIFICATION_OPEN) {
      expected.push_back(d.name());
    }
  }
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(Names(*all), expected);
}

TEST_P(SqlStoreTest, GetManyReturnsTheNamesThatExist) {
  std::vector<std::string> names;
  ASSERT_TRUE(store_
                  ->InTransaction([&](CatalogueStore::Tx& tx) -> absl::Status {
                    for (int i = 0; i < 700; ++i) {
                      v1::Dataset d = MakeDataset(absl::StrCat("many-", 1000 + i), "Mange");
                      d.set_version(1 + i % 4);
                      if (absl::Status s = tx.Insert(d); !s.ok()) return s;
                      if (i % 2 == 0) names.push_back(d.name());
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  names.push_back("no-such-dataset");
  names.push_back("many-1000");  // asked twice, returned once
  // 351 names with a missing one: more than one query (500 per query), padded lists.
  auto got = store_->GetMany(names);
  ASSERT_TRUE(got.ok()) << got.status();
  std::set<std::string> expected(names.begin(), names.end());
  expected.erase("no-such-dataset");
  std::multiset<std::string> returned;
  for (const auto& d : *got) {
    returned.insert(d.name());
    EXPECT_EQ(d.title(), "Mange");
  }
  EXPECT_EQ(returned, std::multiset<std::string>(expected.begin(), expected.end()));
  for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{600}}) {
    std::vector<std::string> some;
    for (size_t i = 0; i < n; ++i) some.push_back(absl::StrCat("many-", 1000 + i));
    auto page = store_->GetMany(some);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->size(), n);
  }
}

TEST_P(SqlStoreTest, VersionsAndAllDatasetsCoverEveryStateAndClass) {
  const auto corpus = Corpus();
  for (const auto& d : corpus) ASSERT_TRUE(Insert(d).ok());
  v1::Dataset changed = corpus[0];
  changed.set_version(corpus[0].version() + 1);
  ASSERT_TRUE(Replace(changed).ok());

  auto versions = store_->Versions();
  ASSERT_TRUE(versions.ok()) << versions.status();
  std::map<std::string, int64_t> got;
  for (const auto& v : *versions) got[v.name] = v.version;
  std::map<std::string, int64_t> expected;
  for (const auto& d : corpus) expected[d.name()] = d.version();
  expected[changed.name()] = changed.version();
  EXPECT_EQ(got, expected);

  // Paged, in name order, every dataset once.
  std::vector<std::string> paged;
  std::string after;
  for (;;) {
    auto page = store_->AllDatasets(after, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    for (const auto& d : *page) paged.push_back(d.name());
    after = page->back().name();
  }
  std::vector<std::string> names;
  for (const auto& [name, version] : expected) names.push_back(name);
  EXPECT_EQ(paged, names);
  EXPECT_EQ(store_->AllDatasets("", 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(SqlStoreTest, OpeningTwiceDoesNotReapplyMigrations) {
  ASSERT_TRUE(Insert(MakeDataset("luft", "Luftkvalitet")).ok());
  auto again = OpenSqlCatalogueStore(db_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->Get("luft").ok());
}

INSTANTIATE_TEST_SUITE_P(Engines, SqlStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace smartby::catalogue
