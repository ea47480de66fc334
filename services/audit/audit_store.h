// The audit log's storage, the same on SQLite and PostgreSQL (migrations in audit_store.cc):
//
//   audit_entries      one row per sequenced entry: index (contiguous from 0), sequencing time,
//                      producer + producer_sequence (UNIQUE), the columns queries filter on, and
//                      entry_bytes = the deterministic serialization of AuditEntry (the leaf)
//   audit_tree         (level, index, hash) for every complete subtree (level 0 = leaf hashes);
//                      the Merkle code (merkle.h) builds proofs and roots from these alone
//   audit_checkpoints  every signed checkpoint (tree size, root, note)
//   audit_producers    the highest sequence each producer has had appended (dedup fast path)
//   audit_state        one row: tree size (a compare-and-set guard against a second sequencer),
//                      last sequencing time, retention minimum index
//   audit_log_key      the log's Ed25519 seed when no --checkpoint_key_file is given
//
// Nothing is ever updated or deleted in audit_entries / audit_tree by this code. Binary columns
// are BLOB on SQLite and bytea on PostgreSQL.
#ifndef SMARTBY_SERVICES_AUDIT_AUDIT_STORE_H_
#define SMARTBY_SERVICES_AUDIT_AUDIT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/audit/merkle.h"
#include "services/runtime/storage/database.h"

namespace smartby::audit {

// One row of audit_entries.
struct EntryRow {
  int64_t index = 0;
  int64_t sequenced_micros = 0;  // Unix microseconds
  std::string producer;
  int64_t producer_sequence = 0;
  std::string subject;
  std::string action;
  std::string resource_id;
  std::string dataset;
  int64_t outcome = 0;
  std::string entry_bytes;
};

// An entry as read back: its index and the exact leaf bytes.
struct StoredEntry {
  int64_t index = 0;
  std::string entry_bytes;
};

struct NodeRow {
  int level = 0;
  uint64_t index = 0;
  merkle::Hash hash{};
};

struct CheckpointRow {
  int64_t tree_size = 0;
  merkle::Hash root{};
  std::string note;
  int64_t created_micros = 0;
};

struct LogState {
  int64_t tree_size = 0;
  int64_t last_sequenced_micros = 0;
  int64_t retention_min_index = 0;
};

// Filters of QueryEntries; empty strings / nullopt match everything.
struct QueryFilter {
  std::string subject;
  std::string resource_id;
  std::string action;
  std::string dataset;
  std::optional<int64_t> outcome;
  std::optional<int64_t> since_micros;  // inclusive
  std::optional<int64_t> until_micros;  // exclusive
  int64_t after_index = -1;             // paging: entries with a larger index
  int64_t min_index = 0;                // retention
  int64_t max_index_exclusive = 0;      // only committed entries (the tree size)
  int limit = 100;
};

// The writer's view of one transaction (the sequencer is the only writer).
class WriteTransaction {
 public:
  virtual ~WriteTransaction() = default;
  // The stored entry of (producer, sequence), if any.
  virtual absl::StatusOr<std::optional<StoredEntry>> FindByProducer(const std::string& producer,
                                                                    int64_t sequence) = 0;
  virtual absl::Status InsertEntries(const std::vector<EntryRow>& rows) = 0;
  virtual absl::Status InsertNodes(const std::vector<NodeRow>& nodes) = 0;
  // Raises each producer's recorded maximum sequence (never lowers it).
  virtual absl::Status RecordProducerMaxima(
      const std::vector<std::pair<std::string, int64_t>>& maxima) = 0;
  // Moves the tree size from `old_size` to `new_size`; FAILED_PRECONDITION when the stored size
  // is not `old_size` (another sequencer has written to this log).
  virtual absl::Status AdvanceState(int64_t old_size, int64_t new_size,
                                    int64_t last_sequenced_micros) = 0;
};

class AuditStore {
 public:
  // Applies the migrations. `db` is shared with whoever else needs it (readiness checks).
  static absl::StatusOr<std::unique_ptr<AuditStore>> Open(
      std::shared_ptr<storage::Database> db);

  storage::Database& database() { return *db_; }

  absl::StatusOr<LogState> LoadState();
  // Raises the stored retention minimum to `min_index` (it never goes down); returns the value in
  // force afterwards.
  absl::StatusOr<int64_t> RaiseRetentionMinimum(int64_t min_index);
  // The highest recorded sequence per producer.
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> LoadProducerMaxima();
  // The number of rows in audit_entries and the largest index (-1 when empty).
  absl::StatusOr<std::pair<int64_t, int64_t>> CountEntries();

  // Runs `body` in one read-write transaction: all its writes commit together or not at all.
  absl::Status InWriteTransaction(const std::function<absl::Status(WriteTransaction&)>& body);

  // Entries [start, end) in index order (fewer when some are missing).
  absl::StatusOr<std::vector<StoredEntry>> GetEntries(int64_t start, int64_t end);
  absl::StatusOr<std::vector<StoredEntry>> Query(const QueryFilter& filter);

  // Runs `body` with a HashReader over audit_tree inside one read transaction.
  absl::Status WithHashReader(const std::function<absl::Status(merkle::HashReader&)>& body);

  absl::Status InsertCheckpoint(const CheckpointRow& checkpoint);
  absl::StatusOr<std::optional<CheckpointRow>> LatestCheckpoint();

  // The stored Ed25519 seed of `key_name`, or nullopt.
  absl::StatusOr<std::optional<std::string>> LoadLogKey(const std::string& key_name);
  // Stores the seed unless one is already stored for `key_name`; returns the one in force.
  absl::StatusOr<std::string> StoreLogKey(const std::string& key_name, const std::string& seed);

  // Bulk loading for benchmarks and tests: appends rows and nodes in one transaction, bypassing
  // the sequencer (the caller keeps them consistent, e.g. with a CompactRange).
  absl::Status BulkInsert(const std::vector<EntryRow>& rows, const std::vector<NodeRow>& nodes,
                          int64_t old_size, int64_t new_size, int64_t last_sequenced_micros);

  // Engine-specific encodings of binary columns, shared with the transaction helpers.
  storage::Value BlobParam(const std::string& bytes) const;
  std::string BlobFromCell(const storage::Row& row, size_t column) const;
  // SQL for a binary parameter: "CAST($n AS BLOB)" on SQLite, "$n" on PostgreSQL.
  std::string BlobSql(int n) const;

 private:
  explicit AuditStore(std::shared_ptr<storage::Database> db);
  std::shared_ptr<storage::Database> db_;
  storage::Dialect dialect_;
};

}  // namespace smartby::audit

#endif  // SMARTBY_SERVICES_AUDIT_AUDIT_STORE_H_
