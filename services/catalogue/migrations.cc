// The catalogue's schema. A dataset is stored whole (`doc`, the serialized Dataset in base64) plus
// the columns that filters, facets and full-text search need; those columns are derived from the
// dataset on every write by sql_store.cc and never edited on their own.
//
// The database's full-text indexes (FTS5 on SQLite, tsvector on PostgreSQL) back the store's
// Search, which the catalogue no longer serves from: it searches its in-memory index
// (search_index.h), which folds and ranks as FTS5 does on both engines. They stay as the
// reference that index is tested against. Their rules: SQLite's FTS5 `unicode61
// remove_diacritics 2` folds case and removes diacritics from letters that decompose to an ASCII
// letter plus marks ("alesund" finds "Ålesund", "e" finds "é", "a" finds "ä"), but ø, æ and ß
// stay letters of their own ("sjovann" does NOT find "Sjøvann"); PostgreSQL's 'simple'
// configuration only lower-cases (no diacritics removed, no stemming, no stop words).
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

// Search counts facets over every match by joining the full-text hits to their datasets. The
// dataset rows are wide (the stored document), so reading them for thousands of hits is what a
// broad query spends its time on; this index holds just the filter and facet columns.
constexpr char kSqliteV2[] = R"sql(
CREATE INDEX datasets_facets
  ON datasets (id, owner_organization, classification, state, themes, formats);
)sql";

// The same problem on PostgreSQL: the tsvector lived in the wide dataset rows, so a broad query
// visited a heap page per hit. Search now reads a narrow table holding only what matching,
// ranking, filters and facets need, kept in step with `datasets` by a trigger (so it cannot
// drift, whichever code writes). Its GIN index has fastupdate off: without it, entries written
// since the last vacuum sit in an unindexed pending list that every search scans.
constexpr char kPostgresV2[] = R"sql(
CREATE TABLE dataset_search (
  name TEXT COLLATE "C" PRIMARY KEY REFERENCES datasets (name) ON DELETE CASCADE,
  owner_organization TEXT COLLATE "C" NOT NULL,
  classification INTEGER NOT NULL,
  state INTEGER NOT NULL,
  themes TEXT NOT NULL,
  formats TEXT NOT NULL,
  search tsvector NOT NULL
);

CREATE FUNCTION dataset_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO dataset_search
      (name, owner_organization, classification, state, themes, formats, search)
  VALUES (NEW.name, NEW.owner_organization, NEW.classification, NEW.state, NEW.themes,
          NEW.formats,
          setweight(to_tsvector('simple', NEW.title), 'A') ||
          setweight(to_tsvector('simple', NEW.keywords), 'B') ||
          setweight(to_tsvector('simple', NEW.description), 'C') ||
          setweight(to_tsvector('simple', NEW.field_text), 'D'))
  ON CONFLICT (name) DO UPDATE SET
      owner_organization = EXCLUDED.owner_organization,
      classification = EXCLUDED.classification,
      state = EXCLUDED.state,
      themes = EXCLUDED.themes,
      formats = EXCLUDED.formats,
      search = EXCLUDED.search;
  RETURN NULL;
END
$$;

CREATE TRIGGER datasets_search_sync AFTER INSERT OR UPDATE ON datasets
  FOR EACH ROW EXECUTE FUNCTION dataset_search_sync();

INSERT INTO dataset_search
    (name, owner_organization, classification, state, themes, formats, search)
  SELECT name, owner_organization, classification, state, themes, formats, search FROM datasets;

CREATE INDEX dataset_search_words ON dataset_search USING GIN (search) WITH (fastupdate = off);
DROP INDEX datasets_search;
ALTER TABLE datasets DROP COLUMN search;
)sql";

// A counter every write transaction bumps, so that a replica's search-index refresher can tell
// in one tiny query that nothing changed and skip reading every dataset's version.
constexpr char kV3[] = R"sql(
CREATE TABLE catalogue_generation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  value BIGINT NOT NULL
);
INSERT INTO catalogue_generation (id, value) VALUES (1, 0);
)sql";

const std::vector<storage::Migration>& CatalogueMigrations() {
  // Append new versions; never edit one that has shipped.
  static const auto* const kMigrations = new std::vector<storage::Migration>{
      {1, "datasets, full-text index and history", kSqliteV1, kPostgresV1},
      {2, "covering index for search facets", kSqliteV2, kPostgresV2},
      {3, "write generation for the search-index refresher", kV3, kV3},
  };
  return *kMigrations;
}

}  // namespace smartby::catalogue
