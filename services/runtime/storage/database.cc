// Engine-independent parts of the storage seam: row conversions, URL dispatch and redaction, and
// the migration driver both engines share.
#include "services/runtime/storage/database.h"
#include "services/runtime/storage/engines.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace smartby::storage {

namespace {

struct CellToInt {
  int64_t operator()(std::monostate) const { return 0; }
  int64_t operator()(int64_t v) const { return v; }
  int64_t operator()(double v) const { return static_cast<int64_t>(v); }
  int64_t operator()(const std::string& v) const {
    int64_t out = 0;
    if (absl::SimpleAtoi(v, &out)) return out;
    // PostgreSQL renders numeric/real columns as "12.0"; and booleans as "t"/"f".
    double d = 0;
    if (absl::SimpleAtod(v, &d)) return static_cast<int64_t>(d);
    if (v == "t") return 1;
    return 0;
  }
};

struct CellToDouble {
  double operator()(std::monostate) const { return 0; }
  double operator()(int64_t v) const { return static_cast<double>(v); }
  double operator()(double v) const { return v; }
  double operator()(const std::string& v) const {
    double out = 0;
    if (absl::SimpleAtod(v, &out)) return out;
    // PostgreSQL spells the special values differently from strtod.
    if (v == "Infinity") return HUGE_VAL;
    if (v == "-Infinity") return -HUGE_VAL;
    if (v == "NaN") return std::nan("");
    return 0;
  }
};

struct CellToString {
  std::string operator()(std::monostate) const { return ""; }
  std::string operator()(int64_t v) const { return absl::StrCat(v); }
  // %.17g round-trips every double, unlike StrCat's six significant digits.
  std::string operator()(double v) const { return absl::StrFormat("%.17g", v); }
  std::string operator()(const std::string& v) const { return v; }
};

}  // namespace

int64_t Row::Int(size_t i) const { return std::visit(CellToInt{}, cells_.at(i)); }
double Row::Double(size_t i) const { return std::visit(CellToDouble{}, cells_.at(i)); }
std::string Row::String(size_t i) const { return std::visit(CellToString{}, cells_.at(i)); }

absl::StatusOr<std::unique_ptr<Database>> OpenDatabase(absl::string_view url,
                                                       const DatabaseOptions& options) {
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError("database pool_size: must be at least 1");
  }
  constexpr absl::string_view kSqlite = "sqlite://";
  if (absl::StartsWith(url, kSqlite)) {
    // Everything after "sqlite://" is the path: "sqlite:///var/x.db" is absolute,
    // "sqlite://x.db" relative to the working directory.
    std::string path(url.substr(kSqlite.size()));
    if (path.empty()) {
      return absl::InvalidArgumentError(
          "--database: sqlite URL has no file path; use sqlite:///path/to/file.db or "
          "sqlite://:memory:");
    }
    return internal::OpenSqliteDatabase(path, options);
  }
  if (absl::StartsWith(url, "postgres://") || absl::StartsWith(url, "postgresql://")) {
    return internal::OpenPostgresDatabase(std::string(url), options);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--database: unsupported URL \"", RedactDatabaseUrl(url),
      "\"; expected sqlite:///path/to/file.db, sqlite://:memory:, postgres://... or "
      "postgresql://..."));
}

std::string RedactDatabaseUrl(absl::string_view url) {
  std::string out(url);
  // The authority's user info: scheme://user:password@host...
  const size_t scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    const size_t authority_begin = scheme_end + 3;
    size_t authority_end = out.find_first_of("/?#", authority_begin);
    if (authority_end == std::string::npos) authority_end = out.size();
    const size_t at = out.rfind('@', authority_end);
    if (at != std::string::npos && at >= authority_begin) {
      const size_t colon = out.find(':', authority_begin);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, "***");
      }
    }
  }
  // libpq also accepts the password as a query parameter (...?password=secret) or, in keyword
  // form, as "password=secret". Either way the value ends at '&' or whitespace.
  size_t pos = 0;
  while ((pos = out.find("password=", pos)) != std::string::npos) {
    const bool at_key_start =
        pos == 0 || out[pos - 1] == '?' || out[pos - 1] == '&' || out[pos - 1] == ' ';
    pos += 9;
    if (!at_key_start) continue;
    size_t end = out.find_first_of("& \t", pos);
    if (end == std::string::npos) end = out.size();
    out.replace(pos, end - pos, "***");
    pos += 3;
  }
  return out;
}

namespace internal {

// Each pending migration runs in its own transaction that first takes the engine's migration lock
// and re-reads what is applied, so replicas starting together apply each version exactly once.
absl::Status ApplyMigrations(
    Database& db, const std::vector<Migration>& migrations,
    const std::function<absl::Status(Transaction&)>& lock,
    const std::function<absl::Status(Transaction&, const std::string&)>& run_script) {
  std::vector<const Migration*> ordered;
  std::set<int> seen;
  for (const Migration& m : migrations) {
    if (m.version <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration \"", m.name, "\": version must be positive"));
    }
    if (!seen.insert(m.version).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration version ", m.version, " is listed twice"));
    }
    ordered.push_back(&m);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const Migration* a, const Migration* b) { return a->version < b->version; });

  // Every applied migration up to our newest must be ours, by version and name. Otherwise the
  // database holds another service's schema (two services given one database): its versions
  // would count as ours, ours would be skipped, and the service would start without its tables.
  // Versions above our newest are a newer release's and are allowed, so that a rollback to this
  // release still starts (migrations only add).
  auto read_applied = [&](Transaction& tx) -> absl::StatusOr<std::set<int64_t>> {
    absl::StatusOr<int64_t> created = tx.Execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
    if (!created.ok()) return created.status();
    absl::StatusOr<Rows> rows =
        tx.Query("SELECT version, name FROM schema_migrations ORDER BY version");
    if (!rows.ok()) return rows.status();
    std::set<int64_t> applied;
    for (const Row& r : *rows) {
      const int64_t version = r.Int(0);
      const std::string name = r.String(1);
      applied.insert(version);
      if (ordered.empty() || version > ordered.back()->version) continue;
      const auto ours = std::find_if(ordered.begin(), ordered.end(),
                                     [&](const Migration* m) { return m->version == version; });
      if (ours == ordered.end() || (*ours)->name != name) {
        return absl::FailedPreconditionError(absl::StrCat(
            "this database holds another service's schema: its migration ", version, " is \"",
            name, "\"", ours == ordered.end() ? "" : absl::StrCat(", not \"", (*ours)->name, "\""),
            ". Give every service its own database"));
      }
    }
    return applied;
  };

  std::set<int64_t> applied;
  absl::Status status = db.InTransaction([&](Transaction& tx) -> absl::Status {
    absl::Status locked = lock(tx);
    if (!locked.ok()) return locked;
    absl::StatusOr<std::set<int64_t>> got = read_applied(tx);
    if (!got.ok()) return got.status();
    applied = *std::move(got);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;

  for (const Migration* m : ordered) {
    if (applied.count(m->version)) continue;
    status = db.InTransaction([&](Transaction& tx) -> absl::Status {
      absl::Status locked = lock(tx);
      if (!locked.ok()) return locked;
      absl::StatusOr<std::set<int64_t>> now_applied = read_applied(tx);
      if (!now_applied.ok()) return now_applied.status();
      if (now_applied->count(m->version)) return absl::OkStatus();  // another replica did it
      const std::string& sql =
          db.dialect() == Dialect::kSqlite ? m->sqlite_sql : m->postgres_sql;
      if (!absl::StripAsciiWhitespace(sql).empty()) {
        absl::Status ran = run_script(tx, sql);
        if (!ran.ok()) return ran;
      }
      absl::StatusOr<int64_t> recorded = tx.Execute(
          "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
          {int64_t{m->version}, m->name,
           absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())});
      return recorded.status();
    });
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("migration ", m->version, " (", m->name,
                                                      ") failed: ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace smartby::storage
