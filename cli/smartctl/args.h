// Command-line parsing for smartctl: `smartctl [global flags] <noun> <verb> [args] [flags]`.
//
// Flags are `--name VALUE`, `--name=VALUE`, `-x VALUE`, `-xVALUE`; boolean flags take no value
// (`--insecure`), or `--insecure=false`. Global flags may appear anywhere on the line. `--` ends
// the flags: everything after it is an argument. Errors are usage errors (exit code 2).
#ifndef SMARTBY_CLI_SMARTCTL_ARGS_H_
#define SMARTBY_CLI_SMARTCTL_ARGS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace smartby::smartctl {

struct FlagSpec {
  std::string name;         // long name without dashes: "title"
  char short_name = 0;      // 'o' for -o; 0 when none
  bool takes_value = true;  // false: a boolean switch
  bool repeated = false;    // may be given more than once (values collect in order)
  std::string value_name;   // shown in help: "TITLE"
  std::string help;         // one line, plain language
};

// The flags found on a command line, by long name.
class ParsedFlags {
 public:
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The last value given, or `fallback` when the flag was not given.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Every value given, in order (empty when not given).
  const std::vector<std::string>& GetAll(const std::string& name) const;
  // A boolean switch: true when given without a value or as =true/=yes/=1.
  bool GetBool(const std::string& name) const;

  void Add(const std::string& name, std::string value) {
    values_[name].push_back(std::move(value));
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

enum class OutputFormat { kTable, kJson, kYaml };

// The global flags, each optional so that "not given" can fall back to env, context, default.
struct GlobalOptions {
  std::optional<std::string> context;
  std::optional<std::string> server;
  std::optional<std::string> ca_file;
  std::optional<bool> insecure;
  // --token: the access token to send (overrides SMARTCTL_TOKEN and the cached login); "" sends
  // none (anonymous). See session.h.
  std::optional<std::string> token;
  OutputFormat output = OutputFormat::kTable;
  absl::Duration timeout = absl::Seconds(10);
  bool help = false;
};

// The global flags' specifications, for parsing and for help.
const std::vector<FlagSpec>& GlobalFlagSpecs();

// Finds the command words (noun, verb) before any command flag: skips global flags and their
// values, stops at the first flag that is not global or when `max_words` words are found.
std::vector<std::string> FindCommandWords(const std::vector<std::string>& tokens, size_t max_words);

// Parses `tokens` against `specs` (which should include the global ones). Fills `flags` and
// `positionals` (in order, command words included). Usage error on an unknown flag, a missing
// value, or a non-repeated flag given twice.
absl::Status ParseTokens(const std::vector<std::string>& tokens, const std::vector<FlagSpec>& specs,
                         ParsedFlags* flags, std::vector<std::string>* positionals);

// Reads the global flags out of `flags`; usage error on a bad -o or --timeout value.
absl::StatusOr<GlobalOptions> GlobalOptionsFrom(const ParsedFlags& flags);

// Parsers for flag values; usage errors name the flag.
absl::StatusOr<int64_t> ParseIntFlag(const std::string& flag, const std::string& value,
                                     int64_t min_value);

// A finite number ("12.5", "-3", "1e3"); `flag` names it in the usage error.
absl::StatusOr<double> ParseNumberFlag(const std::string& flag, const std::string& text);

// A duration as people write it: one or more NUMBER UNIT parts, units w, d, h, m, s, ms, us, ns
// ("5m", "1h30m", "90d", "1d12h", "1.5h"), or a bare "0". Never negative.
absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& flag, const std::string& text);

// --from/--to: RFC 3339 ("2026-01-31T09:30:00Z", offsets allowed), a date ("2026-01-31",
// midnight UTC), "now", or a time before `now`: "-1h", "-30m", "-7d", "-1d12h".
absl::StatusOr<absl::Time> ParseTimeArg(const std::string& flag, const std::string& text,
                                        absl::Time now);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_ARGS_H_
