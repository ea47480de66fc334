// CatalogueStore over the shared storage seam: one implementation for SQLite and PostgreSQL, with
// the dialect consulted only for full-text search.
//
// Search is one statement (see Search): matches are found once, counted by facet group for the
// total and facets, and ranked for the page. Facets and total_size therefore cover all matches
// while only a page of documents is read, transferred and decoded.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "services/catalogue/search_index.h"
#include "services/catalogue/store.h"
#include "services/runtime/status.h"

namespace smartby::catalogue {
namespace {

using storage::Dialect;
using storage::Row;
using storage::Rows;
using storage::Transaction;
using storage::TransactionMode;
using storage::Value;

namespace common = ::smartcity::common::v1;

std::string ThemeCode(int theme) {
  // THEME_ENVI -> ENVI, the code of the EU data-theme vocabulary.
  const std::string& name = v1::Theme_Name(static_cast<v1::Theme>(theme));
  return name.size() > 6 ? name.substr(6) : name;
}

// " A B " so that LIKE '% A %' matches a whole token; " " when there are none.
std::string Padded(const std::vector<std::string>& tokens) {
  return absl::StrCat(" ", absl::StrJoin(tokens, " "), tokens.empty() ? "" : " ");
}

std::string FormatToken(const std::string& format) {
  std::string token = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(format));
  std::replace(token.begin(), token.end(), ' ', '_');
  return token;
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// The derived columns of a dataset, in the order of kColumns below.
std::vector<Value> ColumnValues(const v1::Dataset& d) {
  std::vector<std::string> themes;
  for (int t : d.themes()) {
    std::string code = ThemeCode(t);
    if (std::find(themes.begin(), themes.end(), code) == themes.end()) themes.push_back(code);
  }
  std::vector<std::string> formats;
  for (const v1::Resource& r : d.resources()) {
    std::string token = FormatToken(r.format());
    if (!token.empty() && std::find(formats.begin(), formats.end(), token) == formats.end()) {
      formats.push_back(token);
    }
  }
  std::vector<std::string> field_text;
  for (const v1::SchemaField& f : d.fields()) {
    field_text.push_back(f.name());
    if (!f.description().empty()) field_text.push_back(f.description());
  }
  return {
      d.name(),
      int64_t{d.version()},
      int64_t{d.state()},
      int64_t{d.classification()},
      d.owner().organization(),
      Padded(themes),
      Padded(formats),
      d.title(),
      d.description(),
      absl::StrJoin(d.keywords(), " "),
      absl::StrJoin(field_text, " "),
      TimeText(FromProto(d.update_time())),
      absl::Base64Escape(d.SerializeAsString()),
  };
}

absl::StatusOr<v1::Dataset> DecodeDataset(const std::string& encoded, absl::string_view name) {
  std::string bytes;
  v1::Dataset d;
  if (!absl::Base64Unescape(encoded, &bytes) || !d.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("stored dataset ", name, " cannot be decoded"));
  }
  return d;
}

// Appends the filter's conditions with parameters numbered after those already in `params`.
// Only active filters appear in the SQL, so each combination is its own prepared statement with
// a plan that can use the matching index.
std::string FilterSql(const ListFilter& f, std::vector<Value>& params) {
  std::string sql;
  auto next = [&](Value v) {
    params.push_back(std::move(v));
    return absl::StrCat("$", params.size());
  };
  if (!f.owner_organization.empty()) {
    absl::StrAppend(&sql, " AND d.owner_organization = ", next(f.owner_organization));
  }
  if (f.classification != common::CLASSIFICATION_UNSPECIFIED) {
    absl::StrAppend(&sql, " AND d.classification = ", next(int64_t{f.classification}));
  }
  if (f.state != v1::DATASET_STATE_UNSPECIFIED) {
    absl::StrAppend(&sql, " AND d.state = ", next(int64_t{f.state}));
  }
  if (f.theme != v1::THEME_UNSPECIFIED) {
    absl::StrAppend(&sql, " AND d.themes LIKE ", next(absl::StrCat("% ", ThemeCode(f.theme), " %")));
  }
  return sql;
}

// The caller's visibility (visibility.h) as a condition on d.state, d.classification and
// d.owner_organization, with organisations as parameters numbered after those in `params`;
// "" when everything is visible. The enum values are the code's constants, written as literals
// so that the planner sees them.
std::string VisibilitySql(const DatasetVisibility& v, std::vector<Value>& params) {
  if (v.Everything()) return "";
  const std::string published_open =
      absl::StrCat("(d.state = ", int{v1::DATASET_STATE_PUBLISHED},
                   " AND d.classification = ", int{common::CLASSIFICATION_OPEN}, ")");
  if (v.OnlyPublishedOpen()) return absl::StrCat(" AND ", published_open);

  std::vector<std::string> beyond;  // ANDed
  if (v.max_class != common::CLASSIFICATION_STRICTLY_PROTECTED) {
    // Below Strengt beskyttet, an unspecified or unknown class is never readable (the policy
    // treats it as Strengt beskyttet), so only the known classes up to max_class pass.
    beyond.push_back(absl::StrCat("d.classification BETWEEN ", int{common::CLASSIFICATION_OPEN},
                                  " AND ", int{v.max_class}));
  }
  if (!v.any_dataset) {
    std::vector<std::string> roles;  // ORed
    if (v.published_datasets) {
      roles.push_back(absl::StrCat("d.state = ", int{v1::DATASET_STATE_PUBLISHED}));
    }
    if (!v.owner_organizations.empty()) {
      std::vector<std::string> placeholders;
      for (const std::string& org : v.owner_organizations) {
        params.push_back(org);
        placeholders.push_back(absl::StrCat("$", params.size()));
      }
      roles.push_back(absl::StrCat("d.owner_organization IN (",
                                   absl::StrJoin(placeholders, ", "), ")"));
    }
    // OnlyPublishedOpen() was false, so there is at least one.
    beyond.push_back(absl::StrCat("(", absl::StrJoin(roles, " OR "), ")"));
  }
  return absl::StrCat(" AND (", published_open, " OR (", absl::StrJoin(beyond, " AND "), "))");
}

// The filter and the visibility: everything a listing or search restricts by.
std::string WhereSql(const ListFilter& f, std::vector<Value>& params) {
  std::string sql = FilterSql(f, params);
  absl::StrAppend(&sql, VisibilitySql(f.visibility, params));
  return sql;
}

// FTS5: every word a quoted string (so OR, NOT, NEAR, *, ^, column filters are plain text), all
// of them required, the last a prefix.
std::string Fts5Query(const std::vector<std::string>& words) {
  std::string q;
  for (size_t i = 0; i < words.size(); ++i) {
    absl::StrAppend(&q, i ? " " : "", "\"", words[i], "\"", i + 1 == words.size() ? "*" : "");
  }
  return q;
}

// tsquery text: 'w1' & 'w2' & 'w3':*. Passed as a bound parameter to to_tsquery.
std::string TsQuery(const std::vector<std::string>& words) {
  std::string q;
  for (size_t i = 0; i < words.size(); ++i) {
    absl::StrAppend(&q, i ? " & " : "", "'", words[i], "'", i + 1 == words.size() ? ":*" : "");
  }
  return q;
}

// Most frequent first; ties in value order, so the output is stable.
std::vector<std::pair<std::string, int32_t>> SortedFacets(
    const std::map<std::string, int32_t>& counts) {
  std::vector<std::pair<std::string, int32_t>> out(counts.begin(), counts.end());
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

constexpr char kInsertSql[] =
    "INSERT INTO datasets (name, version, state, classification, owner_organization, themes, "
    "formats, title, description, keywords, field_text, updated_at, doc) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
constexpr char kReplaceSql[] =
    "UPDATE datasets SET version = $2, state = $3, classification = $4, owner_organization = $5, "
    "themes = $6, formats = $7, title = $8, description = $9, keywords = $10, field_text = $11, "
    "updated_at = $12, doc = $13 WHERE name = $1 AND version = $14";

absl::StatusOr<v1::Dataset> GetIn(Transaction& tx, const std::string& name) {
  ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT doc FROM datasets WHERE name = $1", {name}));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("dataset ", name, " does not exist"));
  return DecodeDataset(rows[0].String(0), name);
}

class SqlTx : public CatalogueStore::Tx {
 public:
  explicit SqlTx(Transaction& tx) : tx_(tx) {}

  absl::StatusOr<v1::Dataset> Get(const std::string& name) override { return GetIn(tx_, name); }

  absl::Status Insert(const v1::Dataset& dataset) override {
    absl::StatusOr<int64_t> inserted = tx_.Execute(kInsertSql, ColumnValues(dataset));
    if (absl::IsAlreadyExists(inserted.status())) {
      return absl::AlreadyExistsError(absl::StrCat("dataset ", dataset.name(), " exists already"));
    }
    RETURN_IF_ERROR(inserted.status());
    return BumpGeneration();
  }

  absl::Status Replace(const v1::Dataset& dataset) override {
    std::vector<Value> params = ColumnValues(dataset);
    params.push_back(int64_t{dataset.version() - 1});
    ASSIGN_OR_RETURN(int64_t changed, tx_.Execute(kReplaceSql, params));
    if (changed == 1) return BumpGeneration();
    ASSIGN_OR_RETURN(Rows rows, tx_.Query("SELECT version FROM datasets WHERE name = $1",
                                          {dataset.name()}));
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("dataset ", dataset.name(), " does not exist"));
    }
    return absl::AbortedError(absl::StrCat("dataset ", dataset.name(),
                                           " was changed by someone else (now version ",
                                           rows[0].Int(0), "); read it again and retry"));
  }

  absl::Status Delete(const std::string& name) override {
    ASSIGN_OR_RETURN(int64_t deleted, tx_.Execute("DELETE FROM datasets WHERE name = $1", {name}));
    if (deleted == 0) return absl::NotFoundError(absl::StrCat("dataset ", name, " does not exist"));
    // A deleted draft leaves no history, so its name can be registered again from version 1.
    RETURN_IF_ERROR(tx_.Execute("DELETE FROM dataset_history WHERE name = $1", {name}).status());
    return BumpGeneration();
  }

  // Once per transaction (migration 3).
  absl::Status BumpGeneration() {
    if (bumped_) return absl::OkStatus();
    bumped_ = true;
    return tx_.Execute("UPDATE catalogue_generation SET value = value + 1 WHERE id = 1").status();
  }

  absl::Status AppendHistory(const std::string& name, const HistoryEntry& entry) override {
    absl::StatusOr<int64_t> inserted = tx_.Execute(
        "INSERT INTO dataset_history (name, version, change_time, changed_by, action, "
        "changed_fields, doc) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {name, entry.version, TimeText(entry.change_time), entry.changed_by, entry.action,
         absl::StrJoin(entry.changed_fields, ","),
         absl::Base64Escape(entry.dataset.SerializeAsString())});
    if (absl::IsAlreadyExists(inserted.status())) {
      return absl::AlreadyExistsError(absl::StrCat("history of dataset ", name,
                                                   " already has version ", entry.version));
    }
    return inserted.status();
  }

 private:
  Transaction& tx_;
  bool bumped_ = false;
};

class SqlCatalogueStore : public CatalogueStore {
 public:
  explicit SqlCatalogueStore(std::shared_ptr<storage::Database> db) : db_(std::move(db)) {}

  absl::Status InTransaction(const std::function<absl::Status(Tx&)>& body) override {
    return db_->InTransaction([&](Transaction& tx) {
      SqlTx store_tx(tx);
      return body(store_tx);
    });
  }

  absl::StatusOr<v1::Dataset> Get(const std::string& name) override {
    v1::Dataset out;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(out, GetIn(tx, name));
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return out;
  }

  absl::StatusOr<std::vector<v1::Dataset>> GetMany(
      const std::vector<std::string>& names) override {
    std::vector<v1::Dataset> out;
    out.reserve(names.size());
    constexpr size_t kChunk = 500;  // well under every engine's limit on parameters
    for (size_t begin = 0; begin < names.size(); begin += kChunk) {
      const size_t end = std::min(names.size(), begin + kChunk);
      // The list is padded (with its last name) to a power of two or the chunk size, so that a
      // handful of statements serve every count and the engines' statement caches stay small.
      size_t slots = 1;
      while (slots < end - begin) slots *= 2;
      slots = std::min(slots, kChunk);
      std::vector<Value> params;
      std::vector<std::string> placeholders;
      for (size_t i = 0; i < slots; ++i) {
        params.push_back(names[std::min(begin + i, end - 1)]);
        placeholders.push_back(absl::StrCat("$", params.size()));
      }
      const std::string sql = absl::StrCat("SELECT name, doc FROM datasets WHERE name IN (",
                                           absl::StrJoin(placeholders, ", "), ")");
      RETURN_IF_ERROR(db_->InTransaction(
          [&](Transaction& tx) -> absl::Status {
            ASSIGN_OR_RETURN(Rows rows, tx.Query(sql, params));
            for (const Row& r : rows) {
              ASSIGN_OR_RETURN(v1::Dataset d, DecodeDataset(r.String(1), r.String(0)));
              out.push_back(std::move(d));
            }
            return absl::OkStatus();
          },
          TransactionMode::kSingleRead));
    }
    return out;
  }

  absl::StatusOr<int64_t> Generation() override {
    int64_t value = 0;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows,
                           tx.Query("SELECT value FROM catalogue_generation WHERE id = 1"));
          if (!rows.empty()) value = rows[0].Int(0);
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return value;
  }

  absl::StatusOr<std::vector<DatasetVersion>> Versions() override {
    std::vector<DatasetVersion> out;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT name, version FROM datasets"));
          out.reserve(rows.size());
          for (const Row& r : rows) out.push_back({r.String(0), r.Int(1)});
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return out;
  }

  absl::StatusOr<std::vector<v1::Dataset>> AllDatasets(const std::string& after_name,
                                                       int32_t limit) override {
    if (limit < 1) return absl::InvalidArgumentError("page size must be at least 1");
    std::vector<v1::Dataset> out;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT name, doc FROM datasets WHERE name > $1 "
                                               "ORDER BY name LIMIT $2",
                                               {after_name, int64_t{limit}}));
          out.reserve(rows.size());
          for (const Row& r : rows) {
            ASSIGN_OR_RETURN(v1::Dataset d, DecodeDataset(r.String(1), r.String(0)));
            out.push_back(std::move(d));
          }
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return out;
  }

  absl::StatusOr<ListPage> List(const ListFilter& filter, const std::string& after_name,
                                int32_t limit) override {
    if (limit < 1) return absl::InvalidArgumentError("page size must be at least 1");
    ListPage page;
    RETURN_IF_ERROR(Read([&](Transaction& tx) -> absl::Status {
      std::vector<Value> params = {after_name};
      const std::string where = WhereSql(filter, params);
      params.push_back(int64_t{limit} + 1);  // one more tells whether another page follows
      ASSIGN_OR_RETURN(Rows rows,
                       tx.Query(absl::StrCat("SELECT d.name, d.doc FROM datasets d WHERE d.name > "
                                             "$1", where, " ORDER BY d.name LIMIT $",
                                             params.size()),
                                params));
      const bool more = static_cast<int32_t>(rows.size()) > limit;
      if (more) rows.erase(rows.begin() + limit, rows.end());
      for (const Row& r : rows) {
        ASSIGN_OR_RETURN(v1::Dataset d, DecodeDataset(r.String(1), r.String(0)));
        page.datasets.push_back(std::move(d));
      }
      if (more) page.next_after_name = page.datasets.back().name();

      std::vector<Value> count_params;
      const std::string count_where = WhereSql(filter, count_params);
      ASSIGN_OR_RETURN(
          Rows count,
          tx.Query(absl::StrCat("SELECT COUNT(*) FROM datasets d WHERE 1 = 1", count_where),
                   count_params));
      page.total_size = static_cast<int32_t>(count[0].Int(0));
      return absl::OkStatus();
    }));
    return page;
  }

  absl::StatusOr<SearchResult> Search(const SearchQuery& query) override {
    if (query.offset < 0 || query.limit < 1) {
      return absl::InvalidArgumentError("search offset must be >= 0 and page size >= 1");
    }
    // The user's text as words of letters and digits (the index splits them the same way).
    // Everything else, including every character with a meaning in FTS5 or tsquery syntax, only
    // separates words, so the words can be quoted into an engine query safely.
    const std::vector<std::string> words = search_text::QueryWords(query.text);
    const bool sqlite = db_->dialect() == Dialect::kSqlite;

    // One statement: the matches are found once (a materialized CTE with only the key, score,
    // filter and facet columns), then grouped for the total and facets, and ranked for the page,
    // whose documents alone are read from the wide dataset rows. One statement also means one
    // round trip and no BEGIN/COMMIT on PostgreSQL.
    //
    // SQLite reads the facet columns from a covering index (migration 2) keyed by rowid;
    // PostgreSQL from the narrow dataset_search table (migration 2) keyed by name.
    std::vector<Value> params;
    std::string matches;
    std::string score = "0";
    const char* key = sqlite ? "d.id" : "d.name";
    if (sqlite) {
      if (words.empty()) {
        matches = "FROM datasets d INDEXED BY datasets_facets WHERE 1 = 1";
      } else {
        params.push_back(Fts5Query(words));
        matches = "FROM datasets_fts JOIN datasets d INDEXED BY datasets_facets "
                  "ON d.id = datasets_fts.rowid WHERE datasets_fts MATCH $1";
        // Weights follow the FTS column order: title, keywords, description, field_text.
        // bm25 is lower-is-better, so the score is its negation.
        score = "-bm25(datasets_fts, 10.0, 5.0, 2.0, 1.0)";
      }
    } else {
      if (words.empty()) {
        matches = "FROM dataset_search d WHERE 1 = 1";
      } else {
        params.push_back(TsQuery(words));
        matches = "FROM dataset_search d, to_tsquery('simple', $1) q WHERE d.search @@ q";
        // ts_rank's weights are {D, C, B, A}: field text, description, keywords, title.
        score = "ts_rank('{0.1, 0.2, 0.5, 1.0}', d.search, q)";
      }
    }
    absl::StrAppend(&matches, WhereSql(query.filter, params));
    params.push_back(int64_t{query.limit});
    params.push_back(int64_t{query.offset});
    const size_t limit_param = params.size() - 1, offset_param = params.size();
    // Rows of kind 0 are facet groups (owner, classification, themes, formats, count); rows of
    // kind 1 are the page (name, score, doc), best first.
    const std::string sql = absl::StrCat(
        "WITH m AS MATERIALIZED (SELECT ", key, " AS k, ", score, " AS score, "
        "d.owner_organization AS owner, d.classification AS cls, d.themes AS themes, "
        "d.formats AS formats ", matches, ") "
        "SELECT 0 AS kind, owner, cls, themes, formats, COUNT(*) AS n, NULL AS name, "
        "NULL AS score, NULL AS doc FROM m GROUP BY owner, cls, themes, formats "
        "UNION ALL "
        "SELECT 1, NULL, NULL, NULL, NULL, NULL, x.name, p.score, x.doc FROM "
        "(SELECT k, score FROM m ORDER BY score DESC, k LIMIT $", limit_param, " OFFSET $",
        offset_param, ") p JOIN datasets x ON ", sqlite ? "x.id" : "x.name", " = p.k "
        "ORDER BY 1, 8 DESC, 7");

    SearchResult result;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows, tx.Query(sql, params));
          std::map<std::string, int32_t> themes, owners, formats, classifications;
          int64_t total = 0;
          for (const Row& r : rows) {
            if (r.Int(0) == 1) {
              ASSIGN_OR_RETURN(v1::Dataset d, DecodeDataset(r.String(8), r.String(6)));
              result.hits.emplace_back(std::move(d), r.Double(7));
              continue;
            }
            const auto count = static_cast<int32_t>(r.Int(5));
            total += count;
            if (!r.String(1).empty()) owners[r.String(1)] += count;
            classifications[common::Classification_Name(
                static_cast<common::Classification>(r.Int(2)))] += count;
            for (absl::string_view t : absl::StrSplit(r.String(3), ' ', absl::SkipEmpty())) {
              themes[std::string(t)] += count;
            }
            for (absl::string_view f : absl::StrSplit(r.String(4), ' ', absl::SkipEmpty())) {
              formats[std::string(f)] += count;
            }
          }
          result.total_size = static_cast<int32_t>(total);
          result.facets.themes = SortedFacets(themes);
          result.facets.owners = SortedFacets(owners);
          result.facets.formats = SortedFacets(formats);
          result.facets.classifications = SortedFacets(classifications);
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return result;
  }

  absl::StatusOr<std::vector<HistoryEntry>> History(const std::string& name,
                                                    int64_t before_version,
                                                    int32_t limit) override {
    if (limit < 1) return absl::InvalidArgumentError("page size must be at least 1");
    std::vector<HistoryEntry> out;
    RETURN_IF_ERROR(Read([&](Transaction& tx) -> absl::Status {
      std::vector<Value> params = {name};
      std::string sql =
          "SELECT version, change_time, changed_by, action, changed_fields, doc "
          "FROM dataset_history WHERE name = $1";
      if (before_version > 0) {
        params.push_back(before_version);
        sql += " AND version < $2";
      }
      params.push_back(int64_t{limit});
      absl::StrAppend(&sql, " ORDER BY version DESC LIMIT $", params.size());
      ASSIGN_OR_RETURN(Rows rows, tx.Query(sql, params));
      for (const Row& r : rows) {
        HistoryEntry e;
        e.version = r.Int(0);
        std::string error;
        if (!absl::ParseTime(absl::RFC3339_full, r.String(1), &e.change_time, &error)) {
          return absl::DataLossError(absl::StrCat("history of dataset ", name, " version ",
                                                  e.version, " has a bad time: ", error));
        }
        e.changed_by = r.String(2);
        e.action = r.String(3);
        e.changed_fields = absl::StrSplit(r.String(4), ',', absl::SkipEmpty());
        ASSIGN_OR_RETURN(e.dataset, DecodeDataset(r.String(5), name));
        out.push_back(std::move(e));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<std::vector<v1::Dataset>> ListAll(
      v1::DatasetState state, common::Classification classification) override {
    std::vector<v1::Dataset> out;
    RETURN_IF_ERROR(Read([&](Transaction& tx) -> absl::Status {
      ListFilter filter;
      filter.state = state;
      filter.classification = classification;
      std::vector<Value> params;
      const std::string where = FilterSql(filter, params);
      ASSIGN_OR_RETURN(Rows rows,
                       tx.Query(absl::StrCat("SELECT d.name, d.doc FROM datasets d WHERE 1 = 1",
                                             where, " ORDER BY d.name"),
                                params));
      out.reserve(rows.size());
      for (const Row& r : rows) {
        ASSIGN_OR_RETURN(v1::Dataset d, DecodeDataset(r.String(1), r.String(0)));
        out.push_back(std::move(d));
      }
      return absl::OkStatus();
    }));
    return out;
  }

 private:
  absl::Status Read(const std::function<absl::Status(Transaction&)>& body) {
    return db_->InTransaction(body, TransactionMode::kReadOnly);
  }

  std::shared_ptr<storage::Database> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CatalogueStore>> OpenSqlCatalogueStore(
    std::shared_ptr<storage::Database> db) {
  if (db == nullptr) return absl::InvalidArgumentError("catalogue store: no database");
  RETURN_IF_ERROR(db->Migrate(CatalogueMigrations()));
  return std::unique_ptr<CatalogueStore>(new SqlCatalogueStore(std::move(db)));
}

}  // namespace smartby::catalogue
