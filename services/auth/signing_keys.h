// The platform's token-signing keys (ES256): where they come from, which one signs, which are
// published, and rotation with a pre-publication delay and an overlap window.
//
// Two sources:
//   - the database (default; `make run`): the first start generates a key and stores it, so keys
//     persist across restarts. Rotate() and automatic rotation (Options::rotation_interval) add
//     a key that is published at once but signs only after Options::prepublication, so that every
//     service's cached key set has it before the first token does; the key it replaces stays
//     published for Options::overlap after that, then is removed. Several replicas share the
//     keys through the database (Maintain() reloads them).
//   - PEM files (--signing_key_file; a Kubernetes Secret mount): a file, or a directory whose
//     *.pem files each hold one PKCS#8 P-256 private key. All are published; the one whose file
//     name sorts last signs. Rotation is an operator's job (add a file, later remove the old).
//
// Key ids are RFC 7638 JWK thumbprints (base64url SHA-256), so the same key has the same kid on
// every replica and after every restart.
//
// Thread safety: thread-safe. Sign() takes a shared lock only; Rotate/Maintain serialise.
#ifndef SMARTBY_SERVICES_AUTH_SIGNING_KEYS_H_
#define SMARTBY_SERVICES_AUTH_SIGNING_KEYS_H_

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/auth/auth_store.h"
#include "services/runtime/auth/jose.h"
#include "services/runtime/auth/token_verifier.h"
#include "services/runtime/clock.h"

namespace smartby::auth {

struct SigningKeyOptions {
  // Automatic rotation: a new key when the newest is this old. InfiniteDuration: never.
  absl::Duration rotation_interval = absl::Hours(24 * 30);
  // How long a new key is published before it signs (other services refetch keys on an unknown
  // kid anyway; this makes even that fetch unnecessary). 0 in tests.
  absl::Duration prepublication = absl::Seconds(60);
  // How long a replaced key stays published after its successor starts signing: at least the
  // access-token lifetime plus clock skew, so every token it signed still verifies until expiry.
  absl::Duration overlap = absl::Minutes(30);
};

// The RFC 7638 thumbprint of the key's public part, used as its kid.
absl::StatusOr<std::string> KeyThumbprint(const SigningKey& key);

class SigningKeyManager {
 public:
  // Keys from the database; generates and stores the first one when there is none.
  // `store` and `clock` must outlive the manager.
  static absl::StatusOr<std::unique_ptr<SigningKeyManager>> OpenStored(AuthStore* store,
                                                                       const Clock* clock,
                                                                       SigningKeyOptions options);
  // Keys from a PEM file or a directory of *.pem files (see above). INVALID_ARGUMENT naming the
  // file when one is unreadable or not a P-256 private key, or when there is no key at all.
  static absl::StatusOr<std::unique_ptr<SigningKeyManager>> LoadFiles(const std::string& path,
                                                                      const Clock* clock);

  // A JWS compact token over `claims` with the current key; header {"alg","kid","typ":"at+jwt"}.
  absl::StatusOr<std::string> Sign(const nlohmann::json& claims) const;

  // The keys to publish now (current, pre-published and overlapping ones).
  std::vector<VerificationKey> PublishedKeys() const;
  // {"keys":[...]} of PublishedKeys().
  absl::StatusOr<std::string> JwksJson() const;
  // The kid Sign() would use now.
  std::string SigningKid() const;

  // Adds a new key (database keys only; FAILED_PRECONDITION for file keys) and returns its kid.
  absl::StatusOr<std::string> Rotate();

  // Housekeeping, called periodically and by tests: reloads keys other replicas added, removes
  // keys whose overlap has ended, and rotates when the newest key is older than the rotation
  // interval. Returns true when the published set changed (refresh the key caches then).
  absl::StatusOr<bool> Maintain();

  bool from_files() const { return store_ == nullptr; }

 private:
  struct Entry {
    SigningKey key;
    VerificationKey public_key;
    absl::Time create_time;
    absl::Time activate_time;
    absl::Time retire_time;
  };
  using Entries = std::vector<Entry>;

  SigningKeyManager(AuthStore* store, const Clock* clock, SigningKeyOptions options)
      : store_(store), clock_(clock), options_(options) {}

  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(update_mu_);
  absl::StatusOr<std::string> RotateLocked(absl::Time now, absl::Duration prepublication)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(update_mu_);
  std::shared_ptr<const Entries> Snapshot() const;
  void Publish(std::shared_ptr<const Entries> entries);
  static const Entry* CurrentOf(const Entries& entries, absl::Time now);

  AuthStore* const store_;  // nullptr for file keys
  const Clock* const clock_;
  const SigningKeyOptions options_;

  absl::Mutex update_mu_;  // serialises Rotate/Maintain
  mutable absl::Mutex mu_;
  std::shared_ptr<const Entries> entries_ ABSL_GUARDED_BY(mu_) = std::make_shared<Entries>();
};

// The key set the runtime's verifier uses inside the auth service itself: the published keys,
// read in-process (no RPC to ourselves).
class SigningKeySource : public KeySource {
 public:
  explicit SigningKeySource(const SigningKeyManager* keys) : keys_(keys) {}
  absl::StatusOr<std::vector<VerificationKey>> FetchKeys() override {
    return keys_->PublishedKeys();
  }

 private:
  const SigningKeyManager* keys_;
};

}  // namespace smartby::auth

#endif  // SMARTBY_SERVICES_AUTH_SIGNING_KEYS_H_
