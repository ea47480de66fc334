#include "services/runtime/peers.h"

#include "absl/flags/commandlineflag.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/authentication.h"
#include "services/runtime/log.h"

namespace smartby {

absl::StatusOr<std::shared_ptr<grpc::Channel>> PeerChannel(
    const absl::Flag<std::string>& service_flag, const absl::Flag<std::string>& ca_flag) {
  // The flag's own name, so an error can never name a different flag than the one given.
  const std::string flag_name =
      absl::StrCat("--", absl::GetFlagReflectionHandle(service_flag).Name());
  const std::string ca_flag_name =
      absl::StrCat("--", absl::GetFlagReflectionHandle(ca_flag).Name());
  return ChannelTo(absl::GetFlag(service_flag), absl::GetFlag(ca_flag), flag_name.c_str(),
                   ca_flag_name.c_str());
}

std::shared_ptr<TokenProvider> PeerTokensOrWarn(ServerRuntime* runtime, const char* warning) {
  absl::StatusOr<std::shared_ptr<ServiceTokenSource>> source = runtime->service_tokens();
  if (source.ok()) return *source;
  log::Warn(warning, {{"reason", std::string(source.status().message())}});
  return nullptr;
}

}  // namespace smartby
