#include "services/archive/job_audit.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "services/runtime/log.h"

namespace smartby::archive {

OutboxJobAuditor::OutboxJobAuditor(AuditOutbox* outbox, const Clock* clock, std::string producer,
                                   std::string subject)
    : outbox_(outbox), clock_(clock), producer_(std::move(producer)), subject_(std::move(subject)) {}

smartcity::audit::v1::AuditEvent OutboxJobAuditor::EventFor(const v1::ExportJob& job,
                                                            const std::string& step) const {
  smartcity::audit::v1::AuditEvent event;
  event.set_producer(producer_);
  const int64_t micros = absl::ToUnixMicros(clock_->Now());
  event.mutable_claimed_time()->set_seconds(micros / 1000000);
  event.mutable_claimed_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  event.mutable_actor()->set_subject(subject_);
  event.set_action(absl::StrCat("archive.", step));
  auto* resource = event.mutable_resource();
  resource->set_type("export-job");
  resource->set_id(job.id());
  if (job.datasets_size() == 1) resource->set_dataset(job.datasets(0));
  resource->set_classification(job.classification());
  event.set_outcome_code(job.state() == v1::EXPORT_STATE_FAILED ? 13 /* INTERNAL */ : 0);
  nlohmann::json details = nlohmann::json::object();
  details["datasets"] = std::vector<std::string>(job.datasets().begin(), job.datasets().end());
  details["requested_by"] = job.created_by();
  details["attempt"] = job.attempts();
  if (!job.error().empty()) details["error"] = job.error().substr(0, 1000);
  if (!job.package_sha256().empty()) {
    details["package_sha256"] = job.package_sha256();
    details["package_bytes"] = job.package_size();
  }
  if (!job.cancelled_by().empty()) details["cancelled_by"] = job.cancelled_by();
  event.set_details_json(details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return event;
}

void OutboxJobAuditor::Record(const v1::ExportJob& job, const std::string& step) {
  if (outbox_ == nullptr) {
    log::Warn("export step not recorded: no audit outbox", {{"job", job.id()}, {"step", step}});
    return;
  }
  auto stored = outbox_->Append({EventFor(job, step)});
  if (!stored.ok()) {
    log::Error("export step not recorded in the audit outbox",
               {{"job", job.id()}, {"step", step},
                {"error", std::string(stored.status().message())}});
  }
}

}  // namespace smartby::archive
