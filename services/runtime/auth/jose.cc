#include "services/runtime/auth/jose.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <array>
#include <cstdint>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"

namespace smartby::auth {
namespace {

// --- OpenSSL ownership helpers --------------------------------------------------------------

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamFree>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigFree>;

SharedPkey Share(EVP_PKEY* key) { return SharedPkey(key, PkeyFree()); }

// SHA-256 fetched once: an implicit fetch per signature is a measurable share of a verification
// with OpenSSL 3.0. EVP_MD objects are immutable and safe to share between threads.
const EVP_MD* Sha256() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

constexpr size_t kEs256ComponentBytes = 32;
constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kMaxKidBytes = 256;

bool IsP256(EVP_PKEY* key) {
  if (!EVP_PKEY_is_a(key, "EC")) return false;
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) !=
      1) {
    return false;
  }
  const absl::string_view name(group, len);
  return name == "prime256v1" || name == "P-256" || name == "secp256r1";
}

// The JWS algorithm for a key, or "" when the key is of a type or size this module refuses.
std::string AlgorithmForKey(EVP_PKEY* key) {
  if (key == nullptr) return "";
  if (EVP_PKEY_is_a(key, "ED25519")) return std::string(kAlgEdDSA);
  if (IsP256(key)) return std::string(kAlgES256);
  if (EVP_PKEY_is_a(key, "RSA")) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits >= kMinRsaBits && bits <= kMaxRsaBits) return std::string(kAlgRS256);
  }
  return "";
}

absl::Status OpenSslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, " failed in OpenSSL"));
}

// --- base64url tables -------------------------------------------------------------------------

constexpr char kB64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kB64Alphabet[i])] = int8_t(i);
  return table;
}
constexpr std::array<int8_t, 256> kB64Decode = MakeDecodeTable();

// "keys[2].x" or "x": names a JWK member in messages.
std::string Field(absl::string_view path, absl::string_view member) {
  return path.empty() ? std::string(member) : absl::StrCat(path, ".", member);
}

// --- big-endian integers in JWK members -------------------------------------------------------

std::string BnToBytes(const BIGNUM* bn, int width) {
  const int len = width > 0 ? width : BN_num_bytes(bn);
  std::string out(static_cast<size_t>(len), '\0');
  if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len) != len) return "";
  return out;
}

absl::StatusOr<std::string> GetBnParam(EVP_PKEY* key, const char* name, int width) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return OpenSslError("reading a key parameter");
  BnPtr bn(raw);
  std::string bytes = BnToBytes(bn.get(), width);
  if (bytes.empty()) return OpenSslError("encoding a key parameter");
  return bytes;
}

// A base64url member of a JWK, decoded. `path` names the member in messages ("keys[0].x").
absl::StatusOr<std::string> JwkBytes(const nlohmann::json& jwk, const char* member,
                                     absl::string_view path) {
  auto it = jwk.find(member);
  if (it == jwk.end() || !it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, member), ": required, a base64url string"));
  }
  auto decoded = Base64UrlDecode(it->get_ref<const std::string&>());
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, member), ": ", decoded.status().message()));
  }
  return decoded;
}

absl::StatusOr<SharedPkey> PkeyFromData(const char* type, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (params == nullptr) return OpenSslError("building key parameters");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return OpenSslError("preparing a key import");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError("is not a valid public key");
  }
  return Share(raw);
}

absl::StatusOr<SharedPkey> EcKeyFromJwk(const nlohmann::json& jwk, absl::string_view path) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string() || *crv != "P-256") {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "crv"), ": only \"P-256\" is accepted for EC keys"));
  }
  ASSIGN_OR_RETURN(std::string x, JwkBytes(jwk, "x", path));
  ASSIGN_OR_RETURN(std::string y, JwkBytes(jwk, "y", path));
  if (x.size() != kEs256ComponentBytes || y.size() != kEs256ComponentBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "x, y"), ": must be 32 bytes each for P-256"));
  }
  std::string point = absl::StrCat("\x04", x, y);  // SEC 1 uncompressed point
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return OpenSslError("building EC key parameters");
  }
  auto key = PkeyFromData("EC", bld.get());
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Field(path, "x, y"), ": not a point on P-256"));
  }
  // Refuse points off the curve or of small order (invalid-curve attacks) explicitly, whatever
  // the import itself checked.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(Field(path, "x, y"), ": not a point on P-256"));
  }
  return key;
}

absl::StatusOr<SharedPkey> OkpKeyFromJwk(const nlohmann::json& jwk, absl::string_view path) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string() || *crv != "Ed25519") {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "crv"), ": only \"Ed25519\" is accepted for OKP keys"));
  }
  ASSIGN_OR_RETURN(std::string x, JwkBytes(jwk, "x", path));
  if (x.size() != kEd25519KeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "x"), ": must be 32 bytes for Ed25519"));
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr || OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                                         x.data(), x.size()) != 1) {
    return OpenSslError("building Ed25519 key parameters");
  }
  auto key = PkeyFromData("ED25519", bld.get());
  if (!key.ok())
    return absl::InvalidArgumentError(absl::StrCat(Field(path, "x"), ": ", key.status().message()));
  return key;
}

absl::StatusOr<SharedPkey> RsaKeyFromJwk(const nlohmann::json& jwk, absl::string_view path) {
  ASSIGN_OR_RETURN(std::string n, JwkBytes(jwk, "n", path));
  ASSIGN_OR_RETURN(std::string e, JwkBytes(jwk, "e", path));
  if (e.empty() || e.size() > 8) {
    return absl::InvalidArgumentError(absl::StrCat(Field(path, "e"), ": must be 1 to 8 bytes"));
  }
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), int(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), int(e.size()), nullptr));
  if (bn_n == nullptr || bn_e == nullptr) return OpenSslError("reading RSA key parameters");
  const int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return absl::InvalidArgumentError(absl::StrCat(Field(path, "n"), ": RSA keys must have ",
                                                   kMinRsaBits, " to ", kMaxRsaBits,
                                                   " bits, this one has ", bits));
  }
  if (!BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get())) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "e"), ": not a valid RSA public exponent"));
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return OpenSslError("building RSA key parameters");
  }
  auto key = PkeyFromData("RSA", bld.get());
  if (!key.ok())
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "n, e"), ": ", key.status().message()));
  return key;
}

absl::StatusOr<VerificationKey> FromJwkAt(const nlohmann::json& jwk, absl::string_view path) {
  if (!jwk.is_object())
    return absl::InvalidArgumentError(
        absl::StrCat(path.empty() ? "JWK" : path, ": must be an object"));
  // Private members mean someone published (or is about to publish) a private key.
  for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (jwk.contains(member)) {
      return absl::InvalidArgumentError(absl::StrCat(
          Field(path, member), ": private key material is not accepted in a public key set"));
    }
  }
  auto kid = jwk.find("kid");
  if (kid == jwk.end() || !kid->is_string() || kid->get_ref<const std::string&>().empty() ||
      kid->get_ref<const std::string&>().size() > kMaxKidBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        Field(path, "kid"), ": required, a string of 1 to ", kMaxKidBytes, " characters"));
  }
  auto use = jwk.find("use");
  if (use != jwk.end() && (!use->is_string() || *use != "sig")) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "use"), ": must be \"sig\" when present"));
  }
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(Field(path, "kty"), ": required, a string"));
  }
  const std::string& type = kty->get_ref<const std::string&>();
  absl::StatusOr<SharedPkey> key;
  if (type == "EC") {
    key = EcKeyFromJwk(jwk, path);
  } else if (type == "OKP") {
    key = OkpKeyFromJwk(jwk, path);
  } else if (type == "RSA") {
    key = RsaKeyFromJwk(jwk, path);
  } else if (type == "oct") {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "kty"), ": symmetric keys (\"oct\") are not accepted"));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "kty"), ": must be \"EC\", \"OKP\" or \"RSA\""));
  }
  if (!key.ok()) return key.status();
  std::string alg = AlgorithmForKey(key->get());
  if (alg.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(path.empty() ? "JWK" : path, ": unsupported key"));
  auto declared = jwk.find("alg");
  if (declared != jwk.end() && (!declared->is_string() || *declared != alg)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(path, "alg"), ": must be \"", alg, "\" for this key type when present"));
  }
  return VerificationKey{kid->get<std::string>(), std::move(alg), *std::move(key)};
}

}  // namespace

bool IsSupportedAlgorithm(absl::string_view alg) {
  return alg == kAlgES256 || alg == kAlgEdDSA || alg == kAlgRS256;
}

// --- base64url --------------------------------------------------------------------------------

std::string Base64UrlEncode(absl::string_view data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8) | in[i + 2];
    out.push_back(kB64Alphabet[(v >> 18) & 63]);
    out.push_back(kB64Alphabet[(v >> 12) & 63]);
    out.push_back(kB64Alphabet[(v >> 6) & 63]);
    out.push_back(kB64Alphabet[v & 63]);
  }
  const size_t rest = data.size() - i;
  if (rest == 1) {
    const uint32_t v = uint32_t(in[i]) << 16;
    out.push_back(kB64Alphabet[(v >> 18) & 63]);
    out.push_back(kB64Alphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    const uint32_t v = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8);
    out.push_back(kB64Alphabet[(v >> 18) & 63]);
    out.push_back(kB64Alphabet[(v >> 12) & 63]);
    out.push_back(kB64Alphabet[(v >> 6) & 63]);
  }
  return out;
}

absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text) {
  if (text.size() % 4 == 1) return absl::InvalidArgumentError("not valid base64url (bad length)");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int8_t v = kB64Decode[static_cast<unsigned char>(c)];
    if (v < 0) {
      return absl::InvalidArgumentError(
          "not valid base64url (only A-Z, a-z, 0-9, '-' and '_' without padding)");
    }
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero, otherwise two encodings would decode to the same bytes.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return absl::InvalidArgumentError("not valid base64url (non-zero trailing bits)");
  }
  return out;
}

// --- keys -------------------------------------------------------------------------------------

absl::StatusOr<SigningKey> SigningKey::FromPkey(std::string kid, SharedPkey key) {
  if (kid.empty() || kid.size() > kMaxKidBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("kid: required, a string of 1 to ", kMaxKidBytes, " characters"));
  }
  std::string alg = AlgorithmForKey(key.get());
  if (alg.empty()) {
    return absl::InvalidArgumentError(
        "signing key: must be EC P-256, Ed25519 or RSA of 2048 to 8192 bits");
  }
  return SigningKey(std::move(kid), std::move(alg), std::move(key));
}

absl::StatusOr<SigningKey> SigningKey::GenerateES256(std::string kid) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (raw == nullptr) return OpenSslError("generating a P-256 key");
  return FromPkey(std::move(kid), Share(raw));
}

absl::StatusOr<SigningKey> SigningKey::GenerateEdDSA(std::string kid) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (raw == nullptr) return OpenSslError("generating an Ed25519 key");
  return FromPkey(std::move(kid), Share(raw));
}

absl::StatusOr<SigningKey> SigningKey::GenerateRS256(std::string kid, int bits) {
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("bits: must be ", kMinRsaBits, " to ", kMaxRsaBits));
  }
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  if (raw == nullptr) return OpenSslError("generating an RSA key");
  return FromPkey(std::move(kid), Share(raw));
}

absl::StatusOr<SigningKey> SigningKey::FromPem(std::string kid, absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslError("reading a PEM key");
  // An empty passphrase callback: encrypted PEM is refused instead of prompting on a terminal.
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
  if (raw == nullptr) {
    return absl::InvalidArgumentError(
        "signing key: not an unencrypted PEM private key (expected \"-----BEGIN PRIVATE "
        "KEY-----\")");
  }
  return FromPkey(std::move(kid), Share(raw));
}

absl::StatusOr<std::string> SigningKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("writing a PEM key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

absl::StatusOr<VerificationKey> SigningKey::PublicKey() const {
  // Round-trip through SubjectPublicKeyInfo DER so the verification key holds no private part.
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key_.get(), &der);
  if (len <= 0) return OpenSslError("extracting a public key");
  const unsigned char* p = der;
  EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, len);
  OPENSSL_free(der);
  if (pub == nullptr) return OpenSslError("extracting a public key");
  return VerificationKey{kid_, alg_, Share(pub)};
}

// --- ECDSA signature forms --------------------------------------------------------------------

absl::StatusOr<std::string> EcdsaDerToJose(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (sig == nullptr || p != reinterpret_cast<const unsigned char*>(der.data() + der.size())) {
    return absl::InvalidArgumentError("not a DER ECDSA signature");
  }
  const BIGNUM* r = ECDSA_SIG_get0_r(sig.get());
  const BIGNUM* s = ECDSA_SIG_get0_s(sig.get());
  if (BN_num_bytes(r) > int(kEs256ComponentBytes) || BN_num_bytes(s) > int(kEs256ComponentBytes)) {
    return absl::InvalidArgumentError("ECDSA signature too large for P-256");
  }
  return absl::StrCat(BnToBytes(r, kEs256ComponentBytes), BnToBytes(s, kEs256ComponentBytes));
}

absl::StatusOr<std::string> EcdsaJoseToDer(absl::string_view jose) {
  if (jose.size() != 2 * kEs256ComponentBytes) {
    return absl::InvalidArgumentError("ES256 signature must be 64 bytes");
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(jose.data());
  BnPtr r(BN_bin2bn(bytes, kEs256ComponentBytes, nullptr));
  BnPtr s(BN_bin2bn(bytes + kEs256ComponentBytes, kEs256ComponentBytes, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || sig == nullptr ||
      ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return OpenSslError("building an ECDSA signature");
  }
  r.release();  // owned by sig now
  s.release();
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return OpenSslError("encoding an ECDSA signature");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// --- JWS --------------------------------------------------------------------------------------

absl::StatusOr<std::string> SignJwt(const SigningKey& key, const nlohmann::json& header_extra,
                                    const nlohmann::json& claims) {
  if (!header_extra.is_null() && !header_extra.is_object()) {
    return absl::InvalidArgumentError("header_extra: must be a JSON object");
  }
  if (!claims.is_object()) return absl::InvalidArgumentError("claims: must be a JSON object");
  nlohmann::json header = nlohmann::json::object();
  if (header_extra.is_object()) {
    for (const char* reserved : {"alg", "kid", "crit"}) {
      if (header_extra.contains(reserved)) {
        return absl::InvalidArgumentError(
            absl::StrCat("header_extra.", reserved, ": set by SignJwt, not by the caller"));
      }
    }
    header = header_extra;
  }
  header["alg"] = key.alg();
  header["kid"] = key.kid();
  const std::string signing_input =
      absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(claims.dump()));

  MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = key.alg() == kAlgEdDSA ? nullptr : Sha256();
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.pkey()) != 1) {
    return OpenSslError("starting a signature");
  }
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, signing_input.size()) != 1) {
    return OpenSslError("sizing a signature");
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, in,
                     signing_input.size()) != 1) {
    return OpenSslError("signing");
  }
  signature.resize(len);
  if (key.alg() == kAlgES256) {
    ASSIGN_OR_RETURN(signature, EcdsaDerToJose(signature));
  }
  return absl::StrCat(signing_input, ".", Base64UrlEncode(signature));
}

absl::StatusOr<ParsedJws> ParseJws(absl::string_view token) {
  if (token.size() > kMaxTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("token is longer than ", kMaxTokenBytes, " bytes"));
  }
  const size_t first = token.find('.');
  const size_t second = first == token.npos ? token.npos : token.find('.', first + 1);
  if (second == token.npos || token.find('.', second + 1) != token.npos) {
    return absl::InvalidArgumentError("token is not three parts separated by dots");
  }
  const absl::string_view header_b64 = token.substr(0, first);
  const absl::string_view payload_b64 = token.substr(first + 1, second - first - 1);
  const absl::string_view signature_b64 = token.substr(second + 1);

  ParsedJws out;
  auto header = Base64UrlDecode(header_b64);
  if (!header.ok()) return absl::InvalidArgumentError("token header is not base64url");
  auto payload = Base64UrlDecode(payload_b64);
  if (!payload.ok()) return absl::InvalidArgumentError("token payload is not base64url");
  auto signature = Base64UrlDecode(signature_b64);
  if (!signature.ok()) return absl::InvalidArgumentError("token signature is not base64url");

  // No exceptions: a parse error yields a "discarded" value.
  out.header = nlohmann::json::parse(*header, nullptr, /*allow_exceptions=*/false);
  if (!out.header.is_object())
    return absl::InvalidArgumentError("token header is not a JSON object");
  out.payload = nlohmann::json::parse(*payload, nullptr, /*allow_exceptions=*/false);
  if (!out.payload.is_object()) {
    return absl::InvalidArgumentError("token payload is not a JSON object");
  }
  out.signing_input = std::string(token.substr(0, second));
  out.signature = *std::move(signature);
  return out;
}

absl::Status VerifyJwsSignature(absl::string_view alg, const VerificationKey& key,
                                absl::string_view signing_input, absl::string_view signature) {
  if (!IsSupportedAlgorithm(alg)) return absl::InvalidArgumentError("unsupported algorithm");
  if (key.key == nullptr || key.alg != alg) {
    return absl::InvalidArgumentError("key is not for this algorithm");
  }
  const EVP_MD* md = nullptr;
  std::string der;  // ES256 only
  if (alg == kAlgES256) {
    if (!EVP_PKEY_is_a(key.key.get(), "EC")) {
      return absl::InvalidArgumentError("key is not for this algorithm");
    }
    auto converted = EcdsaJoseToDer(signature);
    if (!converted.ok()) return absl::InvalidArgumentError("signature is not valid");
    der = *std::move(converted);
    signature = der;
    md = Sha256();
  } else if (alg == kAlgEdDSA) {
    if (!EVP_PKEY_is_a(key.key.get(), "ED25519")) {
      return absl::InvalidArgumentError("key is not for this algorithm");
    }
  } else {  // RS256
    if (!EVP_PKEY_is_a(key.key.get(), "RSA") || EVP_PKEY_get_bits(key.key.get()) < kMinRsaBits) {
      return absl::InvalidArgumentError("key is not for this algorithm");
    }
    md = Sha256();
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.key.get()) != 1) {
    return OpenSslError("starting a signature check");
  }
  const int ok = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
  if (ok != 1) return absl::InvalidArgumentError("signature is not valid");
  return absl::OkStatus();
}

// --- JWK / JWKS -------------------------------------------------------------------------------

absl::StatusOr<nlohmann::json> ToJwk(const VerificationKey& key) {
  if (key.key == nullptr) return absl::InvalidArgumentError("key: missing");
  const std::string alg = AlgorithmForKey(key.key.get());
  if (alg.empty() || alg != key.alg) {
    return absl::InvalidArgumentError("key: type does not match its algorithm");
  }
  nlohmann::json jwk;
  EVP_PKEY* pkey = key.key.get();
  if (alg == kAlgES256) {
    ASSIGN_OR_RETURN(std::string x, GetBnParam(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32));
    ASSIGN_OR_RETURN(std::string y, GetBnParam(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
    jwk = {{"kty", "EC"}, {"crv", "P-256"}, {"x", Base64UrlEncode(x)}, {"y", Base64UrlEncode(y)}};
  } else if (alg == kAlgEdDSA) {
    unsigned char raw[kEd25519KeyBytes];
    size_t len = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 || len != kEd25519KeyBytes) {
      return OpenSslError("reading an Ed25519 public key");
    }
    jwk = {{"kty", "OKP"},
           {"crv", "Ed25519"},
           {"x", Base64UrlEncode(absl::string_view(reinterpret_cast<char*>(raw), len))}};
  } else {
    ASSIGN_OR_RETURN(std::string n, GetBnParam(pkey, OSSL_PKEY_PARAM_RSA_N, 0));
    ASSIGN_OR_RETURN(std::string e, GetBnParam(pkey, OSSL_PKEY_PARAM_RSA_E, 0));
    jwk = {{"kty", "RSA"}, {"n", Base64UrlEncode(n)}, {"e", Base64UrlEncode(e)}};
  }
  jwk["kid"] = key.kid;
  jwk["alg"] = key.alg;
  jwk["use"] = "sig";
  return jwk;
}

absl::StatusOr<nlohmann::json> ToJwks(const std::vector<VerificationKey>& keys) {
  nlohmann::json list = nlohmann::json::array();
  for (const VerificationKey& key : keys) {
    ASSIGN_OR_RETURN(nlohmann::json jwk, ToJwk(key));
    list.push_back(std::move(jwk));
  }
  return nlohmann::json{{"keys", std::move(list)}};
}

absl::StatusOr<VerificationKey> FromJwk(const nlohmann::json& jwk) { return FromJwkAt(jwk, ""); }

absl::StatusOr<std::vector<VerificationKey>> FromJwks(const nlohmann::json& jwks) {
  if (!jwks.is_object()) return absl::InvalidArgumentError("JWKS: must be a JSON object");
  auto list = jwks.find("keys");
  if (list == jwks.end() || !list->is_array()) {
    return absl::InvalidArgumentError("keys: required, an array of JWK objects");
  }
  std::vector<VerificationKey> keys;
  std::set<std::string> kids;
  for (size_t i = 0; i < list->size(); ++i) {
    const nlohmann::json& jwk = (*list)[i];
    const std::string path = absl::StrCat("keys[", i, "]");
    if (jwk.is_object()) {
      auto use = jwk.find("use");
      if (use != jwk.end() && use->is_string() && *use == "enc") continue;
    }
    ASSIGN_OR_RETURN(VerificationKey key, FromJwkAt(jwk, path));
    if (!kids.insert(key.kid).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(Field(path, "kid"), ": \"", key.kid, "\" appears more than once"));
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

absl::StatusOr<std::vector<VerificationKey>> FromJwksText(absl::string_view text) {
  nlohmann::json jwks = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (jwks.is_discarded()) return absl::InvalidArgumentError("JWKS: not valid JSON");
  return FromJwks(jwks);
}

}  // namespace smartby::auth
