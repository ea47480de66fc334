// The auth domain: sign-in, throttling, tokens, TOTP, users and service accounts, on SQLite with
// a settable clock (time is set, never slept).
#include "services/auth/auth.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/auth/totp.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::auth {
namespace {

namespace common = ::smartcity::common::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
constexpr char kPassword[] = "korrekt hest batteri stift";
constexpr char kSource[] = "10.1.2.3";

class FakeFederation : public Federation {
 public:
  absl::StatusOr<FederatedIdentity> Exchange(absl::string_view id_token) const override {
    if (id_token != "good-id-token") return absl::UnauthenticatedError("the ID token is not valid");
    FederatedIdentity identity;
    identity.provider = "idporten";
    identity.subject = "idporten:abc";
    identity.roles = {RoleGrant{Role::kReader, ""}};
    identity.clearance = common::CLASSIFICATION_PROTECTED;
    identity.two_factor = true;
    identity.acr = "idporten-loa-high";
    return identity;
  }
  std::vector<v1::IdentityProvider> Providers() const override { return {}; }
};

class AuthTest : public ::testing::Test {
 protected:
  // Most of these tests are about the domain and run on SQLite; those on AuthOnEachEngineTest
  // depend on the engine's concurrency as well.
  virtual std::string Engine() const { return "sqlite"; }

  void SetUp() override {
    auto store = OpenSqlAuthStore(storage::testing::NewTestDatabase(Engine()));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    SigningKeyOptions key_options;
    key_options.prepublication = absl::ZeroDuration();
    auto keys = SigningKeyManager::OpenStored(store_.get(), &clock_, key_options);
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    auto hasher = PasswordHasher::Create({});
    ASSERT_TRUE(hasher.ok());
    hasher_ = *std::move(hasher);
    options_.account_max_failures = 3;
    options_.source_max_failures = 5;
    options_.failure_window = absl::Minutes(15);
    options_.lockout = absl::Minutes(10);
    auto authority = Authority::Create(store_.get(), keys_.get(), hasher_.get(), &federation_,
                                       &clock_, options_, &registry_);
    ASSERT_TRUE(authority.ok()) << authority.status();
    authority_ = *std::move(authority);

    source_ = std::make_unique<SigningKeySource>(keys_.get());
    cache_ = std::make_shared<CachedKeySet>(source_.get(), &clock_);
    IssuerConfig issuer;
    issuer.issuer = "smartby";
    issuer.audiences = {"smartby"};
    issuer.allowed_algs = {"ES256"};
    issuer.keys = cache_;
    std::vector<IssuerConfig> issuers;
    issuers.push_back(issuer);
    verifier_ = *JwtTokenVerifier::Create(std::move(issuers), &clock_);
  }

  void CreateUser(const std::string& name, std::vector<std::string> roles = {"reader"},
                  const std::string& password = kPassword) {
    v1::CreateUserRequest request;
    request.set_username(name);
    for (const auto& role : roles) request.add_roles(role);
    request.set_clearance(common::CLASSIFICATION_INTERNAL);
    request.set_password(password);
    auto created = authority_->CreateUser(request);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  absl::StatusOr<v1::TokenResponse> Login(const std::string& name,
                                          const std::string& password = kPassword,
                                          const std::string& code = "",
                                          const std::string& source = kSource) {
    v1::LoginRequest request;
    request.set_username(name);
    request.set_password(password);
    request.set_totp_code(code);
    return authority_->Login(request, source);
  }

  absl::StatusOr<v1::TokenResponse> Refresh(const std::string& token) {
    v1::RefreshRequest request;
    request.set_refresh_token(token);
    return authority_->Refresh(request);
  }

  nlohmann::json Payload(const std::string& token) { return ParseJws(token)->payload; }

  Principal Self(const std::string& name, bool tfa = false) {
    Principal p;
    p.subject = "user:" + name;
    p.two_factor = tfa;
    return p;
  }
  Principal Admin() {
    Principal p;
    p.subject = "user:admin";
    p.roles = {RoleGrant{Role::kPlatformAdmin, ""}};
    return p;
  }

  // Enrols and confirms TOTP for `name`; returns the secret.
  std::string EnrolTotp(const std::string& name) {
    v1::EnrollTotpRequest enrol;
    auto enrolled = authority_->EnrollTotp(Self(name), enrol);
    EXPECT_TRUE(enrolled.ok()) << enrolled.status();
    std::string secret = *Base32Decode(enrolled->secret_base32());
    v1::ConfirmTotpRequest confirm;
    confirm.set_code(*Totp(secret, clock_.Now()));
    auto confirmed = authority_->ConfirmTotp(Self(name), confirm);
    EXPECT_TRUE(confirmed.ok()) << confirmed.status();
    EXPECT_TRUE(confirmed->totp_enrolled());
    clock_.Advance(absl::Seconds(30));  // the confirming code is used up
    return secret;
  }

  SettableClock clock_{kT0};
  prometheus::Registry registry_;
  FakeFederation federation_;
  AuthOptions options_;
  std::unique_ptr<AuthStore> store_;
  std::unique_ptr<SigningKeyManager> keys_;
  std::unique_ptr<PasswordHasher> hasher_;
  std::unique_ptr<Authority> authority_;
  std::unique_ptr<SigningKeySource> source_;
  std::shared_ptr<CachedKeySet> cache_;
  std::unique_ptr<JwtTokenVerifier> verifier_;
};

TEST_F(AuthTest, LoginIssuesASignedAccessTokenAndARefreshToken) {
  CreateUser("kari", {"reader", "dataset-owner:Stavanger kommune"});
  auto tokens = Login("kari");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->token_type(), "Bearer");
  EXPECT_EQ(tokens->subject(), "user:kari");
  EXPECT_GE(tokens->refresh_token().size(), 43u);  // 256 bits, base64url
  EXPECT_EQ(tokens->access_token_expire_time().seconds(), absl::ToUnixSeconds(kT0) + 600);
  EXPECT_EQ(tokens->refresh_token_expire_time().seconds(), absl::ToUnixSeconds(kT0) + 12 * 3600);

  auto principal = verifier_->Verify(tokens->access_token());
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->subject, "user:kari");
  EXPECT_EQ(principal->clearance, common::CLASSIFICATION_INTERNAL);
  EXPECT_FALSE(principal->two_factor);
  EXPECT_TRUE(principal->Has(Role::kDatasetOwner, "Stavanger kommune"));
  auto jws = ParseJws(tokens->access_token());
  EXPECT_EQ(jws->header["typ"], "at+jwt");
  EXPECT_EQ(jws->header["kid"], keys_->SigningKid());
  for (const char* claim : {"iss", "aud", "sub", "exp", "iat", "nbf", "jti", "acr"}) {
    EXPECT_TRUE(jws->payload.contains(claim)) << claim;
  }
  EXPECT_EQ(jws->payload["acr"], "smartby:password");
  EXPECT_EQ(store_->GetUser("kari")->last_login_time, kT0);
}

TEST_F(AuthTest, UnknownUserWrongPasswordAndBadCodeLookTheSame) {
  CreateUser("kari");
  auto unknown = Login("ola");
  auto wrong = Login("kari", "feil passord som er langt");
  EXPECT_TRUE(absl::IsUnauthenticated(unknown.status()));
  EXPECT_EQ(unknown.status(), wrong.status());
}

TEST_F(AuthTest, TheAttemptAfterNFailuresIsThrottledAndTheLockoutExpires) {
  CreateUser("kari");
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(absl::IsUnauthenticated(Login("kari", "gjett gjett gjett").status()));
  }
  // The 4th attempt is refused without looking at the password, even the right one.
  auto throttled = Login("kari");
  ASSERT_TRUE(absl::IsResourceExhausted(throttled.status())) << throttled.status();
  EXPECT_THAT(std::string(throttled.status().message()), HasSubstr("try again after"));
  EXPECT_THAT(std::string(throttled.status().message()), HasSubstr("2023-11-14 22:23:20 UTC"));

  clock_.Advance(absl::Minutes(10) - absl::Seconds(1));
  EXPECT_TRUE(absl::IsResourceExhausted(Login("kari").status()));
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(Login("kari").ok());
}

TEST_F(AuthTest, FailuresOutsideTheWindowDoNotAddUp) {
  CreateUser("kari");
  EXPECT_FALSE(Login("kari", "gjett gjett gjett").ok());
  EXPECT_FALSE(Login("kari", "gjett gjett gjett").ok());
  clock_.Advance(absl::Minutes(16));
  EXPECT_FALSE(Login("kari", "gjett gjett gjett").ok());
  EXPECT_TRUE(Login("kari").ok());
}

TEST_F(AuthTest, UnknownUsernamesAreLockedLikeRealOnes) {
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(absl::IsUnauthenticated(Login("ingen").status()));
  EXPECT_TRUE(absl::IsResourceExhausted(Login("ingen").status()));
}

TEST_F(AuthTest, OneSourceGuessingManyAccountsIsThrottled) {
  CreateUser("kari");
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(
        absl::IsUnauthenticated(Login("user" + std::to_string(i), "gjett gjett gjett").status()));
  }
  auto throttled = Login("kari");
  EXPECT_TRUE(absl::IsResourceExhausted(throttled.status())) << throttled.status();
  EXPECT_THAT(std::string(throttled.status().message()), HasSubstr("from your address"));
  EXPECT_TRUE(Login("kari", kPassword, "", "10.9.9.9").ok()) << "another source is not affected";
}

TEST_F(AuthTest, DisabledUserCannotSignInOrRefresh) {
  CreateUser("kari");
  auto tokens = Login("kari");
  ASSERT_TRUE(tokens.ok());
  ASSERT_TRUE(authority_->SetDisabled("kari", true).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(Login("kari").status()));
  EXPECT_TRUE(absl::IsUnauthenticated(Refresh(tokens->refresh_token()).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(Login("kari").status()));
  ASSERT_TRUE(authority_->SetDisabled("kari", false).ok());
  EXPECT_TRUE(Login("kari").ok());
}

TEST_F(AuthTest, RefreshRotatesAndReuseRevokesTheFamily) {
  CreateUser("kari");
  auto first = Login("kari");
  ASSERT_TRUE(first.ok());
  clock_.Advance(absl::Minutes(5));
  auto second = Refresh(first->refresh_token());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->refresh_token(), first->refresh_token());
  EXPECT_TRUE(verifier_->Verify(second->access_token()).ok());
  // The family keeps the sign-in's expiry.
  EXPECT_EQ(second->refresh_token_expire_time().seconds(),
            first->refresh_token_expire_time().seconds());
  auto third = Refresh(second->refresh_token());
  ASSERT_TRUE(third.ok());

  // An attacker replays the first (rotated) token: refused, and the whole family dies.
  auto replay = Refresh(first->refresh_token());
  EXPECT_TRUE(absl::IsUnauthenticated(replay.status()));
  EXPECT_THAT(std::string(replay.status().message()), HasSubstr("already used"));
  EXPECT_TRUE(absl::IsUnauthenticated(Refresh(third->refresh_token()).status()));

  // Another sign-in is a separate family.
  auto other = Login("kari");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(Refresh(other->refresh_token()).ok());
}

TEST_F(AuthTest, RefreshPicksUpRoleChanges) {
  CreateUser("kari");
  auto tokens = Login("kari");
  ASSERT_TRUE(authority_->GrantRole("kari", "auditor").ok());
  auto refreshed = Refresh(tokens->refresh_token());
  ASSERT_TRUE(refreshed.ok());
  EXPECT_THAT(refreshed->roles(), ElementsAre("reader", "auditor"));
}

class AuthOnEachEngineTest : public AuthTest,
                             public ::testing::WithParamInterface<std::string> {
 protected:
  std::string Engine() const override { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Engines, AuthOnEachEngineTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

TEST_P(AuthOnEachEngineTest, ConcurrentRoleGrantsToOneUserAllTakeEffect) {
  CreateUser("kari");
  // Eight administrators at once, each granting its own roles: every read-modify-write races
  // the others, and none may erase another's grant.
  constexpr int kAdmins = 8, kEach = 4;
  std::vector<std::thread> admins;
  std::atomic<int> failures{0};
  for (int a = 0; a < kAdmins; ++a) {
    admins.emplace_back([&, a] {
      for (int i = 0; i < kEach; ++i) {
        auto granted =
            authority_->GrantRole("kari", absl::StrCat("dataset-owner:Etat ", a, "-", i));
        if (!granted.ok()) {
          ++failures;
          ADD_FAILURE() << granted.status();
        }
      }
    });
  }
  for (std::thread& admin : admins) admin.join();
  EXPECT_EQ(failures.load(), 0);
  auto user = authority_->GetUser("kari");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->roles_size(), 1 + kAdmins * kEach);  // "reader" and every grant
}

TEST_F(AuthTest, RefreshTokensExpire) {
  CreateUser("kari");
  auto tokens = Login("kari");
  clock_.Advance(absl::Hours(12));
  EXPECT_TRUE(absl::IsUnauthenticated(Refresh(tokens->refresh_token()).status()));
}

TEST_F(AuthTest, LogoutRevokesTheFamilyAndIsIdempotent) {
  CreateUser("kari");
  auto tokens = Login("kari");
  auto refreshed = Refresh(tokens->refresh_token());
  ASSERT_TRUE(refreshed.ok());
  v1::LogoutRequest logout;
  logout.set_refresh_token(tokens->refresh_token());  // even a rotated one ends the sign-in
  ASSERT_TRUE(authority_->Logout(logout).ok());
  EXPECT_TRUE(absl::IsUnauthenticated(Refresh(refreshed->refresh_token()).status()));
  EXPECT_TRUE(authority_->Logout(logout).ok());
  logout.set_refresh_token("never-issued");
  EXPECT_TRUE(authority_->Logout(logout).ok());
}

TEST_F(AuthTest, TotpIsRequiredOnceEnrolledAndCodesCannotBeReplayed) {
  CreateUser("kari");
  const std::string secret = EnrolTotp("kari");

  auto missing = Login("kari");
  ASSERT_TRUE(absl::IsUnauthenticated(missing.status()));
  EXPECT_EQ(missing.status().GetPayload(kSecondFactorPayload), absl::Cord("totp"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("second factor"));

  const std::string code = *Totp(secret, clock_.Now());
  auto tokens = Login("kari", kPassword, code);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_TRUE(tokens->two_factor());
  EXPECT_TRUE(verifier_->Verify(tokens->access_token())->two_factor);
  EXPECT_EQ(Payload(tokens->access_token())["acr"], "smartby:password+totp");

  auto replay = Login("kari", kPassword, code);
  EXPECT_TRUE(absl::IsUnauthenticated(replay.status()));
  EXPECT_FALSE(replay.status().GetPayload(kSecondFactorPayload).has_value());
  auto wrong = Login("kari", kPassword, "000000");
  EXPECT_TRUE(absl::IsUnauthenticated(wrong.status()));

  clock_.Advance(absl::Seconds(30));
  EXPECT_TRUE(Login("kari", kPassword, *Totp(secret, clock_.Now())).ok());

  // Refreshed tokens keep the second factor of the sign-in.
  EXPECT_TRUE(Refresh(tokens->refresh_token())->two_factor());
}

TEST_F(AuthTest, RemovingYourOwnTotpNeedsASecondFactorSession) {
  CreateUser("kari");
  EnrolTotp("kari");
  v1::DisableTotpRequest request;
  EXPECT_TRUE(absl::IsUnauthenticated(authority_->DisableTotp(Self("kari"), request).status()));
  auto removed = authority_->DisableTotp(Self("kari", /*tfa=*/true), request);
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(removed->totp_enrolled());
  EXPECT_TRUE(Login("kari").ok());
}

TEST_F(AuthTest, OneTimePasswordAllowsOnlyChangingIt) {
  v1::CreateUserRequest request;
  request.set_username("ola");
  request.add_roles("data-steward");
  request.set_clearance(common::CLASSIFICATION_PROTECTED);
  auto created = authority_->CreateUser(request);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string otp = created->one_time_password();
  EXPECT_GE(otp.size(), 20u);
  EXPECT_TRUE(created->user().password_change_required());

  auto first = Login("ola", otp);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->password_change_required());
  EXPECT_TRUE(first->refresh_token().empty());
  EXPECT_EQ(first->roles_size(), 0);
  auto principal = verifier_->Verify(first->access_token());
  EXPECT_TRUE(principal->roles.empty());
  EXPECT_EQ(principal->clearance, common::CLASSIFICATION_UNSPECIFIED);
  EXPECT_TRUE(absl::IsFailedPrecondition(
      authority_->EnrollTotp(*principal, v1::EnrollTotpRequest()).status()));

  v1::SetPasswordRequest change;
  change.set_new_password(kPassword);
  EXPECT_TRUE(absl::IsInvalidArgument(authority_->SetPassword(*principal, change)));
  change.set_current_password("not the one-time password");
  EXPECT_TRUE(absl::IsPermissionDenied(authority_->SetPassword(*principal, change)));
  change.set_current_password(otp);
  ASSERT_TRUE(authority_->SetPassword(*principal, change).ok());

  auto normal = Login("ola");
  ASSERT_TRUE(normal.ok());
  EXPECT_FALSE(normal->password_change_required());
  EXPECT_THAT(normal->roles(), ElementsAre("data-steward"));
  EXPECT_FALSE(normal->refresh_token().empty());
  EXPECT_FALSE(Login("ola", otp).ok());
}

TEST_F(AuthTest, OnlyTheUserOrAPlatformAdminSetsAPassword) {
  CreateUser("kari");
  CreateUser("ola");
  v1::SetPasswordRequest request;
  request.set_username("kari");
  request.set_new_password("et helt nytt passord");
  EXPECT_TRUE(absl::IsPermissionDenied(authority_->SetPassword(Self("ola"), request)));
  auto session = Login("kari");
  ASSERT_TRUE(authority_->SetPassword(Admin(), request).ok());  // no current password needed
  EXPECT_TRUE(absl::IsUnauthenticated(Refresh(session->refresh_token()).status()));
  auto after = Login("kari", "et helt nytt passord");
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->password_change_required()) << "an admin-chosen password is temporary";
}

TEST_F(AuthTest, NewPasswordsMeetThePolicy) {
  CreateUser("kari");
  v1::SetPasswordRequest request;
  request.set_current_password(kPassword);
  request.set_new_password("kort");
  auto status = authority_->SetPassword(Self("kari"), request);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(std::string(status.message()), HasSubstr("new_password:"));
}

TEST_F(AuthTest, InvalidInputNamesTheField) {
  v1::CreateUserRequest request;
  request.set_username("Kari Nordmann");
  auto bad_name = authority_->CreateUser(request);
  EXPECT_TRUE(absl::IsInvalidArgument(bad_name.status()));
  EXPECT_THAT(std::string(bad_name.status().message()), HasSubstr("username:"));
  request.set_username("kari");
  request.add_roles("overlord");
  auto bad_role = authority_->CreateUser(request);
  EXPECT_THAT(std::string(bad_role.status().message()), HasSubstr("roles[0]:"));
  CreateUser("kari");
  EXPECT_TRUE(absl::IsAlreadyExists(
      authority_->CreateUser([] {
        v1::CreateUserRequest r;
        r.set_username("kari");
        return r;
      }()).status()));
  EXPECT_TRUE(absl::IsNotFound(authority_->GetUser("nobody").status()));
  auto too_long = Login(std::string(65, 'a'));
  EXPECT_THAT(std::string(too_long.status().message()), HasSubstr("username:"));
}

TEST_F(AuthTest, ListUsersPages) {
  for (const char* name : {"a", "b", "c"}) CreateUser(name);
  v1::ListUsersRequest request;
  request.set_page_size(2);
  auto first = authority_->ListUsers(request);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->users_size(), 2);
  ASSERT_FALSE(first->next_page_token().empty());
  request.set_page_token(first->next_page_token());
  auto second = authority_->ListUsers(request);
  ASSERT_EQ(second->users_size(), 1);
  EXPECT_EQ(second->users(0).username(), "c");
  EXPECT_TRUE(second->next_page_token().empty());
  request.set_page_token("!!!");
  EXPECT_TRUE(absl::IsInvalidArgument(authority_->ListUsers(request).status()));
}

TEST_F(AuthTest, ServiceAccountSecretsWorkUntilRotated) {
  v1::CreateServiceAccountRequest create;
  create.set_name("gateway");
  create.add_roles("ingest-writer:badetemperatur");
  create.set_clearance(common::CLASSIFICATION_OPEN);
  auto created = authority_->CreateServiceAccount(create);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string old_secret = created->client_secret();
  EXPECT_GE(old_secret.size(), 43u);

  v1::IssueServiceTokenRequest issue;
  issue.set_client_id("gateway");
  issue.set_client_secret(old_secret);
  auto token = authority_->IssueServiceToken(issue);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->refresh_token().empty());
  auto principal = verifier_->Verify(token->access_token());
  ASSERT_TRUE(principal.ok());
  EXPECT_EQ(principal->subject, "service:gateway");
  EXPECT_EQ(principal->client_id, "gateway");
  EXPECT_TRUE(IsServiceAccount(*principal));

  auto rotated = authority_->RotateServiceAccountSecret("gateway");
  ASSERT_TRUE(rotated.ok());
  auto old = authority_->IssueServiceToken(issue);
  EXPECT_TRUE(absl::IsUnauthenticated(old.status()));
  issue.set_client_secret(rotated->client_secret());
  EXPECT_TRUE(authority_->IssueServiceToken(issue).ok());

  issue.set_client_id("unknown");
  EXPECT_EQ(authority_->IssueServiceToken(issue).status(), old.status());
  ASSERT_TRUE(authority_->DeleteServiceAccount("gateway").ok());
  issue.set_client_id("gateway");
  EXPECT_TRUE(absl::IsUnauthenticated(authority_->IssueServiceToken(issue).status()));
}

// The auth service's own token for its audit shipper, minted in-process.
TEST_F(AuthTest, ItsOwnServiceTokenMayWriteTheAuditLogAndNothingElse) {
  auto token = authority_->IssueOwnServiceToken("auth", {"audit-writer"});
  ASSERT_TRUE(token.ok()) << token.status();
  auto principal = verifier_->Verify(token->access_token());
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->subject, "service:auth");
  EXPECT_TRUE(IsServiceAccount(*principal));
  EXPECT_TRUE(Decide(&*principal, Action::kWriteAudit, {}).ok());
  EXPECT_FALSE(Decide(&*principal, Action::kReadAudit, {}).ok());
  EXPECT_FALSE(Decide(&*principal, Action::kAdminister, {}).ok());
}

TEST_F(AuthTest, ExchangeTurnsAFederatedIdentityIntoAPlatformToken) {
  v1::ExchangeTokenRequest request;
  request.set_subject_token("good-id-token");
  auto token = authority_->ExchangeToken(request);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->refresh_token().empty());
  auto principal = verifier_->Verify(token->access_token());
  EXPECT_EQ(principal->subject, "idporten:abc");
  EXPECT_TRUE(principal->two_factor);
  EXPECT_EQ(Payload(token->access_token())["acr"], "idporten-loa-high");
  request.set_subject_token("forged");
  EXPECT_TRUE(absl::IsUnauthenticated(authority_->ExchangeToken(request).status()));
  request.set_subject_token_type("urn:ietf:params:oauth:token-type:saml2");
  EXPECT_TRUE(absl::IsInvalidArgument(authority_->ExchangeToken(request).status()));
}

TEST_F(AuthTest, BootstrapCreatesTheFirstAdminOnlyOnce) {
  auto first = authority_->Bootstrap("admin", "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_FALSE(first->one_time_password.empty());
  auto user = authority_->GetUser("admin");
  EXPECT_THAT(user->roles(), ElementsAre("platform-admin"));
  EXPECT_EQ(user->clearance(), common::CLASSIFICATION_STRICTLY_PROTECTED);
  auto again = authority_->Bootstrap("admin2", "");
  EXPECT_FALSE(again->created);
}

TEST_F(AuthTest, ABreakGlassAdminCanBeBootstrappedWithItsSecondFactor) {
  const std::string secret = std::string(20, '\x5a');
  EXPECT_TRUE(absl::IsInvalidArgument(
      authority_->Bootstrap("admin", "", Base32Encode(secret)).status()))
      << "a one-time password and a preset second factor do not go together";
  EXPECT_TRUE(absl::IsInvalidArgument(
      authority_->Bootstrap("admin", kPassword, "not base32!").status()));
  auto created = authority_->Bootstrap("admin", kPassword, Base32Encode(secret));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  EXPECT_TRUE(created->one_time_password.empty());
  EXPECT_TRUE(authority_->GetUser("admin")->totp_enrolled());
  EXPECT_TRUE(absl::IsUnauthenticated(Login("admin").status())) << "the code is required";
  auto token = Login("admin", kPassword, *Totp(secret, clock_.Now()));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->two_factor());
}

TEST_F(AuthTest, AuthorizeGivesThePolicyDecision) {
  CreateUser("admin", {"platform-admin"});
  const std::string admin = Login("admin")->access_token();
  v1::AuthorizeRequest request;
  request.set_action("administer");
  request.set_access_token(admin);
  auto allowed = AuthorizeRequest(*verifier_, request);
  ASSERT_TRUE(allowed.ok());
  EXPECT_TRUE(allowed->allowed());
  EXPECT_EQ(allowed->code(), 0);
  EXPECT_EQ(allowed->subject(), "user:admin");

  request.clear_access_token();
  request.set_action("read");
  request.mutable_resource()->set_classification(common::CLASSIFICATION_OPEN);
  request.mutable_resource()->set_published(true);
  EXPECT_TRUE(AuthorizeRequest(*verifier_, request)->allowed()) << "open data for everyone";
  request.mutable_resource()->set_classification(common::CLASSIFICATION_INTERNAL);
  auto anonymous = AuthorizeRequest(*verifier_, request);
  EXPECT_FALSE(anonymous->allowed());
  EXPECT_EQ(anonymous->code(), 16);

  request.set_access_token(admin + "x");
  auto invalid = AuthorizeRequest(*verifier_, request);
  ASSERT_TRUE(invalid.ok());
  EXPECT_FALSE(invalid->allowed());
  EXPECT_EQ(invalid->code(), 16);

  request.set_action("conquer");
  EXPECT_TRUE(absl::IsInvalidArgument(AuthorizeRequest(*verifier_, request).status()));
}

TEST(SourceAddress, TakesTheHostOfGrpcPeers) {
  EXPECT_EQ(SourceAddressOfPeer("ipv4:10.0.0.7:53122"), "10.0.0.7");
  EXPECT_EQ(SourceAddressOfPeer("ipv6:[::1]:53122"), "::1");
  EXPECT_EQ(SourceAddressOfPeer("unix:/tmp/sock"), "unix:/tmp/sock");
}

}  // namespace
}  // namespace smartby::auth
