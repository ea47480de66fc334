#include "services/audit/merkle.h"

#include <openssl/sha.h>

#include <bit>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace smartby::merkle {
namespace {

namespace fs = std::filesystem;

std::string Unhex(absl::string_view hex) { return absl::HexStringToBytes(hex); }

// Independent SHA-256 (OpenSSL's one-shot) for the known answers.
Hash Sha256(absl::string_view data) {
  Hash h;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), h.data());
  return h;
}

// ---------------------------------------------------------------------------------------------
// Known answers (shared/testvectors/merkle/README.md).

TEST(MerkleHashes, KnownAnswers) {
  EXPECT_EQ(ToHex(EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ToHex(LeafHash("")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(ToHex(LeafHash("L123456")),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
  // The node known answer is over raw 4-byte "children" (NodeHash takes 32-byte hashes): check
  // the answer with an independent SHA-256 and check NodeHash's framing H(0x01||l||r) with it.
  EXPECT_EQ(ToHex(Sha256(std::string("\x01", 1) + "N123" + "N456")),
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb");
  const Hash l = LeafHash("left"), r = LeafHash("right");
  EXPECT_EQ(NodeHash(l, r), Sha256(std::string("\x01", 1) + ToBytes(l) + ToBytes(r)));
  EXPECT_EQ(LeafHash("abc"), Sha256(std::string("\x00", 1) + "abc"));
  EXPECT_NE(NodeHash(l, r), NodeHash(r, l));
}

const std::vector<std::string>& ReferenceLeaves() {
  static const std::vector<std::string> leaves = {
      "", Unhex("00"), Unhex("10"), Unhex("2021"), Unhex("3031"), Unhex("40414243"),
      Unhex("5051525354555657"), Unhex("606162636465666768696a6b6c6d6e6f")};
  return leaves;
}

TEST(MerkleHashes, ReferenceTreeRoots) {
  const char* kRoots[] = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  };
  CompactRange range;
  MemoryHashStore store;
  EXPECT_EQ(range.Root(), EmptyRoot());
  for (size_t i = 0; i < 8; ++i) {
    store.Put(range.Append(LeafHash(ReferenceLeaves()[i])));
    EXPECT_EQ(ToHex(range.Root()), kRoots[i]) << "size " << i + 1;
    absl::StatusOr<Hash> root = RootAt(store, i + 1);
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(ToHex(*root), kRoots[i]) << "size " << i + 1;
  }
  absl::StatusOr<Hash> empty = RootAt(store, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, EmptyRoot());
}

TEST(MerkleHashes, HashFromBytesRefusesWrongLength) {
  EXPECT_FALSE(HashFromBytes("").ok());
  EXPECT_FALSE(HashFromBytes(std::string(31, 'x')).ok());
  EXPECT_FALSE(HashFromBytes(std::string(33, 'x')).ok());
  absl::StatusOr<Hash> h = HashFromBytes(ToBytes(LeafHash("x")));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, LeafHash("x"));
}

// ---------------------------------------------------------------------------------------------
// The RFC 6962 vectors (transparency-dev/merkle testdata), every file.

fs::path VectorDir() {
  if (const char* shared = std::getenv("SMARTBY_SHARED_DIR"); shared != nullptr && *shared != '\0') {
    fs::path p = fs::path(shared) / "testvectors" / "merkle";
    if (fs::is_directory(p)) return p;
  }
  if (const char* src = std::getenv("SMARTBY_SOURCE_DIR"); src != nullptr && *src != '\0') {
    fs::path p = fs::path(src) / ".." / "shared" / "testvectors" / "merkle";
    if (fs::is_directory(p)) return p;
  }
  return "/work/shared/testvectors/merkle";
}

std::string B64(const nlohmann::json& j) {
  if (j.is_null()) return "";
  std::string out;
  const std::string in = j.get<std::string>();
  EXPECT_TRUE(absl::Base64Unescape(in, &out)) << "bad base64 in vector: " << in;
  return out;
}

std::vector<std::string> B64List(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j.is_null()) return out;  // a null proof is an empty proof
  for (const auto& e : j) out.push_back(B64(e));
  return out;
}

// The one vector on which we deliberately differ from upstream (README "Known quirks"): its
// two "roots" are the same 12-byte string and upstream accepts it because it only compares the
// roots when size1 == size2. Decision: HASH-LENGTH CHECKING. Our verifiers refuse any hash that
// is not exactly 32 bytes, so this file must be REJECTED; every other file is judged by its
// wantErr as given.
constexpr absl::string_view kQuirkFile = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json";

TEST(MerkleVectors, EveryFilePasses) {
  const fs::path dir = VectorDir();
  ASSERT_TRUE(fs::is_directory(dir)) << "test vectors not found at " << dir;
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 196u) << "expected 196 vector files (98 inclusion, 98 consistency) under "
                                << dir << ", found " << files.size();

  int inclusion = 0, consistency = 0, accepted = 0, rejected = 0, quirk_seen = 0;
  for (const fs::path& file : files) {
    const std::string rel = fs::relative(file, dir).generic_string();
    SCOPED_TRACE(rel);
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    const nlohmann::json v = nlohmann::json::parse(ss.str());
    bool want_ok = !v.at("wantErr").get<bool>();
    const bool quirk = rel == kQuirkFile;
    if (quirk) {
      ++quirk_seen;
      EXPECT_TRUE(want_ok) << "the quirk file changed upstream; revisit the decision";
      want_ok = false;  // hash-length checking: 12-byte "roots" are refused
    }
    absl::Status status;
    if (rel.rfind("inclusion/", 0) == 0) {
      ++inclusion;
      status = VerifyInclusion(v.at("leafIdx").get<uint64_t>(), v.at("treeSize").get<uint64_t>(),
                               B64(v.at("leafHash")), B64List(v.at("proof")), B64(v.at("root")));
    } else if (rel.rfind("consistency/", 0) == 0) {
      ++consistency;
      status = VerifyConsistency(v.at("size1").get<uint64_t>(), v.at("size2").get<uint64_t>(),
                                 B64(v.at("root1")), B64(v.at("root2")), B64List(v.at("proof")));
    } else {
      ADD_FAILURE() << "vector file outside inclusion/ and consistency/";
      continue;
    }
    EXPECT_EQ(status.ok(), want_ok) << v.value("desc", "") << ": " << status;
    if (quirk) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
      EXPECT_THAT(std::string(status.message()), testing::HasSubstr("not a 32-byte"));
    }
    (status.ok() ? accepted : rejected)++;
  }
  EXPECT_EQ(inclusion, 98);
  EXPECT_EQ(consistency, 98);
  EXPECT_EQ(quirk_seen, 1);
  EXPECT_EQ(accepted, 11);  // the 12 upstream successes minus the quirk file
  EXPECT_EQ(rejected, static_cast<int>(files.size()) - 11);
}

// ---------------------------------------------------------------------------------------------
// Differential test against the RFC 6962 §2.1.1-2.1.2 definitions, written as literally as
// possible: MTH, PATH and PROOF/SUBPROOF recursing over D[a:b]. MTH is memoised by range (the
// definition is unchanged; this only keeps 180,000 proofs from recomputing the same subtrees).

class NaiveTree {
 public:
  explicit NaiveTree(std::vector<Hash> leaf_hashes) : leaves_(std::move(leaf_hashes)) {}

  Hash MTH(uint64_t a, uint64_t b) {
    const uint64_t n = b - a;
    if (n == 0) return Sha256("");
    if (n == 1) return leaves_[a];
    const uint64_t key = a * (leaves_.size() + 1) + b;
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    uint64_t k = 1;
    while (k * 2 < n) k *= 2;  // largest power of two smaller than n
    const Hash h = Sha256(std::string("\x01", 1) + ToBytes(MTH(a, a + k)) + ToBytes(MTH(a + k, b)));
    memo_.emplace(key, h);
    return h;
  }

  // PATH(m, D[a:b])
  std::vector<Hash> PATH(uint64_t m, uint64_t a, uint64_t b) {
    const uint64_t n = b - a;
    if (n == 1) return {};
    uint64_t k = 1;
    while (k * 2 < n) k *= 2;
    std::vector<Hash> out;
    if (m < k) {
      out = PATH(m, a, a + k);
      out.push_back(MTH(a + k, b));
    } else {
      out = PATH(m - k, a + k, b);
      out.push_back(MTH(a, a + k));
    }
    return out;
  }

  // SUBPROOF(m, D[a:b], flag)
  std::vector<Hash> SUBPROOF(uint64_t m, uint64_t a, uint64_t b, bool flag) {
    const uint64_t n = b - a;
    if (m == n) {
      if (flag) return {};
      return {MTH(a, b)};
    }
    uint64_t k = 1;
    while (k * 2 < n) k *= 2;
    std::vector<Hash> out;
    if (m <= k) {
      out = SUBPROOF(m, a, a + k, flag);
      out.push_back(MTH(a + k, b));
    } else {
      out = SUBPROOF(m - k, a + k, b, false);
      out.push_back(MTH(a, a + k));
    }
    return out;
  }
  std::vector<Hash> PROOF(uint64_t m, uint64_t n) { return SUBPROOF(m, 0, n, true); }

 private:
  std::vector<Hash> leaves_;
  std::unordered_map<uint64_t, Hash> memo_;
};

std::string LeafData(uint64_t i) {
  // Varied lengths and contents, like serialized entries.
  return absl::StrCat("{\"index\":", i, ",\"actor\":\"user-", i * 7919 % 1000, "\",\"pad\":\"",
                      std::string(i % 37, static_cast<char>('a' + i % 26)), "\"}");
}

int Log2Ceil(uint64_t n) { return n <= 1 ? 0 : std::bit_width(n - 1); }

constexpr uint64_t kMaxDiffSize = 600;

class MerkleDifferential : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<Hash> leaves;
    store_ = new MemoryHashStore;
    CompactRange range;
    for (uint64_t i = 0; i < kMaxDiffSize; ++i) {
      leaves.push_back(LeafHash(LeafData(i)));
      std::vector<CompactRange::NewNode> nodes = range.Append(leaves.back());
      // Leaf first, then the completed parents bottom-up, each at the right position.
      EXPECT_EQ(nodes.size(), 1u + std::countr_one(i));
      EXPECT_EQ(nodes[0].level, 0);
      EXPECT_EQ(nodes[0].index, i);
      for (size_t j = 1; j < nodes.size(); ++j) {
        EXPECT_EQ(nodes[j].level, static_cast<int>(j));
        EXPECT_EQ(nodes[j].index, i >> j);
      }
      store_->Put(nodes);
      compact_roots_.push_back(range.Root());
    }
    naive_ = new NaiveTree(leaves);
  }
  static void TearDownTestSuite() {
    delete store_;
    delete naive_;
  }
  static MemoryHashStore* store_;
  static NaiveTree* naive_;
  static std::vector<Hash> compact_roots_;  // [n - 1] = root after n appends
};
MemoryHashStore* MerkleDifferential::store_ = nullptr;
NaiveTree* MerkleDifferential::naive_ = nullptr;
std::vector<Hash> MerkleDifferential::compact_roots_;

TEST_F(MerkleDifferential, RootsForEverySize) {
  for (uint64_t n = 1; n <= kMaxDiffSize; ++n) {
    const Hash want = naive_->MTH(0, n);
    EXPECT_EQ(compact_roots_[n - 1], want) << "CompactRange root, size " << n;
    const uint64_t before = store_->reads();
    absl::StatusOr<Hash> root = RootAt(*store_, n);
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(*root, want) << "RootAt, size " << n;
    EXPECT_EQ(store_->reads() - before, static_cast<uint64_t>(std::popcount(n)));

    absl::StatusOr<CompactRange> loaded = CompactRange::Load(*store_, n);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->size(), n);
    EXPECT_EQ(loaded->Root(), want) << "Load round trip, size " << n;
  }
}

TEST_F(MerkleDifferential, EveryInclusionProofForEverySize) {
  uint64_t proofs = 0;
  for (uint64_t n = 1; n <= kMaxDiffSize; ++n) {
    const Hash root = naive_->MTH(0, n);
    const std::string root_bytes = ToBytes(root);
    for (uint64_t m = 0; m < n; ++m) {
      const std::vector<Hash> want = naive_->PATH(m, 0, n);
      const uint64_t before = store_->reads();
      absl::StatusOr<std::vector<Hash>> got = InclusionProof(*store_, m, n);
      const uint64_t reads = store_->reads() - before;
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(*got, want) << "inclusion proof m=" << m << " n=" << n;
      // O(log n): one read per proof element, plus one incomplete right sibling.
      EXPECT_LE(reads, 2u * Log2Ceil(n) + 1) << "m=" << m << " n=" << n;
      const std::string leaf = ToBytes(naive_->MTH(m, m + 1));
      ASSERT_TRUE(VerifyInclusion(m, n, leaf, ToBytes(want), root_bytes).ok())
          << "m=" << m << " n=" << n;
      // The same proof must not verify for a neighbouring index or a different size.
      if (n > 1) {
        EXPECT_FALSE(VerifyInclusion((m + 1) % n, n, leaf, ToBytes(want), root_bytes).ok());
      }
      // Nor against the next tree's root. (Against this root with size n + 1 it may verify:
      // a proof binds the size only through the root, i.e. through the signed checkpoint.)
      if (n < kMaxDiffSize) {
        EXPECT_FALSE(
            VerifyInclusion(m, n + 1, leaf, ToBytes(want), ToBytes(naive_->MTH(0, n + 1))).ok());
      }
      ++proofs;
    }
    EXPECT_EQ(InclusionProof(*store_, n, n).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(proofs, kMaxDiffSize * (kMaxDiffSize + 1) / 2);
}

TEST_F(MerkleDifferential, EveryConsistencyProofUpTo600) {
  uint64_t proofs = 0;
  for (uint64_t n = 1; n <= kMaxDiffSize; ++n) {
    const std::string root2 = ToBytes(naive_->MTH(0, n));
    for (uint64_t m = 1; m <= n; ++m) {
      const std::vector<Hash> want = naive_->PROOF(m, n);
      const uint64_t before = store_->reads();
      absl::StatusOr<std::vector<Hash>> got = ConsistencyProof(*store_, m, n);
      const uint64_t reads = store_->reads() - before;
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(*got, want) << "consistency proof m=" << m << " n=" << n;
      EXPECT_LE(reads, 2u * Log2Ceil(n) + 2) << "m=" << m << " n=" << n;
      const std::string root1 = ToBytes(naive_->MTH(0, m));
      ASSERT_TRUE(VerifyConsistency(m, n, root1, root2, ToBytes(want)).ok())
          << "m=" << m << " n=" << n;
      if (m < n) {
        // A wrong old root, or the proof used for a neighbouring size, must fail.
        EXPECT_FALSE(VerifyConsistency(m, n, root2, root2, ToBytes(want)).ok());
        if (m > 1) {
          EXPECT_FALSE(VerifyConsistency(m - 1, n, root1, root2, ToBytes(want)).ok());
        }
      }
      ++proofs;
    }
  }
  EXPECT_EQ(proofs, kMaxDiffSize * (kMaxDiffSize + 1) / 2);
}

// Trees across tile (256) and power-of-two boundaries, larger than the exhaustive range:
// random sizes and indices up to 5,000 leaves.
TEST(MerkleLarger, RandomSizesAgainstNaive) {
  constexpr uint64_t kN = 5000;
  std::vector<Hash> leaves;
  MemoryHashStore store;
  CompactRange range;
  for (uint64_t i = 0; i < kN; ++i) {
    leaves.push_back(LeafHash(LeafData(i)));
    store.Put(range.Append(leaves.back()));
  }
  NaiveTree naive(leaves);
  std::mt19937_64 rng(6962);
  std::vector<uint64_t> sizes = {255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097,
                                 kN};
  for (int i = 0; i < 40; ++i) sizes.push_back(1 + rng() % kN);
  for (uint64_t n : sizes) {
    const Hash root = naive.MTH(0, n);
    absl::StatusOr<Hash> got_root = RootAt(store, n);
    ASSERT_TRUE(got_root.ok());
    ASSERT_EQ(*got_root, root) << n;
    for (int j = 0; j < 50; ++j) {
      const uint64_t m = j == 0 ? n - 1 : rng() % n;
      absl::StatusOr<std::vector<Hash>> p = InclusionProof(store, m, n);
      ASSERT_TRUE(p.ok());
      ASSERT_EQ(*p, naive.PATH(m, 0, n)) << m << "/" << n;
      EXPECT_TRUE(VerifyInclusion(m, n, ToBytes(leaves[m]), ToBytes(*p), ToBytes(root)).ok());
      const uint64_t m1 = 1 + rng() % n;
      absl::StatusOr<std::vector<Hash>> c = ConsistencyProof(store, m1, n);
      ASSERT_TRUE(c.ok());
      ASSERT_EQ(*c, naive.PROOF(m1, n)) << m1 << "/" << n;
      EXPECT_TRUE(
          VerifyConsistency(m1, n, ToBytes(naive.MTH(0, m1)), ToBytes(root), ToBytes(*c)).ok());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Verification edge cases and refusals.

class MerkleSmall : public testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t i = 0; i < 8; ++i) store_.Put(range_.Append(LeafHash(ReferenceLeaves()[i])));
  }
  MemoryHashStore store_;
  CompactRange range_;
};

TEST_F(MerkleSmall, InclusionRefusesWrongLengthHashes) {
  absl::StatusOr<std::vector<Hash>> proof = InclusionProof(store_, 5, 8);
  ASSERT_TRUE(proof.ok());
  const std::string leaf = ToBytes(LeafHash(ReferenceLeaves()[5]));
  const std::string root = ToBytes(range_.Root());
  std::vector<std::string> p = ToBytes(*proof);
  ASSERT_TRUE(VerifyInclusion(5, 8, leaf, p, root).ok());

  EXPECT_EQ(VerifyInclusion(5, 8, leaf.substr(0, 31), p, root).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(5, 8, leaf, p, root + "x").code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> short_elem = p;
  short_elem[1].pop_back();
  EXPECT_EQ(VerifyInclusion(5, 8, leaf, short_elem, root).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::string> empty_elem = p;
  empty_elem.push_back("");
  EXPECT_EQ(VerifyInclusion(5, 8, leaf, empty_elem, root).code(),
            absl::StatusCode::kInvalidArgument);
  // Too long / too short proofs and a flipped bit.
  std::vector<std::string> longer = p;
  longer.push_back(p[0]);
  EXPECT_FALSE(VerifyInclusion(5, 8, leaf, longer, root).ok());
  std::vector<std::string> shorter(p.begin(), p.end() - 1);
  EXPECT_FALSE(VerifyInclusion(5, 8, leaf, shorter, root).ok());
  std::vector<std::string> flipped = p;
  flipped[2][7] ^= 0x10;
  EXPECT_EQ(VerifyInclusion(5, 8, leaf, flipped, root).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(VerifyInclusion(8, 8, leaf, p, root).ok());
  EXPECT_FALSE(VerifyInclusion(0, 0, leaf, {}, ToBytes(EmptyRoot())).ok());
}

TEST_F(MerkleSmall, ConsistencyEdgeCases) {
  const std::string r8 = ToBytes(range_.Root());
  absl::StatusOr<Hash> r6 = RootAt(store_, 6);
  ASSERT_TRUE(r6.ok());
  absl::StatusOr<std::vector<Hash>> proof = ConsistencyProof(store_, 6, 8);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(VerifyConsistency(6, 8, ToBytes(*r6), r8, ToBytes(*proof)).ok());
  // Equal sizes: empty proof and equal (32-byte) roots.
  EXPECT_TRUE(VerifyConsistency(8, 8, r8, r8, {}).ok());
  EXPECT_FALSE(VerifyConsistency(8, 8, r8, r8, {r8}).ok());
  EXPECT_FALSE(VerifyConsistency(8, 8, ToBytes(*r6), r8, {}).ok());
  // The quirk, in isolation: equal sizes, equal but 12-byte roots.
  EXPECT_EQ(VerifyConsistency(1, 1, "don't care 2", "don't care 2", {}).code(),
            absl::StatusCode::kInvalidArgument);
  // From size 0, and size1 > size2.
  EXPECT_FALSE(VerifyConsistency(0, 8, ToBytes(EmptyRoot()), r8, {}).ok());
  EXPECT_FALSE(VerifyConsistency(8, 6, r8, ToBytes(*r6), ToBytes(*proof)).ok());
  EXPECT_FALSE(ConsistencyProof(store_, 8, 6).ok());
  absl::StatusOr<std::vector<Hash>> same = ConsistencyProof(store_, 8, 8);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty());
}

TEST_F(MerkleSmall, MissingStoredHashIsAnError) {
  MemoryHashStore empty;
  EXPECT_EQ(RootAt(empty, 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(InclusionProof(empty, 1, 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ConsistencyProof(empty, 1, 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(CompactRange::Load(empty, 3).status().code(), absl::StatusCode::kNotFound);
  // Beyond what the store holds.
  EXPECT_FALSE(RootAt(store_, 9).ok());
}

TEST(MerkleCompactRange, LoadThenAppendContinuesTheSameTree) {
  MemoryHashStore store;
  CompactRange full;
  for (uint64_t i = 0; i < 300; ++i) store.Put(full.Append(LeafHash(LeafData(i))));
  for (uint64_t cut : {1u, 2u, 7u, 64u, 129u, 255u, 256u}) {
    // A store holding only the first `cut` leaves' nodes, then continue appending from Load.
    MemoryHashStore partial;
    CompactRange first;
    for (uint64_t i = 0; i < cut; ++i) partial.Put(first.Append(LeafHash(LeafData(i))));
    absl::StatusOr<CompactRange> loaded = CompactRange::Load(partial, cut);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->Root(), first.Root());
    for (uint64_t i = cut; i < 300; ++i) {
      const std::vector<CompactRange::NewNode> nodes = loaded->Append(LeafHash(LeafData(i)));
      for (const auto& node : nodes) {
        absl::StatusOr<Hash> want = store.GetHash(node.level, node.index);
        ASSERT_TRUE(want.ok());
        EXPECT_EQ(node.hash, *want) << "cut " << cut << " level " << node.level;
      }
    }
    EXPECT_EQ(loaded->size(), 300u);
    EXPECT_EQ(loaded->Root(), full.Root()) << "cut " << cut;
  }
  absl::StatusOr<CompactRange> zero = CompactRange::Load(store, 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->Root(), EmptyRoot());
}

}  // namespace
}  // namespace smartby::merkle
