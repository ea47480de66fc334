#include "services/archive/export_pipeline.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "services/archive/noark5/hashing_file.h"
#include "services/archive/noark5/package_check.h"
#include "services/archive/noark5/package_writer.h"
#include "services/runtime/auth/policy.h"
#include "services/runtime/status.h"

namespace smartby::archive {
namespace {

namespace av1 = ::smartcity::audit::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using smartcity::common::v1::CLASSIFICATION_PROTECTED;

// CSV bytes gathered before they go to the document sink (one write per this much).
constexpr size_t kCsvBufferBytes = 256 * 1024;
constexpr char kCsvFormat[] = "x-fmt/18";    // PRONOM: Comma Separated Values
constexpr char kJsonFormat[] = "fmt/817";    // PRONOM: JSON Data Interchange Format

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

// RFC 4180: quoted when it holds a comma, quote, CR or LF; quotes doubled.
void AppendCsvField(absl::string_view text, std::string& out) {
  if (text.find_first_of(",\"\r\n") == absl::string_view::npos) {
    out.append(text.data(), text.size());
    return;
  }
  out.push_back('"');
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

std::string ShortestDouble(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (ec != std::errc()) return absl::StrCat(value);
  return std::string(buffer, end);
}

std::string ValueText(const iv1::Value& value) {
  switch (value.kind_case()) {
    case iv1::Value::kDoubleValue: return ShortestDouble(value.double_value());
    case iv1::Value::kIntegerValue: return absl::StrCat(value.integer_value());
    case iv1::Value::kStringValue: return value.string_value();
    case iv1::Value::kBoolValue: return value.bool_value() ? "true" : "false";
    case iv1::Value::kTimestampValue: return Rfc3339(TimeOf(value.timestamp_value()));
    case iv1::Value::kGeoValue:
      return absl::StrCat(ShortestDouble(value.geo_value().latitude()), " ",
                          ShortestDouble(value.geo_value().longitude()));
    case iv1::Value::KIND_NOT_SET: return "";
  }
  return "";
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot write JSON: ", status.message().as_string()));
  }
  return json;
}

absl::StatusOr<std::string> Sha256OfFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", path.string()));
  noark5::Sha256 hash;
  std::string buffer;
  while (in) {
    buffer.resize(1 << 20);
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    buffer.resize(static_cast<size_t>(in.gcount()));
    hash.Update(buffer);  // a std::string, whichever string_view Update takes
  }
  return hash.FinishHex();
}

// A file name part from a dataset name (catalogue names are already URL-safe slugs; this keeps
// the package valid even if one is not).
std::string FileStem(const std::string& name) {
  std::string stem;
  for (char c : name) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
    stem.push_back(safe ? c : '_');
  }
  return stem.empty() ? "datasett" : stem;
}

// Progress of a whole job: the writer's counters plus what this exporter counts itself.
class ProgressTracker {
 public:
  ProgressTracker(ExportControl& control, int datasets_total) : control_(control) {
    progress_.set_datasets_total(datasets_total);
  }
  void Phase(const std::string& phase) {
    progress_.set_phase(phase);
    Send(true);
  }
  void Readings(int64_t added) {
    progress_.set_readings_written(progress_.readings_written() + added);
    Send(false);
  }
  void AuditEntries(int64_t added) {
    progress_.set_audit_entries_written(progress_.audit_entries_written() + added);
    Send(false);
  }
  void DatasetDone() {
    progress_.set_datasets_done(progress_.datasets_done() + 1);
    Send(true);
  }
  void Writer(const noark5::WriteProgress& written) {
    progress_.set_documents_written(static_cast<int64_t>(written.documents));
    progress_.set_bytes_written(static_cast<int64_t>(written.document_bytes));
    Send(false);
  }

 private:
  // At most about five reports a second, unless something a person waits for happened.
  void Send(bool now) {
    const absl::Time t = absl::Now();
    if (!now && t - last_ < absl::Milliseconds(200)) return;
    last_ = t;
    control_.Report(progress_);
  }

  ExportControl& control_;
  v1::ExportProgress progress_;
  absl::Time last_ = absl::InfinitePast();
};

absl::Status CancelledError() {
  return absl::CancelledError("the export was cancelled");
}

// Writes one dataset as a case file.
class DatasetWriter {
 public:
  DatasetWriter(PlatformReader* reader, noark5::PackageWriter* writer, const v1::ExportJob& job,
                ExportControl& control, ProgressTracker& progress)
      : reader_(reader), writer_(writer), job_(job), control_(control), progress_(progress) {}

  absl::Status Write(const std::string& name) {
    progress_.Phase("catalogue");
    ASSIGN_OR_RETURN(cv1::Dataset dataset, reader_->GetDataset(name));
    std::vector<cv1::DatasetChange> history;  // metadata only: one entry per version
    RETURN_IF_ERROR(reader_->ForEachHistoryChange(
        name, [&](const cv1::DatasetChange& change) -> absl::Status {
          history.push_back(change);
          return control_.cancelled() ? CancelledError() : absl::OkStatus();
        }));

    noark5::CaseFile case_file;
    case_file.title = dataset.title().empty() ? name : dataset.title();
    case_file.description = dataset.description();
    case_file.keywords.assign(dataset.keywords().begin(), dataset.keywords().end());
    case_file.external_id = name;
    case_file.created = TimeOf(dataset.create_time());
    ASSIGN_OR_RETURN(const std::string case_id, writer_->BeginCaseFile(case_file));
    const std::string stem = FileStem(name);
    const absl::Time from = TimeOf(job_.start_time());
    const absl::Time to = TimeOf(job_.end_time());

    // The data itself: metadata now, and the readings of the period.
    noark5::RegistryEntry data_entry;
    data_entry.title = absl::StrCat("Datasett ", name, ": data ", Day(from), " til ", Day(to));
    data_entry.description = absl::StrCat("Målinger fra ", Rfc3339(from), " til ", Rfc3339(to),
                                          " (til, ikke med), og datasettets metadata.");
    data_entry.reference = absl::StrCat(name, "/data");
    data_entry.date = to;
    RETURN_IF_ERROR(writer_->BeginRegistryEntry(data_entry).status());
    ASSIGN_OR_RETURN(const std::string metadata_json, ToJson(dataset));
    RETURN_IF_ERROR(AddText(absl::StrCat("Metadata for ", name), absl::StrCat(stem, "-metadata.json"),
                            kJsonFormat, "application/json; UTF-8", metadata_json));
    progress_.Phase("readings");
    noark5::Document csv;
    csv.title = absl::StrCat("Målinger for ", name);
    csv.description = absl::StrCat("Kolonner: ", CsvHeader(dataset));
    csv.description.pop_back();  // the header's line ending
    csv.file_name = absl::StrCat(stem, "-readings.csv");
    csv.format = kCsvFormat;
    csv.format_details = "text/csv; UTF-8";
    csv.main_document = false;
    RETURN_IF_ERROR(writer_
                        ->AddDocument(csv,
                                      [&](noark5::DocumentSink& sink) {
                                        return StreamReadings(dataset, from, to, sink);
                                      })
                        .status());
    RETURN_IF_ERROR(writer_->EndRegistryEntry());

    // Every published version, as it was.
    for (const cv1::DatasetChange& change : history) {
      if (control_.cancelled()) return CancelledError();
      if (change.dataset().state() != cv1::DATASET_STATE_PUBLISHED) continue;
      noark5::RegistryEntry version;
      version.title = absl::StrCat("Publisert versjon ", change.version(), " av ", name);
      version.description = absl::StrCat("Endring: ", change.action(),
                                         change.changed_fields().empty() ? "" : " (",
                                         absl::StrJoin(change.changed_fields(), ", "),
                                         change.changed_fields().empty() ? "" : ")");
      version.author = change.changed_by();
      version.reference = absl::StrCat(name, "/v", change.version());
      version.date = TimeOf(change.change_time());
      RETURN_IF_ERROR(writer_->BeginRegistryEntry(version).status());
      ASSIGN_OR_RETURN(const std::string json, ToJson(change.dataset()));
      RETURN_IF_ERROR(AddText(absl::StrCat(name, " versjon ", change.version()),
                              absl::StrCat(stem, "-v", change.version(), ".json"), kJsonFormat,
                              "application/json; UTF-8", json));
      RETURN_IF_ERROR(writer_->EndRegistryEntry());
    }

    if (dataset.has_risk_assessment() && !dataset.risk_assessment().reference().empty()) {
      const cv1::RiskAssessment& ros = dataset.risk_assessment();
      noark5::RegistryEntry note;
      note.kind = noark5::RegistryEntryKind::kNote;
      note.title = absl::StrCat("Risiko- og sårbarhetsanalyse for ", name);
      note.description = absl::StrCat(
          "ROS: ", ros.reference(),
          ros.dpia_reference().empty() ? "" : absl::StrCat("; DPIA: ", ros.dpia_reference()));
      note.reference = ros.reference();
      note.date = ros.has_assessed_time() ? TimeOf(ros.assessed_time())
                                          : TimeOf(dataset.create_time());
      RETURN_IF_ERROR(writer_->AddRegistryEntry(note).status());
    }
    for (const cv1::DatasetChange& change : history) {
      if (change.action().rfind("retired", 0) != 0) continue;
      noark5::RegistryEntry note;
      note.kind = noark5::RegistryEntryKind::kNote;
      note.title = absl::StrCat("Datasettet ", name, " er trukket tilbake");
      note.description = change.action();
      note.author = change.changed_by();
      note.reference = absl::StrCat(name, "/v", change.version());
      note.date = TimeOf(change.change_time());
      RETURN_IF_ERROR(writer_->AddRegistryEntry(note).status());
    }
    RETURN_IF_ERROR(writer_->EndCaseFile());

    // The change log: what the catalogue recorded, then what the audit log holds.
    for (const cv1::DatasetChange& change : history) {
      noark5::PackageWriter::ChangeLogEntry entry;
      entry.system_id = case_id;
      entry.field = change.changed_fields().empty()
                        ? std::string("datasett")
                        : absl::StrJoin(change.changed_fields(), ",");
      entry.changed_at = TimeOf(change.change_time());
      entry.changed_by = change.changed_by().empty() ? "ukjent" : change.changed_by();
      entry.new_value = absl::StrCat(change.action(), " (versjon ", change.version(), ")");
      RETURN_IF_ERROR(writer_->AddChangeLogEntry(entry));
    }
    progress_.Phase("audit");
    absl::Status audited = reader_->ForEachAuditEntry(
        name, [&](const av1::AuditEntry& audit) -> absl::Status {
          if (control_.cancelled()) return CancelledError();
          const av1::AuditEvent& event = audit.event();
          noark5::PackageWriter::ChangeLogEntry entry;
          entry.system_id = case_id;
          entry.field = event.action().empty() ? std::string("handling") : event.action();
          entry.changed_at = TimeOf(audit.sequenced_time());
          entry.changed_by =
              event.actor().subject().empty() ? std::string("ukjent") : event.actor().subject();
          entry.new_value = absl::StrCat("revisjonslogg #", audit.index(), ": utfall ",
                                         event.outcome_code(),
                                         event.request_id().empty()
                                             ? ""
                                             : absl::StrCat(", forespørsel ", event.request_id()));
          RETURN_IF_ERROR(writer_->AddChangeLogEntry(entry));
          progress_.AuditEntries(1);
          return absl::OkStatus();
        });
    if (!audited.ok() && !absl::IsUnimplemented(audited)) return audited;
    progress_.DatasetDone();
    return absl::OkStatus();
  }

 private:
  absl::Status AddText(const std::string& title, const std::string& file_name,
                       const std::string& format, const std::string& details,
                       const std::string& text) {
    noark5::Document document;
    document.title = title;
    document.file_name = file_name;
    document.format = format;
    document.format_details = details;
    return writer_
        ->AddDocument(document, [&](noark5::DocumentSink& sink) { return sink.Write(text); })
        .status();
  }

  absl::Status StreamReadings(const cv1::Dataset& dataset, absl::Time from, absl::Time to,
                              noark5::DocumentSink& sink) {
    std::string buffer = CsvHeader(dataset);
    buffer.reserve(kCsvBufferBytes + 4096);
    RETURN_IF_ERROR(reader_->ForEachReadingPage(
        dataset.name(), from, to,
        [&](const iv1::QueryReadingsResponse& page) -> absl::Status {
          if (control_.cancelled()) return CancelledError();
          for (const iv1::Reading& reading : page.readings()) {
            buffer += CsvRow(dataset, reading);
            if (buffer.size() >= kCsvBufferBytes) {
              RETURN_IF_ERROR(sink.Write(buffer));
              buffer.clear();
            }
          }
          progress_.Readings(page.readings_size());
          return absl::OkStatus();
        }));
    return sink.Write(buffer);
  }

  PlatformReader* reader_;
  noark5::PackageWriter* writer_;
  const v1::ExportJob& job_;
  ExportControl& control_;
  ProgressTracker& progress_;
};

}  // namespace

std::string CsvHeader(const cv1::Dataset& dataset) {
  std::string header = "time,source_id";
  for (const cv1::SchemaField& field : dataset.fields()) {
    header.push_back(',');
    AppendCsvField(field.name(), header);
  }
  header += "\r\n";
  return header;
}

std::string CsvRow(const cv1::Dataset& dataset, const iv1::Reading& reading) {
  std::string row = Rfc3339(TimeOf(reading.time()));
  row.push_back(',');
  AppendCsvField(reading.source_id(), row);
  for (const cv1::SchemaField& field : dataset.fields()) {
    row.push_back(',');
    if (auto it = reading.values().find(field.name()); it != reading.values().end()) {
      AppendCsvField(ValueText(it->second), row);
    }
  }
  row += "\r\n";
  return row;
}

NoarkPackageExporter::NoarkPackageExporter(PlatformReader* reader, PackageIdentity identity)
    : reader_(reader), identity_(std::move(identity)) {}

absl::StatusOr<PackageResult> NoarkPackageExporter::Export(const v1::ExportJob& job,
                                                           const ExportPaths& paths,
                                                           ExportControl& control) {
  ProgressTracker progress(control, job.datasets_size());
  noark5::ExportConfig config;
  config.archive_title = identity_.archive_title;
  config.archive_description =
      absl::StrCat("Uttrekk av datasettene ", absl::StrJoin(job.datasets(), ", "), " (eksport ",
                   job.id(), ")");
  config.creator_id = identity_.creator_id;
  config.creator_name = identity_.creator_name;
  config.series_title = job.config().arkivdel();
  config.document_type = job.config().document_type();
  config.responsible_unit = job.config().responsible_unit();
  config.case_handler = job.config().case_handler();
  config.created_by = job.created_by();
  config.period_start = TimeOf(job.start_time());
  config.period_end = TimeOf(job.end_time());
  config.classification = std::string(auth::ClassificationDisplayName(job.classification()));
  if (job.classification() >= CLASSIFICATION_PROTECTED) {
    noark5::Screening screening;
    screening.access_restriction = "13";
    screening.legal_basis = "Offl. § 13, jf. fvl. § 13";
    config.screening = screening;
  }
  noark5::WriterOptions options;
  if (!identity_.xsd_dir.empty()) options.xsd_dir = identity_.xsd_dir;
  options.on_progress = [&progress](const noark5::WriteProgress& written) {
    progress.Writer(written);
  };
  ASSIGN_OR_RETURN(std::unique_ptr<noark5::PackageWriter> writer,
                   noark5::PackageWriter::Create(paths.staging_dir, config, options));

  DatasetWriter datasets(reader_, writer.get(), job, control, progress);
  for (const std::string& name : job.datasets()) {
    absl::Status written = datasets.Write(name);
    if (!written.ok()) {
      if (control.cancelled()) return CancelledError();
      return absl::Status(written.code(),
                          absl::StrCat("dataset \"", name, "\": ", written.message()));
    }
  }
  progress.Phase("packing");
  ASSIGN_OR_RETURN(noark5::PackageSummary summary, writer->Finish());
  if (control.cancelled()) return CancelledError();
  RETURN_IF_ERROR(noark5::WriteTar(summary.directory, paths.package, summary.package_id));
  std::error_code ignored;
  std::filesystem::remove_all(paths.staging_dir, ignored);  // the TAR holds it all now

  control.Checking();
  ASSIGN_OR_RETURN(PackageResult result, CheckAndHashPackage(paths.package, options.xsd_dir));
  if (control.cancelled()) return CancelledError();
  return result;
}

absl::StatusOr<PackageResult> CheckAndHashPackage(const std::filesystem::path& tar,
                                                  const std::filesystem::path& xsd_dir) {
  // Both read the whole TAR: side by side, the second read mostly comes from the page cache
  // and the two hash on two cores.
  absl::StatusOr<std::string> sha256 = absl::UnknownError("not hashed");
  std::thread hasher([&] { sha256 = Sha256OfFile(tar); });
  absl::StatusOr<noark5::CheckReport> report = noark5::CheckPackage(tar, xsd_dir);
  hasher.join();
  if (!report.ok()) return report.status();
  if (!report->passed()) {
    std::vector<std::string> failed;
    for (const noark5::CheckResult& result : report->results) {
      if (result.passed) continue;
      failed.push_back(absl::StrCat(result.id, " ", result.name,
                                    result.findings.empty() ? "" : ": ",
                                    result.findings.empty() ? "" : result.findings.front()));
    }
    return absl::InternalError(absl::StrCat("the package failed its checks: ",
                                            absl::StrJoin(failed, "; ")));
  }
  if (!sha256.ok()) return sha256.status();
  PackageResult result;
  std::error_code ec;
  result.size_bytes = static_cast<int64_t>(std::filesystem::file_size(tar, ec));
  result.sha256_hex = *std::move(sha256);
  return result;
}

}  // namespace smartby::archive
