// The feed service's nouns: `feed`, `aggregate`, `kpi`, `alarm` and `channel`, all against
// smartcity.feed.v1.FeedService (default port 7003).
#include "cli/smartctl/feed_commands.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/ingestion_commands.h"
#include "cli/smartctl/output.h"
#include "smartcity/feed/v1/feed.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::smartctl {

namespace v1 = smartcity::feed::v1;
using Stub = v1::FeedService::Stub;

namespace {

// Pages asked for when following every page (definitions are small).
constexpr int32_t kPageSize = 500;

}  // namespace

// ---- flag values ------------------------------------------------------------------------------

absl::StatusOr<v1::AggregateWindow> ParseWindow(const std::string& text) {
  std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  lower.erase(std::remove(lower.begin(), lower.end(), ' '), lower.end());
  if (lower == "1m" || lower == "1min" || lower == "1minute" || lower == "60s") {
    return v1::AGGREGATE_WINDOW_1_MINUTE;
  }
  if (lower == "5m" || lower == "5min" || lower == "5minutes") {
    return v1::AGGREGATE_WINDOW_5_MINUTES;
  }
  if (lower == "1h" || lower == "60m" || lower == "1hour") return v1::AGGREGATE_WINDOW_1_HOUR;
  return UsageError(
      absl::StrCat("--window: \"", text, "\" is not a window the feed keeps; use 1m, 5m or 1h"));
}

std::string WindowName(v1::AggregateWindow window) {
  switch (window) {
    case v1::AGGREGATE_WINDOW_1_MINUTE:
      return "1m";
    case v1::AGGREGATE_WINDOW_5_MINUTES:
      return "5m";
    case v1::AGGREGATE_WINDOW_1_HOUR:
      return "1h";
    default:
      return "";
  }
}

absl::StatusOr<v1::AlarmRule> AlarmRuleFrom(const std::string& name, const ParsedFlags& flags) {
  v1::AlarmRule rule;
  rule.set_name(name);
  if (flags.Get("dataset").empty()) {
    return UsageError("missing --dataset (the dataset whose readings the rule watches)");
  }
  rule.set_dataset(flags.Get("dataset"));
  rule.set_source_id(flags.Get("source"));
  rule.set_field(flags.Get("field"));

  int conditions = 0;
  for (const char* flag : {"above", "below", "outside", "no-data"}) conditions += flags.Has(flag);
  if (conditions != 1) {
    return UsageError(conditions == 0
                          ? "missing the condition: give one of --above X, --below X, "
                            "--outside LOW,HIGH or --no-data DURATION"
                          : "give only one of --above, --below, --outside and --no-data");
  }
  if (flags.Has("above")) {
    absl::StatusOr<double> x = ParseNumberFlag("--above", flags.Get("above"));
    if (!x.ok()) return x.status();
    rule.set_kind(v1::ALARM_KIND_ABOVE);
    rule.set_upper(*x);
  } else if (flags.Has("below")) {
    absl::StatusOr<double> x = ParseNumberFlag("--below", flags.Get("below"));
    if (!x.ok()) return x.status();
    rule.set_kind(v1::ALARM_KIND_BELOW);
    rule.set_lower(*x);
  } else if (flags.Has("outside")) {
    const std::vector<std::string> parts = absl::StrSplit(flags.Get("outside"), ',');
    if (parts.size() != 2) {
      return UsageError(absl::StrCat("--outside: \"", flags.Get("outside"),
                                     "\" is not LOW,HIGH; write e.g. --outside 2,25"));
    }
    absl::StatusOr<double> low = ParseNumberFlag("--outside (LOW)", parts[0]);
    if (!low.ok()) return low.status();
    absl::StatusOr<double> high = ParseNumberFlag("--outside (HIGH)", parts[1]);
    if (!high.ok()) return high.status();
    if (*low >= *high) {
      return UsageError(absl::StrCat("--outside: LOW (", FormatNumber(*low),
                                     ") must be below HIGH (", FormatNumber(*high), ")"));
    }
    rule.set_kind(v1::ALARM_KIND_OUTSIDE);
    rule.set_lower(*low);
    rule.set_upper(*high);
  } else {
    absl::StatusOr<absl::Duration> silence = ParseDurationFlag("--no-data", flags.Get("no-data"));
    if (!silence.ok()) return silence.status();
    if (*silence <= absl::ZeroDuration()) {
      return UsageError("--no-data: give how long a silence raises the alarm, e.g. 15m");
    }
    if (flags.Has("for")) {
      return UsageError("--for does not go with --no-data (its duration is the silence)");
    }
    if (flags.Has("hysteresis")) return UsageError("--hysteresis does not go with --no-data");
    rule.set_kind(v1::ALARM_KIND_NO_DATA);
    *rule.mutable_for_duration() = ToProtoDuration(*silence);
  }
  if (rule.kind() != v1::ALARM_KIND_NO_DATA && rule.field().empty()) {
    return UsageError("missing --field (the numeric field the threshold applies to)");
  }
  if (flags.Has("for")) {
    absl::StatusOr<absl::Duration> hold = ParseDurationFlag("--for", flags.Get("for"));
    if (!hold.ok()) return hold.status();
    *rule.mutable_for_duration() = ToProtoDuration(*hold);
  }
  if (flags.Has("hysteresis")) {
    absl::StatusOr<double> h = ParseNumberFlag("--hysteresis", flags.Get("hysteresis"));
    if (!h.ok()) return h.status();
    if (*h < 0) return UsageError("--hysteresis: 0 or more (how far back past the threshold)");
    rule.set_hysteresis(*h);
  }
  return rule;
}

namespace {

// A channel's signing key from a file: its text without the trailing line break.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return UsageError(absl::StrCat("--secret-file: cannot read \"", path,
                                   "\" (it should hold the channel's signing key)"));
  }
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.size() < 32) {
    return UsageError(absl::StrCat("--secret-file: \"", path, "\" holds ", secret.size(),
                                   " bytes; a signing key needs at least 32 (e.g. openssl rand "
                                   "-hex 32 > ", path, ")"));
  }
  return secret;
}

}  // namespace

absl::StatusOr<v1::Channel> ChannelFrom(const std::string& name, const ParsedFlags& flags) {
  int kinds = 0;
  for (const char* flag : {"webhook", "email", "sms"}) kinds += flags.Has(flag);
  if (kinds != 1) {
    return UsageError(kinds == 0 ? "missing the target: give one of --webhook URL, --email "
                                   "ADDRESS or --sms +NUMBER"
                                 : "give only one of --webhook, --email and --sms");
  }
  // What the feed API (smartcity.feed.v1.Channel: kind and target only) cannot carry is
  // refused, so that nobody believes a webhook is signed or a relay is used when it is not.
  const auto unsupported = [](const std::string& flag, const std::string& what) {
    return UsageError(absl::StrCat(flag, " cannot be used yet: the feed API's Channel has no field ",
                                   "for ", what, " (only a kind and one target); the feed ",
                                   "service's own settings apply"));
  };
  v1::Channel channel;
  channel.set_name(name);
  if (flags.Has("secret-file") && (flags.Has("webhook") || flags.Has("sms"))) {
    absl::StatusOr<std::string> secret = ReadSecretFile(flags.Get("secret-file"));
    if (!secret.ok()) return secret.status();
    channel.set_secret(*std::move(secret));
  }
  if (flags.Has("webhook")) {
    const std::string url(absl::StripAsciiWhitespace(flags.Get("webhook")));
    const std::string lower = absl::AsciiStrToLower(url);
    if (!(absl::StartsWith(lower, "https://") || absl::StartsWith(lower, "http://")) ||
        url.size() <= 8) {
      return UsageError(absl::StrCat("--webhook: \"", RedactTarget(url),
                                     "\" is not an https:// URL (http:// only on loopback)"));
    }
    channel.set_kind(v1::CHANNEL_KIND_WEBHOOK);
    channel.set_target(url);
  } else if (flags.Has("email")) {
    if (flags.Has("smtp")) return unsupported("--smtp", "an SMTP server");
    if (flags.Has("from")) return unsupported("--from", "a sender address");
    const std::string to(absl::StripAsciiWhitespace(flags.Get("email")));
    if (absl::StrContains(to, ",")) {
      return UsageError(
          "--email: one address per channel (the feed API's Channel has one target); create "
          "a channel for each address and give each with --channel");
    }
    const size_t at = to.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= to.size() ||
        to.find('@', at + 1) != std::string::npos || absl::StrContains(to, " ")) {
      return UsageError(absl::StrCat("--email: \"", to, "\" is not an e-mail address"));
    }
    channel.set_kind(v1::CHANNEL_KIND_EMAIL);
    channel.set_target(to);
  } else {
    if (flags.Has("gateway")) return unsupported("--gateway", "an SMS gateway URL");
    std::string number = flags.Get("sms");
    number.erase(std::remove_if(number.begin(), number.end(),
                                [](char c) { return c == ' ' || c == '-'; }),
                 number.end());
    bool digits = number.size() >= 4 && number.size() <= 16 && number[0] == '+';
    for (size_t i = 1; digits && i < number.size(); ++i) {
      digits = absl::ascii_isdigit(static_cast<unsigned char>(number[i]));
    }
    if (!digits) {
      return UsageError(absl::StrCat("--sms: \"", flags.Get("sms"),
                                     "\" is not a number in international form, e.g. "
                                     "+4791234567"));
    }
    channel.set_kind(v1::CHANNEL_KIND_SMS);
    channel.set_target(number);
  }
  if (channel.kind() == v1::CHANNEL_KIND_EMAIL && flags.Has("secret-file")) {
    return UsageError("--secret-file goes with --webhook and --sms only (e-mails are not signed)");
  }
  for (const char* stray : {"smtp", "from", "gateway"}) {
    if (flags.Has(stray)) {
      return UsageError(absl::StrCat("--", stray, " does not go with this kind of channel"));
    }
  }
  return channel;
}

absl::StatusOr<smartcity::common::v1::BoundingBox> ParseBoundingBox(const std::string& text) {
  const std::vector<std::string> parts = absl::StrSplit(text, ',');
  if (parts.size() != 4) {
    return UsageError(absl::StrCat("--bbox: \"", text,
                                   "\" is not minLon,minLat,maxLon,maxLat (west, south, east, "
                                   "north), e.g. --bbox 5.6,58.9,5.8,59.0"));
  }
  static const char* const kNames[] = {"minLon", "minLat", "maxLon", "maxLat"};
  double v[4];
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<double> x = ParseNumberFlag(absl::StrCat("--bbox (", kNames[i], ")"), parts[i]);
    if (!x.ok()) return x.status();
    v[i] = *x;
  }
  for (int i : {0, 2}) {
    if (v[i] < -180 || v[i] > 180) {
      return UsageError(absl::StrCat("--bbox (", kNames[i], "): ", FormatNumber(v[i]),
                                     " is not a longitude (-180..180)"));
    }
  }
  for (int i : {1, 3}) {
    if (v[i] < -90 || v[i] > 90) {
      return UsageError(absl::StrCat("--bbox (", kNames[i], "): ", FormatNumber(v[i]),
                                     " is not a latitude (-90..90); the order is "
                                     "minLon,minLat,maxLon,maxLat"));
    }
  }
  if (v[0] >= v[2] || v[1] >= v[3]) {
    return UsageError(absl::StrCat("--bbox: \"", text, "\" is empty; minLon must be below maxLon "
                                   "and minLat below maxLat (minLon,minLat,maxLon,maxLat)"));
  }
  smartcity::common::v1::BoundingBox box;
  box.set_min_longitude(v[0]);
  box.set_min_latitude(v[1]);
  box.set_max_longitude(v[2]);
  box.set_max_latitude(v[3]);
  return box;
}

absl::StatusOr<v1::GetHistoryRequest> HistoryRequestFrom(const std::vector<std::string>& args,
                                                         const ParsedFlags& flags,
                                                         absl::Time now) {
  v1::GetHistoryRequest request;
  if (!args.empty()) request.set_dataset(args[0]);
  request.set_source_id(flags.Get("source"));
  if (request.dataset().empty() && request.source_id().empty()) {
    return UsageError("give the DATASET, or --source for one source's history");
  }
  request.set_field(flags.Get("field"));
  if (request.field().empty()) {
    return UsageError("missing --field (the numeric field to chart, e.g. --field free_spaces)");
  }
  absl::StatusOr<absl::Time> from = ParseTimeArg("--from", flags.Get("from", "-24h"), now);
  if (!from.ok()) return from.status();
  *request.mutable_start_time() = ToTimestamp(*from);
  if (flags.Has("to")) {
    absl::StatusOr<absl::Time> to = ParseTimeArg("--to", flags.Get("to"), now);
    if (!to.ok()) return to.status();
    if (*to <= *from) return UsageError("--to must be after --from");
    *request.mutable_end_time() = ToTimestamp(*to);
  }
  if (flags.Has("points")) {
    absl::StatusOr<int64_t> points = ParseIntFlag("points", flags.Get("points"), 1);
    if (!points.ok()) return points.status();
    if (*points < 2 || *points > 10000) {
      return UsageError("--points: 2 to 10000 per series (a chart needs at least 2)");
    }
    request.set_max_points(static_cast<int32_t>(*points));
  }
  return request;
}

// ---- printing ---------------------------------------------------------------------------------

namespace {

std::string Pair(const std::string& key, const std::string& value) {
  return absl::StrCat(key, "=", QuoteIfNeeded(value));
}

}  // namespace

std::string AlarmEventLine(const v1::AlarmEvent& event) {
  const v1::Alarm& alarm = event.alarm();
  std::string kind = ShortEnumName(v1::AlarmEventKind_descriptor(), event.kind());
  std::vector<std::string> parts = {
      "ALARM", kind,
      Pair("rule", event.rule().name().empty() ? alarm.rule_id() : event.rule().name()),
      Pair("dataset", alarm.dataset())};
  if (!alarm.source_id().empty()) parts.push_back(Pair("source", alarm.source_id()));
  if (!alarm.field().empty()) parts.push_back(Pair("field", alarm.field()));
  if (event.rule().kind() != v1::ALARM_KIND_NO_DATA) {
    parts.push_back(absl::StrCat("value=", FormatNumber(alarm.value())));
  }
  if (event.kind() == v1::ALARM_EVENT_KIND_ACKNOWLEDGED && !alarm.acknowledged_by().empty()) {
    parts.push_back(Pair("by", alarm.acknowledged_by()));
  }
  parts.push_back(Pair("id", alarm.id()));
  return absl::StrJoin(parts, " ");
}

void PrintHistory(const v1::GetHistoryResponse& history, std::ostream& out) {
  const bool several = history.series_size() > 1;
  Table table(several ? std::vector<std::string>{"SOURCE", "TIME", "VALUE"}
                      : std::vector<std::string>{"TIME", "VALUE"});
  for (const v1::HistorySeries& series : history.series()) {
    for (const v1::HistoryPoint& point : series.points()) {
      std::vector<std::string> row = {FormatPreciseTime(point.time()), FormatNumber(point.value())};
      if (several) row.insert(row.begin(), series.source_id());
      table.AddRow(std::move(row));
    }
  }
  if (!table.empty()) table.Print(out);
}

std::string UpdateLine(const v1::Update& update) {
  const auto& r = update.reading();
  return absl::StrCat(FormatPreciseTime(r.time()), "  ", r.source_id(), "  ",
                      FormatValues(r.values()), update.snapshot() ? "  (snapshot)" : "");
}

std::string GapLine(const v1::Gap& gap) {
  switch (gap.reason()) {
    case v1::GAP_REASON_SUBSCRIBER_BEHIND:
      return absl::StrCat("gap: ", gap.dropped(), " update", gap.dropped() == 1 ? "" : "s",
                          " after position ", gap.after_position(),
                          " were dropped because this watch read too slowly (values were "
                          "coalesced to the latest per source first)");
    case v1::GAP_REASON_NOT_HELD:
      return absl::StrCat("gap: the feed no longer holds the updates after position ",
                          gap.after_position(), "; a fresh snapshot follows");
    default:
      return absl::StrCat("gap: updates after position ", gap.after_position(),
                          " may be missing");
  }
}

std::string ConditionText(const v1::AlarmRule& rule) {
  std::string text;
  switch (rule.kind()) {
    case v1::ALARM_KIND_ABOVE:
      text = absl::StrCat(rule.field(), " > ", FormatNumber(rule.upper()));
      break;
    case v1::ALARM_KIND_BELOW:
      text = absl::StrCat(rule.field(), " < ", FormatNumber(rule.lower()));
      break;
    case v1::ALARM_KIND_OUTSIDE:
      text = absl::StrCat(rule.field(), " outside ", FormatNumber(rule.lower()), "..",
                          FormatNumber(rule.upper()));
      break;
    case v1::ALARM_KIND_NO_DATA:
      return absl::StrCat("no data for ", FormatDurationShort(FromProtoDuration(rule.for_duration())));
    default:
      return "(unknown condition)";
  }
  if (FromProtoDuration(rule.for_duration()) > absl::ZeroDuration()) {
    absl::StrAppend(&text, " for ", FormatDurationShort(FromProtoDuration(rule.for_duration())));
  }
  if (rule.hysteresis() > 0) {
    absl::StrAppend(&text, " (hysteresis ", FormatNumber(rule.hysteresis()), ")");
  }
  return text;
}

std::string RedactTarget(const std::string& target) {
  const size_t scheme = target.find("://");
  if (scheme == std::string::npos) return target;
  const size_t authority = scheme + 3;
  size_t authority_end = target.find_first_of("/?#", authority);
  if (authority_end == std::string::npos) authority_end = target.size();
  std::string out = target.substr(0, authority);
  const std::string host_part = target.substr(authority, authority_end - authority);
  const size_t at = host_part.rfind('@');
  if (at != std::string::npos) {
    const std::string userinfo = host_part.substr(0, at);
    const size_t colon = userinfo.find(':');
    absl::StrAppend(&out, colon == std::string::npos ? userinfo : userinfo.substr(0, colon),
                    colon == std::string::npos ? "" : ":(redacted)", host_part.substr(at));
  } else {
    out += host_part;
  }
  const std::string rest = target.substr(authority_end);
  const size_t query = rest.find('?');
  if (query == std::string::npos) return out + rest;
  out += rest.substr(0, query + 1);
  std::string tail = rest.substr(query + 1);
  std::string fragment;
  if (const size_t hash = tail.find('#'); hash != std::string::npos) {
    fragment = tail.substr(hash);
    tail = tail.substr(0, hash);
  }
  std::vector<std::string> params;
  for (absl::string_view param : absl::StrSplit(tail, '&')) {
    const size_t eq = param.find('=');
    params.push_back(eq == absl::string_view::npos
                         ? std::string(param)
                         : absl::StrCat(param.substr(0, eq), "=(redacted)"));
  }
  return absl::StrCat(out, absl::StrJoin(params, "&"), fragment);
}

// ---- the commands ----------------------------------------------------------------------------

namespace {

struct FeedConnection {
  std::unique_ptr<ServiceClient> client;
  std::unique_ptr<Stub> stub;
};

absl::StatusOr<FeedConnection> ConnectFeed(CommandContext& context) {
  absl::StatusOr<std::unique_ptr<ServiceClient>> client = context.Connect("feed");
  if (!client.ok()) return client.status();
  FeedConnection c;
  c.stub = v1::FeedService::NewStub((*client)->channel());
  c.client = std::move(*client);
  return c;
}

// Adds a hint to a failure the feed reported, where a person would want one.
absl::Status Explain(absl::Status status) {
  if (status.ok() || ExitCodeOf(status) != kExitFailed || !HintOf(status).empty()) return status;
  const std::string message = absl::AsciiStrToLower(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      if (absl::StrContains(message, "kpi")) return WithHint(status, "see them with smartctl kpi list");
      if (absl::StrContains(message, "channel")) {
        return WithHint(status, "see them with smartctl channel list");
      }
      if (absl::StrContains(message, "rule")) {
        return WithHint(status, "see them with smartctl alarm rule list");
      }
      if (absl::StrContains(message, "alarm")) return WithHint(status, "see them with smartctl alarm list");
      return WithHint(status, "see the datasets with smartctl dataset list");
    case absl::StatusCode::kUnimplemented:
      return WithHint(status, "this feed service does not do that yet (see services/feed/README.md)");
    case absl::StatusCode::kDeadlineExceeded:
      return WithHint(status, "give it longer with --timeout, e.g. --timeout 1m");
    default:
      return status;
  }
}

template <typename Request, typename Response>
absl::StatusOr<Response> Call(FeedConnection& c,
                              grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                           Response*),
                              const Request& request) {
  absl::StatusOr<Response> response = c.client->Call(*c.stub, method, request);
  if (!response.ok()) return Explain(response.status());
  return response;
}

template <typename Request, typename Response>
absl::StatusOr<Response> ConnectAndCall(CommandContext& context,
                                        grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                     const Request&, Response*),
                                        const Request& request) {
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  return Call(*c, method, request);
}

// With -o json or -o yaml, prints `message` for scripts and returns true.
bool PrintedForScripts(CommandContext& context, const google::protobuf::Message& message) {
  if (context.output() == OutputFormat::kTable) return false;
  PrintMessage(message, context.output(), context.out());
  return true;
}

absl::Status WithCommandUsage(const CommandContext& context, absl::Status status) {
  return status.ok() ? status : WithUsage(std::move(status), UsageText(context.command()));
}

// Every page of a list, for commands that look something up by name.
absl::StatusOr<std::vector<v1::Channel>> AllChannels(FeedConnection& c) {
  std::vector<v1::Channel> all;
  v1::ListChannelsRequest request;
  request.set_page_size(kPageSize);
  while (true) {
    absl::StatusOr<v1::ListChannelsResponse> page = Call(c, &Stub::ListChannels, request);
    if (!page.ok()) return page.status();
    for (auto& ch : *page->mutable_channels()) all.push_back(std::move(ch));
    if (page->next_page_token().empty()) return all;
    request.set_page_token(page->next_page_token());
  }
}

absl::StatusOr<std::vector<v1::AlarmRule>> AllRules(FeedConnection& c,
                                                    const std::string& dataset) {
  std::vector<v1::AlarmRule> all;
  v1::ListAlarmRulesRequest request;
  request.set_dataset(dataset);
  request.set_page_size(kPageSize);
  while (true) {
    absl::StatusOr<v1::ListAlarmRulesResponse> page = Call(c, &Stub::ListAlarmRules, request);
    if (!page.ok()) return page.status();
    for (auto& r : *page->mutable_rules()) all.push_back(std::move(r));
    if (page->next_page_token().empty()) return all;
    request.set_page_token(page->next_page_token());
  }
}

// The one item whose id is `key`, else whose name is `key`. `what` names the kind ("channel").
template <typename T>
absl::StatusOr<T> FindByIdOrName(const std::vector<T>& items, const std::string& key,
                                 const std::string& what, const std::string& list_command) {
  std::vector<const T*> named;
  for (const T& item : items) {
    if (item.id() == key) return item;
    if (item.name() == key) named.push_back(&item);
  }
  if (named.size() == 1) return *named[0];
  if (named.empty()) {
    return WithHint(ServiceError(absl::StatusCode::kNotFound,
                                 absl::StrCat("no ", what, " has the name or id \"", key, "\""), ""),
                    absl::StrCat("see them with smartctl ", list_command));
  }
  std::vector<std::string> ids;
  for (const T* item : named) ids.push_back(item->id());
  return UsageError(absl::StrCat(named.size(), " ", what, "s are named \"", key,
                                 "\" (ids ", absl::StrJoin(ids, ", "), "); give the id"));
}

std::string ChannelKindName(v1::ChannelKind kind) {
  return ShortEnumName(v1::ChannelKind_descriptor(), kind);
}

v1::Channel Redacted(v1::Channel channel) {
  channel.set_target(RedactTarget(channel.target()));
  channel.clear_secret();  // write-only: the feed never returns it, and nor do we
  return channel;
}

// ---- streams ----

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

// For the life of a stream: Ctrl-C (SIGINT) or SIGTERM cancels `call` instead of killing the
// process, so that the watch ends with exit 0 and the old handlers come back afterwards.
class InterruptCancels {
 public:
  explicit InterruptCancels(grpc::ClientContext* call) : call_(call) {
    g_interrupted.store(false);
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    watcher_ = std::thread([this] {
      while (!done_.load()) {
        if (g_interrupted.load()) {
          call_->TryCancel();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  InterruptCancels(const InterruptCancels&) = delete;
  InterruptCancels& operator=(const InterruptCancels&) = delete;
  ~InterruptCancels() { Stop(); }

  void Stop() {
    if (!watcher_.joinable()) return;
    done_.store(true);
    watcher_.join();
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  bool interrupted() const { return g_interrupted.load(); }

 private:
  grpc::ClientContext* call_;
  std::atomic<bool> done_{false};
  std::thread watcher_;
  struct sigaction old_int_ {}, old_term_ {};
};

// Runs one server stream until it ends, Ctrl-C, or the reader of our output goes away (the last
// two end it with OK). `open` starts the call on the context given; `on_message` prints one
// message. The stream has no deadline: a watch lasts as long as it is wanted.
template <typename Response>
absl::Status FollowStream(
    CommandContext& context, FeedConnection& c, const std::string& what,
    const std::function<std::unique_ptr<grpc::ClientReader<Response>>(grpc::ClientContext*)>&
        open,
    const std::function<void(const Response&)>& on_message) {
  absl::StatusOr<std::string> token = context.AccessToken();
  if (!token.ok()) return token.status();
  grpc::ClientContext call;
  const std::string request_id = NewRequestId();
  for (const auto& [key, value] : ServiceClient::CallMetadata(request_id, *token)) {
    call.AddMetadata(key, value);
  }
  InterruptCancels interrupt(&call);
  std::unique_ptr<grpc::ClientReader<Response>> reader = open(&call);
  Response message;
  std::ostream& out = context.out();
  bool output_closed = false;
  while (reader->Read(&message)) {
    on_message(message);
    out.flush();
    if (!out && !output_closed) {  // e.g. | head has read enough
      output_closed = true;
      call.TryCancel();
    }
  }
  const grpc::Status status = reader->Finish();
  interrupt.Stop();
  if (interrupt.interrupted() || output_closed) return absl::OkStatus();
  if (status.ok()) {
    context.err() << "the feed ended the " << what << "\n";
    return absl::OkStatus();
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return UnreachableError(absl::StrCat("lost the connection to feed at ",
                                         c.client->endpoint().address, ": ",
                                         status.error_message()),
                            request_id);
  }
  std::string text = status.error_message();
  if (text.empty()) text = "feed failed without a message";
  absl::Status error =
      ServiceError(static_cast<absl::StatusCode>(status.error_code()), text, request_id);
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    error = WithHint(error, token->empty() ? "this needs you to be signed in: run smartctl login "
                                             "USERNAME"
                                           : "the token was not accepted; sign in again with "
                                             "smartctl login");
  } else if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    error = WithHint(error, "smartctl whoami shows your roles and clearance");
  }
  return Explain(error);
}

// ---- feed watch ----

absl::Status FeedWatch(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  v1::SubscribeRequest request;
  request.mutable_filter()->add_datasets(context.args()[0]);
  for (const std::string& s : flags.GetAll("source")) request.mutable_filter()->add_source_ids(s);
  for (const std::string& f : flags.GetAll("field")) request.mutable_filter()->add_fields(f);
  if (flags.Has("bbox")) {
    absl::StatusOr<smartcity::common::v1::BoundingBox> box = ParseBoundingBox(flags.Get("bbox"));
    if (!box.ok()) return WithCommandUsage(context, box.status());
    *request.mutable_filter()->mutable_bounding_box() = *box;
  }
  request.set_include_alarms(flags.GetBool("alarms"));
  if (flags.Has("resume-after")) {
    absl::StatusOr<int64_t> after = ParseIntFlag("resume-after", flags.Get("resume-after"), 1);
    if (!after.ok()) return WithCommandUsage(context, after.status());
    request.set_resume_after(*after);
  }
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  SMARTCTL_RETURN_IF_ERROR(CheckReachable(*c->client));

  int64_t last_position = request.resume_after();
  int64_t snapshot_values = 0;
  bool header = false;
  std::ostream& out = context.out();
  std::ostream& err = context.err();
  absl::Status status = FollowStream<v1::SubscribeResponse>(
      context, *c, "stream",
      [&](grpc::ClientContext* call) { return c->stub->Subscribe(call, request); },
      [&](const v1::SubscribeResponse& response) {
        for (const v1::FeedEvent& event : response.events()) {
          switch (context.output()) {
            case OutputFormat::kJson:
              out << MessageToCompactJson(event) << "\n";
              break;
            case OutputFormat::kYaml:
              out << "---\n" << JsonToYaml(MessageToJson(event));
              break;
            case OutputFormat::kTable:
              if (event.has_update()) {
                if (!header) {
                  out << "TIME  SOURCE  VALUES\n";
                  header = true;
                }
                out << UpdateLine(event.update()) << "\n";
              } else if (event.has_alarm()) {
                out << AlarmEventLine(event.alarm()) << "\n";
              }
              break;
          }
          if (event.has_update()) {
            last_position = std::max(last_position, event.update().position());
            if (event.update().snapshot()) ++snapshot_values;
          } else if (event.has_gap()) {
            out.flush();
            err << GapLine(event.gap()) << "\n";
            err.flush();
          } else if (event.has_snapshot_complete()) {
            last_position = std::max(last_position, event.snapshot_complete().position());
            if (context.output() == OutputFormat::kTable) {
              out.flush();
              err << "snapshot complete: " << snapshot_values << " source"
                  << (snapshot_values == 1 ? "" : "s") << " at position "
                  << event.snapshot_complete().position()
                  << "; live updates follow (Ctrl-C to stop)\n";
              err.flush();
            }
            snapshot_values = 0;
          }
        }
      });
  if (!status.ok() && last_position > 0 && ExitCodeOf(status) == kExitUnreachable) {
    return WithHint(status, absl::StrCat("pick up where it stopped with --resume-after ",
                                         last_position));
  }
  return status;
}

// ---- feed history ----

absl::Status FeedHistory(CommandContext& context) {
  absl::StatusOr<v1::GetHistoryRequest> request =
      HistoryRequestFrom(context.args(), context.flags(), absl::Now());
  if (!request.ok()) return WithCommandUsage(context, request.status());
  if (request->dataset().empty()) {
    // The feed asks for the dataset (its rights are per dataset): the source's, from ingestion.
    absl::StatusOr<std::unique_ptr<ServiceClient>> ingestion = context.Connect("ingestion");
    if (!ingestion.ok()) return ingestion.status();
    auto stub = smartcity::ingestion::v1::IngestionService::NewStub((*ingestion)->channel());
    smartcity::ingestion::v1::GetSourceRequest get;
    get.set_id(request->source_id());
    absl::StatusOr<smartcity::ingestion::v1::Source> source = (*ingestion)->Call(
        *stub, &smartcity::ingestion::v1::IngestionService::Stub::GetSource, get);
    if (!source.ok()) return source.status();
    request->set_dataset(source->dataset());
  }
  absl::StatusOr<v1::GetHistoryResponse> history =
      ConnectAndCall(context, &Stub::GetHistory, *request);
  if (!history.ok()) return history.status();
  if (PrintedForScripts(context, *history)) return absl::OkStatus();
  int64_t shown = 0, raw = 0;
  for (const v1::HistorySeries& series : history->series()) {
    shown += series.points_size();
    raw += series.raw_points();
  }
  if (shown == 0) {
    context.err() << "no readings of " << request->field() << " in "
                  << (request->source_id().empty() ? request->dataset() : request->source_id())
                  << " from " << FormatTime(request->start_time()) << "\n";
    return absl::OkStatus();
  }
  PrintHistory(*history, context.out());
  if (raw > shown) {
    context.err() << shown << " points of " << raw
                  << " readings (downsampled per time bucket; the highest and lowest values are "
                     "kept)\n";
  }
  return absl::OkStatus();
}

// ---- aggregate show ----

absl::Status AggregateShow(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  v1::GetAggregatesRequest request;
  request.set_dataset(context.args()[0]);
  for (const std::string& s : flags.GetAll("source")) request.add_source_ids(s);
  for (const std::string& f : flags.GetAll("field")) request.add_fields(f);
  v1::AggregateWindow only = v1::AGGREGATE_WINDOW_UNSPECIFIED;
  if (flags.Has("window")) {
    absl::StatusOr<v1::AggregateWindow> w = ParseWindow(flags.Get("window"));
    if (!w.ok()) return WithCommandUsage(context, w.status());
    only = *w;
  }
  absl::StatusOr<v1::GetAggregatesResponse> response =
      ConnectAndCall(context, &Stub::GetAggregates, request);
  if (!response.ok()) return response.status();
  // The request has no window: the feed sends every window, and --window keeps one of them.
  if (only != v1::AGGREGATE_WINDOW_UNSPECIFIED) {
    for (v1::AggregateSeries& series : *response->mutable_aggregates()->mutable_series()) {
      auto* windows = series.mutable_windows();
      windows->erase(std::remove_if(windows->begin(), windows->end(),
                                    [&](const v1::WindowStats& w) { return w.window() != only; }),
                     windows->end());
    }
  }
  if (PrintedForScripts(context, *response)) return absl::OkStatus();
  Table table({"SOURCE", "FIELD", "WINDOW", "COUNT", "MIN", "MAX", "MEAN"});
  for (const v1::AggregateSeries& series : response->aggregates().series()) {
    for (const v1::WindowStats& w : series.windows()) {
      table.AddRow({series.source_id().empty() ? "(all)" : series.source_id(), series.field(),
                    WindowName(w.window()), absl::StrCat(w.count()), FormatNumber(w.min()),
                    FormatNumber(w.max()), FormatNumber(w.mean())});
    }
  }
  if (table.empty()) {
    context.err() << "no readings of " << request.dataset() << " in the "
                  << (only == v1::AGGREGATE_WINDOW_UNSPECIFIED ? "last hour"
                                                               : "last " + WindowName(only))
                  << "\n";
    return absl::OkStatus();
  }
  table.Print(context.out());
  if (response->aggregates().has_time()) {
    context.err() << "windows end at " << FormatTime(response->aggregates().time())
                  << " (the feed's clock); (all) is every source of the dataset together\n";
  }
  return absl::OkStatus();
}

// ---- kpi ----

absl::Status KpiCreate(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  if (flags.Get("dataset").empty()) return context.Usage("missing --dataset");
  if (flags.Get("expression").empty()) {
    return context.Usage("missing --expression, e.g. --expression \"sum(free_spaces)\"");
  }
  v1::CreateKpiRequest request;
  v1::Kpi* kpi = request.mutable_kpi();
  kpi->set_name(context.args()[0]);
  kpi->set_dataset(flags.Get("dataset"));
  kpi->set_expression(flags.Get("expression"));
  kpi->set_description(flags.Get("description"));
  kpi->set_unit(flags.Get("unit"));
  absl::StatusOr<v1::Kpi> created = ConnectAndCall(context, &Stub::CreateKpi, request);
  if (!created.ok()) return created.status();
  if (PrintedForScripts(context, *created)) return absl::OkStatus();
  context.out() << "kpi " << created->name() << " created (dataset " << created->dataset()
                << ": " << created->expression() << ")\n";
  return absl::OkStatus();
}

absl::Status KpiList(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  const bool all = flags.GetBool("all");
  v1::ListKpisRequest request;
  request.set_dataset(flags.Get("dataset"));
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  v1::ListKpisResponse result;
  while (true) {
    absl::StatusOr<v1::ListKpisResponse> page = Call(*c, &Stub::ListKpis, request);
    if (!page.ok()) return page.status();
    for (auto& k : *page->mutable_kpis()) *result.add_kpis() = std::move(k);
    result.set_next_page_token(page->next_page_token());
    if (!all || page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (PrintedForScripts(context, result)) return absl::OkStatus();
  if (result.kpis().empty()) {
    context.err() << "no KPIs found\n";
    return absl::OkStatus();
  }
  Table table({"NAME", "DATASET", "EXPRESSION", "UNIT", "DESCRIPTION"});
  for (const v1::Kpi& k : result.kpis()) {
    table.AddRow({k.name(), k.dataset(), k.expression(), k.unit(), k.description()});
  }
  table.Print(context.out());
  if (!result.next_page_token().empty()) {
    context.err() << "showing the first " << result.kpis_size() << " KPIs; add --all for every one\n";
  }
  return absl::OkStatus();
}

absl::Status KpiGet(CommandContext& context) {
  v1::GetKpiRequest request;
  request.set_name(context.args()[0]);
  absl::StatusOr<v1::Kpi> k = ConnectAndCall(context, &Stub::GetKpi, request);
  if (!k.ok()) return k.status();
  if (PrintedForScripts(context, *k)) return absl::OkStatus();
  Details details;
  details.Add("Name", k->name());
  details.Add("Dataset", k->dataset());
  details.Add("Expression", k->expression());
  if (!k->unit().empty()) details.Add("Unit", k->unit());
  if (!k->description().empty()) details.Add("Description", k->description());
  details.Add("Created", FormatTime(k->create_time()));
  if (!k->created_by().empty()) details.Add("Created by", k->created_by());
  details.Print(context.out());
  return absl::OkStatus();
}

absl::Status KpiDelete(CommandContext& context) {
  v1::DeleteKpiRequest request;
  request.set_name(context.args()[0]);
  absl::StatusOr<v1::DeleteKpiResponse> deleted =
      ConnectAndCall(context, &Stub::DeleteKpi, request);
  if (!deleted.ok()) return deleted.status();
  if (PrintedForScripts(context, *deleted)) return absl::OkStatus();
  context.out() << "kpi " << request.name() << " deleted\n";
  return absl::OkStatus();
}

absl::Status KpiWatch(CommandContext& context) {
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  // One unary call first: reachability, a KPI that does not exist and permission come out as
  // for any command, and the unit is known for the lines.
  v1::GetKpiRequest get;
  get.set_name(context.args()[0]);
  absl::StatusOr<v1::Kpi> kpi = Call(*c, &Stub::GetKpi, get);
  if (!kpi.ok()) return kpi.status();
  v1::WatchKpiRequest request;
  request.set_name(kpi->name());
  const std::string unit = kpi->unit().empty() ? "" : absl::StrCat(" ", kpi->unit());
  bool header = false;
  std::ostream& out = context.out();
  return FollowStream<v1::KpiValue>(
      context, *c, "KPI stream",
      [&](grpc::ClientContext* call) { return c->stub->WatchKpi(call, request); },
      [&](const v1::KpiValue& value) {
        switch (context.output()) {
          case OutputFormat::kJson:
            out << MessageToCompactJson(value) << "\n";
            break;
          case OutputFormat::kYaml:
            out << "---\n" << JsonToYaml(MessageToJson(value));
            break;
          case OutputFormat::kTable:
            if (!header) {
              out << "TIME  VALUE  SOURCES\n";
              header = true;
            }
            out << FormatPreciseTime(value.time()) << "  " << FormatNumber(value.value()) << unit
                << "  " << value.sources() << "\n";
            break;
        }
      });
}

// ---- alarm rule ----

const char* const kRuleCreateFlags[] = {"source", "field",      "above",  "below",
                                        "outside", "no-data",   "for",    "hysteresis",
                                        "channel"};

absl::Status RuleCreate(CommandContext& context, const std::string& name) {
  if (context.flags().Has("all")) return context.Usage("--all is for alarm rule list");
  absl::StatusOr<v1::AlarmRule> rule = AlarmRuleFrom(name, context.flags());
  if (!rule.ok()) return WithCommandUsage(context, rule.status());
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  const std::vector<std::string>& wanted = context.flags().GetAll("channel");
  if (!wanted.empty()) {
    absl::StatusOr<std::vector<v1::Channel>> channels = AllChannels(*c);
    if (!channels.ok()) return channels.status();
    for (const std::string& key : wanted) {
      absl::StatusOr<v1::Channel> ch = FindByIdOrName(*channels, key, "channel", "channel list");
      if (!ch.ok()) return ch.status();
      rule->add_channels(ch->id());
    }
  }
  v1::CreateAlarmRuleRequest request;
  *request.mutable_rule() = *rule;
  absl::StatusOr<v1::AlarmRule> created = Call(*c, &Stub::CreateAlarmRule, request);
  if (!created.ok()) return created.status();
  if (PrintedForScripts(context, *created)) return absl::OkStatus();
  context.out() << "alarm rule " << created->name() << " created (id " << created->id()
                << "): " << ConditionText(*created) << "\n";
  return absl::OkStatus();
}

absl::Status RuleList(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  v1::ListAlarmRulesRequest request;
  request.set_dataset(flags.Get("dataset"));
  v1::ListAlarmRulesResponse result;
  while (true) {
    absl::StatusOr<v1::ListAlarmRulesResponse> page = Call(*c, &Stub::ListAlarmRules, request);
    if (!page.ok()) return page.status();
    for (auto& r : *page->mutable_rules()) *result.add_rules() = std::move(r);
    result.set_next_page_token(page->next_page_token());
    if (!flags.GetBool("all") || page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (PrintedForScripts(context, result)) return absl::OkStatus();
  if (result.rules().empty()) {
    context.err() << "no alarm rules found\n";
    return absl::OkStatus();
  }
  // Channel names for the table, when they can be had (ids otherwise).
  std::map<std::string, std::string> channel_names;
  if (absl::StatusOr<std::vector<v1::Channel>> channels = AllChannels(*c); channels.ok()) {
    for (const v1::Channel& ch : *channels) channel_names[ch.id()] = ch.name();
  }
  Table table({"ID", "NAME", "DATASET", "SOURCE", "CONDITION", "CHANNELS"});
  for (const v1::AlarmRule& r : result.rules()) {
    std::vector<std::string> channels;
    for (const std::string& id : r.channels()) {
      auto it = channel_names.find(id);
      channels.push_back(it == channel_names.end() ? id : it->second);
    }
    table.AddRow({r.id(), r.name(), r.dataset(), r.source_id().empty() ? "(all)" : r.source_id(),
                  ConditionText(r), absl::StrJoin(channels, ",")});
  }
  table.Print(context.out());
  if (!result.next_page_token().empty()) {
    context.err() << "showing the first " << result.rules_size()
                  << " rules; add --all for every one\n";
  }
  return absl::OkStatus();
}

absl::Status RuleDelete(CommandContext& context, const std::string& key) {
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  // DeleteAlarmRule takes the id; a name is looked up among the rules.
  absl::StatusOr<std::vector<v1::AlarmRule>> rules = AllRules(*c, "");
  if (!rules.ok()) return rules.status();
  absl::StatusOr<v1::AlarmRule> rule = FindByIdOrName(*rules, key, "alarm rule", "alarm rule list");
  if (!rule.ok()) return rule.status();
  v1::DeleteAlarmRuleRequest request;
  request.set_id(rule->id());
  absl::StatusOr<v1::DeleteAlarmRuleResponse> deleted =
      Call(*c, &Stub::DeleteAlarmRule, request);
  if (!deleted.ok()) return deleted.status();
  if (PrintedForScripts(context, *rule)) return absl::OkStatus();
  context.out() << "alarm rule " << rule->name() << " deleted (id " << rule->id() << ")\n";
  return absl::OkStatus();
}

// `alarm rule create|list|delete`: the dispatcher knows nouns and verbs, so `rule` is the verb
// and the sub-verb is the first argument; each sub-verb refuses the flags of the others.
absl::Status AlarmRuleCommand(CommandContext& context) {
  const std::vector<std::string>& args = context.args();
  const std::string& sub = args[0];
  const ParsedFlags& flags = context.flags();
  if (sub == "create") {
    if (args.size() != 2) return context.Usage("missing NAME: alarm rule create NAME ...");
    return RuleCreate(context, args[1]);
  }
  if (sub != "list" && sub != "delete") {
    return context.Usage(
        absl::StrCat("unknown alarm rule verb \"", sub, "\"; use create, list or delete"));
  }
  for (const char* flag : kRuleCreateFlags) {
    if (flags.Has(flag)) {
      return context.Usage(absl::StrCat("--", flag, " is for alarm rule create"));
    }
  }
  if (sub == "list") {
    if (args.size() != 1) return context.Usage(absl::StrCat("unexpected argument \"", args[1], "\""));
    return RuleList(context);
  }
  if (args.size() != 2) return context.Usage("missing NAME: alarm rule delete NAME");
  if (flags.Has("dataset") || flags.Has("all")) {
    return context.Usage("alarm rule delete takes only NAME (or the rule's id)");
  }
  return RuleDelete(context, args[1]);
}

// ---- alarm list / ack ----

std::string AlarmStateName(v1::AlarmState state) {
  return ShortEnumName(v1::AlarmState_descriptor(), state);
}

absl::Status AlarmList(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  v1::ListAlarmsRequest request;
  request.set_dataset(flags.Get("dataset"));
  request.set_active_only(flags.GetBool("active"));
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  v1::ListAlarmsResponse result;
  while (true) {
    absl::StatusOr<v1::ListAlarmsResponse> page = Call(*c, &Stub::ListAlarms, request);
    if (!page.ok()) return page.status();
    for (auto& a : *page->mutable_alarms()) *result.add_alarms() = std::move(a);
    result.set_next_page_token(page->next_page_token());
    if (!flags.GetBool("all") || page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (PrintedForScripts(context, result)) return absl::OkStatus();
  if (result.alarms().empty()) {
    context.err() << (request.active_only() ? "no active alarms\n" : "no alarms found\n");
    return absl::OkStatus();
  }
  Table table({"ID", "RULE", "DATASET", "SOURCE", "FIELD", "STATE", "VALUE", "RAISED", "CLEARED",
               "ACKNOWLEDGED"});
  for (const v1::Alarm& a : result.alarms()) {
    std::string acked;
    if (a.has_acknowledge_time()) {
      acked = absl::StrCat(FormatTime(a.acknowledge_time()),
                           a.acknowledged_by().empty() ? "" : " by ", a.acknowledged_by());
    }
    table.AddRow({a.id(), a.rule_id(), a.dataset(), a.source_id(), a.field(),
                  AlarmStateName(a.state()), FormatNumber(a.value()), FormatTime(a.raise_time()),
                  FormatTime(a.clear_time()), acked});
  }
  table.Print(context.out());
  if (!result.next_page_token().empty()) {
    context.err() << "showing the first " << result.alarms_size()
                  << " alarms; add --all for every one\n";
  }
  return absl::OkStatus();
}

absl::Status AlarmAck(CommandContext& context) {
  v1::AcknowledgeAlarmRequest request;
  request.set_id(context.args()[0]);
  absl::StatusOr<v1::Alarm> alarm = ConnectAndCall(context, &Stub::AcknowledgeAlarm, request);
  if (!alarm.ok()) return alarm.status();
  if (PrintedForScripts(context, *alarm)) return absl::OkStatus();
  context.out() << "alarm " << alarm->id() << " acknowledged"
                << (alarm->acknowledged_by().empty() ? "" : " by ") << alarm->acknowledged_by()
                << " (" << AlarmStateName(alarm->state()) << ")\n";
  return absl::OkStatus();
}

// ---- channel ----

absl::Status ChannelCreate(CommandContext& context) {
  absl::StatusOr<v1::Channel> channel = ChannelFrom(context.args()[0], context.flags());
  if (!channel.ok()) return WithCommandUsage(context, channel.status());
  v1::CreateChannelRequest request;
  *request.mutable_channel() = *channel;
  absl::StatusOr<v1::Channel> created = ConnectAndCall(context, &Stub::CreateChannel, request);
  if (!created.ok()) return created.status();
  if (PrintedForScripts(context, Redacted(*created))) return absl::OkStatus();
  context.out() << "channel " << created->name() << " created (id " << created->id() << ", "
                << ChannelKindName(created->kind()) << " " << RedactTarget(created->target())
                << ")\n";
  return absl::OkStatus();
}

absl::Status ChannelList(CommandContext& context) {
  const bool all = context.flags().GetBool("all");
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  v1::ListChannelsRequest request;
  v1::ListChannelsResponse result;
  while (true) {
    absl::StatusOr<v1::ListChannelsResponse> page = Call(*c, &Stub::ListChannels, request);
    if (!page.ok()) return page.status();
    for (auto& ch : *page->mutable_channels()) *result.add_channels() = Redacted(std::move(ch));
    result.set_next_page_token(page->next_page_token());
    if (!all || page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (PrintedForScripts(context, result)) return absl::OkStatus();
  if (result.channels().empty()) {
    context.err() << "no channels found\n";
    return absl::OkStatus();
  }
  Table table({"ID", "NAME", "KIND", "TARGET", "HAS_SECRET", "CREATED"});
  for (const v1::Channel& ch : result.channels()) {
    table.AddRow({ch.id(), ch.name(), ChannelKindName(ch.kind()), ch.target(),
                  ch.has_secret() ? "yes" : "no", FormatTime(ch.create_time())});
  }
  table.Print(context.out());
  if (!result.next_page_token().empty()) {
    context.err() << "showing the first " << result.channels_size()
                  << " channels; add --all for every one\n";
  }
  return absl::OkStatus();
}

absl::Status ChannelTest(CommandContext& context) {
  absl::StatusOr<FeedConnection> c = ConnectFeed(context);
  if (!c.ok()) return c.status();
  absl::StatusOr<std::vector<v1::Channel>> channels = AllChannels(*c);
  if (!channels.ok()) return channels.status();
  absl::StatusOr<v1::Channel> channel =
      FindByIdOrName(*channels, context.args()[0], "channel", "channel list");
  if (!channel.ok()) return channel.status();
  v1::TestChannelRequest request;
  request.set_id(channel->id());
  absl::StatusOr<v1::TestChannelResponse> result = Call(*c, &Stub::TestChannel, request);
  if (!result.ok()) return result.status();
  if (!PrintedForScripts(context, *result)) {
    context.out() << "channel " << channel->name() << ": "
                  << (result->delivered() ? "test notification delivered" : "not delivered")
                  << (result->detail().empty() ? "" : " (") << result->detail()
                  << (result->detail().empty() ? "" : ")") << "\n";
  }
  if (!result->delivered()) {
    return ServiceError(absl::StatusCode::kUnavailable,
                        absl::StrCat("the test notification to channel ", channel->name(),
                                     " was not delivered",
                                     result->detail().empty() ? "" : ": ", result->detail()),
                        "");
  }
  return absl::OkStatus();
}

FlagSpec AllFlag() {
  return {"all", 0, false, false, "", "fetch every page, not just the first"};
}

}  // namespace

void AddFeedCommands(Registry& registry) {
  registry.nouns.push_back({"feed", "live readings of a dataset as they are accepted"});
  registry.nouns.push_back({"aggregate", "rolling 1m / 5m / 1h statistics of a dataset's fields"});
  registry.nouns.push_back({"kpi", "named expressions over a dataset's latest values"});
  registry.nouns.push_back({"alarm", "threshold and no-data alarm rules, and the alarms raised"});
  registry.nouns.push_back({"channel", "where alarm notifications go: webhook, e-mail, SMS"});

  registry.commands.push_back(Command{
      "feed", "watch", "DATASET", 1, 1, "print a dataset's readings as they arrive",
      "Opens with a snapshot (the last value of every matching source, marked (snapshot)),\n"
      "then prints each update as the feed receives it: TIME SOURCE field=value.... Runs until\n"
      "Ctrl-C (exit 0). -o json prints one event per line ({\"update\":...}, {\"gap\":...},\n"
      "{\"snapshot_complete\":...}). When the feed drops updates (this watch read too slowly)\n"
      "or no longer holds what --resume-after asks for, a line starting \"gap:\" goes to\n"
      "standard error. Each update carries a position; --resume-after POSITION continues\n"
      "after it. --bbox keeps readings whose position (a geo value, else the source's\n"
      "registered position) lies in the box. --alarms adds the alarm events of the matching\n"
      "sources as lines \"ALARM raised|cleared|acknowledged rule=... source=... value=...\".\n\n"
      "Examples:\n"
      "  smartctl feed watch bathing-temperature --alarms\n"
      "  smartctl feed watch parking --source p-sentrum --field free_spaces -o json | jq .\n"
      "  smartctl feed watch parking --bbox 5.70,58.95,5.76,58.98\n"
      "  smartctl feed watch parking --resume-after 123456",
      {{"source", 0, true, true, "ID", "only this source"},
       {"field", 0, true, true, "FIELD", "only this field (readings without it are left out)"},
       {"bbox", 0, true, false, "MINLON,MINLAT,MAXLON,MAXLAT", "only readings inside this box"},
       {"alarms", 0, false, false, "", "also print alarm events (raised, cleared, acknowledged)"},
       {"resume-after", 0, true, false, "POSITION", "continue after this position"}},
      FeedWatch});
  registry.commands.push_back(Command{
      "feed", "history", "[DATASET]", 0, 1, "a field's history, downsampled for charts",
      "TIME VALUE rows (SOURCE TIME VALUE for a dataset with several sources), at most\n"
      "--points per source: the feed keeps each time bucket's highest and lowest value, so\n"
      "peaks survive. Give the DATASET, --source, or both. --from and --to take RFC 3339\n"
      "times, dates, now, or times ago (-7d, -1h); --from defaults to -24h, --to to now.\n\n"
      "Examples:\n"
      "  smartctl feed history --source p-sentrum --field free_spaces --from -7d\n"
      "  smartctl feed history parking --field free_spaces --from 2026-01-01 --to 2026-02-01 \\\n"
      "      --points 200 -o json",
      {{"source", 0, true, false, "ID", "only this source"},
       {"field", 0, true, false, "FIELD", "the numeric field (required)"},
       {"from", 0, true, false, "TIME", "start (default -24h)"},
       {"to", 0, true, false, "TIME", "end (default now)"},
       {"points", 0, true, false, "N", "at most N points per source, 2..10000 (default 1000)"}},
      FeedHistory});

  registry.commands.push_back(Command{
      "aggregate", "show", "DATASET", 1, 1, "rolling count/min/max/mean of numeric fields",
      "Per source and for the whole dataset ((all)), per numeric field: count, min, max and\n"
      "mean over the last minute, 5 minutes and hour (windows without readings are left\n"
      "out). --window keeps one of them.\n\n"
      "Examples:\n"
      "  smartctl aggregate show parking --window 5m\n"
      "  smartctl aggregate show bathing-temperature --source buoy-3 --field temperature -o json",
      {{"source", 0, true, true, "ID", "only this source (without: every source and (all))"},
       {"field", 0, true, true, "FIELD", "only this field"},
       {"window", 0, true, false, "WINDOW", "1m, 5m or 1h"}},
      AggregateShow});

  registry.commands.push_back(Command{
      "kpi", "create", "NAME", 1, 1, "define a KPI (platform-admin)",
      "NAME: 2-100 characters of a-z, 0-9, '-' and '_'. The expression is over the dataset's\n"
      "latest values and is checked by the feed.\n\n"
      "Examples:\n"
      "  smartctl kpi create free-parking --dataset parking --expression \"sum(free_spaces)\" \\\n"
      "      --unit spaces --description \"Free parking spaces in the city\"",
      {{"dataset", 0, true, false, "DATASET", "the dataset it is computed over (required)"},
       {"expression", 0, true, false, "EXPR", "e.g. \"sum(free_spaces)\" (required)"},
       {"description", 0, true, false, "TEXT", "what it means"},
       {"unit", 0, true, false, "UNIT", "shown after the value, e.g. spaces, %"}},
      KpiCreate});
  registry.commands.push_back(Command{
      "kpi", "list", "", 0, 0, "list KPIs",
      "KPIs of the datasets you may read.\n\n"
      "Examples:\n  smartctl kpi list\n  smartctl kpi list --dataset parking -o json",
      {{"dataset", 0, true, false, "DATASET", "only the KPIs of this dataset"}, AllFlag()},
      KpiList});
  registry.commands.push_back(Command{"kpi", "get", "NAME", 1, 1, "show one KPI",
                                      "Examples:\n  smartctl kpi get free-parking -o yaml", {},
                                      KpiGet});
  registry.commands.push_back(Command{"kpi", "delete", "NAME", 1, 1,
                                      "delete a KPI (platform-admin)",
                                      "Examples:\n  smartctl kpi delete free-parking", {},
                                      KpiDelete});
  registry.commands.push_back(Command{
      "kpi", "watch", "NAME", 1, 1, "print a KPI's value as it changes",
      "TIME VALUE SOURCES (how many sources' values went into it), until Ctrl-C (exit 0);\n"
      "-o json prints one value per line.\n\n"
      "Examples:\n  smartctl kpi watch free-parking\n  smartctl kpi watch free-parking -o json",
      {},
      KpiWatch});

  registry.commands.push_back(Command{
      "alarm", "rule", "create|list|delete [NAME]", 1, 2,
      "alarm rules: create, list, delete (platform-admin)",
      "alarm rule create NAME --dataset D [--source S] --field F\n"
      "    (--above X | --below X | --outside LOW,HIGH | --no-data DURATION)\n"
      "    [--for DURATION] [--hysteresis H] [--channel C]...\n"
      "  The condition must hold for --for before the alarm is raised; it clears when the\n"
      "  value is back past the threshold by --hysteresis. --no-data raises when a source\n"
      "  (or, without --source, any source of the dataset) sends nothing for that long.\n"
      "  --channel takes a channel's name or id (smartctl channel list).\n"
      "alarm rule list [--dataset D] [--all]\n"
      "  ID NAME DATASET SOURCE CONDITION CHANNELS.\n"
      "alarm rule delete NAME\n"
      "  NAME is the rule's name or id.\n\n"
      "Examples:\n"
      "  smartctl alarm rule create warm-water --dataset bathing-temperature --field temperature \\\n"
      "      --above 25 --for 10m --hysteresis 1 --channel ops-mail\n"
      "  smartctl alarm rule create buoy-silent --dataset bathing-temperature --no-data 1h\n"
      "  smartctl alarm rule list\n"
      "  smartctl alarm rule delete warm-water",
      {{"dataset", 0, true, false, "DATASET", "create: the dataset (required); list: only its rules"},
       {"source", 0, true, false, "ID", "create: only this source (default: every source)"},
       {"field", 0, true, false, "FIELD", "create: the numeric field (not for --no-data)"},
       {"above", 0, true, false, "X", "create: raise when the value is above X"},
       {"below", 0, true, false, "X", "create: raise when the value is below X"},
       {"outside", 0, true, false, "LOW,HIGH", "create: raise when below LOW or above HIGH"},
       {"no-data", 0, true, false, "DURATION", "create: raise after no reading for this long"},
       {"for", 0, true, false, "DURATION", "create: how long the condition must hold"},
       {"hysteresis", 0, true, false, "H", "create: how far back past the threshold to clear"},
       {"channel", 0, true, true, "CHANNEL", "create: notify this channel (name or id)"},
       {"all", 0, false, false, "", "list: fetch every page, not just the first"}},
      AlarmRuleCommand});
  registry.commands.push_back(Command{
      "alarm", "list", "", 0, 0, "alarms raised and cleared",
      "ID RULE DATASET SOURCE FIELD STATE VALUE RAISED CLEARED ACKNOWLEDGED, for the datasets\n"
      "you may read. --active: only the ones still raised.\n\n"
      "Examples:\n  smartctl alarm list --active\n  smartctl alarm list --dataset parking -o json",
      {{"active", 0, false, false, "", "only raised alarms"},
       {"dataset", 0, true, false, "DATASET", "only this dataset's alarms"},
       AllFlag()},
      AlarmList});
  registry.commands.push_back(Command{"alarm", "ack", "ID", 1, 1, "acknowledge an alarm",
                                      "Records that you have seen it (needs read on the dataset "
                                      "and being signed in).\n\n"
                                      "Examples:\n  smartctl alarm ack 7f3c2a",
                                      {},
                                      AlarmAck});

  registry.commands.push_back(Command{
      "channel", "create", "NAME", 1, 1, "add a notification channel (platform-admin)",
      "Exactly one of:\n"
      "  --webhook URL      an HTTP POST with a JSON body (https://; http:// only on loopback)\n"
      "  --email ADDRESS    one address per channel\n"
      "  --sms +NUMBER      sent through the feed's SMS gateway\n"
      "--secret-file FILE (webhook and SMS) gives the channel its own signing key (at least\n"
      "32 bytes; the file's trailing line break is not part of it); without it the feed's\n"
      "service-wide key signs. The key is never shown again: channel list says HAS_SECRET.\n"
      "The feed API's Channel has no field for --smtp, --from and --gateway, so they are\n"
      "refused for now (the feed service's own settings apply).\n"
      "Passwords and query values of URLs are shown as (redacted).\n\n"
      "Examples:\n"
      "  smartctl channel create ops-hook --webhook https://ops.example.no/hooks/smartby \\\n"
      "      --secret-file ops-hook.key\n"
      "  smartctl channel create ops-mail --email drift@stavanger.kommune.no\n"
      "  smartctl channel create vakt-sms --sms +4791234567",
      {{"webhook", 0, true, false, "URL", "post notifications to this URL"},
       {"secret-file", 0, true, false, "FILE", "this channel's signing key (webhook, SMS)"},
       {"email", 0, true, false, "ADDRESS", "send notifications to this address"},
       {"smtp", 0, true, false, "HOST:PORT", "SMTP relay (not in the API yet)"},
       {"from", 0, true, false, "ADDRESS", "sender address (not in the API yet)"},
       {"sms", 0, true, false, "+NUMBER", "send notifications by SMS to this number"},
       {"gateway", 0, true, false, "URL", "SMS gateway (not in the API yet)"}},
      ChannelCreate});
  registry.commands.push_back(Command{
      "channel", "list", "", 0, 0, "list notification channels (platform-admin)",
      "Examples:\n  smartctl channel list\n  smartctl channel list -o json", {AllFlag()},
      ChannelList});
  registry.commands.push_back(Command{
      "channel", "test", "NAME", 1, 1, "send a test notification",
      "NAME is the channel's name or id. Exits 1 when the notification was not delivered.\n\n"
      "Examples:\n  smartctl channel test ops-mail",
      {},
      ChannelTest});
}

}  // namespace smartby::smartctl
