#include "cli/smartctl/args.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "cli/smartctl/errors.h"

namespace smartby::smartctl {
namespace {

const FlagSpec* FindLong(const std::vector<FlagSpec>& specs, const std::string& name) {
  for (const auto& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

const FlagSpec* FindShort(const std::vector<FlagSpec>& specs, char c) {
  for (const auto& spec : specs) {
    if (spec.short_name != 0 && spec.short_name == c) return &spec;
  }
  return nullptr;
}

// One flag token, split: the spec it names (or null), the spelling used, and an inline value.
struct FlagToken {
  const FlagSpec* spec = nullptr;
  std::string spelling;
  std::optional<std::string> inline_value;
};

FlagToken SplitFlag(const std::vector<FlagSpec>& specs, const std::string& token) {
  FlagToken result;
  if (absl::StartsWith(token, "--")) {
    std::string body = token.substr(2);
    if (size_t eq = body.find('='); eq != std::string::npos) {
      result.inline_value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    result.spelling = "--" + body;
    result.spec = FindLong(specs, body);
  } else {
    result.spelling = token.substr(0, 2);
    result.spec = FindShort(specs, token[1]);
    if (token.size() > 2) {
      std::string rest = token.substr(2);
      if (rest[0] == '=') rest = rest.substr(1);
      result.inline_value = rest;
    }
  }
  return result;
}

bool IsFlag(const std::string& token) {
  return token.size() >= 2 && token[0] == '-' && token != "--";
}

}  // namespace

std::string ParsedFlags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return fallback;
  return it->second.back();
}

const std::vector<std::string>& ParsedFlags::GetAll(const std::string& name) const {
  static const auto* empty = new std::vector<std::string>();
  auto it = values_.find(name);
  return it == values_.end() ? *empty : it->second;
}

bool ParsedFlags::GetBool(const std::string& name) const {
  if (!Has(name)) return false;
  const std::string value = absl::AsciiStrToLower(Get(name));
  return value == "true" || value == "yes" || value == "1";
}

const std::vector<FlagSpec>& GlobalFlagSpecs() {
  static const auto* specs = new std::vector<FlagSpec>{
      {"context", 0, true, false, "NAME", "use this context from the config file"},
      {"server", 0, true, false, "HOST:PORT",
       "one endpoint for all services (overrides SMARTCTL_SERVER and the context)"},
      {"output", 'o', true, false, "FORMAT", "output format: table (default), json or yaml"},
      {"insecure", 0, false, false, "",
       "plaintext gRPC without TLS; only allowed to a loopback address"},
      {"ca-file", 0, true, false, "PATH",
       "PEM file with the CA that signed the server's "
       "certificate (default: the system's roots)"},
      {"timeout", 0, true, false, "DURATION", "how long each call may take (default 10s)"},
      {"token", 0, true, false, "TOKEN",
       "access token to send, over SMARTCTL_TOKEN and the cached login (\"\": none)"},
      {"help", 'h', false, false, "", "show help for the command and exit"},
  };
  return *specs;
}

std::vector<std::string> FindCommandWords(const std::vector<std::string>& tokens,
                                          size_t max_words) {
  std::vector<std::string> words;
  const auto& globals = GlobalFlagSpecs();
  for (size_t i = 0; i < tokens.size() && words.size() < max_words; ++i) {
    const std::string& token = tokens[i];
    if (token == "--") break;
    if (!IsFlag(token)) {
      words.push_back(token);
      continue;
    }
    FlagToken flag = SplitFlag(globals, token);
    if (flag.spec == nullptr) break;  // a command flag: the words end here
    if (flag.spec->takes_value && !flag.inline_value) ++i;
  }
  return words;
}

absl::Status ParseTokens(const std::vector<std::string>& tokens, const std::vector<FlagSpec>& specs,
                         ParsedFlags* flags, std::vector<std::string>* positionals) {
  bool only_positionals = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    if (only_positionals || !IsFlag(token)) {
      positionals->push_back(token);
      continue;
    }
    if (token == "--") {
      only_positionals = true;
      continue;
    }
    FlagToken flag = SplitFlag(specs, token);
    if (flag.spec == nullptr) {
      return UsageError(absl::StrCat("unknown flag ", flag.spelling));
    }
    const FlagSpec& spec = *flag.spec;
    if (!spec.repeated && spec.name != "help" && flags->Has(spec.name)) {
      return UsageError(absl::StrCat(flag.spelling, " was given more than once"));
    }
    if (!spec.takes_value) {
      flags->Add(spec.name, flag.inline_value.value_or("true"));
      continue;
    }
    if (flag.inline_value) {
      flags->Add(spec.name, *flag.inline_value);
    } else if (i + 1 < tokens.size()) {
      flags->Add(spec.name, tokens[++i]);
    } else {
      return UsageError(absl::StrCat(flag.spelling, " needs a value",
                                     spec.value_name.empty() ? "" : " (", spec.value_name,
                                     spec.value_name.empty() ? "" : ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<GlobalOptions> GlobalOptionsFrom(const ParsedFlags& flags) {
  GlobalOptions options;
  if (flags.Has("context")) options.context = flags.Get("context");
  if (flags.Has("server")) options.server = flags.Get("server");
  if (flags.Has("ca-file")) options.ca_file = flags.Get("ca-file");
  if (flags.Has("insecure")) options.insecure = flags.GetBool("insecure");
  if (flags.Has("token")) options.token = flags.Get("token");
  options.help = flags.Has("help");
  if (flags.Has("output")) {
    const std::string format = absl::AsciiStrToLower(flags.Get("output"));
    if (format == "table" || format == "wide") {
      options.output = OutputFormat::kTable;
    } else if (format == "json") {
      options.output = OutputFormat::kJson;
    } else if (format == "yaml" || format == "yml") {
      options.output = OutputFormat::kYaml;
    } else {
      return UsageError(absl::StrCat("-o/--output: \"", flags.Get("output"),
                                     "\" is not a format; use table, json or yaml"));
    }
  }
  if (flags.Has("timeout")) {
    absl::Duration timeout;
    if (!absl::ParseDuration(flags.Get("timeout"), &timeout) || timeout <= absl::ZeroDuration()) {
      return UsageError(absl::StrCat("--timeout: \"", flags.Get("timeout"),
                                     "\" is not a duration; write e.g. 10s, 1m or 500ms"));
    }
    options.timeout = timeout;
  }
  return options;
}

absl::StatusOr<int64_t> ParseIntFlag(const std::string& flag, const std::string& value,
                                     int64_t min_value) {
  int64_t result = 0;
  if (!absl::SimpleAtoi(value, &result) || result < min_value) {
    return UsageError(
        absl::StrCat("--", flag, ": \"", value, "\" is not a whole number",
                     min_value > 0 ? " above 0" : (min_value == 0 ? " (0 or more)" : "")));
  }
  return result;
}

absl::StatusOr<double> ParseNumberFlag(const std::string& flag, const std::string& text) {
  double value = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(text), &value) || !std::isfinite(value)) {
    return UsageError(absl::StrCat(flag, ": \"", text, "\" is not a number"));
  }
  return value;
}

absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& flag, const std::string& text) {
  const std::string value(absl::StripAsciiWhitespace(text));
  auto bad = [&] {
    return UsageError(
        absl::StrCat(flag, ": \"", text, "\" is not a duration; write e.g. 30s, 5m, 1h30m or 90d"));
  };
  if (value == "0") return absl::ZeroDuration();
  // Longer units first, so that "ms" is not read as "m".
  static const std::pair<absl::string_view, absl::Duration> kUnits[] = {
      {"ns", absl::Nanoseconds(1)},  {"us", absl::Microseconds(1)}, {"µs", absl::Microseconds(1)},
      {"ms", absl::Milliseconds(1)}, {"s", absl::Seconds(1)},       {"m", absl::Minutes(1)},
      {"h", absl::Hours(1)},         {"d", absl::Hours(24)},        {"w", absl::Hours(24 * 7)}};
  absl::string_view rest = value;
  if (rest.empty()) return bad();
  absl::Duration total = absl::ZeroDuration();
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() &&
           (absl::ascii_isdigit(static_cast<unsigned char>(rest[digits])) || rest[digits] == '.')) {
      ++digits;
    }
    double number = 0;
    if (digits == 0 || !absl::SimpleAtod(rest.substr(0, digits), &number) || number < 0 ||
        number > 1e12) {
      return bad();
    }
    rest.remove_prefix(digits);
    bool found = false;
    for (const auto& [suffix, unit] : kUnits) {
      if (absl::StartsWith(rest, suffix)) {
        total += unit * number;
        rest.remove_prefix(suffix.size());
        found = true;
        break;
      }
    }
    if (!found) return bad();
  }
  if (total >= absl::Hours(24 * 366) * 1000) return bad();  // also what saturated to infinity
  return total;
}

absl::StatusOr<absl::Time> ParseTimeArg(const std::string& flag, const std::string& text,
                                        absl::Time now) {
  const std::string value(absl::StripAsciiWhitespace(text));
  if (absl::AsciiStrToLower(value) == "now") return now;
  if (absl::StartsWith(value, "-")) {
    absl::StatusOr<absl::Duration> ago = ParseDurationFlag(flag, value.substr(1));
    if (ago.ok()) return now - *ago;
  }
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, value, &time, &error)) return time;
  if (absl::ParseTime("%Y-%m-%d", value, absl::UTCTimeZone(), &time, &error)) return time;
  std::string message =
      absl::StrCat(flag, ": \"", text,
                   "\" is not a time; write 2026-01-31T09:30:00Z (RFC 3339), 2026-01-31, now, or "
                   "a time ago such as -1h, -30m or -7d");
  if (!value.empty() && value[0] != '-' && ParseDurationFlag(flag, value).ok()) {
    absl::StrAppend(&message, " (-", value, " for ", value, " ago)");
  }
  return UsageError(message);
}

}  // namespace smartby::smartctl
