#include "services/feed/alarm_observer.h"

#include <utility>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby::feed {
namespace {

using google::protobuf::util::TimeUtil;
namespace iv1 = ::smartcity::ingestion::v1;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}
absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

AlarmKind KindOf(v1::AlarmKind kind) {
  switch (kind) {
    case v1::ALARM_KIND_BELOW:
      return AlarmKind::kBelow;
    case v1::ALARM_KIND_OUTSIDE:
      return AlarmKind::kOutside;
    case v1::ALARM_KIND_NO_DATA:
      return AlarmKind::kNoData;
    default:
      return AlarmKind::kAbove;
  }
}

std::map<std::string, double> NumericValues(const iv1::Reading& reading) {
  std::map<std::string, double> out;
  for (const auto& [name, value] : reading.values()) {
    if (value.has_double_value()) {
      out[name] = value.double_value();
    } else if (value.has_integer_value()) {
      out[name] = static_cast<double>(value.integer_value());
    }
  }
  return out;
}

constexpr int kPage = 500;

}  // namespace

AlarmRule ToEngineRule(const v1::AlarmRule& rule) {
  AlarmRule out;
  out.id = rule.id();
  out.dataset = rule.dataset();
  out.source = rule.source_id();
  out.field = rule.field();
  out.kind = KindOf(rule.kind());
  out.hysteresis = rule.hysteresis();
  const absl::Duration duration =
      absl::Microseconds(TimeUtil::DurationToMicroseconds(rule.for_duration()));
  switch (out.kind) {
    case AlarmKind::kAbove:
      out.threshold = rule.upper();
      out.for_duration = duration;
      break;
    case AlarmKind::kBelow:
      out.threshold = rule.lower();
      out.for_duration = duration;
      break;
    case AlarmKind::kOutside:
      out.low = rule.lower();
      out.high = rule.upper();
      out.for_duration = duration;
      break;
    case AlarmKind::kNoData:
      out.no_data_after = duration;
      break;
  }
  return out;
}

v1::Alarm ApplyAlarmEvent(v1::Alarm stored, const AlarmEvent& event) {
  if (event.type == AlarmEventType::kRaised || stored.id().empty()) {
    stored.set_id(event.alarm_id);
    stored.set_rule_id(event.rule_id);
    stored.set_dataset(event.dataset);
    stored.set_source_id(event.source);
    stored.set_field(event.field);
  }
  switch (event.type) {
    case AlarmEventType::kRaised:
      stored.set_state(v1::ALARM_STATE_RAISED);
      stored.set_value(event.value.value_or(0));
      *stored.mutable_raise_time() = ToProto(event.time);
      break;
    case AlarmEventType::kCleared:
      stored.set_state(v1::ALARM_STATE_CLEARED);
      *stored.mutable_clear_time() = ToProto(event.time);
      break;
    case AlarmEventType::kAcknowledged:
      if (stored.state() == v1::ALARM_STATE_UNSPECIFIED) stored.set_state(v1::ALARM_STATE_RAISED);
      stored.set_acknowledged_by(event.acknowledged_by);
      *stored.mutable_acknowledge_time() = ToProto(event.time);
      break;
  }
  return stored;
}

AlarmObserver::AlarmObserver(FeedStore* store, Notifier* notifier, const Clock* clock)
    : store_(store), notifier_(notifier), clock_(clock) {}

absl::Status AlarmObserver::Start() {
  std::vector<v1::AlarmRule> stored;
  for (PageQuery page{"", "", kPage};;) {
    ASSIGN_OR_RETURN(std::vector<v1::AlarmRule> rules, store_->ListAlarmRules(page));
    for (v1::AlarmRule& rule : rules) stored.push_back(std::move(rule));
    if (static_cast<int>(rules.size()) < kPage) break;
    page.after = stored.back().id();
  }
  std::vector<v1::Alarm> active;
  for (PageQuery page{"", "", kPage};;) {
    ASSIGN_OR_RETURN(std::vector<v1::Alarm> alarms, store_->ListAlarms(page, true));
    for (v1::Alarm& alarm : alarms) active.push_back(std::move(alarm));
    if (static_cast<int>(alarms.size()) < kPage) break;
    page.after = active.back().id();
  }
  std::lock_guard<std::mutex> write_lock(write_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AlarmRule> engine_rules;
  rules_.clear();
  for (const v1::AlarmRule& rule : stored) {
    AlarmRule r = ToEngineRule(rule);
    if (absl::Status valid = ValidateRule(r); !valid.ok()) {
      log::Warn("alarm rule skipped: the engine refuses it",
                {{"rule", rule.id()}, {"error", std::string(valid.message())}});
      continue;
    }
    engine_rules.push_back(std::move(r));
    rules_[rule.id()] = rule;
  }
  ASSIGN_OR_RETURN(std::vector<AlarmEvent> ignored,
                   engine_.SetRules(std::move(engine_rules), clock_->Now()));
  (void)ignored;  // a fresh engine has no state to clear
  for (const v1::Alarm& alarm : active) {
    const auto rule = rules_.find(alarm.rule_id());
    if (rule == rules_.end()) continue;  // its rule is gone: stays as stored
    AlarmEvent event;
    event.type = AlarmEventType::kRaised;
    event.alarm_id = alarm.id();
    event.rule_id = alarm.rule_id();
    event.dataset = alarm.dataset();
    event.source = alarm.source_id();
    event.field = alarm.field();
    event.kind = KindOf(rule->second.kind());
    event.value = alarm.value();
    event.time = FromProto(alarm.raise_time());
    engine_.ReplayEvent(event);
    if (!alarm.acknowledged_by().empty()) {
      event.type = AlarmEventType::kAcknowledged;
      event.value.reset();
      event.acknowledged_by = alarm.acknowledged_by();
      event.time = FromProto(alarm.acknowledge_time());
      engine_.ReplayEvent(event);
    }
    active_[alarm.id()] = alarm;
  }
  log::Info("alarm rules loaded", {{"rules", static_cast<int64_t>(rules_.size())},
                                   {"active_alarms", static_cast<int64_t>(active.size())}});
  return absl::OkStatus();
}

void AlarmObserver::OnReadings(absl::Span<const PositionedReading> readings) {
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rules_.empty()) return;
    for (const PositionedReading& r : readings) {
      std::vector<AlarmEvent> events =
          engine_.OnReading(r.reading().source_id(), r.dataset(), NumericValues(r.reading()),
                            FromProto(r.reading().time()));
      if (!events.empty()) {
        queued = true;
        QueueLocked(std::move(events));
      }
    }
  }
  if (queued) Flush();
}

void AlarmObserver::Tick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AlarmEvent> events = engine_.Tick(clock_->Now());
    if (events.empty()) return;
    QueueLocked(std::move(events));
  }
  Flush();
}

absl::Status AlarmObserver::CheckRule(const v1::AlarmRule& rule) {
  AlarmRule r = ToEngineRule(rule);
  if (r.id.empty()) r.id = "check";
  if (absl::Status valid = ValidateRule(r); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("rule: ", valid.message()));
  }
  return absl::OkStatus();
}

absl::Status AlarmObserver::RuleCreated(const v1::AlarmRule& rule) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(std::vector<AlarmEvent> events,
                     engine_.UpsertRule(ToEngineRule(rule), clock_->Now()));
    rules_[rule.id()] = rule;
    QueueLocked(std::move(events));
  }
  Flush();
  return absl::OkStatus();
}

absl::Status AlarmObserver::RuleDeleted(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::StatusOr<std::vector<AlarmEvent>> events = engine_.RemoveRule(id, clock_->Now());
    if (!events.ok() && !absl::IsNotFound(events.status())) return events.status();
    if (events.ok()) QueueLocked(*std::move(events));  // cleared, with the rule's channels
    rules_.erase(id);
  }
  Flush();
  return absl::OkStatus();
}

absl::StatusOr<v1::Alarm> AlarmObserver::Acknowledge(const std::string& alarm_id,
                                                     const std::string& who) {
  bool in_engine = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::StatusOr<AlarmEvent> event = engine_.Acknowledge(alarm_id, who, clock_->Now());
    if (event.ok()) {
      in_engine = true;
      QueueLocked({*std::move(event)});
    } else if (!absl::IsNotFound(event.status()) &&
               !absl::IsFailedPrecondition(event.status())) {
      return event.status();
    }
  }
  Flush();
  std::lock_guard<std::mutex> write_lock(write_mu_);
  ASSIGN_OR_RETURN(v1::Alarm alarm, store_->GetAlarm(alarm_id));
  if (!in_engine && alarm.acknowledged_by().empty()) {
    // Not active in the engine (cleared, or of a deleted rule): recorded, nothing sent.
    alarm.set_acknowledged_by(who);
    *alarm.mutable_acknowledge_time() = ToProto(clock_->Now());
    RETURN_IF_ERROR(store_->PutAlarm(alarm));
    if (auto it = active_.find(alarm_id); it != active_.end()) it->second = alarm;
  }
  return alarm;
}

std::vector<ActiveAlarm> AlarmObserver::ActiveAlarms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return engine_.ActiveAlarms();
}

void AlarmObserver::QueueLocked(std::vector<AlarmEvent> events) {
  for (AlarmEvent& event : events) {
    Pending pending;
    if (auto rule = rules_.find(event.rule_id); rule != rules_.end()) {
      pending.channels.assign(rule->second.channels().begin(), rule->second.channels().end());
      pending.rule = rule->second;
      pending.rule.clear_channels();
    }
    pending.event = std::move(event);
    pending_.push_back(std::move(pending));
  }
}

void AlarmObserver::Flush() {
  std::lock_guard<std::mutex> write_lock(write_mu_);
  for (;;) {
    std::deque<Pending> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(pending_);
    }
    if (batch.empty()) return;
    for (const Pending& pending : batch) Write(pending);
  }
}

void AlarmObserver::Write(const Pending& pending) {
  const AlarmEvent& event = pending.event;
  v1::Alarm before;
  if (event.type != AlarmEventType::kRaised) {
    if (auto it = active_.find(event.alarm_id); it != active_.end()) {
      before = it->second;
    } else if (absl::StatusOr<v1::Alarm> stored = store_->GetAlarm(event.alarm_id); stored.ok()) {
      before = *std::move(stored);
    }
  }
  v1::Alarm after = ApplyAlarmEvent(std::move(before), event);
  if (absl::Status stored = store_->PutAlarm(after); !stored.ok()) {
    log::Error("alarm event not stored", {{"alarm", event.alarm_id},
                                          {"event", std::string(AlarmEventTypeName(event.type))},
                                          {"error", std::string(stored.message())}});
  }
  if (after.state() == v1::ALARM_STATE_RAISED) {
    active_[after.id()] = after;
  } else {
    active_.erase(after.id());
  }
  log::Info("alarm", {{"alarm", event.alarm_id},
                      {"event", std::string(AlarmEventTypeName(event.type))},
                      {"message", event.message}});
  if (listener_) {
    v1::AlarmEvent streamed;
    switch (event.type) {
      case AlarmEventType::kRaised:
        streamed.set_kind(v1::ALARM_EVENT_KIND_RAISED);
        break;
      case AlarmEventType::kCleared:
        streamed.set_kind(v1::ALARM_EVENT_KIND_CLEARED);
        break;
      case AlarmEventType::kAcknowledged:
        streamed.set_kind(v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
        break;
    }
    *streamed.mutable_alarm() = after;
    *streamed.mutable_rule() = pending.rule;
    listener_(streamed);
  }
  if (notifier_ == nullptr) return;
  const Message message = AlarmMessage(event);
  for (const std::string& channel : pending.channels) {
    absl::StatusOr<int64_t> id = notifier_->Enqueue(
        channel, message,
        absl::StrCat(event.alarm_id, "/", AlarmEventTypeName(event.type), "/", channel));
    if (!id.ok()) {
      log::Warn("alarm notification not queued",
                {{"alarm", event.alarm_id}, {"channel", channel},
                 {"error", std::string(id.status().message())}});
    }
  }
}

}  // namespace smartby::feed
