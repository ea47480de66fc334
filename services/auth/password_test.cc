#include "services/auth/password.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"

namespace smartby::auth {

// Holds one of a hasher's slots, as a real hash in progress would, so the bound on concurrency
// can be tested without racing a real computation.
class PasswordHasherTestPeer {
 public:
  static absl::Status HoldSlot(PasswordHasher& hasher) { return hasher.AcquireSlot(); }
  static void ReleaseSlot(PasswordHasher& hasher) { hasher.ReleaseSlot(); }
};

namespace {

std::unique_ptr<PasswordHasher> MakeHasher(PasswordHasherOptions options = {}) {
  absl::StatusOr<std::unique_ptr<PasswordHasher>> hasher = PasswordHasher::Create(options);
  EXPECT_TRUE(hasher.ok()) << hasher.status();
  return *std::move(hasher);
}

// Default parameters with a given bound on concurrency. (Designated initialisers that skip
// `params` would trip -Wmissing-field-initializers.)
PasswordHasherOptions Bounded(int max_concurrent, absl::Duration max_wait) {
  PasswordHasherOptions options;
  options.max_concurrent = max_concurrent;
  options.max_wait = max_wait;
  return options;
}

constexpr char kPassword[] = "korrekt hest batteri stift";

// --- Hashing and verification ---

TEST(PasswordHasher, VerifiesTheRightPassword) {
  auto hasher = MakeHasher();
  const std::string stored = *hasher->Hash(kPassword);
  EXPECT_TRUE(*hasher->Verify(kPassword, stored));
}

TEST(PasswordHasher, RefusesAWrongPassword) {
  auto hasher = MakeHasher();
  const std::string stored = *hasher->Hash(kPassword);
  EXPECT_FALSE(*hasher->Verify("korrekt hest batteri stift!", stored));
}

TEST(PasswordHasher, DefaultsToArgon2idAtTheOwaspMinimum) {
  auto hasher = MakeHasher();
  const std::string stored = *hasher->Hash(kPassword);
  EXPECT_TRUE(absl::StartsWith(stored, "$argon2id$v=19$m=19456,t=2,p=1$")) << stored;
}

TEST(PasswordHasher, SaltsEveryHash) {
  auto hasher = MakeHasher();
  EXPECT_NE(*hasher->Hash(kPassword), *hasher->Hash(kPassword));
}

TEST(PasswordHasher, UsesHigherConfiguredParameters) {
  auto hasher = MakeHasher({.params = {.memory_bytes = uint64_t{20} << 20, .iterations = 3}});
  const std::string stored = *hasher->Hash(kPassword);
  EXPECT_TRUE(absl::StartsWith(stored, "$argon2id$v=19$m=20480,t=3,p=1$")) << stored;
}

TEST(PasswordHasher, RefusesParametersBelowTheOwaspMinimum) {
  const absl::Status memory =
      PasswordHasher::Create({.params = {.memory_bytes = uint64_t{18} << 20}}).status();
  EXPECT_EQ(memory.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(memory.message(), "password_hash.memory_bytes")) << memory;
  const absl::Status iterations =
      PasswordHasher::Create({.params = {.iterations = 1}}).status();
  EXPECT_EQ(iterations.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(iterations.message(), "password_hash.iterations")) << iterations;
}

TEST(PasswordHasher, RefusesAConcurrencyLimitBelowOne) {
  EXPECT_EQ(PasswordHasher::Create(Bounded(0, absl::Seconds(1))).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PasswordHasher, AStoredValueThatIsNotAnArgon2HashIsDataLoss) {
  auto hasher = MakeHasher();
  EXPECT_EQ(hasher->Verify(kPassword, "$2b$10$notargon").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(hasher->NeedsRehash("plain text").status().code(), absl::StatusCode::kDataLoss);
}

TEST(PasswordHasher, RefusesToHashMoreThan256Bytes) {
  auto hasher = MakeHasher();
  EXPECT_EQ(hasher->Hash(std::string(257, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- Re-hashing when the parameters change ---

TEST(PasswordHasherNeedsRehash, FalseForTheConfiguredParameters) {
  auto hasher = MakeHasher();
  EXPECT_FALSE(*hasher->NeedsRehash(*hasher->Hash(kPassword)));
}

TEST(PasswordHasherNeedsRehash, TrueWhenTheMemoryGrows) {
  const std::string stored = *MakeHasher()->Hash(kPassword);
  auto stronger = MakeHasher({.params = {.memory_bytes = uint64_t{64} << 20}});
  EXPECT_TRUE(*stronger->NeedsRehash(stored));
}

TEST(PasswordHasherNeedsRehash, TrueWhenTheIterationsGrow) {
  const std::string stored = *MakeHasher()->Hash(kPassword);
  auto stronger = MakeHasher({.params = {.iterations = 3}});
  EXPECT_TRUE(*stronger->NeedsRehash(stored));
}

TEST(PasswordHasherNeedsRehash, TrueForAnArgon2iHash) {
  auto hasher = MakeHasher();
  // libsodium's argon2i needs t >= 3.
  char argon2i[crypto_pwhash_STRBYTES];
  ASSERT_EQ(crypto_pwhash_str_alg(argon2i, kPassword, sizeof(kPassword) - 1, 3,
                                  uint64_t{19} << 20, crypto_pwhash_ALG_ARGON2I13),
            0);
  EXPECT_TRUE(*hasher->Verify(kPassword, argon2i));  // old hashes keep working ...
  EXPECT_TRUE(*hasher->NeedsRehash(argon2i));        // ... and are upgraded at sign-in
}

// --- The bound on concurrent hashing ---

TEST(PasswordHasherConcurrency, ACallerFindingNoFreeSlotInTimeIsResourceExhausted) {
  auto hasher = MakeHasher(Bounded(1, absl::Milliseconds(5)));
  ASSERT_TRUE(PasswordHasherTestPeer::HoldSlot(*hasher).ok());  // one sign-in in progress

  const absl::Status status = hasher->Hash(kPassword).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "too many sign-ins at once; try again shortly");

  PasswordHasherTestPeer::ReleaseSlot(*hasher);
}

TEST(PasswordHasherConcurrency, VerifyIsBoundedToo) {
  auto hasher = MakeHasher(Bounded(1, absl::Milliseconds(5)));
  const std::string stored = *hasher->Hash(kPassword);
  ASSERT_TRUE(PasswordHasherTestPeer::HoldSlot(*hasher).ok());

  EXPECT_EQ(hasher->Verify(kPassword, stored).status().code(),
            absl::StatusCode::kResourceExhausted);

  PasswordHasherTestPeer::ReleaseSlot(*hasher);
}

TEST(PasswordHasherConcurrency, AWaitingCallerGetsTheSlotWhenItFrees) {
  auto hasher = MakeHasher(Bounded(1, absl::Seconds(60)));
  ASSERT_TRUE(PasswordHasherTestPeer::HoldSlot(*hasher).ok());
  absl::StatusOr<std::string> result;
  std::thread caller([&] { result = hasher->Hash(kPassword); });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (hasher->waiting() == 0 && absl::Now() < deadline) std::this_thread::yield();
  EXPECT_EQ(hasher->waiting(), 1) << "the caller should be queued for the held slot";

  PasswordHasherTestPeer::ReleaseSlot(*hasher);
  caller.join();

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(hasher->in_flight(), 0);
}

TEST(PasswordHasherConcurrency, SlotsAreReturnedAfterUse) {
  auto hasher = MakeHasher(Bounded(1, absl::ZeroDuration()));
  ASSERT_TRUE(hasher->Hash(kPassword).ok());
  EXPECT_TRUE(hasher->Hash(kPassword).ok());
  EXPECT_EQ(hasher->in_flight(), 0);
}

// --- Password policy ---

void ExpectRefused(absl::string_view password, absl::string_view username,
                   absl::string_view message_part) {
  const absl::Status status = CheckPasswordPolicy(password, username);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << password;
  EXPECT_TRUE(absl::StrContains(status.message(), message_part)) << status;
}

TEST(PasswordPolicy, AcceptsALongPassphrase) {
  EXPECT_TRUE(CheckPasswordPolicy(kPassword, "ola.nordmann").ok());
}

TEST(PasswordPolicy, RefusesFewerThanTwelveCharacters) {
  ExpectRefused("kort-og-søt", "ola", "password: must be at least 12 characters, this one has 11");
}

TEST(PasswordPolicy, CountsCharactersNotBytes) {
  // Twelve characters, fifteen bytes: Norwegian letters count once each.
  EXPECT_TRUE(CheckPasswordPolicy("blåbærsyltøy", "ola").ok());
  ExpectRefused("blåbærsyltø", "ola", "at least 12 characters");  // 11 characters, 14 bytes
}

TEST(PasswordPolicy, AcceptsExactly256Bytes) {
  std::string password;
  while (password.size() < kMaxPasswordBytes) password += "fjord-";
  password.resize(kMaxPasswordBytes);
  EXPECT_TRUE(CheckPasswordPolicy(password, "ola").ok());
}

TEST(PasswordPolicy, RefusesMoreThan256Bytes) {
  std::string password;
  while (password.size() <= kMaxPasswordBytes) password += "fjord-";
  ExpectRefused(password, "ola", "password: must be at most 256 bytes");
}

TEST(PasswordPolicy, RefusesInvalidUtf8) {
  ExpectRefused("korrekt hest \xff\xfe batteri", "ola", "password: must be valid UTF-8");
}

TEST(PasswordPolicy, RefusesOneCharacterRepeated) {
  ExpectRefused("ææææææææææææ", "ola", "password: must not be one character repeated");
}

TEST(PasswordPolicy, RefusesTheUsernameIgnoringCase) {
  ExpectRefused("KARI.NORDMANN", "kari.nordmann",
                "password: must not be the same as the username");
}

TEST(PasswordPolicy, RefusesAPasswordContainingTheUsernameIgnoringCase) {
  ExpectRefused("hilsen fra ØDEGÅRD 2024", "ødegård", "password: must not contain the username");
}

TEST(PasswordPolicy, AllowsAVeryShortUsernameInsideAPassword) {
  EXPECT_TRUE(CheckPasswordPolicy("abstrakt kunst i Bergen", "ab").ok());
}

TEST(PasswordPolicy, RefusesACommonPasswordIgnoringCase) {
  ExpectRefused("Password1234", "ola", "password: is one of the most commonly used passwords");
}

TEST(PasswordPolicy, RefusesACommonNorwegianPassword) {
  ExpectRefused("Sommer2024!!", "ola", "most commonly used");
  ExpectRefused("QWERTYUIOPÅ1", "ola", "most commonly used");
}

}  // namespace
}  // namespace smartby::auth
