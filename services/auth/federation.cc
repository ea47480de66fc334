#include "services/auth/federation.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "services/runtime/auth/jose.h"
#include "services/runtime/auth/token_verifier.h"
#include "services/runtime/log.h"

namespace smartby::auth {
namespace {

using ::smartcity::common::v1::Classification;
using ::smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;
using ::smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;

// Bounds on what an identity provider (or a mistyped path) can make this process read. A real
// JWKS is a few KiB (Entra ID ~ 10 KiB); anything near 1 MiB is an error or an attack.
constexpr size_t kMaxJwksBytes = 1 << 20;
constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxKeyFileBytes = 4096;
// The whole JWKS fetch (connect, TLS, transfer) must finish within this; it runs on the thread of
// an Exchange call that met an unknown kid, at most once per refetch interval.
constexpr long kFetchTimeoutMs = 5000;
constexpr size_t kMinSubjectKeyBytes = 32;
// base64url(HMAC-SHA256) truncated to 128 bits (22 characters): collisions are out of reach
// (birthday bound 2^64) and the subject stays short in tokens and audit lines.
constexpr size_t kSubjectDigestBytes = 16;

const absl::Duration kDefaultRefetchInterval = absl::Minutes(5);
const absl::Duration kDefaultMaxAge = absl::Hours(1);
const absl::Duration kDefaultSkew = absl::Seconds(60);

enum class SubjectKind { kEntra, kIdporten, kSub };

absl::Status Unauthenticated(absl::string_view message) {
  return absl::UnauthenticatedError(message);
}

// Reads a whole file of at most max_bytes. The message names the path and the reason.
absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  std::string data;
  data.resize(max_bytes + 1);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  data.resize(static_cast<size_t>(in.gcount()));
  if (data.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
  }
  return data;
}

// --- JWKS sources -----------------------------------------------------------------------------

absl::StatusOr<std::vector<VerificationKey>> ParseKeySet(absl::string_view text,
                                                         absl::string_view where) {
  absl::StatusOr<std::vector<VerificationKey>> keys = FromJwksText(text);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", keys.status().message()));
  }
  if (keys->empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": no signing keys"));
  return keys;
}

// A JWKS file, read again on every fetch, so that replacing the file (a Kubernetes ConfigMap
// update) rotates the keys without a restart.
class FileKeySource : public KeySource {
 public:
  explicit FileKeySource(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<std::vector<VerificationKey>> FetchKeys() override {
    absl::StatusOr<std::string> text = ReadBoundedFile(path_, kMaxJwksBytes);
    if (!text.ok()) return text.status();
    return ParseKeySet(*text, path_);
  }

 private:
  const std::string path_;
};

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

// Only https://, except plain http:// to the loopback interface (tests, a local sidecar). No
// credentials in the URL: it is shown by ListIdentityProviders.
absl::Status CheckJwksUrl(const std::string& url) {
  InitCurlOnce();
  std::unique_ptr<CURLU, CurlDeleter> handle(curl_url());
  if (handle == nullptr) return absl::InternalError("out of memory");
  if (curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError("not a valid URL");
  }
  auto part = [&](CURLUPart which) -> std::string {
    char* value = nullptr;
    if (curl_url_get(handle.get(), which, &value, 0) != CURLUE_OK || value == nullptr) return "";
    std::string result(value);
    curl_free(value);
    return result;
  };
  if (!part(CURLUPART_USER).empty() || !part(CURLUPART_PASSWORD).empty()) {
    return absl::InvalidArgumentError("must not carry credentials");
  }
  const std::string scheme = absl::AsciiStrToLower(part(CURLUPART_SCHEME));
  if (scheme == "https") return absl::OkStatus();
  const std::string host = absl::AsciiStrToLower(part(CURLUPART_HOST));
  if (scheme == "http" && (host == "127.0.0.1" || host == "localhost" || host == "[::1]")) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "must be an https:// URL (plain http:// is allowed only to 127.0.0.1 or localhost)");
}

struct Download {
  std::string body;
  bool too_large = false;
};

size_t WriteBounded(char* data, size_t size, size_t count, void* user) {
  auto* download = static_cast<Download*>(user);
  const size_t n = size * count;
  if (download->body.size() + n > kMaxJwksBytes) {
    download->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  download->body.append(data, n);
  return n;
}

// A JWKS URL of an external identity provider, fetched with libcurl: certificate and host name
// verified, TLS 1.2 or newer, no redirects, at most kMaxJwksBytes, kFetchTimeoutMs in total.
class HttpsKeySource : public KeySource {
 public:
  HttpsKeySource(std::string url, std::string ca_file)
      : url_(std::move(url)), ca_file_(std::move(ca_file)) {}

  absl::StatusOr<std::vector<VerificationKey>> FetchKeys() override {
    absl::StatusOr<std::string> body = Get();
    if (!body.ok()) return body.status();
    return ParseKeySet(*body, url_);
  }

 private:
  absl::StatusOr<std::string> Get() const {
    InitCurlOnce();
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
    Download download;
    char error[CURL_ERROR_SIZE] = {0};
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");  // http: loopback only, see above
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // thread-safe timeouts
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, kFetchTimeoutMs);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, kFetchTimeoutMs);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!ca_file_.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file_.c_str());
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxJwksBytes));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "smartby-auth");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteBounded);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &download);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    const CURLcode code = curl_easy_perform(c);
    if (download.too_large || code == CURLE_FILESIZE_EXCEEDED) {
      return absl::ResourceExhaustedError(
          absl::StrCat(url_, ": JWKS larger than ", kMaxJwksBytes, " bytes refused"));
    }
    if (code != CURLE_OK) {
      return absl::UnavailableError(
          absl::StrCat(url_, ": ", error[0] != '\0' ? error : curl_easy_strerror(code)));
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
      return absl::UnavailableError(absl::StrCat(url_, ": HTTP status ", status));
    }
    return std::move(download.body);
  }

  const std::string url_;
  const std::string ca_file_;
};

// --- Configuration ----------------------------------------------------------------------------

struct RoleMapping {
  std::string claim;
  std::string value;
  std::vector<RoleGrant> roles;
  Classification clearance = CLASSIFICATION_UNSPECIFIED;
};

struct Provider {
  std::string name;
  SubjectKind kind = SubjectKind::kSub;
  std::string tenant_id;    // entra: required "tid" when set
  std::string subject_key;  // idporten: HMAC key; secret, never shown
  std::vector<std::string> audiences;
  absl::Duration skew;
  std::vector<std::string> two_factor_acr;
  std::vector<std::string> two_factor_amr;
  std::vector<RoleGrant> default_roles;
  Classification default_clearance = CLASSIFICATION_UNSPECIFIED;
  Classification max_clearance = CLASSIFICATION_STRICTLY_PROTECTED;
  std::vector<RoleMapping> mappings;
  smartcity::auth::v1::IdentityProvider info;
  // Declared before `keys`, which points at it, so it is destroyed after.
  std::unique_ptr<KeySource> source;
  std::shared_ptr<CachedKeySet> keys;
  bool jwks_from_url = false;
};

// Builds the INVALID_ARGUMENT messages: "<file>: providers[1] (idporten): <field>: <what>".
class ConfigError {
 public:
  explicit ConfigError(std::string file) : file_(std::move(file)) {}
  void SetProvider(size_t index, const std::string& name) {
    provider_ = name.empty() ? absl::StrCat("providers[", index, "]")
                             : absl::StrCat("providers[", index, "] (", name, ")");
  }
  absl::Status operator()(absl::string_view field, absl::string_view what) const {
    std::string prefix = file_;
    if (!provider_.empty()) absl::StrAppend(&prefix, ": ", provider_);
    if (!field.empty()) absl::StrAppend(&prefix, ": ", field);
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": ", what));
  }

 private:
  std::string file_;
  std::string provider_;
};

absl::StatusOr<std::string> Scalar(const YAML::Node& node, const ConfigError& error,
                                   absl::string_view field, bool required) {
  if (!node.IsDefined() || node.IsNull()) {
    if (required) return error(field, "required");
    return std::string();
  }
  if (!node.IsScalar()) return error(field, "must be a single value");
  if (required && node.Scalar().empty()) return error(field, "must not be empty");
  return node.Scalar();
}

absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& node,
                                                    const ConfigError& error,
                                                    absl::string_view field) {
  std::vector<std::string> values;
  if (!node.IsDefined() || node.IsNull()) return values;
  if (!node.IsSequence()) return error(field, "must be a list");
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node entry = node[i];
    if (!entry.IsScalar() || entry.Scalar().empty()) {
      return error(absl::StrCat(field, "[", i, "]"), "must be a non-empty string");
    }
    values.push_back(entry.Scalar());
  }
  return values;
}

// Refuses keys this format does not know (a misspelt "max_clearance" must not be ignored) and
// keys given twice.
absl::Status CheckKeys(const YAML::Node& map, const std::set<std::string>& known,
                       const ConfigError& error, absl::string_view where) {
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    const std::string field = where.empty() ? key : absl::StrCat(where, ".", key);
    if (known.count(key) == 0) {
      return error(field, absl::StrCat("unknown field (known: ", absl::StrJoin(known, ", "), ")"));
    }
    if (!seen.insert(key).second) return error(field, "given twice");
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> DurationField(const YAML::Node& node, const ConfigError& error,
                                             absl::string_view field, absl::Duration fallback,
                                             absl::Duration min, absl::Duration max) {
  absl::StatusOr<std::string> text = Scalar(node, error, field, false);
  if (!text.ok()) return text.status();
  if (text->empty()) return fallback;
  absl::Duration value;
  if (!absl::ParseDuration(*text, &value)) {
    return error(field, absl::StrCat("\"", *text, "\" is not a duration such as 30s, 5m or 1h"));
  }
  if (value < min || value > max) {
    return error(field, absl::StrCat("must be between ", absl::FormatDuration(min), " and ",
                                     absl::FormatDuration(max)));
  }
  return value;
}

absl::StatusOr<Classification> ClearanceField(const YAML::Node& node, const ConfigError& error,
                                              absl::string_view field, Classification fallback) {
  absl::StatusOr<std::string> text = Scalar(node, error, field, false);
  if (!text.ok()) return text.status();
  if (text->empty()) return fallback;
  std::optional<Classification> clearance = ParseClearance(*text);
  if (!clearance.has_value()) {
    return error(field, absl::StrCat("\"", *text,
                                     "\" is not open, internal, protected or strictly-protected"));
  }
  return *clearance;
}

absl::StatusOr<std::vector<RoleGrant>> RolesField(const YAML::Node& node, const ConfigError& error,
                                                  absl::string_view field) {
  absl::StatusOr<std::vector<std::string>> names = StringList(node, error, field);
  if (!names.ok()) return names.status();
  std::vector<RoleGrant> grants;
  for (size_t i = 0; i < names->size(); ++i) {
    absl::StatusOr<RoleGrant> grant = ParseRoleGrant((*names)[i]);
    if (!grant.ok()) return error(absl::StrCat(field, "[", i, "]"), grant.status().message());
    grants.push_back(*std::move(grant));
  }
  return grants;
}

// Provider names end up in subjects ("<name>:<sub>") and metrics: keep them plain.
bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  if (!absl::ascii_isalnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (absl::ascii_isalnum(c) && !absl::ascii_isupper(c)) || c == '-';
  });
}

// The fields of a provider entry (FEDERATION.md).
const std::set<std::string>& ProviderKeys() {
  // clang-format off
  static const auto* const keys = new std::set<std::string>{
      "name", "kind", "issuer", "audiences", "algorithms",
      "jwks_file", "jwks_url", "jwks_ca_file", "jwks_refetch_interval", "jwks_max_age",
      "clock_skew", "tenant_id", "subject_key_file", "two_factor",
      "default_roles", "default_clearance", "max_clearance", "role_mappings"};
  // clang-format on
  return *keys;
}

absl::StatusOr<std::unique_ptr<Provider>> ParseProvider(const YAML::Node& node,
                                                        const ConfigError& error,
                                                        const Clock* clock) {
  if (!node.IsMap()) return error("", "must be a mapping");
  if (absl::Status s = CheckKeys(node, ProviderKeys(), error, ""); !s.ok()) return s;
  auto provider = std::make_unique<Provider>();

  absl::StatusOr<std::string> name = Scalar(node["name"], error, "name", true);
  if (!name.ok()) return name.status();
  if (!IsValidName(*name)) {
    return error("name", "use lower-case letters, digits and '-' (at most 63 characters)");
  }
  provider->name = *name;

  absl::StatusOr<std::string> kind = Scalar(node["kind"], error, "kind", true);
  if (!kind.ok()) return kind.status();
  std::string subject_claim;
  if (*kind == "entra") {
    provider->kind = SubjectKind::kEntra;
    subject_claim = "oid";
  } else if (*kind == "idporten") {
    provider->kind = SubjectKind::kIdporten;
    subject_claim = "pid";
  } else if (*kind == "sub") {
    provider->kind = SubjectKind::kSub;
    subject_claim = "sub";
  } else {
    return error("kind", absl::StrCat("\"", *kind, "\" is not entra, idporten or sub"));
  }

  absl::StatusOr<std::string> issuer = Scalar(node["issuer"], error, "issuer", true);
  if (!issuer.ok()) return issuer.status();
  if (!absl::StartsWith(*issuer, "https://")) {
    return error("issuer", "must be the exact https:// issuer the provider puts in \"iss\"");
  }

  absl::StatusOr<std::vector<std::string>> audiences =
      StringList(node["audiences"], error, "audiences");
  if (!audiences.ok()) return audiences.status();
  if (audiences->empty())
    return error("audiences", "at least one audience (client id) is required");
  provider->audiences = *audiences;

  absl::StatusOr<std::vector<std::string>> algorithms =
      StringList(node["algorithms"], error, "algorithms");
  if (!algorithms.ok()) return algorithms.status();
  if (algorithms->empty()) return error("algorithms", "at least one of RS256, ES256, EdDSA");
  for (size_t i = 0; i < algorithms->size(); ++i) {
    const std::string& alg = (*algorithms)[i];
    if (!IsSupportedAlgorithm(alg)) {
      return error(absl::StrCat("algorithms[", i, "]"),
                   absl::StrCat("\"", alg,
                                "\" is refused; only RS256, ES256 and EdDSA are accepted "
                                "(RFC 8725: no \"none\", no HMAC with a public key)"));
    }
  }

  absl::StatusOr<std::string> jwks_file = Scalar(node["jwks_file"], error, "jwks_file", false);
  if (!jwks_file.ok()) return jwks_file.status();
  absl::StatusOr<std::string> jwks_url = Scalar(node["jwks_url"], error, "jwks_url", false);
  if (!jwks_url.ok()) return jwks_url.status();
  absl::StatusOr<std::string> ca_file = Scalar(node["jwks_ca_file"], error, "jwks_ca_file", false);
  if (!ca_file.ok()) return ca_file.status();
  if (jwks_file->empty() == jwks_url->empty()) {
    return error("jwks_file", "give exactly one of jwks_file and jwks_url");
  }
  if (!jwks_url->empty()) {
    if (absl::Status s = CheckJwksUrl(*jwks_url); !s.ok()) return error("jwks_url", s.message());
    if (!ca_file->empty()) {
      if (absl::StatusOr<std::string> ca = ReadBoundedFile(*ca_file, kMaxJwksBytes); !ca.ok()) {
        return error("jwks_ca_file", ca.status().message());
      }
    }
    provider->source = std::make_unique<HttpsKeySource>(*jwks_url, *ca_file);
    provider->jwks_from_url = true;
  } else {
    if (!ca_file->empty()) return error("jwks_ca_file", "only with jwks_url");
    provider->source = std::make_unique<FileKeySource>(*jwks_file);
  }

  CachedKeySet::Options key_options;
  absl::StatusOr<absl::Duration> refetch =
      DurationField(node["jwks_refetch_interval"], error, "jwks_refetch_interval",
                    kDefaultRefetchInterval, absl::Seconds(1), absl::Hours(24));
  if (!refetch.ok()) return refetch.status();
  absl::StatusOr<absl::Duration> max_age =
      DurationField(node["jwks_max_age"], error, "jwks_max_age", std::max(kDefaultMaxAge, *refetch),
                    absl::Seconds(1), absl::Hours(24 * 7));
  if (!max_age.ok()) return max_age.status();
  if (*max_age < *refetch)
    return error("jwks_max_age", "must not be shorter than jwks_refetch_interval");
  key_options.min_refetch_interval = *refetch;
  key_options.max_age = *max_age;
  absl::StatusOr<absl::Duration> skew =
      DurationField(node["clock_skew"], error, "clock_skew", kDefaultSkew, absl::ZeroDuration(),
                    absl::Minutes(5));
  if (!skew.ok()) return skew.status();

  absl::StatusOr<std::string> tenant = Scalar(node["tenant_id"], error, "tenant_id", false);
  if (!tenant.ok()) return tenant.status();
  if (!tenant->empty() && provider->kind != SubjectKind::kEntra) {
    return error("tenant_id", "only for kind entra");
  }
  provider->tenant_id = *tenant;

  absl::StatusOr<std::string> key_file =
      Scalar(node["subject_key_file"], error, "subject_key_file", false);
  if (!key_file.ok()) return key_file.status();
  if (provider->kind == SubjectKind::kIdporten) {
    if (key_file->empty()) {
      return error("subject_key_file",
                   "required for kind idporten (the key that keeps the national identity "
                   "number out of subjects)");
    }
    absl::StatusOr<std::string> key = ReadBoundedFile(*key_file, kMaxKeyFileBytes);
    if (!key.ok()) return error("subject_key_file", key.status().message());
    // A trailing newline from `openssl rand -base64 48 > file` is not part of the key.
    std::string trimmed(absl::StripTrailingAsciiWhitespace(*key));
    if (trimmed.size() < kMinSubjectKeyBytes) {
      return error("subject_key_file", absl::StrCat(*key_file, " holds fewer than ",
                                                    kMinSubjectKeyBytes, " bytes of key"));
    }
    provider->subject_key = std::move(trimmed);
  } else if (!key_file->empty()) {
    return error("subject_key_file", "only for kind idporten");
  }

  const YAML::Node two_factor = node["two_factor"];
  if (two_factor.IsDefined() && !two_factor.IsNull()) {
    if (!two_factor.IsMap()) return error("two_factor", "must be a mapping with acr and amr");
    if (absl::Status s = CheckKeys(two_factor, {"acr", "amr"}, error, "two_factor"); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::vector<std::string>> acr =
        StringList(two_factor["acr"], error, "two_factor.acr");
    if (!acr.ok()) return acr.status();
    absl::StatusOr<std::vector<std::string>> amr =
        StringList(two_factor["amr"], error, "two_factor.amr");
    if (!amr.ok()) return amr.status();
    provider->two_factor_acr = *acr;
    provider->two_factor_amr = *amr;
  }

  absl::StatusOr<std::vector<RoleGrant>> default_roles =
      RolesField(node["default_roles"], error, "default_roles");
  if (!default_roles.ok()) return default_roles.status();
  provider->default_roles = *default_roles;
  absl::StatusOr<Classification> max_clearance = ClearanceField(
      node["max_clearance"], error, "max_clearance", CLASSIFICATION_STRICTLY_PROTECTED);
  if (!max_clearance.ok()) return max_clearance.status();
  provider->max_clearance = *max_clearance;
  absl::StatusOr<Classification> default_clearance = ClearanceField(
      node["default_clearance"], error, "default_clearance", CLASSIFICATION_UNSPECIFIED);
  if (!default_clearance.ok()) return default_clearance.status();
  if (*default_clearance > provider->max_clearance) {
    return error("default_clearance", "is above max_clearance");
  }
  provider->default_clearance = *default_clearance;

  const YAML::Node mappings = node["role_mappings"];
  if (mappings.IsDefined() && !mappings.IsNull()) {
    if (!mappings.IsSequence()) return error("role_mappings", "must be a list");
    for (size_t i = 0; i < mappings.size(); ++i) {
      const std::string field = absl::StrCat("role_mappings[", i, "]");
      const YAML::Node entry = mappings[i];
      if (!entry.IsMap()) return error(field, "must be a mapping");
      if (absl::Status s = CheckKeys(entry, {"claim", "value", "roles", "clearance"}, error, field);
          !s.ok()) {
        return s;
      }
      RoleMapping mapping;
      absl::StatusOr<std::string> claim =
          Scalar(entry["claim"], error, absl::StrCat(field, ".claim"), true);
      if (!claim.ok()) return claim.status();
      absl::StatusOr<std::string> value =
          Scalar(entry["value"], error, absl::StrCat(field, ".value"), true);
      if (!value.ok()) return value.status();
      absl::StatusOr<std::vector<RoleGrant>> roles =
          RolesField(entry["roles"], error, absl::StrCat(field, ".roles"));
      if (!roles.ok()) return roles.status();
      if (roles->empty()) return error(absl::StrCat(field, ".roles"), "at least one role");
      absl::StatusOr<Classification> clearance = ClearanceField(
          entry["clearance"], error, absl::StrCat(field, ".clearance"), CLASSIFICATION_UNSPECIFIED);
      if (!clearance.ok()) return clearance.status();
      if (*clearance > provider->max_clearance) {
        return error(absl::StrCat(field, ".clearance"), "is above the provider's max_clearance");
      }
      mapping.claim = *claim;
      mapping.value = *value;
      mapping.roles = *roles;
      mapping.clearance = *clearance;
      provider->mappings.push_back(std::move(mapping));
    }
  }
  if (provider->default_roles.empty() && provider->mappings.empty()) {
    return error("role_mappings",
                 "neither default_roles nor role_mappings: nobody from this provider could "
                 "ever be let in");
  }

  provider->keys = std::make_shared<CachedKeySet>(provider->source.get(), clock, key_options);
  if (!provider->jwks_from_url) {
    // A JWKS file must be right at start-up: a typo should stop the service, not every login.
    if (absl::Status s = provider->keys->Refresh(); !s.ok()) return error("jwks_file", s.message());
  }

  smartcity::auth::v1::IdentityProvider& info = provider->info;
  info.set_name(provider->name);
  info.set_issuer(*issuer);
  for (const std::string& aud : *audiences) info.add_audiences(aud);
  for (const std::string& alg : *algorithms) info.add_algorithms(alg);
  info.set_jwks_source(provider->jwks_from_url ? *jwks_url : *jwks_file);
  for (const std::string& acr : provider->two_factor_acr) info.add_two_factor_acr(acr);
  for (const std::string& amr : provider->two_factor_amr) info.add_two_factor_amr(amr);
  info.set_subject_claim(subject_claim);

  provider->skew = *skew;
  return provider;
}

// --- Claims -> identity -----------------------------------------------------------------------

// A string claim, or "" when absent or not a string.
std::string StringClaim(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// True when the claim is this string or an array containing it.
bool ClaimHas(const nlohmann::json& claims, const std::string& name, const std::string& value) {
  auto it = claims.find(name);
  if (it == claims.end()) return false;
  if (it->is_string()) return it->get_ref<const std::string&>() == value;
  if (!it->is_array()) return false;
  return std::any_of(it->begin(), it->end(), [&](const nlohmann::json& entry) {
    return entry.is_string() && entry.get_ref<const std::string&>() == value;
  });
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Entra object and tenant ids are GUIDs; anything else (a ':' above all, which would make
// "entra:<tid>:<oid>" ambiguous) is refused.
bool IsGuidLike(const std::string& text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-';
  });
}

// The platform subject of an ID-porten user. ID-porten's "pid" is the national identity number
// (fødselsnummer / d-nummer): personal data that must not travel in platform tokens, log lines
// and the audit log. A plain hash would not help: there are only a few hundred million valid
// numbers, so SHA-256(pid) is reversed by trying them all in minutes. A keyed HMAC is not
// reversible without the key, which lives only in the auth service (subject_key_file, a Secret),
// and still gives the same person the same subject on every login, across ID-porten clients (unlike
// ID-porten's pairwise "sub", which changes with the client). Rotating the key changes every
// citizen's subject, so it is kept like a signing key.
std::string IdportenSubject(const std::string& key, const std::string& pid) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(pid.data()), pid.size(), digest, &length);
  const size_t kept = std::min<size_t>(length, kSubjectDigestBytes);
  return absl::StrCat("idporten:",
                      Base64UrlEncode(absl::string_view(reinterpret_cast<char*>(digest), kept)));
}

// --- The federation ---------------------------------------------------------------------------

class NoFederation final : public Federation {
 public:
  absl::StatusOr<FederatedIdentity> Exchange(absl::string_view) const override {
    return Unauthenticated("token exchange is not available: no identity providers are configured");
  }
  std::vector<smartcity::auth::v1::IdentityProvider> Providers() const override { return {}; }
};

class ConfiguredFederation final : public Federation {
 public:
  ConfiguredFederation(std::vector<std::unique_ptr<Provider>> providers,
                       std::unique_ptr<JwtTokenVerifier> verifier)
      : providers_(std::move(providers)), verifier_(std::move(verifier)) {
    for (const auto& provider : providers_)
      by_issuer_.emplace(provider->info.issuer(), provider.get());
  }

  absl::StatusOr<FederatedIdentity> Exchange(absl::string_view id_token) const override {
    absl::StatusOr<VerifiedToken> verified = verifier_->VerifyClaims(id_token);
    if (!verified.ok()) {
      return Unauthenticated(absl::StrCat("ID token not accepted: ", verified.status().message()));
    }
    auto it = by_issuer_.find(verified->issuer->issuer);
    if (it == by_issuer_.end()) return absl::InternalError("verified issuer has no provider");
    const Provider& provider = *it->second;
    const nlohmann::json& claims = verified->claims;

    // What a relying party checks beyond the signature, exp, aud and iss (OpenID Connect Core
    // 3.1.3.7): an issue time, and when there are several audiences an authorised party that is
    // ours. "typ", when present, must say JWT: RFC 9068 access tokens ("at+jwt") and logout
    // tokens ("logout+jwt") are not ID tokens.
    auto typ = verified->header.find("typ");
    if (typ != verified->header.end() &&
        !(typ->is_string() && absl::EqualsIgnoreCase(typ->get_ref<const std::string&>(), "JWT"))) {
      return Unauthenticated("ID token not accepted: token is not an ID token");
    }
    if (!claims.contains("iat"))
      return Unauthenticated("ID token not accepted: token has no issue time");
    const std::string azp = StringClaim(claims, "azp");
    auto aud = claims.find("aud");
    const bool several_audiences = aud != claims.end() && aud->is_array() && aud->size() > 1;
    if ((several_audiences && azp.empty()) ||
        (!azp.empty() && !Contains(provider.audiences, azp))) {
      return Unauthenticated("ID token not accepted: token was issued to another client");
    }

    FederatedIdentity identity;
    identity.provider = provider.name;
    switch (provider.kind) {
      case SubjectKind::kEntra: {
        const std::string tid = StringClaim(claims, "tid");
        const std::string oid = StringClaim(claims, "oid");
        if (!IsGuidLike(tid) || !IsGuidLike(oid)) {
          return Unauthenticated("ID token not accepted: token has no valid tid and oid claims");
        }
        if (!provider.tenant_id.empty() && tid != provider.tenant_id) {
          return Unauthenticated("ID token not accepted: token is from another Entra ID tenant");
        }
        identity.subject = absl::StrCat("entra:", tid, ":", oid);
        break;
      }
      case SubjectKind::kIdporten: {
        const std::string pid = StringClaim(claims, "pid");
        if (pid.empty() || pid.size() > 64) {
          return Unauthenticated("ID token not accepted: token has no pid claim");
        }
        identity.subject = IdportenSubject(provider.subject_key, pid);
        break;
      }
      case SubjectKind::kSub:
        identity.subject = absl::StrCat(provider.name, ":", StringClaim(claims, "sub"));
        break;
    }
    identity.display_name = StringClaim(claims, "name");
    identity.acr = StringClaim(claims, "acr");
    identity.two_factor = !identity.acr.empty() && Contains(provider.two_factor_acr, identity.acr);
    if (!identity.two_factor) {
      for (const std::string& amr : provider.two_factor_amr) {
        if (ClaimHas(claims, "amr", amr)) {
          identity.two_factor = true;
          break;
        }
      }
    }

    std::set<std::string> seen;
    auto grant = [&](const RoleGrant& role) {
      if (seen.insert(RoleGrantToString(role)).second) identity.roles.push_back(role);
    };
    Classification clearance = provider.default_clearance;
    for (const RoleGrant& role : provider.default_roles) grant(role);
    for (const RoleMapping& mapping : provider.mappings) {
      if (!ClaimHas(claims, mapping.claim, mapping.value)) continue;
      for (const RoleGrant& role : mapping.roles) grant(role);
      clearance = std::max(clearance, mapping.clearance);
    }
    if (identity.roles.empty()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "signed in with identity provider \"", provider.name,
          "\", but no platform role is mapped to this account; ask an administrator to grant "
          "one in the identity provider (role or group) or in the federation configuration"));
    }
    identity.clearance = std::min(clearance, provider.max_clearance);
    return identity;
  }

  std::vector<smartcity::auth::v1::IdentityProvider> Providers() const override {
    std::vector<smartcity::auth::v1::IdentityProvider> result;
    for (const auto& provider : providers_) result.push_back(provider->info);
    return result;
  }

 private:
  // Declared before verifier_, whose key sets point into them, so destroyed after it.
  const std::vector<std::unique_ptr<Provider>> providers_;
  const std::unique_ptr<JwtTokenVerifier> verifier_;
  std::map<std::string, const Provider*, std::less<>> by_issuer_;
};

}  // namespace

std::unique_ptr<Federation> Federation::None() { return std::make_unique<NoFederation>(); }

absl::StatusOr<std::unique_ptr<Federation>> Federation::Load(const std::string& path,
                                                             const Clock* clock) {
  ConfigError error(path);
  if (clock == nullptr) return absl::InvalidArgumentError("Federation::Load: clock is required");
  absl::StatusOr<std::string> text = ReadBoundedFile(path, kMaxConfigBytes);
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());

  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return error("", absl::StrCat("not valid YAML: ", e.what()));
  }
  try {
    if (!root.IsMap()) return error("", "must be a mapping with a \"providers\" list");
    if (absl::Status s = CheckKeys(root, {"providers"}, error, ""); !s.ok()) return s;
    const YAML::Node list = root["providers"];
    if (!list.IsDefined())
      return error("providers", "required (an empty list turns federation off)");
    if (!list.IsNull() && !list.IsSequence()) return error("providers", "must be a list");
    if (list.IsNull() || list.size() == 0) return None();

    std::vector<std::unique_ptr<Provider>> providers;
    std::vector<IssuerConfig> issuers;
    std::set<std::string> names;
    std::map<std::string, std::string> issuer_names;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node node = list[i];
      const YAML::Node name = node.IsMap() ? node["name"] : YAML::Node();
      error.SetProvider(i, name.IsDefined() && name.IsScalar() ? name.Scalar() : "");
      absl::StatusOr<std::unique_ptr<Provider>> provider = ParseProvider(node, error, clock);
      if (!provider.ok()) return provider.status();
      if (!names.insert((*provider)->name).second) return error("name", "used by two providers");
      auto [other, inserted] = issuer_names.emplace((*provider)->info.issuer(), (*provider)->name);
      if (!inserted) return error("issuer", absl::StrCat("also the issuer of ", other->second));

      IssuerConfig config;
      config.issuer = (*provider)->info.issuer();
      config.audiences = (*provider)->audiences;
      config.allowed_algs.assign((*provider)->info.algorithms().begin(),
                                 (*provider)->info.algorithms().end());
      config.max_skew = (*provider)->skew;
      config.two_factor_acr_values = (*provider)->two_factor_acr;
      config.two_factor_amr_values = (*provider)->two_factor_amr;
      config.keys = (*provider)->keys;
      issuers.push_back(std::move(config));
      providers.push_back(*std::move(provider));
    }

    // Identity providers' JWKS URLs are fetched once now, so the first logins do not wait for
    // them. A failure is not fatal: an IdP outage must not keep the auth service from starting;
    // the key set tries again on the next exchange (at most once per refetch interval), and
    // until then that provider's tokens are refused.
    for (const auto& provider : providers) {
      if (!provider->jwks_from_url) continue;
      if (absl::Status s = provider->keys->Refresh(); !s.ok()) {
        log::Warn("identity provider JWKS not available yet",
                  {{"provider", provider->name}, {"error", std::string(s.message())}});
      }
    }

    absl::StatusOr<std::unique_ptr<JwtTokenVerifier>> verifier =
        JwtTokenVerifier::Create(std::move(issuers), clock);
    if (!verifier.ok()) return ConfigError(path)("", verifier.status().message());
    return std::unique_ptr<Federation>(
        new ConfiguredFederation(std::move(providers), *std::move(verifier)));
  } catch (const YAML::Exception& e) {
    return error("", absl::StrCat("unexpected YAML structure: ", e.what()));
  }
}

}  // namespace smartby::auth
