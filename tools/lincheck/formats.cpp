// formats.cpp — the Jepsen log and EDN readers, format detection and file reading.
// (JSON lines live in jsonl.cpp, the only file that includes nlohmann/json.)
#include "tools/lincheck/formats.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <utility>
#include <vector>

namespace synod::lincheck {
namespace {

constexpr std::string_view jepsen_marker = "jepsen.util - ";
constexpr std::size_t detect_lines_max = 64;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ','; }

bool is_delimiter(char c) {
  return is_space(c) || c == '[' || c == ']' || c == '(' || c == ')' || c == '{' || c == '}' || c == '"';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::string at_line(std::size_t line, const std::string& why) { return "line " + std::to_string(line) + ": " + why; }

// Calls visit(line_number, line) for each line; stops at the first error visit returns.
template <class Visit>
std::string for_each_line(std::string_view text, Visit visit) {
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.size() > line_bytes_max) return at_line(line_number, "longer than " + std::to_string(line_bytes_max) + " bytes");
    std::string error = visit(line_number, line);
    if (!error.empty()) return at_line(line_number, error);
  }
  return "";
}

std::optional<std::int64_t> parse_integer(std::string_view token) {
  if (!token.empty() && token.front() == '+') token.remove_prefix(1);
  std::int64_t number = 0;
  auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), number);
  if (error != std::errc{} || end != token.data() + token.size()) return std::nullopt;
  return number;
}

// One EDN datum. Keywords become text without the colon, with `keyword` set at the top level.
// Anything our Value cannot hold (maps, sets, booleans, floats, symbols, tagged literals) is kept
// as its source text: the checker compares such values by their text.
struct Datum {
  Value value;
  bool keyword = false;
};

// A reader for the EDN subset Jepsen histories use, with a nesting limit.
class EdnReader {
 public:
  explicit EdnReader(std::string_view text) : text_(text) {}

  std::string read(Datum& datum) { return read_datum(datum, 0); }
  // Reads a map of keyword keys; values are read with read_datum.
  std::string read_map(std::vector<std::pair<std::string, Datum>>& entries);
  bool at_end() {
    skip_space();
    return position_ == text_.size();
  }

 private:
  std::string read_datum(Datum& datum, std::size_t depth);
  std::string read_sequence(Datum& datum, char close, std::size_t depth);
  std::string read_string(Datum& datum);
  std::string read_token(Datum& datum);
  std::string skip_as_text(Datum& datum, std::size_t depth);
  void skip_space() {
    while (position_ < text_.size() && is_space(text_[position_])) ++position_;
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

std::string EdnReader::read_map(std::vector<std::pair<std::string, Datum>>& entries) {
  skip_space();
  if (position_ >= text_.size() || text_[position_] != '{') return "expected an EDN map {...}";
  ++position_;
  for (;;) {
    skip_space();
    if (position_ >= text_.size()) return "unterminated map";
    if (text_[position_] == '}') {
      ++position_;
      return "";
    }
    Datum key;
    Datum value;
    if (std::string error = read_datum(key, 1); !error.empty()) return error;
    if (!key.keyword) return "map key " + to_string(key.value) + " is not a keyword";
    if (std::string error = read_datum(value, 1); !error.empty()) return error;
    entries.emplace_back(key.value.text, std::move(value));
  }
}

std::string EdnReader::read_datum(Datum& datum, std::size_t depth) {
  if (depth > value_depth_max) return "nested deeper than " + std::to_string(value_depth_max);
  skip_space();
  if (position_ >= text_.size()) return "expected a value";
  char c = text_[position_];
  if (c == '[' || c == '(') {
    ++position_;
    return read_sequence(datum, c == '[' ? ']' : ')', depth);
  }
  if (c == '"') return read_string(datum);
  if (c == '{' || c == '#') return skip_as_text(datum, depth);
  if (c == ']' || c == ')' || c == '}') return std::string("unexpected '") + c + "'";
  return read_token(datum);
}

std::string EdnReader::read_sequence(Datum& datum, char close, std::size_t depth) {
  std::vector<Value> items;
  for (;;) {
    skip_space();
    if (position_ >= text_.size()) return std::string("missing '") + close + "'";
    if (text_[position_] == close) {
      ++position_;
      datum.value = Value::list(std::move(items));
      return "";
    }
    if (items.size() >= value_list_items_max) return "list longer than " + std::to_string(value_list_items_max);
    Datum item;
    if (std::string error = read_datum(item, depth + 1); !error.empty()) return error;
    items.push_back(std::move(item.value));
  }
}

std::string EdnReader::read_string(Datum& datum) {
  std::string text;
  for (++position_; position_ < text_.size(); ++position_) {
    char c = text_[position_];
    if (c == '"') {
      ++position_;
      datum.value = Value(std::move(text));
      return "";
    }
    if (c == '\\' && position_ + 1 < text_.size()) {
      c = text_[++position_];
      if (c == 'n') c = '\n';
      if (c == 't') c = '\t';
      if (c == 'r') c = '\r';
    }
    text += c;
  }
  return "unterminated string";
}

std::string EdnReader::read_token(Datum& datum) {
  std::size_t start = position_;
  while (position_ < text_.size() && !is_delimiter(text_[position_])) ++position_;
  std::string_view token = text_.substr(start, position_ - start);
  if (token.empty()) return "unexpected character";
  if (token == "nil") {
    datum.value = Value();
  } else if (token.front() == ':') {
    if (token.size() == 1) return "empty keyword";
    datum.value = Value(std::string(token.substr(1)));
    datum.keyword = true;
  } else if (std::optional<std::int64_t> number = parse_integer(token)) {
    datum.value = Value(*number);
  } else if (token.back() == 'N' && parse_integer(token.substr(0, token.size() - 1))) {
    datum.value = Value(*parse_integer(token.substr(0, token.size() - 1)));  // EDN bigint literal
  } else {
    datum.value = Value(std::string(token));  // true, false, 1.5, symbols: compared as text
  }
  return "";
}

// Maps, sets and tagged literals: read to check the nesting, keep the source text.
std::string EdnReader::skip_as_text(Datum& datum, std::size_t depth) {
  std::size_t start = position_;
  if (text_[position_] == '#') {
    ++position_;
    if (position_ < text_.size() && text_[position_] == '{') {
      ++position_;
      Datum ignored;
      if (std::string error = read_sequence(ignored, '}', depth); !error.empty()) return error;
    } else {
      Datum tag;
      Datum tagged;
      if (std::string error = read_token(tag); !error.empty()) return error;
      if (std::string error = read_datum(tagged, depth + 1); !error.empty()) return error;
    }
  } else {
    ++position_;
    Datum ignored;
    if (std::string error = read_sequence(ignored, '}', depth); !error.empty()) return error;
  }
  datum.value = Value(std::string(text_.substr(start, position_ - start)));
  return "";
}

std::optional<EventType> event_type_from_name(std::string_view name) {
  if (name == "invoke") return EventType::invoke;
  if (name == "ok") return EventType::ok;
  if (name == "fail") return EventType::fail;
  if (name == "info") return EventType::info;
  return std::nullopt;
}

std::string_view next_field(std::string_view& rest) {
  rest = trim(rest);
  std::size_t end = 0;
  while (end < rest.size() && !is_space(rest[end])) ++end;
  std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end);
  return field;
}

// Parses the part after "jepsen.util - ": `<process> :<type> :<f> <value>`. Sets `skip` for
// lines of the nemesis and other non-client processes, whose process is not an integer.
std::string parse_jepsen_event(std::string_view rest, Event& event, bool& skip) {
  std::optional<std::int64_t> process = parse_integer(next_field(rest));
  if (!process) {
    skip = true;
    return "";
  }
  event.process = *process;
  std::string_view type = next_field(rest);
  std::string_view f = next_field(rest);
  if (type.size() < 2 || type.front() != ':') return "expected :invoke, :ok, :fail or :info after the process";
  std::optional<EventType> event_type = event_type_from_name(type.substr(1));
  if (!event_type) return "unknown event type " + std::string(type);
  if (f.size() < 2 || f.front() != ':') return "expected a :function after " + std::string(type);
  event.type = *event_type;
  event.f = std::string(f.substr(1));
  rest = trim(rest);
  if (rest.empty()) return "";
  EdnReader reader(rest);
  Datum value;
  if (std::string error = reader.read(value); !error.empty()) return error;
  if (!reader.at_end()) return "unexpected text after the value";
  event.value = std::move(value.value);
  return "";
}

std::string key_text(const Datum& key) {
  if (key.value.kind == Value::Kind::integer) return std::to_string(key.value.integer);
  return key.value.text;
}

// Events of the nemesis and other non-client processes, whose :process is not an integer, are
// not operations of the object under test.
bool is_client_event(const std::vector<std::pair<std::string, Datum>>& entries) {
  for (const auto& [name, datum] : entries) {
    if (name == "process") return datum.value.kind == Value::Kind::integer;
  }
  return true;  // edn_event reports the missing :process
}

std::string edn_field(const std::string& name, const Datum& datum, Event& event) {
  if (name == "process") {
    event.process = datum.value.integer;
  } else if (name == "type") {
    std::optional<EventType> type = datum.keyword ? event_type_from_name(datum.value.text) : std::nullopt;
    if (!type) return ":type must be :invoke, :ok, :fail or :info, not " + to_string(datum.value);
    event.type = *type;
  } else if (name == "f") {
    if (datum.value.kind != Value::Kind::text || datum.value.text.empty()) {
      return ":f must be a keyword, not " + to_string(datum.value);
    }
    event.f = datum.value.text;
  } else if (name == "key") {
    if (!datum.value.is_scalar() || datum.value.is_nil()) return ":key must be a string or an integer";
    event.key = key_text(datum);
  } else if (name == "value") {
    event.value = datum.value;
  }
  return "";
}

// Fills event from one EDN map of a client process.
std::string edn_event(const std::vector<std::pair<std::string, Datum>>& entries, Event& event) {
  bool has_process = false;
  bool has_type = false;
  for (const auto& [name, datum] : entries) {
    if (std::string error = edn_field(name, datum, event); !error.empty()) return error;
    has_process = has_process || name == "process";
    has_type = has_type || name == "type";
  }
  if (!has_process) return "missing :process";
  if (!has_type) return "missing :type";
  if (event.f.empty()) return "missing :f";
  return "";
}

}  // namespace

std::optional<Format> format_from_name(std::string_view name) {
  if (name == "jepsen") return Format::jepsen;
  if (name == "edn") return Format::edn;
  if (name == "jsonl") return Format::jsonl;
  return std::nullopt;
}

const char* format_name(Format format) {
  switch (format) {
    case Format::jepsen:
      return "jepsen";
    case Format::edn:
      return "edn";
    case Format::jsonl:
      return "jsonl";
  }
  return "?";
}

std::optional<Format> detect_format(std::string_view text) {
  for (std::size_t lines = 0; lines < detect_lines_max && !text.empty(); ++lines) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, std::min(end, line_bytes_max));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.find(jepsen_marker) != std::string_view::npos) return Format::jepsen;
    line = trim(line);
    if (line.empty() || line.front() != '{') continue;
    line = trim(line.substr(1));
    if (!line.empty() && line.front() == '"') return Format::jsonl;
    if (!line.empty() && line.front() == ':') return Format::edn;
  }
  return std::nullopt;
}

ParseResult parse_jepsen(std::string_view text) {
  HistoryBuilder builder;
  ParseResult result;
  result.error = for_each_line(text, [&](std::size_t line_number, std::string_view line) -> std::string {
    std::size_t marker = line.find(jepsen_marker);
    if (marker == std::string_view::npos) return "";  // noise: other loggers, blank lines
    Event event;
    bool skip = false;
    std::string error = parse_jepsen_event(line.substr(marker + jepsen_marker.size()), event, skip);
    if (!error.empty() || skip) return error;
    event.time = static_cast<std::int64_t>(line_number);
    return builder.add(std::move(event));
  });
  if (result.ok()) result.history = std::move(builder).finish();
  return result;
}

ParseResult parse_edn(std::string_view text) {
  HistoryBuilder builder;
  ParseResult result;
  result.error = for_each_line(text, [&](std::size_t line_number, std::string_view line) -> std::string {
    if (trim(line).empty()) return "";
    EdnReader reader(line);
    std::vector<std::pair<std::string, Datum>> entries;
    if (std::string error = reader.read_map(entries); !error.empty()) return error;
    if (!reader.at_end()) return "unexpected text after the map";
    if (!is_client_event(entries)) return "";
    Event event;
    if (std::string error = edn_event(entries, event); !error.empty()) return error;
    event.time = static_cast<std::int64_t>(line_number);
    return builder.add(std::move(event));
  });
  if (result.ok()) result.history = std::move(builder).finish();
  return result;
}

ParseResult parse_history(std::string_view text, Format format) {
  switch (format) {
    case Format::jepsen:
      return parse_jepsen(text);
    case Format::edn:
      return parse_edn(text);
    case Format::jsonl:
      return parse_jsonl(text);
  }
  return ParseResult{{}, "unknown format"};
}

FileText read_file(const std::string& path) {
  FileText file;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    file.error = "cannot open " + path;
    return file;
  }
  std::vector<char> chunk(1 << 16);
  while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0) {
    file.text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
    if (file.text.size() > history_file_bytes_max) {
      file.error = path + " is larger than " + std::to_string(history_file_bytes_max) + " bytes";
      file.text.clear();
      return file;
    }
  }
  if (in.bad()) file.error = "cannot read " + path;
  return file;
}

}  // namespace synod::lincheck
