// The storage the catalogue needs, and nothing more. Domain logic talks to this interface;
// SQL lives only in sql_store.cc (one implementation for both engines, dialect where it differs).
#ifndef SMARTBY_SERVICES_CATALOGUE_STORE_H_
#define SMARTBY_SERVICES_CATALOGUE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/catalogue/visibility.h"
#include "services/runtime/storage/database.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::catalogue {

namespace v1 = ::smartcity::catalogue::v1;

// One recorded version of a dataset (a row of its history).
struct HistoryEntry {
  int64_t version = 0;
  absl::Time change_time;
  std::string changed_by;
  std::string action;                       // created, updated, published, ...
  std::vector<std::string> changed_fields;  // top-level field names
  v1::Dataset dataset;                      // the dataset as it was at this version
};

struct ListFilter {
  std::string owner_organization;              // empty: any
  smartcity::common::v1::Classification classification =
      smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;  // unspecified: any
  v1::DatasetState state = v1::DATASET_STATE_UNSPECIFIED;  // unspecified: any
  v1::Theme theme = v1::THEME_UNSPECIFIED;                 // unspecified: any
  // What the caller may see (visibility.h), applied in the query with the filters above, so
  // totals, facets and pages count only visible datasets. The default is published Åpen only.
  DatasetVisibility visibility;
};

struct ListPage {
  std::vector<v1::Dataset> datasets;
  std::string next_after_name;  // empty when there are no more
  int32_t total_size = 0;       // matches for the filter, over all pages
};

struct SearchQuery {
  std::string text;     // the user's words; the store turns them into an engine query safely
  ListFilter filter;
  int32_t offset = 0;
  int32_t limit = 20;
};

struct FacetCounts {
  std::vector<std::pair<std::string, int32_t>> themes, owners, formats, classifications;
};

struct SearchResult {
  std::vector<std::pair<v1::Dataset, double>> hits;  // best first; score higher is better
  int32_t total_size = 0;
  FacetCounts facets;  // over all matches, not only this page
};

// A dataset's name and current version: what the search index compares with what it holds.
struct DatasetVersion {
  std::string name;
  int64_t version = 0;
};

// Thread safety: implementations are safe for concurrent use.
class CatalogueStore {
 public:
  virtual ~CatalogueStore() = default;

  // A unit of work: reads and writes in `body` happen in one transaction; when body returns an
  // error, nothing it wrote is kept.
  class Tx {
   public:
    virtual ~Tx() = default;
    // NOT_FOUND when absent.
    virtual absl::StatusOr<v1::Dataset> Get(const std::string& name) = 0;
    // ALREADY_EXISTS when the name is taken.
    virtual absl::Status Insert(const v1::Dataset& dataset) = 0;
    // Replaces the stored dataset whose version is `dataset.version() - 1`; ABORTED when the
    // stored version is not that one (someone else wrote in between).
    virtual absl::Status Replace(const v1::Dataset& dataset) = 0;
    virtual absl::Status Delete(const std::string& name) = 0;
    virtual absl::Status AppendHistory(const std::string& name, const HistoryEntry& entry) = 0;
  };
  virtual absl::Status InTransaction(const std::function<absl::Status(Tx&)>& body) = 0;

  virtual absl::StatusOr<v1::Dataset> Get(const std::string& name) = 0;
  // The datasets of these names that exist, in no particular order (absent names are left
  // out): one query per 500 names. For loading a page of search hits.
  virtual absl::StatusOr<std::vector<v1::Dataset>> GetMany(
      const std::vector<std::string>& names) = 0;
  // Every dataset's name and version, whatever its state and class (one narrow query; no
  // documents are read). For the search index's refresher.
  virtual absl::StatusOr<std::vector<DatasetVersion>> Versions() = 0;
  // A number every committed write changes (inserts, replacements, deletions): equal values
  // mean no dataset changed in between. One tiny query.
  virtual absl::StatusOr<int64_t> Generation() = 0;
  // Every dataset, whatever its state and class, ordered by name, starting after `after_name`
  // (empty: from the start), at most `limit`. No visibility applies: for filling the search
  // index page by page, never for a caller's request.
  virtual absl::StatusOr<std::vector<v1::Dataset>> AllDatasets(const std::string& after_name,
                                                               int32_t limit) = 0;
  // Ordered by name; starts after `after_name` (empty: from the start). Only datasets that
  // match the filter, visibility included.
  virtual absl::StatusOr<ListPage> List(const ListFilter& filter, const std::string& after_name,
                                        int32_t limit) = 0;
  // Full-text search in the database (FTS5 on SQLite, tsvector on PostgreSQL). The catalogue
  // no longer calls it: it searches its in-memory SearchIndex (search_index.h), whose semantics
  // are this method's on SQLite. Kept as the reference the index is tested against.
  virtual absl::StatusOr<SearchResult> Search(const SearchQuery& query) = 0;
  // Newest first; versions below `before_version` (0: from the newest).
  virtual absl::StatusOr<std::vector<HistoryEntry>> History(const std::string& name,
                                                            int64_t before_version,
                                                            int32_t limit) = 0;
  // Every dataset in the given state and classification, ordered by name (for the DCAT export,
  // which holds published Åpen datasets only). No visibility applies: callers choose what is
  // public.
  virtual absl::StatusOr<std::vector<v1::Dataset>> ListAll(
      v1::DatasetState state, smartcity::common::v1::Classification classification) = 0;
};

// The catalogue's schema, applied at start-up.
const std::vector<storage::Migration>& CatalogueMigrations();

// A store over an opened database; runs the migrations first.
absl::StatusOr<std::unique_ptr<CatalogueStore>> OpenSqlCatalogueStore(
    std::shared_ptr<storage::Database> db);

}  // namespace smartby::catalogue

#endif  // SMARTBY_SERVICES_CATALOGUE_STORE_H_
