#include "services/runtime/service_token.h"

#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"

namespace smartby {

ServiceTokenSource::ServiceTokenSource(std::shared_ptr<grpc::Channel> auth_channel,
                                       std::string client_id, std::string client_secret,
                                       const Clock* clock)
    : stub_(smartcity::auth::v1::AuthService::NewStub(std::move(auth_channel))),
      client_id_(std::move(client_id)),
      client_secret_(std::move(client_secret)),
      clock_(clock) {}

absl::StatusOr<std::string> ServiceTokenSource::Token() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  const absl::Duration lifetime = expires_ - issued_;
  const absl::Duration renew_margin = std::max(lifetime / 5, absl::Minutes(1));
  if (!token_.empty() && now < expires_ - renew_margin) return token_;

  smartcity::auth::v1::IssueServiceTokenRequest request;
  request.set_client_id(client_id_);
  request.set_client_secret(client_secret_);
  smartcity::auth::v1::TokenResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  const grpc::Status status = stub_->IssueServiceToken(&context, request, &response);
  if (!status.ok()) {
    // Keep using a token that is still valid: an auth outage must not stop the platform.
    if (!token_.empty() && now < expires_) return token_;
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the auth service refused the credentials of service account \"", client_id_,
          "\" (is --service_client_secret_file current?): ", status.error_message()));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot get a service token from the auth service: ", status.error_message()));
  }
  token_ = response.access_token();
  issued_ = now;
  expires_ = absl::FromUnixSeconds(response.access_token_expire_time().seconds());
  return token_;
}

absl::Status ServiceTokenSource::Attach(grpc::ClientContext* context) {
  ASSIGN_OR_RETURN(std::string token, Token());
  context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return absl::OkStatus();
}

}  // namespace smartby
