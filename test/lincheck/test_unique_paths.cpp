// test_unique_paths.cpp — the unique-values path (unique_values.h, unique_tokens.h) against the
// search, which test_models.cpp holds to a brute-force oracle, on random small histories; and its
// verdicts on the shapes of violation issue 16 names.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "tools/lincheck/formats.h"
#include "test/lincheck/test_support.h"

namespace synod::lincheck {
namespace {

using testing::Script;
constexpr Verdict linearizable = Verdict::linearizable;
constexpr Verdict not_linearizable = Verdict::not_linearizable;

// The search's verdict alone: every partition searched, none decided by a path.
Verdict searched(const History& history, ModelKind model) {
  Prepared prepared = prepare(history, model);
  REQUIRE(prepared.error.empty());
  Verdict verdict = linearizable;
  for (Partition& partition : prepared.partitions) {
    std::vector<Interval> intervals;
    for (std::size_t index : partition.operations) {
      const Operation& operation = history.operations[index];
      intervals.push_back({operation.invoke_time, operation.complete_time, operation.status == Status::info});
    }
    SearchLimits limits{std::chrono::steady_clock::now() + std::chrono::seconds(20), std::size_t{1} << 28};
    SearchResult found = search(intervals, *partition.object, limits);
    REQUIRE(found.verdict != Verdict::unknown);
    if (found.verdict == not_linearizable) verdict = not_linearizable;
  }
  return verdict;
}

Operation operation(std::int64_t process, std::string f, Value input, Value output, Status status,
                    std::int64_t invoke_time, std::int64_t complete_time) {
  Operation op;
  op.process = process;
  op.f = std::move(f);
  op.input = std::move(input);
  op.output = std::move(output);
  op.status = status;
  op.invoke_time = invoke_time;
  op.complete_time = status == Status::info ? time_open : complete_time;
  return op;
}

// A register history whose writes are unique: reads return a written value, nil, or (rarely) a
// value nobody wrote; compare-and-sets start from any of those; a few writes are deletes.
History random_unique_register(std::mt19937& random) {
  auto below = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(random); };
  History history;
  int written = 0;
  int count = 1 + below(8);
  for (int i = 0; i < count; ++i) {
    int invoke_time = below(10);
    int complete_time = invoke_time + below(6);
    Status status = below(4) == 0 ? Status::info : Status::ok;
    Value seen = below(6) == 0 ? Value() : Value(below(written + 2));  // written + 1: never written
    if (seen.kind == Value::Kind::integer && seen.integer == 0) seen = Value();
    int kind = below(10);
    if (kind < 4) {
      history.operations.push_back(operation(i, "read", Value(), seen, Status::ok, invoke_time, complete_time));
    } else if (kind < 7) {
      history.operations.push_back(operation(i, "write", Value(++written), Value(), status, invoke_time, complete_time));
    } else if (kind < 9) {
      history.operations.push_back(operation(i, "cas", Value::list({seen, Value(++written)}), Value(), status,
                                             invoke_time, complete_time));
    } else {
      history.operations.push_back(operation(i, "delete", Value(), Value(), status, invoke_time, complete_time));
    }
  }
  std::stable_sort(history.operations.begin(), history.operations.end(),
                   [](const Operation& a, const Operation& b) { return a.invoke_time < b.invoke_time; });
  return history;
}

// A lock history with unique tokens: grants, releases by anyone, some outcomes unknown.
History random_unique_lock(std::mt19937& random) {
  auto below = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(random); };
  History history;
  int count = 1 + below(8);
  std::vector<int> tokens{1, 2, 3, 4, 5, 6, 7, 8};
  std::shuffle(tokens.begin(), tokens.end(), random);
  // Each process runs its operations one after another.
  std::vector<int> free_at(3, 0);
  for (int i = 0; i < count; ++i) {
    int process = below(3);
    int invoke_time = free_at[static_cast<std::size_t>(process)] + below(4);
    int complete_time = invoke_time + below(5);
    free_at[static_cast<std::size_t>(process)] = complete_time + 1;
    Status status = below(4) == 0 ? Status::info : Status::ok;
    if (below(2) == 0) {
      Value token = status == Status::ok ? Value(tokens[static_cast<std::size_t>(i)]) : Value();
      history.operations.push_back(operation(process, "acquire", Value(), token, status, invoke_time, complete_time));
    } else {
      history.operations.push_back(operation(process, "release", Value(), Value(), status, invoke_time, complete_time));
    }
  }
  std::stable_sort(history.operations.begin(), history.operations.end(),
                   [](const Operation& a, const Operation& b) { return a.invoke_time < b.invoke_time; });
  return history;
}

// Every partition the path decides must agree with the search; returns how many it decided per verdict.
void agree_with_search(ModelKind model, History (*generate)(std::mt19937&), int decided_min) {
  std::mt19937 random(16);  // fixed seed: the same histories every run
  int decided[2] = {0, 0};
  for (int round = 0; round < 4000; ++round) {
    History history = generate(random);
    Prepared prepared = prepare(history, model);
    REQUIRE(prepared.error.empty());
    Verdict expected = searched(history, model);
    INFO("round " << round << "\n" << write_jsonl(history));
    for (const Partition& partition : prepared.partitions) {
      PathDecision decision = decide_without_search(history, partition, model);
      if (decision.verdict == Verdict::unknown) continue;
      REQUIRE(decision.verdict == expected);
      ++decided[decision.verdict == linearizable ? 1 : 0];
    }
    REQUIRE(check(history, model).verdict == expected);
  }
  // The path must decide many of both kinds, or the comparison proves little.
  CHECK(decided[0] > decided_min);
  CHECK(decided[1] > decided_min);
}

TEST_CASE("unique values: the register path agrees with the search on random histories", "[lincheck][paths]") {
  agree_with_search(ModelKind::cas_register, random_unique_register, 400);
}

TEST_CASE("unique tokens: the lock path agrees with the search on random histories", "[lincheck][paths]") {
  agree_with_search(ModelKind::lock, random_unique_lock, 400);
}

CheckResult checked(const Script& script, ModelKind model) { return check(script.history(), model); }

TEST_CASE("unique values: the planted kinds are refuted by the path, and say where", "[lincheck][paths]") {
  // A base history: 1 then 2 written, each read; an indeterminate write of 3 nobody reads.
  auto base = [] {
    Script s;
    s.invoke(0, "write", "a").ok(0).invoke(1, "read").ok(1, "a");
    s.invoke(0, "write", "b").ok(0).invoke(2, "write", "c").info(2);
    return s;
  };
  Script fine = base();
  fine.invoke(1, "read").ok(1, "b");
  CHECK(checked(fine, ModelKind::keys).verdict == linearizable);
  CHECK(checked(fine, ModelKind::keys).path == Path::unique_values);

  Script stale = base();
  stale.invoke(1, "read").ok(1, "a");  // "b" was written after "a" and completed before this read
  CheckResult result = checked(stale, ModelKind::keys);
  CHECK(result.verdict == not_linearizable);
  CHECK(result.path == Path::unique_values);
  CHECK_THAT(result.explanation, Catch::Contains("must each come before the other"));

  Script never = base();
  never.invoke(1, "read").ok(1, "z");
  CHECK_THAT(checked(never, ModelKind::keys).explanation, Catch::Contains("no operation wrote"));

  Script early;  // the read of "a" completes before the write of "a" is invoked
  early.invoke(1, "read").ok(1, "a").invoke(0, "write", "a").ok(0);
  CHECK_THAT(checked(early, ModelKind::keys).explanation, Catch::Contains("completed before it was invoked"));

  Script lost = base();  // an acknowledged write between "b" and a read of "b"
  lost.invoke(3, "write", "d").ok(3).invoke(1, "read").ok(1, "b");
  CHECK(checked(lost, ModelKind::keys).verdict == not_linearizable);

  Script seen_late = base();  // the indeterminate write of "c" took effect: it was read
  seen_late.invoke(1, "read").ok(1, "c");
  CHECK(checked(seen_late, ModelKind::keys).verdict == linearizable);
}

TEST_CASE("unique tokens: two grants at once are refuted by the path", "[lincheck][paths]") {
  Script s;
  s.invoke_on("L", 0, "acquire").ok(0, 10);
  s.invoke_on("L", 1, "acquire").ok(1, 12);  // process 0 has not released
  s.invoke_on("L", 0, "release").ok(0);
  CheckResult result = checked(s, ModelKind::lock);
  CHECK(result.verdict == not_linearizable);
  CHECK(result.path == Path::unique_values);
  CHECK_THAT(result.explanation, Catch::Contains("held the lock"));

  Script lost;  // the same, but process 0 stopped being sure it held the lock first
  lost.invoke_on("L", 0, "acquire").ok(0, 10).invoke_on("L", 0, "release").info(0);
  lost.invoke_on("L", 1, "acquire").ok(1, 12);
  CHECK(checked(lost, ModelKind::lock).verdict == linearizable);
  CHECK(checked(lost, ModelKind::lock).path == Path::unique_values);
}

TEST_CASE("paths: histories the path cannot take go to the search", "[lincheck][paths]") {
  Script repeated;  // the value 1 is written twice
  repeated.invoke(0, "write", 1).ok(0).invoke(0, "write", 1).ok(0).invoke(1, "read").ok(1, 1);
  CheckResult result = checked(repeated, ModelKind::cas_register);
  CHECK(result.verdict == linearizable);
  CHECK(result.path == Path::search);
  CHECK(result.partitions_searched == 1);
}

}  // namespace
}  // namespace synod::lincheck
