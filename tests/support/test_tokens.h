// Platform access tokens for tests that start services without the auth service: a throwaway
// ES256 signing key whose JWKS is written to a file the service reads (--auth_jwks=file:PATH),
// and tokens with exactly the claims a test needs.
//
//   TestTokenIssuer issuer(dir);
//   ServiceProcess::Start("smartby-catalogue", {..., issuer.ServiceFlag()});
//   context.AddMetadata("authorization", "Bearer " + issuer.Token({.subject = "user:ola",
//       .roles = {"dataset-owner:Stavanger kommune"}, .clearance = "internal", .tfa = true}));
#ifndef SMARTBY_TESTS_SUPPORT_TEST_TOKENS_H_
#define SMARTBY_TESTS_SUPPORT_TEST_TOKENS_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "services/runtime/auth/jose.h"

namespace smartby::testing {

struct TokenSpec {
  std::string subject = "user:test";
  std::vector<std::string> roles;
  std::string clearance;  // "open", "internal", "protected", "strictly-protected", or none
  bool tfa = false;
  std::string client_id;
  std::string issuer = "smartby";
  std::string audience = "smartby";
  absl::Duration lifetime = absl::Minutes(5);  // negative: already expired
  nlohmann::json extra_claims = nlohmann::json::object();
};

class TestTokenIssuer {
 public:
  // Writes the JWKS to `dir`/jwks.json.
  explicit TestTokenIssuer(const std::string& dir);
  // The same with a given signing key (e.g. the key a real auth service was started with, under
  // the kid it publishes), so tests can sign tokens that service's peers trust.
  TestTokenIssuer(const std::string& dir, auth::SigningKey key);

  // The private key as PKCS#8 PEM, e.g. for the auth service's --signing_key_file.
  std::string PrivateKeyPem() const;
  const auth::SigningKey& key() const { return key_; }

  // "--auth_jwks=file:<dir>/jwks.json"
  std::string ServiceFlag() const;
  const std::string& jwks_path() const { return jwks_path_; }

  // A token signed by this issuer's key.
  std::string Token(const TokenSpec& spec) const;
  // The same claims signed by a key the service has never seen (same kid, different key).
  std::string TokenSignedByUnknownKey(const TokenSpec& spec) const;
  // The same claims with {"alg":"none"} and no signature.
  static std::string UnsignedToken(const TokenSpec& spec);

  // A platform-admin with clearance strictly-protected and a second factor.
  std::string AdminToken() const;

  static nlohmann::json Claims(const TokenSpec& spec);

 private:
  auth::SigningKey key_;
  auth::SigningKey stranger_;
  std::string jwks_path_;
};

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_TEST_TOKENS_H_
