// Sample envelopes of every message type with edge values, and a field-by-
// field comparison of messages (the core's messages define no operator==).
// Shared by the wire tests and the fuzz corpus generator
// (test/fuzz/make_peer_frame_corpus.cpp). Header-only; any thread.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "paxos/config_history.h"
#include "paxos/messages.h"
#include "paxos/types.h"
#include "transport/peer_message.h"

namespace synod::transport::testing {

inline constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
inline constexpr paxos::NodeId kNodeMax = std::numeric_limits<paxos::NodeId>::max();

inline std::vector<PeerEnvelope> sample_envelopes() {
  using namespace paxos;
  const Ballot zero{};
  const Ballot small{1, 1};
  const Ballot big{kU64Max, kNodeMax};
  const ValuePtr noop = make_noop();
  const ValuePtr one = make_batch({Command{7, 1, "x"}});
  const ValuePtr edge = make_batch({Command{0, 0, ""}, Command{kU64Max, kU64Max, std::string("\0\xff bin\n\x80", 9)},
                                    Command{1, 2, std::string(300, 'p')}});
  const ValuePtr empty_batch = make_batch({});
  // A snapshot's configurations: the bootstrap one, then a change chosen at
  // slot 30 that adds learner 4 with its addresses, and ids at the edge.
  Configuration grown = Configuration::of_voters({1, 2, 3});
  grown.learners = {4};
  grown.next_id = 5;
  grown.addresses[4] = MemberAddresses{"10.0.0.4:7101", "10.0.0.4:7100"};
  Configuration edge_config = Configuration::of_voters({1, kNodeMax - 1});
  const std::vector<ConfigEntry> history{ConfigEntry{1, kNoSlot, Configuration::of_voters({1, 2, 3}), nullptr},
                                         ConfigEntry{46, 30, grown, nullptr}};
  const std::vector<ConfigEntry> edge_history{ConfigEntry{kU64Max, kU64Max - 1, edge_config, nullptr}};

  std::vector<PeerEnvelope> out;
  const auto add = [&](NodeId from, NodeId to, auto message) {
    if constexpr (std::is_constructible_v<Message, decltype(message)>) {
      out.push_back(PeerEnvelope{from, to, PeerMessage{Message{std::move(message)}}});
    } else {
      out.push_back(PeerEnvelope{from, to, PeerMessage{ServerMessage{std::move(message)}}});
    }
  };
  add(1, 2, Probe{});
  add(2, 1, Probe{small, 5});
  add(kNodeMax, 1, Probe{big, kU64Max});
  add(1, 2, ProbeReply{});
  add(2, 3, ProbeReply{small, true, 12'345});
  add(3, 1, ProbeReply{big, false, std::numeric_limits<int64_t>::min()});
  add(1, 3, ProbeReply{big, true, std::numeric_limits<int64_t>::max()});
  add(1, 2, Prepare{});
  add(1, 2, Prepare{Ballot{3, 1}, 17, small});
  add(2, kNodeMax, Prepare{big, kU64Max, big});
  add(2, 1, Promise{});
  add(2, 1, Promise{Ballot{3, 1}, 17, 16, {AcceptedEntry{17, small, one}, AcceptedEntry{18, Ballot{2, 2}, noop}}});
  add(3, 1, Promise{big, kU64Max, kU64Max, {AcceptedEntry{kU64Max, big, edge}, AcceptedEntry{0, zero, empty_batch}}});
  add(1, 2, Accept{small, 1, noop, 0});
  add(1, 2, Accept{Ballot{4, 1}, 99, one, 98});
  add(1, 3, Accept{big, kU64Max, edge, kU64Max});
  add(1, 3, Accept{small, 2, empty_batch, 1});
  add(2, 1, Accepted{});
  add(3, 1, Accepted{big, kU64Max});
  add(2, 1, Reject{});
  add(2, 1, Reject{small, Ballot{9, 3}, Reject::Reason::lease_held, Reject::Refused::accept});
  add(3, 1, Reject{big, big, Reject::Reason::restarting, Reject::Refused::heartbeat});
  add(1, 2, Heartbeat{});
  add(1, 2, Heartbeat{small, 42, 41, false});
  add(1, 3, Heartbeat{big, kU64Max, kU64Max, true});
  add(2, 1, HeartbeatAck{});
  add(2, 1, HeartbeatAck{small, 42, 40});
  add(3, 1, HeartbeatAck{big, kU64Max, kU64Max});
  add(2, 1, CatchupRequest{});
  add(2, 1, CatchupRequest{kU64Max});
  add(1, 2, CatchupReply{});
  add(1, 2, CatchupReply{5, {ChosenEntry{1, noop}, ChosenEntry{2, one}}, false});
  add(1, 3, CatchupReply{kU64Max, {ChosenEntry{kU64Max, edge}}, true});
  add(1, 3, CatchupReply{3, {}, true});
  add(1, 2, Nominate{});
  add(1, 2, Nominate{small, 2});
  add(1, 3, Nominate{big, kNodeMax});
  add(3, 1, Reject{small, small, Reject::Reason::repairing, Reject::Refused::prepare});
  add(3, 1, RepairQuery{});
  add(3, 2, RepairQuery{kU64Max, big});
  add(1, 3, RepairReport{});
  add(1, 3, RepairReport{kU64Max, big, kU64Max, true});
  add(3, 1, SnapshotRequest{});
  add(3, 1, SnapshotRequest{kU64Max, kU64Max});
  add(1, 3, SnapshotChunk{});
  add(1, 3, SnapshotChunk{7, history, 1 << 20, std::string(300, '\xab'), 0xdeadbeef, kU64Max, 1, true});
  add(1, 3, SnapshotChunk{kU64Max, edge_history, 0, "", 0, 0, 0, false});
  add(2, 1, ForwardRequest{});
  add(2, 1, ForwardRequest{kU64Max, ForwardRequest::Kind::keep_alive, kU64Max, 7, std::string(40, 'c')});
  add(1, 2, ForwardReply{});
  add(1, 2, ForwardReply{kU64Max, 3, kNodeMax, kU64Max, std::string(70, 'r')});
  return out;
}

// Field-by-field equality; values compare by content (same_value).
inline bool same(const paxos::Ballot& a, const paxos::Ballot& b) { return a == b; }
inline bool same(const paxos::AcceptedEntry& a, const paxos::AcceptedEntry& b) {
  return a.slot == b.slot && a.ballot == b.ballot && paxos::same_value(a.value, b.value);
}
inline bool same(const paxos::ChosenEntry& a, const paxos::ChosenEntry& b) {
  return a.slot == b.slot && paxos::same_value(a.value, b.value);
}
template <typename T>
bool same(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same(a[i], b[i])) return false;
  }
  return true;
}

inline bool same(const paxos::Message& a, const paxos::Message& b) {
  using namespace paxos;
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b);
        if constexpr (std::is_same_v<T, Probe>) {
          return std::tie(x.ballot, x.chosen_through) == std::tie(y.ballot, y.chosen_through);
        } else if constexpr (std::is_same_v<T, ProbeReply>) {
          return std::tie(x.ballot, x.granted, x.wait_us) == std::tie(y.ballot, y.granted, y.wait_us);
        } else if constexpr (std::is_same_v<T, Prepare>) {
          return std::tie(x.ballot, x.first_slot, x.nominated_by) == std::tie(y.ballot, y.first_slot, y.nominated_by);
        } else if constexpr (std::is_same_v<T, Promise>) {
          return std::tie(x.ballot, x.first_slot, x.chosen_through) ==
                     std::tie(y.ballot, y.first_slot, y.chosen_through) &&
                 same(x.accepted, y.accepted);
        } else if constexpr (std::is_same_v<T, Accept>) {
          return std::tie(x.ballot, x.slot, x.commit_index) == std::tie(y.ballot, y.slot, y.commit_index) &&
                 same_value(x.value, y.value);
        } else if constexpr (std::is_same_v<T, Accepted>) {
          return std::tie(x.ballot, x.slot) == std::tie(y.ballot, y.slot);
        } else if constexpr (std::is_same_v<T, Reject>) {
          return std::tie(x.ballot, x.promised, x.reason, x.refused) ==
                 std::tie(y.ballot, y.promised, y.reason, y.refused);
        } else if constexpr (std::is_same_v<T, Heartbeat>) {
          return std::tie(x.ballot, x.seq, x.commit_index, x.serving) ==
                 std::tie(y.ballot, y.seq, y.commit_index, y.serving);
        } else if constexpr (std::is_same_v<T, HeartbeatAck>) {
          return std::tie(x.ballot, x.seq, x.chosen_through) == std::tie(y.ballot, y.seq, y.chosen_through);
        } else if constexpr (std::is_same_v<T, CatchupRequest>) {
          return x.from_slot == y.from_slot;
        } else if constexpr (std::is_same_v<T, CatchupReply>) {
          return x.commit_index == y.commit_index && x.snapshot_needed == y.snapshot_needed &&
                 same(x.entries, y.entries);
        } else if constexpr (std::is_same_v<T, Nominate>) {
          return std::tie(x.ballot, x.successor) == std::tie(y.ballot, y.successor);
        } else if constexpr (std::is_same_v<T, RepairQuery>) {
          return std::tie(x.nonce, x.ballot_floor) == std::tie(y.nonce, y.ballot_floor);
        } else if constexpr (std::is_same_v<T, RepairReport>) {
          return std::tie(x.nonce, x.promised, x.chosen_through, x.fresh) ==
                 std::tie(y.nonce, y.promised, y.chosen_through, y.fresh);
        } else {
          static_assert(paxos::kUnhandled<T>, "compare the new message's fields here");
          return false;
        }
      },
      a);
}

inline bool same(const ServerMessage& a, const ServerMessage& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b);
        if constexpr (std::is_same_v<T, SnapshotRequest>) {
          return std::tie(x.slot, x.offset) == std::tie(y.slot, y.offset);
        } else if constexpr (std::is_same_v<T, ForwardRequest>) {
          return std::tie(x.request_id, x.kind, x.client_id, x.seq, x.payload) ==
                 std::tie(y.request_id, y.kind, y.client_id, y.seq, y.payload);
        } else if constexpr (std::is_same_v<T, ForwardReply>) {
          return std::tie(x.request_id, x.outcome, x.leader, x.revision, x.payload) ==
                 std::tie(y.request_id, y.outcome, y.leader, y.revision, y.payload);
        } else {
          static_assert(std::is_same_v<T, SnapshotChunk>, "compare the new message's fields here");
          return std::tie(x.slot, x.configurations, x.offset, x.bytes, x.crc32c, x.total_bytes, x.total_crc32c,
                          x.last) ==
                 std::tie(y.slot, y.configurations, y.offset, y.bytes, y.crc32c, y.total_bytes, y.total_crc32c, y.last);
        }
      },
      a);
}

inline bool same(const PeerMessage& a, const PeerMessage& b) {
  if (a.index() != b.index()) return false;
  if (const auto* core = std::get_if<paxos::Message>(&a)) return same(*core, std::get<paxos::Message>(b));
  return same(std::get<ServerMessage>(a), std::get<ServerMessage>(b));
}

// One number per message type across both alternatives (0-13 the core's,
// then the server's), for coverage counts.
inline size_t message_type(const PeerMessage& message) {
  if (const auto* core = std::get_if<paxos::Message>(&message)) return core->index();
  return std::variant_size_v<paxos::Message> + std::get<ServerMessage>(message).index();
}

inline bool same(const PeerEnvelope& a, const PeerEnvelope& b) {
  return a.from == b.from && a.to == b.to && same(a.message, b.message);
}

}  // namespace synod::transport::testing
