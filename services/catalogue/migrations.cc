// The catalogue's schema. A dataset is stored whole (`doc`, the serialized Dataset in base64) plus
// the columns that filters, facets and full-text search need; those columns are derived from the
// dataset on every write by sql_store.cc and never edited on their own.
//
// Full-text search indexes title, keywords, description and field text with the same tokenizing
// rules on both engines as far as they allow: SQLite's FTS5 `unicode61 remove_diacritics 2` and
// PostgreSQL's 'simple' configuration (lower-casing, no stemming, no stop words). One difference
// stays: SQLite also folds diacritics ("sjovann" finds "Sjøvann"); PostgreSQL does not without
// the unaccent extension, which a managed server may not offer.
#include <vector>

#include "services/catalogue/store.h"

namespace smartby::catalogue {
namespace {

constexpr char kSqliteV1[] = R"sql(
CREATE TABLE datasets (
  -- An explicit INTEGER PRIMARY KEY: the FTS index refers to rows by rowid, and VACUUM may
  -- renumber an implicit rowid.
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  version INTEGER NOT NULL,
  state INTEGER NOT NULL,
  classification INTEGER NOT NULL,
  owner_organization TEXT NOT NULL,
  themes TEXT NOT NULL,    -- theme codes padded with spaces, ' ENVI TRAN ', for LIKE '% ENVI %'
  formats TEXT NOT NULL,   -- resource formats likewise, ' CSV JSON '
  title TEXT NOT NULL,
  description TEXT NOT NULL,
  keywords TEXT NOT NULL,
  field_text TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  doc TEXT NOT NULL        -- the Dataset, binary protobuf in base64
);
CREATE INDEX datasets_owner ON datasets (owner_organization, name);
CREATE INDEX datasets_classification ON datasets (classification, name);
CREATE INDEX datasets_state ON datasets (state, name);

-- External content: the text lives once, in datasets; triggers keep the index in step with every
-- write, whichever code path makes it.
CREATE VIRTUAL TABLE datasets_fts USING fts5(
  title, keywords, description, field_text,
  content = 'datasets', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2',
  -- Short prefixes ("sj*", "bad*") would otherwise merge the doclists of every matching term.
  prefix = '2 3');
CREATE TRIGGER datasets_fts_insert AFTER INSERT ON datasets BEGIN
  INSERT INTO datasets_fts (rowid, title, keywords, description, field_text)
  VALUES (new.id, new.title, new.keywords, new.description, new.field_text);
END;
CREATE TRIGGER datasets_fts_delete AFTER DELETE ON datasets BEGIN
  INSERT INTO datasets_fts (datasets_fts, rowid, title, keywords, description, field_text)
  VALUES ('delete', old.id, old.title, old.keywords, old.description, old.field_text);
END;
CREATE TRIGGER datasets_fts_update AFTER UPDATE OF title, keywords, description, field_text
ON datasets BEGIN
  INSERT INTO datasets_fts (datasets_fts, rowid, title, keywords, description, field_text)
  VALUES ('delete', old.id, old.title, old.keywords, old.description, old.field_text);
  INSERT INTO datasets_fts (rowid, title, keywords, description, field_text)
  VALUES (new.id, new.title, new.keywords, new.description, new.field_text);
END;

CREATE TABLE dataset_history (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  change_time TEXT NOT NULL,     -- RFC 3339, UTC
  changed_by TEXT NOT NULL,
  action TEXT NOT NULL,
  changed_fields TEXT NOT NULL,  -- comma-separated top-level field names
  doc TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
)sql";

constexpr char kPostgresV1[] = R"sql(
CREATE TABLE datasets (
  -- COLLATE "C": byte order, as SQLite sorts, so paging by name behaves the same on both engines.
  name TEXT COLLATE "C" PRIMARY KEY,
  version BIGINT NOT NULL,
  state INTEGER NOT NULL,
  classification INTEGER NOT NULL,
  owner_organization TEXT COLLATE "C" NOT NULL,
  themes TEXT NOT NULL,
  formats TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT NOT NULL,
  keywords TEXT NOT NULL,
  field_text TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  doc TEXT NOT NULL,
  -- Generated, so it cannot drift from the text it indexes.
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A') ||
    setweight(to_tsvector('simple', keywords), 'B') ||
    setweight(to_tsvector('simple', description), 'C') ||
    setweight(to_tsvector('simple', field_text), 'D')) STORED
);
CREATE INDEX datasets_owner ON datasets (owner_organization, name);
CREATE INDEX datasets_classification ON datasets (classification, name);
CREATE INDEX datasets_state ON datasets (state, name);
CREATE INDEX datasets_search ON datasets USING GIN (search);

CREATE TABLE dataset_history (
  name TEXT COLLATE "C" NOT NULL,
  version BIGINT NOT NULL,
  change_time TEXT NOT NULL,
  changed_by TEXT NOT NULL,
  action TEXT NOT NULL,
  changed_fields TEXT NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
)sql";

}  // namespace

const std::vector<storage::Migration>& CatalogueMigrations() {
  // Append new versions; never edit one that has shipped.
  static const auto* const kMigrations = new std::vector<storage::Migration>{
      {1, "datasets, full-text index and history", kSqliteV1, kPostgresV1},
  };
  return *kMigrations;
}

}  // namespace smartby::catalogue
