#include "services/feed/feed.h"

#include <map>
#include <random>
#include <set>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/feed/kpi.h"
#include "services/feed/kpi_watch.h"
#include "services/runtime/status.h"

namespace smartby::feed {
namespace {

using google::protobuf::util::TimeUtil;
namespace iv1 = ::smartcity::ingestion::v1;

bool IsName(const std::string& s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_')) return false;
  }
  return true;
}

int PageSize(int32_t requested) {
  if (requested <= 0) return 100;
  return std::min(requested, 1000);
}

absl::Status RequireAdmin(const auth::Caller& caller) {
  return caller.Authorize(auth::Action::kAdminister, {});
}

google::protobuf::Timestamp Now(const Clock* clock) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(clock->Now()));
}

}  // namespace

absl::Status ValidateKpi(const v1::Kpi& kpi) {
  if (!IsName(kpi.name(), 2, 100)) {
    return absl::InvalidArgumentError(
        "kpi.name: must be 2-100 characters of a-z, 0-9, '-' or '_'");
  }
  if (kpi.dataset().empty()) return absl::InvalidArgumentError("kpi.dataset: required");
  if (kpi.expression().empty() || kpi.expression().size() > 4096) {
    return absl::InvalidArgumentError("kpi.expression: required, at most 4096 characters");
  }
  return absl::OkStatus();
}

absl::Status ValidateAlarmRule(const v1::AlarmRule& rule) {
  if (rule.dataset().empty()) return absl::InvalidArgumentError("rule.dataset: required");
  if (rule.name().size() > 200) {
    return absl::InvalidArgumentError("rule.name: at most 200 characters");
  }
  switch (rule.kind()) {
    case v1::ALARM_KIND_ABOVE:
    case v1::ALARM_KIND_BELOW:
      break;
    case v1::ALARM_KIND_OUTSIDE:
      if (!(rule.lower() < rule.upper())) {
        return absl::InvalidArgumentError("rule.lower, rule.upper: OUTSIDE needs lower < upper");
      }
      break;
    case v1::ALARM_KIND_NO_DATA:
      if (rule.for_duration().seconds() <= 0) {
        return absl::InvalidArgumentError(
            "rule.for_duration: NO_DATA needs a silence of at least 1 s");
      }
      break;
    default:
      return absl::InvalidArgumentError(
          "rule.kind: one of ALARM_KIND_ABOVE, _BELOW, _OUTSIDE, _NO_DATA");
  }
  if (rule.kind() != v1::ALARM_KIND_NO_DATA && rule.field().empty()) {
    return absl::InvalidArgumentError("rule.field: required unless kind is NO_DATA");
  }
  if (rule.for_duration().seconds() < 0 || rule.for_duration().nanos() < 0) {
    return absl::InvalidArgumentError("rule.for_duration: must not be negative");
  }
  if (!(rule.hysteresis() >= 0)) {
    return absl::InvalidArgumentError("rule.hysteresis: must be 0 or more");
  }
  return absl::OkStatus();
}

absl::Status ValidateChannel(const v1::Channel& channel) {
  const std::string& t = channel.target();
  switch (channel.kind()) {
    case v1::CHANNEL_KIND_WEBHOOK:
      if (!absl::StartsWith(t, "https://") && !absl::StartsWith(t, "http://127.0.0.1") &&
          !absl::StartsWith(t, "http://localhost") && !absl::StartsWith(t, "http://[::1]")) {
        return absl::InvalidArgumentError(
            "channel.target: a webhook needs an https:// URL (http:// only on loopback)");
      }
      break;
    case v1::CHANNEL_KIND_EMAIL: {
      const size_t at = t.find('@');
      if (at == std::string::npos || at == 0 || at + 1 >= t.size() ||
          t.find('.', at) == std::string::npos || t.find(' ') != std::string::npos) {
        return absl::InvalidArgumentError("channel.target: an e-mail address like navn@kommune.no");
      }
      break;
    }
    case v1::CHANNEL_KIND_SMS: {
      int64_t digits = 0;
      if (t.size() < 4 || t.size() > 16 || t[0] != '+' ||
          !absl::SimpleAtoi(absl::string_view(t).substr(1), &digits)) {
        return absl::InvalidArgumentError(
            "channel.target: a phone number as + and 3-15 digits, e.g. +4791234567");
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(
          "channel.kind: one of CHANNEL_KIND_WEBHOOK, _EMAIL, _SMS");
  }
  if (channel.name().size() > 200) {
    return absl::InvalidArgumentError("channel.name: at most 200 characters");
  }
  // The channel's own signing key: never put in a message (only its length).
  if (!channel.secret().empty()) {
    if (channel.kind() == v1::CHANNEL_KIND_EMAIL) {
      return absl::InvalidArgumentError(
          "channel.secret: only webhook and SMS channels are signed; leave it empty for e-mail");
    }
    if (channel.secret().size() < 32 || channel.secret().size() > 1024) {
      return absl::InvalidArgumentError(absl::StrCat(
          "channel.secret: 32 to 1024 bytes (an HMAC-SHA256 key), got ",
          channel.secret().size()));
    }
  }
  return absl::OkStatus();
}

Feed::Feed(FeedDeps deps) : deps_(std::move(deps)) {
  if (deps_.ingestion != nullptr) {
    history_ = std::make_unique<HistoryReader>(
        deps_.ingestion, deps_.tokens,
        deps_.downsampler != nullptr ? deps_.downsampler : &default_downsampler_);
  }
}

std::string Feed::NewId(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(prefix, "-", absl::Hex(rng(), absl::kZeroPad16));
}

absl::Status Feed::AuthorizeRead(const auth::Caller& caller, const std::string& dataset) {
  return caller.Authorize(auth::Action::kRead,
                          deps_.hub->resolver()->Resolve(
                              dataset, smartcity::common::v1::CLASSIFICATION_UNSPECIFIED));
}

absl::StatusOr<v1::Kpi> Feed::CreateKpi(const auth::Caller& caller, v1::Kpi kpi) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  RETURN_IF_ERROR(ValidateKpi(kpi));
  // Classification: an administrator defines KPIs only over datasets they may read.
  RETURN_IF_ERROR(AuthorizeRead(caller, kpi.dataset()));
  absl::StatusOr<KpiExpression> expression = ParseKpi(kpi.expression());
  if (!expression.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kpi.expression: ", expression.status().message()));
  }
  if (deps_.datasets != nullptr) {
    absl::StatusOr<std::shared_ptr<const ingestion::DatasetSchema>> schema =
        deps_.datasets->Lookup(kpi.dataset());
    if (absl::IsNotFound(schema.status())) {
      return absl::InvalidArgumentError(
          absl::StrCat("kpi.dataset: no dataset \"", kpi.dataset(), "\" in the catalogue"));
    }
    RETURN_IF_ERROR(schema.status());
    for (const std::string& field : expression->fields()) {
      const smartcity::catalogue::v1::SchemaField* f = (*schema)->Find(field);
      if (f == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("kpi.expression: dataset \"",
                                                       kpi.dataset(), "\" has no field \"",
                                                       field, "\""));
      }
      if (f->type() != smartcity::catalogue::v1::FIELD_TYPE_INTEGER &&
          f->type() != smartcity::catalogue::v1::FIELD_TYPE_DOUBLE) {
        return absl::InvalidArgumentError(absl::StrCat(
            "kpi.expression: field \"", field, "\" of dataset \"", kpi.dataset(),
            "\" is not numeric (INTEGER or DOUBLE)"));
      }
    }
  }
  kpi.set_expression(expression->ToString());
  *kpi.mutable_create_time() = Now(deps_.clock);
  kpi.set_created_by(caller.subject());
  RETURN_IF_ERROR(deps_.store->CreateKpi(kpi));
  return kpi;
}

absl::StatusOr<v1::ListKpisResponse> Feed::ListKpis(const auth::Caller& caller,
                                                    const v1::ListKpisRequest& request) {
  caller.MarkChecked();
  v1::ListKpisResponse response;
  PageQuery page{request.dataset(), request.page_token(), PageSize(request.page_size())};
  ASSIGN_OR_RETURN(std::vector<v1::Kpi> kpis, deps_.store->ListKpis(page));
  std::map<std::string, bool> allowed;
  for (v1::Kpi& kpi : kpis) {
    auto [it, inserted] = allowed.try_emplace(kpi.dataset());
    if (inserted) {
      it->second = caller.Allows(auth::Action::kRead,
                                 deps_.hub->resolver()->Resolve(
                                     kpi.dataset(), smartcity::common::v1::CLASSIFICATION_UNSPECIFIED));
    }
    if (it->second) *response.add_kpis() = std::move(kpi);
  }
  if (static_cast<int>(kpis.size()) == page.limit) response.set_next_page_token(kpis.back().name());
  return response;
}

absl::StatusOr<v1::Kpi> Feed::GetKpi(const auth::Caller& caller, const std::string& name) {
  absl::StatusOr<v1::Kpi> kpi = deps_.store->GetKpi(name);
  if (!kpi.ok()) {
    caller.MarkChecked();
    return kpi.status();
  }
  RETURN_IF_ERROR(AuthorizeRead(caller, kpi->dataset()));
  // The value now, as WatchKpi would send it first. Undefined for this data (no source has a
  // value yet, a division by zero): left unset.
  absl::StatusOr<KpiExpression> expression = ParseKpi(kpi->expression());
  if (deps_.hub != nullptr && deps_.clock != nullptr && expression.ok()) {
    absl::StatusOr<v1::KpiValue> current =
        EvaluateKpi(*deps_.hub, *kpi, *expression, deps_.clock->Now());
    if (current.ok() && current->sources() > 0) *kpi->mutable_current() = *std::move(current);
  }
  return kpi;
}

absl::Status Feed::DeleteKpi(const auth::Caller& caller, const std::string& name) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  return deps_.store->DeleteKpi(name);
}

absl::StatusOr<v1::AlarmRule> Feed::CreateAlarmRule(const auth::Caller& caller,
                                                     v1::AlarmRule rule) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  RETURN_IF_ERROR(ValidateAlarmRule(rule));
  for (const std::string& channel : rule.channels()) {
    absl::StatusOr<v1::Channel> found = deps_.store->GetChannel(channel);
    if (absl::IsNotFound(found.status())) {
      return absl::InvalidArgumentError(
          absl::StrCat("rule.channels: no channel \"", channel, "\" (CreateChannel first)"));
    }
    RETURN_IF_ERROR(found.status());
  }
  rule.set_id(NewId("rule"));
  if (deps_.alarms != nullptr) RETURN_IF_ERROR(deps_.alarms->CheckRule(rule));
  *rule.mutable_create_time() = Now(deps_.clock);
  rule.set_created_by(caller.subject());
  RETURN_IF_ERROR(deps_.store->CreateAlarmRule(rule));
  if (deps_.alarms != nullptr) RETURN_IF_ERROR(deps_.alarms->RuleCreated(rule));
  return rule;
}

absl::StatusOr<v1::ListAlarmRulesResponse> Feed::ListAlarmRules(
    const auth::Caller& caller, const v1::ListAlarmRulesRequest& request) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  PageQuery page{request.dataset(), request.page_token(), PageSize(request.page_size())};
  ASSIGN_OR_RETURN(std::vector<v1::AlarmRule> rules, deps_.store->ListAlarmRules(page));
  v1::ListAlarmRulesResponse response;
  if (static_cast<int>(rules.size()) == page.limit) response.set_next_page_token(rules.back().id());
  for (v1::AlarmRule& rule : rules) *response.add_rules() = std::move(rule);
  return response;
}

absl::Status Feed::DeleteAlarmRule(const auth::Caller& caller, const std::string& id) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  RETURN_IF_ERROR(deps_.store->DeleteAlarmRule(id));
  if (deps_.alarms != nullptr) RETURN_IF_ERROR(deps_.alarms->RuleDeleted(id));
  return absl::OkStatus();
}

absl::StatusOr<v1::ListAlarmsResponse> Feed::ListAlarms(const auth::Caller& caller,
                                                        const v1::ListAlarmsRequest& request) {
  caller.MarkChecked();
  PageQuery page{request.dataset(), request.page_token(), PageSize(request.page_size())};
  ASSIGN_OR_RETURN(std::vector<v1::Alarm> alarms,
                   deps_.store->ListAlarms(page, request.active_only()));
  v1::ListAlarmsResponse response;
  if (static_cast<int>(alarms.size()) == page.limit) {
    response.set_next_page_token(alarms.back().id());
  }
  std::map<std::string, bool> allowed;
  for (v1::Alarm& alarm : alarms) {
    auto [it, inserted] = allowed.try_emplace(alarm.dataset());
    if (inserted) {
      it->second = caller.Allows(auth::Action::kRead,
                                 deps_.hub->resolver()->Resolve(
                                     alarm.dataset(), smartcity::common::v1::CLASSIFICATION_UNSPECIFIED));
    }
    if (it->second) *response.add_alarms() = std::move(alarm);
  }
  return response;
}

absl::StatusOr<v1::Alarm> Feed::AcknowledgeAlarm(const auth::Caller& caller,
                                                 const std::string& id) {
  absl::StatusOr<v1::Alarm> alarm = deps_.store->GetAlarm(id);
  if (!alarm.ok()) {
    caller.MarkChecked();
    return alarm.status();
  }
  RETURN_IF_ERROR(AuthorizeRead(caller, alarm->dataset()));
  if (!caller.authenticated()) return absl::UnauthenticatedError("sign in to acknowledge alarms");
  if (deps_.alarms != nullptr) return deps_.alarms->Acknowledge(id, caller.subject());
  if (alarm->acknowledged_by().empty()) {
    *alarm->mutable_acknowledge_time() = Now(deps_.clock);
    alarm->set_acknowledged_by(caller.subject());
    RETURN_IF_ERROR(deps_.store->PutAlarm(*alarm));
  }
  return alarm;
}

absl::StatusOr<v1::Channel> Feed::CreateChannel(const auth::Caller& caller, v1::Channel channel) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  RETURN_IF_ERROR(ValidateChannel(channel));
  channel.set_id(NewId("channel"));
  *channel.mutable_create_time() = Now(deps_.clock);
  channel.set_created_by(caller.subject());
  RETURN_IF_ERROR(deps_.store->CreateChannel(channel));
  // The key is write-only: the answer says only whether there is one.
  channel.set_has_secret(!channel.secret().empty());
  channel.clear_secret();
  return channel;
}

absl::StatusOr<v1::ListChannelsResponse> Feed::ListChannels(
    const auth::Caller& caller, const v1::ListChannelsRequest& request) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  PageQuery page{"", request.page_token(), PageSize(request.page_size())};
  ASSIGN_OR_RETURN(std::vector<v1::Channel> channels, deps_.store->ListChannels(page));
  v1::ListChannelsResponse response;
  if (static_cast<int>(channels.size()) == page.limit) {
    response.set_next_page_token(channels.back().id());
  }
  for (v1::Channel& channel : channels) *response.add_channels() = std::move(channel);
  return response;
}

absl::StatusOr<v1::TestChannelResponse> Feed::TestChannel(const auth::Caller& caller,
                                                          const std::string& id) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  ASSIGN_OR_RETURN(v1::Channel channel, deps_.store->GetChannel(id));
  if (deps_.channel_tester == nullptr) {
    return absl::UnimplementedError("TestChannel: no notifier is configured in this build");
  }
  return deps_.channel_tester->Test(channel);
}

absl::StatusOr<v1::GetAggregatesResponse> Feed::GetAggregates(
    const auth::Caller& caller, const v1::GetAggregatesRequest& request) {
  if (request.dataset().empty()) {
    caller.MarkChecked();
    return absl::InvalidArgumentError("dataset: required");
  }
  RETURN_IF_ERROR(AuthorizeRead(caller, request.dataset()));
  v1::GetAggregatesResponse response;
  *response.mutable_aggregates() = deps_.hub->aggregates().Query(
      request.dataset(), {request.source_ids().begin(), request.source_ids().end()},
      {request.fields().begin(), request.fields().end()});
  return response;
}

absl::StatusOr<v1::GetHistoryResponse> Feed::GetHistory(const auth::Caller& caller,
                                                        const v1::GetHistoryRequest& request) {
  if (request.dataset().empty()) {
    caller.MarkChecked();
    return absl::InvalidArgumentError("dataset: required (source_id narrows it to one source)");
  }
  RETURN_IF_ERROR(AuthorizeRead(caller, request.dataset()));
  if (request.field().empty()) return absl::InvalidArgumentError("field: required");
  if (!request.has_start_time()) return absl::InvalidArgumentError("start_time: required");
  const int max_points = request.max_points() == 0 ? 1000 : request.max_points();
  if (max_points < 2 || max_points > 10000) {
    return absl::InvalidArgumentError("max_points: 2..10000 (0: 1000)");
  }
  if (history_ == nullptr) return absl::UnavailableError("history: no ingestion service");
  const absl::Time end =
      request.has_end_time()
          ? absl::FromUnixMicros(
                google::protobuf::util::TimeUtil::TimestampToMicroseconds(request.end_time()))
          : deps_.clock->Now();
  return history_->Read(request, max_points, end);
}

}  // namespace smartby::feed
