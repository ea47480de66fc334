// UTF-8 as every service reads it: strict RFC 3629 (no overlong forms, no surrogates
// U+D800..U+DFFF, nothing above U+10FFFF). One decoder, so that validation, escaping for logs and
// Turtle, search tokenizing and password rules agree on what a character is.
#ifndef SMARTBY_RUNTIME_UTF8_H_
#define SMARTBY_RUNTIME_UTF8_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace smartby::utf8 {

inline constexpr char32_t kReplacementCharacter = 0xFFFD;

// Decodes the code point starting at s[i] and advances `i` past it. When s[i] does not start a
// well-formed sequence, returns nullopt and advances `i` by one byte. Requires i < s.size().
std::optional<char32_t> Next(absl::string_view s, size_t& i);

// Offset of the first byte that is not part of well-formed UTF-8, or absl::string_view::npos.
size_t FirstInvalidByte(absl::string_view s);

// Appends the UTF-8 encoding of `cp` (which must be a Unicode scalar value).
void Append(char32_t cp, std::string& out);

}  // namespace smartby::utf8

#endif  // SMARTBY_RUNTIME_UTF8_H_
