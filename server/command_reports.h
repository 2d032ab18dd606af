// CommandReports: the commands the node reports on when they apply: a
// session expiry (what it released, how late it was), an administrator's
// forced release (whom it evicted), and the audit line of every auth command
// and forced release (issue 19: principal, action, resource, token,
// revision). All are rare; apply() spots them by
// their wire tag (command_tag) without decoding any other command, looks at
// what they will end before they apply (look_before), and logs and counts
// what they ended after (report_applied).
//
// Owner thread (apply() runs there).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

#include "lockservice/command.h"
#include "lockservice/session_keeper.h"
#include "lockservice/state_machine.h"
#include "server/log.h"
#include "server/node_metrics.h"

namespace synod::server {

// The wire tag of a lock-service command (its index in the Command variant,
// lockservice/command.h), so apply() can spot the rare commands it reports
// on without decoding every payload.
template <class T, class... Ts>
constexpr uint8_t tag_in(const std::variant<Ts...>*) {
  constexpr bool same[] = {std::is_same_v<T, Ts>...};
  for (uint8_t i = 0; i < sizeof...(Ts); ++i) {
    if (same[i]) return i;
  }
  return 0xff;
}
inline constexpr uint8_t kExpireSessionTag =
    tag_in<lockservice::ExpireSession>(static_cast<const lockservice::Command*>(nullptr));
inline constexpr uint8_t kForceReleaseTag =
    tag_in<lockservice::ForceRelease>(static_cast<const lockservice::Command*>(nullptr));
inline constexpr uint8_t kSetAuthTag = tag_in<lockservice::SetAuth>(static_cast<const lockservice::Command*>(nullptr));
inline constexpr uint8_t kDeleteRuleTag =
    tag_in<lockservice::DeleteRule>(static_cast<const lockservice::Command*>(nullptr));
static_assert(kExpireSessionTag != 0xff && kForceReleaseTag != 0xff);
// The auth commands (SetAuth .. DeleteRule, consecutive tags) and forced
// releases leave an audit line: who, what, on what, with which token.
inline bool audited(uint8_t tag) { return tag == kForceReleaseTag || (tag >= kSetAuthTag && tag <= kDeleteRuleTag); }
// A session's deletion: audited when an administrator deletes another's.
inline constexpr uint8_t kDeleteSessionTag =
    tag_in<lockservice::DeleteSession>(static_cast<const lockservice::Command*>(nullptr));
// Grants and releases, audited with --audit-locks: acquire, release,
// campaign, resign, and a new session's acquire or campaign.
inline bool lock_tag(uint8_t tag) {
  using lockservice::Command;
  constexpr const Command* none = nullptr;
  return tag == tag_in<lockservice::Acquire>(none) || tag == tag_in<lockservice::Release>(none) ||
         tag == tag_in<lockservice::Campaign>(none) || tag == tag_in<lockservice::Resign>(none) ||
         tag == tag_in<lockservice::CreateSessionAnd>(none);
}

using lockservice::command_tag;

class CommandReports {
 public:
  // What a command the node reports on looked like before it applied.
  struct Reported {
    uint8_t tag = 0xff;
    lockservice::Decoded decoded;
    std::optional<lockservice::SessionView> session;
    std::optional<lockservice::LockView> lock;
    std::optional<lockservice::ElectionView> election;
    std::optional<lockservice::Principal> principal;  // who sent it, as the state before it resolves
    std::string owner;                                // a deleted session's owner
  };

  // The node's machine and keeper, which outlive this.
  CommandReports(const lockservice::StateMachine& machine, const lockservice::SessionKeeper& keeper, Log& log,
                 NodeMetrics& metrics, bool audit_locks)
      : machine_(machine), keeper_(keeper), log_(log), metrics_(metrics), audit_locks_(audit_locks) {}

  // Whether apply() must look at a command with this tag.
  bool reports(uint8_t tag) const {
    return tag == kExpireSessionTag || tag == kDeleteSessionTag || audited(tag) || (audit_locks_ && lock_tag(tag));
  }

  Reported look_before(const std::string& payload, uint8_t tag) const;
  void report_applied(const Reported& before, const lockservice::Result& result);

 private:
  void report_expiry(const Reported& before);
  void report_forced_release(const Reported& before);
  void audit(const Reported& before, const lockservice::Result& result);

  const lockservice::StateMachine& machine_;
  const lockservice::SessionKeeper& keeper_;
  Log& log_;
  NodeMetrics& metrics_;
  const bool audit_locks_;
};

}  // namespace synod::server
