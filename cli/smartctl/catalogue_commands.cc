// The catalogue's nouns: `dataset`, `resource` and `catalogue`, all against
// smartcity.catalogue.v1.CatalogueService.
#include "cli/smartctl/catalogue_commands.h"

#include <google/protobuf/util/field_mask_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/dataset_file.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/output.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"

namespace smartby::smartctl {
namespace {

namespace v1 = smartcity::catalogue::v1;
using smartcity::common::v1::Classification;
using Stub = v1::CatalogueService::Stub;

// A connection to the catalogue and its stub.
struct CatalogueConnection {
  std::unique_ptr<ServiceClient> client;
  std::unique_ptr<Stub> stub;
};

absl::StatusOr<CatalogueConnection> ConnectCatalogue(CommandContext& context) {
  absl::StatusOr<std::unique_ptr<ServiceClient>> client = context.Connect("catalogue");
  if (!client.ok()) return client.status();
  CatalogueConnection connection;
  connection.stub = v1::CatalogueService::NewStub((*client)->channel());
  connection.client = std::move(*client);
  return connection;
}

// Adds a hint to a failure the catalogue reported, where a person would want one.
absl::Status Explain(absl::Status status, const std::string& dataset) {
  if (status.ok() || ExitCodeOf(status) != kExitFailed || !HintOf(status).empty()) return status;
  const std::string name = dataset.empty() ? "NAME" : dataset;
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return WithHint(status,
                      "see the names with smartctl dataset list, or find one with "
                      "smartctl dataset search WORDS");
    case absl::StatusCode::kAborted:
      return WithHint(
          status,
          absl::StrCat("the dataset changed since you read it; get it again (smartctl dataset get ",
                       name, ") and retry, or leave out --version to change the current version"));
    case absl::StatusCode::kAlreadyExists:
      return WithHint(status, absl::StrCat("change it with smartctl dataset update ", name,
                                           ", or use smartctl dataset apply -f FILE, which "
                                           "creates or updates"));
    case absl::StatusCode::kFailedPrecondition:
      if (absl::StrContains(message, "(ROS)")) {
        // Personal data needs the DPIA too; say so now rather than after the next refusal.
        const bool personal = absl::StrContains(message, "personal data");
        return WithHint(status, absl::StrCat("record it first: smartctl dataset update ", name,
                                             " --ros REFERENCE --ros-date YYYY-MM-DD",
                                             personal ? " --dpia REFERENCE" : ""));
      }
      if (absl::StrContains(message, "(DPIA)")) {
        return WithHint(status, absl::StrCat("record it first: smartctl dataset update ", name,
                                             " --dpia REFERENCE"));
      }
      return status;
    case absl::StatusCode::kDeadlineExceeded:
      return WithHint(status, "give it longer with --timeout, e.g. --timeout 1m");
    default:
      return status;
  }
}

template <typename Request, typename Response>
absl::StatusOr<Response> Call(CatalogueConnection& c,
                              grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                           Response*),
                              const Request& request, const std::string& dataset = "") {
  absl::StatusOr<Response> response = c.client->Call(*c.stub, method, request);
  if (!response.ok()) return Explain(response.status(), dataset);
  return response;
}

// Connects to the catalogue and makes one call: for the commands that need no more than that.
template <typename Request, typename Response>
absl::StatusOr<Response> ConnectAndCall(CommandContext& context,
                                        grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                     const Request&, Response*),
                                        const Request& request, const std::string& dataset = "") {
  absl::StatusOr<CatalogueConnection> c = ConnectCatalogue(context);
  if (!c.ok()) return c.status();
  return Call(*c, method, request, dataset);
}

// ---- flag values --------------------------------------------------------------------------

absl::StatusOr<google::protobuf::Timestamp> ParseDate(const std::string& flag,
                                                      const std::string& text) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &time, &error) &&
      !absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return UsageError(absl::StrCat("--", flag, ": \"", text,
                                   "\" is not a date; write 2026-01-31 or "
                                   "2026-01-31T12:00:00Z"));
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(time));
  return ts;
}

template <typename Enum>
absl::StatusOr<Enum> EnumFlag(const ParsedFlags& flags, const std::string& flag,
                              const google::protobuf::EnumDescriptor* type,
                              bool keep_case = false) {
  absl::StatusOr<int> value = ParseEnumValue(type, flags.Get(flag), "--" + flag, keep_case);
  if (!value.ok()) return value.status();
  return static_cast<Enum>(*value);
}

// The version a command was told to expect (--version), or 0 for "whatever is current". A
// malformed value is a usage error of the command.
absl::StatusOr<int64_t> VersionFlag(const CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  if (!flags.Has("version")) return 0;
  absl::StatusOr<int64_t> version = ParseIntFlag("version", flags.Get("version"), 1);
  if (!version.ok()) return WithUsage(version.status(), UsageText(context.command()));
  return version;
}

// ---- output ---------------------------------------------------------------------------------

// With -o json or -o yaml, prints `message` for scripts and returns true; with -o table returns
// false and leaves the printing to the caller.
bool PrintedForScripts(CommandContext& context, const google::protobuf::Message& message) {
  if (context.output() == OutputFormat::kTable) return false;
  PrintMessage(message, context.output(), context.out());
  return true;
}

std::string ClassificationText(int c) {
  return ShortEnumName(smartcity::common::v1::Classification_descriptor(), c);
}
std::string StateText(int s) { return ShortEnumName(v1::DatasetState_descriptor(), s); }

std::string ThemesText(const v1::Dataset& d) {
  std::vector<std::string> themes;
  for (int t : d.themes()) themes.push_back(ShortEnumName(v1::Theme_descriptor(), t, true));
  return absl::StrJoin(themes, ", ");
}

// A facet value as people read it: THEME_ENVI -> ENVI, CLASSIFICATION_OPEN -> open.
std::string FacetText(const std::string& value) {
  if (absl::StartsWith(value, "THEME_")) return value.substr(6);
  if (absl::StartsWith(value, "CLASSIFICATION_")) {
    const auto* v = smartcity::common::v1::Classification_descriptor()->FindValueByName(value);
    if (v != nullptr) return ClassificationText(v->number());
  }
  return value;
}

std::string ResourceLocation(const v1::Resource& r) {
  return r.access_url().empty() ? absl::StrCat("stream:", r.ingestion_stream()) : r.access_url();
}

void PrintResources(const google::protobuf::RepeatedPtrField<v1::Resource>& resources,
                    std::ostream& out) {
  Table table({"ID", "TITLE", "FORMAT", "MEDIA TYPE", "SIZE", "LOCATION"});
  for (const auto& r : resources) {
    table.AddRow({r.id(), r.title(), r.format(), r.media_type(),
                  r.byte_size() > 0 ? absl::StrCat(r.byte_size()) : "", ResourceLocation(r)});
  }
  table.Print(out);
}

void PrintDatasetDetails(const v1::Dataset& d, std::ostream& out) {
  Details details;
  details.Add("Name", d.name());
  details.Add("Title", d.title());
  if (!d.description().empty()) details.Add("Description", d.description());
  std::string owner = d.owner().organization();
  if (!d.owner().department().empty()) absl::StrAppend(&owner, " / ", d.owner().department());
  if (!d.owner().organization_number().empty()) {
    absl::StrAppend(&owner, " (", d.owner().organization_number(), ")");
  }
  details.Add("Owner", owner);
  if (!d.contact_point().name().empty() || !d.contact_point().email().empty()) {
    details.Add("Contact", absl::StrJoin(std::vector<std::string>{d.contact_point().name(),
                                                                  d.contact_point().email()},
                                         " "));
  }
  details.Add("Classification", ClassificationText(d.classification()));
  details.Add("Personal data", d.contains_personal_data() ? "yes" : "no");
  details.Add("State", StateText(d.state()));
  details.Add("Version", absl::StrCat(d.version()));
  if (!d.license().empty()) details.Add("License", d.license());
  if (d.themes_size() > 0) details.Add("Themes", ThemesText(d));
  if (d.keywords_size() > 0) details.Add("Keywords", absl::StrJoin(d.keywords(), ", "));
  if (d.update_frequency() != 0) {
    details.Add("Frequency", ShortEnumName(v1::UpdateFrequency_descriptor(), d.update_frequency()));
  }
  if (!d.spatial().place_name().empty()) details.Add("Place", d.spatial().place_name());
  const auto& ros = d.risk_assessment();
  if (!ros.reference().empty() || !ros.dpia_reference().empty()) {
    std::string text = ros.reference().empty() ? "(none)" : ros.reference();
    if (ros.has_assessed_time())
      absl::StrAppend(&text, ", assessed ", FormatTime(ros.assessed_time()));
    if (!ros.dpia_reference().empty()) absl::StrAppend(&text, "; DPIA ", ros.dpia_reference());
    details.Add("Risk assessment", text);
  } else {
    details.Add("Risk assessment", "(none)");
  }
  details.Add("Created", absl::StrCat(FormatTime(d.create_time()), " by ", d.created_by()));
  details.Add("Updated", absl::StrCat(FormatTime(d.update_time()), " by ", d.updated_by()));
  if (d.has_publish_time()) details.Add("Published", FormatTime(d.publish_time()));
  details.Print(out);
  if (d.fields_size() > 0) {
    out << "\nFields:\n";
    Table table({"NAME", "TYPE", "UNIT", "DESCRIPTION"});
    for (const auto& f : d.fields()) {
      table.AddRow({f.name(), ShortEnumName(v1::FieldType_descriptor(), f.type()), f.unit(),
                    f.description()});
    }
    table.Print(out);
  }
  if (d.resources_size() > 0) {
    out << "\nResources:\n";
    PrintResources(d.resources(), out);
  }
}

// After a change: a line for people, or the dataset for scripts.
void ReportDataset(CommandContext& context, const v1::Dataset& d, const std::string& done) {
  if (PrintedForScripts(context, d)) return;
  context.out() << "dataset " << d.name() << " " << done << " (version " << d.version() << ", "
                << StateText(d.state()) << ")\n";
}

// ---- reading a dataset from -f and flags ------------------------------------------------------

absl::StatusOr<DatasetDocument> ReadOneDataset(CommandContext& context) {
  absl::StatusOr<std::vector<DatasetDocument>> docs = ReadDatasetFile(context.flags().Get("file"));
  if (!docs.ok()) return docs.status();
  if (docs->size() != 1) {
    return LocalError(absl::StrCat(context.flags().Get("file"), " holds ", docs->size(),
                                   " datasets; use smartctl dataset apply -f for several"));
  }
  return std::move((*docs)[0]);
}

// ---- dataset commands ------------------------------------------------------------------------

absl::Status CreateDataset(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  v1::Dataset dataset;
  if (flags.Has("file")) {
    absl::StatusOr<DatasetDocument> doc = ReadOneDataset(context);
    if (!doc.ok()) return doc.status();
    dataset = doc->dataset;
  }
  if (!context.args().empty()) {
    const std::string& name = context.args()[0];
    if (!dataset.name().empty() && dataset.name() != name) {
      return context.Usage(absl::StrCat("the name \"", name, "\" differs from the file's \"",
                                        dataset.name(), "\"; give one of them"));
    }
    dataset.set_name(name);
  }
  if (dataset.name().empty()) {
    return context.Usage("missing NAME (or a file with -f whose dataset has a name)");
  }
  std::set<std::string> paths;
  SMARTCTL_RETURN_IF_ERROR(
      WithUsage(ApplyDatasetFlags(flags, &dataset, &paths), UsageText(context.command())));
  if (dataset.title().empty()) {
    return context.Usage("missing --title (every dataset needs a title)");
  }
  // State, version and times are the catalogue's; a file may carry them (e.g. from get -o yaml).
  dataset.clear_state();
  dataset.clear_version();

  v1::CreateDatasetRequest request;
  *request.mutable_dataset() = dataset;
  absl::StatusOr<v1::Dataset> created =
      ConnectAndCall(context, &Stub::CreateDataset, request, dataset.name());
  if (!created.ok()) return created.status();
  ReportDataset(context, *created, "created");
  return absl::OkStatus();
}

absl::Status GetDataset(CommandContext& context) {
  v1::GetDatasetRequest request;
  request.set_name(context.args()[0]);
  absl::StatusOr<v1::Dataset> dataset =
      ConnectAndCall(context, &Stub::GetDataset, request, request.name());
  if (!dataset.ok()) return dataset.status();
  if (!PrintedForScripts(context, *dataset)) PrintDatasetDetails(*dataset, context.out());
  return absl::OkStatus();
}

// Sets the filters list and search share (--owner, --classification, --state, --theme,
// --page-size, --page-token) on a ListDatasetsRequest or a SearchDatasetsRequest.
template <typename Request>
absl::Status SetFilters(const ParsedFlags& flags, Request& request) {
  request.set_owner_organization(flags.Get("owner"));
  if (flags.Has("classification")) {
    absl::StatusOr<Classification> c = EnumFlag<Classification>(
        flags, "classification", smartcity::common::v1::Classification_descriptor());
    if (!c.ok()) return c.status();
    request.set_classification(*c);
  }
  if (flags.Has("state")) {
    absl::StatusOr<v1::DatasetState> s =
        EnumFlag<v1::DatasetState>(flags, "state", v1::DatasetState_descriptor());
    if (!s.ok()) return s.status();
    request.set_state(*s);
  }
  if (flags.Has("theme")) {
    absl::StatusOr<v1::Theme> t = EnumFlag<v1::Theme>(flags, "theme", v1::Theme_descriptor(), true);
    if (!t.ok()) return t.status();
    request.set_theme(*t);
  }
  if (flags.Has("page-size")) {
    absl::StatusOr<int64_t> n = ParseIntFlag("page-size", flags.Get("page-size"), 1);
    if (!n.ok()) return n.status();
    request.set_page_size(static_cast<int32_t>(std::min<int64_t>(*n, 1000)));
  }
  request.set_page_token(flags.Get("page-token"));
  return absl::OkStatus();
}

absl::Status ListDatasets(CommandContext& context) {
  v1::ListDatasetsRequest request;
  SMARTCTL_RETURN_IF_ERROR(
      WithUsage(SetFilters(context.flags(), request), UsageText(context.command())));
  const bool all = context.flags().GetBool("all");
  absl::StatusOr<CatalogueConnection> c = ConnectCatalogue(context);
  if (!c.ok()) return c.status();

  v1::ListDatasetsResponse result;
  while (true) {
    absl::StatusOr<v1::ListDatasetsResponse> page = Call(*c, &Stub::ListDatasets, request);
    if (!page.ok()) return page.status();
    for (auto& d : *page->mutable_datasets()) *result.add_datasets() = std::move(d);
    result.set_total_size(page->total_size());
    result.set_next_page_token(page->next_page_token());
    if (!all || page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }

  if (PrintedForScripts(context, result)) return absl::OkStatus();
  if (result.datasets().empty()) {
    context.err() << "no datasets found\n";
    return absl::OkStatus();
  }
  Table table({"NAME", "TITLE", "OWNER", "CLASSIFICATION", "STATE", "VERSION", "UPDATED"});
  for (const auto& d : result.datasets()) {
    table.AddRow({d.name(), d.title(), d.owner().organization(),
                  ClassificationText(d.classification()), StateText(d.state()),
                  absl::StrCat(d.version()), FormatTime(d.update_time())});
  }
  table.Print(context.out());
  if (!result.next_page_token().empty()) {
    context.err() << "showing " << result.datasets_size() << " of " << result.total_size()
                  << "; add --all for every one, or --page-token " << result.next_page_token()
                  << " for the next page\n";
  }
  return absl::OkStatus();
}

void PrintFacets(const std::string& label,
                 const google::protobuf::RepeatedPtrField<v1::FacetCount>& facets,
                 Details& details) {
  if (facets.empty()) return;
  std::vector<std::string> parts;
  for (const auto& f : facets)
    parts.push_back(absl::StrCat(FacetText(f.value()), " (", f.count(), ")"));
  details.Add(label, absl::StrJoin(parts, ", "));
}

absl::Status SearchDatasets(CommandContext& context) {
  v1::SearchDatasetsRequest request;
  SMARTCTL_RETURN_IF_ERROR(
      WithUsage(SetFilters(context.flags(), request), UsageText(context.command())));
  request.set_query(absl::StrJoin(context.args(), " "));
  absl::StatusOr<v1::SearchDatasetsResponse> response =
      ConnectAndCall(context, &Stub::SearchDatasets, request);
  if (!response.ok()) return response.status();

  if (PrintedForScripts(context, *response)) return absl::OkStatus();
  if (response->hits().empty()) {
    context.err() << "no datasets match \"" << request.query() << "\"\n";
    return absl::OkStatus();
  }
  Table table({"NAME", "TITLE", "SCORE"});
  for (const auto& hit : response->hits()) {
    table.AddRow(
        {hit.dataset().name(), hit.dataset().title(), absl::StrFormat("%.3g", hit.score())});
  }
  table.Print(context.out());
  context.out() << "\n"
                << response->hits_size() << " of " << response->total_size() << " matches\n";
  Details facets;
  PrintFacets("Themes", response->theme_facets(), facets);
  PrintFacets("Owners", response->owner_facets(), facets);
  PrintFacets("Formats", response->format_facets(), facets);
  PrintFacets("Classifications", response->classification_facets(), facets);
  facets.Print(context.out());
  if (!response->next_page_token().empty()) {
    context.err() << "more: --page-token " << response->next_page_token() << "\n";
  }
  return absl::OkStatus();
}

absl::Status UpdateDataset(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  const std::string& name = context.args()[0];
  v1::Dataset dataset;
  std::set<std::string> paths;
  if (flags.Has("file")) {
    absl::StatusOr<DatasetDocument> doc = ReadOneDataset(context);
    if (!doc.ok()) return doc.status();
    if (!doc->dataset.name().empty() && doc->dataset.name() != name) {
      return context.Usage(absl::StrCat("the file is for dataset \"", doc->dataset.name(),
                                        "\", not \"", name, "\""));
    }
    dataset = doc->dataset;
    for (const auto& field : doc->fields) {
      if (MutableDatasetFields().count(field)) paths.insert(field);
    }
    if (doc->fields.count("resources")) {
      context.err() << "note: update leaves resources alone; change them with smartctl "
                       "resource, or use dataset apply\n";
    }
  }
  SMARTCTL_RETURN_IF_ERROR(
      WithUsage(ApplyDatasetFlags(flags, &dataset, &paths), UsageText(context.command())));
  if (paths.empty()) {
    return context.Usage("nothing to change: give the fields to change as flags, or -f FILE");
  }
  absl::StatusOr<int64_t> version = VersionFlag(context);
  if (!version.ok()) return version.status();

  absl::StatusOr<CatalogueConnection> c = ConnectCatalogue(context);
  if (!c.ok()) return c.status();
  if (*version == 0) {
    // No version given: change whatever is current (still safe against a change in between,
    // which the catalogue refuses with ABORTED).
    v1::GetDatasetRequest get;
    get.set_name(name);
    absl::StatusOr<v1::Dataset> current = Call(*c, &Stub::GetDataset, get, name);
    if (!current.ok()) return current.status();
    *version = current->version();
  }
  dataset.set_name(name);
  dataset.set_version(*version);
  v1::UpdateDatasetRequest request;
  *request.mutable_dataset() = dataset;
  for (const auto& path : paths) request.mutable_update_mask()->add_paths(path);
  absl::StatusOr<v1::Dataset> updated = Call(*c, &Stub::UpdateDataset, request, name);
  if (!updated.ok()) return updated.status();
  ReportDataset(context, *updated, "updated");
  return absl::OkStatus();
}

absl::Status PublishDataset(CommandContext& context) {
  absl::StatusOr<int64_t> version = VersionFlag(context);
  if (!version.ok()) return version.status();
  v1::PublishDatasetRequest request;
  request.set_name(context.args()[0]);
  request.set_version(*version);
  absl::StatusOr<v1::Dataset> d =
      ConnectAndCall(context, &Stub::PublishDataset, request, request.name());
  if (!d.ok()) return d.status();
  ReportDataset(context, *d, "published");
  return absl::OkStatus();
}

absl::Status RetireDataset(CommandContext& context) {
  absl::StatusOr<int64_t> version = VersionFlag(context);
  if (!version.ok()) return version.status();
  v1::RetireDatasetRequest request;
  request.set_name(context.args()[0]);
  request.set_version(*version);
  request.set_reason(context.flags().Get("reason"));
  absl::StatusOr<v1::Dataset> d =
      ConnectAndCall(context, &Stub::RetireDataset, request, request.name());
  if (!d.ok()) return d.status();
  ReportDataset(context, *d, "retired");
  return absl::OkStatus();
}

absl::Status DeleteDataset(CommandContext& context) {
  absl::StatusOr<int64_t> version = VersionFlag(context);
  if (!version.ok()) return version.status();
  v1::DeleteDatasetRequest request;
  request.set_name(context.args()[0]);
  request.set_version(*version);
  absl::StatusOr<v1::DeleteDatasetResponse> d =
      ConnectAndCall(context, &Stub::DeleteDataset, request, request.name());
  if (!d.ok()) return d.status();
  if (!PrintedForScripts(context, *d)) {
    context.out() << "dataset " << request.name() << " deleted\n";
  }
  return absl::OkStatus();
}

absl::Status DatasetHistory(CommandContext& context) {
  absl::StatusOr<CatalogueConnection> c = ConnectCatalogue(context);
  if (!c.ok()) return c.status();
  v1::ListDatasetHistoryRequest request;
  request.set_name(context.args()[0]);
  v1::ListDatasetHistoryResponse result;
  while (true) {
    absl::StatusOr<v1::ListDatasetHistoryResponse> page =
        Call(*c, &Stub::ListDatasetHistory, request, request.name());
    if (!page.ok()) return page.status();
    for (auto& change : *page->mutable_changes()) *result.add_changes() = std::move(change);
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (PrintedForScripts(context, result)) return absl::OkStatus();
  Table table({"VERSION", "TIME", "BY", "ACTION", "CHANGED"});
  for (const auto& change : result.changes()) {
    table.AddRow({absl::StrCat(change.version()), FormatTime(change.change_time()),
                  change.changed_by(), change.action(),
                  absl::StrJoin(change.changed_fields(), ",")});
  }
  table.Print(context.out());
  return absl::OkStatus();
}

// ---- apply -----------------------------------------------------------------------------------

bool SameResource(const v1::Resource& wanted, const v1::Resource& have) {
  v1::Resource a = wanted, b = have;
  a.clear_id();
  b.clear_id();
  if (a.media_type().empty()) b.clear_media_type();  // the catalogue derives it from format
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// Brings one dataset to what the file says. Prints one line per thing done.
absl::Status ApplyOne(CommandContext& context, CatalogueConnection& c, const DatasetDocument& doc) {
  const v1::Dataset& wanted = doc.dataset;
  const std::string& name = wanted.name();
  if (name.empty()) return LocalError(absl::StrCat(doc.origin, ": the dataset has no name"));

  v1::GetDatasetRequest get;
  get.set_name(name);
  absl::StatusOr<v1::Dataset> current = Call(c, &Stub::GetDataset, get, name);
  if (!current.ok() && !absl::IsNotFound(current.status())) return current.status();

  if (!current.ok()) {
    v1::CreateDatasetRequest create;
    *create.mutable_dataset() = wanted;
    create.mutable_dataset()->clear_state();
    create.mutable_dataset()->clear_version();
    current = Call(c, &Stub::CreateDataset, create, name);
    if (!current.ok()) return current.status();
    context.out() << name << " created\n";
  } else {
    bool changed = false;
    // Metadata: the mutable fields the file names, compared as the catalogue would merge them.
    google::protobuf::FieldMask mask;
    for (const auto& field : doc.fields) {
      if (MutableDatasetFields().count(field)) mask.add_paths(field);
    }
    v1::Dataset merged = *current;
    google::protobuf::util::FieldMaskUtil::MergeOptions options;
    options.set_replace_message_fields(true);
    options.set_replace_repeated_fields(true);
    google::protobuf::util::FieldMaskUtil::MergeMessageTo(wanted, mask, options, &merged);
    if (mask.paths_size() > 0 &&
        !google::protobuf::util::MessageDifferencer::Equals(merged, *current)) {
      v1::UpdateDatasetRequest update;
      *update.mutable_dataset() = wanted;
      update.mutable_dataset()->set_version(current->version());
      *update.mutable_update_mask() = mask;
      current = Call(c, &Stub::UpdateDataset, update, name);
      if (!current.ok()) return current.status();
      changed = true;
    }
    // Resources, when the file lists them: add the missing, remove the ones it no longer has.
    if (doc.fields.count("resources")) {
      std::vector<bool> kept(current->resources_size(), false);
      std::vector<const v1::Resource*> missing;
      for (const auto& r : wanted.resources()) {
        bool found = false;
        for (int i = 0; i < current->resources_size() && !found; ++i) {
          if (!kept[i] && SameResource(r, current->resources(i))) found = kept[i] = true;
        }
        if (!found) missing.push_back(&r);
      }
      int64_t version = current->version();
      for (int i = 0; i < current->resources_size(); ++i) {
        if (kept[i]) continue;
        v1::RemoveResourceRequest remove;
        remove.set_dataset_name(name);
        remove.set_resource_id(current->resources(i).id());
        remove.set_version(version++);
        SMARTCTL_RETURN_IF_ERROR(Call(c, &Stub::RemoveResource, remove, name).status());
        changed = true;
      }
      for (const v1::Resource* r : missing) {
        v1::AddResourceRequest add;
        add.set_dataset_name(name);
        *add.mutable_resource() = *r;
        add.mutable_resource()->clear_id();
        add.set_version(version++);
        SMARTCTL_RETURN_IF_ERROR(Call(c, &Stub::AddResource, add, name).status());
        changed = true;
      }
      if (changed) {
        current = Call(c, &Stub::GetDataset, get, name);
        if (!current.ok()) return current.status();
      }
    }
    context.out() << name << (changed ? " updated" : " unchanged") << "\n";
  }

  // State: publish (or retire) when the file asks for it and the dataset is not there yet.
  if (wanted.state() == v1::DATASET_STATE_PUBLISHED &&
      current->state() == v1::DATASET_STATE_DRAFT) {
    v1::PublishDatasetRequest publish;
    publish.set_name(name);
    publish.set_version(current->version());
    SMARTCTL_RETURN_IF_ERROR(Call(c, &Stub::PublishDataset, publish, name).status());
    context.out() << name << " published\n";
  } else if (wanted.state() == v1::DATASET_STATE_RETIRED &&
             current->state() != v1::DATASET_STATE_RETIRED) {
    v1::RetireDatasetRequest retire;
    retire.set_name(name);
    retire.set_version(current->version());
    SMARTCTL_RETURN_IF_ERROR(Call(c, &Stub::RetireDataset, retire, name).status());
    context.out() << name << " retired\n";
  }
  return absl::OkStatus();
}

absl::Status ApplyDatasets(CommandContext& context) {
  if (!context.flags().Has("file")) return context.Usage("missing -f FILE");
  absl::StatusOr<std::vector<DatasetDocument>> docs = ReadDatasetFile(context.flags().Get("file"));
  if (!docs.ok()) return docs.status();
  absl::StatusOr<CatalogueConnection> c = ConnectCatalogue(context);
  if (!c.ok()) return c.status();
  absl::Status first_failure;
  int failures = 0;
  for (const auto& doc : *docs) {
    absl::Status applied = ApplyOne(context, *c, doc);
    if (applied.ok()) continue;
    if (ExitCodeOf(applied) == kExitUnreachable) return applied;  // the rest would fail alike
    ++failures;
    // Say which dataset failed and go on with the others, as kubectl apply does.
    context.err() << doc.dataset.name() << " failed: " << applied.message() << "\n";
    if (std::string id = RequestIdOf(applied); !id.empty()) {
      context.err() << "(request id: " << id << ")\n";
    }
    if (first_failure.ok()) first_failure = applied;
  }
  if (failures > 0) {
    return WithHint(LocalError(absl::StrCat(failures, " of ", docs->size(),
                                            " datasets could not be applied (see above)")),
                    HintOf(first_failure));
  }
  return absl::OkStatus();
}

// ---- resources -------------------------------------------------------------------------------

absl::Status AddResource(CommandContext& context) {
  const ParsedFlags& flags = context.flags();
  v1::Resource resource;
  resource.set_title(flags.Get("title"));
  resource.set_format(absl::AsciiStrToUpper(flags.Get("format")));
  resource.set_access_url(flags.Get("url"));
  resource.set_ingestion_stream(flags.Get("stream"));
  resource.set_media_type(flags.Get("media-type"));
  resource.set_checksum_sha256(absl::AsciiStrToLower(flags.Get("sha256")));
  resource.set_description(flags.Get("description"));
  if (resource.title().empty()) return context.Usage("missing --title");
  if (resource.format().empty()) return context.Usage("missing --format (e.g. CSV, JSON)");
  if (resource.access_url().empty() == resource.ingestion_stream().empty()) {
    return context.Usage("give one of --url URL or --stream NAME");
  }
  if (flags.Has("size")) {
    absl::StatusOr<int64_t> size = ParseIntFlag("size", flags.Get("size"), 0);
    if (!size.ok()) return WithUsage(size.status(), UsageText(context.command()));
    resource.set_byte_size(*size);
  }
  absl::StatusOr<int64_t> version = VersionFlag(context);
  if (!version.ok()) return version.status();

  v1::AddResourceRequest request;
  request.set_dataset_name(context.args()[0]);
  *request.mutable_resource() = resource;
  request.set_version(*version);
  absl::StatusOr<v1::Resource> added =
      ConnectAndCall(context, &Stub::AddResource, request, request.dataset_name());
  if (!added.ok()) return added.status();
  if (!PrintedForScripts(context, *added)) {
    context.out() << "resource " << added->id() << " added to dataset " << request.dataset_name()
                  << "\n";
  }
  return absl::OkStatus();
}

absl::Status ListResources(CommandContext& context) {
  v1::ListResourcesRequest request;
  request.set_dataset_name(context.args()[0]);
  absl::StatusOr<v1::ListResourcesResponse> response =
      ConnectAndCall(context, &Stub::ListResources, request, request.dataset_name());
  if (!response.ok()) return response.status();
  if (PrintedForScripts(context, *response)) return absl::OkStatus();
  if (response->resources().empty()) {
    context.err() << "dataset " << request.dataset_name() << " has no resources\n";
  } else {
    PrintResources(response->resources(), context.out());
  }
  return absl::OkStatus();
}

absl::Status RemoveResource(CommandContext& context) {
  absl::StatusOr<int64_t> version = VersionFlag(context);
  if (!version.ok()) return version.status();
  v1::RemoveResourceRequest request;
  request.set_dataset_name(context.args()[0]);
  request.set_resource_id(context.args()[1]);
  request.set_version(*version);
  absl::StatusOr<v1::RemoveResourceResponse> response =
      ConnectAndCall(context, &Stub::RemoveResource, request, request.dataset_name());
  if (!response.ok()) return response.status();
  if (!PrintedForScripts(context, *response)) {
    context.out() << "resource " << request.resource_id() << " removed from dataset "
                  << request.dataset_name() << "\n";
  }
  return absl::OkStatus();
}

// ---- catalogue export ------------------------------------------------------------------------

absl::Status ExportCatalogue(CommandContext& context) {
  const std::string format = absl::AsciiStrToLower(context.flags().Get("format", "turtle"));
  if (format != "turtle" && format != "ttl") {
    return context.Usage(absl::StrCat("--format: \"", format, "\" is not supported; use turtle"));
  }
  v1::ExportCatalogueRequest request;
  request.set_format(v1::EXPORT_FORMAT_TURTLE);
  absl::StatusOr<v1::ExportCatalogueResponse> response =
      ConnectAndCall(context, &Stub::ExportCatalogue, request);
  if (!response.ok()) return response.status();
  if (PrintedForScripts(context, *response)) return absl::OkStatus();
  const std::string path = context.flags().Get("output-file");
  if (path.empty() || path == "-") {
    context.out() << response->content();
    return absl::OkStatus();
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << response->content();
  file.close();
  if (!file) return LocalError(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
  context.err() << "wrote " << response->dataset_count() << " datasets to " << path << "\n";
  return absl::OkStatus();
}

// ---- registration ----------------------------------------------------------------------------

std::vector<FlagSpec> DatasetFlags() {
  return {
      {"file", 'f', true, false, "FILE", "read the dataset from a YAML or JSON file"},
      {"title", 0, true, false, "TITLE", "title people see"},
      {"description", 0, true, false, "TEXT", "what the data is and how it is made"},
      {"owner", 0, true, false, "ORG", "owning organisation, e.g. \"Stavanger kommune\""},
      {"department", 0, true, false, "DEPT", "owning department"},
      {"org-number", 0, true, false, "NUMBER", "owner's organisation number (9 digits)"},
      {"contact-name", 0, true, false, "NAME", "contact point's name"},
      {"contact-email", 0, true, false, "EMAIL", "contact point's e-mail"},
      {"license", 0, true, false, "ID", "license, e.g. NLOD-2.0, CC-BY-4.0, CC0-1.0"},
      {"classification", 0, true, false, "CLASS",
       "open, internal, protected or strictly-protected (åpen, intern, beskyttet, ...)"},
      {"personal-data", 0, false, false, "",
       "the data contains personal data (--personal-data=false to clear)"},
      {"theme", 0, true, true, "THEME",
       "EU data theme: AGRI, ECON, EDUC, ENER, ENVI, GOVE, HEAL, "
       "INTR, JUST, REGI, SOCI, TECH, TRAN"},
      {"keyword", 0, true, true, "WORD", "keyword for search"},
      {"frequency", 0, true, false, "FREQ",
       "continuous, hourly, daily, weekly, monthly, quarterly, annual, irregular, never"},
      {"place", 0, true, false, "NAME", "place the data covers, e.g. Stavanger"},
      {"field", 0, true, true, "NAME:TYPE[:UNIT[:DESCRIPTION]]",
       "a schema field; TYPE is string, integer, double, boolean, timestamp or geopoint"},
      {"ros", 0, true, false, "REF", "case/document number of the risk assessment (ROS)"},
      {"ros-date", 0, true, false, "DATE", "when the ROS was made, e.g. 2026-01-31"},
      {"dpia", 0, true, false, "REF", "reference of the DPIA (needed for personal data)"},
  };
}

FlagSpec VersionFlagSpec() {
  return {"version", 0,   true,
          false,     "N", "the version you read; refused if the dataset has changed since"};
}

std::vector<FlagSpec> FilterFlags() {
  return {
      {"owner", 0, true, false, "ORG", "only datasets of this organisation"},
      {"classification", 0, true, false, "CLASS", "only this class"},
      {"state", 0, true, false, "STATE", "draft, published or retired"},
      {"theme", 0, true, false, "THEME", "only datasets with this theme, e.g. ENVI"},
      {"page-size", 0, true, false, "N", "how many per page"},
      {"page-token", 0, true, false, "TOKEN", "continue from where an earlier page ended"},
  };
}

}  // namespace

const std::set<std::string>& MutableDatasetFields() {
  static const auto* fields = new std::set<std::string>{"title",
                                                        "description",
                                                        "owner",
                                                        "contact_point",
                                                        "license",
                                                        "classification",
                                                        "contains_personal_data",
                                                        "themes",
                                                        "keywords",
                                                        "spatial",
                                                        "temporal",
                                                        "update_frequency",
                                                        "fields",
                                                        "risk_assessment"};
  return *fields;
}

absl::StatusOr<v1::SchemaField> ParseFieldFlag(const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits(':', 3));
  if (parts.size() < 2 || parts[0].empty() || parts[1].empty()) {
    return UsageError(absl::StrCat("--field: \"", value,
                                   "\" is not NAME:TYPE[:UNIT[:DESCRIPTION]], e.g. "
                                   "temperature:double:°C:water temperature at 1 m"));
  }
  v1::SchemaField field;
  field.set_name(parts[0]);
  absl::StatusOr<int> type = ParseEnumValue(v1::FieldType_descriptor(), parts[1],
                                            absl::StrCat("--field ", parts[0], ": type"));
  if (!type.ok()) return type.status();
  field.set_type(static_cast<v1::FieldType>(*type));
  if (parts.size() > 2) field.set_unit(parts[2]);
  if (parts.size() > 3) field.set_description(parts[3]);
  return field;
}

absl::Status ApplyDatasetFlags(const ParsedFlags& flags, v1::Dataset* d,
                               std::set<std::string>* paths) {
  // `target` is only called for flags that were given, so that no empty sub-message appears.
  auto text = [&](const char* flag, const char* path, const std::function<std::string*()>& target) {
    if (!flags.Has(flag)) return;
    *target() = flags.Get(flag);
    paths->insert(path);
  };
  text("title", "title", [&] { return d->mutable_title(); });
  text("description", "description", [&] { return d->mutable_description(); });
  text("owner", "owner.organization", [&] { return d->mutable_owner()->mutable_organization(); });
  text("department", "owner.department", [&] { return d->mutable_owner()->mutable_department(); });
  text("org-number", "owner.organization_number",
       [&] { return d->mutable_owner()->mutable_organization_number(); });
  text("contact-name", "contact_point.name",
       [&] { return d->mutable_contact_point()->mutable_name(); });
  text("contact-email", "contact_point.email",
       [&] { return d->mutable_contact_point()->mutable_email(); });
  text("license", "license", [&] { return d->mutable_license(); });
  text("place", "spatial.place_name", [&] { return d->mutable_spatial()->mutable_place_name(); });
  text("ros", "risk_assessment.reference",
       [&] { return d->mutable_risk_assessment()->mutable_reference(); });
  text("dpia", "risk_assessment.dpia_reference",
       [&] { return d->mutable_risk_assessment()->mutable_dpia_reference(); });
  if (flags.Has("classification")) {
    absl::StatusOr<Classification> c = EnumFlag<Classification>(
        flags, "classification", smartcity::common::v1::Classification_descriptor());
    if (!c.ok()) return c.status();
    d->set_classification(*c);
    paths->insert("classification");
  }
  if (flags.Has("personal-data")) {
    d->set_contains_personal_data(flags.GetBool("personal-data"));
    paths->insert("contains_personal_data");
  }
  if (flags.Has("theme")) {
    d->clear_themes();
    for (const auto& theme : flags.GetAll("theme")) {
      absl::StatusOr<int> t = ParseEnumValue(v1::Theme_descriptor(), theme, "--theme", true);
      if (!t.ok()) return t.status();
      d->add_themes(static_cast<v1::Theme>(*t));
    }
    paths->insert("themes");
  }
  if (flags.Has("keyword")) {
    d->clear_keywords();
    for (const auto& keyword : flags.GetAll("keyword")) d->add_keywords(keyword);
    paths->insert("keywords");
  }
  if (flags.Has("frequency")) {
    absl::StatusOr<v1::UpdateFrequency> f =
        EnumFlag<v1::UpdateFrequency>(flags, "frequency", v1::UpdateFrequency_descriptor());
    if (!f.ok()) return f.status();
    d->set_update_frequency(*f);
    paths->insert("update_frequency");
  }
  if (flags.Has("field")) {
    d->clear_fields();
    for (const auto& value : flags.GetAll("field")) {
      absl::StatusOr<v1::SchemaField> field = ParseFieldFlag(value);
      if (!field.ok()) return field.status();
      *d->add_fields() = *field;
    }
    paths->insert("fields");
  }
  if (flags.Has("ros-date")) {
    absl::StatusOr<google::protobuf::Timestamp> date = ParseDate("ros-date", flags.Get("ros-date"));
    if (!date.ok()) return date.status();
    *d->mutable_risk_assessment()->mutable_assessed_time() = *date;
    paths->insert("risk_assessment.assessed_time");
  }
  return absl::OkStatus();
}

void AddCatalogueCommands(Registry& registry) {
  registry.nouns.push_back({"dataset", "datasets in the catalogue: create, find, change, publish"});
  registry.nouns.push_back({"resource", "a dataset's distributions: files, APIs, live streams"});
  registry.nouns.push_back({"catalogue", "the catalogue as a whole (DCAT-AP-NO export)"});

  std::vector<FlagSpec> create_flags = DatasetFlags();
  registry.commands.push_back(Command{
      "dataset", "create", "NAME", 0, 1, "register a new dataset (as a draft)",
      "Registers a dataset in state draft at version 1. Give its fields as flags, or in a\n"
      "file with -f (YAML or JSON, the Dataset's fields; flags given too override the file).\n"
      "NAME is 2-100 characters of a-z, 0-9 and '-', starting with a letter; it cannot change.\n"
      "A title, an owner and a classification are required.\n\n"
      "Examples:\n"
      "  smartctl dataset create bathing-temperature --title \"Badetemperatur\" \\\n"
      "      --owner \"Stavanger kommune\" --classification open --theme ENVI \\\n"
      "      --keyword bading --frequency hourly --license NLOD-2.0 \\\n"
      "      --field time:timestamp --field temperature:double:°C:water temperature at 1 m\n"
      "  smartctl dataset create -f bathing-temperature.yaml\n\n"
      "A file looks like this (enum values as shown, or CLASSIFICATION_OPEN etc.):\n"
      "  name: bathing-temperature\n"
      "  title: Badetemperatur\n"
      "  owner: {organization: Stavanger kommune}\n"
      "  classification: open\n"
      "  themes: [ENVI]\n"
      "  fields:\n"
      "  - {name: temperature, type: double, unit: °C}",
      create_flags, CreateDataset});
  registry.commands.push_back(
      Command{"dataset",
              "get",
              "NAME",
              1,
              1,
              "show one dataset",
              "Examples:\n  smartctl dataset get bathing-temperature\n"
              "  smartctl dataset get bathing-temperature -o yaml > bathing-temperature.yaml",
              {},
              GetDataset});
  std::vector<FlagSpec> list_flags = FilterFlags();
  list_flags.push_back({"all", 0, false, false, "", "fetch every page, not just the first"});
  registry.commands.push_back(
      Command{"dataset", "list", "", 0, 0, "list datasets, by name",
              "Examples:\n  smartctl dataset list\n"
              "  smartctl dataset list --owner \"Stavanger kommune\" --state published --all\n"
              "  smartctl dataset list --classification open -o json",
              list_flags, ListDatasets});
  registry.commands.push_back(Command{
      "dataset", "search", "QUERY", 1, -1, "find datasets by words, best match first",
      "Searches titles, descriptions, keywords and field descriptions; every word must match\n"
      "(the last one as a prefix). Shows the hits and, below them, how the matches spread\n"
      "over themes, owners, formats and classes. -o json/yaml gives the whole response.\n\n"
      "Examples:\n  smartctl dataset search badetemperatur\n"
      "  smartctl dataset search luft kvalitet --theme ENVI --state published",
      FilterFlags(), SearchDatasets});
  std::vector<FlagSpec> update_flags = DatasetFlags();
  update_flags.push_back(VersionFlagSpec());
  registry.commands.push_back(Command{
      "dataset", "update", "NAME", 1, 1, "change some of a dataset's fields",
      "Changes only the fields given (as flags, or present in the -f file); the others stay.\n"
      "Repeatable flags (--theme, --keyword, --field) replace the whole list. Without\n"
      "--version the current version is read first; with --version the change is refused if\n"
      "the dataset has changed since you read that version.\n\n"
      "Examples:\n"
      "  smartctl dataset update bathing-temperature --description \"Målt hver time\"\n"
      "  smartctl dataset update bathing-temperature --ros ROS-2026-014 --ros-date 2026-01-31\n"
      "  smartctl dataset update bathing-temperature -f changes.yaml --version 4",
      update_flags, UpdateDataset});
  registry.commands.push_back(Command{
      "dataset",
      "publish",
      "NAME",
      1,
      1,
      "publish a draft",
      "A dataset that is not open, or that contains personal data, needs a risk assessment\n"
      "(ROS) first, and personal data a DPIA as well (see dataset update --ros/--dpia).\n\n"
      "Examples:\n  smartctl dataset publish bathing-temperature",
      {VersionFlagSpec()},
      PublishDataset});
  registry.commands.push_back(Command{
      "dataset",
      "retire",
      "NAME",
      1,
      1,
      "retire a dataset (it stays, read-only, with history)",
      "Examples:\n  smartctl dataset retire old-counts --reason \"replaced by traffic-counts\"",
      {{"reason", 0, true, false, "TEXT", "why, for the history"}, VersionFlagSpec()},
      RetireDataset});
  registry.commands.push_back(Command{"dataset",
                                      "delete",
                                      "NAME",
                                      1,
                                      1,
                                      "delete a draft (published datasets are retired)",
                                      "Examples:\n  smartctl dataset delete test-dataset",
                                      {VersionFlagSpec()},
                                      DeleteDataset});
  registry.commands.push_back(Command{
      "dataset",
      "history",
      "NAME",
      1,
      1,
      "every version of a dataset: when, who, what",
      "Examples:\n  smartctl dataset history bathing-temperature\n"
      "  smartctl dataset history bathing-temperature -o yaml   # with each version's fields",
      {},
      DatasetHistory});
  registry.commands.push_back(Command{
      "dataset",
      "apply",
      "",
      0,
      0,
      "create or update datasets from a file, idempotently",
      "For each dataset in the file: creates it when missing; otherwise changes the fields the\n"
      "file gives when they differ (state, version and times are ignored); and publishes it\n"
      "when the file says state: published and it is still a draft. Resources listed in the\n"
      "file are added or removed to match. Prints one line per dataset: NAME created, updated,\n"
      "unchanged or published. Running it twice changes nothing the second time.\n\n"
      "The file holds one dataset, a list (datasets: [...]), or several YAML documents\n"
      "separated by ---.\n\n"
      "Examples:\n  smartctl dataset apply -f demo/datasets.yaml",
      {{"file", 'f', true, false, "FILE", "YAML or JSON file with the datasets (- for stdin)"}},
      ApplyDatasets});

  registry.commands.push_back(Command{
      "resource",
      "add",
      "DATASET",
      1,
      1,
      "add a distribution to a dataset",
      "Examples:\n"
      "  smartctl resource add bathing-temperature --title \"Siste døgn\" --format CSV \\\n"
      "      --url https://data.stavanger.kommune.no/bading.csv\n"
      "  smartctl resource add bathing-temperature --title Live --format JSON --stream bathing",
      {{"title", 0, true, false, "TITLE", "title people see"},
       {"format", 0, true, false, "FORMAT", "CSV, JSON, GEOJSON, PDF, ZIP, ..."},
       {"url", 0, true, false, "URL", "where it is downloaded (http or https)"},
       {"stream", 0, true, false, "NAME", "the ingestion stream that carries it"},
       {"media-type", 0, true, false, "TYPE", "e.g. text/csv (derived from --format if left out)"},
       {"size", 0, true, false, "BYTES", "size in bytes"},
       {"sha256", 0, true, false, "HEX", "SHA-256 of the file, 64 hex digits"},
       {"description", 0, true, false, "TEXT", "what this distribution holds"},
       VersionFlagSpec()},
      AddResource});
  registry.commands.push_back(Command{"resource",
                                      "list",
                                      "DATASET",
                                      1,
                                      1,
                                      "list a dataset's distributions",
                                      "Examples:\n  smartctl resource list bathing-temperature",
                                      {},
                                      ListResources});
  registry.commands.push_back(
      Command{"resource",
              "remove",
              "DATASET RESOURCE_ID",
              2,
              2,
              "remove a distribution",
              "RESOURCE_ID is the ID column of smartctl resource list.\n\n"
              "Examples:\n  smartctl resource remove bathing-temperature r1a2b3c4d",
              {VersionFlagSpec()},
              RemoveResource});

  registry.commands.push_back(Command{
      "catalogue",
      "export",
      "",
      0,
      0,
      "the published open datasets as DCAT-AP-NO",
      "Writes the catalogue of published, open datasets as one DCAT-AP-NO document in\n"
      "Turtle, to standard output or --output-file.\n\n"
      "Examples:\n  smartctl catalogue export --format turtle > catalogue.ttl\n"
      "  smartctl catalogue export --output-file /srv/www/catalogue.ttl",
      {{"format", 0, true, false, "FORMAT", "turtle (the default and, today, the only one)"},
       {"output-file", 0, true, false, "FILE", "write here instead of standard output"}},
      ExportCatalogue});
}

}  // namespace smartby::smartctl
