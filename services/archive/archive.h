// The archive's domain: export jobs and the bounded worker that runs them. No gRPC types here:
// archive_service.cc translates calls into these functions, and the package itself is made by a
// PackageExporter (export_pipeline.h), so the job rules can be tested with any exporter.
//
// A job's life: QUEUED (StartExport) -> RUNNING (a worker took it) -> CHECKING (the package is
// written and packed, CheckPackage runs) -> SUCCEEDED, or FAILED / CANCELLED from any state
// before. Only a job whose package passed every check is SUCCEEDED; only then can it be fetched.
//
// Files, under --package_dir:
//   <id>.tar              the finished package (present only for SUCCEEDED jobs)
//   .staging/<id>/        the package being written; removed when the job ends, whatever the end
// A job that was QUEUED, RUNNING or CHECKING when the process stopped is restarted from the
// beginning at start-up (Resume): its staging directory and any partial TAR are wiped first, and
// `attempts` counts the starts.
//
// Access: every call names the job's resource (ResourceOf: its highest class), and the caller
// must be allowed auth::Action::kArchive on it (archivist or platform-admin, with a clearance
// that covers the class and, above Intern, a second factor).
//
// Thread safety: thread-safe. Calls block on the store; run them on the worker pool.
#ifndef SMARTBY_SERVICES_ARCHIVE_ARCHIVE_H_
#define SMARTBY_SERVICES_ARCHIVE_ARCHIVE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/archive/store.h"
#include "services/runtime/auth/caller.h"
#include "services/runtime/clock.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::archive {

// Where the datasets' classes come from when an export is started (the catalogue, through the
// archive's own service account).
class DatasetLookup {
 public:
  virtual ~DatasetLookup() = default;
  // NOT_FOUND naming the dataset when the catalogue does not have it.
  virtual absl::StatusOr<smartcity::catalogue::v1::Dataset> GetDataset(const std::string& name) = 0;
  // When the dataset's oldest reading was measured; nullopt when it has none. Readings are often
  // older than the dataset's entry in the catalogue (backfilled, or imported from a
  // line-of-business system), and an export's default period must include them.
  virtual absl::StatusOr<std::optional<absl::Time>> OldestReading(const std::string& name) = 0;
};

// Paths one export writes to.
struct ExportPaths {
  std::filesystem::path staging_dir;  // absent or empty when the export starts
  std::filesystem::path package;      // the TAR to write
};

// The job's view of a running export: report progress, and notice a cancel.
class ExportControl {
 public:
  virtual ~ExportControl() = default;
  // Replaces the job's progress (cheap: watchers are told at most a few times a second).
  virtual void Report(const v1::ExportProgress& progress) = 0;
  // The package is written; its checks start (state CHECKING).
  virtual void Checking() = 0;
  virtual bool cancelled() const = 0;
};

struct PackageResult {
  int64_t size_bytes = 0;
  std::string sha256_hex;
};

// Makes one package: reads the platform, writes `paths.package`, and checks it. Returns
// CANCELLED soon after control.cancelled() turns true; any other error fails the job with its
// message (which names what went wrong, e.g. the failed checks).
class PackageExporter {
 public:
  virtual ~PackageExporter() = default;
  virtual absl::StatusOr<PackageResult> Export(const v1::ExportJob& job, const ExportPaths& paths,
                                               ExportControl& control) = 0;
};

// Records the steps of a job that happen outside any call (started, succeeded, failed,
// cancelled by a restart) in the audit log. `step` is "export.started", "export.succeeded", ...
class JobAuditor {
 public:
  virtual ~JobAuditor() = default;
  virtual void Record(const v1::ExportJob& job, const std::string& step) = 0;
};

// Pushes a checked package into a Noark 5 core (package_push.h is the real one).
class CorePusher {
 public:
  virtual ~CorePusher() = default;
  // The core's root URL, recorded on the job.
  virtual std::string core_url() const = 0;
  // Creates in the core every case file (mappe) of the package at `package` whose mappeID is not
  // in `already_pushed`, calling `on_pushed` after each one the core has whole. An error names
  // what failed; UNAVAILABLE when the core (or its identity provider) cannot be reached.
  virtual absl::Status Push(const std::filesystem::path& package,
                            const std::set<std::string>& already_pushed,
                            const std::function<void(const v1::PushedCaseFile&)>& on_pushed) = 0;
};

struct ArchiveOptions {
  std::filesystem::path package_dir;  // required
  int workers = 1;                    // exports running at once
  int max_queued = 16;                // QUEUED jobs beyond which StartExport is refused
  int max_datasets = 20;              // per export
  // Used when a request leaves the field empty. responsible_unit then defaults to the first
  // dataset's owner department (else its organisation), case_handler to the caller's subject.
  std::string default_arkivdel = "Datasett fra Smartby";
  std::string default_document_type = "Dataeksport";
  // Where PushExport pushes to; null: no core is configured and PushExport is refused.
  CorePusher* core_pusher = nullptr;
};

// The policy resource of a job: its class and its datasets (for messages and audit records).
auth::ResourceRef ResourceOf(const v1::ExportJob& job);

// True for SUCCEEDED, FAILED and CANCELLED.
bool IsFinished(v1::ExportState state);

class Archive {
 public:
  // Every pointer must outlive the Archive; `metrics` may be nullptr.
  Archive(ExportJobStore* store, DatasetLookup* datasets, PackageExporter* exporter,
          JobAuditor* auditor, const Clock* clock, prometheus::Registry* metrics,
          ArchiveOptions options);
  ~Archive();  // Stop()

  // Creates the directories, restarts the jobs a previous run left unfinished, and starts the
  // workers. Call once.
  absl::Status Start();
  // Stops the workers: running exports are told to stop and left as they are in the store
  // (RUNNING), so the next Start restarts them.
  void Stop();

  absl::StatusOr<v1::ExportJob> StartExport(const auth::Caller& caller,
                                            const v1::StartExportRequest& request);
  absl::StatusOr<v1::ExportJob> GetExport(const auth::Caller& caller, const std::string& id);
  absl::StatusOr<v1::ListExportsResponse> ListExports(const auth::Caller& caller,
                                                      const v1::ListExportsRequest& request);
  absl::StatusOr<v1::ExportJob> CancelExport(const auth::Caller& caller, const std::string& id);

  // The package of a SUCCEEDED job the caller may fetch: its path and job.
  struct Package {
    std::filesystem::path path;
    v1::ExportJob job;
  };
  absl::StatusOr<Package> OpenPackage(const auth::Caller& caller, const std::string& id);

  // Pushes the package of a SUCCEEDED job into the Noark 5 core and returns the job with its
  // push record; blocks until the push has ended. A push that succeeded is never repeated
  // (ALREADY_EXISTS); a failed one is recorded on the job (and returned) and may be retried,
  // skipping the case files the core already has.
  absl::StatusOr<v1::ExportJob> PushExport(const auth::Caller& caller, const std::string& id);

  // Watching: `on_change` gets the job every time it changes (on whichever thread changed it;
  // it must not block or call back into the Archive). Returns a subscription id for Unwatch.
  using WatchFn = std::function<void(const v1::ExportJob&)>;
  int Watch(const std::string& id, WatchFn on_change);
  void Unwatch(int subscription);

 private:
  struct Running;
  class Control;

  void WorkerLoop();
  void RunJob(const std::string& id);
  // Writes `job` to the store and tells its watchers.
  absl::Status Save(const v1::ExportJob& job);
  void Notify(const v1::ExportJob& job);
  void RemoveFiles(const std::string& id);
  ExportPaths PathsOf(const std::string& id) const;
  absl::StatusOr<v1::ExportJob> LoadAuthorized(const auth::Caller& caller, const std::string& id);
  void Finished(const v1::ExportJob& job);
  void SetTime(google::protobuf::Timestamp* field) const;

  ExportJobStore* const store_;
  DatasetLookup* const datasets_;
  PackageExporter* const exporter_;
  JobAuditor* const auditor_;
  const Clock* const clock_;
  const ArchiveOptions options_;

  std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable finished_;  // a running job's worker has saved its final state
  std::deque<std::string> queue_;
  // Jobs cancelled after a worker took them from the queue but before it registered them as
  // running: the worker drops them.
  std::set<std::string> cancelled_unstarted_;
  // Jobs being pushed now (a second push of one is refused while the first runs).
  std::set<std::string> pushing_;
  std::map<std::string, std::shared_ptr<Running>> running_;
  // Under their own mutex, so that a watcher's callback never runs under mu_.
  std::mutex watch_mu_;
  std::map<int, std::pair<std::string, WatchFn>> watchers_;
  int next_watch_ = 1;
  bool stopping_ = false;
  std::vector<std::thread> workers_;

  prometheus::Family<prometheus::Counter>* jobs_total_ = nullptr;
  prometheus::Histogram* duration_ = nullptr;
  prometheus::Gauge* queued_ = nullptr;
  prometheus::Gauge* running_gauge_ = nullptr;
  prometheus::Counter* package_bytes_ = nullptr;
};

}  // namespace smartby::archive

#endif  // SMARTBY_SERVICES_ARCHIVE_ARCHIVE_H_
