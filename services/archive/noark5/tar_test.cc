// WriteTar against the real GNU tar, and the TAR reader against GNU tar's output.
#include "services/archive/noark5/tar.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/archive/noark5/hashing_file.h"
#include "services/archive/noark5/package_writer.h"
#include "services/archive/noark5/test_package.h"

namespace smartby::noark5 {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using testing::FreshDir;
using ::testing::HasSubstr;
using testing::ReadFile;
using testing::RunCommand;
using testing::SharedSample;

std::string Quote(const fs::path& path) { return absl::StrCat("'", path.string(), "'"); }

TEST(WriteTar, GnuTarListsThePackageUnderItsUuidAndContent) {
  const std::string id = SharedSample().summary.package_id;
  const fs::path tar = FreshDir("gnu-list") / absl::StrCat(id, ".tar");
  ASSERT_TRUE(WriteTar(SharedSample().dir, tar, id).ok());
  EXPECT_FALSE(fs::exists(tar.string() + ".partial"));
  std::string listing;
  ASSERT_EQ(RunCommand(absl::StrCat("tar -tf ", Quote(tar)), &listing), 0) << listing;
  EXPECT_THAT(listing, HasSubstr(absl::StrCat(id, "/content/arkivuttrekk.xml\n")));
  EXPECT_THAT(listing, HasSubstr(absl::StrCat(id, "/content/dokumenter/v1-readings.csv\n")));
  EXPECT_THAT(listing, HasSubstr(absl::StrCat(id, "/content/addml.xsd\n")));
}

TEST(WriteTar, GnuTarExtractsByteIdenticalFiles) {
  const std::string id = SharedSample().summary.package_id;
  const fs::path out = FreshDir("gnu-extract");
  const fs::path tar = out / "package.tar";
  ASSERT_TRUE(WriteTar(SharedSample().dir, tar, id).ok());
  std::string output;
  ASSERT_EQ(RunCommand(absl::StrCat("tar -xf ", Quote(tar), " -C ", Quote(out)), &output), 0)
      << output;
  int compared = 0;
  for (const auto& entry : fs::recursive_directory_iterator(SharedSample().dir)) {
    if (!entry.is_regular_file()) continue;
    const fs::path relative = entry.path().lexically_relative(SharedSample().dir);
    absl::StatusOr<HashAndSize> original = HashFile(entry.path());
    absl::StatusOr<HashAndSize> extracted = HashFile(out / id / "content" / relative);
    ASSERT_TRUE(original.ok() && extracted.ok()) << relative;
    EXPECT_EQ(original->sha256_hex, extracted->sha256_hex) << relative;
    ++compared;
  }
  EXPECT_EQ(compared, 16);
}

TEST(WriteTar, LongNamesSurviveThroughPaxHeaders) {
  const fs::path dir = FreshDir("long-names");
  const std::string long_name(180, 'n');
  fs::create_directories(dir / "dokumenter");
  testing::WriteFile(dir / "dokumenter" / (long_name + ".txt"), "long");
  const fs::path tar = FreshDir("long-tar") / "long.tar";
  ASSERT_TRUE(WriteTar(dir, tar, "0f5e3a32-4d53-4a8e-9d3c-0c4b4c1d2e3f").ok());
  std::string listing;
  ASSERT_EQ(RunCommand(absl::StrCat("tar -tf ", Quote(tar)), &listing), 0) << listing;
  EXPECT_THAT(listing, HasSubstr(absl::StrCat("/content/dokumenter/", long_name, ".txt\n")));
  absl::StatusOr<std::vector<TarMember>> members = ReadTarIndex(tar);
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 1u);
  EXPECT_EQ((*members)[0].name, absl::StrCat("0f5e3a32-4d53-4a8e-9d3c-0c4b4c1d2e3f/content/"
                                             "dokumenter/",
                                             long_name, ".txt"));
  absl::StatusOr<std::unique_ptr<ByteSource>> member = OpenTarMember(tar, (*members)[0]);
  ASSERT_TRUE(member.ok());
  absl::StatusOr<HashAndSize> hash = HashSource(**member);
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->size, 4u);
}

TEST(ReadTarIndex, ReadsWhatGnuTarWrote) {
  const fs::path dir = FreshDir("gnu-made");
  const std::string long_name(150, 'g');
  testing::WriteFile(dir / "short.txt", "hello");
  testing::WriteFile(dir / long_name, std::string(1000, 'z'));
  const fs::path tar = FreshDir("gnu-made-tar") / "gnu.tar";
  for (const std::string format : {"gnu", "pax"}) {
    std::string output;
    ASSERT_EQ(RunCommand(absl::StrCat("tar --format=", format, " -cf ", Quote(tar), " -C ",
                                      Quote(dir), " short.txt ", long_name),
                         &output),
              0)
        << output;
    absl::StatusOr<std::vector<TarMember>> members = ReadTarIndex(tar);
    ASSERT_TRUE(members.ok()) << members.status();
    std::vector<std::string> names;
    for (const TarMember& member : *members) names.push_back(member.name);
    EXPECT_THAT(names, Contains("short.txt")) << format;
    EXPECT_THAT(names, Contains(long_name)) << format;
    for (const TarMember& member : *members) {
      absl::StatusOr<std::unique_ptr<ByteSource>> source = OpenTarMember(tar, member);
      ASSERT_TRUE(source.ok());
      absl::StatusOr<HashAndSize> hash = HashSource(**source);
      ASSERT_TRUE(hash.ok());
      EXPECT_EQ(hash->size, member.name == "short.txt" ? 5u : 1000u) << format;
    }
  }
}

TEST(ReadTarIndex, RejectsADamagedHeader) {
  const fs::path tar = FreshDir("damaged") / "damaged.tar";
  ASSERT_TRUE(WriteTar(SharedSample().dir, tar, SharedSample().summary.package_id).ok());
  std::string bytes = ReadFile(tar);
  bytes[3] ^= 0x20;  // inside the first header's name: its checksum no longer matches
  testing::WriteFile(tar, bytes);
  absl::StatusOr<std::vector<TarMember>> members = ReadTarIndex(tar);
  EXPECT_EQ(members.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(members.status().message()), HasSubstr("wrong header checksum"));
}

}  // namespace
}  // namespace smartby::noark5

namespace smartby::noark5 {
namespace {

TEST(WriteSubmissionInfo, MetsValidatesAndDescribesTheTar) {
  const std::string id = SharedSample().summary.package_id;
  const fs::path out = FreshDir("info");
  const fs::path tar = out / absl::StrCat(id, ".tar");
  const fs::path info = out / absl::StrCat(id, ".xml");
  ASSERT_TRUE(WriteTar(SharedSample().dir, tar, id).ok());
  ASSERT_TRUE(WriteSubmissionInfo(tar, info, id, testing::SampleConfig()).ok());

  const fs::path mets = testing::SharedNoark5Dir() / "xsd" / "mets";
  std::string output;
  EXPECT_EQ(RunCommand(absl::StrCat("XML_CATALOG_FILES=", Quote(mets / "catalog.xml"),
                                    " /usr/bin/xmllint --nonet --noout --schema ",
                                    Quote(mets / "mets.xsd"), " ", Quote(info)),
                       &output),
            0)
      << output;
  absl::StatusOr<HashAndSize> hash = HashFile(tar);
  ASSERT_TRUE(hash.ok());
  const std::string text = ReadFile(info);
  EXPECT_THAT(text, HasSubstr(absl::StrCat("CHECKSUM=\"", hash->sha256_hex, "\"")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("SIZE=\"", hash->size, "\"")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("OBJID=\"UUID:", id, "\"")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("xlink:href=\"file:", id, ".tar\"")));
  EXPECT_THAT(text, HasSubstr("<mets:name>Eksempel kommune</mets:name>"));
  EXPECT_THAT(text, HasSubstr(R"(<mets:altRecordID TYPE="STARTDATE">2026-01-01<)"));

  // The same check must be able to fail: a METS file missing its required structMap.
  testing::ReplaceFirst(info, "<mets:structMap>", "<mets:structMapX>");
  EXPECT_NE(RunCommand(absl::StrCat("XML_CATALOG_FILES=", Quote(mets / "catalog.xml"),
                                    " /usr/bin/xmllint --nonet --noout --schema ",
                                    Quote(mets / "mets.xsd"), " ", Quote(info)),
                       &output),
            0);
}

}  // namespace
}  // namespace smartby::noark5
