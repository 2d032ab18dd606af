// The response head written without Beast (http/response_head.h): the exact
// bytes, the bodiless statuses, and a header that would split the response.
#include <catch2/catch.hpp>

#include "http/response_head.h"

using synod::http::append_response_head;
using synod::http::Header;
using synod::http::Response;

TEST_CASE("a response head names the status, the headers and the body's length", "[api][response_head]") {
  Response response;
  response.status = 409;
  response.body = R"({"error":"lock_held"})";
  response.headers.push_back(Header{"x-synod-index", "42"});
  response.headers.push_back(Header{"retry-after", "1"});
  std::string head = "left from the last answer";
  head.clear();
  append_response_head(response, true, head);
  CHECK(head ==
        "HTTP/1.1 409 Conflict\r\n"
        "Server: synod\r\n"
        "Content-Type: application/json\r\n"
        "X-Synod-Index: 42\r\n"
        "Retry-After: 1\r\n"
        "Content-Length: 21\r\n"
        "\r\n");
}

TEST_CASE("a response head says when the connection closes", "[api][response_head]") {
  Response response;
  response.content_type = "text/plain; charset=utf-8";
  std::string head;
  append_response_head(response, false, head);
  CHECK(head ==
        "HTTP/1.1 200 OK\r\n"
        "Server: synod\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Connection: close\r\n"
        "Content-Length: 0\r\n"
        "\r\n");
}

TEST_CASE("a response head appends to what the buffer holds", "[api][response_head]") {
  Response response;
  response.status = 204;
  std::string head = "before|";
  append_response_head(response, true, head);
  CHECK(head.rfind("before|HTTP/1.1 204 No Content\r\n", 0) == 0);
  CHECK(head.find("Content-Length") == std::string::npos);  // 204 has no body
  CHECK(head.ends_with("\r\n\r\n"));
}

TEST_CASE("a header with CR or LF is left out of the head", "[api][response_head]") {
  Response response;
  response.headers.push_back(Header{"x-synod-leader", "1\r\nSet-Cookie: a=b"});
  response.headers.push_back(Header{"x-bad\nname", "1"});
  response.headers.push_back(Header{"x-synod-index", "7"});
  std::string head;
  append_response_head(response, true, head);
  CHECK(head.find("Set-Cookie") == std::string::npos);
  CHECK(head.find("X-Bad") == std::string::npos);
  CHECK(head.find("X-Synod-Index: 7\r\n") != std::string::npos);
  // Exactly one blank line, at the end: nothing split the head.
  CHECK(head.find("\r\n\r\n") == head.size() - 4);
}

TEST_CASE("an unknown or impossible status keeps the head well formed", "[api][response_head]") {
  Response response;
  response.status = 299;
  std::string head;
  append_response_head(response, true, head);
  CHECK(head.rfind("HTTP/1.1 299 Unknown\r\n", 0) == 0);
  response.status = 42;
  head.clear();
  append_response_head(response, true, head);
  CHECK(head.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0) == 0);
  CHECK(synod::http::canonical_header_name("x-synod-forwarded-to") == "X-Synod-Forwarded-To");
}
