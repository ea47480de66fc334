#include "services/archive/archive.h"

#include <algorithm>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "services/archive/noark5/package_writer.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby::archive {
namespace {

namespace cv1 = ::smartcity::catalogue::v1;
using smartcity::common::v1::Classification;

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 500;
constexpr size_t kMaxConfigChars = 200;
// Progress goes to the store at most this often (watchers are told every change).
constexpr absl::Duration kPersistEvery = absl::Seconds(2);

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

absl::string_view StateName(v1::ExportState state) {
  switch (state) {
    case v1::EXPORT_STATE_QUEUED: return "queued";
    case v1::EXPORT_STATE_RUNNING: return "running";
    case v1::EXPORT_STATE_CHECKING: return "checking";
    case v1::EXPORT_STATE_SUCCEEDED: return "succeeded";
    case v1::EXPORT_STATE_FAILED: return "failed";
    case v1::EXPORT_STATE_CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

absl::Status CheckConfigField(const std::string& value, absl::string_view field) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("config.", field, ": required"));
  }
  if (value.size() > kMaxConfigChars) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.", field, ": at most ", kMaxConfigChars, " characters"));
  }
  return absl::OkStatus();
}

std::string PageToken(const JobCursor& cursor) {
  return absl::WebSafeBase64Escape(absl::StrCat(cursor.create_us, ":", cursor.id));
}

absl::StatusOr<JobCursor> ParsePageToken(const std::string& token) {
  std::string text;
  std::pair<std::string, std::string> parts;
  JobCursor cursor;
  if (absl::WebSafeBase64Unescape(token, &text)) {
    parts = absl::StrSplit(text, absl::MaxSplits(':', 1));
    if (absl::SimpleAtoi(parts.first, &cursor.create_us) && !parts.second.empty()) {
      cursor.id = parts.second;
      return cursor;
    }
  }
  return absl::InvalidArgumentError(
      "page_token: not a token this service gave out; start again without one");
}

}  // namespace

auth::ResourceRef ResourceOf(const v1::ExportJob& job) {
  auth::ResourceRef resource;
  resource.classification = job.classification();
  resource.dataset = absl::StrJoin(job.datasets(), ",");
  return resource;
}

bool IsFinished(v1::ExportState state) {
  return state == v1::EXPORT_STATE_SUCCEEDED || state == v1::EXPORT_STATE_FAILED ||
         state == v1::EXPORT_STATE_CANCELLED;
}

// A job a worker is running: the live copy (progress is newer here than in the store).
struct Archive::Running {
  v1::ExportJob job;
  std::atomic<bool> cancel{false};
  bool user_cancel = false;  // under mu_: cancelled by CancelExport, not by Stop
  bool done = false;         // under mu_: the worker has saved its final state
  absl::Time persisted = absl::InfinitePast();
};

class Archive::Control : public ExportControl {
 public:
  Control(Archive* archive, std::shared_ptr<Running> running)
      : archive_(archive), running_(std::move(running)) {}

  void Report(const v1::ExportProgress& progress) override {
    v1::ExportJob copy;
    bool persist = false;
    {
      std::lock_guard<std::mutex> lock(archive_->mu_);
      *running_->job.mutable_progress() = progress;
      archive_->SetTime(running_->job.mutable_update_time());
      copy = running_->job;
      const absl::Time now = archive_->clock_->Now();
      if (now - running_->persisted >= kPersistEvery) {
        running_->persisted = now;
        persist = true;
      }
    }
    if (persist) {
      if (absl::Status saved = archive_->store_->Update(copy); !saved.ok()) {
        log::Warn("export progress not saved", {{"job", copy.id()},
                                                {"error", std::string(saved.message())}});
      }
    }
    archive_->Notify(copy);
  }

  void Checking() override {
    v1::ExportJob copy;
    {
      std::lock_guard<std::mutex> lock(archive_->mu_);
      running_->job.set_state(v1::EXPORT_STATE_CHECKING);
      running_->job.mutable_progress()->set_phase("checking");
      archive_->SetTime(running_->job.mutable_update_time());
      copy = running_->job;
    }
    if (absl::Status saved = archive_->Save(copy); !saved.ok()) {
      log::Warn("export state not saved", {{"job", copy.id()},
                                           {"error", std::string(saved.message())}});
    }
  }

  bool cancelled() const override { return running_->cancel.load(); }

 private:
  Archive* archive_;
  std::shared_ptr<Running> running_;
};

Archive::Archive(ExportJobStore* store, DatasetLookup* datasets, PackageExporter* exporter,
                 JobAuditor* auditor, const Clock* clock, prometheus::Registry* metrics,
                 ArchiveOptions options)
    : store_(store),
      datasets_(datasets),
      exporter_(exporter),
      auditor_(auditor),
      clock_(clock),
      options_(std::move(options)) {
  if (metrics != nullptr) {
    jobs_total_ = &prometheus::BuildCounter()
                       .Name("smartby_archive_jobs_total")
                       .Help("Export jobs that ended, by outcome (succeeded, failed, cancelled)")
                       .Register(*metrics);
    // Every outcome from zero, so that rate() and increase() see the first failure as one.
    for (v1::ExportState end : {v1::EXPORT_STATE_SUCCEEDED, v1::EXPORT_STATE_FAILED,
                                v1::EXPORT_STATE_CANCELLED}) {
      jobs_total_->Add({{"outcome", std::string(StateName(end))}});
    }
    duration_ = &prometheus::BuildHistogram()
                     .Name("smartby_archive_job_duration_seconds")
                     .Help("Wall time of export jobs from start by a worker to their end")
                     .Register(*metrics)
                     .Add({}, prometheus::Histogram::BucketBoundaries{
                                  1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400});
    queued_ = &prometheus::BuildGauge()
                   .Name("smartby_archive_jobs_queued")
                   .Help("Export jobs waiting for a worker")
                   .Register(*metrics)
                   .Add({});
    running_gauge_ = &prometheus::BuildGauge()
                          .Name("smartby_archive_jobs_running")
                          .Help("Export jobs a worker is running now")
                          .Register(*metrics)
                          .Add({});
    package_bytes_ = &prometheus::BuildCounter()
                          .Name("smartby_archive_package_bytes_total")
                          .Help("Bytes of packages that passed their checks")
                          .Register(*metrics)
                          .Add({});
  }
}

Archive::~Archive() { Stop(); }

void Archive::SetTime(google::protobuf::Timestamp* field) const {
  ToTimestamp(clock_->Now(), field);
}

ExportPaths Archive::PathsOf(const std::string& id) const {
  return ExportPaths{options_.package_dir / ".staging" / id,
                     options_.package_dir / absl::StrCat(id, ".tar")};
}

void Archive::RemoveFiles(const std::string& id) {
  const ExportPaths paths = PathsOf(id);
  std::error_code ignored;
  std::filesystem::remove_all(paths.staging_dir, ignored);
  std::filesystem::remove(paths.package, ignored);
  std::filesystem::remove(paths.package.string() + ".partial", ignored);
}

absl::Status Archive::Start() {
  if (options_.package_dir.empty()) {
    return absl::InvalidArgumentError("--package_dir: required (where packages are written)");
  }
  std::error_code ec;
  std::filesystem::create_directories(options_.package_dir / ".staging", ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--package_dir: cannot create ", options_.package_dir.string(), ": ", ec.message()));
  }
  ASSIGN_OR_RETURN(std::vector<v1::ExportJob> unfinished, store_->ListUnfinished());
  for (v1::ExportJob& job : unfinished) {
    // Whatever it had written may be half a file: start it again from nothing.
    RemoveFiles(job.id());
    const bool was_running = job.state() != v1::EXPORT_STATE_QUEUED;
    job.set_state(v1::EXPORT_STATE_QUEUED);
    job.clear_progress();
    job.mutable_progress()->set_phase("queued");
    job.mutable_progress()->set_datasets_total(job.datasets_size());
    SetTime(job.mutable_update_time());
    RETURN_IF_ERROR(store_->Update(job));
    if (was_running) {
      log::Info("export interrupted by a restart: starting it again",
                {{"job", job.id()}, {"attempts", static_cast<int64_t>(job.attempts())}});
      auditor_->Record(job, "export.restarted");
    }
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job.id());
  }
  if (queued_ != nullptr) queued_->Set(static_cast<double>(queue_.size()));
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
  return absl::OkStatus();
}

void Archive::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    for (auto& [id, running] : running_) running->cancel.store(true);
  }
  work_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

void Archive::WorkerLoop() {
  while (true) {
    std::string id;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      id = queue_.front();
      queue_.pop_front();
      if (queued_ != nullptr) queued_->Set(static_cast<double>(queue_.size()));
    }
    RunJob(id);
  }
}

void Archive::RunJob(const std::string& id) {
  absl::StatusOr<v1::ExportJob> loaded = store_->Get(id);
  if (!loaded.ok()) {
    log::Error("export job cannot be read", {{"job", id},
                                            {"error", std::string(loaded.status().message())}});
    return;
  }
  if (loaded->state() != v1::EXPORT_STATE_QUEUED) return;  // cancelled while it waited
  auto running = std::make_shared<Running>();
  running->job = *std::move(loaded);
  running->job.set_state(v1::EXPORT_STATE_RUNNING);
  running->job.set_attempts(running->job.attempts() + 1);
  running->job.mutable_progress()->set_phase("starting");
  SetTime(running->job.mutable_update_time());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    if (cancelled_unstarted_.erase(id) > 0) return;
    running_[id] = running;
    if (running_gauge_ != nullptr) running_gauge_->Set(static_cast<double>(running_.size()));
  }
  const absl::Time started = clock_->Now();
  v1::ExportJob snapshot = running->job;
  if (absl::Status saved = Save(snapshot); !saved.ok()) {
    log::Warn("export state not saved", {{"job", id}, {"error", std::string(saved.message())}});
  }
  auditor_->Record(snapshot, "export.started");
  log::Info("export started", {{"job", id},
                               {"datasets", absl::StrJoin(snapshot.datasets(), ",")},
                               {"attempt", static_cast<int64_t>(snapshot.attempts())}});

  RemoveFiles(id);  // a clean start, whatever an earlier attempt left
  Control control(this, running);
  const ExportPaths paths = PathsOf(id);
  absl::StatusOr<PackageResult> result = exporter_->Export(snapshot, paths, control);

  v1::ExportJob final_job;
  bool shutdown = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    final_job = running->job;
    shutdown = running->cancel.load() && !running->user_cancel;
    if (running->user_cancel) {
      final_job.set_state(v1::EXPORT_STATE_CANCELLED);
    } else if (shutdown) {
      // Left RUNNING in the store: the next start restarts it.
    } else if (result.ok()) {
      final_job.set_state(v1::EXPORT_STATE_SUCCEEDED);
      final_job.set_package_size(result->size_bytes);
      final_job.set_package_sha256(result->sha256_hex);
      final_job.mutable_progress()->set_phase("done");
    } else {
      final_job.set_state(v1::EXPORT_STATE_FAILED);
      final_job.set_error(std::string(result.status().message()));
    }
  }
  if (shutdown) {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(id);
    running->done = true;
    finished_.notify_all();
    return;
  }
  if (final_job.state() != v1::EXPORT_STATE_SUCCEEDED) {
    RemoveFiles(id);
  } else {
    // The package stays; only the staging directory goes.
    std::error_code ignored;
    std::filesystem::remove_all(paths.staging_dir, ignored);
  }
  SetTime(final_job.mutable_update_time());
  SetTime(final_job.mutable_finish_time());
  if (absl::Status saved = Save(final_job); !saved.ok()) {
    log::Error("export outcome not saved", {{"job", id},
                                            {"error", std::string(saved.message())}});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(id);
    running->done = true;
    if (running_gauge_ != nullptr) running_gauge_->Set(static_cast<double>(running_.size()));
  }
  finished_.notify_all();
  if (duration_ != nullptr) duration_->Observe(absl::ToDoubleSeconds(clock_->Now() - started));
  Finished(final_job);
}

void Archive::Finished(const v1::ExportJob& job) {
  const std::string outcome(StateName(job.state()));
  if (jobs_total_ != nullptr) jobs_total_->Add({{"outcome", outcome}}).Increment();
  if (job.state() == v1::EXPORT_STATE_SUCCEEDED && package_bytes_ != nullptr) {
    package_bytes_->Increment(static_cast<double>(job.package_size()));
  }
  auditor_->Record(job, absl::StrCat("export.", outcome));
  log::Write(job.state() == v1::EXPORT_STATE_FAILED ? log::Level::kWarn : log::Level::kInfo,
             absl::StrCat("export ", outcome),
             {{"job", job.id()}, {"error", job.error()},
              {"package_bytes", job.package_size()}});
}

absl::Status Archive::Save(const v1::ExportJob& job) {
  absl::Status saved = store_->Update(job);
  Notify(job);
  return saved;
}

void Archive::Notify(const v1::ExportJob& job) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  for (const auto& [subscription, watcher] : watchers_) {
    if (watcher.first == job.id()) watcher.second(job);
  }
}

int Archive::Watch(const std::string& id, WatchFn on_change) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  const int subscription = next_watch_++;
  watchers_[subscription] = {id, std::move(on_change)};
  return subscription;
}

void Archive::Unwatch(int subscription) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  watchers_.erase(subscription);
}

absl::StatusOr<v1::ExportJob> Archive::StartExport(const auth::Caller& caller,
                                                   const v1::StartExportRequest& request) {
  if (request.datasets().empty()) {
    return absl::InvalidArgumentError("datasets: name at least one dataset to export");
  }
  if (request.datasets_size() > options_.max_datasets) {
    return absl::InvalidArgumentError(
        absl::StrCat("datasets: at most ", options_.max_datasets, " per export"));
  }
  std::set<std::string> seen;
  for (const std::string& name : request.datasets()) {
    if (name.empty()) return absl::InvalidArgumentError("datasets: a dataset name is empty");
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("datasets: \"", name, "\" is named twice"));
    }
  }
  v1::ExportConfig config = request.config();
  if (config.arkivdel().empty()) config.set_arkivdel(options_.default_arkivdel);
  if (config.document_type().empty()) config.set_document_type(options_.default_document_type);
  if (config.case_handler().empty()) config.set_case_handler(caller.subject());
  const absl::Time now = clock_->Now();
  if (request.has_start_time() && request.has_end_time() &&
      TimeOf(request.end_time()) <= TimeOf(request.start_time())) {
    return absl::InvalidArgumentError("end_time: must be after start_time");
  }
  if (request.has_start_time() && TimeOf(request.start_time()) >= now) {
    return absl::InvalidArgumentError("start_time: must be in the past");
  }

  // The class of every dataset decides who may export them: the highest one is the job's.
  Classification highest = smartcity::common::v1::CLASSIFICATION_OPEN;
  absl::Time earliest = absl::InfiniteFuture();
  for (const std::string& name : request.datasets()) {
    absl::StatusOr<cv1::Dataset> dataset = datasets_->GetDataset(name);
    if (!dataset.ok()) {
      if (absl::IsNotFound(dataset.status())) {
        caller.MarkChecked();  // nothing to authorise: it does not exist
        return absl::NotFoundError(absl::StrCat("datasets: \"", name, "\" is not in the catalogue"));
      }
      return dataset.status();
    }
    highest = std::max(highest, dataset->classification());
    if (dataset->classification() == smartcity::common::v1::CLASSIFICATION_UNSPECIFIED) {
      highest = smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;  // fail closed
    }
    earliest = std::min(earliest, TimeOf(dataset->create_time()));
    if (!request.has_start_time()) {
      absl::StatusOr<std::optional<absl::Time>> oldest = datasets_->OldestReading(name);
      if (!oldest.ok()) return oldest.status();
      if (oldest->has_value()) earliest = std::min(earliest, **oldest);
    }
    if (config.responsible_unit().empty()) {
      config.set_responsible_unit(dataset->owner().department().empty()
                                      ? dataset->owner().organization()
                                      : dataset->owner().department());
    }
  }

  v1::ExportJob job;
  job.set_id(noark5::NewUuid());
  *job.mutable_datasets() = request.datasets();
  *job.mutable_config() = config;
  job.set_classification(highest);
  RETURN_IF_ERROR(caller.Authorize(auth::Action::kArchive, ResourceOf(job)));
  RETURN_IF_ERROR(CheckConfigField(config.arkivdel(), "arkivdel"));
  RETURN_IF_ERROR(CheckConfigField(config.document_type(), "document_type"));
  RETURN_IF_ERROR(CheckConfigField(config.responsible_unit(), "responsible_unit"));
  RETURN_IF_ERROR(CheckConfigField(config.case_handler(), "case_handler"));

  // The period is fixed now, so that a restarted job exports exactly what it would have.
  if (request.has_start_time()) {
    *job.mutable_start_time() = request.start_time();
  } else {
    ToTimestamp(earliest == absl::InfiniteFuture() ? now : std::min(earliest, now),
                job.mutable_start_time());
  }
  if (request.has_end_time()) {
    *job.mutable_end_time() = request.end_time();
  } else {
    ToTimestamp(now, job.mutable_end_time());
  }
  if (TimeOf(job.end_time()) <= TimeOf(job.start_time())) {
    return absl::InvalidArgumentError(
        "end_time: must be after the start of the period (by default, the oldest reading or "
        "dataset's creation)");
  }
  job.set_state(v1::EXPORT_STATE_QUEUED);
  job.mutable_progress()->set_phase("queued");
  job.mutable_progress()->set_datasets_total(job.datasets_size());
  job.set_created_by(caller.subject());
  ToTimestamp(now, job.mutable_create_time());
  ToTimestamp(now, job.mutable_update_time());

  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("the archive is shutting down; try again shortly");
  if (static_cast<int>(queue_.size()) >= options_.max_queued) {
    return absl::ResourceExhaustedError(absl::StrCat(
        options_.max_queued, " exports are already waiting; try again when one has finished"));
  }
  RETURN_IF_ERROR(store_->Create(job));
  queue_.push_back(job.id());
  if (queued_ != nullptr) queued_->Set(static_cast<double>(queue_.size()));
  work_.notify_one();
  return job;
}

absl::StatusOr<v1::ExportJob> Archive::LoadAuthorized(const auth::Caller& caller,
                                                      const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("id: required (the export job's id)");
  v1::ExportJob job;
  bool live = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = running_.find(id); it != running_.end()) {
      job = it->second->job;
      live = true;
    }
  }
  if (!live) {
    absl::StatusOr<v1::ExportJob> stored = store_->Get(id);
    if (!stored.ok()) {
      caller.MarkChecked();  // nothing to authorise: it does not exist
      return stored.status();
    }
    job = *std::move(stored);
  }
  RETURN_IF_ERROR(caller.Authorize(auth::Action::kArchive, ResourceOf(job)));
  return job;
}

absl::StatusOr<v1::ExportJob> Archive::GetExport(const auth::Caller& caller,
                                                 const std::string& id) {
  return LoadAuthorized(caller, id);
}

absl::StatusOr<v1::ListExportsResponse> Archive::ListExports(
    const auth::Caller& caller, const v1::ListExportsRequest& request) {
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size: must not be negative");
  }
  const int page_size = request.page_size() == 0 ? kDefaultPageSize
                                                 : std::min(request.page_size(), kMaxPageSize);
  std::optional<JobCursor> after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, ParsePageToken(request.page_token()));
  }
  caller.MarkChecked();
  v1::ListExportsResponse response;
  // Jobs the caller may not see are skipped; read on until the page is full or the jobs end.
  while (response.jobs_size() < page_size) {
    ASSIGN_OR_RETURN(std::vector<v1::ExportJob> jobs, store_->List(after, page_size));
    for (v1::ExportJob& job : jobs) {
      after = CursorOf(job);
      if (!caller.Allows(auth::Action::kArchive, ResourceOf(job))) continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = running_.find(job.id()); it != running_.end()) job = it->second->job;
      }
      *response.add_jobs() = std::move(job);
      if (response.jobs_size() == page_size) break;
    }
    if (static_cast<int>(jobs.size()) < page_size) {
      after.reset();
      break;
    }
  }
  if (after.has_value()) response.set_next_page_token(PageToken(*after));
  return response;
}

absl::StatusOr<v1::ExportJob> Archive::CancelExport(const auth::Caller& caller,
                                                    const std::string& id) {
  ASSIGN_OR_RETURN(v1::ExportJob job, LoadAuthorized(caller, id));
  if (IsFinished(job.state())) {
    return absl::FailedPreconditionError(absl::StrCat("export job ", id, " has already ended (",
                                                      StateName(job.state()),
                                                      "); only a queued or running job can be "
                                                      "cancelled"));
  }
  std::shared_ptr<Running> running;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (auto it = running_.find(id); it != running_.end()) {
      running = it->second;
      running->user_cancel = true;
      running->job.set_cancelled_by(caller.subject());
      running->cancel.store(true);
    } else if (auto queued = std::find(queue_.begin(), queue_.end(), id); queued != queue_.end()) {
      queue_.erase(queued);
      if (queued_ != nullptr) queued_->Set(static_cast<double>(queue_.size()));
    } else {
      cancelled_unstarted_.insert(id);  // a worker has it in hand but has not started it
    }
    if (running != nullptr) {
      // The worker notices within one page of readings; it removes the files and saves the
      // CANCELLED state itself.
      finished_.wait_for(lock, std::chrono::seconds(60), [&] { return running->done; });
    }
  }
  if (running == nullptr) {
    // It had not started: nothing was written. (Read again: it may have ended just now.)
    ASSIGN_OR_RETURN(job, store_->Get(id));
    if (IsFinished(job.state())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "export job ", id, " has already ended (", StateName(job.state()), ")"));
    }
    job.set_state(v1::EXPORT_STATE_CANCELLED);
    job.set_cancelled_by(caller.subject());
    SetTime(job.mutable_update_time());
    SetTime(job.mutable_finish_time());
    RETURN_IF_ERROR(Save(job));
    Finished(job);
    return job;
  }
  return store_->Get(id);
}

absl::StatusOr<Archive::Package> Archive::OpenPackage(const auth::Caller& caller,
                                                      const std::string& id) {
  ASSIGN_OR_RETURN(v1::ExportJob job, LoadAuthorized(caller, id));
  if (job.state() != v1::EXPORT_STATE_SUCCEEDED) {
    return absl::FailedPreconditionError(
        absl::StrCat("export job ", id, " has no package to fetch: it is ", StateName(job.state()),
                     job.state() == v1::EXPORT_STATE_FAILED ? absl::StrCat(" (", job.error(), ")")
                                                            : std::string()));
  }
  Package package{PathsOf(id).package, std::move(job)};
  std::error_code ec;
  if (!std::filesystem::is_regular_file(package.path, ec)) {
    return absl::DataLossError(absl::StrCat("the package of export job ", id, " is missing from ",
                                            package.path.string()));
  }
  return package;
}

absl::StatusOr<v1::ExportJob> Archive::PushExport(const auth::Caller& caller,
                                                  const std::string& id) {
  ASSIGN_OR_RETURN(v1::ExportJob job, LoadAuthorized(caller, id));
  if (options_.core_pusher == nullptr) {
    return absl::FailedPreconditionError(
        "no Noark 5 core is configured: start the archive with --noark5_core_url (and "
        "--noark5_token_url, --noark5_client_id, --noark5_client_secret_file) to push packages");
  }
  if (job.state() != v1::EXPORT_STATE_SUCCEEDED) {
    return absl::FailedPreconditionError(
        absl::StrCat("export job ", id, " cannot be pushed: it is ", StateName(job.state()),
                     "; only a job whose package passed its checks (SUCCEEDED) can be"));
  }
  if (job.push().state() == v1::PUSH_STATE_PUSHED) {
    std::vector<std::string> case_files;
    for (const v1::PushedCaseFile& pushed : job.push().case_files()) {
      case_files.push_back(pushed.system_id());
    }
    return absl::AlreadyExistsError(absl::StrCat(
        "export job ", id, " was already pushed to ", job.push().core_url(),
        " (saksmappe ", absl::StrJoin(case_files, ", "), "); it is not pushed twice"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!pushing_.insert(id).second) {
      return absl::AbortedError(
          absl::StrCat("export job ", id, " is being pushed now; wait for that push to end"));
    }
  }
  struct Release {
    Archive* archive;
    std::string id;
    ~Release() {
      std::lock_guard<std::mutex> lock(archive->mu_);
      archive->pushing_.erase(id);
    }
  } release{this, id};

  // A PUSHING state found here is left by a process that stopped mid-push: retried like a
  // failure (the case files it recorded are skipped).
  v1::CorePush* push = job.mutable_push();
  push->set_state(v1::PUSH_STATE_PUSHING);
  push->set_core_url(options_.core_pusher->core_url());
  push->set_pushed_by(caller.subject());
  push->set_attempts(push->attempts() + 1);
  push->clear_error();
  SetTime(push->mutable_start_time());
  SetTime(job.mutable_update_time());
  RETURN_IF_ERROR(Save(job));
  std::set<std::string> already_pushed;
  for (const v1::PushedCaseFile& pushed : push->case_files()) {
    already_pushed.insert(pushed.mappe_id());
  }
  absl::Status outcome = options_.core_pusher->Push(
      PathsOf(id).package, already_pushed, [&](const v1::PushedCaseFile& pushed) {
        *job.mutable_push()->add_case_files() = pushed;
        SetTime(job.mutable_update_time());
        // Recorded at once, so that a retry after a crash does not create it again.
        if (absl::Status saved = Save(job); !saved.ok()) {
          log::Warn("cannot record a pushed case file",
                    {{"job", id}, {"error", std::string(saved.message())}});
        }
      });
  push = job.mutable_push();
  if (outcome.ok()) {
    push->set_state(v1::PUSH_STATE_PUSHED);
    SetTime(push->mutable_pushed_at());
  } else {
    push->set_state(v1::PUSH_STATE_FAILED);
    push->set_error(std::string(outcome.message()));
  }
  SetTime(job.mutable_update_time());
  RETURN_IF_ERROR(Save(job));
  auditor_->Record(job, outcome.ok() ? "export.pushed" : "export.push_failed");
  log::Write(outcome.ok() ? log::Level::kInfo : log::Level::kWarn,
             outcome.ok() ? "export pushed" : "export push failed",
             {{"job", id}, {"core", push->core_url()}, {"error", push->error()}});
  if (!outcome.ok()) return outcome;
  return job;
}

}  // namespace smartby::archive
