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
#include <optional>
#include <string>

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

 private:
  std::optional<Principal> principal_;
  mutable std::atomic<bool> checked_{false};
};

}  // namespace smartby::auth

#endif  // SMARTBY_RUNTIME_AUTH_CALLER_H_
