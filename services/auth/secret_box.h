// Encryption at rest of the secrets auth keeps in its database (TOTP secrets, generated token
// signing keys), so that a copy of the database (a backup, a dump, a read-only replica) does not
// hand out second factors or the power to mint tokens.
//
// AES-256-GCM with a fresh 96-bit random nonce per value; the value's place (e.g. "totp:kari") is
// authenticated as associated data, so a sealed value copied to another row does not open. The
// keys come from --secrets_key_file: one file, or a directory of *.key files (a Kubernetes Secret
// mount), each 32 bytes, raw or base64 (`openssl rand -base64 32`). The key whose file name sorts
// last seals; every key opens, so a new key can be added, the stored values resealed with it
// (AuthStore::ResealSecrets, at start-up), and the old key removed. Sealed text is "sb1:" +
// base64(nonce | ciphertext | tag); text without that prefix is a value stored before encryption
// was turned on (IsSealed tells them apart).
#ifndef SMARTBY_SERVICES_AUTH_SECRET_BOX_H_
#define SMARTBY_SERVICES_AUTH_SECRET_BOX_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartby::auth {

class SecretBox {
 public:
  // INVALID_ARGUMENT (naming the file or directory) when no key can be read or one is not 32
  // bytes.
  static absl::StatusOr<SecretBox> FromKeyPath(const std::string& path);
  // 32 raw bytes each, oldest first: the last seals.
  static absl::StatusOr<SecretBox> FromKeys(std::vector<std::string> keys);

  static bool IsSealed(absl::string_view text);

  // Sealed with the newest key.
  absl::StatusOr<std::string> Seal(absl::string_view plaintext, absl::string_view place) const;
  // DATA_LOSS when no key opens `sealed` for this place (another key sealed it, or it was
  // altered). `newest`, when given, says whether the newest key opened it.
  absl::StatusOr<std::string> Open(absl::string_view sealed, absl::string_view place,
                                   bool* newest = nullptr) const;

 private:
  explicit SecretBox(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  std::vector<std::string> keys_;  // oldest first; never empty
};

}  // namespace smartby::auth

#endif  // SMARTBY_SERVICES_AUTH_SECRET_BOX_H_
