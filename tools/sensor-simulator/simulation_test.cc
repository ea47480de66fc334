#include "tools/sensor-simulator/simulation.h"

#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"

namespace smartby::simulator {
namespace {

// ---- The demo catalogue, read from demo/datasets.yaml -------------------------------------

struct SchemaField {
  std::string type;  // FIELD_TYPE_...
  std::optional<double> min, max;
};

struct BoundingBox {
  double min_longitude = 0, min_latitude = 0, max_longitude = 0, max_latitude = 0;
};

struct DemoDataset {
  std::vector<std::string> field_order;
  std::map<std::string, SchemaField> fields;
  BoundingBox bbox;
};

const std::map<std::string, DemoDataset>& DemoCatalogue() {
  static const auto* const catalogue = [] {
    auto* result = new std::map<std::string, DemoDataset>;
    const char* source_dir = std::getenv("SMARTBY_SOURCE_DIR");
    const std::string path =
        absl::StrCat(source_dir != nullptr ? source_dir : ".", "/demo/datasets.yaml");
    const YAML::Node root = YAML::LoadFile(path);
    for (const YAML::Node& entry : root["datasets"]) {
      DemoDataset dataset;
      for (const YAML::Node& field : entry["fields"]) {
        SchemaField schema_field;
        schema_field.type = field["type"].as<std::string>();
        if (field["min_value"]) schema_field.min = field["min_value"].as<double>();
        if (field["max_value"]) schema_field.max = field["max_value"].as<double>();
        const std::string name = field["name"].as<std::string>();
        dataset.field_order.push_back(name);
        dataset.fields[name] = schema_field;
      }
      if (const YAML::Node bbox = entry["spatial"]["bbox"]) {
        dataset.bbox = {bbox["min_longitude"].as<double>(), bbox["min_latitude"].as<double>(),
                        bbox["max_longitude"].as<double>(), bbox["max_latitude"].as<double>()};
      }
      (*result)[entry["name"].as<std::string>()] = std::move(dataset);
    }
    return result;
  }();
  return *catalogue;
}

const SchemaField& FieldOf(const std::string& dataset, const std::string& field) {
  return DemoCatalogue().at(dataset).fields.at(field);
}

std::string TypeOf(const Value& value) {
  switch (KindOf(value)) {
    case ValueKind::kString: return "FIELD_TYPE_STRING";
    case ValueKind::kInteger: return "FIELD_TYPE_INTEGER";
    case ValueKind::kDouble: return "FIELD_TYPE_DOUBLE";
    case ValueKind::kBool: return "FIELD_TYPE_BOOLEAN";
    case ValueKind::kTimestamp: return "FIELD_TYPE_TIMESTAMP";
    case ValueKind::kGeoPoint: return "FIELD_TYPE_GEOPOINT";
  }
  return "?";
}

double Number(const SimulatedReading& reading, const std::string& field) {
  const Value* value = reading.Find(field);
  if (value == nullptr) ADD_FAILURE() << reading.source_id << " has no " << field;
  if (value == nullptr) return 0;
  if (KindOf(*value) == ValueKind::kInteger) return static_cast<double>(std::get<int64_t>(*value));
  return std::get<double>(*value);
}

// ---- Helpers ------------------------------------------------------------------------------

absl::Time Oslo(int year, int month, int day, int hour, int minute = 0) {
  absl::TimeZone zone;
  if (!absl::LoadTimeZone("Europe/Oslo", &zone)) zone = absl::FixedTimeZone(3600);
  return absl::FromCivil(absl::CivilMinute(year, month, day, hour, minute), zone);
}

// Options, one setting at a time (GCC 12 warns about designated initializers that leave members
// out).
class Options {
 public:
  Options& Seed(uint64_t seed) { options_.seed = seed; return *this; }
  Options& Datasets(std::vector<std::string> datasets) {
    options_.datasets = std::move(datasets);
    return *this;
  }
  Options& Speed(double speed) { options_.speed = speed; return *this; }
  Options& Interval(double scale) { options_.interval_scale = scale; return *this; }
  Options& Anchor(absl::Time anchor) { options_.anchor = anchor; return *this; }
  Options& Containers(int containers) { options_.containers = containers; return *this; }
  operator SimulationOptions() const { return options_; }  // NOLINT: implicit by design

 private:
  SimulationOptions options_;
};

// Wednesday 12 March 2025, midnight in Stavanger.
const absl::Time kWednesday = Oslo(2025, 3, 12, 0);

std::unique_ptr<Simulation> NewSimulation(SimulationOptions options, absl::Time start) {
  auto simulation = Simulation::Create(std::move(options), start);
  EXPECT_TRUE(simulation.ok()) << simulation.status();
  return *std::move(simulation);
}

std::vector<SimulatedReading> RunFor(Simulation& simulation, absl::Duration span,
                                     absl::Duration step) {
  std::vector<SimulatedReading> all;
  const absl::Time end = simulation.last_tick() + span;
  for (absl::Time t = simulation.last_tick() + step; t < end + step; t += step) {
    for (SimulatedReading& reading : simulation.Tick(std::min(t, end))) {
      all.push_back(std::move(reading));
    }
  }
  return all;
}

std::vector<std::string> AsJson(const std::vector<SimulatedReading>& readings) {
  std::vector<std::string> lines;
  for (const SimulatedReading& reading : readings) {
    lines.push_back(absl::StrCat(reading.dataset, " ", ToJson(reading)));
  }
  return lines;
}

// ---- Determinism --------------------------------------------------------------------------

TEST(SimulationDeterminism, SameSeedGivesSameReadingsWhateverTheTickSpacing) {
  const SimulationOptions options = Options().Seed(42);
  auto fine = NewSimulation(options, kWednesday);
  auto coarse = NewSimulation(options, kWednesday);
  const auto fine_readings = RunFor(*fine, absl::Hours(3), absl::Seconds(7));
  const auto coarse_readings = RunFor(*coarse, absl::Hours(3), absl::Minutes(30));
  ASSERT_GT(fine_readings.size(), 6000u);
  std::vector<std::string> a = AsJson(fine_readings), b = AsJson(coarse_readings);
  // Within one tick readings are ordered by time only; compare as sets of lines.
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);
}

TEST(SimulationDeterminism, AnotherSeedGivesOtherReadings) {
  auto first = NewSimulation(Options().Seed(1), kWednesday);
  auto second = NewSimulation(Options().Seed(2), kWednesday);
  EXPECT_NE(AsJson(first->Tick(kWednesday + absl::Hours(1))),
            AsJson(second->Tick(kWednesday + absl::Hours(1))));
}

TEST(SimulationDeterminism, ChoosingDatasetsDoesNotChangeTheOthers) {
  auto all = NewSimulation(Options().Seed(7), kWednesday);
  auto garages_only = NewSimulation(Options().Seed(7).Datasets({kGarageDataset}), kWednesday);
  std::vector<std::string> from_all;
  for (const SimulatedReading& reading : all->Tick(kWednesday + absl::Hours(2))) {
    if (reading.dataset == kGarageDataset) from_all.push_back(ToJson(reading));
  }
  std::vector<std::string> from_subset;
  for (const SimulatedReading& reading : garages_only->Tick(kWednesday + absl::Hours(2))) {
    from_subset.push_back(ToJson(reading));
  }
  EXPECT_EQ(from_all, from_subset);
  for (const SourceSpec& source : garages_only->Sources()) {
    EXPECT_EQ(source.dataset, kGarageDataset);
  }
}

TEST(SimulationTick, ReturnsOnlyReadingsDueSinceThePreviousTickOldestFirst) {
  auto simulation = NewSimulation(Options(), kWednesday);
  absl::Time previous = kWednesday;
  for (int i = 1; i <= 20; ++i) {
    const absl::Time now = kWednesday + absl::Minutes(3 * i);
    const auto readings = simulation->Tick(now);
    for (size_t j = 0; j < readings.size(); ++j) {
      EXPECT_GT(readings[j].time, previous);
      EXPECT_LE(readings[j].time, now);
      if (j > 0) {
        EXPECT_LE(readings[j - 1].time, readings[j].time);
      }
    }
    previous = now;
  }
  EXPECT_TRUE(simulation->Tick(previous).empty());
  EXPECT_TRUE(simulation->Tick(previous - absl::Minutes(1)).empty());
}

// ---- Sources ------------------------------------------------------------------------------

TEST(SimulationSources, EveryDatasetHasItsSensorsWithUniqueIdsInsideTheDatasetsArea) {
  auto simulation = NewSimulation(Options(), kWednesday);
  std::map<std::string, int> per_dataset;
  std::set<std::string> ids;
  for (const SourceSpec& source : simulation->Sources()) {
    ++per_dataset[source.dataset];
    EXPECT_TRUE(ids.insert(source.id).second) << source.id;
    EXPECT_LE(source.id.size(), 128u);
    for (char c : source.id) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.')
          << source.id;
    }
    EXPECT_FALSE(source.name.empty());
    EXPECT_GT(source.expected_interval, absl::ZeroDuration());
    ASSERT_TRUE(DemoCatalogue().count(source.dataset)) << source.dataset;
    const BoundingBox& bbox = DemoCatalogue().at(source.dataset).bbox;
    EXPECT_GE(source.position.latitude, bbox.min_latitude) << source.id;
    EXPECT_LE(source.position.latitude, bbox.max_latitude) << source.id;
    EXPECT_GE(source.position.longitude, bbox.min_longitude) << source.id;
    EXPECT_LE(source.position.longitude, bbox.max_longitude) << source.id;
  }
  EXPECT_EQ(per_dataset[kContainerDataset], 2000);
  EXPECT_EQ(per_dataset[kGarageDataset], 10);
  EXPECT_EQ(per_dataset[kBeachDataset], 6);
  EXPECT_EQ(per_dataset[kBikeDataset], 20);
}

TEST(SimulationSources, SpeedAndIntervalScaleTheExpectedInterval) {
  auto normal = NewSimulation(Options().Datasets({kContainerDataset}).Containers(1), kWednesday);
  auto fast = NewSimulation(
      Options().Datasets({kContainerDataset}).Speed(60).Interval(0.5).Containers(1),
      kWednesday);
  EXPECT_EQ(normal->Sources().at(0).expected_interval, absl::Hours(1));
  EXPECT_EQ(fast->Sources().at(0).expected_interval, absl::Seconds(30));
}

TEST(SimulationOptionsCheck, RefusesUnknownDatasetsAndNonPositiveSpeed) {
  auto unknown = Simulation::Create(Options().Datasets({"luftkvalitet-stavanger"}), kWednesday);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("luftkvalitet-stavanger"), absl::string_view::npos);
  EXPECT_EQ(Simulation::Create(Options().Speed(0), kWednesday).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Simulation::Create(Options().Interval(-1), kWednesday).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- The schema ---------------------------------------------------------------------------

TEST(SimulationSchema, EveryReadingHasExactlyTheDatasetsFieldsWithTheRightTypesAndRanges) {
  auto simulation = NewSimulation(Options().Seed(3), kWednesday);
  const auto readings = RunFor(*simulation, absl::Hours(2), absl::Minutes(10));
  std::set<std::string> datasets_seen;
  for (const SimulatedReading& reading : readings) {
    datasets_seen.insert(reading.dataset);
    ASSERT_TRUE(DemoCatalogue().count(reading.dataset)) << reading.dataset;
    const DemoDataset& dataset = DemoCatalogue().at(reading.dataset);
    std::vector<std::string> emitted;
    for (const auto& [name, value] : reading.values) {
      emitted.push_back(name);
      auto field = dataset.fields.find(name);
      ASSERT_NE(field, dataset.fields.end())
          << reading.dataset << " has no field " << name << " (from " << reading.source_id << ")";
      EXPECT_EQ(TypeOf(value), field->second.type) << reading.dataset << "." << name;
      if (KindOf(value) == ValueKind::kInteger || KindOf(value) == ValueKind::kDouble) {
        const double number = Number(reading, name);
        if (field->second.min) {
          EXPECT_GE(number, *field->second.min) << name;
        }
        if (field->second.max) {
          EXPECT_LE(number, *field->second.max) << name;
        }
      }
    }
    EXPECT_EQ(emitted, dataset.field_order) << reading.dataset;
  }
  EXPECT_EQ(datasets_seen.size(), SimulatedDatasets().size());
}

TEST(SimulationSchema, MqttPayloadIsOneFlatJsonObjectWithTimeAndValues) {
  auto simulation = NewSimulation(Options().Datasets({kContainerDataset}).Containers(4), kWednesday);
  const auto readings = RunFor(*simulation, absl::Hours(2), absl::Hours(1));
  ASSERT_FALSE(readings.empty());
  const SimulatedReading& reading = readings.front();
  EXPECT_EQ(MqttTopic(reading),
            absl::StrCat("smartby/readings/", kContainerDataset, "/", reading.source_id));
  const nlohmann::json json = nlohmann::json::parse(ToJson(reading));
  ASSERT_TRUE(json.is_object());
  EXPECT_EQ(json["source_id"], reading.source_id);
  EXPECT_EQ(json["time"], FormatRfc3339(reading.time));
  EXPECT_TRUE(json["fill_level"].is_number());
  EXPECT_DOUBLE_EQ(json["fill_level"].get<double>(), Number(reading, "fill_level"));
  EXPECT_TRUE(json["container_id"].is_string());
  EXPECT_EQ(json["measured_time"], FormatRfc3339(reading.time));
  const GeoPoint position = std::get<GeoPoint>(*reading.Find("position"));
  EXPECT_DOUBLE_EQ(json["position"]["lat"].get<double>(), position.latitude);
  EXPECT_DOUBLE_EQ(json["position"]["lon"].get<double>(), position.longitude);
  EXPECT_EQ(json.size(), 2 + reading.values.size());
}

TEST(SimulationSchema, TimesAreRfc3339InUtc) {
  EXPECT_EQ(FormatRfc3339(absl::FromUnixSeconds(1741777200)), "2025-03-12T11:00:00Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(1741777200250)), "2025-03-12T11:00:00.25Z");
}

// ---- Waste containers ---------------------------------------------------------------------

TEST(SimulationContainers, AreEmptiedByTheRouteAndNeverExceedTheSchemaMaximum) {
  auto simulation = NewSimulation(Options().Seed(5).Datasets({kContainerDataset}), kWednesday);
  const auto readings = RunFor(*simulation, absl::Hours(24 * 7), absl::Hours(6));
  const SchemaField& fill = FieldOf(kContainerDataset, "fill_level");
  ASSERT_TRUE(fill.max.has_value());
  std::map<std::string, double> last;
  std::set<std::string> emptied;
  int over_threshold = 0;
  for (const SimulatedReading& reading : readings) {
    const double level = Number(reading, "fill_level");
    EXPECT_GE(level, 0);
    EXPECT_LE(level, *fill.max);
    if (level >= 80) ++over_threshold;
    auto previous = last.find(reading.source_id);
    if (previous != last.end() && previous->second >= 70 && level < 15) {
      emptied.insert(reading.source_id);
    }
    last[reading.source_id] = level;
  }
  EXPECT_GT(over_threshold, 0);
  // In a week, every restavfall container fills up at least once; so do many others.
  EXPECT_GT(emptied.size(), 700u);
}

TEST(SimulationContainers, AFullContainerIsEmptiedByTheNextWorkingDay) {
  auto simulation = NewSimulation(Options().Seed(9).Datasets({kContainerDataset}), kWednesday);
  const auto readings = RunFor(*simulation, absl::Hours(24 * 14), absl::Hours(12));
  // Hours from the first reading at or above 85 % to the next one below 15 %.
  std::map<std::string, absl::Time> full_since;
  absl::Duration longest = absl::ZeroDuration();
  for (const SimulatedReading& reading : readings) {
    const double level = Number(reading, "fill_level");
    if (level >= 85 && !full_since.count(reading.source_id)) {
      full_since[reading.source_id] = reading.time;
    } else if (level < 15 && full_since.count(reading.source_id)) {
      longest = std::max(longest, reading.time - full_since[reading.source_id]);
      full_since.erase(reading.source_id);
    }
  }
  // Friday evening to Monday afternoon is the longest wait.
  EXPECT_LT(longest, absl::Hours(96));
}

// ---- Parking garages ----------------------------------------------------------------------

std::map<std::string, int64_t> FreeSpacesAt(const std::vector<SimulatedReading>& readings,
                                            absl::Time at) {
  std::map<std::string, int64_t> free;
  for (const SimulatedReading& reading : readings) {
    if (reading.time > at - absl::Minutes(1) && reading.time <= at) {
      free[reading.source_id] = std::get<int64_t>(*reading.Find("free_spaces"));
    }
  }
  return free;
}

TEST(SimulationGarages, FreeSpacesStayWithinCapacityAndAreFewerAtNoonThanAtNight) {
  auto simulation = NewSimulation(Options().Seed(11).Datasets({kGarageDataset}), kWednesday);
  const auto readings = RunFor(*simulation, absl::Hours(24 * 7), absl::Minutes(5));
  for (const SimulatedReading& reading : readings) {
    const int64_t free = std::get<int64_t>(*reading.Find("free_spaces"));
    const int64_t capacity = std::get<int64_t>(*reading.Find("capacity"));
    EXPECT_GE(free, 0);
    EXPECT_LE(free, capacity);
    EXPECT_LE(capacity, *FieldOf(kGarageDataset, "capacity").max);
  }
  const auto night = FreeSpacesAt(readings, Oslo(2025, 3, 12, 3));
  const auto noon = FreeSpacesAt(readings, Oslo(2025, 3, 12, 12));
  ASSERT_EQ(night.size(), 10u);
  ASSERT_EQ(noon.size(), 10u);
  for (const auto& [garage, free_at_night] : night) {
    EXPECT_LT(noon.at(garage), free_at_night) << garage;
  }
}

TEST(SimulationGarages, SundayNoonIsQuieterThanWeekdayNoon) {
  auto simulation = NewSimulation(Options().Seed(11).Datasets({kGarageDataset}), kWednesday);
  const auto readings = RunFor(*simulation, absl::Hours(24 * 5), absl::Minutes(5));
  int64_t wednesday = 0, sunday = 0;
  for (const auto& [garage, free] : FreeSpacesAt(readings, Oslo(2025, 3, 12, 12))) wednesday += free;
  for (const auto& [garage, free] : FreeSpacesAt(readings, Oslo(2025, 3, 16, 12))) sunday += free;
  EXPECT_GT(sunday, wednesday + 1000);
}

// ---- Beaches ------------------------------------------------------------------------------

TEST(SimulationBeaches, TemperaturesAndBatteryStayInTheSchemaRangeAndFollowTheSeason) {
  // A year of hourly readings.
  auto simulation = NewSimulation(
      Options().Seed(13).Datasets({kBeachDataset}).Interval(6), Oslo(2025, 1, 1, 0));
  const auto readings = RunFor(*simulation, absl::Hours(24 * 365), absl::Hours(24));
  ASSERT_GT(readings.size(), 40000u);
  double february = 0, august = 0;
  int february_count = 0, august_count = 0;
  for (const SimulatedReading& reading : readings) {
    for (const char* name : {"water_temp", "air_temp", "battery"}) {
      const SchemaField& field = FieldOf(kBeachDataset, name);
      const double value = Number(reading, name);
      EXPECT_GE(value, *field.min) << name;
      EXPECT_LE(value, *field.max) << name;
    }
    const int month = absl::ToCivilMonth(reading.time, absl::UTCTimeZone()).month();
    if (month == 2) february += Number(reading, "water_temp"), ++february_count;
    if (month == 8) august += Number(reading, "water_temp"), ++august_count;
  }
  ASSERT_GT(february_count, 0);
  ASSERT_GT(august_count, 0);
  EXPECT_GT(august / august_count, february / february_count + 8);
}

TEST(SimulationBeaches, BatteriesDrainAndAreReplaced) {
  auto simulation = NewSimulation(
      Options().Seed(13).Datasets({kBeachDataset}).Interval(6), Oslo(2025, 1, 1, 0));
  const auto readings = RunFor(*simulation, absl::Hours(24 * 200), absl::Hours(24));
  std::map<std::string, double> last;
  int replaced = 0, drained = 0;
  for (const SimulatedReading& reading : readings) {
    const double battery = Number(reading, "battery");
    if (auto it = last.find(reading.source_id); it != last.end()) {
      if (battery > it->second + 50) ++replaced;
      if (battery < it->second) ++drained;
    }
    last[reading.source_id] = battery;
  }
  EXPECT_GT(drained, 1000);
  EXPECT_GT(replaced, 0);
}

// ---- Accelerated time ---------------------------------------------------------------------

TEST(SimulationSpeed, ModelTimeRunsFasterButReadingsKeepReadingTime) {
  const absl::Time anchor = Oslo(2025, 3, 12, 12);
  auto simulation = NewSimulation(
      Options().Datasets({kGarageDataset}).Speed(60).Anchor(anchor), anchor - absl::Hours(1));
  EXPECT_EQ(simulation->ModelTime(anchor), anchor);
  EXPECT_EQ(simulation->ModelTime(anchor - absl::Hours(1)), anchor - absl::Hours(60));
  const auto readings = simulation->Tick(anchor);
  // Garages report every model minute: once a second at speed 60.
  EXPECT_GT(readings.size(), 10u * 3500);
  for (const SimulatedReading& reading : readings) {
    EXPECT_LE(reading.time, anchor);
    EXPECT_EQ(std::get<absl::Time>(*reading.Find("updated_time")), reading.time);
  }
}

}  // namespace
}  // namespace smartby::simulator
