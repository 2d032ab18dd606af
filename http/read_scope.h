// What one request may see of the state it reads (issue 19; lockservice/
// auth.h). With auth on, lists and streams leave out the items the
// principal may not read, and the session ids of holders, waiters and
// candidates are hidden (shown as 0) unless the principal owns the session
// or is an admin of the sessions space (write there only makes one's own
// sessions). With auth off everything shows.
//
// Owner thread: it reads the state machine, like the read it serves.
#pragma once

#include <string>
#include <string_view>

#include "lockservice/state_machine.h"

namespace synod::http {

class ReadScope {
 public:
  ReadScope(const lockservice::StateMachine& machine, const lockservice::Credential& credential)
      : machine_(machine), credential_(credential), on_(machine.auth_enabled()) {
    std::string why;
    all_sessions_ = !on_ || machine.authorize(credential, lockservice::AclSpace::sessions, "",
                                              lockservice::Permission::admin, why) == lockservice::Status::ok;
  }

  bool may_read(lockservice::AclSpace space, std::string_view name) const {
    std::string why;
    return !on_ ||
           machine_.authorize(credential_, space, name, lockservice::Permission::read, why) == lockservice::Status::ok;
  }
  bool may_see(lockservice::SessionId session) const {
    std::string why;
    return all_sessions_ || machine_.authorize_session(credential_, session, why) == lockservice::Status::ok;
  }
  lockservice::SessionId shown(lockservice::SessionId session) const {
    return may_see(session) ? session : lockservice::kNoSession;
  }
  void hide_sessions(lockservice::LockView& view) const {
    for (auto& holder : view.holders) holder.session = shown(holder.session);
    for (auto& waiter : view.waiters) waiter.session = shown(waiter.session);
  }
  void hide_sessions(lockservice::ElectionView& view) const {
    view.leader = shown(view.leader);
    for (auto& candidate : view.candidates) candidate.session = shown(candidate.session);
  }
  // Whether an event may be shown at all; its session is hidden by the caller.
  bool visible(const lockservice::Event& event) const {
    switch (event.space) {
      case lockservice::Space::key:
        return may_read(lockservice::AclSpace::keys, event.name);
      case lockservice::Space::lock:
        return may_read(lockservice::AclSpace::locks, event.name);
      case lockservice::Space::election:
        return may_read(lockservice::AclSpace::elections, event.name);
      case lockservice::Space::session:
        return may_see(event.session);
    }
    return false;
  }

 private:
  const lockservice::StateMachine& machine_;
  const lockservice::Credential& credential_;
  bool on_ = false;
  bool all_sessions_ = true;
};

}  // namespace synod::http
