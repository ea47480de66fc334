#include "services/runtime/utf8.h"

#include <gtest/gtest.h>

namespace smartby {
namespace {

TEST(Utf8, DecodesEveryLength) {
  const std::string s = "a\xC3\xA5\xE2\x9C\x93\xF0\x9F\x8C\x8A";  // a å ✓ 🌊
  size_t i = 0;
  EXPECT_EQ(utf8::Next(s, i), U'a');
  EXPECT_EQ(utf8::Next(s, i), U'å');
  EXPECT_EQ(utf8::Next(s, i), U'✓');
  EXPECT_EQ(utf8::Next(s, i), U'🌊');
  EXPECT_EQ(i, s.size());
}

TEST(Utf8, RefusesOverlongSurrogateAndOutOfRangeForms) {
  for (const std::string bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                "\xF5\x80\x80\x80", "\x80", "\xE5", "\xC3"}) {
    size_t i = 0;
    EXPECT_FALSE(utf8::Next(bad, i).has_value());
    EXPECT_EQ(i, 1u);  // one byte skipped
    EXPECT_EQ(utf8::FirstInvalidByte("ok " + bad), 3u);
  }
}

TEST(Utf8, FirstInvalidByteIsNposForValidText) {
  EXPECT_EQ(utf8::FirstInvalidByte("Sjøvann ✓"), absl::string_view::npos);
}

TEST(Utf8, AppendRoundTrips) {
  std::string out;
  for (char32_t cp : {U'a', U'ø', U'€', U'𝄞'}) utf8::Append(cp, out);
  EXPECT_EQ(out, "aø€𝄞");
}

}  // namespace
}  // namespace smartby
