// A connection to one Smartby service, and the one way smartctl makes calls on it: with a
// deadline, a fresh random `x-request-id`, `authorization: Bearer <access token>` when there is a
// token (see session.h for where it comes from), and the outcome sorted into "could not reach the
// service" (exit 3) or "the service said no" (exit 1, its message kept as is).
#ifndef SMARTBY_CLI_SMARTCTL_CLIENT_H_
#define SMARTBY_CLI_SMARTCTL_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

// Gives the access token for the next call: "" for none (anonymous). Called before every call
// that is not anonymous, so a session can be refreshed in between; an error stops the call.
using TokenProvider = std::function<absl::StatusOr<std::string>()>;

// How one call is made (the defaults suit almost every call).
struct CallOptions {
  // No authorization header, and the token provider is not asked (so no refresh happens): for
  // the calls that exchange credentials for tokens (Login, Refresh, Logout, IssueServiceToken).
  bool anonymous = false;
  // When not null, receives the response's trailing metadata, also when the call fails.
  std::multimap<std::string, std::string>* trailing_metadata = nullptr;
};

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

  // Where the access token of each call comes from (unset: every call is anonymous).
  void set_token_provider(TokenProvider provider) { token_provider_ = std::move(provider); }

  // Calls `method` on `stub` with `request`. Errors: UnreachableError when no connection could be
  // made, ServiceError with the service's code and message otherwise; both carry the request id.
  // An error of the token provider (e.g. "session expired") is returned without calling.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub& stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request, const CallOptions& options = {}) {
    std::string token;
    if (!options.anonymous && token_provider_) {
      absl::StatusOr<std::string> provided = token_provider_();
      if (!provided.ok()) return provided.status();
      token = *std::move(provided);
    }
    grpc::ClientContext context;
    const std::string request_id = NewRequestId();
    Prepare(context, request_id, token);
    Response response;
    grpc::Status status = (stub.*method)(&context, request, &response);
    if (options.trailing_metadata != nullptr) {
      options.trailing_metadata->clear();
      for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
        options.trailing_metadata->emplace(std::string(key.data(), key.size()),
                                           std::string(value.data(), value.size()));
      }
    }
    if (!status.ok()) return Classify(status, request_id, !token.empty());
    return response;
  }

  // The metadata Prepare adds, as (key, value) pairs: x-request-id, and authorization when
  // `token` is not empty. (Exposed for tests.)
  static std::vector<std::pair<std::string, std::string>> CallMetadata(
      const std::string& request_id, const std::string& token);

 private:
  ServiceClient(ServiceInfo service, Endpoint endpoint, absl::Duration timeout,
                std::shared_ptr<grpc::Channel> channel)
      : service_(std::move(service)),
        endpoint_(std::move(endpoint)),
        timeout_(timeout),
        channel_(std::move(channel)) {}

  void Prepare(grpc::ClientContext& context, const std::string& request_id,
               const std::string& token) const;
  absl::Status Classify(const grpc::Status& status, const std::string& request_id,
                        bool sent_token) const;

  ServiceInfo service_;
  Endpoint endpoint_;
  absl::Duration timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  TokenProvider token_provider_;
};

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_CLIENT_H_
