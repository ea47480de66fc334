// The feed's own storage: the hand-over position (how far the hub has processed ingestion's
// WatchReadings), and the definitions administrators make (KPIs, alarm rules, notification
// channels) plus the alarm events the alarm engine records.
//
// With several feed replicas on one database (PostgreSQL), the store is also where they agree:
// a lease names the one replica that evaluates alarm rules, stored alarms are written
// compare-and-set (a version per alarm), and every alarm event is appended to a log with an
// increasing id that every replica reads to put the events on its own streams.
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
#include "absl/time/time.h"
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

// A stored alarm and its version: every write adds one, so a writer that read version N can tell
// whether anybody wrote in between.
struct VersionedAlarm {
  v1::Alarm alarm;
  int64_t version = 0;
};

// One entry of the alarm event log; ids increase in the order the events were committed.
struct StoredAlarmEvent {
  int64_t id = 0;
  v1::AlarmEvent event;
};

class FeedStore {
 public:
  virtual ~FeedStore() = default;

  // The last ingestion position the hub processed; 0 before the first. With several replicas
  // only the alarm lease holder records it (handover.h), so it is how far alarms were evaluated.
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
  // PutAlarm inserts or replaces by id, whatever was stored (no event is logged).
  virtual absl::Status PutAlarm(const v1::Alarm& alarm) = 0;
  virtual absl::StatusOr<v1::Alarm> GetAlarm(const std::string& id) = 0;
  // The alarm with its version. NOT_FOUND when there is none.
  virtual absl::StatusOr<VersionedAlarm> GetVersionedAlarm(const std::string& id) = 0;
  // Writes `alarm` only if its stored version is still `expected_version` (0: only if no such
  // alarm is stored), and in the same transaction appends `event` (when not nullptr) to the
  // event log. ABORTED when another writer came first: read again and decide again.
  virtual absl::Status CompareAndPutAlarm(const v1::Alarm& alarm, int64_t expected_version,
                                          const v1::AlarmEvent* event) = 0;
  // Logged events with ids after `after`, in id order, at most `limit`.
  virtual absl::StatusOr<std::vector<StoredAlarmEvent>> AlarmEventsAfter(int64_t after,
                                                                         int limit) = 0;
  // The id of the last logged event; 0 before the first.
  virtual absl::StatusOr<int64_t> LastAlarmEventId() = 0;

  // Leases: at most one holder per name at a time. Acquires the lease `name` for `holder`, or
  // renews it, until now + ttl: true when `holder` holds it afterwards, false when another
  // holder's lease has not yet expired. One conditional write, so two replicas racing for it
  // cannot both win. Replicas' clocks must agree to well within the ttl.
  virtual absl::StatusOr<bool> AcquireLease(const std::string& name, const std::string& holder,
                                            absl::Time now, absl::Duration ttl) = 0;
  // Ends `holder`'s lease at once (another replica may take it); nothing when it is not held.
  virtual absl::Status ReleaseLease(const std::string& name, const std::string& holder) = 0;
  virtual absl::StatusOr<std::vector<v1::Alarm>> ListAlarms(const PageQuery& page,
                                                            bool active_only) = 0;
};

// The store over the shared storage seam (SQLite or PostgreSQL); runs the migrations.
absl::StatusOr<std::unique_ptr<FeedStore>> OpenSqlFeedStore(
    std::shared_ptr<storage::Database> db);

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_STORE_H_
