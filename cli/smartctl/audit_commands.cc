// The `audit` noun, against smartcity.audit.v1.AuditService: query, tail, checkpoint, verify,
// proof, export and verify-export. Everything the service says about the log's integrity is
// checked here with services/audit/merkle.h and checkpoint.h: smartctl trusts the signed
// checkpoint (and the verifier key), never the service's word.
#include "cli/smartctl/audit_commands.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/output.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"

namespace smartby::smartctl {

namespace v1 = smartcity::audit::v1;
using Stub = v1::AuditService::Stub;
using merkle::Hash;

namespace {

constexpr int64_t kPageSize = 1000;  // GetEntries' limit per call

constexpr const char* kCodeNames[] = {
    "OK",          "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED", "NOT_FOUND",    "ALREADY_EXISTS",    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",   "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",       "DATA_LOSS",
    "UNAUTHENTICATED"};

std::string Hex(const Hash& hash) { return merkle::ToHex(hash); }

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

// Strict hex -> bytes (absl's HexStringToBytes does not report bad digits).
bool FromHex(absl::string_view text, std::string* out) {
  if (text.size() % 2 != 0) return false;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  *out = absl::HexStringToBytes(text);
  return true;
}

// Prints a JSON document as -o json or -o yaml ask.
void PrintJson(const nlohmann::json& doc, OutputFormat format, std::ostream& out) {
  const std::string text = doc.dump(2);
  if (format == OutputFormat::kYaml) {
    out << JsonToYaml(text);
  } else {
    out << text << "\n";
  }
}

absl::Status Mismatch(const std::string& message) {
  return LocalError(absl::StrCat("verification failed: ", message));
}

}  // namespace

// ---- flag values ------------------------------------------------------------------------------

absl::StatusOr<absl::Time> ParseTimeFlag(const std::string& flag, const std::string& text,
                                         absl::Time now) {
  const std::string value(absl::StripAsciiWhitespace(text));
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, value, &time, &error)) return time;
  if (absl::ParseTime("%Y-%m-%d", value, absl::UTCTimeZone(), &time, &error)) return time;
  // A time ago: leading weeks and days ("2w", "7d", "1d12h"), then an absl duration ("90m").
  absl::Duration ago = absl::ZeroDuration();
  absl::string_view rest = value;
  bool ok = !rest.empty() && absl::ascii_isdigit(static_cast<unsigned char>(rest[0]));
  for (const auto& [suffix, unit] : {std::pair<char, absl::Duration>{'w', absl::Hours(24 * 7)},
                                     std::pair<char, absl::Duration>{'d', absl::Hours(24)}}) {
    const size_t at = rest.find(suffix);
    if (!ok || at == absl::string_view::npos) continue;
    int64_t count = 0;
    ok = absl::SimpleAtoi(rest.substr(0, at), &count) && count >= 0 && count < 100000;
    ago += count * unit;
    rest.remove_prefix(at + 1);
  }
  absl::Duration more = absl::ZeroDuration();
  if (ok && !rest.empty()) ok = absl::ParseDuration(rest, &more);
  if (ok && more >= absl::ZeroDuration() && more < absl::Hours(24 * 365 * 1000)) {
    return now - (ago + more);
  }
  return UsageError(absl::StrCat("--", flag, ": \"", text,
                                 "\" is not a time; write 2026-01-31T09:30:00Z (RFC 3339), "
                                 "2026-01-31, or a time ago such as 24h, 90m or 7d"));
}

absl::StatusOr<int> ParseOutcomeCode(const std::string& text) {
  int number = 0;
  if (absl::SimpleAtoi(text, &number)) {
    if (number >= 0 && number <= 16) return number;
  } else {
    std::string name = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
    absl::StrReplaceAll({{"-", "_"}}, &name);
    for (int code = 0; code <= 16; ++code) {
      if (name == kCodeNames[code]) return code;
    }
  }
  return UsageError(absl::StrCat("--outcome: \"", text,
                                 "\" is not a gRPC status code; give a number 0-16 or a name "
                                 "such as OK, PERMISSION_DENIED, not-found"));
}

std::string OutcomeName(int code) {
  if (code >= 0 && code <= 16) return kCodeNames[code];
  return absl::StrCat(code);
}

absl::StatusOr<QueryPlan> QueryPlanFrom(const ParsedFlags& flags, absl::Time now) {
  QueryPlan plan;
  v1::QueryEntriesRequest& r = plan.request;
  r.set_actor(flags.Get("actor"));
  r.set_resource_id(flags.Get("resource"));
  r.set_action(flags.Get("action"));
  r.set_dataset(flags.Get("dataset"));
  if (flags.Has("outcome")) {
    absl::StatusOr<int> code = ParseOutcomeCode(flags.Get("outcome"));
    if (!code.ok()) return code.status();
    r.set_outcome_code(*code);
    r.set_has_outcome(true);
  }
  std::optional<absl::Time> since, until;
  for (auto [flag, time, ts] :
       {std::tuple{"since", &since, r.mutable_since()}, std::tuple{"until", &until, r.mutable_until()}}) {
    if (!flags.Has(flag)) continue;
    absl::StatusOr<absl::Time> t = ParseTimeFlag(flag, flags.Get(flag), now);
    if (!t.ok()) return t.status();
    const int64_t seconds = absl::ToUnixSeconds(*t);
    ts->set_seconds(seconds);
    ts->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(*t - absl::FromUnixSeconds(seconds))));
    *time = *t;
  }
  if (!since) r.clear_since();
  if (!until) r.clear_until();
  if (since && until && *until < *since) {
    return UsageError("--until is before --since: nothing can match");
  }
  if (flags.Has("limit")) {
    absl::StatusOr<int64_t> n = ParseIntFlag("limit", flags.Get("limit"), 0);
    if (!n.ok()) return n.status();
    plan.limit = *n;
  }
  const int64_t page = plan.limit == 0 ? kPageSize : std::min(plan.limit, kPageSize);
  r.set_page_size(static_cast<int32_t>(page));
  return plan;
}

// ---- proofs -----------------------------------------------------------------------------------

absl::StatusOr<InclusionWalk> WalkInclusionProof(uint64_t index, uint64_t tree_size,
                                                 const Hash& leaf_hash,
                                                 const std::vector<std::string>& proof) {
  if (index >= tree_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("index ", index, " is not in a tree of ", tree_size, " entries"));
  }
  InclusionWalk walk;
  uint64_t fn = index;
  uint64_t sn = tree_size - 1;
  int level = 0;
  Hash r = leaf_hash;
  for (const std::string& bytes : proof) {
    absl::StatusOr<Hash> p = merkle::HashFromBytes(bytes);
    if (!p.ok()) return absl::InvalidArgumentError("a proof hash is not 32 bytes");
    if (sn == 0) return absl::InvalidArgumentError("the inclusion proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
        ++level;
      }
      if (fn == 0) return absl::InvalidArgumentError("the inclusion proof is malformed");
      walk.left.push_back({level, fn - 1, *p});
      r = merkle::NodeHash(*p, r);
    } else {
      r = merkle::NodeHash(r, *p);
    }
    fn >>= 1;
    sn >>= 1;
    ++level;
  }
  if (sn != 0) return absl::InvalidArgumentError("the inclusion proof is too short");
  walk.root = r;
  return walk;
}

// ---- verifying the log ------------------------------------------------------------------------

namespace {

// The leaf hash of the entry at `index`, after checking that its bytes are an AuditEntry of
// that index. `last_time` (micros) checks that sequencing time never goes backwards.
absl::StatusOr<Hash> CheckedLeaf(const v1::LogEntry& entry, int64_t index,
                                 std::optional<int64_t>* last_micros) {
  const std::string& bytes = entry.entry_bytes();
  if (bytes.empty()) return Mismatch(absl::StrCat("entry ", index, ": the log sent no entry_bytes"));
  v1::AuditEntry parsed;
  if (!parsed.ParseFromString(bytes)) {
    return Mismatch(absl::StrCat("entry ", index, ": its bytes do not parse as an AuditEntry"));
  }
  if (parsed.index() != index) {
    return Mismatch(absl::StrCat("the entry at position ", index, " says it is entry ",
                                 parsed.index()));
  }
  const int64_t micros = parsed.sequenced_time().seconds() * 1000000 +
                         parsed.sequenced_time().nanos() / 1000;
  if (last_micros != nullptr) {
    if (last_micros->has_value() && micros < **last_micros) {
      return Mismatch(absl::StrCat("entry ", index,
                                   ": sequenced before the entry preceding it (the log's time "
                                   "never goes backwards)"));
    }
    *last_micros = micros;
  }
  return merkle::LeafHash(bytes);
}

// Entries [start, end) from `reader`; when the page cannot be read because an entry is damaged
// (DATA_LOSS, INTERNAL), finds that entry by reading them one at a time.
absl::StatusOr<std::vector<v1::LogEntry>> FetchPage(AuditReader& reader, int64_t start,
                                                    int64_t end) {
  absl::StatusOr<std::vector<v1::LogEntry>> page = reader.GetEntries(start, end);
  if (!page.ok()) {
    const absl::StatusCode code = page.status().code();
    if (code != absl::StatusCode::kDataLoss && code != absl::StatusCode::kInternal) {
      return page.status();
    }
    for (int64_t i = start; i < end; ++i) {
      absl::StatusOr<std::vector<v1::LogEntry>> one = reader.GetEntries(i, i + 1);
      if (!one.ok()) {
        return Mismatch(absl::StrCat("entry ", i, " cannot be read from the log: ",
                                     one.status().message()));
      }
    }
    return page.status();
  }
  if (static_cast<int64_t>(page->size()) != end - start) {
    return Mismatch(absl::StrCat("asked for entries [", start, ", ", end, ") the log sent ",
                                 page->size()));
  }
  return page;
}

// Does the tree of the first `m` leaves, with root `root_m`, grow into the signed tree?
absl::StatusOr<bool> PrefixConsistent(AuditReader& reader, int64_t m, const Hash& root_m,
                                      const audit::CheckpointBody& checkpoint) {
  absl::StatusOr<v1::ConsistencyProof> proof =
      reader.GetConsistencyProof(m, static_cast<int64_t>(checkpoint.size));
  if (!proof.ok()) return proof.status();
  std::vector<std::string> hashes(proof->hashes().begin(), proof->hashes().end());
  return merkle::VerifyConsistency(m, checkpoint.size, merkle::ToBytes(root_m),
                                   merkle::ToBytes(checkpoint.root), hashes)
      .ok();
}

// The recomputed root differs from the signed one: finds the first entry whose leaf is not the
// one the signed tree holds. `snapshots[i]` is the compact range at `boundaries[i]`.
absl::Status LocateMismatch(AuditReader& reader, const audit::CheckpointBody& checkpoint,
                            const std::vector<merkle::CompactRange>& snapshots,
                            const std::vector<int64_t>& boundaries) {
  const int64_t n = static_cast<int64_t>(checkpoint.size);
  auto cannot_locate = [&](const absl::Status& why) {
    return Mismatch(absl::StrCat(
        "the root recomputed from the entries differs from the signed root of the checkpoint "
        "of ", n, " entries, and the entry could not be located: ", why.message()));
  };
  // Page level: boundaries[lo] is consistent (the first is by construction), boundaries[hi]
  // is not (the last is the whole tree, which differs).
  size_t lo = 0;
  size_t hi = boundaries.size() - 1;
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    absl::StatusOr<bool> good = PrefixConsistent(reader, boundaries[mid], snapshots[mid].Root(),
                                                 checkpoint);
    if (!good.ok()) return cannot_locate(good.status());
    (*good ? lo : hi) = mid;
  }
  // Entry level, inside the page [boundaries[lo], boundaries[hi]).
  const int64_t start = boundaries[lo];
  const int64_t end = boundaries[hi];
  absl::StatusOr<std::vector<v1::LogEntry>> page = FetchPage(reader, start, end);
  if (!page.ok()) return page.status();
  std::vector<Hash> leaves;
  for (int64_t i = start; i < end; ++i) {
    absl::StatusOr<Hash> leaf = CheckedLeaf((*page)[i - start], i, nullptr);
    if (!leaf.ok()) return leaf.status();
    leaves.push_back(*leaf);
  }
  int64_t good_size = start;  // consistent
  int64_t bad_size = end;     // not
  while (bad_size - good_size > 1) {
    const int64_t mid = good_size + (bad_size - good_size) / 2;
    merkle::CompactRange range = snapshots[lo];
    for (int64_t i = start; i < mid; ++i) range.Append(leaves[i - start]);
    absl::StatusOr<bool> good = PrefixConsistent(reader, mid, range.Root(), checkpoint);
    if (!good.ok()) return cannot_locate(good.status());
    (*good ? good_size : bad_size) = mid;
  }
  const int64_t bad = good_size;
  return Mismatch(absl::StrCat(
      "entry ", bad, " does not match the signed log: its bytes hash to ",
      Hex(leaves[bad - start]), ", which is not the leaf the checkpoint of ", n,
      " entries commits to (the entry was changed after it was logged; later entries were not "
      "checked one by one)"));
}

}  // namespace

absl::Status VerifyLog(AuditReader& reader, const audit::CheckpointBody& checkpoint,
                       int64_t minimum_index, VerifyReport* report,
                       const std::function<void(int64_t)>& progress) {
  const int64_t n = static_cast<int64_t>(checkpoint.size);
  const int64_t min = std::clamp<int64_t>(minimum_index, 0, n);
  *report = VerifyReport{};
  report->tree_size = n;
  report->minimum_index = min;
  if (n == 0) {
    if (checkpoint.root != merkle::EmptyRoot()) {
      return Mismatch("the checkpoint of 0 entries does not have the empty tree's root");
    }
    report->recomputed_from_all = true;
    return absl::OkStatus();
  }
  if (min >= n) return absl::OkStatus();  // nothing is served: nothing to recompute

  merkle::CompactRange range;
  std::vector<merkle::CompactRange> snapshots;
  std::vector<int64_t> boundaries;
  std::optional<int64_t> last_micros;
  for (int64_t start = min; start < n; start += kPageSize) {
    const int64_t end = std::min(n, start + kPageSize);
    absl::StatusOr<std::vector<v1::LogEntry>> page = FetchPage(reader, start, end);
    if (!page.ok()) return page.status();
    for (int64_t i = start; i < end; ++i) {
      absl::StatusOr<Hash> leaf = CheckedLeaf((*page)[i - start], i, &last_micros);
      if (!leaf.ok()) return leaf.status();
      if (i == min && min > 0) {
        // The pruned prefix [0, min) enters as the left siblings of entry min's inclusion
        // proof, which must lead from entry min's own leaf to the signed root.
        absl::StatusOr<v1::InclusionProof> proof = reader.GetInclusionProof(min, n);
        if (!proof.ok()) return proof.status();
        std::vector<std::string> hashes(proof->hashes().begin(), proof->hashes().end());
        absl::StatusOr<InclusionWalk> walk = WalkInclusionProof(min, n, *leaf, hashes);
        if (!walk.ok() || walk->root != checkpoint.root) {
          return Mismatch(absl::StrCat(
              "entry ", min, " (the oldest served) does not match the signed log: its inclusion "
              "proof does not lead from its bytes to the signed root",
              walk.ok() ? "" : absl::StrCat(" (", walk.status().message(), ")")));
        }
        merkle::MemoryHashStore store;
        uint64_t covered = 0;
        for (const auto& node : walk->left) {
          store.Put(node.level, node.index, node.hash);
          covered += uint64_t{1} << node.level;
        }
        absl::StatusOr<merkle::CompactRange> loaded =
            covered == static_cast<uint64_t>(min) ? merkle::CompactRange::Load(store, min)
                                                  : absl::StatusOr<merkle::CompactRange>(
                                                        absl::InvalidArgumentError("gap"));
        if (!loaded.ok()) {
          return Mismatch(absl::StrCat("the inclusion proof of entry ", min,
                                       " does not cover the entries before it"));
        }
        range = *std::move(loaded);
        report->pruned_subtrees = static_cast<int64_t>(walk->left.size());
      }
      if (i == start) {
        snapshots.push_back(range);
        boundaries.push_back(start);
      }
      range.Append(*leaf);
    }
    report->pages += 1;
    report->entries_checked += end - start;
    if (progress) progress(report->entries_checked);
  }
  report->recomputed_from_all = min == 0;
  if (range.Root() == checkpoint.root) return absl::OkStatus();
  snapshots.push_back(range);
  boundaries.push_back(n);
  return LocateMismatch(reader, checkpoint, snapshots, boundaries);
}

absl::Status VerifyConsistencyBetween(AuditReader& reader, const audit::CheckpointBody& old_body,
                                      const audit::CheckpointBody& new_body) {
  if (old_body.origin != new_body.origin) {
    return Mismatch(absl::StrCat("the saved checkpoint is of the log \"", old_body.origin,
                                 "\", not of \"", new_body.origin, "\""));
  }
  if (old_body.size > new_body.size) {
    return Mismatch(absl::StrCat("the saved checkpoint covers ", old_body.size,
                                 " entries, more than the log's latest (", new_body.size,
                                 "): the log was rolled back or forked"));
  }
  if (old_body.size == new_body.size) {
    if (old_body.root != new_body.root) {
      return Mismatch(absl::StrCat("the saved and the latest checkpoint both cover ",
                                   old_body.size,
                                   " entries but have different roots: the log forked"));
    }
    return absl::OkStatus();
  }
  if (old_body.size == 0) return absl::OkStatus();
  absl::StatusOr<v1::ConsistencyProof> proof = reader.GetConsistencyProof(
      static_cast<int64_t>(old_body.size), static_cast<int64_t>(new_body.size));
  if (!proof.ok()) return proof.status();
  std::vector<std::string> hashes(proof->hashes().begin(), proof->hashes().end());
  absl::Status consistent =
      merkle::VerifyConsistency(old_body.size, new_body.size, merkle::ToBytes(old_body.root),
                                merkle::ToBytes(new_body.root), hashes);
  if (!consistent.ok()) {
    return Mismatch(absl::StrCat("the saved checkpoint (", old_body.size,
                                 " entries) is not a prefix of the latest (", new_body.size,
                                 " entries): the consistency proof does not verify (",
                                 consistent.message(), ")"));
  }
  return absl::OkStatus();
}

// ---- export files -----------------------------------------------------------------------------

std::string ExportLine(int64_t index, const std::string& entry_bytes) {
  nlohmann::ordered_json line;
  line["index"] = index;
  line["leaf_hash"] = Hex(merkle::LeafHash(entry_bytes));
  line["entry_bytes"] = absl::Base64Escape(entry_bytes);
  v1::AuditEntry entry;
  if (entry.ParseFromString(entry_bytes)) {
    line["entry"] = nlohmann::ordered_json::parse(MessageToCompactJson(entry), nullptr, false);
  }
  return line.dump();
}

std::string ExportBundleToJson(const ExportBundle& bundle) {
  nlohmann::ordered_json doc;
  doc["format"] = kExportProofsFormat;
  doc["origin"] = bundle.origin;
  doc["verifier_key"] = bundle.verifier_key;
  doc["checkpoint"] = bundle.checkpoint_note;
  doc["tree_size"] = bundle.tree_size;
  doc["root_hash"] = Hex(bundle.root);
  doc["from"] = bundle.from;
  doc["to"] = bundle.to;
  nlohmann::ordered_json proofs = nlohmann::ordered_json::array();
  for (const ExportProof& p : bundle.proofs) {
    nlohmann::ordered_json hashes = nlohmann::ordered_json::array();
    for (const std::string& h : p.hashes) hashes.push_back(Hex(absl::string_view(h)));
    proofs.push_back({{"index", p.index}, {"leaf_hash", Hex(p.leaf_hash)}, {"hashes", hashes}});
  }
  doc["proofs"] = std::move(proofs);
  return doc.dump(1) + "\n";
}

namespace {

absl::StatusOr<Hash> HashFromHex(const std::string& text) {
  std::string bytes;
  if (!FromHex(text, &bytes)) return absl::InvalidArgumentError("not hex");
  return merkle::HashFromBytes(bytes);
}

absl::Status BadBundle(const std::string& what) {
  return LocalError(absl::StrCat("the proof bundle is not usable: ", what));
}

}  // namespace

absl::StatusOr<ExportCheck> VerifyExport(const std::string& entries_text,
                                         const std::string& bundle_text,
                                         const std::string& pinned_key) {
  nlohmann::json doc = nlohmann::json::parse(bundle_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return BadBundle("it is not a JSON object");
  if (doc.value("format", "") != kExportProofsFormat) {
    return BadBundle(absl::StrCat("its format is not ", kExportProofsFormat));
  }
  ExportCheck check;
  try {
    check.origin = doc.at("origin").get<std::string>();
    const std::string bundle_key = doc.at("verifier_key").get<std::string>();
    const std::string note = doc.at("checkpoint").get<std::string>();
    check.from = doc.at("from").get<int64_t>();
    check.to = doc.at("to").get<int64_t>();
    check.key_pinned = !pinned_key.empty();
    check.verifier_key = check.key_pinned ? pinned_key : bundle_key;

    absl::StatusOr<audit::CheckpointBody> body =
        audit::VerifyCheckpoint(note, check.verifier_key, check.origin);
    if (!body.ok()) {
      return Mismatch(absl::StrCat("the bundle's checkpoint does not verify with the key ",
                                   check.verifier_key, ": ", body.status().message()));
    }
    check.tree_size = static_cast<int64_t>(body->size);
    absl::StatusOr<Hash> stated_root = HashFromHex(doc.at("root_hash").get<std::string>());
    if (doc.at("tree_size").get<int64_t>() != check.tree_size || !stated_root.ok() ||
        *stated_root != body->root) {
      return Mismatch("the bundle's tree_size or root_hash differ from its signed checkpoint");
    }
    if (check.from < 0 || check.to < check.from || check.to > check.tree_size) {
      return Mismatch(absl::StrCat("the bundle's range [", check.from, ", ", check.to,
                                   ") is not within the checkpoint's ", check.tree_size,
                                   " entries"));
    }

    std::map<int64_t, std::vector<std::string>> proofs;
    for (const auto& p : doc.at("proofs")) {
      const int64_t index = p.at("index").get<int64_t>();
      std::vector<std::string> hashes;
      for (const auto& h : p.at("hashes")) {
        absl::StatusOr<Hash> hash = HashFromHex(h.get<std::string>());
        if (!hash.ok()) return BadBundle(absl::StrCat("a hash of entry ", index, " is not 32 bytes hex"));
        hashes.push_back(merkle::ToBytes(*hash));
      }
      if (!proofs.emplace(index, std::move(hashes)).second) {
        return BadBundle(absl::StrCat("entry ", index, " has two proofs"));
      }
    }

    int64_t expected = check.from;
    int line_number = 0;
    for (absl::string_view raw : absl::StrSplit(entries_text, '\n')) {
      ++line_number;
      if (absl::StripAsciiWhitespace(raw).empty()) continue;
      const std::string where = absl::StrCat("line ", line_number);
      nlohmann::json line = nlohmann::json::parse(raw, nullptr, false);
      if (line.is_discarded() || !line.is_object() || !line.contains("index") ||
          !line.contains("entry_bytes") || !line["index"].is_number_integer() ||
          !line["entry_bytes"].is_string()) {
        return Mismatch(absl::StrCat(where, " is not an exported entry (JSON with index and "
                                            "entry_bytes)"));
      }
      const int64_t index = line["index"].get<int64_t>();
      const std::string at = absl::StrCat(where, " (entry ", index, ")");
      if (index != expected) {
        return Mismatch(absl::StrCat(at, ": expected entry ", expected,
                                     " here (entries missing, repeated or out of order)"));
      }
      if (index >= check.to) {
        return Mismatch(absl::StrCat(at, ": beyond the bundle's range, which ends before ",
                                     check.to));
      }
      std::string bytes;
      if (!absl::Base64Unescape(line["entry_bytes"].get<std::string>(), &bytes)) {
        return Mismatch(absl::StrCat(at, ": entry_bytes is not base64"));
      }
      const Hash leaf = merkle::LeafHash(bytes);
      if (line.contains("leaf_hash") &&
          (!line["leaf_hash"].is_string() || line["leaf_hash"].get<std::string>() != Hex(leaf))) {
        return Mismatch(absl::StrCat(at, ": leaf_hash is not the hash of entry_bytes"));
      }
      v1::AuditEntry parsed;
      if (!parsed.ParseFromString(bytes) || parsed.index() != index) {
        return Mismatch(absl::StrCat(at, ": entry_bytes is not an AuditEntry of that index"));
      }
      if (line.contains("entry")) {
        v1::AuditEntry shown;
        google::protobuf::util::JsonParseOptions options;
        if (!google::protobuf::util::JsonStringToMessage(line["entry"].dump(), &shown, options)
                 .ok() ||
            !google::protobuf::util::MessageDifferencer::Equals(shown, parsed)) {
          return Mismatch(absl::StrCat(at, ": the readable \"entry\" differs from entry_bytes"));
        }
      }
      auto proof = proofs.find(index);
      if (proof == proofs.end()) {
        return Mismatch(absl::StrCat(at, ": the bundle has no inclusion proof for it"));
      }
      absl::Status included =
          merkle::VerifyInclusion(index, check.tree_size, merkle::ToBytes(leaf), proof->second,
                                  merkle::ToBytes(body->root));
      if (!included.ok()) {
        return Mismatch(absl::StrCat(at, ": not in the signed log (its inclusion proof does not "
                                         "lead from its bytes to the signed root: ",
                                     included.message(), ")"));
      }
      ++expected;
      ++check.entries;
    }
    if (expected != check.to) {
      return Mismatch(absl::StrCat("the export ends before entry ", expected, "; the bundle says "
                                   "it holds entries up to ", check.to - 1));
    }
    if (static_cast<int64_t>(proofs.size()) != check.entries) {
      return Mismatch("the bundle has proofs for entries the export does not hold");
    }
  } catch (const nlohmann::json::exception& e) {
    return BadBundle(e.what());
  }
  return check;
}

// ---- the commands -----------------------------------------------------------------------------

namespace {

struct AuditConnection {
  std::unique_ptr<ServiceClient> client;
  std::unique_ptr<Stub> stub;
};

absl::StatusOr<AuditConnection> ConnectAudit(CommandContext& context) {
  absl::StatusOr<std::unique_ptr<ServiceClient>> client = context.Connect("audit");
  if (!client.ok()) return client.status();
  AuditConnection c;
  c.stub = v1::AuditService::NewStub((*client)->channel());
  c.client = std::move(*client);
  return c;
}

absl::Status Explain(absl::Status status) {
  if (status.ok() || ExitCodeOf(status) != kExitFailed) return status;
  if (status.code() == absl::StatusCode::kPermissionDenied) {
    return WithHint(status,
                    "reading the audit log needs the auditor or platform-admin role; smartctl "
                    "whoami shows yours");
  }
  if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    return WithHint(status, "give it longer with --timeout, e.g. --timeout 5m");
  }
  return status;
}

template <typename Request, typename Response>
absl::StatusOr<Response> Call(AuditConnection& c,
                              grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                           Response*),
                              const Request& request) {
  absl::StatusOr<Response> response = c.client->Call(*c.stub, method, request);
  if (!response.ok()) return Explain(response.status());
  return response;
}

class ServiceReader : public AuditReader {
 public:
  explicit ServiceReader(AuditConnection& c) : c_(c) {}
  absl::StatusOr<std::vector<v1::LogEntry>> GetEntries(int64_t start, int64_t end) override {
    v1::GetEntriesRequest request;
    request.set_start_index(start);
    request.set_end_index(end);
    absl::StatusOr<v1::GetEntriesResponse> response = Call(c_, &Stub::GetEntries, request);
    if (!response.ok()) return response.status();
    return std::vector<v1::LogEntry>(std::make_move_iterator(response->mutable_entries()->begin()),
                                     std::make_move_iterator(response->mutable_entries()->end()));
  }
  absl::StatusOr<v1::InclusionProof> GetInclusionProof(int64_t index, int64_t size) override {
    v1::GetInclusionProofRequest request;
    request.set_index(index);
    request.set_tree_size(size);
    return Call(c_, &Stub::GetInclusionProof, request);
  }
  absl::StatusOr<v1::ConsistencyProof> GetConsistencyProof(int64_t first,
                                                           int64_t second) override {
    v1::GetConsistencyProofRequest request;
    request.set_first_size(first);
    request.set_second_size(second);
    return Call(c_, &Stub::GetConsistencyProof, request);
  }

 private:
  AuditConnection& c_;
};

// The key checkpoints are verified with: --verifier-key, $SMARTCTL_AUDIT_VERIFIER_KEY, or the
// one the log serves (which proves only that the log signed what it serves).
struct VerifierKey {
  std::string key;
  bool pinned = false;
  std::string source;
};

std::string PinnedKey(const CommandContext& context) {
  if (context.flags().Has("verifier-key")) return context.flags().Get("verifier-key");
  const char* env = std::getenv(kVerifierKeyEnv);
  return env == nullptr ? "" : env;
}

absl::StatusOr<VerifierKey> ChooseKey(CommandContext& context, AuditConnection& c) {
  VerifierKey key;
  if (context.flags().Has("verifier-key")) {
    key = {context.flags().Get("verifier-key"), true, "--verifier-key"};
  } else if (const char* env = std::getenv(kVerifierKeyEnv); env != nullptr && *env != '\0') {
    key = {env, true, kVerifierKeyEnv};
  } else {
    absl::StatusOr<v1::GetVerifierKeyResponse> served =
        Call(c, &Stub::GetVerifierKey, v1::GetVerifierKeyRequest());
    if (!served.ok()) return served.status();
    key = {served->verifier_key(), false, "the log"};
  }
  if (key.key.empty()) {
    return UsageError(absl::StrCat("the verifier key from ", key.source,
                                   " is empty; give NAME+KEYID+BASE64KEY"));
  }
  return key;
}

struct VerifiedCheckpoint {
  v1::Checkpoint checkpoint;
  audit::CheckpointBody body;
  VerifierKey key;
};

absl::StatusOr<VerifiedCheckpoint> GetVerifiedCheckpoint(CommandContext& context,
                                                         AuditConnection& c) {
  VerifiedCheckpoint out;
  absl::StatusOr<VerifierKey> key = ChooseKey(context, c);
  if (!key.ok()) return key.status();
  out.key = *std::move(key);
  absl::StatusOr<v1::Checkpoint> checkpoint =
      Call(c, &Stub::GetCheckpoint, v1::GetCheckpointRequest());
  if (!checkpoint.ok()) return checkpoint.status();
  out.checkpoint = *std::move(checkpoint);
  absl::StatusOr<audit::CheckpointBody> body =
      audit::VerifyCheckpoint(out.checkpoint.note(), out.key.key, out.checkpoint.origin());
  if (!body.ok()) {
    return Mismatch(absl::StrCat("the log's latest checkpoint does not verify with the key ",
                                 out.key.key, " (from ", out.key.source,
                                 "): ", body.status().message()));
  }
  if (static_cast<int64_t>(body->size) != out.checkpoint.tree_size() ||
      merkle::ToBytes(body->root) != out.checkpoint.root_hash()) {
    return Mismatch("the checkpoint's tree_size or root_hash differ from its signed note");
  }
  out.body = *std::move(body);
  return out;
}

std::string KeyText(const VerifierKey& key) {
  return key.pinned ? absl::StrCat(key.key, " (pinned by ", key.source, ")")
                    : absl::StrCat(key.key,
                                   " (served by the log; pin it with --verifier-key or $",
                                   kVerifierKeyEnv, ")");
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return LocalError(absl::StrCat("cannot read ", what, " ", path, ": ", std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status WriteFile(const std::string& path, const std::string& content,
                       const std::string& what) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
      return LocalError(absl::StrCat("cannot write ", what, " ", path, ": ", std::strerror(errno)));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return LocalError(absl::StrCat("cannot write ", what, " ", path, ": ", ec.message()));
  return absl::OkStatus();
}

std::string ResourceText(const v1::Resource& r) {
  if (r.type().empty() && r.id().empty()) return "";
  return r.type().empty() ? r.id() : absl::StrCat(r.type(), "/", r.id());
}

std::string ActorText(const v1::Actor& a) {
  return a.actor().empty() ? a.subject() : absl::StrCat(a.subject(), " (by ", a.actor(), ")");
}

std::vector<std::string> EntryRow(const v1::AuditEntry& e) {
  return {absl::StrCat(e.index()),
          FormatTime(e.sequenced_time()),
          ActorText(e.event().actor()),
          e.event().action(),
          ResourceText(e.event().resource()),
          OutcomeName(e.event().outcome_code())};
}

const std::vector<std::string> kEntryHeaders = {"INDEX", "TIME", "ACTOR", "ACTION", "RESOURCE",
                                                "OUTCOME"};

// ---- query ----

absl::Status QueryCommand(CommandContext& context) {
  absl::StatusOr<QueryPlan> plan = QueryPlanFrom(context.flags(), absl::Now());
  if (!plan.ok()) return WithUsage(plan.status(), UsageText(context.command()));
  absl::StatusOr<AuditConnection> c = ConnectAudit(context);
  if (!c.ok()) return c.status();
  v1::QueryEntriesResponse result;
  v1::QueryEntriesRequest request = plan->request;
  while (true) {
    if (plan->limit > 0) {
      request.set_page_size(static_cast<int32_t>(
          std::min<int64_t>(kPageSize, plan->limit - result.entries_size())));
    }
    absl::StatusOr<v1::QueryEntriesResponse> page = Call(*c, &Stub::QueryEntries, request);
    if (!page.ok()) return page.status();
    for (auto& e : *page->mutable_entries()) {
      if (plan->limit > 0 && result.entries_size() >= plan->limit) break;
      *result.add_entries() = std::move(e);
    }
    result.set_next_page_token(page->next_page_token());
    if (page->next_page_token().empty()) break;
    if (plan->limit > 0 && result.entries_size() >= plan->limit) break;
    request.set_page_token(page->next_page_token());
  }
  if (context.output() != OutputFormat::kTable) {
    PrintMessage(result, context.output(), context.out());
    return absl::OkStatus();
  }
  if (result.entries().empty()) {
    context.err() << "no entries match\n";
    return absl::OkStatus();
  }
  Table table(kEntryHeaders);
  for (const auto& e : result.entries()) table.AddRow(EntryRow(e.entry()));
  table.Print(context.out());
  if (!result.next_page_token().empty()) {
    context.err() << "showing the first " << result.entries_size()
                  << " matching entries; raise --limit (0: no limit) for more\n";
  }
  return absl::OkStatus();
}

// ---- tail ----

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

absl::Status TailCommand(CommandContext& context) {
  v1::TailEntriesRequest request;
  if (context.flags().Has("from")) {
    absl::StatusOr<int64_t> from = ParseIntFlag("from", context.flags().Get("from"), 0);
    if (!from.ok()) return WithUsage(from.status(), UsageText(context.command()));
    request.set_from_index(*from);
  } else {
    request.set_from_index(-1);
    request.set_from_latest(true);
  }
  absl::StatusOr<AuditConnection> c = ConnectAudit(context);
  if (!c.ok()) return c.status();
  // One unary call first: reachability and permission errors come out as for any command.
  absl::StatusOr<v1::Checkpoint> checkpoint =
      Call(*c, &Stub::GetCheckpoint, v1::GetCheckpointRequest());
  if (!checkpoint.ok()) return checkpoint.status();
  absl::StatusOr<std::string> token = context.AccessToken();
  if (!token.ok()) return token.status();

  grpc::ClientContext call;
  const std::string request_id = NewRequestId();
  for (const auto& [key, value] : ServiceClient::CallMetadata(request_id, *token)) {
    call.AddMetadata(key, value);
  }
  g_interrupted.store(false);
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (g_interrupted.load()) {
        call.TryCancel();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });

  std::unique_ptr<grpc::ClientReader<v1::LogEntry>> reader =
      c->stub->TailEntries(&call, request);
  v1::LogEntry entry;
  std::ostream& out = context.out();
  bool header = false;
  bool output_closed = false;
  while (reader->Read(&entry)) {
    switch (context.output()) {
      case OutputFormat::kJson:
        out << MessageToCompactJson(entry) << "\n";
        break;
      case OutputFormat::kYaml:
        out << "---\n" << JsonToYaml(MessageToJson(entry));
        break;
      case OutputFormat::kTable: {
        if (!header) {
          out << absl::StrJoin(kEntryHeaders, "  ") << "\n";
          header = true;
        }
        out << absl::StrJoin(EntryRow(entry.entry()), "  ") << "\n";
        break;
      }
    }
    out.flush();
    if (!out) {  // the reader of our output went away (e.g. | head)
      output_closed = true;
      call.TryCancel();
    }
  }
  const grpc::Status status = reader->Finish();
  done.store(true);
  watcher.join();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (g_interrupted.load() || output_closed) return absl::OkStatus();
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return UnreachableError(absl::StrCat("lost the connection to audit at ",
                                         c->client->endpoint().address, ": ",
                                         status.error_message()),
                            request_id);
  }
  return Explain(ServiceError(static_cast<absl::StatusCode>(status.error_code()),
                              absl::StrCat("the tail ended: ", status.error_message()),
                              request_id));
}

// ---- checkpoint ----

absl::Status CheckpointCommand(CommandContext& context) {
  absl::StatusOr<AuditConnection> c = ConnectAudit(context);
  if (!c.ok()) return c.status();
  absl::StatusOr<VerifiedCheckpoint> v = GetVerifiedCheckpoint(context, *c);
  if (!v.ok()) return v.status();
  if (context.flags().Has("save")) {
    SMARTCTL_RETURN_IF_ERROR(
        WriteFile(context.flags().Get("save"), v->checkpoint.note(), "the checkpoint to"));
  }
  if (context.output() != OutputFormat::kTable) {
    nlohmann::ordered_json doc;
    doc["origin"] = v->body.origin;
    doc["tree_size"] = v->body.size;
    doc["root_hash"] = Hex(v->body.root);
    doc["minimum_index"] = v->checkpoint.minimum_index();
    doc["verifier_key"] = v->key.key;
    doc["key_pinned"] = v->key.pinned;
    doc["signature_verified"] = true;
    doc["note"] = v->checkpoint.note();
    if (context.flags().Has("save")) doc["saved_to"] = context.flags().Get("save");
    PrintJson(nlohmann::json::parse(doc.dump()), context.output(), context.out());
    return absl::OkStatus();
  }
  Details details;
  details.Add("Origin", v->body.origin);
  details.Add("Tree size", absl::StrCat(v->body.size));
  details.Add("Root hash", Hex(v->body.root));
  if (v->checkpoint.minimum_index() > 0) {
    details.Add("Served from",
                absl::StrCat("entry ", v->checkpoint.minimum_index(), " (older ones are past "
                                                                       "retention)"));
  }
  details.Add("Signature", absl::StrCat("verified with ", KeyText(v->key)));
  if (context.flags().Has("save")) details.Add("Saved to", context.flags().Get("save"));
  details.Print(context.out());
  context.out() << "\n" << v->checkpoint.note();
  return absl::OkStatus();
}

// ---- verify ----

absl::Status VerifyCommand(CommandContext& context) {
  std::optional<std::string> old_note;
  if (context.flags().Has("since-checkpoint")) {
    absl::StatusOr<std::string> text =
        ReadFile(context.flags().Get("since-checkpoint"), "the saved checkpoint");
    if (!text.ok()) return text.status();
    old_note = *std::move(text);
  }
  absl::StatusOr<AuditConnection> c = ConnectAudit(context);
  if (!c.ok()) return c.status();
  absl::StatusOr<VerifiedCheckpoint> v = GetVerifiedCheckpoint(context, *c);
  if (!v.ok()) return v.status();
  const bool table = context.output() == OutputFormat::kTable;
  std::ostream& out = context.out();
  if (table) {
    out << "checkpoint  " << v->body.origin << ", " << v->body.size << " entries, root "
        << Hex(v->body.root) << "\n"
        << "signature   verified with " << KeyText(v->key) << "\n";
    out.flush();
  }
  ServiceReader reader(*c);
  nlohmann::ordered_json doc;
  doc["origin"] = v->body.origin;
  doc["tree_size"] = v->body.size;
  doc["root_hash"] = Hex(v->body.root);
  doc["verifier_key"] = v->key.key;
  doc["key_pinned"] = v->key.pinned;

  if (old_note) {
    absl::StatusOr<audit::CheckpointBody> old_body =
        audit::VerifyCheckpoint(*old_note, v->key.key, v->body.origin);
    if (!old_body.ok()) {
      return Mismatch(absl::StrCat("the saved checkpoint ", context.flags().Get("since-checkpoint"),
                                   " does not verify with the key ", v->key.key, ": ",
                                   old_body.status().message()));
    }
    SMARTCTL_RETURN_IF_ERROR(VerifyConsistencyBetween(reader, *old_body, v->body));
    if (table) {
      out << "since       the saved checkpoint of " << old_body->size
          << " entries: signature verified; the latest is consistent with it (consistency "
             "proof verified)\n";
      out.flush();
    }
    doc["since_checkpoint"] = {{"file", context.flags().Get("since-checkpoint")},
                               {"tree_size", old_body->size},
                               {"consistent", true}};
  }

  VerifyReport report;
  absl::Status verified =
      VerifyLog(reader, v->body, v->checkpoint.minimum_index(), &report, {});
  if (!verified.ok()) return verified;
  const int64_t n = report.tree_size;
  const int64_t min = report.minimum_index;
  doc["minimum_index"] = min;
  doc["entries_verified"] = report.entries_checked;
  doc["root_recomputed_from_all_entries"] = report.recomputed_from_all;
  doc["verified"] = true;
  if (!table) {
    PrintJson(nlohmann::json::parse(doc.dump()), context.output(), out);
    return absl::OkStatus();
  }
  if (n == 0) {
    out << "entries     none: the log is empty\n";
  } else if (min >= n) {
    out << "entries     none served: every entry of this checkpoint is past retention (below "
        << min << "), so none could be checked\n";
  } else if (min == 0) {
    out << "entries     0-" << n - 1 << " (" << report.entries_checked
        << "): every leaf hash recomputed from its entry_bytes\n"
        << "root        recomputed from all entries: matches the signed root\n";
  } else {
    out << "entries     " << min << "-" << n - 1 << " (" << report.entries_checked
        << "): every leaf hash recomputed from its entry_bytes\n"
        << "retention   entries 0-" << min - 1
        << " are no longer served; they enter as the " << report.pruned_subtrees
        << " subtree hash(es) of entry " << min
        << "'s inclusion proof, so they were NOT checked themselves\n"
        << "root        recomputed from those hashes and entries " << min << "-" << n - 1
        << ": matches the signed root\n";
  }
  out << "OK: the audit log verifies\n";
  return absl::OkStatus();
}

// ---- proof ----

absl::Status ProofCommand(CommandContext& context) {
  absl::StatusOr<int64_t> index = ParseIntFlag("INDEX", context.args()[0], 0);
  if (!index.ok()) return context.Usage(absl::StrCat("INDEX: \"", context.args()[0],
                                                     "\" is not an entry index (0 or more)"));
  int64_t tree_size = 0;
  if (context.flags().Has("tree-size")) {
    absl::StatusOr<int64_t> n = ParseIntFlag("tree-size", context.flags().Get("tree-size"), 1);
    if (!n.ok()) return WithUsage(n.status(), UsageText(context.command()));
    tree_size = *n;
    if (*index >= tree_size) {
      return context.Usage(absl::StrCat("INDEX ", *index, " is not in a tree of ", tree_size,
                                        " entries"));
    }
  }
  absl::StatusOr<AuditConnection> c = ConnectAudit(context);
  if (!c.ok()) return c.status();
  absl::StatusOr<VerifiedCheckpoint> v = GetVerifiedCheckpoint(context, *c);
  if (!v.ok()) return v.status();
  const int64_t n = static_cast<int64_t>(v->body.size);
  if (tree_size == 0) tree_size = n;
  if (tree_size > n) {
    return LocalError(absl::StrCat("the latest signed checkpoint covers ", n,
                                   " entries; --tree-size ", tree_size, " is beyond it"));
  }
  if (*index >= tree_size) {
    return LocalError(absl::StrCat("entry ", *index, " is not in the signed log yet (its latest "
                                   "checkpoint covers ", n, " entries); try again in a moment"));
  }
  ServiceReader reader(*c);
  absl::StatusOr<std::vector<v1::LogEntry>> entries = reader.GetEntries(*index, *index + 1);
  if (!entries.ok()) return entries.status();
  if (entries->size() != 1) return Mismatch(absl::StrCat("the log did not send entry ", *index));
  absl::StatusOr<Hash> leaf = CheckedLeaf((*entries)[0], *index, nullptr);
  if (!leaf.ok()) return leaf.status();
  absl::StatusOr<v1::InclusionProof> proof = reader.GetInclusionProof(*index, tree_size);
  if (!proof.ok()) return proof.status();
  std::vector<std::string> hashes(proof->hashes().begin(), proof->hashes().end());
  absl::StatusOr<InclusionWalk> walk = WalkInclusionProof(*index, tree_size, *leaf, hashes);
  if (!walk.ok()) {
    return Mismatch(absl::StrCat("the inclusion proof of entry ", *index, " is malformed: ",
                                 walk.status().message()));
  }
  std::string how;
  if (tree_size == n) {
    if (walk->root != v->body.root) {
      return Mismatch(absl::StrCat("entry ", *index, " is not in the signed log: its inclusion "
                                   "proof does not lead from its bytes to the signed root"));
    }
    how = absl::StrCat("against the signed checkpoint of ", n, " entries");
  } else {
    absl::StatusOr<bool> consistent = PrefixConsistent(reader, tree_size, walk->root, v->body);
    if (!consistent.ok()) return consistent.status();
    if (!*consistent) {
      return Mismatch(absl::StrCat("entry ", *index, " is not in the signed log: the root its "
                                   "proof leads to for ", tree_size, " entries is not consistent "
                                   "with the signed checkpoint of ", n, " entries"));
    }
    how = absl::StrCat("in the tree of ", tree_size, " entries, which a consistency proof ties "
                       "to the signed checkpoint of ", n, " entries");
  }
  if (context.output() != OutputFormat::kTable) {
    nlohmann::ordered_json doc;
    doc["index"] = *index;
    doc["tree_size"] = tree_size;
    doc["leaf_hash"] = Hex(*leaf);
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& h : hashes) list.push_back(Hex(absl::string_view(h)));
    doc["hashes"] = list;
    doc["root_hash"] = Hex(walk->root);
    doc["checkpoint_tree_size"] = n;
    doc["checkpoint_root_hash"] = Hex(v->body.root);
    doc["verified"] = true;
    PrintJson(nlohmann::json::parse(doc.dump()), context.output(), context.out());
    return absl::OkStatus();
  }
  Details details;
  details.Add("Entry", absl::StrCat(*index));
  details.Add("Tree size", absl::StrCat(tree_size));
  details.Add("Leaf hash", Hex(*leaf));
  std::vector<std::string> lines;
  for (const auto& h : hashes) lines.push_back(Hex(absl::string_view(h)));
  details.Add("Proof", lines.empty() ? "(none: the tree has one entry)" : absl::StrJoin(lines, "\n"));
  details.Add("Root", Hex(walk->root));
  details.Add("Verified", absl::StrCat("yes, ", how));
  details.Print(context.out());
  return absl::OkStatus();
}

// ---- export ----

absl::Status ExportCommand(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  const std::string path = flags.Get("out");
  if (path.empty()) return context.Usage("missing --out FILE (where to write the entries)");
  std::optional<int64_t> from, to;
  for (const char* flag : {"from", "to"}) {
    if (!flags.Has(flag)) continue;
    absl::StatusOr<int64_t> n = ParseIntFlag(flag, flags.Get(flag), 0);
    if (!n.ok()) return WithUsage(n.status(), UsageText(context.command()));
    (std::string(flag) == "from" ? from : to) = *n;
  }
  if (from && to && *to <= *from) {
    return context.Usage("--to must be greater than --from (--to is exclusive)");
  }
  absl::StatusOr<AuditConnection> c = ConnectAudit(context);
  if (!c.ok()) return c.status();
  absl::StatusOr<VerifiedCheckpoint> v = GetVerifiedCheckpoint(context, *c);
  if (!v.ok()) return v.status();
  const int64_t n = static_cast<int64_t>(v->body.size);
  const int64_t min = v->checkpoint.minimum_index();
  const int64_t start = from.value_or(min);
  const int64_t end = to.value_or(n);
  if (start < min) {
    return LocalError(absl::StrCat("entries below ", min,
                                   " are past retention and no longer served; use --from ", min,
                                   " or later"));
  }
  if (end > n) {
    return LocalError(absl::StrCat("the latest signed checkpoint covers ", n,
                                   " entries; --to must be at most ", n));
  }
  if (end <= start) return LocalError("there are no entries to export in that range");

  ServiceReader reader(*c);
  ExportBundle bundle;
  bundle.origin = v->body.origin;
  bundle.verifier_key = v->key.key;
  bundle.checkpoint_note = v->checkpoint.note();
  bundle.tree_size = n;
  bundle.root = v->body.root;
  bundle.from = start;
  bundle.to = end;
  std::string lines;
  std::vector<Hash> leaves;
  // With every entry served and the range a fair share of the log, the proofs are computed
  // here from a tree rebuilt from all entries (checked against the signed root); otherwise each
  // entry's proof is asked for and checked.
  const bool local = min == 0 && n <= 8 * (end - start) + 100000;
  merkle::MemoryHashStore store;
  merkle::CompactRange range;
  const int64_t fetch_from = local ? 0 : start;
  const int64_t fetch_to = local ? n : end;
  for (int64_t s = fetch_from; s < fetch_to; s += kPageSize) {
    const int64_t e = std::min(fetch_to, s + kPageSize);
    absl::StatusOr<std::vector<v1::LogEntry>> page = FetchPage(reader, s, e);
    if (!page.ok()) return page.status();
    for (int64_t i = s; i < e; ++i) {
      const v1::LogEntry& entry = (*page)[i - s];
      absl::StatusOr<Hash> leaf = CheckedLeaf(entry, i, nullptr);
      if (!leaf.ok()) return leaf.status();
      if (local) store.Put(range.Append(*leaf));
      if (i >= start && i < end) {
        absl::StrAppend(&lines, ExportLine(i, entry.entry_bytes()), "\n");
        leaves.push_back(*leaf);
      }
    }
  }
  if (local && range.Root() != v->body.root) {
    return Mismatch("the entries the log served do not hash to its signed root; run smartctl "
                    "audit verify to find the entry");
  }
  for (int64_t i = start; i < end; ++i) {
    ExportProof proof;
    proof.index = i;
    proof.leaf_hash = leaves[i - start];
    if (local) {
      absl::StatusOr<std::vector<Hash>> path = merkle::InclusionProof(store, i, n);
      if (!path.ok()) return LocalError(std::string(path.status().message()));
      proof.hashes = merkle::ToBytes(*path);
    } else {
      absl::StatusOr<v1::InclusionProof> served = reader.GetInclusionProof(i, n);
      if (!served.ok()) return served.status();
      proof.hashes.assign(served->hashes().begin(), served->hashes().end());
    }
    absl::Status included = merkle::VerifyInclusion(i, n, merkle::ToBytes(proof.leaf_hash),
                                                    proof.hashes, merkle::ToBytes(v->body.root));
    if (!included.ok()) {
      return Mismatch(absl::StrCat("entry ", i, " is not in the signed log: its inclusion proof "
                                   "does not lead from its bytes to the signed root"));
    }
    bundle.proofs.push_back(std::move(proof));
  }
  const std::string proofs_path = absl::StrCat(path, ".proofs.json");
  SMARTCTL_RETURN_IF_ERROR(WriteFile(path, lines, "the export to"));
  SMARTCTL_RETURN_IF_ERROR(WriteFile(proofs_path, ExportBundleToJson(bundle), "the proofs to"));
  if (context.output() != OutputFormat::kTable) {
    nlohmann::ordered_json doc = {{"file", path},       {"proofs_file", proofs_path},
                                  {"from", start},      {"to", end},
                                  {"entries", end - start}, {"tree_size", n},
                                  {"root_hash", Hex(v->body.root)}};
    PrintJson(nlohmann::json::parse(doc.dump()), context.output(), context.out());
    return absl::OkStatus();
  }
  context.out() << "exported entries " << start << "-" << end - 1 << " (" << end - start
                << ") to " << path << "\n"
                << "inclusion proofs against the signed checkpoint of " << n << " entries in "
                << proofs_path << "\n"
                << "check them anywhere, without the service: smartctl audit verify-export "
                << path << "\n";
  return absl::OkStatus();
}

absl::Status VerifyExportCommand(CommandContext& context) {
  const std::string path = context.args()[0];
  const std::string proofs_path = context.flags().Get("proofs", absl::StrCat(path, ".proofs.json"));
  absl::StatusOr<std::string> entries = ReadFile(path, "the export");
  if (!entries.ok()) return entries.status();
  absl::StatusOr<std::string> bundle = ReadFile(proofs_path, "the proofs");
  if (!bundle.ok()) return bundle.status();
  absl::StatusOr<ExportCheck> check = VerifyExport(*entries, *bundle, PinnedKey(context));
  if (!check.ok()) return check.status();
  if (context.output() != OutputFormat::kTable) {
    nlohmann::ordered_json doc = {{"file", path},
                                  {"proofs_file", proofs_path},
                                  {"origin", check->origin},
                                  {"tree_size", check->tree_size},
                                  {"from", check->from},
                                  {"to", check->to},
                                  {"entries", check->entries},
                                  {"verifier_key", check->verifier_key},
                                  {"key_pinned", check->key_pinned},
                                  {"verified", true}};
    PrintJson(nlohmann::json::parse(doc.dump()), context.output(), context.out());
    return absl::OkStatus();
  }
  context.out() << "OK: " << check->entries << " entries";
  if (check->entries > 0) context.out() << " (" << check->from << "-" << check->to - 1 << ")";
  context.out() << " are in the signed checkpoint of " << check->origin << " at "
                << check->tree_size << " entries\n";
  if (check->key_pinned) {
    context.out() << "signature verified with the pinned key " << check->verifier_key << "\n";
  } else {
    context.out() << "signature verified with the key in the bundle, " << check->verifier_key
                  << "\n(compare it with the log's published key, or pass --verifier-key)\n";
  }
  return absl::OkStatus();
}

FlagSpec VerifierKeyFlag() {
  return {"verifier-key", 0, true, false, "KEY",
          "trust only this key (NAME+ID+KEY; default $SMARTCTL_AUDIT_VERIFIER_KEY, else the "
          "log's)"};
}

}  // namespace

void AddAuditCommands(Registry& registry) {
  registry.nouns.push_back({"audit", "the tamper-evident audit log: search, follow, verify"});
  registry.commands.push_back(Command{
      "audit", "query", "", 0, 0, "search the audit log",
      "Lists the entries that match every filter given, oldest first. Needs the auditor or\n"
      "platform-admin role. Times are RFC 3339 (2026-01-31T09:30:00Z), a date (2026-01-31,\n"
      "midnight UTC), or a time ago (24h, 90m, 7d, 2w). OUTCOME is the gRPC status code of\n"
      "the call, as a number or a name (OK, PERMISSION_DENIED, not-found).\n\n"
      "Examples:\n"
      "  smartctl audit query --actor user:kari --since 24h\n"
      "  smartctl audit query --dataset bysykkel --outcome PERMISSION_DENIED\n"
      "  smartctl audit query --action /smartcity.catalogue.v1.CatalogueService/DeleteDataset\n"
      "  smartctl audit query --since 2026-01-01 --until 2026-02-01 --limit 0 -o json",
      {{"actor", 0, true, false, "SUBJECT", "who acted, e.g. user:kari or service:ingestion"},
       {"resource", 0, true, false, "ID", "the resource's id, e.g. a dataset name"},
       {"action", 0, true, false, "METHOD", "the RPC method or verb"},
       {"dataset", 0, true, false, "NAME", "the dataset concerned"},
       {"outcome", 0, true, false, "CODE", "the call's status code (0/OK, PERMISSION_DENIED...)"},
       {"since", 0, true, false, "TIME", "entries sequenced at or after TIME"},
       {"until", 0, true, false, "TIME", "entries sequenced before TIME"},
       {"limit", 0, true, false, "N", "at most N entries (default 100; 0: all)"}},
      QueryCommand});
  registry.commands.push_back(Command{
      "audit", "tail", "", 0, 0, "follow the audit log as entries are appended",
      "Prints new entries as they are appended (with --from, first every entry from INDEX on)\n"
      "until you press Ctrl-C, which ends it cleanly (exit 0). With -o json, one JSON object\n"
      "per line, for piping into jq.\n\n"
      "Examples:\n"
      "  smartctl audit tail\n"
      "  smartctl audit tail --from 0 -o json | jq .entry.event.action",
      {{"from", 0, true, false, "INDEX", "start at this entry instead of at the end"}},
      TailCommand});
  registry.commands.push_back(Command{
      "audit", "checkpoint", "", 0, 0, "show (and save) the latest signed checkpoint",
      "Fetches the log's latest checkpoint, checks its Ed25519 signature, and prints its\n"
      "origin, size and root hash and the signed note. The key is --verifier-key, else\n"
      "$SMARTCTL_AUDIT_VERIFIER_KEY, else the one the log serves (which only shows that the\n"
      "log signed it: pin the key you got from the operators to detect a substituted log).\n"
      "--save FILE keeps the note, for a later smartctl audit verify --since-checkpoint FILE.\n\n"
      "Examples:\n"
      "  smartctl audit checkpoint\n"
      "  smartctl audit checkpoint --save audit-2026-01-31.checkpoint\n"
      "  smartctl audit checkpoint --verifier-key 'smartby.example/audit+1a2b3c4d+AU...'",
      {{"save", 0, true, false, "FILE", "write the signed note to FILE"}, VerifierKeyFlag()},
      CheckpointCommand});
  registry.commands.push_back(Command{
      "audit", "verify", "", 0, 0, "check the whole log against its signed checkpoint",
      "Verifies the latest checkpoint's signature, fetches every served entry (pages of\n"
      "1,000), recomputes each leaf hash from the entry's bytes and the Merkle tree's root, and\n"
      "compares it with the signed root. On a difference, consistency proofs locate the first\n"
      "changed entry, and the command fails (exit 1) naming its index.\n\n"
      "Entries below the retention minimum are no longer served: their part of the tree then\n"
      "comes from the inclusion proof of the oldest served entry (checked against the signed\n"
      "root), so every served entry is verified but the pruned ones cannot be; the summary\n"
      "says so.\n\n"
      "With --since-checkpoint FILE (saved by audit checkpoint --save), also verifies that old\n"
      "checkpoint's signature and a consistency proof from it to the latest: the log was only\n"
      "appended to since.\n\n"
      "Examples:\n"
      "  smartctl audit verify\n"
      "  smartctl audit verify --since-checkpoint audit-2026-01-31.checkpoint --timeout 10m\n"
      "  smartctl audit verify -o json",
      {{"since-checkpoint", 0, true, false, "FILE", "also prove the log grew from this checkpoint"},
       VerifierKeyFlag()},
      VerifyCommand});
  registry.commands.push_back(Command{
      "audit", "proof", "INDEX", 1, 1, "print and check an entry's inclusion proof",
      "Fetches entry INDEX and its inclusion proof, hashes the entry, and checks the proof\n"
      "against the latest signed checkpoint (with --tree-size N, in the tree of the first N\n"
      "entries, tied to the checkpoint by a consistency proof).\n\n"
      "Examples:\n"
      "  smartctl audit proof 1234\n"
      "  smartctl audit proof 1234 --tree-size 5000 -o json",
      {{"tree-size", 0, true, false, "N", "prove it in the tree of the first N entries"},
       VerifierKeyFlag()},
      ProofCommand});
  registry.commands.push_back(Command{
      "audit", "export", "", 0, 0, "export entries with proofs that verify offline",
      "Writes entries [--from, --to) to FILE, one JSON object per line (index, leaf_hash,\n"
      "entry_bytes in base64, and the entry), and FILE.proofs.json: the signed checkpoint,\n"
      "the verifier key and each entry's inclusion proof against it. Nothing is written unless\n"
      "every entry verifies. --from defaults to the oldest served entry, --to (exclusive) to\n"
      "the checkpoint's size. Check the files anywhere with smartctl audit verify-export.\n\n"
      "Examples:\n"
      "  smartctl audit export --out audit.jsonl\n"
      "  smartctl audit export --out january.jsonl --from 1000 --to 2000",
      {{"out", 0, true, false, "FILE", "where to write the entries (and FILE.proofs.json)"},
       {"from", 0, true, false, "INDEX", "the first entry to export"},
       {"to", 0, true, false, "INDEX", "stop before this entry (exclusive)"},
       VerifierKeyFlag()},
      ExportCommand});
  registry.commands.push_back(Command{
      "audit", "verify-export", "FILE", 1, 1, "check an export offline (no service needed)",
      "Checks FILE and FILE.proofs.json as audit export wrote them, without contacting any\n"
      "service: the checkpoint's signature, that each line's entry_bytes hash to its leaf and\n"
      "match its readable entry, and each entry's inclusion proof against the signed root.\n"
      "Any change to a line is found (exit 1, naming the line and entry). The key is\n"
      "--verifier-key, else $SMARTCTL_AUDIT_VERIFIER_KEY, else the bundle's own (which only\n"
      "shows the files agree with each other: pin the log's key).\n\n"
      "Examples:\n"
      "  smartctl audit verify-export audit.jsonl\n"
      "  smartctl audit verify-export audit.jsonl --verifier-key \"$LOG_KEY\"",
      {{"proofs", 0, true, false, "FILE", "the proof bundle (default: FILE.proofs.json)"},
       VerifierKeyFlag()},
      VerifyExportCommand});
}

}  // namespace smartby::smartctl
