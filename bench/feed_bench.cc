// Feed benchmark, run by hand (see bench/README.md). The platform is real and runs on loopback as
// separate processes (bench_platform.h): auth, catalogue, ingestion and feed on SQLite; the
// writers and subscribers are this process. Everything shares the machine's cores.
//
//   1. delay   writers send WriteReadings of --batch readings at --rate readings/s in total
//              (paced on a fixed schedule) while --subscribers Subscribe streams take every
//              update. Each reading's time is the wall clock when its batch was sent, so
//              (received - time) is the whole ingest -> subscriber delay; (received -
//              accept_time) starts when ingestion accepted it. Baseline in the same run: one
//              WatchReadings stream on ingestion itself (what the feed follows), so the feed's
//              own share is the difference. Targets: p50 <= 5 ms, p99 <= 20 ms.
//   2. stalled the same with one more subscriber that never reads: the others' p99 and the
//              writers' throughput must change by less than 10 %. Throughput is measured
//              with the writers unthrottled (--saturate_seconds), with and without the stalled
//              subscriber. Runs 1 and 2 alternate in --rounds rounds (the stalled subscriber
//              opened and closed each time), so other load on the machine weighs on both.
//              The subscribers read raw bytes: one parses every message and checks order and
//              content, the others scan only the timestamps (see LiveSubscriber).
//   3. idle    memory: the feed's RSS before and after --idle subscribers that get nothing
//              (a dataset without readings): KiB per idle subscriber.
//   4. history a --history_days range of one source reporting every --history_interval,
//              downsampled to 1,000 points by GetHistory, --history_queries times: p50/p99
//              (target p99 <= 50 ms), and the first query apart: it has ingestion roll the
//              range up (its 5-minute rollups), which later queries read instead of the readings.
//              Baseline: paging the same raw range out of ingestion's QueryReadings.
//
// Usage: build-bench/bench/feed_bench [--rate=10000] [--subscribers=100] [--seconds=20]
//          [--saturate_seconds=10] [--rounds=4] [--batch=50] [--writers=4] [--sources=200]
//          [--idle=1000] [--history_days=30] [--history_interval=30] [--history_queries=50]
//          [--skip=delay,idle,history]
// SMARTBY_BENCH_DIR keeps the files.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <unistd.h>
#include <utility>
#include <vector>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/util/time_util.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_platform.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"
#include "smartcity/feed/v1/feed.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace {

namespace cv1 = ::smartcity::catalogue::v1;
namespace fv1 = ::smartcity::feed::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using google::protobuf::util::TimeUtil;
using smartby::bench::BenchFailure;
using smartby::bench::Channel;
using smartby::bench::Ctx;
using smartby::bench::Die;
using smartby::bench::Percentile;
using smartby::bench::Platform;
using smartby::bench::StatusKiB;
using smartby::bench::WallMicros;
using smartby::testing::ServiceProcess;
using Steady = std::chrono::steady_clock;

constexpr char kLive[] = "parkering-bench";
constexpr char kQuiet[] = "stille-bench";
constexpr char kHistory[] = "vannstand-bench";

struct Options {
  int rate = 10000;
  int subscribers = 100;
  int seconds = 20;
  int saturate_seconds = 10;
  int rounds = 4;
  int batch = 50;
  int writers = 4;
  int sources = 200;
  int idle = 1000;
  int history_days = 30;
  int history_interval = 30;
  int history_queries = 50;
  std::set<std::string> skip;
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    auto number = [&] { return std::atoi(value.c_str()); };
    if (name == "--rate") o.rate = number();
    else if (name == "--subscribers") o.subscribers = number();
    else if (name == "--seconds") o.seconds = number();
    else if (name == "--saturate_seconds") o.saturate_seconds = number();
    else if (name == "--rounds") o.rounds = number();
    else if (name == "--batch") o.batch = number();
    else if (name == "--writers") o.writers = number();
    else if (name == "--sources") o.sources = number();
    else if (name == "--idle") o.idle = number();
    else if (name == "--history_days") o.history_days = number();
    else if (name == "--history_interval") o.history_interval = number();
    else if (name == "--history_queries") o.history_queries = number();
    else if (name == "--skip") {
      for (absl::string_view s : absl::StrSplit(value, ',')) o.skip.insert(std::string(s));
    } else {
      std::fprintf(stderr, "unknown flag %s (see the comment at the top of feed_bench.cc)\n",
                   arg.c_str());
      std::exit(2);
    }
  }
  if (o.rate < 1 || o.subscribers < 1 || o.seconds < 1 || o.rounds < 1 || o.batch < 1 ||
      o.writers < 1 ||
      o.sources < o.batch || o.history_interval < 1 || o.history_queries < 1) {
    std::fprintf(stderr, "each number must be positive, and --sources at least --batch\n");
    std::exit(2);
  }
  return o;
}

cv1::Dataset Dataset(const std::string& name, const std::string& field, cv1::FieldType type,
                     double lo, double hi) {
  cv1::Dataset d;
  d.set_name(name);
  d.set_title("Benchmark: " + name);
  d.set_description("Målinger for feed-benchmarken.");
  d.mutable_owner()->set_organization("Stavanger kommune");
  d.set_license("NLOD-2.0");
  d.set_classification(smartcity::common::v1::CLASSIFICATION_OPEN);
  d.set_update_frequency(cv1::UPDATE_FREQUENCY_CONTINUOUS);
  cv1::SchemaField* f = d.add_fields();
  f->set_name(field);
  f->set_type(type);
  f->set_unit("count");
  f->set_min_value(lo);
  f->set_max_value(hi);
  return d;
}

std::vector<std::string> SourceIds(const std::string& prefix, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(absl::StrFormat("%s-%04d", prefix, i));
  return ids;
}

// Delays in 10 µs steps up to 100 ms, then in 1 ms steps up to 10 s (beyond that in the last
// bucket): fixed memory whatever the run's length (100 subscribers at 10,000/s are 20 million
// samples in 20 s).
class Histogram {
 public:
  void Add(int64_t micros) {
    const int64_t fine = micros / 10;
    const int64_t bucket = fine < kFine ? std::max<int64_t>(fine, 0)
                                        : std::min<int64_t>(kFine + (micros - 100'000) / 1000,
                                                            kBuckets - 1);
    ++counts_[bucket];
    ++total_;
  }
  void Merge(const Histogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
  }
  double PercentileMs(double p) const {
    if (total_ == 0) return 0;
    const int64_t rank = static_cast<int64_t>(p * static_cast<double>(total_));
    int64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return BucketMs(i);
    }
    return BucketMs(kBuckets - 1);
  }
  int64_t total() const { return total_; }

 private:
  static constexpr int64_t kFine = 10'000;                  // 10 µs each, up to 100 ms
  static constexpr size_t kBuckets = kFine + 9'900;         // then 1 ms each, up to 10 s
  static double BucketMs(size_t i) {
    const auto b = static_cast<int64_t>(i);
    return b < kFine ? static_cast<double>(b) * 0.01 : 100.0 + static_cast<double>(b - kFine);
  }
  std::vector<int64_t> counts_ = std::vector<int64_t>(kBuckets);
  int64_t total_ = 0;
};

// What one measuring window saw.
struct Window {
  Histogram from_send, from_accept;  // subscribers (or the baseline watcher)
  Histogram ack;                     // writers: WriteReadings round trip
  int64_t written = 0;
  double seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(written) / seconds : 0; }
  void Merge(const Window& other) {
    from_send.Merge(other.from_send);
    from_accept.Merge(other.from_accept);
    ack.Merge(other.ack);
    written += other.written;
    seconds += other.seconds;
  }
};

// One reader's samples not yet added to its recorder, and the window they were taken in.
struct Samples {
  Histogram from_send, from_accept;
  int64_t window = -1;
  int64_t count = 0;
};

// Counts into the current window while `measuring` is set; the owner opens and closes windows
// (Open, then `measuring = false` and take `window` under `mu`). Samples still held by a reader
// when its window closes are dropped, never counted in the next one.
struct Recorder {
  std::atomic<bool> measuring{false};
  std::atomic<int64_t> window_id{0};
  std::mutex mu;
  Window window;

  void Open() {
    std::lock_guard<std::mutex> lock(mu);
    window = Window();
    ++window_id;
    measuring = true;
  }
  void Record(Samples& samples, int64_t from_send_us, int64_t from_accept_us) {
    if (!measuring.load(std::memory_order_relaxed)) return;
    const int64_t id = window_id.load();
    if (samples.window != id) {
      samples = Samples();
      samples.window = id;
    }
    samples.from_send.Add(from_send_us);
    samples.from_accept.Add(from_accept_us);
    ++samples.count;
  }
  // Adds the samples to their window if it is still the current one.
  void Flush(Samples& samples) {
    if (samples.count == 0) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (samples.window == window_id.load()) {
        window.from_send.Merge(samples.from_send);
        window.from_accept.Merge(samples.from_accept);
      }
    }
    const int64_t id = samples.window;
    samples = Samples();
    samples.window = id;
  }
};

// --- 1 and 2: writers and subscribers ------------------------------------------------------

class Writers {
 public:
  Writers(const ServiceProcess& ingestion, const std::string& token, const Options& o)
      : o_(o), ids_(SourceIds("p", o.sources)) {
    for (int w = 0; w < o.writers; ++w) {
      stubs_.push_back(iv1::IngestionService::NewStub(Channel(ingestion.grpc_address())));
    }
    token_ = token;
  }

  // Sends for `seconds`: at `rate` readings/s in total, or as fast as answers come (rate 0).
  Window Run(int rate, int seconds) {
    std::vector<std::thread> threads;
    std::vector<Window> windows(o_.writers);
    const Steady::time_point start = Steady::now();
    const Steady::time_point end = start + std::chrono::seconds(seconds);
    for (int w = 0; w < o_.writers; ++w) {
      threads.emplace_back([&, w] {
        const double per_writer = static_cast<double>(rate) / o_.writers;
        const auto every = rate > 0 ? std::chrono::duration<double>(o_.batch / per_writer)
                                    : std::chrono::duration<double>(0);
        Steady::time_point next = start + std::chrono::duration_cast<Steady::duration>(
                                              every * (static_cast<double>(w) / o_.writers));
        while (true) {
          if (rate > 0) std::this_thread::sleep_until(next);  // pacing, not synchronisation
          if (Steady::now() >= end) break;
          next += std::chrono::duration_cast<Steady::duration>(every);
          iv1::WriteReadingsRequest request;
          const int64_t now = WallMicros();
          for (int i = 0; i < o_.batch; ++i) {
            iv1::Reading* r = request.add_readings();
            r->set_source_id(ids_[(cursor_.fetch_add(1)) % ids_.size()]);
            // Unique per (source, time): one source is sent at most once per batch, and
            // consecutive batches are further apart than a microsecond.
            *r->mutable_time() = TimeUtil::MicrosecondsToTimestamp(now);
            (*r->mutable_values())["ledige"].set_integer_value(i);
          }
          iv1::WriteReadingsResponse response;
          const grpc::Status status =
              stubs_[w]->WriteReadings(Ctx(token_, absl::Seconds(30)).get(), request, &response);
          if (!status.ok()) Die("WriteReadings: " + status.error_message());
          windows[w].ack.Add(WallMicros() - now);
          windows[w].written += o_.batch;
        }
      });
    }
    for (auto& t : threads) t.join();
    Window total;
    total.seconds = std::chrono::duration<double>(Steady::now() - start).count();
    for (const Window& w : windows) {
      total.ack.Merge(w.ack);
      total.written += w.written;
    }
    return total;
  }

 private:
  const Options& o_;
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<iv1::IngestionService::Stub>> stubs_;
  std::string token_;
  std::atomic<uint64_t> cursor_{0};
};

// What a timing subscriber needs of one SubscribeResponse, read straight off the wire (a
// CodedInputStream scan, no message built): per live update its reading time and accept time,
// and whether a SnapshotComplete or gaps came. The synthetic dashboards share the two cores with
// the platform; parsing a million updates a second into messages would measure the bench.
struct Scanned {
  std::vector<std::pair<int64_t, int64_t>> times;  // (reading time, accept time) in µs
  bool snapshot_complete = false;
  int64_t gaps = 0;
};

namespace wire {
using google::protobuf::io::CodedInputStream;
using WF = google::protobuf::internal::WireFormatLite;

constexpr uint32_t Tag(int field, WF::WireType type) { return (field << 3) | type; }
constexpr uint32_t kMessage(int field) { return Tag(field, WF::WIRETYPE_LENGTH_DELIMITED); }
constexpr uint32_t kVarint(int field) { return Tag(field, WF::WIRETYPE_VARINT); }

// Runs `field(tag)` for each field of the length-delimited message at the stream's position;
// `field` returns false to have the field skipped.
template <typename F>
bool Nested(CodedInputStream& in, F field) {
  uint32_t length = 0;
  if (!in.ReadVarint32(&length)) return false;
  const CodedInputStream::Limit limit = in.PushLimit(static_cast<int>(length));
  while (const uint32_t tag = in.ReadTag()) {
    if (!field(tag) && !WF::SkipField(&in, tag)) return false;
  }
  const bool whole = in.ConsumedEntireMessage();
  in.PopLimit(limit);
  return whole;
}

bool Timestamp(CodedInputStream& in, int64_t* micros) {
  uint64_t seconds = 0;
  uint32_t nanos = 0;
  const bool ok = Nested(in, [&](uint32_t tag) {
    if (tag == kVarint(1)) return in.ReadVarint64(&seconds);
    if (tag == kVarint(2)) return in.ReadVarint32(&nanos);
    return false;
  });
  *micros = static_cast<int64_t>(seconds) * 1'000'000 + nanos / 1000;
  return ok;
}

// SubscribeResponse { repeated FeedEvent events = 1; } FeedEvent { Update update = 1; Gap gap = 2;
// SnapshotComplete snapshot_complete = 3; ... } Update { Reading reading = 3;
// Timestamp accept_time = 4; bool snapshot = 6; } Reading { Timestamp time = 2; } (feed.proto,
// ingestion.proto).
bool Scan(grpc::ByteBuffer& buffer, Scanned* out) {
  grpc::ProtoBufferReader reader(&buffer);
  CodedInputStream in(&reader);
  while (const uint32_t tag = in.ReadTag()) {
    if (tag != kMessage(1)) {
      if (!WF::SkipField(&in, tag)) return false;
      continue;
    }
    const bool ok = Nested(in, [&](uint32_t event_tag) {
      if (event_tag == kMessage(2)) ++out->gaps;
      if (event_tag == kMessage(3)) out->snapshot_complete = true;
      if (event_tag != kMessage(1)) return false;
      int64_t time = 0, accept = 0;
      uint64_t snapshot = 0;
      const bool update_ok = Nested(in, [&](uint32_t update_tag) {
        if (update_tag == kMessage(4)) return Timestamp(in, &accept);
        if (update_tag == kVarint(6)) return in.ReadVarint64(&snapshot);
        if (update_tag != kMessage(3)) return false;
        return Nested(in, [&](uint32_t reading_tag) {
          return reading_tag == kMessage(2) && Timestamp(in, &time);
        });
      });
      if (update_ok && snapshot == 0) out->times.emplace_back(time, accept);
      return update_ok;
    });
    if (!ok) return false;
  }
  return in.ConsumedEntireMessage();
}
}  // namespace wire

// One Subscribe stream read as raw bytes by a callback reactor (on gRPC's few threads, not a
// thread per subscriber: 100 blocking readers spent more of the two cores on waking up than on
// reading), adding to `recorder` while it measures. Timing subscribers scan the bytes
// (wire::Scan); a checking subscriber parses every message into a SubscribeResponse and checks
// what a dashboard relies on: live updates in strictly increasing position order, each of the
// bench's dataset and sources, with its value.
class LiveSubscriber : public grpc::ClientReadReactor<grpc::ByteBuffer> {
 public:
  LiveSubscriber(std::shared_ptr<grpc::Channel> channel, const std::string& token,
                 Recorder* recorder, bool checking, int batch)
      : ctx_(Ctx(token, absl::Hours(2))), recorder_(recorder), checking_(checking),
        batch_(batch) {
    fv1::SubscribeRequest request;
    request.mutable_filter()->add_datasets(kLive);
    bool own = false;
    if (!grpc::GenericSerialize<grpc::ProtoBufferWriter, fv1::SubscribeRequest>(
             request, &request_, &own)
             .ok()) {
      Die("cannot serialise a SubscribeRequest");
    }
    // What the generated async stub does, with ByteBuffer as the response type.
    const grpc::internal::RpcMethod method("/smartcity.feed.v1.FeedService/Subscribe",
                                           grpc::internal::RpcMethod::SERVER_STREAMING, channel);
    grpc::internal::ClientCallbackReaderFactory<grpc::ByteBuffer>::Create(
        channel.get(), method, ctx_.get(), &request_, this);
    StartRead(&buffer_);
    StartCall();
  }
  ~LiveSubscriber() override {
    ctx_->TryCancel();
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait(lock, [this] { return done_; });  // gRPC is finished with this reactor
  }
  bool ready() const { return ready_.load(); }
  int64_t gaps() const { return gaps_.load(); }
  int64_t checked() const { return checked_.load(); }
  // Empty when every update checked was right.
  std::string problem() const {
    std::lock_guard<std::mutex> lock(problem_mu_);
    return problem_;
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    const int64_t now = WallMicros();
    scanned_.times.clear();
    if (checking_) {
      Check(buffer_, &scanned_);
    } else if (!wire::Scan(buffer_, &scanned_)) {
      Fail("a SubscribeResponse that does not parse");
    }
    if (scanned_.snapshot_complete) ready_ = true;
    gaps_ += std::exchange(scanned_.gaps, 0);
    for (const auto& [time, accept] : scanned_.times) {
      recorder_->Record(samples_, now - time, now - accept);
    }
    if (samples_.count >= 2000 || !recorder_->measuring.load()) recorder_->Flush(samples_);
    StartRead(&buffer_);
  }

  void OnDone(const grpc::Status&) override {
    recorder_->Flush(samples_);
    std::lock_guard<std::mutex> lock(done_mu_);
    done_ = true;
    done_cv_.notify_all();
  }

 private:
  void Check(grpc::ByteBuffer& buffer, Scanned* scanned) {
    fv1::SubscribeResponse response;
    if (!grpc::SerializationTraits<fv1::SubscribeResponse>::Deserialize(&buffer, &response).ok()) {
      Fail("a SubscribeResponse that does not parse");
      return;
    }
    for (const fv1::FeedEvent& event : response.events()) {
      if (event.has_snapshot_complete()) scanned->snapshot_complete = true;
      if (event.has_gap()) ++scanned->gaps;
      if (!event.has_update() || event.update().snapshot()) continue;
      const fv1::Update& update = event.update();
      if (update.position() <= last_position_) {
        Fail(absl::StrCat("position ", update.position(), " after ", last_position_));
      }
      last_position_ = update.position();
      const auto value = update.reading().values().find("ledige");
      if (update.dataset() != kLive || !absl::StartsWith(update.reading().source_id(), "p-") ||
          value == update.reading().values().end() || value->second.integer_value() < 0 ||
          value->second.integer_value() >= batch_) {
        Fail(absl::StrCat("update at position ", update.position(), " is not a bench reading: ",
                          update.ShortDebugString()));
      }
      scanned->times.emplace_back(TimeUtil::TimestampToMicroseconds(update.reading().time()),
                                  TimeUtil::TimestampToMicroseconds(update.accept_time()));
      ++checked_;
    }
  }

  void Fail(const std::string& what) {
    std::lock_guard<std::mutex> lock(problem_mu_);
    if (problem_.empty()) problem_ = what;
  }

  std::unique_ptr<grpc::ClientContext> ctx_;
  grpc::ByteBuffer request_;
  Recorder* recorder_;
  const bool checking_;
  const int batch_;
  // Touched only by the reactor's callbacks, which gRPC runs one at a time per stream.
  grpc::ByteBuffer buffer_;
  Scanned scanned_;
  Samples samples_;
  int64_t last_position_ = 0;  // the checking subscriber's
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> gaps_{0};
  std::atomic<int64_t> checked_{0};
  mutable std::mutex problem_mu_;
  std::string problem_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

// The baseline: ingestion's own WatchReadings, which the feed follows.
class Watcher {
 public:
  Watcher(const ServiceProcess& ingestion, const std::string& token, Recorder* recorder)
      : stub_(iv1::IngestionService::NewStub(Channel(ingestion.grpc_address()))),
        ctx_(Ctx(token, absl::Hours(2))), recorder_(recorder) {
    iv1::WatchReadingsRequest request;
    request.add_datasets(kLive);
    reader_ = stub_->WatchReadings(ctx_.get(), request);
    thread_ = std::thread([this] {
      iv1::WatchReadingsResponse response;
      Samples samples;
      while (reader_->Read(&response)) {
        const int64_t now = WallMicros();
        for (const iv1::PositionedReading& r : response.readings()) {
          recorder_->Record(samples, now - TimeUtil::TimestampToMicroseconds(r.reading().time()),
                            now - TimeUtil::TimestampToMicroseconds(r.accept_time()));
        }
        if (samples.count >= 2000 || !recorder_->measuring.load()) recorder_->Flush(samples);
      }
      recorder_->Flush(samples);
    });
  }
  ~Watcher() {
    ctx_->TryCancel();
    thread_.join();
    reader_->Finish().ok();
  }

 private:
  std::unique_ptr<iv1::IngestionService::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReader<iv1::WatchReadingsResponse>> reader_;
  Recorder* recorder_;
  std::thread thread_;
};

// A subscriber that opens its stream and never reads a byte.
class StalledSubscriber {
 public:
  StalledSubscriber(const ServiceProcess& feed, const std::string& token)
      : stub_(fv1::FeedService::NewStub(Channel(feed.grpc_address()))),
        ctx_(Ctx(token, absl::Hours(2))) {
    fv1::SubscribeRequest request;
    request.mutable_filter()->add_datasets(kLive);
    reader_ = stub_->PrepareAsyncSubscribe(ctx_.get(), request, &cq_);
    reader_->StartCall(reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    cq_.Next(&tag, &ok);  // the call has started; nothing is ever read
  }
  ~StalledSubscriber() {
    ctx_->TryCancel();
    grpc::Status status;
    reader_->Finish(&status, reinterpret_cast<void*>(2));
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

 private:
  std::unique_ptr<fv1::FeedService::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::ClientAsyncReader<fv1::SubscribeResponse>> reader_;
};

struct DelayFigures {
  Window feed, watch, writers;
  int64_t written_while_measuring = 0;  // the writers' readings and the tail's
  // CPU used during the measured seconds, in cores (1.0 = one core busy throughout).
  double feed_cores = 0, ingestion_cores = 0, bench_cores = 0, machine_cores = 0;
  int rounds = 0;

  // Adds a round of the same length (the cores are averaged).
  void Merge(const DelayFigures& other) {
    feed.Merge(other.feed);
    watch.Merge(other.watch);
    writers.Merge(other.writers);
    written_while_measuring += other.written_while_measuring;
    auto average = [&](double mine, double theirs) {
      return (mine * rounds + theirs) / (rounds + 1);
    };
    feed_cores = average(feed_cores, other.feed_cores);
    ingestion_cores = average(ingestion_cores, other.ingestion_cores);
    bench_cores = average(bench_cores, other.bench_cores);
    machine_cores = average(machine_cores, other.machine_cores);
    ++rounds;
  }
};

// Cores used by the feed, ingestion, this process and the whole machine between two calls.
class CpuMeter {
 public:
  CpuMeter(pid_t feed, pid_t ingestion) : feed_(feed), ingestion_(ingestion) { Read(start_); }
  void Stop(DelayFigures* f) {
    std::array<double, 4> end;
    Read(end);
    const double wall = std::chrono::duration<double>(Steady::now() - wall_start_).count();
    f->feed_cores = (end[0] - start_[0]) / wall;
    f->ingestion_cores = (end[1] - start_[1]) / wall;
    f->bench_cores = (end[2] - start_[2]) / wall;
    f->machine_cores = (end[3] - start_[3]) / wall;
  }

 private:
  void Read(std::array<double, 4>& out) const {
    out = {smartby::bench::ProcessCpuSeconds(feed_),
           smartby::bench::ProcessCpuSeconds(ingestion_),
           smartby::bench::ProcessCpuSeconds(getpid()),
           smartby::bench::MachineBusyCpuSeconds()};
  }
  const pid_t feed_, ingestion_;
  std::array<double, 4> start_{};
  const Steady::time_point wall_start_ = Steady::now();
};

DelayFigures MeasureDelay(Writers& writers, Recorder& feed_rec, Recorder& watch_rec,
                          const ServiceProcess& feed, const ServiceProcess& ingestion,
                          const Options& o, int seconds, int warmup_seconds) {
  // Warm up: caches, connections, the feed's resolver; then a steady state again.
  writers.Run(o.rate, warmup_seconds);
  for (Recorder* r : {&feed_rec, &watch_rec}) r->Open();
  DelayFigures f;
  CpuMeter cpu(feed.pid(), ingestion.pid());
  f.writers = writers.Run(o.rate, seconds);
  cpu.Stop(&f);
  // The last updates are still on their way: let them arrive before the window closes.
  f.written_while_measuring = f.writers.written + writers.Run(o.rate, 1).written;
  for (Recorder* r : {&feed_rec, &watch_rec}) r->measuring = false;
  {
    std::lock_guard<std::mutex> lock(feed_rec.mu);
    f.feed = std::exchange(feed_rec.window, Window());
  }
  {
    std::lock_guard<std::mutex> lock(watch_rec.mu);
    f.watch = std::exchange(watch_rec.window, Window());
  }
  return f;
}

// --- 3: idle subscribers -------------------------------------------------------------------

// `n` Subscribe streams on `channels` channels, each read until its opening SnapshotComplete
// (so the feed has registered it) and then left idle.
class IdleSubscribers {
 public:
  IdleSubscribers(const ServiceProcess& feed, const std::string& token, int n) {
    const int channels = std::max(1, n / 100);
    for (int c = 0; c < channels; ++c) {
      stubs_.push_back(fv1::FeedService::NewStub(Channel(feed.grpc_address())));
    }
    calls_.resize(n);
    for (int i = 0; i < n; ++i) {
      Call& call = calls_[i];
      call.ctx = Ctx(token, absl::Hours(2));
      fv1::SubscribeRequest request;
      request.mutable_filter()->add_datasets(kQuiet);
      call.reader = stubs_[i % channels]->PrepareAsyncSubscribe(call.ctx.get(), request, &cq_);
      call.reader->StartCall(Tag(i, kStarted));
    }
    int opened = 0;
    const absl::Time deadline = absl::Now() + absl::Minutes(2);
    while (opened < n) {
      void* tag;
      bool ok;
      if (cq_.AsyncNext(&tag, &ok, absl::ToChronoTime(deadline)) !=
          grpc::CompletionQueue::NextStatus::GOT_EVENT) {
        Die(absl::StrCat("only ", opened, " of ", n, " idle subscribers opened in 2 minutes"));
      }
      const auto [i, what] = Untag(tag);
      if (!ok) Die(absl::StrCat("idle subscriber ", i, " failed to open"));
      Call& call = calls_[i];
      if (what == kStarted) {
        call.reader->Read(&call.response, Tag(i, kRead));
        continue;
      }
      bool complete = false;
      for (const auto& e : call.response.events()) complete |= e.has_snapshot_complete();
      if (complete) {
        ++opened;
      } else {
        call.reader->Read(&call.response, Tag(i, kRead));
      }
    }
  }
  ~IdleSubscribers() {
    for (Call& call : calls_) call.ctx->TryCancel();
    for (size_t i = 0; i < calls_.size(); ++i) calls_[i].reader->Finish(&calls_[i].status, Tag(i, kFinished));
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

 private:
  enum What : uintptr_t { kStarted = 0, kRead = 1, kFinished = 2 };
  static void* Tag(size_t i, What what) { return reinterpret_cast<void*>((i << 2) | what); }
  static std::pair<size_t, What> Untag(void* tag) {
    const auto v = reinterpret_cast<uintptr_t>(tag);
    return {v >> 2, static_cast<What>(v & 3)};
  }
  struct Call {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientAsyncReader<fv1::SubscribeResponse>> reader;
    fv1::SubscribeResponse response;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<fv1::FeedService::Stub>> stubs_;
  grpc::CompletionQueue cq_;
  std::vector<Call> calls_;
};

// --- 4: history ----------------------------------------------------------------------------

struct HistoryFigures {
  int64_t raw_points = 0;
  size_t returned = 0;
  double first_ms = 0;  // the first query, which has ingestion roll the range up
  std::vector<double> feed_ms, raw_ms;
};

HistoryFigures MeasureHistory(Platform& platform, const ServiceProcess& ingestion,
                              const ServiceProcess& feed, const std::string& reader,
                              const Options& o) {
  auto ingestion_stub = iv1::IngestionService::NewStub(Channel(ingestion.grpc_address()));
  platform.RegisterSources(*ingestion_stub, kHistory, {"vannstand-1"},
                           absl::Seconds(o.history_interval));
  const int64_t end_us = WallMicros() - 1'000'000;
  const int64_t start_us = end_us - int64_t{o.history_days} * 86'400'000'000;
  const int64_t step_us = int64_t{o.history_interval} * 1'000'000;
  const std::string writer = platform.Writer(kHistory);
  iv1::WriteReadingsRequest request;
  int64_t n = 0;
  auto flush = [&] {
    iv1::WriteReadingsResponse response;
    const grpc::Status status =
        ingestion_stub->WriteReadings(Ctx(writer).get(), request, &response);
    if (!status.ok()) Die("WriteReadings (history): " + status.error_message());
    request.Clear();
  };
  for (int64_t t = start_us; t <= end_us; t += step_us, ++n) {
    iv1::Reading* r = request.add_readings();
    r->set_source_id("vannstand-1");
    *r->mutable_time() = TimeUtil::MicrosecondsToTimestamp(t);
    // A tide with a storm surge now and then: peaks the downsampling must keep.
    const double hours = static_cast<double>(t / 1'000'000) / 3600.0;
    double level = 120 + 80 * std::sin(hours * 2 * M_PI / 12.42);
    if (n % 20'000 == 0) level += 150;
    (*r->mutable_values())["vannstand"].set_double_value(level);
    if (request.readings_size() == 5000) flush();
  }
  if (request.readings_size() > 0) flush();

  HistoryFigures f;
  auto feed_stub = fv1::FeedService::NewStub(Channel(feed.grpc_address()));
  fv1::GetHistoryRequest history;
  history.set_dataset(kHistory);
  history.set_source_id("vannstand-1");
  history.set_field("vannstand");
  *history.mutable_start_time() = TimeUtil::MicrosecondsToTimestamp(start_us);
  *history.mutable_end_time() = TimeUtil::MicrosecondsToTimestamp(end_us + 1);
  history.set_max_points(1000);
  for (int q = 0; q < o.history_queries + 2; ++q) {
    const Steady::time_point t0 = Steady::now();
    fv1::GetHistoryResponse response;
    const grpc::Status status =
        feed_stub->GetHistory(Ctx(reader, absl::Minutes(1)).get(), history, &response);
    const double ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
    if (!status.ok()) Die("GetHistory: " + status.error_message());
    if (q == 0) f.first_ms = ms;
    if (q < 2) continue;  // the first (rolls up the range) and a warm-up
    f.feed_ms.push_back(ms);
    if (response.series_size() == 1) {
      f.raw_points = response.series(0).raw_points();
      f.returned = static_cast<size_t>(response.series(0).points_size());
    }
  }
  // Baseline: the same raw range paged out of ingestion.
  for (int q = 0; q < std::min(o.history_queries, 10); ++q) {
    const Steady::time_point t0 = Steady::now();
    iv1::QueryReadingsRequest query;
    query.set_source_id("vannstand-1");
    *query.mutable_start_time() = TimeUtil::MicrosecondsToTimestamp(start_us);
    *query.mutable_end_time() = TimeUtil::MicrosecondsToTimestamp(end_us + 1);
    query.set_page_size(10000);
    int64_t got = 0;
    while (true) {
      iv1::QueryReadingsResponse page;
      const grpc::Status status =
          ingestion_stub->QueryReadings(Ctx(reader, absl::Minutes(1)).get(), query, &page);
      if (!status.ok()) Die("QueryReadings: " + status.error_message());
      got += page.readings_size();
      if (page.next_page_token().empty()) break;
      query.set_page_token(page.next_page_token());
    }
    f.raw_ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
    if (got != n) Die(absl::StrCat("QueryReadings returned ", got, " of ", n, " readings"));
  }
  return f;
}

// --- The run -------------------------------------------------------------------------------

std::string Verdict(bool met) { return met ? "PASS" : "MISS"; }

// "Changes by less than 10 %": `worse` is the relative change for the worse. Much better with a
// stalled subscriber than without is not the feed's doing but the machine's noise.
std::string ChangeVerdict(double worse) {
  if (worse <= -0.10) return "NOISE (better with it)";
  return Verdict(worse < 0.10);
}

int Run(const Options& o, const std::string& dir) {
  Platform platform(dir);
  platform.CreateDataset(Dataset(kLive, "ledige", cv1::FIELD_TYPE_INTEGER, 0, 100000));
  platform.CreateDataset(Dataset(kQuiet, "ledige", cv1::FIELD_TYPE_INTEGER, 0, 100000));
  platform.CreateDataset(Dataset(kHistory, "vannstand", cv1::FIELD_TYPE_DOUBLE, -1000, 1000));
  auto ingestion = platform.StartIngestion(absl::StrCat("sqlite://", dir, "/ingestion.db"));
  auto feed = platform.StartFeed(*ingestion, absl::StrCat("sqlite://", dir, "/feed.db"));
  {
    auto stub = iv1::IngestionService::NewStub(Channel(ingestion->grpc_address()));
    platform.RegisterSources(*stub, kLive, SourceIds("p", o.sources), absl::Seconds(10));
  }
  smartby::testing::TokenSpec dashboard;  // a dashboard's reader
  dashboard.subject = "user:dashboard";
  dashboard.roles = {"reader"};
  dashboard.clearance = "open";
  dashboard.lifetime = absl::Hours(12);
  const std::string reader = platform.Token(dashboard);
  std::vector<std::string> table;
  auto row = [&](const std::string& what, const std::string& result, const std::string& baseline,
                 const std::string& target, const std::string& verdict) {
    table.push_back(absl::StrCat("| ", what, " | ", result, " | ", baseline, " | ", target, " | ",
                                 verdict, " |"));
  };

  if (!o.skip.contains("delay")) {
    Writers writers(*ingestion, platform.Writer(kLive), o);
    Recorder feed_rec, watch_rec;
    Watcher watcher(*ingestion, platform.feed(), &watch_rec);
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    for (int c = 0; c < std::max(1, o.subscribers / 25); ++c) {
      channels.push_back(Channel(feed->grpc_address()));
    }
    std::vector<std::unique_ptr<LiveSubscriber>> subscribers;
    for (int i = 0; i < o.subscribers; ++i) {
      // The first one checks order and content; the others only time.
      subscribers.push_back(std::make_unique<LiveSubscriber>(channels[i % channels.size()], reader,
                                                             &feed_rec, i == 0, o.batch));
    }
    for (const auto& s : subscribers) {
      const absl::Time deadline = absl::Now() + absl::Minutes(1);
      while (!s->ready()) {
        if (absl::Now() > deadline) Die("a subscriber got no snapshot within a minute");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling for readiness
      }
    }
    std::printf("%d subscribers open; %d readings/s for %d s\n", o.subscribers, o.rate, o.seconds);
    // Without and with the stalled subscriber in alternating rounds, so that what else runs
    // on the machine weighs on both alike.
    DelayFigures plain, stalled;
    Window saturated, saturated_stalled;
    const int round_seconds = std::max(1, o.seconds / o.rounds);
    const int saturate_round = std::max(1, o.saturate_seconds / o.rounds);
    std::string per_round;  // p99 without / with, round by round: how noisy the machine is
    for (int r = 0; r < o.rounds; ++r) {
      const DelayFigures without = MeasureDelay(writers, feed_rec, watch_rec, *feed, *ingestion,
                                                o, round_seconds, r == 0 ? 2 : 1);
      plain.Merge(without);
      saturated.Merge(writers.Run(0, saturate_round));
      StalledSubscriber stall(*feed, reader);
      const DelayFigures with = MeasureDelay(writers, feed_rec, watch_rec, *feed, *ingestion, o,
                                             round_seconds, 1);
      stalled.Merge(with);
      saturated_stalled.Merge(writers.Run(0, saturate_round));
      absl::StrAppendFormat(&per_round, " %.1f/%.1f", without.feed.from_send.PercentileMs(0.99),
                            with.feed.from_send.PercentileMs(0.99));
    }
    int64_t gaps = 0;
    for (const auto& s : subscribers) gaps += s->gaps();
    const LiveSubscriber& checker = *subscribers.front();
    if (!checker.problem().empty()) Die("the checking subscriber: " + checker.problem());
    if (checker.checked() == 0) Die("the checking subscriber got no live update");
    const double expected =
        static_cast<double>(plain.written_while_measuring) * o.subscribers;
    auto ms = [](double v) { return absl::StrFormat("%.2f", v); };
    std::printf(
        "1. delay, %d subscribers at %.0f readings/s: send->subscriber p50 %s / p99 %s ms; "
        "accept->subscriber p50 %s / p99 %s ms; %lld updates received (%.1f%% of expected), "
        "%lld gaps\n",
        o.subscribers, plain.writers.rate(), ms(plain.feed.from_send.PercentileMs(0.5)).c_str(),
        ms(plain.feed.from_send.PercentileMs(0.99)).c_str(),
        ms(plain.feed.from_accept.PercentileMs(0.5)).c_str(),
        ms(plain.feed.from_accept.PercentileMs(0.99)).c_str(),
        static_cast<long long>(plain.feed.from_send.total()),
        100.0 * static_cast<double>(plain.feed.from_send.total()) / expected,
        static_cast<long long>(gaps));
    std::printf("   baseline WatchReadings on ingestion: send->watcher p50 %s / p99 %s ms\n",
                ms(plain.watch.from_send.PercentileMs(0.5)).c_str(),
                ms(plain.watch.from_send.PercentileMs(0.99)).c_str());
    std::printf("   writers: WriteReadings of %d, round trip p50 %s / p99 %s ms\n", o.batch,
                ms(plain.writers.ack.PercentileMs(0.5)).c_str(),
                ms(plain.writers.ack.PercentileMs(0.99)).c_str());
    std::printf("   CPU while measuring, in cores of 2: feed %.2f (%.2f µs per update sent), "
                "ingestion %.2f, bench writers and subscribers %.2f, everything else on the "
                "machine %.2f\n",
                plain.feed_cores,
                plain.feed_cores * 1e6 /
                    std::max(1.0, static_cast<double>(plain.feed.from_send.total()) /
                                      std::max(1.0, plain.writers.seconds)),
                plain.ingestion_cores, plain.bench_cores,
                std::max(0.0, plain.machine_cores - plain.feed_cores - plain.ingestion_cores -
                                  plain.bench_cores));
    std::printf("   the checking subscriber parsed %lld live updates: in position order, each "
                "a bench reading\n",
                static_cast<long long>(checker.checked()));
    std::printf("2. with a stalled subscriber: send->subscriber p50 %s / p99 %s ms (%.2fx the "
                "p99 without); WatchReadings p99 %s ms; writers p99 %s ms; unthrottled writes "
                "%.0f/s vs %.0f/s without it (%.2fx)\n",
                ms(stalled.feed.from_send.PercentileMs(0.5)).c_str(),
                ms(stalled.feed.from_send.PercentileMs(0.99)).c_str(),
                stalled.feed.from_send.PercentileMs(0.99) /
                    std::max(0.01, plain.feed.from_send.PercentileMs(0.99)),
                ms(stalled.watch.from_send.PercentileMs(0.99)).c_str(),
                ms(stalled.writers.ack.PercentileMs(0.99)).c_str(), saturated_stalled.rate(),
                saturated.rate(), saturated_stalled.rate() / std::max(1.0, saturated.rate()));
    std::printf("   p99 per round, without/with the stalled subscriber (ms):%s\n",
                per_round.c_str());
    const double p50 = plain.feed.from_send.PercentileMs(0.5);
    const double p99 = plain.feed.from_send.PercentileMs(0.99);
    row(absl::StrFormat("1. ingest → subscriber delay, %d subscribers, %.0f readings/s",
                        o.subscribers, plain.writers.rate()),
        absl::StrCat("p50 ", ms(p50), " / p99 ", ms(p99), " ms"),
        absl::StrCat("WatchReadings p50 ", ms(plain.watch.from_send.PercentileMs(0.5)), " / p99 ",
                     ms(plain.watch.from_send.PercentileMs(0.99)), " ms"),
        "p50 ≤ 5 / p99 ≤ 20 ms", Verdict(p50 <= 5 && p99 <= 20));
    const double p99_stalled = stalled.feed.from_send.PercentileMs(0.99);
    const double p99_change = p99 > 0 ? (p99_stalled - p99) / p99 : 0;
    row("2. others' p99 with a stalled subscriber",
        absl::StrFormat("%s ms (%+.1f%%)", ms(p99_stalled), 100 * p99_change),
        absl::StrCat(ms(p99), " ms without"), "change < 10 %", ChangeVerdict(p99_change));
    const double rate_change =
        saturated.rate() > 0 ? (saturated_stalled.rate() - saturated.rate()) / saturated.rate()
                             : 0;
    row("2. unthrottled ingestion with a stalled subscriber",
        absl::StrFormat("%.0f readings/s (%+.1f%%)", saturated_stalled.rate(), 100 * rate_change),
        absl::StrFormat("%.0f readings/s without", saturated.rate()), "change < 10 %",
        ChangeVerdict(-rate_change));
  }

  if (!o.skip.contains("idle")) {
    const long before = StatusKiB(feed->pid(), "VmRSS:");
    double per_subscriber = 0;
    {
      IdleSubscribers idle(*feed, reader, o.idle);
      const long after = StatusKiB(feed->pid(), "VmRSS:");
      per_subscriber = static_cast<double>(after - before) / o.idle;
      std::printf("3. %d idle subscribers: feed RSS %ld -> %ld KiB, %.1f KiB each\n", o.idle,
                  before, after, per_subscriber);
    }
    row(absl::StrFormat("3. memory per idle subscriber (%d open)", o.idle),
        absl::StrFormat("%.1f KiB", per_subscriber),
        absl::StrFormat("feed RSS %ld KiB before", before), "(measured)", "");
  }

  if (!o.skip.contains("history")) {
    const HistoryFigures h = MeasureHistory(platform, *ingestion, *feed, reader, o);
    auto ms = [](double v) { return absl::StrFormat("%.1f", v); };
    std::printf("4. history of %lld readings (%d days, one per %d s) to %zu points: p50 %s / p99 "
                "%s ms; first query (rolls the range up in ingestion) %s ms; raw QueryReadings "
                "paging p50 %s ms\n",
                static_cast<long long>(h.raw_points), o.history_days, o.history_interval,
                h.returned, ms(Percentile(h.feed_ms, 0.5)).c_str(),
                ms(Percentile(h.feed_ms, 0.99)).c_str(), ms(h.first_ms).c_str(),
                ms(Percentile(h.raw_ms, 0.5)).c_str());
    const double p99 = Percentile(h.feed_ms, 0.99);
    row(absl::StrFormat("4. GetHistory, %d days of %lld readings → %zu points", o.history_days,
                        static_cast<long long>(h.raw_points), h.returned),
        absl::StrCat("p50 ", ms(Percentile(h.feed_ms, 0.5)), " / p99 ", ms(p99),
                     " ms (first, rolling up: ", ms(h.first_ms), " ms)"),
        absl::StrCat("raw QueryReadings of the range p50 ", ms(Percentile(h.raw_ms, 0.5)),
                     " ms (", absl::StrFormat("%.2f", Percentile(h.feed_ms, 0.5) /
                                                           std::max(0.001, Percentile(h.raw_ms, 0.5))),
                     "×)"),
        "p99 ≤ 50 ms", Verdict(p99 <= 50));
  }

  std::printf("\n| | result | baseline (same run) | target | |\n|---|---|---|---|---|\n");
  for (const std::string& line : table) std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseOptions(argc, argv);
  const std::string dir = smartby::bench::BenchDir("feed-bench");
  int status = 1;
  try {
    status = Run(o, dir);  // the services are stopped when it returns
  } catch (const BenchFailure& failure) {
    std::fprintf(stderr, "feed_bench: %s\n", failure.what());
  }
  // A directory of its own (about 100 MB of databases) goes; SMARTBY_BENCH_DIR keeps its files.
  if (std::getenv("SMARTBY_BENCH_DIR") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  return status;
}
