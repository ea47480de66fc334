#include "cli/smartctl/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/smartctl/errors.h"

namespace smartby::smartctl {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

absl::Status ConfigError(const std::string& path, absl::string_view what) {
  return LocalError(absl::StrCat(path, ": ", what));
}

std::string ScalarOf(const YAML::Node& node) {
  return node && node.IsScalar() ? node.as<std::string>() : std::string();
}

// RFC 3339; InfinitePast when absent or malformed (an expiry that has passed: refresh or log in).
absl::Time TimeOf(const YAML::Node& node) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, ScalarOf(node), &time, &error)) {
    return absl::InfinitePast();
  }
  return time;
}

std::string TimeText(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_sec, time, absl::UTCTimeZone());
}

bool BoolOf(const YAML::Node& node) {
  if (!node || !node.IsScalar()) return false;
  bool value = false;
  return YAML::convert<bool>::decode(node, value) && value;
}

}  // namespace

const Context* Config::Find(absl::string_view name) const {
  for (const auto& context : contexts) {
    if (context.name == name) return &context;
  }
  return nullptr;
}

Context* Config::Find(absl::string_view name) {
  for (auto& context : contexts) {
    if (context.name == name) return &context;
  }
  return nullptr;
}

std::string ConfigPath() {
  std::string base = Env("XDG_CONFIG_HOME");
  if (base.empty() || base[0] != '/') {  // the XDG spec says relative values are ignored
    base = absl::StrCat(Env("HOME"), "/.config");
  }
  return absl::StrCat(base, "/smartctl/config.yaml");
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  Config config;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return config;
    return ConfigError(path, absl::StrCat("cannot read: ", std::strerror(errno)));
  }
  YAML::Node root;
  try {
    root = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    return ConfigError(path, absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  }
  if (!root || root.IsNull()) return config;
  if (!root.IsMap())
    return ConfigError(path, "expected a mapping with current-context and contexts");
  try {
    config.current_context = ScalarOf(root["current-context"]);
    const YAML::Node contexts = root["contexts"];
    if (contexts && !contexts.IsNull()) {
      if (!contexts.IsSequence()) return ConfigError(path, "contexts: expected a list");
      for (const auto& node : contexts) {
        Context context;
        context.name = ScalarOf(node["name"]);
        if (context.name.empty()) return ConfigError(path, "contexts: every context needs a name");
        context.server = ScalarOf(node["server"]);
        context.insecure = BoolOf(node["insecure"]);
        context.ca_file = ScalarOf(node["ca-file"]);
        if (const YAML::Node services = node["services"]; services && services.IsMap()) {
          for (const auto& entry : services) {
            context.services[entry.first.as<std::string>()] = ScalarOf(entry.second);
          }
        }
        if (const YAML::Node session = node["session"]; session && session.IsMap()) {
          Session& s = context.session;
          s.username = ScalarOf(session["username"]);
          s.access_token = ScalarOf(session["access-token"]);
          s.access_token_expiry = TimeOf(session["access-token-expiry"]);
          s.refresh_token = ScalarOf(session["refresh-token"]);
          s.refresh_token_expiry = TimeOf(session["refresh-token-expiry"]);
          s.password_change_required = BoolOf(session["password-change-required"]);
        }
        config.contexts.push_back(std::move(context));
      }
    }
  } catch (const YAML::Exception& e) {
    return ConfigError(path, absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  }
  return config;
}

std::string ConfigToYaml(const Config& config, bool redact_secrets) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "current-context" << YAML::Value << config.current_context;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq;
  for (const auto& context : config.contexts) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << context.name;
    if (!context.server.empty()) out << YAML::Key << "server" << YAML::Value << context.server;
    if (context.insecure) out << YAML::Key << "insecure" << YAML::Value << true;
    if (!context.ca_file.empty()) {
      out << YAML::Key << "ca-file" << YAML::Value << context.ca_file;
    }
    if (!context.services.empty()) {
      out << YAML::Key << "services" << YAML::Value << YAML::BeginMap;
      for (const auto& [name, address] : context.services) {
        out << YAML::Key << name << YAML::Value << address;
      }
      out << YAML::EndMap;
    }
    if (const Session& s = context.session; !s.empty()) {
      auto secret = [&](const std::string& value) {
        return redact_secrets && !value.empty() ? std::string("(redacted)") : value;
      };
      out << YAML::Key << "session" << YAML::Value << YAML::BeginMap;
      if (!s.username.empty()) out << YAML::Key << "username" << YAML::Value << s.username;
      if (!s.access_token.empty()) {
        out << YAML::Key << "access-token" << YAML::Value << secret(s.access_token);
        out << YAML::Key << "access-token-expiry" << YAML::Value
            << TimeText(s.access_token_expiry);
      }
      if (!s.refresh_token.empty()) {
        out << YAML::Key << "refresh-token" << YAML::Value << secret(s.refresh_token);
        out << YAML::Key << "refresh-token-expiry" << YAML::Value
            << TimeText(s.refresh_token_expiry);
      }
      if (s.password_change_required) {
        out << YAML::Key << "password-change-required" << YAML::Value << true;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return absl::StrCat(out.c_str(), "\n");
}

absl::Status SaveConfig(const Config& config, const std::string& path) {
  const std::filesystem::path file(path);
  const std::filesystem::path dir = file.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ConfigError(dir.string(), absl::StrCat("cannot create: ", ec.message()));
  // The file holds bearer tokens, where production lives and which CA to trust: keep it to its
  // owner. The directory is made private before the file is written; the temp file is created
  // afresh (O_EXCL, no symlink followed) with mode 0600 and chmod-ed again against the umask.
  if (::chmod(dir.c_str(), 0700) != 0) {
    return ConfigError(dir.string(), absl::StrCat("cannot make private: ", std::strerror(errno)));
  }
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid());
  ::unlink(temp.c_str());  // a leftover of an earlier run with the same pid
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ConfigError(temp, absl::StrCat("cannot write: ", std::strerror(errno)));
  const std::string text = ConfigToYaml(config);
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(temp.c_str());
      return ConfigError(temp, absl::StrCat("cannot write: ", why));
    }
    written += static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    ::unlink(temp.c_str());
    return ConfigError(temp, absl::StrCat("cannot write: ", why));
  }
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    return ConfigError(temp, absl::StrCat("cannot write: ", std::strerror(errno)));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temp.c_str());
    return ConfigError(path, absl::StrCat("cannot replace: ", why));
  }
  return absl::OkStatus();
}

bool IsLoopbackAddress(absl::string_view host_port) {
  absl::string_view host = host_port;
  if (absl::StartsWith(host, "[")) {
    const size_t end = host.find(']');
    host = host.substr(1, end == absl::string_view::npos ? absl::string_view::npos : end - 1);
  } else if (size_t colon = host.rfind(':');
             colon != absl::string_view::npos && host.find(':') == colon) {
    host = host.substr(0, colon);  // exactly one colon: HOST:PORT
  }
  if (host == "localhost" || host == "::1") return true;
  if (!absl::StartsWith(host, "127.")) return false;
  // 127.x.y.z: four numeric parts, so "127.evil.example" is not loopback.
  int parts = 0;
  for (absl::string_view rest = host; !rest.empty();) {
    const size_t dot = rest.find('.');
    absl::string_view part = rest.substr(0, dot);
    int value = 0;
    if (part.empty() || !absl::SimpleAtoi(part, &value) || value < 0 || value > 255) return false;
    ++parts;
    if (dot == absl::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  return parts == 4;
}

absl::Status CheckAddress(absl::string_view what, absl::string_view address) {
  absl::string_view port;
  bool ok = false;
  if (absl::StartsWith(address, "[")) {
    const size_t end = address.find("]:");
    if (end != absl::string_view::npos && end > 1) {
      port = address.substr(end + 2);
      ok = true;
    }
  } else if (size_t colon = address.rfind(':');
             colon != absl::string_view::npos && colon > 0 && address.find(':') == colon) {
    port = address.substr(colon + 1);
    ok = true;
  }
  int port_number = 0;
  if (!ok || !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return UsageError(absl::StrCat(what, ": \"", address,
                                   "\" is not HOST:PORT (e.g. 127.0.0.1:7001 or "
                                   "catalogue.example.no:443; IPv6 as [::1]:7001)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<const Context*> SelectContext(const GlobalOptions& options, const Config& config) {
  const Context* context = nullptr;
  if (options.context) {
    context = config.Find(*options.context);
    if (context == nullptr) {
      return UsageError(absl::StrCat("--context: there is no context named \"", *options.context,
                                     "\" in ", ConfigPath(), "; see smartctl config get-contexts"));
    }
  } else if (!config.current_context.empty()) {
    context = config.Find(config.current_context);
    if (context == nullptr) {
      return LocalError(absl::StrCat(ConfigPath(), ": current-context \"", config.current_context,
                                     "\" is not one of the contexts; fix it with smartctl config "
                                     "use-context NAME"));
    }
  }
  return context;
}

absl::StatusOr<Endpoint> ResolveEndpoint(const ServiceInfo& service, const GlobalOptions& options,
                                         const Config& config) {
  absl::StatusOr<const Context*> selected = SelectContext(options, config);
  if (!selected.ok()) return selected.status();
  const Context* context = *selected;

  Endpoint endpoint;
  const std::string env_server = Env("SMARTCTL_SERVER");
  if (options.server) {
    endpoint.address = *options.server;
    endpoint.source = "--server";
  } else if (!env_server.empty()) {
    endpoint.address = env_server;
    endpoint.source = "SMARTCTL_SERVER";
  } else if (context != nullptr && context->services.count(service.name) &&
             !context->services.at(service.name).empty()) {
    endpoint.address = context->services.at(service.name);
    endpoint.source = absl::StrCat("context ", context->name, ", services.", service.name);
  } else if (context != nullptr && !context->server.empty()) {
    endpoint.address = context->server;
    endpoint.source = absl::StrCat("context ", context->name);
  } else {
    endpoint.address = absl::StrCat("127.0.0.1:", service.default_port);
    endpoint.source = "default";
  }
  if (options.insecure) {
    endpoint.insecure = *options.insecure;
  } else if (context != nullptr) {
    endpoint.insecure = context->insecure;
  }
  if (options.ca_file) {
    endpoint.ca_file = *options.ca_file;
  } else if (context != nullptr) {
    endpoint.ca_file = context->ca_file;
  }

  if (absl::Status s = CheckAddress(
          endpoint.source == "default" ? std::string("server") : endpoint.source, endpoint.address);
      !s.ok()) {
    return s;
  }
  if (endpoint.insecure && !IsLoopbackAddress(endpoint.address)) {
    return UsageError(absl::StrCat(
        "--insecure: plaintext is only allowed to this machine (127.0.0.0/8, ::1, localhost), "
        "not to ",
        endpoint.address, " (from ", endpoint.source,
        "); use TLS, with --ca-file if the server's CA is not a system one"));
  }
  return endpoint;
}

}  // namespace smartby::smartctl
