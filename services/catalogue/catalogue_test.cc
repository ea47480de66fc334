// Domain rules of the catalogue, against the real SQL store on both engines.
#include "services/catalogue/catalogue.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/auth/test_callers.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::catalogue {
namespace {

using ::smartcity::common::v1::Classification;
using ::smartcity::common::v1::CLASSIFICATION_INTERNAL;
using ::smartcity::common::v1::CLASSIFICATION_OPEN;
using ::smartcity::common::v1::CLASSIFICATION_PROTECTED;
using ::smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;
using auth::testing::AdminCaller;
using auth::testing::MakeCaller;
using auth::testing::OwnerCaller;
using auth::testing::ReaderCaller;

v1::Dataset Sample(const std::string& name) {
  v1::Dataset d;
  d.set_name(name);
  d.set_title("Fyllingsgrad i nedgravde avfallscontainere");
  d.set_description("Fyllingsgrad målt av sensorer i containerne.");
  d.mutable_owner()->set_organization("Stavanger kommune");
  d.set_license("NLOD-2.0");
  d.set_classification(CLASSIFICATION_OPEN);
  d.add_themes(v1::THEME_ENVI);
  auto* f = d.add_fields();
  f->set_name("fill_level");
  f->set_type(v1::FIELD_TYPE_DOUBLE);
  f->set_unit("%");
  f->set_min_value(0);
  f->set_max_value(100);
  return d;
}

google::protobuf::FieldMask Mask(std::initializer_list<const char*> paths) {
  google::protobuf::FieldMask mask;
  for (const char* p : paths) mask.add_paths(p);
  return mask;
}

class CatalogueTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    ASSERT_NE(db_, nullptr);
    auto store = OpenSqlCatalogueStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    catalogue_ = std::make_unique<Catalogue>(store_.get(), &clock_, DcatCatalogueInfo{});
    ASSERT_TRUE(catalogue_->LoadSearchIndex().ok());
  }

  SettableClock clock_{absl::FromUnixSeconds(1790000000)};
  // alice owns Stavanger kommune's datasets; bob is a data steward cleared for Beskyttet.
  const auth::Caller alice_ = OwnerCaller("user:alice", "Stavanger kommune");
  const auth::Caller bob_ =
      MakeCaller("user:bob", {"data-steward"}, CLASSIFICATION_PROTECTED, /*two_factor=*/true);
  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<CatalogueStore> store_;
  std::unique_ptr<Catalogue> catalogue_;
};

TEST_P(CatalogueTest, CreateStartsAsDraftAtVersionOneAndIgnoresManagedFields) {
  v1::Dataset input = Sample("waste-containers");
  input.set_state(v1::DATASET_STATE_PUBLISHED);
  input.set_version(99);
  input.set_created_by("someone-else");
  auto created = catalogue_->Create(alice_, input);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->state(), v1::DATASET_STATE_DRAFT);
  EXPECT_EQ(created->version(), 1);
  EXPECT_EQ(created->created_by(), "user:alice");
  EXPECT_EQ(created->create_time().seconds(), 1790000000);
  auto got = catalogue_->Get(alice_, "waste-containers");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->title(), input.title());
}

TEST_P(CatalogueTest, UpdateWithMaskChangesOnlyNamedFields) {
  auto created = catalogue_->Create(alice_, Sample("masked"));
  ASSERT_TRUE(created.ok());
  v1::Dataset change = *created;
  change.set_title("Ny tittel");
  change.set_description("Skal ikke lagres");
  clock_.Advance(absl::Minutes(5));
  auto updated = catalogue_->Update(bob_, change, Mask({"title"}));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->title(), "Ny tittel");
  EXPECT_EQ(updated->description(), created->description());
  EXPECT_EQ(updated->version(), 2);
  EXPECT_EQ(updated->updated_by(), "user:bob");
  EXPECT_EQ(updated->created_by(), "user:alice");
  EXPECT_EQ(updated->update_time().seconds(), 1790000300);
}

TEST_P(CatalogueTest, UpdateRefusesMaskOnManagedFields) {
  auto created = catalogue_->Create(alice_, Sample("managed"));
  ASSERT_TRUE(created.ok());
  for (const char* path : {"name", "state", "version", "resources", "no_such_field"}) {
    auto updated = catalogue_->Update(bob_, *created, Mask({path}));
    EXPECT_EQ(updated.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_TRUE(absl::StrContains(updated.status().message(), "update_mask")) << path;
  }
}

TEST_P(CatalogueTest, ResourceUpdateRefusesPathsBelowScalarFields) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("resource-mask")).ok());
  v1::Resource r;
  r.set_title("CSV");
  r.set_format("CSV");
  r.set_access_url("https://data.example.no/a.csv");
  auto added = catalogue_->AddResource(alice_, "resource-mask", r, 0);
  ASSERT_TRUE(added.ok()) << added.status();
  v1::Resource change;
  change.set_id(added->id());
  auto updated = catalogue_->UpdateResource(bob_, "resource-mask", change, Mask({"title.x"}), 0);
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(updated.status().message(), "title.x")) << updated.status();
  EXPECT_EQ(catalogue_->Get(alice_, "resource-mask")->version(), 2);
}

TEST_P(CatalogueTest, UpdateWithStaleVersionIsAborted) {
  auto created = catalogue_->Create(alice_, Sample("stale"));
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(catalogue_->Update(bob_, *created, Mask({"title"})).ok());
  auto stale = catalogue_->Update(bob_, *created, Mask({"title"}));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(absl::StrContains(stale.status().message(), "version 2"));
}

TEST_P(CatalogueTest, UpdateNeedsTheVersionRead) {
  v1::Dataset no_version = Sample("no-version");
  ASSERT_TRUE(catalogue_->Create(alice_, no_version).ok());
  auto updated = catalogue_->Update(bob_, no_version, Mask({"title"}));
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(updated.status().message(), "dataset.version"));
}

TEST_P(CatalogueTest, InvalidUpdateLeavesTheDatasetUnchanged) {
  auto created = catalogue_->Create(alice_, Sample("invalid-update"));
  ASSERT_TRUE(created.ok());
  v1::Dataset change = *created;
  change.clear_title();
  EXPECT_EQ(catalogue_->Update(bob_, change, Mask({"title"})).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto got = catalogue_->Get(alice_, "invalid-update");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version(), 1);
  EXPECT_EQ(got->title(), created->title());
}

TEST_P(CatalogueTest, OpenDatasetPublishesWithoutRiskAssessment) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("open-data")).ok());
  auto published = catalogue_->Publish(alice_, "open-data", 0);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->state(), v1::DATASET_STATE_PUBLISHED);
  EXPECT_EQ(published->publish_time().seconds(), 1790000000);
}

TEST_P(CatalogueTest, InternalDatasetNeedsRiskAssessmentToPublish) {
  v1::Dataset d = Sample("internal-data");
  d.set_classification(CLASSIFICATION_INTERNAL);
  ASSERT_TRUE(catalogue_->Create(alice_, d).ok());
  auto refused = catalogue_->Publish(alice_, "internal-data", 0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "Intern"));
  EXPECT_EQ(catalogue_->Get(alice_, "internal-data")->state(), v1::DATASET_STATE_DRAFT);
}

TEST_P(CatalogueTest, PersonalDataNeedsDpiaAsWellAsRos) {
  v1::Dataset d = Sample("personal-data");
  d.set_classification(CLASSIFICATION_PROTECTED);
  d.set_contains_personal_data(true);
  d.mutable_risk_assessment()->set_reference("ROS-2026-001");
  ASSERT_TRUE(catalogue_->Create(alice_, d).ok());
  auto refused = catalogue_->Publish(alice_, "personal-data", 0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "DPIA"));
}

TEST_P(CatalogueTest, PublishedDatasetCannotBeReclassifiedWithoutRiskAssessment) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("reclassified")).ok());
  auto published = catalogue_->Publish(alice_, "reclassified", 0);
  ASSERT_TRUE(published.ok());
  v1::Dataset change = *published;
  change.set_classification(CLASSIFICATION_INTERNAL);
  auto refused = catalogue_->Update(bob_, change, Mask({"classification"}));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(CatalogueTest, PublishWithStaleExpectedVersionIsAborted) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("publish-stale")).ok());
  EXPECT_EQ(catalogue_->Publish(alice_, "publish-stale", 7).status().code(),
            absl::StatusCode::kAborted);
}

TEST_P(CatalogueTest, RetiredDatasetIsReadOnly) {
  auto created = catalogue_->Create(alice_, Sample("retired"));
  ASSERT_TRUE(created.ok());
  auto retired = catalogue_->Retire(alice_, "retired", 0, "replaced by v2");
  ASSERT_TRUE(retired.ok());
  EXPECT_EQ(retired->state(), v1::DATASET_STATE_RETIRED);
  EXPECT_EQ(catalogue_->Update(bob_, *retired, Mask({"title"})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalogue_->Publish(bob_, "retired", 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalogue_->Delete(alice_, "retired", 0).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(CatalogueTest, HistoryNamesChangedFieldsNewestFirstAndPages) {
  auto created = catalogue_->Create(alice_, Sample("history"));
  ASSERT_TRUE(created.ok());
  v1::Dataset change = *created;
  for (int i = 0; i < 4; ++i) {
    change.add_keywords("k" + std::to_string(i));
    auto updated = catalogue_->Update(bob_, change, Mask({"keywords"}));
    ASSERT_TRUE(updated.ok()) << updated.status();
    change = *updated;
  }
  v1::ListDatasetHistoryRequest request;
  request.set_name("history");
  request.set_page_size(3);
  auto first = catalogue_->History(alice_, request);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->changes_size(), 3);
  EXPECT_EQ(first->changes(0).version(), 5);
  EXPECT_EQ(first->changes(0).changed_fields(0), "keywords");
  ASSERT_FALSE(first->next_page_token().empty());
  request.set_page_token(first->next_page_token());
  auto second = catalogue_->History(alice_, request);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->changes_size(), 2);
  EXPECT_EQ(second->changes(1).version(), 1);
  EXPECT_EQ(second->changes(1).action(), "created");
  EXPECT_TRUE(second->next_page_token().empty());
}

TEST_P(CatalogueTest, HistoryOfUnknownDatasetIsNotFound) {
  v1::ListDatasetHistoryRequest request;
  request.set_name("never-created");
  EXPECT_EQ(catalogue_->History(alice_, request).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CatalogueTest, ResourcesGetIdsAndMediaTypesAndBumpTheVersion) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("with-resources")).ok());
  v1::Resource r;
  r.set_title("Fyllingsgrad som CSV");
  r.set_format("CSV");
  r.set_access_url("https://data.example.no/fill.csv");
  auto added = catalogue_->AddResource(alice_, "with-resources", r, 1);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_FALSE(added->id().empty());
  EXPECT_EQ(added->media_type(), "text/csv");
  EXPECT_EQ(catalogue_->Get(alice_, "with-resources")->version(), 2);

  v1::Resource change;
  change.set_id(added->id());
  change.set_title("Ny tittel");
  auto updated = catalogue_->UpdateResource(bob_, "with-resources", change, Mask({"title"}), 2);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->title(), "Ny tittel");
  EXPECT_EQ(updated->format(), "CSV");

  EXPECT_EQ(catalogue_->RemoveResource(bob_, "with-resources", "nope", 0).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(catalogue_->RemoveResource(bob_, "with-resources", added->id(), 3).ok());
  EXPECT_EQ(catalogue_->ListResources(alice_, "with-resources")->resources_size(), 0);
  EXPECT_EQ(catalogue_->Get(alice_, "with-resources")->version(), 4);
}

TEST_P(CatalogueTest, InvalidResourceIsRefusedNamingTheField) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("bad-resource")).ok());
  v1::Resource r;
  r.set_title("Uten adresse");
  r.set_format("CSV");
  auto added = catalogue_->AddResource(alice_, "bad-resource", r, 0);
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(added.status().message(), "resource.")) << added.status();
  EXPECT_EQ(catalogue_->Get(alice_, "bad-resource")->version(), 1);
}

TEST_P(CatalogueTest, ForeignPageTokensAreRefused) {
  v1::ListDatasetsRequest list;
  list.set_page_token("not-a-token");
  EXPECT_EQ(catalogue_->List(alice_, list).status().code(), absl::StatusCode::kInvalidArgument);
  v1::SearchDatasetsRequest search;
  search.set_page_token("bjpzb21ldGhpbmc");  // "n:something": a list token, not a search one
  EXPECT_EQ(catalogue_->Search(alice_, search).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(CatalogueTest, ListPagesCoverEveryDatasetOnce) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(catalogue_->Create(alice_, Sample("paged-" + std::to_string(i))).ok());
  }
  v1::ListDatasetsRequest request;
  request.set_page_size(3);
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto response = catalogue_->List(alice_, request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->total_size(), 7);
    for (const auto& d : response->datasets()) seen.push_back(d.name());
    if (response->next_page_token().empty()) break;
    request.set_page_token(response->next_page_token());
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST_P(CatalogueTest, AListingNamesEachDatasetAboveOpenItShowedForTheAuditRecord) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("open-one")).ok());
  v1::Dataset internal = Sample("internal-one");
  internal.set_classification(CLASSIFICATION_INTERNAL);
  ASSERT_TRUE(catalogue_->Create(alice_, internal).ok());
  const auth::Caller lister = OwnerCaller("user:carol", "Stavanger kommune");
  auto response = catalogue_->List(lister, v1::ListDatasetsRequest());
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->datasets_size(), 2);
  std::vector<std::string> named;
  for (const auth::ResourceRef& ref : lister.allowed_sensitive()) named.push_back(ref.dataset);
  EXPECT_EQ(named, std::vector<std::string>{"internal-one"})
      << "the audit guard records one event per dataset above Åpen a read showed";
}

TEST_P(CatalogueTest, ExportContainsPublishedOpenDatasetsOnly) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("exported")).ok());
  ASSERT_TRUE(catalogue_->Publish(alice_, "exported", 0).ok());
  v1::Dataset internal = Sample("internal-published");
  internal.set_classification(CLASSIFICATION_INTERNAL);
  internal.mutable_risk_assessment()->set_reference("ROS-1");
  ASSERT_TRUE(catalogue_->Create(alice_, internal).ok());
  ASSERT_TRUE(catalogue_->Publish(alice_, "internal-published", 0).ok());
  auto exported = catalogue_->Export(auth::Caller(), v1::EXPORT_FORMAT_TURTLE);
  ASSERT_TRUE(exported.ok());
  EXPECT_EQ(exported->dataset_count(), 1);
  EXPECT_TRUE(absl::StrContains(exported->content(), "datasets/exported>"));
  EXPECT_FALSE(absl::StrContains(exported->content(), "internal-published"));
}

// --- Authorisation --------------------------------------------------------------------------

v1::Dataset Classified(const std::string& name, Classification c,
                       const std::string& owner = "Stavanger kommune") {
  v1::Dataset d = Sample(name);
  d.set_classification(c);
  d.mutable_owner()->set_organization(owner);
  if (c != CLASSIFICATION_OPEN) d.mutable_risk_assessment()->set_reference("ROS-2026-001");
  return d;
}

bool Mentions(const absl::Status& status, absl::string_view text) {
  return absl::StrContains(status.message(), text);
}

TEST_P(CatalogueTest, ChangesAreRecordedUnderTheCallersSubject) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("subjects")).ok());
  auto published = catalogue_->Publish(bob_, "subjects", 0);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->updated_by(), "user:bob");
  v1::ListDatasetHistoryRequest request;
  request.set_name("subjects");
  auto history = catalogue_->History(alice_, request);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->changes_size(), 2);
  EXPECT_EQ(history->changes(0).changed_by(), "user:bob");
  EXPECT_EQ(history->changes(1).changed_by(), "user:alice");
}

TEST_P(CatalogueTest, OwnerOfAnotherOrganisationCannotTouchTheDataset) {
  auto created = catalogue_->Create(alice_, Sample("stavanger-only"));
  ASSERT_TRUE(created.ok()) << created.status();
  const auth::Caller sandnes = OwnerCaller("user:siri", "Sandnes kommune");

  v1::Dataset change = *created;
  change.set_title("Overtatt");
  absl::Status s = catalogue_->Update(sandnes, change, Mask({"title"})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(Mentions(s, "dataset-owner:Stavanger kommune")) << s;
  EXPECT_EQ(catalogue_->Get(sandnes, "stavanger-only").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(catalogue_->Publish(sandnes, "stavanger-only", 0).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(catalogue_->Retire(sandnes, "stavanger-only", 0, "").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(catalogue_->Delete(sandnes, "stavanger-only", 0).code(),
            absl::StatusCode::kPermissionDenied);
  v1::Resource r;
  r.set_title("CSV");
  r.set_format("CSV");
  r.set_access_url("https://data.example.no/a.csv");
  EXPECT_EQ(catalogue_->AddResource(sandnes, "stavanger-only", r, 0).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(catalogue_->ListResources(sandnes, "stavanger-only").status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::ListDatasetHistoryRequest history;
  history.set_name("stavanger-only");
  EXPECT_EQ(catalogue_->History(sandnes, history).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Nor may they create one in Stavanger's name.
  s = catalogue_->Create(sandnes, Sample("stavanger-by-sandnes")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;

  auto now = catalogue_->Get(alice_, "stavanger-only");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->version(), 1);
  EXPECT_EQ(now->state(), v1::DATASET_STATE_DRAFT);
  EXPECT_TRUE(absl::IsNotFound(catalogue_->Get(alice_, "stavanger-by-sandnes").status()));
}

TEST_P(CatalogueTest, UpdateCannotMoveADatasetToAnOrganisationYouDoNotOwn) {
  auto created = catalogue_->Create(alice_, Sample("moving"));
  ASSERT_TRUE(created.ok());
  v1::Dataset change = *created;
  change.mutable_owner()->set_organization("Sandnes kommune");
  absl::Status s = catalogue_->Update(alice_, change, Mask({"owner"})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(Mentions(s, "dataset-owner:Sandnes kommune")) << s;
  // An empty mask replaces every field, owner included: the same rule.
  EXPECT_EQ(catalogue_->Update(alice_, change, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(catalogue_->Get(alice_, "moving")->owner().organization(), "Stavanger kommune");

  // Someone who owns both organisations may move it; a data steward may too.
  const auth::Caller both =
      MakeCaller("user:both", {"dataset-owner:Stavanger kommune", "dataset-owner:Sandnes kommune"},
                 CLASSIFICATION_INTERNAL, false);
  auto moved = catalogue_->Update(both, change, Mask({"owner"}));
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->owner().organization(), "Sandnes kommune");
  // ... and then alice no longer reaches it.
  EXPECT_EQ(catalogue_->Get(alice_, "moving").status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_P(CatalogueTest, UpdateCannotRaiseTheClassAboveYourClearance) {
  const auth::Caller internal_owner =
      MakeCaller("user:ola", {"dataset-owner:Stavanger kommune"}, CLASSIFICATION_INTERNAL, true);
  auto created = catalogue_->Create(internal_owner, Sample("raising"));
  ASSERT_TRUE(created.ok()) << created.status();
  v1::Dataset change = *created;
  change.set_classification(CLASSIFICATION_PROTECTED);
  absl::Status s = catalogue_->Update(internal_owner, change, Mask({"classification"})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(Mentions(s, "Beskyttet")) << s;
  EXPECT_EQ(catalogue_->Get(alice_, "raising")->classification(), CLASSIFICATION_OPEN);
  // Within the clearance it works.
  change.set_classification(CLASSIFICATION_INTERNAL);
  EXPECT_TRUE(catalogue_->Update(internal_owner, change, Mask({"classification"})).ok());
}

TEST_P(CatalogueTest, ReaderSeesPublishedDatasetsOnly) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("reader-draft")).ok());
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("reader-published")).ok());
  ASSERT_TRUE(catalogue_->Publish(alice_, "reader-published", 0).ok());
  ASSERT_TRUE(catalogue_->Create(alice_, Classified("reader-internal", CLASSIFICATION_INTERNAL))
                  .ok());
  ASSERT_TRUE(catalogue_->Publish(alice_, "reader-internal", 0).ok());
  const auth::Caller reader = ReaderCaller(CLASSIFICATION_INTERNAL, false);

  absl::Status s = catalogue_->Get(reader, "reader-draft").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(Mentions(s, "not published")) << s;
  EXPECT_TRUE(catalogue_->Get(reader, "reader-published").ok());
  EXPECT_TRUE(catalogue_->Get(reader, "reader-internal").ok());
  EXPECT_TRUE(catalogue_->ListResources(reader, "reader-internal").ok());
  // History shows drafts, so even a published dataset's history is not for readers.
  v1::ListDatasetHistoryRequest history;
  history.set_name("reader-published");
  EXPECT_EQ(catalogue_->History(reader, history).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Reading does not let them change anything.
  EXPECT_EQ(catalogue_->Retire(reader, "reader-published", 0, "").status().code(),
            absl::StatusCode::kPermissionDenied);
  s = catalogue_->Create(reader, Sample("reader-creates")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(Mentions(s, "dataset-owner:Stavanger kommune")) << s;

  auto list = catalogue_->List(reader, {});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->total_size(), 2);
  ASSERT_EQ(list->datasets_size(), 2);
  EXPECT_EQ(list->datasets(0).name(), "reader-internal");
  EXPECT_EQ(list->datasets(1).name(), "reader-published");
  v1::SearchDatasetsRequest search;
  search.set_query("fyllingsgrad");
  auto found = catalogue_->Search(reader, search);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->total_size(), 2);
}

TEST_P(CatalogueTest, ProtectedDataNeedsASecondFactorEvenForItsOwner) {
  ASSERT_TRUE(
      catalogue_->Create(alice_, Classified("protected", CLASSIFICATION_PROTECTED)).ok());
  const auth::Caller owner_without_tfa = MakeCaller(
      "user:alice", {"dataset-owner:Stavanger kommune"}, CLASSIFICATION_STRICTLY_PROTECTED, false);
  absl::Status s = catalogue_->Get(owner_without_tfa, "protected").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_TRUE(Mentions(s, "second factor")) << s;
  EXPECT_EQ(catalogue_->Publish(owner_without_tfa, "protected", 0).status().code(),
            absl::StatusCode::kUnauthenticated);
  s = catalogue_->Create(owner_without_tfa, Classified("protected-2", CLASSIFICATION_PROTECTED))
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_TRUE(Mentions(s, "second factor")) << s;
  // Listing leaves it out rather than failing.
  auto list = catalogue_->List(owner_without_tfa, {});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->total_size(), 0);
  EXPECT_TRUE(catalogue_->Get(alice_, "protected").ok());
}

TEST_P(CatalogueTest, TooLowClearanceIsPermissionDenied) {
  ASSERT_TRUE(
      catalogue_->Create(alice_, Classified("strict", CLASSIFICATION_STRICTLY_PROTECTED)).ok());
  absl::Status s = catalogue_->Get(bob_, "strict").status();  // bob: cleared for Beskyttet
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(Mentions(s, "Strengt beskyttet")) << s;
  EXPECT_TRUE(Mentions(s, "Beskyttet")) << s;
  EXPECT_EQ(catalogue_->Publish(bob_, "strict", 0).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(catalogue_->Get(AdminCaller(), "strict").ok());
}

TEST_P(CatalogueTest, AnonymousCallersSeeOnlyPublishedOpenDatasets) {
  // Published Åpen: two in Stavanger, one in Sandnes. Everything else is hidden.
  for (const std::string name : {"anon-open-1", "anon-open-2"}) {
    ASSERT_TRUE(catalogue_->Create(alice_, Sample(name)).ok());
    ASSERT_TRUE(catalogue_->Publish(alice_, name, 0).ok());
  }
  const auth::Caller admin = AdminCaller();
  v1::Dataset sandnes = Classified("anon-open-sandnes", CLASSIFICATION_OPEN, "Sandnes kommune");
  sandnes.clear_themes();
  sandnes.add_themes(v1::THEME_TRAN);
  ASSERT_TRUE(catalogue_->Create(admin, sandnes).ok());
  ASSERT_TRUE(catalogue_->Publish(admin, "anon-open-sandnes", 0).ok());
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("anon-draft")).ok());
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("anon-retired")).ok());
  ASSERT_TRUE(catalogue_->Publish(alice_, "anon-retired", 0).ok());
  ASSERT_TRUE(catalogue_->Retire(alice_, "anon-retired", 0, "").ok());
  for (Classification c : {CLASSIFICATION_INTERNAL, CLASSIFICATION_PROTECTED,
                           CLASSIFICATION_STRICTLY_PROTECTED}) {
    const std::string name = absl::StrCat("anon-hidden-", static_cast<int>(c));
    ASSERT_TRUE(catalogue_->Create(admin, Classified(name, c, "Hidden kommune")).ok());
    ASSERT_TRUE(catalogue_->Publish(admin, name, 0).ok());
  }

  const auth::Caller anonymous;
  auto list = catalogue_->List(anonymous, {});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(anonymous.authorized());
  EXPECT_EQ(list->total_size(), 3);
  std::vector<std::string> names;
  for (const auto& d : list->datasets()) names.push_back(d.name());
  EXPECT_EQ(names, (std::vector<std::string>{"anon-open-1", "anon-open-2", "anon-open-sandnes"}));
  // Filters narrow within what is visible; they never widen it.
  v1::ListDatasetsRequest drafts;
  drafts.set_state(v1::DATASET_STATE_DRAFT);
  EXPECT_EQ(catalogue_->List(anonymous, drafts)->total_size(), 0);
  v1::ListDatasetsRequest hidden_org;
  hidden_org.set_owner_organization("Hidden kommune");
  EXPECT_EQ(catalogue_->List(anonymous, hidden_org)->total_size(), 0);

  v1::SearchDatasetsRequest search;
  search.set_query("fyllingsgrad");
  search.set_page_size(1);
  auto found = catalogue_->Search(anonymous, search);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->total_size(), 3);
  EXPECT_EQ(found->hits_size(), 1);
  auto facet = [](const auto& facets, const std::string& value) {
    for (const auto& f : facets) {
      if (f.value() == value) return f.count();
    }
    return 0;
  };
  EXPECT_EQ(facet(found->owner_facets(), "Stavanger kommune"), 2);
  EXPECT_EQ(facet(found->owner_facets(), "Sandnes kommune"), 1);
  EXPECT_EQ(facet(found->owner_facets(), "Hidden kommune"), 0);
  EXPECT_EQ(found->owner_facets_size(), 2);
  ASSERT_EQ(found->classification_facets_size(), 1);
  EXPECT_EQ(found->classification_facets(0).value(), "CLASSIFICATION_OPEN");
  EXPECT_EQ(found->classification_facets(0).count(), 3);
  EXPECT_EQ(facet(found->theme_facets(), "ENVI"), 2);
  EXPECT_EQ(facet(found->theme_facets(), "TRAN"), 1);

  // The admin sees all eight.
  EXPECT_EQ(catalogue_->List(admin, {})->total_size(), 8);
  search.set_page_size(0);
  EXPECT_EQ(catalogue_->Search(admin, search)->total_size(), 8);

  // One at a time: open and published yes; otherwise sign in.
  EXPECT_TRUE(catalogue_->Get(anonymous, "anon-open-1").ok());
  EXPECT_TRUE(catalogue_->ListResources(anonymous, "anon-open-1").ok());
  absl::Status s = catalogue_->Get(anonymous, "anon-draft").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_TRUE(Mentions(s, "sign in")) << s;
  EXPECT_EQ(catalogue_->Get(anonymous, "anon-hidden-2").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(catalogue_->Get(anonymous, "no-such-dataset").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(catalogue_->Create(anonymous, Sample("anon-creates")).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(catalogue_->Export(anonymous, v1::EXPORT_FORMAT_TURTLE).ok());
}

TEST_P(CatalogueTest, EveryOperationRecordsThatItAskedTheCaller) {
  ASSERT_TRUE(catalogue_->Create(alice_, Sample("asked")).ok());
  auto fresh = [] { return OwnerCaller("user:alice", "Stavanger kommune"); };
  {
    const auth::Caller c = fresh();
    ASSERT_TRUE(catalogue_->Get(c, "asked").ok());
    EXPECT_TRUE(c.authorized());
  }
  {
    const auth::Caller c = fresh();
    ASSERT_TRUE(catalogue_->Publish(c, "asked", 0).ok());
    EXPECT_TRUE(c.authorized());
  }
  {
    const auth::Caller c = fresh();
    v1::ListDatasetHistoryRequest request;
    request.set_name("asked");
    ASSERT_TRUE(catalogue_->History(c, request).ok());
    EXPECT_TRUE(c.authorized());
  }
  {
    const auth::Caller c = fresh();
    ASSERT_TRUE(catalogue_->Search(c, {}).ok());
    EXPECT_TRUE(c.authorized());
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, CatalogueTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const auto& info) { return info.param; });

TEST(ChangedFields, NamesOnlyTopLevelFieldsThatDiffer) {
  v1::Dataset a = Sample("a");
  v1::Dataset b = a;
  b.set_title("x");
  b.mutable_owner()->set_department("y");
  b.set_version(5);  // managed: not reported
  EXPECT_EQ(ChangedFields(a, b), (std::vector<std::string>{"title", "owner"}));
}

}  // namespace
}  // namespace smartby::catalogue
