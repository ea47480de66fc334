// Internal: libxml2's streaming reader over a ByteSource, shared by the checker and the archive
// service's package push.
#ifndef SMARTBY_SERVICES_ARCHIVE_NOARK5_XML_SOURCE_READER_H_
#define SMARTBY_SERVICES_ARCHIVE_NOARK5_XML_SOURCE_READER_H_

#include <libxml/xmlreader.h>

#include <string>

#include "absl/status/status.h"
#include "services/archive/noark5/hashing_file.h"

namespace smartby::noark5 {

// A libxml2 streaming reader (xmlTextReader) over a ByteSource, so XML inside a TAR member or a
// file is parsed without loading it whole. Owns the xmlTextReader and frees it on destruction;
// the caller drives it with the xmlTextReader* functions through get().
//
// Neither copyable nor movable: libxml2 keeps a pointer to this object for its read callback.
// `source` must outlive the reader. Not thread-safe (neither is an xmlTextReader).
class XmlSourceReader {
 public:
  // `document_name` is the name libxml2 uses for the document in its messages;
  // `parse_options` are xmlParserOption flags (e.g. XML_PARSE_NONET).
  XmlSourceReader(ByteSource& source, const std::string& document_name, int parse_options);
  ~XmlSourceReader();
  XmlSourceReader(const XmlSourceReader&) = delete;
  XmlSourceReader& operator=(const XmlSourceReader&) = delete;

  // The libxml2 reader, or nullptr when libxml2 could not start reading.
  xmlTextReaderPtr get() const { return reader_; }

  // Why the source failed, when it did: libxml2 only sees "read error" (-1), so the cause is
  // kept here. OK while the source has not failed.
  const absl::Status& source_status() const { return source_status_; }

 private:
  static int ReadFromSource(void* self, char* buffer, int length);

  ByteSource& source_;
  absl::Status source_status_;
  xmlTextReaderPtr reader_ = nullptr;
};

}  // namespace smartby::noark5

#endif  // SMARTBY_SERVICES_ARCHIVE_NOARK5_XML_SOURCE_READER_H_
