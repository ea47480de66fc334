// Signing keys: persistence, pre-publication, and the overlap window seen through the runtime's
// own key cache and verifier (what every service uses).
#include "services/auth/signing_keys.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::auth {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

nlohmann::json ClaimsAt(absl::Time now, absl::Duration lifetime) {
  return {{"iss", "smartby"}, {"aud", "smartby"}, {"sub", "user:kari"},
          {"iat", absl::ToUnixSeconds(now)}, {"exp", absl::ToUnixSeconds(now + lifetime)},
          {"roles", nlohmann::json::array()}};
}

std::string KidOf(const std::string& token) {
  auto parsed = ParseJws(token);
  return parsed.ok() ? parsed->header.value("kid", "") : "";
}

class SigningKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqlAuthStore(storage::testing::NewTestDatabase("sqlite"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  std::unique_ptr<SigningKeyManager> Open() {
    auto keys = SigningKeyManager::OpenStored(store_.get(), &clock_, options_);
    EXPECT_TRUE(keys.ok()) << keys.status();
    return keys.ok() ? *std::move(keys) : nullptr;
  }

  // The runtime's verification path over `keys`, with the same settable clock.
  struct Verifier {
    std::unique_ptr<SigningKeySource> source;
    std::shared_ptr<CachedKeySet> cache;
    std::unique_ptr<JwtTokenVerifier> verifier;
  };
  Verifier VerifierFor(const SigningKeyManager* keys) {
    Verifier v;
    v.source = std::make_unique<SigningKeySource>(keys);
    v.cache = std::make_shared<CachedKeySet>(v.source.get(), &clock_);
    IssuerConfig issuer;
    issuer.issuer = "smartby";
    issuer.audiences = {"smartby"};
    issuer.allowed_algs = {"ES256"};
    issuer.keys = v.cache;
    std::vector<IssuerConfig> issuers;
    issuers.push_back(issuer);
    auto created = JwtTokenVerifier::Create(std::move(issuers), &clock_);
    EXPECT_TRUE(created.ok()) << created.status();
    v.verifier = *std::move(created);
    return v;
  }

  SettableClock clock_{kT0};
  SigningKeyOptions options_{.rotation_interval = absl::Hours(24 * 30),
                             .prepublication = absl::Seconds(60),
                             .overlap = absl::Minutes(30)};
  std::unique_ptr<AuthStore> store_;
};

TEST_F(SigningKeysTest, FirstStartGeneratesAKeyThatSignsAtOnceAndPersists) {
  auto keys = Open();
  ASSERT_NE(keys, nullptr);
  const std::string kid = keys->SigningKid();
  ASSERT_FALSE(kid.empty());
  auto token = keys->Sign(ClaimsAt(kT0, absl::Minutes(10)));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(KidOf(*token), kid);
  auto parsed = ParseJws(*token);
  EXPECT_EQ(parsed->header["typ"], "at+jwt");
  EXPECT_EQ(parsed->header["alg"], "ES256");

  auto restarted = Open();  // a restart: same store, same key
  EXPECT_EQ(restarted->SigningKid(), kid);
  EXPECT_EQ(restarted->PublishedKeys().size(), 1u);
}

TEST_F(SigningKeysTest, KidIsTheThumbprintOfTheKey) {
  auto keys = Open();
  const std::string kid = keys->SigningKid();
  auto stored = store_->ListSigningKeys();
  ASSERT_EQ(stored->size(), 1u);
  auto key = SigningKey::FromPem("x", (*stored)[0].private_key_pem);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*KeyThumbprint(*key), kid);
}

TEST_F(SigningKeysTest, RotatedKeyIsPublishedAtOnceButSignsOnlyAfterPrepublication) {
  auto keys = Open();
  const std::string old_kid = keys->SigningKid();
  auto new_kid = keys->Rotate();
  ASSERT_TRUE(new_kid.ok()) << new_kid.status();
  EXPECT_NE(*new_kid, old_kid);
  EXPECT_EQ(keys->PublishedKeys().size(), 2u);
  EXPECT_EQ(keys->SigningKid(), old_kid);
  clock_.Advance(absl::Seconds(59));
  EXPECT_EQ(keys->SigningKid(), old_kid);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(keys->SigningKid(), *new_kid);
  EXPECT_EQ(KidOf(*keys->Sign(ClaimsAt(clock_.Now(), absl::Minutes(10)))), *new_kid);
}

TEST_F(SigningKeysTest, PreviousKeyVerifiesDuringOverlapAndNotAfter) {
  options_.prepublication = absl::ZeroDuration();
  auto keys = Open();
  Verifier v = VerifierFor(keys.get());
  ASSERT_TRUE(v.cache->Refresh().ok());
  // A token signed by the first key, valid far beyond the overlap (so only the key decides).
  auto old_token = keys->Sign(ClaimsAt(kT0, absl::Hours(10)));
  ASSERT_TRUE(old_token.ok());
  ASSERT_TRUE(v.verifier->Verify(*old_token).ok());

  ASSERT_TRUE(keys->Rotate().ok());
  ASSERT_TRUE(v.cache->Refresh().ok());
  auto new_token = keys->Sign(ClaimsAt(clock_.Now(), absl::Hours(10)));
  ASSERT_NE(KidOf(*new_token), KidOf(*old_token));
  EXPECT_TRUE(v.verifier->Verify(*new_token).ok());

  clock_.Advance(absl::Minutes(29));
  auto changed = keys->Maintain();
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
  EXPECT_TRUE(v.verifier->Verify(*old_token).ok()) << "inside the overlap window";

  clock_.Advance(absl::Minutes(1));
  changed = keys->Maintain();
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  ASSERT_TRUE(v.cache->Refresh().ok());
  auto refused = v.verifier->Verify(*old_token);
  EXPECT_TRUE(absl::IsUnauthenticated(refused.status())) << refused.status();
  EXPECT_TRUE(v.verifier->Verify(*new_token).ok());
  EXPECT_EQ(store_->ListSigningKeys()->size(), 1u) << "the retired key is deleted";
}

TEST_F(SigningKeysTest, RotatesAutomaticallyWhenTheNewestKeyIsOld) {
  options_.rotation_interval = absl::Hours(24);
  auto keys = Open();
  const std::string first = keys->SigningKid();
  clock_.Advance(absl::Hours(23));
  EXPECT_FALSE(*keys->Maintain());
  clock_.Advance(absl::Hours(1));
  EXPECT_TRUE(*keys->Maintain());
  EXPECT_EQ(keys->PublishedKeys().size(), 2u);
  clock_.Advance(absl::Seconds(60));
  EXPECT_NE(keys->SigningKid(), first);
}

TEST_F(SigningKeysTest, AnotherReplicasRotationIsPickedUpByMaintain) {
  auto a = Open();
  auto b = Open();
  ASSERT_EQ(a->SigningKid(), b->SigningKid());
  ASSERT_TRUE(a->Rotate().ok());
  EXPECT_EQ(b->PublishedKeys().size(), 1u);
  EXPECT_TRUE(*b->Maintain());
  EXPECT_EQ(b->PublishedKeys().size(), 2u);
}

TEST(SigningKeyFiles, DirectoryKeysArePublishedAndTheLastNameSigns) {
  const std::string dir = ::testing::TempDir() + "/signing-keys-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  auto k1 = SigningKey::GenerateES256("a");
  auto k2 = SigningKey::GenerateES256("b");
  std::ofstream(dir + "/2024-01.pem") << *k1->ToPem();
  std::ofstream(dir + "/2024-06.pem") << *k2->ToPem();
  std::ofstream(dir + "/README.txt") << "not a key";
  SettableClock clock(kT0);
  auto keys = SigningKeyManager::LoadFiles(dir, &clock);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ((*keys)->PublishedKeys().size(), 2u);
  EXPECT_EQ((*keys)->SigningKid(), *KeyThumbprint(*k2));
  EXPECT_TRUE(absl::IsFailedPrecondition((*keys)->Rotate().status()));
  std::filesystem::remove_all(dir);
}

TEST(SigningKeyFiles, RefusesKeysThatAreNotP256) {
  const std::string path = ::testing::TempDir() + "/ed-" + std::to_string(getpid()) + ".pem";
  std::ofstream(path) << *SigningKey::GenerateEdDSA("e")->ToPem();
  SettableClock clock(kT0);
  auto keys = SigningKeyManager::LoadFiles(path, &clock);
  EXPECT_TRUE(absl::IsInvalidArgument(keys.status())) << keys.status();
  EXPECT_NE(keys.status().message().find(path), std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace smartby::auth
