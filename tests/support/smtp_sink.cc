#include "tests/support/smtp_sink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace smartby::testing {
namespace {

// One session's transport: the socket, with TLS on it after STARTTLS. Reads CRLF lines,
// checking a stop flag every 100 ms.
class SinkConnection {
 public:
  SinkConnection(int fd, const std::atomic<bool>* stop) : fd_(fd), stop_(stop) {}
  ~SinkConnection() {
    if (tls_ != nullptr) {
      SSL_shutdown(tls_);
      SSL_free(tls_);
    }
  }
  SinkConnection(const SinkConnection&) = delete;
  SinkConnection& operator=(const SinkConnection&) = delete;

  bool Next(std::string* line) {
    while (true) {
      const size_t eol = buffer_.find("\r\n");
      if (eol != std::string::npos) {
        *line = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 2);
        return true;
      }
      if (*stop_) return false;
      if (tls_ == nullptr || SSL_pending(tls_) == 0) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
      }
      char chunk[4096];
      const ssize_t n = tls_ != nullptr ? SSL_read(tls_, chunk, sizeof(chunk))
                                        : recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  void Reply(absl::string_view text) {
    const std::string line = absl::StrCat(text, "\r\n");
    if (tls_ != nullptr) {
      (void)SSL_write(tls_, line.data(), static_cast<int>(line.size()));
    } else {
      (void)send(fd_, line.data(), line.size(), MSG_NOSIGNAL);
    }
  }

  // After "220 Ready to start TLS". False when the handshake did not complete.
  bool StartTls(SSL_CTX* context) {
    buffer_.clear();  // RFC 3207: what came before the handshake is not part of the session
    tls_ = SSL_new(context);
    if (tls_ != nullptr && SSL_set_fd(tls_, fd_) == 1 && SSL_accept(tls_) == 1) return true;
    SSL_free(tls_);
    tls_ = nullptr;
    return false;
  }

  bool tls() const { return tls_ != nullptr; }
  std::string tls_version() const { return tls_ != nullptr ? SSL_get_version(tls_) : ""; }

 private:
  const int fd_;
  const std::atomic<bool>* stop_;
  SSL* tls_ = nullptr;
  std::string buffer_;
};

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
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    tls_context_ = SSL_CTX_new(TLS_server_method());
    if (tls_context_ == nullptr ||
        SSL_CTX_use_certificate_chain_file(tls_context_, options_.tls_cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_context_, options_.tls_key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1) {
      std::fprintf(stderr, "SmtpSink: cannot load the certificate %s and key %s\n",
                   options_.tls_cert_file.c_str(), options_.tls_key_file.c_str());
      std::abort();
    }
  }
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
  SSL_CTX_free(tls_context_);
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

int SmtpSink::failed_tls_handshakes() {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_tls_handshakes_;
}

void SmtpSink::Serve() {
  // A client that hangs up mid-reply must not kill the test binary: SIGPIPE goes to the thread
  // that wrote (SSL_write uses write()), so it is blocked on this one.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // A stalled TLS handshake or record ends the session instead of the sink.
    const timeval timeout{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    Session(fd);
    close(fd);
  }
}

void SmtpSink::Session(int fd) {
  SinkConnection connection(fd, &stop_);
  connection.Reply("220 smtp-sink ESMTP ready");
  SmtpMessage current;
  std::string line;
  while (connection.Next(&line)) {
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
      connection.Reply("250-smtp-sink greets you");
      if (options_.offer_8bitmime) connection.Reply("250-8BITMIME");
      if (tls_context_ != nullptr && !connection.tls()) connection.Reply("250-STARTTLS");
      connection.Reply("250 AUTH PLAIN");
    } else if (verb == "HELO") {
      current = SmtpMessage();
      current.helo = std::string(arg);
      connection.Reply("250 smtp-sink");
    } else if (verb == "STARTTLS") {
      if (tls_context_ == nullptr || connection.tls()) {
        connection.Reply("502 5.5.1 STARTTLS not offered");
        continue;
      }
      connection.Reply("220 2.0.0 Ready to start TLS");
      if (!connection.StartTls(tls_context_)) {
        std::lock_guard<std::mutex> lock(mu_);
        ++failed_tls_handshakes_;
        return;
      }
      current = SmtpMessage();  // the client starts over with EHLO
    } else if (verb == "AUTH") {
      std::vector<std::string> parts = absl::StrSplit(arg, ' ');
      std::string decoded;
      if (parts.size() == 2 && absl::AsciiStrToUpper(parts[0]) == "PLAIN" &&
          absl::Base64Unescape(parts[1], &decoded)) {
        std::vector<std::string> fields = absl::StrSplit(decoded, '\0');
        if (fields.size() == 3) {
          current.auth_user = fields[1];
          current.auth_password = fields[2];
          current.auth_over_tls = connection.tls();
          connection.Reply("235 2.7.0 Authentication successful");
          continue;
        }
      }
      connection.Reply("535 5.7.8 Authentication credentials invalid");
    } else if (verb == "MAIL") {
      ParsePath(arg.substr(std::min(arg.size(), arg.find(':') + 1)), &current.mail_from,
                &current.mail_from_params);
      current.recipients.clear();
      connection.Reply("250 2.1.0 Ok");
    } else if (verb == "RCPT") {
      std::string to;
      ParsePath(arg.substr(std::min(arg.size(), arg.find(':') + 1)), &to, nullptr);
      if (std::find(options_.refuse_recipients.begin(), options_.refuse_recipients.end(), to) !=
          options_.refuse_recipients.end()) {
        connection.Reply("550 5.1.1 No such user");
      } else {
        current.recipients.push_back(to);
        connection.Reply("250 2.1.5 Ok");
      }
    } else if (verb == "DATA") {
      connection.Reply("354 End data with <CR><LF>.<CR><LF>");
      std::string data_line;
      bool complete = false;
      while (connection.Next(&data_line)) {
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
      current.tls = connection.tls();
      current.tls_version = connection.tls_version();
      {
        std::lock_guard<std::mutex> lock(mu_);
        messages_.push_back(current);
      }
      cv_.notify_all();
      current.raw_data.clear();
      current.data.clear();
      current.recipients.clear();
      connection.Reply("250 2.0.0 Ok: queued");
    } else if (verb == "RSET") {
      current.recipients.clear();
      connection.Reply("250 Ok");
    } else if (verb == "NOOP") {
      connection.Reply("250 Ok");
    } else if (verb == "QUIT") {
      connection.Reply("221 Bye");
      return;
    } else {
      connection.Reply("502 5.5.2 Command not recognised");
    }
  }
}

}  // namespace smartby::testing
