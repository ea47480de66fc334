// Asking the person at the terminal: a username, a TOTP code, a password without echo. Prompts
// and answers go through /dev/tty, not stdin/stdout, so that `smartctl ... | jq` and redirected
// output still work; scripts use --password-stdin and the like instead.
#ifndef SMARTBY_CLI_SMARTCTL_PROMPT_H_
#define SMARTBY_CLI_SMARTCTL_PROMPT_H_

#include <istream>
#include <string>

#include "absl/status/statusor.h"

namespace smartby::smartctl {

// Shows `prompt` on the terminal and reads one line; with `echo` false the typing is not shown
// (termios ECHO off, restored afterwards, also on Ctrl-C). Usage error naming `instead` (e.g.
// "--password-stdin") when there is no terminal to ask.
absl::StatusOr<std::string> Prompt(const std::string& prompt, bool echo,
                                   const std::string& instead);

// One line from `in` without its line end ("\n" or "\r\n"). Local error naming `what` when the
// stream is empty, or the line is.
absl::StatusOr<std::string> ReadSecretLine(std::istream& in, const std::string& what);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_PROMPT_H_
