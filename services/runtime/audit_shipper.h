// Ships the audit outbox (audit_outbox.h) to the audit service: batches of at most 500 events,
// oldest first, with AuditService.Append carrying this service's own token (role audit-writer).
// Events leave the outbox only after the log acknowledged them; a failed send is retried with
// exponential backoff and jitter (100 ms doubling to 30 s), the same events in the same order,
// so nothing is lost or reordered, and a batch that was stored but whose answer was lost is
// deduplicated by the log on (producer, producer_sequence).
//
//   AuditShipper shipper(outbox, channel, tokens, &metrics, &clock, {});
//   shipper.Start();            // its own thread
//   ...
//   shipper.Stop(absl::Now() + grace);  // drains what it can in time; the rest waits on disk
//
// Without a channel (shipping disabled, or no credentials) the shipper only keeps the outbox
// metrics current: events stay on disk, and the audit guard refuses mutations once the outbox
// is full.
//
// Tests drive it without its thread: ShipOnce() sends one batch and says what happened.
//
// Thread safety: Start/Stop/Wake from any thread; ShipOnce must not run concurrently with
// itself (the thread's loop or a test calls it, not both).
#ifndef SMARTBY_RUNTIME_AUDIT_SHIPPER_H_
#define SMARTBY_RUNTIME_AUDIT_SHIPPER_H_

#include <memory>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/runtime/audit_outbox.h"
#include "services/runtime/clock.h"
#include "services/runtime/service_token.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"

namespace smartby {

// smartby_audit_outbox_depth, smartby_audit_outbox_oldest_age_seconds,
// smartby_audit_events_shipped_total, smartby_audit_ship_failures_total,
// smartby_audit_record_failures_total (events the guard could not store).
struct AuditMetrics {
  explicit AuditMetrics(prometheus::Registry& registry);
  // Sets the two gauges from the outbox.
  void Observe(const AuditOutbox& outbox, absl::Time now);

  prometheus::Gauge& outbox_depth;
  prometheus::Gauge& outbox_oldest_age_seconds;
  prometheus::Counter& events_shipped;
  prometheus::Counter& ship_failures;
  prometheus::Counter& record_failures;
};

struct AuditShipperOptions {
  int batch_size = 500;
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration rpc_timeout = absl::Seconds(10);
  // How often an idle shipper looks at the outbox (and refreshes the gauges) unless woken.
  absl::Duration idle_poll = absl::Seconds(1);
};

class AuditShipper {
 public:
  // `outbox`, `metrics` (may be nullptr) and `clock` must outlive the shipper. `channel` nullptr:
  // nothing is shipped (see above); otherwise `tokens` gives the token each Append carries.
  AuditShipper(AuditOutbox* outbox, std::shared_ptr<grpc::Channel> channel,
               std::shared_ptr<TokenProvider> tokens, AuditMetrics* metrics, const Clock* clock,
               AuditShipperOptions options = {});
  ~AuditShipper();  // Stop(now) if still running

  // Sends the oldest batch and deletes it once acknowledged. The number of events shipped (0:
  // the outbox was empty), or why not (nothing deleted then). `deadline` bounds the RPC.
  absl::StatusOr<int> ShipOnce(absl::Time deadline = absl::InfiniteFuture());

  // The wait after `failures` consecutive failures (>= 1): min_backoff doubling up to
  // max_backoff, of which a random part (up to half) is taken off, so that many services do not
  // retry in step.
  static absl::Duration Backoff(int failures, const AuditShipperOptions& options,
                                absl::BitGenRef random);

  void Start();
  // Events were recorded: ship soon (does not cut a backoff short).
  void Wake();
  // Stops the loop, then ships until the outbox is empty, a send fails or `deadline` passes,
  // and joins the thread. Whatever is left stays in the outbox for the next start.
  void Stop(absl::Time deadline);

  bool shipping() const { return stub_ != nullptr; }

 private:
  void Loop();
  // Waits up to `d`; returns early on Stop, and on Wake when `wakeable`.
  void Wait(absl::Duration d, bool wakeable);

  AuditOutbox* const outbox_;
  const std::unique_ptr<smartcity::audit::v1::AuditService::Stub> stub_;
  const std::shared_ptr<TokenProvider> tokens_;
  AuditMetrics* const metrics_;
  const Clock* const clock_;
  const AuditShipperOptions options_;

  absl::Mutex mu_;
  absl::CondVar changed_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread thread_;
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_AUDIT_SHIPPER_H_
