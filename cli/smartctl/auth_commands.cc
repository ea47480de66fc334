// The auth nouns: `login`, `logout`, `whoami`, `user`, `role`, `totp`, `serviceaccount`, `token`
// and `idp`, all against smartcity.auth.v1.AuthService (default port 7004).
//
// Secrets: passwords are read from the terminal without echo or from standard input
// (--password-stdin), never from a flag; tokens and passwords are never printed, except what the
// service returns to be shown once (a generated one-time password, a service account's client
// secret, a TOTP enrolment secret) and the access token of `token issue`, which is its purpose.
#include "cli/smartctl/auth_commands.h"

#include <cstdlib>
#include <iostream>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/output.h"
#include "cli/smartctl/prompt.h"
#include "cli/smartctl/session.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"

namespace smartby::smartctl {

namespace v1 = smartcity::auth::v1;
using smartcity::common::v1::Classification;

bool AsksForTotp(const absl::Status& status,
                 const std::multimap<std::string, std::string>& trailing_metadata) {
  if (status.code() != absl::StatusCode::kUnauthenticated) return false;
  auto [begin, end] = trailing_metadata.equal_range(kSecondFactorKey);
  for (auto it = begin; it != end; ++it) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(it->second), kSecondFactorTotp)) {
      return true;
    }
  }
  return false;
}

absl::Status CheckTotpCode(const std::string& flag, const std::string& code) {
  bool digits = code.size() >= 6 && code.size() <= 8;
  for (char c : code) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits) {
    return UsageError(absl::StrCat(flag, ": a code is 6 to 8 digits from your authenticator app",
                                   code.empty() ? "" : ", not \"" + code + "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<Classification> ParseClearance(const std::string& flag, const std::string& text) {
  absl::StatusOr<int> value =
      ParseEnumValue(smartcity::common::v1::Classification_descriptor(), text, flag);
  if (!value.ok()) return value.status();
  return static_cast<Classification>(*value);
}

namespace {

// Roles are "role" or "role:scope"; the role part is checked here for the obvious mistakes (the
// service knows the roles, see smartctl role list). A scope may hold spaces: it is an
// organisation's name as datasets carry it ("dataset-owner:Stavanger kommune").
absl::Status CheckRole(const std::string& flag, const std::string& role) {
  const std::string name = role.substr(0, role.find(':'));
  if (name.empty() || absl::StrContains(name, " ") ||
      (role.find(':') != std::string::npos && role.find(':') + 1 == role.size())) {
    return UsageError(absl::StrCat(flag, ": \"", role,
                                   "\" is not a role; write ROLE or ROLE:SCOPE, e.g. "
                                   "\"dataset-owner:Stavanger kommune\" (see smartctl role list)"));
  }
  return absl::OkStatus();
}

template <typename Request>
absl::Status SetPrincipalFlags(const ParsedFlags& flags, Request& request) {
  for (const std::string& role : flags.GetAll("role")) {
    SMARTCTL_RETURN_IF_ERROR(CheckRole("--role", role));
    request.add_roles(role);
  }
  if (flags.Has("clearance")) {
    absl::StatusOr<Classification> c = ParseClearance("--clearance", flags.Get("clearance"));
    if (!c.ok()) return c.status();
    request.set_clearance(*c);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::CreateUserRequest> CreateUserRequestFrom(const ParsedFlags& flags,
                                                            const std::string& username) {
  v1::CreateUserRequest request;
  request.set_username(username);
  request.set_display_name(flags.Get("display-name"));
  SMARTCTL_RETURN_IF_ERROR(SetPrincipalFlags(flags, request));
  return request;
}

absl::StatusOr<v1::CreateServiceAccountRequest> CreateServiceAccountRequestFrom(
    const ParsedFlags& flags, const std::string& name) {
  v1::CreateServiceAccountRequest request;
  request.set_name(name);
  request.set_description(flags.Get("description"));
  SMARTCTL_RETURN_IF_ERROR(SetPrincipalFlags(flags, request));
  return request;
}

std::string UsernameOfSubject(const std::string& subject) {
  if (absl::StartsWith(subject, "user:")) return subject.substr(5);
  return subject;
}

namespace {

using Stub = v1::AuthService::Stub;

struct AuthConnection {
  std::unique_ptr<ServiceClient> client;
  std::unique_ptr<Stub> stub;
};

absl::StatusOr<AuthConnection> ConnectAuth(CommandContext& context) {
  absl::StatusOr<std::unique_ptr<ServiceClient>> client = context.Connect("auth");
  if (!client.ok()) return client.status();
  AuthConnection connection;
  connection.stub = v1::AuthService::NewStub((*client)->channel());
  connection.client = std::move(*client);
  return connection;
}

// What a refusal is about, for the hint.
enum class About { kNothing, kUser, kServiceAccount };

// Adds a hint to a failure the auth service reported, where a person would want one.
absl::Status Explain(absl::Status status, About about) {
  if (status.ok() || ExitCodeOf(status) != kExitFailed) return status;
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      if (about == About::kUser) {
        return WithHint(status, "see the users with smartctl user list");
      }
      if (about == About::kServiceAccount) {
        return WithHint(status, "see the service accounts with smartctl serviceaccount list");
      }
      return status;
    case absl::StatusCode::kAlreadyExists:
      return about == About::kServiceAccount
                 ? WithHint(status,
                            "a new secret for it: smartctl serviceaccount rotate-secret NAME")
                 : status;
    case absl::StatusCode::kResourceExhausted:
      return WithHint(status,
                      "too many attempts: wait a few minutes before trying again (the account "
                      "or this address is throttled)");
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
      if (absl::StrContains(absl::AsciiStrToLower(message), "password") &&
          absl::StrContains(absl::AsciiStrToLower(message), "change")) {
        return WithHint(status,
                        "change your one-time password first: smartctl user set-password");
      }
      return status;
    case absl::StatusCode::kDeadlineExceeded:
      return WithHint(status, "give it longer with --timeout, e.g. --timeout 1m");
    default:
      return status;
  }
}

template <typename Request, typename Response>
absl::StatusOr<Response> Call(AuthConnection& c,
                              grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                           Response*),
                              const Request& request, About about = About::kNothing,
                              const CallOptions& options = {}) {
  absl::StatusOr<Response> response = c.client->Call(*c.stub, method, request, options);
  if (!response.ok()) return Explain(response.status(), about);
  return response;
}

template <typename Request, typename Response>
absl::StatusOr<Response> ConnectAndCall(CommandContext& context,
                                        grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                     const Request&, Response*),
                                        const Request& request, About about = About::kNothing) {
  absl::StatusOr<AuthConnection> c = ConnectAuth(context);
  if (!c.ok()) return c.status();
  return Call(*c, method, request, about);
}

// ---- output ---------------------------------------------------------------------------------

bool PrintedForScripts(CommandContext& context, const google::protobuf::Message& message) {
  if (context.output() == OutputFormat::kTable) return false;
  PrintMessage(message, context.output(), context.out());
  return true;
}

std::string ClearanceText(int c) {
  if (c == 0) return "";
  return ShortEnumName(smartcity::common::v1::Classification_descriptor(), c);
}

std::string RolesText(const google::protobuf::RepeatedPtrField<std::string>& roles) {
  return absl::StrJoin(roles, ", ");
}

std::string YesNo(bool value) { return value ? "yes" : "no"; }

void PrintUserDetails(const v1::User& u, std::ostream& out) {
  Details details;
  details.Add("Username", u.username());
  if (!u.display_name().empty()) details.Add("Display name", u.display_name());
  details.Add("Roles", u.roles().empty() ? "(none)" : RolesText(u.roles()));
  details.Add("Clearance", u.clearance() == 0 ? "(none)" : ClearanceText(u.clearance()));
  details.Add("Disabled", YesNo(u.disabled()));
  details.Add("Two-factor (TOTP)", u.totp_enrolled() ? "enrolled" : "not enrolled");
  if (u.password_change_required()) details.Add("Password", "must be changed at next login");
  if (u.has_create_time()) details.Add("Created", FormatTime(u.create_time()));
  details.Add("Last login", u.has_last_login_time() ? FormatTime(u.last_login_time()) : "never");
  details.Print(out);
}

// After a change to a user: a line for people, or the user for scripts.
void ReportUser(CommandContext& context, const v1::User& user, const std::string& done) {
  if (PrintedForScripts(context, user)) return;
  context.out() << done << "\n";
}

// A secret the service shows once: on standard output (so it can be captured), with the warning
// on standard error.
void PrintSecretOnce(CommandContext& context, const std::string& label, const std::string& secret,
                     const std::string& what_next) {
  context.out() << label << ": " << secret << "\n";
  context.err() << "warning: the " << label
                << " is shown only this once and cannot be retrieved again; store it now"
                << (what_next.empty() ? "" : " (") << what_next
                << (what_next.empty() ? "" : ")") << "\n";
}

// ---- reading secrets ------------------------------------------------------------------------

// A new password, from standard input (--password-stdin, one line) or asked twice on the
// terminal.
absl::StatusOr<std::string> ReadNewPassword(CommandContext& context, const std::string& label,
                                            bool from_stdin) {
  if (from_stdin) return ReadSecretLine(std::cin, label);
  absl::StatusOr<std::string> first = Prompt(absl::StrCat(label, ": "), false, "--password-stdin");
  if (!first.ok()) return first.status();
  if (first->empty()) return context.Usage("an empty password is not a password");
  absl::StatusOr<std::string> again =
      Prompt(absl::StrCat(label, " (again): "), false, "--password-stdin");
  if (!again.ok()) return again.status();
  if (*first != *again) return LocalError("the two passwords differ; nothing was changed");
  return first;
}

// ---- login, logout, whoami ------------------------------------------------------------------

// The context a login is stored in: the selected one, else "default" (created by StoreSession).
absl::StatusOr<std::string> LoginContextName(CommandContext& context) {
  absl::StatusOr<const Context*> current = context.CurrentContext();
  if (!current.ok()) return current.status();
  return *current != nullptr ? (*current)->name : std::string("default");
}

absl::Status Login(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  const bool password_stdin = flags.GetBool("password-stdin");
  if (flags.Has("totp-code")) {
    SMARTCTL_RETURN_IF_ERROR(WithUsage(CheckTotpCode("--totp-code", flags.Get("totp-code")),
                                       UsageText(context.command())));
  }
  if (password_stdin && context.args().empty()) {
    return context.Usage("with --password-stdin, give the USERNAME on the command line");
  }
  absl::StatusOr<std::string> context_name = LoginContextName(context);
  if (!context_name.ok()) return context_name.status();

  std::string username;
  if (!context.args().empty()) {
    username = context.args()[0];
  } else {
    absl::StatusOr<std::string> typed = Prompt("Username: ", true, "smartctl login USERNAME");
    if (!typed.ok()) return typed.status();
    username = std::string(absl::StripAsciiWhitespace(*typed));
  }
  if (username.empty()) return context.Usage("missing USERNAME");

  absl::StatusOr<std::string> password =
      password_stdin ? ReadSecretLine(std::cin, "the password")
                     : Prompt(absl::StrCat("Password for ", username, ": "), false,
                              "--password-stdin to read it from standard input");
  if (!password.ok()) return password.status();

  absl::StatusOr<AuthConnection> c = ConnectAuth(context);
  if (!c.ok()) return c.status();
  v1::LoginRequest request;
  request.set_username(username);
  request.set_password(*password);
  request.set_totp_code(flags.Get("totp-code"));
  request.set_client_id("smartctl");
  std::multimap<std::string, std::string> trailers;
  const CallOptions options{.anonymous = true, .trailing_metadata = &trailers};
  absl::StatusOr<v1::TokenResponse> response =
      Call(*c, &Stub::Login, request, About::kNothing, options);
  if (!response.ok() && AsksForTotp(response.status(), trailers) && !flags.Has("totp-code")) {
    absl::StatusOr<std::string> code =
        Prompt("Code from your authenticator app: ", true, "--totp-code CODE");
    if (!code.ok()) {
      return WithHint(code.status(),
                      absl::StrCat(username, " has two-factor sign-in: give the code with "
                                             "--totp-code CODE"));
    }
    const std::string typed(absl::StripAsciiWhitespace(*code));
    SMARTCTL_RETURN_IF_ERROR(CheckTotpCode("code", typed));
    request.set_totp_code(typed);
    response = Call(*c, &Stub::Login, request, About::kNothing, options);
  }
  request.clear_password();
  if (!response.ok()) {
    absl::Status error = response.status();
    if (error.code() == absl::StatusCode::kUnauthenticated) {
      error = WithHint(error, AsksForTotp(error, trailers)
                                  ? "this account needs a code from its authenticator app: "
                                    "give it with --totp-code CODE"
                                  : "check the username, the password and (if asked) the code; "
                                    "too many failed attempts lock the account for a while");
    }
    return error;
  }

  Config updated;
  SMARTCTL_RETURN_IF_ERROR(
      StoreSession(ConfigPath(), *context_name, SessionFrom(*response, username), &updated));
  context.SetConfig(std::move(updated));

  if (context.output() != OutputFormat::kTable) {
    v1::TokenResponse shown = *response;  // everything but the tokens themselves
    shown.clear_access_token();
    shown.clear_refresh_token();
    PrintMessage(shown, context.output(), context.out());
  } else {
    context.out() << "logged in as " << username << " (context " << *context_name << ")";
    if (response->has_access_token_expire_time()) {
      context.out() << "; session renewed automatically until "
                    << FormatTime(response->has_refresh_token_expire_time()
                                      ? response->refresh_token_expire_time()
                                      : response->access_token_expire_time());
    }
    context.out() << "\n";
  }
  if (response->password_change_required()) {
    context.err() << "your password is a one-time password and must be changed before anything "
                     "else: run smartctl user set-password\n";
  }
  return absl::OkStatus();
}

absl::Status Logout(CommandContext& context) {
  absl::StatusOr<const Context*> current = context.CurrentContext();
  if (!current.ok()) return current.status();
  if (*current == nullptr || (*current)->session.empty()) {
    context.out() << "not logged in"
                  << (*current == nullptr ? "" : " (context " + (*current)->name + ")") << "\n";
    return absl::OkStatus();
  }
  const std::string context_name = (*current)->name;
  const Session session = (*current)->session;

  absl::Status revoked = absl::OkStatus();
  if (!session.refresh_token.empty()) {
    absl::StatusOr<AuthConnection> c = ConnectAuth(context);
    if (c.ok()) {
      v1::LogoutRequest request;
      request.set_refresh_token(session.refresh_token);
      revoked = Call(*c, &Stub::Logout, request, About::kNothing,
                     CallOptions{.anonymous = true})
                    .status();
    } else {
      revoked = c.status();
    }
  }
  // The local copy goes whatever the service said.
  Config updated;
  SMARTCTL_RETURN_IF_ERROR(StoreSession(ConfigPath(), context_name, Session(), &updated));
  context.SetConfig(std::move(updated));
  context.out() << "logged out" << (session.username.empty() ? "" : " " + session.username)
                << " (context " << context_name << ")\n";
  if (!revoked.ok()) {
    return WithHint(
        revoked, absl::StrCat("the cached session was removed anyway, but the service could not "
                              "revoke it: its refresh token stays valid until ",
                              absl::FormatTime(absl::RFC3339_sec, session.refresh_token_expiry,
                                               absl::UTCTimeZone())));
  }
  return absl::OkStatus();
}

absl::Status WhoAmI(CommandContext& context) {
  absl::StatusOr<TokenSource> source = context.CurrentTokenSource();
  if (!source.ok()) return source.status();
  if (*source == TokenSource::kNone) {
    return WithHint(LocalError("not logged in: there is no token to ask about"),
                    "sign in with smartctl login USERNAME, or pass a token with SMARTCTL_TOKEN");
  }
  absl::StatusOr<const Context*> current = context.CurrentContext();
  if (!current.ok()) return current.status();
  const std::string context_name = *current ? (*current)->name : "";
  absl::StatusOr<v1::WhoAmIResponse> me =
      ConnectAndCall(context, &Stub::WhoAmI, v1::WhoAmIRequest());
  if (!me.ok()) return me.status();
  if (PrintedForScripts(context, *me)) return absl::OkStatus();
  Details details;
  details.Add("Subject", me->subject());
  if (!me->issuer().empty()) details.Add("Issuer", me->issuer());
  details.Add("Roles", me->roles().empty() ? "(none)" : RolesText(me->roles()));
  details.Add("Clearance", me->clearance() == 0 ? "(none)" : ClearanceText(me->clearance()));
  details.Add("Two-factor", YesNo(me->two_factor()));
  if (!me->actor().empty()) details.Add("Actor", me->actor());
  if (!me->client_id().empty()) details.Add("Client", me->client_id());
  if (me->has_expire_time()) details.Add("Token expires", FormatTime(me->expire_time()));
  details.Add("Token from", TokenSourceText(*source, context_name));
  details.Print(context.out());
  return absl::OkStatus();
}

// ---- user -----------------------------------------------------------------------------------

absl::Status CreateUser(CommandContext& context) {
  absl::StatusOr<v1::CreateUserRequest> request =
      CreateUserRequestFrom(context.flags(), context.args()[0]);
  if (!request.ok()) return WithUsage(request.status(), UsageText(context.command()));
  if (context.flags().GetBool("password-stdin")) {
    absl::StatusOr<std::string> password = ReadSecretLine(std::cin, "the password");
    if (!password.ok()) return password.status();
    request->set_password(*password);
  }
  absl::StatusOr<v1::CreateUserResponse> response =
      ConnectAndCall(context, &Stub::CreateUser, *request, About::kUser);
  if (!response.ok()) return response.status();
  if (PrintedForScripts(context, *response)) {
    if (!response->one_time_password().empty()) {
      context.err() << "warning: the one-time password is shown only this once\n";
    }
    return absl::OkStatus();
  }
  context.out() << "user " << response->user().username() << " created\n";
  if (!response->one_time_password().empty()) {
    PrintSecretOnce(context, "one-time password", response->one_time_password(),
                    absl::StrCat("give it to ", response->user().username(),
                                 " safely; it must be changed at the first login"));
  }
  return absl::OkStatus();
}

absl::Status GetUser(CommandContext& context) {
  v1::GetUserRequest request;
  request.set_username(context.args()[0]);
  absl::StatusOr<v1::User> user = ConnectAndCall(context, &Stub::GetUser, request, About::kUser);
  if (!user.ok()) return user.status();
  if (!PrintedForScripts(context, *user)) PrintUserDetails(*user, context.out());
  return absl::OkStatus();
}

absl::Status ListUsers(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  v1::ListUsersRequest request;
  if (flags.Has("page-size")) {
    absl::StatusOr<int64_t> n = ParseIntFlag("page-size", flags.Get("page-size"), 1);
    if (!n.ok()) return WithUsage(n.status(), UsageText(context.command()));
    request.set_page_size(static_cast<int32_t>(std::min<int64_t>(*n, 1000)));
  }
  request.set_page_token(flags.Get("page-token"));
  const bool all = flags.GetBool("all");
  absl::StatusOr<AuthConnection> c = ConnectAuth(context);
  if (!c.ok()) return c.status();
  v1::ListUsersResponse result;
  while (true) {
    absl::StatusOr<v1::ListUsersResponse> page = Call(*c, &Stub::ListUsers, request);
    if (!page.ok()) return page.status();
    for (auto& u : *page->mutable_users()) *result.add_users() = std::move(u);
    result.set_next_page_token(page->next_page_token());
    if (!all || page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (PrintedForScripts(context, result)) return absl::OkStatus();
  if (result.users().empty()) {
    context.err() << "no users found\n";
    return absl::OkStatus();
  }
  Table table({"USERNAME", "DISPLAY NAME", "ROLES", "CLEARANCE", "2FA", "DISABLED", "LAST LOGIN"});
  for (const auto& u : result.users()) {
    table.AddRow({u.username(), u.display_name(), RolesText(u.roles()), ClearanceText(u.clearance()),
                  u.totp_enrolled() ? "totp" : "", u.disabled() ? "yes" : "",
                  u.has_last_login_time() ? FormatTime(u.last_login_time()) : "never"});
  }
  table.Print(context.out());
  if (!result.next_page_token().empty()) {
    context.err() << "more users: add --all for every one, or --page-token "
                  << result.next_page_token() << " for the next page\n";
  }
  return absl::OkStatus();
}

absl::Status DisableUser(CommandContext& context) {
  v1::DisableUserRequest request;
  request.set_username(context.args()[0]);
  absl::StatusOr<v1::User> user =
      ConnectAndCall(context, &Stub::DisableUser, request, About::kUser);
  if (!user.ok()) return user.status();
  ReportUser(context, *user,
             absl::StrCat("user ", user->username(),
                          " disabled (cannot log in; existing sessions end when their tokens do)"));
  return absl::OkStatus();
}

absl::Status EnableUser(CommandContext& context) {
  v1::EnableUserRequest request;
  request.set_username(context.args()[0]);
  absl::StatusOr<v1::User> user = ConnectAndCall(context, &Stub::EnableUser, request, About::kUser);
  if (!user.ok()) return user.status();
  ReportUser(context, *user, absl::StrCat("user ", user->username(), " enabled"));
  return absl::OkStatus();
}

absl::Status SetPassword(CommandContext& context) {
  const bool from_stdin = context.flags().GetBool("password-stdin");
  absl::StatusOr<const Context*> current = context.CurrentContext();
  if (!current.ok()) return current.status();
  absl::StatusOr<TokenSource> source = context.CurrentTokenSource();
  if (!source.ok()) return source.status();
  // Who is signed in, when the cached login is what the call will use.
  std::string me;
  if (*source == TokenSource::kSession && *current != nullptr) me = (*current)->session.username;

  std::string username = context.args().empty() ? "" : context.args()[0];
  absl::StatusOr<AuthConnection> c = ConnectAuth(context);
  if (!c.ok()) return c.status();
  if (username.empty()) {
    if (me.empty()) {
      absl::StatusOr<v1::WhoAmIResponse> whoami = Call(*c, &Stub::WhoAmI, v1::WhoAmIRequest());
      if (!whoami.ok()) return whoami.status();
      me = UsernameOfSubject(whoami->subject());
    }
    username = me;
  }
  const bool self = !me.empty() && username == me;

  v1::SetPasswordRequest request;
  request.set_username(username);
  if (self) {
    absl::StatusOr<std::string> current_password =
        from_stdin ? ReadSecretLine(std::cin, "the current password (first line)")
                   : Prompt("Current password: ", false, "--password-stdin");
    if (!current_password.ok()) return current_password.status();
    request.set_current_password(*current_password);
  }
  absl::StatusOr<std::string> new_password = ReadNewPassword(
      context, self ? "New password" : absl::StrCat("New password for ", username), from_stdin);
  if (!new_password.ok()) return new_password.status();
  request.set_new_password(*new_password);

  absl::StatusOr<v1::SetPasswordResponse> done =
      Call(*c, &Stub::SetPassword, request, About::kUser);
  request.clear_current_password();
  request.clear_new_password();
  if (!done.ok()) return done.status();
  context.out() << "password changed for " << username << "\n";
  if (self && *current != nullptr && (*current)->session.password_change_required) {
    context.err() << "log in again with the new password (smartctl login " << username
                  << ") for a session without the one-time-password restriction\n";
  }
  return absl::OkStatus();
}

absl::Status GrantRole(CommandContext& context) {
  SMARTCTL_RETURN_IF_ERROR(
      WithUsage(CheckRole("ROLE", context.args()[1]), UsageText(context.command())));
  v1::GrantRoleRequest request;
  request.set_username(context.args()[0]);
  request.set_role(context.args()[1]);
  absl::StatusOr<v1::User> user = ConnectAndCall(context, &Stub::GrantRole, request, About::kUser);
  if (!user.ok()) return user.status();
  ReportUser(context, *user,
             absl::StrCat("role ", request.role(), " granted to ", user->username(),
                          " (roles now: ", RolesText(user->roles()), ")"));
  return absl::OkStatus();
}

absl::Status RevokeRole(CommandContext& context) {
  SMARTCTL_RETURN_IF_ERROR(
      WithUsage(CheckRole("ROLE", context.args()[1]), UsageText(context.command())));
  v1::RevokeRoleRequest request;
  request.set_username(context.args()[0]);
  request.set_role(context.args()[1]);
  absl::StatusOr<v1::User> user =
      ConnectAndCall(context, &Stub::RevokeRole, request, About::kUser);
  if (!user.ok()) return user.status();
  ReportUser(context, *user,
             absl::StrCat("role ", request.role(), " revoked from ", user->username(),
                          " (roles now: ",
                          user->roles().empty() ? "(none)" : RolesText(user->roles()), ")"));
  return absl::OkStatus();
}

absl::Status SetClearance(CommandContext& context) {
  absl::StatusOr<Classification> clearance = ParseClearance("CLASS", context.args()[1]);
  if (!clearance.ok()) return WithUsage(clearance.status(), UsageText(context.command()));
  v1::SetClearanceRequest request;
  request.set_username(context.args()[0]);
  request.set_clearance(*clearance);
  absl::StatusOr<v1::User> user =
      ConnectAndCall(context, &Stub::SetClearance, request, About::kUser);
  if (!user.ok()) return user.status();
  ReportUser(context, *user,
             absl::StrCat("clearance of ", user->username(), " is now ",
                          ClearanceText(user->clearance())));
  return absl::OkStatus();
}

// ---- role -----------------------------------------------------------------------------------

absl::Status ListRoles(CommandContext& context) {
  absl::StatusOr<v1::ListRolesResponse> roles =
      ConnectAndCall(context, &Stub::ListRoles, v1::ListRolesRequest());
  if (!roles.ok()) return roles.status();
  if (PrintedForScripts(context, *roles)) return absl::OkStatus();
  Table table({"ROLE", "SCOPE", "DESCRIPTION"});
  for (const auto& r : roles->roles()) {
    table.AddRow({r.name(), r.scope_kind().empty() ? "-" : r.scope_kind(), r.description()});
  }
  table.Print(context.out());
  return absl::OkStatus();
}

// ---- totp -----------------------------------------------------------------------------------

absl::Status ConfirmTotpWith(CommandContext& context, AuthConnection& c,
                             const std::string& username, const std::string& code) {
  v1::ConfirmTotpRequest request;
  request.set_username(username);
  request.set_code(code);
  absl::StatusOr<v1::User> user = Call(c, &Stub::ConfirmTotp, request, About::kUser);
  if (!user.ok()) {
    absl::Status error = user.status();
    if (error.code() == absl::StatusCode::kUnauthenticated ||
        error.code() == absl::StatusCode::kInvalidArgument) {
      error = WithHint(error,
                       "the code was not accepted: check the phone's clock, wait for the next "
                       "code and run smartctl totp confirm CODE");
    }
    return error;
  }
  const std::string who = user->username().empty() ? username : user->username();
  if (!PrintedForScripts(context, *user)) {
    context.out() << "two-factor sign-in is on" << (who.empty() ? "" : " for " + who)
                  << "; smartctl login will ask for a code from now on\n";
  }
  return absl::OkStatus();
}

absl::Status EnrollTotp(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  if (flags.Has("code")) {
    SMARTCTL_RETURN_IF_ERROR(
        WithUsage(CheckTotpCode("--code", flags.Get("code")), UsageText(context.command())));
  }
  if (flags.Has("code") && flags.GetBool("no-confirm")) {
    return context.Usage("--code and --no-confirm exclude each other");
  }
  v1::EnrollTotpRequest request;
  if (!context.args().empty()) request.set_username(context.args()[0]);
  absl::StatusOr<AuthConnection> c = ConnectAuth(context);
  if (!c.ok()) return c.status();
  absl::StatusOr<v1::EnrollTotpResponse> enrolled =
      Call(*c, &Stub::EnrollTotp, request, About::kUser);
  if (!enrolled.ok()) return enrolled.status();
  if (context.output() != OutputFormat::kTable) {
    PrintMessage(*enrolled, context.output(), context.out());
  } else {
    context.out() << "Add this account to an authenticator app: scan the URI as a QR code, or "
                     "type the secret.\n"
                  << "secret: " << enrolled->secret_base32() << "\n"
                  << "uri:    " << enrolled->otpauth_uri() << "\n";
  }
  context.err() << "warning: the secret is shown only this once; keep it out of shared places\n";
  if (flags.GetBool("no-confirm")) {
    context.err() << "not active yet: confirm with smartctl totp confirm CODE"
                  << (request.username().empty() ? "" : " " + request.username()) << "\n";
    return absl::OkStatus();
  }
  std::string code = flags.Get("code");
  if (code.empty()) {
    absl::StatusOr<std::string> typed =
        Prompt("Code from the app, to confirm: ", true,
               "--no-confirm, then smartctl totp confirm CODE");
    if (!typed.ok()) return typed.status();
    code = std::string(absl::StripAsciiWhitespace(*typed));
    SMARTCTL_RETURN_IF_ERROR(CheckTotpCode("code", code));
  }
  return ConfirmTotpWith(context, *c, request.username(), code);
}

absl::Status ConfirmTotp(CommandContext& context) {
  const std::string& code = context.args()[0];
  SMARTCTL_RETURN_IF_ERROR(WithUsage(CheckTotpCode("CODE", code), UsageText(context.command())));
  absl::StatusOr<AuthConnection> c = ConnectAuth(context);
  if (!c.ok()) return c.status();
  return ConfirmTotpWith(context, *c, context.args().size() > 1 ? context.args()[1] : "", code);
}

absl::Status DisableTotp(CommandContext& context) {
  v1::DisableTotpRequest request;
  if (!context.args().empty()) request.set_username(context.args()[0]);
  absl::StatusOr<v1::User> user =
      ConnectAndCall(context, &Stub::DisableTotp, request, About::kUser);
  if (!user.ok()) return user.status();
  const std::string who = user->username().empty() ? request.username() : user->username();
  ReportUser(context, *user,
             absl::StrCat("two-factor sign-in is off", who.empty() ? "" : " for " + who));
  return absl::OkStatus();
}

// ---- serviceaccount -------------------------------------------------------------------------

absl::Status CreateServiceAccount(CommandContext& context) {
  absl::StatusOr<v1::CreateServiceAccountRequest> request =
      CreateServiceAccountRequestFrom(context.flags(), context.args()[0]);
  if (!request.ok()) return WithUsage(request.status(), UsageText(context.command()));
  absl::StatusOr<v1::CreateServiceAccountResponse> response =
      ConnectAndCall(context, &Stub::CreateServiceAccount, *request, About::kServiceAccount);
  if (!response.ok()) return response.status();
  if (PrintedForScripts(context, *response)) {
    context.err() << "warning: the client secret is shown only this once\n";
    return absl::OkStatus();
  }
  context.out() << "service account " << response->service_account().name() << " created\n";
  PrintSecretOnce(context, "client secret", response->client_secret(),
                  absl::StrCat("a lost secret is replaced with smartctl serviceaccount "
                               "rotate-secret ",
                               response->service_account().name()));
  return absl::OkStatus();
}

absl::Status ListServiceAccounts(CommandContext& context) {
  absl::StatusOr<v1::ListServiceAccountsResponse> accounts =
      ConnectAndCall(context, &Stub::ListServiceAccounts, v1::ListServiceAccountsRequest());
  if (!accounts.ok()) return accounts.status();
  if (PrintedForScripts(context, *accounts)) return absl::OkStatus();
  if (accounts->service_accounts().empty()) {
    context.err() << "no service accounts\n";
    return absl::OkStatus();
  }
  Table table({"NAME", "DESCRIPTION", "ROLES", "CLEARANCE", "CREATED", "SECRET ROTATED"});
  for (const auto& a : accounts->service_accounts()) {
    table.AddRow({a.name(), a.description(), RolesText(a.roles()), ClearanceText(a.clearance()),
                  FormatTime(a.create_time()), FormatTime(a.secret_rotate_time())});
  }
  table.Print(context.out());
  return absl::OkStatus();
}

absl::Status RotateServiceAccountSecret(CommandContext& context) {
  v1::RotateServiceAccountSecretRequest request;
  request.set_name(context.args()[0]);
  absl::StatusOr<v1::RotateServiceAccountSecretResponse> response = ConnectAndCall(
      context, &Stub::RotateServiceAccountSecret, request, About::kServiceAccount);
  if (!response.ok()) return response.status();
  if (PrintedForScripts(context, *response)) {
    context.err() << "warning: the client secret is shown only this once\n";
    return absl::OkStatus();
  }
  context.out() << "new secret for service account " << request.name()
                << "; the previous one no longer works\n";
  PrintSecretOnce(context, "client secret", response->client_secret(), "");
  return absl::OkStatus();
}

absl::Status DeleteServiceAccount(CommandContext& context) {
  v1::DeleteServiceAccountRequest request;
  request.set_name(context.args()[0]);
  absl::StatusOr<v1::DeleteServiceAccountResponse> response =
      ConnectAndCall(context, &Stub::DeleteServiceAccount, request, About::kServiceAccount);
  if (!response.ok()) return response.status();
  if (!PrintedForScripts(context, *response)) {
    context.out() << "service account " << request.name() << " deleted\n";
  }
  return absl::OkStatus();
}

// ---- token ----------------------------------------------------------------------------------

absl::Status IssueToken(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  if (!flags.Has("serviceaccount") || flags.Get("serviceaccount").empty()) {
    return context.Usage("missing --serviceaccount NAME");
  }
  std::string secret;
  if (flags.GetBool("secret-stdin")) {
    absl::StatusOr<std::string> line = ReadSecretLine(std::cin, "the client secret");
    if (!line.ok()) return line.status();
    secret = *line;
  } else if (const char* env = std::getenv("SMARTCTL_CLIENT_SECRET"); env != nullptr && *env) {
    secret = env;
  } else {
    return context.Usage(
        "give the client secret on standard input with --secret-stdin, or in the environment "
        "variable SMARTCTL_CLIENT_SECRET");
  }
  v1::IssueServiceTokenRequest request;
  request.set_client_id(flags.Get("serviceaccount"));
  request.set_client_secret(secret);
  absl::StatusOr<AuthConnection> c = ConnectAuth(context);
  if (!c.ok()) return c.status();
  absl::StatusOr<v1::TokenResponse> token =
      Call(*c, &Stub::IssueServiceToken, request, About::kServiceAccount,
           CallOptions{.anonymous = true});
  request.clear_client_secret();
  if (!token.ok()) {
    absl::Status error = token.status();
    if (error.code() == absl::StatusCode::kUnauthenticated) {
      error = WithHint(error, "check the service account's name and secret");
    }
    return error;
  }
  if (PrintedForScripts(context, *token)) return absl::OkStatus();
  context.out() << token->access_token() << "\n";
  return absl::OkStatus();
}

// ---- idp ------------------------------------------------------------------------------------

absl::Status ListIdentityProviders(CommandContext& context) {
  absl::StatusOr<v1::ListIdentityProvidersResponse> idps =
      ConnectAndCall(context, &Stub::ListIdentityProviders, v1::ListIdentityProvidersRequest());
  if (!idps.ok()) return idps.status();
  if (PrintedForScripts(context, *idps)) return absl::OkStatus();
  if (idps->identity_providers().empty()) {
    context.err() << "no identity providers configured\n";
    return absl::OkStatus();
  }
  Table table({"NAME", "ISSUER", "AUDIENCES", "SUBJECT CLAIM", "KEYS FROM"});
  for (const auto& p : idps->identity_providers()) {
    table.AddRow({p.name(), p.issuer(), absl::StrJoin(p.audiences(), ", "), p.subject_claim(),
                  p.jwks_source()});
  }
  table.Print(context.out());
  return absl::OkStatus();
}

std::vector<FlagSpec> PrincipalFlags() {
  return {
      {"role", 0, true, true, "ROLE[:SCOPE]", "a role to grant, e.g. dataset-owner:stavanger"},
      {"clearance", 0, true, false, "CLASS",
       "the highest class it may read: open, internal, protected or strictly-protected"},
  };
}

FlagSpec PasswordStdinFlag(const std::string& help) {
  return {"password-stdin", 0, false, false, "", help};
}

}  // namespace

void AddAuthCommands(Registry& registry) {
  registry.nouns.push_back({"login", "sign in; the session is cached for the current context"});
  registry.nouns.push_back({"logout", "end the session of the current context"});
  registry.nouns.push_back({"whoami", "who the services see you as: roles, clearance, 2FA"});
  registry.nouns.push_back({"user", "local users: create, list, disable, passwords, roles"});
  registry.nouns.push_back({"role", "the roles there are to grant"});
  registry.nouns.push_back({"totp", "two-factor sign-in with an authenticator app"});
  registry.nouns.push_back({"serviceaccount", "accounts for programs, with client secrets"});
  registry.nouns.push_back({"token", "access tokens for scripts (service accounts)"});
  registry.nouns.push_back({"idp", "the external identity providers the platform trusts"});

  registry.commands.push_back(Command{
      "login", "", "[USERNAME]", 0, 1, "sign in and cache the session",
      "Asks for the password (without showing it) and, when the account has two-factor\n"
      "sign-in, for the code from the authenticator app. The access and refresh tokens are\n"
      "cached in the config file (mode 0600) under the current context (or --context; a\n"
      "context named \"default\" is made when there is none), and renewed automatically\n"
      "before they expire. Every command then calls the services as you. A one-time password\n"
      "must be changed first: smartctl user set-password.\n\n"
      "For scripts, --password-stdin reads the password from the first line of standard input\n"
      "(and --totp-code gives the code). Never put a password on the command line.\n\n"
      "Examples:\n"
      "  smartctl login kari\n"
      "  smartctl --context prod login kari --totp-code 123456\n"
      "  smartctl login admin --password-stdin < /run/secrets/admin-password",
      {PasswordStdinFlag("read the password from the first line of standard input"),
       {"totp-code", 0, true, false, "CODE", "the code from the authenticator app"}},
      Login});
  registry.commands.push_back(Command{
      "logout", "", "", 0, 0, "end the session and forget its tokens",
      "Asks the auth service to revoke the cached session, then removes the tokens from the\n"
      "config file, even when the service cannot be reached (the error is then reported).\n\n"
      "Examples:\n  smartctl logout\n  smartctl --context prod logout",
      {}, Logout});
  registry.commands.push_back(Command{
      "whoami", "", "", 0, 0, "show who the services see you as",
      "Asks the auth service about the token smartctl sends (--token, SMARTCTL_TOKEN or the\n"
      "cached login): subject, roles, clearance, whether two-factor was used, expiry.\n\n"
      "Examples:\n  smartctl whoami\n  smartctl whoami -o json",
      {}, WhoAmI});

  std::vector<FlagSpec> create_user_flags = PrincipalFlags();
  create_user_flags.insert(create_user_flags.begin(),
                           {"display-name", 0, true, false, "NAME", "the person's name"});
  create_user_flags.push_back(PasswordStdinFlag(
      "set this password (first line of standard input) instead of a generated one"));
  registry.commands.push_back(Command{
      "user", "create", "USERNAME", 1, 1, "create a local user (platform-admin)",
      "Creates a user with a generated one-time password, printed once: hand it over safely;\n"
      "it must be changed at the first login. USERNAME is 1-64 of a-z, 0-9, '.', '-', '_'.\n\n"
      "Examples:\n"
      "  smartctl user create kari --display-name \"Kari Nordmann\" \\\n"
      "      --role dataset-owner:stavanger --clearance internal\n"
      "  smartctl user create ola --role reader -o json",
      create_user_flags, CreateUser});
  registry.commands.push_back(Command{
      "user", "list", "", 0, 0, "list the users",
      "Examples:\n  smartctl user list\n  smartctl user list --all -o json",
      {{"page-size", 0, true, false, "N", "how many per page (at most 1000)"},
       {"page-token", 0, true, false, "TOKEN", "continue from where an earlier page ended"},
       {"all", 0, false, false, "", "fetch every page, not just the first"}},
      ListUsers});
  registry.commands.push_back(Command{"user",
                                      "get",
                                      "USERNAME",
                                      1,
                                      1,
                                      "show one user",
                                      "Examples:\n  smartctl user get kari\n"
                                      "  smartctl user get kari -o yaml",
                                      {},
                                      GetUser});
  registry.commands.push_back(Command{
      "user", "disable", "USERNAME", 1, 1, "stop a user from logging in",
      "The user can no longer log in or renew a session; tokens already issued stop working\n"
      "when they expire. smartctl user enable undoes it.\n\n"
      "Examples:\n  smartctl user disable ola",
      {}, DisableUser});
  registry.commands.push_back(Command{"user",
                                      "enable",
                                      "USERNAME",
                                      1,
                                      1,
                                      "let a disabled user log in again",
                                      "Examples:\n  smartctl user enable ola",
                                      {},
                                      EnableUser});
  registry.commands.push_back(Command{
      "user", "set-password", "[USERNAME]", 0, 1, "change your password, or set another's",
      "Without USERNAME (or with your own), changes your password: asks for the current one\n"
      "and the new one twice. With another USERNAME (platform-admin), sets that user's\n"
      "password: asks for the new one twice.\n\n"
      "With --password-stdin, standard input holds the passwords, one per line: for your own,\n"
      "the current password then the new one; for another user's, only the new one.\n\n"
      "Examples:\n"
      "  smartctl user set-password\n"
      "  smartctl user set-password ola\n"
      "  printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | smartctl user set-password --password-stdin",
      {PasswordStdinFlag("read the passwords from standard input, one per line")}, SetPassword});
  registry.commands.push_back(Command{
      "user", "grant", "USERNAME ROLE", 2, 2, "grant a role",
      "ROLE is a role name, or ROLE:SCOPE for roles that take a scope (an organisation or a\n"
      "dataset; see smartctl role list).\n\n"
      "Examples:\n  smartctl user grant kari dataset-owner:stavanger\n"
      "  smartctl user grant ola reader",
      {}, GrantRole});
  registry.commands.push_back(Command{"user",
                                      "revoke",
                                      "USERNAME ROLE",
                                      2,
                                      2,
                                      "revoke a role",
                                      "Examples:\n  smartctl user revoke kari dataset-owner:stavanger",
                                      {},
                                      RevokeRole});
  registry.commands.push_back(Command{
      "user", "set-clearance", "USERNAME CLASS", 2, 2, "set the highest class a user may read",
      "CLASS is open, internal, protected or strictly-protected (Norwegian names work too).\n"
      "Protected data also needs two-factor sign-in.\n\n"
      "Examples:\n  smartctl user set-clearance kari protected",
      {}, SetClearance});

  registry.commands.push_back(Command{"role",
                                      "list",
                                      "",
                                      0,
                                      0,
                                      "list the roles and what they allow",
                                      "Examples:\n  smartctl role list",
                                      {},
                                      ListRoles});

  registry.commands.push_back(Command{
      "totp", "enroll", "[USERNAME]", 0, 1, "turn on two-factor sign-in",
      "Prints a secret and an otpauth:// URI for an authenticator app, then asks for a code\n"
      "from the app (or takes --code) to confirm; only then is two-factor sign-in on. Without\n"
      "USERNAME it is for you. --no-confirm stops after printing; confirm later with\n"
      "smartctl totp confirm CODE.\n\n"
      "Examples:\n"
      "  smartctl totp enroll\n"
      "  smartctl totp enroll --no-confirm -o json     # for scripts",
      {{"code", 0, true, false, "CODE", "the code from the app, instead of asking"},
       {"no-confirm", 0, false, false, "", "print the secret only; confirm later"}},
      EnrollTotp});
  registry.commands.push_back(Command{
      "totp", "confirm", "CODE [USERNAME]", 1, 2, "confirm an enrolment with a code from the app",
      "Examples:\n  smartctl totp confirm 123456", {}, ConfirmTotp});
  registry.commands.push_back(Command{
      "totp", "disable", "[USERNAME]", 0, 1, "turn off two-factor sign-in",
      "Without USERNAME it is for you. Protected data needs two-factor sign-in.\n\n"
      "Examples:\n  smartctl totp disable\n  smartctl totp disable ola",
      {}, DisableTotp});

  std::vector<FlagSpec> sa_flags = PrincipalFlags();
  sa_flags.insert(sa_flags.begin(),
                  {"description", 0, true, false, "TEXT", "what the account is used for"});
  registry.commands.push_back(Command{
      "serviceaccount", "create", "NAME", 1, 1, "create a service account (platform-admin)",
      "Prints the client secret once: store it where the program will read it. The program\n"
      "gets tokens with its name and secret (smartctl token issue, or the services' own\n"
      "client-credentials support); the token subject is service:NAME.\n\n"
      "Examples:\n"
      "  smartctl serviceaccount create sensor-gateway --description \"LoRa gateway\" \\\n"
      "      --role ingest-writer:stavanger --clearance internal",
      sa_flags, CreateServiceAccount});
  registry.commands.push_back(Command{"serviceaccount",
                                      "list",
                                      "",
                                      0,
                                      0,
                                      "list the service accounts",
                                      "Examples:\n  smartctl serviceaccount list",
                                      {},
                                      ListServiceAccounts});
  registry.commands.push_back(Command{
      "serviceaccount", "rotate-secret", "NAME", 1, 1, "replace a service account's secret",
      "Prints the new secret once; the previous one stops working at once.\n\n"
      "Examples:\n  smartctl serviceaccount rotate-secret sensor-gateway",
      {}, RotateServiceAccountSecret});
  registry.commands.push_back(Command{"serviceaccount",
                                      "delete",
                                      "NAME",
                                      1,
                                      1,
                                      "delete a service account",
                                      "Examples:\n  smartctl serviceaccount delete sensor-gateway",
                                      {},
                                      DeleteServiceAccount});

  registry.commands.push_back(Command{
      "token", "issue", "", 0, 0, "get an access token for a service account (for scripts)",
      "Exchanges a service account's name and client secret for an access token and prints\n"
      "the token alone (-o json: the whole response). The secret is read from standard input\n"
      "with --secret-stdin, else from SMARTCTL_CLIENT_SECRET; never from the command line.\n\n"
      "Examples:\n"
      "  export SMARTCTL_TOKEN=$(smartctl token issue --serviceaccount sensor-gateway \\\n"
      "      --secret-stdin < /run/secrets/sensor-gateway)\n"
      "  SMARTCTL_CLIENT_SECRET=... smartctl token issue --serviceaccount sensor-gateway",
      {{"serviceaccount", 0, true, false, "NAME", "the service account (its client id)"},
       {"secret-stdin", 0, false, false, "",
        "read the client secret from the first line of standard input"}},
      IssueToken});

  registry.commands.push_back(Command{"idp",
                                      "list",
                                      "",
                                      0,
                                      0,
                                      "list the configured identity providers",
                                      "Examples:\n  smartctl idp list\n  smartctl idp list -o yaml",
                                      {},
                                      ListIdentityProviders});
}

}  // namespace smartby::smartctl
