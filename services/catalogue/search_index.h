// An in-memory full-text index of the catalogue, so that Search answers in about a millisecond
// with EXACT totals, facets and ranking however many datasets a query matches (issue 2: p99 <= 5
// ms at 50,000 datasets). The database stays the source of truth: the catalogue feeds the index
// on start-up (Rebuild) and after every committed write (Upsert/Remove), searches the index for
// the page of names, then loads those documents from the store.
//
// Semantics are those of the SQLite store's Search (sql_store.cc), on both engines:
//   - Words: the user's text is split as QueryWords does (letters and digits join, everything
//     else separates; at most 16 words of 64 bytes). All words are required; the last one is a
//     prefix. No words: every dataset, score 0, in name order.
//   - Tokens: text is tokenized and folded exactly like FTS5's `unicode61 remove_diacritics 2`,
//     as SQLite 3.40 does it (tables generated from the linked SQLite and checked against it for
//     every code point by search_index_test.cc). Case is folded for every script FTS5 folds;
//     diacritics are removed where the letter decomposes to an ASCII base letter plus marks:
//     "Ålesund" -> "alesund", "Tromsø" -> "tromsø", "Æ" -> "æ", "š" -> "s", "é" -> "e". So
//     "alesund" finds "Ålesund", but "sjovann" does NOT find "Sjøvann": ø, æ, đ, ŋ, ŧ and ß have
//     no decomposition and stay letters of their own, as in FTS5.
//     A query word that FTS5 would split into several tokens (a word holding a character that
//     QueryWords keeps but unicode61 separates, such as U+02C2) is a phrase: its tokens must
//     follow each other in one column, as in FTS5. A word with no token at all is ignored,
//     unless no word has a token, in which case nothing matches (FTS5 does both).
//   - Ranking: FTS5's bm25() with column weights title 10, keywords 5, description 2, field text
//     1 (field names and descriptions), k1 = 1.2, b = 0.75, negated so that higher is better.
//     That is, per query phrase, freq = sum over columns of weight * occurrences, document length
//     = tokens over all columns, avgdl and IDF (clamped to 1e-6) over the whole catalogue, not
//     just the matches. Computed with the same operations in the same order, so scores equal
//     SQLite's. Ties by name (SQLite breaks ties at a page boundary by row id).
//   - Filters and visibility as ListFilter (store.h) and VisibilitySql (sql_store.cc); facets
//     and total over every match after filters and visibility; facet keys and ordering as the
//     store's (most frequent first, ties by key in byte order).
//
// Memory, bounded by the data: about 250 bytes per dataset, plus 4 bytes per token of indexed
// text and 8 bytes per distinct word of a dataset, plus ~100 bytes per distinct word of the
// catalogue (see Stats()). The benchmark's 50,000 datasets take 28 MB (560 bytes each; see
// bench/README.md).
//
// Thread safety: every method may be called concurrently. Searches share a reader lock; writes
// take the lock exclusively only to apply a change prepared outside it (tokenizing happens
// before), and Rebuild builds the new index outside the lock and swaps it in.
#ifndef SMARTBY_SERVICES_CATALOGUE_SEARCH_INDEX_H_
#define SMARTBY_SERVICES_CATALOGUE_SEARCH_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "services/catalogue/store.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::catalogue {

// The text rules, exposed for tests.
namespace search_text {

// The user's text as words (at most 16 of 64 bytes): letters and digits join, everything else
// separates. The SQL store's search splits queries with this too.
std::vector<std::string> QueryWords(absl::string_view text);

// Tokens of `text` as FTS5 unicode61 with remove_diacritics 2 produces them (folded). Bytes that
// are not UTF-8 separate tokens (the catalogue stores only valid UTF-8).
std::vector<std::string> Tokenize(absl::string_view text);

// How unicode61 treats one code point >= 0x80: 0 separator, 1 token character, 2 a diacritic
// that continues a token but cannot start one; and what it folds to (0: dropped).
struct CharRule {
  int kind = 0;
  char32_t fold = 0;
};
CharRule RuleFor(char32_t c);

}  // namespace search_text

struct SearchIndexHit {
  std::string name;
  int64_t version = 0;  // the version indexed: the caller can tell when the store has moved on
  double score = 0;     // higher is better; 0 for an empty query
};

struct SearchIndexResult {
  std::vector<SearchIndexHit> hits;  // the page, best first, ties by name
  int32_t total_size = 0;            // every match after filters and visibility
  FacetCounts facets;                // over every match, not only the page
};

struct SearchIndexStats {
  size_t datasets = 0;
  size_t words = 0;     // distinct tokens
  size_t postings = 0;  // (word, dataset) pairs
  size_t tokens = 0;    // indexed tokens, all datasets
  size_t approximate_bytes = 0;
};

class SearchIndex {
 public:
  SearchIndex();
  ~SearchIndex();
  SearchIndex(const SearchIndex&) = delete;
  SearchIndex& operator=(const SearchIndex&) = delete;

  // Adds the dataset or replaces the one of that name. A dataset older than the indexed one
  // (lower version) is ignored and false returned, so that feeds racing each other cannot move
  // the index backwards; the same version replaces (re-feeding is harmless).
  bool Upsert(const v1::Dataset& dataset);
  // False when no dataset of that name was indexed.
  bool Remove(absl::string_view name);
  void Clear();
  // Replaces the whole content (start-up, resynchronisation). Of repeated names, the highest
  // version is kept.
  void Rebuild(std::vector<v1::Dataset> datasets);

  // INVALID_ARGUMENT for offset < 0 or limit < 1, as the store.
  absl::StatusOr<SearchIndexResult> Search(const SearchQuery& query) const;

  // The name and version of every indexed dataset, by name: what a refresher compares with
  // the store (CatalogueStore::Versions) to find what changed elsewhere.
  std::vector<DatasetVersion> Versions() const;

  size_t size() const;
  SearchIndexStats Stats() const;

  struct State;  // public only for the implementation's helpers

 private:
  mutable absl::Mutex mu_;
  std::unique_ptr<State> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace smartby::catalogue

#endif  // SMARTBY_SERVICES_CATALOGUE_SEARCH_INDEX_H_
