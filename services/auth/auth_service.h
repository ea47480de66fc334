// gRPC handlers of smartcity.auth.v1.AuthService: each translates a request into one call of the
// domain (auth.h) and runs it through the runtime's CallRunner, which verifies the caller's token,
// applies the per-method policy below and maps the status. Nothing else lives here.
#ifndef SMARTBY_SERVICES_AUTH_AUTH_SERVICE_H_
#define SMARTBY_SERVICES_AUTH_AUTH_SERVICE_H_

#include <functional>
#include <memory>

#include "services/auth/auth.h"
#include "services/runtime/auth/token_verifier.h"
#include "services/runtime/call.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"

namespace smartby::auth {

// Sign-in, keys and Authorize are public; user, service-account and key administration need
// platform-admin (kAdminister); self-service methods need a token and the handler checks "the
// user themself or a platform-admin".
const ServicePolicy& AuthServicePolicy();

class AuthService final : public v1::AuthService::CallbackService {
 public:
  // `authority` must outlive the service; `calls` comes from ServerRuntime::NewCallRunner with
  // AuthServicePolicy(); `verifier` is the runtime's (for Authorize); `keys_changed` is called
  // after a rotation so the runtime's key cache sees the new key at once.
  AuthService(Authority* authority, CallRunner calls,
              std::shared_ptr<const TokenVerifier> verifier, std::function<void()> keys_changed);

  CallRunner& calls() { return calls_; }

  using Ctx = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  Reactor* Login(Ctx*, const v1::LoginRequest*, v1::TokenResponse*) override;
  Reactor* Refresh(Ctx*, const v1::RefreshRequest*, v1::TokenResponse*) override;
  Reactor* Logout(Ctx*, const v1::LogoutRequest*, v1::LogoutResponse*) override;
  Reactor* IssueServiceToken(Ctx*, const v1::IssueServiceTokenRequest*,
                             v1::TokenResponse*) override;
  Reactor* ExchangeToken(Ctx*, const v1::ExchangeTokenRequest*, v1::TokenResponse*) override;
  Reactor* GetJwks(Ctx*, const v1::GetJwksRequest*, v1::GetJwksResponse*) override;
  Reactor* Authorize(Ctx*, const v1::AuthorizeRequest*, v1::AuthorizeResponse*) override;
  Reactor* WhoAmI(Ctx*, const v1::WhoAmIRequest*, v1::WhoAmIResponse*) override;
  Reactor* CreateUser(Ctx*, const v1::CreateUserRequest*, v1::CreateUserResponse*) override;
  Reactor* GetUser(Ctx*, const v1::GetUserRequest*, v1::User*) override;
  Reactor* ListUsers(Ctx*, const v1::ListUsersRequest*, v1::ListUsersResponse*) override;
  Reactor* DisableUser(Ctx*, const v1::DisableUserRequest*, v1::User*) override;
  Reactor* EnableUser(Ctx*, const v1::EnableUserRequest*, v1::User*) override;
  Reactor* SetPassword(Ctx*, const v1::SetPasswordRequest*, v1::SetPasswordResponse*) override;
  Reactor* GrantRole(Ctx*, const v1::GrantRoleRequest*, v1::User*) override;
  Reactor* RevokeRole(Ctx*, const v1::RevokeRoleRequest*, v1::User*) override;
  Reactor* SetClearance(Ctx*, const v1::SetClearanceRequest*, v1::User*) override;
  Reactor* ListRoles(Ctx*, const v1::ListRolesRequest*, v1::ListRolesResponse*) override;
  Reactor* EnrollTotp(Ctx*, const v1::EnrollTotpRequest*, v1::EnrollTotpResponse*) override;
  Reactor* ConfirmTotp(Ctx*, const v1::ConfirmTotpRequest*, v1::User*) override;
  Reactor* DisableTotp(Ctx*, const v1::DisableTotpRequest*, v1::User*) override;
  Reactor* CreateServiceAccount(Ctx*, const v1::CreateServiceAccountRequest*,
                                v1::CreateServiceAccountResponse*) override;
  Reactor* ListServiceAccounts(Ctx*, const v1::ListServiceAccountsRequest*,
                               v1::ListServiceAccountsResponse*) override;
  Reactor* RotateServiceAccountSecret(Ctx*, const v1::RotateServiceAccountSecretRequest*,
                                      v1::RotateServiceAccountSecretResponse*) override;
  Reactor* DeleteServiceAccount(Ctx*, const v1::DeleteServiceAccountRequest*,
                                v1::DeleteServiceAccountResponse*) override;
  Reactor* ListIdentityProviders(Ctx*, const v1::ListIdentityProvidersRequest*,
                                 v1::ListIdentityProvidersResponse*) override;
  Reactor* RotateSigningKey(Ctx*, const v1::RotateSigningKeyRequest*,
                            v1::RotateSigningKeyResponse*) override;

 private:
  Authority* authority_;
  CallRunner calls_;
  std::shared_ptr<const TokenVerifier> verifier_;
  std::function<void()> keys_changed_;
};

}  // namespace smartby::auth

#endif  // SMARTBY_SERVICES_AUTH_AUTH_SERVICE_H_
