// Encryption at rest of the secrets auth keeps in its database (TOTP secrets, generated token
// signing keys), so that a copy of the database (a backup, a dump, a read-only replica) does not
// hand out second factors or the power to mint tokens.
//
// AES-256-GCM with a fresh 96-bit random nonce per value; the value's place (e.g. "totp:kari") is
// authenticated as associated data, so a sealed value copied to another row does not open. The
// key comes from a file (--secrets_key_file): 32 bytes, raw or base64 (`openssl rand -base64
// 32`). Sealed text is "sb1:" + base64(nonce | ciphertext | tag); text without that prefix is a
// value stored before encryption was turned on (IsSealed tells them apart).
#ifndef SMARTBY_SERVICES_AUTH_SECRET_BOX_H_
#define SMARTBY_SERVICES_AUTH_SECRET_BOX_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartby::auth {

class SecretBox {
 public:
  // INVALID_ARGUMENT (naming the file) when it cannot be read or is not a 32-byte key.
  static absl::StatusOr<SecretBox> FromKeyFile(const std::string& path);
  static absl::StatusOr<SecretBox> FromKey(absl::string_view key);  // 32 raw bytes

  static bool IsSealed(absl::string_view text);

  absl::StatusOr<std::string> Seal(absl::string_view plaintext, absl::string_view place) const;
  // DATA_LOSS when `sealed` was not sealed with this key for this place (or was altered).
  absl::StatusOr<std::string> Open(absl::string_view sealed, absl::string_view place) const;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace smartby::auth

#endif  // SMARTBY_SERVICES_AUTH_SECRET_BOX_H_
