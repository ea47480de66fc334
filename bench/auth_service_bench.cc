// Auth service benchmark, run by hand (see bench/README.md): the real smartby-auth binary on
// loopback, with the runtime's echo server as the baseline measured in the same run.
//
//   1. Authorize over loopback gRPC: p50/p99 (target p99 <= 1 ms), next to echo's.
//   2. Client-credentials token issuance (IssueServiceToken): calls/s (target >= 1,000/s).
//   3. Password login at the OWASP minimum argon2id parameters: logins/s (target >= 100/s on
//      2 cores) and p99 (target <= 50 ms).
//
// Usage: build/bench/auth_service_bench [seconds=5] [client_threads=4]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "echo.grpc.pb.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "tests/support/service_process.h"

namespace {

namespace v1 = ::smartcity::auth::v1;
using smartby::testing::BinaryPath;
using smartby::testing::ServiceProcess;
using Clock = std::chrono::steady_clock;

struct Figures {
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  long failed = 0;
};

// Runs `call` from `threads` threads for `seconds`, timing every call.
template <typename Call>
Figures Measure(int threads, double seconds, Call call) {
  std::atomic<bool> stop{false};
  std::atomic<long> failed{0};
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const auto begin = Clock::now();
        if (!call(t, i)) failed.fetch_add(1);
        latencies[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measuring window
  stop = true;
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Figures f;
  f.failed = failed.load();
  if (all.empty()) return f;
  f.per_second = all.size() / elapsed;
  f.p50_ms = all[all.size() / 2];
  f.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return f;
}

void Fail(const std::string& what) {
  std::fprintf(stderr, "error: %s\n", what.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 4;
  std::printf("auth service benchmark: %.0f s per run, %d client threads, %u cores\n\n", seconds,
              threads, std::thread::hardware_concurrency());

  Figures echo;
  {
    auto process = ServiceProcess::Start(BinaryPath("smartby-echo"),
                                         {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"});
    if (!process.ok()) Fail(std::string(process.status().message()));
    auto stub = smartby::bench::v1::EchoService::NewStub(
        grpc::CreateChannel((*process)->grpc_address(), grpc::InsecureChannelCredentials()));
    echo = Measure(1, seconds, [&](int, long) {
      grpc::ClientContext ctx;
      smartby::bench::v1::EchoRequest request;
      request.set_message("authorize");
      smartby::bench::v1::EchoResponse response;
      return stub->Echo(&ctx, request, &response).ok();
    });
  }

  smartby::testing::TempDir dir;
  const std::string password = "ytelsesmaaling-passord-2026";
  std::ofstream(dir.path() + "/admin-password") << password << "\n";
  auto auth = ServiceProcess::Start(
      BinaryPath("smartby-auth"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--data_dir=" + dir.path(),
       "--bootstrap_admin=admin", "--bootstrap_admin_password_file=" + dir.path() + "/admin-password",
       "--login_max_failures=1000000", "--login_source_max_failures=1000000"});
  if (!auth.ok()) Fail(std::string(auth.status().message()));
  auto stub = v1::AuthService::NewStub(
      grpc::CreateChannel((*auth)->grpc_address(), grpc::InsecureChannelCredentials()));

  v1::TokenResponse admin;
  {
    grpc::ClientContext ctx;
    v1::LoginRequest login;
    login.set_username("admin");
    login.set_password(password);
    if (auto s = stub->Login(&ctx, login, &admin); !s.ok()) Fail("login: " + s.error_message());
  }
  std::string client_secret;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin.access_token());
    v1::CreateServiceAccountRequest request;
    request.set_name("bench-gateway");
    request.add_roles("ingest-writer:bench-dataset");
    request.set_clearance(smartcity::common::v1::CLASSIFICATION_INTERNAL);
    v1::CreateServiceAccountResponse response;
    if (auto s = stub->CreateServiceAccount(&ctx, request, &response); !s.ok()) {
      Fail("create service account: " + s.error_message());
    }
    client_secret = response.client_secret();
  }

  const Figures authorize = Measure(1, seconds, [&](int, long) {
    grpc::ClientContext ctx;
    v1::AuthorizeRequest request;
    request.set_access_token(admin.access_token());
    request.set_action("read");
    request.mutable_resource()->set_classification(smartcity::common::v1::CLASSIFICATION_INTERNAL);
    request.mutable_resource()->set_owner_organization("Stavanger kommune");
    request.mutable_resource()->set_dataset("bench-dataset");
    request.mutable_resource()->set_published(true);
    v1::AuthorizeResponse response;
    return stub->Authorize(&ctx, request, &response).ok() && response.allowed();
  });
  const Figures issue = Measure(threads, seconds, [&](int, long) {
    grpc::ClientContext ctx;
    v1::IssueServiceTokenRequest request;
    request.set_client_id("bench-gateway");
    request.set_client_secret(client_secret);
    v1::TokenResponse response;
    return stub->IssueServiceToken(&ctx, request, &response).ok();
  });
  const Figures login = Measure(threads, seconds, [&](int, long) {
    grpc::ClientContext ctx;
    v1::LoginRequest request;
    request.set_username("admin");
    request.set_password(password);
    v1::TokenResponse response;
    return stub->Login(&ctx, request, &response).ok();
  });

  std::printf("%-34s %10s %9s %9s %8s\n", "", "calls/s", "p50", "p99", "failed");
  auto row = [](const char* name, const Figures& f) {
    std::printf("%-34s %10.0f %7.3fms %7.3fms %8ld\n", name, f.per_second, f.p50_ms, f.p99_ms,
                f.failed);
  };
  row("baseline: echo (1 thread)", echo);
  row("Authorize (1 thread)", authorize);
  row("IssueServiceToken", issue);
  row("Login (argon2id m=19MiB t=2 p=1)", login);
  std::printf("\nAuthorize p99 / echo p99: %.2fx\n", authorize.p99_ms / echo.p99_ms);
  std::printf("targets: Authorize p99 <= 1 ms; IssueServiceToken >= 1000/s; "
              "Login >= 100/s with p99 <= 50 ms\n");
  const bool met = authorize.p99_ms <= 1.0 && issue.per_second >= 1000 &&
                   login.per_second >= 100 && login.p99_ms <= 50;
  std::printf("%s\n", met ? "all targets met" : "TARGETS NOT MET");
  return met ? 0 : 1;
}
