// Domain rules of the catalogue, against the real SQL store on both engines.
#include "services/catalogue/catalogue.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::catalogue {
namespace {

using ::smartcity::common::v1::CLASSIFICATION_INTERNAL;
using ::smartcity::common::v1::CLASSIFICATION_OPEN;
using ::smartcity::common::v1::CLASSIFICATION_PROTECTED;

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
  }

  SettableClock clock_{absl::FromUnixSeconds(1790000000)};
  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<CatalogueStore> store_;
  std::unique_ptr<Catalogue> catalogue_;
};

TEST_P(CatalogueTest, CreateStartsAsDraftAtVersionOneAndIgnoresManagedFields) {
  v1::Dataset input = Sample("waste-containers");
  input.set_state(v1::DATASET_STATE_PUBLISHED);
  input.set_version(99);
  input.set_created_by("someone-else");
  auto created = catalogue_->Create(input, "alice");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->state(), v1::DATASET_STATE_DRAFT);
  EXPECT_EQ(created->version(), 1);
  EXPECT_EQ(created->created_by(), "alice");
  EXPECT_EQ(created->create_time().seconds(), 1790000000);
  auto got = catalogue_->Get("waste-containers");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->title(), input.title());
}

TEST_P(CatalogueTest, UpdateWithMaskChangesOnlyNamedFields) {
  auto created = catalogue_->Create(Sample("masked"), "alice");
  ASSERT_TRUE(created.ok());
  v1::Dataset change = *created;
  change.set_title("Ny tittel");
  change.set_description("Skal ikke lagres");
  clock_.Advance(absl::Minutes(5));
  auto updated = catalogue_->Update(change, Mask({"title"}), "bob");
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->title(), "Ny tittel");
  EXPECT_EQ(updated->description(), created->description());
  EXPECT_EQ(updated->version(), 2);
  EXPECT_EQ(updated->updated_by(), "bob");
  EXPECT_EQ(updated->created_by(), "alice");
  EXPECT_EQ(updated->update_time().seconds(), 1790000300);
}

TEST_P(CatalogueTest, UpdateRefusesMaskOnManagedFields) {
  auto created = catalogue_->Create(Sample("managed"), "alice");
  ASSERT_TRUE(created.ok());
  for (const char* path : {"name", "state", "version", "resources", "no_such_field"}) {
    auto updated = catalogue_->Update(*created, Mask({path}), "bob");
    EXPECT_EQ(updated.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_TRUE(absl::StrContains(updated.status().message(), "update_mask")) << path;
  }
}

TEST_P(CatalogueTest, ResourceUpdateRefusesPathsBelowScalarFields) {
  ASSERT_TRUE(catalogue_->Create(Sample("resource-mask"), "alice").ok());
  v1::Resource r;
  r.set_title("CSV");
  r.set_format("CSV");
  r.set_access_url("https://data.example.no/a.csv");
  auto added = catalogue_->AddResource("resource-mask", r, 0, "alice");
  ASSERT_TRUE(added.ok()) << added.status();
  v1::Resource change;
  change.set_id(added->id());
  auto updated = catalogue_->UpdateResource("resource-mask", change, Mask({"title.x"}), 0, "bob");
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(updated.status().message(), "title.x")) << updated.status();
  EXPECT_EQ(catalogue_->Get("resource-mask")->version(), 2);
}

TEST_P(CatalogueTest, UpdateWithStaleVersionIsAborted) {
  auto created = catalogue_->Create(Sample("stale"), "alice");
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(catalogue_->Update(*created, Mask({"title"}), "bob").ok());
  auto stale = catalogue_->Update(*created, Mask({"title"}), "carol");
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(absl::StrContains(stale.status().message(), "version 2"));
}

TEST_P(CatalogueTest, UpdateNeedsTheVersionRead) {
  v1::Dataset no_version = Sample("no-version");
  ASSERT_TRUE(catalogue_->Create(no_version, "alice").ok());
  auto updated = catalogue_->Update(no_version, Mask({"title"}), "bob");
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(updated.status().message(), "dataset.version"));
}

TEST_P(CatalogueTest, InvalidUpdateLeavesTheDatasetUnchanged) {
  auto created = catalogue_->Create(Sample("invalid-update"), "alice");
  ASSERT_TRUE(created.ok());
  v1::Dataset change = *created;
  change.clear_title();
  EXPECT_EQ(catalogue_->Update(change, Mask({"title"}), "bob").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto got = catalogue_->Get("invalid-update");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version(), 1);
  EXPECT_EQ(got->title(), created->title());
}

TEST_P(CatalogueTest, OpenDatasetPublishesWithoutRiskAssessment) {
  ASSERT_TRUE(catalogue_->Create(Sample("open-data"), "alice").ok());
  auto published = catalogue_->Publish("open-data", 0, "alice");
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->state(), v1::DATASET_STATE_PUBLISHED);
  EXPECT_EQ(published->publish_time().seconds(), 1790000000);
}

TEST_P(CatalogueTest, InternalDatasetNeedsRiskAssessmentToPublish) {
  v1::Dataset d = Sample("internal-data");
  d.set_classification(CLASSIFICATION_INTERNAL);
  ASSERT_TRUE(catalogue_->Create(d, "alice").ok());
  auto refused = catalogue_->Publish("internal-data", 0, "alice");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "Intern"));
  EXPECT_EQ(catalogue_->Get("internal-data")->state(), v1::DATASET_STATE_DRAFT);
}

TEST_P(CatalogueTest, PersonalDataNeedsDpiaAsWellAsRos) {
  v1::Dataset d = Sample("personal-data");
  d.set_classification(CLASSIFICATION_PROTECTED);
  d.set_contains_personal_data(true);
  d.mutable_risk_assessment()->set_reference("ROS-2026-001");
  ASSERT_TRUE(catalogue_->Create(d, "alice").ok());
  auto refused = catalogue_->Publish("personal-data", 0, "alice");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "DPIA"));
}

TEST_P(CatalogueTest, PublishedDatasetCannotBeReclassifiedWithoutRiskAssessment) {
  ASSERT_TRUE(catalogue_->Create(Sample("reclassified"), "alice").ok());
  auto published = catalogue_->Publish("reclassified", 0, "alice");
  ASSERT_TRUE(published.ok());
  v1::Dataset change = *published;
  change.set_classification(CLASSIFICATION_INTERNAL);
  auto refused = catalogue_->Update(change, Mask({"classification"}), "bob");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(CatalogueTest, PublishWithStaleExpectedVersionIsAborted) {
  ASSERT_TRUE(catalogue_->Create(Sample("publish-stale"), "alice").ok());
  EXPECT_EQ(catalogue_->Publish("publish-stale", 7, "alice").status().code(),
            absl::StatusCode::kAborted);
}

TEST_P(CatalogueTest, RetiredDatasetIsReadOnly) {
  auto created = catalogue_->Create(Sample("retired"), "alice");
  ASSERT_TRUE(created.ok());
  auto retired = catalogue_->Retire("retired", 0, "replaced by v2", "alice");
  ASSERT_TRUE(retired.ok());
  EXPECT_EQ(retired->state(), v1::DATASET_STATE_RETIRED);
  EXPECT_EQ(catalogue_->Update(*retired, Mask({"title"}), "bob").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalogue_->Publish("retired", 0, "bob").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalogue_->Delete("retired", 0, "bob").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(CatalogueTest, HistoryNamesChangedFieldsNewestFirstAndPages) {
  auto created = catalogue_->Create(Sample("history"), "alice");
  ASSERT_TRUE(created.ok());
  v1::Dataset change = *created;
  for (int i = 0; i < 4; ++i) {
    change.add_keywords("k" + std::to_string(i));
    auto updated = catalogue_->Update(change, Mask({"keywords"}), "bob");
    ASSERT_TRUE(updated.ok()) << updated.status();
    change = *updated;
  }
  v1::ListDatasetHistoryRequest request;
  request.set_name("history");
  request.set_page_size(3);
  auto first = catalogue_->History(request);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->changes_size(), 3);
  EXPECT_EQ(first->changes(0).version(), 5);
  EXPECT_EQ(first->changes(0).changed_fields(0), "keywords");
  ASSERT_FALSE(first->next_page_token().empty());
  request.set_page_token(first->next_page_token());
  auto second = catalogue_->History(request);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->changes_size(), 2);
  EXPECT_EQ(second->changes(1).version(), 1);
  EXPECT_EQ(second->changes(1).action(), "created");
  EXPECT_TRUE(second->next_page_token().empty());
}

TEST_P(CatalogueTest, HistoryOfUnknownDatasetIsNotFound) {
  v1::ListDatasetHistoryRequest request;
  request.set_name("never-created");
  EXPECT_EQ(catalogue_->History(request).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CatalogueTest, ResourcesGetIdsAndMediaTypesAndBumpTheVersion) {
  ASSERT_TRUE(catalogue_->Create(Sample("with-resources"), "alice").ok());
  v1::Resource r;
  r.set_title("Fyllingsgrad som CSV");
  r.set_format("CSV");
  r.set_access_url("https://data.example.no/fill.csv");
  auto added = catalogue_->AddResource("with-resources", r, 1, "alice");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_FALSE(added->id().empty());
  EXPECT_EQ(added->media_type(), "text/csv");
  EXPECT_EQ(catalogue_->Get("with-resources")->version(), 2);

  v1::Resource change;
  change.set_id(added->id());
  change.set_title("Ny tittel");
  auto updated = catalogue_->UpdateResource("with-resources", change, Mask({"title"}), 2, "bob");
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->title(), "Ny tittel");
  EXPECT_EQ(updated->format(), "CSV");

  EXPECT_EQ(catalogue_->RemoveResource("with-resources", "nope", 0, "bob").code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(catalogue_->RemoveResource("with-resources", added->id(), 3, "bob").ok());
  EXPECT_EQ(catalogue_->ListResources("with-resources")->resources_size(), 0);
  EXPECT_EQ(catalogue_->Get("with-resources")->version(), 4);
}

TEST_P(CatalogueTest, InvalidResourceIsRefusedNamingTheField) {
  ASSERT_TRUE(catalogue_->Create(Sample("bad-resource"), "alice").ok());
  v1::Resource r;
  r.set_title("Uten adresse");
  r.set_format("CSV");
  auto added = catalogue_->AddResource("bad-resource", r, 0, "alice");
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(added.status().message(), "resource.")) << added.status();
  EXPECT_EQ(catalogue_->Get("bad-resource")->version(), 1);
}

TEST_P(CatalogueTest, ForeignPageTokensAreRefused) {
  v1::ListDatasetsRequest list;
  list.set_page_token("not-a-token");
  EXPECT_EQ(catalogue_->List(list).status().code(), absl::StatusCode::kInvalidArgument);
  v1::SearchDatasetsRequest search;
  search.set_page_token("bjpzb21ldGhpbmc");  // "n:something": a list token, not a search one
  EXPECT_EQ(catalogue_->Search(search).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(CatalogueTest, ListPagesCoverEveryDatasetOnce) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(catalogue_->Create(Sample("paged-" + std::to_string(i)), "alice").ok());
  }
  v1::ListDatasetsRequest request;
  request.set_page_size(3);
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto response = catalogue_->List(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->total_size(), 7);
    for (const auto& d : response->datasets()) seen.push_back(d.name());
    if (response->next_page_token().empty()) break;
    request.set_page_token(response->next_page_token());
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST_P(CatalogueTest, ExportContainsPublishedOpenDatasetsOnly) {
  ASSERT_TRUE(catalogue_->Create(Sample("exported"), "alice").ok());
  ASSERT_TRUE(catalogue_->Publish("exported", 0, "alice").ok());
  v1::Dataset internal = Sample("internal-published");
  internal.set_classification(CLASSIFICATION_INTERNAL);
  internal.mutable_risk_assessment()->set_reference("ROS-1");
  ASSERT_TRUE(catalogue_->Create(internal, "alice").ok());
  ASSERT_TRUE(catalogue_->Publish("internal-published", 0, "alice").ok());
  auto exported = catalogue_->Export(v1::EXPORT_FORMAT_TURTLE);
  ASSERT_TRUE(exported.ok());
  EXPECT_EQ(exported->dataset_count(), 1);
  EXPECT_TRUE(absl::StrContains(exported->content(), "datasets/exported>"));
  EXPECT_FALSE(absl::StrContains(exported->content(), "internal-published"));
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
