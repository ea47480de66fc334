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
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace smartby {
namespace {

namespace av1 = ::smartcity::auth::v1;
using testing::BinaryPath;
using testing::HttpGet;
using testing::ServiceProcess;
using testing::TempDir;
using testing::TestTokenIssuer;
using testing::TokenSpec;

constexpr char kAdminPassword[] = "overvaking-test-passord-2026";
constexpr auto kNoClearance = smartcity::common::v1::CLASSIFICATION_UNSPECIFIED;
constexpr auto kStrictlyProtected = smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED;

std::string SourceDir() {
  const char* dir = std::getenv("SMARTBY_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
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

struct Service {
  std::string name;
  std::unique_ptr<ServiceProcess> process;
  std::string job() const { return "smartby-" + name; }
};

class PrometheusEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string d = dir_.path();
    std::string pem = TestTokenIssuer(d).PrivateKeyPem();
    std::ofstream(d + "/signing-key.pem") << pem;
    std::ofstream(d + "/admin-password") << kAdminPassword << "\n";

    // The audit service once, to learn a port it can have again: auth sends its events there.
    std::string audit_address;
    {
      auto audit = ServiceProcess::Start(BinaryPath("smartby-audit"), AuditArgs("127.0.0.1:0"));
      ASSERT_TRUE(audit.ok()) << audit.status();
      audit_address = (*audit)->grpc_address();
      ASSERT_EQ((*audit)->Stop(), 0);
    }
    audit_flag_ = "--audit_service=grpc://" + audit_address;

    auto auth = ServiceProcess::Start(
        BinaryPath("smartby-auth"),
        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--data_dir=" + d,
         absl::StrCat("--database=sqlite://", d, "/auth.db"),
         "--signing_key_file=" + d + "/signing-key.pem", "--bootstrap_admin=admin",
         "--bootstrap_admin_password_file=" + d + "/admin-password", audit_flag_});
    ASSERT_TRUE(auth.ok()) << auth.status();
    const std::string auth_address = (*auth)->grpc_address();
    auth_flag_ = "--auth_service=grpc://" + auth_address;
    services_.push_back({"auth", *std::move(auth)});

    // Tokens the test signs with auth's own key and key id, so every service trusts them.
    auto auth_stub = av1::AuthService::NewStub(
        grpc::CreateChannel(auth_address, grpc::InsecureChannelCredentials()));
    std::string kid;
    {
      grpc::ClientContext ctx;
      av1::GetJwksResponse jwks;
      ASSERT_TRUE(auth_stub->GetJwks(&ctx, {}, &jwks).ok());
      kid = nlohmann::json::parse(jwks.jwks_json())["keys"][0]["kid"].get<std::string>();
    }
    auto key = auth::SigningKey::FromPem(kid, pem);
    ASSERT_TRUE(key.ok()) << key.status();
    issuer_ = std::make_unique<TestTokenIssuer>(d, *std::move(key));

    auto audit = ServiceProcess::Start(BinaryPath("smartby-audit"), AuditArgs(audit_address));
    ASSERT_TRUE(audit.ok()) << audit.status();
    services_.push_back({"audit", *std::move(audit)});

    const auto kPlatformService = std::vector<std::string>{"audit-writer", "platform-service"};
    ASSERT_NO_FATAL_FAILURE(StartWithAccount("catalogue", {"audit-writer"}, kNoClearance, {}));
    ASSERT_NO_FATAL_FAILURE(
        StartWithAccount("ingestion", kPlatformService, kStrictlyProtected,
                         {"--catalogue_service=grpc://" + Address("catalogue")}));
    ASSERT_NO_FATAL_FAILURE(
        StartWithAccount("feed", kPlatformService, kStrictlyProtected,
                         {"--catalogue_service=grpc://" + Address("catalogue"),
                          "--ingestion_service=grpc://" + Address("ingestion")}));
    // The archive reads every dataset, its readings and its audit trail (auditor), and cannot
    // start without the creator its packages name; the XSDs are the source tree's copy.
    ASSERT_NO_FATAL_FAILURE(StartWithAccount(
        "archive", {"audit-writer", "platform-service", "auditor"}, kStrictlyProtected,
        {"--catalogue_service=grpc://" + Address("catalogue"),
         "--ingestion_service=grpc://" + Address("ingestion"),
         "--archive_creator_id=964965226", "--archive_creator_name=Stavanger kommune",
         "--package_dir=" + dir_.path() + "/archive-packages",
         "--xsd_dir=" + SourceDir() + "/services/archive/noark5/xsd"}));

    // One health check each: a gRPC call, so every service has its gRPC series.
    for (const auto& service : services_) {
      auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
          service.process->grpc_address(), grpc::InsecureChannelCredentials()));
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckResponse response;
      ASSERT_TRUE(health->Check(&ctx, {}, &response).ok()) << service.name;
    }
  }

  std::vector<std::string> AuditArgs(const std::string& listen) const {
    const std::string d = dir_.path();
    return {"--listen=" + listen, "--metrics_listen=127.0.0.1:0",
            absl::StrCat("--database=sqlite://", d, "/audit.db"), "--data_dir=" + d,
            JwksFlag(), "--audit_service="};
  }
  std::string JwksFlag() const { return "--auth_jwks=file:" + dir_.path() + "/jwks.json"; }

  std::string Address(const std::string& name) const {
    for (const auto& s : services_) {
      if (s.name == name) return s.process->grpc_address();
    }
    return "";
  }

  // Creates the service's own account in auth (roles as in scripts/run-local.sh) and starts it.
  void StartWithAccount(const std::string& name, const std::vector<std::string>& roles,
                        smartcity::common::v1::Classification clearance,
                        const std::vector<std::string>& extra) {
    const std::string d = dir_.path();
    auto auth_stub = av1::AuthService::NewStub(
        grpc::CreateChannel(Address("auth"), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + issuer_->AdminToken());
    av1::CreateServiceAccountRequest request;
    request.set_name(name);
    for (const auto& role : roles) request.add_roles(role);
    request.set_clearance(clearance);
    av1::CreateServiceAccountResponse response;
    const grpc::Status status = auth_stub->CreateServiceAccount(&ctx, request, &response);
    ASSERT_TRUE(status.ok()) << name << ": " << status.error_message();
    std::ofstream(d + "/" + name + ".secret") << response.client_secret() << "\n";

    std::vector<std::string> args = {
        "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
        absl::StrCat("--database=sqlite://", d, "/", name, ".db"), "--data_dir=" + d,
        JwksFlag(), auth_flag_, audit_flag_, "--service_client_id=" + name,
        "--service_client_secret_file=" + d + "/" + name + ".secret",
        absl::StrCat("--audit_outbox=", d, "/", name, "-outbox.db")};
    args.insert(args.end(), extra.begin(), extra.end());
    auto process = ServiceProcess::Start(BinaryPath("smartby-" + name), args);
    ASSERT_TRUE(process.ok()) << process.status();
    services_.push_back({name, *std::move(process)});
  }

  // Prometheus's configuration: one job per service, every second, with the platform's rules.
  std::string PrometheusConfig() const {
    std::string config = absl::StrCat(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n",
        "rule_files:\n  - ", SourceDir(), "/observability/rules/*.yaml\n", "scrape_configs:\n");
    for (const auto& s : services_) {
      absl::StrAppend(&config, "  - job_name: ", s.job(), "\n    static_configs:\n",
                      "      - targets: ['127.0.0.1:", s.process->metrics_port(), "']\n");
    }
    return config;
  }

  TempDir dir_;
  std::unique_ptr<TestTokenIssuer> issuer_;
  std::string auth_flag_;
  std::string audit_flag_;
  std::vector<Service> services_;
};

// The jobs a query's result names.
std::set<std::string> Jobs(const nlohmann::json& result) {
  std::set<std::string> jobs;
  for (const auto& sample : result) jobs.insert(sample["metric"].value("job", ""));
  return jobs;
}

TEST_F(PrometheusEndToEndTest, PrometheusFindsEveryServiceUpWithItsMetricsAndEveryRuleHealthy) {
  ASSERT_EQ(services_.size(), 6u);
  TempDir prometheus_dir;
  PrometheusServer prometheus(prometheus_dir.path(), PrometheusConfig());
  ASSERT_TRUE(Eventually([&] { return HttpGet(prometheus.port(), "/-/ready").status == 200; },
                         absl::Seconds(60)))
      << "Prometheus did not become ready on port " << prometheus.port() << ":\n"
      << prometheus.Log();

  std::set<std::string> all_jobs;
  for (const auto& s : services_) all_jobs.insert(s.job());

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
    for (const auto& s : services_) {
      bool applies = false;
      for (const auto& svc : metric["services"]) applies |= svc == "*" || svc == s.name;
      if (!applies) continue;
      EXPECT_TRUE(names_by_job[s.job()].count(series)) << s.job() << " does not expose " << series;
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
  auto auth_stub = av1::AuthService::NewStub(
      grpc::CreateChannel(Address("auth"), grpc::InsecureChannelCredentials()));
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
