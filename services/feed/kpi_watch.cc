#include "services/feed/kpi_watch.h"

#include <utility>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"

namespace smartby::feed {

absl::StatusOr<v1::KpiValue> EvaluateKpi(const Hub& hub, const v1::Kpi& kpi,
                                         const KpiExpression& expression, absl::Time now) {
  std::vector<SourceValues> latest;
  for (const UpdatePtr& update : hub.Latest(kpi.dataset())) {
    SourceValues values;
    for (const auto& [name, value] : update->reading().values()) {
      if (value.has_double_value()) {
        values[name] = value.double_value();
      } else if (value.has_integer_value()) {
        values[name] = static_cast<double>(value.integer_value());
      }
    }
    latest.push_back(std::move(values));
  }
  absl::StatusOr<double> value = expression.Evaluate(latest);
  if (!value.ok()) return value.status();
  v1::KpiValue out;
  out.set_name(kpi.name());
  out.set_value(*value);
  *out.mutable_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  out.set_sources(static_cast<int64_t>(latest.size()));
  return out;
}

KpiWatchers::KpiWatchers(const Hub* hub, const Clock* clock, absl::Duration min_interval)
    : hub_(hub), clock_(clock), min_interval_(min_interval) {}

std::shared_ptr<KpiWatchers::Watch> KpiWatchers::Add(v1::Kpi kpi, KpiExpression expression,
                                                     Deliver deliver) {
  auto watch = std::make_shared<Watch>();
  watch->kpi = std::move(kpi);
  watch->expression = std::move(expression);
  watch->deliver = std::move(deliver);
  std::lock_guard<std::mutex> lock(mu_);
  watches_.insert(watch);
  return watch;
}

void KpiWatchers::Remove(const std::shared_ptr<Watch>& watch) {
  std::lock_guard<std::mutex> lock(mu_);
  watches_.erase(watch);
}

size_t KpiWatchers::watches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watches_.size();
}

void KpiWatchers::OnReadings(absl::Span<const PositionedReading> readings) {
  std::lock_guard<std::mutex> lock(mu_);
  if (watches_.empty()) return;
  absl::flat_hash_map<std::string, int64_t> datasets;  // dataset -> its newest position
  for (const PositionedReading& r : readings) datasets[r.dataset()] = r.position();
  for (const std::shared_ptr<Watch>& watch : watches_) {
    if (auto it = datasets.find(watch->kpi.dataset()); it != datasets.end()) {
      watch->dirty = true;
      watch->wait_for = std::max(watch->wait_for, it->second);
    }
  }
}

void KpiWatchers::Tick() {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::shared_ptr<Watch>& watch : watches_) {
    if (!watch->dirty || now - watch->last < min_interval_) continue;
    if (hub_->position() < watch->wait_for) continue;  // the hub has not taken it in yet
    watch->dirty = false;
    watch->last = now;
    absl::StatusOr<v1::KpiValue> value = EvaluateKpi(*hub_, watch->kpi, watch->expression, now);
    if (value.ok()) watch->deliver(*value);
  }
}

}  // namespace smartby::feed
