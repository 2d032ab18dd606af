// Long-polls (api_impl.h): bounded waits on the node's applied revision.
//   - a key or election read with ?index=N answers once an event after N
//     touches it, or when its wait ends;
//   - a blocking acquire or campaign answers its grant, its refusal, or
//     (queue mode, campaigns) its place in the queue when the wait ends
//     (how it learns the end: grant_wait.cpp).
// Every wait has a deadline: node.wait_for is called with the time left, and
// a wake-up past the deadline answers.
//
// Threads: started on the HTTP thread that handles the request; every
// wake-up runs on the node's owner thread, inside a read of the state.
#include <algorithm>

#include "base/assert.h"
#include "http/api_impl.h"
#include "http/json_text.h"
#include "http/read_scope.h"

namespace synod::http {

namespace ls = synod::lockservice;
using views::json;
using views::json_response;

namespace {

// The election events that change what GET /v1/elections/{name} shows.
bool election_changed(const ls::Event& e, const std::string& name) {
  return e.name == name && (e.type == ls::EventType::leader || e.type == ls::EventType::proclaimed ||
                            e.type == ls::EventType::no_leader);
}

// A timed wait (wait=D without queue) is ended by the lock service itself
// (timed_out); a queue or a campaign stays queued after the HTTP wait.
bool timed_wait(const ls::Command& command) {
  const auto* acquire = std::get_if<ls::Acquire>(&command);
  const auto* both = std::get_if<ls::CreateSessionAnd>(&command);
  const ls::Acquire* inner = acquire ? acquire : both ? std::get_if<ls::Acquire>(&both->then) : nullptr;
  return inner && inner->wait == ls::WaitMode::timeout;
}

}  // namespace

void Api::Impl::acquire(const CallPtr& c) {
  SYNOD_ASSERT(c->req.command);
  // A waiting acquire long-polls for its grant on the node that answers it:
  // the leader sees the grant first, so it goes there; a try needs no wait.
  const auto route = c->req.wait_ms == 0 ? &Impl::via_node : &Impl::to_leader;
  (this->*route)(c, [this, c] {
    const int64_t started = steady_now_ms();
    propose(c, *c->req.command, [this, c, started](const Outcome& outcome) {
      const ls::Result& result = outcome.result;
      if (result.status == ls::Status::ok) {
        return reply(c, views::json_text_response(200, grant_text(c, result)), outcome.revision, outcome.leader);
      }
      if (result.status != ls::Status::queued) {
        return answer_result(c, result, outcome.revision, outcome.leader, nullptr);
      }
      c->req.session = result.session;
      if (c->req.wait_ms == 0) {
        return reply(c, views::json_text_response(202, grant_text(c, result)), outcome.revision, outcome.leader);
      }
      // The HTTP wait of a timed wait lasts a margin longer, so that the lock
      // service's timeout is what answers it. A queue or a campaign answers
      // 202 with its position when the HTTP wait ends, and so does a request
      // that found its session queued without a deadline (it joined that wait).
      GrantWait wait;
      wait.queued_at = result.revision;
      wait.scanned = result.revision;
      wait.timed = timed_wait(*c->req.command) && result.until_ms != ls::kNoDeadline;
      wait.deadline_ms = started + c->req.wait_ms + (wait.timed ? options.grant_margin_ms : 0);
      await_grant(c, wait);
    });
  });
}

void Api::Impl::election_get(const CallPtr& c) {
  auto answer = [this, c] {
    read(c, [c](const ReadContext& context) {
      auto view = context.machine->election(c->req.name);
      if (view) ReadScope(*context.machine, c->credential).hide_sessions(*view);
      return json_response(200, views::election_json(c->req.name, view));
    });
  };
  if (!c->req.index) return answer();
  const std::string name = c->req.name;
  wait_for_event(
      c, *c->req.index, ls::EventFilter{ls::Space::election, name},
      [name](const ls::Event& e) { return election_changed(e, name); }, steady_now_ms() + c->req.wait_ms, answer);
}

namespace {

// The key and every key under key + "/"; "" lists the whole space.
// Keys the principal may not read are left out (read_scope.h).
Response key_listing(const ApiRequest& req, const ls::StateMachine& machine, const ReadScope& scope) {
  const std::string& key = req.name;
  json keys = json::array();
  bool more = false;
  std::string next_after;  // the last key looked at, listed or left out
  if (!key.empty() && req.after.empty()) {
    next_after = key;
    if (auto self = machine.get(key); self && scope.may_read(ls::AclSpace::keys, key)) {
      keys.push_back(views::key_json(*self));
    }
  }
  const std::string prefix = key + "/";
  const std::string after = req.after > prefix ? req.after : std::string();
  const size_t room = req.limit > keys.size() ? req.limit - keys.size() : 0;
  if (room > 0) {
    const auto list = machine.list(prefix, after, room);
    for (const auto& view : list.keys) {
      if (scope.may_read(ls::AclSpace::keys, view.key)) keys.push_back(views::key_json(view));
    }
    if (!list.keys.empty()) next_after = list.keys.back().key;
    more = list.more;
  } else {
    more = true;
  }
  return views::listing(json{{"keys", keys}}, more, next_after);
}

Response key_read(const ApiRequest& req, const ls::StateMachine& machine, const ReadScope& scope) {
  if (req.recurse) return key_listing(req, machine, scope);
  const auto found = machine.get(req.name);
  if (!found) return views::error_body(404, "not_found", "no key " + req.name);
  if (req.raw) {
    Response response;
    response.content_type = "application/octet-stream";
    response.body = found->value;
    response.set_header("x-synod-modify-index", std::to_string(found->stat.modify_index));
    return response;
  }
  return json_response(200, views::key_json(*found));
}

}  // namespace

void Api::Impl::kv_get(const CallPtr& c) {
  auto answer = [this, c] {
    read(c, [c](const ReadContext& context) {
      return key_read(c->req, *context.machine, ReadScope(*context.machine, c->credential));
    });
  };
  if (!c->req.index) return answer();
  const std::string key = c->req.name;
  const bool recurse = c->req.recurse;
  wait_for_event(
      c, *c->req.index, ls::EventFilter{ls::Space::key, key},
      [key, recurse](const ls::Event& e) {
        return e.name == key || (recurse && e.name.size() > key.size() && e.name[key.size()] == '/');
      },
      steady_now_ms() + c->req.wait_ms, answer);
}

void Api::Impl::wait_for_event(const CallPtr& c, uint64_t after, ls::EventFilter filter,
                               std::function<bool(const ls::Event&)> match, int64_t deadline_ms,
                               std::function<void()> then) {
  const int64_t remaining = std::max<int64_t>(0, deadline_ms - steady_now_ms());
  node.wait_for(after, remaining, [this, c, after, filter, match, deadline_ms, then](const ReadContext& context) {
    // Scan what came after `after`, a bounded number of pages per wake-up.
    uint64_t scanned = after;
    for (int page = 0; page < 16; ++page) {
      const ls::Events events = context.machine->events(scanned, filter, options.stream_batch_events_max);
      if (events.status == ls::Status::compacted) return then();  // cannot tell: answer now
      for (const auto& event : events.events)
        if (match(event)) return then();
      if (events.next_index <= scanned) break;
      scanned = events.next_index;
      if (scanned >= context.revision) break;
    }
    if (steady_now_ms() >= deadline_ms) return then();
    wait_for_event(c, std::max(scanned, context.revision), filter, match, deadline_ms, then);
  });
}

std::string Api::Impl::grant_text(const CallPtr& c, const ls::Result& result) const {
  SYNOD_ASSERT(result.status == ls::Status::ok || result.status == ls::Status::queued);
  const bool created = c->req.command && std::holds_alternative<ls::CreateSessionAnd>(*c->req.command);
  const bool election = c->req.op == Op::election_campaign;
  std::string text;
  text.reserve(128);
  JsonObjectText body(text);
  body.field(election ? "election" : "lock", c->req.name).field("session", views::session_string(result.session));
  if (result.status == ls::Status::ok) {
    if (election) body.field("leader", true);
    body.field("token", result.token).field("valid_for_ms", result.valid_for_ms);
  } else {
    body.field(election ? "candidate" : "queued", true).field("position", result.position);
  }
  body.field("session_created", created);
  body.end();
  return text;
}

}  // namespace synod::http
