// End-to-end: the real smartctl binary against a real smartby-auth on a free loopback port, with a
// fresh data directory, a bootstrap administrator whose password comes from a file, and a private
// XDG_CONFIG_HOME per test. Covers login (--password-stdin), whoami, user create, serviceaccount
// create, token issue, logout, and two-factor login with a TOTP code the test computes.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "services/auth/totp.h"
#include "smartcity/auth/v1/auth.pb.h"
#include "tests/support/service_process.h"

namespace {

namespace v1 = smartcity::auth::v1;
using smartby::testing::BinaryPath;
using smartby::testing::CommandResult;
using smartby::testing::RunCommand;
using smartby::testing::ServiceProcess;
using smartby::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAdminPassword[] = "Fjord-Lysbro-Tindekrone-2026";

template <typename Message>
Message ParseJson(const std::string& json) {
  Message message;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return message;
}

std::string Describe(const CommandResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\n--- stdout\n", r.out, "--- stderr\n", r.err);
}

class SmartctlAuthE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new TempDir();
    const std::string password_file = absl::StrCat(data_dir_->path(), "/admin-password");
    std::ofstream(password_file) << kAdminPassword << "\n";
    ::chmod(password_file.c_str(), 0600);
    auto process = ServiceProcess::Start(
        BinaryPath("smartby-auth"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
         absl::StrCat("--data_dir=", data_dir_->path()), "--bootstrap_admin=admin",
         absl::StrCat("--bootstrap_admin_password_file=", password_file)});
    ASSERT_TRUE(process.ok()) << process.status();
    auth_ = process->release();
  }

  static void TearDownTestSuite() {
    delete auth_;
    auth_ = nullptr;
    delete data_dir_;
    data_dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(auth_, nullptr) << "smartby-auth did not start";
    CommandResult r = Run({"config", "set-context", "local", "--server", auth_->grpc_address(),
                           "--insecure"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }

  // smartctl with `args`, this test's config directory, no SMARTCTL_* variables from outside.
  // Run in a new session (setsid) when possible, so that it has no terminal to prompt on.
  CommandResult Run(const std::vector<std::string>& args, const std::string& stdin_data = "",
                    smartby::testing::Env env = {}) {
    std::vector<std::string> argv;
    if (::access("/usr/bin/setsid", X_OK) == 0) argv.push_back("/usr/bin/setsid");
    argv.push_back(BinaryPath("smartctl"));
    argv.insert(argv.end(), args.begin(), args.end());
    // Defaults first, for the variables `env` does not set itself (the first of a name wins).
    for (const auto& [name, value] :
         smartby::testing::Env{{"XDG_CONFIG_HOME", config_home_.path()},
                               {"SMARTCTL_SERVER", ""},
                               {"SMARTCTL_TOKEN", ""},
                               {"SMARTCTL_CLIENT_SECRET", ""}}) {
      bool given = false;
      for (const auto& entry : env) given = given || entry.first == name;
      if (!given) env.emplace_back(name, value);
    }
    CommandResult r = RunCommand(argv, env, stdin_data);
    EXPECT_THAT(r.out + r.err, Not(HasSubstr(kAdminPassword))) << "a password was printed";
    return r;
  }

  std::string ConfigFile() const {
    return absl::StrCat(config_home_.path(), "/smartctl/config.yaml");
  }

  // Logs in as admin; changes a one-time password first if the service asks for that.
  void LoginAdmin() {
    CommandResult r = Run({"login", "admin", "--password-stdin"}, absl::StrCat(kAdminPassword, "\n"));
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    ASSERT_THAT(r.err, Not(HasSubstr("set-password"))) << "the bootstrap admin's password from "
                                                          "a file should not need changing";
  }

  // Creates a user with a known password (no one-time password) as admin.
  void CreateUser(const std::string& username, const std::string& password,
                  const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"user", "create", username, "--password-stdin"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = Run(args, password + "\n");
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }

  static TempDir* data_dir_;
  static ServiceProcess* auth_;
  TempDir config_home_;
};

TempDir* SmartctlAuthE2ETest::data_dir_ = nullptr;
ServiceProcess* SmartctlAuthE2ETest::auth_ = nullptr;

TEST_F(SmartctlAuthE2ETest, LoginWhoamiCreateUserServiceAccountTokenLogout) {
  LoginAdmin();

  // The session is cached in a private file.
  struct stat st {};
  ASSERT_EQ(::stat(ConfigFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  CommandResult r = Run({"config", "view"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("(redacted)"));
  EXPECT_THAT(r.out, Not(HasSubstr("eyJ")));  // no JWT shown

  r = Run({"whoami", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto me = ParseJson<v1::WhoAmIResponse>(r.out);
  EXPECT_THAT(me.subject(), HasSubstr("admin"));
  EXPECT_THAT(std::vector<std::string>(me.roles().begin(), me.roles().end()),
              ::testing::Contains(HasSubstr("platform-admin")));

  r = Run({"whoami"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("the login cached in context local"));

  // A user with a generated one-time password, shown once.
  r = Run({"user", "create", "e2e-kari", "--display-name", "Kari Nordmann", "--role", "reader",
           "--clearance", "internal", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto created = ParseJson<v1::CreateUserResponse>(r.out);
  EXPECT_EQ(created.user().username(), "e2e-kari");
  EXPECT_FALSE(created.one_time_password().empty());
  EXPECT_THAT(r.err, HasSubstr("only this once"));

  r = Run({"user", "list"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("e2e-kari"));
  EXPECT_THAT(r.out, Not(HasSubstr(created.one_time_password())));

  r = Run({"user", "get", "e2e-kari"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("must be changed at next login"));

  // The new user logs in with the one-time password and is told to change it.
  {
    TempDir kari_home;
    CommandResult k = RunCommand(
        {BinaryPath("smartctl"), "--insecure", "--server", auth_->grpc_address(), "login",
         "e2e-kari", "--password-stdin"},
        {{"XDG_CONFIG_HOME", kari_home.path()}, {"SMARTCTL_SERVER", ""}, {"SMARTCTL_TOKEN", ""}},
        created.one_time_password() + "\n");
    ASSERT_EQ(k.exit_code, 0) << Describe(k);
    EXPECT_THAT(k.err, HasSubstr("smartctl user set-password"));
    const std::string new_password = "Kari-sitt-nye-passord-2026";
    k = RunCommand({BinaryPath("smartctl"), "--insecure", "--server", auth_->grpc_address(),
                    "user", "set-password", "--password-stdin"},
                   {{"XDG_CONFIG_HOME", kari_home.path()},
                    {"SMARTCTL_SERVER", ""},
                    {"SMARTCTL_TOKEN", ""}},
                   absl::StrCat(created.one_time_password(), "\n", new_password, "\n"));
    EXPECT_EQ(k.exit_code, 0) << Describe(k);
    EXPECT_THAT(k.out, HasSubstr("password changed for e2e-kari"));
  }

  r = Run({"role", "list"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("reader"));

  // A service account, and a token for it.
  r = Run({"serviceaccount", "create", "e2e-gateway", "--description", "e2e test", "--role",
           "reader", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto account = ParseJson<v1::CreateServiceAccountResponse>(r.out);
  ASSERT_FALSE(account.client_secret().empty());

  r = Run({"serviceaccount", "list"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("e2e-gateway"));
  EXPECT_THAT(r.out, Not(HasSubstr(account.client_secret())));

  r = Run({"token", "issue", "--serviceaccount", "e2e-gateway", "--secret-stdin"},
          account.client_secret() + "\n");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string token(absl::StripTrailingAsciiWhitespace(r.out));
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(token, '.')).size(), 3u) << token;

  r = Run({"token", "issue", "--serviceaccount", "e2e-gateway"}, "",
          {{"SMARTCTL_CLIENT_SECRET", account.client_secret()}});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  r = Run({"token", "issue", "--serviceaccount", "e2e-gateway", "--secret-stdin"}, "wrong\n");
  EXPECT_EQ(r.exit_code, 1) << Describe(r);

  // The token works as SMARTCTL_TOKEN, ahead of the cached login.
  r = Run({"whoami", "-o", "json"}, "", {{"SMARTCTL_TOKEN", token}});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(ParseJson<v1::WhoAmIResponse>(r.out).subject(), HasSubstr("e2e-gateway"));

  // A service account may not administer users.
  r = Run({"user", "list"}, "", {{"SMARTCTL_TOKEN", token}});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);

  r = Run({"logout"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("logged out"));
  std::ifstream in(ConfigFile());
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), Not(HasSubstr("session")));

  r = Run({"whoami"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("not logged in"));

  r = Run({"user", "list"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("smartctl login"));
}

TEST_F(SmartctlAuthE2ETest, LoginWithTotp) {
  LoginAdmin();
  const std::string password = "Totp-brukerens-passord-2026";
  CreateUser("e2e-totp", password, {"--role", "reader"});
  CommandResult r = Run({"logout"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  r = Run({"login", "e2e-totp", "--password-stdin"}, password + "\n");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  r = Run({"totp", "enroll", "--no-confirm", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto enrolled = ParseJson<v1::EnrollTotpResponse>(r.out);
  ASSERT_FALSE(enrolled.secret_base32().empty());
  EXPECT_THAT(enrolled.otpauth_uri(), HasSubstr("otpauth://totp/"));
  auto secret = smartby::auth::Base32Decode(enrolled.secret_base32());
  ASSERT_TRUE(secret.ok()) << secret.status();

  auto code = smartby::auth::Totp(*secret, absl::Now());
  ASSERT_TRUE(code.ok()) << code.status();
  r = Run({"totp", "confirm", *code});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("two-factor sign-in is on"));

  r = Run({"logout"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  // Without a code and without a terminal to ask on: a usage error pointing at --totp-code.
  if (::access("/usr/bin/setsid", X_OK) == 0) {
    r = Run({"login", "e2e-totp", "--password-stdin"}, password + "\n");
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("--totp-code"));
  }

  // A wrong code is refused.
  r = Run({"login", "e2e-totp", "--password-stdin", "--totp-code", "000000"}, password + "\n");
  EXPECT_EQ(r.exit_code, 1) << Describe(r);

  // The code of the next time step: accepted (one step of drift either way), and later than the
  // one used to confirm, so it is not a replay.
  code = smartby::auth::Totp(*secret, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  r = Run({"login", "e2e-totp", "--password-stdin", "--totp-code", *code}, password + "\n");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  r = Run({"whoami", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto me = ParseJson<v1::WhoAmIResponse>(r.out);
  EXPECT_THAT(me.subject(), HasSubstr("e2e-totp"));
  EXPECT_TRUE(me.two_factor());

  r = Run({"user", "get", "e2e-totp"}, "", {{"SMARTCTL_TOKEN", ""}});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);  // a reader does not administer users
}

}  // namespace

// Issue 3's end-to-end case across services: a dataset-owner signs in with a TOTP code and
// creates a Beskyttet dataset in the catalogue; a reader is refused; the catalogue verifies the
// platform tokens with the keys it fetched from the auth service.
TEST_F(SmartctlAuthE2ETest, OwnerWithTotpCreatesADatasetAndAReaderIsRefused) {
  TempDir catalogue_dir;
  auto catalogue = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
       absl::StrCat("--database=sqlite://", catalogue_dir.path(), "/catalogue.db"),
       absl::StrCat("--auth_service=grpc://", auth_->grpc_address())});
  ASSERT_TRUE(catalogue.ok()) << catalogue.status();
  CommandResult r = Run({"config", "set-context", "local", "--service-endpoint",
                         absl::StrCat("catalogue=", (*catalogue)->grpc_address())});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  LoginAdmin();
  const std::string owner_password = "Ravnanger-Eier-Passord-31";
  const std::string reader_password = "Ravnanger-Leser-Passord-47";
  CreateUser("e2e-owner", owner_password,
             {"--role", "dataset-owner:Stavanger kommune", "--clearance", "protected"});
  CreateUser("e2e-reader", reader_password, {"--role", "reader", "--clearance", "protected"});

  // The owner enrols TOTP and signs in with a code.
  r = Run({"login", "e2e-owner", "--password-stdin"}, owner_password + "\n");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Run({"totp", "enroll", "--no-confirm", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  auto secret = smartby::auth::Base32Decode(
      ParseJson<v1::EnrollTotpResponse>(r.out).secret_base32());
  ASSERT_TRUE(secret.ok());
  r = Run({"totp", "confirm", *smartby::auth::Totp(*secret, absl::Now())});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::vector<std::string> create = {
      "dataset",          "create",         "trygghetsalarmer-e2e", "--title",
      "Trygghetsalarmer", "--owner",        "Stavanger kommune",    "--classification",
      "protected",        "--license",      "NLOD-2.0"};

  // Signed in with the password only: the Beskyttet dataset needs the second factor.
  r = Run(create);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("second factor"));

  r = Run({"login", "e2e-owner", "--password-stdin", "--totp-code",
           *smartby::auth::Totp(*secret, absl::Now() + absl::Seconds(30))},
          owner_password + "\n");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Run(create);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Run({"dataset", "get", "trygghetsalarmer-e2e", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("user:e2e-owner"));  // created_by

  // A reader may not create datasets, and the message says which role would. (An Intern one, so
  // that the refusal is about the role; a Beskyttet one would first ask for a second factor.)
  r = Run({"login", "e2e-reader", "--password-stdin"}, reader_password + "\n");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::vector<std::string> create_other = create;
  create_other[2] = "trygghetsalarmer-e2e-2";
  create_other[8] = "internal";
  r = Run(create_other);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("dataset-owner"));
  r = Run({"dataset", "get", "trygghetsalarmer-e2e-2"});
  EXPECT_NE(r.exit_code, 0) << "nothing was created";
}
