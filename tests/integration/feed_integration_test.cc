// The feed over real gRPC with real auth, catalogue and ingestion processes (each with its own
// service account): a writer sends readings into ingestion and subscribers of the feed receive
// them in order; the snapshot on subscribe; a stalled subscriber (never reads) does not hold up a
// second one; resuming after a position; an anonymous subscriber gets no protected readings.
// The hand-over across restarts of the feed: readings written while it is stopped (SIGTERM) or
// dead (SIGKILL, under a write load) reach a subscriber that resumes with the last position it
// saw, once each and in order; alarm rules do not fire again for readings taken before a stop.
// smartctl's feed commands against the real feed: history rows, short numbers in aggregates, a
// channel's own signing key (write-only: HAS_SECRET shows, the key never does).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/feed/v1/feed.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/platform_under_test.h"

namespace smartby {
namespace {

namespace common = ::smartcity::common::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace fv1 = ::smartcity::feed::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using google::protobuf::util::TimeUtil;
using testing::BinaryPath;
using testing::ParkingFields;
using testing::ParkingReading;
using testing::PlatformUnderTest;
using testing::SensorDataset;
using testing::TempDir;
using testing::ToTimestamp;

// The platform: auth with a signing key the test also holds, the catalogue, ingestion with its
// own service account (platform-service, audit-writer) and the feed with its own (it reads every
// dataset's readings and metadata). Started once for the suite.
class FeedIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    platform_ = new PlatformUnderTest();
    ASSERT_EQ(platform_->StartAuth(), absl::OkStatus());
    admin_token_ = platform_->AdminToken();
    ASSERT_EQ(platform_->CreateServiceAccount("ingestion", {"audit-writer", "platform-service"}),
              absl::OkStatus());
    ASSERT_EQ(platform_->CreateServiceAccount("feed", {"platform-service"}), absl::OkStatus());
    ASSERT_EQ(platform_->Start("catalogue"), absl::OkStatus());
    // "parkering" published, so that anyone may read its readings.
    ASSERT_EQ(platform_->CreateDataset(SensorDataset("parkering", common::CLASSIFICATION_OPEN,
                                                     ParkingFields()),
                                       /*publish=*/true),
              absl::OkStatus());
    ASSERT_EQ(platform_->CreateDataset(SensorDataset(
                  "vannmaaler", common::CLASSIFICATION_PROTECTED, ParkingFields())),
              absl::OkStatus());
    StartIngestion();
    StartFeed();
  }

  // The feed on its database of the suite (so a restart resumes from the recorded hand-over
  // position); `extra` flags go last (a later flag wins).
  static void StartFeed(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> flags = {
        platform_->ServiceFlag("catalogue"), platform_->ServiceFlag("ingestion"),
        "--subscriber_queue=2048", "--alarm_tick=100ms"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    ASSERT_EQ(platform_->Start("feed", flags), absl::OkStatus());
    delete feed_stub_;
    feed_stub_ = fv1::FeedService::NewStub(platform_->Channel("feed")).release();
  }

  // Again after a stop: on the same port and database.
  static void StartIngestion() {
    ASSERT_EQ(platform_->Start("ingestion", {platform_->ServiceFlag("catalogue"),
                                             "--dataset_cache_ttl=200ms",
                                             "--watch_poll_interval=100ms"}),
              absl::OkStatus());
    delete stub_;
    stub_ = iv1::IngestionService::NewStub(platform_->Channel("ingestion")).release();
  }

  static void TearDownTestSuite() {
    delete feed_stub_;
    delete stub_;
    delete platform_;
  }

  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    return PlatformUnderTest::Context(token);
  }

  static testing::ServiceProcess& Feed() { return platform_->service("feed"); }

  static void RegisterSource(const std::string& id, const std::string& dataset) {
    const absl::Status status = platform_->RegisterSource(id, dataset);
    ASSERT_TRUE(status.ok() || absl::IsAlreadyExists(status)) << status;
  }

  static void Write(const std::vector<iv1::Reading>& readings) {
    auto ctx = Context(admin_token_);
    iv1::WriteReadingsRequest request;
    for (const auto& r : readings) *request.add_readings() = r;
    iv1::WriteReadingsResponse response;
    const grpc::Status status = stub_->WriteReadings(ctx.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.accepted(), static_cast<int>(readings.size()));
  }

  struct Stream {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReader<fv1::SubscribeResponse>> reader;
    // Events of a message that came after the one a ReadUntil stopped at (the next one reads
    // them first), so that nothing the feed sent goes unseen.
    std::deque<fv1::FeedEvent> pending;
    ~Stream() {
      ctx->TryCancel();
      fv1::SubscribeResponse ignored;
      while (reader->Read(&ignored)) {
      }
      reader->Finish();
    }
  };

  static std::unique_ptr<Stream> Subscribe(const std::string& token, fv1::SubscribeRequest request) {
    auto stream = std::make_unique<Stream>();
    stream->ctx = Context(token);
    stream->reader = feed_stub_->Subscribe(stream->ctx.get(), request);
    return stream;
  }

  // Reads events until `done` says so (or the stream ends); returns them all.
  static std::vector<fv1::FeedEvent> ReadUntil(
      Stream& stream, const std::function<bool(const fv1::FeedEvent&)>& done) {
    std::vector<fv1::FeedEvent> events;
    fv1::SubscribeResponse response;
    while (!stream.pending.empty() || stream.reader->Read(&response)) {
      if (stream.pending.empty()) {
        stream.pending.assign(response.events().begin(), response.events().end());
      }
      while (!stream.pending.empty()) {
        events.push_back(std::move(stream.pending.front()));
        stream.pending.pop_front();
        if (done(events.back())) return events;
      }
    }
    return events;
  }

  static fv1::SubscribeRequest ForDataset(const std::string& dataset) {
    fv1::SubscribeRequest request;
    request.mutable_filter()->add_datasets(dataset);
    return request;
  }

  static fv1::SubscribeRequest ForSource(const std::string& source, int64_t resume_after = 0) {
    fv1::SubscribeRequest request = ForDataset("parkering");
    request.mutable_filter()->add_source_ids(source);
    request.set_resume_after(resume_after);
    return request;
  }

  // Readings of `source` with these free_spaces values, one second apart from `t0 + first`.
  static std::vector<iv1::Reading> Readings(const std::string& source, absl::Time t0, int first,
                                            const std::vector<int64_t>& values) {
    std::vector<iv1::Reading> out;
    for (size_t i = 0; i < values.size(); ++i) {
      const absl::Time t = t0 + absl::Seconds(first + static_cast<int>(i));
      out.push_back(ParkingReading(source, t, values[i]));
    }
    return out;
  }

  static int64_t FreeSpaces(const fv1::Update& update) {
    return update.reading().values().at("free_spaces").integer_value();
  }

  // Reads updates until `count` have come (or a gap, or the stream ends): their values (what
  // `value_of` says, free_spaces by default), in order. Every update must be live (not a
  // snapshot) and after `*last_position`, which it advances.
  static std::vector<int64_t> ReadValues(
      Stream& stream, size_t count, int64_t* last_position,
      const std::function<int64_t(const fv1::Update&)>& value_of = FreeSpaces) {
    std::vector<int64_t> values;
    if (count == 0) return values;
    ReadUntil(stream, [&](const fv1::FeedEvent& e) {
      if (e.has_gap()) {
        ADD_FAILURE() << "gap after position " << e.gap().after_position() << " (reason "
                      << fv1::GapReason_Name(e.gap().reason()) << ")";
        return true;
      }
      if (!e.has_update()) return false;
      EXPECT_FALSE(e.update().snapshot()) << "position " << e.update().position();
      EXPECT_GT(e.update().position(), *last_position) << "an update came twice or out of order";
      *last_position = std::max(*last_position, e.update().position());
      values.push_back(value_of(e.update()));
      return values.size() == count;
    });
    return values;
  }

  // An ABOVE rule on one parking source's free_spaces (raised above `upper`, no hold time).
  static std::string CreateAboveRule(const std::string& source, double upper) {
    auto ctx = Context(admin_token_);
    fv1::CreateAlarmRuleRequest request;
    fv1::AlarmRule* rule = request.mutable_rule();
    rule->set_name("restart-" + source);
    rule->set_dataset("parkering");
    rule->set_source_id(source);
    rule->set_field("free_spaces");
    rule->set_kind(fv1::ALARM_KIND_ABOVE);
    rule->set_upper(upper);
    fv1::AlarmRule created;
    const grpc::Status status = feed_stub_->CreateAlarmRule(ctx.get(), request, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return created.id();
  }

  // The alarms of `rule`, once there are at least `at_least` (or after 20 s, what there is).
  static std::vector<fv1::Alarm> AlarmsOf(const std::string& rule, size_t at_least) {
    std::vector<fv1::Alarm> found;
    for (absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;) {
      found.clear();
      auto ctx = Context(admin_token_);
      fv1::ListAlarmsRequest request;
      request.set_dataset("parkering");
      request.set_page_size(1000);
      fv1::ListAlarmsResponse response;
      const grpc::Status status = feed_stub_->ListAlarms(ctx.get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      for (const fv1::Alarm& a : response.alarms()) {
        if (a.rule_id() == rule) found.push_back(a);
      }
      if (found.size() >= at_least) break;
      absl::SleepFor(absl::Milliseconds(50));  // polling the feed's alarm store, with a deadline
    }
    return found;
  }

  // The feed's hand-over position as its metrics say (smartby_feed_handover_position); 0 when
  // the metrics cannot be read.
  static int64_t FeedPosition() {
    const testing::HttpResult metrics = testing::HttpGet(Feed().metrics_port(), "/metrics");
    for (absl::string_view line : absl::StrSplit(metrics.body, '\n')) {
      if (!absl::ConsumePrefix(&line, "smartby_feed_handover_position ")) continue;
      double value = 0;
      if (absl::SimpleAtod(line, &value)) return static_cast<int64_t>(value);
    }
    return 0;
  }

  static inline PlatformUnderTest* platform_ = nullptr;
  static inline std::string admin_token_;
  static inline iv1::IngestionService::Stub* stub_ = nullptr;
  static inline fv1::FeedService::Stub* feed_stub_ = nullptr;
};

TEST_F(FeedIntegrationTest, SubscriberReceivesReadingsInOrderAfterASnapshot) {
  RegisterSource("p-orden-1", "parkering");
  RegisterSource("p-orden-2", "parkering");
  const absl::Time t0 = absl::Now() - absl::Minutes(30);
  Write({ParkingReading("p-orden-1", t0, 10), ParkingReading("p-orden-2", t0, 20)});

  // The snapshot holds both sources' last values (once the feed has taken them).
  int64_t snapshot_position = 0;
  for (absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;) {
    fv1::SubscribeRequest request = ForDataset("parkering");
    request.mutable_filter()->add_source_ids("p-orden-1");
    request.mutable_filter()->add_source_ids("p-orden-2");
    auto stream = Subscribe("", request);
    auto events = ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
    int snapshot = 0;
    for (const auto& e : events) snapshot += e.has_update() && e.update().snapshot();
    if (snapshot == 2) {
      snapshot_position = events.back().snapshot_complete().position();
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));  // polling the feed's catch-up, with a deadline
  }
  ASSERT_GT(snapshot_position, 0) << "the snapshot never held both sources";

  fv1::SubscribeRequest request = ForDataset("parkering");
  request.mutable_filter()->add_source_ids("p-orden-1");
  request.mutable_filter()->add_source_ids("p-orden-2");
  auto stream = Subscribe("", request);
  ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  std::vector<iv1::Reading> batch;
  for (int i = 1; i <= 200; ++i) {
    batch.push_back(ParkingReading(i % 2 ? "p-orden-1" : "p-orden-2", t0 + absl::Seconds(i), i));
  }
  Write(batch);
  int received = 0;
  int64_t last = snapshot_position;
  auto events = ReadUntil(*stream, [&](const fv1::FeedEvent& e) {
    if (!e.has_update()) return false;
    EXPECT_GT(e.update().position(), last);
    last = e.update().position();
    EXPECT_EQ(e.update().reading().values().at("free_spaces").integer_value(), received + 1);
    return ++received == 200;
  });
  EXPECT_EQ(received, 200);
}

TEST_F(FeedIntegrationTest, StalledSubscriberDoesNotHoldUpAnotherAndResumeGetsWhatWasMissed) {
  RegisterSource("p-stall-1", "parkering");
  // A subscriber that never reads (and a small HTTP/2 window: it stalls quickly).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  auto slow_stub = fv1::FeedService::NewStub(grpc::CreateCustomChannel(
      Feed().grpc_address(), grpc::InsecureChannelCredentials(), args));
  auto stalled_ctx = Context("");
  auto stalled = slow_stub->Subscribe(stalled_ctx.get(), ForDataset("parkering"));

  auto stream = Subscribe("", ForDataset("parkering"));
  ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  const absl::Time t0 = absl::Now() - absl::Hours(1);
  constexpr int kBatches = 20, kPerBatch = 500;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<iv1::Reading> batch;
    for (int i = 0; i < kPerBatch; ++i) {
      batch.push_back(
          ParkingReading("p-stall-1", t0 + absl::Milliseconds(b * kPerBatch + i), i % 1000));
    }
    Write(batch);
  }
  int received = 0;
  int64_t last = 0, middle = 0;
  ReadUntil(*stream, [&](const fv1::FeedEvent& e) {
    EXPECT_FALSE(e.has_gap()) << "a reading subscriber must not lose updates";
    if (!e.has_update() || e.update().reading().source_id() != "p-stall-1") return false;
    EXPECT_GT(e.update().position(), last);
    last = e.update().position();
    if (++received == kBatches * kPerBatch / 2) middle = last;
    return received == kBatches * kPerBatch;
  });
  EXPECT_EQ(received, kBatches * kPerBatch);

  // Resuming after a position gets exactly what came after it, no snapshot.
  fv1::SubscribeRequest resume = ForDataset("parkering");
  resume.set_resume_after(middle);
  auto resumed = Subscribe("", resume);
  int replayed = 0;
  ReadUntil(*resumed, [&](const fv1::FeedEvent& e) {
    EXPECT_TRUE(e.has_update());
    EXPECT_FALSE(e.update().snapshot());
    return ++replayed == kBatches * kPerBatch / 2;
  });
  EXPECT_EQ(replayed, kBatches * kPerBatch / 2);

  stalled_ctx->TryCancel();
  stalled->Finish();
}

TEST_F(FeedIntegrationTest, AnonymousSubscriberGetsNoProtectedReadings) {
  RegisterSource("vann-1", "vannmaaler");
  RegisterSource("p-anon-1", "parkering");
  auto anonymous = Subscribe("", fv1::SubscribeRequest());
  ReadUntil(*anonymous, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  auto admin = Subscribe(admin_token_, ForDataset("vannmaaler"));
  ReadUntil(*admin, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });

  const absl::Time t0 = absl::Now() - absl::Minutes(10);
  Write({ParkingReading("vann-1", t0, 5)});
  Write({ParkingReading("p-anon-1", t0, 7)});
  // The admin (cleared, second factor) gets the protected reading.
  auto admin_events = ReadUntil(*admin, [](const fv1::FeedEvent& e) {
    return e.has_update() && e.update().reading().source_id() == "vann-1";
  });
  ASSERT_FALSE(admin_events.empty());
  EXPECT_EQ(admin_events.back().update().dataset(), "vannmaaler");
  // The anonymous one gets the Åpen reading written after it, and nothing protected before it.
  auto events = ReadUntil(*anonymous, [](const fv1::FeedEvent& e) {
    return e.has_update() && e.update().reading().source_id() == "p-anon-1";
  });
  ASSERT_FALSE(events.empty());
  for (const auto& e : events) {
    if (e.has_update()) {
      EXPECT_NE(e.update().dataset(), "vannmaaler");
    }
  }
}

// ---- smartctl against the real feed ----

// The blank-separated words of a table row.
std::vector<std::string> Words(const std::string& line) {
  return absl::StrSplit(line, ' ', absl::SkipEmpty());
}

// smartctl with a private config directory and `token` ("" for none), against the feed.
testing::CommandResult Smartctl(const std::string& feed_address, const std::string& token,
                                const std::vector<std::string>& args) {
  static TempDir* config_home = new TempDir();
  std::vector<std::string> argv = {BinaryPath("smartctl"), "--insecure", "--server", feed_address,
                                   "--timeout", "60s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunCommand(argv, {{"XDG_CONFIG_HOME", config_home->path()},
                                    {"SMARTCTL_SERVER", ""},
                                    {"SMARTCTL_TOKEN", token}});
}

TEST_F(FeedIntegrationTest, SmartctlFeedHistoryPrintsDownsampledRowsWithThePeak) {
  RegisterSource("p-hist-1", "parkering");
  const absl::Time t0 = absl::Now() - absl::Minutes(50);
  std::vector<int64_t> values;
  for (int i = 0; i < 100; ++i) values.push_back(i == 37 ? 1999 : 100 + i % 7);
  Write(Readings("p-hist-1", t0, 0, values));

  testing::CommandResult r =
      Smartctl(Feed().grpc_address(), admin_token_,
               {"feed", "history", "parkering", "--source", "p-hist-1", "--field", "free_spaces",
                "--from", "-1h", "--points", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_EQ(Words(lines[0]), (std::vector<std::string>{"TIME", "VALUE"}));
  EXPECT_LE(lines.size(), 11u) << "at most --points rows: " << r.out;
  EXPECT_NE(r.out.find(" 1999\n"), std::string::npos) << "the peak survives: " << r.out;
  EXPECT_NE(r.err.find("points of 100 readings"), std::string::npos) << r.err;

  testing::CommandResult json =
      Smartctl(Feed().grpc_address(), admin_token_,
               {"feed", "history", "parkering", "--source", "p-hist-1", "--field", "free_spaces",
                "--from", "-1h", "--points", "10", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json parsed = nlohmann::json::parse(json.out);
  ASSERT_EQ(parsed["series"].size(), 1u) << json.out;
  EXPECT_EQ(parsed["series"][0]["raw_points"], "100");

  // The protected dataset's history is not for the anonymous.
  testing::CommandResult anonymous =
      Smartctl(Feed().grpc_address(), "",
               {"feed", "history", "vannmaaler", "--field", "free_spaces", "--from", "-1h"});
  EXPECT_NE(anonymous.exit_code, 0) << anonymous.out;
  EXPECT_EQ(anonymous.out, "");
}

// Ten days: the feed asks ingestion for 5-minute-aligned windows (answered from its rollups)
// and the two unaligned edges; the result keeps max_points, the peak and the dip at the edge,
// and counts every reading.
TEST_F(FeedIntegrationTest, LongHistoryKeepsMaxPointsThePeaksAndTheExactReadingCount) {
  RegisterSource("p-long-1", "parkering");
  const absl::Time end = absl::Now();
  const absl::Time start = end - absl::Hours(240) + absl::Seconds(13);  // inside a 5-minute bucket
  const absl::Time peak_time = start + absl::Hours(100) + absl::Seconds(17);
  std::vector<iv1::Reading> readings;
  // Every 7 minutes from just after the start; the first reading, in the leading edge, is the
  // lowest; one in the middle is the peak.
  for (absl::Time t = start + absl::Seconds(2); t < end; t += absl::Minutes(7)) {
    const int64_t value = t == start + absl::Seconds(2) ? 0 : 100 + readings.size() % 50;
    readings.push_back(ParkingReading("p-long-1", t, value));
  }
  readings.push_back(ParkingReading("p-long-1", peak_time, 1999));
  readings.push_back(ParkingReading("p-long-1", start - absl::Seconds(1), 2000));  // outside
  Write(readings);

  fv1::GetHistoryRequest request;
  request.set_dataset("parkering");
  request.set_source_id("p-long-1");
  request.set_field("free_spaces");
  *request.mutable_start_time() = ToTimestamp(start);
  *request.mutable_end_time() = ToTimestamp(end);
  request.set_max_points(200);
  fv1::GetHistoryResponse response;
  const grpc::Status status =
      feed_stub_->GetHistory(Context(admin_token_).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.series_size(), 1);
  const fv1::HistorySeries& series = response.series(0);
  EXPECT_EQ(series.raw_points(), static_cast<int64_t>(readings.size()) - 1)
      << "every reading in the range, and only those";
  EXPECT_LE(series.points_size(), 200);
  EXPECT_GT(series.points_size(), 150) << "the budget is used, not wasted";
  bool peak = false, dip = false;
  int64_t previous = INT64_MIN;
  for (const fv1::HistoryPoint& p : series.points()) {
    const int64_t t = TimeUtil::TimestampToMicroseconds(p.time());
    EXPECT_GT(t, previous) << "points in time order";
    previous = t;
    EXPECT_NE(p.value(), 2000) << "a reading before the start";
    if (p.value() == 1999) peak = t == absl::ToUnixMicros(peak_time);
    if (p.value() == 0) dip = t == absl::ToUnixMicros(start + absl::Seconds(2));
  }
  EXPECT_TRUE(peak) << "the peak survives at its own time";
  EXPECT_TRUE(dip) << "the lowest reading, in the leading edge, survives";
}

TEST_F(FeedIntegrationTest, SmartctlAggregateShowPrintsShortNumbers) {
  RegisterSource("p-agg-1", "parkering");
  const absl::Time now = absl::Now();
  std::vector<iv1::Reading> readings;
  for (double t : {0.1, 0.2}) {  // their mean is 0.15000000000000002 in binary floating point
    iv1::Reading r;
    r.set_source_id("p-agg-1");
    *r.mutable_time() = ToTimestamp(now - absl::Seconds(t * 100));
    (*r.mutable_values())["temperature"].set_double_value(t);
    readings.push_back(r);
  }
  Write(readings);
  testing::CommandResult r;
  for (absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;) {
    r = Smartctl(Feed().grpc_address(), admin_token_,
                 {"aggregate", "show", "parkering", "--source", "p-agg-1", "--field", "temperature",
                  "--window", "1h"});
    if (r.exit_code == 0 && r.out.find("p-agg-1") != std::string::npos &&
        r.out.find(" 2 ") != std::string::npos) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));  // polling the feed's aggregates, with a deadline
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 2u) << r.out;
  EXPECT_EQ(Words(lines[1]),
            (std::vector<std::string>{"p-agg-1", "temperature", "1h", "2", "0.1", "0.2", "0.15"}))
      << r.out;
  EXPECT_EQ(r.out.find("0.15000000000000002"), std::string::npos) << r.out;
}

TEST_F(FeedIntegrationTest, SmartctlChannelCreateWithASecretFileShowsHasSecretButNeverTheKey) {
  const std::string key = "feed-test-signing-key-0123456789abcdef";
  const std::string key_file = platform_->dir() + "/hook.key";
  std::ofstream(key_file) << key << "\n";
  testing::CommandResult created =
      Smartctl(Feed().grpc_address(), admin_token_,
               {"channel", "create", "signed-hook", "--webhook", "http://127.0.0.1:9/signed",
                "--secret-file", key_file});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  EXPECT_EQ(created.out.find(key), std::string::npos) << created.out;
  testing::CommandResult plain =
      Smartctl(Feed().grpc_address(), admin_token_,
               {"channel", "create", "plain-hook", "--webhook", "http://127.0.0.1:9/plain"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const std::string short_file = platform_->dir() + "/short.key";
  std::ofstream(short_file) << "too-short\n";
  testing::CommandResult refused =
      Smartctl(Feed().grpc_address(), admin_token_,
               {"channel", "create", "short-hook", "--webhook", "http://127.0.0.1:9/short",
                "--secret-file", short_file});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;

  testing::CommandResult list =
      Smartctl(Feed().grpc_address(), admin_token_, {"channel", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out.find(key), std::string::npos);
  EXPECT_EQ(list.out.find("short-hook"), std::string::npos) << "a refused channel was created";
  std::map<std::string, std::string> has_secret;  // name -> HAS_SECRET cell
  std::vector<std::string> header;
  for (absl::string_view line : absl::StrSplit(list.out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> words = Words(std::string(line));
    if (header.empty()) {
      header = words;
      continue;
    }
    const auto column = std::find(header.begin(), header.end(), "HAS_SECRET") - header.begin();
    if (static_cast<size_t>(column) < words.size()) has_secret[words[1]] = words[column];
  }
  EXPECT_EQ(has_secret["signed-hook"], "yes") << list.out;
  EXPECT_EQ(has_secret["plain-hook"], "no") << list.out;

  testing::CommandResult json =
      Smartctl(Feed().grpc_address(), admin_token_, {"channel", "list", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out.find(key), std::string::npos);
  bool found = false;
  const nlohmann::json channels = nlohmann::json::parse(json.out)["channels"];
  for (const auto& channel : channels) {
    if (channel["name"] != "signed-hook") continue;
    found = true;
    EXPECT_EQ(channel.value("has_secret", false), true) << channel.dump();
    EXPECT_FALSE(channel.contains("secret")) << channel.dump();
  }
  EXPECT_TRUE(found) << json.out;
}

TEST_F(FeedIntegrationTest, SmartctlFeedWatchWithAlarmsPrintsTheAlarmLine) {
  RegisterSource("p-watch-alarm", "parkering");
  CreateAboveRule("p-watch-alarm", 100);
  // The watch, until its first raised-alarm line: grep -m1 exits then, and smartctl ends when
  // its output is gone (the readings below keep coming, so it notices).
  const std::string smartctl = BinaryPath("smartctl");
  std::atomic<bool> done{false};
  testing::CommandResult watch;
  std::thread watcher([&] {
    watch = testing::RunCommand(
        {"/bin/sh", "-c",
         absl::StrCat("'", smartctl, "' --insecure --server ", Feed().grpc_address(),
                      " feed watch parkering --source p-watch-alarm --alarms",
                      " | grep -m1 '^ALARM raised'")},
        {{"XDG_CONFIG_HOME", platform_->dir()}, {"SMARTCTL_SERVER", ""},
         {"SMARTCTL_TOKEN", admin_token_}},
        "", absl::Seconds(60));
    done.store(true);
  });
  // Readings that raise and clear the rule, until the watch has printed an alarm.
  const absl::Time t0 = absl::Now() - absl::Minutes(5);
  for (int i = 0; !done.load() && i < 300; ++i) {
    Write({ParkingReading("p-watch-alarm", t0 + absl::Milliseconds(i), i % 2 == 0 ? 150 : 5)});
    absl::SleepFor(absl::Milliseconds(100));  // pacing the load while polling `done`
  }
  watcher.join();
  ASSERT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  EXPECT_TRUE(absl::StartsWith(watch.out, "ALARM raised rule=restart-p-watch-alarm "))
      << watch.out;
  EXPECT_NE(watch.out.find(" dataset=parkering source=p-watch-alarm field=free_spaces value=150 "),
            std::string::npos)
      << watch.out;
}

// ---- the hand-over across restarts ----

// A restart while readings keep coming: the feed is stopped (SIGTERM), readings are written, it
// starts again. A subscriber that saw everything up to the stop resumes with the last position
// it saw, right away (as a client that reconnects does).
TEST_F(FeedIntegrationTest, AfterSigtermAResumeGetsExactlyTheReadingsWrittenWhileStopped) {
  RegisterSource("p-restart-1", "parkering");
  const absl::Time t0 = absl::Now() - absl::Minutes(20);
  auto stream = Subscribe("", ForSource("p-restart-1"));
  ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  Write(Readings("p-restart-1", t0, 0, {1, 2, 3, 4, 5}));
  int64_t last_seen = 0;
  ASSERT_EQ(ReadValues(*stream, 5, &last_seen), (std::vector<int64_t>{1, 2, 3, 4, 5}));

  stream.reset();
  ASSERT_EQ(platform_->Stop("feed"), 0) << "the feed should stop cleanly on SIGTERM";
  std::vector<int64_t> missed;  // acknowledged by ingestion while the feed is down
  for (int64_t v = 6; v <= 30; ++v) missed.push_back(v);
  Write(Readings("p-restart-1", t0, 100, missed));
  StartFeed();

  auto resumed = Subscribe("", ForSource("p-restart-1", last_seen));
  EXPECT_EQ(ReadValues(*resumed, missed.size(), &last_seen), missed)
      << "resuming after the last position seen should give exactly what was missed, in order";
  // And then only what comes next: nothing is sent twice.
  Write(Readings("p-restart-1", t0, 200, {31}));
  EXPECT_EQ(ReadValues(*resumed, 1, &last_seen), std::vector<int64_t>{31});
}

TEST_F(FeedIntegrationTest, AfterSigtermAlarmRulesDoNotFireAgainForReadingsTakenBeforeTheStop) {
  RegisterSource("p-refire-1", "parkering");
  const std::string rule = CreateAboveRule("p-refire-1", 100);
  const absl::Time t0 = absl::Now() - absl::Minutes(25);
  auto stream = Subscribe("", ForSource("p-refire-1"));
  ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  const std::vector<int64_t> before = {1, 2, 150, 4, 5};  // raises, then clears
  Write(Readings("p-refire-1", t0, 0, before));
  int64_t last_seen = 0;
  ASSERT_EQ(ReadValues(*stream, before.size(), &last_seen), before);
  std::vector<fv1::Alarm> alarms = AlarmsOf(rule, 1);
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0].value(), 150);

  stream.reset();
  ASSERT_EQ(platform_->Stop("feed"), 0);
  Write(Readings("p-refire-1", t0, 100, {6, 240, 8}));  // 240 raises the rule again
  StartFeed();

  // Once the new reading raised its alarm, the old ones (which the feed re-read to rebuild its
  // state) have been through the hub too: none of them raised a second alarm.
  alarms = AlarmsOf(rule, 2);
  ASSERT_EQ(alarms.size(), 2u);
  std::multiset<double> values;
  for (const fv1::Alarm& a : alarms) values.insert(a.value());
  EXPECT_EQ(values, (std::multiset<double>{150, 240}));
}

// The subscriber watches one source while others keep the feed moving, so the last position it
// saw is older than the position the feed records at its stop. The feed re-reads --resume_ring
// positions on start (README, "Streams"), so what the subscriber missed is still held.
TEST_F(FeedIntegrationTest, AfterSigtermAResumeOlderThanTheRecordedPositionIsStillHeld) {
  RegisterSource("p-floor-1", "parkering");
  RegisterSource("p-floor-2", "parkering");
  const absl::Time t0 = absl::Now() - absl::Minutes(20);
  auto watched = Subscribe("", ForSource("p-floor-1"));
  auto other = Subscribe("", ForSource("p-floor-2"));
  ReadUntil(*watched, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  ReadUntil(*other, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  Write(Readings("p-floor-1", t0, 0, {1, 2, 3}));
  int64_t last_seen = 0, other_position = 0;
  ASSERT_EQ(ReadValues(*watched, 3, &last_seen), (std::vector<int64_t>{1, 2, 3}));
  Write(Readings("p-floor-2", t0, 0, {7, 8}));
  ASSERT_EQ(ReadValues(*other, 2, &other_position), (std::vector<int64_t>{7, 8}));
  ASSERT_GT(other_position, last_seen);

  watched.reset();
  other.reset();
  ASSERT_EQ(platform_->Stop("feed"), 0);
  Write(Readings("p-floor-1", t0, 100, {4, 5, 6}));
  StartFeed();

  auto resumed = Subscribe("", ForSource("p-floor-1", last_seen));
  EXPECT_EQ(ReadValues(*resumed, 3, &last_seen), (std::vector<int64_t>{4, 5, 6}));
}

TEST_F(FeedIntegrationTest, AfterKill9UnderAWriteLoadNoAcknowledgedReadingIsMissingOnResume) {
  RegisterSource("p-kill-1", "parkering");
  // Reading number v is at t0 + v ms (free_spaces has a range, the time does not).
  const absl::Time t0 = absl::FromUnixMillis(absl::ToUnixMillis(absl::Now() - absl::Hours(2)));
  const auto sequence_of = [t0](const fv1::Update& update) {
    return (TimeUtil::TimestampToMilliseconds(update.reading().time()) - absl::ToUnixMillis(t0));
  };
  auto stream = Subscribe("", ForSource("p-kill-1"));
  ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });

  // The writer: batches of 50 readings numbered 1, 2, 3, ...; `acknowledged` is the highest
  // number ingestion accepted (WriteReadings answered OK for its whole batch).
  constexpr int kBatch = 50;
  std::atomic<int64_t> acknowledged{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load()) {
      const int64_t first = acknowledged.load() + 1;
      iv1::WriteReadingsRequest request;
      for (int64_t v = first; v < first + kBatch; ++v) {
        *request.add_readings() = ParkingReading("p-kill-1", t0 + absl::Milliseconds(v), v % 2000);
      }
      auto ctx = Context(admin_token_);
      iv1::WriteReadingsResponse response;
      const grpc::Status status = stub_->WriteReadings(ctx.get(), request, &response);
      if (!status.ok() || response.accepted() != kBatch) {
        ADD_FAILURE() << "ingestion refused a batch from " << first << ": "
                      << status.error_message() << response.ShortDebugString().substr(0, 2000);
        return;
      }
      acknowledged.store(first + kBatch - 1);
    }
  });

  // Reading numbers the subscriber got, in order, across the kill and the resume.
  std::vector<int64_t> values;
  int64_t last_seen = 0;
  ReadUntil(*stream, [&](const fv1::FeedEvent& e) {
    if (!e.has_update()) return false;
    EXPECT_GT(e.update().position(), last_seen);
    last_seen = e.update().position();
    values.push_back(sequence_of(e.update()));
    return values.size() >= 500;
  });
  ASSERT_GE(values.size(), 500u);
  ASSERT_EQ(kill(Feed().pid(), SIGKILL), 0);
  // What was already on its way before the kill still counts as seen.
  ReadUntil(*stream, [&](const fv1::FeedEvent& e) {
    if (e.has_update()) {
      EXPECT_GT(e.update().position(), last_seen);
      last_seen = e.update().position();
      values.push_back(sequence_of(e.update()));
    }
    return false;
  });
  stream.reset();
  platform_->Stop("feed");  // reaps it
  // The load goes on while the feed is dead.
  const int64_t at_kill = acknowledged.load();
  for (absl::Time deadline = absl::Now() + absl::Seconds(30);
       acknowledged.load() < at_kill + 1000 && absl::Now() < deadline;) {
    absl::SleepFor(absl::Milliseconds(10));  // polling the writer's progress, with a deadline
  }
  stop.store(true);
  writer.join();
  const int64_t total = acknowledged.load();
  ASSERT_GE(total, at_kill + 1000);

  StartFeed();
  // Resume once the feed has taken the readings up to the last position seen again (see the
  // next test for a resume that comes before).
  for (absl::Time deadline = absl::Now() + absl::Seconds(30);
       FeedPosition() < last_seen && absl::Now() < deadline;) {
    absl::SleepFor(absl::Milliseconds(20));  // polling the feed's catch-up, with a deadline
  }
  auto resumed = Subscribe("", ForSource("p-kill-1", last_seen));
  std::vector<int64_t> rest =
      ReadValues(*resumed, static_cast<size_t>(total - static_cast<int64_t>(values.size())),
                 &last_seen, sequence_of);
  values.insert(values.end(), rest.begin(), rest.end());
  std::vector<int64_t> expected(total);
  for (int64_t v = 1; v <= total; ++v) expected[v - 1] = v;
  EXPECT_EQ(values.size(), expected.size());
  EXPECT_TRUE(values == expected) << "every acknowledged value once, in order";
}

// After a crash the recorded position can be older than what a subscriber saw (it is recorded at
// most every --checkpoint_interval). A subscriber that resumes before the restarted feed has
// re-read that far must still get nothing it saw before: only positions after resume_after.
TEST_F(FeedIntegrationTest, AResumeBeforeTheRestartedFeedCaughtUpGetsNothingTwice) {
  // A feed that records its position once (the first batch after its start), then not for an
  // hour: the kill below leaves the recorded position behind what the subscriber saw.
  ASSERT_EQ(platform_->Stop("feed"), 0);
  StartFeed({"--checkpoint_interval=1h"});
  RegisterSource("p-dup-1", "parkering");
  const absl::Time t0 = absl::Now() - absl::Minutes(40);
  auto stream = Subscribe("", ForSource("p-dup-1"));
  ReadUntil(*stream, [](const fv1::FeedEvent& e) { return e.has_snapshot_complete(); });
  Write(Readings("p-dup-1", t0, 0, {1, 2, 3, 4, 5}));
  int64_t last_seen = 0;
  ASSERT_EQ(ReadValues(*stream, 5, &last_seen), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  Write(Readings("p-dup-1", t0, 10, {6, 7, 8}));
  ASSERT_EQ(ReadValues(*stream, 3, &last_seen), (std::vector<int64_t>{6, 7, 8}));
  stream.reset();
  ASSERT_EQ(kill(Feed().pid(), SIGKILL), 0);
  platform_->Stop("feed");  // reaps it

  // The feed comes back while ingestion is away, so it cannot catch up before the subscriber
  // resumes; then ingestion comes back and the feed re-reads from its recorded position.
  ASSERT_EQ(platform_->Stop("ingestion"), 0);
  StartFeed();
  auto resumed = Subscribe("", ForSource("p-dup-1", last_seen));
  StartIngestion();
  Write(Readings("p-dup-1", t0, 20, {9, 10}));
  EXPECT_EQ(ReadValues(*resumed, 2, &last_seen), (std::vector<int64_t>{9, 10}))
      << "the resumed stream sent updates at or before resume_after again";
}

}  // namespace
}  // namespace smartby
