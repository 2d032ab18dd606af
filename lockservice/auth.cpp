// Tokens, rules and session owners (auth.h).
#include "lockservice/auth.h"

#include <algorithm>
#include <iterator>

#include "base/codec.h"

namespace synod::lockservice {

namespace {

constexpr const char* kSpaceNames[] = {"locks", "keys", "elections", "sessions", "cluster"};
constexpr const char* kPermissionNames[] = {"", "read", "write", "admin"};

bool valid_subject(std::string_view subject) {
  for (std::string_view kind : {"user:", "role:"}) {
    if (subject.size() > kind.size() && subject.size() <= kind.size() + kPrincipalBytesMax &&
        subject.substr(0, kind.size()) == kind) {
      return true;
    }
  }
  return false;
}

}  // namespace

const char* acl_space_name(AclSpace space) { return kSpaceNames[static_cast<uint8_t>(space)]; }

std::optional<AclSpace> parse_acl_space(std::string_view name) {
  for (uint8_t i = 0; i <= kAclSpaceMax; ++i) {
    if (name == kSpaceNames[i]) return static_cast<AclSpace>(i);
  }
  return std::nullopt;
}

const char* permission_name(Permission permission) { return kPermissionNames[static_cast<uint8_t>(permission)]; }

std::optional<Permission> parse_permission(std::string_view name) {
  for (uint8_t i = 1; i <= kPermissionMax; ++i) {
    if (name == kPermissionNames[i]) return static_cast<Permission>(i);
  }
  return std::nullopt;
}

bool prefix_covers(std::string_view prefix, std::string_view name) {
  if (prefix.empty() || name == prefix) return true;
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return false;
  return prefix.back() == '/' || name[prefix.size()] == '/';
}

namespace detail {

bool Auth::has_root() const {
  return std::any_of(tokens_.begin(), tokens_.end(), [](const auto& entry) { return entry.second.root; });
}

std::optional<Principal> Auth::resolve(const Credential& credential) const {
  switch (credential.kind) {
    case Credential::Kind::none:
      return Principal{};
    case Credential::Kind::certificate:
      if (credential.value.empty()) return std::nullopt;
      return Principal{credential.value, {}, false, 0};
    case Credential::Kind::token: {
      auto found = by_hash_.find(credential.value);
      if (found == by_hash_.end()) return std::nullopt;
      const Token& token = tokens_.at(found->second);
      return Principal{token.principal, token.roles, token.root, found->second};
    }
  }
  return std::nullopt;
}

bool Auth::allows(const Principal& principal, AclSpace space, std::string_view name, Permission permission) const {
  if (!enabled_ || principal.root) return true;
  if (principal.name.empty()) return false;
  // "user:NAME" or "role:ROLE", compared in place (this runs for every command).
  const auto names = [](const std::string& subject, std::string_view kind, const std::string& who) {
    return subject.size() == kind.size() + who.size() && subject.compare(0, kind.size(), kind) == 0 &&
           subject.compare(kind.size(), std::string::npos, who) == 0;
  };
  for (const auto& [id, rule] : rules_) {
    if (rule.space != space || rule.permission < permission || !prefix_covers(rule.prefix, name)) continue;
    if (names(rule.subject, "user:", principal.name)) return true;
    for (const auto& role : principal.roles) {
      if (names(rule.subject, "role:", role)) return true;
    }
  }
  return false;
}

bool Auth::may_act_for(const Principal& principal, SessionId session) const {
  if (!enabled_) return true;
  auto owner = owners_.find(session);
  // A session made by no one in particular (before auth, or anonymously):
  // only an administrator of sessions may act for it once auth is on.
  if (owner == owners_.end()) return allows(principal, AclSpace::sessions, "", Permission::admin);
  return owner->second == principal.name || allows(principal, AclSpace::sessions, "", Permission::admin);
}

Status Auth::add_token(uint64_t id, std::string hash, std::string principal, std::vector<std::string> roles, bool root,
                       int64_t log_ms, std::string& why) {
  if (hash.size() != kTokenHashBytes) {
    why = "a token hash has " + std::to_string(kTokenHashBytes) + " bytes";
    return Status::invalid_argument;
  }
  if (principal.empty() || principal.size() > kPrincipalBytesMax) {
    why = "a principal has 1 to " + std::to_string(kPrincipalBytesMax) + " bytes";
    return Status::invalid_argument;
  }
  if (roles.size() > kRolesPerTokenMax) {
    why = "a token has at most " + std::to_string(kRolesPerTokenMax) + " roles";
    return Status::invalid_argument;
  }
  for (const auto& role : roles) {
    if (role.empty() || role.size() > kPrincipalBytesMax) {
      why = "a role has 1 to " + std::to_string(kPrincipalBytesMax) + " bytes";
      return Status::invalid_argument;
    }
  }
  if (tokens_.size() >= kTokensMax) {
    why = "there are " + std::to_string(kTokensMax) + " tokens";
    return Status::limit_exceeded;
  }
  if (by_hash_.count(hash)) {
    why = "that token exists";
    return Status::conflict;
  }
  by_hash_.emplace(hash, id);
  tokens_.emplace(id, Token{std::move(hash), std::move(principal), std::move(roles), root, log_ms});
  return Status::ok;
}

bool Auth::revoke_token(uint64_t id) {
  auto found = tokens_.find(id);
  if (found == tokens_.end()) return false;
  by_hash_.erase(found->second.hash);
  tokens_.erase(found);
  return true;
}

Status Auth::add_rule(Rule rule, std::string& why) {
  if (!valid_subject(rule.subject)) {
    why = "a rule's subject is user:NAME or role:NAME";
    return Status::invalid_argument;
  }
  if (rule.prefix.size() > kPrefixBytesMax) {
    why = "a rule's prefix has at most " + std::to_string(kPrefixBytesMax) + " bytes";
    return Status::invalid_argument;
  }
  if (rules_.size() >= kRulesMax) {
    why = "there are " + std::to_string(kRulesMax) + " rules";
    return Status::limit_exceeded;
  }
  rules_.emplace(rule.id, std::move(rule));
  return Status::ok;
}

bool Auth::delete_rule(uint64_t id) { return rules_.erase(id) > 0; }

void Auth::session_created(SessionId session, const Principal& principal) {
  if (!principal.name.empty()) owners_[session] = principal.name;
}

std::string Auth::owner_of(SessionId session) const {
  auto found = owners_.find(session);
  return found == owners_.end() ? std::string() : found->second;
}

std::vector<TokenView> Auth::tokens() const {
  std::vector<TokenView> out;
  out.reserve(tokens_.size());
  for (const auto& [id, token] : tokens_) {
    out.push_back(TokenView{id, token.principal, token.roles, token.root, token.created_log_ms});
  }
  return out;
}

std::vector<Rule> Auth::rules() const {
  std::vector<Rule> out;
  out.reserve(rules_.size());
  for (const auto& [id, rule] : rules_) out.push_back(rule);
  return out;
}

// SECTION: u8 enabled; tokens (count, then id, hash, principal, roles, root,
// created); rules (count, then id, subject, space, prefix, permission);
// owners (count, then session, principal). Each list ascending by id.
void Auth::write(Writer& w) const {
  w.boolean(enabled_);
  w.varint(tokens_.size());
  for (const auto& [id, token] : tokens_) {
    w.varint(id);
    w.bytes(token.hash);
    w.bytes(token.principal);
    w.varint(token.roles.size());
    for (const auto& role : token.roles) w.bytes(role);
    w.boolean(token.root);
    w.svarint(token.created_log_ms);
  }
  w.varint(rules_.size());
  for (const auto& [id, rule] : rules_) {
    w.varint(id);
    w.bytes(rule.subject);
    w.u8(static_cast<uint8_t>(rule.space));
    w.bytes(rule.prefix);
    w.u8(static_cast<uint8_t>(rule.permission));
  }
  w.varint(owners_.size());
  for (const auto& [session, owner] : owners_) {
    w.varint(session);
    w.bytes(owner);
  }
}

bool Auth::read(Reader& r) {
  Auth fresh;
  fresh.enabled_ = r.boolean();
  std::string why;
  const uint64_t tokens = r.varint();
  uint64_t previous = 0;
  for (uint64_t i = 0; i < tokens && r.ok(); ++i) {
    const uint64_t id = r.varint();
    std::string hash(r.bytes());
    std::string principal(r.bytes());
    const uint64_t role_count = r.varint();
    if (role_count > kRolesPerTokenMax) return false;
    std::vector<std::string> roles;
    for (uint64_t j = 0; j < role_count && r.ok(); ++j) roles.emplace_back(r.bytes());
    const bool root = r.boolean();
    const int64_t created = r.svarint();
    if (!r.ok() || id <= previous) return false;
    previous = id;
    if (fresh.add_token(id, std::move(hash), std::move(principal), std::move(roles), root, created, why) !=
        Status::ok) {
      return false;
    }
  }
  const uint64_t rules = r.varint();
  previous = 0;
  for (uint64_t i = 0; i < rules && r.ok(); ++i) {
    Rule rule;
    rule.id = r.varint();
    rule.subject = std::string(r.bytes());
    const uint8_t space = r.u8();
    rule.prefix = std::string(r.bytes());
    const uint8_t permission = r.u8();
    if (!r.ok() || rule.id <= previous || space > kAclSpaceMax || permission < 1 || permission > kPermissionMax) {
      return false;
    }
    previous = rule.id;
    rule.space = static_cast<AclSpace>(space);
    rule.permission = static_cast<Permission>(permission);
    if (fresh.add_rule(std::move(rule), why) != Status::ok) return false;
  }
  const uint64_t owners = r.varint();
  previous = 0;
  for (uint64_t i = 0; i < owners && r.ok(); ++i) {
    const SessionId session = r.varint();
    std::string owner(r.bytes());
    if (!r.ok() || session <= previous || owner.empty() || owner.size() > kPrincipalBytesMax) return false;
    previous = session;
    fresh.owners_.emplace(session, std::move(owner));
  }
  if (!r.ok()) return false;
  *this = std::move(fresh);
  return true;
}

}  // namespace detail
}  // namespace synod::lockservice
