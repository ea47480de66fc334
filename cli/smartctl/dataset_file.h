// Dataset files for `dataset create -f`, `dataset update -f` and `dataset apply -f`.
//
// A file holds one dataset, a list of datasets (`datasets: [...]` or a top-level list), or
// several YAML documents separated by `---`. YAML and JSON are both accepted (`.json` files are
// read as JSON, everything else as YAML). Field names are the proto's, snake_case or lowerCamel.
// Enum values may be written as the proto names (CLASSIFICATION_OPEN) or the short forms people
// type (open, intern, ENVI, daily, draft, string); dates may be written 2026-01-31.
//
// The file must be UTF-8; a Latin-1 file is refused with the line that is not.
#ifndef SMARTBY_CLI_SMARTCTL_DATASET_FILE_H_
#define SMARTBY_CLI_SMARTCTL_DATASET_FILE_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::smartctl {

struct DatasetDocument {
  smartcity::catalogue::v1::Dataset dataset;
  // The top-level Dataset fields the file sets, by proto name ("title", "risk_assessment").
  std::set<std::string> fields;
  // Where it came from, for messages: "demo.yaml" or "demo.yaml, dataset 3".
  std::string origin;
};

// Reads every dataset in the file at `path` ("-" is standard input). Errors are local errors
// (exit 1) naming the file, and where known the line or the dataset.
absl::StatusOr<std::vector<DatasetDocument>> ReadDatasetFile(const std::string& path);

// OK when `text` is valid UTF-8; otherwise an error naming `name` and the first bad line.
absl::Status CheckUtf8(const std::string& text, const std::string& name);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_DATASET_FILE_H_
