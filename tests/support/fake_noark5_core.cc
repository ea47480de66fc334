#include "tests/support/fake_noark5_core.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/archive/noark5_core_client.h"  // the relation names the standard publishes

namespace smartby::testing {
namespace {

using nlohmann::json;
using archive::kNoark5MediaType;

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) absl::StrAppend(&hex, absl::Hex(digest[i], absl::kZeroPad2));
  return hex;
}

bool Has(const json& body, const char* field) {
  return body.contains(field) && !body[field].is_null() &&
         !(body[field].is_string() && body[field].get<std::string>().empty());
}

}  // namespace

FakeNoark5Core::FakeNoark5Core() { Start(); }

FakeNoark5Core::~FakeNoark5Core() { Stop(); }

void FakeNoark5Core::Start() {
  if (fd_ >= 0) return;
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd_, 16) != 0) {
    std::perror("FakeNoark5Core: cannot listen on 127.0.0.1");
    std::abort();
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  stop_ = false;
  thread_ = std::thread([this, listener = fd_] { Serve(listener); });
}

void FakeNoark5Core::Stop() {
  if (fd_ < 0) return;
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  fd_ = -1;
  thread_.join();
}

std::string FakeNoark5Core::base() const { return absl::StrCat("http://127.0.0.1:", port_); }
std::string FakeNoark5Core::root_url() const { return base() + "/noark5v5/"; }
std::string FakeNoark5Core::token_url() const { return base() + "/oauth/token"; }

std::vector<FakeNoark5Core::Created> FakeNoark5Core::created() {
  std::lock_guard<std::mutex> lock(mu_);
  return created_;
}
std::vector<FakeNoark5Core::Upload> FakeNoark5Core::uploads() {
  std::lock_guard<std::mutex> lock(mu_);
  return uploads_;
}
std::map<std::string, std::string> FakeNoark5Core::files() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::string> files;
  for (const Upload& upload : uploads_) files[upload.title] = upload.bytes;
  return files;
}
std::vector<std::string> FakeNoark5Core::requests() {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}
std::vector<std::string> FakeNoark5Core::problems() {
  std::lock_guard<std::mutex> lock(mu_);
  return problems_;
}

void FakeNoark5Core::Serve(int listener) {
  while (!stop_) {
    const int client = ::accept(listener, nullptr, nullptr);
    if (client < 0) return;
    Request request;
    if (Read(client, request)) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(absl::StrCat(request.method, " ", request.path));
      }
      Response response = Handle(request);
      const std::string text = absl::StrCat(
          "HTTP/1.1 ", response.status, " X\r\nContent-Type: ", kNoark5MediaType,
          "\r\nContent-Length: ", response.body.size(), "\r\nConnection: close\r\n\r\n",
          response.body);
      ::send(client, text.data(), text.size(), MSG_NOSIGNAL);
    }
    ::close(client);
  }
}

bool FakeNoark5Core::Read(int fd, Request& request) {
  std::string data;
  char buffer[65536];
  size_t header_end = std::string::npos;
  while (header_end == std::string::npos) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    data.append(buffer, static_cast<size_t>(n));
    header_end = data.find("\r\n\r\n");
  }
  std::vector<std::string> lines = absl::StrSplit(data.substr(0, header_end), "\r\n");
  std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
  if (first.size() < 2) return false;
  request.method = first[0];
  request.path = first[1];
  size_t length = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    std::string name = lines[i].substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = lines[i].substr(colon + 1);
    while (!value.empty() && value[0] == ' ') value.erase(0, 1);
    request.headers[name] = value;
    if (name == "content-length") absl::SimpleAtoi(value, &length);
  }
  request.body = data.substr(header_end + 4);
  while (request.body.size() < length) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    request.body.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

json FakeNoark5Core::Link(const std::string& rel, const std::string& path) const {
  return {{"rel", rel}, {"href", base() + path}};
}

FakeNoark5Core::Response FakeNoark5Core::Problem(int status, const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  problems_.push_back(what);
  return {status, json{{"message", what}}.dump()};
}

FakeNoark5Core::Response FakeNoark5Core::Handle(const Request& r) {
  using namespace archive;  // the kRel* names
  if (r.path == "/oauth/token") {
    ++token_requests_;
    if (!absl::StrContains(r.body, "grant_type=client_credentials") ||
        !absl::StrContains(r.body, absl::StrCat("client_id=", kClientId)) ||
        !absl::StrContains(r.body, absl::StrCat("client_secret=", kClientSecret))) {
      return Problem(401, "bad client credentials");
    }
    return {200, json{{"access_token", kAccessToken}, {"token_type", "Bearer"},
                      {"expires_in", 3600}}.dump()};
  }
  if (r.headers.count("authorization") == 0 ||
      r.headers.at("authorization") != absl::StrCat("Bearer ", kAccessToken)) {
    return Problem(401, absl::StrCat("no valid bearer token on ", r.method, " ", r.path));
  }
  if (r.method == "GET") {
    if (r.headers.count("accept") == 0 || r.headers.at("accept") != kNoark5MediaType) {
      return Problem(406, "GET without Accept: application/vnd.noark5+json");
    }
    if (r.path == "/noark5v5/") {
      return {200,
              json{{"_links", {Link(kRelArkivstruktur, "/noark5v5/api/arkivstruktur/")}}}.dump()};
    }
    if (r.path == "/noark5v5/api/arkivstruktur/") {
      return {200, json{{"_links", {Link(kRelArkivdel, "/noark5v5/api/arkivstruktur/arkivdel/")}}}
                       .dump()};
    }
    if (r.path == "/noark5v5/api/arkivstruktur/arkivdel/") {
      json list = {{"count", 2}, {"results", json::array()}};
      for (const char* id : {"ad-1", "ad-2"}) {
        list["results"].push_back(
            {{"systemID", id},
             {"tittel", std::string(id) == "ad-1" ? "Post" : "Sensordata"},
             {"_links", {Link(kRelNySaksmappe, absl::StrCat("/noark5v5/api/arkivstruktur/arkivdel/",
                                                            id, "/ny-saksmappe/"))}}});
      }
      return {200, list.dump()};
    }
    return Problem(404, absl::StrCat("no such resource ", r.path));
  }
  if (r.method != "POST") return Problem(405, absl::StrCat(r.method, " not allowed"));

  // Uploads: only to the fil link of a dokumentobjekt this fake created.
  if (absl::EndsWith(r.path, "/referanseFil/")) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(r.path);
    if (it == objects_.end()) {
      problems_.push_back(absl::StrCat("upload to an unknown link ", r.path));
      return {404, "{}"};
    }
    if (Sha256Hex(r.body) != it->second["sjekksum"].get<std::string>() ||
        static_cast<int64_t>(r.body.size()) != it->second["filstoerrelse"].get<int64_t>()) {
      problems_.push_back("uploaded file does not match its dokumentobjekt");
      return {400, "{}"};
    }
    const auto type = r.headers.find("content-type");
    uploads_.push_back({it->second["_title"].get<std::string>(),
                        type == r.headers.end() ? "" : type->second,
                        it->second["sjekksum"].get<std::string>(), r.body});
    return {200, "{}"};
  }
  if (r.headers.count("content-type") == 0 || r.headers.at("content-type") != kNoark5MediaType) {
    return Problem(415, "POST without Content-Type: application/vnd.noark5+json");
  }
  json body = json::parse(r.body, nullptr, false);
  if (!body.is_object()) return Problem(400, "body is not a JSON object");
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = absl::StrCat("obj-", ++next_id_);
  }
  const std::string self = absl::StrCat("/noark5v5/api/arkivstruktur/", id, "/");
  std::string kind;
  json answer = body;
  answer["systemID"] = id;
  if (absl::EndsWith(r.path, "/ny-saksmappe/")) {
    if (r.path != "/noark5v5/api/arkivstruktur/arkivdel/ad-2/ny-saksmappe/") {
      return Problem(400, "saksmappe created under the wrong arkivdel");
    }
    if (!Has(body, "tittel")) return Problem(400, "saksmappe without tittel");
    kind = "saksmappe";
    answer["_links"] = json::array({Link("self", self)});
    if (!leave_out_ny_journalpost_) {
      answer["_links"].push_back(Link(kRelNyJournalpost, self + "ny-journalpost/"));
    }
  } else if (absl::EndsWith(r.path, "/ny-journalpost/")) {
    if (!Has(body, "tittel") || !Has(body, "journalposttype") || !Has(body, "journalstatus")) {
      return Problem(400, "journalpost without tittel, journalposttype or journalstatus");
    }
    kind = "journalpost";
    answer["_links"] = {Link("self", self),
                        Link(kRelNyDokumentbeskrivelse, self + "ny-dokumentbeskrivelse/")};
  } else if (absl::EndsWith(r.path, "/ny-dokumentbeskrivelse/")) {
    if (!Has(body, "tittel") || !Has(body, "dokumenttype") || !Has(body, "dokumentstatus") ||
        !Has(body, "tilknyttetRegistreringSom")) {
      return Problem(400, "dokumentbeskrivelse lacks a required field");
    }
    kind = "dokumentbeskrivelse";
    answer["_links"] = {Link("self", self),
                        Link(kRelNyDokumentobjekt, self + "ny-dokumentobjekt/")};
  } else if (absl::EndsWith(r.path, "/ny-dokumentobjekt/")) {
    if (!Has(body, "versjonsnummer") || !Has(body, "variantformat") || !Has(body, "format") ||
        !Has(body, "sjekksum") || !Has(body, "sjekksumAlgoritme") ||
        !Has(body, "filstoerrelse")) {
      return Problem(400, "dokumentobjekt lacks a required field");
    }
    kind = "dokumentobjekt";
    const std::string upload = self + "referanseFil/";
    answer["_links"] = {Link("self", self), Link(kRelFil, upload)};
    std::lock_guard<std::mutex> lock(mu_);
    json object = body;
    object["_title"] = last_description_title_;
    objects_[upload] = object;
  } else {
    return Problem(404, absl::StrCat("no ny-* relation at ", r.path));
  }
  // Only links this fake handed out may be used (the parent must exist).
  if (kind != "saksmappe") {
    const std::string parent = r.path.substr(0, r.path.rfind('/', r.path.size() - 2) + 1);
    std::lock_guard<std::mutex> lock(mu_);
    if (known_.count(parent) == 0) {
      problems_.push_back(absl::StrCat(kind, " created under an unknown parent ", parent));
      return {404, "{}"};
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  known_.insert({self, true});
  if (kind == "dokumentbeskrivelse") last_description_title_ = body["tittel"].get<std::string>();
  created_.push_back({kind, r.path, body});
  return {201, answer.dump()};
}

}  // namespace smartby::testing
