// Authentication for every service: the guard that turns "authorization: Bearer <token>"
// metadata into the call's principal, and where the platform's public keys come from.
//
// The runtime builds one JwtTokenVerifier per process for the platform issuer (--auth_issuer,
// --auth_audience) whose keys come from --auth_jwks:
//   grpc://HOST:PORT   the auth service's GetJwks RPC over plaintext (loopback, or a mesh)
//   grpcs://HOST:PORT  the same over TLS (--auth_ca, or the system roots)
//   file:PATH          a JWKS document on disk (tests, air-gapped setups)
// Keys are fetched lazily and cached (token_verifier.h): the auth service being down costs only
// calls whose token names a key this process has not seen yet.
#ifndef SMARTBY_RUNTIME_AUTHENTICATION_H_
#define SMARTBY_RUNTIME_AUTHENTICATION_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/runtime/auth/token_verifier.h"
#include "services/runtime/call.h"
#include "services/runtime/clock.h"

namespace smartby {

struct AuthenticationOptions {
  std::string issuer = "smartby";    // --auth_issuer: exact "iss" of platform tokens
  std::string audience = "smartby";  // --auth_audience
  std::string service = "grpc://127.0.0.1:7004";  // --auth_service
  std::string jwks;                  // --auth_jwks (defaults to --auth_service), see above
  std::string ca_file;               // --auth_ca, for grpcs://
  std::string client_id;             // --service_client_id
  std::string client_secret_file;    // --service_client_secret_file
};

// A channel to a grpc://HOST:PORT or grpcs://HOST:PORT endpoint (TLS with `ca_file`, or the
// system roots). INVALID_ARGUMENT naming `flag` for anything else, and `ca_flag` when the CA file
// cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelTo(const std::string& endpoint,
                                                         const std::string& ca_file,
                                                         const char* flag,
                                                         const char* ca_flag = "--auth_ca");

// A KeySource reading a JWKS document from a file on every fetch (so a replaced file is seen at
// the next refetch).
class FileKeySource : public auth::KeySource {
 public:
  explicit FileKeySource(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<std::vector<auth::VerificationKey>> FetchKeys() override;

 private:
  const std::string path_;
};

// The KeySource for --auth_jwks; INVALID_ARGUMENT naming the flag for anything else.
absl::StatusOr<std::unique_ptr<auth::KeySource>> NewPlatformKeySource(
    const AuthenticationOptions& options);

// Verifies the bearer token, if any, and sets CallContext::caller. No token: the caller stays
// anonymous (the method's Access rule then decides). A token that is malformed, expired, signed
// by an unknown key, for another audience, ...: UNAUTHENTICATED, for every method.
class AuthenticationGuard : public CallGuard {
 public:
  explicit AuthenticationGuard(std::shared_ptr<const auth::TokenVerifier> verifier)
      : verifier_(std::move(verifier)) {}
  absl::Status Admit(CallContext& call) override;

 private:
  std::shared_ptr<const auth::TokenVerifier> verifier_;
};

// The bearer token in "authorization" metadata: "" when there is none, UNAUTHENTICATED when the
// header is there but is not "Bearer <token>".
absl::StatusOr<std::string> BearerTokenOf(const grpc::CallbackServerContext& context);

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_AUTHENTICATION_H_
