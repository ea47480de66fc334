// The feed's own storage: the hand-over position (how far the hub has processed ingestion's
// WatchReadings), and the definitions administrators make (KPIs, alarm rules, notification
// channels) plus the alarm events the alarm engine records.
//
// Every object is stored whole (binary protobuf) with the columns its listings filter and page
// by; pages are ordered by the object's key (KPI name, rule/channel/alarm id).
//
// Thread safety: implementations are thread-safe.
#ifndef SMARTBY_SERVICES_FEED_STORE_H_
#define SMARTBY_SERVICES_FEED_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/runtime/storage/database.h"
#include "smartcity/feed/v1/feed.pb.h"

namespace smartby::feed {

namespace v1 = ::smartcity::feed::v1;

// One page of a listing: items with keys after `after`, at most `limit`.
struct PageQuery {
  std::string dataset;  // empty: every dataset
  std::string after;    // the last key of the previous page; empty: from the start
  int limit = 100;
};

class FeedStore {
 public:
  virtual ~FeedStore() = default;

  // The last ingestion position the hub processed; 0 before the first.
  virtual absl::StatusOr<int64_t> HandoverPosition() = 0;
  // Records `position` unless a higher one is already recorded (positions never go back).
  virtual absl::Status SetHandoverPosition(int64_t position) = 0;

  // ALREADY_EXISTS when a KPI of that name exists.
  virtual absl::Status CreateKpi(const v1::Kpi& kpi) = 0;
  virtual absl::StatusOr<v1::Kpi> GetKpi(const std::string& name) = 0;  // NOT_FOUND
  virtual absl::StatusOr<std::vector<v1::Kpi>> ListKpis(const PageQuery& page) = 0;
  virtual absl::Status DeleteKpi(const std::string& name) = 0;  // NOT_FOUND

  virtual absl::Status CreateAlarmRule(const v1::AlarmRule& rule) = 0;  // ALREADY_EXISTS
  virtual absl::StatusOr<v1::AlarmRule> GetAlarmRule(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<v1::AlarmRule>> ListAlarmRules(const PageQuery& page) = 0;
  virtual absl::Status DeleteAlarmRule(const std::string& id) = 0;

  // Channels. `secret` (the channel's own signing key) is stored apart: GetChannel and
  // ListChannels return channels without it, with has_secret telling whether one is set, and
  // only ChannelSecret reads it (for signing). ALREADY_EXISTS.
  virtual absl::Status CreateChannel(const v1::Channel& channel) = 0;
  virtual absl::StatusOr<v1::Channel> GetChannel(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<v1::Channel>> ListChannels(const PageQuery& page) = 0;
  // The channel's own key; "" when it has none (the service-wide key applies).
  virtual absl::StatusOr<std::string> ChannelSecret(const std::string& id) = 0;

  // Alarm events: the alarm engine writes them (raised, cleared), AcknowledgeAlarm updates them.
  // PutAlarm inserts or replaces by id.
  virtual absl::Status PutAlarm(const v1::Alarm& alarm) = 0;
  virtual absl::StatusOr<v1::Alarm> GetAlarm(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<v1::Alarm>> ListAlarms(const PageQuery& page,
                                                            bool active_only) = 0;
};

// The store over the shared storage seam (SQLite or PostgreSQL); runs the migrations.
absl::StatusOr<std::unique_ptr<FeedStore>> OpenSqlFeedStore(
    std::shared_ptr<storage::Database> db);

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_STORE_H_
