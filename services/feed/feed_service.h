// The gRPC face of the feed (smartcity.feed.v1.FeedService): unary RPCs are one domain call
// (feed.h) through the runtime's CallRunner; Subscribe is a write reactor fed by the hub
// (hub.h): the hub queues events and wakes it, and it writes one message at a time, taking
// whatever is queued (up to 256 events) each time. A client that does not read stalls only its
// own stream.
#ifndef SMARTBY_SERVICES_FEED_FEED_SERVICE_H_
#define SMARTBY_SERVICES_FEED_FEED_SERVICE_H_

#include "services/feed/feed.h"
#include "services/feed/hub.h"
#include "services/feed/kpi_watch.h"
#include "services/runtime/call.h"
#include "smartcity/feed/v1/feed.grpc.pb.h"

namespace smartby::feed {

const ServicePolicy& FeedServicePolicy();

// Subscribe is a raw method (ByteBuffer in and out): the hub encodes each update once and every
// subscriber's message is assembled from those bytes (subscriber_queue.h); the wire format is
// SubscribeRequest / SubscribeResponse as declared in feed.proto.
class FeedService final
    : public v1::FeedService::WithRawCallbackMethod_Subscribe<v1::FeedService::CallbackService> {
 public:
  // `kpis` nullptr: WatchKpi answers UNIMPLEMENTED after checking the KPI and the caller.
  FeedService(Feed* feed, Hub* hub, CallRunner calls, KpiWatchers* kpis = nullptr);

  using Ctx = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(Ctx*, const grpc::ByteBuffer*) override;
  Reactor* GetAggregates(Ctx*, const v1::GetAggregatesRequest*,
                         v1::GetAggregatesResponse*) override;
  Reactor* GetHistory(Ctx*, const v1::GetHistoryRequest*, v1::GetHistoryResponse*) override;
  Reactor* CreateKpi(Ctx*, const v1::CreateKpiRequest*, v1::Kpi*) override;
  Reactor* ListKpis(Ctx*, const v1::ListKpisRequest*, v1::ListKpisResponse*) override;
  Reactor* GetKpi(Ctx*, const v1::GetKpiRequest*, v1::Kpi*) override;
  Reactor* DeleteKpi(Ctx*, const v1::DeleteKpiRequest*, v1::DeleteKpiResponse*) override;
  grpc::ServerWriteReactor<v1::KpiValue>* WatchKpi(Ctx*, const v1::WatchKpiRequest*) override;
  Reactor* CreateAlarmRule(Ctx*, const v1::CreateAlarmRuleRequest*, v1::AlarmRule*) override;
  Reactor* ListAlarmRules(Ctx*, const v1::ListAlarmRulesRequest*,
                          v1::ListAlarmRulesResponse*) override;
  Reactor* DeleteAlarmRule(Ctx*, const v1::DeleteAlarmRuleRequest*,
                           v1::DeleteAlarmRuleResponse*) override;
  Reactor* ListAlarms(Ctx*, const v1::ListAlarmsRequest*, v1::ListAlarmsResponse*) override;
  Reactor* AcknowledgeAlarm(Ctx*, const v1::AcknowledgeAlarmRequest*, v1::Alarm*) override;
  Reactor* CreateChannel(Ctx*, const v1::CreateChannelRequest*, v1::Channel*) override;
  Reactor* ListChannels(Ctx*, const v1::ListChannelsRequest*,
                        v1::ListChannelsResponse*) override;
  Reactor* TestChannel(Ctx*, const v1::TestChannelRequest*, v1::TestChannelResponse*) override;

  CallRunner& calls() { return calls_; }
  Hub* hub() { return hub_; }
  KpiWatchers* kpis() { return kpis_; }

 private:
  Feed* feed_;
  Hub* hub_;
  KpiWatchers* kpis_;
  CallRunner calls_;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_FEED_SERVICE_H_
