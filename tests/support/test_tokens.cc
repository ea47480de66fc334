#include "tests/support/test_tokens.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace smartby::testing {
namespace {

auth::SigningKey MustGenerate(const std::string& kid) {
  auto key = auth::SigningKey::GenerateES256(kid);
  if (!key.ok()) std::abort();
  return *std::move(key);
}

}  // namespace

TestTokenIssuer::TestTokenIssuer(const std::string& dir)
    : TestTokenIssuer(dir, MustGenerate("test-key-1")) {}

TestTokenIssuer::TestTokenIssuer(const std::string& dir, auth::SigningKey key)
    : key_(std::move(key)), stranger_(MustGenerate(key_.kid())), jwks_path_(dir + "/jwks.json") {
  auto jwk = auth::ToJwks({*key_.PublicKey()});
  std::ofstream(jwks_path_) << jwk->dump();
}

std::string TestTokenIssuer::PrivateKeyPem() const { return *key_.ToPem(); }

std::string TestTokenIssuer::ServiceFlag() const {
  return absl::StrCat("--auth_jwks=file:", jwks_path_);
}

nlohmann::json TestTokenIssuer::Claims(const TokenSpec& spec) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  nlohmann::json claims = {
      {"iss", spec.issuer},
      {"aud", spec.audience},
      {"sub", spec.subject},
      {"iat", spec.lifetime < absl::ZeroDuration() ? now - 600 : now},
      {"exp", now + absl::ToInt64Seconds(spec.lifetime)},
      {"jti", absl::StrCat("test-", now, "-", std::rand())},
      {"roles", spec.roles},
      {"tfa", spec.tfa},
  };
  if (!spec.clearance.empty()) claims["clearance"] = spec.clearance;
  if (!spec.client_id.empty()) claims["client_id"] = spec.client_id;
  for (auto& [name, value] : spec.extra_claims.items()) claims[name] = value;
  return claims;
}

std::string TestTokenIssuer::Token(const TokenSpec& spec) const {
  return *auth::SignJwt(key_, {{"typ", "at+jwt"}}, Claims(spec));
}

std::string TestTokenIssuer::TokenSignedByUnknownKey(const TokenSpec& spec) const {
  return *auth::SignJwt(stranger_, {{"typ", "at+jwt"}}, Claims(spec));
}

std::string TestTokenIssuer::UnsignedToken(const TokenSpec& spec) {
  const nlohmann::json header = {{"alg", "none"}, {"kid", "test-key-1"}};
  return absl::StrCat(auth::Base64UrlEncode(header.dump()), ".",
                      auth::Base64UrlEncode(Claims(spec).dump()), ".");
}

std::string TestTokenIssuer::AdminToken() const {
  TokenSpec spec;
  spec.subject = "user:admin";
  spec.roles = {"platform-admin"};
  spec.clearance = "strictly-protected";
  spec.tfa = true;
  return Token(spec);
}

}  // namespace smartby::testing
