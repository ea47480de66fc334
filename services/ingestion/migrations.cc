// The ingestion store's schema (sql_store.cc holds every statement that uses it).
//
// sources    One row per source: its id and dataset as columns, the Source itself in `doc`
//            (binary protobuf in base64, as the catalogue stores datasets, so the text column is
//            safe on PostgreSQL), and a small integer `key` that readings refer to.
// datasets   Dataset name -> small integer key, so that every reading can carry its dataset in
//            4 bytes instead of the name.
// readings   The time series. Unique on (source, time_us): that index is the deduplication and
//            serves every (source, time) range scan. `position` is the feed's order (see below);
//            (dataset, position) serves ReadAfter filtered by dataset.
// reading_positions
//            One row: the highest position committed. Written in every append transaction, so it
//            survives retention deleting the newest rows, and LastPosition is one row read.
// source_counters, retention
//            Per-source data-quality counters; per-dataset retention (no row: kept for ever).
//            source_counters.rollup_until_us (v2) is the source's rollup watermark, see below.
// reading_rollups (v2)
//            A continuous aggregate of readings: per source, per numeric field (integer or
//            double), per 5-minute bucket aligned to the Unix epoch (store.h kRollupBucketUs) that
//            has readings of that field: count, sum, min and max with the time each was measured
//            (the first, on a tie), and the last value and its time. Long-range aggregates read
//            these instead of every reading (30 days are 8,640 buckets instead of 86,400+
//            readings). Keyed (source, bucket_us, field): a refresh replaces a range of a source's
//            buckets and retention deletes those before a time, both range scans of that key; a
//            read of one field over a range scans the other numeric fields' rows of the same
//            buckets too, which costs little (datasets have few numeric fields). Keyed by field
//            second, every refresh and every retention pass would scan all of a source's rollups.
//
// The rollup watermark. Rollups are exact for every bucket of a source that ends at or before
// its rollup_until_us (INT64_MIN, the default: none are). Every append lowers it, in the per-
// source counters upsert it already runs, to the start of the bucket of the earliest reading it
// stored for that source; a refresh recomputes [watermark, now rounded down to a bucket) from
// the readings and raises it, in one transaction (sql_store.cc RefreshRollups says why no append
// can slip between). Retention deletes the rollups of the buckets it emptied.
//
// Positions. The store's contract is that positions are strictly increasing in commit order and
// never reused. On both engines the append transaction numbers its rows itself, from
// reading_positions.last, while it is the only appender: on SQLite because there is one writer
// at a time (BEGIN IMMEDIATE); on PostgreSQL because every append holds one advisory lock until
// it has committed (sql_store.cc, AppendPostgres, explains why that is needed there). A position
// is therefore never skipped by a reader and never reused: last only grows, also when retention
// deletes the newest rows. Measured alternatives were slower: SQLite AUTOINCREMENT rewrites
// sqlite_sequence after every INSERT statement, and a PostgreSQL identity column forced
// INSERT ... ON CONFLICT ... RETURNING with a sequence call per row.
//
// Readings carry no foreign keys: sources are never deleted, the append transaction resolves every
// source id itself, and a foreign-key check per row would cost a lookup per reading.
#include "services/ingestion/migrations.h"

#include <vector>

namespace smartby::ingestion {
namespace {

constexpr char kSqliteV1[] = R"sql(
CREATE TABLE datasets (
  key INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE sources (
  key INTEGER PRIMARY KEY,          -- the rowid; sources are never deleted, so never reused
  id TEXT NOT NULL UNIQUE,
  dataset TEXT NOT NULL,
  dataset_key INTEGER NOT NULL REFERENCES datasets (key),
  disabled INTEGER NOT NULL,
  version INTEGER NOT NULL,
  doc TEXT NOT NULL                 -- the Source, binary protobuf in base64
);
CREATE INDEX sources_dataset ON sources (dataset, id);

CREATE TABLE readings (
  position INTEGER PRIMARY KEY,     -- numbered by the store from reading_positions
  source INTEGER NOT NULL,          -- sources.key
  dataset INTEGER NOT NULL,         -- datasets.key (the source's)
  time_us INTEGER NOT NULL,
  accept_us INTEGER NOT NULL,
  payload TEXT NOT NULL,            -- the encoded values
  UNIQUE (source, time_us)
);
CREATE INDEX readings_dataset ON readings (dataset, position);

CREATE TABLE reading_positions (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last INTEGER NOT NULL
);
INSERT INTO reading_positions (id, last) VALUES (1, 0);

CREATE TABLE source_counters (
  source INTEGER PRIMARY KEY,       -- sources.key
  accepted INTEGER NOT NULL,
  duplicates INTEGER NOT NULL,
  rejected INTEGER NOT NULL,
  late INTEGER NOT NULL
);

CREATE TABLE retention (
  dataset TEXT PRIMARY KEY,
  keep_us INTEGER NOT NULL
);
)sql";

// COLLATE "C" on every text key: byte order, as SQLite compares, so paging by id behaves the same
// on both engines.
constexpr char kPostgresV1[] = R"sql(
CREATE TABLE datasets (
  key INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE
);

CREATE TABLE sources (
  id TEXT COLLATE "C" PRIMARY KEY,
  key INTEGER GENERATED ALWAYS AS IDENTITY UNIQUE,
  dataset TEXT COLLATE "C" NOT NULL,
  dataset_key INTEGER NOT NULL REFERENCES datasets (key),
  disabled BOOLEAN NOT NULL,
  version BIGINT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX sources_dataset ON sources (dataset, id);

-- Columns ordered widest first, so the row has no alignment padding.
CREATE TABLE readings (
  position BIGINT PRIMARY KEY,      -- numbered by the store from reading_positions
  time_us BIGINT NOT NULL,
  accept_us BIGINT NOT NULL,
  source INTEGER NOT NULL,
  dataset INTEGER NOT NULL,
  payload TEXT NOT NULL,
  UNIQUE (source, time_us)
);
CREATE INDEX readings_dataset ON readings (dataset, position);

CREATE TABLE reading_positions (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last BIGINT NOT NULL
);
INSERT INTO reading_positions (id, last) VALUES (1, 0);

CREATE TABLE source_counters (
  source INTEGER PRIMARY KEY,
  accepted BIGINT NOT NULL,
  duplicates BIGINT NOT NULL,
  rejected BIGINT NOT NULL,
  late BIGINT NOT NULL
);

CREATE TABLE retention (
  dataset TEXT COLLATE "C" PRIMARY KEY,
  keep_us BIGINT NOT NULL
);
)sql";

// v2: rollups (see the header comment). The watermark lives on source_counters because every
// append already upserts that row per source: lowering it costs a column, not a statement. Every
// existing source gets a counters row (watermark INT64_MIN), so that "no counters row" means "no
// readings" from here on (sql_store.cc AddCountersIn relies on it).
constexpr char kSqliteV2[] = R"sql(
ALTER TABLE source_counters ADD COLUMN rollup_until_us INTEGER NOT NULL
  DEFAULT -9223372036854775808;

CREATE TABLE reading_rollups (
  source INTEGER NOT NULL,          -- sources.key
  field TEXT NOT NULL,
  bucket_us INTEGER NOT NULL,       -- the bucket's start, a multiple of 300,000,000
  count INTEGER NOT NULL,
  sum REAL NOT NULL,
  min REAL NOT NULL,
  min_time_us INTEGER NOT NULL,
  max REAL NOT NULL,
  max_time_us INTEGER NOT NULL,
  last REAL NOT NULL,
  last_time_us INTEGER NOT NULL,
  PRIMARY KEY (source, bucket_us, field)
) WITHOUT ROWID;

INSERT INTO source_counters (source, accepted, duplicates, rejected, late)
  SELECT key, 0, 0, 0, 0 FROM sources WHERE key NOT IN (SELECT source FROM source_counters);
)sql";

constexpr char kPostgresV2[] = R"sql(
ALTER TABLE source_counters ADD COLUMN rollup_until_us BIGINT NOT NULL
  DEFAULT -9223372036854775808;

CREATE TABLE reading_rollups (
  bucket_us BIGINT NOT NULL,
  count BIGINT NOT NULL,
  sum DOUBLE PRECISION NOT NULL,
  min DOUBLE PRECISION NOT NULL,
  min_time_us BIGINT NOT NULL,
  max DOUBLE PRECISION NOT NULL,
  max_time_us BIGINT NOT NULL,
  last DOUBLE PRECISION NOT NULL,
  last_time_us BIGINT NOT NULL,
  source INTEGER NOT NULL,
  field TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (source, bucket_us, field)
);

INSERT INTO source_counters (source, accepted, duplicates, rejected, late)
  SELECT key, 0, 0, 0, 0 FROM sources WHERE key NOT IN (SELECT source FROM source_counters);
)sql";

}  // namespace

const std::vector<storage::Migration>& IngestionMigrations() {
  // Append new versions; never edit one that has shipped.
  static const auto* const kMigrations = new std::vector<storage::Migration>{
      {1, "sources, readings, counters and retention", kSqliteV1, kPostgresV1},
      {2, "reading rollups and their watermark", kSqliteV2, kPostgresV2},
  };
  return *kMigrations;
}

}  // namespace smartby::ingestion
