// The client API's pure decoding (http/request.h) and its route table
// (http/routes.h), held to docs/openapi.yaml with the observability routes
// (http/observability.h): no node, no sockets.
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "http/observability.h"
#include "http/request.h"
#include "http/routes.h"
#include "lockservice/state_machine.h"

namespace synod::http {
namespace {

namespace ls = synod::lockservice;

Decoded decode(std::string_view method, std::string_view target, std::string_view body = {},
               std::string_view idempotency_key = {}) {
  const auto question = target.find('?');
  RawRequest raw;
  raw.method = method;
  raw.path = target.substr(0, question);
  raw.query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  raw.body = body;
  raw.idempotency_key = idempotency_key;
  return decode_request(raw);
}

// The code a refused request gets ("" if it decodes).
std::string code_of(std::string_view method, std::string_view target, std::string_view body = {}) {
  const Decoded d = decode(method, target, body);
  return d.request ? std::string() : d.error.code;
}

ApiRequest ok(std::string_view method, std::string_view target, std::string_view body = {}) {
  const Decoded d = decode(method, target, body);
  INFO(method << " " << target << " " << body << " -> " << d.error.code << ": " << d.error.message);
  REQUIRE(d.request);
  return *d.request;
}

// The operations under `paths:` of docs/openapi.yaml, (method, path) ->
// operationId, read line by line: the document keeps paths at two spaces,
// methods at four and an operation's fields at six.
std::map<std::pair<std::string, std::string>, std::string> documented_routes() {
  std::ifstream file(std::string(SYNOD_SOURCE_DIR) + "/docs/openapi.yaml");
  REQUIRE(file);
  std::map<std::pair<std::string, std::string>, std::string> out;
  std::string line, path;
  std::pair<std::string, std::string> operation;
  bool in_paths = false;
  while (std::getline(file, line)) {
    if (!line.empty() && line[0] != ' ') in_paths = line == "paths:";
    if (!in_paths) continue;
    if (line.rfind("  /", 0) == 0 && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
      continue;
    }
    for (const char* method : {"get", "post", "put", "delete", "patch", "head"}) {
      if (line == std::string("    ") + method + ":") {
        std::string upper = method;
        for (auto& c : upper) c = static_cast<char>(c - 'a' + 'A');
        operation = {upper, path};
        out.emplace(operation, "");
      }
    }
    const std::string id_field = "      operationId: ";
    if (line.rfind(id_field, 0) == 0 && out.count(operation)) out[operation] = line.substr(id_field.size());
  }
  return out;
}

// The observability routes are not in the route table: the node hands a
// request to serve_observability first (server/node.cpp). A fake node for it.
class FakeObservability : public ObservabilityApi {
 public:
  void observe_http(std::string_view, int, double) override {}
  void set_watchers(uint64_t) override {}
  void metrics_text(std::function<void(std::string)> done) override { done("synod_up 1\n"); }
  void status(lockservice::Credential, std::function<void(const StatusSnapshot*, const StatusDenial*)> done) override {
    const StatusSnapshot snapshot;
    done(&snapshot, nullptr);
  }
};

// What serve_observability answers for GET path: its status, or 0 when it
// leaves the request to the client API.
int observability_status(const std::string& method, const std::string& path) {
  FakeObservability node;
  Request request;
  request.method = method;
  request.path = path;
  request.target = path;
  int status = 0;
  Responder respond([&status](Response response) { status = response.status; });
  return serve_observability(request, respond, node) ? status : 0;
}

// A path template with each {param} filled in.
std::string concrete(std::string path) {
  for (size_t open; (open = path.find('{')) != std::string::npos;) path.replace(open, path.find('}') - open + 1, "x");
  return path;
}

TEST_CASE("every route served is in docs/openapi.yaml, and every documented route is served", "[api][openapi]") {
  const auto documented = documented_routes();
  CHECK(documented.size() >= 20);
  std::set<std::pair<std::string, std::string>> served;
  for (const Route& route : routes()) {
    const std::pair<std::string, std::string> key{std::string(route.method), std::string(route.path)};
    served.insert(key);
    const std::string name = key.first + " " + key.second;
    {
      INFO("served but not documented: " << name);
      CHECK(documented.count(key));
    }
    if (!documented.count(key)) continue;
    {
      INFO(name << ": its operationId must be the route table's name for it");
      CHECK(documented.at(key) == op_name(route.op));
    }
    INFO(name << " is the client API's, not an observability route");
    CHECK(observability_status(key.first, concrete(key.second)) == 0);
  }
  // GET /, /metrics and /v1/status, which the node serves before the route table.
  for (const char* path : {"/", "/metrics", "/v1/status"}) {
    INFO("served but not documented: GET " << path);
    CHECK(observability_status("GET", path) == 200);
    CHECK(documented.count({"GET", path}));
    CHECK(observability_status("POST", path) == 405);  // GET only, as the document says
  }
  for (const auto& [route, id] : documented) {
    {
      INFO("documented but not served: " << route.first << " " << route.second);
      CHECK((served.count(route) || observability_status(route.first, route.second) == 200));
    }
    INFO("no operationId: " << route.first << " " << route.second);
    CHECK(!id.empty());
  }
}

TEST_CASE("every route in the table is matched, with its parameter", "[api][routes]") {
  for (const Route& route : routes()) {
    std::string path(route.path);
    const auto open = path.find('{');
    if (open != std::string::npos) path.replace(open, path.find('}') - open + 1, "x");
    const RouteMatch match = match_route(route.method, path);
    INFO(route.method << " " << path);
    REQUIRE(match.kind == RouteMatch::Kind::found);
    CHECK(match.op == route.op);
    if (open != std::string::npos) CHECK(match.param == "x");
  }
  CHECK(match_route("GET", "/v1/kv/a/b/c").param == "a/b/c");
  CHECK(match_route("GET", "/v1/kv/").param.empty());
  CHECK(match_route("GET", "/v1/watch/").kind == RouteMatch::Kind::found);
  CHECK(match_route("GET", "/v1/locks/a/b").kind == RouteMatch::Kind::no_route);  // a name is one segment
  CHECK(match_route("GET", "/v1/locks/a%2Fb").param == "a%2Fb");
  CHECK(match_route("GET", "/v1/sessions/").kind == RouteMatch::Kind::no_route);
  const RouteMatch wrong = match_route("PATCH", "/v1/locks/x");
  CHECK(wrong.kind == RouteMatch::Kind::method_not_allowed);
  CHECK(wrong.allow == "POST, DELETE, GET");
}

TEST_CASE("one request takes a fenced lock: a session-less acquire creates its session", "[api][decode][lock]") {
  const ApiRequest r = ok("POST", "/v1/locks/db?ttl=15s&lock_delay=2s");
  REQUIRE(r.command);
  const auto& both = std::get<ls::CreateSessionAnd>(*r.command);
  CHECK(both.create.ttl_ms == 15'000);
  CHECK(both.create.lock_delay_ms == 2'000);
  const auto& acquire = std::get<ls::Acquire>(both.then);
  CHECK(acquire.lock == "db");
  CHECK(acquire.wait == ls::WaitMode::try_once);
  // The same from a JSON body, with a wait.
  const ApiRequest body = ok("POST", "/v1/locks/db", R"({"ttl":"10s","wait":"1.5s"})");
  const auto& timed = std::get<ls::Acquire>(std::get<ls::CreateSessionAnd>(*body.command).then);
  CHECK(timed.wait == ls::WaitMode::timeout);
  CHECK(timed.wait_ms == 1'500);
  CHECK(body.wait_ms == 1'500);
}

TEST_CASE("acquire modes: try, wait, queue; kinds: exclusive, read/write, semaphore", "[api][decode][lock]") {
  auto acquire_of = [](const ApiRequest& r) { return std::get<ls::Acquire>(*r.command); };
  const auto tried = acquire_of(ok("POST", "/v1/locks/l?session=42"));
  CHECK(tried.session == 42);
  CHECK(tried.wait == ls::WaitMode::try_once);
  CHECK(tried.kind == ls::LockKind::exclusive);
  const auto queued = acquire_of(ok("POST", "/v1/locks/l?session=42&queue&wait=2s"));
  CHECK(queued.wait == ls::WaitMode::queue);
  CHECK(queued.wait_ms == 0);
  const auto reader = acquire_of(ok("POST", "/v1/locks/l", R"({"session":"42","mode":"read"})"));
  CHECK(reader.kind == ls::LockKind::shared);
  CHECK(reader.access == ls::Access::read);
  const auto permits = acquire_of(ok("POST", "/v1/locks/l?session=42&mode=semaphore&limit=3"));
  CHECK(permits.kind == ls::LockKind::semaphore);
  CHECK(permits.limit == 3);
  CHECK(code_of("POST", "/v1/locks/l?session=42&mode=semaphore") == "missing_parameter");
  CHECK(code_of("POST", "/v1/locks/l?session=42&limit=3") == "conflicting_parameters");
  CHECK(code_of("POST", "/v1/locks/l?session=42&ttl=10s") == "conflicting_parameters");
  CHECK(code_of("POST", "/v1/locks/l") == "missing_parameter");
  CHECK(code_of("POST", "/v1/locks/l?session=42", R"({"session":"42"})") == "conflicting_parameters");
  CHECK(code_of("POST", "/v1/locks/l?session=42&wait=6m") == "bad_wait");
  CHECK(code_of("POST", "/v1/locks/l?ttl=1s") == "bad_ttl");
  CHECK(code_of("POST", "/v1/locks/l?ttl=10s&lock_delay=61s") == "bad_lock_delay");
}

TEST_CASE("keys come from the path as absolute keys, with the lock service's rules", "[api][decode][kv]") {
  CHECK(ok("GET", "/v1/kv/a/b").name == "/a/b");
  CHECK(ok("GET", "/v1/kv/a%2Fb").name == "/a/b");
  CHECK(ok("GET", "/v1/kv/?recurse").name.empty());
  CHECK(code_of("GET", "/v1/kv/") == "bad_key");
  CHECK(code_of("GET", "/v1/kv/a//b") == "bad_key");
  CHECK(code_of("GET", "/v1/kv/a/../b") == "bad_key");
  CHECK(code_of("GET", "/v1/kv/a/./b") == "bad_key");
  CHECK(code_of("GET", "/v1/kv/a/") == "bad_key");
  CHECK(code_of("GET", "/v1/kv/a%00b") == "bad_key");
  CHECK(code_of("GET", "/v1/kv/a%ffb") == "bad_key");
  CHECK(code_of("GET", "/v1/kv/caf%C3%A9") == "bad_key");  // UTF-8, but not a key character
  CHECK(code_of("GET", "/v1/kv/a%zz") == "bad_key");
  CHECK(code_of("GET", "/v1/kv/" + std::string(512, 'k')) == "key_too_long");
  CHECK(ok("GET", "/v1/kv/" + std::string(511, 'k')).name.size() == 512);
}

TEST_CASE("znode paths come from the path, read only; ZooKeeper's rules are left to execution",
          "[api][decode][znodes]") {
  const ApiRequest root = ok("GET", "/v1/znodes");
  CHECK(root.op == Op::znode_get_root);
  CHECK(root.name == "/");
  CHECK(ok("GET", "/v1/znodes/").name == "/");
  const ApiRequest nested = ok("GET", "/v1/znodes/app/config?children&stale");
  CHECK(nested.op == Op::znode_get);
  CHECK(nested.name == "/app/config");
  CHECK(nested.children);
  CHECK(nested.stale);
  CHECK_FALSE(ok("GET", "/v1/znodes/app").children);
  CHECK(ok("GET", "/v1/znodes/a%2Fb").name == "/a/b");
  CHECK(ok("GET", "/v1/znodes/caf%C3%A9%20x").name == "/café x");  // any UTF-8 ZooKeeper allows
  CHECK(ok("GET", "/v1/znodes/a//b").name == "/a//b");             // refused by execution (bad_path)
  CHECK(code_of("GET", "/v1/znodes/a%zz") == "bad_path");
  CHECK(code_of("GET", "/v1/znodes/" + std::string(4096, 'z')) == "bad_path");
  CHECK(ok("GET", "/v1/znodes/" + std::string(4095, 'z')).name.size() == 4096);
  CHECK(code_of("GET", "/v1/znodes/a?recurse") == "unknown_parameter");
  CHECK(code_of("GET", "/v1/znodes/a", "x") == "unexpected_body");
  CHECK(code_of("PUT", "/v1/znodes/a", "x") == "method_not_allowed");
  CHECK(code_of("DELETE", "/v1/znodes") == "method_not_allowed");
  CHECK(match_route("GET", "/v1/znodes/a/b").param == "a/b");
  CHECK(match_route("GET", "/v1/znodesx").kind == RouteMatch::Kind::no_route);
}

TEST_CASE("the HTTP layer's key and name rules agree with the lock service's", "[api][decode][kv]") {
  ls::StateMachine machine;
  uint64_t slot = 0;
  auto applies = [&](const ls::Command& command) {
    const std::string payload = ls::encode(command, 1);
    return machine.apply(ls::LogEntry{++slot, 0, 0, 0, payload}).status;
  };
  const std::vector<std::string> keys = {
      "/a", "/a/b", "/a-b_c~d:e@f+g=h,i.j", "a", "/", "//", "/a//b", "/a/", "/.", "/..", "/a/..", "/a/.b",
      "/a b", "/a?b", "/a%b", "/é", std::string("/a\0b", 4), "/" + std::string(511, 'x'), "/" + std::string(512, 'x')};
  for (const auto& key : keys) {
    INFO("key " << key);
    const bool http_ok = key_problem(key, 512).empty();
    ls::Put put;
    put.key = key;
    CHECK(http_ok == (applies(put) == ls::Status::ok));
  }
  const std::vector<std::string> names = {"db", "a/b", "x.y", "", "a b", "é", "a\nb", std::string(256, 'n'),
                                          std::string(257, 'n')};
  const ls::SessionId session = machine.apply(ls::LogEntry{++slot, 0, 0, 0, ls::encode(ls::CreateSession{10'000, 0, ls::Behavior::release}, 1)}).session;
  for (const auto& name : names) {
    INFO("name " << name);
    const bool http_ok = name_problem(name, 256).empty();
    ls::Acquire acquire;
    acquire.lock = name;
    acquire.session = session;
    const auto status = applies(acquire);
    CHECK(http_ok == (status == ls::Status::ok));
    if (status == ls::Status::ok) applies(ls::Release{name, session});
  }
}

TEST_CASE("key writes: ephemeral, sequential, compare-and-set, fenced", "[api][decode][kv]") {
  const ApiRequest r = ok("PUT", "/v1/kv/app/config?session=7&cas=0&lock=db&token=99", "value bytes");
  const auto& put = std::get<ls::Put>(*r.command);
  CHECK(put.key == "/app/config");
  CHECK(put.value == "value bytes");
  CHECK(put.session == 7);
  CHECK(put.cas == ls::Revision{0});
  CHECK(put.fence == ls::Fence{"db", 99});
  CHECK(std::get<ls::Put>(*ok("PUT", "/v1/kv/q/item?sequential", "x").command).sequential);
  CHECK(code_of("PUT", "/v1/kv/a?lock=db") == "missing_parameter");
  CHECK(code_of("PUT", "/v1/kv/a?sequential&cas=3") == "conflicting_parameters");
  CHECK(code_of("PUT", "/v1/kv/a", std::string(64 * 1024 + 1, 'v')) == "value_too_large");
  CHECK(decode("PUT", "/v1/kv/a", std::string(64 * 1024 + 1, 'v')).error.status == 413);
  const ApiRequest deleted = ok("DELETE", "/v1/kv/app?recurse&cas=5");
  const auto& erase = std::get<ls::DeleteKey>(*deleted.command);
  CHECK(erase.prefix);
  CHECK(erase.cas == ls::Revision{5});
}

TEST_CASE("reads: stale, raw, recurse paging, long-polls after an index", "[api][decode][kv]") {
  const ApiRequest r = ok("GET", "/v1/kv/app?recurse&after=/app/b&limit=10&stale");
  CHECK(r.recurse);
  CHECK(r.stale);
  CHECK(r.after == "/app/b");
  CHECK(r.limit == 10);
  const ApiRequest poll = ok("GET", "/v1/kv/app?index=77&wait=5s");
  CHECK(poll.index == ls::Revision{77});
  CHECK(poll.wait_ms == 5'000);
  CHECK(ok("GET", "/v1/elections/e?index=3").wait_ms == 30'000);  // an index alone waits 30 s
  CHECK(code_of("GET", "/v1/kv/app?wait=5s") == "missing_parameter");
  CHECK(code_of("GET", "/v1/kv/app?raw&recurse") == "conflicting_parameters");
  CHECK(code_of("GET", "/v1/kv/app?limit=10") == "conflicting_parameters");
  CHECK(code_of("GET", "/v1/kv/app?stale=maybe") == "bad_value");
  CHECK(code_of("GET", "/v1/kv/app?index=-1") == "bad_number");
  CHECK(code_of("GET", "/v1/kv/app?index=99999999999999999999") == "bad_number");
  CHECK(code_of("GET", "/v1/kv/app?colour=blue") == "unknown_parameter");
  CHECK(code_of("GET", "/v1/kv/app?stale&stale") == "duplicate_parameter");
  CHECK(code_of("GET", "/v1/kv/app", "body") == "unexpected_body");
}

TEST_CASE("JSON bodies: malformed, too deep, wrong types, unknown fields", "[api][decode][json]") {
  CHECK(code_of("POST", "/v1/sessions", "{") == "bad_json");
  CHECK(code_of("POST", "/v1/sessions", "[]") == "bad_json");
  CHECK(code_of("POST", "/v1/sessions", "\"ttl\"") == "bad_json");
  CHECK(code_of("POST", "/v1/sessions", "{\"ttl\":\"\xff\"}") == "bad_json");  // not UTF-8
  CHECK(code_of("POST", "/v1/sessions", "[[[[[[[[[]]]]]]]]]") == "json_too_deep");
  CHECK(code_of("POST", "/v1/sessions", R"({"ttl":15})") == "bad_type");
  CHECK(code_of("POST", "/v1/sessions", R"({"ttl":"15"})") == "bad_duration");
  CHECK(code_of("POST", "/v1/sessions", R"({"ttl":"15s","colour":"blue"})") == "unknown_field");
  CHECK(code_of("POST", "/v1/sessions", R"({"behavior":"vanish"})") == "bad_value");
  CHECK(code_of("POST", "/v1/locks/l", R"({"session":42})") == "bad_type");
  CHECK(code_of("POST", "/v1/locks/l", R"({"session":"0"})") == "bad_session");
  CHECK(code_of("POST", "/v1/locks/l", R"({"session":"1","queue":"yes"})") == "bad_type");
  CHECK(code_of("POST", "/v1/elections/e/proclaim", R"({"token":-1})") == "bad_type");
  CHECK(code_of("POST", "/v1/elections/e/proclaim", R"({"token":1.5})") == "bad_type");
  // A string with brackets does not count as depth.
  CHECK(code_of("POST", "/v1/sessions", R"({"ttl":"[[[[[[[[[[[[[[["})") == "bad_duration");
  // An empty body is an empty object.
  CHECK(std::get<ls::CreateSession>(*ok("POST", "/v1/sessions").command).ttl_ms == 15'000);
}

TEST_CASE("membership: add, promote, remove, with addresses and ids checked", "[api][decode][members]") {
  CHECK(ok("GET", "/v1/cluster/members").op == Op::members_list);
  const auto add = ok("POST", "/v1/cluster/members", R"({"peer_addr":"10.0.0.4:7101","client_addr":"n4.local:7001"})");
  REQUIRE(add.member_change);
  CHECK(add.op == Op::member_add);
  CHECK(add.member_change->kind == MemberChange::Kind::add);
  CHECK(add.member_change->id == 0);  // the cluster's next id
  CHECK(add.member_change->peer_addr == "10.0.0.4:7101");
  CHECK(add.member_change->client_addr == "n4.local:7001");
  CHECK(ok("POST", "/v1/cluster/members", R"({"peer_addr":"[::1]:1","client_addr":"a:2","id":9})").member_change->id ==
        9);
  const auto promote = ok("POST", "/v1/cluster/members/4/promote");
  CHECK((promote.member_change->kind == MemberChange::Kind::promote && promote.member_change->id == 4));
  const auto remove = ok("DELETE", "/v1/cluster/members/3");
  CHECK((remove.member_change->kind == MemberChange::Kind::remove && remove.member_change->id == 3));
  CHECK(code_of("POST", "/v1/cluster/members", R"({"peer_addr":"a:1")") == "bad_json");
  CHECK(code_of("POST", "/v1/cluster/members", R"({"client_addr":"a:1"})") == "missing_parameter");
  CHECK(code_of("POST", "/v1/cluster/members", R"({"peer_addr":"a","client_addr":"a:1"})") == "bad_value");
  CHECK(code_of("POST", "/v1/cluster/members", R"({"peer_addr":"a:0","client_addr":"a:1"})") == "bad_value");
  CHECK(code_of("POST", "/v1/cluster/members", R"({"peer_addr":"a:70000","client_addr":"a:1"})") == "bad_value");
  CHECK(code_of("POST", "/v1/cluster/members", R"({"peer_addr":"a b:1","client_addr":"a:1"})") == "bad_value");
  CHECK(code_of("POST", "/v1/cluster/members", R"({"peer_addr":"a:1","client_addr":"a:2","id":0})") == "bad_id");
  CHECK(code_of("POST", "/v1/cluster/members", R"({"peer_addr":"a:1","client_addr":"a:2","id":"4"})") == "bad_type");
  CHECK(code_of("POST", "/v1/cluster/members", R"({"peer_addr":"a:1","client_addr":"a:2","role":"x"})") ==
        "unknown_field");
  CHECK(code_of("POST", "/v1/cluster/members/0/promote") == "bad_id");
  CHECK(code_of("DELETE", "/v1/cluster/members/x") == "bad_id");
  CHECK(code_of("DELETE", "/v1/cluster/members/4294967296") == "bad_id");
  CHECK(code_of("PUT", "/v1/cluster/members/4") == "method_not_allowed");
}

TEST_CASE("transactions decode guards and operations strictly", "[api][decode][txn]") {
  const ApiRequest r = ok("POST", "/v1/txn", R"({
    "guards": [{"kind":"version_equals","key":"/a","version":3},
               {"kind":"holder","lock":"db","session":"12"},
               {"kind":"token_current","lock":"db","token":77},
               {"kind":"missing","key":"/b"}],
    "ops": [{"op":"put","key":"/a","value":"x","lock":"db","token":77},
            {"op":"put","key":"/bin","value_base64":"/wA="},
            {"op":"delete","key":"/c","recurse":true}]})");
  const auto& txn = std::get<ls::Txn>(*r.command);
  REQUIRE(txn.guards.size() == 4);
  CHECK(txn.guards[0] == ls::Guard{ls::GuardKind::version_equals, "/a", 3, 0});
  CHECK(txn.guards[1] == ls::Guard{ls::GuardKind::holder, "db", 0, 12});
  CHECK(txn.guards[2] == ls::Guard{ls::GuardKind::token_current, "db", 77, 0});
  REQUIRE(txn.ops.size() == 3);
  CHECK(std::get<ls::Put>(txn.ops[0]).fence == ls::Fence{"db", 77});
  CHECK(std::get<ls::Put>(txn.ops[1]).value == std::string("\xff\0", 2));
  CHECK(std::get<ls::DeleteKey>(txn.ops[2]).prefix);
  CHECK(code_of("POST", "/v1/txn", R"({"guards":[{"kind":"exists"}]})") == "missing_field");
  CHECK(code_of("POST", "/v1/txn", R"({"guards":[{"kind":"exists","key":"/a","version":1}]})") == "unknown_field");
  CHECK(code_of("POST", "/v1/txn", R"({"ops":[{"op":"upsert","key":"/a"}]})") == "bad_value");
  CHECK(code_of("POST", "/v1/txn", R"({"ops":{}})") == "bad_type");
  CHECK(code_of("POST", "/v1/txn", R"({"ops":[{"op":"put","key":"/a","value_base64":"!!"}]})") == "bad_value");
  CHECK(code_of("POST", "/v1/txn", R"({"ops":[{"op":"put","key":"/a","value":"x","value_base64":"eA=="}]})") ==
        "conflicting_parameters");
  std::string many = R"({"ops":[)";
  for (int i = 0; i < 65; ++i) many += std::string(i ? "," : "") + R"({"op":"delete","key":"/k"})";
  CHECK(code_of("POST", "/v1/txn", many + "]}") == "txn_too_large");
  CHECK(code_of("POST", "/v1/txn?x=1", "{}") == "unknown_parameter");
}

TEST_CASE("routes, methods and headers", "[api][decode]") {
  const Decoded missing = decode("GET", "/v2/nothing");
  CHECK(missing.error.status == 404);
  CHECK(missing.error.code == "no_route");
  const Decoded wrong = decode("PUT", "/v1/sessions");
  CHECK(wrong.error.status == 405);
  CHECK(wrong.error.allow == "POST, GET");
  CHECK(ok("POST", "/v1/sessions", {}).idempotency_key.empty());
  CHECK(decode("POST", "/v1/sessions", {}, "key-1").request->idempotency_key == "key-1");
  CHECK(decode("POST", "/v1/sessions", {}, "has space").error.code == "bad_idempotency_key");
  CHECK(decode("POST", "/v1/sessions", {}, std::string(129, 'k')).error.code == "bad_idempotency_key");
  CHECK(code_of("GET", "/v1/sessions/abc") == "bad_session");
  CHECK(code_of("GET", "/v1/locks/..") == "bad_name");
  CHECK(code_of("GET", "/v1/locks/a%00") == "bad_name");
  CHECK(code_of("GET", "/v1/locks/" + std::string(257, 'n')) == "name_too_long");
  CHECK(code_of("GET", "/v1/watch/?space=planets") == "bad_value");
  CHECK(ok("GET", "/v1/watch/app?space=key").name == "/app");
  CHECK(ok("GET", "/v1/watch/app/").name == "/app/");
  CHECK(code_of("GET", "/v1/watch/app//") == "bad_key");
  CHECK(ok("GET", "/v1/watch/db?space=lock").name == "db");
  CHECK(!ok("GET", "/v1/watch/?space=all").watch_space);
}

TEST_CASE("the helpers: durations, UTF-8, base64, idempotency ids", "[api][decode]") {
  CHECK(parse_duration_ms("15s") == 15'000);
  CHECK(parse_duration_ms("500ms") == 500);
  CHECK(parse_duration_ms("1.5s") == 1'500);
  CHECK(parse_duration_ms("2m") == 120'000);
  CHECK(parse_duration_ms("1h") == 3'600'000);
  for (const char* bad : {"", "15", "s", "1.s", "-1s", "1d", "1e3ms", "99999999999999s", "1.5.5s"}) {
    INFO(bad);
    CHECK(!parse_duration_ms(bad));
  }
  CHECK(valid_utf8("plain"));
  CHECK(valid_utf8("caf\xc3\xa9"));
  CHECK(!valid_utf8("\xc3"));
  CHECK(!valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK(!valid_utf8("\xed\xa0\x80"));      // a surrogate
  CHECK(!valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  std::mt19937 random(7);
  for (int i = 0; i < 200; ++i) {
    std::string bytes(static_cast<size_t>(random() % 40), '\0');
    for (auto& b : bytes) b = static_cast<char>(random());
    CHECK(base64_decode(base64_encode(bytes)) == bytes);
  }
  CHECK(base64_encode("abc") == "YWJj");
  CHECK(base64_encode("ab") == "YWI=");
  CHECK(!base64_decode("YW=j"));
  CHECK(idempotency_client_id("k") == idempotency_client_id("k"));
  CHECK(idempotency_client_id("k") != idempotency_client_id("K"));
  CHECK(idempotency_client_id("") != 0);
}

TEST_CASE("decoding random requests never throws and always answers", "[api][decode][fuzz]") {
  std::mt19937 random(20261127);
  const std::vector<std::string> methods = {"GET", "POST", "PUT", "DELETE", "PATCH", ""};
  const std::vector<std::string> paths = {"/v1/locks/", "/v1/kv/", "/v1/txn", "/v1/sessions/", "/v1/elections/",
                                          "/v1/watch/", "/", ""};
  const std::string alphabet = "ab/%.{}[]\":,0123456789?&=sxtwq\\\xff\x00 ";
  size_t decoded = 0;
  for (int i = 0; i < 20'000; ++i) {
    auto pick = [&](size_t n) { return static_cast<size_t>(random() % n); };
    std::string target = paths[pick(paths.size())];
    const size_t length = pick(24);
    for (size_t k = 0; k < length; ++k) target += alphabet[pick(alphabet.size())];
    std::string body;
    if (pick(2)) body = R"({"ttl":"10s","session":"5","wait":"1s","ops":[{"op":"put","key":"/a"}]})";
    for (size_t k = pick(6); k > 0 && !body.empty(); --k) body[pick(body.size())] = alphabet[pick(alphabet.size())];
    const Decoded d = decode(methods[pick(methods.size())], target, body);
    if (d.request) ++decoded;
    else CHECK((d.error.status >= 400 && d.error.status < 500 && !d.error.code.empty()));
  }
  CHECK(decoded > 0);
}

}  // namespace
}  // namespace synod::http
