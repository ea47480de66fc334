#include "cli/smartctl/client.h"

#include <grpc/support/log.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/smartctl/errors.h"

namespace smartby::smartctl {

void QuietGrpcLogging() {
  if (std::getenv("GRPC_VERBOSITY") != nullptr || std::getenv("GRPC_TRACE") != nullptr) return;
  gpr_set_log_function([](gpr_log_func_args*) {});
}

std::string NewRequestId() {
  std::random_device device;
  std::mt19937_64 gen((static_cast<uint64_t>(device()) << 32) ^ device() ^
                      static_cast<uint64_t>(absl::GetCurrentTimeNanos()));
  return absl::StrFormat("%016x%016x", gen(), gen());
}

absl::StatusOr<std::unique_ptr<ServiceClient>> ServiceClient::Create(const ServiceInfo& service,
                                                                     const Endpoint& endpoint,
                                                                     absl::Duration timeout) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (endpoint.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions tls;
    if (!endpoint.ca_file.empty()) {
      std::ifstream in(endpoint.ca_file);
      std::stringstream pem;
      pem << in.rdbuf();
      if (!in || pem.str().empty()) {
        return UsageError(absl::StrCat("--ca-file: cannot read \"", endpoint.ca_file,
                                       "\" (a PEM file with the CA certificate)"));
      }
      tls.pem_root_certs = pem.str();
    }
    credentials = grpc::SslCredentials(tls);
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // smartctl reports; the operator decides to retry
  auto channel = grpc::CreateCustomChannel(endpoint.address, credentials, args);
  return std::unique_ptr<ServiceClient>(
      new ServiceClient(service, endpoint, timeout, std::move(channel)));
}

std::vector<std::pair<std::string, std::string>> ServiceClient::CallMetadata(
    const std::string& request_id, const std::string& token) {
  std::vector<std::pair<std::string, std::string>> metadata = {{"x-request-id", request_id}};
  if (!token.empty()) metadata.emplace_back("authorization", absl::StrCat("Bearer ", token));
  return metadata;
}

void ServiceClient::Prepare(grpc::ClientContext& context, const std::string& request_id,
                            const std::string& token) const {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  for (const auto& [key, value] : CallMetadata(request_id, token)) context.AddMetadata(key, value);
}

absl::Status ServiceClient::Classify(const grpc::Status& status, const std::string& request_id,
                                     bool sent_token) const {
  const auto code = status.error_code();
  // UNAVAILABLE or DEADLINE_EXCEEDED on a channel that never got connected means we never
  // reached the service; on a connected channel, it is the service's own answer.
  if ((code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED) &&
      channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
    std::string why = status.error_message();
    if (code == grpc::StatusCode::DEADLINE_EXCEEDED) {
      why = absl::StrCat("no connection within ", absl::FormatDuration(timeout_));
    }
    absl::Status error = UnreachableError(
        absl::StrCat("cannot reach ", service_.name, " at ", endpoint_.address, ": ", why),
        request_id);
    const std::string lower = absl::AsciiStrToLower(status.error_message());
    const bool tls_trouble = absl::StrContains(lower, "handshake") ||
                             absl::StrContains(lower, "ssl") || absl::StrContains(lower, "tls") ||
                             absl::StrContains(lower, "certificate");
    if (tls_trouble && IsLoopbackAddress(endpoint_.address) && !endpoint_.insecure) {
      error = WithHint(error,
                       "services on this machine often run without TLS; if so, add "
                       "--insecure");
    } else if (tls_trouble) {
      error = WithHint(error,
                       "the TLS connection failed; if the server's certificate is from a "
                       "private CA, pass it with --ca-file");
    } else {
      error = WithHint(error, absl::StrCat("is the ", service_.name,
                                           " service running there? "
                                           "(address from ",
                                           endpoint_.source, ")"));
    }
    return error;
  }
  std::string message = status.error_message();
  if (code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    message = absl::StrCat(service_.name, " did not answer within ", absl::FormatDuration(timeout_),
                           message.empty() ? "" : ": ", message);
  }
  if (message.empty()) message = absl::StrCat(service_.name, " failed without a message");
  absl::Status error = ServiceError(static_cast<absl::StatusCode>(code), message, request_id);
  if (code == grpc::StatusCode::UNAUTHENTICATED && sent_token &&
      absl::StrContains(message, "second factor")) {
    error = WithHint(error, "enrol an authenticator once (smartctl totp enroll), then sign in "
                            "again with its code: smartctl login USERNAME");
  } else if (code == grpc::StatusCode::UNAUTHENTICATED) {
    error = WithHint(error, sent_token
                                ? "the token was not accepted (expired or revoked?); sign in "
                                  "again with smartctl login, or check --token / SMARTCTL_TOKEN"
                                : "this needs you to be signed in: run smartctl login USERNAME "
                                  "(or pass a token with SMARTCTL_TOKEN)");
  } else if (code == grpc::StatusCode::PERMISSION_DENIED) {
    error = WithHint(error, sent_token ? "smartctl whoami shows your roles and clearance"
                                       : "you are not signed in: run smartctl login USERNAME");
  }
  return error;
}

}  // namespace smartby::smartctl
