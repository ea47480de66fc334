// Internal: a forward-only XML writer over a HashingFileWriter. It writes elements as they come
// (never a tree), escapes text, refuses text that XML 1.0 cannot carry, and never writes an empty
// element: Leaf() with an empty value writes nothing (Noark 5 / Arkade N5.63).
//
// Errors are sticky, like an ostream: after the first failure every call is a no-op and
// status() holds the failure, so callers write a block of elements and check once.
#ifndef SMARTBY_SERVICES_ARCHIVE_NOARK5_XML_WRITER_H_
#define SMARTBY_SERVICES_ARCHIVE_NOARK5_XML_WRITER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/archive/noark5/hashing_file.h"

namespace smartby::noark5 {

// Why `text` cannot appear in an XML 1.0 document (invalid UTF-8, or a control character), or
// an empty string when it can.
std::string XmlTextProblem(absl::string_view text);

// Empty or only whitespace: such a value is never written (it would be an empty element).
bool IsBlank(absl::string_view text);

// `text` with &, <, > and " escaped.
std::string EscapeXml(absl::string_view text);

class XmlWriter {
 public:
  // base_depth indents a fragment that will be copied inside other elements.
  explicit XmlWriter(HashingFileWriter& out, int base_depth = 0)
      : out_(out), base_depth_(base_depth) {}

  void Declaration();
  // <name attributes>; `attributes` is written as given (the caller's own constants).
  void Open(absl::string_view name, absl::string_view attributes = {});
  void Close();
  // <name attributes>escaped value</name>, or nothing when value is blank.
  void Leaf(absl::string_view name, absl::string_view value, absl::string_view attributes = {});
  // Writes already formed XML (a block copied from another file).
  void Raw(absl::string_view xml);

  int depth() const { return static_cast<int>(open_.size()); }
  const absl::Status& status() const { return status_; }

 private:
  void Indent();
  void Put(absl::string_view bytes);

  HashingFileWriter& out_;
  int base_depth_;
  std::vector<std::string> open_;
  absl::Status status_;
};

}  // namespace smartby::noark5

#endif  // SMARTBY_SERVICES_ARCHIVE_NOARK5_XML_WRITER_H_
