#include "services/auth/secret_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"

namespace smartby::auth {
namespace {

constexpr char kPrefix[] = "sb1:";
constexpr size_t kKeyBytes = 32, kNonceBytes = 12, kTagBytes = 16;

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// One key file: 32 raw bytes, or their base64 with any whitespace around it.
absl::StatusOr<std::string> ReadKeyFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--secrets_key_file: cannot read ", path.string()));
  }
  std::stringstream content;
  content << in.rdbuf();
  std::string key = content.str();
  if (key.size() == kKeyBytes) return key;
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripAsciiWhitespace(key), &decoded) ||
      decoded.size() != kKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--secrets_key_file: ", path.string(),
                     " must hold a 32-byte key, raw or in base64 (openssl rand -base64 32)"));
  }
  return decoded;
}

}  // namespace

absl::StatusOr<SecretBox> SecretBox::FromKeys(std::vector<std::string> keys) {
  if (keys.empty()) return absl::InvalidArgumentError("no key");
  for (const std::string& key : keys) {
    if (key.size() != kKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat("a key is ", key.size(), " bytes, not 32"));
    }
  }
  return SecretBox(std::move(keys));
}

absl::StatusOr<SecretBox> SecretBox::FromKeyPath(const std::string& path) {
  std::error_code error;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(path, error)) {
    for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
      // A Kubernetes Secret mount also holds ..data and timestamped directories: files only.
      if (entry.path().extension() == ".key" && entry.is_regular_file(error)) {
        files.push_back(entry.path());
      }
    }
    if (files.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--secrets_key_file: no *.key files in ", path));
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  std::vector<std::string> keys;
  for (const auto& file : files) {
    ASSIGN_OR_RETURN(std::string key, ReadKeyFile(file));
    keys.push_back(std::move(key));
  }
  return SecretBox(std::move(keys));
}

bool SecretBox::IsSealed(absl::string_view text) { return absl::StartsWith(text, kPrefix); }

absl::StatusOr<std::string> SecretBox::Seal(absl::string_view plaintext,
                                            absl::string_view place) const {
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(nonce, kNonceBytes) != 1) return absl::InternalError("no random bytes");
  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int n = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(keys_.back()), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, Bytes(place), static_cast<int>(place.size())) !=
          1 ||
      EVP_EncryptUpdate(ctx.get(), nonce + kNonceBytes, &n, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), nonce + kNonceBytes + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          nonce + kNonceBytes + plaintext.size()) != 1) {
    return absl::InternalError("AES-GCM encryption failed");
  }
  return absl::StrCat(kPrefix, absl::Base64Escape(out));
}

absl::StatusOr<std::string> SecretBox::Open(absl::string_view sealed, absl::string_view place,
                                            bool* newest) const {
  std::string raw;
  if (!IsSealed(sealed) || !absl::Base64Unescape(sealed.substr(sizeof(kPrefix) - 1), &raw) ||
      raw.size() < kNonceBytes + kTagBytes) {
    return absl::DataLossError(absl::StrCat("the stored secret of ", place, " is damaged"));
  }
  const size_t text_size = raw.size() - kNonceBytes - kTagBytes;
  auto* nonce = reinterpret_cast<unsigned char*>(raw.data());
  std::string plaintext(text_size, '\0');
  unsigned char unused[kTagBytes];  // GCM writes nothing at the end
  for (size_t k = keys_.size(); k-- > 0;) {  // the newest first: it sealed most values
    CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    int n = 0;
    const bool ok =
        ctx != nullptr &&
        EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(keys_[k]), nonce) == 1 &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &n, Bytes(place), static_cast<int>(place.size())) ==
            1 &&
        EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &n,
                          nonce + kNonceBytes, static_cast<int>(text_size)) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes,
                            nonce + kNonceBytes + text_size) == 1 &&
        EVP_DecryptFinal_ex(ctx.get(), unused, &n) == 1;
    if (ok) {
      if (newest != nullptr) *newest = k + 1 == keys_.size();
      return plaintext;
    }
  }
  return absl::DataLossError(absl::StrCat(
      "the stored secret of ", place,
      " does not open with --secrets_key_file: another key sealed it, or it was altered"));
}

}  // namespace smartby::auth
