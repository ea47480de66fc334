#include "services/runtime/metrics.h"

#include <dirent.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>
#include <vector>

#include <prometheus/metric_family.h>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "services/runtime/log.h"

namespace smartby {
namespace {

using grpc::experimental::InterceptionHookPoints;
using prometheus::BuildCounter;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries& HandlingBuckets() {
  // go-grpc-prometheus's (and Prometheus client_golang's) default buckets.
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *buckets;
}

const char* GrpcTypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY: return "unary";
    case Type::CLIENT_STREAMING: return "client_stream";
    case Type::SERVER_STREAMING: return "server_stream";
    case Type::BIDI_STREAMING: return "bidi_stream";
  }
  return "unary";
}

// A request id is echoed into logs and response headers, so only a short, plain token is taken
// from the client; anything else is replaced.
bool IsAcceptableRequestId(grpc::string_ref id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

class ObservabilityInterceptor : public grpc::experimental::Interceptor {
 public:
  ObservabilityInterceptor(std::string method, MethodSeries& series, bool registered,
                           bool mutating, bool quiet)
      : series_(series),
        method_(std::move(method)),
        registered_(registered),
        mutating_(mutating),
        quiet_(quiet),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      series_.started().Increment();
      auto* metadata = methods->GetRecvInitialMetadata();
      auto it = metadata->find("x-request-id");
      if (it != metadata->end() && IsAcceptableRequestId(it->second)) {
        request_id_.assign(it->second.data(), it->second.size());
      } else {
        if (it != metadata->end()) metadata->erase(it);
        request_id_ = NewRequestId();
        // The handler reads the same id from its client metadata (see RequestIdOf); the strings
        // live in this interceptor, which lives as long as the call.
        metadata->emplace(grpc::string_ref(kRequestIdKey), grpc::string_ref(request_id_));
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      series_.received().Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      series_.sent().Increment();
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      if (!request_id_.empty()) {
        methods->GetSendInitialMetadata()->emplace(kRequestIdKey, request_id_);
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (registered_ && status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        status = UnreadableRequest();
        methods->ModifySendStatus(status);
      }
      Finish(status);
    }
    methods->Proceed();
  }

 private:
  static constexpr char kRequestIdKey[] = "x-request-id";

  // Our handlers never answer UNIMPLEMENTED without a message; gRPC does when it cannot parse
  // the request for a method that exists.
  static grpc::Status UnreadableRequest() {
    const std::string field = log::TakeInvalidUtf8Field();
    if (!field.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat(field, ": not valid UTF-8; send text as UTF-8 (a file saved "
                                       "as Latin-1 or Windows-1252 must be converted first)"));
    }
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the request could not be read as this method's message: a field has "
                        "the wrong type, or text that is not valid UTF-8");
  }

  void Finish(const grpc::Status& status) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    series_.handled(status.error_code()).Increment();
    series_.seconds().Observe(seconds);
    const grpc::StatusCode code = status.error_code();
    const log::Level level =
        (code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
         code == grpc::StatusCode::DATA_LOSS)
            ? log::Level::kError
        : quiet_ || (status.ok() && !mutating_) ? log::Level::kDebug
                                                : log::Level::kInfo;
    if (status.ok()) {
      log::Write(level, "call", {{"method", method_}, {"code", GrpcCodeName(code)},
                                 {"duration_ms", seconds * 1000}, {"request_id", request_id_}});
    } else {
      log::Write(level, "call", {{"method", method_}, {"code", GrpcCodeName(code)},
                                 {"duration_ms", seconds * 1000}, {"request_id", request_id_},
                                 {"error", status.error_message()}});
    }
  }

  MethodSeries& series_;
  std::string method_;
  bool registered_;
  bool mutating_;
  bool quiet_;
  std::chrono::steady_clock::time_point start_;
  std::string request_id_;
};

// Reads /proc/self/stat fields (1-based numbering as in proc(5)).
std::vector<std::string> ProcSelfStat() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  // Field 2 (comm) may hold spaces; it is enclosed in parentheses.
  const size_t close = line.rfind(')');
  std::vector<std::string> fields = {"", ""};
  if (close == std::string::npos) return fields;
  for (absl::string_view f : absl::StrSplit(absl::string_view(line).substr(close + 2), ' ')) {
    fields.emplace_back(f);
  }
  fields.insert(fields.begin(), "");  // fields[k] is field k
  return fields;
}

prometheus::MetricFamily Gauge(const std::string& name, const std::string& help, double value,
                               prometheus::MetricType type = prometheus::MetricType::Gauge) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) metric.counter.value = value;
  else metric.gauge.value = value;
  family.metric.push_back(metric);
  return family;
}

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    const auto stat = ProcSelfStat();
    if (stat.size() > 24) {
      const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      const double utime = std::stod(stat[14]), stime = std::stod(stat[15]);
      out.push_back(Gauge("process_cpu_seconds_total", "Total user and system CPU time.",
                          (utime + stime) / ticks, prometheus::MetricType::Counter));
      out.push_back(Gauge("process_threads", "Number of OS threads.", std::stod(stat[20])));
      out.push_back(Gauge("process_virtual_memory_bytes", "Virtual memory size.",
                          std::stod(stat[23])));
      out.push_back(Gauge("process_resident_memory_bytes", "Resident memory size.",
                          std::stod(stat[24]) * page));
      double boot_time = 0;
      std::ifstream proc_stat("/proc/stat");
      std::string key;
      while (proc_stat >> key) {
        if (key == "btime") { proc_stat >> boot_time; break; }
      }
      out.push_back(Gauge("process_start_time_seconds", "Start time since the Unix epoch.",
                          boot_time + std::stod(stat[22]) / ticks));
    }
    int fds = 0;
    if (DIR* dir = opendir("/proc/self/fd")) {
      while (readdir(dir) != nullptr) ++fds;
      closedir(dir);
      fds -= 3;  // ".", ".." and the directory's own descriptor
    }
    out.push_back(Gauge("process_open_fds", "Number of open file descriptors.", fds));
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      out.push_back(Gauge("process_max_fds", "Maximum number of open file descriptors.",
                          static_cast<double>(limit.rlim_cur)));
    }
    return out;
  }
};

}  // namespace

std::string GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "Canceled";
    case grpc::StatusCode::UNKNOWN: return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT: return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND: return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS: return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED: return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FailedPrecondition";
    case grpc::StatusCode::ABORTED: return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE: return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED: return "Unimplemented";
    case grpc::StatusCode::INTERNAL: return "Internal";
    case grpc::StatusCode::UNAVAILABLE: return "Unavailable";
    case grpc::StatusCode::DATA_LOSS: return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED: return "Unauthenticated";
    default: return "Unknown";
  }
}

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry)
    : started(BuildCounter()
                  .Name("grpc_server_started_total")
                  .Help("Total number of RPCs started on the server.")
                  .Register(registry)),
      handled(BuildCounter()
                  .Name("grpc_server_handled_total")
                  .Help("Total number of RPCs completed on the server, regardless of success "
                        "or failure.")
                  .Register(registry)),
      handling_seconds(BuildHistogram()
                           .Name("grpc_server_handling_seconds")
                           .Help("Histogram of response latency (seconds) of gRPC that had "
                                 "been application-level handled by the server.")
                           .Register(registry)),
      msg_received(BuildCounter()
                       .Name("grpc_server_msg_received_total")
                       .Help("Total number of RPC stream messages received on the server.")
                       .Register(registry)),
      msg_sent(BuildCounter()
                   .Name("grpc_server_msg_sent_total")
                   .Help("Total number of gRPC stream messages sent by the server.")
                   .Register(registry)) {}

MethodSeries::MethodSeries(GrpcServerMetrics& metrics, const std::string& full_method,
                           const char* type)
    : metrics_(metrics),
      labels_([&] {
        auto [service, method] = SplitMethod(full_method);
        return std::map<std::string, std::string>{
            {"grpc_service", service}, {"grpc_method", method}, {"grpc_type", type}};
      }()),
      started_(metrics.started.Add(labels_)),
      received_(metrics.msg_received.Add(labels_)),
      sent_(metrics.msg_sent.Add(labels_)),
      seconds_(metrics.handling_seconds.Add(labels_, HandlingBuckets())) {
  handled(grpc::StatusCode::OK);  // present from the start, as go-grpc-prometheus does
}

prometheus::Counter& MethodSeries::handled(grpc::StatusCode code) {
  const size_t index = static_cast<size_t>(code) < handled_.size() ? code : grpc::UNKNOWN;
  prometheus::Counter* counter = handled_[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the same series for the same labels, so a race here is harmless.
    auto labels = labels_;
    labels["grpc_code"] = GrpcCodeName(static_cast<grpc::StatusCode>(index));
    counter = &metrics_.handled.Add(labels);
    handled_[index].store(counter, std::memory_order_release);
  }
  return *counter;
}

ObservabilityInterceptorFactory::ObservabilityInterceptorFactory(
    prometheus::Registry& registry, std::map<std::string, RegisteredMethod> registered)
    : metrics_(registry), registered_(std::move(registered)) {}

MethodSeries& ObservabilityInterceptorFactory::SeriesFor(const std::string& method,
                                                        const char* type) {
  std::lock_guard<std::mutex> lock(series_mu_);
  auto& series = series_[method];
  if (series == nullptr) series = std::make_unique<MethodSeries>(metrics_, method, type);
  return *series;
}

grpc::experimental::Interceptor* ObservabilityInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  std::string method = info->method() != nullptr ? info->method() : "/unknown/unknown";
  auto it = registered_.find(method);
  const bool quiet = absl::StartsWith(method, "/grpc.health.v1.Health/") ||
                     absl::StartsWith(method, "/grpc.reflection.");
  MethodSeries& series = SeriesFor(method, GrpcTypeName(info->type()));
  return new ObservabilityInterceptor(std::move(method), series, it != registered_.end(),
                                      it != registered_.end() && it->second.mutating, quiet);
}

std::shared_ptr<prometheus::Collectable> NewProcessCollector() {
  return std::make_shared<ProcessCollector>();
}

absl::StatusOr<int64_t> CertificateNotAfter(const std::string& pem_path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(pem_path.c_str(), "r"), BIO_free);
  if (bio == nullptr) {
    return absl::NotFoundError(absl::StrCat("certificate file ", pem_path, " cannot be read"));
  }
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate file ", pem_path, " holds no PEM certificate"));
  }
  std::tm not_after{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &not_after) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate in ", pem_path, " has an unreadable notAfter"));
  }
  return static_cast<int64_t>(timegm(&not_after));
}

namespace {

class CertificateCollector : public prometheus::Collectable {
 public:
  explicit CertificateCollector(std::map<std::string, std::string> files)
      : files_(std::move(files)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily expiry;
    expiry.name = "smartby_tls_certificate_expiry_timestamp_seconds";
    expiry.help = "notAfter of the first certificate in each TLS file, in Unix seconds.";
    expiry.type = prometheus::MetricType::Gauge;
    double errors = 0;
    for (const auto& [label, path] : files_) {
      absl::StatusOr<int64_t> not_after = CertificateNotAfter(path);
      if (!not_after.ok()) {
        ++errors;
        continue;
      }
      prometheus::ClientMetric metric;
      metric.label.push_back({"certificate", label});
      metric.gauge.value = static_cast<double>(*not_after);
      expiry.metric.push_back(std::move(metric));
    }
    return {std::move(expiry),
            Gauge("smartby_tls_certificate_read_errors",
                  "TLS certificate files that could not be read at this scrape.", errors)};
  }

 private:
  const std::map<std::string, std::string> files_;
};

}  // namespace

std::shared_ptr<prometheus::Collectable> NewCertificateCollector(
    std::map<std::string, std::string> files_by_label) {
  return std::make_shared<CertificateCollector>(std::move(files_by_label));
}

std::string NewRequestId() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen),
                         absl::Uniform<uint64_t>(gen));
}

std::pair<std::string, std::string> SplitMethod(absl::string_view full_method) {
  if (!full_method.empty() && full_method[0] == '/') full_method.remove_prefix(1);
  const size_t slash = full_method.find('/');
  if (slash == absl::string_view::npos) return {std::string(full_method), ""};
  return {std::string(full_method.substr(0, slash)), std::string(full_method.substr(slash + 1))};
}

}  // namespace smartby
