// Observability end to end (issue 8): the platform's services run as real processes on loopback,
// wired to each other the way scripts/run-local.sh wires them (auth first, every other service
// with its own service account, audit events shipped to the real audit service), and a real
// Prometheus server (Debian's `prometheus`) scrapes them every second with the rules of
// observability/rules loaded. Through Prometheus's HTTP API the test finds every service up,
// its gRPC server metrics present, every metric observability/metrics.json promises "always"
// present for it, and every rule loaded and evaluating without error.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "tests/support/platform_under_test.h"

namespace smartby {
namespace {

namespace av1 = ::smartcity::auth::v1;
using testing::FreeLoopbackPort;
using testing::HttpGet;
using testing::PlatformUnderTest;
using testing::TempDir;

constexpr auto kNoClearance = smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
constexpr auto kStrictlyProtected = smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;

std::string SourceDir() {
  const char* dir = std::getenv("SMARTBY_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// Polls `condition` until it holds or `timeout` passes; returns whether it held.
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return condition();
}

// A Prometheus server on a loopback port with its own storage; stopped (SIGTERM) on destruction.
class PrometheusServer {
 public:
  PrometheusServer(const std::string& dir, const std::string& config) : dir_(dir) {
    std::ofstream(dir + "/prometheus.yml") << config;
    port_ = FreeLoopbackPort();
    pid_ = fork();
    if (pid_ == 0) {
      const int log = open((dir + "/prometheus.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(log, 1);
      dup2(log, 2);
      const std::string config_flag = "--config.file=" + dir + "/prometheus.yml";
      const std::string storage_flag = "--storage.tsdb.path=" + dir + "/data";
      const std::string listen_flag = absl::StrCat("--web.listen-address=127.0.0.1:", port_);
      execlp("prometheus", "prometheus", config_flag.c_str(), storage_flag.c_str(),
             listen_flag.c_str(), "--log.level=warn", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~PrometheusServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  int port() const { return port_; }
  bool Running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string Log() const {
    std::ifstream in(dir_ + "/prometheus.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // GET of an API path; the "data" member of a successful answer, or null.
  nlohmann::json Api(const std::string& path) const {
    const auto response = HttpGet(port_, path);
    if (response.status != 200) return nullptr;
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_discarded() || body.value("status", "") != "success") return nullptr;
    return body["data"];
  }
  nlohmann::json Query(const std::string& promql) const {
    const auto data = Api("/api/v1/query?query=" + UrlEncode(promql));
    return data.is_null() ? nlohmann::json::array() : data["result"];
  }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// The services in the order the test starts them; the job Prometheus scrapes each as.
const std::vector<std::string> kServices = {"auth",      "audit", "catalogue",
                                            "ingestion", "feed",  "archive"};
std::string Job(const std::string& service) { return "smartby-" + service; }

class PrometheusEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string d = platform_.dir();
    // Every service as scripts/run-local.sh starts it: files in one data directory, its own
    // audit outbox.
    const auto common_flags = [&](const std::string& name) {
      return std::vector<std::string>{"--data_dir=" + d,
                                      absl::StrCat("--audit_outbox=", d, "/", name, "-outbox.db")};
    };

    // The audit service once, to learn a port it can have again: auth sends its events there.
    ASSERT_EQ(platform_.Start("audit", {"--data_dir=" + d}), absl::OkStatus());
    ASSERT_EQ(platform_.Stop("audit"), 0);
    ASSERT_EQ(platform_.StartAuth({absl::StrCat("--database=sqlite://", d, "/auth.db")}),
              absl::OkStatus());
    // Again, now trusting the tokens auth signs (its key id).
    ASSERT_EQ(platform_.Start("audit", {"--data_dir=" + d}), absl::OkStatus());

    const auto kPlatformService = std::vector<std::string>{"audit-writer", "platform-service"};
    ASSERT_EQ(platform_.CreateServiceAccount("catalogue", {"audit-writer"}, kNoClearance),
              absl::OkStatus());
    ASSERT_EQ(platform_.Start("catalogue", common_flags("catalogue")), absl::OkStatus());
    ASSERT_EQ(platform_.CreateServiceAccount("ingestion", kPlatformService, kStrictlyProtected),
              absl::OkStatus());
    auto ingestion_flags = common_flags("ingestion");
    ingestion_flags.push_back(platform_.ServiceFlag("catalogue"));
    ASSERT_EQ(platform_.Start("ingestion", ingestion_flags), absl::OkStatus());
    ASSERT_EQ(platform_.CreateServiceAccount("feed", kPlatformService, kStrictlyProtected),
              absl::OkStatus());
    auto feed_flags = common_flags("feed");
    feed_flags.push_back(platform_.ServiceFlag("catalogue"));
    feed_flags.push_back(platform_.ServiceFlag("ingestion"));
    ASSERT_EQ(platform_.Start("feed", feed_flags), absl::OkStatus());
    // The archive reads every dataset, its readings and its audit trail (auditor), and cannot
    // start without the creator its packages name; the XSDs are the source tree's copy.
    ASSERT_EQ(platform_.CreateServiceAccount(
                  "archive", {"audit-writer", "platform-service", "auditor"}, kStrictlyProtected),
              absl::OkStatus());
    auto archive_flags = common_flags("archive");
    archive_flags.insert(archive_flags.end(),
                         {platform_.ServiceFlag("catalogue"), platform_.ServiceFlag("ingestion"),
                          "--archive_creator_id=964965226",
                          "--archive_creator_name=Stavanger kommune",
                          "--package_dir=" + d + "/archive-packages",
                          "--xsd_dir=" + SourceDir() + "/services/archive/noark5/xsd"});
    ASSERT_EQ(platform_.Start("archive", archive_flags), absl::OkStatus());

    // One health check each: a gRPC call, so every service has its gRPC series.
    for (const std::string& name : kServices) {
      auto health = grpc::health::v1::Health::NewStub(platform_.Channel(name));
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckResponse response;
      ASSERT_TRUE(health->Check(&ctx, {}, &response).ok()) << name;
    }
  }

  // Prometheus's configuration: one job per service, every second, with the platform's rules.
  std::string PrometheusConfig() const {
    std::string config = absl::StrCat(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n",
        "rule_files:\n  - ", SourceDir(), "/observability/rules/*.yaml\n", "scrape_configs:\n");
    for (const std::string& name : kServices) {
      absl::StrAppend(&config, "  - job_name: ", Job(name), "\n    static_configs:\n",
                      "      - targets: ['127.0.0.1:", platform_.service(name).metrics_port(),
                      "']\n");
    }
    return config;
  }

  PlatformUnderTest platform_;
};

// The jobs a query's result names.
std::set<std::string> Jobs(const nlohmann::json& result) {
  std::set<std::string> jobs;
  for (const auto& sample : result) jobs.insert(sample["metric"].value("job", ""));
  return jobs;
}

TEST_F(PrometheusEndToEndTest, PrometheusFindsEveryServiceUpWithItsMetricsAndEveryRuleHealthy) {
  for (const std::string& name : kServices) ASSERT_TRUE(platform_.IsRunning(name)) << name;
  TempDir prometheus_dir;
  PrometheusServer prometheus(prometheus_dir.path(), PrometheusConfig());
  ASSERT_TRUE(Eventually([&] { return HttpGet(prometheus.port(), "/-/ready").status == 200; },
                         absl::Seconds(60)))
      << "Prometheus did not become ready on port " << prometheus.port() << ":\n"
      << prometheus.Log();

  std::set<std::string> all_jobs;
  for (const std::string& name : kServices) all_jobs.insert(Job(name));

  // Every service up.
  std::set<std::string> up;
  const bool all_up = Eventually(
      [&] {
        up = Jobs(prometheus.Query("up == 1"));
        return up == all_jobs;
      },
      absl::Seconds(60));
  EXPECT_TRUE(all_up) << "up == 1 for " << absl::StrJoin(up, ", ") << "; expected "
                      << absl::StrJoin(all_jobs, ", ") << "\n"
                      << prometheus.Api("/api/v1/targets").dump(2);

  // The gRPC server metrics, named as go-grpc-prometheus names them, from every service.
  for (const std::string metric : {"grpc_server_handled_total", "grpc_server_started_total",
                                   "grpc_server_handling_seconds_bucket"}) {
    std::set<std::string> jobs;
    Eventually([&] { return (jobs = Jobs(prometheus.Query(metric))) == all_jobs; },
               absl::Seconds(30));
    EXPECT_EQ(jobs, all_jobs) << metric;
  }
  // The health check each service answered is counted, with its code.
  const auto health = prometheus.Query(
      "grpc_server_handled_total{grpc_service=\"grpc.health.v1.Health\", grpc_method=\"Check\", "
      "grpc_code=\"OK\"} >= 1");
  EXPECT_EQ(Jobs(health), all_jobs);

  // Every metric the dashboards and rules rely on as "always" exposed, from each service named.
  std::ifstream catalogue_file(SourceDir() + "/observability/metrics.json");
  const auto catalogue = nlohmann::json::parse(catalogue_file);
  std::map<std::string, std::set<std::string>> names_by_job;
  for (const auto& sample : prometheus.Query("group by (job, __name__) ({job=~\"smartby-.+\"})")) {
    names_by_job[sample["metric"]["job"]].insert(sample["metric"]["__name__"]);
  }
  for (const auto& metric : catalogue["metrics"]) {
    if (metric.value("exposed", "") != "always" || metric.contains("source")) continue;
    const std::string name = metric["name"];
    const std::string series = metric["type"] == "histogram" ? name + "_count" : name;
    for (const std::string& service : kServices) {
      bool applies = false;
      for (const auto& svc : metric["services"]) applies |= svc == "*" || svc == service;
      if (!applies) continue;
      EXPECT_TRUE(names_by_job[Job(service)].count(series))
          << Job(service) << " does not expose " << series;
    }
  }

  // Every rule of observability/rules loaded, evaluated, and healthy on real data.
  size_t rules = 0;
  std::vector<std::string> unhealthy;
  Eventually(
      [&] {
        rules = 0;
        unhealthy.clear();
        const auto data = prometheus.Api("/api/v1/rules");
        if (data.is_null()) return false;
        for (const auto& group : data["groups"]) {
          for (const auto& rule : group["rules"]) {
            ++rules;
            if (rule.value("health", "") != "ok") {
              unhealthy.push_back(absl::StrCat(rule.value("name", ""), ": ",
                                               rule.value("health", ""), " ",
                                               rule.value("lastError", "")));
            }
          }
        }
        return rules > 0 && unhealthy.empty();
      },
      absl::Seconds(30));
  EXPECT_GT(rules, 100u) << "the rules of observability/rules were not loaded:\n"
                         << prometheus.Log();
  EXPECT_TRUE(unhealthy.empty()) << absl::StrJoin(unhealthy, "\n");

  // And the recording rules produce data from live traffic: auth answers GetJwks while
  // Prometheus watches, without server errors, so its availability ratio is 0 (not NaN: calls
  // in the window; not missing: no error series exist at all).
  auto auth_stub = av1::AuthService::NewStub(platform_.Channel("auth"));
  std::string ratio;
  Eventually(
      [&] {
        grpc::ClientContext ctx;
        av1::GetJwksResponse jwks;
        if (!auth_stub->GetJwks(&ctx, {}, &jwks).ok()) return false;
        const auto result = prometheus.Query(
            "smartby_service:grpc_server_errors:ratio_rate5m{service=\"auth\"}");
        ratio = result.empty() ? "" : result[0]["value"][1].get<std::string>();
        return ratio == "0";
      },
      absl::Seconds(60));
  EXPECT_EQ(ratio, "0");
  EXPECT_TRUE(prometheus.Running()) << prometheus.Log();
}

}  // namespace
}  // namespace smartby
