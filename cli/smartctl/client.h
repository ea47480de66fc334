// A connection to one Smartby service, and the one way smartctl makes calls on it: with a
// deadline, a fresh random `x-request-id`, and the outcome sorted into "could not reach the
// service" (exit 3) or "the service said no" (exit 1, its message kept as is).
#ifndef SMARTBY_CLI_SMARTCTL_CLIENT_H_
#define SMARTBY_CLI_SMARTCTL_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/smartctl/config.h"
#include "cli/smartctl/services.h"

namespace smartby::smartctl {

// gRPC's own log lines (e.g. "Handshake failed ..." from the TLS stack) would repeat, less
// plainly, what smartctl reports itself; they are dropped unless GRPC_VERBOSITY or GRPC_TRACE is
// set, for debugging. Call once, before the first channel is made.
void QuietGrpcLogging();

// 32 random hex digits.
std::string NewRequestId();

class ServiceClient {
 public:
  // Builds the channel (TLS unless the endpoint is insecure). Does not connect yet; a CA file
  // that cannot be read is a usage error.
  static absl::StatusOr<std::unique_ptr<ServiceClient>> Create(const ServiceInfo& service,
                                                               const Endpoint& endpoint,
                                                               absl::Duration timeout);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const ServiceInfo& service() const { return service_; }
  const Endpoint& endpoint() const { return endpoint_; }

  // Calls `method` on `stub` with `request`. Errors: UnreachableError when no connection could be
  // made, ServiceError with the service's code and message otherwise; both carry the request id.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub& stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request) {
    grpc::ClientContext context;
    const std::string request_id = NewRequestId();
    Prepare(context, request_id);
    Response response;
    grpc::Status status = (stub.*method)(&context, request, &response);
    if (!status.ok()) return Classify(status, request_id);
    return response;
  }

 private:
  ServiceClient(ServiceInfo service, Endpoint endpoint, absl::Duration timeout,
                std::shared_ptr<grpc::Channel> channel)
      : service_(std::move(service)),
        endpoint_(std::move(endpoint)),
        timeout_(timeout),
        channel_(std::move(channel)) {}

  void Prepare(grpc::ClientContext& context, const std::string& request_id) const;
  absl::Status Classify(const grpc::Status& status, const std::string& request_id) const;

  ServiceInfo service_;
  Endpoint endpoint_;
  absl::Duration timeout_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_CLIENT_H_
