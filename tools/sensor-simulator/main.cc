// smartby-sensor-simulator: plays the demo datasets' sensors (simulation.h) into ingestion, over
// gRPC (StreamReadings), over MQTT (as a LoRaWAN network server or gateway would), or both.
//
// Wiring: flags -> credentials -> simulation -> RegisterSource for every sensor -> transports ->
// a loop that ticks the simulation about once a second and hands the readings to the transports.
// A transport that cannot deliver keeps its readings (up to a limit; past it the simulation
// waits and later catches up, so no simulated reading is lost) and retries with backoff;
// nothing the far end does makes the simulator exit. SIGINT/SIGTERM stop it with status 0.
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/runtime/clock.h"
#include "services/runtime/flags.h"
#include "services/runtime/log.h"
#include "services/runtime/service_token.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tools/sensor-simulator/simulation.h"

ABSL_FLAG(std::string, transport, "grpc",
          "how readings reach ingestion: grpc (StreamReadings), mqtt (publish to the broker "
          "ingestion subscribes to) or both (the --mqtt_datasets over MQTT, the rest over gRPC)");
ABSL_FLAG(std::string, ingestion_address, "127.0.0.1:7002",
          "ingestion's gRPC address (HOST:PORT), for StreamReadings and RegisterSource");
ABSL_FLAG(std::string, tls_ca_file, "",
          "CA certificate (PEM) that signed the gRPC servers' certificates; turns on TLS for "
          "--ingestion_address and --auth_address");
ABSL_FLAG(bool, tls, false,
          "use TLS for gRPC with the system's trusted CAs (implied by --tls_ca_file); without "
          "TLS only addresses on this machine are allowed");
ABSL_FLAG(std::string, auth_address, "127.0.0.1:7004",
          "the auth service's gRPC address, where --client_id's credentials are exchanged for "
          "access tokens");
ABSL_FLAG(std::string, client_id, "",
          "service account to send readings as (it needs ingest-writer:<dataset> for every "
          "dataset it feeds); with --client_secret_file");
ABSL_FLAG(std::string, client_secret_file, "", "file holding the service account's secret");
ABSL_FLAG(std::string, token_file, "",
          "file holding an access token to send instead (read again for every batch, so it can "
          "be replaced while running); not with --client_id");
ABSL_FLAG(std::string, mqtt_host, "127.0.0.1", "MQTT broker host");
ABSL_FLAG(int32_t, mqtt_port, 1883, "MQTT broker port");
ABSL_FLAG(std::string, mqtt_ca_file, "",
          "CA certificate (PEM) of the broker; turns on TLS for MQTT (needed for a broker that "
          "is not on this machine)");
ABSL_FLAG(std::string, mqtt_username, "", "MQTT user name, when the broker wants one");
ABSL_FLAG(std::string, mqtt_password_file, "", "file holding the MQTT password");
ABSL_FLAG(std::vector<std::string>, mqtt_datasets, {},
          "with --transport=both: the datasets sent over MQTT (default: the LoRaWAN sensors, "
          "badetemperatur-stavanger and nedgravde-avfallsbeholdere-fyllingsgrad)");
ABSL_FLAG(std::vector<std::string>, datasets, {},
          "the datasets to simulate, comma-separated (default: all: badetemperatur-stavanger, "
          "nedgravde-avfallsbeholdere-fyllingsgrad, bysykkel-stavanger, "
          "parkeringshus-ledige-plasser-stavanger)");
ABSL_FLAG(double, speed, 1,
          "how fast simulated time runs: 1 = real time, 60 = a simulated minute per second "
          "(readings keep current timestamps; the models' days pass faster)");
ABSL_FLAG(uint64_t, seed, 1, "seed of the models' randomness: the same seed plays the same data");
ABSL_FLAG(double, interval, 1,
          "multiplies every sensor's reporting interval (containers 1 h, beaches 10 min, "
          "garages and bike stations 1 min, all in simulated time): 0.5 = twice as often");
ABSL_FLAG(int32_t, containers, 2000, "how many waste containers to simulate");
ABSL_FLAG(double, packet_loss, 0.01,
          "share of the radio sensors' readings (containers, beaches) that never arrive, as on "
          "a real LoRaWAN network");
ABSL_FLAG(absl::Duration, backfill, absl::Hours(1),
          "history to send first, as fast as ingestion takes it, so charts have data at once "
          "(0 = none)");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "stop after this long (0 = run until SIGINT or SIGTERM)");
ABSL_FLAG(bool, register, true,
          "register every simulated sensor with ingestion (RegisterSource) before sending; an "
          "existing registration is kept as it is");
ABSL_FLAG(absl::Duration, summary_interval, absl::Seconds(10),
          "how often to log a summary line (sent, accepted, rejected, pending)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error");

namespace {

namespace sim = smartby::simulator;
namespace v1 = smartcity::ingestion::v1;
namespace log = smartby::log;

constexpr int kExitUsage = 2;
constexpr size_t kMaxBatch = 5000;             // readings per WriteReadingsRequest (max 10,000)
constexpr size_t kHighWater = 50000;           // pending readings at which the simulation waits
constexpr absl::Duration kTickPeriod = absl::Seconds(1);
constexpr absl::Duration kMaxCatchUpStep = absl::Minutes(1);  // reading time per tick when behind
constexpr absl::Duration kStallTimeout = absl::Seconds(60);

// ---- Small helpers ------------------------------------------------------------------------

std::string Message(const absl::Status& status) { return std::string(status.message()); }

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, const char* flag) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read \"", path, "\""));
  std::string value(absl::StripAsciiWhitespace(text.str()));
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": \"", path, "\" is empty"));
  return value;
}

// True for 127.0.0.0/8, ::1 and localhost, with or without a port ("127.0.0.1:7002",
// "[::1]:7002", "localhost"), and for unix: sockets.
bool IsLoopback(absl::string_view address, bool has_port) {
  if (absl::StartsWith(address, "unix:")) return true;
  absl::string_view host = address;
  if (absl::StartsWith(host, "[")) {
    host = host.substr(1, host.find(']') - 1);
  } else if (has_port) {
    if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

std::string NewRequestId() {
  std::random_device device;
  return absl::StrFormat("%08x%08x%08x%08x", device(), device(), device(), device());
}

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  const int64_t seconds = absl::ToUnixSeconds(time);
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return timestamp;
}

v1::Value ToProtoValue(const sim::Value& value) {
  v1::Value out;
  switch (sim::KindOf(value)) {
    case sim::ValueKind::kString: out.set_string_value(std::get<std::string>(value)); break;
    case sim::ValueKind::kInteger: out.set_integer_value(std::get<int64_t>(value)); break;
    case sim::ValueKind::kDouble: out.set_double_value(std::get<double>(value)); break;
    case sim::ValueKind::kBool: out.set_bool_value(std::get<bool>(value)); break;
    case sim::ValueKind::kTimestamp:
      *out.mutable_timestamp_value() = ToTimestamp(std::get<absl::Time>(value));
      break;
    case sim::ValueKind::kGeoPoint: {
      const sim::GeoPoint& point = std::get<sim::GeoPoint>(value);
      out.mutable_geo_value()->set_latitude(point.latitude);
      out.mutable_geo_value()->set_longitude(point.longitude);
      break;
    }
  }
  return out;
}

v1::Reading ToProtoReading(const sim::SimulatedReading& reading) {
  v1::Reading out;
  out.set_source_id(reading.source_id);
  *out.mutable_time() = ToTimestamp(reading.time);
  for (const auto& [name, value] : reading.values) (*out.mutable_values())[name] = ToProtoValue(value);
  return out;
}

std::string ReasonName(v1::RejectReason reason) {
  std::string name = v1::RejectReason_Name(reason);
  if (absl::StartsWith(name, "REJECT_REASON_")) name = name.substr(14);
  return name.empty() ? absl::StrCat(static_cast<int>(reason)) : name;
}

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index <= 16 ? kNames[index] : absl::StrCat(index);
}

// Exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to 30 s.
class Backoff {
 public:
  absl::Duration Next() {
    const absl::Duration base = current_;
    current_ = std::min(current_ * 2, absl::Seconds(30));
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return base * jitter(random_);
  }
  void Reset() { current_ = absl::Milliseconds(500); }

 private:
  absl::Duration current_ = absl::Milliseconds(500);
  std::mt19937 random_{std::random_device{}()};
};

// ---- Stopping -----------------------------------------------------------------------------

// Set from the signal thread (or when --duration is over). Cancels the gRPC calls in flight so
// that a blocked Read or Write returns at once.
class Stopper {
 public:
  void Stop() {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    for (grpc::ClientContext* context : calls_) context->TryCancel();
  }
  bool stopped() const {
    absl::MutexLock lock(&mu_);
    return stopped_;
  }
  // Waits up to `timeout`; true when stopping.
  bool WaitFor(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopped_), std::max(timeout, absl::ZeroDuration()));
    return stopped_;
  }
  // A call to cancel on Stop(); Untrack before the context is destroyed.
  void Track(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    calls_.insert(context);
    if (stopped_) context->TryCancel();
  }
  void Untrack(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    calls_.erase(context);
  }

 private:
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);
};

// ---- Credentials --------------------------------------------------------------------------

// --token_file, read again on every call so that an outside process can renew it.
class FileTokenProvider : public smartby::TokenProvider {
 public:
  explicit FileTokenProvider(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<std::string> Token() override {
    auto token = ReadSecretFile(path_, "--token_file");
    if (!token.ok()) return absl::UnauthenticatedError(Message(token.status()));
    return token;
  }

 private:
  const std::string path_;
};

// A channel to HOST:PORT: TLS with the CA file or the system roots when asked; plaintext only
// to this machine.
absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelTo(const std::string& address,
                                                         const char* flag) {
  if (address.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": HOST:PORT is missing"));
  const std::string ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  const bool tls = absl::GetFlag(FLAGS_tls) || !ca_file.empty();
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!ca_file.empty()) {
      std::ifstream in(ca_file);
      std::stringstream pem;
      pem << in.rdbuf();
      if (!in || pem.str().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--tls_ca_file: cannot read \"", ca_file, "\" (a PEM file with the CA certificate)"));
      }
      ssl.pem_root_certs = pem.str();
    }
    credentials = grpc::SslCredentials(ssl);
  } else if (IsLoopback(address, /*has_port=*/true)) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": ", address,
        " is not on this machine, and readings and access tokens must not cross the network "
        "unencrypted: give --tls_ca_file (the CA that signed the server's certificate) or --tls "
        "(to trust the system's CAs)"));
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);  // notice a vanished server within a minute
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 10000);
  return grpc::CreateCustomChannel(address, credentials, args);
}

// ---- Registration -------------------------------------------------------------------------

// Registers every source (16 calls in flight). ALREADY_EXISTS counts as done; UNAVAILABLE and
// DEADLINE_EXCEEDED are retried with backoff until ingestion answers or the simulator stops;
// other refusals are logged once per dataset and code and not retried (the readings of those
// sources will then be rejected, and the rejections logged).
void RegisterSources(v1::IngestionService::Stub& stub, smartby::TokenProvider* tokens,
                     const std::vector<sim::SourceSpec>& sources, Stopper& stopper) {
  constexpr int kInFlight = 16;
  struct Call {
    const sim::SourceSpec* source;
    grpc::ClientContext context;
    v1::RegisterSourceRequest request;
    v1::Source response;
    grpc::Status status;
  };
  std::vector<const sim::SourceSpec*> todo;
  for (const sim::SourceSpec& source : sources) todo.push_back(&source);
  int64_t created = 0, existing = 0, refused = 0;
  std::set<std::pair<std::string, grpc::StatusCode>> reported;
  Backoff backoff;
  const absl::Time started = absl::Now();
  log::Info("registering sources", {{"sources", static_cast<int64_t>(todo.size())},
                                    {"ingestion", absl::GetFlag(FLAGS_ingestion_address)}});
  while (!todo.empty() && !stopper.stopped()) {
    // One token for the round; a provider error means nothing can be sent yet.
    std::string token;
    if (tokens != nullptr) {
      absl::StatusOr<std::string> got = tokens->Token();
      if (!got.ok()) {
        const absl::Duration wait = backoff.Next();
        log::Warn("cannot get an access token; will retry",
                  {{"error", Message(got.status())}, {"retry_in_s", absl::ToDoubleSeconds(wait)}});
        stopper.WaitFor(wait);
        continue;
      }
      token = *std::move(got);
    }
    absl::Mutex mu;
    int in_flight = 0;
    std::vector<std::unique_ptr<Call>> calls;
    calls.reserve(todo.size());
    for (const sim::SourceSpec* source : todo) {
      {
        absl::MutexLock lock(&mu);
        mu.Await(absl::Condition(+[](int* n) { return *n < kInFlight; }, &in_flight));
        ++in_flight;
      }
      if (stopper.stopped()) {
        absl::MutexLock lock(&mu);
        --in_flight;
        break;
      }
      auto call = std::make_unique<Call>();
      call->source = source;
      v1::Source& out = *call->request.mutable_source();
      out.set_id(source->id);
      out.set_dataset(source->dataset);
      out.set_name(source->name);
      out.mutable_position()->set_latitude(source->position.latitude);
      out.mutable_position()->set_longitude(source->position.longitude);
      for (const auto& [key, value] : source->metadata) (*out.mutable_metadata())[key] = value;
      const int64_t interval_ms = absl::ToInt64Milliseconds(source->expected_interval);
      out.mutable_expected_interval()->set_seconds(interval_ms / 1000);
      out.mutable_expected_interval()->set_nanos(static_cast<int32_t>(interval_ms % 1000) * 1000000);
      call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      call->context.AddMetadata("x-request-id", NewRequestId());
      if (!token.empty()) call->context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
      stopper.Track(&call->context);
      Call* raw = call.get();
      calls.push_back(std::move(call));
      stub.async()->RegisterSource(&raw->context, &raw->request, &raw->response,
                                   [raw, &mu, &in_flight](grpc::Status status) {
                                     absl::MutexLock lock(&mu);
                                     raw->status = std::move(status);
                                     --in_flight;
                                   });
    }
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(+[](int* n) { return *n == 0; }, &in_flight));
    }
    // Sources not even tried because of a stop stay to do.
    std::vector<const sim::SourceSpec*> retry(todo.begin() + static_cast<std::ptrdiff_t>(calls.size()),
                                              todo.end());
    std::string retry_error;
    for (const auto& call : calls) {
      stopper.Untrack(&call->context);
      const grpc::StatusCode code = call->status.error_code();
      if (code == grpc::StatusCode::OK) {
        ++created;
      } else if (code == grpc::StatusCode::ALREADY_EXISTS) {
        ++existing;
      } else if (code == grpc::StatusCode::UNAVAILABLE ||
                 code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                 code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                 code == grpc::StatusCode::CANCELLED) {
        retry.push_back(call->source);
        retry_error = call->status.error_message();
      } else {
        ++refused;
        if (reported.insert({call->source->dataset, code}).second) {
          std::string hint;
          if (code == grpc::StatusCode::UNAUTHENTICATED) {
            hint = "give a service account (--client_id, --client_secret_file) or --token_file";
          } else if (code == grpc::StatusCode::PERMISSION_DENIED) {
            hint = absl::StrCat("the service account needs the role ingest-writer:",
                                call->source->dataset);
          } else if (code == grpc::StatusCode::NOT_FOUND ||
                     code == grpc::StatusCode::FAILED_PRECONDITION) {
            hint = "is the dataset in the catalogue? (smartctl dataset apply -f demo/datasets.yaml)";
          }
          log::Error("ingestion refused to register a source; its readings will be rejected",
                     {{"dataset", call->source->dataset}, {"source_id", call->source->id},
                      {"code", CodeName(code)}, {"error", call->status.error_message()},
                      {"hint", hint}});
        }
      }
    }
    todo = std::move(retry);
    if (!todo.empty() && !stopper.stopped()) {
      const absl::Duration wait = backoff.Next();
      log::Warn("cannot reach ingestion to register sources; will retry",
                {{"ingestion", absl::GetFlag(FLAGS_ingestion_address)},
                 {"remaining", static_cast<int64_t>(todo.size())},
                 {"error", retry_error},
                 {"retry_in_s", absl::ToDoubleSeconds(wait)},
                 {"hint", "is ingestion running? (--register=false skips registration)"}});
      stopper.WaitFor(wait);
    }
  }
  log::Info(todo.empty() ? "sources registered" : "registration stopped",
            {{"created", created}, {"already_registered", existing}, {"refused", refused},
             {"not_registered", static_cast<int64_t>(todo.size())},
             {"duration_s", absl::ToDoubleSeconds(absl::Now() - started)}});
}

// ---- Transports ---------------------------------------------------------------------------

struct TransportStats {
  int64_t sent = 0;        // handed to the far end
  int64_t accepted = 0;    // gRPC: stored by ingestion; MQTT: acknowledged by the broker
  int64_t duplicates = 0;  // gRPC: ingestion already had (source, time)
  int64_t rejected = 0;    // gRPC: refused by ingestion; MQTT: refused by the client library
  std::map<std::string, int64_t> rejected_by_reason;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  virtual void Add(std::vector<sim::SimulatedReading> readings) = 0;
  virtual size_t pending() const = 0;
  // Delivers pending readings until none is left or `until` has passed; returns at once while
  // a retry after a failure is not due yet. True when it delivered something.
  virtual bool Pump(absl::Time until) = 0;
  // Ends the connection in order, waiting up to `deadline` for what is in flight.
  virtual void Close(absl::Time deadline) = 0;
  virtual TransportStats stats() const = 0;
  virtual void Watchdog(absl::Time now) {}  // from the signal thread
};

// StreamReadings: one stream, one request per batch, and the batch's results read before the
// next is written (so a reading leaves `pending_` only when ingestion has answered for it; after
// a broken stream it is sent again, and ingestion's (source, time) deduplication makes that
// safe). A new stream is opened when the access token changes.
class GrpcTransport : public Transport {
 public:
  GrpcTransport(std::shared_ptr<grpc::Channel> channel, smartby::TokenProvider* tokens,
                Stopper* stopper)
      : stub_(v1::IngestionService::NewStub(std::move(channel))),
        tokens_(tokens),
        stopper_(stopper) {}

  const char* name() const override { return "grpc"; }

  void Add(std::vector<sim::SimulatedReading> readings) override {
    for (sim::SimulatedReading& reading : readings) {
      v1::Reading proto = ToProtoReading(reading);
      pending_.push_back({std::move(reading.dataset), std::move(proto)});
    }
  }

  size_t pending() const override { return pending_.size(); }
  TransportStats stats() const override { return stats_; }

  bool Pump(absl::Time until) override {
    bool delivered = false;
    while (!pending_.empty() && !stopper_->stopped() && absl::Now() >= retry_at_) {
      std::string token;
      if (tokens_ != nullptr) {
        absl::StatusOr<std::string> got = tokens_->Token();
        if (!got.ok()) {
          Failed("cannot get an access token", Message(got.status()));
          break;
        }
        token = *std::move(got);
      }
      if (stream_ != nullptr && token != stream_token_) EndStream(/*graceful=*/true);
      if (stream_ == nullptr) OpenStream(token);

      v1::WriteReadingsRequest request;
      const size_t count = std::min(pending_.size(), kMaxBatch);
      for (size_t i = 0; i < count; ++i) *request.add_readings() = pending_[i].reading;
      v1::WriteReadingsResponse response;
      WatchCall(true);
      const bool ok = stream_->Write(request) && stream_->Read(&response);
      WatchCall(false);
      if (!ok) {
        const grpc::Status status = EndStream(/*graceful=*/false);
        if (!stopper_->stopped()) {
          std::string hint;
          if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
            hint = "give a service account (--client_id, --client_secret_file) or --token_file";
          } else if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
            hint = "the service account needs ingest-writer:<dataset> for every dataset it feeds";
          } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
            hint = "is ingestion running?";
          }
          Failed(absl::StrCat("cannot send readings to ingestion at ",
                              absl::GetFlag(FLAGS_ingestion_address)),
                 absl::StrCat(CodeName(status.error_code()), ": ", status.error_message()), hint);
        }
        break;
      }
      Answered(count, response);
      delivered = true;
      if (absl::Now() >= until) break;
    }
    return delivered;
  }

  void Close(absl::Time deadline) override {
    if (stream_ != nullptr) EndStream(/*graceful=*/!stopper_->stopped());
  }

  void Watchdog(absl::Time now) override {
    absl::MutexLock lock(&watch_mu_);
    if (waiting_since_ != absl::InfiniteFuture() && now - waiting_since_ > kStallTimeout &&
        context_ != nullptr) {
      log::Warn("ingestion has not answered a batch for a minute; reconnecting",
                {{"ingestion", absl::GetFlag(FLAGS_ingestion_address)}});
      context_->TryCancel();
      waiting_since_ = absl::InfiniteFuture();
    }
  }

 private:
  struct Pending {
    std::string dataset;
    v1::Reading reading;
  };

  void OpenStream(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("x-request-id", NewRequestId());
    if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    stopper_->Track(context.get());
    {
      absl::MutexLock lock(&watch_mu_);
      context_ = context.get();
    }
    owned_context_ = std::move(context);
    stream_ = stub_->StreamReadings(owned_context_.get());
    stream_token_ = token;
  }

  // Ends the stream and returns its status. Graceful: half-closes and lets ingestion finish.
  grpc::Status EndStream(bool graceful) {
    if (graceful) {
      stream_->WritesDone();
      v1::WriteReadingsResponse ignored;
      WatchCall(true);
      while (stream_->Read(&ignored)) {
      }
      WatchCall(false);
    }
    // After a failed Write or Read the call is over; Finish collects its status.
    WatchCall(true);
    grpc::Status status = stream_->Finish();
    WatchCall(false);
    stream_.reset();
    {
      absl::MutexLock lock(&watch_mu_);
      context_ = nullptr;
    }
    stopper_->Untrack(owned_context_.get());
    owned_context_.reset();
    return status;
  }

  void WatchCall(bool waiting) {
    absl::MutexLock lock(&watch_mu_);
    waiting_since_ = waiting ? absl::Now() : absl::InfiniteFuture();
  }

  // Backs off; logs the first failure of an outage and then one every 30 s.
  void Failed(const std::string& what, const std::string& error, const std::string& hint = "") {
    const absl::Time now = absl::Now();
    const absl::Duration wait = backoff_.Next();
    retry_at_ = now + wait;
    if (now - last_failure_log_ >= absl::Seconds(30)) {
      last_failure_log_ = now;
      log::Warn(absl::StrCat(what, "; will keep retrying"),
                {{"transport", std::string("grpc")}, {"error", error},
                 {"pending", static_cast<int64_t>(pending_.size())},
                 {"retry_in_s", absl::ToDoubleSeconds(wait)}, {"hint", hint}});
    }
    healthy_ = false;
  }

  void Answered(size_t count, const v1::WriteReadingsResponse& response) {
    if (!healthy_) {
      last_failure_log_ = absl::InfinitePast();
      log::Info("sending readings to ingestion", {{"transport", std::string("grpc")},
                                                 {"ingestion", absl::GetFlag(FLAGS_ingestion_address)}});
      healthy_ = true;
    }
    backoff_.Reset();
    if (static_cast<size_t>(response.results_size()) != count) {
      log::Error("ingestion answered a batch with the wrong number of results",
                 {{"readings", static_cast<int64_t>(count)},
                  {"results", static_cast<int64_t>(response.results_size())}});
    }
    stats_.sent += static_cast<int64_t>(count);
    for (size_t i = 0; i < count; ++i) {
      const Pending& sent = pending_[i];
      if (i >= static_cast<size_t>(response.results_size())) {
        ++stats_.accepted;  // not said otherwise; counted as stored
        continue;
      }
      const v1::ReadingResult& result = response.results(static_cast<int>(i));
      switch (result.outcome()) {
        case v1::READING_OUTCOME_DUPLICATE: ++stats_.duplicates; break;
        case v1::READING_OUTCOME_REJECTED: {
          ++stats_.rejected;
          const std::string reason = ReasonName(result.reason());
          ++stats_.rejected_by_reason[reason];
          // Each kind of rejection in detail once; after that the summary counts them.
          if (logged_rejections_.insert(absl::StrCat(sent.dataset, "/", reason, "/", result.field()))
                  .second) {
            log::Warn("ingestion rejected a reading",
                      {{"dataset", sent.dataset}, {"source_id", sent.reading.source_id()},
                       {"reason", reason}, {"field", result.field()}, {"error", result.message()},
                       {"note", std::string("further rejections like this one are only counted")}});
          }
          break;
        }
        default: ++stats_.accepted;
      }
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
  }

  std::unique_ptr<v1::IngestionService::Stub> stub_;
  smartby::TokenProvider* const tokens_;
  Stopper* const stopper_;
  std::deque<Pending> pending_;
  std::unique_ptr<grpc::ClientContext> owned_context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WriteReadingsRequest, v1::WriteReadingsResponse>>
      stream_;
  std::string stream_token_;
  Backoff backoff_;
  absl::Time retry_at_ = absl::InfinitePast();
  bool healthy_ = false;
  absl::Time last_failure_log_ = absl::InfinitePast();
  TransportStats stats_;
  std::set<std::string> logged_rejections_;

  absl::Mutex watch_mu_;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(watch_mu_) = nullptr;
  absl::Time waiting_since_ ABSL_GUARDED_BY(watch_mu_) = absl::InfiniteFuture();
};

// MQTT: QoS 1 to smartby/readings/<dataset>/<source_id>, one JSON object per message.
// A thread of ours drives libmosquitto's network loop and does the (re)connecting, with
// exponential backoff (0.5 s up to 30 s) from the first attempt on: libmosquitto's own loop
// thread gives up when the broker is not there at start. Readings are handed to libmosquitto
// only while connected, and at most kMaxInFlight unacknowledged at a time, so an unreachable
// broker costs the `pending_` queue (bounded by the main loop) and nothing more.
class MqttTransport : public Transport {
 public:
  struct Options {
    std::string host;
    int port = 1883;
    std::string ca_file;
    std::string username;
    std::string password;
  };

  explicit MqttTransport(Options options) : options_(std::move(options)) {}

  ~MqttTransport() override {
    StopNetwork();
    if (client_ != nullptr) mosquitto_destroy(client_);
    mosquitto_lib_cleanup();
  }

  absl::Status Start() {
    mosquitto_lib_init();
    const std::string client_id = absl::StrCat("smartby-sensor-simulator-", getpid());
    client_ = mosquitto_new(client_id.c_str(), /*clean_session=*/true, this);
    if (client_ == nullptr) return absl::InternalError("cannot create an MQTT client (out of memory?)");
    mosquitto_threaded_set(client_, true);  // publish from the main thread, network on ours
    mosquitto_connect_callback_set(client_, &OnConnect);
    mosquitto_disconnect_callback_set(client_, &OnDisconnect);
    mosquitto_publish_callback_set(client_, &OnPublish);
    if (!options_.username.empty()) {
      const int rc = mosquitto_username_pw_set(
          client_, options_.username.c_str(),
          options_.password.empty() ? nullptr : options_.password.c_str());
      if (rc != MOSQ_ERR_SUCCESS) {
        return absl::InvalidArgumentError(absl::StrCat("--mqtt_username: ", mosquitto_strerror(rc)));
      }
    }
    if (!options_.ca_file.empty()) {
      const int rc = mosquitto_tls_set(client_, options_.ca_file.c_str(), nullptr, nullptr,
                                       nullptr, nullptr);
      if (rc != MOSQ_ERR_SUCCESS) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--mqtt_ca_file: cannot use \"", options_.ca_file, "\": ", mosquitto_strerror(rc)));
      }
    }
    network_ = std::thread([this] { NetworkLoop(); });
    return absl::OkStatus();
  }

  const char* name() const override { return "mqtt"; }

  void Add(std::vector<sim::SimulatedReading> readings) override {
    for (const sim::SimulatedReading& reading : readings) {
      pending_.push_back({sim::MqttTopic(reading), sim::ToJson(reading)});
    }
  }

  size_t pending() const override { return pending_.size(); }

  TransportStats stats() const override {
    TransportStats stats = stats_;
    stats.accepted = acked_.load();
    return stats;
  }

  bool Pump(absl::Time until) override {
    bool delivered = false;
    while (!pending_.empty() && connected_.load() && in_flight_.load() < kMaxInFlight) {
      const Outgoing& message = pending_.front();
      in_flight_.fetch_add(1);
      const int rc = mosquitto_publish(client_, nullptr, message.topic.c_str(),
                                       static_cast<int>(message.payload.size()),
                                       message.payload.data(), /*qos=*/1, /*retain=*/false);
      if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NOMEM) {
        in_flight_.fetch_sub(1);
        break;  // kept; sent after the reconnect
      }
      if (rc != MOSQ_ERR_SUCCESS) {
        in_flight_.fetch_sub(1);
        ++stats_.rejected;
        ++stats_.rejected_by_reason[mosquitto_strerror(rc)];
        log::Error("cannot publish a reading; dropped",
                   {{"transport", std::string("mqtt")}, {"topic", message.topic},
                    {"error", std::string(mosquitto_strerror(rc))}});
      } else {
        ++stats_.sent;
        delivered = true;
      }
      pending_.pop_front();
      if (absl::Now() >= until) break;
    }
    return delivered;
  }

  void Close(absl::Time deadline) override {
    if (client_ == nullptr) return;
    // Give the broker a moment to acknowledge what is in flight, then say goodbye.
    while (in_flight_.load() > 0 && connected_.load() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    closing_.store(true);
    if (connected_.load()) {
      mosquitto_disconnect(client_);
      absl::SleepFor(absl::Milliseconds(50));  // the network thread sends it
    }
    StopNetwork();
  }

 private:
  static constexpr int64_t kMaxInFlight = 2000;

  struct Outgoing {
    std::string topic;
    std::string payload;
  };

  std::string Broker() const { return absl::StrCat(options_.host, ":", options_.port); }

  static std::string ErrorText(int rc) {
    return rc == MOSQ_ERR_ERRNO ? std::string(strerror(errno)) : std::string(mosquitto_strerror(rc));
  }

  // Connects, runs the network loop, and on any failure waits out a backoff and reconnects.
  // Logs a failure once per outage, not once per attempt.
  void NetworkLoop() {
    Backoff backoff;
    bool first_attempt = true;
    bool socket_open = false;
    bool outage_logged = false;
    while (!stop_.HasBeenNotified()) {
      if (!socket_open) {
        const int rc = first_attempt
                           ? mosquitto_connect_async(client_, options_.host.c_str(),
                                                     options_.port, /*keepalive=*/30)
                           : mosquitto_reconnect_async(client_);
        first_attempt = false;
        if (rc != MOSQ_ERR_SUCCESS) {
          const absl::Duration wait = backoff.Next();
          if (!outage_logged) {
            outage_logged = true;
            log::Warn("cannot reach the MQTT broker; will keep trying",
                      {{"transport", std::string("mqtt")}, {"broker", Broker()},
                       {"error", ErrorText(rc)}, {"retry_in_s", absl::ToDoubleSeconds(wait)}});
          }
          stop_.WaitForNotificationWithTimeout(wait);
          continue;
        }
        socket_open = true;
      }
      const int rc = mosquitto_loop(client_, /*timeout_ms=*/200, 1);
      if (rc == MOSQ_ERR_SUCCESS) {
        if (connected_.load()) {
          backoff.Reset();
          outage_logged = false;
        }
        continue;
      }
      socket_open = false;
      connected_.store(false);
      if (closing_.load()) break;  // our own DISCONNECT
      const absl::Duration wait = backoff.Next();
      if (!outage_logged) {
        outage_logged = true;
        log::Warn("no connection to the MQTT broker; will keep trying",
                  {{"transport", std::string("mqtt")}, {"broker", Broker()},
                   {"error", ErrorText(rc)}, {"retry_in_s", absl::ToDoubleSeconds(wait)}});
      }
      stop_.WaitForNotificationWithTimeout(wait);
    }
  }

  void StopNetwork() {
    if (!stop_.HasBeenNotified()) stop_.Notify();
    if (network_.joinable()) network_.join();
  }

  // The callbacks run on the network thread, inside mosquitto_loop.
  static void OnConnect(struct mosquitto*, void* self, int rc) {
    auto* transport = static_cast<MqttTransport*>(self);
    if (rc == 0) {
      transport->connected_.store(true);
      log::Info("connected to the MQTT broker",
                {{"transport", std::string("mqtt")}, {"broker", transport->Broker()}});
    } else {
      log::Warn("the MQTT broker refused the connection; will keep trying",
                {{"transport", std::string("mqtt")}, {"broker", transport->Broker()},
                 {"error", std::string(mosquitto_connack_string(rc))},
                 {"hint", std::string("check --mqtt_username and --mqtt_password_file")}});
    }
  }
  static void OnDisconnect(struct mosquitto*, void* self, int rc) {
    static_cast<MqttTransport*>(self)->connected_.store(false);
  }
  static void OnPublish(struct mosquitto*, void* self, int /*mid*/) {
    auto* transport = static_cast<MqttTransport*>(self);
    transport->in_flight_.fetch_sub(1);
    transport->acked_.fetch_add(1);
  }

  const Options options_;
  struct mosquitto* client_ = nullptr;
  std::thread network_;
  absl::Notification stop_;
  std::deque<Outgoing> pending_;
  TransportStats stats_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> closing_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> acked_{0};
};

// ---- Configuration ------------------------------------------------------------------------

struct Config {
  sim::SimulationOptions simulation;
  std::string transport;
  std::set<std::string> mqtt_datasets;  // the rest go over gRPC
  absl::Duration backfill;
  absl::Duration duration;
  absl::Duration summary_interval;
};

absl::StatusOr<Config> ReadConfig() {
  Config config;
  config.transport = absl::AsciiStrToLower(absl::GetFlag(FLAGS_transport));
  if (config.transport != "grpc" && config.transport != "mqtt" && config.transport != "both") {
    return absl::InvalidArgumentError(
        absl::StrCat("--transport: \"", config.transport, "\" is not grpc, mqtt or both"));
  }
  sim::SimulationOptions& o = config.simulation;
  o.seed = absl::GetFlag(FLAGS_seed);
  o.datasets = absl::GetFlag(FLAGS_datasets);
  o.speed = absl::GetFlag(FLAGS_speed);
  o.interval_scale = absl::GetFlag(FLAGS_interval);
  o.packet_loss = absl::GetFlag(FLAGS_packet_loss);
  o.containers = absl::GetFlag(FLAGS_containers);
  if (absl::Status valid = sim::ValidateOptions(o); !valid.ok()) return valid;
  const std::vector<std::string> chosen = o.datasets.empty() ? sim::SimulatedDatasets() : o.datasets;

  std::vector<std::string> mqtt = absl::GetFlag(FLAGS_mqtt_datasets);
  if (!mqtt.empty() && config.transport != "both") {
    return absl::InvalidArgumentError(
        "--mqtt_datasets: only with --transport=both (with mqtt, every dataset goes over MQTT)");
  }
  if (config.transport == "mqtt") mqtt = chosen;
  if (config.transport == "both" && mqtt.empty()) {
    for (const char* dataset : {sim::kBeachDataset, sim::kContainerDataset}) {
      if (std::find(chosen.begin(), chosen.end(), dataset) != chosen.end()) mqtt.push_back(dataset);
    }
  }
  for (const std::string& dataset : mqtt) {
    if (std::find(chosen.begin(), chosen.end(), dataset) == chosen.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--mqtt_datasets: \"", dataset, "\" is not one of the simulated datasets (",
          absl::StrJoin(chosen, ", "), ")"));
    }
    config.mqtt_datasets.insert(dataset);
  }

  config.backfill = absl::GetFlag(FLAGS_backfill);
  config.duration = absl::GetFlag(FLAGS_duration);
  config.summary_interval = absl::GetFlag(FLAGS_summary_interval);
  if (config.backfill < absl::ZeroDuration() || config.backfill > absl::Hours(24 * 31)) {
    return absl::InvalidArgumentError("--backfill: must be between 0 and 744h (31 days)");
  }
  if (config.duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration: must not be negative (0 = until stopped)");
  }
  if (config.summary_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--summary_interval: must be at least 1s");
  }
  const int port = absl::GetFlag(FLAGS_mqtt_port);
  if (port < 1 || port > 65535) return absl::InvalidArgumentError("--mqtt_port: must be 1-65535");
  if (!absl::GetFlag(FLAGS_client_id).empty() && !absl::GetFlag(FLAGS_token_file).empty()) {
    return absl::InvalidArgumentError(
        "--client_id and --token_file: give one way to authenticate, not both");
  }
  if (absl::GetFlag(FLAGS_client_id).empty() != absl::GetFlag(FLAGS_client_secret_file).empty()) {
    return absl::InvalidArgumentError(
        "--client_id and --client_secret_file: give both (the service account and the file "
        "holding its secret) or neither");
  }
  return config;
}

// ---- The loop -----------------------------------------------------------------------------

void LogSummary(const char* msg, const Transport& transport, const sim::Simulation& simulation,
                absl::Duration behind) {
  const TransportStats stats = transport.stats();
  std::vector<std::string> reasons;
  for (const auto& [reason, count] : stats.rejected_by_reason) {
    reasons.push_back(absl::StrCat(reason, "=", count));
  }
  log::Info(msg, {{"transport", std::string(transport.name())},
                  {"sent", stats.sent},
                  {"accepted", stats.accepted},
                  {"duplicates", stats.duplicates},
                  {"rejected", stats.rejected},
                  {"rejected_by_reason", absl::StrJoin(reasons, ",")},
                  {"pending", static_cast<int64_t>(transport.pending())},
                  {"model_time", sim::FormatRfc3339(simulation.ModelTime(simulation.last_tick()))},
                  {"behind_s", absl::ToDoubleSeconds(behind)}});
}

int Fail(const absl::Status& status) {
  log::Error("cannot start", {{"error", Message(status)}});
  std::fprintf(stderr, "error: %s\n", Message(status).c_str());
  return kExitUsage;
}

int Run(int argc, char** argv) {
  // SIGINT and SIGTERM go to the signal thread alone (blocked before any thread exists).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  smartby::ParseFlags(argc, argv,
                      "smartby-sensor-simulator [flags]\n\n"
                      "Plays realistic sensor data for the demo datasets (waste containers, "
                      "parking garages, beaches, city bikes) into the ingestion service over "
                      "gRPC and/or MQTT. See tools/sensor-simulator/README.md.");
  log::Level level = log::Level::kInfo;
  if (!log::ParseLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "error: --log_level: expected debug, info, warn or error\n");
    return kExitUsage;
  }
  log::Init("sensor-simulator", level);
  log::RouteProtobufLogs();
  // gRPC's own lines ("connect failed ...") repeat what our warnings say, less plainly.
  if (std::getenv("GRPC_VERBOSITY") == nullptr && std::getenv("GRPC_TRACE") == nullptr) {
    gpr_set_log_function([](gpr_log_func_args*) {});
  }

  absl::StatusOr<Config> config = ReadConfig();
  if (!config.ok()) return Fail(config.status());
  const bool use_grpc = config->transport != "mqtt";
  const bool use_mqtt = config->transport != "grpc";
  const bool registering = absl::GetFlag(FLAGS_register);

  // Credentials.
  smartby::SystemClock clock;
  std::unique_ptr<smartby::TokenProvider> tokens;
  if (!absl::GetFlag(FLAGS_client_id).empty()) {
    auto secret = ReadSecretFile(absl::GetFlag(FLAGS_client_secret_file), "--client_secret_file");
    if (!secret.ok()) return Fail(secret.status());
    auto auth_channel = ChannelTo(absl::GetFlag(FLAGS_auth_address), "--auth_address");
    if (!auth_channel.ok()) return Fail(auth_channel.status());
    tokens = std::make_unique<smartby::ServiceTokenSource>(
        *auth_channel, absl::GetFlag(FLAGS_client_id), *std::move(secret), &clock);
  } else if (!absl::GetFlag(FLAGS_token_file).empty()) {
    auto token = ReadSecretFile(absl::GetFlag(FLAGS_token_file), "--token_file");
    if (!token.ok()) return Fail(token.status());
    tokens = std::make_unique<FileTokenProvider>(absl::GetFlag(FLAGS_token_file));
  } else if (use_grpc || registering) {
    log::Warn("no credentials: calls to ingestion carry no token and will be refused unless "
              "ingestion lets anonymous callers write",
              {{"hint", std::string("give --client_id and --client_secret_file (a service account "
                                    "with ingest-writer:<dataset>), or --token_file")}});
  }

  // Channels and transports (nothing connects yet).
  std::shared_ptr<grpc::Channel> ingestion_channel;
  if (use_grpc || registering) {
    auto channel = ChannelTo(absl::GetFlag(FLAGS_ingestion_address), "--ingestion_address");
    if (!channel.ok()) return Fail(channel.status());
    ingestion_channel = *std::move(channel);
  }
  MqttTransport::Options mqtt_options;
  if (use_mqtt) {
    mqtt_options.host = absl::GetFlag(FLAGS_mqtt_host);
    mqtt_options.port = absl::GetFlag(FLAGS_mqtt_port);
    mqtt_options.ca_file = absl::GetFlag(FLAGS_mqtt_ca_file);
    mqtt_options.username = absl::GetFlag(FLAGS_mqtt_username);
    if (mqtt_options.ca_file.empty() && !IsLoopback(mqtt_options.host, /*has_port=*/false)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--mqtt_host: ", mqtt_options.host,
          " is not on this machine, and readings must not cross the network unencrypted: give "
          "--mqtt_ca_file (the CA that signed the broker's certificate) for MQTT over TLS")));
    }
    if (!absl::GetFlag(FLAGS_mqtt_password_file).empty()) {
      if (mqtt_options.username.empty()) {
        return Fail(absl::InvalidArgumentError("--mqtt_password_file: needs --mqtt_username"));
      }
      auto password = ReadSecretFile(absl::GetFlag(FLAGS_mqtt_password_file), "--mqtt_password_file");
      if (!password.ok()) return Fail(password.status());
      mqtt_options.password = *std::move(password);
    }
  }

  // The simulation: `backfill` of history before now; model time equals wall time now.
  const absl::Time launch = absl::Now();
  config->simulation.anchor = launch;
  auto simulation = sim::Simulation::Create(config->simulation, launch - config->backfill);
  if (!simulation.ok()) return Fail(simulation.status());

  Stopper stopper;
  std::vector<std::unique_ptr<Transport>> owned;
  Transport* grpc_transport = nullptr;
  Transport* mqtt_transport = nullptr;
  if (use_grpc) {
    owned.push_back(std::make_unique<GrpcTransport>(ingestion_channel, tokens.get(), &stopper));
    grpc_transport = owned.back().get();
  }
  if (use_mqtt) {
    auto mqtt = std::make_unique<MqttTransport>(mqtt_options);
    if (absl::Status started = mqtt->Start(); !started.ok()) return Fail(started);
    mqtt_transport = mqtt.get();
    owned.push_back(std::move(mqtt));
  }

  // The signal thread: stops on the first SIGINT/SIGTERM, exits at once on a second one, and
  // watches for a gRPC batch that gets no answer.
  std::atomic<bool> finished{false};
  std::thread signal_thread([&] {
    while (!finished.load()) {
      const timespec wait{0, 200 * 1000 * 1000};
      const int signal_number = sigtimedwait(&signals, nullptr, &wait);
      if (signal_number > 0) {
        if (stopper.stopped()) {
          log::Warn("second signal: exiting without waiting", {{"signal", int64_t{signal_number}}});
          std::_Exit(0);
        }
        log::Info("stopping", {{"signal", std::string(strsignal(signal_number))}});
        stopper.Stop();
      }
      for (const auto& transport : owned) transport->Watchdog(absl::Now());
    }
  });

  std::vector<std::string> datasets;
  std::set<std::string> seen;
  for (const sim::SourceSpec& source : (*simulation)->Sources()) {
    if (seen.insert(source.dataset).second) datasets.push_back(source.dataset);
  }
  log::Info("starting",
            {{"datasets", absl::StrJoin(datasets, ",")},
             {"mqtt_datasets", absl::StrJoin(config->mqtt_datasets, ",")},
             {"sources", static_cast<int64_t>((*simulation)->Sources().size())},
             {"transport", config->transport},
             {"speed", config->simulation.speed},
             {"seed", static_cast<int64_t>(config->simulation.seed)},
             {"backfill_s", absl::ToDoubleSeconds(config->backfill)}});

  if (registering) {
    auto stub = v1::IngestionService::NewStub(ingestion_channel);
    RegisterSources(*stub, tokens.get(), (*simulation)->Sources(), stopper);
  }

  // When catching up, a step of reading time holds about one batch (at most a minute), so that
  // even at a high --speed a step cannot overshoot kHighWater by much.
  double readings_per_second = 0;
  for (const sim::SourceSpec& source : (*simulation)->Sources()) {
    readings_per_second += 1.0 / absl::ToDoubleSeconds(source.expected_interval);
  }
  const absl::Duration catch_up_step =
      std::clamp(absl::Seconds(static_cast<double>(kMaxBatch) / std::max(readings_per_second, 1e-3)),
                 absl::Seconds(1), kMaxCatchUpStep);

  const absl::Time end = config->duration > absl::ZeroDuration()
                             ? absl::Now() + config->duration
                             : absl::InfiniteFuture();
  absl::Time next_summary = absl::Now() + config->summary_interval;
  bool caught_up_logged = config->backfill == absl::ZeroDuration();
  while (!stopper.stopped()) {
    const absl::Time now = absl::Now();
    if (now >= end) break;
    size_t pending = 0;
    for (const auto& transport : owned) pending += transport->pending();

    // Generate up to now, a minute of reading time at a time; when catching up, a batch's worth
    // before sending, and nothing more while the transports hold kHighWater readings.
    bool progress = false;
    while (pending < kHighWater) {
      const absl::Time target = std::min(now, (*simulation)->last_tick() + catch_up_step);
      if (target <= (*simulation)->last_tick()) break;
      std::vector<sim::SimulatedReading> over_grpc, over_mqtt;
      for (sim::SimulatedReading& reading : (*simulation)->Tick(target)) {
        (config->mqtt_datasets.count(reading.dataset) ? over_mqtt : over_grpc)
            .push_back(std::move(reading));
      }
      pending += over_grpc.size() + over_mqtt.size();
      if (grpc_transport != nullptr && !over_grpc.empty()) grpc_transport->Add(std::move(over_grpc));
      if (mqtt_transport != nullptr && !over_mqtt.empty()) mqtt_transport->Add(std::move(over_mqtt));
      progress = true;
      if (pending >= kMaxBatch) break;
    }
    for (const auto& transport : owned) {
      if (transport->Pump(now + kTickPeriod)) progress = true;
    }

    const absl::Duration behind = absl::Now() - (*simulation)->last_tick();
    if (!caught_up_logged && behind < absl::Seconds(2)) {
      caught_up_logged = true;
      log::Info("backfill done; live", {{"backfill_s", absl::ToDoubleSeconds(config->backfill)},
                                        {"took_s", absl::ToDoubleSeconds(absl::Now() - launch)}});
    }
    if (absl::Now() >= next_summary) {
      for (const auto& transport : owned) LogSummary("summary", *transport, **simulation, behind);
      next_summary = absl::Now() + config->summary_interval;
    }
    // Catching up (backfill, or after an outage) goes on without pause while it makes progress.
    if (progress && behind > absl::Seconds(2)) continue;
    stopper.WaitFor(std::min(now + kTickPeriod, end) - absl::Now());
  }

  // At the end of --duration, deliver what is left (briefly); on a signal, just close.
  const bool signalled = stopper.stopped();
  if (!signalled) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    for (const auto& transport : owned) {
      while (transport->pending() > 0 && absl::Now() < deadline && !stopper.stopped()) {
        if (!transport->Pump(deadline)) stopper.WaitFor(absl::Milliseconds(100));
      }
    }
  }
  const absl::Time close_deadline = absl::Now() + absl::Seconds(2);
  for (const auto& transport : owned) transport->Close(close_deadline);
  const absl::Duration behind = absl::Now() - (*simulation)->last_tick();
  for (const auto& transport : owned) LogSummary("stopped", *transport, **simulation, behind);
  finished.store(true);
  signal_thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
