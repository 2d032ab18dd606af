#include "http/json_text.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "http/text/text.h"

namespace synod::http {

void append_json_string(std::string_view text, std::string& out) {
  if (!valid_utf8(text)) {
    out += nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out.push_back(kHex[byte >> 4]);
          out.push_back(kHex[byte & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

JsonObjectText::JsonObjectText(std::string& out) : out_(out) { out_.push_back('{'); }

void JsonObjectText::name(std::string_view name) {
  if (!first_) out_.push_back(',');
  first_ = false;
  append_json_string(name, out_);
  out_.push_back(':');
}

JsonObjectText& JsonObjectText::field(std::string_view name, std::string_view value) {
  this->name(name);
  append_json_string(value, out_);
  return *this;
}

template <typename Integer>
JsonObjectText& JsonObjectText::number(std::string_view name, Integer value) {
  this->name(name);
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out_.append(digits, static_cast<size_t>(end - digits));
  return *this;
}

JsonObjectText& JsonObjectText::field(std::string_view name, uint64_t value) { return number(name, value); }
JsonObjectText& JsonObjectText::field(std::string_view name, int64_t value) { return number(name, value); }

JsonObjectText& JsonObjectText::field(std::string_view name, bool value) {
  this->name(name);
  out_ += value ? "true" : "false";
  return *this;
}

void JsonObjectText::end() { out_ += "}\n"; }

}  // namespace synod::http
