// End-to-end: the real smartctl binary against a real smartby-catalogue on a free loopback port,
// with a fresh SQLite database and a private XDG_CONFIG_HOME. Each test uses its own dataset
// names, so the tests share one catalogue and may run in any order.
//
// The catalogue trusts a test token issuer (--auth_jwks=file:...); smartctl sends the token in
// SMARTCTL_TOKEN: a platform admin's unless a test says otherwise.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/test_tokens.h"

namespace {

namespace v1 = smartcity::catalogue::v1;
using smartby::testing::BinaryPath;
using smartby::testing::CommandResult;
using smartby::testing::Env;
using smartby::testing::RunCommand;
using smartby::testing::ServiceProcess;
using smartby::testing::TempDir;
using smartby::testing::TestTokenIssuer;
using smartby::testing::TokenSpec;
using ::testing::HasSubstr;
using ::testing::Not;

// A token spec with just these claims (the rest as TokenSpec's defaults).
TokenSpec Spec(const std::string& subject, std::vector<std::string> roles,
               const std::string& clearance, bool tfa) {
  TokenSpec spec;
  spec.subject = subject;
  spec.roles = std::move(roles);
  spec.clearance = clearance;
  spec.tfa = tfa;
  return spec;
}

template <typename Message>
Message ParseJson(const std::string& json) {
  Message message;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return message;
}

std::string Describe(const CommandResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\n--- stdout\n", r.out, "--- stderr\n", r.err);
}

// A loopback port nothing listens on (bound, then released).
int UnusedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class SmartctlE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new TempDir();
    issuer_ = new TestTokenIssuer(data_dir_->path());
    auto process = ServiceProcess::Start(
        BinaryPath("smartby-catalogue"),
        {"--listen", "127.0.0.1:0", "--metrics_listen", "127.0.0.1:0", "--database",
         absl::StrCat("sqlite://", data_dir_->path(), "/catalogue.db"), issuer_->ServiceFlag()});
    ASSERT_TRUE(process.ok()) << process.status();
    catalogue_ = process->release();
  }

  static void TearDownTestSuite() {
    delete catalogue_;
    catalogue_ = nullptr;
    delete issuer_;
    issuer_ = nullptr;
    delete data_dir_;
    data_dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(catalogue_, nullptr) << "the catalogue did not start";
    token_ = issuer_->AdminToken();
  }

  // smartctl with the given arguments, a private config directory, no SMARTCTL_SERVER, and
  // token_ in SMARTCTL_TOKEN.
  CommandResult Run(const std::vector<std::string>& args, const std::string& stdin_data = "") {
    std::vector<std::string> argv = {BinaryPath("smartctl")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv,
                      {{"XDG_CONFIG_HOME", config_home_.path()},
                       {"SMARTCTL_SERVER", ""},
                       {"SMARTCTL_TOKEN", token_}},
                      stdin_data);
  }

  // smartctl pointed at the test catalogue.
  CommandResult Ctl(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {"--insecure", "--server", catalogue_->grpc_address()});
    return Run(args, stdin_data);
  }

  // smartctl pointed at the test catalogue, sending `token` ("" for none).
  CommandResult CtlAs(const std::string& token, std::vector<std::string> args) {
    const std::string saved = token_;
    token_ = token;
    CommandResult r = Ctl(std::move(args));
    token_ = saved;
    return r;
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = absl::StrCat(files_.path(), "/", name);
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  // Creates an open dataset from flags; fails the test if that does not work.
  void CreateOpen(const std::string& name, const std::string& title,
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "dataset",           "create",           name,   "--title",   title,     "--owner",
        "Stavanger kommune", "--classification", "open", "--license", "NLOD-2.0"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = Ctl(args);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }

  static TempDir* data_dir_;
  static TestTokenIssuer* issuer_;
  static ServiceProcess* catalogue_;
  std::string token_;  // sent as SMARTCTL_TOKEN
  TempDir config_home_;
  TempDir files_;
};

TempDir* SmartctlE2ETest::data_dir_ = nullptr;
TestTokenIssuer* SmartctlE2ETest::issuer_ = nullptr;
ServiceProcess* SmartctlE2ETest::catalogue_ = nullptr;

TEST_F(SmartctlE2ETest, StatusShowsTheCatalogueServing) {
  CommandResult r = Ctl({"status", "catalogue"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, Not(HasSubstr("auth")));
  EXPECT_THAT(r.out, HasSubstr("catalogue"));
  EXPECT_THAT(r.out, HasSubstr("SERVING"));
}

TEST_F(SmartctlE2ETest, CreateFromFlagsThenGetAsJsonShowsIt) {
  CommandResult r = Ctl({"dataset",
                         "create",
                         "e2e-flags",
                         "--title",
                         "Badetemperatur Vågen",
                         "--description",
                         "Vanntemperatur målt hver time",
                         "--owner",
                         "Stavanger kommune",
                         "--department",
                         "Bymiljø",
                         "--classification",
                         "open",
                         "--license",
                         "NLOD-2.0",
                         "--theme",
                         "ENVI",
                         "--theme",
                         "TRAN",
                         "--keyword",
                         "bading",
                         "--frequency",
                         "hourly",
                         "--field",
                         "time:timestamp",
                         "--field",
                         "temperature:double:°C:water temperature at 1 m"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("e2e-flags created"));

  r = Ctl({"dataset", "get", "e2e-flags", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("\"update_frequency\""));  // proto field names
  const auto d = ParseJson<v1::Dataset>(r.out);
  EXPECT_EQ(d.title(), "Badetemperatur Vågen");
  EXPECT_EQ(d.owner().department(), "Bymiljø");
  EXPECT_EQ(d.classification(), smartcity::common::v1::CLASSIFICATION_OPEN);
  EXPECT_EQ(d.themes_size(), 2);
  EXPECT_EQ(d.update_frequency(), v1::UPDATE_FREQUENCY_HOURLY);
  ASSERT_EQ(d.fields_size(), 2);
  EXPECT_EQ(d.fields(1).unit(), "°C");
  EXPECT_EQ(d.fields(1).description(), "water temperature at 1 m");
  EXPECT_EQ(d.state(), v1::DATASET_STATE_DRAFT);
  EXPECT_EQ(d.version(), 1);

  r = Ctl({"dataset", "get", "e2e-flags", "-o", "yaml"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("name: e2e-flags"));
}

TEST_F(SmartctlE2ETest, CreateFromYamlFileWithFriendlyValues) {
  const std::string path = WriteFile("air.yaml", R"(name: e2e-yaml
title: Luftkvalitet Kannik
description: "NO2 og svevestøv, timesverdier"
owner:
  organization: Stavanger kommune
classification: intern
themes: [ENVI, heal]
keywords: [luft, "true"]
updateFrequency: hourly
fields:
- {name: no2, type: double, unit: µg/m³}
- name: pm10
  type: DOUBLE
risk_assessment:
  reference: ROS-2026-001
  assessed_time: 2026-01-31
)");
  CommandResult r = Ctl({"dataset", "create", "-f", path});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  r = Ctl({"dataset", "get", "e2e-yaml", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto d = ParseJson<v1::Dataset>(r.out);
  EXPECT_EQ(d.classification(), smartcity::common::v1::CLASSIFICATION_INTERNAL);
  ASSERT_EQ(d.themes_size(), 2);
  EXPECT_EQ(d.themes(1), v1::THEME_HEAL);
  ASSERT_EQ(d.keywords_size(), 2);
  EXPECT_EQ(d.keywords(1), "true");  // quoted in YAML: a string, not a boolean
  EXPECT_EQ(d.update_frequency(), v1::UPDATE_FREQUENCY_HOURLY);
  ASSERT_EQ(d.fields_size(), 2);
  EXPECT_EQ(d.fields(1).type(), v1::FIELD_TYPE_DOUBLE);
  EXPECT_EQ(d.risk_assessment().assessed_time().seconds(), 1769817600);  // 2026-01-31T00:00Z
}

TEST_F(SmartctlE2ETest, FileThatIsNotUtf8IsRefusedWithItsLine) {
  const std::string path = WriteFile("latin1.yaml", "name: e2e-latin1\ntitle: Bymilj\xf8\n");
  CommandResult r = Ctl({"dataset", "create", "-f", path});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("line 2"));
  EXPECT_THAT(r.err, HasSubstr("UTF-8"));
}

TEST_F(SmartctlE2ETest, SearchFindsTheDatasetWithFacets) {
  CreateOpen("e2e-search", "Sykkeltellinger Hillevåg",
             {"--theme", "TRAN", "--keyword", "sykkelteller"});
  CommandResult r = Ctl({"dataset", "search", "sykkelteller"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("e2e-search"));
  EXPECT_THAT(r.out, HasSubstr("SCORE"));
  EXPECT_THAT(r.out, HasSubstr("Themes:"));

  r = Ctl({"dataset", "search", "sykkelteller", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto response = ParseJson<v1::SearchDatasetsResponse>(r.out);
  ASSERT_GE(response.hits_size(), 1);
  EXPECT_EQ(response.hits(0).dataset().name(), "e2e-search");
  EXPECT_GE(response.theme_facets_size(), 1);
  EXPECT_GE(response.owner_facets_size(), 1);
}

TEST_F(SmartctlE2ETest, PublishNeedsARiskAssessmentForInternalData) {
  CommandResult r = Ctl({"dataset", "create", "e2e-internal", "--title", "Vannforbruk", "--owner",
                         "Stavanger kommune", "--classification", "internal"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  r = Ctl({"dataset", "publish", "e2e-internal"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("risk assessment"));
  EXPECT_THAT(r.err, HasSubstr("--ros"));  // the hint says how
  EXPECT_THAT(r.err, HasSubstr("(request id: "));
  EXPECT_THAT(r.err, Not(HasSubstr("FAILED_PRECONDITION")));

  r = Ctl(
      {"dataset", "update", "e2e-internal", "--ros", "ROS-2026-007", "--ros-date", "2026-01-31"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Ctl({"dataset", "publish", "e2e-internal"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("published"));
}

TEST_F(SmartctlE2ETest, UpdateWithAStaleVersionIsRefused) {
  CreateOpen("e2e-stale", "Parkering");
  CommandResult r = Ctl({"dataset", "update", "e2e-stale", "--description", "first"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);  // now at version 2

  r = Ctl({"dataset", "update", "e2e-stale", "--description", "second", "--version", "1"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("since you read it"));
  EXPECT_THAT(r.err, HasSubstr("(request id: "));

  r = Ctl({"dataset", "update", "e2e-stale", "--description", "second", "--version", "2"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
}

TEST_F(SmartctlE2ETest, HistoryListsEveryVersion) {
  CreateOpen("e2e-history", "Støymålinger");
  ASSERT_EQ(Ctl({"dataset", "update", "e2e-history", "--description", "dB(A)"}).exit_code, 0);
  ASSERT_EQ(Ctl({"dataset", "update", "e2e-history", "--keyword", "støy"}).exit_code, 0);

  CommandResult r = Ctl({"dataset", "history", "e2e-history"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("VERSION"));
  EXPECT_THAT(r.out, HasSubstr("created"));
  EXPECT_THAT(r.out, HasSubstr("updated"));
  EXPECT_THAT(r.out, HasSubstr("keywords"));

  r = Ctl({"dataset", "history", "e2e-history", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto history = ParseJson<v1::ListDatasetHistoryResponse>(r.out);
  ASSERT_EQ(history.changes_size(), 3);
  EXPECT_EQ(history.changes(0).version(), 3);  // newest first
  EXPECT_EQ(history.changes(2).action(), "created");
}

TEST_F(SmartctlE2ETest, ExportIsTurtleThatRapperParses) {
  CreateOpen("e2e-export", "Bysykkelstasjoner",
             {"--theme", "TRAN", "--description", "Stasjoner og ledige sykler \"nå\""});
  ASSERT_EQ(Ctl({"dataset", "publish", "e2e-export"}).exit_code, 0);

  CommandResult r = Ctl({"catalogue", "export", "--format", "turtle"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  CommandResult rapper = RunCommand({"/usr/bin/rapper", "-q", "-i", "turtle", "-o", "ntriples", "-",
                                     "https://data.smartby.example/"},
                                    {}, r.out);
  ASSERT_EQ(rapper.exit_code, 0) << Describe(rapper) << "\n--- turtle\n" << r.out;
  const std::string uri = "<https://data.smartby.example/datasets/e2e-export>";
  bool has_title = false;
  for (absl::string_view line : absl::StrSplit(rapper.out, '\n')) {
    if (absl::StartsWith(line, uri + " <http://purl.org/dc/terms/title>")) has_title = true;
  }
  EXPECT_TRUE(has_title) << rapper.out;

  const std::string file = absl::StrCat(files_.path(), "/catalogue.ttl");
  r = Ctl({"catalogue", "export", "--output-file", file});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::ifstream in(file);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(content, HasSubstr("e2e-export"));
}

TEST_F(SmartctlE2ETest, UsageErrorsExitWith2) {
  CommandResult r = Ctl({"dataset", "create", "e2e-usage", "--title", "x", "--colour", "red"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown flag --colour"));
  EXPECT_THAT(r.err, HasSubstr("usage: smartctl dataset create"));

  EXPECT_EQ(Ctl({"datasett", "list"}).exit_code, 2);
  EXPECT_EQ(Ctl({"dataset", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(Ctl({"dataset", "get"}).exit_code, 2);
  EXPECT_EQ(Ctl({"dataset", "list", "-o", "xml"}).exit_code, 2);
  EXPECT_EQ(Ctl({"dataset", "create", "e2e-usage", "--title", "x", "--classification", "secret"})
                .exit_code,
            2);
  // Plaintext is only for this machine.
  r = Run({"--insecure", "--server", "catalogue.example.no:7001", "dataset", "list"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("--insecure"));

  r = Run({"dataset", "create", "--help"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("Examples:"));
}

TEST_F(SmartctlE2ETest, UnreachableServerExitsWith3) {
  const std::string address = absl::StrCat("127.0.0.1:", UnusedPort());
  CommandResult r = Run({"--insecure", "--server", address, "dataset", "list"});
  EXPECT_EQ(r.exit_code, 3) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("cannot reach catalogue at ", address)));

  r = Run({"--insecure", "--server", address, "status"});
  EXPECT_EQ(r.exit_code, 3) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("UNREACHABLE"));
  r = Run({"--insecure", "--server", address, "status", "no-such-service"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown service"));
}

TEST_F(SmartctlE2ETest, SetContextWritesAPrivateFileAndContextUsesIt) {
  CommandResult r =
      Run({"config", "set-context", "e2e", "--server", catalogue_->grpc_address(), "--insecure"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string path = absl::StrCat(config_home_.path(), "/smartctl/config.yaml");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(::stat((config_home_.path() + "/smartctl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);

  // With a current context that points nowhere, --context still reaches the first one.
  const std::string nowhere = absl::StrCat("127.0.0.1:", UnusedPort());
  ASSERT_EQ(
      Run({"config", "set-context", "elsewhere", "--server", nowhere, "--insecure"}).exit_code, 0);
  ASSERT_EQ(Run({"config", "use-context", "elsewhere"}).exit_code, 0);
  EXPECT_EQ(Run({"dataset", "list"}).exit_code, 3);
  r = Run({"--context", "e2e", "dataset", "list"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);

  r = Run({"config", "get-contexts"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("e2e"));
  EXPECT_THAT(r.out, HasSubstr("elsewhere"));

  EXPECT_EQ(Run({"--context", "missing", "dataset", "list"}).exit_code, 2);
}

TEST_F(SmartctlE2ETest, ApplyTwiceChangesNothingTheSecondTime) {
  const std::string path = WriteFile("demo.yaml", R"(name: e2e-apply-a
title: Avfallstømming
owner: {organization: Stavanger kommune}
classification: open
license: NLOD-2.0
themes: [ENVI]
state: published
resources:
- title: Tømmeplan
  format: CSV
  access_url: https://data.smartby.example/files/tommeplan.csv
---
name: e2e-apply-b
title: Skolebygg energibruk
owner:
  organization: Stavanger kommune
  department: Eiendom
classification: CLASSIFICATION_INTERNAL
keywords: [energi, skole]
fields:
- name: kwh
  type: double
  unit: kWh
)");
  CommandResult first = Ctl({"dataset", "apply", "-f", path});
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  EXPECT_THAT(first.out, HasSubstr("e2e-apply-a created"));
  EXPECT_THAT(first.out, HasSubstr("e2e-apply-a published"));
  EXPECT_THAT(first.out, HasSubstr("e2e-apply-b created"));

  CommandResult second = Ctl({"dataset", "apply", "-f", path});
  ASSERT_EQ(second.exit_code, 0) << Describe(second);
  EXPECT_EQ(second.out, "e2e-apply-a unchanged\ne2e-apply-b unchanged\n");

  // A change in the file is applied, and only that.
  const std::string changed = WriteFile("demo2.yaml", R"(datasets:
- name: e2e-apply-b
  title: Skolebygg energibruk per time
)");
  CommandResult third = Ctl({"dataset", "apply", "-f", changed});
  ASSERT_EQ(third.exit_code, 0) << Describe(third);
  EXPECT_EQ(third.out, "e2e-apply-b updated\n");
  CommandResult get = Ctl({"dataset", "get", "e2e-apply-b", "-o", "json"});
  const auto d = ParseJson<v1::Dataset>(get.out);
  EXPECT_EQ(d.title(), "Skolebygg energibruk per time");
  EXPECT_EQ(d.keywords_size(), 2);
}

TEST_F(SmartctlE2ETest, ResourcesCanBeAddedListedAndRemoved) {
  CreateOpen("e2e-resources", "Trafikkmengde");
  CommandResult r = Ctl({"resource", "add", "e2e-resources", "--title", "Døgnverdier", "--format",
                         "csv", "--url", "https://data.smartby.example/t.csv", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto resource = ParseJson<v1::Resource>(r.out);
  ASSERT_FALSE(resource.id().empty());

  r = Ctl({"resource", "list", "e2e-resources"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(resource.id()));
  EXPECT_THAT(r.out, HasSubstr("text/csv"));

  r = Ctl({"resource", "remove", "e2e-resources", resource.id()});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  r = Ctl({"resource", "remove", "e2e-resources", resource.id()});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
}

TEST_F(SmartctlE2ETest, ReaderIsRefusedCreatingADataset) {
  const std::string reader = issuer_->Token(Spec("user:rita", {"reader"}, "internal", true));
  CommandResult r = CtlAs(reader, {"dataset", "create", "e2e-by-reader", "--title", "Parkering",
                                   "--owner", "Stavanger kommune", "--classification", "open"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("dataset-owner:Stavanger kommune"));  // the role that would do
  EXPECT_THAT(r.err, HasSubstr("(request id: "));
  EXPECT_THAT(r.err, Not(HasSubstr("PERMISSION_DENIED")));
  r = Ctl({"dataset", "get", "e2e-by-reader"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);  // nothing was created

  // The owner of the organisation may.
  const std::string owner = issuer_->Token(
      Spec("user:olav", {"dataset-owner:Stavanger kommune"}, "internal", true));
  r = CtlAs(owner, {"dataset", "create", "e2e-by-owner", "--title", "Parkering", "--owner",
                    "Stavanger kommune", "--classification", "open"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
}

TEST_F(SmartctlE2ETest, WithoutATokenOnlyPublishedOpenDatasetsAreListed) {
  CreateOpen("e2e-anon-draft", "Snørydding");
  CreateOpen("e2e-anon-published", "Snørydding publisert");
  ASSERT_EQ(Ctl({"dataset", "publish", "e2e-anon-published"}).exit_code, 0);

  CommandResult r = CtlAs("", {"dataset", "list", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("e2e-anon-published"));
  EXPECT_THAT(r.out, Not(HasSubstr("e2e-anon-draft")));

  r = CtlAs("", {"dataset", "get", "e2e-anon-draft"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("sign in"));
}

}  // namespace
