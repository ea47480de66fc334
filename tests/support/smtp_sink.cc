#include "tests/support/smtp_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace smartby::testing {
namespace {

// Reads CRLF lines from a socket, checking a stop flag every 100 ms.
class LineReader {
 public:
  LineReader(int fd, const std::atomic<bool>* stop) : fd_(fd), stop_(stop) {}
  bool Next(std::string* line) {
    while (true) {
      const size_t eol = buffer_.find("\r\n");
      if (eol != std::string::npos) {
        *line = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 2);
        return true;
      }
      if (*stop_) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char chunk[4096];
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  const int fd_;
  const std::atomic<bool>* stop_;
  std::string buffer_;
};

void Reply(int fd, absl::string_view text) {
  const std::string line = absl::StrCat(text, "\r\n");
  (void)send(fd, line.data(), line.size(), MSG_NOSIGNAL);
}

// "<a@b>" with anything after it: the address and the rest.
void ParsePath(absl::string_view arg, std::string* address, std::string* rest) {
  const size_t open = arg.find('<');
  const size_t close = arg.find('>');
  if (open == absl::string_view::npos || close == absl::string_view::npos || close < open) {
    *address = std::string(absl::StripAsciiWhitespace(arg));
    return;
  }
  *address = std::string(arg.substr(open + 1, close - open - 1));
  if (rest != nullptr) *rest = std::string(absl::StripAsciiWhitespace(arg.substr(close + 1)));
}

}  // namespace

SmtpSink::SmtpSink(SmtpSinkOptions options) : options_(std::move(options)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("SmtpSink: cannot listen on 127.0.0.1");
    std::abort();
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

SmtpSink::~SmtpSink() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

bool SmtpSink::WaitForMessages(size_t n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)),
                      [&] { return messages_.size() >= n; });
}

std::vector<SmtpMessage> SmtpSink::messages() {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

std::vector<std::string> SmtpSink::commands() {
  std::lock_guard<std::mutex> lock(mu_);
  return commands_;
}

void SmtpSink::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Session(fd);
    close(fd);
  }
}

void SmtpSink::Session(int fd) {
  LineReader reader(fd, &stop_);
  Reply(fd, "220 smtp-sink ESMTP ready");
  SmtpMessage current;
  std::string line;
  while (reader.Next(&line)) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      commands_.push_back(line);
    }
    const std::string verb = absl::AsciiStrToUpper(line.substr(0, line.find(' ')));
    const absl::string_view arg =
        line.find(' ') == std::string::npos ? "" : absl::string_view(line).substr(line.find(' ') + 1);
    if (verb == "EHLO") {
      current = SmtpMessage();
      current.helo = std::string(arg);
      Reply(fd, "250-smtp-sink greets you");
      if (options_.offer_8bitmime) Reply(fd, "250-8BITMIME");
      Reply(fd, "250 AUTH PLAIN");
    } else if (verb == "HELO") {
      current = SmtpMessage();
      current.helo = std::string(arg);
      Reply(fd, "250 smtp-sink");
    } else if (verb == "AUTH") {
      std::vector<std::string> parts = absl::StrSplit(arg, ' ');
      std::string decoded;
      if (parts.size() == 2 && absl::AsciiStrToUpper(parts[0]) == "PLAIN" &&
          absl::Base64Unescape(parts[1], &decoded)) {
        std::vector<std::string> fields = absl::StrSplit(decoded, '\0');
        if (fields.size() == 3) {
          current.auth_user = fields[1];
          current.auth_password = fields[2];
          Reply(fd, "235 2.7.0 Authentication successful");
          continue;
        }
      }
      Reply(fd, "535 5.7.8 Authentication credentials invalid");
    } else if (verb == "MAIL") {
      ParsePath(arg.substr(std::min(arg.size(), arg.find(':') + 1)), &current.mail_from,
                &current.mail_from_params);
      current.recipients.clear();
      Reply(fd, "250 2.1.0 Ok");
    } else if (verb == "RCPT") {
      std::string to;
      ParsePath(arg.substr(std::min(arg.size(), arg.find(':') + 1)), &to, nullptr);
      if (std::find(options_.refuse_recipients.begin(), options_.refuse_recipients.end(), to) !=
          options_.refuse_recipients.end()) {
        Reply(fd, "550 5.1.1 No such user");
      } else {
        current.recipients.push_back(to);
        Reply(fd, "250 2.1.5 Ok");
      }
    } else if (verb == "DATA") {
      Reply(fd, "354 End data with <CR><LF>.<CR><LF>");
      std::string data_line;
      bool complete = false;
      while (reader.Next(&data_line)) {
        if (data_line == ".") {
          complete = true;
          break;
        }
        absl::StrAppend(&current.raw_data, data_line, "\r\n");
        absl::StrAppend(&current.data,
                        absl::StartsWith(data_line, ".") ? data_line.substr(1) : data_line,
                        "\r\n");
      }
      if (!complete) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        messages_.push_back(current);
      }
      cv_.notify_all();
      current.raw_data.clear();
      current.data.clear();
      current.recipients.clear();
      Reply(fd, "250 2.0.0 Ok: queued");
    } else if (verb == "RSET") {
      current.recipients.clear();
      Reply(fd, "250 Ok");
    } else if (verb == "NOOP") {
      Reply(fd, "250 Ok");
    } else if (verb == "QUIT") {
      Reply(fd, "221 Bye");
      return;
    } else {
      Reply(fd, "502 5.5.2 Command not recognised");
    }
  }
}

}  // namespace smartby::testing
