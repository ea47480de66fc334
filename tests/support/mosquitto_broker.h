// Test support: a real MQTT broker (Debian's /usr/sbin/mosquitto) as a child process on a free
// loopback port, with a configuration generated into its own temporary directory.
//
// The configuration is for tests only: one listener on 127.0.0.1, anonymous access allowed
// (unless a password file is given), persistence on (so a graceful Stop()/Restart() keeps
// sessions and queued QoS 1 messages, the way a production broker with persistence does), and
// large queues for offline clients.
//
// Readiness is checked by connecting: Start() and Restart() return once an MQTT client got a
// CONNACK from the broker (for a TLS listener, once a TCP connection is accepted: mosquitto opens
// its listeners only after loading its configuration and persistence file).
//
// Thread safety: none; use a broker from one thread at a time.
#ifndef SMARTBY_TESTS_SUPPORT_MOSQUITTO_BROKER_H_
#define SMARTBY_TESTS_SUPPORT_MOSQUITTO_BROKER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/service_process.h"

namespace smartby::testing {

struct MosquittoBrokerOptions {
  std::string binary = "/usr/sbin/mosquitto";
  absl::Duration ready_timeout = absl::Seconds(15);
  // TLS on the listener when certfile is set (TLS 1.2 or later). cafile verifies client
  // certificates when require_certificate.
  struct Tls {
    std::string cafile;
    std::string certfile;
    std::string keyfile;
    bool require_certificate = false;
  } tls;
  // When set: no anonymous access, only the users in this file (made with mosquitto_passwd).
  std::string password_file;
  // Appended to the generated configuration, i.e. settings of the one listener.
  std::string extra_config;
};

class MosquittoBroker {
 public:
  static absl::StatusOr<std::unique_ptr<MosquittoBroker>> Start(
      MosquittoBrokerOptions options = {});
  ~MosquittoBroker();  // Kill9() if still running; the directory is removed

  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  std::string host() const { return "127.0.0.1"; }
  int port() const { return port_; }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The broker's directory (configuration, persistence file, log).
  const std::string& dir() const { return dir_.path(); }

  // SIGTERM, and waits for the exit: the broker writes its persistence file first. Error if it
  // did not exit within `timeout` (it is then killed).
  absl::Status Stop(absl::Duration timeout = absl::Seconds(10));
  // Stop() if running, then starts the broker again on the same port with the same
  // configuration and data, and waits until it is ready.
  absl::Status Restart();
  // SIGKILL: no persistence file is written, like a crash.
  void Kill9();

  // The broker's log (all runs so far).
  std::string Log() const;

 private:
  explicit MosquittoBroker(MosquittoBrokerOptions options) : options_(std::move(options)) {}
  absl::Status WriteConfig();
  // Starts the process on port_ and waits until it is ready; the error holds the log.
  absl::Status Launch();
  bool Probe() const;

  const MosquittoBrokerOptions options_;
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_MOSQUITTO_BROKER_H_
