// The Noark 5 core push client (noark5_core_client.h) against FakeNoark5Core: a small HTTP/1.1
// server in this test, standing in for a municipality's archive core (none runs here). It
// publishes the v5 relations from its root, creates objects only through the ny-* links it
// handed out, and checks what it receives: the bearer token, the media type, the fields each
// object needs, and that an uploaded file matches its dokumentobjekt's sjekksum and size. It
// also serves an OIDC token endpoint (client credentials).
#include "services/archive/noark5_core_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/archive/noark5/hashing_file.h"

namespace smartby::archive {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kToken[] = "core-access-token-1";

class FakeNoark5Core {
 public:
  struct Created {
    std::string kind;  // "saksmappe", "journalpost", ...
    json body;
  };

  FakeNoark5Core() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 16) != 0) {
      std::abort();
    }
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeNoark5Core() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }

  std::string base() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::vector<Created> created() {
    std::lock_guard<std::mutex> lock(mu_);
    return created_;
  }
  std::map<std::string, std::string> files() {
    std::lock_guard<std::mutex> lock(mu_);
    return files_;
  }
  std::vector<std::string> problems() {
    std::lock_guard<std::mutex> lock(mu_);
    return problems_;
  }
  int token_requests() const { return token_requests_.load(); }
  void LeaveOutNyJournalpost() { leave_out_ny_journalpost_ = true; }

 private:
  struct Request {
    std::string method, path, body;
    std::map<std::string, std::string> headers;
  };
  struct Response {
    int status = 200;
    std::string body;
  };

  void Serve() {
    while (!stop_) {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      Request request;
      if (Read(client, request)) {
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

  static bool Read(int fd, Request& request) {
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
      for (char& c : name) c = static_cast<char>(std::tolower(c));
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

  json Link(const std::string& rel, const std::string& path) const {
    return {{"rel", rel}, {"href", base() + path}};
  }

  Response Problem(int status, const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    problems_.push_back(what);
    return {status, json{{"message", what}}.dump()};
  }

  static bool Has(const json& body, const char* field) {
    return body.contains(field) && !body[field].is_null() &&
           !(body[field].is_string() && body[field].get<std::string>().empty());
  }

  Response Handle(const Request& r) {
    if (r.path == "/oauth/token") {
      ++token_requests_;
      if (!absl::StrContains(r.body, "grant_type=client_credentials") ||
          !absl::StrContains(r.body, "client_id=smartby-arkiv") ||
          !absl::StrContains(r.body, "client_secret=hemmelig")) {
        return Problem(401, "bad client credentials");
      }
      return {200, json{{"access_token", kToken}, {"token_type", "Bearer"},
                        {"expires_in", 3600}}.dump()};
    }
    if (r.headers.count("authorization") == 0 ||
        r.headers.at("authorization") != absl::StrCat("Bearer ", kToken)) {
      return Problem(401, absl::StrCat("no valid bearer token on ", r.method, " ", r.path));
    }
    if (r.method == "GET") {
      if (r.headers.count("accept") == 0 || r.headers.at("accept") != kNoark5MediaType) {
        return Problem(406, "GET without Accept: application/vnd.noark5+json");
      }
      if (r.path == "/noark5v5/") {
        return {200, json{{"_links", {Link(kRelArkivstruktur, "/noark5v5/api/arkivstruktur/")}}}
                         .dump()};
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
               {"_links", {Link(kRelNySaksmappe,
                                absl::StrCat("/noark5v5/api/arkivstruktur/arkivdel/", id,
                                             "/ny-saksmappe/"))}}});
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
      noark5::Sha256 hash;
      hash.Update(r.body);
      const std::string sha = hash.FinishHex();
      if (sha != it->second["sjekksum"].get<std::string>() ||
          static_cast<int64_t>(r.body.size()) != it->second["filstoerrelse"].get<int64_t>()) {
        problems_.push_back("uploaded file does not match its dokumentobjekt");
        return {400, "{}"};
      }
      files_[it->second["_title"].get<std::string>()] = r.body;
      return {200, "{}"};
    }
    if (r.headers.count("content-type") == 0 || r.headers.at("content-type") != kNoark5MediaType) {
      return Problem(415, "POST without Content-Type: application/vnd.noark5+json");
    }
    json body = json::parse(r.body, nullptr, false);
    if (!body.is_object()) return Problem(400, "body is not a JSON object");
    const std::string id = absl::StrCat("obj-", ++next_id_);
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
    created_.push_back({kind, body});
    return {201, answer.dump()};
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> token_requests_{0};
  std::atomic<bool> leave_out_ny_journalpost_{false};
  std::thread thread_;
  std::mutex mu_;
  int next_id_ = 0;
  std::vector<Created> created_;
  std::map<std::string, bool> known_;
  std::map<std::string, json> objects_;
  std::map<std::string, std::string> files_;
  std::vector<std::string> problems_;
  std::string last_description_title_;
};

class Noark5CoreClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("core-client-", ::getpid(), "-", reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "readings.csv") << "time,source_id,level\r\n2026-01-01T00:00:00Z,k,1\r\n";
    std::ofstream(dir_ / "metadata.json") << R"({"name":"vannstand"})";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CoreCaseFile CaseFile() {
    CoreCaseFile c;
    c.title = "Datasett vannstand";
    c.responsible_unit = "Bymiljø og utbygging";
    c.case_handler = "Kari Nordmann";
    CoreRegistryEntry entry;
    entry.title = "Data for 2026";
    entry.documents.push_back({"Metadata", "Dataeksport", true, dir_ / "metadata.json",
                               "application/json", "fmt/817"});
    entry.documents.push_back({"Målinger", "Dataeksport", false, dir_ / "readings.csv",
                               "text/csv", "x-fmt/18"});
    c.entries.push_back(entry);
    return c;
  }

  CorePushOptions Options(const std::string& series) {
    CorePushOptions options;
    options.root_url = core_.base() + "/noark5v5/";
    options.series_title = series;
    return options;
  }

  std::shared_ptr<TokenProvider> Tokens() {
    return std::make_shared<OidcClientCredentials>(core_.base() + "/oauth/token", "smartby-arkiv",
                                                   "hemmelig");
  }

  FakeNoark5Core core_;
  std::filesystem::path dir_;
};

TEST_F(Noark5CoreClientTest, CreatesTheChainThroughPublishedRelationsAndUploadsFiles) {
  Noark5CoreClient client(Options("Sensordata"), Tokens());
  auto pushed = client.PushCaseFile(CaseFile());
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_TRUE(core_.problems().empty()) << core_.problems().front();
  std::vector<std::string> kinds;
  for (const auto& c : core_.created()) kinds.push_back(c.kind);
  EXPECT_THAT(kinds, ::testing::ElementsAre("saksmappe", "journalpost", "dokumentbeskrivelse",
                                            "dokumentobjekt", "dokumentbeskrivelse",
                                            "dokumentobjekt"));
  EXPECT_EQ(core_.created()[0].body["administrativEnhet"], "Bymiljø og utbygging");
  EXPECT_EQ(core_.created()[3].body["sjekksumAlgoritme"], "SHA256");
  EXPECT_EQ(core_.files().at("Målinger"), "time,source_id,level\r\n2026-01-01T00:00:00Z,k,1\r\n");
  EXPECT_EQ(core_.files().at("Metadata"), R"({"name":"vannstand"})");
  EXPECT_EQ(pushed->registry_entries.size(), 1u);
  EXPECT_EQ(pushed->document_objects.size(), 2u);
  EXPECT_EQ(core_.token_requests(), 1) << "the OIDC token is cached";
}

TEST_F(Noark5CoreClientTest, MissingRelationIsNamedNotGuessed) {
  core_.LeaveOutNyJournalpost();
  Noark5CoreClient client(Options("Sensordata"), Tokens());
  auto pushed = client.PushCaseFile(CaseFile());
  EXPECT_EQ(pushed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(pushed.status().message()), HasSubstr("ny-journalpost"));
  EXPECT_TRUE(core_.problems().empty()) << "the client must not invent a URL";
}

TEST_F(Noark5CoreClientTest, UnknownArkivdelIsNotFound) {
  Noark5CoreClient client(Options("Finnes ikke"), Tokens());
  auto pushed = client.PushCaseFile(CaseFile());
  EXPECT_EQ(pushed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(pushed.status().message()), HasSubstr("Finnes ikke"));
}

TEST_F(Noark5CoreClientTest, WrongClientSecretIsUnauthenticated) {
  Noark5CoreClient client(
      Options("Sensordata"),
      std::make_shared<OidcClientCredentials>(core_.base() + "/oauth/token", "smartby-arkiv",
                                              "feil"));
  auto pushed = client.PushCaseFile(CaseFile());
  EXPECT_EQ(pushed.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(core_.created().empty());
}

}  // namespace
}  // namespace smartby::archive
