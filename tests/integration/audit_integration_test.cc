// Starts the real smartby-audit binary on free loopback ports and calls it over real gRPC:
// append, query, proofs verified with merkle.h and the checkpoint with VerifyNote; who may call
// what; replicas of one account as producers of their own ("<account>/<instance>", also as the
// runtime names them with --audit_instance); the streaming tail; a kill -9 in the middle of a
// load; tampering with the SQLite file.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/audit/checkpoint.h"
#include "services/audit/merkle.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace smartby {
namespace {

namespace v1 = ::smartcity::audit::v1;
using testing::BinaryPath;
using testing::HttpGet;
using testing::ServiceProcess;
using testing::TempDir;
using testing::TestTokenIssuer;
using testing::TokenSpec;

std::string Bytes(const merkle::Hash& h) {
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

std::vector<std::string> Args(const std::string& dir, const TestTokenIssuer& issuer) {
  return {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
          absl::StrCat("--database=sqlite://", dir, "/audit.db"), issuer.ServiceFlag(),
          // The audit service's own runtime outbox would ship to itself; not under test here.
          "--audit_service=", "--checkpoint_interval=200ms"};
}

// A service account's token, as the runtime's shipper gets it from auth.
std::string WriterToken(const TestTokenIssuer& issuer, const std::string& account = "catalogue") {
  TokenSpec spec;
  spec.subject = "service:" + account;
  spec.client_id = account;
  spec.roles = {"audit-writer"};
  spec.lifetime = absl::Minutes(30);
  return issuer.Token(spec);
}

std::string AuditorToken(const TestTokenIssuer& issuer) {
  TokenSpec spec;
  spec.subject = "user:revisor";
  spec.roles = {"auditor"};
  spec.lifetime = absl::Minutes(30);
  return issuer.Token(spec);
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token,
                                         absl::Duration deadline = absl::Seconds(10)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline));
  return ctx;
}

v1::AuditEvent Event(int64_t sequence, const std::string& subject = "user:kari",
                     const std::string& producer = "catalogue") {
  v1::AuditEvent e;
  e.set_producer(producer);
  e.set_producer_sequence(sequence);
  e.mutable_claimed_time()->set_seconds(1700000000 + sequence);
  e.mutable_actor()->set_subject(subject);
  e.mutable_actor()->set_client_id("smartctl");
  e.set_source_address("ipv4:10.0.0.7:51234");
  e.set_action("/smartcity.catalogue.v1.CatalogueService/UpdateDataset");
  e.mutable_resource()->set_type("dataset");
  e.mutable_resource()->set_id(absl::StrCat("dataset-", sequence % 5));
  e.mutable_resource()->set_dataset(absl::StrCat("dataset-", sequence % 5));
  e.mutable_resource()->set_classification(smartcity::common::v1::CLASSIFICATION_INTERNAL);
  e.set_request_id(absl::StrCat("req-", sequence));
  e.set_details_json(absl::StrCat("{\"sequence\":", sequence, "}"));
  return e;
}

class AuditClient {
 public:
  AuditClient(const std::string& address, std::string token)
      : stub_(v1::AuditService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))),
        token_(std::move(token)) {}

  grpc::Status Append(const std::vector<v1::AuditEvent>& events, std::vector<int64_t>* indexes) {
    v1::AppendRequest request;
    for (const auto& e : events) *request.add_events() = e;
    v1::AppendResponse response;
    grpc::Status s = stub_->Append(Ctx(token_).get(), request, &response);
    if (indexes != nullptr) indexes->assign(response.indexes().begin(), response.indexes().end());
    return s;
  }
  grpc::Status Checkpoint(v1::Checkpoint* out) {
    return stub_->GetCheckpoint(Ctx(token_).get(), v1::GetCheckpointRequest(), out);
  }
  std::string VerifierKey() {
    v1::GetVerifierKeyResponse out;
    EXPECT_TRUE(stub_->GetVerifierKey(Ctx(token_).get(), {}, &out).ok());
    return out.verifier_key();
  }
  grpc::Status Entries(int64_t start, int64_t end, std::vector<v1::LogEntry>* out) {
    out->clear();
    for (int64_t from = start; from < end; from += 1000) {
      v1::GetEntriesRequest request;
      request.set_start_index(from);
      request.set_end_index(std::min(end, from + 1000));
      v1::GetEntriesResponse response;
      grpc::Status s = stub_->GetEntries(Ctx(token_).get(), request, &response);
      if (!s.ok()) return s;
      out->insert(out->end(), response.entries().begin(), response.entries().end());
    }
    return grpc::Status::OK;
  }
  grpc::Status Inclusion(int64_t index, int64_t size, v1::InclusionProof* out) {
    v1::GetInclusionProofRequest request;
    request.set_index(index);
    request.set_tree_size(size);
    return stub_->GetInclusionProof(Ctx(token_).get(), request, out);
  }
  grpc::Status Consistency(int64_t first, int64_t second, v1::ConsistencyProof* out) {
    v1::GetConsistencyProofRequest request;
    request.set_first_size(first);
    request.set_second_size(second);
    return stub_->GetConsistencyProof(Ctx(token_).get(), request, out);
  }
  v1::AuditService::Stub& stub() { return *stub_; }
  const std::string& token() const { return token_; }

 private:
  std::unique_ptr<v1::AuditService::Stub> stub_;
  std::string token_;
};

// Waits until the log has signed a checkpoint of at least `size` entries.
v1::Checkpoint WaitForCheckpoint(AuditClient& auditor, int64_t size) {
  v1::Checkpoint cp;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (auditor.Checkpoint(&cp).ok() && cp.tree_size() >= size) return cp;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ADD_FAILURE() << "no checkpoint of size " << size;
  return cp;
}

// Checks the signed note and that its body states the size and root the message carries.
void ExpectValidCheckpoint(const v1::Checkpoint& cp, const std::string& verifier_key) {
  auto body = audit::VerifyNote(cp.note(), verifier_key);
  ASSERT_TRUE(body.ok()) << body.status();
  auto parsed = audit::ParseCheckpointBody(*body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->origin, cp.origin());
  EXPECT_EQ(static_cast<int64_t>(parsed->size), cp.tree_size());
  EXPECT_EQ(Bytes(parsed->root), cp.root_hash());
}

merkle::Hash RootOf(const std::vector<v1::LogEntry>& entries) {
  merkle::CompactRange range;
  for (const auto& e : entries) range.Append(merkle::LeafHash(e.entry_bytes()));
  return range.Root();
}

// What waits in a service's runtime outbox (the SQLite file of audit_outbox.h), oldest first.
std::vector<v1::AuditEvent> OutboxEvents(const std::string& path) {
  std::vector<v1::AuditEvent> events;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open the outbox " << path;
    sqlite3_close(db);
    return events;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT event FROM audit_outbox ORDER BY seq", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot read the outbox " << path << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return events;
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    v1::AuditEvent event;
    EXPECT_TRUE(
        event.ParseFromArray(sqlite3_column_blob(stmt, 0), sqlite3_column_bytes(stmt, 0)));
    events.push_back(std::move(event));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return events;
}

constexpr char kAppendMethod[] = "/smartcity.audit.v1.AuditService/Append";

class AuditIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    issuer_ = std::make_unique<TestTokenIssuer>(dir_.path());
    auto process = ServiceProcess::Start(BinaryPath("smartby-audit"), Args(dir_.path(), *issuer_));
    ASSERT_TRUE(process.ok()) << process.status();
    service_ = std::move(*process);
    writer_ = std::make_unique<AuditClient>(service_->grpc_address(), WriterToken(*issuer_));
    auditor_ = std::make_unique<AuditClient>(service_->grpc_address(), AuditorToken(*issuer_));
  }

  TempDir dir_;
  std::unique_ptr<TestTokenIssuer> issuer_;
  std::unique_ptr<ServiceProcess> service_;
  std::unique_ptr<AuditClient> writer_;
  std::unique_ptr<AuditClient> auditor_;
};

TEST_F(AuditIntegrationTest, AppendQueryAndVerifyProofs) {
  std::vector<int64_t> indexes;
  ASSERT_TRUE(writer_->Append({Event(1), Event(2), Event(3, "user:ola")}, &indexes).ok());
  EXPECT_EQ(indexes, (std::vector<int64_t>{0, 1, 2}));
  // A re-sent event keeps its index.
  ASSERT_TRUE(writer_->Append({Event(2), Event(4)}, &indexes).ok());
  EXPECT_EQ(indexes, (std::vector<int64_t>{1, 3}));

  const std::string key = auditor_->VerifierKey();
  v1::Checkpoint first = WaitForCheckpoint(*auditor_, 4);
  ExpectValidCheckpoint(first, key);
  ASSERT_EQ(first.tree_size(), 4);

  std::vector<v1::LogEntry> entries;
  ASSERT_TRUE(auditor_->Entries(0, 4, &entries).ok());
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[2].entry().event().actor().subject(), "user:ola");
  EXPECT_EQ(entries[3].entry().event().producer_sequence(), 4);
  EXPECT_EQ(Bytes(RootOf(entries)), first.root_hash());
  for (int64_t i = 0; i < 4; ++i) {
    v1::InclusionProof proof;
    ASSERT_TRUE(auditor_->Inclusion(i, 0, &proof).ok());
    EXPECT_EQ(proof.tree_size(), 4);
    const std::string leaf = Bytes(merkle::LeafHash(entries[i].entry_bytes()));
    EXPECT_EQ(proof.leaf_hash(), leaf);
    std::vector<std::string> path(proof.hashes().begin(), proof.hashes().end());
    EXPECT_TRUE(merkle::VerifyInclusion(i, 4, leaf, path, first.root_hash()).ok());
  }

  std::vector<v1::AuditEvent> more;
  for (int i = 5; i <= 40; ++i) more.push_back(Event(i));
  ASSERT_TRUE(writer_->Append(more, &indexes).ok());
  v1::Checkpoint second = WaitForCheckpoint(*auditor_, 40);
  ExpectValidCheckpoint(second, key);
  v1::ConsistencyProof consistency;
  ASSERT_TRUE(auditor_->Consistency(4, 0, &consistency).ok());
  std::vector<std::string> path(consistency.hashes().begin(), consistency.hashes().end());
  EXPECT_TRUE(merkle::VerifyConsistency(4, 40, first.root_hash(), second.root_hash(), path).ok());

  v1::QueryEntriesRequest query;
  query.set_actor("user:kari");
  query.set_dataset("dataset-2");
  query.set_page_size(3);
  v1::QueryEntriesResponse page;
  ASSERT_TRUE(auditor_->stub().QueryEntries(Ctx(auditor_->token()).get(), query, &page).ok());
  ASSERT_EQ(page.entries_size(), 3);
  EXPECT_EQ(page.entries(0).entry().event().producer_sequence(), 2);
  EXPECT_FALSE(page.next_page_token().empty());
  query.set_page_token(page.next_page_token());
  ASSERT_TRUE(auditor_->stub().QueryEntries(Ctx(auditor_->token()).get(), query, &page).ok());
  EXPECT_EQ(page.entries(0).entry().event().producer_sequence(), 17);

  const auto metrics = HttpGet(service_->metrics_port(), "/metrics");
  EXPECT_NE(metrics.body.find("smartby_audit_tree_size 40"), std::string::npos);
  EXPECT_NE(metrics.body.find("smartby_audit_appends_total 40"), std::string::npos);
  EXPECT_NE(metrics.body.find("smartby_audit_batch_entries_bucket"), std::string::npos);
}

TEST_F(AuditIntegrationTest, OnlyAuditorsReadAndOnlyWritersAppendTheirOwnEvents) {
  ASSERT_TRUE(writer_->Append({Event(1)}, nullptr).ok());
  TokenSpec reader_spec;
  reader_spec.subject = "user:ola";
  reader_spec.roles = {"reader"};
  reader_spec.clearance = "strictly-protected";
  AuditClient reader(service_->grpc_address(), issuer_->Token(reader_spec));
  AuditClient anonymous(service_->grpc_address(), "");
  AuditClient admin(service_->grpc_address(), issuer_->AdminToken());
  v1::Checkpoint cp;
  EXPECT_EQ(reader.Checkpoint(&cp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(anonymous.Checkpoint(&cp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(writer_->Checkpoint(&cp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(admin.Checkpoint(&cp).ok());
  std::vector<v1::LogEntry> entries;
  EXPECT_EQ(reader.Entries(0, 1, &entries).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(anonymous.Append({Event(2)}, nullptr).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(auditor_->Append({Event(2)}, nullptr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  {
    grpc::ClientContext ctx;
    v1::LogEntry entry;
    auto stream = anonymous.stub().TailEntries(&ctx, v1::TailEntriesRequest());
    EXPECT_FALSE(stream->Read(&entry));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // A service writes only its own events.
  v1::AuditEvent forged = Event(2);
  forged.set_producer("feed");
  grpc::Status s = writer_->Append({forged}, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("events[0].producer"), std::string::npos) << s.error_message();
  // Bounded, named input errors.
  v1::AuditEvent bad = Event(2);
  bad.set_details_json("[\"not an object\"]");
  s = writer_->Append({Event(2), bad}, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("events[1].details_json"), std::string::npos);
  // The refused batch appended nothing.
  EXPECT_TRUE(admin.Entries(0, 5, &entries).ok());
  EXPECT_EQ(entries.size(), 1u);

  // The refused Appends are recorded like any refused call, in the service's own outbox (on
  // their way to the log): anonymous, a reader, a forged producer, a bad event.
  std::multiset<int> refused_append_codes;
  const std::string outbox = absl::StrCat(dir_.path(), "/audit-audit-outbox.db");
  for (const v1::AuditEvent& event : OutboxEvents(outbox)) {
    if (event.action() == kAppendMethod) {
      refused_append_codes.insert(event.outcome_code());
      // Without --audit_instance the producer is the service's name, as before instances.
      EXPECT_EQ(event.producer(), "audit");
    }
  }
  EXPECT_EQ(refused_append_codes,
            (std::multiset<int>{grpc::StatusCode::INVALID_ARGUMENT,
                                grpc::StatusCode::PERMISSION_DENIED,
                                grpc::StatusCode::PERMISSION_DENIED,
                                grpc::StatusCode::UNAUTHENTICATED}))
      << "successful Appends are not recorded (the entries are the record); refused ones are";
}

// Two replicas of one service share its account (and token) but each numbers its events in its
// own outbox: as "catalogue/a" and "catalogue/b" the same sequence numbers are two producers'
// events, not one producer's re-send or conflict.
TEST_F(AuditIntegrationTest, ReplicasOfOneAccountAppendTheSameSequencesConcurrently) {
  constexpr int kPerReplica = 200;
  constexpr int kBatch = 4;
  const std::vector<std::pair<std::string, std::string>> replicas = {
      {"catalogue/a", "user:kari"}, {"catalogue/b", "user:ola"}};  // different content, too
  std::vector<grpc::Status> failures[2];
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      AuditClient client(service_->grpc_address(), writer_->token());  // the one shared token
      for (int first = 1; first <= kPerReplica; first += kBatch) {
        std::vector<v1::AuditEvent> events;
        for (int seq = first; seq < first + kBatch; ++seq) {
          events.push_back(Event(seq, replicas[r].second, replicas[r].first));
        }
        if (grpc::Status s = client.Append(events, nullptr); !s.ok()) failures[r].push_back(s);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < 2; ++r) {
    for (const grpc::Status& s : failures[r]) {
      ADD_FAILURE() << replicas[r].first << ": " << s.error_code() << " " << s.error_message();
    }
  }

  std::vector<v1::LogEntry> entries;
  ASSERT_TRUE(auditor_->Entries(0, 2 * kPerReplica + 1, &entries).ok());
  ASSERT_EQ(entries.size(), 2u * kPerReplica) << "every event of both replicas, nothing more";
  std::map<std::string, std::vector<int64_t>> sequences;
  for (size_t i = 0; i < entries.size(); ++i) {
    const v1::AuditEvent& e = entries[i].entry().event();
    ASSERT_EQ(entries[i].entry().index(), static_cast<int64_t>(i));
    sequences[e.producer()].push_back(e.producer_sequence());
    EXPECT_EQ(e.actor().subject(), e.producer() == "catalogue/a" ? "user:kari" : "user:ola");
  }
  ASSERT_EQ(sequences.size(), 2u);
  for (auto& [producer, seqs] : sequences) {
    std::vector<int64_t> want(kPerReplica);
    std::iota(want.begin(), want.end(), 1);
    EXPECT_EQ(seqs, want) << producer << ": each replica's own sequence, in order, no gaps";
  }

  // A re-send is still recognised per producer: it gets the index it already has.
  std::vector<int64_t> again;
  ASSERT_TRUE(writer_->Append({Event(7, "user:ola", "catalogue/b")}, &again).ok());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(entries[again[0]].entry().event().producer(), "catalogue/b");
  EXPECT_EQ(entries[again[0]].entry().event().producer_sequence(), 7);
  // ...and one producer reusing a number with other content is still refused.
  grpc::Status reused = writer_->Append({Event(7, "user:kari", "catalogue/b")}, nullptr);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::ALREADY_EXISTS) << reused.error_message();
  EXPECT_EQ(WaitForCheckpoint(*auditor_, 2 * kPerReplica).tree_size(), 2 * kPerReplica);
}

TEST_F(AuditIntegrationTest, AServiceTokenWritesOnlyItsOwnAccountAndItsInstances) {
  AuditClient feed(service_->grpc_address(), WriterToken(*issuer_, "feed"));
  EXPECT_TRUE(feed.Append({Event(1, "user:kari", "feed/smartby-feed-5c7b9-qx8zt")}, nullptr).ok());
  EXPECT_TRUE(writer_->Append({Event(1, "user:kari", "catalogue/a")}, nullptr).ok());

  // Another account's instance, or a name that merely starts like one's own account.
  for (const char* forged : {"feed/a", "feed", "catalogue2/a", "catalogue.a"}) {
    grpc::Status s = writer_->Append({Event(2, "user:kari", "catalogue/a"),
                                      Event(1, "user:kari", forged)},
                                     nullptr);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << forged;
    EXPECT_NE(s.error_message().find(absl::StrCat(
                  "events[1].producer: this token may append events of producer \"catalogue\" or "
                  "\"catalogue/<instance>\" only, not \"", forged, "\"")),
              std::string::npos)
        << s.error_message();
  }
  EXPECT_EQ(feed.Append({Event(2, "user:kari", "catalogue/a")}, nullptr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Its own account with an instance that is not an instance name.
  const std::string too_long = "catalogue/" + std::string(64, 'a');
  for (const std::string& bad : {std::string("catalogue/"), std::string("catalogue/Pod_1"),
                                 std::string("catalogue/a/b"), too_long}) {
    grpc::Status s = writer_->Append({Event(2, "user:kari", bad)}, nullptr);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(s.error_message().find("events[0].producer"), std::string::npos) << s.error_message();
  }
  // platform-admin may still write any producer (e.g. importing an old log).
  AuditClient admin(service_->grpc_address(), issuer_->AdminToken());
  EXPECT_TRUE(admin.Append({Event(1, "user:kari", "archive/old-1")}, nullptr).ok());

  // Only the three accepted Appends reached the log.
  std::vector<v1::LogEntry> entries;
  ASSERT_TRUE(auditor_->Entries(0, 10, &entries).ok());
  std::vector<std::string> producers;
  for (const auto& e : entries) producers.push_back(e.entry().event().producer());
  EXPECT_EQ(producers, (std::vector<std::string>{"feed/smartby-feed-5c7b9-qx8zt", "catalogue/a",
                                                 "archive/old-1"}));
}

// The runtime side: --audit_instance (here through its environment twin, as the charts set it
// from the pod name) makes a process's events "<account>/<instance>"; a bad name stops the start.
TEST_F(AuditIntegrationTest, TheRuntimeNamesItsEventsAfterAccountAndInstance) {
  TempDir dir;
  std::vector<std::string> args = Args(dir.path(), *issuer_);
  args.push_back("--service_client_id=audit-writer-account");
  auto process = ServiceProcess::Start(BinaryPath("smartby-audit"), args,
                                       {{"SMARTBY_AUDIT_INSTANCE", "smartby-audit-7d9f8-x2k4q"}});
  ASSERT_TRUE(process.ok()) << process.status();
  // A refused Append is recorded by the runtime's audit guard in the process's own outbox.
  AuditClient anonymous((*process)->grpc_address(), "");
  ASSERT_EQ(anonymous.Append({Event(1)}, nullptr).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  std::vector<std::string> producers;
  for (const v1::AuditEvent& e : OutboxEvents(absl::StrCat(dir.path(), "/audit-audit-outbox.db"))) {
    if (e.action() == kAppendMethod) producers.push_back(e.producer());
  }
  EXPECT_EQ(producers,
            (std::vector<std::string>{"audit-writer-account/smartby-audit-7d9f8-x2k4q"}));
  (*process)->Stop();

  TempDir bad_dir;
  for (const char* bad : {"--audit_instance=Pod_1", "--audit_instance=a/b"}) {
    std::vector<std::string> argv = {BinaryPath("smartby-audit")};
    for (const std::string& a : Args(bad_dir.path(), *issuer_)) argv.push_back(a);
    argv.push_back(bad);
    testing::CommandResult result = testing::RunCommand(argv, {}, "", absl::Seconds(30));
    EXPECT_NE(result.exit_code, 0) << bad;
    EXPECT_NE(result.err.find("--audit_instance (or SMARTBY_AUDIT_INSTANCE): an instance name "
                              "must be 1 to 63 characters of a-z, 0-9, '-' and '.'"),
              std::string::npos)
        << bad << ": " << result.err;
  }
}

TEST_F(AuditIntegrationTest, TailStreamsHistoryThenNewEntries) {
  ASSERT_TRUE(writer_->Append({Event(1), Event(2), Event(3)}, nullptr).ok());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + auditor_->token());
  v1::TailEntriesRequest request;
  request.set_from_index(1);
  auto stream = auditor_->stub().TailEntries(&ctx, request);
  std::vector<int64_t> seen;
  std::thread appender([&] {
    absl::SleepFor(absl::Milliseconds(300));
    std::vector<v1::AuditEvent> more;
    for (int i = 4; i <= 300; ++i) more.push_back(Event(i));
    EXPECT_TRUE(writer_->Append(more, nullptr).ok());
  });
  v1::LogEntry entry;
  while (seen.size() < 299 && stream->Read(&entry)) {
    seen.push_back(entry.entry().index());
    EXPECT_EQ(merkle::LeafHash(entry.entry_bytes()),
              merkle::LeafHash(entry.entry_bytes()));  // bytes present
    EXPECT_FALSE(entry.entry_bytes().empty());
  }
  appender.join();
  ctx.TryCancel();
  stream->Finish();
  ASSERT_EQ(seen.size(), 299u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(i) + 1);
}

TEST_F(AuditIntegrationTest, TamperingWithTheDatabaseIsDetected) {
  std::vector<v1::AuditEvent> events;
  for (int i = 1; i <= 10; ++i) events.push_back(Event(i));
  ASSERT_TRUE(writer_->Append(events, nullptr).ok());
  v1::Checkpoint cp = WaitForCheckpoint(*auditor_, 10);
  ExpectValidCheckpoint(cp, auditor_->VerifierKey());

  // Behind the service's back: rewrite who did entry 6, in the SQLite file itself.
  std::vector<v1::LogEntry> before;
  ASSERT_TRUE(auditor_->Entries(6, 7, &before).ok());
  v1::AuditEntry forged = before[0].entry();
  forged.mutable_event()->mutable_actor()->set_subject("user:someone-else");
  const std::string forged_bytes = forged.SerializeAsString();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(absl::StrCat(dir_.path(), "/audit.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "UPDATE audit_entries SET entry_bytes = ?1, subject = ?2 "
                               "WHERE idx = 6",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  sqlite3_bind_blob(stmt, 1, forged_bytes.data(), static_cast<int>(forged_bytes.size()),
                    SQLITE_TRANSIENT);
  sqlite3_bind_text(stmt, 2, "user:someone-else", -1, SQLITE_STATIC);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_DONE);
  sqlite3_finalize(stmt);
  EXPECT_EQ(sqlite3_changes(db), 1);
  sqlite3_close(db);

  // The service serves the changed bytes, and they no longer verify.
  std::vector<v1::LogEntry> after;
  ASSERT_TRUE(auditor_->Entries(0, 10, &after).ok());
  EXPECT_EQ(after[6].entry().event().actor().subject(), "user:someone-else");
  v1::InclusionProof proof;
  ASSERT_TRUE(auditor_->Inclusion(6, cp.tree_size(), &proof).ok());
  const std::string leaf = Bytes(merkle::LeafHash(after[6].entry_bytes()));
  EXPECT_NE(leaf, proof.leaf_hash());
  std::vector<std::string> path(proof.hashes().begin(), proof.hashes().end());
  absl::Status verified = merkle::VerifyInclusion(6, cp.tree_size(), leaf, path, cp.root_hash());
  EXPECT_FALSE(verified.ok());
  EXPECT_NE(Bytes(RootOf(after)), cp.root_hash());  // a full recomputation fails too
  // The untouched entries still verify.
  ASSERT_TRUE(auditor_->Inclusion(5, cp.tree_size(), &proof).ok());
  path.assign(proof.hashes().begin(), proof.hashes().end());
  EXPECT_TRUE(merkle::VerifyInclusion(5, cp.tree_size(),
                                      Bytes(merkle::LeafHash(after[5].entry_bytes())), path,
                                      cp.root_hash())
                  .ok());
}

TEST_F(AuditIntegrationTest, KillNineDuringALoadLosesNothingAcknowledged) {
  const std::string key = auditor_->VerifierKey();
  std::mutex mu;
  std::map<int64_t, int64_t> acknowledged;  // index -> producer_sequence
  std::atomic<int64_t> next_sequence{1};
  std::atomic<bool> stop{false};
  v1::Checkpoint last_checkpoint;  // the last one handed out to this client before the kill
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      AuditClient client(service_->grpc_address(), writer_->token());
      int round = 0;
      while (!stop.load()) {
        std::vector<v1::AuditEvent> events;
        const int n = 1 + (round++ * 7 + t) % 40;
        for (int i = 0; i < n; ++i) events.push_back(Event(next_sequence.fetch_add(1)));
        std::vector<int64_t> indexes;
        if (!client.Append(events, &indexes).ok()) return;  // the service died
        std::lock_guard<std::mutex> lock(mu);
        for (size_t i = 0; i < events.size(); ++i) {
          acknowledged[indexes[i]] = events[i].producer_sequence();
        }
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.load()) {
      v1::Checkpoint cp;
      if (!auditor_->Checkpoint(&cp).ok()) return;
      std::lock_guard<std::mutex> lock(mu);
      last_checkpoint = cp;
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  absl::SleepFor(absl::Milliseconds(1500));
  ASSERT_EQ(kill(service_->pid(), SIGKILL), 0);
  absl::SleepFor(absl::Milliseconds(200));
  stop = true;
  for (auto& th : threads) th.join();
  ASSERT_GT(acknowledged.size(), 100u) << "the load did not get going";
  ASSERT_GT(last_checkpoint.tree_size(), 0);
  ExpectValidCheckpoint(last_checkpoint, key);

  // Restart on the same database.
  service_.reset();
  auto process = ServiceProcess::Start(BinaryPath("smartby-audit"), Args(dir_.path(), *issuer_));
  ASSERT_TRUE(process.ok()) << process.status();
  service_ = std::move(*process);
  AuditClient auditor(service_->grpc_address(), auditor_->token());
  EXPECT_EQ(auditor.VerifierKey(), key);  // the same log key
  v1::Checkpoint now;
  ASSERT_TRUE(auditor.Checkpoint(&now).ok());
  ExpectValidCheckpoint(now, key);
  const int64_t size = now.tree_size();
  ASSERT_GE(size, acknowledged.rbegin()->first + 1);
  ASSERT_GE(size, last_checkpoint.tree_size());

  std::vector<v1::LogEntry> entries;
  ASSERT_TRUE(auditor.Entries(0, size, &entries).ok());
  ASSERT_EQ(static_cast<int64_t>(entries.size()), size);
  for (int64_t i = 0; i < size; ++i) {
    ASSERT_EQ(entries[i].entry().index(), i);  // contiguous 0..n-1
  }
  for (const auto& [index, sequence] : acknowledged) {
    ASSERT_EQ(entries[index].entry().event().producer_sequence(), sequence) << index;
    v1::AuditEvent want = Event(sequence);
    EXPECT_EQ(entries[index].entry().event().SerializeAsString(), want.SerializeAsString());
  }
  // The new tree extends the last checkpoint handed out before the crash.
  EXPECT_EQ(Bytes(RootOf(entries)), now.root_hash());
  v1::ConsistencyProof proof;
  ASSERT_TRUE(auditor.Consistency(last_checkpoint.tree_size(), size, &proof).ok());
  std::vector<std::string> path(proof.hashes().begin(), proof.hashes().end());
  EXPECT_TRUE(merkle::VerifyConsistency(last_checkpoint.tree_size(), size,
                                        last_checkpoint.root_hash(), now.root_hash(), path)
                  .ok());
  std::vector<v1::LogEntry> prefix(entries.begin(), entries.begin() + last_checkpoint.tree_size());
  EXPECT_EQ(Bytes(RootOf(prefix)), last_checkpoint.root_hash());
  // And the log takes appends again, after the recovered size.
  std::vector<int64_t> indexes;
  AuditClient writer(service_->grpc_address(), writer_->token());
  ASSERT_TRUE(writer.Append({Event(next_sequence.fetch_add(1))}, &indexes).ok());
  EXPECT_EQ(indexes[0], size);
}

}  // namespace
}  // namespace smartby
