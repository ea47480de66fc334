// Test support: a tiny SMTP server on 127.0.0.1:<free port> that accepts mail and keeps it, for
// tests of SMTP clients. It speaks EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT,
// one connection at a time, and offers 8BITMIME unless told not to.
//
//   SmtpSink sink;
//   ... send to 127.0.0.1:sink.port() ...
//   ASSERT_TRUE(sink.WaitForMessages(1, absl::Seconds(5)));
//   EXPECT_EQ(sink.messages()[0].recipients, ...);
#ifndef SMARTBY_TESTS_SUPPORT_SMTP_SINK_H_
#define SMARTBY_TESTS_SUPPORT_SMTP_SINK_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace smartby::testing {

struct SmtpMessage {
  std::string helo;
  std::string auth_user;      // from AUTH PLAIN; "" without
  std::string auth_password;
  std::string mail_from;      // the address inside MAIL FROM:<...>
  std::string mail_from_params;  // what followed it, e.g. "BODY=8BITMIME"
  std::vector<std::string> recipients;
  std::string raw_data;       // DATA as sent, dot-stuffed, without the final ".\r\n"
  std::string data;           // DATA with the dot-stuffing removed: the message itself
};

struct SmtpSinkOptions {
  bool offer_8bitmime = true;
  // Answer to RCPT TO for these recipients with 550 (permanent refusal).
  std::vector<std::string> refuse_recipients;
};

class SmtpSink {
 public:
  explicit SmtpSink(SmtpSinkOptions options = {});
  ~SmtpSink();
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  int port() const { return port_; }
  bool WaitForMessages(size_t n, absl::Duration timeout);
  std::vector<SmtpMessage> messages();
  // Every command line received, in order (AUTH lines included), for protocol assertions.
  std::vector<std::string> commands();

 private:
  void Serve();
  void Session(int fd);

  const SmtpSinkOptions options_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SmtpMessage> messages_;
  std::vector<std::string> commands_;
  std::thread thread_;
};

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_SMTP_SINK_H_
