// Noark 5 v5 extraction packages (arkivuttrekk), written by streaming.
//
// A package is one arkiv with one arkivdel holding case files (saksmappe), each with registry
// entries (journalpost or arkivnotat), each with zero or more documents (dokumentbeskrivelse +
// dokumentobjekt, the file under dokumenter/). The writer produces, in its staging directory:
//
//   arkivuttrekk.xml        ADDML 8.3 description: counts, SHA-256 of every other XML/XSD file
//   arkivstruktur.xml       the archive structure, written as the caller goes
//   endringslogg.xml        the change log (the schema needs one entry: without any, Finish
//                           records the archive's closing)
//   loependeJournal.xml     the running journal    } only when at least one journalpost
//   offentligJournal.xml    the public journal     } was written
//   *.xsd                   the unmodified official schemas (copied from WriterOptions::xsd_dir)
//   dokumenter/...          the document files
//
// Nothing is held in memory beyond the currently open elements: XML is written to disk as the
// caller adds things, and documents stream to disk while their SHA-256 and size are computed.
// The package is complete only after Finish() returns OK; the caller should then run
// CheckPackage (package_check.h) before it marks the package as delivered.
//
// Order of calls: BeginCaseFile → (BeginRegistryEntry → AddDocument* → EndRegistryEntry)* →
// EndCaseFile, repeated for each case file; AddChangeLogEntry at any time before Finish. A call
// out of order returns FAILED_PRECONDITION. Input refused before anything is written (a missing
// field or date, a bad or duplicate file name) leaves the writer usable; any later error (disk,
// a failing document callback, text XML cannot hold) makes it unusable, and every further call
// says so: delete the staging directory and start again (a restart is clean because Create
// refuses a non-empty directory).
//
// Thread safety: one thread drives a writer. Progress() may be called from any thread.
#ifndef SMARTBY_SERVICES_ARCHIVE_NOARK5_PACKAGE_WRITER_H_
#define SMARTBY_SERVICES_ARCHIVE_NOARK5_PACKAGE_WRITER_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace smartby::noark5 {

// The XSDs shipped with this library (services/archive/noark5/xsd in the source tree). The
// service should take the directory from a flag in its image; this is the default for
// development and tests.
std::filesystem::path SourceTreeXsdDir();

// OK when `xsd_dir` holds every official schema a package carries (the writer copies them in);
// FAILED_PRECONDITION naming the first one missing. The writer checks this before it writes; the
// service at start-up, so a wrong folder stops it there and not at the end of every export.
absl::Status CheckSchemaFolder(const std::filesystem::path& xsd_dir);

// Screening (skjerming) written on the arkivdel, every saksmappe and every registry entry when
// set: Noark 5 requires tilgangsrestriksjon, skjermingshjemmel and what is screened.
struct Screening {
  std::string access_restriction;  // tilgangsrestriksjon, e.g. "13" (taushetsplikt)
  std::string legal_basis;         // skjermingshjemmel, e.g. "Offl. § 13, jf. fvl. § 13"
  std::vector<std::string> screened_metadata = {"tittel"};  // skjermingMetadata, at least one
};

// Per-export configuration: what the municipality requires per document type.
struct ExportConfig {
  std::string system_name = "Smartby";     // the producing system (ADDML, opprettetAv defaults)
  std::string system_version;              // optional
  std::string archive_title;               // arkiv/tittel; required
  std::string archive_description;         // arkiv/beskrivelse; optional
  std::string creator_id;                  // arkivskaperID, e.g. organisation number; required
  std::string creator_name;                // arkivskaperNavn, the municipality; required
  std::string series_title;                // arkivdel/tittel; required
  std::string document_type = "Dokument";  // dokumenttype of every dokumentbeskrivelse
  std::string responsible_unit;            // administrativEnhet of every saksmappe; required
  std::string case_handler;                // saksansvarlig / saksbehandler; required
  std::string created_by;                  // opprettetAv / arkivertAv; defaults to case_handler
  absl::Time period_start;                 // arkivperiodeStartDato and ADDML period; required
  absl::Time period_end;                   // arkivperiodeSluttDato; required, after period_start
  // The platform's confidentiality class (Åpen, Intern, Beskyttet, Strengt beskyttet). Kept on
  // every saksmappe as virksomhetsspesifikkeMetadata (smartby:klassifisering), which
  // arkivuttrekk.xml then declares. Optional.
  std::string classification;
  std::optional<Screening> screening;  // set for anything above Åpen that must be screened
  absl::Time now = absl::Now();        // creation/archiving time written in the package
};

// A case file (saksmappe), e.g. one dataset.
struct CaseFile {
  std::string title;                          // tittel; required
  std::string public_title;                   // offentligTittel; optional
  std::string description;                    // beskrivelse; optional
  std::vector<std::string> keywords;          // noekkelord; empty values are skipped
  std::string external_id;                    // mappeID (e.g. the dataset id); defaults to year/seq
  absl::Time created = absl::InfinitePast();  // opprettetDato / saksdato; required
  std::optional<absl::Time> closed;           // avsluttetDato; defaults to ExportConfig::now
  std::string status = "Avsluttet";           // saksstatus
};

enum class RegistryEntryKind {
  kJournalEntry,  // journalpost: numbered in the journal, appears in the journals
  kNote,          // arkivnotat: internal note, not journaled
};

// A registry entry (registrering): a published version, a risk assessment, a retirement, ...
struct RegistryEntry {
  RegistryEntryKind kind = RegistryEntryKind::kJournalEntry;
  std::string title;                  // tittel; required, e.g. "Publisert versjon 3"
  std::string public_title;           // offentligTittel; optional
  std::string description;            // beskrivelse; optional
  std::vector<std::string> keywords;  // noekkelord
  std::string author;                 // forfatter; optional
  std::string reference;              // registreringsID, e.g. "dataset-x/v3"; optional
  // opprettetDato / journaldato / dokumentetsDato; required
  absl::Time date = absl::InfinitePast();
  // journalposttype for journalpost: "Organinternt dokument uten oppfølging" suits platform
  // records; "Utgående dokument" and "Inngående dokument" exist too.
  std::string journal_entry_type = "Organinternt dokument uten oppfølging";
  std::string journal_status = "Arkivert";  // journalstatus
};

// A document to add to the open registry entry.
struct Document {
  std::string title;        // dokumentbeskrivelse/tittel; required
  std::string description;  // optional
  // File name under dokumenter/; must be a plain name (no '/', not "." or ".."), unique in the
  // package. referanseDokumentfil becomes "dokumenter/<file_name>".
  std::string file_name;
  // Format (M701), ideally a PRONOM id: "fmt/95" PDF/A, "x-fmt/18" CSV, "fmt/817" JSON,
  // "x-fmt/111" plain text.
  std::string format;
  std::string format_details;  // formatDetaljer; optional, e.g. "text/csv; UTF-8"
  bool main_document = true;   // tilknyttetRegistreringSom: Hoveddokument / Vedlegg
  std::string document_status = "Dokumentet er ferdigstilt";
};

// Where a document's bytes go. Each Write appends; the writer hashes and counts as it goes.
class DocumentSink {
 public:
  virtual ~DocumentSink() = default;
  virtual absl::Status Write(std::string_view bytes) = 0;
};

// What was written for one document.
struct WrittenDocument {
  std::string description_system_id;  // dokumentbeskrivelse systemID
  std::string object_system_id;       // dokumentobjekt systemID
  std::string path;                   // "dokumenter/<file_name>"
  std::string sha256_hex;             // lower-case
  std::uint64_t size_bytes = 0;
};

// Counters for progress reports. Readable from any thread while writing.
struct WriteProgress {
  std::uint64_t case_files = 0;        // mapper started
  std::uint64_t registry_entries = 0;  // registreringer started
  std::uint64_t documents = 0;         // document files completed
  std::uint64_t document_bytes = 0;    // bytes of document files written so far
  std::uint64_t change_log_entries = 0;
};

// What Finish() produced.
struct PackageSummary {
  std::string package_id;           // UUID; the TAR's top directory and file name stem
  std::filesystem::path directory;  // the staging directory
  WriteProgress totals;
};

struct WriterOptions {
  std::filesystem::path xsd_dir = SourceTreeXsdDir();  // holds the official XSDs (see above)
  std::string package_id;  // a UUID (8-4-4-4-12 hex digits); generated when empty
  // Called after each document and each registry entry (on the writer's thread); optional.
  std::function<void(const WriteProgress&)> on_progress;
};

class PackageWriter {
 public:
  // Validates the configuration (errors name the field), creates staging_dir if needed (it must
  // be absent or empty) and opens the XML streams.
  static absl::StatusOr<std::unique_ptr<PackageWriter>> Create(
      const std::filesystem::path& staging_dir, const ExportConfig& config,
      WriterOptions options = {});

  virtual ~PackageWriter() = default;

  // Opens a saksmappe; returns its systemID.
  virtual absl::StatusOr<std::string> BeginCaseFile(const CaseFile& case_file) = 0;
  // Opens a registry entry in the open case file; returns its systemID.
  virtual absl::StatusOr<std::string> BeginRegistryEntry(const RegistryEntry& entry) = 0;
  // Adds a document to the open registry entry: `write` is called once and streams the bytes
  // into the sink. If `write` fails, its status is returned and the writer is unusable.
  virtual absl::StatusOr<WrittenDocument> AddDocument(
      const Document& document, const std::function<absl::Status(DocumentSink&)>& write) = 0;
  // Same, copying an existing file in chunks.
  virtual absl::StatusOr<WrittenDocument> AddDocumentFromFile(
      const Document& document, const std::filesystem::path& source) = 0;
  virtual absl::Status EndRegistryEntry() = 0;
  // A registry entry without documents: BeginRegistryEntry + EndRegistryEntry.
  virtual absl::StatusOr<std::string> AddRegistryEntry(const RegistryEntry& entry) = 0;
  virtual absl::Status EndCaseFile() = 0;

  // One endringslogg entry about the unit with `system_id` (must be written to arkivstruktur by
  // Finish; CheckPackage's N5.62 checks that). old_value may be empty (a creation).
  struct ChangeLogEntry {
    std::string system_id;                         // referanseArkivenhet
    std::string field;                             // referanseMetadata, e.g. "tittel"
    absl::Time changed_at = absl::InfinitePast();  // endretDato; required
    std::string changed_by;                        // endretAv
    std::string old_value;                         // tidligereVerdi; optional
    std::string new_value;                         // nyVerdi; optional
  };
  virtual absl::Status AddChangeLogEntry(const ChangeLogEntry& entry) = 0;

  // Closes every stream, writes arkivuttrekk.xml and copies the XSDs. No case file or registry
  // entry may be open.
  virtual absl::StatusOr<PackageSummary> Finish() = 0;

  virtual WriteProgress Progress() const = 0;
};

// Progress of a long step over bytes: how many are done out of how many in all.
using ByteProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// Packs a finished package directory into a TAR (POSIX ustar, with pax headers for long names
// and files ≥ 8 GiB), streamed with constant memory. Every entry sits under
// "<package_id>/content/", the layout Arkade 5 expects of a {uuid}.tar. Writes to
// tar_path + ".partial", syncs, and renames when complete. on_progress (optional) is called
// after each file with the file bytes packed so far.
absl::Status WriteTar(const std::filesystem::path& package_dir,
                      const std::filesystem::path& tar_path, std::string_view package_id,
                      const ByteProgress& on_progress = nullptr);

// Writes the METS file Arkade 5 reads next to a "{uuid}.tar" (as "{uuid}.xml", its info.xml):
// the archive creator and producing system, the period, and the TAR's size and SHA-256 (read
// from tar_path, so call it after WriteTar). Valid against the METS schema Arkivverket uses.
absl::Status WriteSubmissionInfo(const std::filesystem::path& tar_path,
                                 const std::filesystem::path& info_path,
                                 std::string_view package_id, const ExportConfig& config);

// A random (version 4) UUID, lower case.
std::string NewUuid();

}  // namespace smartby::noark5

#endif  // SMARTBY_SERVICES_ARCHIVE_NOARK5_PACKAGE_WRITER_H_
