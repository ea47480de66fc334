// The Noark 5 core push client (noark5_core_client.h) against FakeNoark5Core
// (tests/support/fake_noark5_core.h): a small HTTP server standing in for a municipality's
// archive core (none runs here), which follows the published relations and checks what it
// receives (bearer token, media types, required fields, file checksums), and serves an OIDC
// token endpoint.
#include "services/archive/noark5_core_client.h"

#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_noark5_core.h"

namespace smartby::archive {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

using ::smartby::testing::FakeNoark5Core;

class Noark5CoreClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("core-client-", ::getpid(), "-", reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "readings.csv") << "time,source_id,level\r\n2026-01-01T00:00:00Z,k,1\r\n";
    std::ofstream(dir_ / "metadata.json") << R"({"name":"vannstand"})";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CoreCaseFile CaseFile() {
    CoreCaseFile c;
    c.title = "Datasett vannstand";
    c.responsible_unit = "Bymiljø og utbygging";
    c.case_handler = "Kari Nordmann";
    CoreRegistryEntry entry;
    entry.title = "Data for 2026";
    entry.documents.push_back({"Metadata", "Dataeksport", true, dir_ / "metadata.json",
                               "application/json", "fmt/817"});
    entry.documents.push_back({"Målinger", "Dataeksport", false, dir_ / "readings.csv",
                               "text/csv", "x-fmt/18"});
    c.entries.push_back(entry);
    return c;
  }

  CorePushOptions Options(const std::string& series) {
    CorePushOptions options;
    options.root_url = core_.root_url();
    options.series_title = series;
    return options;
  }

  std::shared_ptr<TokenProvider> Tokens() {
    return std::make_shared<OidcClientCredentials>(
        core_.token_url(), FakeNoark5Core::kClientId, FakeNoark5Core::kClientSecret);
  }

  FakeNoark5Core core_;
  std::filesystem::path dir_;
};

TEST_F(Noark5CoreClientTest, CreatesTheChainThroughPublishedRelationsAndUploadsFiles) {
  Noark5CoreClient client(Options("Sensordata"), Tokens());
  auto pushed = client.PushCaseFile(CaseFile());
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_TRUE(core_.problems().empty()) << core_.problems().front();
  std::vector<std::string> kinds;
  for (const auto& c : core_.created()) kinds.push_back(c.kind);
  EXPECT_THAT(kinds, ::testing::ElementsAre("saksmappe", "journalpost", "dokumentbeskrivelse",
                                            "dokumentobjekt", "dokumentbeskrivelse",
                                            "dokumentobjekt"));
  EXPECT_EQ(core_.created()[0].body["administrativEnhet"], "Bymiljø og utbygging");
  EXPECT_EQ(core_.created()[3].body["sjekksumAlgoritme"], "SHA256");
  EXPECT_EQ(core_.files().at("Målinger"), "time,source_id,level\r\n2026-01-01T00:00:00Z,k,1\r\n");
  EXPECT_EQ(core_.files().at("Metadata"), R"({"name":"vannstand"})");
  EXPECT_EQ(pushed->registry_entries.size(), 1u);
  EXPECT_EQ(pushed->document_objects.size(), 2u);
  EXPECT_EQ(core_.token_requests(), 1) << "the OIDC token is cached";
}

TEST_F(Noark5CoreClientTest, MissingRelationIsNamedNotGuessed) {
  core_.LeaveOutNyJournalpost();
  Noark5CoreClient client(Options("Sensordata"), Tokens());
  auto pushed = client.PushCaseFile(CaseFile());
  EXPECT_EQ(pushed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(pushed.status().message()), HasSubstr("ny-journalpost"));
  EXPECT_TRUE(core_.problems().empty()) << "the client must not invent a URL";
}

TEST_F(Noark5CoreClientTest, UnknownArkivdelIsNotFound) {
  Noark5CoreClient client(Options("Finnes ikke"), Tokens());
  auto pushed = client.PushCaseFile(CaseFile());
  EXPECT_EQ(pushed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(pushed.status().message()), HasSubstr("Finnes ikke"));
}

TEST_F(Noark5CoreClientTest, WrongClientSecretIsUnauthenticated) {
  Noark5CoreClient client(
      Options("Sensordata"),
      std::make_shared<OidcClientCredentials>(core_.token_url(), FakeNoark5Core::kClientId,
                                              "feil"));
  auto pushed = client.PushCaseFile(CaseFile());
  EXPECT_EQ(pushed.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(core_.created().empty());
}

}  // namespace
}  // namespace smartby::archive
