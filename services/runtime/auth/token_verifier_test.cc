#include "services/runtime/auth/token_verifier.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/runtime/auth/jose.h"
#include "services/runtime/clock.h"

namespace smartby::auth {
namespace {

using ::smartcity::common::v1::CLASSIFICATION_PROTECTED;
using ::smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPlatform[] = "https://auth.smartby.no";
constexpr char kEntra[] = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112/v2.0";
const absl::Time kStart = absl::FromUnixSeconds(1750000000);

// A key source the test controls, counting how often the cache asks it.
class FakeKeySource : public KeySource {
 public:
  explicit FakeKeySource(std::vector<VerificationKey> keys) : keys_(std::move(keys)) {}

  absl::StatusOr<std::vector<VerificationKey>> FetchKeys() override {
    absl::MutexLock lock(&mu_);
    ++fetches_;
    if (!fail_.ok()) return fail_;
    return keys_;
  }
  void SetKeys(std::vector<VerificationKey> keys) {
    absl::MutexLock lock(&mu_);
    keys_ = std::move(keys);
  }
  void SetFailure(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(status);
  }
  int fetches() const {
    absl::MutexLock lock(&mu_);
    return fetches_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<VerificationKey> keys_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
};

int64_t Seconds(absl::Time t) { return absl::ToUnixSeconds(t); }

std::string Token(absl::string_view header_json, absl::string_view payload_json,
                  absl::string_view signature) {
  return absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload_json), ".",
                      Base64UrlEncode(signature));
}

std::string PublicKeyPem(const SigningKey& key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key.pkey());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// RSA key generation takes tens of milliseconds; each kid's key is made once per test binary.
const SigningKey& SharedRsaKey(const std::string& kid) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* keys = new std::map<std::string, SigningKey>();
  absl::MutexLock lock(&mu);
  auto it = keys->find(kid);
  if (it == keys->end()) it = keys->emplace(kid, *SigningKey::GenerateRS256(kid)).first;
  return it->second;
}

class TokenVerifierTest : public ::testing::Test {
 protected:
  TokenVerifierTest()
      : es256_(*SigningKey::GenerateES256("platform-es-1")),
        eddsa_(*SigningKey::GenerateEdDSA("platform-ed-1")),
        rsa_in_platform_set_(SharedRsaKey("platform-rsa-1")),
        entra_(SharedRsaKey("entra-1")),
        platform_source_(
            {*es256_.PublicKey(), *eddsa_.PublicKey(), *rsa_in_platform_set_.PublicKey()}),
        platform_keys_(std::make_shared<CachedKeySet>(
            &platform_source_, &clock_,
            CachedKeySet::Options{.min_refetch_interval = absl::Seconds(30),
                                  .max_age = absl::Minutes(10)})) {
    // Entra ID publishes n/e, no alg; the issuer is configured from that JWKS document.
    nlohmann::json jwk = *ToJwk(*entra_.PublicKey());
    jwk.erase("alg");
    entra_source_ = std::make_unique<StaticKeySource>(
        *FromJwks(nlohmann::json{{"keys", nlohmann::json::array({jwk})}}));
    entra_keys_ = std::make_shared<CachedKeySet>(entra_source_.get(), &clock_);

    IssuerConfig platform;
    platform.issuer = kPlatform;
    platform.audiences = {"smartby"};
    platform.allowed_algs = {"ES256", "EdDSA"};
    platform.keys = platform_keys_;
    IssuerConfig entra;
    entra.issuer = kEntra;
    entra.audiences = {"api://smartby"};
    entra.allowed_algs = {"RS256"};
    entra.two_factor_amr_values = {"mfa"};
    entra.keys = entra_keys_;
    verifier_ = *JwtTokenVerifier::Create({platform, entra}, &clock_);
  }

  nlohmann::json Claims() const {
    const absl::Time now = clock_.Now();
    return {{"iss", kPlatform},
            {"aud", "smartby"},
            {"sub", "user:alice"},
            {"iat", Seconds(now)},
            {"exp", Seconds(now + absl::Minutes(5))},
            {"jti", "b2f6"},
            {"roles", {"reader", "dataset-owner:Stavanger kommune"}},
            {"clearance", "protected"},
            {"tfa", true},
            {"acr", "totp"},
            {"client_id", "smartctl"}};
  }

  std::string Sign(const SigningKey& key, const nlohmann::json& claims) const {
    return *SignJwt(key, {{"typ", "at+jwt"}}, claims);
  }

  absl::Status Refusal(const std::string& token) const {
    absl::StatusOr<Principal> principal = verifier_->Verify(token);
    if (principal.ok()) return absl::OkStatus();
    EXPECT_EQ(principal.status().code(), absl::StatusCode::kUnauthenticated) << principal.status();
    if (token.size() >= 16) {
      EXPECT_THAT(std::string(principal.status().message()), Not(HasSubstr(token.substr(0, 16))));
    }
    return principal.status();
  }

  SettableClock clock_{kStart};
  SigningKey es256_;
  SigningKey eddsa_;
  SigningKey rsa_in_platform_set_;
  SigningKey entra_;
  FakeKeySource platform_source_;
  std::shared_ptr<CachedKeySet> platform_keys_;
  std::unique_ptr<StaticKeySource> entra_source_;
  std::shared_ptr<CachedKeySet> entra_keys_;
  std::unique_ptr<JwtTokenVerifier> verifier_;
};

// --- accepted tokens --------------------------------------------------------------------------

TEST_F(TokenVerifierTest, Es256TokenGivesThePrincipalItsClaimsDescribe) {
  nlohmann::json claims = Claims();
  claims["act"] = {{"sub", "service:ingestion"}};
  absl::StatusOr<Principal> principal = verifier_->Verify(Sign(es256_, claims));
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->subject, "user:alice");
  EXPECT_EQ(principal->issuer, kPlatform);
  EXPECT_TRUE(principal->Has(Role::kReader));
  EXPECT_TRUE(principal->Has(Role::kDatasetOwner, "Stavanger kommune"));
  EXPECT_FALSE(principal->Has(Role::kDatasetOwner, "Bergen kommune"));
  EXPECT_EQ(principal->clearance, CLASSIFICATION_PROTECTED);
  EXPECT_TRUE(principal->two_factor);
  EXPECT_EQ(principal->actor, "service:ingestion");
  EXPECT_EQ(principal->client_id, "smartctl");
  EXPECT_EQ(principal->expires, kStart + absl::Minutes(5));
}

TEST_F(TokenVerifierTest, EdDsaTokenVerifies) {
  absl::StatusOr<Principal> principal = verifier_->Verify(Sign(eddsa_, Claims()));
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->subject, "user:alice");
}

TEST_F(TokenVerifierTest, MinimalTokenGivesAPrincipalWithoutRights) {
  const nlohmann::json claims = {{"iss", kPlatform},
                                 {"aud", "smartby"},
                                 {"sub", "service:gateway-7"},
                                 {"exp", Seconds(kStart + absl::Minutes(1))}};
  absl::StatusOr<Principal> principal = verifier_->Verify(Sign(es256_, claims));
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_TRUE(principal->roles.empty());
  EXPECT_EQ(principal->clearance, CLASSIFICATION_UNSPECIFIED);
  EXPECT_FALSE(principal->two_factor);
  EXPECT_EQ(principal->actor, "");
}

TEST_F(TokenVerifierTest, AudienceMayBeAListContainingOurs) {
  nlohmann::json claims = Claims();
  claims["aud"] = {"catalogue", "smartby"};
  EXPECT_TRUE(verifier_->Verify(Sign(es256_, claims)).ok());
}

TEST_F(TokenVerifierTest, UnknownRolesAreSkippedNotFatal) {
  nlohmann::json claims = Claims();
  claims["roles"] = {"reader", "time-traveller", "data-steward:with-a-scope-it-takes-not"};
  absl::StatusOr<Principal> principal = verifier_->Verify(Sign(es256_, claims));
  ASSERT_TRUE(principal.ok()) << principal.status();
  ASSERT_EQ(principal->roles.size(), 1u);
  EXPECT_TRUE(principal->Has(Role::kReader));
  EXPECT_FALSE(principal->Has(Role::kDataSteward));
}

TEST_F(TokenVerifierTest, UnknownClearanceGivesNoClearance) {
  nlohmann::json claims = Claims();
  claims["clearance"] = "cosmic-top-secret";
  absl::StatusOr<Principal> principal = verifier_->Verify(Sign(es256_, claims));
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->clearance, CLASSIFICATION_UNSPECIFIED);
}

TEST_F(TokenVerifierTest, ClaimsOfTheWrongTypeMakeTheTokenInvalid) {
  for (auto [name, value] :
       std::vector<std::pair<std::string, nlohmann::json>>{{"roles", "reader"},
                                                           {"roles", {"reader", 7}},
                                                           {"clearance", 3},
                                                           {"tfa", "yes"},
                                                           {"act", "service:x"},
                                                           {"client_id", 12}}) {
    nlohmann::json claims = Claims();
    claims[name] = value;
    EXPECT_THAT(Refusal(Sign(es256_, claims)).message(), HasSubstr(name)) << name;
  }
}

TEST_F(TokenVerifierTest, AcceptsAnExpiredTokenWithinTheSkew) {
  const std::string token = Sign(es256_, Claims());
  clock_.Advance(absl::Minutes(5) + absl::Seconds(30));
  EXPECT_TRUE(verifier_->Verify(token).ok());
}

// --- time -------------------------------------------------------------------------------------

TEST_F(TokenVerifierTest, RefusesExpiredToken) {
  const std::string token = Sign(es256_, Claims());
  clock_.Advance(absl::Minutes(5) + absl::Seconds(31));
  EXPECT_EQ(Refusal(token).message(), "token expired");
}

TEST_F(TokenVerifierTest, RefusesTokenWithoutExpiry) {
  nlohmann::json claims = Claims();
  claims.erase("exp");
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(), "token has no expiry time");
}

TEST_F(TokenVerifierTest, RefusesTokenNotValidYet) {
  nlohmann::json claims = Claims();
  claims["nbf"] = Seconds(kStart + absl::Seconds(31));
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(), "token is not valid yet");
  claims["nbf"] = Seconds(kStart + absl::Seconds(30));  // within the skew
  EXPECT_TRUE(verifier_->Verify(Sign(es256_, claims)).ok());
}

TEST_F(TokenVerifierTest, RefusesTokenIssuedInTheFuture) {
  nlohmann::json claims = Claims();
  claims["iat"] = Seconds(kStart + absl::Minutes(2));
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(), "token was issued in the future");
}

// --- issuer, audience, subject ----------------------------------------------------------------

TEST_F(TokenVerifierTest, RefusesWrongAudience) {
  nlohmann::json claims = Claims();
  claims["aud"] = "some-other-service";
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(), "token is for another audience");
  claims["aud"] = {"a", "b"};
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(), "token is for another audience");
  claims.erase("aud");
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(), "token has no audience");
}

TEST_F(TokenVerifierTest, RefusesUnknownIssuerExactly) {
  nlohmann::json claims = Claims();
  claims["iss"] = "https://auth.smartby.no/";  // trailing slash: a different issuer
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(),
            "token is from an issuer this service does not trust");
  claims.erase("iss");
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(), "token has no issuer");
}

TEST_F(TokenVerifierTest, RefusesTokenWithoutSubject) {
  nlohmann::json claims = Claims();
  claims.erase("sub");
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(), "token has no subject");
}

// --- algorithms -------------------------------------------------------------------------------

TEST_F(TokenVerifierTest, RefusesAlgNone) {
  const nlohmann::json header = {{"alg", "none"}, {"kid", "platform-es-1"}};
  EXPECT_EQ(Refusal(Token(header.dump(), Claims().dump(), "")).message(),
            "token signed with an algorithm this service does not accept");
}

TEST_F(TokenVerifierTest, RefusesHs256SignedWithThePublicKeyAsSecret) {
  // The classic confusion attack: an HMAC keyed with the verifier's own public key.
  for (const std::string& secret : {PublicKeyPem(es256_), ToJwk(*es256_.PublicKey())->dump()}) {
    const nlohmann::json header = {{"alg", "HS256"}, {"kid", "platform-es-1"}};
    const std::string signing_input =
        absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(Claims().dump()));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    ASSERT_NE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                   reinterpret_cast<const unsigned char*>(signing_input.data()),
                   signing_input.size(), mac, &mac_len),
              nullptr);
    const std::string token = absl::StrCat(
        signing_input, ".",
        Base64UrlEncode(absl::string_view(reinterpret_cast<const char*>(mac), mac_len)));
    EXPECT_EQ(Refusal(token).message(),
              "token signed with an algorithm this service does not accept");
  }
}

TEST_F(TokenVerifierTest, RefusesAlgorithmOutsideTheIssuersAllowList) {
  // rsa_in_platform_set_ is a valid, cached key; only the allow-list stops it.
  EXPECT_EQ(Refusal(Sign(rsa_in_platform_set_, Claims())).message(),
            "token signed with an algorithm this service does not accept");
}

TEST_F(TokenVerifierTest, RefusesHeaderAlgThatDoesNotMatchTheKey) {
  // Header says EdDSA (allowed) but names the ES256 key.
  const std::string genuine = Sign(es256_, Claims());
  const std::vector<std::string> parts = absl::StrSplit(genuine, '.');
  const nlohmann::json header = {{"alg", "EdDSA"}, {"kid", "platform-es-1"}};
  const std::string token =
      absl::StrCat(Base64UrlEncode(header.dump()), ".", parts[1], ".", parts[2]);
  EXPECT_EQ(Refusal(token).message(), "token algorithm does not match its signing key");
}

TEST_F(TokenVerifierTest, RefusesCriticalHeaderExtensions) {
  // SignJwt never emits "crit", so build such a token by hand.
  EXPECT_FALSE(SignJwt(es256_, {{"crit", {"b64"}}}, Claims()).ok());
  const nlohmann::json header = {{"alg", "ES256"}, {"kid", "platform-es-1"}, {"crit", {"b64"}}};
  EXPECT_EQ(Refusal(Token(header.dump(), Claims().dump(), std::string(64, 'x'))).message(),
            "token uses header extensions this service does not understand");
}

// --- signatures and structure -----------------------------------------------------------------

TEST_F(TokenVerifierTest, RefusesTamperedPayload) {
  const std::vector<std::string> parts = absl::StrSplit(Sign(es256_, Claims()), '.');
  nlohmann::json claims = Claims();
  claims["roles"] = {"platform-admin"};
  const std::string token =
      absl::StrCat(parts[0], ".", Base64UrlEncode(claims.dump()), ".", parts[2]);
  EXPECT_EQ(Refusal(token).message(), "token signature is not valid");
}

TEST_F(TokenVerifierTest, RefusesSignatureOfAnotherKeyWithTheSameKid) {
  SigningKey impostor = *SigningKey::GenerateES256("platform-es-1");
  EXPECT_EQ(Refusal(Sign(impostor, Claims())).message(), "token signature is not valid");
}

TEST_F(TokenVerifierTest, RefusesTokenWithoutKid) {
  const std::vector<std::string> parts = absl::StrSplit(Sign(es256_, Claims()), '.');
  const std::string token =
      absl::StrCat(Base64UrlEncode(R"({"alg":"ES256"})"), ".", parts[1], ".", parts[2]);
  EXPECT_EQ(Refusal(token).message(), "token has no key id");
}

TEST_F(TokenVerifierTest, RefusesTokenLongerThan16KiB) {
  nlohmann::json claims = Claims();
  claims["padding"] = std::string(kMaxTokenBytes, 'x');
  EXPECT_THAT(Refusal(Sign(es256_, claims)).message(), HasSubstr("longer than 16384 bytes"));
}

TEST_F(TokenVerifierTest, RefusesMalformedTokens) {
  const std::vector<std::string> parts = absl::StrSplit(Sign(es256_, Claims()), '.');
  for (const std::string& token : std::vector<std::string>{
           "", "Bearer", absl::StrCat(parts[0], ".", parts[1]),
           absl::StrCat(parts[0], ".", parts[1], ".", parts[2], ".", parts[2]),
           absl::StrCat(parts[0], ".", parts[1], "=.", parts[2]),
           absl::StrCat(parts[0], ".", Base64UrlEncode("[\"sub\"]"), ".", parts[2]),
           absl::StrCat(Base64UrlEncode("not json"), ".", parts[1], ".", parts[2])}) {
    EXPECT_FALSE(Refusal(token).ok()) << token;
  }
}

// --- key set: unknown kids, refetch, rotation -------------------------------------------------

TEST_F(TokenVerifierTest, UnknownKidRefetchesOnceThenIsRateLimited) {
  ASSERT_TRUE(platform_keys_->Refresh().ok());
  ASSERT_EQ(platform_source_.fetches(), 1);
  clock_.Advance(absl::Seconds(31));

  SigningKey stranger = *SigningKey::GenerateES256("bogus-0");
  EXPECT_EQ(Refusal(Sign(stranger, Claims())).message(),
            "token signed by a key this service does not know");
  EXPECT_EQ(platform_source_.fetches(), 2);

  // A flood of bogus kids within the interval costs no further fetches.
  for (int i = 1; i <= 100; ++i) {
    nlohmann::json header = {{"alg", "ES256"}, {"kid", absl::StrCat("bogus-", i)}};
    Refusal(Token(header.dump(), Claims().dump(), std::string(64, 'x'))).IgnoreError();
  }
  EXPECT_EQ(platform_source_.fetches(), 2);

  clock_.Advance(absl::Seconds(30));
  Refusal(Sign(stranger, Claims())).IgnoreError();
  EXPECT_EQ(platform_source_.fetches(), 3);
}

TEST_F(TokenVerifierTest, KnownKidsNeverFetch) {
  ASSERT_TRUE(platform_keys_->Refresh().ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(verifier_->Verify(Sign(es256_, Claims())).ok());
  EXPECT_EQ(platform_source_.fetches(), 1);
}

TEST_F(TokenVerifierTest, RotationKeepsThePreviousKeyUntilItLeavesTheSet) {
  ASSERT_TRUE(platform_keys_->Refresh().ok());
  const std::string old_token = Sign(es256_, Claims());

  // Overlap: the auth service publishes the next key next to the previous one.
  SigningKey next = *SigningKey::GenerateES256("platform-es-2");
  platform_source_.SetKeys({*es256_.PublicKey(), *next.PublicKey()});
  clock_.Advance(absl::Seconds(31));
  EXPECT_TRUE(verifier_->Verify(Sign(next, Claims())).ok());  // unknown kid -> refetch
  EXPECT_TRUE(verifier_->Verify(old_token).ok());

  // End of overlap: the previous key leaves the set; the next refetch shows it gone.
  platform_source_.SetKeys({*next.PublicKey()});
  clock_.Advance(absl::Seconds(31));
  SigningKey newest = *SigningKey::GenerateES256("platform-es-3");
  Refusal(Sign(newest, Claims())).IgnoreError();  // unknown kid -> refetch
  EXPECT_EQ(Refusal(old_token).message(), "token signed by a key this service does not know");
  EXPECT_TRUE(verifier_->Verify(Sign(next, Claims())).ok());
}

TEST_F(TokenVerifierTest, RemovedKeyStopsVerifyingOnceTheCacheIsTooOld) {
  ASSERT_TRUE(platform_keys_->Refresh().ok());
  nlohmann::json claims = Claims();
  claims["exp"] = Seconds(kStart + absl::Hours(1));
  const std::string token = Sign(es256_, claims);
  platform_source_.SetKeys({*eddsa_.PublicKey()});

  clock_.Advance(absl::Minutes(10));  // cache exactly max_age old: still trusted
  EXPECT_TRUE(verifier_->Verify(token).ok());
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Refusal(token).message(), "token signed by a key this service does not know");
}

TEST_F(TokenVerifierTest, FailedFetchKeepsThePreviousKeys) {
  ASSERT_TRUE(platform_keys_->Refresh().ok());
  platform_source_.SetFailure(absl::UnavailableError("JWKS endpoint down"));
  nlohmann::json claims = Claims();
  claims["exp"] = Seconds(kStart + absl::Hours(1));
  const std::string token = Sign(es256_, claims);
  clock_.Advance(absl::Minutes(11));  // stale: refetch is attempted and fails
  EXPECT_TRUE(verifier_->Verify(token).ok());
  EXPECT_EQ(platform_source_.fetches(), 2);
  EXPECT_EQ(platform_keys_->Refresh().code(), absl::StatusCode::kUnavailable);
}

TEST_F(TokenVerifierTest, ConcurrentVerificationDuringRefresh) {
  const std::string token = Sign(es256_, Claims());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (!verifier_->Verify(token).ok()) ++failures;
      }
    });
  }
  for (int i = 0; i < 50; ++i) platform_keys_->Refresh().IgnoreError();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- verified-token cache --------------------------------------------------------------------

TEST_F(TokenVerifierTest, RepeatedTokenStillExpires) {
  const std::string token = Sign(es256_, Claims());
  ASSERT_TRUE(verifier_->Verify(token).ok());
  ASSERT_TRUE(verifier_->Verify(token).ok());
  clock_.Advance(absl::Minutes(6));
  EXPECT_EQ(Refusal(token).message(), "token expired");
}

TEST_F(TokenVerifierTest, RepeatedTokenGivesTheSamePrincipal) {
  const std::string token = Sign(es256_, Claims());
  absl::StatusOr<Principal> first = verifier_->Verify(token);
  absl::StatusOr<Principal> second = verifier_->Verify(token);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(second->subject, first->subject);
  EXPECT_EQ(RoleGrantToString(second->roles.at(1)), RoleGrantToString(first->roles.at(1)));
  EXPECT_EQ(second->expires, first->expires);
}

TEST_F(TokenVerifierTest, RepeatedTokenIsRefusedWhenItsKidNowNamesAnotherKey) {
  const std::string token = Sign(es256_, Claims());
  ASSERT_TRUE(verifier_->Verify(token).ok());
  SigningKey replacement = *SigningKey::GenerateES256("platform-es-1");
  platform_source_.SetKeys({*replacement.PublicKey()});
  ASSERT_TRUE(platform_keys_->Refresh().ok());
  EXPECT_EQ(Refusal(token).message(), "token signature is not valid");
}

TEST_F(TokenVerifierTest, CacheCanBeTurnedOff) {
  IssuerConfig config;
  config.issuer = kPlatform;
  config.audiences = {"smartby"};
  config.allowed_algs = {"ES256"};
  config.keys = platform_keys_;
  std::unique_ptr<JwtTokenVerifier> verifier =
      *JwtTokenVerifier::Create({config}, &clock_, {.token_cache_size = 0});
  const std::string token = Sign(es256_, Claims());
  EXPECT_TRUE(verifier->Verify(token).ok());
  EXPECT_TRUE(verifier->Verify(token).ok());
  clock_.Advance(absl::Minutes(6));
  EXPECT_EQ(verifier->Verify(token).status().message(), "token expired");
}

// --- JWKS and external issuers ----------------------------------------------------------------

TEST_F(TokenVerifierTest, PublishedJwksVerifiesPlatformTokens) {
  const std::string published = ToJwks({*es256_.PublicKey(), *eddsa_.PublicKey()})->dump();
  StaticKeySource source(*FromJwksText(published));
  IssuerConfig config;
  config.issuer = kPlatform;
  config.audiences = {"smartby"};
  config.allowed_algs = {"ES256", "EdDSA"};
  config.keys = std::make_shared<CachedKeySet>(&source, &clock_);
  std::unique_ptr<JwtTokenVerifier> verifier = *JwtTokenVerifier::Create({config}, &clock_);
  EXPECT_TRUE(verifier->Verify(Sign(es256_, Claims())).ok());
  EXPECT_TRUE(verifier->Verify(Sign(eddsa_, Claims())).ok());
}

TEST_F(TokenVerifierTest, Rs256TokenOfAnExternalIssuerVerifiesWithItsJwks) {
  const nlohmann::json claims = {{"iss", kEntra},
                                 {"aud", "api://smartby"},
                                 {"sub", "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"},
                                 {"oid", "00000000-0000-0000-66f3-3332eca7ea81"},
                                 {"tid", "9188040d-6c67-4c5b-b112"},
                                 {"amr", {"pwd", "mfa"}},
                                 {"exp", Seconds(kStart + absl::Hours(1))},
                                 {"nbf", Seconds(kStart)}};
  absl::StatusOr<VerifiedToken> verified =
      verifier_->VerifyClaims(*SignJwt(entra_, {{"typ", "JWT"}}, claims));
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->issuer->issuer, kEntra);
  EXPECT_EQ(verified->claims["oid"], "00000000-0000-0000-66f3-3332eca7ea81");

  absl::StatusOr<Principal> principal = verifier_->Verify(*SignJwt(entra_, nullptr, claims));
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_TRUE(principal->two_factor);  // "mfa" is configured as two-factor for this issuer
}

TEST_F(TokenVerifierTest, PlatformKeyCannotSignForTheExternalIssuer) {
  nlohmann::json claims = Claims();
  claims["iss"] = kEntra;
  claims["aud"] = "api://smartby";
  EXPECT_EQ(Refusal(Sign(es256_, claims)).message(),
            "token signed with an algorithm this service does not accept");
  // Even with RS256, a platform-set RSA key is not in the external issuer's set.
  EXPECT_EQ(Refusal(Sign(rsa_in_platform_set_, claims)).message(),
            "token signed by a key this service does not know");
}

// --- configuration ----------------------------------------------------------------------------

TEST(JwtTokenVerifierCreate, RefusesUnsafeOrIncompleteConfiguration) {
  SettableClock clock(kStart);
  StaticKeySource source({});
  auto keys = std::make_shared<CachedKeySet>(&source, &clock);
  auto config = [&] {
    IssuerConfig c;
    c.issuer = kPlatform;
    c.audiences = {"smartby"};
    c.allowed_algs = {"ES256"};
    c.keys = keys;
    return c;
  };
  EXPECT_TRUE(JwtTokenVerifier::Create({config()}, &clock).ok());

  for (const char* alg : {"none", "HS256", "HS512", "PS256", "ES384"}) {
    IssuerConfig c = config();
    c.allowed_algs = {"ES256", alg};
    EXPECT_THAT(JwtTokenVerifier::Create({c}, &clock).status().message(), HasSubstr("allowed_algs"))
        << alg;
  }
  IssuerConfig no_audience = config();
  no_audience.audiences.clear();
  EXPECT_THAT(JwtTokenVerifier::Create({no_audience}, &clock).status().message(),
              HasSubstr("issuers[0].audiences"));
  IssuerConfig no_keys = config();
  no_keys.keys = nullptr;
  EXPECT_THAT(JwtTokenVerifier::Create({no_keys}, &clock).status().message(),
              HasSubstr("issuers[0].keys"));
  IssuerConfig big_skew = config();
  big_skew.max_skew = absl::Minutes(10);
  EXPECT_THAT(JwtTokenVerifier::Create({big_skew}, &clock).status().message(),
              HasSubstr("max_skew"));
  EXPECT_THAT(JwtTokenVerifier::Create({config(), config()}, &clock).status().message(),
              HasSubstr("issuers[1].issuer"));
}

}  // namespace
}  // namespace smartby::auth
