#include "paxos/configuration.h"

#include <algorithm>

#include "paxos/quorum.h"

namespace synod::paxos {

namespace {

bool sorted_unique(const std::vector<NodeId>& ids) {
  return std::adjacent_find(ids.begin(), ids.end(), [](NodeId a, NodeId b) { return a >= b; }) == ids.end();
}

bool contains(const std::vector<NodeId>& ids, NodeId node) { return std::binary_search(ids.begin(), ids.end(), node); }

std::string join(const std::vector<NodeId>& ids) {
  std::string out;
  for (NodeId id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

// Empty if `c` is a configuration at all.
std::string check_shape(const Configuration& c) {
  if (c.voters.empty()) return "a configuration needs at least one voter";
  if (c.voters.size() > kVotersMax) {
    return std::to_string(c.voters.size()) + " voters; at most " + std::to_string(kVotersMax) + " may vote";
  }
  if (!sorted_unique(c.voters) || !sorted_unique(c.learners)) return "member ids must be ascending and distinct";
  for (NodeId id : c.members()) {
    if (id == kNoNode) return "member id 0 is reserved";
    if (id >= c.next_id) return "member " + std::to_string(id) + " is not below next_id " + std::to_string(c.next_id);
  }
  for (NodeId id : c.learners) {
    if (contains(c.voters, id)) return "member " + std::to_string(id) + " is both a voter and a learner";
  }
  for (const auto& [id, addresses] : c.addresses) {
    if (!c.is_member(id)) return "addresses given for " + std::to_string(id) + ", which is not a member";
  }
  return {};
}

}  // namespace

bool Configuration::is_voter(NodeId node) const { return contains(voters, node); }
bool Configuration::is_learner(NodeId node) const { return contains(learners, node); }

std::vector<NodeId> Configuration::members() const {
  std::vector<NodeId> all = voters;
  all.insert(all.end(), learners.begin(), learners.end());
  return all;
}

Configuration Configuration::of_voters(std::vector<NodeId> voters) {
  Configuration c;
  std::sort(voters.begin(), voters.end());
  c.voters = std::move(voters);
  c.next_id = c.voters.empty() ? 1 : c.voters.back() + 1;
  return c;
}

std::string to_string(const Configuration& c) {
  return "voters {" + join(c.voters) + "} learners {" + join(c.learners) + "} next_id " + std::to_string(c.next_id);
}

std::string check_change(const Configuration& current, const Configuration& next) {
  if (std::string shape = check_shape(next); !shape.empty()) return shape;
  if (next.next_id < current.next_id) return "next_id may not go down";
  // Ids leave for good: a member of `next` was a member of `current`, or is
  // new (at or above current.next_id).
  for (NodeId id : next.members()) {
    if (current.removed(id)) return "member " + std::to_string(id) + " was removed and may not come back";
  }
  const auto changed = [&](const std::vector<NodeId>& a, const std::vector<NodeId>& b) {
    std::vector<NodeId> diff;
    std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(diff));
    return diff;
  };
  const auto voters_changed = changed(current.voters, next.voters);
  const auto learners_changed = changed(current.learners, next.learners);
  const size_t moved = voters_changed.size() + learners_changed.size();
  if (moved == 0) return {};  // addresses only, or nothing
  if (voters_changed.size() == 1 && learners_changed.empty() && !next.is_voter(voters_changed[0])) return {};
  if (voters_changed.empty() && learners_changed.size() == 1) {
    const NodeId id = learners_changed[0];
    if (!next.is_learner(id) || id >= current.next_id) return {};  // a learner removed, or a new one added
    return "member " + std::to_string(id) + " may not be added again";
  }
  if (voters_changed.size() == 1 && learners_changed.size() == 1 && voters_changed[0] == learners_changed[0] &&
      next.is_voter(voters_changed[0])) {
    return {};  // a promotion
  }
  return "a change adds a learner, promotes one, or removes one member; this one does more (" + to_string(current) +
         " -> " + to_string(next) + ")";
}

void encode_configuration(const Configuration& c, Writer& writer) {
  writer.varint(c.voters.size());
  for (NodeId id : c.voters) writer.varint(id);
  writer.varint(c.learners.size());
  for (NodeId id : c.learners) writer.varint(id);
  writer.varint(c.next_id);
  writer.varint(c.addresses.size());
  for (const auto& [id, addresses] : c.addresses) {
    writer.varint(id);
    writer.bytes(addresses.peer);
    writer.bytes(addresses.client);
  }
}

bool decode_configuration(Reader& reader, Configuration& out) {
  const auto read_ids = [&](std::vector<NodeId>& ids) {
    const uint64_t count = reader.varint();
    if (!reader.ok() || count > reader.remaining()) return false;
    ids.resize(static_cast<size_t>(count));
    for (auto& id : ids) {
      const uint64_t raw = reader.varint();
      if (raw > UINT32_MAX) return false;
      id = static_cast<NodeId>(raw);
    }
    return reader.ok();
  };
  Configuration c;
  if (!read_ids(c.voters) || !read_ids(c.learners)) {
    reader.fail();
    return false;
  }
  const uint64_t next_id = reader.varint();
  const uint64_t addresses = reader.varint();
  // Each address entry takes at least three bytes (an id, two lengths).
  if (!reader.ok() || next_id > UINT32_MAX || addresses > reader.remaining() / 3) {
    reader.fail();
    return false;
  }
  c.next_id = static_cast<NodeId>(next_id);
  for (uint64_t i = 0; i < addresses; ++i) {
    const uint64_t id = reader.varint();
    MemberAddresses entry;
    entry.peer = std::string(reader.bytes());
    entry.client = std::string(reader.bytes());
    if (!reader.ok() || id > UINT32_MAX || !c.addresses.emplace(static_cast<NodeId>(id), std::move(entry)).second) {
      reader.fail();
      return false;
    }
  }
  if (!check_shape(c).empty()) {
    reader.fail();
    return false;
  }
  out = std::move(c);
  return true;
}

}  // namespace synod::paxos
