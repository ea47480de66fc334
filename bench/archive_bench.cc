// Archive export benchmark, run by hand (see bench/README.md). One dataset of N readings
// (default 1,000,000) and D MiB of document files (default 1024) become a Noark 5 package the way
// the archive makes one: the readings streamed into a CSV document (export_pipeline.h's CsvRow,
// from synthetic pages as ingestion would answer them), the files added with
// PackageWriter::AddDocumentFromFile, Finish (ADDML with checksums), WriteTar, then CheckPackage
// on the TAR and the TAR's SHA-256 (CheckAndHashPackage) — everything the service does before a job is SUCCEEDED,
// except the gRPC calls.
//
// Reported in the same run, on the same files:
//   baseline   `tar -cf` of the package's documents + `sha256sum` of each (what any packer must
//              at least do: read, copy and hash the bytes once)
//   archive    the whole export above
//   ratio      archive / baseline (target <= 1.5)
//   peak RSS   of this process (getrusage; the baseline runs in child processes), target
//              <= 200 MB whatever the size
//
// Usage: build/bench/archive_bench [readings=1000000] [document_mib=1024] [work_dir=/tmp]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/archive/export_pipeline.h"
#include "services/archive/noark5/package_check.h"
#include "services/archive/noark5/package_writer.h"

namespace {

namespace cv1 = ::smartcity::catalogue::v1;
namespace iv1 = ::smartcity::ingestion::v1;
using smartby::noark5::PackageWriter;

constexpr int kPage = 5000;
constexpr int64_t kFileMiB = 64;

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(status.message()).c_str());
    std::exit(1);
  }
}

cv1::Dataset Dataset() {
  cv1::Dataset d;
  d.set_name("bench-vannstand");
  for (const char* name : {"level", "temperature", "battery"}) {
    auto* f = d.add_fields();
    f->set_name(name);
    f->set_type(cv1::FIELD_TYPE_DOUBLE);
  }
  return d;
}

// Files of pseudo-random bytes (incompressible, like real documents), kFileMiB each.
void MakeDocuments(const std::filesystem::path& dir, int64_t mib) {
  std::filesystem::create_directories(dir);
  std::mt19937_64 rng(42);
  std::string block(1 << 20, '\0');
  for (int64_t file = 0; file * kFileMiB < mib; ++file) {
    std::ofstream out(dir / absl::StrCat("dokument-", file, ".bin"), std::ios::binary);
    for (int64_t m = 0; m < std::min(kFileMiB, mib - file * kFileMiB); ++m) {
      for (size_t i = 0; i + 8 <= block.size(); i += 8) {
        const uint64_t v = rng();
        std::memcpy(&block[i], &v, 8);
      }
      out.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
  }
}

double Seconds(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

}  // namespace

int main(int argc, char** argv) {
  const int64_t readings = argc > 1 ? std::atoll(argv[1]) : 1000000;
  const int64_t document_mib = argc > 2 ? std::atoll(argv[2]) : 1024;
  const std::filesystem::path work =
      std::filesystem::path(argc > 3 ? argv[3] : "/tmp") /
      absl::StrCat("archive-bench-", getpid());
  std::filesystem::create_directories(work);
  const std::filesystem::path documents = work / "documents";
  std::printf("archive_bench: %lld readings, %lld MiB of documents, in %s\n",
              static_cast<long long>(readings), static_cast<long long>(document_mib),
              work.c_str());
  MakeDocuments(documents, document_mib);

  // --- the archive's way.
  const absl::Time start = absl::Now();
  smartby::noark5::ExportConfig config;
  config.archive_title = "Smartby";
  config.creator_id = "964965137";
  config.creator_name = "Stavanger kommune";
  config.series_title = "Benchmark";
  config.document_type = "Dataeksport";
  config.responsible_unit = "Bymiljø og utbygging";
  config.case_handler = "Benk";
  const absl::Time t0 = absl::FromUnixSeconds(1'700'000'000);
  config.period_start = t0;
  config.period_end = t0 + absl::Seconds(readings + 1);
  auto writer = PackageWriter::Create(work / "staging", config);
  Check(writer.status(), "PackageWriter::Create");
  smartby::noark5::CaseFile case_file;
  case_file.title = "Benchmark-datasett";
  case_file.created = t0;
  Check((*writer)->BeginCaseFile(case_file).status(), "BeginCaseFile");
  smartby::noark5::RegistryEntry entry;
  entry.title = "Data";
  entry.date = t0;
  Check((*writer)->BeginRegistryEntry(entry).status(), "BeginRegistryEntry");
  const cv1::Dataset dataset = Dataset();
  smartby::noark5::Document csv;
  csv.title = "Målinger";
  csv.file_name = "readings.csv";
  csv.format = "x-fmt/18";
  Check((*writer)
            ->AddDocument(csv,
                          [&](smartby::noark5::DocumentSink& sink) -> absl::Status {
                            std::string buffer = smartby::archive::CsvHeader(dataset);
                            iv1::QueryReadingsResponse page;
                            for (int64_t i = 0; i < readings; i += kPage) {
                              page.Clear();  // as a page from ingestion arrives
                              for (int64_t j = i; j < std::min(readings, i + kPage); ++j) {
                                iv1::Reading* r = page.add_readings();
                                r->set_source_id(absl::StrCat("kum-", j % 200));
                                r->mutable_time()->set_seconds(1'700'000'000 + j);
                                auto& values = *r->mutable_values();
                                values["level"].set_double_value(10.0 + (j % 97) * 0.25);
                                values["temperature"].set_double_value(4.5 + (j % 13) * 0.1);
                                values["battery"].set_double_value(3.6 - (j % 7) * 0.01);
                              }
                              for (const auto& r : page.readings()) {
                                buffer += smartby::archive::CsvRow(dataset, r);
                              }
                              if (buffer.size() >= 256 * 1024) {
                                absl::Status written = sink.Write(buffer);
                                if (!written.ok()) return written;
                                buffer.clear();
                              }
                            }
                            return sink.Write(buffer);
                          })
            .status(),
        "AddDocument (readings)");
  for (const auto& file : std::filesystem::directory_iterator(documents)) {
    smartby::noark5::Document document;
    document.title = file.path().filename().string();
    document.file_name = file.path().filename().string();
    document.format = "fmt/95";
    document.main_document = false;
    Check((*writer)->AddDocumentFromFile(document, file.path()).status(), "AddDocumentFromFile");
  }
  Check((*writer)->EndRegistryEntry(), "EndRegistryEntry");
  Check((*writer)->EndCaseFile(), "EndCaseFile");
  auto summary = (*writer)->Finish();
  Check(summary.status(), "Finish");
  const std::filesystem::path tar = work / "package.tar";
  Check(smartby::noark5::WriteTar(summary->directory, tar, summary->package_id), "WriteTar");
  const double packed = Seconds(start);
  auto checked = smartby::archive::CheckAndHashPackage(tar, smartby::noark5::SourceTreeXsdDir());
  Check(checked.status(), "CheckAndHashPackage");
  const double archive_seconds = Seconds(start);
  const double rss = PeakRssMiB();

  // --- the baseline: the same document files (CSV included), tar + sha256sum.
  const std::filesystem::path docs = summary->directory / "dokumenter";
  const absl::Time base_start = absl::Now();
  const std::string tar_cmd = absl::StrCat("tar -cf ", (work / "baseline.tar").string(), " -C ",
                                           docs.string(), " .");
  const std::string sum_cmd = absl::StrCat("sha256sum ", docs.string(), "/* >/dev/null");
  if (std::system(tar_cmd.c_str()) != 0 || std::system(sum_cmd.c_str()) != 0) return 1;
  const double baseline_seconds = Seconds(base_start);

  const double bytes = static_cast<double>(std::filesystem::file_size(tar));
  std::printf("package:   %.1f MiB (%lld readings, %llu documents)\n", bytes / (1 << 20),
              static_cast<long long>(readings),
              static_cast<unsigned long long>(summary->totals.documents));
  std::printf("archive:   %.2f s (write+tar %.2f s, check+hash %.2f s)\n", archive_seconds, packed,
              archive_seconds - packed);
  std::printf("baseline:  %.2f s (tar -cf + sha256sum of the same documents)\n",
              baseline_seconds);
  std::printf("ratio:     %.2f (target <= 1.5)\n", archive_seconds / baseline_seconds);
  std::printf("peak RSS:  %.1f MiB (target <= 200 MB)\n", rss);
  std::filesystem::remove_all(work);
  return 0;
}
