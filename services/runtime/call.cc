#include "services/runtime/call.h"

#include <google/protobuf/descriptor.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/runtime/log.h"
#include "services/runtime/status.h"

namespace smartby {

CallRunner::CallRunner(const ServicePolicy* policy, WorkerPool* pool)
    : policy_(policy), pool_(pool) {}

grpc::ServerUnaryReactor* CallRunner::Unary(grpc::CallbackServerContext* context,
                                            const char* method,
                                            std::function<absl::Status(CallContext&)> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto it = policy_->methods.find(method);
  if (it == policy_->methods.end()) {
    // Unreachable when CheckPolicyCoversService passed at start-up; refuse rather than run open.
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                 absl::StrCat(method, " has no access policy")));
    return reactor;
  }
  auto call = NewCall(context, &it->second, method);

  const bool queued = pool_->TrySubmit([this, call, reactor, work = std::move(work)] {
    absl::Status status;
    if (call->server_context->IsCancelled()) {
      status = absl::CancelledError("the caller cancelled the call");
    }
    for (const auto& guard : guards_) {
      if (!status.ok()) break;
      status = guard->Admit(*call);
    }
    if (status.ok()) status = AdmitByPolicy(*call->policy, call->caller);
    if (status.ok()) {
      status = CheckHandlerAuthorized(*call->policy, call->caller, call->method, work(*call));
    }
    for (const auto& guard : guards_) status = guard->Conclude(*call, std::move(status));
    reactor->Finish(ToGrpcStatus(status));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "the service is busy; retry in a moment"));
  }
  return reactor;
}

std::shared_ptr<CallContext> CallRunner::NewCall(grpc::CallbackServerContext* context,
                                                const MethodPolicy* policy, const char* method) {
  auto call = std::make_shared<CallContext>();
  call->server_context = context;
  call->method = absl::StrCat("/", policy_->service, "/", method);
  call->policy = policy;
  call->request_id = RequestIdOf(*context);
  call->peer = context->peer();
  return call;
}

std::shared_ptr<CallContext> CallRunner::OpenStream(grpc::CallbackServerContext* context,
                                                    const char* method, absl::Status* admitted) {
  static const MethodPolicy* const kRefuseAll = new MethodPolicy{};
  auto it = policy_->methods.find(method);
  if (it == policy_->methods.end()) {
    *admitted = absl::UnimplementedError(absl::StrCat(method, " has no access policy"));
    return NewCall(context, kRefuseAll, method);
  }
  auto call = NewCall(context, &it->second, method);
  absl::Status status;
  for (const auto& guard : guards_) {
    status = guard->Admit(*call);
    if (!status.ok()) break;
  }
  if (status.ok()) status = AdmitByPolicy(*call->policy, call->caller);
  *admitted = std::move(status);
  return call;
}

absl::Status CallRunner::CloseStream(CallContext& call, absl::Status outcome) {
  absl::Status status = CheckHandlerAuthorized(*call.policy, call.caller, call.method,
                                               std::move(outcome));
  for (const auto& guard : guards_) status = guard->Conclude(call, std::move(status));
  return status;
}

absl::Status CheckPolicyCoversService(const ServicePolicy& policy,
                                      const google::protobuf::ServiceDescriptor& service) {
  std::vector<std::string> missing, unknown;
  for (int i = 0; i < service.method_count(); ++i) {
    if (!policy.methods.count(service.method(i)->name())) {
      missing.push_back(service.method(i)->name());
    }
  }
  for (const auto& [name, unused] : policy.methods) {
    if (service.FindMethodByName(name) == nullptr) unknown.push_back(name);
  }
  if (policy.service != service.full_name()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "policy is for ", policy.service, " but the service is ", service.full_name()));
  }
  if (!missing.empty() || !unknown.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        service.full_name(), ": every RPC needs an access policy; missing for [",
        absl::StrJoin(missing, ", "), "], policy names unknown RPCs [",
        absl::StrJoin(unknown, ", "), "]"));
  }
  return absl::OkStatus();
}

absl::Status AdmitByPolicy(const MethodPolicy& policy, const auth::Caller& caller) {
  switch (policy.access) {
    case Access::kPublic:
    case Access::kResource:
    case Access::kFiltered:
      return absl::OkStatus();
    case Access::kAuthenticated:
      if (caller.authenticated()) return absl::OkStatus();
      return absl::UnauthenticatedError("sign in first: this call needs an access token");
    case Access::kAction:
      return caller.Authorize(policy.action, auth::ResourceRef{});
  }
  return absl::InternalError("unknown access rule");  // fails closed
}

absl::Status CheckHandlerAuthorized(const MethodPolicy& policy, const auth::Caller& caller,
                                    const std::string& method, absl::Status outcome) {
  if (!outcome.ok()) return outcome;
  if ((policy.access == Access::kResource || policy.access == Access::kFiltered) &&
      !caller.authorized()) {
    log::Error("handler returned without an authorisation check; answer withheld",
             {{"method", method}});
    return absl::InternalError("the service could not check access for this call");
  }
  return outcome;
}

std::string RequestIdOf(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("x-request-id");
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace smartby
