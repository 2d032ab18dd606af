// ZooKeeper's ACLs on znodes (issue 22): checkACL and fixupACL, read from
// ZooKeeper's ZooKeeperServer.checkACL, PrepRequestProcessor.fixupACL and
// its Digest and IP authentication providers (3.8). Judged where a command
// applies (znodes.cpp) and, for reads, by the listener on the state it read.
//
// The schemes: world (only the id "anyone"), digest ("user:hash", matched
// exactly), ip (an address, or a network "addr/bits", that holds the
// request's ip) and auth (in a create or setACL only: every digest id of the
// request). x509, sasl and super are not known here: an ACL naming them is
// refused as invalid.
//
// Pure; any thread.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "lockservice/znode_types.h"

namespace synod::lockservice {
namespace {

// An address's bytes (4 for IPv4, 16 for IPv6), or nullopt.
std::optional<std::vector<uint8_t>> address_bytes(const std::string& text) {
  std::array<uint8_t, 16> buffer{};
  if (inet_pton(AF_INET, text.c_str(), buffer.data()) == 1)
    return std::vector<uint8_t>(buffer.begin(), buffer.begin() + 4);
  if (inet_pton(AF_INET6, text.c_str(), buffer.data()) == 1) return std::vector<uint8_t>(buffer.begin(), buffer.end());
  return std::nullopt;
}

// An ip ACL id: the address and the prefix length (the whole address without "/bits").
struct Network {
  std::vector<uint8_t> address;
  size_t bits = 0;
};
std::optional<Network> parse_network(const std::string& id) {
  const size_t slash = id.find('/');
  auto address = address_bytes(id.substr(0, slash));
  if (!address) return std::nullopt;
  const size_t width = address->size() * 8;
  size_t bits = width;
  if (slash != std::string::npos) {
    const std::string digits = id.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || !std::all_of(digits.begin(), digits.end(), ::isdigit))
      return std::nullopt;
    bits = std::stoul(digits);
    if (bits > width) return std::nullopt;
  }
  return Network{std::move(*address), bits};
}

bool network_holds(const Network& network, const std::string& ip) {
  const auto address = address_bytes(ip);
  if (!address || address->size() != network.address.size()) return false;
  for (size_t bit = 0; bit < network.bits; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if (((*address)[bit / 8] & mask) != (network.address[bit / 8] & mask)) return false;
  }
  return true;
}

bool valid_digest(const std::string& id) {
  const size_t colon = id.find(':');
  return colon != std::string::npos && id.find(':', colon + 1) == std::string::npos && colon + 1 < id.size();
}

bool matches(const ZnodeAcl& entry, const ZnodeId& who) {
  if (entry.scheme != who.scheme) return false;
  if (entry.scheme == "digest") return entry.id == who.id;
  if (entry.scheme == "ip") {
    const auto network = parse_network(entry.id);
    return network && network_holds(*network, who.id);
  }
  return false;
}

}  // namespace

bool znode_acl_allows(const std::vector<ZnodeAcl>& acl, const ZnodeIds& ids, int32_t perms) {
  if (acl.empty()) return true;
  for (const ZnodeAcl& entry : acl) {
    if ((entry.perms & perms) == 0) continue;
    if (entry.scheme == "world" && entry.id == "anyone") return true;
    for (const ZnodeId& who : ids) {
      if (matches(entry, who)) return true;
    }
  }
  return false;
}

std::string znode_fix_acl(std::vector<ZnodeAcl>& acl, const ZnodeIds& ids) {
  if (acl.empty()) return "an ACL needs at least one entry";
  std::vector<ZnodeAcl> fixed;
  for (const ZnodeAcl& entry : acl) {
    if (entry.scheme == "world") {
      if (entry.id != "anyone") return "the world scheme has the one id anyone, not '" + entry.id + "'";
      fixed.push_back(entry);
    } else if (entry.scheme == "auth") {
      bool any = false;
      for (const ZnodeId& who : ids) {
        if (who.scheme != "digest") continue;
        fixed.push_back(ZnodeAcl{entry.perms, who.scheme, who.id});
        any = true;
      }
      if (!any) return "the auth scheme needs an authenticated id (addauth digest) on the connection";
    } else if (entry.scheme == "digest") {
      if (!valid_digest(entry.id)) return "a digest id is user:hash, not '" + entry.id + "'";
      fixed.push_back(entry);
    } else if (entry.scheme == "ip") {
      if (!parse_network(entry.id)) return "an ip id is an address or addr/bits, not '" + entry.id + "'";
      fixed.push_back(entry);
    } else {
      return "the ACL scheme '" + entry.scheme + "' is not supported (world, auth, digest, ip)";
    }
  }
  std::vector<ZnodeAcl> unique;
  for (auto& entry : fixed) {
    if (std::find(unique.begin(), unique.end(), entry) == unique.end()) unique.push_back(std::move(entry));
  }
  acl = std::move(unique);
  return {};
}

}  // namespace synod::lockservice
