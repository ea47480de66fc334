// smartby-echo: the benchmark baseline — the same runtime (interceptors, worker pool, call
// runner) serving a handler that does nothing but copy its request.
#include "echo.grpc.pb.h"
#include "services/runtime/call.h"
#include "services/runtime/server.h"

namespace {

const smartby::ServicePolicy& EchoPolicy() {
  static const auto* policy =
      new smartby::ServicePolicy{"smartby.bench.v1.EchoService", {{"Echo", {.access = smartby::Access::kPublic}}}};
  return *policy;
}

class EchoService final : public smartby::bench::v1::EchoService::CallbackService {
 public:
  explicit EchoService(smartby::CallRunner calls) : calls_(std::move(calls)) {}
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* ctx,
                                 const smartby::bench::v1::EchoRequest* request,
                                 smartby::bench::v1::EchoResponse* response) override {
    return calls_.Unary(ctx, "Echo", [=](smartby::CallContext&) {
      response->set_message(request->message());
      return absl::OkStatus();
    });
  }

 private:
  smartby::CallRunner calls_;
};

}  // namespace

int main(int argc, char** argv) {
  smartby::ServerRuntime runtime({.name = "echo", .grpc_port = 7099, .metrics_port = 9199}, argc,
                                 argv);
  EchoService service(runtime.NewCallRunner(&EchoPolicy()));
  runtime.AddService(&service, &EchoPolicy());
  return runtime.Run();
}
