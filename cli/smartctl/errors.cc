#include "cli/smartctl/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace smartby::smartctl {
namespace {

constexpr absl::string_view kExitPayload = "type.smartby.dev/smartctl.exit";
constexpr absl::string_view kHintPayload = "type.smartby.dev/smartctl.hint";
constexpr absl::string_view kUsagePayload = "type.smartby.dev/smartctl.usage";
constexpr absl::string_view kRequestIdPayload = "type.smartby.dev/smartctl.request_id";

absl::Status WithPayload(absl::Status status, absl::string_view key, absl::string_view value) {
  if (!value.empty()) status.SetPayload(key, absl::Cord(value));
  return status;
}

std::string PayloadOf(const absl::Status& status, absl::string_view key) {
  auto payload = status.GetPayload(key);
  return payload ? std::string(*payload) : std::string();
}

absl::Status WithExit(absl::Status status, int code) {
  return WithPayload(std::move(status), kExitPayload, absl::StrCat(code));
}

}  // namespace

absl::Status UsageError(absl::string_view message, absl::string_view usage) {
  return WithPayload(WithExit(absl::InvalidArgumentError(message), kExitUsage), kUsagePayload,
                     usage);
}

absl::Status UnreachableError(absl::string_view message, absl::string_view request_id) {
  return WithPayload(WithExit(absl::UnavailableError(message), kExitUnreachable), kRequestIdPayload,
                     request_id);
}

absl::Status ServiceError(absl::StatusCode code, absl::string_view message,
                          absl::string_view request_id) {
  if (code == absl::StatusCode::kOk) code = absl::StatusCode::kUnknown;
  return WithPayload(WithExit(absl::Status(code, message), kExitFailed), kRequestIdPayload,
                     request_id);
}

absl::Status LocalError(absl::string_view message) {
  return WithExit(absl::FailedPreconditionError(message), kExitFailed);
}

absl::Status WithHint(absl::Status status, absl::string_view hint) {
  return WithPayload(std::move(status), kHintPayload, hint);
}

absl::Status WithUsage(absl::Status status, absl::string_view usage) {
  return WithPayload(std::move(status), kUsagePayload, usage);
}

int ExitCodeOf(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  int code = kExitFailed;
  if (!absl::SimpleAtoi(PayloadOf(status, kExitPayload), &code)) return kExitFailed;
  return code;
}

std::string HintOf(const absl::Status& status) { return PayloadOf(status, kHintPayload); }

std::string RequestIdOf(const absl::Status& status) { return PayloadOf(status, kRequestIdPayload); }

void PrintError(const absl::Status& status, std::ostream& err) {
  if (status.ok()) return;
  err << "error: " << status.message() << "\n";
  if (std::string hint = HintOf(status); !hint.empty()) err << "hint: " << hint << "\n";
  if (std::string usage = PayloadOf(status, kUsagePayload); !usage.empty()) {
    err << usage;
    if (usage.back() != '\n') err << "\n";
  }
  if (std::string id = RequestIdOf(status); !id.empty()) {
    err << "(request id: " << id << ")\n";
  }
}

}  // namespace smartby::smartctl
