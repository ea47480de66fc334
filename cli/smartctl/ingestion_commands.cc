// The ingestion service's nouns: `source`, `ingest`, `readings`, `quality` and `retention`, all
// against smartcity.ingestion.v1.IngestionService (default port 7002).
#include "cli/smartctl/ingestion_commands.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/output.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::smartctl {

namespace v1 = smartcity::ingestion::v1;
using Stub = v1::IngestionService::Stub;

namespace {

// Pages asked for when following every page. Readings carry several values each, so 1,000 per
// page keeps a response well under gRPC's default 4 MiB limit.
constexpr int64_t kPageSize = 1000;

// "" for an unset (zero) duration, else its short form.
std::string DurationCell(const google::protobuf::Duration& d) {
  const absl::Duration value = FromProtoDuration(d);
  return value > absl::ZeroDuration() ? FormatDurationShort(value) : "";
}

std::string FormatAnyTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<double> ParseDegrees(const std::string& flag, const std::string& text,
                                    double limit) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value) || value < -limit || value > limit) {
    return UsageError(absl::StrCat(flag, ": \"", text, "\" is not a WGS84 coordinate in decimal ",
                                   "degrees from ", -limit, " to ", limit));
  }
  return value;
}

std::string SourceState(const v1::Source& s) { return s.disabled() ? "disabled" : "enabled"; }

std::string PositionText(const v1::Source& s) {
  if (!s.has_position()) return "";
  return absl::StrCat(FormatNumber(s.position().latitude()), ",",
                      FormatNumber(s.position().longitude()));
}

std::string MetadataText(const v1::Source& s) {
  std::map<std::string, std::string> sorted(s.metadata().begin(), s.metadata().end());
  std::vector<std::string> parts;
  for (const auto& [key, value] : sorted) {
    parts.push_back(absl::StrCat(key, "=", QuoteIfNeeded(value)));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace

// ---- flag values ------------------------------------------------------------------------------

absl::StatusOr<std::map<std::string, std::string>> ParseMapping(
    const std::vector<std::string>& values) {
  std::map<std::string, std::string> mapping;
  for (const std::string& value : values) {
    // Split at the commas that are not escaped; "\," and "\\" stand for ',' and '\'.
    std::vector<std::string> pairs(1);
    for (size_t i = 0; i < value.size(); ++i) {
      const char c = value[i];
      if (c == '\\' && i + 1 < value.size() && (value[i + 1] == ',' || value[i + 1] == '\\')) {
        pairs.back() += value[++i];
      } else if (c == ',') {
        pairs.emplace_back();
      } else {
        pairs.back() += c;
      }
    }
    for (const std::string& pair : pairs) {
      if (absl::StripAsciiWhitespace(pair).empty()) continue;  // "a=b," or "a=b,,c=d"
      const size_t eq = pair.rfind('=');
      std::string column, target;
      if (eq != std::string::npos) {
        column = std::string(absl::StripAsciiWhitespace(absl::string_view(pair).substr(0, eq)));
        target = std::string(absl::StripAsciiWhitespace(absl::string_view(pair).substr(eq + 1)));
      }
      if (column.empty() || target.empty()) {
        return UsageError(absl::StrCat("--mapping: \"", pair,
                                       "\" is not COLUMN=FIELD; write e.g. "
                                       "Temp=temperature,Tidspunkt=time,Sensor=source_id"));
      }
      if (!mapping.emplace(column, target).second) {
        return UsageError(absl::StrCat("--mapping: column \"", column, "\" is mapped twice"));
      }
    }
  }
  return mapping;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(
    const std::vector<std::string>& values) {
  std::map<std::string, std::string> metadata;
  for (const std::string& value : values) {
    const size_t eq = value.find('=');
    const std::string key(absl::StripAsciiWhitespace(
        absl::string_view(value).substr(0, eq == std::string::npos ? value.size() : eq)));
    if (eq == std::string::npos || key.empty()) {
      return UsageError(absl::StrCat("--meta: \"", value,
                                     "\" is not KEY=VALUE; write e.g. --meta model=LoRa-T2"));
    }
    if (!metadata.emplace(key, value.substr(eq + 1)).second) {
      return UsageError(absl::StrCat("--meta: key \"", key, "\" is given twice"));
    }
  }
  return metadata;
}

absl::StatusOr<std::string> ParseDelimiter(const std::string& text) {
  if (text == "\\t" || absl::AsciiStrToLower(text) == "tab" || text == "\t") return "\t";
  // One byte: the service's CSV reader splits on a single ASCII character.
  if (text.size() != 1 || static_cast<unsigned char>(text[0]) >= 0x80 || text == "\n" ||
      text == "\r" || text == "\"") {
    return UsageError(absl::StrCat("--delimiter: \"", text,
                                   "\" is not one ASCII character; write e.g. ';', '|' or '\\t' "
                                   "for a tab"));
  }
  return text;
}

absl::StatusOr<v1::FileFormat> ParseFileFormat(const std::string& text) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (lower == "jsonl" || lower == "ndjson" || lower == "json-lines") return v1::FILE_FORMAT_JSON;
  absl::StatusOr<int> value = ParseEnumValue(v1::FileFormat_descriptor(), text, "--format");
  if (!value.ok()) return value.status();
  return static_cast<v1::FileFormat>(*value);
}

absl::StatusOr<v1::ImportOptions> ImportOptionsFrom(const std::string& dataset,
                                                    const std::string& file,
                                                    const ParsedFlags& flags) {
  v1::ImportOptions options;
  options.set_dataset(dataset);
  if (file != "-") options.set_file_name(std::filesystem::path(file).filename().string());
  if (flags.Has("format")) {
    absl::StatusOr<v1::FileFormat> format = ParseFileFormat(flags.Get("format"));
    if (!format.ok()) return format.status();
    options.set_format(*format);
  } else if (file == "-") {
    return UsageError(
        "standard input has no file name to tell its format by; give --format "
        "csv, json or geojson");
  }
  if (flags.Has("delimiter")) {
    if (options.format() != v1::FILE_FORMAT_UNSPECIFIED &&
        options.format() != v1::FILE_FORMAT_CSV) {
      return UsageError("--delimiter is for CSV files only");
    }
    absl::StatusOr<std::string> delimiter = ParseDelimiter(flags.Get("delimiter"));
    if (!delimiter.ok()) return delimiter.status();
    options.set_delimiter(*delimiter);
  }
  absl::StatusOr<std::map<std::string, std::string>> mapping =
      ParseMapping(flags.GetAll("mapping"));
  if (!mapping.ok()) return mapping.status();
  options.mutable_mapping()->insert(mapping->begin(), mapping->end());
  options.set_source_id(flags.Get("source"));
  return options;
}

absl::Status ApplySourceFlags(const ParsedFlags& flags, bool allow_enable, v1::Source* source,
                              std::vector<std::string>* paths) {
  if (flags.Has("name")) {
    source->set_name(flags.Get("name"));
    paths->push_back("name");
  }
  if (flags.Has("lat") != flags.Has("lon")) {
    return UsageError("give both --lat and --lon (WGS84, decimal degrees), or neither");
  }
  if (flags.Has("lat")) {
    absl::StatusOr<double> lat = ParseDegrees("--lat", flags.Get("lat"), 90);
    if (!lat.ok()) return lat.status();
    absl::StatusOr<double> lon = ParseDegrees("--lon", flags.Get("lon"), 180);
    if (!lon.ok()) return lon.status();
    source->mutable_position()->set_latitude(*lat);
    source->mutable_position()->set_longitude(*lon);
    paths->push_back("position");
  }
  if (flags.Has("interval")) {
    absl::StatusOr<absl::Duration> interval =
        ParseDurationFlag("--interval", flags.Get("interval"));
    if (!interval.ok()) return interval.status();
    *source->mutable_expected_interval() = ToProtoDuration(*interval);
    paths->push_back("expected_interval");
  }
  if (flags.Has("meta")) {
    absl::StatusOr<std::map<std::string, std::string>> meta = ParseMetadata(flags.GetAll("meta"));
    if (!meta.ok()) return meta.status();
    source->mutable_metadata()->insert(meta->begin(), meta->end());
    paths->push_back("metadata");
  }
  if (allow_enable && flags.Has("enable")) {
    source->set_disabled(!flags.GetBool("enable"));
    paths->push_back("disabled");
  }
  return absl::OkStatus();
}

absl::StatusOr<ReadingsPlan> ReadingsPlanFrom(const std::vector<std::string>& args,
                                              const ParsedFlags& flags, absl::Time now) {
  ReadingsPlan plan;
  const bool by_source = !args.empty();
  const bool by_dataset = flags.Has("dataset");
  if (by_source && by_dataset) return UsageError("give SOURCE or --dataset, not both");
  if (!by_source && !by_dataset) {
    return UsageError("missing SOURCE (or --dataset DATASET for all of its sources)");
  }
  const std::string source = by_source ? args[0] : "";
  const std::string dataset = flags.Get("dataset");
  if (by_dataset && dataset.empty()) return UsageError("--dataset: give a dataset name");

  std::optional<google::protobuf::Timestamp> from, to;
  std::optional<absl::Time> from_time, to_time;
  if (flags.Has("from")) {
    absl::StatusOr<absl::Time> t = ParseTimeArg("--from", flags.Get("from"), now);
    if (!t.ok()) return t.status();
    from_time = *t;
    from = ToTimestamp(*t);
  }
  if (flags.Has("to")) {
    absl::StatusOr<absl::Time> t = ParseTimeArg("--to", flags.Get("to"), now);
    if (!t.ok()) return t.status();
    to_time = *t;
    to = ToTimestamp(*t);
  }
  if (from_time && to_time && *to_time <= *from_time) {
    return UsageError("--to is not after --from: nothing can match");
  }
  if (flags.Has("limit")) {
    absl::StatusOr<int64_t> limit = ParseIntFlag("limit", flags.Get("limit"), 0);
    if (!limit.ok()) return limit.status();
    plan.limit = *limit;
  }

  if (!flags.Has("every")) {
    if (flags.Has("agg") || flags.Has("field")) {
      return UsageError("--agg and --field go with --every (one value per time window)");
    }
    v1::QueryReadingsRequest& r = plan.query;
    r.set_source_id(source);
    r.set_dataset(dataset);
    if (from) *r.mutable_start_time() = *from;
    if (to) *r.mutable_end_time() = *to;
    return plan;
  }

  plan.aggregate = true;
  absl::StatusOr<absl::Duration> every = ParseDurationFlag("--every", flags.Get("every"));
  if (!every.ok()) return every.status();
  if (*every < absl::Seconds(1)) return UsageError("--every: a window is at least 1s");
  if (flags.Get("field").empty()) {
    return UsageError("--every needs --field FIELD (the numeric field to aggregate)");
  }
  if (flags.Has("agg")) {
    std::string agg = absl::AsciiStrToLower(absl::StripAsciiWhitespace(flags.Get("agg")));
    if (agg == "avg" || agg == "average") agg = "mean";
    static const std::set<std::string> kAggregates = {"mean", "min", "max", "count", "last"};
    if (!kAggregates.count(agg)) {
      return UsageError(absl::StrCat("--agg: \"", flags.Get("agg"),
                                     "\" is not one of mean, min, max, count, last"));
    }
    plan.agg = agg;
  }
  v1::AggregateReadingsRequest& r = plan.windows;
  r.set_source_id(source);
  r.set_dataset(dataset);
  r.set_field(flags.Get("field"));
  if (from) *r.mutable_start_time() = *from;
  if (to) *r.mutable_end_time() = *to;
  *r.mutable_window() = ToProtoDuration(*every);
  return plan;
}

// ---- printing ---------------------------------------------------------------------------------

std::string FormatPreciseTime(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "";
  return FormatAnyTime(FromTimestamp(time));
}

std::string FormatValue(const v1::Value& value) {
  switch (value.kind_case()) {
    case v1::Value::kDoubleValue:
      return FormatNumber(value.double_value());
    case v1::Value::kIntegerValue:
      return absl::StrCat(value.integer_value());
    case v1::Value::kStringValue:
      return QuoteIfNeeded(value.string_value());
    case v1::Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case v1::Value::kTimestampValue:
      return FormatAnyTime(FromTimestamp(value.timestamp_value()));
    case v1::Value::kGeoValue:
      return absl::StrCat(FormatNumber(value.geo_value().latitude()), ",",
                          FormatNumber(value.geo_value().longitude()));
    case v1::Value::KIND_NOT_SET:
      break;
  }
  return "";
}

std::string FormatValues(const google::protobuf::Map<std::string, v1::Value>& values) {
  std::map<std::string, const v1::Value*> sorted;
  for (const auto& [field, value] : values) sorted.emplace(field, &value);
  std::vector<std::string> parts;
  for (const auto& [field, value] : sorted) {
    parts.push_back(absl::StrCat(field, "=", FormatValue(*value)));
  }
  return absl::StrJoin(parts, " ");
}

std::string AggregateValue(const v1::Aggregate& window, const std::string& agg) {
  if (agg == "count") return absl::StrCat(window.count());
  if (agg == "min") return FormatNumber(window.min());
  if (agg == "max") return FormatNumber(window.max());
  if (agg == "last") return FormatNumber(window.last());
  return FormatNumber(window.mean());
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

void PrintImportReport(const v1::ImportSummary& summary, const std::string& dataset,
                       const std::string& file, std::ostream& out) {
  const v1::ImportProgress& totals = summary.totals();
  Details details;
  details.Add("File", file == "-" ? "(standard input)" : file);
  details.Add("Dataset", dataset);
  if (totals.bytes_read() > 0) details.Add("Read", FormatBytes(totals.bytes_read()));
  details.Add("Rows", absl::StrCat(totals.rows_read()));
  details.Add("Accepted", absl::StrCat(totals.accepted()));
  details.Add("Duplicates", absl::StrCat(totals.duplicates()));
  details.Add("Rejected", absl::StrCat(totals.rejected()));
  details.Print(out);
  if (summary.errors().empty()) return;
  out << "\nRejected rows:\n";
  Table table({"ROW", "COLUMN", "REASON", "MESSAGE"});
  for (const v1::RowError& e : summary.errors()) {
    table.AddRow({absl::StrCat(e.row()), e.column(),
                  ShortEnumName(v1::RejectReason_descriptor(), e.reason()), e.message()});
  }
  table.Print(out);
  if (summary.errors_truncated()) {
    out << "(the service lists the first " << summary.errors_size() << " rejected rows only; "
        << totals.rejected() << " were rejected in all)\n";
  }
}

absl::Status ImportOutcome(const v1::ImportSummary& summary, const std::string& request_id) {
  const int64_t rejected = std::max<int64_t>(summary.totals().rejected(), summary.errors_size());
  if (rejected == 0) return absl::OkStatus();
  const int64_t rows = summary.totals().rows_read();
  // "1 row was rejected", "1 of 10 rows was rejected; the others were ...", "all 5 rows were"
  std::string what;
  if (rows > rejected) {
    what = absl::StrCat(rejected, " of ", rows, rejected == 1 ? " rows was" : " rows were",
                        " rejected; the others were accepted or already stored");
  } else if (rows == rejected && rows > 1) {
    what = absl::StrCat("all ", rows, " rows were rejected");
  } else {
    what = absl::StrCat(rejected, rejected == 1 ? " row was" : " rows were", " rejected");
  }
  return WithHint(
      ServiceError(
          absl::StatusCode::kInvalidArgument, what,
          request_id),
      "correct the rows listed and import the file again: rows already stored come back as "
      "duplicates and change nothing");
}

std::string ProgressLine(const v1::ImportProgress& progress, int64_t total_bytes, size_t width) {
  // Short, so that the bar fits an 80-column terminal; the summary has the full breakdown.
  const std::string counts =
      absl::StrCat(progress.rows_read(), " rows  ", progress.rejected(), " rejected");
  std::string line;
  if (total_bytes > 0) {
    const int64_t done = std::clamp<int64_t>(progress.bytes_read(), 0, total_bytes);
    const int percent = static_cast<int>(done * 100 / total_bytes);
    const std::string text = absl::StrFormat("%3d%%  %s / %s  %s", percent, FormatBytes(done),
                                             FormatBytes(total_bytes), counts);
    // The bar takes the room left, 10 to 30 wide; on a narrow terminal it goes.
    const size_t room = width > text.size() + 3 ? width - text.size() - 3 : 0;
    const size_t bar = std::min<size_t>(30, room);
    if (bar >= 10) {
      const size_t filled = bar * static_cast<size_t>(percent) / 100;
      std::string cells(filled, '=');
      if (filled < bar) cells += '>';
      cells.resize(bar, ' ');
      line = absl::StrCat("[", cells, "] ", text);
    } else {
      line = text;
    }
  } else {
    line = absl::StrCat(FormatBytes(progress.bytes_read()), " read  ", counts);
  }
  if (line.size() > width) line.resize(width);
  return line;
}

// ---- streaming a file -------------------------------------------------------------------------

absl::Status SendFileInChunks(std::istream& in, const std::string& name,
                              const v1::ImportOptions& options, size_t chunk_bytes,
                              const std::function<bool(const v1::ImportFileRequest&)>& write,
                              int64_t* sent) {
  int64_t total = 0;
  if (sent != nullptr) *sent = 0;
  v1::ImportFileRequest request;
  *request.mutable_options() = options;
  if (!write(request)) return absl::OkStatus();
  // One buffer, the chunk field itself: the file is never held in memory beyond one chunk.
  std::string* chunk = request.mutable_chunk();
  errno = 0;
  while (in) {
    chunk->resize(chunk_bytes);
    in.read(chunk->data(), static_cast<std::streamsize>(chunk_bytes));
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    chunk->resize(static_cast<size_t>(n));
    if (!write(request)) break;
    total += n;
    if (sent != nullptr) *sent = total;
  }
  if (in.bad()) {
    return LocalError(absl::StrCat(name, ": cannot read after ", total, " bytes",
                                   errno != 0 ? absl::StrCat(": ", std::strerror(errno)) : ""));
  }
  return absl::OkStatus();
}

// ---- the commands ----------------------------------------------------------------------------

namespace {

struct IngestionConnection {
  std::unique_ptr<ServiceClient> client;
  std::unique_ptr<Stub> stub;
};

absl::StatusOr<IngestionConnection> ConnectIngestion(CommandContext& context) {
  absl::StatusOr<std::unique_ptr<ServiceClient>> client = context.Connect("ingestion");
  if (!client.ok()) return client.status();
  IngestionConnection c;
  c.stub = v1::IngestionService::NewStub((*client)->channel());
  c.client = std::move(*client);
  return c;
}

// Adds a hint to a failure the ingestion service reported, where a person would want one.
absl::Status Explain(absl::Status status) {
  if (status.ok() || ExitCodeOf(status) != kExitFailed || !HintOf(status).empty()) return status;
  const std::string message = absl::AsciiStrToLower(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      if (absl::StrContains(message, "source")) {
        return WithHint(status, "see the sources with smartctl source list [--dataset DATASET]");
      }
      return WithHint(status, "see the datasets with smartctl dataset list");
    case absl::StatusCode::kAlreadyExists:
      return WithHint(status, "change it with smartctl source update ID");
    case absl::StatusCode::kDeadlineExceeded:
      return WithHint(status, "give it longer with --timeout, e.g. --timeout 1m");
    default:
      return status;
  }
}

template <typename Request, typename Response>
absl::StatusOr<Response> Call(IngestionConnection& c,
                              grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                           Response*),
                              const Request& request) {
  absl::StatusOr<Response> response = c.client->Call(*c.stub, method, request);
  if (!response.ok()) return Explain(response.status());
  return response;
}

template <typename Request, typename Response>
absl::StatusOr<Response> ConnectAndCall(CommandContext& context,
                                        grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                     const Request&, Response*),
                                        const Request& request) {
  absl::StatusOr<IngestionConnection> c = ConnectIngestion(context);
  if (!c.ok()) return c.status();
  return Call(*c, method, request);
}

// With -o json or -o yaml, prints `message` for scripts and returns true.
bool PrintedForScripts(CommandContext& context, const google::protobuf::Message& message) {
  if (context.output() == OutputFormat::kTable) return false;
  PrintMessage(message, context.output(), context.out());
  return true;
}

// A parse error of this command's flags, with its usage text.
absl::Status WithCommandUsage(const CommandContext& context, absl::Status status) {
  return status.ok() ? status : WithUsage(std::move(status), UsageText(context.command()));
}

// ---- source ----

void ReportSource(CommandContext& context, const v1::Source& s, const std::string& done) {
  if (PrintedForScripts(context, s)) return;
  context.out() << "source " << s.id() << " " << done << " (dataset " << s.dataset() << ", "
                << SourceState(s) << ", version " << s.version() << ")\n";
}

absl::Status RegisterSource(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  if (flags.Get("dataset").empty()) {
    return context.Usage("missing --dataset (the catalogue dataset the source reports to)");
  }
  v1::Source source;
  source.set_id(context.args()[0]);
  source.set_dataset(flags.Get("dataset"));
  std::vector<std::string> paths;
  SMARTCTL_RETURN_IF_ERROR(
      WithCommandUsage(context, ApplySourceFlags(flags, /*allow_enable=*/false, &source, &paths)));
  v1::RegisterSourceRequest request;
  *request.mutable_source() = source;
  absl::StatusOr<v1::Source> registered = ConnectAndCall(context, &Stub::RegisterSource, request);
  if (!registered.ok()) return registered.status();
  ReportSource(context, *registered, "registered");
  return absl::OkStatus();
}

absl::Status ListSources(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  const bool all = flags.GetBool("all");
  v1::ListSourcesRequest request;
  request.set_dataset(flags.Get("dataset"));
  request.set_include_disabled(flags.GetBool("include-disabled"));
  if (all) request.set_page_size(static_cast<int32_t>(kPageSize));
  absl::StatusOr<IngestionConnection> c = ConnectIngestion(context);
  if (!c.ok()) return c.status();
  v1::ListSourcesResponse result;
  while (true) {
    absl::StatusOr<v1::ListSourcesResponse> page = Call(*c, &Stub::ListSources, request);
    if (!page.ok()) return page.status();
    for (auto& s : *page->mutable_sources()) *result.add_sources() = std::move(s);
    result.set_next_page_token(page->next_page_token());
    if (!all || page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (PrintedForScripts(context, result)) return absl::OkStatus();
  if (result.sources().empty()) {
    context.err() << "no sources found\n";
    return absl::OkStatus();
  }
  Table table({"ID", "NAME", "DATASET", "POSITION", "INTERVAL", "STATE", "UPDATED"});
  for (const v1::Source& s : result.sources()) {
    table.AddRow({s.id(), s.name(), s.dataset(), PositionText(s),
                  DurationCell(s.expected_interval()), SourceState(s),
                  FormatTime(s.update_time())});
  }
  table.Print(context.out());
  if (!result.next_page_token().empty()) {
    context.err() << "showing the first " << result.sources_size()
                  << " sources; add --all for every one\n";
  }
  return absl::OkStatus();
}

absl::Status GetSource(CommandContext& context) {
  v1::GetSourceRequest request;
  request.set_id(context.args()[0]);
  absl::StatusOr<v1::Source> s = ConnectAndCall(context, &Stub::GetSource, request);
  if (!s.ok()) return s.status();
  if (PrintedForScripts(context, *s)) return absl::OkStatus();
  Details details;
  details.Add("ID", s->id());
  details.Add("Name", s->name());
  details.Add("Dataset", s->dataset());
  details.Add("Classification", ShortEnumName(smartcity::common::v1::Classification_descriptor(),
                                              s->classification()));
  details.Add("Position", s->has_position() ? PositionText(*s) : "(none)");
  const std::string interval = DurationCell(s->expected_interval());
  details.Add("Interval", interval.empty() ? "(unknown)" : interval);
  if (!s->metadata().empty()) details.Add("Metadata", MetadataText(*s));
  details.Add("State", SourceState(*s));
  details.Add("Version", absl::StrCat(s->version()));
  details.Add("Created", FormatTime(s->create_time()));
  details.Add("Updated", FormatTime(s->update_time()));
  details.Print(context.out());
  return absl::OkStatus();
}

absl::Status UpdateSource(CommandContext& context) {
  v1::UpdateSourceRequest request;
  v1::Source* source = request.mutable_source();
  source->set_id(context.args()[0]);
  source->set_version(0);  // change whatever is current
  std::vector<std::string> paths;
  SMARTCTL_RETURN_IF_ERROR(WithCommandUsage(
      context, ApplySourceFlags(context.flags(), /*allow_enable=*/true, source, &paths)));
  if (paths.empty()) {
    return context.Usage(
        "nothing to change: give --name, --lat and --lon, --interval, --meta or --enable");
  }
  for (const std::string& path : paths) request.mutable_update_mask()->add_paths(path);
  absl::StatusOr<v1::Source> updated = ConnectAndCall(context, &Stub::UpdateSource, request);
  if (!updated.ok()) return updated.status();
  ReportSource(context, *updated, "updated");
  return absl::OkStatus();
}

absl::Status DisableSource(CommandContext& context) {
  v1::DisableSourceRequest request;
  request.set_id(context.args()[0]);
  absl::StatusOr<v1::Source> disabled = ConnectAndCall(context, &Stub::DisableSource, request);
  if (!disabled.ok()) return disabled.status();
  ReportSource(context, *disabled, "disabled");
  return absl::OkStatus();
}

// ---- ingest file ----

// Cancels a call when nothing has happened on it for `limit`: a stream has no deadline for the
// whole of it (a large file takes as long as it takes), but one that stalls should not hang.
class IdleWatchdog {
 public:
  IdleWatchdog(grpc::ClientContext* call, absl::Duration limit)
      : call_(call), limit_(limit), last_(absl::Now()) {
    thread_ = std::thread([this] { Run(); });
  }
  IdleWatchdog(const IdleWatchdog&) = delete;
  IdleWatchdog& operator=(const IdleWatchdog&) = delete;
  ~IdleWatchdog() { Stop(); }

  // Something moved: a chunk was taken, a message arrived.
  void Touch() {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = absl::Now();
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool fired() {
    std::lock_guard<std::mutex> lock(mu_);
    return fired_;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopped_) {
      const absl::Time now = absl::Now();
      const absl::Time deadline = last_ + limit_;
      if (now >= deadline) {
        fired_ = true;
        call_->TryCancel();
        return;
      }
      wake_.wait_for(lock, absl::ToChronoNanoseconds(deadline - now));
    }
  }

  grpc::ClientContext* call_;
  const absl::Duration limit_;
  std::mutex mu_;
  std::condition_variable wake_;
  absl::Time last_;
  bool stopped_ = false;
  bool fired_ = false;
  std::thread thread_;
};

// The progress bar on standard error, redrawn in place at most ten times a second. Off (all
// calls do nothing) unless standard error is a terminal.
class ProgressBar {
 public:
  ProgressBar(std::ostream& err, int64_t total_bytes)
      : err_(err), total_bytes_(total_bytes), on_(IsTerminal(err)) {
    if (!on_) return;
    struct winsize size {};
    width_ = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20
                 ? size.ws_col - 1  // the last column would wrap on some terminals
                 : 79;
  }

  void Update(const v1::ImportProgress& progress) {
    if (!on_) return;
    const absl::Time now = absl::Now();
    if (drawn_ && now - last_draw_ < absl::Milliseconds(100)) return;
    last_draw_ = now;
    drawn_ = true;
    err_ << "\r" << ProgressLine(progress, total_bytes_, width_) << "\033[K" << std::flush;
  }

  // Removes the bar, so that what follows starts on a clean line.
  void Clear() {
    if (!on_ || !drawn_) return;
    err_ << "\r\033[K" << std::flush;
    drawn_ = false;
  }

 private:
  static bool IsTerminal(const std::ostream& err) {
    const char* term = std::getenv("TERM");
    return &err == &std::cerr && ::isatty(STDERR_FILENO) == 1 &&
           !(term != nullptr && std::string(term) == "dumb");
  }

  std::ostream& err_;
  const int64_t total_bytes_;
  const bool on_;
  size_t width_ = 79;
  bool drawn_ = false;
  absl::Time last_draw_ = absl::InfinitePast();
};

struct ImportResult {
  v1::ImportSummary summary;
  std::string request_id;
};

// Runs one ImportFile stream: this thread sends the options and the chunks while another reads
// the service's progress messages (for `on_progress`) and the summary, so neither side waits on
// the other's flow control. The call is cancelled if nothing moves for `idle_limit`.
absl::StatusOr<ImportResult> StreamImport(
    IngestionConnection& c, const std::string& token, std::istream& in, const std::string& name,
    const v1::ImportOptions& options, absl::Duration idle_limit,
    const std::function<void(const v1::ImportProgress&)>& on_progress) {
  ImportResult result;
  result.request_id = NewRequestId();
  grpc::ClientContext call;
  for (const auto& [key, value] : ServiceClient::CallMetadata(result.request_id, token)) {
    call.AddMetadata(key, value);
  }
  IdleWatchdog watchdog(&call, idle_limit);
  std::unique_ptr<grpc::ClientReaderWriter<v1::ImportFileRequest, v1::ImportFileResponse>> stream =
      c.stub->ImportFile(&call);

  bool have_summary = false;
  std::thread reader([&] {
    v1::ImportFileResponse response;
    while (stream->Read(&response)) {
      watchdog.Touch();
      if (response.has_progress()) {
        on_progress(response.progress());
      } else if (response.has_summary()) {
        result.summary = response.summary();
        have_summary = true;
      }
    }
  });
  const absl::Status sent = SendFileInChunks(in, name, options, kImportChunkBytes,
                                             [&](const v1::ImportFileRequest& request) {
                                               const bool ok = stream->Write(request);
                                               watchdog.Touch();
                                               return ok;
                                             });
  if (sent.ok()) {
    stream->WritesDone();
  } else {
    call.TryCancel();  // the file could not be read to its end: do not let a part count
  }
  reader.join();
  const grpc::Status status = stream->Finish();
  watchdog.Stop();

  if (!sent.ok()) return sent;
  // Only a failed call can have been cut short by the watchdog (it may fire, harmlessly, just
  // after a stream that has already ended well).
  if (!status.ok() && watchdog.fired()) {
    return WithHint(
        ServiceError(absl::StatusCode::kDeadlineExceeded,
                     absl::StrCat("the import made no progress for ",
                                  absl::FormatDuration(idle_limit), " and was cancelled"),
                     result.request_id),
        "give it longer with --timeout (the longest pause allowed), e.g. --timeout 2m; rows "
        "already stored come back as duplicates if you import the file again");
  }
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      return UnreachableError(
          absl::StrCat("lost the connection to ingestion at ", c.client->endpoint().address, ": ",
                       status.error_message()),
          result.request_id);
    }
    std::string message = status.error_message();
    if (message.empty()) message = "ingestion failed without a message";
    absl::Status error = ServiceError(static_cast<absl::StatusCode>(status.error_code()), message,
                                      result.request_id);
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      error = WithHint(error, token.empty() ? "this needs you to be signed in: run smartctl "
                                              "login USERNAME"
                                            : "the token was not accepted; sign in again with "
                                              "smartctl login");
    } else if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      error = WithHint(error, "smartctl whoami shows your roles and clearance");
    }
    return Explain(error);
  }
  if (!have_summary) {
    return ServiceError(absl::StatusCode::kDataLoss,
                        "ingestion ended the import without a summary; whether every row was "
                        "stored is not known",
                        result.request_id);
  }
  return result;
}

absl::Status IngestFile(CommandContext& context) {
  const std::string& dataset = context.args()[0];
  const std::string& path = context.args()[1];
  absl::StatusOr<v1::ImportOptions> options = ImportOptionsFrom(dataset, path, context.flags());
  if (!options.ok()) return WithCommandUsage(context, options.status());

  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      return LocalError(absl::StrCat(path, ": is a directory, not a file"));
    }
    file.open(path, std::ios::binary);
    if (!file) return LocalError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
    in = &file;
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (!ec && std::filesystem::is_regular_file(path, ec)) {
      options->set_total_bytes(static_cast<int64_t>(size));
    }
  }

  absl::StatusOr<IngestionConnection> c = ConnectIngestion(context);
  if (!c.ok()) return c.status();
  SMARTCTL_RETURN_IF_ERROR(CheckReachable(*c->client));
  absl::StatusOr<std::string> token = context.AccessToken();
  if (!token.ok()) return token.status();

  ProgressBar bar(context.err(), options->total_bytes());
  absl::StatusOr<ImportResult> result =
      StreamImport(*c, *token, *in, path, *options, context.global().timeout,
                   [&](const v1::ImportProgress& progress) { bar.Update(progress); });
  bar.Clear();
  if (!result.ok()) return result.status();

  if (!PrintedForScripts(context, result->summary)) {
    PrintImportReport(result->summary, dataset, path, context.out());
  }
  return ImportOutcome(result->summary, result->request_id);
}

// ---- readings ----

void PrintReadings(const google::protobuf::RepeatedPtrField<v1::Reading>& readings,
                   bool source_first, std::ostream& out) {
  if (source_first) {
    Table table({"SOURCE", "TIME", "VALUES"});
    for (const v1::Reading& r : readings) {
      table.AddRow({r.source_id(), FormatPreciseTime(r.time()), FormatValues(r.values())});
    }
    table.Print(out);
    return;
  }
  Table table({"TIME", "SOURCE", "VALUES"});
  for (const v1::Reading& r : readings) {
    table.AddRow({FormatPreciseTime(r.time()), r.source_id(), FormatValues(r.values())});
  }
  table.Print(out);
}

// How many to ask for in the next page, given the limit (0: none) and how many there are.
int32_t NextPageSize(int64_t limit, int64_t have) {
  return static_cast<int32_t>(limit == 0 ? kPageSize : std::min(limit - have, kPageSize));
}

absl::Status QueryReadings(CommandContext& context) {
  absl::StatusOr<ReadingsPlan> plan =
      ReadingsPlanFrom(context.args(), context.flags(), absl::Now());
  if (!plan.ok()) return WithCommandUsage(context, plan.status());
  absl::StatusOr<IngestionConnection> c = ConnectIngestion(context);
  if (!c.ok()) return c.status();
  const int64_t limit = plan->limit;
  const auto more_note = [&](int64_t shown, const char* what) {
    context.err() << "showing the first " << shown << " " << what
                  << "; raise --limit (0: no limit) for more\n";
  };

  if (!plan->aggregate) {
    v1::QueryReadingsRequest request = plan->query;
    v1::QueryReadingsResponse result;
    while (true) {
      request.set_page_size(NextPageSize(limit, result.readings_size()));
      absl::StatusOr<v1::QueryReadingsResponse> page = Call(*c, &Stub::QueryReadings, request);
      if (!page.ok()) return page.status();
      for (auto& r : *page->mutable_readings()) {
        if (limit > 0 && result.readings_size() >= limit) break;
        *result.add_readings() = std::move(r);
      }
      result.set_next_page_token(page->next_page_token());
      if (page->next_page_token().empty()) break;
      if (limit > 0 && result.readings_size() >= limit) break;
      request.set_page_token(page->next_page_token());
    }
    if (PrintedForScripts(context, result)) return absl::OkStatus();
    if (result.readings().empty()) {
      context.err() << "no readings found\n";
      return absl::OkStatus();
    }
    PrintReadings(result.readings(), /*source_first=*/false, context.out());
    if (!result.next_page_token().empty()) more_note(result.readings_size(), "readings");
    return absl::OkStatus();
  }

  v1::AggregateReadingsRequest request = plan->windows;
  v1::AggregateReadingsResponse result;
  while (true) {
    request.set_page_size(NextPageSize(limit, result.windows_size()));
    absl::StatusOr<v1::AggregateReadingsResponse> page =
        Call(*c, &Stub::AggregateReadings, request);
    if (!page.ok()) return page.status();
    for (auto& w : *page->mutable_windows()) {
      if (limit > 0 && result.windows_size() >= limit) break;
      *result.add_windows() = std::move(w);
    }
    result.set_next_page_token(page->next_page_token());
    if (page->next_page_token().empty()) break;
    if (limit > 0 && result.windows_size() >= limit) break;
    request.set_page_token(page->next_page_token());
  }
  if (PrintedForScripts(context, result)) return absl::OkStatus();
  if (result.windows().empty()) {
    context.err() << "no readings of " << request.field() << " found\n";
    return absl::OkStatus();
  }
  Table table({"WINDOW", absl::AsciiStrToUpper(absl::StrCat(plan->agg, " ", request.field()))});
  for (const v1::Aggregate& w : result.windows()) {
    table.AddRow({FormatPreciseTime(w.window_start()), AggregateValue(w, plan->agg)});
  }
  table.Print(context.out());
  if (!result.next_page_token().empty()) more_note(result.windows_size(), "windows");
  return absl::OkStatus();
}

absl::Status LatestReadings(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  const bool by_dataset = flags.Has("dataset");
  if (by_dataset == !context.args().empty()) {
    return context.Usage(by_dataset ? "give SOURCE... or --dataset, not both"
                                    : "missing SOURCE... (or --dataset DATASET)");
  }
  v1::GetLatestReadingsRequest request;
  request.set_dataset(flags.Get("dataset"));
  for (const std::string& id : context.args()) request.add_source_ids(id);
  request.set_page_size(static_cast<int32_t>(kPageSize));
  absl::StatusOr<IngestionConnection> c = ConnectIngestion(context);
  if (!c.ok()) return c.status();
  v1::GetLatestReadingsResponse result;
  while (true) {
    absl::StatusOr<v1::GetLatestReadingsResponse> page =
        Call(*c, &Stub::GetLatestReadings, request);
    if (!page.ok()) return page.status();
    for (auto& r : *page->mutable_readings()) *result.add_readings() = std::move(r);
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (PrintedForScripts(context, result)) return absl::OkStatus();
  if (result.readings().empty()) {
    context.err() << "no readings yet\n";
    return absl::OkStatus();
  }
  PrintReadings(result.readings(), /*source_first=*/true, context.out());
  return absl::OkStatus();
}

// ---- quality ----

absl::Status ShowQuality(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  v1::GetDataQualityRequest request;
  request.set_dataset(context.args()[0]);
  const absl::Time now = absl::Now();
  std::optional<absl::Time> from, to;
  for (const auto& [flag, time, ts] : {std::tuple{"from", &from, request.mutable_start_time()},
                                       std::tuple{"to", &to, request.mutable_end_time()}}) {
    if (!flags.Has(flag)) continue;
    absl::StatusOr<absl::Time> t = ParseTimeArg(absl::StrCat("--", flag), flags.Get(flag), now);
    if (!t.ok()) return WithCommandUsage(context, t.status());
    *ts = ToTimestamp(*t);
    *time = *t;
  }
  if (!from) request.clear_start_time();
  if (!to) request.clear_end_time();
  if (from && to && *to <= *from) return context.Usage("--to is not after --from");
  absl::StatusOr<v1::GetDataQualityResponse> response =
      ConnectAndCall(context, &Stub::GetDataQuality, request);
  if (!response.ok()) return response.status();
  if (PrintedForScripts(context, *response)) return absl::OkStatus();
  if (response->sources().empty()) {
    context.err() << "dataset " << request.dataset() << " has no sources\n";
    return absl::OkStatus();
  }
  Table table({"SOURCE", "INTERVAL", "READINGS", "MISSING", "LONGEST GAP", "LATE", "REJECTED",
               "DUPLICATES", "LAST READING"});
  for (const v1::SourceQuality& q : response->sources()) {
    table.AddRow({q.source_id(), DurationCell(q.expected_interval()), absl::StrCat(q.readings()),
                  absl::StrCat(q.missing_intervals()), DurationCell(q.longest_gap()),
                  absl::StrCat(q.late()), absl::StrCat(q.rejected()), absl::StrCat(q.duplicates()),
                  FormatPreciseTime(q.last_reading_time())});
  }
  table.Print(context.out());
  return absl::OkStatus();
}

// ---- retention ----

void ReportRetention(CommandContext& context, const v1::RetentionPolicy& policy) {
  if (PrintedForScripts(context, policy)) return;
  const absl::Duration keep = FromProtoDuration(policy.keep());
  context.out() << "dataset " << policy.dataset() << ": readings are kept "
                << (keep > absl::ZeroDuration() ? absl::StrCat("for ", FormatDurationShort(keep))
                                                : "for ever")
                << "\n";
}

absl::Status SetRetention(CommandContext& context) {
  const std::string& text = context.args()[1];
  absl::Duration keep = absl::ZeroDuration();
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower != "forever" && lower != "for-ever") {
    absl::StatusOr<absl::Duration> parsed = ParseDurationFlag("KEEP", text);
    if (!parsed.ok()) return WithCommandUsage(context, parsed.status());
    keep = *parsed;
    if (keep > absl::ZeroDuration() && keep < absl::Hours(1)) {
      return context.Usage("KEEP: at least 1h (or forever / 0 to keep readings for ever)");
    }
  }
  v1::SetRetentionRequest request;
  request.mutable_policy()->set_dataset(context.args()[0]);
  if (keep > absl::ZeroDuration())
    *request.mutable_policy()->mutable_keep() = ToProtoDuration(keep);
  absl::StatusOr<v1::RetentionPolicy> policy =
      ConnectAndCall(context, &Stub::SetRetention, request);
  if (!policy.ok()) return policy.status();
  ReportRetention(context, *policy);
  return absl::OkStatus();
}

absl::Status GetRetention(CommandContext& context) {
  v1::GetRetentionRequest request;
  request.set_dataset(context.args()[0]);
  absl::StatusOr<v1::RetentionPolicy> policy =
      ConnectAndCall(context, &Stub::GetRetention, request);
  if (!policy.ok()) return policy.status();
  ReportRetention(context, *policy);
  return absl::OkStatus();
}

// ---- registration ----

std::vector<FlagSpec> SourceFlags(bool for_update) {
  std::vector<FlagSpec> flags = {
      {"name", 0, true, false, "NAME", "name people see, e.g. \"Container 0412, Storgata 12\""},
      {"lat", 0, true, false, "DEGREES", "latitude, WGS84 decimal degrees (with --lon)"},
      {"lon", 0, true, false, "DEGREES", "longitude, WGS84 decimal degrees (with --lat)"},
      {"interval", 0, true, false, "DURATION",
       "how often it reports, e.g. 30s, 5m, 1h (0: unknown)"},
      {"meta", 0, true, true, "KEY=VALUE",
       for_update ? "metadata; replaces all of it, so give every key to keep"
                  : "metadata, e.g. model=LoRa-T2"},
  };
  if (for_update) {
    flags.push_back({"enable", 0, false, false, "", "enable a disabled source again"});
  } else {
    flags.insert(flags.begin(), {"dataset", 0, true, false, "DATASET",
                                 "the catalogue dataset it reports to (required)"});
  }
  return flags;
}

std::vector<FlagSpec> TimeRangeFlags() {
  return {
      {"from", 0, true, false, "TIME", "from this time (RFC 3339, or -1h, -30m, -7d, now)"},
      {"to", 0, true, false, "TIME", "until this time, exclusive (same forms; default now)"},
  };
}

}  // namespace

void AddIngestionCommands(Registry& registry) {
  registry.nouns.push_back({"source", "sensors and systems that report readings to a dataset"});
  registry.nouns.push_back(
      {"ingest", "load a file of readings (CSV, JSON, GeoJSON) into a dataset"});
  registry.nouns.push_back({"readings", "stored readings: raw, per time window, or the latest"});
  registry.nouns.push_back({"quality", "gaps, late and rejected readings per source of a dataset"});
  registry.nouns.push_back({"retention", "how long a dataset's readings are kept"});

  registry.commands.push_back(Command{
      "source", "register", "ID", 1, 1, "register a sensor or system as a source of a dataset",
      "ID (1-128 characters of a-z, 0-9, '-', '_' and '.') is unique; neither it nor the\n"
      "dataset can change later. Readings of a source that is not registered are rejected.\n\n"
      "Examples:\n"
      "  smartctl source register container-0412 --dataset waste-fill-level \\\n"
      "      --name \"Container 0412, Storgata 12\" --lat 58.9701 --lon 5.7331 --interval 15m \\\n"
      "      --meta manufacturer=Sensoneo --meta model=QS2",
      SourceFlags(/*for_update=*/false), RegisterSource});
  registry.commands.push_back(Command{
      "source",
      "list",
      "",
      0,
      0,
      "list sources, by ID",
      "Lists the enabled sources of every dataset you may read, or of one dataset. Shows the\n"
      "first page; --all follows every page.\n\n"
      "Examples:\n"
      "  smartctl source list --dataset waste-fill-level --all\n"
      "  smartctl source list --include-disabled -o json",
      {{"dataset", 0, true, false, "DATASET", "only the sources of this dataset"},
       {"all", 0, false, false, "", "fetch every page, not just the first"},
       {"include-disabled", 0, false, false, "", "list disabled sources too"}},
      ListSources});
  registry.commands.push_back(Command{"source",
                                      "get",
                                      "ID",
                                      1,
                                      1,
                                      "show one source",
                                      "Examples:\n  smartctl source get container-0412\n"
                                      "  smartctl source get container-0412 -o yaml",
                                      {},
                                      GetSource});
  registry.commands.push_back(
      Command{"source", "update", "ID", 1, 1, "change some of a source's fields",
              "Changes only what is given (the update mask names only those fields), whatever the\n"
              "source's current version. --meta replaces all metadata: give every key to keep.\n"
              "--enable enables a disabled source again (smartctl source disable disables it).\n\n"
              "Examples:\n"
              "  smartctl source update container-0412 --interval 30m\n"
              "  smartctl source update container-0412 --lat 58.9702 --lon 5.7335 --enable",
              SourceFlags(/*for_update=*/true), UpdateSource});
  registry.commands.push_back(Command{
      "source",
      "disable",
      "ID",
      1,
      1,
      "stop accepting a source's readings",
      "Readings of a disabled source are rejected (\"source disabled\"); its stored readings\n"
      "stay. smartctl source update ID --enable enables it again.\n\n"
      "Examples:\n  smartctl source disable container-0412",
      {},
      DisableSource});

  registry.commands.push_back(Command{
      "ingest",
      "file",
      "DATASET FILE",
      2,
      2,
      "import a file of readings into a dataset",
      "Streams FILE (- for standard input) to the ingestion service in 256 KiB chunks; it is\n"
      "never read into memory as a whole. The format comes from --format, else from the file\n"
      "name's extension (.csv, .json, .jsonl, .geojson). Each row becomes one reading: columns\n"
      "are schema fields, plus source_id and time; --mapping renames columns to those (the\n"
      "others keep their names; write \\, for a comma inside a column name), and --source\n"
      "gives the source of rows without one.\n\n"
      "On a terminal a progress bar runs on standard error. Then the summary (rows read,\n"
      "accepted, duplicates, rejected) and a table of the rejected rows (ROW COLUMN REASON\n"
      "MESSAGE; rows count from 1, not counting a CSV header) are printed; -o json/yaml gives\n"
      "the summary message. Exits 1 when any row was rejected, 0 when every row was accepted\n"
      "or was already stored (duplicate). Importing a file again stores only what is missing.\n"
      "--timeout is the longest the import may go without progress (not its whole time).\n\n"
      "Examples:\n"
      "  smartctl ingest file waste-fill-level fyllingsgrad.csv --delimiter ';' \\\n"
      "      --mapping 'Container=source_id,Tidspunkt=time,Fylling %=fill_percent'\n"
      "  smartctl ingest file bathing-temperature readings.jsonl --source buoy-3\n"
      "  gunzip -c big.csv.gz | smartctl ingest file traffic-counts - --format csv -o json",
      {{"format", 0, true, false, "FORMAT", "csv, json (array or lines) or geojson"},
       {"delimiter", 0, true, false, "CHAR", "CSV column separator (default ','; '\\t' for tab)"},
       {"mapping", 0, true, true, "COL=FIELD,...", "column to schema field, source_id or time"},
       {"source", 0, true, false, "ID", "source of the rows that have no source column"}},
      IngestFile});

  std::vector<FlagSpec> query_flags = {
      {"dataset", 0, true, false, "DATASET", "the readings of all of a dataset's sources"}};
  for (FlagSpec& f : TimeRangeFlags()) query_flags.push_back(std::move(f));
  query_flags.push_back(
      {"every", 0, true, false, "DURATION", "one value per window this long, e.g. 5m, 1h, 1d"});
  query_flags.push_back(
      {"agg", 0, true, false, "AGG", "with --every: mean (default), min, max, count or last"});
  query_flags.push_back({"field", 0, true, false, "FIELD", "with --every: the numeric field"});
  query_flags.push_back({"limit", 0, true, false, "N",
                         "at most this many readings or windows (default 1000; 0: all)"});
  registry.commands.push_back(Command{
      "readings", "query", "[SOURCE]", 0, 1, "stored readings of a source or a dataset",
      "Raw readings, oldest first, of SOURCE or of every source of --dataset: TIME SOURCE and\n"
      "the values as field=value. With --every, one value per window of that length (windows\n"
      "without readings are left out): --agg of --field; -o json/yaml gives every column\n"
      "(count, min, max, mean, last, last_time). Pages are followed up to --limit.\n\n"
      "Examples:\n"
      "  smartctl readings query buoy-3 --from -24h\n"
      "  smartctl readings query --dataset bathing-temperature --from 2026-06-01 --to now\n"
      "  smartctl readings query buoy-3 --from -7d --every 1h --agg max --field temperature",
      query_flags, QueryReadings});
  registry.commands.push_back(
      Command{"readings",
              "last",
              "[SOURCE...]",
              0,
              -1,
              "the newest reading of each source",
              "Examples:\n  smartctl readings last buoy-3 buoy-4\n"
              "  smartctl readings last --dataset bathing-temperature",
              {{"dataset", 0, true, false, "DATASET", "every source of this dataset"}},
              LatestReadings});

  registry.commands.push_back(Command{
      "quality", "show", "DATASET", 1, 1, "data quality per source of a dataset",
      "Per source: the expected interval, readings in the period, missing intervals (expected\n"
      "readings that did not arrive), the longest gap, and, over all time, late, rejected and\n"
      "duplicate readings; then when the last reading was. The period defaults to the last\n"
      "24 hours.\n\n"
      "Examples:\n  smartctl quality show waste-fill-level\n"
      "  smartctl quality show waste-fill-level --from -7d -o json",
      TimeRangeFlags(), ShowQuality});

  registry.commands.push_back(Command{
      "retention",
      "set",
      "DATASET KEEP",
      2,
      2,
      "keep a dataset's readings this long",
      "Readings older than KEEP are deleted in the background. KEEP is a duration of at least\n"
      "1h, with d for days (90d, 2w, 36h), or forever (or 0) to keep them all.\n"
      "Needs dataset-owner or platform-admin.\n\n"
      "Examples:\n  smartctl retention set bathing-temperature 90d\n"
      "  smartctl retention set traffic-counts forever",
      {},
      SetRetention});
  registry.commands.push_back(Command{"retention",
                                      "get",
                                      "DATASET",
                                      1,
                                      1,
                                      "how long a dataset's readings are kept",
                                      "Examples:\n  smartctl retention get bathing-temperature",
                                      {},
                                      GetRetention});
}

}  // namespace smartby::smartctl
