#include "services/runtime/flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace smartby {

std::string EnvTwinName(absl::string_view flag_name) {
  return absl::StrCat("SMARTBY_", absl::AsciiStrToUpper(flag_name));
}

absl::Status ApplyEnvironmentTwins() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    const std::string env_name = EnvTwinName(name);
    const char* value = std::getenv(env_name.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat(env_name, ": ", error, " (the environment twin of --", name, ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> ParseFlags(int argc, char** argv, absl::string_view usage) {
  absl::SetProgramUsageMessage(usage);
  if (absl::Status status = ApplyEnvironmentTwins(); !status.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
    std::exit(2);
  }
  // absl exits with a plain message on unknown flags and bad values.
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  return std::vector<std::string>(rest.begin() + 1, rest.end());
}

}  // namespace smartby
