// Test support: a coherent package written with the real PackageWriter, and small file helpers
// for mutating copies of it.
#ifndef SMARTBY_SERVICES_ARCHIVE_NOARK5_TEST_PACKAGE_H_
#define SMARTBY_SERVICES_ARCHIVE_NOARK5_TEST_PACKAGE_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "services/archive/noark5/package_writer.h"

namespace smartby::noark5::testing {

// A fresh, empty folder under the test's temporary directory.
std::filesystem::path FreshDir(const std::string& label);

// The shared fixtures (../shared/noark5) and the shipped schemas, from the environment the
// CMake test sets.
std::filesystem::path SharedNoark5Dir();
std::filesystem::path ShippedXsdDir();

ExportConfig SampleConfig();

struct SamplePackage {
  std::filesystem::path dir;
  PackageSummary summary;
  std::string case_file_id;
  std::vector<std::string> registry_entry_ids;
  std::string csv_sha256;
  std::uint64_t csv_bytes = 0;
};

// One case file (a dataset) with three registry entries: two published versions (journalposter
// with a metadata JSON and a streamed readings CSV of csv_megabytes), a risk assessment
// (arkivnotat) and a retirement (journalpost without documents); change-log entries for the
// case file and an entry.
SamplePackage WriteSamplePackage(const std::filesystem::path& dir, int csv_megabytes = 3);

// One sample package per test process, written on first use; tests must not modify it (copy it
// with CopyPackage first).
const SamplePackage& SharedSample();

std::string ReadFile(const std::filesystem::path& path);
void WriteFile(const std::filesystem::path& path, const std::string& content);
// Replaces the first occurrence of `from` with `to`; fails the test when `from` is absent.
void ReplaceFirst(const std::filesystem::path& path, const std::string& from,
                  const std::string& to);
// Copies a package folder recursively to a fresh folder and returns it.
std::filesystem::path CopyPackage(const std::filesystem::path& from, const std::string& label);

// Runs a command line through /bin/sh; returns its exit code and fills `output` (stdout+stderr).
int RunCommand(const std::string& command, std::string* output);

}  // namespace smartby::noark5::testing

#endif  // SMARTBY_SERVICES_ARCHIVE_NOARK5_TEST_PACKAGE_H_
