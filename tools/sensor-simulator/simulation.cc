#include "tools/sensor-simulator/simulation.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"

namespace smartby::simulator {

namespace internal {

// SplitMix64 with our own uniform and normal draws: the <random> distributions differ between
// standard libraries, and a seed should play the same data wherever the simulator is built.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // [0, 1)
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }
  // Standard normal (Box-Muller).
  double Gaussian() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  bool Chance(double probability) { return Uniform() < probability; }

 private:
  uint64_t state_;
};

// A simulated sensor: its source, its reporting schedule (in reading time) and its model.
class Sensor {
 public:
  Sensor(SourceSpec spec, uint64_t seed) : spec(std::move(spec)), rng_(seed) {}
  virtual ~Sensor() = default;

  // The reading due at reading time `stamp` (model time `model`), or nullopt when it is lost or
  // the sensor is out of order. Called with strictly increasing times.
  virtual std::optional<SimulatedReading> Sample(absl::Time stamp, absl::Time model) = 0;

  SourceSpec spec;
  absl::Duration interval;  // reading time
  absl::Time next_due;

 protected:
  SimulatedReading NewReading(absl::Time stamp) const {
    SimulatedReading reading;
    reading.dataset = spec.dataset;
    reading.source_id = spec.id;
    reading.time = stamp;
    return reading;
  }

  Rng rng_;
};

}  // namespace internal

namespace {

using internal::Rng;
using internal::Sensor;

// ---- Helpers ------------------------------------------------------------------------------

uint64_t Fnv1a(absl::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// One random stream per source, independent of which other sources exist.
uint64_t StreamSeed(uint64_t seed, absl::string_view id) {
  Rng mix(seed ^ Fnv1a(id));
  mix.Next();
  return mix.Next();
}

double Clamp(double value, double low, double high) { return std::min(std::max(value, low), high); }
// Adding 0.0 turns -0.0 into 0.0, which would otherwise be written "-0".
double Round1(double value) { return std::round(value * 10.0) / 10.0 + 0.0; }
double Round6(double value) { return std::round(value * 1e6) / 1e6; }

GeoPoint Point(double latitude, double longitude) {
  return GeoPoint{Round6(latitude), Round6(longitude)};
}

// The models' daily rhythms follow local time in Stavanger.
const absl::TimeZone& Oslo() {
  static const absl::TimeZone* const zone = [] {
    auto* tz = new absl::TimeZone;
    // Without tzdata, central European standard time is close enough for the curves.
    if (!absl::LoadTimeZone("Europe/Oslo", tz)) *tz = absl::FixedTimeZone(3600);
    return tz;
  }();
  return *zone;
}

struct Local {
  absl::CivilSecond civil;
  double hour = 0;  // 0 <= hour < 24
  absl::Weekday weekday = absl::Weekday::monday;
  int year_day = 1;  // 1..366

  bool saturday() const { return weekday == absl::Weekday::saturday; }
  bool sunday() const { return weekday == absl::Weekday::sunday; }
  bool weekend() const { return saturday() || sunday(); }
};

Local ToLocal(absl::Time t) {
  Local local;
  local.civil = absl::ToCivilSecond(t, Oslo());
  local.hour = local.civil.hour() + local.civil.minute() / 60.0 + local.civil.second() / 3600.0;
  const absl::CivilDay day(local.civil);
  local.weekday = absl::GetWeekday(day);
  local.year_day = absl::GetYearDay(day);
  return local;
}

// 0 before `from`, 1 after `to`, smooth in between.
double Ramp(double hour, double from, double to) {
  const double x = Clamp((hour - from) / (to - from), 0.0, 1.0);
  return x * x * (3.0 - 2.0 * x);
}

// Rises over [rise_from, rise_to], falls over [fall_from, fall_to].
double Window(double hour, double rise_from, double rise_to, double fall_from, double fall_to) {
  return Ramp(hour, rise_from, rise_to) * (1.0 - Ramp(hour, fall_from, fall_to));
}

// An AR(1) step of a noise process with standard deviation `sigma` and correlation time `tau`,
// exact for any `dt` (so the noise does not depend on how often the sensor reports).
double NoiseStep(double x, absl::Duration dt, absl::Duration tau, double sigma, Rng& rng) {
  const double a = std::exp(-absl::FDivDuration(dt, tau));
  return x * a + sigma * std::sqrt(std::max(0.0, 1.0 - a * a)) * rng.Gaussian();
}

double Hours(absl::Duration d) { return absl::ToDoubleHours(d); }

// ---- Waste containers ---------------------------------------------------------------------

struct Fraction {
  const char* name;   // the dataset's `fraction` value
  double rate;        // % per model hour, on average over a week, for an average container
  bool saturday_route;
};

// Restavfall is collected about twice a week, plastic weekly, paper every ten days, glass and
// metal every three to four weeks.
constexpr Fraction kFractions[] = {
    {"restavfall", 0.95, true},
    {"papir", 0.42, false},
    {"plast", 0.60, false},
    {"glass_metall", 0.16, false},
};

struct District {
  const char* name;
  double latitude, longitude;
  double weight;
};

// Stavanger's city districts (bydeler), roughly at their centres.
constexpr District kDistricts[] = {
    {"Madla", 58.9480, 5.6600, 1.0},     {"Tasta", 58.9850, 5.7000, 1.0},
    {"Eiganes og Våland", 58.9620, 5.7180, 1.2}, {"Storhaug", 58.9650, 5.7480, 1.1},
    {"Sentrum", 58.9700, 5.7330, 0.8},   {"Hundvåg", 58.9900, 5.7600, 0.8},
    {"Hillevåg", 58.9430, 5.7350, 1.1},  {"Hinna", 58.9150, 5.7300, 1.2},
};

// Where household waste is thrown: little at night, most in the afternoon and evening.
double DepositActivity(const Local& local) {
  double activity = local.hour < 6 ? 0.2 : local.hour < 23 ? 1.35 : 0.5;
  if (local.weekend()) activity *= 1.1;
  return activity;
}

class ContainerSensor : public Sensor {
 public:
  ContainerSensor(SourceSpec spec, uint64_t seed, std::string container_id, int fraction,
                  double packet_loss)
      : Sensor(std::move(spec), seed),
        container_id_(std::move(container_id)),
        fraction_(kFractions[fraction]),
        packet_loss_(packet_loss) {
    rate_factor_ = Clamp(std::exp(0.35 * rng_.Gaussian()), 0.5, 2.0);
    threshold_ = rng_.Uniform(77.0, 84.0);
    fill_ = rng_.Uniform(0.0, 85.0);
  }

  std::optional<SimulatedReading> Sample(absl::Time stamp, absl::Time model) override {
    if (!started_) {
      started_ = true;
      last_model_ = model;
      MaybeSchedule(model);
    }
    Advance(model);
    const double measured = Round1(Clamp(fill_ + 0.8 * rng_.Gaussian(), 0.0, 120.0));
    if (rng_.Chance(packet_loss_)) return std::nullopt;
    SimulatedReading reading = NewReading(stamp);
    reading.values = {
        {"container_id", container_id_},
        {"fraction", std::string(fraction_.name)},
        {"fill_level", measured},
        {"measured_time", stamp},
        {"position", spec.position},
    };
    return reading;
  }

 private:
  static constexpr double kMaxFill = 115.0;  // the lid: waste beyond it lies beside the container

  // Integrates deposits from last_model_ to `model` in steps of at most 15 minutes, emptying the
  // container when its collection comes.
  void Advance(absl::Time model) {
    absl::Time t = last_model_;
    while (t < model) {
      const absl::Time step_end = std::min(model, t + absl::Minutes(15));
      if (empty_at_ <= step_end) {
        const absl::Time at = std::max(empty_at_, t);
        AddWaste(t, at);
        fill_ = rng_.Uniform(0.5, 4.0);  // what sticks to the walls
        empty_at_ = absl::InfiniteFuture();
        t = at;
        continue;
      }
      AddWaste(t, step_end);
      t = step_end;
      MaybeSchedule(t);
    }
    last_model_ = model;
  }

  void AddWaste(absl::Time from, absl::Time to) {
    const double hours = Hours(to - from);
    if (hours <= 0) return;
    const Local local = ToLocal(from + (to - from) / 2);
    // Deposits come in bags, not as a stream: the amount per step varies.
    const double lumpiness = std::max(0.0, 1.0 + 0.5 * rng_.Gaussian());
    double added = fraction_.rate * rate_factor_ * hours * DepositActivity(local) * lumpiness;
    if (fill_ >= 100.0) added *= 0.3;  // people take their bags elsewhere
    fill_ = std::min(fill_ + added, kMaxFill);
  }

  // Once the sensor reports it at or above its threshold (about 80 %), the container goes on the
  // next working day's collection route, somewhere between 07:00 and 15:00.
  void MaybeSchedule(absl::Time now) {
    if (fill_ < threshold_ || empty_at_ != absl::InfiniteFuture()) return;
    const Local local = ToLocal(now);
    absl::CivilDay day(local.civil);
    if (local.hour >= 6) day += 1;  // routes are planned early in the morning
    auto works = [&](absl::CivilDay d) {
      const absl::Weekday w = absl::GetWeekday(d);
      if (w == absl::Weekday::sunday) return false;
      return w != absl::Weekday::saturday || fraction_.saturday_route;
    };
    while (!works(day)) day += 1;
    const int64_t offset = static_cast<int64_t>(rng_.Uniform(0.0, 8 * 3600.0));
    const absl::CivilSecond when = absl::CivilSecond(day) + 7 * 3600 + offset;
    empty_at_ = std::max(absl::FromCivil(when, Oslo()), now);
  }

  const std::string container_id_;
  const Fraction fraction_;
  const double packet_loss_;
  double rate_factor_ = 1;
  double threshold_ = 80;
  double fill_ = 0;
  bool started_ = false;
  absl::Time last_model_;
  absl::Time empty_at_ = absl::InfiniteFuture();
};

// ---- Parking garages ----------------------------------------------------------------------

struct Garage {
  const char* id;
  const char* name;
  int capacity;
  double latitude, longitude;
  // Occupancy = base + commute * commuter curve + shopping * shopping curve + evening * event
  // curve (each curve 0..1).
  double base, commute, shopping, evening;
};

constexpr Garage kGarages[] = {
    {"jorenholmen", "Jorenholmen p-hus", 617, 58.9745, 5.7345, 0.10, 0.50, 0.35, 0.20},
    {"posthuset", "Posthuset p-hus", 210, 58.9680, 5.7330, 0.05, 0.45, 0.45, 0.20},
    {"kyrkjebakken", "Kyrkjebakken p-hus", 300, 58.9700, 5.7370, 0.08, 0.60, 0.25, 0.10},
    {"stavanger-forum", "Stavanger Forum p-hus", 1100, 58.9525, 5.7185, 0.03, 0.35, 0.05, 0.55},
    {"sandviga", "Sandvigå p-hus", 480, 58.9765, 5.7250, 0.12, 0.55, 0.10, 0.15},
    {"st-olav", "St. Olav p-hus", 420, 58.9665, 5.7380, 0.06, 0.35, 0.55, 0.15},
    {"valberget", "Valberget p-hus", 260, 58.9715, 5.7300, 0.10, 0.40, 0.40, 0.25},
    {"bjergsted", "Bjergsted p-hus", 350, 58.9770, 5.7320, 0.04, 0.35, 0.05, 0.60},
    {"kannik", "Kannik p-hus", 240, 58.9660, 5.7290, 0.09, 0.60, 0.20, 0.10},
    {"lagardsveien", "Lagårdsveien p-hus", 330, 58.9630, 5.7440, 0.07, 0.65, 0.15, 0.05},
};

// Commuters arrive 06:30-09:00 and leave 15:00-18:00 on weekdays; a few work on Saturdays.
double CommuterCurve(const Local& l) {
  if (l.sunday()) return 0.05 * Window(l.hour, 9, 11, 15, 18);
  if (l.saturday()) return 0.25 * Window(l.hour, 8, 10, 14, 17);
  return Window(l.hour, 6.5, 9, 15, 18);
}

// Shops open 09-10 and close 20 (Thursdays 21, Saturdays 18); Sundays are quiet.
double ShoppingCurve(const Local& l) {
  if (l.sunday()) return 0.2 * Window(l.hour, 12, 14, 16, 18);
  if (l.saturday()) return Window(l.hour, 9.5, 12, 15, 18.5);
  const double close = l.weekday == absl::Weekday::thursday ? 21 : 20;
  return 0.7 * Window(l.hour, 9, 12, 16, close);
}

// Concerts, matches and fairs in the evening, mostly Friday and Saturday.
double EveningCurve(const Local& l) {
  if (l.weekday == absl::Weekday::friday || l.saturday()) return 0.8 * Window(l.hour, 17, 19, 22.5, 24);
  if (l.sunday() || l.weekday == absl::Weekday::monday) return 0.1 * Window(l.hour, 17, 19, 21, 23);
  return 0.35 * Window(l.hour, 17.5, 19, 22, 23.5);
}

class GarageSensor : public Sensor {
 public:
  GarageSensor(SourceSpec spec, uint64_t seed, const Garage& garage)
      : Sensor(std::move(spec), seed), garage_(garage) {}

  std::optional<SimulatedReading> Sample(absl::Time stamp, absl::Time model) override {
    constexpr double kSigma = 0.04;
    if (!started_) {
      started_ = true;
      noise_ = kSigma * rng_.Gaussian();
    } else {
      noise_ = NoiseStep(noise_, model - last_model_, absl::Minutes(45), kSigma, rng_);
    }
    last_model_ = model;
    const Local local = ToLocal(model);
    const double planned = garage_.base + garage_.commute * CommuterCurve(local) +
                           garage_.shopping * ShoppingCurve(local) +
                           garage_.evening * EveningCurve(local);
    // Busy garages swing more than empty ones (the few cars parked overnight stay put).
    const double expected = std::min(planned, 0.97);
    const double occupancy = Clamp(expected + noise_ * (0.3 + expected), 0.0, 1.0);
    const int64_t capacity = garage_.capacity;
    const int64_t occupied =
        std::clamp<int64_t>(std::llround(occupancy * capacity), 0, capacity);
    SimulatedReading reading = NewReading(stamp);
    reading.values = {
        {"garage_id", std::string(garage_.id)},
        {"garage_name", std::string(garage_.name)},
        {"free_spaces", capacity - occupied},
        {"capacity", capacity},
        {"updated_time", stamp},
    };
    return reading;
  }

 private:
  const Garage garage_;
  bool started_ = false;
  double noise_ = 0;
  absl::Time last_model_;
};

// ---- Beaches (water and air temperature) --------------------------------------------------

struct Beach {
  const char* id;
  const char* name;
  double latitude, longitude;
  double water_offset;  // shallow, sheltered bays warm up; open sea stays cooler
  double diurnal;       // amplitude of the daily water cycle, °C
};

constexpr Beach kBeaches[] = {
    {"vaulen", "Vaulen badeplass", 58.9240, 5.7480, 0.5, 0.6},
    {"godalen", "Godalen badeplass", 58.9520, 5.7680, 0.0, 0.4},
    {"mollebukta", "Møllebukta", 58.9370, 5.6560, 0.8, 0.8},
    {"solyst", "Sølyst badeplass", 58.9580, 5.7700, -0.2, 0.4},
    {"engoy", "Engøy badeplass", 58.9900, 5.7800, -0.4, 0.3},
    {"lundsvagen", "Lundsvågen badeplass", 58.9950, 5.7350, -0.3, 0.5},
};

class BeachSensor : public Sensor {
 public:
  BeachSensor(SourceSpec spec, uint64_t seed, const Beach& beach, double packet_loss)
      : Sensor(std::move(spec), seed), beach_(beach), packet_loss_(packet_loss) {
    battery_ = rng_.Uniform(25.0, 100.0);
  }

  std::optional<SimulatedReading> Sample(absl::Time stamp, absl::Time model) override {
    if (!started_) {
      started_ = true;
      water_noise_ = kWaterSigma * rng_.Gaussian();
      weather_ = kWeatherSigma * rng_.Gaussian();
      last_model_ = model;
    }
    const absl::Duration dt = model - last_model_;
    last_model_ = model;
    water_noise_ = NoiseStep(water_noise_, dt, absl::Hours(36), kWaterSigma, rng_);
    weather_ = NoiseStep(weather_, dt, absl::Hours(20), kWeatherSigma, rng_);

    const Local local = ToLocal(model);
    const double year = 2.0 * std::numbers::pi / 365.25;
    const double day = 2.0 * std::numbers::pi / 24.0;
    // The sea off Stavanger: about 5 °C at its coldest (late February), 17 °C in late August.
    const double water = 11.0 - 6.0 * std::cos(year * (local.year_day - 50)) +
                         beach_.water_offset +
                         beach_.diurnal * std::cos(day * (local.hour - 16.0)) + water_noise_ +
                         0.05 * rng_.Gaussian();
    // Air: about 1 °C in January, 15 °C in July, warmest mid-afternoon.
    const double air = 8.0 - 7.0 * std::cos(year * (local.year_day - 20)) +
                       3.0 * std::cos(day * (local.hour - 15.0)) + weather_ +
                       0.2 * rng_.Gaussian();

    // About 1 % a day, more in the cold. An empty sensor is silent until someone replaces the
    // battery one to three days later.
    if (dead_) {
      if (model < replaced_at_) return std::nullopt;
      dead_ = false;
      battery_ = 100.0;
    }
    battery_ -= 0.04 * Hours(dt) * (air < 0 ? 1.4 : 1.0);
    if (battery_ <= 0) {
      battery_ = 0;
      dead_ = true;
      replaced_at_ = model + absl::Seconds(rng_.Uniform(24 * 3600.0, 72 * 3600.0));
      return std::nullopt;
    }
    if (rng_.Chance(packet_loss_)) return std::nullopt;
    SimulatedReading reading = NewReading(stamp);
    reading.values = {
        {"beach_id", std::string(beach_.id)},
        {"measured_time", stamp},
        {"water_temp", Round1(Clamp(water, -2.0, 35.0))},
        {"air_temp", Round1(Clamp(air, -30.0, 40.0))},
        {"battery", Clamp(Round1(battery_), 0.0, 100.0)},
        {"position", spec.position},
    };
    return reading;
  }

 private:
  static constexpr double kWaterSigma = 0.6;
  static constexpr double kWeatherSigma = 3.0;

  const Beach beach_;
  const double packet_loss_;
  bool started_ = false;
  double water_noise_ = 0;
  double weather_ = 0;
  double battery_ = 100;
  bool dead_ = false;
  absl::Time replaced_at_;
  absl::Time last_model_;
};

// ---- City-bike stations -------------------------------------------------------------------

struct BikeStation {
  const char* id;  // GBFS station_id
  const char* name;
  double latitude, longitude;
  int capacity;
  bool destination;  // where people ride to in the morning (centre, university, Forus)
};

constexpr BikeStation kBikeStations[] = {
    {"101", "Torget", 58.9700, 5.7330, 24, true},
    {"102", "Stavanger stasjon", 58.9665, 5.7335, 30, true},
    {"103", "Byparken", 58.9690, 5.7305, 20, true},
    {"104", "Bjergsted", 58.9760, 5.7300, 16, true},
    {"105", "Skagenkaien", 58.9725, 5.7320, 20, true},
    {"106", "Kongsgata", 58.9680, 5.7350, 18, true},
    {"107", "Universitetet i Stavanger", 58.9380, 5.6940, 28, true},
    {"108", "Forus", 58.8930, 5.7350, 24, true},
    {"109", "Sandnes sentrum", 58.8520, 5.7370, 20, true},
    {"110", "Sandnes stasjon", 58.8500, 5.7390, 22, true},
    {"111", "Storhaug", 58.9650, 5.7500, 16, false},
    {"112", "Våland", 58.9600, 5.7220, 14, false},
    {"113", "Eiganes", 58.9670, 5.7150, 14, false},
    {"114", "Hillevåg", 58.9450, 5.7350, 18, false},
    {"115", "Hinna", 58.9170, 5.7330, 16, false},
    {"116", "Madla", 58.9500, 5.6650, 16, false},
    {"117", "Tasta", 58.9870, 5.7050, 12, false},
    {"118", "Hundvåg", 58.9880, 5.7480, 14, false},
    {"119", "Lura", 58.8700, 5.7500, 14, false},
    {"120", "Ganddal", 58.8250, 5.7200, 12, false},
};

class BikeSensor : public Sensor {
 public:
  BikeSensor(SourceSpec spec, uint64_t seed, const BikeStation& station)
      : Sensor(std::move(spec), seed), station_(station) {
    out_of_order_ = static_cast<int>(rng_.Uniform(0.0, 2.5));  // broken docks
  }

  std::optional<SimulatedReading> Sample(absl::Time stamp, absl::Time model) override {
    const Local local = ToLocal(model);
    const double usable = station_.capacity - out_of_order_;
    const double target = Target(local) * usable;
    if (!started_) {
      started_ = true;
      bikes_ = Clamp(target + 2.0 * rng_.Gaussian(), 0.0, usable);
    } else {
      const absl::Duration dt = model - last_model_;
      const double pull = 1.0 - std::exp(-absl::FDivDuration(dt, absl::Minutes(40)));
      const double activity = local.hour < 6 ? 0.2 : local.hour < 23 ? 1.0 : 0.4;
      const double minutes = absl::ToDoubleMinutes(dt);
      bikes_ = Clamp(bikes_ + pull * (target - bikes_) +
                         0.7 * std::sqrt(minutes) * activity * rng_.Gaussian(),
                     0.0, usable);
    }
    last_model_ = model;
    const int64_t bikes = std::llround(bikes_);
    const int64_t docks = std::max<int64_t>(0, station_.capacity - out_of_order_ - bikes);
    SimulatedReading reading = NewReading(stamp);
    reading.values = {
        {"station_id", std::string(station_.id)},
        {"station_name", std::string(station_.name)},
        {"bikes_available", bikes},
        {"docks_available", docks},
        {"position", spec.position},
        {"reported_time", stamp},
    };
    return reading;
  }

 private:
  // The share of usable docks holding a bike: weekday mornings empty the residential stations
  // into the destinations, afternoons bring the bikes back (the operator rebalances overnight).
  double Target(const Local& l) const {
    const double working = l.weekend() ? 0.15 * Window(l.hour, 10, 12, 16, 19)
                                       : Window(l.hour, 6.5, 8.5, 15.5, 17.5);
    return station_.destination ? 0.35 + 0.45 * working : 0.65 - 0.45 * working;
  }

  const BikeStation station_;
  int out_of_order_ = 0;
  bool started_ = false;
  double bikes_ = 0;
  absl::Time last_model_;
};

// ---- Schedules ----------------------------------------------------------------------------

// The reporting interval in reading time: the sensor's own interval scaled, at least a second.
absl::Duration ReadingInterval(absl::Duration model_interval, const SimulationOptions& options) {
  const absl::Duration scaled = model_interval * (options.interval_scale / options.speed);
  return std::max(absl::Milliseconds(absl::ToInt64Milliseconds(scaled)), absl::Seconds(1));
}

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// The first instant after `start` of the grid phase + k * interval (milliseconds since the Unix
// epoch), the phase drawn from the source's own stream.
absl::Time FirstDue(absl::Time start, absl::Duration interval, uint64_t phase_seed) {
  const int64_t step = absl::ToInt64Milliseconds(interval);
  Rng rng(phase_seed);
  const int64_t phase = static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(step));
  const int64_t k = FloorDiv(absl::ToUnixMillis(start) - phase, step) + 1;
  return absl::FromUnixMillis(phase + k * step);
}

void AppendJsonString(std::string& out, absl::string_view text) {
  out += '"';
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += ch;  // UTF-8 passes through
        }
    }
  }
  out += '"';
}

void AppendNumber(std::string& out, double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void AppendJsonValue(std::string& out, const Value& value) {
  switch (KindOf(value)) {
    case ValueKind::kString: AppendJsonString(out, std::get<std::string>(value)); break;
    case ValueKind::kInteger: absl::StrAppend(&out, std::get<int64_t>(value)); break;
    case ValueKind::kDouble: AppendNumber(out, std::get<double>(value)); break;
    case ValueKind::kBool: out += std::get<bool>(value) ? "true" : "false"; break;
    case ValueKind::kTimestamp:
      AppendJsonString(out, FormatRfc3339(std::get<absl::Time>(value)));
      break;
    case ValueKind::kGeoPoint: {
      const GeoPoint& point = std::get<GeoPoint>(value);
      out += "{\"lat\":";
      AppendNumber(out, point.latitude);
      out += ",\"lon\":";
      AppendNumber(out, point.longitude);
      out += '}';
      break;
    }
  }
}

SourceSpec Spec(std::string id, const char* dataset, std::string name, GeoPoint position,
                std::vector<std::pair<std::string, std::string>> metadata) {
  SourceSpec spec;
  spec.id = std::move(id);
  spec.dataset = dataset;
  spec.name = std::move(name);
  spec.position = position;
  spec.metadata = std::move(metadata);
  return spec;
}

std::vector<std::pair<std::string, std::string>> SimulatedMetadata(
    std::initializer_list<std::pair<std::string, std::string>> more) {
  std::vector<std::pair<std::string, std::string>> metadata = {
      {"simulated", "true"}, {"generator", "smartby-sensor-simulator"}};
  metadata.insert(metadata.end(), more.begin(), more.end());
  return metadata;
}

}  // namespace

// ---- Public API ---------------------------------------------------------------------------

const std::vector<std::string>& SimulatedDatasets() {
  static const auto* const datasets = new std::vector<std::string>{
      kBeachDataset, kContainerDataset, kBikeDataset, kGarageDataset};
  return *datasets;
}

const Value* SimulatedReading::Find(absl::string_view field) const {
  for (const auto& [name, value] : values) {
    if (name == field) return &value;
  }
  return nullptr;
}

absl::Status ValidateOptions(const SimulationOptions& options) {
  const auto& known = SimulatedDatasets();
  std::set<std::string> seen;
  for (const std::string& dataset : options.datasets) {
    if (std::find(known.begin(), known.end(), dataset) == known.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--datasets: \"", dataset, "\" is not a dataset the simulator feeds; ",
                       "choose from ", absl::StrJoin(known, ", ")));
    }
    if (!seen.insert(dataset).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--datasets: \"", dataset, "\" is named twice"));
    }
  }
  if (!(options.speed > 0) || options.speed > 1e6) {
    return absl::InvalidArgumentError(
        "--speed: must be more than 0 and at most 1000000 (1 = real time, 60 = one simulated "
        "minute per second)");
  }
  if (!(options.interval_scale > 0) || options.interval_scale > 1e4) {
    return absl::InvalidArgumentError(
        "--interval: must be more than 0 and at most 10000 (1 = each sensor's usual interval, "
        "0.5 = twice as often)");
  }
  if (!(options.packet_loss >= 0) || options.packet_loss > 0.5) {
    return absl::InvalidArgumentError("--packet_loss: must be between 0 and 0.5");
  }
  if (options.containers < 0 || options.containers > 20000) {
    return absl::InvalidArgumentError("--containers: must be between 0 and 20000");
  }
  return absl::OkStatus();
}

Simulation::Simulation(SimulationOptions options, absl::Time start)
    : options_(std::move(options)),
      anchor_(options_.anchor == absl::InfinitePast() ? start : options_.anchor),
      last_tick_(start) {}

Simulation::~Simulation() = default;

absl::StatusOr<std::unique_ptr<Simulation>> Simulation::Create(SimulationOptions options,
                                                               absl::Time start) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  if (options.datasets.empty()) options.datasets = SimulatedDatasets();
  std::unique_ptr<Simulation> simulation(new Simulation(std::move(options), start));
  const SimulationOptions& o = simulation->options_;
  auto wanted = [&](const char* dataset) {
    return std::find(o.datasets.begin(), o.datasets.end(), dataset) != o.datasets.end();
  };
  auto add = [&](std::unique_ptr<Sensor> sensor, absl::Duration model_interval) {
    sensor->interval = ReadingInterval(model_interval, o);
    sensor->spec.expected_interval = sensor->interval;
    sensor->next_due =
        FirstDue(start, sensor->interval, StreamSeed(o.seed, "phase:" + sensor->spec.id));
    simulation->sources_.push_back(sensor->spec);
    simulation->sensors_.push_back(std::move(sensor));
  };

  // Order as in SimulatedDatasets(), so Sources() is stable.
  if (wanted(kBeachDataset)) {
    for (const Beach& beach : kBeaches) {
      SourceSpec spec = Spec(absl::StrCat("beach-", beach.id), kBeachDataset,
                             absl::StrCat(beach.name, ", temperatursensor"),
                             Point(beach.latitude, beach.longitude),
                             SimulatedMetadata({{"beach_id", beach.id}}));
      const uint64_t seed = StreamSeed(o.seed, spec.id);
      add(std::make_unique<BeachSensor>(std::move(spec), seed, beach, o.packet_loss),
          absl::Minutes(10));
    }
  }
  if (wanted(kContainerDataset)) {
    // Containers stand in groups of four, one per fraction, spread over the city districts.
    double total_weight = 0;
    for (const District& district : kDistricts) total_weight += district.weight;
    GeoPoint site_position;
    const District* site_district = &kDistricts[0];
    for (int i = 0; i < o.containers; ++i) {
      const int site = i / 4;
      const int fraction = i % 4;
      if (fraction == 0) {
        Rng rng(StreamSeed(o.seed, absl::StrCat("site:", site)));
        double pick = rng.Uniform(0.0, total_weight);
        for (const District& district : kDistricts) {
          site_district = &district;
          pick -= district.weight;
          if (pick < 0) break;
        }
        site_position = GeoPoint{
            Clamp(site_district->latitude + 0.006 * rng.Gaussian(), 58.875, 59.015),
            Clamp(site_district->longitude + 0.012 * rng.Gaussian(), 5.505, 5.845)};
      }
      const std::string container_id = absl::StrFormat("ST-%05d", i + 1);
      SourceSpec spec = Spec(
          absl::StrFormat("container-%05d", i + 1), kContainerDataset,
          absl::StrCat("Nedgravd beholder ", container_id, " (", kFractions[fraction].name,
                       "), ", site_district->name),
          // Side by side, about 2 m apart.
          Point(site_position.latitude, site_position.longitude + 0.000035 * fraction),
          SimulatedMetadata(
              {{"container_id", container_id}, {"fraction", kFractions[fraction].name}}));
      const uint64_t seed = StreamSeed(o.seed, spec.id);
      add(std::make_unique<ContainerSensor>(std::move(spec), seed, container_id, fraction,
                                            o.packet_loss),
          absl::Hours(1));
    }
  }
  if (wanted(kBikeDataset)) {
    for (const BikeStation& station : kBikeStations) {
      SourceSpec spec = Spec(absl::StrCat("bike-station-", station.id), kBikeDataset,
                             absl::StrCat("Bysykkelstasjon ", station.name),
                             Point(station.latitude, station.longitude),
                             SimulatedMetadata({{"station_id", station.id},
                                                {"capacity", absl::StrCat(station.capacity)}}));
      const uint64_t seed = StreamSeed(o.seed, spec.id);
      add(std::make_unique<BikeSensor>(std::move(spec), seed, station), absl::Minutes(1));
    }
  }
  if (wanted(kGarageDataset)) {
    for (const Garage& garage : kGarages) {
      SourceSpec spec = Spec(absl::StrCat("garage-", garage.id), kGarageDataset, garage.name,
                             Point(garage.latitude, garage.longitude),
                             SimulatedMetadata({{"garage_id", garage.id},
                                                {"capacity", absl::StrCat(garage.capacity)}}));
      const uint64_t seed = StreamSeed(o.seed, spec.id);
      add(std::make_unique<GarageSensor>(std::move(spec), seed, garage), absl::Minutes(1));
    }
  }
  return simulation;
}

absl::Time Simulation::ModelTime(absl::Time t) const {
  if (options_.speed == 1) return t;
  return anchor_ + (t - anchor_) * options_.speed;
}

std::vector<SimulatedReading> Simulation::Tick(absl::Time now) {
  std::vector<SimulatedReading> readings;
  if (now <= last_tick_) return readings;
  for (const auto& sensor : sensors_) {
    while (sensor->next_due <= now) {
      std::optional<SimulatedReading> reading =
          sensor->Sample(sensor->next_due, ModelTime(sensor->next_due));
      if (reading.has_value()) readings.push_back(*std::move(reading));
      sensor->next_due += sensor->interval;
    }
  }
  std::stable_sort(readings.begin(), readings.end(),
                   [](const SimulatedReading& a, const SimulatedReading& b) {
                     return a.time < b.time;
                   });
  last_tick_ = now;
  return readings;
}

std::string MqttTopic(const SimulatedReading& reading) {
  return absl::StrCat("smartby/readings/", reading.dataset, "/", reading.source_id);
}

std::string ToJson(const SimulatedReading& reading) {
  std::string out = "{\"source_id\":";
  AppendJsonString(out, reading.source_id);
  out += ",\"time\":";
  AppendJsonString(out, FormatRfc3339(reading.time));
  for (const auto& [name, value] : reading.values) {
    out += ',';
    AppendJsonString(out, name);
    out += ':';
    AppendJsonValue(out, value);
  }
  out += '}';
  return out;
}

std::string FormatRfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

}  // namespace smartby::simulator
