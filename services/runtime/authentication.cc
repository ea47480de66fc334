#include "services/runtime/authentication.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"

namespace smartby {
namespace {

constexpr size_t kMaxJwksBytes = 1 << 20;

// The auth service's GetJwks RPC.
class GrpcKeySource : public auth::KeySource {
 public:
  explicit GrpcKeySource(std::shared_ptr<grpc::Channel> channel)
      : stub_(smartcity::auth::v1::AuthService::NewStub(std::move(channel))) {}

  absl::StatusOr<std::vector<auth::VerificationKey>> FetchKeys() override {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    smartcity::auth::v1::GetJwksResponse response;
    grpc::Status status = stub_->GetJwks(&context, {}, &response);
    if (!status.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot fetch the platform's public keys from the auth service: ",
                       status.error_message()));
    }
    return auth::FromJwksText(response.jwks_json());
  }

 private:
  std::unique_ptr<smartcity::auth::v1::AuthService::Stub> stub_;
};

}  // namespace

absl::StatusOr<std::vector<auth::VerificationKey>> FileKeySource::FetchKeys() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read JWKS file ", path_));
  std::string text;
  text.resize(kMaxJwksBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxJwksBytes) {
    return absl::InvalidArgumentError(absl::StrCat("JWKS file ", path_, " is larger than 1 MiB"));
  }
  return auth::FromJwksText(text);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelTo(const std::string& endpoint,
                                                         const std::string& ca_file,
                                                         const char* flag,
                                                         const char* ca_flag) {
  const bool tls = absl::StartsWith(endpoint, "grpcs://");
  if (!tls && !absl::StartsWith(endpoint, "grpc://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected grpc://HOST:PORT or grpcs://HOST:PORT"));
  }
  const std::string target = endpoint.substr(tls ? 8 : 7);
  if (target.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": HOST:PORT is missing"));
  if (!tls) return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::SslCredentialsOptions ssl;
  if (!ca_file.empty()) {
    std::ifstream in(ca_file);
    if (!in) return absl::InvalidArgumentError(absl::StrCat(ca_flag, ": cannot read \"", ca_file, "\""));
    std::stringstream pem;
    pem << in.rdbuf();
    ssl.pem_root_certs = pem.str();
  }
  return grpc::CreateChannel(target, grpc::SslCredentials(ssl));
}

absl::StatusOr<std::unique_ptr<auth::KeySource>> NewPlatformKeySource(
    const AuthenticationOptions& options) {
  const std::string& jwks = options.jwks;
  if (absl::StartsWith(jwks, "file:")) {
    return std::make_unique<FileKeySource>(jwks.substr(5));
  }
  if (absl::StartsWith(jwks, "grpc://") || absl::StartsWith(jwks, "grpcs://")) {
    ASSIGN_OR_RETURN(auto channel, ChannelTo(jwks, options.ca_file, "--auth_jwks"));
    return std::make_unique<GrpcKeySource>(std::move(channel));
  }
  return absl::InvalidArgumentError(
      "--auth_jwks: expected grpc://HOST:PORT, grpcs://HOST:PORT or file:PATH");
}

absl::StatusOr<std::string> BearerTokenOf(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::string();
  absl::string_view value(it->second.data(), it->second.size());
  if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError(
        "the authorization header must be \"Bearer <access token>\"");
  }
  value.remove_prefix(7);
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return absl::UnauthenticatedError("the bearer token is empty");
  return std::string(value);
}

absl::Status AuthenticationGuard::Admit(CallContext& call) {
  ASSIGN_OR_RETURN(std::string token, BearerTokenOf(*call.server_context));
  if (token.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auth::Principal principal, verifier_->Verify(token));
  call.caller = auth::Caller(std::move(principal));
  return absl::OkStatus();
}

}  // namespace smartby
