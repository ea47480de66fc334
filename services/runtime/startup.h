// For main(): how a service reports that it cannot start.
#ifndef SMARTBY_RUNTIME_STARTUP_H_
#define SMARTBY_RUNTIME_STARTUP_H_

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/runtime/log.h"

namespace smartby {

// Logs `what` with the reason as one JSON error line, repeats it on stderr for whoever started
// the process by hand (the log may go to a collector they cannot see), and returns the exit code:
// `return FailStartup("cannot open the database", status);`
inline int FailStartup(absl::string_view what, const absl::Status& status) {
  log::Error(what, {{"error", std::string(status.message())}});
  std::fprintf(stderr, "error: %s: %s\n", std::string(what).c_str(),
               std::string(status.message()).c_str());
  return 1;
}

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_STARTUP_H_
