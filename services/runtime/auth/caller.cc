#include "services/runtime/auth/caller.h"

namespace smartby::auth {

const std::string& Caller::subject() const {
  static const std::string* const kAnonymous = new std::string("anonymous");
  return principal_ ? principal_->subject : *kAnonymous;
}

absl::Status Caller::Authorize(Action action, const ResourceRef& resource) const {
  MarkChecked();
  return Decide(principal(), action, resource);
}

bool Caller::Allows(Action action, const ResourceRef& resource) const {
  return Authorize(action, resource).ok();
}

}  // namespace smartby::auth
