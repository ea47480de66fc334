// Alarm rules end to end: the hub's readings go into one AlarmEngine (alarms.h); every event it
// emits (raised, cleared, acknowledged) is stored as an Alarm (store.h) and becomes one
// notification per channel of its rule in the durable outbox (notifier.h), whose own worker
// sends them. Tick (every second, main.cc) raises what time alone decides (no_data, "for"
// durations).
//
// Several replicas (one database): only the holder of the "alarms" lease (store.h) evaluates.
// MaintainLease (every --alarm_lease_renew, main.cc) acquires or renews it. On gaining it the
// replica loads the rules and the active alarms from the store (ReplayEvent), then evaluates the
// readings it saw after the stored hand-over position (which only the holder records, so it is
// how far the previous holder got; readings are held for this while not leading, up to
// `takeover_readings`); on losing it, it stops evaluating and drops the engine's state. Rules
// created or deleted through any replica reach the holder at once when it is the one asked, else
// by Tick, which compares the stored rules with its own every time. Start alone (one process, no
// lease) evaluates from then on.
//
// Stored alarms are written compare-and-set on their version: the holder's raise/clear and an
// acknowledgement through any replica read the stored alarm, apply the event and write it back
// only if nobody wrote in between (else read again), so an acknowledgement is never overwritten
// by a clear, nor the other way round. A raise of an alarm id already stored (the same readings
// evaluated again after a take-over) is dropped, so it is neither stored nor notified twice.
//
// Streams: every written event is appended to the store's event log in the same transaction;
// every replica puts the logged events it has not yet published on its own streams
// (PublishNewEvents: polled every --alarm_event_poll, and at once after this replica wrote). One
// path for all replicas, so every stream sees the same events in the same order, whichever
// replica it is connected to and whichever replica wrote them.
//
// Threads: OnReadings runs on the hub's consumer thread; the engine is behind a mutex held only
// for evaluation. Events are queued in emission order and written (store + outbox, both short
// database transactions) by whichever thread produced them, one writer at a time, so the stored
// history is in order. Nothing here sends over the network.
//
// After a restart or a take-over, breaches still waiting out a "for" duration are lost and start
// again with the next reading. Outbox dedup keys (alarm id / event / channel) make a replayed
// event's notifications a no-op.
#ifndef SMARTBY_SERVICES_FEED_ALARM_OBSERVER_H_
#define SMARTBY_SERVICES_FEED_ALARM_OBSERVER_H_

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

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

// The lease the evaluating replica holds (store.h AcquireLease).
inline constexpr char kAlarmLease[] = "alarms";

struct AlarmObserverOptions {
  // This process among the feed's replicas: the lease holder's name (main.cc: --audit_instance,
  // else host, process id and a random part).
  std::string instance = "feed";
  absl::Duration lease_ttl = absl::Seconds(15);
  // Readings held while not the lease holder, evaluated on taking over (those after the stored
  // hand-over position). The oldest go first when more arrive; a warning says what was missed.
  size_t takeover_readings = 100000;
};

class AlarmObserver : public ReadingObserver, public AlarmRuleHooks {
 public:
  // `notifier` may be nullptr (events are stored, nothing is sent); `metrics` may be nullptr.
  // All must outlive this.
  AlarmObserver(FeedStore* store, Notifier* notifier, const Clock* clock,
                AlarmObserverOptions options = {}, prometheus::Registry* metrics = nullptr);

  // Called with every logged event (by this replica or another), in log order, by
  // PublishNewEvents (the hub puts it on the streams that asked for alarms). Set before Start or
  // the first MaintainLease; must not block.
  void SetListener(std::function<void(const v1::AlarmEvent&)> listener) {
    listener_ = std::move(listener);
  }

  // From now on, events logged (by any replica) are passed to the listener; older ones are not.
  // Start and MaintainLease call it when it was not called before.
  absl::Status StartPublishing();
  // Alone (one process, no lease): loads the rules and the active alarms from the store and
  // evaluates from then on. Before the first OnReadings.
  absl::Status Start();

  // Acquires or renews the lease; on gaining it, loads and evaluates (see above), on losing it
  // (another holder, or the store could not be asked), stops. Call every renew interval, the
  // first time before the first OnReadings.
  void MaintainLease();
  // Gives the lease up (a clean shutdown) so that another replica takes over at once.
  void ReleaseLease();
  // True while this replica evaluates (holds the lease, or was started alone).
  bool leading() const { return leading_.load(); }
  // The position of the last reading evaluated since this replica took over; 0 while not
  // leading (what the hand-over may record, handover.h).
  int64_t EvaluatedUpTo() const { return evaluated_up_to_.load(); }

  // Passes the events logged since the last call to the listener, in order.
  void PublishNewEvents();

  void OnReadings(absl::Span<const PositionedReading> readings) override;
  // The holder: takes in rule changes made through other replicas, then raises what time
  // alone decides.
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
  struct Loaded {
    std::vector<v1::AlarmRule> rules;
    std::vector<v1::Alarm> active;
  };
  absl::StatusOr<Loaded> LoadFromStore();
  // Under mu_: a fresh engine with `loaded` in it, then the held readings after `evaluated_up_to`
  // evaluated; from then on this replica evaluates.
  void TakeOverLocked(const Loaded& loaded, int64_t evaluated_up_to);
  // Under mu_: stops evaluating and forgets the engine's state and the queue.
  void StepDownLocked();
  // Under mu_: evaluates `reading`, queueing what it emits.
  void EvaluateLocked(const PositionedReading& reading);
  // The holder: makes the engine's rules the stored ones.
  absl::Status SyncRules();
  void SetLeading(bool leading, const std::string& why);

  // Under mu_: queues `events` with the channels of their rules.
  void QueueLocked(std::vector<AlarmEvent> events);
  // Writes every queued event, in order (one writer at a time), then publishes.
  void Flush();
  void Write(const Pending& pending);
  // One notification per channel for `event` into the outbox.
  void Notify(const AlarmEvent& event, const std::vector<std::string>& channels);

  std::function<void(const v1::AlarmEvent&)> listener_;
  FeedStore* const store_;
  Notifier* const notifier_;
  const Clock* const clock_;
  const AlarmObserverOptions options_;
  prometheus::Gauge* leader_gauge_ = nullptr;
  prometheus::Counter* lease_changes_ = nullptr;

  std::atomic<bool> leading_{false};       // written under mu_
  std::atomic<int64_t> evaluated_up_to_{0};  // written under mu_
  std::mutex rules_mu_;  // one rule change or rule sync at a time (held around the store read)

  mutable std::mutex mu_;  // the engine, the rules, the queue, the held readings
  AlarmEngine engine_;
  std::map<std::string, v1::AlarmRule> rules_;
  std::deque<Pending> pending_;
  std::deque<PositionedReading> held_;  // while not leading
  int64_t dropped_held_up_to_ = 0;       // the highest position let go of from held_

  std::mutex write_mu_;  // one writer; held while writing

  std::mutex publish_mu_;
  int64_t published_up_to_ = -1;  // the last event id published; -1: not yet started
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_ALARM_OBSERVER_H_
