// One-time passwords for the second factor: HOTP (RFC 4226), TOTP (RFC 6238), the Base32 form
// authenticator apps use for secrets (RFC 4648 §6), and the `otpauth://` enrolment URI.
//
// Secrets are raw bytes (std::string used as a byte buffer) everywhere in this API; Base32 is
// only the form shown to people and put in the URI. Everything here is thread-safe: the free
// functions hold no state, and TotpVerifier only reads its Clock.
//
// Errors are INVALID_ARGUMENT naming the field ("totp.digits: ...", "code: ..."), except a
// code that is wrong or already used, which is UNAUTHENTICATED.
#ifndef SMARTBY_SERVICES_AUTH_TOTP_H_
#define SMARTBY_SERVICES_AUTH_TOTP_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/runtime/clock.h"

namespace smartby::auth {

enum class OtpAlgorithm { kSha1, kSha256, kSha512 };

// "SHA1", "SHA256" or "SHA512", as written in the otpauth URI.
absl::string_view OtpAlgorithmName(OtpAlgorithm algorithm);

// The parameters an account's authenticator was enrolled with. The defaults are the ones every
// authenticator app supports; other values are for tests and for apps that honour the URI.
struct TotpParams {
  OtpAlgorithm algorithm = OtpAlgorithm::kSha1;
  int digits = 6;                             // 6, 7 or 8
  absl::Duration period = absl::Seconds(30);  // whole seconds, 1 s to 1 h
};

// OK, or INVALID_ARGUMENT naming the parameter that is out of range.
absl::Status ValidateTotpParams(const TotpParams& params);

// Bytes of secret NewTotpSecret makes: 160 bits, the HMAC-SHA1 block-size recommendation of
// RFC 4226 §4 and what authenticator apps expect.
inline constexpr int kTotpSecretBytes = 20;

// Longest secret accepted anywhere here: a bound on input, far above any real enrolment.
inline constexpr int kMaxTotpSecretBytes = 1024;

// RFC 4226: HMAC(secret, counter as 8 big-endian bytes), dynamic truncation, `digits` decimal
// digits with leading zeros. `secret` must be 1–kMaxTotpSecretBytes bytes; `digits` 6–8.
absl::StatusOr<std::string> Hotp(absl::string_view secret, uint64_t counter, int digits,
                                 OtpAlgorithm algorithm = OtpAlgorithm::kSha1);

// RFC 6238 time step of `time`: floor(seconds since the Unix epoch / period). Times before the
// epoch are refused.
absl::StatusOr<int64_t> TotpStep(absl::Time time, absl::Duration period);

// RFC 6238: the HOTP of TotpStep(time) under `params`.
absl::StatusOr<std::string> Totp(absl::string_view secret, absl::Time time,
                                 const TotpParams& params = {});

// RFC 4648 Base32 (alphabet A–Z, 2–7), upper case, without '=' padding.
std::string Base32Encode(absl::string_view bytes);

// Inverse of Base32Encode. Case-insensitive; trailing '=' padding is accepted and ignored.
// Anything else outside the alphabet, or a length no encoder can produce, is INVALID_ARGUMENT
// saying which character (and where) or why the length is wrong.
absl::StatusOr<std::string> Base32Decode(absl::string_view text);

// kTotpSecretBytes from the operating system's CSPRNG (OpenSSL RAND_bytes). INTERNAL only if
// the generator fails, which on Linux means something is badly wrong.
absl::StatusOr<std::string> NewTotpSecret();

// The enrolment URI authenticator apps read from a QR code (Google Authenticator key-URI format):
//   otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30
// `issuer` and `account` are UTF-8 and are percent-encoded (RFC 3986: every byte other than
// A–Z a–z 0–9 - . _ ~ becomes %XX, so "Bergen kommune" → "Bergen%20kommune", "å" → "%C3%A5" and
// ':' → "%3A", leaving the one literal ':' as the separator). Both must be non-empty.
absl::StatusOr<std::string> OtpauthUri(absl::string_view issuer, absl::string_view account,
                                       absl::string_view secret, const TotpParams& params = {});

// Checks codes typed by a person against an account's secret, at the time its Clock gives.
//
// Accepts the code of the current step and of one step either side (RFC 6238 §5.2: clock drift
// and the time it takes to type). Replay protection: the caller passes the step of the last
// code accepted for the account (nullopt if none) and, on success, gets the step of this code
// back to store in its place; a code whose step is not later than the stored one is refused.
// This also refuses an older, still unexpired code once a newer one has been used, so each code
// works at most once and codes are accepted in order. The caller must serialise
// verify-and-store per account (e.g. a compare-and-set on the stored step), or two concurrent
// requests could both accept the same code.
//
// Codes are compared in constant time. Thread-safe; `clock` must outlive the verifier.
class TotpVerifier {
 public:
  // INVALID_ARGUMENT if `params` is out of range (see ValidateTotpParams).
  static absl::StatusOr<TotpVerifier> Create(const Clock& clock, TotpParams params = {});

  // The step to store as the account's last used step, or:
  //   INVALID_ARGUMENT  `code` is not exactly params.digits ASCII digits, or `secret` is empty;
  //   UNAUTHENTICATED   the code is wrong, or was already used.
  absl::StatusOr<int64_t> Verify(absl::string_view secret, absl::string_view code,
                                 std::optional<int64_t> last_used_step) const;

  const TotpParams& params() const { return params_; }

 private:
  TotpVerifier(const Clock& clock, TotpParams params) : clock_(&clock), params_(params) {}

  const Clock* clock_;
  TotpParams params_;
};

}  // namespace smartby::auth

#endif  // SMARTBY_SERVICES_AUTH_TOTP_H_
