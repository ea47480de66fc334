// From a file row to a reading: which column holds the source, which the time, which schema field
// each other column fills, and how a cell's text becomes a typed value.
//
// Pure (no I/O) and thread-safe: a ColumnMapping is only read once built.
#ifndef SMARTBY_SERVICES_INGESTION_ROW_MAPPING_H_
#define SMARTBY_SERVICES_INGESTION_ROW_MAPPING_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/ingestion/formats.h"
#include "services/ingestion/values.h"

namespace smartby::ingestion {

struct ColumnMapping {
  // Column (CSV header cell, JSON/GeoJSON property, or "geometry" for a GeoJSON feature's Point) ->
  // a schema field, "source_id", "time", or "" to leave the column out. Columns not in the map
  // keep their name.
  absl::flat_hash_map<std::string, std::string> columns;
  std::string default_source_id;  // for rows without a source column (or with an empty one)
  bool decimal_comma = false;     // CSV: "12,5" is 12.5 (see ParseFieldText)

  // Parses the form of smartctl's --mapping flag: "Temp=water_temp,Tid=time,Kommentar=", names
  // trimmed of spaces; empty entries are skipped. A column name cannot hold ',' or '='.
  // INVALID_ARGUMENT with a plain message for an entry without '=', an empty column name, a column
  // mapped twice, or two columns mapped to the same target.
  static absl::StatusOr<ColumnMapping> Parse(absl::string_view text);

  // Checks the mapping against the dataset before a file is read, so that a typo is one clear
  // error rather than one per row: every target is "", "source_id", "time" or a schema field, and
  // no two columns share a target. INVALID_ARGUMENT naming the entry otherwise.
  absl::Status Validate(const DatasetSchema& schema) const;
};

// Turns one RawRecord into `reading` (cleared first): source_id, time and values.
//
// Columns: a mapped column goes where the mapping says. An unmapped column keeps its name, except
// that "source_id" and "time" (any case) are always the reading's source and time, and "source"
// and "timestamp" (any case) are too unless the schema has a field of that name. An unmapped
// "geometry" column (GeoJSON) fills the schema field "geometry" if there is one, else the
// schema's only GEOPOINT field.
//
// Source: the cell's text; an absent or empty cell falls back to default_source_id;
// UNKNOWN_SOURCE when there is neither. (Whether the source exists is the caller's check.)
// Time: RFC 3339 (with Z or an offset) or seconds since 1970 ("1767225600", "1767225600.25");
// absent or empty -> MISSING_TIME; anything else -> WRONG_TYPE naming the column.
// Values: null and empty cells are skipped (no value). Text goes through ParseFieldText (a
// TIMESTAMP field also takes seconds since 1970); JSON numbers fill INTEGER fields (only whole
// numbers, else WRONG_TYPE), DOUBLE fields, TIMESTAMP fields (seconds since 1970) and STRING
// fields (the number as written); JSON booleans fill BOOLEAN fields; positions fill GEOPOINT
// fields; any other pairing is WRONG_TYPE. A column that names no schema field is UNKNOWN_FIELD
// (even when its cell is empty: every row of the file would carry it); two columns giving the
// same field, source or time is MALFORMED.
//
// Finally the values pass CheckValues (ranges, NaN, string length, at least one value), so a
// reading accepted here passes CheckValues; the caller need not run it again (it may).
//
// Returns nullopt on success. A Rejection's `field` is the column as written in the file (empty
// when no column is at fault) and its message names the column and, when it differs, the field.
std::optional<Rejection> RecordToReading(const RawRecord& record, const ColumnMapping& mapping,
                                         const DatasetSchema& schema, v1::Reading* reading);

}  // namespace smartby::ingestion

#endif  // SMARTBY_SERVICES_INGESTION_ROW_MAPPING_H_
