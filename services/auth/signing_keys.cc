#include "services/auth/signing_keys.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby::auth {
namespace {

constexpr size_t kMaxPemBytes = 64 * 1024;

absl::StatusOr<std::string> Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

absl::StatusOr<std::string> ReadPemFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--signing_key_file: cannot read ", path.string()));
  std::string text(kMaxPemBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--signing_key_file: ", path.string(), " is larger than 64 KiB"));
  }
  return text;
}

// A P-256 key with its thumbprint as kid.
absl::StatusOr<SigningKey> WithThumbprintKid(absl::string_view pem, absl::string_view what) {
  absl::StatusOr<SigningKey> key = SigningKey::FromPem("pending", pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not a readable private key (", key.status().message(), ")"));
  }
  if (key->alg() != kAlgES256) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": platform tokens are signed with ES256, so the key must be an "
                           "EC P-256 key, not ", key->alg()));
  }
  ASSIGN_OR_RETURN(std::string kid, KeyThumbprint(*key));
  return SigningKey::FromPem(kid, pem);
}

}  // namespace

absl::StatusOr<std::string> KeyThumbprint(const SigningKey& key) {
  ASSIGN_OR_RETURN(VerificationKey public_key, key.PublicKey());
  ASSIGN_OR_RETURN(nlohmann::json jwk, ToJwk(public_key));
  nlohmann::json members;
  // RFC 7638 §3.2: only the required members, lexicographic order, no whitespace.
  if (jwk.value("kty", "") == "EC") {
    members = {{"crv", jwk["crv"]}, {"kty", "EC"}, {"x", jwk["x"]}, {"y", jwk["y"]}};
  } else if (jwk.value("kty", "") == "OKP") {
    members = {{"crv", jwk["crv"]}, {"kty", "OKP"}, {"x", jwk["x"]}};
  } else {
    members = {{"e", jwk["e"]}, {"kty", "RSA"}, {"n", jwk["n"]}};
  }
  ASSIGN_OR_RETURN(std::string digest, Sha256(members.dump()));  // nlohmann sorts keys
  return Base64UrlEncode(digest);
}

absl::StatusOr<std::unique_ptr<SigningKeyManager>> SigningKeyManager::OpenStored(
    AuthStore* store, const Clock* clock, SigningKeyOptions options) {
  if (options.prepublication < absl::ZeroDuration() || options.overlap < absl::ZeroDuration() ||
      options.rotation_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "signing keys: rotation interval must be positive, pre-publication and overlap not "
        "negative");
  }
  std::unique_ptr<SigningKeyManager> manager(new SigningKeyManager(store, clock, options));
  {
    absl::MutexLock lock(&manager->update_mu_);
    RETURN_IF_ERROR(manager->ReloadLocked());
    const absl::Time now = clock->Now();
    if (CurrentOf(*manager->Snapshot(), now) == nullptr) {
      // First start (or every key expired while the service was down): a key that signs at
      // once, as no token signed by any other key can still be valid.
      ASSIGN_OR_RETURN(std::string kid, manager->RotateLocked(now, absl::ZeroDuration()));
      log::Info("generated the first signing key", {{"kid", kid}});
    }
  }
  return manager;
}

absl::StatusOr<std::unique_ptr<SigningKeyManager>> SigningKeyManager::LoadFiles(
    const std::string& path, const Clock* clock) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      const std::string name = entry.path().filename().string();
      // Kubernetes Secret mounts hold "..data" symlinks; keys are the visible *.pem files.
      if (absl::StartsWith(name, ".") || !absl::EndsWith(name, ".pem")) continue;
      if (!fs::is_regular_file(entry.path(), ec)) continue;
      files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  } else {
    files.push_back(path);
  }
  if (files.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--signing_key_file: no *.pem key files in ", path));
  }
  auto entries = std::make_shared<Entries>();
  std::set<std::string> kids;
  for (size_t i = 0; i < files.size(); ++i) {
    ASSIGN_OR_RETURN(std::string pem, ReadPemFile(files[i]));
    ASSIGN_OR_RETURN(SigningKey key,
                     WithThumbprintKid(pem, absl::StrCat("--signing_key_file: ", files[i].string())));
    if (!kids.insert(key.kid()).second) continue;  // the same key twice
    ASSIGN_OR_RETURN(VerificationKey public_key, key.PublicKey());
    // Order of activation follows file-name order, so the last file signs.
    entries->push_back(Entry{key, public_key, absl::UnixEpoch(),
                             absl::UnixEpoch() + absl::Seconds(static_cast<int64_t>(i)),
                             absl::InfiniteFuture()});
  }
  std::unique_ptr<SigningKeyManager> manager(
      new SigningKeyManager(nullptr, clock, SigningKeyOptions{}));
  manager->Publish(std::move(entries));
  return manager;
}

std::shared_ptr<const SigningKeyManager::Entries> SigningKeyManager::Snapshot() const {
  absl::ReaderMutexLock lock(&mu_);
  return entries_;
}

void SigningKeyManager::Publish(std::shared_ptr<const Entries> entries) {
  absl::MutexLock lock(&mu_);
  entries_ = std::move(entries);
}

const SigningKeyManager::Entry* SigningKeyManager::CurrentOf(const Entries& entries,
                                                             absl::Time now) {
  const Entry* current = nullptr;
  for (const Entry& e : entries) {
    if (e.activate_time > now || e.retire_time <= now) continue;
    // A key that has a successor (a retire time) gives way to one that has none; then the
    // later activation wins; the kid only breaks exact ties.
    auto rank = [](const Entry& x) {
      return std::make_tuple(x.retire_time == absl::InfiniteFuture(), x.activate_time,
                             x.key.kid());
    };
    if (current == nullptr || rank(e) > rank(*current)) current = &e;
  }
  return current;
}

absl::StatusOr<std::string> SigningKeyManager::Sign(const nlohmann::json& claims) const {
  std::shared_ptr<const Entries> entries = Snapshot();
  const Entry* current = CurrentOf(*entries, clock_->Now());
  if (current == nullptr) return absl::UnavailableError("no signing key is active");
  static const nlohmann::json* const kHeader = new nlohmann::json({{"typ", "at+jwt"}});
  return SignJwt(current->key, *kHeader, claims);
}

std::vector<VerificationKey> SigningKeyManager::PublishedKeys() const {
  std::shared_ptr<const Entries> entries = Snapshot();
  const absl::Time now = clock_->Now();
  std::vector<VerificationKey> keys;
  for (const Entry& e : *entries) {
    if (e.retire_time > now) keys.push_back(e.public_key);
  }
  return keys;
}

absl::StatusOr<std::string> SigningKeyManager::JwksJson() const {
  ASSIGN_OR_RETURN(nlohmann::json jwks, ToJwks(PublishedKeys()));
  return jwks.dump();
}

std::string SigningKeyManager::SigningKid() const {
  std::shared_ptr<const Entries> entries = Snapshot();
  const Entry* current = CurrentOf(*entries, clock_->Now());
  return current ? current->key.kid() : "";
}

absl::Status SigningKeyManager::ReloadLocked() {
  ASSIGN_OR_RETURN(std::vector<StoredSigningKey> stored, store_->ListSigningKeys());
  auto entries = std::make_shared<Entries>();
  for (const StoredSigningKey& s : stored) {
    absl::StatusOr<SigningKey> key = SigningKey::FromPem(s.kid, s.private_key_pem);
    if (!key.ok()) {
      return absl::DataLossError(
          absl::StrCat("stored signing key ", s.kid, " cannot be read: ", key.status().message()));
    }
    ASSIGN_OR_RETURN(VerificationKey public_key, key->PublicKey());
    entries->push_back(
        Entry{*key, public_key, s.create_time, s.activate_time, s.retire_time});
  }
  Publish(std::move(entries));
  return absl::OkStatus();
}

absl::StatusOr<std::string> SigningKeyManager::RotateLocked(absl::Time now,
                                                           absl::Duration prepublication) {
  ASSIGN_OR_RETURN(SigningKey generated, SigningKey::GenerateES256("pending"));
  ASSIGN_OR_RETURN(std::string pem, generated.ToPem());
  ASSIGN_OR_RETURN(SigningKey key, WithThumbprintKid(pem, "generated key"));
  StoredSigningKey stored;
  stored.kid = key.kid();
  stored.private_key_pem = pem;
  stored.create_time = now;
  stored.activate_time = now + prepublication;
  // The keys in use until now stop signing when the new one starts, and stay published for the
  // overlap window after that.
  std::shared_ptr<const Entries> entries = Snapshot();
  RETURN_IF_ERROR(store_->InsertSigningKey(stored));
  for (const Entry& e : *entries) {
    if (e.retire_time == absl::InfiniteFuture()) {
      RETURN_IF_ERROR(
          store_->SetSigningKeyRetireTime(e.key.kid(), stored.activate_time + options_.overlap));
    }
  }
  RETURN_IF_ERROR(ReloadLocked());
  return stored.kid;
}

absl::StatusOr<std::string> SigningKeyManager::Rotate() {
  if (from_files()) {
    return absl::FailedPreconditionError(
        "the signing keys come from --signing_key_file: rotate them by adding a key file (it "
        "signs once its name sorts last) and removing the old one after the overlap window");
  }
  absl::MutexLock lock(&update_mu_);
  ASSIGN_OR_RETURN(std::string kid, RotateLocked(clock_->Now(), options_.prepublication));
  log::Info("signing key rotated", {{"kid", kid}});
  return kid;
}

absl::StatusOr<bool> SigningKeyManager::Maintain() {
  if (from_files()) return false;
  absl::MutexLock lock(&update_mu_);
  // Every key held, whatever its times: a key that just passed its retire time is still in
  // other caches until they refetch, so removing it counts as a change.
  auto kids = [](const Entries& entries) {
    std::set<std::string> out;
    for (const Entry& e : entries) out.insert(e.key.kid());
    return out;
  };
  const std::set<std::string> before = kids(*Snapshot());
  RETURN_IF_ERROR(ReloadLocked());
  const absl::Time now = clock_->Now();
  std::shared_ptr<const Entries> entries = Snapshot();
  bool removed = false;
  absl::Time newest = absl::InfinitePast();
  for (const Entry& e : *entries) {
    if (e.retire_time <= now) {
      RETURN_IF_ERROR(store_->DeleteSigningKey(e.key.kid()));
      log::Info("signing key removed after its overlap window", {{"kid", e.key.kid()}});
      removed = true;
    } else {
      newest = std::max(newest, e.create_time);
    }
  }
  if (removed) RETURN_IF_ERROR(ReloadLocked());
  if (CurrentOf(*Snapshot(), now) == nullptr) {
    ASSIGN_OR_RETURN(std::string kid, RotateLocked(now, absl::ZeroDuration()));
    log::Warn("no signing key was active; generated one that signs at once", {{"kid", kid}});
  } else if (newest + options_.rotation_interval <= now) {
    ASSIGN_OR_RETURN(std::string kid, RotateLocked(now, options_.prepublication));
    log::Info("signing key rotated automatically", {{"kid", kid}});
  }
  return kids(*Snapshot()) != before;
}

}  // namespace smartby::auth
