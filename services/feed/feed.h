// The feed's rules apart from streaming: validation and storage of KPI, alarm-rule and channel
// definitions, alarm acknowledgement, aggregate queries and history. No gRPC server types.
//
// Evaluation is not here: KPIs (services/feed/kpi.*) and alarm rules (alarms.*) observe the
// hub's readings (hub.h, ReadingObserver) and read their definitions from the store; the
// notifier (notifier.*) implements ChannelTester; history reduction is a SeriesDownsampler.
#ifndef SMARTBY_SERVICES_FEED_FEED_H_
#define SMARTBY_SERVICES_FEED_FEED_H_

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "services/feed/history.h"
#include "services/feed/hub.h"
#include "services/feed/store.h"
#include "services/ingestion/dataset_directory.h"
#include "services/runtime/auth/caller.h"
#include "services/runtime/clock.h"
#include "services/runtime/service_token.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"

namespace smartby::feed {

// Sends a test notification through a channel (the notifier's job).
class ChannelTester {
 public:
  virtual ~ChannelTester() = default;
  virtual absl::StatusOr<v1::TestChannelResponse> Test(const v1::Channel& channel) = 0;
};

// The alarm evaluation behind the alarm RPCs (alarm_observer.h): rule changes reach the engine
// at once, and acknowledgements go through it so that its state, the stored alarm and the
// notifications agree.
class AlarmRuleHooks {
 public:
  virtual ~AlarmRuleHooks() = default;
  // Checks what the engine needs beyond ValidateAlarmRule (INVALID_ARGUMENT naming the field).
  virtual absl::Status CheckRule(const v1::AlarmRule& rule) = 0;
  // After the rule was stored / deleted.
  virtual absl::Status RuleCreated(const v1::AlarmRule& rule) = 0;
  virtual absl::Status RuleDeleted(const std::string& id) = 0;
  // Acknowledges an alarm (an active one through the engine, with notifications; a cleared one
  // in the store only). Returns the stored alarm. NOT_FOUND when there is no such alarm.
  virtual absl::StatusOr<v1::Alarm> Acknowledge(const std::string& alarm_id,
                                                const std::string& who) = 0;
};

struct FeedDeps {
  FeedStore* store = nullptr;
  Hub* hub = nullptr;
  const Clock* clock = nullptr;
  // For history: ingestion's API with the feed's own token (nullptr: history unavailable).
  std::shared_ptr<grpc::Channel> ingestion;
  std::shared_ptr<TokenProvider> tokens;
  const SeriesDownsampler* downsampler = nullptr;  // nullptr: MinMaxBucketDownsampler
  ChannelTester* channel_tester = nullptr;         // nullptr: TestChannel is UNIMPLEMENTED
  AlarmRuleHooks* alarms = nullptr;                // nullptr: rules are only stored
  // Datasets' schemas, to check a KPI's fields (nullptr: fields are not checked).
  ingestion::DatasetDirectory* datasets = nullptr;
};

class Feed {
 public:
  explicit Feed(FeedDeps deps);

  absl::StatusOr<v1::Kpi> CreateKpi(const auth::Caller& caller, v1::Kpi kpi);
  absl::StatusOr<v1::ListKpisResponse> ListKpis(const auth::Caller& caller,
                                                const v1::ListKpisRequest& request);
  absl::StatusOr<v1::Kpi> GetKpi(const auth::Caller& caller, const std::string& name);
  absl::Status DeleteKpi(const auth::Caller& caller, const std::string& name);

  absl::StatusOr<v1::AlarmRule> CreateAlarmRule(const auth::Caller& caller, v1::AlarmRule rule);
  absl::StatusOr<v1::ListAlarmRulesResponse> ListAlarmRules(
      const auth::Caller& caller, const v1::ListAlarmRulesRequest& request);
  absl::Status DeleteAlarmRule(const auth::Caller& caller, const std::string& id);
  absl::StatusOr<v1::ListAlarmsResponse> ListAlarms(const auth::Caller& caller,
                                                    const v1::ListAlarmsRequest& request);
  absl::StatusOr<v1::Alarm> AcknowledgeAlarm(const auth::Caller& caller, const std::string& id);

  absl::StatusOr<v1::Channel> CreateChannel(const auth::Caller& caller, v1::Channel channel);
  absl::StatusOr<v1::ListChannelsResponse> ListChannels(const auth::Caller& caller,
                                                        const v1::ListChannelsRequest& request);
  absl::StatusOr<v1::TestChannelResponse> TestChannel(const auth::Caller& caller,
                                                      const std::string& id);

  absl::StatusOr<v1::GetAggregatesResponse> GetAggregates(const auth::Caller& caller,
                                                          const v1::GetAggregatesRequest& request);
  absl::StatusOr<v1::GetHistoryResponse> GetHistory(const auth::Caller& caller,
                                                    const v1::GetHistoryRequest& request);

 private:
  absl::Status AuthorizeRead(const auth::Caller& caller, const std::string& dataset);
  std::string NewId(const char* prefix);

  FeedDeps deps_;
  MinMaxBucketDownsampler default_downsampler_;
  std::unique_ptr<HistoryReader> history_;  // nullptr without deps.ingestion
};

// Validation, exposed for tests. Messages name the field and say what is expected.
absl::Status ValidateKpi(const v1::Kpi& kpi);
absl::Status ValidateAlarmRule(const v1::AlarmRule& rule);
absl::Status ValidateChannel(const v1::Channel& channel);

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_FEED_H_
