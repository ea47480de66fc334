// Test support: FakeNoark5Core, a small HTTP/1.1 server on 127.0.0.1 standing in for a
// municipality's Noark 5 core (tjenestegrensesnitt v5, application/vnd.noark5+json), since none
// runs here. It publishes the v5 relations from its root (/noark5v5/), lists two arkivdeler
// ("Post" and "Sensordata"), creates objects only through the ny-* links it handed out (and a
// saksmappe only under "Sensordata"), and checks what it receives: the bearer token, the media
// types, the fields each object needs, and that an uploaded file matches its dokumentobjekt's
// sjekksum and filstoerrelse. What it refuses it answers with an HTTP error and lists in
// problems(). It also serves an OIDC token endpoint (/oauth/token, client credentials for
// client "smartby-arkiv" with secret "hemmelig").
//
// One connection at a time, "Connection: close" (libcurl's easy interface without reuse).
// Stop() closes the port (connections are refused: a core that is down); Start() opens the same
// port again.
#ifndef SMARTBY_TESTS_SUPPORT_FAKE_NOARK5_CORE_H_
#define SMARTBY_TESTS_SUPPORT_FAKE_NOARK5_CORE_H_

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace smartby::testing {

class FakeNoark5Core {
 public:
  static constexpr char kClientId[] = "smartby-arkiv";
  static constexpr char kClientSecret[] = "hemmelig";
  static constexpr char kAccessToken[] = "core-access-token-1";

  struct Created {
    std::string kind;  // "saksmappe", "journalpost", "dokumentbeskrivelse", "dokumentobjekt"
    std::string path;  // the ny-* link it was posted to
    nlohmann::json body;
  };
  struct Upload {
    std::string title;         // of the dokumentbeskrivelse the file belongs to
    std::string content_type;
    std::string sjekksum;      // as the dokumentobjekt declared it
    std::string bytes;
  };

  FakeNoark5Core();   // listening when constructed; aborts the test binary if it cannot bind
  ~FakeNoark5Core();  // Stop()
  FakeNoark5Core(const FakeNoark5Core&) = delete;
  FakeNoark5Core& operator=(const FakeNoark5Core&) = delete;

  void Stop();
  void Start();  // again, on the same port

  std::string base() const;      // http://127.0.0.1:<port>
  std::string root_url() const;  // base() + "/noark5v5/"
  std::string token_url() const; // base() + "/oauth/token"

  std::vector<Created> created();
  std::vector<Upload> uploads();
  // The bytes uploaded per dokumentbeskrivelse title (the last one for a title used twice).
  std::map<std::string, std::string> files();
  std::vector<std::string> requests();  // "GET /noark5v5/", "POST /oauth/token", ... in order
  std::vector<std::string> problems();
  int token_requests() const { return token_requests_.load(); }
  void LeaveOutNyJournalpost() { leave_out_ny_journalpost_ = true; }

 private:
  struct Request {
    std::string method, path, body;
    std::map<std::string, std::string> headers;  // names lower-cased
  };
  struct Response {
    int status = 200;
    std::string body;
  };

  void Serve(int listener);
  static bool Read(int fd, Request& request);
  nlohmann::json Link(const std::string& rel, const std::string& path) const;
  Response Problem(int status, const std::string& what);
  Response Handle(const Request& request);

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
  std::map<std::string, nlohmann::json> objects_;
  std::vector<Upload> uploads_;
  std::vector<std::string> requests_;
  std::vector<std::string> problems_;
  std::string last_description_title_;
};

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_FAKE_NOARK5_CORE_H_
