// Unit tests of `smartctl audit`: flag values (times, outcome codes, the query request), the
// inclusion-proof walk, the log verifier against a hand-built log (tampering, retention, forks),
// and the export format's round trip through the offline verifier, with tamper detection.
#include <gmock/gmock.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "cli/smartctl/audit_commands.h"
#include "cli/smartctl/errors.h"
#include "services/audit/checkpoint.h"
#include "services/audit/merkle.h"

namespace smartby::smartctl {
namespace {

namespace v1 = smartcity::audit::v1;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1769851800);  // 2026-01-31T09:30:00Z

// ---- flag values ----

TEST(AuditTimeFlag, AcceptsRfc3339DatesAndTimesAgo) {
  EXPECT_EQ(*ParseTimeFlag("since", "2026-01-31T09:30:00Z", kNow), kNow);
  EXPECT_EQ(*ParseTimeFlag("since", "2026-01-31T10:30:00+01:00", kNow), kNow);
  EXPECT_EQ(*ParseTimeFlag("since", "2026-01-31", kNow), absl::FromUnixSeconds(1769817600));
  EXPECT_EQ(*ParseTimeFlag("since", "24h", kNow), kNow - absl::Hours(24));
  EXPECT_EQ(*ParseTimeFlag("since", "90m", kNow), kNow - absl::Minutes(90));
  EXPECT_EQ(*ParseTimeFlag("since", "7d", kNow), kNow - absl::Hours(7 * 24));
  EXPECT_EQ(*ParseTimeFlag("since", "2w", kNow), kNow - absl::Hours(14 * 24));
  EXPECT_EQ(*ParseTimeFlag("since", "1d12h", kNow), kNow - absl::Hours(36));
}

TEST(AuditTimeFlag, RejectsWhatIsNotATime) {
  for (const char* bad : {"", "yesterday", "-5h", "5", "2026-13-01", "h", "1d-2h", "inf"}) {
    absl::StatusOr<absl::Time> t = ParseTimeFlag("until", bad, kNow);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(ExitCodeOf(t.status()), kExitUsage) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("--until")) << bad;
  }
}

TEST(AuditOutcome, NumbersAndNames) {
  EXPECT_EQ(*ParseOutcomeCode("0"), 0);
  EXPECT_EQ(*ParseOutcomeCode("OK"), 0);
  EXPECT_EQ(*ParseOutcomeCode("7"), 7);
  EXPECT_EQ(*ParseOutcomeCode("PERMISSION_DENIED"), 7);
  EXPECT_EQ(*ParseOutcomeCode("permission-denied"), 7);
  EXPECT_EQ(*ParseOutcomeCode("unauthenticated"), 16);
  for (const char* bad : {"17", "-1", "denied", ""}) {
    absl::StatusOr<int> code = ParseOutcomeCode(bad);
    ASSERT_FALSE(code.ok()) << bad;
    EXPECT_EQ(ExitCodeOf(code.status()), kExitUsage);
  }
  EXPECT_EQ(OutcomeName(5), "NOT_FOUND");
  EXPECT_EQ(OutcomeName(99), "99");
}

TEST(AuditQueryPlan, FlagsBecomeTheRequest) {
  ParsedFlags flags;
  flags.Add("actor", "user:kari");
  flags.Add("resource", "bysykkel");
  flags.Add("action", "/smartcity.catalogue.v1.CatalogueService/GetDataset");
  flags.Add("dataset", "bysykkel");
  flags.Add("outcome", "not-found");
  flags.Add("since", "24h");
  flags.Add("until", "2026-01-31T09:00:00Z");
  flags.Add("limit", "2500");
  absl::StatusOr<QueryPlan> plan = QueryPlanFrom(flags, kNow);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const v1::QueryEntriesRequest& r = plan->request;
  EXPECT_EQ(r.actor(), "user:kari");
  EXPECT_EQ(r.resource_id(), "bysykkel");
  EXPECT_EQ(r.action(), "/smartcity.catalogue.v1.CatalogueService/GetDataset");
  EXPECT_EQ(r.dataset(), "bysykkel");
  EXPECT_TRUE(r.has_outcome());
  EXPECT_EQ(r.outcome_code(), 5);
  EXPECT_EQ(r.since().seconds(), absl::ToUnixSeconds(kNow - absl::Hours(24)));
  EXPECT_EQ(r.until().seconds(), absl::ToUnixSeconds(kNow - absl::Minutes(30)));
  EXPECT_EQ(plan->limit, 2500);
  EXPECT_EQ(r.page_size(), 1000);

  ParsedFlags none;
  plan = QueryPlanFrom(none, kNow);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->request.has_outcome());
  EXPECT_FALSE(plan->request.has_since());
  EXPECT_FALSE(plan->request.has_until());
  EXPECT_EQ(plan->limit, 100);
  EXPECT_EQ(plan->request.page_size(), 100);
}

TEST(AuditQueryPlan, BadValuesAreUsageErrors) {
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"limit", "-1"}, {"limit", "many"}, {"outcome", "sort of"}, {"since", "soon"}}) {
    ParsedFlags flags;
    flags.Add(flag, value);
    absl::StatusOr<QueryPlan> plan = QueryPlanFrom(flags, kNow);
    ASSERT_FALSE(plan.ok()) << flag;
    EXPECT_EQ(ExitCodeOf(plan.status()), kExitUsage) << flag;
  }
  ParsedFlags backwards;
  backwards.Add("since", "1h");
  backwards.Add("until", "2h");
  EXPECT_EQ(ExitCodeOf(QueryPlanFrom(backwards, kNow).status()), kExitUsage);
}

// ---- a hand-built log ----

std::string EntryBytes(int64_t index) {
  v1::AuditEntry entry;
  entry.set_index(index);
  entry.mutable_sequenced_time()->set_seconds(1769850000 + index);
  auto* event = entry.mutable_event();
  event->set_producer("catalogue");
  event->set_producer_sequence(index + 1);
  event->mutable_actor()->set_subject("user:kari");
  event->set_action("/smartcity.catalogue.v1.CatalogueService/GetDataset");
  event->mutable_resource()->set_type("dataset");
  event->mutable_resource()->set_id(absl::StrCat("ds-", index));
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  entry.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

// The log's tree over the ORIGINAL entries; `served` may be tampered with afterwards.
struct TestLog {
  explicit TestLog(int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      served.push_back(EntryBytes(i));
      tree.Put(range.Append(merkle::LeafHash(served.back())));
    }
  }
  audit::CheckpointBody Body(int64_t size) {
    audit::CheckpointBody body;
    body.origin = "smartby.example/audit";
    body.size = size;
    body.root = *merkle::RootAt(tree, size);
    return body;
  }
  std::vector<std::string> served;
  merkle::MemoryHashStore tree;
  merkle::CompactRange range;
};

class FakeReader : public AuditReader {
 public:
  explicit FakeReader(TestLog& log) : log_(log) {}
  absl::StatusOr<std::vector<v1::LogEntry>> GetEntries(int64_t start, int64_t end) override {
    ++entry_calls;
    if (start < minimum_index) return absl::FailedPreconditionError("past retention");
    std::vector<v1::LogEntry> out;
    for (int64_t i = start; i < end && i < static_cast<int64_t>(log_.served.size()); ++i) {
      v1::LogEntry e;
      if (!e.mutable_entry()->ParseFromString(log_.served[i])) {
        return absl::DataLossError(absl::StrCat("the stored bytes of entry ", i, " do not parse"));
      }
      e.set_entry_bytes(log_.served[i]);
      out.push_back(e);
    }
    return out;
  }
  absl::StatusOr<v1::InclusionProof> GetInclusionProof(int64_t index, int64_t size) override {
    absl::StatusOr<std::vector<merkle::Hash>> path = merkle::InclusionProof(log_.tree, index, size);
    if (!path.ok()) return path.status();
    v1::InclusionProof proof;
    proof.set_index(index);
    proof.set_tree_size(size);
    for (const auto& h : *path) proof.add_hashes(merkle::ToBytes(h));
    return proof;
  }
  absl::StatusOr<v1::ConsistencyProof> GetConsistencyProof(int64_t first, int64_t second) override {
    ++consistency_calls;
    absl::StatusOr<std::vector<merkle::Hash>> path =
        merkle::ConsistencyProof(log_.tree, first, second);
    if (!path.ok()) return path.status();
    v1::ConsistencyProof proof;
    proof.set_first_size(first);
    proof.set_second_size(second);
    for (const auto& h : *path) proof.add_hashes(merkle::ToBytes(h));
    return proof;
  }
  int64_t minimum_index = 0;
  int entry_calls = 0;
  int consistency_calls = 0;

 private:
  TestLog& log_;
};

// Changes one character of the resource id inside the entry's bytes (still a valid entry).
void Tamper(std::string& bytes, int64_t index) {
  const std::string from = absl::StrCat("ds-", index);
  const size_t at = bytes.find(from);
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'X';
}

TEST(AuditInclusionWalk, LeftSiblingsAreTheCompactRangeBeforeTheLeaf) {
  TestLog log(41);
  for (uint64_t size = 1; size <= 41; ++size) {
    const merkle::Hash root = *merkle::RootAt(log.tree, size);
    for (uint64_t index = 0; index < size; ++index) {
      std::vector<std::string> proof =
          merkle::ToBytes(*merkle::InclusionProof(log.tree, index, size));
      absl::StatusOr<InclusionWalk> walk =
          WalkInclusionProof(index, size, merkle::LeafHash(log.served[index]), proof);
      ASSERT_TRUE(walk.ok()) << walk.status();
      EXPECT_EQ(walk->root, root) << index << "/" << size;
      uint64_t covered = 0;
      for (const auto& node : walk->left) {
        EXPECT_EQ(node.hash, *log.tree.GetHash(node.level, node.index));
        covered += uint64_t{1} << node.level;
      }
      EXPECT_EQ(covered, index) << index << "/" << size;
    }
  }
  std::vector<std::string> proof = merkle::ToBytes(*merkle::InclusionProof(log.tree, 3, 8));
  proof.pop_back();
  EXPECT_FALSE(WalkInclusionProof(3, 8, merkle::LeafHash(log.served[3]), proof).ok());
  proof.push_back(std::string(32, 'a'));
  proof.push_back(std::string(32, 'b'));
  EXPECT_FALSE(WalkInclusionProof(3, 8, merkle::LeafHash(log.served[3]), proof).ok());
  EXPECT_FALSE(WalkInclusionProof(8, 8, merkle::LeafHash(log.served[3]), {}).ok());
}

TEST(AuditVerifyLog, WholeLogVerifies) {
  for (int64_t n : {0, 1, 2, 7, 1000, 1001, 2500}) {
    TestLog log(n);
    FakeReader reader(log);
    VerifyReport report;
    absl::Status status = VerifyLog(reader, log.Body(n), 0, &report);
    EXPECT_TRUE(status.ok()) << n << ": " << status;
    EXPECT_EQ(report.entries_checked, n);
    EXPECT_TRUE(report.recomputed_from_all);
    EXPECT_EQ(report.pages, (n + 999) / 1000);
  }
}

TEST(AuditVerifyLog, ATamperedEntryIsNamed) {
  for (int64_t bad : {0, 1, 999, 1000, 1500, 2499}) {
    TestLog log(2500);
    Tamper(log.served[bad], bad);
    FakeReader reader(log);
    VerifyReport report;
    absl::Status status = VerifyLog(reader, log.Body(2500), 0, &report);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_EQ(ExitCodeOf(status), kExitFailed);
    EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("entry ", bad, " does not match")))
        << status;
    EXPECT_LE(reader.consistency_calls, 16);
  }
}

TEST(AuditVerifyLog, AnEntryClaimingAnotherIndexOrUnparseableIsNamed) {
  TestLog log(10);
  log.served[4] = EntryBytes(5);
  FakeReader reader(log);
  VerifyReport report;
  absl::Status status = VerifyLog(reader, log.Body(10), 0, &report);
  EXPECT_THAT(status.message(), HasSubstr("position 4 says it is entry 5"));

  TestLog broken(10);
  broken.served[6] = "\xff\xff\xff";
  FakeReader reader2(broken);
  status = VerifyLog(reader2, broken.Body(10), 0, &report);
  EXPECT_EQ(ExitCodeOf(status), kExitFailed);
  EXPECT_THAT(status.message(), HasSubstr("entry 6 cannot be read"));
}

TEST(AuditVerifyLog, WithRetentionTheServedEntriesAreVerified) {
  for (int64_t min : {1, 5, 8, 1000, 1234}) {
    TestLog log(2100);
    FakeReader reader(log);
    reader.minimum_index = min;
    VerifyReport report;
    absl::Status status = VerifyLog(reader, log.Body(2100), min, &report);
    EXPECT_TRUE(status.ok()) << min << ": " << status;
    EXPECT_EQ(report.entries_checked, 2100 - min);
    EXPECT_FALSE(report.recomputed_from_all);
    EXPECT_GT(report.pruned_subtrees, 0);

    for (int64_t bad : {min, min + 1, int64_t{2099}}) {
      TestLog tampered(2100);
      Tamper(tampered.served[bad], bad);
      FakeReader r(tampered);
      r.minimum_index = min;
      status = VerifyLog(r, tampered.Body(2100), min, &report);
      ASSERT_FALSE(status.ok()) << min << "/" << bad;
      EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("entry ", bad, " ")))
          << min << "/" << bad << ": " << status;
    }
  }
  // Everything past retention: nothing to check, not an error.
  TestLog log(10);
  FakeReader reader(log);
  reader.minimum_index = 10;
  VerifyReport report;
  EXPECT_TRUE(VerifyLog(reader, log.Body(10), 10, &report).ok());
  EXPECT_EQ(report.entries_checked, 0);
}

TEST(AuditVerifyLog, ASignedRootThatDiffersFails) {
  TestLog log(50);
  FakeReader reader(log);
  audit::CheckpointBody body = log.Body(50);
  body.root[0] ^= 1;
  VerifyReport report;
  absl::Status status = VerifyLog(reader, body, 0, &report);
  EXPECT_EQ(ExitCodeOf(status), kExitFailed);
}

TEST(AuditConsistency, PrefixForkAndRollback) {
  TestLog log(300);
  FakeReader reader(log);
  EXPECT_TRUE(VerifyConsistencyBetween(reader, log.Body(17), log.Body(300)).ok());
  EXPECT_TRUE(VerifyConsistencyBetween(reader, log.Body(300), log.Body(300)).ok());
  EXPECT_TRUE(VerifyConsistencyBetween(reader, log.Body(0), log.Body(300)).ok());
  audit::CheckpointBody forked = log.Body(17);
  forked.root[5] ^= 0x40;
  absl::Status status = VerifyConsistencyBetween(reader, forked, log.Body(300));
  EXPECT_EQ(ExitCodeOf(status), kExitFailed);
  EXPECT_THAT(status.message(), HasSubstr("not a prefix"));
  EXPECT_THAT(VerifyConsistencyBetween(reader, log.Body(300), log.Body(200)).message(),
              HasSubstr("rolled back"));
  audit::CheckpointBody same = log.Body(300);
  same.root[0] ^= 1;
  EXPECT_THAT(VerifyConsistencyBetween(reader, same, log.Body(300)).message(), HasSubstr("forked"));
}

// ---- export files ----

struct Export {
  std::string lines;
  std::string bundle;
  std::string key;
};

Export MakeExport(TestLog& log, int64_t size, int64_t from, int64_t to,
                  const audit::NoteSigner& signer) {
  audit::CheckpointBody body = log.Body(size);
  ExportBundle bundle;
  bundle.origin = body.origin;
  bundle.verifier_key = signer.VerifierKey();
  bundle.checkpoint_note = *signer.Sign(audit::FormatCheckpointBody(body));
  bundle.tree_size = size;
  bundle.root = body.root;
  bundle.from = from;
  bundle.to = to;
  Export out;
  for (int64_t i = from; i < to; ++i) {
    absl::StrAppend(&out.lines, ExportLine(i, log.served[i]), "\n");
    ExportProof proof;
    proof.index = i;
    proof.leaf_hash = merkle::LeafHash(log.served[i]);
    proof.hashes = merkle::ToBytes(*merkle::InclusionProof(log.tree, i, size));
    bundle.proofs.push_back(proof);
  }
  out.bundle = ExportBundleToJson(bundle);
  out.key = signer.VerifierKey();
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) absl::StrAppend(&out, l, "\n");
  return out;
}

TEST(AuditExport, LineFormat) {
  const std::string bytes = EntryBytes(3);
  nlohmann::json line = nlohmann::json::parse(ExportLine(3, bytes));
  EXPECT_EQ(line["index"], 3);
  EXPECT_EQ(line["leaf_hash"], merkle::ToHex(merkle::LeafHash(bytes)));
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(line["entry_bytes"].get<std::string>(), &decoded));
  EXPECT_EQ(decoded, bytes);
  EXPECT_EQ(line["entry"]["event"]["resource"]["id"], "ds-3");
  EXPECT_EQ(ExportLine(3, bytes).find('\n'), std::string::npos);
}

TEST(AuditExport, RoundTripVerifiesOffline) {
  absl::StatusOr<audit::NoteSigner> signer = audit::NoteSigner::Generate("smartby.example/audit");
  ASSERT_TRUE(signer.ok());
  TestLog log(60);
  for (auto [from, to] : std::vector<std::pair<int64_t, int64_t>>{{0, 60}, {7, 33}, {59, 60}}) {
    Export e = MakeExport(log, 60, from, to, *signer);
    absl::StatusOr<ExportCheck> check = VerifyExport(e.lines, e.bundle, "");
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_EQ(check->entries, to - from);
    EXPECT_EQ(check->tree_size, 60);
    EXPECT_FALSE(check->key_pinned);
    check = VerifyExport(e.lines, e.bundle, e.key);
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_TRUE(check->key_pinned);
  }
}

TEST(AuditExport, TamperingIsDetected) {
  absl::StatusOr<audit::NoteSigner> signer = audit::NoteSigner::Generate("smartby.example/audit");
  absl::StatusOr<audit::NoteSigner> stranger =
      audit::NoteSigner::Generate("smartby.example/audit");
  TestLog log(40);
  const Export e = MakeExport(log, 40, 10, 30, *signer);
  auto expect_failure = [&](const std::string& lines, const std::string& bundle,
                            const std::string& key, const std::string& needle) {
    absl::StatusOr<ExportCheck> check = VerifyExport(lines, bundle, key);
    ASSERT_FALSE(check.ok()) << needle;
    EXPECT_EQ(ExitCodeOf(check.status()), kExitFailed);
    EXPECT_THAT(check.status().message(), HasSubstr(needle));
  };

  // Changed entry bytes, leaf hash recomputed by the forger: the proof no longer leads to the root.
  {
    std::vector<std::string> lines = Lines(e.lines);
    std::string forged = log.served[15];
    Tamper(forged, 15);
    lines[5] = ExportLine(15, forged);
    expect_failure(Join(lines), e.bundle, "", "line 6 (entry 15): not in the signed log");
  }
  // Changed bytes, stale leaf hash.
  {
    std::vector<std::string> lines = Lines(e.lines);
    nlohmann::json line = nlohmann::json::parse(lines[2]);
    std::string forged = log.served[12];
    Tamper(forged, 12);
    line["entry_bytes"] = absl::Base64Escape(forged);
    lines[2] = line.dump();
    expect_failure(Join(lines), e.bundle, "", "line 3 (entry 12): leaf_hash");
  }
  // Only the readable entry changed.
  {
    std::vector<std::string> lines = Lines(e.lines);
    lines[0] = absl::StrReplaceAll(lines[0], {{"user:kari", "user:ola"}});
    expect_failure(Join(lines), e.bundle, "", "line 1 (entry 10): the readable");
  }
  // A missing, a repeated line.
  {
    std::vector<std::string> lines = Lines(e.lines);
    lines.erase(lines.begin() + 4);
    expect_failure(Join(lines), e.bundle, "", "expected entry 14");
    lines = Lines(e.lines);
    lines.pop_back();
    expect_failure(Join(lines), e.bundle, "", "ends before entry 29");
    lines = Lines(e.lines);
    lines.insert(lines.begin() + 3, lines[3]);
    expect_failure(Join(lines), e.bundle, "", "expected entry 14");
  }
  // A proof hash changed.
  {
    nlohmann::json bundle = nlohmann::json::parse(e.bundle);
    std::string h = bundle["proofs"][3]["hashes"][0];
    h[0] = h[0] == '0' ? '1' : '0';
    bundle["proofs"][3]["hashes"][0] = h;
    expect_failure(e.lines, bundle.dump(), "", "(entry 13): not in the signed log");
  }
  // The checkpoint: re-signed by another key (caught when the log's key is pinned), or edited.
  {
    const Export forged = MakeExport(log, 40, 10, 30, *stranger);
    EXPECT_TRUE(VerifyExport(forged.lines, forged.bundle, "").ok());
    expect_failure(forged.lines, forged.bundle, e.key, "does not verify with the key");
    nlohmann::json bundle = nlohmann::json::parse(e.bundle);
    std::string note = bundle["checkpoint"];
    note = absl::StrReplaceAll(note, {{"\n40\n", "\n41\n"}});
    bundle["checkpoint"] = note;
    expect_failure(e.lines, bundle.dump(), "", "does not verify");
  }
  expect_failure(e.lines, "not json", "", "not usable");
}

}  // namespace
}  // namespace smartby::smartctl
