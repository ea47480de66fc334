#include "tests/support/test_pki.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

extern "C" char** environ;

namespace smartby::testing {
namespace {

// Runs the openssl CLI with `args`; its output goes to `log`. OK, or the log's text. Spawned
// here rather than with service_process.h's RunCommand, so that tests which do not link the
// whole test support (the feed's notifier test) can make certificates too.
absl::Status RunOpenssl(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot run /usr/bin/openssl (install Debian's openssl): ", std::strerror(spawned)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  std::ifstream in(log);
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return absl::InternalError(absl::StrCat("openssl ", args[0], " ", args[1], " failed: ", output));
}

}  // namespace

absl::StatusOr<TestCertificates> MakeTestCertificates(const std::string& dir) {
  const auto file = [&](const std::string& name) { return absl::StrCat(dir, "/test-pki-", name); };
  TestCertificates out;
  out.ca_file = file("ca.crt");
  out.other_ca_file = file("other-ca.crt");
  out.cert_file = file("server.crt");
  out.key_file = file("server.key");
  out.client_cert_file = file("client.crt");
  out.client_key_file = file("client.key");
  out.wrong_host_cert_file = file("wrong-host.crt");
  out.wrong_host_key_file = file("wrong-host.key");

  const std::vector<std::string> new_key = {"-newkey", "ec", "-pkeyopt",
                                            "ec_paramgen_curve:prime256v1", "-nodes"};
  // A self-signed CA.
  const auto ca = [&](const std::string& key, const std::string& cert, const std::string& cn) {
    std::vector<std::string> args = {"req", "-x509"};
    args.insert(args.end(), new_key.begin(), new_key.end());
    args.insert(args.end(), {"-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn});
    return std::vector<std::vector<std::string>>{args};
  };
  // A key, a request for `cn`, and the certificate the CA signs for it with `extensions`.
  const auto signed_by_ca = [&](const std::string& who, const std::string& cn,
                                const std::string& extensions) {
    std::ofstream(file(who + ".ext")) << extensions;
    std::vector<std::string> request = {"req"};
    request.insert(request.end(), new_key.begin(), new_key.end());
    request.insert(request.end(), {"-keyout", file(who + ".key"), "-out", file(who + ".csr"),
                                   "-subj", "/CN=" + cn});
    return std::vector<std::vector<std::string>>{
        request,
        {"x509", "-req", "-in", file(who + ".csr"), "-CA", out.ca_file, "-CAkey", file("ca.key"),
         "-CAcreateserial", "-out", file(who + ".crt"), "-days", "2", "-extfile",
         file(who + ".ext")}};
  };
  std::vector<std::vector<std::string>> commands;
  for (auto step :
       {ca(file("ca.key"), out.ca_file, "Smartby test CA"),
        ca(file("other-ca.key"), out.other_ca_file, "Some other CA"),
        signed_by_ca("server", "127.0.0.1",
                     "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                     "extendedKeyUsage=serverAuth,clientAuth\n"),
        signed_by_ca("client", "client",
                     "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                     "extendedKeyUsage=serverAuth,clientAuth\n"),
        signed_by_ca("wrong-host", "mail.example.org", "subjectAltName=DNS:mail.example.org\n")}) {
    commands.insert(commands.end(), step.begin(), step.end());
  }
  const std::string log = file("openssl.log");
  for (const std::vector<std::string>& args : commands) {
    if (absl::Status s = RunOpenssl(args, log); !s.ok()) return s;
  }
  return out;
}

}  // namespace smartby::testing
