#include "http/credentials.h"

#include <algorithm>

namespace synod::http {

namespace {

bool token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::string_view bearer_token(std::string_view header, std::string& why) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), header.begin(), [](char a, char b) { return a == lower(b); })) {
    why = "Authorization must be 'Bearer TOKEN'";
    return {};
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.size() < kTokenBytesMin || token.size() > kTokenBytesMax ||
      !std::all_of(token.begin(), token.end(), token_char)) {
    why = "a token is " + std::to_string(kTokenBytesMin) + " to " + std::to_string(kTokenBytesMax) +
          " characters of A-Z a-z 0-9 - . _ ~ + / =";
    return {};
  }
  return token;
}

}  // namespace synod::http
