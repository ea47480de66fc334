#include "services/runtime/audit_shipper.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"

namespace smartby {
namespace {

namespace audit_v1 = smartcity::audit::v1;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

// A FAKE audit service for these unit tests (the real one is services/audit/): it keeps appended
// events in memory, deduplicates on (producer, producer_sequence) as the real log does, records
// the token of each call, and can be told to fail.
class FakeAuditService final : public audit_v1::AuditService::Service {
 public:
  struct Stored {
    std::string producer;
    int64_t sequence;
    std::string action;
  };
  enum class Mode { kOk, kRefuse, kStoreButLoseAnswer };

  grpc::Status Append(grpc::ServerContext* context, const audit_v1::AppendRequest* request,
                      audit_v1::AppendResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto auth = context->client_metadata().find("authorization");
    tokens_.push_back(auth == context->client_metadata().end()
                          ? ""
                          : std::string(auth->second.data(), auth->second.size()));
    batch_sizes_.push_back(request->events_size());
    if (mode_ == Mode::kRefuse) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: the log is down");
    }
    for (const audit_v1::AuditEvent& event : request->events()) {
      auto key = std::make_pair(event.producer(), event.producer_sequence());
      auto [it, inserted] = index_.emplace(key, static_cast<int64_t>(log_.size()));
      if (inserted) log_.push_back({event.producer(), event.producer_sequence(), event.action()});
      response->add_indexes(it->second);
    }
    if (mode_ == Mode::kStoreButLoseAnswer) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "fake: the answer was lost");
    }
    return grpc::Status::OK;
  }

  void set_mode(Mode mode) {
    std::lock_guard<std::mutex> lock(mu_);
    mode_ = mode;
  }
  std::vector<Stored> log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  std::vector<std::string> tokens() {
    std::lock_guard<std::mutex> lock(mu_);
    return tokens_;
  }
  std::vector<int> batch_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }

 private:
  std::mutex mu_;
  Mode mode_ = Mode::kOk;
  std::vector<Stored> log_;
  std::map<std::pair<std::string, int64_t>, int64_t> index_;
  std::vector<std::string> tokens_;
  std::vector<int> batch_sizes_;
};

class FakeTokens : public TokenProvider {
 public:
  absl::StatusOr<std::string> Token() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.ok()) return error_;
    return absl::StrCat("token-", ++issued_);
  }
  void Fail(absl::Status error) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::move(error);
  }

 private:
  std::mutex mu_;
  absl::Status error_;
  int issued_ = 0;
};

class AuditShipperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "shipper-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    auto outbox = AuditOutbox::Open(dir_ + "/o.db", &clock_);
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    outbox_ = *std::move(outbox);

    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    shipper_.reset();
    server_->Shutdown();
    outbox_.reset();
    std::filesystem::remove_all(dir_);
  }

  AuditShipper& Shipper() {
    if (!shipper_) {
      shipper_ = std::make_unique<AuditShipper>(outbox_.get(), channel_, tokens_, &metrics_,
                                                &clock_);
    }
    return *shipper_;
  }

  // Appends `n` events (one Append call each group of 50) and returns their sequences.
  std::vector<int64_t> Record(int n) {
    std::vector<int64_t> all;
    for (int done = 0; done < n;) {
      std::vector<audit_v1::AuditEvent> events;
      for (int i = 0; i < 50 && done < n; ++i, ++done) {
        audit_v1::AuditEvent event;
        event.set_producer("catalogue");
        event.set_action(absl::StrCat("event-", done));
        events.push_back(std::move(event));
      }
      auto seqs = outbox_->Append(events);
      EXPECT_TRUE(seqs.ok()) << seqs.status();
      if (seqs.ok()) all.insert(all.end(), seqs->begin(), seqs->end());
    }
    return all;
  }

  std::string dir_;
  SettableClock clock_{kStart};
  std::unique_ptr<AuditOutbox> outbox_;
  FakeAuditService fake_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<FakeTokens> tokens_ = std::make_shared<FakeTokens>();
  prometheus::Registry registry_;
  AuditMetrics metrics_{registry_};
  std::unique_ptr<AuditShipper> shipper_;
};

TEST_F(AuditShipperTest, ShipsInOrderInBatchesOfAtMost500WithItsToken) {
  const std::vector<int64_t> recorded = Record(1200);
  EXPECT_EQ(*Shipper().ShipOnce(), 500);
  EXPECT_EQ(outbox_->depth(), 700);
  EXPECT_EQ(*Shipper().ShipOnce(), 500);
  EXPECT_EQ(*Shipper().ShipOnce(), 200);
  EXPECT_EQ(*Shipper().ShipOnce(), 0);  // empty: nothing sent
  EXPECT_EQ(outbox_->depth(), 0);

  EXPECT_EQ(fake_.batch_sizes(), (std::vector<int>{500, 500, 200}));
  for (const std::string& token : fake_.tokens()) EXPECT_EQ(token.rfind("Bearer token-", 0), 0u);
  const auto log = fake_.log();
  ASSERT_EQ(log.size(), recorded.size());
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].producer, "catalogue");
    EXPECT_EQ(log[i].sequence, recorded[i]);
    EXPECT_EQ(log[i].action, absl::StrCat("event-", i));
  }
  EXPECT_EQ(metrics_.events_shipped.Value(), 1200);
  EXPECT_EQ(metrics_.outbox_depth.Value(), 0);
}

TEST_F(AuditShipperTest, AFailedSendDeletesNothingAndTheRetrySendsTheSameEvents) {
  const std::vector<int64_t> recorded = Record(3);
  clock_.Advance(absl::Seconds(90));
  fake_.set_mode(FakeAuditService::Mode::kRefuse);
  absl::StatusOr<int> failed = Shipper().ShipOnce();
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  EXPECT_EQ(outbox_->depth(), 3);
  EXPECT_EQ(metrics_.ship_failures.Value(), 1);
  EXPECT_EQ(metrics_.outbox_depth.Value(), 3);
  EXPECT_EQ(metrics_.outbox_oldest_age_seconds.Value(), 90);

  fake_.set_mode(FakeAuditService::Mode::kOk);
  EXPECT_EQ(*Shipper().ShipOnce(), 3);
  const auto log = fake_.log();
  ASSERT_EQ(log.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(log[i].sequence, recorded[i]);
  EXPECT_EQ(outbox_->depth(), 0);
}

// The log stored the batch but its answer never arrived: the shipper sends the same batch again
// and the log's deduplication keeps one copy of each.
TEST_F(AuditShipperTest, AnAnswerLostAfterStoringIsResentAndDeduplicated) {
  Record(4);
  fake_.set_mode(FakeAuditService::Mode::kStoreButLoseAnswer);
  EXPECT_FALSE(Shipper().ShipOnce().ok());
  EXPECT_EQ(outbox_->depth(), 4);
  fake_.set_mode(FakeAuditService::Mode::kOk);
  EXPECT_EQ(*Shipper().ShipOnce(), 4);
  EXPECT_EQ(fake_.log().size(), 4u);
  EXPECT_EQ(fake_.batch_sizes(), (std::vector<int>{4, 4}));
}

TEST_F(AuditShipperTest, WithoutATokenNothingIsSent) {
  Record(2);
  tokens_->Fail(absl::UnavailableError("the auth service is down"));
  EXPECT_EQ(Shipper().ShipOnce().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(fake_.batch_sizes().empty());
  EXPECT_EQ(outbox_->depth(), 2);
}

TEST_F(AuditShipperTest, DisabledShippingKeepsEverythingInTheOutbox) {
  Record(2);
  AuditShipper holding(outbox_.get(), nullptr, nullptr, &metrics_, &clock_);
  EXPECT_FALSE(holding.shipping());
  EXPECT_EQ(holding.ShipOnce().status().code(), absl::StatusCode::kFailedPrecondition);
  holding.Start();
  holding.Stop(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(outbox_->depth(), 2);
  EXPECT_TRUE(fake_.batch_sizes().empty());
}

// Stop drains: whatever the loop had not sent yet goes out before Stop returns.
TEST_F(AuditShipperTest, StopShipsWhatIsLeft) {
  Shipper().Start();
  Record(1100);
  Shipper().Wake();
  Shipper().Stop(absl::Now() + absl::Seconds(30));
  EXPECT_EQ(outbox_->depth(), 0);
  const auto log = fake_.log();
  ASSERT_EQ(log.size(), 1100u);
  for (size_t i = 1; i < log.size(); ++i) EXPECT_EQ(log[i].sequence, log[i - 1].sequence + 1);
}

// With the log down, Stop gives up at the first failure and the events wait for the next start.
TEST_F(AuditShipperTest, StopKeepsWhatCannotBeShipped) {
  fake_.set_mode(FakeAuditService::Mode::kRefuse);
  Record(10);
  Shipper().Start();
  Shipper().Stop(absl::Now() + absl::Seconds(30));
  EXPECT_EQ(outbox_->depth(), 10);
  EXPECT_TRUE(fake_.log().empty());
}

TEST(AuditShipperBackoff, DoublesFrom100MillisecondsTo30SecondsWithJitter) {
  AuditShipperOptions options;
  absl::BitGen random;
  for (int round = 0; round < 200; ++round) {
    const absl::Duration first = AuditShipper::Backoff(1, options, random);
    EXPECT_EQ(first, absl::Milliseconds(100));  // the floor: never faster than 100 ms
    const absl::Duration fourth = AuditShipper::Backoff(4, options, random);
    EXPECT_GE(fourth, absl::Milliseconds(400));
    EXPECT_LE(fourth, absl::Milliseconds(800));
    const absl::Duration late = AuditShipper::Backoff(40, options, random);
    EXPECT_GE(late, absl::Seconds(15));
    EXPECT_LE(late, absl::Seconds(30));
  }
  // Jitter: the waits differ.
  std::set<int64_t> distinct;
  for (int i = 0; i < 20; ++i) {
    distinct.insert(absl::ToInt64Microseconds(AuditShipper::Backoff(10, options, random)));
  }
  EXPECT_GT(distinct.size(), 1u);
}

}  // namespace
}  // namespace smartby
