// Server-sent-event streams (api_impl.h): GET /v1/watch/{prefix},
// /v1/elections/{name}/observe and /v1/sessions/{id}/events. Each is a Feed
// on the local replica's event window: wait for revisions after a cursor,
// copy the events it wants, send them, move the cursor, go again. A cursor
// that fell out of the window is served from the node's watch history on
// disk; one the history no longer holds gets a "compacted" event and the
// stream ends: never a silent gap.
//
// Threads: a feed starts on the HTTP thread that handles the request (or on
// the node's owner thread, after a first read); each turn waits on the
// owner thread (copying the events there) and formats and sends on the
// stream's connection thread. One turn at a time: each schedules the next.
#include <algorithm>
#include <atomic>

#include "base/assert.h"
#include "http/api_impl.h"
#include "http/read_scope.h"

namespace synod::http {

namespace ls = synod::lockservice;
using views::json;

// A stream fed from the event window: which events it wants, how to write
// them, and when it ends.
//   opening ──start_feed──▶ open ──compacted, last event or a closed stream──▶ ended
// Only an open feed turns (pump); an ended one never sends again.
struct Api::Impl::Feed {
  enum class State : uint8_t { opening, open, ended };
  std::atomic<State> state{State::opening};
  std::shared_ptr<Stream> stream;
  ls::EventFilter filter;
  std::function<bool(const ls::Event&)> wanted;
  std::function<bool(const ls::Event&)> last;  // the stream ends after this event
  // Who opened it: with auth on, each turn leaves out what it may not read,
  // and a credential revoked meanwhile ends the stream (scope_events).
  ls::Credential credential;
  std::atomic<bool> refused{false};

  void end() {
    SYNOD_ASSERT(state.load() == State::open);
    state.store(State::ended);
  }
};

void Api::Impl::start_feed(const CallPtr& c, std::shared_ptr<Feed> feed, std::vector<std::string> first,
                           uint64_t after) {
  SYNOD_ASSERT(feed->state.load() == Feed::State::opening && !feed->stream);
  Response head;
  head.content_type = "text/event-stream";
  stamp(head, after, c->view.leader);
  feed->stream = c->respond.stream(std::move(head));
  if (!feed->stream) {
    return fail(c, 429, "too_many_streams", "the node serves its maximum number of streams", c->view.applied_revision,
                c->view.leader);
  }
  feed->credential = c->credential;
  feed->state.store(Feed::State::open);
  for (auto& event : first) feed->stream->send(std::move(event));
  pump(std::move(feed), after);
}

// One turn of a stream: wait for revisions after `after`, copy the events on
// the owner thread (from the window, or from the history on disk for a cursor
// the window dropped), format and send them on the stream's thread, go again.
void Api::Impl::pump(std::shared_ptr<Feed> feed, uint64_t after) {
  SYNOD_ASSERT(feed->state.load() == Feed::State::open);
  if (!feed->stream->open()) return feed->end();
  node.wait_for(after, options.stream_poll_ms, [this, feed, after](const ReadContext& context) {
    if (!feed->stream->open()) return;  // the connection ended it; nothing turns any more
    auto events = std::make_shared<ls::Events>(context.machine->events(after, feed->filter, options.stream_batch_events_max));
    if (events->status == ls::Status::compacted) {
      return node.history(after, feed->filter, options.stream_batch_events_max, [this, feed, after](ls::Events past) {
        auto kept = std::make_shared<ls::Events>(std::move(past));
        // Judged on the owner thread, like the window's events.
        node.read(true, [this, feed, kept, after](const ReadContext& judged) {
          scope_events(*feed, *kept, *judged.machine);
          feed->stream->post([this, feed, kept, after] { deliver(feed, after, *kept); });
        });
      });
    }
    scope_events(*feed, *events, *context.machine);
    feed->stream->post([this, feed, events, after] { deliver(feed, after, *events); });
  });
}

// On the owner thread: what this stream's principal may see of one turn's
// events (read_scope.h), and whether it may still watch at all.
void Api::Impl::scope_events(Feed& feed, ls::Events& events, const ls::StateMachine& machine) {
  if (!machine.auth_enabled()) return;
  if (!machine.authenticate(feed.credential)) {
    feed.refused.store(true);  // revoked since the stream opened
    events.events.clear();
    return;
  }
  const ReadScope scope(machine, feed.credential);
  std::erase_if(events.events, [&scope](const ls::Event& e) { return !scope.visible(e); });
  for (auto& event : events.events) event.session = scope.shown(event.session);
}

// On the stream's thread: send one turn's events, then turn again.
void Api::Impl::deliver(const std::shared_ptr<Feed>& feed, uint64_t after, const ls::Events& events) {
  if (feed->refused.load()) {
    feed->stream->send(views::sse("error", 0,
                                  {{"code", "unauthenticated"},
                                   {"message", "the token that opened this stream was revoked"}}));
    feed->end();
    return feed->stream->close();
  }
  if (events.status == ls::Status::compacted) {
    // Never a silent gap: say so, and end the stream; the client re-reads
    // the state and resumes from next_index.
    feed->stream->send(views::sse("compacted", 0,
                                  {{"compacted_index", events.compacted_revision},
                                   {"next_index", events.next_index},
                                   {"message",
                                    "events after your index were compacted from the watch history: "
                                    "re-read the state, then resume from next_index"}}));
    feed->end();
    return feed->stream->close();
  }
  for (const auto& event : events.events) {
    SYNOD_ASSERT(event.revision > after);  // the window and the history answer events after the cursor only
    if (!feed->wanted(event)) continue;
    if (!feed->stream->send(views::event_sse(event))) return feed->end();
    if (feed->last && feed->last(event)) {
      feed->end();
      return feed->stream->close();
    }
  }
  pump(feed, std::max(after, events.next_index));
}

void Api::Impl::watch(const CallPtr& c) {
  auto feed = std::make_shared<Feed>();
  if (c->req.watch_space) feed->filter.space = *c->req.watch_space;
  feed->filter.prefix = c->req.name;
  feed->wanted = [](const ls::Event&) { return true; };
  // Without an index the watch starts now: at the revision this node applied.
  const uint64_t after = c->req.index.value_or(c->view.applied_revision);
  start_feed(c, feed, {}, after);
}

void Api::Impl::observe(const CallPtr& c) {
  const std::string name = c->req.name;
  auto feed = std::make_shared<Feed>();
  feed->filter = ls::EventFilter{ls::Space::election, name};
  feed->wanted = [name](const ls::Event& e) {
    return e.name == name && (e.type == ls::EventType::leader || e.type == ls::EventType::proclaimed ||
                              e.type == ls::EventType::no_leader);
  };
  if (c->req.index) return start_feed(c, feed, {}, *c->req.index);
  // First the state as it is (leader or "no leader"), in the same shape as
  // the events that follow, then every change.
  node.read(true, [this, c, feed, name](const ReadContext& context) {
    const auto view = context.machine->election(name);
    ls::Event state;
    state.revision = context.revision;
    state.space = ls::Space::election;
    state.name = name;
    state.type = ls::EventType::no_leader;
    if (view && view->leader != ls::kNoSession) {
      state.type = ls::EventType::leader;
      state.value = view->value;
      state.session = ReadScope(*context.machine, c->credential).shown(view->leader);
      state.token = view->token;
    }
    start_feed(c, feed, {views::event_sse(state)}, context.revision);
  });
}

void Api::Impl::session_events(const CallPtr& c) {
  const ls::SessionId id = c->req.session;
  auto feed = std::make_shared<Feed>();
  feed->wanted = [id](const ls::Event& e) { return e.session == id; };
  feed->last = [id](const ls::Event& e) {
    return e.space == ls::Space::session && e.session == id &&
           (e.type == ls::EventType::deleted || e.type == ls::EventType::expired);
  };
  // Served from this replica: wait (briefly) until it has applied the index
  // the client names, so a session created a moment ago through the leader
  // is known here.
  const uint64_t index = c->req.index.value_or(0);
  node.wait_for(index == 0 ? 0 : index - 1, 2'000, [this, c, feed, id, index](const ReadContext& context) {
    const auto view = context.machine->session(id);
    if (!view) {
      return fail(c, 404, "not_found", "no session " + std::to_string(id) + " on this node", context.revision,
                  context.leader);
    }
    json state = views::session_json(*view);
    state["revision"] = context.revision;
    auto first = views::sse("session", context.revision, state);
    start_feed(c, feed, {std::move(first)}, index != 0 ? index : context.revision);
  });
}

}  // namespace synod::http
