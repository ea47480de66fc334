// What the benchmarks that run the real platform share: a failure that unwinds (so the services a
// run started are stopped by their destructors), client contexts and channels, small measuring
// helpers, and the platform itself: smartby-auth with a known signing key (so the bench mints its
// own tokens), smartby-catalogue, and as many ingestion and feed processes as a run needs, each a
// separate process on loopback with its files in the bench's directory.
#ifndef SMARTBY_BENCH_BENCH_PLATFORM_H_
#define SMARTBY_BENCH_BENCH_PLATFORM_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace smartby::bench {

// A failure ends the run; main catches it after the stack has unwound.
struct BenchFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void Die(const std::string& what);

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token,
                                         absl::Duration timeout = absl::Minutes(30));
// A channel of its own (not shared with other channels to the same address).
std::shared_ptr<grpc::Channel> Channel(const std::string& address);

int64_t WallMicros();
double Percentile(std::vector<double> v, double p);
// CPU seconds (user + system) process `pid` has used (getpid() for the bench itself).
double ProcessCpuSeconds(pid_t pid);
// CPU seconds the whole machine has been busy (all cores, every process): with the processes'
// own figures, what else ran during a measurement.
double MachineBusyCpuSeconds();
// A "VmRSS:"/"VmHWM:" style line of /proc/<pid>/status, in KiB.
long StatusKiB(pid_t pid, const char* key);
// $SMARTBY_BENCH_DIR, else a new directory under /tmp named after `name` and the pid.
std::string BenchDir(const std::string& name);
void RemoveSqlite(const std::string& path);

class Platform {
 public:
  explicit Platform(const std::string& dir);

  void CreateDataset(const smartcity::catalogue::v1::Dataset& dataset);
  // Each with its own audit outbox in the bench's directory (no audit service runs, so events
  // stay there).
  std::unique_ptr<testing::ServiceProcess> StartIngestion(const std::string& database_url,
                                                          std::vector<std::string> extra = {});
  std::unique_ptr<testing::ServiceProcess> StartFeed(const testing::ServiceProcess& ingestion,
                                                     const std::string& database_url,
                                                     std::vector<std::string> extra = {});
  void RegisterSources(smartcity::ingestion::v1::IngestionService::Stub& stub,
                       const std::string& dataset, const std::vector<std::string>& ids,
                       absl::Duration expected_interval) const;

  // platform-admin, strictly-protected, 2FA.
  const std::string& admin() const { return admin_; }
  // A gateway's service account: ingest-writer for `dataset`.
  std::string Writer(const std::string& dataset) const;
  // The feed service's account (platform-service), as a reader of every dataset.
  const std::string& feed() const { return feed_; }
  std::string Token(const testing::TokenSpec& spec) const { return issuer_->Token(spec); }

 private:
  std::string dir_;
  int ingestions_ = 0, feeds_ = 0;
  std::unique_ptr<testing::ServiceProcess> auth_;
  std::unique_ptr<testing::ServiceProcess> catalogue_;
  std::unique_ptr<testing::TestTokenIssuer> issuer_;
  std::string admin_, feed_;
};

}  // namespace smartby::bench

#endif  // SMARTBY_BENCH_BENCH_PLATFORM_H_
