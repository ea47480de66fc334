// The auth store's contract, on every engine under test.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/auth/auth_store.h"
#include "services/runtime/storage/test_databases.h"

namespace smartby::auth {
namespace {

namespace common = ::smartcity::common::v1;
using ::testing::ElementsAre;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

class AuthStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = storage::testing::NewTestDatabase(GetParam());
    auto store = OpenSqlAuthStore(db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // A column as stored, read behind the store's back.
  std::string Stored(const std::string& sql, const std::string& key) {
    std::string value;
    EXPECT_TRUE(db_->InTransaction([&](storage::Transaction& tx) -> absl::Status {
                     absl::StatusOr<storage::Rows> rows = tx.Query(sql, {key});
                     if (!rows.ok()) return rows.status();
                     if (!rows->empty()) value = (*rows)[0].String(0);
                     return absl::OkStatus();
                   })
                    .ok());
    return value;
  }

  static SecretBox Box(char fill) { return *SecretBox::FromKeys({std::string(32, fill)}); }

  static UserRecord User(const std::string& name) {
    UserRecord u;
    u.username = name;
    u.display_name = "Kari Nordmann";
    u.roles = {"reader", "dataset-owner:Stavanger kommune"};
    u.clearance = common::CLASSIFICATION_INTERNAL;
    u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    u.totp_secret = std::string("\x00\x01\xff secret", 10);
    u.create_time = kT0;
    return u;
  }

  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<AuthStore> store_;
};

TEST_P(AuthStoreTest, SecretsAreSealedAtRestWithTheKeyAndOnlyOpenWithIt) {
  auto sealing = OpenSqlAuthStore(db_, Box('k'));
  ASSERT_TRUE(sealing.ok()) << sealing.status();
  ASSERT_TRUE((*sealing)->CreateUser(User("kari")).ok());
  StoredSigningKey key;
  key.kid = "k1";
  key.private_key_pem = "-----BEGIN PRIVATE KEY-----\nMIG...\n-----END PRIVATE KEY-----\n";
  ASSERT_TRUE((*sealing)->InsertSigningKey(key).ok());

  // In the database: sealed, with nothing of the secrets in the clear.
  const std::string totp = Stored("SELECT totp_secret FROM users WHERE username = $1", "kari");
  EXPECT_TRUE(SecretBox::IsSealed(totp)) << totp;
  EXPECT_EQ(totp.find(absl::Base64Escape(User("kari").totp_secret)), std::string::npos);
  const std::string pem = Stored("SELECT private_key_pem FROM signing_keys WHERE kid = $1", "k1");
  EXPECT_TRUE(SecretBox::IsSealed(pem)) << pem;
  EXPECT_EQ(pem.find("PRIVATE KEY"), std::string::npos);

  // Through the store with the key: as they were.
  auto user = (*sealing)->GetUser("kari");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->totp_secret, User("kari").totp_secret);
  auto keys = (*sealing)->ListSigningKeys();
  ASSERT_TRUE(keys.ok() && keys->size() == 1u);
  EXPECT_EQ(keys->front().private_key_pem, key.private_key_pem);

  // Without the key, or with another one: a plain refusal, never the wrong secret.
  const absl::Status keyless = store_->GetUser("kari").status();
  EXPECT_EQ(keyless.code(), absl::StatusCode::kFailedPrecondition) << keyless;
  EXPECT_THAT(std::string(keyless.message()), ::testing::HasSubstr("--secrets_key_file"));
  auto other = OpenSqlAuthStore(db_, Box('x'));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->GetUser("kari").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ((*other)->ListSigningKeys().status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(AuthStoreTest, ANewKeyResealsWhatTheOldOneSealed) {
  auto old_key = OpenSqlAuthStore(db_, Box('o'));
  ASSERT_TRUE(old_key.ok()) << old_key.status();
  ASSERT_TRUE((*old_key)->CreateUser(User("kari")).ok());
  const std::string sealed_with_old =
      Stored("SELECT totp_secret FROM users WHERE username = $1", "kari");

  // Rotation: both keys, the new one last; resealing moves every value to it.
  auto rotating =
      OpenSqlAuthStore(db_, *SecretBox::FromKeys({std::string(32, 'o'), std::string(32, 'n')}));
  ASSERT_TRUE(rotating.ok()) << rotating.status();
  auto resealed = (*rotating)->ResealSecrets();
  ASSERT_TRUE(resealed.ok()) << resealed.status();
  EXPECT_EQ(*resealed, 1);
  EXPECT_NE(Stored("SELECT totp_secret FROM users WHERE username = $1", "kari"), sealed_with_old);
  EXPECT_EQ(*(*rotating)->ResealSecrets(), 0);

  // The old key can now go: the new one alone opens everything.
  auto new_key = OpenSqlAuthStore(db_, Box('n'));
  ASSERT_TRUE(new_key.ok()) << new_key.status();
  auto user = (*new_key)->GetUser("kari");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->totp_secret, User("kari").totp_secret);
  // A key set that opens nothing stored is refused, not silently resealed.
  auto wrong = OpenSqlAuthStore(db_, Box('w'));
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->ResealSecrets().status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(AuthStoreTest, SecretsStoredBeforeTheKeyAreSealedWhenItComes) {
  ASSERT_TRUE(store_->CreateUser(User("kari")).ok());  // no key yet: stored as it is
  StoredSigningKey key;
  key.kid = "k1";
  key.private_key_pem = "-----BEGIN PRIVATE KEY-----\nMIG...\n-----END PRIVATE KEY-----\n";
  ASSERT_TRUE(store_->InsertSigningKey(key).ok());
  EXPECT_FALSE(
      SecretBox::IsSealed(Stored("SELECT totp_secret FROM users WHERE username = $1", "kari")));

  auto sealing = OpenSqlAuthStore(db_, Box('k'));
  ASSERT_TRUE(sealing.ok()) << sealing.status();
  auto user = (*sealing)->GetUser("kari");  // a clear one still reads
  ASSERT_TRUE(user.ok()) << user.status();
  auto sealed = (*sealing)->ResealSecrets();
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(*sealed, 2);
  EXPECT_TRUE(
      SecretBox::IsSealed(Stored("SELECT totp_secret FROM users WHERE username = $1", "kari")));
  EXPECT_TRUE(
      SecretBox::IsSealed(Stored("SELECT private_key_pem FROM signing_keys WHERE kid = $1", "k1")));
  user = (*sealing)->GetUser("kari");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->totp_secret, User("kari").totp_secret);
  EXPECT_EQ(*(*sealing)->ResealSecrets(), 0);  // nothing left to seal
}

TEST_P(AuthStoreTest, UserRoundTripsEveryField) {
  ASSERT_TRUE(store_->CreateUser(User("kari")).ok());
  auto got = store_->GetUser("kari");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->display_name, "Kari Nordmann");
  EXPECT_THAT(got->roles, ElementsAre("reader", "dataset-owner:Stavanger kommune"));
  EXPECT_EQ(got->clearance, common::CLASSIFICATION_INTERNAL);
  EXPECT_EQ(got->totp_secret, std::string("\x00\x01\xff secret", 10));
  EXPECT_FALSE(got->totp_last_step.has_value());
  EXPECT_FALSE(got->last_login_time.has_value());
  EXPECT_EQ(got->create_time, kT0);
}

TEST_P(AuthStoreTest, DuplicateUserIsAlreadyExistsAndUnknownIsNotFound) {
  ASSERT_TRUE(store_->CreateUser(User("kari")).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->CreateUser(User("kari"))));
  EXPECT_TRUE(absl::IsNotFound(store_->GetUser("ola").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->UpdateUser(User("ola"))));
}

TEST_P(AuthStoreTest, UpdateReplacesMutableFields) {
  ASSERT_TRUE(store_->CreateUser(User("kari")).ok());
  UserRecord u = User("kari");
  u.roles = {};
  u.disabled = true;
  u.password_change_required = true;
  u.totp_confirmed = true;
  ASSERT_TRUE(store_->UpdateUser(u).ok());
  ASSERT_TRUE(store_->SetLastLogin("kari", kT0 + absl::Seconds(5)).ok());
  auto got = store_->GetUser("kari");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->roles.empty());
  EXPECT_TRUE(got->disabled);
  EXPECT_TRUE(got->password_change_required);
  EXPECT_TRUE(got->totp_confirmed);
  EXPECT_EQ(got->last_login_time, kT0 + absl::Seconds(5));
  EXPECT_EQ(got->version, 1);
}

TEST_P(AuthStoreTest, UpdateOverAStaleCopyIsAbortedAndChangesNothing) {
  ASSERT_TRUE(store_->CreateUser(User("kari")).ok());
  auto first = store_->GetUser("kari");
  auto second = store_->GetUser("kari");
  ASSERT_TRUE(first.ok() && second.ok());
  first->roles.push_back("auditor");
  ASSERT_TRUE(store_->UpdateUser(*first).ok());
  // The second administrator's copy predates the first's write: it must not erase "auditor".
  second->clearance = common::CLASSIFICATION_PROTECTED;
  const absl::Status stale = store_->UpdateUser(*second);
  EXPECT_TRUE(absl::IsAborted(stale)) << stale;
  auto got = store_->GetUser("kari");
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(got->roles, ElementsAre("reader", "dataset-owner:Stavanger kommune", "auditor"));
  EXPECT_EQ(got->clearance, common::CLASSIFICATION_INTERNAL);
  // Sign-in bookkeeping has its own setters and does not make an administrator's copy stale.
  ASSERT_TRUE(store_->SetLastLogin("kari", kT0 + absl::Seconds(9)).ok());
  ASSERT_TRUE(store_->CompareAndSetTotpStep("kari", std::nullopt, 42).ok());
  got->clearance = common::CLASSIFICATION_PROTECTED;
  EXPECT_TRUE(store_->UpdateUser(*got).ok());
}

TEST_P(AuthStoreTest, ListUsersPagesInUsernameOrder) {
  for (const char* name : {"c", "a", "b", "d"}) ASSERT_TRUE(store_->CreateUser(User(name)).ok());
  auto first = store_->ListUsers("", 3);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].username, "a");
  EXPECT_EQ((*first)[2].username, "c");
  auto rest = store_->ListUsers("c", 3);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].username, "d");
  EXPECT_EQ(*store_->CountUsers(), 4);
}

TEST_P(AuthStoreTest, TotpStepCompareAndSetRefusesAStaleExpectation) {
  ASSERT_TRUE(store_->CreateUser(User("kari")).ok());
  EXPECT_TRUE(*store_->CompareAndSetTotpStep("kari", std::nullopt, 100));
  EXPECT_FALSE(*store_->CompareAndSetTotpStep("kari", std::nullopt, 101));  // replay
  EXPECT_FALSE(*store_->CompareAndSetTotpStep("kari", 99, 101));
  EXPECT_TRUE(*store_->CompareAndSetTotpStep("kari", 100, 101));
  EXPECT_EQ(store_->GetUser("kari")->totp_last_step, 101);
}

TEST_P(AuthStoreTest, RefreshTokenRotatesOnceAndFamiliesRevoke) {
  RefreshTokenRecord t;
  t.token_hash = "h1";
  t.family_id = "f1";
  t.username = "kari";
  t.two_factor = true;
  t.acr = "smartby:password+totp";
  t.create_time = kT0;
  t.expire_time = kT0 + absl::Hours(12);
  ASSERT_TRUE(store_->InsertRefreshToken(t).ok());
  t.token_hash = "h2";
  ASSERT_TRUE(store_->InsertRefreshToken(t).ok());
  t.token_hash = "other";
  t.family_id = "f2";
  ASSERT_TRUE(store_->InsertRefreshToken(t).ok());

  auto got = store_->GetRefreshToken("h1");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->two_factor);
  EXPECT_EQ(got->expire_time, kT0 + absl::Hours(12));
  EXPECT_TRUE(*store_->MarkRefreshTokenRotated("h1"));
  EXPECT_FALSE(*store_->MarkRefreshTokenRotated("h1"));
  EXPECT_TRUE(store_->GetRefreshToken("h1")->rotated);

  ASSERT_TRUE(store_->RevokeRefreshFamily("f1").ok());
  EXPECT_TRUE(store_->GetRefreshToken("h2")->revoked);
  EXPECT_FALSE(*store_->MarkRefreshTokenRotated("h2"));
  EXPECT_FALSE(store_->GetRefreshToken("other")->revoked);
  ASSERT_TRUE(store_->RevokeRefreshTokensOf("kari").ok());
  EXPECT_TRUE(store_->GetRefreshToken("other")->revoked);
  EXPECT_TRUE(absl::IsNotFound(store_->GetRefreshToken("nope").status()));

  EXPECT_EQ(*store_->DeleteRefreshTokensExpiredBefore(kT0 + absl::Hours(13)), 3);
}

TEST_P(AuthStoreTest, ServiceAccountLifecycle) {
  ServiceAccountRecord a;
  a.name = "gateway";
  a.description = "LoRaWAN gateway";
  a.roles = {"ingest-writer:badetemperatur"};
  a.clearance = common::CLASSIFICATION_OPEN;
  a.secret_hash = "aa";
  a.create_time = a.secret_rotate_time = kT0;
  ASSERT_TRUE(store_->CreateServiceAccount(a).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->CreateServiceAccount(a)));
  ASSERT_TRUE(store_->SetServiceAccountSecret("gateway", "bb", kT0 + absl::Hours(1)).ok());
  auto got = store_->GetServiceAccount("gateway");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->secret_hash, "bb");
  EXPECT_EQ(got->secret_rotate_time, kT0 + absl::Hours(1));
  EXPECT_THAT(got->roles, ElementsAre("ingest-writer:badetemperatur"));
  EXPECT_EQ(store_->ListServiceAccounts()->size(), 1u);
  ASSERT_TRUE(store_->DeleteServiceAccount("gateway").ok());
  EXPECT_TRUE(absl::IsNotFound(store_->DeleteServiceAccount("gateway")));
  EXPECT_TRUE(absl::IsNotFound(store_->SetServiceAccountSecret("gateway", "cc", kT0)));
}

TEST_P(AuthStoreTest, SigningKeysKeepTimesAndInfiniteRetirement) {
  StoredSigningKey k;
  k.kid = "k1";
  k.private_key_pem = "pem";
  k.create_time = kT0;
  k.activate_time = kT0 + absl::Seconds(60);
  ASSERT_TRUE(store_->InsertSigningKey(k).ok());
  auto keys = store_->ListSigningKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].retire_time, absl::InfiniteFuture());
  EXPECT_EQ((*keys)[0].activate_time, kT0 + absl::Seconds(60));
  ASSERT_TRUE(store_->SetSigningKeyRetireTime("k1", kT0 + absl::Hours(1)).ok());
  EXPECT_EQ((*store_->ListSigningKeys())[0].retire_time, kT0 + absl::Hours(1));
  ASSERT_TRUE(store_->DeleteSigningKey("k1").ok());
  EXPECT_TRUE(store_->ListSigningKeys()->empty());
}

TEST_P(AuthStoreTest, FailuresLockAtTheLimitAndRestartAfterTheWindow) {
  const absl::Duration window = absl::Minutes(15), lockout = absl::Minutes(10);
  EXPECT_EQ(store_->GetFailures("user:kari")->failures, 0);
  for (int i = 1; i <= 2; ++i) {
    auto c = store_->RecordFailure("user:kari", kT0 + absl::Seconds(i), window, 3, lockout);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->failures, i);
    EXPECT_LE(c->locked_until, kT0 + absl::Seconds(i));
  }
  auto third = store_->RecordFailure("user:kari", kT0 + absl::Seconds(3), window, 3, lockout);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->failures, 3);
  EXPECT_EQ(third->locked_until, kT0 + absl::Seconds(3) + lockout);
  EXPECT_EQ(store_->GetFailures("user:kari")->locked_until, kT0 + absl::Seconds(3) + lockout);
  EXPECT_EQ(store_->GetFailures("source:10.0.0.1")->failures, 0);  // keys are separate

  // After the lockout a new round starts.
  auto later = store_->RecordFailure("user:kari", kT0 + absl::Minutes(11), window, 3, lockout);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->failures, 1);
  ASSERT_TRUE(store_->ClearFailures("user:kari").ok());
  EXPECT_EQ(store_->GetFailures("user:kari")->failures, 0);
}

INSTANTIATE_TEST_SUITE_P(Engines, AuthStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace smartby::auth
