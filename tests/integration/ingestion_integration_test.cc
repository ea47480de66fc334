// The ingestion service over real gRPC, with a real auth service (its service account) and a real
// catalogue (the datasets' schemas and classes), as separate processes on loopback:
// writes (unary and streaming) with per-reading results, idempotent resends, sensors' service
// accounts, file imports (a 1,000,000-row CSV in constant memory, malformed files), the feed
// hand-over stream, a retired dataset, and kill -9 during a streaming write.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <memory>
#include <set>
#include <string>

#include <google/protobuf/util/time_util.h>
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/platform_under_test.h"

namespace smartby {
namespace {

namespace common = ::smartcity::common::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using google::protobuf::util::TimeUtil;
using testing::ParkingFields;
using testing::ParkingReading;
using testing::PlatformUnderTest;
using testing::SensorDataset;
using testing::ToTimestamp;
using testing::TokenSpec;

// The platform: auth with a signing key the test also holds, the catalogue, and ingestion with
// its own service account (platform-service, audit-writer). Started once for the suite.
class IngestionIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    platform_ = new PlatformUnderTest();
    ASSERT_EQ(platform_->StartAuth(), absl::OkStatus());
    admin_token_ = platform_->AdminToken();
    ASSERT_EQ(platform_->CreateServiceAccount("ingestion", {"audit-writer", "platform-service"}),
              absl::OkStatus());
    ASSERT_EQ(platform_->Start("catalogue"), absl::OkStatus());
    catalogue_stub_ = cv1::CatalogueService::NewStub(platform_->Channel("catalogue")).release();
    // "parkering" published, so that anyone may read its readings.
    ASSERT_EQ(platform_->CreateDataset(SensorDataset("parkering", common::CLASSIFICATION_OPEN,
                                                     ParkingFields()),
                                       /*publish=*/true),
              absl::OkStatus());
    ASSERT_EQ(platform_->CreateDataset(SensorDataset("vannmaaler",
                                                     common::CLASSIFICATION_PROTECTED,
                                                     ParkingFields())),
              absl::OkStatus());
    ASSERT_EQ(platform_->CreateDataset(
                  SensorDataset("utgaar", common::CLASSIFICATION_OPEN, ParkingFields())),
              absl::OkStatus());
    StartIngestion();
  }

  // Again after a kill: on the same port and database.
  static void StartIngestion() {
    ASSERT_EQ(platform_->Start("ingestion", {platform_->ServiceFlag("catalogue"),
                                             "--dataset_cache_ttl=200ms",
                                             "--watch_poll_interval=100ms"}),
              absl::OkStatus());
    delete stub_;
    stub_ = iv1::IngestionService::NewStub(platform_->Channel("ingestion")).release();
  }

  static void TearDownTestSuite() {
    delete stub_;
    delete catalogue_stub_;
    delete platform_;
  }

  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    return PlatformUnderTest::Context(token);
  }

  static void RegisterSource(const std::string& id, const std::string& dataset) {
    const absl::Status status = platform_->RegisterSource(id, dataset);
    ASSERT_TRUE(status.ok() || absl::IsAlreadyExists(status)) << status;
  }

  static int64_t CountReadings(const std::string& source) {
    iv1::QueryReadingsRequest request;
    request.set_source_id(source);
    request.set_page_size(10000);
    int64_t n = 0;
    do {
      auto ctx = Context(admin_token_);
      iv1::QueryReadingsResponse response;
      const grpc::Status status = stub_->QueryReadings(ctx.get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) return -1;
      n += response.readings_size();
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return n;
  }

  struct ImportResult {
    grpc::Status status;
    iv1::ImportSummary summary;
    int progress_messages = 0;
  };

  // Streams `next()` chunks (until it returns false) through ImportFile.
  static ImportResult Import(const std::string& token, const iv1::ImportOptions& options,
                             const std::function<bool(std::string*)>& next) {
    auto ctx = Context(token);
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(5)));
    auto stream = stub_->ImportFile(ctx.get());
    ImportResult result;
    iv1::ImportFileRequest first;
    *first.mutable_options() = options;
    std::thread reader([&] {
      iv1::ImportFileResponse response;
      while (stream->Read(&response)) {
        if (response.has_progress()) ++result.progress_messages;
        if (response.has_summary()) result.summary = response.summary();
      }
    });
    bool open = stream->Write(first);
    std::string chunk;
    while (open && next(&chunk)) {
      iv1::ImportFileRequest request;
      request.set_chunk(std::move(chunk));
      chunk.clear();
      open = stream->Write(request);
    }
    stream->WritesDone();
    reader.join();
    result.status = stream->Finish();
    return result;
  }

  static ImportResult ImportText(const std::string& token, const iv1::ImportOptions& options,
                                 const std::string& text) {
    size_t at = 0;
    return Import(token, options, [&](std::string* chunk) {
      if (at >= text.size()) return false;
      *chunk = text.substr(at, 64 * 1024);
      at += chunk->size();
      return true;
    });
  }

  static inline PlatformUnderTest* platform_ = nullptr;
  static inline std::string admin_token_;
  static inline cv1::CatalogueService::Stub* catalogue_stub_ = nullptr;
  static inline iv1::IngestionService::Stub* stub_ = nullptr;
};

TEST_F(IngestionIntegrationTest, ASensorWritesWithItsServiceAccountAndResendsAreDuplicates) {
  RegisterSource("garasje-1", "parkering");
  RegisterSource("maaler-1", "vannmaaler");
  // A gateway's service account: ingest-writer for the protected dataset, no second factor.
  TokenSpec gateway;
  gateway.subject = "service:gw-1";
  gateway.client_id = "gw-1";
  gateway.roles = {"ingest-writer:vannmaaler"};
  gateway.clearance = "protected";
  const std::string sensor = platform_->issuer().Token(gateway);
  const absl::Time t0 = absl::Now() - absl::Minutes(10);
  iv1::WriteReadingsRequest request;
  *request.add_readings() = ParkingReading("maaler-1", t0, 5);
  *request.add_readings() = ParkingReading("maaler-1", t0 + absl::Minutes(1), 3000);  // above 2000
  *request.add_readings() = ParkingReading("ukjent", t0, 1);  // unknown source
  {
    auto ctx = Context(sensor);
    iv1::WriteReadingsResponse response;
    const grpc::Status status = stub_->WriteReadings(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.results_size(), 3);
    EXPECT_EQ(response.results(0).outcome(), iv1::READING_OUTCOME_ACCEPTED);
    EXPECT_EQ(response.results(1).reason(), iv1::REJECT_REASON_OUT_OF_RANGE);
    EXPECT_EQ(response.results(1).field(), "free_spaces");
    EXPECT_EQ(response.results(2).reason(), iv1::REJECT_REASON_UNKNOWN_SOURCE);
  }
  {
    auto ctx = Context(sensor);
    iv1::WriteReadingsResponse response;
    ASSERT_TRUE(stub_->WriteReadings(ctx.get(), request, &response).ok());
    EXPECT_EQ(response.results(0).outcome(), iv1::READING_OUTCOME_DUPLICATE);
  }
  // Its token does not reach another dataset; nothing of the batch is stored.
  iv1::WriteReadingsRequest other;
  *other.add_readings() = ParkingReading("garasje-1", t0, 10);
  {
    auto ctx = Context(sensor);
    iv1::WriteReadingsResponse response;
    EXPECT_EQ(stub_->WriteReadings(ctx.get(), other, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    auto ctx = Context("");
    iv1::WriteReadingsResponse response;
    EXPECT_EQ(stub_->WriteReadings(ctx.get(), other, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(CountReadings("maaler-1"), 1);
  EXPECT_EQ(CountReadings("garasje-1"), 0);
  // A person without a second factor cannot read the protected readings.
  {
    auto ctx = Context(platform_->Token({"reader"}, "protected", false, "user:les"));
    iv1::QueryReadingsRequest query;
    query.set_source_id("maaler-1");
    iv1::QueryReadingsResponse response;
    EXPECT_EQ(stub_->QueryReadings(ctx.get(), query, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
}

TEST_F(IngestionIntegrationTest, StreamedBatchesAreAnsweredInOrderAndWatchersGetThemLive) {
  RegisterSource("garasje-2", "parkering");
  RegisterSource("garasje-3", "parkering");
  // A watcher from the beginning, anonymous, over the Åpen dataset.
  auto watch_ctx = Context("");
  iv1::WatchReadingsRequest watch_request;
  watch_request.add_datasets("parkering");
  auto watch = stub_->WatchReadings(watch_ctx.get(), watch_request);
  const int64_t start_position = 0;

  const absl::Time t0 = absl::Now() - absl::Hours(2);
  constexpr int kBatches = 20, kPerBatch = 500;
  {
    auto ctx = Context(admin_token_);
    auto stream = stub_->StreamReadings(ctx.get());
    for (int b = 0; b < kBatches; ++b) {
      iv1::WriteReadingsRequest request;
      for (int i = 0; i < kPerBatch; ++i) {
        const int n = b * kPerBatch + i;
        *request.add_readings() =
            ParkingReading(n % 2 == 0 ? "garasje-2" : "garasje-3", t0 + absl::Seconds(n / 2),
                           n % 1000);
      }
      ASSERT_TRUE(stream->Write(request));
      iv1::WriteReadingsResponse response;
      ASSERT_TRUE(stream->Read(&response));
      EXPECT_EQ(response.accepted(), kPerBatch) << "batch " << b;
    }
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // The watcher sees every one, in position order.
  int seen = 0;
  int64_t last = start_position;
  iv1::WatchReadingsResponse update;
  while (seen < kBatches * kPerBatch && watch->Read(&update)) {
    for (const auto& r : update.readings()) {
      EXPECT_GT(r.position(), last);
      last = r.position();
      EXPECT_EQ(r.dataset(), "parkering");
      if (r.reading().source_id() == "garasje-2" || r.reading().source_id() == "garasje-3") ++seen;
    }
  }
  EXPECT_EQ(seen, kBatches * kPerBatch);
  watch_ctx->TryCancel();
  while (watch->Read(&update)) {
  }
  watch->Finish();

  // Aggregates per 10-minute window over what was written.
  auto ctx = Context("");
  iv1::AggregateReadingsRequest aggregate;
  aggregate.set_dataset("parkering");
  aggregate.set_field("free_spaces");
  *aggregate.mutable_start_time() = ToTimestamp(t0);
  *aggregate.mutable_end_time() = ToTimestamp(t0 + absl::Hours(1));
  *aggregate.mutable_window() = TimeUtil::SecondsToDuration(600);
  iv1::AggregateReadingsResponse windows;
  const grpc::Status status = stub_->AggregateReadings(ctx.get(), aggregate, &windows);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(windows.windows_size(), 6);
  EXPECT_EQ(windows.windows(0).count(), 1200) << "600 s × 2 sources";
}

TEST_F(IngestionIntegrationTest, AMillionRowCsvIsImportedInConstantMemory) {
  RegisterSource("mill-a", "parkering");
  RegisterSource("mill-b", "parkering");
  iv1::ImportOptions options;
  options.set_dataset("parkering");
  options.set_file_name("stor.csv");
  constexpr int kRows = 1000000;
  const int64_t t0 = absl::ToUnixSeconds(absl::Now()) - 3 * kRows;
  int row = 0;
  bool header = true;
  auto result = Import(admin_token_, options, [&](std::string* chunk) {
    if (header) {
      *chunk = "source_id,time,free_spaces,temperature\n";
      header = false;
      return true;
    }
    if (row >= kRows) return false;
    for (int i = 0; i < 8000 && row < kRows; ++i, ++row) {
      absl::StrAppend(chunk, row % 2 ? "mill-a," : "mill-b,", t0 + row, ",", row % 1500, ",",
                      (row % 300) / 10.0, "\n");
    }
    return true;
  });
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.summary.totals().accepted(), kRows);
  EXPECT_EQ(result.summary.totals().rejected(), 0);
  EXPECT_GT(result.progress_messages, 0) << "progress is reported while it runs";
  // Constant memory: the service's peak resident set stays far below the file (~40 MB of CSV
  // and ~100 MB as readings in memory).
  const pid_t ingestion = platform_->service("ingestion").pid();
  std::ifstream status("/proc/" + std::to_string(ingestion) + "/status");
  std::string line;
  int64_t peak_kb = 0;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) peak_kb = std::atoll(line.c_str() + 6);
  }
  EXPECT_GT(peak_kb, 0);
  EXPECT_LT(peak_kb, 120 * 1024) << "peak RSS " << peak_kb << " kB";
  EXPECT_EQ(CountReadings("mill-a") + CountReadings("mill-b"), kRows);
}

TEST_F(IngestionIntegrationTest, MalformedFilesGetClearErrorsAndLoseNothingAccepted) {
  RegisterSource("fil-1", "parkering");
  iv1::ImportOptions options;
  options.set_dataset("parkering");
  options.set_file_name("feil.csv");
  // Wrong encoding: a Latin-1 row among UTF-8 ones is reported, the rest stored.
  {
    const std::string csv = "source_id,time,free_spaces\n"
                            "fil-1,2026-11-01T10:00:00Z,10\n"
                            "fil-1,2026-11-01T10:01:00Z,11\n";
    options.set_file_name("ok.csv");
    auto result = ImportText(admin_token_, options, csv);
    EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  }
  {
    std::string csv = "source_id,time,free_spaces\n"
                      "fil-1,2026-11-01T11:00:00Z,10\n"
                      "fil-1,2026-11-01T11:01:00Z,\xF8sthavn\n"   // Latin-1 'ø'
                      "fil-1,2026-11-01T11:02:00Z,12\n";
    options.set_file_name("latin1.csv");
    auto result = ImportText(admin_token_, options, csv);
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_EQ(result.summary.totals().accepted(), 2);
    ASSERT_EQ(result.summary.errors_size(), 1);
    EXPECT_EQ(result.summary.errors(0).row(), 2);
    EXPECT_NE(result.summary.errors(0).message().find("UTF-8"), std::string::npos)
        << result.summary.errors(0).message();
  }
  {
    // A 10 MB line between good rows.
    std::string csv = "source_id,time,free_spaces\nfil-1,2026-11-01T12:00:00Z,1\n";
    csv += "fil-1,2026-11-01T12:01:00Z," + std::string(10 << 20, '7') + "\n";
    csv += "fil-1,2026-11-01T12:02:00Z,3\n";
    options.set_file_name("lang.csv");
    auto result = ImportText(admin_token_, options, csv);
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_EQ(result.summary.totals().accepted(), 2);
    ASSERT_EQ(result.summary.errors_size(), 1);
    EXPECT_EQ(result.summary.errors(0).row(), 2);
  }
  {
    // Truncated inside a quoted cell: an error, and the rows before it stay stored.
    std::string csv = "source_id,time,free_spaces\n"
                      "fil-1,2026-11-01T13:00:00Z,1\n"
                      "fil-1,2026-11-01T13:01:00Z,2\n"
                      "fil-1,\"2026-11-01T13:02";
    options.set_file_name("avkuttet.csv");
    auto result = ImportText(admin_token_, options, csv);
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(result.status.error_message().find("2 rows before it were stored"),
              std::string::npos)
        << result.status.error_message();
  }
  {
    // JSON that ends in the middle of an element.
    options.set_file_name("avkuttet.json");
    auto result = ImportText(
        admin_token_, options,
        R"([{"source_id":"fil-1","time":"2026-11-01T14:00:00Z","free_spaces":4},{"source_id":"fil-1",)");
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(CountReadings("fil-1"), 2 + 2 + 2 + 2 + 1);
}

TEST_F(IngestionIntegrationTest, ARetiredDatasetStopsTakingReadings) {
  RegisterSource("utgaar-1", "utgaar");
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin_token_);
    cv1::RetireDatasetRequest request;
    request.set_name("utgaar");
    cv1::Dataset retired;
    const grpc::Status status = catalogue_stub_->RetireDataset(&ctx, request, &retired);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // The schema cache lives --dataset_cache_ttl (200 ms here): wait for the rejection.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  iv1::ReadingResult result;
  for (int i = 0; absl::Now() < deadline; ++i) {
    iv1::WriteReadingsRequest request;
    *request.add_readings() = ParkingReading("utgaar-1", absl::Now() - absl::Seconds(i + 1), 1);
    auto ctx = Context(admin_token_);
    iv1::WriteReadingsResponse response;
    ASSERT_TRUE(stub_->WriteReadings(ctx.get(), request, &response).ok());
    result = response.results(0);
    if (result.outcome() == iv1::READING_OUTCOME_REJECTED) break;
    absl::SleepFor(absl::Milliseconds(50));  // polling the cache's expiry, not synchronising
  }
  EXPECT_EQ(result.reason(), iv1::REJECT_REASON_DATASET_UNAVAILABLE);
  EXPECT_NE(result.message().find("retired"), std::string::npos) << result.message();
}

// Last: it kills the service and starts it again on the same database.
TEST_F(IngestionIntegrationTest, ZKillDuringAStreamingWriteLosesNoAcknowledgedReading) {
  RegisterSource("krasj-1", "parkering");
  const absl::Time t0 = absl::Now() - absl::Hours(20);
  std::atomic<int64_t> acknowledged{0};
  std::set<int64_t> acked_times;  // seconds after t0, of readings answered ACCEPTED
  std::thread writer([&] {
    auto ctx = Context(admin_token_);
    auto stream = stub_->StreamReadings(ctx.get());
    for (int b = 0; b < 100000; ++b) {
      iv1::WriteReadingsRequest request;
      for (int i = 0; i < 200; ++i) {
        *request.add_readings() = ParkingReading("krasj-1", t0 + absl::Seconds(b * 200 + i), i);
      }
      if (!stream->Write(request)) break;
      iv1::WriteReadingsResponse response;
      if (!stream->Read(&response)) break;
      for (int i = 0; i < response.results_size(); ++i) {
        if (response.results(i).outcome() == iv1::READING_OUTCOME_ACCEPTED) {
          acked_times.insert(b * 200 + i);
        }
      }
      acknowledged = static_cast<int64_t>(acked_times.size());
    }
    stream->Finish();
  });
  // Kill once a good number of batches were acknowledged, in the middle of the stream.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (acknowledged.load() < 20000 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));  // waiting for progress, not synchronising
  }
  ASSERT_GE(acknowledged.load(), 20000);
  ASSERT_EQ(::kill(platform_->service("ingestion").pid(), SIGKILL), 0);
  writer.join();
  EXPECT_EQ(platform_->Stop("ingestion"), -SIGKILL);
  StartIngestion();

  iv1::QueryReadingsRequest request;
  request.set_source_id("krasj-1");
  request.set_page_size(10000);
  std::set<int64_t> stored;
  do {
    auto ctx = Context(admin_token_);
    iv1::QueryReadingsResponse response;
    const grpc::Status status = stub_->QueryReadings(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const auto& r : response.readings()) {
      stored.insert(TimeUtil::TimestampToSeconds(r.time()) - absl::ToUnixSeconds(t0));
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  int64_t missing = 0;
  for (int64_t t : acked_times) missing += stored.count(t) == 0;
  EXPECT_EQ(missing, 0) << "of " << acked_times.size() << " acknowledged readings";
  EXPECT_GE(stored.size(), acked_times.size());
}

}  // namespace
}  // namespace smartby
