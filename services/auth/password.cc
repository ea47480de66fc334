#include "services/auth/password.h"

#include <sodium.h>

#include <array>
#include <chrono>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"
#include "services/runtime/utf8.h"

namespace smartby::auth {
namespace {

// The most common passwords that are long enough to pass the other rules, from public breach
// corpora plus the Norwegian season-year pattern. All lower case; compared after case folding.
// Short classics ("123456", "passord") are already refused by the length rule.
constexpr std::array<absl::string_view, 20> kCommonPasswords = {
    "password1234", "password123!", "passord12345", "passord123!!", "123456789012",
    "1234567890123", "12345678910!", "qwertyuiop12", "qwertyuiopå1", "qwerty123456",
    "1q2w3e4r5t6y", "iloveyou1234", "administrator", "welcome12345", "velkommen123",
    "sommer2024!!", "sommer2025!!", "vinter2024!!", "norge1234567", "changeme1234",
};

constexpr absl::string_view kArgon2idPrefix = "$argon2id$";
constexpr absl::string_view kArgon2iPrefix = "$argon2i$";

absl::Status InitSodiumOnce() {
  static std::once_flag once;
  static int result = -1;
  std::call_once(once, [] { result = sodium_init(); });  // 1 (already done) also counts as OK
  if (result < 0) return absl::InternalError("password: libsodium failed to initialise");
  return absl::OkStatus();
}

// Decodes strict UTF-8 (utf8.h) into code
// points; false if `text` is not valid UTF-8.
bool DecodeUtf8(absl::string_view text, std::vector<char32_t>& out) {
  out.clear();
  for (size_t i = 0; i < text.size();) {
    const std::optional<char32_t> cp = utf8::Next(text, i);
    if (!cp) return false;
    out.push_back(*cp);
  }
  return true;
}

// Lower-cases ASCII letters and the Latin-1 capitals U+00C0–U+00DE (Æ Ø Å É ...; not U+00D7
// '×'), byte-wise on UTF-8: those capitals are C3 80–C3 9E, their small letters C3 A0–C3 BE.
std::string FoldCase(absl::string_view text) {
  std::string out(text);
  for (size_t i = 0; i < out.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(out[i]);
    if (c >= 'A' && c <= 'Z') {
      out[i] = static_cast<char>(c + 32);
    } else if (c == 0xC3 && i + 1 < out.size()) {
      const unsigned char next = static_cast<unsigned char>(out[i + 1]);
      if (next >= 0x80 && next <= 0x9E && next != 0x97) out[i + 1] = static_cast<char>(next + 32);
      ++i;
    }
  }
  return out;
}

absl::Status ValidateOptions(const PasswordHasherOptions& options) {
  const Argon2idParams& params = options.params;
  if (params.memory_bytes < kMinArgon2idMemoryBytes ||
      params.memory_bytes > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "password_hash.memory_bytes: must be at least ", kMinArgon2idMemoryBytes,
        " (19 MiB, the OWASP minimum) and at most ", crypto_pwhash_argon2id_MEMLIMIT_MAX,
        ", got ", params.memory_bytes));
  }
  if (params.iterations < kMinArgon2idIterations ||
      params.iterations > crypto_pwhash_argon2id_OPSLIMIT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "password_hash.iterations: must be at least ", kMinArgon2idIterations,
        " (the OWASP minimum) and at most ", crypto_pwhash_argon2id_OPSLIMIT_MAX, ", got ",
        params.iterations));
  }
  if (options.max_concurrent < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "password_hash.max_concurrent: must be at least 1, got ", options.max_concurrent));
  }
  if (options.max_wait < absl::ZeroDuration() || options.max_wait > absl::Seconds(60)) {
    return absl::InvalidArgumentError(
        absl::StrCat("password_hash.max_wait: must be from 0 to 60 s, got ",
                     absl::FormatDuration(options.max_wait)));
  }
  return absl::OkStatus();
}

absl::Status NotAnArgon2Hash() {
  return absl::DataLossError(
      "stored password hash: is not an argon2 hash string; the stored value is corrupt");
}

}  // namespace

absl::Status CheckPasswordPolicy(absl::string_view password, absl::string_view username) {
  // The byte bound first, so nothing below ever scans unbounded input.
  if (password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(absl::StrCat("password: must be at most ",
                                                   kMaxPasswordBytes, " bytes, this one has ",
                                                   password.size()));
  }
  std::vector<char32_t> code_points;
  if (!DecodeUtf8(password, code_points)) {
    return absl::InvalidArgumentError("password: must be valid UTF-8 text");
  }
  if (code_points.size() < static_cast<size_t>(kMinPasswordCharacters)) {
    return absl::InvalidArgumentError(absl::StrCat("password: must be at least ",
                                                   kMinPasswordCharacters,
                                                   " characters, this one has ",
                                                   code_points.size()));
  }
  const std::string folded = FoldCase(password);
  std::vector<char32_t> folded_code_points;
  DecodeUtf8(folded, folded_code_points);  // folding keeps valid UTF-8 valid
  bool one_character = true;
  for (char32_t cp : folded_code_points) {
    one_character = one_character && cp == folded_code_points[0];
  }
  if (one_character) {
    return absl::InvalidArgumentError("password: must not be one character repeated");
  }
  if (!username.empty()) {
    const std::string folded_username = FoldCase(username);
    std::vector<char32_t> username_code_points;
    const bool username_is_text = DecodeUtf8(username, username_code_points);
    if (folded == folded_username) {
      return absl::InvalidArgumentError("password: must not be the same as the username");
    }
    if (username_is_text && username_code_points.size() >= 3 &&
        absl::StrContains(folded, folded_username)) {
      return absl::InvalidArgumentError("password: must not contain the username");
    }
  }
  for (absl::string_view common : kCommonPasswords) {
    if (folded == common) {
      return absl::InvalidArgumentError(
          "password: is one of the most commonly used passwords; choose another");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PasswordHasher>> PasswordHasher::Create(
    PasswordHasherOptions options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  RETURN_IF_ERROR(InitSodiumOnce());
  return std::unique_ptr<PasswordHasher>(new PasswordHasher(options));
}

absl::Status PasswordHasher::AcquireSlot() {
  std::unique_lock<std::mutex> lock(mu_);
  ++waiting_;
  const bool got_slot =
      slot_freed_.wait_for(lock, absl::ToChronoNanoseconds(options_.max_wait),
                           [this] { return in_flight_ < options_.max_concurrent; });
  --waiting_;
  if (!got_slot) {
    return absl::ResourceExhaustedError("too many sign-ins at once; try again shortly");
  }
  ++in_flight_;
  return absl::OkStatus();
}

void PasswordHasher::ReleaseSlot() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
  }
  slot_freed_.notify_one();
}

int PasswordHasher::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

int PasswordHasher::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

absl::StatusOr<std::string> PasswordHasher::Hash(absl::string_view password) {
  if (password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("password: must be at most ", kMaxPasswordBytes, " bytes"));
  }
  RETURN_IF_ERROR(AcquireSlot());
  std::array<char, crypto_pwhash_STRBYTES> out{};
  const int result = crypto_pwhash_str_alg(
      out.data(), password.data(), password.size(), options_.params.iterations,
      static_cast<size_t>(options_.params.memory_bytes), crypto_pwhash_ALG_ARGON2ID13);
  ReleaseSlot();
  if (result != 0) {
    return absl::InternalError(
        "password: argon2id hashing failed in libsodium (most likely out of memory)");
  }
  return std::string(out.data());
}

absl::StatusOr<bool> PasswordHasher::Verify(absl::string_view password,
                                            absl::string_view stored_hash) {
  if (stored_hash.size() >= crypto_pwhash_STRBYTES ||
      !(absl::StartsWith(stored_hash, kArgon2idPrefix) ||
        absl::StartsWith(stored_hash, kArgon2iPrefix))) {
    return NotAnArgon2Hash();
  }
  if (password.size() > kMaxPasswordBytes) return false;
  const std::string terminated(stored_hash);  // libsodium reads a NUL-terminated string
  RETURN_IF_ERROR(AcquireSlot());
  const int result = crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size());
  ReleaseSlot();
  return result == 0;
}

absl::StatusOr<bool> PasswordHasher::NeedsRehash(absl::string_view stored_hash) const {
  if (stored_hash.size() >= crypto_pwhash_STRBYTES) return NotAnArgon2Hash();
  if (absl::StartsWith(stored_hash, kArgon2iPrefix)) return true;
  if (!absl::StartsWith(stored_hash, kArgon2idPrefix)) return NotAnArgon2Hash();
  const std::string terminated(stored_hash);
  const int result = crypto_pwhash_argon2id_str_needs_rehash(
      terminated.c_str(), options_.params.iterations,
      static_cast<size_t>(options_.params.memory_bytes));
  if (result < 0) return NotAnArgon2Hash();
  return result == 1;
}

}  // namespace smartby::auth
