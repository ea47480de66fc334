// The proof that listings show exactly what the policy lets a caller read: for a matrix of
// principals and datasets, what the real store returns (and counts) through the catalogue's
// List and Search equals Decide(principal, kRead, dataset), on every engine under test.
#include "services/catalogue/visibility.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/catalogue/catalogue.h"
#include "services/catalogue/store.h"
#include "services/runtime/auth/test_callers.h"
#include "services/runtime/auth/policy.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::catalogue {
namespace {

namespace common = ::smartcity::common::v1;
using auth::Principal;
using auth::Role;
using auth::RoleGrant;

// Every class (and an unspecified and an unknown one, which only a bug or an old row could
// hold), every state (likewise), and organisations that differ only in case, by a trailing
// space, or are empty.
const std::vector<int> kClasses = {0, 1, 2, 3, 4, 9};
const std::vector<int> kStates = {0, 1, 2, 3};
const std::vector<std::string> kOrgs = {"Stavanger kommune", "Sandnes kommune",
                                        "stavanger kommune", "Stavanger kommune ", ""};

std::vector<v1::Dataset> Datasets() {
  std::vector<v1::Dataset> out;
  for (int c : kClasses) {
    for (int s : kStates) {
      for (size_t o = 0; o < kOrgs.size(); ++o) {
        v1::Dataset d;
        d.set_name(absl::StrCat("d-c", c, "-s", s, "-o", o));
        d.set_title(absl::StrCat("Sett ", c, " ", s, " ", o));
        d.mutable_owner()->set_organization(kOrgs[o]);
        d.set_classification(static_cast<common::Classification>(c));
        d.set_state(static_cast<v1::DatasetState>(s));
        d.set_version(1);
        d.add_themes(o % 2 ? v1::THEME_ENVI : v1::THEME_TRAN);
        out.push_back(d);
      }
    }
  }
  return out;
}

std::vector<Principal> Principals() {
  const std::vector<std::pair<std::string, std::vector<RoleGrant>>> role_sets = {
      {"none", {}},
      {"reader", {{Role::kReader, ""}}},
      {"steward", {{Role::kDataSteward, ""}}},
      {"admin", {{Role::kPlatformAdmin, ""}}},
      {"owner:Stavanger", {{Role::kDatasetOwner, "Stavanger kommune"}}},
      {"owner:Sandnes", {{Role::kDatasetOwner, "Sandnes kommune"}}},
      {"owner:both",
       {{Role::kDatasetOwner, "Stavanger kommune"}, {Role::kDatasetOwner, "Sandnes kommune"}}},
      {"reader+owner:Sandnes", {{Role::kReader, ""}, {Role::kDatasetOwner, "Sandnes kommune"}}},
      {"steward+reader", {{Role::kDataSteward, ""}, {Role::kReader, ""}}},
      {"owner:<empty>", {{Role::kDatasetOwner, ""}}},
      {"owner:trailing-space", {{Role::kDatasetOwner, "Stavanger kommune "}}},
      {"ingest-writer", {{Role::kIngestWriter, "d-c1-s1-o0"}}},
      {"auditor", {{Role::kAuditor, ""}}},
      {"archivist", {{Role::kArchivist, ""}}},
  };
  std::vector<Principal> out;
  for (const auto& [label, roles] : role_sets) {
    for (int clearance : {0, 1, 2, 3, 4, 9}) {
      for (bool tfa : {false, true}) {
        Principal p;
        p.subject = absl::StrCat("user:", label, "/", clearance, tfa ? "/tfa" : "");
        p.issuer = "smartby";
        p.roles = roles;
        p.clearance = static_cast<common::Classification>(clearance);
        p.two_factor = tfa;
        out.push_back(p);
      }
    }
  }
  // Service accounts (no second factor possible), and a service acting for a person.
  for (const auto& roles : std::vector<std::vector<RoleGrant>>{
           {{Role::kReader, ""}},
           {{Role::kPlatformAdmin, ""}},
           {{Role::kDatasetOwner, "Stavanger kommune"}},
           {{Role::kIngestWriter, "d-c3-s1-o0"}, {Role::kReader, ""}}}) {
    for (bool tfa : {false, true}) {
      Principal p;
      p.subject = "service:ingestion";
      p.client_id = "ingestion";
      p.roles = roles;
      p.clearance = common::CLASSIFICATION_STRICTLY_PROTECTED;
      p.two_factor = tfa;
      out.push_back(p);
      p.subject = "user:kari";
      p.actor = "user:kari";
      out.push_back(p);
    }
  }
  return out;
}

std::string Describe(const Principal* p) {
  if (p == nullptr) return "anonymous";
  std::string roles;
  for (const auto& g : p->roles) absl::StrAppend(&roles, auth::RoleGrantToString(g), ",");
  return absl::StrCat(p->subject, " client=", p->client_id, " roles=[", roles,
                      "] clearance=", static_cast<int>(p->clearance), " tfa=", p->two_factor);
}

class VisibilityMatrixTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlCatalogueStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    catalogue_ = std::make_unique<Catalogue>(store_.get(), &clock_, DcatCatalogueInfo{});
  }

  SettableClock clock_{absl::FromUnixSeconds(1790000000)};
  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<CatalogueStore> store_;
  std::unique_ptr<Catalogue> catalogue_;
};

TEST_P(VisibilityMatrixTest, ListingsShowExactlyWhatThePolicyLetsEachCallerRead) {
  const std::vector<v1::Dataset> datasets = Datasets();
  ASSERT_TRUE(store_
                  ->InTransaction([&](CatalogueStore::Tx& tx) -> absl::Status {
                    for (const auto& d : datasets) {
                      if (absl::Status s = tx.Insert(d); !s.ok()) return s;
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  // Written straight to the store, as another replica would: the catalogue's search index
  // learns of them when it loads.
  ASSERT_TRUE(catalogue_->LoadSearchIndex().ok());
  const std::vector<Principal> principals = Principals();
  std::vector<const Principal*> callers = {nullptr};
  for (const auto& p : principals) callers.push_back(&p);

  size_t published_open = 0;
  for (const auto& d : datasets) {
    if (d.state() == v1::DATASET_STATE_PUBLISHED &&
        d.classification() == common::CLASSIFICATION_OPEN) {
      ++published_open;
    }
  }
  int saw_none = 0, saw_all = 0, saw_some = 0;
  for (const Principal* p : callers) {
    SCOPED_TRACE(Describe(p));
    std::set<std::string> expected;
    std::map<std::string, int32_t> expected_owners, expected_classes;
    for (const auto& d : datasets) {
      if (auth::Decide(p, auth::Action::kRead, ResourceOf(d)).ok()) {
        expected.insert(d.name());
        if (!d.owner().organization().empty()) ++expected_owners[d.owner().organization()];
        ++expected_classes[common::Classification_Name(d.classification())];
      }
    }
    if (expected.size() == published_open) {
      ++saw_none;
    } else if (expected.size() == datasets.size()) {
      ++saw_all;
    } else {
      ++saw_some;
    }
    const auth::Caller caller = p ? auth::Caller(*p) : auth::Caller();

    v1::ListDatasetsRequest list;
    list.set_page_size(500);
    auto listed = catalogue_->List(caller, list);
    ASSERT_TRUE(listed.ok()) << listed.status();
    std::set<std::string> got;
    for (const auto& d : listed->datasets()) got.insert(d.name());
    EXPECT_EQ(got, expected);
    EXPECT_EQ(listed->total_size(), static_cast<int32_t>(expected.size()));
    EXPECT_TRUE(listed->next_page_token().empty());

    // Both search paths: no words (every dataset matches) and full-text.
    for (const std::string query : {"", "sett"}) {
      SCOPED_TRACE(absl::StrCat("query \"", query, "\""));
      v1::SearchDatasetsRequest search;
      search.set_query(query);
      search.set_page_size(50);
      auto found = catalogue_->Search(caller, search);
      ASSERT_TRUE(found.ok()) << found.status();
      std::set<std::string> hits;
      for (const auto& h : found->hits()) hits.insert(h.dataset().name());
      for (auto page = found; !page->next_page_token().empty();) {
        search.set_page_token(page->next_page_token());
        page = catalogue_->Search(caller, search);
        ASSERT_TRUE(page.ok()) << page.status();
        EXPECT_EQ(page->total_size(), found->total_size());
        for (const auto& h : page->hits()) hits.insert(h.dataset().name());
      }
      EXPECT_EQ(hits, expected);
      EXPECT_EQ(found->total_size(), static_cast<int32_t>(expected.size()));
      std::map<std::string, int32_t> owners, classes;
      for (const auto& f : found->owner_facets()) owners[f.value()] = f.count();
      for (const auto& f : found->classification_facets()) classes[f.value()] = f.count();
      EXPECT_EQ(owners, expected_owners);
      // Unknown enum values have no name in either; compare the named ones.
      expected_classes.erase("");
      classes.erase("");
      EXPECT_EQ(classes, expected_classes);
    }
    EXPECT_TRUE(caller.authorized());
  }
  // The matrix covers the extremes and the middle.
  EXPECT_GT(saw_none, 0);
  EXPECT_GT(saw_all, 0);
  EXPECT_GT(saw_some, 0);
}

INSTANTIATE_TEST_SUITE_P(Engines, VisibilityMatrixTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const auto& info) { return info.param; });

TEST(VisibilityFor, AnonymousAndUnclearedSeePublishedOpenOnly) {
  EXPECT_TRUE(VisibilityFor(nullptr).OnlyPublishedOpen());
  EXPECT_TRUE(DatasetVisibility{}.OnlyPublishedOpen());
  Principal reader = auth::testing::MakePrincipal("user:r", {"reader"},
                                            common::CLASSIFICATION_UNSPECIFIED, true);
  EXPECT_TRUE(VisibilityFor(&reader).OnlyPublishedOpen());
  Principal auditor = auth::testing::MakePrincipal("user:a", {"auditor"},
                                             common::CLASSIFICATION_STRICTLY_PROTECTED, true);
  EXPECT_TRUE(VisibilityFor(&auditor).OnlyPublishedOpen());
}

TEST(VisibilityFor, SecondFactorLiftsTheCapAtIntern) {
  Principal p = auth::testing::MakePrincipal("user:s", {"data-steward"},
                                       common::CLASSIFICATION_STRICTLY_PROTECTED, false);
  EXPECT_EQ(VisibilityFor(&p).max_class, common::CLASSIFICATION_INTERNAL);
  EXPECT_FALSE(VisibilityFor(&p).Everything());
  p.two_factor = true;
  EXPECT_EQ(VisibilityFor(&p).max_class, common::CLASSIFICATION_STRICTLY_PROTECTED);
  EXPECT_TRUE(VisibilityFor(&p).Everything());
}

TEST(VisibilityFor, OwnerScopesAreKeptExactlyAndOnce) {
  Principal p = auth::testing::MakePrincipal(
      "user:o", {"dataset-owner:Stavanger kommune", "dataset-owner:Stavanger kommune", "reader"},
      common::CLASSIFICATION_INTERNAL, false);
  const DatasetVisibility v = VisibilityFor(&p);
  EXPECT_EQ(v.owner_organizations, std::vector<std::string>{"Stavanger kommune"});
  EXPECT_TRUE(v.published_datasets);
  EXPECT_FALSE(v.any_dataset);
}

}  // namespace
}  // namespace smartby::catalogue
