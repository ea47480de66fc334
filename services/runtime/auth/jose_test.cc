#include "services/runtime/auth/jose.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

const nlohmann::json kClaims = {{"sub", "user:alice"}, {"exp", 2000000000}};

SigningKey Es256(const std::string& kid) { return *SigningKey::GenerateES256(kid); }
SigningKey EdDsa(const std::string& kid) { return *SigningKey::GenerateEdDSA(kid); }

absl::Status VerifyToken(const std::string& token, const VerificationKey& key) {
  absl::StatusOr<ParsedJws> parsed = ParseJws(token);
  if (!parsed.ok()) return parsed.status();
  return VerifyJwsSignature(parsed->header["alg"].get<std::string>(), key, parsed->signing_input,
                            parsed->signature);
}

// --- base64url --------------------------------------------------------------------------------

TEST(Base64Url, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

TEST(Base64Url, UsesTheUrlSafeAlphabet) {
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
}

TEST(Base64Url, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 37) {
    const std::string data = all.substr(0, len);
    EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(data)), data);
  }
}

TEST(Base64Url, RefusesPaddingWhitespaceAndStandardAlphabet) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").ok());
  EXPECT_FALSE(Base64UrlDecode("Zm 9v").ok());
  EXPECT_FALSE(Base64UrlDecode("+/8").ok());
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").ok());  // a length no encoding has
}

TEST(Base64Url, RefusesNonCanonicalTrailingBits) {
  EXPECT_TRUE(Base64UrlDecode("Zg").ok());
  EXPECT_FALSE(Base64UrlDecode("Zh").ok());  // same byte, low bits set
}

// --- signing and verifying --------------------------------------------------------------------

TEST(SignJwt, Es256TokenVerifiesWithItsPublicKey) {
  SigningKey key = Es256("k1");
  absl::StatusOr<std::string> token = SignJwt(key, {{"typ", "at+jwt"}}, kClaims);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(VerifyToken(*token, *key.PublicKey()).ok());
}

TEST(SignJwt, EdDsaTokenVerifiesWithItsPublicKey) {
  SigningKey key = EdDsa("k1");
  absl::StatusOr<std::string> token = SignJwt(key, nullptr, kClaims);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(VerifyToken(*token, *key.PublicKey()).ok());
}

TEST(SignJwt, HeaderCarriesAlgKidAndExtras) {
  SigningKey key = Es256("2024-06");
  ParsedJws parsed = *ParseJws(*SignJwt(key, {{"typ", "at+jwt"}}, kClaims));
  EXPECT_EQ(parsed.header["alg"], "ES256");
  EXPECT_EQ(parsed.header["kid"], "2024-06");
  EXPECT_EQ(parsed.header["typ"], "at+jwt");
  EXPECT_EQ(parsed.payload, kClaims);
}

TEST(SignJwt, Es256SignatureIsJoseRawFormOf64Bytes) {
  SigningKey key = Es256("k1");
  for (int i = 0; i < 20; ++i) {  // DER length varies with leading zeros; raw form never does
    ParsedJws parsed = *ParseJws(*SignJwt(key, nullptr, kClaims));
    ASSERT_THAT(parsed.signature, SizeIs(64));
  }
}

TEST(SignJwt, CallerCannotOverrideAlgOrKid) {
  SigningKey key = Es256("k1");
  EXPECT_EQ(SignJwt(key, {{"alg", "none"}}, kClaims).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt(key, {{"kid", "other"}}, kClaims).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt(key, nullptr, nlohmann::json::array()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VerifyJwsSignature, RefusesAnotherKeysSignature) {
  SigningKey signer = Es256("k1");
  SigningKey other = Es256("k1");
  EXPECT_FALSE(VerifyToken(*SignJwt(signer, nullptr, kClaims), *other.PublicKey()).ok());
}

TEST(VerifyJwsSignature, RefusesAlgorithmThatDoesNotMatchTheKey) {
  SigningKey key = Es256("k1");
  ParsedJws parsed = *ParseJws(*SignJwt(key, nullptr, kClaims));
  VerificationKey pub = *key.PublicKey();
  EXPECT_FALSE(VerifyJwsSignature("EdDSA", pub, parsed.signing_input, parsed.signature).ok());
  EXPECT_FALSE(VerifyJwsSignature("HS256", pub, parsed.signing_input, parsed.signature).ok());
  pub.alg = "EdDSA";  // a mislabelled key does not help either
  EXPECT_FALSE(VerifyJwsSignature("EdDSA", pub, parsed.signing_input, parsed.signature).ok());
}

TEST(VerifyJwsSignature, RefusesTamperedSigningInput) {
  SigningKey key = EdDsa("k1");
  ParsedJws parsed = *ParseJws(*SignJwt(key, nullptr, kClaims));
  parsed.signing_input.back() ^= 1;
  EXPECT_FALSE(
      VerifyJwsSignature("EdDSA", *key.PublicKey(), parsed.signing_input, parsed.signature).ok());
}

TEST(EcdsaSignatureForm, DerAndJoseRoundTrip) {
  std::string jose(64, '\0');
  jose[0] = 0x01;  // r with a leading byte
  jose[31] = 0x02;
  jose[63] = 0x7f;  // s, short in DER
  absl::StatusOr<std::string> der = EcdsaJoseToDer(jose);
  ASSERT_TRUE(der.ok());
  EXPECT_EQ(*EcdsaDerToJose(*der), jose);
  EXPECT_FALSE(EcdsaJoseToDer(std::string(63, 'a')).ok());
  EXPECT_FALSE(EcdsaDerToJose("not der").ok());
}

// --- keys -------------------------------------------------------------------------------------

TEST(SigningKey, PemRoundTripKeepsTheKey) {
  for (SigningKey key : {Es256("k1"), EdDsa("k2")}) {
    absl::StatusOr<std::string> pem = key.ToPem();
    ASSERT_TRUE(pem.ok());
    EXPECT_THAT(*pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
    absl::StatusOr<SigningKey> loaded = SigningKey::FromPem(key.kid(), *pem);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->alg(), key.alg());
    // A token signed by the reloaded key verifies with the original public key.
    EXPECT_TRUE(VerifyToken(*SignJwt(*loaded, nullptr, kClaims), *key.PublicKey()).ok());
  }
}

TEST(SigningKey, FromPemRefusesGarbageAndPublicKeys) {
  EXPECT_EQ(SigningKey::FromPem("k", "hello").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(SigningKey::FromPem("", *Es256("k").ToPem()).ok());  // kid required
}

TEST(SigningKey, RefusesShortRsaKeys) {
  EXPECT_EQ(SigningKey::GenerateRS256("k", 1024).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- ParseJws ---------------------------------------------------------------------------------

TEST(ParseJws, RefusesTokensLongerThan16KiB) {
  const std::string payload =
      Base64UrlEncode(nlohmann::json{{"pad", std::string(kMaxTokenBytes, 'x')}}.dump());
  absl::StatusOr<ParsedJws> parsed = ParseJws(absl::StrCat("e30.", payload, ".c2ln"));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("longer than 16384 bytes"));
}

TEST(ParseJws, RefusesWrongNumberOfParts) {
  EXPECT_FALSE(ParseJws("e30.e30").ok());
  EXPECT_FALSE(ParseJws("e30.e30.c2ln.e30").ok());
  EXPECT_FALSE(ParseJws("e30.e30.c2ln.e30.e30").ok());  // JWE compact
  EXPECT_FALSE(ParseJws("").ok());
}

TEST(ParseJws, RefusesBadBase64AndNonObjectJson) {
  EXPECT_THAT(ParseJws("e3=.e30.c2ln").status().message(), HasSubstr("header"));
  EXPECT_THAT(ParseJws("e30.e3 0.c2ln").status().message(), HasSubstr("payload"));
  EXPECT_THAT(ParseJws("e30.e30.c2l+").status().message(), HasSubstr("signature"));
  const std::string array = Base64UrlEncode("[1,2]");
  EXPECT_THAT(ParseJws(absl::StrCat(array, ".e30.c2ln")).status().message(),
              HasSubstr("header is not a JSON object"));
  EXPECT_THAT(
      ParseJws(absl::StrCat("e30.", Base64UrlEncode("{\"a\":"), ".c2ln")).status().message(),
      HasSubstr("payload is not a JSON object"));
}

TEST(ParseJws, MessagesNeverQuoteTheToken) {
  const std::string token = "eyJzZWNyZXQiOiJodW50ZXIyIn0.not*base64.c2ln";
  absl::StatusOr<ParsedJws> parsed = ParseJws(token);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), ::testing::Not(HasSubstr("not*base64")));
  EXPECT_THAT(std::string(parsed.status().message()), ::testing::Not(HasSubstr("eyJ")));
}

TEST(ParseJws, KeepsSigningInputAndDecodedSignature) {
  ParsedJws parsed = *ParseJws("e30.eyJhIjoxfQ.c2ln");
  EXPECT_EQ(parsed.signing_input, "e30.eyJhIjoxfQ");
  EXPECT_EQ(parsed.signature, "sig");
  EXPECT_EQ(parsed.payload["a"], 1);
}

// --- JWK / JWKS -------------------------------------------------------------------------------

TEST(Jwks, ExportsEcAndOkpKeysInRfcShape) {
  SigningKey ec = Es256("ec-1");
  SigningKey ed = EdDsa("ed-1");
  nlohmann::json jwks = *ToJwks({*ec.PublicKey(), *ed.PublicKey()});
  ASSERT_THAT(jwks["keys"], SizeIs(2));
  const nlohmann::json& e = jwks["keys"][0];
  EXPECT_EQ(e["kty"], "EC");
  EXPECT_EQ(e["crv"], "P-256");
  EXPECT_EQ(e["kid"], "ec-1");
  EXPECT_EQ(e["alg"], "ES256");
  EXPECT_EQ(e["use"], "sig");
  EXPECT_THAT(Base64UrlDecode(e["x"].get<std::string>()).value(), SizeIs(32));
  EXPECT_THAT(Base64UrlDecode(e["y"].get<std::string>()).value(), SizeIs(32));
  EXPECT_FALSE(e.contains("d"));
  const nlohmann::json& o = jwks["keys"][1];
  EXPECT_EQ(o["kty"], "OKP");
  EXPECT_EQ(o["crv"], "Ed25519");
  EXPECT_EQ(o["alg"], "EdDSA");
  EXPECT_THAT(Base64UrlDecode(o["x"].get<std::string>()).value(), SizeIs(32));
  EXPECT_FALSE(o.contains("d"));
}

TEST(Jwks, RoundTripVerifiesTokensOfEveryKey) {
  SigningKey ec = Es256("ec-1");
  SigningKey ed = EdDsa("ed-1");
  SigningKey rsa = *SigningKey::GenerateRS256("rsa-1");
  const std::string text = ToJwks({*ec.PublicKey(), *ed.PublicKey(), *rsa.PublicKey()})->dump();
  absl::StatusOr<std::vector<VerificationKey>> keys = FromJwksText(text);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_THAT(*keys, SizeIs(3));
  EXPECT_TRUE(VerifyToken(*SignJwt(ec, nullptr, kClaims), (*keys)[0]).ok());
  EXPECT_TRUE(VerifyToken(*SignJwt(ed, nullptr, kClaims), (*keys)[1]).ok());
  EXPECT_TRUE(VerifyToken(*SignJwt(rsa, nullptr, kClaims), (*keys)[2]).ok());
  EXPECT_EQ((*keys)[2].alg, "RS256");
}

TEST(Jwks, ImportsRsaKeyWithoutAlgAsEntraIdPublishesIt) {
  SigningKey rsa = *SigningKey::GenerateRS256("nOo3ZDrODXEK1jKWhXslHR_KXEg");
  nlohmann::json jwk = *ToJwk(*rsa.PublicKey());
  // Entra ID's shape: kty, use, kid, n, e (plus x5t/x5c/issuer), no alg.
  nlohmann::json entra = {{"kty", "RSA"},
                          {"use", "sig"},
                          {"kid", jwk["kid"]},
                          {"x5t", "nOo3ZDrODXEK1jKWhXslHR_KXEg"},
                          {"n", jwk["n"]},
                          {"e", "AQAB"},
                          {"x5c", {"MIIC/TCCAeWgAwIBAgIIUd7j/OIahkYwDQYJKoZIhvcNAQELBQAw"}},
                          {"issuer", "https://login.microsoftonline.com/tenant/v2.0"}};
  absl::StatusOr<std::vector<VerificationKey>> keys =
      FromJwks(nlohmann::json{{"keys", nlohmann::json::array({entra})}});
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_THAT(*keys, SizeIs(1));
  EXPECT_EQ((*keys)[0].alg, "RS256");
  EXPECT_TRUE(VerifyToken(*SignJwt(rsa, nullptr, kClaims), (*keys)[0]).ok());
}

TEST(Jwks, RefusesPrivateKeyMembers) {
  nlohmann::json jwk = *ToJwk(*Es256("k").PublicKey());
  jwk["d"] = Base64UrlEncode(std::string(32, 'a'));
  absl::StatusOr<std::vector<VerificationKey>> keys =
      FromJwks({{"keys", nlohmann::json::array({jwk})}});
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(keys.status().message(), HasSubstr("keys[0].d: private key material"));
}

TEST(Jwks, RefusesSymmetricAndUnknownKeyTypes) {
  EXPECT_THAT(FromJwk({{"kty", "oct"}, {"kid", "h"}, {"alg", "HS256"}}).status().message(),
              HasSubstr("kty: symmetric keys"));
  EXPECT_THAT(FromJwk({{"kty", "XYZ"}, {"kid", "x"}}).status().message(),
              HasSubstr("kty: must be \"EC\", \"OKP\" or \"RSA\""));
  EXPECT_THAT(FromJwk({{"kid", "x"}}).status().message(), HasSubstr("kty: required"));
}

TEST(Jwks, RefusesOtherCurves) {
  nlohmann::json jwk = *ToJwk(*Es256("k").PublicKey());
  jwk["crv"] = "P-384";
  EXPECT_THAT(FromJwk(jwk).status().message(), HasSubstr("crv: only \"P-256\""));
}

TEST(Jwks, RefusesPointsNotOnTheCurve) {
  nlohmann::json jwk = *ToJwk(*Es256("k").PublicKey());
  std::string y = *Base64UrlDecode(jwk["y"].get<std::string>());
  y[31] ^= 1;
  jwk["y"] = Base64UrlEncode(y);
  EXPECT_THAT(FromJwk(jwk).status().message(), HasSubstr("not a point on P-256"));
}

TEST(Jwks, RefusesRsaKeysShorterThan2048Bits) {
  nlohmann::json jwk = *ToJwk(*SigningKey::GenerateRS256("k")->PublicKey());
  std::string n = *Base64UrlDecode(jwk["n"].get<std::string>());
  jwk["n"] = Base64UrlEncode(n.substr(0, 128));  // 1024 bits
  EXPECT_THAT(FromJwk(jwk).status().message(), HasSubstr("n: RSA keys must have 2048"));
}

TEST(Jwks, RefusesAlgThatDoesNotFitTheKey) {
  nlohmann::json jwk = *ToJwk(*Es256("k").PublicKey());
  jwk["alg"] = "RS256";
  EXPECT_THAT(FromJwk(jwk).status().message(), HasSubstr("alg: must be \"ES256\""));
}

TEST(Jwks, RefusesDuplicateKidsAndMissingKid) {
  nlohmann::json jwk = *ToJwk(*Es256("same").PublicKey());
  EXPECT_THAT(FromJwks({{"keys", nlohmann::json::array({jwk, jwk})}}).status().message(),
              HasSubstr("keys[1].kid: \"same\" appears more than once"));
  jwk.erase("kid");
  EXPECT_THAT(FromJwk(jwk).status().message(), HasSubstr("kid: required"));
}

TEST(Jwks, SkipsEncryptionKeys) {
  nlohmann::json sig = *ToJwk(*Es256("sig").PublicKey());
  nlohmann::json enc = *ToJwk(*Es256("enc").PublicKey());
  enc["use"] = "enc";
  enc.erase("alg");
  absl::StatusOr<std::vector<VerificationKey>> keys =
      FromJwks({{"keys", nlohmann::json::array({enc, sig})}});
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_THAT(*keys, SizeIs(1));
  EXPECT_EQ((*keys)[0].kid, "sig");
}

TEST(Jwks, RefusesMalformedDocuments) {
  EXPECT_FALSE(FromJwksText("not json").ok());
  EXPECT_THAT(FromJwksText("{}").status().message(), HasSubstr("keys: required"));
  EXPECT_THAT(FromJwksText("{\"keys\":[1]}").status().message(),
              HasSubstr("keys[0]: must be an object"));
}

}  // namespace
}  // namespace smartby::auth
