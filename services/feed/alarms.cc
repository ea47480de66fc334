#include "services/feed/alarms.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace smartby::feed {
namespace {

using Json = nlohmann::json;

bool Breaches(const AlarmRule& rule, double v) {
  switch (rule.kind) {
    case AlarmKind::kAbove:
      return v > rule.threshold;
    case AlarmKind::kBelow:
      return v < rule.threshold;
    case AlarmKind::kOutside:
      return v < rule.low || v > rule.high;
    case AlarmKind::kNoData:
      return false;
  }
  return false;
}

// Back past the threshold by the hysteresis margin.
bool Recovered(const AlarmRule& rule, double v) {
  switch (rule.kind) {
    case AlarmKind::kAbove:
      return v < rule.threshold - rule.hysteresis;
    case AlarmKind::kBelow:
      return v > rule.threshold + rule.hysteresis;
    case AlarmKind::kOutside:
      return v > rule.low + rule.hysteresis && v < rule.high - rule.hysteresis;
    case AlarmKind::kNoData:
      return true;
  }
  return true;
}

std::string Condition(const AlarmRule& rule) {
  switch (rule.kind) {
    case AlarmKind::kAbove:
      return absl::StrCat("above ", rule.threshold);
    case AlarmKind::kBelow:
      return absl::StrCat("below ", rule.threshold);
    case AlarmKind::kOutside:
      return absl::StrCat("outside [", rule.low, ", ", rule.high, "]");
    case AlarmKind::kNoData:
      return absl::StrCat("no data for ", absl::FormatDuration(rule.no_data_after));
  }
  return "";
}

std::string FieldName(const AlarmRule& rule) { return rule.field.empty() ? "data" : rule.field; }

// Every field of the rule: state restored for a rule is dropped when this differs.
std::string Fingerprint(const AlarmRule& r) {
  return absl::StrCat(r.dataset, "|", r.source, "|", r.field, "|", AlarmKindName(r.kind), "|",
                      r.threshold, "|", r.low, "|", r.high, "|",
                      absl::ToInt64Microseconds(r.for_duration), "|", r.hysteresis, "|",
                      absl::ToInt64Microseconds(r.no_data_after));
}

Json TimeJson(absl::Time t) {
  if (t == absl::InfinitePast()) return nullptr;
  return absl::ToUnixMicros(t);
}
absl::Time TimeFrom(const Json& j) {
  if (j.is_null()) return absl::InfinitePast();
  return absl::FromUnixMicros(j.get<int64_t>());
}
Json OptJson(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }
std::optional<double> OptFrom(const Json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<double>();
}

}  // namespace

absl::string_view AlarmKindName(AlarmKind kind) {
  switch (kind) {
    case AlarmKind::kAbove:
      return "above";
    case AlarmKind::kBelow:
      return "below";
    case AlarmKind::kOutside:
      return "outside";
    case AlarmKind::kNoData:
      return "no_data";
  }
  return "unknown";
}

absl::StatusOr<AlarmKind> ParseAlarmKind(absl::string_view name) {
  for (AlarmKind k : {AlarmKind::kAbove, AlarmKind::kBelow, AlarmKind::kOutside,
                      AlarmKind::kNoData}) {
    if (name == AlarmKindName(k)) return k;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("rule.kind: must be above, below, outside or no_data, not '", name, "'"));
}

absl::string_view AlarmEventTypeName(AlarmEventType type) {
  switch (type) {
    case AlarmEventType::kRaised:
      return "raised";
    case AlarmEventType::kCleared:
      return "cleared";
    case AlarmEventType::kAcknowledged:
      return "acknowledged";
  }
  return "unknown";
}

bool AlarmRule::operator==(const AlarmRule& other) const {
  return id == other.id && Fingerprint(*this) == Fingerprint(other);
}

absl::Status ValidateRule(const AlarmRule& rule) {
  if (rule.id.empty() || rule.id.size() > 100 || rule.id.find(':') != std::string::npos) {
    return absl::InvalidArgumentError("rule.id: must be 1-100 characters without ':'");
  }
  const std::string where = absl::StrCat("rule ", rule.id, ": ");
  if (rule.dataset.empty()) return absl::InvalidArgumentError(where + "dataset: required");
  if (rule.kind != AlarmKind::kNoData && rule.field.empty()) {
    return absl::InvalidArgumentError(where + "field: required for above, below and outside");
  }
  const auto finite = [](double v) { return std::isfinite(v); };
  if (!finite(rule.threshold) || !finite(rule.low) || !finite(rule.high) ||
      !finite(rule.hysteresis)) {
    return absl::InvalidArgumentError(where + "thresholds and hysteresis must be finite numbers");
  }
  if (rule.hysteresis < 0) {
    return absl::InvalidArgumentError(where + "hysteresis: must be 0 or more");
  }
  if (rule.for_duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(where + "for: must be 0 or more");
  }
  switch (rule.kind) {
    case AlarmKind::kOutside:
      if (!(rule.low < rule.high)) {
        return absl::InvalidArgumentError(where + "low: must be below high");
      }
      if (2 * rule.hysteresis >= rule.high - rule.low) {
        return absl::InvalidArgumentError(
            where + "hysteresis: twice it must be less than high - low, or the alarm never clears");
      }
      break;
    case AlarmKind::kNoData:
      if (rule.no_data_after <= absl::ZeroDuration()) {
        return absl::InvalidArgumentError(where + "no_data_after: must be more than 0");
      }
      if (rule.for_duration != absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            where + "for: not used by no_data rules (no_data_after is the duration)");
      }
      break;
    case AlarmKind::kAbove:
    case AlarmKind::kBelow:
      break;
  }
  return absl::OkStatus();
}

// --- Rules.

absl::StatusOr<std::vector<AlarmEvent>> AlarmEngine::SetRules(std::vector<AlarmRule> rules,
                                                              absl::Time now) {
  std::map<std::string, AlarmRule> next;
  for (AlarmRule& rule : rules) {
    if (absl::Status s = ValidateRule(rule); !s.ok()) return s;
    const std::string id = rule.id;
    if (!next.emplace(id, std::move(rule)).second) {
      return absl::InvalidArgumentError(absl::StrCat("rule.id: '", id, "' appears twice"));
    }
  }
  std::vector<AlarmEvent> events;
  for (const auto& [id, old] : rules_) {
    auto it = next.find(id);
    if (it == next.end() || !(it->second == old)) {
      std::vector<AlarmEvent> cleared = DropState(id, now);
      events.insert(events.end(), cleared.begin(), cleared.end());
    }
  }
  rules_ = std::move(next);
  for (const auto& [id, rule] : rules_) Arm(rule, now);
  Reindex();
  return events;
}

absl::StatusOr<std::vector<AlarmEvent>> AlarmEngine::UpsertRule(AlarmRule rule, absl::Time now) {
  std::vector<AlarmRule> all = Rules();
  bool replaced = false;
  for (AlarmRule& r : all) {
    if (r.id == rule.id) {
      r = rule;
      replaced = true;
    }
  }
  if (!replaced) all.push_back(std::move(rule));
  return SetRules(std::move(all), now);
}

absl::StatusOr<std::vector<AlarmEvent>> AlarmEngine::RemoveRule(absl::string_view rule_id,
                                                                absl::Time now) {
  std::vector<AlarmRule> all = Rules();
  const auto it =
      std::find_if(all.begin(), all.end(), [&](const AlarmRule& r) { return r.id == rule_id; });
  if (it == all.end()) return absl::NotFoundError(absl::StrCat("rule ", rule_id, " not found"));
  all.erase(it);
  return SetRules(std::move(all), now);
}

std::vector<AlarmRule> AlarmEngine::Rules() const {
  std::vector<AlarmRule> out;
  out.reserve(rules_.size());
  for (const auto& [id, rule] : rules_) out.push_back(rule);
  return out;
}

void AlarmEngine::Reindex() {
  by_dataset_.clear();
  for (const auto& [id, rule] : rules_) by_dataset_[rule.dataset].push_back(&rule);
}

std::vector<AlarmEvent> AlarmEngine::DropState(const std::string& rule_id, absl::Time now) {
  std::vector<AlarmEvent> events;
  const auto rule_it = rules_.find(rule_id);
  auto it = states_.lower_bound(Key(rule_id, ""));
  while (it != states_.end() && it->first.first == rule_id) {
    if (it->second.active && rule_it != rules_.end()) {
      events.push_back(
          Clear(rule_it->second, it->first.second, it->second, std::nullopt, now,
                "rule removed or changed"));
    }
    it = states_.erase(it);
  }
  return events;
}

// A no_data rule on a named source starts its clock when it is set.
void AlarmEngine::Arm(const AlarmRule& rule, absl::Time now) {
  if (rule.kind != AlarmKind::kNoData || rule.source.empty()) return;
  auto [it, inserted] = states_.try_emplace(Key(rule.id, rule.source));
  if (inserted) it->second.last_time = now;
}

// --- Transitions.

AlarmEvent AlarmEngine::Raise(const AlarmRule& rule, const std::string& source, State& state,
                              std::optional<double> value, absl::Time time) {
  state.active = true;
  state.alarm_id = absl::StrCat(rule.id, ":", source, ":", absl::ToUnixMicros(time));
  state.raised_value = value;
  state.raised_at = time;
  state.breach_since.reset();
  state.breach_value.reset();
  state.acknowledged_by.clear();
  state.acknowledged_at = absl::InfinitePast();

  AlarmEvent e;
  e.type = AlarmEventType::kRaised;
  e.alarm_id = state.alarm_id;
  e.rule_id = rule.id;
  e.dataset = rule.dataset;
  e.source = source;
  e.field = rule.field;
  e.kind = rule.kind;
  e.value = value;
  e.time = time;
  e.message = value ? absl::StrCat(FieldName(rule), " = ", *value, " ", Condition(rule), " (",
                                   source, ")")
                    : absl::StrCat(Condition(rule), " (", source, ")");
  return e;
}

AlarmEvent AlarmEngine::Clear(const AlarmRule& rule, const std::string& source, State& state,
                              std::optional<double> value, absl::Time time,
                              absl::string_view why) {
  AlarmEvent e;
  e.type = AlarmEventType::kCleared;
  e.alarm_id = state.alarm_id;
  e.rule_id = rule.id;
  e.dataset = rule.dataset;
  e.source = source;
  e.field = rule.field;
  e.kind = rule.kind;
  e.value = value;
  e.time = time;
  e.message = value ? absl::StrCat(FieldName(rule), " = ", *value, ", back to normal (", source,
                                   ")")
                    : absl::StrCat(why, " (", source, ")");
  state.active = false;
  state.alarm_id.clear();
  state.raised_value.reset();
  state.raised_at = absl::InfinitePast();
  state.acknowledged_by.clear();
  state.acknowledged_at = absl::InfinitePast();
  return e;
}

std::vector<AlarmEvent> AlarmEngine::OnReading(absl::string_view source, absl::string_view dataset,
                                               const std::map<std::string, double>& values,
                                               absl::Time time) {
  std::vector<AlarmEvent> events;
  const auto rules = by_dataset_.find(dataset);
  if (rules == by_dataset_.end()) return events;
  const std::string src(source);
  for (const AlarmRule* rule : rules->second) {
    if (!rule->source.empty() && rule->source != src) continue;
    std::optional<double> value;
    if (!rule->field.empty()) {
      const auto v = values.find(rule->field);
      if (v == values.end()) continue;  // this reading does not carry the rule's field
      value = v->second;
    }
    State& state = states_[Key(rule->id, src)];
    if (time < state.last_time) continue;  // late: never rewinds an alarm
    state.last_time = time;
    state.last_value = value;

    if (rule->kind == AlarmKind::kNoData) {
      if (state.active) events.push_back(Clear(*rule, src, state, value, time, "data again"));
      continue;
    }
    const double v = *value;
    if (state.active) {
      if (Recovered(*rule, v)) events.push_back(Clear(*rule, src, state, v, time, ""));
      continue;
    }
    if (!Breaches(*rule, v)) {
      state.breach_since.reset();
      state.breach_value.reset();
      continue;
    }
    if (!state.breach_since) state.breach_since = time;
    state.breach_value = v;
    if (time - *state.breach_since >= rule->for_duration) {
      events.push_back(Raise(*rule, src, state, v, time));
    }
  }
  return events;
}

std::vector<AlarmEvent> AlarmEngine::Tick(absl::Time now) {
  std::vector<AlarmEvent> events;
  for (const auto& [id, rule] : rules_) {
    for (auto it = states_.lower_bound(Key(id, "")); it != states_.end() && it->first.first == id;
         ++it) {
      State& state = it->second;
      if (state.active) continue;
      if (rule.kind == AlarmKind::kNoData) {
        if (now - state.last_time >= rule.no_data_after) {
          events.push_back(Raise(rule, it->first.second, state, std::nullopt, now));
        }
      } else if (state.breach_since && now - *state.breach_since >= rule.for_duration) {
        events.push_back(Raise(rule, it->first.second, state, state.breach_value, now));
      }
    }
  }
  return events;
}

absl::StatusOr<AlarmEvent> AlarmEngine::Acknowledge(absl::string_view alarm_id,
                                                    absl::string_view who, absl::Time now) {
  if (who.empty()) return absl::InvalidArgumentError("acknowledged_by: required");
  for (auto& [key, state] : states_) {
    if (!state.active || state.alarm_id != alarm_id) continue;
    if (!state.acknowledged_by.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "alarm ", alarm_id, " is already acknowledged by ", state.acknowledged_by));
    }
    const AlarmRule& rule = rules_.at(key.first);
    state.acknowledged_by = std::string(who);
    state.acknowledged_at = now;
    AlarmEvent e;
    e.type = AlarmEventType::kAcknowledged;
    e.alarm_id = state.alarm_id;
    e.rule_id = rule.id;
    e.dataset = rule.dataset;
    e.source = key.second;
    e.field = rule.field;
    e.kind = rule.kind;
    e.time = now;
    e.acknowledged_by = std::string(who);
    e.message = absl::StrCat("acknowledged by ", who, " (", key.second, ")");
    return e;
  }
  return absl::NotFoundError(absl::StrCat("alarm ", alarm_id, " is not active"));
}

std::vector<ActiveAlarm> AlarmEngine::ActiveAlarms() const {
  std::vector<ActiveAlarm> out;
  for (const auto& [key, state] : states_) {
    if (!state.active) continue;
    const AlarmRule& rule = rules_.at(key.first);
    ActiveAlarm a;
    a.alarm_id = state.alarm_id;
    a.rule_id = rule.id;
    a.dataset = rule.dataset;
    a.source = key.second;
    a.field = rule.field;
    a.kind = rule.kind;
    a.raised_value = state.raised_value;
    a.raised_at = state.raised_at;
    a.last_value = state.last_value;
    a.acknowledged_by = state.acknowledged_by;
    a.acknowledged_at = state.acknowledged_at;
    out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const ActiveAlarm& a, const ActiveAlarm& b) {
    return std::tie(a.raised_at, a.alarm_id) < std::tie(b.raised_at, b.alarm_id);
  });
  return out;
}

// --- Persistence.

std::string AlarmEngine::SerializeState() const {
  Json entries = Json::array();
  for (const auto& [key, s] : states_) {
    const AlarmRule& rule = rules_.at(key.first);
    entries.push_back({
        {"rule", key.first},
        {"fingerprint", Fingerprint(rule)},
        {"source", key.second},
        {"breach_since_us", s.breach_since ? TimeJson(*s.breach_since) : Json(nullptr)},
        {"breach_value", OptJson(s.breach_value)},
        {"active", s.active},
        {"alarm_id", s.alarm_id},
        {"raised_value", OptJson(s.raised_value)},
        {"raised_at_us", TimeJson(s.raised_at)},
        {"last_value", OptJson(s.last_value)},
        {"last_time_us", TimeJson(s.last_time)},
        {"acknowledged_by", s.acknowledged_by},
        {"acknowledged_at_us", TimeJson(s.acknowledged_at)},
    });
  }
  return Json{{"version", 1}, {"entries", std::move(entries)}}.dump();
}

absl::Status AlarmEngine::RestoreState(absl::string_view text, absl::Time now) {
  std::map<Key, State> restored;
  try {
    const Json doc = Json::parse(text.begin(), text.end());
    if (doc.at("version").get<int>() != 1) {
      return absl::InvalidArgumentError("alarm state: unknown version");
    }
    for (const Json& e : doc.at("entries")) {
      const std::string rule_id = e.at("rule").get<std::string>();
      const auto rule = rules_.find(rule_id);
      if (rule == rules_.end() || Fingerprint(rule->second) != e.at("fingerprint")) continue;
      State s;
      if (!e.at("breach_since_us").is_null()) s.breach_since = TimeFrom(e.at("breach_since_us"));
      s.breach_value = OptFrom(e.at("breach_value"));
      s.active = e.at("active").get<bool>();
      s.alarm_id = e.at("alarm_id").get<std::string>();
      s.raised_value = OptFrom(e.at("raised_value"));
      s.raised_at = TimeFrom(e.at("raised_at_us"));
      s.last_value = OptFrom(e.at("last_value"));
      s.last_time = TimeFrom(e.at("last_time_us"));
      s.acknowledged_by = e.at("acknowledged_by").get<std::string>();
      s.acknowledged_at = TimeFrom(e.at("acknowledged_at_us"));
      restored[Key(rule_id, e.at("source").get<std::string>())] = std::move(s);
    }
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("alarm state: cannot be parsed: ", e.what()));
  }
  states_ = std::move(restored);
  for (const auto& [id, rule] : rules_) Arm(rule, now);
  return absl::OkStatus();
}

void AlarmEngine::ReplayEvent(const AlarmEvent& event) {
  const auto rule = rules_.find(event.rule_id);
  if (rule == rules_.end()) return;
  State& s = states_[Key(event.rule_id, event.source)];
  s.last_time = std::max(s.last_time, event.time);
  switch (event.type) {
    case AlarmEventType::kRaised:
      s.active = true;
      s.alarm_id = event.alarm_id;
      s.raised_value = event.value;
      s.raised_at = event.time;
      s.last_value = event.value;
      s.breach_since.reset();
      s.breach_value.reset();
      s.acknowledged_by.clear();
      s.acknowledged_at = absl::InfinitePast();
      break;
    case AlarmEventType::kCleared:
      if (s.alarm_id == event.alarm_id) {
        s.active = false;
        s.alarm_id.clear();
        s.raised_value.reset();
        s.raised_at = absl::InfinitePast();
        s.acknowledged_by.clear();
        s.acknowledged_at = absl::InfinitePast();
      }
      s.last_value = event.value;
      break;
    case AlarmEventType::kAcknowledged:
      if (s.active && s.alarm_id == event.alarm_id) {
        s.acknowledged_by = event.acknowledged_by;
        s.acknowledged_at = event.time;
      }
      break;
  }
}

}  // namespace smartby::feed
