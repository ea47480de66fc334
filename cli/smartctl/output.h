// How smartctl shows results: aligned tables for people (`-o table`, the default), and the
// protobuf message itself as JSON (`-o json`, proto field names) or YAML (`-o yaml`) for scripts.
// Times are RFC 3339 in UTC everywhere.
#ifndef SMARTBY_CLI_SMARTCTL_OUTPUT_H_
#define SMARTBY_CLI_SMARTCTL_OUTPUT_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <yaml-cpp/yaml.h>

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/smartctl/args.h"

namespace smartby::smartctl {

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

// Number of characters (UTF-8 code points) in `text`.
size_t DisplayWidth(const std::string& text);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_OUTPUT_H_
