#include "tests/support/http_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace smartby::testing {
namespace {

int ListenLocal(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Waits for `fd` to be readable for up to 100 ms; false when not (so loops can check stop).
bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 100) > 0;
}

}  // namespace

int ClosedLocalPort() {
  int port = 0;
  const int fd = ListenLocal(&port);
  if (fd >= 0) close(fd);
  return port;
}

HttpSink::HttpSink() {
  listen_fd_ = ListenLocal(&port_);
  if (listen_fd_ < 0) {
    std::perror("HttpSink: cannot listen on 127.0.0.1");
    std::abort();
  }
  thread_ = std::thread([this] { Serve(); });
}

HttpSink::~HttpSink() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

std::string HttpSink::url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

void HttpSink::ScriptStatuses(std::vector<int> statuses) {
  std::lock_guard<std::mutex> lock(mu_);
  script_.assign(statuses.begin(), statuses.end());
}

bool HttpSink::WaitForRequests(size_t n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)),
                      [&] { return requests_.size() >= n; });
}

std::vector<HttpRequest> HttpSink::requests() {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void HttpSink::Serve() {
  while (!stop_) {
    if (!Readable(listen_fd_)) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Handle(fd);
    close(fd);
  }
}

void HttpSink::Handle(int fd) {
  std::string data;
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  HttpRequest request;
  while (!stop_) {
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::vector<std::string> lines =
            absl::StrSplit(absl::string_view(data).substr(0, header_end), "\r\n");
        std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
        if (first.size() >= 2) {
          request.method = first[0];
          request.path = first[1];
        }
        for (size_t i = 1; i < lines.size(); ++i) {
          const size_t colon = lines[i].find(':');
          if (colon == std::string::npos) continue;
          std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
          std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
          request.headers[name] = value;
        }
        if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
          (void)absl::SimpleAtoi(it->second, &content_length);
        }
      }
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) {
      request.body = data.substr(header_end + 4, content_length);
      break;
    }
    if (!Readable(fd)) continue;
    char chunk[4096];
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return;
    data.append(chunk, static_cast<size_t>(n));
  }
  if (stop_) return;
  int status = 200;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!script_.empty()) {
      status = script_.front();
      script_.pop_front();
    }
    requests_.push_back(request);
  }
  cv_.notify_all();
  const std::string body = absl::StrCat("status ", status, "\n");
  const std::string response =
      absl::StrCat("HTTP/1.1 ", status, " Scripted\r\nContent-Type: text/plain\r\n",
                   "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
  (void)send(fd, response.data(), response.size(), MSG_NOSIGNAL);
}

}  // namespace smartby::testing
