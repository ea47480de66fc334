// Helpers of the auth commands (`login`, `logout`, `whoami`, `user`, `role`, `totp`,
// `serviceaccount`, `token`, `idp`) that are worth testing on their own. The commands themselves
// are registered by AddAuthCommands (commands.h); they call smartcity.auth.v1.AuthService.
#ifndef SMARTBY_CLI_SMARTCTL_AUTH_COMMANDS_H_
#define SMARTBY_CLI_SMARTCTL_AUTH_COMMANDS_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/smartctl/args.h"
#include "smartcity/auth/v1/auth.pb.h"

namespace smartby::smartctl {

// The trailing metadata key and value by which Login asks for the second factor.
inline constexpr char kSecondFactorKey[] = "smartby-second-factor";
inline constexpr char kSecondFactorTotp[] = "totp";

// True when a failed Login asks for a TOTP code: UNAUTHENTICATED with trailing metadata
// "smartby-second-factor: totp".
bool AsksForTotp(const absl::Status& status,
                 const std::multimap<std::string, std::string>& trailing_metadata);

// OK when `code` is 6-8 ASCII digits; usage error naming `flag` otherwise.
absl::Status CheckTotpCode(const std::string& flag, const std::string& code);

// --clearance open|internal|protected|strictly-protected (Norwegian names work too).
absl::StatusOr<smartcity::common::v1::Classification> ParseClearance(const std::string& flag,
                                                                     const std::string& text);

// `user create USERNAME [--display-name N] [--role R]... [--clearance C]` as a request (without
// a password: the service generates a one-time one). Usage errors name the flag.
absl::StatusOr<smartcity::auth::v1::CreateUserRequest> CreateUserRequestFrom(
    const ParsedFlags& flags, const std::string& username);

// `serviceaccount create NAME [--description D] [--role R]... [--clearance C]` as a request.
absl::StatusOr<smartcity::auth::v1::CreateServiceAccountRequest> CreateServiceAccountRequestFrom(
    const ParsedFlags& flags, const std::string& name);

// The username in a token subject: "user:kari" -> "kari", "kari" -> "kari".
std::string UsernameOfSubject(const std::string& subject);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_AUTH_COMMANDS_H_
