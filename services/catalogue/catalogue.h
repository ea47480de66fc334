// The catalogue's domain logic: the rules of the dataset registry, independent of gRPC.
//
// - Every change is one store transaction: validate, check the caller's version, write the new
//   version and its history entry together, or write nothing.
// - Versions start at 1 and grow by one with each change (metadata, state, resources).
// - Publish gate: a dataset that is not Åpen, or that contains personal data, needs a recorded
//   risk assessment (ROS) before it is published, and personal data needs a DPIA as well. The
//   gate also holds for changes to a dataset that is already published.
// - Retired datasets are read-only; only drafts can be deleted.
// - Search is answered from an in-memory SearchIndex (search_index.h) that every catalogue
//   process holds; the database stays the source of truth and Get/List always read it. The index
//   is filled from the store by LoadSearchIndex (start-up, before serving), updated after every
//   write this catalogue commits (so a caller searching the same process reads its own writes),
//   and reconciled with the store by RefreshSearchIndex (SearchIndexRefresher runs it every few
//   seconds), which picks up what other replicas wrote. So search on one replica lags another
//   replica's writes by at most the refresh interval plus one reconcile.
// - Authorisation (policy.h) is decided here, on the dataset just loaded, before anything is
//   revealed or changed: NOT_FOUND for a dataset that does not exist, then the decision, then
//   version checks and the rules above. Input errors that reveal nothing stored
//   (INVALID_ARGUMENT) may come first.
//
// Thread safety: safe for concurrent use (the store holds the state; the index is a cache of it).
#ifndef SMARTBY_SERVICES_CATALOGUE_CATALOGUE_H_
#define SMARTBY_SERVICES_CATALOGUE_CATALOGUE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/field_mask.pb.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "services/catalogue/dcat_export.h"
#include "services/catalogue/search_index.h"
#include "services/catalogue/store.h"
#include "services/catalogue/visibility.h"
#include "services/runtime/auth/caller.h"
#include "services/runtime/clock.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::catalogue {

// What one RefreshSearchIndex changed in the index.
struct SearchIndexRefresh {
  bool unchanged = false;  // the store's write generation had not moved: nothing was read
  int64_t loaded = 0;    // datasets new or changed in the store, loaded and indexed
  int64_t removed = 0;   // datasets no longer in the store, removed
  int64_t datasets = 0;  // datasets in the store when it was read
};

class Catalogue {
 public:
  // `store` and `clock` must outlive the catalogue. Search answers UNAVAILABLE until
  // LoadSearchIndex (or RefreshSearchIndex) has succeeded once.
  Catalogue(CatalogueStore* store, const Clock* clock, DcatCatalogueInfo dcat);

  // Fills the search index with every dataset in the store (page by page), then reconciles it
  // once as RefreshSearchIndex does. Meant for start-up, before serving: writes committed while
  // it runs show in search once it returns (not all of them while it runs).
  absl::Status LoadSearchIndex();
  // Brings the index in step with the store: reads every dataset's (name, version) in one
  // narrow query, loads and indexes the datasets that are new or whose version differs, and
  // removes those that are gone. Datasets this catalogue writes while it runs are left to the
  // write's own index update, which is newer. Loads the whole index if it never was.
  absl::StatusOr<SearchIndexRefresh> RefreshSearchIndex();
  const SearchIndex& search_index() const { return index_; }

  // Every operation takes who asks. Single-dataset operations load the dataset and ask
  // caller.Authorize(action, ResourceOf(dataset)) before they act (README.md lists the actions);
  // listings apply VisibilityFor(caller) in the store and mark the caller checked. The caller's
  // subject is recorded as created_by/updated_by and in the history.
  absl::StatusOr<v1::Dataset> Create(const auth::Caller& caller, const v1::Dataset& dataset);
  absl::StatusOr<v1::Dataset> Get(const auth::Caller& caller, const std::string& name);
  // `dataset.version()` must be the current version (ABORTED otherwise). An empty mask replaces
  // every field a caller may change; otherwise only the named fields change. A change of class
  // or owner organisation needs kChangeMetadata on the result as well.
  absl::StatusOr<v1::Dataset> Update(const auth::Caller& caller, const v1::Dataset& dataset,
                                     const google::protobuf::FieldMask& mask);
  absl::StatusOr<v1::ListDatasetsResponse> List(const auth::Caller& caller,
                                                const v1::ListDatasetsRequest& request);
  absl::StatusOr<v1::SearchDatasetsResponse> Search(const auth::Caller& caller,
                                                    const v1::SearchDatasetsRequest& request);
  // `expected_version` 0 means "whatever is current".
  absl::StatusOr<v1::Dataset> Publish(const auth::Caller& caller, const std::string& name,
                                      int64_t expected_version);
  absl::StatusOr<v1::Dataset> Retire(const auth::Caller& caller, const std::string& name,
                                     int64_t expected_version, const std::string& reason);
  absl::Status Delete(const auth::Caller& caller, const std::string& name,
                      int64_t expected_version);
  // History shows unpublished versions, so it needs the draft-level read (kRead as if the
  // dataset were not published: its owner, a data steward or a platform admin).
  absl::StatusOr<v1::ListDatasetHistoryResponse> History(
      const auth::Caller& caller, const v1::ListDatasetHistoryRequest& request);

  absl::StatusOr<v1::Resource> AddResource(const auth::Caller& caller,
                                           const std::string& dataset_name,
                                           const v1::Resource& resource,
                                           int64_t expected_version);
  absl::StatusOr<v1::Resource> UpdateResource(const auth::Caller& caller,
                                              const std::string& dataset_name,
                                              const v1::Resource& resource,
                                              const google::protobuf::FieldMask& mask,
                                              int64_t expected_version);
  absl::Status RemoveResource(const auth::Caller& caller, const std::string& dataset_name,
                              const std::string& resource_id, int64_t expected_version);
  absl::StatusOr<v1::ListResourcesResponse> ListResources(const auth::Caller& caller,
                                                          const std::string& dataset_name);

  // Public: the export holds published Åpen datasets only, whoever asks.
  absl::StatusOr<v1::ExportCatalogueResponse> Export(const auth::Caller& caller,
                                                     v1::ExportFormat format);

 private:
  // Loads `name`, asks the caller for `action` on it, checks `expected_version`, lets `change`
  // edit a copy, validates, asks for `action` on the result too when the change moved the
  // dataset to another class or owner organisation, bumps the version, and stores it with its
  // history entry `history_action` — all in one transaction.
  absl::StatusOr<v1::Dataset> Change(const auth::Caller& caller, const std::string& name,
                                     int64_t expected_version, auth::Action action,
                                     const std::string& history_action,
                                     const std::function<absl::Status(v1::Dataset&)>& change);

  // After a committed write: the dataset as written, or its name when it was deleted. The
  // index keeps the newest version (Upsert is version-guarded), except that a dataset created
  // anew replaces an older one of the same name (a deleted draft whose removal this process has
  // not seen yet).
  void IndexWritten(const v1::Dataset& dataset, bool created);
  void IndexDeleted(const std::string& name);
  absl::StatusOr<SearchIndexRefresh> ReconcileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_);

  CatalogueStore* store_;
  const Clock* clock_;
  DcatCatalogueInfo dcat_;

  SearchIndex index_;
  std::atomic<bool> index_loaded_{false};
  absl::Mutex refresh_mu_;  // one load or refresh at a time
  // Orders index updates of this catalogue's writes with a refresh's: a refresh reads the store
  // before it applies what it read, so it must not apply anything over a dataset written here
  // since it began (`written_`, cleared when a refresh begins).
  absl::Mutex feed_mu_ ABSL_ACQUIRED_AFTER(refresh_mu_);
  absl::flat_hash_set<std::string> written_ ABSL_GUARDED_BY(feed_mu_);
  // The store's write generation when the last full reconcile read it (-1: none yet). A refresh
  // that finds the same value has nothing to do and reads no dataset versions.
  int64_t reconciled_generation_ ABSL_GUARDED_BY(refresh_mu_) = -1;
};

// Runs catalogue->RefreshSearchIndex() every `interval` on a thread of its own, logging
// failures (the next run retries), until destroyed. Construct it after LoadSearchIndex.
class SearchIndexRefresher {
 public:
  SearchIndexRefresher(Catalogue* catalogue, absl::Duration interval);
  ~SearchIndexRefresher();
  SearchIndexRefresher(const SearchIndexRefresher&) = delete;
  SearchIndexRefresher& operator=(const SearchIndexRefresher&) = delete;

 private:
  absl::Notification stop_;
  std::thread thread_;
};

// The top-level fields whose values differ between two versions (managed fields excluded).
std::vector<std::string> ChangedFields(const v1::Dataset& before, const v1::Dataset& after);

// FAILED_PRECONDITION explaining what is missing when `dataset` may not be published.
absl::Status CheckPublishable(const v1::Dataset& dataset);

}  // namespace smartby::catalogue

#endif  // SMARTBY_SERVICES_CATALOGUE_CATALOGUE_H_
