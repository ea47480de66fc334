// A gRPC callback reactor (unary, reading, writing or bidi) whose blocking work runs on the
// worker pool, so gRPC's own threads never wait on a database or a disk.
//
// Ownership: the reactor deletes itself. It holds one reference for gRPC (released in OnDone) and
// one for each task it submitted that is queued or running; whichever release is last runs
// BeforeDelete() and then deletes the reactor. So a task may safely touch the reactor after gRPC
// is done with it, and a reactor never needs to know which thread finishes last.
//
// Thread safety: Submit may be called from any thread, including from inside a task.
#ifndef SMARTBY_RUNTIME_POOLED_REACTOR_H_
#define SMARTBY_RUNTIME_POOLED_REACTOR_H_

#include <functional>
#include <mutex>
#include <utility>

#include "services/runtime/worker_pool.h"

namespace smartby {

template <class Reactor>
class PooledReactor : public Reactor {
 public:
  // Final: the reactor's lifetime is this class's to end (use BeforeDelete).
  void OnDone() final { Release(); }

 protected:
  // `pool` must outlive the reactor.
  explicit PooledReactor(WorkerPool* pool) : pool_(pool) {}

  // Runs `task` on the pool, keeping the reactor alive until it has returned. False when the
  // pool's queue is full or the pool is stopping (the task does not run).
  bool Submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(references_mu_);
      ++references_;
    }
    const bool queued = pool_->TrySubmit([this, task = std::move(task)] {
      task();
      Release();
    });
    if (!queued) Release();
    return queued;
  }

  // Called exactly once, with no lock held, after OnDone and after the last task has returned,
  // just before the reactor is deleted: unregister from whatever may still call into it (a hub,
  // a watcher list), so nothing calls a deleted reactor. Registrations a late task made are
  // seen here too.
  virtual void BeforeDelete() {}

 private:
  void Release() {
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(references_mu_);
      last = --references_ == 0;
    }
    if (!last) return;
    BeforeDelete();
    delete this;
  }

  WorkerPool* const pool_;
  std::mutex references_mu_;
  int references_ = 1;  // gRPC's, until OnDone
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_POOLED_REACTOR_H_
