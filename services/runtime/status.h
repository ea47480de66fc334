// Errors as values: helper macros missing from Abseil 20220623, and the single place where
// absl::Status is mapped to grpc::Status at the edge of every service.
#ifndef SMARTBY_RUNTIME_STATUS_H_
#define SMARTBY_RUNTIME_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SMARTBY_CONCAT_INNER_(a, b) a##b
#define SMARTBY_CONCAT_(a, b) SMARTBY_CONCAT_INNER_(a, b)

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                                   \
  do {                                                          \
    ::absl::Status smartby_status_ = (expr);                    \
    if (!smartby_status_.ok()) return smartby_status_;          \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, FunctionReturningStatusOr())`.
#define ASSIGN_OR_RETURN(lhs, expr) \
  SMARTBY_ASSIGN_OR_RETURN_IMPL_(SMARTBY_CONCAT_(smartby_statusor_, __LINE__), lhs, expr)
#define SMARTBY_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = *std::move(statusor)

namespace smartby {

// absl and gRPC share the canonical code numbering; the message is passed through unchanged,
// because messages are written for people ("dataset.name: must be ...").
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_STATUS_H_
