#include "services/audit/audit_log.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby::audit {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string Bytes(const merkle::Hash& hash) {
  return std::string(reinterpret_cast<const char*>(hash.data()), hash.size());
}

std::vector<std::string> AllBytes(const std::vector<merkle::Hash>& hashes) {
  std::vector<std::string> out;
  out.reserve(hashes.size());
  for (const auto& h : hashes) out.push_back(Bytes(h));
  return out;
}

prometheus::Histogram::BucketBoundaries BatchBuckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
}

prometheus::Histogram::BucketBoundaries CommitBuckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

constexpr int kMaxEntriesPerRead = 1000;

}  // namespace

AuditLogMetrics::AuditLogMetrics(prometheus::Registry& registry)
    : appended(prometheus::BuildCounter()
                   .Name("smartby_audit_appends_total")
                   .Help("Entries appended to the audit log (re-sent duplicates not counted)")
                   .Register(registry)
                   .Add({})),
      deduplicated(prometheus::BuildCounter()
                       .Name("smartby_audit_deduplicated_total")
                       .Help("Re-sent events answered with the index they already had")
                       .Register(registry)
                       .Add({})),
      failed_batches(prometheus::BuildCounter()
                         .Name("smartby_audit_failed_batches_total")
                         .Help("Group commits that failed (every request in them failed)")
                         .Register(registry)
                         .Add({})),
      batch_entries(prometheus::BuildHistogram()
                        .Name("smartby_audit_batch_entries")
                        .Help("Entries written per group commit")
                        .Register(registry)
                        .Add({}, BatchBuckets())),
      commit_seconds(prometheus::BuildHistogram()
                         .Name("smartby_audit_commit_seconds")
                         .Help("Time to build and commit one group commit")
                         .Register(registry)
                         .Add({}, CommitBuckets())),
      tree_size(prometheus::BuildGauge()
                    .Name("smartby_audit_tree_size")
                    .Help("Committed entries in the log")
                    .Register(registry)
                    .Add({})),
      checkpoint_size(prometheus::BuildGauge()
                          .Name("smartby_audit_checkpoint_tree_size")
                          .Help("Tree size of the latest signed checkpoint")
                          .Register(registry)
                          .Add({})),
      checkpoint_age(prometheus::BuildGauge()
                         .Name("smartby_audit_checkpoint_age_seconds")
                         .Help("Age of the latest signed checkpoint")
                         .Register(registry)
                         .Add({})),
      queued(prometheus::BuildGauge()
                 .Name("smartby_audit_queued_entries")
                 .Help("Entries waiting for the sequencer")
                 .Register(registry)
                 .Add({})),
      refused_checkpoints(prometheus::BuildCounter()
                              .Name("smartby_audit_checkpoint_refusals_total")
                              .Help("Checkpoints the log refused to sign because the stored "
                                    "tree is inconsistent with the previous checkpoint")
                              .Register(registry)
                              .Add({})),
      missing_events(prometheus::BuildCounter()
                         .Name("smartby_audit_missing_events_total")
                         .Help("Sequence numbers producers skipped: events lost before they "
                               "reached the log")
                         .Register(registry)
                         .Add({})) {}

AuditLog::AuditLog(AuditStore* store, NoteSigner signer, const Clock* clock,
                   AuditLogOptions options, AuditLogMetrics* metrics)
    : store_(store),
      signer_(std::move(signer)),
      verifier_key_(signer_.VerifierKey()),
      clock_(clock),
      options_(std::move(options)),
      metrics_(metrics) {}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(AuditStore* store, NoteSigner signer,
                                                         const Clock* clock,
                                                         AuditLogOptions options,
                                                         AuditLogMetrics* metrics) {
  if (options.max_batch_entries < 1 || options.max_queued_entries < kMaxEventsPerAppend) {
    return absl::InvalidArgumentError(
        absl::StrCat("the batch size must be at least 1 and the queue at least ",
                     kMaxEventsPerAppend, " entries"));
  }
  std::unique_ptr<AuditLog> log(
      new AuditLog(store, std::move(signer), clock, std::move(options), metrics));
  RETURN_IF_ERROR(log->Recover());
  log->writer_ = std::thread([raw = log.get()] { raw->WriterLoop(); });
  return log;
}

AuditLog::~AuditLog() { Stop(); }

absl::Status AuditLog::Recover() {
  ASSIGN_OR_RETURN(LogState state, store_->LoadState());
  ASSIGN_OR_RETURN(retention_min_index_,
                   store_->RaiseRetentionMinimum(std::max<int64_t>(0, options_.retention_min_index)));
  if (retention_min_index_ > options_.retention_min_index) {
    log::Warn("the stored retention minimum is above --retention_min_index; it never goes down",
              {{"stored", retention_min_index_}, {"flag", options_.retention_min_index}});
  }
  ASSIGN_OR_RETURN(auto count, store_->CountEntries());
  if (count.first != state.tree_size || count.second + 1 != state.tree_size) {
    return absl::DataLossError(absl::StrCat(
        "the audit store is inconsistent: tree size ", state.tree_size, " but ", count.first,
        " entries with largest index ", count.second, " (entries must be 0..size-1)"));
  }
  const uint64_t size = static_cast<uint64_t>(state.tree_size);
  std::optional<merkle::Hash> last_leaf;
  RETURN_IF_ERROR(store_->WithHashReader([&](merkle::HashReader& reader) -> absl::Status {
    ASSIGN_OR_RETURN(range_, merkle::CompactRange::Load(reader, size));
    if (size > 0) {
      ASSIGN_OR_RETURN(merkle::Hash leaf, reader.GetHash(0, size - 1));
      last_leaf = leaf;
    }
    return absl::OkStatus();
  }));
  if (range_.size() != size) {
    return absl::DataLossError("the restored compact range has the wrong size");
  }
  if (last_leaf.has_value()) {
    ASSIGN_OR_RETURN(auto last, store_->GetEntries(state.tree_size - 1, state.tree_size));
    if (last.size() != 1 || merkle::LeafHash(last[0].entry_bytes) != *last_leaf) {
      return absl::DataLossError(absl::StrCat("the stored leaf hash of entry ",
                                              state.tree_size - 1, " does not match its bytes"));
    }
  }
  last_micros_ = state.last_sequenced_micros;
  ASSIGN_OR_RETURN(auto maxima, store_->LoadProducerMaxima());
  producer_max_ = std::map<std::string, int64_t>(maxima.begin(), maxima.end());
  committed_size_ = state.tree_size;

  ASSIGN_OR_RETURN(std::optional<CheckpointRow> latest, store_->LatestCheckpoint());
  if (latest.has_value()) {
    if (latest->tree_size > state.tree_size) {
      return absl::DataLossError(absl::StrCat("the latest checkpoint has size ", latest->tree_size,
                                              " but the log holds only ", state.tree_size,
                                              " entries: entries were lost"));
    }
    merkle::Hash root{};
    RETURN_IF_ERROR(store_->WithHashReader([&](merkle::HashReader& reader) -> absl::Status {
      if (latest->tree_size == 0) {
        root = merkle::EmptyRoot();
        return absl::OkStatus();
      }
      ASSIGN_OR_RETURN(root, merkle::RootAt(reader, latest->tree_size));
      return absl::OkStatus();
    }));
    if (root != latest->root) {
      return absl::DataLossError(absl::StrCat(
          "the stored tree at size ", latest->tree_size,
          " does not have the root of the checkpoint signed for that size: the tree was changed"));
    }
    if (!VerifyNote(latest->note, verifier_key_).ok()) {
      log::Warn("the latest checkpoint was signed with another key (key rotated?)",
                {{"tree_size", latest->tree_size}});
    }
    checkpoint_ = SignedCheckpoint{latest->tree_size, latest->root, latest->note,
                                   absl::FromUnixMicros(latest->created_micros)};
    // Entries committed after the last checkpoint (a crash between commit and signing): sign
    // them now, after the consistency check with the last checkpoint, before serving.
    if (latest->tree_size < state.tree_size) RETURN_IF_ERROR(MaybeCheckpoint(/*force=*/true));
  } else {
    // A new log: sign the empty tree (or whatever is stored) so GetCheckpoint always answers.
    checkpoint_.tree_size = -1;
    RETURN_IF_ERROR(MaybeCheckpoint(/*force=*/true));
  }
  if (metrics_ != nullptr) {
    metrics_->tree_size.Set(static_cast<double>(size));
    metrics_->checkpoint_size.Set(static_cast<double>(checkpoint_.tree_size));
  }
  log::Info("audit log opened", {{"tree_size", state.tree_size},
                                 {"checkpoint_size", checkpoint_.tree_size},
                                 {"retention_min_index", retention_min_index_},
                                 {"root", merkle::ToHex(range_.Root())}});
  return absl::OkStatus();
}

absl::Status AuditLog::Append(const Events* events, AppendDone done) {
  const int64_t n = events->size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("the audit log is shutting down; retry");
    if (halted_.load()) {
      return absl::UnavailableError(
          "the audit log stopped sequencing after an integrity check failed; an operator must "
          "investigate (see the service log)");
    }
    if (queued_entries_ + n > options_.max_queued_entries) {
      return absl::ResourceExhaustedError(
          "the audit log's append queue is full; retry with backoff");
    }
    queue_.push_back(Request{events, std::move(done)});
    queued_entries_ += n;
  }
  cv_.notify_one();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> AuditLog::AppendAndWait(
    const std::vector<v1::AuditEvent>& events) {
  Events owned(events.begin(), events.end());
  std::promise<absl::StatusOr<std::vector<int64_t>>> promise;
  auto future = promise.get_future();
  RETURN_IF_ERROR(Append(&owned, [&promise](absl::StatusOr<std::vector<int64_t>> result) {
    promise.set_value(std::move(result));
  }));
  return future.get();
}

absl::StatusOr<SignedCheckpoint> AuditLog::CheckpointNow() {
  std::promise<absl::Status> promise;
  auto future = promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("the audit log is shutting down");
    controls_.push_back(Control{[this, &promise] { promise.set_value(MaybeCheckpoint(true)); }});
  }
  cv_.notify_one();
  RETURN_IF_ERROR(future.get());
  return LatestCheckpoint();
}

void AuditLog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void AuditLog::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait_for(lock, std::chrono::milliseconds(100),
                 [&] { return stopping_ || !queue_.empty() || !controls_.empty(); });
    while (!controls_.empty()) {
      Control control = std::move(controls_.front());
      controls_.pop_front();
      lock.unlock();
      control.run();
      lock.lock();
    }
    if (!queue_.empty()) {
      // Group commit: wait (at most `linger`) for a fuller batch, unless the queue already holds
      // one. The wait ends early once appends stop arriving for a moment: callers that each
      // wait for their answer send their next append together, right after the last commit, so
      // a pause means the burst is in and lingering longer would only add to their latency.
      if (queued_entries_ < options_.max_batch_entries && !stopping_ &&
          options_.linger > absl::ZeroDuration()) {
        const auto deadline = SteadyClock::now() + absl::ToChronoMicroseconds(options_.linger);
        const auto quiet = absl::ToChronoMicroseconds(options_.linger / 8);
        for (;;) {
          const int64_t seen = queued_entries_;
          const auto until = std::min(deadline, SteadyClock::now() + quiet);
          const bool arrived = cv_.wait_until(lock, until, [&] {
            return stopping_ || queued_entries_ >= options_.max_batch_entries ||
                   queued_entries_ != seen;
          });
          if (stopping_ || queued_entries_ >= options_.max_batch_entries) break;
          if (!arrived || SteadyClock::now() >= deadline) break;  // quiet, or time is up
        }
      }
      std::vector<Request> batch;
      int64_t taken = 0;
      while (!queue_.empty()) {
        const int64_t n = queue_.front().events->size();
        if (!batch.empty() && taken + n > options_.max_batch_entries) break;
        taken += n;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_entries_ -= taken;
      lock.unlock();
      if (halted_.load()) {
        for (Request& r : batch) {
          r.done(absl::UnavailableError(
              "the audit log stopped sequencing after an integrity check failed"));
        }
      } else {
        CommitBatch(batch);
      }
      lock.lock();
    }
    const bool done = stopping_ && queue_.empty() && controls_.empty();
    lock.unlock();
    if (!halted_.load()) {
      if (absl::Status s = MaybeCheckpoint(/*force=*/done); !s.ok()) {
        log::Error("could not sign a checkpoint", {{"error", std::string(s.message())}});
      }
    }
    if (metrics_ != nullptr) {
      const SignedCheckpoint cp = LatestCheckpoint();
      metrics_->checkpoint_age.Set(absl::ToDoubleSeconds(clock_->Now() - cp.created));
    }
    lock.lock();
    if (metrics_ != nullptr) metrics_->queued.Set(static_cast<double>(queued_entries_));
    if (done) break;
  }
}

void AuditLog::CommitBatch(std::vector<Request>& batch) {
  const auto started = SteadyClock::now();
  const int64_t old_size = static_cast<int64_t>(range_.size());
  const int64_t micros = std::max(absl::ToUnixMicros(clock_->Now()), last_micros_);

  merkle::CompactRange range;
  std::vector<EntryRow> rows;
  std::vector<NodeRow> nodes;
  std::vector<std::optional<absl::Status>> refused(batch.size());
  std::vector<std::vector<int64_t>> indexes(batch.size());
  std::map<std::string, int64_t> maxima;
  int64_t deduplicated = 0;
  // A producer's sequence numbers it skipped: (producer, first missing, last missing).
  struct Skipped {
    std::string producer;
    int64_t first = 0, last = 0;
  };
  std::vector<Skipped> skipped;

  const absl::Status committed =
      store_->InWriteTransaction([&](WriteTransaction& tx) -> absl::Status {
        range = range_;
        rows.clear();
        nodes.clear();
        maxima.clear();
        deduplicated = 0;
        skipped.clear();
        // (producer, sequence) -> index and event, for events re-sent within this batch.
        std::map<std::pair<std::string, int64_t>, std::pair<int64_t, const v1::AuditEvent*>>
            in_batch;
        for (size_t r = 0; r < batch.size(); ++r) {
          refused[r].reset();
          indexes[r].clear();
          const Events& events = *batch[r].events;
          // Staged so that a refused request leaves no trace in the batch.
          const merkle::CompactRange range_mark = range;
          const size_t rows_mark = rows.size();
          const size_t nodes_mark = nodes.size();
          const auto maxima_mark = maxima;
          const size_t skipped_mark = skipped.size();
          std::vector<std::pair<std::string, int64_t>> added_keys;
          int64_t request_dedups = 0;
          for (int i = 0; i < events.size() && !refused[r].has_value(); ++i) {
            const v1::AuditEvent& e = events[i];
            auto key = std::make_pair(e.producer(), e.producer_sequence());
            std::optional<int64_t> existing;
            bool same = true;
            if (auto it = in_batch.find(key); it != in_batch.end()) {
              existing = it->second.first;
              same = SerializeEvent(*it->second.second) == SerializeEvent(e);
            } else if (auto known = producer_max_.find(e.producer());
                       known != producer_max_.end() && e.producer_sequence() <= known->second) {
              ASSIGN_OR_RETURN(std::optional<StoredEntry> stored,
                               tx.FindByProducer(e.producer(), e.producer_sequence()));
              if (stored.has_value()) {
                existing = stored->index;
                v1::AuditEntry entry;
                if (!entry.ParseFromString(stored->entry_bytes)) {
                  return absl::DataLossError(
                      absl::StrCat("the stored bytes of entry ", stored->index, " do not parse"));
                }
                same = SerializeEvent(entry.event()) == SerializeEvent(e);
              }
            }
            if (existing.has_value()) {
              if (!same) {
                refused[r] = absl::AlreadyExistsError(absl::StrCat(
                    "events[", i, "]: producer \"", e.producer(), "\" sequence ",
                    e.producer_sequence(), " is already in the log (index ", *existing,
                    ") with different content; a producer must never reuse a sequence number"));
                break;
              }
              indexes[r].push_back(*existing);
              ++request_dedups;
              continue;
            }
            const int64_t index = old_size + static_cast<int64_t>(rows.size());
            rows.push_back(MakeEntryRow(e, index, micros));
            for (const auto& node : range.Append(merkle::LeafHash(rows.back().entry_bytes))) {
              nodes.push_back(NodeRow{node.level, node.index, node.hash});
            }
            in_batch.emplace(key, std::make_pair(index, &e));
            added_keys.push_back(std::move(key));
            int64_t& m = maxima[e.producer()];
            int64_t previous = m;
            if (auto known = producer_max_.find(e.producer()); known != producer_max_.end()) {
              previous = std::max(previous, known->second);
            }
            if (e.producer_sequence() > previous + 1) {
              skipped.push_back({e.producer(), previous + 1, e.producer_sequence() - 1});
            }
            m = std::max(m, e.producer_sequence());
            indexes[r].push_back(index);
          }
          if (refused[r].has_value()) {
            range = range_mark;
            rows.resize(rows_mark);
            nodes.resize(nodes_mark);
            maxima = maxima_mark;
            skipped.resize(skipped_mark);
            for (const auto& k : added_keys) in_batch.erase(k);
            indexes[r].clear();
          } else {
            deduplicated += request_dedups;
          }
        }
        if (!rows.empty()) {
          RETURN_IF_ERROR(tx.InsertEntries(rows));
          RETURN_IF_ERROR(tx.InsertNodes(nodes));
          RETURN_IF_ERROR(tx.RecordProducerMaxima({maxima.begin(), maxima.end()}));
          RETURN_IF_ERROR(tx.AdvanceState(old_size, static_cast<int64_t>(range.size()), micros));
        }
        if (options_.before_commit_for_test) RETURN_IF_ERROR(options_.before_commit_for_test());
        return absl::OkStatus();
      });

  if (!committed.ok()) {
    log::Error("audit batch failed; nothing of it was appended",
               {{"error", std::string(committed.message())},
                {"requests", static_cast<int64_t>(batch.size())}});
    if (metrics_ != nullptr) metrics_->failed_batches.Increment();
    if (committed.code() == absl::StatusCode::kFailedPrecondition ||
        committed.code() == absl::StatusCode::kDataLoss) {
      halted_ = true;
      log::Error("the audit log stopped sequencing", {{"error", std::string(committed.message())}});
    }
    const absl::Status answer =
        committed.code() == absl::StatusCode::kAlreadyExists
            ? absl::InternalError(absl::StrCat("the audit batch failed: ", committed.message()))
            : committed;
    for (Request& r : batch) r.done(answer);
    return;
  }

  range_ = std::move(range);
  if (!rows.empty()) last_micros_ = micros;
  for (const auto& [producer, sequence] : maxima) {
    int64_t& m = producer_max_[producer];
    m = std::max(m, sequence);
  }
  committed_size_ = static_cast<int64_t>(range_.size());
  for (const Skipped& gap : skipped) {
    log::Error("audit events are missing: a producer skipped sequence numbers",
               {{"producer", gap.producer},
                {"first_missing", gap.first},
                {"last_missing", gap.last},
                {"missing", gap.last - gap.first + 1}});
    if (metrics_ != nullptr) {
      metrics_->missing_events.Increment(static_cast<double>(gap.last - gap.first + 1));
    }
  }
  if (metrics_ != nullptr) {
    metrics_->appended.Increment(static_cast<double>(rows.size()));
    metrics_->deduplicated.Increment(static_cast<double>(deduplicated));
    metrics_->batch_entries.Observe(static_cast<double>(rows.size()));
    metrics_->commit_seconds.Observe(
        std::chrono::duration<double>(SteadyClock::now() - started).count());
    metrics_->tree_size.Set(static_cast<double>(range_.size()));
  }
  if (!rows.empty()) Notify(committed_size_.load());
  for (size_t r = 0; r < batch.size(); ++r) {
    if (refused[r].has_value()) {
      batch[r].done(*refused[r]);
    } else {
      batch[r].done(std::move(indexes[r]));
    }
  }
}

absl::Status AuditLog::MaybeCheckpoint(bool force) {
  const SignedCheckpoint previous = LatestCheckpoint();
  const int64_t size = static_cast<int64_t>(range_.size());
  if (size == previous.tree_size) return absl::OkStatus();
  const absl::Time now = clock_->Now();
  const bool due = force || size - previous.tree_size >= options_.checkpoint_entries ||
                   now - previous.created >= options_.checkpoint_interval;
  if (!due) return absl::OkStatus();
  const merkle::Hash root = range_.Root();

  if (previous.tree_size > 0) {
    // Never sign a tree that does not extend the last signed one: prove it from the stored hashes.
    absl::Status consistent =
        store_->WithHashReader([&](merkle::HashReader& reader) -> absl::Status {
          ASSIGN_OR_RETURN(std::vector<merkle::Hash> proof,
                           merkle::ConsistencyProof(reader, previous.tree_size, size));
          return merkle::VerifyConsistency(previous.tree_size, size, Bytes(previous.root),
                                           Bytes(root), AllBytes(proof));
        });
    if (!consistent.ok()) {
      halted_ = true;
      if (metrics_ != nullptr) metrics_->refused_checkpoints.Increment();
      log::Error("refusing to sign a checkpoint inconsistent with the previous one; the log "
                 "stopped sequencing",
                 {{"previous_size", previous.tree_size},
                  {"size", size},
                  {"error", std::string(consistent.message())}});
      return absl::FailedPreconditionError(absl::StrCat(
          "refused to sign a checkpoint of size ", size,
          ": the stored tree is not consistent with the checkpoint of size ", previous.tree_size,
          " (", consistent.message(), ")"));
    }
  }

  CheckpointBody body;
  body.origin = options_.origin;
  body.size = static_cast<uint64_t>(size);
  body.root = root;
  ASSIGN_OR_RETURN(std::string note, signer_.Sign(FormatCheckpointBody(body)));
  CheckpointRow row{size, root, note, absl::ToUnixMicros(now)};
  RETURN_IF_ERROR(store_->InsertCheckpoint(row));
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    checkpoint_ = SignedCheckpoint{size, root, std::move(note), now};
  }
  if (metrics_ != nullptr) metrics_->checkpoint_size.Set(static_cast<double>(size));
  return absl::OkStatus();
}

SignedCheckpoint AuditLog::LatestCheckpoint() const {
  std::lock_guard<std::mutex> lock(checkpoint_mu_);
  return checkpoint_;
}

void AuditLog::Notify(int64_t size) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  for (const auto& [id, listener] : listeners_) listener(size);
}

uint64_t AuditLog::Subscribe(std::function<void(int64_t)> listener) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  const uint64_t id = next_listener_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void AuditLog::Unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  listeners_.erase(id);
}

absl::Status AuditLog::CheckReadable(int64_t index, const char* field) const {
  if (index < retention_min_index_) {
    return absl::FailedPreconditionError(absl::StrCat(
        field, ": entries below index ", retention_min_index_,
        " are past the retention period and no longer served (they were not changed; proofs "
        "for later entries stay valid)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::LogEntry>> AuditLog::GetEntries(int64_t start, int64_t end) {
  if (start < 0) return absl::InvalidArgumentError("start_index: must be 0 or more");
  if (end <= start) {
    return absl::InvalidArgumentError("end_index: must be greater than start_index (exclusive)");
  }
  if (end - start > kMaxEntriesPerRead) {
    return absl::InvalidArgumentError(
        absl::StrCat("end_index: at most ", kMaxEntriesPerRead, " entries per call"));
  }
  const int64_t size = committed_size_.load();
  if (start >= size) {
    return absl::OutOfRangeError(
        absl::StrCat("start_index: ", start, " is beyond the log, which holds ", size,
                     " entries"));
  }
  RETURN_IF_ERROR(CheckReadable(start, "start_index"));
  end = std::min(end, size);
  ASSIGN_OR_RETURN(std::vector<StoredEntry> stored, store_->GetEntries(start, end));
  if (static_cast<int64_t>(stored.size()) != end - start) {
    return absl::DataLossError(absl::StrCat("entries of [", start, ", ", end,
                                            ") are missing from the store"));
  }
  std::vector<v1::LogEntry> out;
  out.reserve(stored.size());
  for (const StoredEntry& s : stored) {
    ASSIGN_OR_RETURN(v1::LogEntry e, ToLogEntry(s));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<AuditLog::QueryResult> AuditLog::Query(const v1::QueryEntriesRequest& request) {
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size: must be 0 or more");
  QueryFilter filter;
  filter.limit = request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  if (!request.page_token().empty()) {
    int64_t last = 0;
    if (!absl::SimpleAtoi(request.page_token(), &last) || last < 0) {
      return absl::InvalidArgumentError(
          "page_token: not a token this service issued (pass next_page_token unchanged)");
    }
    filter.after_index = last;
  }
  filter.subject = request.actor();
  filter.resource_id = request.resource_id();
  filter.action = request.action();
  filter.dataset = request.dataset();
  if (request.has_outcome()) filter.outcome = request.outcome_code();
  if (request.has_since()) filter.since_micros = TimestampToMicros(request.since());
  if (request.has_until()) filter.until_micros = TimestampToMicros(request.until());
  filter.min_index = retention_min_index_;
  filter.max_index_exclusive = committed_size_.load();
  const int page = filter.limit;
  filter.limit = page + 1;  // one more tells whether another page follows
  ASSIGN_OR_RETURN(std::vector<StoredEntry> stored, store_->Query(filter));
  QueryResult result;
  const bool more = static_cast<int>(stored.size()) > page;
  if (more) stored.resize(page);
  for (const StoredEntry& s : stored) {
    ASSIGN_OR_RETURN(v1::LogEntry e, ToLogEntry(s));
    result.entries.push_back(std::move(e));
  }
  if (more) result.next_page_token = absl::StrCat(stored.back().index);
  return result;
}

absl::StatusOr<v1::InclusionProof> AuditLog::InclusionProof(int64_t index, int64_t tree_size) {
  if (tree_size == 0) tree_size = LatestCheckpoint().tree_size;
  const int64_t size = committed_size_.load();
  if (tree_size < 0) return absl::InvalidArgumentError("tree_size: must be 0 or more");
  if (tree_size > size) {
    return absl::OutOfRangeError(
        absl::StrCat("tree_size: the log holds only ", size, " entries"));
  }
  if (index < 0 || index >= tree_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("index: must be in [0, ", tree_size, ") for tree size ", tree_size));
  }
  RETURN_IF_ERROR(CheckReadable(index, "index"));
  v1::InclusionProof out;
  out.set_index(index);
  out.set_tree_size(tree_size);
  RETURN_IF_ERROR(store_->WithHashReader([&](merkle::HashReader& reader) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<merkle::Hash> proof,
                     merkle::InclusionProof(reader, index, tree_size));
    for (const auto& h : proof) out.add_hashes(Bytes(h));
    ASSIGN_OR_RETURN(merkle::Hash leaf, reader.GetHash(0, index));
    out.set_leaf_hash(Bytes(leaf));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ConsistencyProof> AuditLog::ConsistencyProof(int64_t first, int64_t second) {
  if (second == 0) second = LatestCheckpoint().tree_size;
  const int64_t size = committed_size_.load();
  if (first < 1) return absl::InvalidArgumentError("first_size: must be at least 1");
  if (second < first) {
    return absl::InvalidArgumentError(
        absl::StrCat("second_size: must be at least first_size (", first, "), got ", second));
  }
  if (second > size) {
    return absl::OutOfRangeError(
        absl::StrCat("second_size: the log holds only ", size, " entries"));
  }
  v1::ConsistencyProof out;
  out.set_first_size(first);
  out.set_second_size(second);
  if (first == second) return out;
  RETURN_IF_ERROR(store_->WithHashReader([&](merkle::HashReader& reader) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<merkle::Hash> proof,
                     merkle::ConsistencyProof(reader, first, second));
    for (const auto& h : proof) out.add_hashes(Bytes(h));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::LogEntry>> AuditLog::ReadForTail(int64_t from, int max) {
  RETURN_IF_ERROR(CheckReadable(from, "from_index"));
  const int64_t size = committed_size_.load();
  if (from >= size) return std::vector<v1::LogEntry>();
  return GetEntries(from, std::min<int64_t>(size, from + std::min(max, kMaxEntriesPerRead)));
}

}  // namespace smartby::audit
