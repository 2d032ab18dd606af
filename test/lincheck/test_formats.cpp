// test_formats.cpp — the parsers (Jepsen log, EDN, JSON lines), their error handling, and the
// JSON-lines round trip.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include "tools/lincheck/formats.h"
#include "test/lincheck/test_support.h"

namespace synod::lincheck {
namespace {

using testing::Script;

// ---- Jepsen logs ---------------------------------------------------------------------------------

constexpr std::string_view jepsen_sample =
    "2017-01-01 00:00:00,000 INFO  jepsen.core - Running test\n"
    "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
    "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 4]\n"
    "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
    "\n"
    "INFO  jepsen.util - 0\t:ok\t:read\t3\n"
    "INFO  jepsen.util - 1   :info   :cas    :timed-out\n"
    "INFO  jepsen.util - 2\t:invoke\t:write\t4\n";

TEST_CASE("jepsen: events become operations; noise and the nemesis are skipped", "[lincheck][jepsen]") {
  ParseResult parsed = parse_jepsen(jepsen_sample);
  REQUIRE(parsed.ok());
  const std::vector<Operation>& ops = parsed.history.operations;
  REQUIRE(ops.size() == 3);
  CHECK(ops[0] == Operation{0, "read", "", Value(), Value(3), 2, 6, Status::ok});
  CHECK(ops[1] == Operation{1, "cas", "", Value::list({1, 4}), Value(), 3, 7, Status::info});
  CHECK(ops[2] == Operation{2, "write", "", Value(4), Value(), 8, time_open, Status::info});
}

TEST_CASE("jepsen: values our Value cannot hold are kept as their text", "[lincheck][jepsen]") {
  ParseResult parsed = parse_jepsen("INFO  jepsen.util - 0\t:invoke\t:write\t99999999999999999999999\n");
  REQUIRE(parsed.ok());
  CHECK(parsed.history.operations[0].input == Value("99999999999999999999999"));
}

TEST_CASE("jepsen: malformed events are errors with their line", "[lincheck][jepsen]") {
  auto error_of = [](std::string_view text) { return parse_jepsen(text).error; };
  CHECK_THAT(error_of("INFO  jepsen.util - 0\t:ok\t:read\t3\n"),
             Catch::StartsWith("line 1:") && Catch::Contains("never invoked"));
  CHECK_THAT(error_of("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n"),
             Catch::StartsWith("line 2:") && Catch::Contains("still open"));
  CHECK_THAT(error_of("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:write\t1\n"),
             Catch::Contains("completes write"));
  CHECK_THAT(error_of("INFO  jepsen.util - 0\t:begin\t:read\tnil\n"), Catch::Contains("unknown event type"));
  CHECK_THAT(error_of("INFO  jepsen.util - 0\tinvoke\t:read\tnil\n"), Catch::Contains("expected :invoke"));
  CHECK_THAT(error_of("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 4\n"), Catch::Contains("missing ']'"));
  CHECK_THAT(error_of("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 4] 5\n"), Catch::Contains("after the value"));
}

// ---- EDN -----------------------------------------------------------------------------------------

TEST_CASE("edn: one map per line", "[lincheck][edn]") {
  constexpr std::string_view text =
      "{:process 0, :type :invoke, :f :append, :key \"4\", :value \"x 0 1 y\"}\n"
      "{:process :nemesis, :type :info, :f :start, :value {:partition [1 2]}}\n"
      "{:process 0, :type :ok, :f :append, :key \"4\", :value \"x 0 1 y\", :time 12}\n"
      "  \n"
      "{:process 1 :type :invoke :f :get :key 7 :value nil}\n"
      "{:process 1 :type :ok :f :get :key 7 :value \"a \\\"quoted\\\" b\" :error [:x #{1 2} true 1.5]}\n";
  ParseResult parsed = parse_edn(text);
  REQUIRE(parsed.ok());
  const std::vector<Operation>& ops = parsed.history.operations;
  REQUIRE(ops.size() == 2);
  CHECK(ops[0] == Operation{0, "append", "4", Value("x 0 1 y"), Value("x 0 1 y"), 1, 3, Status::ok});
  CHECK(ops[1] == Operation{1, "get", "7", Value(), Value("a \"quoted\" b"), 5, 6, Status::ok});
}

TEST_CASE("edn: malformed lines are errors with their line", "[lincheck][edn]") {
  auto error_of = [](std::string_view text) { return parse_edn(text).error; };
  CHECK_THAT(error_of("[:process 0]\n"), Catch::StartsWith("line 1:") && Catch::Contains("expected an EDN map"));
  CHECK_THAT(error_of("{:process 0, :f :get}\n"), Catch::Contains("missing :type"));
  CHECK_THAT(error_of("{:type :invoke, :f :get}\n"), Catch::Contains("missing :process"));
  CHECK_THAT(error_of("{:process 0, :type :invoke}\n"), Catch::Contains("missing :f"));
  CHECK_THAT(error_of("{:process 0, :type :started, :f :get}\n"), Catch::Contains(":type must be"));
  CHECK_THAT(error_of("{:process 0, :type :invoke, :f :get, :value \"open\n"), Catch::Contains("unterminated string"));
  CHECK_THAT(error_of("{:process 0, :type :invoke, :f :get\n"), Catch::Contains("unterminated map"));
  CHECK_THAT(error_of("{\"process\" 0}\n"), Catch::Contains("not a keyword"));
  CHECK_THAT(error_of("{:process 0, :type :invoke, :f :get} extra\n"), Catch::Contains("after the map"));
  std::string deep = "{:process 0, :type :invoke, :f :get, :value " + std::string(100, '[') + std::string(100, ']') + "}";
  CHECK_THAT(error_of(deep), Catch::Contains("nested deeper"));
}

// ---- JSON lines ----------------------------------------------------------------------------------

TEST_CASE("jsonl: events with times, keys and values", "[lincheck][jsonl]") {
  constexpr std::string_view text =
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"a\",\"value\":[null,\"v\"],\"time\":100}\n"
      "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"a\",\"time\":90,\"node\":3}\n"
      "\n"
      "{\"process\":0,\"type\":\"ok\",\"f\":\"cas\",\"key\":\"a\",\"value\":[null,\"v\"],\"time\":150}\n"
      "{\"process\":1,\"type\":\"fail\",\"f\":\"read\",\"key\":\"a\",\"time\":160,\"error\":\"no quorum\"}\n";
  ParseResult parsed = parse_jsonl(text);
  REQUIRE(parsed.ok());
  const std::vector<Operation>& ops = parsed.history.operations;
  REQUIRE(ops.size() == 2);
  CHECK(ops[0] == Operation{0, "cas", "a", Value::list({nullptr, "v"}), Value::list({nullptr, "v"}), 100, 150, Status::ok});
  CHECK(ops[1] == Operation{1, "read", "a", Value(), Value(), 90, 160, Status::fail});
}

TEST_CASE("jsonl: without times, the line order is the real-time order", "[lincheck][jsonl]") {
  ParseResult parsed = parse_jsonl(
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n"
      "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n");
  REQUIRE(parsed.ok());
  CHECK(parsed.history.operations[0].invoke_time == 1);
  CHECK(parsed.history.operations[0].complete_time == 2);
}

TEST_CASE("jsonl: operations with equal times are concurrent", "[lincheck][jsonl]") {
  auto verdict_of = [](std::int64_t read_invoke_time) {
    std::string text =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k\",\"value\":1,\"time\":1}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":\"k\",\"value\":1,\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"time\":" +
        std::to_string(read_invoke_time) +
        "}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\",\"value\":null,\"time\":9}\n";
    ParseResult parsed = parse_jsonl(text);
    REQUIRE(parsed.ok());
    return check(parsed.history, ModelKind::keys).verdict;
  };
  CHECK(verdict_of(5) == Verdict::linearizable);
  CHECK(verdict_of(6) == Verdict::not_linearizable);
}

TEST_CASE("jsonl: malformed events are errors with their line", "[lincheck][jsonl]") {
  auto error_of = [](std::string_view text) { return parse_jsonl(text).error; };
  CHECK_THAT(error_of("{\"process\":0,"), Catch::StartsWith("line 1:") && Catch::Contains("not valid JSON"));
  CHECK_THAT(error_of("[0, \"invoke\"]"), Catch::Contains("expected a JSON object"));
  CHECK_THAT(error_of("{\"type\":\"invoke\",\"f\":\"read\"}"), Catch::Contains("missing \"process\""));
  CHECK_THAT(error_of("{\"process\":-1,\"type\":\"invoke\",\"f\":\"read\"}"), Catch::Contains("non-negative"));
  CHECK_THAT(error_of("{\"process\":\"a\",\"type\":\"invoke\",\"f\":\"read\"}"), Catch::Contains("non-negative"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"call\",\"f\":\"read\"}"), Catch::Contains("\"type\" must be"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\"}"), Catch::Contains("missing \"f\""));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\",\"f\":\"\"}"), Catch::Contains("\"f\" must have"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":3}"), Catch::Contains("\"key\" must"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1.5}"), Catch::Contains("\"value\" must"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":{\"a\":1}}"),
             Catch::Contains("\"value\" must"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":18446744073709551615}"),
             Catch::Contains("\"value\" must"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"time\":\"now\"}"),
             Catch::Contains("\"time\" must be a 64-bit integer"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"time\":1}\n"
                      "{\"process\":0,\"type\":\"ok\",\"f\":\"read\"}"),
             Catch::StartsWith("line 2:") && Catch::Contains("every event or on none"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"time\":5}\n"
                      "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"time\":4}"),
             Catch::Contains("before invoking"));
  CHECK_THAT(error_of("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"a\"}\n"
                      "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":\"b\"}"),
             Catch::Contains("completes read on \"b\""));
}

TEST_CASE("parsers: no input makes them crash", "[lincheck][formats]") {
  // Every prefix of every sample, and random bytes: each parse ends with a history or an error.
  std::string samples[] = {
      std::string(jepsen_sample),
      "{:process 0, :type :invoke, :f :cas, :key \"k\", :value [1 #{2 [3]} {:a \"b\\\"\"}]}\n",
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[[1,[2]],\"\\u00e9\"],\"time\":1}\n",
  };
  std::size_t parses = 0;
  for (const std::string& sample : samples) {
    for (std::size_t length = 0; length <= sample.size(); ++length) {
      std::string_view prefix(sample.data(), length);
      for (Format format : {Format::jepsen, Format::edn, Format::jsonl}) {
        ParseResult parsed = parse_history(prefix, format);
        CHECK((parsed.ok() || parsed.error.starts_with("line ")));
        ++parses;
      }
    }
  }
  std::mt19937 random(7);
  const std::string alphabet = "{}[]()\":, \t\n#\\abcnil0123456789-+.e";
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    for (int i = 0; i < 40; ++i) text += alphabet[random() % alphabet.size()];
    for (Format format : {Format::jepsen, Format::edn, Format::jsonl}) {
      for (const std::string& input : {"INFO  jepsen.util - 0 :invoke :write " + text, text}) {
        ParseResult parsed = parse_history(input, format);
        CHECK((parsed.ok() || parsed.error.starts_with("line ")));
        ++parses;
      }
    }
  }
  CHECK(parses > 12000);
}

TEST_CASE("formats: detected from the first lines", "[lincheck][formats]") {
  CHECK(detect_format(jepsen_sample) == Format::jepsen);
  CHECK(detect_format("\n{:process 0, :type :invoke}\n") == Format::edn);
  CHECK(detect_format("  {\"process\":0}\n") == Format::jsonl);
  CHECK_FALSE(detect_format("hello\nworld\n").has_value());
  CHECK_FALSE(detect_format("").has_value());
  CHECK(format_from_name("jsonl") == Format::jsonl);
  CHECK_FALSE(format_from_name("xml").has_value());
}

// ---- the JSON-lines round trip -------------------------------------------------------------------

TEST_CASE("jsonl: a hand-written history survives the round trip", "[lincheck][jsonl]") {
  Script s;
  s.invoke_on("k/é", 0, "cas", Value::list({nullptr, "line\nbreak \"q\""})).invoke_on("k/é", 1, "read");
  s.ok(0, Value::list({nullptr, "line\nbreak \"q\""})).ok(1, "line\nbreak \"q\"");
  s.invoke_on("j", 2, "write", -9223372036854775807 - 1).fail(2).invoke_on("j", 3, "write", 7).info(3);
  s.invoke_on("j", 4, "delete");
  History history = s.history();
  std::string text = write_jsonl(history);
  ParseResult parsed = parse_jsonl(text);
  REQUIRE(parsed.ok());
  CHECK(parsed.history.operations == history.operations);
  CHECK(write_jsonl(parsed.history) == text);
}

TEST_CASE("jsonl: every labelled history survives the round trip with its verdict", "[lincheck][jsonl]") {
  std::size_t files = 0;
  for (const char* set : {"jepsen-etcd", "kv-append"}) {
    for (const auto& entry : std::filesystem::directory_iterator(std::string(SYNOD_TEST_DATA_DIR) + "/" + set)) {
      if (entry.path().filename() == "labels.tsv") continue;
      INFO(entry.path().string());
      FileText file = read_file(entry.path().string());
      REQUIRE(file.error.empty());
      std::optional<Format> format = detect_format(file.text);
      REQUIRE(format.has_value());
      ParseResult parsed = parse_history(file.text, *format);
      REQUIRE(parsed.ok());
      ParseResult again = parse_jsonl(write_jsonl(parsed.history));
      REQUIRE(again.ok());
      REQUIRE(again.history.operations == parsed.history.operations);
      ModelKind model = *format == Format::jepsen ? ModelKind::cas_register : ModelKind::kv;
      CHECK(check(again.history, model).verdict == check(parsed.history, model).verdict);
      ++files;
    }
  }
  CHECK(files == 108);
}

}  // namespace
}  // namespace synod::lincheck
