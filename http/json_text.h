// A flat JSON object written straight into a string (issue 18: "avoid
// per-request heap allocation on the hot path").
//
// Every write answers with a small flat object, such as a put's
// {"create_index":..,"key":..,...}. Built as an nlohmann::json, each field
// cost a map node, a temporary array from the initializer list and often a
// string, and rendering it another string: counted with a uprobe on malloc,
// the put's answer (views::stat_json) made 30% of the leader's allocations
// under puts at 64 clients. Here the fields go into one string in the
// order they are added. A JSON object has no order; the plain writes add
// theirs in name order, as nlohmann's sorted objects wrote them.
//
// Strings are escaped as JSON requires. One that is not UTF-8 (no caller
// passes one: keys and names are checked ASCII) is written as nlohmann's
// replace handler would, so a mistake never makes invalid JSON.
//
// Pure; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace synod::http {

class JsonObjectText {
 public:
  // Starts the object at the end of `out`.
  explicit JsonObjectText(std::string& out);

  JsonObjectText& field(std::string_view name, std::string_view value);
  JsonObjectText& field(std::string_view name, const char* value) { return field(name, std::string_view(value)); }
  JsonObjectText& field(std::string_view name, uint64_t value);
  JsonObjectText& field(std::string_view name, int64_t value);
  JsonObjectText& field(std::string_view name, bool value);
  // Ends the object, and the text with a newline (as every body does).
  void end();

 private:
  void name(std::string_view name);
  template <typename Integer>
  JsonObjectText& number(std::string_view name, Integer value);

  std::string& out_;
  bool first_ = true;
};

// `text` as a JSON string, quotes included, appended to `out`.
void append_json_string(std::string_view text, std::string& out);

}  // namespace synod::http
