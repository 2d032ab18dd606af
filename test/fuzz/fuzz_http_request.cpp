// libFuzzer target: the client API's pure request decoding (http/request.h),
// the step between an HTTP request and a lock-service command.
//
// Input: "METHOD TARGET\n", then header lines "Name: value\n" (only
// Idempotency-Key, X-Synod-Forwarded and Last-Event-ID mean anything), an
// empty line, and the body.
// Properties (a violation aborts, which libFuzzer reports as a crash):
//   - decode_request never throws and never crashes (ASan, UBSan);
//   - a refusal is a 4xx with a code, and 405s name the allowed methods;
//   - a decoded request's keys and names pass the lock service's rules, and
//     its command encodes into a log payload that decodes to the same
//     command (so what the API accepts, the log can carry);
//   - a decoded request decodes again to the same request (no hidden state).
//
// Built by run_fuzzer.sh with clang++-14 -fsanitize=fuzzer,address,undefined
// from the pure sources only (no Beast, no node).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/request.h"
#include "lockservice/command.h"

namespace {

using namespace synod;

void require(bool condition) {
  if (!condition) std::abort();
}

struct Split {
  std::string method, path, query, body, idempotency_key, forwarded, last_event_id;
};

Split split(std::string_view input) {
  Split s;
  const auto line_end = input.find('\n');
  const std::string_view first = input.substr(0, line_end);
  input = line_end == std::string_view::npos ? std::string_view{} : input.substr(line_end + 1);
  const auto space = first.find(' ');
  s.method = std::string(first.substr(0, space));
  const std::string_view target = space == std::string_view::npos ? std::string_view{} : first.substr(space + 1);
  const auto question = target.find('?');
  s.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) s.query = std::string(target.substr(question + 1));
  while (!input.empty()) {
    const auto end = input.find('\n');
    const std::string_view line = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view{} : input.substr(end + 1);
    if (line.empty()) break;
    const auto colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon), value = line.substr(colon + 2);
    if (name == "Idempotency-Key") s.idempotency_key = std::string(value);
    else if (name == "X-Synod-Forwarded") s.forwarded = std::string(value);
    else if (name == "Last-Event-ID") s.last_event_id = std::string(value);
  }
  s.body = std::string(input);
  return s;
}

http::RawRequest raw_of(const Split& s) {
  return http::RawRequest{s.method, s.path, s.query, s.body, s.idempotency_key, s.forwarded, s.last_event_id};
}

bool same(const http::ApiRequest& a, const http::ApiRequest& b) {
  return a.op == b.op && a.command == b.command && a.name == b.name && a.session == b.session && a.token == b.token &&
         a.stale == b.stale && a.raw == b.raw && a.recurse == b.recurse && a.index == b.index &&
         a.wait_ms == b.wait_ms && a.after == b.after && a.after_session == b.after_session && a.limit == b.limit &&
         a.watch_space == b.watch_space && a.children == b.children && a.idempotency_key == b.idempotency_key &&
         a.forwarded == b.forwarded;
}

void check_command(const lockservice::Command& command) {
  const std::string payload = lockservice::encode(command, 12345);
  const lockservice::Decoded decoded = lockservice::decode(payload);
  require(decoded.ok);
  require(decoded.command == command);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const Split parts = split(input);
  const http::DecodeLimits limits;
  const http::Decoded decoded = http::decode_request(raw_of(parts), limits);
  if (!decoded.request) {
    require(decoded.error.status >= 400 && decoded.error.status < 500);
    require(!decoded.error.code.empty());
    require((decoded.error.status == 405) == !decoded.error.allow.empty());
    return 0;
  }
  const http::ApiRequest& request = *decoded.request;
  if (request.command) check_command(*request.command);
  const bool is_key = request.op == http::Op::kv_put || request.op == http::Op::kv_get || request.op == http::Op::kv_delete;
  if (is_key && !request.name.empty()) require(http::key_problem(request.name, limits.key_bytes_max).empty());
  const bool is_named = request.op >= http::Op::lock_acquire && request.op <= http::Op::election_observe;
  if (is_named) require(http::name_problem(request.name, limits.name_bytes_max).empty());
  const http::Decoded again = http::decode_request(raw_of(parts), limits);
  require(again.request && same(request, *again.request));
  return 0;
}
