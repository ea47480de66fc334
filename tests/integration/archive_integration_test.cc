// The archive over real gRPC with real auth, audit, catalogue, ingestion and archive processes
// (each service with its own service account; the archive's has platform-service, auditor and
// audit-writer): an archivist exports a dataset with readings, watches the job to its end,
// fetches the package, and the package is valid — by Debian's xmllint against the official
// schemas in ../shared/noark5/xsd and by CheckPackage; its CSV holds every reading and its
// endringslogg the dataset's audit trail. A reader or a data steward is PERMISSION_DENIED; an
// archivist whose clearance is below the dataset's class too; a running export can be cancelled
// and leaves nothing behind; smartctl's archive commands do the same from the command line.
// A succeeded export is pushed into FakeNoark5Core (tests/support/fake_noark5_core.h: a small
// HTTP server standing in for a municipality's Noark 5 core, since none runs here), which checks
// the relations followed, the OIDC bearer token and every file against its checksum; a core that
// is down makes the push UNAVAILABLE, recorded on the job, and the retry succeeds.
//
// The archive's own database is SQLite, or a fresh PostgreSQL database when
// SMARTBY_TEST_POSTGRES_URL is set (scripts/with-postgres.sh, as `make test` runs it).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/archive/noark5/hashing_file.h"
#include "services/archive/noark5/package_check.h"
#include "services/archive/noark5/package_writer.h"
#include "smartcity/archive/v1/archive.grpc.pb.h"
#include "smartcity/audit/v1/audit.grpc.pb.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/fake_noark5_core.h"
#include "services/runtime/storage/test_databases.h"
#include "tests/support/platform_under_test.h"

namespace smartby {
namespace {

namespace arv1 = ::smartcity::archive::v1;
namespace adv1 = ::smartcity::audit::v1;
namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;
namespace common = ::smartcity::common::v1;
using testing::BinaryPath;
using testing::CommandResult;
using testing::FakeNoark5Core;
using testing::PlatformUnderTest;
using testing::RunCommand;
using testing::TempDir;
using testing::ToTimestamp;
using testing::TokenSpec;

constexpr int kReadings = 2500;          // in the dataset that is exported whole
constexpr int kSlowReadings = 60000;     // in the dataset whose export is cancelled

std::string SourceDir() {
  const char* dir = std::getenv("SMARTBY_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

// The official XSDs in the team's shared folder (SMARTBY_SHARED_DIR, set by CMake).
std::string SharedXsdDir() {
  const char* dir = std::getenv("SMARTBY_SHARED_DIR");
  return std::string(dir != nullptr ? dir : SourceDir() + "/../shared") + "/noark5/xsd";
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ArchiveIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    platform_ = new PlatformUnderTest();
    const std::string d = platform_->dir();
    ASSERT_EQ(platform_->StartAuth(), absl::OkStatus());
    admin_token_ = Token("user:admin", {"platform-admin"}, "strictly-protected", true);
    ASSERT_EQ(platform_->CreateServiceAccount("catalogue", {"audit-writer"}), absl::OkStatus());
    ASSERT_EQ(platform_->CreateServiceAccount("ingestion", {"audit-writer", "platform-service"}),
              absl::OkStatus());
    ASSERT_EQ(platform_->CreateServiceAccount("archive",
                                              {"audit-writer", "platform-service", "auditor"}),
              absl::OkStatus());

    // Started first, so that every service after it ships its audit events there.
    ASSERT_EQ(platform_->Start("audit", {"--checkpoint_interval=200ms"}), absl::OkStatus());
    ASSERT_EQ(platform_->Start("catalogue"), absl::OkStatus());
    catalogue_stub_ = cv1::CatalogueService::NewStub(platform_->Channel("catalogue")).release();
    ASSERT_EQ(platform_->Start("ingestion",
                               {platform_->ServiceFlag("catalogue"), "--dataset_cache_ttl=200ms"}),
              absl::OkStatus());
    ingestion_stub_ = iv1::IngestionService::NewStub(platform_->Channel("ingestion")).release();

    core_ = new FakeNoark5Core();
    std::ofstream(d + "/noark5-core.secret") << FakeNoark5Core::kClientSecret << "\n";
    database_ = storage::testing::NewPostgresDatabaseUrl("archive_it");
    if (database_.empty()) database_ = absl::StrCat("sqlite://", d, "/archive.db");
    package_dir_ = d + "/packages";
    StartArchive();

    CreateDataset("vannstand", common::CLASSIFICATION_INTERNAL);
    CreateDataset("vannstand-stor", common::CLASSIFICATION_INTERNAL);
    CreateDataset("helse-besok", common::CLASSIFICATION_PROTECTED);
    t0_ = absl::Now() - absl::Hours(2);
    WriteReadings("vannstand", "maaler-1", kReadings);
    WriteReadings("vannstand-stor", "maaler-stor", kSlowReadings);
  }

  // Small pages, so that an export makes many calls to ingestion (paging is exercised, and the
  // cancel test has time to cancel). Again after a kill: on the same port and database.
  static void StartArchive() {
    ASSERT_EQ(platform_->Start(
                  "archive",
                  {"--database=" + database_, platform_->ServiceFlag("catalogue"),
                   platform_->ServiceFlag("ingestion"), "--package_dir=" + package_dir_,
                   "--archive_creator_id=964965137", "--archive_creator_name=Stavanger kommune",
                   "--readings_page_size=50", "--noark5_core_url=" + core_->root_url(),
                   "--noark5_arkivdel=Sensordata", "--noark5_token_url=" + core_->token_url(),
                   std::string("--noark5_client_id=") + FakeNoark5Core::kClientId,
                   "--noark5_client_secret_file=" + platform_->dir() + "/noark5-core.secret",
                   "--noark5_timeout=20s"}),
              absl::OkStatus());
    delete stub_;
    stub_ = arv1::ArchiveService::NewStub(platform_->Channel("archive")).release();
  }

  static void TearDownTestSuite() {
    delete stub_;
    delete ingestion_stub_;
    delete catalogue_stub_;
    delete platform_;
    delete core_;
  }

  static std::string Token(const std::string& subject, std::vector<std::string> roles,
                           const std::string& clearance, bool tfa) {
    TokenSpec spec;
    spec.subject = subject;
    spec.roles = std::move(roles);
    spec.clearance = clearance;
    spec.tfa = tfa;
    spec.lifetime = absl::Minutes(30);
    return platform_->issuer().Token(spec);
  }
  static std::string ArchivistToken() {
    return Token("user:arkivar", {"archivist"}, "internal", false);
  }

  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token,
                                                      absl::Duration timeout = absl::Seconds(60)) {
    return PlatformUnderTest::Context(token, timeout);
  }

  static void CreateDataset(const std::string& name, common::Classification c) {
    cv1::CreateDatasetRequest request;
    cv1::Dataset* d = request.mutable_dataset();
    d->set_name(name);
    d->set_title(absl::StrCat("Vannstand ", name));
    d->set_description("Vannstand i overvannskummer.");
    d->mutable_owner()->set_organization("Stavanger kommune");
    d->mutable_owner()->set_department("Bymiljø og utbygging");
    d->set_license("NLOD-2.0");
    d->set_classification(c);
    d->add_keywords("overvann");
    d->set_update_frequency(cv1::UPDATE_FREQUENCY_CONTINUOUS);
    d->mutable_risk_assessment()->set_reference("ROS-2026-4");
    *d->mutable_risk_assessment()->mutable_assessed_time() =
        ToTimestamp(absl::Now() - absl::Hours(24));
    cv1::SchemaField* level = d->add_fields();
    level->set_name("level");
    level->set_type(cv1::FIELD_TYPE_DOUBLE);
    level->set_unit("cm");
    cv1::Dataset created;
    grpc::Status status =
        catalogue_stub_->CreateDataset(Context(admin_token_).get(), request, &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
    cv1::PublishDatasetRequest publish;
    publish.set_name(name);
    cv1::Dataset published;
    status = catalogue_stub_->PublishDataset(Context(admin_token_).get(), publish, &published);
    ASSERT_TRUE(status.ok()) << status.error_message();
    // A second published version.
    cv1::UpdateDatasetRequest update;
    *update.mutable_dataset() = published;
    update.mutable_dataset()->set_description("Vannstand i overvannskummer, målt hvert minutt.");
    update.mutable_update_mask()->add_paths("description");
    cv1::Dataset updated;
    status = catalogue_stub_->UpdateDataset(Context(admin_token_).get(), update, &updated);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  static void WriteReadings(const std::string& dataset, const std::string& source, int count) {
    iv1::RegisterSourceRequest reg;
    reg.mutable_source()->set_id(source);
    reg.mutable_source()->set_dataset(dataset);
    reg.mutable_source()->set_name("Kum " + source);
    iv1::Source registered;
    grpc::Status status =
        ingestion_stub_->RegisterSource(Context(admin_token_).get(), reg, &registered);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (int start = 0; start < count; start += 10000) {
      iv1::WriteReadingsRequest request;
      for (int i = start; i < std::min(count, start + 10000); ++i) {
        iv1::Reading* r = request.add_readings();
        r->set_source_id(source);
        *r->mutable_time() = ToTimestamp(t0_ + absl::Milliseconds(100) * i);
        (*r->mutable_values())["level"].set_double_value(10.25 + i % 7);
      }
      iv1::WriteReadingsResponse response;
      status = ingestion_stub_->WriteReadings(Context(admin_token_).get(), request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      ASSERT_EQ(response.accepted(), request.readings_size());
    }
  }

  static arv1::StartExportRequest ExportOf(const std::string& dataset) {
    arv1::StartExportRequest request;
    request.add_datasets(dataset);
    *request.mutable_start_time() = ToTimestamp(t0_ - absl::Minutes(1));
    *request.mutable_end_time() = ToTimestamp(absl::Now());
    request.mutable_config()->set_arkivdel("Sensordata");
    request.mutable_config()->set_case_handler("Kari Nordmann");
    return request;
  }

  static grpc::Status Push(const std::string& token, const std::string& id, arv1::ExportJob* job) {
    arv1::PushExportRequest request;
    request.set_id(id);
    return stub_->PushExport(Context(token, absl::Minutes(2)).get(), request, job);
  }

  static arv1::ExportJob Get(const std::string& id) {
    arv1::GetExportRequest get;
    get.set_id(id);
    arv1::ExportJob job;
    const grpc::Status status = stub_->GetExport(Context(ArchivistToken()).get(), get, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return job;
  }

  static grpc::Status Start(const std::string& token, const arv1::StartExportRequest& request,
                            arv1::ExportJob* job) {
    return stub_->StartExport(Context(token).get(), request, job);
  }

  // Every state WatchExport sends, until the stream ends.
  static std::vector<arv1::ExportJob> WatchToEnd(const std::string& token, const std::string& id,
                                                 grpc::Status* status) {
    auto ctx = Context(token, absl::Minutes(5));
    arv1::WatchExportRequest request;
    request.set_id(id);
    auto reader = stub_->WatchExport(ctx.get(), request);
    std::vector<arv1::ExportJob> seen;
    arv1::ExportJob job;
    while (reader->Read(&job)) seen.push_back(job);
    *status = reader->Finish();
    return seen;
  }

  // Downloads the package into `path`; returns the stream's status.
  static grpc::Status Fetch(const std::string& token, const std::string& id,
                            const std::string& path, std::string* sha256) {
    auto ctx = Context(token, absl::Minutes(5));
    arv1::FetchPackageRequest request;
    request.set_id(id);
    auto reader = stub_->FetchPackage(ctx.get(), request);
    std::ofstream out(path, std::ios::binary);
    arv1::PackageChunk chunk;
    while (reader->Read(&chunk)) {
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      if (!chunk.sha256().empty()) *sha256 = chunk.sha256();
    }
    return reader->Finish();
  }

  // Waits until the audit log holds entries about `dataset` (the services ship asynchronously).
  static void WaitForAuditTrail(const std::string& dataset) {
    auto audit_stub = adv1::AuditService::NewStub(
        grpc::CreateChannel(platform_->Address("audit"), grpc::InsecureChannelCredentials()));
    const std::string auditor = Token("user:revisor", {"auditor"}, "strictly-protected", true);
    for (absl::Time deadline = absl::Now() + absl::Seconds(30); absl::Now() < deadline;) {
      adv1::QueryEntriesRequest request;
      request.set_dataset(dataset);
      request.set_action("/smartcity.catalogue.v1.CatalogueService/CreateDataset");
      adv1::QueryEntriesResponse response;
      if (audit_stub->QueryEntries(Context(auditor).get(), request, &response).ok() &&
          response.entries_size() > 0) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "the catalogue's audit events for " << dataset << " never reached the audit log";
  }

  CommandResult Ctl(const std::string& token, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {BinaryPath("smartctl"), "--insecure", "--server",
                                     platform_->Address("archive"), "--timeout", "60s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv,
                      {{"XDG_CONFIG_HOME", config_home_.path()}, {"SMARTCTL_TOKEN", token},
                       {"SMARTCTL_NOARK5_XSD_DIR", noark5::SourceTreeXsdDir().string()}},
                      "", absl::Minutes(3));
  }

  static std::string Describe(const CommandResult& r) {
    return absl::StrCat("exit ", r.exit_code, "\nstdout:\n", r.out, "\nstderr:\n", r.err);
  }

  TempDir work_;
  TempDir config_home_;

  static inline PlatformUnderTest* platform_ = nullptr;
  static inline FakeNoark5Core* core_ = nullptr;
  static inline std::string admin_token_;
  static inline std::string database_;
  static inline std::string package_dir_;
  static inline absl::Time t0_;
  static inline cv1::CatalogueService::Stub* catalogue_stub_ = nullptr;
  static inline iv1::IngestionService::Stub* ingestion_stub_ = nullptr;
  static inline arv1::ArchiveService::Stub* stub_ = nullptr;
};

TEST_F(ArchiveIntegrationTest, ArchivistExportsWatchesFetchesAndThePackageIsValid) {
  WaitForAuditTrail("vannstand");
  arv1::ExportJob job;
  grpc::Status status = Start(ArchivistToken(), ExportOf("vannstand"), &job);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(job.state(), arv1::EXPORT_STATE_QUEUED);
  EXPECT_EQ(job.classification(), common::CLASSIFICATION_INTERNAL);
  EXPECT_EQ(job.config().responsible_unit(), "Bymiljø og utbygging") << "the owner's department";

  const std::vector<arv1::ExportJob> seen = WatchToEnd(ArchivistToken(), job.id(), &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(seen.empty());
  const arv1::ExportJob& done = seen.back();
  ASSERT_EQ(done.state(), arv1::EXPORT_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(done.progress().readings_written(), kReadings);
  EXPECT_EQ(done.progress().datasets_done(), 1);
  EXPECT_GT(done.progress().audit_entries_written(), 0);
  EXPECT_GT(done.package_size(), 0);

  const std::string tar = work_.path() + "/uttrekk.tar";
  std::string sha256;
  status = Fetch(ArchivistToken(), job.id(), tar, &sha256);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(static_cast<int64_t>(std::filesystem::file_size(tar)), done.package_size());
  noark5::Sha256 hash;
  hash.Update(ReadFile(tar));
  EXPECT_EQ(hash.FinishHex(), sha256);
  EXPECT_EQ(sha256, done.package_sha256());

  // The checker the service ran, run again here on the downloaded TAR.
  auto report = noark5::CheckPackage(tar, noark5::SourceTreeXsdDir());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->passed()) << report->ToText();

  // Debian's xmllint against the official schemas (the copies in ../shared, not the library's).
  const std::string unpacked = work_.path() + "/unpacked";
  std::filesystem::create_directories(unpacked);
  CommandResult untar = RunCommand({"/usr/bin/tar", "-xf", tar, "-C", unpacked});
  ASSERT_EQ(untar.exit_code, 0) << untar.err;
  std::filesystem::path content;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(unpacked)) {
    if (entry.path().filename() == "arkivuttrekk.xml") content = entry.path().parent_path();
  }
  ASSERT_FALSE(content.empty()) << "no arkivuttrekk.xml in the package";
  EXPECT_EQ(content.filename(), "content") << "Arkade's <uuid>/content/ layout";
  const std::string n5 = SharedXsdDir() + "/noark5-v5.0/";
  for (const auto& [file, schema] : std::vector<std::pair<std::string, std::string>>{
           {"arkivstruktur.xml", n5 + "arkivstruktur.xsd"},
           {"endringslogg.xml", n5 + "endringslogg.xsd"},
           {"loependeJournal.xml", n5 + "loependeJournal.xsd"},
           {"offentligJournal.xml", n5 + "offentligJournal.xsd"},
           {"arkivuttrekk.xml", SharedXsdDir() + "/addml-v8.3/addml.xsd"}}) {
    CommandResult lint = RunCommand(
        {"/usr/bin/xmllint", "--noout", "--nonet", "--schema", schema, (content / file).string()});
    EXPECT_EQ(lint.exit_code, 0) << file << ":\n" << lint.err;
  }

  // Every reading is in the CSV (one header line, one line each), and the audit trail is in
  // endringslogg.xml.
  std::filesystem::path csv;
  for (const auto& entry : std::filesystem::directory_iterator(content / "dokumenter")) {
    if (absl::EndsWith(entry.path().filename().string(), "-readings.csv")) csv = entry.path();
  }
  ASSERT_FALSE(csv.empty());
  const std::string rows = ReadFile(csv);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), kReadings + 1);
  EXPECT_TRUE(absl::StartsWith(rows, "time,source_id,level\r\n")) << rows.substr(0, 80);
  const std::string changes = ReadFile(content / "endringslogg.xml");
  EXPECT_TRUE(absl::StrContains(changes, "CreateDataset")) << "the audit trail is missing";
  const std::string structure = ReadFile(content / "arkivstruktur.xml");
  EXPECT_TRUE(absl::StrContains(structure, "Publisert versjon 3")) << "a published version";
  EXPECT_TRUE(absl::StrContains(structure, "ROS-2026-4")) << "the risk assessment";
  EXPECT_TRUE(absl::StrContains(structure, "Sensordata")) << "the configured arkivdel";
  EXPECT_TRUE(absl::StrContains(structure, "Kari Nordmann")) << "the configured case handler";

  // The job is listed, and GetExport agrees.
  arv1::ListExportsResponse list;
  ASSERT_TRUE(stub_->ListExports(Context(ArchivistToken()).get(), {}, &list).ok());
  bool listed = false;
  for (const auto& j : list.jobs()) listed |= j.id() == job.id();
  EXPECT_TRUE(listed);
}

TEST_F(ArchiveIntegrationTest, ReaderAndDataStewardArePermissionDenied) {
  const std::string reader = Token("user:leser", {"reader"}, "strictly-protected", true);
  const std::string steward =
      Token("user:forvalter", {"data-steward"}, "strictly-protected", true);
  arv1::ExportJob job;
  for (const std::string& token : {reader, steward}) {
    const grpc::Status status = Start(token, ExportOf("vannstand"), &job);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "archivist")) << status.error_message();
  }
  // Nor can they see, watch or fetch an archivist's job.
  ASSERT_TRUE(Start(ArchivistToken(), ExportOf("vannstand"), &job).ok());
  arv1::GetExportRequest get;
  get.set_id(job.id());
  arv1::ExportJob seen;
  EXPECT_EQ(stub_->GetExport(Context(steward).get(), get, &seen).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status watched;
  WatchToEnd(reader, job.id(), &watched);
  EXPECT_EQ(watched.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  std::string ignored;
  EXPECT_EQ(Fetch(steward, job.id(), work_.path() + "/x.tar", &ignored).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  arv1::ListExportsResponse list;
  ASSERT_TRUE(stub_->ListExports(Context(reader).get(), {}, &list).ok());
  EXPECT_EQ(list.jobs_size(), 0);
  // Without a token: UNAUTHENTICATED.
  EXPECT_EQ(Start("", ExportOf("vannstand"), &job).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ArchiveIntegrationTest, ArchivistBelowTheDatasetsClassIsRefused) {
  arv1::ExportJob job;
  const grpc::Status low = Start(Token("user:arkivar", {"archivist"}, "internal", false),
                                 ExportOf("helse-besok"), &job);
  EXPECT_EQ(low.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(low.error_message(), "Beskyttet")) << low.error_message();
  // Cleared, with a second factor: accepted, and the job keeps the class.
  const grpc::Status cleared =
      Start(Token("user:arkivar", {"archivist"}, "protected", true), ExportOf("helse-besok"), &job);
  ASSERT_TRUE(cleared.ok()) << cleared.error_message();
  EXPECT_EQ(job.classification(), common::CLASSIFICATION_PROTECTED);
  // ...which an Intern-cleared archivist may not fetch.
  std::string ignored;
  EXPECT_EQ(Fetch(ArchivistToken(), job.id(), work_.path() + "/x.tar", &ignored).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ArchiveIntegrationTest, CancelStopsARunningExportAndRemovesItsFiles) {
  arv1::ExportJob job;
  ASSERT_TRUE(Start(ArchivistToken(), ExportOf("vannstand-stor"), &job).ok());
  // Wait until it is reading readings (many small pages of them), then cancel.
  auto ctx = Context(ArchivistToken(), absl::Minutes(5));
  arv1::WatchExportRequest watch;
  watch.set_id(job.id());
  auto reader = stub_->WatchExport(ctx.get(), watch);
  arv1::ExportJob update;
  bool reading = false;
  while (!reading && reader->Read(&update)) {
    reading = update.progress().readings_written() > 0 &&
              update.state() == arv1::EXPORT_STATE_RUNNING;
  }
  ASSERT_TRUE(reading) << "the export ended before it was seen reading: "
                       << update.ShortDebugString();
  arv1::CancelExportRequest cancel;
  cancel.set_id(job.id());
  arv1::ExportJob cancelled;
  const grpc::Status status =
      stub_->CancelExport(Context(ArchivistToken()).get(), cancel, &cancelled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cancelled.state(), arv1::EXPORT_STATE_CANCELLED);
  EXPECT_EQ(cancelled.cancelled_by(), "user:arkivar");
  EXPECT_LT(cancelled.progress().readings_written(), kSlowReadings);
  // The watch ends with the cancelled state.
  arv1::ExportJob last = update;
  while (reader->Read(&update)) last = update;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(last.state(), arv1::EXPORT_STATE_CANCELLED);
  // Nothing is left behind, and there is nothing to fetch.
  EXPECT_FALSE(std::filesystem::exists(package_dir_ + "/.staging/" + job.id()));
  EXPECT_FALSE(std::filesystem::exists(package_dir_ + "/" + job.id() + ".tar"));
  std::string ignored;
  EXPECT_EQ(Fetch(ArchivistToken(), job.id(), work_.path() + "/x.tar", &ignored).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // A job that has ended cannot be cancelled again.
  EXPECT_EQ(stub_->CancelExport(Context(ArchivistToken()).get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ArchiveIntegrationTest, SmartctlExportsFetchesAndValidates) {
  const std::string tar = work_.path() + "/smartctl-uttrekk.tar";
  CommandResult exported =
      Ctl(ArchivistToken(), {"archive", "export", "--dataset", "vannstand", "--from",
                             absl::FormatTime(absl::RFC3339_full, t0_ - absl::Minutes(1),
                                              absl::UTCTimeZone()),
                             "--out", tar});
  ASSERT_EQ(exported.exit_code, 0) << Describe(exported);
  EXPECT_TRUE(absl::StrContains(exported.out, "succeeded")) << exported.out;
  EXPECT_TRUE(exported.err.find('\r') == std::string::npos) << "no progress bar when piped";

  CommandResult valid = Ctl(ArchivistToken(), {"archive", "validate", tar});
  EXPECT_EQ(valid.exit_code, 0) << Describe(valid);
  EXPECT_TRUE(absl::StrContains(valid.out, "N5.30")) << valid.out;

  // The same package with one reading changed inside the TAR: the checks find it.
  std::string bytes = ReadFile(tar);
  const size_t at = bytes.find("maaler-1,");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 9] = bytes[at + 9] == '9' ? '8' : '9';
  const std::string damaged = work_.path() + "/damaged.tar";
  std::ofstream(damaged, std::ios::binary) << bytes;
  CommandResult invalid = Ctl(ArchivistToken(), {"archive", "validate", damaged});
  EXPECT_EQ(invalid.exit_code, 1) << Describe(invalid);
  EXPECT_TRUE(absl::StrContains(invalid.out, "FAIL")) << invalid.out;

  CommandResult jobs = Ctl(ArchivistToken(), {"archive", "jobs", "-o", "json"});
  ASSERT_EQ(jobs.exit_code, 0) << Describe(jobs);
  const auto listed = nlohmann::json::parse(jobs.out);
  ASSERT_FALSE(listed["jobs"].empty());
  const std::string id = listed["jobs"][0]["id"].get<std::string>();
  CommandResult status = Ctl(ArchivistToken(), {"archive", "status", id});
  EXPECT_EQ(status.exit_code, 0) << Describe(status);
  EXPECT_TRUE(absl::StrContains(status.out, id));

  CommandResult fetched = Ctl(ArchivistToken(), {"archive", "fetch", id, "--out",
                                                 work_.path() + "/again.tar"});
  EXPECT_EQ(fetched.exit_code, 0) << Describe(fetched);

  CommandResult refused = Ctl(Token("user:leser", {"reader"}, "internal", false),
                              {"archive", "export", "--dataset", "vannstand"});
  EXPECT_EQ(refused.exit_code, 1) << Describe(refused);
  EXPECT_TRUE(absl::StrContains(refused.err, "archivist")) << refused.err;

  CommandResult usage = Ctl(ArchivistToken(), {"archive", "export"});
  EXPECT_EQ(usage.exit_code, 2) << Describe(usage);
}

TEST_F(ArchiveIntegrationTest, ExportInterruptedByARestartIsRunAgainToTheEnd) {
  arv1::ExportJob job;
  ASSERT_TRUE(Start(ArchivistToken(), ExportOf("vannstand-stor"), &job).ok());
  // Wait until it runs, then kill the archive (no clean shutdown) and start it again.
  for (absl::Time deadline = absl::Now() + absl::Seconds(30); absl::Now() < deadline;) {
    arv1::GetExportRequest get;
    get.set_id(job.id());
    arv1::ExportJob now;
    ASSERT_TRUE(stub_->GetExport(Context(ArchivistToken()).get(), get, &now).ok());
    if (now.state() == arv1::EXPORT_STATE_RUNNING) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(platform_->service("archive").pid(), SIGKILL);
  platform_->Stop("archive");  // reaps it
  StartArchive();
  grpc::Status status;
  const std::vector<arv1::ExportJob> seen = WatchToEnd(ArchivistToken(), job.id(), &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().state(), arv1::EXPORT_STATE_SUCCEEDED) << seen.back().error();
  EXPECT_EQ(seen.back().attempts(), 2);
  EXPECT_EQ(seen.back().progress().readings_written(), kSlowReadings);
}

TEST_F(ArchiveIntegrationTest, SucceededExportIsPushedToTheNoark5CoreOnceAndRetriedAfterFailure) {
  arv1::ExportJob job;
  ASSERT_TRUE(Start(ArchivistToken(), ExportOf("vannstand"), &job).ok());
  grpc::Status status;
  const std::vector<arv1::ExportJob> seen = WatchToEnd(ArchivistToken(), job.id(), &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(seen.back().state(), arv1::EXPORT_STATE_SUCCEEDED) << seen.back().error();

  // Only an archivist (cleared for the class) may push.
  arv1::ExportJob refused;
  status = Push(Token("user:leser", {"reader"}, "strictly-protected", true), job.id(), &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  status = Push(Token("user:arkivar-aapen", {"archivist"}, "open", false), job.id(), &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_TRUE(core_->requests().empty()) << "a refused push must not reach the core";

  // The core is down: UNAVAILABLE, and the job says why.
  core_->Stop();
  arv1::ExportJob failed;
  status = Push(ArchivistToken(), job.id(), &failed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  arv1::ExportJob recorded = Get(job.id());
  EXPECT_EQ(recorded.push().state(), arv1::PUSH_STATE_FAILED);
  EXPECT_FALSE(recorded.push().error().empty());
  EXPECT_EQ(recorded.push().core_url(), core_->root_url());
  EXPECT_EQ(recorded.state(), arv1::EXPORT_STATE_SUCCEEDED) << "a failed push leaves the export";

  // Up again: the retry (from smartctl) creates the whole case file.
  core_->Start();
  CommandResult pushed = Ctl(ArchivistToken(), {"archive", "push", job.id()});
  ASSERT_EQ(pushed.exit_code, 0) << Describe(pushed);
  EXPECT_TRUE(absl::StrContains(pushed.out, "saksmappe vannstand")) << pushed.out;
  recorded = Get(job.id());
  EXPECT_EQ(recorded.push().state(), arv1::PUSH_STATE_PUSHED) << recorded.push().error();
  EXPECT_EQ(recorded.push().attempts(), 2);
  EXPECT_TRUE(recorded.push().has_pushed_at());
  EXPECT_TRUE(recorded.push().error().empty());
  EXPECT_EQ(recorded.push().pushed_by(), "user:arkivar");
  ASSERT_EQ(recorded.push().case_files_size(), 1);
  EXPECT_EQ(recorded.push().case_files(0).mappe_id(), "vannstand");
  EXPECT_FALSE(recorded.push().case_files(0).system_id().empty());

  // What the core received: the published relations followed from its root, with the bearer
  // token (the fake refuses and lists anything else), one saksmappe, and the package's files.
  EXPECT_TRUE(core_->problems().empty()) << core_->problems().front();
  EXPECT_GE(core_->token_requests(), 1);
  const std::vector<std::string> requests = core_->requests();
  const std::vector<std::string> discovery = {
      "GET /noark5v5/", "GET /noark5v5/api/arkivstruktur/",
      "GET /noark5v5/api/arkivstruktur/arkivdel/",
      "POST /noark5v5/api/arkivstruktur/arkivdel/ad-2/ny-saksmappe/"};
  auto first = std::find(requests.begin(), requests.end(), discovery[0]);
  ASSERT_NE(first, requests.end());
  ASSERT_GE(requests.end() - first, 4);
  EXPECT_EQ(std::vector<std::string>(first, first + 4), discovery);
  int case_files = 0, entries = 0;
  for (const auto& created : core_->created()) {
    if (created.kind == "saksmappe") {
      ++case_files;
      EXPECT_EQ(created.body["saksansvarlig"], "Kari Nordmann");
      EXPECT_EQ(created.body["administrativEnhet"], "Bymiljø og utbygging");
    }
    entries += created.kind == "journalpost";
  }
  EXPECT_EQ(case_files, 1);
  EXPECT_GE(entries, 3) << "the metadata, the published versions and the risk assessment";

  const std::string tar = work_.path() + "/pushed.tar";
  std::string sha256;
  ASSERT_TRUE(Fetch(ArchivistToken(), job.id(), tar, &sha256).ok());
  const std::string unpacked = work_.path() + "/pushed";
  std::filesystem::create_directories(unpacked);
  ASSERT_EQ(RunCommand({"/usr/bin/tar", "-xf", tar, "-C", unpacked}).exit_code, 0);
  std::string structure;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(unpacked)) {
    if (entry.path().filename() == "arkivstruktur.xml") structure = ReadFile(entry.path());
  }
  ASSERT_FALSE(structure.empty());
  int csv_uploads = 0;
  for (const auto& upload : core_->uploads()) {
    noark5::Sha256 hash;
    hash.Update(upload.bytes);
    EXPECT_EQ(hash.FinishHex(), upload.sjekksum) << upload.title;
    EXPECT_TRUE(absl::StrContains(structure, upload.sjekksum))
        << upload.title << ": the core got bytes the package does not hold";
    if (upload.content_type == "text/csv") {
      ++csv_uploads;
      EXPECT_EQ(std::count(upload.bytes.begin(), upload.bytes.end(), '\n'), kReadings + 1);
    }
  }
  EXPECT_EQ(csv_uploads, 1) << "the readings CSV";

  // Never twice.
  const size_t created_before = core_->created().size();
  arv1::ExportJob again;
  status = Push(ArchivistToken(), job.id(), &again);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  EXPECT_EQ(core_->created().size(), created_before);
  CommandResult twice = Ctl(ArchivistToken(), {"archive", "push", job.id()});
  EXPECT_EQ(twice.exit_code, 1) << Describe(twice);
  EXPECT_TRUE(absl::StrContains(twice.err, "already pushed")) << twice.err;

  // smartctl archive status shows the push.
  CommandResult shown = Ctl(ArchivistToken(), {"archive", "status", job.id()});
  EXPECT_EQ(shown.exit_code, 0) << Describe(shown);
  EXPECT_TRUE(absl::StrContains(shown.out, recorded.push().case_files(0).system_id())) << shown.out;
}

TEST_F(ArchiveIntegrationTest, OnlyASucceededExportCanBePushed) {
  arv1::ExportJob job;
  ASSERT_TRUE(Start(ArchivistToken(), ExportOf("vannstand-stor"), &job).ok());
  arv1::CancelExportRequest cancel;
  cancel.set_id(job.id());
  arv1::ExportJob cancelled;
  ASSERT_TRUE(stub_->CancelExport(Context(ArchivistToken()).get(), cancel, &cancelled).ok());
  arv1::ExportJob pushed;
  grpc::Status status = Push(ArchivistToken(), job.id(), &pushed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "SUCCEEDED")) << status.error_message();
  status = Push(ArchivistToken(), "00000000-0000-4000-8000-000000000000", &pushed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
}

}  // namespace
}  // namespace smartby
