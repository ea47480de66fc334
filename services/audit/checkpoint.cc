#include "services/audit/checkpoint.h"

#include <sodium.h>

#include <array>
#include <charconv>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace smartby::audit {
namespace {

constexpr uint8_t kEd25519Type = 0x01;
constexpr absl::string_view kSignaturePrefix = "\xE2\x80\x94 ";  // em dash (U+2014), space
// The spec asks verifiers to accept at least 16 signatures and to bound the number.
constexpr size_t kMaxSignatures = 100;

absl::Status InitSodium() {
  static const int rc = sodium_init();
  if (rc < 0) return absl::InternalError("libsodium failed to initialise");
  return absl::OkStatus();
}

// Decodes one UTF-8 code point at text[*pos]; false when the encoding is not well formed
// (overlong forms, surrogates, beyond U+10FFFF, truncated sequences).
bool NextCodePoint(absl::string_view text, size_t* pos, char32_t* out) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t c = b(*pos);
  int len;
  char32_t cp;
  if (c < 0x80) {
    *out = c;
    ++*pos;
    return true;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return false;
  }
  if (*pos + len > text.size()) return false;
  for (int i = 1; i < len; ++i) {
    const uint8_t cc = b(*pos + i);
    if ((cc & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (cc & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  *out = cp;
  *pos += len;
  return true;
}

bool IsUnicodeSpace(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Signed notes: valid UTF-8, no ASCII control characters other than newline.
absl::Status CheckNoteText(absl::string_view what, absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t at = pos;
    char32_t c;
    if (!NextCodePoint(text, &pos, &c)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is not valid UTF-8 at byte ", at));
    }
    if (c < 0x20 && c != '\n') {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " contains control character 0x",
                       absl::BytesToHexString(std::string(1, static_cast<char>(c))), " at byte ",
                       at));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckKeyName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("key name is empty");
  size_t pos = 0;
  while (pos < name.size()) {
    char32_t c;
    if (!NextCodePoint(name, &pos, &c)) {
      return absl::InvalidArgumentError(absl::StrCat("key name \"", absl::CHexEscape(name),
                                                     "\" is not valid UTF-8"));
    }
    if (c == '+' || IsUnicodeSpace(c) || c < 0x20 || c == 0x7F) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key name \"", absl::CHexEscape(name), "\" contains a space, '+' or control character"));
    }
  }
  return absl::OkStatus();
}

// Standard base64 with padding, in its one canonical form only (absl's decoder also takes
// unpadded input; a signature or key must have exactly one spelling).
bool DecodeBase64Strict(absl::string_view in, std::string* out) {
  if (in.empty() || in.size() % 4 != 0) return false;
  if (!absl::Base64Unescape(in, out)) return false;
  return absl::Base64Escape(*out) == in;
}

using KeyId = std::array<uint8_t, 4>;

KeyId ComputeKeyId(absl::string_view name, absl::string_view public_key) {
  std::string input(name);
  input.push_back('\n');
  input.push_back(static_cast<char>(kEd25519Type));
  input.append(public_key.data(), public_key.size());
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest;
  crypto_hash_sha256(digest.data(), reinterpret_cast<const uint8_t*>(input.data()), input.size());
  return {digest[0], digest[1], digest[2], digest[3]};
}

absl::string_view AsView(const KeyId& id) {
  return absl::string_view(reinterpret_cast<const char*>(id.data()), id.size());
}

struct ParsedKey {
  std::string name;
  KeyId id;
  std::string public_key;  // 32 bytes
};

absl::StatusOr<ParsedKey> ParseVerifierKey(absl::string_view text) {
  // "<name>+<id>+<key>": the name holds no '+', the base64 key may.
  std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits('+', 2));
  if (parts.size() != 3) {
    return absl::InvalidArgumentError(
        "malformed verifier key: want \"<name>+<key id hex>+<base64 key>\"");
  }
  if (absl::Status s = CheckKeyName(parts[0]); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed verifier key: ", s.message()));
  }
  std::string id_bytes;
  const bool lower_hex = parts[1].size() == 8 &&
                         parts[1].find_first_not_of("0123456789abcdef") == absl::string_view::npos;
  if (lower_hex) id_bytes = absl::HexStringToBytes(parts[1]);
  if (!lower_hex) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed verifier key: key id \"", absl::CHexEscape(parts[1]),
                     "\" is not 8 lowercase hex digits"));
  }
  std::string key;
  if (!DecodeBase64Strict(parts[2], &key)) {
    return absl::InvalidArgumentError("malformed verifier key: key is not standard base64");
  }
  if (key.empty() || static_cast<uint8_t>(key[0]) != kEd25519Type) {
    return absl::InvalidArgumentError(
        "unsupported verifier key: signature type is not 0x01 (Ed25519)");
  }
  if (key.size() != 1 + crypto_sign_PUBLICKEYBYTES) {
    return absl::InvalidArgumentError(absl::StrCat("malformed verifier key: Ed25519 key is ",
                                                   key.size() - 1, " bytes, not 32"));
  }
  ParsedKey vk;
  vk.name = std::string(parts[0]);
  vk.public_key = key.substr(1);
  std::memcpy(vk.id.data(), id_bytes.data(), vk.id.size());
  if (ComputeKeyId(vk.name, vk.public_key) != vk.id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed verifier key: key id ", parts[1], " does not match the key and name"));
  }
  return vk;
}

}  // namespace

// ---- Checkpoint body ----

std::string FormatCheckpointBody(const CheckpointBody& body) {
  std::string out = absl::StrCat(
      body.origin, "\n", body.size, "\n",
      absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(body.root.data()),
                                           body.root.size())),
      "\n");
  for (const std::string& ext : body.extensions) absl::StrAppend(&out, ext, "\n");
  return out;
}

absl::StatusOr<CheckpointBody> ParseCheckpointBody(absl::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("checkpoint body does not end in a newline");
  }
  if (absl::Status s = CheckNoteText("checkpoint body", text); !s.ok()) return s;
  text.remove_suffix(1);
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint body has ", lines.size(), " lines; want origin, tree size and root hash"));
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint body line ", i + 1, " is empty"));
    }
  }
  CheckpointBody body;
  body.origin = std::string(lines[0]);

  const absl::string_view size = lines[1];
  const char* end = size.data() + size.size();
  auto [ptr, ec] = std::from_chars(size.data(), end, body.size);
  if (ec != std::errc() || ptr != end || (size.size() > 1 && size[0] == '0')) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint line 2 (tree size) \"", absl::CHexEscape(size),
                     "\" is not a decimal number without leading zeroes"));
  }
  std::string root;
  if (!DecodeBase64Strict(lines[2], &root) || root.size() != body.root.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint line 3 (root hash) \"", absl::CHexEscape(lines[2]),
                     "\" is not the standard base64 of a 32-byte hash"));
  }
  std::memcpy(body.root.data(), root.data(), body.root.size());
  for (size_t i = 3; i < lines.size(); ++i) body.extensions.emplace_back(lines[i]);
  return body;
}

// ---- Signing ----

absl::StatusOr<NoteSigner> NoteSigner::Generate(std::string key_name) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  std::string seed(crypto_sign_SEEDBYTES, '\0');
  randombytes_buf(seed.data(), seed.size());
  absl::StatusOr<NoteSigner> signer = FromSeed(std::move(key_name), seed);
  sodium_memzero(seed.data(), seed.size());
  return signer;
}

absl::StatusOr<NoteSigner> NoteSigner::FromSeed(std::string key_name, absl::string_view seed32) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  if (absl::Status s = CheckKeyName(key_name); !s.ok()) return s;
  if (seed32.size() != crypto_sign_SEEDBYTES) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 seed is ", seed32.size(), " bytes, not ", crypto_sign_SEEDBYTES));
  }
  std::string public_key(crypto_sign_PUBLICKEYBYTES, '\0');
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret;
  crypto_sign_seed_keypair(reinterpret_cast<uint8_t*>(public_key.data()), secret.data(),
                           reinterpret_cast<const uint8_t*>(seed32.data()));
  sodium_memzero(secret.data(), secret.size());
  return NoteSigner(std::move(key_name), std::string(seed32), std::move(public_key));
}

absl::StatusOr<std::string> NoteSigner::Sign(absl::string_view body) const {
  if (body.empty() || body.back() != '\n') {
    return absl::InvalidArgumentError("note text must be non-empty and end in a newline");
  }
  if (absl::Status s = CheckNoteText("note text", body); !s.ok()) return s;
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk;
  crypto_sign_seed_keypair(pk.data(), sk.data(), reinterpret_cast<const uint8_t*>(seed_.data()));
  std::string sig(4 + crypto_sign_BYTES, '\0');
  const KeyId id = ComputeKeyId(key_name_, public_key_);
  std::memcpy(sig.data(), id.data(), id.size());
  const int rc = crypto_sign_detached(reinterpret_cast<uint8_t*>(sig.data() + 4), nullptr,
                                      reinterpret_cast<const uint8_t*>(body.data()), body.size(),
                                      sk.data());
  sodium_memzero(sk.data(), sk.size());
  if (rc != 0) return absl::InternalError("Ed25519 signing failed");
  return absl::StrCat(body, "\n", kSignaturePrefix, key_name_, " ", absl::Base64Escape(sig), "\n");
}

std::string NoteSigner::VerifierKey() const {
  const KeyId id = ComputeKeyId(key_name_, public_key_);
  std::string key(1, static_cast<char>(kEd25519Type));
  key.append(public_key_);
  return absl::StrCat(key_name_, "+", absl::BytesToHexString(AsView(id)), "+",
                      absl::Base64Escape(key));
}

// ---- Verification ----

absl::StatusOr<std::string> VerifyNote(absl::string_view note, absl::string_view verifier_key) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  absl::StatusOr<ParsedKey> key = ParseVerifierKey(verifier_key);
  if (!key.ok()) return key.status();

  if (absl::Status s = CheckNoteText("signed note", note); !s.ok()) return s;
  if (note.empty() || note.back() != '\n') {
    return absl::InvalidArgumentError("malformed note: does not end in a newline");
  }
  // The text is separated from the signatures by the last empty line.
  const size_t split = note.rfind("\n\n");
  if (split == absl::string_view::npos) {
    return absl::InvalidArgumentError("malformed note: no blank line before the signatures");
  }
  const absl::string_view text = note.substr(0, split + 1);
  absl::string_view signatures = note.substr(split + 2);
  if (signatures.empty()) {
    return absl::InvalidArgumentError("malformed note: no signature lines");
  }
  signatures.remove_suffix(1);  // the final newline
  std::vector<absl::string_view> lines = absl::StrSplit(signatures, '\n');
  if (lines.size() > kMaxSignatures) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed note: ", lines.size(), " signatures, at most ", kMaxSignatures));
  }

  bool verified = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (!absl::ConsumePrefix(&line, kSignaturePrefix)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed note: signature line ", i + 1, " does not start with an em dash and a space"));
    }
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed note: signature line ", i + 1, " has no signature"));
    }
    const absl::string_view name = line.substr(0, space);
    if (absl::Status s = CheckKeyName(name); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed note: signature line ", i + 1, ": ", s.message()));
    }
    std::string sig;
    if (!DecodeBase64Strict(line.substr(space + 1), &sig) || sig.size() < 5) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed note: signature line ", i + 1, " is not base64 of a key id and signature"));
    }
    // Signatures by other keys (witnesses, a rotated key) are ignored, as the spec requires.
    if (name != key->name || std::memcmp(sig.data(), key->id.data(), key->id.size()) != 0) {
      continue;
    }
    if (sig.size() != 4 + crypto_sign_BYTES ||
        crypto_sign_verify_detached(reinterpret_cast<const uint8_t*>(sig.data() + 4),
                                    reinterpret_cast<const uint8_t*>(text.data()), text.size(),
                                    reinterpret_cast<const uint8_t*>(key->public_key.data())) !=
            0) {
      // A failed signature by the trusted key rejects the whole note.
      return absl::UnauthenticatedError(absl::StrCat("signature by ", key->name, " (line ", i + 1,
                                                     ") does not verify"));
    }
    verified = true;
  }
  if (!verified) {
    return absl::UnauthenticatedError(
        absl::StrCat("note carries no signature by ", key->name, "+",
                     absl::BytesToHexString(AsView(key->id))));
  }
  return std::string(text);
}

absl::StatusOr<CheckpointBody> VerifyCheckpoint(absl::string_view note,
                                                absl::string_view verifier_key,
                                                absl::string_view origin) {
  absl::StatusOr<std::string> text = VerifyNote(note, verifier_key);
  if (!text.ok()) return text.status();
  absl::StatusOr<CheckpointBody> body = ParseCheckpointBody(*text);
  if (!body.ok()) return body.status();
  if (body->origin != origin) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint origin \"", body->origin,
                                                   "\" is not the expected \"", origin, "\""));
  }
  return body;
}

}  // namespace smartby::audit
