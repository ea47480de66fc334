#include "services/feed/feed_service.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "services/runtime/status.h"
#include "services/runtime/stream_writer.h"

namespace smartby::feed {

// Who may call what (README.md, "Access").
const ServicePolicy& FeedServicePolicy() {
  using auth::Action;
  static const auto* policy = new ServicePolicy{
      "smartcity.feed.v1.FeedService",
      {
          {"Subscribe", {false, Access::kFiltered, Action::kRead}},
          {"GetAggregates", {false, Access::kResource, Action::kRead}},
          {"GetHistory", {false, Access::kResource, Action::kRead}},
          {"CreateKpi", {true, Access::kAction, Action::kAdminister}},
          {"ListKpis", {false, Access::kFiltered, Action::kRead}},
          {"GetKpi", {false, Access::kResource, Action::kRead}},
          {"DeleteKpi", {true, Access::kAction, Action::kAdminister}},
          {"WatchKpi", {false, Access::kResource, Action::kRead}},
          {"CreateAlarmRule", {true, Access::kAction, Action::kAdminister}},
          {"ListAlarmRules", {false, Access::kAction, Action::kAdminister}},
          {"DeleteAlarmRule", {true, Access::kAction, Action::kAdminister}},
          {"ListAlarms", {false, Access::kFiltered, Action::kRead}},
          {"AcknowledgeAlarm", {true, Access::kResource, Action::kRead}},
          {"CreateChannel", {true, Access::kAction, Action::kAdminister}},
          {"ListChannels", {false, Access::kAction, Action::kAdminister}},
          {"TestChannel", {true, Access::kAction, Action::kAdminister}},
      }};
  return *policy;
}

namespace {

// Subscribe: registered with the hub, which queues events and calls Wake from its own threads
// (push: stream_writer.h); each write takes whatever is queued, up to 256 events. The subscriber
// leaves the hub and detaches its wake callback in BeforeDelete, so the hub never calls into a
// deleted reactor.
class SubscribeReactor final : public ServerStreamWriter<grpc::ByteBuffer> {
 public:
  SubscribeReactor(FeedService* service, grpc::CallbackServerContext* context,
                   const grpc::ByteBuffer& raw_request)
      : ServerStreamWriter(&service->calls(), context, "Subscribe"), service_(service) {
    if (!admitted().ok()) {
      Close(admitted());
      return;
    }
    v1::SubscribeRequest request;
    grpc::ByteBuffer copy(raw_request);  // Deserialize takes it apart; the copy shares slices
    if (!grpc::SerializationTraits<v1::SubscribeRequest>::Deserialize(&copy, &request).ok()) {
      Close(absl::InvalidArgumentError("SubscribeRequest: not a valid message"));
      return;
    }
    if (request.resume_after() < 0) {
      Close(absl::InvalidArgumentError("resume_after: must not be negative"));
      return;
    }
    // Readings are filtered per dataset with caller.Allows (hub.h).
    call().caller.MarkChecked();
    std::shared_ptr<Subscriber> subscriber =
        service_->hub()->Subscribe(request, call().caller, [this] { Wake(); });
    {
      std::lock_guard<std::mutex> lock(mu_);
      subscriber_ = std::move(subscriber);
    }
    Wake();  // the opening events were queued before subscriber_ was set
  }

 private:
  void OnWriteDoneLocked() override { WriteQueuedLocked(); }

  void BeforeDelete() override {
    if (subscriber_ == nullptr) return;
    service_->hub()->Unsubscribe(subscriber_);
    subscriber_->Detach();
  }

  void Close(absl::Status outcome) {
    std::lock_guard<std::mutex> lock(mu_);
    CloseLocked(std::move(outcome));
  }

  void Wake() {
    std::lock_guard<std::mutex> lock(mu_);
    WriteQueuedLocked();
  }

  void WriteQueuedLocked() {
    if (closing() || writing() || subscriber_ == nullptr) return;
    response_.Clear();
    if (subscriber_->Take(256, &response_) == 0) return;
    // The bytes go to gRPC without another copy; it frees them when it is done with the slice.
    auto* bytes = new std::string(response_.Encode());
    grpc::Slice slice(bytes->data(), bytes->size(),
                      [](void* owned) { delete static_cast<std::string*>(owned); }, bytes);
    wire_ = grpc::ByteBuffer(&slice, 1);
    response_.Clear();  // the updates are in wire_ now: give them back to the hub
    WriteLocked(&wire_);
  }

  FeedService* service_;
  std::shared_ptr<Subscriber> subscriber_;  // guarded by mu_ until BeforeDelete
  BorrowedResponse response_;  // what Take gave, until encoded
  grpc::ByteBuffer wire_;       // the message being written
};

// WatchKpi: checks the KPI and the caller's right to read its dataset, then registers a watch
// (kpi_watch.h) whose values are pushed from the watchers' thread and written one at a time; a
// value that arrives while a write is in flight replaces any not yet written (the client wants
// the latest). The watch is removed in BeforeDelete, so the watchers never call into a deleted
// reactor.
class WatchKpiReactor final : public ServerStreamWriter<v1::KpiValue> {
 public:
  WatchKpiReactor(FeedService* service, Feed* feed, grpc::CallbackServerContext* context,
                  const v1::WatchKpiRequest& request)
      : ServerStreamWriter(&service->calls(), context, "WatchKpi"), service_(service) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!admitted().ok()) {
      CloseLocked(admitted());
      return;
    }
    absl::StatusOr<v1::Kpi> kpi = feed->GetKpi(call().caller, request.name());
    if (!kpi.ok()) {
      CloseLocked(kpi.status());
      return;
    }
    if (service->kpis() == nullptr) {
      CloseLocked(absl::UnimplementedError("WatchKpi: KPI evaluation is not configured"));
      return;
    }
    absl::StatusOr<KpiExpression> expression = ParseKpi(kpi->expression());
    if (!expression.ok()) {
      CloseLocked(absl::FailedPreconditionError(absl::StrCat(
          "KPI \"", kpi->name(), "\" has an expression that no longer parses: ",
          expression.status().message())));
      return;
    }
    // The watch may deliver before this returns: OnValue takes mu_, held here until then.
    watch_ = service->kpis()->Add(*std::move(kpi), *std::move(expression),
                                  [this](const v1::KpiValue& value) { OnValue(value); });
  }

 private:
  void OnWriteDoneLocked() override { WritePendingLocked(); }

  void BeforeDelete() override {
    if (watch_ != nullptr) service_->kpis()->Remove(watch_);
  }

  void OnValue(const v1::KpiValue& value) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing()) return;
    pending_ = value;
    has_pending_ = true;
    WritePendingLocked();
  }

  void WritePendingLocked() {
    if (!has_pending_ || writing() || closing()) return;
    current_ = pending_;
    has_pending_ = false;
    WriteLocked(&current_);
  }

  FeedService* service_;
  std::shared_ptr<KpiWatchers::Watch> watch_;
  v1::KpiValue pending_, current_;
  bool has_pending_ = false;
};

}  // namespace

FeedService::FeedService(Feed* feed, Hub* hub, CallRunner calls, KpiWatchers* kpis)
    : feed_(feed), hub_(hub), kpis_(kpis), calls_(std::move(calls)) {}

grpc::ServerWriteReactor<grpc::ByteBuffer>* FeedService::Subscribe(
    Ctx* ctx, const grpc::ByteBuffer* request) {
  return new SubscribeReactor(this, ctx, *request);
}

grpc::ServerWriteReactor<v1::KpiValue>* FeedService::WatchKpi(Ctx* ctx,
                                                              const v1::WatchKpiRequest* request) {
  return new WatchKpiReactor(this, feed_, ctx, *request);
}

#define SMARTBY_ASSIGN_RESPONSE(expr)            \
  [=, this](CallContext& call) -> absl::Status { \
    ASSIGN_OR_RETURN(*response, (expr));         \
    return absl::OkStatus();                     \
  }

FeedService::Reactor* FeedService::GetAggregates(Ctx* ctx, const v1::GetAggregatesRequest* request,
                                                 v1::GetAggregatesResponse* response) {
  return calls_.Unary(ctx, "GetAggregates",
                      SMARTBY_ASSIGN_RESPONSE(feed_->GetAggregates(call.caller, *request)));
}
FeedService::Reactor* FeedService::GetHistory(Ctx* ctx, const v1::GetHistoryRequest* request,
                                              v1::GetHistoryResponse* response) {
  return calls_.Unary(ctx, "GetHistory",
                      SMARTBY_ASSIGN_RESPONSE(feed_->GetHistory(call.caller, *request)));
}
FeedService::Reactor* FeedService::CreateKpi(Ctx* ctx, const v1::CreateKpiRequest* request,
                                             v1::Kpi* response) {
  return calls_.Unary(ctx, "CreateKpi",
                      SMARTBY_ASSIGN_RESPONSE(feed_->CreateKpi(call.caller, request->kpi())));
}
FeedService::Reactor* FeedService::ListKpis(Ctx* ctx, const v1::ListKpisRequest* request,
                                            v1::ListKpisResponse* response) {
  return calls_.Unary(ctx, "ListKpis",
                      SMARTBY_ASSIGN_RESPONSE(feed_->ListKpis(call.caller, *request)));
}
FeedService::Reactor* FeedService::GetKpi(Ctx* ctx, const v1::GetKpiRequest* request,
                                          v1::Kpi* response) {
  return calls_.Unary(ctx, "GetKpi",
                      SMARTBY_ASSIGN_RESPONSE(feed_->GetKpi(call.caller, request->name())));
}
FeedService::Reactor* FeedService::DeleteKpi(Ctx* ctx, const v1::DeleteKpiRequest* request,
                                             v1::DeleteKpiResponse* response) {
  return calls_.Unary(ctx, "DeleteKpi", [=, this](CallContext& call) {
    return feed_->DeleteKpi(call.caller, request->name());
  });
}
FeedService::Reactor* FeedService::CreateAlarmRule(Ctx* ctx,
                                                   const v1::CreateAlarmRuleRequest* request,
                                                   v1::AlarmRule* response) {
  return calls_.Unary(
      ctx, "CreateAlarmRule",
      SMARTBY_ASSIGN_RESPONSE(feed_->CreateAlarmRule(call.caller, request->rule())));
}
FeedService::Reactor* FeedService::ListAlarmRules(Ctx* ctx,
                                                  const v1::ListAlarmRulesRequest* request,
                                                  v1::ListAlarmRulesResponse* response) {
  return calls_.Unary(ctx, "ListAlarmRules",
                      SMARTBY_ASSIGN_RESPONSE(feed_->ListAlarmRules(call.caller, *request)));
}
FeedService::Reactor* FeedService::DeleteAlarmRule(Ctx* ctx,
                                                   const v1::DeleteAlarmRuleRequest* request,
                                                   v1::DeleteAlarmRuleResponse* response) {
  return calls_.Unary(ctx, "DeleteAlarmRule", [=, this](CallContext& call) {
    return feed_->DeleteAlarmRule(call.caller, request->id());
  });
}
FeedService::Reactor* FeedService::ListAlarms(Ctx* ctx, const v1::ListAlarmsRequest* request,
                                              v1::ListAlarmsResponse* response) {
  return calls_.Unary(ctx, "ListAlarms",
                      SMARTBY_ASSIGN_RESPONSE(feed_->ListAlarms(call.caller, *request)));
}
FeedService::Reactor* FeedService::AcknowledgeAlarm(Ctx* ctx,
                                                    const v1::AcknowledgeAlarmRequest* request,
                                                    v1::Alarm* response) {
  return calls_.Unary(
      ctx, "AcknowledgeAlarm",
      SMARTBY_ASSIGN_RESPONSE(feed_->AcknowledgeAlarm(call.caller, request->id())));
}
FeedService::Reactor* FeedService::CreateChannel(Ctx* ctx, const v1::CreateChannelRequest* request,
                                                 v1::Channel* response) {
  return calls_.Unary(
      ctx, "CreateChannel",
      SMARTBY_ASSIGN_RESPONSE(feed_->CreateChannel(call.caller, request->channel())));
}
FeedService::Reactor* FeedService::ListChannels(Ctx* ctx, const v1::ListChannelsRequest* request,
                                                v1::ListChannelsResponse* response) {
  return calls_.Unary(ctx, "ListChannels",
                      SMARTBY_ASSIGN_RESPONSE(feed_->ListChannels(call.caller, *request)));
}
FeedService::Reactor* FeedService::TestChannel(Ctx* ctx, const v1::TestChannelRequest* request,
                                               v1::TestChannelResponse* response) {
  return calls_.Unary(ctx, "TestChannel",
                      SMARTBY_ASSIGN_RESPONSE(feed_->TestChannel(call.caller, request->id())));
}

}  // namespace smartby::feed
