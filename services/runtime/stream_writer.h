// The one server-streaming reactor every service builds on: it opens the call through the
// runtime's CallRunner (guards, access rule), keeps one write in flight, and finishes the stream
// exactly once, through CloseStream (audit, fail-closed access check), however it ends.
//
// A subclass only produces messages. Two ways fit, and a service may mix them:
//   push  another thread (a hub, a watcher) has a message: it takes mu_ and calls WriteLocked;
//         if a write is in flight the message waits in the subclass (a queue, a latest-value
//         slot) until OnWriteDoneLocked asks for the next one.
//   pull  OnWriteDoneLocked Submits a read on the worker pool; the task takes mu_ and calls
//         WriteLocked with what it read (or CloseLocked with why it could not).
//
// Ending. CloseLocked(outcome) may be called at any time, from any thread (holding mu_), any
// number of times; the first outcome wins and no write starts after it. With no write in flight
// the stream finishes at once. With a write in flight it cannot (gRPC allows Finish only with no
// write outstanding), so the call is cancelled and the stream finishes when that write
// completes. That write may still complete *ok* (it had reached the transport before the
// cancel), and OnCancel is delivered only once; so the finish must not depend on ok=false or on
// a second OnCancel: OnWriteDone finishes whenever a close is pending (commit 93177a4, the
// feed's SIGTERM hang, where a client cancel during a write that completed ok left the call open
// and server shutdown waited on it forever). A client cancel (OnCancel) and a failed write are
// closes like any other.
//
// Threads. OnWriteDone and OnCancel come on gRPC's threads and take mu_; every *Locked method
// and hook runs with mu_ held, which also guards the subclass's own state. Hooks must not wait
// on a database or a disk: Submit that work. A subclass may call CloseLocked in its constructor
// (e.g. when admitted() is not OK); it must not call WriteLocked there before its own members
// are set.
//
// Ownership: the reactor deletes itself (pooled_reactor.h): after OnDone and its last pool task,
// BeforeDelete() runs without mu_ and then the reactor is deleted.
#ifndef SMARTBY_RUNTIME_STREAM_WRITER_H_
#define SMARTBY_RUNTIME_STREAM_WRITER_H_

#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "services/runtime/call.h"
#include "services/runtime/pooled_reactor.h"
#include "services/runtime/status.h"

namespace smartby {

template <class Message>
class ServerStreamWriter : public PooledReactor<grpc::ServerWriteReactor<Message>> {
 public:
  void OnWriteDone(bool ok) final {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (close_outcome_.has_value()) {  // ok or not: see "Ending" above
      FinishLocked();
      return;
    }
    if (!ok) {
      CloseLocked(absl::CancelledError("the client went away during a write"));
      return;
    }
    OnWriteDoneLocked();
  }

  void OnCancel() final {
    std::lock_guard<std::mutex> lock(mu_);
    CloseLocked(absl::CancelledError("the client cancelled the stream"));
  }

 protected:
  // Opens the call as `method` (the short RPC name in `calls`' policy table); admitted() says
  // whether the subclass may go on. `calls` (and its pool, which Submit uses) must outlive the
  // reactor.
  ServerStreamWriter(CallRunner* calls, grpc::CallbackServerContext* context, const char* method)
      : PooledReactor<grpc::ServerWriteReactor<Message>>(&calls->pool()), calls_(calls) {
    call_ = calls_->OpenStream(context, method, &admitted_);
  }

  // The guards' and the access rule's verdict when the stream opened; when not OK the subclass
  // closes with it.
  const absl::Status& admitted() const { return admitted_; }
  // The caller, request id and audit details of this call (the caller is thread-safe to read).
  CallContext& call() { return *call_; }

  // A write completed ok and the stream is not closing: start the next write, arrange for one
  // (a pool task, a later push), close, or do nothing until a producer has something.
  virtual void OnWriteDoneLocked() = 0;

  // Starts writing `message`, which must stay unchanged until OnWriteDoneLocked (or until the
  // reactor is deleted). False, and nothing written, when a write is in flight or the stream is
  // closing: a push producer keeps the message for OnWriteDoneLocked.
  bool WriteLocked(const Message* message) {
    if (writing_ || close_outcome_.has_value()) return false;
    writing_ = true;
    this->StartWrite(message);
    return true;
  }

  // Ends the stream with `outcome` (see "Ending" above). Idempotent: the first outcome wins.
  void CloseLocked(absl::Status outcome) {
    if (close_outcome_.has_value()) return;
    close_outcome_ = std::move(outcome);
    if (writing_) {
      call_->server_context->TryCancel();  // a client that stopped reading must not hold us
      return;
    }
    FinishLocked();
  }

  // Both with mu_ held. closing(): CloseLocked was called, so no write starts any more (the
  // stream may still be finishing the write that was in flight).
  bool writing() const { return writing_; }
  bool closing() const { return close_outcome_.has_value(); }

  // Guards this class's state and the subclass's. It is held across StartWrite, TryCancel and
  // Finish (gRPC does not call the reactor back from inside them) and CloseStream's guards.
  std::mutex mu_;

 private:
  void FinishLocked() {
    // A kResource/kFiltered handler marks its checks as it reads; an OK close without one is
    // answered INTERNAL by CloseStream (fail closed).
    this->Finish(ToGrpcStatus(calls_->CloseStream(*call_, *std::move(close_outcome_))));
  }

  CallRunner* const calls_;
  std::shared_ptr<CallContext> call_;
  absl::Status admitted_;
  bool writing_ = false;
  // Set by the first CloseLocked; the stream finishes with it when no write is in flight.
  std::optional<absl::Status> close_outcome_;
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_STREAM_WRITER_H_
