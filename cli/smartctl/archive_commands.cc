// The archive service's noun: `archive export|jobs|status|cancel|fetch|validate`, against
// smartcity.archive.v1.ArchiveService (default port 7006); `validate` runs locally.
#include "cli/smartctl/archive_commands.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <system_error>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/ingestion_commands.h"
#include "cli/smartctl/output.h"
#include "services/archive/noark5/hashing_file.h"
#include "services/archive/noark5/package_check.h"
#include "services/archive/noark5/package_writer.h"
#include "smartcity/archive/v1/archive.grpc.pb.h"

namespace smartby::smartctl {

namespace v1 = smartcity::archive::v1;
using Stub = v1::ArchiveService::Stub;

namespace {

constexpr int32_t kListPageSize = 500;

std::string ClassName(smartcity::common::v1::Classification c) {
  return ShortEnumName(smartcity::common::v1::Classification_descriptor(), c);
}

struct ArchiveConnection {
  std::unique_ptr<ServiceClient> client;
  std::unique_ptr<Stub> stub;
};

absl::StatusOr<ArchiveConnection> ConnectArchive(CommandContext& context) {
  absl::StatusOr<std::unique_ptr<ServiceClient>> client = context.Connect("archive");
  if (!client.ok()) return client.status();
  ArchiveConnection c;
  c.stub = v1::ArchiveService::NewStub((*client)->channel());
  c.client = std::move(*client);
  return c;
}

// Hints where a person would want one.
absl::Status Explain(absl::Status status) {
  if (status.ok() || ExitCodeOf(status) != kExitFailed || !HintOf(status).empty()) return status;
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return WithHint(status, "see the export jobs with smartctl archive jobs, and the datasets "
                              "with smartctl dataset list");
    case absl::StatusCode::kPermissionDenied:
      return WithHint(status, "exports need the role archivist (smartctl whoami shows yours)");
    default:
      return status;
  }
}

// The outcome of a server stream, sorted as every other call's: lost connection (exit 3) or the
// service's answer (exit 1), with hints.
absl::Status StreamOutcome(const grpc::Status& status, ArchiveConnection& c,
                           const std::string& request_id, bool sent_token) {
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return UnreachableError(absl::StrCat("lost the connection to archive at ",
                                         c.client->endpoint().address, ": ",
                                         status.error_message()),
                            request_id);
  }
  std::string text = status.error_message();
  if (text.empty()) text = "archive failed without a message";
  absl::Status error =
      ServiceError(static_cast<absl::StatusCode>(status.error_code()), text, request_id);
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    error = WithHint(error, sent_token ? "the token was not accepted; sign in again with "
                                         "smartctl login"
                                       : "this needs you to be signed in: run smartctl login "
                                         "USERNAME");
  }
  return Explain(error);
}

// A server-stream call's context: the caller's token and a fresh request id, no deadline (an
// export takes as long as it takes).
struct StreamCall {
  grpc::ClientContext context;
  std::string request_id = NewRequestId();
  bool sent_token = false;
};

absl::Status PrepareStream(CommandContext& context, StreamCall& call) {
  absl::StatusOr<std::string> token = context.AccessToken();
  if (!token.ok()) return token.status();
  call.sent_token = !token->empty();
  for (const auto& [key, value] : ServiceClient::CallMetadata(call.request_id, *token)) {
    call.context.AddMetadata(key, value);
  }
  return absl::OkStatus();
}

// One line on standard error redrawn in place, at most ten times a second; off (every call does
// nothing) unless standard error is a terminal, so piped output stays quiet.
class StatusLine {
 public:
  explicit StatusLine(std::ostream& err) : err_(err) {
    const char* term = std::getenv("TERM");
    on_ = &err == &std::cerr && ::isatty(STDERR_FILENO) == 1 &&
          !(term != nullptr && std::string(term) == "dumb");
    struct winsize size {};
    if (on_ && ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20) {
      width_ = size.ws_col - 1;  // the last column would wrap on some terminals
    }
  }
  ~StatusLine() { Clear(); }
  size_t width() const { return width_; }
  void Show(const std::string& line, bool force = false) {
    if (!on_) return;
    const absl::Time now = absl::Now();
    if (!force && drawn_ && now - last_ < absl::Milliseconds(100)) return;
    last_ = now;
    drawn_ = true;
    err_ << "\r" << line << "\033[K" << std::flush;
  }
  void Clear() {
    if (!on_ || !drawn_) return;
    err_ << "\r\033[K" << std::flush;
    drawn_ = false;
  }

 private:
  std::ostream& err_;
  bool on_ = false;
  bool drawn_ = false;
  size_t width_ = 79;
  absl::Time last_ = absl::InfinitePast();
};

std::string PushStateName(v1::PushState state) {
  switch (state) {
    case v1::PUSH_STATE_PUSHING:
      return "pushing";
    case v1::PUSH_STATE_PUSHED:
      return "pushed";
    case v1::PUSH_STATE_FAILED:
      return "failed";
    default:
      return "not pushed";
  }
}

void PrintJob(CommandContext& context, const v1::ExportJob& job) {
  if (context.output() != OutputFormat::kTable) {
    PrintMessage(job, context.output(), context.out());
    return;
  }
  Details details;
  details.Add("Id", job.id());
  details.Add("State", ExportStateName(job.state()));
  details.Add("Datasets", absl::StrJoin(job.datasets(), ", "));
  details.Add("Period", absl::StrCat(FormatTime(job.start_time()), " to ",
                                     FormatTime(job.end_time())));
  details.Add("Classification", ClassName(job.classification()));
  details.Add("Arkivdel", job.config().arkivdel());
  details.Add("Document type", job.config().document_type());
  details.Add("Responsible unit", job.config().responsible_unit());
  details.Add("Case handler", job.config().case_handler());
  details.Add("Progress", absl::StrCat(job.progress().phase(), ": ",
                                       job.progress().datasets_done(), "/",
                                       job.progress().datasets_total(), " datasets, ",
                                       job.progress().readings_written(), " readings, ",
                                       job.progress().documents_written(), " documents, ",
                                       job.progress().audit_entries_written(), " audit entries"));
  details.Add("Created", absl::StrCat(FormatTime(job.create_time()), " by ", job.created_by()));
  if (job.has_finish_time()) details.Add("Finished", FormatTime(job.finish_time()));
  if (job.attempts() > 1) details.Add("Attempts", absl::StrCat(job.attempts()));
  if (!job.error().empty()) details.Add("Error", job.error());
  if (!job.cancelled_by().empty()) details.Add("Cancelled by", job.cancelled_by());
  if (job.package_size() > 0) {
    details.Add("Package", absl::StrCat(FormatBytes(job.package_size()), ", sha256 ",
                                        job.package_sha256()));
  }
  if (job.has_push()) {
    const v1::CorePush& push = job.push();
    details.Add("Pushed to", absl::StrCat(push.core_url(), " (", PushStateName(push.state()),
                                          ", attempt ", push.attempts(), ", by ",
                                          push.pushed_by(), ")"));
    if (push.has_pushed_at()) details.Add("Pushed at", FormatTime(push.pushed_at()));
    for (const v1::PushedCaseFile& pushed : push.case_files()) {
      details.Add("Saksmappe", absl::StrCat(pushed.mappe_id(), " = ", pushed.system_id(), " (",
                                            pushed.registry_entries_size(), " journalposter, ",
                                            pushed.document_objects_size(), " documents)"));
    }
    if (!push.error().empty()) details.Add("Push error", push.error());
  }
  details.Print(context.out());
}

// Follows WatchExport until the job has ended; returns its last state.
absl::StatusOr<v1::ExportJob> WatchToEnd(CommandContext& context, ArchiveConnection& c,
                                         const std::string& id) {
  StreamCall call;
  SMARTCTL_RETURN_IF_ERROR(PrepareStream(context, call));
  v1::WatchExportRequest request;
  request.set_id(id);
  StatusLine line(context.err());
  std::unique_ptr<grpc::ClientReader<v1::ExportJob>> reader =
      c.stub->WatchExport(&call.context, request);
  v1::ExportJob job;
  bool any = false;
  while (reader->Read(&job)) {
    any = true;
    line.Show(ExportProgressLine(job, line.width()));
  }
  line.Clear();
  SMARTCTL_RETURN_IF_ERROR(StreamOutcome(reader->Finish(), c, call.request_id, call.sent_token));
  if (!any) return LocalError(absl::StrCat("the archive ended the watch of ", id, " without news"));
  return job;
}

// Downloads the package of `id` into `out_path` (through "<out_path>.partial", renamed once its
// SHA-256 matches the one the service recorded).
absl::Status FetchTo(CommandContext& context, ArchiveConnection& c, const std::string& id,
                     const std::string& out_path) {
  const std::string partial = absl::StrCat(out_path, ".partial");
  std::ofstream out(partial, std::ios::binary | std::ios::trunc);
  if (!out) return LocalError(absl::StrCat("--out: cannot write ", partial));
  StreamCall call;
  SMARTCTL_RETURN_IF_ERROR(PrepareStream(context, call));
  v1::FetchPackageRequest request;
  request.set_id(id);
  StatusLine line(context.err());
  std::unique_ptr<grpc::ClientReader<v1::PackageChunk>> reader =
      c.stub->FetchPackage(&call.context, request);
  noark5::Sha256 hash;
  v1::PackageChunk chunk;
  int64_t received = 0;
  int64_t total = 0;
  std::string expected_sha256;
  bool write_failed = false;
  while (reader->Read(&chunk)) {
    if (chunk.offset() != received) {
      call.context.TryCancel();
      write_failed = true;
      break;
    }
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    if (!out) {
      call.context.TryCancel();
      write_failed = true;
      break;
    }
    hash.Update(chunk.data());
    received += static_cast<int64_t>(chunk.data().size());
    total = chunk.total_size();
    if (!chunk.sha256().empty()) expected_sha256 = chunk.sha256();
    line.Show(absl::StrCat("downloading ", FormatBytes(received), " / ", FormatBytes(total)));
  }
  const grpc::Status status = reader->Finish();
  line.Clear();
  out.close();
  std::error_code ignored;
  if (write_failed) {
    std::filesystem::remove(partial, ignored);
    return LocalError(absl::StrCat("cannot write the package to ", partial,
                                   " (disk full, or the download came out of order)"));
  }
  if (absl::Status outcome = StreamOutcome(status, c, call.request_id, call.sent_token);
      !outcome.ok()) {
    std::filesystem::remove(partial, ignored);
    return outcome;
  }
  const std::string actual = hash.FinishHex();
  if (received != total || expected_sha256.empty() || actual != expected_sha256) {
    std::filesystem::remove(partial, ignored);
    return LocalError(absl::StrCat("the download of ", id, " is damaged: got ", received, " of ",
                                   total, " bytes, sha256 ", actual, ", expected ",
                                   expected_sha256.empty() ? "(none sent)" : expected_sha256));
  }
  std::filesystem::rename(partial, out_path, ignored);
  if (ignored) return LocalError(absl::StrCat("cannot rename ", partial, " to ", out_path));
  context.err() << "wrote " << out_path << " (" << FormatBytes(received) << ", sha256 " << actual
                << ")\n";
  return absl::OkStatus();
}

// A job that did not succeed, as the failure the command ends with.
absl::Status JobOutcome(const v1::ExportJob& job) {
  switch (job.state()) {
    case v1::EXPORT_STATE_SUCCEEDED:
      return absl::OkStatus();
    case v1::EXPORT_STATE_FAILED:
      return ServiceError(absl::StatusCode::kInternal,
                          absl::StrCat("export ", job.id(), " failed: ", job.error()), "");
    case v1::EXPORT_STATE_CANCELLED:
      return ServiceError(absl::StatusCode::kCancelled,
                          absl::StrCat("export ", job.id(), " was cancelled",
                                       job.cancelled_by().empty()
                                           ? ""
                                           : absl::StrCat(" by ", job.cancelled_by())),
                          "");
    default:
      return ServiceError(absl::StatusCode::kUnknown,
                          absl::StrCat("export ", job.id(), " is still ",
                                       ExportStateName(job.state())),
                          "");
  }
}

// ---- the commands ----

absl::Status ArchiveExport(CommandContext& context) {
  absl::StatusOr<v1::StartExportRequest> request = ExportRequestFrom(context.flags(), absl::Now());
  if (!request.ok()) return WithUsage(request.status(), UsageText(context.command()));
  const std::string out_path = context.flags().Get("out");
  const bool wait = context.flags().GetBool("wait") || !out_path.empty();
  absl::StatusOr<ArchiveConnection> c = ConnectArchive(context);
  if (!c.ok()) return c.status();
  absl::StatusOr<v1::ExportJob> job =
      c->client->Call(*c->stub, &Stub::StartExport, *request);
  if (!job.ok()) return Explain(job.status());
  if (!wait) {
    if (context.output() != OutputFormat::kTable) {
      PrintMessage(*job, context.output(), context.out());
    } else {
      context.out() << job->id() << "\n";
      context.err() << "export " << job->id() << " queued; follow it with smartctl archive "
                    << "status " << job->id() << "\n";
    }
    return absl::OkStatus();
  }
  absl::StatusOr<v1::ExportJob> ended = WatchToEnd(context, *c, job->id());
  if (!ended.ok()) return ended.status();
  if (absl::Status outcome = JobOutcome(*ended); !outcome.ok()) return outcome;
  if (!out_path.empty()) SMARTCTL_RETURN_IF_ERROR(FetchTo(context, *c, job->id(), out_path));
  PrintJob(context, *ended);
  return absl::OkStatus();
}

absl::Status ArchiveJobs(CommandContext& context) {
  absl::StatusOr<int64_t> limit =
      ParseIntFlag("limit", context.flags().Get("limit", "50"), 1);
  if (!limit.ok()) return WithUsage(limit.status(), UsageText(context.command()));
  absl::StatusOr<ArchiveConnection> c = ConnectArchive(context);
  if (!c.ok()) return c.status();
  v1::ListExportsResponse all;
  v1::ListExportsRequest request;
  while (all.jobs_size() < *limit) {
    request.set_page_size(static_cast<int32_t>(std::min<int64_t>(kListPageSize, *limit)));
    absl::StatusOr<v1::ListExportsResponse> page =
        c->client->Call(*c->stub, &Stub::ListExports, request);
    if (!page.ok()) return Explain(page.status());
    for (auto& job : *page->mutable_jobs()) {
      if (all.jobs_size() == *limit) break;
      *all.add_jobs() = std::move(job);
    }
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (context.output() != OutputFormat::kTable) {
    PrintMessage(all, context.output(), context.out());
    return absl::OkStatus();
  }
  if (all.jobs().empty()) {
    context.err() << "no export jobs you may see\n";
    return absl::OkStatus();
  }
  Table table({"ID", "STATE", "DATASETS", "CLASS", "READINGS", "CREATED", "BY"});
  for (const v1::ExportJob& job : all.jobs()) {
    table.AddRow({job.id(), ExportStateName(job.state()), absl::StrJoin(job.datasets(), ","),
                  ClassName(job.classification()),
                  absl::StrCat(job.progress().readings_written()), FormatTime(job.create_time()),
                  job.created_by()});
  }
  table.Print(context.out());
  return absl::OkStatus();
}

absl::Status ArchiveStatus(CommandContext& context) {
  absl::StatusOr<ArchiveConnection> c = ConnectArchive(context);
  if (!c.ok()) return c.status();
  v1::GetExportRequest request;
  request.set_id(context.args()[0]);
  absl::StatusOr<v1::ExportJob> job = c->client->Call(*c->stub, &Stub::GetExport, request);
  if (!job.ok()) return Explain(job.status());
  PrintJob(context, *job);
  return absl::OkStatus();
}

absl::Status ArchiveCancel(CommandContext& context) {
  absl::StatusOr<ArchiveConnection> c = ConnectArchive(context);
  if (!c.ok()) return c.status();
  v1::CancelExportRequest request;
  request.set_id(context.args()[0]);
  absl::StatusOr<v1::ExportJob> job = c->client->Call(*c->stub, &Stub::CancelExport, request);
  if (!job.ok()) return Explain(job.status());
  if (context.output() != OutputFormat::kTable) {
    PrintMessage(*job, context.output(), context.out());
  } else {
    context.out() << "export " << job->id() << " " << ExportStateName(job->state()) << "\n";
  }
  return absl::OkStatus();
}

absl::Status ArchiveFetch(CommandContext& context) {
  const std::string out_path = context.flags().Get("out");
  if (out_path.empty()) return context.Usage("--out: required (the file to write the package to)");
  absl::StatusOr<ArchiveConnection> c = ConnectArchive(context);
  if (!c.ok()) return c.status();
  return FetchTo(context, *c, context.args()[0], out_path);
}

// PushExport is synchronous: no deadline (a push takes as long as the files take to upload).
absl::Status ArchivePush(CommandContext& context) {
  absl::StatusOr<ArchiveConnection> c = ConnectArchive(context);
  if (!c.ok()) return c.status();
  const std::string id = context.args()[0];
  StreamCall call;
  SMARTCTL_RETURN_IF_ERROR(PrepareStream(context, call));
  v1::PushExportRequest request;
  request.set_id(id);
  StatusLine line(context.err());
  line.Show(absl::StrCat("pushing export ", id, " to the Noark 5 core ..."), true);
  v1::ExportJob job;
  const grpc::Status status = c->stub->PushExport(&call.context, request, &job);
  line.Clear();
  if (!status.ok()) {
    // The core's own failure (UNAVAILABLE when it is down) is recorded on the job: report it as
    // the push's failure, not as a lost connection to the archive.
    v1::GetExportRequest get;
    get.set_id(id);
    absl::StatusOr<v1::ExportJob> recorded = c->client->Call(*c->stub, &Stub::GetExport, get);
    if (recorded.ok() && recorded->push().state() == v1::PUSH_STATE_FAILED &&
        !recorded->push().error().empty() && status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      return WithHint(
          ServiceError(static_cast<absl::StatusCode>(status.error_code()),
                       absl::StrCat("the push of export ", id, " to ", recorded->push().core_url(),
                                    " failed: ", recorded->push().error()),
                       call.request_id),
          absl::StrCat("run smartctl archive push ", id,
                       " again to retry; case files the core already has are skipped"));
    }
    return StreamOutcome(status, *c, call.request_id, call.sent_token);
  }
  if (context.output() != OutputFormat::kTable) {
    PrintMessage(job, context.output(), context.out());
    return absl::OkStatus();
  }
  context.out() << "export " << job.id() << " pushed to " << job.push().core_url() << "\n";
  for (const v1::PushedCaseFile& pushed : job.push().case_files()) {
    context.out() << "  saksmappe " << pushed.mappe_id() << ": " << pushed.system_id() << " ("
                  << pushed.registry_entries_size() << " journalposter, "
                  << pushed.document_objects_size() << " documents)\n";
  }
  return absl::OkStatus();
}

absl::Status ArchiveValidate(CommandContext& context) {
  const std::string path = context.args()[0];
  std::string xsd_dir = context.flags().Get("xsd-dir");
  if (xsd_dir.empty()) {
    const char* env = std::getenv("SMARTCTL_NOARK5_XSD_DIR");
    xsd_dir = env != nullptr && *env != '\0' ? env : noark5::SourceTreeXsdDir().string();
  }
  absl::StatusOr<noark5::CheckReport> report = noark5::CheckPackage(path, xsd_dir);
  if (!report.ok()) {
    return LocalError(absl::StrCat("cannot check ", path, ": ", report.status().message()));
  }
  if (context.output() == OutputFormat::kTable) {
    context.out() << report->ToText();
  } else {
    // A report is not a protobuf message: built here, printed as JSON or YAML.
    nlohmann::json json = {{"package", path}, {"passed", report->passed()},
                           {"checks", nlohmann::json::array()}};
    for (const noark5::CheckResult& r : report->results) {
      json["checks"].push_back(
          {{"id", r.id}, {"name", r.name}, {"passed", r.passed}, {"findings", r.findings}});
    }
    const std::string text =
        json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    context.out() << (context.output() == OutputFormat::kYaml ? JsonToYaml(text) : text);
  }
  if (!report->passed()) {
    int failed = 0;
    for (const auto& r : report->results) failed += r.passed ? 0 : 1;
    return LocalError(absl::StrCat(path, " is not a valid Noark 5 package: ", failed,
                                   failed == 1 ? " check failed" : " checks failed"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::StartExportRequest> ExportRequestFrom(const ParsedFlags& flags,
                                                         absl::Time now) {
  v1::StartExportRequest request;
  for (const std::string& dataset : flags.GetAll("dataset")) {
    if (dataset.empty()) return UsageError("--dataset: a dataset name is empty");
    request.add_datasets(dataset);
  }
  if (request.datasets().empty()) {
    return UsageError("--dataset: required (the dataset to export; repeat it for several)");
  }
  std::optional<absl::Time> from, to;
  if (flags.Has("from")) {
    absl::StatusOr<absl::Time> parsed = ParseTimeArg("--from", flags.Get("from"), now);
    if (!parsed.ok()) return parsed.status();
    from = *parsed;
    *request.mutable_start_time() = ToTimestamp(*from);
  }
  if (flags.Has("to")) {
    absl::StatusOr<absl::Time> parsed = ParseTimeArg("--to", flags.Get("to"), now);
    if (!parsed.ok()) return parsed.status();
    to = *parsed;
    *request.mutable_end_time() = ToTimestamp(*to);
  }
  if (from && to && *to <= *from) return UsageError("--to: must be after --from");
  v1::ExportConfig* config = request.mutable_config();
  config->set_arkivdel(flags.Get("arkivdel"));
  config->set_document_type(flags.Get("document-type"));
  config->set_responsible_unit(flags.Get("responsible-unit"));
  config->set_case_handler(flags.Get("case-handler"));
  return request;
}

std::string ExportStateName(v1::ExportState state) {
  return ShortEnumName(v1::ExportState_descriptor(), state);
}

std::string ExportProgressLine(const v1::ExportJob& job, size_t width) {
  const v1::ExportProgress& p = job.progress();
  const std::string counts = absl::StrCat(
      p.datasets_done(), "/", p.datasets_total(), " datasets  readings ", p.readings_written(),
      "  documents ", p.documents_written(), "  ", FormatBytes(p.bytes_written()), "  ",
      p.phase().empty() ? ExportStateName(job.state()) : p.phase());
  const size_t bar_width = 20;
  if (p.datasets_total() <= 0 || DisplayWidth(counts) + bar_width + 4 > width) {
    return DisplayWidth(counts) <= width ? counts : counts.substr(0, width);
  }
  const size_t done = static_cast<size_t>(
      bar_width * std::clamp(p.datasets_done(), 0, p.datasets_total()) / p.datasets_total());
  std::string bar = "[" + std::string(done, '=');
  if (done < bar_width) bar += ">" + std::string(bar_width - done - 1, ' ');
  bar += "]";
  return absl::StrCat(bar, "  ", counts);
}

void AddArchiveCommands(Registry& registry) {
  registry.nouns.push_back({"archive", "Noark 5 extraction packages of datasets (archivist)"});

  registry.commands.push_back(Command{
      "archive", "export", "", 0, 0, "export datasets as a Noark 5 package (archivist)",
      "Starts an export job and prints its id. The package holds each dataset as a case file\n"
      "(saksmappe): its metadata, every published version, its risk assessment and retirement,\n"
      "its readings of the period as CSV, and its audit trail in endringslogg.xml. It keeps the\n"
      "datasets' highest classification. A job is complete only after the package passed the\n"
      "Noark 5 checks (those of smartctl archive validate).\n\n"
      "--wait follows the job to its end (a progress bar on a terminal; quiet when piped);\n"
      "--out FILE also downloads the package there. Exit 1 when the job fails or is cancelled.\n"
      "--from/--to: RFC 3339, a date, or -7d style; default: from the oldest reading (or the\n"
      "dataset's creation, if earlier) until now. The series, document type, responsible unit\n"
      "and case handler default to the service's settings, the dataset owner's department\n"
      "and you.\n\n"
      "Examples:\n"
      "  smartctl archive export --dataset badetemperatur --from 2025-01-01 --to 2026-01-01\n"
      "  smartctl archive export --dataset parkering --dataset sykkel --out uttrekk.tar\n"
      "  smartctl archive export --dataset avfall --responsible-unit \"Renovasjon\" --wait",
      {{"dataset", 0, true, true, "DATASET", "a dataset to export (repeat for several; required)"},
       {"from", 0, true, false, "TIME", "readings from this time (inclusive)"},
       {"to", 0, true, false, "TIME", "readings until this time (exclusive)"},
       {"arkivdel", 0, true, false, "TITLE", "the series (arkivdel) the case files go in"},
       {"document-type", 0, true, false, "TYPE", "dokumenttype of the documents"},
       {"responsible-unit", 0, true, false, "UNIT", "administrativEnhet of the case files"},
       {"case-handler", 0, true, false, "NAME", "saksbehandler of the case files"},
       {"wait", 0, false, false, "", "follow the job until it has ended"},
       {"out", 0, true, false, "FILE", "wait, then download the package to FILE"}},
      ArchiveExport});

  registry.commands.push_back(Command{
      "archive", "jobs", "", 0, 0, "list export jobs, newest first",
      "Lists the export jobs you may see (archivist; the class of each must be within your\n"
      "clearance).\n\n"
      "Examples:\n"
      "  smartctl archive jobs\n"
      "  smartctl archive jobs --limit 5 -o json",
      {{"limit", 0, true, false, "N", "at most N jobs (default 50)"}},
      ArchiveJobs});

  registry.commands.push_back(Command{
      "archive", "status", "JOB", 1, 1, "show one export job",
      "State, progress, the package's size and SHA-256 once it has succeeded, or why it\n"
      "failed.\n\n"
      "Examples:\n"
      "  smartctl archive status 0d7c2b7e-4a4c-4f7e-8d43-3f1b6f2c9a10",
      {},
      ArchiveStatus});

  registry.commands.push_back(Command{
      "archive", "cancel", "JOB", 1, 1, "stop a queued or running export",
      "Stops the job and removes what it had written. A job that has ended cannot be\n"
      "cancelled (exit 1).\n\n"
      "Examples:\n"
      "  smartctl archive cancel 0d7c2b7e-4a4c-4f7e-8d43-3f1b6f2c9a10",
      {},
      ArchiveCancel});

  registry.commands.push_back(Command{
      "archive", "fetch", "JOB", 1, 1, "download a finished package",
      "Streams the package (a TAR file) of a succeeded job to --out, through FILE.partial,\n"
      "and checks it against the SHA-256 the service recorded before renaming it.\n\n"
      "Examples:\n"
      "  smartctl archive fetch 0d7c2b7e-4a4c-4f7e-8d43-3f1b6f2c9a10 --out uttrekk.tar",
      {{"out", 0, true, false, "FILE", "where to write the package (required)"}},
      ArchiveFetch});

  registry.commands.push_back(Command{
      "archive", "push", "JOB", 1, 1, "push a finished package into the Noark 5 core",
      "Creates the package's case files in the municipality's Noark 5 core (the archive's\n"
      "--noark5_core_url): a saksmappe per dataset with its journalposter, documents and files,\n"
      "through the core's tjenestegrensesnitt. Waits until the push has ended and prints the\n"
      "saksmapper's systemIDs. Only a succeeded export can be pushed, and only once; a failed\n"
      "push can be run again and skips what the core already has.\n\n"
      "Examples:\n"
      "  smartctl archive push 0d7c2b7e-4a4c-4f7e-8d43-3f1b6f2c9a10",
      {},
      ArchivePush});

  registry.commands.push_back(Command{
      "archive", "validate", "FILE", 1, 1, "check a Noark 5 package on disk",
      "Runs the Arkade 5 checks on a package (a TAR, or a directory holding\n"
      "arkivuttrekk.xml), made here or by another system, without any service: required\n"
      "files (N5.01), ADDML checksums (N5.02), schema validity (N5.03), counts (N5.10, N5.16,\n"
      "N5.28), document checksums (N5.30), referenced and unreferenced files (N5.32, N5.33),\n"
      "unique systemIDs (N5.47), endringslogg references (N5.62), no empty elements (N5.63).\n"
      "Prints one line per check with its findings; exit 1 when any fails.\n"
      "The official XSDs come from --xsd-dir, else $SMARTCTL_NOARK5_XSD_DIR, else the copy\n"
      "smartctl was built with.\n\n"
      "Examples:\n"
      "  smartctl archive validate uttrekk.tar\n"
      "  smartctl archive validate ./uttrekk/ --xsd-dir /usr/share/smartby/noark5-xsd",
      {{"xsd-dir", 0, true, false, "DIR", "the official Noark 5 v5 and ADDML XSDs"}},
      ArchiveValidate});
}

}  // namespace smartby::smartctl
