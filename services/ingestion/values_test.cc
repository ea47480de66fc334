#include "services/ingestion/values.h"

#include <cmath>
#include <limits>
#include <string>

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

DatasetSchema BathingWater() {
  DatasetSchema schema;
  schema.name = "bathing-water";
  catalogue_v1::SchemaField temp = Field("water_temp", catalogue_v1::FIELD_TYPE_DOUBLE);
  temp.set_unit("°C");
  temp.set_min_value(-5);
  temp.set_max_value(40);
  schema.fields.push_back(temp);
  catalogue_v1::SchemaField visitors = Field("visitors", catalogue_v1::FIELD_TYPE_INTEGER);
  visitors.set_min_value(0);
  visitors.set_max_value(10000);
  schema.fields.push_back(visitors);
  schema.fields.push_back(Field("beach", catalogue_v1::FIELD_TYPE_STRING));
  schema.fields.push_back(Field("flag", catalogue_v1::FIELD_TYPE_BOOLEAN));
  schema.fields.push_back(Field("sampled", catalogue_v1::FIELD_TYPE_TIMESTAMP));
  schema.fields.push_back(Field("position", catalogue_v1::FIELD_TYPE_GEOPOINT));
  return schema;
}

v1::Value Double(double v) {
  v1::Value value;
  value.set_double_value(v);
  return value;
}
v1::Value Integer(int64_t v) {
  v1::Value value;
  value.set_integer_value(v);
  return value;
}
v1::Value String(const std::string& v) {
  v1::Value value;
  value.set_string_value(v);
  return value;
}
v1::Value Geo(double lat, double lon) {
  v1::Value value;
  value.mutable_geo_value()->set_latitude(lat);
  value.mutable_geo_value()->set_longitude(lon);
  return value;
}
v1::Value Time(int64_t seconds, int32_t nanos) {
  v1::Value value;
  value.mutable_timestamp_value()->set_seconds(seconds);
  value.mutable_timestamp_value()->set_nanos(nanos);
  return value;
}

// ---- DatasetSchema -------------------------------------------------------------------------

TEST(DatasetSchema, FromDatasetCopiesWhatIngestionNeeds) {
  catalogue_v1::Dataset dataset;
  dataset.set_name("waste-fill");
  dataset.set_classification(smartcity::common::v1::CLASSIFICATION_INTERNAL);
  dataset.mutable_owner()->set_organization("Stavanger kommune");
  dataset.set_state(catalogue_v1::DATASET_STATE_PUBLISHED);
  *dataset.add_fields() = Field("fill_level", catalogue_v1::FIELD_TYPE_DOUBLE);
  const DatasetSchema schema = DatasetSchema::FromDataset(dataset);
  EXPECT_EQ(schema.name, "waste-fill");
  EXPECT_EQ(schema.classification, smartcity::common::v1::CLASSIFICATION_INTERNAL);
  EXPECT_EQ(schema.owner_organization, "Stavanger kommune");
  EXPECT_EQ(schema.state, catalogue_v1::DATASET_STATE_PUBLISHED);
  ASSERT_NE(schema.Find("fill_level"), nullptr);
  EXPECT_EQ(schema.Find("fill_level")->type(), catalogue_v1::FIELD_TYPE_DOUBLE);
  EXPECT_EQ(schema.Find("nope"), nullptr);
}

// ---- ParseFieldText ------------------------------------------------------------------------

std::optional<Rejection> Parse(catalogue_v1::FieldType type, absl::string_view text,
                               v1::Value* out, bool decimal_comma = false) {
  return ParseFieldText(Field("f", type), text, decimal_comma, out);
}

TEST(ParseFieldText, Integer) {
  v1::Value v;
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_INTEGER, "-12", &v), std::nullopt);
  EXPECT_EQ(v.integer_value(), -12);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_INTEGER, " +7 ", &v), std::nullopt);
  EXPECT_EQ(v.integer_value(), 7);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_INTEGER, "9223372036854775807", &v), std::nullopt);
  EXPECT_EQ(v.integer_value(), std::numeric_limits<int64_t>::max());
  for (absl::string_view bad : {"12.5", "1e3", "", "abc", "12abc", "+-1", "9223372036854775808",
                                "1 000", "0x10"}) {
    std::optional<Rejection> r = Parse(catalogue_v1::FIELD_TYPE_INTEGER, bad, &v);
    ASSERT_NE(r, std::nullopt) << bad;
    EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
    EXPECT_EQ(r->field, "f");
    EXPECT_THAT(r->message, HasSubstr("f: expected a whole number"));
  }
}

TEST(ParseFieldText, Double) {
  v1::Value v;
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_DOUBLE, "12.5", &v), std::nullopt);
  EXPECT_EQ(v.double_value(), 12.5);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_DOUBLE, "1e3", &v), std::nullopt);
  EXPECT_EQ(v.double_value(), 1000);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_DOUBLE, "-7", &v), std::nullopt);
  EXPECT_TRUE(v.has_double_value());
  EXPECT_EQ(v.double_value(), -7);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_DOUBLE, " 0.1 ", &v), std::nullopt);
  EXPECT_EQ(v.double_value(), 0.1);
  for (absl::string_view bad : {"nan", "inf", "-Infinity", "1e400", "", "12,5", "abc", "1.2.3"}) {
    std::optional<Rejection> r = Parse(catalogue_v1::FIELD_TYPE_DOUBLE, bad, &v);
    ASSERT_NE(r, std::nullopt) << bad;
    EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
  }
  // Without decimal comma, "12,5" gets a hint.
  EXPECT_THAT(Parse(catalogue_v1::FIELD_TYPE_DOUBLE, "12,5", &v)->message,
              HasSubstr("decimal point"));
}

TEST(ParseFieldText, DoubleWithDecimalComma) {
  v1::Value v;
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_DOUBLE, "12,5", &v, true), std::nullopt);
  EXPECT_EQ(v.double_value(), 12.5);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_DOUBLE, "-0,25", &v, true), std::nullopt);
  EXPECT_EQ(v.double_value(), -0.25);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_DOUBLE, "12.5", &v, true), std::nullopt);
  EXPECT_EQ(v.double_value(), 12.5);
  // Thousands separators are refused rather than guessed.
  for (absl::string_view bad : {"1.234,5", "1,234,5", "1 234,5"}) {
    EXPECT_NE(Parse(catalogue_v1::FIELD_TYPE_DOUBLE, bad, &v, true), std::nullopt) << bad;
  }
}

TEST(ParseFieldText, Boolean) {
  v1::Value v;
  for (absl::string_view yes : {"true", "TRUE", "1", "yes", "Ja", " ja "}) {
    ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_BOOLEAN, yes, &v), std::nullopt) << yes;
    EXPECT_TRUE(v.bool_value()) << yes;
  }
  for (absl::string_view no : {"false", "False", "0", "NO", "nei"}) {
    ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_BOOLEAN, no, &v), std::nullopt) << no;
    EXPECT_TRUE(v.has_bool_value());
    EXPECT_FALSE(v.bool_value()) << no;
  }
  std::optional<Rejection> r = Parse(catalogue_v1::FIELD_TYPE_BOOLEAN, "kanskje", &v);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
  EXPECT_THAT(r->message, HasSubstr("\"kanskje\""));
}

TEST(ParseFieldText, Timestamp) {
  v1::Value v;
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_TIMESTAMP, "2026-03-01T12:00:00+01:00", &v),
            std::nullopt);
  EXPECT_EQ(v.timestamp_value().seconds(), 1772362800);  // 11:00Z
  EXPECT_EQ(v.timestamp_value().nanos(), 0);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_TIMESTAMP, "2026-03-01t11:00:00.123456z", &v),
            std::nullopt);
  EXPECT_EQ(v.timestamp_value().seconds(), 1772362800);
  EXPECT_EQ(v.timestamp_value().nanos(), 123456000);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_TIMESTAMP, "1969-12-31 23:59:59.5Z", &v),
            std::nullopt);
  EXPECT_EQ(v.timestamp_value().seconds(), -1);
  EXPECT_EQ(v.timestamp_value().nanos(), 500000000);
  for (absl::string_view bad :
       {"2026-03-01T12:00:00", "2026-03-01", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-03-01T24:00:00Z", "2026-03-01T12:00:00+1:00", "0000-01-01T00:00:00Z",
        "1767225600", "2026-03-01T12:00:00.Z", "2026-03-01T12:00:00Zjunk"}) {
    std::optional<Rejection> r = Parse(catalogue_v1::FIELD_TYPE_TIMESTAMP, bad, &v);
    ASSERT_NE(r, std::nullopt) << bad;
    EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
    EXPECT_THAT(r->message, HasSubstr("RFC 3339"));
  }
}

TEST(ParseFieldText, GeoPoint) {
  v1::Value v;
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_GEOPOINT, "58.97,5.73", &v), std::nullopt);
  EXPECT_EQ(v.geo_value().latitude(), 58.97);
  EXPECT_EQ(v.geo_value().longitude(), 5.73);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_GEOPOINT, "69.65 18.96", &v), std::nullopt);
  EXPECT_EQ(v.geo_value().latitude(), 69.65);
  EXPECT_EQ(v.geo_value().longitude(), 18.96);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_GEOPOINT, "58.97, 5.73", &v), std::nullopt);
  EXPECT_EQ(v.geo_value().longitude(), 5.73);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_GEOPOINT, "59,91 10,75", &v, true), std::nullopt);
  EXPECT_EQ(v.geo_value().latitude(), 59.91);
  EXPECT_EQ(v.geo_value().longitude(), 10.75);
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_GEOPOINT, "59.91,10.75", &v, true), std::nullopt);
  EXPECT_EQ(v.geo_value().longitude(), 10.75);
  for (absl::string_view spaced : {"59.91, 10.75", "59,91 , 10,75", "59,91, 10,75"}) {
    v.Clear();
    ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_GEOPOINT, spaced, &v, true), std::nullopt) << spaced;
    EXPECT_EQ(v.geo_value().latitude(), 59.91) << spaced;
    EXPECT_EQ(v.geo_value().longitude(), 10.75) << spaced;
  }
  for (absl::string_view bad : {"58.97", "a,b", "1,2,3", "", "58.97;5.73", "nan,5"}) {
    std::optional<Rejection> r = Parse(catalogue_v1::FIELD_TYPE_GEOPOINT, bad, &v);
    ASSERT_NE(r, std::nullopt) << bad;
    EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
  }
}

TEST(ParseFieldText, StringIsKeptAsWritten) {
  v1::Value v;
  ASSERT_EQ(Parse(catalogue_v1::FIELD_TYPE_STRING, "  Sjøbadet, Madla  ", &v), std::nullopt);
  EXPECT_EQ(v.string_value(), "  Sjøbadet, Madla  ");
}

TEST(ParseFieldText, UntypedFieldIsRefused) {
  v1::Value v;
  std::optional<Rejection> r = Parse(catalogue_v1::FIELD_TYPE_UNSPECIFIED, "1", &v);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
}

TEST(ParseFieldText, MessageQuotesALongCellShortenedAtACharacterBoundary) {
  v1::Value v;
  const std::string cell = std::string(39, 'x') + "ø" + std::string(100, 'y');
  std::optional<Rejection> r = Parse(catalogue_v1::FIELD_TYPE_INTEGER, cell, &v);
  ASSERT_NE(r, std::nullopt);
  EXPECT_THAT(r->message, HasSubstr(std::string(39, 'x') + "…\""));
}

// ---- CheckValues -----------------------------------------------------------------------------

TEST(CheckValues, AcceptsGoodValues) {
  ValueMap values;
  values["water_temp"] = Double(17.5);
  values["visitors"] = Integer(120);
  values["beach"] = String("Sjøbadet");
  v1::Value flag;
  flag.set_bool_value(true);
  values["flag"] = flag;
  values["sampled"] = Time(1772362800, 5000);
  values["position"] = Geo(58.97, 5.73);
  EXPECT_EQ(CheckValues(BathingWater(), values), std::nullopt);
}

TEST(CheckValues, NoValues) {
  std::optional<Rejection> r = CheckValues(BathingWater(), ValueMap());
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_NO_VALUES);
  EXPECT_EQ(r->field, "");
}

TEST(CheckValues, UnknownField) {
  ValueMap values;
  values["salinity"] = Double(3.5);
  std::optional<Rejection> r = CheckValues(BathingWater(), values);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_UNKNOWN_FIELD);
  EXPECT_EQ(r->field, "salinity");
  EXPECT_THAT(r->message, HasSubstr("bathing-water"));
}

TEST(CheckValues, WrongKind) {
  ValueMap values;
  values["visitors"] = Double(12.0);
  std::optional<Rejection> r = CheckValues(BathingWater(), values);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
  EXPECT_EQ(r->field, "visitors");
  EXPECT_EQ(r->message, "visitors: expected a whole number; got a number");

  values.clear();
  values["beach"] = Integer(3);
  EXPECT_EQ(CheckValues(BathingWater(), values)->reason, v1::REJECT_REASON_WRONG_TYPE);
  values.clear();
  values["flag"] = String("true");
  EXPECT_EQ(CheckValues(BathingWater(), values)->reason, v1::REJECT_REASON_WRONG_TYPE);
  values.clear();
  values["position"] = String("58,5");
  EXPECT_EQ(CheckValues(BathingWater(), values)->reason, v1::REJECT_REASON_WRONG_TYPE);
  values.clear();
  values["sampled"] = Integer(1);
  EXPECT_EQ(CheckValues(BathingWater(), values)->reason, v1::REJECT_REASON_WRONG_TYPE);
  values.clear();
  values["water_temp"] = v1::Value();  // no kind set
  EXPECT_EQ(CheckValues(BathingWater(), values)->reason, v1::REJECT_REASON_WRONG_TYPE);
}

TEST(CheckValues, IntegerIsAcceptedForDouble) {
  ValueMap values;
  values["water_temp"] = Integer(18);
  EXPECT_EQ(CheckValues(BathingWater(), values), std::nullopt);
  values["water_temp"] = Integer(41);  // and range-checked
  EXPECT_EQ(CheckValues(BathingWater(), values)->reason, v1::REJECT_REASON_OUT_OF_RANGE);
}

TEST(CheckValues, NanAndInfinityAreWrongType) {
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    ValueMap values;
    values["water_temp"] = Double(bad);
    std::optional<Rejection> r = CheckValues(BathingWater(), values);
    ASSERT_NE(r, std::nullopt);
    EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
    EXPECT_THAT(r->message, HasSubstr("NaN and infinity are not accepted"));
  }
}

TEST(CheckValues, OutOfRangeNamesRangeAndUnit) {
  ValueMap values;
  values["water_temp"] = Double(45.2);
  std::optional<Rejection> r = CheckValues(BathingWater(), values);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_OUT_OF_RANGE);
  EXPECT_EQ(r->field, "water_temp");
  EXPECT_EQ(r->message, "water_temp: 45.2 °C is outside the valid range -5 to 40 °C");

  values["water_temp"] = Double(-5);  // bounds are inclusive
  EXPECT_EQ(CheckValues(BathingWater(), values), std::nullopt);
  values["water_temp"] = Double(40);
  EXPECT_EQ(CheckValues(BathingWater(), values), std::nullopt);

  values.clear();
  values["visitors"] = Integer(-1);
  r = CheckValues(BathingWater(), values);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_OUT_OF_RANGE);
  EXPECT_EQ(r->message, "visitors: -1 is outside the valid range 0 to 10000");
}

TEST(CheckValues, RangeNeedsBothBounds) {
  DatasetSchema schema = BathingWater();
  schema.fields[0].clear_max_value();
  ValueMap values;
  values["water_temp"] = Double(1000);
  EXPECT_EQ(CheckValues(schema, values), std::nullopt);
}

TEST(CheckValues, GeoOutsideWgs84IsOutOfRange) {
  for (const v1::Value& bad : {Geo(91, 5), Geo(-91, 5), Geo(58, 181), Geo(58, -180.5),
                               Geo(std::nan(""), 5)}) {
    ValueMap values;
    values["position"] = bad;
    std::optional<Rejection> r = CheckValues(BathingWater(), values);
    ASSERT_NE(r, std::nullopt);
    EXPECT_EQ(r->reason, v1::REJECT_REASON_OUT_OF_RANGE);
    EXPECT_EQ(r->field, "position");
  }
  ValueMap values;
  values["position"] = Geo(-90, 180);
  EXPECT_EQ(CheckValues(BathingWater(), values), std::nullopt);
}

TEST(CheckValues, StringsMustBeUtf8AndAtMost4KiB) {
  ValueMap values;
  values["beach"] = String(std::string(4096, 'a'));
  EXPECT_EQ(CheckValues(BathingWater(), values), std::nullopt);
  values["beach"] = String(std::string(4097, 'a'));
  std::optional<Rejection> r = CheckValues(BathingWater(), values);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
  EXPECT_THAT(r->message, HasSubstr("4097 bytes"));
  values["beach"] = String("Sj\xF8vann");  // Latin-1
  r = CheckValues(BathingWater(), values);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->reason, v1::REJECT_REASON_WRONG_TYPE);
  EXPECT_THAT(r->message, HasSubstr("UTF-8"));
}

TEST(CheckValues, InvalidTimestampIsWrongType) {
  ValueMap values;
  values["sampled"] = Time(1, 1000000000);
  EXPECT_EQ(CheckValues(BathingWater(), values)->reason, v1::REJECT_REASON_WRONG_TYPE);
  values["sampled"] = Time(253402300800, 0);  // year 10000
  EXPECT_EQ(CheckValues(BathingWater(), values)->reason, v1::REJECT_REASON_WRONG_TYPE);
}

TEST(CheckValues, FirstProblemInFieldNameOrder) {
  ValueMap values;
  values["zzz"] = Double(1);
  values["water_temp"] = Double(99);
  values["beach"] = Integer(1);
  values["visitors"] = Integer(5);
  std::optional<Rejection> r = CheckValues(BathingWater(), values);
  ASSERT_NE(r, std::nullopt);
  EXPECT_EQ(r->field, "beach");
  values.erase("beach");
  EXPECT_EQ(CheckValues(BathingWater(), values)->field, "water_temp");
  values.erase("water_temp");
  EXPECT_EQ(CheckValues(BathingWater(), values)->field, "zzz");
}

// ---- EncodeValues / DecodeValues -------------------------------------------------------------

void ExpectRoundTrip(const ValueMap& values) {
  const std::string encoded = EncodeValues(values);
  ValueMap decoded;
  ASSERT_TRUE(DecodeValues(encoded, &decoded).ok()) << encoded;
  ASSERT_EQ(decoded.size(), values.size()) << encoded;
  for (const auto& [name, value] : values) {
    ASSERT_TRUE(decoded.contains(name)) << name;
    const v1::Value& got = decoded.at(name);
    ASSERT_EQ(got.kind_case(), value.kind_case()) << encoded;
    if (value.has_double_value() && std::isnan(value.double_value())) {
      EXPECT_TRUE(std::isnan(got.double_value()));
    } else if (value.has_double_value()) {
      // Bit-exact, so -0.0 stays -0.0.
      EXPECT_EQ(std::signbit(got.double_value()), std::signbit(value.double_value())) << encoded;
      EXPECT_EQ(got.double_value(), value.double_value()) << encoded;
    } else {
      EXPECT_EQ(got.SerializeAsString(), value.SerializeAsString()) << encoded;
    }
  }
  EXPECT_EQ(EncodeValues(decoded), encoded);  // and deterministic
}

TEST(EncodeValues, DocumentedForm) {
  ValueMap values;
  values["fill_level"] = Double(81.5);
  values["n"] = Integer(12);
  values["t"] = Time(1772362800, 0);
  values["full"] = Double(100);
  v1::Value lid;
  lid.set_bool_value(false);
  values["lid_open"] = lid;
  values["name"] = String("Sjø \"A\"\n");
  values["pos"] = Geo(58.97, 5.73);
  EXPECT_EQ(EncodeValues(values),
            "{\"fill_level\":81.5,\"full\":100.0,\"lid_open\":false,\"n\":{\"i\":12},"
            "\"name\":\"Sjø \\\"A\\\"\\n\",\"pos\":{\"g\":[58.97,5.73]},"
            "\"t\":{\"t\":\"2026-03-01T11:00:00Z\"}}");
}

TEST(EncodeValues, RoundTripsExtremeDoubles) {
  const double doubles[] = {0.0,
                            -0.0,
                            0.1,
                            1.0 / 3,
                            100,
                            -12345678901234567890.0,
                            1e21,
                            1e-7,
                            std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::lowest(),
                            std::numeric_limits<double>::min(),
                            std::numeric_limits<double>::denorm_min(),
                            std::numeric_limits<double>::epsilon(),
                            9007199254740993.0,
                            std::numeric_limits<double>::infinity(),
                            -std::numeric_limits<double>::infinity(),
                            std::nan("")};
  for (double d : doubles) {
    ValueMap values;
    values["x"] = Double(d);
    SCOPED_TRACE(EncodeValues(values));
    ExpectRoundTrip(values);
  }
}

TEST(EncodeValues, RoundTripsIntegersStringsTimesAndGeo) {
  ValueMap values;
  values["min"] = Integer(std::numeric_limits<int64_t>::min());
  values["max"] = Integer(std::numeric_limits<int64_t>::max());
  values["zero"] = Integer(0);
  values["text"] = String("Sjøvann 🌊 \"quoted\" back\\slash \x01\x1f tab\t日本");
  values["empty"] = String("");
  values["micros"] = Time(1772362800, 123456000);
  values["millis"] = Time(1772362800, 123000000);
  values["nanos"] = Time(-1, 999999999);
  values["old"] = Time(-62135596800, 0);
  values["odd_time"] = Time(253402300800, 5);  // outside RFC 3339: kept as [seconds, nanos]
  values["bad_nanos"] = Time(5, -3);
  values["geo"] = Geo(-33.8688, 151.2093);
  values["geo_edge"] = Geo(-90, -180);
  values["unset"] = v1::Value();
  v1::Value t;
  t.set_bool_value(true);
  values["yes"] = t;
  ExpectRoundTrip(values);
}

TEST(EncodeValues, EmptyMapRoundTrips) {
  EXPECT_EQ(EncodeValues(ValueMap()), "{}");
  ExpectRoundTrip(ValueMap());
}

TEST(EncodeValues, SortedByNameWhateverTheInsertionOrder) {
  ValueMap a, b;
  for (int i = 0; i < 40; ++i) a[absl::StrCat("f", i)] = Integer(i);
  for (int i = 39; i >= 0; --i) b[absl::StrCat("f", i)] = Integer(i);
  EXPECT_EQ(EncodeValues(a), EncodeValues(b));
  EXPECT_EQ(EncodeValues(a).rfind("{\"f0\":", 0), 0u);
  ExpectRoundTrip(a);
}

TEST(DecodeValues, RefusesTextItDidNotProduce) {
  for (absl::string_view bad :
       {"", "[]", "{", "{\"a\":1}", "{\"a\":{\"i\":1.5}}", "{\"a\":{\"x\":1}}",
        "{\"a\":1.5,\"a\":2.5}", "{\"a\":1.5}x", "{\"a\":\"unterminated}", "{\"a\":tru}",
        "{\"a\":{\"t\":\"yesterday\"}}", "{\"a\":{\"g\":[1.0]}}", "{\"a\":{\"d\":\"nope\"}}",
        "{\"a\":{\"i\":99999999999999999999}}", "{\"a\":\"\\ud800\"}"}) {
    ValueMap values;
    absl::Status status = DecodeValues(bad, &values);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << bad;
  }
}

TEST(DecodeValues, AcceptsJsonWhitespaceAndEscapes) {
  ValueMap values;
  ASSERT_TRUE(DecodeValues(" { \"a\" : 1.5 , \"b\" : { \"i\" : -3 } , \"c\":\"\\u00f8\\ud83c\\udf0a\" } ",
                           &values)
                  .ok());
  EXPECT_EQ(values.at("a").double_value(), 1.5);
  EXPECT_EQ(values.at("b").integer_value(), -3);
  EXPECT_EQ(values.at("c").string_value(), "ø🌊");
}

TEST(DecodeValue, FindsEachFieldAndOnlyThatOne) {
  ValueMap values;
  values["fill_level"] = Double(81.5);
  values["n"] = Integer(12);
  values["name"] = String("Sjø \"A\"");
  values["pos"] = Geo(58.97, 5.73);
  values["t"] = Time(1772362800, 0);
  const std::string encoded = EncodeValues(values);
  for (const auto& [name, value] : values) {
    std::optional<v1::Value> got;
    ASSERT_TRUE(DecodeValue(encoded, name, &got).ok()) << name;
    ASSERT_TRUE(got.has_value()) << name;
    EXPECT_EQ(got->SerializeAsString(), value.SerializeAsString()) << name;
  }
  // Absent: before the first name, between two, after the last, and in an empty object.
  for (absl::string_view absent : {"a", "m", "nb", "zz"}) {
    std::optional<v1::Value> got = Double(1);
    ASSERT_TRUE(DecodeValue(encoded, absent, &got).ok()) << absent;
    EXPECT_FALSE(got.has_value()) << absent;
  }
  std::optional<v1::Value> got;
  ASSERT_TRUE(DecodeValue("{}", "a", &got).ok());
  EXPECT_FALSE(got.has_value());
}

TEST(DecodeValue, RefusesDamageUpToTheField) {
  std::optional<v1::Value> got;
  for (absl::string_view bad : {"", "[]", "{", "{\"a\":1}", "{\"a\":{\"x\":1},\"b\":1.5}",
                                "{\"a\":1.5 \"b\":2.5}"}) {
    EXPECT_EQ(DecodeValue(bad, "b", &got).code(), absl::StatusCode::kDataLoss) << bad;
  }
}

TEST(NumericValue, IntegerAndDoubleOnly) {
  EXPECT_EQ(NumericValue(Double(2.5)), 2.5);
  EXPECT_EQ(NumericValue(Integer(-4)), -4.0);
  EXPECT_EQ(NumericValue(String("1")), std::nullopt);
  EXPECT_EQ(NumericValue(Geo(1, 2)), std::nullopt);
}

// ---- RFC 3339 --------------------------------------------------------------------------------

TEST(Rfc3339, FormatsWithThreeSixOrNineDigits) {
  google::protobuf::Timestamp t;
  t.set_seconds(1772362800);
  EXPECT_EQ(FormatRfc3339(t), "2026-03-01T11:00:00Z");
  t.set_nanos(250000000);
  EXPECT_EQ(FormatRfc3339(t), "2026-03-01T11:00:00.250Z");
  t.set_nanos(123456000);
  EXPECT_EQ(FormatRfc3339(t), "2026-03-01T11:00:00.123456Z");
  t.set_nanos(1);
  EXPECT_EQ(FormatRfc3339(t), "2026-03-01T11:00:00.000000001Z");
  t.set_seconds(-62135596800);
  t.set_nanos(0);
  EXPECT_EQ(FormatRfc3339(t), "0001-01-01T00:00:00Z");
  t.set_seconds(253402300799);
  EXPECT_EQ(FormatRfc3339(t), "9999-12-31T23:59:59Z");
  t.set_seconds(951782400);  // leap day
  EXPECT_EQ(FormatRfc3339(t), "2000-02-29T00:00:00Z");
}

TEST(Rfc3339, ParseAndFormatAgreeAcrossTheRange) {
  for (int64_t seconds = -62135596800; seconds < 253402300799; seconds += 86400 * 37 + 3607) {
    google::protobuf::Timestamp t;
    t.set_seconds(seconds);
    t.set_nanos(static_cast<int32_t>(seconds % 1000) * 1000);
    if (t.nanos() < 0) t.set_nanos(-t.nanos());
    const std::string text = FormatRfc3339(t);
    std::optional<google::protobuf::Timestamp> back = ParseRfc3339(text);
    ASSERT_TRUE(back.has_value()) << text;
    ASSERT_EQ(back->seconds(), t.seconds()) << text;
    ASSERT_EQ(back->nanos(), t.nanos()) << text;
  }
}

TEST(Rfc3339, OffsetsAndLeapSecond) {
  EXPECT_EQ(ParseRfc3339("2026-03-01T00:30:00-01:30")->seconds(), 1772323200 + 7200);
  EXPECT_EQ(ParseRfc3339("2016-12-31T23:59:60Z")->seconds(), 1483228800);
  EXPECT_EQ(ParseRfc3339("2026-03-01T12:00:00.1234567891Z")->nanos(), 123456789);
  EXPECT_FALSE(ParseRfc3339("9999-12-31T23:59:59-01:00").has_value());  // past year 9999 in UTC
}

}  // namespace
}  // namespace smartby::ingestion
