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
// Why batches: the hub fans every batch from ingestion out to every subscriber, and most
// subscribers take all of it. A batch that fits is queued as one entry holding the batch's
// shared, already encoded updates (EncodedBatch), so a subscriber that keeps up costs one entry
// and one copy of bytes per batch, not a queue entry, an index entry and a serialisation per
// update. Only a queue that fills up indexes its updates by source (to coalesce); it splits its
// batch entries into updates then (serialised one by one when sent), and drops the index again
// once it has drained. Whole batches count their updates against `capacity`, so the bytes they
// hold are bounded as the updates are.
//
// Thread safety: not thread-safe; the owner (hub.h, Subscriber) locks.
#ifndef SMARTBY_SERVICES_FEED_SUBSCRIBER_QUEUE_H_
#define SMARTBY_SERVICES_FEED_SUBSCRIBER_QUEUE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "smartcity/feed/v1/feed.pb.h"

namespace smartby::feed {

namespace v1 = ::smartcity::feed::v1;

using UpdatePtr = std::shared_ptr<const v1::Update>;

// Updates in position order with their wire form, encoded once and shared by every subscriber
// they go to: `bytes` holds, back to back, each update as one `events` entry of a
// SubscribeResponse (field 1, a FeedEvent whose update is set). A SubscribeResponse is the
// concatenation of its entries, so a subscriber's message is assembled from these bytes instead
// of serialising each update again per subscriber.
class EncodedBatch {
 public:
  explicit EncodedBatch(std::vector<UpdatePtr> updates);
  const std::vector<UpdatePtr>& updates() const { return updates_; }
  const std::string& bytes() const { return bytes_; }

 private:
  std::vector<UpdatePtr> updates_;
  std::string bytes_;
};
using BatchPtr = std::shared_ptr<const EncodedBatch>;

// A SubscribeResponse whose updates are borrowed, not copied: an update goes to every matching
// subscriber, and copying it (its values map) once per subscriber cost more than writing it.
// Hold it until the bytes are taken (Encode).
class BorrowedResponse {
 public:
  // For events other than updates (gaps, aggregates, alarms), which are the response's own.
  v1::FeedEvent* AddEvent();
  // One update, serialised in Encode.
  void AddUpdate(UpdatePtr update);
  // Every update of `batch`.
  void AddBatch(BatchPtr batch);
  void Clear();

  size_t parts() const { return parts_.size(); }
  // Calls `f(const v1::Update&)` for each update of the parts from `first` on, in order.
  template <typename F>
  void ForEachUpdate(size_t first, F f) const {
    for (size_t i = first; i < parts_.size(); ++i) {
      const Part& part = parts_[i];
      if (part.whole_batch) {
        for (const UpdatePtr& u : part.batch->updates()) f(*u);
      } else if (part.update != nullptr) {
        f(*part.update);
      }
    }
  }
  // The serialised SubscribeResponse, shared encodings copied, the rest serialised here.
  std::string Encode() const;
  // The response as a message (copies every update): for tests and diagnostics.
  const v1::SubscribeResponse& message() const;

 private:
  struct Part {
    UpdatePtr update;  // one update
    BatchPtr batch;    // all of a batch (whole_batch)
    bool whole_batch = false;
    std::unique_ptr<v1::FeedEvent> event;  // not an update
  };
  std::vector<Part> parts_;
  mutable std::optional<v1::SubscribeResponse> message_;
};

class SubscriberQueue {
 public:
  enum class Outcome { kQueued, kCoalesced, kDropped };
  struct Outcomes {
    int64_t queued = 0, coalesced = 0, dropped = 0;
  };

  explicit SubscriberQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // A live update, in position order.
  Outcome Push(UpdatePtr update);
  // All of a batch's updates as live updates: one entry when they fit, else one by one.
  Outcomes PushBatch(const BatchPtr& batch);
  // Opening events, not limited by capacity.
  void PushInitial(UpdatePtr update);
  void PushGap(v1::GapReason reason, int64_t after_position);
  void PushSnapshotComplete(int64_t position);
  // Replaces any aggregate set still queued (the subscriber wants the newest only).
  void PushAggregates(std::shared_ptr<const v1::AggregateSet> aggregates);
  // Alarm events are few and each one matters: never coalesced. At most `capacity` are queued;
  // beyond that the oldest queued one is dropped (counted in dropped()).
  void PushAlarm(std::shared_ptr<const v1::AlarmEvent> alarm);

  // Moves up to `max` events, oldest first, into `out`; returns how many. A batch entry is
  // taken whole (it may take the count past `max` by less than the batch).
  size_t Take(size_t max, BorrowedResponse* out);

  bool empty() const { return entries_.empty(); }
  size_t queued_updates() const { return updates_; }  // live and opening updates queued
  size_t queued_events() const { return entries_.size(); }
  int64_t coalesced() const { return coalesced_; }
  int64_t dropped() const { return dropped_; }

 private:
  struct Entry {
    UpdatePtr update;  // set for one update
    // Set for a whole batch. A single update never holds its batch: one queued update would
    // keep the bytes of all the others alive.
    BatchPtr batch;
    bool whole_batch = false;
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
  // Splits the batch entries into updates and indexes the newest queued update of each source.
  void BuildIndex();

  const size_t capacity_;
  Entries entries_;
  // While `indexed_`: the newest queued update of each source (what coalescing replaces). The
  // keys view the source ids of the queued updates themselves.
  bool indexed_ = false;
  absl::flat_hash_map<absl::string_view, Entries::iterator> newest_;
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
