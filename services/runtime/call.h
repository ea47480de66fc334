// What every RPC handler uses: the per-method policy table, the guard chain where
// authentication, authorisation and audit plug in, and `UnaryCall`, which runs a handler's work
// on the runtime's worker pool and finishes the call with the mapped status.
//
//   grpc::ServerUnaryReactor* CatalogueService::GetDataset(grpc::CallbackServerContext* ctx,
//                                                          const GetDatasetRequest* request,
//                                                          Dataset* response) {
//     return calls_.Unary(ctx, "GetDataset", [=, this](CallContext& call) -> absl::Status {
//       ASSIGN_OR_RETURN(*response, catalogue_.Get(request->name()));
//       return absl::OkStatus();
//     });
//   }
//
// Handlers never repeat cross-cutting work; a method missing from the policy table is refused
// (and the service refuses to start if its table does not cover every RPC it serves).
#ifndef SMARTBY_RUNTIME_CALL_H_
#define SMARTBY_RUNTIME_CALL_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "services/runtime/auth/caller.h"
#include "services/runtime/auth/policy.h"
#include "services/runtime/worker_pool.h"

namespace smartby {

// Who may call a method, checked by the runner for every call (after the authentication guard
// has turned the caller's token, if any, into a principal). A token that is sent is always
// verified, even for public methods: an invalid or expired token is UNAUTHENTICATED everywhere.
enum class Access {
  // Anyone, with or without a token (sign-in, public keys, the Authorize decision itself).
  kPublic,
  // Any authenticated principal; the handler decides the rest (e.g. "who am I").
  kAuthenticated,
  // Decided before the work runs: policy.h's Decide(principal, action, {}) for actions that are
  // not about one dataset (kAdminister, kReadAudit, kArchive).
  kAction,
  // The handler loads the resource and calls caller.Authorize(action, resource) before it acts.
  // A handler that returns OK without having asked is answered INTERNAL, never with its result.
  kResource,
  // A listing: the handler restricts what it returns to what the caller may see (and says so
  // with caller.MarkChecked() or per-item caller.Allows); same fail-closed rule as kResource.
  kFiltered,
};

// The default policy is the strictest: platform-admin only. Audit (issue 4) records every
// mutating call.
struct MethodPolicy {
  bool mutating = false;
  Access access = Access::kAction;
  auth::Action action = auth::Action::kAdminister;
};

// Full gRPC service name ("smartcity.catalogue.v1.CatalogueService") and its methods' policies,
// keyed by the short method name ("GetDataset").
struct ServicePolicy {
  std::string service;
  std::map<std::string, MethodPolicy> methods;
};

// Everything known about one call, passed to guards and the handler's work.
struct CallContext {
  grpc::CallbackServerContext* server_context = nullptr;
  std::string method;  // "/smartcity.catalogue.v1.CatalogueService/GetDataset"
  const MethodPolicy* policy = nullptr;
  std::string request_id;
  std::string peer;
  auth::Caller caller;  // anonymous until the authentication guard verified a token
  // What the handler adds to the call's audit record (audit_guard.h): a JSON object of at most
  // 4 KiB, e.g. {"fields":["title","keywords"]}. AddAuditDetail(call, key, value) builds it.
  std::string audit_details;
};

// A step every call passes through before its work runs, and is told the outcome after.
// Guards run in registration order; the first error refuses the call with that status.
class CallGuard {
 public:
  virtual ~CallGuard() = default;
  virtual absl::Status Admit(CallContext& call) = 0;
  virtual void Completed(const CallContext& call, const absl::Status& outcome) {}
  // After the work, before the answer goes out: what the runner calls. The default tells
  // Completed and keeps the outcome; a guard that must withhold an answer (the audit guard, when
  // a read above Åpen cannot be recorded) returns another status, which later guards then see.
  virtual absl::Status Conclude(const CallContext& call, absl::Status outcome) {
    Completed(call, outcome);
    return outcome;
  }
};

class CallRunner {
 public:
  // `policy` must outlive the runner. `pool` runs the work (database calls must never block
  // gRPC's own threads).
  CallRunner(const ServicePolicy* policy, WorkerPool* pool);

  void AddGuard(std::shared_ptr<CallGuard> guard) { guards_.push_back(std::move(guard)); }

  // Runs guards, applies the method's Access rule, then `work` on the pool, then finishes the
  // reactor exactly once. RESOURCE_EXHAUSTED when the pool's queue is full.
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context, const char* method,
                                  std::function<absl::Status(CallContext&)> work);

  // For streaming RPCs, which cannot run as one piece of work on the pool. OpenStream runs the
  // guards' Admit and the method's Access rule on the calling thread when the stream opens (they
  // are cheap: a token check, an outbox size check) and returns the call's context, with
  // `*admitted` telling whether it may go on. Every opened stream, admitted or refused, must be
  // closed exactly once with CloseStream, which applies the kResource/kFiltered rule and the
  // guards' Conclude (so the stream is audited as one call, refusals included) and returns the
  // status to finish the stream with.
  std::shared_ptr<CallContext> OpenStream(grpc::CallbackServerContext* context, const char* method,
                                          absl::Status* admitted);
  absl::Status CloseStream(CallContext& call, absl::Status outcome);

  const ServicePolicy& policy() const { return *policy_; }
  WorkerPool& pool() const { return *pool_; }

 private:
  std::shared_ptr<CallContext> NewCall(grpc::CallbackServerContext* context,
                                       const MethodPolicy* policy, const char* method);

  const ServicePolicy* policy_;
  WorkerPool* pool_;
  std::vector<std::shared_ptr<CallGuard>> guards_;
};

// OK when `policy` names every method of `service` and nothing else; otherwise FAILED_PRECONDITION
// listing the methods without a policy. Called at start-up.
absl::Status CheckPolicyCoversService(const ServicePolicy& policy,
                                      const google::protobuf::ServiceDescriptor& service);

// The Access rule of `policy` for `caller`, before the work runs (kPublic, kAuthenticated,
// kAction decide here; kResource and kFiltered are decided by the handler).
absl::Status AdmitByPolicy(const MethodPolicy& policy, const auth::Caller& caller);

// After the work: OK results of kResource/kFiltered methods whose handler never checked become
// INTERNAL (a missing check must not leak data).
absl::Status CheckHandlerAuthorized(const MethodPolicy& policy, const auth::Caller& caller,
                                    const std::string& method, absl::Status outcome);

// The request id of a call: the client's `x-request-id` metadata, or the one the runtime
// generated for it (the runtime's interceptor returns it in response metadata either way).
std::string RequestIdOf(const grpc::CallbackServerContext& context);

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_CALL_H_
