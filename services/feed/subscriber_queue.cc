#include "services/feed/subscriber_queue.h"

#include <algorithm>
#include <utility>

namespace smartby::feed {

void SubscriberQueue::Append(UpdatePtr update) {
  last_position_ = std::max(last_position_, update->position());
  const std::string& source = update->reading().source_id();
  Entry entry;
  entry.kind = v1::FeedEvent::kUpdate;
  entry.update = std::move(update);
  entries_.push_back(std::move(entry));
  newest_[source] = std::prev(entries_.end());
  ++updates_;
}

SubscriberQueue::Outcome SubscriberQueue::Push(UpdatePtr update) {
  if (updates_ < capacity_) {
    Append(std::move(update));
    return Outcome::kQueued;
  }
  auto it = newest_.find(update->reading().source_id());
  if (it != newest_.end()) {
    entries_.erase(it->second);
    newest_.erase(it);
    --updates_;
    Append(std::move(update));
    ++coalesced_;
    return Outcome::kCoalesced;
  }
  ++dropped_;
  if (behind_ != entries_.end()) {
    ++behind_->gap_dropped;
  } else {
    Entry entry;
    entry.kind = v1::FeedEvent::kGap;
    entry.gap_reason = v1::GAP_REASON_SUBSCRIBER_BEHIND;
    entry.position = last_position_;
    entry.gap_dropped = 1;
    entries_.push_back(std::move(entry));
    behind_ = std::prev(entries_.end());
  }
  // The dropped update's position is passed: the next update after the gap is newer.
  last_position_ = std::max(last_position_, update->position());
  return Outcome::kDropped;
}

void SubscriberQueue::PushInitial(UpdatePtr update) { Append(std::move(update)); }

void SubscriberQueue::PushGap(v1::GapReason reason, int64_t after_position) {
  Entry entry;
  entry.kind = v1::FeedEvent::kGap;
  entry.gap_reason = reason;
  entry.position = after_position;
  entries_.push_back(std::move(entry));
}

void SubscriberQueue::PushSnapshotComplete(int64_t position) {
  Entry entry;
  entry.kind = v1::FeedEvent::kSnapshotComplete;
  entry.position = position;
  entries_.push_back(std::move(entry));
}

void SubscriberQueue::PushAggregates(std::shared_ptr<const v1::AggregateSet> aggregates) {
  if (aggregates_ != entries_.end()) {
    aggregates_->aggregates = std::move(aggregates);
    return;
  }
  Entry entry;
  entry.kind = v1::FeedEvent::kAggregates;
  entry.aggregates = std::move(aggregates);
  entries_.push_back(std::move(entry));
  aggregates_ = std::prev(entries_.end());
}

void SubscriberQueue::PushAlarm(std::shared_ptr<const v1::AlarmEvent> alarm) {
  if (alarms_ >= capacity_) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->kind != v1::FeedEvent::kAlarm) continue;
      entries_.erase(it);  // alarm entries are not among the iterators kept above
      --alarms_;
      ++dropped_;
      break;
    }
  }
  Entry entry;
  entry.kind = v1::FeedEvent::kAlarm;
  entry.alarm = std::move(alarm);
  entries_.push_back(std::move(entry));
  ++alarms_;
}

void BorrowedResponse::AddUpdate(UpdatePtr update) {
  // Never written through: the message only reads it, and Clear releases it unchanged.
  message_.add_events()->unsafe_arena_set_allocated_update(const_cast<v1::Update*>(update.get()));
  borrowed_.push_back(std::move(update));
}

void BorrowedResponse::Clear() {
  for (v1::FeedEvent& event : *message_.mutable_events()) {
    if (event.has_update()) event.unsafe_arena_release_update();
  }
  message_.Clear();
  borrowed_.clear();
}

size_t SubscriberQueue::Take(size_t max, BorrowedResponse* out) {
  size_t taken = 0;
  while (taken < max && !entries_.empty()) {
    Entry& entry = entries_.front();
    if (entry.kind == v1::FeedEvent::kUpdate) {
      auto it = newest_.find(entry.update->reading().source_id());
      if (it != newest_.end() && it->second == entries_.begin()) newest_.erase(it);
      --updates_;
      out->AddUpdate(std::move(entry.update));
      entries_.pop_front();
      ++taken;
      continue;
    }
    v1::FeedEvent* event = out->AddEvent();
    switch (entry.kind) {
      case v1::FeedEvent::kGap:
        if (behind_ == entries_.begin()) behind_ = entries_.end();
        event->mutable_gap()->set_reason(entry.gap_reason);
        event->mutable_gap()->set_after_position(entry.position);
        if (entry.gap_dropped > 0) event->mutable_gap()->set_dropped(entry.gap_dropped);
        break;
      case v1::FeedEvent::kSnapshotComplete:
        event->mutable_snapshot_complete()->set_position(entry.position);
        break;
      case v1::FeedEvent::kAggregates:
        *event->mutable_aggregates() = *entry.aggregates;
        aggregates_ = entries_.end();
        break;
      case v1::FeedEvent::kAlarm:
        *event->mutable_alarm() = *entry.alarm;
        --alarms_;
        break;
      default:
        break;
    }
    entries_.pop_front();
    ++taken;
  }
  return taken;
}

}  // namespace smartby::feed
