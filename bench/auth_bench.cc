// Auth benchmark (issue 3 targets for the pieces that exist), run by hand; see bench/README.md.
// In-process only, every figure with a same-run baseline:
//   - token verification (ES256): the raw signature check is the baseline; full RFC 8725
//     verification with and without the accepted-token cache;
//   - the authorisation decision (policy.h), allowed and refused;
//   - argon2id password verification at the OWASP minimum, the cost of a password login.
// Usage: build/bench/auth_bench [seconds_per_throughput_run=3]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "services/auth/password.h"
#include "services/runtime/auth/jose.h"
#include "services/runtime/auth/policy.h"
#include "services/runtime/auth/token_verifier.h"
#include "services/runtime/clock.h"

namespace {

using Clock = std::chrono::steady_clock;
using smartby::auth::Action;
using smartby::auth::Principal;
using smartby::auth::ResourceRef;

struct Latency {
  double p50_us, p99_us;
};

// Times `op` `n` times, one call at a time.
Latency Measure(int n, const std::function<bool()>& op) {
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    if (!op()) {
      std::fprintf(stderr, "operation failed\n");
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

// Operations per second from `threads` threads over `seconds`.
double Throughput(int threads, double seconds, const std::function<bool(int)>& op) {
  std::atomic<bool> stop{false};
  std::atomic<long> done{0};
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      while (!stop.load(std::memory_order_relaxed)) {
        if (op(t)) done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  return done / std::chrono::duration<double>(Clock::now() - start).count();
}

template <typename T>
T Check(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(v.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(v);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3;
  smartby::SystemClock clock;

  // --- tokens -------------------------------------------------------------------------------
  auto key = Check(smartby::auth::SigningKey::GenerateES256("k1"), "key");
  auto public_key = Check(key.PublicKey(), "public key");
  smartby::auth::StaticKeySource source({public_key});
  auto keys = std::make_shared<smartby::auth::CachedKeySet>(&source, &clock);
  smartby::auth::IssuerConfig issuer;
  issuer.issuer = "https://auth.smartby.example";
  issuer.audiences = {"smartby"};
  issuer.allowed_algs = {"ES256"};
  issuer.keys = keys;
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::string token = Check(
      smartby::auth::SignJwt(key, nullptr,
                             {{"iss", issuer.issuer}, {"aud", "smartby"}, {"sub", "user:alice"},
                              {"iat", now}, {"exp", now + 600}, {"jti", "bench"},
                              {"roles", {"reader", "dataset-owner:Stavanger kommune"}},
                              {"clearance", "protected"}, {"tfa", true}}),
      "sign");
  auto uncached = Check(smartby::auth::JwtTokenVerifier::Create(
                            {issuer}, &clock, {.token_cache_size = 0}),
                        "verifier");
  auto cached = Check(smartby::auth::JwtTokenVerifier::Create({issuer}, &clock), "verifier");
  const auto parsed = Check(smartby::auth::ParseJws(token), "parse");

  const int n = 5000;
  const Latency raw = Measure(n, [&] {
    return smartby::auth::VerifyJwsSignature("ES256", public_key, parsed.signing_input,
                                             parsed.signature)
        .ok();
  });
  const Latency full = Measure(n, [&] { return uncached->Verify(token).ok(); });
  const Latency repeat = Measure(n, [&] { return cached->Verify(token).ok(); });
  const double raw_rate = Throughput(2, seconds, [&](int) {
    return smartby::auth::VerifyJwsSignature("ES256", public_key, parsed.signing_input,
                                             parsed.signature)
        .ok();
  });
  const double full_rate = Throughput(2, seconds, [&](int) { return uncached->Verify(token).ok(); });

  std::printf("token verification (ES256), 2 threads for throughput\n");
  std::printf("  %-34s p50 %7.1f us  p99 %7.1f us  %8.0f /s\n", "baseline: signature check only",
              raw.p50_us, raw.p99_us, raw_rate);
  std::printf("  %-34s p50 %7.1f us  p99 %7.1f us  %8.0f /s  (%.2fx the baseline's time)\n",
              "full verification, new token", full.p50_us, full.p99_us, full_rate,
              full.p50_us / raw.p50_us);
  std::printf("  %-34s p50 %7.1f us  p99 %7.1f us\n", "full verification, token seen before",
              repeat.p50_us, repeat.p99_us);

  // --- decisions ----------------------------------------------------------------------------
  Principal principal = Check(uncached->Verify(token), "principal");
  ResourceRef stavanger{smartcity::common::v1::CLASSIFICATION_PROTECTED, "Stavanger kommune",
                        "trygghetsalarmer-stavanger", true};
  ResourceRef oslo{smartcity::common::v1::CLASSIFICATION_INTERNAL, "Oslo kommune",
                   "vannmalere-oslo", false};
  const Latency allow = Measure(100000, [&] {
    return smartby::auth::Decide(&principal, Action::kPublish, stavanger).ok();
  });
  const Latency deny = Measure(100000, [&] {
    return !smartby::auth::Decide(&principal, Action::kDelete, oslo).ok();
  });
  std::printf("\nauthorisation decision (in-process)\n");
  std::printf("  %-34s p50 %7.2f us  p99 %7.2f us\n", "allowed", allow.p50_us, allow.p99_us);
  std::printf("  %-34s p50 %7.2f us  p99 %7.2f us\n", "refused (builds a message)", deny.p50_us,
              deny.p99_us);

  // --- passwords ----------------------------------------------------------------------------
  auto hasher = Check(smartby::auth::PasswordHasher::Create({}), "hasher");
  const std::string stored = Check(hasher->Hash("korrekt hest batteri stift"), "hash");
  const Latency login = Measure(100, [&] {
    return Check(hasher->Verify("korrekt hest batteri stift", stored), "verify");
  });
  const double login_rate = Throughput(2, seconds, [&](int) {
    auto ok = hasher->Verify("korrekt hest batteri stift", stored);
    return ok.ok() && *ok;
  });
  std::printf("\npassword verification, argon2id m=19 MiB t=2 p=1, 2 threads\n");
  std::printf("  %-34s p50 %7.1f ms  p99 %7.1f ms  %8.1f /s\n", "verify", login.p50_us / 1000,
              login.p99_us / 1000, login_rate);

  std::printf("\ntargets (issue 3): verification p50 <= 60 us, p99 <= 150 us, >= 25,000/s; "
              "decision p99 <= 50 us; password login >= 100/s, p99 <= 50 ms\n");
  return 0;
}
