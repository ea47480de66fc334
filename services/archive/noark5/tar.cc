#include "services/archive/noark5/tar.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/archive/noark5/package_writer.h"

namespace smartby::noark5 {
namespace {

constexpr std::size_t kBlock = 512;
constexpr std::uint64_t kMaxOctalSize = 077777777777ULL;  // what 11 octal digits can hold
constexpr std::size_t kCopyBuffer = 1 << 20;

using Header = std::array<char, kBlock>;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

absl::Status PreadAll(int fd, char* buffer, std::size_t size, std::uint64_t offset,
                      const std::filesystem::path& path, std::size_t* got) {
  *got = 0;
  while (*got < size) {
    const ssize_t n = ::pread(fd, buffer + *got, size - *got, static_cast<off_t>(offset + *got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("reading", path);
    }
    if (n == 0) break;
    *got += static_cast<std::size_t>(n);
  }
  return absl::OkStatus();
}

// --- writing -----------------------------------------------------------------------------------

void PutOctal(Header& header, std::size_t offset, std::size_t width, std::uint64_t value) {
  // width-1 digits and a NUL, as ustar readers expect.
  const std::string digits = absl::StrFormat("%0*o", static_cast<int>(width - 1), value);
  std::memcpy(header.data() + offset, digits.data(), width - 1);
  header[offset + width - 1] = '\0';
}

void PutString(Header& header, std::size_t offset, std::size_t width, absl::string_view value) {
  std::memcpy(header.data() + offset, value.data(), std::min(width, value.size()));
}

Header MakeHeader(absl::string_view name, absl::string_view prefix, char type, std::uint64_t size,
                  std::int64_t mtime, unsigned mode) {
  Header header{};
  PutString(header, 0, 100, name);
  PutOctal(header, 100, 8, mode);
  PutOctal(header, 108, 8, 0);
  PutOctal(header, 116, 8, 0);
  PutOctal(header, 124, 12, size > kMaxOctalSize ? 0 : size);
  PutOctal(header, 136, 12, static_cast<std::uint64_t>(std::max<std::int64_t>(mtime, 0)));
  header[156] = type;
  PutString(header, 257, 6, absl::string_view("ustar\0", 6));
  PutString(header, 263, 2, "00");
  PutString(header, 265, 32, "smartby");
  PutString(header, 297, 32, "smartby");
  PutString(header, 345, 155, prefix);
  std::memset(header.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : header) sum += static_cast<unsigned char>(c);
  const std::string checksum = absl::StrFormat("%06o", sum);
  std::memcpy(header.data() + 148, checksum.data(), 6);
  header[154] = '\0';
  header[155] = ' ';
  return header;
}

// A pax record "<len> key=value\n", where <len> counts the whole record including itself.
std::string PaxRecord(absl::string_view key, absl::string_view value) {
  const std::size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  std::size_t length = body + 1;
  while (absl::StrCat(length).size() + body != length) length = absl::StrCat(length).size() + body;
  return absl::StrCat(length, " ", key, "=", value, "\n");
}

// Splits a path into ustar prefix and name, or returns nullopt when it does not fit.
std::optional<std::pair<std::string, std::string>> SplitUstarName(const std::string& path) {
  if (path.size() <= 100) return std::make_pair(std::string(), path);
  for (std::size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (slash <= 155 && path.size() - slash - 1 <= 100 && path.size() - slash - 1 > 0) {
      return std::make_pair(path.substr(0, slash), path.substr(slash + 1));
    }
  }
  return std::nullopt;
}

class TarOutput {
 public:
  TarOutput(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {
    buffer_.reserve(kCopyBuffer);
  }

  absl::Status Append(absl::string_view bytes) {
    if (buffer_.size() + bytes.size() > kCopyBuffer) {
      if (absl::Status s = Flush(); !s.ok()) return s;
    }
    if (bytes.size() >= kCopyBuffer) return WriteDirect(bytes);
    buffer_.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }

  absl::Status Flush() {
    absl::Status s = WriteDirect(buffer_);
    buffer_.clear();
    return s;
  }

  absl::Status Entry(const std::string& path, char type, std::uint64_t size, std::int64_t mtime,
                     unsigned mode) {
    std::optional<std::pair<std::string, std::string>> split = SplitUstarName(path);
    std::string pax;
    if (!split) pax += PaxRecord("path", path);
    if (size > kMaxOctalSize) pax += PaxRecord("size", absl::StrCat(size));
    if (!pax.empty()) {
      std::string pax_name =
          absl::StrCat("PaxHeaders/", path.substr(path.rfind('/', path.size() - 2) + 1));
      if (pax_name.size() > 100) pax_name.resize(100);
      if (absl::Status s = Block(MakeHeader(pax_name, "", 'x', pax.size(), mtime, 0644)); !s.ok()) {
        return s;
      }
      if (absl::Status s = Append(pax); !s.ok()) return s;
      if (absl::Status s = Pad(pax.size()); !s.ok()) return s;
      if (!split) split = std::make_pair(std::string(), path.substr(0, 100));
    }
    return Block(MakeHeader(split->second, split->first, type, size, mtime, mode));
  }

  absl::Status CopyFile(const std::filesystem::path& source, std::uint64_t size) {
    Fd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) return ErrnoStatus("opening", source);
    std::uint64_t copied = 0;
    // Within one filesystem the kernel copies (or shares extents) without passing the bytes
    // through this process; anything it cannot do falls back to read/write below.
    if (absl::Status s = Flush(); !s.ok()) return s;
    while (copied < size) {
      const ssize_t n = ::copy_file_range(in.get(), nullptr, fd_, nullptr,
                                          static_cast<std::size_t>(size - copied), 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        break;
      }
      copied += static_cast<std::uint64_t>(n);
    }
    std::string chunk(kCopyBuffer, '\0');
    while (copied < size) {
      const ssize_t n = ::read(in.get(), chunk.data(), chunk.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("reading", source);
      }
      if (n == 0) break;
      const std::size_t take = static_cast<std::size_t>(
          std::min<std::uint64_t>(static_cast<std::uint64_t>(n), size - copied));
      if (absl::Status s = Append(absl::string_view(chunk.data(), take)); !s.ok()) return s;
      copied += take;
    }
    if (copied != size) {
      return absl::DataLossError(absl::StrCat(source.string(), " changed size while being packed: ",
                                              "expected ", size, " bytes, read ", copied));
    }
    return Pad(size);
  }

  absl::Status Pad(std::uint64_t size) {
    const std::size_t rest = static_cast<std::size_t>(size % kBlock);
    if (rest == 0) return absl::OkStatus();
    return Append(std::string(kBlock - rest, '\0'));
  }

  absl::Status Block(const Header& header) {
    return Append(absl::string_view(header.data(), header.size()));
  }

 private:
  absl::Status WriteDirect(absl::string_view bytes) {
    const char* data = bytes.data();
    std::size_t size = bytes.size();
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("writing", path_);
      }
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return absl::OkStatus();
  }

  std::filesystem::path path_;
  int fd_;
  std::string buffer_;
};

std::int64_t MtimeOf(const struct stat& st) { return static_cast<std::int64_t>(st.st_mtime); }

// --- reading -----------------------------------------------------------------------------------

std::string FieldString(const Header& header, std::size_t offset, std::size_t width) {
  const char* start = header.data() + offset;
  return std::string(start, strnlen(start, width));
}

std::optional<std::uint64_t> ParseNumber(const Header& header, std::size_t offset,
                                         std::size_t width) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(header.data() + offset);
  if (bytes[0] & 0x80) {  // GNU base-256
    std::uint64_t value = bytes[0] & 0x7F;
    for (std::size_t i = 1; i < width; ++i) value = (value << 8) | bytes[i];
    return value;
  }
  std::uint64_t value = 0;
  bool any = false;
  for (std::size_t i = 0; i < width; ++i) {
    const char c = static_cast<char>(bytes[i]);
    if (c == '\0' || c == ' ') {
      if (any) break;
      continue;
    }
    if (c < '0' || c > '7') return std::nullopt;
    value = value * 8 + static_cast<std::uint64_t>(c - '0');
    any = true;
  }
  return value;
}

bool ChecksumMatches(const Header& header) {
  std::optional<std::uint64_t> stored = ParseNumber(header, 148, 8);
  if (!stored) return false;
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(header[i]);
  }
  return sum == *stored;
}

class TarMemberSource final : public ByteSource {
 public:
  TarMemberSource(std::filesystem::path path, int fd, TarMember member)
      : path_(std::move(path)), fd_(fd), member_(std::move(member)) {}

  absl::StatusOr<std::size_t> Read(char* buffer, std::size_t capacity) override {
    const std::uint64_t left = member_.size - position_;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(capacity, left));
    if (want == 0) return 0;
    std::size_t got = 0;
    if (absl::Status s =
            PreadAll(fd_.get(), buffer, want, member_.data_offset + position_, path_, &got);
        !s.ok()) {
      return s;
    }
    if (got == 0) {
      return absl::DataLossError(absl::StrCat(path_.string(), " ends inside member ", member_.name,
                                              ": the TAR is truncated"));
    }
    position_ += got;
    return got;
  }

 private:
  std::filesystem::path path_;
  Fd fd_;
  TarMember member_;
  std::uint64_t position_ = 0;
};

}  // namespace

absl::Status WriteTar(const std::filesystem::path& package_dir,
                      const std::filesystem::path& tar_path, std::string_view package_id_view,
                      const ByteProgress& on_progress) {
  const absl::string_view package_id(package_id_view.data(), package_id_view.size());
  std::error_code error;
  if (!std::filesystem::is_directory(package_dir, error)) {
    return absl::NotFoundError(
        absl::StrCat("package directory ", package_dir.string(), " does not exist"));
  }
  if (package_id.empty() || package_id.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError("package_id: must be the package UUID (no '/')");
  }
  // Sorted, so the same package always packs to the same TAR.
  std::vector<std::filesystem::path> entries;
  for (auto it = std::filesystem::recursive_directory_iterator(package_dir, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_directory() || it->is_regular_file()) entries.push_back(it->path());
  }
  if (error)
    return absl::InternalError(
        absl::StrCat("listing ", package_dir.string(), ": ", error.message()));
  std::sort(entries.begin(), entries.end());
  std::uint64_t total_bytes = 0;
  for (const std::filesystem::path& entry : entries) {
    if (std::filesystem::is_regular_file(entry, error)) {
      total_bytes += std::filesystem::file_size(entry, error);
    }
  }
  std::uint64_t done_bytes = 0;

  const std::filesystem::path partial = tar_path.string() + ".partial";
  Fd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return ErrnoStatus("creating", partial);
  TarOutput out(partial, fd.get());
  const std::string top = absl::StrCat(package_id, "/");
  const std::string content = absl::StrCat(top, "content/");
  struct stat root_stat {};
  ::stat(package_dir.c_str(), &root_stat);
  for (const std::string& dir : {top, content}) {
    if (absl::Status s = out.Entry(dir, '5', 0, MtimeOf(root_stat), 0755); !s.ok()) return s;
  }
  for (const std::filesystem::path& entry : entries) {
    struct stat st {};
    if (::stat(entry.c_str(), &st) != 0) return ErrnoStatus("reading", entry);
    const std::string relative = entry.lexically_relative(package_dir).generic_string();
    if (S_ISDIR(st.st_mode)) {
      if (absl::Status s =
              out.Entry(absl::StrCat(content, relative, "/"), '5', 0, MtimeOf(st), 0755);
          !s.ok()) {
        return s;
      }
      continue;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (absl::Status s = out.Entry(absl::StrCat(content, relative), '0', size, MtimeOf(st), 0644);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = out.CopyFile(entry, size); !s.ok()) return s;
    done_bytes += size;
    if (on_progress) on_progress(done_bytes, std::max(done_bytes, total_bytes));
  }
  // The end of archive: two zero blocks.
  if (absl::Status s = out.Append(std::string(2 * kBlock, '\0')); !s.ok()) return s;
  if (absl::Status s = out.Flush(); !s.ok()) return s;
  if (::fsync(fd.get()) != 0) return ErrnoStatus("syncing", partial);
  if (::close(fd.release()) != 0) return ErrnoStatus("closing", partial);
  std::filesystem::rename(partial, tar_path, error);
  if (error) {
    return absl::InternalError(absl::StrCat("renaming ", partial.string(), " to ",
                                            tar_path.string(), ": ", error.message()));
  }
  return absl::OkStatus();
}

bool LooksLikeTar(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  Header header{};
  std::size_t got = 0;
  if (!PreadAll(fd.get(), header.data(), kBlock, 0, path, &got).ok() || got != kBlock) {
    return false;
  }
  return std::memcmp(header.data() + 257, "ustar", 5) == 0 && ChecksumMatches(header);
}

absl::StatusOr<std::vector<TarMember>> ReadTarIndex(const std::filesystem::path& tar_path) {
  Fd fd(::open(tar_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("opening", tar_path);
  std::vector<TarMember> members;
  std::uint64_t offset = 0;
  std::optional<std::string> next_path;
  // A size from a pax record for the next member; 0 when none (GCC 12 misreads an optional).
  std::uint64_t next_size = 0;
  bool has_next_size = false;
  while (true) {
    Header header{};
    std::size_t got = 0;
    if (absl::Status s = PreadAll(fd.get(), header.data(), kBlock, offset, tar_path, &got);
        !s.ok()) {
      return s;
    }
    if (got == 0) break;  // no end-of-archive blocks; accept, as GNU tar does
    if (got != kBlock) {
      return absl::DataLossError(absl::StrCat(tar_path.string(), " is truncated at byte ", offset));
    }
    if (std::all_of(header.begin(), header.end(), [](char c) { return c == '\0'; })) break;
    if (!ChecksumMatches(header)) {
      return absl::DataLossError(absl::StrCat(tar_path.string(), ": the TAR header at byte ",
                                              offset, " is damaged (wrong header checksum)"));
    }
    std::optional<std::uint64_t> size = ParseNumber(header, 124, 12);
    if (!size) {
      return absl::DataLossError(absl::StrCat(tar_path.string(), ": the TAR header at byte ",
                                              offset, " has an unreadable size"));
    }
    const char type = header[156];
    const std::uint64_t data_offset = offset + kBlock;
    if (type == 'x' || type == 'L') {
      // pax extended or GNU long name: the data describes the next member.
      if (*size > (1 << 20)) {
        return absl::DataLossError(absl::StrCat(tar_path.string(), ": extended header at byte ",
                                                offset, " is implausibly large"));
      }
      std::string data(static_cast<std::size_t>(*size), '\0');
      if (absl::Status s =
              PreadAll(fd.get(), data.data(), data.size(), data_offset, tar_path, &got);
          !s.ok()) {
        return s;
      }
      if (type == 'L') {
        next_path = std::string(data.c_str());
      } else {
        for (absl::string_view record : absl::StrSplit(data, '\n', absl::SkipEmpty())) {
          const std::size_t space = record.find(' ');
          const std::size_t equals = record.find('=');
          if (space == absl::string_view::npos || equals == absl::string_view::npos) continue;
          const absl::string_view key = record.substr(space + 1, equals - space - 1);
          const absl::string_view value = record.substr(equals + 1);
          std::uint64_t parsed = 0;
          if (key == "path") next_path = std::string(value);
          if (key == "size" && absl::SimpleAtoi(value, &parsed)) {
            next_size = parsed;
            has_next_size = true;
          }
        }
      }
    } else {
      std::string name = FieldString(header, 0, 100);
      const std::string prefix = FieldString(header, 345, 155);
      if (!prefix.empty() && std::memcmp(header.data() + 257, "ustar\0", 6) == 0) {
        name = absl::StrCat(prefix, "/", name);
      }
      if (next_path) name = *next_path;
      if (has_next_size) size = next_size;
      next_path.reset();
      has_next_size = false;
      if (type == '0' || type == '\0' || type == '7') {
        absl::string_view clean = name;
        absl::ConsumePrefix(&clean, "./");
        members.push_back(TarMember{std::string(clean), data_offset, *size});
      }
    }
    offset = data_offset + (*size + kBlock - 1) / kBlock * kBlock;
  }
  return members;
}

absl::StatusOr<std::unique_ptr<ByteSource>> OpenTarMember(const std::filesystem::path& tar_path,
                                                          const TarMember& member) {
  const int fd = ::open(tar_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("opening", tar_path);
  return std::make_unique<TarMemberSource>(tar_path, fd, member);
}

}  // namespace smartby::noark5
