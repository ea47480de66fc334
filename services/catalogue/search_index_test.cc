// The in-memory search index: text rules against SQLite's own FTS5 tokenizer, query semantics,
// ranking, filters, facets, writes, and a differential test against the real SQLite store.
#include "services/catalogue/search_index.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/catalogue/store.h"
#include "services/catalogue/visibility.h"
#include "services/runtime/storage/test_databases.h"
#include "services/runtime/utf8.h"

namespace smartby::catalogue {
namespace {

namespace common = ::smartcity::common::v1;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// ---------------------------------------------------------------------------------------------
// FTS5's unicode61 tokenizer, called directly through the fts5_api of the linked SQLite.

class Fts5Tokenizer {
 public:
  Fts5Tokenizer() {
    sqlite3_open(":memory:", &db_);
    fts5_api* api = nullptr;
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, "SELECT fts5(?1)", -1, &stmt, nullptr);
    sqlite3_bind_pointer(stmt, 1, &api, "fts5_api_ptr", nullptr);
    sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (api == nullptr) return;
    void* user_data = nullptr;
    if (api->xFindTokenizer(api, "unicode61", &user_data, &module_) != SQLITE_OK) return;
    const char* args[] = {"remove_diacritics", "2"};
    if (module_.xCreate(user_data, args, 2, &tokenizer_) != SQLITE_OK) tokenizer_ = nullptr;
  }
  ~Fts5Tokenizer() {
    if (tokenizer_ != nullptr) module_.xDelete(tokenizer_);
    sqlite3_close(db_);
  }
  bool ok() const { return tokenizer_ != nullptr; }

  std::vector<std::string> Tokenize(const std::string& text) {
    std::vector<std::string> out;
    module_.xTokenize(tokenizer_, &out, FTS5_TOKENIZE_DOCUMENT, text.data(),
                      static_cast<int>(text.size()),
                      [](void* ctx, int, const char* token, int n, int, int) {
                        static_cast<std::vector<std::string>*>(ctx)->emplace_back(token, n);
                        return SQLITE_OK;
                      });
    return out;
  }

  // What unicode61 does with `c`, probed as "c" alone and as "aca", between two letters.
  search_text::CharRule Probe(char32_t c) {
    std::string alone;
    utf8::Append(c, alone);
    const std::vector<std::string> a = Tokenize(alone);
    const std::vector<std::string> b = Tokenize("a" + alone + "a");
    search_text::CharRule rule;
    rule.kind = !a.empty() ? 1 : (b.size() == 1 ? 2 : 0);
    rule.fold = c;
    if (b.size() == 1) {
      const std::string folded = b[0].substr(1, b[0].size() - 2);
      size_t i = 0;
      rule.fold = folded.empty() ? 0 : utf8::Next(folded, i).value_or(0xFFFFFFFF);
    }
    return rule;
  }

 private:
  sqlite3* db_ = nullptr;
  fts5_tokenizer module_{};
  ::Fts5Tokenizer* tokenizer_ = nullptr;
};

bool IsScalar(char32_t c) { return c < 0xD800 || (c > 0xDFFF && c <= 0x10FFFF); }

TEST(SearchTextTest, MatchesFts5ForEveryCodePoint) {
  Fts5Tokenizer fts5;
  ASSERT_TRUE(fts5.ok());
  int mismatches = 0;
  for (char32_t c = 0x80; c <= 0x10FFFF; ++c) {
    if (!IsScalar(c)) continue;
    const search_text::CharRule want = fts5.Probe(c);
    const search_text::CharRule got = search_text::RuleFor(c);
    // A separator's fold does not matter.
    if (want.kind != got.kind || (want.kind != 0 && want.fold != got.fold)) {
      if (++mismatches <= 20) {
        ADD_FAILURE() << "U+" << std::hex << static_cast<uint32_t>(c) << ": FTS5 kind "
                      << want.kind << " fold " << static_cast<uint32_t>(want.fold)
                      << ", index kind " << got.kind << " fold "
                      << static_cast<uint32_t>(got.fold);
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << "regenerate the tables with DISABLED_PrintUnicodeTables";
}

TEST(SearchTextTest, TokenizesTextLikeFts5) {
  Fts5Tokenizer fts5;
  ASSERT_TRUE(fts5.ok());
  const std::vector<std::string> texts = {
      "Badetemperatur i Stavanger: sjøvann, målt hver time.",
      "ÅLESUND Ærøy Østfold Tromsø Straße CAFÉ naïve Čáhcesuolu ŊÁVDDIS đ ŧ",
      "water_temperature (°C) m² ½ x×y a÷b 3.5 km/t – «sitat» “quote” e-post@x.no",
      "Ελληνικά Русский עברית العربية 日本語テキスト 한국어",
      "e\xCC\x81 combining a\xCC\x8A \xCC\x81start x\xE2\x80\x8B" "y emoji\xF0\x9F\x98\x80" "end",
      "ﬁnance ΣΊΣΥΦΟΣ İstanbul ǅ Ⅻ ℓ ①",
  };
  for (const std::string& t : texts) {
    EXPECT_EQ(search_text::Tokenize(t), fts5.Tokenize(t)) << t;
  }
  // Random strings of characters drawn from awkward ranges.
  std::mt19937 rng(7);
  const char32_t pool[] = {'a', 'Z', '9', ' ', '-', '_', 0xC5, 0xE6, 0xF8, 0x301, 0x308,
                           0x2C2, 0x2019, 0x1E9E, 0x130, 0x3A3, 0x5D0, 0x4E00, 0xFF21,
                           0x1F600, 0x10400, 0xAD, 0xB2, 0xDF};
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    for (int k = 0; k < 12; ++k) utf8::Append(pool[rng() % std::size(pool)], s);
    EXPECT_EQ(search_text::Tokenize(s), fts5.Tokenize(s)) << s;
  }
}

TEST(SearchTextTest, FoldsCaseAndDiacriticsAsFts5Does) {
  EXPECT_THAT(search_text::Tokenize("Ålesund ÆRØ Sjøvann Café Š Straße"),
              ElementsAre("alesund", "ærø", "sjøvann", "cafe", "s", "straße"));
  EXPECT_THAT(search_text::Tokenize("water_temperature, 12.5°C"),
              ElementsAre("water", "temperature", "12", "5", "c"));
}

TEST(SearchTextTest, QueryWordsAsTheStore) {
  EXPECT_THAT(search_text::QueryWords("  \"bad\" OR -sjø* (NEAR) "),
              ElementsAre("bad", "OR", "sjø", "NEAR"));
  std::string many;
  for (int i = 0; i < 20; ++i) absl::StrAppend(&many, "w", i, " ");
  EXPECT_EQ(search_text::QueryWords(many).size(), 16u);
  EXPECT_EQ(search_text::QueryWords(std::string(100, 'x'))[0].size(), 64u);
  EXPECT_THAT(search_text::QueryWords("a\xFF" "b"), ElementsAre("a", "b"));
}

// Prints the tables search_index.cc embeds, from the linked SQLite:
//   catalogue_search_index_test --gtest_also_run_disabled_tests
//       --gtest_filter=SearchTextTest.DISABLED_PrintUnicodeTables
TEST(SearchTextTest, DISABLED_PrintUnicodeTables) {
  Fts5Tokenizer fts5;
  ASSERT_TRUE(fts5.ok());
  std::vector<std::pair<char32_t, char32_t>> token, diacritic, fold;
  auto add = [](auto& ranges, char32_t c) {
    if (!ranges.empty() && ranges.back().second + 1 == c) {
      ranges.back().second = c;
    } else {
      ranges.push_back({c, c});
    }
  };
  for (char32_t c = 0x80; c <= 0x10FFFF; ++c) {
    if (!IsScalar(c)) continue;
    const search_text::CharRule r = fts5.Probe(c);
    if (r.kind == 1) add(token, c);
    if (r.kind == 2) add(diacritic, c);
    if (r.kind != 0 && r.fold != c) fold.push_back({c, r.fold});
  }
  auto print = [](const char* type, const char* name, const auto& pairs) {
    std::printf("constexpr %s %s[] = {\n", type, name);
    std::string line = "   ";
    for (const auto& [a, b] : pairs) {
      char item[40];
      std::snprintf(item, sizeof item, " {0x%X, 0x%X},", static_cast<unsigned>(a),
                    static_cast<unsigned>(b));
      if (line.size() + std::strlen(item) > 99) {
        std::printf("%s\n", line.c_str());
        line = "   ";
      }
      line += item;
    }
    std::printf("%s\n};\n", line.c_str());
  };
  print("CodeRange", "kTokenRanges", token);
  print("CodeRange", "kDiacriticRanges", diacritic);
  print("CodeFold", "kFolds", fold);
}

// ---------------------------------------------------------------------------------------------
// The index on its own.

v1::Dataset Make(const std::string& name, const std::string& title,
                 const std::string& description = "", const std::string& owner = "Stavanger kommune") {
  v1::Dataset d;
  d.set_name(name);
  d.set_title(title);
  d.set_description(description);
  d.mutable_owner()->set_organization(owner);
  d.set_classification(common::CLASSIFICATION_OPEN);
  d.set_state(v1::DATASET_STATE_PUBLISHED);
  d.set_version(1);
  return d;
}

SearchQuery Query(const std::string& text, int32_t offset = 0, int32_t limit = 100) {
  SearchQuery q;
  q.text = text;
  q.offset = offset;
  q.limit = limit;
  q.filter.visibility = DatasetVisibility::Unrestricted();
  return q;
}

std::vector<std::string> Names(const SearchIndexResult& r) {
  std::vector<std::string> out;
  for (const SearchIndexHit& h : r.hits) out.push_back(h.name);
  return out;
}

std::vector<std::string> Find(const SearchIndex& index, const std::string& text) {
  absl::StatusOr<SearchIndexResult> r = index.Search(Query(text));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? Names(*r) : std::vector<std::string>{};
}

TEST(SearchIndexTest, LastWordIsAPrefixAndOthersAreWhole) {
  SearchIndex index;
  index.Upsert(Make("bad", "Badetemperatur i Stavanger"));
  index.Upsert(Make("sjo", "Sjøvann ved Ålesund"));
  EXPECT_THAT(Find(index, "badet"), ElementsAre("bad"));
  EXPECT_THAT(Find(index, "badetemperatur stav"), ElementsAre("bad"));
  EXPECT_THAT(Find(index, "stavanger i"), ElementsAre("bad"));
  EXPECT_THAT(Find(index, "badet stavanger"), IsEmpty());  // only the last word is a prefix
  EXPECT_THAT(Find(index, "stav badet"), IsEmpty());
  EXPECT_THAT(Find(index, "SJØVANN"), ElementsAre("sjo"));
  EXPECT_THAT(Find(index, "alesund"), ElementsAre("sjo"));  // Å folds to a
  EXPECT_THAT(Find(index, "sjovann"), IsEmpty());           // ø does not fold to o (as FTS5)
}

TEST(SearchIndexTest, AllWordsAreRequired) {
  SearchIndex index;
  index.Upsert(Make("a", "parkering Oslo"));
  index.Upsert(Make("b", "parkering Bergen"));
  index.Upsert(Make("c", "sykkel Oslo"));
  EXPECT_THAT(Find(index, "parkering oslo"), ElementsAre("a"));
  EXPECT_THAT(Find(index, "oslo parkering"), ElementsAre("a"));
  EXPECT_THAT(Find(index, "parkering"), UnorderedElementsAre("a", "b"));
  EXPECT_THAT(Find(index, "parkering tromsø"), IsEmpty());
  // Punctuation and FTS syntax are only separators.
  EXPECT_THAT(Find(index, "\"parkering\" AND -oslo*"), IsEmpty());  // AND is a word
  EXPECT_THAT(Find(index, "(parkering) +oslo*"), ElementsAre("a"));
}

TEST(SearchIndexTest, TitleOutranksDescription) {
  SearchIndex index;
  index.Upsert(Make("desc", "Noe annet", "Handler om trafikk i byen"));
  index.Upsert(Make("title", "Trafikk i byen", "Noe annet her"));
  index.Upsert(Make("none", "Noe", "annet"));
  absl::StatusOr<SearchIndexResult> r = index.Search(Query("trafikk"));
  ASSERT_TRUE(r.ok());
  ASSERT_THAT(Names(*r), ElementsAre("title", "desc"));
  EXPECT_GT(r->hits[0].score, r->hits[1].score);
  EXPECT_GT(r->hits[1].score, 0);
}

TEST(SearchIndexTest, KeywordsAndFieldsAreSearched) {
  SearchIndex index;
  v1::Dataset d = Make("k", "Tittel");
  d.add_keywords("bading");
  auto* f = d.add_fields();
  f->set_name("water_temperature");
  f->set_description("Vanntemperatur under overflaten");
  index.Upsert(d);
  EXPECT_THAT(Find(index, "bading"), ElementsAre("k"));
  EXPECT_THAT(Find(index, "water"), ElementsAre("k"));
  EXPECT_THAT(Find(index, "overflaten"), ElementsAre("k"));
}

TEST(SearchIndexTest, EmptyQueryIsEverythingByName) {
  SearchIndex index;
  for (const char* n : {"c", "a", "b"}) index.Upsert(Make(n, "x"));
  absl::StatusOr<SearchIndexResult> r = index.Search(Query("  -- "));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(Names(*r), ElementsAre("a", "b", "c"));
  EXPECT_EQ(r->total_size, 3);
  EXPECT_EQ(r->hits[0].score, 0);

  // A filter that few datasets pass takes another path to the page; same answer.
  for (int i = 0; i < 40; ++i) {
    index.Upsert(Make(absl::StrCat("m", 99 - i), "x", "", i % 20 == 0 ? "Moss kommune" : "Oslo"));
  }
  SearchQuery q = Query("", 1, 5);
  q.filter.owner_organization = "Moss kommune";
  r = index.Search(q);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(Names(*r), ElementsAre("m99"));
  EXPECT_EQ(r->total_size, 2);
  EXPECT_THAT(r->facets.owners, ElementsAre(Pair("Moss kommune", 2)));
}

TEST(SearchIndexTest, WordWithoutTokensIsIgnoredUnlessAlone) {
  SearchIndex index;
  index.Upsert(Make("a", "y z"));
  index.Upsert(Make("b", "y w z"));
  // U+02C2 is no separator for QueryWords but one for unicode61: FTS5 drops the empty phrase...
  EXPECT_THAT(Find(index, "y \xCB\x82"), UnorderedElementsAre("a", "b"));
  // ...matches nothing when no phrase is left...
  EXPECT_THAT(Find(index, "\xCB\x82"), IsEmpty());
  // ...and treats "y˂z" as the phrase "y z".
  EXPECT_THAT(Find(index, "y\xCB\x82z"), ElementsAre("a"));
  EXPECT_THAT(Find(index, "y\xCB\x82w"), ElementsAre("b"));
}

TEST(SearchIndexTest, BadPageIsRefused) {
  SearchIndex index;
  EXPECT_EQ(index.Search(Query("x", -1, 10)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.Search(Query("x", 0, 0)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SearchIndexTest, FiltersAndVisibility) {
  SearchIndex index;
  v1::Dataset a = Make("a", "data", "", "Oslo kommune");
  a.add_themes(v1::THEME_ENVI);
  v1::Dataset b = Make("b", "data", "", "Bergen kommune");
  b.set_classification(common::CLASSIFICATION_INTERNAL);
  b.add_themes(v1::THEME_TRAN);
  v1::Dataset c = Make("c", "data", "", "Oslo kommune");
  c.set_state(v1::DATASET_STATE_DRAFT);
  c.add_themes(v1::THEME_ENVI);
  c.add_themes(v1::THEME_TRAN);
  for (const auto& d : {a, b, c}) index.Upsert(d);

  auto find = [&](auto edit) {
    SearchQuery q = Query("data");
    edit(q.filter);
    absl::StatusOr<SearchIndexResult> r = index.Search(q);
    EXPECT_TRUE(r.ok());
    std::vector<std::string> names = Names(*r);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(r->total_size, static_cast<int32_t>(names.size()));
    return names;
  };
  EXPECT_THAT(find([](ListFilter& f) { f.owner_organization = "Oslo kommune"; }),
              ElementsAre("a", "c"));
  EXPECT_THAT(find([](ListFilter& f) { f.owner_organization = "Oslo"; }), IsEmpty());
  EXPECT_THAT(find([](ListFilter& f) { f.classification = common::CLASSIFICATION_INTERNAL; }),
              ElementsAre("b"));
  EXPECT_THAT(find([](ListFilter& f) { f.state = v1::DATASET_STATE_DRAFT; }), ElementsAre("c"));
  EXPECT_THAT(find([](ListFilter& f) { f.theme = v1::THEME_TRAN; }), ElementsAre("b", "c"));
  EXPECT_THAT(find([](ListFilter& f) { f.theme = v1::THEME_HEAL; }), IsEmpty());
  // Visibility: the default is published Åpen only.
  EXPECT_THAT(find([](ListFilter& f) { f.visibility = DatasetVisibility(); }), ElementsAre("a"));
  EXPECT_THAT(find([](ListFilter& f) {
                f.visibility = DatasetVisibility();
                f.visibility.max_class = common::CLASSIFICATION_INTERNAL;
                f.visibility.owner_organizations = {"Oslo kommune"};
              }),
              ElementsAre("a", "c"));
  EXPECT_THAT(find([](ListFilter& f) {
                f.visibility = DatasetVisibility();
                f.visibility.max_class = common::CLASSIFICATION_INTERNAL;
                f.visibility.published_datasets = true;
              }),
              ElementsAre("a", "b"));
}

TEST(SearchIndexTest, FacetsCountEveryMatchNotOnlyThePage) {
  SearchIndex index;
  for (int i = 0; i < 30; ++i) {
    v1::Dataset d = Make(absl::StrCat("d", 10 + i), "felles", "",
                         i % 3 == 0 ? "Oslo kommune" : "Bergen kommune");
    d.add_themes(i % 2 == 0 ? v1::THEME_ENVI : v1::THEME_TRAN);
    d.add_themes(v1::THEME_ENVI);  // repeated: counted once
    d.add_resources()->set_format(i % 2 == 0 ? " csv " : "geo json");
    d.add_resources()->set_format("CSV");
    if (i % 5 == 0) d.set_classification(common::CLASSIFICATION_INTERNAL);
    index.Upsert(d);
  }
  index.Upsert(Make("other", "annet"));
  absl::StatusOr<SearchIndexResult> r = index.Search(Query("felles", 0, 5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hits.size(), 5u);
  EXPECT_EQ(r->total_size, 30);
  EXPECT_THAT(r->facets.owners, ElementsAre(Pair("Bergen kommune", 20), Pair("Oslo kommune", 10)));
  EXPECT_THAT(r->facets.themes, ElementsAre(Pair("ENVI", 30), Pair("TRAN", 15)));
  EXPECT_THAT(r->facets.formats, ElementsAre(Pair("CSV", 30), Pair("GEO_JSON", 15)));
  EXPECT_THAT(r->facets.classifications,
              ElementsAre(Pair("CLASSIFICATION_OPEN", 24), Pair("CLASSIFICATION_INTERNAL", 6)));
}

TEST(SearchIndexTest, PagesAreStableAndCoverEveryMatchOnce) {
  SearchIndex index;
  for (int i = 0; i < 57; ++i) {
    // Equal scores in groups, so that ties by name decide.
    index.Upsert(Make(absl::StrCat("n", 100 - i), i % 4 == 0 ? "vei vei" : "vei",
                      std::string(i % 3, 'x')));
  }
  std::vector<std::string> paged;
  for (int offset = 0; offset < 70; offset += 10) {
    absl::StatusOr<SearchIndexResult> r = index.Search(Query("vei", offset, 10));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->total_size, 57);
    for (const auto& h : r->hits) paged.push_back(h.name);
  }
  absl::StatusOr<SearchIndexResult> all = index.Search(Query("vei", 0, 1000));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(paged, Names(*all));
  for (size_t i = 1; i < all->hits.size(); ++i) {
    const auto& x = all->hits[i - 1];
    const auto& y = all->hits[i];
    EXPECT_TRUE(x.score > y.score || (x.score == y.score && x.name < y.name)) << i;
  }
  std::set<std::string> unique(paged.begin(), paged.end());
  EXPECT_EQ(unique.size(), 57u);
}

TEST(SearchIndexTest, UpsertReplacesOldTextAndIgnoresOlderVersions) {
  SearchIndex index;
  v1::Dataset d = Make("d", "gammel tittel");
  d.add_resources()->set_format("CSV");
  index.Upsert(d);
  index.Upsert(Make("e", "gammel"));
  d.set_title("ny tittel");
  d.clear_resources();
  d.add_resources()->set_format("PDF");
  d.set_version(2);
  EXPECT_TRUE(index.Upsert(d));
  EXPECT_THAT(Find(index, "gammel"), ElementsAre("e"));
  EXPECT_THAT(Find(index, "ny"), ElementsAre("d"));
  absl::StatusOr<SearchIndexResult> r = index.Search(Query("tittel"));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->facets.formats, ElementsAre(Pair("PDF", 1)));
  EXPECT_EQ(r->hits[0].version, 2);

  v1::Dataset stale = Make("d", "foreldet");
  EXPECT_FALSE(index.Upsert(stale));  // version 1 < 2
  EXPECT_THAT(Find(index, "foreldet"), IsEmpty());
  EXPECT_THAT(Find(index, "ny"), ElementsAre("d"));
  EXPECT_EQ(index.size(), 2u);
}

TEST(SearchIndexTest, RemoveAndReuse) {
  SearchIndex index;
  index.Upsert(Make("a", "unik ord"));
  index.Upsert(Make("b", "ord"));
  EXPECT_TRUE(index.Remove("a"));
  EXPECT_FALSE(index.Remove("a"));
  EXPECT_THAT(Find(index, "unik"), IsEmpty());
  EXPECT_THAT(Find(index, "ord"), ElementsAre("b"));
  EXPECT_EQ(index.Stats().words, 1u);  // "unik" is gone from the dictionary
  index.Upsert(Make("c", "nytt ord"));  // takes a's slot
  EXPECT_THAT(Find(index, "ord"), UnorderedElementsAre("b", "c"));
  EXPECT_THAT(Find(index, ""), ElementsAre("b", "c"));
  index.Upsert(Make("a", "igjen"));  // a name can come back, from version 1
  EXPECT_THAT(Find(index, "igjen"), ElementsAre("a"));
  index.Clear();
  EXPECT_EQ(index.size(), 0u);
  EXPECT_THAT(Find(index, ""), IsEmpty());
}

TEST(SearchIndexTest, RebuildKeepsTheNewestOfEachName) {
  SearchIndex index;
  index.Upsert(Make("old", "borte"));
  v1::Dataset v1d = Make("x", "første");
  v1::Dataset v2d = Make("x", "andre");
  v2d.set_version(2);
  index.Rebuild({v2d, Make("y", "andre"), v1d});
  EXPECT_THAT(Find(index, "borte"), IsEmpty());
  EXPECT_THAT(Find(index, "forste"), IsEmpty());
  EXPECT_THAT(Find(index, "andre"), ElementsAre("x", "y"));
  EXPECT_EQ(index.size(), 2u);
}

TEST(SearchIndexTest, ConcurrentSearchesAndWrites) {
  SearchIndex index;
  for (int i = 0; i < 200; ++i) index.Upsert(Make(absl::StrCat("d", i), "felles tekst"));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        absl::StatusOr<SearchIndexResult> r = index.Search(Query("felles", 0, 10));
        if (!r.ok() || r->total_size < 200 || r->hits.size() != 10) ++bad;
      }
    });
  }
  for (int round = 0; round < 300; ++round) {
    v1::Dataset d = Make(absl::StrCat("w", round % 17), absl::StrCat("felles runde ", round));
    d.set_version(round + 1);
    index.Upsert(d);
    if (round % 5 == 0) index.Remove(absl::StrCat("w", (round + 3) % 17));
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Differential: the same datasets in the real SQLite store and in the index must give the same
// matches, totals, facets and scores, and the same order wherever scores differ.

const char* kVocabulary[] = {
    "temperatur", "temperaturer", "parkering", "parkeringshus", "avfall", "avfallsbeholder",
    "sykkel", "sykkeltelling", "Sjøvann", "sjø", "bading", "Badeplass", "Ålesund", "Tromsø",
    "Bodø", "Oslo", "Bergen", "Stavanger", "Kristiansand", "Ærøy", "Østre", "målinger", "MÅLT",
    "café", "naïve", "Čáhcesuolu", "energi", "strøm", "rotter", "overvann", "snø", "2024",
    "12.5", "ROS-2024", "luft", "kvalitet", "luftkvalitet", "støy", "trafikk", "bibliotek",
    "besøk", "vannstand", "sensor", "sensorer", "data", "datasett", "kart", "Ü", "ß"};
const char* kOwners[] = {"Oslo kommune", "Bergen kommune", "Tromsø kommune", ""};
const v1::Theme kThemeList[] = {v1::THEME_ENVI, v1::THEME_TRAN, v1::THEME_ENER, v1::THEME_HEAL,
                                v1::THEME_EDUC};
const char* kFormats[] = {"CSV", "json", " GeoJSON ", "pdf", "zip archive"};

std::string Words(std::mt19937& rng, int n) {
  std::vector<std::string> w;
  for (int i = 0; i < n; ++i) w.push_back(kVocabulary[rng() % std::size(kVocabulary)]);
  return absl::StrJoin(w, rng() % 4 == 0 ? ", " : " ");
}

v1::Dataset Varied(std::mt19937& rng, int i) {
  v1::Dataset d;
  d.set_name(absl::StrCat("ds-", 1000 + i));
  d.set_title(Words(rng, 1 + rng() % 5));
  d.set_description(Words(rng, rng() % 25));
  d.mutable_owner()->set_organization(kOwners[rng() % std::size(kOwners)]);
  d.set_classification(static_cast<common::Classification>(1 + rng() % 4));
  d.set_state(static_cast<v1::DatasetState>(1 + rng() % 3));
  d.set_version(1);
  for (int t = rng() % 3; t > 0; --t) d.add_themes(kThemeList[rng() % std::size(kThemeList)]);
  for (int k = rng() % 4; k > 0; --k) d.add_keywords(Words(rng, 1));
  for (int f = rng() % 3; f > 0; --f) {
    auto* field = d.add_fields();
    field->set_name(absl::StrCat("felt_", Words(rng, 1)));
    if (rng() % 2) field->set_description(Words(rng, rng() % 6));
  }
  for (int r = rng() % 3; r > 0; --r) {
    d.add_resources()->set_format(kFormats[rng() % std::size(kFormats)]);
  }
  return d;
}

class DifferentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqlCatalogueStore(storage::testing::NewTestDatabase("sqlite"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  void Insert(const v1::Dataset& d) {
    ASSERT_TRUE(store_->InTransaction([&](CatalogueStore::Tx& tx) { return tx.Insert(d); }).ok());
    index_.Upsert(d);
  }
  void Replace(const v1::Dataset& d) {
    ASSERT_TRUE(store_->InTransaction([&](CatalogueStore::Tx& tx) { return tx.Replace(d); }).ok());
    index_.Upsert(d);
  }
  void Delete(const std::string& name) {
    ASSERT_TRUE(store_->InTransaction([&](CatalogueStore::Tx& tx) { return tx.Delete(name); }).ok());
    index_.Remove(name);
  }

  // Compares one query; returns whether the order was identical name for name.
  bool Compare(const SearchQuery& query) {
    SCOPED_TRACE(absl::StrCat("query \"", query.text, "\" owner=", query.filter.owner_organization,
                              " class=", query.filter.classification, " state=",
                              query.filter.state, " theme=", query.filter.theme, " max_class=",
                              query.filter.visibility.max_class));
    absl::StatusOr<SearchResult> want = store_->Search(query);
    absl::StatusOr<SearchIndexResult> got = index_.Search(query);
    EXPECT_TRUE(want.ok()) << want.status();
    EXPECT_TRUE(got.ok()) << got.status();
    if (!want.ok() || !got.ok()) return false;
    EXPECT_EQ(got->total_size, want->total_size);
    EXPECT_EQ(got->facets.themes, want->facets.themes);
    EXPECT_EQ(got->facets.owners, want->facets.owners);
    EXPECT_EQ(got->facets.formats, want->facets.formats);
    EXPECT_EQ(got->facets.classifications, want->facets.classifications);
    EXPECT_EQ(got->hits.size(), want->hits.size());
    if (got->hits.size() != want->hits.size()) return false;
    // Same names with the same scores...
    std::map<std::string, double> want_score;
    for (const auto& [d, score] : want->hits) want_score[d.name()] = score;
    std::map<std::string, size_t> got_position;
    for (size_t i = 0; i < got->hits.size(); ++i) {
      const SearchIndexHit& h = got->hits[i];
      got_position[h.name] = i;
      auto it = want_score.find(h.name);
      if (it == want_score.end()) {
        ADD_FAILURE() << h.name << " found by the index only";
        continue;
      }
      EXPECT_NEAR(h.score, it->second, 1e-9 * std::max(1.0, std::abs(it->second))) << h.name;
    }
    // ...in the same order wherever the store's scores differ by more than an epsilon.
    bool identical = true;
    for (size_t i = 0; i < want->hits.size(); ++i) {
      if (want->hits[i].first.name() != got->hits[i].name) identical = false;
      for (size_t j = i + 1; j < want->hits.size(); ++j) {
        const double a = want->hits[i].second, b = want->hits[j].second;
        if (a - b > 1e-9 * std::max(1.0, std::abs(a))) {
          EXPECT_LT(got_position[want->hits[i].first.name()],
                    got_position[want->hits[j].first.name()])
              << want->hits[i].first.name() << " before " << want->hits[j].first.name();
        }
      }
    }
    return identical;
  }

  std::unique_ptr<CatalogueStore> store_;
  SearchIndex index_;
};

TEST_F(DifferentialTest, SameAnswersAsTheSqliteStore) {
  std::mt19937 rng(2024);
  std::vector<v1::Dataset> datasets;
  for (int i = 0; i < 400; ++i) datasets.push_back(Varied(rng, i));
  for (const auto& d : datasets) Insert(d);
  // Some writes after the fact: replaced text and deleted drafts.
  for (int i = 0; i < 400; i += 7) {
    v1::Dataset d = Varied(rng, i);
    d.set_version(2);
    Replace(d);
    datasets[i] = d;
  }
  for (int i = 3; i < 400; i += 37) {
    if (datasets[i].state() != v1::DATASET_STATE_DRAFT) continue;
    Delete(datasets[i].name());
  }

  std::vector<std::string> texts = {"", "temperatur", "temp", "t", "sjø", "sjo", "sjovann",
                                    "alesund", "ÅLESUND", "bodo", "ostre", "østre", "cafe",
                                    "CAFÉ", "naive", "cahcesuolu", "2024", "12 5", "ros 2024",
                                    "felt", "felt_sensor", "data", "datasett", "data sett",
                                    "kart data", "sensorer data", "luft kvalitet", "ü", "ss",
                                    "ß", "strøm bergen", "x", "qqq", "parkering\xCB\x82hus",
                                    "sykkel \xCB\x82", "\xCB\x82"};
  for (int i = 0; i < 150; ++i) {
    std::string q = Words(rng, 1 + rng() % 3);
    if (rng() % 2) {  // cut the last word to a prefix
      std::vector<std::string> words = search_text::QueryWords(q);
      std::string& last = words.back();
      size_t cut = 1 + rng() % std::max<size_t>(1, last.size());
      while (cut < last.size() && (static_cast<unsigned char>(last[cut]) & 0xC0) == 0x80) ++cut;
      last.resize(cut);
      q = absl::StrJoin(words, " ");
    }
    texts.push_back(q);
  }

  int compared = 0, identical = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    SearchQuery q;
    q.text = texts[i];
    q.limit = 1000;  // every match: the order is compared over all of them
    q.filter.visibility = DatasetVisibility::Unrestricted();
    identical += Compare(q);
    ++compared;
    // The same words with a filter or a narrower visibility.
    SearchQuery f = q;
    switch (i % 6) {
      case 0: f.filter.owner_organization = kOwners[i % std::size(kOwners)]; break;
      case 1: f.filter.classification = static_cast<common::Classification>(1 + i % 4); break;
      case 2: f.filter.state = static_cast<v1::DatasetState>(1 + i % 3); break;
      case 3: f.filter.theme = kThemeList[i % std::size(kThemeList)]; break;
      case 4: f.filter.visibility = DatasetVisibility(); break;
      default:
        f.filter.visibility = DatasetVisibility();
        f.filter.visibility.max_class = common::CLASSIFICATION_PROTECTED;
        f.filter.visibility.published_datasets = i % 2 == 0;
        f.filter.visibility.owner_organizations = {kOwners[i % 3]};
        break;
    }
    identical += Compare(f);
    ++compared;
  }
  // Scores are computed as FTS5 computes them, so the order should agree everywhere; report it.
  std::printf("differential: %d queries, %d with the identical order\n", compared, identical);
  EXPECT_GE(identical, compared * 9 / 10);

  // A page in the middle agrees too.
  SearchQuery page;
  page.text = "d";
  page.offset = 7;
  page.limit = 9;
  page.filter.visibility = DatasetVisibility::Unrestricted();
  Compare(page);
}

}  // namespace
}  // namespace smartby::catalogue
