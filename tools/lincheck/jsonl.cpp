// jsonl.cpp — synod's own history format: JSON lines, one event per line.
// The format is specified in docs/history-format.md; keep the two in step.
// This is the only file of the checker that includes nlohmann/json, to keep compile times low.
#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>
#include <utility>
#include <vector>

#include "tools/lincheck/formats.h"

namespace synod::lincheck {
namespace {

using nlohmann::json;

constexpr std::size_t f_bytes_max = 256;
constexpr std::size_t key_bytes_max = 64 * 1024;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

std::optional<std::int64_t> json_integer(const json& number) {
  if (number.is_number_unsigned()) {
    auto unsigned_number = number.get<std::uint64_t>();
    if (unsigned_number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(unsigned_number);
  }
  if (number.is_number_integer()) return number.get<std::int64_t>();
  return std::nullopt;
}

std::string json_to_value(const json& node, std::size_t depth, Value& value) {
  if (depth > value_depth_max) return "\"value\" nested deeper than " + std::to_string(value_depth_max);
  if (node.is_null()) {
    value = Value();
  } else if (node.is_string()) {
    if (node.get_ref<const std::string&>().size() > value_text_bytes_max) return "\"value\" string too long";
    value = Value(node.get<std::string>());
  } else if (std::optional<std::int64_t> number = json_integer(node)) {
    value = Value(*number);
  } else if (node.is_array()) {
    if (node.size() > value_list_items_max) return "\"value\" array longer than " + std::to_string(value_list_items_max);
    std::vector<Value> items(node.size());
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (std::string error = json_to_value(node[i], depth + 1, items[i]); !error.empty()) return error;
    }
    value = Value::list(std::move(items));
  } else {
    return "\"value\" must be null, a 64-bit integer, a string or an array of those";
  }
  return "";
}

json value_to_json(const Value& value) {
  switch (value.kind) {
    case Value::Kind::nil:
      return nullptr;
    case Value::Kind::integer:
      return value.integer;
    case Value::Kind::text:
      return value.text;
    case Value::Kind::list: {
      json array = json::array();
      for (const Value& item : value.items) array.push_back(value_to_json(item));
      return array;
    }
  }
  return nullptr;
}

std::optional<EventType> event_type_from_name(const std::string& name) {
  if (name == "invoke") return EventType::invoke;
  if (name == "ok") return EventType::ok;
  if (name == "fail") return EventType::fail;
  if (name == "info") return EventType::info;
  return std::nullopt;
}

const char* event_type_name(EventType type) {
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

std::string required_string(const json& object, const char* name, std::size_t bytes_max, std::string& out) {
  auto field = object.find(name);
  if (field == object.end()) return std::string("missing \"") + name + "\"";
  if (!field->is_string()) return std::string("\"") + name + "\" must be a string";
  out = field->get<std::string>();
  if (out.empty() || out.size() > bytes_max) {
    return std::string("\"") + name + "\" must have 1 to " + std::to_string(bytes_max) + " bytes";
  }
  return "";
}

std::string read_process_and_type(const json& object, Event& event) {
  auto process = object.find("process");
  if (process == object.end()) return "missing \"process\"";
  std::optional<std::int64_t> process_number = json_integer(*process);
  if (!process_number || *process_number < 0) return "\"process\" must be a non-negative integer";
  event.process = *process_number;
  std::string type;
  if (std::string error = required_string(object, "type", f_bytes_max, type); !error.empty()) return error;
  std::optional<EventType> event_type = event_type_from_name(type);
  if (!event_type) return "\"type\" must be \"invoke\", \"ok\", \"fail\" or \"info\", not \"" + type + "\"";
  event.type = *event_type;
  return "";
}

std::string read_key_and_value(const json& object, Event& event) {
  if (auto key = object.find("key"); key != object.end()) {
    if (!key->is_string()) return "\"key\" must be a string";
    event.key = key->get<std::string>();
    if (event.key.size() > key_bytes_max) return "\"key\" longer than " + std::to_string(key_bytes_max) + " bytes";
  }
  if (auto value = object.find("value"); value != object.end()) return json_to_value(*value, 0, event.value);
  return "";
}

// Reads "time" into event.time. A file gives a time on every event or on none; without times the
// line number is the time, so the file order is the real-time order.
std::string read_time(const json& object, std::size_t line_number, std::optional<bool>& timed, Event& event) {
  auto time = object.find("time");
  bool has_time = time != object.end();
  if (timed && *timed != has_time) return "\"time\" must be on every event or on none";
  timed = has_time;
  if (!has_time) {
    event.time = static_cast<std::int64_t>(line_number);
    return "";
  }
  std::optional<std::int64_t> time_number = json_integer(*time);
  if (!time_number) return "\"time\" must be a 64-bit integer";
  event.time = *time_number;
  return "";
}

std::string read_event(std::string_view line, std::size_t line_number, std::optional<bool>& timed, Event& event) {
  json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return "not valid JSON";
  if (!object.is_object()) return "expected a JSON object";
  if (std::string error = read_process_and_type(object, event); !error.empty()) return error;
  if (std::string error = required_string(object, "f", f_bytes_max, event.f); !error.empty()) return error;
  if (std::string error = read_key_and_value(object, event); !error.empty()) return error;
  return read_time(object, line_number, timed, event);
}

struct EventOrder {
  std::int64_t time;
  std::size_t operation;
  int completion;  // 0 for the invocation, 1 for the completion
};

json event_json(const Operation& operation, bool completion) {
  json object = json::object();
  object["process"] = operation.process;
  EventType type = EventType::invoke;
  if (completion) {
    type = operation.status == Status::ok ? EventType::ok
           : operation.status == Status::fail ? EventType::fail
                                               : EventType::info;
  }
  object["type"] = event_type_name(type);
  object["f"] = operation.f;
  if (!operation.key.empty()) object["key"] = operation.key;
  object["value"] = value_to_json(completion ? operation.output : operation.input);
  object["time"] = completion ? operation.complete_time : operation.invoke_time;
  return object;
}

}  // namespace

ParseResult parse_jsonl(std::string_view text) {
  HistoryBuilder builder;
  ParseResult result;
  std::optional<bool> timed;
  std::size_t line_number = 0;
  while (!text.empty() && result.ok()) {
    ++line_number;
    std::size_t end = text.find('\n');
    std::string_view line = trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty()) continue;
    Event event;
    std::string error = line.size() > line_bytes_max ? "longer than " + std::to_string(line_bytes_max) + " bytes"
                                                     : read_event(line, line_number, timed, event);
    if (error.empty()) error = builder.add(std::move(event));
    if (!error.empty()) result.error = "line " + std::to_string(line_number) + ": " + error;
  }
  if (result.ok()) result.history = std::move(builder).finish();
  return result;
}

std::string write_jsonl(const History& history) {
  std::vector<EventOrder> events;
  events.reserve(history.operations.size() * 2);
  for (std::size_t i = 0; i < history.operations.size(); ++i) {
    const Operation& operation = history.operations[i];
    events.push_back({operation.invoke_time, i, 0});
    if (operation.complete_time != time_open) events.push_back({operation.complete_time, i, 1});
  }
  std::sort(events.begin(), events.end(), [](const EventOrder& a, const EventOrder& b) {
    return std::tie(a.time, a.operation, a.completion) < std::tie(b.time, b.operation, b.completion);
  });
  std::string text;
  for (const EventOrder& event : events) {
    // Strings from EDN or Jepsen files need not be UTF-8; replace bad bytes rather than throw.
    text += event_json(history.operations[event.operation], event.completion == 1)
                .dump(-1, ' ', false, json::error_handler_t::replace);
    text += '\n';
  }
  return text;
}

}  // namespace synod::lincheck
