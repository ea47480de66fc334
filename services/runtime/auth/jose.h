// JOSE building blocks for platform and federated tokens: base64url, signing and verification keys,
// JWS compact serialisation (RFC 7515), and JWK / JWK Set import and export (RFC 7517, 7518, 8037).
//
// Supported algorithms: ES256 (ECDSA P-256 + SHA-256, signatures in the JOSE raw r||s form),
// EdDSA (Ed25519) and RS256 (RSASSA-PKCS1-v1_5 + SHA-256, for external identity providers such as
// Entra ID and ID-porten). Nothing else: "none" and the HMAC family are never accepted, so a public
// key can never be misused as an HMAC secret.
//
// This file knows nothing about claims, issuers or time; token_verifier.h applies RFC 8725 on top.
//
// Thread safety: the free functions are thread-safe. SigningKey and VerificationKey are immutable
// values after construction; copies share the underlying OpenSSL key, which OpenSSL 3 allows to be
// used for signing or verifying from several threads at once.
#ifndef SMARTBY_RUNTIME_AUTH_JOSE_H_
#define SMARTBY_RUNTIME_AUTH_JOSE_H_

#include <openssl/types.h>

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartby::auth {

// JWS "alg" names this module implements.
inline constexpr absl::string_view kAlgES256 = "ES256";
inline constexpr absl::string_view kAlgEdDSA = "EdDSA";
inline constexpr absl::string_view kAlgRS256 = "RS256";

// True for ES256, EdDSA and RS256.
bool IsSupportedAlgorithm(absl::string_view alg);

// Tokens longer than this are refused before any decoding (a platform token is well under 2 KiB).
inline constexpr size_t kMaxTokenBytes = 16 * 1024;

// RSA keys shorter than this are refused on import (RFC 8725 §3.5, NIST SP 800-131A); keys longer
// than kMaxRsaBits are refused so that one token cannot cost an unbounded amount of CPU.
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 8192;

// Base64url without padding (RFC 7515 §2). Decoding refuses padding, whitespace, characters
// outside the URL-safe alphabet and non-canonical trailing bits, so one byte string has exactly one
// encoding.
std::string Base64UrlEncode(absl::string_view data);
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);

// Shared, reference-counted OpenSSL key.
using SharedPkey = std::shared_ptr<EVP_PKEY>;

// A public key that verifies signatures of one algorithm, identified by its key id.
struct VerificationKey {
  std::string kid;
  std::string alg;  // one of kAlgES256, kAlgEdDSA, kAlgRS256
  SharedPkey key;   // public key; never null in a key produced by this module
};

// A private key that signs platform tokens. Create with Generate*() or FromPem(); the algorithm
// follows from the key type (P-256 -> ES256, Ed25519 -> EdDSA, RSA -> RS256).
class SigningKey {
 public:
  // New random keys. RS256 exists for tests that play an external identity provider; platform
  // tokens are ES256 or EdDSA (issue 3).
  static absl::StatusOr<SigningKey> GenerateES256(std::string kid);
  static absl::StatusOr<SigningKey> GenerateEdDSA(std::string kid);
  static absl::StatusOr<SigningKey> GenerateRS256(std::string kid, int bits = 2048);

  // A PKCS#8 (or traditional) PEM private key, as written by ToPem() or `openssl genpkey`.
  // INVALID_ARGUMENT when the PEM cannot be read or holds a key of an unsupported type or size.
  static absl::StatusOr<SigningKey> FromPem(std::string kid, absl::string_view pem);

  // Unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). Store it like any secret (mode 0600
  // file or Kubernetes Secret).
  absl::StatusOr<std::string> ToPem() const;

  const std::string& kid() const { return kid_; }
  const std::string& alg() const { return alg_; }
  EVP_PKEY* pkey() const { return key_.get(); }

  // The matching public key, for the key set and the JWKS.
  absl::StatusOr<VerificationKey> PublicKey() const;

 private:
  SigningKey(std::string kid, std::string alg, SharedPkey key)
      : kid_(std::move(kid)), alg_(std::move(alg)), key_(std::move(key)) {}
  static absl::StatusOr<SigningKey> FromPkey(std::string kid, SharedPkey key);

  std::string kid_;
  std::string alg_;
  SharedPkey key_;
};

// Signs `claims` as a JWS compact token. The protected header is {"alg", "kid"} from the key plus
// the members of `header_extra` (e.g. {"typ": "at+jwt"}); `header_extra` must be an object (or
// null) and must not set "alg", "kid" or "crit". INVALID_ARGUMENT for bad input, INTERNAL when
// OpenSSL fails.
absl::StatusOr<std::string> SignJwt(const SigningKey& key, const nlohmann::json& header_extra,
                                    const nlohmann::json& claims);

// The decoded parts of a JWS compact token. Nothing in it has been verified yet.
struct ParsedJws {
  nlohmann::json header;      // always a JSON object
  nlohmann::json payload;     // always a JSON object
  std::string signing_input;  // "<header b64>.<payload b64>", the bytes the signature covers
  std::string signature;      // decoded signature bytes (empty for an unsigned token)
};

// Splits and decodes a compact JWS. INVALID_ARGUMENT, with a short message that never quotes the
// token, when the token is longer than kMaxTokenBytes, does not have exactly three parts, a part
// is not base64url, or the header or payload is not a JSON object.
absl::StatusOr<ParsedJws> ParseJws(absl::string_view token);

// Verifies `signature` over `signing_input` with `key`. `alg` must equal key.alg and be supported,
// and the key type must fit the algorithm. ES256 signatures are the 64-byte JOSE form (r||s).
// OK when the signature is valid; INVALID_ARGUMENT otherwise (the caller decides how to report it).
absl::Status VerifyJwsSignature(absl::string_view alg, const VerificationKey& key,
                                absl::string_view signing_input, absl::string_view signature);

// ECDSA signature conversion between DER (what OpenSSL produces) and JOSE raw r||s (what JWS
// carries), for P-256 (32-byte components). Exposed for tests.
absl::StatusOr<std::string> EcdsaDerToJose(absl::string_view der);
absl::StatusOr<std::string> EcdsaJoseToDer(absl::string_view jose);

// One public key as a JWK object with "kty", the key members, "kid", "alg" and "use": "sig".
absl::StatusOr<nlohmann::json> ToJwk(const VerificationKey& key);

// {"keys": [...]} for publishing at /.well-known/jwks.json and over the JWKS RPC.
absl::StatusOr<nlohmann::json> ToJwks(const std::vector<VerificationKey>& keys);

// Imports one JWK: EC P-256, OKP Ed25519 or RSA (modulus kMinRsaBits..kMaxRsaBits). "kid" is
// required. "alg", when present, must fit the key type; when absent (Entra ID omits it) it is
// inferred. INVALID_ARGUMENT, naming the member, for private members ("d", "p", ...), an unknown
// "kty" or curve, malformed members, a point not on the curve, or "use" other than "sig".
absl::StatusOr<VerificationKey> FromJwk(const nlohmann::json& jwk);

// Imports a JWK Set. Keys with "use": "enc" are skipped (they are not for signatures); every other
// key must import, and kids must be unique, otherwise the whole set is refused with a message
// naming the key ("keys[2].d: ..."): a half-understood key set is a configuration error to fix,
// not to guess around.
absl::StatusOr<std::vector<VerificationKey>> FromJwks(const nlohmann::json& jwks);
absl::StatusOr<std::vector<VerificationKey>> FromJwksText(absl::string_view text);

}  // namespace smartby::auth

#endif  // SMARTBY_RUNTIME_AUTH_JOSE_H_
