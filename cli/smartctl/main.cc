// smartctl: the Smartby administrators' command line. Dispatch only: find the command the line
// names, parse its flags, run it, and turn its status into an exit code (see errors.h).
#include <iostream>
#include <string>
#include <vector>

#include "cli/smartctl/client.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/errors.h"

int main(int argc, char** argv) {
  using namespace smartby::smartctl;
  QuietGrpcLogging();
  Registry registry;
  AddAllCommands(registry);
  const absl::Status status =
      RunCommandLine(registry, std::vector<std::string>(argv + 1, argv + argc), std::cout,
                     std::cerr);
  std::cout.flush();
  PrintError(status, std::cerr);
  return ExitCodeOf(status);
}
