// archive_commands.h: the request `archive export` builds from its flags, and the progress line.
#include "cli/smartctl/archive_commands.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cli/smartctl/errors.h"

namespace smartby::smartctl {
namespace {

namespace v1 = smartcity::archive::v1;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'780'000'000);

ParsedFlags Flags(std::initializer_list<std::pair<const char*, const char*>> pairs) {
  ParsedFlags flags;
  for (const auto& [name, value] : pairs) flags.Add(name, value);
  return flags;
}

TEST(ArchiveExportRequest, DatasetsTimesAndConfigComeFromFlags) {
  auto request = ExportRequestFrom(Flags({{"dataset", "badetemperatur"},
                                          {"dataset", "parkering"},
                                          {"from", "2026-01-01"},
                                          {"to", "2026-02-01T00:00:00Z"},
                                          {"responsible-unit", "Bymiljø"},
                                          {"case-handler", "Kari"}}),
                                   kNow);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_THAT(request->datasets(), ::testing::ElementsAre("badetemperatur", "parkering"));
  EXPECT_EQ(request->start_time().seconds(), absl::ToUnixSeconds(absl::FromCivil(
                                                 absl::CivilDay(2026, 1, 1), absl::UTCTimeZone())));
  EXPECT_EQ(request->end_time().seconds(), absl::ToUnixSeconds(absl::FromCivil(
                                               absl::CivilDay(2026, 2, 1), absl::UTCTimeZone())));
  EXPECT_EQ(request->config().responsible_unit(), "Bymiljø");
  EXPECT_EQ(request->config().case_handler(), "Kari");
  EXPECT_TRUE(request->config().arkivdel().empty()) << "left to the service's default";
}

TEST(ArchiveExportRequest, WithoutDatasetIsAUsageError) {
  auto request = ExportRequestFrom(Flags({{"from", "2026-01-01"}}), kNow);
  EXPECT_EQ(ExitCodeOf(request.status()), kExitUsage);
  EXPECT_THAT(std::string(request.status().message()), HasSubstr("--dataset"));
}

TEST(ArchiveExportRequest, PeriodMustRunForwards) {
  auto request = ExportRequestFrom(
      Flags({{"dataset", "x"}, {"from", "2026-02-01"}, {"to", "2026-01-01"}}), kNow);
  EXPECT_EQ(ExitCodeOf(request.status()), kExitUsage);
  EXPECT_THAT(std::string(request.status().message()), HasSubstr("--to"));
  auto garbled = ExportRequestFrom(Flags({{"dataset", "x"}, {"from", "soon"}}), kNow);
  EXPECT_EQ(ExitCodeOf(garbled.status()), kExitUsage);
  EXPECT_THAT(std::string(garbled.status().message()), HasSubstr("--from"));
}

TEST(ArchiveProgress, LineShowsBarCountsAndPhaseWithinWidth) {
  v1::ExportJob job;
  job.set_state(v1::EXPORT_STATE_RUNNING);
  job.mutable_progress()->set_datasets_total(2);
  job.mutable_progress()->set_datasets_done(1);
  job.mutable_progress()->set_readings_written(120000);
  job.mutable_progress()->set_phase("readings");
  const std::string line = ExportProgressLine(job, 100);
  EXPECT_THAT(line, HasSubstr("[==========>"));
  EXPECT_THAT(line, HasSubstr("1/2 datasets"));
  EXPECT_THAT(line, HasSubstr("readings 120000"));
  EXPECT_LE(ExportProgressLine(job, 30).size(), 30u);
}

TEST(ArchiveProgress, StateNamesAreShort) {
  EXPECT_EQ(ExportStateName(v1::EXPORT_STATE_SUCCEEDED), "succeeded");
  EXPECT_EQ(ExportStateName(v1::EXPORT_STATE_CANCELLED), "cancelled");
}

}  // namespace
}  // namespace smartby::smartctl
