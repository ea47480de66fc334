// The archive service's noun (AddArchiveCommands), against smartcity.archive.v1.ArchiveService
// (port 7006):
//   archive export    StartExport; with --wait or --out, WatchExport (a progress bar on a
//                     terminal) and then FetchPackage into --out
//   archive jobs      ListExports
//   archive status    GetExport
//   archive cancel    CancelExport
//   archive fetch     FetchPackage into --out (checked against the package's SHA-256)
//   archive validate  the Noark 5 checks (services/archive/noark5/package_check.h) on a package
//                     on disk, without any service: exit 1 when one fails
// and the helpers worth testing on their own: the request `archive export` builds and how
// progress is shown.
#ifndef SMARTBY_CLI_SMARTCTL_ARCHIVE_COMMANDS_H_
#define SMARTBY_CLI_SMARTCTL_ARCHIVE_COMMANDS_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/smartctl/args.h"
#include "cli/smartctl/commands.h"
#include "smartcity/archive/v1/archive.pb.h"

namespace smartby::smartctl {

// Adds the noun archive to `registry`.
void AddArchiveCommands(Registry& registry);

// The StartExport request of `archive export` with these flags (--dataset, repeatable and
// required; --from, --to as ingestion's ParseTimeArg reads them; --arkivdel, --document-type,
// --responsible-unit, --case-handler). Usage errors name the flag.
absl::StatusOr<smartcity::archive::v1::StartExportRequest> ExportRequestFrom(
    const ParsedFlags& flags, absl::Time now);

// "queued", "running", "checking", "succeeded", "failed", "cancelled".
std::string ExportStateName(smartcity::archive::v1::ExportState state);

// One progress line of at most `width` characters, e.g.
// "[=====>        ]  1/2 datasets  readings 120000  documents 3  12.5 MiB  readings".
std::string ExportProgressLine(const smartcity::archive::v1::ExportJob& job, size_t width);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_ARCHIVE_COMMANDS_H_
