// Test support: a tiny HTTP/1.1 receiver on 127.0.0.1:<free port>, for tests of webhook senders.
// It records every request and answers each with the next scripted status (200 when the script
// is empty). One connection at a time, "Connection: close"; enough for a client that sends one
// request per connection, as libcurl's easy interface without reuse does.
//
//   HttpSink sink;
//   sink.ScriptStatuses({500, 500});            // the first two requests fail, then 200
//   ... post to sink.url("/hook") ...
//   ASSERT_TRUE(sink.WaitForRequests(3, absl::Seconds(5)));
#ifndef SMARTBY_TESTS_SUPPORT_HTTP_SINK_H_
#define SMARTBY_TESTS_SUPPORT_HTTP_SINK_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace smartby::testing {

struct HttpRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class HttpSink {
 public:
  HttpSink();   // listening when constructed; aborts the test binary if it cannot bind
  ~HttpSink();  // stops and joins
  HttpSink(const HttpSink&) = delete;
  HttpSink& operator=(const HttpSink&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/") const;

  void ScriptStatuses(std::vector<int> statuses);
  // True once at least `n` requests were received; false at the deadline.
  bool WaitForRequests(size_t n, absl::Duration timeout);
  std::vector<HttpRequest> requests();

 private:
  void Serve();
  void Handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> script_;
  std::vector<HttpRequest> requests_;
  std::thread thread_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then closed), for "receiver down" tests.
int ClosedLocalPort();

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_HTTP_SINK_H_
