#include "services/auth/totp.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "services/runtime/clock.h"

namespace smartby::auth {
namespace {

// RFC 6238 Appendix B: the seed for each algorithm is the ASCII digits repeated to the hash's
// output length.
constexpr char kSha1Key[] = "12345678901234567890";
constexpr char kSha256Key[] = "12345678901234567890123456789012";
constexpr char kSha512Key[] =
    "1234567890123456789012345678901234567890123456789012345678901234";

struct TotpVector {
  int64_t unix_seconds;
  OtpAlgorithm algorithm;
  const char* expected;
};

std::string Key(OtpAlgorithm algorithm) {
  switch (algorithm) {
    case OtpAlgorithm::kSha1:
      return kSha1Key;
    case OtpAlgorithm::kSha256:
      return kSha256Key;
    case OtpAlgorithm::kSha512:
      return kSha512Key;
  }
  return "";
}

class Rfc6238AppendixB : public testing::TestWithParam<TotpVector> {};

TEST_P(Rfc6238AppendixB, EightDigitCodeMatches) {
  const TotpVector& v = GetParam();
  const TotpParams params{.algorithm = v.algorithm, .digits = 8};
  const absl::StatusOr<std::string> code =
      Totp(Key(v.algorithm), absl::FromUnixSeconds(v.unix_seconds), params);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, v.expected);
}

INSTANTIATE_TEST_SUITE_P(
    AllVectors, Rfc6238AppendixB,
    testing::Values(TotpVector{59, OtpAlgorithm::kSha1, "94287082"},
                    TotpVector{59, OtpAlgorithm::kSha256, "46119246"},
                    TotpVector{59, OtpAlgorithm::kSha512, "90693936"},
                    TotpVector{1111111109, OtpAlgorithm::kSha1, "07081804"},
                    TotpVector{1111111109, OtpAlgorithm::kSha256, "68084774"},
                    TotpVector{1111111109, OtpAlgorithm::kSha512, "25091201"},
                    TotpVector{1111111111, OtpAlgorithm::kSha1, "14050471"},
                    TotpVector{1111111111, OtpAlgorithm::kSha256, "67062674"},
                    TotpVector{1111111111, OtpAlgorithm::kSha512, "99943326"},
                    TotpVector{1234567890, OtpAlgorithm::kSha1, "89005924"},
                    TotpVector{1234567890, OtpAlgorithm::kSha256, "91819424"},
                    TotpVector{1234567890, OtpAlgorithm::kSha512, "93441116"},
                    TotpVector{2000000000, OtpAlgorithm::kSha1, "69279037"},
                    TotpVector{2000000000, OtpAlgorithm::kSha256, "90698825"},
                    TotpVector{2000000000, OtpAlgorithm::kSha512, "38618901"},
                    TotpVector{20000000000, OtpAlgorithm::kSha1, "65353130"},
                    TotpVector{20000000000, OtpAlgorithm::kSha256, "77737706"},
                    TotpVector{20000000000, OtpAlgorithm::kSha512, "47863826"}),
    [](const testing::TestParamInfo<TotpVector>& info) {
      return std::string(OtpAlgorithmName(info.param.algorithm)) + "_T" +
             std::to_string(info.param.unix_seconds);
    });

class Rfc4226AppendixD : public testing::TestWithParam<int> {};

TEST_P(Rfc4226AppendixD, SixDigitHotpMatches) {
  static constexpr const char* kExpected[] = {"755224", "287082", "359152", "969429", "338314",
                                              "254676", "287922", "162583", "399871", "520489"};
  const int counter = GetParam();
  const absl::StatusOr<std::string> code = Hotp(kSha1Key, counter, 6);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, kExpected[counter]);
}

INSTANTIATE_TEST_SUITE_P(Counters0To9, Rfc4226AppendixD, testing::Range(0, 10));

TEST(Hotp, RefusesDigitsOutsideSixToEight) {
  EXPECT_EQ(Hotp(kSha1Key, 0, 5).status().code(), absl::StatusCode::kInvalidArgument);
  const absl::Status status = Hotp(kSha1Key, 0, 9).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "totp.digits")) << status;
}

TEST(Hotp, RefusesAnEmptySecret) {
  const absl::Status status = Hotp("", 0, 6).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "secret")) << status;
}

TEST(TotpStep, CountsWholePeriodsSinceTheEpoch) {
  EXPECT_EQ(*TotpStep(absl::FromUnixSeconds(59), absl::Seconds(30)), 1);
  EXPECT_EQ(*TotpStep(absl::FromUnixSeconds(60), absl::Seconds(30)), 2);
  EXPECT_EQ(*TotpStep(absl::FromUnixSeconds(20000000000), absl::Seconds(30)), 666666666);
}

TEST(TotpStep, RefusesTimesBeforeTheEpoch) {
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(-1), absl::Seconds(30)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TotpParams, RefusesAPeriodThatIsNotWholeSeconds) {
  const absl::Status status = ValidateTotpParams({.period = absl::Milliseconds(1500)});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "totp.period")) << status;
}

// RFC 4648 §10, without padding.
struct Base32Vector {
  const char* bytes;
  const char* text;
};

class Rfc4648Base32 : public testing::TestWithParam<Base32Vector> {};

TEST_P(Rfc4648Base32, EncodesWithoutPadding) {
  EXPECT_EQ(Base32Encode(GetParam().bytes), GetParam().text);
}

TEST_P(Rfc4648Base32, DecodesBack) {
  const absl::StatusOr<std::string> bytes = Base32Decode(GetParam().text);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, GetParam().bytes);
}

INSTANTIATE_TEST_SUITE_P(Vectors, Rfc4648Base32,
                         testing::Values(Base32Vector{"", ""}, Base32Vector{"f", "MY"},
                                         Base32Vector{"fo", "MZXQ"},
                                         Base32Vector{"foo", "MZXW6"},
                                         Base32Vector{"foob", "MZXW6YQ"},
                                         Base32Vector{"fooba", "MZXW6YTB"},
                                         Base32Vector{"foobar", "MZXW6YTBOI"}));

TEST(Base32, RoundTripsEveryByteValueAtEveryLength) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  for (size_t length = 0; length <= all_bytes.size(); ++length) {
    const std::string bytes = all_bytes.substr(all_bytes.size() - length);
    const absl::StatusOr<std::string> decoded = Base32Decode(Base32Encode(bytes));
    ASSERT_TRUE(decoded.ok()) << "length " << length << ": " << decoded.status();
    EXPECT_EQ(*decoded, bytes) << "length " << length;
  }
}

TEST(Base32, DecodesLowerCase) { EXPECT_EQ(*Base32Decode("mzxw6ytboi"), "foobar"); }

TEST(Base32, AcceptsTrailingPadding) { EXPECT_EQ(*Base32Decode("MZXW6==="), "foo"); }

TEST(Base32, RefusesACharacterOutsideTheAlphabetNamingIt) {
  const absl::Status status = Base32Decode("MZXW1YTB").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "'1' at position 5")) << status;
}

TEST(Base32, RefusesALengthNoEncoderProduces) {
  const absl::Status status = Base32Decode("MZX").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "3 characters")) << status;
}

TEST(NewTotpSecret, IsTwentyRandomBytes) {
  const absl::StatusOr<std::string> first = NewTotpSecret();
  const absl::StatusOr<std::string> second = NewTotpSecret();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->size(), 20u);
  EXPECT_NE(*first, *second);
}

TEST(OtpauthUri, HasLabelSecretAndDefaultParameters) {
  EXPECT_EQ(*OtpauthUri("Smartby", "ola", "foobar"),
            "otpauth://totp/Smartby:ola?secret=MZXW6YTBOI&issuer=Smartby&algorithm=SHA1"
            "&digits=6&period=30");
}

TEST(OtpauthUri, PercentEncodesNorwegianLettersSpacesAndColons) {
  const absl::StatusOr<std::string> uri =
      OtpauthUri("Tromsø kommune", "kari:nordmann@bærum.no", "foobar");
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(*uri,
            "otpauth://totp/Troms%C3%B8%20kommune:kari%3Anordmann%40b%C3%A6rum.no"
            "?secret=MZXW6YTBOI&issuer=Troms%C3%B8%20kommune&algorithm=SHA1&digits=6&period=30");
}

TEST(OtpauthUri, CarriesNonDefaultParameters) {
  const TotpParams params{
      .algorithm = OtpAlgorithm::kSha256, .digits = 8, .period = absl::Seconds(60)};
  const absl::StatusOr<std::string> uri = OtpauthUri("Åsane", "per", "foobar", params);
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_TRUE(absl::EndsWith(*uri, "&issuer=%C3%85sane&algorithm=SHA256&digits=8&period=60"))
      << *uri;
}

TEST(OtpauthUri, RefusesAnEmptyIssuer) {
  const absl::Status status = OtpauthUri("", "ola", "foobar").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "issuer")) << status;
}

// The verifier at 1111111109 s, i.e. step 37037036 with the default 30 s period.
class TotpVerifierTest : public testing::Test {
 protected:
  static constexpr int64_t kNowStep = 37037036;

  std::string CodeAt(int64_t step) { return *Hotp(kSha1Key, step, 6); }

  SettableClock clock_{absl::FromUnixSeconds(1111111109)};
  TotpVerifier verifier_ = *TotpVerifier::Create(clock_);
};

TEST_F(TotpVerifierTest, AcceptsTheCurrentCodeAndReturnsItsStep) {
  const absl::StatusOr<int64_t> step = verifier_.Verify(kSha1Key, CodeAt(kNowStep), std::nullopt);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, kNowStep);
}

TEST_F(TotpVerifierTest, AcceptsThePreviousStepsCode) {
  EXPECT_EQ(*verifier_.Verify(kSha1Key, CodeAt(kNowStep - 1), std::nullopt), kNowStep - 1);
}

TEST_F(TotpVerifierTest, AcceptsTheNextStepsCode) {
  EXPECT_EQ(*verifier_.Verify(kSha1Key, CodeAt(kNowStep + 1), std::nullopt), kNowStep + 1);
}

TEST_F(TotpVerifierTest, RefusesACodeTwoStepsOld) {
  EXPECT_EQ(verifier_.Verify(kSha1Key, CodeAt(kNowStep - 2), std::nullopt).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(TotpVerifierTest, RefusesACodeTwoStepsAhead) {
  EXPECT_EQ(verifier_.Verify(kSha1Key, CodeAt(kNowStep + 2), std::nullopt).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(TotpVerifierTest, FollowsTheClock) {
  const std::string code = CodeAt(kNowStep + 3);
  clock_.Advance(absl::Seconds(90));
  EXPECT_EQ(*verifier_.Verify(kSha1Key, code, std::nullopt), kNowStep + 3);
}

TEST_F(TotpVerifierTest, RefusesACodeAlreadyUsed) {
  const std::string code = CodeAt(kNowStep);
  const int64_t last_used = *verifier_.Verify(kSha1Key, code, std::nullopt);
  const absl::Status replay = verifier_.Verify(kSha1Key, code, last_used).status();
  EXPECT_EQ(replay.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(replay.message(), "already been used")) << replay;
}

TEST_F(TotpVerifierTest, RefusesAnOlderCodeOnceANewerOneWasUsed) {
  const int64_t last_used = *verifier_.Verify(kSha1Key, CodeAt(kNowStep + 1), std::nullopt);
  EXPECT_EQ(verifier_.Verify(kSha1Key, CodeAt(kNowStep), last_used).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(TotpVerifierTest, AcceptsTheNextCodeAfterOneWasUsed) {
  const int64_t last_used = *verifier_.Verify(kSha1Key, CodeAt(kNowStep), std::nullopt);
  EXPECT_EQ(*verifier_.Verify(kSha1Key, CodeAt(kNowStep + 1), last_used), kNowStep + 1);
}

TEST_F(TotpVerifierTest, AWrongCodeIsUnauthenticatedWithAPlainMessage) {
  std::string wrong = CodeAt(kNowStep);
  wrong[0] = wrong[0] == '9' ? '0' : static_cast<char>(wrong[0] + 1);
  const absl::Status status = verifier_.Verify(kSha1Key, wrong, std::nullopt).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(status.message(), "not the right code")) << status;
}

TEST_F(TotpVerifierTest, RefusesNonDigits) {
  const absl::Status status = verifier_.Verify(kSha1Key, "12a456", std::nullopt).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "code: must be exactly 6 digits")) << status;
}

TEST_F(TotpVerifierTest, RefusesTheWrongNumberOfDigits) {
  EXPECT_EQ(verifier_.Verify(kSha1Key, "1234567", std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(verifier_.Verify(kSha1Key, "", std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TotpVerifier, CreateRefusesOutOfRangeParameters) {
  SettableClock clock(absl::UnixEpoch());
  EXPECT_EQ(TotpVerifier::Create(clock, {.digits = 9}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TotpVerifier, UsesTheConfiguredAlgorithmDigitsAndPeriod) {
  SettableClock clock(absl::FromUnixSeconds(1234567890));
  const TotpParams params{.algorithm = OtpAlgorithm::kSha512, .digits = 8};
  const TotpVerifier verifier = *TotpVerifier::Create(clock, params);
  EXPECT_TRUE(verifier.Verify(kSha512Key, "93441116", std::nullopt).ok());  // RFC 6238 vector
}

}  // namespace
}  // namespace smartby::auth
