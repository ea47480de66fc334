// Calls from one service to the others it reads from (the catalogue, ingestion).
//
// Each main.cc defines its own --<peer>_service / --<peer>_ca flags: their names are passed by
// the Helm charts, run-local.sh and the docs, and their help says what that service reads from
// the peer, so the flags stay where they are. What is shared is how a channel and a token are
// made from them, so that every service reads the flags and reports mistakes the same way.
#ifndef SMARTBY_RUNTIME_PEERS_H_
#define SMARTBY_RUNTIME_PEERS_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "services/runtime/server.h"
#include "services/runtime/service_token.h"

namespace smartby {

// A channel to the peer at `service_flag` (grpc://HOST:PORT, or grpcs://HOST:PORT verified with
// the CA file in `ca_flag`, else the system roots). Errors name the address flag, e.g.
// "--catalogue_service: ...", as ChannelTo does.
absl::StatusOr<std::shared_ptr<grpc::Channel>> PeerChannel(
    const absl::Flag<std::string>& service_flag, const absl::Flag<std::string>& ca_flag);

// This service's token for calls to its peers, or null when it has no service account: the
// service still starts (public data can be read without a token), and `warning` is logged to
// say what it cannot do without one.
std::shared_ptr<TokenProvider> PeerTokensOrWarn(ServerRuntime* runtime, const char* warning);

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_PEERS_H_
