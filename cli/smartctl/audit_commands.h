// The `audit` noun (AddAuditCommands), and the helpers of its commands that are worth testing on
// their own: flag values, the log verifier (over an abstract reader, so tests can feed it a
// hand-built log), and the export file format with its offline verifier. The commands call smartcity.audit.v1.AuditService and check what it
// says with the Merkle and signed-note code of services/audit (merkle.h, checkpoint.h).
#ifndef SMARTBY_CLI_SMARTCTL_AUDIT_COMMANDS_H_
#define SMARTBY_CLI_SMARTCTL_AUDIT_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/smartctl/args.h"
#include "cli/smartctl/commands.h"
#include "services/audit/checkpoint.h"
#include "services/audit/merkle.h"
#include "smartcity/audit/v1/audit.pb.h"

namespace smartby::smartctl {

// The environment variable that pins the log's verifier key (as --verifier-key does).
// Adds the `audit` noun and its verbs (query, tail, checkpoint, verify, proof, export,
// verify-export) to `registry`.
void AddAuditCommands(Registry& registry);

inline constexpr char kVerifierKeyEnv[] = "SMARTCTL_AUDIT_VERIFIER_KEY";

// ---- flag values ----

// --since/--until: RFC 3339 ("2026-01-31T09:30:00Z", offsets allowed), a date ("2026-01-31",
// midnight UTC), or a time ago: a duration such as "24h", "90m", "7d", "2w", "1h30m" (subtracted
// from `now`). Usage error naming the flag.
absl::StatusOr<absl::Time> ParseTimeFlag(const std::string& flag, const std::string& text,
                                         absl::Time now);

// --outcome: a gRPC status code as a number (0-16) or a name ("OK", "PERMISSION_DENIED",
// "permission-denied"). Usage error otherwise.
absl::StatusOr<int> ParseOutcomeCode(const std::string& text);
// 7 -> "PERMISSION_DENIED"; an unknown number as itself.
std::string OutcomeName(int code);

struct QueryPlan {
  smartcity::audit::v1::QueryEntriesRequest request;  // filters, first page
  int64_t limit = 100;                                // 0: no limit
};
// `audit query` flags (--actor --resource --action --dataset --outcome --since --until --limit)
// as the first request and the limit. Usage errors name the flag.
absl::StatusOr<QueryPlan> QueryPlanFrom(const ParsedFlags& flags, absl::Time now);

// ---- proofs ----

// Walks an inclusion proof (RFC 9162 §2.1.3.2) from `leaf_hash` and returns the root it leads
// to, plus the proof's LEFT siblings with their place in the tree: they are perfect subtrees
// that together cover exactly the leaves [0, index) (the "compact range" of size `index`).
// INVALID_ARGUMENT for a proof of the wrong length or a hash that is not 32 bytes.
struct InclusionWalk {
  merkle::Hash root{};
  std::vector<merkle::CompactRange::NewNode> left;  // bottom-up
};
absl::StatusOr<InclusionWalk> WalkInclusionProof(uint64_t index, uint64_t tree_size,
                                                 const merkle::Hash& leaf_hash,
                                                 const std::vector<std::string>& proof);

// ---- verifying the log ----

// What the verifier reads from the log (the service, or a fake in tests).
class AuditReader {
 public:
  virtual ~AuditReader() = default;
  // Entries [start, end), at most 1,000.
  virtual absl::StatusOr<std::vector<smartcity::audit::v1::LogEntry>> GetEntries(int64_t start,
                                                                                 int64_t end) = 0;
  virtual absl::StatusOr<smartcity::audit::v1::InclusionProof> GetInclusionProof(
      int64_t index, int64_t tree_size) = 0;
  virtual absl::StatusOr<smartcity::audit::v1::ConsistencyProof> GetConsistencyProof(
      int64_t first_size, int64_t second_size) = 0;
};

struct VerifyReport {
  int64_t tree_size = 0;       // of the checkpoint verified against
  int64_t minimum_index = 0;   // entries below it are not served (retention)
  int64_t entries_checked = 0; // [minimum_index, tree_size)
  int64_t pages = 0;
  // True when the root was recomputed from every entry of the log; false when the leaves below
  // the retention minimum came from an inclusion proof (their subtree hashes only).
  bool recomputed_from_all = false;
  int64_t pruned_subtrees = 0;  // how many subtree hashes stood for [0, minimum_index)
};

// Fetches every served entry of the tree the signed `checkpoint` describes (pages of 1,000),
// checks each entry's index, recomputes the leaf hashes and the root, and compares it with the
// signed root. With minimum_index > 0 the hashes for [0, minimum_index) come from the inclusion
// proof of entry `minimum_index` (whose left siblings are exactly those subtrees), checked
// against the signed root first. On a mismatch the first bad entry is located with consistency
// proofs (O(log n) calls). Errors: a local error (exit 1) naming the index, or the reader's.
// `progress` (may be empty) is told the number of entries checked after each page.
absl::Status VerifyLog(AuditReader& reader, const audit::CheckpointBody& checkpoint,
                       int64_t minimum_index, VerifyReport* report,
                       const std::function<void(int64_t)>& progress = {});

// Checks that the older signed checkpoint `old_body` is a prefix of `new_body` with a
// consistency proof from `reader`. Local error (exit 1) when not.
absl::Status VerifyConsistencyBetween(AuditReader& reader, const audit::CheckpointBody& old_body,
                                      const audit::CheckpointBody& new_body);

// ---- export files ----
// FILE: one JSON object per line:
//   {"index":N,"leaf_hash":"<hex>","entry_bytes":"<base64>","entry":{...AuditEntry as JSON...}}
// FILE.proofs.json: {"format":"smartby-audit-export-proofs/1","origin","verifier_key",
//   "checkpoint":"<signed note>","tree_size","root_hash":"<hex>","from","to",
//   "proofs":[{"index":N,"leaf_hash":"<hex>","hashes":["<hex>",...]}]}

inline constexpr char kExportProofsFormat[] = "smartby-audit-export-proofs/1";

// One line of FILE (without the newline).
std::string ExportLine(int64_t index, const std::string& entry_bytes);

struct ExportProof {
  int64_t index = 0;
  merkle::Hash leaf_hash{};
  std::vector<std::string> hashes;  // raw 32-byte hashes, bottom-up
};
struct ExportBundle {
  std::string origin;
  std::string verifier_key;
  std::string checkpoint_note;
  int64_t tree_size = 0;
  merkle::Hash root{};
  int64_t from = 0;
  int64_t to = 0;  // exclusive
  std::vector<ExportProof> proofs;
};
std::string ExportBundleToJson(const ExportBundle& bundle);

struct ExportCheck {
  int64_t entries = 0;
  int64_t from = 0;
  int64_t to = 0;
  std::string origin;
  int64_t tree_size = 0;
  std::string verifier_key;  // the key the checkpoint was verified with
  bool key_pinned = false;   // false: the bundle's own key was used
};
// Verifies an export offline: the bundle's checkpoint signature (with `pinned_key`, else the
// bundle's key), every line's leaf hash and readable entry against its entry_bytes, and every
// entry's inclusion proof against the signed root; every index of [from, to) exactly once.
// Local error (exit 1) naming the line and index on any mismatch.
absl::StatusOr<ExportCheck> VerifyExport(const std::string& entries_text,
                                         const std::string& bundle_text,
                                         const std::string& pinned_key);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_AUDIT_COMMANDS_H_
