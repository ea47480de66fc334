#include "services/audit/entries.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/audit_guard.h"

namespace smartby::audit {
namespace {

absl::Status Invalid(int position, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("events[", position, "].", field, ": ", what));
}

absl::Status CheckLength(int position, absl::string_view field, const std::string& value,
                         size_t max) {
  if (value.size() > max) {
    return Invalid(position, field,
                   absl::StrCat("at most ", max, " bytes (got ", value.size(), ")"));
  }
  return absl::OkStatus();
}

bool ValidAccountName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxProducerAccountBytes) return false;
  for (char c : name) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// "<account>" or "<account>/<instance>" (runtime/audit_guard.h: producer names).
absl::Status CheckProducer(const std::string& producer, int position) {
  const size_t slash = producer.find('/');
  if (!ValidAccountName(absl::string_view(producer).substr(0, slash))) {
    return Invalid(position, "producer",
                   absl::StrCat("required: the service's account, 1 to ", kMaxProducerAccountBytes,
                                " characters of a-z, 0-9, '-', '_', '.', optionally followed by "
                                "/<instance>"));
  }
  if (slash == std::string::npos) return absl::OkStatus();
  return CheckAuditInstance(absl::string_view(producer).substr(slash + 1),
                            absl::StrCat("events[", position, "].producer"));
}

// Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the Timestamp's documented range.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

}  // namespace

absl::Status ValidateEvent(const v1::AuditEvent& e, int i) {
  if (absl::Status s = CheckProducer(e.producer(), i); !s.ok()) return s;
  if (e.producer_sequence() < 1) {
    return Invalid(i, "producer_sequence", "must be 1 or more (the producer's own counter)");
  }
  if (e.has_claimed_time()) {
    const auto& t = e.claimed_time();
    if (t.seconds() < kMinTimestampSeconds || t.seconds() > kMaxTimestampSeconds ||
        t.nanos() < 0 || t.nanos() > 999999999) {
      return Invalid(i, "claimed_time", "must be a valid timestamp (years 0001 to 9999)");
    }
  }
  if (e.actor().subject().empty()) {
    return Invalid(i, "actor.subject", "required (\"anonymous\" for an unauthenticated caller)");
  }
  if (auto s = CheckLength(i, "actor.subject", e.actor().subject(), kMaxShortStringBytes);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckLength(i, "actor.actor", e.actor().actor(), kMaxShortStringBytes); !s.ok()) {
    return s;
  }
  if (auto s = CheckLength(i, "actor.client_id", e.actor().client_id(), kMaxShortStringBytes);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckLength(i, "source_address", e.source_address(), kMaxShortStringBytes);
      !s.ok()) {
    return s;
  }
  if (e.action().empty()) return Invalid(i, "action", "required (the RPC method or a verb)");
  if (auto s = CheckLength(i, "action", e.action(), kMaxShortStringBytes); !s.ok()) return s;
  if (auto s = CheckLength(i, "resource.type", e.resource().type(), kMaxResourceTypeBytes);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckLength(i, "resource.id", e.resource().id(), kMaxResourceIdBytes); !s.ok()) {
    return s;
  }
  if (auto s = CheckLength(i, "resource.dataset", e.resource().dataset(), kMaxShortStringBytes);
      !s.ok()) {
    return s;
  }
  if (!smartcity::common::v1::Classification_IsValid(e.resource().classification())) {
    return Invalid(i, "resource.classification", "unknown classification");
  }
  if (e.outcome_code() < 0 || e.outcome_code() > 16) {
    return Invalid(i, "outcome_code", "must be a gRPC status code, 0 to 16");
  }
  if (auto s = CheckLength(i, "request_id", e.request_id(), kMaxRequestIdBytes); !s.ok()) {
    return s;
  }
  if (!e.details_json().empty()) {
    if (e.details_json().size() > kMaxDetailsJsonBytes) {
      return Invalid(i, "details_json",
                     absl::StrCat("at most ", kMaxDetailsJsonBytes, " bytes (got ",
                                  e.details_json().size(), ")"));
    }
    const nlohmann::json parsed =
        nlohmann::json::parse(e.details_json(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return Invalid(i, "details_json", "must be a JSON object, e.g. {\"field\": \"value\"}");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAppend(const google::protobuf::RepeatedPtrField<v1::AuditEvent>& events) {
  if (events.empty()) return absl::InvalidArgumentError("events: at least one event is required");
  if (events.size() > kMaxEventsPerAppend) {
    return absl::InvalidArgumentError(absl::StrCat("events: at most ", kMaxEventsPerAppend,
                                                   " per request (got ", events.size(), ")"));
  }
  for (int i = 0; i < events.size(); ++i) {
    if (absl::Status s = ValidateEvent(events[i], i); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string AccountOfCaller(const std::string& subject, const std::string& client_id) {
  if (!client_id.empty()) return client_id;
  if (absl::StartsWith(subject, "service:")) return subject.substr(8);
  return "";
}

bool ProducerOfAccount(absl::string_view producer, absl::string_view account) {
  // Account names (auth: 1-64 of a-z 0-9 . - _) never hold a '/'; a token claiming one must not
  // pass for an instance of another account.
  if (account.empty() || absl::StrContains(account, '/')) return false;
  return producer == account ||
         (absl::StartsWith(producer, account) && producer.size() > account.size() &&
          producer[account.size()] == '/');
}

namespace {
std::string SerializeDeterministic(const google::protobuf::MessageLite& message) {
  std::string out;
  out.reserve(message.ByteSizeLong());
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeWithCachedSizes(&coded);
  }
  return out;
}
}  // namespace

std::string SerializeEntry(const v1::AuditEntry& entry) { return SerializeDeterministic(entry); }
std::string SerializeEvent(const v1::AuditEvent& event) { return SerializeDeterministic(event); }

EntryRow MakeEntryRow(const v1::AuditEvent& event, int64_t index, int64_t sequenced_micros) {
  v1::AuditEntry entry;
  entry.set_index(index);
  *entry.mutable_sequenced_time() = MicrosToTimestamp(sequenced_micros);
  *entry.mutable_event() = event;
  EntryRow row;
  row.index = index;
  row.sequenced_micros = sequenced_micros;
  row.producer = event.producer();
  row.producer_sequence = event.producer_sequence();
  row.subject = event.actor().subject();
  row.action = event.action();
  row.resource_id = event.resource().id();
  row.dataset = event.resource().dataset();
  row.outcome = event.outcome_code();
  row.entry_bytes = SerializeEntry(entry);
  return row;
}

absl::StatusOr<v1::LogEntry> ToLogEntry(const StoredEntry& stored) {
  v1::LogEntry out;
  if (!out.mutable_entry()->ParseFromString(stored.entry_bytes)) {
    return absl::DataLossError(
        absl::StrCat("the stored bytes of entry ", stored.index, " do not parse"));
  }
  out.set_entry_bytes(stored.entry_bytes);
  return out;
}

google::protobuf::Timestamp MicrosToTimestamp(int64_t micros) {
  google::protobuf::Timestamp ts;
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest * 1000));
  return ts;
}

int64_t TimestampToMicros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

}  // namespace smartby::audit
