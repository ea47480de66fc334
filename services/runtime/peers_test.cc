#include "services/runtime/peers.h"

#include <gtest/gtest.h>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"

ABSL_FLAG(std::string, peers_test_service, "grpc://127.0.0.1:7001", "a peer only this test uses");
ABSL_FLAG(std::string, peers_test_ca, "", "its CA file");

namespace smartby {
namespace {

TEST(PeerChannel, PlaintextAddressGivesAChannel) {
  absl::SetFlag(&FLAGS_peers_test_service, "grpc://127.0.0.1:7001");
  absl::SetFlag(&FLAGS_peers_test_ca, "");
  auto channel = PeerChannel(FLAGS_peers_test_service, FLAGS_peers_test_ca);
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_NE(*channel, nullptr);
}

TEST(PeerChannel, WrongSchemeNamesTheAddressFlag) {
  absl::SetFlag(&FLAGS_peers_test_service, "http://127.0.0.1:7001");
  auto channel = PeerChannel(FLAGS_peers_test_service, FLAGS_peers_test_ca);
  ASSERT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(channel.status().message(),
                               "--peers_test_service: expected grpc://HOST:PORT or grpcs://"))
      << channel.status();
}

TEST(PeerChannel, MissingHostNamesTheAddressFlag) {
  absl::SetFlag(&FLAGS_peers_test_service, "grpcs://");
  auto channel = PeerChannel(FLAGS_peers_test_service, FLAGS_peers_test_ca);
  ASSERT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(channel.status().message(), "--peers_test_service: HOST:PORT is missing");
}

TEST(PeerChannel, UnreadableCaFileIsRefusedNamingTheCaFlag) {
  absl::SetFlag(&FLAGS_peers_test_service, "grpcs://127.0.0.1:7001");
  absl::SetFlag(&FLAGS_peers_test_ca, "/nonexistent/peers-test-ca.pem");
  auto channel = PeerChannel(FLAGS_peers_test_service, FLAGS_peers_test_ca);
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(channel.status().message(), "/nonexistent/peers-test-ca.pem"))
      << channel.status();
  EXPECT_TRUE(absl::StartsWith(channel.status().message(), "--peers_test_ca: "))
      << channel.status();
  absl::SetFlag(&FLAGS_peers_test_ca, "");
}

}  // namespace
}  // namespace smartby
