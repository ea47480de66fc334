// Streaming readers for the file formats ImportFile accepts: CSV, JSON (an array of objects, or
// JSON lines), GeoJSON FeatureCollection. Bytes are pushed in chunks of any size (they may split a
// row, a UTF-8 sequence or a JSON token anywhere); records come out through a callback as soon as
// they are complete. Memory stays bounded by the longest row (at most kMaxRecordBytes), whatever
// the file's size.
//
// A row that cannot be read (bad UTF-8, too long, unbalanced quotes, not an object, ...) is
// reported as a RecordError with its row number and the reader carries on with the next row where
// the format allows it (CSV, JSON lines: the next line; JSON array / GeoJSON: the next element).
// When the file as a whole is unreadable (not a JSON array or object, not a FeatureCollection,
// truncated in the middle of a row), Finish() or Feed() returns INVALID_ARGUMENT with a plain
// message; the records already delivered stand.
//
// Details the readers settle (formats.cc):
// - A UTF-8 byte order mark at the start is dropped (any format).
// - CSV: header names are trimmed of spaces and must be unique and non-empty (INVALID_ARGUMENT
//   otherwise); empty lines are skipped and not counted as rows; an empty cell is kNull; a quote
//   inside an unquoted cell, or text after a closing quote, is kept as written.
// - JSON starting with '{' is a stream of objects: JSON lines when the first object ends on its
//   first line (a line that does not hold one whole object is a RecordError, and reading goes on
//   at the next line); otherwise objects may span lines (a pretty-printed object, e.g. an MQTT
//   payload). Blank lines are skipped and not counted as rows.
// - JSON/GeoJSON: properties that are objects or lists are RecordErrors naming the column, except
//   {"lat","lon"} / {"lat","lng"} / {"latitude","longitude"} objects, which become kGeoPoint.
//   Nesting deeper than 64 is a RecordError without parsing.
// - GeoJSON: "features" may come before or after the other members, which are skipped without
//   being held; a feature's null geometry gives no "geometry" column.
#ifndef SMARTBY_SERVICES_INGESTION_FORMATS_H_
#define SMARTBY_SERVICES_INGESTION_FORMATS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "smartcity/ingestion/v1/ingestion.pb.h"

namespace smartby::ingestion {

inline constexpr size_t kMaxRecordBytes = 1 << 20;  // 1 MiB per row / element

// One cell or property as read. JSON numbers keep their text as written; GeoJSON Point
// geometries become kGeoPoint.
struct RawValue {
  enum Kind { kNull, kText, kNumber, kBool, kGeoPoint } kind = kNull;
  std::string text;        // kText, kNumber (as written, e.g. "12.5")
  bool boolean = false;    // kBool
  double latitude = 0, longitude = 0;  // kGeoPoint
};

struct RawRecord {
  int64_t row = 0;  // 1-based data row: CSV not counting the header; JSON/GeoJSON element number
  std::vector<std::pair<std::string, RawValue>> columns;  // in file order
  // GeoJSON: the feature's Point geometry is also a column named "geometry" (kGeoPoint).
};

struct RecordError {
  int64_t row = 0;
  std::string column;   // when one column is at fault
  std::string message;  // plain language
};

struct FormatOptions {
  smartcity::ingestion::v1::FileFormat format = smartcity::ingestion::v1::FILE_FORMAT_CSV;
  char delimiter = ',';  // CSV
};

class RecordReader {
 public:
  using RecordCallback = std::function<void(RawRecord&&)>;
  using ErrorCallback = std::function<void(RecordError&&)>;
  virtual ~RecordReader() = default;
  // Pushes the next chunk. A non-OK status is fatal (nothing more will be read).
  virtual absl::Status Feed(absl::string_view chunk) = 0;
  // End of input: flushes a last row without a trailing newline; INVALID_ARGUMENT when the input
  // ends inside a row, string or element.
  virtual absl::Status Finish() = 0;
  virtual int64_t rows_read() const = 0;  // records + record errors so far
  // Bytes the reader holds for a row or element not yet complete (buffer capacity): at most
  // about kMaxRecordBytes whatever the input. For tests and memory accounting.
  virtual size_t buffered_bytes() const = 0;
};

// INVALID_ARGUMENT for an unsupported format or delimiter (a delimiter must be one ASCII
// character other than '"', CR or LF).
absl::StatusOr<std::unique_ptr<RecordReader>> NewRecordReader(
    const FormatOptions& options, RecordReader::RecordCallback on_record,
    RecordReader::ErrorCallback on_error);

// FILE_FORMAT_CSV for ".csv"/".tsv" (tsv: tab delimiter is the caller's job), JSON for ".json",
// ".jsonl", ".ndjson", GEOJSON for ".geojson"; UNSPECIFIED otherwise.
smartcity::ingestion::v1::FileFormat FormatFromFileName(absl::string_view file_name);

}  // namespace smartby::ingestion

#endif  // SMARTBY_SERVICES_INGESTION_FORMATS_H_
