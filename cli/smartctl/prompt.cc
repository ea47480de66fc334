#include "cli/smartctl/prompt.h"

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "cli/smartctl/errors.h"

namespace smartby::smartctl {
namespace {

// While echo is off: the terminal and its settings to restore if a signal ends the process.
int g_tty_fd = -1;
struct termios g_saved_termios;

void RestoreAndReraise(int signo) {
  if (g_tty_fd >= 0) ::tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved_termios);
  ::signal(signo, SIG_DFL);
  ::raise(signo);
}

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

absl::StatusOr<std::string> Prompt(const std::string& prompt, bool echo,
                                   const std::string& instead) {
  const int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    return UsageError(
        absl::StrCat("there is no terminal to ask on", instead.empty() ? "" : "; use ", instead));
  }
  struct termios saved {};
  const bool is_tty = ::tcgetattr(fd, &saved) == 0;
  struct sigaction old_int {}, old_term {}, old_hup {}, action {};
  if (!echo && is_tty) {
    g_saved_termios = saved;
    g_tty_fd = fd;
    action.sa_handler = RestoreAndReraise;
    ::sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int);
    ::sigaction(SIGTERM, &action, &old_term);
    ::sigaction(SIGHUP, &action, &old_hup);
    struct termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  WriteAll(fd, prompt);
  std::string line;
  bool got_end = false;
  while (true) {
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (c == '\n') {
      got_end = true;
      break;
    }
    line.push_back(c);
  }
  if (!echo && is_tty) {
    ::tcsetattr(fd, TCSAFLUSH, &saved);
    g_tty_fd = -1;
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    ::sigaction(SIGHUP, &old_hup, nullptr);
  }
  ::close(fd);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!got_end && line.empty()) return LocalError("no answer (end of input)");
  return line;
}

absl::StatusOr<std::string> ReadSecretLine(std::istream& in, const std::string& what) {
  std::string line;
  if (!std::getline(in, line)) {
    return LocalError(absl::StrCat("expected ", what, " on standard input, found nothing"));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return LocalError(absl::StrCat("expected ", what, " on standard input, found an empty line"));
  }
  return line;
}

}  // namespace smartby::smartctl
