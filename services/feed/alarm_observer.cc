#include "services/feed/alarm_observer.h"

#include <limits>
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
// Compare-and-set writes: how often one is read and tried again when another writer came first.
constexpr int kWriteAttempts = 5;

v1::AlarmEvent ToStreamedEvent(AlarmEventType type, const v1::Alarm& alarm,
                               const v1::AlarmRule& rule) {
  v1::AlarmEvent streamed;
  switch (type) {
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
  *streamed.mutable_alarm() = alarm;
  *streamed.mutable_rule() = rule;
  return streamed;
}

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

AlarmObserver::AlarmObserver(FeedStore* store, Notifier* notifier, const Clock* clock,
                             AlarmObserverOptions options, prometheus::Registry* metrics)
    : store_(store), notifier_(notifier), clock_(clock), options_(std::move(options)) {
  if (metrics != nullptr) {
    leader_gauge_ = &prometheus::BuildGauge()
                         .Name("smartby_feed_alarm_leader")
                         .Help("1 while this replica holds the alarm lease and evaluates rules")
                         .Register(*metrics)
                         .Add({});
    lease_changes_ = &prometheus::BuildCounter()
                          .Name("smartby_feed_alarm_lease_changes_total")
                          .Help("Times this replica gained or lost the alarm lease")
                          .Register(*metrics)
                          .Add({});
  }
}

absl::Status AlarmObserver::StartPublishing() {
  std::lock_guard<std::mutex> lock(publish_mu_);
  if (published_up_to_ >= 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(published_up_to_, store_->LastAlarmEventId());
  return absl::OkStatus();
}

absl::StatusOr<AlarmObserver::Loaded> AlarmObserver::LoadFromStore() {
  Loaded loaded;
  for (PageQuery page{"", "", kPage};;) {
    ASSIGN_OR_RETURN(std::vector<v1::AlarmRule> rules, store_->ListAlarmRules(page));
    for (v1::AlarmRule& rule : rules) loaded.rules.push_back(std::move(rule));
    if (static_cast<int>(rules.size()) < kPage) break;
    page.after = loaded.rules.back().id();
  }
  for (PageQuery page{"", "", kPage};;) {
    ASSIGN_OR_RETURN(std::vector<v1::Alarm> alarms, store_->ListAlarms(page, true));
    for (v1::Alarm& alarm : alarms) loaded.active.push_back(std::move(alarm));
    if (static_cast<int>(alarms.size()) < kPage) break;
    page.after = loaded.active.back().id();
  }
  return loaded;
}

void AlarmObserver::TakeOverLocked(const Loaded& loaded, int64_t evaluated_up_to) {
  engine_ = AlarmEngine();
  pending_.clear();
  std::vector<AlarmRule> engine_rules;
  rules_.clear();
  for (const v1::AlarmRule& rule : loaded.rules) {
    AlarmRule r = ToEngineRule(rule);
    if (absl::Status valid = ValidateRule(r); !valid.ok()) {
      log::Warn("alarm rule skipped: the engine refuses it",
                {{"rule", rule.id()}, {"error", std::string(valid.message())}});
      continue;
    }
    engine_rules.push_back(std::move(r));
    rules_[rule.id()] = rule;
  }
  absl::StatusOr<std::vector<AlarmEvent>> ignored =
      engine_.SetRules(std::move(engine_rules), clock_->Now());
  (void)ignored;  // a fresh engine has no state to clear; every rule was validated above
  for (const v1::Alarm& alarm : loaded.active) {
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
  }
  // What the previous holder had not evaluated and this replica saw meanwhile. Evaluating a
  // reading twice is harmless: a raise already stored is dropped (Write), and the engine ignores
  // readings older than the newest it evaluated.
  int64_t replayed = 0;
  for (const PositionedReading& reading : held_) {
    if (reading.position() <= evaluated_up_to) continue;
    EvaluateLocked(reading);
    ++replayed;
  }
  evaluated_up_to_ = held_.empty() ? 0 : held_.back().position();
  if (dropped_held_up_to_ > evaluated_up_to) {
    log::Warn("alarm take-over: readings were not held long enough to be evaluated",
              {{"after_position", evaluated_up_to}, {"up_to_position", dropped_held_up_to_},
               {"hint", "raise --alarm_takeover_readings"}});
  }
  held_.clear();
  dropped_held_up_to_ = 0;
  leading_ = true;
  log::Info("alarm rules loaded", {{"rules", static_cast<int64_t>(rules_.size())},
                                   {"active_alarms", static_cast<int64_t>(loaded.active.size())},
                                   {"readings_evaluated_again", replayed}});
}

void AlarmObserver::StepDownLocked() {
  leading_ = false;
  evaluated_up_to_ = 0;
  engine_ = AlarmEngine();
  rules_.clear();
  pending_.clear();
}

absl::Status AlarmObserver::Start() {
  RETURN_IF_ERROR(StartPublishing());
  std::lock_guard<std::mutex> rules_lock(rules_mu_);
  ASSIGN_OR_RETURN(Loaded loaded, LoadFromStore());
  std::lock_guard<std::mutex> lock(mu_);
  // Alone, every reading this process is given is new to the alarms: nothing to evaluate again.
  held_.clear();
  TakeOverLocked(loaded, std::numeric_limits<int64_t>::max());
  return absl::OkStatus();
}

void AlarmObserver::SetLeading(bool leading, const std::string& why) {
  if (leader_gauge_ != nullptr) leader_gauge_->Set(leading ? 1 : 0);
  if (lease_changes_ != nullptr) lease_changes_->Increment();
  if (leading) {
    log::Info("alarm lease gained: this replica evaluates alarm rules",
              {{"instance", options_.instance}, {"lease", std::string(kAlarmLease)}, {"why", why}});
  } else {
    log::Warn("alarm lease lost: this replica stopped evaluating alarm rules",
              {{"instance", options_.instance}, {"lease", std::string(kAlarmLease)}, {"why", why}});
  }
}

void AlarmObserver::MaintainLease() {
  if (absl::Status publishing = StartPublishing(); !publishing.ok()) {
    log::Warn("alarm event log not readable", {{"error", std::string(publishing.message())}});
  }
  std::lock_guard<std::mutex> rules_lock(rules_mu_);
  absl::StatusOr<bool> held =
      store_->AcquireLease(kAlarmLease, options_.instance, clock_->Now(), options_.lease_ttl);
  if (!held.ok()) {
    // Unknown whether the lease is still ours: stop, so that two replicas never both evaluate.
    log::Warn("alarm lease could not be renewed",
              {{"error", std::string(held.status().message())}});
  }
  const bool holds = held.ok() && *held;
  if (holds && !leading_) {
    absl::StatusOr<int64_t> evaluated_up_to = store_->HandoverPosition();
    absl::StatusOr<Loaded> loaded =
        evaluated_up_to.ok() ? LoadFromStore() : absl::StatusOr<Loaded>(evaluated_up_to.status());
    if (!loaded.ok()) {
      // Cannot evaluate without the rules: let another replica have it.
      log::Warn("alarm lease given up: rules or alarms could not be loaded",
                {{"error", std::string(loaded.status().message())}});
      (void)store_->ReleaseLease(kAlarmLease, options_.instance);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      TakeOverLocked(*loaded, *evaluated_up_to);
    }
    SetLeading(true, "acquired");
    Flush();
  } else if (!holds && leading_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      StepDownLocked();
    }
    SetLeading(false, held.ok() ? "held by another replica" : "the store could not be asked");
  } else if (!holds) {
    // Readings the holder has recorded as evaluated need not be held any longer.
    absl::StatusOr<int64_t> evaluated_up_to = store_->HandoverPosition();
    if (!evaluated_up_to.ok()) return;
    std::lock_guard<std::mutex> lock(mu_);
    while (!held_.empty() && held_.front().position() <= *evaluated_up_to) held_.pop_front();
  }
}

void AlarmObserver::ReleaseLease() {
  bool was_leading = false;
  {
    std::lock_guard<std::mutex> rules_lock(rules_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    was_leading = leading_;
    StepDownLocked();
  }
  if (!was_leading) return;
  if (absl::Status released = store_->ReleaseLease(kAlarmLease, options_.instance);
      !released.ok()) {
    log::Warn("alarm lease not released; another replica takes over when it expires",
              {{"error", std::string(released.message())}});
  }
  SetLeading(false, "released");
}

void AlarmObserver::PublishNewEvents() {
  std::lock_guard<std::mutex> lock(publish_mu_);
  if (published_up_to_ < 0) return;  // StartPublishing was not called (or failed)
  for (;;) {
    absl::StatusOr<std::vector<StoredAlarmEvent>> events =
        store_->AlarmEventsAfter(published_up_to_, kPage);
    if (!events.ok()) {
      log::Warn("alarm event log not readable",
                {{"error", std::string(events.status().message())}});
      return;
    }
    for (const StoredAlarmEvent& stored : *events) {
      if (listener_) listener_(stored.event);
      published_up_to_ = stored.id;
    }
    if (static_cast<int>(events->size()) < kPage) return;
  }
}

void AlarmObserver::EvaluateLocked(const PositionedReading& r) {
  if (rules_.empty()) return;
  std::vector<AlarmEvent> events =
      engine_.OnReading(r.reading().source_id(), r.dataset(), NumericValues(r.reading()),
                        FromProto(r.reading().time()));
  if (!events.empty()) QueueLocked(std::move(events));
}

void AlarmObserver::OnReadings(absl::Span<const PositionedReading> readings) {
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!leading_) {
      for (const PositionedReading& r : readings) {
        held_.push_back(r);
        if (held_.size() > options_.takeover_readings) {
          dropped_held_up_to_ = held_.front().position();
          held_.pop_front();
        }
      }
      return;
    }
    for (const PositionedReading& r : readings) EvaluateLocked(r);
    if (!readings.empty()) evaluated_up_to_ = readings.back().position();
    queued = !pending_.empty();
  }
  if (queued) Flush();
}

absl::Status AlarmObserver::SyncRules() {
  std::lock_guard<std::mutex> rules_lock(rules_mu_);
  if (!leading_) return absl::OkStatus();
  ASSIGN_OR_RETURN(Loaded loaded, LoadFromStore());
  std::lock_guard<std::mutex> lock(mu_);
  if (!leading_) return absl::OkStatus();
  const absl::Time now = clock_->Now();
  std::map<std::string, const v1::AlarmRule*> stored;
  for (const v1::AlarmRule& rule : loaded.rules) stored[rule.id()] = &rule;
  std::vector<std::string> gone;
  for (const auto& [id, rule] : rules_) {
    if (stored.count(id) == 0) gone.push_back(id);
  }
  for (const std::string& id : gone) {
    absl::StatusOr<std::vector<AlarmEvent>> events = engine_.RemoveRule(id, now);
    if (events.ok()) QueueLocked(*std::move(events));  // cleared, with the rule's channels
    rules_.erase(id);
  }
  for (const auto& [id, rule] : stored) {
    auto known = rules_.find(id);
    if (known != rules_.end() && known->second.SerializeAsString() == rule->SerializeAsString()) {
      continue;
    }
    absl::StatusOr<std::vector<AlarmEvent>> events = engine_.UpsertRule(ToEngineRule(*rule), now);
    if (!events.ok()) {
      log::Warn("alarm rule skipped: the engine refuses it",
                {{"rule", id}, {"error", std::string(events.status().message())}});
      continue;
    }
    rules_[id] = *rule;
    QueueLocked(*std::move(events));
  }
  return absl::OkStatus();
}

void AlarmObserver::Tick() {
  if (!leading_) return;
  if (absl::Status synced = SyncRules(); !synced.ok()) {
    log::Warn("alarm rules not re-read", {{"error", std::string(synced.message())}});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (leading_) QueueLocked(engine_.Tick(clock_->Now()));
    if (pending_.empty()) return;
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
    std::lock_guard<std::mutex> rules_lock(rules_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    if (!leading_) return absl::OkStatus();  // the holder takes it in on its next Tick
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
    std::lock_guard<std::mutex> rules_lock(rules_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    if (!leading_) return absl::OkStatus();  // the holder takes it in on its next Tick
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
  if (who.empty()) return absl::InvalidArgumentError("acknowledged_by: required");
  // Through the store, whichever replica is asked: read, apply, write back only if unchanged.
  // An active alarm's acknowledgement is an event (logged, streamed, notified); a cleared one's
  // is only recorded.
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    ASSIGN_OR_RETURN(VersionedAlarm stored, store_->GetVersionedAlarm(alarm_id));
    if (!stored.alarm.acknowledged_by().empty()) return stored.alarm;  // the first one stays
    const bool active = stored.alarm.state() == v1::ALARM_STATE_RAISED;
    v1::AlarmRule rule;
    if (active) {
      absl::StatusOr<v1::AlarmRule> found = store_->GetAlarmRule(stored.alarm.rule_id());
      if (found.ok()) {
        rule = *std::move(found);
      } else if (!absl::IsNotFound(found.status())) {
        return found.status();
      }
    }
    AlarmEvent event;
    event.type = AlarmEventType::kAcknowledged;
    event.alarm_id = alarm_id;
    event.rule_id = stored.alarm.rule_id();
    event.dataset = stored.alarm.dataset();
    event.source = stored.alarm.source_id();
    event.field = stored.alarm.field();
    event.kind = KindOf(rule.kind());
    event.time = clock_->Now();
    event.acknowledged_by = who;
    event.message = absl::StrCat("acknowledged by ", who, " (", event.source, ")");
    const v1::Alarm after = ApplyAlarmEvent(stored.alarm, event);
    std::vector<std::string> channels(rule.channels().begin(), rule.channels().end());
    rule.clear_channels();
    const v1::AlarmEvent streamed = ToStreamedEvent(event.type, after, rule);
    absl::Status written =
        store_->CompareAndPutAlarm(after, stored.version, active ? &streamed : nullptr);
    if (absl::IsAborted(written)) continue;  // raised again, cleared or acknowledged meanwhile
    RETURN_IF_ERROR(written);
    if (active) {
      {
        // The holder's engine learns of it too (ActiveAlarms); elsewhere there is no state.
        std::lock_guard<std::mutex> lock(mu_);
        if (leading_) (void)engine_.Acknowledge(alarm_id, who, event.time);
      }
      Notify(event, channels);
      PublishNewEvents();
    }
    return after;
  }
  return absl::AbortedError(absl::StrCat("alarm ", alarm_id,
                                         " kept changing while it was being acknowledged; "
                                         "try again"));
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
  {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    for (;;) {
      std::deque<Pending> batch;
      {
        std::lock_guard<std::mutex> lock(mu_);
        batch.swap(pending_);
      }
      if (batch.empty()) break;
      for (const Pending& pending : batch) Write(pending);
    }
  }
  PublishNewEvents();
}

void AlarmObserver::Write(const Pending& pending) {
  const AlarmEvent& event = pending.event;
  const std::string event_name(AlarmEventTypeName(event.type));
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    VersionedAlarm before;
    if (event.type != AlarmEventType::kRaised) {
      absl::StatusOr<VersionedAlarm> stored = store_->GetVersionedAlarm(event.alarm_id);
      if (stored.ok()) {
        before = *std::move(stored);
      } else if (!absl::IsNotFound(stored.status())) {
        log::Error("alarm event not stored", {{"alarm", event.alarm_id}, {"event", event_name},
                                              {"error", std::string(stored.status().message())}});
        return;
      }
      if (event.type == AlarmEventType::kCleared && before.version != 0 &&
          before.alarm.state() == v1::ALARM_STATE_CLEARED) {
        return;  // already cleared (by a previous holder): nothing new to tell
      }
    }
    const v1::Alarm after = ApplyAlarmEvent(before.alarm, event);
    const v1::AlarmEvent streamed = ToStreamedEvent(event.type, after, pending.rule);
    const absl::Status stored = store_->CompareAndPutAlarm(after, before.version, &streamed);
    if (absl::IsAborted(stored)) {
      // A raise finds its alarm already stored: these readings were evaluated before (by a
      // previous holder). Anything else was changed meanwhile (acknowledged): apply it again.
      if (event.type == AlarmEventType::kRaised) return;
      continue;
    }
    if (!stored.ok()) {
      log::Error("alarm event not stored", {{"alarm", event.alarm_id}, {"event", event_name},
                                            {"error", std::string(stored.message())}});
      return;
    }
    log::Info("alarm", {{"alarm", event.alarm_id}, {"event", event_name},
                        {"message", event.message}});
    Notify(event, pending.channels);
    return;
  }
  log::Error("alarm event not stored: the alarm kept changing",
             {{"alarm", event.alarm_id}, {"event", event_name}});
}

void AlarmObserver::Notify(const AlarmEvent& event, const std::vector<std::string>& channels) {
  if (notifier_ == nullptr) return;
  const Message message = AlarmMessage(event);
  for (const std::string& channel : channels) {
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
