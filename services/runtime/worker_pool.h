// A fixed set of threads with a bounded queue, where handlers run blocking work (SQLite, libpq)
// so that gRPC's callback threads never block.
#ifndef SMARTBY_RUNTIME_WORKER_POOL_H_
#define SMARTBY_RUNTIME_WORKER_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace smartby {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queued);
  ~WorkerPool();  // finishes queued work, then joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False (and `task` not run) when the queue is full or the pool is stopping.
  bool TrySubmit(std::function<void()> task);
  size_t queued() const;

 private:
  void Loop();
  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_WORKER_POOL_H_
