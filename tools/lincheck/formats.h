// formats.h — reading histories from text, and writing synod's own format.
//
// Owns the three formats the checker reads (DESIGN §7):
//   jepsen  Jepsen logs: `INFO  jepsen.util - <process> :<type> :<f> <value>`; other lines are noise.
//   edn     one EDN map per line: {:process 0, :type :invoke, :f :append, :key "4", :value "x"}.
//   jsonl   synod's JSON lines, specified in docs/history-format.md.
// Parsers never throw and never abort on bad input: they return the first error with its line.
// Jepsen and EDN files carry no usable clock, so their line number is the event time (the file
// order is the real-time order in which Jepsen observed the events).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tools/lincheck/history.h"

namespace synod::lincheck {

inline constexpr std::size_t history_file_bytes_max = std::size_t{1} << 30;
inline constexpr std::size_t line_bytes_max = std::size_t{1} << 20;

enum class Format : std::uint8_t { jepsen, edn, jsonl };

std::optional<Format> format_from_name(std::string_view name);
const char* format_name(Format format);
// Looks at the first lines: `{"` starts JSON lines, `{:` starts EDN, `jepsen.util - ` marks a
// Jepsen log. nullopt when none fits.
std::optional<Format> detect_format(std::string_view text);

struct ParseResult {
  History history;
  std::string error;  // "" on success, otherwise "line N: why"

  bool ok() const { return error.empty(); }
};

ParseResult parse_jepsen(std::string_view text);
ParseResult parse_edn(std::string_view text);
ParseResult parse_jsonl(std::string_view text);
ParseResult parse_history(std::string_view text, Format format);

// One invoke event per operation, and one completion event unless it is still open. Events are
// ordered by time, then by operation order, then invocation before completion, which keeps each
// process's events in its own order. parse_jsonl reads the text back to an equal history when the
// operations were in invocation order (as every parser produces them).
std::string write_jsonl(const History& history);

struct FileText {
  std::string text;
  std::string error;  // "" on success
};

// Reads at most history_file_bytes_max bytes; a larger file is an error.
FileText read_file(const std::string& path);

}  // namespace synod::lincheck
