#include "services/auth/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/auth/totp.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby::auth {
namespace {

namespace common = ::smartcity::common::v1;

constexpr char kBadCredentials[] = "the username, password or code is wrong";
constexpr char kBadClient[] = "the client id or secret is wrong";
constexpr char kBadRefresh[] = "the refresh token is not valid; sign in again";
constexpr char kIdTokenType[] = "urn:ietf:params:oauth:token-type:id_token";
constexpr char kAcrPassword[] = "smartby:password";
constexpr char kAcrPasswordTotp[] = "smartby:password+totp";

constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxDisplayNameBytes = 200;
constexpr size_t kMaxDescriptionBytes = 1000;
constexpr size_t kMaxRoleBytes = 200;
constexpr size_t kMaxRoles = 64;
constexpr size_t kMaxOpaqueTokenBytes = 128;
constexpr size_t kMaxCodeBytes = 16;
constexpr size_t kMaxResourceFieldBytes = 512;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr int kSecretBytes = 32;  // 256 bits for refresh tokens and client secrets

absl::StatusOr<std::string> RandomBytes(int n) {
  std::string bytes(static_cast<size_t>(n), '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), n) != 1) {
    return absl::InternalError("the random number generator failed");
  }
  return bytes;
}

absl::StatusOr<std::string> RandomToken() {
  ASSIGN_OR_RETURN(std::string bytes, RandomBytes(kSecretBytes));
  return Base64UrlEncode(bytes);
}

std::string HexSha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// 20 characters from 56 that cannot be confused with each other (no 0/O, 1/l/I): ~116 bits.
absl::StatusOr<std::string> NewOneTimePassword() {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  constexpr size_t kAlphabetSize = sizeof(kAlphabet) - 1;
  std::string out;
  while (out.size() < 20) {
    ASSIGN_OR_RETURN(std::string bytes, RandomBytes(32));
    for (unsigned char c : bytes) {
      // Rejection sampling keeps the characters uniform.
      if (c < 256 - 256 % kAlphabetSize && out.size() < 20) out += kAlphabet[c % kAlphabetSize];
    }
  }
  return out;
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = absl::ToUnixMicros(t);
  ts.set_seconds(micros / 1000000);
  ts.set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  return ts;
}

v1::User ToProto(const UserRecord& u) {
  v1::User user;
  user.set_username(u.username);
  user.set_display_name(u.display_name);
  for (const auto& role : u.roles) user.add_roles(role);
  user.set_clearance(u.clearance);
  user.set_disabled(u.disabled);
  user.set_totp_enrolled(u.totp_confirmed);
  user.set_password_change_required(u.password_change_required);
  *user.mutable_create_time() = ToProto(u.create_time);
  if (u.last_login_time) *user.mutable_last_login_time() = ToProto(*u.last_login_time);
  return user;
}

v1::ServiceAccount ToProto(const ServiceAccountRecord& a) {
  v1::ServiceAccount account;
  account.set_name(a.name);
  account.set_description(a.description);
  for (const auto& role : a.roles) account.add_roles(role);
  account.set_clearance(a.clearance);
  *account.mutable_create_time() = ToProto(a.create_time);
  *account.mutable_secret_rotate_time() = ToProto(a.secret_rotate_time);
  return account;
}

absl::Status CheckSize(absl::string_view value, size_t max, absl::string_view field) {
  if (value.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be at most ", max, " bytes, this one has ", value.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CanonicalRole(absl::string_view text, absl::string_view field) {
  RETURN_IF_ERROR(CheckSize(text, kMaxRoleBytes, field));
  if (absl::StrContains(text, '\n')) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must not contain a line break"));
  }
  absl::StatusOr<RoleGrant> grant = ParseRoleGrant(text);
  if (!grant.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", grant.status().message()));
  }
  return RoleGrantToString(*grant);
}

absl::StatusOr<std::vector<std::string>> CanonicalRoles(
    const google::protobuf::RepeatedPtrField<std::string>& roles) {
  if (roles.size() > static_cast<int>(kMaxRoles)) {
    return absl::InvalidArgumentError(absl::StrCat("roles: at most ", kMaxRoles, " roles"));
  }
  std::vector<std::string> out;
  for (int i = 0; i < roles.size(); ++i) {
    ASSIGN_OR_RETURN(std::string role, CanonicalRole(roles[i], absl::StrCat("roles[", i, "]")));
    if (std::find(out.begin(), out.end(), role) == out.end()) out.push_back(std::move(role));
  }
  return out;
}

absl::Status ValidateClearance(common::Classification clearance, absl::string_view field) {
  if (!common::Classification_IsValid(clearance)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": must be CLASSIFICATION_OPEN, _INTERNAL, _PROTECTED, _STRICTLY_PROTECTED or "
               "unspecified (none)"));
  }
  return absl::OkStatus();
}

bool IsAdmin(const Principal& principal) {
  return Decide(&principal, Action::kAdminister, ResourceRef{}).ok();
}

std::string RetryMessage(absl::string_view what, absl::Time until, absl::Time now) {
  const int64_t minutes = (absl::ToInt64Seconds(until - now) + 59) / 60;
  return absl::StrCat("too many failed sign-ins ", what, "; try again after ",
                      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", until, absl::UTCTimeZone()),
                      " (in ", std::max<int64_t>(minutes, 1), minutes > 1 ? " minutes)" : " minute)");
}

}  // namespace

struct Authority::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : logins(prometheus::BuildCounter()
                   .Name("smartby_auth_logins_total")
                   .Help("Password sign-ins by outcome")
                   .Register(registry)),
        issued(prometheus::BuildCounter()
                   .Name("smartby_auth_tokens_issued_total")
                   .Help("Access tokens issued, by kind (login, refresh, service, exchange)")
                   .Register(registry)),
        refresh_reuse(prometheus::BuildCounter()
                          .Name("smartby_auth_refresh_token_reuse_total")
                          .Help("Rotated refresh tokens presented again (family revoked)")
                          .Register(registry)
                          .Add({})) {
    for (const char* outcome : {"success", "failure", "throttled", "second_factor_required",
                                "disabled", "password_change_required"}) {
      logins.Add({{"outcome", outcome}});
    }
    for (const char* kind : {"login", "refresh", "service", "exchange"}) {
      issued.Add({{"kind", kind}});
    }
  }
  void Login(const char* outcome) { logins.Add({{"outcome", outcome}}).Increment(); }
  void Issued(absl::string_view kind) { issued.Add({{"kind", std::string(kind)}}).Increment(); }

  prometheus::Family<prometheus::Counter>& logins;
  prometheus::Family<prometheus::Counter>& issued;
  prometheus::Counter& refresh_reuse;
};

absl::Status ValidateAccountName(absl::string_view name, absl::string_view field) {
  bool ok = !name.empty() && name.size() <= kMaxNameBytes;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                c == '_');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": must be 1-64 characters of lowercase letters a-z, digits, '.', '-' or '_'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Action> ParseActionName(absl::string_view name) {
  std::vector<std::string> names;
  for (int i = static_cast<int>(Action::kRead); i <= static_cast<int>(Action::kWriteAudit); ++i) {
    const Action action = static_cast<Action>(i);
    if (ActionName(action) == name) return action;
    names.emplace_back(ActionName(action));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("action: expected one of ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<v1::AuthorizeResponse> AuthorizeRequest(const TokenVerifier& verifier,
                                                       const v1::AuthorizeRequest& request) {
  ASSIGN_OR_RETURN(Action action, ParseActionName(request.action()));
  RETURN_IF_ERROR(CheckSize(request.access_token(), kMaxTokenBytes, "access_token"));
  RETURN_IF_ERROR(CheckSize(request.resource().owner_organization(), kMaxResourceFieldBytes,
                            "resource.owner_organization"));
  RETURN_IF_ERROR(
      CheckSize(request.resource().dataset(), kMaxResourceFieldBytes, "resource.dataset"));
  ResourceRef resource;
  resource.classification = request.resource().classification();
  resource.owner_organization = request.resource().owner_organization();
  resource.dataset = request.resource().dataset();
  resource.published = request.resource().published();

  v1::AuthorizeResponse response;
  std::optional<Principal> principal;
  if (!request.access_token().empty()) {
    absl::StatusOr<Principal> verified = verifier.Verify(request.access_token());
    if (!verified.ok()) {
      response.set_allowed(false);
      response.set_code(static_cast<int32_t>(absl::StatusCode::kUnauthenticated));
      response.set_message(std::string(verified.status().message()));
      return response;
    }
    principal = *std::move(verified);
    response.set_subject(principal->subject);
  }
  const absl::Status decision = Decide(principal ? &*principal : nullptr, action, resource);
  response.set_allowed(decision.ok());
  response.set_code(static_cast<int32_t>(decision.code()));
  response.set_message(std::string(decision.message()));
  return response;
}

std::string SourceAddressOfPeer(absl::string_view peer) {
  absl::string_view rest = peer;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    return std::string(rest.substr(0, rest.rfind(':')));
  }
  if (absl::ConsumePrefix(&rest, "ipv6:")) {
    if (absl::ConsumePrefix(&rest, "[")) return std::string(rest.substr(0, rest.find(']')));
    return std::string(rest.substr(0, rest.rfind(':')));
  }
  return std::string(peer.substr(0, std::min<size_t>(peer.size(), 128)));
}

Authority::Authority(AuthStore* store, SigningKeyManager* keys, PasswordHasher* hasher,
                     const Federation* federation, const Clock* clock, AuthOptions options,
                     prometheus::Registry* metrics)
    : store_(store),
      keys_(keys),
      hasher_(hasher),
      federation_(federation),
      clock_(clock),
      options_(std::move(options)),
      metrics_(metrics ? std::make_shared<Metrics>(*metrics) : nullptr) {}

absl::StatusOr<std::unique_ptr<Authority>> Authority::Create(
    AuthStore* store, SigningKeyManager* keys, PasswordHasher* hasher,
    const Federation* federation, const Clock* clock, AuthOptions options,
    prometheus::Registry* metrics) {
  if (options.access_token_ttl <= absl::ZeroDuration() ||
      options.refresh_token_ttl <= absl::ZeroDuration() || options.account_max_failures < 1 ||
      options.source_max_failures < 1 || options.failure_window <= absl::ZeroDuration() ||
      options.lockout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "token lifetimes, failure limits, failure window and lockout must be positive");
  }
  std::unique_ptr<Authority> authority(
      new Authority(store, keys, hasher, federation, clock, std::move(options), metrics));
  // Unknown usernames are checked against this, so they cost what a real account costs.
  ASSIGN_OR_RETURN(std::string random, RandomToken());
  ASSIGN_OR_RETURN(authority->dummy_password_hash_, hasher->Hash(random));
  return authority;
}

// ---- tokens ----

absl::StatusOr<v1::TokenResponse> Authority::Mint(const Claims& c, absl::string_view kind) {
  const absl::Time now = clock_->Now();
  const int64_t iat = absl::ToUnixSeconds(now);
  const absl::Time expire = absl::FromUnixSeconds(iat) + options_.access_token_ttl;
  ASSIGN_OR_RETURN(std::string jti_bytes, RandomBytes(16));
  nlohmann::json claims = {
      {"iss", options_.issuer},
      {"aud", options_.audience},
      {"sub", c.subject},
      {"iat", iat},
      {"nbf", iat},
      {"exp", absl::ToUnixSeconds(expire)},
      {"jti", Base64UrlEncode(jti_bytes)},
      {"roles", c.roles},
      {"tfa", c.two_factor},
  };
  if (c.clearance != common::CLASSIFICATION_UNSPECIFIED) {
    claims["clearance"] = std::string(ClearanceName(c.clearance));
  }
  if (!c.acr.empty()) claims["acr"] = c.acr;
  if (!c.client_id.empty()) claims["client_id"] = c.client_id;
  ASSIGN_OR_RETURN(std::string token, keys_->Sign(claims));
  if (metrics_) metrics_->Issued(kind);
  v1::TokenResponse response;
  response.set_access_token(std::move(token));
  response.set_token_type("Bearer");
  *response.mutable_access_token_expire_time() = ToProto(expire);
  response.set_subject(c.subject);
  for (const auto& role : c.roles) response.add_roles(role);
  response.set_clearance(c.clearance);
  response.set_two_factor(c.two_factor);
  return response;
}

absl::StatusOr<std::string> Authority::NewRefreshToken(const std::string& family_id,
                                                       const std::string& username,
                                                       const Claims& claims,
                                                       absl::Time expire_time) {
  ASSIGN_OR_RETURN(std::string token, RandomToken());
  RefreshTokenRecord record;
  record.token_hash = HexSha256(token);
  record.family_id = family_id;
  record.username = username;
  record.client_id = claims.client_id;
  record.two_factor = claims.two_factor;
  record.acr = claims.acr;
  record.create_time = clock_->Now();
  record.expire_time = expire_time;
  RETURN_IF_ERROR(store_->InsertRefreshToken(record));
  return token;
}

absl::Status Authority::CheckNotLocked(const std::string& key, absl::Time now) {
  ASSIGN_OR_RETURN(FailureCounter counter, store_->GetFailures(key));
  if (counter.locked_until > now) {
    if (metrics_) metrics_->Login("throttled");
    return absl::ResourceExhaustedError(RetryMessage(
        absl::StartsWith(key, "source:") ? "from your address" : "for this account",
        counter.locked_until, now));
  }
  return absl::OkStatus();
}

void Authority::RecordFailure(const std::string& key, int max_failures, absl::Time now) {
  absl::StatusOr<FailureCounter> counter = store_->RecordFailure(
      key, now, options_.failure_window, max_failures, options_.lockout);
  if (!counter.ok()) {
    log::Error("cannot count a failed sign-in", {{"error", std::string(counter.status().message())}});
  } else if (counter->locked_until > now && counter->failures == max_failures) {
    log::Warn("sign-in locked after repeated failures",
              {{"key", key}, {"failures", counter->failures}});
  }
}

absl::StatusOr<v1::TokenResponse> Authority::Login(const v1::LoginRequest& request,
                                                   const std::string& source) {
  if (request.username().empty()) return absl::InvalidArgumentError("username: required");
  if (request.password().empty()) return absl::InvalidArgumentError("password: required");
  RETURN_IF_ERROR(CheckSize(request.username(), kMaxNameBytes, "username"));
  RETURN_IF_ERROR(CheckSize(request.password(), kMaxPasswordBytes, "password"));
  RETURN_IF_ERROR(CheckSize(request.totp_code(), kMaxCodeBytes, "totp_code"));
  RETURN_IF_ERROR(CheckSize(request.client_id(), kMaxNameBytes, "client_id"));
  const std::string username = absl::AsciiStrToLower(request.username());
  const std::string account_key = absl::StrCat("user:", username);
  const std::string source_key = absl::StrCat("source:", source);
  const absl::Time now = clock_->Now();
  RETURN_IF_ERROR(CheckNotLocked(account_key, now));
  RETURN_IF_ERROR(CheckNotLocked(source_key, now));

  absl::StatusOr<UserRecord> user = store_->GetUser(username);
  if (!user.ok() && !absl::IsNotFound(user.status())) return user.status();
  // Always one argon2id verification, for known and unknown users alike.
  ASSIGN_OR_RETURN(bool password_ok,
                   hasher_->Verify(request.password(),
                                   user.ok() ? user->password_hash : dummy_password_hash_));
  auto fail = [&]() {
    RecordFailure(account_key, options_.account_max_failures, now);
    RecordFailure(source_key, options_.source_max_failures, now);
    if (metrics_) metrics_->Login("failure");
    return absl::UnauthenticatedError(kBadCredentials);
  };
  if (!user.ok() || !password_ok) return fail();
  if (user->disabled) {
    if (metrics_) metrics_->Login("disabled");
    return absl::PermissionDeniedError(
        "this account is disabled; ask a platform administrator to enable it");
  }
  bool two_factor = false;
  if (user->totp_confirmed) {
    if (request.totp_code().empty()) {
      if (metrics_) metrics_->Login("second_factor_required");
      absl::Status status = absl::UnauthenticatedError(
          "a second factor is needed: give the code from your authenticator app");
      status.SetPayload(kSecondFactorPayload, absl::Cord("totp"));
      return status;
    }
    ASSIGN_OR_RETURN(TotpVerifier verifier, TotpVerifier::Create(*clock_));
    absl::StatusOr<int64_t> step =
        verifier.Verify(user->totp_secret, request.totp_code(), user->totp_last_step);
    if (!step.ok()) return fail();
    ASSIGN_OR_RETURN(bool stored,
                     store_->CompareAndSetTotpStep(username, user->totp_last_step, *step));
    if (!stored) return fail();  // the same code used concurrently
    two_factor = true;
  }

  // Signed in.
  if (absl::Status s = store_->ClearFailures(account_key); !s.ok()) {
    log::Warn("cannot clear failed sign-ins", {{"error", std::string(s.message())}});
  }
  absl::StatusOr<bool> rehash = hasher_->NeedsRehash(user->password_hash);
  if (rehash.ok() && *rehash) {
    absl::StatusOr<std::string> hash = hasher_->Hash(request.password());
    if (hash.ok()) {
      user->password_hash = *hash;
      // Only a stronger hash of the same password: when an administrator changed the user
      // meanwhile, their write wins and the rehash waits for the next sign-in.
      if (absl::Status s = store_->UpdateUser(*user); !s.ok() && !absl::IsAborted(s)) return s;
    }
  }
  RETURN_IF_ERROR(store_->SetLastLogin(username, now));

  Claims claims;
  claims.subject = absl::StrCat("user:", username);
  claims.two_factor = two_factor;
  claims.acr = two_factor ? kAcrPasswordTotp : kAcrPassword;
  if (!request.client_id().empty() && ValidateAccountName(request.client_id(), "client_id").ok()) {
    claims.client_id = request.client_id();
  }
  if (user->password_change_required) {
    // Good only for SetPassword: no roles, no clearance, no refresh token.
    if (metrics_) metrics_->Login("password_change_required");
    ASSIGN_OR_RETURN(v1::TokenResponse response, Mint(claims, "login"));
    response.set_password_change_required(true);
    return response;
  }
  claims.roles = user->roles;
  claims.clearance = user->clearance;
  ASSIGN_OR_RETURN(v1::TokenResponse response, Mint(claims, "login"));
  ASSIGN_OR_RETURN(std::string family, RandomToken());
  const absl::Time refresh_expire = now + options_.refresh_token_ttl;
  ASSIGN_OR_RETURN(std::string refresh,
                   NewRefreshToken(family, username, claims, refresh_expire));
  response.set_refresh_token(std::move(refresh));
  *response.mutable_refresh_token_expire_time() = ToProto(refresh_expire);
  if (metrics_) metrics_->Login("success");
  log::Info("signed in", {{"subject", claims.subject}, {"two_factor", two_factor}});
  return response;
}

absl::StatusOr<v1::TokenResponse> Authority::Refresh(const v1::RefreshRequest& request) {
  if (request.refresh_token().empty()) return absl::InvalidArgumentError("refresh_token: required");
  if (request.refresh_token().size() > kMaxOpaqueTokenBytes) {
    return absl::UnauthenticatedError(kBadRefresh);
  }
  const std::string hash = HexSha256(request.refresh_token());
  absl::StatusOr<RefreshTokenRecord> token = store_->GetRefreshToken(hash);
  if (absl::IsNotFound(token.status())) return absl::UnauthenticatedError(kBadRefresh);
  RETURN_IF_ERROR(token.status());
  const absl::Time now = clock_->Now();
  auto revoke_family = [&](absl::string_view why) {
    if (absl::Status s = store_->RevokeRefreshFamily(token->family_id); !s.ok()) {
      log::Error("cannot revoke a refresh-token family", {{"error", std::string(s.message())}});
    }
    log::Warn(why, {{"subject", absl::StrCat("user:", token->username)}});
  };
  if (token->revoked || token->expire_time <= now) return absl::UnauthenticatedError(kBadRefresh);
  if (token->rotated) {
    if (metrics_) metrics_->refresh_reuse.Increment();
    revoke_family("a rotated refresh token was used again; its family is revoked");
    return absl::UnauthenticatedError(
        "the refresh token was already used, so every token of this sign-in is revoked; sign in "
        "again");
  }
  absl::StatusOr<UserRecord> user = store_->GetUser(token->username);
  if (!user.ok() && !absl::IsNotFound(user.status())) return user.status();
  if (!user.ok() || user->disabled || user->password_change_required) {
    revoke_family("refresh refused: the user is gone, disabled or must change the password");
    return absl::UnauthenticatedError(kBadRefresh);
  }
  ASSIGN_OR_RETURN(bool mine, store_->MarkRefreshTokenRotated(hash));
  if (!mine) {  // used concurrently: the same as a reuse
    if (metrics_) metrics_->refresh_reuse.Increment();
    revoke_family("a refresh token was used twice at once; its family is revoked");
    return absl::UnauthenticatedError(kBadRefresh);
  }
  Claims claims;
  claims.subject = absl::StrCat("user:", user->username);
  claims.roles = user->roles;  // current grants: a revoked role is gone at the next refresh
  claims.clearance = user->clearance;
  claims.two_factor = token->two_factor;
  claims.acr = token->acr;
  claims.client_id = token->client_id;
  ASSIGN_OR_RETURN(v1::TokenResponse response, Mint(claims, "refresh"));
  ASSIGN_OR_RETURN(std::string refresh, NewRefreshToken(token->family_id, user->username, claims,
                                                        token->expire_time));
  response.set_refresh_token(std::move(refresh));
  *response.mutable_refresh_token_expire_time() = ToProto(token->expire_time);
  return response;
}

absl::Status Authority::Logout(const v1::LogoutRequest& request) {
  if (request.refresh_token().empty()) return absl::InvalidArgumentError("refresh_token: required");
  if (request.refresh_token().size() > kMaxOpaqueTokenBytes) return absl::OkStatus();
  absl::StatusOr<RefreshTokenRecord> token =
      store_->GetRefreshToken(HexSha256(request.refresh_token()));
  if (absl::IsNotFound(token.status())) return absl::OkStatus();  // idempotent
  RETURN_IF_ERROR(token.status());
  RETURN_IF_ERROR(store_->RevokeRefreshFamily(token->family_id));
  log::Info("signed out", {{"subject", absl::StrCat("user:", token->username)}});
  return absl::OkStatus();
}

absl::StatusOr<v1::TokenResponse> Authority::IssueServiceToken(
    const v1::IssueServiceTokenRequest& request) {
  if (request.client_id().empty()) return absl::InvalidArgumentError("client_id: required");
  if (request.client_secret().empty()) {
    return absl::InvalidArgumentError("client_secret: required");
  }
  if (request.client_id().size() > kMaxNameBytes ||
      request.client_secret().size() > kMaxOpaqueTokenBytes) {
    return absl::UnauthenticatedError(kBadClient);
  }
  absl::StatusOr<ServiceAccountRecord> account = store_->GetServiceAccount(request.client_id());
  if (!account.ok() && !absl::IsNotFound(account.status())) return account.status();
  const std::string hash = HexSha256(request.client_secret());
  // Compared even for an unknown client, so both take the same time.
  static const std::string kNoHash(64, '0');
  const bool secret_ok = ConstantTimeEquals(hash, account.ok() ? account->secret_hash : kNoHash);
  if (!account.ok() || !secret_ok) return absl::UnauthenticatedError(kBadClient);
  Claims claims;
  claims.subject = absl::StrCat("service:", account->name);
  claims.client_id = account->name;
  claims.roles = account->roles;
  claims.clearance = account->clearance;
  return Mint(claims, "service");
}

absl::StatusOr<v1::TokenResponse> Authority::IssueOwnServiceToken(
    const std::string& name, std::vector<std::string> roles) {
  Claims claims;
  claims.subject = absl::StrCat("service:", name);
  claims.client_id = name;
  claims.roles = std::move(roles);
  return Mint(claims, "service");
}

absl::StatusOr<v1::TokenResponse> Authority::ExchangeToken(
    const v1::ExchangeTokenRequest& request) {
  if (!request.subject_token_type().empty() && request.subject_token_type() != kIdTokenType) {
    return absl::InvalidArgumentError(
        absl::StrCat("subject_token_type: only ", kIdTokenType, " is supported"));
  }
  if (request.subject_token().empty()) return absl::InvalidArgumentError("subject_token: required");
  if (request.subject_token().size() > kMaxTokenBytes) {
    return absl::UnauthenticatedError("the ID token is not valid");
  }
  ASSIGN_OR_RETURN(FederatedIdentity identity, federation_->Exchange(request.subject_token()));
  Claims claims;
  claims.subject = identity.subject;
  for (const RoleGrant& grant : identity.roles) claims.roles.push_back(RoleGrantToString(grant));
  claims.clearance = identity.clearance;
  claims.two_factor = identity.two_factor;
  claims.acr = identity.acr;
  log::Info("exchanged an ID token", {{"subject", identity.subject},
                                      {"provider", identity.provider},
                                      {"two_factor", identity.two_factor}});
  return Mint(claims, "exchange");
}

// ---- users ----

absl::StatusOr<v1::CreateUserResponse> Authority::CreateUser(const v1::CreateUserRequest& request) {
  RETURN_IF_ERROR(ValidateAccountName(request.username(), "username"));
  RETURN_IF_ERROR(CheckSize(request.display_name(), kMaxDisplayNameBytes, "display_name"));
  RETURN_IF_ERROR(ValidateClearance(request.clearance(), "clearance"));
  ASSIGN_OR_RETURN(std::vector<std::string> roles, CanonicalRoles(request.roles()));
  UserRecord user;
  user.username = request.username();
  user.display_name = request.display_name();
  user.roles = std::move(roles);
  user.clearance = request.clearance();
  user.create_time = clock_->Now();
  v1::CreateUserResponse response;
  std::string password = request.password();
  if (password.empty()) {
    ASSIGN_OR_RETURN(password, NewOneTimePassword());
    user.password_change_required = true;
    response.set_one_time_password(password);
  } else {
    RETURN_IF_ERROR(CheckPasswordPolicy(password, user.username));
  }
  ASSIGN_OR_RETURN(user.password_hash, hasher_->Hash(password));
  RETURN_IF_ERROR(store_->CreateUser(user));
  log::Info("user created", {{"user", user.username}, {"roles", absl::StrJoin(user.roles, ",")}});
  *response.mutable_user() = ToProto(user);
  return response;
}

absl::StatusOr<v1::User> Authority::GetUser(const std::string& username) {
  RETURN_IF_ERROR(ValidateAccountName(username, "username"));
  ASSIGN_OR_RETURN(UserRecord user, store_->GetUser(username));
  return ToProto(user);
}

absl::StatusOr<v1::ListUsersResponse> Authority::ListUsers(const v1::ListUsersRequest& request) {
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  const int page_size = request.page_size() == 0 ? kDefaultPageSize
                                                 : std::min(request.page_size(), kMaxPageSize);
  std::string after;
  if (!request.page_token().empty()) {
    if (request.page_token().size() > 128 ||
        !absl::WebSafeBase64Unescape(request.page_token(), &after) ||
        !ValidateAccountName(after, "page_token").ok()) {
      return absl::InvalidArgumentError(
          "page_token: not a token from a previous ListUsers response");
    }
  }
  ASSIGN_OR_RETURN(std::vector<UserRecord> users, store_->ListUsers(after, page_size + 1));
  v1::ListUsersResponse response;
  for (size_t i = 0; i < users.size() && i < static_cast<size_t>(page_size); ++i) {
    *response.add_users() = ToProto(users[i]);
  }
  if (users.size() > static_cast<size_t>(page_size)) {
    response.set_next_page_token(absl::WebSafeBase64Escape(users[page_size - 1].username));
  }
  return response;
}

absl::StatusOr<v1::User> Authority::UpdateAndReturn(UserRecord user) {
  RETURN_IF_ERROR(store_->UpdateUser(user));
  ++user.version;
  return ToProto(user);
}

absl::StatusOr<v1::User> Authority::ChangeUser(
    const std::string& username, const std::function<absl::StatusOr<bool>(UserRecord&)>& change) {
  // Each retry means another writer committed; this many in a row is a user under a storm of
  // changes, which the caller may retry later.
  constexpr int kAttempts = 16;
  absl::BitGen random;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ASSIGN_OR_RETURN(UserRecord user, store_->GetUser(username));
    ASSIGN_OR_RETURN(bool changed, change(user));
    if (!changed) return ToProto(user);
    absl::Status written = store_->UpdateUser(user);
    if (absl::IsAborted(written)) {
      // Wait a random while, longer after each loss (up to 16 ms), so that writers racing for
      // one user spread out instead of colliding again in step: without it, one of eight
      // administrators granting at once could lose 16 times in a row.
      absl::SleepFor(absl::Microseconds(absl::Uniform(random, 0, 500 << std::min(attempt, 5))));
      continue;
    }
    RETURN_IF_ERROR(written);
    ++user.version;
    return ToProto(user);
  }
  return absl::AbortedError(
      absl::StrCat("user ", username, " is being changed by others at the same time; try again"));
}

absl::StatusOr<v1::User> Authority::SetDisabled(const std::string& username, bool disabled) {
  RETURN_IF_ERROR(ValidateAccountName(username, "username"));
  ASSIGN_OR_RETURN(v1::User result, ChangeUser(username, [&](UserRecord& user) {
                     if (user.disabled == disabled) return false;
                     user.disabled = disabled;
                     return true;
                   }));
  if (disabled) RETURN_IF_ERROR(store_->RevokeRefreshTokensOf(username));
  log::Info(disabled ? "user disabled" : "user enabled", {{"user", username}});
  return result;
}

absl::StatusOr<v1::User> Authority::GrantRole(const std::string& username,
                                              const std::string& role) {
  RETURN_IF_ERROR(ValidateAccountName(username, "username"));
  ASSIGN_OR_RETURN(std::string canonical, CanonicalRole(role, "role"));
  bool granted = false;
  ASSIGN_OR_RETURN(v1::User result,
                   ChangeUser(username, [&](UserRecord& user) -> absl::StatusOr<bool> {
                     if (std::find(user.roles.begin(), user.roles.end(), canonical) !=
                         user.roles.end()) {
                       return false;  // already held
                     }
                     if (user.roles.size() >= kMaxRoles) {
                       return absl::FailedPreconditionError(
                           absl::StrCat("a user holds at most ", kMaxRoles, " roles"));
                     }
                     user.roles.push_back(canonical);
                     return granted = true;
                   }));
  if (granted) log::Info("role granted", {{"user", username}, {"role", canonical}});
  return result;
}

absl::StatusOr<v1::User> Authority::RevokeRole(const std::string& username,
                                               const std::string& role) {
  RETURN_IF_ERROR(ValidateAccountName(username, "username"));
  ASSIGN_OR_RETURN(std::string canonical, CanonicalRole(role, "role"));
  bool revoked = false;
  ASSIGN_OR_RETURN(v1::User result, ChangeUser(username, [&](UserRecord& user) {
                     auto it = std::find(user.roles.begin(), user.roles.end(), canonical);
                     if (it == user.roles.end()) return false;  // idempotent
                     user.roles.erase(it);
                     return revoked = true;
                   }));
  if (revoked) log::Info("role revoked", {{"user", username}, {"role", canonical}});
  return result;
}

absl::StatusOr<v1::User> Authority::SetClearance(const std::string& username,
                                                 common::Classification clearance) {
  RETURN_IF_ERROR(ValidateAccountName(username, "username"));
  RETURN_IF_ERROR(ValidateClearance(clearance, "clearance"));
  return ChangeUser(username, [&](UserRecord& user) {
    if (user.clearance == clearance) return false;
    user.clearance = clearance;
    return true;
  });
}

v1::ListRolesResponse Authority::ListRoles() {
  struct Info {
    const char* name;
    const char* scope;
    const char* description;
  };
  static constexpr Info kRoles[] = {
      {"platform-admin", "", "everything, including users, roles, service accounts and keys"},
      {"dataset-owner", "organisation",
       "create, change, publish, retire and delete the organisation's datasets and write their "
       "readings"},
      {"data-steward", "", "read (drafts too), change metadata, publish and retire any dataset"},
      {"reader", "", "read published datasets within the clearance"},
      {"ingest-writer", "dataset", "write readings and files to the dataset"},
      {"auditor", "", "read the audit log"},
      {"archivist", "", "export datasets to the archive"},
      {"audit-writer", "", "append events to the audit log (for the services' own accounts)"},
      {"platform-service", "",
       "read every dataset within the clearance, without a second factor when it is a service "
       "account (for the platform's own services)"},
  };
  v1::ListRolesResponse response;
  for (const Info& info : kRoles) {
    v1::RoleInfo* role = response.add_roles();
    role->set_name(info.name);
    role->set_scope_kind(info.scope);
    role->set_description(info.description);
  }
  return response;
}

// ---- self-service ----

absl::StatusOr<std::string> Authority::SelfOrAdmin(const Principal& caller,
                                                   const std::string& username, bool* is_self) {
  std::string own;
  if (absl::StartsWith(caller.subject, "user:")) own = caller.subject.substr(5);
  const std::string target = username.empty() ? own : username;
  if (target.empty()) {
    return absl::InvalidArgumentError(
        "username: required (only local users have a password and a second factor here)");
  }
  RETURN_IF_ERROR(ValidateAccountName(target, "username"));
  *is_self = !own.empty() && target == own && caller.actor.empty();
  if (!*is_self && !IsAdmin(caller)) {
    return absl::PermissionDeniedError(
        "only the user themself or a platform-admin may do this for a user");
  }
  return target;
}

absl::Status Authority::SetPassword(const Principal& caller,
                                    const v1::SetPasswordRequest& request) {
  bool is_self = false;
  ASSIGN_OR_RETURN(std::string username, SelfOrAdmin(caller, request.username(), &is_self));
  if (request.new_password().empty()) return absl::InvalidArgumentError("new_password: required");
  RETURN_IF_ERROR(CheckSize(request.current_password(), kMaxPasswordBytes, "current_password"));
  if (absl::Status policy = CheckPasswordPolicy(request.new_password(), username); !policy.ok()) {
    std::string message(policy.message());
    if (absl::StartsWith(message, "password:")) message = absl::StrCat("new_", message);
    return absl::InvalidArgumentError(message);
  }
  ASSIGN_OR_RETURN(UserRecord user, store_->GetUser(username));
  const absl::Time now = clock_->Now();
  if (is_self) {
    if (request.current_password().empty()) {
      return absl::InvalidArgumentError(
          "current_password: required when you change your own password");
    }
    const std::string account_key = absl::StrCat("user:", username);
    RETURN_IF_ERROR(CheckNotLocked(account_key, now));
    ASSIGN_OR_RETURN(bool ok, hasher_->Verify(request.current_password(), user.password_hash));
    if (!ok) {
      RecordFailure(account_key, options_.account_max_failures, now);
      return absl::PermissionDeniedError("current_password: is not your current password");
    }
    if (request.current_password() == request.new_password()) {
      return absl::InvalidArgumentError("new_password: must differ from the current password");
    }
  }
  ASSIGN_OR_RETURN(user.password_hash, hasher_->Hash(request.new_password()));
  // A password an administrator chose is known to them: the user replaces it at next sign-in.
  user.password_change_required = !is_self;
  RETURN_IF_ERROR(store_->UpdateUser(user));
  // Sessions started with the old password end.
  RETURN_IF_ERROR(store_->RevokeRefreshTokensOf(username));
  RETURN_IF_ERROR(store_->ClearFailures(absl::StrCat("user:", username)));
  log::Info("password set", {{"user", username}, {"by", caller.subject}});
  return absl::OkStatus();
}

absl::StatusOr<v1::EnrollTotpResponse> Authority::EnrollTotp(
    const Principal& caller, const v1::EnrollTotpRequest& request) {
  bool is_self = false;
  ASSIGN_OR_RETURN(std::string username, SelfOrAdmin(caller, request.username(), &is_self));
  ASSIGN_OR_RETURN(UserRecord user, store_->GetUser(username));
  if (is_self && user.password_change_required) {
    return absl::FailedPreconditionError("change your one-time password first (SetPassword)");
  }
  if (user.totp_confirmed) {
    return absl::FailedPreconditionError(
        "a TOTP authenticator is already enrolled; disable it first to enrol a new one");
  }
  ASSIGN_OR_RETURN(user.totp_secret, NewTotpSecret());
  user.totp_confirmed = false;
  RETURN_IF_ERROR(store_->UpdateUser(user));
  v1::EnrollTotpResponse response;
  response.set_secret_base32(Base32Encode(user.totp_secret));
  ASSIGN_OR_RETURN(std::string uri, OtpauthUri(options_.totp_issuer, username, user.totp_secret));
  response.set_otpauth_uri(std::move(uri));
  log::Info("TOTP enrolment started", {{"user", username}});
  return response;
}

absl::StatusOr<v1::User> Authority::ConfirmTotp(const Principal& caller,
                                                const v1::ConfirmTotpRequest& request) {
  bool is_self = false;
  ASSIGN_OR_RETURN(std::string username, SelfOrAdmin(caller, request.username(), &is_self));
  if (request.code().empty()) return absl::InvalidArgumentError("code: required");
  RETURN_IF_ERROR(CheckSize(request.code(), kMaxCodeBytes, "code"));
  ASSIGN_OR_RETURN(UserRecord user, store_->GetUser(username));
  if (user.totp_secret.empty() || user.totp_confirmed) {
    return absl::FailedPreconditionError(
        user.totp_confirmed ? "TOTP is already confirmed"
                            : "no TOTP enrolment to confirm; call EnrollTotp first");
  }
  const absl::Time now = clock_->Now();
  const std::string account_key = absl::StrCat("user:", username);
  RETURN_IF_ERROR(CheckNotLocked(account_key, now));
  ASSIGN_OR_RETURN(TotpVerifier verifier, TotpVerifier::Create(*clock_));
  absl::StatusOr<int64_t> step = verifier.Verify(user.totp_secret, request.code(),
                                                 user.totp_last_step);
  if (!step.ok()) {
    if (absl::IsInvalidArgument(step.status())) return step.status();
    RecordFailure(account_key, options_.account_max_failures, now);
    return absl::InvalidArgumentError(
        "code: does not match; check that the device's clock is right and try the next code");
  }
  ASSIGN_OR_RETURN(bool stored, store_->CompareAndSetTotpStep(username, user.totp_last_step, *step));
  if (!stored) return absl::AbortedError("the enrolment changed meanwhile; try again");
  user.totp_confirmed = true;
  log::Info("TOTP enrolled", {{"user", username}});
  return UpdateAndReturn(user);
}

absl::StatusOr<v1::User> Authority::DisableTotp(const Principal& caller,
                                                const v1::DisableTotpRequest& request) {
  bool is_self = false;
  ASSIGN_OR_RETURN(std::string username, SelfOrAdmin(caller, request.username(), &is_self));
  ASSIGN_OR_RETURN(v1::User result,
                   ChangeUser(username, [&](UserRecord& user) -> absl::StatusOr<bool> {
                     // Without this, a stolen password-only session could remove the second
                     // factor. A platform-admin may remove anyone's (a lost phone).
                     if (is_self && user.totp_confirmed && !caller.two_factor &&
                         !IsAdmin(caller)) {
                       return absl::UnauthenticatedError(
                           "a second factor is needed: sign in with your TOTP code to remove it");
                     }
                     user.totp_secret.clear();
                     user.totp_confirmed = false;
                     return true;
                   }));
  log::Info("TOTP removed", {{"user", username}, {"by", caller.subject}});
  return result;
}

// ---- service accounts ----

absl::StatusOr<v1::CreateServiceAccountResponse> Authority::CreateServiceAccount(
    const v1::CreateServiceAccountRequest& request) {
  RETURN_IF_ERROR(ValidateAccountName(request.name(), "name"));
  RETURN_IF_ERROR(CheckSize(request.description(), kMaxDescriptionBytes, "description"));
  RETURN_IF_ERROR(ValidateClearance(request.clearance(), "clearance"));
  ASSIGN_OR_RETURN(std::vector<std::string> roles, CanonicalRoles(request.roles()));
  ASSIGN_OR_RETURN(std::string secret, RandomToken());
  ServiceAccountRecord account;
  account.name = request.name();
  account.description = request.description();
  account.roles = std::move(roles);
  account.clearance = request.clearance();
  account.secret_hash = HexSha256(secret);
  account.create_time = account.secret_rotate_time = clock_->Now();
  RETURN_IF_ERROR(store_->CreateServiceAccount(account));
  log::Info("service account created", {{"service_account", account.name}});
  v1::CreateServiceAccountResponse response;
  *response.mutable_service_account() = ToProto(account);
  response.set_client_secret(std::move(secret));
  return response;
}

absl::StatusOr<v1::ListServiceAccountsResponse> Authority::ListServiceAccounts() {
  ASSIGN_OR_RETURN(std::vector<ServiceAccountRecord> accounts, store_->ListServiceAccounts());
  v1::ListServiceAccountsResponse response;
  for (const auto& account : accounts) *response.add_service_accounts() = ToProto(account);
  return response;
}

absl::StatusOr<v1::RotateServiceAccountSecretResponse> Authority::RotateServiceAccountSecret(
    const std::string& name) {
  RETURN_IF_ERROR(ValidateAccountName(name, "name"));
  ASSIGN_OR_RETURN(std::string secret, RandomToken());
  RETURN_IF_ERROR(store_->SetServiceAccountSecret(name, HexSha256(secret), clock_->Now()));
  log::Info("service account secret rotated", {{"service_account", name}});
  v1::RotateServiceAccountSecretResponse response;
  response.set_client_secret(std::move(secret));
  return response;
}

absl::Status Authority::DeleteServiceAccount(const std::string& name) {
  RETURN_IF_ERROR(ValidateAccountName(name, "name"));
  RETURN_IF_ERROR(store_->DeleteServiceAccount(name));
  log::Info("service account deleted", {{"service_account", name}});
  return absl::OkStatus();
}

// ---- start-up ----

absl::StatusOr<Authority::BootstrapResult> Authority::Bootstrap(
    const std::string& username, const std::string& password,
    const std::string& totp_secret_base32) {
  RETURN_IF_ERROR(ValidateAccountName(username, "--bootstrap_admin"));
  std::string totp_secret;
  if (!totp_secret_base32.empty()) {
    absl::StatusOr<std::string> decoded = Base32Decode(totp_secret_base32);
    if (!decoded.ok() || decoded->size() < 16) {
      return absl::InvalidArgumentError(
          "--bootstrap_admin_totp_secret_file: expected a Base32 secret of at least 128 bits");
    }
    if (password.empty()) {
      return absl::InvalidArgumentError(
          "--bootstrap_admin_totp_secret_file: needs --bootstrap_admin_password_file too (a "
          "one-time password must be changed before a second factor is set)");
    }
    totp_secret = *std::move(decoded);
  }
  ASSIGN_OR_RETURN(int64_t users, store_->CountUsers());
  if (users > 0) return BootstrapResult{};
  v1::CreateUserRequest request;
  request.set_username(username);
  request.set_display_name("Bootstrap administrator");
  request.add_roles("platform-admin");
  request.set_clearance(common::CLASSIFICATION_STRICTLY_PROTECTED);
  request.set_password(password);
  absl::StatusOr<v1::CreateUserResponse> created = CreateUser(request);
  if (absl::IsAlreadyExists(created.status())) return BootstrapResult{};  // another replica
  RETURN_IF_ERROR(created.status());
  if (!totp_secret.empty()) {
    ASSIGN_OR_RETURN(UserRecord user, store_->GetUser(username));
    user.totp_secret = std::move(totp_secret);
    user.totp_confirmed = true;
    RETURN_IF_ERROR(store_->UpdateUser(user));
  }
  return BootstrapResult{true, created->one_time_password()};
}

absl::Status Authority::PurgeExpired() {
  ASSIGN_OR_RETURN(int64_t deleted,
                   store_->DeleteRefreshTokensExpiredBefore(clock_->Now() - absl::Hours(24)));
  if (deleted > 0) log::Info("expired refresh tokens removed", {{"count", deleted}});
  return absl::OkStatus();
}

}  // namespace smartby::auth
