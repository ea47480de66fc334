// Unit tests of smartctl's sign-in: which token a call carries, the session cache in the config
// file (mode 0600, rotation on refresh, cleared when refresh is refused), and the auth commands'
// arguments. The commands run in-process (RunCommandLine) against a fake AuthService on
// loopback that records the authorization header of every call.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cli/smartctl/auth_commands.h"
#include "cli/smartctl/client.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/config.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/prompt.h"
#include "cli/smartctl/session.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"

namespace smartby::smartctl {
namespace {

namespace v1 = smartcity::auth::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

google::protobuf::Timestamp TimestampOf(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

// A private XDG_CONFIG_HOME for one test; SMARTCTL_TOKEN and SMARTCTL_SERVER unset meanwhile.
class ConfigHome {
 public:
  ConfigHome() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "smartctl-auth-test-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    Save("XDG_CONFIG_HOME");
    Save("SMARTCTL_TOKEN");
    Save("SMARTCTL_SERVER");
    Save("SMARTCTL_CLIENT_SECRET");
    ::setenv("XDG_CONFIG_HOME", dir_.c_str(), 1);
    ::unsetenv("SMARTCTL_TOKEN");
    ::unsetenv("SMARTCTL_SERVER");
    ::unsetenv("SMARTCTL_CLIENT_SECRET");
  }
  ~ConfigHome() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string config_path() const { return ConfigPath(); }

 private:
  void Save(const std::string& name) {
    const char* value = std::getenv(name.c_str());
    saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
  }
  std::string dir_;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

Session MakeSession(const std::string& access, absl::Duration access_left,
                    const std::string& refresh, absl::Duration refresh_left) {
  Session s;
  s.username = "kari";
  s.access_token = access;
  s.access_token_expiry = absl::Now() + access_left;
  s.refresh_token = refresh;
  s.refresh_token_expiry = absl::Now() + refresh_left;
  return s;
}

// ---- token precedence and expiry --------------------------------------------------------------

TEST(ChooseToken, FlagThenEnvThenSession) {
  const Session cached = MakeSession("cached", absl::Minutes(5), "r", absl::Hours(1));
  EXPECT_EQ(ChooseToken(std::string("flag"), "env", &cached).token, "flag");
  EXPECT_EQ(ChooseToken(std::string("flag"), "env", &cached).source, TokenSource::kFlag);
  EXPECT_EQ(ChooseToken(std::nullopt, "env", &cached).token, "env");
  EXPECT_EQ(ChooseToken(std::nullopt, "env", &cached).source, TokenSource::kEnv);
  EXPECT_EQ(ChooseToken(std::nullopt, "", &cached).token, "cached");
  EXPECT_EQ(ChooseToken(std::nullopt, "", &cached).source, TokenSource::kSession);
  EXPECT_EQ(ChooseToken(std::nullopt, "", nullptr).source, TokenSource::kNone);
  const Session empty;
  EXPECT_EQ(ChooseToken(std::nullopt, "", &empty).source, TokenSource::kNone);
  // --token "" asks for an anonymous call, whatever else there is.
  EXPECT_EQ(ChooseToken(std::string(""), "env", &cached).source, TokenSource::kNone);
  EXPECT_EQ(ChooseToken(std::string(""), "env", &cached).token, "");
}

TEST(NeedsRefresh, WithinThirtySecondsOfExpiry) {
  const absl::Time now = absl::Now();
  Session s = MakeSession("a", absl::Minutes(5), "r", absl::Hours(1));
  s.access_token_expiry = now + absl::Seconds(31);
  EXPECT_FALSE(NeedsRefresh(s, now));
  s.access_token_expiry = now + absl::Seconds(30);
  EXPECT_TRUE(NeedsRefresh(s, now));
  s.access_token_expiry = now - absl::Seconds(1);
  EXPECT_TRUE(NeedsRefresh(s, now));
  s.access_token_expiry = now + absl::Hours(1);
  s.access_token.clear();
  EXPECT_TRUE(NeedsRefresh(s, now));

  EXPECT_TRUE(CanRefresh(s, now));
  s.refresh_token_expiry = now - absl::Seconds(1);
  EXPECT_FALSE(CanRefresh(s, now));
  s.refresh_token_expiry = now + absl::Hours(1);
  s.refresh_token.clear();
  EXPECT_FALSE(CanRefresh(s, now));
}

TEST(CallMetadata, BearerOnlyWithAToken) {
  EXPECT_THAT(ServiceClient::CallMetadata("id1", ""),
              ElementsAre(std::make_pair(std::string("x-request-id"), std::string("id1"))));
  EXPECT_THAT(ServiceClient::CallMetadata("id2", "tok"),
              ElementsAre(std::make_pair(std::string("x-request-id"), std::string("id2")),
                          std::make_pair(std::string("authorization"), std::string("Bearer tok"))));
}

// ---- the cache in the config file -----------------------------------------------------------

TEST(SessionCache, RoundTripsInAPrivateFileAndViewRedactsIt) {
  ConfigHome home;
  const std::string path = home.config_path();
  Session s = MakeSession("access-secret", absl::Minutes(5), "refresh-secret", absl::Hours(8));
  s.access_token_expiry = absl::FromUnixSeconds(absl::ToUnixSeconds(s.access_token_expiry));
  s.refresh_token_expiry = absl::FromUnixSeconds(absl::ToUnixSeconds(s.refresh_token_expiry));
  ASSERT_TRUE(StoreSession(path, "local", s).ok());

  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(std::filesystem::path(path).parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  absl::StatusOr<Config> loaded = LoadConfig(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->current_context, "local");  // made, and made current: there was none
  const Context* local = loaded->Find("local");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->session.username, "kari");
  EXPECT_EQ(local->session.access_token, "access-secret");
  EXPECT_EQ(local->session.refresh_token, "refresh-secret");
  EXPECT_EQ(local->session.access_token_expiry, s.access_token_expiry);
  EXPECT_EQ(local->session.refresh_token_expiry, s.refresh_token_expiry);

  const std::string shown = ConfigToYaml(*loaded, /*redact_secrets=*/true);
  EXPECT_THAT(shown, Not(HasSubstr("access-secret")));
  EXPECT_THAT(shown, Not(HasSubstr("refresh-secret")));
  EXPECT_THAT(shown, HasSubstr("(redacted)"));
  EXPECT_THAT(shown, HasSubstr("username: kari"));

  // A loose file is tightened on the next write.
  ::chmod(path.c_str(), 0644);
  ASSERT_TRUE(StoreSession(path, "local", Session()).ok());
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  loaded = LoadConfig(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->Find("local")->session.empty());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), Not(HasSubstr("secret")));
}

TEST(SessionCache, StoringKeepsTheOtherContexts) {
  ConfigHome home;
  Config config;
  config.current_context = "prod";
  Context prod;
  prod.name = "prod";
  prod.server = "api.example.no:443";
  prod.services["catalogue"] = "catalogue.example.no:443";
  config.contexts.push_back(prod);
  ASSERT_TRUE(SaveConfig(config, home.config_path()).ok());
  ASSERT_TRUE(StoreSession(home.config_path(), "local",
                           MakeSession("a", absl::Minutes(5), "r", absl::Hours(1)))
                  .ok());
  absl::StatusOr<Config> loaded = LoadConfig(home.config_path());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->current_context, "prod");
  ASSERT_NE(loaded->Find("prod"), nullptr);
  EXPECT_EQ(loaded->Find("prod")->services.at("catalogue"), "catalogue.example.no:443");
  EXPECT_TRUE(loaded->Find("prod")->session.empty());
  EXPECT_EQ(loaded->Find("local")->session.access_token, "a");
}

v1::TokenResponse Tokens(const std::string& access, const std::string& refresh) {
  v1::TokenResponse r;
  r.set_access_token(access);
  r.set_refresh_token(refresh);
  *r.mutable_access_token_expire_time() = TimestampOf(absl::Now() + absl::Minutes(15));
  *r.mutable_refresh_token_expire_time() = TimestampOf(absl::Now() + absl::Hours(8));
  r.set_subject("kari");
  return r;
}

TEST(FreshAccessToken, AFreshTokenIsUsedAsItIs) {
  ConfigHome home;
  ASSERT_TRUE(StoreSession(home.config_path(), "local",
                           MakeSession("a1", absl::Minutes(5), "r1", absl::Hours(1)))
                  .ok());
  int calls = 0;
  auto refresh = [&](const std::string&) -> absl::StatusOr<v1::TokenResponse> {
    ++calls;
    return Tokens("a2", "r2");
  };
  absl::StatusOr<std::string> token =
      FreshAccessToken(home.config_path(), "local", refresh, absl::Now());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "a1");
  EXPECT_EQ(calls, 0);
}

TEST(FreshAccessToken, RefreshesNearExpiryAndStoresTheRotatedPair) {
  ConfigHome home;
  ASSERT_TRUE(StoreSession(home.config_path(), "local",
                           MakeSession("a1", absl::Seconds(10), "r1", absl::Hours(1)))
                  .ok());
  std::vector<std::string> used;
  auto refresh = [&](const std::string& rt) -> absl::StatusOr<v1::TokenResponse> {
    used.push_back(rt);
    return Tokens("a2", "r2");
  };
  Config updated;
  absl::StatusOr<std::string> token =
      FreshAccessToken(home.config_path(), "local", refresh, absl::Now(), &updated);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "a2");
  EXPECT_THAT(used, ElementsAre("r1"));
  EXPECT_EQ(updated.Find("local")->session.refresh_token, "r2");
  absl::StatusOr<Config> loaded = LoadConfig(home.config_path());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->Find("local")->session.access_token, "a2");
  EXPECT_EQ(loaded->Find("local")->session.refresh_token, "r2");
  EXPECT_EQ(loaded->Find("local")->session.username, "kari");

  // The next call (say, another process) finds the new pair fresh: no second refresh, and
  // certainly not with the old refresh token.
  token = FreshAccessToken(home.config_path(), "local", refresh, absl::Now());
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "a2");
  EXPECT_THAT(used, ElementsAre("r1"));
}

TEST(FreshAccessToken, RefusedRefreshClearsTheSession) {
  ConfigHome home;
  ASSERT_TRUE(StoreSession(home.config_path(), "local",
                           MakeSession("a1", absl::Seconds(-5), "r1", absl::Hours(1)))
                  .ok());
  auto refresh = [&](const std::string&) -> absl::StatusOr<v1::TokenResponse> {
    return ServiceError(absl::StatusCode::kUnauthenticated, "refresh token reused", "id");
  };
  absl::StatusOr<std::string> token =
      FreshAccessToken(home.config_path(), "local", refresh, absl::Now());
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(std::string(token.status().message()),
              HasSubstr("session expired, run smartctl login"));
  EXPECT_EQ(ExitCodeOf(token.status()), kExitFailed);
  absl::StatusOr<Config> loaded = LoadConfig(home.config_path());
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->Find("local")->session.empty());
}

TEST(FreshAccessToken, UnreachableAuthKeepsTheSession) {
  ConfigHome home;
  ASSERT_TRUE(StoreSession(home.config_path(), "local",
                           MakeSession("a1", absl::Seconds(10), "r1", absl::Hours(1)))
                  .ok());
  auto refresh = [&](const std::string&) -> absl::StatusOr<v1::TokenResponse> {
    return UnreachableError("cannot reach auth at 127.0.0.1:7004: connection refused");
  };
  // Still valid for 10 s: used as it is.
  absl::StatusOr<std::string> token =
      FreshAccessToken(home.config_path(), "local", refresh, absl::Now());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "a1");
  // Expired: the unreachable error, and the session is kept for when auth is back.
  token = FreshAccessToken(home.config_path(), "local", refresh, absl::Now() + absl::Minutes(1));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(ExitCodeOf(token.status()), kExitUnreachable);
  absl::StatusOr<Config> loaded = LoadConfig(home.config_path());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->Find("local")->session.refresh_token, "r1");
}

TEST(FreshAccessToken, ExpiredWithoutRefreshTokenIsSessionExpired) {
  ConfigHome home;
  ASSERT_TRUE(StoreSession(home.config_path(), "local",
                           MakeSession("a1", absl::Seconds(-1), "r1", absl::Seconds(-1)))
                  .ok());
  int calls = 0;
  auto refresh = [&](const std::string&) -> absl::StatusOr<v1::TokenResponse> {
    ++calls;
    return Tokens("x", "y");
  };
  absl::StatusOr<std::string> token =
      FreshAccessToken(home.config_path(), "local", refresh, absl::Now());
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(std::string(token.status().message()), HasSubstr("session expired"));
  EXPECT_EQ(calls, 0);
}

// ---- helpers of the commands ------------------------------------------------------------------

TEST(AuthHelpers, SecondFactorChallenge) {
  std::multimap<std::string, std::string> trailers = {{"smartby-second-factor", "totp"}};
  const absl::Status unauthenticated = absl::UnauthenticatedError("wrong");
  EXPECT_TRUE(AsksForTotp(unauthenticated, trailers));
  EXPECT_FALSE(AsksForTotp(unauthenticated, {}));
  EXPECT_FALSE(AsksForTotp(absl::PermissionDeniedError("no"), trailers));
}

TEST(AuthHelpers, TotpCodesAreSixToEightDigits) {
  EXPECT_TRUE(CheckTotpCode("--totp-code", "123456").ok());
  EXPECT_TRUE(CheckTotpCode("--totp-code", "12345678").ok());
  EXPECT_EQ(ExitCodeOf(CheckTotpCode("--totp-code", "12345")), kExitUsage);
  EXPECT_EQ(ExitCodeOf(CheckTotpCode("--totp-code", "12345a")), kExitUsage);
  EXPECT_EQ(ExitCodeOf(CheckTotpCode("--totp-code", "")), kExitUsage);
}

TEST(AuthHelpers, CreateUserRequestFromFlags) {
  ParsedFlags flags;
  flags.Add("display-name", "Kari Nordmann");
  flags.Add("role", "dataset-owner:Stavanger kommune");
  flags.Add("role", "reader");
  flags.Add("clearance", "beskyttet");
  absl::StatusOr<v1::CreateUserRequest> request = CreateUserRequestFrom(flags, "kari");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->username(), "kari");
  EXPECT_EQ(request->display_name(), "Kari Nordmann");
  EXPECT_THAT(request->roles(), ElementsAre("dataset-owner:Stavanger kommune", "reader"));
  EXPECT_EQ(request->clearance(), smartcity::common::v1::CLASSIFICATION_PROTECTED);
  EXPECT_TRUE(request->password().empty());

  ParsedFlags bad;
  bad.Add("clearance", "top-secret");
  absl::StatusOr<v1::CreateUserRequest> refused = CreateUserRequestFrom(bad, "kari");
  EXPECT_EQ(ExitCodeOf(refused.status()), kExitUsage);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--clearance"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("strictly-protected"));

  ParsedFlags blank_role;
  blank_role.Add("role", "");
  EXPECT_EQ(ExitCodeOf(CreateServiceAccountRequestFrom(blank_role, "gw").status()), kExitUsage);
}

TEST(AuthHelpers, UsernameOfSubject) {
  EXPECT_EQ(UsernameOfSubject("user:kari"), "kari");
  EXPECT_EQ(UsernameOfSubject("kari"), "kari");
}

TEST(ReadSecretLine, OneLineWithoutItsEnd) {
  std::istringstream in("hemmelig\r\nnext\n");
  absl::StatusOr<std::string> line = ReadSecretLine(in, "the password");
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*line, "hemmelig");
  std::istringstream empty("");
  EXPECT_EQ(ExitCodeOf(ReadSecretLine(empty, "the password").status()), kExitFailed);
  std::istringstream blank("\n");
  EXPECT_EQ(ExitCodeOf(ReadSecretLine(blank, "the password").status()), kExitFailed);
}

// ---- the commands, in-process against a fake auth service ---------------------------------

class FakeAuth final : public v1::AuthService::Service {
 public:
  grpc::Status Login(grpc::ServerContext* context, const v1::LoginRequest* request,
                     v1::TokenResponse* response) override {
    Record(context, "Login");
    if (request->username() != "kari" || request->password() != "riktig") {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong username or password");
    }
    if (totp_ && request->totp_code().empty()) {
      context->AddTrailingMetadata("smartby-second-factor", "totp");
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "a second factor is needed");
    }
    if (totp_ && request->totp_code() != "123456") {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong username or password");
    }
    *response = Tokens("login-access", "login-refresh");
    response->set_two_factor(totp_);
    response->set_password_change_required(password_change_);
    return grpc::Status::OK;
  }
  grpc::Status Refresh(grpc::ServerContext* context, const v1::RefreshRequest* request,
                       v1::TokenResponse* response) override {
    Record(context, "Refresh");
    std::lock_guard<std::mutex> lock(mu_);
    refreshed_with_.push_back(request->refresh_token());
    if (refuse_refresh_) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "refresh token revoked");
    }
    *response = Tokens("refreshed-access", "refreshed-refresh");
    return grpc::Status::OK;
  }
  grpc::Status Logout(grpc::ServerContext* context, const v1::LogoutRequest* request,
                      v1::LogoutResponse*) override {
    Record(context, "Logout");
    std::lock_guard<std::mutex> lock(mu_);
    logged_out_.push_back(request->refresh_token());
    return grpc::Status::OK;
  }
  grpc::Status WhoAmI(grpc::ServerContext* context, const v1::WhoAmIRequest*,
                      v1::WhoAmIResponse* response) override {
    const std::string auth = Record(context, "WhoAmI");
    if (auth.empty()) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token");
    response->set_subject("kari");
    response->add_roles("platform-admin");
    response->set_clearance(smartcity::common::v1::CLASSIFICATION_INTERNAL);
    return grpc::Status::OK;
  }
  grpc::Status ListRoles(grpc::ServerContext* context, const v1::ListRolesRequest*,
                         v1::ListRolesResponse* response) override {
    Record(context, "ListRoles");
    auto* role = response->add_roles();
    role->set_name("reader");
    role->set_description("reads datasets");
    return grpc::Status::OK;
  }
  grpc::Status IssueServiceToken(grpc::ServerContext* context,
                                 const v1::IssueServiceTokenRequest* request,
                                 v1::TokenResponse* response) override {
    Record(context, "IssueServiceToken");
    if (request->client_id() != "gw" || request->client_secret() != "s3cret") {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong client credentials");
    }
    response->set_access_token("service-access");
    return grpc::Status::OK;
  }

  // The authorization header of each call, by method ("" when there was none).
  std::vector<std::pair<std::string, std::string>> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<std::string> refreshed_with() {
    std::lock_guard<std::mutex> lock(mu_);
    return refreshed_with_;
  }
  std::vector<std::string> logged_out() {
    std::lock_guard<std::mutex> lock(mu_);
    return logged_out_;
  }
  void set_totp(bool on) { totp_ = on; }
  void set_refuse_refresh(bool on) { refuse_refresh_ = on; }
  void set_password_change(bool on) { password_change_ = on; }

 private:
  std::string Record(grpc::ServerContext* context, const std::string& method) {
    std::string auth;
    auto it = context->client_metadata().find("authorization");
    if (it != context->client_metadata().end()) auth.assign(it->second.data(), it->second.size());
    std::lock_guard<std::mutex> lock(mu_);
    calls_.emplace_back(method, auth);
    return auth;
  }

  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> calls_;
  std::vector<std::string> refreshed_with_;
  std::vector<std::string> logged_out_;
  std::atomic<bool> totp_{false};
  std::atomic<bool> refuse_refresh_{false};
  std::atomic<bool> password_change_{false};
};

struct Outcome {
  absl::Status status;
  std::string out;
  std::string err;
};

class AuthCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    AddAllCommands(registry_);
  }
  void TearDown() override { server_->Shutdown(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // smartctl with `args`, pointed at the fake; `stdin_data` as standard input.
  Outcome Run(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {"--insecure", "--server", address()});
    std::istringstream in(stdin_data);
    std::streambuf* old = std::cin.rdbuf(in.rdbuf());
    std::ostringstream out, err;
    Outcome outcome;
    outcome.status = RunCommandLine(registry_, args, out, err);
    std::cin.rdbuf(old);
    outcome.out = out.str();
    outcome.err = err.str();
    return outcome;
  }

  static std::string Describe(const Outcome& o) {
    std::ostringstream text;
    PrintError(o.status, text);
    return absl::StrCat("--- out\n", o.out, "--- err\n", o.err, text.str());
  }

  std::string LastAuthorization(const std::string& method) {
    std::string found = "(not called)";
    for (const auto& [m, auth] : fake_.calls()) {
      if (m == method) found = auth;
    }
    return found;
  }

  ConfigHome home_;
  FakeAuth fake_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  Registry registry_;
};

TEST_F(AuthCommandsTest, NoTokenMeansNoHeader) {
  Outcome o = Run({"role", "list"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.out, HasSubstr("reader"));
  EXPECT_EQ(LastAuthorization("ListRoles"), "");
}

TEST_F(AuthCommandsTest, TokenFlagBeatsEnvBeatsCachedLogin) {
  ASSERT_TRUE(StoreSession(ConfigPath(), "default",
                           MakeSession("cached", absl::Minutes(5), "r", absl::Hours(1)))
                  .ok());
  ASSERT_TRUE(Run({"role", "list"}).status.ok());
  EXPECT_EQ(LastAuthorization("ListRoles"), "Bearer cached");

  ::setenv("SMARTCTL_TOKEN", "from-env", 1);
  ASSERT_TRUE(Run({"role", "list"}).status.ok());
  EXPECT_EQ(LastAuthorization("ListRoles"), "Bearer from-env");

  ASSERT_TRUE(Run({"role", "list", "--token", "from-flag"}).status.ok());
  EXPECT_EQ(LastAuthorization("ListRoles"), "Bearer from-flag");

  ASSERT_TRUE(Run({"--token=", "role", "list"}).status.ok());
  EXPECT_EQ(LastAuthorization("ListRoles"), "");
  ::unsetenv("SMARTCTL_TOKEN");
  EXPECT_THAT(fake_.refreshed_with(), IsEmpty());
}

TEST_F(AuthCommandsTest, LoginCachesTheSessionAndWhoamiUsesIt) {
  Outcome o = Run({"login", "kari", "--password-stdin"}, "riktig\n");
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.out, HasSubstr("logged in as kari"));
  EXPECT_THAT(o.out + o.err, Not(HasSubstr("login-access")));
  EXPECT_EQ(LastAuthorization("Login"), "");  // the password is the credential here

  struct stat st {};
  ASSERT_EQ(::stat(ConfigPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  absl::StatusOr<Config> config = LoadConfig(ConfigPath());
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->current_context, "default");
  EXPECT_EQ(config->Find("default")->session.access_token, "login-access");
  EXPECT_EQ(config->Find("default")->session.refresh_token, "login-refresh");

  o = Run({"whoami"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.out, HasSubstr("platform-admin"));
  EXPECT_THAT(o.out, HasSubstr("the login cached in context default"));
  EXPECT_EQ(LastAuthorization("WhoAmI"), "Bearer login-access");

  o = Run({"config", "view"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.out, Not(HasSubstr("login-access")));
  EXPECT_THAT(o.out, Not(HasSubstr("login-refresh")));

  o = Run({"logout"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(fake_.logged_out(), ElementsAre("login-refresh"));
  config = LoadConfig(ConfigPath());
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->Find("default")->session.empty());

  o = Run({"whoami"});
  EXPECT_EQ(ExitCodeOf(o.status), kExitFailed);
  EXPECT_THAT(std::string(o.status.message()), HasSubstr("not logged in"));
}

TEST_F(AuthCommandsTest, WrongPasswordIsRefusedAndNothingIsCached) {
  Outcome o = Run({"login", "kari", "--password-stdin"}, "feil\n");
  EXPECT_EQ(ExitCodeOf(o.status), kExitFailed);
  EXPECT_EQ(o.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(HintOf(o.status), HasSubstr("check the username"));
  EXPECT_FALSE(std::filesystem::exists(ConfigPath()));
}

TEST_F(AuthCommandsTest, LoginWithTotpCode) {
  fake_.set_totp(true);
  Outcome o = Run({"login", "kari", "--password-stdin", "--totp-code", "123456"}, "riktig\n");
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  o = Run({"login", "kari", "--password-stdin", "--totp-code", "654321"}, "riktig\n");
  EXPECT_EQ(ExitCodeOf(o.status), kExitFailed);
}

TEST_F(AuthCommandsTest, OneTimePasswordSaysToChangeIt) {
  fake_.set_password_change(true);
  Outcome o = Run({"login", "kari", "--password-stdin"}, "riktig\n");
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(o.err, HasSubstr("smartctl user set-password"));
}

TEST_F(AuthCommandsTest, ExpiringSessionIsRefreshedBeforeTheCall) {
  ASSERT_TRUE(StoreSession(ConfigPath(), "default",
                           MakeSession("old-access", absl::Seconds(5), "old-refresh",
                                       absl::Hours(1)))
                  .ok());
  Outcome o = Run({"role", "list"});
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_THAT(fake_.refreshed_with(), ElementsAre("old-refresh"));
  EXPECT_EQ(LastAuthorization("Refresh"), "");
  EXPECT_EQ(LastAuthorization("ListRoles"), "Bearer refreshed-access");
  absl::StatusOr<Config> config = LoadConfig(ConfigPath());
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->Find("default")->session.refresh_token, "refreshed-refresh");

  // The second command uses the stored pair without refreshing again.
  ASSERT_TRUE(Run({"role", "list"}).status.ok());
  EXPECT_THAT(fake_.refreshed_with(), ElementsAre("old-refresh"));
}

TEST_F(AuthCommandsTest, RefusedRefreshSaysSessionExpired) {
  fake_.set_refuse_refresh(true);
  ASSERT_TRUE(StoreSession(ConfigPath(), "default",
                           MakeSession("old-access", absl::Seconds(-5), "old-refresh",
                                       absl::Hours(1)))
                  .ok());
  Outcome o = Run({"role", "list"});
  EXPECT_EQ(ExitCodeOf(o.status), kExitFailed);
  EXPECT_THAT(std::string(o.status.message()), HasSubstr("session expired, run smartctl login"));
  EXPECT_EQ(LastAuthorization("ListRoles"), "(not called)");
  absl::StatusOr<Config> config = LoadConfig(ConfigPath());
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->Find("default")->session.empty());
}

TEST_F(AuthCommandsTest, TokenIssuePrintsTheTokenOnly) {
  ::setenv("SMARTCTL_CLIENT_SECRET", "s3cret", 1);
  Outcome o = Run({"token", "issue", "--serviceaccount", "gw"});
  ::unsetenv("SMARTCTL_CLIENT_SECRET");
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out, "service-access\n");
  o = Run({"token", "issue", "--serviceaccount", "gw", "--secret-stdin"}, "s3cret\n");
  ASSERT_TRUE(o.status.ok()) << Describe(o);
  EXPECT_EQ(o.out, "service-access\n");
  EXPECT_EQ(LastAuthorization("IssueServiceToken"), "");
}

TEST_F(AuthCommandsTest, BadArgumentsAreUsageErrorsBeforeAnyCall) {
  const std::vector<std::vector<std::string>> lines = {
      {"user", "create"},
      {"user", "create", "kari", "--clearance", "top-secret"},
      {"user", "create", "kari", "--colour", "red"},
      {"user", "grant", "kari"},
      {"user", "grant", "kari", "reader", "extra"},
      {"user", "set-clearance", "kari", "hemmelig-ish"},
      {"user", "list", "--page-size", "0"},
      {"login", "--password-stdin"},
      {"login", "kari", "--totp-code", "12ab56"},
      {"login", "a", "b"},
      {"totp", "confirm", "12"},
      {"totp", "enroll", "--code", "123456", "--no-confirm"},
      {"token", "issue"},
      {"token", "issue", "--serviceaccount", "gw"},
      {"serviceaccount", "create"},
      {"serviceaccount", "create", "gw", "--role", ""},
      {"user", "create", "kari", "--role", "dataset owner:Stavanger kommune"},
      {"user", "create", "kari", "--role", "dataset-owner:"},
      {"user", "frobnicate"},
  };
  for (const auto& line : lines) {
    Outcome o = Run(line);
    EXPECT_EQ(ExitCodeOf(o.status), kExitUsage) << absl::StrJoin(line, " ") << "\n"
                                                << Describe(o);
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(AuthCommandsTest, EveryAuthCommandHasHelpWithExamples) {
  for (const auto& command : registry_.commands) {
    if (command.noun == "dataset" || command.noun == "resource" || command.noun == "catalogue" ||
        command.noun == "config" || command.noun == "status") {
      continue;
    }
    EXPECT_THAT(command.description, HasSubstr("Examples:")) << CommandPath(command);
  }
}

}  // namespace
}  // namespace smartby::smartctl
