// The service's own identity on calls it makes to other services (issue 3: "every
// service-to-service call carries the service's own token"). The service account's client
// credentials (--service_client_id, --service_client_secret_file) are exchanged with the auth
// service (IssueServiceToken) for a short-lived access token, which is cached and renewed before
// it expires; callers attach it to each outgoing call:
//
//   grpc::ClientContext context;
//   RETURN_IF_ERROR(runtime.service_tokens()->Attach(&context));
//   stub->GetDataset(&context, request, &response);
//
// Renewal happens on the calling thread when less than a fifth of the token's lifetime (or under
// a minute) is left; concurrent callers wait for one renewal instead of each asking the auth
// service. When the auth service cannot be reached, a token that is still valid keeps being used.
#ifndef SMARTBY_RUNTIME_SERVICE_TOKEN_H_
#define SMARTBY_RUNTIME_SERVICE_TOKEN_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/runtime/clock.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"

namespace smartby {

// Where a caller gets this service's access token (the audit shipper, audit_shipper.h). The auth
// service, which cannot ask itself over the network at start-up, supplies one that mints in
// process (ServerRuntime::SetAuditTokenProvider).
class TokenProvider {
 public:
  virtual ~TokenProvider() = default;
  virtual absl::StatusOr<std::string> Token() = 0;
};

class ServiceTokenSource : public TokenProvider {
 public:
  // `clock` must outlive the source.
  ServiceTokenSource(std::shared_ptr<grpc::Channel> auth_channel, std::string client_id,
                     std::string client_secret, const Clock* clock);

  // A valid access token for this service: cached, or freshly issued. UNAVAILABLE when the auth
  // service cannot be reached and no valid token is cached; UNAUTHENTICATED when it refuses the
  // credentials (wrong or rotated secret).
  absl::StatusOr<std::string> Token() override;

  // Adds "authorization: Bearer <token>" to an outgoing call.
  absl::Status Attach(grpc::ClientContext* context);

  const std::string& client_id() const { return client_id_; }

 private:
  std::unique_ptr<smartcity::auth::v1::AuthService::Stub> stub_;
  const std::string client_id_;
  const std::string client_secret_;
  const Clock* const clock_;

  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time issued_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time expires_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_SERVICE_TOKEN_H_
