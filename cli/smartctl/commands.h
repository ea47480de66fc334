// The shape of a smartctl command, and what a command gets to work with.
//
// Each noun's file (catalogue_commands.cc, status_command.cc, config_commands.cc) adds its
// commands to the registry; main.cc parses the line, finds the command, and runs it. A command
// returns an absl::Status whose payloads say the exit code (see errors.h).
#ifndef SMARTBY_CLI_SMARTCTL_COMMANDS_H_
#define SMARTBY_CLI_SMARTCTL_COMMANDS_H_

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/smartctl/args.h"
#include "cli/smartctl/client.h"
#include "cli/smartctl/config.h"
#include "cli/smartctl/session.h"

namespace smartby::smartctl {

class CommandContext;

struct Command {
  std::string noun;  // "dataset"
  std::string verb;  // "create"; empty for a noun that is itself the command
  std::string args;  // how the arguments read in usage: "NAME"
  int min_args = 0;
  int max_args = 0;             // -1: any number
  std::string summary;          // one line
  std::string description;      // paragraphs and examples for --help
  std::vector<FlagSpec> flags;  // the command's own flags (global ones are added for all)
  std::function<absl::Status(CommandContext&)> run;
};

struct Noun {
  std::string name;
  std::string summary;
};

struct Registry {
  std::vector<Noun> nouns;
  std::vector<Command> commands;
};

void AddCatalogueCommands(Registry& registry);
void AddStatusCommand(Registry& registry);
void AddConfigCommands(Registry& registry);
void AddAuthCommands(Registry& registry);
// Every noun smartctl has, in the order `smartctl --help` lists them.
void AddAllCommands(Registry& registry);

// Runs one command line (argv without the program name): finds the command, parses its flags
// and arguments, runs it. Help goes to `out`. What main() does, minus printing the error.
absl::Status RunCommandLine(const Registry& registry, const std::vector<std::string>& tokens,
                            std::ostream& out, std::ostream& err);

// "dataset create"
std::string CommandPath(const Command& command);
// "usage: smartctl dataset create NAME [flags]\nRun 'smartctl dataset create --help' ..."
std::string UsageText(const Command& command);
std::string NounUsageText(const Registry& registry, const std::string& noun);
std::string TopUsageText();

void PrintTopHelp(const Registry& registry, std::ostream& out);
void PrintNounHelp(const Registry& registry, const std::string& noun, std::ostream& out);
void PrintCommandHelp(const Command& command, std::ostream& out);

class CommandContext {
 public:
  CommandContext(const Command& command, ParsedFlags flags, std::vector<std::string> args,
                 GlobalOptions global, std::ostream& out, std::ostream& err)
      : command_(command),
        flags_(std::move(flags)),
        args_(std::move(args)),
        global_(std::move(global)),
        out_(out),
        err_(err) {}

  const Command& command() const { return command_; }
  const ParsedFlags& flags() const { return flags_; }
  const std::vector<std::string>& args() const { return args_; }
  const GlobalOptions& global() const { return global_; }
  OutputFormat output() const { return global_.output; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }

  // The config file, read once.
  absl::StatusOr<Config*> config();

  // The context the command works in (--context, else the current one); null when none.
  absl::StatusOr<const Context*> CurrentContext();

  // A client for the named service (see services.h), reached as the config and flags say. Its
  // calls carry the access token AccessToken() gives (unless made with CallOptions::anonymous).
  absl::StatusOr<std::unique_ptr<ServiceClient>> Connect(const std::string& service);

  // The access token to send (session.h): --token, SMARTCTL_TOKEN, or the context's cached
  // session, refreshed through the auth service when it is about to expire. "" for none.
  absl::StatusOr<std::string> AccessToken();

  // Where AccessToken() takes the token from (without refreshing anything).
  absl::StatusOr<TokenSource> CurrentTokenSource();

  // Replaces the config read earlier by `config` (after a session was stored by another path).
  void SetConfig(Config config);

  // A usage error for this command, with its usage text.
  absl::Status Usage(const std::string& message) const;

 private:
  const Command& command_;
  ParsedFlags flags_;
  std::vector<std::string> args_;
  GlobalOptions global_;
  std::ostream& out_;
  std::ostream& err_;
  std::optional<Config> config_;
};

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_COMMANDS_H_
