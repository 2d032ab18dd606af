#include "http/response_head.h"

#include <charconv>

namespace synod::http {

namespace {

bool splits_lines(std::string_view text) { return text.find_first_of("\r\n") != std::string_view::npos; }

// "x-synod-index" → "X-Synod-Index": header names are case-insensitive, but
// people read them in curl -i.
void append_canonical(std::string_view name, std::string& out) {
  bool start = true;
  for (char c : name) {
    if (start && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    start = c == '-';
    out.push_back(c);
  }
}

void append_number(uint64_t value, std::string& out) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, static_cast<size_t>(end - digits));
}

void append_field(std::string_view name, std::string_view value, std::string& out) {
  append_canonical(name, out);
  out += ": ";
  out += value;
  out += "\r\n";
}

}  // namespace

std::string canonical_header_name(std::string_view name) {
  std::string out;
  append_canonical(name, out);
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Entity";
    case 423:
      return "Locked";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void append_response_head(const Response& response, bool keep_alive, std::string& out) {
  const int status = response.status >= 100 && response.status <= 999 ? response.status : 500;
  out += "HTTP/1.1 ";
  append_number(static_cast<uint64_t>(status), out);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\n";
  append_field("server", "synod", out);
  if (!splits_lines(response.content_type)) append_field("content-type", response.content_type, out);
  for (const auto& header : response.headers) {
    if (splits_lines(header.name) || splits_lines(header.value)) continue;
    append_field(header.name, header.value, out);
  }
  if (!keep_alive) append_field("connection", "close", out);
  const bool bodiless = status < 200 || status == 204 || status == 304;
  if (!bodiless) {
    out += "Content-Length: ";
    append_number(response.body.size(), out);
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace synod::http
