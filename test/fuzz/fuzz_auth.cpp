// libFuzzer target: the parsers of auth (issue 19).
//
// Input: one byte choosing the parser, then its bytes:
//   0  an Authorization header value            http::bearer_token
//   1  a JSON body of POST /v1/auth/rules        decode_request, then Auth::add_rule and allows
//   2  a JSON body of POST /v1/auth/tokens       decode_request
//   3  an auth snapshot section                  lockservice Auth::read
// Properties (a violation aborts, which libFuzzer reports as a crash):
//   - nothing throws or crashes (ASan, UBSan);
//   - an accepted token is within its bounds and alphabet, and found inside
//     the header;
//   - a decoded rule or token command survives the log's encoding, and a
//     rule the decoder accepts the state machine accepts too;
//   - a section Auth::read accepts writes bytes that read back to a state
//     that writes the same bytes again (what a replica restores, it snapshots
//     alike).
//
// Built by run_fuzzer.sh with clang++-14 -fsanitize=fuzzer,address,undefined.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/codec.h"
#include "http/credentials.h"
#include "http/request.h"
#include "lockservice/auth.h"
#include "lockservice/command.h"

namespace {

using namespace synod;

void require(bool condition) {
  if (!condition) std::abort();
}

void header(std::string_view input) {
  std::string why;
  const std::string_view token = http::bearer_token(input, why);
  if (token.empty()) {
    require(!why.empty());
    return;
  }
  require(token.size() >= http::kTokenBytesMin && token.size() <= http::kTokenBytesMax);
  require(token.data() >= input.data() && token.data() + token.size() <= input.data() + input.size());
  for (char c : token) require(c > ' ' && c < 0x7f);
}

void decoded_command(std::string_view path, std::string_view body) {
  const http::RawRequest raw{"POST", path, "", body, "", "", ""};
  const http::Decoded decoded = http::decode_request(raw);
  if (!decoded.request) {
    require(decoded.error.status >= 400 && decoded.error.status < 500 && !decoded.error.code.empty());
    return;
  }
  require(decoded.request->command.has_value());
  const auto& command = *decoded.request->command;
  const auto again = lockservice::decode(lockservice::encode(command, 1));
  require(again.ok && again.command == command);
  if (const auto* rule = std::get_if<lockservice::PutRule>(&command)) {
    lockservice::detail::Auth auth;
    std::string why;
    require(auth.add_rule(lockservice::Rule{1, rule->subject, rule->space, rule->prefix, rule->permission}, why) ==
            lockservice::Status::ok);
    auth.set_enabled(true);
    const lockservice::Principal principal{rule->subject.substr(5), {rule->subject.substr(5)}, false, 0};
    (void)auth.allows(principal, rule->space, rule->prefix, rule->permission);
    // A rule covers its own prefix.
    require(lockservice::prefix_covers(rule->prefix, rule->prefix));
  }
}

void section(std::string_view input) {
  Reader r(input);
  lockservice::detail::Auth auth;
  if (!auth.read(r) || !r.done()) return;
  std::string written;
  Writer w(written);
  auth.write(w);
  Reader again(written);
  lockservice::detail::Auth restored;
  require(restored.read(again) && again.done());
  std::string rewritten;
  Writer w2(rewritten);
  restored.write(w2);
  require(rewritten == written);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      header(rest);
      break;
    case 1:
      decoded_command("/v1/auth/rules", rest);
      break;
    case 2:
      decoded_command("/v1/auth/tokens", rest);
      break;
    default:
      section(rest);
      break;
  }
  return 0;
}
