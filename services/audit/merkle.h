// The Merkle tree of the audit log, as Certificate Transparency defines it (RFC 6962 §2.1,
// restated in RFC 9162 §2.1): SHA-256, leaf hash H(0x00 || data), node hash
// H(0x01 || left || right), the root of an empty tree H(""). Proof generation over a store of
// node hashes, and proof verification that needs nothing but the hashes (smartctl verifies
// offline with it).
//
// Self-contained on purpose (OpenSSL's SHA-256 and Abseil only): the audit service, the
// runtime's writers and smartctl link it.
#ifndef SMARTBY_SERVICES_AUDIT_MERKLE_H_
#define SMARTBY_SERVICES_AUDIT_MERKLE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartby::merkle {

using Hash = std::array<uint8_t, 32>;

Hash LeafHash(absl::string_view data);
Hash NodeHash(const Hash& left, const Hash& right);
Hash EmptyRoot();
std::string ToHex(const Hash& hash);
// The 32 raw bytes as a string (the form the verifiers and the wire take), and back: a byte
// string that is not exactly 32 bytes is INVALID_ARGUMENT.
std::string ToBytes(const Hash& hash);
std::vector<std::string> ToBytes(const std::vector<Hash>& hashes);
absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes);

// ---- Verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----
// Each returns OK or INVALID_ARGUMENT / FAILED_PRECONDITION saying what does not match. Hashes
// given as byte strings must be exactly 32 bytes (a wrong-length hash is refused, never read
// past its end).

absl::Status VerifyInclusion(uint64_t index, uint64_t tree_size, absl::string_view leaf_hash,
                             const std::vector<std::string>& proof, absl::string_view root);
absl::Status VerifyConsistency(uint64_t size1, uint64_t size2, absl::string_view root1,
                               absl::string_view root2, const std::vector<std::string>& proof);

// ---- The tree over stored hashes ----

// Where the tree's hashes live: the audit store keeps, for every complete subtree, its hash
// (level 0 = leaf hashes). Level L, index i covers leaves [i * 2^L, (i + 1) * 2^L).
class HashReader {
 public:
  virtual ~HashReader() = default;
  virtual absl::StatusOr<Hash> GetHash(int level, uint64_t index) = 0;
};

// Root of the first `tree_size` leaves, reading only complete subtrees (O(log n) reads).
absl::StatusOr<Hash> RootAt(HashReader& hashes, uint64_t tree_size);
// Audit path of leaf `index` in the tree of `tree_size` leaves (RFC 9162 §2.1.3.1).
absl::StatusOr<std::vector<Hash>> InclusionProof(HashReader& hashes, uint64_t index,
                                                 uint64_t tree_size);
// Consistency proof between sizes (RFC 9162 §2.1.4.1).
absl::StatusOr<std::vector<Hash>> ConsistencyProof(HashReader& hashes, uint64_t size1,
                                                   uint64_t size2);

// Appending: given the hashes of the complete subtrees on the right edge of a tree of size n
// (the "compact range"), adding a leaf produces the new node hashes to store. Keeps O(log n)
// state in memory; the sequencer uses it so that an append writes each new node hash once.
class CompactRange {
 public:
  CompactRange() = default;
  // Restores the range of a tree of `size` leaves from stored hashes.
  static absl::StatusOr<CompactRange> Load(HashReader& hashes, uint64_t size);

  struct NewNode {
    int level;
    uint64_t index;
    Hash hash;
  };
  // Adds a leaf; returns every node hash that became complete (the leaf itself at level 0
  // first, then its completed parents).
  std::vector<NewNode> Append(const Hash& leaf_hash);

  uint64_t size() const { return size_; }
  Hash Root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> right_edge_;  // hashes of the perfect subtrees, largest first
};

// A HashReader over hashes held in memory (tests, benchmarks, smartctl's offline rebuild):
// fill it with CompactRange::Append's output. A hash never stored reads as NOT_FOUND.
class MemoryHashStore : public HashReader {
 public:
  void Put(int level, uint64_t index, const Hash& hash);
  void Put(const std::vector<CompactRange::NewNode>& nodes) {
    for (const auto& n : nodes) Put(n.level, n.index, n.hash);
  }
  absl::StatusOr<Hash> GetHash(int level, uint64_t index) override;
  // Pre-sizes every level for a tree of `leaves` leaves (avoids regrowth on big trees).
  void Reserve(uint64_t leaves);
  // Number of GetHash calls so far (tests check the O(log n) bound with it).
  uint64_t reads() const { return reads_; }

 private:
  std::vector<std::vector<Hash>> levels_;
  std::vector<std::vector<bool>> present_;
  uint64_t reads_ = 0;
};

}  // namespace smartby::merkle

#endif  // SMARTBY_SERVICES_AUDIT_MERKLE_H_
