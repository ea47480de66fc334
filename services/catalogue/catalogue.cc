#include "services/catalogue/catalogue.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>

#include <google/protobuf/util/field_mask_util.h>
#include <google/protobuf/util/time_util.h>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "services/catalogue/validation.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby::catalogue {
namespace {

using google::protobuf::FieldMask;
using google::protobuf::util::FieldMaskUtil;
using smartcity::common::v1::Classification;

constexpr int32_t kDefaultListPageSize = 50;
constexpr int32_t kMaxListPageSize = 500;
constexpr int32_t kDefaultSearchPageSize = 20;
constexpr int32_t kMaxSearchPageSize = 100;
constexpr size_t kMaxQueryBytes = 500;
constexpr size_t kMaxReasonBytes = 2000;
// Datasets read from the store per query when the search index is loaded or refreshed.
constexpr int32_t kIndexLoadPage = 500;

// Fields a caller may set on create and change on update. Everything else is managed here:
// name is the identity, resources have their own RPCs, state changes through publish/retire.
const std::set<std::string>& MutableFields() {
  static const auto* fields = new std::set<std::string>{
      "title", "description", "owner", "contact_point", "license", "classification",
      "contains_personal_data", "themes", "keywords", "spatial", "temporal",
      "update_frequency", "fields", "risk_assessment"};
  return *fields;
}

const std::set<std::string>& ManagedFields() {
  static const auto* fields = new std::set<std::string>{
      "version", "create_time", "update_time", "created_by", "updated_by", "publish_time"};
  return *fields;
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = absl::ToUnixMicros(t);
  ts.set_seconds(micros / 1000000);
  ts.set_nanos(static_cast<int32_t>((micros % 1000000) * 1000));
  return ts;
}

std::string ClassificationName(Classification c) {
  switch (c) {
    case smartcity::common::v1::CLASSIFICATION_OPEN: return "Åpen";
    case smartcity::common::v1::CLASSIFICATION_INTERNAL: return "Intern";
    case smartcity::common::v1::CLASSIFICATION_PROTECTED: return "Beskyttet";
    case smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED: return "Strengt beskyttet";
    default: return "unclassified";
  }
}

absl::Status CheckName(const std::string& name, absl::string_view field) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (!IsValidDatasetName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": \"", absl::CHexEscape(name.substr(0, 120)),
        "\" is not a dataset name (2–100 characters of a-z, 0-9 and '-', starting with a "
        "letter)"));
  }
  return absl::OkStatus();
}

absl::Status CheckVersion(int64_t expected, const v1::Dataset& current) {
  if (expected < 0) return absl::InvalidArgumentError("version: must not be negative");
  if (expected != 0 && expected != current.version()) {
    return absl::AbortedError(absl::StrCat(
        "dataset ", current.name(), " is at version ", current.version(), ", not ", expected,
        ": someone changed it since you read it; read it again and retry"));
  }
  return absl::OkStatus();
}

// Page tokens are opaque to callers; inside they are "n:<name>" (keyset, list), "o:<offset>"
// (search) or "v:<version>" (history), base64url-encoded.
std::string MakeToken(absl::string_view kind, absl::string_view value) {
  return absl::WebSafeBase64Escape(absl::StrCat(kind, ":", value));
}

absl::StatusOr<std::string> ReadToken(const std::string& token, absl::string_view kind) {
  std::string raw;
  if (token.size() > 1000 || !absl::WebSafeBase64Unescape(token, &raw) ||
      !absl::StartsWith(raw, absl::StrCat(kind, ":"))) {
    return absl::InvalidArgumentError(
        "page_token: not a token from this listing; pass the next_page_token you were given, "
        "or nothing for the first page");
  }
  return raw.substr(kind.size() + 1);
}

absl::StatusOr<int32_t> PageSize(int32_t requested, int32_t default_size, int32_t max_size) {
  if (requested < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  if (requested == 0) return default_size;
  return std::min(requested, max_size);
}

// Every path must start with a field the caller may change, and name a field that exists in
// `Message` all the way down ("owner.department" yes, "title.x" no).
template <typename Message>
absl::Status CheckMask(const FieldMask& mask, const std::set<std::string>& allowed,
                       absl::string_view what) {
  for (const std::string& path : mask.paths()) {
    const std::string top = path.substr(0, path.find('.'));
    if (!allowed.count(top)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: \"", absl::CHexEscape(path.substr(0, 100)), "\" cannot be changed on a ",
          what));
    }
    FieldMask one;
    one.add_paths(path);
    if (!FieldMaskUtil::IsValidFieldMask<Message>(one)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: \"", absl::CHexEscape(path.substr(0, 100)), "\" is not a field of a ",
          what));
    }
  }
  return absl::OkStatus();
}

std::string NewResourceId() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("r%08x", absl::Uniform<uint32_t>(gen));
}

void FillFacets(const std::vector<std::pair<std::string, int32_t>>& counts,
                google::protobuf::RepeatedPtrField<v1::FacetCount>* out) {
  for (const auto& [value, count] : counts) {
    auto* facet = out->Add();
    facet->set_value(value);
    facet->set_count(count);
  }
}

absl::StatusOr<ListFilter> FilterFrom(const std::string& owner, Classification classification,
                                      v1::DatasetState state, v1::Theme theme) {
  if (!smartcity::common::v1::Classification_IsValid(classification)) {
    return absl::InvalidArgumentError("classification: unknown value");
  }
  if (!v1::DatasetState_IsValid(state)) return absl::InvalidArgumentError("state: unknown value");
  if (!v1::Theme_IsValid(theme)) return absl::InvalidArgumentError("theme: unknown value");
  if (owner.size() > kMaxShortTextBytes) {
    return absl::InvalidArgumentError("owner_organization: too long");
  }
  ListFilter filter;  // visibility: the caller's, set by the listing
  filter.owner_organization = owner;
  filter.classification = classification;
  filter.state = state;
  filter.theme = theme;
  return filter;
}

// Whether a dataset loaded for a page of search hits still matches the listing's filter (it may
// have changed since it was indexed).
bool MatchesFilter(const ListFilter& f, const v1::Dataset& d) {
  if (!f.owner_organization.empty() && d.owner().organization() != f.owner_organization) {
    return false;
  }
  if (f.classification != smartcity::common::v1::CLASSIFICATION_UNSPECIFIED &&
      d.classification() != f.classification) {
    return false;
  }
  if (f.state != v1::DATASET_STATE_UNSPECIFIED && d.state() != f.state) return false;
  if (f.theme != v1::THEME_UNSPECIFIED &&
      std::find(d.themes().begin(), d.themes().end(), f.theme) == d.themes().end()) {
    return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> ChangedFields(const v1::Dataset& before, const v1::Dataset& after) {
  std::vector<std::string> changed;
  const auto* descriptor = v1::Dataset::descriptor();
  const auto* reflection = v1::Dataset::GetReflection();
  v1::Dataset a = before, b = after;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const auto* field = descriptor->field(i);
    if (ManagedFields().count(field->name())) continue;
    v1::Dataset only_a, only_b;
    reflection->SwapFields(&a, &only_a, {field});
    reflection->SwapFields(&b, &only_b, {field});
    std::string sa, sb;
    {
      google::protobuf::io::StringOutputStream out_a(&sa), out_b(&sb);
      google::protobuf::io::CodedOutputStream coded_a(&out_a), coded_b(&out_b);
      coded_a.SetSerializationDeterministic(true);
      coded_b.SetSerializationDeterministic(true);
      only_a.SerializeToCodedStream(&coded_a);
      only_b.SerializeToCodedStream(&coded_b);
    }
    if (sa != sb) changed.push_back(field->name());
  }
  return changed;
}

absl::Status CheckPublishable(const v1::Dataset& d) {
  const bool needs_ros = d.classification() != smartcity::common::v1::CLASSIFICATION_OPEN ||
                         d.contains_personal_data();
  if (needs_ros && d.risk_assessment().reference().empty()) {
    const std::string why =
        d.contains_personal_data()
            ? "it contains personal data"
            : absl::StrCat("it is classified ", ClassificationName(d.classification()),
                           ", not Åpen");
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset ", d.name(), " cannot be published: ", why,
        ", so a risk assessment (ROS) must be recorded first (risk_assessment.reference)"));
  }
  if (d.contains_personal_data() && d.risk_assessment().dpia_reference().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset ", d.name(), " cannot be published: it contains personal data, so a data "
        "protection impact assessment (DPIA) must be recorded first "
        "(risk_assessment.dpia_reference)"));
  }
  return absl::OkStatus();
}

Catalogue::Catalogue(CatalogueStore* store, const Clock* clock, DcatCatalogueInfo dcat)
    : store_(store), clock_(clock), dcat_(std::move(dcat)) {}

void Catalogue::IndexWritten(const v1::Dataset& dataset, bool created) {
  absl::MutexLock lock(&feed_mu_);
  if (!index_.Upsert(dataset) && created) {
    index_.Remove(dataset.name());
    index_.Upsert(dataset);
  }
  written_.insert(dataset.name());
}

void Catalogue::IndexDeleted(const std::string& name) {
  absl::MutexLock lock(&feed_mu_);
  index_.Remove(name);
  written_.insert(name);
}

absl::Status Catalogue::LoadSearchIndex() {
  absl::MutexLock refresh(&refresh_mu_);
  const absl::Time start = absl::Now();
  // One vector of every dataset (Rebuild's input); the store is read a page at a time, so its
  // rows are never all held as well.
  std::vector<v1::Dataset> all;
  std::string after;
  for (;;) {
    ASSIGN_OR_RETURN(std::vector<v1::Dataset> page, store_->AllDatasets(after, kIndexLoadPage));
    if (page.empty()) break;
    after = page.back().name();
    const bool last = static_cast<int32_t>(page.size()) < kIndexLoadPage;
    all.insert(all.end(), std::make_move_iterator(page.begin()),
               std::make_move_iterator(page.end()));
    if (last) break;
  }
  const auto loaded = static_cast<int64_t>(all.size());
  index_.Rebuild(std::move(all));
  index_loaded_.store(true, std::memory_order_release);
  // The pages are not one snapshot, and writes made here while they were read were replaced by
  // Rebuild: one reconcile fixes both.
  ASSIGN_OR_RETURN(SearchIndexRefresh fixed, ReconcileLocked());
  log::Info("search index loaded",
            {{"datasets", static_cast<int64_t>(index_.size())},
             {"read", loaded},
             {"reconciled", fixed.loaded + fixed.removed},
             {"duration_ms", absl::ToDoubleMilliseconds(absl::Now() - start)}});
  return absl::OkStatus();
}

absl::StatusOr<SearchIndexRefresh> Catalogue::RefreshSearchIndex() {
  if (!index_loaded_.load(std::memory_order_acquire)) {
    RETURN_IF_ERROR(LoadSearchIndex());
    SearchIndexRefresh refresh;
    refresh.loaded = refresh.datasets = static_cast<int64_t>(index_.size());
    return refresh;
  }
  absl::MutexLock refresh(&refresh_mu_);
  ASSIGN_OR_RETURN(const int64_t generation, store_->Generation());
  if (generation == reconciled_generation_) {
    SearchIndexRefresh unchanged;
    unchanged.unchanged = true;
    unchanged.datasets = static_cast<int64_t>(index_.size());
    return unchanged;
  }
  // Read before the reconcile: a write that lands during it moves the generation again, so the
  // next refresh looks once more.
  ASSIGN_OR_RETURN(SearchIndexRefresh refreshed, ReconcileLocked());
  reconciled_generation_ = generation;
  return refreshed;
}

absl::StatusOr<SearchIndexRefresh> Catalogue::ReconcileLocked() {
  {
    absl::MutexLock lock(&feed_mu_);
    written_.clear();
  }
  // The index first, then the store: whatever the index held was in the store before the
  // store is read, so a name missing from the store was deleted, not created since.
  const std::vector<DatasetVersion> indexed = index_.Versions();  // by name
  ASSIGN_OR_RETURN(std::vector<DatasetVersion> stored, store_->Versions());
  std::sort(stored.begin(), stored.end(),
            [](const DatasetVersion& a, const DatasetVersion& b) { return a.name < b.name; });
  SearchIndexRefresh result;
  result.datasets = static_cast<int64_t>(stored.size());

  std::vector<std::string> changed, gone;
  size_t i = 0;
  for (const DatasetVersion& s : stored) {
    while (i < indexed.size() && indexed[i].name < s.name) gone.push_back(indexed[i++].name);
    if (i < indexed.size() && indexed[i].name == s.name) {
      if (indexed[i].version != s.version) changed.push_back(s.name);
      ++i;
    } else {
      changed.push_back(s.name);
    }
  }
  while (i < indexed.size()) gone.push_back(indexed[i++].name);

  auto remove = [&](const std::string& name) {
    absl::MutexLock lock(&feed_mu_);
    if (!written_.contains(name) && index_.Remove(name)) ++result.removed;
  };
  for (const std::string& name : gone) remove(name);
  for (size_t begin = 0; begin < changed.size(); begin += kIndexLoadPage) {
    const std::vector<std::string> names(
        changed.begin() + static_cast<std::ptrdiff_t>(begin),
        changed.begin() + static_cast<std::ptrdiff_t>(
                              std::min(changed.size(), begin + kIndexLoadPage)));
    ASSIGN_OR_RETURN(std::vector<v1::Dataset> loaded, store_->GetMany(names));
    absl::flat_hash_set<std::string> found;
    for (const v1::Dataset& d : loaded) {
      found.insert(d.name());
      absl::MutexLock lock(&feed_mu_);
      if (written_.contains(d.name())) continue;  // written here since: newer than `d`
      // A lower version than the index's is a dataset deleted and created again elsewhere.
      if (!index_.Upsert(d)) {
        index_.Remove(d.name());
        index_.Upsert(d);
      }
      ++result.loaded;
    }
    for (const std::string& name : names) {
      if (!found.contains(name)) remove(name);  // deleted since the versions were read
    }
  }
  return result;
}

absl::StatusOr<v1::Dataset> Catalogue::Create(const auth::Caller& caller,
                                              const v1::Dataset& input) {
  const std::string& actor = caller.subject();
  RETURN_IF_ERROR(CheckName(input.name(), "dataset.name"));
  if (input.resources_size() > kMaxResources) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.resources: at most ", kMaxResources, " resources"));
  }
  v1::Dataset dataset;
  dataset.set_name(input.name());
  for (const std::string& field : MutableFields()) {
    FieldMask mask;
    mask.add_paths(field);
    FieldMaskUtil::MergeMessageTo(input, mask, FieldMaskUtil::MergeOptions(), &dataset);
  }
  // Resources may come with the dataset (a file or -f dataset.yaml); their ids are ours.
  std::set<std::string> ids;
  for (const v1::Resource& resource : input.resources()) {
    v1::Resource* r = dataset.add_resources();
    *r = resource;
    do r->set_id(NewResourceId()); while (!ids.insert(r->id()).second);
    if (r->media_type().empty()) r->set_media_type(MediaTypeForFormat(r->format()));
  }
  RETURN_IF_ERROR(ValidateDataset(dataset));
  dataset.set_state(v1::DATASET_STATE_DRAFT);
  // Validation reveals nothing stored; the decision comes before the name is looked up, so
  // ALREADY_EXISTS is only ever told to callers who may create the dataset.
  RETURN_IF_ERROR(caller.Authorize(auth::Action::kCreate, ResourceOf(dataset)));
  const auto now = ToProto(clock_->Now());
  dataset.set_version(1);
  *dataset.mutable_create_time() = now;
  *dataset.mutable_update_time() = now;
  dataset.set_created_by(actor);
  dataset.set_updated_by(actor);

  RETURN_IF_ERROR(store_->InTransaction([&](CatalogueStore::Tx& tx) -> absl::Status {
    absl::Status inserted = tx.Insert(dataset);
    if (absl::IsAlreadyExists(inserted)) {
      return absl::AlreadyExistsError(
          absl::StrCat("dataset.name: a dataset named ", dataset.name(), " exists already"));
    }
    RETURN_IF_ERROR(inserted);
    HistoryEntry entry{1, clock_->Now(), actor, "created", ChangedFields(v1::Dataset(), dataset),
                       dataset};
    return tx.AppendHistory(dataset.name(), entry);
  }));
  IndexWritten(dataset, /*created=*/true);
  return dataset;
}

absl::StatusOr<v1::Dataset> Catalogue::Get(const auth::Caller& caller, const std::string& name) {
  RETURN_IF_ERROR(CheckName(name, "name"));
  ASSIGN_OR_RETURN(v1::Dataset dataset, store_->Get(name));
  RETURN_IF_ERROR(caller.Authorize(auth::Action::kRead, ResourceOf(dataset)));
  return dataset;
}

absl::StatusOr<v1::Dataset> Catalogue::Change(
    const auth::Caller& caller, const std::string& name, int64_t expected_version,
    auth::Action action, const std::string& history_action,
    const std::function<absl::Status(v1::Dataset&)>& change) {
  const std::string& actor = caller.subject();
  v1::Dataset result;
  RETURN_IF_ERROR(store_->InTransaction([&](CatalogueStore::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Dataset current, tx.Get(name));
    const auth::ResourceRef before = ResourceOf(current);
    RETURN_IF_ERROR(caller.Authorize(action, before));
    RETURN_IF_ERROR(CheckVersion(expected_version, current));
    v1::Dataset next = current;
    RETURN_IF_ERROR(change(next));
    RETURN_IF_ERROR(ValidateDataset(next));
    // No moving a dataset out of your reach (a class above your clearance) or into an
    // organisation you do not own: the caller must be allowed the action on the result too.
    const auth::ResourceRef after = ResourceOf(next);
    if (after.classification != before.classification ||
        after.owner_organization != before.owner_organization) {
      RETURN_IF_ERROR(caller.Authorize(action, after));
    }
    if (next.state() == v1::DATASET_STATE_PUBLISHED) RETURN_IF_ERROR(CheckPublishable(next));
    next.set_version(current.version() + 1);
    *next.mutable_update_time() = ToProto(clock_->Now());
    next.set_updated_by(actor);
    RETURN_IF_ERROR(tx.Replace(next));
    HistoryEntry entry{next.version(), clock_->Now(), actor, history_action,
                       ChangedFields(current, next), next};
    RETURN_IF_ERROR(tx.AppendHistory(name, entry));
    result = std::move(next);
    return absl::OkStatus();
  }));
  IndexWritten(result, /*created=*/false);
  return result;
}

absl::StatusOr<v1::Dataset> Catalogue::Update(const auth::Caller& caller,
                                              const v1::Dataset& input, const FieldMask& mask) {
  RETURN_IF_ERROR(CheckName(input.name(), "dataset.name"));
  if (input.version() <= 0) {
    return absl::InvalidArgumentError(
        "dataset.version: required — the version you read, so that concurrent changes are not "
        "lost");
  }
  RETURN_IF_ERROR(CheckMask<v1::Dataset>(mask, MutableFields(), "dataset"));
  return Change(caller, input.name(), input.version(), auth::Action::kChangeMetadata, "updated",
                [&](v1::Dataset& d) -> absl::Status {
                  if (d.state() == v1::DATASET_STATE_RETIRED) {
                    return absl::FailedPreconditionError(absl::StrCat(
                        "dataset ", d.name(), " is retired, and retired datasets cannot change"));
                  }
                  FieldMaskUtil::MergeOptions options;
                  options.set_replace_message_fields(true);
                  options.set_replace_repeated_fields(true);
                  FieldMask effective = mask;
                  if (effective.paths().empty()) {
                    for (const auto& f : MutableFields()) effective.add_paths(f);
                  }
                  FieldMaskUtil::MergeMessageTo(input, effective, options, &d);
                  return absl::OkStatus();
                });
}

absl::StatusOr<v1::ListDatasetsResponse> Catalogue::List(const auth::Caller& caller,
                                                          const v1::ListDatasetsRequest& request) {
  ASSIGN_OR_RETURN(int32_t limit,
                   PageSize(request.page_size(), kDefaultListPageSize, kMaxListPageSize));
  ASSIGN_OR_RETURN(ListFilter filter,
                   FilterFrom(request.owner_organization(), request.classification(),
                              request.state(), request.theme()));
  std::string after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, ReadToken(request.page_token(), "n"));
  }
  filter.visibility = VisibilityFor(caller.principal());
  caller.MarkChecked();  // the store returns and counts only what the caller may read
  ASSIGN_OR_RETURN(ListPage page, store_->List(filter, after, limit));
  v1::ListDatasetsResponse response;
  for (auto& d : page.datasets) {
    // The store already left out what the caller may not read (visibility.h proves it equal to
    // the policy); asking again per dataset above Åpen names each one in the audit record.
    if (d.classification() != smartcity::common::v1::CLASSIFICATION_OPEN) {
      (void)caller.Allows(auth::Action::kRead, ResourceOf(d));
    }
    *response.add_datasets() = std::move(d);
  }
  if (!page.next_after_name.empty()) {
    response.set_next_page_token(MakeToken("n", page.next_after_name));
  }
  response.set_total_size(page.total_size);
  return response;
}

absl::StatusOr<v1::SearchDatasetsResponse> Catalogue::Search(
    const auth::Caller& caller, const v1::SearchDatasetsRequest& request) {
  if (request.query().size() > kMaxQueryBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("query: at most ", kMaxQueryBytes, " bytes; use fewer words"));
  }
  ASSIGN_OR_RETURN(int32_t limit,
                   PageSize(request.page_size(), kDefaultSearchPageSize, kMaxSearchPageSize));
  ASSIGN_OR_RETURN(ListFilter filter,
                   FilterFrom(request.owner_organization(), request.classification(),
                              request.state(), request.theme()));
  int32_t offset = 0;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(std::string raw, ReadToken(request.page_token(), "o"));
    if (!absl::SimpleAtoi(raw, &offset) || offset < 0) {
      return absl::InvalidArgumentError("page_token: not a token from this search");
    }
  }
  if (!index_loaded_.load(std::memory_order_acquire)) {
    return absl::UnavailableError("search is starting up (its index is loading); retry shortly");
  }
  filter.visibility = VisibilityFor(caller.principal());
  caller.MarkChecked();  // hits, total and facets cover only what the caller may read
  // The index ranks and counts; the page's documents come from the store, in one query.
  ASSIGN_OR_RETURN(SearchIndexResult result,
                   index_.Search(SearchQuery{request.query(), filter, offset, limit}));
  std::vector<std::string> names;
  names.reserve(result.hits.size());
  for (const SearchIndexHit& hit : result.hits) names.push_back(hit.name);
  ASSIGN_OR_RETURN(std::vector<v1::Dataset> loaded, store_->GetMany(names));
  absl::flat_hash_map<std::string, v1::Dataset*> by_name;
  for (v1::Dataset& d : loaded) by_name.emplace(d.name(), &d);
  v1::SearchDatasetsResponse response;
  for (const SearchIndexHit& index_hit : result.hits) {
    auto it = by_name.find(index_hit.name);
    if (it == by_name.end()) continue;  // deleted since it was indexed
    v1::Dataset& dataset = *it->second;
    // The stored dataset may be newer than the one indexed (written elsewhere, not refreshed
    // yet): it is returned as stored, if it still matches and the caller may still read it (a
    // class raised or a dataset retired meanwhile must not leak).
    if (!MatchesFilter(filter, dataset) ||
        !caller.Allows(auth::Action::kRead, ResourceOf(dataset))) {
      continue;
    }
    auto* hit = response.add_hits();
    *hit->mutable_dataset() = std::move(dataset);
    hit->set_score(index_hit.score);
  }
  response.set_total_size(result.total_size);
  // Pages follow the index's ranking, so a hit dropped above does not shift the next page.
  const int64_t page_end = int64_t{offset} + static_cast<int64_t>(result.hits.size());
  if (page_end < result.total_size && !result.hits.empty()) {
    response.set_next_page_token(MakeToken("o", absl::StrCat(page_end)));
  }
  FillFacets(result.facets.themes, response.mutable_theme_facets());
  FillFacets(result.facets.owners, response.mutable_owner_facets());
  FillFacets(result.facets.formats, response.mutable_format_facets());
  FillFacets(result.facets.classifications, response.mutable_classification_facets());
  return response;
}

absl::StatusOr<v1::Dataset> Catalogue::Publish(const auth::Caller& caller,
                                               const std::string& name,
                                               int64_t expected_version) {
  RETURN_IF_ERROR(CheckName(name, "name"));
  auto publish = [&](v1::Dataset& d) -> absl::Status {
    if (d.state() == v1::DATASET_STATE_PUBLISHED) {
      return absl::FailedPreconditionError(absl::StrCat("dataset ", name, " is published already"));
    }
    if (d.state() == v1::DATASET_STATE_RETIRED) {
      return absl::FailedPreconditionError(
          absl::StrCat("dataset ", name, " is retired and cannot be published again"));
    }
    RETURN_IF_ERROR(CheckPublishable(d));
    d.set_state(v1::DATASET_STATE_PUBLISHED);
    *d.mutable_publish_time() = ToProto(clock_->Now());
    return absl::OkStatus();
  };
  return Change(caller, name, expected_version, auth::Action::kPublish, "published", publish);
}

absl::StatusOr<v1::Dataset> Catalogue::Retire(const auth::Caller& caller,
                                              const std::string& name, int64_t expected_version,
                                              const std::string& reason) {
  RETURN_IF_ERROR(CheckName(name, "name"));
  if (reason.size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(absl::StrCat("reason: at most ", kMaxReasonBytes, " bytes"));
  }
  const std::string action = reason.empty() ? "retired" : absl::StrCat("retired: ", reason);
  auto retire = [&](v1::Dataset& d) -> absl::Status {
    if (d.state() == v1::DATASET_STATE_RETIRED) {
      return absl::FailedPreconditionError(absl::StrCat("dataset ", name, " is retired already"));
    }
    d.set_state(v1::DATASET_STATE_RETIRED);
    return absl::OkStatus();
  };
  return Change(caller, name, expected_version, auth::Action::kRetire, action, retire);
}

absl::Status Catalogue::Delete(const auth::Caller& caller, const std::string& name,
                               int64_t expected_version) {
  RETURN_IF_ERROR(CheckName(name, "name"));
  RETURN_IF_ERROR(store_->InTransaction([&](CatalogueStore::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Dataset current, tx.Get(name));
    RETURN_IF_ERROR(caller.Authorize(auth::Action::kDelete, ResourceOf(current)));
    RETURN_IF_ERROR(CheckVersion(expected_version, current));
    if (current.state() != v1::DATASET_STATE_DRAFT) {
      return absl::FailedPreconditionError(absl::StrCat(
          "dataset ", name, " is ",
          current.state() == v1::DATASET_STATE_PUBLISHED ? "published" : "retired",
          "; only drafts can be deleted (retire it instead, so its history is kept)"));
    }
    return tx.Delete(name);
  }));
  IndexDeleted(name);
  return absl::OkStatus();
}

absl::StatusOr<v1::ListDatasetHistoryResponse> Catalogue::History(
    const auth::Caller& caller, const v1::ListDatasetHistoryRequest& request) {
  RETURN_IF_ERROR(CheckName(request.name(), "name"));
  ASSIGN_OR_RETURN(int32_t limit,
                   PageSize(request.page_size(), kDefaultListPageSize, kMaxListPageSize));
  int64_t before = 0;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(std::string raw, ReadToken(request.page_token(), "v"));
    if (!absl::SimpleAtoi(raw, &before) || before <= 0) {
      return absl::InvalidArgumentError("page_token: not a token from this history");
    }
  }
  ASSIGN_OR_RETURN(v1::Dataset current, store_->Get(request.name()));
  // Earlier versions may never have been published (or may have had another class or owner
  // the caller could not read): reading history needs the draft-level read on the dataset as
  // it is now.
  auth::ResourceRef resource = ResourceOf(current);
  resource.published = false;
  RETURN_IF_ERROR(caller.Authorize(auth::Action::kRead, resource));
  ASSIGN_OR_RETURN(std::vector<HistoryEntry> entries,
                   store_->History(request.name(), before, limit + 1));
  v1::ListDatasetHistoryResponse response;
  const bool more = static_cast<int32_t>(entries.size()) > limit;
  if (more) entries.resize(limit);
  for (auto& e : entries) {
    auto* change = response.add_changes();
    change->set_version(e.version);
    *change->mutable_change_time() = ToProto(e.change_time);
    change->set_changed_by(e.changed_by);
    change->set_action(e.action);
    for (auto& f : e.changed_fields) change->add_changed_fields(f);
    *change->mutable_dataset() = std::move(e.dataset);
  }
  if (more) response.set_next_page_token(MakeToken("v", absl::StrCat(entries.back().version)));
  return response;
}

absl::StatusOr<v1::Resource> Catalogue::AddResource(const auth::Caller& caller,
                                                    const std::string& dataset_name,
                                                    const v1::Resource& input,
                                                    int64_t expected_version) {
  RETURN_IF_ERROR(CheckName(dataset_name, "dataset_name"));
  v1::Resource resource = input;
  if (resource.media_type().empty()) {
    resource.set_media_type(MediaTypeForFormat(resource.format()));
  }
  RETURN_IF_ERROR(ValidateResource(resource, "resource"));
  ASSIGN_OR_RETURN(
      v1::Dataset d,
      Change(caller, dataset_name, expected_version, auth::Action::kChangeMetadata,
             "resource_added",
             [&](v1::Dataset& d) -> absl::Status {
               if (d.state() == v1::DATASET_STATE_RETIRED) {
                 return absl::FailedPreconditionError(
                     absl::StrCat("dataset ", dataset_name, " is retired and cannot change"));
               }
               if (d.resources_size() >= kMaxResources) {
                 return absl::FailedPreconditionError(absl::StrCat(
                     "dataset ", dataset_name, " has ", kMaxResources,
                     " resources, the most one dataset can have"));
               }
               std::set<std::string> ids;
               for (const auto& r : d.resources()) ids.insert(r.id());
               do resource.set_id(NewResourceId()); while (ids.count(resource.id()));
               *d.add_resources() = resource;
               return absl::OkStatus();
             }));
  return resource;
}

absl::StatusOr<v1::Resource> Catalogue::UpdateResource(const auth::Caller& caller,
                                                       const std::string& dataset_name,
                                                       const v1::Resource& input,
                                                       const FieldMask& mask,
                                                       int64_t expected_version) {
  RETURN_IF_ERROR(CheckName(dataset_name, "dataset_name"));
  if (input.id().empty()) return absl::InvalidArgumentError("resource.id: required");
  static const auto* allowed = new std::set<std::string>{
      "title", "format", "media_type", "access_url", "ingestion_stream", "byte_size",
      "checksum_sha256", "description"};
  RETURN_IF_ERROR(CheckMask<v1::Resource>(mask, *allowed, "resource"));
  v1::Resource updated;
  RETURN_IF_ERROR(
      Change(caller, dataset_name, expected_version, auth::Action::kChangeMetadata,
             "resource_updated",
             [&](v1::Dataset& d) -> absl::Status {
               if (d.state() == v1::DATASET_STATE_RETIRED) {
                 return absl::FailedPreconditionError(
                     absl::StrCat("dataset ", dataset_name, " is retired and cannot change"));
               }
               for (auto& r : *d.mutable_resources()) {
                 if (r.id() != input.id()) continue;
                 FieldMask effective = mask;
                 if (effective.paths().empty()) {
                   for (const auto& f : *allowed) effective.add_paths(f);
                 }
                 FieldMaskUtil::MergeOptions options;
                 options.set_replace_repeated_fields(true);
                 FieldMaskUtil::MergeMessageTo(input, effective, options, &r);
                 if (r.media_type().empty()) r.set_media_type(MediaTypeForFormat(r.format()));
                 RETURN_IF_ERROR(ValidateResource(r, "resource"));
                 updated = r;
                 return absl::OkStatus();
               }
               return absl::NotFoundError(absl::StrCat("dataset ", dataset_name,
                                                       " has no resource ", input.id()));
             })
          .status());
  return updated;
}

absl::Status Catalogue::RemoveResource(const auth::Caller& caller,
                                       const std::string& dataset_name,
                                       const std::string& resource_id,
                                       int64_t expected_version) {
  RETURN_IF_ERROR(CheckName(dataset_name, "dataset_name"));
  if (resource_id.empty()) return absl::InvalidArgumentError("resource_id: required");
  return Change(caller, dataset_name, expected_version, auth::Action::kChangeMetadata,
                "resource_removed",
                [&](v1::Dataset& d) -> absl::Status {
                  if (d.state() == v1::DATASET_STATE_RETIRED) {
                    return absl::FailedPreconditionError(
                        absl::StrCat("dataset ", dataset_name, " is retired and cannot change"));
                  }
                  auto* resources = d.mutable_resources();
                  for (int i = 0; i < resources->size(); ++i) {
                    if (resources->Get(i).id() == resource_id) {
                      resources->erase(resources->begin() + i);
                      return absl::OkStatus();
                    }
                  }
                  return absl::NotFoundError(absl::StrCat(
                      "dataset ", dataset_name, " has no resource ",
                      absl::CHexEscape(resource_id.substr(0, 100))));
                })
      .status();
}

absl::StatusOr<v1::ListResourcesResponse> Catalogue::ListResources(
    const auth::Caller& caller, const std::string& dataset_name) {
  RETURN_IF_ERROR(CheckName(dataset_name, "dataset_name"));
  ASSIGN_OR_RETURN(v1::Dataset d, store_->Get(dataset_name));
  RETURN_IF_ERROR(caller.Authorize(auth::Action::kRead, ResourceOf(d)));
  v1::ListResourcesResponse response;
  *response.mutable_resources() = d.resources();
  return response;
}

absl::StatusOr<v1::ExportCatalogueResponse> Catalogue::Export(const auth::Caller& caller,
                                                              v1::ExportFormat format) {
  if (format != v1::EXPORT_FORMAT_UNSPECIFIED && format != v1::EXPORT_FORMAT_TURTLE) {
    return absl::InvalidArgumentError("format: only turtle is supported");
  }
  ASSIGN_OR_RETURN(std::vector<v1::Dataset> datasets,
                   store_->ListAll(v1::DATASET_STATE_PUBLISHED,
                                   smartcity::common::v1::CLASSIFICATION_OPEN));
  v1::ExportCatalogueResponse response;
  response.set_content_type("text/turtle; charset=utf-8");
  response.set_content(ExportDcatTurtle(datasets, dcat_));
  response.set_dataset_count(static_cast<int32_t>(datasets.size()));
  return response;
}

}  // namespace smartby::catalogue

namespace smartby::catalogue {

SearchIndexRefresher::SearchIndexRefresher(Catalogue* catalogue, absl::Duration interval)
    : thread_([this, catalogue, interval] {
        while (!stop_.WaitForNotificationWithTimeout(interval)) {
          const absl::Time start = absl::Now();
          absl::StatusOr<SearchIndexRefresh> refresh = catalogue->RefreshSearchIndex();
          if (!refresh.ok()) {
            log::Warn("search index refresh failed; the next one retries",
                      {{"error", std::string(refresh.status().message())}});
          } else {
            log::Write(log::Level::kDebug, "search index refreshed",
                       {{"loaded", refresh->loaded},
                        {"removed", refresh->removed},
                        {"datasets", refresh->datasets},
                        {"duration_ms", absl::ToDoubleMilliseconds(absl::Now() - start)}});
          }
        }
      }) {}

SearchIndexRefresher::~SearchIndexRefresher() {
  stop_.Notify();
  thread_.join();
}

}  // namespace smartby::catalogue
