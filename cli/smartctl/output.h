// How smartctl shows results: aligned tables for people (`-o table`, the default), and the
// protobuf message itself as JSON (`-o json`, proto field names) or YAML (`-o yaml`) for scripts.
// Times are RFC 3339 in UTC everywhere.
#ifndef SMARTBY_CLI_SMARTCTL_OUTPUT_H_
#define SMARTBY_CLI_SMARTCTL_OUTPUT_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <yaml-cpp/yaml.h>

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/smartctl/args.h"

namespace smartby::smartctl {

class ServiceClient;  // client.h

// Columns padded to the widest cell (counted in characters, not bytes: "Bymiljø" is 7 wide).
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Aligned "Key:  value" lines (the detail view of one object).
class Details {
 public:
  void Add(std::string key, std::string value);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::pair<std::string, std::string>> lines_;
};

// Pretty JSON with proto field names (snake_case).
std::string MessageToJson(const google::protobuf::Message& message);

// JSON text as block-style YAML. Strings YAML would read as something else (true, null, "")
// stay quoted.
std::string JsonToYaml(const std::string& json);

// A yaml-cpp node as JSON (used for things that are not protobuf messages, e.g. the config).
std::string YamlNodeToJson(const YAML::Node& node);

// Prints `message` as JSON or YAML (for kTable, as JSON too: callers print tables themselves).
void PrintMessage(const google::protobuf::Message& message, OutputFormat format, std::ostream& out);

// A measured or computed number, short: at most 12 significant digits, so that float noise is
// not shown (10.299999999999999 -> 10.3, 0.1 + 0.2 -> 0.3), integers below 1e15 in full
// (1234567890123), others in exponent form (1e+21); nan, inf, -inf. -o json/yaml keep the exact
// value.
std::string FormatNumber(double value);

// The short form of `d`, with days: 5m, 1h30m, 90d, 1d12h, 500ms; "0s" for zero.
std::string FormatDurationShort(absl::Duration d);

// Between absl and protobuf times and durations.
google::protobuf::Timestamp ToTimestamp(absl::Time t);
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);
google::protobuf::Duration ToProtoDuration(absl::Duration d);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

// A value inside "key=value" pairs, quoted (with \" and \\, controls as \n \t or \xNN) when it is
// empty or holds blanks, controls, '=' or '"', so that the pairs read back unambiguously.
std::string QuoteIfNeeded(const std::string& s);

// One line of JSON with proto field names: for streams, one object per line.
std::string MessageToCompactJson(const google::protobuf::Message& message);

// "2026-01-31T09:30:00Z"; "" for an unset timestamp.
std::string FormatTime(const google::protobuf::Timestamp& time);

// An enum value as people type it: CLASSIFICATION_STRICTLY_PROTECTED -> "strictly-protected",
// THEME_ENVI -> "ENVI" (`keep_case`), DATASET_STATE_DRAFT -> "draft".
std::string ShortEnumName(const google::protobuf::EnumDescriptor* type, int value,
                          bool keep_case = false);

// Parses a value people type (short form, any case, '-' or '_', or the full proto name) into an
// enum number. Usage error naming `what` and listing the accepted values.
absl::StatusOr<int> ParseEnumValue(const google::protobuf::EnumDescriptor* type,
                                   const std::string& text, const std::string& what,
                                   bool keep_case = false);

// "open, internal, protected, strictly-protected".
std::string EnumChoices(const google::protobuf::EnumDescriptor* type, bool keep_case = false);

// Before a stream is opened (whose failure would come late and without hints): asks the
// service's gRPC health check, so that a service that cannot be reached is reported as for every
// other command (exit 3, with the hints about TLS and addresses). Any answer at all (serving or
// not, unknown service, no health service) means the other end is there: OK.
absl::Status CheckReachable(ServiceClient& client);

// Number of characters (UTF-8 code points) in `text`.
size_t DisplayWidth(const std::string& text);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_OUTPUT_H_
