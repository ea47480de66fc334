// Sealing of secrets at rest (secret_box.h).
#include "services/auth/secret_box.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::auth {
namespace {

using ::testing::HasSubstr;

const std::string kKey(32, 'k');

std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(SecretBox, OpensWhatItSealedForTheSamePlaceOnly) {
  auto box = SecretBox::FromKeys({kKey});
  ASSERT_TRUE(box.ok());
  auto sealed = box->Seal("totp bytes \x01\x02", "totp:kari");
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(SecretBox::IsSealed(*sealed));
  EXPECT_THAT(*sealed, ::testing::Not(HasSubstr("totp bytes")));
  EXPECT_EQ(*box->Open(*sealed, "totp:kari"), "totp bytes \x01\x02");
  // Copied to another user's row, it does not open.
  EXPECT_EQ(box->Open(*sealed, "totp:ola").status().code(), absl::StatusCode::kDataLoss);
  // A fresh nonce each time: the same secret never looks the same twice.
  EXPECT_NE(*box->Seal("same", "p"), *box->Seal("same", "p"));
}

TEST(SecretBox, AnotherKeyOrAnAlteredValueIsDataLoss) {
  auto box = SecretBox::FromKeys({kKey});
  auto other = SecretBox::FromKeys({std::string(32, 'x')});
  ASSERT_TRUE(box.ok() && other.ok());
  const std::string sealed = *box->Seal("secret", "signing-key:k1");
  EXPECT_EQ(other->Open(sealed, "signing-key:k1").status().code(), absl::StatusCode::kDataLoss);
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(sealed.substr(4), &raw));
  raw[raw.size() / 2] ^= 1;
  const auto altered = box->Open("sb1:" + absl::Base64Escape(raw), "signing-key:k1");
  EXPECT_EQ(altered.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(box->Open("sb1:not base64!", "p").status().code(), absl::StatusCode::kDataLoss);
}

TEST(SecretBox, KeyFileIsRawOrBase64And32Bytes) {
  const std::string raw = WriteFile("raw.key", kKey);
  const std::string text = WriteFile("text.key", absl::Base64Escape(kKey) + "\n");
  auto from_raw = SecretBox::FromKeyPath(raw);
  auto from_text = SecretBox::FromKeyPath(text);
  ASSERT_TRUE(from_raw.ok()) << from_raw.status();
  ASSERT_TRUE(from_text.ok()) << from_text.status();
  EXPECT_EQ(*from_text->Open(*from_raw->Seal("s", "p"), "p"), "s");  // the same key

  const std::string short_key = WriteFile("short.key", absl::Base64Escape(std::string(16, 'k')));
  const absl::Status wrong = SecretBox::FromKeyPath(short_key).status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.message()), HasSubstr(short_key));
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("32-byte"));
  EXPECT_THAT(std::string(SecretBox::FromKeyPath("/nonexistent/key").status().message()),
              HasSubstr("--secrets_key_file: cannot read /nonexistent/key"));
}

TEST(SecretBox, ADirectoryOfKeysSealsWithTheLastAndOpensWithEvery) {
  const std::string dir = ::testing::TempDir() + "/secrets-keys";
  std::filesystem::remove_all(dir);                      // TempDir outlives the test binary
  std::filesystem::create_directories(dir + "/..data");  // as in a Kubernetes Secret mount
  WriteFile("secrets-keys/2026-01.key", absl::Base64Escape(std::string(32, 'a')));
  auto old_only = SecretBox::FromKeyPath(dir);
  ASSERT_TRUE(old_only.ok()) << old_only.status();
  const std::string sealed_with_old = *old_only->Seal("totp", "totp:kari");

  WriteFile("secrets-keys/2026-07.key", absl::Base64Escape(std::string(32, 'b')));
  WriteFile("secrets-keys/README", "not a key");
  auto both = SecretBox::FromKeyPath(dir);
  ASSERT_TRUE(both.ok()) << both.status();
  bool newest = true;
  EXPECT_EQ(*both->Open(sealed_with_old, "totp:kari", &newest), "totp");
  EXPECT_FALSE(newest);  // to be resealed
  const std::string sealed_with_new = *both->Seal("totp", "totp:kari");
  EXPECT_EQ(*both->Open(sealed_with_new, "totp:kari", &newest), "totp");
  EXPECT_TRUE(newest);
  // The new key sealed it: the old key alone does not open it.
  EXPECT_EQ(old_only->Open(sealed_with_new, "totp:kari").status().code(),
            absl::StatusCode::kDataLoss);

  const std::string empty = ::testing::TempDir() + "/no-keys";
  std::filesystem::create_directories(empty);
  EXPECT_THAT(std::string(SecretBox::FromKeyPath(empty).status().message()),
              HasSubstr("no *.key files in"));
}

}  // namespace
}  // namespace smartby::auth
