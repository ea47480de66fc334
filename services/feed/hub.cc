#include "services/feed/hub.h"

#include <algorithm>
#include <utility>

#include <google/protobuf/util/time_util.h>

namespace smartby::feed {
namespace {

using google::protobuf::util::TimeUtil;
using smartcity::common::v1::GeoPoint;

bool SameResource(const auth::ResourceRef& a, const auth::ResourceRef& b) {
  return a.classification == b.classification && a.published == b.published &&
         a.owner_organization == b.owner_organization && a.dataset == b.dataset;
}

bool Inside(const smartcity::common::v1::BoundingBox& box, const GeoPoint& p) {
  return p.latitude() >= box.min_latitude() && p.latitude() <= box.max_latitude() &&
         p.longitude() >= box.min_longitude() && p.longitude() <= box.max_longitude();
}

std::set<std::string> SetOf(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return {items.begin(), items.end()};
}

}  // namespace

Subscriber::Subscriber(Hub* hub, v1::SubscribeRequest request, auth::Caller caller,
                       std::function<void()> wake, size_t capacity)
    : hub_(hub),
      request_(std::move(request)),
      caller_(std::move(caller)),
      datasets_(SetOf(request_.filter().datasets())),
      sources_(SetOf(request_.filter().source_ids())),
      fields_(SetOf(request_.filter().fields())),
      has_box_(request_.filter().has_bounding_box()),
      queue_(capacity),
      wake_(std::move(wake)) {}

size_t Subscriber::Take(size_t max, BorrowedResponse* out) {
  size_t before = 0, taken = 0, after = 0;
  const size_t first = out->parts();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    before = queue_.queued_updates();
    taken = queue_.Take(max, out);
    after = queue_.queued_updates();
  }
  hub_->ObserveTaken(before - after);
  hub_->ObserveSent(*out, first);
  return taken;
}

void Subscriber::Detach() {
  std::lock_guard<std::mutex> lock(wake_mu_);
  wake_ = nullptr;
}

void Subscriber::Wake() {
  std::lock_guard<std::mutex> lock(wake_mu_);
  if (wake_) wake_();
}

int64_t Subscriber::coalesced() const {
  std::lock_guard<std::mutex> lock(queue_mu_);
  return queue_.coalesced();
}
int64_t Subscriber::dropped() const {
  std::lock_guard<std::mutex> lock(queue_mu_);
  return queue_.dropped();
}
size_t Subscriber::queued_updates() const {
  std::lock_guard<std::mutex> lock(queue_mu_);
  return queue_.queued_updates();
}

Hub::Hub(HubOptions options, DatasetResolver* resolver, const Clock* clock,
         prometheus::Registry* metrics)
    : options_(options), resolver_(resolver), clock_(clock), aggregates_(clock) {
  subscribers_gauge_ = &prometheus::BuildGauge()
                            .Name("smartby_feed_subscribers")
                            .Help("Open Subscribe streams")
                            .Register(*metrics)
                            .Add({});
  queued_gauge_ = &prometheus::BuildGauge()
                       .Name("smartby_feed_queued_updates")
                       .Help("Updates waiting in subscribers' queues (all subscribers)")
                       .Register(*metrics)
                       .Add({});
  position_gauge_ = &prometheus::BuildGauge()
                         .Name("smartby_feed_handover_position")
                         .Help("The last ingestion position the hub processed")
                         .Register(*metrics)
                         .Add({});
  coalesced_ = &prometheus::BuildCounter()
                    .Name("smartby_feed_coalesced_updates_total")
                    .Help("Updates that replaced a queued update of the same source")
                    .Register(*metrics)
                    .Add({});
  dropped_ = &prometheus::BuildCounter()
                  .Name("smartby_feed_dropped_updates_total")
                  .Help("Updates not sent because the subscriber was behind (a gap was sent)")
                  .Register(*metrics)
                  .Add({});
  readings_ = &prometheus::BuildCounter()
                   .Name("smartby_feed_readings_total")
                   .Help("Readings taken from ingestion")
                   .Register(*metrics)
                   .Add({});
  delay_ = &prometheus::BuildHistogram()
                .Name("smartby_feed_delivery_delay_seconds")
                .Help("From ingestion's accept time to the update being handed to the stream")
                .Register(*metrics)
                .Add({}, prometheus::Histogram::BucketBoundaries{
                             0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1,
                             2.5, 5, 10});
}

void Hub::Restore(int64_t position) {
  restored_ = position;
  absl::MutexLock lock(&mu_);
  ring_floor_ = std::max(ring_floor_, position);
  position_ = std::max(position_.load(), position);
}

void Hub::WarmFrom(int64_t position) {
  absl::MutexLock lock(&mu_);
  if (ring_.empty()) ring_floor_ = std::min(ring_floor_, position);
}

void Hub::AddObserver(ReadingObserver* observer) { observers_.push_back(observer); }

std::vector<UpdatePtr> Hub::Latest(const std::string& dataset) const {
  std::vector<UpdatePtr> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [source, item] : last_) {
    if (item.update->dataset() == dataset) out.push_back(item.update);
  }
  return out;
}

size_t Hub::subscribers() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

void Hub::ObserveSent(const BorrowedResponse& response, size_t first) {
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  response.ForEachUpdate(first, [&](const v1::Update& update) {
    if (update.snapshot() || !update.has_accept_time()) return;
    const int64_t delay_us = now_us - TimeUtil::TimestampToMicroseconds(update.accept_time());
    delay_->Observe(std::max(0.0, static_cast<double>(delay_us) / 1e6));
  });
}

void Hub::ObserveTaken(size_t updates) { queued_gauge_->Decrement(static_cast<double>(updates)); }

bool Hub::MayRead(Subscriber& s, const std::string& dataset, const auth::ResourceRef& resource) {
  auto [it, inserted] = s.decisions_.try_emplace(dataset);
  if (inserted || !SameResource(it->second.resource, resource)) {
    it->second.resource = resource;
    it->second.allowed = s.caller_.Allows(auth::Action::kRead, resource);
  }
  return it->second.allowed;
}

bool Hub::TakesWholeBatch(Subscriber& s, const std::vector<Item>& items,
                          const std::vector<size_t>& dataset_firsts) {
  if (!s.sources_.empty() || s.has_box_ || !s.fields_.empty()) return false;
  if (items.front().update->position() <= s.floor_) return false;
  for (size_t i : dataset_firsts) {
    const Item& item = items[i];
    if (!s.datasets_.empty() && !s.datasets_.contains(item.update->dataset())) return false;
    if (!MayRead(s, item.update->dataset(), item.resource)) return false;
  }
  return true;
}

UpdatePtr Hub::ForSubscriber(Subscriber& s, const Item& item) {
  const v1::Update& update = *item.update;
  if (update.position() <= s.floor_) return nullptr;
  if (!s.datasets_.empty() && !s.datasets_.contains(update.dataset())) return nullptr;
  if (!s.sources_.empty() && !s.sources_.contains(update.reading().source_id())) return nullptr;
  if (!MayRead(s, update.dataset(), item.resource)) return nullptr;
  if (s.has_box_) {
    const auto& box = s.request_.filter().bounding_box();
    bool inside = false;
    bool has_geo = false;
    for (const auto& [name, value] : update.reading().values()) {
      if (!value.has_geo_value()) continue;
      has_geo = true;
      if (Inside(box, value.geo_value())) inside = true;
    }
    if (!has_geo && item.where.has_value()) inside = Inside(box, *item.where);
    if (!inside) return nullptr;
  }
  if (s.fields_.empty()) return item.update;
  auto projected = std::make_shared<v1::Update>();
  projected->set_position(update.position());
  projected->set_dataset(update.dataset());
  *projected->mutable_accept_time() = update.accept_time();
  projected->set_classification(update.classification());
  projected->set_snapshot(update.snapshot());
  projected->mutable_reading()->set_source_id(update.reading().source_id());
  *projected->mutable_reading()->mutable_time() = update.reading().time();
  for (const auto& [name, value] : update.reading().values()) {
    if (s.fields_.contains(name)) (*projected->mutable_reading()->mutable_values())[name] = value;
  }
  if (projected->reading().values().empty()) return nullptr;
  return projected;
}

void Hub::Publish(absl::Span<const PositionedReading> readings) {
  if (readings.empty()) return;
  // Everything that may wait (the resolver) happens before the lock.
  std::vector<Item> items;
  items.reserve(readings.size());
  absl::flat_hash_map<std::string, auth::ResourceRef> resources;
  std::vector<size_t> dataset_firsts;  // the first item of each dataset in the batch
  const bool want_where = box_subscribers_.load() > 0;
  size_t first_new = readings.size();
  for (size_t i = 0; i < readings.size(); ++i) {
    const PositionedReading& r = readings[i];
    if (r.position() <= taken_) continue;  // already taken (a reconnect resends from there)
    if (first_new == readings.size() && r.position() > restored_) first_new = i;
    auto [res, inserted] = resources.try_emplace(r.dataset());
    if (inserted) {
      res->second = resolver_->Resolve(r.dataset(), r.classification());
      dataset_firsts.push_back(items.size());
    }
    auto update = std::make_shared<v1::Update>();
    update->set_position(r.position());
    update->set_dataset(r.dataset());
    *update->mutable_reading() = r.reading();
    *update->mutable_accept_time() = r.accept_time();
    update->set_classification(r.classification());
    Item item{std::move(update), res->second, std::nullopt};
    if (want_where) item.where = resolver_->SourcePosition(r.reading().source_id());
    items.push_back(std::move(item));
    aggregates_.Add(r.dataset(), r.reading());
  }
  if (first_new < readings.size()) {
    for (ReadingObserver* observer : observers_) observer->OnReadings(readings.subspan(first_new));
  }
  if (items.empty()) return;
  readings_->Increment(static_cast<double>(items.size()));

  std::vector<std::shared_ptr<Subscriber>> woken;
  int64_t queued = 0, coalesced = 0, dropped = 0;
  // The items encoded once, when the first subscriber takes all of them (not kept in the ring:
  // only live fan-out shares it).
  BatchPtr batch;
  {
    absl::MutexLock lock(&mu_);
    for (Item& item : items) {
      const std::string& source = item.update->reading().source_id();
      last_[source] = item;
      ring_.push_back(item);
      while (ring_.size() > options_.ring_capacity) {
        ring_floor_ = ring_.front().update->position();
        ring_.pop_front();
      }
    }
    std::vector<UpdatePtr> mine;
    for (const std::shared_ptr<Subscriber>& s : subscribers_) {
      mine.clear();
      // The whole batch as the hub holds it, decided per dataset when the filter has nothing
      // finer; else item by item (serialised per subscriber when sent).
      const bool whole = TakesWholeBatch(*s, items, dataset_firsts);
      if (!whole) {
        for (size_t i = 0; i < items.size(); ++i) {
          if (UpdatePtr u = ForSubscriber(*s, items[i])) mine.push_back(std::move(u));
        }
        if (mine.empty()) continue;
      }
      if (whole && batch == nullptr) {
        std::vector<UpdatePtr> updates;
        updates.reserve(items.size());
        for (const Item& item : items) updates.push_back(item.update);
        batch = std::make_shared<const EncodedBatch>(std::move(updates));
      }
      SubscriberQueue::Outcomes outcomes;
      {
        std::lock_guard<std::mutex> queue_lock(s->queue_mu_);
        if (whole) {
          outcomes = s->queue_.PushBatch(batch);
        } else {
          for (UpdatePtr& u : mine) {
            switch (s->queue_.Push(std::move(u))) {
              case SubscriberQueue::Outcome::kQueued:
                ++outcomes.queued;
                break;
              case SubscriberQueue::Outcome::kCoalesced:
                ++outcomes.coalesced;
                break;
              case SubscriberQueue::Outcome::kDropped:
                ++outcomes.dropped;
                break;
            }
          }
        }
      }
      queued += outcomes.queued;
      coalesced += outcomes.coalesced;
      dropped += outcomes.dropped;
      woken.push_back(s);
    }
    taken_ = items.back().update->position();
    position_ = std::max(position_.load(), taken_);
  }
  position_gauge_->Set(static_cast<double>(position_.load()));
  if (queued > 0) queued_gauge_->Increment(static_cast<double>(queued));
  if (coalesced > 0) coalesced_->Increment(static_cast<double>(coalesced));
  if (dropped > 0) dropped_->Increment(static_cast<double>(dropped));
  for (const std::shared_ptr<Subscriber>& s : woken) s->Wake();
}

void Hub::Opening(Subscriber& s, int64_t resume_after) {
  size_t queued = 0;
  std::lock_guard<std::mutex> queue_lock(s.queue_mu_);
  if (resume_after > 0 && resume_after >= ring_floor_) {
    // Everything after resume_after is still held (or, while the hand-over warms up after a
    // restart, on its way in order): replay it, no snapshot, and nothing up to it again.
    s.floor_ = resume_after;
    auto it = std::upper_bound(ring_.begin(), ring_.end(), resume_after,
                               [](int64_t p, const Item& item) {
                                 return p < item.update->position();
                               });
    for (; it != ring_.end(); ++it) {
      if (UpdatePtr u = ForSubscriber(s, *it)) {
        s.queue_.PushInitial(std::move(u));
        ++queued;
      }
    }
  } else {
    if (resume_after > 0) s.queue_.PushGap(v1::GAP_REASON_NOT_HELD, resume_after);
    std::vector<UpdatePtr> snapshot;
    for (const auto& [source, item] : last_) {
      if (UpdatePtr u = ForSubscriber(s, item)) {
        auto copy = std::make_shared<v1::Update>(*u);
        copy->set_snapshot(true);
        snapshot.push_back(std::move(copy));
      }
    }
    std::sort(snapshot.begin(), snapshot.end(),
              [](const UpdatePtr& a, const UpdatePtr& b) { return a->position() < b->position(); });
    for (UpdatePtr& u : snapshot) s.queue_.PushInitial(std::move(u));
    queued += snapshot.size();
    s.queue_.PushSnapshotComplete(position_.load());
  }
  queued_gauge_->Increment(static_cast<double>(queued));
}

std::shared_ptr<Subscriber> Hub::Subscribe(const v1::SubscribeRequest& request,
                                           auth::Caller caller, std::function<void()> wake) {
  auto subscriber = std::make_shared<Subscriber>(this, request, std::move(caller), std::move(wake),
                                                 options_.queue_capacity);
  if (subscriber->has_box_) ++box_subscribers_;
  {
    absl::MutexLock lock(&mu_);
    Opening(*subscriber, request.resume_after());
    subscribers_.insert(subscriber);
  }
  subscribers_gauge_->Increment();
  subscriber->Wake();
  return subscriber;
}

void Hub::Unsubscribe(const std::shared_ptr<Subscriber>& subscriber) {
  bool erased = false;
  {
    absl::MutexLock lock(&mu_);
    erased = subscribers_.erase(subscriber) > 0;
  }
  if (!erased) return;
  if (subscriber->has_box_) --box_subscribers_;
  subscribers_gauge_->Decrement();
  ObserveTaken(subscriber->queued_updates());
}

void Hub::PublishAlarm(const v1::AlarmEvent& event) {
  const v1::Alarm& alarm = event.alarm();
  // Outside the lock, as for readings. Unknown class: fail closed (the highest).
  const auth::ResourceRef resource = resolver_->Resolve(
      alarm.dataset(), smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED);
  std::optional<smartcity::common::v1::GeoPoint> where;
  if (box_subscribers_.load() > 0) where = resolver_->SourcePosition(alarm.source_id());
  auto shared = std::make_shared<const v1::AlarmEvent>(event);
  std::vector<std::shared_ptr<Subscriber>> matching;
  {
    absl::MutexLock lock(&mu_);
    for (const std::shared_ptr<Subscriber>& s : subscribers_) {
      if (!s->request_.include_alarms()) continue;
      if (!s->datasets_.empty() && !s->datasets_.contains(alarm.dataset())) continue;
      if (!s->sources_.empty() && !s->sources_.contains(alarm.source_id())) continue;
      if (!s->fields_.empty() && !alarm.field().empty() && !s->fields_.contains(alarm.field())) {
        continue;
      }
      if (s->has_box_ && !(where.has_value() && Inside(s->request_.filter().bounding_box(),
                                                       *where))) {
        continue;
      }
      if (!MayRead(*s, alarm.dataset(), resource)) continue;
      matching.push_back(s);
    }
  }
  for (const std::shared_ptr<Subscriber>& s : matching) {
    {
      std::lock_guard<std::mutex> queue_lock(s->queue_mu_);
      s->queue_.PushAlarm(shared);
    }
    s->Wake();
  }
}

void Hub::PublishAggregates() {
  const absl::Time now = clock_->Now();
  std::vector<std::shared_ptr<Subscriber>> due;
  std::vector<std::pair<std::string, auth::ResourceRef>> datasets;
  {
    absl::MutexLock lock(&mu_);
    for (const std::shared_ptr<Subscriber>& s : subscribers_) {
      if (!s->request_.include_aggregates() || now < s->next_aggregates_) continue;
      absl::Duration every = absl::Seconds(5);
      if (s->request_.has_aggregate_interval()) {
        every = std::max(absl::Seconds(1),
                         absl::Seconds(s->request_.aggregate_interval().seconds()) +
                             absl::Nanoseconds(s->request_.aggregate_interval().nanos()));
      }
      s->next_aggregates_ = now + every;
      due.push_back(s);
    }
  }
  for (const std::shared_ptr<Subscriber>& s : due) {
    auto set = std::make_shared<v1::AggregateSet>();
    bool any = false;
    absl::flat_hash_set<std::string> datasets_seen;
    {
      absl::MutexLock lock(&mu_);
      // Only datasets the subscriber has been allowed (decided on a reading it could get).
      for (const auto& [dataset, decision] : s->decisions_) {
        if (!decision.allowed) continue;
        if (!s->datasets_.empty() && !s->datasets_.contains(dataset)) continue;
        datasets_seen.insert(dataset);
      }
    }
    for (const std::string& dataset : datasets_seen) {
      v1::AggregateSet part = aggregates_.Query(dataset, s->sources_, s->fields_);
      *set->mutable_time() = part.time();
      for (auto& series : *part.mutable_series()) {
        *set->add_series() = std::move(series);
        any = true;
      }
    }
    if (!any) continue;
    {
      std::lock_guard<std::mutex> queue_lock(s->queue_mu_);
      s->queue_.PushAggregates(std::move(set));
    }
    s->Wake();
  }
}

}  // namespace smartby::feed
