#include "services/archive/noark5/package_check.h"

#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlschemas.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "services/archive/noark5/hashing_file.h"
#include "services/archive/noark5/package_layout.h"
#include "services/archive/noark5/tar.h"
#include "services/archive/noark5/xml_source_reader.h"

namespace smartby::noark5 {

bool CheckReport::passed() const {
  return std::all_of(results.begin(), results.end(),
                     [](const CheckResult& result) { return result.passed; });
}

const CheckResult* CheckReport::Find(std::string_view id) const {
  for (const CheckResult& result : results) {
    if (result.id == id) return &result;
  }
  return nullptr;
}

std::string CheckReport::ToText() const {
  std::string text;
  for (const CheckResult& result : results) {
    absl::StrAppend(&text, result.passed ? "PASS " : "FAIL ", result.id, " ", result.name, "\n");
    for (const std::string& finding : result.findings)
      absl::StrAppend(&text, "     ", finding, "\n");
  }
  absl::StrAppend(&text, passed() ? "The package passed every check.\n"
                                  : "The package FAILED at least one check.\n");
  return text;
}

namespace {

namespace fs = std::filesystem;

// --- where the package's files are: a directory or a TAR ---------------------------------------

using CheckProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// Counts the bytes read through it, for progress reports.
class CountingSource final : public ByteSource {
 public:
  CountingSource(std::unique_ptr<ByteSource> inner, std::uint64_t& done, std::uint64_t total,
                 const CheckProgress& on_progress)
      : inner_(std::move(inner)), done_(done), total_(total), on_progress_(on_progress) {}
  absl::StatusOr<std::size_t> Read(char* buffer, std::size_t capacity) override {
    absl::StatusOr<std::size_t> got = inner_->Read(buffer, capacity);
    if (got.ok() && *got > 0) {
      done_ += *got;
      on_progress_(done_, total_);
    }
    return got;
  }

 private:
  std::unique_ptr<ByteSource> inner_;
  std::uint64_t& done_;
  std::uint64_t total_;
  const CheckProgress& on_progress_;
};

class PackageFiles {
 public:
  virtual ~PackageFiles() = default;
  // Paths relative to the package root ("dokumenter/a.csv"), regular files only, sorted.
  virtual const std::vector<std::string>& List() const = 0;
  virtual bool Exists(const std::string& relative) const = 0;
  virtual std::uint64_t TotalBytes() const = 0;

  absl::StatusOr<std::unique_ptr<ByteSource>> Open(const std::string& relative) const {
    absl::StatusOr<std::unique_ptr<ByteSource>> source = OpenUncounted(relative);
    if (!source.ok() || !on_progress_) return source;
    return std::make_unique<CountingSource>(std::move(*source), bytes_read_, TotalBytes(),
                                            on_progress_);
  }
  void set_progress(CheckProgress on_progress) { on_progress_ = std::move(on_progress); }

 protected:
  virtual absl::StatusOr<std::unique_ptr<ByteSource>> OpenUncounted(
      const std::string& relative) const = 0;

 private:
  CheckProgress on_progress_;
  mutable std::uint64_t bytes_read_ = 0;
};

class DirectoryFiles final : public PackageFiles {
 public:
  static absl::StatusOr<std::unique_ptr<DirectoryFiles>> Load(const fs::path& root) {
    auto files = std::unique_ptr<DirectoryFiles>(new DirectoryFiles(root));
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(root, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (it->is_regular_file()) {
        files->list_.push_back(it->path().lexically_relative(root).generic_string());
        files->total_bytes_ += it->file_size(error);
      }
    }
    if (error) {
      return absl::InternalError(absl::StrCat("listing ", root.string(), ": ", error.message()));
    }
    std::sort(files->list_.begin(), files->list_.end());
    files->set_.insert(files->list_.begin(), files->list_.end());
    return files;
  }
  const std::vector<std::string>& List() const override { return list_; }
  bool Exists(const std::string& relative) const override { return set_.contains(relative); }
  std::uint64_t TotalBytes() const override { return total_bytes_; }

 protected:
  absl::StatusOr<std::unique_ptr<ByteSource>> OpenUncounted(
      const std::string& relative) const override {
    return OpenFileSource(root_ / relative);
  }

 private:
  explicit DirectoryFiles(fs::path root) : root_(std::move(root)) {}
  fs::path root_;
  std::uint64_t total_bytes_ = 0;
  std::vector<std::string> list_;
  absl::flat_hash_set<std::string> set_;
};

class TarFiles final : public PackageFiles {
 public:
  TarFiles(fs::path tar, const std::vector<TarMember>& members, const std::string& prefix)
      : tar_(std::move(tar)) {
    for (const TarMember& member : members) {
      absl::string_view name = member.name;
      if (!absl::ConsumePrefix(&name, prefix) || name.empty()) continue;
      list_.emplace_back(name);
      members_[std::string(name)] = member;
      total_bytes_ += member.size;
    }
    std::sort(list_.begin(), list_.end());
  }
  const std::vector<std::string>& List() const override { return list_; }
  bool Exists(const std::string& relative) const override { return members_.contains(relative); }
  std::uint64_t TotalBytes() const override { return total_bytes_; }

 protected:
  absl::StatusOr<std::unique_ptr<ByteSource>> OpenUncounted(
      const std::string& relative) const override {
    auto it = members_.find(relative);
    if (it == members_.end()) {
      return absl::NotFoundError(absl::StrCat(relative, " is not in ", tar_.string()));
    }
    return OpenTarMember(tar_, it->second);
  }

 private:
  fs::path tar_;
  std::uint64_t total_bytes_ = 0;
  std::vector<std::string> list_;
  absl::flat_hash_map<std::string, TarMember> members_;
};

// The folder holding arkivuttrekk.xml (else arkivstruktur.xml), relative to `names`' root, with
// a trailing '/' (or empty for the top). nullopt when neither file is there.
std::optional<std::string> FindRoot(const std::vector<std::string>& names) {
  for (absl::string_view wanted : {layout::kAddmlFile, layout::kStructureFile}) {
    std::optional<std::string> best;
    for (const std::string& name : names) {
      const std::size_t slash = name.rfind('/');
      const absl::string_view base = slash == std::string::npos
                                         ? absl::string_view(name)
                                         : absl::string_view(name).substr(slash + 1);
      if (base != wanted) continue;
      std::string prefix = slash == std::string::npos ? "" : name.substr(0, slash + 1);
      if (!best || prefix.size() < best->size()) best = prefix;
    }
    if (best) return best;
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<PackageFiles>> OpenPackage(const fs::path& package) {
  std::error_code error;
  if (!fs::exists(package, error)) {
    return absl::NotFoundError(absl::StrCat("package ", package.string(), " does not exist"));
  }
  if (fs::is_directory(package, error)) {
    // A shallow search is enough for the layouts in use ("", "content/", "<uuid>/content/"),
    // and it keeps a mistaken path (say, /) from walking a whole disk.
    std::vector<std::string> names;
    for (auto it = fs::recursive_directory_iterator(package, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (it.depth() >= 3) it.disable_recursion_pending();
      if (it->is_regular_file())
        names.push_back(it->path().lexically_relative(package).generic_string());
    }
    std::optional<std::string> root = FindRoot(names);
    if (!root) {
      return absl::NotFoundError(absl::StrCat(
          "no ", layout::kAddmlFile, " or ", layout::kStructureFile, " in ", package.string(),
          " (looked up to three folders deep); is this a Noark 5 extraction package?"));
    }
    auto files = DirectoryFiles::Load(package / *root);
    if (!files.ok()) return files.status();
    return std::unique_ptr<PackageFiles>(std::move(*files));
  }
  if (!LooksLikeTar(package)) {
    return absl::InvalidArgumentError(
        absl::StrCat(package.string(), " is neither a folder nor a TAR file (no ustar header)"));
  }
  absl::StatusOr<std::vector<TarMember>> members = ReadTarIndex(package);
  if (!members.ok()) return members.status();
  std::vector<std::string> names;
  names.reserve(members->size());
  for (const TarMember& member : *members) names.push_back(member.name);
  std::optional<std::string> root = FindRoot(names);
  if (!root) {
    return absl::NotFoundError(absl::StrCat("no ", layout::kAddmlFile, " or ",
                                            layout::kStructureFile, " inside ", package.string(),
                                            "; is this a Noark 5 extraction package?"));
  }
  return std::unique_ptr<PackageFiles>(std::make_unique<TarFiles>(package, *members, *root));
}

// --- findings ---------------------------------------------------------------------------------

class Findings {
 public:
  void Add(std::string finding) {
    if (static_cast<int>(shown_.size()) < kMaxFindingsPerCheck) {
      shown_.push_back(std::move(finding));
    } else {
      ++hidden_;
    }
  }
  bool empty() const { return shown_.empty(); }
  CheckResult Result(std::string id, std::string name) {
    CheckResult result;
    result.id = std::move(id);
    result.name = std::move(name);
    result.passed = shown_.empty();
    result.findings = std::move(shown_);
    if (hidden_ > 0) {
      result.findings.push_back(absl::StrCat("... and ", hidden_, " more like these"));
    }
    return result;
  }

 private:
  std::vector<std::string> shown_;
  std::uint64_t hidden_ = 0;
};

// --- schemas ----------------------------------------------------------------------------------

void InitLibxml() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

struct SchemaDeleter {
  void operator()(xmlSchema* schema) const { xmlSchemaFree(schema); }
};
using SchemaPtr = std::unique_ptr<xmlSchema, SchemaDeleter>;

// Where libxml2's errors about one file go.
struct ErrorSink {
  Findings* findings;
  std::string file;  // prefix, e.g. "arkivstruktur.xml: "
  bool any = false;
};

void CollectError(void* context, xmlErrorPtr error) {
  if (error == nullptr) return;
  auto* sink = static_cast<ErrorSink*>(context);
  const std::string message(
      absl::StripTrailingAsciiWhitespace(error->message != nullptr ? error->message : ""));
  sink->any = true;
  sink->findings->Add(error->line > 0
                          ? absl::StrCat(sink->file, "line ", error->line, ": ", message)
                          : absl::StrCat(sink->file, message));
}

// The official schema file `name` in xsd_dir, either flat (as shipped) or in the shared
// fixtures' layout (noark5-v5.0/, addml-v8.3/).
std::optional<fs::path> FindSchema(const fs::path& xsd_dir, const std::string& name) {
  for (const fs::path& candidate :
       {xsd_dir / name, xsd_dir / "noark5-v5.0" / name, xsd_dir / "addml-v8.3" / name}) {
    std::error_code error;
    if (fs::is_regular_file(candidate, error)) return candidate;
  }
  return std::nullopt;
}

absl::StatusOr<SchemaPtr> LoadSchema(const fs::path& path) {
  Findings errors;
  ErrorSink sink{&errors, ""};
  xmlSchemaParserCtxtPtr parser = xmlSchemaNewParserCtxt(path.c_str());
  if (parser == nullptr) return absl::InternalError(absl::StrCat("cannot read ", path.string()));
  xmlSchemaSetParserStructuredErrors(parser, CollectError, &sink);
  SchemaPtr schema(xmlSchemaParse(parser));
  xmlSchemaFreeParserCtxt(parser);
  if (!schema) {
    return absl::FailedPreconditionError(
        absl::StrCat("the schema ", path.string(),
                     " does not compile: ", absl::StrJoin(errors.Result("", "").findings, "; ")));
  }
  return schema;
}

// --- one streaming pass over an XML file --------------------------------------------------------

// What a pass sees; file-specific visitors pick what they need.
struct XmlEvent {
  enum Kind { kStart, kEnd } kind;
  absl::string_view name;                // local name
  const std::vector<std::string>* path;  // local names from the root down to this element
  absl::string_view text;                // for kEnd of a leaf: its text (capped), else empty
  absl::string_view xsi_type;            // for kStart
  absl::string_view name_attribute;      // for kStart: the attribute "name" (ADDML)
  int line = 0;
};

struct ValidationDeleter {
  void operator()(xmlSchemaValidCtxt* validation) const { xmlSchemaFreeValidCtxt(validation); }
};
using ValidationPtr = std::unique_ptr<xmlSchemaValidCtxt, ValidationDeleter>;

constexpr std::size_t kMaxLeafText = 64 * 1024;

// The line of the reader's current node. libxml2 stores node lines in 16 bits; beyond that the
// parser's position (a little ahead of the node, as the reader parses in chunks) is the best
// there is.
int NodeLine(xmlTextReaderPtr reader) {
  constexpr long kLibxmlLineLimit = 65535;
  xmlNodePtr node = xmlTextReaderCurrentNode(reader);
  const long line = node != nullptr ? xmlGetLineNo(node) : -1;
  if (line > 0 && line < kLibxmlLineLimit) return static_cast<int>(line);
  return xmlTextReaderGetParserLineNumber(reader);
}

// Reads `file` once: validates against `schema` (when given) into `schema_findings`, adds empty
// elements to `empty_findings`, and calls `visit` for each element start and end.
void ScanXml(const PackageFiles& files, const std::string& file, xmlSchema* schema,
             Findings& schema_findings, Findings& empty_findings,
             const std::function<void(const XmlEvent&)>& visit) {
  ErrorSink errors{&schema_findings, absl::StrCat(file, ": ")};
  absl::StatusOr<std::unique_ptr<ByteSource>> source = files.Open(file);
  if (!source.ok()) {
    schema_findings.Add(absl::StrCat(file, ": cannot be read (", source.status().message(), ")"));
    return;
  }
  // Declared before the reader so it is freed after it: freeing the reader unplugs the
  // validator from this context, so the context must still be there.
  ValidationPtr validation;
  XmlSourceReader xml(**source, file, XML_PARSE_NONET);
  xmlTextReaderPtr reader = xml.get();
  if (reader == nullptr) {
    schema_findings.Add(absl::StrCat(file, ": libxml2 could not start reading it"));
    return;
  }
  xmlTextReaderSetStructuredErrorHandler(reader, CollectError, &errors);
  if (schema != nullptr) {
    validation.reset(xmlSchemaNewValidCtxt(schema));
    xmlSchemaSetValidStructuredErrors(validation.get(), CollectError, &errors);
    if (xmlTextReaderSchemaValidateCtxt(reader, validation.get(), 0) != 0) {
      schema_findings.Add(absl::StrCat(file, ": libxml2 could not attach the schema validator"));
      errors.any = true;
    }
  }

  struct Open {
    bool has_content = false;
    std::string text;
  };
  std::vector<std::string> path;
  std::vector<Open> open;
  auto end_element = [&](int line) {
    const std::string name = path.back();
    const Open& top = open.back();
    const bool blank = absl::StripAsciiWhitespace(top.text).empty();
    if (!top.has_content && blank) {
      empty_findings.Add(
          absl::StrCat(file, " line ", line, ": <", absl::StrJoin(path, "/"), "> is empty"));
    }
    XmlEvent event{XmlEvent::kEnd, name, &path, top.text, {}, {}, line};
    visit(event);
    path.pop_back();
    open.pop_back();
    if (!open.empty()) open.back().has_content = true;
  };
  int status = 0;
  while ((status = xmlTextReaderRead(reader)) == 1) {
    const int type = xmlTextReaderNodeType(reader);
    const int line = NodeLine(reader);
    if (type == XML_READER_TYPE_ELEMENT) {
      const char* local = reinterpret_cast<const char*>(xmlTextReaderConstLocalName(reader));
      path.emplace_back(local ? local : "");
      open.emplace_back();
      xmlChar* xsi_type =
          xmlTextReaderGetAttributeNs(reader, BAD_CAST "type", BAD_CAST layout::kXsiNamespace);
      xmlChar* name_attribute = xmlTextReaderGetAttribute(reader, BAD_CAST "name");
      XmlEvent event{XmlEvent::kStart,
                     path.back(),
                     &path,
                     {},
                     xsi_type ? reinterpret_cast<const char*>(xsi_type) : "",
                     name_attribute ? reinterpret_cast<const char*>(name_attribute) : "",
                     line};
      visit(event);
      xmlFree(xsi_type);
      xmlFree(name_attribute);
      if (xmlTextReaderIsEmptyElement(reader)) end_element(line);
    } else if (type == XML_READER_TYPE_END_ELEMENT) {
      if (!path.empty()) end_element(line);
    } else if (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA) {
      // Text only matters while an element has no child yet (a leaf's value, or emptiness).
      if (!open.empty() && !open.back().has_content) {
        const char* value = reinterpret_cast<const char*>(xmlTextReaderConstValue(reader));
        if (value != nullptr && open.back().text.size() < kMaxLeafText) {
          open.back().text.append(value, strnlen(value, kMaxLeafText - open.back().text.size()));
        }
      }
    }
  }
  if (!xml.source_status().ok()) {
    schema_findings.Add(
        absl::StrCat(file, ": reading failed (", xml.source_status().message(), ")"));
    errors.any = true;
  }
  if (status < 0 && !errors.any) {
    schema_findings.Add(absl::StrCat(file, ": the file is not well-formed XML"));
    errors.any = true;
  }
  if (schema != nullptr && xmlTextReaderIsValid(reader) != 1 && !errors.any) {
    schema_findings.Add(absl::StrCat(file, ": not valid against the schema"));
  }
}

// --- what arkivuttrekk.xml declares ----------------------------------------------------------

struct AddmlFacts {
  bool present = false;
  std::vector<std::pair<std::string, std::string>> checksums;  // file, sha256 (as written)
  std::vector<std::string> checksum_problems;
  // "<dataObject>/<element>" → declared count
  std::map<std::string, std::string> occurrences;
  std::optional<std::string> document_files;  // antallDokumentfiler, as written
};

// The "name" attributes of the enclosing property/dataObject elements, innermost last.
class AddmlVisitor {
 public:
  explicit AddmlVisitor(AddmlFacts& facts) : facts_(facts) {}

  void operator()(const XmlEvent& event) {
    if (event.kind == XmlEvent::kStart) {
      names_.emplace_back(event.name, std::string(event.name_attribute));
      return;
    }
    if (event.name == "value" && names_.size() >= 2) {
      const std::string text(absl::StripAsciiWhitespace(event.text));
      const std::string& owner = names_[names_.size() - 2].second;  // the property around it
      if (owner == "name" && Within("file")) current_file_ = text;
      if (owner == "value" && Within("checksum")) {
        if (current_file_.empty()) {
          facts_.checksum_problems.push_back(absl::StrCat(
              "line ", event.line, ": a checksum is given without a file name before it"));
        } else {
          facts_.checksums.emplace_back(current_file_, text);
        }
      }
      if (owner == "algorithm" && Within("checksum") && !absl::EqualsIgnoreCase(text, "SHA-256") &&
          !absl::EqualsIgnoreCase(text, "SHA256")) {
        facts_.checksum_problems.push_back(absl::StrCat("line ", event.line,
                                                        ": checksum algorithm \"", text, "\" for ",
                                                        current_file_, " is not SHA-256"));
      }
      if (owner == "numberOfOccurrences") current_element_ = text;
      if (owner == "value" && Within("numberOfOccurrences")) {
        facts_.occurrences[absl::StrCat(DataObject(), "/", current_element_)] = text;
      }
      if (owner == "antallDokumentfiler") facts_.document_files = text;
    }
    if (event.name == "property" && names_.back().second == "file") current_file_.clear();
    names_.pop_back();
  }

 private:
  bool Within(absl::string_view property_name) const {
    return std::any_of(names_.begin(), names_.end(), [&](const auto& entry) {
      return entry.first == "property" && entry.second == property_name;
    });
  }
  std::string DataObject() const {
    for (auto it = names_.rbegin(); it != names_.rend(); ++it) {
      if (it->first == "dataObject") return it->second;
    }
    return "";
  }

  AddmlFacts& facts_;
  std::vector<std::pair<std::string, std::string>> names_;  // element, its name attribute
  std::string current_file_;
  std::string current_element_;
};

// --- what arkivstruktur.xml holds ---------------------------------------------------------------

struct DocumentObject {
  std::string reference;  // referanseDokumentfil
  std::string checksum;
  std::string algorithm;
  std::string size;
  int line = 0;
};

struct StructureFacts {
  std::uint64_t folders = 0;        // mappe
  std::uint64_t registrations = 0;  // registrering
  std::uint64_t journal_entries = 0;
  absl::flat_hash_set<std::string> system_ids;
  std::vector<DocumentObject> documents;
};

class StructureVisitor {
 public:
  StructureVisitor(StructureFacts& facts, Findings& duplicate_ids)
      : facts_(facts), duplicate_ids_(duplicate_ids) {}

  void operator()(const XmlEvent& event) {
    if (event.kind == XmlEvent::kStart) {
      if (event.name == "mappe") ++facts_.folders;
      if (event.name == "registrering") {
        ++facts_.registrations;
        if (absl::EndsWith(event.xsi_type, "journalpost")) ++facts_.journal_entries;
      }
      if (event.name == "dokumentobjekt") {
        document_ = DocumentObject{};
        document_->line = event.line;
      }
      return;
    }
    const std::string value(absl::StripAsciiWhitespace(event.text));
    const std::vector<std::string>& path = *event.path;
    const absl::string_view parent =
        path.size() >= 2 ? absl::string_view(path[path.size() - 2]) : "";
    if (event.name == "systemID" && !value.empty()) {
      if (!facts_.system_ids.insert(absl::AsciiStrToLower(value)).second) {
        duplicate_ids_.Add(absl::StrCat("systemID ", value, " is used again by <", parent,
                                        "> at line ", event.line));
      }
    }
    if (document_ && parent == "dokumentobjekt") {
      if (event.name == "referanseDokumentfil") document_->reference = value;
      if (event.name == "sjekksum") document_->checksum = value;
      if (event.name == "sjekksumAlgoritme") document_->algorithm = value;
      if (event.name == "filstoerrelse") document_->size = value;
    }
    if (event.name == "dokumentobjekt" && document_) {
      facts_.documents.push_back(std::move(*document_));
      document_.reset();
    }
  }

 private:
  StructureFacts& facts_;
  Findings& duplicate_ids_;
  std::optional<DocumentObject> document_;
};

bool IsPackageFile(absl::string_view name) {
  for (const layout::XmlFileSchema& xml : layout::kXmlFiles) {
    if (name == xml.file) return true;
  }
  for (absl::string_view schema : layout::kAllSchemas) {
    if (name == schema) return true;
  }
  return false;
}

// Compares a declared count with the real one.
void CompareCount(Findings& findings, const std::optional<std::string>& declared,
                  std::uint64_t actual, absl::string_view what, absl::string_view where) {
  if (!declared) {
    findings.Add(absl::StrCat("arkivuttrekk.xml does not give the number of ", what, " (", where,
                              "); the package has ", actual));
    return;
  }
  std::uint64_t number = 0;
  if (!absl::SimpleAtoi(*declared, &number)) {
    findings.Add(absl::StrCat("arkivuttrekk.xml gives \"", *declared, "\" as the number of ", what,
                              ", which is not a number"));
    return;
  }
  if (number != actual) {
    findings.Add(absl::StrCat("arkivuttrekk.xml says ", number, " ", what, ", but the package has ",
                              actual));
  }
}

}  // namespace

absl::StatusOr<CheckReport> CheckPackage(
    const std::filesystem::path& package, const std::filesystem::path& xsd_dir,
    const std::function<void(std::uint64_t done, std::uint64_t total)>& on_progress) {
  InitLibxml();
  absl::StatusOr<std::unique_ptr<PackageFiles>> opened = OpenPackage(package);
  if (!opened.ok()) return opened.status();
  if (on_progress) (*opened)->set_progress(on_progress);
  const PackageFiles& files = **opened;

  // The official schemas, compiled once.
  std::map<std::string, SchemaPtr, std::less<>> schemas;
  std::map<std::string, fs::path, std::less<>> schema_paths;
  for (const layout::XmlFileSchema& xml : layout::kXmlFiles) {
    std::optional<fs::path> path = FindSchema(xsd_dir, xml.schema);
    if (!path) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the official schema ", xml.schema, " is not in the schema folder ", xsd_dir.string()));
    }
    absl::StatusOr<SchemaPtr> schema = LoadSchema(*path);
    if (!schema.ok()) return schema.status();
    schemas[std::string(xml.schema)] = std::move(*schema);
    schema_paths[std::string(xml.schema)] = *path;
  }
  if (std::optional<fs::path> catalogue = FindSchema(xsd_dir, layout::kCatalogueSchema)) {
    schema_paths[std::string(layout::kCatalogueSchema)] = *catalogue;
  }

  Findings required, checksums, schema_validity, folders, registrations, document_files,
      document_checksums, references, unreferenced, unique_ids, change_log_refs, empty;

  // One pass per XML file: schema, empty elements and the facts the other checks need.
  // arkivstruktur first, since endringslogg is checked against its systemIDs.
  AddmlFacts addml;
  StructureFacts structure;
  auto scan = [&](const std::string& file, xmlSchema* schema,
                  const std::function<void(const XmlEvent&)>& visit) {
    ScanXml(files, file, schema, schema_validity, empty, visit);
  };
  const std::string structure_file(layout::kStructureFile);
  if (files.Exists(structure_file)) {
    StructureVisitor visitor(structure, unique_ids);
    scan(structure_file, schemas[std::string(layout::kStructureSchema)].get(),
         [&visitor](const XmlEvent& event) { visitor(event); });
  }
  const std::string addml_file(layout::kAddmlFile);
  if (files.Exists(addml_file)) {
    addml.present = true;
    AddmlVisitor visitor(addml);
    scan(addml_file, schemas[std::string(layout::kAddmlSchema)].get(),
         [&visitor](const XmlEvent& event) { visitor(event); });
  }
  const std::string change_log_file(layout::kChangeLogFile);
  if (files.Exists(change_log_file)) {
    scan(change_log_file, schemas[std::string(layout::kChangeLogSchema)].get(),
         [&](const XmlEvent& event) {
           if (event.kind != XmlEvent::kEnd || event.name != "referanseArkivenhet") {
             return;
           }
           const std::string id(absl::StripAsciiWhitespace(event.text));
           if (!structure.system_ids.contains(absl::AsciiStrToLower(id))) {
             change_log_refs.Add(absl::StrCat("endringslogg.xml line ", event.line,
                                              ": referanseArkivenhet ", id,
                                              " names no systemID in arkivstruktur.xml"));
           }
         });
  }
  for (const layout::XmlFileSchema& journal : {layout::kXmlFiles[3], layout::kXmlFiles[4]}) {
    const std::string file(journal.file);
    if (!files.Exists(file)) continue;
    scan(file, schemas[std::string(journal.schema)].get(), [](const XmlEvent&) {});
  }

  // The package's copies of the schemas must be the official ones, unmodified. ADDML 8.2 is
  // accepted too when xsd_dir has it: Arkade 5 itself ships 8.2 in its packages.
  for (const auto& [name, official] : schema_paths) {
    if (!files.Exists(name)) continue;
    std::vector<fs::path> accepted = {official};
    if (name == layout::kAddmlSchema && fs::exists(xsd_dir / "addml-v8.2" / name)) {
      accepted.push_back(xsd_dir / "addml-v8.2" / name);
    }
    absl::StatusOr<std::unique_ptr<ByteSource>> copy = files.Open(name);
    absl::StatusOr<HashAndSize> copy_hash =
        copy.ok() ? HashSource(**copy) : absl::StatusOr<HashAndSize>(copy.status());
    bool matches = false;
    for (const fs::path& path : accepted) {
      absl::StatusOr<HashAndSize> official_hash = HashFile(path);
      matches |= copy_hash.ok() && official_hash.ok() &&
                 copy_hash->sha256_hex == official_hash->sha256_hex;
    }
    if (!copy_hash.ok()) {
      schema_validity.Add(
          absl::StrCat(name, ": cannot be read (", copy_hash.status().message(), ")"));
    } else if (!matches) {
      schema_validity.Add(
          absl::StrCat(name,
                       " in the package differs from the official schema; packages must carry the "
                       "unmodified XSDs"));
    }
  }

  // N5.01 required files.
  std::vector<std::string> required_files = {addml_file,
                                             structure_file,
                                             std::string(layout::kStructureSchema),
                                             std::string(layout::kCatalogueSchema),
                                             change_log_file,
                                             std::string(layout::kChangeLogSchema),
                                             std::string(layout::kAddmlSchema)};
  if (structure.journal_entries > 0) {
    for (absl::string_view name : {layout::kRunningJournalFile, layout::kRunningJournalSchema,
                                   layout::kPublicJournalFile, layout::kPublicJournalSchema}) {
      required_files.emplace_back(name);
    }
  }
  for (const auto& [file, sha] : addml.checksums) {
    if (std::find(required_files.begin(), required_files.end(), file) == required_files.end()) {
      required_files.push_back(file);
    }
  }
  for (const std::string& file : required_files) {
    if (!files.Exists(file)) {
      required.Add(absl::StrCat(file, " is missing",
                                file.find("Journal") != std::string::npos
                                    ? " (the package has journalposter, so it needs the journals)"
                                    : ""));
    }
  }

  // N5.02 ADDML checksums.
  if (!addml.present) {
    checksums.Add("arkivuttrekk.xml is missing, so no checksum can be checked");
  } else if (addml.checksums.empty()) {
    checksums.Add("arkivuttrekk.xml gives no checksums");
  }
  for (const std::string& problem : addml.checksum_problems) {
    checksums.Add(absl::StrCat("arkivuttrekk.xml ", problem));
  }
  for (const auto& [file, declared] : addml.checksums) {
    if (!files.Exists(file)) {
      checksums.Add(absl::StrCat("arkivuttrekk.xml gives a checksum for ", file,
                                 ", but the package has no such file"));
      continue;
    }
    absl::StatusOr<std::unique_ptr<ByteSource>> source = files.Open(file);
    absl::StatusOr<HashAndSize> actual =
        source.ok() ? HashSource(**source) : absl::StatusOr<HashAndSize>(source.status());
    if (!actual.ok()) {
      checksums.Add(absl::StrCat(file, ": cannot be read (", actual.status().message(), ")"));
    } else if (!absl::EqualsIgnoreCase(actual->sha256_hex, declared)) {
      checksums.Add(absl::StrCat(file, ": SHA-256 is ", actual->sha256_hex,
                                 ", but arkivuttrekk.xml says ", declared));
    }
  }

  // N5.10, N5.16, N5.28 counts against ADDML.
  auto declared = [&](const std::string& key) -> std::optional<std::string> {
    auto it = addml.occurrences.find(key);
    if (it == addml.occurrences.end()) return std::nullopt;
    return it->second;
  };
  CompareCount(folders, declared("arkivstruktur/mappe"), structure.folders, "mappe",
               "numberOfOccurrences of mappe under dataObject arkivstruktur");
  CompareCount(registrations, declared("arkivstruktur/registrering"), structure.registrations,
               "registreringer",
               "numberOfOccurrences of registrering under dataObject arkivstruktur");
  std::uint64_t files_in_document_folders = 0;
  for (const std::string& file : files.List()) {
    if (file.find('/') != std::string::npos) ++files_in_document_folders;
  }
  CompareCount(document_files, addml.document_files, files_in_document_folders, "dokumentfiler",
               "property antallDokumentfiler");

  // N5.30, N5.32 documents.
  absl::flat_hash_set<std::string> referenced;
  for (const DocumentObject& document : structure.documents) {
    const std::string where =
        absl::StrCat("dokumentobjekt at arkivstruktur.xml line ", document.line);
    if (document.reference.empty()) {
      references.Add(absl::StrCat(where, " has no referanseDokumentfil"));
      continue;
    }
    const std::string reference = DocumentMemberName(document.reference);
    referenced.insert(reference);
    if (!files.Exists(reference)) {
      references.Add(
          absl::StrCat(where, " refers to ", document.reference, ", which is not in the package"));
      continue;
    }
    if (!absl::EqualsIgnoreCase(document.algorithm, "SHA-256") &&
        !absl::EqualsIgnoreCase(document.algorithm, "SHA256")) {
      document_checksums.Add(absl::StrCat(where, " (", reference, ") uses checksum algorithm \"",
                                          document.algorithm, "\"; only SHA-256 can be checked"));
      continue;
    }
    absl::StatusOr<std::unique_ptr<ByteSource>> source = files.Open(reference);
    absl::StatusOr<HashAndSize> actual =
        source.ok() ? HashSource(**source) : absl::StatusOr<HashAndSize>(source.status());
    if (!actual.ok()) {
      document_checksums.Add(
          absl::StrCat(reference, ": cannot be read (", actual.status().message(), ")"));
      continue;
    }
    if (!absl::EqualsIgnoreCase(actual->sha256_hex, document.checksum)) {
      document_checksums.Add(absl::StrCat(reference, ": SHA-256 is ", actual->sha256_hex,
                                          ", but its ", where, " says ", document.checksum));
    }
    std::uint64_t size = 0;
    if (!document.size.empty() &&
        (!absl::SimpleAtoi(document.size, &size) || size != actual->size)) {
      document_checksums.Add(absl::StrCat(reference, ": the file has ", actual->size,
                                          " bytes, but its ", where, " says filstoerrelse ",
                                          document.size));
    }
  }
  // N5.33 unreferenced files: anything that is neither a package file nor a referenced document.
  for (const std::string& file : files.List()) {
    if (IsPackageFile(file) || referenced.contains(file)) continue;
    unreferenced.Add(absl::StrCat(file, " is in the package, but no dokumentobjekt refers to it"));
  }
  // N5.47, N5.62 need arkivstruktur.xml.
  if (!files.Exists(structure_file)) {
    unique_ids.Add("arkivstruktur.xml is missing, so systemIDs cannot be checked");
    references.Add("arkivstruktur.xml is missing, so no document reference can be checked");
  }
  if (!files.Exists(change_log_file)) {
    change_log_refs.Add("endringslogg.xml is missing, so its references cannot be checked");
  }

  CheckReport report;
  report.results.push_back(required.Result("N5.01", "required files present"));
  report.results.push_back(checksums.Result("N5.02", "checksums in arkivuttrekk.xml match"));
  report.results.push_back(
      schema_validity.Result("N5.03", "XML files valid against the official schemas"));
  report.results.push_back(folders.Result("N5.10", "number of mapper matches arkivuttrekk.xml"));
  report.results.push_back(
      registrations.Result("N5.16", "number of registreringer matches arkivuttrekk.xml"));
  report.results.push_back(
      document_files.Result("N5.28", "number of document files matches arkivuttrekk.xml"));
  report.results.push_back(
      document_checksums.Result("N5.30", "document checksums and sizes match"));
  report.results.push_back(references.Result("N5.32", "referenced document files exist"));
  report.results.push_back(unreferenced.Result("N5.33", "no unreferenced files"));
  report.results.push_back(unique_ids.Result("N5.47", "systemIDs are unique"));
  report.results.push_back(
      change_log_refs.Result("N5.62", "endringslogg references resolve to arkivstruktur"));
  report.results.push_back(empty.Result("N5.63", "no empty elements"));
  return report;
}

std::string DocumentMemberName(absl::string_view reference) {
  std::string normal = absl::StrReplaceAll(reference, {{"\\", "/"}});
  absl::string_view view = normal;
  while (absl::ConsumePrefix(&view, "./")) {
  }
  return std::string(view);
}

}  // namespace smartby::noark5
