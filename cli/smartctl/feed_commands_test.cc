// Unit tests of the feed nouns (feed, aggregate, kpi, alarm, channel): flag values (--window, the
// alarm condition flags, channel targets), how updates, gaps, rules and targets are printed, and
// then the commands themselves, run in-process (RunCommandLine) against a fake FeedService on
// loopback that records what it was sent.
#include "cli/smartctl/feed_commands.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/services.h"
#include "smartcity/feed/v1/feed.grpc.pb.h"

namespace smartby::smartctl {
namespace {

namespace v1 = smartcity::feed::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

ParsedFlags Flags(const std::vector<std::pair<std::string, std::string>>& values) {
  ParsedFlags flags;
  for (const auto& [name, value] : values) flags.Add(name, value);
  return flags;
}

// ---- flag values ------------------------------------------------------------------------------

TEST(FeedWindow, ParsesTheThreeWindows) {
  EXPECT_EQ(*ParseWindow("1m"), v1::AGGREGATE_WINDOW_1_MINUTE);
  EXPECT_EQ(*ParseWindow("5m"), v1::AGGREGATE_WINDOW_5_MINUTES);
  EXPECT_EQ(*ParseWindow("1h"), v1::AGGREGATE_WINDOW_1_HOUR);
  EXPECT_EQ(*ParseWindow("60m"), v1::AGGREGATE_WINDOW_1_HOUR);
  EXPECT_EQ(*ParseWindow(" 5MIN "), v1::AGGREGATE_WINDOW_5_MINUTES);
  for (const char* bad : {"", "2m", "1d", "hour"}) {
    absl::StatusOr<v1::AggregateWindow> w = ParseWindow(bad);
    ASSERT_FALSE(w.ok()) << bad;
    EXPECT_EQ(ExitCodeOf(w.status()), kExitUsage) << bad;
    EXPECT_THAT(w.status().message(), HasSubstr("1m, 5m or 1h")) << bad;
  }
  EXPECT_EQ(WindowName(v1::AGGREGATE_WINDOW_5_MINUTES), "5m");
  EXPECT_EQ(WindowName(v1::AGGREGATE_WINDOW_UNSPECIFIED), "");
}

TEST(FeedAlarmRule, AboveWithForAndHysteresis) {
  absl::StatusOr<v1::AlarmRule> r = AlarmRuleFrom(
      "warm", Flags({{"dataset", "bathing"}, {"source", "buoy-3"}, {"field", "temperature"},
                     {"above", "25.5"}, {"for", "5m"}, {"hysteresis", "2"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name(), "warm");
  EXPECT_EQ(r->dataset(), "bathing");
  EXPECT_EQ(r->source_id(), "buoy-3");
  EXPECT_EQ(r->field(), "temperature");
  EXPECT_EQ(r->kind(), v1::ALARM_KIND_ABOVE);
  EXPECT_EQ(r->upper(), 25.5);
  EXPECT_EQ(r->for_duration().seconds(), 300);
  EXPECT_EQ(r->hysteresis(), 2);
  EXPECT_EQ(ConditionText(*r), "temperature > 25.5 for 5m (hysteresis 2)");
}

TEST(FeedAlarmRule, BelowOutsideAndNoData) {
  absl::StatusOr<v1::AlarmRule> below =
      AlarmRuleFrom("cold", Flags({{"dataset", "d"}, {"field", "t"}, {"below", "-5"}}));
  ASSERT_TRUE(below.ok()) << below.status();
  EXPECT_EQ(below->kind(), v1::ALARM_KIND_BELOW);
  EXPECT_EQ(below->lower(), -5);
  EXPECT_EQ(ConditionText(*below), "t < -5");

  absl::StatusOr<v1::AlarmRule> outside =
      AlarmRuleFrom("band", Flags({{"dataset", "d"}, {"field", "t"}, {"outside", "2,25"}}));
  ASSERT_TRUE(outside.ok()) << outside.status();
  EXPECT_EQ(outside->kind(), v1::ALARM_KIND_OUTSIDE);
  EXPECT_EQ(outside->lower(), 2);
  EXPECT_EQ(outside->upper(), 25);
  EXPECT_EQ(ConditionText(*outside), "t outside 2..25");

  absl::StatusOr<v1::AlarmRule> silent =
      AlarmRuleFrom("silent", Flags({{"dataset", "d"}, {"no-data", "15m"}}));
  ASSERT_TRUE(silent.ok()) << silent.status();
  EXPECT_EQ(silent->kind(), v1::ALARM_KIND_NO_DATA);
  EXPECT_EQ(silent->for_duration().seconds(), 900);
  EXPECT_EQ(ConditionText(*silent), "no data for 15m");
}

TEST(FeedAlarmRule, RefusesWhatDoesNotMakeARule) {
  const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>>
      cases = {
          {{{"field", "t"}, {"above", "1"}}, "--dataset"},
          {{{"dataset", "d"}, {"field", "t"}}, "one of --above"},
          {{{"dataset", "d"}, {"field", "t"}, {"above", "1"}, {"below", "0"}}, "only one"},
          {{{"dataset", "d"}, {"above", "1"}}, "--field"},
          {{{"dataset", "d"}, {"field", "t"}, {"above", "warm"}}, "--above"},
          {{{"dataset", "d"}, {"field", "t"}, {"above", "nan"}}, "--above"},
          {{{"dataset", "d"}, {"field", "t"}, {"outside", "5"}}, "LOW,HIGH"},
          {{{"dataset", "d"}, {"field", "t"}, {"outside", "5,2"}}, "must be below"},
          {{{"dataset", "d"}, {"no-data", "0"}}, "--no-data"},
          {{{"dataset", "d"}, {"no-data", "15m"}, {"for", "5m"}}, "--for"},
          {{{"dataset", "d"}, {"field", "t"}, {"above", "1"}, {"for", "soon"}}, "--for"},
          {{{"dataset", "d"}, {"field", "t"}, {"above", "1"}, {"hysteresis", "-1"}},
           "--hysteresis"},
      };
  for (const auto& [flags, expected] : cases) {
    absl::StatusOr<v1::AlarmRule> r = AlarmRuleFrom("x", Flags(flags));
    ASSERT_FALSE(r.ok()) << expected;
    EXPECT_EQ(ExitCodeOf(r.status()), kExitUsage) << expected;
    EXPECT_THAT(r.status().message(), HasSubstr(expected));
  }
}

TEST(FeedChannel, WebhookEmailAndSms) {
  absl::StatusOr<v1::Channel> hook =
      ChannelFrom("ops", Flags({{"webhook", "https://ops.example.no/hook"}}));
  ASSERT_TRUE(hook.ok()) << hook.status();
  EXPECT_EQ(hook->kind(), v1::CHANNEL_KIND_WEBHOOK);
  EXPECT_EQ(hook->target(), "https://ops.example.no/hook");
  absl::StatusOr<v1::Channel> mail = ChannelFrom("m", Flags({{"email", "drift@kommune.no"}}));
  ASSERT_TRUE(mail.ok()) << mail.status();
  EXPECT_EQ(mail->kind(), v1::CHANNEL_KIND_EMAIL);
  EXPECT_EQ(mail->target(), "drift@kommune.no");
  absl::StatusOr<v1::Channel> sms = ChannelFrom("s", Flags({{"sms", "+47 912 34 567"}}));
  ASSERT_TRUE(sms.ok()) << sms.status();
  EXPECT_EQ(sms->kind(), v1::CHANNEL_KIND_SMS);
  EXPECT_EQ(sms->target(), "+4791234567");
}

TEST(FeedChannel, RefusesBadTargetsAndWhatTheApiCannotCarry) {
  const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>>
      cases = {
          {{}, "missing the target"},
          {{{"webhook", "https://a.no/x"}, {"email", "a@b.no"}}, "only one"},
          {{{"webhook", "ftp://a.no/x"}}, "https://"},
          {{{"webhook", "https://a.no/x"}, {"secret-file", "/nonexistent/s"}}, "cannot read"},
          {{{"email", "a@b.no"}, {"secret-file", "/nonexistent/s"}}, "--webhook and --sms only"},
          {{{"email", "a@b.no,c@d.no"}}, "one address per channel"},
          {{{"email", "nobody"}}, "not an e-mail address"},
          {{{"email", "a@b.no"}, {"smtp", "smtp.b.no:25"}}, "SMTP server"},
          {{{"email", "a@b.no"}, {"from", "x@b.no"}}, "sender address"},
          {{{"sms", "91234567"}}, "international form"},
          {{{"sms", "+4791234567"}, {"gateway", "https://gw"}}, "SMS gateway URL"},
          {{{"sms", "+4791234567"}, {"smtp", "x:25"}}, "does not go with"},
      };
  for (const auto& [flags, expected] : cases) {
    absl::StatusOr<v1::Channel> c = ChannelFrom("x", Flags(flags));
    ASSERT_FALSE(c.ok()) << expected;
    EXPECT_EQ(ExitCodeOf(c.status()), kExitUsage) << expected;
    EXPECT_THAT(c.status().message(), HasSubstr(expected));
  }
}

// A file under the system temp dir holding `text`, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    std::string pattern = (std::filesystem::temp_directory_path() / "smartctl-key-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    path_ = pattern;
    (void)!::write(fd, text.data(), text.size());
    ::close(fd);
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(FeedChannel, SecretFileSetsTheChannelsOwnKey) {
  const std::string key(40, 'k');
  TempFile good(key + "\n");
  absl::StatusOr<v1::Channel> hook = ChannelFrom(
      "ops", Flags({{"webhook", "https://ops.example.no/hook"}, {"secret-file", good.path()}}));
  ASSERT_TRUE(hook.ok()) << hook.status();
  EXPECT_EQ(hook->secret(), key) << "the trailing line break is not part of the key";
  absl::StatusOr<v1::Channel> sms =
      ChannelFrom("s", Flags({{"sms", "+4791234567"}, {"secret-file", good.path()}}));
  ASSERT_TRUE(sms.ok()) << sms.status();
  EXPECT_EQ(sms->secret(), key);
  absl::StatusOr<v1::Channel> without =
      ChannelFrom("ops", Flags({{"webhook", "https://ops.example.no/hook"}}));
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(without->secret().empty());

  TempFile short_key("only-31-bytes-long-0123456789ab\n");
  absl::StatusOr<v1::Channel> refused = ChannelFrom(
      "ops", Flags({{"webhook", "https://a.no/x"}, {"secret-file", short_key.path()}}));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ExitCodeOf(refused.status()), kExitUsage);
  EXPECT_THAT(refused.status().message(), HasSubstr("holds 31 bytes"));
  EXPECT_THAT(refused.status().message(), HasSubstr(short_key.path()));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("only-31")));
}

TEST(FeedBoundingBox, ParsesWestSouthEastNorth) {
  absl::StatusOr<smartcity::common::v1::BoundingBox> box = ParseBoundingBox("5.6,58.9,5.8,59.0");
  ASSERT_TRUE(box.ok()) << box.status();
  EXPECT_EQ(box->min_longitude(), 5.6);
  EXPECT_EQ(box->min_latitude(), 58.9);
  EXPECT_EQ(box->max_longitude(), 5.8);
  EXPECT_EQ(box->max_latitude(), 59.0);
  ASSERT_TRUE(ParseBoundingBox(" -10.5, -20 ,10.5, 20").ok());
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"5.6,58.9,5.8", "minLon,minLat,maxLon,maxLat"},
      {"5.6,58.9,5.8,59,1", "minLon,minLat,maxLon,maxLat"},
      {"5.6,north,5.8,59.0", "--bbox (minLat): \"north\" is not a number"},
      {"5.6,95,5.8,96", "--bbox (minLat): 95 is not a latitude"},
      {"-181,58.9,5.8,59.0", "--bbox (minLon): -181 is not a longitude"},
      {"5.8,58.9,5.6,59.0", "minLon must be below maxLon"},
      {"5.6,59.0,5.8,58.9", "minLat below maxLat"},
  };
  for (const auto& [text, expected] : refused) {
    absl::StatusOr<smartcity::common::v1::BoundingBox> b = ParseBoundingBox(text);
    ASSERT_FALSE(b.ok()) << text;
    EXPECT_EQ(ExitCodeOf(b.status()), kExitUsage) << text;
    EXPECT_THAT(b.status().message(), HasSubstr(expected)) << text;
  }
}

TEST(FeedHistoryRequest, FromArgumentsAndFlags) {
  const absl::Time now = absl::FromUnixSeconds(1769851800);
  absl::StatusOr<v1::GetHistoryRequest> r = HistoryRequestFrom(
      {}, Flags({{"source", "p-1"}, {"field", "free_spaces"}, {"from", "-7d"}, {"to", "-1d"},
                 {"points", "200"}}),
      now);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dataset(), "");
  EXPECT_EQ(r->source_id(), "p-1");
  EXPECT_EQ(r->field(), "free_spaces");
  EXPECT_EQ(r->start_time().seconds(), 1769851800 - 7 * 86400);
  EXPECT_EQ(r->end_time().seconds(), 1769851800 - 86400);
  EXPECT_EQ(r->max_points(), 200);
  absl::StatusOr<v1::GetHistoryRequest> defaults =
      HistoryRequestFrom({"parking"}, Flags({{"field", "free_spaces"}}), now);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->dataset(), "parking");
  EXPECT_EQ(defaults->start_time().seconds(), 1769851800 - 86400) << "--from defaults to -24h";
  EXPECT_FALSE(defaults->has_end_time());
  EXPECT_EQ(defaults->max_points(), 0) << "the feed's own default";

  const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>>
      refused = {
          {{{"field", "f"}}, "give the DATASET, or --source"},
          {{{"source", "p-1"}}, "missing --field"},
          {{{"source", "p-1"}, {"field", "f"}, {"from", "7d"}}, "-7d for 7d ago"},
          {{{"source", "p-1"}, {"field", "f"}, {"from", "-1d"}, {"to", "-2d"}},
           "--to must be after"},
          {{{"source", "p-1"}, {"field", "f"}, {"points", "1"}}, "--points: 2 to 10000"},
          {{{"source", "p-1"}, {"field", "f"}, {"points", "many"}}, "--points: \"many\""},
          {{{"source", "p-1"}, {"field", "f"}, {"points", "20000"}}, "--points: 2 to 10000"},
      };
  for (const auto& [flags, expected] : refused) {
    absl::StatusOr<v1::GetHistoryRequest> bad = HistoryRequestFrom({}, Flags(flags), now);
    ASSERT_FALSE(bad.ok()) << expected;
    EXPECT_EQ(ExitCodeOf(bad.status()), kExitUsage) << expected;
    EXPECT_THAT(bad.status().message(), HasSubstr(expected));
  }
}

v1::AlarmEvent MakeAlarmEvent(v1::AlarmEventKind kind, const std::string& rule_name) {
  v1::AlarmEvent e;
  e.set_kind(kind);
  e.mutable_rule()->set_id("r-1");
  e.mutable_rule()->set_name(rule_name);
  e.mutable_rule()->set_kind(v1::ALARM_KIND_ABOVE);
  v1::Alarm* a = e.mutable_alarm();
  a->set_id("a-7");
  a->set_rule_id("r-1");
  a->set_dataset("bathing");
  a->set_source_id("buoy-3");
  a->set_field("temperature");
  a->set_value(26.499999999999996);
  return e;
}

TEST(FeedPrinting, AlarmEventLines) {
  EXPECT_EQ(AlarmEventLine(MakeAlarmEvent(v1::ALARM_EVENT_KIND_RAISED, "warm-water")),
            "ALARM raised rule=warm-water dataset=bathing source=buoy-3 field=temperature "
            "value=26.5 id=a-7");
  v1::AlarmEvent acked = MakeAlarmEvent(v1::ALARM_EVENT_KIND_ACKNOWLEDGED, "Varmt vann");
  acked.mutable_alarm()->set_acknowledged_by("user:kari");
  EXPECT_EQ(AlarmEventLine(acked),
            "ALARM acknowledged rule=\"Varmt vann\" dataset=bathing source=buoy-3 "
            "field=temperature value=26.5 by=user:kari id=a-7");
  v1::AlarmEvent silent = MakeAlarmEvent(v1::ALARM_EVENT_KIND_CLEARED, "");
  silent.mutable_rule()->set_kind(v1::ALARM_KIND_NO_DATA);
  silent.mutable_alarm()->clear_field();
  EXPECT_EQ(AlarmEventLine(silent),
            "ALARM cleared rule=r-1 dataset=bathing source=buoy-3 id=a-7");
}

TEST(FeedPrinting, HistoryRows) {
  v1::GetHistoryResponse one;
  v1::HistorySeries* s = one.add_series();
  s->set_source_id("p-1");
  for (double v : {10.299999999999999, 12.0}) {
    v1::HistoryPoint* p = s->add_points();
    p->mutable_time()->set_seconds(1769851800 + s->points_size());
    p->set_value(v);
  }
  std::ostringstream out;
  PrintHistory(one, out);
  EXPECT_EQ(out.str(),
            "TIME                   VALUE\n"
            "2026-01-31T09:30:01Z   10.3\n"
            "2026-01-31T09:30:02Z   12\n");
  v1::GetHistoryResponse two = one;
  two.add_series()->set_source_id("p-2");
  two.mutable_series(1)->add_points()->set_value(-3.25);
  two.mutable_series(1)->mutable_points(0)->mutable_time()->set_seconds(1769851803);
  std::ostringstream both;
  PrintHistory(two, both);
  EXPECT_THAT(both.str(), HasSubstr("SOURCE   TIME"));
  EXPECT_THAT(both.str(), HasSubstr("p-2      2026-01-31T09:30:03Z   -3.25\n"));
  std::ostringstream none;
  PrintHistory(v1::GetHistoryResponse(), none);
  EXPECT_EQ(none.str(), "");
}

TEST(FeedChannel, ASecretNeverShowsInTheError) {
  absl::StatusOr<v1::Channel> c =
      ChannelFrom("x", Flags({{"webhook", "ftp://user:hunter2@a.no/x?token=s3cret"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), Not(HasSubstr("hunter2")));
  EXPECT_THAT(c.status().message(), Not(HasSubstr("s3cret")));
}

// ---- printing ---------------------------------------------------------------------------------

v1::Update MakeUpdate(int64_t position, const std::string& source, double value, bool snapshot) {
  v1::Update u;
  u.set_position(position);
  u.set_dataset("bathing");
  u.set_snapshot(snapshot);
  u.mutable_reading()->set_source_id(source);
  u.mutable_reading()->mutable_time()->set_seconds(1769851800 + position);
  (*u.mutable_reading()->mutable_values())["temperature"].set_double_value(value);
  return u;
}

TEST(FeedPrinting, UpdateLines) {
  EXPECT_EQ(UpdateLine(MakeUpdate(0, "buoy-3", 12.5, true)),
            "2026-01-31T09:30:00Z  buoy-3  temperature=12.5  (snapshot)");
  EXPECT_EQ(UpdateLine(MakeUpdate(7, "buoy-4", 13, false)),
            "2026-01-31T09:30:07Z  buoy-4  temperature=13");
}

TEST(FeedPrinting, GapLinesSayWhatWasLost) {
  v1::Gap behind;
  behind.set_reason(v1::GAP_REASON_SUBSCRIBER_BEHIND);
  behind.set_after_position(41);
  behind.set_dropped(17);
  EXPECT_EQ(GapLine(behind),
            "gap: 17 updates after position 41 were dropped because this watch read too slowly "
            "(values were coalesced to the latest per source first)");
  v1::Gap not_held;
  not_held.set_reason(v1::GAP_REASON_NOT_HELD);
  not_held.set_after_position(5);
  EXPECT_EQ(GapLine(not_held),
            "gap: the feed no longer holds the updates after position 5; a fresh snapshot "
            "follows");
}

TEST(FeedPrinting, TargetsAreRedacted) {
  EXPECT_EQ(RedactTarget("https://u:pw@hooks.example.no/x?token=abc&v=2#f"),
            "https://u:(redacted)@hooks.example.no/x?token=(redacted)&v=(redacted)#f");
  EXPECT_EQ(RedactTarget("https://hooks.example.no/x"), "https://hooks.example.no/x");
  EXPECT_EQ(RedactTarget("https://hooks.example.no?key=k"),
            "https://hooks.example.no?key=(redacted)");
  EXPECT_EQ(RedactTarget("drift@kommune.no"), "drift@kommune.no");
  EXPECT_EQ(RedactTarget("+4791234567"), "+4791234567");
}

// ---- the commands, against a fake feed ---------------------------------------------------------

// A fake FeedService that records requests. Subscribe to dataset "forever" sends a snapshot and
// then waits until the call is cancelled; any other dataset gets a snapshot, an update, a gap
// and an update, then the end of the stream. Channels: c-1 ops-mail, c-2 ops-hook (a URL with
// secrets), c-3 broken (tests as not delivered). Rules: r-1 warm-water, r-2 and r-3 both "dup".
class FakeFeed final : public v1::FeedService::Service {
 public:
  grpc::Status Subscribe(grpc::ServerContext* context, const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::SubscribeResponse>* writer) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      subscribed_ = *request;
    }
    v1::SubscribeResponse first;
    *first.add_events()->mutable_update() = MakeUpdate(10, "buoy-3", 12.5, true);
    *first.add_events()->mutable_update() = MakeUpdate(11, "buoy-4", 11, true);
    first.add_events()->mutable_snapshot_complete()->set_position(11);
    writer->Write(first);
    if (request->filter().datasets(0) == "forever") {
      {
        std::lock_guard<std::mutex> lock(mu_);
        streaming_ = true;
      }
      started_.notify_all();
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return grpc::Status::CANCELLED;
    }
    v1::SubscribeResponse more;
    *more.add_events()->mutable_update() = MakeUpdate(12, "buoy-3", 12.75, false);
    if (request->include_alarms()) {
      *more.add_events()->mutable_alarm() =
          MakeAlarmEvent(v1::ALARM_EVENT_KIND_RAISED, "warm-water");
    }
    v1::Gap* gap = more.add_events()->mutable_gap();
    gap->set_reason(v1::GAP_REASON_SUBSCRIBER_BEHIND);
    gap->set_after_position(12);
    gap->set_dropped(3);
    *more.add_events()->mutable_update() = MakeUpdate(16, "buoy-4", 11.25, false);
    writer->Write(more);
    return grpc::Status::OK;
  }

  grpc::Status GetAggregates(grpc::ServerContext*, const v1::GetAggregatesRequest* request,
                             v1::GetAggregatesResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      aggregates_ = *request;
    }
    v1::AggregateSet* set = response->mutable_aggregates();
    set->mutable_time()->set_seconds(1769851800);
    for (const char* source : {"buoy-3", ""}) {
      v1::AggregateSeries* s = set->add_series();
      s->set_dataset(request->dataset());
      s->set_source_id(source);
      s->set_field("temperature");
      int n = 1;
      for (auto w : {v1::AGGREGATE_WINDOW_1_MINUTE, v1::AGGREGATE_WINDOW_5_MINUTES,
                     v1::AGGREGATE_WINDOW_1_HOUR}) {
        v1::WindowStats* stats = s->add_windows();
        stats->set_window(w);
        stats->set_count(n * 10);
        stats->set_min(10);
        stats->set_max(14);
        stats->set_mean(12.5);
        ++n;
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status GetHistory(grpc::ServerContext*, const v1::GetHistoryRequest* request,
                          v1::GetHistoryResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      history_ = *request;
    }
    std::vector<std::string> sources = {"buoy-3"};
    if (request->source_id().empty()) sources.push_back("buoy-4");
    for (const std::string& source : sources) {
      v1::HistorySeries* series = response->add_series();
      series->set_source_id(source);
      series->set_raw_points(5000);
      for (double value : {10.299999999999999, 14.000000000000002}) {
        v1::HistoryPoint* point = series->add_points();
        point->mutable_time()->set_seconds(1769851800 + series->points_size());
        point->set_value(value);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status CreateKpi(grpc::ServerContext*, const v1::CreateKpiRequest* request,
                         v1::Kpi* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    created_kpi_ = request->kpi();
    *response = request->kpi();
    response->mutable_create_time()->set_seconds(1769851800);
    return grpc::Status::OK;
  }
  grpc::Status ListKpis(grpc::ServerContext*, const v1::ListKpisRequest* request,
                        v1::ListKpisResponse* response) override {
    if (request->page_token().empty()) {
      for (const char* name : {"free-parking", "full-bins"}) {
        v1::Kpi* k = response->add_kpis();
        k->set_name(name);
        k->set_dataset("parking");
        k->set_expression("sum(free_spaces)");
      }
      response->set_next_page_token("p2");
    } else {
      response->add_kpis()->set_name("third");
    }
    return grpc::Status::OK;
  }
  grpc::Status GetKpi(grpc::ServerContext*, const v1::GetKpiRequest* request,
                      v1::Kpi* response) override {
    if (request->name() != "free-parking") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("kpi ", request->name(), " not found"));
    }
    response->set_name("free-parking");
    response->set_dataset("parking");
    response->set_expression("sum(free_spaces)");
    response->set_unit("spaces");
    response->set_created_by("kari");
    return grpc::Status::OK;
  }
  grpc::Status DeleteKpi(grpc::ServerContext*, const v1::DeleteKpiRequest* request,
                         v1::DeleteKpiResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    deleted_kpi_ = request->name();
    return grpc::Status::OK;
  }
  grpc::Status WatchKpi(grpc::ServerContext*, const v1::WatchKpiRequest* request,
                        grpc::ServerWriter<v1::KpiValue>* writer) override {
    for (double value : {120.0, 118.0}) {
      v1::KpiValue v;
      v.set_name(request->name());
      v.set_value(value);
      v.mutable_time()->set_seconds(1769851800);
      v.set_sources(12);
      writer->Write(v);
    }
    return grpc::Status::OK;
  }

  grpc::Status CreateAlarmRule(grpc::ServerContext*, const v1::CreateAlarmRuleRequest* request,
                               v1::AlarmRule* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    created_rule_ = request->rule();
    *response = request->rule();
    response->set_id("r-9");
    return grpc::Status::OK;
  }
  grpc::Status ListAlarmRules(grpc::ServerContext*, const v1::ListAlarmRulesRequest*,
                              v1::ListAlarmRulesResponse* response) override {
    const std::vector<std::pair<std::string, std::string>> rules = {
        {"r-1", "warm-water"}, {"r-2", "dup"}, {"r-3", "dup"}};
    for (const auto& [id, name] : rules) {
      v1::AlarmRule* r = response->add_rules();
      r->set_id(id);
      r->set_name(name);
      r->set_dataset("bathing");
      r->set_field("temperature");
      r->set_kind(v1::ALARM_KIND_ABOVE);
      r->set_upper(25);
      r->add_channels("c-1");
    }
    return grpc::Status::OK;
  }
  grpc::Status DeleteAlarmRule(grpc::ServerContext*, const v1::DeleteAlarmRuleRequest* request,
                               v1::DeleteAlarmRuleResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    deleted_rule_ = request->id();
    return grpc::Status::OK;
  }
  grpc::Status ListAlarms(grpc::ServerContext*, const v1::ListAlarmsRequest* request,
                          v1::ListAlarmsResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      alarms_ = *request;
    }
    v1::Alarm* a = response->add_alarms();
    a->set_id("a-1");
    a->set_rule_id("r-1");
    a->set_dataset("bathing");
    a->set_source_id("buoy-3");
    a->set_field("temperature");
    a->set_state(v1::ALARM_STATE_RAISED);
    a->set_value(26.5);
    a->mutable_raise_time()->set_seconds(1769851800);
    return grpc::Status::OK;
  }
  grpc::Status AcknowledgeAlarm(grpc::ServerContext*, const v1::AcknowledgeAlarmRequest* request,
                                v1::Alarm* response) override {
    if (request->id() != "a-1") return grpc::Status(grpc::StatusCode::NOT_FOUND, "alarm not found");
    response->set_id("a-1");
    response->set_state(v1::ALARM_STATE_RAISED);
    response->set_acknowledged_by("kari");
    response->mutable_acknowledge_time()->set_seconds(1769851900);
    return grpc::Status::OK;
  }
  grpc::Status CreateChannel(grpc::ServerContext*, const v1::CreateChannelRequest* request,
                             v1::Channel* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    created_channel_ = request->channel();
    *response = request->channel();
    response->set_id("c-9");
    return grpc::Status::OK;
  }
  grpc::Status ListChannels(grpc::ServerContext*, const v1::ListChannelsRequest*,
                            v1::ListChannelsResponse* response) override {
    const std::vector<std::tuple<std::string, std::string, v1::ChannelKind, std::string>> channels =
        {{"c-1", "ops-mail", v1::CHANNEL_KIND_EMAIL, "drift@kommune.no"},
         {"c-2", "ops-hook", v1::CHANNEL_KIND_WEBHOOK,
          "https://u:hunter2@hooks.example.no/x?token=s3cret"},
         {"c-3", "broken", v1::CHANNEL_KIND_WEBHOOK, "https://down.example.no/"}};
    for (const auto& [id, name, kind, target] : channels) {
      v1::Channel* c = response->add_channels();
      c->set_id(id);
      c->set_name(name);
      c->set_kind(kind);
      c->set_target(target);
      c->set_has_secret(id == "c-2");
    }
    return grpc::Status::OK;
  }
  grpc::Status TestChannel(grpc::ServerContext*, const v1::TestChannelRequest* request,
                           v1::TestChannelResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tested_channel_ = request->id();
    }
    response->set_delivered(request->id() != "c-3");
    response->set_detail(request->id() == "c-3" ? "HTTP 500 after 3 tries" : "250 OK");
    return grpc::Status::OK;
  }

  template <typename T>
  T Get(T FakeFeed::*member) {
    std::lock_guard<std::mutex> lock(mu_);
    return this->*member;
  }

  // Waits until a Subscribe to "forever" is under way.
  bool WaitForStream() {
    std::unique_lock<std::mutex> lock(mu_);
    return started_.wait_for(lock, std::chrono::seconds(10), [this] { return streaming_; });
  }

  std::mutex mu_;
  std::condition_variable started_;
  bool streaming_ = false;
  v1::SubscribeRequest subscribed_;
  v1::GetAggregatesRequest aggregates_;
  v1::GetHistoryRequest history_;
  v1::Kpi created_kpi_;
  std::string deleted_kpi_;
  v1::AlarmRule created_rule_;
  std::string deleted_rule_;
  v1::ListAlarmsRequest alarms_;
  v1::Channel created_channel_;
  std::string tested_channel_;
};

struct Outcome {
  absl::Status status;
  std::string out;
  std::string err;
};

class FeedCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "smartctl-feed-test-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    for (const char* name : {"XDG_CONFIG_HOME", "SMARTCTL_TOKEN", "SMARTCTL_SERVER"}) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
    }
    ::setenv("XDG_CONFIG_HOME", dir_.c_str(), 1);
    ::unsetenv("SMARTCTL_TOKEN");
    ::unsetenv("SMARTCTL_SERVER");

    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    AddAllCommands(registry_);
  }
  void TearDown() override {
    server_->Shutdown();
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--insecure", "--server", absl::StrCat("127.0.0.1:", port_)});
    std::ostringstream out, err;
    Outcome outcome;
    outcome.status = RunCommandLine(registry_, args, out, err);
    outcome.out = out.str();
    outcome.err = err.str();
    return outcome;
  }

  static std::string Describe(const Outcome& o) {
    std::ostringstream text;
    PrintError(o.status, text);
    return absl::StrCat("--- out\n", o.out, "--- err\n", o.err, text.str());
  }

  std::string dir_;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
  FakeFeed fake_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  Registry registry_;
};

TEST(FeedWiring, TheServiceIsKnownOnItsPort) {
  const ServiceInfo* info = FindService("feed");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->default_port, 7003);
  EXPECT_EQ(info->grpc_service, "smartcity.feed.v1.FeedService");
}

TEST_F(FeedCommandsTest, EveryCommandHasHelpWithExamples) {
  int found = 0;
  for (const Command& command : registry_.commands) {
    for (const char* noun : {"feed", "aggregate", "kpi", "alarm", "channel"}) {
      if (command.noun != noun) continue;
      ++found;
      EXPECT_THAT(command.description, HasSubstr("Examples:")) << CommandPath(command);
    }
  }
  EXPECT_EQ(found, 14);
  Outcome help = Run({"--help"});
  EXPECT_THAT(help.out, HasSubstr("feed 7003"));
  EXPECT_THAT(help.out, HasSubstr("\n  kpi "));
}

TEST_F(FeedCommandsTest, FeedWatchPrintsSnapshotUpdatesAndGaps) {
  Outcome o = Run({"feed", "watch", "bathing", "--source", "buoy-3", "--source", "buoy-4",
                   "--field", "temperature"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out,
            "TIME  SOURCE  VALUES\n"
            "2026-01-31T09:30:10Z  buoy-3  temperature=12.5  (snapshot)\n"
            "2026-01-31T09:30:11Z  buoy-4  temperature=11  (snapshot)\n"
            "2026-01-31T09:30:12Z  buoy-3  temperature=12.75\n"
            "2026-01-31T09:30:16Z  buoy-4  temperature=11.25\n");
  EXPECT_THAT(o.err, HasSubstr("snapshot complete: 2 sources at position 11"));
  EXPECT_THAT(o.err, HasSubstr("gap: 3 updates after position 12 were dropped"));
  EXPECT_THAT(o.err, HasSubstr("the feed ended the stream"));
  const v1::SubscribeRequest sent = fake_.Get(&FakeFeed::subscribed_);
  EXPECT_THAT(sent.filter().datasets(), ElementsAre("bathing"));
  EXPECT_THAT(sent.filter().source_ids(), ElementsAre("buoy-3", "buoy-4"));
  EXPECT_THAT(sent.filter().fields(), ElementsAre("temperature"));
  EXPECT_EQ(sent.resume_after(), 0);
}

TEST_F(FeedCommandsTest, FeedWatchWithABoxAndAlarms) {
  Outcome o = Run({"feed", "watch", "bathing", "--bbox", "5.6,58.9,5.8,59.0", "--alarms"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.out, HasSubstr("2026-01-31T09:30:12Z  buoy-3  temperature=12.75\n"
                               "ALARM raised rule=warm-water dataset=bathing source=buoy-3 "
                               "field=temperature value=26.5 id=a-7\n"));
  const v1::SubscribeRequest sent = fake_.Get(&FakeFeed::subscribed_);
  EXPECT_TRUE(sent.include_alarms());
  EXPECT_EQ(sent.filter().bounding_box().min_longitude(), 5.6);
  EXPECT_EQ(sent.filter().bounding_box().min_latitude(), 58.9);
  EXPECT_EQ(sent.filter().bounding_box().max_longitude(), 5.8);
  EXPECT_EQ(sent.filter().bounding_box().max_latitude(), 59.0);

  Outcome plain = Run({"feed", "watch", "bathing"});
  ASSERT_TRUE(plain.status.ok()) << Describe(plain);
  EXPECT_FALSE(fake_.Get(&FakeFeed::subscribed_).include_alarms());
  EXPECT_FALSE(fake_.Get(&FakeFeed::subscribed_).filter().has_bounding_box());
  EXPECT_THAT(plain.out, Not(HasSubstr("ALARM")));

  Outcome json = Run({"feed", "watch", "bathing", "--alarms", "-o", "json"});
  ASSERT_TRUE(json.status.ok()) << Describe(json);
  EXPECT_THAT(json.out, HasSubstr("{\"alarm\":{\"kind\":\"ALARM_EVENT_KIND_RAISED\""));

  Outcome bad = Run({"feed", "watch", "bathing", "--bbox", "58.9,5.6,59.0"});
  EXPECT_EQ(ExitCodeOf(bad.status), kExitUsage);
  EXPECT_THAT(bad.status.message(), HasSubstr("minLon,minLat,maxLon,maxLat"));
}

TEST_F(FeedCommandsTest, FeedHistoryPrintsShortTimeValueRows) {
  Outcome o = Run({"feed", "history", "bathing", "--source", "buoy-3", "--field", "temperature",
                   "--from", "-7d", "--points", "50"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out,
            "TIME                   VALUE\n"
            "2026-01-31T09:30:01Z   10.3\n"
            "2026-01-31T09:30:02Z   14\n");
  EXPECT_THAT(o.err, HasSubstr("2 points of 5000 readings"));
  const v1::GetHistoryRequest sent = fake_.Get(&FakeFeed::history_);
  EXPECT_EQ(sent.dataset(), "bathing");
  EXPECT_EQ(sent.source_id(), "buoy-3");
  EXPECT_EQ(sent.field(), "temperature");
  EXPECT_EQ(sent.max_points(), 50);
  EXPECT_NEAR(static_cast<double>(sent.start_time().seconds()),
              absl::ToUnixSeconds(absl::Now() - absl::Hours(7 * 24)), 60);

  Outcome dataset = Run({"feed", "history", "bathing", "--field", "temperature"});
  ASSERT_TRUE(dataset.status.ok()) << Describe(dataset);
  EXPECT_THAT(dataset.out, HasSubstr("SOURCE   TIME                   VALUE\n"));
  EXPECT_THAT(dataset.out, HasSubstr("buoy-4   2026-01-31T09:30:02Z   14\n"));

  Outcome json = Run({"feed", "history", "bathing", "--field", "temperature", "-o", "json"});
  ASSERT_TRUE(json.status.ok()) << Describe(json);
  EXPECT_THAT(json.out, HasSubstr("\"raw_points\": \"5000\""));
  EXPECT_THAT(json.out, HasSubstr("10.299999999999999")) << "scripts get the exact value";

  Outcome missing = Run({"feed", "history", "bathing"});
  EXPECT_EQ(ExitCodeOf(missing.status), kExitUsage);
  EXPECT_THAT(missing.status.message(), HasSubstr("missing --field"));
}

TEST_F(FeedCommandsTest, FeedWatchJsonIsOneEventPerLine) {
  Outcome o = Run({"feed", "watch", "bathing", "-o", "json", "--resume-after", "9"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  std::vector<std::string> lines = absl::StrSplit(o.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 6u) << o.out;
  EXPECT_THAT(lines[0], HasSubstr("{\"update\":{\"position\":\"10\""));
  EXPECT_THAT(lines[0], HasSubstr("\"snapshot\":true"));
  EXPECT_THAT(lines[2], HasSubstr("{\"snapshot_complete\":{\"position\":\"11\"}}"));
  EXPECT_THAT(lines[4], HasSubstr("{\"gap\":{\"reason\":\"GAP_REASON_SUBSCRIBER_BEHIND\""));
  EXPECT_THAT(o.err, HasSubstr("gap: 3 updates"));
  EXPECT_EQ(fake_.Get(&FakeFeed::subscribed_).resume_after(), 9);
}

TEST_F(FeedCommandsTest, FeedWatchEndsWithExitZeroOnCtrlC) {
  std::thread interrupter([this] {
    ASSERT_TRUE(fake_.WaitForStream());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(::getpid(), SIGINT);
  });
  Outcome o = Run({"feed", "watch", "forever"});
  interrupter.join();
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.out, HasSubstr("buoy-4  temperature=11  (snapshot)"));
  EXPECT_THAT(o.err, Not(HasSubstr("ended")));
  // The handler is gone afterwards: SIGINT is back to what it was.
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

TEST_F(FeedCommandsTest, FeedWatchWithNoServiceIsExitThree) {
  std::ostringstream out, err;
  absl::Status status = RunCommandLine(
      registry_, {"--insecure", "--server", "127.0.0.1:1", "--timeout", "3s", "feed", "watch", "d"},
      out, err);
  EXPECT_EQ(ExitCodeOf(status), kExitUnreachable) << status;
  EXPECT_THAT(status.message(), HasSubstr("cannot reach feed at 127.0.0.1:1"));
}

TEST_F(FeedCommandsTest, FeedWatchRefusesABadPosition) {
  Outcome o = Run({"feed", "watch", "bathing", "--resume-after", "-3"});
  EXPECT_EQ(ExitCodeOf(o.status), kExitUsage);
}

TEST_F(FeedCommandsTest, AggregateShowKeepsTheWindowAsked) {
  Outcome o = Run({"aggregate", "show", "bathing", "--window", "5m", "--field", "temperature"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out,
            "SOURCE   FIELD         WINDOW   COUNT   MIN   MAX   MEAN\n"
            "buoy-3   temperature   5m       20      10    14    12.5\n"
            "(all)    temperature   5m       20      10    14    12.5\n");
  EXPECT_THAT(o.err, HasSubstr("windows end at 2026-01-31T09:30:00Z"));
  EXPECT_THAT(fake_.Get(&FakeFeed::aggregates_).fields(), ElementsAre("temperature"));
  Outcome all = Run({"aggregate", "show", "bathing"});
  ASSERT_TRUE(all.status.ok()) << Describe(all);
  EXPECT_THAT(all.out, HasSubstr("1h "));
  EXPECT_EQ(ExitCodeOf(Run({"aggregate", "show", "bathing", "--window", "2m"}).status),
            kExitUsage);
}

TEST_F(FeedCommandsTest, KpiCreateGetListDelete) {
  Outcome created = Run({"kpi", "create", "free-parking", "--dataset", "parking", "--expression",
                         "sum(free_spaces)", "--description", "Free spaces", "--unit", "spaces"});
  ASSERT_TRUE(created.status.ok()) << Describe(created);
  EXPECT_EQ(created.out, "kpi free-parking created (dataset parking: sum(free_spaces))\n");
  const v1::Kpi sent = fake_.Get(&FakeFeed::created_kpi_);
  EXPECT_EQ(sent.name(), "free-parking");
  EXPECT_EQ(sent.dataset(), "parking");
  EXPECT_EQ(sent.expression(), "sum(free_spaces)");
  EXPECT_EQ(sent.description(), "Free spaces");
  EXPECT_EQ(sent.unit(), "spaces");
  EXPECT_EQ(ExitCodeOf(Run({"kpi", "create", "x", "--dataset", "parking"}).status), kExitUsage);

  Outcome got = Run({"kpi", "get", "free-parking"});
  ASSERT_TRUE(got.status.ok()) << Describe(got);
  EXPECT_THAT(got.out, HasSubstr("sum(free_spaces)"));
  Outcome missing = Run({"kpi", "get", "nope"});
  EXPECT_EQ(ExitCodeOf(missing.status), kExitFailed);
  EXPECT_EQ(HintOf(missing.status), "see them with smartctl kpi list");

  Outcome first = Run({"kpi", "list"});
  ASSERT_TRUE(first.status.ok()) << Describe(first);
  EXPECT_THAT(first.out, HasSubstr("full-bins"));
  EXPECT_THAT(first.out, Not(HasSubstr("third")));
  EXPECT_THAT(first.err, HasSubstr("add --all"));
  Outcome all = Run({"kpi", "list", "--all"});
  EXPECT_THAT(all.out, HasSubstr("third"));

  Outcome deleted = Run({"kpi", "delete", "free-parking"});
  ASSERT_TRUE(deleted.status.ok()) << Describe(deleted);
  EXPECT_EQ(deleted.out, "kpi free-parking deleted\n");
  EXPECT_EQ(fake_.Get(&FakeFeed::deleted_kpi_), "free-parking");
}

TEST_F(FeedCommandsTest, KpiWatchPrintsValues) {
  Outcome o = Run({"kpi", "watch", "free-parking"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out,
            "TIME  VALUE  SOURCES\n"
            "2026-01-31T09:30:00Z  120 spaces  12\n"
            "2026-01-31T09:30:00Z  118 spaces  12\n");
  Outcome json = Run({"kpi", "watch", "free-parking", "-o", "json"});
  ASSERT_TRUE(json.status.ok()) << Describe(json);
  EXPECT_THAT(json.out, HasSubstr("{\"name\":\"free-parking\",\"value\":118,"));
  EXPECT_EQ(ExitCodeOf(Run({"kpi", "watch", "nope"}).status), kExitFailed);
}

TEST_F(FeedCommandsTest, AlarmRuleCreateResolvesChannelNames) {
  Outcome o = Run({"alarm", "rule", "create", "warm", "--dataset", "bathing", "--field",
                   "temperature", "--above", "25", "--for", "10m", "--hysteresis", "1",
                   "--channel", "ops-mail", "--channel", "c-2"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out,
            "alarm rule warm created (id r-9): temperature > 25 for 10m (hysteresis 1)\n");
  const v1::AlarmRule sent = fake_.Get(&FakeFeed::created_rule_);
  EXPECT_THAT(sent.channels(), ElementsAre("c-1", "c-2"));
  EXPECT_EQ(sent.for_duration().seconds(), 600);

  Outcome unknown = Run({"alarm", "rule", "create", "w", "--dataset", "d", "--field", "t",
                         "--above", "1", "--channel", "nowhere"});
  EXPECT_EQ(ExitCodeOf(unknown.status), kExitFailed);
  EXPECT_THAT(unknown.status.message(), HasSubstr("no channel has the name or id \"nowhere\""));
  Outcome no_condition = Run({"alarm", "rule", "create", "w", "--dataset", "d", "--field", "t"});
  EXPECT_EQ(ExitCodeOf(no_condition.status), kExitUsage);
}

TEST_F(FeedCommandsTest, AlarmRuleListAndDelete) {
  Outcome list = Run({"alarm", "rule", "list"});
  ASSERT_TRUE(list.status.ok()) << Describe(list);
  EXPECT_THAT(list.out, HasSubstr("r-1   warm-water   bathing   (all)    temperature > 25   ops-mail"));
  EXPECT_EQ(ExitCodeOf(Run({"alarm", "rule", "list", "--above", "3"}).status), kExitUsage);
  EXPECT_EQ(ExitCodeOf(Run({"alarm", "rule", "rename", "x"}).status), kExitUsage);
  EXPECT_EQ(ExitCodeOf(Run({"alarm", "rule", "create"}).status), kExitUsage);

  Outcome deleted = Run({"alarm", "rule", "delete", "warm-water"});
  ASSERT_TRUE(deleted.status.ok()) << Describe(deleted);
  EXPECT_EQ(deleted.out, "alarm rule warm-water deleted (id r-1)\n");
  EXPECT_EQ(fake_.Get(&FakeFeed::deleted_rule_), "r-1");
  Outcome by_id = Run({"alarm", "rule", "delete", "r-3"});
  ASSERT_TRUE(by_id.status.ok()) << Describe(by_id);
  EXPECT_EQ(fake_.Get(&FakeFeed::deleted_rule_), "r-3");
  Outcome ambiguous = Run({"alarm", "rule", "delete", "dup"});
  EXPECT_EQ(ExitCodeOf(ambiguous.status), kExitUsage);
  EXPECT_THAT(ambiguous.status.message(), HasSubstr("ids r-2, r-3"));
}

TEST_F(FeedCommandsTest, AlarmListAndAck) {
  Outcome o = Run({"alarm", "list", "--active"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.out, HasSubstr("a-1   r-1    bathing   buoy-3   temperature   raised   26.5"));
  EXPECT_TRUE(fake_.Get(&FakeFeed::alarms_).active_only());
  Outcome ack = Run({"alarm", "ack", "a-1"});
  ASSERT_TRUE(ack.status.ok()) << Describe(ack);
  EXPECT_EQ(ack.out, "alarm a-1 acknowledged by kari (raised)\n");
  Outcome missing = Run({"alarm", "ack", "a-2"});
  EXPECT_EQ(ExitCodeOf(missing.status), kExitFailed);
  EXPECT_EQ(HintOf(missing.status), "see them with smartctl alarm list");
}

TEST_F(FeedCommandsTest, ChannelCreateListAndTestNeverShowSecrets) {
  Outcome created = Run({"channel", "create", "ops-mail", "--email", "drift@kommune.no"});
  ASSERT_TRUE(created.status.ok()) << Describe(created);
  EXPECT_EQ(created.out, "channel ops-mail created (id c-9, email drift@kommune.no)\n");
  EXPECT_EQ(fake_.Get(&FakeFeed::created_channel_).kind(), v1::CHANNEL_KIND_EMAIL);
  Outcome hook = Run({"channel", "create", "h", "--webhook", "https://a.no/x?token=s3cret"});
  ASSERT_TRUE(hook.status.ok()) << Describe(hook);
  EXPECT_THAT(hook.out, Not(HasSubstr("s3cret")));
  EXPECT_EQ(fake_.Get(&FakeFeed::created_channel_).target(), "https://a.no/x?token=s3cret");
  Outcome secret = Run({"channel", "create", "h", "--webhook", "https://a.no/x", "--secret-file",
                        "/nonexistent"});
  EXPECT_EQ(ExitCodeOf(secret.status), kExitUsage);
  TempFile key("a-signing-key-of-at-least-32-bytes-x\n");
  Outcome keyed = Run({"channel", "create", "h", "--webhook", "https://a.no/x", "--secret-file",
                       key.path(), "-o", "json"});
  ASSERT_TRUE(keyed.status.ok()) << Describe(keyed);
  EXPECT_EQ(fake_.Get(&FakeFeed::created_channel_).secret(),
            "a-signing-key-of-at-least-32-bytes-x");
  EXPECT_THAT(keyed.out, Not(HasSubstr("a-signing-key"))) << "the key is never printed";
  Outcome table = Run({"channel", "list"});
  ASSERT_TRUE(table.status.ok()) << Describe(table);
  EXPECT_THAT(table.out, HasSubstr("HAS_SECRET"));
  std::vector<std::string> rows = absl::StrSplit(table.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 4u) << table.out;
  EXPECT_THAT(rows[1], ::testing::MatchesRegex("c-1 +ops-mail +email +drift@kommune.no +no *"));
  EXPECT_THAT(rows[2], ::testing::MatchesRegex("c-2 +ops-hook +webhook +.*\\(redacted\\) +yes *"));

  for (const char* format : {"table", "json", "yaml"}) {
    Outcome list = Run({"channel", "list", "-o", format});
    ASSERT_TRUE(list.status.ok()) << Describe(list);
    EXPECT_THAT(list.out, HasSubstr("ops-hook")) << format;
    EXPECT_THAT(list.out, Not(HasSubstr("hunter2"))) << format;
    EXPECT_THAT(list.out, Not(HasSubstr("s3cret"))) << format;
  }

  Outcome ok = Run({"channel", "test", "ops-mail"});
  ASSERT_TRUE(ok.status.ok()) << Describe(ok);
  EXPECT_EQ(ok.out, "channel ops-mail: test notification delivered (250 OK)\n");
  EXPECT_EQ(fake_.Get(&FakeFeed::tested_channel_), "c-1");
  Outcome failed = Run({"channel", "test", "broken"});
  EXPECT_EQ(ExitCodeOf(failed.status), kExitFailed);
  EXPECT_THAT(failed.status.message(), HasSubstr("HTTP 500 after 3 tries"));
}

}  // namespace
}  // namespace smartby::smartctl
