// Time as a seam: domain logic asks a Clock, so tests can set the time instead of sleeping.
#ifndef SMARTBY_RUNTIME_CLOCK_H_
#define SMARTBY_RUNTIME_CLOCK_H_

#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace smartby {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

// For tests. Thread-safe.
class SettableClock : public Clock {
 public:
  explicit SettableClock(absl::Time now) : now_(now) {}
  absl::Time Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Set(absl::Time now) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ = now;
  }
  void Advance(absl::Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  absl::Time now_;
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_CLOCK_H_
