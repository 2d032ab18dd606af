// history.cpp — Value helpers and the pairing of events into operations.
#include "tools/lincheck/history.h"

#include <functional>
#include <utility>

namespace synod::lincheck {

Value Value::list(std::vector<Value> elements) {
  Value value;
  value.kind = Kind::list;
  value.items = std::move(elements);
  return value;
}

namespace {

void append_text(std::string& out, const Value& value) {
  switch (value.kind) {
    case Value::Kind::nil:
      out += "nil";
      return;
    case Value::Kind::integer:
      out += std::to_string(value.integer);
      return;
    case Value::Kind::text:
      out += '"';
      out += value.text;
      out += '"';
      return;
    case Value::Kind::list:
      out += '[';
      for (std::size_t i = 0; i < value.items.size(); ++i) {
        if (i > 0) out += ' ';
        append_text(out, value.items[i]);
      }
      out += ']';
      return;
  }
}

std::size_t mix(std::size_t seed, std::size_t hash) {
  return seed ^ (hash + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

const char* event_name(EventType type) {
  switch (type) {
    case EventType::invoke:
      return "invoke";
    case EventType::ok:
      return "ok";
    case EventType::fail:
      return "fail";
    case EventType::info:
      return "info";
  }
  return "?";
}

Status status_of(EventType type) {
  if (type == EventType::ok) return Status::ok;
  if (type == EventType::fail) return Status::fail;
  return Status::info;
}

}  // namespace

std::string to_string(const Value& value) {
  std::string out;
  append_text(out, value);
  return out;
}

std::size_t hash_value(const Value& value) {
  std::size_t seed = static_cast<std::size_t>(value.kind);
  switch (value.kind) {
    case Value::Kind::nil:
      return seed;
    case Value::Kind::integer:
      return mix(seed, std::hash<std::int64_t>{}(value.integer));
    case Value::Kind::text:
      return mix(seed, std::hash<std::string>{}(value.text));
    case Value::Kind::list:
      for (const Value& item : value.items) seed = mix(seed, hash_value(item));
      return seed;
  }
  return seed;
}

std::string describe(const History& history, std::size_t index) {
  const Operation& operation = history.operations[index];
  std::string text = "operation " + std::to_string(index) + " (process " + std::to_string(operation.process) + " " +
                     operation.f + " " + to_string(operation.input);
  // A write's nil output says nothing; a read's nil does.
  bool says_something = !operation.output.is_nil() || operation.input.is_nil();
  if (operation.status == Status::ok && says_something) text += " -> " + to_string(operation.output);
  if (operation.status == Status::info) text += " -> unknown";
  text += ", invoked at " + std::to_string(operation.invoke_time);
  if (operation.complete_time != time_open) text += ", completed at " + std::to_string(operation.complete_time);
  return text + ")";
}

std::string HistoryBuilder::add(Event event) {
  if (event.time == time_open) return "time " + std::to_string(time_open) + " is reserved for open operations";
  auto open = open_by_process_.find(event.process);
  if (event.type != EventType::invoke) {
    if (open == open_by_process_.end()) {
      return std::string("process ") + std::to_string(event.process) + " completes (" + event_name(event.type) +
             ") an operation it never invoked";
    }
    std::string error = complete(event, history_.operations[open->second]);
    open_by_process_.erase(open);
    return error;
  }
  if (open != open_by_process_.end()) {
    return "process " + std::to_string(event.process) + " invokes " + event.f +
           " while its earlier operation is still open";
  }
  if (history_.operations.size() >= history_operations_max) {
    return "more than " + std::to_string(history_operations_max) + " operations";
  }
  Operation operation;
  operation.process = event.process;
  operation.f = std::move(event.f);
  operation.key = std::move(event.key);
  operation.input = std::move(event.value);
  operation.invoke_time = event.time;
  open_by_process_.emplace(event.process, history_.operations.size());
  history_.operations.push_back(std::move(operation));
  return "";
}

std::string HistoryBuilder::complete(const Event& event, Operation& operation) {
  if (event.f != operation.f || event.key != operation.key) {
    return "process " + std::to_string(event.process) + " invoked " + operation.f + " on \"" + operation.key +
           "\" but completes " + event.f + " on \"" + event.key + "\"";
  }
  if (event.time < operation.invoke_time) {
    return "process " + std::to_string(event.process) + " completes " + event.f + " before invoking it (time " +
           std::to_string(event.time) + " < " + std::to_string(operation.invoke_time) + ")";
  }
  operation.status = status_of(event.type);
  operation.complete_time = event.time;
  if (operation.status == Status::ok) operation.output = event.value;
  return "";
}

History HistoryBuilder::finish() && {
  // Whatever is still open keeps status info and complete_time time_open (the Operation defaults).
  open_by_process_.clear();
  return std::move(history_);
}

}  // namespace synod::lincheck
