#include "server/command_reports.h"

#include <algorithm>

#include "server/clock.h"

namespace synod::server {

CommandReports::Reported CommandReports::look_before(const std::string& payload, uint8_t tag) const {
  Reported before;
  before.tag = tag;
  before.decoded = lockservice::decode(payload);
  if (!before.decoded.ok) return before;
  before.principal = machine_.authenticate(before.decoded.credential);
  if (const auto* remove = std::get_if<lockservice::DeleteSession>(&before.decoded.command)) {
    before.owner = machine_.session_owner(remove->session);
  }
  if (const auto* expire = std::get_if<lockservice::ExpireSession>(&before.decoded.command)) {
    before.session = machine_.session(expire->session);
  } else if (const auto* force = std::get_if<lockservice::ForceRelease>(&before.decoded.command)) {
    if (force->space == lockservice::Space::election) before.election = machine_.election(force->name);
    else before.lock = machine_.lock(force->name);
  }
  return before;
}

void CommandReports::report_applied(const Reported& before, const lockservice::Result& result) {
  if (before.decoded.ok) {
    const bool by_another = before.tag == kDeleteSessionTag && before.principal && !before.owner.empty() &&
                            before.principal->name != before.owner;
    if (audited(before.tag) || by_another || (audit_locks_ && lock_tag(before.tag))) audit(before, result);
  }
  if (!before.decoded.ok || result.status != lockservice::Status::ok) return;
  if (before.tag == kExpireSessionTag) report_expiry(before);
  else if (before.tag == kForceReleaseTag) report_forced_release(before);
}

void CommandReports::report_expiry(const Reported& before) {
  if (!before.session) return;
  const auto& session = *before.session;
  metrics_.session_expiries.inc();
  std::string locks;
  for (const auto& name : session.locks) locks += (locks.empty() ? "" : ",") + name;
  for (const auto& name : session.elections) locks += (locks.empty() ? "election:" : ",election:") + name;
  const int64_t log_now = machine_.log_time_ms();
  // Every replica applies it; the leader, which proposed it, says so at info.
  log_.write(keeper_.leading() ? Level::info : Level::debug, "session_expired",
            {{"session", session.id}, {"reason", "no keep-alive reached the leader within the TTL"},
             {"ttl_ms", session.ttl_ms}, {"silent_ms", log_now - session.renewed_log_ms},
             {"overdue_ms", log_now - session.deadline_log_ms}, {"lived_ms", log_now - session.created_log_ms},
             {"released", locks}, {"lock_delay_ms", session.lock_delay_ms},
             {"ephemeral_keys", static_cast<uint64_t>(session.ephemeral_keys)},
             // How long after its stamp the expiry was applied: the lock-delay
             // runs from the stamp, so a slow commit eats into it.
             {"applied_after_ms", keeper_.leading() ? keeper_.log_now_ms(machine_, steady_us() / 1000) - log_now : 0}});
}

// One line per auth command and forced release, refused ones too, on every
// replica (each applies it); the leader's at info.
void CommandReports::audit(const Reported& before, const lockservice::Result& result) {
  const auto& command = before.decoded.command;
  std::string resource;
  if (const auto* token = std::get_if<lockservice::CreateToken>(&command)) {
    resource = "principal:" + token->principal + (token->root ? " (root)" : "");
  } else if (const auto* revoke = std::get_if<lockservice::RevokeToken>(&command)) {
    resource = "token:" + std::to_string(revoke->id);
  } else if (const auto* rule = std::get_if<lockservice::PutRule>(&command)) {
    resource = rule->subject + " " + lockservice::acl_space_name(rule->space) + " '" + rule->prefix + "' " +
               lockservice::permission_name(rule->permission);
  } else if (const auto* remove = std::get_if<lockservice::DeleteRule>(&command)) {
    resource = "rule:" + std::to_string(remove->id);
  } else if (const auto* set = std::get_if<lockservice::SetAuth>(&command)) {
    resource = set->enabled ? "enabled" : "disabled";
  } else if (const auto* force = std::get_if<lockservice::ForceRelease>(&command)) {
    resource = std::string(force->space == lockservice::Space::election ? "election:" : "lock:") + force->name;
  } else if (const auto* deleted = std::get_if<lockservice::DeleteSession>(&command)) {
    resource = "session:" + std::to_string(deleted->session) + " of " + before.owner;
  } else if (const auto* acquire = std::get_if<lockservice::Acquire>(&command)) {
    resource = "lock:" + acquire->lock + " session:" + std::to_string(acquire->session);
  } else if (const auto* release = std::get_if<lockservice::Release>(&command)) {
    resource = "lock:" + release->lock + " session:" + std::to_string(release->session);
  } else if (const auto* campaign = std::get_if<lockservice::Campaign>(&command)) {
    resource = "election:" + campaign->election + " session:" + std::to_string(campaign->session);
  } else if (const auto* resign = std::get_if<lockservice::Resign>(&command)) {
    resource = "election:" + resign->election + " session:" + std::to_string(resign->session);
  } else if (const auto* both = std::get_if<lockservice::CreateSessionAnd>(&command)) {
    const auto* acquire_new = std::get_if<lockservice::Acquire>(&both->then);
    resource = acquire_new ? "lock:" + acquire_new->lock
                           : "election:" + std::get<lockservice::Campaign>(both->then).election;
    resource += " session:" + std::to_string(result.session) + " (new)";
  }
  const auto& principal = before.principal;
  log_.write(keeper_.leading() ? Level::info : Level::debug, "audit",
             {{"principal", principal ? (principal->name.empty() ? "anonymous" : principal->name) : "unknown token"},
              {"action", lockservice::command_name(command)},
              {"resource", resource},
              {"token", principal ? principal->token_id : 0},
              {"revision", result.revision},
              {"result", lockservice::status_name(result.status)},
              {"fencing_token", result.token}});
}

void CommandReports::report_forced_release(const Reported& before) {
  const auto& force = std::get<lockservice::ForceRelease>(before.decoded.command);
  const int64_t log_now = machine_.log_time_ms();
  const Level level = keeper_.leading() ? Level::info : Level::debug;
  if (before.election && before.election->leader != lockservice::kNoSession) {
    const auto after = machine_.election(force.name);
    if (after && after->leader == before.election->leader) return;  // nothing was evicted
    metrics_.forced_releases.inc();
    log_.write(level, "forced_release",
              {{"space", "election"}, {"name", force.name}, {"session", before.election->leader},
               {"token", before.election->token}, {"reason", force.reason}});
    return;
  }
  if (!before.lock) return;
  const auto after = machine_.lock(force.name);
  for (const auto& holder : before.lock->holders) {
    const bool kept = after && std::any_of(after->holders.begin(), after->holders.end(),
                                           [&](const auto& h) { return h.token == holder.token; });
    if (kept) continue;
    metrics_.forced_releases.inc();
    log_.write(level, "forced_release",
              {{"space", "lock"}, {"name", force.name}, {"session", holder.session}, {"token", holder.token},
               {"reason", force.reason}, {"held_ms", log_now - holder.granted_log_ms},
               {"lock_delay", !force.skip_lock_delay}});
  }
}

}  // namespace synod::server
