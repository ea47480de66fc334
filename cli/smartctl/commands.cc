#include "cli/smartctl/commands.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/services.h"

namespace smartby::smartctl {
namespace {

std::string FlagUsage(const FlagSpec& flag) {
  std::string text = flag.short_name
                         ? absl::StrCat("-", std::string(1, flag.short_name), ", --", flag.name)
                         : absl::StrCat("    --", flag.name);
  if (flag.takes_value) absl::StrAppend(&text, " ", flag.value_name);
  return text;
}

void PrintFlags(const std::vector<FlagSpec>& flags, std::ostream& out) {
  size_t width = 0;
  for (const auto& flag : flags) width = std::max(width, FlagUsage(flag).size());
  for (const auto& flag : flags) {
    const std::string usage = FlagUsage(flag);
    out << "  " << usage << std::string(width - usage.size() + 3, ' ') << flag.help
        << (flag.repeated ? " (repeatable)" : "") << "\n";
  }
}

}  // namespace

std::string CommandPath(const Command& command) {
  return command.verb.empty() ? command.noun : absl::StrCat(command.noun, " ", command.verb);
}

std::string UsageText(const Command& command) {
  return absl::StrCat("usage: smartctl ", CommandPath(command), command.args.empty() ? "" : " ",
                      command.args, command.flags.empty() ? "" : " [flags]", "\nRun 'smartctl ",
                      CommandPath(command), " --help' for details and examples.");
}

std::string NounUsageText(const Registry& registry, const std::string& noun) {
  std::string verbs;
  for (const auto& command : registry.commands) {
    if (command.noun == noun) absl::StrAppend(&verbs, verbs.empty() ? "" : "|", command.verb);
  }
  return absl::StrCat("usage: smartctl ", noun, " ", verbs, " ...\nRun 'smartctl ", noun,
                      " --help' for details.");
}

std::string TopUsageText() {
  return "usage: smartctl [global flags] <noun> <verb> [args] [flags]\n"
         "Run 'smartctl --help' for the nouns and verbs.";
}

void PrintTopHelp(const Registry& registry, std::ostream& out) {
  out << "smartctl — the Smartby administrators' command line.\n\n"
         "Usage:\n  smartctl [global flags] <noun> <verb> [args] [flags]\n\n"
         "Nouns:\n";
  size_t width = 0;
  for (const auto& noun : registry.nouns) width = std::max(width, noun.name.size());
  for (const auto& noun : registry.nouns) {
    out << "  " << noun.name << std::string(width - noun.name.size() + 3, ' ') << noun.summary
        << "\n";
  }
  out << "\nGlobal flags (anywhere on the line):\n";
  PrintFlags(GlobalFlagSpecs(), out);
  out << "\nWhere services are reached: --server, else $SMARTCTL_SERVER, else the current\n"
         "context in the config file (smartctl config --help), else 127.0.0.1 and each\n"
         "service's default port (";
  bool first = true;
  for (const auto& service : KnownServices()) {
    out << (first ? "" : ", ") << service.name << " " << service.default_port;
    first = false;
  }
  out << "). TLS is used unless --insecure is given,\n"
         "which is only allowed towards this machine.\n\n"
         "Exit codes: 0 success, 1 the operation failed (the service said no, or a file could\n"
         "not be used), 2 usage error, 3 cannot reach a service.\n\n"
         "Examples:\n"
         "  smartctl --insecure status\n"
         "  smartctl dataset list --classification open\n"
         "  smartctl dataset get bathing-temperature -o yaml\n"
         "  smartctl dataset apply -f demo/datasets.yaml\n\n"
         "Run 'smartctl <noun> --help' or 'smartctl <noun> <verb> --help' for more.\n";
}

void PrintNounHelp(const Registry& registry, const std::string& noun, std::ostream& out) {
  for (const auto& n : registry.nouns) {
    if (n.name == noun) out << "smartctl " << noun << " — " << n.summary << "\n\n";
  }
  out << "Verbs:\n";
  size_t width = 0;
  for (const auto& command : registry.commands) {
    if (command.noun == noun) width = std::max(width, command.verb.size());
  }
  for (const auto& command : registry.commands) {
    if (command.noun != noun) continue;
    out << "  " << command.verb << std::string(width - command.verb.size() + 3, ' ')
        << command.summary << "\n";
  }
  out << "\nRun 'smartctl " << noun << " <verb> --help' for a verb's flags and examples;\n"
      << "'smartctl --help' for the global flags.\n";
}

void PrintCommandHelp(const Command& command, std::ostream& out) {
  out << "smartctl " << CommandPath(command) << " — " << command.summary << "\n\n"
      << "Usage:\n  smartctl " << CommandPath(command) << (command.args.empty() ? "" : " ")
      << command.args << (command.flags.empty() ? "" : " [flags]") << "\n";
  if (!command.description.empty()) out << "\n" << command.description << "\n";
  if (!command.flags.empty()) {
    out << "\nFlags:\n";
    PrintFlags(command.flags, out);
  }
  out << "\nGlobal flags: --context, --server, -o/--output, --insecure, --ca-file, --timeout\n"
         "(see 'smartctl --help').\n";
}

absl::StatusOr<Config*> CommandContext::config() {
  if (!config_) {
    absl::StatusOr<Config> loaded = LoadConfig(ConfigPath());
    if (!loaded.ok()) return loaded.status();
    config_ = std::move(*loaded);
  }
  return &*config_;
}

absl::StatusOr<std::unique_ptr<ServiceClient>> CommandContext::Connect(const std::string& service) {
  const ServiceInfo* info = FindService(service);
  if (info == nullptr) return absl::InternalError(absl::StrCat("unknown service ", service));
  absl::StatusOr<Config*> cfg = config();
  if (!cfg.ok()) return cfg.status();
  absl::StatusOr<Endpoint> endpoint = ResolveEndpoint(*info, global_, **cfg);
  if (!endpoint.ok()) return endpoint.status();
  return ServiceClient::Create(*info, *endpoint, global_.timeout);
}

absl::Status CommandContext::Usage(const std::string& message) const {
  return UsageError(message, UsageText(command_));
}

}  // namespace smartby::smartctl
