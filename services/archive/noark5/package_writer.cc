#include "services/archive/noark5/package_writer.h"

#include <openssl/rand.h>

#include <atomic>
#include <cstdio>
#include <system_error>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "services/archive/noark5/hashing_file.h"
#include "services/archive/noark5/package_layout.h"
#include "services/archive/noark5/xml_writer.h"

#ifndef SMARTBY_NOARK5_XSD_DIR
#error "SMARTBY_NOARK5_XSD_DIR must be defined by the build"
#endif

namespace smartby::noark5 {

std::filesystem::path SourceTreeXsdDir() { return SMARTBY_NOARK5_XSD_DIR; }

std::string NewUuid() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // Without randomness no systemID can be trusted to be unique; nothing sensible remains.
    std::fprintf(stderr, "noark5: OpenSSL RAND_bytes failed\n");
    std::abort();
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return absl::StrFormat("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6],
                         bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13],
                         bytes[14], bytes[15]);
}

namespace {

namespace fs = std::filesystem;
using layout::kDocumentDir;

std::string DateTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}
std::string Date(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }
int Year(absl::Time t) { return absl::ToCivilYear(t, absl::UTCTimeZone()).year(); }

absl::Status Required(absl::string_view field, absl::string_view value) {
  if (IsBlank(value)) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  return absl::OkStatus();
}

// 8-4-4-4-12 hexadecimal digits, the pattern of metadatakatalog's ID type.
bool IsUuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

absl::Status RequiredTime(absl::string_view field, absl::Time value) {
  if (value == absl::InfinitePast() || value == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be set to a date and time"));
  }
  return absl::OkStatus();
}

absl::Status ValidateConfig(const ExportConfig& config) {
  for (const auto& [field, value] : {
           std::pair<absl::string_view, absl::string_view>{"config.system_name",
                                                           config.system_name},
           {"config.archive_title", config.archive_title},
           {"config.creator_id", config.creator_id},
           {"config.creator_name", config.creator_name},
           {"config.series_title", config.series_title},
           {"config.document_type", config.document_type},
           {"config.responsible_unit", config.responsible_unit},
           {"config.case_handler", config.case_handler},
       }) {
    if (absl::Status s = Required(field, value); !s.ok()) return s;
  }
  if (config.period_end <= config.period_start) {
    return absl::InvalidArgumentError(absl::StrCat("config.period_end (", Date(config.period_end),
                                                   ") must be after config.period_start (",
                                                   Date(config.period_start), ")"));
  }
  if (config.screening) {
    if (absl::Status s =
            Required("config.screening.access_restriction", config.screening->access_restriction);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = Required("config.screening.legal_basis", config.screening->legal_basis);
        !s.ok()) {
      return s;
    }
    bool any = false;
    for (const std::string& field : config.screening->screened_metadata) any |= !IsBlank(field);
    if (!any) {
      return absl::InvalidArgumentError(
          "config.screening.screened_metadata: name at least one screened field, e.g. tittel");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFileName(absl::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 200 ||
      name.find('/') != absl::string_view::npos || name.find('\\') != absl::string_view::npos ||
      !XmlTextProblem(name).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "document.file_name \"", name,
        "\": must be a plain file name of at most 200 bytes (no '/' or '\\', not \".\" or "
        "\"..\", valid UTF-8 without control characters)"));
  }
  return absl::OkStatus();
}

// One XML file being written, hashed as it goes.
struct XmlFile {
  std::unique_ptr<HashingFileWriter> file;
  std::unique_ptr<XmlWriter> xml;

  static absl::StatusOr<XmlFile> Create(const fs::path& path, int base_depth = 0) {
    absl::StatusOr<std::unique_ptr<HashingFileWriter>> file = HashingFileWriter::Create(path);
    if (!file.ok()) return file.status();
    XmlFile result;
    result.file = std::move(*file);
    result.xml = std::make_unique<XmlWriter>(*result.file, base_depth);
    return result;
  }
};

std::string RootAttributes(absl::string_view ns, absl::string_view schema_file) {
  return absl::StrCat("xmlns=\"", ns, "\" xmlns:xsi=\"", layout::kXsiNamespace,
                      "\" xsi:schemaLocation=\"", ns, " ", schema_file, "\"");
}

class DocumentFileSink final : public DocumentSink {
 public:
  DocumentFileSink(HashingFileWriter& file, std::atomic<std::uint64_t>& bytes)
      : file_(file), bytes_(bytes) {}
  absl::Status Write(std::string_view chunk) override {
    absl::Status s = file_.Write(absl::string_view(chunk.data(), chunk.size()));
    if (s.ok()) bytes_.fetch_add(chunk.size(), std::memory_order_relaxed);
    return s;
  }

 private:
  HashingFileWriter& file_;
  std::atomic<std::uint64_t>& bytes_;
};

class StreamingPackageWriter final : public PackageWriter {
 public:
  StreamingPackageWriter(fs::path dir, ExportConfig config, WriterOptions options)
      : dir_(std::move(dir)), config_(std::move(config)), options_(std::move(options)) {
    if (IsBlank(config_.created_by)) config_.created_by = config_.case_handler;
    package_id_ = options_.package_id.empty() ? NewUuid() : options_.package_id;
  }

  absl::Status Open();

  absl::StatusOr<std::string> BeginCaseFile(const CaseFile& case_file) override;
  absl::StatusOr<std::string> BeginRegistryEntry(const RegistryEntry& entry) override;
  absl::StatusOr<WrittenDocument> AddDocument(
      const Document& document, const std::function<absl::Status(DocumentSink&)>& write) override;
  absl::StatusOr<WrittenDocument> AddDocumentFromFile(const Document& document,
                                                      const fs::path& source) override;
  absl::Status EndRegistryEntry() override;
  absl::StatusOr<std::string> AddRegistryEntry(const RegistryEntry& entry) override;
  absl::Status EndCaseFile() override;
  absl::Status AddChangeLogEntry(const ChangeLogEntry& entry) override;
  absl::StatusOr<PackageSummary> Finish() override;

  WriteProgress Progress() const override {
    WriteProgress p;
    p.case_files = case_files_.load(std::memory_order_relaxed);
    p.registry_entries = registry_entries_.load(std::memory_order_relaxed);
    p.documents = documents_.load(std::memory_order_relaxed);
    p.document_bytes = document_bytes_.load(std::memory_order_relaxed);
    p.change_log_entries = change_log_entries_.load(std::memory_order_relaxed);
    return p;
  }

 private:
  enum class State { kInSeries, kInCaseFile, kInRegistryEntry, kFinished, kBroken };

  struct OpenCaseFile {
    CaseFile data;
    std::string system_id;
    std::string folder_id;  // mappeID
    int year = 0;
    int sequence = 0;
    int journal_entries = 0;
  };
  struct OpenRegistryEntry {
    RegistryEntry data;
    std::string system_id;
    int documents = 0;
    int journal_year = 0;
    int journal_sequence = 0;
    int journal_number = 0;   // journalpostnummer within the case file
    std::string registry_id;  // registreringsID
  };

  absl::Status Expect(State state, absl::string_view call) {
    if (state_ == State::kBroken) {
      return absl::FailedPreconditionError(
          absl::StrCat(call, ": an earlier step failed, so this package is incomplete; delete ",
                       dir_.string(), " and start the export again"));
    }
    if (state_ != state) {
      static constexpr absl::string_view kNames[] = {"outside any case file", "inside a case file",
                                                     "inside a registry entry", "after Finish",
                                                     "broken"};
      return absl::FailedPreconditionError(
          absl::StrCat(call, " is not allowed ", kNames[static_cast<int>(state_)], " (expected ",
                       kNames[static_cast<int>(state)], ")"));
    }
    return absl::OkStatus();
  }
  // Marks the writer unusable when `status` is an error, and returns it.
  absl::Status Check(absl::Status status) {
    if (!status.ok()) state_ = State::kBroken;
    return status;
  }
  void Report() {
    if (options_.on_progress) options_.on_progress(Progress());
  }

  void WriteScreening(XmlWriter& xml);
  void WriteJournalEntries(const OpenRegistryEntry& entry);
  absl::Status WriteJournalFile(absl::string_view file, absl::string_view ns,
                                absl::string_view schema, const fs::path& body,
                                std::string* sha256_hex);
  absl::Status CopySchema(absl::string_view name, std::string* sha256_hex);
  absl::Status WriteAddml(const absl::flat_hash_map<std::string, std::string>& checksums);

  fs::path dir_;
  ExportConfig config_;
  WriterOptions options_;
  std::string package_id_;
  State state_ = State::kInSeries;

  XmlFile structure_;
  XmlFile change_log_;
  XmlFile running_journal_body_;
  XmlFile public_journal_body_;
  fs::path running_journal_body_path_;
  fs::path public_journal_body_path_;

  std::string archive_system_id_;
  std::string series_system_id_;
  absl::flat_hash_map<int, int> case_sequence_by_year_;
  absl::flat_hash_map<int, int> journal_sequence_by_year_;
  std::optional<OpenCaseFile> case_file_;
  std::optional<OpenRegistryEntry> entry_;
  std::uint64_t journal_entries_ = 0;
  absl::Time journal_first_ = absl::InfiniteFuture();
  absl::Time journal_last_ = absl::InfinitePast();

  std::atomic<std::uint64_t> case_files_{0};
  std::atomic<std::uint64_t> registry_entries_{0};
  std::atomic<std::uint64_t> documents_{0};
  std::atomic<std::uint64_t> document_bytes_{0};
  std::atomic<std::uint64_t> change_log_entries_{0};
};

absl::Status StreamingPackageWriter::Open() {
  std::error_code error;
  fs::create_directories(dir_ / kDocumentDir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("creating ", (dir_ / kDocumentDir).string(), ": ", error.message()));
  }
  absl::StatusOr<XmlFile> structure = XmlFile::Create(dir_ / layout::kStructureFile);
  if (!structure.ok()) return structure.status();
  structure_ = std::move(*structure);
  absl::StatusOr<XmlFile> change_log = XmlFile::Create(dir_ / layout::kChangeLogFile);
  if (!change_log.ok()) return change_log.status();
  change_log_ = std::move(*change_log);
  // The journals' headers need totals known only at the end, so their entries go to hidden
  // body files first and are copied behind the header by Finish.
  running_journal_body_path_ = dir_ / ".loependeJournal.body";
  public_journal_body_path_ = dir_ / ".offentligJournal.body";
  absl::StatusOr<XmlFile> running = XmlFile::Create(running_journal_body_path_, 1);
  if (!running.ok()) return running.status();
  running_journal_body_ = std::move(*running);
  absl::StatusOr<XmlFile> open_public = XmlFile::Create(public_journal_body_path_, 1);
  if (!open_public.ok()) return open_public.status();
  public_journal_body_ = std::move(*open_public);

  archive_system_id_ = NewUuid();
  series_system_id_ = NewUuid();
  const std::string now = DateTime(config_.now);

  XmlWriter& xml = *structure_.xml;
  xml.Declaration();
  xml.Open("arkiv", RootAttributes(layout::kStructureNamespace, layout::kStructureSchema));
  xml.Leaf("systemID", archive_system_id_);
  xml.Leaf("tittel", config_.archive_title);
  xml.Leaf("beskrivelse", config_.archive_description);
  xml.Leaf("arkivstatus", "Avsluttet");
  xml.Leaf("dokumentmedium", "Elektronisk arkiv");
  xml.Leaf("opprettetDato", now);
  xml.Leaf("opprettetAv", config_.created_by);
  xml.Leaf("avsluttetDato", now);
  xml.Leaf("avsluttetAv", config_.created_by);
  xml.Open("arkivskaper");
  xml.Leaf("arkivskaperID", config_.creator_id);
  xml.Leaf("arkivskaperNavn", config_.creator_name);
  xml.Close();
  xml.Open("arkivdel");
  xml.Leaf("systemID", series_system_id_);
  xml.Leaf("tittel", config_.series_title);
  xml.Leaf("arkivdelstatus", "Avsluttet periode");
  xml.Leaf("dokumentmedium", "Elektronisk arkiv");
  xml.Leaf("opprettetDato", now);
  xml.Leaf("opprettetAv", config_.created_by);
  xml.Leaf("avsluttetDato", now);
  xml.Leaf("avsluttetAv", config_.created_by);
  xml.Leaf("arkivperiodeStartDato", Date(config_.period_start));
  xml.Leaf("arkivperiodeSluttDato", Date(config_.period_end));
  WriteScreening(xml);

  XmlWriter& log = *change_log_.xml;
  log.Declaration();
  log.Open("endringslogg", RootAttributes(layout::kChangeLogNamespace, layout::kChangeLogSchema));
  if (!xml.status().ok()) return xml.status();
  return log.status();
}

void StreamingPackageWriter::WriteScreening(XmlWriter& xml) {
  if (!config_.screening) return;
  xml.Open("skjerming");
  xml.Leaf("tilgangsrestriksjon", config_.screening->access_restriction);
  xml.Leaf("skjermingshjemmel", config_.screening->legal_basis);
  for (const std::string& field : config_.screening->screened_metadata) {
    xml.Leaf("skjermingMetadata", field);
  }
  xml.Close();
}

absl::StatusOr<std::string> StreamingPackageWriter::BeginCaseFile(const CaseFile& case_file) {
  if (absl::Status s = Expect(State::kInSeries, "BeginCaseFile"); !s.ok()) return s;
  if (absl::Status s = Required("case_file.title", case_file.title); !s.ok()) return s;
  if (absl::Status s = Required("case_file.status", case_file.status); !s.ok()) return s;
  if (absl::Status s = RequiredTime("case_file.created", case_file.created); !s.ok()) return s;
  OpenCaseFile open;
  open.data = case_file;
  open.system_id = NewUuid();
  open.year = Year(case_file.created);
  open.sequence = ++case_sequence_by_year_[open.year];
  open.folder_id = IsBlank(case_file.external_id) ? absl::StrCat(open.year, "/", open.sequence)
                                                  : case_file.external_id;

  XmlWriter& xml = *structure_.xml;
  xml.Open("mappe", "xsi:type=\"saksmappe\"");
  xml.Leaf("systemID", open.system_id);
  xml.Leaf("mappeID", open.folder_id);
  xml.Leaf("tittel", case_file.title);
  xml.Leaf("offentligTittel", case_file.public_title);
  xml.Leaf("beskrivelse", case_file.description);
  for (const std::string& keyword : case_file.keywords) xml.Leaf("noekkelord", keyword);
  xml.Leaf("dokumentmedium", "Elektronisk arkiv");
  xml.Leaf("opprettetDato", DateTime(case_file.created));
  xml.Leaf("opprettetAv", config_.created_by);
  xml.Leaf("avsluttetDato", DateTime(case_file.closed.value_or(config_.now)));
  xml.Leaf("avsluttetAv", config_.created_by);
  if (!IsBlank(config_.classification)) {
    // The platform's own class; Noark 5 keeps system-specific metadata here (xs:anyType).
    xml.Open("virksomhetsspesifikkeMetadata");
    xml.Leaf("smartby:klassifisering", config_.classification,
             "xmlns:smartby=\"https://smartby.no/noark5\"");
    xml.Close();
  }
  WriteScreening(xml);
  if (absl::Status s = Check(xml.status()); !s.ok()) return s;
  case_file_ = std::move(open);
  state_ = State::kInCaseFile;
  case_files_.fetch_add(1, std::memory_order_relaxed);
  return case_file_->system_id;
}

absl::StatusOr<std::string> StreamingPackageWriter::BeginRegistryEntry(const RegistryEntry& entry) {
  if (absl::Status s = Expect(State::kInCaseFile, "BeginRegistryEntry"); !s.ok()) return s;
  if (absl::Status s = Required("registry_entry.title", entry.title); !s.ok()) return s;
  if (absl::Status s = RequiredTime("registry_entry.date", entry.date); !s.ok()) return s;
  const bool journaled = entry.kind == RegistryEntryKind::kJournalEntry;
  if (journaled) {
    if (absl::Status s = Required("registry_entry.journal_entry_type", entry.journal_entry_type);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = Required("registry_entry.journal_status", entry.journal_status); !s.ok()) {
      return s;
    }
  }
  OpenRegistryEntry open;
  open.data = entry;
  open.system_id = NewUuid();
  open.registry_id = IsBlank(entry.reference)
                         ? absl::StrCat(case_file_->folder_id, "-", registry_entries_.load() + 1)
                         : entry.reference;
  if (journaled) {
    open.journal_year = Year(entry.date);
    open.journal_sequence = ++journal_sequence_by_year_[open.journal_year];
    open.journal_number = ++case_file_->journal_entries;
  }
  XmlWriter& xml = *structure_.xml;
  xml.Open("registrering", journaled ? "xsi:type=\"journalpost\"" : "xsi:type=\"arkivnotat\"");
  xml.Leaf("systemID", open.system_id);
  xml.Leaf("opprettetDato", DateTime(entry.date));
  xml.Leaf("opprettetAv", config_.created_by);
  xml.Leaf("arkivertDato", DateTime(config_.now));
  xml.Leaf("arkivertAv", config_.created_by);
  WriteScreening(xml);
  if (absl::Status s = Check(xml.status()); !s.ok()) return s;
  entry_ = std::move(open);
  state_ = State::kInRegistryEntry;
  registry_entries_.fetch_add(1, std::memory_order_relaxed);
  Report();
  return entry_->system_id;
}

absl::StatusOr<WrittenDocument> StreamingPackageWriter::AddDocument(
    const Document& document, const std::function<absl::Status(DocumentSink&)>& write) {
  if (absl::Status s = Expect(State::kInRegistryEntry, "AddDocument"); !s.ok()) return s;
  if (absl::Status s = Required("document.title", document.title); !s.ok()) return s;
  if (absl::Status s = Required("document.format", document.format); !s.ok()) return s;
  if (absl::Status s = ValidateFileName(document.file_name); !s.ok()) return s;

  WrittenDocument written;
  written.path = absl::StrCat(kDocumentDir, "/", document.file_name);
  const fs::path file_path = dir_ / written.path;
  absl::StatusOr<std::unique_ptr<HashingFileWriter>> file = HashingFileWriter::Create(file_path);
  if (!file.ok()) {
    if (absl::IsAlreadyExists(file.status())) {
      // Not fatal: the caller may pick another name.
      return absl::AlreadyExistsError(absl::StrCat("document.file_name \"", document.file_name,
                                                   "\": the package already holds ", written.path,
                                                   "; file names must be unique"));
    }
    return Check(file.status());
  }
  DocumentFileSink sink(**file, document_bytes_);
  absl::Status wrote = write(sink);
  absl::Status closed = (*file)->Close();
  if (!wrote.ok() || !closed.ok()) {
    std::error_code ignored;
    fs::remove(file_path, ignored);
    return Check(wrote.ok() ? closed : wrote);
  }
  written.sha256_hex = (*file)->sha256_hex();
  written.size_bytes = (*file)->size();
  written.description_system_id = NewUuid();
  written.object_system_id = NewUuid();
  const std::string now = DateTime(config_.now);

  XmlWriter& xml = *structure_.xml;
  xml.Open("dokumentbeskrivelse");
  xml.Leaf("systemID", written.description_system_id);
  xml.Leaf("dokumenttype", config_.document_type);
  xml.Leaf("dokumentstatus", document.document_status);
  xml.Leaf("tittel", document.title);
  xml.Leaf("beskrivelse", document.description);
  xml.Leaf("opprettetDato", DateTime(entry_->data.date));
  xml.Leaf("opprettetAv", config_.created_by);
  xml.Leaf("tilknyttetRegistreringSom", document.main_document ? "Hoveddokument" : "Vedlegg");
  xml.Leaf("dokumentnummer", absl::StrCat(++entry_->documents));
  xml.Leaf("tilknyttetDato", now);
  xml.Leaf("tilknyttetAv", config_.created_by);
  WriteScreening(xml);
  xml.Open("dokumentobjekt");
  xml.Leaf("systemID", written.object_system_id);
  xml.Leaf("versjonsnummer", "1");
  xml.Leaf("variantformat", "Arkivformat");
  xml.Leaf("format", document.format);
  xml.Leaf("formatDetaljer", document.format_details);
  xml.Leaf("opprettetDato", now);
  xml.Leaf("opprettetAv", config_.created_by);
  xml.Leaf("referanseDokumentfil", written.path);
  xml.Leaf("sjekksum", written.sha256_hex);
  xml.Leaf("sjekksumAlgoritme", "SHA-256");
  xml.Leaf("filstoerrelse", absl::StrCat(written.size_bytes));
  xml.Close();
  xml.Close();
  if (absl::Status s = Check(xml.status()); !s.ok()) return s;
  documents_.fetch_add(1, std::memory_order_relaxed);
  Report();
  return written;
}

absl::StatusOr<WrittenDocument> StreamingPackageWriter::AddDocumentFromFile(
    const Document& document, const fs::path& source) {
  return AddDocument(document, [&source](DocumentSink& sink) -> absl::Status {
    absl::StatusOr<std::unique_ptr<ByteSource>> in = OpenFileSource(source);
    if (!in.ok()) return in.status();
    std::string buffer(1 << 20, '\0');
    while (true) {
      absl::StatusOr<std::size_t> got = (*in)->Read(buffer.data(), buffer.size());
      if (!got.ok()) return got.status();
      if (*got == 0) return absl::OkStatus();
      if (absl::Status s = sink.Write(std::string_view(buffer.data(), *got)); !s.ok()) return s;
    }
  });
}

absl::Status StreamingPackageWriter::EndRegistryEntry() {
  if (absl::Status s = Expect(State::kInRegistryEntry, "EndRegistryEntry"); !s.ok()) return s;
  const OpenRegistryEntry& entry = *entry_;
  const RegistryEntry& data = entry.data;
  const bool journaled = data.kind == RegistryEntryKind::kJournalEntry;

  XmlWriter& xml = *structure_.xml;
  xml.Leaf("registreringsID", entry.registry_id);
  xml.Leaf("tittel", data.title);
  xml.Leaf("offentligTittel", data.public_title);
  xml.Leaf("beskrivelse", data.description);
  for (const std::string& keyword : data.keywords) xml.Leaf("noekkelord", keyword);
  xml.Leaf("forfatter", data.author);
  xml.Leaf("dokumentmedium", "Elektronisk arkiv");
  if (journaled) {
    // Platform records are internal: the responsible unit is both sender and case handler.
    xml.Open("korrespondansepart");
    xml.Leaf("korrespondanseparttype", "Intern avsender");
    xml.Leaf("korrespondansepartNavn", config_.responsible_unit);
    xml.Leaf("administrativEnhet", config_.responsible_unit);
    xml.Leaf("saksbehandler", config_.case_handler);
    xml.Close();
    xml.Leaf("journalaar", absl::StrCat(entry.journal_year));
    xml.Leaf("journalsekvensnummer", absl::StrCat(entry.journal_sequence));
    xml.Leaf("journalpostnummer", absl::StrCat(entry.journal_number));
    xml.Leaf("journalposttype", data.journal_entry_type);
    xml.Leaf("journalstatus", data.journal_status);
    xml.Leaf("journaldato", Date(data.date));
    xml.Leaf("dokumentetsDato", Date(data.date));
    if (entry.documents > 1) xml.Leaf("antallVedlegg", absl::StrCat(entry.documents - 1));
  } else {
    xml.Leaf("dokumentetsDato", Date(data.date));
  }
  xml.Close();
  if (absl::Status s = Check(xml.status()); !s.ok()) return s;
  if (journaled) {
    WriteJournalEntries(entry);
    if (absl::Status s = Check(running_journal_body_.xml->status()); !s.ok()) return s;
    if (absl::Status s = Check(public_journal_body_.xml->status()); !s.ok()) return s;
  }
  entry_.reset();
  state_ = State::kInCaseFile;
  return absl::OkStatus();
}

void StreamingPackageWriter::WriteJournalEntries(const OpenRegistryEntry& entry) {
  const RegistryEntry& data = entry.data;
  const OpenCaseFile& case_file = *case_file_;
  // A screened entry must not leak its title into the public journal; without an explicit
  // public title it is left out there.
  const bool screened = config_.screening.has_value();
  const std::string public_case_title = !IsBlank(case_file.data.public_title)
                                            ? case_file.data.public_title
                                        : screened ? std::string()
                                                   : case_file.data.title;
  const std::string public_entry_title = !IsBlank(data.public_title) ? data.public_title
                                         : screened                  ? std::string()
                                                                     : data.title;
  const std::string restriction = screened ? config_.screening->access_restriction : "";
  const std::string legal_basis = screened ? config_.screening->legal_basis : "";
  ++journal_entries_;
  journal_first_ = std::min(journal_first_, data.date);
  journal_last_ = std::max(journal_last_, data.date);

  for (const bool is_public : {false, true}) {
    XmlWriter& xml = is_public ? *public_journal_body_.xml : *running_journal_body_.xml;
    xml.Open("journalregistrering");
    xml.Open("saksmappe");
    xml.Leaf("mappeID", case_file.folder_id);
    xml.Leaf("saksaar", absl::StrCat(case_file.year));
    xml.Leaf("sakssekvensnummer", absl::StrCat(case_file.sequence));
    if (is_public) {
      xml.Leaf("offentligTittel", public_case_title);
    } else {
      xml.Leaf("tittel", case_file.data.title);
      xml.Leaf("offentligTittel", case_file.data.public_title);
    }
    xml.Leaf("administrativEnhet", config_.responsible_unit);
    xml.Leaf("saksansvarlig", config_.case_handler);
    if (is_public) {
      xml.Leaf("tilgangsrestriksjon", restriction);
      xml.Leaf("skjermingshjemmel", legal_basis);
    }
    xml.Close();
    xml.Open("journalpost");
    xml.Leaf("systemID", entry.system_id);
    xml.Leaf("registreringsID", entry.registry_id);
    xml.Leaf("journalaar", absl::StrCat(entry.journal_year));
    xml.Leaf("journalsekvensnummer", absl::StrCat(entry.journal_sequence));
    xml.Leaf("journalpostnummer", absl::StrCat(entry.journal_number));
    if (is_public) {
      xml.Leaf("offentligTittel", public_entry_title);
    } else {
      xml.Leaf("tittel", data.title);
      xml.Leaf("offentligTittel", data.public_title);
    }
    xml.Leaf("journaldato", Date(data.date));
    xml.Leaf("dokumentetsDato", Date(data.date));
    if (!is_public && entry.documents > 1) {
      xml.Leaf("antallVedlegg", absl::StrCat(entry.documents - 1));
    }
    xml.Leaf("administrativEnhet", config_.responsible_unit);
    xml.Leaf("saksbehandler", config_.case_handler);
    xml.Leaf("tilgangsrestriksjon", restriction);
    xml.Leaf("skjermingshjemmel", legal_basis);
    xml.Open("korrespondansepart");
    xml.Leaf("korrespondanseparttype", "Intern avsender");
    xml.Leaf("korrespondansepartNavn", config_.responsible_unit);
    xml.Close();
    xml.Close();
    xml.Close();
  }
}

absl::StatusOr<std::string> StreamingPackageWriter::AddRegistryEntry(const RegistryEntry& entry) {
  absl::StatusOr<std::string> id = BeginRegistryEntry(entry);
  if (!id.ok()) return id.status();
  if (absl::Status s = EndRegistryEntry(); !s.ok()) return s;
  return id;
}

absl::Status StreamingPackageWriter::EndCaseFile() {
  if (absl::Status s = Expect(State::kInCaseFile, "EndCaseFile"); !s.ok()) return s;
  const OpenCaseFile& open = *case_file_;
  XmlWriter& xml = *structure_.xml;
  xml.Leaf("saksaar", absl::StrCat(open.year));
  xml.Leaf("sakssekvensnummer", absl::StrCat(open.sequence));
  xml.Leaf("saksdato", Date(open.data.created));
  xml.Leaf("administrativEnhet", config_.responsible_unit);
  xml.Leaf("saksansvarlig", config_.case_handler);
  xml.Leaf("saksstatus", open.data.status);
  xml.Close();
  if (absl::Status s = Check(xml.status()); !s.ok()) return s;
  case_file_.reset();
  state_ = State::kInSeries;
  Report();
  return absl::OkStatus();
}

absl::Status StreamingPackageWriter::AddChangeLogEntry(const ChangeLogEntry& entry) {
  if (state_ == State::kFinished || state_ == State::kBroken) {
    return Expect(State::kInSeries, "AddChangeLogEntry");
  }
  if (absl::Status s = Required("change_log.system_id", entry.system_id); !s.ok()) return s;
  if (absl::Status s = Required("change_log.field", entry.field); !s.ok()) return s;
  if (absl::Status s = Required("change_log.changed_by", entry.changed_by); !s.ok()) return s;
  if (absl::Status s = RequiredTime("change_log.changed_at", entry.changed_at); !s.ok()) return s;
  XmlWriter& log = *change_log_.xml;
  log.Open("endring");
  log.Leaf("referanseArkivenhet", entry.system_id);
  log.Leaf("referanseMetadata", entry.field);
  log.Leaf("endretDato", DateTime(entry.changed_at));
  log.Leaf("endretAv", entry.changed_by);
  // Both values are required by the schema; Arkivverket's own examples write NULL for "none".
  log.Leaf("tidligereVerdi", IsBlank(entry.old_value) ? "NULL" : entry.old_value);
  log.Leaf("nyVerdi", IsBlank(entry.new_value) ? "NULL" : entry.new_value);
  log.Close();
  if (absl::Status s = Check(log.status()); !s.ok()) return s;
  change_log_entries_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status StreamingPackageWriter::WriteJournalFile(absl::string_view file, absl::string_view ns,
                                                      absl::string_view schema,
                                                      const fs::path& body,
                                                      std::string* sha256_hex) {
  absl::StatusOr<XmlFile> journal = XmlFile::Create(dir_ / std::string(file));
  if (!journal.ok()) return journal.status();
  XmlWriter& xml = *journal->xml;
  xml.Declaration();
  xml.Open(std::string(file.substr(0, file.find('.'))), RootAttributes(ns, schema));
  xml.Open("journalhode");
  xml.Leaf("journalStartDato", Date(std::min(config_.period_start, journal_first_)));
  xml.Leaf("journalSluttDato", Date(std::max(config_.period_end, journal_last_)));
  xml.Leaf("antallJournalposter", absl::StrCat(journal_entries_));
  xml.Open("arkivskaper");
  xml.Leaf("arkivskaperID", config_.creator_id);
  xml.Leaf("arkivskaperNavn", config_.creator_name);
  xml.Close();
  xml.Close();
  if (!xml.status().ok()) return xml.status();
  absl::StatusOr<std::unique_ptr<ByteSource>> in = OpenFileSource(body);
  if (!in.ok()) return in.status();
  std::string buffer(1 << 20, '\0');
  while (true) {
    absl::StatusOr<std::size_t> got = (*in)->Read(buffer.data(), buffer.size());
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    xml.Raw(absl::string_view(buffer.data(), *got));
  }
  xml.Close();
  if (!xml.status().ok()) return xml.status();
  if (absl::Status s = journal->file->Close(); !s.ok()) return s;
  *sha256_hex = journal->file->sha256_hex();
  return absl::OkStatus();
}

absl::Status StreamingPackageWriter::CopySchema(absl::string_view name, std::string* sha256_hex) {
  const fs::path source = options_.xsd_dir / std::string(name);
  absl::StatusOr<std::unique_ptr<ByteSource>> in = OpenFileSource(source);
  if (!in.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the official schema ", name, " is missing from the schema folder ",
                     options_.xsd_dir.string(), " (", in.status().message(), ")"));
  }
  absl::StatusOr<std::unique_ptr<HashingFileWriter>> out =
      HashingFileWriter::Create(dir_ / std::string(name));
  if (!out.ok()) return out.status();
  std::string buffer(1 << 16, '\0');
  while (true) {
    absl::StatusOr<std::size_t> got = (*in)->Read(buffer.data(), buffer.size());
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    if (absl::Status s = (*out)->Write(absl::string_view(buffer.data(), *got)); !s.ok()) return s;
  }
  if (absl::Status s = (*out)->Close(); !s.ok()) return s;
  if (sha256_hex != nullptr) *sha256_hex = (*out)->sha256_hex();
  return absl::OkStatus();
}

absl::StatusOr<PackageSummary> StreamingPackageWriter::Finish() {
  if (absl::Status s = Expect(State::kInSeries, "Finish"); !s.ok()) return s;
  absl::flat_hash_map<std::string, std::string> checksums;  // file name → SHA-256

  XmlWriter& xml = *structure_.xml;
  xml.Close();  // arkivdel
  xml.Close();  // arkiv
  if (absl::Status s = Check(xml.status()); !s.ok()) return s;
  if (absl::Status s = Check(structure_.file->Close()); !s.ok()) return s;
  checksums[layout::kStructureFile] = structure_.file->sha256_hex();

  if (change_log_entries_.load() == 0) {
    // The schema requires at least one endring. The extraction itself closed the archive
    // (arkivstatus Avsluttet), which is a true change to record.
    if (absl::Status s = AddChangeLogEntry({.system_id = archive_system_id_,
                                            .field = "arkivstatus",
                                            .changed_at = config_.now,
                                            .changed_by = config_.created_by,
                                            .old_value = "Opprettet",
                                            .new_value = "Avsluttet"});
        !s.ok()) {
      return s;
    }
  }
  XmlWriter& log = *change_log_.xml;
  log.Close();
  if (absl::Status s = Check(log.status()); !s.ok()) return s;
  if (absl::Status s = Check(change_log_.file->Close()); !s.ok()) return s;
  checksums[layout::kChangeLogFile] = change_log_.file->sha256_hex();

  if (absl::Status s = Check(running_journal_body_.file->Close()); !s.ok()) return s;
  if (absl::Status s = Check(public_journal_body_.file->Close()); !s.ok()) return s;
  if (journal_entries_ > 0) {
    std::string running_sha, public_sha;
    if (absl::Status s = Check(WriteJournalFile(
            layout::kRunningJournalFile, layout::kRunningJournalNamespace,
            layout::kRunningJournalSchema, running_journal_body_path_, &running_sha));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = Check(
            WriteJournalFile(layout::kPublicJournalFile, layout::kPublicJournalNamespace,
                             layout::kPublicJournalSchema, public_journal_body_path_, &public_sha));
        !s.ok()) {
      return s;
    }
    checksums[layout::kRunningJournalFile] = running_sha;
    checksums[layout::kPublicJournalFile] = public_sha;
  }
  std::error_code ignored;
  fs::remove(running_journal_body_path_, ignored);
  fs::remove(public_journal_body_path_, ignored);

  for (absl::string_view schema : layout::kAllSchemas) {
    const bool journal_schema =
        schema == layout::kRunningJournalSchema || schema == layout::kPublicJournalSchema;
    if (journal_schema && journal_entries_ == 0) continue;
    std::string sha;
    if (absl::Status s = Check(CopySchema(schema, &sha)); !s.ok()) return s;
    checksums[schema] = sha;
  }
  if (absl::Status s = Check(WriteAddml(checksums)); !s.ok()) return s;

  state_ = State::kFinished;
  PackageSummary summary;
  summary.package_id = package_id_;
  summary.directory = dir_;
  summary.totals = Progress();
  return summary;
}

// ADDML 8.3 after Riksarkivaren's Noark 5 v5 template (arkivuttrekk-template in the shared
// fixtures), with its placeholders filled in.
absl::Status StreamingPackageWriter::WriteAddml(
    const absl::flat_hash_map<std::string, std::string>& checksums) {
  absl::StatusOr<XmlFile> addml = XmlFile::Create(dir_ / layout::kAddmlFile);
  if (!addml.ok()) return addml.status();
  XmlWriter& xml = *addml->xml;
  auto property = [&xml](absl::string_view name, absl::string_view data_type = {}) {
    xml.Open("property", data_type.empty()
                             ? absl::StrCat("name=\"", name, "\"")
                             : absl::StrCat("dataType=\"", data_type, "\" name=\"", name, "\""));
  };
  auto value_property = [&](absl::string_view name, absl::string_view value,
                            absl::string_view data_type = {}) {
    property(name, data_type);
    xml.Leaf("value", value);
    xml.Close();
  };
  auto xml_format = [&]() {
    property("format");
    xml.Leaf("value", "XML");
    xml.Open("properties");
    value_property("version", "1.0");
    xml.Close();
    xml.Close();
  };
  auto file_property = [&](absl::string_view name, bool with_checksum) {
    property("file");
    xml.Open("properties");
    value_property("name", name);
    if (with_checksum) {
      xml_format();
      property("checksum");
      xml.Open("properties");
      value_property("algorithm", "SHA-256");
      value_property("value", checksums.at(std::string(name)));
      xml.Close();
      xml.Close();
    }
    xml.Close();
    xml.Close();
  };
  auto schema_property = [&](absl::string_view name, bool main) {
    property("schema");
    if (main) xml.Leaf("value", "main");
    xml.Open("properties");
    file_property(name, main);
    if (main) {
      property("type");
      xml.Leaf("value", "XML Schema");
      xml.Open("properties");
      value_property("version", "1.0");
      xml.Close();
      xml.Close();
    }
    xml.Close();
    xml.Close();
  };
  auto occurrences = [&](absl::string_view element, std::uint64_t count) {
    property("numberOfOccurrences");
    xml.Leaf("value", element);
    xml.Open("properties");
    value_property("elementPath", absl::StrCat("//", element));
    value_property("value", absl::StrCat(count), "integer");
    xml.Close();
    xml.Close();
  };
  // One dataObject per XML file: the file, its main schema, metadatakatalog.xsd, counts.
  // (The template gives metadatakatalog.xsd a checksum only under arkivstruktur.)
  auto data_object = [&](absl::string_view name, absl::string_view file, absl::string_view schema,
                         std::vector<std::pair<absl::string_view, std::uint64_t>> counts) {
    xml.Open("dataObject", absl::StrCat("name=\"", name, "\""));
    xml.Open("properties");
    file_property(file, true);
    schema_property(schema, true);
    schema_property(layout::kCatalogueSchema, false);
    property("info");
    xml.Open("properties");
    for (const auto& [element, count] : counts) occurrences(element, count);
    xml.Close();
    xml.Close();
    xml.Close();
    xml.Close();
  };

  const WriteProgress totals = Progress();
  xml.Declaration();
  xml.Open("addml",
           absl::StrCat("xmlns=\"", layout::kAddmlNamespace, "\" xmlns:xsi=\"",
                        layout::kXsiNamespace, "\" xsi:schemaLocation=\"", layout::kAddmlNamespace,
                        " ", layout::kAddmlSchema, "\" name=\"Noark 5-arkivuttrekk\""));
  xml.Open("dataset");
  xml.Leaf("description", "Noark 5-arkivuttrekk");
  xml.Open("reference");
  xml.Open("context");
  xml.Open("additionalElements");
  xml.Open("additionalElement", "name=\"recordCreators\"");
  xml.Open("additionalElements");
  xml.Open("additionalElement", "name=\"recordCreator\"");
  xml.Leaf("value", config_.creator_name);
  xml.Close();
  xml.Close();
  xml.Close();
  xml.Open("additionalElement", "name=\"systemType\"");
  xml.Leaf("value", "Fagsystem (Noark 5-uttrekk)");
  xml.Close();
  xml.Open("additionalElement", "name=\"systemName\"");
  xml.Leaf("value", IsBlank(config_.system_version)
                        ? config_.system_name
                        : absl::StrCat(config_.system_name, " ", config_.system_version));
  xml.Close();
  xml.Open("additionalElement", "name=\"archive\"");
  xml.Leaf("value", config_.archive_title);
  xml.Close();
  xml.Close();
  xml.Close();
  xml.Open("content");
  xml.Open("additionalElements");
  xml.Open("additionalElement", "name=\"archivalPeriod\"");
  xml.Open("properties");
  value_property("startDate", Date(config_.period_start));
  value_property("endDate", Date(config_.period_end));
  xml.Close();
  xml.Close();
  xml.Close();
  xml.Close();
  xml.Close();  // reference

  xml.Open("dataObjects");
  xml.Open("dataObject", "name=\"Noark 5-arkivuttrekk\"");
  xml.Open("properties");
  property("info");
  xml.Open("properties");
  property("type");
  xml.Leaf("value", "Noark 5");
  xml.Open("properties");
  value_property("version", "5.0");
  xml.Close();
  xml.Close();
  property("additionalInfo");
  xml.Open("properties");
  property("periode");
  xml.Open("properties");
  // The export covers exactly the configured period: both boundaries are sharp.
  value_property("inngaaendeSkille", "skarpt");
  value_property("utgaaendeSkille", "skarpt");
  xml.Close();
  xml.Close();
  value_property("inneholderSkjermetInformasjon", config_.screening ? "true" : "false", "boolean");
  value_property("omfatterDokumenterSomErKassert", "false", "boolean");
  value_property("inneholderDokumenterSomSkalKasseres", "false", "boolean");
  value_property("inneholderVirksomhetsspesifikkeMetadata",
                 IsBlank(config_.classification) ? "false" : "true", "boolean");
  value_property("antallDokumentfiler", absl::StrCat(totals.documents), "integer");
  xml.Close();
  xml.Close();
  xml.Close();
  xml.Close();
  xml.Close();  // properties

  xml.Open("dataObjects");
  // arkivstruktur also carries metadatakatalog.xsd's checksum, as in the template.
  xml.Open("dataObject", "name=\"arkivstruktur\"");
  xml.Open("properties");
  file_property(layout::kStructureFile, true);
  schema_property(layout::kStructureSchema, true);
  property("schema");
  xml.Open("properties");
  file_property(layout::kCatalogueSchema, true);
  property("type");
  xml.Leaf("value", "XML Schema");
  xml.Open("properties");
  value_property("version", "1.0");
  xml.Close();
  xml.Close();
  xml.Close();
  xml.Close();
  property("info");
  xml.Open("properties");
  occurrences("mappe", totals.case_files);
  occurrences("registrering", totals.registry_entries);
  xml.Close();
  xml.Close();
  xml.Close();
  xml.Close();
  data_object("endringslogg", layout::kChangeLogFile, layout::kChangeLogSchema,
              {{"endring", totals.change_log_entries}});
  if (journal_entries_ > 0) {
    data_object("loependeJournal", layout::kRunningJournalFile, layout::kRunningJournalSchema,
                {{"journalregistrering", journal_entries_}});
    data_object("offentligJournal", layout::kPublicJournalFile, layout::kPublicJournalSchema,
                {{"journalregistrering", journal_entries_}});
  }
  xml.Close();  // dataObjects
  xml.Close();  // dataObject
  xml.Close();  // dataObjects
  xml.Close();  // dataset
  xml.Close();  // addml
  if (!xml.status().ok()) return xml.status();
  return addml->file->Close();
}

}  // namespace

absl::Status WriteSubmissionInfo(const std::filesystem::path& tar_path,
                                 const std::filesystem::path& info_path,
                                 std::string_view package_id_view, const ExportConfig& config) {
  const std::string package_id(package_id_view);
  if (!IsUuid(package_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("package_id \"", package_id, "\": must be the package UUID"));
  }
  absl::StatusOr<HashAndSize> tar = HashFile(tar_path);
  if (!tar.ok()) return tar.status();
  std::error_code error;
  fs::remove(info_path, error);  // rewritten whole, never appended to
  absl::StatusOr<XmlFile> info = XmlFile::Create(info_path);
  if (!info.ok()) return info.status();
  XmlWriter& xml = *info->xml;
  auto attribute = [](absl::string_view name, absl::string_view value) {
    return absl::StrCat(name, "=\"", EscapeXml(value), "\"");
  };
  const std::string label = absl::StrCat(config.system_name, " (", Year(config.period_start), " - ",
                                         Year(config.period_end), ")");
  xml.Declaration();
  xml.Open("mets:mets",
           absl::StrJoin({std::string("xmlns:mets=\"http://www.loc.gov/METS/\""),
                          std::string("xmlns:xlink=\"http://www.w3.org/1999/xlink\""),
                          absl::StrCat("xmlns:xsi=\"", layout::kXsiNamespace, "\""),
                          attribute("OBJID", absl::StrCat("UUID:", package_id)),
                          attribute("LABEL", label), std::string("TYPE=\"SIP\""),
                          std::string("PROFILE=\"http://xml.ra.se/METS/RA_METS_eARD.xml\""),
                          std::string("xsi:schemaLocation=\"http://www.loc.gov/METS/ "
                                      "http://schema.arkivverket.no/METS/mets.xsd\"")},
                         " "));
  xml.Open("mets:metsHdr", attribute("CREATEDATE", DateTime(config.now)));
  auto agent = [&](absl::string_view role, absl::string_view type, absl::string_view name,
                   std::vector<std::string> notes) {
    std::string attributes = absl::StrCat("ROLE=\"", role, "\" TYPE=\"", type, "\"");
    if (type == "OTHER") absl::StrAppend(&attributes, " OTHERTYPE=\"SOFTWARE\"");
    xml.Open("mets:agent", attributes);
    xml.Leaf("mets:name", name);
    for (const std::string& note : notes) xml.Leaf("mets:note", note);
    xml.Close();
  };
  const std::string version = IsBlank(config.system_version) ? "N/A" : config.system_version;
  agent("ARCHIVIST", "ORGANIZATION", config.creator_name, {});
  agent("CREATOR", "ORGANIZATION", config.creator_name, {});
  agent("CREATOR", "OTHER", config.system_name, {version, "notescontent:Version"});
  agent("ARCHIVIST", "OTHER", config.system_name,
        {version, "Noark5", "v5.0", "notescontent:Version,Type,TypeVersion"});
  xml.Leaf("mets:altRecordID", config.archive_title, "TYPE=\"DELIVERYSPECIFICATION\"");
  xml.Leaf("mets:altRecordID", Date(config.period_start), "TYPE=\"STARTDATE\"");
  xml.Leaf("mets:altRecordID", Date(config.period_end), "TYPE=\"ENDDATE\"");
  xml.Close();
  xml.Open("mets:fileSec");
  xml.Open("mets:fileGrp", "ID=\"fileGroup001\" USE=\"FILES\"");
  xml.Open("mets:file",
           absl::StrCat("ID=\"fileId_0\" MIMETYPE=\"application/tar\" SIZE=\"", tar->size,
                        "\" CREATED=\"", DateTime(config.now), "\" CHECKSUM=\"", tar->sha256_hex,
                        "\" CHECKSUMTYPE=\"SHA-256\" USE=\"Datafile\""));
  xml.Raw(absl::StrCat("        <mets:FLocat LOCTYPE=\"URL\" xlink:type=\"simple\" ",
                       attribute("xlink:href", absl::StrCat("file:", package_id, ".tar")), "/>\n"));
  xml.Close();
  xml.Close();
  xml.Close();
  xml.Open("mets:structMap");
  // METS requires one div; Arkade's own info files leave it without content.
  xml.Raw(absl::StrCat("    <mets:div ", attribute("LABEL", label), "/>\n"));
  xml.Close();
  xml.Close();
  if (!xml.status().ok()) return xml.status();
  return info->file->Close();
}

absl::StatusOr<std::unique_ptr<PackageWriter>> PackageWriter::Create(
    const std::filesystem::path& staging_dir, const ExportConfig& config, WriterOptions options) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  if (!options.package_id.empty() && !IsUuid(options.package_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.package_id \"", options.package_id,
                     "\": must be a UUID such as 0f5e3a32-4d53-4a8e-9d3c-0c4b4c1d2e3f, or empty"));
  }
  std::error_code error;
  if (fs::exists(staging_dir, error)) {
    if (!fs::is_directory(staging_dir, error)) {
      return absl::FailedPreconditionError(
          absl::StrCat("staging directory ", staging_dir.string(), " is not a directory"));
    }
    if (!fs::is_empty(staging_dir, error)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "staging directory ", staging_dir.string(),
          " is not empty; delete it to restart an export, so no part of an earlier attempt "
          "ends up in the package"));
    }
  }
  if (absl::Status schemas = CheckSchemaFolder(options.xsd_dir); !schemas.ok()) return schemas;
  auto writer = std::make_unique<StreamingPackageWriter>(staging_dir, config, std::move(options));
  if (absl::Status s = writer->Open(); !s.ok()) return s;
  return writer;
}

absl::Status CheckSchemaFolder(const fs::path& xsd_dir) {
  std::error_code error;
  for (absl::string_view schema : layout::kAllSchemas) {
    if (!fs::is_regular_file(xsd_dir / std::string(schema), error)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the official schema ", schema, " is missing from the schema folder ", xsd_dir.string()));
    }
  }
  return absl::OkStatus();
}

}  // namespace smartby::noark5
