#include "services/auth/totp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"

namespace smartby::auth {
namespace {

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

const EVP_MD* Digest(OtpAlgorithm algorithm) {
  switch (algorithm) {
    case OtpAlgorithm::kSha1:
      return EVP_sha1();
    case OtpAlgorithm::kSha256:
      return EVP_sha256();
    case OtpAlgorithm::kSha512:
      return EVP_sha512();
  }
  return nullptr;
}

absl::Status ValidateDigits(int digits) {
  if (digits < 6 || digits > 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("totp.digits: must be 6, 7 or 8, got ", digits));
  }
  return absl::OkStatus();
}

absl::Status ValidateSecret(absl::string_view secret) {
  if (secret.empty() || secret.size() > static_cast<size_t>(kMaxTotpSecretBytes)) {
    return absl::InvalidArgumentError(absl::StrCat("secret: must be 1–", kMaxTotpSecretBytes,
                                                   " bytes, got ", secret.size()));
  }
  return absl::OkStatus();
}

// Value of a Base32 character (either case), or -1.
int Base32Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

// RFC 3986 percent-encoding of everything but the unreserved characters. Used for both the
// label path segment and query values, where it is always safe (if stricter than necessary).
std::string PercentEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace

absl::string_view OtpAlgorithmName(OtpAlgorithm algorithm) {
  switch (algorithm) {
    case OtpAlgorithm::kSha1:
      return "SHA1";
    case OtpAlgorithm::kSha256:
      return "SHA256";
    case OtpAlgorithm::kSha512:
      return "SHA512";
  }
  return "unknown";
}

absl::Status ValidateTotpParams(const TotpParams& params) {
  if (Digest(params.algorithm) == nullptr) {
    return absl::InvalidArgumentError("totp.algorithm: must be SHA1, SHA256 or SHA512");
  }
  RETURN_IF_ERROR(ValidateDigits(params.digits));
  if (params.period < absl::Seconds(1) || params.period > absl::Hours(1) ||
      params.period % absl::Seconds(1) != absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("totp.period: must be a whole number of seconds from 1 s to 1 h, got ",
                     absl::FormatDuration(params.period)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Hotp(absl::string_view secret, uint64_t counter, int digits,
                                 OtpAlgorithm algorithm) {
  RETURN_IF_ERROR(ValidateSecret(secret));
  RETURN_IF_ERROR(ValidateDigits(digits));
  const EVP_MD* digest = Digest(algorithm);
  if (digest == nullptr) {
    return absl::InvalidArgumentError("totp.algorithm: must be SHA1, SHA256 or SHA512");
  }

  std::array<unsigned char, 8> message;
  for (int i = 7; i >= 0; --i) {
    message[i] = static_cast<unsigned char>(counter & 0xFF);
    counter >>= 8;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac;
  unsigned int mac_size = 0;
  if (HMAC(digest, secret.data(), static_cast<int>(secret.size()), message.data(),
           message.size(), mac.data(), &mac_size) == nullptr ||
      mac_size < 20) {
    return absl::InternalError("totp: HMAC computation failed in OpenSSL");
  }

  // Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte picks four bytes.
  const unsigned offset = mac[mac_size - 1] & 0x0F;
  const uint32_t binary = (static_cast<uint32_t>(mac[offset] & 0x7F) << 24) |
                          (static_cast<uint32_t>(mac[offset + 1]) << 16) |
                          (static_cast<uint32_t>(mac[offset + 2]) << 8) |
                          static_cast<uint32_t>(mac[offset + 3]);
  OPENSSL_cleanse(mac.data(), mac.size());

  uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  uint32_t value = binary % modulus;
  std::string code(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    code[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return code;
}

absl::StatusOr<int64_t> TotpStep(absl::Time time, absl::Duration period) {
  if (time < absl::UnixEpoch()) {
    return absl::InvalidArgumentError(
        absl::StrCat("time: must not be before 1970-01-01, got ", absl::FormatTime(time)));
  }
  const int64_t period_seconds = absl::ToInt64Seconds(period);
  if (period_seconds < 1) {
    return absl::InvalidArgumentError("totp.period: must be at least 1 second");
  }
  return absl::ToUnixSeconds(time) / period_seconds;
}

absl::StatusOr<std::string> Totp(absl::string_view secret, absl::Time time,
                                 const TotpParams& params) {
  RETURN_IF_ERROR(ValidateTotpParams(params));
  ASSIGN_OR_RETURN(const int64_t step, TotpStep(time, params.period));
  return Hotp(secret, static_cast<uint64_t>(step), params.digits, params.algorithm);
}

std::string Base32Encode(absl::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 0x1F]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 0x1F]);
  return out;
}

absl::StatusOr<std::string> Base32Decode(absl::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  // 8 characters carry 5 bytes; a final group of 1, 3 or 6 characters ends mid-byte in a way
  // no encoder produces, so it is a typo or truncation rather than data.
  switch (text.size() % 8) {
    case 1:
    case 3:
    case 6:
      return absl::InvalidArgumentError(absl::StrCat(
          "base32 text: ", text.size(),
          " characters (without padding) is not a length any Base32 encoding has; a character "
          "is probably missing or extra"));
    default:
      break;
  }
  std::string out;
  out.reserve(text.size() * 5 / 8);
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int value = Base32Value(text[i]);
    if (value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("base32 text: '", absl::CHexEscape(text.substr(i, 1)), "' at position ",
                       i + 1, " is not a Base32 character (A–Z, 2–7)"));
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

absl::StatusOr<std::string> NewTotpSecret() {
  std::string secret(kTotpSecretBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), kTotpSecretBytes) != 1) {
    return absl::InternalError("totp: the random number generator (OpenSSL RAND_bytes) failed");
  }
  return secret;
}

absl::StatusOr<std::string> OtpauthUri(absl::string_view issuer, absl::string_view account,
                                       absl::string_view secret, const TotpParams& params) {
  if (issuer.empty()) return absl::InvalidArgumentError("issuer: must not be empty");
  if (account.empty()) return absl::InvalidArgumentError("account: must not be empty");
  RETURN_IF_ERROR(ValidateSecret(secret));
  RETURN_IF_ERROR(ValidateTotpParams(params));
  const std::string encoded_issuer = PercentEncode(issuer);
  return absl::StrCat("otpauth://totp/", encoded_issuer, ":", PercentEncode(account),
                      "?secret=", Base32Encode(secret), "&issuer=", encoded_issuer,
                      "&algorithm=", OtpAlgorithmName(params.algorithm),
                      "&digits=", params.digits,
                      "&period=", absl::ToInt64Seconds(params.period));
}

absl::StatusOr<TotpVerifier> TotpVerifier::Create(const Clock& clock, TotpParams params) {
  RETURN_IF_ERROR(ValidateTotpParams(params));
  return TotpVerifier(clock, params);
}

absl::StatusOr<int64_t> TotpVerifier::Verify(absl::string_view secret, absl::string_view code,
                                             std::optional<int64_t> last_used_step) const {
  bool well_formed = code.size() == static_cast<size_t>(params_.digits);
  for (char c : code) well_formed = well_formed && absl::ascii_isdigit(c);
  if (!well_formed) {
    return absl::InvalidArgumentError(
        absl::StrCat("code: must be exactly ", params_.digits, " digits (0–9)"));
  }
  RETURN_IF_ERROR(ValidateSecret(secret));
  ASSIGN_OR_RETURN(const int64_t now_step, TotpStep(clock_->Now(), params_.period));

  // Every candidate is computed and compared, so the time taken does not say which step (if
  // any) matched.
  std::optional<int64_t> accepted;
  bool matched_used_step = false;
  for (int64_t step = now_step - 1; step <= now_step + 1; ++step) {
    if (step < 0) continue;
    ASSIGN_OR_RETURN(const std::string expected,
                     Hotp(secret, static_cast<uint64_t>(step), params_.digits,
                          params_.algorithm));
    const bool matches = CRYPTO_memcmp(expected.data(), code.data(), expected.size()) == 0;
    const bool unused = !last_used_step.has_value() || step > *last_used_step;
    if (matches && unused && !accepted.has_value()) accepted = step;
    if (matches && !unused) matched_used_step = true;
  }
  if (accepted.has_value()) return *accepted;
  if (matched_used_step) {
    return absl::UnauthenticatedError(
        "code: this code has already been used; wait for the next one");
  }
  return absl::UnauthenticatedError(
      "code: not the right code; check that the clock on your device is correct and enter the "
      "newest code");
}

}  // namespace smartby::auth
