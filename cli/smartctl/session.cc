#include "cli/smartctl/session.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cli/smartctl/errors.h"

namespace smartby::smartctl {
namespace {

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return absl::InfinitePast();
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace

TokenChoice ChooseToken(const std::optional<std::string>& flag, const std::string& env,
                        const Session* session) {
  if (flag) {
    if (flag->empty()) return {};
    return {TokenSource::kFlag, *flag};
  }
  if (!env.empty()) return {TokenSource::kEnv, env};
  if (session != nullptr && !session->empty()) {
    return {TokenSource::kSession, session->access_token};
  }
  return {};
}

std::string TokenSourceText(TokenSource source, const std::string& context_name) {
  switch (source) {
    case TokenSource::kFlag:
      return "--token";
    case TokenSource::kEnv:
      return "SMARTCTL_TOKEN";
    case TokenSource::kSession:
      return absl::StrCat("the login cached in context ", context_name);
    case TokenSource::kNone:
      break;
  }
  return "none";
}

bool NeedsRefresh(const Session& session, absl::Time now) {
  return session.access_token.empty() || session.access_token_expiry - kRefreshMargin <= now;
}

bool CanRefresh(const Session& session, absl::Time now) {
  return !session.refresh_token.empty() && session.refresh_token_expiry > now;
}

Session SessionFrom(const smartcity::auth::v1::TokenResponse& response,
                    const std::string& username) {
  Session session;
  session.username = username.empty() ? response.subject() : username;
  session.access_token = response.access_token();
  session.access_token_expiry = TimeOf(response.access_token_expire_time());
  session.refresh_token = response.refresh_token();
  session.refresh_token_expiry = TimeOf(response.refresh_token_expire_time());
  session.password_change_required = response.password_change_required();
  return session;
}

absl::Status SessionExpiredError(const std::string& context_name) {
  return WithHint(
      LocalError(absl::StrCat("session expired, run smartctl login",
                              context_name.empty() ? "" : " (context " + context_name + ")")),
      "sign in again with smartctl login USERNAME");
}

absl::StatusOr<ConfigLock> ConfigLock::Acquire(const std::string& config_path) {
  const std::filesystem::path dir = std::filesystem::path(config_path).parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return LocalError(absl::StrCat(dir.string(), ": cannot create: ", ec.message()));
  ::chmod(dir.c_str(), 0700);
  const std::string path = absl::StrCat(config_path, ".lock");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return LocalError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const std::string why = std::strerror(errno);
    ::close(fd);
    return LocalError(absl::StrCat(path, ": cannot lock: ", why));
  }
  return ConfigLock(fd);
}

ConfigLock::~ConfigLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

absl::Status StoreSession(const std::string& config_path, const std::string& context_name,
                          const Session& session, Config* updated) {
  absl::StatusOr<ConfigLock> lock = ConfigLock::Acquire(config_path);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<Config> config = LoadConfig(config_path);
  if (!config.ok()) return config.status();
  Context* context = config->Find(context_name);
  if (context == nullptr) {
    if (session.empty()) {  // nothing to clear
      if (updated != nullptr) *updated = *config;
      return absl::OkStatus();
    }
    Context fresh;
    fresh.name = context_name;
    config->contexts.push_back(fresh);
    context = &config->contexts.back();
    if (config->current_context.empty()) config->current_context = context_name;
  }
  context->session = session;
  SMARTCTL_RETURN_IF_ERROR(SaveConfig(*config, config_path));
  if (updated != nullptr) *updated = *config;
  return absl::OkStatus();
}

absl::StatusOr<std::string> FreshAccessToken(const std::string& config_path,
                                             const std::string& context_name,
                                             const RefreshFunction& refresh, absl::Time now,
                                             Config* updated) {
  absl::StatusOr<ConfigLock> lock = ConfigLock::Acquire(config_path);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<Config> config = LoadConfig(config_path);
  if (!config.ok()) return config.status();
  if (updated != nullptr) *updated = *config;
  Context* context = config->Find(context_name);
  if (context == nullptr || context->session.empty()) return SessionExpiredError(context_name);
  Session& session = context->session;
  if (!NeedsRefresh(session, now)) return session.access_token;

  const bool still_valid = !session.access_token.empty() && session.access_token_expiry > now;
  auto clear = [&]() -> absl::Status {
    session = Session();
    SMARTCTL_RETURN_IF_ERROR(SaveConfig(*config, config_path));
    if (updated != nullptr) *updated = *config;
    return SessionExpiredError(context_name);
  };
  if (!CanRefresh(session, now)) {
    if (still_valid) return session.access_token;
    return clear();
  }

  absl::StatusOr<smartcity::auth::v1::TokenResponse> response = refresh(session.refresh_token);
  if (!response.ok()) {
    if (ExitCodeOf(response.status()) == kExitUnreachable ||
        ExitCodeOf(response.status()) == kExitUsage) {
      // Not the service's verdict on the session: keep it for the next try.
      if (still_valid) return session.access_token;
      return WithHint(response.status(),
                      "the login cached for this context needs renewing by the auth service");
    }
    return clear();
  }
  if (response->access_token().empty()) return clear();
  Session renewed = SessionFrom(*response, session.username);
  if (renewed.refresh_token.empty()) {  // the service did not rotate: keep the one we have
    renewed.refresh_token = session.refresh_token;
    renewed.refresh_token_expiry = session.refresh_token_expiry;
  }
  session = renewed;
  SMARTCTL_RETURN_IF_ERROR(SaveConfig(*config, config_path));
  if (updated != nullptr) *updated = *config;
  return session.access_token;
}

}  // namespace smartby::smartctl
