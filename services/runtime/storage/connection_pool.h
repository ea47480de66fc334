// A bounded pool of database connections, shared by the storage engines.
//
//   ConnectionPool<PgConnection> pool("PostgreSQL", options.pool_size,
//                                     [&] { return PgConnection::Open(...); },
//                                     [](const PgConnection& c) { return c.healthy(); });
//   RETURN_IF_ERROR(pool.Seed());
//   ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, pool.Acquire(std::chrono::seconds(30)));
//   ...
//   pool.Release(std::move(conn));
//
// Contract:
//   - At most `max_size` connections are open through Acquire at once (idle plus handed out);
//     connections are opened lazily, one per Acquire that finds no idle connection.
//   - Acquire waits up to `timeout` for an idle connection or a free slot, then fails with
//     UNAVAILABLE "all <max_size> <engine> connections stayed busy for <timeout> s". An error
//     from the opener is returned as is and frees its slot again.
//   - With a health predicate, a connection that is unhealthy when acquired or released is
//     closed and its slot freed, so the next Acquire opens a fresh one (reconnect). Without one,
//     every connection is reused.
//   - Every connection obtained from Acquire must be handed back to Release exactly once.
//
// Thread safety: all methods may be called from any thread. The opener runs without the pool's
// lock held; the health predicate runs with it held, so it must be cheap and must not call back
// into the pool. A connection is used by one thread at a time: the one that acquired it.
#ifndef SMARTBY_RUNTIME_STORAGE_CONNECTION_POOL_H_
#define SMARTBY_RUNTIME_STORAGE_CONNECTION_POOL_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace smartby::storage::internal {

template <typename Connection>
class ConnectionPool {
 public:
  using Opener = std::function<absl::StatusOr<std::unique_ptr<Connection>>()>;
  using HealthCheck = std::function<bool(const Connection&)>;

  // `engine` names the engine in error messages ("SQLite", "PostgreSQL").
  ConnectionPool(std::string engine, int max_size, Opener open, HealthCheck healthy = nullptr)
      : engine_(std::move(engine)),
        max_size_(max_size),
        open_connection_(std::move(open)),
        healthy_(std::move(healthy)) {}

  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Opens one connection now and keeps it idle, so that a bad address fails at start-up rather
  // than at the first request.
  absl::Status Seed() {
    absl::StatusOr<std::unique_ptr<Connection>> conn = open_connection_();
    if (!conn.ok()) return conn.status();
    std::lock_guard<std::mutex> lock(mu_);
    ++open_;
    idle_.push_back(*std::move(conn));
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Connection>> Acquire(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool got =
        cv_.wait_for(lock, timeout, [&] { return !idle_.empty() || open_ < max_size_; });
    if (!got) {
      return absl::UnavailableError(absl::StrCat("all ", max_size_, " ", engine_,
                                                 " connections stayed busy for ", timeout.count(),
                                                 " s"));
    }
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (IsHealthy(*conn)) return conn;
      --open_;  // dropped; a fresh one is opened below
    }
    ++open_;
    lock.unlock();
    absl::StatusOr<std::unique_ptr<Connection>> conn = open_connection_();
    if (!conn.ok()) {
      lock.lock();
      --open_;
      cv_.notify_one();
    }
    return conn;
  }

  void Release(std::unique_ptr<Connection> conn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (IsHealthy(*conn)) {
        idle_.push_back(std::move(conn));
      } else {
        --open_;  // the next Acquire opens a fresh connection
      }
    }
    cv_.notify_one();
    // `conn`, when unhealthy, closes here, outside the lock.
  }

 private:
  bool IsHealthy(const Connection& conn) const { return !healthy_ || healthy_(conn); }

  const std::string engine_;
  const int max_size_;
  const Opener open_connection_;
  const HealthCheck healthy_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  int open_ = 0;                                   // guarded by mu_
};

}  // namespace smartby::storage::internal

#endif  // SMARTBY_RUNTIME_STORAGE_CONNECTION_POOL_H_
