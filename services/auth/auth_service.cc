#include "services/auth/auth_service.h"

#include <utility>

#include "services/runtime/audit_guard.h"
#include "services/runtime/status.h"

namespace smartby::auth {
namespace {

// Admin-only methods: decided by the runtime before the handler runs.
MethodPolicy Admin(bool mutating) {
  return {.mutating = mutating, .access = Access::kAction, .action = Action::kAdminister};
}
MethodPolicy Public(bool mutating) { return {.mutating = mutating, .access = Access::kPublic}; }
// Any signed-in caller; the handler decides the rest (self or platform-admin).
MethodPolicy Signed(bool mutating) {
  return {.mutating = mutating, .access = Access::kAuthenticated};
}

// Principal of an kAuthenticated call (the runner guarantees one).
const Principal& PrincipalOf(const CallContext& call) { return *call.caller.principal(); }

}  // namespace

const ServicePolicy& AuthServicePolicy() {
  static const auto* policy = new ServicePolicy{
      "smartcity.auth.v1.AuthService",
      {
          {"Login", Public(true)},
          {"Refresh", Public(true)},
          {"Logout", Public(true)},
          {"IssueServiceToken", Public(true)},
          {"ExchangeToken", Public(true)},
          {"GetJwks", Public(false)},
          {"Authorize", Public(false)},
          {"WhoAmI", Signed(false)},
          {"CreateUser", Admin(true)},
          {"GetUser", Admin(false)},
          {"ListUsers", Admin(false)},
          {"DisableUser", Admin(true)},
          {"EnableUser", Admin(true)},
          {"SetPassword", Signed(true)},
          {"GrantRole", Admin(true)},
          {"RevokeRole", Admin(true)},
          {"SetClearance", Admin(true)},
          {"ListRoles", Signed(false)},
          {"EnrollTotp", Signed(true)},
          {"ConfirmTotp", Signed(true)},
          {"DisableTotp", Signed(true)},
          {"CreateServiceAccount", Admin(true)},
          {"ListServiceAccounts", Admin(false)},
          {"RotateServiceAccountSecret", Admin(true)},
          {"DeleteServiceAccount", Admin(true)},
          {"ListIdentityProviders", Signed(false)},
          {"RotateSigningKey", Admin(true)},
      }};
  return *policy;
}

AuthService::AuthService(Authority* authority, CallRunner calls,
                         std::shared_ptr<const TokenVerifier> verifier,
                         std::function<void()> keys_changed)
    : authority_(authority),
      calls_(std::move(calls)),
      verifier_(std::move(verifier)),
      keys_changed_(std::move(keys_changed)) {}

#define SMARTBY_ASSIGN_RESPONSE(expr)             \
  [=, this](CallContext& call) -> absl::Status {  \
    ASSIGN_OR_RETURN(*response, (expr));          \
    return absl::OkStatus();                      \
  }

AuthService::Reactor* AuthService::Login(Ctx* ctx, const v1::LoginRequest* request,
                                         v1::TokenResponse* response) {
  return calls_.Unary(ctx, "Login", [=, this](CallContext& call) -> absl::Status {
    // The account a sign-in was for, so the audit log shows whose password was tried.
    AddAuditDetail(call, "username", request->username().substr(0, 128));
    absl::StatusOr<v1::TokenResponse> tokens =
        authority_->Login(*request, SourceAddressOfPeer(call.peer));
    if (!tokens.ok()) {
      if (tokens.status().GetPayload(kSecondFactorPayload).has_value()) {
        call.server_context->AddTrailingMetadata("smartby-second-factor", "totp");
      }
      return tokens.status();
    }
    *response = *std::move(tokens);
    return absl::OkStatus();
  });
}

AuthService::Reactor* AuthService::Refresh(Ctx* ctx, const v1::RefreshRequest* request,
                                           v1::TokenResponse* response) {
  return calls_.Unary(ctx, "Refresh", SMARTBY_ASSIGN_RESPONSE(authority_->Refresh(*request)));
}

AuthService::Reactor* AuthService::Logout(Ctx* ctx, const v1::LogoutRequest* request,
                                          v1::LogoutResponse* response) {
  return calls_.Unary(ctx, "Logout",
                      [=, this](CallContext&) { return authority_->Logout(*request); });
}

AuthService::Reactor* AuthService::IssueServiceToken(Ctx* ctx,
                                                     const v1::IssueServiceTokenRequest* request,
                                                     v1::TokenResponse* response) {
  return calls_.Unary(ctx, "IssueServiceToken",
                      SMARTBY_ASSIGN_RESPONSE(authority_->IssueServiceToken(*request)));
}

AuthService::Reactor* AuthService::ExchangeToken(Ctx* ctx, const v1::ExchangeTokenRequest* request,
                                                 v1::TokenResponse* response) {
  return calls_.Unary(ctx, "ExchangeToken",
                      SMARTBY_ASSIGN_RESPONSE(authority_->ExchangeToken(*request)));
}

AuthService::Reactor* AuthService::GetJwks(Ctx* ctx, const v1::GetJwksRequest* request,
                                           v1::GetJwksResponse* response) {
  return calls_.Unary(ctx, "GetJwks", [=, this](CallContext&) -> absl::Status {
    ASSIGN_OR_RETURN(*response->mutable_jwks_json(), authority_->Jwks());
    return absl::OkStatus();
  });
}

AuthService::Reactor* AuthService::Authorize(Ctx* ctx, const v1::AuthorizeRequest* request,
                                             v1::AuthorizeResponse* response) {
  return calls_.Unary(ctx, "Authorize",
                      SMARTBY_ASSIGN_RESPONSE(AuthorizeRequest(*verifier_, *request)));
}

AuthService::Reactor* AuthService::WhoAmI(Ctx* ctx, const v1::WhoAmIRequest* request,
                                          v1::WhoAmIResponse* response) {
  return calls_.Unary(ctx, "WhoAmI", [=](CallContext& call) -> absl::Status {
    const Principal& p = PrincipalOf(call);
    response->set_subject(p.subject);
    response->set_issuer(p.issuer);
    for (const RoleGrant& grant : p.roles) response->add_roles(RoleGrantToString(grant));
    response->set_clearance(p.clearance);
    response->set_two_factor(p.two_factor);
    response->set_actor(p.actor);
    response->set_client_id(p.client_id);
    response->mutable_expire_time()->set_seconds(absl::ToUnixSeconds(p.expires));
    return absl::OkStatus();
  });
}

AuthService::Reactor* AuthService::CreateUser(Ctx* ctx, const v1::CreateUserRequest* request,
                                              v1::CreateUserResponse* response) {
  return calls_.Unary(ctx, "CreateUser", SMARTBY_ASSIGN_RESPONSE(authority_->CreateUser(*request)));
}

AuthService::Reactor* AuthService::GetUser(Ctx* ctx, const v1::GetUserRequest* request,
                                           v1::User* response) {
  return calls_.Unary(ctx, "GetUser",
                      SMARTBY_ASSIGN_RESPONSE(authority_->GetUser(request->username())));
}

AuthService::Reactor* AuthService::ListUsers(Ctx* ctx, const v1::ListUsersRequest* request,
                                             v1::ListUsersResponse* response) {
  return calls_.Unary(ctx, "ListUsers", SMARTBY_ASSIGN_RESPONSE(authority_->ListUsers(*request)));
}

AuthService::Reactor* AuthService::DisableUser(Ctx* ctx, const v1::DisableUserRequest* request,
                                               v1::User* response) {
  return calls_.Unary(ctx, "DisableUser", [=, this](CallContext& call) -> absl::Status {
    if (call.caller.subject() == "user:" + request->username()) {
      return absl::FailedPreconditionError(
          "you cannot disable your own account; ask another platform-admin");
    }
    ASSIGN_OR_RETURN(*response, authority_->SetDisabled(request->username(), true));
    return absl::OkStatus();
  });
}

AuthService::Reactor* AuthService::EnableUser(Ctx* ctx, const v1::EnableUserRequest* request,
                                              v1::User* response) {
  return calls_.Unary(ctx, "EnableUser",
                      SMARTBY_ASSIGN_RESPONSE(authority_->SetDisabled(request->username(), false)));
}

AuthService::Reactor* AuthService::SetPassword(Ctx* ctx, const v1::SetPasswordRequest* request,
                                               v1::SetPasswordResponse* response) {
  return calls_.Unary(ctx, "SetPassword", [=, this](CallContext& call) {
    return authority_->SetPassword(PrincipalOf(call), *request);
  });
}

AuthService::Reactor* AuthService::GrantRole(Ctx* ctx, const v1::GrantRoleRequest* request,
                                             v1::User* response) {
  return calls_.Unary(ctx, "GrantRole", SMARTBY_ASSIGN_RESPONSE(authority_->GrantRole(
                                            request->username(), request->role())));
}

AuthService::Reactor* AuthService::RevokeRole(Ctx* ctx, const v1::RevokeRoleRequest* request,
                                              v1::User* response) {
  return calls_.Unary(ctx, "RevokeRole", SMARTBY_ASSIGN_RESPONSE(authority_->RevokeRole(
                                             request->username(), request->role())));
}

AuthService::Reactor* AuthService::SetClearance(Ctx* ctx, const v1::SetClearanceRequest* request,
                                                v1::User* response) {
  return calls_.Unary(ctx, "SetClearance", SMARTBY_ASSIGN_RESPONSE(authority_->SetClearance(
                                               request->username(), request->clearance())));
}

AuthService::Reactor* AuthService::ListRoles(Ctx* ctx, const v1::ListRolesRequest* request,
                                             v1::ListRolesResponse* response) {
  return calls_.Unary(ctx, "ListRoles", [=](CallContext&) {
    *response = Authority::ListRoles();
    return absl::OkStatus();
  });
}

AuthService::Reactor* AuthService::EnrollTotp(Ctx* ctx, const v1::EnrollTotpRequest* request,
                                              v1::EnrollTotpResponse* response) {
  return calls_.Unary(ctx, "EnrollTotp",
                      SMARTBY_ASSIGN_RESPONSE(authority_->EnrollTotp(PrincipalOf(call), *request)));
}

AuthService::Reactor* AuthService::ConfirmTotp(Ctx* ctx, const v1::ConfirmTotpRequest* request,
                                               v1::User* response) {
  return calls_.Unary(ctx, "ConfirmTotp", SMARTBY_ASSIGN_RESPONSE(
                                              authority_->ConfirmTotp(PrincipalOf(call), *request)));
}

AuthService::Reactor* AuthService::DisableTotp(Ctx* ctx, const v1::DisableTotpRequest* request,
                                               v1::User* response) {
  return calls_.Unary(ctx, "DisableTotp", SMARTBY_ASSIGN_RESPONSE(
                                              authority_->DisableTotp(PrincipalOf(call), *request)));
}

AuthService::Reactor* AuthService::CreateServiceAccount(
    Ctx* ctx, const v1::CreateServiceAccountRequest* request,
    v1::CreateServiceAccountResponse* response) {
  return calls_.Unary(ctx, "CreateServiceAccount",
                      SMARTBY_ASSIGN_RESPONSE(authority_->CreateServiceAccount(*request)));
}

AuthService::Reactor* AuthService::ListServiceAccounts(
    Ctx* ctx, const v1::ListServiceAccountsRequest* request,
    v1::ListServiceAccountsResponse* response) {
  return calls_.Unary(ctx, "ListServiceAccounts",
                      SMARTBY_ASSIGN_RESPONSE(authority_->ListServiceAccounts()));
}

AuthService::Reactor* AuthService::RotateServiceAccountSecret(
    Ctx* ctx, const v1::RotateServiceAccountSecretRequest* request,
    v1::RotateServiceAccountSecretResponse* response) {
  return calls_.Unary(ctx, "RotateServiceAccountSecret",
                      SMARTBY_ASSIGN_RESPONSE(authority_->RotateServiceAccountSecret(request->name())));
}

AuthService::Reactor* AuthService::DeleteServiceAccount(
    Ctx* ctx, const v1::DeleteServiceAccountRequest* request,
    v1::DeleteServiceAccountResponse* response) {
  return calls_.Unary(ctx, "DeleteServiceAccount", [=, this](CallContext&) {
    return authority_->DeleteServiceAccount(request->name());
  });
}

AuthService::Reactor* AuthService::ListIdentityProviders(
    Ctx* ctx, const v1::ListIdentityProvidersRequest* request,
    v1::ListIdentityProvidersResponse* response) {
  return calls_.Unary(ctx, "ListIdentityProviders", [=, this](CallContext&) {
    for (auto& provider : authority_->IdentityProviders()) {
      *response->add_identity_providers() = std::move(provider);
    }
    return absl::OkStatus();
  });
}

AuthService::Reactor* AuthService::RotateSigningKey(Ctx* ctx,
                                                    const v1::RotateSigningKeyRequest* request,
                                                    v1::RotateSigningKeyResponse* response) {
  return calls_.Unary(ctx, "RotateSigningKey", [=, this](CallContext&) -> absl::Status {
    ASSIGN_OR_RETURN(*response->mutable_kid(), authority_->RotateSigningKey());
    if (keys_changed_) keys_changed_();
    return absl::OkStatus();
  });
}

#undef SMARTBY_ASSIGN_RESPONSE

}  // namespace smartby::auth
