// smartctl's config file: contexts in the manner of kubeconfig, at
// $XDG_CONFIG_HOME/smartctl/config.yaml (or ~/.config/smartctl/config.yaml), written mode 0600 in
// a directory of mode 0700.
//
//   current-context: prod
//   contexts:
//   - name: prod
//     server: catalogue.smartby.example:443
//     ca-file: /etc/smartby/ca.pem
//     services:
//       catalogue: catalogue.smartby.example:443
//     session:                       # written by `smartctl login`, removed by `logout`
//       username: kari
//       access-token: eyJ...
//       access-token-expiry: 2026-01-31T09:45:00Z
//       refresh-token: ...
//       refresh-token-expiry: 2026-02-01T09:30:00Z
//
// The file holds bearer tokens, so it is only ever written with mode 0600 in a directory of mode
// 0700, and `config view` / `get-contexts -o yaml` show the tokens redacted.
//
// Where a service is reached (precedence, highest first): --server; SMARTCTL_SERVER; the
// context's `services.<name>`; the context's `server`; 127.0.0.1:<the service's default port>.
#ifndef SMARTBY_CLI_SMARTCTL_CONFIG_H_
#define SMARTBY_CLI_SMARTCTL_CONFIG_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/smartctl/args.h"
#include "cli/smartctl/services.h"

namespace smartby::smartctl {

// A signed-in session cached by `smartctl login` (see session.h). Secrets: never printed.
struct Session {
  std::string username;
  std::string access_token;
  absl::Time access_token_expiry = absl::InfinitePast();
  std::string refresh_token;
  absl::Time refresh_token_expiry = absl::InfinitePast();
  bool password_change_required = false;

  bool empty() const { return access_token.empty() && refresh_token.empty(); }
};

struct Context {
  std::string name;
  std::string server;  // HOST:PORT; empty: not set
  bool insecure = false;
  std::string ca_file;
  std::map<std::string, std::string> services;  // service name -> HOST:PORT
  Session session;
};

struct Config {
  std::string current_context;
  std::vector<Context> contexts;

  const Context* Find(absl::string_view name) const;
  Context* Find(absl::string_view name);
};

// Where the config lives (the file need not exist).
std::string ConfigPath();

// Reads the config at `path`; a missing file is an empty config. A file that does not parse is
// a local error naming the file and line.
absl::StatusOr<Config> LoadConfig(const std::string& path);

// Writes the config atomically (temp file + rename), mode 0600, creating the directory (0700).
absl::Status SaveConfig(const Config& config, const std::string& path);

// The config as YAML text. With `redact_secrets` (what `config view` shows) the cached tokens
// are replaced by "(redacted)"; without, it is what the file holds.
std::string ConfigToYaml(const Config& config, bool redact_secrets = false);

// The context a command works in: the one --context names (usage error when there is none of
// that name), else the current context (local error when current-context names none), else
// null (no context: defaults everywhere, no cached session).
absl::StatusOr<const Context*> SelectContext(const GlobalOptions& options, const Config& config);

// Where and how to reach one service.
struct Endpoint {
  std::string address;  // HOST:PORT
  bool insecure = false;
  std::string ca_file;
  std::string source;  // where the address came from: "--server", "SMARTCTL_SERVER", ...
};

// Resolves the endpoint of `service`. Usage error when --context names no context, when an
// address is not HOST:PORT, or when plaintext is asked for towards a non-loopback host.
absl::StatusOr<Endpoint> ResolveEndpoint(const ServiceInfo& service, const GlobalOptions& options,
                                         const Config& config);

// True for 127.0.0.0/8, ::1 and localhost (with or without a port; IPv6 in brackets).
bool IsLoopbackAddress(absl::string_view host_port);

// OK when `address` is HOST:PORT (IPv6 as [addr]:port) with a port of 1-65535.
absl::Status CheckAddress(absl::string_view what, absl::string_view address);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_CONFIG_H_
