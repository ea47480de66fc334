// Who smartctl calls the services as: the bearer token every call carries, and the session that
// `smartctl login` caches in the config file.
//
// The access token sent with a call is the first of:
//   1. --token TOKEN (--token "" sends none: an anonymous call);
//   2. the environment variable SMARTCTL_TOKEN (when not empty);
//   3. the session cached in the context (`smartctl login`), refreshed first when it expires
//      within kRefreshMargin.
// None of them: no `authorization` header (anonymous).
//
// Refresh tokens rotate: every Refresh returns a new pair and the old refresh token stops
// working (and using it again revokes the whole family). So the new pair is written to the config
// file before anything else happens, and refreshing is serialised between smartctl processes with
// an advisory lock (flock on config.yaml.lock): a second process that waited for the lock finds
// the pair the first one stored and uses it instead of refreshing the old one again.
#ifndef SMARTBY_CLI_SMARTCTL_SESSION_H_
#define SMARTBY_CLI_SMARTCTL_SESSION_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/smartctl/config.h"
#include "smartcity/auth/v1/auth.pb.h"

namespace smartby::smartctl {

// A cached access token is refreshed when it expires within this long.
inline constexpr absl::Duration kRefreshMargin = absl::Seconds(30);

enum class TokenSource { kNone, kFlag, kEnv, kSession };

struct TokenChoice {
  TokenSource source = TokenSource::kNone;
  std::string token;  // empty for kNone; for kSession the cached (maybe stale) access token
};

// The precedence above. `env` is SMARTCTL_TOKEN's value ("" when unset); `session` the current
// context's cached session (null when there is no context).
TokenChoice ChooseToken(const std::optional<std::string>& flag, const std::string& env,
                        const Session* session);

// "--token", "SMARTCTL_TOKEN", "the login cached in context NAME", "none".
std::string TokenSourceText(TokenSource source, const std::string& context_name);

// True when the cached access token is missing or expires within kRefreshMargin of `now`.
bool NeedsRefresh(const Session& session, absl::Time now);
// True when the session has a refresh token that has not expired at `now`.
bool CanRefresh(const Session& session, absl::Time now);

// The session a TokenResponse stands for (`username` is kept as given: the name logged in with).
Session SessionFrom(const smartcity::auth::v1::TokenResponse& response,
                    const std::string& username);

// The error when a cached session is over: "session expired, run smartctl login" (exit 1).
absl::Status SessionExpiredError(const std::string& context_name);

// Calls the auth service's Refresh with a refresh token.
using RefreshFunction = std::function<absl::StatusOr<smartcity::auth::v1::TokenResponse>(
    const std::string& refresh_token)>;

// The access token to send for the session cached in context `context_name` of the config file
// at `config_path`, refreshing it first (with `refresh`) when NeedsRefresh. Under the config
// lock, re-reads the file, and:
//   - the token is fresh (perhaps another process just refreshed it): returns it;
//   - no usable refresh token: returns the access token if it has not expired yet, else clears
//     the session and returns SessionExpiredError;
//   - Refresh succeeds: stores the new pair, returns the new access token;
//   - the auth service cannot be reached (exit 3): keeps the session; returns the old access
//     token if it has not expired yet, else the error;
//   - the auth service refuses: clears the session, returns SessionExpiredError.
// `updated`, when not null, receives the config as written (or as read, when nothing changed).
absl::StatusOr<std::string> FreshAccessToken(const std::string& config_path,
                                             const std::string& context_name,
                                             const RefreshFunction& refresh, absl::Time now,
                                             Config* updated = nullptr);

// Under the config lock, re-reads the file, sets (or with an empty `session`, clears) the session
// of context `context_name`, creating the context (and making it current when there is none) if
// it does not exist, and saves. `updated` as above.
absl::Status StoreSession(const std::string& config_path, const std::string& context_name,
                          const Session& session, Config* updated = nullptr);

// An exclusive advisory lock on `<config_path>.lock` (created mode 0600), held while alive.
class ConfigLock {
 public:
  static absl::StatusOr<ConfigLock> Acquire(const std::string& config_path);
  ConfigLock(ConfigLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ConfigLock& operator=(ConfigLock&&) = delete;
  ConfigLock(const ConfigLock&) = delete;
  ~ConfigLock();

 private:
  explicit ConfigLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_SESSION_H_
