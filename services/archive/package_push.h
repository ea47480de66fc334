// Pushing a checked extraction package (its TAR, as the exporter left it) into a Noark 5 core:
// arkivstruktur.xml is read with a streaming XML reader, each mappe becomes a saksmappe with its
// registreringer (journalposter), dokumentbeskrivelser and dokumentobjekter, and each document's
// bytes are uploaded straight from their place inside the TAR (no unpacking; memory does not grow
// with the size of the files).
#ifndef SMARTBY_SERVICES_ARCHIVE_PACKAGE_PUSH_H_
#define SMARTBY_SERVICES_ARCHIVE_PACKAGE_PUSH_H_

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/archive/archive.h"
#include "services/archive/noark5_core_client.h"

namespace smartby::archive {

// One mappe of a package, as it is pushed: its mappeID and the case file for the core (whose
// documents point into the TAR).
struct PackageCaseFile {
  std::string mappe_id;
  CoreCaseFile case_file;
};

// Reads the case files of the package TAR at `package`. Errors name the file and what is wrong.
absl::StatusOr<std::vector<PackageCaseFile>> ReadPackageCaseFiles(
    const std::filesystem::path& package);

class PackagePusher : public CorePusher {
 public:
  PackagePusher(CorePushOptions options, std::shared_ptr<TokenProvider> tokens);

  std::string core_url() const override { return root_url_; }
  absl::Status Push(const std::filesystem::path& package,
                    const std::set<std::string>& already_pushed,
                    const std::function<void(const v1::PushedCaseFile&)>& on_pushed) override;

 private:
  const std::string root_url_;
  Noark5CoreClient client_;
};

}  // namespace smartby::archive

#endif  // SMARTBY_SERVICES_ARCHIVE_PACKAGE_PUSH_H_
