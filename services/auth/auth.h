// The auth service's domain: sign-in, tokens, users, TOTP, service accounts and the Authorize
// decision. No gRPC types here (protobuf messages are the service's vocabulary); the service
// layer (auth_service.h) only translates calls and statuses.
//
// Security decisions, in one place:
//   - Sign-in answers UNAUTHENTICATED with one message for an unknown user, a wrong password and
//     a wrong code, and an unknown user costs the same argon2id verification as a known one (a
//     dummy hash), so neither the answer nor its timing tells whether an account exists.
//   - Failed sign-ins are counted per account and per source address in the database (shared by
//     replicas). Reaching the limit within the window locks that key for the lockout duration:
//     further attempts get RESOURCE_EXHAUSTED saying when to retry, without any password check.
//     Unknown usernames are counted and locked like real ones (no enumeration through lockout).
//   - A user with a one-time password gets an access token without roles or clearance and no
//     refresh token: it is good for SetPassword (and WhoAmI) only.
//   - Refresh tokens are 256-bit random strings stored as SHA-256 hashes. Each use rotates the
//     token within its family; a second use of a rotated token revokes the whole family. A family
//     expires refresh_token_ttl after the sign-in that started it (no sliding renewal).
//   - Client secrets of service accounts are 256-bit random strings stored as SHA-256 hashes.
//     A slow password hash adds nothing for secrets with that much entropy (nobody can search
//     2^256), and SHA-256 keeps client-credentials issuance cheap (no DB write, ~50 µs).
//   - Secrets (passwords, refresh tokens, client secrets, TOTP secrets) are never logged.
//
// Thread safety: thread-safe; blocking (database, argon2id): call from the worker pool.
#ifndef SMARTBY_SERVICES_AUTH_AUTH_H_
#define SMARTBY_SERVICES_AUTH_AUTH_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/auth/auth_store.h"
#include "services/auth/federation.h"
#include "services/auth/password.h"
#include "services/auth/signing_keys.h"
#include "services/runtime/auth/policy.h"
#include "services/runtime/auth/principal.h"
#include "services/runtime/auth/token_verifier.h"
#include "services/runtime/clock.h"
#include "smartcity/auth/v1/auth.pb.h"

namespace smartby::auth {

namespace v1 = ::smartcity::auth::v1;

// An UNAUTHENTICATED status from Login carries this payload ("totp") when only the second factor
// is missing; the service turns it into trailing metadata "smartby-second-factor: totp".
inline constexpr char kSecondFactorPayload[] = "smartby-second-factor";

struct AuthOptions {
  std::string issuer = "smartby";    // "iss" of every token
  std::string audience = "smartby";  // "aud"
  absl::Duration access_token_ttl = absl::Minutes(10);
  absl::Duration refresh_token_ttl = absl::Hours(12);
  // Failed sign-ins within failure_window before the account / the source is locked.
  int account_max_failures = 5;
  int source_max_failures = 20;
  absl::Duration failure_window = absl::Minutes(15);
  absl::Duration lockout = absl::Minutes(15);
  std::string totp_issuer = "Smartby";  // shown in authenticator apps
};

// OK, or INVALID_ARGUMENT naming the field: 1-64 of a-z, 0-9, '.', '-', '_'.
absl::Status ValidateAccountName(absl::string_view name, absl::string_view field);

// "read" -> Action::kRead, ... (policy.h ActionName); INVALID_ARGUMENT naming "action" otherwise.
absl::StatusOr<Action> ParseActionName(absl::string_view name);

// The Authorize RPC: verifies `request.access_token` (if any) with `verifier` and applies
// policy.h's Decide. An invalid token is a refusal (allowed=false, UNAUTHENTICATED), not an
// error; INVALID_ARGUMENT only for a malformed request (unknown action, oversized fields).
absl::StatusOr<v1::AuthorizeResponse> AuthorizeRequest(const TokenVerifier& verifier,
                                                       const v1::AuthorizeRequest& request);

// "10.0.0.7" from gRPC's peer string "ipv4:10.0.0.7:53122" ("::1" from "ipv6:[::1]:53122").
std::string SourceAddressOfPeer(absl::string_view peer);

class Authority {
 public:
  // Everything must outlive the Authority. `federation` may be Federation::None(). `metrics` may
  // be nullptr (no metrics).
  static absl::StatusOr<std::unique_ptr<Authority>> Create(
      AuthStore* store, SigningKeyManager* keys, PasswordHasher* hasher,
      const Federation* federation, const Clock* clock, AuthOptions options,
      prometheus::Registry* metrics);

  // ---- tokens ----
  // `source` is the caller's address (per-source throttling).
  absl::StatusOr<v1::TokenResponse> Login(const v1::LoginRequest& request,
                                          const std::string& source);
  absl::StatusOr<v1::TokenResponse> Refresh(const v1::RefreshRequest& request);
  absl::Status Logout(const v1::LogoutRequest& request);
  absl::StatusOr<v1::TokenResponse> IssueServiceToken(const v1::IssueServiceTokenRequest& request);
  absl::StatusOr<v1::TokenResponse> ExchangeToken(const v1::ExchangeTokenRequest& request);
  // A token for this auth service's own calls to other services (its audit shipper), minted
  // in-process: subject "service:<name>", client_id <name>, `roles`. The auth service cannot
  // exchange client credentials with itself over the network at start-up.
  absl::StatusOr<v1::TokenResponse> IssueOwnServiceToken(const std::string& name,
                                                         std::vector<std::string> roles);
  absl::StatusOr<std::string> Jwks() const { return keys_->JwksJson(); }
  absl::StatusOr<std::string> RotateSigningKey() { return keys_->Rotate(); }
  std::vector<v1::IdentityProvider> IdentityProviders() const { return federation_->Providers(); }

  // ---- users (the caller is platform-admin: the runtime checked) ----
  absl::StatusOr<v1::CreateUserResponse> CreateUser(const v1::CreateUserRequest& request);
  absl::StatusOr<v1::User> GetUser(const std::string& username);
  absl::StatusOr<v1::ListUsersResponse> ListUsers(const v1::ListUsersRequest& request);
  // Disabling also revokes the user's refresh tokens.
  absl::StatusOr<v1::User> SetDisabled(const std::string& username, bool disabled);
  absl::StatusOr<v1::User> GrantRole(const std::string& username, const std::string& role);
  absl::StatusOr<v1::User> RevokeRole(const std::string& username, const std::string& role);
  absl::StatusOr<v1::User> SetClearance(const std::string& username,
                                        smartcity::common::v1::Classification clearance);
  static v1::ListRolesResponse ListRoles();

  // ---- self-service: the user themself, or a platform-admin for anyone ----
  // Own password: current_password required. Another's (platform-admin): no current password,
  // and the user must change it at next sign-in. Revokes the user's refresh tokens.
  absl::Status SetPassword(const Principal& caller, const v1::SetPasswordRequest& request);
  absl::StatusOr<v1::EnrollTotpResponse> EnrollTotp(const Principal& caller,
                                                    const v1::EnrollTotpRequest& request);
  absl::StatusOr<v1::User> ConfirmTotp(const Principal& caller,
                                       const v1::ConfirmTotpRequest& request);
  // For oneself only with a token that carries the second factor.
  absl::StatusOr<v1::User> DisableTotp(const Principal& caller,
                                       const v1::DisableTotpRequest& request);

  // ---- service accounts (platform-admin) ----
  absl::StatusOr<v1::CreateServiceAccountResponse> CreateServiceAccount(
      const v1::CreateServiceAccountRequest& request);
  absl::StatusOr<v1::ListServiceAccountsResponse> ListServiceAccounts();
  absl::StatusOr<v1::RotateServiceAccountSecretResponse> RotateServiceAccountSecret(
      const std::string& name);
  absl::Status DeleteServiceAccount(const std::string& name);

  // ---- start-up ----
  struct BootstrapResult {
    bool created = false;
    std::string one_time_password;  // when generated
  };
  // When no user exists at all: creates `username` as platform-admin with clearance
  // strictly-protected, with `password` (must meet the policy) or, when empty, a generated
  // one-time password. With `totp_secret_base32` (a break-glass account whose second factor
  // comes from a Secret, as the password does), the TOTP enrolment is active from the start.
  // Nothing when any user exists.
  absl::StatusOr<BootstrapResult> Bootstrap(const std::string& username,
                                            const std::string& password,
                                            const std::string& totp_secret_base32 = "");

  // Removes refresh tokens that expired a day ago or more (housekeeping).
  absl::Status PurgeExpired();

 private:
  struct Metrics;
  struct Claims {
    std::string subject;
    std::vector<std::string> roles;
    smartcity::common::v1::Classification clearance =
        smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
    bool two_factor = false;
    std::string acr;
    std::string client_id;
  };

  Authority(AuthStore* store, SigningKeyManager* keys, PasswordHasher* hasher,
            const Federation* federation, const Clock* clock, AuthOptions options,
            prometheus::Registry* metrics);

  absl::StatusOr<v1::TokenResponse> Mint(const Claims& claims, absl::string_view kind);
  absl::StatusOr<std::string> NewRefreshToken(const std::string& family_id,
                                              const std::string& username,
                                              const Claims& claims, absl::Time expire_time);
  absl::Status CheckNotLocked(const std::string& key, absl::Time now);
  void RecordFailure(const std::string& key, int max_failures, absl::Time now);
  // The username the caller may act on: the request's, or the caller's own when empty.
  // PERMISSION_DENIED unless it is the caller's own or the caller is platform-admin.
  absl::StatusOr<std::string> SelfOrAdmin(const Principal& caller, const std::string& username,
                                          bool* is_self);
  // Reads `username`, lets `change` edit the record (it returns false to leave it as it is, or an
  // error to stop), and writes it back over the version read; when someone else wrote the user
  // meanwhile, reads it again and redoes the change, so concurrent changes all take effect.
  // Writes `user` over the version it was read at: ABORTED when someone else changed it since
  // (for changes that must not be redone on a newer copy, such as one checked against a password).
  absl::StatusOr<v1::User> UpdateAndReturn(UserRecord user);
  absl::StatusOr<v1::User> ChangeUser(const std::string& username,
                                      const std::function<absl::StatusOr<bool>(UserRecord&)>& change);

  AuthStore* const store_;
  SigningKeyManager* const keys_;
  PasswordHasher* const hasher_;
  const Federation* const federation_;
  const Clock* const clock_;
  const AuthOptions options_;
  std::string dummy_password_hash_;
  std::shared_ptr<Metrics> metrics_;
};

}  // namespace smartby::auth

#endif  // SMARTBY_SERVICES_AUTH_AUTH_H_
