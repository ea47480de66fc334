#include "services/archive/noark5/hashing_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace smartby::noark5 {
namespace {

constexpr std::size_t kBufferBytes = 1 << 20;

absl::Status WriteAll(int fd, const char* data, std::size_t size,
                      const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("writing", path);
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return absl::OkStatus();
}

class FileSource final : public ByteSource {
 public:
  FileSource(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~FileSource() override { ::close(fd_); }

  absl::StatusOr<std::size_t> Read(char* buffer, std::size_t capacity) override {
    while (true) {
      const ssize_t got = ::read(fd_, buffer, capacity);
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR) return ErrnoStatus("reading", path_);
    }
  }

 private:
  std::filesystem::path path_;
  int fd_;
};

}  // namespace

absl::Status ErrnoStatus(absl::string_view what, const std::filesystem::path& path) {
  const int error = errno;
  std::string message = absl::StrCat(what, " ", path.string(), ": ", std::strerror(error));
  if (error == ENOENT) return absl::NotFoundError(message);
  if (error == EEXIST) return absl::AlreadyExistsError(message);
  if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
  if (error == ENOSPC || error == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

struct Sha256::Context {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  context_->md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(context_->md); }

void Sha256::Update(absl::string_view bytes) {
  EVP_DigestUpdate(context_->md, bytes.data(), bytes.size());
}

std::string Sha256::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_->md, digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

absl::StatusOr<std::unique_ptr<HashingFileWriter>> HashingFileWriter::Create(
    const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("creating", path);
  return std::unique_ptr<HashingFileWriter>(new HashingFileWriter(path, fd));
}

HashingFileWriter::HashingFileWriter(std::filesystem::path path, int fd)
    : path_(std::move(path)), fd_(fd) {
  buffer_.reserve(kBufferBytes);
}

HashingFileWriter::~HashingFileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status HashingFileWriter::Write(absl::string_view bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_.string(), " is closed"));
  hash_.Update(bytes);
  size_ += bytes.size();
  if (buffer_.size() + bytes.size() > kBufferBytes) {
    if (absl::Status flushed = Flush(); !flushed.ok()) return flushed;
    // A chunk at least as large as the buffer goes straight to the file.
    if (bytes.size() >= kBufferBytes) return WriteAll(fd_, bytes.data(), bytes.size(), path_);
  }
  buffer_.append(bytes.data(), bytes.size());
  return absl::OkStatus();
}

absl::Status HashingFileWriter::Flush() {
  absl::Status written = WriteAll(fd_, buffer_.data(), buffer_.size(), path_);
  buffer_.clear();
  return written;
}

absl::Status HashingFileWriter::Close() {
  if (fd_ < 0) return absl::OkStatus();
  absl::Status flushed = Flush();
  if (::close(fd_) != 0 && flushed.ok()) flushed = ErrnoStatus("closing", path_);
  fd_ = -1;
  sha256_hex_ = hash_.FinishHex();
  return flushed;
}

absl::StatusOr<std::unique_ptr<ByteSource>> OpenFileSource(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("opening", path);
  return std::make_unique<FileSource>(path, fd);
}

absl::StatusOr<HashAndSize> HashSource(ByteSource& source) {
  std::string buffer(kBufferBytes, '\0');
  Sha256 hash;
  HashAndSize result;
  while (true) {
    absl::StatusOr<std::size_t> got = source.Read(buffer.data(), buffer.size());
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    hash.Update(absl::string_view(buffer.data(), *got));
    result.size += *got;
  }
  result.sha256_hex = hash.FinishHex();
  return result;
}

absl::StatusOr<HashAndSize> HashFile(const std::filesystem::path& path) {
  absl::StatusOr<std::unique_ptr<ByteSource>> source = OpenFileSource(path);
  if (!source.ok()) return source.status();
  return HashSource(**source);
}

}  // namespace smartby::noark5
