// Audit log verification benchmark (issue 4: "full verification >= 250,000 entries/s on one
// core"; "inclusion proof on a 10,000,000-entry log p99 <= 10 ms").
//
//   audit_verify_bench [--entries N] [--proof-leaves N] [--proofs N] [--rounds N]
//
// 1. Full verification, one thread: hash every entry as a leaf, rebuild the tree with
//    CompactRange (the sequencer's code path, including its new-node output), compare the root
//    with the expected one. Baseline in the same run: plain SHA-256 over the same bytes.
// 2. Proof generation over an in-memory HashReader of --proof-leaves leaves (all levels
//    stored): InclusionProof / ConsistencyProof latency p50/p99, plus VerifyInclusion.
#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/audit/merkle.h"

namespace merkle = smartby::merkle;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Entries shaped like the audit log's serialized entries: index, times, service and sequence,
// actor, source address, action, resource, outcome, request id and bounded JSON details.
struct Entries {
  std::string bytes;
  std::vector<uint64_t> offsets;  // entry i = bytes[offsets[i], offsets[i + 1])
  size_t size() const { return offsets.size() - 1; }
  const char* data(size_t i) const { return bytes.data() + offsets[i]; }
  size_t length(size_t i) const { return offsets[i + 1] - offsets[i]; }
};

Entries MakeEntries(size_t n) {
  static const char* kServices[] = {"catalogue", "auth", "datasets", "sensors", "gateway"};
  static const char* kActions[] = {"/smartcity.catalogue.v1.Catalogue/UpdateDataset",
                                   "/smartcity.auth.v1.Auth/Login",
                                   "/smartcity.datasets.v1.Datasets/ReadRecords",
                                   "/smartcity.sensors.v1.Sensors/Ingest"};
  static const char* kClasses[] = {"open", "internal", "restricted", "confidential"};
  std::mt19937_64 rng(9162);
  Entries e;
  e.bytes.reserve(n * 360);
  e.offsets.reserve(n + 1);
  const uint64_t t0 = 1767225600000000;  // 2026-01-01 in microseconds
  for (size_t i = 0; i < n; ++i) {
    e.offsets.push_back(e.bytes.size());
    const uint64_t r = rng();
    const uint64_t t = t0 + i * 1000 + (r & 0x3ff);
    std::string details((r >> 10) % 40, 'x');
    for (char& c : details) c = static_cast<char>('a' + rng() % 26);
    absl::StrAppend(&e.bytes, "{\"index\":", i, ",\"time\":", t, ",\"claimed\":", t - (r & 0xfff),
                    ",\"service\":\"", kServices[r % 5], "\",\"seq\":", i / 5 + 1,
                    ",\"actor\":{\"subject\":\"user-", (r >> 8) % 50000,
                    "\",\"client\":\"svc-", (r >> 24) % 40,
                    "\",\"mfa\":", (r >> 3) & 1 ? "true" : "false", "},\"source\":\"10.",
                    (r >> 32) % 256, ".", (r >> 40) % 256, ".", (r >> 48) % 256,
                    "\",\"action\":\"", kActions[(r >> 5) % 4],
                    "\",\"resource\":{\"type\":\"dataset\",\"id\":\"ds-", (r >> 16) % 100000,
                    "\",\"classification\":\"", kClasses[(r >> 7) % 4], "\"},\"outcome\":",
                    (r >> 11) % 17, ",\"request_id\":\"", absl::Hex(rng(), absl::kZeroPad16),
                    "\",\"details\":{\"note\":\"", details, "\"}}");
  }
  e.offsets.push_back(e.bytes.size());
  return e;
}

// Independent expected root: the RFC 6962 tree built level by level (a lone last node is
// carried up unchanged), from leaf hashes computed in a separate pass.
merkle::Hash ExpectedRoot(const Entries& e) {
  std::vector<merkle::Hash> level;
  level.reserve(e.size());
  for (size_t i = 0; i < e.size(); ++i) {
    level.push_back(merkle::LeafHash(absl::string_view(e.data(i), e.length(i))));
  }
  while (level.size() > 1) {
    std::vector<merkle::Hash> up;
    up.reserve((level.size() + 1) / 2);
    for (size_t i = 0; i + 1 < level.size(); i += 2) up.push_back(merkle::NodeHash(level[i], level[i + 1]));
    if (level.size() % 2 == 1) up.push_back(level.back());
    level.swap(up);
  }
  return level.empty() ? merkle::EmptyRoot() : level[0];
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

uint64_t ArgOr(int argc, char** argv, const char* name, uint64_t def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::strtoull(argv[i + 1], nullptr, 10);
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t n_entries = ArgOr(argc, argv, "--entries", 1000000);
  const uint64_t proof_leaves = ArgOr(argc, argv, "--proof-leaves", 10000000);
  const uint64_t n_proofs = ArgOr(argc, argv, "--proofs", 200000);
  const int rounds = static_cast<int>(ArgOr(argc, argv, "--rounds", 5));
  int failures = 0;

  // ---- 1. Full verification ----
  std::printf("generating %llu entries...\n", static_cast<unsigned long long>(n_entries));
  const Entries entries = MakeEntries(n_entries);
  std::printf("entries: %zu, %.1f MB, mean %.0f bytes\n", entries.size(),
              entries.bytes.size() / 1e6, double(entries.bytes.size()) / entries.size());
  const merkle::Hash expected = ExpectedRoot(entries);

  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  double best_base = 1e9, best_full = 1e9, best_hash_only = 1e9;
  for (int round = 0; round < rounds; ++round) {
    // Baseline: plain SHA-256 of every entry's bytes.
    unsigned char sink[32] = {0};
    auto t0 = Clock::now();
    for (size_t i = 0; i < entries.size(); ++i) {
      unsigned char md[32];
      unsigned int len = 0;
      EVP_DigestInit_ex2(ctx, sha256, nullptr);
      EVP_DigestUpdate(ctx, entries.data(i), entries.length(i));
      EVP_DigestFinal_ex(ctx, md, &len);
      sink[i % 32] ^= md[0];
    }
    const double base = Seconds(Clock::now() - t0);
    best_base = std::min(best_base, base);

    // Leaf hashes only (to show where the time goes).
    t0 = Clock::now();
    for (size_t i = 0; i < entries.size(); ++i) {
      const merkle::Hash h = merkle::LeafHash(absl::string_view(entries.data(i), entries.length(i)));
      sink[i % 32] ^= h[0];
    }
    best_hash_only = std::min(best_hash_only, Seconds(Clock::now() - t0));

    // Full verification: leaf hashes + CompactRange + root comparison.
    t0 = Clock::now();
    merkle::CompactRange range;
    uint64_t new_nodes = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      new_nodes += range.Append(merkle::LeafHash(absl::string_view(entries.data(i), entries.length(i))))
                       .size();
    }
    const bool match = range.Root() == expected;
    const double full = Seconds(Clock::now() - t0);
    best_full = std::min(best_full, full);
    if (!match) {
      std::printf("ROOT MISMATCH in round %d: %s vs expected %s\n", round,
                  merkle::ToHex(range.Root()).c_str(), merkle::ToHex(expected).c_str());
      ++failures;
    }
    std::printf("round %d: sha256 %.3f s, full verification %.3f s (%llu node hashes stored), "
                "root %s%s\n",
                round, base, full, static_cast<unsigned long long>(new_nodes),
                match ? "matches" : "MISMATCH", sink[0] == 0x5a ? " " : "");
  }
  const double full_rate = entries.size() / best_full;
  const double base_rate = entries.size() / best_base;
  std::printf("\n== full verification (1 thread, best of %d) ==\n", rounds);
  std::printf("  plain SHA-256 baseline : %10.0f entries/s  (%.0f MB/s)\n", base_rate,
              entries.bytes.size() / best_base / 1e6);
  std::printf("  leaf hashes only       : %10.0f entries/s\n", entries.size() / best_hash_only);
  std::printf("  leaf hash + tree + root: %10.0f entries/s  ratio to baseline %.2fx  "
              "(target >= 250000/s: %s)\n",
              full_rate, full_rate / base_rate, full_rate >= 250000 ? "PASS" : "FAIL");
  if (full_rate < 250000) ++failures;
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(sha256);

  // ---- 2. Proofs over stored hashes ----
  if (proof_leaves > 0) {
    std::printf("\nbuilding an in-memory hash store of %llu leaves...\n",
                static_cast<unsigned long long>(proof_leaves));
    auto t0 = Clock::now();
    merkle::MemoryHashStore store;
    store.Reserve(proof_leaves);
    merkle::CompactRange range;
    for (uint64_t i = 0; i < proof_leaves; ++i) {
      char leaf[16];
      std::memcpy(leaf, &i, 8);
      std::memcpy(leaf + 8, "auditlog", 8);
      store.Put(range.Append(merkle::LeafHash(absl::string_view(leaf, 16))));
    }
    std::printf("built in %.1f s\n", Seconds(Clock::now() - t0));
    const std::string root = merkle::ToBytes(range.Root());

    std::mt19937_64 rng(42);
    std::vector<double> incl_us, cons_us, verify_us;
    incl_us.reserve(n_proofs);
    cons_us.reserve(n_proofs);
    verify_us.reserve(n_proofs);
    uint64_t reads_before = store.reads();
    for (uint64_t p = 0; p < n_proofs; ++p) {
      const uint64_t index = rng() % proof_leaves;
      auto a = Clock::now();
      absl::StatusOr<std::vector<merkle::Hash>> proof =
          merkle::InclusionProof(store, index, proof_leaves);
      auto b = Clock::now();
      incl_us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
      if (!proof.ok()) {
        std::printf("InclusionProof(%llu): %s\n", static_cast<unsigned long long>(index),
                    proof.status().ToString().c_str());
        ++failures;
        break;
      }
      if (p % 16 == 0) {
        absl::StatusOr<merkle::Hash> leaf = store.GetHash(0, index);
        const std::vector<std::string> bytes = merkle::ToBytes(*proof);
        a = Clock::now();
        const absl::Status ok = merkle::VerifyInclusion(index, proof_leaves, merkle::ToBytes(*leaf),
                                                        bytes, root);
        b = Clock::now();
        verify_us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
        if (!ok.ok()) {
          std::printf("VerifyInclusion(%llu): %s\n", static_cast<unsigned long long>(index),
                      ok.ToString().c_str());
          ++failures;
        }
        const uint64_t old_size = 1 + rng() % proof_leaves;
        a = Clock::now();
        absl::StatusOr<std::vector<merkle::Hash>> cons =
            merkle::ConsistencyProof(store, old_size, proof_leaves);
        b = Clock::now();
        cons_us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
        if (!cons.ok()) ++failures;
      }
    }
    const double reads_per_proof =
        double(store.reads() - reads_before - verify_us.size()) / (incl_us.size() + cons_us.size());
    std::printf("\n== proofs on a %llu-leaf tree (in-memory HashReader, 1 thread) ==\n",
                static_cast<unsigned long long>(proof_leaves));
    std::printf("  InclusionProof   (%zu): p50 %.2f us  p99 %.2f us  max %.2f us\n",
                incl_us.size(), Percentile(incl_us, 0.5), Percentile(incl_us, 0.99),
                *std::max_element(incl_us.begin(), incl_us.end()));
    std::printf("  ConsistencyProof (%zu): p50 %.2f us  p99 %.2f us\n", cons_us.size(),
                Percentile(cons_us, 0.5), Percentile(cons_us, 0.99));
    std::printf("  VerifyInclusion  (%zu): p50 %.2f us  p99 %.2f us\n", verify_us.size(),
                Percentile(verify_us, 0.5), Percentile(verify_us, 0.99));
    std::printf("  hash reads per proof: %.1f (log2 n = %d)\n", reads_per_proof,
                static_cast<int>(std::bit_width(proof_leaves - 1)));
  }
  std::printf("\n%s\n", failures == 0 ? "OK" : "FAILED");
  return failures == 0 ? 0 : 1;
}
