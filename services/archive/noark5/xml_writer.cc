#include "services/archive/noark5/xml_writer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace smartby::noark5 {

std::string XmlTextProblem(absl::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  for (std::size_t i = 0; i < size;) {
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      if (lead < 0x20 && lead != '\t' && lead != '\n' && lead != '\r') {
        return absl::StrFormat(
            "contains control character 0x%02X at byte %d, which XML cannot "
            "hold",
            lead, i);
      }
      ++i;
      continue;
    }
    int length = 0;
    std::uint32_t code_point = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code_point = lead & 0x07;
    } else {
      return absl::StrCat("is not valid UTF-8 (byte ", i, ")");
    }
    if (i + length > size) return absl::StrCat("is not valid UTF-8 (truncated at byte ", i, ")");
    for (int k = 1; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return absl::StrCat("is not valid UTF-8 (byte ", i, ")");
      code_point = (code_point << 6) | (bytes[i + k] & 0x3F);
    }
    const bool overlong = (length == 2 && code_point < 0x80) ||
                          (length == 3 && code_point < 0x800) ||
                          (length == 4 && code_point < 0x10000);
    const bool not_xml_char = (code_point >= 0xD800 && code_point <= 0xDFFF) ||
                              code_point == 0xFFFE || code_point == 0xFFFF || code_point > 0x10FFFF;
    if (overlong || not_xml_char) {
      return absl::StrCat("is not valid UTF-8 or holds a character XML cannot hold (byte ", i, ")");
    }
    i += length;
  }
  return "";
}

bool IsBlank(absl::string_view text) { return absl::StripAsciiWhitespace(text).empty(); }

std::string EscapeXml(absl::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      // A literal CR would be normalised away by any parser; keep it as a reference.
      case '\r':
        escaped += "&#13;";
        break;
      default:
        escaped.push_back(c);
    }
  }
  return escaped;
}

void XmlWriter::Put(absl::string_view bytes) {
  if (!status_.ok()) return;
  status_ = out_.Write(bytes);
}

void XmlWriter::Indent() { Put(std::string((base_depth_ + open_.size()) * 2, ' ')); }

void XmlWriter::Declaration() { Put("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"); }

void XmlWriter::Open(absl::string_view name, absl::string_view attributes) {
  Indent();
  Put(attributes.empty() ? absl::StrCat("<", name, ">\n")
                         : absl::StrCat("<", name, " ", attributes, ">\n"));
  open_.emplace_back(name);
}

void XmlWriter::Close() {
  if (open_.empty()) {
    if (status_.ok()) status_ = absl::InternalError("XmlWriter: Close without Open");
    return;
  }
  std::string name = std::move(open_.back());
  open_.pop_back();
  Indent();
  Put(absl::StrCat("</", name, ">\n"));
}

void XmlWriter::Leaf(absl::string_view name, absl::string_view value,
                     absl::string_view attributes) {
  if (IsBlank(value) || !status_.ok()) return;
  if (std::string problem = XmlTextProblem(value); !problem.empty()) {
    status_ = absl::InvalidArgumentError(absl::StrCat("the value of <", name, "> ", problem));
    return;
  }
  Indent();
  Put(absl::StrCat("<", name, attributes.empty() ? "" : " ", attributes, ">", EscapeXml(value),
                   "</", name, ">\n"));
}

void XmlWriter::Raw(absl::string_view xml) { Put(xml); }

}  // namespace smartby::noark5
