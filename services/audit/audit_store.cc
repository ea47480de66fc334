#include "services/audit/audit_store.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/runtime/status.h"

namespace smartby::audit {
namespace {

using storage::Dialect;
using storage::Row;
using storage::Rows;
using storage::Transaction;
using storage::Value;

// The query indexes end in idx so that "filter = x AND idx > token ORDER BY idx LIMIT n" is one
// index range scan on both engines.
constexpr char kSqliteV1[] = R"sql(
CREATE TABLE audit_entries (
  idx INTEGER PRIMARY KEY,
  sequenced_micros INTEGER NOT NULL,
  producer TEXT NOT NULL,
  producer_sequence INTEGER NOT NULL,
  subject TEXT NOT NULL,
  action TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  dataset TEXT NOT NULL,
  outcome INTEGER NOT NULL,
  entry_bytes BLOB NOT NULL,
  UNIQUE (producer, producer_sequence)
);
CREATE INDEX audit_entries_subject ON audit_entries (subject, idx);
CREATE INDEX audit_entries_resource ON audit_entries (resource_id, idx);
CREATE INDEX audit_entries_action ON audit_entries (action, idx);
CREATE INDEX audit_entries_dataset ON audit_entries (dataset, idx);
CREATE INDEX audit_entries_outcome ON audit_entries (outcome, idx);
CREATE INDEX audit_entries_time ON audit_entries (sequenced_micros);
CREATE TABLE audit_tree (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE audit_checkpoints (
  tree_size INTEGER PRIMARY KEY,
  root BLOB NOT NULL,
  note TEXT NOT NULL,
  created_micros INTEGER NOT NULL
);
CREATE TABLE audit_producers (
  producer TEXT PRIMARY KEY,
  max_sequence INTEGER NOT NULL
);
CREATE TABLE audit_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  tree_size INTEGER NOT NULL,
  last_sequenced_micros INTEGER NOT NULL,
  retention_min_index INTEGER NOT NULL
);
INSERT INTO audit_state (id, tree_size, last_sequenced_micros, retention_min_index)
VALUES (1, 0, 0, 0);
CREATE TABLE audit_log_key (
  key_name TEXT PRIMARY KEY,
  seed BLOB NOT NULL
)
)sql";

constexpr char kPostgresV1[] = R"sql(
CREATE TABLE audit_entries (
  idx BIGINT PRIMARY KEY,
  sequenced_micros BIGINT NOT NULL,
  producer TEXT NOT NULL,
  producer_sequence BIGINT NOT NULL,
  subject TEXT NOT NULL,
  action TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  dataset TEXT NOT NULL,
  outcome INTEGER NOT NULL,
  entry_bytes BYTEA NOT NULL,
  UNIQUE (producer, producer_sequence)
);
CREATE INDEX audit_entries_subject ON audit_entries (subject, idx);
CREATE INDEX audit_entries_resource ON audit_entries (resource_id, idx);
CREATE INDEX audit_entries_action ON audit_entries (action, idx);
CREATE INDEX audit_entries_dataset ON audit_entries (dataset, idx);
CREATE INDEX audit_entries_outcome ON audit_entries (outcome, idx);
CREATE INDEX audit_entries_time ON audit_entries (sequenced_micros);
CREATE TABLE audit_tree (
  level INTEGER NOT NULL,
  idx BIGINT NOT NULL,
  hash BYTEA NOT NULL,
  PRIMARY KEY (level, idx)
);
CREATE TABLE audit_checkpoints (
  tree_size BIGINT PRIMARY KEY,
  root BYTEA NOT NULL,
  note TEXT NOT NULL,
  created_micros BIGINT NOT NULL
);
CREATE TABLE audit_producers (
  producer TEXT PRIMARY KEY,
  max_sequence BIGINT NOT NULL
);
CREATE TABLE audit_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  tree_size BIGINT NOT NULL,
  last_sequenced_micros BIGINT NOT NULL,
  retention_min_index BIGINT NOT NULL
);
INSERT INTO audit_state (id, tree_size, last_sequenced_micros, retention_min_index)
VALUES (1, 0, 0, 0);
CREATE TABLE audit_log_key (
  key_name TEXT PRIMARY KEY,
  seed BYTEA NOT NULL
)
)sql";

const std::vector<storage::Migration>& Migrations() {
  static const auto* migrations = new std::vector<storage::Migration>{
      {1, "audit log", kSqliteV1, kPostgresV1},
  };
  return *migrations;
}

// Multi-row statements in chunks of a power of two, so that a batch of any size needs few
// statements (one round trip each on PostgreSQL) and few distinct cached statements.
constexpr size_t kMaxRowsPerStatement = 64;

size_t ChunkSize(size_t remaining) {
  size_t chunk = kMaxRowsPerStatement;
  while (chunk > remaining) chunk /= 2;
  return chunk;
}

absl::StatusOr<merkle::Hash> ToHash(const std::string& bytes) {
  merkle::Hash hash{};
  if (bytes.size() != hash.size()) {
    return absl::DataLossError(absl::StrCat("a stored tree hash has ", bytes.size(),
                                            " bytes instead of 32"));
  }
  std::memcpy(hash.data(), bytes.data(), hash.size());
  return hash;
}

std::string HashBytes(const merkle::Hash& hash) {
  return std::string(reinterpret_cast<const char*>(hash.data()), hash.size());
}

class StoreHashReader : public merkle::HashReader {
 public:
  StoreHashReader(const AuditStore& store, Transaction& tx) : store_(store), tx_(tx) {}
  absl::StatusOr<merkle::Hash> GetHash(int level, uint64_t index) override {
    ASSIGN_OR_RETURN(Rows rows, tx_.Query("SELECT hash FROM audit_tree WHERE level = $1 AND idx = $2",
                                          {int64_t{level}, static_cast<int64_t>(index)}));
    if (rows.empty()) {
      return absl::DataLossError(
          absl::StrCat("the tree hash at level ", level, ", index ", index, " is missing"));
    }
    return ToHash(store_.BlobFromCell(rows[0], 0));
  }

 private:
  const AuditStore& store_;
  Transaction& tx_;
};

class SqlWriteTransaction : public WriteTransaction {
 public:
  SqlWriteTransaction(const AuditStore& store, Transaction& tx) : store_(store), tx_(tx) {}

  absl::StatusOr<std::optional<StoredEntry>> FindByProducer(const std::string& producer,
                                                            int64_t sequence) override {
    ASSIGN_OR_RETURN(
        Rows rows,
        tx_.Query("SELECT idx, entry_bytes FROM audit_entries WHERE producer = $1 AND "
                  "producer_sequence = $2",
                  {producer, sequence}));
    if (rows.empty()) return std::optional<StoredEntry>();
    return std::optional<StoredEntry>(
        StoredEntry{rows[0].Int(0), store_.BlobFromCell(rows[0], 1)});
  }

  absl::Status InsertEntries(const std::vector<EntryRow>& rows) override {
    size_t done = 0;
    while (done < rows.size()) {
      const size_t n = ChunkSize(rows.size() - done);
      std::string sql =
          "INSERT INTO audit_entries (idx, sequenced_micros, producer, producer_sequence, "
          "subject, action, resource_id, dataset, outcome, entry_bytes) VALUES ";
      std::vector<Value> params;
      params.reserve(n * 10);
      for (size_t i = 0; i < n; ++i) {
        const EntryRow& r = rows[done + i];
        const int b = static_cast<int>(i * 10);
        absl::StrAppend(&sql, i == 0 ? "" : ", ", "($", b + 1, ", $", b + 2, ", $", b + 3,
                        ", $", b + 4, ", $", b + 5, ", $", b + 6, ", $", b + 7, ", $", b + 8,
                        ", $", b + 9, ", ", store_.BlobSql(b + 10), ")");
        params.emplace_back(r.index);
        params.emplace_back(r.sequenced_micros);
        params.emplace_back(r.producer);
        params.emplace_back(r.producer_sequence);
        params.emplace_back(r.subject);
        params.emplace_back(r.action);
        params.emplace_back(r.resource_id);
        params.emplace_back(r.dataset);
        params.emplace_back(r.outcome);
        params.push_back(store_.BlobParam(r.entry_bytes));
      }
      RETURN_IF_ERROR(tx_.Execute(sql, params).status());
      done += n;
    }
    return absl::OkStatus();
  }

  absl::Status InsertNodes(const std::vector<NodeRow>& nodes) override {
    size_t done = 0;
    while (done < nodes.size()) {
      const size_t n = ChunkSize(nodes.size() - done);
      std::string sql = "INSERT INTO audit_tree (level, idx, hash) VALUES ";
      std::vector<Value> params;
      params.reserve(n * 3);
      for (size_t i = 0; i < n; ++i) {
        const NodeRow& node = nodes[done + i];
        const int b = static_cast<int>(i * 3);
        absl::StrAppend(&sql, i == 0 ? "" : ", ", "($", b + 1, ", $", b + 2, ", ",
                        store_.BlobSql(b + 3), ")");
        params.emplace_back(int64_t{node.level});
        params.emplace_back(static_cast<int64_t>(node.index));
        params.push_back(store_.BlobParam(HashBytes(node.hash)));
      }
      RETURN_IF_ERROR(tx_.Execute(sql, params).status());
      done += n;
    }
    return absl::OkStatus();
  }

  absl::Status RecordProducerMaxima(
      const std::vector<std::pair<std::string, int64_t>>& maxima) override {
    for (const auto& [producer, sequence] : maxima) {
      RETURN_IF_ERROR(
          tx_.Execute("INSERT INTO audit_producers (producer, max_sequence) VALUES ($1, $2) "
                      "ON CONFLICT (producer) DO UPDATE SET max_sequence = "
                      "CASE WHEN excluded.max_sequence > audit_producers.max_sequence "
                      "THEN excluded.max_sequence ELSE audit_producers.max_sequence END",
                      {producer, sequence})
              .status());
    }
    return absl::OkStatus();
  }

  absl::Status AdvanceState(int64_t old_size, int64_t new_size,
                            int64_t last_sequenced_micros) override {
    ASSIGN_OR_RETURN(int64_t changed,
                     tx_.Execute("UPDATE audit_state SET tree_size = $1, "
                                 "last_sequenced_micros = $2 WHERE id = 1 AND tree_size = $3",
                                 {new_size, last_sequenced_micros, old_size}));
    if (changed != 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the stored tree size is no longer ", old_size,
          ": another sequencer has written to this audit log (run one audit replica per "
          "database)"));
    }
    return absl::OkStatus();
  }

 private:
  const AuditStore& store_;
  Transaction& tx_;
};

}  // namespace

AuditStore::AuditStore(std::shared_ptr<storage::Database> db)
    : db_(std::move(db)), dialect_(db_->dialect()) {}

absl::StatusOr<std::unique_ptr<AuditStore>> AuditStore::Open(
    std::shared_ptr<storage::Database> db) {
  RETURN_IF_ERROR(db->Migrate(Migrations()));
  return std::unique_ptr<AuditStore>(new AuditStore(std::move(db)));
}

Value AuditStore::BlobParam(const std::string& bytes) const {
  if (dialect_ == Dialect::kPostgres) {
    // bytea's text input form; parameters travel as text.
    return absl::StrCat("\\x", absl::BytesToHexString(bytes));
  }
  return bytes;  // bound as text of that length, then CAST to BLOB (see BlobSql)
}

std::string AuditStore::BlobSql(int n) const {
  if (dialect_ == Dialect::kPostgres) return absl::StrCat("$", n);
  return absl::StrCat("CAST($", n, " AS BLOB)");
}

std::string AuditStore::BlobFromCell(const Row& row, size_t column) const {
  std::string cell = row.String(column);
  if (dialect_ == Dialect::kPostgres && absl::StartsWith(cell, "\\x")) {
    return absl::HexStringToBytes(absl::string_view(cell).substr(2));
  }
  return cell;
}

absl::StatusOr<LogState> AuditStore::LoadState() {
  LogState state;
  RETURN_IF_ERROR(db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT tree_size, last_sequenced_micros, "
                                             "retention_min_index FROM audit_state WHERE id = 1"));
        if (rows.empty()) return absl::DataLossError("audit_state has no row");
        state.tree_size = rows[0].Int(0);
        state.last_sequenced_micros = rows[0].Int(1);
        state.retention_min_index = rows[0].Int(2);
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead));
  return state;
}

absl::StatusOr<int64_t> AuditStore::RaiseRetentionMinimum(int64_t min_index) {
  int64_t in_force = 0;
  RETURN_IF_ERROR(db_->InTransaction([&](Transaction& tx) -> absl::Status {
    RETURN_IF_ERROR(tx.Execute("UPDATE audit_state SET retention_min_index = $1 "
                               "WHERE id = 1 AND retention_min_index < $1",
                               {min_index})
                        .status());
    ASSIGN_OR_RETURN(Rows rows,
                     tx.Query("SELECT retention_min_index FROM audit_state WHERE id = 1"));
    if (rows.empty()) return absl::DataLossError("audit_state has no row");
    in_force = rows[0].Int(0);
    return absl::OkStatus();
  }));
  return in_force;
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> AuditStore::LoadProducerMaxima() {
  std::vector<std::pair<std::string, int64_t>> out;
  RETURN_IF_ERROR(db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT producer, max_sequence FROM audit_producers"));
        for (const Row& row : rows) out.emplace_back(row.String(0), row.Int(1));
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead));
  return out;
}

absl::StatusOr<std::pair<int64_t, int64_t>> AuditStore::CountEntries() {
  std::pair<int64_t, int64_t> out{0, -1};
  RETURN_IF_ERROR(db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(Rows rows,
                         tx.Query("SELECT COUNT(*), COALESCE(MAX(idx), -1) FROM audit_entries"));
        out = {rows.at(0).Int(0), rows.at(0).Int(1)};
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead));
  return out;
}

absl::Status AuditStore::InWriteTransaction(
    const std::function<absl::Status(WriteTransaction&)>& body) {
  return db_->InTransaction([&](Transaction& tx) -> absl::Status {
    SqlWriteTransaction write(*this, tx);
    return body(write);
  });
}

absl::StatusOr<std::vector<StoredEntry>> AuditStore::GetEntries(int64_t start, int64_t end) {
  std::vector<StoredEntry> out;
  RETURN_IF_ERROR(db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT idx, entry_bytes FROM audit_entries "
                                             "WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                                             {start, end}));
        out.reserve(rows.size());
        for (const Row& row : rows) out.push_back({row.Int(0), BlobFromCell(row, 1)});
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead));
  return out;
}

absl::StatusOr<std::vector<StoredEntry>> AuditStore::Query(const QueryFilter& filter) {
  std::vector<std::string> where;
  std::vector<Value> params;
  auto add_int = [&](const char* column_op, int64_t value) {
    params.emplace_back(value);
    where.push_back(absl::StrCat(column_op, " $", params.size()));
  };
  auto add_text = [&](const char* column_op, const std::string& value) {
    params.emplace_back(value);
    where.push_back(absl::StrCat(column_op, " $", params.size()));
  };
  add_int("idx >", std::max(filter.after_index, filter.min_index - 1));
  add_int("idx <", filter.max_index_exclusive);
  if (!filter.subject.empty()) add_text("subject =", filter.subject);
  if (!filter.resource_id.empty()) add_text("resource_id =", filter.resource_id);
  if (!filter.action.empty()) add_text("action =", filter.action);
  if (!filter.dataset.empty()) add_text("dataset =", filter.dataset);
  if (filter.outcome.has_value()) add_int("outcome =", *filter.outcome);
  if (filter.since_micros.has_value()) add_int("sequenced_micros >=", *filter.since_micros);
  if (filter.until_micros.has_value()) add_int("sequenced_micros <", *filter.until_micros);
  params.emplace_back(int64_t{filter.limit});
  const std::string sql =
      absl::StrCat("SELECT idx, entry_bytes FROM audit_entries WHERE ",
                   absl::StrJoin(where, " AND "), " ORDER BY idx LIMIT $", params.size());
  std::vector<StoredEntry> out;
  RETURN_IF_ERROR(db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(Rows rows, tx.Query(sql, params));
        out.reserve(rows.size());
        for (const Row& row : rows) out.push_back({row.Int(0), BlobFromCell(row, 1)});
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead));
  return out;
}

absl::Status AuditStore::WithHashReader(
    const std::function<absl::Status(merkle::HashReader&)>& body) {
  return db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        StoreHashReader reader(*this, tx);
        return body(reader);
      },
      storage::TransactionMode::kReadOnly);
}

absl::Status AuditStore::InsertCheckpoint(const CheckpointRow& checkpoint) {
  return db_->InTransaction([&](Transaction& tx) -> absl::Status {
    return tx
        .Execute(absl::StrCat("INSERT INTO audit_checkpoints (tree_size, root, note, "
                              "created_micros) VALUES ($1, ",
                              BlobSql(2), ", $3, $4)"),
                 {checkpoint.tree_size, BlobParam(HashBytes(checkpoint.root)), checkpoint.note,
                  checkpoint.created_micros})
        .status();
  });
}

absl::StatusOr<std::optional<CheckpointRow>> AuditStore::LatestCheckpoint() {
  std::optional<CheckpointRow> out;
  RETURN_IF_ERROR(db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(Rows rows,
                         tx.Query("SELECT tree_size, root, note, created_micros FROM "
                                  "audit_checkpoints ORDER BY tree_size DESC LIMIT 1"));
        if (rows.empty()) return absl::OkStatus();
        CheckpointRow cp;
        cp.tree_size = rows[0].Int(0);
        ASSIGN_OR_RETURN(cp.root, ToHash(BlobFromCell(rows[0], 1)));
        cp.note = rows[0].String(2);
        cp.created_micros = rows[0].Int(3);
        out = std::move(cp);
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead));
  return out;
}

absl::StatusOr<std::optional<std::string>> AuditStore::LoadLogKey(const std::string& key_name) {
  std::optional<std::string> out;
  RETURN_IF_ERROR(db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(Rows rows,
                         tx.Query("SELECT seed FROM audit_log_key WHERE key_name = $1", {key_name}));
        if (!rows.empty()) out = BlobFromCell(rows[0], 0);
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead));
  return out;
}

absl::StatusOr<std::string> AuditStore::StoreLogKey(const std::string& key_name,
                                                    const std::string& seed) {
  std::string in_force;
  RETURN_IF_ERROR(db_->InTransaction([&](Transaction& tx) -> absl::Status {
    RETURN_IF_ERROR(tx.Execute(absl::StrCat("INSERT INTO audit_log_key (key_name, seed) VALUES "
                                            "($1, ",
                                            BlobSql(2), ") ON CONFLICT (key_name) DO NOTHING"),
                               {key_name, BlobParam(seed)})
                        .status());
    ASSIGN_OR_RETURN(Rows rows,
                     tx.Query("SELECT seed FROM audit_log_key WHERE key_name = $1", {key_name}));
    if (rows.empty()) return absl::InternalError("the log key was not stored");
    in_force = BlobFromCell(rows[0], 0);
    return absl::OkStatus();
  }));
  return in_force;
}

absl::Status AuditStore::BulkInsert(const std::vector<EntryRow>& rows,
                                    const std::vector<NodeRow>& nodes, int64_t old_size,
                                    int64_t new_size, int64_t last_sequenced_micros) {
  return InWriteTransaction([&](WriteTransaction& tx) -> absl::Status {
    RETURN_IF_ERROR(tx.InsertEntries(rows));
    RETURN_IF_ERROR(tx.InsertNodes(nodes));
    std::map<std::string, int64_t> maxima;
    for (const EntryRow& r : rows) {
      int64_t& m = maxima[r.producer];
      m = std::max(m, r.producer_sequence);
    }
    RETURN_IF_ERROR(tx.RecordProducerMaxima({maxima.begin(), maxima.end()}));
    return tx.AdvanceState(old_size, new_size, last_sequenced_micros);
  });
}

}  // namespace smartby::audit
