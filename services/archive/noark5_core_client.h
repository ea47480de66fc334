// A client of the Noark 5 service interface (tjenestegrensesnitt, Noark 5 v5: REST with JSON
// hypermedia, media type application/vnd.noark5+json), for pushing archive-worthy records
// straight into a municipality's Noark 5 core instead of delivering a package.
//
// It never builds a URL itself: it reads the root's `_links`, follows the published relations to
// the arkivdel, and creates each object through the `ny-*` relation of its parent, as the
// standard requires:
//   root ─arkivstruktur─▶ arkivstruktur ─arkivdel─▶ arkivdel list (the one titled
//   CorePushOptions::series_title, or the first)
//   arkivdel ─ny-saksmappe─▶ saksmappe ─ny-journalpost─▶ journalpost
//   ─ny-dokumentbeskrivelse─▶ dokumentbeskrivelse ─ny-dokumentobjekt─▶ dokumentobjekt
//   ─fil─▶ the file's bytes (POST, the document's own Content-Type)
// Every request carries "Authorization: Bearer <token>" from a TokenProvider (an OIDC access
// token; OidcClientCredentials gets one from the IdP's token endpoint).
//
// Thread safety: one push at a time per client (libcurl easy handles are made per request).
#ifndef SMARTBY_SERVICES_ARCHIVE_NOARK5_CORE_CLIENT_H_
#define SMARTBY_SERVICES_ARCHIVE_NOARK5_CORE_CLIENT_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/runtime/service_token.h"

namespace smartby::archive {

inline constexpr char kNoark5MediaType[] = "application/vnd.noark5+json";

// The relations followed (Noark 5 v5 tjenestegrensesnitt).
inline constexpr char kRelArkivstruktur[] = "https://rel.arkivverket.no/noark5/v5/api/arkivstruktur/";
inline constexpr char kRelArkivdel[] = "https://rel.arkivverket.no/noark5/v5/api/arkivstruktur/arkivdel/";
inline constexpr char kRelNySaksmappe[] = "https://rel.arkivverket.no/noark5/v5/api/sakarkiv/ny-saksmappe/";
inline constexpr char kRelNyJournalpost[] = "https://rel.arkivverket.no/noark5/v5/api/sakarkiv/ny-journalpost/";
inline constexpr char kRelNyDokumentbeskrivelse[] =
    "https://rel.arkivverket.no/noark5/v5/api/arkivstruktur/ny-dokumentbeskrivelse/";
inline constexpr char kRelNyDokumentobjekt[] =
    "https://rel.arkivverket.no/noark5/v5/api/arkivstruktur/ny-dokumentobjekt/";
inline constexpr char kRelFil[] = "https://rel.arkivverket.no/noark5/v5/api/arkivstruktur/fil/";

struct CoreDocument {
  std::string title;                  // dokumentbeskrivelse/tittel
  std::string document_type = "Dokument";
  bool main_document = true;          // Hoveddokument / Vedlegg
  std::filesystem::path file;         // the bytes to upload
  std::string media_type;             // Content-Type of the upload, e.g. "text/csv"
  std::string format;                 // dokumentobjekt/format, e.g. "x-fmt/18"
  // The part of `file` to upload (e.g. a member of a TAR): from file_offset, file_size bytes;
  // file_size < 0: to the end of the file.
  std::uint64_t file_offset = 0;
  std::int64_t file_size = -1;
};

struct CoreRegistryEntry {
  std::string title;                  // journalpost/tittel
  std::string journal_entry_type = "Organinternt dokument uten oppfølging";
  std::string journal_status = "Journalført";
  std::vector<CoreDocument> documents;
};

struct CoreCaseFile {
  std::string title;                  // saksmappe/tittel
  std::string description;
  std::string responsible_unit;       // administrativEnhet
  std::string case_handler;           // saksansvarlig
  std::vector<CoreRegistryEntry> entries;
};

// The systemIDs (or self links, when the core gives no systemID) of what was created.
struct PushedCaseFile {
  std::string case_file;
  std::vector<std::string> registry_entries;
  std::vector<std::string> document_objects;
};

struct CorePushOptions {
  std::string root_url;               // e.g. https://arkiv.kommune.no/noark5v5/
  std::string series_title;           // the arkivdel to file under; empty: the first listed
  std::string ca_file;                // CA bundle for https (default: system roots)
  absl::Duration timeout = absl::Seconds(60);
};

class Noark5CoreClient {
 public:
  Noark5CoreClient(CorePushOptions options, std::shared_ptr<TokenProvider> tokens);

  // Creates the case file, its registry entries and documents, and uploads the files. Errors
  // name the step and relation ("arkivdel ... has no link ny-saksmappe") or carry the core's
  // status and answer. Not atomic: a failure part way leaves what was created (the Noark 5
  // interface has no transactions); the error says how far it came.
  absl::StatusOr<PushedCaseFile> PushCaseFile(const CoreCaseFile& case_file);

 private:
  CorePushOptions options_;
  std::shared_ptr<TokenProvider> tokens_;
};

// An OIDC access token by the client-credentials grant (RFC 6749 §4.4) from `token_url`, cached
// until a minute before it expires.
class OidcClientCredentials : public TokenProvider {
 public:
  OidcClientCredentials(std::string token_url, std::string client_id, std::string client_secret,
                        std::string scope = "", std::string ca_file = "");
  absl::StatusOr<std::string> Token() override;

 private:
  const std::string token_url_, client_id_, client_secret_, scope_, ca_file_;
  std::mutex mu_;
  std::string token_;
  absl::Time expires_ = absl::InfinitePast();
};

}  // namespace smartby::archive

#endif  // SMARTBY_SERVICES_ARCHIVE_NOARK5_CORE_CLIENT_H_
