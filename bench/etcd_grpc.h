// The gRPC plumbing bench/etcd_load.cpp drives etcd with: its clients run
// on completion queues (gRPC's asynchronous API), each queue served by one
// thread, so that everything one client does runs on one thread and needs
// no lock. Every event gRPC hands back names a Tag, which the serving thread
// runs. Unary calls (Call) and timers (Timer) are objects of their own that
// free themselves once their event has run; a LeaseKeepAlive stream
// (KeepAliveStream) frees itself once its owner let go of it and gRPC gave
// back every tag it held.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "etcd/rpc.grpc.pb.h"
#include "load_run.h"

namespace bench::etcd {

// What gRPC hands back on a completion queue: the address of one of these.
class Tag {
 public:
  virtual ~Tag() = default;
  virtual void on(bool ok) = 0;
};

// Runs a completion queue's events until it is shut down.
void serve(grpc::CompletionQueue& cq);

// A Tag that runs a function: an object's own events, fixed for its life.
class Event final : public Tag {
 public:
  explicit Event(std::function<void(bool ok)> run) : run_(std::move(run)) {}
  void on(bool ok) override { run_(ok); }

 private:
  std::function<void(bool)> run_;
};

// One unary call. `prepare(context, cq)` is the stub's PrepareAsync method
// with its request bound; `then` runs on the queue's thread with the status
// and the answer, which live until then.
template <class Response>
class Call final : public Tag {
 public:
  using Then = std::function<void(const grpc::Status&, Response&)>;

  template <class Prepare>
  static void start(grpc::CompletionQueue* cq, Clock::duration timeout, const Prepare& prepare, Then then) {
    auto* call = new Call(std::move(then));
    call->context_.set_deadline(std::chrono::system_clock::now() +
                                std::chrono::duration_cast<std::chrono::system_clock::duration>(timeout));
    call->reader_ = prepare(&call->context_, cq);
    call->reader_->StartCall();
    call->reader_->Finish(&call->response_, &call->status_, call);
  }

  void on(bool) override {
    then_(status_, response_);
    delete this;
  }

 private:
  explicit Call(Then then) : then_(std::move(then)) {}
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader_;
  Response response_;
  grpc::Status status_;
  Then then_;
};

// A one-shot timer: `then(true)` at `at`, or `then(false)` once cancelled.
// The pointer start returns is valid until `then` has run.
class Timer final : public Tag {
 public:
  static Timer* start(grpc::CompletionQueue* cq, Clock::time_point at, std::function<void(bool fired)> then);
  // Runs `then` on the queue's thread as soon as it can: posts work to it.
  static void post(grpc::CompletionQueue* cq, std::function<void()> then);
  void cancel() { alarm_.Cancel(); }
  void on(bool ok) override {
    then_(ok);
    delete this;
  }

 private:
  explicit Timer(std::function<void(bool)> then) : then_(std::move(then)) {}
  grpc::Alarm alarm_;
  std::function<void(bool)> then_;
};

// One LeaseKeepAlive stream, as etcd's own client keeps one for all its
// leases: a read always pending, one write at a time (a renewal sent while
// one is being written waits for it). Its owner hears every answer, then
// the stream's end; after abandon() it hears nothing more.
class KeepAliveStream {
 public:
  using OnAnswer = std::function<void(const etcdserverpb::LeaseKeepAliveResponse&)>;
  using OnEnd = std::function<void(const grpc::Status&)>;
  KeepAliveStream(etcdserverpb::Lease::Stub& stub, grpc::CompletionQueue* cq, OnAnswer on_answer, OnEnd on_end);
  KeepAliveStream(const KeepAliveStream&) = delete;
  KeepAliveStream& operator=(const KeepAliveStream&) = delete;

  // Asks for lease `id` to be renewed.
  void send(int64_t id);
  // The owner lets go (the stream ended, or an answer is late): the call is
  // cancelled, and the stream frees itself once gRPC gave its tags back.
  void abandon();

 private:
  ~KeepAliveStream() = default;
  void started(bool ok);
  void read(bool ok);
  void written(bool ok);
  void finished();
  void write(int64_t id);
  void finish();
  void release();  // gRPC gave a tag back

  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientAsyncReaderWriter<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>>
      stream_;
  Event on_start_, on_read_, on_write_, on_finish_;
  etcdserverpb::LeaseKeepAliveRequest request_;
  etcdserverpb::LeaseKeepAliveResponse response_;
  grpc::Status status_;
  OnAnswer on_answer_;
  OnEnd on_end_;
  int held_ = 0;  // tags gRPC holds
  bool started_ = false, writing_ = false, finishing_ = false, abandoned_ = false;
  int64_t queued_ = 0;  // a lease to renew once the write in progress is done
};

}  // namespace bench::etcd
