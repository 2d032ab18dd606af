// The decoders of the membership routes (issue 20): GET /v1/cluster/members,
// POST /v1/cluster/members {"peer_addr","client_addr","id"?}, POST
// /v1/cluster/members/{id}/promote and DELETE /v1/cluster/members/{id}.
// Whether the change may follow the configuration is the node's to judge
// (paxos::check_change); here only its shape.
// Pure; any thread.
#include <algorithm>
#include <cstdint>
#include <optional>

#include "http/decode_support.h"

namespace synod::http::decoding {

namespace {

// A member's address: HOST:PORT with a port of 1-65535, a host of name
// characters or an [IPv6] literal, at most 255 bytes.
std::string address_param(Inputs& in, const char* name) {
  const auto text = in.string(name);
  if (!text) bad("missing_parameter", std::string("a new member needs '") + name + "': HOST:PORT");
  const auto colon = text->rfind(':');
  const auto port = colon == std::string::npos ? std::nullopt : parse_u64(std::string_view(*text).substr(colon + 1));
  std::string_view host = colon == std::string::npos ? std::string_view{} : std::string_view(*text).substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const bool host_ok = !host.empty() && text->size() <= 255 && std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == ':' || c == '_';
  });
  if (!host_ok || !port || *port == 0 || *port > 65535) {
    bad("bad_value", std::string("'") + name + "' must be HOST:PORT (a port of 1-65535), not '" + *text + "'");
  }
  return *text;
}

uint32_t member_id(std::string_view param) {
  const auto id = parse_u64(param);
  if (!id || *id == 0 || *id > UINT32_MAX) bad("bad_id", "a member id is a positive decimal number");
  return static_cast<uint32_t>(*id);
}

}  // namespace

void decode_member_add(Decoding& d) {
  MemberChange change;
  change.kind = MemberChange::Kind::add;
  change.peer_addr = address_param(d.in, "peer_addr");
  change.client_addr = address_param(d.in, "client_addr");
  if (auto id = d.in.number("id")) {
    if (*id == 0 || *id > UINT32_MAX) bad("bad_id", "id is a member id, 1 or more");
    change.id = static_cast<uint32_t>(*id);
  }
  d.request.member_change = std::move(change);
}

void decode_member_promote(Decoding& d) {
  d.request.member_change = MemberChange{MemberChange::Kind::promote, member_id(d.param), {}, {}};
}

void decode_member_remove(Decoding& d) {
  d.request.member_change = MemberChange{MemberChange::Kind::remove, member_id(d.param), {}, {}};
}

}  // namespace synod::http::decoding
