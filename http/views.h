// The client API's JSON views (DESIGN §5, docs/api.md): how the lock
// service's state, results and events are written as JSON and as
// server-sent events, and the JSON error body every refusal uses. The field
// names here are the published API: change them only on purpose.
//
// Pure functions (no node, no clock, no globals); any thread: the API calls
// them on the node's owner thread (inside a read) and on HTTP threads.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/server.h"
#include "lockservice/state_machine.h"
#include "lockservice/types.h"

namespace synod::http::views {

using json = nlohmann::json;
namespace ls = synod::lockservice;

// `body` as compact JSON and a final newline.
std::string json_text(const json& body);
// A response with `body` as compact JSON and a final newline.
Response json_response(int status, const json& body);
// A response whose body is JSON text already written (JsonObjectText),
// newline included.
Response json_text_response(int status, std::string text);
// {"error":{"code","message","retryable"}}, without the X-Synod headers
// (the caller stamps them).
Response error_body(int status, std::string_view code, std::string_view message);
// A page of a listing: `body` with "more" and, with more, "next_after": where
// the next page starts (?after=), the last item looked at, listed or not.
// With auth on a page may leave every item out, and the client still needs
// a place to go on from.
Response listing(json body, bool more, const std::string& next_after);
// Whether trying again can help, by error code.
bool retryable_code(std::string_view code);
// The HTTP status of a lock-service status.
int status_for(ls::Status status);
// The JSON body of a refused command: the error and what explains it (the
// holder, the lock delay, the failed guard...).
json result_error_json(const ls::Result& result);

std::string session_string(ls::SessionId id);
const char* space_name(ls::Space space);
// "value" as a string when it is UTF-8, else base64, and "encoding" says which.
void put_value(json& out, std::string_view value);
json stat_json(std::string_view key, const ls::KeyStat& stat);
// The same object as JSON text (a put's answer), written without nlohmann.
std::string stat_text(std::string_view key, const ls::KeyStat& stat);
json key_json(const ls::KeyView& view);
json session_json(const ls::SessionView& view);
json waiters_json(const std::vector<ls::WaiterView>& waiters);
json lock_json(std::string_view name, const std::optional<ls::LockView>& view, int64_t log_time_ms);
json election_json(std::string_view name, const std::optional<ls::ElectionView>& view);
json event_json(const ls::Event& event);
// A znode as GET /v1/znodes/{path} shows it: path, data (base64, always),
// ZooKeeper's Stat field for field, the ACL as kept, and with `children`
// the children's names (byte order).
json znode_json(const ls::ZnodeView& view, const std::vector<std::string>* children);

// One server-sent event; id 0 writes no id line.
std::string sse(std::string_view type, uint64_t id, const json& data);
// An event as its stream sends it: its type, its revision as the id.
std::string event_sse(const ls::Event& event);

}  // namespace synod::http::views
