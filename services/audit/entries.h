// What an audit event may contain, and how a sequenced entry becomes the bytes the tree hashes.
//
// Entry bytes = the deterministic protobuf serialization of AuditEntry{index, sequenced_time,
// event}. The leaf hash is SHA-256(0x00 || entry bytes) (merkle::LeafHash). Clients never
// re-serialize: they hash the entry_bytes the log hands out and parse them to read the entry.
#ifndef SMARTBY_SERVICES_AUDIT_ENTRIES_H_
#define SMARTBY_SERVICES_AUDIT_ENTRIES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/audit/audit_store.h"
#include "smartcity/audit/v1/audit.pb.h"

namespace smartby::audit {

namespace v1 = ::smartcity::audit::v1;

// Limits on what one event may carry (README.md, "Limits").
inline constexpr int kMaxEventsPerAppend = 1000;
inline constexpr size_t kMaxDetailsJsonBytes = 4096;
// A producer is "<account>" or "<account>/<instance>" (an instance name: audit_guard.h).
inline constexpr size_t kMaxProducerAccountBytes = 64;
inline constexpr size_t kMaxResourceTypeBytes = 64;
inline constexpr size_t kMaxShortStringBytes = 256;  // subject, actor, client id, action, ...
inline constexpr size_t kMaxResourceIdBytes = 512;
inline constexpr size_t kMaxRequestIdBytes = 128;

// OK, or INVALID_ARGUMENT naming the field with its event index ("events[3].details_json: must
// be a JSON object of at most 4096 bytes").
absl::Status ValidateEvent(const v1::AuditEvent& event, int position);
// The whole request: 1..1000 events, each valid.
absl::Status ValidateAppend(const google::protobuf::RepeatedPtrField<v1::AuditEvent>& events);

// The service account a caller's token speaks for: its client_id, or the name in a
// "service:<name>" subject; "" when neither (then only platform-admin may append).
std::string AccountOfCaller(const std::string& subject, const std::string& client_id);

// Whether `producer` is `account` itself or one of its instances ("<account>/<instance>"), i.e.
// events a token of `account` may append. False for an empty account or one holding a '/'.
bool ProducerOfAccount(absl::string_view producer, absl::string_view account);

// The deterministic serialization of `entry`.
std::string SerializeEntry(const v1::AuditEntry& entry);
// The deterministic serialization of the event (for comparing a re-sent event with the stored one).
std::string SerializeEvent(const v1::AuditEvent& event);

// The row to store for `event` sequenced at `index` and `sequenced_micros`.
EntryRow MakeEntryRow(const v1::AuditEvent& event, int64_t index, int64_t sequenced_micros);

// Parses stored entry bytes into a LogEntry (entry + the same bytes). DATA_LOSS when the bytes do
// not parse (a damaged store).
absl::StatusOr<v1::LogEntry> ToLogEntry(const StoredEntry& stored);

google::protobuf::Timestamp MicrosToTimestamp(int64_t micros);
// Microseconds since the epoch, truncating nanoseconds.
int64_t TimestampToMicros(const google::protobuf::Timestamp& ts);

}  // namespace smartby::audit

#endif  // SMARTBY_SERVICES_AUDIT_ENTRIES_H_
