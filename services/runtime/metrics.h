// gRPC server metrics with the names go-grpc-prometheus gives them, so existing dashboards and
// alerts work unchanged; request ids and one access-log line per call; process metrics.
//
// All of it is one server interceptor applied by the runtime to every call, so no handler
// repeats it.
#ifndef SMARTBY_RUNTIME_METRICS_H_
#define SMARTBY_RUNTIME_METRICS_H_

#include <memory>
#include <set>
#include <string>

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

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

// Creates, per call: metrics, the request id (metadata `x-request-id`, generated when absent or
// malformed, echoed in response metadata), and one JSON log line when the call ends.
//
// It also mends one gRPC quirk: a request that protobuf cannot parse (most often text that is not
// UTF-8, such as a Latin-1 export) reaches the caller as UNIMPLEMENTED with no message. For the
// methods in `registered_methods` ("/pkg.Service/Method") that status is replaced by
// INVALID_ARGUMENT naming the field, which is what the caller needs to fix it.
class ObservabilityInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ObservabilityInterceptorFactory(std::shared_ptr<GrpcServerMetrics> metrics,
                                  std::set<std::string> registered_methods)
      : metrics_(std::move(metrics)), registered_methods_(std::move(registered_methods)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  std::shared_ptr<GrpcServerMetrics> metrics_;
  std::set<std::string> registered_methods_;
};

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, process_open_fds, process_max_fds, process_threads; read from
// /proc at scrape time.
std::shared_ptr<prometheus::Collectable> NewProcessCollector();

// A fresh random request id (32 hex digits).
std::string NewRequestId();

// Splits "/pkg.Service/Method" into ("pkg.Service", "Method").
std::pair<std::string, std::string> SplitMethod(absl::string_view full_method);

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_METRICS_H_
