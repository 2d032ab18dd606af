// history.h — the history the linearizability checker reads, independent of any file format.
//
// Owns: Value (what an operation carries), Operation (one call of one process, from invocation to
// completion), History, and HistoryBuilder, which pairs invocation and completion events into
// operations. Every parser (Jepsen log, EDN, JSON lines) feeds events through HistoryBuilder, so the
// pairing rules and their error messages live in one place.
//
// Words are Herlihy and Wing's: a history is a set of operations, each with an invocation and a
// response; two operations are concurrent when neither completes before the other is invoked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace synod::lincheck {

// Limits on what one history may hold. A file past them is bad input, not a reason to run out of
// memory: the checker's bitsets and tables grow with the operation count.
inline constexpr std::size_t history_operations_max = 4'000'000;
inline constexpr std::size_t value_text_bytes_max = 1 << 20;
inline constexpr std::size_t value_list_items_max = 1024;
inline constexpr std::size_t value_depth_max = 32;

// A value as histories carry it: nil, an integer, a string, or a list (a cas carries [from to]).
struct Value {
  enum class Kind : std::uint8_t { nil, integer, text, list };

  Kind kind = Kind::nil;
  std::int64_t integer = 0;
  std::string text;
  std::vector<Value> items;

  // Implicit on purpose: test transcripts write invoke(0, "write", 3) and invoke(0, "put", "x").
  Value() = default;
  Value(std::nullptr_t) {}
  Value(int number) : kind(Kind::integer), integer(number) {}
  Value(std::int64_t number) : kind(Kind::integer), integer(number) {}
  Value(const char* chars) : kind(Kind::text), text(chars) {}
  Value(std::string chars) : kind(Kind::text), text(std::move(chars)) {}
  static Value list(std::vector<Value> elements);

  bool is_nil() const { return kind == Kind::nil; }
  bool is_scalar() const { return kind != Kind::list; }
  friend bool operator==(const Value&, const Value&) = default;
};

// EDN-like text for messages: nil, 3, "x", [1 2].
std::string to_string(const Value& value);
std::size_t hash_value(const Value& value);

struct ValueHash {
  std::size_t operator()(const Value& value) const { return hash_value(value); }
};

// How an operation ended. `info` means the outcome is unknown (a timeout, a crash): the operation
// may have taken effect at any point after its invocation, or never. `fail` means it certainly did
// not take effect. An operation still open when the history ends is `info` as well.
enum class Status : std::uint8_t { ok, fail, info };

// The completion time of an operation that never completed, or whose outcome is unknown.
inline constexpr std::int64_t time_open = std::numeric_limits<std::int64_t>::max();

struct Operation {
  std::int64_t process = 0;
  std::string f;    // the function, in the history's words: "read", "cas", "append", "acquire", ...
  std::string key;  // the object it acts on; "" when the history has a single object
  Value input;      // the value of the invocation event
  Value output;     // the value of the completion event; nil unless status is ok
  std::int64_t invoke_time = 0;
  std::int64_t complete_time = time_open;  // time_open when the history ends with it open
  Status status = Status::info;

  friend bool operator==(const Operation&, const Operation&) = default;
};

// Operations in the order of their invocation events.
struct History {
  std::vector<Operation> operations;
};

// For messages: "operation 7 (process 2 write "a", invoked at 10, completed at 12)".
std::string describe(const History& history, std::size_t index);

enum class EventType : std::uint8_t { invoke, ok, fail, info };

struct Event {
  std::int64_t process = 0;
  EventType type = EventType::invoke;
  std::string f;
  std::string key;
  Value value;
  std::int64_t time = 0;
};

// Pairs events into operations. A process runs one operation at a time: its invoke opens an
// operation, and its next ok, fail or info closes it with the same f and key.
class HistoryBuilder {
 public:
  // Returns an error message, or "" when the event fits.
  std::string add(Event event);
  // Operations still open become `info` with complete_time = time_open.
  History finish() &&;

 private:
  std::string complete(const Event& event, Operation& operation);

  History history_;
  std::unordered_map<std::int64_t, std::size_t> open_by_process_;
};

}  // namespace synod::lincheck
