#include "services/archive/noark5/xml_source_reader.h"

#include <cstddef>

#include "absl/status/statusor.h"

namespace smartby::noark5 {

XmlSourceReader::XmlSourceReader(ByteSource& source, const std::string& document_name,
                                 int parse_options)
    : source_(source) {
  // The close callback does nothing: the caller owns the source.
  reader_ = xmlReaderForIO(ReadFromSource, [](void*) { return 0; }, this, document_name.c_str(),
                           nullptr, parse_options);
}

XmlSourceReader::~XmlSourceReader() {
  if (reader_ != nullptr) xmlFreeTextReader(reader_);
}

int XmlSourceReader::ReadFromSource(void* self, char* buffer, int length) {
  auto* reader = static_cast<XmlSourceReader*>(self);
  absl::StatusOr<std::size_t> got = reader->source_.Read(buffer, static_cast<std::size_t>(length));
  if (!got.ok()) {
    reader->source_status_ = got.status();
    return -1;
  }
  return static_cast<int>(*got);
}

}  // namespace smartby::noark5
