#include "bench/bench_platform.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "smartcity/auth/v1/auth.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"

namespace smartby::bench {

namespace av1 = ::smartcity::auth::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using testing::BinaryPath;
using testing::ServiceProcess;
using testing::TestTokenIssuer;
using testing::TokenSpec;

void Die(const std::string& what) { throw BenchFailure(what); }

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token, absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
  if (fields.size() < 13) return 0;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(std::atoll(fields[11].c_str()) + std::atoll(fields[12].c_str())) /
         ticks;
}

double MachineBusyCpuSeconds() {
  // "cpu  user nice system idle iowait irq softirq steal ...", in ticks, all cores together.
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  double busy = 0;
  for (int field = 0; field < 8; ++field) {
    long long ticks = 0;
    in >> ticks;
    if (field != 3 && field != 4) busy += static_cast<double>(ticks);  // not idle, not iowait
  }
  return busy / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long StatusKiB(pid_t pid, const char* key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string word;
  long value = 0;
  while (in >> word) {
    if (word == key) {
      in >> value;
      return value;
    }
  }
  return 0;
}

std::string BenchDir(const std::string& name) {
  if (const char* d = std::getenv("SMARTBY_BENCH_DIR")) {
    std::filesystem::create_directories(d);
    return d;
  }
  auto dir = std::filesystem::temp_directory_path() / absl::StrCat(name, "-", getpid());
  std::filesystem::create_directories(dir);
  return dir.string();
}

void RemoveSqlite(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

namespace {

// A service account of the platform's own (client credentials); its secret goes to
// <dir>/<name>.secret for --service_client_secret_file.
void CreateServiceAccount(av1::AuthService::Stub& stub, const std::string& admin,
                          const std::string& dir, const std::string& name,
                          const std::vector<std::string>& roles) {
  auto ctx = Ctx(admin);
  av1::CreateServiceAccountRequest request;
  request.set_name(name);
  for (const std::string& role : roles) request.add_roles(role);
  request.set_clearance(smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED);
  av1::CreateServiceAccountResponse response;
  const grpc::Status status = stub.CreateServiceAccount(ctx.get(), request, &response);
  if (!status.ok()) Die("CreateServiceAccount " + name + ": " + status.error_message());
  std::ofstream(dir + "/" + name + ".secret") << response.client_secret() << "\n";
}

}  // namespace

Platform::Platform(const std::string& dir) : dir_(dir) {
  std::string pem = TestTokenIssuer(dir).PrivateKeyPem();
  std::ofstream(dir + "/signing-key.pem") << pem;
  std::ofstream(dir + "/admin-password") << "innsamling-maaling-passord-2026\n";
  auto auth = ServiceProcess::Start(
      BinaryPath("smartby-auth"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--data_dir=" + dir,
       "--signing_key_file=" + dir + "/signing-key.pem", "--bootstrap_admin=admin",
       "--bootstrap_admin_password_file=" + dir + "/admin-password", "--audit_service="});
  if (!auth.ok()) Die(absl::StrCat("smartby-auth: ", auth.status().message()));
  auth_ = *std::move(auth);
  auto auth_stub = av1::AuthService::NewStub(Channel(auth_->grpc_address()));
  std::string kid;
  {
    grpc::ClientContext ctx;
    av1::GetJwksResponse jwks;
    if (!auth_stub->GetJwks(&ctx, {}, &jwks).ok()) Die("GetJwks failed");
    kid = nlohmann::json::parse(jwks.jwks_json())["keys"][0]["kid"].get<std::string>();
  }
  auto key = auth::SigningKey::FromPem(kid, pem);
  if (!key.ok()) Die("signing key");
  issuer_ = std::make_unique<TestTokenIssuer>(dir, *std::move(key));
  TokenSpec admin;
  admin.subject = "user:admin";
  admin.roles = {"platform-admin"};
  admin.clearance = "strictly-protected";
  admin.tfa = true;
  admin.lifetime = absl::Hours(12);
  admin_ = issuer_->Token(admin);
  TokenSpec feed;
  feed.subject = "service:feed";
  feed.client_id = "feed";
  feed.roles = {"platform-service"};
  feed.clearance = "strictly-protected";
  feed.lifetime = absl::Hours(12);
  feed_ = issuer_->Token(feed);
  CreateServiceAccount(*auth_stub, admin_, dir, "ingestion", {"audit-writer", "platform-service"});
  CreateServiceAccount(*auth_stub, admin_, dir, "feed", {"audit-writer", "platform-service"});
  auto catalogue = ServiceProcess::Start(
      BinaryPath("smartby-catalogue"),
      {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
       absl::StrCat("--database=sqlite://", dir, "/catalogue.db"), issuer_->ServiceFlag(),
       "--audit_service="});
  if (!catalogue.ok()) Die(absl::StrCat("smartby-catalogue: ", catalogue.status().message()));
  catalogue_ = *std::move(catalogue);
}

void Platform::CreateDataset(const cv1::Dataset& dataset) {
  auto stub = cv1::CatalogueService::NewStub(Channel(catalogue_->grpc_address()));
  {
    auto ctx = Ctx(admin_);
    cv1::CreateDatasetRequest request;
    *request.mutable_dataset() = dataset;
    cv1::Dataset created;
    const grpc::Status status = stub->CreateDataset(ctx.get(), request, &created);
    if (!status.ok()) Die("CreateDataset: " + status.error_message());
  }
  if (dataset.classification() == smartcity::common::v1::CLASSIFICATION_OPEN) {
    // Published, as an open dataset on a city's dashboards is.
    auto ctx = Ctx(admin_);
    cv1::PublishDatasetRequest request;
    request.set_name(dataset.name());
    cv1::Dataset published;
    const grpc::Status status = stub->PublishDataset(ctx.get(), request, &published);
    if (!status.ok()) Die("PublishDataset: " + status.error_message());
  }
}

std::unique_ptr<ServiceProcess> Platform::StartIngestion(const std::string& database_url,
                                                         std::vector<std::string> extra) {
  const std::string outbox = absl::StrCat(dir_, "/ingestion-", ++ingestions_, "-outbox.db");
  std::vector<std::string> args = {
      "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--database=" + database_url,
      "--data_dir=" + dir_, "--audit_outbox=" + outbox, "--audit_outbox_max=100000000",
      issuer_->ServiceFlag(), "--auth_service=grpc://" + auth_->grpc_address(),
      "--service_client_id=ingestion", "--service_client_secret_file=" + dir_ + "/ingestion.secret",
      "--catalogue_service=grpc://" + catalogue_->grpc_address(), "--audit_service=",
      "--retention_interval=1h"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto ingestion =
      ServiceProcess::Start(BinaryPath("smartby-ingestion"), args, {}, absl::Minutes(2));
  if (!ingestion.ok()) Die(absl::StrCat("smartby-ingestion: ", ingestion.status().message()));
  return *std::move(ingestion);
}

std::unique_ptr<ServiceProcess> Platform::StartFeed(const ServiceProcess& ingestion,
                                                    const std::string& database_url,
                                                    std::vector<std::string> extra) {
  const std::string outbox = absl::StrCat(dir_, "/feed-", ++feeds_, "-outbox.db");
  std::vector<std::string> args = {
      "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--database=" + database_url,
      "--data_dir=" + dir_, "--audit_outbox=" + outbox, "--audit_outbox_max=100000000",
      issuer_->ServiceFlag(), "--auth_service=grpc://" + auth_->grpc_address(),
      "--service_client_id=feed", "--service_client_secret_file=" + dir_ + "/feed.secret",
      "--catalogue_service=grpc://" + catalogue_->grpc_address(),
      "--ingestion_service=grpc://" + ingestion.grpc_address(), "--audit_service="};
  args.insert(args.end(), extra.begin(), extra.end());
  auto feed = ServiceProcess::Start(BinaryPath("smartby-feed"), args, {}, absl::Minutes(2));
  if (!feed.ok()) Die(absl::StrCat("smartby-feed: ", feed.status().message()));
  return *std::move(feed);
}

void Platform::RegisterSources(iv1::IngestionService::Stub& stub, const std::string& dataset,
                               const std::vector<std::string>& ids,
                               absl::Duration expected_interval) const {
  for (const std::string& id : ids) {
    auto ctx = Ctx(admin_);
    iv1::RegisterSourceRequest request;
    request.mutable_source()->set_id(id);
    request.mutable_source()->set_dataset(dataset);
    request.mutable_source()->set_name("Måler " + id);
    request.mutable_source()->mutable_expected_interval()->set_seconds(
        absl::ToInt64Seconds(expected_interval));
    iv1::Source source;
    const grpc::Status status = stub.RegisterSource(ctx.get(), request, &source);
    if (!status.ok() && status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      Die("RegisterSource: " + status.error_message());
    }
  }
}

std::string Platform::Writer(const std::string& dataset) const {
  TokenSpec writer;  // a gateway's service account
  writer.subject = "service:gateway-1";
  writer.client_id = "gateway-1";
  writer.roles = {absl::StrCat("ingest-writer:", dataset)};
  writer.clearance = "open";
  writer.lifetime = absl::Hours(12);
  return issuer_->Token(writer);
}

}  // namespace smartby::bench
