// Who is making a call, as domain code sees it: the verified principal (or nobody), and the one
// way to ask whether they may do something. Domain logic takes a `const Caller&` and asks before
// it acts, with the resource it has just loaded:
//
//   ASSIGN_OR_RETURN(v1::Dataset dataset, store_->Get(name));
//   RETURN_IF_ERROR(caller.Authorize(auth::Action::kRead, ResourceOf(dataset)));
//
// Authorize records that a decision was made, so the runtime can refuse to answer a call whose
// method is declared resource-checked (call.h, Access::kResource) when the handler never asked:
// a forgotten check fails closed instead of leaking.
#ifndef SMARTBY_RUNTIME_AUTH_CALLER_H_
#define SMARTBY_RUNTIME_AUTH_CALLER_H_

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/runtime/auth/policy.h"
#include "services/runtime/auth/principal.h"

namespace smartby::auth {

class Caller {
 public:
  Caller() = default;  // anonymous
  explicit Caller(Principal principal) : principal_(std::move(principal)) {}
  Caller(const Caller& other) : principal_(other.principal_) {}
  Caller& operator=(const Caller& other) {
    principal_ = other.principal_;
    return *this;
  }

  static Caller Anonymous() { return Caller(); }

  // nullptr for an anonymous caller.
  const Principal* principal() const { return principal_ ? &*principal_ : nullptr; }
  bool authenticated() const { return principal_.has_value(); }
  // "anonymous" or the token's subject ("user:alice", "service:ingestion").
  const std::string& subject() const;

  // policy.h's Decide for this caller. Counts as the call's authorisation check.
  absl::Status Authorize(Action action, const ResourceRef& resource) const;
  // The same decision as a yes/no, for filtering lists; also counts as a check.
  bool Allows(Action action, const ResourceRef& resource) const;

  // True once Authorize or Allows has been called (whatever the outcome).
  bool authorized() const { return checked_.load(std::memory_order_relaxed); }
  // For listing methods that restrict what they return in the store (Access::kFiltered).
  void MarkChecked() const { checked_.store(true, std::memory_order_relaxed); }

  // What the checks were about, for the call's audit record (audit_guard.h), so that it names the
  // dataset and its class without the handler repeating them. Copies do not carry these.
  //
  // The action and resource of the last Authorize or Allows, and whether it was allowed; nullopt
  // before any check.
  std::optional<ResourceRef> last_resource() const;
  std::optional<Action> last_action() const;
  bool last_allowed() const;
  // The resources above Åpen (or unclassified) that a check allowed, in order, each dataset once
  // (a listing reads many); at most kMaxSensitiveResources, the rest only counted.
  static constexpr size_t kMaxSensitiveResources = 100;
  std::vector<ResourceRef> allowed_sensitive() const;
  int64_t allowed_sensitive_dropped() const;

 private:
  void Remember(Action action, const ResourceRef& resource, bool allowed) const;

  std::optional<Principal> principal_;
  mutable std::atomic<bool> checked_{false};

  mutable std::mutex checks_mu_;
  mutable std::optional<ResourceRef> last_resource_;
  mutable std::optional<Action> last_action_;
  mutable bool last_allowed_ = false;
  mutable std::vector<ResourceRef> allowed_sensitive_;
  mutable int64_t allowed_sensitive_dropped_ = 0;
};

}  // namespace smartby::auth

#endif  // SMARTBY_RUNTIME_AUTH_CALLER_H_
