// The hub: takes ingestion's readings in commit order (Publish, called by the hand-over consumer,
// handover.h), keeps the last value per source and a bounded ring of recent updates, feeds the
// rolling aggregates and the reading observers (the seam for alarms and KPIs), and fans every
// update out to the subscribers whose filter and rights match.
//
// Nothing in the hub waits for a subscriber: an update goes into the subscriber's bounded queue
// (subscriber_queue.h: coalesce, then drop with a gap), and the subscriber is woken with a
// callback that must not block (the reactor starts a write only when none is in flight). A
// stalled subscriber costs its queue's memory and nothing else.
//
// Classification: each reading's dataset is resolved (DatasetResolver: class, owner, published)
// before the hub lock is taken, and each subscriber's caller is asked (caller.Allows(kRead)) once
// per dataset and resolution; a reading whose dataset the caller may not read never enters its
// queue, snapshot or replay. Anonymous callers therefore get published Åpen datasets only.
//
// Thread safety: thread-safe. Publish is called from one thread at a time (in position order).
#ifndef SMARTBY_SERVICES_FEED_HUB_H_
#define SMARTBY_SERVICES_FEED_HUB_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "services/feed/aggregates.h"
#include "services/feed/subscriber_queue.h"
#include "services/runtime/auth/caller.h"
#include "services/runtime/clock.h"
#include "smartcity/feed/v1/feed.pb.h"
#include "smartcity/ingestion/v1/ingestion.pb.h"

namespace smartby::feed {

using smartcity::ingestion::v1::PositionedReading;

// What the hub needs to know of a dataset and a source. The real one asks the catalogue and
// ingestion and caches (dataset_resolver.h); tests give fixed answers. Called outside the hub's
// lock, on the consumer thread, so a slow answer delays consumption but never a subscriber.
class DatasetResolver {
 public:
  virtual ~DatasetResolver() = default;
  // The dataset as policy.h sees it. Never fails: when it cannot be told, a resource that fails
  // closed (not published, the reading's class, no owner).
  virtual auth::ResourceRef Resolve(const std::string& dataset,
                                    smartcity::common::v1::Classification reading_class) = 0;
  // The source's registered position, if it has one.
  virtual std::optional<smartcity::common::v1::GeoPoint> SourcePosition(
      const std::string& source_id) = 0;
};

// The seam where alarm rules and KPIs plug in (services/feed/alarms.*, kpi.*): every reading
// once, in commit order, on the consumer thread, before fan-out. Readings the hub replays to warm
// up after a restart (position <= the restored hand-over position) are not passed again.
// Implementations must not block (queue slow work, such as notifications, elsewhere).
class ReadingObserver {
 public:
  virtual ~ReadingObserver() = default;
  virtual void OnReadings(absl::Span<const PositionedReading> readings) = 0;
};

struct HubOptions {
  size_t queue_capacity = 1024;   // live updates queued per subscriber
  size_t ring_capacity = 100000;  // recent updates held for resuming subscribers
  size_t max_events_per_message = 256;
};

class Hub;

// One subscriber, shared by the hub and the stream that serves it.
class Subscriber {
 public:
  // Moves up to `max` queued events into `out`; returns how many. Never blocks on the hub.
  size_t Take(size_t max, BorrowedResponse* out);
  // After Detach returns, `wake` is never called again (and no call is in progress).
  void Detach();
  int64_t coalesced() const;
  int64_t dropped() const;
  size_t queued_updates() const;

  Subscriber(Hub* hub, v1::SubscribeRequest request, auth::Caller caller,
             std::function<void()> wake, size_t capacity);

 private:
  friend class Hub;
  void Wake();

  Hub* hub_;
  const v1::SubscribeRequest request_;
  const auth::Caller caller_;
  const std::set<std::string> datasets_, sources_, fields_;
  const bool has_box_;
  // Hub thread only (under the hub's lock): the decision per dataset, with the resource it was
  // made for (a changed class or publication state asks again).
  struct Decision {
    auth::ResourceRef resource;
    bool allowed = false;
  };
  absl::flat_hash_map<std::string, Decision> decisions_;
  absl::Time next_aggregates_ = absl::InfinitePast();
  // Positions up to here never reach this subscriber: it resumed after them. After a restart
  // the feed takes recent readings in again (to rebuild its state), and a subscriber that
  // resumed must not get them twice.
  int64_t floor_ = 0;

  mutable std::mutex queue_mu_;
  SubscriberQueue queue_;  // guarded by queue_mu_

  std::mutex wake_mu_;
  std::function<void()> wake_;  // guarded by wake_mu_
};

class Hub {
 public:
  Hub(HubOptions options, DatasetResolver* resolver, const Clock* clock,
      prometheus::Registry* metrics);

  // Before the first Publish: readings up to `position` were already processed before a
  // restart. The hub still takes them (to rebuild last values and the ring) but does not pass
  // them to the observers again.
  void Restore(int64_t position);
  // Before the first Publish after Restore: the hand-over takes readings in again from after
  // `position` (its warm-up), so everything after it will be held by the ring.
  void WarmFrom(int64_t position);
  void AddObserver(ReadingObserver* observer);  // before the first Publish

  // A batch from ingestion, in position order.
  void Publish(absl::Span<const PositionedReading> readings);

  // Registers a subscriber and queues its opening events (snapshot, or the replay after
  // resume_after, or a NOT_HELD gap and a snapshot). `wake` is called (from the hub's threads)
  // whenever events were queued; it must not block.
  std::shared_ptr<Subscriber> Subscribe(const v1::SubscribeRequest& request, auth::Caller caller,
                                        std::function<void()> wake);
  void Unsubscribe(const std::shared_ptr<Subscriber>& subscriber);

  // Queues the rolling aggregates for subscribers that asked for them and are due; called
  // periodically (main.cc).
  void PublishAggregates();

  // An alarm event (alarm_observer.h), for every subscriber that asked for alarms
  // (include_alarms) and whose filter matches the alarm's dataset, source, field and box, and
  // who may read the dataset: an alarm says something about the readings.
  void PublishAlarm(const v1::AlarmEvent& event);

  // The last value of every source of `dataset` (what the KPIs are evaluated over). O(sources
  // held); takes the hub's lock briefly.
  std::vector<UpdatePtr> Latest(const std::string& dataset) const;

  const RollingAggregates& aggregates() const { return aggregates_; }
  DatasetResolver* resolver() const { return resolver_; }
  // The highest position taken in (or restored).
  int64_t position() const { return position_.load(); }
  size_t subscribers() const;

  // Called by the stream with what it is about to send, from part `first` on (the ingest ->
  // send delay of each update).
  void ObserveSent(const BorrowedResponse& response, size_t first);
  void ObserveTaken(size_t updates);

 private:
  struct Item {
    UpdatePtr update;
    auth::ResourceRef resource;
    std::optional<smartcity::common::v1::GeoPoint> where;
  };

  // Under mu_. nullptr when the subscriber does not get it; else the (possibly field-projected)
  // update.
  UpdatePtr ForSubscriber(Subscriber& subscriber, const Item& item)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Under mu_. Whether the subscriber may read `dataset` as `resource` describes it (asked once
  // per dataset and resource).
  bool MayRead(Subscriber& subscriber, const std::string& dataset,
               const auth::ResourceRef& resource) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Under mu_. True when the subscriber gets every item unchanged: no source, field or box
  // filter, nothing at or below its floor, and every dataset of the batch (the items at
  // `dataset_firsts`) in its filter and readable.
  bool TakesWholeBatch(Subscriber& subscriber, const std::vector<Item>& items,
                       const std::vector<size_t>& dataset_firsts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Opening(Subscriber& subscriber, int64_t resume_after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const HubOptions options_;
  DatasetResolver* resolver_;
  const Clock* clock_;
  RollingAggregates aggregates_;
  std::vector<ReadingObserver*> observers_;
  int64_t restored_ = 0;
  int64_t taken_ = 0;  // the highest position taken in; Publish's thread only
  std::atomic<int64_t> position_{0};
  std::atomic<int> box_subscribers_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Item> last_ ABSL_GUARDED_BY(mu_);
  std::deque<Item> ring_ ABSL_GUARDED_BY(mu_);
  int64_t ring_floor_ ABSL_GUARDED_BY(mu_) = 0;  // positions up to here are not in the ring
  absl::flat_hash_set<std::shared_ptr<Subscriber>> subscribers_ ABSL_GUARDED_BY(mu_);

  prometheus::Gauge* subscribers_gauge_;
  prometheus::Gauge* queued_gauge_;
  prometheus::Gauge* position_gauge_;
  prometheus::Counter* coalesced_;
  prometheus::Counter* dropped_;
  prometheus::Counter* readings_;
  prometheus::Histogram* delay_;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_HUB_H_
