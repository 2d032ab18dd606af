#include "server/membership.h"

#include <algorithm>
#include <map>
#include <utility>

#include "persistence/cluster_identity.h"
#include "server/limits.h"

namespace synod::server {

namespace {

using Kind = http::MembersOutcome::Kind;

void insert_sorted(std::vector<paxos::NodeId>& ids, paxos::NodeId id) {
  ids.insert(std::upper_bound(ids.begin(), ids.end(), id), id);
}

PlannedChange refuse(Kind kind, std::string error) {
  PlannedChange planned;
  planned.kind = kind;
  planned.error = std::move(error);
  return planned;
}

// "" if `text` is HOST:PORT, else why not.
std::string address_problem(const std::string& text, const char* what) {
  if (parse_endpoint(text)) return {};
  return std::string(what) + " '" + text + "' is not HOST:PORT";
}

}  // namespace

paxos::Configuration with_addresses(const paxos::Configuration& configuration, const std::vector<Member>& fallback) {
  paxos::Configuration out = configuration;
  for (paxos::NodeId id : configuration.members()) {
    if (out.addresses.count(id) > 0) continue;
    for (const auto& m : fallback) {
      if (m.id == id) out.addresses[id] = paxos::MemberAddresses{m.peer.to_string(), m.client.to_string()};
    }
  }
  return out;
}

std::vector<Member> members_of(const paxos::Configuration& configuration, const std::vector<Member>& fallback) {
  const paxos::Configuration full = with_addresses(configuration, fallback);
  std::vector<Member> members;
  for (paxos::NodeId id : full.members()) {
    Member member{id, {}, {}};
    if (auto it = full.addresses.find(id); it != full.addresses.end()) {
      member.peer = parse_endpoint(it->second.peer).value_or(Endpoint{});
      member.client = parse_endpoint(it->second.client).value_or(Endpoint{});
    }
    members.push_back(std::move(member));
  }
  return members;
}

std::string flags_disagree(const paxos::Configuration& configuration, const std::vector<Member>& flags) {
  if (configuration.addresses.empty()) return {};
  std::string differences;
  const auto note = [&](const std::string& what) { differences += (differences.empty() ? "" : "; ") + what; };
  for (const auto& m : flags) {
    if (!configuration.is_member(m.id)) {
      note("the flags name node " + std::to_string(m.id) + ", which the log does not");
      continue;
    }
    const auto it = configuration.addresses.find(m.id);
    if (it != configuration.addresses.end() &&
        (it->second.peer != m.peer.to_string() || it->second.client != m.client.to_string())) {
      note("node " + std::to_string(m.id) + " is at " + it->second.peer + " (clients " + it->second.client +
           ") in the log, " + m.peer.to_string() + " (clients " + m.client.to_string() + ") in the flags");
    }
  }
  for (paxos::NodeId id : configuration.members()) {
    const bool named = std::any_of(flags.begin(), flags.end(), [&](const Member& m) { return m.id == id; });
    if (!named) note("the log names node " + std::to_string(id) + ", which the flags do not");
  }
  return differences;
}

PlannedChange plan_change(const paxos::Configuration& current, const http::MemberChange& change, uint32_t id_max) {
  using ChangeKind = http::MemberChange::Kind;
  PlannedChange planned;
  planned.next = current;
  paxos::Configuration& next = planned.next;
  const uint32_t id = change.kind == ChangeKind::add && change.id == 0 ? current.next_id : change.id;
  planned.id = id;
  if (change.kind == ChangeKind::add) {
    if (id > id_max) {
      return refuse(Kind::invalid,
                    "node ids are 1-" + std::to_string(id_max) + "; " + std::to_string(id) + " is out of range");
    }
    if (current.is_member(id)) return refuse(Kind::conflict, "member " + std::to_string(id) + " is a member already");
    if (id < current.next_id) {
      return refuse(Kind::invalid, "member " + std::to_string(id) +
                                       " was removed and may not come back, and ids "
                                       "below next_id " +
                                       std::to_string(current.next_id) + " are never used again");
    }
    for (const auto& problem :
         {address_problem(change.peer_addr, "peer_addr"), address_problem(change.client_addr, "client_addr")}) {
      if (!problem.empty()) return refuse(Kind::invalid, problem);
    }
    for (const auto& [member, addresses] : current.addresses) {
      if (addresses.peer == change.peer_addr || addresses.client == change.client_addr) {
        return refuse(Kind::invalid, "member " + std::to_string(member) + " listens at " +
                                         (addresses.peer == change.peer_addr ? change.peer_addr : change.client_addr) +
                                         " already");
      }
    }
    insert_sorted(next.learners, id);
    next.next_id = std::max(current.next_id, id + 1);
    next.addresses[id] = paxos::MemberAddresses{change.peer_addr, change.client_addr};
  } else {
    if (!current.is_member(id)) {
      return refuse(Kind::not_found,
                    "no member has id " + std::to_string(id) + (current.removed(id) ? " (it was removed)" : ""));
    }
    if (change.kind == ChangeKind::promote) {
      if (current.is_voter(id)) return refuse(Kind::conflict, "member " + std::to_string(id) + " is a voter already");
      std::erase(next.learners, id);
      insert_sorted(next.voters, id);
    } else {
      std::erase(next.voters, id);
      std::erase(next.learners, id);
      next.addresses.erase(id);
    }
  }
  if (std::string problem = paxos::check_change(current, next); !problem.empty()) {
    return refuse(Kind::invalid, std::move(problem));
  }
  return planned;
}

http::MemberInfo member_info(const paxos::Replica& replica, const paxos::Configuration& configuration, uint32_t id,
                             int64_t now_us) {
  http::MemberInfo info;
  info.id = id;
  info.voter = configuration.is_voter(id);
  if (auto it = configuration.addresses.find(id); it != configuration.addresses.end()) {
    info.peer_addr = it->second.peer;
    info.client_addr = it->second.client;
  }
  const paxos::Slot commit = replica.commit_index();
  if (id == replica.self()) {
    info.chosen_through = commit;
    return info;
  }
  const auto progress = replica.peer(id);
  info.chosen_through = progress.chosen_through;
  info.lag_slots = commit - std::min(commit, progress.chosen_through);
  if (progress.last_ack != 0) info.last_ack_ms_ago = std::max<int64_t>(0, (now_us - progress.last_ack) / 1000);
  return info;
}

http::MembersOutcome list_members(const paxos::Replica& replica, const std::vector<Member>& fallback, int64_t now_us) {
  http::MembersOutcome outcome;
  outcome.leader = replica.leader();
  if (replica.role() != paxos::Role::leader) {
    outcome.kind = Kind::not_leader;
    return outcome;
  }
  const paxos::Configuration configuration = with_addresses(replica.configuration(), fallback);
  for (paxos::NodeId id : configuration.members())
    outcome.members.push_back(member_info(replica, configuration, id, now_us));
  outcome.next_id = configuration.next_id;
  outcome.configuration_slot = replica.configuration_chosen_at();
  outcome.change_in_progress = replica.change_in_progress();
  return outcome;
}

std::optional<http::MembersOutcome> propose_change(paxos::Replica& replica, const std::vector<Member>& fallback,
                                                   const http::MemberChange& change, uint32_t id_max, int64_t now_us,
                                                   PlannedChange& planned) {
  http::MembersOutcome outcome;
  outcome.leader = replica.leader();
  if (replica.role() != paxos::Role::leader) {
    outcome.kind = Kind::not_leader;
    return outcome;
  }
  if (replica.change_in_progress()) {
    outcome.kind = Kind::busy;
    outcome.error = "another membership change is in progress; retry once it is in effect";
    return outcome;
  }
  planned = plan_change(with_addresses(replica.configuration(), fallback), change, id_max);
  if (planned.kind != Kind::ok) {
    outcome.kind = planned.kind;
    outcome.error = planned.error;
    return outcome;
  }
  std::string why;
  switch (replica.propose_configuration(planned.next, now_us, &why)) {
    case paxos::Replica::ChangeStatus::queued:
      return std::nullopt;
    case paxos::Replica::ChangeStatus::not_leader:
      outcome.kind = Kind::not_leader;
      break;
    case paxos::Replica::ChangeStatus::busy:
      outcome.kind = Kind::busy;
      break;
    case paxos::Replica::ChangeStatus::invalid:
      outcome.kind = Kind::invalid;
      break;
  }
  outcome.error = why;
  return outcome;
}

void MemberChanges::started(paxos::Configuration next, uint32_t id, int64_t now_us, Done done) {
  waiting_.push_back(Waiting{std::move(next), id, now_us, std::move(done)});
}

void MemberChanges::observe(const paxos::Replica& replica, int64_t now_us) {
  for (size_t i = 0; i < waiting_.size();) {
    Waiting& w = waiting_[i];
    const int64_t took_ms = (now_us - w.started_us) / 1000;
    const bool in_effect = replica.configuration_in_effect() == w.next;
    // A node that removed itself may hear nothing once the change is in effect.
    const bool removed_self = replica.configuration() == w.next && !w.next.is_member(replica.self());
    if (!in_effect && !removed_self && took_ms < kRequestMsMax) {
      ++i;
      continue;
    }
    http::MembersOutcome outcome;
    outcome.leader = replica.leader();
    outcome.next_id = w.next.next_id;
    outcome.took_ms = took_ms;
    if (in_effect || removed_self) {
      if (w.next.is_member(w.id)) outcome.members.push_back(member_info(replica, w.next, w.id, now_us));
    } else {
      outcome.kind = Kind::timed_out;
      outcome.error = "the change was proposed but is not in effect after " + std::to_string(took_ms) +
                      " ms; it may still take effect (GET /v1/cluster/members shows the members)";
    }
    auto done = std::move(w.done);
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
    done(std::move(outcome));
  }
}

void MemberChanges::fail_all(const std::string& why) {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& w : waiting) {
    http::MembersOutcome outcome;
    outcome.kind = Kind::timed_out;
    outcome.error = why;
    w.done(std::move(outcome));
  }
}

}  // namespace synod::server

namespace synod::server {

void Membership::sync(const paxos::Replica& replica, transport::PeerTransport* transport) {
  const paxos::Configuration& latest = replica.configuration();
  if (!synced_) {
    flag_members_ = config_.members;
    if (auto differences = flags_disagree(latest, flag_members_); !differences.empty()) {
      log_.write(Level::warn, "members_differ_from_flags",
                 {{"detail", differences + "; this node follows the configuration in its log"},
                  {"configuration", paxos::to_string(latest)}});
    }
  } else if (latest == synced_configuration_ && replica.configuration_in_effect() == synced_in_effect_) {
    return;
  }
  config_.members = members_of(latest, flag_members_);
  for (auto& m : members_of(replica.configuration_in_effect(), flag_members_)) {
    const bool listed = std::any_of(config_.members.begin(), config_.members.end(),
                                    [&](const Member& known) { return known.id == m.id; });
    if (!listed) config_.members.push_back(std::move(m));
  }
  if (!latest.is_member(config_.id)) {
    // Removed: it keeps its own entry (it still listens), and is refused by the members.
    for (const auto& m : flag_members_) {
      if (m.id == config_.id) config_.members.push_back(m);
    }
    if (!removal_logged_ && latest.removed(config_.id)) {
      removal_logged_ = true;
      log_.write(Level::warn, "removed_from_cluster",
                 {{"detail",
                   "this node's log says it was removed; the members refuse it. Give its machine a new "
                   "id and an empty data directory to bring it back (docs/operations.md)"}});
    }
  }
  if (transport != nullptr) transport->set_members(peer_set(), latest.next_id);
  if (synced_) log_.write(Level::info, "members_changed", {{"configuration", paxos::to_string(latest)}});
  synced_configuration_ = latest;
  synced_in_effect_ = replica.configuration_in_effect();
  synced_ = true;
}

std::vector<transport::Member> Membership::peer_set() const {
  std::vector<transport::Member> set{{config_.id, {config_.peer_listen.host, config_.peer_listen.port}}};
  for (const auto& m : config_.members) {
    if (m.id != config_.id && m.peer.port != 0) set.push_back({m.id, {m.peer.host, m.peer.port}});
  }
  return set;
}

void Membership::fill_view(const paxos::Replica& replica, uint64_t cluster_id, http::ClusterView& view) const {
  const paxos::Configuration& latest = replica.configuration();
  view.voters.assign(latest.voters.begin(), latest.voters.end());
  view.learners.assign(latest.learners.begin(), latest.learners.end());
  view.change_in_progress = replica.change_in_progress();
  view.cluster_id = persistence::cluster_id_hex(cluster_id);
  view.cluster_name = config_.cluster_id;
}

bool Membership::change(paxos::Replica& replica, const http::MemberChange& change, bool stopping, int64_t now_us,
                        const MemberChanges::Done& done) {
  constexpr uint32_t kIdMax = (uint32_t{1} << kClientIdNodeBits) - 1;  // a client id's top byte (limits.h)
  if (stopping) {
    http::MembersOutcome outcome;
    outcome.kind = Kind::not_leader;
    done(std::move(outcome));
    return false;
  }
  PlannedChange planned;
  if (auto answer = propose_change(replica, flag_members_, change, kIdMax, now_us, planned)) {
    done(std::move(*answer));
    return false;
  }
  static constexpr const char* kWords[] = {"add", "promote", "remove"};
  log_.write(Level::info, "member_change_proposed",
             {{"change", kWords[static_cast<size_t>(change.kind)]},
              {"member", planned.id},
              {"configuration", paxos::to_string(planned.next)}});
  changes_.started(std::move(planned.next), planned.id, now_us, done);
  return true;
}

}  // namespace synod::server
