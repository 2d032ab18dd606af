// test_support.h — helpers shared by the checker's tests.
//
// Script writes a history as a transcript: each event happens one tick after the one before, so
// the order of the calls is the real-time order. A completion names only the process; it ends
// that process's open operation.
//
//   Script s;
//   s.invoke(0, "write", 1).invoke(1, "read").ok(0).ok(1, 1);   // the read may see 1
#pragma once

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tools/lincheck/lincheck.h"

namespace synod::lincheck::testing {

class Script {
 public:
  Script& invoke(std::int64_t process, std::string f, Value input = {}) {
    return invoke_on("", process, std::move(f), std::move(input));
  }
  Script& invoke_on(std::string key, std::int64_t process, std::string f, Value input = {}) {
    open_[process] = {f, key};
    return add(Event{process, EventType::invoke, std::move(f), std::move(key), std::move(input), 0});
  }
  Script& ok(std::int64_t process, Value output = {}) { return complete(process, EventType::ok, std::move(output)); }
  Script& fail(std::int64_t process) { return complete(process, EventType::fail, {}); }
  Script& info(std::int64_t process) { return complete(process, EventType::info, {}); }

  History history() const {
    HistoryBuilder builder;
    for (const Event& event : events_) {
      if (std::string error = builder.add(event); !error.empty()) throw std::logic_error("bad script: " + error);
    }
    return std::move(builder).finish();
  }

 private:
  Script& complete(std::int64_t process, EventType type, Value output) {
    auto open = open_.find(process);
    if (open == open_.end()) throw std::logic_error("bad script: process has nothing open");
    Event event{process, type, open->second.first, open->second.second, std::move(output), 0};
    open_.erase(open);
    return add(std::move(event));
  }
  Script& add(Event event) {
    event.time = static_cast<std::int64_t>(events_.size());
    events_.push_back(std::move(event));
    return *this;
  }

  std::vector<Event> events_;
  std::unordered_map<std::int64_t, std::pair<std::string, std::string>> open_;  // process -> f, key
};

// The verdict for a script that must fit the model.
inline Verdict verdict(const Script& script, ModelKind model, const Budget& budget = {}) {
  CheckResult result = check(script.history(), model, budget);
  if (!result.error.empty()) throw std::logic_error("history does not fit the model: " + result.error);
  return result.verdict;
}

}  // namespace synod::lincheck::testing

// Failed checks print verdicts by name.
template <>
struct Catch::StringMaker<synod::lincheck::Verdict> {
  static std::string convert(synod::lincheck::Verdict verdict) { return synod::lincheck::verdict_name(verdict); }
};
