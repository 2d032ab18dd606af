// The head of an HTTP/1.1 response, written into a buffer the connection
// keeps (issue 18: "reuse buffers and avoid per-request heap allocation").
//
// Beast's response<string_body> stores every header as an element of its
// own on the heap, and the server made one per answer: a DWARF profile of
// puts at 64 clients named basic_fields::new_element among the allocator's
// three largest callers. An answer's head is a few short lines, so it is
// written here straight into `out`, whose capacity the connection reuses;
// the body goes beside it in the same write.
//
// What it writes, in this order: the status line, Server, Content-Type,
// the response's own headers (names canonicalised: "x-synod-index" becomes
// "X-Synod-Index"), Connection: close when the connection ends, and
// Content-Length (not for 1xx, 204 and 304, which have no body). A header
// whose name or value holds CR or LF is left out: such bytes would split
// the response (no caller makes one; the keys and names they carry are
// checked, so this guards a mistake, not input).
//
// Pure; any thread.
#pragma once

#include <string>
#include <string_view>

#include "http/server.h"

namespace synod::http {

// The reason phrase for `status` ("OK", "Not Found"; "Unknown" if not one
// this server might send).
std::string_view reason_phrase(int status);

// "x-synod-index" → "X-Synod-Index": header names are case-insensitive, but
// people read them in curl -i.
std::string canonical_header_name(std::string_view name);

// Appends the head of `response` (everything before its body) to `out`.
void append_response_head(const Response& response, bool keep_alive, std::string& out);

}  // namespace synod::http
