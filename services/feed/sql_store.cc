// FeedStore over the shared storage seam, one implementation for SQLite and PostgreSQL.
//
// Schema (migration 1):
//   handover  one row: the last ingestion position the hub processed.
//   objects   KPIs, alarm rules, channels and alarms, one row each: `kind` ("kpi", "rule",
//             "channel", "alarm"), its key, the dataset it is about (listings filter by it),
//             whether it is active (alarms: RAISED), and the object itself (binary protobuf in
//             base64, so the text column is safe on PostgreSQL). Keys sort bytewise on both
//             engines (COLLATE "C" on PostgreSQL), so pages are the same everywhere.
// Migration 2: the notification outbox (notifier.h).
// Migration 3:
//   channel_secrets  a channel's own signing key, apart from the channel's row so that no
//             listing or decoded channel can carry it: only ChannelSecret reads it. The key is
//             base64 (any bytes are safe in a text column on both engines).
// Migration 4 (several replicas, alarm_observer.h):
//   objects.version  added one by every write, so alarm writes can be compare-and-set.
//   feed_leases      name, holder, expires_us (Unix µs): who holds a lease until when.
//   alarm_events     the alarm event log: id, alarm id, the streamed AlarmEvent (base64).
//   alarm_event_counter  one row, the last event id. Ids are taken by updating this row inside
//             the writing transaction, so a second writer waits for the first to commit: ids are
//             committed in increasing order and a reader polling "after id N" never skips one
//             (a sequence would hand out ids in begin order, which commits may not follow).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/feed/notifier.h"
#include "services/feed/store.h"
#include "services/runtime/status.h"

namespace smartby::feed {
namespace {

using storage::Row;
using storage::Rows;
using storage::Transaction;
using storage::TransactionMode;

const std::vector<storage::Migration>& Migrations() {
  static const auto* migrations = new std::vector<storage::Migration>{
      {1, "feed objects and hand-over position",
       R"sql(
CREATE TABLE handover (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  position INTEGER NOT NULL
);
INSERT INTO handover (id, position) VALUES (1, 0);
CREATE TABLE objects (
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  dataset TEXT NOT NULL,
  active INTEGER NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY (kind, id)
);
CREATE INDEX objects_dataset ON objects (kind, dataset, id);
)sql",
       R"sql(
CREATE TABLE handover (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  position BIGINT NOT NULL
);
INSERT INTO handover (id, position) VALUES (1, 0);
CREATE TABLE objects (
  kind TEXT COLLATE "C" NOT NULL,
  id TEXT COLLATE "C" NOT NULL,
  dataset TEXT COLLATE "C" NOT NULL,
  active INTEGER NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY (kind, id)
);
CREATE INDEX objects_dataset ON objects (kind, dataset, id);
)sql"},
      // The notification outbox (notifier.h): deliveries and their attempts.
      NotificationOutboxMigration(2),
      {3, "feed channel secrets",
       R"sql(
CREATE TABLE channel_secrets (
  channel_id TEXT PRIMARY KEY,
  secret TEXT NOT NULL
);
)sql",
       R"sql(
CREATE TABLE channel_secrets (
  channel_id TEXT COLLATE "C" PRIMARY KEY,
  secret TEXT NOT NULL
);
)sql"},
      {4, "feed alarm leases, versions and event log",
       R"sql(
ALTER TABLE objects ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE TABLE feed_leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_us INTEGER NOT NULL
);
CREATE TABLE alarm_events (
  id INTEGER PRIMARY KEY,
  alarm_id TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE TABLE alarm_event_counter (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last INTEGER NOT NULL
);
INSERT INTO alarm_event_counter (id, last) VALUES (1, 0);
)sql",
       R"sql(
ALTER TABLE objects ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE TABLE feed_leases (
  name TEXT COLLATE "C" PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_us BIGINT NOT NULL
);
CREATE TABLE alarm_events (
  id BIGINT PRIMARY KEY,
  alarm_id TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE TABLE alarm_event_counter (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last BIGINT NOT NULL
);
INSERT INTO alarm_event_counter (id, last) VALUES (1, 0);
)sql"},
  };
  return *migrations;
}

std::string Encode(const google::protobuf::Message& message) {
  return absl::Base64Escape(message.SerializeAsString());
}

template <typename T>
absl::StatusOr<T> Decode(const std::string& encoded, const std::string& kind,
                         const std::string& id) {
  std::string bytes;
  T message;
  if (!absl::Base64Unescape(encoded, &bytes) || !message.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("stored ", kind, " ", id, " cannot be decoded"));
  }
  return message;
}

class SqlFeedStore final : public FeedStore {
 public:
  explicit SqlFeedStore(std::shared_ptr<storage::Database> db) : db_(std::move(db)) {}

  absl::StatusOr<int64_t> HandoverPosition() override {
    int64_t position = 0;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT position FROM handover WHERE id = 1"));
          if (!rows.empty()) position = rows[0].Int(0);
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return position;
  }

  absl::Status SetHandoverPosition(int64_t position) override {
    return db_->InTransaction([&](Transaction& tx) -> absl::Status {
      return tx
          .Execute("UPDATE handover SET position = $1 WHERE id = 1 AND position < $1",
                   {position})
          .status();
    });
  }

  absl::Status CreateKpi(const v1::Kpi& kpi) override {
    return Insert("kpi", kpi.name(), kpi.dataset(), false, kpi);
  }
  absl::StatusOr<v1::Kpi> GetKpi(const std::string& name) override {
    return Get<v1::Kpi>("kpi", name);
  }
  absl::StatusOr<std::vector<v1::Kpi>> ListKpis(const PageQuery& page) override {
    return List<v1::Kpi>("kpi", page, false);
  }
  absl::Status DeleteKpi(const std::string& name) override { return Delete("kpi", name); }

  absl::Status CreateAlarmRule(const v1::AlarmRule& rule) override {
    return Insert("rule", rule.id(), rule.dataset(), false, rule);
  }
  absl::StatusOr<v1::AlarmRule> GetAlarmRule(const std::string& id) override {
    return Get<v1::AlarmRule>("rule", id);
  }
  absl::StatusOr<std::vector<v1::AlarmRule>> ListAlarmRules(const PageQuery& page) override {
    return List<v1::AlarmRule>("rule", page, false);
  }
  absl::Status DeleteAlarmRule(const std::string& id) override { return Delete("rule", id); }

  absl::Status CreateChannel(const v1::Channel& channel) override {
    v1::Channel stored = channel;
    stored.clear_secret();
    stored.set_has_secret(!channel.secret().empty());
    return db_->InTransaction([&](Transaction& tx) -> absl::Status {
      RETURN_IF_ERROR(InsertIn(tx, "channel", stored.id(), "", false, stored));
      if (channel.secret().empty()) return absl::OkStatus();
      return tx
          .Execute("INSERT INTO channel_secrets (channel_id, secret) VALUES ($1, $2)",
                   {channel.id(), absl::Base64Escape(channel.secret())})
          .status();
    });
  }
  absl::StatusOr<std::string> ChannelSecret(const std::string& id) override {
    std::string encoded;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows,
                           tx.Query("SELECT secret FROM channel_secrets WHERE channel_id = $1",
                                    {id}));
          if (!rows.empty()) encoded = rows[0].String(0);
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    std::string secret;
    if (!absl::Base64Unescape(encoded, &secret)) {
      return absl::DataLossError(
          absl::StrCat("stored secret of channel ", id, " cannot be decoded"));
    }
    return secret;
  }
  absl::StatusOr<v1::Channel> GetChannel(const std::string& id) override {
    return Get<v1::Channel>("channel", id);
  }
  absl::StatusOr<std::vector<v1::Channel>> ListChannels(const PageQuery& page) override {
    return List<v1::Channel>("channel", page, false);
  }

  absl::Status PutAlarm(const v1::Alarm& alarm) override {
    return db_->InTransaction([&](Transaction& tx) -> absl::Status {
      return tx
          .Execute(
              "INSERT INTO objects (kind, id, dataset, active, doc) VALUES ('alarm', $1, $2, $3, "
              "$4) ON CONFLICT (kind, id) DO UPDATE SET dataset = excluded.dataset, "
              "active = excluded.active, doc = excluded.doc, version = objects.version + 1",
              {alarm.id(), alarm.dataset(),
               int64_t{alarm.state() == v1::ALARM_STATE_RAISED ? 1 : 0}, Encode(alarm)})
          .status();
    });
  }
  absl::StatusOr<v1::Alarm> GetAlarm(const std::string& id) override {
    return Get<v1::Alarm>("alarm", id);
  }
  absl::StatusOr<std::vector<v1::Alarm>> ListAlarms(const PageQuery& page,
                                                    bool active_only) override {
    return List<v1::Alarm>("alarm", page, active_only);
  }

  absl::StatusOr<VersionedAlarm> GetVersionedAlarm(const std::string& id) override {
    Rows rows;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(rows, tx.Query("SELECT doc, version FROM objects WHERE kind = "
                                          "'alarm' AND id = $1",
                                          {id}));
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("alarm \"", id, "\" does not exist"));
    VersionedAlarm out;
    ASSIGN_OR_RETURN(out.alarm, Decode<v1::Alarm>(rows[0].String(0), "alarm", id));
    out.version = rows[0].Int(1);
    return out;
  }

  absl::Status CompareAndPutAlarm(const v1::Alarm& alarm, int64_t expected_version,
                                  const v1::AlarmEvent* event) override {
    const int64_t active = alarm.state() == v1::ALARM_STATE_RAISED ? 1 : 0;
    return db_->InTransaction([&](Transaction& tx) -> absl::Status {
      int64_t written = 0;
      if (expected_version == 0) {
        ASSIGN_OR_RETURN(written,
                         tx.Execute("INSERT INTO objects (kind, id, dataset, active, doc) VALUES "
                                    "('alarm', $1, $2, $3, $4) ON CONFLICT (kind, id) DO NOTHING",
                                    {alarm.id(), alarm.dataset(), active, Encode(alarm)}));
      } else {
        ASSIGN_OR_RETURN(written,
                         tx.Execute("UPDATE objects SET dataset = $2, active = $3, doc = $4, "
                                    "version = version + 1 WHERE kind = 'alarm' AND id = $1 AND "
                                    "version = $5",
                                    {alarm.id(), alarm.dataset(), active, Encode(alarm),
                                     expected_version}));
      }
      if (written == 0) {
        return absl::AbortedError(absl::StrCat(
            "alarm ", alarm.id(), " was changed by another writer at the same time; try again"));
      }
      if (event == nullptr) return absl::OkStatus();
      RETURN_IF_ERROR(
          tx.Execute("UPDATE alarm_event_counter SET last = last + 1 WHERE id = 1").status());
      ASSIGN_OR_RETURN(Rows last, tx.Query("SELECT last FROM alarm_event_counter WHERE id = 1"));
      if (last.empty()) return absl::InternalError("alarm_event_counter has no row");
      return tx
          .Execute("INSERT INTO alarm_events (id, alarm_id, doc) VALUES ($1, $2, $3)",
                   {last[0].Int(0), alarm.id(), Encode(*event)})
          .status();
    });
  }

  absl::StatusOr<std::vector<StoredAlarmEvent>> AlarmEventsAfter(int64_t after,
                                                                 int limit) override {
    Rows rows;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(rows, tx.Query("SELECT id, doc FROM alarm_events WHERE id > $1 "
                                          "ORDER BY id LIMIT $2",
                                          {after, int64_t{limit}}));
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    std::vector<StoredAlarmEvent> out;
    out.reserve(rows.size());
    for (const Row& row : rows) {
      StoredAlarmEvent stored;
      stored.id = row.Int(0);
      ASSIGN_OR_RETURN(stored.event, Decode<v1::AlarmEvent>(row.String(1), "alarm event",
                                                            std::to_string(stored.id)));
      out.push_back(std::move(stored));
    }
    return out;
  }

  absl::StatusOr<int64_t> LastAlarmEventId() override {
    int64_t last = 0;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows,
                           tx.Query("SELECT last FROM alarm_event_counter WHERE id = 1"));
          if (!rows.empty()) last = rows[0].Int(0);
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    return last;
  }

  absl::StatusOr<bool> AcquireLease(const std::string& name, const std::string& holder,
                                    absl::Time now, absl::Duration ttl) override {
    const int64_t now_us = absl::ToUnixMicros(now);
    const int64_t expires_us = absl::ToUnixMicros(now + ttl);
    int64_t written = 0;
    RETURN_IF_ERROR(db_->InTransaction([&](Transaction& tx) -> absl::Status {
      // Taken when free, expired, or already ours; otherwise the row is left alone (0 rows).
      ASSIGN_OR_RETURN(
          written,
          tx.Execute("INSERT INTO feed_leases (name, holder, expires_us) VALUES ($1, $2, $3) "
                     "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                     "expires_us = excluded.expires_us WHERE feed_leases.holder = "
                     "excluded.holder OR feed_leases.expires_us < $4",
                     {name, holder, expires_us, now_us}));
      return absl::OkStatus();
    }));
    return written > 0;
  }

  absl::Status ReleaseLease(const std::string& name, const std::string& holder) override {
    return db_->InTransaction([&](Transaction& tx) -> absl::Status {
      return tx
          .Execute("UPDATE feed_leases SET expires_us = 0 WHERE name = $1 AND holder = $2",
                   {name, holder})
          .status();
    });
  }

 private:
  absl::Status Insert(const std::string& kind, const std::string& id, const std::string& dataset,
                      bool active, const google::protobuf::Message& doc) {
    return db_->InTransaction([&](Transaction& tx) -> absl::Status {
      return InsertIn(tx, kind, id, dataset, active, doc);
    });
  }

  static absl::Status InsertIn(Transaction& tx, const std::string& kind, const std::string& id,
                               const std::string& dataset, bool active,
                               const google::protobuf::Message& doc) {
    ASSIGN_OR_RETURN(int64_t inserted,
                     tx.Execute("INSERT INTO objects (kind, id, dataset, active, doc) VALUES "
                                "($1, $2, $3, $4, $5) ON CONFLICT (kind, id) DO NOTHING",
                                {kind, id, dataset, int64_t{active ? 1 : 0}, Encode(doc)}));
    if (inserted == 0) {
      return absl::AlreadyExistsError(absl::StrCat(kind, " \"", id, "\" already exists"));
    }
    return absl::OkStatus();
  }

  template <typename T>
  absl::StatusOr<T> Get(const std::string& kind, const std::string& id) {
    std::string doc;
    bool found = false;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(Rows rows,
                           tx.Query("SELECT doc FROM objects WHERE kind = $1 AND id = $2",
                                    {kind, id}));
          if (!rows.empty()) {
            found = true;
            doc = rows[0].String(0);
          }
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    if (!found) return absl::NotFoundError(absl::StrCat(kind, " \"", id, "\" does not exist"));
    return Decode<T>(doc, kind, id);
  }

  template <typename T>
  absl::StatusOr<std::vector<T>> List(const std::string& kind, const PageQuery& page,
                                      bool active_only) {
    Rows rows;
    RETURN_IF_ERROR(db_->InTransaction(
        [&](Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(
              rows, tx.Query("SELECT id, doc FROM objects WHERE kind = $1 AND ($2 = '' OR "
                             "dataset = $2) AND id > $3 AND ($4 = 0 OR active = 1) "
                             "ORDER BY id LIMIT $5",
                             {kind, page.dataset, page.after, int64_t{active_only ? 1 : 0},
                              int64_t{page.limit}}));
          return absl::OkStatus();
        },
        TransactionMode::kSingleRead));
    std::vector<T> out;
    out.reserve(rows.size());
    for (const Row& row : rows) {
      ASSIGN_OR_RETURN(T item, Decode<T>(row.String(1), kind, row.String(0)));
      out.push_back(std::move(item));
    }
    return out;
  }

  absl::Status Delete(const std::string& kind, const std::string& id) {
    return db_->InTransaction([&](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(int64_t deleted,
                       tx.Execute("DELETE FROM objects WHERE kind = $1 AND id = $2", {kind, id}));
      if (deleted == 0) {
        return absl::NotFoundError(absl::StrCat(kind, " \"", id, "\" does not exist"));
      }
      return absl::OkStatus();
    });
  }

  std::shared_ptr<storage::Database> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FeedStore>> OpenSqlFeedStore(
    std::shared_ptr<storage::Database> db) {
  RETURN_IF_ERROR(db->Migrate(Migrations()));
  return std::make_unique<SqlFeedStore>(std::move(db));
}

}  // namespace smartby::feed
