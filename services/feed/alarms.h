// Threshold alarms for the feed (issue 6, "Alarms"): rules over one field of a dataset's readings,
// evaluated per source, with a "for" duration and hysteresis so that a noisy sensor does not flap.
//
//   AlarmEngine engine;
//   RETURN_IF_ERROR(engine.SetRules({rule}, now).status());
//   for (const AlarmEvent& e : engine.OnReading("sensor-7", "air-quality", {{"pm10", 61}}, t)) ...
//   for (const AlarmEvent& e : engine.Tick(now)) ...          // no_data and "for" durations
//   ASSIGN_OR_RETURN(AlarmEvent ack, engine.Acknowledge(alarm_id, "kari@oslo.kommune.no", now));
//
// The engine is pure and deterministic: no clock, no I/O, no protobuf. Time comes from the caller
// (reading times for OnReading, the caller's clock for Tick and Acknowledge), so the same inputs
// always give the same events. Persisting events and state is the caller's job: SerializeState /
// RestoreState round-trip everything, and ReplayEvent rebuilds active alarms from stored events
// (losing only conditions still waiting out their "for" duration).
//
// Semantics, per (rule, source):
//   - kAbove raises when value > threshold; clears when value < threshold - hysteresis.
//     kBelow raises when value < threshold; clears when value > threshold + hysteresis.
//     kOutside raises when value < low or value > high; clears when
//     low + hysteresis < value < high - hysteresis.
//     With a "for" duration the breach must hold that long: every reading in between must also
//     breach (hysteresis does not apply while waiting); the alarm is raised by the reading or the
//     Tick that first sees the duration elapsed. A spike shorter than "for" raises nothing.
//   - kNoData raises when no reading carrying `field` (any reading, when `field` is empty) has
//     arrived for `no_data_after`; it clears on the next such reading. For a rule naming a source
//     the clock starts when the rule is set; for a rule over every source of the dataset, only
//     sources seen at least once (since the state began) are watched, since the engine cannot
//     know of sources that never reported.
//   - A reading older than the newest one already evaluated for that (rule, source) is ignored
//     (late data must not rewind an alarm).
//   - Each raise is a new alarm with its own id: "<rule id>:<source>:<raise time in Unix µs>".
//
// Thread safety: not thread-safe; the caller serialises calls (the feed service owns one engine
// behind its own mutex, or one per shard of sources).
#ifndef SMARTBY_SERVICES_FEED_ALARMS_H_
#define SMARTBY_SERVICES_FEED_ALARMS_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace smartby::feed {

enum class AlarmKind { kAbove, kBelow, kOutside, kNoData };

// "above", "below", "outside", "no_data"; ParseAlarmKind accepts the same names.
absl::string_view AlarmKindName(AlarmKind kind);
absl::StatusOr<AlarmKind> ParseAlarmKind(absl::string_view name);

struct AlarmRule {
  std::string id;       // unique among the rules; 1-100 characters, no ':'
  std::string dataset;  // required
  std::string source;   // empty: every source of the dataset, each evaluated on its own
  std::string field;    // required except for kNoData (empty there: any reading counts)
  AlarmKind kind = AlarmKind::kAbove;
  double threshold = 0;         // kAbove, kBelow
  double low = 0, high = 0;     // kOutside: the normal range [low, high]
  absl::Duration for_duration = absl::ZeroDuration();   // not for kNoData
  double hysteresis = 0;        // >= 0; for kOutside 2 * hysteresis < high - low
  absl::Duration no_data_after = absl::ZeroDuration();  // kNoData: > 0

  bool operator==(const AlarmRule& other) const;
};

// OK, or INVALID_ARGUMENT naming the field and what was expected.
absl::Status ValidateRule(const AlarmRule& rule);

enum class AlarmEventType { kRaised, kCleared, kAcknowledged };
absl::string_view AlarmEventTypeName(AlarmEventType type);  // "raised", "cleared", "acknowledged"

struct AlarmEvent {
  AlarmEventType type = AlarmEventType::kRaised;
  std::string alarm_id;
  std::string rule_id;
  std::string dataset;
  std::string source;
  std::string field;
  AlarmKind kind = AlarmKind::kAbove;
  // The reading that raised or cleared it; none for a no_data raise, an acknowledgement, or a
  // clear because the rule was removed or changed.
  std::optional<double> value;
  absl::Time time;
  std::string acknowledged_by;  // kAcknowledged only
  std::string message;          // for people: "pm10 = 61 above 50 (sensor-7)"
};

struct ActiveAlarm {
  std::string alarm_id;
  std::string rule_id;
  std::string dataset;
  std::string source;
  std::string field;
  AlarmKind kind = AlarmKind::kAbove;
  std::optional<double> raised_value;
  absl::Time raised_at;
  std::optional<double> last_value;  // the latest reading evaluated since
  std::string acknowledged_by;       // empty: not acknowledged
  absl::Time acknowledged_at = absl::InfinitePast();
};

class AlarmEngine {
 public:
  AlarmEngine() = default;

  // Replaces the rule set (all validated first; nothing changes on an error). A rule whose
  // definition is unchanged keeps its state; the active alarms of a removed or changed rule are
  // cleared (events returned, without a value) so that stored history stays consistent.
  absl::StatusOr<std::vector<AlarmEvent>> SetRules(std::vector<AlarmRule> rules, absl::Time now);
  // Adds or replaces one rule; same rules as SetRules.
  absl::StatusOr<std::vector<AlarmEvent>> UpsertRule(AlarmRule rule, absl::Time now);
  // NOT_FOUND when there is no such rule.
  absl::StatusOr<std::vector<AlarmEvent>> RemoveRule(absl::string_view rule_id, absl::Time now);
  std::vector<AlarmRule> Rules() const;

  // Evaluates one reading (its numeric fields) against the dataset's rules.
  std::vector<AlarmEvent> OnReading(absl::string_view source, absl::string_view dataset,
                                    const std::map<std::string, double>& values, absl::Time time);

  // Raises what time alone decides: no_data rules past their duration, and breaches that have
  // now held for their "for" duration. Call it periodically (e.g. every second).
  std::vector<AlarmEvent> Tick(absl::Time now);

  // Acknowledges an active alarm. NOT_FOUND when it is not active (unknown or cleared);
  // FAILED_PRECONDITION when already acknowledged; INVALID_ARGUMENT when `who` is empty.
  absl::StatusOr<AlarmEvent> Acknowledge(absl::string_view alarm_id, absl::string_view who,
                                         absl::Time now);

  // Active alarms, ordered by raise time then id.
  std::vector<ActiveAlarm> ActiveAlarms() const;

  // The whole evaluation state (not the rules, which the service stores itself) as JSON.
  std::string SerializeState() const;
  // Replaces the state with a serialised one; set the rules first. Entries of rules that no
  // longer exist, or whose definition changed since, are dropped; a no_data rule on a named
  // source with no entry starts its clock at `now`. INVALID_ARGUMENT when `state` cannot be
  // parsed (the engine is then unchanged).
  absl::Status RestoreState(absl::string_view state, absl::Time now);
  // Rebuilds state from a stored event, applied in the order they were emitted: raised makes the
  // alarm active, cleared ends it, acknowledged marks it. Events of unknown rules are ignored.
  void ReplayEvent(const AlarmEvent& event);

 private:
  struct State {
    std::optional<absl::Time> breach_since;  // breaching, not yet raised ("for" running)
    std::optional<double> breach_value;       // the latest breaching value while waiting
    bool active = false;
    std::string alarm_id;
    std::optional<double> raised_value;
    absl::Time raised_at = absl::InfinitePast();
    std::optional<double> last_value;
    absl::Time last_time = absl::InfinitePast();  // newest reading evaluated (or rule start)
    std::string acknowledged_by;
    absl::Time acknowledged_at = absl::InfinitePast();
  };
  using Key = std::pair<std::string, std::string>;  // rule id, source

  void Reindex();
  std::vector<AlarmEvent> DropState(const std::string& rule_id, absl::Time now);
  void Arm(const AlarmRule& rule, absl::Time now);
  AlarmEvent Raise(const AlarmRule& rule, const std::string& source, State& state,
                   std::optional<double> value, absl::Time time);
  AlarmEvent Clear(const AlarmRule& rule, const std::string& source, State& state,
                   std::optional<double> value, absl::Time time, absl::string_view why);

  std::map<std::string, AlarmRule> rules_;  // by id; ordered so output order is deterministic
  absl::flat_hash_map<std::string, std::vector<const AlarmRule*>> by_dataset_;
  std::map<Key, State> states_;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_ALARMS_H_
