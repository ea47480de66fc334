// Helpers of the catalogue commands (`dataset`, `resource`, `catalogue`) that are worth testing
// on their own or sharing with other nouns. The commands themselves are registered by
// AddCatalogueCommands (commands.h).
#ifndef SMARTBY_CLI_SMARTCTL_CATALOGUE_COMMANDS_H_
#define SMARTBY_CLI_SMARTCTL_CATALOGUE_COMMANDS_H_

#include <set>
#include <string>

#include "absl/status/status.h"
#include "cli/smartctl/args.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::smartctl {

// The Dataset fields a caller may set on create and change on update (the catalogue's rule).
const std::set<std::string>& MutableDatasetFields();

// Sets the fields the dataset flags (--title, --owner, --theme, --field, --ros, ...) give, and
// adds the field-mask path of each to `paths`. Usage errors name the flag.
absl::Status ApplyDatasetFlags(const ParsedFlags& flags, smartcity::catalogue::v1::Dataset* dataset,
                               std::set<std::string>* paths);

// Parses "name:type[:unit[:description]]" (--field).
absl::StatusOr<smartcity::catalogue::v1::SchemaField> ParseFieldFlag(const std::string& value);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_CATALOGUE_COMMANDS_H_
