#include "services/audit/checkpoint.h"

#include <openssl/sha.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace smartby::audit {
namespace {

using ::testing::HasSubstr;

// The C2SP signed-note example (shared/testvectors/merkle/README.md).
constexpr absl::string_view kExampleKey =
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
constexpr absl::string_view kExampleText = "This is an example message.\n";
constexpr absl::string_view kExampleSigLine =
    "\xE2\x80\x94 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

std::string ExampleNote() { return absl::StrCat(kExampleText, "\n", kExampleSigLine); }

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(SignedNote, SpecExampleVerifies) {
  absl::StatusOr<std::string> text = VerifyNote(ExampleNote(), kExampleKey);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, kExampleText);
}

TEST(SignedNote, SpecExampleWithAChangedByteFails) {
  std::string note = ExampleNote();
  note[5] = 'I';  // "This Is an example message."
  absl::StatusOr<std::string> text = VerifyNote(note, kExampleKey);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kUnauthenticated) << text.status();
  // A changed signature byte fails as well.
  std::string sig = ExampleNote();
  const size_t at = sig.find("Uw2Q") + 20;
  sig[at] = sig[at] == 'A' ? 'B' : 'A';
  EXPECT_EQ(VerifyNote(sig, kExampleKey).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(SignedNote, SpecExampleKeyIdDerivation) {
  // Key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4], computed here independently.
  std::string key;
  ASSERT_TRUE(absl::Base64Unescape("AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", &key));
  ASSERT_EQ(key.size(), 33u);
  ASSERT_EQ(key[0], '\x01');
  const std::string input = "example.com/foo\n" + key;  // key already starts with 0x01
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  EXPECT_EQ(absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 4)),
            "530d903a");
  // The signature line starts with the same 4 bytes.
  std::string sig;
  ASSERT_TRUE(absl::Base64Unescape(
      "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=",
      &sig));
  EXPECT_EQ(absl::BytesToHexString(sig.substr(0, 4)), "530d903a");
  // A verifier key whose id does not match its name and key is malformed.
  absl::StatusOr<std::string> bad =
      VerifyNote(ExampleNote(), "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(bad.status()), HasSubstr("does not match"));
  // Same key under another name: the id no longer matches either.
  EXPECT_EQ(VerifyNote(ExampleNote(),
                       "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SignedNote, SignerKeyIdAndDeterminism) {
  const std::string seed(32, '\x42');
  absl::StatusOr<NoteSigner> a = NoteSigner::FromSeed("smartby.example/audit", seed);
  absl::StatusOr<NoteSigner> b = NoteSigner::FromSeed("smartby.example/audit", seed);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->VerifierKey(), b->VerifierKey());
  EXPECT_EQ(a->seed(), seed);
  EXPECT_EQ(a->key_name(), "smartby.example/audit");
  // "<name>+<8 hex>+<base64 of 33 bytes>", id = SHA-256(name || \n || key bytes)[:4].
  const std::string vk = a->VerifierKey();
  const std::vector<std::string> parts = absl::StrSplit(vk, absl::MaxSplits('+', 2));
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], "smartby.example/audit");
  std::string key;
  ASSERT_TRUE(absl::Base64Unescape(parts[2], &key));
  ASSERT_EQ(key.size(), 33u);
  const std::string input = parts[0] + "\n" + key;
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  EXPECT_EQ(parts[1], absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 4)));
  // Ed25519 is deterministic: same key and text, same note.
  absl::StatusOr<std::string> n1 = a->Sign("hello\n");
  absl::StatusOr<std::string> n2 = b->Sign("hello\n");
  ASSERT_TRUE(n1.ok() && n2.ok());
  EXPECT_EQ(*n1, *n2);
}

CheckpointBody SampleBody() {
  CheckpointBody body;
  body.origin = "smartby.example/audit";
  body.size = 20852163;
  body.root = merkle::LeafHash("some root");
  return body;
}

TEST(Checkpoint, RoundTrip) {
  absl::StatusOr<NoteSigner> signer = NoteSigner::Generate("smartby.example/audit");
  ASSERT_TRUE(signer.ok()) << signer.status();
  const CheckpointBody body = SampleBody();
  const std::string text = FormatCheckpointBody(body);
  EXPECT_EQ(text, absl::StrCat("smartby.example/audit\n20852163\n",
                               absl::Base64Escape(merkle::ToBytes(body.root)), "\n"));
  absl::StatusOr<std::string> note = signer->Sign(text);
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_THAT(*note, testing::StartsWith(text + "\n\xE2\x80\x94 smartby.example/audit "));

  absl::StatusOr<std::string> verified = VerifyNote(*note, signer->VerifierKey());
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, text);
  absl::StatusOr<CheckpointBody> parsed = ParseCheckpointBody(*verified);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->origin, body.origin);
  EXPECT_EQ(parsed->size, body.size);
  EXPECT_EQ(parsed->root, body.root);
  EXPECT_TRUE(parsed->extensions.empty());

  absl::StatusOr<CheckpointBody> cp =
      VerifyCheckpoint(*note, signer->VerifierKey(), "smartby.example/audit");
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->size, body.size);
  EXPECT_EQ(VerifyCheckpoint(*note, signer->VerifierKey(), "other.example/log").status().code(),
            absl::StatusCode::kInvalidArgument);
  // The seed restores the same signer.
  absl::StatusOr<NoteSigner> again = NoteSigner::FromSeed(signer->key_name(), signer->seed());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->VerifierKey(), signer->VerifierKey());
}

TEST(Checkpoint, ExtensionsAndEmptyTree) {
  CheckpointBody body = SampleBody();
  body.size = 0;
  body.root = merkle::EmptyRoot();
  body.extensions = {"ext one", "ext-two"};
  const std::string text = FormatCheckpointBody(body);
  absl::StatusOr<CheckpointBody> parsed = ParseCheckpointBody(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->size, 0u);
  EXPECT_EQ(parsed->root, merkle::EmptyRoot());
  EXPECT_EQ(parsed->extensions, body.extensions);
  EXPECT_EQ(FormatCheckpointBody(*parsed), text);
  // The spec's example body.
  absl::StatusOr<CheckpointBody> spec = ParseCheckpointBody(
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->size, 20852163u);
}

TEST(Checkpoint, MalformedBodiesAreRefusedSayingWhichLine) {
  const std::string root = absl::Base64Escape(merkle::ToBytes(merkle::EmptyRoot()));
  struct Case {
    std::string text;
    std::string message;
  } cases[] = {
      {"", "newline"},
      {"o\n5\n" + root, "newline"},
      {"o\n5\n", "2 lines"},
      {"\n5\n" + root + "\n", "line 1 is empty"},
      {"o\n05\n" + root + "\n", "line 2"},
      {"o\n-5\n" + root + "\n", "line 2"},
      {"o\n+5\n" + root + "\n", "line 2"},
      {"o\n5 \n" + root + "\n", "line 2"},
      {"o\n18446744073709551616\n" + root + "\n", "line 2"},
      {"o\n5\n" + root.substr(0, root.size() - 1) + "\n", "line 3"},
      {"o\n5\n" + absl::Base64Escape(std::string(31, 'x')) + "\n", "line 3"},
      {"o\n5\n" + absl::StrReplaceAll(root, {{"=", ""}}) + "\n", "line 3"},
      {"o\n5\n" + root + "\n\n", "line 4 is empty"},
      {"o\t\n5\n" + root + "\n", "control character"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CheckpointBody> body = ParseCheckpointBody(c.text);
    EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument) << absl::CHexEscape(c.text);
    EXPECT_THAT(Message(body.status()), HasSubstr(c.message)) << absl::CHexEscape(c.text);
  }
  absl::StatusOr<CheckpointBody> max = ParseCheckpointBody("o\n18446744073709551615\n" + root + "\n");
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(max->size, UINT64_MAX);
}

TEST(SignedNote, WrongKeyIsRefused) {
  absl::StatusOr<NoteSigner> ours = NoteSigner::Generate("smartby.example/audit");
  absl::StatusOr<NoteSigner> other = NoteSigner::Generate("smartby.example/audit");
  ASSERT_TRUE(ours.ok() && other.ok());
  absl::StatusOr<std::string> note = other->Sign(FormatCheckpointBody(SampleBody()));
  ASSERT_TRUE(note.ok());
  absl::StatusOr<std::string> got = VerifyNote(*note, ours->VerifierKey());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(got.status()), HasSubstr("no signature by smartby.example/audit+"));
  // The spec's key does not verify our notes either, nor ours the spec's.
  EXPECT_EQ(VerifyNote(*note, kExampleKey).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyNote(ExampleNote(), ours->VerifierKey()).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(SignedNote, MultipleSignatureLines) {
  absl::StatusOr<NoteSigner> log = NoteSigner::Generate("smartby.example/audit");
  absl::StatusOr<NoteSigner> witness = NoteSigner::Generate("witness.example/w1");
  ASSERT_TRUE(log.ok() && witness.ok());
  const std::string body = FormatCheckpointBody(SampleBody());
  absl::StatusOr<std::string> by_log = log->Sign(body);
  absl::StatusOr<std::string> by_witness = witness->Sign(body);
  ASSERT_TRUE(by_log.ok() && by_witness.ok());
  const std::string log_line = by_log->substr(body.size() + 1);
  const std::string witness_line = by_witness->substr(body.size() + 1);
  // An unknown signer's line (not even a valid Ed25519 signature) is ignored.
  const std::string unknown_line =
      absl::StrCat("\xE2\x80\x94 someone.example/x ", absl::Base64Escape(std::string(70, '\x07')), "\n");

  for (const std::string& sigs : {witness_line + log_line, log_line + witness_line,
                                  unknown_line + log_line + witness_line}) {
    const std::string note = body + "\n" + sigs;
    absl::StatusOr<std::string> v1 = VerifyNote(note, log->VerifierKey());
    ASSERT_TRUE(v1.ok()) << v1.status();
    EXPECT_EQ(*v1, body);
    absl::StatusOr<std::string> v2 = VerifyNote(note, witness->VerifierKey());
    ASSERT_TRUE(v2.ok()) << v2.status();
  }
  // A bad signature by the trusted key rejects the note even when another of its lines is good.
  std::string bad_line = log_line;
  const size_t at = bad_line.size() - 10;
  bad_line[at] = bad_line[at] == 'A' ? 'B' : 'A';
  EXPECT_EQ(VerifyNote(body + "\n" + bad_line + log_line, log->VerifierKey()).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Only the witness signed: not enough for the log's key.
  EXPECT_EQ(VerifyNote(body + "\n" + witness_line + unknown_line, log->VerifierKey()).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(SignedNote, MalformedNotesAreRefused) {
  const std::string note = ExampleNote();
  const std::string sig_b64 =
      "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=";
  struct Case {
    std::string note;
    std::string message;
  } cases[] = {
      {"", "newline"},
      {note.substr(0, note.size() - 1), "newline"},
      {std::string(kExampleText) + std::string(kExampleSigLine), "no blank line"},
      {std::string(kExampleText) + "\n", "no signature lines"},
      {std::string(kExampleText) + "\n- example.com/foo " + sig_b64 + "\n", "em dash"},
      {std::string(kExampleText) + "\n\xE2\x80\x94 example.com/foo\n", "no signature"},
      {std::string(kExampleText) + "\n\xE2\x80\x94  " + sig_b64 + "\n", "key name is empty"},
      {std::string(kExampleText) + "\n\xE2\x80\x94 example.com/foo " + sig_b64.substr(1) + "\n",
       "not base64"},
      {std::string(kExampleText) + "\n\xE2\x80\x94 example.com/foo " +
           absl::StrReplaceAll(sig_b64, {{"=", ""}}) + "\n",
       "not base64"},
      {std::string(kExampleText) + "\n\xE2\x80\x94 example.com/foo AAAA\n", "not base64"},
      {"This is an\texample message.\n\n" + std::string(kExampleSigLine), "control character"},
      {"This is an \xFF example.\n\n" + std::string(kExampleSigLine), "UTF-8"},
      {"This is an \xC0\xAF example.\n\n" + std::string(kExampleSigLine), "UTF-8"},
      {"CRLF\r\n\n" + std::string(kExampleSigLine), "control character"},
      {std::string(kExampleText) + "\n" + std::string(kExampleSigLine) + "trailing\n", "em dash"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> got = VerifyNote(c.note, kExampleKey);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << absl::CHexEscape(c.note);
    EXPECT_THAT(Message(got.status()), HasSubstr(c.message)) << absl::CHexEscape(c.note);
  }
  // Too many signature lines.
  std::string many = std::string(kExampleText) + "\n";
  for (int i = 0; i < 101; ++i) many += std::string(kExampleSigLine);
  EXPECT_THAT(Message(VerifyNote(many, kExampleKey).status()), HasSubstr("at most"));
  // 16 signature lines (the spec's minimum to accept) are fine.
  std::string sixteen = std::string(kExampleText) + "\n";
  for (int i = 0; i < 16; ++i) sixteen += std::string(kExampleSigLine);
  EXPECT_TRUE(VerifyNote(sixteen, kExampleKey).ok());
  // The note text may contain blank lines: the last blank line separates.
  absl::StatusOr<NoteSigner> signer = NoteSigner::Generate("a.example/k");
  ASSERT_TRUE(signer.ok());
  absl::StatusOr<std::string> multi = signer->Sign("para one\n\npara two\n");
  ASSERT_TRUE(multi.ok());
  absl::StatusOr<std::string> text = VerifyNote(*multi, signer->VerifierKey());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "para one\n\npara two\n");
}

TEST(SignedNote, MalformedVerifierKeysAreRefused) {
  const std::string key_b64 = "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(key_b64, &raw));
  std::string type2 = raw;
  type2[0] = '\x02';
  struct Case {
    std::string key;
    std::string message;
  } cases[] = {
      {"", "malformed verifier key"},
      {"example.com/foo+530d903a", "malformed verifier key"},
      {"example.com/foo+530d903a+" + key_b64 + "+x", "base64"},
      {"+530d903a+" + key_b64, "key name is empty"},
      {"example.com/ foo+530d903a+" + key_b64, "space"},
      {"example.com/foo+530D903A+" + key_b64, "lowercase hex"},
      {"example.com/foo+530d903+" + key_b64, "lowercase hex"},
      {"example.com/foo+530d903g+" + key_b64, "lowercase hex"},
      {"example.com/foo+530d903a+" + key_b64.substr(1), "base64"},
      {"example.com/foo+530d903a+" + absl::Base64Escape(type2), "not 0x01"},
      {"example.com/foo+530d903a+" + absl::Base64Escape(raw.substr(0, 32)), "not 32"},
      {"example.com/foo+530d903a+" + absl::Base64Escape(raw + "x"), "not 32"},
      {"example.com/foo+00000000+" + key_b64, "does not match"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> got = VerifyNote(ExampleNote(), c.key);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << c.key;
    EXPECT_THAT(Message(got.status()), HasSubstr(c.message)) << c.key;
  }
}

TEST(SignedNote, SignerRefusesBadInput) {
  EXPECT_FALSE(NoteSigner::FromSeed("k", std::string(31, 'x')).ok());
  EXPECT_FALSE(NoteSigner::FromSeed("k", std::string(64, 'x')).ok());
  EXPECT_FALSE(NoteSigner::FromSeed("", std::string(32, 'x')).ok());
  EXPECT_FALSE(NoteSigner::FromSeed("a+b", std::string(32, 'x')).ok());
  EXPECT_FALSE(NoteSigner::FromSeed("a b", std::string(32, 'x')).ok());
  EXPECT_FALSE(NoteSigner::FromSeed("a\xC2\xA0" "b", std::string(32, 'x')).ok());  // NBSP
  EXPECT_TRUE(NoteSigner::FromSeed("smartby.kommune.no/audit", std::string(32, 'x')).ok());
  absl::StatusOr<NoteSigner> signer = NoteSigner::FromSeed("k", std::string(32, 'x'));
  ASSERT_TRUE(signer.ok());
  EXPECT_FALSE(signer->Sign("").ok());
  EXPECT_FALSE(signer->Sign("no newline").ok());
  EXPECT_FALSE(signer->Sign("tab\there\n").ok());
  EXPECT_FALSE(signer->Sign("bad \xFF utf8\n").ok());
  EXPECT_TRUE(signer->Sign("Blåbærsyltetøy for Tromsø kommune\n").ok());
}

}  // namespace
}  // namespace smartby::audit
