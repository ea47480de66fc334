#include "services/runtime/utf8.h"

namespace smartby::utf8 {

std::optional<char32_t> Next(absl::string_view s, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  char32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;  // below is overlong
    if (c == 0xED) hi = 0x9F;  // above is a surrogate
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;  // below is overlong
    if (c == 0xF4) hi = 0x8F;  // above is beyond U+10FFFF
  }
  // Anything else is a continuation byte without a lead, C0/C1 (overlong) or F5..FF.
  bool ok = len > 0 && i + len <= s.size() && byte(i + 1) >= lo && byte(i + 1) <= hi;
  for (size_t k = 2; ok && k < len; ++k) ok = byte(i + k) >= 0x80 && byte(i + k) <= 0xBF;
  if (!ok) {
    ++i;
    return std::nullopt;
  }
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
  i += len;
  return cp;
}

size_t FirstInvalidByte(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    if (!Next(s, i)) return at;
  }
  return absl::string_view::npos;
}

void Append(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace smartby::utf8
