#include "services/runtime/background.h"

#include <fstream>

#include "absl/strings/str_cat.h"

namespace smartby {

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  std::string text(4096, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  // Secrets written by `echo` or kubectl end in a newline that is not part of the secret.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is empty"));
  return text;
}

Periodic::Periodic(absl::Duration interval, std::function<void()> work)
    : thread_([this, interval, work = std::move(work)] {
        std::unique_lock<std::mutex> lock(mu_);
        while (!cv_.wait_for(lock, absl::ToChronoMilliseconds(interval),
                             [this] { return stop_; })) {
          lock.unlock();
          work();
          lock.lock();
        }
      }) {}

Periodic::~Periodic() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace smartby
