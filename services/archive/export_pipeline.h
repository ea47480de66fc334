// The real PackageExporter: for each dataset of a job, read the platform and write a Noark 5
// package with the noark5 library (services/archive/noark5/), then pack it as TAR and run
// CheckPackage on the TAR. Nothing of a dataset's readings is held in memory: they are read a page
// at a time and streamed into the CSV document.
//
// What one dataset becomes (one saksmappe, its mappeID the dataset's name):
//   journalpost "Datasett <name>: data <period>"  documents <name>-metadata.json (the dataset as
//                                                  it is now) and <name>-readings.csv
//   journalpost "Publisert versjon N"              one per published version in the catalogue's
//                                                  history, with that version as JSON
//   arkivnotat  "Risiko- og sårbarhetsanalyse"     when the dataset has one recorded
//   arkivnotat  "Datasettet er trukket tilbake"    when it was retired
//   endringslogg                                   one entry per catalogue history change and per
//                                                  audit entry about the dataset, all referring
//                                                  to the saksmappe
#ifndef SMARTBY_SERVICES_ARCHIVE_EXPORT_PIPELINE_H_
#define SMARTBY_SERVICES_ARCHIVE_EXPORT_PIPELINE_H_

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/archive/archive.h"
#include "smartcity/audit/v1/audit.pb.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"
#include "smartcity/ingestion/v1/ingestion.pb.h"

namespace smartby::archive {

// What an export reads from the platform (platform_sources.h: over gRPC with the archive's own
// service account). Each ForEach calls `visit` in order and stops at its first error, which it
// returns.
class PlatformReader : public DatasetLookup {
 public:
  // Every change of the dataset, oldest first.
  virtual absl::Status ForEachHistoryChange(
      const std::string& dataset,
      const std::function<absl::Status(const smartcity::catalogue::v1::DatasetChange&)>&
          visit) = 0;
  // The dataset's readings in [from, to), one page at a time, in time order.
  virtual absl::Status ForEachReadingPage(
      const std::string& dataset, absl::Time from, absl::Time to,
      const std::function<absl::Status(const smartcity::ingestion::v1::QueryReadingsResponse&)>&
          visit) = 0;
  // The audit entries about the dataset (and its sources), oldest first. UNIMPLEMENTED when
  // this reader has no audit log to ask.
  virtual absl::Status ForEachAuditEntry(
      const std::string& dataset,
      const std::function<absl::Status(const smartcity::audit::v1::AuditEntry&)>& visit) = 0;
};

// The archive-wide part of every package (flags of the service).
struct PackageIdentity {
  std::string archive_title = "Smartby";  // arkiv/tittel
  std::string creator_id;                 // arkivskaperID: the municipality's organisation number
  std::string creator_name;               // arkivskaperNavn: the municipality
  std::filesystem::path xsd_dir;          // the official XSDs (noark5::SourceTreeXsdDir by default)
};

class NoarkPackageExporter : public PackageExporter {
 public:
  // `reader` must outlive the exporter.
  NoarkPackageExporter(PlatformReader* reader, PackageIdentity identity);

  absl::StatusOr<PackageResult> Export(const v1::ExportJob& job, const ExportPaths& paths,
                                       ExportControl& control) override;

 private:
  PlatformReader* reader_;
  const PackageIdentity identity_;
};

// ---- pieces worth testing (and benchmarking) on their own ----

// The last step of an export: CheckPackage on the TAR and its SHA-256 and size, read side by
// side. INTERNAL naming the failed checks when it does not pass.
absl::StatusOr<PackageResult> CheckAndHashPackage(const std::filesystem::path& tar,
                                                  const std::filesystem::path& xsd_dir);

// The CSV header for a dataset: time,source_id, then the schema's fields in order.
std::string CsvHeader(const smartcity::catalogue::v1::Dataset& dataset);
// One reading as a CSV row (RFC 4180 quoting; times RFC 3339 UTC with microseconds; numbers in
// their shortest exact form; a geopoint as "lat lon"), in the header's field order, with the line
// ending.
std::string CsvRow(const smartcity::catalogue::v1::Dataset& dataset,
                   const smartcity::ingestion::v1::Reading& reading);

}  // namespace smartby::archive

#endif  // SMARTBY_SERVICES_ARCHIVE_EXPORT_PIPELINE_H_
