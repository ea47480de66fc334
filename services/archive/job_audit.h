// JobAuditor over the runtime's audit outbox: the steps of an export that happen outside any call
// (a worker started it, it succeeded, failed or was cancelled, a restart began it again, its
// package was fetched) become audit events like the ones the runtime's guard records for calls,
// with the archive's own service account as actor and the export job as resource.
#ifndef SMARTBY_SERVICES_ARCHIVE_JOB_AUDIT_H_
#define SMARTBY_SERVICES_ARCHIVE_JOB_AUDIT_H_

#include <string>

#include "services/archive/archive.h"
#include "services/runtime/audit_outbox.h"
#include "services/runtime/clock.h"

namespace smartby::archive {

class OutboxJobAuditor : public JobAuditor {
 public:
  // `outbox` (may be nullptr: nothing is recorded, a warning is logged once per event) and
  // `clock` must outlive the auditor. `producer` is the runtime's audit producer name; `subject`
  // the archive's own principal ("service:archive").
  OutboxJobAuditor(AuditOutbox* outbox, const Clock* clock, std::string producer,
                   std::string subject);

  void Record(const v1::ExportJob& job, const std::string& step) override;

  // The event Record stores (exposed for tests).
  smartcity::audit::v1::AuditEvent EventFor(const v1::ExportJob& job,
                                            const std::string& step) const;

 private:
  AuditOutbox* const outbox_;
  const Clock* const clock_;
  const std::string producer_;
  const std::string subject_;
};

}  // namespace smartby::archive

#endif  // SMARTBY_SERVICES_ARCHIVE_JOB_AUDIT_H_
