// gRPC server metrics with the names go-grpc-prometheus gives them, so existing dashboards and
// alerts work unchanged; request ids and one access-log line per call; process metrics.
//
// All of it is one server interceptor applied by the runtime to every call, so no handler
// repeats it.
#ifndef SMARTBY_RUNTIME_METRICS_H_
#define SMARTBY_RUNTIME_METRICS_H_

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartby {

// The go-grpc-prometheus name of a status code ("InvalidArgument", "OK", ...).
std::string GrpcCodeName(grpc::StatusCode code);

// Families shared by all calls of one server.
struct GrpcServerMetrics {
  explicit GrpcServerMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& started;
  prometheus::Family<prometheus::Counter>& handled;
  prometheus::Family<prometheus::Histogram>& handling_seconds;
  prometheus::Family<prometheus::Counter>& msg_received;
  prometheus::Family<prometheus::Counter>& msg_sent;
};

// A method the server registered, and how its calls are logged.
struct RegisteredMethod {
  bool mutating = false;
};

// One method's metric series, resolved once and then shared by all its calls (looking a series up
// in its family on every call costs more than the handler of a cheap RPC).
class MethodSeries {
 public:
  MethodSeries(GrpcServerMetrics& metrics, const std::string& full_method, const char* type);
  prometheus::Counter& started() { return started_; }
  prometheus::Counter& received() { return received_; }
  prometheus::Counter& sent() { return sent_; }
  prometheus::Histogram& seconds() { return seconds_; }
  prometheus::Counter& handled(grpc::StatusCode code);

 private:
  GrpcServerMetrics& metrics_;
  std::map<std::string, std::string> labels_;
  prometheus::Counter& started_;
  prometheus::Counter& received_;
  prometheus::Counter& sent_;
  prometheus::Histogram& seconds_;
  std::array<std::atomic<prometheus::Counter*>, 17> handled_{};
};

// Creates, per call: metrics, the request id (metadata `x-request-id`, generated when absent or
// malformed, echoed in response metadata), and one JSON log line when the call ends — at info
// for mutating calls and failures, at debug for successful reads, health checks and reflection.
//
// It also mends one gRPC quirk: a request that protobuf cannot parse (most often text that is not
// UTF-8, such as a Latin-1 export) reaches the caller as UNIMPLEMENTED with no message. For the
// methods in `registered` ("/pkg.Service/Method") that status is replaced by INVALID_ARGUMENT
// naming the field, which is what the caller needs to fix it.
class ObservabilityInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ObservabilityInterceptorFactory(prometheus::Registry& registry,
                                  std::map<std::string, RegisteredMethod> registered);
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  MethodSeries& SeriesFor(const std::string& method, const char* type);

  GrpcServerMetrics metrics_;
  const std::map<std::string, RegisteredMethod> registered_;
  std::mutex series_mu_;
  std::map<std::string, std::unique_ptr<MethodSeries>> series_;
};

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, process_open_fds, process_max_fds, process_threads; read from
// /proc at scrape time.
std::shared_ptr<prometheus::Collectable> NewProcessCollector();

// The notAfter of the first certificate in a PEM file, in Unix seconds.
absl::StatusOr<int64_t> CertificateNotAfter(const std::string& pem_path);

// smartby_tls_certificate_expiry_timestamp_seconds{certificate="<label>"}: the notAfter of each
// file's first certificate, read at scrape time (so a renewed certificate, which the TLS stack
// picks up from the same file, shows at once). A file that cannot be read is left out and
// counted in smartby_tls_certificate_read_errors (an alert on a missing series would not fire).
std::shared_ptr<prometheus::Collectable> NewCertificateCollector(
    std::map<std::string, std::string> files_by_label);

// A fresh random request id (32 hex digits).
std::string NewRequestId();

// Splits "/pkg.Service/Method" into ("pkg.Service", "Method").
std::pair<std::string, std::string> SplitMethod(absl::string_view full_method);

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_METRICS_H_
