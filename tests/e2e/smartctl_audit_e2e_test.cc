// End-to-end: the real smartctl binary's `audit` commands against a real smartby-audit on a free
// loopback port, with its own SQLite database (a fresh service per test: one test changes the
// database behind the service's back). Events are appended over gRPC with a writer token
// (service:catalogue, role audit-writer); smartctl runs with an auditor's token.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/audit/checkpoint.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace {

namespace v1 = smartcity::audit::v1;
using smartby::testing::BinaryPath;
using smartby::testing::CommandResult;
using smartby::testing::RunCommand;
using smartby::testing::ServiceProcess;
using smartby::testing::TempDir;
using smartby::testing::TestTokenIssuer;
using smartby::testing::TokenSpec;
using ::testing::HasSubstr;

std::string Describe(const CommandResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\n--- stdout\n", r.out, "--- stderr\n", r.err);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

struct Event {
  std::string subject;
  std::string action;
  std::string resource;
  std::string dataset;
  int outcome = 0;
};

class SmartctlAuditE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    issuer_ = std::make_unique<TestTokenIssuer>(dir_.path());
    StartAudit({});
    TokenSpec writer;
    writer.subject = "service:catalogue";
    writer.client_id = "catalogue";
    writer.roles = {"audit-writer"};
    writer_token_ = issuer_->Token(writer);
    TokenSpec auditor;
    auditor.subject = "user:revisor";
    auditor.roles = {"auditor"};
    auditor.clearance = "strictly-protected";
    auditor.tfa = true;
    auditor_token_ = issuer_->Token(auditor);
    token_ = auditor_token_;
  }

  // (Re)starts the service on the test's data directory.
  void StartAudit(const std::vector<std::string>& extra_flags) {
    audit_.reset();
    std::vector<std::string> flags = {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                                      absl::StrCat("--data_dir=", dir_.path()),
                                      "--checkpoint_interval=100ms", issuer_->ServiceFlag()};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    auto process = ServiceProcess::Start(BinaryPath("smartby-audit"), flags);
    ASSERT_TRUE(process.ok()) << process.status();
    audit_ = std::move(*process);
    channel_ = grpc::CreateChannel(audit_->grpc_address(), grpc::InsecureChannelCredentials());
    stub_ = v1::AuditService::NewStub(channel_);
  }

  // Appends `events` as the catalogue; returns their indexes.
  std::vector<int64_t> Append(const std::vector<Event>& events) {
    v1::AppendRequest request;
    for (const Event& e : events) {
      v1::AuditEvent* event = request.add_events();
      event->set_producer("catalogue");
      event->set_producer_sequence(++sequence_);
      event->mutable_actor()->set_subject(e.subject);
      event->set_action(e.action);
      event->mutable_resource()->set_type("dataset");
      event->mutable_resource()->set_id(e.resource);
      event->mutable_resource()->set_dataset(e.dataset);
      event->set_outcome_code(e.outcome);
      event->set_request_id(absl::StrCat("req-", sequence_));
    }
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + writer_token_);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::AppendResponse response;
    grpc::Status status = stub_->Append(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.indexes().begin(), response.indexes().end()};
  }

  std::vector<int64_t> AppendMany(int count, const std::string& dataset = "bysykkel") {
    std::vector<Event> events;
    for (int i = 0; i < count; ++i) {
      events.push_back({"user:kari", "/smartcity.catalogue.v1.CatalogueService/GetDataset",
                        absl::StrCat(dataset, "-", sequence_ + i), dataset, 0});
    }
    return Append(events);
  }

  // Waits until the latest signed checkpoint covers `size` entries.
  void WaitForCheckpoint(int64_t size) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + auditor_token_);
      v1::Checkpoint checkpoint;
      grpc::Status status = stub_->GetCheckpoint(&context, v1::GetCheckpointRequest(), &checkpoint);
      ASSERT_TRUE(status.ok()) << status.error_message();
      if (checkpoint.tree_size() >= size) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
    FAIL() << "no checkpoint of " << size << " entries within 20 s";
  }

  CommandResult Ctl(std::vector<std::string> args, const std::string& server = "") {
    std::vector<std::string> argv = {BinaryPath("smartctl"), "--insecure", "--server",
                                     server.empty() ? audit_->grpc_address() : server};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {{"XDG_CONFIG_HOME", config_home_.path()},
                             {"SMARTCTL_SERVER", ""},
                             {"SMARTCTL_AUDIT_VERIFIER_KEY", ""},
                             {"SMARTCTL_TOKEN", token_}});
  }

  std::string Path(const std::string& name) const { return absl::StrCat(dir_.path(), "/", name); }

  // Rewrites the stored bytes of entry `index` behind the service's back: one character of the
  // resource id changes (the bytes still parse).
  void TamperWithStoredEntry(int64_t index) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Path("audit.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* read = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT entry_bytes FROM audit_entries WHERE idx = ?", -1,
                                 &read, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_bind_int64(read, 1, index);
    ASSERT_EQ(sqlite3_step(read), SQLITE_ROW);
    std::string bytes(static_cast<const char*>(sqlite3_column_blob(read, 0)),
                      sqlite3_column_bytes(read, 0));
    sqlite3_finalize(read);
    const size_t at = bytes.find("bysykkel-");
    ASSERT_NE(at, std::string::npos);
    bytes[at] = 'B';
    sqlite3_stmt* write = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE audit_entries SET entry_bytes = ? WHERE idx = ?", -1,
                                 &write, nullptr),
              SQLITE_OK);
    sqlite3_bind_blob(write, 1, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(write, 2, index);
    ASSERT_EQ(sqlite3_step(write), SQLITE_DONE) << sqlite3_errmsg(db);
    sqlite3_finalize(write);
    sqlite3_close(db);
  }

  TempDir dir_;
  TempDir config_home_;
  std::unique_ptr<TestTokenIssuer> issuer_;
  std::unique_ptr<ServiceProcess> audit_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AuditService::Stub> stub_;
  std::string writer_token_;
  std::string auditor_token_;
  std::string token_;
  int64_t sequence_ = 0;
};

v1::QueryEntriesResponse ParseQuery(const CommandResult& r) {
  v1::QueryEntriesResponse response;
  auto status = google::protobuf::util::JsonStringToMessage(r.out, &response);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << Describe(r);
  return response;
}

TEST_F(SmartctlAuditE2ETest, QueryFilters) {
  Append({{"user:kari", "/smartcity.catalogue.v1.CatalogueService/GetDataset", "bysykkel",
           "bysykkel", 0},
          {"user:ola", "/smartcity.catalogue.v1.CatalogueService/DeleteDataset", "parkering",
           "parkering", 7},
          {"user:kari", "/smartcity.catalogue.v1.CatalogueService/UpdateDataset", "parkering",
           "parkering", 0},
          {"user:ola", "/smartcity.catalogue.v1.CatalogueService/GetDataset", "bysykkel",
           "bysykkel", 5}});

  CommandResult all = Ctl({"audit", "query", "-o", "json"});
  ASSERT_EQ(all.exit_code, 0) << Describe(all);
  EXPECT_EQ(ParseQuery(all).entries_size(), 4);

  CommandResult kari = Ctl({"audit", "query", "--actor", "user:kari", "-o", "json"});
  ASSERT_EQ(kari.exit_code, 0) << Describe(kari);
  v1::QueryEntriesResponse r = ParseQuery(kari);
  ASSERT_EQ(r.entries_size(), 2);
  EXPECT_EQ(r.entries(0).entry().index(), 0);
  EXPECT_EQ(r.entries(1).entry().index(), 2);

  CommandResult denied = Ctl({"audit", "query", "--dataset", "parkering", "--outcome",
                              "permission-denied", "-o", "json"});
  ASSERT_EQ(denied.exit_code, 0) << Describe(denied);
  r = ParseQuery(denied);
  ASSERT_EQ(r.entries_size(), 1);
  EXPECT_EQ(r.entries(0).entry().event().actor().subject(), "user:ola");

  CommandResult action = Ctl({"audit", "query", "--action",
                              "/smartcity.catalogue.v1.CatalogueService/GetDataset", "--resource",
                              "bysykkel", "--since", "1h", "-o", "json"});
  ASSERT_EQ(action.exit_code, 0) << Describe(action);
  EXPECT_EQ(ParseQuery(action).entries_size(), 2);

  CommandResult old = Ctl({"audit", "query", "--until", "2001-01-01"});
  ASSERT_EQ(old.exit_code, 0) << Describe(old);
  EXPECT_THAT(old.err, HasSubstr("no entries match"));

  CommandResult limited = Ctl({"audit", "query", "--limit", "3"});
  ASSERT_EQ(limited.exit_code, 0) << Describe(limited);
  EXPECT_THAT(limited.out, HasSubstr("INDEX"));
  EXPECT_THAT(limited.out, HasSubstr("PERMISSION_DENIED"));
  EXPECT_EQ(std::count(limited.out.begin(), limited.out.end(), '\n'), 4) << limited.out;
  EXPECT_THAT(limited.err, HasSubstr("raise --limit"));

  CommandResult bad = Ctl({"audit", "query", "--since", "soon"});
  EXPECT_EQ(bad.exit_code, 2) << Describe(bad);
  EXPECT_THAT(bad.err, HasSubstr("--since"));
}

TEST_F(SmartctlAuditE2ETest, CheckpointSavedThenVerifiedSinceAfterMoreAppends) {
  AppendMany(5);
  WaitForCheckpoint(5);
  const std::string saved = Path("saved.checkpoint");
  CommandResult checkpoint = Ctl({"audit", "checkpoint", "--save", saved});
  ASSERT_EQ(checkpoint.exit_code, 0) << Describe(checkpoint);
  EXPECT_THAT(checkpoint.out, HasSubstr("smartby.example/audit"));
  EXPECT_THAT(checkpoint.out, HasSubstr("verified with"));
  const std::string note = ReadAll(saved);
  EXPECT_TRUE(absl::StartsWith(note, "smartby.example/audit\n5\n")) << note;
  EXPECT_THAT(checkpoint.out, HasSubstr(note));

  AppendMany(600);  // more than one page of GetEntries in all
  AppendMany(600);
  WaitForCheckpoint(1205);
  CommandResult verify = Ctl({"audit", "verify", "--since-checkpoint", saved});
  ASSERT_EQ(verify.exit_code, 0) << Describe(verify);
  EXPECT_THAT(verify.out, HasSubstr("saved checkpoint of 5 entries"));
  EXPECT_THAT(verify.out, HasSubstr("matches the signed root"));
  EXPECT_THAT(verify.out, HasSubstr("OK: the audit log verifies"));

  // Pinning the log's key works; another key is refused.
  CommandResult json = Ctl({"audit", "checkpoint", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << Describe(json);
  const std::string key_line = json.out.substr(json.out.find("\"verifier_key\""));
  std::vector<std::string> parts = absl::StrSplit(key_line, '"');
  ASSERT_GE(parts.size(), 4u);
  CommandResult pinned = Ctl({"audit", "verify", "--verifier-key", parts[3], "-o", "json"});
  ASSERT_EQ(pinned.exit_code, 0) << Describe(pinned);
  EXPECT_THAT(pinned.out, HasSubstr("\"key_pinned\": true"));
  auto stranger = smartby::audit::NoteSigner::Generate("smartby.example/audit");
  ASSERT_TRUE(stranger.ok());
  CommandResult wrong = Ctl({"audit", "checkpoint", "--verifier-key", stranger->VerifierKey()});
  EXPECT_EQ(wrong.exit_code, 1) << Describe(wrong);
  EXPECT_THAT(wrong.err, HasSubstr("does not verify"));

  // A saved checkpoint from another log (another key) is refused.
  auto body = smartby::audit::FormatCheckpointBody({"smartby.example/audit", 3, {}, {}});
  WriteAll(Path("forged.checkpoint"), *stranger->Sign(body));
  CommandResult forged = Ctl({"audit", "verify", "--since-checkpoint", Path("forged.checkpoint")});
  EXPECT_EQ(forged.exit_code, 1) << Describe(forged);

  CommandResult proof = Ctl({"audit", "proof", "1000"});
  ASSERT_EQ(proof.exit_code, 0) << Describe(proof);
  EXPECT_THAT(proof.out, HasSubstr("yes, against the signed checkpoint"));
  CommandResult older = Ctl({"audit", "proof", "3", "--tree-size", "5", "-o", "json"});
  ASSERT_EQ(older.exit_code, 0) << Describe(older);
  EXPECT_THAT(older.out, HasSubstr("\"verified\": true"));
}

TEST_F(SmartctlAuditE2ETest, TamperingWithTheDatabaseIsDetected) {
  AppendMany(40);
  WaitForCheckpoint(40);
  CommandResult before = Ctl({"audit", "verify"});
  ASSERT_EQ(before.exit_code, 0) << Describe(before);

  TamperWithStoredEntry(13);
  CommandResult after = Ctl({"audit", "verify"});
  EXPECT_EQ(after.exit_code, 1) << Describe(after);
  EXPECT_THAT(after.err, HasSubstr("entry 13 does not match")) << Describe(after);

  CommandResult proof = Ctl({"audit", "proof", "13"});
  EXPECT_EQ(proof.exit_code, 1) << Describe(proof);
  CommandResult other = Ctl({"audit", "proof", "14"});
  EXPECT_EQ(other.exit_code, 0) << Describe(other);
}

TEST_F(SmartctlAuditE2ETest, WithRetentionTheServedEntriesAreVerified) {
  AppendMany(30);
  WaitForCheckpoint(30);
  StartAudit({"--retention_min_index=11"});
  CommandResult verify = Ctl({"audit", "verify"});
  ASSERT_EQ(verify.exit_code, 0) << Describe(verify);
  EXPECT_THAT(verify.out, HasSubstr("entries     11-29 (19)"));
  EXPECT_THAT(verify.out, HasSubstr("entries 0-10 are no longer served"));
  EXPECT_THAT(verify.out, HasSubstr("NOT checked"));
  CommandResult json = Ctl({"audit", "verify", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << Describe(json);
  EXPECT_THAT(json.out, HasSubstr("\"root_recomputed_from_all_entries\": false"));

  audit_->Stop();
  TamperWithStoredEntry(20);
  StartAudit({"--retention_min_index=11"});
  CommandResult tampered = Ctl({"audit", "verify"});
  EXPECT_EQ(tampered.exit_code, 1) << Describe(tampered);
  EXPECT_THAT(tampered.err, HasSubstr("entry 20 does not match")) << Describe(tampered);

  CommandResult exported = Ctl({"audit", "export", "--out", Path("x.jsonl")});
  EXPECT_EQ(exported.exit_code, 1) << Describe(exported);
  CommandResult part = Ctl({"audit", "export", "--out", Path("y.jsonl"), "--from", "21"});
  ASSERT_EQ(part.exit_code, 0) << Describe(part);
  CommandResult offline = Ctl({"audit", "verify-export", Path("y.jsonl")}, "127.0.0.1:1");
  EXPECT_EQ(offline.exit_code, 0) << Describe(offline);
}

TEST_F(SmartctlAuditE2ETest, ExportVerifiesOfflineAndATamperedLineIsFound) {
  AppendMany(30);
  WaitForCheckpoint(30);
  const std::string file = Path("export.jsonl");
  CommandResult exported = Ctl({"audit", "export", "--out", file, "--from", "4", "--to", "24"});
  ASSERT_EQ(exported.exit_code, 0) << Describe(exported);
  std::vector<std::string> lines = absl::StrSplit(ReadAll(file), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 20u);
  EXPECT_THAT(lines[0], HasSubstr("\"index\":4"));
  EXPECT_THAT(ReadAll(file + ".proofs.json"), HasSubstr("\"checkpoint\""));

  // Offline: the service is gone, and smartctl points nowhere.
  audit_->Stop();
  CommandResult offline = Ctl({"audit", "verify-export", file}, "127.0.0.1:1");
  ASSERT_EQ(offline.exit_code, 0) << Describe(offline);
  EXPECT_THAT(offline.out, HasSubstr("OK: 20 entries (4-23)"));

  const size_t at = lines[7].find("bysykkel-");
  ASSERT_NE(at, std::string::npos);
  lines[7][at] = 'B';  // the readable entry of entry 11
  std::string text;
  for (const auto& l : lines) absl::StrAppend(&text, l, "\n");
  WriteAll(file, text);
  CommandResult tampered = Ctl({"audit", "verify-export", file}, "127.0.0.1:1");
  EXPECT_EQ(tampered.exit_code, 1) << Describe(tampered);
  EXPECT_THAT(tampered.err, HasSubstr("line 8 (entry 11)"));
}

TEST_F(SmartctlAuditE2ETest, TailPrintsEntriesAndStopsCleanlyOnCtrlC) {
  AppendMany(3);
  std::thread later([this] {
    absl::SleepFor(absl::Milliseconds(1500));
    AppendMany(2);
  });
  CommandResult tail = RunCommand(
      {"/usr/bin/timeout", "--preserve-status", "-s", "INT", "4", BinaryPath("smartctl"), "--insecure",
       "--server", audit_->grpc_address(), "audit", "tail", "--from", "1", "-o", "json"},
      {{"XDG_CONFIG_HOME", config_home_.path()}, {"SMARTCTL_TOKEN", token_}});
  later.join();
  EXPECT_EQ(tail.exit_code, 0) << Describe(tail);
  std::vector<std::string> lines = absl::StrSplit(tail.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << tail.out;
  EXPECT_THAT(lines[0], HasSubstr("\"index\":\"1\""));
  EXPECT_THAT(lines[3], HasSubstr("\"index\":\"4\""));
}

TEST_F(SmartctlAuditE2ETest, AReaderIsDenied) {
  AppendMany(2);
  TokenSpec reader;
  reader.subject = "user:ola";
  reader.roles = {"reader"};
  reader.clearance = "internal";
  token_ = issuer_->Token(reader);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"audit", "query"}, {"audit", "verify"},
                                             {"audit", "checkpoint"}}) {
    CommandResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("auditor or platform-admin role")) << Describe(r);
  }
  token_ = "";
  CommandResult anonymous = Ctl({"audit", "query"});
  EXPECT_EQ(anonymous.exit_code, 1) << Describe(anonymous);
}

}  // namespace
