#include "services/runtime/flags.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"

ABSL_FLAG(int32_t, flags_test_port, 7001, "a flag only this test uses");

namespace smartby {
namespace {

TEST(EnvTwin, IsPrefixedUpperCase) {
  EXPECT_EQ(EnvTwinName("metrics_listen"), "SMARTBY_METRICS_LISTEN");
}

TEST(EnvTwin, SetsTheFlag) {
  setenv("SMARTBY_FLAGS_TEST_PORT", "7100", 1);
  ASSERT_TRUE(ApplyEnvironmentTwins().ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_flags_test_port), 7100);
  unsetenv("SMARTBY_FLAGS_TEST_PORT");
}

TEST(EnvTwin, BadValueNamesTheVariable) {
  setenv("SMARTBY_FLAGS_TEST_PORT", "seven", 1);
  const absl::Status status = ApplyEnvironmentTwins();
  unsetenv("SMARTBY_FLAGS_TEST_PORT");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "SMARTBY_FLAGS_TEST_PORT"));
}

}  // namespace
}  // namespace smartby
