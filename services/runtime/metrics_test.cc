// The TLS certificate expiry metric, against certificates made by the openssl CLI.
#include "services/runtime/metrics.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace smartby {
namespace {

// A fresh directory under /tmp, removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "smartby-metrics-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string MakeCertificate(const std::string& dir, int days) {
  const std::string cert = absl::StrCat(dir, "/cert-", days, ".pem");
  const std::string command = absl::StrCat(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=smartby",
      " -days ", days, " -keyout ", dir, "/key.pem -out ", cert, " 2>/dev/null");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return cert;
}

TEST(CertificateExpiry, NotAfterIsReadFromThePemFile) {
  ScratchDir dir;
  absl::StatusOr<int64_t> not_after = CertificateNotAfter(MakeCertificate(dir.path(), 30));
  ASSERT_TRUE(not_after.ok()) << not_after.status();
  const int64_t in_30_days = absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 30));
  EXPECT_NEAR(static_cast<double>(*not_after), static_cast<double>(in_30_days), 120);
  EXPECT_EQ(CertificateNotAfter(dir.path() + "/missing.pem").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(CertificateExpiry, CollectorLabelsEachFileAndCountsUnreadableOnes) {
  ScratchDir dir;
  const std::string server = MakeCertificate(dir.path(), 10);
  auto collector = NewCertificateCollector(
      {{"server", server}, {"client_ca", dir.path() + "/gone.pem"}});
  std::vector<prometheus::MetricFamily> families = collector->Collect();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "smartby_tls_certificate_expiry_timestamp_seconds");
  ASSERT_EQ(families[0].metric.size(), 1u);
  EXPECT_EQ(families[0].metric[0].label[0].value, "server");
  EXPECT_GT(families[0].metric[0].gauge.value,
            static_cast<double>(absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 9))));
  EXPECT_EQ(families[1].name, "smartby_tls_certificate_read_errors");
  EXPECT_EQ(families[1].metric[0].gauge.value, 1);
}

}  // namespace
}  // namespace smartby
