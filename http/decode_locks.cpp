// Decoding the lock operations (decode_support.h): acquire (exclusive,
// shared or semaphore; try, timed wait or queue; with a session or a new
// one), release, get and validate. Pure; any thread.
#include "http/decode_support.h"

namespace synod::http::decoding {

namespace {

// ?mode=exclusive|read|write|semaphore and, for a semaphore, ?limit=N.
void lock_mode(Inputs& in, ls::Acquire& acquire) {
  const auto mode = in.string("mode").value_or("exclusive");
  if (mode == "exclusive") {
    acquire.kind = ls::LockKind::exclusive;
  } else if (mode == "read" || mode == "write") {
    acquire.kind = ls::LockKind::shared;
    acquire.access = mode == "read" ? ls::Access::read : ls::Access::write;
  } else if (mode == "semaphore") {
    acquire.kind = ls::LockKind::semaphore;
  } else {
    bad("bad_value", "mode is exclusive, read, write or semaphore");
  }
  const auto limit = in.number("limit");
  if (acquire.kind == ls::LockKind::semaphore) {
    if (!limit) bad("missing_parameter", "a semaphore needs its limit");
    if (*limit == 0 || *limit > 1024) bad("bad_value", "a semaphore's limit is 1 to 1024");
    acquire.limit = static_cast<uint32_t>(*limit);
  } else if (limit) {
    bad("conflicting_parameters", "limit is only for mode semaphore");
  }
}

}  // namespace

void decode_lock_acquire(Decoding& d) {
  ApiRequest& r = d.request;
  r.name = path_name(d.param, d.limits, "lock");
  std::optional<ls::CreateSession> create;
  ls::Acquire acquire;
  acquire.lock = r.name;
  acquire.session = session_or_new(d.in, d.limits, create);
  lock_mode(d.in, acquire);
  r.wait_ms = wait_param(d.in, d.limits);
  const bool queue = d.in.flag("queue");
  if (queue) {
    acquire.wait = ls::WaitMode::queue;
  } else if (r.wait_ms > 0) {
    acquire.wait = ls::WaitMode::timeout;
    acquire.wait_ms = r.wait_ms;
  }
  if (create) r.command = ls::CreateSessionAnd{*create, acquire};
  else r.command = acquire;
  r.session = acquire.session;
}

void decode_lock_release(Decoding& d) {
  ApiRequest& r = d.request;
  r.name = path_name(d.param, d.limits, "lock");
  const auto session = d.in.session("session");
  if (!session) bad("missing_parameter", "release needs the holder's session: ?session=ID");
  r.session = *session;
  r.command = ls::Release{r.name, r.session};
}

void decode_lock_get(Decoding& d) {
  d.request.name = path_name(d.param, d.limits, "lock");
  d.request.stale = d.in.flag("stale");
}

void decode_lock_validate(Decoding& d) {
  ApiRequest& r = d.request;
  r.name = path_name(d.param, d.limits, "lock");
  r.stale = d.in.flag("stale");
  const auto token = d.in.number("token");
  if (!token) bad("missing_parameter", "validate needs ?token=N");
  r.token = *token;
}

}  // namespace synod::http::decoding
