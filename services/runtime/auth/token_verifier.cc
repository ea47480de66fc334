#include "services/runtime/auth/token_verifier.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace smartby::auth {
namespace {

constexpr absl::Duration kMaxSkew = absl::Minutes(5);

absl::Status Unauthenticated(absl::string_view message) {
  return absl::UnauthenticatedError(message);
}

// A NumericDate (RFC 7519 §2): seconds since the epoch, integer or not. nullopt when `value` is
// not a number.
std::optional<absl::Time> NumericDate(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t seconds = value.get<uint64_t>();
    if (seconds > uint64_t{std::numeric_limits<int64_t>::max()}) return absl::InfiniteFuture();
    return absl::FromUnixSeconds(static_cast<int64_t>(seconds));
  }
  if (value.is_number_integer()) return absl::FromUnixSeconds(value.get<int64_t>());
  if (value.is_number_float()) return absl::UnixEpoch() + absl::Seconds(value.get<double>());
  return std::nullopt;
}

bool Contains(const std::vector<std::string>& list, absl::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

absl::Status CheckAudience(const nlohmann::json& claims, const IssuerConfig& issuer) {
  auto aud = claims.find("aud");
  if (aud == claims.end()) return Unauthenticated("token has no audience");
  if (aud->is_string()) {
    if (Contains(issuer.audiences, aud->get_ref<const std::string&>())) return absl::OkStatus();
    return Unauthenticated("token is for another audience");
  }
  if (!aud->is_array()) return Unauthenticated("token audience is not a string or a list");
  for (const nlohmann::json& entry : *aud) {
    if (!entry.is_string()) return Unauthenticated("token audience is not a string or a list");
    if (Contains(issuer.audiences, entry.get_ref<const std::string&>())) return absl::OkStatus();
  }
  return Unauthenticated("token is for another audience");
}

absl::Status CheckTimes(const nlohmann::json& claims, const IssuerConfig& issuer, absl::Time now) {
  auto exp = claims.find("exp");
  if (exp == claims.end()) return Unauthenticated("token has no expiry time");
  std::optional<absl::Time> expires = NumericDate(*exp);
  if (!expires) return Unauthenticated("token expiry time is not a number");
  if (now > *expires + issuer.max_skew) return Unauthenticated("token expired");

  auto nbf = claims.find("nbf");
  if (nbf != claims.end()) {
    std::optional<absl::Time> not_before = NumericDate(*nbf);
    if (!not_before) return Unauthenticated("token not-before time is not a number");
    if (now < *not_before - issuer.max_skew) return Unauthenticated("token is not valid yet");
  }
  auto iat = claims.find("iat");
  if (iat != claims.end()) {
    std::optional<absl::Time> issued = NumericDate(*iat);
    if (!issued) return Unauthenticated("token issue time is not a number");
    if (*issued > now + issuer.max_skew) return Unauthenticated("token was issued in the future");
  }
  return absl::OkStatus();
}

// A string claim, or "" when absent. nullopt when present but not a string.
std::optional<std::string> OptionalString(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

bool TwoFactor(const nlohmann::json& claims, const IssuerConfig& issuer) {
  auto tfa = claims.find("tfa");
  if (tfa != claims.end() && tfa->is_boolean() && tfa->get<bool>()) return true;
  auto acr = claims.find("acr");
  if (acr != claims.end() && acr->is_string() &&
      Contains(issuer.two_factor_acr_values, acr->get_ref<const std::string&>())) {
    return true;
  }
  auto amr = claims.find("amr");
  if (amr != claims.end() && amr->is_array()) {
    for (const nlohmann::json& method : *amr) {
      if (method.is_string() &&
          Contains(issuer.two_factor_amr_values, method.get_ref<const std::string&>())) {
        return true;
      }
    }
  }
  return false;
}

absl::StatusOr<Principal> ToPrincipal(const VerifiedToken& token) {
  const nlohmann::json& claims = token.claims;
  Principal principal;
  principal.issuer = token.issuer->issuer;
  principal.subject = claims.at("sub").get<std::string>();  // checked by VerifyClaims
  principal.expires = *NumericDate(claims.at("exp"));       // checked by VerifyClaims

  auto roles = claims.find("roles");
  if (roles != claims.end()) {
    if (!roles->is_array()) return Unauthenticated("token roles claim is not a list of strings");
    for (const nlohmann::json& entry : *roles) {
      if (!entry.is_string()) return Unauthenticated("token roles claim is not a list of strings");
      // Unknown or malformed grants are skipped on purpose: see the header comment.
      absl::StatusOr<RoleGrant> grant = ParseRoleGrant(entry.get_ref<const std::string&>());
      if (grant.ok()) principal.roles.push_back(*std::move(grant));
    }
  }

  auto clearance = claims.find("clearance");
  if (clearance != claims.end()) {
    if (!clearance->is_string()) return Unauthenticated("token clearance claim is not a string");
    std::optional<smartcity::common::v1::Classification> parsed =
        ParseClearance(clearance->get_ref<const std::string&>());
    if (parsed) principal.clearance = *parsed;
  }

  auto tfa = claims.find("tfa");
  if (tfa != claims.end() && !tfa->is_boolean()) {
    return Unauthenticated("token tfa claim is not true or false");
  }
  principal.two_factor = TwoFactor(claims, *token.issuer);

  auto act = claims.find("act");
  if (act != claims.end()) {
    auto actor = act->is_object() ? act->find("sub") : act->end();
    if (!act->is_object() || actor == act->end() || !actor->is_string()) {
      return Unauthenticated("token act claim is not an object with a subject");
    }
    principal.actor = actor->get<std::string>();
  }

  std::optional<std::string> client_id = OptionalString(claims, "client_id");
  if (!client_id) return Unauthenticated("token client_id claim is not a string");
  principal.client_id = *std::move(client_id);
  return principal;
}

}  // namespace

// --- CachedKeySet -----------------------------------------------------------------------------

CachedKeySet::CachedKeySet(KeySource* source, const Clock* clock, Options options)
    : source_(source), clock_(clock), options_(options) {}

absl::StatusOr<VerificationKey> CachedKeySet::Find(absl::string_view kid) {
  const absl::Time now = clock_->Now();
  // Fast path: a cached, fresh key.
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = keys_->find(kid);
    if (it != keys_->end() && now - fetched_at_ <= options_.max_age) return it->second;
  }
  {
    absl::MutexLock fetch_lock(&fetch_mu_);
    MaybeFetchLocked(now);
  }
  absl::ReaderMutexLock lock(&mu_);
  auto it = keys_->find(kid);
  if (it == keys_->end()) return absl::NotFoundError("no key with this kid");
  return it->second;  // possibly stale when the source is failing: see the class comment
}

void CachedKeySet::MaybeFetchLocked(absl::Time now) {
  // Another thread may have fetched while this one waited for fetch_mu_; its attempt counts.
  if (now - last_attempt_ < options_.min_refetch_interval) return;
  FetchLocked(now).IgnoreError();  // the old keys stay; the lookup reports what it finds
}

absl::Status CachedKeySet::FetchLocked(absl::Time now) {
  last_attempt_ = now;
  absl::StatusOr<std::vector<VerificationKey>> fetched = source_->FetchKeys();
  if (!fetched.ok()) return fetched.status();
  auto keys = std::make_shared<KeyMap>();
  for (VerificationKey& key : *fetched) {
    if (key.key == nullptr || key.kid.empty()) continue;
    std::string kid = key.kid;
    keys->insert_or_assign(std::move(kid), std::move(key));
  }
  absl::MutexLock lock(&mu_);
  keys_ = std::move(keys);
  fetched_at_ = now;
  return absl::OkStatus();
}

absl::Status CachedKeySet::Refresh() {
  absl::MutexLock fetch_lock(&fetch_mu_);
  return FetchLocked(clock_->Now());
}

std::vector<std::string> CachedKeySet::CachedKids() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> kids;
  for (const auto& [kid, key] : *keys_) kids.push_back(kid);
  return kids;
}

// --- JwtTokenVerifier -------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<JwtTokenVerifier>> JwtTokenVerifier::Create(
    std::vector<IssuerConfig> issuers, const Clock* clock, Options options) {
  if (clock == nullptr) return absl::InvalidArgumentError("clock: required");
  if (issuers.empty()) return absl::InvalidArgumentError("issuers: at least one is required");
  std::set<std::string, std::less<>> seen;
  for (size_t i = 0; i < issuers.size(); ++i) {
    const IssuerConfig& config = issuers[i];
    const std::string field = absl::StrCat("issuers[", i, "]");
    if (config.issuer.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".issuer: required"));
    }
    if (!seen.insert(config.issuer).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".issuer: \"", config.issuer, "\" is configured twice"));
    }
    if (config.audiences.empty() || std::any_of(config.audiences.begin(), config.audiences.end(),
                                                [](const std::string& a) { return a.empty(); })) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".audiences: at least one non-empty audience is required"));
    }
    if (config.allowed_algs.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".allowed_algs: at least one of ES256, EdDSA, RS256 is required"));
    }
    for (const std::string& alg : config.allowed_algs) {
      if (!IsSupportedAlgorithm(alg)) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".allowed_algs: \"", alg, "\" is not accepted; use ES256, EdDSA or RS256"));
      }
    }
    if (config.max_skew < absl::ZeroDuration() || config.max_skew > kMaxSkew) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".max_skew: must be between 0 and 5 minutes"));
    }
    if (config.keys == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".keys: required"));
    }
  }
  return std::unique_ptr<JwtTokenVerifier>(
      new JwtTokenVerifier(std::move(issuers), clock, options));
}

JwtTokenVerifier::JwtTokenVerifier(std::vector<IssuerConfig> issuers, const Clock* clock,
                                   Options options)
    : issuers_(std::move(issuers)), clock_(clock), options_(options) {
  for (const IssuerConfig& config : issuers_) by_issuer_.emplace(config.issuer, &config);
}

absl::StatusOr<VerifiedToken> JwtTokenVerifier::VerifyClaims(absl::string_view token) const {
  return VerifyClaimsWithKey(token, nullptr);
}

absl::StatusOr<VerifiedToken> JwtTokenVerifier::VerifyClaimsWithKey(absl::string_view token,
                                                                    SharedPkey* key_used) const {
  absl::StatusOr<ParsedJws> parsed = ParseJws(token);
  if (!parsed.ok()) return Unauthenticated(parsed.status().message());
  const nlohmann::json& header = parsed->header;
  const nlohmann::json& claims = parsed->payload;

  // RFC 7515 §4.1.11: extensions listed in "crit" must be understood; this verifier knows none.
  if (header.contains("crit")) {
    return Unauthenticated("token uses header extensions this service does not understand");
  }
  auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string() ||
      !IsSupportedAlgorithm(alg_it->get_ref<const std::string&>())) {
    return Unauthenticated("token signed with an algorithm this service does not accept");
  }
  const std::string& alg = alg_it->get_ref<const std::string&>();

  auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string()) return Unauthenticated("token has no issuer");
  auto config_it = by_issuer_.find(iss->get_ref<const std::string&>());
  if (config_it == by_issuer_.end()) {
    return Unauthenticated("token is from an issuer this service does not trust");
  }
  const IssuerConfig& issuer = *config_it->second;
  if (!Contains(issuer.allowed_algs, alg)) {
    return Unauthenticated("token signed with an algorithm this service does not accept");
  }

  auto kid = header.find("kid");
  if (kid == header.end() || !kid->is_string() || kid->get_ref<const std::string&>().empty()) {
    return Unauthenticated("token has no key id");
  }
  absl::StatusOr<VerificationKey> key = issuer.keys->Find(kid->get_ref<const std::string&>());
  if (!key.ok()) return Unauthenticated("token signed by a key this service does not know");
  if (key->alg != alg) return Unauthenticated("token algorithm does not match its signing key");
  if (!VerifyJwsSignature(alg, *key, parsed->signing_input, parsed->signature).ok()) {
    return Unauthenticated("token signature is not valid");
  }

  // Only now is the payload trustworthy.
  const absl::Time now = clock_->Now();
  if (absl::Status status = CheckTimes(claims, issuer, now); !status.ok()) return status;
  if (absl::Status status = CheckAudience(claims, issuer); !status.ok()) return status;
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) {
    return Unauthenticated("token has no subject");
  }
  if (key_used != nullptr) *key_used = key->key;
  return VerifiedToken{&issuer, std::move(parsed->header), std::move(parsed->payload)};
}

absl::StatusOr<Principal> JwtTokenVerifier::Verify(absl::string_view token) const {
  if (options_.token_cache_size > 0) {
    if (std::optional<Principal> cached = FromCache(token)) return *std::move(cached);
  }
  SharedPkey key;
  absl::StatusOr<VerifiedToken> verified = VerifyClaimsWithKey(token, &key);
  if (!verified.ok()) return verified.status();
  absl::StatusOr<Principal> principal = ToPrincipal(*verified);
  if (!principal.ok() || options_.token_cache_size == 0) return principal;

  const IssuerConfig& issuer = *verified->issuer;
  const nlohmann::json& claims = verified->claims;
  CachedToken entry{*principal,
                    &issuer,
                    verified->header.at("kid").get<std::string>(),
                    std::move(key),
                    absl::InfinitePast(),
                    principal->expires + issuer.max_skew};
  for (const char* name : {"nbf", "iat"}) {
    auto it = claims.find(name);
    if (it == claims.end()) continue;
    entry.valid_from = std::max(entry.valid_from, *NumericDate(*it) - issuer.max_skew);
  }
  Remember(token, std::move(entry));
  return principal;
}

std::optional<Principal> JwtTokenVerifier::FromCache(absl::string_view token) const {
  const IssuerConfig* issuer = nullptr;
  std::string kid;
  SharedPkey key;
  std::optional<Principal> principal;
  {
    absl::ReaderMutexLock lock(&cache_mu_);
    auto it = cache_.find(std::string(token));
    if (it == cache_.end()) return std::nullopt;
    const CachedToken& entry = it->second;
    const absl::Time now = clock_->Now();
    if (now < entry.valid_from || now > entry.valid_until) return std::nullopt;
    issuer = entry.issuer;
    kid = entry.kid;
    key = entry.key;
    principal = entry.principal;
  }
  // The signing key must still be trusted, as the very same key (rotation, removal).
  absl::StatusOr<VerificationKey> current = issuer->keys->Find(kid);
  if (!current.ok() || current->key != key) return std::nullopt;
  return principal;
}

void JwtTokenVerifier::Remember(absl::string_view token, CachedToken entry) const {
  absl::MutexLock lock(&cache_mu_);
  if (cache_.size() >= options_.token_cache_size) {
    const absl::Time now = clock_->Now();
    std::erase_if(cache_, [now](const auto& item) { return now > item.second.valid_until; });
    if (cache_.size() >= options_.token_cache_size) cache_.clear();
  }
  cache_.insert_or_assign(std::string(token), std::move(entry));
}

}  // namespace smartby::auth
