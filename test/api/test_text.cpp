// The text codecs (http/text/text.h), the leaf library synodctl links alone.
// The older cases (durations, UTF-8, base64) are in test_decode.cpp.
#include <catch2/catch.hpp>

#include <random>

#include "http/text/text.h"

namespace synod::http {
namespace {

TEST_CASE("a formatted duration parses back to itself", "[api][text]") {
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{500}, int64_t{15'000}, int64_t{86'400'000}, kDurationMsMax - 1}) {
    CHECK(parse_duration_ms(format_duration_ms(ms)) == ms);
  }
  CHECK(format_duration_ms(1'500) == "1500ms");
  CHECK(parse_duration_ms("1000000000s") == kDurationMsMax);
  CHECK(!parse_duration_ms("1000000001s"));
}

TEST_CASE("percent-encoding keeps the unreserved characters and round-trips every byte", "[api][text]") {
  CHECK(percent_encode("a-b.c_d~e:f@g,h") == "a-b.c_d~e:f@g,h");
  CHECK(percent_encode("a/b c") == "a%2Fb%20c");
  CHECK(percent_encode(std::string("\x00\xff", 2)) == "%00%FF");
  std::mt19937 random(7);
  for (int i = 0; i < 200; ++i) {
    std::string bytes(static_cast<size_t>(random() % 16), '\0');
    for (auto& b : bytes) b = static_cast<char>(random() % 256);
    CHECK(percent_decode(percent_encode(bytes)) == bytes);
  }
  CHECK(!percent_decode("%G0"));
  CHECK(!percent_decode("%a"));
  CHECK(percent_decode("a+b") == "a+b");  // '+' is not a space in a path
}

}  // namespace
}  // namespace synod::http
