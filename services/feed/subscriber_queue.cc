#include "services/feed/subscriber_queue.h"

#include <algorithm>
#include <utility>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

namespace smartby::feed {

namespace {

using google::protobuf::io::CodedOutputStream;
using google::protobuf::internal::WireFormatLite;

constexpr uint32_t kEntryTag = WireFormatLite::MakeTag(
    v1::SubscribeResponse::kEventsFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
constexpr uint32_t kUpdateTag = WireFormatLite::MakeTag(v1::FeedEvent::kUpdateFieldNumber,
                                                        WireFormatLite::WIRETYPE_LENGTH_DELIMITED);

// Appends `update` as SubscribeResponse's serialiser writes an event holding it: the entry's tag
// and length, then the FeedEvent's (the update's tag, length and bytes).
void AppendUpdateEntry(const v1::Update& update, std::string* out) {
  const size_t size = update.ByteSizeLong();
  const size_t event_size = 1 + CodedOutputStream::VarintSize32(static_cast<uint32_t>(size)) + size;
  google::protobuf::io::StringOutputStream stream(out);
  CodedOutputStream coded(&stream);
  coded.WriteTag(kEntryTag);
  coded.WriteVarint32(static_cast<uint32_t>(event_size));
  coded.WriteTag(kUpdateTag);
  coded.WriteVarint32(static_cast<uint32_t>(size));
  update.SerializeWithCachedSizes(&coded);
}

void AppendEventEntry(const v1::FeedEvent& event, std::string* out) {
  google::protobuf::io::StringOutputStream stream(out);
  CodedOutputStream coded(&stream);
  coded.WriteTag(kEntryTag);
  coded.WriteVarint32(static_cast<uint32_t>(event.ByteSizeLong()));
  event.SerializeWithCachedSizes(&coded);
}

}  // namespace

EncodedBatch::EncodedBatch(std::vector<UpdatePtr> updates) : updates_(std::move(updates)) {
  for (const UpdatePtr& update : updates_) AppendUpdateEntry(*update, &bytes_);
}

v1::FeedEvent* BorrowedResponse::AddEvent() {
  message_.reset();
  Part& part = parts_.emplace_back();
  part.event = std::make_unique<v1::FeedEvent>();
  return part.event.get();
}

void BorrowedResponse::AddUpdate(UpdatePtr update) {
  message_.reset();
  Part& part = parts_.emplace_back();
  part.update = std::move(update);
}

void BorrowedResponse::AddBatch(BatchPtr batch) {
  message_.reset();
  Part& part = parts_.emplace_back();
  part.batch = std::move(batch);
  part.whole_batch = true;
}

void BorrowedResponse::Clear() {
  parts_.clear();
  message_.reset();
}

std::string BorrowedResponse::Encode() const {
  std::string out;
  size_t estimate = 0;
  for (const Part& part : parts_) {
    estimate += part.whole_batch ? part.batch->bytes().size() : 128;
  }
  out.reserve(estimate);
  for (const Part& part : parts_) {
    if (part.whole_batch) {
      out += part.batch->bytes();
    } else if (part.update != nullptr) {
      AppendUpdateEntry(*part.update, &out);
    } else {
      AppendEventEntry(*part.event, &out);
    }
  }
  return out;
}

const v1::SubscribeResponse& BorrowedResponse::message() const {
  if (message_.has_value()) return *message_;
  message_.emplace();
  for (const Part& part : parts_) {
    if (part.event != nullptr) {
      *message_->add_events() = *part.event;
    } else {
      if (part.whole_batch) {
        for (const UpdatePtr& u : part.batch->updates()) {
          *message_->add_events()->mutable_update() = *u;
        }
      } else {
        *message_->add_events()->mutable_update() = *part.update;
      }
    }
  }
  return *message_;
}

void SubscriberQueue::Append(UpdatePtr update) {
  last_position_ = std::max(last_position_, update->position());
  Entry& entry = entries_.emplace_back();
  entry.kind = v1::FeedEvent::kUpdate;
  entry.update = std::move(update);
  ++updates_;
  if (indexed_) {
    // Replaced with its key: the old key views an update that may leave the queue first.
    const absl::string_view source = entry.update->reading().source_id();
    newest_.erase(source);
    newest_.emplace(source, std::prev(entries_.end()));
  }
}

void SubscriberQueue::BuildIndex() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->kind != v1::FeedEvent::kUpdate) {
      ++it;
      continue;
    }
    if (it->whole_batch) {
      const BatchPtr batch = std::move(it->batch);
      for (const UpdatePtr& update : batch->updates()) {
        Entry one;
        one.update = update;
        entries_.insert(it, std::move(one));
      }
      it = entries_.erase(it);
      continue;
    }
    ++it;
  }
  newest_.clear();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->kind != v1::FeedEvent::kUpdate) continue;
    const absl::string_view source = it->update->reading().source_id();
    newest_.erase(source);
    newest_.emplace(source, it);
  }
  indexed_ = true;
}

SubscriberQueue::Outcome SubscriberQueue::Push(UpdatePtr update) {
  if (updates_ < capacity_) {
    Append(std::move(update));
    return Outcome::kQueued;
  }
  if (!indexed_) BuildIndex();
  auto it = newest_.find(update->reading().source_id());
  if (it != newest_.end()) {
    const Entries::iterator replaced = it->second;
    newest_.erase(it);  // before its key's update goes
    entries_.erase(replaced);
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

SubscriberQueue::Outcomes SubscriberQueue::PushBatch(const BatchPtr& batch) {
  Outcomes outcomes;
  const std::vector<UpdatePtr>& updates = batch->updates();
  if (updates.empty()) return outcomes;
  if (!indexed_ && updates_ + updates.size() <= capacity_) {
    Entry& entry = entries_.emplace_back();
    entry.kind = v1::FeedEvent::kUpdate;
    entry.batch = batch;
    entry.whole_batch = true;
    updates_ += updates.size();
    last_position_ = std::max(last_position_, updates.back()->position());
    outcomes.queued = static_cast<int64_t>(updates.size());
    return outcomes;
  }
  for (const UpdatePtr& update : updates) {
    switch (Push(update)) {
      case Outcome::kQueued:
        ++outcomes.queued;
        break;
      case Outcome::kCoalesced:
        ++outcomes.coalesced;
        break;
      case Outcome::kDropped:
        ++outcomes.dropped;
        break;
    }
  }
  return outcomes;
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

size_t SubscriberQueue::Take(size_t max, BorrowedResponse* out) {
  size_t taken = 0;
  while (taken < max && !entries_.empty()) {
    Entry& entry = entries_.front();
    if (entry.kind == v1::FeedEvent::kUpdate && entry.whole_batch) {
      const size_t n = entry.batch->updates().size();
      updates_ -= n;
      out->AddBatch(std::move(entry.batch));
      entries_.pop_front();
      taken += n;
      continue;
    }
    if (entry.kind == v1::FeedEvent::kUpdate) {
      if (indexed_) {
        auto it = newest_.find(entry.update->reading().source_id());
        if (it != newest_.end() && it->second == entries_.begin()) newest_.erase(it);
      }
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
  if (entries_.empty() && indexed_) {
    // Drained: back to queuing whole batches.
    newest_.clear();
    indexed_ = false;
  }
  return taken;
}

}  // namespace smartby::feed
