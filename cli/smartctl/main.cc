// smartctl: the Smartby administrators' command line. Dispatch only: find the command the line
// names, parse its flags, run it, and turn its status into an exit code (see errors.h).
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/smartctl/args.h"
#include "cli/smartctl/client.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/errors.h"

namespace smartby::smartctl {
namespace {

bool WantsHelp(const std::vector<std::string>& tokens) {
  for (const auto& token : tokens) {
    if (token == "--") return false;
    if (token == "-h" || token == "--help") return true;
  }
  return false;
}

bool IsNoun(const Registry& registry, const std::string& word) {
  for (const auto& noun : registry.nouns) {
    if (noun.name == word) return true;
  }
  return false;
}

// Finds the command `words` name. Usage error (with the right usage text) when they do not.
absl::StatusOr<const Command*> FindCommand(const Registry& registry,
                                           const std::vector<std::string>& words) {
  if (words.empty()) return UsageError("missing a noun (what to work on)", TopUsageText());
  const std::string& noun = words[0];
  if (!IsNoun(registry, noun)) {
    return UsageError(absl::StrCat("unknown noun \"", noun, "\""), TopUsageText());
  }
  for (const auto& command : registry.commands) {
    if (command.noun == noun && command.verb.empty()) return &command;
  }
  if (words.size() < 2) {
    return UsageError(absl::StrCat("missing a verb after \"", noun, "\""),
                      NounUsageText(registry, noun));
  }
  for (const auto& command : registry.commands) {
    if (command.noun == noun && command.verb == words[1]) return &command;
  }
  return UsageError(absl::StrCat("unknown verb \"", words[1], "\" for ", noun),
                    NounUsageText(registry, noun));
}

absl::Status Run(const Registry& registry, const std::vector<std::string>& tokens) {
  const bool help = WantsHelp(tokens);
  const std::vector<std::string> words = FindCommandWords(tokens, 2);
  if (words.empty() && (help || tokens.empty())) {
    PrintTopHelp(registry, std::cout);
    return absl::OkStatus();
  }
  if (help && words.size() == 1 && IsNoun(registry, words[0])) {
    bool noun_is_command = false;
    for (const auto& command : registry.commands) {
      noun_is_command |= command.noun == words[0] && command.verb.empty();
    }
    if (!noun_is_command) {
      PrintNounHelp(registry, words[0], std::cout);
      return absl::OkStatus();
    }
  }
  absl::StatusOr<const Command*> found = FindCommand(registry, words);
  if (!found.ok()) return found.status();
  const Command& command = **found;
  if (help) {
    PrintCommandHelp(command, std::cout);
    return absl::OkStatus();
  }

  std::vector<FlagSpec> specs = GlobalFlagSpecs();
  specs.insert(specs.end(), command.flags.begin(), command.flags.end());
  ParsedFlags flags;
  std::vector<std::string> positionals;
  if (absl::Status parsed = ParseTokens(tokens, specs, &flags, &positionals); !parsed.ok()) {
    return WithUsage(parsed, UsageText(command));
  }
  absl::StatusOr<GlobalOptions> global = GlobalOptionsFrom(flags);
  if (!global.ok()) return global.status();

  const size_t word_count = command.verb.empty() ? 1 : 2;
  std::vector<std::string> args(positionals.begin() + word_count, positionals.end());
  const int count = static_cast<int>(args.size());
  if (count < command.min_args) {
    return UsageError(absl::StrCat("missing ", command.args.empty() ? "an argument" : command.args),
                      UsageText(command));
  }
  if (command.max_args >= 0 && count > command.max_args) {
    return UsageError(absl::StrCat("unexpected argument \"", args[command.max_args], "\""),
                      UsageText(command));
  }
  CommandContext context(command, std::move(flags), std::move(args), *std::move(global), std::cout,
                         std::cerr);
  return command.run(context);
}

}  // namespace
}  // namespace smartby::smartctl

int main(int argc, char** argv) {
  using namespace smartby::smartctl;
  QuietGrpcLogging();
  Registry registry;
  AddStatusCommand(registry);
  AddCatalogueCommands(registry);
  AddConfigCommands(registry);
  const absl::Status status = Run(registry, std::vector<std::string>(argv + 1, argv + argc));
  std::cout.flush();
  PrintError(status, std::cerr);
  return ExitCodeOf(status);
}
