// Lock clients: what a user of the lock service does, seeded.
//
// Each creates a session (TTL 2-4 s, lock-delay up to 1.2 s), sends a
// keep-alive every TTL/3 of its own clock to the node it believes leads, and
// takes exclusive locks in try, wait (timeout) and queue modes. A waiter
// learns of its grant by asking again (a re-acquire of the same session
// answers queued, or the current grant with its validity counted from the
// new request). While it believes it holds a lock (it holds the grant, and
// its own clock is before the validity the service promised, counted from
// when it FIRST sent the request that earned it) it increments the fenced
// resource's counter: a fenced read, then a fenced write. It releases the
// lock after a while, or as soon as its validity lapses or the resource
// refuses its token.
//
// Every other lock client may freeze between its read and its write for
// longer than its TTL (a long GC pause): no keep-alives, no actions. It comes
// back still believing it holds the lock and writes with its old token. The
// resource must refuse that write once the next holder has used it.
#include <algorithm>

#include "sim/simulation.h"

namespace synod::sim::detail {

namespace {

constexpr int kLocks = 2;

}  // namespace

bool Simulation::lock_believes(const Client& client) const {
  const LockClient& lock = client.lock;
  // A frozen client does not look at its clock: it believes what it believed.
  return lock.believes && (lock.paused || client_local_ms(client) < lock.valid_until_local_ms);
}

void Simulation::lock_schedule(size_t index, int64_t after_us) {
  LockClient& lock = clients_[index].lock;
  ++lock.timer_gen;
  schedule(now_ + after_us, EventKind::lock_step, 0, index, lock.timer_gen);
}

void Simulation::lock_client_step(size_t index, uint64_t gen) {
  Client& client = clients_[index];
  LockClient& lock = client.lock;
  if (gen != lock.timer_gen) return;
  if (lock.paused) {
    lock_resume(index);
    return;
  }
  switch (lock.phase) {
    case LockClient::Phase::no_session:
      if (now_ >= quiet_at_) return;
      lock.phase = LockClient::Phase::creating;
      start_command(index, ls::CreateSession{lock.ttl_ms, lock.lock_delay_ms, ls::Behavior::release});
      return;
    case LockClient::Phase::idle:
      lock_acquire(index);
      return;
    case LockClient::Phase::waiting:
      if (now_ >= quiet_at_) return;
      if (client_local_ms(client) >= lock.wait_until_local_ms && lock.mode == ls::WaitMode::queue) {
        lock_release(index);  // withdraws from the queue
        return;
      }
      {
        // Still queued? A re-acquire answers where it stands, or the grant.
        ls::Acquire poll;
        poll.lock = lock.lock;
        poll.session = lock.session;
        lock.phase = LockClient::Phase::acquiring;
        start_command(index, poll);
      }
      return;
    case LockClient::Phase::holding:
      lock_use_resource(index);
      return;
    case LockClient::Phase::creating:
    case LockClient::Phase::acquiring:
    case LockClient::Phase::releasing:
      return;  // a request is out; its answer moves on
  }
}

void Simulation::lock_acquire(size_t index) {
  Client& client = clients_[index];
  LockClient& lock = client.lock;
  if (now_ >= quiet_at_) return;
  if (client_local_ms(client) >= lock.valid_until_local_ms) {
    lock_schedule(index, 50 * kMs);  // its session may be gone: let a keep-alive tell
    return;
  }
  lock.lock = "locks/" + std::to_string(random_.uniform(0, kLocks - 1));
  const int64_t roll = random_.uniform(0, 99);
  lock.mode = roll < 50 ? ls::WaitMode::try_once : roll < 75 ? ls::WaitMode::timeout : ls::WaitMode::queue;
  lock.wait_ms = lock.mode == ls::WaitMode::timeout ? random_.uniform(200, 2500) : 0;
  lock.wait_until_local_ms = 0;
  lock.phase = LockClient::Phase::acquiring;
  ls::Acquire acquire;
  acquire.lock = lock.lock;
  acquire.session = lock.session;
  acquire.wait = lock.mode;
  acquire.wait_ms = lock.wait_ms;
  start_command(index, acquire);
}

void Simulation::lock_client_done(size_t index, const ls::Result& result) {
  Client& client = clients_[index];
  LockClient& lock = client.lock;
  // The service counts validity from its own log; the client counts it from
  // when it first sent the request, because a retry may get the recorded
  // answer of the first attempt.
  const int64_t sent_local_ms = client.first_sent_local_ms;
  const LockClient::Phase phase = lock.phase;
  trace("%s <- %s session %lu token %lu valid_for %ldms (%s)", client_name(index).c_str(), ls::status_name(result.status),
        static_cast<unsigned long>(result.session), static_cast<unsigned long>(result.token),
        static_cast<long>(result.valid_for_ms), lock.lock.c_str());
  if (lock.session_dead && phase != LockClient::Phase::creating) {
    lock_forget_session(index);
    return;
  }
  if (result.status == ls::Status::session_expired) {
    lock_forget_session(index);
    return;
  }
  switch (phase) {
    case LockClient::Phase::creating:
      if (result.status != ls::Status::ok) {
        violation(client_name(index) + " could not create a session: " + ls::status_name(result.status));
        lock.phase = LockClient::Phase::no_session;
        lock_schedule(index, 200 * kMs);
        return;
      }
      lock.session = result.session;
      lock.session_dead = false;
      lock.paused_this_session = false;
      lock.valid_until_local_ms = sent_local_ms + result.valid_for_ms;
      lock.phase = LockClient::Phase::idle;
      lock.keepalive_target = client.target;
      ++lock.keepalive_id;
      lock.keepalive_in_flight = false;
      schedule(now_ + lock.ttl_ms * kMs / 3, EventKind::keepalive_step, 0, index, lock.keepalive_id);
      lock_schedule(index, think_time());
      return;
    case LockClient::Phase::acquiring:
      if (result.status == ls::Status::ok) {
        lock.token = result.token;
        lock.valid_until_local_ms = std::max(lock.valid_until_local_ms, sent_local_ms + result.valid_for_ms);
        lock_holding(index);
        return;
      }
      if (result.status == ls::Status::queued) {
        if (lock.wait_until_local_ms == 0) {
          lock.wait_until_local_ms = client.first_sent_local_ms +
                                     (lock.mode == ls::WaitMode::timeout ? lock.wait_ms + 300 : random_.uniform(1000, 3000));
        }
        lock.phase = LockClient::Phase::waiting;
        lock_schedule(index, random_.uniform(60 * kMs, 200 * kMs));
        return;
      }
      // Held, in lock-delay, too little validity, timed out: later, maybe another lock.
      lock.phase = LockClient::Phase::idle;
      lock_schedule(index, random_.uniform(30 * kMs, 300 * kMs));
      return;
    case LockClient::Phase::releasing:
      lock.phase = LockClient::Phase::idle;
      lock_schedule(index, think_time());
      return;
    case LockClient::Phase::no_session:
    case LockClient::Phase::idle:
    case LockClient::Phase::waiting:
    case LockClient::Phase::holding:
      violation(client_name(index) + " got an answer it did not ask for");
      return;
  }
}

void Simulation::lock_holding(size_t index) {
  Client& client = clients_[index];
  LockClient& lock = client.lock;
  lock.phase = LockClient::Phase::holding;
  lock.has_read = false;
  if (client_local_ms(client) >= lock.valid_until_local_ms) {
    // Granted, but the validity it was promised has already run out.
    lock_release(index);
    return;
  }
  for (size_t other = 0; other < clients_.size(); ++other) {
    if (other == index || clients_[other].kind != Client::Kind::lock) continue;
    if (clients_[other].lock.lock == lock.lock && lock_believes(clients_[other])) {
      ++result_.concurrent_holders_believed;
      trace("%s and %s both believe they hold %s", client_name(index).c_str(), client_name(other).c_str(),
            lock.lock.c_str());
    }
  }
  lock.believes = true;
  lock.hold_until_local_ms = client_local_ms(client) + random_.uniform(200, 1500);
  lock_schedule(index, random_.uniform(5 * kMs, 40 * kMs));
}

void Simulation::lock_use_resource(size_t index) {
  Client& client = clients_[index];
  LockClient& lock = client.lock;
  const bool done = client_local_ms(client) >= lock.hold_until_local_ms && !lock.has_read;
  if (!lock_believes(client) || done) {
    lock_stop_believing(index);
    lock_release(index);
    return;
  }
  auto granted = grants_.find({lock.lock, lock.token});
  if (granted == grants_.end() || granted->second != lock.session) {
    violation(client_name(index) + " uses token " + std::to_string(lock.token) + " for " + lock.lock +
              " with session " + std::to_string(lock.session) + ", but the service granted it to " +
              (granted == grants_.end() ? std::string("nobody") : "session " + std::to_string(granted->second)));
  }
  if (!lock.has_read) {
    const auto read = resource_.read(lock.lock, lock.token);
    resource_checks();
    if (!read.accepted) {  // a later holder used the resource: the lock is gone
      lock_stop_believing(index);
      lock_release(index);
      return;
    }
    lock.has_read = true;
    lock.read_value = read.value;
    if (lock.may_pause && !lock.paused_this_session && now_ < quiet_at_ &&
        random_.chance(static_cast<uint64_t>(config_.client_pause_percent), 100)) {
      lock_pause(index);
      return;
    }
    lock_schedule(index, random_.uniform(1 * kMs, 20 * kMs));
    return;
  }
  const auto wrote = resource_.write(lock.lock, lock.token, lock.read_value);
  resource_checks();
  lock.has_read = false;
  if (!wrote.accepted) {
    lock_stop_believing(index);
    lock_release(index);
    return;
  }
  lock_schedule(index, random_.uniform(10 * kMs, 60 * kMs));
}

void Simulation::lock_stop_believing(size_t index) {
  LockClient& lock = clients_[index].lock;
  lock.believes = false;
  lock.has_read = false;
}

void Simulation::lock_release(size_t index) {
  LockClient& lock = clients_[index].lock;
  if (now_ >= quiet_at_) {
    lock.phase = LockClient::Phase::idle;  // no new requests at the end
    return;
  }
  lock.phase = LockClient::Phase::releasing;
  ls::Release release;
  release.lock = lock.lock;
  release.session = lock.session;
  start_command(index, release);
}

void Simulation::lock_forget_session(size_t index) {
  LockClient& lock = clients_[index].lock;
  lock_stop_believing(index);
  lock.session = ls::kNoSession;
  lock.session_dead = false;
  lock.valid_until_local_ms = 0;
  lock.phase = LockClient::Phase::no_session;
  ++lock.keepalive_id;
  lock.keepalive_in_flight = false;
  lock_schedule(index, think_time());
}

void Simulation::lock_pause(size_t index) {
  LockClient& lock = clients_[index].lock;
  const int64_t pause_us = (lock.ttl_ms + random_.uniform(600, 3000)) * kMs;
  lock.paused = true;
  lock.paused_this_session = true;
  lock.pauses.push_back({now_, now_ + pause_us});
  ++lock.keepalive_id;  // its keep-alive loop stops; answers in flight are not heard
  lock.keepalive_in_flight = false;
  ++result_.client_pauses;
  trace("%s freezes for %ldms holding %s with token %lu", client_name(index).c_str(), static_cast<long>(pause_us / kMs),
        lock.lock.c_str(), static_cast<unsigned long>(lock.token));
  lock_schedule(index, pause_us);
}

// Back from the freeze, it still believes it holds the lock (it checked
// before it froze) and writes what it read, with its old token, at once.
void Simulation::lock_resume(size_t index) {
  LockClient& lock = clients_[index].lock;
  lock.paused = false;
  const auto wrote = resource_.write(lock.lock, lock.token, lock.read_value);
  resource_checks();
  if (!wrote.accepted) {
    ++result_.stale_writes_refused;
  } else {
    ++result_.stale_writes_accepted;
    const auto record = locks_.find(lock.lock);
    if (record != locks_.end() && record->second.token > lock.token) ++result_.stale_writes_after_regrant;
  }
  trace("%s wakes and writes %s with token %lu: %s", client_name(index).c_str(), lock.lock.c_str(),
        static_cast<unsigned long>(lock.token), wrote.accepted ? "accepted" : "refused");
  lock_stop_believing(index);
  // Then it finds out what became of its session: the release goes out
  // first, so that a keep-alive answering "expired" finds a request out and
  // lets its answer end the session's state.
  lock_release(index);
  if (lock.session != ls::kNoSession && !lock.session_dead) keepalive_send(index);
}

// ------------------------------------------------------------ keep-alives

void Simulation::keepalive_step(size_t index, uint64_t keepalive_id) {
  const LockClient& lock = clients_[index].lock;
  if (keepalive_id != lock.keepalive_id || lock.paused || lock.session == ls::kNoSession || lock.session_dead) return;
  keepalive_send(index);
}

void Simulation::keepalive_send(size_t index) {
  Client& client = clients_[index];
  LockClient& lock = client.lock;
  ++lock.keepalive_id;
  lock.keepalive_in_flight = true;
  lock.keepalive_sent_local_ms = client_local_ms(client);
  schedule(now_ + kKeepAliveTimeoutUs, EventKind::keepalive_timeout, 0, index, lock.keepalive_id);
  Node& node = nodes_[lock.keepalive_target];
  if (!node.up) return;  // no answer: the timeout tries elsewhere
  const InboxItem item = KeepAlive{index, lock.session, lock.keepalive_id};
  if (node.paused) {
    node.inbox.push_back(item);
    return;
  }
  deliver(node, item);
}

void Simulation::keepalive_timeout(size_t index, uint64_t keepalive_id) {
  LockClient& lock = clients_[index].lock;
  if (keepalive_id != lock.keepalive_id || !lock.keepalive_in_flight || lock.paused) return;
  lock.keepalive_target = pick_target();
  keepalive_send(index);
}

void Simulation::keepalive_answered(size_t index, uint64_t keepalive_id, KeepAliveReply reply, int64_t valid_for_ms,
                                    NodeId hint) {
  Client& client = clients_[index];
  LockClient& lock = client.lock;
  if (keepalive_id != lock.keepalive_id || !lock.keepalive_in_flight || lock.paused) return;
  lock.keepalive_in_flight = false;
  switch (reply) {
    case KeepAliveReply::ok: {
      lock.valid_until_local_ms = std::max(lock.valid_until_local_ms, lock.keepalive_sent_local_ms + valid_for_ms);
      // The next one TTL/3 after this one was sent, on the client's clock.
      const int64_t wait_ms = lock.ttl_ms / 3 - (client_local_ms(client) - lock.keepalive_sent_local_ms);
      const auto wait_us = static_cast<int64_t>(static_cast<double>(std::max<int64_t>(wait_ms, 1) * kMs) /
                                                client.clock_rate);
      schedule(now_ + wait_us, EventKind::keepalive_step, 0, index, lock.keepalive_id);
      return;
    }
    case KeepAliveReply::not_leader:
      if (hint != kNoNode && index_of(hint) != lock.keepalive_target) {
        lock.keepalive_target = index_of(hint);
        schedule(now_ + random_.uniform(1 * kMs, 3 * kMs), EventKind::keepalive_step, 0, index, lock.keepalive_id);
      } else {
        // No leader known, or this node leads without a lease yet: ask around.
        if (hint == kNoNode) lock.keepalive_target = pick_target();
        schedule(now_ + random_.uniform(5 * kMs, 20 * kMs), EventKind::keepalive_step, 0, index, lock.keepalive_id);
      }
      return;
    case KeepAliveReply::expired:
      lock.session_dead = true;
      lock_stop_believing(index);
      ++lock.keepalive_id;
      if (client.state == Client::State::idle) lock_forget_session(index);
      return;
  }
}

void Simulation::resource_checks() {
  const auto& found = resource_.violations();
  while (resource_violations_seen_ < found.size()) violation(found[resource_violations_seen_++]);
}

}  // namespace synod::sim::detail
