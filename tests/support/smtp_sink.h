// Test support: a tiny SMTP server on 127.0.0.1:<free port> that accepts mail and keeps it, for
// tests of SMTP clients. It speaks EHLO/HELO, STARTTLS (when given a certificate), AUTH PLAIN,
// MAIL, RCPT, DATA, RSET, NOOP and QUIT, one connection at a time, and offers 8BITMIME unless
// told not to. Each message records whether it arrived over TLS.
//
//   SmtpSink sink;
//   ... send to 127.0.0.1:sink.port() ...
//   ASSERT_TRUE(sink.WaitForMessages(1, absl::Seconds(5)));
//   EXPECT_EQ(sink.messages()[0].recipients, ...);
//
// With STARTTLS:
//   absl::StatusOr<TestCertificates> certs = MakeTestCertificates(dir);
//   SmtpSinkOptions options;
//   options.tls_cert_file = certs->cert_file;
//   options.tls_key_file = certs->key_file;
//   SmtpSink sink(options);   // clients verify it with certs->ca_file
#ifndef SMARTBY_TESTS_SUPPORT_SMTP_SINK_H_
#define SMARTBY_TESTS_SUPPORT_SMTP_SINK_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/test_pki.h"  // MakeTestCertificates, for the sink's STARTTLS

typedef struct ssl_ctx_st SSL_CTX;

namespace smartby::testing {

struct SmtpMessage {
  std::string helo;
  std::string auth_user;      // from AUTH PLAIN; "" without
  std::string auth_password;
  bool auth_over_tls = false;  // AUTH came after STARTTLS
  std::string mail_from;      // the address inside MAIL FROM:<...>
  std::string mail_from_params;  // what followed it, e.g. "BODY=8BITMIME"
  std::vector<std::string> recipients;
  std::string raw_data;       // DATA as sent, dot-stuffed, without the final ".\r\n"
  std::string data;           // DATA with the dot-stuffing removed: the message itself
  bool tls = false;           // the message arrived over TLS (after STARTTLS)
  std::string tls_version;    // e.g. "TLSv1.3"; "" without TLS
};

struct SmtpSinkOptions {
  bool offer_8bitmime = true;
  // Answer to RCPT TO for these recipients with 550 (permanent refusal).
  std::vector<std::string> refuse_recipients;
  // Both set: STARTTLS is offered (until the session is TLS) with this certificate chain and
  // private key (PEM files). Empty: no STARTTLS.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class SmtpSink {
 public:
  // Listening when constructed; aborts the test binary if it cannot bind or load the
  // certificate.
  explicit SmtpSink(SmtpSinkOptions options = {});
  ~SmtpSink();
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  int port() const { return port_; }
  bool WaitForMessages(size_t n, absl::Duration timeout);
  std::vector<SmtpMessage> messages();
  // Every command line received, in order (AUTH lines included), for protocol assertions.
  std::vector<std::string> commands();
  // TLS handshakes after STARTTLS that did not complete (e.g. the client refused the
  // certificate).
  int failed_tls_handshakes();

 private:
  void Serve();
  void Session(int fd);

  const SmtpSinkOptions options_;
  SSL_CTX* tls_context_ = nullptr;  // set when STARTTLS is offered
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SmtpMessage> messages_;
  std::vector<std::string> commands_;
  int failed_tls_handshakes_ = 0;
  std::thread thread_;
};

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_SMTP_SINK_H_
