// Test support: in-process callers with exactly the roles, clearance and second factor a test
// needs (what the runtime's authentication guard makes from a verified token).
#ifndef SMARTBY_RUNTIME_AUTH_TEST_CALLERS_H_
#define SMARTBY_RUNTIME_AUTH_TEST_CALLERS_H_

#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>

#include "services/runtime/auth/caller.h"
#include "services/runtime/auth/principal.h"

namespace smartby::auth::testing {

namespace common = ::smartcity::common::v1;

// `roles` as in a token ("reader", "dataset-owner:Stavanger kommune"); aborts on a bad one.
inline auth::Principal MakePrincipal(const std::string& subject,
                                     std::initializer_list<const char*> roles,
                                     common::Classification clearance, bool two_factor) {
  auth::Principal p;
  p.subject = subject;
  p.issuer = "smartby";
  for (const char* role : roles) {
    auto grant = auth::ParseRoleGrant(role);
    if (!grant.ok()) std::abort();
    p.roles.push_back(*grant);
  }
  p.clearance = clearance;
  p.two_factor = two_factor;
  return p;
}

inline auth::Caller MakeCaller(const std::string& subject,
                               std::initializer_list<const char*> roles,
                               common::Classification clearance, bool two_factor) {
  return auth::Caller(MakePrincipal(subject, roles, clearance, two_factor));
}

// platform-admin, cleared for Strengt beskyttet, with a second factor.
inline auth::Caller AdminCaller() {
  return MakeCaller("user:admin", {"platform-admin"}, common::CLASSIFICATION_STRICTLY_PROTECTED,
                    true);
}

// dataset-owner of `organization`, cleared for Strengt beskyttet, with a second factor.
inline auth::Caller OwnerCaller(const std::string& subject, const std::string& organization) {
  auth::Principal p =
      MakePrincipal(subject, {}, common::CLASSIFICATION_STRICTLY_PROTECTED, true);
  p.roles.push_back({auth::Role::kDatasetOwner, organization});
  return auth::Caller(std::move(p));
}

// reader with the given clearance and second factor.
inline auth::Caller ReaderCaller(common::Classification clearance, bool two_factor) {
  return MakeCaller("user:reader", {"reader"}, clearance, two_factor);
}

}  // namespace smartby::auth::testing

#endif  // SMARTBY_RUNTIME_AUTH_TEST_CALLERS_H_
