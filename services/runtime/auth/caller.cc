#include "services/runtime/auth/caller.h"

namespace smartby::auth {

const std::string& Caller::subject() const {
  static const std::string* const kAnonymous = new std::string("anonymous");
  return principal_ ? principal_->subject : *kAnonymous;
}

absl::Status Caller::Authorize(Action action, const ResourceRef& resource) const {
  MarkChecked();
  absl::Status decision = Decide(principal(), action, resource);
  Remember(action, resource, decision.ok());
  return decision;
}

void Caller::Remember(Action action, const ResourceRef& resource, bool allowed) const {
  std::lock_guard<std::mutex> lock(checks_mu_);
  last_resource_ = resource;
  last_action_ = action;
  last_allowed_ = allowed;
  // Above Åpen; UNSPECIFIED with a dataset counts too (policy.h treats it as the strictest).
  const bool sensitive =
      resource.classification > smartcity::common::v1::CLASSIFICATION_OPEN ||
      (resource.classification == smartcity::common::v1::CLASSIFICATION_UNSPECIFIED &&
       !resource.dataset.empty());
  if (!allowed || !sensitive) return;
  for (const ResourceRef& seen : allowed_sensitive_) {
    if (seen.dataset == resource.dataset) return;
  }
  if (allowed_sensitive_.size() < kMaxSensitiveResources) {
    allowed_sensitive_.push_back(resource);
  } else {
    ++allowed_sensitive_dropped_;
  }
}

std::optional<ResourceRef> Caller::last_resource() const {
  std::lock_guard<std::mutex> lock(checks_mu_);
  return last_resource_;
}

std::optional<Action> Caller::last_action() const {
  std::lock_guard<std::mutex> lock(checks_mu_);
  return last_action_;
}

bool Caller::last_allowed() const {
  std::lock_guard<std::mutex> lock(checks_mu_);
  return last_allowed_;
}

std::vector<ResourceRef> Caller::allowed_sensitive() const {
  std::lock_guard<std::mutex> lock(checks_mu_);
  return allowed_sensitive_;
}

int64_t Caller::allowed_sensitive_dropped() const {
  std::lock_guard<std::mutex> lock(checks_mu_);
  return allowed_sensitive_dropped_;
}

bool Caller::Allows(Action action, const ResourceRef& resource) const {
  return Authorize(action, resource).ok();
}

}  // namespace smartby::auth
