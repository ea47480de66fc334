// Token verification (RFC 8725) for every service: a JWS access token in, a Principal out, with no
// network hop per call. Keys come from a cached key set per issuer, refetched from its KeySource
// only when needed and never more often than the configured interval.
//
// What Verify() checks, in order (all failures are UNAUTHENTICATED with a short message that never
// quotes the token):
//   1. at most kMaxTokenBytes, three base64url parts, header and payload JSON objects, no "crit";
//   2. header "alg" is ES256, EdDSA or RS256 ("none" and HS* are refused before anything else);
//   3. "iss" names a configured issuer (exact match), and "alg" is in that issuer's allow-list;
//   4. header "kid" is present and names a key in the issuer's cached key set (jku, x5u and jwk
//      header members are ignored: keys come only from the configured source) whose own alg equals
//      the header alg;
//   5. the signature verifies;
//   6. "exp" present and now <= exp + skew; "nbf", if present, now >= nbf - skew; "iat", if
//      present, not after now + skew; "aud" (string or array) contains a configured audience;
//      "sub" a non-empty string;
//   7. the claims map to a Principal as principal.h documents.
// Claims are only interpreted after the signature has been verified; "iss" is read before only to
// choose the issuer whose keys and rules apply.
//
// Mapping choices (claims -> Principal):
//   - "roles" entries that ParseRoleGrant does not understand are skipped, silently: an auth
//     service newer than this one may grant roles this build does not know, and skipping only ever
//     takes rights away (deny by default). A "roles" claim that is not an array of strings makes
//     the token invalid.
//   - an unknown "clearance" value leaves the clearance UNSPECIFIED (again fail-closed); a
//     non-string clearance makes the token invalid.
//   - two_factor is "tfa": true, or an "acr" value / an "amr" entry the issuer lists as two-factor.
//   - actor is "act"."sub" (the party acting for the subject) (principal.h), client_id is "client_id", expires is "exp".
#ifndef SMARTBY_RUNTIME_AUTH_TOKEN_VERIFIER_H_
#define SMARTBY_RUNTIME_AUTH_TOKEN_VERIFIER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/runtime/auth/jose.h"
#include "services/runtime/auth/principal.h"
#include "services/runtime/clock.h"

namespace smartby::auth {

// Where an issuer's public keys come from: the auth service's own key store, a JWKS file, or a
// JWKS URL of an external identity provider. Called only by CachedKeySet, never on every request.
// Implementations must be thread-safe; CachedKeySet calls FetchKeys from one thread at a time.
class KeySource {
 public:
  virtual ~KeySource() = default;
  // The complete current key set. An error leaves the cached set unchanged.
  virtual absl::StatusOr<std::vector<VerificationKey>> FetchKeys() = 0;
};

// A fixed key list, for tests and for a JWKS file loaded at start-up.
class StaticKeySource : public KeySource {
 public:
  explicit StaticKeySource(std::vector<VerificationKey> keys) : keys_(std::move(keys)) {}
  absl::StatusOr<std::vector<VerificationKey>> FetchKeys() override { return keys_; }

 private:
  const std::vector<VerificationKey> keys_;
};

// The key set of one issuer, cached. Lookups are by kid and only ever in the cache. A lookup of an
// unknown kid, or one made when the cache is older than max_age, fetches the set again, but never
// more than once per min_refetch_interval (measured on the Clock), so a flood of tokens with bogus
// kids costs the key source one fetch per interval. A failed fetch keeps the previous keys (an
// identity provider's JWKS outage must not log everybody out) and counts as a fetch for the limit.
//
// Thread safety: thread-safe. Find() of a cached kid takes a shared lock only; one thread at a time
// fetches, other lookups of cached kids are not blocked while it does.
class CachedKeySet {
 public:
  struct Options {
    absl::Duration min_refetch_interval = absl::Seconds(30);
    // Keys that disappeared from the source stop verifying at most this long after (plus one
    // refetch interval). Also bounds how long a rotated-out key stays trusted.
    absl::Duration max_age = absl::Minutes(10);
  };

  // `source` and `clock` must outlive the key set.
  CachedKeySet(KeySource* source, const Clock* clock, Options options);
  CachedKeySet(KeySource* source, const Clock* clock) : CachedKeySet(source, clock, Options()) {}

  // The key with this kid. NOT_FOUND when it is not in the (possibly just refetched) set.
  absl::StatusOr<VerificationKey> Find(absl::string_view kid);

  // Fetches now, regardless of the interval (start-up, or an operator's "reload keys"). Returns
  // the fetch error, if any; the previous keys stay in place on error.
  absl::Status Refresh();

  // The kids currently cached, for diagnostics and tests.
  std::vector<std::string> CachedKids() const;

 private:
  using KeyMap = std::map<std::string, VerificationKey, std::less<>>;

  // Fetches if the rate limit allows; called with fetch_mu_ held.
  void MaybeFetchLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(fetch_mu_);
  absl::Status FetchLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(fetch_mu_);

  KeySource* const source_;
  const Clock* const clock_;
  const Options options_;

  // Serialises fetches; never held while mu_ is wanted by a reader for long.
  absl::Mutex fetch_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Time last_attempt_ ABSL_GUARDED_BY(fetch_mu_) = absl::InfinitePast();

  mutable absl::Mutex mu_;
  std::shared_ptr<const KeyMap> keys_ ABSL_GUARDED_BY(mu_) = std::make_shared<const KeyMap>();
  absl::Time fetched_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// The rules for tokens of one issuer.
struct IssuerConfig {
  std::string issuer;                           // exact "iss"
  std::vector<std::string> audiences;           // accepted "aud" values; at least one
  std::vector<std::string> allowed_algs;        // subset of ES256, EdDSA, RS256; at least one
  absl::Duration max_skew = absl::Seconds(30);  // 0 .. 5 minutes
  // "acr" values and "amr" entries that count as a second factor (federated issuers, e.g.
  // "idporten-loa-high"); platform tokens carry "tfa" instead.
  std::vector<std::string> two_factor_acr_values;
  std::vector<std::string> two_factor_amr_values;
  // The issuer's keys; required. Shared so the auth service can Refresh() it on rotation.
  std::shared_ptr<CachedKeySet> keys;
};

// The verified token, before mapping to a Principal: for the token-exchange RPC, which maps an
// external identity provider's claims (oid, tid, pid, roles) itself.
struct VerifiedToken {
  const IssuerConfig* issuer;  // the configuration that accepted it; owned by the verifier
  nlohmann::json header;
  nlohmann::json claims;
};

// The seam services and interceptors depend on. Implementations are thread-safe.
class TokenVerifier {
 public:
  virtual ~TokenVerifier() = default;
  // UNAUTHENTICATED, with a short plain message, when the token is not acceptable.
  virtual absl::StatusOr<Principal> Verify(absl::string_view token) const = 0;
};

// The JWT implementation of TokenVerifier described at the top of this file.
//
// Verified-token cache: one ECDSA P-256 verification alone costs ~70 µs on the reference 2-core
// machine and Ed25519 ~110 µs, above the 60 µs p50 budget (issue 3), while a client sends the
// same access token with every call for its lifetime. So Verify() remembers the Principal of
// tokens it accepted, keyed by the exact token text (no hash-only matching). A hit is accepted only
// when the signing key is still in the issuer's key set as the same key object (the cache holds a
// reference, so a rotated-out or replaced key turns every hit for it into a full verification,
// which then fails) and the current time is still inside the token's validity window; otherwise
// the token goes through full verification again. Only accepted tokens are cached, so garbage
// cannot fill it; at capacity expired entries are dropped, then everything (bounded memory).
//
// Thread safety: thread-safe; the configuration is immutable after Create().
class JwtTokenVerifier final : public TokenVerifier {
 public:
  struct Options {
    // Accepted tokens remembered; 0 turns the cache off.
    size_t token_cache_size = 4096;
  };

  // INVALID_ARGUMENT, naming the field, for an empty or duplicate issuer, no audiences, an
  // algorithm outside ES256/EdDSA/RS256 (so "none" and HS* cannot even be configured), a skew
  // outside 0..5 minutes, or a missing key set. `clock` must outlive the verifier.
  static absl::StatusOr<std::unique_ptr<JwtTokenVerifier>> Create(std::vector<IssuerConfig> issuers,
                                                                  const Clock* clock,
                                                                  Options options);
  static absl::StatusOr<std::unique_ptr<JwtTokenVerifier>> Create(std::vector<IssuerConfig> issuers,
                                                                  const Clock* clock) {
    return Create(std::move(issuers), clock, Options());
  }

  absl::StatusOr<Principal> Verify(absl::string_view token) const override;

  // Steps 1-6 of Verify(), without the Principal mapping and without the cache.
  absl::StatusOr<VerifiedToken> VerifyClaims(absl::string_view token) const;

 private:
  struct CachedToken {
    Principal principal;
    const IssuerConfig* issuer;
    std::string kid;
    SharedPkey key;  // the key that verified it; held so its address cannot be reused
    absl::Time valid_from;
    absl::Time valid_until;
  };

  JwtTokenVerifier(std::vector<IssuerConfig> issuers, const Clock* clock, Options options);
  absl::StatusOr<VerifiedToken> VerifyClaimsWithKey(absl::string_view token,
                                                    SharedPkey* key_used) const;
  std::optional<Principal> FromCache(absl::string_view token) const;
  void Remember(absl::string_view token, CachedToken entry) const;

  const std::vector<IssuerConfig> issuers_;
  std::map<std::string, const IssuerConfig*, std::less<>> by_issuer_;  // into issuers_
  const Clock* const clock_;
  const Options options_;

  mutable absl::Mutex cache_mu_;
  mutable std::unordered_map<std::string, CachedToken> cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace smartby::auth

#endif  // SMARTBY_RUNTIME_AUTH_TOKEN_VERIFIER_H_
