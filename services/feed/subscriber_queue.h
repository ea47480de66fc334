// One subscriber's outgoing events, bounded so that a slow or stalled subscriber costs at most
// the memory chosen for it and never blocks whoever pushes.
//
// Live updates are queued up to `capacity`. When the queue is full, an update whose source
// already has one queued replaces it (coalescing: the subscriber gets the latest value per
// source, still in position order, as the replacement goes to the back); an update of a source
// with nothing queued is dropped and an explicit Gap (GAP_REASON_SUBSCRIBER_BEHIND) is queued in
// its place, counting what it stands for. While that Gap is queued, later drops extend it (its
// after_position stays the earliest, so it stays true).
//
// The opening events (snapshot, replay, SnapshotComplete, a NOT_HELD gap) are not limited by
// capacity: they are bounded by what the hub holds (one value per source, the ring). Aggregates
// keep only the newest set. So memory is bounded by capacity + opening events + one gap per
// queued update.
//
// Thread safety: not thread-safe; the owner (hub.h, Subscriber) locks.
#ifndef SMARTBY_SERVICES_FEED_SUBSCRIBER_QUEUE_H_
#define SMARTBY_SERVICES_FEED_SUBSCRIBER_QUEUE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "smartcity/feed/v1/feed.pb.h"

namespace smartby::feed {

namespace v1 = ::smartcity::feed::v1;

using UpdatePtr = std::shared_ptr<const v1::Update>;

// A SubscribeResponse whose updates are borrowed, not copied: an update goes to every matching
// subscriber, and copying it (its values map) once per subscriber cost more than writing it.
// The message points at the shared, immutable updates (protobuf's const methods, serialising
// included, are safe from several threads) and keeps them alive; Clear() and the destructor
// give them back before the message lets go of its fields. Hold it until the write completes.
class BorrowedResponse {
 public:
  BorrowedResponse() = default;
  ~BorrowedResponse() { Clear(); }
  BorrowedResponse(const BorrowedResponse&) = delete;
  BorrowedResponse& operator=(const BorrowedResponse&) = delete;

  const v1::SubscribeResponse& message() const { return message_; }
  // For events other than updates (gaps, aggregates, alarms), which are the message's own.
  v1::FeedEvent* AddEvent() { return message_.add_events(); }
  void AddUpdate(UpdatePtr update);
  void Clear();

 private:
  v1::SubscribeResponse message_;
  std::vector<UpdatePtr> borrowed_;
};

class SubscriberQueue {
 public:
  enum class Outcome { kQueued, kCoalesced, kDropped };

  explicit SubscriberQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // A live update, in position order.
  Outcome Push(UpdatePtr update);
  // Opening events, not limited by capacity.
  void PushInitial(UpdatePtr update);
  void PushGap(v1::GapReason reason, int64_t after_position);
  void PushSnapshotComplete(int64_t position);
  // Replaces any aggregate set still queued (the subscriber wants the newest only).
  void PushAggregates(std::shared_ptr<const v1::AggregateSet> aggregates);
  // Alarm events are few and each one matters: never coalesced. At most `capacity` are queued;
  // beyond that the oldest queued one is dropped (counted in dropped()).
  void PushAlarm(std::shared_ptr<const v1::AlarmEvent> alarm);

  // Moves up to `max` events, oldest first, into `out`; returns how many.
  size_t Take(size_t max, BorrowedResponse* out);

  bool empty() const { return entries_.empty(); }
  size_t queued_updates() const { return updates_; }  // live and opening updates queued
  size_t queued_events() const { return entries_.size(); }
  int64_t coalesced() const { return coalesced_; }
  int64_t dropped() const { return dropped_; }

 private:
  struct Entry {
    UpdatePtr update;  // set for an update
    std::shared_ptr<const v1::AggregateSet> aggregates;
    std::shared_ptr<const v1::AlarmEvent> alarm;
    v1::FeedEvent::EventCase kind = v1::FeedEvent::kUpdate;
    // A gap as plain numbers: every entry carries these, and a protobuf message here cost a
    // construction and a destruction per queued update.
    v1::GapReason gap_reason = v1::GAP_REASON_UNSPECIFIED;
    int64_t gap_dropped = 0;
    int64_t position = 0;  // SnapshotComplete; a gap's after_position
  };
  using Entries = std::list<Entry>;

  void Append(UpdatePtr update);

  const size_t capacity_;
  Entries entries_;
  // The newest queued update of each source (what coalescing replaces).
  absl::flat_hash_map<std::string, Entries::iterator> newest_;
  Entries::iterator aggregates_ = entries_.end();
  // The SUBSCRIBER_BEHIND gap still queued, which later drops extend (one at a time, so gaps
  // never outnumber what they stand for).
  Entries::iterator behind_ = entries_.end();
  size_t updates_ = 0;
  size_t alarms_ = 0;  // alarm events queued
  int64_t last_position_ = 0;  // of the newest update queued or sent
  int64_t coalesced_ = 0;
  int64_t dropped_ = 0;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_SUBSCRIBER_QUEUE_H_
