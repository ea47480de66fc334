#include "services/archive/package_push.h"

#include <libxml/xmlreader.h>

#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/archive/noark5/package_check.h"
#include "services/archive/noark5/package_layout.h"
#include "services/archive/noark5/tar.h"
#include "services/archive/noark5/xml_source_reader.h"
#include "services/runtime/status.h"

namespace smartby::archive {
namespace {

// The media type to upload a document with: its formatDetaljer when that is one ("text/csv;
// UTF-8"), else from the PRONOM format the exporter writes.
std::string MediaTypeOf(const std::string& format, const std::string& details) {
  const std::string type(absl::StripAsciiWhitespace(details.substr(0, details.find(';'))));
  if (absl::StrContains(type, "/") && !absl::StrContains(type, " ")) return type;
  if (format == "x-fmt/18") return "text/csv";
  if (format == "fmt/817") return "application/json";
  if (format == "fmt/101") return "application/xml";
  return "application/octet-stream";
}

// Builds the case files from arkivstruktur.xml's elements, one event at a time.
class StructureReader {
 public:
  StructureReader(std::string tar_name, std::string prefix,
                  const std::map<std::string, noark5::TarMember>* members)
      : tar_name_(std::move(tar_name)), prefix_(std::move(prefix)), members_(members) {}

  void Start(const std::string& name) {
    if (name == "mappe") {
      // Only top-level mapper become saksmapper; a sub-folder's records join its parent.
      if (folder_depth_++ == 0) folder_.emplace();
    } else if (name == "registrering" && folder_) {
      entry_.emplace();
    } else if (name == "dokumentbeskrivelse" && entry_) {
      description_ = CoreDocument{};
    } else if (name == "dokumentobjekt" && description_) {
      object_.emplace();
    }
  }

  absl::Status End(const std::string& name, const std::string& parent, const std::string& text) {
    const std::string value(absl::StripAsciiWhitespace(text));
    if (object_ && parent == "dokumentobjekt") {
      if (name == "format") object_->format = value;
      if (name == "formatDetaljer") object_->details = value;
      if (name == "referanseDokumentfil") object_->reference = value;
    } else if (description_ && parent == "dokumentbeskrivelse") {
      if (name == "tittel") description_->title = value;
      if (name == "dokumenttype") description_->document_type = value;
      if (name == "tilknyttetRegistreringSom") {
        description_->main_document = value == "Hoveddokument";
      }
    } else if (entry_ && parent == "registrering") {
      if (name == "tittel") entry_->title = value;
      if (name == "journalposttype") entry_->journal_entry_type = value;
      if (name == "journalstatus") entry_->journal_status = value;
    } else if (folder_ && folder_depth_ == 1 && parent == "mappe") {
      if (name == "mappeID") folder_->mappe_id = value;
      if (name == "tittel") folder_->case_file.title = value;
      if (name == "beskrivelse") folder_->case_file.description = value;
      if (name == "administrativEnhet") folder_->case_file.responsible_unit = value;
      if (name == "saksansvarlig") folder_->case_file.case_handler = value;
    }

    if (name == "dokumentobjekt" && object_) {
      const std::string member =
          absl::StrCat(prefix_, noark5::DocumentMemberName(object_->reference));
      auto it = members_->find(member);
      if (it == members_->end()) {
        return absl::DataLossError(absl::StrCat(
            tar_name_, ": arkivstruktur.xml refers to ", object_->reference,
            " (referanseDokumentfil), which the package does not hold"));
      }
      CoreDocument document = *description_;
      document.format = object_->format;
      document.media_type = MediaTypeOf(object_->format, object_->details);
      document.file_offset = it->second.data_offset;
      document.file_size = static_cast<std::int64_t>(it->second.size);
      entry_->documents.push_back(std::move(document));
      object_.reset();
    } else if (name == "dokumentbeskrivelse") {
      description_.reset();
    } else if (name == "registrering" && entry_) {
      folder_->case_file.entries.push_back(*std::move(entry_));
      entry_.reset();
    } else if (name == "mappe" && folder_depth_ > 0 && --folder_depth_ == 0) {
      if (folder_->mappe_id.empty()) {
        return absl::DataLossError(absl::StrCat(tar_name_, ": a mappe in arkivstruktur.xml ",
                                                "(\"", folder_->case_file.title,
                                                "\") has no mappeID"));
      }
      case_files_.push_back(*std::move(folder_));
      folder_.reset();
    }
    return absl::OkStatus();
  }

  std::vector<PackageCaseFile> TakeCaseFiles() { return std::move(case_files_); }

 private:
  struct Object {
    std::string format, details, reference;
  };
  const std::string tar_name_;
  const std::string prefix_;  // the directory of arkivstruktur.xml inside the TAR
  const std::map<std::string, noark5::TarMember>* members_;
  int folder_depth_ = 0;
  std::optional<PackageCaseFile> folder_;
  std::optional<CoreRegistryEntry> entry_;
  std::optional<CoreDocument> description_;  // its title, type and role
  std::optional<Object> object_;
  std::vector<PackageCaseFile> case_files_;
};

}  // namespace

absl::StatusOr<std::vector<PackageCaseFile>> ReadPackageCaseFiles(
    const std::filesystem::path& package) {
  const std::string tar_name = package.string();
  ASSIGN_OR_RETURN(std::vector<noark5::TarMember> index, noark5::ReadTarIndex(package));
  std::map<std::string, noark5::TarMember> members;
  const noark5::TarMember* structure = nullptr;
  for (const noark5::TarMember& member : index) members[member.name] = member;
  for (const auto& [name, member] : members) {
    if (name == noark5::layout::kStructureFile ||
        absl::EndsWith(name, absl::StrCat("/", noark5::layout::kStructureFile))) {
      if (structure == nullptr || name.size() < structure->name.size()) structure = &member;
    }
  }
  if (structure == nullptr) {
    return absl::DataLossError(absl::StrCat(tar_name, " holds no ",
                                            noark5::layout::kStructureFile));
  }
  const std::string prefix =
      structure->name.substr(0, structure->name.size() - std::strlen(noark5::layout::kStructureFile));
  ASSIGN_OR_RETURN(std::unique_ptr<noark5::ByteSource> source,
                   noark5::OpenTarMember(package, *structure));
  noark5::XmlSourceReader xml(*source, structure->name,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  xmlTextReaderPtr reader = xml.get();
  if (reader == nullptr) {
    return absl::InternalError(absl::StrCat("libxml2 could not start reading ", tar_name));
  }
  StructureReader structure_reader(tar_name, prefix, &members);
  std::vector<std::pair<std::string, std::string>> open;  // element, its text so far
  absl::Status status = absl::OkStatus();
  auto end_element = [&] {
    const std::string parent = open.size() >= 2 ? open[open.size() - 2].first : "";
    status = structure_reader.End(open.back().first, parent, open.back().second);
    open.pop_back();
  };
  int result = 0;
  while (status.ok() && (result = xmlTextReaderRead(reader)) == 1) {
    const int type = xmlTextReaderNodeType(reader);
    if (type == XML_READER_TYPE_ELEMENT) {
      const char* local = reinterpret_cast<const char*>(xmlTextReaderConstLocalName(reader));
      open.emplace_back(local ? local : "", "");
      structure_reader.Start(open.back().first);
      if (xmlTextReaderIsEmptyElement(reader)) end_element();
    } else if (type == XML_READER_TYPE_END_ELEMENT) {
      if (!open.empty()) end_element();
    } else if (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA) {
      const char* value = reinterpret_cast<const char*>(xmlTextReaderConstValue(reader));
      if (!open.empty() && value != nullptr) open.back().second.append(value);
    }
  }
  RETURN_IF_ERROR(status);
  RETURN_IF_ERROR(xml.source_status());
  if (result < 0) {
    return absl::DataLossError(
        absl::StrCat(tar_name, ": ", structure->name, " is not well-formed XML"));
  }
  return structure_reader.TakeCaseFiles();
}

PackagePusher::PackagePusher(CorePushOptions options, std::shared_ptr<TokenProvider> tokens)
    : root_url_(options.root_url), client_(std::move(options), std::move(tokens)) {}

absl::Status PackagePusher::Push(const std::filesystem::path& package,
                                 const std::set<std::string>& already_pushed,
                                 const std::function<void(const v1::PushedCaseFile&)>& on_pushed) {
  ASSIGN_OR_RETURN(std::vector<PackageCaseFile> case_files, ReadPackageCaseFiles(package));
  for (PackageCaseFile& folder : case_files) {
    if (already_pushed.contains(folder.mappe_id)) continue;
    for (CoreRegistryEntry& entry : folder.case_file.entries) {
      for (CoreDocument& document : entry.documents) document.file = package;
    }
    absl::StatusOr<PushedCaseFile> pushed = client_.PushCaseFile(folder.case_file);
    if (!pushed.ok()) {
      return absl::Status(pushed.status().code(),
                          absl::StrCat("saksmappe ", folder.mappe_id, ": ",
                                       pushed.status().message()));
    }
    v1::PushedCaseFile record;
    record.set_mappe_id(folder.mappe_id);
    record.set_system_id(pushed->case_file);
    for (const std::string& id : pushed->registry_entries) record.add_registry_entries(id);
    for (const std::string& id : pushed->document_objects) record.add_document_objects(id);
    on_pushed(record);
  }
  return absl::OkStatus();
}

}  // namespace smartby::archive
