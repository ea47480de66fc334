// Checks of a Noark 5 v5 extraction package, mirroring Arkivverket's Arkade 5 tests by id.
//
// CheckPackage reads a package directory (the one holding arkivuttrekk.xml), or a TAR made by
// WriteTar or by another system (the directory holding arkivuttrekk.xml may sit anywhere in it,
// e.g. "<uuid>/content/"). Files are streamed: large XML files go through libxml2's reader
// (never a whole DOM) and documents are hashed in chunks, so memory stays constant whatever the
// size. A TAR is read in place, not unpacked.
//
// Checks (ids as in Arkade 5):
//   N5.01 required files present (arkivuttrekk.xml, arkivstruktur.xml, endringslogg.xml, the
//         XSDs; loependeJournal.xml and offentligJournal.xml when the package has journalposts)
//   N5.02 every file with a checksum in arkivuttrekk.xml matches it (SHA-256)
//   N5.03 every XML file is valid against the official schema from xsd_dir
//   N5.10 number of mapper matches arkivuttrekk.xml (antallMapper)
//   N5.16 number of registreringer matches arkivuttrekk.xml (antallRegistreringer)
//   N5.28 number of document files matches arkivuttrekk.xml (antallDokumentfiler)
//   N5.30 every dokumentobjekt's sjekksum/filstoerrelse matches its file
//   N5.32 every referanseDokumentfil names a file in the package
//   N5.33 no file under the document folder is left unreferenced
//   N5.47 systemIDs are unique in arkivstruktur.xml
//   N5.62 every endringslogg referanseArkivenhet names a systemID in arkivstruktur.xml
//   N5.63 no empty elements in any XML file
// A check that cannot run because its input is missing fails with a finding that says so.
//
// Thread safety: CheckPackage is reentrant; libxml2 is initialised once per process.
#ifndef SMARTBY_SERVICES_ARCHIVE_NOARK5_PACKAGE_CHECK_H_
#define SMARTBY_SERVICES_ARCHIVE_NOARK5_PACKAGE_CHECK_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartby::noark5 {

struct CheckResult {
  std::string id;    // "N5.02"
  std::string name;  // "ADDML checksums", plain language
  bool passed = false;
  // Plain-language findings: for a failure, what is wrong and where (file, element, systemID);
  // at most kMaxFindingsPerCheck, then one line saying how many more there were.
  std::vector<std::string> findings;
};

inline constexpr int kMaxFindingsPerCheck = 50;

struct CheckReport {
  std::vector<CheckResult> results;  // one per check id, in the order listed above

  bool passed() const;
  // The result for `id`, or nullptr.
  const CheckResult* Find(std::string_view id) const;
  // Human-readable report: one line per check ("PASS N5.01 required files present"), then its
  // findings indented.
  std::string ToText() const;
};

// Runs every check. Returns an error status only when the package cannot be read at all (path
// missing, not a directory or TAR, no arkivuttrekk.xml/arkivstruktur.xml anywhere, xsd_dir lacks
// the official XSDs); every problem *in* a package is a failed check in the report.
// on_progress (optional) is called as files are read, with the bytes read so far and the
// package's size (files are read about twice: XML files for schema and checksum, documents
// once), so done can pass total a little before the end.
absl::StatusOr<CheckReport> CheckPackage(
    const std::filesystem::path& package, const std::filesystem::path& xsd_dir,
    const std::function<void(std::uint64_t done, std::uint64_t total)>& on_progress = nullptr);

// The package member a referanseDokumentfil names, relative to arkivstruktur.xml: some systems
// write '\' for '/' or lead with "./" (".\dokumenter\1.pdf" -> "dokumenter/1.pdf"). The checker
// and the Noark 5 push must resolve a reference the same way.
std::string DocumentMemberName(absl::string_view reference);

}  // namespace smartby::noark5

#endif  // SMARTBY_SERVICES_ARCHIVE_NOARK5_PACKAGE_CHECK_H_
