// A dataset's field schema as ingestion sees it, the checks a reading's values must pass, and the
// encoding readings' values are stored in.
//
// Everything here is pure (no I/O) and thread-safe.
#ifndef SMARTBY_SERVICES_INGESTION_VALUES_H_
#define SMARTBY_SERVICES_INGESTION_VALUES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"
#include "smartcity/ingestion/v1/ingestion.pb.h"

namespace smartby::ingestion {

namespace v1 = ::smartcity::ingestion::v1;
namespace catalogue_v1 = ::smartcity::catalogue::v1;

using ValueMap = google::protobuf::Map<std::string, v1::Value>;

// What ingestion needs of a catalogue dataset (dataset_directory.h caches it).
struct DatasetSchema {
  std::string name;
  smartcity::common::v1::Classification classification =
      smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
  std::string owner_organization;
  catalogue_v1::DatasetState state = catalogue_v1::DATASET_STATE_UNSPECIFIED;
  std::vector<catalogue_v1::SchemaField> fields;

  // Builds the schema from the catalogue's dataset.
  static DatasetSchema FromDataset(const catalogue_v1::Dataset& dataset);
  // nullptr when the schema has no field of that name.
  const catalogue_v1::SchemaField* Find(absl::string_view field) const;
};

// Why a reading (or one of its values) is not accepted.
struct Rejection {
  v1::RejectReason reason = v1::REJECT_REASON_UNSPECIFIED;
  std::string field;    // the field concerned; empty when none
  std::string message;  // plain language, naming the field and what was expected
};

// Checks the values against the schema: at least one value (NO_VALUES); every name is a schema
// field (UNKNOWN_FIELD); the value's kind matches the field's type (WRONG_TYPE; an integer value
// is accepted for a DOUBLE field, and a NaN/infinite double is WRONG_TYPE); numeric values lie in
// [min_value, max_value] when the field has both (OUT_OF_RANGE, message naming the range and
// unit); geo values lie in WGS84 bounds (OUT_OF_RANGE); strings are valid UTF-8 of at most 4 KiB
// (WRONG_TYPE). The first problem, in field-name order, is returned; nullopt when all pass.
std::optional<Rejection> CheckValues(const DatasetSchema& schema, const ValueMap& values);

// Turns a value read from a file into the field's type. `text` is the cell as written (CSV) or a
// JSON scalar rendered as text; `decimal_comma` accepts "12,5" for 12.5 (CSV). Accepted forms:
// INTEGER "-12"; DOUBLE "12.5", "1e3", "12,5" (with decimal_comma); BOOLEAN true/false/1/0/yes/no/
// ja/nei (any case); TIMESTAMP RFC 3339; GEOPOINT "lat,lon" or "lat lon"; STRING as is.
// WRONG_TYPE naming the field and the expected form otherwise.
std::optional<Rejection> ParseFieldText(const catalogue_v1::SchemaField& field,
                                        absl::string_view text, bool decimal_comma,
                                        v1::Value* out);

// The stored form of a reading's values: compact, self-describing (keeps integer vs double,
// timestamps and geo points), deterministic (sorted by field name). DecodeValues reverses it
// exactly; DATA_LOSS for text it did not produce (stored values are the server's own, so text
// that does not decode means damaged data, not a caller's mistake).
//
// The form is one JSON object, field name -> value, in byte order of the names:
//   double     a bare number that always has a '.' or an exponent, shortest text that reads back
//              to the same double: 81.5, 12.0, -0.0, 1e+300; NaN/infinities as {"d":"nan"},
//              {"d":"inf"}, {"d":"-inf"}
//   integer    {"i":12}
//   string     a bare JSON string (UTF-8 as is; only '"', '\' and control characters escaped)
//   bool       true / false
//   timestamp  {"t":"2026-03-01T11:00:00.123456Z"} (UTC, 0/3/6/9 fraction digits); a timestamp
//              outside years 0001..9999 or with nanos outside 0..999999999 as {"t":[seconds,nanos]}
//   geo point  {"g":[latitude,longitude]} (numbers as for doubles)
//   no value   null (a Value whose oneof is unset)
// Example: {"fill_level":81.5,"lid_open":false,"n":{"i":12},"t":{"t":"2026-03-01T11:00:00Z"}}
std::string EncodeValues(const ValueMap& values);
absl::Status DecodeValues(absl::string_view encoded, ValueMap* values);
// One field's value (nullopt when the reading has none), for scans that need one field of many
// rows (aggregates, history): the other fields are not kept. Text after the field is not read,
// so damage there goes unnoticed; DecodeValues checks the whole text.
absl::Status DecodeValue(absl::string_view encoded, absl::string_view field,
                         std::optional<v1::Value>* value);

// The numeric value of an INTEGER or DOUBLE value (for aggregates); nullopt for other kinds.
std::optional<double> NumericValue(const v1::Value& value);

// RFC 3339 time: "2026-03-01T12:00:00+01:00", "2026-03-01t11:00:00.123456z"; 'T', 't' or one space
// between date and time; Z or a numeric offset is required; up to 9 fraction digits are kept (more
// are cut off). Years 0001..9999 only. nullopt when malformed.
std::optional<google::protobuf::Timestamp> ParseRfc3339(absl::string_view text);
// RFC 3339 in UTC ("2026-03-01T11:00:00.25Z" is written "...00.250Z": 0, 3, 6 or 9 fraction
// digits). `time` must be valid (years 0001..9999, nanos 0..999999999).
std::string FormatRfc3339(const google::protobuf::Timestamp& time);

}  // namespace smartby::ingestion

#endif  // SMARTBY_SERVICES_INGESTION_VALUES_H_
