// The ingestion service's nouns (AddIngestionCommands), against
// smartcity.ingestion.v1.IngestionService:
//   source     register, list, get, update, disable
//   ingest     file (ImportFile, streamed in 256 KiB chunks, with a progress bar on a terminal)
//   readings   query (raw, or aggregated per window), last
//   quality    show
//   retention  set, get
// and the helpers of those commands that are worth testing on their own: flag values (times,
// durations with days, --mapping, --meta, --delimiter), how values and results are printed, and
// the exit-code rule of an import. Everything here is pure except the commands themselves.
#ifndef SMARTBY_CLI_SMARTCTL_INGESTION_COMMANDS_H_
#define SMARTBY_CLI_SMARTCTL_INGESTION_COMMANDS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/smartctl/args.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/output.h"
#include "smartcity/ingestion/v1/ingestion.pb.h"

namespace smartby::smartctl {

// Adds the nouns source, ingest, readings, quality and retention to `registry`.
void AddIngestionCommands(Registry& registry);

// ImportFile sends the file in chunks of this size (the service takes at most 1 MiB each).
inline constexpr size_t kImportChunkBytes = 256 * 1024;

// ---- flag values ----------------------------------------------------------------------------
// All parsers return usage errors (exit 2) that name `flag` ("--every", "KEEP", ...). Durations
// and times (ParseDurationFlag, ParseTimeArg) are in args.h, shared with the other nouns.

// --mapping values (each may be given several times): "Col=field,Col2=time", column -> target.
// A pair splits at its last '=' (field names have none); "\," and "\\" write a comma or a
// backslash inside a column name; blanks around names are dropped. A column mapped twice is an
// error.
absl::StatusOr<std::map<std::string, std::string>> ParseMapping(
    const std::vector<std::string>& values);

// --meta values, each "key=value" (split at the first '='; the value may be empty). A key given
// twice is an error.
absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(
    const std::vector<std::string>& values);

// --delimiter: one ASCII character; "\t" (backslash t) or "tab" for a tab.
absl::StatusOr<std::string> ParseDelimiter(const std::string& text);

// --format: csv, json (also jsonl, ndjson) or geojson.
absl::StatusOr<smartcity::ingestion::v1::FileFormat> ParseFileFormat(const std::string& text);

// The first ImportFile message's options for `ingest file DATASET FILE` with these flags
// (--format, --delimiter, --mapping, --source). total_bytes is left to the caller.
absl::StatusOr<smartcity::ingestion::v1::ImportOptions> ImportOptionsFrom(
    const std::string& dataset, const std::string& file, const ParsedFlags& flags);

// Sets on `source` what the source flags give (--name, --lat/--lon, --interval, --meta, and
// --enable where `allow_enable`) and adds each one's update-mask path to `paths` (name,
// position, expected_interval, metadata, disabled), nothing else.
absl::Status ApplySourceFlags(const ParsedFlags& flags, bool allow_enable,
                              smartcity::ingestion::v1::Source* source,
                              std::vector<std::string>* paths);

// What `readings query` asks for: raw readings (QueryReadings) or, with --every, windows
// (AggregateReadings). `limit` is how many readings or windows to fetch at most (0: all).
struct ReadingsPlan {
  bool aggregate = false;
  smartcity::ingestion::v1::QueryReadingsRequest query;        // when !aggregate
  smartcity::ingestion::v1::AggregateReadingsRequest windows;  // when aggregate
  std::string agg = "mean";  // mean, min, max, count or last: the column a table shows
  int64_t limit = 1000;
};
// From `readings query [SOURCE] [flags]`: exactly one of SOURCE and --dataset; --from/--to;
// --every with --field (and --agg); --limit.
absl::StatusOr<ReadingsPlan> ReadingsPlanFrom(const std::vector<std::string>& args,
                                              const ParsedFlags& flags, absl::Time now);

// ---- printing -------------------------------------------------------------------------------

// A time with as many fractional digits as it has: 2026-01-31T09:30:00Z,
// 2026-01-31T09:30:00.25Z; "" when unset.
std::string FormatPreciseTime(const google::protobuf::Timestamp& time);

// One value: numbers as written, true/false, RFC 3339 times, a position as "lat,lon", strings
// as they are (quoted, with \" and \\, when empty or holding blanks, '=', '"' or controls).
std::string FormatValue(const smartcity::ingestion::v1::Value& value);

// A reading's values as "field=value" pairs, sorted by field, separated by blanks.
std::string FormatValues(
    const google::protobuf::Map<std::string, smartcity::ingestion::v1::Value>& values);

// The chosen column (mean, min, max, count, last) of one window.
std::string AggregateValue(const smartcity::ingestion::v1::Aggregate& window,
                           const std::string& agg);

// 512 B, 1.5 KiB, 3.2 MiB, 1.1 GiB.
std::string FormatBytes(int64_t bytes);

// The import report as people read it: the totals, then the rejected rows as a table
// (ROW COLUMN REASON MESSAGE); a note when the service listed only the first errors.
void PrintImportReport(const smartcity::ingestion::v1::ImportSummary& summary,
                       const std::string& dataset, const std::string& file, std::ostream& out);

// The exit rule of `ingest file`: OK when no row was rejected (accepted and duplicate rows are
// both fine); otherwise a failure (exit 1) that says how many rows were rejected.
absl::Status ImportOutcome(const smartcity::ingestion::v1::ImportSummary& summary,
                           const std::string& request_id);

// One line of the progress bar, at most `width` characters:
// "[=========>          ]  45%  1.2 MiB / 2.7 MiB  10234 rows  34 rejected". The bar (10 to 30
// wide) is left out when the line would not fit; without a known total (0) there is none:
// "1.2 MiB read  10234 rows  34 rejected".
std::string ProgressLine(const smartcity::ingestion::v1::ImportProgress& progress,
                         int64_t total_bytes, size_t width);

// ---- streaming a file -----------------------------------------------------------------------

// Sends `options` as the first ImportFileRequest, then `in` in chunks of at most `chunk_bytes`
// (never more than one chunk in memory). `write` returns false when the stream is closed; that
// ends the sending without an error (the service's status says why). A read error is a local
// error naming `name`. `sent` (may be null) receives the number of file bytes written.
absl::Status SendFileInChunks(
    std::istream& in, const std::string& name,
    const smartcity::ingestion::v1::ImportOptions& options, size_t chunk_bytes,
    const std::function<bool(const smartcity::ingestion::v1::ImportFileRequest&)>& write,
    int64_t* sent = nullptr);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_INGESTION_COMMANDS_H_
