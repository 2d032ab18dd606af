// Who may do what: tokens, ACL rules and the owners of sessions, replicated
// in the log (issue 19).
//
// WHAT IT HOLDS
//   - whether auth is enabled. Off, every request is allowed, as before auth
//     existed; on, everything is denied unless a rule allows it.
//   - tokens, by id (the revision that created them): the SHA-256 of the
//     secret (kTokenHashBytes), the principal it names, its roles, and
//     whether it is a root token. The secret itself is shown once to whoever
//     created it and is never in the log, a snapshot or a log line.
//   - rules (subject, space, prefix, permission), by id (their revision). A
//     subject is "user:NAME" or "role:NAME".
//   - the owner of each session created by a principal: only the owner (or
//     a principal with admin on the sessions space) may keep it alive,
//     delete it, or act for it (acquire, release, campaign, resign, put an
//     ephemeral key).
//
// HOW A REQUEST IS JUDGED. Every command carries the credential its request
// came with (command.h): a token's hash, a client certificate's name (which
// the node's TLS layer checked), or none. It is resolved when the command
// is APPLIED, against the state at that point of the log: a revocation holds
// for every command ordered after it, wherever the request arrived. Reads
// are judged by the node that serves them, after the read's index has been
// applied, which orders them after every revocation chosen before they began.
//
// PERMISSIONS: read < write (write, acquire, campaign) < admin; each grants the
// ones below it. In the sessions space, write makes (and so owns) sessions,
// and admin acts for and sees anyone's. Root tokens may do everything. A rule's prefix covers a name
// by whole path segments: "/app" covers "/app" and "/app/x", not "/apple";
// "" covers every name.
//
// INVARIANTS (checked on restore)
//   - by_hash_ indexes tokens_ exactly; hashes are kTokenHashBytes and unique.
//   - rule and token ids are unique; every subject is user: or role: and a
//     non-empty name; every prefix is at most kPrefixBytesMax.
//   - owners_ names only live sessions (the machine calls session_ended).
//
// Pure and deterministic; owned by the StateMachine's thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockservice/types.h"

namespace synod {
class Writer;
class Reader;
}  // namespace synod

namespace synod::lockservice {

inline constexpr size_t kTokenHashBytes = 32;  // SHA-256
inline constexpr size_t kPrincipalBytesMax = 128;
inline constexpr size_t kRolesPerTokenMax = 16;
inline constexpr size_t kTokensMax = 10'000;
inline constexpr size_t kRulesMax = 10'000;
inline constexpr size_t kPrefixBytesMax = 512;  // the longest key name

enum class AclSpace : uint8_t { locks = 0, keys = 1, elections = 2, sessions = 3, cluster = 4 };
inline constexpr uint8_t kAclSpaceMax = 4;
const char* acl_space_name(AclSpace space);
std::optional<AclSpace> parse_acl_space(std::string_view name);

enum class Permission : uint8_t { read = 1, write = 2, admin = 3 };
inline constexpr uint8_t kPermissionMax = 3;
const char* permission_name(Permission permission);
std::optional<Permission> parse_permission(std::string_view name);

struct Rule {
  uint64_t id = 0;      // the revision that made it
  std::string subject;  // "user:NAME" or "role:NAME"
  AclSpace space = AclSpace::keys;
  std::string prefix;  // "" covers every name
  Permission permission = Permission::read;
  bool operator==(const Rule&) const = default;
};

struct TokenView {
  uint64_t id = 0;
  std::string principal;
  std::vector<std::string> roles;
  bool root = false;
  int64_t created_log_ms = 0;
  bool operator==(const TokenView&) const = default;
};

// Who a credential names, once resolved.
struct Principal {
  std::string name;  // empty: anonymous
  std::vector<std::string> roles;
  bool root = false;
  uint64_t token_id = 0;  // 0: not a token (a certificate, or anonymous)
};

// A credential as commands carry it (command.h).
struct Credential {
  enum class Kind : uint8_t { none = 0, token = 1, certificate = 2 };
  Kind kind = Kind::none;
  std::string value;  // token: its SHA-256 (kTokenHashBytes); certificate: the name it gives
  bool operator==(const Credential&) const = default;
};
inline constexpr uint8_t kCredentialKindMax = 2;

// Whether a rule's prefix covers `name` (see PERMISSIONS above).
bool prefix_covers(std::string_view prefix, std::string_view name);

namespace detail {

class Auth {
 public:
  bool enabled() const { return enabled_; }
  void set_enabled(bool enabled) { enabled_ = enabled; }
  bool has_root() const;

  // The principal a credential names; nullopt if it names none (an unknown
  // or revoked token). `none` resolves to the anonymous principal.
  std::optional<Principal> resolve(const Credential& credential) const;
  // Whether `principal` may do `permission` on `name` in `space`. True for
  // everyone while auth is off.
  bool allows(const Principal& principal, AclSpace space, std::string_view name, Permission permission) const;
  // Whether `principal` may act for `session`: its owner, or an admin of
  // the sessions space (the only one who may act for a session with no
  // owner); anyone while auth is off.
  bool may_act_for(const Principal& principal, SessionId session) const;

  // Changes; the machine checks permission and arguments first.
  Status add_token(uint64_t id, std::string hash, std::string principal, std::vector<std::string> roles, bool root,
                   int64_t log_ms, std::string& why);
  bool revoke_token(uint64_t id);
  Status add_rule(Rule rule, std::string& why);
  bool delete_rule(uint64_t id);
  void session_created(SessionId session, const Principal& principal);
  void session_ended(SessionId session) { owners_.erase(session); }
  std::string owner_of(SessionId session) const;
  template <typename IsLive>
  bool owners_are_live(const IsLive& is_live) const {
    for (const auto& entry : owners_) {
      if (!is_live(entry.first)) return false;
    }
    return true;
  }

  std::vector<TokenView> tokens() const;
  std::vector<Rule> rules() const;

  // Snapshot section (snapshot.cpp calls these).
  void write(Writer& w) const;
  bool read(Reader& r);

 private:
  struct Token {
    std::string hash;
    std::string principal;
    std::vector<std::string> roles;
    bool root = false;
    int64_t created_log_ms = 0;
  };
  bool enabled_ = false;
  std::map<uint64_t, Token> tokens_;
  std::map<std::string, uint64_t, std::less<>> by_hash_;
  std::map<uint64_t, Rule> rules_;
  std::map<SessionId, std::string> owners_;
};

}  // namespace detail
}  // namespace synod::lockservice
