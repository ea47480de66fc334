#include "services/feed/notifier.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby::feed {
namespace {

using Json = nlohmann::json;
using storage::Row;
using storage::Rows;
using storage::Transaction;
using storage::Value;

constexpr char kUserAgent[] = "smartby-feed";
constexpr long kMaxResponseBytes = 64 * 1024;  // what we read of a receiver's answer

bool IsTransientCode(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kUnknown || code == absl::StatusCode::kAborted;
}

bool HasControl(absl::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A mailbox we put in SMTP commands and headers: no spaces, controls, or angle brackets (which
// would let a configured address inject commands or headers).
bool IsPlainAddress(absl::string_view a) {
  if (a.empty() || a.size() > 254 || HasControl(a)) return false;
  if (a.find_first_of(" <>\",;") != absl::string_view::npos) return false;
  const size_t at = a.find('@');
  return at != absl::string_view::npos && at > 0 && at + 1 < a.size();
}

// --- HTTP (libcurl).

void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

size_t CollectBounded(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  const size_t bytes = size * n;
  const size_t room = static_cast<size_t>(kMaxResponseBytes) - std::min(
      body->size(), static_cast<size_t>(kMaxResponseBytes));
  body->append(data, std::min(bytes, room));
  return bytes;  // the rest is discarded, not an error
}

// https, or http to a loopback host.
absl::Status CheckUrl(const std::string& url, absl::string_view what) {
  CurlGlobalInit();
  std::unique_ptr<CURLU, CurlDeleter> u(curl_url());
  if (u == nullptr || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not a URL"));
  }
  const auto part = [&](CURLUPart which) {
    char* value = nullptr;
    if (curl_url_get(u.get(), which, &value, 0) != CURLUE_OK || value == nullptr) {
      return std::string();
    }
    std::string out(value);
    curl_free(value);
    return absl::AsciiStrToLower(out);
  };
  const std::string scheme = part(CURLUPART_SCHEME);
  const std::string host = part(CURLUPART_HOST);
  if (scheme == "https") return absl::OkStatus();
  if (scheme == "http" &&
      (host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1")) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": must be https:// (http:// only to a loopback host)"));
}

absl::Status Post(const std::string& url, const std::string& secret, const std::string& ca_file,
                  absl::string_view body, const SendContext& context) {
  if (absl::Status s = CheckUrl(url, "url"); !s.ok()) return s;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* c = curl.get();

  curl_slist* raw = nullptr;
  raw = curl_slist_append(raw, "Content-Type: application/json");
  raw = curl_slist_append(raw, "Expect:");  // no 100-continue round trip
  raw = curl_slist_append(
      raw, absl::StrCat("X-Smartby-Timestamp: ", absl::ToUnixSeconds(context.now)).c_str());
  raw = curl_slist_append(raw,
                          absl::StrCat("X-Smartby-Delivery: ", context.delivery_id).c_str());
  if (!secret.empty()) {
    raw = curl_slist_append(
        raw, absl::StrCat("X-Smartby-Signature: ", WebhookSignature(secret, body)).c_str());
  }
  std::unique_ptr<curl_slist, CurlDeleter> headers(raw);

  const long timeout_ms =
      std::max<long>(1, static_cast<long>(absl::ToInt64Milliseconds(context.timeout)));
  std::string response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");  // http: loopback only (CheckUrl)
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_USERAGENT, kUserAgent);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CollectBounded);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  const CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    const std::string why = error[0] != '\0' ? error : curl_easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(why);
    return absl::UnavailableError(why);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return absl::OkStatus();
  // Only the start of the answer, and without control characters, goes into last_error.
  std::string excerpt = response.substr(0, 200);
  std::replace_if(excerpt.begin(), excerpt.end(),
                  [](char ch) { return static_cast<unsigned char>(ch) < 0x20; }, ' ');
  const std::string why = absl::StrCat("HTTP ", status, excerpt.empty() ? "" : ": ", excerpt);
  if (status >= 400 && status < 500 && status != 408 && status != 429) {
    return absl::FailedPreconditionError(why);
  }
  return absl::UnavailableError(why);
}

// --- SMTP over TCP, upgraded to TLS by STARTTLS.

struct SmtpReply {
  int code = 0;
  std::string text;  // every line's text, joined with " / "
  std::vector<std::string> lines;
};

struct TlsDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  void operator()(SSL* s) const { SSL_free(s); }
};

// The first error OpenSSL queued on this thread (the cause; later ones only say where it
// surfaced), in words: "certificate verify failed", "No such file or directory". Clears the
// queue.
std::string TlsErrorText() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "TLS error";
  if (ERR_SYSTEM_ERROR(e)) return std::strerror(ERR_GET_REASON(e));
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : absl::StrCat("OpenSSL error ", e);
}

// OpenSSL writes to the socket with write(), so a server that hangs up would raise SIGPIPE and
// kill a process that does not ignore it (the services do; tests may not). SIGPIPE goes to the
// thread that wrote: it is blocked on this thread for the session, and one raised meanwhile is
// taken off before the old mask comes back.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
  }
  ~ScopedSigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      const timespec now{0, 0};
      sigtimedwait(&pipe, nullptr, &now);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

bool IsIpAddress(const std::string& host) {
  in6_addr address;
  return inet_pton(AF_INET, host.c_str(), &address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

// One SMTP session on a non-blocking socket; every wait ends at the deadline. Plain TCP until
// StartTls, TLS after it.
class SmtpConnection {
 public:
  explicit SmtpConnection(absl::Time deadline) : deadline_(deadline) {}
  ~SmtpConnection() {
    tls_.reset();  // the socket is not the SSL's to close
    if (fd_ >= 0) close(fd_);
  }

  absl::Status Connect(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string service = absl::StrCat(port);
    if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
      return absl::UnavailableError(absl::StrCat("smtp ", host, ": ", gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, &freeaddrinfo);
    std::string last = "no address";
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            a->ai_protocol);
      if (fd < 0) continue;
      if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
          (errno == EINPROGRESS && WaitFor(fd, POLLOUT).ok() && SocketError(fd) == 0)) {
        fd_ = fd;
        return absl::OkStatus();
      }
      last = errno != 0 ? std::strerror(errno) : "connect failed";
      close(fd);
    }
    return absl::UnavailableError(absl::StrCat("smtp ", host, ":", port, ": ", last));
  }

  // After the server's 220 to STARTTLS: the TLS handshake (TLS 1.2 or later), the server's
  // certificate verified against config.ca_file or the system's CAs, and for config.host.
  absl::Status StartTls(const SmtpConfig& config) {
    const std::string where = absl::StrCat("smtp ", config.host, ":", config.port);
    // Anything the server sent after its answer was sent in plain text and could have been
    // injected by someone on the path (CVE-2011-0411); it must not be read as if protected.
    if (!buffer_.empty()) {
      return absl::UnavailableError(
          absl::StrCat(where, ": the server sent more after agreeing to STARTTLS; refused"));
    }
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, TlsDeleter> context(SSL_CTX_new(TLS_client_method()));
    if (context == nullptr) {
      return absl::InternalError(absl::StrCat(where, ": no TLS context: ", TlsErrorText()));
    }
    SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
    if (!config.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(context.get(), config.ca_file.c_str(), nullptr) != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "smtp ca_file ", config.ca_file, ": not a readable PEM CA bundle (", TlsErrorText(),
            ")"));
      }
    } else if (SSL_CTX_set_default_verify_paths(context.get()) != 1) {
      return absl::InternalError(
          absl::StrCat(where, ": the system's CA certificates: ", TlsErrorText()));
    }
    std::unique_ptr<SSL, TlsDeleter> tls(SSL_new(context.get()));  // holds its own reference
    if (tls == nullptr || SSL_set_fd(tls.get(), fd_) != 1) {
      return absl::InternalError(absl::StrCat(where, ": TLS setup: ", TlsErrorText()));
    }
    if (IsIpAddress(config.host)) {
      // An address is checked against the certificate's IP subjectAltNames; no SNI (RFC 6066).
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls.get()), config.host.c_str());
    } else {
      SSL_set_tlsext_host_name(tls.get(), config.host.c_str());
      SSL_set1_host(tls.get(), config.host.c_str());
    }
    while (true) {
      errno = 0;
      const int rc = SSL_connect(tls.get());
      if (rc == 1) break;
      const int error = SSL_get_error(tls.get(), rc);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        RETURN_IF_ERROR(WaitFor(fd_, error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT));
        continue;
      }
      const long verified = SSL_get_verify_result(tls.get());
      std::string why;
      if (verified != X509_V_OK) {
        why = absl::StrCat("the server's certificate is not trusted (",
                           X509_verify_cert_error_string(verified), ")");
      } else if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        why = errno != 0 ? std::strerror(errno) : "the server closed the connection";
      } else {
        why = TlsErrorText();
      }
      ERR_clear_error();
      return absl::UnavailableError(absl::StrCat(where, ": TLS handshake failed: ", why));
    }
    tls_ = std::move(tls);
    return absl::OkStatus();
  }

  bool tls() const { return tls_ != nullptr; }

  absl::Status Write(absl::string_view data) {
    while (!data.empty()) {
      ASSIGN_OR_RETURN(const size_t n, WriteSome(data));
      data.remove_prefix(n);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<SmtpReply> Read() {
    SmtpReply reply;
    while (true) {
      std::string line;
      if (absl::Status s = ReadLine(&line); !s.ok()) return s;
      int code = 0;
      if (line.size() < 3 || !absl::SimpleAtoi(line.substr(0, 3), &code) ||
          (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
        return absl::UnavailableError(absl::StrCat("smtp: malformed reply '", line, "'"));
      }
      reply.code = code;
      reply.lines.push_back(line.size() > 4 ? line.substr(4) : "");
      if (line.size() == 3 || line[3] == ' ') break;
      if (reply.lines.size() > 100) return absl::UnavailableError("smtp: reply too long");
    }
    reply.text = absl::StrJoin(reply.lines, " / ");
    return reply;
  }

  // Sends `command` (without CRLF; nothing when empty) and checks the reply's code is `expected`
  // (or `also`). 4xx is transient, anything else unexpected permanent.
  absl::StatusOr<SmtpReply> Command(absl::string_view command, int expected, int also = 0,
                                    absl::string_view shown = "") {
    if (!command.empty()) {
      if (absl::Status s = Write(absl::StrCat(command, "\r\n")); !s.ok()) return s;
    }
    absl::StatusOr<SmtpReply> reply = Read();
    if (!reply.ok()) return reply.status();
    if (reply->code == expected || (also != 0 && reply->code == also)) return reply;
    const std::string what = absl::StrCat(
        "smtp ", shown.empty() ? (command.empty() ? "greeting" : command.substr(0, 40)) : shown,
        ": ", reply->code, " ", reply->text);
    if (reply->code >= 400 && reply->code < 500) return absl::UnavailableError(what);
    return absl::FailedPreconditionError(what);
  }

 private:
  absl::Status WaitFor(int fd, short events) {
    while (true) {
      const absl::Duration left = deadline_ - absl::Now();
      if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("smtp: timed out");
      pollfd p{fd, events, 0};
      const int rc = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (rc > 0) return absl::OkStatus();
      if (rc < 0 && errno != EINTR) {
        return absl::UnavailableError(absl::StrCat("smtp poll: ", std::strerror(errno)));
      }
    }
  }

  static int SocketError(int fd) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    errno = err;
    return err;
  }

  // After an SSL_read/SSL_write that returned `rc` <= 0: OK once it may be called again (after
  // waiting for what it needs), or why not.
  absl::Status AwaitTls(int rc, absl::string_view what) {
    const int error = SSL_get_error(tls_.get(), rc);
    if (error == SSL_ERROR_WANT_READ) return WaitFor(fd_, POLLIN);
    if (error == SSL_ERROR_WANT_WRITE) return WaitFor(fd_, POLLOUT);
    if (error == SSL_ERROR_ZERO_RETURN) {
      return absl::UnavailableError("smtp: connection closed by the server");
    }
    if (error == SSL_ERROR_SYSCALL && errno != 0) {
      return absl::UnavailableError(absl::StrCat("smtp ", what, ": ", std::strerror(errno)));
    }
    return absl::UnavailableError(absl::StrCat("smtp ", what, ": ", TlsErrorText()));
  }

  // At least one byte of `data` written; how many.
  absl::StatusOr<size_t> WriteSome(absl::string_view data) {
    while (true) {
      if (tls_ != nullptr) {
        ERR_clear_error();
        errno = 0;
        size_t written = 0;
        const int rc = SSL_write_ex(tls_.get(), data.data(), data.size(), &written);
        if (rc == 1) return written;
        RETURN_IF_ERROR(AwaitTls(rc, "write"));
        continue;
      }
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) return static_cast<size_t>(n);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        RETURN_IF_ERROR(WaitFor(fd_, POLLOUT));
        continue;
      }
      return absl::UnavailableError(absl::StrCat("smtp write: ", std::strerror(errno)));
    }
  }

  // Appends at least one byte to buffer_.
  absl::Status ReadSome() {
    char chunk[1024];
    while (true) {
      if (tls_ != nullptr) {
        ERR_clear_error();
        errno = 0;
        size_t n = 0;
        const int rc = SSL_read_ex(tls_.get(), chunk, sizeof(chunk), &n);
        if (rc == 1) {
          buffer_.append(chunk, n);
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(AwaitTls(rc, "read"));
        continue;
      }
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return absl::OkStatus();
      }
      if (n == 0) return absl::UnavailableError("smtp: connection closed by the server");
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        RETURN_IF_ERROR(WaitFor(fd_, POLLIN));
        continue;
      }
      return absl::UnavailableError(absl::StrCat("smtp read: ", std::strerror(errno)));
    }
  }

  absl::Status ReadLine(std::string* line) {
    while (true) {
      const size_t eol = buffer_.find("\r\n");
      if (eol != std::string::npos) {
        *line = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 2);
        return absl::OkStatus();
      }
      if (buffer_.size() > 4096) return absl::UnavailableError("smtp: reply line too long");
      RETURN_IF_ERROR(ReadSome());
    }
  }

  const absl::Time deadline_;
  int fd_ = -1;
  std::unique_ptr<SSL, TlsDeleter> tls_;
  std::string buffer_;
};

bool IsAscii(absl::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Lines joined with CRLF, whatever the input used.
std::string CrlfLines(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 40);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out.append("\r\n");
    } else if (c == '\n') {
      out.append("\r\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// RFC 5321 4.5.2: a line starting with '.' gets another '.'; input has CRLF lines.
std::string DotStuff(absl::string_view crlf_text) {
  std::string out;
  out.reserve(crlf_text.size() + 8);
  bool line_start = true;
  for (size_t i = 0; i < crlf_text.size(); ++i) {
    if (line_start && crlf_text[i] == '.') out.push_back('.');
    out.push_back(crlf_text[i]);
    line_start = crlf_text[i] == '\n';
  }
  return out;
}

std::string Base64Lines(absl::string_view bytes) {
  const std::string b64 = absl::Base64Escape(bytes);
  std::string out;
  for (size_t i = 0; i < b64.size(); i += 76) absl::StrAppend(&out, b64.substr(i, 76), "\r\n");
  return out;
}

std::string EmailMessage(const SmtpConfig& config, absl::string_view subject,
                         absl::string_view text, const SendContext& context, bool eight_bit) {
  std::string body = CrlfLines(text);
  if (!absl::EndsWith(body, "\r\n")) body.append("\r\n");
  std::string encoding = "7bit";
  if (!IsAscii(body)) {
    if (eight_bit) {
      encoding = "8bit";
    } else {
      encoding = "base64";
      body = Base64Lines(text);
    }
  }
  std::string out;
  absl::StrAppend(&out, "Date: ",
                  absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", context.now,
                                   absl::UTCTimeZone()),
                  "\r\n");
  absl::StrAppend(&out, "From: <", config.from, ">\r\n");
  std::vector<std::string> to;
  for (const std::string& r : config.to) to.push_back(absl::StrCat("<", r, ">"));
  absl::StrAppend(&out, "To: ", absl::StrJoin(to, ", "), "\r\n");
  absl::StrAppend(&out, "Subject: ", EncodeHeaderText(subject), "\r\n");
  absl::StrAppend(&out, "Message-ID: <smartby-feed-", context.delivery_id, "@", config.helo_name,
                  ">\r\n");
  absl::StrAppend(&out, "MIME-Version: 1.0\r\n");
  absl::StrAppend(&out, "Content-Type: text/plain; charset=UTF-8\r\n");
  absl::StrAppend(&out, "Content-Transfer-Encoding: ", encoding, "\r\n");
  absl::StrAppend(&out, "Auto-Submitted: auto-generated\r\n\r\n");
  out.append(body);
  return out;
}

// --- Outbox rows.

constexpr char kDeliveryColumns[] =
    "id, channel_id, channel_type, dedup_key, subject, body, json, state, attempts, created_us, "
    "next_attempt_us, last_attempt_us, delivered_us, last_error";

absl::Time TimeOrPast(const Row& row, size_t i) {
  return row.IsNull(i) ? absl::InfinitePast() : absl::FromUnixMicros(row.Int(i));
}

DeliveryState StateFrom(const std::string& s) {
  if (s == "delivered") return DeliveryState::kDelivered;
  if (s == "failed") return DeliveryState::kFailed;
  return DeliveryState::kPending;
}

ChannelType TypeFrom(const std::string& s) {
  if (s == "email") return ChannelType::kEmail;
  if (s == "sms") return ChannelType::kSms;
  return ChannelType::kWebhook;
}

Delivery DeliveryFrom(const Row& r) {
  Delivery d;
  d.id = r.Int(0);
  d.channel_id = r.String(1);
  d.channel_type = TypeFrom(r.String(2));
  d.dedup_key = r.String(3);
  d.message.subject = r.String(4);
  d.message.text = r.String(5);
  d.message.json = r.String(6);
  d.state = StateFrom(r.String(7));
  d.attempts = static_cast<int>(r.Int(8));
  d.created_at = absl::FromUnixMicros(r.Int(9));
  d.next_attempt_at = absl::FromUnixMicros(r.Int(10));
  d.last_attempt_at = TimeOrPast(r, 11);
  d.delivered_at = TimeOrPast(r, 12);
  d.last_error = r.String(13);
  return d;
}

Value TimeValue(absl::Time t) {
  if (t == absl::InfinitePast()) return std::monostate();
  return absl::ToUnixMicros(t);
}

// The schema. Times are Unix microseconds. The due index serves the worker's claim query;
// dedup_key is unique where set (NULLs never collide on either engine).
constexpr char kSqliteOutbox[] = R"sql(
CREATE TABLE notification_deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, so an id in a log stays unambiguous
  channel_id TEXT NOT NULL,
  channel_type TEXT NOT NULL,             -- webhook, email, sms
  dedup_key TEXT UNIQUE,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  json TEXT NOT NULL,
  state TEXT NOT NULL,                    -- pending, delivered, failed
  attempts INTEGER NOT NULL,
  created_us INTEGER NOT NULL,
  next_attempt_us INTEGER NOT NULL,
  last_attempt_us INTEGER,
  delivered_us INTEGER,
  last_error TEXT NOT NULL
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_us);
CREATE TABLE notification_attempts (
  delivery_id INTEGER NOT NULL REFERENCES notification_deliveries (id),
  attempt INTEGER NOT NULL,
  at_us INTEGER NOT NULL,
  took_us INTEGER NOT NULL,
  ok INTEGER NOT NULL,
  error TEXT NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
)
)sql";

constexpr char kPostgresOutbox[] = R"sql(
CREATE TABLE notification_deliveries (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel_id TEXT NOT NULL,
  channel_type TEXT NOT NULL,
  dedup_key TEXT UNIQUE,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  json TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  created_us BIGINT NOT NULL,
  next_attempt_us BIGINT NOT NULL,
  last_attempt_us BIGINT,
  delivered_us BIGINT,
  last_error TEXT NOT NULL
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_us);
CREATE TABLE notification_attempts (
  delivery_id BIGINT NOT NULL REFERENCES notification_deliveries (id),
  attempt INTEGER NOT NULL,
  at_us BIGINT NOT NULL,
  took_us BIGINT NOT NULL,
  ok INTEGER NOT NULL,
  error TEXT NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
)
)sql";

}  // namespace

// --- Channels.

absl::string_view ChannelTypeName(ChannelType type) {
  switch (type) {
    case ChannelType::kWebhook:
      return "webhook";
    case ChannelType::kEmail:
      return "email";
    case ChannelType::kSms:
      return "sms";
  }
  return "unknown";
}

absl::string_view SmtpTlsName(SmtpTls tls) {
  switch (tls) {
    case SmtpTls::kStartTls:
      return "starttls";
    case SmtpTls::kRequired:
      return "required";
    case SmtpTls::kNone:
      return "none";
  }
  return "unknown";
}

absl::StatusOr<SmtpTls> ParseSmtpTls(absl::string_view value, absl::string_view what) {
  for (const SmtpTls tls : {SmtpTls::kStartTls, SmtpTls::kRequired, SmtpTls::kNone}) {
    if (value == SmtpTlsName(tls)) return tls;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": one of starttls (TLS when the server offers it), required, none; "
                         "got '", value, "'"));
}

absl::string_view DeliveryStateName(DeliveryState state) {
  switch (state) {
    case DeliveryState::kPending:
      return "pending";
    case DeliveryState::kDelivered:
      return "delivered";
    case DeliveryState::kFailed:
      return "failed";
  }
  return "unknown";
}

absl::Status ValidateChannel(const Channel& channel) {
  if (channel.id.empty() || channel.id.size() > 100 || HasControl(channel.id)) {
    return absl::InvalidArgumentError("channel.id: must be 1-100 printable characters");
  }
  const std::string where = absl::StrCat("channel ", channel.id, ": ");
  switch (channel.type) {
    case ChannelType::kWebhook:
      if (absl::Status s = CheckUrl(channel.webhook.url, where + "webhook.url"); !s.ok()) return s;
      break;
    case ChannelType::kSms:
      if (absl::Status s = CheckUrl(channel.sms.gateway_url, where + "sms.gateway_url");
          !s.ok()) {
        return s;
      }
      if (channel.sms.to.empty() || channel.sms.to.size() > 32 || HasControl(channel.sms.to)) {
        return absl::InvalidArgumentError(where + "sms.to: a phone number is required");
      }
      break;
    case ChannelType::kEmail: {
      const SmtpConfig& m = channel.email;
      if (m.host.empty() || HasControl(m.host)) {
        return absl::InvalidArgumentError(where + "email.host: required");
      }
      if (m.port < 1 || m.port > 65535) {
        return absl::InvalidArgumentError(where + "email.port: must be 1-65535");
      }
      if (!IsPlainAddress(m.from)) {
        return absl::InvalidArgumentError(where + "email.from: must be an address like a@b.no");
      }
      if (m.to.empty()) return absl::InvalidArgumentError(where + "email.to: at least one");
      for (const std::string& r : m.to) {
        if (!IsPlainAddress(r)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "email.to: '", r, "' is not an address like a@b.no"));
        }
      }
      if (m.helo_name.empty() || m.helo_name.find_first_of(" <>") != std::string::npos ||
          HasControl(m.helo_name)) {
        return absl::InvalidArgumentError(where + "email.helo_name: a host name");
      }
      if (HasControl(m.ca_file)) {
        return absl::InvalidArgumentError(where + "email.ca_file: a file name");
      }
      if (HasControl(m.username) || HasControl(m.password)) {
        return absl::InvalidArgumentError(where + "email credentials: no control characters");
      }
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status StaticChannelDirectory::Put(Channel channel) {
  if (absl::Status s = ValidateChannel(channel); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  const std::string id = channel.id;
  channels_[id] = std::move(channel);
  return absl::OkStatus();
}

void StaticChannelDirectory::Remove(const std::string& channel_id) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_.erase(channel_id);
}

absl::StatusOr<Channel> StaticChannelDirectory::Lookup(const std::string& channel_id) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = channels_.find(channel_id);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("channel ", channel_id, " not found"));
  }
  return it->second;
}

// --- Messages.

Message AlarmMessage(const AlarmEvent& event) {
  Message m;
  const absl::string_view type = AlarmEventTypeName(event.type);
  m.subject = absl::StrCat("[Smartby] Alarm ", type, ": ", event.rule_id, " (", event.source, ")");
  m.text = absl::StrCat("Alarm ", type, ": ", event.message, "\n", "Rule: ", event.rule_id,
                        "\nDataset: ", event.dataset, "\nSource: ", event.source,
                        "\nTime: ", absl::FormatTime(absl::RFC3339_sec, event.time,
                                                    absl::UTCTimeZone()),
                        "\nAlarm: ", event.alarm_id, "\n");
  Json j = {
      {"type", "alarm"},
      {"event", type},
      {"alarm_id", event.alarm_id},
      {"rule_id", event.rule_id},
      {"dataset", event.dataset},
      {"source", event.source},
      {"field", event.field},
      {"kind", AlarmKindName(event.kind)},
      {"value", event.value ? Json(*event.value) : Json(nullptr)},
      {"time", absl::FormatTime(absl::RFC3339_full, event.time, absl::UTCTimeZone())},
      {"message", event.message},
  };
  if (event.type == AlarmEventType::kAcknowledged) j["acknowledged_by"] = event.acknowledged_by;
  // Replace, not throw, on invalid UTF-8 (source ids come from outside).
  m.json = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return m;
}

std::string WebhookSignature(absl::string_view secret, absl::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  return absl::StrCat("sha256=",
                      absl::BytesToHexString(absl::string_view(
                          reinterpret_cast<const char*>(mac), len)));
}

std::string EncodeHeaderText(absl::string_view text) {
  std::string clean(text);
  std::replace_if(clean.begin(), clean.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  const bool plain = std::all_of(clean.begin(), clean.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
  if (plain && clean.find("=?") == std::string::npos) return clean;
  // "=?UTF-8?B?" + base64 + "?=" is 12 characters; 45 bytes give 60 base64 characters, 72 in all.
  std::vector<std::string> words;
  size_t start = 0;
  while (start < clean.size()) {
    size_t end = std::min(clean.size(), start + 45);
    // Back up to a character boundary (never end before a continuation byte).
    while (end < clean.size() && end > start + 1 &&
           (static_cast<unsigned char>(clean[end]) & 0xC0) == 0x80) {
      --end;
    }
    words.push_back(absl::StrCat("=?UTF-8?B?", absl::Base64Escape(clean.substr(start, end - start)),
                                 "?="));
    start = end;
  }
  return absl::StrJoin(words, "\r\n ");
}

absl::Status PostWebhook(const WebhookConfig& config, absl::string_view body,
                         const SendContext& context) {
  return Post(config.url, config.secret, config.ca_file, body, context);
}

absl::Status SendSms(const SmsConfig& config, absl::string_view text, const SendContext& context) {
  const std::string body = Json{{"to", config.to}, {"text", std::string(text)}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
  return Post(config.gateway_url, config.secret, config.ca_file, body, context);
}

namespace {

// What the server offers in its EHLO answer.
struct SmtpExtensions {
  bool eight_bit = false;
  bool auth_plain = false;
  bool starttls = false;
};

absl::StatusOr<SmtpExtensions> Ehlo(SmtpConnection& smtp, const SmtpConfig& config) {
  ASSIGN_OR_RETURN(const SmtpReply ehlo,
                   smtp.Command(absl::StrCat("EHLO ", config.helo_name), 250));
  SmtpExtensions offered;
  for (const std::string& line : ehlo.lines) {
    const std::string upper = absl::AsciiStrToUpper(line);
    if (upper == "8BITMIME") offered.eight_bit = true;
    if (upper == "STARTTLS") offered.starttls = true;
    if (absl::StartsWith(upper, "AUTH") && absl::StrContains(upper, "PLAIN")) {
      offered.auth_plain = true;
    }
  }
  return offered;
}

}  // namespace

absl::Status SendEmail(const SmtpConfig& config, absl::string_view subject,
                       absl::string_view text, const SendContext& context) {
  ScopedSigpipeBlock no_sigpipe;
  SmtpConnection smtp(absl::Now() + context.timeout);
  if (absl::Status s = smtp.Connect(config.host, config.port); !s.ok()) return s;
  if (auto r = smtp.Command("", 220); !r.ok()) return r.status();
  ASSIGN_OR_RETURN(SmtpExtensions offered, Ehlo(smtp, config));
  if (config.tls != SmtpTls::kNone) {
    if (offered.starttls) {
      RETURN_IF_ERROR(smtp.Command("STARTTLS", 220).status());
      RETURN_IF_ERROR(smtp.StartTls(config));
      // RFC 3207: what the server said before TLS is forgotten; ask again.
      ASSIGN_OR_RETURN(offered, Ehlo(smtp, config));
    } else if (config.tls == SmtpTls::kRequired) {
      return absl::FailedPreconditionError(absl::StrCat(
          "smtp ", config.host, ":", config.port,
          ": the server does not offer STARTTLS, and TLS is required (--smtp_tls=required)"));
    }
  }
  if (!config.username.empty()) {
    if (!smtp.tls() && !config.allow_plaintext_auth) {
      return absl::FailedPreconditionError(absl::StrCat(
          "smtp ", config.host, ":", config.port,
          ": AUTH PLAIN without TLS would send the password in clear text (the session is not "
          "TLS: the server offers no STARTTLS, or --smtp_tls=none); refused unless "
          "allow_plaintext_auth (--smtp_allow_plaintext_auth)"));
    }
    if (!offered.auth_plain) {
      return absl::FailedPreconditionError("smtp: the server does not offer AUTH PLAIN");
    }
    std::string credentials;
    credentials.push_back('\0');
    absl::StrAppend(&credentials, config.username);
    credentials.push_back('\0');
    absl::StrAppend(&credentials, config.password);
    if (auto r = smtp.Command(absl::StrCat("AUTH PLAIN ", absl::Base64Escape(credentials)), 235,
                              0, "AUTH PLAIN");
        !r.ok()) {
      return r.status();
    }
  }
  if (auto r = smtp.Command(absl::StrCat("MAIL FROM:<", config.from, ">",
                                         offered.eight_bit ? " BODY=8BITMIME" : ""),
                            250);
      !r.ok()) {
    return r.status();
  }
  for (const std::string& to : config.to) {
    if (auto r = smtp.Command(absl::StrCat("RCPT TO:<", to, ">"), 250, 251); !r.ok()) {
      return r.status();
    }
  }
  if (auto r = smtp.Command("DATA", 354); !r.ok()) return r.status();
  const std::string data = absl::StrCat(
      DotStuff(EmailMessage(config, subject, text, context, offered.eight_bit)), ".\r\n");
  if (auto r = smtp.Command(data.substr(0, data.size() - 2), 250, 0, "end of DATA"); !r.ok()) {
    return r.status();
  }
  // Accepted: the message is the server's now; a failed QUIT changes nothing.
  (void)smtp.Command("QUIT", 221);
  return absl::OkStatus();
}

absl::Status NetworkSender::Send(const Channel& channel, const Message& message,
                                 const SendContext& context) {
  switch (channel.type) {
    case ChannelType::kWebhook:
      return PostWebhook(channel.webhook, message.json, context);
    case ChannelType::kEmail:
      return SendEmail(channel.email, message.subject, message.text, context);
    case ChannelType::kSms:
      return SendSms(channel.sms, message.text, context);
  }
  return absl::InvalidArgumentError("unknown channel type");
}

// --- The outbox.

storage::Migration NotificationOutboxMigration(int version) {
  return storage::Migration{version, "feed notification outbox", kSqliteOutbox, kPostgresOutbox};
}

Notifier::Notifier(std::shared_ptr<storage::Database> db, const Clock* clock,
                   ChannelDirectory* channels, ChannelSender* sender,
                   prometheus::Registry& registry, NotifierOptions options)
    : db_(std::move(db)),
      clock_(clock),
      channels_(channels),
      sender_(sender),
      options_(options),
      notifications_(prometheus::BuildCounter()
                         .Name("smartby_feed_notifications_total")
                         .Help("Notification delivery attempts by channel type and outcome "
                               "(delivered, retry, failed = given up).")
                         .Register(registry)),
      failures_(prometheus::BuildCounter()
                    .Name("smartby_feed_notification_failures_total")
                    .Help("Failed notification delivery attempts by channel type.")
                    .Register(registry)) {}

Notifier::~Notifier() { Stop(); }

absl::StatusOr<int64_t> Notifier::Enqueue(const std::string& channel_id, const Message& message,
                                          const std::string& dedup_key) {
  absl::StatusOr<Channel> channel = channels_->Lookup(channel_id);
  if (!channel.ok()) return channel.status();
  const int64_t now = absl::ToUnixMicros(clock_->Now());
  int64_t id = 0;
  absl::Status status = db_->InTransaction([&](Transaction& tx) -> absl::Status {
    absl::StatusOr<Rows> rows = tx.Query(
        "INSERT INTO notification_deliveries (channel_id, channel_type, dedup_key, subject, body, "
        "json, state, attempts, created_us, next_attempt_us, last_error) "
        "VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, '') "
        "ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        {channel_id, std::string(ChannelTypeName(channel->type)),
         dedup_key.empty() ? Value(std::monostate()) : Value(dedup_key), message.subject,
         message.text, message.json, now});
    if (!rows.ok()) return rows.status();
    if (!rows->empty()) {
      id = rows->front().Int(0);
      return absl::OkStatus();
    }
    rows = tx.Query("SELECT id FROM notification_deliveries WHERE dedup_key = $1", {dedup_key});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::InternalError("enqueue: deduplicated row not found");
    id = rows->front().Int(0);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return id;
}

absl::Duration Notifier::Backoff(int failed_attempts) {
  const int doublings = std::min(failed_attempts - 1, 30);
  absl::Duration delay = options_.initial_backoff * (int64_t{1} << std::max(0, doublings));
  delay = std::min(delay, options_.max_backoff);
  if (options_.jitter > 0) {
    double u;
    {
      std::lock_guard<std::mutex> lock(random_mu_);
      u = absl::Uniform(random_, 0.0, options_.jitter);
    }
    delay = delay * (1.0 - u);
  }
  return delay;
}

absl::StatusOr<int> Notifier::DeliverDue() {
  const absl::Time now = clock_->Now();
  const int64_t now_us = absl::ToUnixMicros(now);
  const int64_t lease_until = absl::ToUnixMicros(now + options_.lease);
  std::vector<Delivery> claimed;
  absl::Status status = db_->InTransaction([&](Transaction& tx) -> absl::Status {
    claimed.clear();
    absl::StatusOr<Rows> rows = tx.Query(
        absl::StrCat("SELECT ", kDeliveryColumns,
                     " FROM notification_deliveries WHERE state = 'pending' AND "
                     "next_attempt_us <= $1 ORDER BY next_attempt_us, id LIMIT $2"),
        {now_us, int64_t{options_.batch}});
    if (!rows.ok()) return rows.status();
    for (const Row& row : *rows) {
      Delivery d = DeliveryFrom(row);
      // Compare-and-set on the due time: another worker that claimed it first moved it.
      absl::StatusOr<int64_t> changed = tx.Execute(
          "UPDATE notification_deliveries SET next_attempt_us = $1 "
          "WHERE id = $2 AND state = 'pending' AND next_attempt_us = $3",
          {lease_until, d.id, absl::ToUnixMicros(d.next_attempt_at)});
      if (!changed.ok()) return changed.status();
      if (*changed == 1) claimed.push_back(std::move(d));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;

  for (const Delivery& d : claimed) {
    const absl::Time started = clock_->Now();
    absl::Status outcome;
    absl::StatusOr<Channel> channel = channels_->Lookup(d.channel_id);
    if (!channel.ok()) {
      outcome = channel.status().code() == absl::StatusCode::kNotFound
                    ? absl::FailedPreconditionError(
                          absl::StrCat("channel ", d.channel_id, " no longer exists"))
                    : channel.status();
    } else {
      SendContext context;
      context.delivery_id = d.id;
      context.attempt = d.attempts + 1;
      context.now = started;
      context.timeout = options_.send_timeout;
      outcome = sender_->Send(*channel, d.message, context);
    }
    if (absl::Status recorded = Record(d, outcome, started, clock_->Now()); !recorded.ok()) {
      // The row stays pending and is attempted again after the lease: at least once, not lost.
      log::Error("notification outcome not recorded",
                 {{"delivery_id", d.id}, {"error", std::string(recorded.message())}});
    }
  }
  return static_cast<int>(claimed.size());
}

absl::Status Notifier::Record(const Delivery& d, const absl::Status& outcome, absl::Time started,
                              absl::Time finished) {
  const int attempt = d.attempts + 1;
  std::string state = "delivered";
  std::string metric_outcome = "delivered";
  absl::Time next = finished;
  std::string error;
  if (!outcome.ok()) {
    error = std::string(outcome.message());
    if (error.empty()) error = absl::StatusCodeToString(outcome.code());
    const bool give_up = !IsTransientCode(outcome.code()) || attempt >= options_.max_attempts;
    state = give_up ? "failed" : "pending";
    metric_outcome = give_up ? "failed" : "retry";
    if (!give_up) next = finished + Backoff(attempt);
  }
  const int64_t at_us = absl::ToUnixMicros(started);
  absl::Status status = db_->InTransaction([&](Transaction& tx) -> absl::Status {
    absl::StatusOr<int64_t> inserted = tx.Execute(
        "INSERT INTO notification_attempts (delivery_id, attempt, at_us, took_us, ok, error) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        {d.id, int64_t{attempt}, at_us, absl::ToInt64Microseconds(finished - started),
         int64_t{outcome.ok() ? 1 : 0}, error});
    if (!inserted.ok()) return inserted.status();
    absl::StatusOr<int64_t> updated = tx.Execute(
        "UPDATE notification_deliveries SET state = $1, attempts = $2, next_attempt_us = $3, "
        "last_attempt_us = $4, delivered_us = $5, last_error = $6 WHERE id = $7",
        {state, int64_t{attempt}, absl::ToUnixMicros(next), at_us,
         outcome.ok() ? TimeValue(finished) : Value(std::monostate()),
         outcome.ok() ? d.last_error : error, d.id});
    if (!updated.ok()) return updated.status();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;

  const std::string channel(ChannelTypeName(d.channel_type));
  notifications_.Add({{"channel", channel}, {"outcome", metric_outcome}}).Increment();
  if (!outcome.ok()) {
    failures_.Add({{"channel", channel}}).Increment();
    (state == "failed" ? log::Error : log::Warn)(
        state == "failed" ? "notification failed, giving up" : "notification failed, will retry",
        {{"delivery_id", d.id},
         {"channel_id", d.channel_id},
         {"attempt", int64_t{attempt}},
         {"error", error}});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Delivery>> Notifier::ListDeliveries(const DeliveryFilter& filter) {
  std::vector<Delivery> out;
  const std::string state =
      filter.state ? std::string(DeliveryStateName(*filter.state)) : std::string();
  absl::Status status = db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        absl::StatusOr<Rows> rows = tx.Query(
            absl::StrCat("SELECT ", kDeliveryColumns,
                         " FROM notification_deliveries WHERE ($1 = '' OR state = $1) AND "
                         "($2 = '' OR channel_id = $2) ORDER BY id DESC LIMIT $3"),
            {state, filter.channel_id, int64_t{std::max(1, filter.limit)}});
        if (!rows.ok()) return rows.status();
        for (const Row& r : *rows) out.push_back(DeliveryFrom(r));
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<Delivery> Notifier::GetDelivery(int64_t id) {
  std::optional<Delivery> found;
  absl::Status status = db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        absl::StatusOr<Rows> rows = tx.Query(
            absl::StrCat("SELECT ", kDeliveryColumns,
                         " FROM notification_deliveries WHERE id = $1"),
            {id});
        if (!rows.ok()) return rows.status();
        if (!rows->empty()) found = DeliveryFrom(rows->front());
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead);
  if (!status.ok()) return status;
  if (!found) return absl::NotFoundError(absl::StrCat("delivery ", id, " not found"));
  return *found;
}

absl::StatusOr<std::vector<DeliveryAttempt>> Notifier::ListAttempts(int64_t delivery_id) {
  std::vector<DeliveryAttempt> out;
  absl::Status status = db_->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        absl::StatusOr<Rows> rows = tx.Query(
            "SELECT delivery_id, attempt, at_us, took_us, ok, error FROM notification_attempts "
            "WHERE delivery_id = $1 ORDER BY attempt",
            {delivery_id});
        if (!rows.ok()) return rows.status();
        for (const Row& r : *rows) {
          DeliveryAttempt a;
          a.delivery_id = r.Int(0);
          a.attempt = static_cast<int>(r.Int(1));
          a.at = absl::FromUnixMicros(r.Int(2));
          a.took = absl::Microseconds(r.Int(3));
          a.ok = r.Int(4) != 0;
          a.error = r.String(5);
          out.push_back(std::move(a));
        }
        return absl::OkStatus();
      },
      storage::TransactionMode::kSingleRead);
  if (!status.ok()) return status;
  return out;
}

absl::Status Notifier::Retry(int64_t delivery_id) {
  return db_->InTransaction([&](Transaction& tx) -> absl::Status {
    absl::StatusOr<Rows> rows = tx.Query(
        "SELECT state FROM notification_deliveries WHERE id = $1", {delivery_id});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) {
      return absl::NotFoundError(absl::StrCat("delivery ", delivery_id, " not found"));
    }
    if (rows->front().String(0) != "failed") {
      return absl::FailedPreconditionError(absl::StrCat(
          "delivery ", delivery_id, " is ", rows->front().String(0), ", not failed"));
    }
    absl::StatusOr<int64_t> updated = tx.Execute(
        "UPDATE notification_deliveries SET state = 'pending', next_attempt_us = $1 "
        "WHERE id = $2",
        {absl::ToUnixMicros(clock_->Now()), delivery_id});
    return updated.status();
  });
}

void Notifier::Start(absl::Duration poll) {
  std::lock_guard<std::mutex> lock(worker_mu_);
  if (worker_ != nullptr) return;
  worker_ = std::make_unique<Periodic>(poll, [this] {
    // Drain what is due, batch by batch, then wait for the next poll.
    for (int round = 0; round < 100; ++round) {
      absl::StatusOr<int> n = DeliverDue();
      if (!n.ok()) {
        log::Error("notification worker", {{"error", std::string(n.status().message())}});
        return;
      }
      if (*n < options_.batch) return;
    }
  });
}

void Notifier::Stop() {
  std::unique_ptr<Periodic> worker;
  {
    std::lock_guard<std::mutex> lock(worker_mu_);
    worker = std::move(worker_);
  }
  worker.reset();  // waits for a run in progress
}

}  // namespace smartby::feed
