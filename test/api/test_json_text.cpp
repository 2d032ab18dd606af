// Flat JSON objects written without nlohmann (http/json_text.h): what they
// write parses back to the same values, strings of every kind included, and
// the put's answer equals the nlohmann view it replaced on the hot path.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <random>

#include "http/json_text.h"
#include "http/views.h"

using nlohmann::json;
using synod::http::JsonObjectText;

TEST_CASE("a JSON object written as text parses back to its fields", "[api][json_text]") {
  std::string text = "kept|";
  JsonObjectText(text)
      .field("name", "/app/db")
      .field("big", uint64_t{18'446'744'073'709'551'615ULL})
      .field("negative", int64_t{-42})
      .field("yes", true)
      .field("no", false)
      .end();
  REQUIRE(text.rfind("kept|", 0) == 0);
  REQUIRE(text.ends_with("}\n"));
  const json parsed = json::parse(text.substr(5));
  CHECK(parsed == json{{"name", "/app/db"},
                       {"big", 18'446'744'073'709'551'615ULL},
                       {"negative", -42},
                       {"yes", true},
                       {"no", false}});
  std::string empty;
  JsonObjectText(empty).end();
  CHECK(empty == "{}\n");
}

TEST_CASE("strings are escaped as JSON requires, whatever their bytes", "[api][json_text]") {
  std::mt19937_64 random(18);
  for (int round = 0; round < 2'000; ++round) {
    std::string value(static_cast<size_t>(random() % 24), '\0');
    for (auto& c : value) c = static_cast<char>(random() % 4 == 0 ? random() % 0x20 : random() % 256);
    if (round % 3 == 0) value += "\"\\/\xc3\xa9\xe2\x82\xac";  // quote, backslash, slash, é, €
    std::string text;
    JsonObjectText(text).field("v", value).end();
    const json parsed = json::parse(text);  // throws on invalid JSON
    // What nlohmann writes for the same string (replacing bytes that are
    // not UTF-8) is what comes back.
    const json expected = json::parse(json(value).dump(-1, ' ', false, json::error_handler_t::replace));
    CHECK(parsed["v"] == expected);
  }
}

TEST_CASE("the put's answer as text equals its JSON view", "[api][json_text]") {
  synod::lockservice::KeyStat stat;
  stat.create_index = 7 << 20;
  stat.modify_index = (9 << 20) | 3;
  stat.version = 4;
  stat.lock_generation = 11;
  CHECK(json::parse(synod::http::views::stat_text("/app/config", stat)) ==
        synod::http::views::stat_json("/app/config", stat));
  stat.owner = 1'048'577;  // an ephemeral key names its session
  const std::string text = synod::http::views::stat_text("/app/config", stat);
  CHECK(json::parse(text) == synod::http::views::stat_json("/app/config", stat));
  // Fields in name order, as nlohmann's sorted objects write them.
  CHECK(text == synod::http::views::stat_json("/app/config", stat).dump() + "\n");
}
