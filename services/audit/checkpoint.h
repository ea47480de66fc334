// Signed checkpoints of the audit log: C2SP tlog-checkpoint bodies in C2SP signed notes with
// Ed25519 signatures (https://github.com/C2SP/C2SP: tlog-checkpoint.md, signed-note.md).
//
//   <origin>\n<tree size, decimal>\n<root hash, standard base64>\n
//   \n
//   — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\n
//
// Key id = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]. Verifier key text:
// "<name>+<key id hex>+<base64(0x01 || public key)>".
//
// Self-contained (libsodium or OpenSSL, Abseil): smartctl verifies checkpoints offline with it.
#ifndef SMARTBY_SERVICES_AUDIT_CHECKPOINT_H_
#define SMARTBY_SERVICES_AUDIT_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/audit/merkle.h"

namespace smartby::audit {

struct CheckpointBody {
  std::string origin;  // the log's name, e.g. "smartby.example/audit"
  uint64_t size = 0;
  merkle::Hash root{};
  std::vector<std::string> extensions;  // further body lines, if any
};

// The body text, each line ending in "\n".
std::string FormatCheckpointBody(const CheckpointBody& body);
// INVALID_ARGUMENT saying which line is wrong.
absl::StatusOr<CheckpointBody> ParseCheckpointBody(absl::string_view text);

// Ed25519 note signer. The private key is a 32-byte seed, stored like any secret.
class NoteSigner {
 public:
  static absl::StatusOr<NoteSigner> Generate(std::string key_name);
  static absl::StatusOr<NoteSigner> FromSeed(std::string key_name, absl::string_view seed32);

  // The complete signed note for `body` (which must end in "\n").
  absl::StatusOr<std::string> Sign(absl::string_view body) const;
  std::string VerifierKey() const;  // "<name>+<key id>+<base64 key>"
  const std::string& key_name() const { return key_name_; }
  const std::string& seed() const { return seed_; }

 private:
  NoteSigner(std::string key_name, std::string seed, std::string public_key)
      : key_name_(std::move(key_name)), seed_(std::move(seed)), public_key_(std::move(public_key)) {}
  std::string key_name_;
  std::string seed_;
  std::string public_key_;
};

// Verifies that `note` carries a valid signature by `verifier_key` and returns the note's body.
// UNAUTHENTICATED when no signature line of that key verifies; INVALID_ARGUMENT for a malformed
// note or key.
absl::StatusOr<std::string> VerifyNote(absl::string_view note, absl::string_view verifier_key);

// VerifyNote, then ParseCheckpointBody, then the body's origin must equal `origin`
// (INVALID_ARGUMENT if not): what smartctl and clients need to trust a checkpoint.
absl::StatusOr<CheckpointBody> VerifyCheckpoint(absl::string_view note,
                                                absl::string_view verifier_key,
                                                absl::string_view origin);

}  // namespace smartby::audit

#endif  // SMARTBY_SERVICES_AUDIT_CHECKPOINT_H_
