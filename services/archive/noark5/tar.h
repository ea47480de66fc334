// Internal: reading TAR files in place (the checker reads members without unpacking). Writing is
// WriteTar in package_writer.h.
#ifndef SMARTBY_SERVICES_ARCHIVE_NOARK5_TAR_H_
#define SMARTBY_SERVICES_ARCHIVE_NOARK5_TAR_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/archive/noark5/hashing_file.h"

namespace smartby::noark5 {

// One regular file inside a TAR: where its bytes are.
struct TarMember {
  std::string name;  // full path inside the TAR, no leading "./"
  std::uint64_t data_offset = 0;
  std::uint64_t size = 0;
};

// True when the file starts with a POSIX ustar (or GNU) header.
bool LooksLikeTar(const std::filesystem::path& path);

// Lists the regular files of a ustar/pax/GNU TAR (long names from pax "path" and GNU "L"
// records, sizes from pax "size" and GNU base-256). Reads headers only.
absl::StatusOr<std::vector<TarMember>> ReadTarIndex(const std::filesystem::path& tar_path);

// Reads one member's bytes from the TAR, in chunks.
absl::StatusOr<std::unique_ptr<ByteSource>> OpenTarMember(const std::filesystem::path& tar_path,
                                                          const TarMember& member);

}  // namespace smartby::noark5

#endif  // SMARTBY_SERVICES_ARCHIVE_NOARK5_TAR_H_
