// How smartctl reports failure: every command returns an absl::Status, and the status carries
// (as payloads) the exit code it stands for, an optional hint for the user, the usage text to
// repeat after a usage error, and the request id of the call that failed.
//
// Exit codes (the contract scripts rely on, documented in cli/README.md):
//   0 success
//   1 the operation failed: a service refused it, or a local file could not be used
//   2 usage error: unknown noun, verb or flag, a missing or malformed argument
//   3 cannot connect: the service could not be reached (or did not answer the connection)
#ifndef SMARTBY_CLI_SMARTCTL_ERRORS_H_
#define SMARTBY_CLI_SMARTCTL_ERRORS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define SMARTCTL_RETURN_IF_ERROR(expr)                  \
  do {                                                  \
    if (absl::Status status_ = (expr); !status_.ok()) { \
      return status_;                                   \
    }                                                   \
  } while (0)

namespace smartby::smartctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

// A usage error. `usage` is the usage text of the command concerned (printed after the message);
// it may be empty.
absl::Status UsageError(absl::string_view message, absl::string_view usage = "");

// The service at the other end could not be reached. `message` is complete
// ("cannot reach catalogue at 127.0.0.1:7001: connection refused").
absl::Status UnreachableError(absl::string_view message, absl::string_view request_id = "");

// A failure the service reported: keeps the service's code and message, adds the request id.
absl::Status ServiceError(absl::StatusCode code, absl::string_view message,
                          absl::string_view request_id);

// A local failure (a file that cannot be read, a config that does not parse): exit code 1.
absl::Status LocalError(absl::string_view message);

// Returns `status` with a hint line for the user attached (replacing any earlier hint).
absl::Status WithHint(absl::Status status, absl::string_view hint);

// Returns `status` with the usage text to repeat after the message.
absl::Status WithUsage(absl::Status status, absl::string_view usage);

// The exit code `status` stands for (0 for OK; 1 when the status carries none).
int ExitCodeOf(const absl::Status& status);

std::string HintOf(const absl::Status& status);
std::string RequestIdOf(const absl::Status& status);

// Prints the error as a person should read it, to `err`:
//   error: <message>
//   hint: <hint>                     (when there is one)
//   <usage>                          (usage errors)
//   (request id: <id>)               (when a call was made)
void PrintError(const absl::Status& status, std::ostream& err);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_ERRORS_H_
