// The audit guard every service gets from the runtime (ServerRuntime::NewCallRunner adds it after
// the authentication guard): it records calls in the local outbox (audit_outbox.h) before their
// answer goes out, and refuses new mutations when the outbox cannot take more.
//
// What is recorded (AuditEventsFor):
//   - Every mutating call (MethodPolicy::mutating), whatever its outcome: refusals (no token, no
//     permission, bad request) matter to an incident investigation as much as successes. The
//     resource is the one the call's last authorisation check named (auth::Caller::
//     last_resource), so the catalogue's checks name the dataset and its class.
//   - Reads of data above Åpen: one event per dataset above Åpen (or unclassified) a check
//     allowed, when the call succeeded (a search that returns three Intern datasets records
//     three events); or one event when the check refused such a dataset (an attempt). Reads of
//     Åpen data are not recorded. A listing that filters in its store (Access::kFiltered and
//     MarkChecked, no per-item check) by a caller cleared above Åpen is recorded once, without a
//     resource, since it may have returned such data.
//   - Not recorded: successful calls of self-recording methods (the audit log's own Append: its
//     entries are the record, and recording them would feed the log its own writes forever), and
//     mutations this guard refused because the outbox is full (they did nothing).
// Handlers add details with AddAuditDetail(call, "field", value) (a JSON object, at most 4 KiB).
//
// The refusal: when the outbox holds max_events or its oldest event is older than max_age (the
// audit service has been unreachable too long), or the outbox cannot be written, new mutations
// get UNAVAILABLE; reads go on (and are still recorded: the limit is not a disk limit). When a
// read above Åpen cannot be recorded, its answer is withheld (UNAVAILABLE) instead; a mutation
// whose record fails has already happened, so it is answered as it ended and the failure is
// logged at error level with the event and counted (smartby_audit_record_failures_total).
//
// Thread safety: thread-safe.
#ifndef SMARTBY_RUNTIME_AUDIT_GUARD_H_
#define SMARTBY_RUNTIME_AUDIT_GUARD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <prometheus/counter.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/runtime/audit_outbox.h"
#include "services/runtime/call.h"
#include "services/runtime/clock.h"
#include "smartcity/audit/v1/audit.pb.h"

namespace smartby {

// The largest details_json the log takes.
inline constexpr size_t kMaxAuditDetailsBytes = 4096;

// The message of the UNAVAILABLE refusal when the outbox is full or stale.
inline constexpr char kAuditRefusal[] =
    "the audit log cannot be reached; changes are refused until it can, so nothing runs "
    "unaudited";

// Producer names. The audit log tells producers apart by name, deduplicates on (producer,
// producer_sequence) and shows lost events as gaps in a producer's sequence, so every process
// with an outbox of its own needs a name of its own: two replicas of one service share a service
// account but not an outbox (each numbers its events itself). A process's producer is its
// account ("catalogue"), or "<account>/<instance>" when it has an instance name (--audit_instance;
// the charts pass the pod's name). The log takes from a service token the events of its account
// and of any "<account>/<instance>".
//
// An instance name: 1 to 63 characters of a-z, 0-9, '-' and '.' (a Kubernetes pod name of a
// Deployment or StatefulSet fits: they are at most 63 characters).
inline constexpr size_t kMaxAuditInstanceBytes = 63;

// OK, or INVALID_ARGUMENT starting with `field` and saying what an instance name must be.
absl::Status CheckAuditInstance(absl::string_view instance, absl::string_view field);

// "<account>/<instance>", or `account` when `instance` is empty.
std::string AuditProducerName(absl::string_view account, absl::string_view instance);

struct AuditGuardOptions {
  // Put on every event: the account ("catalogue"), or AuditProducerName(account, instance).
  std::string producer;
  int64_t max_events = 100000;
  // Zero or infinite: no age limit.
  absl::Duration max_age = absl::Hours(1);
  // Full method names whose successful calls are not recorded and which are never refused.
  std::vector<std::string> self_recording_methods = {"/smartcity.audit.v1.AuditService/Append"};
};

// The events for one finished call (empty: nothing to record). `now` is the claimed time.
std::vector<smartcity::audit::v1::AuditEvent> AuditEventsFor(const CallContext& call,
                                                             const absl::Status& outcome,
                                                             const AuditGuardOptions& options,
                                                             absl::Time now);

// Adds "key": value to call.audit_details (a JSON object). A detail that would take the object
// past 4 KiB is left out and "details_truncated": true set instead.
void AddAuditDetail(CallContext& call, absl::string_view key, absl::string_view value);
void AddAuditDetail(CallContext& call, absl::string_view key, const char* value);
void AddAuditDetail(CallContext& call, absl::string_view key, int64_t value);
void AddAuditDetail(CallContext& call, absl::string_view key, bool value);
void AddAuditDetail(CallContext& call, absl::string_view key,
                    const std::vector<std::string>& values);

class AuditGuard : public CallGuard {
 public:
  // `outbox` and `clock` must outlive the guard. `record_failures` may be nullptr. `recorded`,
  // if set, is called after events were stored (the shipper's wake-up).
  AuditGuard(AuditOutbox* outbox, AuditGuardOptions options, const Clock* clock,
             prometheus::Counter* record_failures = nullptr,
             std::function<void()> recorded = nullptr);

  // UNAVAILABLE (kAuditRefusal) for a mutation while the outbox is full, stale or unwritable.
  absl::Status Admit(CallContext& call) override;
  // Records the call (see the header comment); may withhold a read's answer.
  absl::Status Conclude(const CallContext& call, absl::Status outcome) override;

  // OK, or why mutations are refused right now.
  absl::Status MutationsAllowed();

 private:
  bool SelfRecording(const std::string& method) const;

  AuditOutbox* const outbox_;
  const AuditGuardOptions options_;
  const Clock* const clock_;
  prometheus::Counter* const record_failures_;
  const std::function<void()> recorded_;
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_AUDIT_GUARD_H_
