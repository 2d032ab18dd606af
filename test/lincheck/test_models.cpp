// test_models.cpp — hand-written histories for each model, the search's limits, and a comparison
// of the search with a brute-force oracle on random small histories.
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <random>

#include "tools/lincheck/formats.h"
#include "test/lincheck/test_support.h"

namespace synod::lincheck {
namespace {

using testing::Script;
using testing::verdict;

constexpr Verdict linearizable = Verdict::linearizable;
constexpr Verdict not_linearizable = Verdict::not_linearizable;

// ---- register ------------------------------------------------------------------------------------

TEST_CASE("register: a read returns the latest completed write", "[lincheck][register]") {
  Script s;
  s.invoke(0, "write", 1).ok(0).invoke(1, "read").ok(1, 1);
  CHECK(verdict(s, ModelKind::cas_register) == linearizable);

  Script stale;
  stale.invoke(0, "write", 1).ok(0).invoke(1, "read").ok(1, nullptr);
  CHECK(verdict(stale, ModelKind::cas_register) == not_linearizable);
}

TEST_CASE("register: it starts empty, and no read invents a value", "[lincheck][register]") {
  Script empty;
  empty.invoke(0, "read").ok(0, nullptr);
  CHECK(verdict(empty, ModelKind::cas_register) == linearizable);

  Script invented;
  invented.invoke(0, "read").ok(0, 7);
  CHECK(verdict(invented, ModelKind::cas_register) == not_linearizable);
}

TEST_CASE("register: a read concurrent with a write may see either value", "[lincheck][register]") {
  for (Value seen : {Value(nullptr), Value(1)}) {
    Script s;
    s.invoke(0, "write", 1).invoke(1, "read").ok(1, seen).ok(0);
    CHECK(verdict(s, ModelKind::cas_register) == linearizable);
  }
}

TEST_CASE("register: once a read sees a write, later reads cannot see the older value",
          "[lincheck][register]") {
  // Two reads during one write: the first sees the new value and completes before the second starts.
  Script s;
  s.invoke(0, "write", 1).invoke(1, "read").ok(1, 1).invoke(2, "read").ok(2, nullptr).ok(0);
  CHECK(verdict(s, ModelKind::cas_register) == not_linearizable);

  Script reversed;
  reversed.invoke(0, "write", 1).invoke(1, "read").ok(1, nullptr).invoke(2, "read").ok(2, 1).ok(0);
  CHECK(verdict(reversed, ModelKind::cas_register) == linearizable);
}

TEST_CASE("register: cas takes effect only when it compares equal", "[lincheck][register]") {
  Script s;
  s.invoke(0, "write", 1).ok(0).invoke(0, "cas", Value::list({1, 2})).ok(0).invoke(1, "read").ok(1, 2);
  CHECK(verdict(s, ModelKind::cas_register) == linearizable);

  Script wrong;
  wrong.invoke(0, "write", 1).ok(0).invoke(0, "cas", Value::list({3, 2})).ok(0);
  CHECK(verdict(wrong, ModelKind::cas_register) == not_linearizable);
}

TEST_CASE("register: a failed operation did not take effect", "[lincheck][register]") {
  Script dropped;
  dropped.invoke(0, "write", 1).ok(0).invoke(0, "cas", Value::list({1, 2})).fail(0).invoke(1, "read").ok(1, 1);
  CHECK(verdict(dropped, ModelKind::cas_register) == linearizable);

  Script seen;
  seen.invoke(0, "write", 1).ok(0).invoke(0, "cas", Value::list({1, 2})).fail(0).invoke(1, "read").ok(1, 2);
  CHECK(verdict(seen, ModelKind::cas_register) == not_linearizable);

  Script failed_write;
  failed_write.invoke(0, "write", 5).fail(0).invoke(1, "read").ok(1, 5);
  CHECK(verdict(failed_write, ModelKind::cas_register) == not_linearizable);
}

TEST_CASE("register: an info write may take effect at any time after its invocation", "[lincheck][register]") {
  SECTION("even long after its info completion") {
    Script s;
    s.invoke(0, "write", 1).ok(0).invoke(1, "write", 2).info(1);
    s.invoke(2, "read").ok(2, 1).invoke(2, "read").ok(2, 2);
    CHECK(verdict(s, ModelKind::cas_register) == linearizable);
  }
  SECTION("or never") {
    Script s;
    s.invoke(0, "write", 1).ok(0).invoke(1, "write", 2).info(1).invoke(2, "read").ok(2, 1);
    CHECK(verdict(s, ModelKind::cas_register) == linearizable);
  }
  SECTION("but not before it was invoked") {
    Script s;
    s.invoke(2, "read").ok(2, 2).invoke(1, "write", 2).info(1);
    CHECK(verdict(s, ModelKind::cas_register) == not_linearizable);
  }
  SECTION("and only once: it cannot be undone") {
    Script s;
    s.invoke(0, "write", 1).ok(0).invoke(1, "write", 2).info(1);
    s.invoke(2, "read").ok(2, 2).invoke(2, "read").ok(2, 1);
    CHECK(verdict(s, ModelKind::cas_register) == not_linearizable);
  }
}

TEST_CASE("register: an operation still open at the end has an unknown outcome", "[lincheck][register]") {
  Script took_effect;
  took_effect.invoke(1, "write", 2).invoke(2, "read").ok(2, 2);
  CHECK(verdict(took_effect, ModelKind::cas_register) == linearizable);

  Script never;
  never.invoke(1, "write", 2).invoke(2, "read").ok(2, nullptr);
  CHECK(verdict(never, ModelKind::cas_register) == linearizable);

  Script impossible;
  impossible.invoke(1, "write", 2).invoke(2, "read").ok(2, 3);
  CHECK(verdict(impossible, ModelKind::cas_register) == not_linearizable);
}

TEST_CASE("register: an info cas either swapped or did nothing", "[lincheck][register]") {
  Script swapped;
  swapped.invoke(0, "write", 1).ok(0).invoke(1, "cas", Value::list({1, 2})).info(1).invoke(2, "read").ok(2, 2);
  CHECK(verdict(swapped, ModelKind::cas_register) == linearizable);

  Script compare_fails;
  compare_fails.invoke(0, "write", 1).ok(0).invoke(1, "cas", Value::list({3, 2})).info(1).invoke(2, "read").ok(2, 2);
  CHECK(verdict(compare_fails, ModelKind::cas_register) == not_linearizable);
}

TEST_CASE("register: an info read constrains nothing", "[lincheck][register]") {
  Script s;
  s.invoke(0, "write", 1).ok(0).invoke(1, "read").info(1);
  CHECK(verdict(s, ModelKind::cas_register) == linearizable);
}

TEST_CASE("register: the model is one object and rejects foreign functions", "[lincheck][register]") {
  Script two_keys;
  two_keys.invoke_on("a", 0, "write", 1).ok(0).invoke_on("b", 0, "write", 1).ok(0);
  CHECK_FALSE(check(two_keys.history(), ModelKind::cas_register).error.empty());

  Script append;
  append.invoke(0, "append", "x").ok(0);
  CheckResult result = check(append.history(), ModelKind::cas_register);
  CHECK(result.verdict == Verdict::unknown);
  CHECK_THAT(result.error, Catch::Contains("append"));

  Script bad_cas;
  bad_cas.invoke(0, "cas", 1).ok(0);
  CHECK_THAT(check(bad_cas.history(), ModelKind::cas_register).error, Catch::Contains("cas needs [from to]"));
}

// ---- keys: one register per key ------------------------------------------------------------------

TEST_CASE("keys: keys are independent registers", "[lincheck][keys]") {
  Script s;
  s.invoke_on("a", 0, "write", "x").ok(0).invoke_on("b", 1, "read").ok(1, nullptr);
  s.invoke_on("a", 1, "read").ok(1, "x").invoke_on("b", 0, "write", "y").ok(0).invoke_on("b", 1, "read").ok(1, "y");
  CHECK(verdict(s, ModelKind::keys) == linearizable);

  Script crossed;
  crossed.invoke_on("a", 0, "write", "x").ok(0).invoke_on("b", 1, "read").ok(1, "x");
  CHECK(verdict(crossed, ModelKind::keys) == not_linearizable);
}

TEST_CASE("keys: delete empties a key, and cas from nil creates it", "[lincheck][keys]") {
  Script s;
  s.invoke_on("k", 0, "cas", Value::list({nullptr, "v1"})).ok(0);
  s.invoke_on("k", 0, "delete").ok(0).invoke_on("k", 1, "read").ok(1, nullptr);
  s.invoke_on("k", 1, "cas", Value::list({nullptr, "v2"})).ok(1).invoke_on("k", 0, "read").ok(0, "v2");
  CHECK(verdict(s, ModelKind::keys) == linearizable);

  Script create_twice;
  create_twice.invoke_on("k", 0, "cas", Value::list({nullptr, "v1"})).ok(0);
  create_twice.invoke_on("k", 1, "cas", Value::list({nullptr, "v2"})).ok(1);
  CHECK(verdict(create_twice, ModelKind::keys) == not_linearizable);
}

TEST_CASE("keys: a violation is reported with its key and a blocking operation", "[lincheck][keys]") {
  Script s;
  s.invoke_on("good", 0, "write", 1).ok(0);
  s.invoke_on("bad", 0, "write", 1).ok(0).invoke_on("bad", 1, "read").ok(1, 2);
  CheckResult result = check(s.history(), ModelKind::keys);
  REQUIRE(result.verdict == not_linearizable);
  CHECK_THAT(result.explanation, Catch::Contains("key \"bad\"") && Catch::Contains("process 1 read"));
}

// ---- kv: get / put / append ----------------------------------------------------------------------

TEST_CASE("kv: appends concatenate, put replaces, a missing key reads as empty", "[lincheck][kv]") {
  Script s;
  s.invoke_on("k", 0, "get").ok(0, "").invoke_on("k", 0, "append", "x").ok(0);
  s.invoke_on("k", 1, "append", "y").ok(1).invoke_on("k", 0, "get").ok(0, "xy");
  s.invoke_on("k", 1, "put", "z").ok(1).invoke_on("k", 0, "get").ok(0, "z");
  CHECK(verdict(s, ModelKind::kv) == linearizable);

  Script order;
  order.invoke_on("k", 0, "append", "x").ok(0).invoke_on("k", 1, "append", "y").ok(1).invoke_on("k", 0, "get").ok(0, "yx");
  CHECK(verdict(order, ModelKind::kv) == not_linearizable);
}

TEST_CASE("kv: concurrent appends may land in either order", "[lincheck][kv]") {
  for (const char* seen : {"xy", "yx"}) {
    Script s;
    s.invoke_on("k", 0, "append", "x").invoke_on("k", 1, "append", "y").ok(0).ok(1).invoke_on("k", 2, "get").ok(2, seen);
    CHECK(verdict(s, ModelKind::kv) == linearizable);
  }
}

TEST_CASE("kv: an info append took effect once or not at all", "[lincheck][kv]") {
  Script once;
  once.invoke_on("k", 0, "append", "x").info(0).invoke_on("k", 1, "get").ok(1, "x");
  CHECK(verdict(once, ModelKind::kv) == linearizable);

  Script never;
  never.invoke_on("k", 0, "append", "x").info(0).invoke_on("k", 1, "get").ok(1, "");
  CHECK(verdict(never, ModelKind::kv) == linearizable);

  Script twice;
  twice.invoke_on("k", 0, "append", "x").info(0).invoke_on("k", 1, "get").ok(1, "xx");
  CHECK(verdict(twice, ModelKind::kv) == not_linearizable);
}

TEST_CASE("kv: values must be strings", "[lincheck][kv]") {
  Script s;
  s.invoke_on("k", 0, "put", 5).ok(0);
  CHECK_THAT(check(s.history(), ModelKind::kv).error, Catch::Contains("put needs a string"));
}

// ---- lock: one holder at a time, rising fencing tokens -------------------------------------------

TEST_CASE("lock: grants in turn with rising tokens are linearizable", "[lincheck][lock]") {
  Script s;
  s.invoke_on("L", 0, "acquire").ok(0, 10).invoke_on("L", 0, "release").ok(0);
  s.invoke_on("L", 1, "acquire").ok(1, 12).invoke_on("L", 1, "release").ok(1);
  CHECK(verdict(s, ModelKind::lock) == linearizable);
}

TEST_CASE("lock: two holders at once are not", "[lincheck][lock]") {
  Script s;
  s.invoke_on("L", 0, "acquire").ok(0, 1).invoke_on("L", 1, "acquire").ok(1, 2);
  CHECK(verdict(s, ModelKind::lock) == not_linearizable);

  Script other_lock;
  other_lock.invoke_on("L", 0, "acquire").ok(0, 1).invoke_on("M", 1, "acquire").ok(1, 2);
  CHECK(verdict(other_lock, ModelKind::lock) == linearizable);
}

TEST_CASE("lock: tokens strictly increase per lock", "[lincheck][lock]") {
  for (std::int64_t second_token : {5, 4}) {
    Script s;
    s.invoke_on("L", 0, "acquire").ok(0, 5).invoke_on("L", 0, "release").ok(0);
    s.invoke_on("L", 1, "acquire").ok(1, second_token);
    CHECK(verdict(s, ModelKind::lock) == not_linearizable);
  }
}

TEST_CASE("lock: concurrent acquires are ordered by their tokens", "[lincheck][lock]") {
  // Process 1's whole turn happens inside process 0's acquire, so 0's grant comes later: token 2.
  Script s;
  s.invoke_on("L", 0, "acquire").invoke_on("L", 1, "acquire").ok(1, 1).invoke_on("L", 1, "release").ok(1).ok(0, 2);
  CHECK(verdict(s, ModelKind::lock) == linearizable);

  Script inverted;
  inverted.invoke_on("L", 0, "acquire").invoke_on("L", 1, "acquire").ok(1, 2).invoke_on("L", 1, "release").ok(1).ok(0, 1);
  CHECK(verdict(inverted, ModelKind::lock) == not_linearizable);
}

TEST_CASE("lock: only the holder releases", "[lincheck][lock]") {
  Script s;
  s.invoke_on("L", 0, "acquire").ok(0, 1).invoke_on("L", 1, "release").ok(1);
  CHECK(verdict(s, ModelKind::lock) == not_linearizable);
}

TEST_CASE("lock: a holder whose session may have expired records an info release", "[lincheck][lock]") {
  Script expired;
  expired.invoke_on("L", 0, "acquire").ok(0, 1).invoke_on("L", 0, "release").info(0);
  expired.invoke_on("L", 1, "acquire").ok(1, 7);
  CHECK(verdict(expired, ModelKind::lock) == linearizable);

  Script still_held;
  still_held.invoke_on("L", 0, "acquire").ok(0, 1).invoke_on("L", 1, "acquire").ok(1, 7);
  CHECK(verdict(still_held, ModelKind::lock) == not_linearizable);
}

TEST_CASE("lock: an info acquire may hold the lock, with an unknown token", "[lincheck][lock]") {
  // Process 0 may hold the lock: then process 1's grant is impossible until 0 releases.
  Script never_granted;
  never_granted.invoke_on("L", 0, "acquire").info(0).invoke_on("L", 1, "acquire").ok(1, 3);
  CHECK(verdict(never_granted, ModelKind::lock) == linearizable);

  Script granted_then_released;
  granted_then_released.invoke_on("L", 0, "acquire").info(0).invoke_on("L", 0, "release").ok(0);
  granted_then_released.invoke_on("L", 1, "acquire").ok(1, 3);
  CHECK(verdict(granted_then_released, ModelKind::lock) == linearizable);

  // The release succeeded, so the info acquire was granted, with a token of at least 2: the
  // next grant must be above it.
  Script token_too_low;
  token_too_low.invoke_on("L", 2, "acquire").ok(2, 1).invoke_on("L", 2, "release").ok(2);
  token_too_low.invoke_on("L", 0, "acquire").info(0).invoke_on("L", 0, "release").ok(0);
  token_too_low.invoke_on("L", 1, "acquire").ok(1, 2);
  CHECK(verdict(token_too_low, ModelKind::lock) == not_linearizable);
}

TEST_CASE("lock: a failed acquire did not take effect", "[lincheck][lock]") {
  Script s;
  s.invoke_on("L", 0, "acquire").ok(0, 1).invoke_on("L", 1, "acquire").fail(1).invoke_on("L", 0, "release").ok(0);
  CHECK(verdict(s, ModelKind::lock) == linearizable);
}

// ---- model inference -----------------------------------------------------------------------------

TEST_CASE("models: inferred from the functions a history uses", "[lincheck][models]") {
  Script lock;
  lock.invoke_on("L", 0, "acquire").ok(0, 1);
  CHECK(infer_model(lock.history()) == ModelKind::lock);
  Script kv;
  kv.invoke_on("k", 0, "append", "x").ok(0).invoke_on("k", 0, "get").ok(0, "x");
  CHECK(infer_model(kv.history()) == ModelKind::kv);
  Script keys;
  keys.invoke_on("k", 0, "write", 1).ok(0).invoke_on("k", 0, "delete").ok(0);
  CHECK(infer_model(keys.history()) == ModelKind::keys);
  Script mixed;
  mixed.invoke_on("k", 0, "write", 1).ok(0).invoke_on("k", 0, "append", "x").ok(0);
  CHECK_FALSE(infer_model(mixed.history()).has_value());
  Script unknown;
  unknown.invoke(0, "frobnicate").ok(0);
  CHECK_FALSE(infer_model(unknown.history()).has_value());
}

// ---- the search's limits -------------------------------------------------------------------------

// n writes, all concurrent, then a read of a value nobody wrote: to prove it impossible the search
// must try every order of every subset of the writes. The written values repeat (two values), so
// the unique-values path (unique_values.h) leaves the history to the search.
Script concurrent_writes_then_impossible_read(int writes) {
  Script s;
  for (int p = 0; p < writes; ++p) s.invoke(p, "write", p % 2);
  for (int p = 0; p < writes; ++p) s.ok(p);
  s.invoke(writes, "read").ok(writes, -1);
  return s;
}

TEST_CASE("search: the memo makes an exhaustive search over concurrent writes cheap", "[lincheck][search]") {
  // Without the memo this is 12! orders, hours of work; with it, 12 * 2^12 configurations, a few
  // milliseconds. The budget only turns a lost memo into a failure instead of a hang.
  Budget budget;
  budget.time_ms_max = 20'000;
  CHECK(verdict(concurrent_writes_then_impossible_read(12), ModelKind::cas_register, budget) == not_linearizable);
}

TEST_CASE("search: a search past its budget answers unknown", "[lincheck][search]") {
  Script hard = concurrent_writes_then_impossible_read(40);
  SECTION("time") {
    Budget budget;
    budget.time_ms_max = 0;
    CheckResult result = check(hard.history(), ModelKind::cas_register, budget);
    CHECK(result.verdict == Verdict::unknown);
    CHECK_THAT(result.explanation, Catch::Contains("time budget"));
  }
  SECTION("memory") {
    Budget budget;
    budget.memory_bytes_max = 64 * 1024;
    CheckResult result = check(hard.history(), ModelKind::cas_register, budget);
    CHECK(result.verdict == Verdict::unknown);
    CHECK_THAT(result.explanation, Catch::Contains("memory budget"));
  }
}

TEST_CASE("search: a violation on one key outranks an unknown on another", "[lincheck][search]") {
  Script s = concurrent_writes_then_impossible_read(40);
  s.invoke_on("other", 100, "read").ok(100, 5);
  Budget budget;
  budget.time_ms_max = 200;
  CheckResult result = check(s.history(), ModelKind::keys, budget);
  CHECK(result.verdict == not_linearizable);
}

// A long history on one key: process 0 writes i while process 1 reads, overlapping. Every 100th
// step, a write of unknown outcome that nobody ever reads (it never took effect).
Script long_history(int steps, bool stale_read_at_end) {
  Script s;
  for (int i = 1; i <= steps; ++i) {
    s.invoke(0, "write", i).invoke(1, "read").ok(0).ok(1, i);
    if (i % 100 == 0 && !stale_read_at_end) s.invoke(i + 1000, "write", -1).info(i + 1000);
  }
  if (stale_read_at_end) s.invoke(1, "read").ok(1, steps - 1);
  return s;
}

TEST_CASE("search: memo entries stay small on long histories", "[lincheck][search]") {
  // 50,000 operations on one key: an uncompressed bitset would cost 6 KB per memo entry, and the
  // search stores one per operation at least, 300 MB. Compressed, it fits a small budget.
  Budget budget;
  budget.memory_bytes_max = 64 << 20;
  CHECK(verdict(long_history(25'000, false), ModelKind::cas_register, budget) == linearizable);
  CHECK(verdict(long_history(25'000, true), ModelKind::cas_register, budget) == not_linearizable);
}

TEST_CASE("search: an empty history is linearizable", "[lincheck][search]") {
  CHECK(verdict(Script{}, ModelKind::keys) == linearizable);
  CHECK(verdict(Script{}, ModelKind::lock) == linearizable);
}

// ---- the search against a brute-force oracle -----------------------------------------------------

// A register history small enough to try every sequence: each operation with its interval.
struct SmallOperation {
  int kind;  // 0 read, 1 write, 2 cas
  int a;     // read: value seen (0 = nil); write: value; cas: from
  int b;     // cas: to
  Status status;
  int invoke_time;
  int complete_time;  // ignored unless status is ok
};

bool precedes(const SmallOperation& first, const SmallOperation& second) {
  return first.status == Status::ok && first.complete_time < second.invoke_time;
}

// Tries every sequence of a subset that holds every ok operation, respects real time, and is legal
// for a register that starts at 0 (nil).
bool oracle(const std::vector<SmallOperation>& ops, std::vector<bool>& used, int state, std::size_t ok_left) {
  if (ok_left == 0) return true;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (used[i]) continue;
    bool blocked = false;
    for (std::size_t j = 0; j < ops.size(); ++j) blocked = blocked || (!used[j] && j != i && precedes(ops[j], ops[i]));
    if (blocked) continue;
    const SmallOperation& op = ops[i];
    std::optional<int> next;
    if (op.kind == 0 && op.a == state) next = state;
    if (op.kind == 1) next = op.a;
    if (op.kind == 2 && op.a == state) next = op.b;
    if (!next) continue;
    used[i] = true;
    bool found = oracle(ops, used, *next, ok_left - (op.status == Status::ok ? 1 : 0));
    used[i] = false;
    if (found) return true;
  }
  return false;
}

Value register_value(int value) { return value == 0 ? Value() : Value(value); }

History small_history(const std::vector<SmallOperation>& ops) {
  History history;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const SmallOperation& op = ops[i];
    Operation operation;
    operation.process = static_cast<std::int64_t>(i);
    operation.f = op.kind == 0 ? "read" : op.kind == 1 ? "write" : "cas";
    operation.input = op.kind == 1 ? register_value(op.a) : Value();
    if (op.kind == 2) operation.input = Value::list({register_value(op.a), register_value(op.b)});
    if (op.kind == 0 && op.status == Status::ok) operation.output = register_value(op.a);
    operation.status = op.status;
    operation.invoke_time = op.invoke_time;
    operation.complete_time = op.status == Status::ok ? op.complete_time : time_open;
    history.operations.push_back(std::move(operation));
  }
  return history;
}

TEST_CASE("search: agrees with a brute-force oracle on random small register histories", "[lincheck][search]") {
  std::mt19937 random(20240517);  // fixed seed: the same histories every run
  auto below = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(random); };
  int verdicts[2] = {0, 0};
  for (int round = 0; round < 3000; ++round) {
    std::vector<SmallOperation> ops(static_cast<std::size_t>(1 + below(6)));
    for (SmallOperation& op : ops) {
      op = {below(3), below(3), below(3), below(5) == 0 ? Status::info : Status::ok, below(8), 0};
      op.complete_time = op.invoke_time + below(5);
      if (op.kind == 0 && op.status == Status::info) op.status = Status::ok;  // info reads are dropped
    }
    std::vector<bool> used(ops.size(), false);
    auto ok_count = static_cast<std::size_t>(
        std::count_if(ops.begin(), ops.end(), [](const SmallOperation& op) { return op.status == Status::ok; }));
    bool expected = oracle(ops, used, 0, ok_count);
    CheckResult result = check(small_history(ops), ModelKind::cas_register);
    INFO("round " << round << "\n" << write_jsonl(small_history(ops)));
    REQUIRE(result.error.empty());
    REQUIRE(result.verdict == (expected ? linearizable : not_linearizable));
    ++verdicts[expected ? 1 : 0];
  }
  // The generator must produce both kinds, or the comparison proves little.
  CHECK(verdicts[0] > 300);
  CHECK(verdicts[1] > 300);
}

}  // namespace
}  // namespace synod::lincheck
