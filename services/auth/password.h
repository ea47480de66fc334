// Passwords of local users (administrators, break-glass accounts): the policy a new password
// must meet, and argon2id hashing through libsodium with a bound on how many hashes run at once.
//
// Stored hashes are libsodium's PHC strings ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"), so
// each one carries its own salt and parameters and old hashes keep verifying after the
// parameters are raised; NeedsRehash tells the caller when to re-hash at the next sign-in.
#ifndef SMARTBY_SERVICES_AUTH_PASSWORD_H_
#define SMARTBY_SERVICES_AUTH_PASSWORD_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace smartby::auth {

// Length bounds of a password. Characters are Unicode code points of the UTF-8 text; the byte
// bound keeps hashing input bounded whatever the characters are.
inline constexpr int kMinPasswordCharacters = 12;
inline constexpr size_t kMaxPasswordBytes = 256;

// OK, or INVALID_ARGUMENT with a message a person can act on ("password: must be at least 12
// characters, this one has 9"). A password must be valid UTF-8 of at most kMaxPasswordBytes
// bytes and at least kMinPasswordCharacters characters, must not be one character repeated,
// must not be or contain `username` (ignoring case; containment only for usernames of three
// or more characters, so a user "ab" is not barred from every password with "ab" in it), and
// must not be one of a built-in list of the most common long passwords (ignoring case).
// Case is folded for ASCII and for Latin-1 letters (Æ Ø Å É ...), not for other scripts.
// Unicode normalisation is not applied. Thread-safe.
absl::Status CheckPasswordPolicy(absl::string_view password, absl::string_view username);

// argon2id cost. The defaults are OWASP's minimum (m = 19 MiB, t = 2, p = 1); lower values are
// refused, higher ones accepted. libsodium always uses one lane (p = 1).
struct Argon2idParams {
  uint64_t memory_bytes = uint64_t{19} << 20;
  uint64_t iterations = 2;
};

inline constexpr uint64_t kMinArgon2idMemoryBytes = uint64_t{19} << 20;
inline constexpr uint64_t kMinArgon2idIterations = 2;

struct PasswordHasherOptions {
  Argon2idParams params;
  // At most this many hashes or verifications run at once, so their memory is bounded by
  // max_concurrent × params.memory_bytes (2 × 19 MiB by default). Match it to the cores given
  // to hashing: more only queues work inside argon2 instead of here.
  int max_concurrent = 2;
  // How long a caller waits for a free slot before getting RESOURCE_EXHAUSTED; 0 to 60 s.
  // Waiting uses real time (a condition variable), not the Clock seam: it bounds latency, it
  // is not domain logic.
  absl::Duration max_wait = absl::Milliseconds(500);
};

// Hashes and verifies passwords with argon2id, never more than options.max_concurrent at once.
// A caller that cannot get a slot within options.max_wait gets RESOURCE_EXHAUSTED ("too many
// sign-ins at once; try again shortly") instead of queueing without bound, so a burst of
// sign-ins costs bounded memory and bounded latency.
//
// Thread-safe. Hash and Verify block the calling thread for the argon2id computation (tens of
// milliseconds at the defaults), so call them from a worker pool, not from a gRPC callback
// thread.
class PasswordHasher {
 public:
  // INVALID_ARGUMENT naming the option if params are below the OWASP minimum or above what
  // libsodium supports, max_concurrent < 1 or max_wait outside 0–60 s; INTERNAL if libsodium cannot
  // initialise.
  static absl::StatusOr<std::unique_ptr<PasswordHasher>> Create(PasswordHasherOptions options);

  PasswordHasher(const PasswordHasher&) = delete;
  PasswordHasher& operator=(const PasswordHasher&) = delete;

  // A new PHC string with a fresh random salt. This does not apply CheckPasswordPolicy (a
  // policy is for new passwords chosen by people, not for every hash); it does refuse a
  // password longer than kMaxPasswordBytes with INVALID_ARGUMENT. RESOURCE_EXHAUSTED when no
  // slot frees up in time; INTERNAL if libsodium fails (out of memory).
  absl::StatusOr<std::string> Hash(absl::string_view password);

  // True if `password` matches `stored_hash`, false if not; the comparison is constant time
  // (crypto_pwhash_str_verify). A password longer than kMaxPasswordBytes is false without
  // hashing (no such password can have been set). DATA_LOSS if `stored_hash` is not an argon2
  // PHC string (corrupt storage); RESOURCE_EXHAUSTED as for Hash.
  absl::StatusOr<bool> Verify(absl::string_view password, absl::string_view stored_hash);

  // True if `stored_hash` was made with other parameters than the configured ones, or with
  // argon2i rather than argon2id: re-hash the password (just verified) and store the result.
  // Cheap (parses the string), takes no slot. DATA_LOSS if it is not an argon2 PHC string.
  absl::StatusOr<bool> NeedsRehash(absl::string_view stored_hash) const;

  const PasswordHasherOptions& options() const { return options_; }

  // Hashes or verifications running now, and callers waiting for a slot. For metrics and tests.
  int in_flight() const;
  int waiting() const;

 private:
  friend class PasswordHasherTestPeer;

  explicit PasswordHasher(PasswordHasherOptions options) : options_(options) {}

  // Takes a slot, waiting at most options_.max_wait; RESOURCE_EXHAUSTED if none frees up.
  absl::Status AcquireSlot();
  void ReleaseSlot();

  const PasswordHasherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable slot_freed_;
  int in_flight_ = 0;  // guarded by mu_
  int waiting_ = 0;    // guarded by mu_
};

}  // namespace smartby::auth

#endif  // SMARTBY_SERVICES_AUTH_PASSWORD_H_
