// The gRPC face of ingestion (smartcity.ingestion.v1.IngestionService): each RPC is one domain
// call (ingestion.h) through the runtime's CallRunner, which authenticates, checks access and
// audits. The three streams are reactors that run their domain work on the worker pool, one
// message at a time:
//   StreamReadings  read a batch -> commit it -> answer it -> read the next; so every answered
//                   reading is durable, and a slow client slows only itself.
//   ImportFile      options, then chunks fed to the streaming file reader; progress messages
//                   about twice a second; the summary last.
//   WatchReadings   stored readings from the caller's position, then new ones as they are
//                   committed (woken by this process's commits, and polled every
//                   --watch_poll_interval for other replicas').
#ifndef SMARTBY_SERVICES_INGESTION_INGESTION_SERVICE_H_
#define SMARTBY_SERVICES_INGESTION_INGESTION_SERVICE_H_

#include <atomic>
#include <memory>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/ingestion/ingestion.h"
#include "services/runtime/call.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::ingestion {

const ServicePolicy& IngestionServicePolicy();

class WatchReactor;

class IngestionService final : public v1::IngestionService::CallbackService {
 public:
  IngestionService(Ingestion* ingestion, CallRunner calls,
                   absl::Duration watch_poll_interval = absl::Seconds(1));
  ~IngestionService() override;

  using Ctx = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  Reactor* RegisterSource(Ctx*, const v1::RegisterSourceRequest*, v1::Source*) override;
  Reactor* GetSource(Ctx*, const v1::GetSourceRequest*, v1::Source*) override;
  Reactor* ListSources(Ctx*, const v1::ListSourcesRequest*, v1::ListSourcesResponse*) override;
  Reactor* UpdateSource(Ctx*, const v1::UpdateSourceRequest*, v1::Source*) override;
  Reactor* DisableSource(Ctx*, const v1::DisableSourceRequest*, v1::Source*) override;
  Reactor* WriteReadings(Ctx*, const v1::WriteReadingsRequest*,
                         v1::WriteReadingsResponse*) override;
  grpc::ServerBidiReactor<v1::WriteReadingsRequest, v1::WriteReadingsResponse>* StreamReadings(
      Ctx*) override;
  grpc::ServerBidiReactor<v1::ImportFileRequest, v1::ImportFileResponse>* ImportFile(
      Ctx*) override;
  Reactor* QueryReadings(Ctx*, const v1::QueryReadingsRequest*,
                         v1::QueryReadingsResponse*) override;
  Reactor* AggregateReadings(Ctx*, const v1::AggregateReadingsRequest*,
                             v1::AggregateReadingsResponse*) override;
  Reactor* GetLatestReadings(Ctx*, const v1::GetLatestReadingsRequest*,
                             v1::GetLatestReadingsResponse*) override;
  Reactor* GetDataQuality(Ctx*, const v1::GetDataQualityRequest*,
                          v1::GetDataQualityResponse*) override;
  grpc::ServerWriteReactor<v1::WatchReadingsResponse>* WatchReadings(
      Ctx*, const v1::WatchReadingsRequest*) override;
  Reactor* SetRetention(Ctx*, const v1::SetRetentionRequest*, v1::RetentionPolicy*) override;
  Reactor* GetRetention(Ctx*, const v1::GetRetentionRequest*, v1::RetentionPolicy*) override;

  CallRunner& calls() { return calls_; }
  Ingestion* ingestion() { return ingestion_; }

 private:
  friend class WatchReactor;
  void Register(WatchReactor* watch);
  void Unregister(WatchReactor* watch);
  void PollLoop();

  Ingestion* ingestion_;
  CallRunner calls_;
  const absl::Duration poll_interval_;
  absl::Mutex mu_;
  std::set<WatchReactor*> watches_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread poller_;
};

}  // namespace smartby::ingestion

#endif  // SMARTBY_SERVICES_INGESTION_INGESTION_SERVICE_H_
