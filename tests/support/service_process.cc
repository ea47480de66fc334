#include "tests/support/service_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace smartby::testing {
namespace {

extern "C" char** environ;

std::vector<std::string> MergedEnv(const Env& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool overridden = false;
    for (const auto& [k, v] : extra) {
      if (absl::StartsWith(entry, k + "=")) overridden = true;
    }
    if (!overridden) out.push_back(entry);
  }
  for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Integer value of "key":N in a JSON log line, or 0.
int JsonInt(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return 0;
  size_t end = at + needle.size();
  while (end < line.size() && isdigit(static_cast<unsigned char>(line[end]))) ++end;
  int value = 0;
  absl::SimpleAtoi(line.substr(at + needle.size(), end - at - needle.size()), &value);
  return value;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("SMARTBY_BUILD_DIR");
  const std::string build = dir != nullptr ? dir : "build";
  if (name == "smartctl") return build + "/cli/smartctl/smartctl";
  if (name == "smartby-echo") return build + "/bench/smartby-echo";
  if (absl::StartsWith(name, "smartby-")) {
    return absl::StrCat(build, "/services/", name.substr(8), "/", name);
  }
  return build + "/" + name;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "smartby-test-XXXXXX").string();
  path_ = mkdtemp(pattern.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

absl::StatusOr<std::unique_ptr<ServiceProcess>> ServiceProcess::Start(
    const std::string& binary_path, const std::vector<std::string>& args, const Env& env,
    absl::Duration ready_timeout) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> argv_strings = {binary_path};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = MergedEnv(env);
  auto argv = CStrings(argv_strings);
  auto envp = CStrings(env_strings);

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // Die with the test: a test binary killed by CTest's timeout runs no destructors, and a
    // service left behind keeps its ports, files and CPU. If the parent died before prctl took
    // effect, we were already re-parented and no signal will come: leave now.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(pipe_fds[1], STDOUT_FILENO);
    execve(binary_path.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::unique_ptr<ServiceProcess> process(new ServiceProcess());
  process->pid_ = pid;
  process->stdout_fd_ = pipe_fds[0];
  process->reader_ = std::thread([p = process.get()] { p->ReadLoop(); });

  const std::string serving = process->WaitForLogLine({"\"msg\":\"serving\""}, ready_timeout);
  if (serving.empty()) {
    const std::string output = absl::StrJoin(process->LogLines(), "\n");
    return absl::UnavailableError(absl::StrCat(binary_path, " did not start serving within ",
                                               absl::FormatDuration(ready_timeout),
                                               "; its output:\n", output));
  }
  process->grpc_port_ = JsonInt(serving, "grpc_port");
  process->metrics_port_ = JsonInt(serving, "metrics_port");
  process->health_port_ = JsonInt(serving, "health_port");
  return process;
}

void ServiceProcess::ReadLoop() {
  std::string pending;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(stdout_fd_, buffer, sizeof buffer);
    if (n <= 0) break;
    pending.append(buffer, n);
    size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(pending.substr(0, newline));
      pending.erase(0, newline + 1);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!pending.empty()) lines_.push_back(pending);
  lines_.push_back("");  // marks end of output for waiters
}

std::vector<std::string> ServiceProcess::LogLines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

std::string ServiceProcess::WaitForLogLine(const std::vector<std::string>& needles,
                                           absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  size_t seen = 0;
  while (absl::Now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (; seen < lines_.size(); ++seen) {
        bool all = !lines_[seen].empty();
        for (const auto& needle : needles) all = all && absl::StrContains(lines_[seen], needle);
        if (all) return lines_[seen];
      }
      if (!lines_.empty() && lines_.back().empty()) return "";  // output ended
    }
    // Polling a growing vector; the reader thread appends as the process writes.
    absl::SleepFor(absl::Milliseconds(5));
  }
  return "";
}

int ServiceProcess::Stop(absl::Duration timeout) {
  if (exited_) return exit_code_;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (absl::Now() > deadline) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
  exited_ = true;
  exit_code_ = DecodeWaitStatus(status);
  if (reader_.joinable()) reader_.join();
  close(stdout_fd_);
  return exit_code_;
}

ServiceProcess::~ServiceProcess() {
  if (!exited_ && Stop() == -1) {
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    exited_ = true;
  }
  if (reader_.joinable()) reader_.join();
}

CommandResult RunCommand(const std::vector<std::string>& args, const Env& env,
                         const std::string& stdin_data, absl::Duration timeout) {
  CommandResult result;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return result;
  std::vector<std::string> argv_strings = args;
  std::vector<std::string> env_strings = MergedEnv(env);
  auto argv = CStrings(argv_strings);
  auto envp = CStrings(env_strings);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // Feed stdin (small inputs) and close it so the child sees EOF.
  if (!stdin_data.empty()) {
    signal(SIGPIPE, SIG_IGN);
    ssize_t ignored = write(in[1], stdin_data.data(), stdin_data.size());
    (void)ignored;
  }
  close(in[1]);
  const absl::Time deadline = absl::Now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buffer[4096];
  while (open_fds > 0) {
    const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0 || poll(fds, 2, wait_ms) <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buffer, n);
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = DecodeWaitStatus(status);
  return result;
}

double MetricValue(const std::string& metrics, const std::string& name) {
  for (size_t at = metrics.find(name); at != std::string::npos; at = metrics.find(name, at + 1)) {
    if (at > 0 && metrics[at - 1] != '\n') continue;  // a comment line or another metric
    const size_t space = metrics.find(' ', at);
    if (space == std::string::npos) break;
    if (space != at + name.size()) continue;  // a longer name, or one with labels
    return std::atof(metrics.c_str() + space + 1);
  }
  return -1;
}

HttpResult HttpGet(int port, const std::string& path) {
  HttpResult result;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return result;
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return result;
  }
  std::string response;
  char buffer[8192];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) response.append(buffer, n);
  close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  const size_t space = response.find(' ');
  if (space != std::string::npos) absl::SimpleAtoi(response.substr(space + 1, 3), &result.status);
  const size_t body = response.find("\r\n\r\n");
  if (body != std::string::npos) result.body = response.substr(body + 4);
  return result;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace smartby::testing
