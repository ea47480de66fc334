// End-to-end: the real smartctl binary's ingestion nouns (`source`, `ingest`, `readings`,
// `quality`, `retention`) against real smartby-auth, smartby-catalogue and smartby-ingestion
// processes on free loopback ports, started once for the suite (ingestion with its own service
// account, as in ingestion_integration_test). Each test uses its own datasets and sources, so
// the tests may run in any order.
//
// smartctl runs with a private XDG_CONFIG_HOME, --insecure --server <ingestion>, and a platform
// admin's token in SMARTCTL_TOKEN (signed with the auth service's key, so every service trusts
// it). RunCommand pipes its standard output and error, so no progress bar may ever show; one
// test runs smartctl with standard error on a pseudo-terminal to see that the bar does run there.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"
#include "smartcity/ingestion/v1/ingestion.grpc.pb.h"
#include "tests/support/platform_under_test.h"

namespace smartby {
namespace {

namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using google::protobuf::util::TimeUtil;
using testing::BinaryPath;
using testing::CommandResult;
using testing::FreeLoopbackPort;
using testing::ParkingFields;
using testing::PlatformUnderTest;
using testing::RunCommand;
using testing::SchemaFieldSpec;
using testing::SensorDataset;
using testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Describe(const CommandResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\n--- stdout\n", r.out, "--- stderr\n", r.err);
}

// RFC 3339, UTC, whole seconds.
std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// The line of `text` that contains `needle` ("" if none).
std::string LineWith(const std::string& text, const std::string& needle) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, needle)) return std::string(line);
  }
  return "";
}

// The blank-separated cells of a table row.
std::vector<std::string> Cells(const std::string& line) {
  return absl::StrSplit(line, ' ', absl::SkipEmpty());
}

int CountLinesWith(const std::string& text, const std::string& needle) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) n += absl::StrContains(line, needle);
  return n;
}

// Nothing a progress bar draws: carriage returns (redraw in place) and ANSI escapes (\033[K
// clears the line), nor the bar's own cells.
void ExpectNoProgressOutput(const CommandResult& r) {
  for (const std::string* stream : {&r.out, &r.err}) {
    EXPECT_EQ(stream->find('\r'), std::string::npos) << Describe(r);
    EXPECT_EQ(stream->find('\033'), std::string::npos) << Describe(r);
    EXPECT_THAT(*stream, Not(HasSubstr("=>"))) << Describe(r);
    EXPECT_THAT(*stream, Not(HasSubstr(" rows  "))) << Describe(r);
  }
}

// The positive control for ExpectNoProgressOutput: smartctl with standard error on a
// pseudo-terminal (standard output and input still pipes). `feed` writes standard input and
// returns false when it is done; it is called until then, and is given what the terminal has
// shown so far. Returns the exit code, standard output and the terminal's output.
struct TerminalRun {
  int exit_code = -1;
  std::string out;
  std::string terminal;
};

TerminalRun RunWithTerminalStderr(const std::vector<std::string>& args,
                                  const std::vector<std::string>& extra_env,
                                  const std::function<bool(int fd, const std::string&)>& feed,
                                  absl::Duration timeout) {
  TerminalRun result;
  int master = -1, slave = -1;
  if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return result;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return result;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<std::string> argv_strings = args;
  std::vector<char*> argv, envp;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(slave, STDERR_FILENO);
    ::close(master);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(slave);
  std::mutex mu;
  std::string terminal;
  std::thread terminal_reader([&] {
    char buffer[4096];
    while (true) {
      const ssize_t n = ::read(master, buffer, sizeof buffer);
      if (n <= 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EIO once the child's side is closed
      std::lock_guard<std::mutex> lock(mu);
      terminal.append(buffer, static_cast<size_t>(n));
    }
  });
  std::thread out_reader([&] {
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(out[0], buffer, sizeof buffer)) > 0) {
      result.out.append(buffer, static_cast<size_t>(n));
    }
  });
  ::signal(SIGPIPE, SIG_IGN);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::string shown;
    {
      std::lock_guard<std::mutex> lock(mu);
      shown = terminal;
    }
    if (!feed(in[1], shown)) break;
  }
  ::close(in[1]);
  int status = 0;
  bool exited = false;
  while (absl::Now() < deadline + absl::Seconds(60)) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      exited = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));  // polling for the exit, not synchronising
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  out_reader.join();
  terminal_reader.join();  // the child has exited: its side of the terminal is closed
  ::close(master);
  ::close(out[0]);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  result.terminal = terminal;
  return result;
}

class SmartctlIngestionE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    platform_ = new PlatformUnderTest();
    ASSERT_EQ(platform_->StartAuth(), absl::OkStatus());
    ASSERT_EQ(platform_->CreateServiceAccount("ingestion", {"audit-writer", "platform-service"}),
              absl::OkStatus());
    ASSERT_EQ(platform_->Start("catalogue"), absl::OkStatus());
    for (const char* name : {"e2e-kilde", "e2e-fil", "e2e-sporring", "e2e-stor"}) {
      CreateDataset(name, ParkingFields());
    }
    CreateDataset("e2e-avfall", {{"fill_level", cv1::FIELD_TYPE_DOUBLE, 0, 100},
                                 {"position", cv1::FIELD_TYPE_GEOPOINT}});
    ASSERT_EQ(platform_->Start("ingestion", {platform_->ServiceFlag("catalogue")}),
              absl::OkStatus());
    stub_ = iv1::IngestionService::NewStub(platform_->Channel("ingestion")).release();

    // Readings are placed on whole hours a day and more back: in the past (not rejected as
    // future), and far from now whatever the machine's load.
    base_ = new absl::Time(absl::FromUnixSeconds(
        (absl::ToUnixSeconds(absl::Now() - absl::Hours(30)) / 3600) * 3600));
  }

  static void TearDownTestSuite() {
    delete stub_;
    stub_ = nullptr;
    delete platform_;
    platform_ = nullptr;
    delete base_;
    base_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(platform_->IsRunning("ingestion")) << "the services did not start";
  }

  // A fresh platform-admin token (tokens live 5 minutes; the suite may take longer).
  static std::string AdminToken() { return platform_->AdminToken(); }

  // Open and published, so that smartctl's reads need no clearance.
  static void CreateDataset(const std::string& name, const std::vector<SchemaFieldSpec>& fields) {
    ASSERT_EQ(platform_->CreateDataset(
                  SensorDataset(name, smartcity::common::v1::CLASSIFICATION_OPEN, fields),
                  /*publish=*/true),
              absl::OkStatus());
  }

  // smartctl against `server`, with a private config directory and an admin's token.
  CommandResult CtlAt(const std::string& server, const std::vector<std::string>& args,
                      const std::string& stdin_data = "") {
    std::vector<std::string> argv = {BinaryPath("smartctl"), "--insecure", "--server", server,
                                     "--timeout", "60s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv,
                      {{"XDG_CONFIG_HOME", config_home_.path()},
                       {"SMARTCTL_SERVER", ""},
                       {"SMARTCTL_TOKEN", AdminToken()}},
                      stdin_data, absl::Minutes(3));
  }

  // smartctl against the test's ingestion service.
  CommandResult Ctl(const std::vector<std::string>& args, const std::string& stdin_data = "") {
    return CtlAt(platform_->service("ingestion").grpc_address(), args, stdin_data);
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = absl::StrCat(files_.path(), "/", name);
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  // Registers `id` with smartctl; fails the test if that does not work.
  void Register(const std::string& id, const std::string& dataset,
                std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"source", "register", id, "--dataset", dataset};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = Ctl(args);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    return PlatformUnderTest::Context(AdminToken());
  }

  // Every stored reading of `source`, oldest first, over gRPC (not through smartctl).
  static std::vector<iv1::Reading> Stored(const std::string& source) {
    iv1::QueryReadingsRequest request;
    request.set_source_id(source);
    request.set_page_size(10000);
    std::vector<iv1::Reading> out;
    do {
      auto ctx = Context();
      iv1::QueryReadingsResponse response;
      const grpc::Status status = stub_->QueryReadings(ctx.get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) return out;
      out.insert(out.end(), response.readings().begin(), response.readings().end());
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return out;
  }

  static absl::Time At(int minutes) { return *base_ + absl::Minutes(minutes); }
  static std::string T(int minutes) { return Rfc3339(At(minutes)); }

  static inline PlatformUnderTest* platform_ = nullptr;
  static inline iv1::IngestionService::Stub* stub_ = nullptr;
  static inline absl::Time* base_ = nullptr;

  TempDir config_home_;
  TempDir files_;
};

// ---------------------------------------------------------------------------------------------
// Sources

TEST_F(SmartctlIngestionE2ETest, SourceRegisterListGetUpdateDisableEnable) {
  CommandResult registered =
      Ctl({"source", "register", "kilde-1", "--dataset", "e2e-kilde", "--name",
           "Garasje Nytorget", "--lat", "58.9701", "--lon", "5.7331", "--interval", "5m",
           "--meta", "manufacturer=Sensoneo", "--meta", "model=QS2"});
  ASSERT_EQ(registered.exit_code, 0) << Describe(registered);
  EXPECT_THAT(registered.out, HasSubstr("source kilde-1 registered"));
  EXPECT_THAT(registered.out, HasSubstr("dataset e2e-kilde"));
  Register("kilde-2", "e2e-kilde");

  // Registering the same id again is refused.
  CommandResult again = Ctl({"source", "register", "kilde-1", "--dataset", "e2e-kilde"});
  EXPECT_EQ(again.exit_code, 1) << Describe(again);

  CommandResult list = Ctl({"source", "list", "--dataset", "e2e-kilde"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_THAT(list.out, HasSubstr("ID"));
  EXPECT_THAT(list.out, HasSubstr("POSITION"));
  const std::string row = LineWith(list.out, "kilde-1");
  EXPECT_THAT(row, HasSubstr("Garasje Nytorget")) << list.out;
  EXPECT_THAT(row, HasSubstr("58.9701,5.7331")) << list.out;
  EXPECT_THAT(row, HasSubstr("5m")) << list.out;
  EXPECT_THAT(row, HasSubstr("enabled")) << list.out;
  EXPECT_THAT(list.out, HasSubstr("kilde-2"));
  // Another dataset's list does not show them.
  CommandResult other = Ctl({"source", "list", "--dataset", "e2e-fil"});
  ASSERT_EQ(other.exit_code, 0) << Describe(other);
  EXPECT_THAT(other.out, Not(HasSubstr("kilde-1")));

  CommandResult get = Ctl({"source", "get", "kilde-1", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << Describe(get);
  iv1::Source source;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(get.out, &source).ok()) << get.out;
  EXPECT_EQ(source.id(), "kilde-1");
  EXPECT_EQ(source.dataset(), "e2e-kilde");
  EXPECT_EQ(source.name(), "Garasje Nytorget");
  EXPECT_DOUBLE_EQ(source.position().latitude(), 58.9701);
  EXPECT_DOUBLE_EQ(source.position().longitude(), 5.7331);
  EXPECT_EQ(source.expected_interval().seconds(), 300);
  EXPECT_EQ(source.metadata().at("manufacturer"), "Sensoneo");
  EXPECT_EQ(source.metadata().at("model"), "QS2");
  EXPECT_FALSE(source.disabled());
  EXPECT_EQ(source.classification(), smartcity::common::v1::CLASSIFICATION_OPEN);
  const int64_t version = source.version();

  // Only the name changes.
  CommandResult renamed = Ctl({"source", "update", "kilde-1", "--name", "Garasje Nytorget P2"});
  ASSERT_EQ(renamed.exit_code, 0) << Describe(renamed);
  EXPECT_THAT(renamed.out, HasSubstr("source kilde-1 updated"));
  get = Ctl({"source", "get", "kilde-1", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << Describe(get);
  source.Clear();
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(get.out, &source).ok()) << get.out;
  EXPECT_EQ(source.name(), "Garasje Nytorget P2");
  EXPECT_EQ(source.expected_interval().seconds(), 300);
  EXPECT_EQ(source.metadata().size(), 2u);
  EXPECT_DOUBLE_EQ(source.position().latitude(), 58.9701);
  EXPECT_GT(source.version(), version);
  CommandResult table = Ctl({"source", "get", "kilde-1"});
  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  EXPECT_THAT(table.out, HasSubstr("Garasje Nytorget P2"));
  EXPECT_THAT(table.out, HasSubstr("manufacturer=Sensoneo model=QS2"));

  // Disabled: its readings are rejected ("source disabled"), and it leaves the default list.
  CommandResult disabled = Ctl({"source", "disable", "kilde-1"});
  ASSERT_EQ(disabled.exit_code, 0) << Describe(disabled);
  EXPECT_THAT(disabled.out, HasSubstr("source kilde-1 disabled"));
  const std::string file =
      WriteFile("kilde.csv", absl::StrCat("time,free_spaces\n", T(0), ",12\n"));
  CommandResult rejected = Ctl({"ingest", "file", "e2e-kilde", file, "--source", "kilde-1"});
  EXPECT_EQ(rejected.exit_code, 1) << Describe(rejected);
  const std::string rejected_row = LineWith(rejected.out, "source-disabled");
  EXPECT_THAT(rejected_row, HasSubstr("is disabled")) << Describe(rejected);
  EXPECT_THAT(rejected_row, HasSubstr("source_id")) << Describe(rejected);
  ExpectNoProgressOutput(rejected);
  {
    // The same over gRPC.
    auto ctx = Context();
    iv1::WriteReadingsRequest request;
    iv1::Reading* r = request.add_readings();
    r->set_source_id("kilde-1");
    *r->mutable_time() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(At(1)));
    (*r->mutable_values())["free_spaces"].set_integer_value(3);
    iv1::WriteReadingsResponse response;
    ASSERT_TRUE(stub_->WriteReadings(ctx.get(), request, &response).ok());
    ASSERT_EQ(response.results_size(), 1);
    EXPECT_EQ(response.results(0).reason(), iv1::REJECT_REASON_SOURCE_DISABLED);
  }
  EXPECT_TRUE(Stored("kilde-1").empty());
  list = Ctl({"source", "list", "--dataset", "e2e-kilde"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_THAT(list.out, Not(HasSubstr("kilde-1")));
  EXPECT_THAT(list.out, HasSubstr("kilde-2"));
  list = Ctl({"source", "list", "--dataset", "e2e-kilde", "--include-disabled"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_THAT(LineWith(list.out, "kilde-1"), HasSubstr("disabled")) << list.out;

  // Enabled again: the same file is taken.
  CommandResult enabled = Ctl({"source", "update", "kilde-1", "--enable"});
  ASSERT_EQ(enabled.exit_code, 0) << Describe(enabled);
  EXPECT_THAT(enabled.out, HasSubstr("enabled"));
  CommandResult accepted = Ctl({"ingest", "file", "e2e-kilde", file, "--source", "kilde-1"});
  EXPECT_EQ(accepted.exit_code, 0) << Describe(accepted);
  ExpectNoProgressOutput(accepted);
  EXPECT_EQ(Stored("kilde-1").size(), 1u);

  // An unknown source.
  CommandResult missing = Ctl({"source", "get", "finnes-ikke"});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
  EXPECT_THAT(missing.err, HasSubstr("error:"));
}

// ---------------------------------------------------------------------------------------------
// Files

TEST_F(SmartctlIngestionE2ETest, NorwegianCsvWithBadRowsListsThemAndStoresTheGoodOnes) {
  Register("fil-1", "e2e-fil");
  // ';' between cells, the decimal comma, Norwegian column names mapped to the schema.
  const std::string csv = absl::StrCat("Måler;Tidspunkt;Ledige plasser;Temp\n",
                                       "fil-1;", T(0), ";12;3,5\n",         // 1 good
                                       "fil-1;", T(10), ";mange;4,0\n",     // 2 not an integer
                                       "fil-1;", T(20), ";14;99,5\n",       // 3 above 60 °C
                                       "ukjent-1;", T(30), ";15;1,0\n",     // 4 no such source
                                       "fil-1;", T(40), ";16;-2,25\n");     // 5 good
  const std::string file = WriteFile("fylling.csv", csv);
  CommandResult r =
      Ctl({"ingest", "file", "e2e-fil", file, "--delimiter", ";", "--mapping",
           "Måler=source_id,Tidspunkt=time,Ledige plasser=free_spaces,Temp=temperature"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  ExpectNoProgressOutput(r);
  EXPECT_THAT(r.out, HasSubstr("Rejected rows:")) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("ROW")) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("COLUMN")) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("REASON")) << Describe(r);
  // Row numbers count data rows from 1 (not the header).
  auto row_line = [&](const std::string& reason) { return LineWith(r.out, reason); };
  // The column is the file's (as the mapping names it); the message names the field too.
  EXPECT_THAT(row_line("wrong-type"), ::testing::StartsWith("2 ")) << Describe(r);
  EXPECT_THAT(row_line("wrong-type"), HasSubstr("Ledige plasser")) << Describe(r);
  EXPECT_THAT(row_line("wrong-type"), HasSubstr("free_spaces")) << Describe(r);
  EXPECT_THAT(row_line("wrong-type"), HasSubstr("mange")) << Describe(r);
  EXPECT_THAT(row_line("out-of-range"), ::testing::StartsWith("3 ")) << Describe(r);
  EXPECT_THAT(row_line("out-of-range"), HasSubstr("Temp")) << Describe(r);
  EXPECT_THAT(row_line("out-of-range"), HasSubstr("temperature")) << Describe(r);
  EXPECT_THAT(row_line("out-of-range"), HasSubstr("99.5")) << Describe(r);
  EXPECT_THAT(row_line("unknown-source"), ::testing::StartsWith("4 ")) << Describe(r);
  EXPECT_THAT(row_line("unknown-source"), HasSubstr("ukjent-1")) << Describe(r);
  EXPECT_EQ(CountLinesWith(r.out, "fil-1") + CountLinesWith(r.out, "ukjent-1"), 1) << Describe(r);
  EXPECT_THAT(LineWith(r.out, "Accepted"), HasSubstr("2")) << Describe(r);
  EXPECT_THAT(LineWith(r.out, "Rejected:"), HasSubstr("3")) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("3 of 5 rows were rejected")) << Describe(r);

  const std::vector<iv1::Reading> stored = Stored("fil-1");
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(TimeUtil::TimestampToSeconds(stored[0].time()), absl::ToUnixSeconds(At(0)));
  EXPECT_EQ(stored[0].values().at("free_spaces").integer_value(), 12);
  EXPECT_DOUBLE_EQ(stored[0].values().at("temperature").double_value(), 3.5);
  EXPECT_EQ(TimeUtil::TimestampToSeconds(stored[1].time()), absl::ToUnixSeconds(At(40)));
  EXPECT_DOUBLE_EQ(stored[1].values().at("temperature").double_value(), -2.25);

  // -o json: the ImportSummary, with row, column and reason per error.
  CommandResult json = Ctl({"ingest", "file", "e2e-fil", file, "--delimiter", ";", "--mapping",
                            "Måler=source_id,Tidspunkt=time", "--mapping",
                            "Ledige plasser=free_spaces,Temp=temperature", "-o", "json"});
  EXPECT_EQ(json.exit_code, 1) << Describe(json);
  iv1::ImportSummary summary;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &summary).ok()) << json.out;
  EXPECT_EQ(summary.totals().rows_read(), 5);
  EXPECT_EQ(summary.totals().accepted(), 0);
  EXPECT_EQ(summary.totals().duplicates(), 2);
  ASSERT_EQ(summary.errors_size(), 3);
  EXPECT_EQ(summary.errors(0).row(), 2);
  EXPECT_EQ(summary.errors(0).column(), "Ledige plasser");
  EXPECT_EQ(summary.errors(0).reason(), iv1::REJECT_REASON_WRONG_TYPE);
  EXPECT_EQ(summary.errors(1).row(), 3);
  EXPECT_EQ(summary.errors(1).column(), "Temp");
  EXPECT_EQ(summary.errors(1).reason(), iv1::REJECT_REASON_OUT_OF_RANGE);
  EXPECT_EQ(summary.errors(2).row(), 4);
  EXPECT_EQ(summary.errors(2).reason(), iv1::REJECT_REASON_UNKNOWN_SOURCE);
  EXPECT_THAT(summary.errors(2).message(), HasSubstr("ukjent-1"));
  ExpectNoProgressOutput(json);
}

TEST_F(SmartctlIngestionE2ETest, AGoodCsvExitsZeroAndSendingItAgainIsAllDuplicates) {
  Register("fil-2", "e2e-fil");
  std::string csv = "Måler;Tidspunkt;Ledige plasser;Temp\n";
  for (int i = 0; i < 6; ++i) {
    absl::StrAppend(&csv, "fil-2;", T(120 + 10 * i), ";", 100 + i, ";", i, ",5\n");
  }
  const std::string file = WriteFile("god.csv", csv);
  const std::vector<std::string> args = {
      "ingest", "file", "e2e-fil", file, "--delimiter", ";", "--mapping",
      "Måler=source_id,Tidspunkt=time,Ledige plasser=free_spaces,Temp=temperature"};
  CommandResult first = Ctl(args);
  EXPECT_EQ(first.exit_code, 0) << Describe(first);
  ExpectNoProgressOutput(first);
  EXPECT_THAT(LineWith(first.out, "Rows"), HasSubstr("6")) << Describe(first);
  EXPECT_THAT(LineWith(first.out, "Accepted"), HasSubstr("6")) << Describe(first);
  EXPECT_THAT(LineWith(first.out, "Duplicates"), HasSubstr("0")) << Describe(first);
  EXPECT_THAT(first.out, Not(HasSubstr("Rejected rows")));
  EXPECT_EQ(first.err, "") << Describe(first);

  CommandResult again = Ctl(args);
  EXPECT_EQ(again.exit_code, 0) << Describe(again);
  ExpectNoProgressOutput(again);
  EXPECT_THAT(LineWith(again.out, "Accepted"), HasSubstr("0")) << Describe(again);
  EXPECT_THAT(LineWith(again.out, "Duplicates"), HasSubstr("6")) << Describe(again);
  EXPECT_THAT(LineWith(again.out, "Rejected"), HasSubstr("0")) << Describe(again);

  const std::vector<iv1::Reading> stored = Stored("fil-2");
  ASSERT_EQ(stored.size(), 6u);
  EXPECT_DOUBLE_EQ(stored[5].values().at("temperature").double_value(), 5.5);
  EXPECT_EQ(stored[5].values().at("free_spaces").integer_value(), 105);
}

TEST_F(SmartctlIngestionE2ETest, JsonLinesAndGeoJsonWithFormat) {
  Register("fil-3", "e2e-fil");
  Register("avfall-1", "e2e-avfall");
  Register("avfall-2", "e2e-avfall");

  // JSON lines; the name says nothing about the format, --format does.
  std::string lines;
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&lines, R"({"sensor":"fil-3","time":")", T(300 + 15 * i),
                    R"(","free_spaces":)", 40 + i, R"(,"temperature":)", -1.5 * i, "}\n");
  }
  const std::string jsonl = WriteFile("maalinger.txt", lines);
  CommandResult no_format = Ctl({"ingest", "file", "e2e-fil", jsonl});
  EXPECT_NE(no_format.exit_code, 0) << Describe(no_format);
  CommandResult json = Ctl({"ingest", "file", "e2e-fil", jsonl, "--format", "json", "--mapping",
                            "sensor=source_id"});
  EXPECT_EQ(json.exit_code, 0) << Describe(json);
  ExpectNoProgressOutput(json);
  EXPECT_THAT(LineWith(json.out, "Accepted"), HasSubstr("4")) << Describe(json);
  const std::vector<iv1::Reading> from_json = Stored("fil-3");
  ASSERT_EQ(from_json.size(), 4u);
  EXPECT_EQ(from_json[3].values().at("free_spaces").integer_value(), 43);
  EXPECT_DOUBLE_EQ(from_json[3].values().at("temperature").double_value(), -4.5);

  // A GeoJSON FeatureCollection: properties are the columns, the Point fills the position field
  // ([longitude, latitude] in GeoJSON).
  const std::string geojson = absl::StrCat(
      R"({"type":"FeatureCollection","features":[)",
      R"({"type":"Feature","geometry":{"type":"Point","coordinates":[5.7331,58.9701]},)",
      R"("properties":{"source_id":"avfall-1","time":")", T(0), R"(","fill_level":81.5}},)",
      R"({"type":"Feature","geometry":{"type":"Point","coordinates":[5.69,58.85]},)",
      R"("properties":{"source_id":"avfall-2","time":")", T(0), R"(","fill_level":12}},)",
      R"({"type":"Feature","geometry":{"type":"Point","coordinates":[5.7331,58.9701]},)",
      R"("properties":{"source_id":"avfall-1","time":")", T(60), R"(","fill_level":90.25}}]})");
  const std::string geo = WriteFile("containere.data", geojson);
  CommandResult g = Ctl({"ingest", "file", "e2e-avfall", geo, "--format", "geojson"});
  EXPECT_EQ(g.exit_code, 0) << Describe(g);
  ExpectNoProgressOutput(g);
  EXPECT_THAT(LineWith(g.out, "Accepted"), HasSubstr("3")) << Describe(g);
  const std::vector<iv1::Reading> a1 = Stored("avfall-1");
  ASSERT_EQ(a1.size(), 2u);
  EXPECT_DOUBLE_EQ(a1[0].values().at("fill_level").double_value(), 81.5);
  EXPECT_DOUBLE_EQ(a1[0].values().at("position").geo_value().latitude(), 58.9701);
  EXPECT_DOUBLE_EQ(a1[0].values().at("position").geo_value().longitude(), 5.7331);
  EXPECT_DOUBLE_EQ(a1[1].values().at("fill_level").double_value(), 90.25);
  ASSERT_EQ(Stored("avfall-2").size(), 1u);

  // And as smartctl shows them: field=value, positions as lat,lon.
  CommandResult last = Ctl({"readings", "last", "--dataset", "e2e-avfall"});
  ASSERT_EQ(last.exit_code, 0) << Describe(last);
  EXPECT_THAT(LineWith(last.out, "avfall-1"), HasSubstr("fill_level=90.25")) << last.out;
  EXPECT_THAT(LineWith(last.out, "avfall-1"), HasSubstr("position=58.9701,5.7331")) << last.out;
  EXPECT_THAT(LineWith(last.out, "avfall-2"), HasSubstr("fill_level=12")) << last.out;
}

TEST_F(SmartctlIngestionE2ETest, ATruncatedFileFailsPlainlyAndKeepsTheRowsBeforeIt) {
  Register("fil-4", "e2e-fil");
  // Cut off inside a quoted cell.
  const std::string csv = absl::StrCat("source_id,time,free_spaces\n", "fil-4,", T(500), ",1\n",
                                       "fil-4,", T(510), ",2\n", "fil-4,\"", T(520).substr(0, 13));
  const std::string file = WriteFile("avkuttet.csv", csv);
  CommandResult r = Ctl({"ingest", "file", "e2e-fil", file});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  ExpectNoProgressOutput(r);
  // A plain error on standard error: what and where, and what was kept.
  EXPECT_TRUE(absl::StartsWith(r.err, "error: ")) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("2 rows before it were stored")) << Describe(r);
  EXPECT_THAT(r.err, Not(HasSubstr("INVALID_ARGUMENT"))) << Describe(r);
  EXPECT_THAT(r.err, Not(HasSubstr("StatusCode"))) << Describe(r);
  EXPECT_EQ(Stored("fil-4").size(), 2u);

  // A JSON array that ends in the middle of an element.
  Register("fil-5", "e2e-fil");
  const std::string json = absl::StrCat(R"([{"source_id":"fil-5","time":")", T(500),
                                        R"(","free_spaces":4},{"source_id":"fil-5","ti)");
  CommandResult j = Ctl({"ingest", "file", "e2e-fil", WriteFile("avkuttet.json", json)});
  EXPECT_EQ(j.exit_code, 1) << Describe(j);
  EXPECT_TRUE(absl::StartsWith(j.err, "error: ")) << Describe(j);
  EXPECT_THAT(j.err, HasSubstr("1 rows before it were stored")) << Describe(j);
  ExpectNoProgressOutput(j);
  EXPECT_EQ(Stored("fil-5").size(), 1u);
}

// Enough rows for the service to send progress messages (about twice a second): with its
// output piped, smartctl shows none of them.
TEST_F(SmartctlIngestionE2ETest, ALargeImportPipedShowsNoProgress) {
  Register("stor-1", "e2e-stor");
  constexpr int kRows = 200000;
  std::string csv = "source_id,time,free_spaces,temperature\n";
  csv.reserve(kRows * 48);
  const int64_t t0 = absl::ToUnixSeconds(At(0)) - 3 * kRows;
  for (int i = 0; i < kRows; ++i) {
    absl::StrAppend(&csv, "stor-1,", t0 + i, ",", i % 2000, ",", (i % 500) / 10.0, "\n");
  }
  const std::string file = WriteFile("stor.csv", csv);
  CommandResult r = Ctl({"ingest", "file", "e2e-stor", file});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ExpectNoProgressOutput(r);
  EXPECT_THAT(LineWith(r.out, "Accepted"), HasSubstr(absl::StrCat(kRows))) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("MiB")) << Describe(r);
  EXPECT_EQ(r.err, "") << Describe(r);
  EXPECT_EQ(Stored("stor-1").size(), static_cast<size_t>(kRows));

  // The same through standard input (-, with --format).
  Register("stor-2", "e2e-stor");
  std::string small = "time,free_spaces\n";
  for (int i = 0; i < 100; ++i) absl::StrAppend(&small, t0 + i, ",", i, "\n");
  CommandResult piped =
      Ctl({"ingest", "file", "e2e-stor", "-", "--format", "csv", "--source", "stor-2"}, small);
  EXPECT_EQ(piped.exit_code, 0) << Describe(piped);
  ExpectNoProgressOutput(piped);
  EXPECT_THAT(piped.out, HasSubstr("(standard input)"));
  EXPECT_EQ(Stored("stor-2").size(), 100u);
}

// The other side of the coin: on a terminal the bar does run (so the checks above that it does
// not when piped are not vacuous). Standard input is fed until the bar has shown.
TEST_F(SmartctlIngestionE2ETest, OnATerminalTheProgressBarRuns) {
  Register("stor-3", "e2e-stor");
  const int64_t t0 = absl::ToUnixSeconds(At(0)) - 10000000;
  int64_t rows = 0;
  bool header = true, seen_bar = false;
  int after_bar = 0;
  TerminalRun r = RunWithTerminalStderr(
      {BinaryPath("smartctl"), "--insecure", "--server", platform_->Address("ingestion"),
       "--timeout", "60s", "ingest", "file", "e2e-stor", "-", "--format", "csv", "--source",
       "stor-3"},
      {"XDG_CONFIG_HOME=" + config_home_.path(), "SMARTCTL_SERVER=",
       "SMARTCTL_TOKEN=" + AdminToken(), "TERM=xterm"},
      [&](int fd, const std::string& shown) {
        seen_bar = seen_bar || absl::StrContains(shown, "\033[K");
        if (seen_bar && ++after_bar > 4) return false;
        std::string chunk = header ? "time,free_spaces\n" : "";
        header = false;
        for (int i = 0; i < 4000; ++i, ++rows) {
          absl::StrAppend(&chunk, t0 + rows, ",", rows % 2000, "\n");
        }
        for (size_t at = 0; at < chunk.size();) {
          const ssize_t n = ::write(fd, chunk.data() + at, chunk.size() - at);
          if (n <= 0 && errno == EINTR) continue;
          if (n <= 0) return false;
          at += static_cast<size_t>(n);
        }
        return true;
      },
      absl::Minutes(2));
  EXPECT_EQ(r.exit_code, 0) << r.out << "\n--- terminal\n" << r.terminal;
  EXPECT_TRUE(seen_bar) << r.terminal;
  EXPECT_THAT(r.terminal, HasSubstr(" rows  0 rejected")) << r.terminal;
  EXPECT_THAT(r.terminal, HasSubstr("\r\033[K")) << "the bar is cleared before the summary";
  // Standard output, a pipe, has the summary and nothing of the bar.
  EXPECT_EQ(r.out.find('\033'), std::string::npos) << r.out;
  EXPECT_THAT(LineWith(r.out, "Accepted"), HasSubstr(absl::StrCat(rows))) << r.out;
}

// ---------------------------------------------------------------------------------------------
// Queries, quality, retention

TEST_F(SmartctlIngestionE2ETest, QueriesWindowsLatestQualityAndRetention) {
  Register("q-1", "e2e-sporring", {"--interval", "10m"});
  Register("q-2", "e2e-sporring", {"--interval", "10m"});
  // q-1 every 10 minutes for an hour (temperatures 1..6), q-2 at the start of each window
  // (temperature 10) and one more reading 5 minutes in (temperature 20).
  std::string csv = "source_id,time,free_spaces,temperature\n";
  for (int i = 0; i < 6; ++i) absl::StrAppend(&csv, "q-1,", T(10 * i), ",", i, ",", i + 1, "\n");
  absl::StrAppend(&csv, "q-2,", T(0), ",7,10\n", "q-2,", T(5), ",8,20\n");
  CommandResult imported = Ctl({"ingest", "file", "e2e-sporring", WriteFile("q.csv", csv)});
  ASSERT_EQ(imported.exit_code, 0) << Describe(imported);

  // Raw readings of one source, --to exclusive.
  CommandResult raw = Ctl({"readings", "query", "q-1", "--from", T(10), "--to", T(40)});
  ASSERT_EQ(raw.exit_code, 0) << Describe(raw);
  EXPECT_THAT(raw.out, HasSubstr("TIME"));
  EXPECT_THAT(raw.out, HasSubstr("VALUES"));
  EXPECT_EQ(CountLinesWith(raw.out, "q-1"), 3) << raw.out;
  EXPECT_THAT(LineWith(raw.out, T(10)), HasSubstr("free_spaces=1 temperature=2")) << raw.out;
  EXPECT_THAT(LineWith(raw.out, T(30)), HasSubstr("free_spaces=3 temperature=4")) << raw.out;
  EXPECT_THAT(raw.out, Not(HasSubstr(T(40))));
  EXPECT_THAT(raw.out, Not(HasSubstr(T(0))));

  CommandResult raw_json =
      Ctl({"readings", "query", "q-1", "--from", T(0), "--to", T(60), "-o", "json"});
  ASSERT_EQ(raw_json.exit_code, 0) << Describe(raw_json);
  iv1::QueryReadingsResponse readings;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(raw_json.out, &readings).ok())
      << raw_json.out;
  EXPECT_EQ(readings.readings_size(), 6);

  // Whole dataset, limited.
  CommandResult limited = Ctl({"readings", "query", "--dataset", "e2e-sporring", "--from", T(0),
                               "--to", T(60), "--limit", "3"});
  ASSERT_EQ(limited.exit_code, 0) << Describe(limited);
  EXPECT_EQ(CountLinesWith(limited.out, "q-"), 3) << limited.out;
  EXPECT_THAT(limited.err, HasSubstr("raise --limit"));

  // Windows of 10 minutes over the dataset: mean of both sources' temperatures.
  CommandResult windows =
      Ctl({"readings", "query", "--dataset", "e2e-sporring", "--from", T(0), "--to", T(60),
           "--every", "10m", "--agg", "mean", "--field", "temperature"});
  ASSERT_EQ(windows.exit_code, 0) << Describe(windows);
  EXPECT_THAT(windows.out, HasSubstr("WINDOW"));
  EXPECT_THAT(windows.out, HasSubstr("MEAN TEMPERATURE"));
  // First window: q-1 1, q-2 10 and 20 -> 31/3; then q-1 alone: 2 .. 6.
  const std::string first = LineWith(windows.out, T(0));
  EXPECT_THAT(first, HasSubstr("10.333")) << windows.out;
  EXPECT_THAT(Cells(LineWith(windows.out, T(10))), ::testing::ElementsAre(T(10), "2"))
      << windows.out;
  EXPECT_THAT(Cells(LineWith(windows.out, T(50))), ::testing::ElementsAre(T(50), "6"))
      << windows.out;
  EXPECT_EQ(CountLinesWith(windows.out, absl::FormatTime("%Y-%m-%dT", At(0),
                                                          absl::UTCTimeZone())),
            6)
      << windows.out;
  CommandResult counts =
      Ctl({"readings", "query", "--dataset", "e2e-sporring", "--from", T(0), "--to", T(60),
           "--every", "10m", "--agg", "count", "--field", "temperature", "-o", "json"});
  ASSERT_EQ(counts.exit_code, 0) << Describe(counts);
  iv1::AggregateReadingsResponse aggregates;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(counts.out, &aggregates).ok())
      << counts.out;
  ASSERT_EQ(aggregates.windows_size(), 6);
  EXPECT_EQ(aggregates.windows(0).count(), 3);
  EXPECT_DOUBLE_EQ(aggregates.windows(0).max(), 20);
  EXPECT_EQ(aggregates.windows(1).count(), 1);

  // The newest reading of each source.
  CommandResult last = Ctl({"readings", "last", "--dataset", "e2e-sporring"});
  ASSERT_EQ(last.exit_code, 0) << Describe(last);
  EXPECT_THAT(last.out, HasSubstr("SOURCE"));
  EXPECT_THAT(LineWith(last.out, "q-1"), HasSubstr(T(50))) << last.out;
  EXPECT_THAT(LineWith(last.out, "q-1"), HasSubstr("temperature=6")) << last.out;
  EXPECT_THAT(LineWith(last.out, "q-2"), HasSubstr(T(5))) << last.out;
  EXPECT_THAT(LineWith(last.out, "q-2"), HasSubstr("temperature=20")) << last.out;

  // Data quality over the hour, after the file was sent again (duplicates).
  CommandResult resent = Ctl({"ingest", "file", "e2e-sporring", WriteFile("q.csv", csv)});
  ASSERT_EQ(resent.exit_code, 0) << Describe(resent);
  CommandResult quality =
      Ctl({"quality", "show", "e2e-sporring", "--from", T(0), "--to", T(60)});
  ASSERT_EQ(quality.exit_code, 0) << Describe(quality);
  EXPECT_THAT(quality.out, HasSubstr("LONGEST GAP"));
  EXPECT_THAT(quality.out, HasSubstr("DUPLICATES"));
  EXPECT_THAT(LineWith(quality.out, "q-1"), HasSubstr("10m")) << quality.out;
  CommandResult quality_json =
      Ctl({"quality", "show", "e2e-sporring", "--from", T(0), "--to", T(60), "-o", "json"});
  ASSERT_EQ(quality_json.exit_code, 0) << Describe(quality_json);
  iv1::GetDataQualityResponse q;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(quality_json.out, &q).ok())
      << quality_json.out;
  std::map<std::string, iv1::SourceQuality> by_source;
  for (const auto& s : q.sources()) by_source[s.source_id()] = s;
  ASSERT_EQ(by_source.count("q-1"), 1u) << quality_json.out;
  ASSERT_EQ(by_source.count("q-2"), 1u) << quality_json.out;
  EXPECT_EQ(by_source["q-1"].readings(), 6);
  EXPECT_EQ(by_source["q-1"].expected_interval().seconds(), 600);
  EXPECT_EQ(by_source["q-1"].duplicates(), 6);
  EXPECT_EQ(by_source["q-1"].missing_intervals(), 0);
  EXPECT_EQ(by_source["q-2"].readings(), 2);
  EXPECT_EQ(by_source["q-2"].duplicates(), 2);
  EXPECT_EQ(TimeUtil::TimestampToSeconds(by_source["q-1"].last_reading_time()),
            absl::ToUnixSeconds(At(50)));

  // Retention.
  CommandResult before = Ctl({"retention", "get", "e2e-sporring"});
  ASSERT_EQ(before.exit_code, 0) << Describe(before);
  EXPECT_THAT(before.out, HasSubstr("for ever"));
  CommandResult set = Ctl({"retention", "set", "e2e-sporring", "30d"});
  ASSERT_EQ(set.exit_code, 0) << Describe(set);
  EXPECT_THAT(set.out, HasSubstr("dataset e2e-sporring: readings are kept for 30d"));
  CommandResult get = Ctl({"retention", "get", "e2e-sporring"});
  ASSERT_EQ(get.exit_code, 0) << Describe(get);
  EXPECT_THAT(get.out, HasSubstr("dataset e2e-sporring: readings are kept for 30d"));
  CommandResult get_json = Ctl({"retention", "get", "e2e-sporring", "-o", "json"});
  ASSERT_EQ(get_json.exit_code, 0) << Describe(get_json);
  iv1::RetentionPolicy policy;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(get_json.out, &policy).ok())
      << get_json.out;
  EXPECT_EQ(policy.keep().seconds(), 30 * 24 * 3600);
  // The readings (a day old) are well inside 30 days: still all there.
  EXPECT_EQ(Stored("q-1").size(), 6u);
}

// ---------------------------------------------------------------------------------------------
// Exit codes

TEST_F(SmartctlIngestionE2ETest, UsageErrorsExitTwo) {
  const std::string csv = WriteFile("ok.csv", "source_id,time,free_spaces\n");
  const std::vector<std::vector<std::string>> cases = {
      {"ingest", "file", "e2e-fil"},                                    // no FILE
      {"ingest", "file"},                                               // no DATASET, no FILE
      {"ingest", "file", "e2e-fil", "-"},                               // stdin needs --format
      {"ingest", "file", "e2e-fil", csv, "--mapping", "Tid"},           // not COL=FIELD
      {"ingest", "file", "e2e-fil", csv, "--delimiter", ";;"},          // not one character
      {"ingest", "file", "e2e-fil", csv, "--format", "xml"},            // no such format
      {"readings", "query", "--dataset", "e2e-fil", "--every", "10m"},  // --every, no --field
      {"readings", "query", "--dataset", "e2e-fil", "--field", "temperature"},  // no --every
      {"readings", "query"},                                            // neither
      {"readings", "query", "fil-1", "--dataset", "e2e-fil"},           // both
      {"readings", "query", "fil-1", "--from", "i går"},                // not a time
      {"readings", "query", "fil-1", "--from", T(10), "--to", T(0)},    // empty range
      {"readings", "last"},                                             // nothing to show
      {"source", "register", "x-1"},                                    // no --dataset
      {"source", "register", "x-1", "--dataset", "e2e-fil", "--lat", "58"},  // no --lon
      {"source", "update", "fil-1"},                                    // nothing to change
      {"retention", "set", "e2e-fil", "30m"},                           // under an hour
      {"retention", "set", "e2e-fil"},                                  // no KEEP
      {"quality", "show"},                                              // no DATASET
  };
  for (const auto& args : cases) {
    CommandResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << "\n" << Describe(r);
    EXPECT_FALSE(r.err.empty()) << absl::StrJoin(args, " ");
    EXPECT_EQ(r.out, "") << absl::StrJoin(args, " ");
  }
  CommandResult field = Ctl({"readings", "query", "--dataset", "e2e-fil", "--every", "10m"});
  EXPECT_THAT(field.err, HasSubstr("--field")) << Describe(field);
  CommandResult missing = Ctl({"ingest", "file", "e2e-fil"});
  EXPECT_THAT(missing.err, HasSubstr("FILE")) << Describe(missing);
  // A file that is not there is a local failure, not a usage error.
  CommandResult absent = Ctl({"ingest", "file", "e2e-fil", files_.path() + "/finnes-ikke.csv"});
  EXPECT_EQ(absent.exit_code, 1) << Describe(absent);
  EXPECT_THAT(absent.err, HasSubstr("finnes-ikke.csv"));
}

TEST_F(SmartctlIngestionE2ETest, AServiceThatIsNotRunningExitsThree) {
  const std::string nowhere = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  const std::string csv =
      WriteFile("ingen.csv", absl::StrCat("source_id,time,free_spaces\nfil-1,", T(0), ",1\n"));
  const std::vector<std::vector<std::string>> cases = {
      {"source", "list"},
      {"source", "get", "fil-1"},
      {"source", "register", "x-2", "--dataset", "e2e-fil"},
      {"ingest", "file", "e2e-fil", csv},
      {"readings", "query", "fil-1"},
      {"readings", "last", "--dataset", "e2e-fil"},
      {"quality", "show", "e2e-fil"},
      {"retention", "get", "e2e-fil"},
  };
  for (const auto& args : cases) {
    std::vector<std::string> argv = {BinaryPath("smartctl"), "--insecure", "--server", nowhere};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = RunCommand(argv, {{"XDG_CONFIG_HOME", config_home_.path()},
                                        {"SMARTCTL_SERVER", ""},
                                        {"SMARTCTL_TOKEN", AdminToken()}});
    EXPECT_EQ(r.exit_code, 3) << absl::StrJoin(args, " ") << "\n" << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("cannot reach ingestion")) << Describe(r);
    ExpectNoProgressOutput(r);
  }
}

}  // namespace
}  // namespace smartby
