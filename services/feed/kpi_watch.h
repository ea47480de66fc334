// KPI values for WatchKpi: each watch is a KPI (parsed once) and a callback. A reading of the
// KPI's dataset marks its watches dirty (cheap, on the hub's consumer thread); Tick (every
// 100 ms, main.cc) evaluates the dirty watches whose last value is at least `min_interval` old
// over the hub's latest values of the dataset's sources and hands the value to the callback.
// A new watch is dirty, so it gets the current value at the first Tick. A KPI whose value is
// undefined for the data (kpi.h: FAILED_PRECONDITION) sends nothing until it is defined.
//
// Thread safety: thread-safe. The callback is called from Tick's thread with the watchers' lock
// held: it must not block and must not call Watch/Unwatch. After Unwatch returns it is never
// called again.
#ifndef SMARTBY_SERVICES_FEED_KPI_WATCH_H_
#define SMARTBY_SERVICES_FEED_KPI_WATCH_H_

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/feed/hub.h"
#include "services/feed/kpi.h"
#include "services/runtime/clock.h"

namespace smartby::feed {

// The KPI's value over the hub's latest values of its dataset's sources (numeric values only).
absl::StatusOr<v1::KpiValue> EvaluateKpi(const Hub& hub, const v1::Kpi& kpi,
                                         const KpiExpression& expression, absl::Time now);

class KpiWatchers : public ReadingObserver {
 public:
  struct Watch;
  using Deliver = std::function<void(const v1::KpiValue&)>;

  KpiWatchers(const Hub* hub, const Clock* clock,
              absl::Duration min_interval = absl::Milliseconds(500));

  std::shared_ptr<Watch> Add(v1::Kpi kpi, KpiExpression expression, Deliver deliver);
  void Remove(const std::shared_ptr<Watch>& watch);

  void OnReadings(absl::Span<const PositionedReading> readings) override;
  void Tick();

  size_t watches() const;

 private:
  const Hub* hub_;
  const Clock* clock_;
  const absl::Duration min_interval_;
  mutable std::mutex mu_;
  std::set<std::shared_ptr<Watch>> watches_;
};

struct KpiWatchers::Watch {
  v1::Kpi kpi;
  KpiExpression expression;
  Deliver deliver;
  bool dirty = true;
  // The newest reading that made it dirty: evaluated only once the hub holds it (observers see
  // readings before the hub's last values take them).
  int64_t wait_for = 0;
  absl::Time last = absl::InfinitePast();
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_KPI_WATCH_H_
