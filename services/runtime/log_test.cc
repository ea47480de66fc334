#include "services/runtime/log.h"

#include <gtest/gtest.h>

#include "services/runtime/status.h"

namespace smartby {
namespace {

TEST(JsonEscape, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(log::JsonEscape("a\"b\\c\nd\te\x01"), "a\\\"b\\\\c\\nd\\te\\u0001");
}

TEST(JsonEscape, KeepsValidUtf8) {
  EXPECT_EQ(log::JsonEscape("Bådetemperatur ✓ 🌊"), "Bådetemperatur ✓ 🌊");
}

TEST(JsonEscape, ReplacesInvalidUtf8SoTheLineStaysValidJson) {
  // Latin-1 "å" (0xE5), a lone continuation byte, and an overlong encoding of '/'.
  EXPECT_EQ(log::JsonEscape("B\xE5t \x80 \xC0\xAF"), "B\xEF\xBF\xBDt \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(LogLevel, ParsesTheFourLevelsOnly) {
  log::Level level;
  EXPECT_TRUE(log::ParseLevel("warn", &level));
  EXPECT_EQ(level, log::Level::kWarn);
  EXPECT_FALSE(log::ParseLevel("verbose", &level));
}

TEST(StatusMapping, KeepsCodeAndMessage) {
  const grpc::Status s = ToGrpcStatus(absl::InvalidArgumentError("dataset.name: required"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "dataset.name: required");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::ABORTED, "stale")).code(),
            absl::StatusCode::kAborted);
}

absl::StatusOr<int> Half(int n) {
  if (n % 2 != 0) return absl::InvalidArgumentError("n: must be even");
  return n / 2;
}

absl::StatusOr<int> Quarter(int n) {
  ASSIGN_OR_RETURN(int half, Half(n));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

TEST(StatusMacros, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "n: must be even");
}

}  // namespace
}  // namespace smartby
