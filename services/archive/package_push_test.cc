// PackagePusher (package_push.h): a real package (the real PackageWriter, packed by the real
// WriteTar) pushed into FakeNoark5Core (tests/support/fake_noark5_core.h), a small HTTP server
// standing in for a municipality's Noark 5 core, which checks the relations, the bearer token and
// every uploaded file against its dokumentobjekt.
#include "services/archive/package_push.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/archive/noark5/hashing_file.h"
#include "services/archive/noark5/test_package.h"
#include "tests/support/fake_noark5_core.h"

namespace smartby::archive {
namespace {

using ::smartby::testing::FakeNoark5Core;
using ::testing::HasSubstr;

std::string Sha256Of(const std::string& bytes) {
  noark5::Sha256 hash;
  hash.Update(bytes);
  return hash.FinishHex();
}

class PackagePushTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::filesystem::path dir = noark5::testing::FreshDir("push-package");
    sample_ = new noark5::testing::SamplePackage(
        noark5::testing::WriteSamplePackage(dir / "package", 1));
    tar_ = new std::filesystem::path(dir / "package.tar");
    ASSERT_TRUE(noark5::WriteTar(sample_->dir, *tar_, sample_->summary.package_id).ok());
  }

  PackagePusher Pusher() {
    CorePushOptions options;
    options.root_url = core_.root_url();
    options.series_title = "Sensordata";
    return PackagePusher(options, std::make_shared<OidcClientCredentials>(
                                      core_.token_url(), FakeNoark5Core::kClientId,
                                      FakeNoark5Core::kClientSecret));
  }

  static noark5::testing::SamplePackage* sample_;
  static std::filesystem::path* tar_;
  FakeNoark5Core core_;
};

noark5::testing::SamplePackage* PackagePushTest::sample_ = nullptr;
std::filesystem::path* PackagePushTest::tar_ = nullptr;

TEST_F(PackagePushTest, ReadsTheCaseFilesOfTheTar) {
  auto case_files = ReadPackageCaseFiles(*tar_);
  ASSERT_TRUE(case_files.ok()) << case_files.status();
  ASSERT_EQ(case_files->size(), 1u);
  const PackageCaseFile& folder = case_files->front();
  EXPECT_EQ(folder.mappe_id, "water.bathing-temperature");
  EXPECT_EQ(folder.case_file.title, "Badetemperatur <Sjøbadet> & Co");
  EXPECT_EQ(folder.case_file.entries.size(), sample_->registry_entry_ids.size());
  EXPECT_EQ(folder.case_file.entries[0].title, "Publisert versjon 1");
  ASSERT_EQ(folder.case_file.entries[0].documents.size(), 2u);
  const CoreDocument& readings = folder.case_file.entries[0].documents[1];
  EXPECT_EQ(readings.format, "x-fmt/18");
  EXPECT_EQ(readings.media_type, "text/csv");
  EXPECT_EQ(static_cast<uint64_t>(readings.file_size), sample_->csv_bytes);
  EXPECT_GT(readings.file_offset, 0u) << "documents are read in place inside the TAR";
}

TEST_F(PackagePushTest, PushesEveryRecordThroughThePublishedRelationsWithTheFilesBytes) {
  PackagePusher pusher = Pusher();
  std::vector<v1::PushedCaseFile> pushed;
  absl::Status status =
      pusher.Push(*tar_, {}, [&](const v1::PushedCaseFile& p) { pushed.push_back(p); });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(core_.problems().empty()) << core_.problems().front();
  const std::vector<std::string> requests = core_.requests();
  ASSERT_GE(requests.size(), 5u);
  EXPECT_EQ(requests[0], "POST /oauth/token");
  EXPECT_EQ(requests[1], "GET /noark5v5/");
  EXPECT_EQ(requests[2], "GET /noark5v5/api/arkivstruktur/");
  EXPECT_EQ(requests[3], "GET /noark5v5/api/arkivstruktur/arkivdel/");
  EXPECT_EQ(requests[4], "POST /noark5v5/api/arkivstruktur/arkivdel/ad-2/ny-saksmappe/");
  EXPECT_EQ(core_.token_requests(), 1);

  const auto created = core_.created();
  int case_files = 0, entries = 0, objects = 0;
  for (const auto& c : created) {
    case_files += c.kind == "saksmappe";
    entries += c.kind == "journalpost";
    objects += c.kind == "dokumentobjekt";
  }
  EXPECT_EQ(case_files, 1);
  EXPECT_EQ(entries, static_cast<int>(sample_->registry_entry_ids.size()));
  EXPECT_EQ(objects, 5);  // metadata + readings of two versions, and the ROS analysis
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].mappe_id(), "water.bathing-temperature");
  EXPECT_EQ(pushed[0].system_id(), "obj-1");
  EXPECT_EQ(pushed[0].document_objects_size(), 5);

  // The readings CSV the core received is the one in the package: bytes and checksum.
  int csv_uploads = 0;
  for (const auto& upload : core_.uploads()) {
    EXPECT_EQ(Sha256Of(upload.bytes), upload.sjekksum);
    if (upload.title == "Målinger") {
      ++csv_uploads;
      EXPECT_EQ(upload.content_type, "text/csv");
      EXPECT_EQ(upload.sjekksum, sample_->csv_sha256);
      EXPECT_EQ(upload.bytes.size(), sample_->csv_bytes);
    }
  }
  EXPECT_EQ(csv_uploads, 2);
}

TEST_F(PackagePushTest, CaseFilesTheCoreAlreadyHasAreSkipped) {
  PackagePusher pusher = Pusher();
  int calls = 0;
  absl::Status status = pusher.Push(*tar_, {"water.bathing-temperature"},
                                    [&](const v1::PushedCaseFile&) { ++calls; });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(core_.created().empty());
}

TEST_F(PackagePushTest, CoreDownIsUnavailable) {
  core_.Stop();
  PackagePusher pusher = Pusher();
  absl::Status status = pusher.Push(*tar_, {}, [](const v1::PushedCaseFile&) {});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST_F(PackagePushTest, AFileThatIsNoPackageIsNamed) {
  const std::filesystem::path not_tar = noark5::testing::FreshDir("push-bad") / "x.tar";
  noark5::testing::WriteFile(not_tar, "not a tar file");
  auto case_files = ReadPackageCaseFiles(not_tar);
  ASSERT_FALSE(case_files.ok());
  EXPECT_THAT(std::string(case_files.status().message()), HasSubstr("x.tar"));
}

}  // namespace
}  // namespace smartby::archive
