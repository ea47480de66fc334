#include "services/auth/federation.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/runtime/auth/jose.h"
#include "services/runtime/clock.h"
#include "services/runtime/http_server.h"

namespace smartby::auth {
namespace {

using ::smartcity::common::v1::CLASSIFICATION_INTERNAL;
using ::smartcity::common::v1::CLASSIFICATION_OPEN;
using ::smartcity::common::v1::CLASSIFICATION_PROTECTED;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

constexpr char kTenant[] = "9188040d-6c67-4c5b-b112-36a304b66dad";
constexpr char kOid[] = "00000000-0000-0000-66f3-3332eca7ea81";
constexpr char kGroup[] = "5f2b6c1e-2f4c-4c3e-9a8e-0b1d2c3e4f50";
constexpr char kEntraIssuer[] =
    "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
constexpr char kAdfsIssuer[] = "https://adfs.tromso.kommune.no/adfs";
constexpr char kIdportenIssuer[] = "https://idporten.no";
constexpr char kPid[] = "24079409630";  // a synthetic test number, not a real person
const absl::Time kStart = absl::FromUnixSeconds(1750000000);

std::string Roles(const FederatedIdentity& identity) {
  std::string out;
  for (const RoleGrant& role : identity.roles) absl::StrAppend(&out, RoleGrantToString(role), ";");
  return out;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

std::string JwksText(const std::vector<const SigningKey*>& keys) {
  std::vector<VerificationKey> public_keys;
  for (const SigningKey* key : keys) public_keys.push_back(*key->PublicKey());
  return ToJwks(public_keys)->dump();
}

// A compact JWS from raw parts, for tokens SignJwt will not make (alg none, HS256).
std::string RawToken(const nlohmann::json& header, const nlohmann::json& claims,
                     absl::string_view signature) {
  return absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(claims.dump()), ".",
                      Base64UrlEncode(signature));
}

class FederationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    entra_key_ = new SigningKey(*SigningKey::GenerateRS256("entra-1"));
    adfs_key_ = new SigningKey(*SigningKey::GenerateES256("adfs-1"));
    idporten_key_ = new SigningKey(*SigningKey::GenerateRS256("idporten-1"));
  }
  static void TearDownTestSuite() {
    delete entra_key_;
    delete adfs_key_;
    delete idporten_key_;
  }

  void SetUp() override {
    std::string tmpl = testing::TempDir() + "/federation_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    WriteFile(dir_ + "/entra.jwks.json", JwksText({entra_key_}));
    WriteFile(dir_ + "/adfs.jwks.json", JwksText({adfs_key_}));
    WriteFile(dir_ + "/idporten.jwks.json", JwksText({idporten_key_}));
    WriteFile(dir_ + "/subject.key", "k7Qe0vZ0lJ9m1qC0x5m8b3D2sQ9Wn4yT6uR1pL8aZcE=\n");
    WriteFile(dir_ + "/other-subject.key", "Zq3vN8pT1yW6eR4uI9oP2aS7dF5gH0jK3lX8cV1bN6m=\n");
  }

  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string EntraYaml() const {
    return absl::StrReplaceAll(
        R"(
  - name: entra-stavanger
    kind: entra
    issuer: ISSUER
    tenant_id: TENANT
    audiences: [smartby-staff]
    algorithms: [RS256]
    jwks_file: DIR/entra.jwks.json
    two_factor:
      amr: [mfa]
    default_clearance: open
    max_clearance: protected
    role_mappings:
      - claim: roles
        value: Smartby.DatasetOwner
        roles: ["dataset-owner:Stavanger kommune"]
        clearance: internal
      - claim: groups
        value: GROUP
        roles: [data-steward, reader]
        clearance: protected
)",
        {{"ISSUER", kEntraIssuer}, {"TENANT", kTenant}, {"GROUP", kGroup}, {"DIR", dir_}});
  }
  std::string AdfsYaml() const {
    return absl::StrReplaceAll(R"(
  - name: adfs-tromso
    kind: sub
    issuer: ISSUER
    audiences: [smartby]
    algorithms: [ES256]
    jwks_file: DIR/adfs.jwks.json
    clock_skew: 30s
    role_mappings:
      - claim: role
        value: Smartby Readers
        roles: [reader]
        clearance: internal
)",
                               {{"ISSUER", kAdfsIssuer}, {"DIR", dir_}});
  }
  std::string IdportenYaml(const std::string& two_factor_acr = "[idporten-loa-high]",
                           const std::string& key_file = "subject.key") const {
    return absl::StrReplaceAll(R"(
  - name: idporten
    kind: idporten
    issuer: ISSUER
    audiences: [smartby-citizen]
    algorithms: [RS256, ES256]
    jwks_file: DIR/idporten.jwks.json
    subject_key_file: DIR/KEYFILE
    two_factor:
      acr: ACR
    default_roles: [reader]
    default_clearance: open
    max_clearance: open
)",
                               {{"ISSUER", kIdportenIssuer},
                                {"DIR", dir_},
                                {"ACR", two_factor_acr},
                                {"KEYFILE", key_file}});
  }

  std::string WriteConfig(const std::string& providers_yaml, const std::string& name = "fed.yaml") {
    const std::string path = dir_ + "/" + name;
    WriteFile(path, "providers:" + providers_yaml);
    return path;
  }

  absl::StatusOr<std::unique_ptr<Federation>> LoadYaml(const std::string& providers_yaml) {
    return Federation::Load(WriteConfig(providers_yaml), &clock_);
  }

  std::unique_ptr<Federation> LoadAll() {
    absl::StatusOr<std::unique_ptr<Federation>> federation =
        LoadYaml(EntraYaml() + AdfsYaml() + IdportenYaml());
    EXPECT_TRUE(federation.ok()) << federation.status();
    return federation.ok() ? *std::move(federation) : nullptr;
  }

  nlohmann::json EntraClaims() const {
    const int64_t now = absl::ToUnixSeconds(clock_.Now());
    return {{"iss", kEntraIssuer},
            {"aud", "smartby-staff"},
            {"sub", "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"},
            {"oid", kOid},
            {"tid", kTenant},
            {"iat", now - 10},
            {"nbf", now - 10},
            {"exp", now + 3600},
            {"name", "Kari Nordmann"},
            {"ver", "2.0"}};
  }
  nlohmann::json AdfsClaims() const {
    const int64_t now = absl::ToUnixSeconds(clock_.Now());
    return {{"iss", kAdfsIssuer},
            {"aud", "smartby"},
            {"sub", "jNcX8YzbKxW0d4GqpLpo9w=="},
            {"iat", now},
            {"exp", now + 3600},
            {"upn", "ola@tromso.kommune.no"},
            {"role", "Smartby Readers"}};
  }
  nlohmann::json IdportenClaims(const std::string& acr, const std::string& pid = kPid) const {
    const int64_t now = absl::ToUnixSeconds(clock_.Now());
    return {{"iss", kIdportenIssuer},
            {"aud", "smartby-citizen"},
            {"sub", "pairwise-3ZNGc5J2Vb8"},
            {"pid", pid},
            {"acr", acr},
            {"amr", {"BankID"}},
            {"iat", now},
            {"exp", now + 120}};
  }

  static std::string Sign(const SigningKey& key, const nlohmann::json& claims,
                          const nlohmann::json& header = nlohmann::json::object()) {
    absl::StatusOr<std::string> token = SignJwt(key, header, claims);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? *token : "";
  }

  // UNAUTHENTICATED, and the message does not quote any part of the token.
  static void ExpectRefused(const Federation& federation, const std::string& token,
                            const std::string& why) {
    absl::StatusOr<FederatedIdentity> identity = federation.Exchange(token);
    ASSERT_FALSE(identity.ok()) << why;
    EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated)
        << why << ": " << identity.status();
    EXPECT_THAT(identity.status().message(), HasSubstr(why));
    const std::string payload = token.substr(token.find('.') + 1, 20);
    EXPECT_THAT(std::string(identity.status().message()), Not(HasSubstr(payload))) << why;
  }

  static SigningKey* entra_key_;
  static SigningKey* adfs_key_;
  static SigningKey* idporten_key_;
  std::string dir_;
  SettableClock clock_{kStart};
};

SigningKey* FederationTest::entra_key_ = nullptr;
SigningKey* FederationTest::adfs_key_ = nullptr;
SigningKey* FederationTest::idporten_key_ = nullptr;

// --- Mapping -------------------------------------------------------------------------------------

TEST_F(FederationTest, EntraStaffTokenMapsOidTidRolesAndGroups) {
  auto federation = LoadAll();
  ASSERT_NE(federation, nullptr);
  nlohmann::json claims = EntraClaims();
  claims["roles"] = {"Smartby.DatasetOwner", "Some.Other.App.Role"};
  claims["groups"] = {"11111111-2222-3333-4444-555555555555", kGroup};
  claims["amr"] = {"pwd", "mfa"};
  absl::StatusOr<FederatedIdentity> identity = federation->Exchange(Sign(*entra_key_, claims));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->provider, "entra-stavanger");
  EXPECT_EQ(identity->subject, absl::StrCat("entra:", kTenant, ":", kOid));
  EXPECT_EQ(identity->display_name, "Kari Nordmann");
  EXPECT_EQ(Roles(*identity), "dataset-owner:Stavanger kommune;data-steward;reader;");
  EXPECT_EQ(identity->clearance, CLASSIFICATION_PROTECTED);  // the highest mapped
  EXPECT_TRUE(identity->two_factor);                         // amr "mfa"
}

TEST_F(FederationTest, EntraRoleAloneGivesItsClearanceAndNoMfaIsNotTwoFactor) {
  auto federation = LoadAll();
  ASSERT_NE(federation, nullptr);
  nlohmann::json claims = EntraClaims();
  claims["roles"] = {"Smartby.DatasetOwner"};
  claims["amr"] = {"pwd"};
  absl::StatusOr<FederatedIdentity> identity = federation->Exchange(Sign(*entra_key_, claims));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(Roles(*identity), "dataset-owner:Stavanger kommune;");
  EXPECT_EQ(identity->clearance, CLASSIFICATION_INTERNAL);
  EXPECT_FALSE(identity->two_factor);
}

TEST_F(FederationTest, ValidTokenWithoutMappedRoleIsPermissionDeniedNamingTheProvider) {
  auto federation = LoadAll();
  ASSERT_NE(federation, nullptr);
  nlohmann::json claims = EntraClaims();
  claims["roles"] = {"Some.Other.App.Role"};
  absl::StatusOr<FederatedIdentity> identity = federation->Exchange(Sign(*entra_key_, claims));
  ASSERT_FALSE(identity.ok());
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(identity.status().message(),
              AllOf(HasSubstr("\"entra-stavanger\""), HasSubstr("no platform role")));
}

TEST_F(FederationTest, EntraTokenOfAnotherTenantIsRefused) {
  auto federation = LoadAll();
  ASSERT_NE(federation, nullptr);
  nlohmann::json claims = EntraClaims();
  claims["roles"] = {"Smartby.DatasetOwner"};
  claims["tid"] = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  ExpectRefused(*federation, Sign(*entra_key_, claims), "another Entra ID tenant");
  claims = EntraClaims();
  claims["roles"] = {"Smartby.DatasetOwner"};
  claims.erase("oid");
  ExpectRefused(*federation, Sign(*entra_key_, claims), "tid and oid");
  claims["oid"] = "x:y";  // would make "entra:<tid>:<oid>" ambiguous
  ExpectRefused(*federation, Sign(*entra_key_, claims), "tid and oid");
}

TEST_F(FederationTest, AdfsLikeEs256TokenUsesSubAndRoleClaim) {
  auto federation = LoadAll();
  ASSERT_NE(federation, nullptr);
  absl::StatusOr<FederatedIdentity> identity =
      federation->Exchange(Sign(*adfs_key_, AdfsClaims(), {{"typ", "JWT"}}));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->provider, "adfs-tromso");
  EXPECT_EQ(identity->subject, "adfs-tromso:jNcX8YzbKxW0d4GqpLpo9w==");
  EXPECT_EQ(Roles(*identity), "reader;");
  EXPECT_EQ(identity->clearance, CLASSIFICATION_INTERNAL);
  EXPECT_FALSE(identity->two_factor);  // no two_factor configured for this provider
}

TEST_F(FederationTest, IdportenLoaHighIsTwoFactorAndThePidNeverShows) {
  auto federation = LoadAll();
  ASSERT_NE(federation, nullptr);
  absl::StatusOr<FederatedIdentity> high =
      federation->Exchange(Sign(*idporten_key_, IdportenClaims("idporten-loa-high")));
  ASSERT_TRUE(high.ok()) << high.status();
  EXPECT_EQ(high->provider, "idporten");
  EXPECT_TRUE(high->two_factor);
  EXPECT_EQ(high->acr, "idporten-loa-high");
  EXPECT_EQ(Roles(*high), "reader;");
  EXPECT_EQ(high->clearance, CLASSIFICATION_OPEN);
  EXPECT_THAT(high->subject, StartsWith("idporten:"));
  EXPECT_EQ(high->subject.size(), std::string("idporten:").size() + 22);  // 128 bits, base64url
  EXPECT_THAT(high->subject, Not(HasSubstr(kPid)));
  EXPECT_THAT(high->subject, Not(HasSubstr("2407940")));
  EXPECT_THAT(high->subject, Not(HasSubstr("pairwise")));

  // Substantial is not two-factor in this configuration (only loa-high is listed).
  absl::StatusOr<FederatedIdentity> substantial =
      federation->Exchange(Sign(*idporten_key_, IdportenClaims("idporten-loa-substantial")));
  ASSERT_TRUE(substantial.ok()) << substantial.status();
  EXPECT_FALSE(substantial->two_factor);
  EXPECT_EQ(substantial->acr, "idporten-loa-substantial");
  // The same person gets the same subject on every login, another person another one.
  EXPECT_EQ(substantial->subject, high->subject);
  absl::StatusOr<FederatedIdentity> other = federation->Exchange(
      Sign(*idporten_key_, IdportenClaims("idporten-loa-high", "01010112345")));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->subject, high->subject);

  // The subject is keyed: it is not an unkeyed hash of the pid, and another key gives another one.
  unsigned char digest[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), "", 0, reinterpret_cast<const unsigned char*>(kPid), 11, digest, &length);
  EXPECT_NE(high->subject,
            "idporten:" + Base64UrlEncode(absl::string_view(reinterpret_cast<char*>(digest), 16)));
  auto rekeyed = LoadYaml(IdportenYaml("[idporten-loa-high]", "other-subject.key"));
  ASSERT_TRUE(rekeyed.ok()) << rekeyed.status();
  absl::StatusOr<FederatedIdentity> again =
      (*rekeyed)->Exchange(Sign(*idporten_key_, IdportenClaims("idporten-loa-high")));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->subject, high->subject);
}

TEST_F(FederationTest, IdportenSubstantialCountsAsTwoFactorWhenConfigured) {
  auto federation = LoadYaml(IdportenYaml("[idporten-loa-substantial, idporten-loa-high]"));
  ASSERT_TRUE(federation.ok()) << federation.status();
  absl::StatusOr<FederatedIdentity> substantial =
      (*federation)->Exchange(Sign(*idporten_key_, IdportenClaims("idporten-loa-substantial")));
  ASSERT_TRUE(substantial.ok()) << substantial.status();
  EXPECT_TRUE(substantial->two_factor);
  absl::StatusOr<FederatedIdentity> low =
      (*federation)->Exchange(Sign(*idporten_key_, IdportenClaims("idporten-loa-low")));
  ASSERT_TRUE(low.ok()) << low.status();
  EXPECT_FALSE(low->two_factor);
}

// --- Refusals ------------------------------------------------------------------------------------

TEST_F(FederationTest, InvalidTokensAreUnauthenticatedWithoutQuotingThem) {
  auto federation = LoadAll();
  ASSERT_NE(federation, nullptr);
  nlohmann::json good = EntraClaims();
  good["roles"] = {"Smartby.DatasetOwner"};
  ASSERT_TRUE(federation->Exchange(Sign(*entra_key_, good)).ok());

  nlohmann::json claims = good;
  claims["iss"] = "https://login.microsoftonline.com/other/v2.0";
  ExpectRefused(*federation, Sign(*entra_key_, claims), "issuer this service does not trust");

  claims = good;
  claims["aud"] = "someone-else";
  ExpectRefused(*federation, Sign(*entra_key_, claims), "another audience");

  claims = good;
  claims["aud"] = {"smartby-staff", "someone-else"};  // several audiences need azp = ours
  ExpectRefused(*federation, Sign(*entra_key_, claims), "issued to another client");
  claims["azp"] = "smartby-staff";
  EXPECT_TRUE(federation->Exchange(Sign(*entra_key_, claims)).ok());
  claims["azp"] = "someone-else";
  ExpectRefused(*federation, Sign(*entra_key_, claims), "issued to another client");

  claims = good;
  claims["exp"] = absl::ToUnixSeconds(kStart) - 61;  // past the 60 s skew
  ExpectRefused(*federation, Sign(*entra_key_, claims), "expired");

  claims = good;
  claims.erase("iat");
  ExpectRefused(*federation, Sign(*entra_key_, claims), "no issue time");

  ExpectRefused(*federation, Sign(*entra_key_, good, {{"typ", "at+jwt"}}), "not an ID token");

  ExpectRefused(*federation, RawToken({{"alg", "none"}, {"kid", "entra-1"}}, good, ""),
                "algorithm this service does not accept");

  // HS256 with the public key's JWK text as the HMAC secret (the classic confusion attack).
  const nlohmann::json header = {{"alg", "HS256"}, {"kid", "entra-1"}};
  const std::string input =
      absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(good.dump()));
  const std::string secret = JwksText({entra_key_});
  unsigned char mac[32];
  unsigned int mac_length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_length);
  ExpectRefused(*federation,
                absl::StrCat(input, ".",
                             Base64UrlEncode(absl::string_view(reinterpret_cast<char*>(mac), 32))),
                "algorithm this service does not accept");

  absl::StatusOr<SigningKey> stranger = SigningKey::GenerateRS256("entra-2");
  ASSERT_TRUE(stranger.ok());
  ExpectRefused(*federation, Sign(*stranger, good), "key this service does not know");

  ExpectRefused(*federation, "not a token", "ID token not accepted");
}

TEST_F(FederationTest, OneProvidersKeyCannotSpeakForAnother) {
  auto federation = LoadAll();
  ASSERT_NE(federation, nullptr);
  // ID-porten's (RS256) key signs a token claiming to come from Entra ID.
  nlohmann::json claims = EntraClaims();
  claims["roles"] = {"Smartby.DatasetOwner"};
  ExpectRefused(*federation, Sign(*idporten_key_, claims), "key this service does not know");
  // ... and again with Entra's kid in the header: the signature does not verify.
  absl::StatusOr<SigningKey> impostor = SigningKey::FromPem("entra-1", *idporten_key_->ToPem());
  ASSERT_TRUE(impostor.ok()) << impostor.status();
  ExpectRefused(*federation, Sign(*impostor, claims), "signature is not valid");
  // ADFS's ES256 key claiming ID-porten (which allows ES256) with ID-porten's kid.
  absl::StatusOr<SigningKey> es_impostor = SigningKey::FromPem("idporten-1", *adfs_key_->ToPem());
  ASSERT_TRUE(es_impostor.ok()) << es_impostor.status();
  ExpectRefused(*federation, Sign(*es_impostor, IdportenClaims("idporten-loa-high")),
                "does not match its signing key");
}

TEST_F(FederationTest, NoneAndEmptyConfigurationRefuseEveryExchange) {
  std::unique_ptr<Federation> none = Federation::None();
  EXPECT_TRUE(none->Providers().empty());
  nlohmann::json claims = EntraClaims();
  claims["roles"] = {"Smartby.DatasetOwner"};
  ExpectRefused(*none, Sign(*entra_key_, claims), "no identity providers are configured");

  auto empty = LoadYaml(" []");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE((*empty)->Providers().empty());
  ExpectRefused(**empty, Sign(*entra_key_, claims), "no identity providers are configured");
}

TEST_F(FederationTest, ProvidersListsTheConfigurationWithoutSecrets) {
  auto federation = LoadAll();
  ASSERT_NE(federation, nullptr);
  std::vector<smartcity::auth::v1::IdentityProvider> providers = federation->Providers();
  ASSERT_EQ(providers.size(), 3u);
  EXPECT_EQ(providers[0].name(), "entra-stavanger");
  EXPECT_EQ(providers[0].issuer(), kEntraIssuer);
  EXPECT_THAT(providers[0].audiences(), ElementsAre("smartby-staff"));
  EXPECT_THAT(providers[0].algorithms(), ElementsAre("RS256"));
  EXPECT_EQ(providers[0].jwks_source(), dir_ + "/entra.jwks.json");
  EXPECT_THAT(providers[0].two_factor_amr(), ElementsAre("mfa"));
  EXPECT_EQ(providers[0].subject_claim(), "oid");
  EXPECT_EQ(providers[1].subject_claim(), "sub");
  EXPECT_EQ(providers[2].name(), "idporten");
  EXPECT_EQ(providers[2].subject_claim(), "pid");
  EXPECT_THAT(providers[2].algorithms(), UnorderedElementsAre("RS256", "ES256"));
  EXPECT_THAT(providers[2].two_factor_acr(), ElementsAre("idporten-loa-high"));
  for (const auto& provider : providers) {
    EXPECT_THAT(provider.DebugString(), Not(HasSubstr("k7Qe0vZ0")));
  }
}

// --- Configuration errors ------------------------------------------------------------------------

struct ConfigCase {
  const char* what;
  const char* from;  // replaced in the ID-porten provider block
  const char* to;
  const char* expected_field;
};

TEST_F(FederationTest, ConfigurationErrorsNameFileProviderAndField) {
  const ConfigCase cases[] = {
      {"alg none", "algorithms: [RS256, ES256]", "algorithms: [RS256, none]", "algorithms[1]"},
      {"HS256", "algorithms: [RS256, ES256]", "algorithms: [HS256]", "algorithms[0]"},
      {"no algorithms", "algorithms: [RS256, ES256]", "algorithms: []", "algorithms"},
      {"no audience", "audiences: [smartby-citizen]", "audiences: []", "audiences"},
      {"audience not a list", "audiences: [smartby-citizen]", "audiences: {a: b}", "audiences"},
      {"no issuer", "issuer: https://idporten.no", "issuer: ''", "issuer"},
      {"http issuer", "issuer: https://idporten.no", "issuer: http://idporten.no", "issuer"},
      {"unknown kind", "kind: idporten", "kind: bankid", "kind"},
      {"both jwks", "subject_key_file",
       "jwks_url: https://idporten.no/jwks.json\n    subject_key_file", "jwks_file"},
      {"missing jwks file", "idporten.jwks.json", "missing.jwks.json", "jwks_file"},
      {"broken jwks file", "idporten.jwks.json", "subject.key", "jwks_file"},
      {"plain http jwks", "jwks_file: ", "jwks_url: http://idporten.no/jwks.json # ", "jwks_url"},
      {"no subject key", "subject_key_file: ", "# subject_key_file: ", "subject_key_file"},
      {"missing subject key file", "KEYFILE_PLACEHOLDER", "", "subject_key_file"},
      {"bad role", "default_roles: [reader]", "default_roles: [superuser]", "default_roles[0]"},
      {"scoped role without scope", "default_roles: [reader]", "default_roles: [dataset-owner]",
       "default_roles[0]"},
      {"bad clearance", "max_clearance: open", "max_clearance: secret", "max_clearance"},
      {"default above max", "default_clearance: open", "default_clearance: internal",
       "default_clearance"},
      {"bad duration", "max_clearance: open", "max_clearance: open\n    clock_skew: soon",
       "clock_skew"},
      {"skew too large", "max_clearance: open", "max_clearance: open\n    clock_skew: 10m",
       "clock_skew"},
      {"zero refetch", "max_clearance: open", "max_clearance: open\n    jwks_refetch_interval: 0s",
       "jwks_refetch_interval"},
      {"misspelt field", "max_clearance: open", "max_clearence: open", "max_clearence"},
      {"two_factor typo", "acr: [idporten-loa-high]", "acrs: [idporten-loa-high]",
       "two_factor.acrs"},
      {"no roles at all", "default_roles: [reader]", "default_roles: []", "role_mappings"},
      {"tenant on idporten", "max_clearance: open", "max_clearance: open\n    tenant_id: x",
       "tenant_id"},
  };
  for (const ConfigCase& c : cases) {
    SCOPED_TRACE(c.what);
    std::string block = IdportenYaml();
    if (std::string(c.from) == "KEYFILE_PLACEHOLDER") {
      block = IdportenYaml("[idporten-loa-high]", "no-such.key");
    } else {
      ASSERT_NE(block.find(c.from), std::string::npos) << c.from;
      block = absl::StrReplaceAll(block, {{c.from, c.to}});
    }
    const std::string path = WriteConfig(block, "bad.yaml");
    absl::StatusOr<std::unique_ptr<Federation>> federation = Federation::Load(path, &clock_);
    ASSERT_FALSE(federation.ok());
    EXPECT_EQ(federation.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(federation.status().message(),
                AllOf(HasSubstr(path), HasSubstr("providers[0] (idporten)"),
                      HasSubstr(absl::StrCat(": ", c.expected_field, ":"))));
  }
}

TEST_F(FederationTest, ConfigurationErrorsAcrossProvidersAndFile) {
  // Two providers with one name, two with one issuer.
  auto twice = LoadYaml(IdportenYaml() + IdportenYaml());
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(),
              AllOf(HasSubstr("providers[1] (idporten)"), HasSubstr("name")));
  auto same_issuer =
      LoadYaml(IdportenYaml() +
               absl::StrReplaceAll(IdportenYaml(), {{"name: idporten", "name: idporten-2"}}));
  ASSERT_FALSE(same_issuer.ok());
  EXPECT_THAT(same_issuer.status().message(),
              AllOf(HasSubstr("providers[1] (idporten-2): issuer:"), HasSubstr("idporten")));
  // A mapping's clearance above the provider's maximum.
  auto above = LoadYaml(absl::StrReplaceAll(
      EntraYaml(),
      {{"\n        clearance: protected", "\n        clearance: strictly-protected"}}));
  ASSERT_FALSE(above.ok());
  EXPECT_THAT(above.status().message(),
              HasSubstr("(entra-stavanger): role_mappings[1].clearance:"));

  const std::string missing = dir_ + "/nope.yaml";
  auto absent = Federation::Load(missing, &clock_);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(absent.status().message(), HasSubstr(missing));

  const std::string broken = dir_ + "/broken.yaml";
  WriteFile(broken, "providers: [\n  - name: x\n");
  auto unparsable = Federation::Load(broken, &clock_);
  ASSERT_FALSE(unparsable.ok());
  EXPECT_THAT(unparsable.status().message(), AllOf(HasSubstr(broken), HasSubstr("YAML")));

  const std::string no_list = dir_ + "/no-list.yaml";
  WriteFile(no_list, "issuers: []\n");
  auto wrong_root = Federation::Load(no_list, &clock_);
  ASSERT_FALSE(wrong_root.ok());
  EXPECT_THAT(wrong_root.status().message(), HasSubstr("issuers"));
}

// --- JWKS over HTTP ------------------------------------------------------------------------------

// An identity provider's JWKS endpoint the test controls, counting fetches.
class JwksServer {
 public:
  JwksServer() {
    server_.Handle("/jwks", [this] {
      absl::MutexLock lock(&mu_);
      ++fetches_;
      return HttpResponse{200, "application/json", body_};
    });
  }
  absl::Status Start() { return server_.Start("127.0.0.1:0"); }
  std::string Url() const { return absl::StrCat("http://127.0.0.1:", server_.port(), "/jwks"); }
  void SetBody(std::string body) {
    absl::MutexLock lock(&mu_);
    body_ = std::move(body);
  }
  int fetches() const {
    absl::MutexLock lock(&mu_);
    return fetches_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string body_ ABSL_GUARDED_BY(mu_);
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
  HttpServer server_;
};

std::string UrlProvider(const std::string& url, const std::string& extra = "") {
  return absl::StrCat(R"(
  - name: adfs-tromso
    kind: sub
    issuer: https://adfs.tromso.kommune.no/adfs
    audiences: [smartby]
    algorithms: [ES256, RS256]
    jwks_url: )",
                      url, R"(
    jwks_refetch_interval: 60s
    default_roles: [reader]
)",
                      extra);
}

TEST_F(FederationTest, JwksUrlRotatedKeyIsPickedUpAfterTheRefetchIntervalNotBefore) {
  JwksServer idp;
  idp.SetBody(JwksText({adfs_key_}));
  ASSERT_TRUE(idp.Start().ok());
  auto federation = LoadYaml(UrlProvider(idp.Url()));
  ASSERT_TRUE(federation.ok()) << federation.status();
  EXPECT_EQ(idp.fetches(), 1);  // fetched at load
  EXPECT_TRUE((*federation)->Exchange(Sign(*adfs_key_, AdfsClaims())).ok());
  EXPECT_EQ((*federation)->Providers()[0].jwks_source(), idp.Url());

  // The provider rotates to a new RS256 key.
  absl::StatusOr<SigningKey> rotated = SigningKey::GenerateRS256("adfs-2");
  ASSERT_TRUE(rotated.ok());
  idp.SetBody(JwksText({&*rotated}));

  clock_.Advance(absl::Seconds(30));  // inside the refetch interval: no fetch, unknown kid
  ExpectRefused(**federation, Sign(*rotated, AdfsClaims()), "key this service does not know");
  EXPECT_EQ(idp.fetches(), 1);
  // The old key is still cached and still verifies.
  EXPECT_TRUE((*federation)->Exchange(Sign(*adfs_key_, AdfsClaims())).ok());

  clock_.Advance(absl::Seconds(31));  // past the interval: the unknown kid triggers one fetch
  absl::StatusOr<FederatedIdentity> identity =
      (*federation)->Exchange(Sign(*rotated, AdfsClaims()));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->subject, "adfs-tromso:jNcX8YzbKxW0d4GqpLpo9w==");
  EXPECT_EQ(idp.fetches(), 2);
  // The old key has left the set.
  ExpectRefused(**federation, Sign(*adfs_key_, AdfsClaims()), "key this service does not know");
}

TEST_F(FederationTest, OversizedJwksIsRefused) {
  // A valid JWKS padded with JSON whitespace: just under the 1 MiB limit it is accepted, just
  // over it it is refused.
  const std::string jwks = JwksText({adfs_key_});
  const size_t limit = 1 << 20;
  JwksServer small_idp;
  small_idp.SetBody(jwks + std::string(limit - jwks.size(), ' '));
  ASSERT_TRUE(small_idp.Start().ok());
  auto small = LoadYaml(UrlProvider(small_idp.Url()));
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_TRUE((*small)->Exchange(Sign(*adfs_key_, AdfsClaims())).ok());

  JwksServer big_idp;
  big_idp.SetBody(jwks + std::string(limit - jwks.size() + 1, ' '));
  ASSERT_TRUE(big_idp.Start().ok());
  auto big = LoadYaml(UrlProvider(big_idp.Url()));
  ASSERT_TRUE(big.ok()) << big.status();  // an unusable JWKS does not stop the service
  EXPECT_EQ(big_idp.fetches(), 1);
  ExpectRefused(**big, Sign(*adfs_key_, AdfsClaims()), "key this service does not know");
}

TEST_F(FederationTest, JwksUrlOutageAtStartIsRetriedOnLaterExchanges) {
  JwksServer idp;
  idp.SetBody("<html>503</html>");
  ASSERT_TRUE(idp.Start().ok());
  auto federation = LoadYaml(UrlProvider(idp.Url()));
  ASSERT_TRUE(federation.ok()) << federation.status();
  ExpectRefused(**federation, Sign(*adfs_key_, AdfsClaims()), "key this service does not know");
  idp.SetBody(JwksText({adfs_key_}));
  clock_.Advance(absl::Seconds(61));
  EXPECT_TRUE((*federation)->Exchange(Sign(*adfs_key_, AdfsClaims())).ok());
}

TEST_F(FederationTest, JwksUrlMustBeHttpsOrLoopback) {
  for (const char* url : {"http://adfs.tromso.kommune.no/jwks", "ftp://127.0.0.1/jwks",
                          "https://user:secret@adfs.tromso.kommune.no/jwks", "not a url"}) {
    SCOPED_TRACE(url);
    auto federation = LoadYaml(UrlProvider(url));
    ASSERT_FALSE(federation.ok());
    EXPECT_EQ(federation.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(federation.status().message(), HasSubstr("(adfs-tromso): jwks_url:"));
  }
}

}  // namespace
}  // namespace smartby::auth
