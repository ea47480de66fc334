#include "services/audit/merkle.h"

#include <openssl/evp.h>

#include <bit>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace smartby::merkle {
namespace {

// SHA-256 through a digest fetched once and a context reused per thread: OpenSSL 3's one-shot
// helpers fetch the algorithm on every call, which costs more than hashing a 65-byte node.
const EVP_MD* Sha256() {
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) throw std::runtime_error("OpenSSL: SHA256 not available");
    return fetched;
  }();
  return md;
}

struct ThreadContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~ThreadContext() { EVP_MD_CTX_free(ctx); }
};

Hash Digest2(absl::string_view a, absl::string_view b, absl::string_view c = {}) {
  thread_local ThreadContext tc;
  Hash out;
  unsigned int len = 0;
  if (tc.ctx == nullptr || EVP_DigestInit_ex2(tc.ctx, Sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(tc.ctx, a.data(), a.size()) != 1 ||
      (!b.empty() && EVP_DigestUpdate(tc.ctx, b.data(), b.size()) != 1) ||
      (!c.empty() && EVP_DigestUpdate(tc.ctx, c.data(), c.size()) != 1) ||
      EVP_DigestFinal_ex(tc.ctx, out.data(), &len) != 1 || len != out.size()) {
    throw std::runtime_error("OpenSSL: SHA-256 failed");
  }
  return out;
}

absl::string_view View(const Hash& h) {
  return absl::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

absl::Status CheckLength(absl::string_view what, absl::string_view bytes) {
  if (bytes.size() != sizeof(Hash)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", bytes.size(), " bytes, not a 32-byte SHA-256 hash"));
  }
  return absl::OkStatus();
}

Hash NodeHashBytes(absl::string_view left, absl::string_view right) {
  static constexpr char kNodePrefix = 0x01;
  return Digest2(absl::string_view(&kNodePrefix, 1), left, right);
}

bool Equal(const Hash& h, absl::string_view bytes) {
  return bytes.size() == h.size() && std::memcmp(h.data(), bytes.data(), h.size()) == 0;
}

// Largest power of two strictly smaller than n (n >= 2): RFC 6962's split point k.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

// MTH over leaves [begin, begin + size), where `begin` is a multiple of bit_ceil(size) (always
// true for the ranges the RFC 6962 recursion visits). One read per complete subtree: popcount.
absl::StatusOr<Hash> RangeHash(HashReader& hashes, uint64_t begin, uint64_t size) {
  if (size == 0) return EmptyRoot();
  // Complete subtrees left to right, largest first; fold them right to left.
  Hash subtrees[64];
  int count = 0;
  uint64_t offset = begin;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if ((size & width) == 0) continue;
    absl::StatusOr<Hash> h = hashes.GetHash(level, offset >> level);
    if (!h.ok()) return h.status();
    subtrees[count++] = *h;
    offset += width;
  }
  Hash acc = subtrees[count - 1];
  for (int i = count - 2; i >= 0; --i) acc = NodeHash(subtrees[i], acc);
  return acc;
}

}  // namespace

Hash LeafHash(absl::string_view data) {
  static constexpr char kLeafPrefix = 0x00;
  return Digest2(absl::string_view(&kLeafPrefix, 1), data);
}

Hash NodeHash(const Hash& left, const Hash& right) { return NodeHashBytes(View(left), View(right)); }

Hash EmptyRoot() {
  static const Hash empty = Digest2({}, {});
  return empty;
}

std::string ToHex(const Hash& hash) { return absl::BytesToHexString(View(hash)); }

std::string ToBytes(const Hash& hash) { return std::string(View(hash)); }

std::vector<std::string> ToBytes(const std::vector<Hash>& hashes) {
  std::vector<std::string> out;
  out.reserve(hashes.size());
  for (const Hash& h : hashes) out.push_back(ToBytes(h));
  return out;
}

absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes) {
  if (absl::Status s = CheckLength("hash", bytes); !s.ok()) return s;
  Hash h;
  std::memcpy(h.data(), bytes.data(), h.size());
  return h;
}

// ---- Verification ----

absl::Status VerifyInclusion(uint64_t index, uint64_t tree_size, absl::string_view leaf_hash,
                             const std::vector<std::string>& proof, absl::string_view root) {
  if (absl::Status s = CheckLength("leaf hash", leaf_hash); !s.ok()) return s;
  if (absl::Status s = CheckLength("root hash", root); !s.ok()) return s;
  if (index >= tree_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("leaf index ", index, " is not in a tree of size ", tree_size));
  }
  for (size_t i = 0; i < proof.size(); ++i) {
    if (absl::Status s = CheckLength(absl::StrCat("inclusion proof element ", i), proof[i]);
        !s.ok()) {
      return s;
    }
  }
  // RFC 9162 §2.1.3.2.
  uint64_t fn = index;
  uint64_t sn = tree_size - 1;
  Hash r;
  std::memcpy(r.data(), leaf_hash.data(), r.size());
  for (const std::string& p : proof) {
    if (sn == 0) {
      return absl::InvalidArgumentError(absl::StrCat("inclusion proof has ", proof.size(),
                                                     " elements: too long for leaf ", index,
                                                     " in a tree of size ", tree_size));
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHashBytes(p, View(r));
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = NodeHashBytes(View(r), p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::InvalidArgumentError(absl::StrCat("inclusion proof has ", proof.size(),
                                                   " elements: too short for leaf ", index,
                                                   " in a tree of size ", tree_size));
  }
  if (!Equal(r, root)) {
    return absl::FailedPreconditionError(
        absl::StrCat("inclusion proof for leaf ", index, " computes root ", ToHex(r),
                     ", not the given root of the tree of size ", tree_size));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t size1, uint64_t size2, absl::string_view root1,
                               absl::string_view root2, const std::vector<std::string>& proof) {
  // Hash-length checking comes first, for every size (see the quirk in
  // shared/testvectors/merkle/README.md): a "root" that is not 32 bytes is never accepted.
  if (absl::Status s = CheckLength("first root hash", root1); !s.ok()) return s;
  if (absl::Status s = CheckLength("second root hash", root2); !s.ok()) return s;
  for (size_t i = 0; i < proof.size(); ++i) {
    if (absl::Status s = CheckLength(absl::StrCat("consistency proof element ", i), proof[i]);
        !s.ok()) {
      return s;
    }
  }
  if (size1 > size2) {
    return absl::InvalidArgumentError(
        absl::StrCat("first tree size ", size1, " exceeds second tree size ", size2));
  }
  if (size1 == 0) {
    // RFC 9162 §2.1.4 defines proofs for 0 < m only: every tree extends the empty one, so a
    // "proof" from size 0 proves nothing and is refused rather than silently accepted.
    return absl::InvalidArgumentError("consistency proof from an empty tree (size 0) proves nothing");
  }
  if (size1 == size2) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "consistency proof between equal sizes must be empty, has ", proof.size(), " elements"));
    }
    if (root1 != root2) {
      return absl::FailedPreconditionError(
          absl::StrCat("roots of the same tree size ", size1, " differ"));
    }
    return absl::OkStatus();
  }
  // RFC 9162 §2.1.4.2.
  if (proof.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty consistency proof between sizes ", size1, " and ", size2));
  }
  std::vector<absl::string_view> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(size1)) path.push_back(root1);
  for (const std::string& p : proof) path.push_back(p);

  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr;
  std::memcpy(fr.data(), path[0].data(), fr.size());
  Hash sr = fr;
  for (size_t i = 1; i < path.size(); ++i) {
    const absl::string_view c = path[i];
    if (sn == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "consistency proof has ", proof.size(), " elements: too long for sizes ", size1,
          " and ", size2));
    }
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHashBytes(c, View(fr));
      sr = NodeHashBytes(c, View(sr));
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = NodeHashBytes(View(sr), c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::InvalidArgumentError(absl::StrCat("consistency proof has ", proof.size(),
                                                   " elements: too short for sizes ", size1,
                                                   " and ", size2));
  }
  if (!Equal(fr, root1)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "consistency proof computes first root ", ToHex(fr), ", not the given root of size ",
        size1));
  }
  if (!Equal(sr, root2)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "consistency proof computes second root ", ToHex(sr), ", not the given root of size ",
        size2));
  }
  return absl::OkStatus();
}

// ---- The tree over stored hashes ----

absl::StatusOr<Hash> RootAt(HashReader& hashes, uint64_t tree_size) {
  return RangeHash(hashes, 0, tree_size);
}

absl::StatusOr<std::vector<Hash>> InclusionProof(HashReader& hashes, uint64_t index,
                                                 uint64_t tree_size) {
  if (index >= tree_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("leaf index ", index, " is not in a tree of size ", tree_size));
  }
  // PATH(m, D[begin:begin+n]) (RFC 9162 §2.1.3.1) unrolled from the root down; the siblings are
  // collected root first and reversed at the end, since the proof runs leaf to root. Every left
  // sibling is a complete subtree (one read); a right sibling is incomplete at most once (where
  // the path first turns left), so the whole proof takes O(log n) reads.
  std::vector<Hash> proof;
  proof.reserve(64);
  uint64_t begin = 0;
  uint64_t n = tree_size;
  uint64_t m = index;
  while (n > 1) {
    const uint64_t k = SplitPoint(n);
    absl::StatusOr<Hash> sibling;
    if (m < k) {
      sibling = RangeHash(hashes, begin + k, n - k);
      n = k;
    } else {
      sibling = RangeHash(hashes, begin, k);
      begin += k;
      m -= k;
      n -= k;
    }
    if (!sibling.ok()) return sibling.status();
    proof.push_back(*sibling);
  }
  return std::vector<Hash>(proof.rbegin(), proof.rend());
}

absl::StatusOr<std::vector<Hash>> ConsistencyProof(HashReader& hashes, uint64_t size1,
                                                   uint64_t size2) {
  if (size1 > size2) {
    return absl::InvalidArgumentError(
        absl::StrCat("first tree size ", size1, " exceeds second tree size ", size2));
  }
  std::vector<Hash> proof;
  if (size1 == 0 || size1 == size2) return proof;  // nothing to prove (RFC 9162 §2.1.4.1)
  // SUBPROOF(m, D[begin:begin+n], b) unrolled, collected root first then reversed.
  proof.reserve(64);
  uint64_t begin = 0;
  uint64_t n = size2;
  uint64_t m = size1;
  bool whole = true;  // b: is D[begin:begin+m] the old tree itself?
  while (m != n) {
    const uint64_t k = SplitPoint(n);
    absl::StatusOr<Hash> h;
    if (m <= k) {
      h = RangeHash(hashes, begin + k, n - k);
      n = k;
    } else {
      h = RangeHash(hashes, begin, k);
      begin += k;
      m -= k;
      n -= k;
      whole = false;
    }
    if (!h.ok()) return h.status();
    proof.push_back(*h);
  }
  if (!whole) {
    absl::StatusOr<Hash> h = RangeHash(hashes, begin, n);
    if (!h.ok()) return h.status();
    proof.push_back(*h);
  }
  return std::vector<Hash>(proof.rbegin(), proof.rend());
}

absl::StatusOr<CompactRange> CompactRange::Load(HashReader& hashes, uint64_t size) {
  CompactRange range;
  uint64_t offset = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if ((size & width) == 0) continue;
    absl::StatusOr<Hash> h = hashes.GetHash(level, offset >> level);
    if (!h.ok()) {
      return absl::Status(h.status().code(),
                          absl::StrCat("loading the compact range of tree size ", size,
                                       ": hash at level ", level, " index ", offset >> level,
                                       ": ", h.status().message()));
    }
    range.right_edge_.push_back(*h);
    offset += width;
  }
  range.size_ = size;
  return range;
}

std::vector<CompactRange::NewNode> CompactRange::Append(const Hash& leaf_hash) {
  std::vector<NewNode> out;
  out.reserve(1 + std::countr_one(size_));
  uint64_t index = size_;
  int level = 0;
  Hash h = leaf_hash;
  out.push_back({0, index, h});
  while ((index & 1) != 0) {
    h = NodeHash(right_edge_.back(), h);
    right_edge_.pop_back();
    index >>= 1;
    ++level;
    out.push_back({level, index, h});
  }
  right_edge_.push_back(h);
  ++size_;
  return out;
}

Hash CompactRange::Root() const {
  if (right_edge_.empty()) return EmptyRoot();
  Hash acc = right_edge_.back();
  for (size_t i = right_edge_.size() - 1; i-- > 0;) acc = NodeHash(right_edge_[i], acc);
  return acc;
}

// ---- MemoryHashStore ----

void MemoryHashStore::Put(int level, uint64_t index, const Hash& hash) {
  if (level < 0 || level > 63) return;
  if (levels_.size() <= static_cast<size_t>(level)) {
    levels_.resize(level + 1);
    present_.resize(level + 1);
  }
  auto& hashes = levels_[level];
  auto& present = present_[level];
  if (hashes.size() <= index) {
    hashes.resize(index + 1);
    present.resize(index + 1, false);
  }
  hashes[index] = hash;
  present[index] = true;
}

void MemoryHashStore::Reserve(uint64_t leaves) {
  const int top = leaves <= 1 ? 1 : std::bit_width(leaves - 1) + 1;
  if (levels_.size() < static_cast<size_t>(top)) {
    levels_.resize(top);
    present_.resize(top);
  }
  for (int level = 0; level < top; ++level) {
    levels_[level].reserve(leaves >> level);
    present_[level].reserve(leaves >> level);
  }
}

absl::StatusOr<Hash> MemoryHashStore::GetHash(int level, uint64_t index) {
  ++reads_;
  if (level < 0 || static_cast<size_t>(level) >= levels_.size() ||
      index >= levels_[level].size() || !present_[level][index]) {
    return absl::NotFoundError(absl::StrCat("no hash stored at level ", level, " index ", index));
  }
  return levels_[level][index];
}

}  // namespace smartby::merkle
