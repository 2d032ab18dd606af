#include "etcd_grpc.h"

namespace bench::etcd {

void serve(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) static_cast<Tag*>(tag)->on(ok);
}

Timer* Timer::start(grpc::CompletionQueue* cq, Clock::time_point at, std::function<void(bool fired)> then) {
  auto* timer = new Timer(std::move(then));
  // grpc::Alarm takes the system clock; the distance is what matters.
  const auto wait = std::max(at - Clock::now(), Clock::duration::zero());
  timer->alarm_.Set(cq,
                    std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(wait),
                    static_cast<Tag*>(timer));
  return timer;
}

void Timer::post(grpc::CompletionQueue* cq, std::function<void()> then) {
  start(cq, Clock::now(), [then = std::move(then)](bool) { then(); });
}

KeepAliveStream::KeepAliveStream(etcdserverpb::Lease::Stub& stub, grpc::CompletionQueue* cq, OnAnswer on_answer,
                                 OnEnd on_end)
    : on_start_([this](bool ok) { started(ok); }),
      on_read_([this](bool ok) { read(ok); }),
      on_write_([this](bool ok) { written(ok); }),
      on_finish_([this](bool) { finished(); }),
      on_answer_(std::move(on_answer)),
      on_end_(std::move(on_end)) {
  stream_ = stub.PrepareAsyncLeaseKeepAlive(&context_, cq);
  ++held_;
  stream_->StartCall(static_cast<Tag*>(&on_start_));
}

void KeepAliveStream::send(int64_t id) {
  if (finishing_) return;  // its end is on its way to the owner
  if (!started_ || writing_) {
    queued_ = id;
    return;
  }
  write(id);
}

void KeepAliveStream::write(int64_t id) {
  request_.set_id(id);
  writing_ = true;
  ++held_;
  stream_->Write(request_, static_cast<Tag*>(&on_write_));
}

void KeepAliveStream::abandon() {
  abandoned_ = true;     // (its callbacks stay: the owner may be running one of them)
  context_.TryCancel();  // the pending read fails, which finishes the call
  if (held_ == 0) delete this;
}

void KeepAliveStream::started(bool ok) {
  started_ = true;
  if (!ok) {
    finish();
  } else {
    ++held_;
    stream_->Read(&response_, static_cast<Tag*>(&on_read_));
    if (queued_ != 0) write(std::exchange(queued_, 0));
  }
  release();
}

void KeepAliveStream::read(bool ok) {
  if (!ok) {
    finish();  // the server ended the stream, or it broke, or was cancelled
  } else {
    if (!abandoned_) on_answer_(response_);
    if (!finishing_) {
      ++held_;
      stream_->Read(&response_, static_cast<Tag*>(&on_read_));
    }
  }
  release();
}

void KeepAliveStream::written(bool ok) {
  writing_ = false;
  if (!ok) {
    context_.TryCancel();  // a broken stream: make the read fail too
  } else if (queued_ != 0 && !finishing_) {
    write(std::exchange(queued_, 0));
  }
  release();
}

// Finish is called once no read is pending, as gRPC asks.
void KeepAliveStream::finish() {
  if (finishing_) return;
  finishing_ = true;
  ++held_;
  stream_->Finish(&status_, static_cast<Tag*>(&on_finish_));
}

void KeepAliveStream::finished() {
  if (!abandoned_) on_end_(status_);
  release();
}

void KeepAliveStream::release() {
  if (--held_ == 0 && abandoned_) delete this;
}

}  // namespace bench::etcd
