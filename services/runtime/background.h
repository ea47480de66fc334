// Small pieces every service main needs: reading a secret from a file (a mounted Kubernetes
// Secret) and running a job periodically on its own thread.
#ifndef SMARTBY_RUNTIME_BACKGROUND_H_
#define SMARTBY_RUNTIME_BACKGROUND_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace smartby {

// The secret in `path` (at most 4 KiB), without the trailing newline `echo` or kubectl adds.
// INVALID_ARGUMENT naming `flag` (never the secret) when it cannot be read or is empty.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view flag);

// Runs `work` every `interval` on its own thread until destroyed (the destructor waits for a
// run in progress).
class Periodic {
 public:
  Periodic(absl::Duration interval, std::function<void()> work);
  ~Periodic();
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_BACKGROUND_H_
