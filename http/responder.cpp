// The plain parts of the server's interface (server.h): a request's headers,
// a response's headers, and the Responder that answers a request exactly
// once. No Beast here: server.cpp stays the one Beast translation unit.
//
// Any thread.
#include "http/server.h"
#include "base/assert.h"

namespace synod::http {

std::string_view Request::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

void Response::set_header(std::string_view name, std::string value) {
  for (auto& h : headers) {
    if (h.name == name) {
      h.value = std::move(value);
      return;
    }
  }
  headers.push_back(Header{std::string(name), std::move(value)});
}

// A second answer is a bug, not a race: the node calls each callback once
// (node_api.h), a forward's done runs once, and every path of the API ends
// in one answer. Ignoring it would hide the path that answered wrongly.
void Responder::operator()(Response response) const {
  const bool answered = send_->used.exchange(true);
  SYNOD_ASSERT_MSG(!answered, "a request answered twice");
  if (exchange_) return exchange_->send(std::move(response));
  if (send_->send) send_->send(std::move(response));
}

std::shared_ptr<Stream> Responder::stream(Response head) const {
  SYNOD_ASSERT_MSG(!send_->used.load(), "a stream opened on a request already answered");
  SYNOD_ASSERT(head.status == 200);  // a stream's head says it streams: its status is fixed
  if (!exchange_) return nullptr;
  auto stream = exchange_->stream(std::move(head));
  // Not answered yet when there is no stream (too many): the caller answers.
  if (stream) {
    const bool answered = send_->used.exchange(true);
    SYNOD_ASSERT_MSG(!answered, "a request answered while its stream opened");
  }
  return stream;
}

void Responder::forward(Outbound outbound, std::function<void(ForwardResult)> done) const {
  if (!exchange_) {
    ForwardResult result;
    result.kind = ForwardResult::Kind::unreachable;
    result.detail = "this responder cannot forward";
    return done(std::move(result));
  }
  exchange_->forward(std::move(outbound), std::move(done));
}

}  // namespace synod::http
