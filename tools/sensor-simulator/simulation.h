// The sensor simulator's models: waste containers, parking garages, bathing-water sensors and
// city-bike stations that behave like the real ones behind the demo datasets (demo/datasets.yaml),
// as plain data. No gRPC, MQTT or clock in here: main.cc feeds the time in and ships what comes
// out, so the models can be tested by ticking through a week in a few milliseconds.
//
// Two clocks. A reading is stamped with *reading time*, the wall-clock time it is sent at (so
// ingestion never sees a future timestamp). The models run on *model time*, which passes `speed`
// times as fast: model = anchor + (reading - anchor) * speed. At speed 1 the two are equal; at
// speed 60 a simulated day (a garage filling and emptying, a container route) passes in 24
// minutes while the readings keep arriving with current timestamps.
//
// Determinism: given the options and the start time, the readings are a pure function of the
// times Tick is called with, and do not depend on how the ticks are spaced (Tick(t1); Tick(t2)
// gives the same readings as Tick(t2) alone). Every source has its own random stream, seeded from
// the seed and its id, so choosing a subset of datasets does not change the others. Reporting
// times lie on a grid anchored at the Unix epoch, so two runs with the same seed and speed
// stamp a source's readings at the same instants (ingestion then sees duplicates, not a
// second, interleaved series).
//
// Thread safety: a Simulation is not thread-safe; the free functions are.
#ifndef SMARTBY_TOOLS_SENSOR_SIMULATOR_SIMULATION_H_
#define SMARTBY_TOOLS_SENSOR_SIMULATOR_SIMULATION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace smartby::simulator {

// The catalogue datasets the simulator feeds (names as in demo/datasets.yaml).
inline constexpr char kBeachDataset[] = "badetemperatur-stavanger";
inline constexpr char kContainerDataset[] = "nedgravde-avfallsbeholdere-fyllingsgrad";
inline constexpr char kGarageDataset[] = "parkeringshus-ledige-plasser-stavanger";
inline constexpr char kBikeDataset[] = "bysykkel-stavanger";

// Every dataset above, in a fixed order.
const std::vector<std::string>& SimulatedDatasets();

// WGS84, decimal degrees (rounded to 6 decimals, about 0.1 m).
struct GeoPoint {
  double latitude = 0;
  double longitude = 0;
  bool operator==(const GeoPoint&) const = default;
};

// One field value, typed as the dataset's schema field: STRING, INTEGER, DOUBLE, BOOLEAN,
// TIMESTAMP, GEOPOINT (the alternatives' order matches ValueKind).
using Value = std::variant<std::string, int64_t, double, bool, absl::Time, GeoPoint>;
enum class ValueKind { kString, kInteger, kDouble, kBool, kTimestamp, kGeoPoint };
inline ValueKind KindOf(const Value& value) { return static_cast<ValueKind>(value.index()); }

struct SimulatedReading {
  std::string dataset;
  std::string source_id;
  absl::Time time;  // reading time
  // Schema field name -> value, in the schema's field order; every schema field is present.
  std::vector<std::pair<std::string, Value>> values;

  // nullptr when there is no such field.
  const Value* Find(absl::string_view field) const;
};

// A simulated sensor, as registered with ingestion (RegisterSource).
struct SourceSpec {
  std::string id;       // a-z, 0-9, '-'; unique over all datasets
  std::string dataset;
  std::string name;     // for people, e.g. "Jorenholmen p-hus"
  GeoPoint position;
  absl::Duration expected_interval;  // in reading time (already scaled by speed and interval)
  std::vector<std::pair<std::string, std::string>> metadata;
};

struct SimulationOptions {
  uint64_t seed = 1;
  std::vector<std::string> datasets;  // empty: all of SimulatedDatasets()
  double speed = 1;                   // model seconds per reading-time second; > 0
  double interval_scale = 1;          // multiplies every sensor's reporting interval; > 0
  // Where model time equals reading time. InfinitePast: the start time given to Create. main.cc
  // sets it to "now" so that, after a backfill, the live readings show the real time of day.
  absl::Time anchor = absl::InfinitePast();
  // Share of readings from radio (LoRaWAN) sensors that never arrive: containers and beaches.
  double packet_loss = 0.01;
  int containers = 2000;  // 0..20000
};

// OK, or INVALID_ARGUMENT naming the option (as the flag people set it with).
absl::Status ValidateOptions(const SimulationOptions& options);

namespace internal {
class Sensor;
}  // namespace internal

class Simulation {
 public:
  // The models in their initial state at reading time `start`; readings come from Tick.
  static absl::StatusOr<std::unique_ptr<Simulation>> Create(SimulationOptions options,
                                                            absl::Time start);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Every simulated source of the chosen datasets, in a fixed order.
  const std::vector<SourceSpec>& Sources() const { return sources_; }

  // Advances every model to reading time `now` and returns the readings that fell due after the
  // previous tick (after the start time, for the first), up to and including `now`, oldest
  // first. A `now` not after the previous tick returns nothing.
  std::vector<SimulatedReading> Tick(absl::Time now);

  // The model time at reading time `t`.
  absl::Time ModelTime(absl::Time t) const;

  // The reading time everything up to which has been returned.
  absl::Time last_tick() const { return last_tick_; }

 private:
  Simulation(SimulationOptions options, absl::Time start);

  SimulationOptions options_;
  absl::Time anchor_;
  absl::Time last_tick_;
  std::vector<std::unique_ptr<internal::Sensor>> sensors_;
  std::vector<SourceSpec> sources_;
};

// The MQTT topic of a reading: smartby/readings/<dataset>/<source_id>.
std::string MqttTopic(const SimulatedReading& reading);

// The MQTT payload: one flat JSON object, {"source_id":"...","time":"<RFC 3339>", then the values
// by field name}. Timestamps are RFC 3339 strings in UTC, geo points {"lat":..,"lon":..}, numbers
// in their shortest exact form.
std::string ToJson(const SimulatedReading& reading);

// RFC 3339 in UTC with as many fractional digits as needed: 2025-03-12T11:00:00Z,
// 2025-03-12T11:00:00.25Z.
std::string FormatRfc3339(absl::Time time);

}  // namespace smartby::simulator

#endif  // SMARTBY_TOOLS_SENSOR_SIMULATOR_SIMULATION_H_
