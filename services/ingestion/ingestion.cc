#include "services/ingestion/ingestion.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <google/protobuf/util/time_util.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby::ingestion {
namespace {

using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;
using smartcity::common::v1::CLASSIFICATION_OPEN;

constexpr int kDefaultPageSize = 1000;
constexpr int kMaxPageSize = 10000;
constexpr int kMaxSourcesPerQuery = 5000;
constexpr int kMaxSourcePage = 1000;

int64_t MicrosOf(const Timestamp& t) { return TimeUtil::TimestampToMicroseconds(t); }
Timestamp TimestampOf(int64_t micros) { return TimeUtil::MicrosecondsToTimestamp(micros); }
Timestamp TimestampOf(absl::Time t) { return TimestampOf(absl::ToUnixMicros(t)); }
int64_t MicrosOf(const google::protobuf::Duration& d) {
  return TimeUtil::DurationToMicroseconds(d);
}

int PageSize(int32_t requested, int fallback, int max) {
  if (requested <= 0) return fallback;
  return std::min<int>(requested, max);
}

absl::Status CheckSourceId(absl::string_view id, absl::string_view field) {
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": a source id is 1 to 128 characters, got ", id.size()));
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": \"", absl::CHexEscape(id),
          "\" has characters a source id cannot have; use a-z, 0-9, '-', '_' and '.'"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSourceFields(const v1::Source& source) {
  if (source.name().size() > 200) {
    return absl::InvalidArgumentError("source.name: at most 200 characters");
  }
  if (source.has_position()) {
    const auto& p = source.position();
    if (!(p.latitude() >= -90 && p.latitude() <= 90)) {
      return absl::InvalidArgumentError(
          absl::StrCat("source.position.latitude: must be between -90 and 90, got ", p.latitude()));
    }
    if (!(p.longitude() >= -180 && p.longitude() <= 180)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "source.position.longitude: must be between -180 and 180, got ", p.longitude()));
    }
  }
  if (source.metadata_size() > 50) {
    return absl::InvalidArgumentError("source.metadata: at most 50 entries");
  }
  for (const auto& [key, value] : source.metadata()) {
    if (key.empty() || key.size() > 128 || value.size() > 1024) {
      return absl::InvalidArgumentError(absl::StrCat(
          "source.metadata: keys are 1 to 128 characters and values at most 1024 (key \"",
          absl::CHexEscape(key.substr(0, 64)), "\")"));
    }
  }
  if (source.has_expected_interval()) {
    const int64_t us = MicrosOf(source.expected_interval());
    if (us < 0 || us > int64_t{7} * 24 * 3600 * 1000000) {
      return absl::InvalidArgumentError(
          "source.expected_interval: must be between 0 (unknown) and 7 days");
    }
  }
  return absl::OkStatus();
}

std::string EncodeCursor(int64_t time_us, const std::string& source_id) {
  return absl::WebSafeBase64Escape(absl::StrCat(time_us, "|", source_id));
}

absl::Status DecodeCursor(const std::string& token, int64_t* time_us, std::string* source_id) {
  std::string raw;
  std::pair<std::string, std::string> parts;
  if (!absl::WebSafeBase64Unescape(token, &raw) ||
      (parts = absl::StrSplit(raw, absl::MaxSplits('|', 1)), false) ||
      !absl::SimpleAtoi(parts.first, time_us)) {
    return absl::InvalidArgumentError(
        "page_token: not a token this service gave out; start again without it");
  }
  *source_id = parts.second;
  return absl::OkStatus();
}

v1::ReadingResult Rejected(v1::RejectReason reason, std::string field, std::string message) {
  v1::ReadingResult result;
  result.set_outcome(v1::READING_OUTCOME_REJECTED);
  result.set_reason(reason);
  result.set_field(std::move(field));
  result.set_message(std::move(message));
  return result;
}

absl::string_view ReasonLabel(v1::RejectReason reason) {
  switch (reason) {
    case v1::REJECT_REASON_UNKNOWN_SOURCE: return "unknown_source";
    case v1::REJECT_REASON_UNKNOWN_FIELD: return "unknown_field";
    case v1::REJECT_REASON_WRONG_TYPE: return "wrong_type";
    case v1::REJECT_REASON_OUT_OF_RANGE: return "out_of_range";
    case v1::REJECT_REASON_FUTURE_TIMESTAMP: return "future_timestamp";
    case v1::REJECT_REASON_MISSING_TIME: return "missing_time";
    case v1::REJECT_REASON_SOURCE_DISABLED: return "source_disabled";
    case v1::REJECT_REASON_NO_VALUES: return "no_values";
    case v1::REJECT_REASON_DATASET_UNAVAILABLE: return "dataset_unavailable";
    case v1::REJECT_REASON_NOT_ALLOWED: return "not_allowed";
    case v1::REJECT_REASON_MALFORMED: return "malformed";
    default: return "other";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Metrics

IngestionMetrics::IngestionMetrics(prometheus::Registry* registry) {
  if (registry == nullptr) return;
  readings_ = &prometheus::BuildCounter()
                   .Name("smartby_ingestion_readings_total")
                   .Help("Readings received, by dataset and outcome (accepted, duplicate, "
                         "rejected)")
                   .Register(*registry);
  rejected_ = &prometheus::BuildCounter()
                   .Name("smartby_ingestion_rejected_readings_total")
                   .Help("Rejected readings by dataset and reason")
                   .Register(*registry);
  late_ = &prometheus::BuildCounter()
               .Name("smartby_ingestion_late_readings_total")
               .Help("Accepted readings that arrived more than one expected interval after "
                     "their time")
               .Register(*registry);
  silent_ = &prometheus::BuildGauge()
                 .Name("smartby_ingestion_silent_sources")
                 .Help("Enabled sources not heard from for twice their expected interval")
                 .Register(*registry);
  missing_ = &prometheus::BuildGauge()
                  .Name("smartby_ingestion_missing_intervals")
                  .Help("Expected readings that did not arrive in the last hour (gaps), over the "
                        "dataset's enabled sources with an expected interval")
                  .Register(*registry);
  commit_seconds_ = &prometheus::BuildHistogram()
                         .Name("smartby_ingestion_commit_seconds")
                         .Help("Time to validate and commit one batch of readings")
                         .Register(*registry)
                         .Add({}, prometheus::Histogram::BucketBoundaries{
                                      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25, 0.5, 1, 2.5});
}

void IngestionMetrics::Count(const std::string& dataset, v1::ReadingOutcome outcome,
                             v1::RejectReason reason, int64_t n) {
  if (readings_ == nullptr || n == 0) return;
  const char* label = outcome == v1::READING_OUTCOME_ACCEPTED    ? "accepted"
                      : outcome == v1::READING_OUTCOME_DUPLICATE ? "duplicate"
                                                                 : "rejected";
  const std::string name = dataset.empty() ? "unknown" : dataset;
  readings_->Add({{"dataset", name}, {"outcome", label}}).Increment(static_cast<double>(n));
  if (outcome == v1::READING_OUTCOME_REJECTED) {
    rejected_->Add({{"dataset", name}, {"reason", std::string(ReasonLabel(reason))}})
        .Increment(static_cast<double>(n));
  }
}

void IngestionMetrics::Late(const std::string& dataset, int64_t n) {
  if (late_ == nullptr || n == 0) return;
  late_->Add({{"dataset", dataset}}).Increment(static_cast<double>(n));
}

void IngestionMetrics::SetSilentSources(const std::string& dataset, int64_t n) {
  if (silent_ == nullptr) return;
  silent_->Add({{"dataset", dataset}}).Set(static_cast<double>(n));
}

void IngestionMetrics::SetMissingIntervals(const std::string& dataset, int64_t n) {
  if (missing_ == nullptr) return;
  missing_->Add({{"dataset", dataset}}).Set(static_cast<double>(n));
}

void IngestionMetrics::ObserveCommit(absl::Duration d) {
  if (commit_seconds_ != nullptr) commit_seconds_->Observe(absl::ToDoubleSeconds(d));
}

// ---------------------------------------------------------------------------------------------
// CommitSignal

void CommitSignal::Committed(int64_t position) {
  {
    absl::MutexLock lock(&mu_);
    if (position <= last_) return;
    last_ = position;
  }
  // Under callbacks_mu_, so that Unsubscribe returns only when no call to its callback is left.
  absl::MutexLock lock(&callbacks_mu_);
  for (const auto& [id, callback] : callbacks_) callback(position);
}

int64_t CommitSignal::WaitBeyond(int64_t after, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto beyond = [this, after]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return last_ > after; };
  mu_.AwaitWithDeadline(absl::Condition(&beyond), deadline);
  return last_;
}

int64_t CommitSignal::last() const {
  absl::MutexLock lock(&mu_);
  return last_;
}

int CommitSignal::Subscribe(std::function<void(int64_t)> callback) {
  absl::MutexLock lock(&callbacks_mu_);
  const int id = ++next_id_;
  callbacks_.emplace_back(id, std::move(callback));
  return id;
}

void CommitSignal::Unsubscribe(int id) {
  absl::MutexLock lock(&callbacks_mu_);
  callbacks_.erase(std::remove_if(callbacks_.begin(), callbacks_.end(),
                                  [id](const auto& entry) { return entry.first == id; }),
                   callbacks_.end());
}

// ---------------------------------------------------------------------------------------------
// Ingestion: datasets and access

Ingestion::Ingestion(IngestionStore* store, DatasetDirectory* directory, const Clock* clock,
                     prometheus::Registry* registry, IngestionOptions options)
    : store_(store),
      directory_(directory),
      clock_(clock),
      options_(std::move(options)),
      metrics_(registry) {
  if (absl::StatusOr<int64_t> last = store_->LastPosition(); last.ok()) {
    commits_.Committed(*last);
  }
}

auth::ResourceRef Ingestion::ResourceOf(const DatasetSchema& schema) const {
  auth::ResourceRef resource;
  resource.classification = schema.classification;
  resource.owner_organization = schema.owner_organization;
  resource.dataset = schema.name;
  resource.published = schema.state == catalogue_v1::DATASET_STATE_PUBLISHED;
  return resource;
}

absl::StatusOr<std::shared_ptr<const DatasetSchema>> Ingestion::LiveDataset(
    const std::string& dataset) {
  ASSIGN_OR_RETURN(auto schema, directory_->Lookup(dataset));
  return schema;
}

absl::Status Ingestion::AuthorizeDataset(const auth::Caller& caller, auth::Action action,
                                         const std::string& dataset,
                                         std::shared_ptr<const DatasetSchema>* schema) {
  absl::StatusOr<std::shared_ptr<const DatasetSchema>> found = directory_->Lookup(dataset);
  if (!found.ok()) {
    if (absl::IsNotFound(found.status()) && !caller.authenticated()) {
      // Do not tell an anonymous caller which names exist.
      caller.MarkChecked();
      return absl::UnauthenticatedError(
          absl::StrCat("sign in to use dataset \"", dataset,
                       "\"; without signing in, only published Åpen data can be read"));
    }
    caller.MarkChecked();
    return found.status();
  }
  RETURN_IF_ERROR(caller.Authorize(action, ResourceOf(**found)));
  *schema = *std::move(found);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Sources

absl::StatusOr<v1::Source> Ingestion::RegisterSource(const auth::Caller& caller,
                                                     v1::Source source) {
  RETURN_IF_ERROR(CheckSourceId(source.id(), "source.id"));
  if (source.dataset().empty()) {
    return absl::InvalidArgumentError("source.dataset: name the catalogue dataset it reports to");
  }
  std::shared_ptr<const DatasetSchema> schema;
  RETURN_IF_ERROR(AuthorizeDataset(caller, auth::Action::kWriteReadings, source.dataset(), &schema));
  if (schema->state == catalogue_v1::DATASET_STATE_RETIRED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset \"", source.dataset(), "\" is retired; it takes no new sources"));
  }
  RETURN_IF_ERROR(CheckSourceFields(source));
  const Timestamp now = TimestampOf(clock_->Now());
  source.set_version(1);
  *source.mutable_create_time() = now;
  *source.mutable_update_time() = now;
  source.set_classification(schema->classification);
  RETURN_IF_ERROR(store_->CreateSource(source));
  return source;
}

absl::StatusOr<v1::Source> Ingestion::GetSource(const auth::Caller& caller,
                                                const std::string& id) {
  RETURN_IF_ERROR(CheckSourceId(id, "id"));
  absl::StatusOr<v1::Source> source = store_->GetSource(id);
  if (!source.ok()) {
    caller.MarkChecked();
    if (absl::IsNotFound(source.status()) && !caller.authenticated()) {
      return absl::UnauthenticatedError("sign in to look up sources");
    }
    return source.status();
  }
  std::shared_ptr<const DatasetSchema> schema;
  RETURN_IF_ERROR(AuthorizeDataset(caller, auth::Action::kRead, source->dataset(), &schema));
  source->set_classification(schema->classification);
  return source;
}

absl::StatusOr<v1::ListSourcesResponse> Ingestion::ListSources(
    const auth::Caller& caller, const v1::ListSourcesRequest& request) {
  SourceListQuery query;
  query.include_disabled = request.include_disabled();
  query.after_id = request.page_token();
  query.limit = PageSize(request.page_size(), 100, kMaxSourcePage);
  if (!request.dataset().empty()) {
    std::shared_ptr<const DatasetSchema> schema;
    RETURN_IF_ERROR(AuthorizeDataset(caller, auth::Action::kRead, request.dataset(), &schema));
    query.datasets = {request.dataset()};
  }
  caller.MarkChecked();  // every source below is checked against its dataset
  v1::ListSourcesResponse response;
  absl::flat_hash_map<std::string, std::optional<smartcity::common::v1::Classification>> allowed;
  // Sources of datasets the caller may not read are skipped; keep reading pages until this one
  // is full or the store runs out.
  while (response.sources_size() < query.limit) {
    ASSIGN_OR_RETURN(std::vector<v1::Source> page, store_->ListSources(query));
    for (v1::Source& source : page) {
      query.after_id = source.id();
      auto [it, fresh] = allowed.try_emplace(source.dataset());
      if (fresh) {
        absl::StatusOr<std::shared_ptr<const DatasetSchema>> schema =
            directory_->Lookup(source.dataset());
        if (schema.ok() && caller.Allows(auth::Action::kRead, ResourceOf(**schema))) {
          it->second = (*schema)->classification;
        }
      }
      if (!it->second.has_value()) continue;
      source.set_classification(*it->second);
      *response.add_sources() = std::move(source);
      if (response.sources_size() == query.limit) break;
    }
    if (static_cast<int>(page.size()) < query.limit) {
      query.after_id.clear();
      break;
    }
  }
  if (!query.after_id.empty() && response.sources_size() == query.limit) {
    response.set_next_page_token(response.sources(response.sources_size() - 1).id());
  }
  return response;
}

absl::StatusOr<v1::Source> Ingestion::UpdateSource(const auth::Caller& caller,
                                                   const v1::Source& update,
                                                   const google::protobuf::FieldMask& mask) {
  RETURN_IF_ERROR(CheckSourceId(update.id(), "source.id"));
  absl::StatusOr<v1::Source> stored = store_->GetSource(update.id());
  if (!stored.ok()) {
    caller.MarkChecked();
    return stored.status();
  }
  std::shared_ptr<const DatasetSchema> schema;
  RETURN_IF_ERROR(
      AuthorizeDataset(caller, auth::Action::kWriteReadings, stored->dataset(), &schema));
  if (update.version() != 0 && update.version() != stored->version()) {
    return absl::AbortedError(absl::StrCat("source \"", update.id(), "\" is at version ",
                                           stored->version(), ", not ", update.version(),
                                           "; read it again and reapply your change"));
  }
  v1::Source next = *stored;
  std::vector<std::string> paths(mask.paths().begin(), mask.paths().end());
  if (paths.empty()) paths = {"name", "position", "metadata", "expected_interval", "disabled"};
  for (const std::string& path : paths) {
    if (path == "name") {
      next.set_name(update.name());
    } else if (path == "position") {
      *next.mutable_position() = update.position();
    } else if (path == "metadata") {
      *next.mutable_metadata() = update.metadata();
    } else if (path == "expected_interval") {
      *next.mutable_expected_interval() = update.expected_interval();
    } else if (path == "disabled") {
      next.set_disabled(update.disabled());
    } else if (path == "dataset" || path == "id") {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: ", path, " cannot change; register a new source instead"));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: unknown field \"", path,
          "\"; use name, position, metadata, expected_interval or disabled"));
    }
  }
  RETURN_IF_ERROR(CheckSourceFields(next));
  next.set_version(stored->version() + 1);
  *next.mutable_update_time() = TimestampOf(clock_->Now());
  next.set_classification(schema->classification);
  RETURN_IF_ERROR(store_->UpdateSource(next, stored->version()));
  return next;
}

absl::StatusOr<v1::Source> Ingestion::DisableSource(const auth::Caller& caller,
                                                    const std::string& id) {
  v1::Source update;
  update.set_id(id);
  update.set_disabled(true);
  google::protobuf::FieldMask mask;
  mask.add_paths("disabled");
  return UpdateSource(caller, update, mask);
}

// ---------------------------------------------------------------------------------------------
// The write path

absl::StatusOr<v1::WriteReadingsResponse> Ingestion::Write(
    const auth::Caller* caller, const google::protobuf::RepeatedPtrField<v1::Reading>& readings) {
  if (readings.size() > options_.max_batch) {
    if (caller != nullptr) caller->MarkChecked();
    return absl::InvalidArgumentError(absl::StrCat("readings: at most ", options_.max_batch,
                                                   " per write, got ", readings.size(),
                                                   "; split the batch"));
  }
  std::vector<v1::Reading> batch(readings.begin(), readings.end());
  std::vector<v1::ReadingResult> results;
  RETURN_IF_ERROR(WriteBatch(caller, batch, "", &results));
  v1::WriteReadingsResponse response;
  for (v1::ReadingResult& result : results) {
    switch (result.outcome()) {
      case v1::READING_OUTCOME_ACCEPTED: response.set_accepted(response.accepted() + 1); break;
      case v1::READING_OUTCOME_DUPLICATE:
        response.set_duplicates(response.duplicates() + 1);
        break;
      default: response.set_rejected(response.rejected() + 1); break;
    }
    *response.add_results() = std::move(result);
  }
  return response;
}

absl::Status Ingestion::WriteBatch(const auth::Caller* caller, std::vector<v1::Reading>& readings,
                                   const std::string& only_dataset,
                                   std::vector<v1::ReadingResult>* results) {
  const absl::Time started = clock_->Now();
  if (caller != nullptr && !caller->authenticated()) {
    caller->MarkChecked();
    return absl::UnauthenticatedError(
        "sign in to write readings: sensors use their service account's token");
  }
  results->assign(readings.size(), v1::ReadingResult());

  // 1. Sources, and the datasets they report to.
  std::vector<std::string> ids;
  {
    absl::flat_hash_set<std::string> seen;
    for (const v1::Reading& reading : readings) {
      if (seen.insert(reading.source_id()).second) ids.push_back(reading.source_id());
    }
  }
  ASSIGN_OR_RETURN(auto sources, store_->GetSources(ids));
  struct DatasetState {
    std::shared_ptr<const DatasetSchema> schema;  // nullptr: unavailable
    std::string why;
  };
  absl::flat_hash_map<std::string, DatasetState> datasets;
  for (const auto& [id, source] : sources) {
    auto [it, fresh] = datasets.try_emplace(source.dataset());
    if (!fresh) continue;
    absl::StatusOr<std::shared_ptr<const DatasetSchema>> schema =
        directory_->Lookup(source.dataset());
    if (!schema.ok()) {
      if (!absl::IsNotFound(schema.status())) return schema.status();  // catalogue down
      it->second.why = absl::StrCat("dataset \"", source.dataset(), "\" is not in the catalogue");
      continue;
    }
    if ((*schema)->state == catalogue_v1::DATASET_STATE_RETIRED) {
      it->second.why = absl::StrCat("dataset \"", source.dataset(),
                                    "\" is retired and takes no new readings");
      continue;
    }
    it->second.schema = *schema;
  }

  // 2. Access: every dataset the batch writes to, or nothing is stored.
  if (caller != nullptr) {
    for (const auto& [name, state] : datasets) {
      if (state.schema == nullptr) continue;
      if (!only_dataset.empty() && name != only_dataset) continue;
      RETURN_IF_ERROR(caller->Authorize(auth::Action::kWriteReadings, ResourceOf(*state.schema)));
    }
    caller->MarkChecked();  // readings of unknown sources are rejected below, each one
  }

  // 3-4. Each reading.
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  const int64_t max_future_us = absl::ToInt64Microseconds(options_.max_future);
  std::vector<NewReading> rows;
  std::vector<size_t> row_index;  // rows[i] is readings[row_index[i]]
  rows.reserve(readings.size());
  row_index.reserve(readings.size());
  absl::flat_hash_map<std::string, SourceCounters> counters;
  absl::flat_hash_map<std::string, std::map<v1::RejectReason, int64_t>> rejected_by_dataset;
  for (size_t i = 0; i < readings.size(); ++i) {
    const v1::Reading& reading = readings[i];
    v1::ReadingResult& result = (*results)[i];
    auto source = sources.find(reading.source_id());
    if (source == sources.end()) {
      result = Rejected(v1::REJECT_REASON_UNKNOWN_SOURCE, "source_id",
                        reading.source_id().empty()
                            ? std::string("source_id: every reading names its source")
                            : absl::StrCat("source_id: no source \"",
                                           absl::CHexEscape(reading.source_id().substr(0, 128)),
                                           "\" is registered"));
      ++rejected_by_dataset[only_dataset][result.reason()];
      continue;
    }
    const std::string& dataset = source->second.dataset();
    auto note_rejection = [&](v1::ReadingResult rejection) {
      result = std::move(rejection);
      ++counters[reading.source_id()].rejected;
      ++rejected_by_dataset[dataset][result.reason()];
    };
    if (!only_dataset.empty() && dataset != only_dataset) {
      note_rejection(Rejected(v1::REJECT_REASON_NOT_ALLOWED, "source_id",
                              absl::StrCat("source_id: source \"", reading.source_id(),
                                           "\" reports to dataset \"", dataset, "\", not \"",
                                           only_dataset, "\"")));
      continue;
    }
    const DatasetState& state = datasets[dataset];
    if (state.schema == nullptr) {
      note_rejection(Rejected(v1::REJECT_REASON_DATASET_UNAVAILABLE, "", state.why));
      continue;
    }
    if (source->second.disabled()) {
      note_rejection(Rejected(v1::REJECT_REASON_SOURCE_DISABLED, "source_id",
                              absl::StrCat("source_id: source \"", reading.source_id(),
                                           "\" is disabled; enable it to accept its readings")));
      continue;
    }
    if (!reading.has_time()) {
      note_rejection(Rejected(v1::REJECT_REASON_MISSING_TIME, "time",
                              "time: every reading needs the time it was measured"));
      continue;
    }
    if (reading.time().seconds() < TimeUtil::kTimestampMinSeconds ||
        reading.time().seconds() > TimeUtil::kTimestampMaxSeconds ||
        reading.time().nanos() < 0 || reading.time().nanos() > 999999999) {
      note_rejection(Rejected(v1::REJECT_REASON_WRONG_TYPE, "time",
                              "time: not a valid timestamp (years 1 to 9999)"));
      continue;
    }
    const int64_t time_us = MicrosOf(reading.time());
    if (time_us > now_us + max_future_us) {
      note_rejection(Rejected(
          v1::REJECT_REASON_FUTURE_TIMESTAMP, "time",
          absl::StrCat("time: ", TimeUtil::ToString(reading.time()), " is more than ",
                       absl::FormatDuration(options_.max_future),
                       " ahead of the service's clock; check the sensor's clock")));
      continue;
    }
    if (std::optional<Rejection> rejection = CheckValues(*state.schema, reading.values())) {
      note_rejection(Rejected(rejection->reason, rejection->field, rejection->message));
      continue;
    }
    rows.push_back(NewReading{reading.source_id(), time_us, EncodeValues(reading.values())});
    row_index.push_back(i);
  }

  // 5. Store. The counters are committed with the readings, as they will be if every reading is
  // new (the usual case), and corrected afterwards for those that turn out to be duplicates: a
  // second transaction only when there are any.
  const int64_t accept_us = absl::ToUnixMicros(clock_->Now());
  std::vector<bool> late(rows.size(), false);
  for (size_t r = 0; r < rows.size(); ++r) {
    const v1::Source& source = sources.at(rows[r].source_id);
    SourceCounters& counter = counters[rows[r].source_id];
    ++counter.accepted;
    const int64_t interval = MicrosOf(source.expected_interval());
    if (interval > 0 && accept_us - rows[r].time_us > interval) {
      late[r] = true;
      ++counter.late;
    }
  }
  AppendResult appended;
  if (!rows.empty()) {
    ASSIGN_OR_RETURN(appended, store_->AppendReadings(rows, accept_us, counters));
  } else if (!counters.empty()) {
    // Statistics only: a failure here must not turn the batch into an error.
    if (absl::Status counted = store_->AddCounters(counters); !counted.ok()) {
      log::Warn("cannot update source counters", {{"error", std::string(counted.message())}});
    }
  }
  int64_t last_position = 0;
  absl::flat_hash_map<std::string, std::pair<int64_t, int64_t>> outcome_by_dataset;
  absl::flat_hash_map<std::string, int64_t> late_by_dataset;
  absl::flat_hash_map<std::string, SourceCounters> corrections;
  for (size_t r = 0; r < rows.size(); ++r) {
    v1::ReadingResult& result = (*results)[row_index[r]];
    const v1::Source& source = sources.at(rows[r].source_id);
    if (appended.inserted[r]) {
      result.set_outcome(v1::READING_OUTCOME_ACCEPTED);
      ++outcome_by_dataset[source.dataset()].first;
      last_position = std::max(last_position, appended.positions[r]);
      if (late[r]) ++late_by_dataset[source.dataset()];
    } else {
      result.set_outcome(v1::READING_OUTCOME_DUPLICATE);
      SourceCounters& correction = corrections[rows[r].source_id];
      --correction.accepted;
      ++correction.duplicates;
      if (late[r]) --correction.late;
      ++outcome_by_dataset[source.dataset()].second;
    }
  }
  if (!corrections.empty()) {
    // Statistics only, as above.
    if (absl::Status counted = store_->AddCounters(corrections); !counted.ok()) {
      log::Warn("cannot update source counters", {{"error", std::string(counted.message())}});
    }
  }
  if (last_position > 0) commits_.Committed(last_position);

  for (const auto& [dataset, counts] : outcome_by_dataset) {
    metrics_.Count(dataset, v1::READING_OUTCOME_ACCEPTED, {}, counts.first);
    metrics_.Count(dataset, v1::READING_OUTCOME_DUPLICATE, {}, counts.second);
  }
  for (const auto& [dataset, reasons] : rejected_by_dataset) {
    for (const auto& [reason, n] : reasons) {
      metrics_.Count(dataset, v1::READING_OUTCOME_REJECTED, reason, n);
    }
  }
  for (const auto& [dataset, n] : late_by_dataset) metrics_.Late(dataset, n);
  metrics_.ObserveCommit(clock_->Now() - started);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Files

absl::StatusOr<std::unique_ptr<Ingestion::FileImport>> Ingestion::StartImport(
    const auth::Caller& caller, const v1::ImportOptions& options) {
  if (options.dataset().empty()) {
    caller.MarkChecked();
    return absl::InvalidArgumentError("options.dataset: name the dataset the file is for");
  }
  std::shared_ptr<const DatasetSchema> schema;
  RETURN_IF_ERROR(AuthorizeDataset(caller, auth::Action::kWriteReadings, options.dataset(), &schema));
  if (schema->state == catalogue_v1::DATASET_STATE_RETIRED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset \"", options.dataset(), "\" is retired and takes no new readings"));
  }
  FormatOptions format;
  format.format = options.format();
  if (format.format == v1::FILE_FORMAT_UNSPECIFIED) {
    format.format = FormatFromFileName(options.file_name());
    if (format.format == v1::FILE_FORMAT_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(
          "options.format: cannot tell the format from the file name \"",
          absl::CHexEscape(options.file_name()), "\"; say csv, json or geojson"));
    }
  }
  if (!options.delimiter().empty()) {
    const absl::string_view delimiter = options.delimiter();
    if (delimiter == "\\t" || delimiter == "tab") {
      format.delimiter = '\t';
    } else if (delimiter.size() == 1) {
      format.delimiter = delimiter[0];
    } else {
      return absl::InvalidArgumentError("options.delimiter: one character, such as , or ; or \\t");
    }
  } else if (absl::EndsWith(absl::AsciiStrToLower(options.file_name()), ".tsv")) {
    format.delimiter = '\t';
  }
  auto import = std::unique_ptr<FileImport>(new FileImport());
  import->ingestion_ = this;
  import->caller_ = &caller;
  import->schema_ = schema;
  for (const auto& [column, target] : options.mapping()) import->mapping_.columns[column] = target;
  RETURN_IF_ERROR(import->mapping_.Validate(*schema));
  if (!options.source_id().empty()) {
    RETURN_IF_ERROR(CheckSourceId(options.source_id(), "options.source_id"));
    import->mapping_.default_source_id = options.source_id();
  }
  // Where the comma is the decimal mark, CSV files use ';' between cells.
  import->mapping_.decimal_comma = format.format == v1::FILE_FORMAT_CSV && format.delimiter != ',';
  FileImport* raw = import.get();
  ASSIGN_OR_RETURN(
      import->reader_,
      NewRecordReader(
          format,
          [raw](RawRecord&& record) {
            if (!raw->failed_.ok()) return;
            v1::Reading reading;
            if (std::optional<Rejection> rejection =
                    RecordToReading(record, raw->mapping_, *raw->schema_, &reading)) {
              raw->Reject(record.row, rejection->field, rejection->reason, rejection->message);
              return;
            }
            raw->pending_.push_back(std::move(reading));
            raw->pending_rows_.push_back(record.row);
            if (static_cast<int>(raw->pending_.size()) >= raw->ingestion_->options_.import_batch) {
              raw->failed_ = raw->Flush();
            }
          },
          [raw](RecordError&& error) {
            raw->Reject(error.row, error.column, v1::REJECT_REASON_MALFORMED, error.message);
          }));
  return import;
}

void Ingestion::FileImport::Reject(int64_t row, std::string column, v1::RejectReason reason,
                                   std::string message) {
  progress_.set_rejected(progress_.rejected() + 1);
  if (summary_.errors_size() >= ingestion_->options_.max_row_errors) {
    summary_.set_errors_truncated(true);
    return;
  }
  v1::RowError* error = summary_.add_errors();
  error->set_row(row);
  error->set_column(std::move(column));
  error->set_reason(reason);
  error->set_message(std::move(message));
}

absl::Status Ingestion::FileImport::Flush() {
  if (pending_.empty()) return absl::OkStatus();
  std::vector<v1::ReadingResult> results;
  RETURN_IF_ERROR(ingestion_->WriteBatch(caller_, pending_, schema_->name, &results));
  for (size_t i = 0; i < results.size(); ++i) {
    switch (results[i].outcome()) {
      case v1::READING_OUTCOME_ACCEPTED: progress_.set_accepted(progress_.accepted() + 1); break;
      case v1::READING_OUTCOME_DUPLICATE:
        progress_.set_duplicates(progress_.duplicates() + 1);
        break;
      default:
        Reject(pending_rows_[i], results[i].field(), results[i].reason(), results[i].message());
    }
  }
  pending_.clear();
  pending_rows_.clear();
  return absl::OkStatus();
}

absl::Status Ingestion::FileImport::Feed(absl::string_view chunk) {
  RETURN_IF_ERROR(failed_);
  progress_.set_bytes_read(progress_.bytes_read() + static_cast<int64_t>(chunk.size()));
  absl::Status fed = reader_->Feed(chunk);
  progress_.set_rows_read(reader_->rows_read());
  RETURN_IF_ERROR(failed_);
  if (!fed.ok()) {
    // The file cannot be read on; the good rows before the fault are stored all the same.
    RETURN_IF_ERROR(Flush());
    failed_ = absl::Status(fed.code(), absl::StrCat(fed.message(), " (", progress_.accepted(),
                                                     " rows before it were stored)"));
    return failed_;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ImportSummary> Ingestion::FileImport::Finish() {
  RETURN_IF_ERROR(failed_);
  absl::Status finished = reader_->Finish();
  progress_.set_rows_read(reader_->rows_read());
  RETURN_IF_ERROR(failed_);
  // The good rows read before a fatal format error are stored all the same.
  RETURN_IF_ERROR(Flush());
  if (!finished.ok()) {
    return absl::Status(finished.code(), absl::StrCat(finished.message(), " (",
                                                      progress_.accepted(),
                                                      " rows before it were stored)"));
  }
  *summary_.mutable_totals() = progress_;
  return summary_;
}

v1::ImportProgress Ingestion::FileImport::progress() const { return progress_; }

// ---------------------------------------------------------------------------------------------
// MQTT

absl::Status Ingestion::HandleMqttMessage(absl::string_view topic, absl::string_view payload) {
  // <prefix>/<dataset>/<source_id>
  absl::string_view rest = topic;
  if (!absl::ConsumePrefix(&rest, options_.mqtt_topic_prefix) || !absl::ConsumePrefix(&rest, "/")) {
    log::Warn("MQTT message on a topic outside the readings layout; dropped",
              {{"topic", std::string(topic)}});
    return absl::OkStatus();
  }
  std::vector<std::string> parts = absl::StrSplit(rest, '/');
  if (parts.size() != 2 || parts[0].empty()) {
    log::Warn("MQTT topic must be <prefix>/<dataset>/<source_id>; message dropped",
              {{"topic", std::string(topic)}});
    return absl::OkStatus();
  }
  const std::string& dataset = parts[0];
  absl::StatusOr<std::shared_ptr<const DatasetSchema>> schema = directory_->Lookup(dataset);
  if (!schema.ok()) {
    if (absl::IsNotFound(schema.status())) {
      metrics_.Count(dataset, v1::READING_OUTCOME_REJECTED,
                     v1::REJECT_REASON_DATASET_UNAVAILABLE, 1);
      log::Warn("MQTT message for a dataset the catalogue does not have; dropped",
                {{"topic", std::string(topic)}});
      return absl::OkStatus();
    }
    return schema.status();  // the catalogue is down: deliver again later
  }
  ColumnMapping mapping;
  mapping.default_source_id = parts[1];
  std::vector<v1::Reading> readings;
  int64_t malformed = 0;
  std::string first_problem;
  FormatOptions format;
  format.format = v1::FILE_FORMAT_JSON;
  ASSIGN_OR_RETURN(
      auto reader,
      NewRecordReader(
          format,
          [&](RawRecord&& record) {
            v1::Reading reading;
            if (std::optional<Rejection> rejection =
                    RecordToReading(record, mapping, **schema, &reading)) {
              ++malformed;
              if (first_problem.empty()) first_problem = rejection->message;
              return;
            }
            // The topic names the source, and the broker's ACLs decide who may publish there:
            // a payload may not speak for another source.
            if (reading.source_id() != mapping.default_source_id) {
              ++malformed;
              if (first_problem.empty()) {
                first_problem = absl::StrCat("source_id \"", reading.source_id(),
                                             "\" in the payload differs from the topic's source \"",
                                             mapping.default_source_id, "\"");
              }
              return;
            }
            readings.push_back(std::move(reading));
          },
          [&](RecordError&& error) {
            ++malformed;
            if (first_problem.empty()) first_problem = error.message;
          }));
  absl::Status read = reader->Feed(payload);
  if (read.ok()) read = reader->Finish();
  if (!read.ok()) {
    ++malformed;
    if (first_problem.empty()) first_problem = std::string(read.message());
  }
  std::vector<v1::ReadingResult> results;
  if (!readings.empty()) RETURN_IF_ERROR(WriteBatch(nullptr, readings, dataset, &results));
  for (const v1::ReadingResult& result : results) {
    if (result.outcome() == v1::READING_OUTCOME_REJECTED) {
      ++malformed;
      if (first_problem.empty()) first_problem = result.message();
    }
  }
  if (malformed > 0) {
    metrics_.Count(dataset, v1::READING_OUTCOME_REJECTED, v1::REJECT_REASON_MALFORMED,
                   malformed - static_cast<int64_t>(std::count_if(
                                   results.begin(), results.end(), [](const auto& r) {
                                     return r.outcome() == v1::READING_OUTCOME_REJECTED;
                                   })));
    log::Warn("MQTT readings rejected", {{"topic", std::string(topic)},
                                         {"rejected", std::to_string(malformed)},
                                         {"reason", first_problem}});
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Queries

absl::StatusOr<std::vector<std::string>> Ingestion::ReadableSources(
    const auth::Caller& caller, const std::string& source_id, const std::string& dataset,
    std::shared_ptr<const DatasetSchema>* schema_out) {
  if (source_id.empty() == dataset.empty()) {
    caller.MarkChecked();
    return absl::InvalidArgumentError("name exactly one of source_id and dataset");
  }
  if (!source_id.empty()) {
    ASSIGN_OR_RETURN(v1::Source source, GetSource(caller, source_id));
    if (schema_out != nullptr) {
      ASSIGN_OR_RETURN(*schema_out, directory_->Lookup(source.dataset()));
    }
    return std::vector<std::string>{source.id()};
  }
  std::shared_ptr<const DatasetSchema> schema;
  RETURN_IF_ERROR(AuthorizeDataset(caller, auth::Action::kRead, dataset, &schema));
  if (schema_out != nullptr) *schema_out = schema;
  SourceListQuery query;
  query.datasets = {dataset};
  query.include_disabled = true;
  query.limit = kMaxSourcesPerQuery + 1;
  ASSIGN_OR_RETURN(std::vector<v1::Source> sources, store_->ListSources(query));
  if (static_cast<int>(sources.size()) > kMaxSourcesPerQuery) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset: \"", dataset, "\" has more than ", kMaxSourcesPerQuery,
        " sources; query them one source at a time"));
  }
  std::vector<std::string> ids;
  ids.reserve(sources.size());
  for (const v1::Source& source : sources) ids.push_back(source.id());
  return ids;
}

namespace {

void RangeOf(const Timestamp* start, const Timestamp* end, bool has_start, bool has_end,
             RangeQuery* query) {
  if (has_start) query->from_us = MicrosOf(*start);
  if (has_end) query->to_us = MicrosOf(*end);
}

absl::Status ToReading(const StoredReading& stored, v1::Reading* reading) {
  reading->set_source_id(stored.source_id);
  *reading->mutable_time() = TimestampOf(stored.time_us);
  return DecodeValues(stored.values, reading->mutable_values());
}

}  // namespace

absl::StatusOr<v1::QueryReadingsResponse> Ingestion::QueryReadings(
    const auth::Caller& caller, const v1::QueryReadingsRequest& request) {
  ASSIGN_OR_RETURN(std::vector<std::string> ids,
                   ReadableSources(caller, request.source_id(), request.dataset()));
  v1::QueryReadingsResponse response;
  if (ids.empty()) return response;
  RangeQuery query;
  query.source_ids = std::move(ids);
  RangeOf(&request.start_time(), &request.end_time(), request.has_start_time(),
          request.has_end_time(), &query);
  query.limit = PageSize(request.page_size(), kDefaultPageSize, kMaxPageSize);
  if (!request.page_token().empty()) {
    std::pair<int64_t, std::string> after;
    RETURN_IF_ERROR(DecodeCursor(request.page_token(), &after.first, &after.second));
    query.after = std::move(after);
  }
  query.limit += 1;  // one more tells whether there is a next page
  ASSIGN_OR_RETURN(std::vector<StoredReading> rows, store_->ReadRange(query));
  const bool more = static_cast<int>(rows.size()) == query.limit;
  if (more) rows.pop_back();
  for (const StoredReading& row : rows) RETURN_IF_ERROR(ToReading(row, response.add_readings()));
  if (more && !rows.empty()) {
    response.set_next_page_token(EncodeCursor(rows.back().time_us, rows.back().source_id));
  }
  return response;
}

namespace {

// (time, source id) order, the order readings are read in.
bool Earlier(int64_t time_a, absl::string_view source_a, int64_t time_b,
             absl::string_view source_b) {
  return time_a < time_b || (time_a == time_b && source_a < source_b);
}

// One window of an aggregate, from readings and rollup buckets in any order. Ties are broken as
// reading the window's readings in (time, source id) order would break them (the min and max are
// the first such reading, the last the last), so the result does not depend on the order things
// are added in; only the sum's rounding does, see AggregateFromRollups.
class WindowAccumulator {
 public:
  bool empty() const { return s_.count == 0; }

  void Add(const FieldSummary& o, absl::string_view source) {
    if (s_.count == 0) {
      s_ = o;
      min_source_ = max_source_ = last_source_ = std::string(source);
      return;
    }
    if (o.min < s_.min ||
        (o.min == s_.min && Earlier(o.min_time_us, source, s_.min_time_us, min_source_))) {
      s_.min = o.min;
      s_.min_time_us = o.min_time_us;
      if (min_source_ != source) min_source_.assign(source.data(), source.size());
    }
    if (o.max > s_.max ||
        (o.max == s_.max && Earlier(o.max_time_us, source, s_.max_time_us, max_source_))) {
      s_.max = o.max;
      s_.max_time_us = o.max_time_us;
      if (max_source_ != source) max_source_.assign(source.data(), source.size());
    }
    if (Earlier(s_.last_time_us, last_source_, o.last_time_us, source)) {
      s_.last = o.last;
      s_.last_time_us = o.last_time_us;
      if (last_source_ != source) last_source_.assign(source.data(), source.size());
    }
    s_.sum += o.sum;
    s_.count += o.count;
  }

  void Add(int64_t time_us, double value, absl::string_view source) {
    FieldSummary one;
    one.Add(time_us, value);
    Add(one, source);
  }

  void Fill(int64_t window_start, v1::Aggregate* out) const {
    *out->mutable_window_start() = TimestampOf(window_start);
    out->set_count(s_.count);
    out->set_min(s_.min);
    out->set_max(s_.max);
    out->set_mean(s_.sum / static_cast<double>(s_.count));
    out->set_last(s_.last);
    *out->mutable_last_time() = TimestampOf(s_.last_time_us);
    *out->mutable_min_time() = TimestampOf(s_.min_time_us);
    *out->mutable_max_time() = TimestampOf(s_.max_time_us);
  }

 private:
  FieldSummary s_;
  std::string min_source_, max_source_, last_source_;
};

// A page of windows, fed in window order: at most page_size windows; the first window past a
// full page becomes the next page token.
class WindowPage {
 public:
  WindowPage(int64_t origin, int64_t window_us, int page_size,
             v1::AggregateReadingsResponse* response)
      : origin_(origin), window_us_(window_us), page_size_(page_size), response_(response) {}

  // Windows are aligned to the origin (start_time).
  int64_t WindowOf(int64_t time_us) const {
    return origin_ + ((time_us - origin_) / window_us_) * window_us_;
  }

  // False when the page is full: `window_start` is then the next page's token.
  template <typename... Contribution>
  bool Add(int64_t window_start, const Contribution&... contribution) {
    if (current_.empty() || window_start != current_start_) {
      Close();
      if (response_->windows_size() == page_size_) {
        next_token_ = absl::StrCat(window_start);
        return false;
      }
      current_start_ = window_start;
    }
    current_.Add(contribution...);
    return true;
  }

  bool full() const { return !next_token_.empty(); }

  // Closes the last window; `resume_at` (when the page is not full) is where the next page
  // starts, for a page that was cut short of the range.
  void Finish(std::optional<int64_t> resume_at = std::nullopt) {
    Close();
    if (next_token_.empty() && resume_at.has_value()) next_token_ = absl::StrCat(*resume_at);
    response_->set_next_page_token(next_token_);
  }

 private:
  void Close() {
    if (current_.empty()) return;
    current_.Fill(current_start_, response_->add_windows());
    current_ = WindowAccumulator();
  }

  const int64_t origin_;
  const int64_t window_us_;
  const int page_size_;
  v1::AggregateReadingsResponse* response_;
  WindowAccumulator current_;
  int64_t current_start_ = 0;
  std::string next_token_;
};

// The numeric values of a stored reading, for the rollup refresh.
absl::Status NumericValuesOf(const std::string& encoded,
                             std::vector<std::pair<std::string, double>>* out) {
  ValueMap values;
  RETURN_IF_ERROR(DecodeValues(encoded, &values));
  for (const auto& [field, value] : values) {
    if (std::optional<double> number = NumericValue(value)) out->emplace_back(field, *number);
  }
  return absl::OkStatus();
}

// At most this many rollup rows (sources x buckets) are read for one page (about 100 bytes
// each); a longer range is answered in several pages.
constexpr int64_t kMaxRollupRowsPerPage = 200'000;

absl::Status NotNumeric(const std::string& field) {
  return absl::InvalidArgumentError(
      absl::StrCat("field: \"", field, "\" is not numeric; aggregates need numbers"));
}

}  // namespace

struct Ingestion::AggregatePlan {
  RangeQuery query;    // sources and [from, to)
  std::string field;
  int64_t origin = 0;  // windows are aligned to it
  int64_t window_us = 0;
  int page_size = 0;
};

absl::StatusOr<v1::AggregateReadingsResponse> Ingestion::AggregateReadings(
    const auth::Caller& caller, const v1::AggregateReadingsRequest& request) {
  std::shared_ptr<const DatasetSchema> schema;
  ASSIGN_OR_RETURN(std::vector<std::string> ids,
                   ReadableSources(caller, request.source_id(), request.dataset(), &schema));
  if (request.field().empty()) {
    return absl::InvalidArgumentError("field: name the numeric field to aggregate");
  }
  const catalogue_v1::SchemaField* field = schema->Find(request.field());
  if (field == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("field: dataset \"", schema->name,
                                                   "\" has no field \"", request.field(), "\""));
  }
  if (field->type() != catalogue_v1::FIELD_TYPE_INTEGER &&
      field->type() != catalogue_v1::FIELD_TYPE_DOUBLE) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field: \"", request.field(), "\" is not numeric; aggregates need an integer or double field"));
  }
  const int64_t window_us = request.has_window() ? MicrosOf(request.window()) : 0;
  if (window_us < 1000000) {
    return absl::InvalidArgumentError("window: at least 1s, e.g. 5m or 1h");
  }
  v1::AggregateReadingsResponse response;
  if (ids.empty()) return response;
  AggregatePlan plan;
  RangeQuery& query = plan.query;
  query.source_ids = std::move(ids);
  RangeOf(&request.start_time(), &request.end_time(), request.has_start_time(),
          request.has_end_time(), &query);
  if (query.from_us == INT64_MIN) {
    // No start: the last 24 hours before the end, in windows aligned to the epoch, so that the
    // windows stay the same from page to page.
    const int64_t end = query.to_us == INT64_MAX ? absl::ToUnixMicros(clock_->Now()) : query.to_us;
    const int64_t start = end - int64_t{24} * 3600 * 1000000;
    query.from_us = start - ((start % window_us) + window_us) % window_us;
  }
  if (!request.page_token().empty()) {
    int64_t next_window = 0;
    if (!absl::SimpleAtoi(request.page_token(), &next_window) || next_window < query.from_us) {
      return absl::InvalidArgumentError(
          "page_token: not a token this service gave out; start again without it");
    }
    query.from_us = next_window;
  }
  plan.field = request.field();
  plan.origin = request.has_start_time() ? MicrosOf(request.start_time()) : 0;
  plan.window_us = window_us;
  plan.page_size = PageSize(request.page_size(), kDefaultPageSize, kMaxPageSize);
  // Rollup buckets fit whole into windows that are multiples of a bucket starting on a bucket
  // boundary (from_us is then one too: the start, or a window start from a page token).
  // One window of all the sources' buckets must fit in a page's rollup rows.
  const int64_t rows_per_window =
      static_cast<int64_t>(query.source_ids.size()) * (window_us / kRollupBucketUs);
  const bool whole_buckets = window_us % kRollupBucketUs == 0 &&
                             plan.origin % kRollupBucketUs == 0 &&
                             query.from_us % kRollupBucketUs == 0 &&
                             rows_per_window <= kMaxRollupRowsPerPage;
  if (options_.aggregate_from_rollups && whole_buckets) {
    RETURN_IF_ERROR(AggregateFromRollups(plan, &response));
    return response;
  }

  // From the readings alone: they come in (time, source id) order, so each window is complete
  // when the next one begins.
  WindowPage page(plan.origin, window_us, plan.page_size, &response);
  bool wrong_field = false;
  std::optional<v1::Value> value;
  RETURN_IF_ERROR(store_->ScanRange(query, [&](const StoredReading& row) {
    if (!DecodeValue(row.values, request.field(), &value).ok() || !value.has_value()) return true;
    std::optional<double> number = NumericValue(*value);
    if (!number.has_value()) {
      wrong_field = true;
      return false;
    }
    return page.Add(page.WindowOf(row.time_us), row.time_us, *number, row.source_id);
  }));
  if (wrong_field) return NotNumeric(request.field());
  page.Finish();
  return response;
}

// Each source's range splits at its watermark W: the buckets below it come from its rollups, the
// readings from max(from, min(W, to rounded down to a bucket)) on are read one by one. Both come
// in time order and are merged window by window. The counts, minimums, maximums, last values and
// their times are exactly those of the readings; the mean is the sum of the buckets' sums over
// the count, which can differ from summing reading by reading in the last bits of a double
// (summation order), never more.
//
// Before reading, a source whose stale part of the range (from its watermark to now) is longer
// than rollup_refresh_after is refreshed: the first query over a long range pays for rolling it
// up, later ones read at most that much past the watermark.
absl::Status Ingestion::AggregateFromRollups(const AggregatePlan& plan,
                                             v1::AggregateReadingsResponse* response) {
  RangeQuery query = plan.query;
  const int64_t sources = static_cast<int64_t>(query.source_ids.size());
  // Bound the rollup rows one page reads: a longer range ends this page early, with a token.
  std::optional<int64_t> resume_at;
  {
    const __int128 windows_allowed = std::max<int64_t>(
        1, kMaxRollupRowsPerPage / (sources * (plan.window_us / kRollupBucketUs)));
    const __int128 cut = static_cast<__int128>(query.from_us) + windows_allowed * plan.window_us;
    if (cut < query.to_us) {
      query.to_us = static_cast<int64_t>(cut);
      resume_at = query.to_us;
    }
  }
  const int64_t rollup_to = RollupBucketStart(query.to_us);

  const int64_t refresh_until = RollupBucketStart(absl::ToUnixMicros(clock_->Now()));
  const int64_t refresh_after = absl::ToInt64Microseconds(options_.rollup_refresh_after);
  ASSIGN_OR_RETURN(auto watermarks, store_->RollupWatermarks(query.source_ids));
  for (const auto& [source, until_us] : watermarks) {
    const int64_t stale_from = std::max(until_us, query.from_us);
    const int64_t stale_to = std::min(refresh_until, rollup_to);
    if (stale_from < stale_to && stale_to - stale_from > refresh_after) {
      RETURN_IF_ERROR(store_->RefreshRollups(source, refresh_until, NumericValuesOf).status());
    }
  }

  ASSIGN_OR_RETURN(RollupRead rollups,
                   store_->ReadRollups(query.source_ids, plan.field, query.from_us, rollup_to));
  // Where each source's readings take over from its rollups.
  absl::flat_hash_map<std::string, int64_t> raw_from;
  int64_t scan_from = rollup_to;
  for (const std::string& source : query.source_ids) {
    auto it = rollups.until_us.find(source);
    const int64_t until_us = it == rollups.until_us.end() ? INT64_MIN : it->second;
    const int64_t from = std::max(query.from_us, std::min(until_us, rollup_to));
    raw_from[source] = from;
    scan_from = std::min(scan_from, from);
  }

  WindowPage page(plan.origin, plan.window_us, plan.page_size, response);
  size_t next_bucket = 0;
  // Feeds the rollup buckets of windows up to `window_start` (all of them: INT64_MAX).
  auto feed_buckets = [&](int64_t window_start) {
    for (; next_bucket < rollups.buckets.size(); ++next_bucket) {
      const RollupBucket& b = rollups.buckets[next_bucket];
      const int64_t window = page.WindowOf(b.bucket_us);
      if (window > window_start) return true;
      if (!page.Add(window, b.summary, b.source_id)) return false;
    }
    return true;
  };
  bool wrong_field = false;
  std::optional<v1::Value> value;
  query.from_us = scan_from;
  RETURN_IF_ERROR(store_->ScanRange(query, [&](const StoredReading& row) {
    if (row.time_us < raw_from[row.source_id]) return true;  // in its rollups
    if (!DecodeValue(row.values, plan.field, &value).ok() || !value.has_value()) return true;
    std::optional<double> number = NumericValue(*value);
    if (!number.has_value()) {
      wrong_field = true;
      return false;
    }
    const int64_t window = page.WindowOf(row.time_us);
    return feed_buckets(window) && page.Add(window, row.time_us, *number, row.source_id);
  }));
  if (wrong_field) return NotNumeric(plan.field);
  if (!page.full()) feed_buckets(INT64_MAX);
  page.Finish(resume_at);
  return absl::OkStatus();
}

absl::StatusOr<v1::GetLatestReadingsResponse> Ingestion::GetLatestReadings(
    const auth::Caller& caller, const v1::GetLatestReadingsRequest& request) {
  std::vector<std::string> ids;
  if (!request.dataset().empty()) {
    ASSIGN_OR_RETURN(ids, ReadableSources(caller, "", request.dataset()));
  } else if (request.source_ids_size() > 0) {
    if (request.source_ids_size() > kMaxSourcesPerQuery) {
      caller.MarkChecked();
      return absl::InvalidArgumentError(
          absl::StrCat("source_ids: at most ", kMaxSourcesPerQuery));
    }
    for (const std::string& id : request.source_ids()) {
      ASSIGN_OR_RETURN(v1::Source source, GetSource(caller, id));
      ids.push_back(source.id());
    }
  } else {
    caller.MarkChecked();
    return absl::InvalidArgumentError("name a dataset or source_ids");
  }
  std::sort(ids.begin(), ids.end());
  // Paging by source id.
  const int page_size = PageSize(request.page_size(), kDefaultPageSize, kMaxPageSize);
  auto first = std::upper_bound(ids.begin(), ids.end(), request.page_token());
  if (request.page_token().empty()) first = ids.begin();
  std::vector<std::string> page(first, ids.end());
  v1::GetLatestReadingsResponse response;
  if (static_cast<int>(page.size()) > page_size) {
    page.resize(page_size);
    response.set_next_page_token(page.back());
  }
  ASSIGN_OR_RETURN(std::vector<StoredReading> latest, store_->Latest(page));
  std::sort(latest.begin(), latest.end(),
            [](const StoredReading& a, const StoredReading& b) { return a.source_id < b.source_id; });
  for (const StoredReading& row : latest) RETURN_IF_ERROR(ToReading(row, response.add_readings()));
  return response;
}

absl::Status Ingestion::MeasureQuality(const v1::Source& source, int64_t start_us,
                                       int64_t end_us, v1::SourceQuality* quality) {
  quality->set_source_id(source.id());
  *quality->mutable_expected_interval() = source.expected_interval();
  const int64_t interval = MicrosOf(source.expected_interval());
  // A gap is the time between consecutive readings (and from the period's start, or the
  // source's registration if later, to the first; from the last to the period's end).
  const int64_t begin = std::max(start_us, MicrosOf(source.create_time()));
  int64_t previous = begin;
  int64_t count = 0, missing = 0, longest = 0, last_time = 0;
  auto gap = [&](int64_t from, int64_t to) {
    const int64_t g = to - from;
    longest = std::max(longest, g);
    // More than 1.5 intervals without a reading: the intervals in between are missing.
    if (interval > 0 && 2 * g > 3 * interval) missing += (g + interval / 2) / interval - 1;
  };
  RangeQuery query;
  query.source_ids = {source.id()};
  query.from_us = start_us;
  query.to_us = end_us;
  RETURN_IF_ERROR(store_->ScanRange(query, [&](const StoredReading& row) {
    ++count;
    if (row.time_us > previous) gap(previous, row.time_us);
    previous = std::max(previous, row.time_us);
    last_time = row.time_us;
    return true;
  }));
  if (!source.disabled() && end_us > previous) gap(previous, end_us);
  quality->set_readings(count);
  quality->set_missing_intervals(missing);
  *quality->mutable_longest_gap() = TimeUtil::MicrosecondsToDuration(longest);
  if (last_time > 0) *quality->mutable_last_reading_time() = TimestampOf(last_time);
  return absl::OkStatus();
}

absl::StatusOr<v1::GetDataQualityResponse> Ingestion::GetDataQuality(
    const auth::Caller& caller, const v1::GetDataQualityRequest& request) {
  if (request.dataset().empty()) {
    caller.MarkChecked();
    return absl::InvalidArgumentError("dataset: name the dataset");
  }
  std::shared_ptr<const DatasetSchema> schema;
  RETURN_IF_ERROR(AuthorizeDataset(caller, auth::Action::kRead, request.dataset(), &schema));
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  const int64_t end_us = request.has_end_time() ? MicrosOf(request.end_time()) : now_us;
  const int64_t start_us = request.has_start_time() ? MicrosOf(request.start_time())
                                                    : end_us - int64_t{24} * 3600 * 1000000;
  if (start_us >= end_us) {
    return absl::InvalidArgumentError("start_time: must be before end_time");
  }
  SourceListQuery list;
  list.datasets = {request.dataset()};
  list.include_disabled = true;
  list.limit = kMaxSourcesPerQuery;
  ASSIGN_OR_RETURN(std::vector<v1::Source> sources, store_->ListSources(list));
  std::vector<std::string> ids;
  for (const v1::Source& source : sources) ids.push_back(source.id());
  ASSIGN_OR_RETURN(auto counters, store_->GetCounters(ids));
  v1::GetDataQualityResponse response;
  for (const v1::Source& source : sources) {
    v1::SourceQuality* quality = response.add_sources();
    RETURN_IF_ERROR(MeasureQuality(source, start_us, end_us, quality));
    auto counter = counters.find(source.id());
    if (counter != counters.end()) {
      quality->set_late(counter->second.late);
      quality->set_rejected(counter->second.rejected);
      quality->set_duplicates(counter->second.duplicates);
    }
  }
  return response;
}

// ---------------------------------------------------------------------------------------------
// The hand-over to the feed

absl::StatusOr<Ingestion::WatchBatch> Ingestion::ReadAfter(const auth::Caller& caller,
                                                           int64_t after,
                                                           const std::vector<std::string>& datasets,
                                                           int limit) {
  caller.MarkChecked();  // every reading below is checked against its dataset
  if (after < 0) return absl::InvalidArgumentError("after_position: must not be negative");
  WatchBatch batch;
  batch.last_position = after;
  ASSIGN_OR_RETURN(std::vector<StoredReading> rows, store_->ReadAfter(after, limit, datasets));
  absl::flat_hash_map<std::string, std::shared_ptr<const DatasetSchema>> readable;
  for (StoredReading& row : rows) {
    batch.last_position = std::max(batch.last_position, row.position);
    auto [it, fresh] = readable.try_emplace(row.dataset);
    if (fresh) {
      absl::StatusOr<std::shared_ptr<const DatasetSchema>> schema = directory_->Lookup(row.dataset);
      if (!schema.ok() && !absl::IsNotFound(schema.status())) {
        // Cannot decide now: stop before this reading so that it is sent once we can.
        batch.last_position = row.position - 1;
        readable.erase(it);
        if (batch.readings.empty()) return schema.status();
        break;
      }
      if (schema.ok() && caller.Allows(auth::Action::kRead, ResourceOf(**schema))) {
        it->second = *schema;
      }
    }
    if (it->second == nullptr) continue;
    v1::PositionedReading* out = &batch.readings.emplace_back();
    out->set_position(row.position);
    out->set_dataset(row.dataset);
    out->set_classification(it->second->classification);
    *out->mutable_accept_time() = TimestampOf(row.accept_us);
    RETURN_IF_ERROR(ToReading(row, out->mutable_reading()));
  }
  return batch;
}

// ---------------------------------------------------------------------------------------------
// Retention

absl::StatusOr<v1::RetentionPolicy> Ingestion::SetRetention(const auth::Caller& caller,
                                                            const v1::RetentionPolicy& policy) {
  if (policy.dataset().empty()) {
    caller.MarkChecked();
    return absl::InvalidArgumentError("policy.dataset: name the dataset");
  }
  std::shared_ptr<const DatasetSchema> schema;
  // Deleting old readings is the owner's decision.
  RETURN_IF_ERROR(AuthorizeDataset(caller, auth::Action::kDelete, policy.dataset(), &schema));
  const int64_t keep_us = policy.has_keep() ? MicrosOf(policy.keep()) : 0;
  if (keep_us != 0 && keep_us < int64_t{3600} * 1000000) {
    return absl::InvalidArgumentError(
        "policy.keep: at least 1h (or 0 to keep readings for ever)");
  }
  RETURN_IF_ERROR(store_->SetRetention(policy.dataset(), keep_us));
  return policy;
}

absl::StatusOr<v1::RetentionPolicy> Ingestion::GetRetention(const auth::Caller& caller,
                                                            const std::string& dataset) {
  std::shared_ptr<const DatasetSchema> schema;
  RETURN_IF_ERROR(AuthorizeDataset(caller, auth::Action::kRead, dataset, &schema));
  ASSIGN_OR_RETURN(int64_t keep_us, store_->GetRetention(dataset));
  v1::RetentionPolicy policy;
  policy.set_dataset(dataset);
  if (keep_us > 0) *policy.mutable_keep() = TimeUtil::MicrosecondsToDuration(keep_us);
  return policy;
}

absl::StatusOr<int64_t> Ingestion::ApplyRetention(int chunk) {
  ASSIGN_OR_RETURN(auto policies, store_->ListRetention());
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  int64_t total = 0;
  for (const auto& [dataset, keep_us] : policies) {
    if (keep_us <= 0) continue;
    while (true) {
      ASSIGN_OR_RETURN(int64_t deleted, store_->DeleteReadingsBefore(
                                            dataset, RollupBucketStart(now_us - keep_us), chunk));
      total += deleted;
      if (deleted < chunk) break;
    }
  }
  return total;
}

absl::Status Ingestion::RefreshQualityMetrics() {
  SourceListQuery query;
  query.limit = kMaxSourcePage;
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  std::vector<v1::Source> all;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<v1::Source> page, store_->ListSources(query));
    const bool more = static_cast<int>(page.size()) == query.limit;
    if (!page.empty()) query.after_id = page.back().id();
    for (v1::Source& source : page) all.push_back(std::move(source));
    if (!more) break;
  }
  std::vector<std::string> ids;
  for (const v1::Source& source : all) ids.push_back(source.id());
  ASSIGN_OR_RETURN(std::vector<StoredReading> latest, store_->Latest(ids));
  absl::flat_hash_map<std::string, int64_t> last_seen;
  for (const StoredReading& row : latest) last_seen[row.source_id] = row.time_us;
  absl::flat_hash_map<std::string, int64_t> silent;
  for (const v1::Source& source : all) {
    int64_t& n = silent[source.dataset()];
    const int64_t interval = MicrosOf(source.expected_interval());
    if (source.disabled() || interval <= 0) continue;
    auto it = last_seen.find(source.id());
    const int64_t since = it == last_seen.end() ? MicrosOf(source.create_time()) : it->second;
    if (now_us - since > 2 * interval) ++n;
  }
  for (const auto& [dataset, n] : silent) metrics_.SetSilentSources(dataset, n);
  // Missing intervals over the last hour, per dataset (sources with an expected interval).
  absl::flat_hash_map<std::string, int64_t> missing;
  for (const v1::Source& source : all) {
    int64_t& n = missing[source.dataset()];
    if (source.disabled() || MicrosOf(source.expected_interval()) <= 0) continue;
    v1::SourceQuality quality;
    RETURN_IF_ERROR(
        MeasureQuality(source, now_us - int64_t{3600} * 1000000, now_us, &quality));
    n += quality.missing_intervals();
  }
  for (const auto& [dataset, n] : missing) metrics_.SetMissingIntervals(dataset, n);
  return absl::OkStatus();
}

}  // namespace smartby::ingestion
