// Internal: files written and read in chunks while their SHA-256 and size are computed, so
// nothing ever needs a whole file in memory.
#ifndef SMARTBY_SERVICES_ARCHIVE_NOARK5_HASHING_FILE_H_
#define SMARTBY_SERVICES_ARCHIVE_NOARK5_HASHING_FILE_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartby::noark5 {

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view bytes);
  // Lower-case hex digest; the object must not be updated afterwards.
  std::string FinishHex();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// A new file (O_EXCL: never overwrites) written through a 1 MiB buffer, hashed as it goes.
class HashingFileWriter {
 public:
  static absl::StatusOr<std::unique_ptr<HashingFileWriter>> Create(
      const std::filesystem::path& path);
  ~HashingFileWriter();

  absl::Status Write(absl::string_view bytes);
  // Flushes and closes; then sha256_hex() and size() are final.
  absl::Status Close();

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  const std::string& sha256_hex() const { return sha256_hex_; }

 private:
  HashingFileWriter(std::filesystem::path path, int fd);
  absl::Status Flush();

  std::filesystem::path path_;
  int fd_;
  std::string buffer_;
  Sha256 hash_;
  std::uint64_t size_ = 0;
  std::string sha256_hex_;
};

// Something to read sequentially in chunks: a file, or one member of a TAR.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `capacity` bytes; 0 at the end.
  virtual absl::StatusOr<std::size_t> Read(char* buffer, std::size_t capacity) = 0;
};

// Opens a regular file for chunked reading.
absl::StatusOr<std::unique_ptr<ByteSource>> OpenFileSource(const std::filesystem::path& path);

struct HashAndSize {
  std::string sha256_hex;
  std::uint64_t size = 0;
};
// Drains `source`, hashing it.
absl::StatusOr<HashAndSize> HashSource(ByteSource& source);
absl::StatusOr<HashAndSize> HashFile(const std::filesystem::path& path);

// The message of errno in plain words, prefixed with what was being done.
absl::Status ErrnoStatus(absl::string_view what, const std::filesystem::path& path);

}  // namespace smartby::noark5

#endif  // SMARTBY_SERVICES_ARCHIVE_NOARK5_HASHING_FILE_H_
