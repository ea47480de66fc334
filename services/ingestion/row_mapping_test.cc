#include "services/ingestion/row_mapping.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::ingestion {
namespace {

using ::testing::HasSubstr;

catalogue_v1::SchemaField Field(const std::string& name, catalogue_v1::FieldType type) {
  catalogue_v1::SchemaField f;
  f.set_name(name);
  f.set_type(type);
  return f;
}

DatasetSchema Schema() {
  DatasetSchema schema;
  schema.name = "bathing-water";
  catalogue_v1::SchemaField temp = Field("water_temp", catalogue_v1::FIELD_TYPE_DOUBLE);
  temp.set_unit("°C");
  temp.set_min_value(-5);
  temp.set_max_value(40);
  schema.fields.push_back(temp);
  schema.fields.push_back(Field("visitors", catalogue_v1::FIELD_TYPE_INTEGER));
  schema.fields.push_back(Field("beach", catalogue_v1::FIELD_TYPE_STRING));
  schema.fields.push_back(Field("flag", catalogue_v1::FIELD_TYPE_BOOLEAN));
  schema.fields.push_back(Field("sampled", catalogue_v1::FIELD_TYPE_TIMESTAMP));
  schema.fields.push_back(Field("position", catalogue_v1::FIELD_TYPE_GEOPOINT));
  return schema;
}

RawValue Text(const std::string& text) {
  RawValue v;
  v.kind = RawValue::kText;
  v.text = text;
  return v;
}
RawValue Number(const std::string& text) {
  RawValue v;
  v.kind = RawValue::kNumber;
  v.text = text;
  return v;
}
RawValue Bool(bool b) {
  RawValue v;
  v.kind = RawValue::kBool;
  v.boolean = b;
  return v;
}
RawValue Geo(double lat, double lon) {
  RawValue v;
  v.kind = RawValue::kGeoPoint;
  v.latitude = lat;
  v.longitude = lon;
  return v;
}
RawValue Null() { return RawValue(); }

RawRecord Record(std::vector<std::pair<std::string, RawValue>> columns) {
  RawRecord r;
  r.row = 1;
  r.columns = std::move(columns);
  return r;
}

ColumnMapping Mapping(absl::string_view text) {
  absl::StatusOr<ColumnMapping> mapping = ColumnMapping::Parse(text);
  EXPECT_TRUE(mapping.ok()) << mapping.status();
  return *mapping;
}

// ---- ColumnMapping -----------------------------------------------------------------------------

TEST(ColumnMappingParse, FlagForm) {
  ColumnMapping m = Mapping(" Temp = water_temp ,Tid=time,, Målested=source_id,Kommentar= ");
  EXPECT_EQ(m.columns.size(), 4u);
  EXPECT_EQ(m.columns.at("Temp"), "water_temp");
  EXPECT_EQ(m.columns.at("Tid"), "time");
  EXPECT_EQ(m.columns.at("Målested"), "source_id");
  EXPECT_EQ(m.columns.at("Kommentar"), "");
  EXPECT_TRUE(Mapping("").columns.empty());
}

TEST(ColumnMappingParse, PlainErrors) {
  EXPECT_EQ(ColumnMapping::Parse("Temp").status().message(),
            "mapping: \"Temp\" has no '='; write column=field, for example Temp=water_temp");
  EXPECT_THAT(ColumnMapping::Parse("=water_temp").status().message(), HasSubstr("names no column"));
  EXPECT_THAT(ColumnMapping::Parse("a=x,a=y").status().message(),
              HasSubstr("column \"a\" is mapped twice"));
  EXPECT_EQ(ColumnMapping::Parse("a=x,b=x").status().message(),
            "mapping: columns \"a\" and \"b\" are both mapped to x");
  EXPECT_EQ(ColumnMapping::Parse("a=x").status().code(), absl::StatusCode::kOk);
  EXPECT_TRUE(ColumnMapping::Parse("a=,b=").ok());  // leaving out two columns is fine
}

TEST(ColumnMappingValidate, TargetsMustExist) {
  EXPECT_TRUE(Mapping("Temp=water_temp,Tid=time,Sted=source_id,X=").Validate(Schema()).ok());
  absl::Status status = Mapping("Temp=water_tmp").Validate(Schema());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("mapping Temp=water_tmp: dataset \"bathing-water\" has "
                                          "no field \"water_tmp\"; its fields are water_temp, "));
  ColumnMapping direct;  // as built from ImportOptions.mapping
  direct.columns["a"] = "time";
  direct.columns["b"] = "time";
  EXPECT_THAT(direct.Validate(Schema()).message(), HasSubstr("both mapped to time"));
}

// ---- RecordToReading ---------------------------------------------------------------------------

TEST(RecordToReading, RecognisedColumnsWithoutAMapping) {
  v1::Reading reading;
  ASSERT_EQ(RecordToReading(Record({{"source_id", Text("madla")},
                                    {"time", Text("2026-06-01T12:00:00+02:00")},
                                    {"water_temp", Text("17.5")},
                                    {"beach", Text("Madla")}}),
                            ColumnMapping(), Schema(), &reading),
            std::nullopt);
  EXPECT_EQ(reading.source_id(), "madla");
  EXPECT_EQ(reading.time().seconds(), 1780308000);
  EXPECT_EQ(reading.values().at("water_temp").double_value(), 17.5);
  EXPECT_EQ(reading.values().at("beach").string_value(), "Madla");

  ASSERT_EQ(RecordToReading(Record({{"Source", Text("madla")},
                                    {"TimeStamp", Number("1780308000")},
                                    {"visitors", Number("12")}}),
                            ColumnMapping(), Schema(), &reading),
            std::nullopt);
  EXPECT_EQ(reading.source_id(), "madla");
  EXPECT_EQ(reading.time().seconds(), 1780308000);
  EXPECT_EQ(reading.values().at("visitors").integer_value(), 12);
  EXPECT_EQ(reading.values().size(), 1u);
}

TEST(RecordToReading, SourceAndTimestampAreFieldsWhenTheSchemaHasThem) {
  DatasetSchema schema = Schema();
  schema.fields.push_back(Field("source", catalogue_v1::FIELD_TYPE_STRING));
  v1::Reading reading;
  ColumnMapping mapping;
  mapping.default_source_id = "s1";
  ASSERT_EQ(RecordToReading(Record({{"source", Text("meter")}, {"time", Text("1000")}}), mapping,
                            schema, &reading),
            std::nullopt);
  EXPECT_EQ(reading.source_id(), "s1");
  EXPECT_EQ(reading.values().at("source").string_value(), "meter");
}

TEST(RecordToReading, MappingRenamesAndLeavesOut) {
  ColumnMapping mapping = Mapping("Temp=water_temp,Tid=time,Målested=source_id,Kommentar=");
  v1::Reading reading;
  ASSERT_EQ(RecordToReading(Record({{"Målested", Text("sjobadet")},
                                    {"Tid", Text("2026-06-01T10:00:00Z")},
                                    {"Temp", Text("18.25")},
                                    {"Kommentar", Text("kaldt")},
                                    {"flag", Text("ja")}}),
                            mapping, Schema(), &reading),
            std::nullopt);
  EXPECT_EQ(reading.source_id(), "sjobadet");
  EXPECT_EQ(reading.values().at("water_temp").double_value(), 18.25);
  EXPECT_TRUE(reading.values().at("flag").bool_value());
  EXPECT_EQ(reading.values().size(), 2u);
}

TEST(RecordToReading, DefaultSource) {
  ColumnMapping mapping;
  mapping.default_source_id = "beach-7";
  v1::Reading reading;
  ASSERT_EQ(RecordToReading(Record({{"time", Text("1780308000")}, {"water_temp", Text("1")}}),
                            mapping, Schema(), &reading),
            std::nullopt);
  EXPECT_EQ(reading.source_id(), "beach-7");
  // An empty source cell falls back too.
  ASSERT_EQ(RecordToReading(Record({{"source_id", Text("")},
                                    {"time", Text("1780308000")},
                                    {"water_temp", Text("1")}}),
                            mapping, Schema(), &reading),
            std::nullopt);
  EXPECT_EQ(reading.source_id(), "beach-7");
  // Without a default there is no source.
  std::optional<Rejection> r =
      RecordToReading(Record({{"time", Text("1780308000")}, {"water_temp", Text("1")}}),
                      ColumnMapping(), Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_UNKNOWN_SOURCE);
}

TEST(RecordToReading, UnknownColumn) {
  v1::Reading reading;
  std::optional<Rejection> r = RecordToReading(
      Record({{"source_id", Text("a")}, {"time", Text("1")}, {"Salinity", Text("")}}),
      ColumnMapping(), Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_UNKNOWN_FIELD);
  EXPECT_EQ(r->field, "Salinity");
  EXPECT_EQ(r->message,
            "column \"Salinity\" is not a field of dataset \"bathing-water\"; map it to a field "
            "(Salinity=field_name) or leave it out (Salinity=)");

  r = RecordToReading(Record({{"source_id", Text("a")}, {"time", Text("1")}, {"T", Text("1")}}),
                      Mapping("T=water_tmp"), Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_UNKNOWN_FIELD);
  EXPECT_EQ(r->field, "T");
  EXPECT_THAT(r->message, HasSubstr("mapped to \"water_tmp\""));
}

TEST(RecordToReading, MissingTime) {
  v1::Reading reading;
  std::optional<Rejection> r =
      RecordToReading(Record({{"source_id", Text("a")}, {"water_temp", Text("1")}}),
                      ColumnMapping(), Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_MISSING_TIME);
  EXPECT_EQ(r->field, "");
  EXPECT_THAT(r->message, HasSubstr("add a \"time\" column"));

  r = RecordToReading(
      Record({{"source_id", Text("a")}, {"Tid", Null()}, {"water_temp", Text("1")}}),
      Mapping("Tid=time"), Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_MISSING_TIME);
  EXPECT_EQ(r->field, "Tid");
}

TEST(RecordToReading, BadTimeIsWrongTypeNamingTheColumn) {
  v1::Reading reading;
  for (const RawValue& bad : {Text("01.06.2026 12:00"), Text("2026-06-01T12:00:00"),
                              Text("12abc"), Number("1e300"), Bool(true)}) {
    std::optional<Rejection> r = RecordToReading(
        Record({{"source_id", Text("a")}, {"Tid", bad}, {"water_temp", Text("1")}}),
        Mapping("Tid=time"), Schema(), &reading);
    ASSERT_NE(r, std::nullopt) << bad.text;
    EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
    EXPECT_EQ(r->field, "Tid");
    EXPECT_THAT(r->message, HasSubstr("column \"Tid\": expected a time"));
  }
}

TEST(RecordToReading, EpochSeconds) {
  struct Case {
    RawValue time;
    int64_t seconds;
    int32_t nanos;
  };
  const Case cases[] = {
      {Text("1780308000"), 1780308000, 0},
      {Text(" 1780308000.25 "), 1780308000, 250000000},
      {Number("1780308000.123456"), 1780308000, 123456000},
      {Number("1.7803080005e9"), 1780308000, 500000000},
      {Text("-1.5"), -2, 500000000},
      {Text("0"), 0, 0},
  };
  for (const Case& c : cases) {
    v1::Reading reading;
    ASSERT_EQ(RecordToReading(Record({{"source_id", Text("a")},
                                      {"time", c.time},
                                      {"water_temp", Text("1")}}),
                              ColumnMapping(), Schema(), &reading),
              std::nullopt)
        << c.time.text;
    EXPECT_EQ(reading.time().seconds(), c.seconds) << c.time.text;
    EXPECT_EQ(reading.time().nanos(), c.nanos) << c.time.text;
  }
}

TEST(RecordToReading, EmptyCellsAreSkipped) {
  v1::Reading reading;
  ASSERT_EQ(RecordToReading(Record({{"source_id", Text("a")},
                                    {"time", Text("1")},
                                    {"water_temp", Text("")},
                                    {"visitors", Null()},
                                    {"beach", Text("x")}}),
                            ColumnMapping(), Schema(), &reading),
            std::nullopt);
  EXPECT_EQ(reading.values().size(), 1u);
  // A row with nothing but empty cells has no values.
  std::optional<Rejection> r = RecordToReading(
      Record({{"source_id", Text("a")}, {"time", Text("1")}, {"water_temp", Text("")}}),
      ColumnMapping(), Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_NO_VALUES);
}

TEST(RecordToReading, JsonValuesByFieldType) {
  const auto convert = [](const std::string& field, const RawValue& value,
                          v1::Reading* reading) {
    return RecordToReading(
        Record({{"source_id", Text("a")}, {"time", Number("1")}, {field, value}}),
        ColumnMapping(), Schema(), reading);
  };
  v1::Reading reading;
  ASSERT_EQ(convert("visitors", Number("12"), &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("visitors").integer_value(), 12);
  ASSERT_EQ(convert("visitors", Number("12.0"), &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("visitors").integer_value(), 12);
  ASSERT_EQ(convert("visitors", Number("1e3"), &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("visitors").integer_value(), 1000);
  ASSERT_EQ(convert("water_temp", Number("1e1"), &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("water_temp").double_value(), 10);
  ASSERT_EQ(convert("water_temp", Number("7"), &reading), std::nullopt);
  EXPECT_TRUE(reading.values().at("water_temp").has_double_value());
  ASSERT_EQ(convert("beach", Number("4006"), &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("beach").string_value(), "4006");
  ASSERT_EQ(convert("flag", Bool(false), &reading), std::nullopt);
  EXPECT_FALSE(reading.values().at("flag").bool_value());
  ASSERT_EQ(convert("flag", Number("1"), &reading), std::nullopt);
  EXPECT_TRUE(reading.values().at("flag").bool_value());
  ASSERT_EQ(convert("sampled", Number("1780308000"), &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("sampled").timestamp_value().seconds(), 1780308000);
  ASSERT_EQ(convert("sampled", Text("2026-06-01T10:00:00Z"), &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("sampled").timestamp_value().seconds(), 1780308000);
  ASSERT_EQ(convert("sampled", Text("1780308000"), &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("sampled").timestamp_value().seconds(), 1780308000);
  ASSERT_EQ(convert("position", Geo(58.97, 5.73), &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("position").geo_value().latitude(), 58.97);

  std::optional<Rejection> r = convert("visitors", Number("12.5"), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
  EXPECT_EQ(r->field, "visitors");
  EXPECT_EQ(r->message, "column \"visitors\": expected a whole number such as -12; got \"12.5\"");
  for (const auto& [field, value] : std::vector<std::pair<std::string, RawValue>>{
           {"water_temp", Bool(true)},
           {"flag", Text("kanskje")},
           {"beach", Bool(true)},
           {"position", Number("5")},
           {"water_temp", Geo(1, 2)},
           {"visitors", Number("1e30")}}) {
    r = convert(field, value, &reading);
    ASSERT_NE(r, std::nullopt) << field;
    EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE) << field;
    EXPECT_EQ(r->field, field);
  }
}

TEST(RecordToReading, MessagesNameColumnAndField) {
  v1::Reading reading;
  std::optional<Rejection> r = RecordToReading(
      Record({{"source_id", Text("a")}, {"time", Text("1")}, {"Temp", Text("varm")}}),
      Mapping("Temp=water_temp"), Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
  EXPECT_EQ(r->field, "Temp");
  EXPECT_EQ(r->message,
            "column \"Temp\" (field water_temp): expected a number such as 12.5 or 1e3; got "
            "\"varm\"");
}

TEST(RecordToReading, RangesAreCheckedAndNameTheColumn) {
  v1::Reading reading;
  std::optional<Rejection> r = RecordToReading(
      Record({{"source_id", Text("a")}, {"time", Text("1")}, {"Temp", Text("45,5")}}),
      [] {
        ColumnMapping m = Mapping("Temp=water_temp");
        m.decimal_comma = true;
        return m;
      }(),
      Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_OUT_OF_RANGE);
  EXPECT_EQ(r->field, "Temp");
  EXPECT_EQ(r->message,
            "column \"Temp\" (field water_temp): 45.5 °C is outside the valid range -5 to 40 °C");
  // And a position outside WGS84.
  r = RecordToReading(
      Record({{"source_id", Text("a")}, {"time", Text("1")}, {"geometry", Geo(95, 5)}}),
      ColumnMapping(), Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_OUT_OF_RANGE);
  EXPECT_EQ(r->field, "geometry");
}

TEST(RecordToReading, GeometryFillsTheOnlyGeoPointField) {
  v1::Reading reading;
  ASSERT_EQ(RecordToReading(Record({{"source_id", Text("a")},
                                    {"time", Text("1")},
                                    {"geometry", Geo(58.97, 5.73)}}),
                            ColumnMapping(), Schema(), &reading),
            std::nullopt);
  EXPECT_EQ(reading.values().at("position").geo_value().longitude(), 5.73);

  // Mapped explicitly, or left out.
  DatasetSchema two = Schema();
  two.fields.push_back(Field("home", catalogue_v1::FIELD_TYPE_GEOPOINT));
  const RawRecord record =
      Record({{"source_id", Text("a")}, {"time", Text("1")}, {"geometry", Geo(1, 2)},
              {"beach", Text("x")}});
  std::optional<Rejection> r = RecordToReading(record, ColumnMapping(), two, &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_UNKNOWN_FIELD);
  EXPECT_EQ(r->field, "geometry");
  EXPECT_THAT(r->message, HasSubstr("several position fields (position, home)"));
  ASSERT_EQ(RecordToReading(record, Mapping("geometry=home"), two, &reading), std::nullopt);
  EXPECT_EQ(reading.values().at("home").geo_value().latitude(), 1);
  ASSERT_EQ(RecordToReading(record, Mapping("geometry="), two, &reading), std::nullopt);
  EXPECT_EQ(reading.values().size(), 1u);

  DatasetSchema none;
  none.name = "counts";
  none.fields.push_back(Field("n", catalogue_v1::FIELD_TYPE_INTEGER));
  r = RecordToReading(record, ColumnMapping(), none, &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_THAT(r->message, HasSubstr("has no position field; leave the geometry out"));
}

TEST(RecordToReading, TwoColumnsForOneTargetAreMalformed) {
  v1::Reading reading;
  std::optional<Rejection> r = RecordToReading(
      Record({{"source_id", Text("a")}, {"time", Text("1")}, {"timestamp", Text("2")},
              {"beach", Text("x")}}),
      ColumnMapping(), Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_MALFORMED);
  EXPECT_EQ(r->field, "timestamp");

  ColumnMapping direct;
  direct.columns["T1"] = "water_temp";
  direct.columns["T2"] = "water_temp";
  r = RecordToReading(Record({{"source_id", Text("a")}, {"time", Text("1")}, {"T1", Text("1")},
                              {"T2", Text("2")}}),
                      direct, Schema(), &reading);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_MALFORMED);
  EXPECT_EQ(r->message,
            "columns \"T1\" and \"T2\" both give field water_temp; map one of them out (T2=)");
}

// ---- end to end: file bytes to readings --------------------------------------------------------

struct Imported {
  std::vector<v1::Reading> readings;
  std::vector<std::string> problems;  // "row N [column] reason: message"
  absl::Status status;
};

Imported Import(absl::string_view file, const FormatOptions& format, const ColumnMapping& mapping,
                const DatasetSchema& schema) {
  Imported out;
  auto reader = NewRecordReader(
      format,
      [&](RawRecord&& record) {
        v1::Reading reading;
        if (std::optional<Rejection> r = RecordToReading(record, mapping, schema, &reading)) {
          out.problems.push_back(absl::StrCat("row ", record.row, " [", r->field, "] ",
                                              v1::RejectReason_Name(r->reason), ": ",
                                              r->message));
          return;
        }
        out.readings.push_back(std::move(reading));
      },
      [&](RecordError&& e) {
        out.problems.push_back(absl::StrCat("row ", e.row, " [", e.column, "] MALFORMED: ",
                                            e.message));
      });
  EXPECT_TRUE(reader.ok());
  out.status = (*reader)->Feed(file);
  if (out.status.ok()) out.status = (*reader)->Finish();
  return out;
}

TEST(EndToEnd, NorwegianCsvWithSemicolonAndDecimalComma) {
  FormatOptions format;
  format.delimiter = ';';
  ColumnMapping mapping = Mapping("Målested=source_id,Tidspunkt=time,Temperatur=water_temp");
  mapping.decimal_comma = true;
  ASSERT_TRUE(mapping.Validate(Schema()).ok());
  Imported got = Import(
      "\xEF\xBB\xBF"
      "Målested;Tidspunkt;Temperatur;beach;position\r\n"
      "madla;2026-06-01T12:00:00+02:00;17,5;\"Madla; sjøbad\";\"58,95 5,71\"\r\n"
      "madla;2026-06-01T13:00:00+02:00;\"18,25\";;\r\n"
      "madla;2026-06-01T14:00:00+02:00;abc;;\r\n"
      "madla;2026-06-01T15:00:00+02:00;55;;\r\n"
      "madla;;18;;\r\n"
      "madla;2026-06-01T16:00:00+02:00;19\r\n",
      format, mapping, Schema());
  ASSERT_TRUE(got.status.ok()) << got.status;
  ASSERT_EQ(got.readings.size(), 2u);
  EXPECT_EQ(got.readings[0].source_id(), "madla");
  EXPECT_EQ(got.readings[0].time().seconds(), 1780308000);
  EXPECT_EQ(got.readings[0].values().at("water_temp").double_value(), 17.5);
  EXPECT_EQ(got.readings[0].values().at("beach").string_value(), "Madla; sjøbad");
  EXPECT_EQ(got.readings[0].values().at("position").geo_value().latitude(), 58.95);
  EXPECT_EQ(got.readings[0].values().at("position").geo_value().longitude(), 5.71);
  EXPECT_EQ(got.readings[1].values().at("water_temp").double_value(), 18.25);
  EXPECT_EQ(got.readings[1].values().size(), 1u);
  ASSERT_EQ(got.problems.size(), 4u);
  EXPECT_EQ(got.problems[0],
            "row 3 [Temperatur] REJECT_REASON_WRONG_TYPE: column \"Temperatur\" (field "
            "water_temp): expected a number such as 12,5, 12.5 or 1e3 (no thousands "
            "separators); got \"abc\"");
  EXPECT_EQ(got.problems[1],
            "row 4 [Temperatur] REJECT_REASON_OUT_OF_RANGE: column \"Temperatur\" (field "
            "water_temp): 55 °C is outside the valid range -5 to 40 °C");
  EXPECT_THAT(got.problems[2], HasSubstr("row 5 [Tidspunkt] REJECT_REASON_MISSING_TIME"));
  EXPECT_EQ(got.problems[3],
            "row 6 [] MALFORMED: row 6 has 3 cells; expected 5 as in the header row");
}

TEST(EndToEnd, GeoJsonRatTraps) {
  DatasetSchema schema;
  schema.name = "rat-traps";
  schema.fields.push_back(Field("caught", catalogue_v1::FIELD_TYPE_INTEGER));
  schema.fields.push_back(Field("position", catalogue_v1::FIELD_TYPE_GEOPOINT));
  FormatOptions format;
  format.format = v1::FILE_FORMAT_GEOJSON;
  Imported got = Import(R"({"type":"FeatureCollection","features":[
      {"type":"Feature","geometry":{"type":"Point","coordinates":[5.73,58.97]},
       "properties":{"trap":"t-1","checked":"2026-06-01T08:00:00Z","caught":2}}]})",
                        format, Mapping("trap=source_id,checked=time"), schema);
  ASSERT_TRUE(got.status.ok()) << got.status;
  ASSERT_EQ(got.readings.size(), 1u) << (got.problems.empty() ? "" : got.problems[0]);
  EXPECT_EQ(got.readings[0].source_id(), "t-1");
  EXPECT_EQ(got.readings[0].values().at("caught").integer_value(), 2);
  EXPECT_EQ(got.readings[0].values().at("position").geo_value().latitude(), 58.97);
  EXPECT_EQ(got.readings[0].values().at("position").geo_value().longitude(), 5.73);
}

TEST(EndToEnd, RecordToReadingThroughput) {
  // Not a limit, a number to watch: CSV-like rows with three values each.
  const DatasetSchema schema = Schema();
  const ColumnMapping mapping;
  RawRecord record = Record({{"source_id", Text("container-0412")},
                             {"time", Text("2026-06-01T12:00:00Z")},
                             {"water_temp", Text("17.5")},
                             {"visitors", Text("120")},
                             {"beach", Text("Madla")}});
  constexpr int kRows = 200000;
  int accepted = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRows; ++i) {
    v1::Reading reading;
    if (!RecordToReading(record, mapping, schema, &reading)) ++accepted;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(accepted, kRows);
  std::printf("[ info     ] RecordToReading: %.0f rows/s\n", kRows / seconds);
}

}  // namespace
}  // namespace smartby::ingestion
