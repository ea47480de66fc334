#include "services/runtime/audit_guard.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/log.h"

namespace smartby {
namespace {

using smartcity::audit::v1::AuditEvent;
using smartcity::common::v1::CLASSIFICATION_OPEN;
using smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;

std::string Dump(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The handler's details as the log takes them: a JSON object of at most 4 KiB, or a note saying
// why they were dropped (the event itself is never dropped for its details).
std::string CheckedDetails(const CallContext& call) {
  if (call.audit_details.empty()) return "";
  nlohmann::json parsed = nlohmann::json::parse(call.audit_details, nullptr,
                                                /*allow_exceptions=*/false);
  if (call.audit_details.size() <= kMaxAuditDetailsBytes && parsed.is_object()) {
    return Dump(parsed);  // compact and valid UTF-8
  }
  log::Warn("audit details dropped: not a JSON object of at most 4 KiB",
            {{"method", call.method}, {"request_id", call.request_id},
             {"bytes", static_cast<int64_t>(call.audit_details.size())}});
  return R"({"details_error":"not a JSON object of at most 4 KiB"})";
}

bool Sensitive(const auth::ResourceRef& resource) {
  return resource.classification > CLASSIFICATION_OPEN ||
         (resource.classification == CLASSIFICATION_UNSPECIFIED && !resource.dataset.empty());
}

void SetResource(const auth::ResourceRef& ref, AuditEvent& event) {
  if (ref.dataset.empty() && ref.classification == CLASSIFICATION_UNSPECIFIED) return;
  auto* resource = event.mutable_resource();
  if (!ref.dataset.empty()) {
    resource->set_type("dataset");
    resource->set_id(ref.dataset);
    resource->set_dataset(ref.dataset);
  }
  resource->set_classification(ref.classification);
}

template <typename Value>
void AddDetail(CallContext& call, absl::string_view key, Value&& value) {
  nlohmann::json details = call.audit_details.empty()
                               ? nlohmann::json::object()
                               : nlohmann::json::parse(call.audit_details, nullptr, false);
  if (!details.is_object()) details = nlohmann::json::object();
  nlohmann::json before = details;
  details[std::string(key)] = std::forward<Value>(value);
  std::string text = Dump(details);
  if (text.size() > kMaxAuditDetailsBytes) {
    before["details_truncated"] = true;
    text = Dump(before);
    if (text.size() > kMaxAuditDetailsBytes) return;
  }
  call.audit_details = std::move(text);
}

}  // namespace

absl::Status CheckAuditInstance(absl::string_view instance, absl::string_view field) {
  const bool valid_characters = std::all_of(instance.begin(), instance.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
  if (!instance.empty() && instance.size() <= kMaxAuditInstanceBytes && valid_characters) {
    return absl::OkStatus();
  }
  // Short enough to quote (escaped: it may come from anyone), else only its length.
  const std::string got = instance.size() <= kMaxAuditInstanceBytes
                              ? absl::StrCat("\"", absl::CHexEscape(instance), "\"")
                              : absl::StrCat(instance.size(), " characters");
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": an instance name must be 1 to ", kMaxAuditInstanceBytes,
                   " characters of a-z, 0-9, '-' and '.', such as a pod name (got ", got, ")"));
}

std::string AuditProducerName(absl::string_view account, absl::string_view instance) {
  if (instance.empty()) return std::string(account);
  return absl::StrCat(account, "/", instance);
}

std::vector<AuditEvent> AuditEventsFor(const CallContext& call, const absl::Status& outcome,
                                       const AuditGuardOptions& options, absl::Time now) {
  if (outcome.code() == absl::StatusCode::kUnavailable &&
      absl::StartsWith(outcome.message(), kAuditRefusal)) {
    return {};  // refused by this guard: nothing happened
  }
  const bool self_recording =
      std::find(options.self_recording_methods.begin(), options.self_recording_methods.end(),
                call.method) != options.self_recording_methods.end();
  if (self_recording && outcome.ok()) return {};
  const bool mutating = call.policy != nullptr && call.policy->mutating;
  const auth::Caller& caller = call.caller;

  std::vector<const auth::ResourceRef*> resources;  // one event each; nullptr: no resource
  const std::optional<auth::ResourceRef> last = caller.last_resource();
  std::vector<auth::ResourceRef> allowed;
  if (mutating) {
    resources.push_back(last ? &*last : nullptr);
  } else if (outcome.ok()) {
    allowed = caller.allowed_sensitive();
    for (const auth::ResourceRef& ref : allowed) resources.push_back(&ref);
    const auth::Principal* principal = caller.principal();
    if (resources.empty() && !last && call.policy != nullptr &&
        call.policy->access == Access::kFiltered && principal != nullptr &&
        principal->clearance > CLASSIFICATION_OPEN) {
      resources.push_back(nullptr);  // a store-filtered listing that may have shown such data
    }
  } else if (last && !caller.last_allowed() && Sensitive(*last)) {
    resources.push_back(&*last);  // a refused attempt to read data above Åpen
  }
  if (resources.empty()) return {};

  AuditEvent base;
  base.set_producer(options.producer);
  const int64_t micros = absl::ToUnixMicros(now);
  base.mutable_claimed_time()->set_seconds(micros / 1000000);
  base.mutable_claimed_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  auto* actor = base.mutable_actor();
  if (const auth::Principal* p = caller.principal(); p != nullptr) {
    actor->set_subject(p->subject);
    actor->set_actor(p->actor);
    actor->set_client_id(p->client_id);
    actor->set_two_factor(p->two_factor);
  } else {
    actor->set_subject("anonymous");
  }
  base.set_source_address(call.peer);
  base.set_action(call.method);
  base.set_outcome_code(static_cast<int32_t>(outcome.code()));
  base.set_request_id(call.request_id);
  std::string details = CheckedDetails(call);
  if (const int64_t dropped = caller.allowed_sensitive_dropped(); dropped > 0 && !mutating) {
    // A listing that read more datasets than one call records individually: say how many.
    nlohmann::json json = details.empty() ? nlohmann::json::object() : nlohmann::json::parse(details);
    json["datasets_not_itemised"] = dropped;
    if (std::string text = Dump(json); text.size() <= kMaxAuditDetailsBytes) details = text;
  }
  base.set_details_json(std::move(details));

  std::vector<AuditEvent> events;
  events.reserve(resources.size());
  for (const auth::ResourceRef* ref : resources) {
    AuditEvent& event = events.emplace_back(base);
    if (ref != nullptr) SetResource(*ref, event);
  }
  return events;
}

void AddAuditDetail(CallContext& call, absl::string_view key, absl::string_view value) {
  AddDetail(call, key, std::string(value));
}
void AddAuditDetail(CallContext& call, absl::string_view key, const char* value) {
  AddDetail(call, key, std::string(value));
}
void AddAuditDetail(CallContext& call, absl::string_view key, int64_t value) {
  AddDetail(call, key, value);
}
void AddAuditDetail(CallContext& call, absl::string_view key, bool value) {
  AddDetail(call, key, value);
}
void AddAuditDetail(CallContext& call, absl::string_view key,
                    const std::vector<std::string>& values) {
  AddDetail(call, key, values);
}

AuditGuard::AuditGuard(AuditOutbox* outbox, AuditGuardOptions options, const Clock* clock,
                       prometheus::Counter* record_failures, std::function<void()> recorded)
    : outbox_(outbox),
      options_(std::move(options)),
      clock_(clock),
      record_failures_(record_failures),
      recorded_(std::move(recorded)) {}

bool AuditGuard::SelfRecording(const std::string& method) const {
  return std::find(options_.self_recording_methods.begin(), options_.self_recording_methods.end(),
                   method) != options_.self_recording_methods.end();
}

absl::Status AuditGuard::MutationsAllowed() {
  if (!outbox_->healthy()) {
    if (absl::Status probe = outbox_->Probe(); !probe.ok()) {
      return absl::UnavailableError(
          absl::StrCat(kAuditRefusal, " (the local audit outbox cannot be written: ",
                       probe.message(), ")"));
    }
  }
  const int64_t depth = outbox_->depth();
  if (depth >= options_.max_events) {
    return absl::UnavailableError(absl::StrCat(
        kAuditRefusal, " (", depth, " events wait in the local outbox, the most it may hold)"));
  }
  const absl::Duration age = clock_->Now() - outbox_->oldest();
  if (options_.max_age > absl::ZeroDuration() && options_.max_age != absl::InfiniteDuration() &&
      age > options_.max_age) {
    return absl::UnavailableError(absl::StrCat(kAuditRefusal, " (the oldest unshipped event is ",
                                               absl::FormatDuration(absl::Trunc(age, absl::Seconds(1))),
                                               " old)"));
  }
  return absl::OkStatus();
}

absl::Status AuditGuard::Admit(CallContext& call) {
  if (call.policy == nullptr || !call.policy->mutating || SelfRecording(call.method)) {
    return absl::OkStatus();
  }
  return MutationsAllowed();
}

absl::Status AuditGuard::Conclude(const CallContext& call, absl::Status outcome) {
  std::vector<AuditEvent> events = AuditEventsFor(call, outcome, options_, clock_->Now());
  if (events.empty()) return outcome;
  absl::StatusOr<std::vector<int64_t>> stored = outbox_->Append(events);
  if (stored.ok()) {
    if (recorded_) recorded_();
    return outcome;
  }
  if (record_failures_ != nullptr) record_failures_->Increment();
  const bool mutating = call.policy != nullptr && call.policy->mutating;
  // The log line is the last record of the call; it carries what the event would have said.
  log::Error("cannot record the call in the audit outbox",
             {{"error", std::string(stored.status().message())},
              {"method", call.method},
              {"request_id", call.request_id},
              {"subject", call.caller.subject()},
              {"peer", call.peer},
              {"code", static_cast<int64_t>(outcome.code())},
              {"resource", events.front().resource().id()},
              {"details", events.front().details_json()}});
  if (!mutating && outcome.ok()) {
    return absl::UnavailableError(
        "this read could not be recorded in the audit log, so its answer is withheld; retry in a "
        "moment");
  }
  return outcome;
}

}  // namespace smartby
