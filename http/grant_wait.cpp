// How a blocking acquire or campaign answered `queued` (long_poll.cpp) learns
// how its session's wait ended.
//
// The lock service resolves a wait in the exactly-once record of the request
// that queued the session (lockservice/state_machine.h, "Waiting requests").
// A request for a session that was already queued (acquiring or campaigning
// again, say with a wait after a `queue` that answered 202) never queues
// twice: it joins that wait, and its own record keeps its `queued` answer.
// So every wake-up reads the request's record first, then the events after
// what it looked at last: the first event of its session for that lock or
// election since its answer (a lock's `granted`, an election's `leader`,
// `timed_out`, `cancelled`) ends the wait it is in, whoever queued it.
//
// Threads: every wake-up runs on the node's owner thread, inside a read of
// the state (node.wait_for).
#include <algorithm>

#include "http/api_impl.h"

namespace synod::http {

namespace ls = synod::lockservice;

namespace {

ls::Space space_of(const ApiRequest& req) {
  return req.op == Op::election_campaign ? ls::Space::election : ls::Space::lock;
}

// Whether `e` ends the wait of `session` for the lock or election `name`.
// While it waits, the session holds nothing there, so its first such event
// after it was seen waiting is the end of that wait.
bool ends_wait(const ls::Event& e, const std::string& name, ls::SessionId session) {
  if (e.name != name || e.session != session) return false;
  return e.type == ls::EventType::granted || e.type == ls::EventType::leader || e.type == ls::EventType::timed_out ||
         e.type == ls::EventType::cancelled;
}

// What the record of the request that queued says, from the event that ended
// the wait (lockservice/locks.cpp: grant_waiters, remove_waiter).
ls::Result wait_end(const ls::Event& e, const ls::StateMachine& machine) {
  ls::Result result;
  result.revision = e.revision;
  result.session = e.session;
  const auto session = machine.session(e.session);
  if (e.type == ls::EventType::granted || e.type == ls::EventType::leader) {
    result.token = e.token;
    result.valid_for_ms = session ? session->valid_for_ms : 0;  // what is left now
  } else if (e.type == ls::EventType::timed_out) {
    result.status = ls::Status::timed_out;
    result.message = "the wait timed out";
  } else {  // cancelled: withdrawn, or its session ended
    result.status = session ? ls::Status::cancelled : ls::Status::session_expired;
    result.message = "the wait ended";
  }
  return result;
}

// Where the session stands in the queue now: its position (0: not queued)
// and the revision its wait began.
std::pair<uint64_t, uint64_t> place(const ApiRequest& req, const ls::StateMachine& machine) {
  std::vector<ls::WaiterView> waiters;
  if (req.op == Op::election_campaign) {
    if (const auto election = machine.election(req.name)) waiters = election->candidates;
  } else if (const auto lock = machine.lock(req.name)) {
    waiters = lock->waiters;
  }
  for (size_t i = 0; i < waiters.size(); ++i)
    if (waiters[i].session == req.session) return {i + 1, waiters[i].enqueued};
  return {0, 0};
}

// Its grant, when the session holds the lock or leads by a grant after `after`.
std::optional<ls::Result> grant_after(const ApiRequest& req, uint64_t after, const ls::StateMachine& machine) {
  ls::Result grant;
  grant.session = req.session;
  if (req.op == Op::election_campaign) {
    const auto election = machine.election(req.name);
    if (!election || election->leader != req.session) return std::nullopt;
    grant.token = election->token;
  } else {
    const auto lock = machine.lock(req.name);
    if (!lock) return std::nullopt;
    for (const auto& holder : lock->holders)
      if (holder.session == req.session) grant.token = holder.token;
  }
  if (grant.token <= after) return std::nullopt;
  const auto session = machine.session(req.session);
  grant.valid_for_ms = session ? session->valid_for_ms : 0;
  return grant;
}

}  // namespace

void Api::Impl::await_grant(const CallPtr& c, GrantWait wait) {
  const int64_t remaining = std::max<int64_t>(0, wait.deadline_ms - steady_now_ms());
  node.wait_for(wait.scanned, remaining, [this, c, wait](const ReadContext& context) mutable {
    const ls::StateMachine& machine = *context.machine;
    const ls::Result* record = machine.recorded(c->client_id, c->seq);
    if (record && record->status != ls::Status::queued) return answer_wait_end(c, *record, context);
    const ls::EventFilter filter{space_of(c->req), c->req.name};
    for (int page = 0; page < 16 && wait.scanned < context.revision; ++page) {
      const ls::Events events = machine.events(wait.scanned, filter, options.stream_batch_events_max);
      if (events.status == ls::Status::compacted) {
        // The events it missed are gone: the state says what it can.
        if (auto grant = grant_after(c->req, wait.queued_at, machine)) return answer_wait_end(c, *grant, context);
        if (place(c->req, machine).first == 0) return answer_at_deadline(c, wait, context);  // ended unseen
        wait.scanned = context.revision;
        break;
      }
      for (const auto& event : events.events)
        if (ends_wait(event, c->req.name, c->req.session)) return answer_wait_end(c, wait_end(event, machine), context);
      if (events.next_index <= wait.scanned) break;
      wait.scanned = events.next_index;
    }
    if (steady_now_ms() < wait.deadline_ms) return await_grant(c, wait);
    answer_at_deadline(c, wait, context);
  });
}

void Api::Impl::answer_wait_end(const CallPtr& c, const ls::Result& result, const ReadContext& context) {
  if (result.status == ls::Status::ok) {
    return reply(c, views::json_text_response(200, grant_text(c, result)), context.revision, context.leader);
  }
  answer_result(c, result, context.revision, context.leader, nullptr);
}

// The HTTP wait ended first: say where the request stands now. Its own timed
// wait still queued (the lock service's timeout is late) answers 408 as the
// timeout will; a queue, a campaign or a wait it joined answers 202.
void Api::Impl::answer_at_deadline(const CallPtr& c, const GrantWait& wait, const ReadContext& context) {
  const auto [position, enqueued] = place(c->req, *context.machine);
  const bool its_own = enqueued == wait.queued_at;
  if (position == 0 || (wait.timed && its_own)) {
    ls::Result ended;
    ended.status = ls::Status::timed_out;
    ended.session = c->req.session;
    ended.message = "the wait ended without a grant";
    return answer_result(c, ended, context.revision, context.leader, nullptr);
  }
  ls::Result where;
  where.status = ls::Status::queued;
  where.session = c->req.session;
  where.position = position;
  reply(c, views::json_text_response(202, grant_text(c, where)), context.revision, context.leader);
}

}  // namespace synod::http
