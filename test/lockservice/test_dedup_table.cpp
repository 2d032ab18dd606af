// DedupTable (lockservice/dedup_table.h): the open-addressing index of the
// exactly-once table, checked against std::unordered_map under seeded random
// inserts and erases, including keys that share a home slot.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <unordered_map>

#include "lockservice/dedup_table.h"

using synod::lockservice::detail::DedupKey;
using synod::lockservice::detail::DedupTable;

namespace {

struct KeyHash {
  size_t operator()(const DedupKey& k) const { return std::hash<uint64_t>{}(k.client_id * 31 + k.seq); }
};

}  // namespace

TEST_CASE("dedup table: agrees with a std::unordered_map under random inserts and erases", "[lockservice][dedup]") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    std::mt19937_64 random(seed);
    DedupTable<std::string> table;
    std::unordered_map<DedupKey, std::string, KeyHash> model;
    // Few clients and seqs: many repeats, erases of absent keys, and long probe runs.
    std::uniform_int_distribution<uint64_t> client(1, 8), seq(1, 3'000), op(0, 9);
    for (int step = 0; step < 60'000; ++step) {
      const DedupKey key{client(random), seq(random)};
      const std::string value = std::to_string(step);
      if (op(random) < 6) {
        const bool inserted = model.emplace(key, value).second;
        REQUIRE(table.emplace(key, value) == inserted);
      } else {
        REQUIRE(table.erase(key) == model.erase(key));
      }
      REQUIRE(table.size() == model.size());
      if (step % 1'000 == 0) {
        for (const auto& [k, v] : model) {
          const std::string* found = table.find(k);
          REQUIRE(found != nullptr);
          REQUIRE(*found == v);
        }
      }
    }
    for (uint64_t c = 1; c <= 8; ++c) {
      for (uint64_t s = 1; s <= 3'000; ++s) {
        const auto it = model.find(DedupKey{c, s});
        const std::string* found = table.find(DedupKey{c, s});
        REQUIRE((found == nullptr) == (it == model.end()));
        if (found) REQUIRE(*found == it->second);
      }
    }
  }
}

TEST_CASE("dedup table: an emptied table takes records again", "[lockservice][dedup]") {
  DedupTable<int> table;
  for (uint64_t i = 1; i <= 1'000; ++i) REQUIRE(table.emplace(DedupKey{i, i}, static_cast<int>(i)));
  for (uint64_t i = 1; i <= 1'000; ++i) REQUIRE(table.erase(DedupKey{i, i}) == 1);
  CHECK(table.size() == 0);
  CHECK(table.find(DedupKey{5, 5}) == nullptr);
  REQUIRE(table.emplace(DedupKey{5, 5}, 55));
  CHECK(table.at(DedupKey{5, 5}) == 55);
  CHECK_FALSE(table.emplace(DedupKey{5, 5}, 56));
  CHECK(table.at(DedupKey{5, 5}) == 55);
}
