// `smartctl config ...`: the contexts in smartctl's config file (see config.h).
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/output.h"
#include "cli/smartctl/services.h"

namespace smartby::smartctl {
namespace {

void PrintYamlOrJson(CommandContext& context, const std::string& yaml_text) {
  if (context.output() == OutputFormat::kJson) {
    context.out() << YamlNodeToJson(YAML::Load(yaml_text));
  } else {
    context.out() << yaml_text;
  }
}

absl::Status SetContext(CommandContext& context) {
  const std::string& name = context.args()[0];
  if (name.empty()) return context.Usage("a context needs a name");
  absl::StatusOr<Config*> loaded = context.config();
  if (!loaded.ok()) return loaded.status();
  Config& config = **loaded;

  // Work on a copy so that a usage error leaves the file as it was.
  Context updated;
  updated.name = name;
  const bool existed = config.Find(name) != nullptr;
  if (existed) updated = *config.Find(name);
  const GlobalOptions& global = context.global();
  if (global.server) {
    if (!global.server->empty()) {
      SMARTCTL_RETURN_IF_ERROR(
          WithUsage(CheckAddress("--server", *global.server), UsageText(context.command())));
    }
    updated.server = *global.server;
  }
  if (global.insecure) updated.insecure = *global.insecure;
  if (global.ca_file) updated.ca_file = *global.ca_file;
  for (const std::string& entry : context.flags().GetAll("service-endpoint")) {
    std::pair<std::string, std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    if (FindService(kv.first) == nullptr) {
      std::vector<std::string> names;
      for (const auto& s : KnownServices()) names.push_back(s.name);
      return context.Usage(
          absl::StrCat("--service-endpoint: \"", kv.first,
                       "\" is not a service; known: ", absl::StrJoin(names, ", ")));
    }
    if (kv.second.empty()) {
      updated.services.erase(kv.first);
    } else {
      SMARTCTL_RETURN_IF_ERROR(
          WithUsage(CheckAddress(absl::StrCat("--service-endpoint ", kv.first), kv.second),
                    UsageText(context.command())));
      updated.services[kv.first] = kv.second;
    }
  }
  if (updated.insecure) {
    std::vector<std::string> addresses;
    if (!updated.server.empty()) addresses.push_back(updated.server);
    for (const auto& [service, address] : updated.services) addresses.push_back(address);
    for (const auto& address : addresses) {
      if (!IsLoopbackAddress(address)) {
        return context.Usage(
            absl::StrCat("--insecure: plaintext is only allowed to this machine, not to ", address,
                         "; drop --insecure (or use --insecure=false) and use TLS"));
      }
    }
  }
  if (existed) {
    *config.Find(name) = updated;
  } else {
    config.contexts.push_back(updated);
  }
  const bool made_current = config.current_context.empty();
  if (made_current) config.current_context = name;
  SMARTCTL_RETURN_IF_ERROR(SaveConfig(config, ConfigPath()));
  context.out() << "context " << name << (existed ? " updated" : " created")
                << (made_current ? " and made current" : "") << " in " << ConfigPath() << "\n";
  return absl::OkStatus();
}

absl::Status UseContext(CommandContext& context) {
  const std::string& name = context.args()[0];
  absl::StatusOr<Config*> loaded = context.config();
  if (!loaded.ok()) return loaded.status();
  Config& config = **loaded;
  if (config.Find(name) == nullptr) {
    return WithHint(
        LocalError(absl::StrCat("there is no context named \"", name, "\" in ", ConfigPath())),
        "see smartctl config get-contexts, or create it with smartctl config "
        "set-context");
  }
  config.current_context = name;
  SMARTCTL_RETURN_IF_ERROR(SaveConfig(config, ConfigPath()));
  context.out() << "now using context " << name << "\n";
  return absl::OkStatus();
}

absl::Status GetContexts(CommandContext& context) {
  absl::StatusOr<Config*> loaded = context.config();
  if (!loaded.ok()) return loaded.status();
  const Config& config = **loaded;
  if (context.output() != OutputFormat::kTable) {
    PrintYamlOrJson(context, ConfigToYaml(config, /*redact_secrets=*/true));
    return absl::OkStatus();
  }
  if (config.contexts.empty()) {
    context.out() << "no contexts in " << ConfigPath()
                  << "; create one with smartctl config set-context NAME --server HOST:PORT\n";
    return absl::OkStatus();
  }
  Table table({"CURRENT", "NAME", "SERVER", "TLS", "SERVICES", "SIGNED IN AS"});
  for (const auto& c : config.contexts) {
    std::vector<std::string> services;
    for (const auto& [service, address] : c.services) {
      services.push_back(absl::StrCat(service, "=", address));
    }
    table.AddRow({c.name == config.current_context ? "*" : "", c.name,
                  c.server.empty() ? "(default)" : c.server,
                  c.insecure ? "no (insecure)" : (c.ca_file.empty() ? "yes" : "yes, " + c.ca_file),
                  absl::StrJoin(services, ","),
                  c.session.empty() ? "" : c.session.username});
  }
  table.Print(context.out());
  return absl::OkStatus();
}

absl::Status View(CommandContext& context) {
  absl::StatusOr<Config*> loaded = context.config();
  if (!loaded.ok()) return loaded.status();
  if (context.output() == OutputFormat::kTable) {
    context.out() << "# " << ConfigPath() << "\n";
  }
  PrintYamlOrJson(context, ConfigToYaml(**loaded, /*redact_secrets=*/true));
  return absl::OkStatus();
}

}  // namespace

void AddConfigCommands(Registry& registry) {
  registry.nouns.push_back({"config", "contexts: which servers smartctl talks to, and how"});
  registry.commands.push_back(Command{
      "config",
      "set-context",
      "NAME",
      1,
      1,
      "create or change a context",
      "Creates the context NAME, or changes the settings given on the line (the others stay as\n"
      "they were). The first context made becomes the current one. Here --server, --insecure\n"
      "and --ca-file are stored in the context rather than used for a call. The file is\n"
      "written with mode 0600.\n\n"
      "Per-service endpoints override the context's server for one service;\n"
      "--service-endpoint catalogue= (empty) removes one.\n\n"
      "Examples:\n"
      "  smartctl config set-context local --server 127.0.0.1:7001 --insecure\n"
      "  smartctl config set-context prod --server api.smartby.example:443 \\\n"
      "      --ca-file /etc/smartby/ca.pem --service-endpoint "
      "catalogue=catalogue.smartby.example:443",
      {{"service-endpoint", 0, true, true, "SERVICE=HOST:PORT",
        "where one service is reached in this context"}},
      SetContext});
  registry.commands.push_back(Command{"config",
                                      "use-context",
                                      "NAME",
                                      1,
                                      1,
                                      "make NAME the current context",
                                      "Examples:\n  smartctl config use-context prod",
                                      {},
                                      UseContext});
  registry.commands.push_back(Command{"config",
                                      "get-contexts",
                                      "",
                                      0,
                                      0,
                                      "list the contexts (* marks the current one)",
                                      "Examples:\n  smartctl config get-contexts",
                                      {},
                                      GetContexts});
  registry.commands.push_back(Command{"config",
                                      "view",
                                      "",
                                      0,
                                      0,
                                      "show the config file",
                                      "Shows the whole config as YAML (or JSON with -o json). Cached tokens are shown\n"
                                      "as (redacted).\n\n"
                                      "Examples:\n  smartctl config view",
                                      {},
                                      View});
}

}  // namespace smartby::smartctl
