// Test support: start the real service binaries and the real smartctl, as separate processes on
// loopback, and talk to them. No sleeps: readiness is the service's own "serving" log line.
#ifndef SMARTBY_TESTS_SUPPORT_SERVICE_PROCESS_H_
#define SMARTBY_TESTS_SUPPORT_SERVICE_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace smartby::testing {

using Env = std::vector<std::pair<std::string, std::string>>;

// Path of a built binary: "smartby-catalogue" -> $SMARTBY_BUILD_DIR/services/catalogue/...,
// "smartctl" -> $SMARTBY_BUILD_DIR/cli/smartctl/smartctl, "smartby-echo" -> .../bench/.
std::string BinaryPath(const std::string& name);

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ServiceProcess {
 public:
  // Starts `binary_path` with `args` (plus `env` on top of the current environment) and waits
  // (up to `ready_timeout`) for its JSON log line with "msg":"serving", from which the bound
  // ports are read. Pass `--listen 127.0.0.1:0 --metrics_listen 127.0.0.1:0` for free ports.
  // On failure the error holds the process's output. The process is SIGKILLed when the thread
  // that started it ends (PR_SET_PDEATHSIG: so no service outlives a killed test binary), so
  // start services from the test's main thread, not from a short-lived helper thread.
  static absl::StatusOr<std::unique_ptr<ServiceProcess>> Start(
      const std::string& binary_path, const std::vector<std::string>& args, const Env& env = {},
      absl::Duration ready_timeout = absl::Seconds(30));
  ~ServiceProcess();  // Stop(), then SIGKILL if it did not exit

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  int health_port() const { return health_port_; }  // 0 unless --health_listen was given
  std::string grpc_address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  pid_t pid() const { return pid_; }

  // Sends SIGTERM and waits up to `timeout`; returns the exit code (-signal when killed by one,
  // -1 on timeout).
  int Stop(absl::Duration timeout = absl::Seconds(20));

  // Every stdout line so far (the service's JSON log).
  std::vector<std::string> LogLines() const;
  // Waits until a log line containing every one of `needles` appears; returns it or "".
  std::string WaitForLogLine(const std::vector<std::string>& needles,
                             absl::Duration timeout = absl::Seconds(10)) const;

 private:
  ServiceProcess() = default;
  void ReadLoop();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  int health_port_ = 0;
  bool exited_ = false;
  int exit_code_ = 0;
  std::thread reader_;
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

struct CommandResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs a command to completion (killed after `timeout`), feeding `stdin_data`.
CommandResult RunCommand(const std::vector<std::string>& argv, const Env& env = {},
                         const std::string& stdin_data = "",
                         absl::Duration timeout = absl::Seconds(60));

struct HttpResult {
  int status = 0;  // 0 when the connection failed
  std::string body;
};

// A plain HTTP/1.0 GET to 127.0.0.1:port.
HttpResult HttpGet(int port, const std::string& path);

// The value of the sample named exactly `name` (no labels) in Prometheus text `metrics`, e.g.
// "smartby_audit_tree_size" or "smartby_audit_commit_seconds_sum"; -1 when there is none.
double MetricValue(const std::string& metrics, const std::string& name);

// A port the kernel just handed out on 127.0.0.1 and nothing listens on now (0 if none), for a
// program that must be told its port, or an address where nothing answers. Another process may
// take it before it is used.
int FreeLoopbackPort();

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_SERVICE_PROCESS_H_
