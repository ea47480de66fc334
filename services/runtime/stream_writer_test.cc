// ServerStreamWriter against a real gRPC server and client on loopback. The server-streaming
// method borrowed for it is ArchiveService.FetchPackage (PackageChunk: an offset to number the
// messages, bytes to size them); the request's id picks what the test reactor does.
#include "services/runtime/stream_writer.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "smartcity/archive/v1/archive.grpc.pb.h"

namespace smartby {
namespace {

namespace v1 = ::smartcity::archive::v1;
using std::chrono::seconds;

constexpr char kSourceGone[] = "test: the source went away";
// Flood chunks of a few KiB: measured with the bug of 93177a4 put back, they leave a cancelled
// call open within the first rounds (64-byte chunks needed ten times as many).
constexpr size_t kFloodBytes = 4096;

class TestWriter;

// The test reactors that are alive, so the test can push to them, close them, and wait for them
// all to be deleted.
class LiveWriters {
 public:
  void Add(TestWriter* writer) {
    std::lock_guard<std::mutex> lock(mu_);
    writers_.insert(writer);
    changed_.notify_all();
  }
  void Remove(TestWriter* writer) {
    std::lock_guard<std::mutex> lock(mu_);
    writers_.erase(writer);
    changed_.notify_all();
  }
  // Calls `action` on each live writer (which cannot be deleted meanwhile: Remove waits).
  template <class Action>
  void ForEach(Action action) {
    std::lock_guard<std::mutex> lock(mu_);
    for (TestWriter* writer : writers_) action(*writer);
  }
  bool WaitForCount(size_t count, seconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, limit, [&] { return writers_.size() == count; });
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return writers_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::set<TestWriter*> writers_;
};

// What the request's id asks for:
//   "pull:N"       N chunks, each produced by a pool task after the previous write, then OK
//   "pull:N:fail"  the same, then FAILED_PRECONDITION kSourceGone
//   "flood"        chunks back to back, forever (a write is in flight nearly all the time)
//   "push"         whatever the test pushes, from the test's thread; never ends by itself
//   "stall:BYTES"  one chunk of BYTES, then nothing (a client that does not read stalls it)
class TestWriter final : public ServerStreamWriter<v1::PackageChunk> {
 public:
  TestWriter(LiveWriters* live, CallRunner* calls, grpc::CallbackServerContext* context,
             const std::string& scenario)
      : ServerStreamWriter(calls, context, "FetchPackage"), live_(live) {
    live_->Add(this);
    std::lock_guard<std::mutex> lock(mu_);
    if (!admitted().ok()) {
      CloseLocked(admitted());
      return;
    }
    std::vector<std::string> parts = absl::StrSplit(scenario, ':');
    mode_ = parts[0];
    if (mode_ == "pull" && parts.size() >= 2 && absl::SimpleAtoi(parts[1], &limit_)) {
      fail_at_end_ = parts.size() == 3 && parts[2] == "fail";
      PullNextLocked();
    } else if (mode_ == "flood") {
      WriteNumberedLocked(std::string(kFloodBytes, 'f'));
    } else if (mode_ == "stall" && parts.size() == 2 && absl::SimpleAtoi(parts[1], &limit_)) {
      WriteNumberedLocked(std::string(static_cast<size_t>(limit_), 's'));
    } else if (mode_ != "push") {
      CloseLocked(absl::InvalidArgumentError("id: not a test scenario: " + scenario));
    }
  }

  // False when the stream is closing (the chunk is dropped).
  bool Push(std::string data) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing()) return false;
    pushed_.push_back(std::move(data));
    if (!writing()) WritePushedLocked();
    return true;
  }

  void Close(absl::Status outcome) {
    std::lock_guard<std::mutex> lock(mu_);
    CloseLocked(std::move(outcome));
  }

  // Whether WriteLocked refuses now (it must, once closing).
  bool WriteRefused() {
    std::lock_guard<std::mutex> lock(mu_);
    return !WriteLocked(&chunk_);
  }

 private:
  void OnWriteDoneLocked() override {
    if (mode_ == "pull") {
      PullNextLocked();
    } else if (mode_ == "flood") {
      WriteNumberedLocked(std::string(kFloodBytes, 'f'));
    } else if (mode_ == "push") {
      WritePushedLocked();
    }
  }

  void BeforeDelete() override { live_->Remove(this); }

  // Pull: the next chunk is "read" on the pool, as archive and ingestion do.
  void PullNextLocked() {
    if (!Submit([this] {
          std::lock_guard<std::mutex> lock(mu_);
          if (closing()) return;
          if (next_offset_ == limit_) {
            CloseLocked(fail_at_end_ ? absl::FailedPreconditionError(kSourceGone)
                                     : absl::OkStatus());
            return;
          }
          WriteNumberedLocked("chunk");
        })) {
      CloseLocked(absl::ResourceExhaustedError("test: the pool is full"));
    }
  }

  void WritePushedLocked() {
    if (pushed_.empty()) return;
    std::string data = std::move(pushed_.front());
    pushed_.pop_front();
    WriteNumberedLocked(std::move(data));
  }

  void WriteNumberedLocked(std::string data) {
    chunk_.set_offset(next_offset_++);
    chunk_.set_data(std::move(data));
    WriteLocked(&chunk_);
  }

  LiveWriters* const live_;
  std::string mode_;
  int64_t limit_ = 0;
  bool fail_at_end_ = false;
  int64_t next_offset_ = 0;
  std::deque<std::string> pushed_;
  v1::PackageChunk chunk_;  // the message being written
};

class TestStreamService final : public v1::ArchiveService::CallbackService {
 public:
  TestStreamService(LiveWriters* live, CallRunner* calls) : live_(live), calls_(calls) {}
  grpc::ServerWriteReactor<v1::PackageChunk>* FetchPackage(
      grpc::CallbackServerContext* context, const v1::FetchPackageRequest* request) override {
    return new TestWriter(live_, calls_, context, request->id());
  }

 private:
  LiveWriters* live_;
  CallRunner* calls_;
};

// Refuses calls that carry `x-test-refuse` metadata, as an authentication guard would.
class RefusingGuard final : public CallGuard {
 public:
  absl::Status Admit(CallContext& call) override {
    if (call.server_context->client_metadata().count("x-test-refuse") > 0) {
      return absl::PermissionDeniedError("test: refused by the guard");
    }
    return absl::OkStatus();
  }
};

// A server stream on the client side: one context, one reader.
struct ClientStream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::PackageChunk>> reader;
};

class StreamWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    calls_.AddGuard(std::make_shared<RefusingGuard>());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = v1::ArchiveService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) ShutdownOrExit();
  }

  std::unique_ptr<ClientStream> Open(const std::string& scenario, bool refuse = false) {
    auto stream = std::make_unique<ClientStream>();
    if (refuse) stream->context.AddMetadata("x-test-refuse", "yes");
    v1::FetchPackageRequest request;
    request.set_id(scenario);
    stream->reader = stub_->FetchPackage(&stream->context, request);
    return stream;
  }

  // Server::Shutdown waits for every open stream to finish; a reactor that never finishes makes
  // it wait forever. So a hang is reported here and ends the test binary at once, rather than at
  // ctest's timeout.
  void ShutdownOrExit() {
    auto returned = std::make_shared<std::promise<void>>();
    std::future<void> future = returned->get_future();
    std::thread([server = server_.get(), returned] {
      server->Shutdown(std::chrono::system_clock::now() + seconds(1));  // then cancels the rest
      returned->set_value();
    }).detach();
    if (future.wait_for(seconds(20)) != std::future_status::ready) {
      std::fprintf(stderr,
                   "FAILED: grpc::Server::Shutdown did not return within 20 s: a stream never "
                   "finished (%zu test reactors still alive)\n",
                   live_.count());
      std::fflush(stderr);
      std::_Exit(1);
    }
    server_->Wait();
    server_.reset();
  }

  ServicePolicy policy_{"smartcity.archive.v1.ArchiveService",
                        {{"FetchPackage", {false, Access::kPublic, auth::Action::kArchive}}}};
  WorkerPool pool_{2, 256};
  CallRunner calls_{&policy_, &pool_};
  LiveWriters live_;
  TestStreamService service_{&live_, &calls_};
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ArchiveService::Stub> stub_;
};

TEST_F(StreamWriterTest, WritesMessagesInOrderThenFinishesOk) {
  auto stream = Open("pull:20");
  std::vector<int64_t> offsets;
  v1::PackageChunk chunk;
  while (stream->reader->Read(&chunk)) offsets.push_back(chunk.offset());
  grpc::Status status = stream->reader->Finish();

  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < 20; ++i) expected.push_back(i);
  EXPECT_EQ(offsets, expected);
  EXPECT_TRUE(live_.WaitForCount(0, seconds(10))) << "the reactor was not deleted";
}

TEST_F(StreamWriterTest, ServerCloseFinishesWithItsStatusAfterTheMessages) {
  auto stream = Open("pull:3:fail");
  int received = 0;
  v1::PackageChunk chunk;
  while (stream->reader->Read(&chunk)) ++received;
  grpc::Status status = stream->reader->Finish();

  EXPECT_EQ(received, 3);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), kSourceGone);
}

TEST_F(StreamWriterTest, RefusedCallFinishesWithTheGuardsStatusAndNoMessages) {
  auto stream = Open("pull:5", /*refuse=*/true);
  v1::PackageChunk chunk;
  EXPECT_FALSE(stream->reader->Read(&chunk));
  grpc::Status status = stream->reader->Finish();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(live_.WaitForCount(0, seconds(10)));
}

TEST_F(StreamWriterTest, ClientCancelWhileIdleEndsTheCall) {
  auto stream = Open("push");
  ASSERT_TRUE(live_.WaitForCount(1, seconds(10)));
  bool pushed = false;
  live_.ForEach([&](TestWriter& writer) { pushed = writer.Push("one"); });
  ASSERT_TRUE(pushed);
  v1::PackageChunk chunk;
  ASSERT_TRUE(stream->reader->Read(&chunk));
  EXPECT_EQ(chunk.data(), "one");

  stream->context.TryCancel();  // nothing is being written now

  EXPECT_TRUE(live_.WaitForCount(0, seconds(10))) << "the cancelled call stayed open";
  EXPECT_EQ(stream->reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// The regression test for 93177a4: each stream always has a write in flight, and each client
// cancels while reading, so OnCancel races the completion of a write that often still
// succeeds. Every call must end, and shutdown must return.
TEST_F(StreamWriterTest, ClientCancelWhileWritesAreInFlightEndsEveryCall) {
  constexpr int kStreams = 48;
  for (int round = 0; round < 30; ++round) {
    std::vector<std::thread> clients;
    for (int i = 0; i < kStreams; ++i) {
      clients.emplace_back([this, i] {
        auto stream = Open("flood");
        v1::PackageChunk chunk;
        for (int read = 0; read < 20 + i % 7 && stream->reader->Read(&chunk); ++read) {
        }
        stream->context.TryCancel();
        while (stream->reader->Read(&chunk)) {
        }
        stream->reader->Finish();
      });
    }
    for (std::thread& client : clients) client.join();
    ASSERT_TRUE(live_.WaitForCount(0, seconds(15)))
        << live_.count() << " of " << kStreams << " cancelled calls stayed open (round " << round
        << ")";
  }
}

TEST_F(StreamWriterTest, ServerCloseDuringAStalledWriteEndsTheCall) {
  // 32 MiB to a client that does not read: the write cannot complete by itself.
  auto stream = Open("stall:33554432");
  ASSERT_TRUE(live_.WaitForCount(1, seconds(10)));

  bool refused = false, pushed = true;
  live_.ForEach([&](TestWriter& writer) {
    writer.Close(absl::UnavailableError("test: closing the source"));
    refused = writer.WriteRefused();
    pushed = writer.Push("after the close");
  });

  EXPECT_TRUE(refused) << "WriteLocked started a write after CloseLocked";
  EXPECT_FALSE(pushed);
  EXPECT_TRUE(live_.WaitForCount(0, seconds(10)))
      << "a close during a stalled write left the call open";
  v1::PackageChunk chunk;
  while (stream->reader->Read(&chunk)) {
  }
  EXPECT_FALSE(stream->reader->Finish().ok());
}

TEST_F(StreamWriterTest, ShutdownWithManyOpenStreamsReturnsAndDeletesEveryReactor) {
  constexpr int kStreams = 64;
  std::vector<std::unique_ptr<ClientStream>> idle;
  std::vector<std::thread> readers;
  std::atomic<int> reading{0};
  for (int i = 0; i < kStreams / 2; ++i) idle.push_back(Open("push"));
  for (int i = 0; i < kStreams / 2; ++i) {
    readers.emplace_back([this, &reading] {
      auto stream = Open("flood");
      v1::PackageChunk chunk;
      if (stream->reader->Read(&chunk)) ++reading;
      while (stream->reader->Read(&chunk)) {
      }
      stream->reader->Finish();
    });
  }
  ASSERT_TRUE(live_.WaitForCount(kStreams, seconds(20)));
  const auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (reading < kStreams / 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling, with a deadline
  }
  ASSERT_EQ(reading, kStreams / 2);

  ShutdownOrExit();  // exits the binary if it hangs

  EXPECT_TRUE(live_.WaitForCount(0, seconds(10))) << live_.count() << " reactors not deleted";
  for (std::thread& reader : readers) reader.join();
  for (auto& stream : idle) {
    v1::PackageChunk chunk;
    while (stream->reader->Read(&chunk)) {
    }
    EXPECT_FALSE(stream->reader->Finish().ok());
  }
}

}  // namespace
}  // namespace smartby
