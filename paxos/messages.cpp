#include "paxos/messages.h"

#include "paxos/ready.h"

#include <sstream>

namespace synod::paxos {

namespace {

std::string describe_value(const ValuePtr& value) {
  if (!value) return "null";
  if (value->kind == Value::Kind::noop) return "noop";
  std::string text = "[";
  for (size_t i = 0; i < value->commands.size(); ++i) {
    if (i != 0) text += ",";
    text += value->commands[i].payload;
  }
  return text + "]";
}

const char* reason_name(Reject::Reason reason) {
  switch (reason) {
    case Reject::Reason::stale_ballot: return "stale_ballot";
    case Reject::Reason::lease_held: return "lease_held";
    case Reject::Reason::restarting: return "restarting";
    case Reject::Reason::repairing: return "repairing";
  }
  return "?";
}

const char* refused_name(Reject::Refused refused) {
  switch (refused) {
    case Reject::Refused::prepare: return "prepare";
    case Reject::Refused::accept: return "accept";
    case Reject::Refused::heartbeat: return "heartbeat";
  }
  return "?";
}

}  // namespace

const char* message_name(const Message& message) {
  static constexpr const char* kNames[] = {"Probe",         "ProbeReply",     "Prepare",      "Promise",
                                           "Accept",        "Accepted",       "Reject",       "Heartbeat",
                                           "HeartbeatAck",  "CatchupRequest", "CatchupReply", "Nominate",
                                           "RepairQuery",   "RepairReport"};
  static_assert(std::size(kNames) == std::variant_size_v<Message>);
  return kNames[message.index()];
}

std::string describe(const Message& message) {
  std::ostringstream out;
  out << message_name(message);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Probe>) {
          out << " b=" << to_string(m.ballot) << " chosen_through=" << m.chosen_through;
        } else if constexpr (std::is_same_v<T, ProbeReply>) {
          out << " b=" << to_string(m.ballot) << (m.granted ? " granted" : " refused");
        } else if constexpr (std::is_same_v<T, Prepare>) {
          out << " b=" << to_string(m.ballot) << " from_slot=" << m.first_slot;
          if (!m.nominated_by.is_zero()) out << " nominated_by=" << to_string(m.nominated_by);
        } else if constexpr (std::is_same_v<T, Promise>) {
          out << " b=" << to_string(m.ballot) << " chosen_through=" << m.chosen_through << " accepted={";
          for (size_t i = 0; i < m.accepted.size(); ++i) {
            const auto& vote = m.accepted[i];
            out << (i ? " " : "") << vote.slot << ":" << to_string(vote.ballot) << "=" << describe_value(vote.value);
          }
          out << "}";
        } else if constexpr (std::is_same_v<T, Accept>) {
          out << " b=" << to_string(m.ballot) << " slot=" << m.slot << " value=" << describe_value(m.value)
              << " commit=" << m.commit_index;
        } else if constexpr (std::is_same_v<T, Accepted>) {
          out << " b=" << to_string(m.ballot) << " slot=" << m.slot;
        } else if constexpr (std::is_same_v<T, Reject>) {
          out << " " << refused_name(m.refused) << " b=" << to_string(m.ballot) << " promised=" << to_string(m.promised)
              << " reason=" << reason_name(m.reason);
        } else if constexpr (std::is_same_v<T, Heartbeat>) {
          out << " b=" << to_string(m.ballot) << " seq=" << m.seq << " commit=" << m.commit_index;
          if (!m.serving) out << " not-serving";
        } else if constexpr (std::is_same_v<T, HeartbeatAck>) {
          out << " b=" << to_string(m.ballot) << " seq=" << m.seq << " chosen_through=" << m.chosen_through;
        } else if constexpr (std::is_same_v<T, CatchupRequest>) {
          out << " from_slot=" << m.from_slot;
        } else if constexpr (std::is_same_v<T, CatchupReply>) {
          out << " commit=" << m.commit_index << " entries=" << m.entries.size();
          if (!m.entries.empty()) out << " first=" << m.entries.front().slot;
          if (m.snapshot_needed) out << " snapshot_needed";
        } else if constexpr (std::is_same_v<T, Nominate>) {
          out << " b=" << to_string(m.ballot) << " successor=" << m.successor;
        } else if constexpr (std::is_same_v<T, RepairQuery>) {
          out << " nonce=" << m.nonce << " floor=" << to_string(m.ballot_floor);
        } else if constexpr (std::is_same_v<T, RepairReport>) {
          out << " nonce=" << m.nonce << " promised=" << to_string(m.promised) << " chosen_through=" << m.chosen_through
              << (m.fresh ? " fresh" : "");
        } else {
          static_assert(kUnhandled<T>, "describe every paxos::Message");
        }
      },
      message);
  return out.str();
}

const char* role_name(Role role) {
  switch (role) {
    case Role::follower: return "follower";
    case Role::candidate: return "candidate";
    case Role::leader: return "leader";
  }
  return "?";
}

}  // namespace synod::paxos
