#include "services/ingestion/formats.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::ingestion {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::smartcity::ingestion::v1;

// Everything a reader produced, for assertions and for comparing two ways of feeding one file.
struct Result {
  std::vector<RawRecord> records;
  std::vector<RecordError> errors;
  absl::Status status;  // the first non-OK Feed, else Finish
  int64_t rows_read = 0;
  size_t max_buffered = 0;

  // A deterministic rendering of all of it, in delivery order.
  std::string log;
};

std::string Render(const RawValue& v) {
  switch (v.kind) {
    case RawValue::kNull: return "null";
    case RawValue::kText: return absl::StrCat("text:", v.text);
    case RawValue::kNumber: return absl::StrCat("number:", v.text);
    case RawValue::kBool: return v.boolean ? "true" : "false";
    case RawValue::kGeoPoint: return absl::StrCat("geo:", v.latitude, ",", v.longitude);
  }
  return "?";
}

class Reader {
 public:
  explicit Reader(v1::FileFormat format, char delimiter = ',') {
    FormatOptions options;
    options.format = format;
    options.delimiter = delimiter;
    auto reader = NewRecordReader(
        options,
        [this](RawRecord&& r) {
          absl::StrAppend(&result_.log, "R", r.row);
          for (const auto& [name, value] : r.columns) {
            absl::StrAppend(&result_.log, " [", name, "=", Render(value), "]");
          }
          result_.log += "\n";
          result_.records.push_back(std::move(r));
        },
        [this](RecordError&& e) {
          absl::StrAppend(&result_.log, "E", e.row, " [", e.column, "] ", e.message, "\n");
          result_.errors.push_back(std::move(e));
        });
    EXPECT_TRUE(reader.ok()) << reader.status();
    reader_ = *std::move(reader);
  }

  // Feeds the chunks, then finishes; stops at the first error.
  Result Read(const std::vector<absl::string_view>& chunks) {
    for (absl::string_view chunk : chunks) {
      result_.status = reader_->Feed(chunk);
      result_.max_buffered = std::max(result_.max_buffered, reader_->buffered_bytes());
      if (!result_.status.ok()) break;
    }
    if (result_.status.ok()) result_.status = reader_->Finish();
    result_.rows_read = reader_->rows_read();
    absl::StrAppend(&result_.log, "status: ", result_.status.ToString(), "\n");
    return std::move(result_);
  }

  RecordReader& reader() { return *reader_; }

 private:
  std::unique_ptr<RecordReader> reader_;
  Result result_;
};

Result ReadWhole(absl::string_view text, v1::FileFormat format, char delimiter = ',') {
  return Reader(format, delimiter).Read({text});
}

std::vector<absl::string_view> Split(absl::string_view text, const std::vector<size_t>& sizes) {
  std::vector<absl::string_view> chunks;
  size_t at = 0, k = 0;
  while (at < text.size()) {
    const size_t n = std::min(sizes[k++ % sizes.size()], text.size() - at);
    chunks.push_back(text.substr(at, n));
    at += n;
  }
  return chunks;
}

// The result must not depend on how the bytes are cut: one chunk, one byte at a time, random
// chunk sizes, and every split into two chunks.
void ExpectSameWhateverTheChunks(absl::string_view text, v1::FileFormat format,
                                 char delimiter = ',') {
  const std::string whole = ReadWhole(text, format, delimiter).log;
  EXPECT_EQ(Reader(format, delimiter).Read(Split(text, {1})).log, whole) << "one byte at a time";
  std::mt19937 random(42);
  for (int round = 0; round < 20; ++round) {
    std::vector<size_t> sizes;
    for (int k = 0; k < 50; ++k) sizes.push_back(std::uniform_int_distribution<size_t>(1, 17)(random));
    EXPECT_EQ(Reader(format, delimiter).Read(Split(text, sizes)).log, whole) << "round " << round;
  }
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    ASSERT_EQ(Reader(format, delimiter).Read({text.substr(0, cut), text.substr(cut)}).log, whole)
        << "cut at " << cut;
  }
}

// ---- CSV ---------------------------------------------------------------------------------------

TEST(CsvReader, HeaderNamesTheColumns) {
  Result r = ReadWhole("source_id,time,water_temp\nbeach-1,2026-03-01T12:00:00Z,17.5\n"
                       "beach-2,2026-03-01T12:00:00Z,\n",
                       v1::FILE_FORMAT_CSV);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log,
            "R1 [source_id=text:beach-1] [time=text:2026-03-01T12:00:00Z] [water_temp=text:17.5]\n"
            "R2 [source_id=text:beach-2] [time=text:2026-03-01T12:00:00Z] [water_temp=null]\n"
            "status: OK\n");
  EXPECT_EQ(r.rows_read, 2);
}

TEST(CsvReader, QuotedFieldsWithEscapesDelimitersAndNewlines) {
  Result r = ReadWhole("name,comment\n"
                       "\"Madla, Sjøbadet\",\"he said \"\"cold\"\"\"\n"
                       "\"two\nlines\",\"\"\n"
                       "plain\"quote,x\n",
                       v1::FILE_FORMAT_CSV);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log,
            "R1 [name=text:Madla, Sjøbadet] [comment=text:he said \"cold\"]\n"
            "R2 [name=text:two\nlines] [comment=null]\n"
            "R3 [name=text:plain\"quote] [comment=text:x]\n"
            "status: OK\n");
}

TEST(CsvReader, CrLfLfAndALastRowWithoutNewline) {
  const std::string expected = "R1 [a=text:1] [b=text:2]\nR2 [a=text:3] [b=text:4]\nstatus: OK\n";
  EXPECT_EQ(ReadWhole("a,b\r\n1,2\r\n3,4\r\n", v1::FILE_FORMAT_CSV).log, expected);
  EXPECT_EQ(ReadWhole("a,b\n1,2\n3,4\n", v1::FILE_FORMAT_CSV).log, expected);
  EXPECT_EQ(ReadWhole("a,b\n1,2\n3,4", v1::FILE_FORMAT_CSV).log, expected);
  EXPECT_EQ(ReadWhole("a,b\r\n1,2\r\n3,4\r\n\r\n", v1::FILE_FORMAT_CSV).log, expected);
  EXPECT_EQ(ReadWhole("a,b\n1,2\n\n3,4\n\n", v1::FILE_FORMAT_CSV).log, expected);
  EXPECT_EQ(ReadWhole("a,b\r1,2\r3,4\r", v1::FILE_FORMAT_CSV).log, expected);  // old Mac
}

TEST(CsvReader, ByteOrderMarkIsStripped) {
  Result r = ReadWhole("\xEF\xBB\xBFid,v\nx,1\n", v1::FILE_FORMAT_CSV);
  EXPECT_EQ(r.log, "R1 [id=text:x] [v=text:1]\nstatus: OK\n");
  // Bytes that only start like a BOM are content.
  r = ReadWhole("\xEF\xBB", v1::FILE_FORMAT_CSV);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);  // header not UTF-8
}

TEST(CsvReader, HeaderNamesAreTrimmed) {
  EXPECT_EQ(ReadWhole("Temp ; Tid\n12,5;x\n", v1::FILE_FORMAT_CSV, ';').log,
            "R1 [Temp=text:12,5] [Tid=text:x]\nstatus: OK\n");
}

TEST(CsvReader, SemicolonAndTabDelimiters) {
  EXPECT_EQ(ReadWhole("a;b\n\"x;y\";12,5\n", v1::FILE_FORMAT_CSV, ';').log,
            "R1 [a=text:x;y] [b=text:12,5]\nstatus: OK\n");
  EXPECT_EQ(ReadWhole("a\tb\nx,y\t1\n", v1::FILE_FORMAT_CSV, '\t').log,
            "R1 [a=text:x,y] [b=text:1]\nstatus: OK\n");
}

TEST(CsvReader, WrongCellCountIsARowErrorAndReadingGoesOn) {
  Result r = ReadWhole("a,b,c\n1,2,3\n1,2\n1,2,3,4\n1;2;3\n1,2,3,\n7,8,9\n", v1::FILE_FORMAT_CSV);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.errors.size(), 4u);
  EXPECT_EQ(r.errors[0].row, 2);
  EXPECT_EQ(r.errors[0].message, "row 2 has 2 cells; expected 3 as in the header row");
  EXPECT_EQ(r.errors[1].row, 3);
  EXPECT_EQ(r.errors[1].message, "row 3 has 4 cells; expected 3 as in the header row");
  EXPECT_THAT(r.errors[2].message, HasSubstr("row 4 has 1 cell; expected 3"));
  EXPECT_THAT(r.errors[2].message, HasSubstr("is the delimiter right?"));
  EXPECT_THAT(r.errors[3].message, HasSubstr("delimiter at the end of the line"));
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].row, 1);
  EXPECT_EQ(r.records[1].row, 6);
  EXPECT_EQ(r.rows_read, 6);
}

TEST(CsvReader, InvalidUtf8IsARowErrorNamingTheColumn) {
  // "Sjøvann" saved as Latin-1: ø is the single byte 0xF8.
  Result r = ReadWhole("id,beach\n1,Sjøvann\n2,Sj\xF8vann\n3,Sjøvann\n", v1::FILE_FORMAT_CSV);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].row, 2);
  EXPECT_EQ(r.errors[0].column, "beach");
  EXPECT_EQ(r.errors[0].message,
            "row 2 is not valid UTF-8 (column \"beach\"); save the file as UTF-8");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[1].row, 3);
}

TEST(CsvReader, HeaderProblemsAreFatal) {
  EXPECT_EQ(ReadWhole("", v1::FILE_FORMAT_CSV).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ReadWhole("\n\n", v1::FILE_FORMAT_CSV).status.message(), HasSubstr("empty"));
  EXPECT_THAT(ReadWhole("a,b,a\n1,2,3\n", v1::FILE_FORMAT_CSV).status.message(),
              HasSubstr("column \"a\" appears twice"));
  EXPECT_THAT(ReadWhole("a,,c\n", v1::FILE_FORMAT_CSV).status.message(),
              HasSubstr("column 2 of the header row has no name"));
  EXPECT_THAT(ReadWhole("Sj\xF8,b\n", v1::FILE_FORMAT_CSV).status.message(),
              HasSubstr("header row is not valid UTF-8"));
  // A header alone is a file with no rows.
  Result r = ReadWhole("a,b\n", v1::FILE_FORMAT_CSV);
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.rows_read, 0);
}

TEST(CsvReader, TruncatedQuotedFieldFailsFinishAndEarlierRowsStand) {
  Result r = ReadWhole("a,b\n1,2\n3,\"unclosed\n4,5\n", v1::FILE_FORMAT_CSV);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(),
            "the file ends inside a quoted value that starts in row 2, column \"b\": a closing "
            "\" is missing");
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].row, 1);
}

TEST(CsvReader, TenMegabyteLineIsSkippedWithoutHoldingIt) {
  std::string file = "id,text\n1,short\n2,";
  file.append(10 << 20, 'x');
  file += "\n3,after\n4,\"quoted ";
  file.append(10 << 20, 'y');
  file += "\nwith newline\"\n5,last\n";
  Reader reader(v1::FILE_FORMAT_CSV);
  Result r = reader.Read(Split(file, {64 << 10}));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].row, 2);
  EXPECT_THAT(r.errors[0].message, HasSubstr("row 2 is longer than 1 MiB"));
  EXPECT_EQ(r.errors[1].row, 4);
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[1].row, 3);
  EXPECT_EQ(r.records[1].columns[1].second.text, "after");
  EXPECT_EQ(r.records[2].row, 5);
  EXPECT_LE(r.max_buffered, kMaxRecordBytes + 4096);
}

TEST(CsvReader, OneHugeChunkIsNotBufferedEither) {
  std::string file = "id,text\n1,";
  file.append(5 << 20, 'x');
  file += "\n2,ok\n";
  Reader reader(v1::FILE_FORMAT_CSV);
  Result r = reader.Read({file});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.records.size(), 1u);
  EXPECT_LE(r.max_buffered, kMaxRecordBytes + 4096);
}

TEST(CsvReader, RowOfExactlyTheLimitIsRead) {
  std::string file = "t\n";
  file.append(kMaxRecordBytes, 'x');
  file += "\n";
  Result r = ReadWhole(file, v1::FILE_FORMAT_CSV);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].columns[0].second.text.size(), kMaxRecordBytes);
  file = "t\ny";  // one byte more
  file.append(kMaxRecordBytes, 'x');
  r = ReadWhole(file, v1::FILE_FORMAT_CSV);
  EXPECT_EQ(r.records.size(), 0u);
  EXPECT_EQ(r.errors.size(), 1u);
}

TEST(CsvReader, SameResultWhateverTheChunks) {
  ExpectSameWhateverTheChunks(
      "\xEF\xBB\xBF"
      "source;time;\"water\"\"temp\";note\r\n"
      "b1;2026-03-01T12:00:00Z;12,5;\"semi;colon\"\r\n"
      "b2;2026-03-01T13:00:00Z;\"13,0\";\"multi\r\nline \"\"quoted\"\"\"\r\n"
      "b3;x\r\n"
      "\r\n"
      "b4;2026-03-01T14:00:00Z;Sj\xF8;ø and 日本 and 🌊\n"
      "b5;2026-03-01T15:00:00Z;;\"\"\n"
      "b6;\"a\"b;c;d",
      v1::FILE_FORMAT_CSV, ';');
  ExpectSameWhateverTheChunks("a,b\n1,\"unclosed\n", v1::FILE_FORMAT_CSV);
}

TEST(CsvReader, TextThatOnlyStartsLikeAByteOrderMarkIsKept) {
  // U+FEFE starts with the same two bytes as a BOM (EF BB BF).
  const std::string file = "\xEF\xBB\xBE" "a,b\n1,2\n";
  EXPECT_EQ(ReadWhole(file, v1::FILE_FORMAT_CSV).log,
            "R1 [\xEF\xBB\xBE" "a=text:1] [b=text:2]\nstatus: OK\n");
  ExpectSameWhateverTheChunks(file, v1::FILE_FORMAT_CSV);
}

TEST(CsvReader, MillionRowsIn64KiBChunks) {
  // Generated on the fly, one 64 KiB chunk at a time: 5 columns of typical sensor data.
  int64_t records = 0, errors = 0, checksum = 0;
  FormatOptions options;
  auto counting = NewRecordReader(
      options,
      [&](RawRecord&& r) {
        ++records;
        checksum += static_cast<int64_t>(r.columns[4].second.text.size());
      },
      [&](RecordError&&) { ++errors; });
  ASSERT_TRUE(counting.ok());
  constexpr int kRows = 1000000;
  std::string chunk = "source_id,time,fill_level,temperature,battery\n";
  int64_t expected_checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRows; ++i) {
    char row[128];
    const int battery = 3000 + i % 700;
    const int n = std::snprintf(row, sizeof(row),
                                "container-%04d,2026-03-01T12:%02d:%02dZ,%d.%d,%d.5,%d\n",
                                i % 2000, i / 60 % 60, i % 60, i % 100, i % 10, i % 30, battery);
    expected_checksum += 4;
    chunk.append(row, static_cast<size_t>(n));
    if (chunk.size() >= (64 << 10)) {
      ASSERT_TRUE((*counting)->Feed(absl::string_view(chunk).substr(0, 64 << 10)).ok());
      chunk.erase(0, 64 << 10);
    }
  }
  ASSERT_TRUE((*counting)->Feed(chunk).ok());
  ASSERT_TRUE((*counting)->Finish().ok());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(records, kRows);
  EXPECT_EQ(errors, 0);
  EXPECT_EQ((*counting)->rows_read(), kRows);
  EXPECT_EQ(checksum, expected_checksum);
  std::printf("[ info     ] %d CSV rows generated and read in %.3f s: %.0f rows/s\n", kRows,
              seconds, kRows / seconds);
}

TEST(CsvReader, ReaderOnlyThroughput) {
  // The reader alone on a prepared file (no generation in the timing).
  std::string file = "source_id,time,fill_level,temperature,battery\n";
  constexpr int kRows = 1000000;
  for (int i = 0; i < kRows; ++i) {
    absl::StrAppend(&file, "container-", i % 2000, ",2026-03-01T12:00:00Z,", i % 100, ".5,",
                    i % 30, ".25,", 3000 + i % 700, "\n");
  }
  int64_t records = 0;
  FormatOptions options;
  auto reader = NewRecordReader(
      options, [&](RawRecord&&) { ++records; }, [](RecordError&&) {});
  ASSERT_TRUE(reader.ok());
  const auto start = std::chrono::steady_clock::now();
  for (absl::string_view chunk : Split(file, {64 << 10})) ASSERT_TRUE((*reader)->Feed(chunk).ok());
  ASSERT_TRUE((*reader)->Finish().ok());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(records, kRows);
  std::printf("[ info     ] CSV reader alone: %d rows (%.1f MB) in %.3f s: %.0f rows/s\n", kRows,
              static_cast<double>(file.size()) / 1e6, seconds, kRows / seconds);
}

TEST(NewRecordReader, RefusesBadDelimitersAndFormats) {
  const auto make = [](v1::FileFormat format, char delimiter) {
    FormatOptions options;
    options.format = format;
    options.delimiter = delimiter;
    return NewRecordReader(options, [](RawRecord&&) {}, [](RecordError&&) {}).status();
  };
  for (char bad : {'"', '\n', '\r', '\0', static_cast<char>(0xC3)}) {
    EXPECT_EQ(make(v1::FILE_FORMAT_CSV, bad).code(), absl::StatusCode::kInvalidArgument)
        << static_cast<int>(bad);
  }
  EXPECT_TRUE(make(v1::FILE_FORMAT_CSV, '|').ok());
  EXPECT_TRUE(make(v1::FILE_FORMAT_JSON, '"').ok());  // the delimiter is CSV's only
  EXPECT_EQ(make(v1::FILE_FORMAT_UNSPECIFIED, ',').code(), absl::StatusCode::kInvalidArgument);
}

TEST(RecordReader, FeedAfterFinishIsRefused) {
  Reader reader(v1::FILE_FORMAT_CSV);
  ASSERT_TRUE(reader.reader().Feed("a\n1\n").ok());
  ASSERT_TRUE(reader.reader().Finish().ok());
  EXPECT_FALSE(reader.reader().Feed("2\n").ok());
}

TEST(FormatFromFileName, ByExtension) {
  EXPECT_EQ(FormatFromFileName("badetemp.csv"), v1::FILE_FORMAT_CSV);
  EXPECT_EQ(FormatFromFileName("BADETEMP.CSV"), v1::FILE_FORMAT_CSV);
  EXPECT_EQ(FormatFromFileName("a.tsv"), v1::FILE_FORMAT_CSV);
  EXPECT_EQ(FormatFromFileName("a.json"), v1::FILE_FORMAT_JSON);
  EXPECT_EQ(FormatFromFileName("dir.v2/a.jsonl"), v1::FILE_FORMAT_JSON);
  EXPECT_EQ(FormatFromFileName("a.ndjson"), v1::FILE_FORMAT_JSON);
  EXPECT_EQ(FormatFromFileName("a.geojson"), v1::FILE_FORMAT_GEOJSON);
  EXPECT_EQ(FormatFromFileName("a.xlsx"), v1::FILE_FORMAT_UNSPECIFIED);
  EXPECT_EQ(FormatFromFileName("csv"), v1::FILE_FORMAT_UNSPECIFIED);
  EXPECT_EQ(FormatFromFileName(""), v1::FILE_FORMAT_UNSPECIFIED);
}

// ---- JSON --------------------------------------------------------------------------------------

TEST(JsonReader, ArrayOfObjectsKeepsNumbersAsWritten) {
  Result r = ReadWhole(
      R"( [ {"source_id": "c-1", "fill": 12.50, "n": 7, "big": 123456789012345678901234,
             "ok": true, "gone": null, "e": -1E-3},
           {"source_id":"c-2","name":"Sj\u00f8 \"x\""} ] )",
      v1::FILE_FORMAT_JSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log,
            "R1 [source_id=text:c-1] [fill=number:12.50] [n=number:7] "
            "[big=number:123456789012345678901234] [ok=true] [gone=null] [e=number:-1E-3]\n"
            "R2 [source_id=text:c-2] [name=text:Sjø \"x\"]\n"
            "status: OK\n");
}

TEST(JsonReader, EmptyArray) {
  Result r = ReadWhole("[]", v1::FILE_FORMAT_JSON);
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.rows_read, 0);
}

TEST(JsonReader, JsonLinesSkipBlankLines) {
  Result r = ReadWhole("{\"a\":1}\r\n\n  \n{\"a\":2}\n{\"a\":3}", v1::FILE_FORMAT_JSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log, "R1 [a=number:1]\nR2 [a=number:2]\nR3 [a=number:3]\nstatus: OK\n");
}

TEST(JsonReader, JsonLinesBadLineIsARowErrorAndTheNextLineIsRead) {
  Result r = ReadWhole("{\"a\":1}\n{\"a\": {\"b\": 1}\n[1,2]\n{\"a\":\"x\ny\"}\n{\"a\":,}\n{\"a\":4}\n",
                       v1::FILE_FORMAT_JSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log,
            "R1 [a=number:1]\n"
            "E2 [] row 2 does not hold one whole JSON object on its line (JSON lines need one "
            "object per line)\n"
            "E3 [] row 3 is not a JSON object\n"
            "E4 [] row 4 does not hold one whole JSON object on its line (JSON lines need one "
            "object per line)\n"
            "E5 [] row 5 is not a JSON object\n"
            "E6 [] row 6 is not valid JSON (a problem at byte 6 of the row)\n"
            "R7 [a=number:4]\n"
            "status: OK\n");
}

TEST(JsonReader, PrettyPrintedObjectsAreReadToo) {
  Result r = ReadWhole("{\n  \"temp\": 12.5,\n  \"pos\": {\"lat\": 58.9, \"lon\": 5.7}\n}\n"
                       "{\n  \"temp\": 13\n}\n",
                       v1::FILE_FORMAT_JSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log,
            "R1 [temp=number:12.5] [pos=geo:58.9,5.7]\nR2 [temp=number:13]\nstatus: OK\n");
}

TEST(JsonReader, NestedValuesAreRowErrorsNamingTheColumn) {
  Result r = ReadWhole(R"([{"a":1,"meta":{"x":1}},
                          {"a":2,"tags":[1,2]},
                          {"a":3,"pos":{"latitude":69.65,"longitude":18.96}},
                          {"a":4,"pos":{"lat":"69","lon":18}},
                          "text", 5, null,
                          {"a":6,"a":7}])",
                       v1::FILE_FORMAT_JSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log,
            "E1 [meta] row 1, \"meta\": an object cannot be imported; give single values, or "
            "{\"lat\": ..., \"lon\": ...} for a position\n"
            "E2 [tags] row 2, \"tags\": a list cannot be imported; give single values\n"
            "R3 [a=number:3] [pos=geo:69.65,18.96]\n"
            "E4 [pos] row 4, \"pos\": an object cannot be imported; give single values, or "
            "{\"lat\": ..., \"lon\": ...} for a position\n"
            "E5 [] row 5 is not a JSON object\n"
            "E6 [] row 6 is not a JSON object\n"
            "E7 [] row 7 is not a JSON object\n"
            "E8 [a] row 8: \"a\" appears twice\n"
            "status: OK\n");
}

TEST(JsonReader, StringsMayHoldBracketsCommasAndEscapedQuotes) {
  Result r = ReadWhole(R"([{"a":"x\"}],{[\\"},{"b":"\\"}])", v1::FILE_FORMAT_JSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log, "R1 [a=text:x\"}],{[\\]\nR2 [b=text:\\]\nstatus: OK\n");
}

TEST(JsonReader, EmptyElementsAndTrailingComma) {
  Result r = ReadWhole("[{\"a\":1},,{\"a\":2},]", v1::FILE_FORMAT_JSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log,
            "R1 [a=number:1]\nE2 [] row 2 is empty (two commas in a row)\nR3 [a=number:2]\n"
            "status: OK\n");
}

TEST(JsonReader, InvalidUtf8IsARowError) {
  Result r = ReadWhole("[{\"beach\":\"Sj\xF8vann\"},{\"beach\":\"Sjøvann\"}]", v1::FILE_FORMAT_JSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log,
            "E1 [] row 1 is not valid UTF-8; save the file as UTF-8\n"
            "R2 [beach=text:Sjøvann]\nstatus: OK\n");
}

TEST(JsonReader, TenMegabyteElementIsSkippedWithoutHoldingIt) {
  std::string big = "{\"a\":\"";
  big.append(10 << 20, 'x');
  big += "\",\"b\":[";
  for (int i = 0; i < 1000; ++i) big += "{\"c\":\"]}\"},";
  big += "1]}";
  const std::string array = "[{\"a\":1}," + big + ",{\"a\":3}]";
  Result r = Reader(v1::FILE_FORMAT_JSON).Read(Split(array, {64 << 10}));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].row, 2);
  EXPECT_THAT(r.errors[0].message, HasSubstr("row 2 is larger than 1 MiB"));
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[1].row, 3);
  EXPECT_LE(r.max_buffered, kMaxRecordBytes + 4096);

  const std::string lines = "{\"a\":1}\n" + big + "\n{\"a\":3}\n";
  r = Reader(v1::FILE_FORMAT_JSON).Read(Split(lines, {64 << 10}));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].row, 2);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_LE(r.max_buffered, kMaxRecordBytes + 4096);
}

TEST(JsonReader, DeepNestingIsARowError) {
  const std::string deep = "[{\"a\":" + std::string(100000, '[') + std::string(100000, ']') +
                           "},{\"a\":2}]";
  Result r = ReadWhole(deep, v1::FILE_FORMAT_JSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, HasSubstr("nests lists or objects more than 64 deep"));
  EXPECT_EQ(r.records.size(), 1u);
}

TEST(JsonReader, TruncatedFileFailsFinishAndEarlierRowsStand) {
  Result r = ReadWhole("[{\"a\":1},{\"a\":\"cut", v1::FILE_FORMAT_JSON);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(), "the file ends inside row 2; it is cut off");
  EXPECT_EQ(r.records.size(), 1u);

  r = ReadWhole("[{\"a\":1}, ", v1::FILE_FORMAT_JSON);
  EXPECT_THAT(r.status.message(), HasSubstr("before the list's closing ]"));
  EXPECT_EQ(r.records.size(), 1u);

  r = ReadWhole("{\"a\":1}\n{\"a\":", v1::FILE_FORMAT_JSON);
  EXPECT_EQ(r.status.message(), "the file ends inside row 2; it is cut off");
  EXPECT_EQ(r.records.size(), 1u);
}

TEST(JsonReader, NotJsonIsFatal) {
  EXPECT_THAT(ReadWhole("id,value\n1,2\n", v1::FILE_FORMAT_JSON).status.message(),
              HasSubstr("the file is not JSON: it starts with 'i'"));
  EXPECT_EQ(ReadWhole("", v1::FILE_FORMAT_JSON).status.code(),
            absl::StatusCode::kInvalidArgument);
  Result r = ReadWhole("[{\"a\":1}] x", v1::FILE_FORMAT_JSON);
  EXPECT_THAT(r.status.message(), HasSubstr("goes on after the list's closing ]"));
  EXPECT_EQ(r.records.size(), 1u);
}

TEST(JsonReader, SameResultWhateverTheChunks) {
  ExpectSameWhateverTheChunks(
      "\xEF\xBB\xBF[ {\"a\": \"x\\\"]}\\\\\", \"n\": 1.50, \"ø\": \"日本🌊\"},\r\n"
      " {\"bad\": \"Sj\xF8\"}, {\"nested\": {\"x\": 1}}, ,\n"
      " {\"pos\": {\"lat\": 1, \"lon\": 2}}, [1], {\"last\": null} ]\n",
      v1::FILE_FORMAT_JSON);
  ExpectSameWhateverTheChunks(
      "{\"a\":\"x\\\"}\"}\n{\"a\": {\"b\":1}\n\n{\"c\":true}\r\njunk\n{\"d\":\"ø\"}",
      v1::FILE_FORMAT_JSON);
  ExpectSameWhateverTheChunks("{\n \"a\": 1\n}\n{\"b\":\n2}", v1::FILE_FORMAT_JSON);
  ExpectSameWhateverTheChunks("[{\"a\":1},{\"a\":", v1::FILE_FORMAT_JSON);
}

// ---- GeoJSON -----------------------------------------------------------------------------------

constexpr absl::string_view kFeatures = R"("features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5.73, 58.97]},
     "properties": {"source_id": "trap-1", "caught": 2}},
    {"type": "Feature", "geometry": null, "properties": {"source_id": "trap-2"}},
    {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[5, 58], [6, 59]]},
     "properties": {"source_id": "trap-3"}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [18.96, 69.65, 10]},
     "properties": null}
  ])";

constexpr absl::string_view kExpectedFeatures =
    "R1 [source_id=text:trap-1] [caught=number:2] [geometry=geo:58.97,5.73]\n"
    "R2 [source_id=text:trap-2]\n"
    "E3 [geometry] feature 3 has a LineString geometry; only Point geometries can be imported\n"
    "R4 [geometry=geo:69.65,18.96]\n"
    "status: OK\n";

TEST(GeoJsonReader, FeaturesAfterOtherKeys) {
  const std::string file = absl::StrCat(
      R"({"type": "FeatureCollection", "name": "rat traps", "crs": {"type": "name",
          "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, "bbox": [5, 58, 19, 70], )",
      kFeatures, "}\n");
  EXPECT_EQ(ReadWhole(file, v1::FILE_FORMAT_GEOJSON).log, kExpectedFeatures);
}

TEST(GeoJsonReader, FeaturesBeforeOtherKeys) {
  const std::string file =
      absl::StrCat("{", kFeatures, R"(, "name": "x, \"}\" ]", "type": "FeatureCollection"})");
  EXPECT_EQ(ReadWhole(file, v1::FILE_FORMAT_GEOJSON).log, kExpectedFeatures);
}

TEST(GeoJsonReader, PointIsLongitudeThenLatitude) {
  Result r = ReadWhole(R"({"type":"FeatureCollection","features":[{"type":"Feature",
      "geometry":{"type":"Point","coordinates":[10.75,59.91]},"properties":{}}]})",
                       v1::FILE_FORMAT_GEOJSON);
  ASSERT_EQ(r.records.size(), 1u);
  const RawValue& geometry = r.records[0].columns.back().second;
  EXPECT_EQ(r.records[0].columns.back().first, "geometry");
  EXPECT_EQ(geometry.kind, RawValue::kGeoPoint);
  EXPECT_EQ(geometry.latitude, 59.91);
  EXPECT_EQ(geometry.longitude, 10.75);
}

TEST(GeoJsonReader, BadFeaturesAreRowErrors) {
  Result r = ReadWhole(R"({"type":"FeatureCollection","features":[
      {"type":"Feature","geometry":{"type":"Point","coordinates":[1]},"properties":{}},
      {"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"geometry":1}},
      {"type":"Feature","properties":{"nested":{"a":1}}},
      {"type":"Polygon","coordinates":[]},
      "feature",
      {"type":"Feature","properties":{"ok":1}}]})",
                       v1::FILE_FORMAT_GEOJSON);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.log,
            "E1 [geometry] feature 1: a Point's coordinates must be [longitude, latitude]\n"
            "E2 [geometry] feature 2 has a property named \"geometry\" as well as a geometry; "
            "rename the property\n"
            "E3 [nested] feature 3, \"nested\": an object cannot be imported; give single "
            "values, or {\"lat\": ..., \"lon\": ...} for a position\n"
            "E4 [] feature 4 is not a GeoJSON Feature\n"
            "E5 [] feature 5 is not a JSON object\n"
            "R6 [ok=number:1]\n"
            "status: OK\n");
}

TEST(GeoJsonReader, NotAFeatureCollectionIsFatal) {
  EXPECT_THAT(ReadWhole(R"({"type":"Feature","geometry":null,"properties":{}})",
                        v1::FILE_FORMAT_GEOJSON)
                  .status.message(),
              HasSubstr("not a GeoJSON FeatureCollection (its \"type\" is \"Feature\")"));
  EXPECT_THAT(ReadWhole("[{\"a\":1}]", v1::FILE_FORMAT_GEOJSON).status.message(),
              HasSubstr("not a GeoJSON FeatureCollection"));
  EXPECT_THAT(ReadWhole(R"({"features":[]})", v1::FILE_FORMAT_GEOJSON).status.message(),
              HasSubstr("it has no \"type\""));
  EXPECT_THAT(ReadWhole(R"({"type":"FeatureCollection"})", v1::FILE_FORMAT_GEOJSON)
                  .status.message(),
              HasSubstr("no \"features\" list"));
  EXPECT_THAT(ReadWhole(R"({"type":"FeatureCollection","features":{}})", v1::FILE_FORMAT_GEOJSON)
                  .status.message(),
              HasSubstr("\"features\" must be a list"));
  // A wrong type after the features: the features already read stand, and the file fails.
  Result r = ReadWhole(
      R"({"features":[{"type":"Feature","properties":{"a":1}}],"type":"Topology"})",
      v1::FILE_FORMAT_GEOJSON);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.records.size(), 1u);
}

TEST(GeoJsonReader, TruncatedFileFailsFinish) {
  Result r = ReadWhole(
      R"({"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":1}},{"type":)",
      v1::FILE_FORMAT_GEOJSON);
  EXPECT_EQ(r.status.message(), "the file ends inside feature 2; it is cut off");
  EXPECT_EQ(r.records.size(), 1u);
  r = ReadWhole(R"({"type":"FeatureCollection","features":[]  )", v1::FILE_FORMAT_GEOJSON);
  EXPECT_THAT(r.status.message(), HasSubstr("before the FeatureCollection's closing }"));
}

TEST(GeoJsonReader, TenMegabyteMemberIsSkippedWithoutHoldingIt) {
  std::string file = R"({"type":"FeatureCollection","description":")";
  file.append(10 << 20, 'd');
  file += R"(","features":[{"type":"Feature","properties":{"a":1}}]})";
  Result r = Reader(v1::FILE_FORMAT_GEOJSON).Read(Split(file, {64 << 10}));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.records.size(), 1u);
  EXPECT_LE(r.max_buffered, 64u << 10);
}

TEST(GeoJsonReader, SameResultWhateverTheChunks) {
  ExpectSameWhateverTheChunks(
      absl::StrCat("\xEF\xBB\xBF{\"name\": \"x\\\"}\", ", kFeatures,
                   ", \"type\": \"FeatureCollection\"}"),
      v1::FILE_FORMAT_GEOJSON);
}

}  // namespace
}  // namespace smartby::ingestion
