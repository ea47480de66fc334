// Federation with the municipalities' identity providers (issue 3, "Federation"): trusted
// external OpenID Connect issuers, configured from a file, whose ID tokens the ExchangeToken RPC
// turns into platform tokens. Covers Entra ID / ADFS for staff (oid, tid, roles) and ID-porten for
// citizens (pid, acr idporten-loa-substantial / idporten-loa-high).
//
// Verification reuses the runtime's RFC 8725 verifier (token_verifier.h): per-issuer algorithm
// allow-list, exact iss, aud, exp/nbf with small skew, kid only from the cached key set (JWKS from
// a file or an https URL, refetched at most every N seconds on an unknown kid).
//
// Thread safety: immutable after Load; Exchange may be called from any thread.
#ifndef SMARTBY_SERVICES_AUTH_FEDERATION_H_
#define SMARTBY_SERVICES_AUTH_FEDERATION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/runtime/auth/principal.h"
#include "services/runtime/clock.h"
#include "smartcity/auth/v1/auth.pb.h"
#include "smartcity/common/v1/common.pb.h"

namespace smartby::auth {

// Who an external ID token says the person is, mapped to the platform's terms.
struct FederatedIdentity {
  std::string provider;      // the configured provider's name, e.g. "entra-stavanger"
  std::string subject;       // platform subject, e.g. "entra:<tid>:<oid>"; never a national
                             // identity number in clear
  std::string display_name;  // "name" claim when present
  std::vector<RoleGrant> roles;  // from the provider's claim -> role mapping
  smartcity::common::v1::Classification clearance =
      smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
  bool two_factor = false;  // acr/amr configured as two-factor
  std::string acr;          // as received
};

class Federation {
 public:
  virtual ~Federation() = default;

  // No providers: every exchange is refused.
  static std::unique_ptr<Federation> None();
  // The providers in the configuration file (format: FEDERATION.md in this folder).
  // INVALID_ARGUMENT naming the file, provider and field for anything wrong. `clock` must outlive
  // the result.
  static absl::StatusOr<std::unique_ptr<Federation>> Load(const std::string& path,
                                                          const Clock* clock);

  // UNAUTHENTICATED (plain message, never quoting the token) when the token is not a valid ID
  // token of a configured provider; PERMISSION_DENIED when it is valid but the mapping gives
  // the person no role on the platform.
  virtual absl::StatusOr<FederatedIdentity> Exchange(absl::string_view id_token) const = 0;

  // The configured providers, for ListIdentityProviders (no secrets in them).
  virtual std::vector<smartcity::auth::v1::IdentityProvider> Providers() const = 0;
};

}  // namespace smartby::auth

#endif  // SMARTBY_SERVICES_AUTH_FEDERATION_H_
