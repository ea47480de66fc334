// Unit tests of the ingestion nouns (source, ingest, readings, quality, retention): flag values
// (durations with days, relative times, --mapping, --meta, --delimiter, --format), how values,
// the import report and the progress line are printed, the exit-code rule of an import, and the
// chunking of a file. Then the commands themselves, run in-process (RunCommandLine) against a
// fake IngestionService on loopback that records what it was sent.
#include "cli/smartctl/ingestion_commands.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/services.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::smartctl {
namespace {

namespace v1 = smartcity::ingestion::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

const absl::Time kNow = absl::FromUnixSeconds(1769851800);  // 2026-01-31T09:30:00Z

google::protobuf::Timestamp TimestampOf(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(absl::ToUnixSeconds(t)))));
  return ts;
}

ParsedFlags Flags(const std::vector<std::pair<std::string, std::string>>& values) {
  ParsedFlags flags;
  for (const auto& [name, value] : values) flags.Add(name, value);
  return flags;
}

// ---- durations --------------------------------------------------------------------------------

TEST(IngestionDuration, AcceptsUnitsDaysAndCombinations) {
  EXPECT_EQ(*ParseDurationFlag("--every", "30s"), absl::Seconds(30));
  EXPECT_EQ(*ParseDurationFlag("--every", "5m"), absl::Minutes(5));
  EXPECT_EQ(*ParseDurationFlag("--every", "1h"), absl::Hours(1));
  EXPECT_EQ(*ParseDurationFlag("--every", "1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationFlag("KEEP", "90d"), absl::Hours(90 * 24));
  EXPECT_EQ(*ParseDurationFlag("KEEP", "1d12h"), absl::Hours(36));
  EXPECT_EQ(*ParseDurationFlag("KEEP", "2w"), absl::Hours(14 * 24));
  EXPECT_EQ(*ParseDurationFlag("--every", "1.5h"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationFlag("--every", "500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseDurationFlag("--interval", "0"), absl::ZeroDuration());
  EXPECT_EQ(*ParseDurationFlag("--interval", " 15m "), absl::Minutes(15));
}

TEST(IngestionDuration, RejectsWhatIsNotADuration) {
  for (const char* bad :
       {"", "5", "-5m", "1y", "h", "inf", "1e3s", "5 m", "m5", "1.2.3h", "99999999999999d"}) {
    absl::StatusOr<absl::Duration> d = ParseDurationFlag("--every", bad);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(ExitCodeOf(d.status()), kExitUsage) << bad;
    EXPECT_THAT(d.status().message(), HasSubstr("--every")) << bad;
  }
}

TEST(IngestionDuration, ShortFormUsesDays) {
  EXPECT_EQ(FormatDurationShort(absl::Minutes(5)), "5m");
  EXPECT_EQ(FormatDurationShort(absl::Minutes(90)), "1h30m");
  EXPECT_EQ(FormatDurationShort(absl::Hours(90 * 24)), "90d");
  EXPECT_EQ(FormatDurationShort(absl::Hours(36)), "1d12h");
  EXPECT_EQ(FormatDurationShort(absl::Milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDurationShort(absl::ZeroDuration()), "0s");
}

// ---- times ------------------------------------------------------------------------------------

TEST(IngestionTime, AcceptsRfc3339DatesNowAndTimesAgo) {
  EXPECT_EQ(*ParseTimeArg("--from", "2026-01-31T09:30:00Z", kNow), kNow);
  EXPECT_EQ(*ParseTimeArg("--from", "2026-01-31T10:30:00+01:00", kNow), kNow);
  EXPECT_EQ(*ParseTimeArg("--from", "2026-01-31T09:30:00.5Z", kNow),
            kNow + absl::Milliseconds(500));
  EXPECT_EQ(*ParseTimeArg("--from", "2026-01-31", kNow), absl::FromUnixSeconds(1769817600));
  EXPECT_EQ(*ParseTimeArg("--to", "now", kNow), kNow);
  EXPECT_EQ(*ParseTimeArg("--to", "NOW", kNow), kNow);
  EXPECT_EQ(*ParseTimeArg("--from", "-1h", kNow), kNow - absl::Hours(1));
  EXPECT_EQ(*ParseTimeArg("--from", "-30m", kNow), kNow - absl::Minutes(30));
  EXPECT_EQ(*ParseTimeArg("--from", "-7d", kNow), kNow - absl::Hours(7 * 24));
  EXPECT_EQ(*ParseTimeArg("--from", "-1d12h", kNow), kNow - absl::Hours(36));
}

TEST(IngestionTime, RejectsWhatIsNotATime) {
  for (const char* bad : {"", "yesterday", "-", "--1h", "-1y", "2026-13-01", "+1h"}) {
    absl::StatusOr<absl::Time> t = ParseTimeArg("--to", bad, kNow);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(ExitCodeOf(t.status()), kExitUsage) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("--to")) << bad;
  }
}

TEST(IngestionTime, ADurationWithoutMinusSaysHowToWriteTimeAgo) {
  absl::StatusOr<absl::Time> t = ParseTimeArg("--from", "1h", kNow);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("-1h for 1h ago"));
}

// ---- --mapping, --meta, --delimiter, --format -------------------------------------------------

TEST(IngestionMapping, PairsOfColumnAndField) {
  absl::StatusOr<std::map<std::string, std::string>> m =
      ParseMapping({"Temp=temperature,Tidspunkt=time", "Sensor = source_id"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(*m, UnorderedElementsAre(Pair("Temp", "temperature"), Pair("Tidspunkt", "time"),
                                       Pair("Sensor", "source_id")));
}

TEST(IngestionMapping, EscapedCommasBlanksAndEqualsInColumnNames) {
  absl::StatusOr<std::map<std::string, std::string>> m =
      ParseMapping({"Temp\\, °C=temperature,a=b=field,Fylling %=fill_percent,"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(*m, UnorderedElementsAre(Pair("Temp, °C", "temperature"), Pair("a=b", "field"),
                                       Pair("Fylling %", "fill_percent")));
  EXPECT_TRUE(ParseMapping({}).ok());
  EXPECT_TRUE(ParseMapping({}).value().empty());
}

TEST(IngestionMapping, RejectsPairsThatAreNotColumnEqualsField) {
  for (const char* bad : {"Temp", "=temperature", "Temp=", "Temp= ,x=y"}) {
    absl::StatusOr<std::map<std::string, std::string>> m = ParseMapping({bad});
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(ExitCodeOf(m.status()), kExitUsage) << bad;
    EXPECT_THAT(m.status().message(), HasSubstr("--mapping")) << bad;
    EXPECT_THAT(m.status().message(), HasSubstr("COLUMN=FIELD")) << bad;
  }
  absl::StatusOr<std::map<std::string, std::string>> twice =
      ParseMapping({"Temp=temperature", "Temp=t2"});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(), HasSubstr("column \"Temp\" is mapped twice"));
}

TEST(IngestionMetadata, KeyEqualsValue) {
  absl::StatusOr<std::map<std::string, std::string>> m =
      ParseMetadata({"model=QS2", "url=https://x.no/?a=b", "note="});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(*m, UnorderedElementsAre(Pair("model", "QS2"), Pair("url", "https://x.no/?a=b"),
                                       Pair("note", "")));
  EXPECT_EQ(ExitCodeOf(ParseMetadata({"model"}).status()), kExitUsage);
  EXPECT_EQ(ExitCodeOf(ParseMetadata({"=QS2"}).status()), kExitUsage);
  EXPECT_THAT(ParseMetadata({"a=1", "a=2"}).status().message(), HasSubstr("\"a\" is given twice"));
}

TEST(IngestionDelimiter, OneCharacterOrTab) {
  EXPECT_EQ(*ParseDelimiter(";"), ";");
  EXPECT_EQ(*ParseDelimiter("\\t"), "\t");
  EXPECT_EQ(*ParseDelimiter("tab"), "\t");
  EXPECT_EQ(*ParseDelimiter("\t"), "\t");
  EXPECT_EQ(*ParseDelimiter("|"), "|");
  for (const char* bad : {"", ";;", "\n", "\"", "¦"}) {
    EXPECT_EQ(ExitCodeOf(ParseDelimiter(bad).status()), kExitUsage) << bad;
  }
}

TEST(IngestionFormat, NamesAndAliases) {
  EXPECT_EQ(*ParseFileFormat("csv"), v1::FILE_FORMAT_CSV);
  EXPECT_EQ(*ParseFileFormat("CSV"), v1::FILE_FORMAT_CSV);
  EXPECT_EQ(*ParseFileFormat("json"), v1::FILE_FORMAT_JSON);
  EXPECT_EQ(*ParseFileFormat("jsonl"), v1::FILE_FORMAT_JSON);
  EXPECT_EQ(*ParseFileFormat("geojson"), v1::FILE_FORMAT_GEOJSON);
  absl::StatusOr<v1::FileFormat> bad = ParseFileFormat("xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ExitCodeOf(bad.status()), kExitUsage);
  EXPECT_THAT(bad.status().message(), HasSubstr("csv, json, geojson"));
}

TEST(IngestionImportOptions, FromFlags) {
  absl::StatusOr<v1::ImportOptions> o =
      ImportOptionsFrom("waste-fill-level", "/data/in/fyllingsgrad.csv",
                        Flags({{"format", "csv"},
                               {"delimiter", ";"},
                               {"mapping", "Container=source_id,Tidspunkt=time"},
                               {"source", "container-1"}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->dataset(), "waste-fill-level");
  EXPECT_EQ(o->file_name(), "fyllingsgrad.csv");
  EXPECT_EQ(o->format(), v1::FILE_FORMAT_CSV);
  EXPECT_EQ(o->delimiter(), ";");
  EXPECT_EQ(o->source_id(), "container-1");
  EXPECT_EQ(o->mapping().at("Container"), "source_id");
  EXPECT_EQ(o->mapping().at("Tidspunkt"), "time");
  EXPECT_EQ(o->total_bytes(), 0);
}

TEST(IngestionImportOptions, FormatFromTheNameUnlessStandardInput) {
  absl::StatusOr<v1::ImportOptions> o = ImportOptionsFrom("d", "målinger.geojson", Flags({}));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->format(), v1::FILE_FORMAT_UNSPECIFIED);  // the service goes by the file name
  EXPECT_EQ(o->file_name(), "målinger.geojson");
  EXPECT_EQ(ExitCodeOf(ImportOptionsFrom("d", "-", Flags({})).status()), kExitUsage);
  EXPECT_TRUE(ImportOptionsFrom("d", "-", Flags({{"format", "csv"}})).ok());
  absl::StatusOr<v1::ImportOptions> json_delimiter =
      ImportOptionsFrom("d", "x.json", Flags({{"format", "json"}, {"delimiter", ";"}}));
  ASSERT_FALSE(json_delimiter.ok());
  EXPECT_THAT(json_delimiter.status().message(), HasSubstr("CSV files only"));
}

// ---- source flags -----------------------------------------------------------------------------

TEST(IngestionSourceFlags, OnlyWhatWasGivenEntersTheMask) {
  v1::Source source;
  std::vector<std::string> paths;
  ASSERT_TRUE(
      ApplySourceFlags(Flags({{"interval", "30m"}, {"enable", "true"}}), true, &source, &paths)
          .ok());
  EXPECT_THAT(paths, ElementsAre("expected_interval", "disabled"));
  EXPECT_EQ(source.expected_interval().seconds(), 1800);
  EXPECT_FALSE(source.disabled());
  EXPECT_FALSE(source.has_position());
  EXPECT_TRUE(source.name().empty());
}

TEST(IngestionSourceFlags, EveryFlag) {
  v1::Source source;
  std::vector<std::string> paths;
  ASSERT_TRUE(ApplySourceFlags(Flags({{"name", "Container 0412"},
                                      {"lat", "58.9701"},
                                      {"lon", "-5.7331"},
                                      {"interval", "1d"},
                                      {"meta", "model=QS2"},
                                      {"meta", "serial=77"}}),
                               false, &source, &paths)
                  .ok());
  EXPECT_THAT(paths, ElementsAre("name", "position", "expected_interval", "metadata"));
  EXPECT_EQ(source.name(), "Container 0412");
  EXPECT_DOUBLE_EQ(source.position().latitude(), 58.9701);
  EXPECT_DOUBLE_EQ(source.position().longitude(), -5.7331);
  EXPECT_EQ(source.expected_interval().seconds(), 86400);
  EXPECT_EQ(source.metadata().at("model"), "QS2");
  EXPECT_EQ(source.metadata().at("serial"), "77");
}

TEST(IngestionSourceFlags, PositionNeedsBothCoordinatesInRange) {
  v1::Source source;
  std::vector<std::string> paths;
  absl::Status one = ApplySourceFlags(Flags({{"lat", "58.9"}}), true, &source, &paths);
  EXPECT_EQ(ExitCodeOf(one), kExitUsage);
  EXPECT_THAT(one.message(), HasSubstr("both --lat and --lon"));
  absl::Status range =
      ApplySourceFlags(Flags({{"lat", "91"}, {"lon", "5"}}), true, &source, &paths);
  EXPECT_EQ(ExitCodeOf(range), kExitUsage);
  EXPECT_THAT(range.message(), HasSubstr("--lat"));
  EXPECT_EQ(
      ExitCodeOf(ApplySourceFlags(Flags({{"lat", "58"}, {"lon", "east"}}), true, &source, &paths)),
      kExitUsage);
}

// ---- readings query plan ----------------------------------------------------------------------

TEST(IngestionReadingsPlan, RawReadingsOfASource) {
  absl::StatusOr<ReadingsPlan> plan =
      ReadingsPlanFrom({"buoy-3"}, Flags({{"from", "-1h"}, {"to", "now"}}), kNow);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->aggregate);
  EXPECT_EQ(plan->query.source_id(), "buoy-3");
  EXPECT_TRUE(plan->query.dataset().empty());
  EXPECT_EQ(plan->query.start_time().seconds(), absl::ToUnixSeconds(kNow - absl::Hours(1)));
  EXPECT_EQ(plan->query.end_time().seconds(), absl::ToUnixSeconds(kNow));
  EXPECT_EQ(plan->limit, 1000);
}

TEST(IngestionReadingsPlan, WindowsOfADataset) {
  absl::StatusOr<ReadingsPlan> plan = ReadingsPlanFrom({},
                                                       Flags({{"dataset", "bathing"},
                                                              {"every", "5m"},
                                                              {"agg", "MAX"},
                                                              {"field", "temperature"},
                                                              {"limit", "0"}}),
                                                       kNow);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->aggregate);
  EXPECT_EQ(plan->windows.dataset(), "bathing");
  EXPECT_EQ(plan->windows.field(), "temperature");
  EXPECT_EQ(plan->windows.window().seconds(), 300);
  EXPECT_FALSE(plan->windows.has_start_time());
  EXPECT_EQ(plan->agg, "max");
  EXPECT_EQ(plan->limit, 0);
}

TEST(IngestionReadingsPlan, UsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, ParsedFlags>> cases = {
      {{}, Flags({})},                                            // neither
      {{"buoy-3"}, Flags({{"dataset", "bathing"}})},              // both
      {{"buoy-3"}, Flags({{"every", "5m"}})},                     // no --field
      {{"buoy-3"}, Flags({{"field", "temperature"}})},            // no --every
      {{"buoy-3"}, Flags({{"every", "500ms"}, {"field", "t"}})},  // window < 1s
      {{"buoy-3"}, Flags({{"every", "5m"}, {"field", "t"}, {"agg", "median"}})},
      {{"buoy-3"}, Flags({{"from", "-1h"}, {"to", "-2h"}})},  // empty range
      {{"buoy-3"}, Flags({{"limit", "-1"}})},
  };
  for (const auto& [args, flags] : cases) {
    absl::StatusOr<ReadingsPlan> plan = ReadingsPlanFrom(args, flags, kNow);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(ExitCodeOf(plan.status()), kExitUsage) << plan.status();
  }
}

// ---- printing values --------------------------------------------------------------------------

v1::Value Double(double d) {
  v1::Value v;
  v.set_double_value(d);
  return v;
}
v1::Value Text(const std::string& s) {
  v1::Value v;
  v.set_string_value(s);
  return v;
}

TEST(IngestionValues, NumbersShort) {
  EXPECT_EQ(FormatNumber(12.5), "12.5");
  EXPECT_EQ(FormatNumber(3), "3");
  EXPECT_EQ(FormatNumber(0.1), "0.1");
  EXPECT_EQ(FormatNumber(-0.25), "-0.25");
  EXPECT_EQ(FormatNumber(58.9701), "58.9701");
  EXPECT_EQ(FormatNumber(1e21), "1e+21");
  // Short: float noise from sums and means is not shown; integers in full.
  EXPECT_EQ(FormatNumber(10.299999999999999), "10.3");
  EXPECT_EQ(FormatNumber(0.1 + 0.2), "0.3");
  EXPECT_EQ(FormatNumber(14.000000000000002), "14");
  EXPECT_EQ(FormatNumber(1234567890123.0), "1234567890123");
  EXPECT_EQ(FormatNumber(-0.0), "0");
  EXPECT_EQ(FormatNumber(2.5e-7), "2.5e-07");
  EXPECT_EQ(FormatNumber(1.0 / 3), "0.333333333333");
  EXPECT_EQ(FormatNumber(std::nan("")), "nan");
  EXPECT_EQ(FormatNumber(-std::numeric_limits<double>::infinity()), "-inf");
  v1::Value integer;
  integer.set_integer_value(-42);
  EXPECT_EQ(FormatValue(integer), "-42");
  EXPECT_EQ(FormatValue(Double(19.25)), "19.25");
}

TEST(IngestionValues, EveryKind) {
  v1::Value b;
  b.set_bool_value(true);
  EXPECT_EQ(FormatValue(b), "true");
  v1::Value t;
  *t.mutable_timestamp_value() = TimestampOf(kNow + absl::Microseconds(250));
  EXPECT_EQ(FormatValue(t), "2026-01-31T09:30:00.00025Z");
  *t.mutable_timestamp_value() = TimestampOf(kNow);
  EXPECT_EQ(FormatValue(t), "2026-01-31T09:30:00Z");
  v1::Value geo;
  geo.mutable_geo_value()->set_latitude(58.9701);
  geo.mutable_geo_value()->set_longitude(5.7331);
  EXPECT_EQ(FormatValue(geo), "58.9701,5.7331");
  EXPECT_EQ(FormatValue(v1::Value()), "");
}

TEST(IngestionValues, StringsAreQuotedOnlyWhenTheyWouldBeMisread) {
  EXPECT_EQ(FormatValue(Text("ok")), "ok");
  EXPECT_EQ(FormatValue(Text("Bymiljø")), "Bymiljø");
  EXPECT_EQ(FormatValue(Text("Storgata 12")), "\"Storgata 12\"");
  EXPECT_EQ(FormatValue(Text("")), "\"\"");
  EXPECT_EQ(FormatValue(Text("a=b")), "\"a=b\"");
  EXPECT_EQ(FormatValue(Text("say \"hi\"\n")), "\"say \\\"hi\\\"\\n\"");
}

TEST(IngestionValues, PairsSortedByField) {
  v1::Reading reading;
  (*reading.mutable_values())["temperature"] = Double(12.5);
  (*reading.mutable_values())["battery"] = Double(3.7);
  (*reading.mutable_values())["place"] = Text("Nordre kai");
  EXPECT_EQ(FormatValues(reading.values()), "battery=3.7 place=\"Nordre kai\" temperature=12.5");
  EXPECT_EQ(FormatValues(v1::Reading().values()), "");
}

TEST(IngestionValues, AggregateColumns) {
  v1::Aggregate w;
  w.set_count(12);
  w.set_min(1.5);
  w.set_max(9);
  w.set_mean(4.25);
  w.set_last(7.75);
  EXPECT_EQ(AggregateValue(w, "count"), "12");
  EXPECT_EQ(AggregateValue(w, "min"), "1.5");
  EXPECT_EQ(AggregateValue(w, "max"), "9");
  EXPECT_EQ(AggregateValue(w, "mean"), "4.25");
  EXPECT_EQ(AggregateValue(w, "last"), "7.75");
}

TEST(IngestionValues, Bytes) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(3 * 1024 * 1024), "3.0 MiB");
  EXPECT_EQ(FormatBytes(int64_t{5} * 1024 * 1024 * 1024), "5.0 GiB");
}

// ---- the import report and its exit code ------------------------------------------------------

v1::ImportSummary Summary(int64_t rows, int64_t accepted, int64_t duplicates, int64_t rejected) {
  v1::ImportSummary s;
  s.mutable_totals()->set_bytes_read(2048);
  s.mutable_totals()->set_rows_read(rows);
  s.mutable_totals()->set_accepted(accepted);
  s.mutable_totals()->set_duplicates(duplicates);
  s.mutable_totals()->set_rejected(rejected);
  return s;
}

v1::RowError* AddError(v1::ImportSummary& s, int64_t row, const std::string& column,
                       v1::RejectReason reason, const std::string& message) {
  v1::RowError* e = s.add_errors();
  e->set_row(row);
  e->set_column(column);
  e->set_reason(reason);
  e->set_message(message);
  return e;
}

TEST(IngestionReport, TotalsThenTheRejectedRowsAsATable) {
  v1::ImportSummary s = Summary(10, 7, 1, 2);
  AddError(s, 4, "temperature", v1::REJECT_REASON_WRONG_TYPE,
           "temperature: \"varm\" is not a number");
  AddError(s, 10, "", v1::REJECT_REASON_UNKNOWN_SOURCE, "source buoy-9 is not registered");
  std::ostringstream out;
  PrintImportReport(s, "bathing-temperature", "målinger.csv", out);
  EXPECT_EQ(out.str(),
            "File:        målinger.csv\n"
            "Dataset:     bathing-temperature\n"
            "Read:        2.0 KiB\n"
            "Rows:        10\n"
            "Accepted:    7\n"
            "Duplicates:  1\n"
            "Rejected:    2\n"
            "\n"
            "Rejected rows:\n"
            "ROW   COLUMN        REASON           MESSAGE\n"
            "4     temperature   wrong-type       temperature: \"varm\" is not a number\n"
            "10                  unknown-source   source buoy-9 is not registered\n");
}

TEST(IngestionReport, SaysWhenTheServiceListedOnlyTheFirstErrors) {
  v1::ImportSummary s = Summary(5000, 3000, 0, 2000);
  AddError(s, 1, "time", v1::REJECT_REASON_MISSING_TIME, "no time");
  s.set_errors_truncated(true);
  std::ostringstream out;
  PrintImportReport(s, "d", "-", out);
  EXPECT_THAT(out.str(), HasSubstr("File:        (standard input)"));
  EXPECT_THAT(out.str(), HasSubstr("the first 1 rejected rows only; 2000 were rejected in all"));
}

TEST(IngestionReport, NoTableWhenNothingWasRejected) {
  std::ostringstream out;
  PrintImportReport(Summary(3, 3, 0, 0), "d", "f.csv", out);
  EXPECT_THAT(out.str(), Not(HasSubstr("Rejected rows")));
}

TEST(IngestionExitRule, AcceptedAndDuplicateRowsAreSuccess) {
  EXPECT_TRUE(ImportOutcome(Summary(10, 10, 0, 0), "id").ok());
  EXPECT_TRUE(ImportOutcome(Summary(10, 4, 6, 0), "id").ok());
  EXPECT_TRUE(ImportOutcome(Summary(10, 0, 10, 0), "id").ok());
  EXPECT_TRUE(ImportOutcome(Summary(0, 0, 0, 0), "id").ok());
}

TEST(IngestionExitRule, AnyRejectedRowIsAFailure) {
  absl::Status one = ImportOutcome(Summary(10, 9, 0, 1), "req-1");
  EXPECT_EQ(ExitCodeOf(one), kExitFailed);
  EXPECT_EQ(std::string(one.message()),
            "1 of 10 rows was rejected; the others were accepted or already stored");
  EXPECT_EQ(RequestIdOf(one), "req-1");
  EXPECT_THAT(HintOf(one), HasSubstr("duplicates"));
  // An error listed without a total still counts.
  v1::ImportSummary listed = Summary(10, 10, 0, 0);
  AddError(listed, 3, "", v1::REJECT_REASON_MALFORMED, "unclosed quote");
  EXPECT_EQ(ExitCodeOf(ImportOutcome(listed, "")), kExitFailed);
}

// ---- progress ---------------------------------------------------------------------------------

v1::ImportProgress Progress(int64_t bytes, int64_t rows, int64_t rejected) {
  v1::ImportProgress p;
  p.set_bytes_read(bytes);
  p.set_rows_read(rows);
  p.set_accepted(rows - rejected);
  p.set_rejected(rejected);
  return p;
}

TEST(IngestionProgress, BarPercentAndCountsWithinTheWidth) {
  const std::string line = ProgressLine(Progress(512 * 1024, 5000, 3), 1024 * 1024, 120);
  EXPECT_THAT(line, testing::StartsWith("["));
  EXPECT_THAT(line, HasSubstr("]  50%  512.0 KiB / 1.0 MiB  5000 rows  3 rejected"));
  EXPECT_LE(line.size(), 120u);
  const size_t filled = line.find('>') - 1;
  const size_t bar = line.find(']') - 1;
  EXPECT_EQ(filled * 2, bar);
}

TEST(IngestionProgress, TheBarFitsAnEightyColumnTerminal) {
  const std::string line =
      ProgressLine(Progress(int64_t{700} * 1024 * 1024, 12345678, 1234), int64_t{1} << 30, 79);
  EXPECT_EQ(line,
            "[==============>      ]  68%  700.0 MiB / 1.0 GiB  12345678 rows  1234 rejected");
  EXPECT_EQ(line.size(), 79u);
}

TEST(IngestionProgress, NarrowTerminalsLoseTheBarThenTheTail) {
  const std::string narrow = ProgressLine(Progress(100, 1, 0), 1000, 40);
  EXPECT_EQ(narrow, " 10%  100 B / 1000 B  1 rows  0 rejected");
  EXPECT_EQ(ProgressLine(Progress(100, 1, 0), 1000, 20), " 10%  100 B / 1000 B");
  EXPECT_EQ(ProgressLine(Progress(1000, 9, 0), 1000, 120).find("[==============================]"),
            0u);
}

TEST(IngestionProgress, WithoutATotalNoBar) {
  EXPECT_EQ(ProgressLine(Progress(2048, 10, 1), 0, 120), "2.0 KiB read  10 rows  1 rejected");
}

// ---- chunking ---------------------------------------------------------------------------------

TEST(IngestionChunks, OptionsFirstThenChunksOfAtMostTheSize) {
  std::string data(600 * 1024, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  std::istringstream in(data);
  v1::ImportOptions options;
  options.set_dataset("d");
  options.set_total_bytes(static_cast<int64_t>(data.size()));
  std::vector<v1::ImportFileRequest> sent;
  int64_t count = 0;
  ASSERT_TRUE(SendFileInChunks(
                  in, "f", options, kImportChunkBytes,
                  [&](const v1::ImportFileRequest& r) {
                    sent.push_back(r);
                    return true;
                  },
                  &count)
                  .ok());
  ASSERT_EQ(sent.size(), 4u);
  ASSERT_TRUE(sent[0].has_options());
  EXPECT_EQ(sent[0].options().total_bytes(), 600 * 1024);
  std::string joined;
  std::vector<size_t> sizes;
  for (size_t i = 1; i < sent.size(); ++i) {
    ASSERT_EQ(sent[i].part_case(), v1::ImportFileRequest::kChunk);
    sizes.push_back(sent[i].chunk().size());
    joined += sent[i].chunk();
  }
  EXPECT_THAT(sizes, ElementsAre(256 * 1024, 256 * 1024, 88 * 1024));
  EXPECT_EQ(joined, data);
  EXPECT_EQ(count, 600 * 1024);
}

TEST(IngestionChunks, AClosedStreamStopsTheSending) {
  std::istringstream in(std::string(100, 'x'));
  int writes = 0;
  EXPECT_TRUE(SendFileInChunks(in, "f", v1::ImportOptions(), 10, [&](const v1::ImportFileRequest&) {
                return ++writes < 3;
              }).ok());
  EXPECT_EQ(writes, 3);  // options, one chunk, then the refused one
}

TEST(IngestionChunks, AnEmptyFileSendsOnlyTheOptions) {
  std::istringstream in("");
  int writes = 0;
  EXPECT_TRUE(SendFileInChunks(in, "f", v1::ImportOptions(), 10, [&](const v1::ImportFileRequest&) {
                return ++writes > 0;
              }).ok());
  EXPECT_EQ(writes, 1);
}

// ---- the commands against a fake service ------------------------------------------------------

// A fake IngestionService that records requests. ImportFile treats the file as lines: the first
// is a header, and a data row containing "bad" is rejected; one progress message per chunk.
// ListSources serves sources a, b (page 1) and c (page 2); QueryReadings serves 2,500 readings.
class FakeIngestion final : public v1::IngestionService::Service {
 public:
  grpc::Status RegisterSource(grpc::ServerContext*, const v1::RegisterSourceRequest* request,
                              v1::Source* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    registered_ = request->source();
    *response = request->source();
    response->set_version(1);
    return grpc::Status::OK;
  }
  grpc::Status GetSource(grpc::ServerContext*, const v1::GetSourceRequest* request,
                         v1::Source* response) override {
    if (request->id() != "buoy-3") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("source ", request->id(), " is not registered"));
    }
    response->set_id("buoy-3");
    response->set_dataset("bathing-temperature");
    response->set_name("Bøye 3, Nordre kai");
    response->mutable_expected_interval()->set_seconds(900);
    (*response->mutable_metadata())["model"] = "QS2";
    response->set_version(4);
    return grpc::Status::OK;
  }
  grpc::Status ListSources(grpc::ServerContext*, const v1::ListSourcesRequest* request,
                           v1::ListSourcesResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    list_tokens_.push_back(request->page_token());
    if (request->page_token().empty()) {
      response->add_sources()->set_id("a");
      response->add_sources()->set_id("b");
      response->set_next_page_token("p2");
    } else {
      v1::Source* c = response->add_sources();
      c->set_id("c");
      c->set_disabled(true);
      c->mutable_position()->set_latitude(58.5);
      c->mutable_position()->set_longitude(5.25);
    }
    return grpc::Status::OK;
  }
  grpc::Status UpdateSource(grpc::ServerContext*, const v1::UpdateSourceRequest* request,
                            v1::Source* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    updated_ = *request;
    *response = request->source();
    response->set_version(5);
    return grpc::Status::OK;
  }
  grpc::Status DisableSource(grpc::ServerContext*, const v1::DisableSourceRequest* request,
                             v1::Source* response) override {
    response->set_id(request->id());
    response->set_disabled(true);
    return grpc::Status::OK;
  }

  grpc::Status ImportFile(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ImportFileResponse, v1::ImportFileRequest>* stream) override {
    v1::ImportFileRequest request;
    if (!stream->Read(&request) || !request.has_options()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "options first");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      import_options_ = request.options();
      chunk_sizes_.clear();
    }
    const std::string dataset = request.options().dataset();
    if (dataset == "missing") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "dataset missing is not in the catalogue");
    }
    std::string data;
    while (stream->Read(&request)) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        chunk_sizes_.push_back(request.chunk().size());
      }
      data += request.chunk();
      v1::ImportFileResponse progress;
      progress.mutable_progress()->set_bytes_read(static_cast<int64_t>(data.size()));
      stream->Write(progress);
    }
    if (dataset == "stall") {
      // A service that never answers: holds the stream until the client gives up (bounded, so a
      // broken client cannot hang the test).
      const absl::Time give_up = absl::Now() + absl::Seconds(20);
      while (!context->IsCancelled() && absl::Now() < give_up)
        absl::SleepFor(absl::Milliseconds(10));
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    v1::ImportFileResponse response;
    v1::ImportSummary* summary = response.mutable_summary();
    std::vector<std::string> lines = absl::StrSplit(data, '\n', absl::SkipEmpty());
    int64_t row = 0;
    for (size_t i = 1; i < lines.size(); ++i) {
      ++row;
      if (absl::StrContains(lines[i], "bad")) {
        v1::RowError* e = summary->add_errors();
        e->set_row(row);
        e->set_column("temperature");
        e->set_reason(v1::REJECT_REASON_WRONG_TYPE);
        e->set_message("temperature: \"bad\" is not a number");
      }
    }
    summary->mutable_totals()->set_bytes_read(static_cast<int64_t>(data.size()));
    summary->mutable_totals()->set_rows_read(row);
    summary->mutable_totals()->set_rejected(summary->errors_size());
    summary->mutable_totals()->set_accepted(row - summary->errors_size());
    stream->Write(response);
    return grpc::Status::OK;
  }

  grpc::Status QueryReadings(grpc::ServerContext*, const v1::QueryReadingsRequest* request,
                             v1::QueryReadingsResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      query_page_sizes_.push_back(request->page_size());
    }
    int64_t offset = 0;
    if (!request->page_token().empty() && !absl::SimpleAtoi(request->page_token(), &offset)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page token");
    }
    const int64_t size = request->page_size() > 0 ? request->page_size() : 1000;
    const int64_t end = std::min<int64_t>(kReadings, offset + size);
    for (int64_t i = offset; i < end; ++i) {
      v1::Reading* r = response->add_readings();
      r->set_source_id(request->source_id().empty() ? "buoy-3" : request->source_id());
      *r->mutable_time() = TimestampOf(kNow + absl::Seconds(i));
      (*r->mutable_values())["temperature"].set_double_value(12.5);
      (*r->mutable_values())["place"].set_string_value("Nordre kai");
    }
    if (end < kReadings) response->set_next_page_token(absl::StrCat(end));
    return grpc::Status::OK;
  }
  grpc::Status AggregateReadings(grpc::ServerContext*, const v1::AggregateReadingsRequest* request,
                                 v1::AggregateReadingsResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      aggregated_ = *request;
    }
    for (int i = 0; i < 2; ++i) {
      v1::Aggregate* w = response->add_windows();
      *w->mutable_window_start() = TimestampOf(kNow + absl::Minutes(5 * i));
      w->set_count(3 + i);
      w->set_min(1.5);
      w->set_max(9.25 + i);
      w->set_mean(4);
      w->set_last(7);
    }
    return grpc::Status::OK;
  }
  grpc::Status GetLatestReadings(grpc::ServerContext*, const v1::GetLatestReadingsRequest* request,
                                 v1::GetLatestReadingsResponse* response) override {
    for (const std::string& id : request->source_ids()) {
      v1::Reading* r = response->add_readings();
      r->set_source_id(id);
      *r->mutable_time() = TimestampOf(kNow);
      (*r->mutable_values())["temperature"].set_double_value(18);
    }
    return grpc::Status::OK;
  }
  grpc::Status GetDataQuality(grpc::ServerContext*, const v1::GetDataQualityRequest* request,
                              v1::GetDataQualityResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quality_ = *request;
    }
    v1::SourceQuality* q = response->add_sources();
    q->set_source_id("buoy-3");
    q->mutable_expected_interval()->set_seconds(900);
    q->set_readings(90);
    q->set_missing_intervals(6);
    q->mutable_longest_gap()->set_seconds(5400);
    q->set_late(2);
    q->set_rejected(1);
    q->set_duplicates(4);
    *q->mutable_last_reading_time() = TimestampOf(kNow);
    return grpc::Status::OK;
  }
  grpc::Status SetRetention(grpc::ServerContext*, const v1::SetRetentionRequest* request,
                            v1::RetentionPolicy* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    retention_ = request->policy();
    *response = request->policy();
    return grpc::Status::OK;
  }
  grpc::Status GetRetention(grpc::ServerContext*, const v1::GetRetentionRequest* request,
                            v1::RetentionPolicy* response) override {
    response->set_dataset(request->dataset());
    return grpc::Status::OK;  // no keep: for ever
  }

  static constexpr int64_t kReadings = 2500;

  template <typename T>
  T Get(T FakeIngestion::*member) {
    std::lock_guard<std::mutex> lock(mu_);
    return this->*member;
  }

  std::mutex mu_;
  v1::Source registered_;
  v1::UpdateSourceRequest updated_;
  std::vector<std::string> list_tokens_;
  v1::ImportOptions import_options_;
  std::vector<size_t> chunk_sizes_;
  std::vector<int32_t> query_page_sizes_;
  v1::AggregateReadingsRequest aggregated_;
  v1::GetDataQualityRequest quality_;
  v1::RetentionPolicy retention_;
};

struct Outcome {
  absl::Status status;
  std::string out;
  std::string err;
};

class IngestionCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A private config home, and nothing from the environment that would redirect calls.
    std::string pattern =
        (std::filesystem::temp_directory_path() / "smartctl-ingestion-test-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    for (const char* name : {"XDG_CONFIG_HOME", "SMARTCTL_TOKEN", "SMARTCTL_SERVER"}) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
    }
    ::setenv("XDG_CONFIG_HOME", dir_.c_str(), 1);
    ::unsetenv("SMARTCTL_TOKEN");
    ::unsetenv("SMARTCTL_SERVER");

    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    AddAllCommands(registry_);
  }
  void TearDown() override {
    server_->Shutdown();
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--insecure", "--server", absl::StrCat("127.0.0.1:", port_)});
    std::ostringstream out, err;
    Outcome outcome;
    outcome.status = RunCommandLine(registry_, args, out, err);
    outcome.out = out.str();
    outcome.err = err.str();
    return outcome;
  }

  static std::string Describe(const Outcome& o) {
    std::ostringstream text;
    PrintError(o.status, text);
    return absl::StrCat("--- out\n", o.out, "--- err\n", o.err, text.str());
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = (std::filesystem::path(dir_) / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::string dir_;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
  FakeIngestion fake_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  Registry registry_;
};

TEST(IngestionWiring, TheServiceIsKnownOnItsPort) {
  const ServiceInfo* info = FindService("ingestion");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->default_port, 7002);
  EXPECT_EQ(info->grpc_service, "smartcity.ingestion.v1.IngestionService");
}

TEST_F(IngestionCommandsTest, EveryCommandHasHelpWithExamples) {
  int found = 0;
  for (const Command& command : registry_.commands) {
    for (const char* noun : {"source", "ingest", "readings", "quality", "retention"}) {
      if (command.noun != noun) continue;
      ++found;
      EXPECT_THAT(command.description, HasSubstr("Examples:")) << CommandPath(command);
    }
  }
  EXPECT_EQ(found, 11);
}

TEST_F(IngestionCommandsTest, HelpListsTheNouns) {
  Outcome o = Run({"--help"});
  ASSERT_TRUE(o.status.ok());
  for (const char* noun : {"source", "ingest", "readings", "quality", "retention"}) {
    EXPECT_THAT(o.out, HasSubstr(absl::StrCat("\n  ", noun, " "))) << noun;
  }
  EXPECT_THAT(o.out, HasSubstr("ingestion 7002"));
}

TEST_F(IngestionCommandsTest, SourceRegisterSendsWhatTheFlagsSay) {
  Outcome o =
      Run({"source", "register", "buoy-3", "--dataset", "bathing-temperature", "--name", "Bøye 3",
           "--lat", "58.97", "--lon", "5.73", "--interval", "15m", "--meta", "model=QS2"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out, "source buoy-3 registered (dataset bathing-temperature, enabled, version 1)\n");
  const v1::Source s = fake_.Get(&FakeIngestion::registered_);
  EXPECT_EQ(s.id(), "buoy-3");
  EXPECT_EQ(s.dataset(), "bathing-temperature");
  EXPECT_EQ(s.name(), "Bøye 3");
  EXPECT_DOUBLE_EQ(s.position().latitude(), 58.97);
  EXPECT_EQ(s.expected_interval().seconds(), 900);
  EXPECT_EQ(s.metadata().at("model"), "QS2");
}

TEST_F(IngestionCommandsTest, SourceRegisterNeedsADataset) {
  Outcome o = Run({"source", "register", "buoy-3"});
  EXPECT_EQ(ExitCodeOf(o.status), kExitUsage);
  EXPECT_THAT(o.status.message(), HasSubstr("--dataset"));
}

TEST_F(IngestionCommandsTest, SourceUpdateSendsAMaskOfWhatWasGivenAndVersionZero) {
  Outcome o = Run({"source", "update", "buoy-3", "--interval", "30m", "--enable"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  const v1::UpdateSourceRequest r = fake_.Get(&FakeIngestion::updated_);
  EXPECT_EQ(r.source().id(), "buoy-3");
  EXPECT_EQ(r.source().version(), 0);
  EXPECT_THAT(r.update_mask().paths(), ElementsAre("expected_interval", "disabled"));
  EXPECT_EQ(r.source().expected_interval().seconds(), 1800);
  EXPECT_FALSE(r.source().disabled());

  Outcome nothing = Run({"source", "update", "buoy-3"});
  EXPECT_EQ(ExitCodeOf(nothing.status), kExitUsage);
  EXPECT_THAT(nothing.status.message(), HasSubstr("nothing to change"));
}

TEST_F(IngestionCommandsTest, SourceListShowsThePageOrWithAllEveryPage) {
  Outcome first = Run({"source", "list"});
  ASSERT_TRUE(first.status.ok()) << Describe(first);
  EXPECT_THAT(first.out, HasSubstr("\na "));
  EXPECT_THAT(first.out, Not(HasSubstr("\nc ")));
  EXPECT_THAT(first.err, HasSubstr("add --all"));

  Outcome all = Run({"source", "list", "--all"});
  ASSERT_TRUE(all.status.ok()) << Describe(all);
  EXPECT_THAT(all.out, HasSubstr("\nc "));
  EXPECT_THAT(all.out, HasSubstr("58.5,5.25"));
  EXPECT_THAT(all.out, HasSubstr("disabled"));
  EXPECT_EQ(all.err, "");
  EXPECT_THAT(fake_.Get(&FakeIngestion::list_tokens_), ElementsAre("", "", "p2"));
}

TEST_F(IngestionCommandsTest, SourceGetShowsDetailsAndNotFoundHints) {
  Outcome o = Run({"source", "get", "buoy-3"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.out, HasSubstr("Interval:"));
  EXPECT_THAT(o.out, HasSubstr("15m"));
  EXPECT_THAT(o.out, HasSubstr("model=QS2"));

  Outcome json = Run({"source", "get", "buoy-3", "-o", "json"});
  ASSERT_TRUE(json.status.ok()) << Describe(json);
  EXPECT_THAT(json.out, HasSubstr("\"expected_interval\": \"900s\""));

  Outcome missing = Run({"source", "get", "buoy-9"});
  EXPECT_EQ(ExitCodeOf(missing.status), kExitFailed);
  EXPECT_EQ(missing.status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(HintOf(missing.status), HasSubstr("smartctl source list"));
}

std::string CsvOf(size_t min_bytes, bool with_bad_rows) {
  std::string csv = "Sensor;Tid;Temp\n";
  for (int row = 1; csv.size() < min_bytes; ++row) {
    const bool bad = with_bad_rows && (row == 7 || row == 4000);
    absl::StrAppend(&csv, "buoy-3;2026-01-31T09:", row % 60, ":00Z;", bad ? "bad" : "12.5", "\n");
  }
  return csv;
}

TEST_F(IngestionCommandsTest, IngestFileStreamsChunksAndReportsRejectedRows) {
  const std::string csv = CsvOf(600 * 1024, /*with_bad_rows=*/true);
  const std::string path = WriteFile("målinger.csv", csv);
  Outcome o =
      Run({"ingest", "file", "bathing-temperature", path, "--delimiter", ";", "--mapping",
           "Sensor=source_id,Tid=time", "--mapping", "Temp=temperature", "--source", "buoy-1"});
  EXPECT_EQ(ExitCodeOf(o.status), kExitFailed) << Describe(o);
  EXPECT_THAT(o.status.message(), HasSubstr("2 of "));
  EXPECT_THAT(o.status.message(), HasSubstr("rows were rejected"));

  const v1::ImportOptions options = fake_.Get(&FakeIngestion::import_options_);
  EXPECT_EQ(options.dataset(), "bathing-temperature");
  EXPECT_EQ(options.file_name(), "målinger.csv");
  EXPECT_EQ(options.total_bytes(), static_cast<int64_t>(csv.size()));
  EXPECT_EQ(options.delimiter(), ";");
  EXPECT_EQ(options.source_id(), "buoy-1");
  EXPECT_EQ(options.mapping().size(), 3u);
  EXPECT_EQ(options.mapping().at("Tid"), "time");
  const std::vector<size_t> chunks = fake_.Get(&FakeIngestion::chunk_sizes_);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0], kImportChunkBytes);
  EXPECT_EQ(chunks[1], kImportChunkBytes);
  EXPECT_EQ(chunks[2], csv.size() - 2 * kImportChunkBytes);

  EXPECT_THAT(o.out, HasSubstr("Rejected:    2\n"));
  EXPECT_THAT(o.out, HasSubstr("ROW    COLUMN        REASON       MESSAGE\n"
                               "7      temperature   wrong-type   temperature: \"bad\" is not a "
                               "number\n"
                               "4000   temperature   wrong-type"));
  EXPECT_EQ(o.err, "");  // not a terminal: no progress bar
}

TEST_F(IngestionCommandsTest, IngestFileExitsZeroWhenEveryRowIsStored) {
  const std::string path = WriteFile("ok.csv", CsvOf(1000, /*with_bad_rows=*/false));
  Outcome o = Run({"ingest", "file", "bathing-temperature", path, "-o", "json"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.out, HasSubstr("\"totals\""));
  EXPECT_THAT(o.out, HasSubstr("\"accepted\": \"31\""));  // proto JSON: zero counts are left out
  EXPECT_THAT(o.out, Not(HasSubstr("\"errors\"")));
  EXPECT_EQ(fake_.Get(&FakeIngestion::import_options_).format(), v1::FILE_FORMAT_UNSPECIFIED);
}

TEST_F(IngestionCommandsTest, IngestFileReportsTheServicesRefusal) {
  const std::string path = WriteFile("x.csv", CsvOf(400 * 1024, false));
  Outcome o = Run({"ingest", "file", "missing", path});
  EXPECT_EQ(ExitCodeOf(o.status), kExitFailed) << Describe(o);
  EXPECT_EQ(o.status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(o.status.message(), HasSubstr("not in the catalogue"));
  EXPECT_THAT(HintOf(o.status), HasSubstr("smartctl dataset list"));
  EXPECT_FALSE(RequestIdOf(o.status).empty());
}

TEST_F(IngestionCommandsTest, IngestFileThatStallsIsCancelledAfterTheTimeout) {
  const std::string path = WriteFile("x.csv", CsvOf(1000, false));
  const absl::Time start = absl::Now();
  Outcome o = Run({"--timeout", "1s", "ingest", "file", "stall", path});
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  EXPECT_EQ(ExitCodeOf(o.status), kExitFailed) << Describe(o);
  EXPECT_EQ(o.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(o.status.message(), HasSubstr("made no progress for 1s"));
  EXPECT_THAT(HintOf(o.status), HasSubstr("--timeout"));
}

TEST_F(IngestionCommandsTest, IngestFileThatCannotBeOpenedIsALocalFailure) {
  Outcome o = Run({"ingest", "file", "d", (std::filesystem::path(dir_) / "nope.csv").string()});
  EXPECT_EQ(ExitCodeOf(o.status), kExitFailed);
  EXPECT_THAT(o.status.message(), HasSubstr("cannot open"));
}

TEST_F(IngestionCommandsTest, IngestFileWithNoServiceIsExitThree) {
  const std::string path = WriteFile("ok.csv", CsvOf(100, false));
  std::ostringstream out, err;
  // Port 1 on loopback: nothing listens there.
  absl::Status status = RunCommandLine(
      registry_,
      {"--insecure", "--server", "127.0.0.1:1", "--timeout", "3s", "ingest", "file", "d", path},
      out, err);
  EXPECT_EQ(ExitCodeOf(status), kExitUnreachable) << status;
  EXPECT_THAT(status.message(), HasSubstr("cannot reach ingestion at 127.0.0.1:1"));
}

TEST_F(IngestionCommandsTest, ReadingsQueryFollowsPagesUpToTheLimit) {
  Outcome o = Run({"readings", "query", "buoy-3", "--from", "-1h", "--limit", "1500"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(fake_.Get(&FakeIngestion::query_page_sizes_), ElementsAre(1000, 500));
  std::vector<std::string> lines = absl::StrSplit(o.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1501u);  // header + 1500
  EXPECT_EQ(lines[0], "TIME                   SOURCE   VALUES");
  EXPECT_EQ(lines[1], "2026-01-31T09:30:00Z   buoy-3   place=\"Nordre kai\" temperature=12.5");
  EXPECT_THAT(o.err, HasSubstr("showing the first 1500 readings"));
}

TEST_F(IngestionCommandsTest, ReadingsQueryWithoutLimitReadsEverything) {
  Outcome o =
      Run({"readings", "query", "--dataset", "bathing-temperature", "--limit", "0", "-o", "json"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(fake_.Get(&FakeIngestion::query_page_sizes_), ElementsAre(1000, 1000, 1000));
  EXPECT_THAT(o.out, HasSubstr("\"double_value\": 12.5"));
  EXPECT_THAT(o.out, Not(HasSubstr("next_page_token")));
}

TEST_F(IngestionCommandsTest, ReadingsQueryEveryPrintsTheChosenAggregate) {
  Outcome o = Run(
      {"readings", "query", "buoy-3", "--every", "5m", "--agg", "max", "--field", "temperature"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out,
            "WINDOW                 MAX TEMPERATURE\n"
            "2026-01-31T09:30:00Z   9.25\n"
            "2026-01-31T09:35:00Z   10.25\n");
  const v1::AggregateReadingsRequest r = fake_.Get(&FakeIngestion::aggregated_);
  EXPECT_EQ(r.source_id(), "buoy-3");
  EXPECT_EQ(r.field(), "temperature");
  EXPECT_EQ(r.window().seconds(), 300);

  Outcome json =
      Run({"readings", "query", "buoy-3", "--every", "5m", "--field", "temperature", "-o", "json"});
  ASSERT_TRUE(json.status.ok()) << Describe(json);
  for (const char* column : {"\"count\"", "\"min\"", "\"max\"", "\"mean\"", "\"last\""}) {
    EXPECT_THAT(json.out, HasSubstr(column));
  }
}

TEST_F(IngestionCommandsTest, ReadingsLastOfSources) {
  Outcome o = Run({"readings", "last", "buoy-3", "buoy-4"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out,
            "SOURCE   TIME                   VALUES\n"
            "buoy-3   2026-01-31T09:30:00Z   temperature=18\n"
            "buoy-4   2026-01-31T09:30:00Z   temperature=18\n");
  EXPECT_EQ(ExitCodeOf(Run({"readings", "last"}).status), kExitUsage);
}

TEST_F(IngestionCommandsTest, QualityShowTable) {
  Outcome o = Run(
      {"quality", "show", "bathing-temperature", "--from", "2026-01-30T09:30:00Z", "--to", "now"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out,
            "SOURCE   INTERVAL   READINGS   MISSING   LONGEST GAP   LATE   REJECTED   DUPLICATES"
            "   LAST READING\n"
            "buoy-3   15m        90         6         1h30m         2      1          4"
            "            2026-01-31T09:30:00Z\n");
  const v1::GetDataQualityRequest r = fake_.Get(&FakeIngestion::quality_);
  EXPECT_EQ(r.dataset(), "bathing-temperature");
  EXPECT_EQ(r.start_time().seconds(), 1769765400);
  EXPECT_TRUE(r.has_end_time());
}

TEST_F(IngestionCommandsTest, RetentionInDays) {
  Outcome set = Run({"retention", "set", "bathing-temperature", "90d"});
  ASSERT_TRUE(set.status.ok()) << Describe(set);
  EXPECT_EQ(fake_.Get(&FakeIngestion::retention_).keep().seconds(), 90 * 86400);
  EXPECT_EQ(set.out, "dataset bathing-temperature: readings are kept for 90d\n");

  Outcome get = Run({"retention", "get", "bathing-temperature"});
  ASSERT_TRUE(get.status.ok()) << Describe(get);
  EXPECT_EQ(get.out, "dataset bathing-temperature: readings are kept for ever\n");

  EXPECT_EQ(ExitCodeOf(Run({"retention", "set", "d", "30m"}).status), kExitUsage);
  EXPECT_EQ(ExitCodeOf(Run({"retention", "set", "d", "90 days"}).status), kExitUsage);
  ASSERT_TRUE(Run({"retention", "set", "d", "forever"}).status.ok());
  EXPECT_FALSE(fake_.Get(&FakeIngestion::retention_).has_keep());
}

}  // namespace
}  // namespace smartby::smartctl
