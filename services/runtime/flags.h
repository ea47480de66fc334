// Command-line flags shared by every service, each with an environment twin: the flag
// `--metrics_listen` is also read from `SMARTBY_METRICS_LISTEN`. A flag on the command line wins
// over its environment twin, which wins over the default.
#ifndef SMARTBY_RUNTIME_FLAGS_H_
#define SMARTBY_RUNTIME_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace smartby {

// "metrics_listen" -> "SMARTBY_METRICS_LISTEN".
std::string EnvTwinName(absl::string_view flag_name);

// Sets every registered flag whose environment twin is present. INVALID_ARGUMENT naming the
// variable when a value does not parse.
absl::Status ApplyEnvironmentTwins();

// Applies environment twins, then parses the command line (which overrides them). Prints a
// plain message and exits with status 2 on a bad flag or value. Returns positional arguments.
std::vector<std::string> ParseFlags(int argc, char** argv, absl::string_view usage);

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_FLAGS_H_
