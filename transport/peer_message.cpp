#include "transport/peer_message.h"

#include <iterator>
#include <sstream>
#include <type_traits>

namespace synod::transport {

namespace {

const char* server_message_name(const ServerMessage& message) {
  static constexpr const char* kNames[] = {"SnapshotRequest", "SnapshotChunk", "ForwardRequest", "ForwardReply"};
  static_assert(std::size(kNames) == std::variant_size_v<ServerMessage>);
  return kNames[message.index()];
}

}  // namespace

const char* message_name(const PeerMessage& message) {
  if (const auto* core = std::get_if<paxos::Message>(&message)) return paxos::message_name(*core);
  return server_message_name(std::get<ServerMessage>(message));
}

std::string describe(const PeerMessage& message) {
  if (const auto* core = std::get_if<paxos::Message>(&message)) return paxos::describe(*core);
  const auto& server = std::get<ServerMessage>(message);
  std::ostringstream out;
  out << server_message_name(server);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, SnapshotRequest>) {
          out << " slot=" << m.slot << " offset=" << m.offset;
        } else if constexpr (std::is_same_v<T, SnapshotChunk>) {
          out << " slot=" << m.slot << " offset=" << m.offset << " bytes=" << m.bytes.size() << " of " << m.total_bytes
              << (m.last ? " last" : "");
        } else if constexpr (std::is_same_v<T, ForwardRequest>) {
          out << " id=" << m.request_id << " kind=" << static_cast<int>(m.kind) << " bytes=" << m.payload.size();
        } else if constexpr (std::is_same_v<T, ForwardReply>) {
          out << " id=" << m.request_id << " outcome=" << static_cast<int>(m.outcome) << " bytes=" << m.payload.size();
        } else {
          static_assert(paxos::kUnhandled<T>, "describe every ServerMessage");
        }
      },
      server);
  return out.str();
}

}  // namespace synod::transport
