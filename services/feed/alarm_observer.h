// Alarm rules end to end: the hub's readings go into one AlarmEngine (alarms.h); every event it
// emits (raised, cleared, acknowledged) is stored as an Alarm (store.h) and becomes one
// notification per channel of its rule in the durable outbox (notifier.h), whose own worker
// sends them. Rules come from the store at Start and from CreateAlarmRule / DeleteAlarmRule
// (AlarmRuleHooks); Tick (every second, main.cc) raises what time alone decides (no_data, "for"
// durations).
//
// Threads: OnReadings runs on the hub's consumer thread; the engine is behind a mutex held only
// for evaluation. Events are queued in emission order and written (store + outbox, both short
// database transactions) by whichever thread produced them, one writer at a time, so the stored
// history is in order. Nothing here sends over the network.
//
// After a restart, Start rebuilds the active alarms from the stored ones (ReplayEvent); breaches
// still waiting out a "for" duration are lost and start again with the next reading. Outbox
// dedup keys (alarm id / event / channel) make a replayed event's notifications a no-op.
#ifndef SMARTBY_SERVICES_FEED_ALARM_OBSERVER_H_
#define SMARTBY_SERVICES_FEED_ALARM_OBSERVER_H_

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "services/feed/alarms.h"
#include "services/feed/feed.h"
#include "services/feed/hub.h"
#include "services/feed/notifier.h"
#include "services/feed/store.h"
#include "services/runtime/clock.h"

namespace smartby::feed {

// The engine's rule for a stored rule: ABOVE uses `upper`, BELOW `lower`, OUTSIDE [lower, upper],
// NO_DATA `for_duration` as the silence.
AlarmRule ToEngineRule(const v1::AlarmRule& rule);

// The stored alarm after `event`, starting from `stored` (the alarm as stored before, or empty
// for a raise).
v1::Alarm ApplyAlarmEvent(v1::Alarm stored, const AlarmEvent& event);

class AlarmObserver : public ReadingObserver, public AlarmRuleHooks {
 public:
  // `notifier` may be nullptr (events are stored, nothing is sent). All must outlive this.
  AlarmObserver(FeedStore* store, Notifier* notifier, const Clock* clock);

  // Called with every event after it is stored, in order (the hub puts it on the streams that
  // asked for alarms). Set before Start; must not block.
  void SetListener(std::function<void(const v1::AlarmEvent&)> listener) {
    listener_ = std::move(listener);
  }

  // Loads the rules and the active alarms from the store. Before the first OnReadings.
  absl::Status Start();

  void OnReadings(absl::Span<const PositionedReading> readings) override;
  void Tick();

  absl::Status CheckRule(const v1::AlarmRule& rule) override;
  absl::Status RuleCreated(const v1::AlarmRule& rule) override;
  absl::Status RuleDeleted(const std::string& id) override;
  absl::StatusOr<v1::Alarm> Acknowledge(const std::string& alarm_id,
                                        const std::string& who) override;

  std::vector<ActiveAlarm> ActiveAlarms() const;

 private:
  struct Pending {
    AlarmEvent event;
    std::vector<std::string> channels;
    v1::AlarmRule rule;  // as it was when the event happened (for the stream)
  };
  // Under mu_: queues `events` with the channels of their rules.
  void QueueLocked(std::vector<AlarmEvent> events);
  // Writes every queued event, in order (one writer at a time).
  void Flush();
  void Write(const Pending& pending);

  std::function<void(const v1::AlarmEvent&)> listener_;
  FeedStore* const store_;
  Notifier* const notifier_;
  const Clock* const clock_;

  mutable std::mutex mu_;  // the engine, the rules, the queue
  AlarmEngine engine_;
  std::map<std::string, v1::AlarmRule> rules_;
  std::deque<Pending> pending_;

  std::mutex write_mu_;  // one writer; held while writing
  std::map<std::string, v1::Alarm> active_;  // stored active alarms, by id (under write_mu_)
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_ALARM_OBSERVER_H_
