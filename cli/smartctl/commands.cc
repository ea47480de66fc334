#include "cli/smartctl/commands.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/smartctl/audit_commands.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/archive_commands.h"
#include "cli/smartctl/feed_commands.h"
#include "cli/smartctl/ingestion_commands.h"
#include "cli/smartctl/services.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"

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

}  // namespace

void AddAllCommands(Registry& registry) {
  AddStatusCommand(registry);
  AddAuthCommands(registry);
  AddCatalogueCommands(registry);
  AddIngestionCommands(registry);
  AddFeedCommands(registry);
  AddAuditCommands(registry);
  AddArchiveCommands(registry);
  AddConfigCommands(registry);
}

absl::Status RunCommandLine(const Registry& registry, const std::vector<std::string>& tokens,
                            std::ostream& out, std::ostream& err) {
  const bool help = WantsHelp(tokens);
  const std::vector<std::string> words = FindCommandWords(tokens, 2);
  if (words.empty() && (help || tokens.empty())) {
    PrintTopHelp(registry, out);
    return absl::OkStatus();
  }
  if (help && words.size() == 1 && IsNoun(registry, words[0])) {
    bool noun_is_command = false;
    for (const auto& command : registry.commands) {
      noun_is_command |= command.noun == words[0] && command.verb.empty();
    }
    if (!noun_is_command) {
      PrintNounHelp(registry, words[0], out);
      return absl::OkStatus();
    }
  }
  absl::StatusOr<const Command*> found = FindCommand(registry, words);
  if (!found.ok()) return found.status();
  const Command& command = **found;
  if (help) {
    PrintCommandHelp(command, out);
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
  CommandContext context(command, std::move(flags), std::move(args), *std::move(global), out,
                         err);
  return command.run(context);
}

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
  out << ").\nTLS is used unless --insecure is given, which is only allowed towards this\n"
         "machine.\n\n"
         "Calls carry the access token of --token, else $SMARTCTL_TOKEN, else the session\n"
         "smartctl login cached for the context (renewed automatically); none: anonymous.\n\n"
         "Exit codes: 0 success, 1 the operation failed (the service said no, or a file could\n"
         "not be used), 2 usage error, 3 cannot reach a service.\n\n"
         "Examples:\n"
         "  smartctl --insecure status\n"
         "  smartctl login kari                   # then every command runs as kari\n"
         "  smartctl dataset list --classification open\n"
         "  smartctl dataset get bathing-temperature -o yaml\n"
         "  smartctl dataset apply -f demo/datasets.yaml\n"
         "  smartctl ingest file bathing-temperature readings.csv --delimiter ';'\n"
         "  smartctl readings query buoy-3 --from -24h --every 1h --field temperature\n\n"
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
  out << "\nGlobal flags: --context, --server, -o/--output, --insecure, --ca-file, --timeout,\n"
         "--token "
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

void CommandContext::SetConfig(Config config) {
  if (config_) {
    *config_ = std::move(config);  // in place: pointers handed out by config() stay valid
  } else {
    config_ = std::move(config);
  }
}

absl::StatusOr<const Context*> CommandContext::CurrentContext() {
  absl::StatusOr<Config*> cfg = config();
  if (!cfg.ok()) return cfg.status();
  return SelectContext(global_, **cfg);
}

namespace {

std::string TokenFromEnv() {
  const char* value = std::getenv("SMARTCTL_TOKEN");
  return value == nullptr ? "" : value;
}

}  // namespace

absl::StatusOr<TokenSource> CommandContext::CurrentTokenSource() {
  absl::StatusOr<const Context*> ctx = CurrentContext();
  if (!ctx.ok()) return ctx.status();
  return ChooseToken(global_.token, TokenFromEnv(), *ctx ? &(*ctx)->session : nullptr).source;
}

absl::StatusOr<std::string> CommandContext::AccessToken() {
  absl::StatusOr<const Context*> ctx = CurrentContext();
  if (!ctx.ok()) return ctx.status();
  const Context* current = *ctx;
  const TokenChoice choice =
      ChooseToken(global_.token, TokenFromEnv(), current ? &current->session : nullptr);
  if (choice.source != TokenSource::kSession) return choice.token;
  const absl::Time now = absl::Now();
  if (!NeedsRefresh(current->session, now)) return choice.token;

  // Refresh is a call without an access token (the refresh token is the credential), so the
  // client made for it has no token provider: no recursion.
  RefreshFunction refresh = [this](const std::string& refresh_token)
      -> absl::StatusOr<smartcity::auth::v1::TokenResponse> {
    const ServiceInfo* info = FindService("auth");
    if (info == nullptr) return absl::InternalError("unknown service auth");
    absl::StatusOr<Endpoint> endpoint = ResolveEndpoint(*info, global_, *config_);
    if (!endpoint.ok()) return endpoint.status();
    absl::StatusOr<std::unique_ptr<ServiceClient>> client =
        ServiceClient::Create(*info, *endpoint, global_.timeout);
    if (!client.ok()) return client.status();
    auto stub = smartcity::auth::v1::AuthService::NewStub((*client)->channel());
    smartcity::auth::v1::RefreshRequest request;
    request.set_refresh_token(refresh_token);
    return (*client)->Call(*stub, &smartcity::auth::v1::AuthService::Stub::Refresh, request,
                           CallOptions{.anonymous = true});
  };
  Config updated = *config_;
  const std::string context_name = current->name;
  absl::StatusOr<std::string> token =
      FreshAccessToken(ConfigPath(), context_name, refresh, now, &updated);
  SetConfig(std::move(updated));
  return token;
}

absl::StatusOr<std::unique_ptr<ServiceClient>> CommandContext::Connect(const std::string& service) {
  const ServiceInfo* info = FindService(service);
  if (info == nullptr) return absl::InternalError(absl::StrCat("unknown service ", service));
  absl::StatusOr<Config*> cfg = config();
  if (!cfg.ok()) return cfg.status();
  absl::StatusOr<Endpoint> endpoint = ResolveEndpoint(*info, global_, **cfg);
  if (!endpoint.ok()) return endpoint.status();
  absl::StatusOr<std::unique_ptr<ServiceClient>> client =
      ServiceClient::Create(*info, *endpoint, global_.timeout);
  if (!client.ok()) return client.status();
  (*client)->set_token_provider([this] { return AccessToken(); });
  return client;
}

absl::Status CommandContext::Usage(const std::string& message) const {
  return UsageError(message, UsageText(command_));
}

}  // namespace smartby::smartctl
