// ServiceProcess's children die with the process that started them: a test binary killed by
// CTest's timeout runs no destructors, and its services must not live on as orphans.
#include "tests/support/service_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"

namespace smartby::testing {
namespace {

// A stand-in service: announces itself the way the services do, then runs until killed.
const std::vector<std::string> kStandInService = {
    "-c", R"(echo '{"msg":"serving","grpc_port":1}'; exec sleep 600)"};

bool Alive(pid_t pid) {
  // A zombie is dead too (its parent, init here, has not reaped it yet).
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, comm, state;
  return static_cast<bool>(stat >> pid_field >> comm >> state) && state != "Z";
}

bool EventuallyDead(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Alive(pid)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));  // polling /proc, not synchronising
  }
  return true;
}

TEST(ServiceProcess, DiesWhenTheProcessThatStartedItIsKilled) {
  int pid_pipe[2];
  ASSERT_EQ(pipe(pid_pipe), 0);
  // The "test binary": starts a service, reports its pid, then hangs as if the test were stuck.
  const pid_t test_binary = fork();
  ASSERT_GE(test_binary, 0);
  if (test_binary == 0) {
    auto service = ServiceProcess::Start("/bin/sh", kStandInService);
    const std::string pid = service.ok() ? std::to_string((*service)->pid()) : "0";
    if (write(pid_pipe[1], pid.data(), pid.size()) < 0) _exit(1);
    close(pid_pipe[1]);
    pause();
    _exit(0);
  }
  close(pid_pipe[1]);
  char buffer[32] = {};
  ASSERT_GT(read(pid_pipe[0], buffer, sizeof buffer - 1), 0);
  close(pid_pipe[0]);
  pid_t service = 0;
  ASSERT_TRUE(absl::SimpleAtoi(buffer, &service) && service > 0) << "the service did not start";
  ASSERT_TRUE(Alive(service));

  // CTest's timeout does this to a stuck test binary.
  ASSERT_EQ(kill(test_binary, SIGKILL), 0);
  waitpid(test_binary, nullptr, 0);
  EXPECT_TRUE(EventuallyDead(service, absl::Seconds(10)))
      << "the service (pid " << service << ") outlived the process that started it";
  kill(service, SIGKILL);  // no orphan from this test either, whatever happened
}

TEST(ServiceProcess, StopEndsTheServiceWithItsExitCode) {
  auto service = ServiceProcess::Start("/bin/sh", kStandInService);
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ((*service)->grpc_port(), 1);
  const pid_t pid = (*service)->pid();
  EXPECT_EQ((*service)->Stop(), -SIGTERM);
  EXPECT_FALSE(Alive(pid));
}

}  // namespace
}  // namespace smartby::testing
