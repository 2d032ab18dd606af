// Log: structured log lines, JSON (one object per line) or plain text, to
// stderr. Every election, leader change, session expiry, forced release,
// corruption event and peer refusal is logged with its reason (issue #7).
//
// Thread-safe: any thread may log; one mutex serializes whole lines.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>

#include "server/config.h"

namespace synod::server {

enum class Level : uint8_t { debug = 0, info = 1, warn = 2, error = 3 };

// One key and its value, already rendered. `quoted` values are strings.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, const char* v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  template <class N, class = std::enable_if_t<std::is_arithmetic_v<N>>>
  Field(std::string_view k, N n) : key(k), value(render(n)), quoted(false) {}

  std::string_view key;
  std::string value;
  bool quoted;

 private:
  template <class N>
  static std::string render(N n) {
    if constexpr (std::is_same_v<N, bool>) return n ? "true" : "false";
    else return std::to_string(n);
  }
};

class Log {
 public:
  Log(LogFormat format, Level threshold, paxos::NodeId node) : format_(format), threshold_(threshold), node_(node) {}

  bool enabled(Level level) const { return level >= threshold_; }
  void write(Level level, std::string_view event, std::initializer_list<Field> fields = {});

  static Level parse_level(const std::string& name);

 private:
  LogFormat format_;
  Level threshold_;
  paxos::NodeId node_;
  std::mutex mutex_;
};

}  // namespace synod::server
