// The hand-over from ingestion: one thread that follows ingestion's WatchReadings and publishes
// every batch to the hub, in commit order.
//
// It resumes from the position recorded in the feed's store, so a restart of either side loses
// nothing acknowledged; it re-reads up to `warmup` positions before that (the hub rebuilds last
// values and its ring from them without passing them to the observers again). A broken stream is
// reopened with exponential backoff (100 ms doubling to 10 s) from the last position published.
// The position is recorded at most every `checkpoint_interval` and when the consumer stops, so
// after a crash the observers may see up to that much again (at least once, never lost).
//
// Several replicas share the one recorded position. Only the replica that evaluates alarms (the
// alarm lease holder) records it, and only as far as its alarm evaluation got
// (`recordable_position`), so it says how far the alarms got: a replica restarting resumes its
// observers from there, and a new lease holder evaluates the readings after it again
// (alarm_observer.h). Other observers (KPIs) keep no state that a restart from an earlier
// position would spoil.
//
// Thread safety: Start and Stop from one thread.
#ifndef SMARTBY_SERVICES_FEED_HANDOVER_H_
#define SMARTBY_SERVICES_FEED_HANDOVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/feed/hub.h"
#include "services/feed/store.h"
#include "services/runtime/service_token.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::feed {

struct HandoverOptions {
  int64_t warmup = 100000;  // positions re-read before the recorded one at start
  absl::Duration checkpoint_interval = absl::Seconds(1);
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  // The position this replica may record now (0: none; main.cc: how far the alarm lease holder
  // evaluated, 0 on other replicas). Empty: the hub's position.
  std::function<int64_t()> recordable_position;
};

class HandoverConsumer {
 public:
  // `tokens` may be nullptr (no token is sent). Store, hub and tokens must outlive it.
  HandoverConsumer(std::shared_ptr<grpc::Channel> ingestion, std::shared_ptr<TokenProvider> tokens,
                   FeedStore* store, Hub* hub, prometheus::Registry* metrics,
                   HandoverOptions options = {});
  ~HandoverConsumer();

  // Reads the recorded position, restores the hub and starts the thread.
  absl::Status Start();
  // Stops the thread and records the last position.
  void Stop();

 private:
  void Run();
  void Checkpoint(bool force);

  std::unique_ptr<smartcity::ingestion::v1::IngestionService::Stub> stub_;
  std::shared_ptr<TokenProvider> tokens_;
  FeedStore* store_;
  Hub* hub_;
  const HandoverOptions options_;
  prometheus::Counter* reconnects_;

  int64_t recorded_ = 0;  // the consumer thread's
  absl::Time last_checkpoint_ = absl::InfinitePast();

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_HANDOVER_H_
