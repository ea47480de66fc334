// Sealing of secrets at rest (secret_box.h).
#include "services/auth/secret_box.h"

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
  auto box = SecretBox::FromKey(kKey);
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
  auto box = SecretBox::FromKey(kKey);
  auto other = SecretBox::FromKey(std::string(32, 'x'));
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
  auto from_raw = SecretBox::FromKeyFile(raw);
  auto from_text = SecretBox::FromKeyFile(text);
  ASSERT_TRUE(from_raw.ok()) << from_raw.status();
  ASSERT_TRUE(from_text.ok()) << from_text.status();
  EXPECT_EQ(*from_text->Open(*from_raw->Seal("s", "p"), "p"), "s");  // the same key

  const std::string short_key = WriteFile("short.key", absl::Base64Escape(std::string(16, 'k')));
  const absl::Status wrong = SecretBox::FromKeyFile(short_key).status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.message()), HasSubstr(short_key));
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("32-byte"));
  EXPECT_THAT(std::string(SecretBox::FromKeyFile("/nonexistent/key").status().message()),
              HasSubstr("--secrets_key_file: cannot read /nonexistent/key"));
}

}  // namespace
}  // namespace smartby::auth
