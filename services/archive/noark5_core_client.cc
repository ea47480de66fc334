#include "services/archive/noark5_core_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "services/archive/noark5/hashing_file.h"
#include "services/runtime/status.h"

namespace smartby::archive {
namespace {

using nlohmann::json;

struct HttpResponse {
  long status = 0;
  std::string body;
};

size_t Collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// A byte range of an open file (the whole file, or one member of a TAR).
struct FileRange {
  FILE* file = nullptr;
  std::uint64_t remaining = 0;
};

size_t ReadRange(char* buffer, size_t size, size_t count, void* context) {
  auto* range = static_cast<FileRange*>(context);
  const size_t wanted =
      static_cast<size_t>(std::min<std::uint64_t>(size * count, range->remaining));
  const size_t got = std::fread(buffer, 1, wanted, range->file);
  range->remaining -= got;
  return got;
}

// Opens `document`'s bytes at their offset; `size` gets their length.
absl::StatusOr<std::unique_ptr<FILE, decltype(&std::fclose)>> OpenDocument(
    const CoreDocument& document, std::uint64_t* size) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(document.file.c_str(), "rb"),
                                                     std::fclose);
  std::error_code ec;
  const std::uint64_t file_size = std::filesystem::file_size(document.file, ec);
  if (!file || ec) return absl::NotFoundError(absl::StrCat("cannot read ", document.file.string()));
  if (document.file_offset > file_size ||
      (document.file_size >= 0 &&
       document.file_offset + static_cast<std::uint64_t>(document.file_size) > file_size)) {
    return absl::DataLossError(absl::StrCat(document.file.string(), " is shorter than the ",
                                            "document \"", document.title, "\" it should hold"));
  }
  if (fseeko(file.get(), static_cast<off_t>(document.file_offset), SEEK_SET) != 0) {
    return absl::DataLossError(absl::StrCat("cannot seek in ", document.file.string()));
  }
  *size = document.file_size >= 0 ? static_cast<std::uint64_t>(document.file_size)
                                  : file_size - document.file_offset;
  return file;
}

// One request with libcurl. `upload` (may be null) streams a file as the body.
absl::StatusOr<HttpResponse> Send(const std::string& method, const std::string& url,
                                  const std::vector<std::string>& headers,
                                  const std::string& body, const CoreDocument* upload,
                                  const std::string& ca_file, absl::Duration timeout) {
  static const bool initialised = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == 0; }();
  if (!initialised) return absl::InternalError("libcurl could not be initialised");
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("libcurl could not be initialised");
  curl_slist* list = nullptr;
  for (const std::string& header : headers) list = curl_slist_append(list, header.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(list,
                                                                          curl_slist_free_all);
  HttpResponse response;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  std::unique_ptr<FILE, decltype(&std::fclose)> file(nullptr, std::fclose);
  FileRange range;
  if (upload != nullptr) {
    std::uint64_t size = 0;
    ASSIGN_OR_RETURN(file, OpenDocument(*upload, &size));
    range = FileRange{file.get(), size};
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadRange);
    curl_easy_setopt(c, CURLOPT_READDATA, &range);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(size));
  } else if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  const CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(method, " ", url, ": ", curl_easy_strerror(code)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

// The href of `rel` among an object's _links: the v5 array form [{"rel":..,"href":..}] or the
// HAL object form {"<rel>": {"href": ..}}.
std::string LinkOf(const json& object, const std::string& rel) {
  if (!object.is_object() || !object.contains("_links")) return "";
  const json& links = object["_links"];
  if (links.is_array()) {
    for (const json& link : links) {
      if (link.value("rel", "") == rel) return link.value("href", "");
    }
  } else if (links.is_object() && links.contains(rel)) {
    const json& link = links[rel];
    if (link.is_object()) return link.value("href", "");
  }
  return "";
}

json Code(const std::string& name, const std::map<std::string, std::string>& codes) {
  json value = {{"kodenavn", name}};
  if (auto it = codes.find(name); it != codes.end()) value["kode"] = it->second;
  return value;
}

const std::map<std::string, std::string>& JournalEntryTypes() {
  static const auto* codes = new std::map<std::string, std::string>{
      {"Inngående dokument", "I"},
      {"Utgående dokument", "U"},
      {"Organinternt dokument for oppfølging", "N"},
      {"Organinternt dokument uten oppfølging", "X"},
  };
  return *codes;
}

const std::map<std::string, std::string>& JournalStatuses() {
  static const auto* codes = new std::map<std::string, std::string>{
      {"Journalført", "J"}, {"Ferdigstilt fra saksbehandler", "F"}, {"Arkivert", "A"},
      {"Godkjent av leder", "E"}, {"Ekspedert", "E"}};
  return *codes;
}

class Session {
 public:
  Session(const CorePushOptions& options, TokenProvider* tokens)
      : options_(options), tokens_(tokens) {}

  absl::StatusOr<json> Get(const std::string& url, const std::string& what) {
    ASSIGN_OR_RETURN(std::vector<std::string> headers, Headers(false));
    ASSIGN_OR_RETURN(HttpResponse response,
                     Send("GET", url, headers, "", nullptr, options_.ca_file, options_.timeout));
    return Parse(response, "GET", url, what);
  }

  // POST of a new object to a ny-* relation; the core answers 201 with the object.
  absl::StatusOr<json> Create(const std::string& url, const json& object,
                              const std::string& what) {
    ASSIGN_OR_RETURN(std::vector<std::string> headers, Headers(true));
    ASSIGN_OR_RETURN(HttpResponse response,
                     Send("POST", url, headers, object.dump(), nullptr, options_.ca_file,
                          options_.timeout));
    return Parse(response, "POST", url, what);
  }

  absl::Status Upload(const std::string& url, const CoreDocument& document) {
    ASSIGN_OR_RETURN(const std::string token, tokens_->Token());
    std::vector<std::string> headers = {
        absl::StrCat("Authorization: Bearer ", token),
        absl::StrCat("Content-Type: ",
                     document.media_type.empty() ? "application/octet-stream"
                                                 : document.media_type),
        absl::StrCat("Accept: ", kNoark5MediaType), "Expect:"};
    ASSIGN_OR_RETURN(HttpResponse response,
                     Send("POST", url, headers, "", &document, options_.ca_file,
                          options_.timeout));
    if (response.status < 200 || response.status >= 300) {
      return Refused(response, "POST", url, absl::StrCat("the file of ", document.title));
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<std::vector<std::string>> Headers(bool with_body) {
    ASSIGN_OR_RETURN(const std::string token, tokens_->Token());
    // "Expect:" keeps libcurl from waiting for a 100 Continue some servers never send.
    std::vector<std::string> headers = {absl::StrCat("Authorization: Bearer ", token),
                                        absl::StrCat("Accept: ", kNoark5MediaType), "Expect:"};
    if (with_body) headers.push_back(absl::StrCat("Content-Type: ", kNoark5MediaType));
    return headers;
  }

  static absl::Status Refused(const HttpResponse& response, const std::string& method,
                              const std::string& url, const std::string& what) {
    const std::string answer = response.body.substr(0, 500);
    const std::string text = absl::StrCat("the Noark 5 core refused ", what, " (", method, " ",
                                          url, "): HTTP ", response.status,
                                          answer.empty() ? "" : ": ", answer);
    if (response.status == 401) return absl::UnauthenticatedError(text);
    if (response.status == 403) return absl::PermissionDeniedError(text);
    if (response.status == 404) return absl::NotFoundError(text);
    if (response.status >= 500) return absl::UnavailableError(text);
    return absl::FailedPreconditionError(text);
  }

  static absl::StatusOr<json> Parse(const HttpResponse& response, const std::string& method,
                                    const std::string& url, const std::string& what) {
    if (response.status < 200 || response.status >= 300) {
      return Refused(response, method, url, what);
    }
    json parsed = json::parse(response.body, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return absl::DataLossError(absl::StrCat("the Noark 5 core's answer for ", what, " (",
                                              method, " ", url, ") is not a JSON object"));
    }
    return parsed;
  }

  const CorePushOptions& options_;
  TokenProvider* tokens_;
};

// The href of `rel` or an error naming what lacks it.
absl::StatusOr<std::string> Follow(const json& object, const std::string& rel,
                                   const std::string& what) {
  std::string href = LinkOf(object, rel);
  if (href.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " has no link ", rel, " (the Noark 5 core does not offer it here)"));
  }
  return href;
}

std::string IdOf(const json& object) {
  if (object.contains("systemID") && object["systemID"].is_string()) {
    return object["systemID"].get<std::string>();
  }
  return LinkOf(object, "self");
}

absl::StatusOr<std::pair<std::string, int64_t>> HashFile(const CoreDocument& document) {
  std::uint64_t size = 0;
  ASSIGN_OR_RETURN(auto file, OpenDocument(document, &size));
  FileRange range{file.get(), size};
  noark5::Sha256 hash;
  std::string buffer(1 << 20, '\0');
  while (range.remaining > 0) {
    const size_t got = ReadRange(buffer.data(), 1, buffer.size(), &range);
    if (got == 0) {
      return absl::DataLossError(absl::StrCat("cannot read ", document.file.string()));
    }
    hash.Update(absl::string_view(buffer.data(), got));
  }
  return std::make_pair(hash.FinishHex(), static_cast<int64_t>(size));
}

}  // namespace

Noark5CoreClient::Noark5CoreClient(CorePushOptions options, std::shared_ptr<TokenProvider> tokens)
    : options_(std::move(options)), tokens_(std::move(tokens)) {}

absl::StatusOr<PushedCaseFile> Noark5CoreClient::PushCaseFile(const CoreCaseFile& case_file) {
  Session session(options_, tokens_.get());
  ASSIGN_OR_RETURN(json root, session.Get(options_.root_url, "the root"));
  ASSIGN_OR_RETURN(std::string structure_url, Follow(root, kRelArkivstruktur, "the root"));
  ASSIGN_OR_RETURN(json structure, session.Get(structure_url, "arkivstruktur"));
  ASSIGN_OR_RETURN(std::string series_url, Follow(structure, kRelArkivdel, "arkivstruktur"));
  ASSIGN_OR_RETURN(json series_list, session.Get(series_url, "the list of arkivdeler"));
  const json* series = nullptr;
  if (series_list.contains("results") && series_list["results"].is_array()) {
    for (const json& candidate : series_list["results"]) {
      if (options_.series_title.empty() ||
          candidate.value("tittel", "") == options_.series_title) {
        series = &candidate;
        break;
      }
    }
  }
  if (series == nullptr) {
    return absl::NotFoundError(
        options_.series_title.empty()
            ? std::string("the Noark 5 core lists no arkivdel")
            : absl::StrCat("the Noark 5 core has no arkivdel titled \"", options_.series_title,
                           "\""));
  }

  PushedCaseFile pushed;
  ASSIGN_OR_RETURN(std::string new_case_url, Follow(*series, kRelNySaksmappe, "the arkivdel"));
  json case_body = {{"tittel", case_file.title},
                    {"saksstatus", {{"kode", "B"}, {"kodenavn", "Under behandling"}}}};
  if (!case_file.description.empty()) case_body["beskrivelse"] = case_file.description;
  if (!case_file.responsible_unit.empty()) {
    case_body["administrativEnhet"] = case_file.responsible_unit;
  }
  if (!case_file.case_handler.empty()) case_body["saksansvarlig"] = case_file.case_handler;
  ASSIGN_OR_RETURN(json created_case,
                   session.Create(new_case_url, case_body,
                                  absl::StrCat("the saksmappe \"", case_file.title, "\"")));
  pushed.case_file = IdOf(created_case);

  for (const CoreRegistryEntry& entry : case_file.entries) {
    ASSIGN_OR_RETURN(std::string new_entry_url,
                     Follow(created_case, kRelNyJournalpost, "the new saksmappe"));
    json entry_body = {{"tittel", entry.title},
                       {"journalposttype", Code(entry.journal_entry_type, JournalEntryTypes())},
                       {"journalstatus", Code(entry.journal_status, JournalStatuses())}};
    ASSIGN_OR_RETURN(json created_entry,
                     session.Create(new_entry_url, entry_body,
                                    absl::StrCat("the journalpost \"", entry.title, "\"")));
    pushed.registry_entries.push_back(IdOf(created_entry));
    for (const CoreDocument& document : entry.documents) {
      ASSIGN_OR_RETURN(auto digest, HashFile(document));
      ASSIGN_OR_RETURN(std::string new_description_url,
                       Follow(created_entry, kRelNyDokumentbeskrivelse, "the new journalpost"));
      json description_body = {
          {"tittel", document.title},
          {"dokumenttype", {{"kodenavn", document.document_type}}},
          {"dokumentstatus", {{"kode", "F"}, {"kodenavn", "Dokumentet er ferdigstilt"}}},
          {"tilknyttetRegistreringSom",
           document.main_document ? json{{"kode", "H"}, {"kodenavn", "Hoveddokument"}}
                                  : json{{"kode", "V"}, {"kodenavn", "Vedlegg"}}}};
      ASSIGN_OR_RETURN(json created_description,
                       session.Create(new_description_url, description_body,
                                      absl::StrCat("the dokumentbeskrivelse \"", document.title,
                                                   "\"")));
      ASSIGN_OR_RETURN(std::string new_object_url,
                       Follow(created_description, kRelNyDokumentobjekt,
                              "the new dokumentbeskrivelse"));
      json object_body = {{"versjonsnummer", 1},
                          {"variantformat", {{"kode", "A"}, {"kodenavn", "Arkivformat"}}},
                          {"format", {{"kode", document.format}}},
                          {"mimeType", document.media_type},
                          {"sjekksum", digest.first},
                          {"sjekksumAlgoritme", "SHA256"},
                          {"filstoerrelse", digest.second}};
      ASSIGN_OR_RETURN(json created_object,
                       session.Create(new_object_url, object_body,
                                      absl::StrCat("the dokumentobjekt of \"", document.title,
                                                   "\"")));
      ASSIGN_OR_RETURN(std::string file_url,
                       Follow(created_object, kRelFil, "the new dokumentobjekt"));
      RETURN_IF_ERROR(session.Upload(file_url, document));
      pushed.document_objects.push_back(IdOf(created_object));
    }
  }
  return pushed;
}

OidcClientCredentials::OidcClientCredentials(std::string token_url, std::string client_id,
                                             std::string client_secret, std::string scope,
                                             std::string ca_file)
    : token_url_(std::move(token_url)),
      client_id_(std::move(client_id)),
      client_secret_(std::move(client_secret)),
      scope_(std::move(scope)),
      ca_file_(std::move(ca_file)) {}

absl::StatusOr<std::string> OidcClientCredentials::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!token_.empty() && absl::Now() < expires_) return token_;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  auto escape = [&](const std::string& text) {
    char* escaped = curl_easy_escape(curl.get(), text.c_str(), static_cast<int>(text.size()));
    std::string out = escaped != nullptr ? escaped : "";
    curl_free(escaped);
    return out;
  };
  std::string form = absl::StrCat("grant_type=client_credentials&client_id=", escape(client_id_),
                                  "&client_secret=", escape(client_secret_));
  if (!scope_.empty()) absl::StrAppend(&form, "&scope=", escape(scope_));
  ASSIGN_OR_RETURN(HttpResponse response,
                   Send("POST", token_url_,
                        {"Content-Type: application/x-www-form-urlencoded",
                         "Accept: application/json"},
                        form, nullptr, ca_file_, absl::Seconds(30)));
  const json answer = json::parse(response.body, nullptr, false);
  if (response.status != 200 || !answer.is_object() || !answer.contains("access_token") ||
      !answer["access_token"].is_string()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the identity provider at ", token_url_, " gave no access token for client ",
        client_id_, " (HTTP ", response.status, ")"));
  }
  token_ = answer["access_token"].get<std::string>();
  const int64_t lifetime = answer.value("expires_in", int64_t{300});
  expires_ = absl::Now() + absl::Seconds(std::max<int64_t>(lifetime - 60, 0));
  return token_;
}

}  // namespace smartby::archive
