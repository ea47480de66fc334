#include "services/runtime/audit_shipper.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby {

namespace audit_v1 = smartcity::audit::v1;

AuditMetrics::AuditMetrics(prometheus::Registry& registry)
    : outbox_depth(prometheus::BuildGauge()
                       .Name("smartby_audit_outbox_depth")
                       .Help("Audit events recorded in the local outbox and not yet acknowledged "
                             "by the audit service")
                       .Register(registry)
                       .Add({})),
      outbox_oldest_age_seconds(prometheus::BuildGauge()
                                    .Name("smartby_audit_outbox_oldest_age_seconds")
                                    .Help("Age of the oldest event in the audit outbox (0 when "
                                          "empty)")
                                    .Register(registry)
                                    .Add({})),
      events_shipped(prometheus::BuildCounter()
                         .Name("smartby_audit_events_shipped_total")
                         .Help("Audit events the audit service acknowledged")
                         .Register(registry)
                         .Add({})),
      ship_failures(prometheus::BuildCounter()
                        .Name("smartby_audit_ship_failures_total")
                        .Help("Batches of audit events that could not be shipped (retried)")
                        .Register(registry)
                        .Add({})),
      record_failures(prometheus::BuildCounter()
                          .Name("smartby_audit_record_failures_total")
                          .Help("Calls whose audit event could not be stored in the outbox")
                          .Register(registry)
                          .Add({})) {}

void AuditMetrics::Observe(const AuditOutbox& outbox, absl::Time now) {
  outbox_depth.Set(static_cast<double>(outbox.depth()));
  const absl::Time oldest = outbox.oldest();
  outbox_oldest_age_seconds.Set(
      oldest == absl::InfiniteFuture() ? 0.0 : std::max(0.0, absl::ToDoubleSeconds(now - oldest)));
}

AuditShipper::AuditShipper(AuditOutbox* outbox, std::shared_ptr<grpc::Channel> channel,
                           std::shared_ptr<TokenProvider> tokens, AuditMetrics* metrics,
                           const Clock* clock, AuditShipperOptions options)
    : outbox_(outbox),
      stub_(channel != nullptr ? audit_v1::AuditService::NewStub(std::move(channel)) : nullptr),
      tokens_(std::move(tokens)),
      metrics_(metrics),
      clock_(clock),
      options_(options) {}

AuditShipper::~AuditShipper() { Stop(absl::Now()); }

absl::StatusOr<int> AuditShipper::ShipOnce(absl::Time deadline) {
  if (stub_ == nullptr) return absl::FailedPreconditionError("audit shipping is disabled");
  absl::StatusOr<int> result = [&]() -> absl::StatusOr<int> {
    ASSIGN_OR_RETURN(std::vector<audit_v1::AuditEvent> batch, outbox_->Peek(options_.batch_size));
    if (batch.empty()) return 0;
    if (tokens_ == nullptr) return absl::FailedPreconditionError("no token for the audit service");
    ASSIGN_OR_RETURN(std::string token, tokens_->Token());
    audit_v1::AppendRequest request;
    request.mutable_events()->Reserve(static_cast<int>(batch.size()));
    for (audit_v1::AuditEvent& event : batch) *request.add_events() = std::move(event);
    const int64_t last = request.events(request.events_size() - 1).producer_sequence();

    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(std::min(absl::Now() + options_.rpc_timeout, deadline)));
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    audit_v1::AppendResponse response;
    const grpc::Status status = stub_->Append(&context, request, &response);
    if (!status.ok()) {
      absl::Status error = FromGrpcStatus(status);
      return absl::Status(error.code(),
                          absl::StrCat("the audit service did not take the batch: ", error.message()));
    }
    if (response.indexes_size() != request.events_size()) {
      return absl::InternalError(absl::StrCat("the audit service answered ", response.indexes_size(),
                                              " indexes for ", request.events_size(), " events"));
    }
    // Acknowledged: only now may they leave the outbox.
    RETURN_IF_ERROR(outbox_->DeleteThrough(last));
    return request.events_size();
  }();
  if (metrics_ != nullptr) {
    if (result.ok()) {
      metrics_->events_shipped.Increment(*result);
    } else {
      metrics_->ship_failures.Increment();
    }
    metrics_->Observe(*outbox_, clock_->Now());
  }
  return result;
}

absl::Duration AuditShipper::Backoff(int failures, const AuditShipperOptions& options,
                                     absl::BitGenRef random) {
  absl::Duration wait = options.min_backoff;
  for (int i = 1; i < failures && wait < options.max_backoff; ++i) wait *= 2;
  wait = std::min(wait, options.max_backoff);
  const double keep = absl::Uniform(random, 0.5, 1.0);
  return std::max(options.min_backoff, wait * keep);
}

void AuditShipper::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void AuditShipper::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
  changed_.SignalAll();
}

void AuditShipper::Stop(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) drain_deadline_ = deadline;
    stopping_ = true;
    changed_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void AuditShipper::Wait(absl::Duration d, bool wakeable) {
  absl::MutexLock lock(&mu_);
  const absl::Time until = absl::Now() + d;
  while (!stopping_ && !(wakeable && woken_)) {
    if (changed_.WaitWithDeadline(&mu_, until)) break;  // timed out
  }
  woken_ = false;
}

void AuditShipper::Loop() {
  absl::BitGen random;
  int failures = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    if (stub_ == nullptr) {
      if (metrics_ != nullptr) metrics_->Observe(*outbox_, clock_->Now());
      Wait(options_.idle_poll, /*wakeable=*/false);
      continue;
    }
    absl::StatusOr<int> shipped = ShipOnce();
    if (!shipped.ok()) {
      ++failures;
      if (failures == 1 || failures % 100 == 0) {
        log::Warn("cannot ship audit events; they wait in the outbox and are retried",
                  {{"error", std::string(shipped.status().message())},
                   {"failures", int64_t{failures}},
                   {"outbox_depth", outbox_->depth()}});
      }
      Wait(Backoff(failures, options_, random), /*wakeable=*/false);
      continue;
    }
    if (failures > 0) {
      log::Info("shipping audit events again", {{"after_failures", int64_t{failures}}});
      failures = 0;
    }
    if (*shipped < options_.batch_size) Wait(options_.idle_poll, /*wakeable=*/true);
  }
  // Draining: as much as the deadline allows, each send bounded by it; a failure ends it (the
  // rest waits on disk for the next start).
  absl::Time deadline;
  {
    absl::MutexLock lock(&mu_);
    deadline = drain_deadline_;
  }
  if (stub_ == nullptr) return;
  while (absl::Now() < deadline && outbox_->depth() > 0) {
    absl::StatusOr<int> shipped = ShipOnce(deadline);
    if (!shipped.ok() || *shipped == 0) break;
  }
  if (const int64_t left = outbox_->depth(); left > 0) {
    log::Info("audit events kept in the outbox for the next start",
              {{"events", left}, {"outbox", outbox_->path()}});
  }
}

}  // namespace smartby
